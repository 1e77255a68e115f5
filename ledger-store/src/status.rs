//! What services read of the store besides proofs: the ledger's gauges for metrics, the events at
//! given leaves (receipts read back), and whether the database has this build's migrations.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use deadpool_postgres::GenericClient as _;
use epcis::EventHash;
use ledger::size::{LeafIndex, TreeSize};

use super::entry::Declares;
use super::log::{Log, ReadError};
use super::migrate::embedded_migrations;
use super::packs;

/// The ledger's gauges, read in one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerStatus {
    /// Entries committed.
    pub entries: TreeSize,
    /// The size of the newest signed checkpoint (`None`: none signed yet).
    pub checkpoint: Option<TreeSize>,
    /// How long ago the newest checkpoint was signed, by the database's clock.
    pub checkpoint_age: Option<Duration>,
    /// Entries whose lookups are indexed (the lookup runs reach this far).
    pub indexed: u64,
    /// Live lookup runs (merging keeps this small).
    pub lookup_runs: u64,
}

static SELECT_STATUS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT ({}),
                c.tree_size,
                extract(epoch FROM now() - c.signed_at)::float8,
                (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs),
                (SELECT count(*) FROM lookup_runs)
         FROM (SELECT 1) AS one
         LEFT JOIN (SELECT tree_size, signed_at FROM checkpoints
                    ORDER BY tree_size DESC, index_size DESC LIMIT 1) c
             ON true",
        packs::TREE_SIZE
    )
});

/// One entry as receipts show it: its event hash, its event's `eventID`, if it has one, and the
/// entry it declares erroneous, if it is an error declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySummary {
    /// The entry's CBV 2.0 event hash (for a declaration, that of the event it declares).
    pub event_hash: EventHash,
    /// The event's `eventID`.
    pub event_id: Option<String>,
    /// For an error declaration: what it declares erroneous.
    pub declares: Option<Declares>,
}

/// The entries of `EVENTS_AT`, each with the row of `error_declarations` naming it a declaration.
static SUMMARIES_AT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT e.leaf, coalesce(d.event_hash, e.event_hash), e.event, d.declared_leaf,
                d.declaration_leaf IS NOT NULL
         FROM ({}) e (leaf, event_hash, event)
         LEFT JOIN error_declarations d ON d.declaration_leaf = e.leaf",
        packs::EVENTS_AT
    )
});

/// Whether the database has every migration this build embeds, unchanged.
#[derive(Debug, thiserror::Error)]
pub enum MigrationStatusError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("the migrations cannot be read")]
    Query(#[source] tokio_postgres::Error),
    #[error("migration {0} is not applied: run `tagtrail migrate`")]
    Missing(String),
    #[error("migration {0} was applied with different contents")]
    Changed(String),
}

impl Log {
    /// The ledger's gauges.
    pub async fn status(&self) -> Result<LedgerStatus, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(&SELECT_STATUS).await?;
        let row = client.query_one(&statement, &[]).await?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        let size = |value: i64| {
            TreeSize::new(count(value)).map_err(|error| ReadError::Corrupt {
                what: "tree size",
                reason: error.to_string(),
            })
        };
        let entries: i64 = row.get(0);
        let checkpoint: Option<i64> = row.get(1);
        let age: Option<f64> = row.get(2);
        Ok(LedgerStatus {
            entries: size(entries)?,
            checkpoint: checkpoint.map(size).transpose()?,
            checkpoint_age: age
                .filter(|age| age.is_finite() && *age >= 0.0)
                .map(Duration::from_secs_f64),
            indexed: count(row.get(3)),
            lookup_runs: count(row.get(4)),
        })
    }

    /// The event hash and `eventID` of each entry of `leaves` that the log has, in one statement.
    pub async fn entry_summaries(
        &self,
        leaves: &[LeafIndex],
    ) -> Result<HashMap<LeafIndex, EntrySummary>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(&SUMMARIES_AT).await?;
        let wanted: Vec<i64> = leaves
            .iter()
            .map(|leaf| i64::try_from(leaf.get()).unwrap_or(i64::MAX))
            .collect();
        let mut found = HashMap::with_capacity(leaves.len());
        for row in client.query(&statement, &[&wanted]).await? {
            let leaf: i64 = row.get(0);
            let hash: &[u8] = row.get(1);
            let event: &str = row.get(2);
            let hash = <[u8; 32]>::try_from(hash).map_err(|_| ReadError::Corrupt {
                what: "event hash",
                reason: format!("entry {leaf}: not 32 bytes"),
            })?;
            let event_id =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(event)
                    .ok()
                    .and_then(|event| {
                        event
                            .get("eventID")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    });
            let declared: Option<i64> = row.get(3);
            let is_declaration: bool = row.get(4);
            let index = |leaf: i64| {
                u64::try_from(leaf)
                    .ok()
                    .and_then(|leaf| LeafIndex::new(leaf).ok())
                    .ok_or_else(|| ReadError::Corrupt {
                        what: "leaf index",
                        reason: format!("{leaf} is not a leaf index"),
                    })
            };
            found.insert(
                index(leaf)?,
                EntrySummary {
                    event_hash: EventHash::from_bytes(hash),
                    event_id,
                    declares: Declares::of_row(is_declaration, declared.map(index).transpose()?),
                },
            );
        }
        Ok(found)
    }

    /// `Ok` when every migration this build embeds is applied with the same checksum. Migrations
    /// newer than this build (a rolling upgrade) are fine: migrations are forward-only and additive.
    pub async fn migration_status(&self) -> Result<(), MigrationStatusError> {
        let client = self
            .pool()
            .get()
            .await
            .map_err(MigrationStatusError::Pool)?;
        let rows = client
            .query("SELECT version, checksum FROM refinery_schema_history", &[])
            .await
            .map_err(MigrationStatusError::Query)?;
        let applied: Vec<(i32, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        migrations_current(&applied)
    }
}

/// Whether every embedded migration is among `applied` (version, checksum) with its checksum.
fn migrations_current(applied: &[(i32, String)]) -> Result<(), MigrationStatusError> {
    for migration in embedded_migrations() {
        let version = migration.version();
        let name = format!("V{}__{}", migration.version(), migration.name());
        match applied.iter().find(|(v, _)| *v == version) {
            None => return Err(MigrationStatusError::Missing(name)),
            Some((_, checksum)) if *checksum != migration.checksum().to_string() => {
                return Err(MigrationStatusError::Changed(name));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_changed_migration_is_not_current() {
        let all: Vec<(i32, String)> = embedded_migrations()
            .iter()
            .map(|m| (m.version(), m.checksum().to_string()))
            .collect();
        assert!(!all.is_empty());
        assert!(migrations_current(&all).is_ok());
        assert!(matches!(
            migrations_current(&all[..all.len() - 1]),
            Err(MigrationStatusError::Missing(_))
        ));
        let mut changed = all.clone();
        changed[0].1.push('0');
        assert!(matches!(
            migrations_current(&changed),
            Err(MigrationStatusError::Changed(_))
        ));
    }
}
