//! Pure parsers for the JSON that fixed readers and sensors publish over MQTT. The MQTT transport
//! hands each message's payload to one of these and forwards what comes out.

pub mod impinj;
pub mod sensor;
pub mod zebra;

use serde_json::{Map, Value};

use crate::read::ReadError;

/// A message an adapter could not accept (the whole message is refused; nothing is half-read).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdapterError {
    /// Not JSON at all.
    #[error("payload: not JSON: {0}")]
    Json(String),
    /// A member is missing or has the wrong JSON type.
    #[error("{pointer}: {rule}")]
    Field {
        /// RFC 6901 pointer to the member.
        pointer: String,
        /// The rule broken.
        rule: &'static str,
    },
    /// A member has the right type but a bad value.
    #[error("{pointer}: {source}")]
    Value {
        /// RFC 6901 pointer to the member.
        pointer: String,
        /// What is wrong with it.
        source: ReadError,
    },
}

/// A JSON object with the RFC 6901 pointer to it.
type Located = (String, Map<String, Value>);

/// The payload as a list of JSON objects (a single object or an array of them).
fn objects(payload: &[u8]) -> Result<Vec<Located>, AdapterError> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|error| AdapterError::Json(error.to_string()))?;
    match value {
        Value::Object(object) => Ok(vec![(String::new(), object)]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::Object(object) => Ok((format!("/{index}"), object)),
                _ => Err(AdapterError::Field {
                    pointer: format!("/{index}"),
                    rule: "must be an object",
                }),
            })
            .collect(),
        _ => Err(AdapterError::Field {
            pointer: String::new(),
            rule: "must be an object or an array of objects",
        }),
    }
}

fn string<'a>(
    object: &'a Map<String, Value>,
    base: &str,
    key: &str,
) -> Result<Option<&'a str>, AdapterError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(AdapterError::Field {
            pointer: format!("{base}/{key}"),
            rule: "must be a string",
        }),
    }
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    base: &str,
    key: &str,
) -> Result<&'a str, AdapterError> {
    string(object, base, key)?.ok_or_else(|| AdapterError::Field {
        pointer: format!("{base}/{key}"),
        rule: "is required",
    })
}

fn integer(
    object: &Map<String, Value>,
    base: &str,
    key: &str,
) -> Result<Option<i64>, AdapterError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_i64().map(Some).ok_or_else(|| AdapterError::Field {
            pointer: format!("{base}/{key}"),
            rule: "must be an integer",
        }),
    }
}

fn value_error(base: &str, key: &str) -> impl FnOnce(ReadError) -> AdapterError {
    let pointer = format!("{base}/{key}");
    move |source| AdapterError::Value { pointer, source }
}

fn antenna(object: &Map<String, Value>, base: &str, key: &str) -> Result<u16, AdapterError> {
    let port = integer(object, base, key)?.ok_or_else(|| AdapterError::Field {
        pointer: format!("{base}/{key}"),
        rule: "is required",
    })?;
    u16::try_from(port)
        .ok()
        .filter(|port| *port >= 1)
        .ok_or_else(|| AdapterError::Field {
            pointer: format!("{base}/{key}"),
            rule: "must be an antenna port from 1 to 65535",
        })
}
