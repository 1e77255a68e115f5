//! Proofs computed from C2SP tiles, as the PostgreSQL store will: tiles are produced by the
//! sequencer's frontier, read back in one batch per proof, and the proofs must equal those of the
//! whole tree held in memory.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::LazyLock;

use ledger::tiles::{Tile, TileFrontier, TileHashReader, TileId, TileReader, tiles_for_nodes};
use ledger::tree::{MemoryTree, ProofPlan, prove_consistency, prove_inclusion, root_hash};
use ledger::{Hash, LeafIndex, TreeSize, leaf_hash};
use proptest::prelude::*;

const LEAVES: u32 = 70_000;

/// A tile store that keeps the latest (widest) version of each tile.
#[derive(Default)]
struct Store {
    tiles: HashMap<(u8, u64), Tile>,
}

impl Store {
    fn write(&mut self, tile: Tile) {
        self.tiles
            .insert((tile.id().level(), tile.id().index()), tile);
    }
}

impl TileReader for &Store {
    type Error = Infallible;

    fn read_tiles(&self, ids: &[TileId]) -> Result<Vec<Tile>, Self::Error> {
        Ok(ids
            .iter()
            .filter_map(|id| self.tiles.get(&(id.level(), id.index())))
            .cloned()
            .collect())
    }
}

/// A reader that counts how many batches it was asked for.
struct Counting<'a> {
    store: &'a Store,
    reads: Cell<usize>,
}

impl TileReader for &Counting<'_> {
    type Error = Infallible;

    fn read_tiles(&self, ids: &[TileId]) -> Result<Vec<Tile>, Self::Error> {
        self.reads.set(self.reads.get() + 1);
        (&self.store).read_tiles(ids)
    }
}

fn leaf(i: u32) -> Hash {
    leaf_hash(format!("entry {i}").as_bytes())
}

struct Fixture {
    tree: MemoryTree,
    store: Store,
}

// Appended in uneven batches, as a sequencer would, keeping only the latest version of each tile.
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let leaves: Vec<Hash> = (0..LEAVES).map(leaf).collect();
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied()).unwrap();
    let mut store = Store::default();
    let mut frontier = TileFrontier::new();
    let mut at = 0usize;
    for batch in [1usize, 255, 1, 300, 4096, 777].iter().cycle() {
        if at == leaves.len() {
            break;
        }
        let end = (at + batch).min(leaves.len());
        for tile in frontier.append(&leaves[at..end]).unwrap() {
            store.write(tile);
        }
        at = end;
    }
    assert_eq!(frontier.root(), tree.root());
    Fixture { tree, store }
});

fn size(n: u64) -> TreeSize {
    TreeSize::new(n).unwrap()
}

#[test]
fn roots_from_tiles_match_the_tree_at_many_sizes() {
    let fixture = &*FIXTURE;
    for n in [
        1u64, 2, 255, 256, 257, 65_535, 65_536, 65_537, 69_999, 70_000,
    ] {
        let reader = TileHashReader::new(&fixture.store, size(n));
        assert_eq!(
            root_hash(&reader, size(n)).unwrap(),
            fixture.tree.root_at(size(n)).unwrap()
        );
    }
}

#[test]
fn each_proof_reads_its_tiles_in_one_batch() {
    let fixture = &*FIXTURE;
    let counting = Counting {
        store: &fixture.store,
        reads: Cell::new(0),
    };
    let reader = TileHashReader::new(&counting, size(70_000));
    prove_inclusion(&reader, LeafIndex::new(12_345).unwrap(), size(70_000)).unwrap();
    assert_eq!(counting.reads.get(), 1);
    prove_consistency(&reader, size(1_000), size(70_000)).unwrap();
    assert_eq!(counting.reads.get(), 2);
    let plan = ProofPlan::inclusion(LeafIndex::new(12_345).unwrap(), size(70_000)).unwrap();
    let tiles = tiles_for_nodes(plan.nodes(), size(70_000)).unwrap();
    assert!(tiles.len() <= 6, "{tiles:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inclusion_proofs_from_tiles_equal_proofs_from_the_whole_tree(
        n in 1u64..=u64::from(LEAVES),
        i_seed in any::<u64>(),
    ) {
        let fixture = &*FIXTURE;
        let i = LeafIndex::new(i_seed % n).unwrap();
        let reader = TileHashReader::new(&fixture.store, size(n));
        let from_tiles = prove_inclusion(&reader, i, size(n)).unwrap();
        prop_assert_eq!(&from_tiles, &prove_inclusion(&fixture.tree, i, size(n)).unwrap());
        let root = fixture.tree.root_at(size(n)).unwrap();
        prop_assert!(from_tiles.verify(&fixture.tree.node(ledger::tree::NodeId::leaf(i)).unwrap(), &root).is_ok());
    }

    #[test]
    fn consistency_proofs_from_tiles_equal_proofs_from_the_whole_tree(
        n in 1u64..=u64::from(LEAVES),
        m_seed in any::<u64>(),
    ) {
        let fixture = &*FIXTURE;
        let m = 1 + m_seed % n;
        let reader = TileHashReader::new(&fixture.store, size(n));
        let from_tiles = prove_consistency(&reader, size(m), size(n)).unwrap();
        prop_assert_eq!(&from_tiles, &prove_consistency(&fixture.tree, size(m), size(n)).unwrap());
        let old = fixture.tree.root_at(size(m)).unwrap();
        let new = fixture.tree.root_at(size(n)).unwrap();
        prop_assert!(from_tiles.verify(&old, &new).is_ok());
    }
}
