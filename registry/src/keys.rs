//! Every key each device has had, for verifiers of old batches (the audit).

use ledger::batch::{DeviceKeyring, DevicePublicKey};

use crate::admin::public_key_from_db;
use crate::lookup::ReadError;

/// Every key of every device, oldest first. Keys are never removed, so that earlier batches stay
/// checkable; a stored key that is not a key is kept as such (`None`), to be reported where it is
/// used.
pub async fn device_keys<C: tokio_postgres::GenericClient>(
    client: &C,
) -> Result<DeviceKeyring, ReadError> {
    let mut keyring = DeviceKeyring::new();
    for row in client
        .query(
            "SELECT device_id, algorithm, public_key FROM device_keys ORDER BY key_number",
            &[],
        )
        .await?
    {
        let device: &str = row.get(0);
        keyring.add(device, public_key_from_db(row.get(1), row.get(2)));
    }
    Ok(keyring)
}

/// [`device_keys`] in a transaction: the `device_keys` argument of `ledger_store::audit`, which
/// reads them in its snapshot.
pub async fn device_keys_in(
    transaction: &tokio_postgres::Transaction<'_>,
) -> Result<DeviceKeyring, ReadError> {
    device_keys(transaction).await
}

/// The query of [`keys_of_device`] (`$1`: the device id), for callers that keep it prepared.
pub const KEYS_OF_DEVICE: &str = "SELECT algorithm, public_key FROM device_keys
    WHERE device_id = $1 ORDER BY key_number DESC";

/// Every key one device has had, newest first (a stored key that is not a key as `None`): the
/// candidates for the key that signed one of its batches. `query` is [`KEYS_OF_DEVICE`], as text
/// or prepared (a service that asks often keeps it prepared: planning it is most of its cost).
pub async fn keys_of_device<C, Q>(
    client: &C,
    query: &Q,
    device: &str,
) -> Result<Vec<Option<DevicePublicKey>>, ReadError>
where
    C: tokio_postgres::GenericClient,
    Q: tokio_postgres::ToStatement + ?Sized + Sync + Send,
{
    let rows = client.query(query, &[&device]).await?;
    Ok(rows
        .iter()
        .map(|row| public_key_from_db(row.get(0), row.get(1)))
        .collect())
}
