//! Any bytes as the headers a capture request carries to ingest: the device's batch statement
//! (`TagTrail-Batch-Statement`, base64 of the encoded statement), its signature
//! (`TagTrail-Batch-Signature: ed25519:<base64>`), a site token (`Authorization: Bearer tt_...`)
//! and `GS1-Capture-Error-Behaviour`. The input is split at `\n` into up to four header values,
//! each present only when non-empty. Nothing may panic; refusals must name a header.
#![no_main]

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use epcis::rest::ErrorBehaviour;
use ingest::auth::{Credentials, credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |byte| *byte == b'\n');
    let names = [
        HeaderName::from_static("tagtrail-batch-statement"),
        HeaderName::from_static("tagtrail-batch-signature"),
        AUTHORIZATION,
    ];
    let mut headers = HeaderMap::new();
    for name in names {
        let Some(value) = parts.next() else { break };
        if value.is_empty() {
            continue;
        }
        // Bytes a client cannot send as a header value never reach the service.
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return;
        };
        headers.insert(name, value);
    }
    match credentials(&headers) {
        Ok(Credentials::Device { statement, .. }) => {
            // A statement that decodes re-encodes to a statement that decodes the same.
            let again = ledger::batch::BatchStatement::decode(&statement.encode())
                .expect("an encoded statement decodes");
            assert_eq!(again, statement);
        }
        Ok(Credentials::Token(token)) => {
            // A token that parses has the documented shape: its id is 16 lower-case hex digits,
            // and the id alone parses back to the same id.
            let id = token.id().as_str();
            assert!(
                id.len() == 16
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
            assert_eq!(registry::TokenId::parse(id).as_ref(), Ok(token.id()));
        }
        Err(failure) => {
            assert!(
                !failure.pointer.is_empty() && !failure.message.is_empty(),
                "{failure:?}"
            );
        }
    }
    if let Some(behaviour) = parts
        .next()
        .and_then(|value| std::str::from_utf8(value).ok())
    {
        let _ = ErrorBehaviour::parse(behaviour);
    }
});
