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
    appended, leaf_indexes, errors::text, site_id, device_id, token_id,
    round(extract(epoch FROM created_at) * 1000)::bigint,
    round(extract(epoch FROM finished_at) * 1000)::bigint, seal";

/// The most capture jobs written in one statement.
const MAX_JOBS_PER_WRITE: usize = 256;

const INSERT_JOBS: &str = "
    INSERT INTO capture_jobs (capture_id, site_id, device_id, token_id, error_behaviour, created_at,
                              finished_at, appended, leaf_indexes, errors, seal)
    SELECT id, site, device, token, behaviour, to_timestamp(created / 1000.0),
           to_timestamp(finished / 1000.0), appended, leaves::bigint[], errors::jsonb, seal
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                $7::bigint[], $8::integer[], $9::text[], $10::text[], $11::bytea[])
         AS j(id, site, device, token, behaviour, created, finished, appended, leaves, errors, seal)";

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
    /// The key id and MAC ([`JobSealer`]).
    seal: Vec<u8>,
}

impl fmt::Debug for JobRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRow").field("id", &self.id).finish()
    }
}

impl JobRow {
    fn of(job: &NewJob<'_>, sealer: &JobSealer) -> Self {
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
        let errors = serde_json::to_value(job.errors)
            .map(|errors| canonical_json(&errors))
            .unwrap_or_else(|_| "[]".to_owned());
        let leaf_list: Vec<Option<i64>> = job
            .leaf_indexes
            .iter()
            .map(|leaf| leaf.map(|leaf| i64::try_from(leaf).unwrap_or(i64::MAX)))
            .collect();
        let mut row = Self {
            id: job.id.as_str().to_owned(),
            site: job.caller.site().as_str().to_owned(),
            device,
            token,
            behaviour: job.behaviour.as_str(),
            created: i64::try_from(job.created_at_ms).unwrap_or(i64::MAX),
            finished: i64::try_from(job.finished_at_ms).unwrap_or(i64::MAX),
            appended: i32::try_from(job.appended).unwrap_or(i32::MAX),
            leaves,
            errors,
            seal: Vec::new(),
        };
        row.seal = sealer.seal(&SealedFields {
            id: &row.id,
            site: &row.site,
            device: row.device.as_deref(),
            token: row.token.as_deref(),
            behaviour: row.behaviour,
            created_ms: row.created,
            finished_ms: row.finished,
            appended: row.appended,
            leaves: &leaf_list,
            errors: &row.errors,
        });
        row
    }
}

/// The purpose of the secret a [`JobSealer`] derives from a checkpoint key.
const SEAL_PURPOSE: &str = "capture-job seal v1";
/// What a seal's MAC starts with.
const SEAL_DOMAIN: &[u8] = b"tagtrail capture job v1";

/// Seals capture jobs, and checks the seals of jobs read back: an HMAC-SHA-256 over every field a
/// job's answer shows (its id, site, device or token, error behaviour, times, appended count,
/// leaf indexes and errors), keyed with a secret derived from a checkpoint key
/// ([`NoteSignerKey::derive_secret`](ledger::note::NoteSignerKey::derive_secret)). A seal is that
/// key's 4-byte id followed by the 32-byte MAC. Jobs are sealed with the primary key; a seal of
/// any configured key (the primary or an additional one, during a key rotation) verifies. The
/// database roles hold no key: a row any of them writes or edits does not verify.
pub struct JobSealer {
    /// Per configured key, primary first: its id and derived secret (zeroed when dropped).
    keys: Vec<(ledger::note::KeyId, zeroize::Zeroizing<[u8; 32]>)>,
}

impl fmt::Debug for JobSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSealer")
            .field(
                "keys",
                &self.keys.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The fields a seal covers, as stored.
struct SealedFields<'a> {
    id: &'a str,
    site: &'a str,
    device: Option<&'a str>,
    token: Option<&'a str>,
    behaviour: &'a str,
    created_ms: i64,
    finished_ms: i64,
    appended: i32,
    leaves: &'a [Option<i64>],
    /// The errors as [`canonical_json`] writes them.
    errors: &'a str,
}

/// Why a job read back is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Recorded before jobs were sealed (V13), or written by someone else than ingest.
    #[error("it has no seal (recorded before capture jobs were sealed, or not by ingest)")]
    Missing,
    /// Sealed with a key this process does not hold (retired after a rotation, or made up).
    #[error("it is sealed with checkpoint key {0}, which this process does not hold")]
    UnknownKey(String),
    /// The MAC does not match the fields: the row was edited, or forged.
    #[error("its seal does not match what it holds (the row was edited or forged)")]
    Mismatch,
}

impl JobSealer {
    /// A sealer of the process's checkpoint keys, primary first.
    pub fn new(signers: &[std::sync::Arc<ledger::note::NoteSignerKey>]) -> Self {
        Self {
            keys: signers
                .iter()
                .map(|key| (key.id(), key.derive_secret(SEAL_PURPOSE)))
                .collect(),
        }
    }

    fn mac(secret: &[u8; 32], fields: &SealedFields<'_>) -> hmac::Hmac<sha2::Sha256> {
        use hmac::KeyInit as _;
        let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // Every field length-prefixed, every optional one tagged: no two jobs feed the same bytes.
        let mut input = MacInput(mac);
        input.field(SEAL_DOMAIN);
        input.field(fields.id.as_bytes());
        input.field(fields.site.as_bytes());
        input.optional(fields.device.map(str::as_bytes));
        input.optional(fields.token.map(str::as_bytes));
        input.field(fields.behaviour.as_bytes());
        input.field(&fields.created_ms.to_be_bytes());
        input.field(&fields.finished_ms.to_be_bytes());
        input.field(&fields.appended.to_be_bytes());
        input.field(&(fields.leaves.len() as u64).to_be_bytes());
        for leaf in fields.leaves {
            input.optional(leaf.map(i64::to_be_bytes).as_ref().map(|bytes| &bytes[..]));
        }
        input.field(fields.errors.as_bytes());
        input.0
    }

    /// The seal of a job, with the primary key.
    fn seal(&self, fields: &SealedFields<'_>) -> Vec<u8> {
        use hmac::Mac as _;
        let (id, secret) = &self.keys[0];
        let mut seal = Vec::with_capacity(36);
        seal.extend_from_slice(&id.to_be_bytes());
        seal.extend_from_slice(&Self::mac(secret, fields).finalize().into_bytes());
        seal
    }

    /// Checks a job's seal (the MAC compared in constant time).
    fn check(&self, seal: Option<&[u8]>, fields: &SealedFields<'_>) -> Result<(), SealError> {
        use hmac::Mac as _;
        let seal = seal.ok_or(SealError::Missing)?;
        let (id, tag) = seal.split_at_checked(4).ok_or(SealError::Mismatch)?;
        let id = ledger::note::KeyId::from_u32(u32::from_be_bytes(
            id.try_into().map_err(|_| SealError::Mismatch)?,
        ));
        let (_, secret) = self
            .keys
            .iter()
            .find(|(key, _)| *key == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_string()))?;
        Self::mac(secret, fields)
            .verify_slice(tag)
            .map_err(|_| SealError::Mismatch)
    }
}

/// A MAC's input, written field by field.
struct MacInput(hmac::Hmac<sha2::Sha256>);

impl MacInput {
    /// A field: its length (8 bytes, big-endian), then its bytes.
    fn field(&mut self, bytes: &[u8]) {
        use hmac::Mac as _;
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    /// An optional field: `0`, or `1` and the field.
    fn optional(&mut self, bytes: Option<&[u8]>) {
        use hmac::Mac as _;
        match bytes {
            Some(bytes) => {
                self.0.update(&[1]);
                self.field(bytes);
            }
            None => self.0.update(&[0]),
        }
    }
}

/// `value` as JSON with every object's members sorted by name, without spaces: the same text for
/// the errors ingest wrote and for what PostgreSQL's `jsonb` gives back (which orders members its
/// own way and adds spaces).
fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(members) => {
                let mut names: Vec<&String> = members.keys().collect();
                names.sort();
                Value::Object(
                    names
                        .into_iter()
                        .map(|name| (name.clone(), sorted(&members[name])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

type JobReply = tokio::sync::oneshot::Sender<Result<(), std::sync::Arc<DatabaseError>>>;

/// Records capture jobs: the jobs of captures finishing together are inserted by one statement in
/// one transaction (one round trip and one durable commit instead of one each). A job is recorded,
/// durably, when [`record`](Self::record) returns. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobWriter {
    queue: tokio::sync::mpsc::Sender<(JobRow, JobReply)>,
    sealer: std::sync::Arc<JobSealer>,
}

impl JobWriter {
    /// Starts the writing task on the current runtime; it ends when the last handle is dropped,
    /// after writing what was queued.
    pub fn start(pool: deadpool_postgres::Pool, sealer: std::sync::Arc<JobSealer>) -> Self {
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
        Self { queue, sealer }
    }

    /// Records a finished capture, durably, together with the jobs of other captures finishing
    /// at the same time.
    pub async fn record(&self, job: &NewJob<'_>) -> Result<(), DatabaseError> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let stopped = || DatabaseError::Stopped("capture job writer");
        self.queue
            .send((JobRow::of(job, &self.sealer), reply))
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
    let seals: Vec<&[u8]> = rows.iter().map(|r| r.seal.as_slice()).collect();
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
                &seals,
            ],
        )
        .await?;
    Ok(())
}

/// A job of `site` read back: with its receipts from the ledger when its seal verifies
/// ([`JobSealer`]), else why it is not served.
pub async fn find(
    store: &ledger_store::Log,
    client: &deadpool_postgres::Client,
    sealer: &JobSealer,
    site: &ledger::SiteId,
    id: &CaptureId,
) -> Result<Option<Result<CaptureJob, SealError>>, DatabaseError> {
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
    if let Err(refused) = check_seal(sealer, &row)? {
        return Ok(Some(Err(refused)));
    }
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
    Ok(Some(Ok(job)))
}

/// The most recent jobs of `site`, newest first, without receipts: each job, or its id and why
/// it is not served (its seal does not verify).
pub async fn recent(
    client: &deadpool_postgres::Client,
    sealer: &JobSealer,
    site: &ledger::SiteId,
    limit: i64,
) -> Result<Vec<Result<CaptureJob, (String, SealError)>>, DatabaseError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM capture_jobs WHERE site_id = $1 ORDER BY created_at DESC LIMIT $2"
        ))
        .await?;
    client
        .query(&statement, &[&site.as_str(), &limit])
        .await?
        .iter()
        .map(|row| match check_seal(sealer, row)? {
            Ok(()) => job_from_row(row).map(Ok),
            Err(refused) => Ok(Err((row.get(0), refused))),
        })
        .collect()
}

/// Checks the seal of a row of [`JOB_COLUMNS`]: `Err` only when the row cannot be read at all.
fn check_seal(
    sealer: &JobSealer,
    row: &tokio_postgres::Row,
) -> Result<Result<(), SealError>, DatabaseError> {
    let errors: String = row.get(6);
    let errors: Value = serde_json::from_str(&errors).map_err(|error| DatabaseError::Corrupt {
        what: "capture job errors",
        reason: error.to_string(),
    })?;
    let errors = canonical_json(&errors);
    let leaves: Vec<Option<i64>> = row.get(5);
    let seal: Option<Vec<u8>> = row.get(12);
    let behaviour: String = row.get(1);
    let id: String = row.get(0);
    let site: String = row.get(7);
    let device: Option<String> = row.get(8);
    let token: Option<String> = row.get(9);
    Ok(sealer.check(
        seal.as_deref(),
        &SealedFields {
            id: &id,
            site: &site,
            device: device.as_deref(),
            token: token.as_deref(),
            behaviour: &behaviour,
            created_ms: row.get(10),
            finished_ms: row.get(11),
            appended: row.get(4),
            leaves: &leaves,
            errors: &errors,
        },
    ))
}

/// The capture jobs not served because their seals do not verify: each is logged once, counted
/// in the metrics at every refusal, and named by readiness (at most [`RefusedJobs::KEPT`]).
#[derive(Debug, Default)]
pub struct RefusedJobs {
    ids: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl RefusedJobs {
    /// How many refused jobs readiness names.
    pub const KEPT: usize = 100;

    /// A job was not served for `reason`; logs it the first time.
    pub fn record(&self, id: &str, reason: &SealError) {
        let mut ids = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ids.len() < Self::KEPT && ids.insert(id.to_owned()) {
            tracing::warn!(
                capture_id = id,
                reason = %reason,
                "a capture job's record does not verify: it is not served"
            );
        }
    }

    /// The refused jobs' ids.
    pub fn ids(&self) -> Vec<String> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
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
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::sync::Arc;

    use ledger::note::{KeyName, NoteSignerKey};

    use super::*;

    fn key(seed: u8) -> Arc<NoteSignerKey> {
        Arc::new(NoteSignerKey::from_seed(
            KeyName::parse("example.com/log").unwrap(),
            &[seed; 32],
        ))
    }

    fn fields<'a>(leaves: &'a [Option<i64>], errors: &'a str) -> SealedFields<'a> {
        SealedFields {
            id: "0123456789abcdef0123456789abcdef",
            site: "site-a",
            device: Some("reader-1"),
            token: None,
            behaviour: "proceed",
            created_ms: 1_700_000_000_123,
            finished_ms: 1_700_000_000_456,
            appended: 2,
            leaves,
            errors,
        }
    }

    #[test]
    fn a_seal_verifies_until_any_field_changes() {
        let sealer = JobSealer::new(&[key(1)]);
        let leaves = [Some(3), None, Some(4)];
        let errors = r#"[{"detail":"x","status":400}]"#;
        let job = fields(&leaves, errors);
        let seal = sealer.seal(&job);
        assert_eq!(seal.len(), 36);
        assert_eq!(sealer.check(Some(&seal), &job), Ok(()));
        let moved = [Some(3), None, Some(5)];
        let dropped = [Some(3), Some(4)];
        let edits: Vec<SealedFields<'_>> = vec![
            SealedFields {
                id: "ffffffffffffffffffffffffffffffff",
                ..fields(&leaves, errors)
            },
            SealedFields {
                site: "site-b",
                ..fields(&leaves, errors)
            },
            SealedFields {
                device: None,
                token: Some("reader-1"),
                ..fields(&leaves, errors)
            },
            SealedFields {
                device: Some(""),
                ..fields(&leaves, errors)
            },
            SealedFields {
                behaviour: "rollback",
                ..fields(&leaves, errors)
            },
            SealedFields {
                created_ms: 1_700_000_000_124,
                ..fields(&leaves, errors)
            },
            SealedFields {
                finished_ms: 1,
                ..fields(&leaves, errors)
            },
            SealedFields {
                appended: 3,
                ..fields(&leaves, errors)
            },
            fields(&moved, errors),
            fields(&dropped, errors),
            fields(&leaves, "[]"),
        ];
        for edited in &edits {
            assert_eq!(sealer.check(Some(&seal), edited), Err(SealError::Mismatch));
        }
        let mut flipped = seal.clone();
        flipped[35] ^= 1;
        assert_eq!(sealer.check(Some(&flipped), &job), Err(SealError::Mismatch));
        assert_eq!(sealer.check(None, &job), Err(SealError::Missing));
        assert_eq!(
            sealer.check(Some(&seal[..3]), &job),
            Err(SealError::Mismatch)
        );
    }

    #[test]
    fn seals_of_any_configured_key_verify_and_of_no_other() {
        let (old, new) = (key(1), key(2));
        let job = fields(&[Some(1)], "[]");
        let by_old = JobSealer::new(std::slice::from_ref(&old)).seal(&job);
        // After a rotation the old key is additional: its seals still verify.
        let rotated = JobSealer::new(&[new.clone(), old.clone()]);
        assert_eq!(rotated.check(Some(&by_old), &job), Ok(()));
        assert_eq!(rotated.seal(&job)[..4], new.id().to_be_bytes());
        // Once it is retired, they name the key they need.
        let retired = JobSealer::new(&[new]);
        assert_eq!(
            retired.check(Some(&by_old), &job),
            Err(SealError::UnknownKey(old.id().to_string()))
        );
        // A seal with the right key id and another key's MAC (forged) does not verify.
        let mut forged = JobSealer::new(&[key(3)]).seal(&job);
        forged[..4].copy_from_slice(&old.id().to_be_bytes());
        assert_eq!(
            JobSealer::new(&[old]).check(Some(&forged), &job),
            Err(SealError::Mismatch)
        );
    }

    #[test]
    fn the_errors_are_sealed_as_written_whatever_jsonb_gives_back() {
        let written = serde_json::json!([{"type": "epcisException:ValidationException", "title": "t", "status": 400, "violations": [{"pointer": "/x", "eventIndex": 1}]}]);
        // jsonb orders members by length, then bytes, and writes spaces.
        let read_back = r#"[{"type": "epcisException:ValidationException", "title": "t", "status": 400, "violations": [{"pointer": "/x", "eventIndex": 1}]}]"#;
        let reordered = r#"[{"title": "t", "type": "epcisException:ValidationException", "status": 400, "violations": [{"eventIndex": 1, "pointer": "/x"}]}]"#;
        let canonical = canonical_json(&written);
        for text in [read_back, reordered] {
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(canonical_json(&parsed), canonical);
        }
        assert_eq!(
            canonical,
            r#"[{"status":400,"title":"t","type":"epcisException:ValidationException","violations":[{"eventIndex":1,"pointer":"/x"}]}]"#
        );
    }

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
