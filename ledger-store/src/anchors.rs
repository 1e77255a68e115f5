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

/// The confirmed anchors of the largest confirmed anchored tree size within the tree.
const SELECT_NEWEST_ANCHORED: &str = "
    SELECT tree_size, checkpoint, chain_id, tx_hash, block_number, contract, block_hash, proof::text
    FROM anchors
    WHERE state = 'confirmed' AND tree_size = (
        SELECT max(tree_size) FROM anchors WHERE state = 'confirmed' AND tree_size <= $1)
    ORDER BY chain_id, contract, anchor_id";

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
    /// The newest confirmed anchored checkpoint within the tree of `within` leaves, with its
    /// anchors on every chain (what a bundle proved to that tree carries); `None` when nothing
    /// within the tree is anchored yet.
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
