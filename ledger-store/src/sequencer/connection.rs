//! The appending task's connections and the statements they run, prepared once.

use std::sync::{Arc, LazyLock};

use deadpool_postgres::Object;
use tokio_postgres::Statement;

use crate::log::Writer;
use crate::packs;

use super::handle::AppendError;

pub(super) const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// The turn lock is held for the session, so that it outlives the transactions of a chain.
pub(super) const LOCK_TURN: &str = "SELECT pg_advisory_lock($1)";
pub(super) const UNLOCK_TURN: &str = "SELECT pg_advisory_unlock($1)";
/// Whether some session of this database waits for the advisory lock `$1` (a `bigint` key shows
/// in `pg_locks` as its high and low 32 bits, with `objsubid` 1).
pub(super) const WAITING_FOR: &str = "
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
          AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";
/// Where the lookup runs end (every entry below is in them) and the tree size.
pub(super) static SELECT_STATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs), ({})",
        packs::TREE_SIZE
    )
});
pub(super) const COPY_EVENTS: &str =
    "COPY event_packs (first_leaf, event_hashes, events) FROM STDIN BINARY";
/// The packs of the entries from leaf `$1` on, whose event hashes are `$2` (concatenated) and
/// events `$3`: pack `k` holds positions `$4[k]..$5[k]`.
pub(super) const INSERT_EVENTS: &str = "
    INSERT INTO event_packs (first_leaf, event_hashes, events)
    SELECT $1::bigint + p.lo, substring($2::bytea FROM 32 * p.lo + 1 FOR 32 * (p.hi - p.lo)),
           ($3::text[])[p.lo + 1:p.hi]
    FROM unnest($4::integer[], $5::integer[]) AS p(lo, hi)";
pub(super) const INSERT_BUNDLES: &str = "
    INSERT INTO entry_bundles (bundle_index, first, width, entries)
    SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::smallint[], $4::bytea[])";

pub(super) const INSERT_TILES: &str = "
    INSERT INTO tiles (level, tile_index, width, hashes)
    SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])";
pub(super) const INSERT_BATCHES: &str = "
    INSERT INTO device_batches
        (statement_hash, statement, signature_algorithm, signature, event_hashes, first_leaf_index)
    SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::bytea[], $5::bytea[], $6::bigint[])
    ON CONFLICT (statement_hash) DO NOTHING";
pub(super) const INSERT_DECLARATIONS: &str = "
    INSERT INTO error_declarations (declaration_leaf, declared_leaf, event_hash)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])";
/// The field keys of new entries' sealed values (commitment `$1`, batch key `$2`, wrapped key
/// `$3`, the entry's leaf `$4`), and the envelopes of the batch keys (`$5`, recipient `$6`,
/// sealed batch key `$7`) where a field key of theirs was kept. A commitment an earlier entry
/// holds keeps that entry's keys (a copy of a sealed value gets none of its own), and one that was
/// erased never gets keys again (erasure takes the turn lock, so it never runs between this
/// check and the commit).
pub(super) const INSERT_FIELD_KEYS: &str = "
    WITH kept AS (
        INSERT INTO sealed_field_keys (commitment, grant_id, wrapped, leaf_index)
        SELECT t.c, t.g, t.w, t.leaf
        FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bigint[]) AS t (c, g, w, leaf)
        WHERE NOT EXISTS (SELECT 1 FROM erasures e WHERE e.commitment = t.c)
        ON CONFLICT (commitment) DO NOTHING
        RETURNING grant_id)
    INSERT INTO sealed_grants (grant_id, recipient, sealed_key)
    SELECT e.g, e.r, e.k FROM unnest($5::bytea[], $6::bytea[], $7::bytea[]) AS e (g, r, k)
    WHERE e.g IN (SELECT grant_id FROM kept)
    ON CONFLICT DO NOTHING";

/// A pool connection that never goes back to the pool: dropping it closes it, so that a session
/// inside a transaction or holding the turn lock (after a failure, or when the appending task is
/// dropped) is never handed to another user.
pub(super) struct Owned(Option<Object>);

impl std::ops::Deref for Owned {
    type Target = Object;

    fn deref(&self) -> &Object {
        match &self.0 {
            Some(client) => client,
            None => unreachable!("emptied only when dropped"),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

/// The sequencer's connection and the statements it runs, prepared once so that the statements
/// of one round trip can be sent together (pipelined) in order.
pub(super) struct Connection {
    pub(super) client: Owned,
    /// The process id of its backend, as `pg_locks` shows it.
    pub(super) backend: i32,
    pub(super) lock: Statement,
    pub(super) lock_turn: Statement,
    pub(super) unlock_turn: Statement,
    pub(super) waiting: Statement,
    pub(super) state: Statement,
    pub(super) copy_events: Statement,
    pub(super) insert_events: Statement,
    pub(super) bundles: Statement,
    pub(super) tiles: Statement,
    pub(super) batches: Statement,
    pub(super) declarations: Statement,
    pub(super) field_keys: Statement,
}

impl Connection {
    pub(super) async fn open(store: &Writer) -> Result<Self, AppendError> {
        let client = store
            .pool()
            .get()
            .await
            .map_err(|e| AppendError::Pool(Arc::new(e)))?;
        // Plans for array parameters depend on their length and on table sizes that change fast:
        // plan each execution (a cached generic plan may scan a table it took for empty).
        client
            .batch_execute("SET plan_cache_mode = force_custom_plan")
            .await?;
        let backend: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        Ok(Self {
            backend,
            lock: client.prepare_cached(LOCK).await?,
            lock_turn: client.prepare_cached(LOCK_TURN).await?,
            unlock_turn: client.prepare_cached(UNLOCK_TURN).await?,
            waiting: client.prepare_cached(WAITING_FOR).await?,
            state: client.prepare_cached(&SELECT_STATE).await?,
            copy_events: client.prepare_cached(COPY_EVENTS).await?,
            insert_events: client.prepare_cached(INSERT_EVENTS).await?,
            bundles: client.prepare_cached(INSERT_BUNDLES).await?,
            tiles: client.prepare_cached(INSERT_TILES).await?,
            batches: client.prepare_cached(INSERT_BATCHES).await?,
            declarations: client.prepare_cached(INSERT_DECLARATIONS).await?,
            field_keys: client.prepare_cached(INSERT_FIELD_KEYS).await?,
            client: Owned(Some(client)),
        })
    }
}
