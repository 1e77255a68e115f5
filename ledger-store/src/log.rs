//! The store's two faces, [`Writer`] and [`Reader`], and the [`Log`] both read: the tree size, tiles,
//! roots and proofs computed from tiles, checkpoints and entries.

use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use ledger::hash::RootHash;
use ledger::size::{LeafIndex, TreeSize};
use ledger::tiles::{NodeNotInTree, Tile, TileError, TileId, TileSet, tiles_for_nodes};
use ledger::tree::{ConsistencyProof, InclusionProof, ProofPlan, ProofPlanError, WrongHashCount};

use super::generations::Generations;
use super::keys::KeyHandoff;
use super::lookup::FixedEntry;
use super::packs;
use super::run_cache::{DEFAULT_CACHED_LOOKUPS, RunCache};
use super::run_filters::{DEFAULT_FILTER_BYTES, LookupFilterStatus, RunFilters};
use super::tile_cache::{CacheCounts, DEFAULT_CACHED_TILES, TILE_CACHE_BYTES_PER_TILE, TileCache};

/// How many entries a [`Reader`] keeps (about 1 KB each: their records and event texts).
const DEFAULT_CACHED_ENTRIES: usize = 32_768;
/// How many bytes of event text a [`Reader`] keeps at most: events are written by clients,
/// up to ingest's per-event limit each, and must not make the cache hold more than this.
const DEFAULT_CACHED_ENTRY_BYTES: usize = 64 << 20;
/// The largest entry a [`Reader`] keeps (its event text and record): larger ones are read
/// each time they are asked for. Without this, one client asking for histories of a few hundred
/// large events would push every other client's entries out of the cache, and their answers
/// would all read the database again.
const MAX_CACHED_ENTRY_BYTES: usize = 64 << 10;

/// How many connections a face opens at most when built by [`Writer::connect`] or
/// [`Reader::connect`].
const DEFAULT_POOL_SIZE: usize = 8;

/// The session settings of every [`Writer`] connection (see [`session_settings`]).
const SESSION_SETTINGS: &str =
    "-c plan_cache_mode=force_custom_plan -c max_parallel_workers_per_gather=0";

/// Adds the writing face's session settings to `config`'s options (after any it has, so they win):
///
/// - `plan_cache_mode=force_custom_plan`: the store's queries take arrays whose best plan depends
///   on their length and on table sizes that change fast: plan each execution rather than reuse a
///   generic plan made when a table looked empty.
/// - `max_parallel_workers_per_gather=0`: no parallel plans. The store's queries read a few index
///   ranges, and a parallel scan chosen from a poor row estimate (a fresh table of event packs,
///   not analyzed yet) cost the sequencer's reads of other processes' appends several
///   milliseconds of worker start-up each (four appending processes on one database ran at
///   15,000 to 52,000 events/s with parallel plans allowed, depending on the query's shape, and
///   at 50,000 to 54,000 without; ledger-bench row 6, BENCHMARKS.md).
pub fn session_settings(config: &mut tokio_postgres::Config) {
    add_options(config, SESSION_SETTINGS);
}

/// The session settings of the reading face ([`Reader::build`]).
const READER_SESSION_SETTINGS: &str = "-c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0 -c default_transaction_read_only=on";

/// Adds the reading face's session settings to `config`'s options (after any it has,
/// so they win):
///
/// - `plan_cache_mode=force_generic_plan`: a reader asks the same few queries thousands of times a
///   second with small arrays (the leaves of one history), on tables that only grow: cached
///   generic plans serve them, where planning every execution halved the rate of the lookup and
///   entry queries (pgbench on a 1,000,000-entry ledger, BENCHMARKS.md "trace-api"). `auto` is
///   not enough: it compares the generic plan's estimate with the custom plans' and, for the
///   lookup query (whose arrays a custom plan sees as constants, estimated small), went on planning
///   every execution: planning was then most of PostgreSQL's time, and trace-api answered 2.7 times
///   fewer histories of items never asked about (10,000,000 entries, BENCHMARKS.md).
/// - `max_parallel_workers_per_gather=0`, as for appenders.
/// - `default_transaction_read_only=on`: nothing a reader runs can write, whatever its role may do.
pub fn reader_session_settings(config: &mut tokio_postgres::Config) {
    add_options(config, READER_SESSION_SETTINGS);
}

fn add_options(config: &mut tokio_postgres::Config, settings: &str) {
    let options = match config.get_options() {
        Some(given) => format!("{given} {settings}"),
        None => settings.to_owned(),
    };
    config.options(options);
}

/// How a face's pool opens and hands out connections.
pub struct PoolSettings {
    /// The most connections open at once (at least 1).
    pub max_size: usize,
    /// How long opening a connection, waiting for a free one and checking one before reuse may
    /// take (`None`: no limit).
    pub timeout: Option<std::time::Duration>,
    /// How connections are opened (`None`: on the calling task's runtime, without TLS).
    pub connect: Option<Box<dyn deadpool_postgres::Connect>>,
}

/// A boxed [`deadpool_postgres::Connect`] as one.
struct BoxedConnect(Box<dyn deadpool_postgres::Connect>);

impl deadpool_postgres::Connect for BoxedConnect {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        self.0.connect(config)
    }
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_POOL_SIZE,
            timeout: None,
            connect: None,
        }
    }
}

impl std::fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolSettings")
            .field("max_size", &self.max_size)
            .field("timeout", &self.timeout)
            .field("connect", &self.connect.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// The narrowest stored version of each tile asked for that is at least as wide as asked (a later,
/// wider version has the same hashes in front).
const SELECT_TILES: &str = "
    SELECT DISTINCT ON (t.level, t.tile_index) t.level, t.tile_index, t.hashes
    FROM unnest($1::smallint[], $2::bigint[], $3::smallint[]) AS want(level, tile_index, width)
    JOIN tiles t
      ON t.level = want.level AND t.tile_index = want.tile_index AND t.width >= want.width
    ORDER BY t.level, t.tile_index, t.width";

/// The log as both faces of the store read it: the tree's size, its tiles, roots and proofs,
/// its checkpoints and signing keys, and the ledger's status, over the face's own connection pool
/// (with that face's session settings) and a cache of the tiles read for proofs (stored tiles
/// never change). It is reached through a [`Writer`] or a [`Reader`], which both dereference to
/// it, and is never built on its own.
#[derive(Clone)]
pub struct Log {
    pool: Pool,
    /// Tiles read for proofs, kept for the next ones (stored tiles never change).
    tile_cache: Arc<TileCache>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// The writing face of the store, for the processes that append (ingest) and the operator's tools
/// (audit, export): what a [`Sequencer`](super::Sequencer), a
/// [`Checkpointer`](super::Checkpointer) and an [`Indexer`](super::Indexer) are made from, and
/// the [`Log`] reads they need. Its connections get the appenders' session settings
/// ([`session_settings`]). It keeps no entries and no lookup answers: reading entries and lookups
/// is the [`Reader`]'s.
#[derive(Clone)]
pub struct Writer {
    log: Log,
    /// Lookup keys of committed entries, from this writer's sequencers to its indexer.
    handoff: Arc<KeyHandoff>,
}

/// The reading face of the store, for the services that answer from the log (trace-api, the
/// anchor worker's view of the checkpoints) and the CLI's reading commands: every [`Log`] read,
/// and entries, device batches, lookups by event hash, EPC, parent, location and time, entry
/// bundles and the confirmed anchors. Its connections get the reader's session settings
/// ([`reader_session_settings`], read-only transactions among them), and it keeps what never
/// changes of what it read: entries (all but their declarations), the lookup runs' answers, and
/// Bloom filters of the runs.
#[derive(Clone)]
pub struct Reader {
    log: Log,
    /// What each lookup run answered, kept for the next lookups (runs never change).
    run_cache: Arc<RunCache>,
    /// The entries read, without their declarations (nothing else of an entry changes).
    entry_cache: Arc<Generations<u64, Arc<FixedEntry>>>,
    /// Bloom filters of the lookup runs, so that lookups skip runs that hold nothing (`None`:
    /// turned off).
    run_filters: Option<Arc<RunFilters>>,
}

// Both print their pool only: the writer's hand-off may hold thousands of entries' keys.
impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pool", &self.log.pool.status())
            .finish()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("pool", &self.log.pool.status())
            .finish()
    }
}

impl std::ops::Deref for Writer {
    type Target = Log;

    fn deref(&self) -> &Log {
        &self.log
    }
}

impl std::ops::Deref for Reader {
    type Target = Log;

    fn deref(&self) -> &Log {
        &self.log
    }
}

/// Why a store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the database URL is not a valid PostgreSQL connection string")]
    InvalidUrl(#[source] tokio_postgres::Error),
    #[error("failed to build the connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
}

/// Why something could not be read from the store.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
    #[error("a stored {what} is malformed: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// The work was dropped before it finished (the process is stopping).
    #[error("reading stopped before it finished")]
    Stopped,
}

impl From<deadpool_postgres::PoolError> for ReadError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Pool(error)
    }
}

impl From<tokio_postgres::Error> for ReadError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Query(error)
    }
}

/// Why a proof or a root could not be computed from the stored tiles.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Plan(#[from] ProofPlanError),
    #[error(transparent)]
    NotInTree(#[from] NodeNotInTree),
    #[error("the log has no tile {tile:?} yet: the tree is smaller than {size} leaves")]
    BeyondTree { tile: TileId, size: TreeSize },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    WrongHashCount(#[from] WrongHashCount),
}

/// A pool opening connections with `config` and `settings`.
fn open_pool(config: tokio_postgres::Config, settings: PoolSettings) -> Result<Pool, ConnectError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match settings.connect {
        Some(connect) => Manager::from_connect(config, BoxedConnect(connect), manager_config),
        None => Manager::from_config(config, NoTls, manager_config),
    };
    let mut builder = Pool::builder(manager).max_size(settings.max_size.max(1));
    if let Some(timeout) = settings.timeout {
        builder = builder
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(timeout))
            .wait_timeout(Some(timeout))
            .recycle_timeout(Some(timeout));
    }
    builder.build().map_err(ConnectError::Pool)
}

/// The configuration of a pool of `size` connections to the database at `url`.
fn url_settings(
    url: &str,
    size: usize,
) -> Result<(tokio_postgres::Config, PoolSettings), ConnectError> {
    let config = tokio_postgres::Config::from_str(url).map_err(ConnectError::InvalidUrl)?;
    let settings = PoolSettings {
        max_size: size,
        ..PoolSettings::default()
    };
    Ok((config, settings))
}

impl Writer {
    /// A writer on the database at `url` (`postgres://user:password@host:port/database`), with a
    /// pool of up to 8 connections opened on demand. No TLS: the database is expected on a
    /// trusted network.
    pub fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with_pool_size(url, DEFAULT_POOL_SIZE)
    }

    /// Like [`connect`](Self::connect) with another pool size.
    pub fn connect_with_pool_size(url: &str, size: usize) -> Result<Self, ConnectError> {
        let (config, settings) = url_settings(url, size)?;
        Self::build(config, settings)
    }

    /// A writer whose pool opens connections with `config` and `settings`, each with the
    /// appenders' session settings ([`session_settings`]).
    pub fn build(
        mut config: tokio_postgres::Config,
        settings: PoolSettings,
    ) -> Result<Self, ConnectError> {
        session_settings(&mut config);
        Ok(Self {
            log: Log::new(open_pool(config, settings)?),
            handoff: Arc::default(),
        })
    }

    /// Where this writer's sequencers hand the lookup keys of committed entries to its indexer.
    pub(crate) fn handoff(&self) -> &Arc<KeyHandoff> {
        &self.handoff
    }
}

impl Reader {
    /// A reader on the database at `url`, with a pool of up to 8 connections opened on demand
    /// (no TLS, as for [`Writer::connect`]).
    pub fn connect(url: &str) -> Result<Self, ConnectError> {
        let (config, settings) = url_settings(url, DEFAULT_POOL_SIZE)?;
        Self::build(config, settings)
    }

    /// A reader whose pool opens connections with `config` and `settings`, each with the reader's
    /// session settings ([`reader_session_settings`]), read-only transactions among them. It
    /// keeps the entries it reads (all of an entry but its declarations never changes; a row
    /// changed behind the log's back is the audit's to find).
    pub fn build(
        mut config: tokio_postgres::Config,
        settings: PoolSettings,
    ) -> Result<Self, ConnectError> {
        reader_session_settings(&mut config);
        Ok(Self {
            log: Log::new(open_pool(config, settings)?),
            run_cache: Arc::new(RunCache::new(DEFAULT_CACHED_LOOKUPS)),
            entry_cache: Arc::new(
                Generations::weighed(
                    DEFAULT_CACHED_ENTRIES,
                    DEFAULT_CACHED_ENTRY_BYTES,
                    |entry: &Arc<FixedEntry>| entry.cached_bytes(),
                )
                .holding_at_most(MAX_CACHED_ENTRY_BYTES),
            ),
            run_filters: Some(Arc::new(RunFilters::new(DEFAULT_FILTER_BYTES))),
        })
    }

    /// The same reader with Bloom filters of the lookup runs taking at most about `bytes` bytes
    /// (by default 512 MiB; 0 turns them off).
    pub fn with_lookup_filter_bytes(mut self, bytes: usize) -> Self {
        self.run_filters = (bytes > 0).then(|| Arc::new(RunFilters::new(bytes)));
        self
    }

    /// The same reader with a tile cache of at most about `bytes` bytes
    /// ([`TILE_CACHE_BYTES_PER_TILE`] per tile; by default 4,096 tiles, 66 MiB). Tiles never
    /// change, so a cache that holds every full tile of the log serves monitors and proofs
    /// without reading them again: level 0 alone is 3,907 tiles (32 MB of hashes) per million
    /// entries, budgeted here as about 64 MiB. The cache keeps at least the most recently used
    /// half of its budget ([`Generations`]).
    pub fn with_tile_cache_bytes(mut self, bytes: usize) -> Self {
        let tiles = (bytes / TILE_CACHE_BYTES_PER_TILE).max(2);
        self.log.tile_cache = Arc::new(TileCache::new(tiles));
        self
    }

    /// The entries kept in memory now (their event text and a record's worth each).
    pub fn entry_cache_size(&self) -> crate::CacheSize {
        crate::CacheSize {
            entries: self.entry_cache.len(),
            bytes: self.entry_cache.bytes(),
        }
    }

    /// How often entries were read from the cache.
    pub fn entry_cache_counts(&self) -> CacheCounts {
        self.entry_cache.counts()
    }

    /// How often lookups found a run's answer in memory (hits) or read its pages (misses).
    pub fn lookup_cache_counts(&self) -> CacheCounts {
        self.run_cache.counts()
    }

    /// How far the run filters are built (nothing when they are turned off).
    pub fn lookup_filter_status(&self) -> LookupFilterStatus {
        self.run_filters
            .as_ref()
            .map_or_else(LookupFilterStatus::default, |filters| filters.status())
    }

    /// How many (run, key) probes of lookups the run filters spared (hits) and how many runs were
    /// asked (misses).
    pub fn lookup_filter_counts(&self) -> CacheCounts {
        self.run_filters
            .as_ref()
            .map_or_else(CacheCounts::default, |filters| filters.counts())
    }

    pub(crate) fn run_cache(&self) -> &RunCache {
        &self.run_cache
    }

    pub(crate) fn run_filters(&self) -> Option<&Arc<RunFilters>> {
        self.run_filters.as_ref()
    }

    pub(crate) fn entry_cache(&self) -> &Generations<u64, Arc<FixedEntry>> {
        &self.entry_cache
    }
}

impl Log {
    fn new(pool: Pool) -> Self {
        Self {
            pool,
            tile_cache: Arc::new(TileCache::new(DEFAULT_CACHED_TILES)),
        }
    }

    /// The connection pool: this crate's alone, so that no other crate runs SQL on the
    /// ledger's tables.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection of the face's pool, with its session settings, for tests and benchmark
    /// drivers that look at the ledger's tables with SQL of their own (built with the `testing`
    /// feature only: no service can reach the pool).
    #[cfg(feature = "testing")]
    pub async fn test_client(
        &self,
    ) -> Result<deadpool_postgres::Object, deadpool_postgres::PoolError> {
        self.pool.get().await
    }

    /// What the connection pool holds and who waits for it (for the services' pool gauges).
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// The number of committed entries.
    pub async fn tree_size(&self) -> Result<TreeSize, ReadError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(packs::TREE_SIZE).await?;
        let size: i64 = client.query_one(&statement, &[]).await?.get(0);
        tree_size_from_db(size)
    }

    /// The tiles asked for, each at exactly the width asked for; a tile the log does not have (at
    /// that width) is left out of the result.
    pub async fn tiles(&self, ids: &[TileId]) -> Result<Vec<Tile>, ReadError> {
        // A tile at a given width never changes: the cache serves what it holds.
        let (mut tiles, missing) = self.tile_cache.split(ids);
        if !missing.is_empty() {
            let client = self.pool.get().await?;
            let read = read_tiles(&client, &missing).await?;
            self.tile_cache.insert(&read);
            tiles.extend(read);
        }
        Ok(tiles)
    }

    /// How often the tile cache answered tile reads and proofs from memory.
    pub fn tile_cache_counts(&self) -> CacheCounts {
        self.tile_cache.counts()
    }

    /// The tiles kept in memory now.
    pub fn tile_cache_size(&self) -> crate::CacheSize {
        self.tile_cache.size()
    }

    /// One tile at the width asked for (the C2SP tlog-tiles `tile/<L>/<N>[.p/<W>]` resource), or
    /// `None` if the log has not grown that far.
    pub async fn tile(&self, id: TileId) -> Result<Option<Tile>, ReadError> {
        Ok(self.tiles(&[id]).await?.pop())
    }

    /// The root hash of the tree of `size` leaves, computed from the stored tiles.
    pub async fn root_hash(&self, size: TreeSize) -> Result<RootHash, ProofError> {
        let client = self.pool.get().await.map_err(ReadError::from)?;
        root_hash_at(&client, size).await
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves, from the stored tiles
    /// (one query).
    pub async fn inclusion_proof(
        &self,
        index: LeafIndex,
        size: TreeSize,
    ) -> Result<InclusionProof, ProofError> {
        let plan = ProofPlan::inclusion(index, size)?;
        let client = self.pool.get().await.map_err(ReadError::from)?;
        let hashes = read_plan(&client, &plan, size, Some(&self.tile_cache)).await?;
        Ok(InclusionProof::new(index, size, hashes))
    }

    /// The inclusion proofs of leaves `indexes` in the tree of `size` leaves, in the given order,
    /// from the stored tiles: one query for the tiles of all of them that the tile cache does not
    /// hold (a provenance bundle's events share the upper tiles).
    pub async fn inclusion_proofs(
        &self,
        indexes: &[LeafIndex],
        size: TreeSize,
    ) -> Result<Vec<InclusionProof>, ProofError> {
        let plans = indexes
            .iter()
            .map(|&index| ProofPlan::inclusion(index, size))
            .collect::<Result<Vec<_>, _>>()?;
        let mut nodes: Vec<ledger::tree::NodeId> = plans
            .iter()
            .flat_map(|plan| plan.nodes().iter().copied())
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.is_empty() {
            return Ok(plans
                .iter()
                .zip(indexes)
                .map(|(_, &index)| InclusionProof::new(index, size, Vec::new()))
                .collect());
        }
        let client = self.pool.get().await.map_err(ReadError::from)?;
        let set = read_node_tiles(&client, &nodes, size, Some(&self.tile_cache)).await?;
        plans
            .iter()
            .zip(indexes)
            .map(|(plan, &index)| {
                let hashes = plan_hashes(&set, plan, size)?;
                Ok(InclusionProof::new(index, size, plan.assemble(&hashes)?))
            })
            .collect()
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` leaves, from the
    /// stored tiles (one query).
    pub async fn consistency_proof(
        &self,
        old: TreeSize,
        new: TreeSize,
    ) -> Result<ConsistencyProof, ProofError> {
        let plan = ProofPlan::consistency(old, new)?;
        let client = self.pool.get().await.map_err(ReadError::from)?;
        let hashes = read_plan(&client, &plan, new, Some(&self.tile_cache)).await?;
        Ok(ConsistencyProof::new(old, new, hashes))
    }
}

/// Converts a size read from the database.
pub(crate) fn tree_size_from_db(size: i64) -> Result<TreeSize, ReadError> {
    u64::try_from(size)
        .ok()
        .and_then(|size| TreeSize::new(size).ok())
        .ok_or_else(|| ReadError::Corrupt {
            what: "tree size",
            reason: format!("{size} is not a tree size"),
        })
}

/// Reads the tiles asked for, each cut to the width asked for; absent ones are left out.
pub(crate) async fn read_tiles<C: GenericClient>(
    client: &C,
    ids: &[TileId],
) -> Result<Vec<Tile>, ReadError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level())).collect();
    let indexes: Vec<i64> = ids.iter().map(|id| index_to_db(id.index())).collect();
    let widths: Vec<i16> = ids.iter().map(|id| width_to_db(id.width())).collect();
    let statement = client.prepare_cached(SELECT_TILES).await?;
    let rows = client
        .query(&statement, &[&levels, &indexes, &widths])
        .await?;
    let mut tiles = Vec::with_capacity(rows.len());
    for row in rows {
        let level: i16 = row.get(0);
        let index: i64 = row.get(1);
        let bytes: &[u8] = row.get(2);
        let wanted = ids
            .iter()
            .find(|id| i16::from(id.level()) == level && index_to_db(id.index()) == index)
            .copied()
            .ok_or_else(|| ReadError::Corrupt {
                what: "tile",
                reason: format!("tile ({level}, {index}) was not asked for"),
            })?;
        let needed = usize::from(wanted.width()) * ledger::hash::HASH_LEN;
        let prefix = bytes.get(..needed).ok_or_else(|| ReadError::Corrupt {
            what: "tile",
            reason: format!("{wanted:?} is shorter than its width"),
        })?;
        let tile =
            Tile::from_bytes(wanted, prefix).map_err(|error: TileError| ReadError::Corrupt {
                what: "tile",
                reason: error.to_string(),
            })?;
        tiles.push(tile);
    }
    Ok(tiles)
}

/// Reads every node of a plan (for the tree of `size` leaves) from the tiles (those not in `cache`
/// in one query) and folds them into the proof's hashes.
pub(crate) async fn read_plan<C: GenericClient>(
    client: &C,
    plan: &ProofPlan,
    size: TreeSize,
    cache: Option<&TileCache>,
) -> Result<Vec<ledger::hash::Hash>, ProofError> {
    if plan.nodes().is_empty() {
        return Ok(Vec::new());
    }
    let set = read_node_tiles(client, plan.nodes(), size, cache).await?;
    let hashes = plan_hashes(&set, plan, size)?;
    Ok(plan.assemble(&hashes)?)
}

/// Reads the tiles holding `nodes` in the tree of `size` leaves (those not in `cache` in one
/// query).
async fn read_node_tiles<C: GenericClient>(
    client: &C,
    nodes: &[ledger::tree::NodeId],
    size: TreeSize,
    cache: Option<&TileCache>,
) -> Result<TileSet, ProofError> {
    let ids = tiles_for_nodes(nodes, size)?;
    let tiles = match cache {
        Some(cache) => {
            let (mut tiles, missing) = cache.split(&ids);
            let read = read_tiles(client, &missing).await?;
            cache.insert(&read);
            tiles.extend(read);
            tiles
        }
        None => read_tiles(client, &ids).await?,
    };
    if tiles.len() != ids.len() {
        let found: Vec<TileId> = tiles.iter().map(Tile::id).collect();
        let missing = ids
            .iter()
            .find(|id| !found.contains(id))
            .copied()
            .unwrap_or(ids[0]);
        return Err(ProofError::BeyondTree {
            tile: missing,
            size,
        });
    }
    Ok(TileSet::from(tiles))
}

/// The hashes of a plan's nodes, from tiles read for the tree of `size` leaves.
fn plan_hashes(
    set: &TileSet,
    plan: &ProofPlan,
    size: TreeSize,
) -> Result<Vec<ledger::hash::Hash>, ProofError> {
    plan.nodes()
        .iter()
        .map(|&node| {
            // Every tile the nodes need was read at the width the tree of `size` gives it.
            set.node_hash(node)
                .map_err(|_| ProofError::NotInTree(NodeNotInTree { node, size }))
        })
        .collect()
}

/// The root of the tree of `size` leaves from the stored tiles.
pub(crate) async fn root_hash_at<C: GenericClient>(
    client: &C,
    size: TreeSize,
) -> Result<RootHash, ProofError> {
    let plan = ProofPlan::root(size);
    // Roots are read to be checked or signed: from the rows as they are now, not from a cache.
    let hashes = read_plan(client, &plan, size, None).await?;
    Ok(hashes
        .first()
        .map_or_else(RootHash::empty, |hash| RootHash::from_hash(*hash)))
}

/// A tile index as stored (`bigint`); tile indexes are below 2^55, so this never saturates.
pub(crate) fn index_to_db(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

/// A tile width as stored (`smallint`, 1 to 256).
pub(crate) fn width_to_db(width: u16) -> i16 {
    i16::try_from(width).unwrap_or(i16::MAX)
}
