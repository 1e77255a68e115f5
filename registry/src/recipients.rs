//! Recipients of sealed values (`ledger::sealed`): each organisation's registered X25519 keys
//! (`recipient_keys`, V23) and their retirement (`recipient_key_retirements`). An organisation
//! rotates by adding its new key and retiring the old one. Retirement is final; ingest refuses a
//! capture document that seals a batch key to a retired key ([`retired_among`]). Keys nobody
//! registered (a consumer's own, one per purchase) are neither listed nor refused.

use ledger::sealed::RecipientKey;
use ledger::{OrganisationId, UnixMillis};
use tokio_postgres::GenericClient;

use crate::admin::{RegistryError, require_organisation};

/// A registered recipient key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientKeyInfo {
    pub organisation: OrganisationId,
    pub key: RecipientKey,
    pub added_at: UnixMillis,
    /// When it was retired; `None` while it is current.
    pub retired_at: Option<UnixMillis>,
}

const SELECT_KEYS: &str = "
    SELECT k.organisation_id, k.public_key,
           (extract(epoch FROM k.added_at) * 1000)::bigint,
           (extract(epoch FROM r.retired_at) * 1000)::bigint
    FROM recipient_keys k LEFT JOIN recipient_key_retirements r USING (key_number)";

/// Registers `key` as a recipient key of `organisation`. A key belongs to one organisation, ever:
/// registering it again (for any organisation, retired or not) is refused.
pub async fn add_recipient_key<C: GenericClient>(
    client: &C,
    organisation: &OrganisationId,
    key: &RecipientKey,
) -> Result<(), RegistryError> {
    require_organisation(client, organisation).await?;
    let inserted = client
        .execute(
            "INSERT INTO recipient_keys (organisation_id, public_key) VALUES ($1, $2)
             ON CONFLICT (public_key) DO NOTHING",
            &[&organisation.as_str(), &key.as_bytes().as_slice()],
        )
        .await?;
    if inserted == 0 {
        let owner: String = client
            .query_one(
                "SELECT organisation_id FROM recipient_keys WHERE public_key = $1",
                &[&key.as_bytes().as_slice()],
            )
            .await?
            .get(0);
        return Err(RegistryError::RecipientKeyInUse(owner));
    }
    Ok(())
}

/// Retires a registered recipient key, for good: ingest refuses documents sealed to it from now
/// on. Returns its record; retiring it again changes nothing and gives the first retirement's
/// time.
pub async fn retire_recipient_key<C: GenericClient>(
    client: &C,
    key: &RecipientKey,
) -> Result<RecipientKeyInfo, RegistryError> {
    let inserted = client
        .execute(
            "INSERT INTO recipient_key_retirements (key_number)
             SELECT key_number FROM recipient_keys WHERE public_key = $1
             ON CONFLICT DO NOTHING",
            &[&key.as_bytes().as_slice()],
        )
        .await?;
    let found = list(
        client,
        "WHERE k.public_key = $1",
        &[&key.as_bytes().as_slice()],
    )
    .await?;
    match found.into_iter().next() {
        Some(info) => Ok(info),
        None => {
            debug_assert_eq!(inserted, 0);
            Err(RegistryError::NoSuchRecipientKey(key.to_base64()))
        }
    }
}

/// Every registered recipient key (of one organisation, if given), oldest first.
pub async fn list_recipient_keys<C: GenericClient>(
    client: &C,
    organisation: Option<&OrganisationId>,
) -> Result<Vec<RecipientKeyInfo>, RegistryError> {
    match organisation {
        Some(organisation) => {
            require_organisation(client, organisation).await?;
            list(
                client,
                "WHERE k.organisation_id = $1 ORDER BY k.key_number",
                &[&organisation.as_str()],
            )
            .await
        }
        None => list(client, "ORDER BY k.key_number", &[]).await,
    }
}

/// An organisation's keys as published (`GET /organisations/{organisation}/recipient-keys`): at
/// most `most` current keys (oldest first) and the `most` most recently retired ones (oldest
/// first), each list read with one more row to tell whether some were left out.
pub async fn published_recipient_keys<C: GenericClient>(
    client: &C,
    organisation: &OrganisationId,
    most: usize,
) -> Result<PublishedKeys, RegistryError> {
    require_organisation(client, organisation).await?;
    let limit = i64::try_from(most.saturating_add(1)).unwrap_or(i64::MAX);
    let mut current = list(
        client,
        "WHERE k.organisation_id = $1 AND r.retired_at IS NULL ORDER BY k.key_number LIMIT $2",
        &[&organisation.as_str(), &limit],
    )
    .await?;
    let mut retired = list(
        client,
        "WHERE k.organisation_id = $1 AND r.retired_at IS NOT NULL
         ORDER BY r.retired_at DESC, k.key_number DESC LIMIT $2",
        &[&organisation.as_str(), &limit],
    )
    .await?;
    let truncated = current.len() > most || retired.len() > most;
    current.truncate(most);
    retired.truncate(most);
    retired.reverse();
    Ok(PublishedKeys {
        current,
        retired,
        truncated,
    })
}

/// An organisation's keys as published: current and retired apart, and whether either list was
/// cut to its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKeys {
    pub current: Vec<RecipientKeyInfo>,
    pub retired: Vec<RecipientKeyInfo>,
    pub truncated: bool,
}

/// Those of `keys` that are registered and retired, with their records.
pub async fn retired_among<C: GenericClient>(
    client: &C,
    keys: &[RecipientKey],
) -> Result<Vec<RecipientKeyInfo>, RegistryError> {
    let keys: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes().as_slice()).collect();
    list(
        client,
        "WHERE k.public_key = ANY($1) AND r.retired_at IS NOT NULL ORDER BY k.key_number",
        &[&keys],
    )
    .await
}

async fn list<C: GenericClient>(
    client: &C,
    condition: &str,
    parameters: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<RecipientKeyInfo>, RegistryError> {
    let rows = client
        .query(&format!("{SELECT_KEYS} {condition}"), parameters)
        .await?;
    let millis = |value: i64| UnixMillis::from_millis(u64::try_from(value).unwrap_or_default());
    rows.iter()
        .map(|row| {
            let organisation = OrganisationId::parse(row.get(0)).map_err(|_| {
                RegistryError::Invalid("a stored organisation id is malformed".to_owned())
            })?;
            let key: [u8; 32] = row.get::<_, &[u8]>(1).try_into().map_err(|_| {
                RegistryError::Invalid("a stored recipient key is not 32 bytes".to_owned())
            })?;
            Ok(RecipientKeyInfo {
                organisation,
                key: RecipientKey::from_bytes(key),
                added_at: millis(row.get(2)),
                retired_at: row.get::<_, Option<i64>>(3).map(millis),
            })
        })
        .collect()
}
