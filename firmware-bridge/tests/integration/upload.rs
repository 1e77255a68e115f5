//! The uploader against a stand-in for ingest's capture API that checks what the real one checks
//! about a device batch (the statement's root over the CBV 2.0 hashes of the document's events, and
//! the Ed25519 signature) and answers with receipts. The real ingest needs PostgreSQL and lives in
//! another crate; the end-to-end tests run the bridge against it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use crate::common;

use std::time::Duration;

use common::{Behaviour, Ingest, SEED, setup, start_ingest};
use firmware_bridge::uploader::{UploadError, UploadOutcome, Uploader};
use ledger::batch::DeviceSigningKey;
use ledger::{DeviceId, UnixMillis};

fn uploader(ingest: &Ingest, _key: &DeviceSigningKey, batch_size: usize) -> Uploader {
    let key = DeviceSigningKey::from_seed(&SEED);
    Uploader::new(
        ingest.url.clone(),
        DeviceId::parse("urn:tagtrail:device:test").unwrap(),
        key,
        batch_size,
        Duration::from_secs(5),
    )
}

#[test]
fn events_leave_the_spool_only_with_receipts_and_in_order() {
    let (mut spool, key) = setup("order", 25);
    let ingest = start_ingest(&key, vec![]);
    let uploader = uploader(&ingest, &key, 10);
    let mut sizes = Vec::new();
    loop {
        match uploader
            .upload_once(&mut spool, UnixMillis::from_millis(1_000))
            .unwrap()
        {
            UploadOutcome::Uploaded { events } => sizes.push(events),
            UploadOutcome::Idle => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(spool.depth(), 0);
    assert_eq!(ingest.ledger.lock().unwrap().len(), 25);
}

#[test]
fn an_unavailable_ingest_keeps_the_events_for_a_retry() {
    let (mut spool, key) = setup("retry", 3);
    let ingest = start_ingest(&key, vec![Behaviour::Unavailable]);
    let uploader = uploader(&ingest, &key, 10);
    let error = uploader
        .upload_once(&mut spool, UnixMillis::from_millis(1_000))
        .unwrap_err();
    assert!(
        matches!(error, UploadError::Unavailable { status: 503, .. }) && error.is_retryable(),
        "{error}"
    );
    assert_eq!(spool.depth(), 3);
    assert_eq!(
        uploader
            .upload_once(&mut spool, UnixMillis::from_millis(2_000))
            .unwrap(),
        UploadOutcome::Uploaded { events: 3 }
    );
    assert_eq!(spool.depth(), 0);
}

#[test]
fn a_lost_answer_and_a_retry_store_each_event_exactly_once() {
    let (mut spool, key) = setup("lost", 4);
    let ingest = start_ingest(&key, vec![Behaviour::AcceptThenHangUp]);
    let uploader = uploader(&ingest, &key, 10);
    let error = uploader
        .upload_once(&mut spool, UnixMillis::from_millis(1_000))
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(spool.depth(), 4, "events left the spool without receipts");
    assert_eq!(
        uploader
            .upload_once(&mut spool, UnixMillis::from_millis(2_000))
            .unwrap(),
        UploadOutcome::Uploaded { events: 4 }
    );
    assert_eq!(ingest.ledger.lock().unwrap().len(), 4);
    assert!(ingest.script.lock().unwrap().is_empty());
}

#[test]
fn events_ingest_refuses_for_good_are_quarantined_not_lost() {
    let (mut spool, key) = setup("refused", 2);
    let ingest = start_ingest(&key, vec![Behaviour::BadRequest]);
    let uploader = uploader(&ingest, &key, 10);
    assert_eq!(
        uploader
            .upload_once(&mut spool, UnixMillis::from_millis(1_000))
            .unwrap(),
        UploadOutcome::Quarantined {
            events: 2,
            status: 400
        }
    );
    assert_eq!(spool.depth(), 0);
    assert_eq!(spool.quarantined().unwrap(), 2);
}
