//! What the services read of the registry on their request paths: a device or a token as a capture
//! authenticates it, and which locations a caller may speak for (with a cache keyed by the
//! registry's generation). Read-only: any role with SELECT on the registry's tables may run these.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ledger::batch::DevicePublicKey;
use ledger::{DeviceId, SiteId};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::admin::{DeviceStatus, public_key_from_db};
use crate::token::{SiteToken, TokenId};

/// Why the registry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
    #[error("a stored {what} is malformed: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

/// The registry's generation (`registry_generation`, V4): every change to the registry increments
/// it, so two reads at the same generation saw the same registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegistryGeneration(i64);

impl RegistryGeneration {
    pub(crate) fn new(generation: i64) -> Self {
        Self(generation)
    }
}

/// A device as the capture path needs it.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
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
pub struct TokenRecord {
    /// The generation of the registry this was read at.
    pub generation: RegistryGeneration,
    pub site: SiteId,
    pub secret_sha256: [u8; 32],
    pub revoked: bool,
}

impl TokenRecord {
    /// Whether `token` is this record's token and still valid: its secret's SHA-256 compared in
    /// constant time, and not revoked.
    pub fn accepts(&self, token: &SiteToken) -> bool {
        let presented: [u8; 32] = Sha256::digest(token.secret_bytes()).into();
        let matches: bool = presented.ct_eq(&self.secret_sha256).into();
        matches && !self.revoked
    }
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

pub async fn device_for_capture(
    client: &deadpool_postgres::Client,
    device: &DeviceId,
) -> Result<Option<DeviceRecord>, ReadError> {
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
        site: SiteId::parse(&site).map_err(|error| ReadError::Corrupt {
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

pub async fn token_for_capture(
    client: &deadpool_postgres::Client,
    token: &TokenId,
) -> Result<Option<TokenRecord>, ReadError> {
    token_record(client, SELECT_TOKEN, token).await
}

/// The same as [`token_for_capture`], for a reader (`tagtrail_reader`, which may not read the
/// token tables): through `tagtrail_site_token` (V27), which answers for one token id only.
pub async fn token_for_reader(
    client: &deadpool_postgres::Client,
    token: &TokenId,
) -> Result<Option<TokenRecord>, ReadError> {
    token_record(
        client,
        "SELECT site_id, secret_sha256, revoked, generation FROM tagtrail_site_token($1)",
        token,
    )
    .await
}

/// A token's record as `query` (site, secret hash, revoked, generation) reads it.
async fn token_record(
    client: &deadpool_postgres::Client,
    query: &str,
    token: &TokenId,
) -> Result<Option<TokenRecord>, ReadError> {
    let statement = client.prepare_cached(query).await?;
    let Some(row) = client.query_opt(&statement, &[&token.as_str()]).await? else {
        return Ok(None);
    };
    let site: String = row.get(0);
    let hash: Vec<u8> = row.get(1);
    Ok(Some(TokenRecord {
        generation: RegistryGeneration(row.get(3)),
        site: SiteId::parse(&site).map_err(|error| ReadError::Corrupt {
            what: "site id",
            reason: error.to_string(),
        })?,
        secret_sha256: <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| ReadError::Corrupt {
            what: "token hash",
            reason: format!("{} bytes instead of 32", hash.len()),
        })?,
        revoked: row.get(2),
    }))
}

/// Which of `keys` the caller may speak for: locations of `site`, and for a restricted device,
/// among its own; with the registry generation the answer was read at.
pub async fn allowed_locations(
    client: &deadpool_postgres::Client,
    site: &SiteId,
    device: Option<(&DeviceId, bool)>,
    keys: &[&str],
) -> Result<(RegistryGeneration, HashSet<String>), ReadError> {
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
pub struct AllowedCache {
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
    pub async fn allowed(
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
            .map_err(AllowedError::Read)?;
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
pub enum AllowedError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error(transparent)]
    Read(ReadError),
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
