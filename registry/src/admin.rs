//! Administration of the registry (`tagtrail org|site|device|token`), run as the database owner.

use epcis::epc::CompanyPrefix;
use ledger::batch::DevicePublicKey;
use ledger::{DeviceId, OrganisationId, SiteId};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::location::SiteLocation;
use crate::token::{SiteToken, TokenId};

/// Whether a device may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// It may report.
    Active,
    /// Its captures are refused with `401`.
    Disabled,
}

impl DeviceStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub(crate) fn from_db(text: &str) -> Self {
        if text == "active" {
            Self::Active
        } else {
            Self::Disabled
        }
    }
}

/// A site as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    /// The site.
    pub site: String,
    /// Its display name.
    pub name: String,
    /// Its locations, as written when registered.
    pub locations: Vec<String>,
}

/// A device as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub device: String,
    /// Its site.
    pub site: String,
    /// Whether it may report.
    pub status: DeviceStatus,
    /// Its current public key.
    pub key: Option<DevicePublicKey>,
    /// How many keys it has had.
    pub key_count: i64,
    /// The locations it is restricted to (empty: all of its site's).
    pub locations: Vec<String>,
}

/// A token as listed (never its secret, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's public id.
    pub token: String,
    /// Its site.
    pub site: String,
    /// Its label.
    pub label: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// Why an administration command failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("site {0} already exists")]
    SiteExists(String),
    #[error("there is no site {0}")]
    NoSuchSite(String),
    #[error("no site speaks for location {0}: add it to a site first")]
    NoSuchLocation(String),
    #[error("location {location} already belongs to site {site}")]
    LocationTaken { location: String, site: String },
    #[error("location {location} is not a location of site {site}")]
    LocationNotOfSite { location: String, site: String },
    #[error(
        "location {location} is still named by device {device}; remove the device's restriction first"
    )]
    LocationInUse { location: String, device: String },
    #[error("device {0} already exists")]
    DeviceExists(String),
    #[error("there is no device {0}")]
    NoSuchDevice(String),
    #[error(
        "this public key is already registered (to device {0}); every device needs a key of its own"
    )]
    KeyInUse(String),
    #[error("there is no token {0}")]
    NoSuchToken(String),
    #[error("the recipient key is registered already, to organisation {0}")]
    RecipientKeyInUse(String),
    #[error("there is no registered recipient key {0}")]
    NoSuchRecipientKey(String),
    #[error("organisation {0} already exists")]
    OrganisationExists(String),
    #[error("there is no organisation {0}")]
    NoSuchOrganisation(String),
    #[error("company prefix {prefix} already belongs to organisation {organisation}")]
    PrefixTaken {
        prefix: String,
        organisation: String,
    },
    #[error("organisation {0} cannot delegate to itself")]
    SelfDelegation(String),
    #[error("failed to read random bytes from the operating system: {0}")]
    Random(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
}

/// Registers a site of an organisation. Without one, the site is an organisation of its own: one
/// with the site's id, created if it does not exist.
pub async fn add_site(
    client: &Client,
    site: &SiteId,
    name: &str,
    organisation: Option<&OrganisationId>,
) -> Result<(), RegistryError> {
    let inserted = match organisation {
        Some(organisation) => {
            require_organisation(client, organisation).await?;
            client
                .execute(
                    "INSERT INTO sites (site_id, name, organisation_id) VALUES ($1, $2, $3)
                     ON CONFLICT (site_id) DO NOTHING",
                    &[&site.as_str(), &name, &organisation.as_str()],
                )
                .await?
        }
        // The site becomes an organisation of its own (`sql/V11__organisations.sql`).
        None => {
            client
                .execute(
                    "INSERT INTO sites (site_id, name) VALUES ($1, $2)
                     ON CONFLICT (site_id) DO NOTHING",
                    &[&site.as_str(), &name],
                )
                .await?
        }
    };
    if inserted == 0 {
        return Err(RegistryError::SiteExists(site.as_str().to_owned()));
    }
    Ok(())
}

/// Registers an organisation with the company prefixes it owns (all or nothing).
pub async fn add_organisation(
    client: &mut Client,
    organisation: &OrganisationId,
    prefixes: &[CompanyPrefix],
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    let inserted = transaction
        .execute(
            "INSERT INTO organisations (organisation_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&organisation.as_str()],
        )
        .await?;
    if inserted == 0 {
        return Err(RegistryError::OrganisationExists(
            organisation.as_str().to_owned(),
        ));
    }
    insert_prefixes(&transaction, organisation, prefixes).await?;
    transaction.commit().await?;
    Ok(())
}

/// Adds company prefixes to an organisation (all or nothing). A prefix it already owns is left
/// as it is; one another organisation owns is refused.
pub async fn add_organisation_prefixes(
    client: &mut Client,
    organisation: &OrganisationId,
    prefixes: &[CompanyPrefix],
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    require_organisation(&transaction, organisation).await?;
    insert_prefixes(&transaction, organisation, prefixes).await?;
    transaction.commit().await?;
    Ok(())
}

async fn insert_prefixes(
    transaction: &tokio_postgres::Transaction<'_>,
    organisation: &OrganisationId,
    prefixes: &[CompanyPrefix],
) -> Result<(), RegistryError> {
    for prefix in prefixes {
        let owner: String = transaction
            .query_one(
                "WITH added AS (INSERT INTO organisation_prefixes (company_prefix, organisation_id)
                                VALUES ($1, $2) ON CONFLICT (company_prefix) DO NOTHING
                                RETURNING organisation_id)
                 SELECT organisation_id FROM added
                 UNION ALL
                 SELECT organisation_id FROM organisation_prefixes WHERE company_prefix = $1
                 LIMIT 1",
                &[&prefix.as_str(), &organisation.as_str()],
            )
            .await?
            .get(0);
        if owner != organisation.as_str() {
            return Err(RegistryError::PrefixTaken {
                prefix: prefix.as_str().to_owned(),
                organisation: owner,
            });
        }
    }
    Ok(())
}

/// Lets `delegate` act with `organisation`'s authority (a brand names its logistics partner).
pub async fn add_delegate(
    client: &mut Client,
    organisation: &OrganisationId,
    delegate: &OrganisationId,
) -> Result<(), RegistryError> {
    if organisation == delegate {
        return Err(RegistryError::SelfDelegation(
            organisation.as_str().to_owned(),
        ));
    }
    let transaction = client.transaction().await?;
    require_organisation(&transaction, organisation).await?;
    require_organisation(&transaction, delegate).await?;
    transaction
        .execute(
            "INSERT INTO organisation_delegates (organisation_id, delegate_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&organisation.as_str(), &delegate.as_str()],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Names `organisation` a regulator (`regulator`) or ends that (`!regulator`): a regulator's
/// recalls hold for any item, besides each item's brand. Idempotent.
pub async fn set_regulator(
    client: &mut Client,
    organisation: &OrganisationId,
    regulator: bool,
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    require_organisation(&transaction, organisation).await?;
    let statement = match regulator {
        true => {
            "INSERT INTO organisation_regulators (organisation_id) VALUES ($1) ON CONFLICT DO NOTHING"
        }
        false => "DELETE FROM organisation_regulators WHERE organisation_id = $1",
    };
    transaction
        .execute(statement, &[&organisation.as_str()])
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// An organisation as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationInfo {
    pub organisation: String,
    pub prefixes: Vec<String>,
    pub delegates: Vec<String>,
    pub sites: Vec<String>,
    /// Whether it is a regulator ([`set_regulator`]).
    pub regulator: bool,
}

/// Every organisation with its prefixes, delegates and sites.
pub async fn list_organisations(client: &Client) -> Result<Vec<OrganisationInfo>, RegistryError> {
    let rows = client
        .query(
            "SELECT o.organisation_id,
                    ARRAY(SELECT company_prefix FROM organisation_prefixes p
                          WHERE p.organisation_id = o.organisation_id ORDER BY company_prefix),
                    ARRAY(SELECT delegate_id FROM organisation_delegates d
                          WHERE d.organisation_id = o.organisation_id ORDER BY delegate_id),
                    ARRAY(SELECT site_id FROM sites s
                          WHERE s.organisation_id = o.organisation_id ORDER BY site_id),
                    EXISTS(SELECT 1 FROM organisation_regulators r
                           WHERE r.organisation_id = o.organisation_id)
             FROM organisations o ORDER BY o.organisation_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| OrganisationInfo {
            organisation: row.get(0),
            prefixes: row.get(1),
            delegates: row.get(2),
            sites: row.get(3),
            regulator: row.get(4),
        })
        .collect())
}

pub(crate) async fn require_organisation<C: tokio_postgres::GenericClient>(
    client: &C,
    organisation: &OrganisationId,
) -> Result<(), RegistryError> {
    client
        .query_opt(
            "SELECT 1 FROM organisations WHERE organisation_id = $1",
            &[&organisation.as_str()],
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| RegistryError::NoSuchOrganisation(organisation.as_str().to_owned()))
}

/// Adds locations to a site, all or none. A location already of this site is left as it is.
pub async fn add_site_locations(
    client: &mut Client,
    site: &SiteId,
    locations: &[SiteLocation],
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    require_site(&transaction, site).await?;
    for location in locations {
        let row = transaction
            .query_opt(
                "SELECT site_id FROM site_locations WHERE location_key = $1",
                &[&location.key().as_str()],
            )
            .await?;
        match row {
            Some(row) => {
                let owner: String = row.get(0);
                if owner != site.as_str() {
                    return Err(RegistryError::LocationTaken {
                        location: location.as_str().to_owned(),
                        site: owner,
                    });
                }
            }
            None => {
                transaction
                    .execute(
                        "INSERT INTO site_locations (location_key, site_id, location) VALUES ($1, $2, $3)",
                        &[&location.key().as_str(), &site.as_str(), &location.as_str()],
                    )
                    .await?;
            }
        }
    }
    transaction.commit().await?;
    Ok(())
}

/// Removes a location from a site (refused while a device is restricted to it).
pub async fn remove_site_location(
    client: &mut Client,
    site: &SiteId,
    location: &SiteLocation,
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    if let Some(row) = transaction
        .query_opt(
            "SELECT device_id FROM device_locations WHERE site_id = $1 AND location_key = $2 LIMIT 1",
            &[&site.as_str(), &location.key().as_str()],
        )
        .await?
    {
        return Err(RegistryError::LocationInUse {
            location: location.as_str().to_owned(),
            device: row.get(0),
        });
    }
    let removed = transaction
        .execute(
            "DELETE FROM site_locations WHERE site_id = $1 AND location_key = $2",
            &[&site.as_str(), &location.key().as_str()],
        )
        .await?;
    if removed == 0 {
        return Err(RegistryError::LocationNotOfSite {
            location: location.as_str().to_owned(),
            site: site.as_str().to_owned(),
        });
    }
    transaction.commit().await?;
    Ok(())
}

/// Every site with its locations.
pub async fn list_sites(client: &Client) -> Result<Vec<SiteInfo>, RegistryError> {
    let rows = client
        .query(
            "SELECT s.site_id, s.name,
                    coalesce(array_agg(l.location ORDER BY l.location) FILTER (WHERE l.location IS NOT NULL), '{}')
             FROM sites s LEFT JOIN site_locations l USING (site_id)
             GROUP BY s.site_id, s.name ORDER BY s.site_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| SiteInfo {
            site: row.get(0),
            name: row.get(1),
            locations: row.get(2),
        })
        .collect())
}

/// Registers a device of a site with its public key, active, optionally restricted to some of
/// the site's locations.
pub async fn add_device(
    client: &mut Client,
    device: &DeviceId,
    site: &SiteId,
    key: &DevicePublicKey,
    locations: &[SiteLocation],
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    require_site(&transaction, site).await?;
    let inserted = transaction
        .execute(
            "INSERT INTO devices (device_id, site_id) VALUES ($1, $2) ON CONFLICT (device_id) DO NOTHING",
            &[&device.as_str(), &site.as_str()],
        )
        .await?;
    if inserted == 0 {
        return Err(RegistryError::DeviceExists(device.as_str().to_owned()));
    }
    insert_key(&transaction, device, key).await?;
    transaction
        .execute(
            "INSERT INTO device_status_changes (device_id, status) VALUES ($1, 'active')",
            &[&device.as_str()],
        )
        .await?;
    for location in locations {
        let of_site = transaction
            .execute(
                "INSERT INTO device_locations (device_id, site_id, location_key)
                 SELECT $1, site_id, location_key FROM site_locations
                 WHERE site_id = $2 AND location_key = $3
                 ON CONFLICT DO NOTHING",
                &[&device.as_str(), &site.as_str(), &location.key().as_str()],
            )
            .await?;
        if of_site == 0 {
            let known = transaction
                .query_opt(
                    "SELECT 1 FROM device_locations WHERE device_id = $1 AND location_key = $2",
                    &[&device.as_str(), &location.key().as_str()],
                )
                .await?;
            if known.is_none() {
                return Err(RegistryError::LocationNotOfSite {
                    location: location.as_str().to_owned(),
                    site: site.as_str().to_owned(),
                });
            }
        }
    }
    transaction.commit().await?;
    Ok(())
}

/// Records a status change of a device (effective for the next capture).
pub async fn set_device_status(
    client: &Client,
    device: &DeviceId,
    status: DeviceStatus,
) -> Result<(), RegistryError> {
    let inserted = client
        .execute(
            "INSERT INTO device_status_changes (device_id, status)
             SELECT device_id, $2 FROM devices WHERE device_id = $1",
            &[&device.as_str(), &status.as_str()],
        )
        .await?;
    if inserted == 0 {
        return Err(RegistryError::NoSuchDevice(device.as_str().to_owned()));
    }
    Ok(())
}

/// Gives a device a new key: batches must be signed with it from now on; the old keys stay in the
/// history so that earlier attestations remain checkable.
pub async fn rekey_device(
    client: &mut Client,
    device: &DeviceId,
    key: &DevicePublicKey,
) -> Result<(), RegistryError> {
    let transaction = client.transaction().await?;
    let exists = transaction
        .query_opt(
            "SELECT 1 FROM devices WHERE device_id = $1",
            &[&device.as_str()],
        )
        .await?;
    if exists.is_none() {
        return Err(RegistryError::NoSuchDevice(device.as_str().to_owned()));
    }
    insert_key(&transaction, device, key).await?;
    transaction.commit().await?;
    Ok(())
}

/// Every device (of one site, if given).
pub async fn list_devices(
    client: &Client,
    site: Option<&SiteId>,
) -> Result<Vec<DeviceInfo>, RegistryError> {
    let rows = client
        .query(
            "SELECT d.device_id, d.site_id,
                    (SELECT status FROM device_status_changes s WHERE s.device_id = d.device_id
                     ORDER BY change_number DESC LIMIT 1),
                    k.algorithm, k.public_key,
                    (SELECT count(*) FROM device_keys c WHERE c.device_id = d.device_id),
                    coalesce((SELECT array_agg(l.location ORDER BY l.location)
                              FROM device_locations dl JOIN site_locations l USING (site_id, location_key)
                              WHERE dl.device_id = d.device_id), '{}')
             FROM devices d
             LEFT JOIN LATERAL (SELECT algorithm, public_key FROM device_keys k
                                WHERE k.device_id = d.device_id ORDER BY key_number DESC LIMIT 1) k ON true
             WHERE $1::text IS NULL OR d.site_id = $1
             ORDER BY d.device_id",
            &[&site.map(SiteId::as_str)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let status: Option<String> = row.get(2);
            let algorithm: Option<String> = row.get(3);
            let key: Option<Vec<u8>> = row.get(4);
            DeviceInfo {
                device: row.get(0),
                site: row.get(1),
                status: DeviceStatus::from_db(status.as_deref().unwrap_or("disabled")),
                key: algorithm
                    .zip(key)
                    .and_then(|(a, k)| public_key_from_db(&a, &k)),
                key_count: row.get(5),
                locations: row.get(6),
            }
        })
        .collect())
}

/// Creates a site API token and returns it; only the SHA-256 of its secret is stored, so this is
/// the only time it can be shown.
pub async fn create_token(
    client: &Client,
    site: &SiteId,
    label: &str,
) -> Result<SiteToken, RegistryError> {
    require_site(client, site).await?;
    let token = SiteToken::generate().map_err(|error| RegistryError::Random(error.to_string()))?;
    let hash: [u8; 32] = Sha256::digest(token.secret_bytes()).into();
    client
        .execute(
            "INSERT INTO site_tokens (token_id, site_id, secret_sha256, label) VALUES ($1, $2, $3, $4)",
            &[&token.id().as_str(), &site.as_str(), &hash.as_slice(), &label],
        )
        .await?;
    Ok(token)
}

/// Revokes a token (for good).
pub async fn revoke_token(client: &Client, token: &TokenId) -> Result<(), RegistryError> {
    revoke(
        client,
        "site_tokens",
        "site_token_revocations",
        "token_id",
        token,
    )
    .await
}

/// Revokes a credential of the table `tokens` (for good) by adding its id (the column `id`) to
/// `revocations`.
pub(crate) async fn revoke(
    client: &Client,
    tokens: &'static str,
    revocations: &'static str,
    id: &'static str,
    token: &TokenId,
) -> Result<(), RegistryError> {
    let exists = client
        .query_opt(
            &format!("SELECT 1 FROM {tokens} WHERE {id} = $1"),
            &[&token.as_str()],
        )
        .await?;
    if exists.is_none() {
        return Err(RegistryError::NoSuchToken(token.as_str().to_owned()));
    }
    client
        .execute(
            &format!("INSERT INTO {revocations} ({id}) VALUES ($1) ON CONFLICT DO NOTHING"),
            &[&token.as_str()],
        )
        .await?;
    Ok(())
}

/// Every token (of one site, if given), without secrets.
pub async fn list_tokens(
    client: &Client,
    site: Option<&SiteId>,
) -> Result<Vec<TokenInfo>, RegistryError> {
    let rows = client
        .query(
            "SELECT t.token_id, t.site_id, t.label, r.token_id IS NOT NULL
             FROM site_tokens t LEFT JOIN site_token_revocations r USING (token_id)
             WHERE $1::text IS NULL OR t.site_id = $1
             ORDER BY t.site_id, t.created_at",
            &[&site.map(SiteId::as_str)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| TokenInfo {
            token: row.get(0),
            site: row.get(1),
            label: row.get(2),
            revoked: row.get(3),
        })
        .collect())
}

/// Fails unless `site` is registered.
pub(crate) async fn require_site<C: tokio_postgres::GenericClient>(
    client: &C,
    site: &SiteId,
) -> Result<(), RegistryError> {
    let exists = client
        .query_opt("SELECT 1 FROM sites WHERE site_id = $1", &[&site.as_str()])
        .await?;
    if exists.is_none() {
        return Err(RegistryError::NoSuchSite(site.as_str().to_owned()));
    }
    Ok(())
}

async fn insert_key(
    transaction: &tokio_postgres::Transaction<'_>,
    device: &DeviceId,
    key: &DevicePublicKey,
) -> Result<(), RegistryError> {
    let inserted = transaction
        .execute(
            "INSERT INTO device_keys (device_id, algorithm, public_key) VALUES ($1, $2, $3)
             ON CONFLICT (algorithm, public_key) DO NOTHING",
            &[&device.as_str(), &key.algorithm(), &key.to_bytes()],
        )
        .await?;
    if inserted == 0 {
        let owner: String = transaction
            .query_one(
                "SELECT device_id FROM device_keys WHERE algorithm = $1 AND public_key = $2",
                &[&key.algorithm(), &key.to_bytes()],
            )
            .await?
            .get(0);
        return Err(RegistryError::KeyInUse(owner));
    }
    Ok(())
}

pub(crate) fn public_key_from_db(algorithm: &str, bytes: &[u8]) -> Option<DevicePublicKey> {
    match algorithm {
        "ed25519" => <[u8; 32]>::try_from(bytes)
            .ok()
            .and_then(|bytes| DevicePublicKey::from_ed25519_bytes(&bytes).ok()),
        _ => None,
    }
}
