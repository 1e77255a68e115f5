//! Who is capturing: a registered device with its signed batch statement, or an EPCIS client with
//! its site's API token.
//!
//! A device sends, with the document, the batch statement it signed over the document's events
//! (the ledger's device batch statement, version 1) and its signature, in the headers
//! `ledger::headers` defines (`TagTrail-Batch-Statement`, `TagTrail-Batch-Signature`).
//!
//! The statement names the device; the signature must verify under the device's current key.
//! A client without a device key sends `Authorization: Bearer tt_<token id>_<secret>`.

use actix_web::http::header::HeaderMap;
use ledger::batch::{BatchStatement, DeviceSignature};
pub use ledger::headers::{
    BATCH_SIGNATURE_HEADER, BATCH_STATEMENT_HEADER, signature_header_value, statement_header_value,
};
use ledger::headers::{HeaderError, parse_signature_header, parse_statement_header};
use ledger::{DeviceId, SiteId};
use registry::{DeviceStatus, RegistryGeneration, SiteToken, TokenId};

use crate::error::{AuthFailure, DatabaseError};

/// What a request claims to be, before the database is asked.
#[derive(Debug)]
pub enum Credentials {
    /// A device's signed batch statement.
    Device {
        /// The statement (it names the device).
        statement: BatchStatement,
        /// The device's signature over it.
        signature: DeviceSignature,
    },
    /// A site API token.
    Token(SiteToken),
}

/// Who is capturing, once authenticated.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A registered, active device whose signature over the statement verified.
    Device {
        /// The device.
        device: DeviceId,
        /// Its site.
        site: SiteId,
        /// Whether it is restricted to some of its site's locations.
        restricted: bool,
        /// The statement it signed.
        statement: BatchStatement,
        /// Its signature.
        signature: DeviceSignature,
    },
    /// A client holding a valid token of `site`.
    Site {
        /// The site.
        site: SiteId,
        /// The token used.
        token: TokenId,
    },
}

impl Caller {
    /// The site the caller speaks for.
    pub fn site(&self) -> &SiteId {
        match self {
            Self::Device { site, .. } | Self::Site { site, .. } => site,
        }
    }
}

/// Reads the credentials from the headers (no database access): a device statement and
/// signature, or a bearer token; both, neither, or malformed ones are refused.
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, AuthFailure> {
    let statement = headers.get(BATCH_STATEMENT_HEADER);
    let signature = headers.get(BATCH_SIGNATURE_HEADER);
    let authorization = headers.get(actix_web::http::header::AUTHORIZATION);
    match (statement, signature, authorization) {
        (Some(_), Some(_), Some(_)) => Err(AuthFailure::new(
            "Authorization",
            "credentials",
            "send either a device's batch statement and signature or a site API token, not both",
        )),
        (Some(statement), Some(signature), None) => {
            let statement = parse_statement_header(statement.to_str().unwrap_or_default())
                .map_err(header_failure)?;
            let signature = parse_signature_header(signature.to_str().unwrap_or_default())
                .map_err(header_failure)?;
            Ok(Credentials::Device {
                statement,
                signature,
            })
        }
        (Some(_), None, _) | (None, Some(_), _) => Err(AuthFailure::new(
            if statement.is_some() {
                BATCH_SIGNATURE_HEADER
            } else {
                BATCH_STATEMENT_HEADER
            },
            "credentials",
            format!("a device sends both {BATCH_STATEMENT_HEADER} and {BATCH_SIGNATURE_HEADER}"),
        )),
        (None, None, Some(authorization)) => {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    AuthFailure::new(
                        "Authorization",
                        "credentials",
                        "use `Authorization: Bearer <site API token>`",
                    )
                })?;
            SiteToken::parse(token.trim())
                .map(Credentials::Token)
                .map_err(|error| AuthFailure::new("Authorization", "token", error.to_string()))
        }
        (None, None, None) => Err(AuthFailure::new(
            "Authorization",
            "credentials",
            format!(
                "a capture needs a device's {BATCH_STATEMENT_HEADER} and {BATCH_SIGNATURE_HEADER} headers, or a site API token as `Authorization: Bearer <token>`"
            ),
        )),
    }
}

/// Reads a bearer site token (for reading capture jobs).
pub fn bearer_token(headers: &HeaderMap) -> Result<SiteToken, AuthFailure> {
    match credentials(headers)? {
        Credentials::Token(token) => Ok(token),
        Credentials::Device { .. } => Err(AuthFailure::new(
            "Authorization",
            "credentials",
            "capture jobs are read with a site API token (`Authorization: Bearer <token>`)",
        )),
    }
}

/// A malformed device header: rule `statement` or `signature`, with the header's own reason.
fn header_failure(error: HeaderError) -> AuthFailure {
    let rule = if error.header() == BATCH_STATEMENT_HEADER {
        "statement"
    } else {
        "signature"
    };
    AuthFailure::new(error.header(), rule, error.to_string())
}

/// Why authentication did not succeed: the credentials were refused, or the database could not be
/// asked.
#[derive(Debug)]
pub enum AuthError {
    /// Refused: `401`.
    Refused(AuthFailure),
    /// The registry could not be read.
    Database(DatabaseError),
}

impl From<DatabaseError> for AuthError {
    fn from(error: DatabaseError) -> Self {
        Self::Database(error)
    }
}

impl From<registry::ReadError> for AuthError {
    fn from(error: registry::ReadError) -> Self {
        Self::Database(error.into())
    }
}

/// Checks the credentials against the registry.
pub async fn authenticate(
    client: &deadpool_postgres::Client,
    credentials: Credentials,
) -> Result<(Caller, RegistryGeneration), AuthError> {
    match credentials {
        Credentials::Token(token) => {
            let (site, generation) = checked_token(client, &token).await?;
            let caller = Caller::Site {
                site,
                token: token.id().clone(),
            };
            Ok((caller, generation))
        }
        Credentials::Device {
            statement,
            signature,
        } => {
            let device = statement.device().clone();
            let refused = |rule, message: String| {
                AuthError::Refused(AuthFailure::new(BATCH_STATEMENT_HEADER, rule, message))
            };
            let record = registry::device_for_capture(client, &device)
                .await?
                .ok_or_else(|| {
                    refused(
                        "deviceUnknown",
                        format!("device {} is not registered", device.as_str()),
                    )
                })?;
            if record.status == DeviceStatus::Disabled {
                return Err(refused(
                    "deviceDisabled",
                    format!("device {} is disabled", device.as_str()),
                ));
            }
            let key = record.key.ok_or_else(|| {
                refused(
                    "deviceUnknown",
                    format!("device {} has no usable key", device.as_str()),
                )
            })?;
            statement.verify(&key, &signature).map_err(|_| {
                AuthError::Refused(AuthFailure::new(
                    BATCH_SIGNATURE_HEADER,
                    "signature",
                    format!(
                        "the signature does not verify under the current key of device {}",
                        device.as_str()
                    ),
                ))
            })?;
            let caller = Caller::Device {
                device,
                site: record.site,
                restricted: record.restricted,
                statement,
                signature,
            };
            Ok((caller, record.generation))
        }
    }
}

/// The site of a valid, unrevoked token (its secret compared in constant time).
pub async fn site_of_token(
    client: &deadpool_postgres::Client,
    token: &SiteToken,
) -> Result<SiteId, AuthError> {
    Ok(checked_token(client, token).await?.0)
}

/// The site of a valid, unrevoked token and the registry generation it was read at.
async fn checked_token(
    client: &deadpool_postgres::Client,
    token: &SiteToken,
) -> Result<(SiteId, RegistryGeneration), AuthError> {
    let refused = || {
        AuthError::Refused(AuthFailure::new(
            "Authorization",
            "token",
            "unknown or revoked site API token",
        ))
    };
    let record = registry::token_for_capture(client, token.id())
        .await?
        .ok_or_else(refused)?;
    if !record.accepts(token) {
        return Err(refused());
    }
    Ok((record.site, record.generation))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};
    use ledger::UnixMillis;
    use ledger::batch::{DeviceSigningKey, EventBatch};

    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn device_headers_round_trip() {
        let key = DeviceSigningKey::from_seed(&[7; 32]);
        let batch = EventBatch::new(&[epcis::EventHash::from_bytes([1; 32])]).unwrap();
        let statement = batch.statement(
            DeviceId::parse("d1").unwrap(),
            UnixMillis::from_millis(5),
            1,
        );
        let signature = statement.sign(&key);
        let map = headers(&[
            (
                "tagtrail-batch-statement",
                statement_header_value(&statement),
            ),
            (
                "tagtrail-batch-signature",
                signature_header_value(&signature),
            ),
        ]);
        match credentials(&map).unwrap() {
            Credentials::Device {
                statement: s,
                signature: g,
            } => {
                assert_eq!(s, statement);
                assert_eq!(g, signature);
            }
            Credentials::Token(_) => panic!("expected device credentials"),
        }
    }

    #[test]
    fn missing_partial_or_doubled_credentials_are_refused() {
        assert_eq!(
            credentials(&HeaderMap::new()).unwrap_err().rule,
            "credentials"
        );
        let only_statement = headers(&[("tagtrail-batch-statement", "AAAA".to_owned())]);
        assert_eq!(
            credentials(&only_statement).unwrap_err().rule,
            "credentials"
        );
        let bad_signature = headers(&[
            ("tagtrail-batch-statement", "AAAA".to_owned()),
            ("tagtrail-batch-signature", "ed25519:AAAA".to_owned()),
        ]);
        assert_eq!(credentials(&bad_signature).unwrap_err().rule, "statement");
        let basic = headers(&[("authorization", "Basic dTpw".to_owned())]);
        assert_eq!(credentials(&basic).unwrap_err().rule, "credentials");
    }
}
