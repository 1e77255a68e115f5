//! Site API tokens: `tt_<token id: 16 lowercase hex digits>_<secret: 64 lowercase hex digits>`.
//! Only the secret's SHA-256 is stored; the secret is shown once, when the token is created, and
//! kept in memory only in a zeroed-on-drop box.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};

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
            id: TokenId(epcis::hex::encode_lower(&id)),
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
            epcis::hex::encode_lower(self.secret.expose_secret())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
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
}
