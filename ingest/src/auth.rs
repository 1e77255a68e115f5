//! Who is capturing: a registered device with its signed batch statement, or an EPCIS client with
//! its site's API token.
//!
//! A device sends, with the document, the batch statement it signed over the document's events
//! (the ledger's device batch statement, version 1) and its signature:
//!
//! ```text
//! TagTrail-Batch-Statement: <standard padded base64 of the encoded statement>
//! TagTrail-Batch-Signature: ed25519:<standard padded base64 of the 64-byte signature>
//! ```
//!
//! The statement names the device; the signature must verify under the device's current key.
//! A client without a device key sends `Authorization: Bearer tt_<token id>_<secret>`.

use std::fmt;

use actix_web::http::header::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ledger::batch::{BatchStatement, DeviceSignature};
use ledger::{DeviceId, SiteId};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{AuthFailure, DatabaseError};
use crate::registry::{self, DeviceStatus, RegistryGeneration};

/// The header carrying the device's encoded batch statement (base64).
pub const BATCH_STATEMENT_HEADER: &str = "TagTrail-Batch-Statement";
/// The header carrying the device's signature over the statement (`ed25519:<base64>`).
pub const BATCH_SIGNATURE_HEADER: &str = "TagTrail-Batch-Signature";
/// The prefix of a site API token.
const TOKEN_PREFIX: &str = "tt_";

/// The public id of a site API token: 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// Parses 16 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        if text.len() == 16
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(TokenError::Malformed)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A site API token: `tt_<token id>_<secret: 64 lowercase hex digits>`. Secret: `Debug` shows only
/// the id.
pub struct SiteToken {
    id: TokenId,
    secret: SecretBox<[u8; 32]>,
}

/// Why text is not a site API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("a site API token is tt_<16 hex digits>_<64 hex digits>")]
    Malformed,
}

impl SiteToken {
    /// Parses a token.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let rest = text
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(TokenError::Malformed)?;
        let id = TokenId::parse(id)?;
        if secret.len() != 64 {
            return Err(TokenError::Malformed);
        }
        let mut bytes = Box::new([0u8; 32]);
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = secret
                .get(2 * i..2 * i + 2)
                .filter(|pair| {
                    pair.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                })
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or(TokenError::Malformed)?;
        }
        Ok(Self {
            id,
            secret: SecretBox::new(bytes),
        })
    }

    /// A new random token.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id)?;
        let mut secret = Box::new([0u8; 32]);
        getrandom::fill(secret.as_mut_slice())?;
        Ok(Self {
            id: TokenId(hex(&id)),
            secret: SecretBox::new(secret),
        })
    }

    /// The public id.
    pub fn id(&self) -> &TokenId {
        &self.id
    }

    /// The token as the client sends it (secret: show it once, to the administrator).
    pub fn expose(&self) -> String {
        format!(
            "{TOKEN_PREFIX}{}_{}",
            self.id,
            hex(self.secret.expose_secret())
        )
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.expose_secret()
    }
}

impl fmt::Debug for SiteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

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
            let statement = statement
                .to_str()
                .ok()
                .and_then(|text| STANDARD.decode(text.trim()).ok())
                .ok_or_else(|| {
                    AuthFailure::new(
                        BATCH_STATEMENT_HEADER,
                        "statement",
                        "the batch statement must be standard padded base64",
                    )
                })?;
            let statement = BatchStatement::decode(&statement).map_err(|error| {
                AuthFailure::new(
                    BATCH_STATEMENT_HEADER,
                    "statement",
                    format!("not a device batch statement: {error}"),
                )
            })?;
            let signature = parse_signature(signature.to_str().unwrap_or_default())?;
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

fn parse_signature(text: &str) -> Result<DeviceSignature, AuthFailure> {
    let bad = |message: &str| AuthFailure::new(BATCH_SIGNATURE_HEADER, "signature", message);
    let (algorithm, encoded) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| bad("write the signature as ed25519:<base64>"))?;
    match algorithm {
        "ed25519" => {
            let bytes = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                .ok_or_else(|| bad("an Ed25519 signature is standard padded base64 of 64 bytes"))?;
            Ok(DeviceSignature::Ed25519(bytes))
        }
        _ => Err(bad(
            "unknown signature algorithm: only ed25519 is supported",
        )),
    }
}

/// The header value of a device signature (`ed25519:<base64>`).
pub fn signature_header_value(signature: &DeviceSignature) -> String {
    format!(
        "{}:{}",
        signature.algorithm(),
        STANDARD.encode(signature.to_bytes())
    )
}

/// The header value of a batch statement (base64 of its encoding).
pub fn statement_header_value(statement: &BatchStatement) -> String {
    STANDARD.encode(statement.encode())
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
    let presented: [u8; 32] = Sha256::digest(token.secret_bytes()).into();
    let matches: bool = presented.ct_eq(&record.secret_sha256).into();
    if !matches || record.revoked {
        return Err(refused());
    }
    Ok((record.site, record.generation))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};
    use ledger::UnixMillis;
    use ledger::batch::{DeviceSigningKey, EventBatch};

    use super::*;

    #[test]
    fn a_generated_token_parses_back_and_hides_its_secret() {
        let token = SiteToken::generate().unwrap();
        let text = token.expose();
        let parsed = SiteToken::parse(&text).unwrap();
        assert_eq!(parsed.id(), token.id());
        assert_eq!(parsed.secret_bytes(), token.secret_bytes());
        assert!(!format!("{token:?}").contains(&text[20..]));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = SiteToken::generate().unwrap().expose();
        for bad in [
            "",
            "tt_",
            &good[..good.len() - 1],
            &good.replace("tt_", "xx_"),
            &good.to_uppercase(),
            &format!("{good}0"),
        ] {
            assert!(SiteToken::parse(bad).is_err(), "{bad}");
        }
    }

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
