//! Signed access grants, and the request signatures by which their holders use them.
//!
//! A grant is what the product's source documents ask for: a signed statement naming the
//! resource (a role and, for a partner, its sites), the permissions, the grantee's public key and
//! an expiry. The operator signs it (`tagtrail grant issue`) as a C2SP signed note with a key of
//! its own; the grantee keeps it beside its private key. A grant is not a bearer credential:
//! every request made with it is signed by the grantee's key (an RFC 9421 HTTP message signature
//! whose `keyid` is the grant's id), so a copy of the grant, or of one request, asks nothing.
//!
//! # Grant, version 1
//!
//! The note's text is these lines, each ending in a newline, in this order:
//!
//! ```text
//! tagtrail.dev/access-grant/v1
//! id <16 lowercase hex digits>
//! grantee <the grantee's Ed25519 note verifier key: name+id+base64>
//! role regulator|partner
//! site <site id>                 (a partner's sites, one line each, in byte order, none repeated)
//! permission query|export|subscribe   (one or more, in that order, none repeated)
//! expires <Unix seconds>
//! ```
//!
//! A regulator's grant names no site and a partner's at least one. One encoder ([`Grant::text`])
//! and one decoder ([`Grant::parse`]), which refuses any text the encoder would not write.
//!
//! # Request signatures
//!
//! A request made with a grant carries two headers of RFC 9421 (one signature):
//!
//! ```text
//! Signature-Input: grant=("@method" "@path" "@query" "content-digest");created=<Unix seconds>;keyid="<grant id>";alg="ed25519";nonce="<nonce>"
//! Signature: grant=:<base64 Ed25519 signature of the signature base>:
//! ```
//!
//! The covered components are exactly `@method`, `@path` and `@query`, and `content-digest`
//! when the request has a body (its `Content-Digest: sha-256=:<base64 SHA-256 of the body>:`,
//! RFC 9530, is checked against the body). Parameters: `created` and `keyid` always, `nonce`
//! always (1 to 64 characters, letters, digits, `-`, `_`, `.`, `~`), `alg` if given must be
//! `ed25519`, `expires` if given is honoured; no others. The signature base is RFC 9421's: one
//! line `"<component>": <value>` per covered component, then `"@signature-params": ` followed by
//! the `Signature-Input` member's value exactly as sent, with no final newline. A service takes a
//! signature within a clock-skew allowance of `created`, and each nonce of a grant once.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::encoding::{base64_decode, base64_encode};
use crate::note::{Note, NoteError, NoteSignerKey, NoteVerifierKey, NoteVerifiers};

/// The first line of a grant's text.
pub const GRANT_HEADER: &str = "tagtrail.dev/access-grant/v1";

/// The most sites one grant names.
pub const MAX_GRANT_SITES: usize = 64;

/// The most bytes of a grant as signed (its note message).
pub const MAX_GRANT_BYTES: usize = 8 * 1024;

/// The longest nonce a request signature may carry.
pub const MAX_NONCE_LEN: usize = 64;

/// What a credential may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every event.
    Regulator,
    /// The events reported from its sites.
    Partner,
}

impl Role {
    /// The role's name, as stored, signed and as the CLI takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regulator => "regulator",
            Self::Partner => "partner",
        }
    }

    /// Reads a role's name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "regulator" => Some(Self::Regulator),
            "partner" => Some(Self::Partner),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a credential may do with what its role lets it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Ask: `GET /events` and its resources, named queries, traces, its own access entries.
    Query,
    /// Take verifiable exports (`POST /exports`).
    Export,
    /// Subscribe to named queries (deliveries by webhook).
    Subscribe,
}

impl Permission {
    /// Every permission, in the order a grant lists them.
    pub const ALL: [Self; 3] = [Self::Query, Self::Export, Self::Subscribe];

    /// The permission's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Export => "export",
            Self::Subscribe => "subscribe",
        }
    }

    /// Reads a permission's name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An access grant: who (a key) may do what (permissions) with what (a role's reach), until
/// when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The grant's public id: 16 lowercase hex digits.
    pub id: String,
    /// The key that must sign every request made with the grant.
    pub grantee: NoteVerifierKey,
    /// What it reads.
    pub role: Role,
    /// A partner's sites, in byte order (none for a regulator).
    pub sites: Vec<String>,
    /// What it may do, in [`Permission::ALL`]'s order.
    pub permissions: Vec<Permission>,
    /// When it stops granting anything, in Unix seconds.
    pub expires: u64,
}

/// Why a grant is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The signed note is malformed, or no trusted key signed it.
    #[error("the grant's signature: {0}")]
    Note(#[from] NoteError),
    /// Longer than [`MAX_GRANT_BYTES`].
    #[error("a grant is at most {MAX_GRANT_BYTES} bytes")]
    TooLong,
    /// The text is not a grant of this version.
    #[error("not an access grant, version 1: {0}")]
    Malformed(String),
}

impl Grant {
    /// Checks the grant's own rules: the id's form, a partner's sites (1 to
    /// [`MAX_GRANT_SITES`], in byte order, none repeated, no control characters) and a
    /// regulator's none, and at least one permission, in order, none repeated.
    pub fn check(&self) -> Result<(), GrantError> {
        let bad = |why: &str| Err(GrantError::Malformed(why.to_owned()));
        if !is_id(&self.id) {
            return bad("the id is 16 lowercase hex digits");
        }
        match self.role {
            Role::Regulator if !self.sites.is_empty() => {
                return bad("a regulator's grant names no site");
            }
            Role::Partner if self.sites.is_empty() => {
                return bad("a partner's grant names its sites");
            }
            _ => {}
        }
        if self.sites.len() > MAX_GRANT_SITES {
            return bad("a grant names at most 64 sites");
        }
        if self
            .sites
            .iter()
            .any(|site| site.is_empty() || site.chars().any(char::is_control))
        {
            return bad("a site id is not empty and has no control characters");
        }
        if !self.sites.windows(2).all(|pair| pair[0] < pair[1]) {
            return bad("the sites are in byte order, none repeated");
        }
        if self.permissions.is_empty() {
            return bad("a grant gives at least one permission");
        }
        if !self.permissions.windows(2).all(|pair| pair[0] < pair[1]) {
            return bad("the permissions are in the order query, export, subscribe, none repeated");
        }
        Ok(())
    }

    /// The grant's text, as signed.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{GRANT_HEADER}\nid {}\ngrantee {}\nrole {}\n",
            self.id, self.grantee, self.role
        );
        for site in &self.sites {
            text.push_str(&format!("site {site}\n"));
        }
        for permission in &self.permissions {
            text.push_str(&format!("permission {permission}\n"));
        }
        text.push_str(&format!("expires {}\n", self.expires));
        text
    }

    /// Reads a grant's text; refuses any text [`text`](Self::text) would not write.
    pub fn parse(text: &str) -> Result<Self, GrantError> {
        let bad = |why: String| GrantError::Malformed(why);
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text ends with a newline".to_owned()))?;
        let mut lines = body.split('\n').peekable();
        if lines.next() != Some(GRANT_HEADER) {
            return Err(bad(format!("the first line is {GRANT_HEADER}")));
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|line| line.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("a line `{name} ...` is missing or out of order")))
        };
        let id = field("id")?;
        let grantee = NoteVerifierKey::parse(&field("grantee")?)
            .map_err(|error| bad(format!("the grantee key: {error}")))?;
        let role = field("role")?;
        let role = Role::parse(&role).ok_or_else(|| bad(format!("unknown role {role:?}")))?;
        let mut sites = Vec::new();
        let mut permissions = Vec::new();
        let mut expires = None;
        for line in lines {
            if let Some(site) = line.strip_prefix("site ") {
                if !permissions.is_empty() {
                    return Err(bad("the sites come before the permissions".to_owned()));
                }
                sites.push(site.to_owned());
            } else if let Some(name) = line.strip_prefix("permission ") {
                permissions.push(
                    Permission::parse(name)
                        .ok_or_else(|| bad(format!("unknown permission {name:?}")))?,
                );
            } else if let Some(seconds) = line.strip_prefix("expires ")
                && expires.is_none()
            {
                expires = Some(parse_seconds(seconds).ok_or_else(|| {
                    bad("expires is a number of seconds, without leading zeros".to_owned())
                })?);
            } else {
                return Err(bad(format!("unexpected line {line:?}")));
            }
        }
        let grant = Self {
            id,
            grantee,
            role,
            sites,
            permissions,
            expires: expires.ok_or_else(|| bad("the last line is `expires ...`".to_owned()))?,
        };
        grant.check()?;
        if grant.text() != text {
            return Err(bad("the text is not as a grant is written".to_owned()));
        }
        Ok(grant)
    }

    /// The grant signed by `issuer`: the note message to hand the grantee.
    pub fn sign(&self, issuer: &NoteSignerKey) -> Result<String, GrantError> {
        self.check()?;
        Ok(Note::sign(&self.text(), &[issuer])?.to_message())
    }

    /// A signed grant read back: its note must carry a valid signature by one of `issuers`.
    /// Says nothing of its expiry or whether it was revoked.
    pub fn open(message: &str, issuers: &NoteVerifiers) -> Result<Self, GrantError> {
        if message.len() > MAX_GRANT_BYTES {
            return Err(GrantError::TooLong);
        }
        let note = Note::parse(message)?;
        issuers.verify(&note)?;
        Self::parse(note.text())
    }

    /// Whether it gives `permission`.
    pub fn gives(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Whether `text` is a credential id: 16 lowercase hex digits.
pub fn is_id(text: &str) -> bool {
    text.len() == 16
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A decimal number of seconds as the formats write it (no sign, no leading zero).
fn parse_seconds(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// The `Content-Digest` value (RFC 9530) of `body`: `sha-256=:<base64>:`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", base64_encode(&Sha256::digest(body)))
}

/// What a request signature covers of a request: its method, path (`/` when empty), query
/// (without the `?`; empty when none) and `Content-Digest` (a request with a body).
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub content_digest: Option<&'a str>,
}

impl SignedParts<'_> {
    /// The covered components' names, as the signature parameters list them.
    fn components(&self) -> &'static [&'static str] {
        match self.content_digest {
            Some(_) => &["@method", "@path", "@query", "content-digest"],
            None => &["@method", "@path", "@query"],
        }
    }

    /// RFC 9421's signature base of these parts under the `Signature-Input` member value
    /// `params` (sent exactly so).
    pub fn signature_base(&self, params: &str) -> String {
        let path = if self.path.is_empty() { "/" } else { self.path };
        let mut base = format!(
            "\"@method\": {}\n\"@path\": {path}\n\"@query\": ?{}\n",
            self.method, self.query
        );
        if let Some(digest) = self.content_digest {
            base.push_str(&format!("\"content-digest\": {digest}\n"));
        }
        base.push_str(&format!("\"@signature-params\": {params}"));
        base
    }
}

/// The two headers of a signed request: `Signature-Input` and `Signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature {
    pub signature_input: String,
    pub signature: String,
}

/// The label of the one signature a client of this crate sends.
const LABEL: &str = "grant";

/// Signs `parts` with the grantee's `key` for grant `grant_id`, created at `created` (Unix
/// seconds) with `nonce` (fresh for each request).
pub fn sign_request(
    key: &NoteSignerKey,
    grant_id: &str,
    parts: &SignedParts<'_>,
    created: u64,
    nonce: &str,
) -> RequestSignature {
    let components: Vec<String> = parts
        .components()
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect();
    let params = format!(
        "({});created={created};keyid=\"{grant_id}\";alg=\"ed25519\";nonce=\"{nonce}\"",
        components.join(" ")
    );
    let signature = key.sign(parts.signature_base(&params).as_bytes());
    RequestSignature {
        signature_input: format!("{LABEL}={params}"),
        signature: format!("{LABEL}=:{}:", base64_encode(&signature)),
    }
}

/// A request signature as received, its form checked ([`ReceivedSignature::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSignature {
    /// The grant it names (`keyid`).
    pub grant: String,
    /// When it says it was made (`created`), Unix seconds.
    pub created: u64,
    /// When it says it expires (`expires`), if it does.
    pub expires: Option<u64>,
    /// Its nonce.
    pub nonce: String,
    /// Whether it covers `content-digest`.
    pub covers_digest: bool,
    /// The `Signature-Input` member's value, as sent (the `@signature-params` line's value).
    params: String,
    /// The Ed25519 signature.
    signature: Vec<u8>,
}

/// Why a request's signature headers are not a signature this service takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignatureFormError(String);

impl ReceivedSignature {
    /// Reads the `Signature-Input` and `Signature` headers: one signature, of one label, covering
    /// exactly `"@method" "@path" "@query"` (in that order) and perhaps `"content-digest"`, with
    /// the parameters of this profile (module docs).
    pub fn parse(signature_input: &str, signature: &str) -> Result<Self, SignatureFormError> {
        let bad = |why: &str| SignatureFormError(why.to_owned());
        let (label, params) = signature_input
            .trim()
            .split_once('=')
            .ok_or_else(|| bad("Signature-Input is `<label>=(<components>);<parameters>`"))?;
        if !is_label(label) {
            return Err(bad(
                "Signature-Input carries one signature, of a lowercase label",
            ));
        }
        let (sig_label, value) = signature
            .trim()
            .split_once('=')
            .ok_or_else(|| bad("Signature is `<label>=:<base64>:`"))?;
        if sig_label != label {
            return Err(bad("Signature and Signature-Input name the same one label"));
        }
        let signature = value
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .and_then(|v| base64_decode(v).ok())
            .ok_or_else(|| bad("Signature is `<label>=:<base64>:`"))?;
        let inner = params
            .strip_prefix('(')
            .ok_or_else(|| bad("Signature-Input's value starts with the covered components"))?;
        let (components, mut rest) = inner
            .split_once(')')
            .ok_or_else(|| bad("the covered components end with `)`"))?;
        let covers_digest = match components {
            "\"@method\" \"@path\" \"@query\"" => false,
            "\"@method\" \"@path\" \"@query\" \"content-digest\"" => true,
            _ => {
                return Err(bad(
                    "the covered components are (\"@method\" \"@path\" \"@query\"), and \"content-digest\" after them for a request with a body",
                ));
            }
        };
        let (mut created, mut expires, mut keyid, mut nonce, mut alg) =
            (None, None, None, None, None);
        while !rest.is_empty() {
            let param = rest
                .strip_prefix(';')
                .ok_or_else(|| bad("parameters are `;name=value`, without spaces"))?;
            let end = param.find(';').unwrap_or(param.len());
            let (pair, next) = param.split_at(end);
            rest = next;
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| bad("parameters are `;name=value`"))?;
            let slot = match name {
                "created" => &mut created,
                "expires" => &mut expires,
                "keyid" => &mut keyid,
                "nonce" => &mut nonce,
                "alg" => &mut alg,
                _ => {
                    return Err(bad(
                        "the parameters are created, keyid, nonce and perhaps alg and expires",
                    ));
                }
            };
            if slot.replace(value).is_some() {
                return Err(bad("a parameter is given once"));
            }
        }
        let number = |value: Option<&str>, name: &str| {
            value
                .map(|v| {
                    parse_seconds(v)
                        .ok_or_else(|| SignatureFormError(format!("{name} is whole seconds")))
                })
                .transpose()
        };
        let string = |value: Option<&str>| {
            value.and_then(|v| v.strip_prefix('"')?.strip_suffix('"').map(str::to_owned))
        };
        let created = number(created, "created")?.ok_or_else(|| bad("created is required"))?;
        let expires = number(expires, "expires")?;
        let grant = string(keyid)
            .filter(|id| is_id(id))
            .ok_or_else(|| bad("keyid is the grant's id in quotes: 16 lowercase hex digits"))?;
        let nonce = string(nonce)
            .filter(|nonce| is_nonce(nonce))
            .ok_or_else(|| {
                bad("nonce is required: 1 to 64 letters, digits, `-`, `_`, `.` or `~`, in quotes")
            })?;
        if let Some(alg) = alg
            && alg != "\"ed25519\""
        {
            return Err(bad("alg, if given, is \"ed25519\""));
        }
        Ok(Self {
            grant,
            created,
            expires,
            nonce,
            covers_digest,
            params: params.to_owned(),
            signature,
        })
    }

    /// Whether the signature is `grantee`'s over `parts` (which cover `content-digest` exactly
    /// when this signature does).
    pub fn verify(&self, parts: &SignedParts<'_>, grantee: &NoteVerifierKey) -> bool {
        parts.content_digest.is_some() == self.covers_digest
            && grantee.verify(
                parts.signature_base(&self.params).as_bytes(),
                &self.signature,
            )
    }
}

fn is_label(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_nonce(text: &str) -> bool {
    (1..=MAX_NONCE_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::KeyName;

    fn key(name: &str, byte: u8) -> NoteSignerKey {
        NoteSignerKey::from_seed(KeyName::parse(name).unwrap(), &[byte; 32])
    }

    fn partner() -> Grant {
        Grant {
            id: "0123456789abcdef".to_owned(),
            grantee: key("auditor.example", 2).verifier_key(),
            role: Role::Partner,
            sites: vec!["dc-east".to_owned(), "dc-west".to_owned()],
            permissions: vec![Permission::Query, Permission::Export],
            expires: 1_800_000_000,
        }
    }

    /// The golden grant: its text byte for byte, and the signed note the issuer key of seed
    /// 0x01 makes of it (Ed25519 signatures are deterministic).
    #[test]
    fn a_grant_is_written_byte_for_byte_as_documented() {
        let grant = partner();
        let text = grant.text();
        assert_eq!(
            text,
            format!(
                "tagtrail.dev/access-grant/v1\nid 0123456789abcdef\ngrantee {}\nrole partner\n\
                 site dc-east\nsite dc-west\npermission query\npermission export\n\
                 expires 1800000000\n",
                key("auditor.example", 2).verifier_key()
            )
        );
        assert_eq!(Grant::parse(&text).unwrap(), grant);
        let issuer = key("grants.tagtrail.example", 1);
        let signed = grant.sign(&issuer).unwrap();
        let golden = include_str!("../tests/golden/access-grant-v1.txt");
        assert_eq!(signed, golden, "the golden grant changed");
        let published = include_str!("../tests/golden/access-grant-issuer.pub");
        assert_eq!(published.trim(), issuer.verifier_key().to_string());
        let trusted =
            NoteVerifiers::new(vec![NoteVerifierKey::parse(published.trim()).unwrap()]).unwrap();
        assert_eq!(Grant::open(golden, &trusted).unwrap(), grant);
    }

    #[test]
    fn a_grant_by_another_key_or_altered_does_not_open() {
        let issuer = key("grants.tagtrail.example", 1);
        let signed = partner().sign(&issuer).unwrap();
        let other =
            NoteVerifiers::new(vec![key("grants.tagtrail.example", 9).verifier_key()]).unwrap();
        assert!(matches!(
            Grant::open(&signed, &other),
            Err(GrantError::Note(NoteError::NoTrustedSignature))
        ));
        let trusted = NoteVerifiers::new(vec![issuer.verifier_key()]).unwrap();
        for (from, to) in [
            ("role partner", "role regulator"),
            ("expires 1800000000", "expires 1900000000"),
            ("site dc-west", "site dc-north"),
            ("permission export", "permission subscribe"),
        ] {
            let altered = signed.replace(from, to);
            assert!(
                matches!(Grant::open(&altered, &trusted), Err(GrantError::Note(_))),
                "{from} -> {to}"
            );
        }
        let huge = format!("{signed}{}", " ".repeat(MAX_GRANT_BYTES));
        assert_eq!(Grant::open(&huge, &trusted), Err(GrantError::TooLong));
    }

    #[test]
    fn only_the_text_the_encoder_writes_parses() {
        let text = partner().text();
        for (from, to) in [
            (
                "tagtrail.dev/access-grant/v1",
                "tagtrail.dev/access-grant/v2",
            ),
            ("id 0123456789abcdef", "id 0123456789ABCDEF"),
            ("role partner", "role owner"),
            ("site dc-east\nsite dc-west", "site dc-west\nsite dc-east"),
            ("site dc-west", "site dc-east"),
            (
                "permission query\npermission export",
                "permission export\npermission query",
            ),
            ("permission export", "permission delete"),
            ("expires 1800000000", "expires 01800000000"),
            ("expires 1800000000\n", "expires 1800000000\nexpires 1\n"),
            ("expires 1800000000\n", ""),
            ("\nrole partner", "\nrole  partner"),
            ("\n", "\r\n"),
        ] {
            let altered = text.replacen(from, to, 1);
            assert!(
                matches!(Grant::parse(&altered), Err(GrantError::Malformed(_))),
                "{from:?} -> {to:?} parsed"
            );
        }
        let mut regulator = partner();
        regulator.role = Role::Regulator;
        assert!(regulator.check().is_err(), "a regulator with sites");
        regulator.sites.clear();
        assert!(Grant::parse(&regulator.text()).is_ok());
        let mut empty = partner();
        empty.permissions.clear();
        assert!(empty.check().is_err(), "no permission");
        let mut many = partner();
        many.sites = (0..=MAX_GRANT_SITES)
            .map(|i| format!("site-{i:03}"))
            .collect();
        assert!(many.check().is_err(), "too many sites");
    }

    fn parts(body: Option<&str>) -> SignedParts<'_> {
        SignedParts {
            method: "POST",
            path: "/exports",
            query: "format=json",
            content_digest: body,
        }
    }

    /// RFC 9421's signature base, line by line, and a signature only its key over those parts
    /// verifies.
    #[test]
    fn a_request_signature_covers_method_path_query_and_body() {
        let grantee = key("auditor.example", 2);
        let digest = content_digest(b"{}");
        assert_eq!(
            digest,
            "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"
        );
        let signed = sign_request(
            &grantee,
            "0123456789abcdef",
            &parts(Some(&digest)),
            1_764_000_000,
            "n-1",
        );
        let params = "(\"@method\" \"@path\" \"@query\" \"content-digest\");created=1764000000;\
                      keyid=\"0123456789abcdef\";alg=\"ed25519\";nonce=\"n-1\"";
        assert_eq!(signed.signature_input, format!("grant={params}"));
        // The golden signature (the grantee key of seed 0x02, as the ledger README shows it).
        assert_eq!(
            signed.signature,
            "grant=:n61CyHh+Sa5CChtGK75cdNo8KdB0Z+U/D0YpyzTJM3unmmVsw/j5tfo8MWdTtoDT8A/+OH0Ft02m2z0ftuY0CQ==:"
        );
        assert_eq!(
            parts(Some(&digest)).signature_base(params),
            format!(
                "\"@method\": POST\n\"@path\": /exports\n\"@query\": ?format=json\n\
                 \"content-digest\": {digest}\n\"@signature-params\": {params}"
            )
        );
        let received =
            ReceivedSignature::parse(&signed.signature_input, &signed.signature).unwrap();
        assert_eq!(received.grant, "0123456789abcdef");
        assert_eq!((received.created, received.expires), (1_764_000_000, None));
        assert_eq!(received.nonce, "n-1");
        let grantee_key = grantee.verifier_key();
        assert!(received.verify(&parts(Some(&digest)), &grantee_key));
        let other_body = content_digest(b"{\"a\":1}");
        let altered = [
            SignedParts {
                method: "GET",
                ..parts(Some(&digest))
            },
            SignedParts {
                path: "/exports/x",
                ..parts(Some(&digest))
            },
            SignedParts {
                query: "format=csv",
                ..parts(Some(&digest))
            },
            parts(Some(&other_body)),
            parts(None),
        ];
        for parts in altered {
            assert!(!received.verify(&parts, &grantee_key), "{parts:?}");
        }
        assert!(!received.verify(&parts(Some(&digest)), &key("x.example", 3).verifier_key()));
    }

    #[test]
    fn signature_headers_of_another_form_are_refused_with_the_reason() {
        let grantee = key("auditor.example", 2);
        let signed = sign_request(&grantee, "0123456789abcdef", &parts(None), 5, "abc");
        let input = signed.signature_input.as_str();
        for (input, signature) in [
            (input.replace("grant=", "other="), signed.signature.clone()),
            (input.to_owned(), signed.signature.replace(":", "")),
            (
                input.replace("\"@query\"", "\"@authority\""),
                signed.signature.clone(),
            ),
            (
                input.replace(";nonce=\"abc\"", ""),
                signed.signature.clone(),
            ),
            (
                input.replace("nonce=\"abc\"", "nonce=\"a b\""),
                signed.signature.clone(),
            ),
            (
                input.replace("created=5", "created=-5"),
                signed.signature.clone(),
            ),
            (
                input.replace("created=5", "created=5;created=6"),
                signed.signature.clone(),
            ),
            (
                input.replace("alg=\"ed25519\"", "alg=\"rsa-pss-sha512\""),
                signed.signature.clone(),
            ),
            (
                input.replace("keyid=\"0123456789abcdef\"", "keyid=\"me\""),
                signed.signature.clone(),
            ),
            (format!("{input};tag=\"x\""), signed.signature.clone()),
            (
                format!("{input}, b=(\"@method\")"),
                signed.signature.clone(),
            ),
        ] {
            assert!(
                ReceivedSignature::parse(&input, &signature).is_err(),
                "{input} / {signature}"
            );
        }
        let with_expiry = format!("{input};expires=9");
        let parsed = ReceivedSignature::parse(&with_expiry, &signed.signature).unwrap();
        assert_eq!(parsed.expires, Some(9));
        assert!(
            !parsed.verify(&parts(None), &grantee.verifier_key()),
            "params are signed"
        );
    }
}
