//! The anchors a bundle refers to: the anchor worker's confirmed anchors (`sql/V10__anchors.sql`),
//! read by any member of `tagtrail_reader`.

use ledger::bundle::{AnchorRef, BlockHash, ChainId, ContractAddress, ReceiptEvidence, TxHash};
use ledger::size::TreeSize;

use crate::log::{ReadError, Reader};

/// The anchored checkpoint a proof to a tree extends to, and where it was anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnchored {
    /// The anchored checkpoint's tree size.
    pub size: TreeSize,
    /// The log's own checkpoint of that size (the signed note) that the anchors name, as
    /// `checkpoints` holds it (empty when none names one of the log's, and `anchors` is empty).
    pub checkpoint: String,
    /// Its confirmed anchors, on every chain, with their self-contained evidence, as read: the
    /// caller checks the evidence before it serves it.
    pub anchors: Vec<StoredAnchor>,
    /// The log's other checkpoints of that size that confirmed anchors name, the larger index
    /// first (a size may have more than one, `sql/V37__checkpoints_by_index.sql`), each with
    /// its anchors: for the caller to carry when none of `checkpoint`'s anchors verify.
    pub others: Vec<OtherCheckpoint>,
    /// The confirmed anchors of that size that cannot be served at all, and why: a row that does
    /// not parse, or that names another checkpoint than the log's of its size.
    pub refused: Vec<(i64, String)>,
}

/// Another of the log's checkpoints of an anchored size, with its confirmed anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherCheckpoint {
    /// The signed note, as `checkpoints` holds it.
    pub checkpoint: String,
    pub anchors: Vec<StoredAnchor>,
}

/// One confirmed anchor row, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnchor {
    /// The row's id (`anchors.anchor_id`), to name it in logs.
    pub id: i64,
    pub anchor: AnchorRef,
}

/// The confirmed anchors of the largest confirmed anchored tree size within the tree of which the
/// log has a checkpoint (a row naming a size the log never signed is no anchor of it), each with
/// the log's checkpoint it names (none: it names a note the log did not sign at its size; a size
/// may have more than one, `sql/V37__checkpoints_by_index.sql`).
const SELECT_NEWEST_ANCHORED: &str = "
    SELECT a.anchor_id, a.tree_size, a.checkpoint, c.note, a.chain_id, a.tx_hash, a.block_number,
           a.contract, a.block_hash, a.proof::text
    FROM anchors a LEFT JOIN checkpoints c ON c.tree_size = a.tree_size AND c.note = a.checkpoint
    WHERE a.state = 'confirmed' AND a.tree_size = (
        SELECT max(tree_size) FROM anchors JOIN checkpoints USING (tree_size)
        WHERE state = 'confirmed' AND tree_size <= $1)
    ORDER BY c.note IS NULL, c.index_size DESC, a.chain_id, a.contract, a.anchor_id";

/// One of the anchor worker's records in any state, as `tagtrail anchors` lists it (the worker
/// writes them; this is their read side).
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorRecord {
    pub id: i64,
    /// `pending`, `included`, `confirmed`, `reverted` or `abandoned` (`sql/V10__anchors.sql`).
    pub state: String,
    /// The worker's name for the chain.
    pub chain: String,
    pub chain_id: u64,
    pub contract: [u8; 20],
    pub tree_size: u64,
    pub tx_hash: Option<[u8; 32]>,
    pub block_number: Option<u64>,
    pub block_hash: Option<[u8; 32]>,
    pub gas_used: Option<u64>,
    /// In wei, as the database's decimal text (it may exceed 2^64).
    pub fee_paid_wei: Option<String>,
    pub reorgs: i32,
    /// Seconds since the worker recorded it.
    pub age_seconds: f64,
}

const SELECT_RECORDS: &str = "
    SELECT anchor_id, state, chain, chain_id, contract, tree_size, tx_hash, block_number,
           block_hash, gas_used, fee_paid_wei::text, reorgs,
           extract(epoch FROM now() - created_at)::float8
    FROM anchors ORDER BY anchor_id DESC LIMIT $1";

fn corrupt(reason: impl Into<String>) -> ReadError {
    ReadError::Corrupt {
        what: "anchor",
        reason: reason.into(),
    }
}

fn array<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], ReadError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(format!("{what} is not {N} bytes")))
}

fn unsigned(value: i64, what: &str) -> Result<u64, ReadError> {
    u64::try_from(value).map_err(|_| corrupt(format!("a negative {what}")))
}

impl Reader {
    /// The anchor worker's records, newest first, at most `limit`.
    pub async fn anchor_records(&self, limit: i64) -> Result<Vec<AnchorRecord>, ReadError> {
        let client = self.pool().get().await?;
        let rows = client.query(SELECT_RECORDS, &[&limit]).await?;
        rows.iter()
            .map(|row| {
                Ok(AnchorRecord {
                    id: row.get(0),
                    state: row.get(1),
                    chain: row.get(2),
                    chain_id: unsigned(row.get(3), "chain id")?,
                    contract: array(row.get(4), "a contract address")?,
                    tree_size: unsigned(row.get(5), "tree size")?,
                    tx_hash: row
                        .get::<_, Option<Vec<u8>>>(6)
                        .map(|bytes| array(bytes, "a transaction hash"))
                        .transpose()?,
                    block_number: row
                        .get::<_, Option<i64>>(7)
                        .map(|number| unsigned(number, "block number"))
                        .transpose()?,
                    block_hash: row
                        .get::<_, Option<Vec<u8>>>(8)
                        .map(|bytes| array(bytes, "a block hash"))
                        .transpose()?,
                    gas_used: row
                        .get::<_, Option<i64>>(9)
                        .map(|gas| unsigned(gas, "gas"))
                        .transpose()?,
                    fee_paid_wei: row.get(10),
                    reorgs: row.get(11),
                    age_seconds: row.get(12),
                })
            })
            .collect()
    }

    /// The newest confirmed anchored checkpoint within the tree of `within` leaves, with its
    /// anchors on every chain (what a bundle proved to that tree carries), and the log's other
    /// anchored checkpoints of that size with theirs; `None` when nothing within the tree is
    /// anchored yet, or the log has no checkpoint of that size.
    pub async fn newest_anchored(
        &self,
        within: TreeSize,
    ) -> Result<Option<StoredAnchored>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(SELECT_NEWEST_ANCHORED).await?;
        let size = i64::try_from(within.get()).unwrap_or(i64::MAX);
        let rows = client.query(&statement, &[&size]).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let tree_size = TreeSize::new(unsigned(first.get(1), "size")?)
            .map_err(|error| corrupt(error.to_string()))?;
        // The log's checkpoint the first anchor names (of several of the size, the one whose
        // index covers most of those anchored): its anchors are carried, or else the next's.
        // Rows come by checkpoint, the larger index first.
        let mut notes: Vec<OtherCheckpoint> = Vec::new();
        let mut refused = Vec::new();
        for row in &rows {
            let id: i64 = row.get(0);
            let Some(named) = row.get::<_, Option<String>>(3) else {
                refused.push((
                    id,
                    "it names another checkpoint than the log's of its size".to_owned(),
                ));
                continue;
            };
            let anchor = match anchor_ref(row) {
                Ok(anchor) => StoredAnchor { id, anchor },
                Err(error) => {
                    refused.push((id, error.to_string()));
                    continue;
                }
            };
            match notes.last_mut() {
                Some(note) if note.checkpoint == named => note.anchors.push(anchor),
                _ => notes.push(OtherCheckpoint {
                    checkpoint: named,
                    anchors: vec![anchor],
                }),
            }
        }
        let mut notes = notes.into_iter();
        let first = notes.next();
        Ok(Some(StoredAnchored {
            size: tree_size,
            checkpoint: first
                .as_ref()
                .map(|note| note.checkpoint.clone())
                .unwrap_or_default(),
            anchors: first.map(|note| note.anchors).unwrap_or_default(),
            others: notes.collect(),
            refused,
        }))
    }
}

/// An anchor row's reference (columns 4 to 9 of [`SELECT_NEWEST_ANCHORED`]).
fn anchor_ref(row: &tokio_postgres::Row) -> Result<AnchorRef, ReadError> {
    let receipt = row
        .get::<_, Option<String>>(9)
        .map(|text| {
            serde_json::from_str::<ReceiptEvidence>(&text)
                .map_err(|error| corrupt(format!("its receipt proof: {error}")))
        })
        .transpose()?;
    Ok(AnchorRef {
        chain_id: ChainId::new(unsigned(row.get(4), "chain id")?),
        tx_hash: TxHash::from_bytes(array(
            row.get::<_, Option<Vec<u8>>>(5)
                .ok_or_else(|| corrupt("a confirmed anchor has no transaction"))?,
            "a transaction hash",
        )?),
        block_number: unsigned(
            row.try_get::<_, i64>(6)
                .map_err(|_| corrupt("a confirmed anchor has no block number"))?,
            "block number",
        )?,
        contract: ContractAddress::from_bytes(array(row.get(7), "a contract address")?),
        block_hash: row
            .get::<_, Option<Vec<u8>>>(8)
            .map(|bytes| array(bytes, "a block hash").map(BlockHash::from_bytes))
            .transpose()?,
        receipt,
    })
}
