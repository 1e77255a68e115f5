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

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ledger::nfc::{Keys, Sun, TapCheck};
use ledger::verdict::{ConsumerScan, ScanHow};
use registry::scans::{Cell, NewScan};
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

/// The most tags whose last known counter a process remembers, to refuse a replay without the
/// database.
const KNOWN_COUNTERS: usize = 65_536;

/// A tag's last counter known here (accepted, or read as the last accepted when a tap was
/// refused as a replay), by its UID and key version, with the item it is registered for.
/// Counters only rise: what this holds is never above what the database holds.
type KnownCounters = ledger_store::Generations<(ledger::nfc::Uid, u16), (String, u32)>;

/// What the service writes for consumers' scans.
#[derive(Clone)]
pub struct Scans {
    keys: Option<Arc<Keys>>,
    known: Arc<KnownCounters>,
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
            .map(Keys::read)
            .transpose()?
            .map(Arc::new);
        let pg_config =
            crate::startup::session_config_of(url, database, "tagtrail-trace-api-scans")
                .context("scans.url is not a PostgreSQL connection URL")?;
        let pool = crate::startup::lazy_pool(
            pg_config,
            scans.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
            database,
        )
        .context("Failed to set up the scans database pool")?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        let retention = i64::try_from(scans.retention.as_secs()).unwrap_or(i64::MAX);
        tokio::spawn(write(waiting, pool.clone(), metrics, stop.clone()));
        tokio::spawn(expire(pool.clone(), retention, stop));
        Ok(Some(Self {
            keys,
            known: Arc::new(KnownCounters::new(KNOWN_COUNTERS)),
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
        // A replay of a tap this process has seen spends no database statement: one URL sent
        // again and again cannot hold the scans pool from the taps of everyone else.
        if let Some((item, last)) = self.known.peek(&(tap.uid, tap.version))
            && tap.counter <= last
            && names.contains(&item)
        {
            return TapCheck::Replayed {
                uid: tap.uid,
                counter: tap.counter,
                last,
            };
        }
        let accepted = async {
            let client = self.pool.get().await?;
            anyhow::Ok(registry::nfc::accept_tap(&**client, &tap, names).await?)
        };
        let accepted = accepted.await;
        if let Ok(TapCheck::Accepted { counter, .. } | TapCheck::Replayed { last: counter, .. }) =
            &accepted
            && let Some(item) = names
                .iter()
                .find(|name| registry::nfc::is_scanned_item(name))
        {
            // The item the tag is registered for is one of `names` (or the tap was refused).
            self.known
                .insert((tap.uid, tap.version), (item.clone(), *counter));
        }
        match accepted {
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

    /// Queues the scan of the item at `link` being answered to be kept (a tap when `tap` was
    /// accepted; where the edge says it came from, [`Self::whereabouts`]); returns it as the
    /// verdict weighs it.
    pub fn keep<'h>(
        &self,
        link: String,
        tap: Option<&TapCheck>,
        peer: Option<std::net::IpAddr>,
        header: impl Fn(&str) -> &'h str,
        metrics: &Metrics,
    ) -> ConsumerScan {
        let (region, cell) = self.whereabouts(peer, header);
        let how = match tap {
            Some(TapCheck::Accepted { .. }) => ScanHow::Nfc,
            _ => ScanHow::Qr,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        self.record(
            NewScan {
                item: link,
                at: now,
                kind: how,
                region,
                cell,
            },
            metrics,
        );
        ConsumerScan {
            id: None,
            time: i128::from(registry::scans::rounded(now)) * 1_000_000_000,
            how,
            place: cell.map(Cell::centre),
        }
    }

    /// Where the edge says the scan came from: a region code from the region header, a cell
    /// from the position header (`latitude,longitude` in degrees), believed only when the request
    /// came from one of the configured edges (`peer`); anything else is not kept.
    pub fn whereabouts<'h>(
        &self,
        peer: Option<std::net::IpAddr>,
        header: impl Fn(&str) -> &'h str,
    ) -> (Option<String>, Option<Cell>) {
        if !peer.is_some_and(|peer| self.edges.contains(&peer)) {
            return (None, None);
        }
        let region = self
            .region_header
            .as_deref()
            .map(&header)
            .map(|code| code.trim().to_ascii_uppercase())
            .filter(|code| registry::scans::is_region(code));
        let cell = self
            .position_header
            .as_deref()
            .map(&header)
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
    fn record(&self, scan: NewScan, metrics: &Metrics) {
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
            known: Arc::new(KnownCounters::new(8)),
            pool,
            queue: mpsc::channel(1).0,
            region_header: Some("X-Region".to_owned()),
            position_header: Some("X-Position".to_owned()),
            edges,
        }
    }

    fn headers(name: &str) -> &'static str {
        match name {
            "X-Region" => " nl ",
            "X-Position" => "52.37,4.89",
            _ => "",
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
            "X-Region" => "<b>",
            "X-Position" => "52.37;4.89",
            _ => "",
        };
        assert_eq!(scans.whereabouts(Some(edge), odd), (None, None));
    }
}
