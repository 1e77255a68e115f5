//! Applying the numbered, forward-only SQL migrations of `sql/` (embedded in the binary) with refinery.

use tokio_postgres::Client;

/// The migrations of `sql/`, embedded at compile time.
mod embedded {
    refinery::embed_migrations!("../sql");
}

/// Serialises concurrent migrators of one database (`tagtrail migrate` run twice at once): refinery
/// itself takes no lock. The value is arbitrary but fixed; advisory locks are per database.
const MIGRATION_LOCK: i64 = 0x7461_6774_7261_0003;

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The migrations applied by this run (`V<version>__<name>`), oldest first; empty when the
    /// database was already up to date.
    pub applied: Vec<String>,
    /// The number of migrations the binary knows.
    pub known: usize,
}

/// Why the migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("failed to take the migration lock")]
    Lock(#[source] tokio_postgres::Error),
    #[error("failed to apply the migrations")]
    Apply(#[source] refinery::Error),
}

/// Applies every migration of `sql/` that the database has not applied yet, each in its own
/// transaction, under an advisory lock. Refuses (with an error) a database whose applied migrations
/// differ from the embedded ones (an edited migration: their checksums differ).
pub async fn migrate(client: &mut Client) -> Result<MigrationReport, MigrateError> {
    migrate_up_to(client, None).await
}

/// Applies the migrations up to and including `V<version>` only, as [`migrate`] does: a test of a
/// later migration's conversion of stored data starts from the schema before it.
#[cfg(feature = "testing")]
pub async fn migrate_to_version(
    client: &mut Client,
    version: i32,
) -> Result<MigrationReport, MigrateError> {
    migrate_up_to(client, Some(version)).await
}

async fn migrate_up_to(
    client: &mut Client,
    version: Option<i32>,
) -> Result<MigrationReport, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(MigrateError::Lock)?;
    let target = version.map_or(refinery::Target::Latest, refinery::Target::Version);
    let runner = embedded::migrations::runner()
        .set_target(target)
        .set_abort_divergent(true)
        .set_abort_missing(true);
    let known = runner.get_migrations().len();
    let result = runner.run_async(client).await;
    // The lock is released with the session anyway; releasing it here keeps a pooled client clean.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = result.map_err(MigrateError::Apply)?;
    unlock.map_err(MigrateError::Lock)?;
    Ok(MigrationReport {
        applied: report
            .applied_migrations()
            .iter()
            .map(|m| format!("V{}__{}", m.version(), m.name()))
            .collect(),
        known,
    })
}

/// The migrations this build embeds, oldest first.
pub(crate) fn embedded_migrations() -> Vec<refinery::Migration> {
    embedded::migrations::runner().get_migrations().clone()
}

/// A fingerprint of the embedded migrations (names and SQL): changes whenever a migration is added
/// (or, against the rules, edited). Test harnesses key their template databases on it.
pub fn migrations_fingerprint() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for migration in embedded::migrations::runner().get_migrations() {
        hasher.update(migration.name().as_bytes());
        hasher.update([0]);
        hasher.update(migration.sql().unwrap_or_default().as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}
