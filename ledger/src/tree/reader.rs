//! [`HashReader`]: where proofs get their node hashes from.

use crate::hash::Hash;

use super::node::NodeId;

/// A source of the hashes of complete subtrees of one tree, looked up by [`NodeId`].
///
/// Proof and root computations first work out every node they need, then call
/// [`read_hashes`](Self::read_hashes) once with the whole list, so that a store backed by a
/// database or by C2SP tiles can fetch everything in one round trip. An in-memory tree
/// ([`MemoryTree`](super::MemoryTree)) and a set of tiles ([`TileSet`](crate::tiles::TileSet))
/// implement it; an asynchronous store uses the same plans directly (see
/// [`ProofPlan`](super::ProofPlan)).
pub trait HashReader {
    /// Why a hash could not be read.
    type Error: std::error::Error + 'static;

    /// Returns the hash of each node, in the order given. Every node asked for is a complete
    /// subtree of the tree whose proof or root is being computed.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    type Error = R::Error;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_hashes(nodes)
    }
}
