//! The worker's state in PostgreSQL (`sql/V10__anchors.sql`): anchors and the transactions signed
//! for them, and the checkpoints it reads.
//!
//! Every change of state is one statement or one transaction, and a transaction is recorded before
//! it is sent, so a worker killed at any moment resumes from these rows: it re-sends what it signed
//! and never signs a second anchor for a checkpoint that has a live one.

use alloy_primitives::{Address, B256};
use deadpool_postgres::Pool;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use ledger_store::StoredCheckpoint;

/// Why the worker's tables could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to get a database connection")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
    #[error("the database holds a malformed anchor row: {0}")]
    Malformed(&'static str),
    #[error("failed to read the log's checkpoints")]
    Checkpoints(#[from] ledger_store::CheckpointStoreError),
    #[error("failed to read the log")]
    Log(#[from] ledger_store::ReadError),
}

/// Which anchors belong together: one chain, one contract, one sending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainKey {
    /// The configured chain's name (metrics label, `tagtrail anchors` column).
    pub name: String,
    pub chain_id: u64,
    pub contract: Address,
    pub sender: Address,
}

/// Where an anchor is in its life (see the migration for each state's meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Pending,
    Included,
    Confirmed,
    Reverted,
    Abandoned,
}

impl State {
    /// Every state, in life order.
    pub const ALL: [State; 5] = [
        State::Pending,
        State::Included,
        State::Confirmed,
        State::Reverted,
        State::Abandoned,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Included => "included",
            State::Confirmed => "confirmed",
            State::Reverted => "reverted",
            State::Abandoned => "abandoned",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or(StoreError::Malformed("unknown state"))
    }
}

/// One anchor row.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    pub id: i64,
    pub chain: String,
    pub chain_id: u64,
    pub contract: Address,
    pub tree_size: u64,
    pub checkpoint: String,
    pub calldata: Vec<u8>,
    pub nonce: u64,
    pub state: State,
    pub tx_hash: Option<B256>,
    pub block_number: Option<u64>,
    pub block_hash: Option<B256>,
    pub gas_used: Option<u64>,
    pub fee_paid_wei: Option<u128>,
    pub proof: Option<Value>,
    pub reorgs: i32,
    /// Seconds since the anchor was created.
    pub age_seconds: f64,
}

/// Connections the worker's reader of the log holds at most: its chains read the newest checkpoint
/// and the lag, a query at a time.
const LOG_CONNECTIONS: usize = 2;

const ANCHOR_COLUMNS: &str = "anchor_id, chain, chain_id, contract, tree_size, checkpoint, calldata,
    nonce, state, tx_hash, block_number, block_hash, gas_used, fee_paid_wei::text, proof::text, reorgs,
    extract(epoch FROM now() - created_at)::float8";

/// One signed transaction of an anchor.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub tx_hash: B256,
    pub raw: Vec<u8>,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// Seconds since it was signed.
    pub age_seconds: f64,
}

/// What an inclusion changes in an anchor row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub tx_hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
    pub gas_used: u64,
    pub fee_paid_wei: u128,
}

/// The worker's tables, over a pool of connections as a member of `tagtrail_anchor`, and the log's
/// checkpoints, read through the ledger store's reading face (the `checkpoints` table is
/// ledger-store's: no SQL of this crate names it).
#[derive(Clone, Debug)]
pub struct AnchorStore {
    pool: Pool,
    log: ledger_store::Reader,
}

fn int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Malformed("a number beyond 2^63"))
}

fn uint(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Malformed("a negative number"))
}

fn b256(bytes: Option<Vec<u8>>) -> Result<Option<B256>, StoreError> {
    bytes
        .map(|bytes| B256::try_from(bytes.as_slice()).map_err(|_| StoreError::Malformed("a hash")))
        .transpose()
}

fn anchor(row: &Row) -> Result<Anchor, StoreError> {
    let contract: Vec<u8> = row.get(3);
    Ok(Anchor {
        id: row.get(0),
        chain: row.get(1),
        chain_id: uint(row.get(2))?,
        contract: Address::try_from(contract.as_slice())
            .map_err(|_| StoreError::Malformed("an address"))?,
        tree_size: uint(row.get(4))?,
        checkpoint: row.get(5),
        calldata: row.get(6),
        nonce: uint(row.get(7))?,
        state: State::parse(row.get(8))?,
        tx_hash: b256(row.get(9))?,
        block_number: row.get::<_, Option<i64>>(10).map(uint).transpose()?,
        block_hash: b256(row.get(11))?,
        gas_used: row.get::<_, Option<i64>>(12).map(uint).transpose()?,
        fee_paid_wei: row
            .get::<_, Option<String>>(13)
            .map(|text| text.parse().map_err(|_| StoreError::Malformed("a fee")))
            .transpose()?,
        proof: row
            .get::<_, Option<String>>(14)
            .map(|text| serde_json::from_str(&text).map_err(|_| StoreError::Malformed("a proof")))
            .transpose()?,
        reorgs: row.get(15),
        age_seconds: row.get(16),
    })
}

impl AnchorStore {
    /// The worker's tables in the database at `url` (a login role in `tagtrail_anchor`), over a
    /// pool of its own of at most `size` connections, and the log's checkpoints, over a ledger
    /// [`Reader`](ledger_store::Reader) of two (read-only sessions; its pool is that crate's).
    pub fn connect(url: &str, size: usize) -> Result<Self, ledger_store::ConnectError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(ledger_store::ConnectError::InvalidUrl)?;
        let log_config = config.clone();
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(ledger_store::ConnectError::Pool)?;
        let log = ledger_store::Reader::build(
            log_config,
            ledger_store::PoolSettings {
                max_size: LOG_CONNECTIONS,
                ..ledger_store::PoolSettings::default()
            },
        )?
        .with_lookup_filter_bytes(0);
        Ok(Self { pool, log })
    }

    /// The log as the worker reads it: its checkpoints, its migration status.
    pub fn log(&self) -> &ledger_store::Reader {
        &self.log
    }

    /// What its pool holds and who waits for it.
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client.query(sql, params).await?)
    }

    async fn anchors(
        &self,
        filter: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Anchor>, StoreError> {
        let sql = format!("SELECT {ANCHOR_COLUMNS} FROM anchors {filter}");
        self.query(&sql, params).await?.iter().map(anchor).collect()
    }

    /// The newest signed checkpoint, if any.
    pub async fn newest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self.log.latest_checkpoint().await?)
    }

    /// The chain's unfinished anchor (pending or included) and its attempts, newest first.
    pub async fn open_anchor(
        &self,
        chain: &ChainKey,
    ) -> Result<Option<(Anchor, Vec<Attempt>)>, StoreError> {
        let chain_id = int(chain.chain_id)?;
        let found = self
            .anchors(
                "WHERE chain_id = $1 AND contract = $2 AND state IN ('pending', 'included')",
                &[&chain_id, &chain.contract.as_slice()],
            )
            .await?;
        let Some(anchor) = found.into_iter().next() else {
            return Ok(None);
        };
        let attempts = self.attempts(anchor.id).await?;
        Ok(Some((anchor, attempts)))
    }

    /// An anchor's signed transactions, newest first.
    pub async fn attempts(&self, anchor_id: i64) -> Result<Vec<Attempt>, StoreError> {
        self.query(
            "SELECT tx_hash, raw, max_fee_per_gas::text, max_priority_fee_per_gas::text,
                    extract(epoch FROM now() - signed_at)::float8
             FROM anchor_attempts WHERE anchor_id = $1 ORDER BY signed_at DESC, tx_hash",
            &[&anchor_id],
        )
        .await?
        .iter()
        .map(|row| {
            let fee = |index: usize| {
                row.get::<_, String>(index)
                    .parse::<u128>()
                    .map_err(|_| StoreError::Malformed("a fee"))
            };
            Ok(Attempt {
                tx_hash: b256(Some(row.get(0)))?.ok_or(StoreError::Malformed("a hash"))?,
                raw: row.get(1),
                max_fee_per_gas: fee(2)?,
                max_priority_fee_per_gas: fee(3)?,
                age_seconds: row.get(4),
            })
        })
        .collect()
    }

    /// The chain's newest anchor that is not abandoned.
    pub async fn last_anchor(&self, chain: &ChainKey) -> Result<Option<Anchor>, StoreError> {
        let chain_id = int(chain.chain_id)?;
        Ok(self
            .anchors(
                "WHERE chain_id = $1 AND contract = $2 AND state <> 'abandoned'
                 ORDER BY anchor_id DESC LIMIT 1",
                &[&chain_id, &chain.contract.as_slice()],
            )
            .await?
            .into_iter()
            .next())
    }

    /// The largest checkpoint the chain has a live (pending, included or confirmed) anchor of, up
    /// to `newest` (the newest checkpoint's size): a row naming a size beyond it (which the worker
    /// never writes) does not count.
    pub async fn anchored_size(
        &self,
        chain: &ChainKey,
        newest: u64,
    ) -> Result<Option<u64>, StoreError> {
        let chain_id = int(chain.chain_id)?;
        let newest = int(newest)?;
        let rows = self
            .query(
                "SELECT max(tree_size) FROM anchors
                 WHERE chain_id = $1 AND contract = $2
                   AND state IN ('pending', 'included', 'confirmed')
                   AND tree_size <= $3",
                &[&chain_id, &chain.contract.as_slice(), &newest],
            )
            .await?;
        rows.first()
            .and_then(|row| row.get::<_, Option<i64>>(0))
            .map(uint)
            .transpose()
    }

    /// How many anchors in a row, newest first, reverted: the run the next anchor waits for.
    pub async fn reverted_run(&self, chain: &ChainKey) -> Result<u32, StoreError> {
        let chain_id = int(chain.chain_id)?;
        let rows = self
            .query(
                "SELECT count(*) FROM anchors
                 WHERE chain_id = $1 AND contract = $2 AND state = 'reverted'
                   AND anchor_id > coalesce((SELECT max(anchor_id) FROM anchors
                                             WHERE chain_id = $1 AND contract = $2
                                               AND state IN ('pending', 'included', 'confirmed')), 0)",
                &[&chain_id, &chain.contract.as_slice()],
            )
            .await?;
        let count: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// The block of the chain's newest confirmed anchor: where a search for its later anchors
    /// starts (anchors are sent in nonce order, one at a time).
    pub async fn last_confirmed_block(&self, chain: &ChainKey) -> Result<u64, StoreError> {
        let chain_id = int(chain.chain_id)?;
        let rows = self
            .query(
                "SELECT coalesce(max(block_number), 0) FROM anchors
                 WHERE chain_id = $1 AND contract = $2 AND state = 'confirmed'",
                &[&chain_id, &chain.contract.as_slice()],
            )
            .await?;
        rows.first().map_or(Ok(0), |row| uint(row.get::<_, i64>(0)))
    }

    /// Records a new anchor and its first signed transaction, in one transaction, before it is
    /// sent. `None` when the checkpoint already has a live anchor on this chain (another worker
    /// got there first): nothing is written then.
    pub async fn create(
        &self,
        chain: &ChainKey,
        checkpoint: &StoredCheckpoint,
        calldata: &[u8],
        nonce: u64,
        attempt: &Attempt,
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let row = transaction
            .query_opt(
                "INSERT INTO anchors (chain, chain_id, contract, sender, tree_size, root_hash,
                                      checkpoint, calldata, nonce, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
                 ON CONFLICT DO NOTHING RETURNING anchor_id",
                &[
                    &chain.name,
                    &int(chain.chain_id)?,
                    &chain.contract.as_slice(),
                    &chain.sender.as_slice(),
                    &int(checkpoint.size.get())?,
                    &checkpoint.root.as_bytes().as_slice(),
                    &checkpoint.note,
                    &calldata,
                    &int(nonce)?,
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.get(0);
        insert_attempt(&*transaction, id, attempt).await?;
        transaction.commit().await?;
        Ok(Some(id))
    }

    /// Records a fee bump (a new transaction with the anchor's nonce) before it is sent.
    pub async fn add_attempt(&self, anchor_id: i64, attempt: &Attempt) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        insert_attempt(&**client, anchor_id, attempt).await
    }

    /// The anchor's transaction is in a block (first seen, or seen in another block after a reorg
    /// moved it: `moved` counts a reorg).
    pub async fn set_included(
        &self,
        anchor_id: i64,
        inclusion: &Inclusion,
        moved: bool,
    ) -> Result<(), StoreError> {
        self.query(
            "UPDATE anchors SET state = 'included', tx_hash = $2, block_number = $3,
                    block_hash = $4, gas_used = $5, fee_paid_wei = $6::text::numeric,
                    included_at = now(), reorgs = reorgs + $7
             WHERE anchor_id = $1 AND state IN ('pending', 'included')",
            &[
                &anchor_id,
                &inclusion.tx_hash.as_slice(),
                &int(inclusion.block_number)?,
                &inclusion.block_hash.as_slice(),
                &int(inclusion.gas_used)?,
                &inclusion.fee_paid_wei.to_string(),
                &i32::from(moved),
            ],
        )
        .await?;
        Ok(())
    }

    /// A reorg took the included transaction out of the chain: back to pending.
    pub async fn set_reorged_out(&self, anchor_id: i64) -> Result<(), StoreError> {
        self.query(
            "UPDATE anchors SET state = 'pending', tx_hash = NULL, block_number = NULL,
                    block_hash = NULL, gas_used = NULL, fee_paid_wei = NULL, included_at = NULL,
                    reorgs = reorgs + 1
             WHERE anchor_id = $1 AND state = 'included'",
            &[&anchor_id],
        )
        .await?;
        Ok(())
    }

    /// Deep enough: the anchor is final, with its self-contained proof.
    pub async fn set_confirmed(&self, anchor_id: i64, proof: &Value) -> Result<(), StoreError> {
        self.query(
            "UPDATE anchors SET state = 'confirmed', proof = $2::text::jsonb, confirmed_at = now()
             WHERE anchor_id = $1 AND state = 'included'",
            &[&anchor_id, &proof.to_string()],
        )
        .await?;
        Ok(())
    }

    /// The transaction ran and failed (proven from its block's receipt trie).
    pub async fn set_reverted(
        &self,
        anchor_id: i64,
        inclusion: &Inclusion,
    ) -> Result<(), StoreError> {
        self.query(
            "UPDATE anchors SET state = 'reverted', tx_hash = $2, block_number = $3,
                    block_hash = NULL, gas_used = $4, fee_paid_wei = $5::text::numeric
             WHERE anchor_id = $1 AND state IN ('pending', 'included')",
            &[
                &anchor_id,
                &inclusion.tx_hash.as_slice(),
                &int(inclusion.block_number)?,
                &int(inclusion.gas_used)?,
                &inclusion.fee_paid_wei.to_string(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Its nonce went to a transaction that is not ours: nothing was paid, the checkpoint is free
    /// to be anchored again.
    pub async fn set_abandoned(&self, anchor_id: i64) -> Result<(), StoreError> {
        self.query(
            "UPDATE anchors SET state = 'abandoned' WHERE anchor_id = $1 AND state = 'pending'",
            &[&anchor_id],
        )
        .await?;
        Ok(())
    }

    /// The chain's anchors by state.
    pub async fn counts(&self, chain: &ChainKey) -> Result<Vec<(State, i64)>, StoreError> {
        let chain_id = int(chain.chain_id)?;
        self.query(
            "SELECT state, count(*) FROM anchors WHERE chain_id = $1 AND contract = $2 GROUP BY state",
            &[&chain_id, &chain.contract.as_slice()],
        )
        .await?
        .iter()
        .map(|row| Ok((State::parse(row.get(0))?, row.get(1))))
        .collect()
    }

    /// How far the chain's confirmed anchors trail the newest checkpoint: in entries, and in
    /// seconds since the oldest checkpoint they do not cover was signed (both 0 when the newest
    /// checkpoint is anchored, or there is none).
    pub async fn lag(&self, chain: &ChainKey) -> Result<(u64, f64), StoreError> {
        let chain_id = int(chain.chain_id)?;
        let rows = self
            .query(
                "SELECT coalesce(max(tree_size), 0) FROM anchors
                 WHERE chain_id = $1 AND contract = $2 AND state = 'confirmed'",
                &[&chain_id, &chain.contract.as_slice()],
            )
            .await?;
        let anchored = uint(
            rows.first()
                .ok_or(StoreError::Malformed("no anchored size"))?
                .get(0),
        )?;
        let newest = self
            .log
            .latest_checkpoint()
            .await?
            .map_or(0, |checkpoint| checkpoint.size.get());
        let waiting = self.log.signed_since(anchored).await?;
        Ok((
            newest.saturating_sub(anchored),
            waiting.map_or(0.0, |age| age.as_secs_f64()),
        ))
    }

    /// Every anchor, newest first (`tagtrail anchors`), at most `limit`.
    pub async fn list(&self, limit: i64) -> Result<Vec<Anchor>, StoreError> {
        self.anchors("ORDER BY anchor_id DESC LIMIT $1", &[&limit])
            .await
    }
}

async fn insert_attempt(
    client: &impl tokio_postgres::GenericClient,
    anchor_id: i64,
    attempt: &Attempt,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO anchor_attempts (tx_hash, anchor_id, raw, max_fee_per_gas,
                                          max_priority_fee_per_gas)
             VALUES ($1, $2, $3, $4::text::numeric, $5::text::numeric)
             ON CONFLICT (tx_hash) DO NOTHING",
            &[
                &attempt.tx_hash.as_slice(),
                &anchor_id,
                &attempt.raw,
                &attempt.max_fee_per_gas.to_string(),
                &attempt.max_priority_fee_per_gas.to_string(),
            ],
        )
        .await?;
    Ok(())
}
