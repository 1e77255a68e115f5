//! The registry of who may report: sites and their locations, devices and their keys, site API
//! tokens (tables of `sql/V2__ingest.sql`). Administration (`tagtrail site|device|token`) runs as
//! the database owner through the functions here; the service only reads.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use deadpool_postgres::GenericClient as _;
use ledger::batch::DevicePublicKey;
use ledger::{DeviceId, SiteId};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::auth::{SiteToken, TokenId};
use crate::error::DatabaseError;
use crate::location::SiteLocation;

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

    fn from_db(text: &str) -> Self {
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
    #[error("failed to read random bytes from the operating system: {0}")]
    Random(String),
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
}

/// Registers a site.
pub async fn add_site(client: &Client, site: &SiteId, name: &str) -> Result<(), RegistryError> {
    let inserted = client
        .execute(
            "INSERT INTO sites (site_id, name) VALUES ($1, $2) ON CONFLICT (site_id) DO NOTHING",
            &[&site.as_str(), &name],
        )
        .await?;
    if inserted == 0 {
        return Err(RegistryError::SiteExists(site.as_str().to_owned()));
    }
    Ok(())
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
    let exists = client
        .query_opt(
            "SELECT 1 FROM site_tokens WHERE token_id = $1",
            &[&token.as_str()],
        )
        .await?;
    if exists.is_none() {
        return Err(RegistryError::NoSuchToken(token.as_str().to_owned()));
    }
    client
        .execute(
            "INSERT INTO site_token_revocations (token_id) VALUES ($1) ON CONFLICT DO NOTHING",
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

async fn require_site<C: tokio_postgres::GenericClient>(
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

fn public_key_from_db(algorithm: &str, bytes: &[u8]) -> Option<DevicePublicKey> {
    match algorithm {
        "ed25519" => <[u8; 32]>::try_from(bytes)
            .ok()
            .and_then(|bytes| DevicePublicKey::from_ed25519_bytes(&bytes).ok()),
        _ => None,
    }
}

// --- What the service reads -------------------------------------------------------------------------

/// The registry's generation (`registry_generation`, V4): every change to the registry increments
/// it, so two reads at the same generation saw the same registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegistryGeneration(i64);

/// A device as the capture path needs it.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRecord {
    /// The generation of the registry this was read at.
    pub generation: RegistryGeneration,
    pub site: SiteId,
    pub key: Option<DevicePublicKey>,
    pub status: DeviceStatus,
    /// Whether the device is restricted to some of its site's locations.
    pub restricted: bool,
}

/// A token as the capture path needs it.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    /// The generation of the registry this was read at.
    pub generation: RegistryGeneration,
    pub site: SiteId,
    pub secret_sha256: [u8; 32],
    pub revoked: bool,
}

const SELECT_DEVICE: &str = "
    SELECT d.site_id,
           (SELECT status FROM device_status_changes s WHERE s.device_id = d.device_id
            ORDER BY change_number DESC LIMIT 1),
           k.algorithm, k.public_key,
           EXISTS (SELECT 1 FROM device_locations l WHERE l.device_id = d.device_id),
           (SELECT generation FROM registry_generation)
    FROM devices d
    LEFT JOIN LATERAL (SELECT algorithm, public_key FROM device_keys k
                       WHERE k.device_id = d.device_id ORDER BY key_number DESC LIMIT 1) k ON true
    WHERE d.device_id = $1";

const SELECT_TOKEN: &str = "
    SELECT t.site_id, t.secret_sha256, r.token_id IS NOT NULL,
           (SELECT generation FROM registry_generation)
    FROM site_tokens t LEFT JOIN site_token_revocations r USING (token_id)
    WHERE t.token_id = $1";

/// The site's locations among `keys` that the device (if restricted) may use, and the registry
/// generation they were read at (one snapshot).
const SELECT_ALLOWED: &str = "
    SELECT (SELECT generation FROM registry_generation),
           ARRAY(SELECT s.location_key
                 FROM site_locations s
                 WHERE s.site_id = $1 AND s.location_key = ANY($2)
                   AND (NOT $4 OR EXISTS (SELECT 1 FROM device_locations d
                                          WHERE d.device_id = $3
                                            AND d.location_key = s.location_key)))";

pub(crate) async fn device_for_capture(
    client: &deadpool_postgres::Client,
    device: &DeviceId,
) -> Result<Option<DeviceRecord>, DatabaseError> {
    let statement = client.prepare_cached(SELECT_DEVICE).await?;
    let Some(row) = client.query_opt(&statement, &[&device.as_str()]).await? else {
        return Ok(None);
    };
    let site: String = row.get(0);
    let status: Option<String> = row.get(1);
    let algorithm: Option<String> = row.get(2);
    let key: Option<Vec<u8>> = row.get(3);
    Ok(Some(DeviceRecord {
        generation: RegistryGeneration(row.get(5)),
        site: SiteId::parse(&site).map_err(|error| DatabaseError::Corrupt {
            what: "site id",
            reason: error.to_string(),
        })?,
        key: algorithm
            .zip(key)
            .and_then(|(a, k)| public_key_from_db(&a, &k)),
        status: DeviceStatus::from_db(status.as_deref().unwrap_or("disabled")),
        restricted: row.get(4),
    }))
}

pub(crate) async fn token_for_capture(
    client: &deadpool_postgres::Client,
    token: &TokenId,
) -> Result<Option<TokenRecord>, DatabaseError> {
    let statement = client.prepare_cached(SELECT_TOKEN).await?;
    let Some(row) = client.query_opt(&statement, &[&token.as_str()]).await? else {
        return Ok(None);
    };
    let site: String = row.get(0);
    let hash: Vec<u8> = row.get(1);
    Ok(Some(TokenRecord {
        generation: RegistryGeneration(row.get(3)),
        site: SiteId::parse(&site).map_err(|error| DatabaseError::Corrupt {
            what: "site id",
            reason: error.to_string(),
        })?,
        secret_sha256: <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
            DatabaseError::Corrupt {
                what: "token hash",
                reason: format!("{} bytes instead of 32", hash.len()),
            }
        })?,
        revoked: row.get(2),
    }))
}

/// Which of `keys` the caller may speak for: locations of `site`, and for a restricted device,
/// among its own; with the registry generation the answer was read at.
pub(crate) async fn allowed_locations(
    client: &deadpool_postgres::Client,
    site: &SiteId,
    device: Option<(&DeviceId, bool)>,
    keys: &[&str],
) -> Result<(RegistryGeneration, HashSet<String>), DatabaseError> {
    let (device, restricted) = match device {
        Some((device, restricted)) => (device.as_str(), restricted),
        None => ("", false),
    };
    let statement = client.prepare_cached(SELECT_ALLOWED).await?;
    let row = client
        .query_one(&statement, &[&site.as_str(), &keys, &device, &restricted])
        .await?;
    let allowed: Vec<String> = row.get(1);
    Ok((
        RegistryGeneration(row.get(0)),
        allowed.into_iter().collect(),
    ))
}

/// The most location-check answers an [`AllowedCache`] keeps.
const MAX_CACHED_ANSWERS: usize = 4096;

/// The answers of recent location checks ([`allowed_locations`]), each with the registry generation
/// it was read at. An answer is reused only for a capture authenticated at that same generation:
/// nothing in the registry changed in between, so reading it again would give the same answer. A
/// capture thus costs one registry statement (its authentication) instead of two whenever its
/// caller named the same locations before, and a registry change (a location removed, a device
/// narrowed) applies to every capture authenticated after it commits.
#[derive(Debug, Default)]
pub(crate) struct AllowedCache {
    answers: Mutex<HashMap<AllowedQuestion, KeptAnswer>>,
}

/// An answer and the generation it was read at.
type KeptAnswer = (RegistryGeneration, Arc<HashSet<String>>);

/// What a location check asks: may this caller speak for these location keys?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AllowedQuestion {
    site: SiteId,
    device: Option<(DeviceId, bool)>,
    /// Sorted, without duplicates.
    keys: Vec<String>,
}

impl AllowedQuestion {
    fn new(site: &SiteId, device: Option<(&DeviceId, bool)>, keys: &[&str]) -> Self {
        let mut keys: Vec<String> = keys.iter().map(|&key| key.to_owned()).collect();
        keys.sort_unstable();
        keys.dedup();
        Self {
            site: site.clone(),
            device: device.map(|(device, restricted)| (device.clone(), restricted)),
            keys,
        }
    }
}

impl AllowedCache {
    /// Which of `keys` the caller may speak for, in the registry at `generation` (the generation
    /// the caller was authenticated at): a kept answer read at that generation, or a new read.
    pub(crate) async fn allowed(
        &self,
        pool: &deadpool_postgres::Pool,
        generation: RegistryGeneration,
        site: &SiteId,
        device: Option<(&DeviceId, bool)>,
        keys: &[&str],
    ) -> Result<Arc<HashSet<String>>, AllowedError> {
        let question = AllowedQuestion::new(site, device, keys);
        if let Some(answer) = self.kept(&question, generation) {
            return Ok(answer);
        }
        let client = pool.get().await.map_err(AllowedError::Pool)?;
        let (read_at, allowed) = allowed_locations(&client, site, device, keys)
            .await
            .map_err(AllowedError::Database)?;
        let allowed = Arc::new(allowed);
        self.keep(question, read_at, allowed.clone());
        Ok(allowed)
    }

    fn kept(
        &self,
        question: &AllowedQuestion,
        generation: RegistryGeneration,
    ) -> Option<Arc<HashSet<String>>> {
        let answers = self.answers.lock().ok()?;
        match answers.get(question) {
            Some((read_at, answer)) if *read_at == generation => Some(answer.clone()),
            _ => None,
        }
    }

    fn keep(
        &self,
        question: AllowedQuestion,
        read_at: RegistryGeneration,
        answer: Arc<HashSet<String>>,
    ) {
        let Ok(mut answers) = self.answers.lock() else {
            return;
        };
        // Answers of another generation are never reused once the registry moved on.
        answers.retain(|_, (kept_at, _)| *kept_at == read_at);
        if answers.len() >= MAX_CACHED_ANSWERS {
            answers.clear();
        }
        answers.insert(question, (read_at, answer));
    }

    /// How many answers are kept (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.answers.lock().map_or(0, |answers| answers.len())
    }
}

/// Why a location check could not be answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AllowedError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error(transparent)]
    Database(DatabaseError),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn answer(keys: &[&str]) -> Arc<HashSet<String>> {
        Arc::new(keys.iter().map(|&key| key.to_owned()).collect())
    }

    #[test]
    fn an_answer_is_reused_only_at_the_generation_it_was_read_at() {
        let cache = AllowedCache::default();
        let site = SiteId::parse("site-1").unwrap();
        let device = DeviceId::parse("door-1").unwrap();
        let question = |keys: &[&str]| AllowedQuestion::new(&site, Some((&device, false)), keys);
        cache.keep(question(&["a", "b"]), RegistryGeneration(7), answer(&["a"]));
        // The same question in another order, or with a key repeated, is the same question.
        assert_eq!(
            cache.kept(&question(&["b", "a", "b"]), RegistryGeneration(7)),
            Some(answer(&["a"]))
        );
        // Not at another generation, not for another device or restriction, not for other keys.
        assert_eq!(
            cache.kept(&question(&["a", "b"]), RegistryGeneration(8)),
            None
        );
        let restricted = AllowedQuestion::new(&site, Some((&device, true)), &["a", "b"]);
        assert_eq!(cache.kept(&restricted, RegistryGeneration(7)), None);
        let token = AllowedQuestion::new(&site, None, &["a", "b"]);
        assert_eq!(cache.kept(&token, RegistryGeneration(7)), None);
        assert_eq!(cache.kept(&question(&["a"]), RegistryGeneration(7)), None);
        // An answer of a newer generation drops those of older ones.
        cache.keep(question(&["c"]), RegistryGeneration(7), answer(&[]));
        assert_eq!(cache.len(), 2);
        cache.keep(
            question(&["a", "b"]),
            RegistryGeneration(9),
            answer(&["a", "b"]),
        );
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.kept(&question(&["a", "b"]), RegistryGeneration(9)),
            Some(answer(&["a", "b"]))
        );
        assert_eq!(cache.kept(&question(&["c"]), RegistryGeneration(7)), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = AllowedCache::default();
        let site = SiteId::parse("site-1").unwrap();
        for n in 0..(MAX_CACHED_ANSWERS + 10) {
            let key = n.to_string();
            cache.keep(
                AllowedQuestion::new(&site, None, &[key.as_str()]),
                RegistryGeneration(1),
                answer(&[]),
            );
            assert!(cache.len() <= MAX_CACHED_ANSWERS);
        }
    }
}
