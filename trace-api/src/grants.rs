//! Requests made with signed access grants (`ledger::grant`): the grant, kept in the registry,
//! must verify under one of `grants.keys`, be neither expired nor revoked, and the request must
//! carry an RFC 9421 signature by the grant's key over its method, path, query and body digest,
//! made within `grants.max_skew` of this service's clock, with a nonce not seen before. A copy of
//! the grant asks nothing, and neither does a copy of a request.
//!
//! Replays are refused by remembering each grant's nonces until its signature falls out of the
//! clock-skew window; the memory is this process's, so a request replayed to another trace-api
//! process of the same deployment within the window is answered again (and logged again).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use ledger::grant::{Grant, ReceivedSignature, SignedParts};
use ledger::note::NoteVerifiers;
use registry::{Access, TokenId};

/// The settings and memory of grant-signed requests.
#[derive(Debug)]
pub struct Grants {
    issuers: NoteVerifiers,
    max_skew: u64,
    nonces: Mutex<Nonces>,
}

/// Why a grant, or a request made with one, is refused.
#[derive(Debug, thiserror::Error)]
pub enum GrantRefused {
    /// Any reason the caller is told (`401`).
    #[error("{0}")]
    Unauthenticated(String),
    /// This grant made as many signed requests in the window as one grant may (`429`, retry
    /// after so many seconds).
    #[error("this grant made as many signed requests as one grant may in {0} s: slow down")]
    GrantBusy(u64),
    /// Too many signed requests are remembered to take another now (`503`).
    #[error("too many signed requests in the last {0} s to remember another: try again shortly")]
    Busy(u64),
    /// The registry could not be read (`503`).
    #[error(transparent)]
    Registry(#[from] registry::ReadError),
    /// The registry has no connection to give (`503`).
    #[error("the registry: {0}")]
    Pool(String),
}

fn refused(why: impl Into<String>) -> GrantRefused {
    GrantRefused::Unauthenticated(why.into())
}

/// The nonces of signed requests taken, each until its signature's window closes: at most
/// `most` in all and `per_grant` of one grant, so that one grantee's flood of signed requests
/// holds back only itself.
#[derive(Debug)]
struct Nonces {
    most: usize,
    per_grant: usize,
    seen: HashSet<(String, String)>,
    /// How many each grant holds.
    held: HashMap<String, usize>,
    /// When each is forgotten (Unix seconds), with an insertion number to keep keys distinct.
    forget: BTreeMap<(u64, u64), (String, String)>,
    inserted: u64,
}

/// Why a nonce was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    /// Taken now.
    Fresh,
    /// Taken before: a replay.
    Replayed,
    /// Its grant holds its share already.
    GrantFull,
    /// The memory is full.
    Full,
}

impl Nonces {
    fn new(most: usize, per_grant: usize) -> Self {
        Self {
            most,
            per_grant,
            seen: HashSet::new(),
            held: HashMap::new(),
            forget: BTreeMap::new(),
            inserted: 0,
        }
    }

    /// Takes `(grant, nonce)` until `until`, forgetting first those whose time has come.
    fn take(&mut self, key: (String, String), until: u64, now: u64) -> Taken {
        while let Some(entry) = self.forget.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let forgotten = entry.remove();
            if let Some(held) = self.held.get_mut(&forgotten.0) {
                *held -= 1;
                if *held == 0 {
                    self.held.remove(&forgotten.0);
                }
            }
            self.seen.remove(&forgotten);
        }
        if self.seen.contains(&key) {
            return Taken::Replayed;
        }
        if self.held.get(&key.0).copied().unwrap_or(0) >= self.per_grant {
            return Taken::GrantFull;
        }
        if self.seen.len() >= self.most {
            return Taken::Full;
        }
        self.inserted += 1;
        self.forget.insert((until, self.inserted), key.clone());
        *self.held.entry(key.0.clone()).or_default() += 1;
        self.seen.insert(key);
        Taken::Fresh
    }
}

/// This service's clock, in Unix seconds.
pub(crate) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl Grants {
    pub fn new(
        issuers: NoteVerifiers,
        max_skew: Duration,
        max_nonces: usize,
        max_nonces_per_grant: usize,
    ) -> Self {
        Self {
            issuers,
            max_skew: max_skew.as_secs().max(1),
            nonces: Mutex::new(Nonces::new(max_nonces, max_nonces_per_grant)),
        }
    }

    /// The grant stored under `id`, checked: present, not revoked, not expired (by the
    /// database's clock and by this service's), and signed by a key of `grants.keys`. `None`
    /// when no grant has that id.
    pub async fn stored(
        &self,
        registry: &deadpool_postgres::Pool,
        id: &TokenId,
    ) -> Result<Option<Grant>, GrantRefused> {
        let client = registry
            .get()
            .await
            .map_err(|error| GrantRefused::Pool(error.to_string()))?;
        let Some(stored) = registry::grant_by_id(&client, id).await? else {
            return Ok(None);
        };
        if stored.revoked {
            return Err(refused(format!("grant {id} was revoked")));
        }
        let grant = Grant::open(&stored.note, &self.issuers).map_err(|error| {
            refused(format!(
                "grant {id} does not verify under this service's grant keys: {error}"
            ))
        })?;
        if grant.id != id.as_str() {
            return Err(refused(format!("grant {id} as stored names another id")));
        }
        if stored.expired || grant.expires <= now_seconds() {
            return Err(refused(format!("grant {id} expired")));
        }
        Ok(Some(grant))
    }

    /// The access a request signed with a grant gives (the request carries `Signature-Input`),
    /// or why it gives none.
    pub async fn authenticate(
        &self,
        request: &HttpRequest,
        registry: &deadpool_postgres::Pool,
    ) -> Result<Access, GrantRefused> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| refused(format!("the {name} header is not ASCII text")))
                })
                .transpose()
        };
        let (Some(input), Some(signature)) = (header("signature-input")?, header("signature")?)
        else {
            return Err(refused(
                "a request made with a grant carries both Signature-Input and Signature (RFC 9421)",
            ));
        };
        let received = ReceivedSignature::parse(input, signature)
            .map_err(|error| refused(format!("the request's signature headers: {error}")))?;
        if self.issuers.keys().is_empty() {
            return Err(refused(
                "this service takes no signed grants (grants.keys is not set)",
            ));
        }
        let now = now_seconds();
        if received.created.abs_diff(now) > self.max_skew {
            return Err(refused(format!(
                "the request was signed at {} (created), more than {} s from this service's clock ({now})",
                received.created, self.max_skew
            )));
        }
        if received.expires.is_some_and(|expires| expires <= now) {
            return Err(refused("the request's signature has expired"));
        }
        let id = TokenId::parse(&received.grant).map_err(|_| refused("keyid is not a grant id"))?;
        let grant = self
            .stored(registry, &id)
            .await?
            .ok_or_else(|| refused(format!("no grant has id {id}")))?;
        let has_body = !matches!(
            request.method().as_str(),
            "GET" | "HEAD" | "DELETE" | "OPTIONS"
        );
        let digest = header("content-digest")?;
        if has_body && !received.covers_digest {
            return Err(refused(
                "a request with a body is signed over its Content-Digest too (\"content-digest\" among the covered components)",
            ));
        }
        if received.covers_digest && digest.is_none() {
            return Err(refused(
                "the signature covers content-digest, but the request has no Content-Digest header",
            ));
        }
        let parts = SignedParts {
            method: request.method().as_str(),
            path: request.uri().path(),
            query: request.uri().query().unwrap_or(""),
            content_digest: digest.filter(|_| received.covers_digest),
        };
        if !received.verify(&parts, &grant.grantee) {
            return Err(refused(format!(
                "the request's signature does not verify with grant {id}'s key ({}) over its method, path, query{}",
                grant.grantee.name(),
                if received.covers_digest {
                    " and Content-Digest"
                } else {
                    ""
                }
            )));
        }
        let until = received
            .created
            .saturating_add(self.max_skew)
            .saturating_add(1);
        let taken = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take((grant.id.clone(), received.nonce.clone()), until, now);
        match taken {
            Taken::Fresh => {}
            Taken::Replayed => {
                return Err(refused(format!(
                    "a request signed with nonce {:?} was taken before: sign each request anew",
                    received.nonce
                )));
            }
            Taken::GrantFull => return Err(GrantRefused::GrantBusy(self.max_skew)),
            Taken::Full => return Err(GrantRefused::Busy(self.max_skew * 2)),
        }
        Ok(registry::access_of_grant(&grant)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(grant: &str, nonce: &str) -> (String, String) {
        (grant.to_owned(), nonce.to_owned())
    }

    const A: &str = "0123456789abcdef";
    const B: &str = "fedcba9876543210";

    #[test]
    fn a_nonce_is_taken_once_until_its_window_closes() {
        let mut memory = Nonces::new(10, 10);
        assert_eq!(memory.take(key(A, "a"), 100, 50), Taken::Fresh);
        assert_eq!(memory.take(key(A, "a"), 100, 60), Taken::Replayed);
        assert_eq!(
            memory.take(key(A, "b"), 100, 60),
            Taken::Fresh,
            "another nonce"
        );
        assert_eq!(
            memory.take(key(B, "a"), 100, 60),
            Taken::Fresh,
            "another grant's"
        );
        // Once its window closed, the signature is refused for its age: the nonce is forgotten.
        assert_eq!(memory.take(key(A, "a"), 200, 100), Taken::Fresh);
        assert_eq!(memory.seen.len(), 1, "the others were forgotten too");
        assert_eq!(memory.held.get(A), Some(&1));
        assert_eq!(memory.held.get(B), None);
    }

    #[test]
    fn a_full_memory_refuses_rather_than_forgets() {
        let mut memory = Nonces::new(2, 2);
        assert_eq!(memory.take(key(A, "a"), 100, 0), Taken::Fresh);
        assert_eq!(memory.take(key(B, "b"), 100, 0), Taken::Fresh);
        assert_eq!(memory.take(key(A, "c"), 100, 0), Taken::Full);
        assert_eq!(
            memory.take(key(A, "a"), 100, 0),
            Taken::Replayed,
            "still remembered"
        );
        assert_eq!(
            memory.take(key(A, "c"), 200, 100),
            Taken::Fresh,
            "room once a and b expire"
        );
    }

    /// One grantee flooding signed requests fills its own share, not the others' room.
    #[test]
    fn one_grant_holds_its_share_only() {
        let mut memory = Nonces::new(10, 3);
        for nonce in ["1", "2", "3"] {
            assert_eq!(memory.take(key(A, nonce), 100, 0), Taken::Fresh);
        }
        assert_eq!(memory.take(key(A, "4"), 100, 0), Taken::GrantFull);
        assert_eq!(memory.take(key(B, "1"), 100, 0), Taken::Fresh);
        assert_eq!(
            memory.take(key(A, "4"), 200, 100),
            Taken::Fresh,
            "its share comes back"
        );
    }
}
