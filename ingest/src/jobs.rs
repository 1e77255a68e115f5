//! Capture jobs: the record of each accepted capture (`capture_jobs`), and their JSON shape, the
//! EPCIS 2.0 capture job with one receipt per event.

use std::fmt::{self, Write as _};

use deadpool_postgres::GenericClient as _;
use ledger::LeafIndex;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::capture::ErrorBehaviour;
use crate::error::{DatabaseError, Problem};

/// A capture job's id: 32 lowercase hex digits (random).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaptureId(String);

impl CaptureId {
    /// A new random id.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        let mut text = String::with_capacity(32);
        for byte in bytes {
            text.push_str(&format!("{byte:02x}"));
        }
        Ok(Self(text))
    }

    /// Parses an id from a URL; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaptureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one event of a capture is in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The event's index in the captured document.
    pub event_index: usize,
    /// The event's `eventID`, if it has one.
    #[serde(rename = "eventID", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The CBV 2.0 event hash ID (`ni:///sha-256;<hex>?ver=CBV2.0`).
    pub event_hash: String,
    /// The event's leaf index in the log.
    pub leaf_index: u64,
    /// Whether the event was already in the ledger (nothing was appended for it). Only in the
    /// answer to the capture itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// Only for an error declaration: the leaf index of the entry it declares erroneous, or
    /// `null` when the ledger did not hold the declared event (an event of that hash captured
    /// later is the one declared erroneous).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declares_erroneous: Option<Option<u64>>,
}

/// A receipt's `declaresErroneous`.
pub fn declares_erroneous(declares: Option<ledger_store::Declares>) -> Option<Option<u64>> {
    declares.map(|declares| declares.entry().map(LeafIndex::get))
}

/// An EPCIS 2.0 capture job with its receipts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureJob {
    /// The job's id.
    #[serde(rename = "captureID")]
    pub capture_id: String,
    /// When the request arrived (RFC 3339, UTC).
    pub created_at: String,
    /// When it was answered.
    pub finished_at: String,
    /// Always `false`: a capture is answered once it is committed.
    pub running: bool,
    /// Whether every event was stored.
    pub success: bool,
    /// `rollback` or `proceed`.
    pub capture_error_behaviour: &'static str,
    /// One problem per rejected event (proceed).
    pub errors: Vec<Value>,
    /// The number of events in the document.
    pub event_count: usize,
    /// How many entries this capture appended to the log.
    pub appended: usize,
    /// One receipt per stored event, in document order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<Receipt>>,
}

/// What a finished capture records.
#[derive(Debug)]
pub struct NewJob<'a> {
    pub id: &'a CaptureId,
    pub caller: &'a Caller,
    pub behaviour: ErrorBehaviour,
    pub created_at_ms: u64,
    pub finished_at_ms: u64,
    pub appended: usize,
    /// Per event in document order: its leaf index, `None` if rejected.
    pub leaf_indexes: &'a [Option<u64>],
    pub errors: &'a [Problem],
}

const JOB_COLUMNS: &str = "
    capture_id, error_behaviour,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    appended, leaf_indexes, errors::text";

/// The most capture jobs written in one statement.
const MAX_JOBS_PER_WRITE: usize = 256;

const INSERT_JOBS: &str = "
    INSERT INTO capture_jobs (capture_id, site_id, device_id, token_id, error_behaviour, created_at,
                              finished_at, appended, leaf_indexes, errors)
    SELECT id, site, device, token, behaviour, to_timestamp(created / 1000.0),
           to_timestamp(finished / 1000.0), appended, leaves::bigint[], errors::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                $7::bigint[], $8::integer[], $9::text[], $10::text[])
         AS j(id, site, device, token, behaviour, created, finished, appended, leaves, errors)";

/// A capture job's row, owned, as the [`JobWriter`] takes it.
struct JobRow {
    id: String,
    site: String,
    device: Option<String>,
    token: Option<String>,
    behaviour: &'static str,
    created: i64,
    finished: i64,
    appended: i32,
    /// The leaf indexes as a PostgreSQL array literal (`{3,NULL,4}`).
    leaves: String,
    errors: String,
}

impl fmt::Debug for JobRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRow").field("id", &self.id).finish()
    }
}

impl JobRow {
    fn of(job: &NewJob<'_>) -> Self {
        let (device, token) = match job.caller {
            Caller::Device { device, .. } => (Some(device.as_str().to_owned()), None),
            Caller::Site { token, .. } => (None, Some(token.as_str().to_owned())),
        };
        let mut leaves = String::with_capacity(2 + 8 * job.leaf_indexes.len());
        leaves.push('{');
        for (i, leaf) in job.leaf_indexes.iter().enumerate() {
            if i > 0 {
                leaves.push(',');
            }
            // Writing to a String cannot fail.
            let _ = match leaf {
                Some(leaf) => write!(leaves, "{leaf}"),
                None => leaves.write_str("NULL"),
            };
        }
        leaves.push('}');
        Self {
            id: job.id.as_str().to_owned(),
            site: job.caller.site().as_str().to_owned(),
            device,
            token,
            behaviour: job.behaviour.as_str(),
            created: i64::try_from(job.created_at_ms).unwrap_or(i64::MAX),
            finished: i64::try_from(job.finished_at_ms).unwrap_or(i64::MAX),
            appended: i32::try_from(job.appended).unwrap_or(i32::MAX),
            leaves,
            errors: serde_json::to_string(job.errors).unwrap_or_else(|_| "[]".to_owned()),
        }
    }
}

type JobReply = tokio::sync::oneshot::Sender<Result<(), std::sync::Arc<DatabaseError>>>;

/// Records capture jobs: the jobs of captures finishing together are inserted by one statement in
/// one transaction (one round trip and one durable commit instead of one each). A job is recorded,
/// durably, when [`record`](Self::record) returns. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobWriter {
    queue: tokio::sync::mpsc::Sender<(JobRow, JobReply)>,
}

impl JobWriter {
    /// Starts the writing task on the current runtime; it ends when the last handle is dropped,
    /// after writing what was queued.
    pub fn start(pool: deadpool_postgres::Pool) -> Self {
        let (queue, mut jobs) = tokio::sync::mpsc::channel::<(JobRow, JobReply)>(1024);
        tokio::spawn(async move {
            while let Some(first) = jobs.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_JOBS_PER_WRITE {
                    match jobs.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                let (rows, replies): (Vec<JobRow>, Vec<JobReply>) = group.into_iter().unzip();
                let outcome = write_jobs(&pool, &rows).await.map_err(std::sync::Arc::new);
                for reply in replies {
                    let _ = reply.send(outcome.clone());
                }
            }
        });
        Self { queue }
    }

    /// Records a finished capture, durably, together with the jobs of other captures finishing
    /// at the same time.
    pub async fn record(&self, job: &NewJob<'_>) -> Result<(), DatabaseError> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let stopped = || DatabaseError::Stopped("capture job writer");
        self.queue
            .send((JobRow::of(job), reply))
            .await
            .map_err(|_| stopped())?;
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(DatabaseError::Shared(error)),
            Err(_) => Err(stopped()),
        }
    }
}

/// Inserts the rows with one statement (its own transaction, committed durably).
async fn write_jobs(pool: &deadpool_postgres::Pool, rows: &[JobRow]) -> Result<(), DatabaseError> {
    let client = pool.get().await?;
    let column = |f: fn(&JobRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let ids = column(|r| Some(r.id.as_str()));
    let sites = column(|r| Some(r.site.as_str()));
    let devices = column(|r| r.device.as_deref());
    let tokens = column(|r| r.token.as_deref());
    let behaviours = column(|r| Some(r.behaviour));
    let leaves = column(|r| Some(r.leaves.as_str()));
    let errors = column(|r| Some(r.errors.as_str()));
    let created: Vec<i64> = rows.iter().map(|r| r.created).collect();
    let finished: Vec<i64> = rows.iter().map(|r| r.finished).collect();
    let appended: Vec<i32> = rows.iter().map(|r| r.appended).collect();
    let statement = client.prepare_cached(INSERT_JOBS).await?;
    client
        .execute(
            &statement,
            &[
                &ids,
                &sites,
                &devices,
                &tokens,
                &behaviours,
                &created,
                &finished,
                &appended,
                &leaves,
                &errors,
            ],
        )
        .await?;
    Ok(())
}

/// A job of `site` with its receipts, read back from the ledger.
pub async fn find(
    store: &ledger_store::Store,
    client: &deadpool_postgres::Client,
    site: &ledger::SiteId,
    id: &CaptureId,
) -> Result<Option<CaptureJob>, DatabaseError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM capture_jobs WHERE capture_id = $1 AND site_id = $2"
        ))
        .await?;
    let Some(row) = client
        .query_opt(&statement, &[&id.as_str(), &site.as_str()])
        .await?
    else {
        return Ok(None);
    };
    let mut job = job_from_row(&row)?;
    let leaves: Vec<Option<i64>> = row.get(5);
    let leaf_index = |leaf: i64| {
        u64::try_from(leaf)
            .ok()
            .and_then(|leaf| LeafIndex::new(leaf).ok())
            .ok_or_else(|| DatabaseError::Corrupt {
                what: "capture job",
                reason: format!("job {id} names entry {leaf}"),
            })
    };
    let wanted: Vec<LeafIndex> = leaves
        .iter()
        .flatten()
        .map(|&leaf| leaf_index(leaf))
        .collect::<Result<_, _>>()?;
    let events = store.entry_summaries(&wanted).await?;
    let mut receipts = Vec::with_capacity(wanted.len());
    for (event_index, leaf) in leaves.iter().enumerate() {
        let Some(leaf) = leaf else { continue };
        let index = leaf_index(*leaf)?;
        let summary = events
            .get(&index)
            .cloned()
            .ok_or_else(|| DatabaseError::Corrupt {
                what: "capture job",
                reason: format!("entry {leaf} of job {id} is not in the log"),
            })?;
        receipts.push(Receipt {
            event_index,
            event_id: summary.event_id,
            event_hash: summary.event_hash.to_ni_uri(),
            leaf_index: index.get(),
            duplicate: None,
            declares_erroneous: declares_erroneous(summary.declares),
        });
    }
    job.receipts = Some(receipts);
    Ok(Some(job))
}

/// The most recent jobs of `site`, newest first, without receipts.
pub async fn recent(
    client: &deadpool_postgres::Client,
    site: &ledger::SiteId,
    limit: i64,
) -> Result<Vec<CaptureJob>, DatabaseError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM capture_jobs WHERE site_id = $1 ORDER BY created_at DESC LIMIT $2"
        ))
        .await?;
    client
        .query(&statement, &[&site.as_str(), &limit])
        .await?
        .iter()
        .map(job_from_row)
        .collect()
}

fn job_from_row(row: &tokio_postgres::Row) -> Result<CaptureJob, DatabaseError> {
    let behaviour: String = row.get(1);
    let leaves: Vec<Option<i64>> = row.get(5);
    let errors: String = row.get(6);
    let errors: Vec<Value> =
        serde_json::from_str(&errors).map_err(|error| DatabaseError::Corrupt {
            what: "capture job errors",
            reason: error.to_string(),
        })?;
    let appended: i32 = row.get(4);
    Ok(CaptureJob {
        capture_id: row.get(0),
        created_at: row.get(2),
        finished_at: row.get(3),
        running: false,
        success: errors.is_empty(),
        capture_error_behaviour: if behaviour == "proceed" {
            "proceed"
        } else {
            "rollback"
        },
        errors,
        event_count: leaves.len(),
        appended: usize::try_from(appended).unwrap_or(0),
        receipts: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_ids_are_32_hex_digits() {
        let Ok(id) = CaptureId::generate() else {
            panic!("no randomness")
        };
        assert_eq!(CaptureId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(CaptureId::parse("xyz"), None);
        assert_eq!(CaptureId::parse(&id.as_str().to_uppercase()), None);
    }
}
