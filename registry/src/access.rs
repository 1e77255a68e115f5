//! Access tokens (`tagtrail token create --role regulator|partner`): the credentials of those who
//! query across items through trace-api's EPCIS query interface. A `regulator` reads every event;
//! a `partner` only the events reported from the sites it is granted. A token has the form of a
//! site's capture token (`tt_<id>_<secret>`); only its secret's SHA-256 is stored, compared in
//! constant time; it may expire, and may be revoked for good. Both are read on every request, so
//! that an expired or revoked token fails at once.

use std::time::Duration;

use ledger::SiteId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_postgres::Client;

use crate::admin::RegistryError;
use crate::lookup::ReadError;
use crate::token::{SiteToken, TokenId};

pub use ledger::grant::{Permission, Role};

/// What a valid credential (an access token or a signed grant) grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The credential's public id (written in the access log): a token's or a grant's, one
    /// space of ids.
    pub token: TokenId,
    /// Its role.
    pub role: Role,
    /// A partner's sites (empty for a regulator).
    pub sites: Vec<SiteId>,
    /// When it expires, in Unix seconds (never, if `None`).
    pub expires_at: Option<i64>,
    /// What it may do: every permission for a token, those its grant lists for a grant.
    pub permissions: Vec<Permission>,
}

impl Access {
    /// Whether the holder may read events reported from `site`.
    pub fn may_read_site(&self, site: &SiteId) -> bool {
        self.role == Role::Regulator || self.sites.contains(site)
    }

    /// Whether the holder may do `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Why a presented access token grants nothing.
#[derive(Debug, thiserror::Error)]
pub enum AccessRefused {
    /// No token has this id, or its secret is not this one (the two are not told apart).
    #[error("the token is not one this service issued")]
    Unknown,
    /// It was revoked.
    #[error("the token was revoked")]
    Revoked,
    /// It expired.
    #[error("the token expired")]
    Expired,
    /// The registry could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// An access token as listed (never its secret, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenInfo {
    /// The token's public id.
    pub token: String,
    /// Its role.
    pub role: String,
    /// A partner's sites.
    pub sites: Vec<String>,
    /// Its label.
    pub label: String,
    /// When it expires (RFC 3339, UTC), if it does.
    pub expires_at: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Whether it has expired.
    pub expired: bool,
}

/// A token's row and, from the same snapshot, whether it is revoked or expired (by the
/// database's clock, the one that wrote `created_at`).
const SELECT_ACCESS: &str = "
    SELECT t.role, t.sites, t.secret_sha256, r.token_id IS NOT NULL,
           t.expires_at IS NOT NULL AND t.expires_at <= now(),
           extract(epoch FROM t.expires_at)::bigint
    FROM access_tokens t LEFT JOIN access_token_revocations r USING (token_id)
    WHERE t.token_id = $1";

/// What `token` grants now: refused when unknown (or its secret differs: compared in constant
/// time), revoked or expired.
pub async fn access_of(
    client: &deadpool_postgres::Client,
    token: &SiteToken,
) -> Result<Access, AccessRefused> {
    let row = access_row(client, token.id()).await?;
    let stored: &[u8] = row.get(2);
    let presented: [u8; 32] = Sha256::digest(token.secret_bytes()).into();
    let matches: bool = presented.as_slice().ct_eq(stored).into();
    if !matches {
        return Err(AccessRefused::Unknown);
    }
    access_in(&row, token.id())
}

/// What the token with public id `token` grants now, its secret not presented: for what the
/// service does on a token's behalf after it was presented (a subscription's deliveries).
/// Refused when unknown, revoked or expired.
pub async fn access_by_id(
    client: &deadpool_postgres::Client,
    token: &TokenId,
) -> Result<Access, AccessRefused> {
    access_in(&access_row(client, token).await?, token)
}

/// The row of [`SELECT_ACCESS`] of the token with public id `token`.
async fn access_row(
    client: &deadpool_postgres::Client,
    token: &TokenId,
) -> Result<tokio_postgres::Row, AccessRefused> {
    let statement = client
        .prepare_cached(SELECT_ACCESS)
        .await
        .map_err(ReadError::from)?;
    client
        .query_opt(&statement, &[&token.as_str()])
        .await
        .map_err(ReadError::from)?
        .ok_or(AccessRefused::Unknown)
}

/// The access of a row of [`SELECT_ACCESS`] (its secret already checked, or not presented).
fn access_in(row: &tokio_postgres::Row, token: &TokenId) -> Result<Access, AccessRefused> {
    if row.get::<_, bool>(3) {
        return Err(AccessRefused::Revoked);
    }
    if row.get::<_, bool>(4) {
        return Err(AccessRefused::Expired);
    }
    let corrupt = |reason: String| ReadError::Corrupt {
        what: "access token",
        reason,
    };
    let role: &str = row.get(0);
    let role = Role::parse(role).ok_or_else(|| corrupt(format!("unknown role {role:?}")))?;
    let sites: Vec<String> = row.get(1);
    let sites = sites
        .iter()
        .map(|site| SiteId::parse(site).map_err(|error| corrupt(error.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(Access {
        token: token.clone(),
        role,
        sites,
        expires_at: row.get(5),
        permissions: Permission::ALL.to_vec(),
    })
}

/// Creates an access token and returns it (its secret is shown only now). A partner's token
/// names at least one registered site; a regulator's none. `expires_in`: how long it is valid
/// (for ever if `None`).
pub async fn create_access_token(
    client: &Client,
    role: Role,
    sites: &[SiteId],
    label: &str,
    expires_in: Option<Duration>,
) -> Result<SiteToken, RegistryError> {
    match role {
        Role::Partner if sites.is_empty() => {
            return Err(RegistryError::Invalid(
                "a partner's token names the sites it may read (--site, one or more)".to_owned(),
            ));
        }
        Role::Regulator if !sites.is_empty() => {
            return Err(RegistryError::Invalid(
                "a regulator reads every site: give no --site".to_owned(),
            ));
        }
        _ => {}
    }
    check_sites(client, sites).await?;
    let seconds = expires_in.map(expiry_seconds).transpose()?;
    let token = SiteToken::generate().map_err(|error| RegistryError::Random(error.to_string()))?;
    let hash: [u8; 32] = Sha256::digest(token.secret_bytes()).into();
    let sites: Vec<&str> = sites.iter().map(SiteId::as_str).collect();
    client
        .execute(
            "INSERT INTO access_tokens (token_id, role, sites, secret_sha256, label, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::bigint))",
            &[
                &token.id().as_str(),
                &role.as_str(),
                &sites,
                &hash.as_slice(),
                &label,
                &seconds,
            ],
        )
        .await?;
    Ok(token)
}

/// Fails unless every one of `sites` is registered.
pub(crate) async fn check_sites(client: &Client, sites: &[SiteId]) -> Result<(), RegistryError> {
    for site in sites {
        crate::admin::require_site(client, site).await?;
    }
    Ok(())
}

/// A credential's lifetime in whole seconds: at least one.
pub(crate) fn expiry_seconds(lifetime: Duration) -> Result<i64, RegistryError> {
    i64::try_from(lifetime.as_secs())
        .ok()
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| RegistryError::Invalid("an expiry is at least one second away".to_owned()))
}

/// Revokes an access token for good.
pub async fn revoke_access_token(client: &Client, token: &TokenId) -> Result<(), RegistryError> {
    crate::admin::revoke(
        client,
        "access_tokens",
        "access_token_revocations",
        "token_id",
        token,
    )
    .await
}

/// Every access token, without secrets, oldest first.
pub async fn list_access_tokens(client: &Client) -> Result<Vec<AccessTokenInfo>, RegistryError> {
    let rows = client
        .query(
            "SELECT t.token_id, t.role, t.sites, t.label,
                    to_char(t.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    r.token_id IS NOT NULL,
                    t.expires_at IS NOT NULL AND t.expires_at <= now()
             FROM access_tokens t LEFT JOIN access_token_revocations r USING (token_id)
             ORDER BY t.created_at, t.token_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| AccessTokenInfo {
            token: row.get(0),
            role: row.get(1),
            sites: row.get(2),
            label: row.get(3),
            expires_at: row.get(4),
            revoked: row.get(5),
            expired: row.get(6),
        })
        .collect())
}
