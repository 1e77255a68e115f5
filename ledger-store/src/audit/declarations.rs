//! The error declarations the audit checks the entries against: every row of
//! `error_declarations`, read in the audit's snapshot and held in memory (declarations are rare:
//! a correction per erroneous event).

use std::collections::{BTreeMap, HashMap};

/// One row of `error_declarations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Declared {
    /// The entry declared erroneous (`None`: the log did not hold it when the declaration came).
    pub(super) declared: Option<u64>,
    /// The event hash the row names.
    pub(super) event_hash: [u8; 32],
}

/// The rows of `error_declarations`, by declaration and by declared entry.
#[derive(Debug, Default)]
pub(super) struct Declarations {
    by_declaration: BTreeMap<u64, Declared>,
    /// Per declared entry: the declarations of it (leaf and the event hash their rows name).
    by_declared: HashMap<u64, Vec<(u64, [u8; 32])>>,
    /// Per event hash: the declarations whose rows say the log did not hold the event.
    unheld: HashMap<[u8; 32], Vec<u64>>,
}

impl Declarations {
    /// Rows `(declaration_leaf, declared_leaf, event_hash)`; negative leaves never match an
    /// entry (the table's CHECK constraints refuse them anyway).
    pub(super) fn new(rows: impl IntoIterator<Item = (u64, Option<u64>, [u8; 32])>) -> Self {
        let mut declarations = Self::default();
        for (leaf, declared, event_hash) in rows {
            declarations.by_declaration.insert(
                leaf,
                Declared {
                    declared,
                    event_hash,
                },
            );
            match declared {
                Some(declared) => declarations
                    .by_declared
                    .entry(declared)
                    .or_default()
                    .push((leaf, event_hash)),
                None => declarations
                    .unheld
                    .entry(event_hash)
                    .or_default()
                    .push(leaf),
            }
        }
        declarations
    }

    /// The row of the declaration at `leaf`, if it is one.
    pub(super) fn declaration(&self, leaf: u64) -> Option<&Declared> {
        self.by_declaration.get(&leaf)
    }

    /// The declarations of the entry at `leaf`.
    pub(super) fn of(&self, leaf: u64) -> &[(u64, [u8; 32])] {
        self.by_declared.get(&leaf).map_or(&[], Vec::as_slice)
    }

    /// The first declaration after `leaf` whose row says the log did not hold the event of `hash`.
    pub(super) fn unheld_after(&self, hash: &[u8; 32], leaf: u64) -> Option<u64> {
        if self.unheld.is_empty() {
            return None;
        }
        self.unheld
            .get(hash)?
            .iter()
            .copied()
            .filter(|declaration| *declaration > leaf)
            .min()
    }

    /// The first declaration at or past `size`, the log's end.
    pub(super) fn first_past(&self, size: u64) -> Option<u64> {
        self.by_declaration
            .range(size..)
            .next()
            .map(|(leaf, _)| *leaf)
    }
}
