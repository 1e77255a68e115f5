//! The RFC 6962 / RFC 9162 Merkle tree: node coordinates, proofs and their verification.

mod memory;
mod node;
mod proof;
mod reader;

pub use memory::{BeyondTree, MemoryTree, MissingNode, TreeFull};
pub use node::{NodeId, NodeIdError};
pub use proof::{
    ConsistencyError, ConsistencyProof, InclusionError, InclusionProof, ProofPlan, ProofPlanError,
    ProveError, WrongHashCount, prove_consistency, prove_inclusion, root_hash,
};
pub use reader::HashReader;

pub(crate) use node::fold_right;
