//! Hashing every event of an EPCIS document.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::context::HashContext;
use super::error::HashError;
use super::id::EventHash;
use super::prehash::{PrehashBuffers, prehash};
use crate::document::Document;

/// The CBV 2.0 event hash ID of an event: the SHA-256 of its [`prehash`] string.
pub fn event_hash(
    event: &serde_json::Map<String, Value>,
    context: &HashContext,
) -> Result<EventHash, HashError> {
    Ok(hash_prehash(&prehash(event, context)?))
}

/// The event hash of an already computed pre-hash string.
pub fn hash_prehash(prehash: &str) -> EventHash {
    EventHash::from_bytes(Sha256::digest(prehash.as_bytes()).into())
}

/// The pre-hash string and event hash of every event of an `EPCISDocument`
/// (`epcisBody.eventList`) or `EPCISQueryDocument`
/// (`epcisBody.queryResults.resultsBody.eventList`), in document order.
///
/// The document's `@context` and `ignoreFields` apply to every event; an event's own
/// `@context` applies on top for that event.
pub fn document_hashes(document: &Value) -> Result<Vec<(String, EventHash)>, HashError> {
    let context = HashContext::from_document(document)?;
    let events = event_list(document)?;
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let event = event
                .as_object()
                .ok_or(HashError::EventNotAnObject { index })?;
            let text = prehash(event, &context).map_err(|source| HashError::Event {
                index,
                source: Box::new(source),
            })?;
            let hash = hash_prehash(&text);
            Ok((text, hash))
        })
        .collect()
}

/// The event hash of every event of a parsed [`Document`], in document order: what ingest and
/// the ledger's audit compute. Same rules as [`document_hashes`], without building pre-hash
/// strings that outlive each event.
pub fn parsed_document_hashes(document: &Document) -> Result<Vec<EventHash>, HashError> {
    let context = HashContext::from_document_root(document.root())?;
    let mut buffers = PrehashBuffers::default();
    document
        .events()
        .iter()
        .enumerate()
        .map(|(index, event)| {
            buffers
                .prehash(event.members(), &context)
                .map(hash_prehash)
                .map_err(|source| HashError::Event {
                    index,
                    source: Box::new(source),
                })
        })
        .collect()
}

/// The event list of a capture or query document (or the single `epcisBody.event`).
fn event_list(document: &Value) -> Result<&[Value], HashError> {
    let body = document
        .get("epcisBody")
        .ok_or(HashError::MissingEventList)?;
    let list = body.get("eventList").or_else(|| {
        body.get("queryResults")?
            .get("resultsBody")?
            .get("eventList")
    });
    match list {
        Some(Value::Array(events)) => Ok(events),
        Some(_) => Err(HashError::MissingEventList),
        None => match body.get("event") {
            Some(event) => Ok(std::slice::from_ref(event)),
            None => Err(HashError::MissingEventList),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn query_documents_are_walked_like_capture_documents() {
        let event = json!({"type": "ObjectEvent", "action": "OBSERVE"});
        let capture = json!({"epcisBody": {"eventList": [event.clone()]}});
        let query = json!({"epcisBody": {"queryResults": {"resultsBody": {"eventList": [event]}}}});
        let from_capture = document_hashes(&capture).unwrap();
        assert_eq!(from_capture, document_hashes(&query).unwrap());
        assert_eq!(from_capture[0].0, "eventType=ObjectEventaction=OBSERVE");
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_prehash() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            hash_prehash("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn documents_without_an_event_list_are_rejected() {
        assert_eq!(
            document_hashes(&json!({"epcisBody": {}})),
            Err(HashError::MissingEventList)
        );
        assert_eq!(
            document_hashes(&json!({"epcisBody": {"eventList": {}}})),
            Err(HashError::MissingEventList)
        );
        assert_eq!(
            document_hashes(&json!({"epcisBody": {"eventList": [1]}})),
            Err(HashError::EventNotAnObject { index: 0 })
        );
        assert!(matches!(
            document_hashes(&json!({"epcisBody": {"eventList": [{"type": "ObjectEvent"}, {}]}})),
            Err(HashError::Event { index: 1, .. })
        ));
    }
}
