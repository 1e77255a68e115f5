//! What consumers' scans write (`[scans]`), on the primary, as a role in `tagtrail_scans`:
//! - NFC taps: a scan whose URL carries an NTAG 424 DNA Secure Unique NFC message is checked with
//!   the keys of the NFC key file (`ledger::nfc`), then the tag's counter is checked and moved in
//!   one statement (`registry::nfc::accept_tap`);
//! - the scans themselves, kept with nothing personal (`registry::scans`): the item, the time
//!   rounded down to 15 minutes, a QR scan or a verified tap, and a region code and a one-degree
//!   cell only when the edge sets the configured headers. They go through a bounded queue to one
//!   writer that inserts them in batches (a full queue drops scans, counted: they are signals,
//!   never acknowledged); a task apart deletes those older than `[scans] retention`, in bounded
//!   statements.
//!
//! The verdict weighs both (`ledger::verdict`: the `nfc_tap_*` rules, `copied_label`,
//! `scanned_far_apart`).

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ledger::nfc::{Keys, Sun, TapCheck};
use registry::scans::{Cell, NewScan};
use secrecy::ExposeSecret as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{DatabaseConfig, ScansConfig};
use crate::metrics::Metrics;

/// The default size of the primary's pool for scans.
const DEFAULT_POOL_SIZE: usize = 4;

/// Scans waiting to be written; more are dropped (and counted).
const QUEUE: usize = 65_536;

/// The most scans one statement writes.
const BATCH: usize = 2_000;

/// How often expired scans are deleted.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(600);

/// The most expired scans one statement deletes.
const EXPIRY_BATCH: i64 = 10_000;

/// What the service writes for consumers' scans.
#[derive(Clone)]
pub struct Scans {
    keys: Option<Arc<Keys>>,
    pool: deadpool_postgres::Pool,
    queue: mpsc::Sender<NewScan>,
    region_header: Option<String>,
    position_header: Option<String>,
    edges: Vec<std::net::IpAddr>,
}

impl std::fmt::Debug for Scans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scans")
            .field(
                "key_versions",
                &self.keys.as_ref().map(|keys| keys.versions().len()),
            )
            .field("region_header", &self.region_header)
            .field("position_header", &self.position_header)
            .finish_non_exhaustive()
    }
}

impl Scans {
    /// From `[scans]`, when it is set: the key file read now, the pool opened lazily (with the
    /// `[database]` timeouts), the writer started (it stops, writing what it holds, when
    /// `stop` is cancelled).
    pub fn start(
        scans: &ScansConfig,
        database: &DatabaseConfig,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let Some(url) = &scans.url else {
            return Ok(None);
        };
        let keys = scans
            .nfc_keys
            .as_deref()
            .map(read_keys)
            .transpose()?
            .map(Arc::new);
        let mut pg_config = tokio_postgres::Config::from_str(url.expose_secret())
            .context("scans.url is not a PostgreSQL connection URL")?;
        let options = format!(
            "{} -c statement_timeout={}",
            pg_config.get_options().unwrap_or_default(),
            database.statement_timeout.as_millis()
        );
        pg_config.options(options.trim());
        pg_config.application_name("tagtrail-trace-api-scans");
        let manager = deadpool_postgres::Manager::from_config(
            pg_config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(scans.pool_size.unwrap_or(DEFAULT_POOL_SIZE))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(database.connect_timeout))
            .wait_timeout(Some(database.connect_timeout))
            .build()
            .context("Failed to set up the scans database pool")?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        let retention = i64::try_from(scans.retention.as_secs()).unwrap_or(i64::MAX);
        tokio::spawn(write(waiting, pool.clone(), metrics, stop.clone()));
        tokio::spawn(expire(pool.clone(), retention, stop));
        Ok(Some(Self {
            keys,
            pool,
            queue,
            region_header: scans.region_header.clone(),
            position_header: scans.position_header.clone(),
            edges: scans.edges.clone(),
        }))
    }

    /// Checks the tap in a scan's query string, if it carries one: `None` when it does not.
    /// `scans` is `None` when the service has no `[scans]`.
    pub async fn check_tap(
        scans: Option<&Self>,
        query: &str,
        names: &[String],
        metrics: &Metrics,
    ) -> Option<TapCheck> {
        let check = match Sun::from_query(query) {
            Ok(None) => return None,
            Err(error) => TapCheck::Malformed(error),
            Ok(Some(sun)) => match scans {
                Some(scans) => scans.accept(&sun, names).await,
                None => TapCheck::Unchecked("this service holds no NFC keys"),
            },
        };
        metrics.nfc_tap(&check);
        Some(check)
    }

    async fn accept(&self, sun: &Sun, names: &[String]) -> TapCheck {
        let Some(keys) = &self.keys else {
            return TapCheck::Unchecked("this service holds no NFC keys");
        };
        let tap = match keys.verify(sun) {
            Ok(tap) => tap,
            Err(refusal) => return TapCheck::Refused(refusal),
        };
        let accepted = async {
            let client = self.pool.get().await?;
            anyhow::Ok(registry::nfc::accept_tap(&**client, &tap, names).await?)
        };
        match accepted.await {
            Ok(check) => check,
            Err(error) => {
                // Its MAC verified, but it may be a replay: unknown, never genuine.
                tracing::warn!(error = %format!("{error:#}"), "an NFC tap could not be recorded");
                TapCheck::Unconfirmed {
                    uid: tap.uid,
                    counter: tap.counter,
                }
            }
        }
    }

    /// Where the edge says the scan came from: a region code from the region header, a cell
    /// from the position header (`latitude,longitude` in degrees), believed only when the request
    /// came from one of the configured edges (`peer`); anything else is not kept.
    pub fn whereabouts(
        &self,
        peer: Option<std::net::IpAddr>,
        header: impl Fn(&str) -> Option<String>,
    ) -> (Option<String>, Option<Cell>) {
        if !peer.is_some_and(|peer| self.edges.contains(&peer)) {
            return (None, None);
        }
        let region = self
            .region_header
            .as_deref()
            .and_then(&header)
            .map(|code| code.trim().to_ascii_uppercase())
            .filter(|code| registry::scans::is_region(code));
        let cell = self
            .position_header
            .as_deref()
            .and_then(&header)
            .and_then(|position| {
                let (latitude, longitude) = position.split_once(',')?;
                Cell::of(
                    latitude.trim().parse().ok()?,
                    longitude.trim().parse().ok()?,
                )
            });
        (region, cell)
    }

    /// Queues `scan` to be kept; a full queue drops it (counted).
    pub fn record(&self, scan: NewScan, metrics: &Metrics) {
        if self.queue.try_send(scan).is_err() {
            metrics.scans_dropped(1);
        }
    }
}

/// Every [`EXPIRY_INTERVAL`], deletes the scans kept longer than `retention` seconds, in bounded
/// statements, apart from the writer (a long expiry never holds scans back).
async fn expire(pool: deadpool_postgres::Pool, retention: i64, stop: CancellationToken) {
    let mut expiry = tokio::time::interval(EXPIRY_INTERVAL);
    loop {
        tokio::select! {
            _ = expiry.tick() => {}
            () = stop.cancelled() => return,
        }
        loop {
            let expired = async {
                let client = pool.get().await?;
                anyhow::Ok(registry::scans::expire_scans(&**client, retention, EXPIRY_BATCH).await?)
            };
            match expired.await {
                Ok(deleted) if deleted == EXPIRY_BATCH as u64 && !stop.is_cancelled() => {}
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "expired scans could not be deleted");
                    break;
                }
            }
        }
    }
}

/// The writer: batches of queued scans, one statement each.
async fn write(
    mut waiting: mpsc::Receiver<NewScan>,
    pool: deadpool_postgres::Pool,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = waiting.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    return;
                }
                keep(&pool, &mut batch, &metrics).await;
            }
            () = stop.cancelled() => {
                waiting.close();
                while waiting.recv_many(&mut batch, BATCH).await > 0 {
                    keep(&pool, &mut batch, &metrics).await;
                }
                return;
            }
        }
    }
}

/// Writes `batch` (emptying it); a failure drops it, counted and logged.
async fn keep(pool: &deadpool_postgres::Pool, batch: &mut Vec<NewScan>, metrics: &Metrics) {
    let written = async {
        let client = pool.get().await?;
        anyhow::Ok(registry::scans::record_scans(&**client, batch).await?)
    };
    match written.await {
        Ok(count) => metrics.scans_recorded(count),
        Err(error) => {
            metrics.scans_dropped(batch.len() as u64);
            tracing::warn!(error = %format!("{error:#}"), scans = batch.len(), "scans could not be kept");
        }
    }
    batch.clear();
}

/// The NFC key file at `path`, its text zeroed once read.
fn read_keys(path: &Path) -> anyhow::Result<Keys> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read the NFC key file {}", path.display()))?,
    );
    Keys::parse(&text).with_context(|| format!("The NFC key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scans(edges: Vec<std::net::IpAddr>) -> Scans {
        let manager = deadpool_postgres::Manager::from_config(
            tokio_postgres::Config::new(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig::default(),
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .unwrap();
        Scans {
            keys: None,
            pool,
            queue: mpsc::channel(1).0,
            region_header: Some("X-Region".to_owned()),
            position_header: Some("X-Position".to_owned()),
            edges,
        }
    }

    fn headers(name: &str) -> Option<String> {
        match name {
            "X-Region" => Some(" nl ".to_owned()),
            "X-Position" => Some("52.37,4.89".to_owned()),
            _ => None,
        }
    }

    /// The edge's headers are believed from the edge alone: a client reaching the service
    /// another way could say it was anywhere.
    #[test]
    fn whereabouts_are_believed_from_the_edge_alone() {
        let edge: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let scans = scans(vec![edge]);
        let (region, cell) = scans.whereabouts(Some(edge), headers);
        assert_eq!(region.as_deref(), Some("NL"));
        assert_eq!(
            cell,
            Some(Cell {
                latitude: 52,
                longitude: 4
            })
        );
        assert_eq!(
            scans.whereabouts(Some("10.0.0.6".parse().unwrap()), headers),
            (None, None)
        );
        assert_eq!(scans.whereabouts(None, headers), (None, None));
        // Not a region code, not a position: not kept.
        let odd = |name: &str| match name {
            "X-Region" => Some("<b>".to_owned()),
            "X-Position" => Some("52.37;4.89".to_owned()),
            _ => None,
        };
        assert_eq!(scans.whereabouts(Some(edge), odd), (None, None));
    }
}
