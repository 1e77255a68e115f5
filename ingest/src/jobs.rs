//! Capture jobs: the record of each accepted capture (`capture_jobs`), and their JSON shape, the
//! EPCIS 2.0 capture job with one receipt per event.

use std::collections::HashMap;
use std::fmt;

use deadpool_postgres::GenericClient as _;
use epcis::EventHash;
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

const INSERT_JOB: &str = "
    INSERT INTO capture_jobs (capture_id, site_id, device_id, token_id, error_behaviour, created_at,
                              finished_at, appended, leaf_indexes, errors)
    VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0), to_timestamp($7::bigint / 1000.0),
            $8, $9, $10::text::jsonb)";

const JOB_COLUMNS: &str = "
    capture_id, error_behaviour,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    appended, leaf_indexes, errors::text";

const SELECT_EVENTS: &str =
    "SELECT leaf_index, event_hash, event FROM events WHERE leaf_index = ANY($1)";

/// Records a finished capture.
pub async fn insert(
    client: &deadpool_postgres::Client,
    job: &NewJob<'_>,
) -> Result<(), DatabaseError> {
    let (device, token) = match job.caller {
        Caller::Device { device, .. } => (Some(device.as_str()), None),
        Caller::Site { token, .. } => (None, Some(token.as_str())),
    };
    let leaves: Vec<Option<i64>> = job
        .leaf_indexes
        .iter()
        .map(|leaf| leaf.map(|leaf| i64::try_from(leaf).unwrap_or(i64::MAX)))
        .collect();
    let errors = serde_json::to_string(job.errors).unwrap_or_else(|_| "[]".to_owned());
    let created = i64::try_from(job.created_at_ms).unwrap_or(i64::MAX);
    let finished = i64::try_from(job.finished_at_ms).unwrap_or(i64::MAX);
    let appended = i32::try_from(job.appended).unwrap_or(i32::MAX);
    let statement = client.prepare_cached(INSERT_JOB).await?;
    client
        .execute(
            &statement,
            &[
                &job.id.as_str(),
                &job.caller.site().as_str(),
                &device,
                &token,
                &job.behaviour.as_str(),
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
    let wanted: Vec<i64> = leaves.iter().flatten().copied().collect();
    let statement = client.prepare_cached(SELECT_EVENTS).await?;
    let mut events: HashMap<i64, (EventHash, Option<String>)> = HashMap::new();
    for row in client.query(&statement, &[&wanted]).await? {
        let leaf: i64 = row.get(0);
        let hash: &[u8] = row.get(1);
        let event: &str = row.get(2);
        let hash = <[u8; 32]>::try_from(hash).map_err(|_| DatabaseError::Corrupt {
            what: "event hash",
            reason: format!("entry {leaf}: not 32 bytes"),
        })?;
        let event_id = serde_json::from_str::<serde_json::Map<String, Value>>(event)
            .ok()
            .and_then(|event| {
                event
                    .get("eventID")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        events.insert(leaf, (EventHash::from_bytes(hash), event_id));
    }
    let mut receipts = Vec::with_capacity(wanted.len());
    for (event_index, leaf) in leaves.iter().enumerate() {
        let Some(leaf) = leaf else { continue };
        let (hash, event_id) = events
            .get(leaf)
            .cloned()
            .ok_or_else(|| DatabaseError::Corrupt {
                what: "capture job",
                reason: format!("entry {leaf} of job {id} is not in the log"),
            })?;
        receipts.push(Receipt {
            event_index,
            event_id,
            event_hash: hash.to_ni_uri(),
            leaf_index: u64::try_from(*leaf).unwrap_or(0),
            duplicate: None,
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
