//! The anchors a bundle refers to: the anchor worker's confirmed anchors (`sql/V10__anchors.sql`),
//! read by any member of `tagtrail_reader`.

use ledger::bundle::{AnchorRef, BlockHash, ChainId, ContractAddress, ReceiptEvidence, TxHash};
use ledger::size::TreeSize;

use crate::log::{ReadError, Store};

/// The anchored checkpoint a proof to a tree extends to, and where it was anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnchored {
    /// The anchored checkpoint's tree size.
    pub size: TreeSize,
    /// The anchored checkpoint, as published (the signed note).
    pub checkpoint: String,
    /// Its confirmed anchors, on every chain, with their self-contained evidence.
    pub anchors: Vec<AnchorRef>,
}

/// The smallest confirmed anchored size that covers the leaf (is above it), within the tree; else
/// the largest confirmed anchored size within the tree. Then every confirmed anchor of that size.
const SELECT_ANCHORED: &str = "
    WITH chosen AS (
        SELECT coalesce(
            (SELECT min(tree_size) FROM anchors
             WHERE state = 'confirmed' AND tree_size > $1 AND tree_size <= $2),
            (SELECT max(tree_size) FROM anchors
             WHERE state = 'confirmed' AND tree_size <= $2)) AS size)
    SELECT a.tree_size, a.checkpoint, a.chain_id, a.tx_hash, a.block_number, a.contract,
           a.block_hash, a.proof::text
    FROM anchors a, chosen
    WHERE a.state = 'confirmed' AND a.tree_size = chosen.size
    ORDER BY a.chain_id, a.contract, a.anchor_id";

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

impl Store {
    /// The confirmed anchored checkpoint a bundle of entries up to `highest_leaf`, proved to the
    /// tree of `within` leaves, should carry: the smallest that covers every entry, or (when none
    /// does yet) the largest within the tree; `None` when no checkpoint within the tree is
    /// anchored.
    pub async fn anchored_for(
        &self,
        highest_leaf: u64,
        within: TreeSize,
    ) -> Result<Option<StoredAnchored>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(SELECT_ANCHORED).await?;
        let leaf = i64::try_from(highest_leaf).unwrap_or(i64::MAX);
        let size = i64::try_from(within.get()).unwrap_or(i64::MAX);
        let rows = client.query(&statement, &[&leaf, &size]).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let tree_size: i64 = first.get(0);
        let mut anchors = Vec::with_capacity(rows.len());
        for row in &rows {
            let chain_id: i64 = row.get(2);
            let block_number: i64 = row.get(4);
            let receipt = row
                .get::<_, Option<String>>(7)
                .map(|text| {
                    serde_json::from_str::<ReceiptEvidence>(&text)
                        .map_err(|error| corrupt(format!("its receipt proof: {error}")))
                })
                .transpose()?;
            anchors.push(AnchorRef {
                chain_id: ChainId::new(
                    u64::try_from(chain_id).map_err(|_| corrupt("a negative chain id"))?,
                ),
                tx_hash: TxHash::from_bytes(array(
                    row.get::<_, Option<Vec<u8>>>(3)
                        .ok_or_else(|| corrupt("a confirmed anchor has no transaction"))?,
                    "a transaction hash",
                )?),
                block_number: u64::try_from(block_number)
                    .map_err(|_| corrupt("a negative block number"))?,
                contract: ContractAddress::from_bytes(array(row.get(5), "a contract address")?),
                block_hash: row
                    .get::<_, Option<Vec<u8>>>(6)
                    .map(|bytes| array(bytes, "a block hash").map(BlockHash::from_bytes))
                    .transpose()?,
                receipt,
            });
        }
        Ok(Some(StoredAnchored {
            size: TreeSize::new(u64::try_from(tree_size).map_err(|_| corrupt("a negative size"))?)
                .map_err(|error| corrupt(error.to_string()))?,
            checkpoint: first.get(1),
            anchors,
        }))
    }
}
