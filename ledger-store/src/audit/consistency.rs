//! The last check, after the rows: an RFC 9162 consistency proof, read from the stored tiles,
//! between each pair of consecutive verified checkpoints.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use ledger::hash::RootHash;
use ledger::size::TreeSize;
use ledger::tiles::{TileId, TileSet, tiles_for_nodes};
use ledger::tree::{ConsistencyProof, HashReader, ProofPlan};

use crate::log::read_tiles;

use super::problem::{AuditProblem, CheckpointReason, ConsistencyFailure};
use super::run::AuditError;

/// Consecutive checkpoint pairs whose consistency proofs are read in one query.
const PROOFS_PER_QUERY: usize = 64;

/// Checks an RFC 9162 consistency proof, read from the stored tiles, between each pair of
/// consecutive verified checkpoints (the tiles of many pairs in one query).
pub(super) async fn check_consistency<C: GenericClient>(
    client: &C,
    checkpoints: &[(TreeSize, RootHash)],
) -> Result<Option<AuditProblem>, AuditError> {
    let pairs: Vec<&[(TreeSize, RootHash)]> = checkpoints.windows(2).collect();
    for group in pairs.chunks(PROOFS_PER_QUERY) {
        let mut plans = Vec::with_capacity(group.len());
        let mut widest: HashMap<(u8, u64), TileId> = HashMap::new();
        for pair in group {
            let [(old, _), (new, _)] = pair else { continue };
            let plan =
                ProofPlan::consistency(*old, *new).map_err(|e| AuditError::Proof(e.into()))?;
            let ids =
                tiles_for_nodes(plan.nodes(), *new).map_err(|e| AuditError::Proof(e.into()))?;
            for id in ids {
                let slot = widest.entry((id.level(), id.index())).or_insert(id);
                if id.width() > slot.width() {
                    *slot = id;
                }
            }
            plans.push(plan);
        }
        let ids: Vec<TileId> = widest.into_values().collect();
        let tiles = read_tiles(client, &ids)
            .await
            .map_err(|e| AuditError::Proof(e.into()))?;
        let set = TileSet::from(tiles);
        for (pair, plan) in group.iter().zip(&plans) {
            let [(old, old_root), (new, new_root)] = pair else {
                continue;
            };
            let verdict = set
                .read_hashes(plan.nodes())
                .map_err(ConsistencyFailure::MissingTile)
                .and_then(|hashes| {
                    plan.assemble(&hashes)
                        .map_err(ConsistencyFailure::WrongHashCount)
                })
                .and_then(|hashes| {
                    ConsistencyProof::new(*old, *new, hashes)
                        .verify(old_root, new_root)
                        .map_err(ConsistencyFailure::Proof)
                });
            if let Err(failure) = verdict {
                return Ok(Some(AuditProblem::Checkpoint {
                    tree_size: old.get(),
                    reason: CheckpointReason::NoConsistencyProof {
                        next: *new,
                        failure,
                    },
                }));
            }
        }
    }
    Ok(None)
}
