//! Signed access grants (`tagtrail grant issue|list|revoke`): a regulator's or partner's access
//! held by a key (`ledger::grant`). The registry keeps each grant as signed, and its revocation;
//! trace-api checks the grant's signature, its expiry and the request's signature by the
//! grantee's key on every request.

use std::time::Duration;

use ledger::SiteId;
use ledger::grant::{Grant, Permission, Role};
use ledger::note::{NoteSignerKey, NoteVerifierKey};
use tokio_postgres::Client;

use crate::access::Access;
use crate::admin::RegistryError;
use crate::lookup::ReadError;
use crate::token::TokenId;

/// What a new grant gives, before it has an id and an expiry.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// The key that will sign the grantee's requests.
    pub grantee: NoteVerifierKey,
    /// What it reads.
    pub role: Role,
    /// A partner's sites (registered ones).
    pub sites: Vec<SiteId>,
    /// What it may do (every permission if empty).
    pub permissions: Vec<Permission>,
    /// How long it is valid.
    pub expires_in: Duration,
    /// A label to recognise it by (kept in the registry, not in the grant).
    pub label: String,
}

/// A grant as the registry keeps it: the signed note, and whether it was revoked or has
/// expired (by the database's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    pub note: String,
    pub revoked: bool,
    pub expired: bool,
}

/// A grant as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInfo {
    pub id: String,
    pub role: String,
    pub sites: Vec<String>,
    pub permissions: Vec<String>,
    /// The grantee's key (name+id+base64).
    pub grantee: String,
    pub label: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub revoked: bool,
    pub expired: bool,
}

/// Issues a grant: gives it a fresh id and an expiry `request.expires_in` from now (by the
/// database's clock), signs it with `issuer`, stores it, and returns it with its signed note (the
/// grant to hand the grantee).
pub async fn issue_grant(
    client: &Client,
    request: &GrantRequest,
    issuer: &NoteSignerKey,
) -> Result<(Grant, String), RegistryError> {
    crate::access::check_sites(client, &request.sites).await?;
    let seconds = crate::access::expiry_seconds(request.expires_in)?;
    let now: i64 = client
        .query_one("SELECT extract(epoch FROM now())::bigint", &[])
        .await?
        .get(0);
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|error| RegistryError::Random(error.to_string()))?;
    let mut sites: Vec<String> = request
        .sites
        .iter()
        .map(|site| site.as_str().to_owned())
        .collect();
    sites.sort_unstable();
    sites.dedup();
    let mut permissions = match request.permissions.is_empty() {
        true => Permission::ALL.to_vec(),
        false => request.permissions.clone(),
    };
    permissions.sort_unstable();
    permissions.dedup();
    let grant = Grant {
        id: epcis::hex::encode_lower(&id),
        grantee: request.grantee.clone(),
        role: request.role,
        sites,
        permissions,
        expires: u64::try_from(now.saturating_add(seconds)).unwrap_or(u64::MAX),
    };
    let note = grant
        .sign(issuer)
        .map_err(|error| RegistryError::Invalid(error.to_string()))?;
    let permission_names: Vec<&str> = grant.permissions.iter().map(|p| p.as_str()).collect();
    client
        .execute(
            "INSERT INTO access_grants
                 (grant_id, role, sites, permissions, grantee, note, label, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8::bigint))",
            &[
                &grant.id,
                &grant.role.as_str(),
                &grant.sites,
                &permission_names,
                &grant.grantee.to_string(),
                &note,
                &request.label,
                &i64::try_from(grant.expires).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    Ok((grant, note))
}

/// The grant with id `id` as stored, if there is one.
pub async fn grant_by_id(
    client: &deadpool_postgres::Client,
    id: &TokenId,
) -> Result<Option<StoredGrant>, ReadError> {
    let statement = client
        .prepare_cached(
            "SELECT g.note, r.grant_id IS NOT NULL, g.expires_at <= now()
             FROM access_grants g LEFT JOIN access_grant_revocations r USING (grant_id)
             WHERE g.grant_id = $1",
        )
        .await?;
    Ok(client
        .query_opt(&statement, &[&id.as_str()])
        .await?
        .map(|row| StoredGrant {
            note: row.get(0),
            revoked: row.get(1),
            expired: row.get(2),
        }))
}

/// What a grant (its signature already checked) gives, as an access.
pub fn access_of_grant(grant: &Grant) -> Result<Access, ReadError> {
    let sites = grant
        .sites
        .iter()
        .map(|site| {
            SiteId::parse(site).map_err(|error| ReadError::Corrupt {
                what: "access grant",
                reason: error.to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Access {
        token: TokenId::parse(&grant.id).map_err(|error| ReadError::Corrupt {
            what: "access grant",
            reason: error.to_string(),
        })?,
        role: grant.role,
        sites,
        expires_at: i64::try_from(grant.expires).ok(),
        permissions: grant.permissions.clone(),
    })
}

/// Revokes a grant for good.
pub async fn revoke_grant(client: &Client, id: &TokenId) -> Result<(), RegistryError> {
    crate::admin::revoke(
        client,
        "access_grants",
        "access_grant_revocations",
        "grant_id",
        id,
    )
    .await
}

/// Every grant, oldest first.
pub async fn list_grants(client: &Client) -> Result<Vec<GrantInfo>, RegistryError> {
    let rows = client
        .query(
            "SELECT g.grant_id, g.role, g.sites, g.permissions, g.grantee, g.label,
                    to_char(g.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    r.grant_id IS NOT NULL, g.expires_at <= now()
             FROM access_grants g LEFT JOIN access_grant_revocations r USING (grant_id)
             ORDER BY g.issued_at, g.grant_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| GrantInfo {
            id: row.get(0),
            role: row.get(1),
            sites: row.get(2),
            permissions: row.get(3),
            grantee: row.get(4),
            label: row.get(5),
            expires_at: row.get(6),
            revoked: row.get(7),
            expired: row.get(8),
        })
        .collect())
}
