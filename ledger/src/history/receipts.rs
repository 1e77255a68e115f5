//! The receipts custody authority reads from log order, kept for the one question it asks of
//! them: of the receipts dated after a point, by a party it accepts, which was logged first, and
//! was that before the event being judged? Answered in logarithmic time per party, however many
//! receipts a party writes: a scan of every receipt for every event made a party's own receipts
//! cost a history time quadratic (or worse) in their number.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::ids::OrganisationId;
use crate::size::LeafIndex;

/// A receipt as a question answers it: its entry, eventTime, reporter, and the identifier it
/// names (the key custody keeps it under).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Receipt<'a> {
    pub(super) leaf: LeafIndex,
    pub(super) time: i128,
    pub(super) by: &'a OrganisationId,
    pub(super) named: &'a str,
}

/// One party's receipts, by (eventTime, entry), keeping only those no other answers before:
/// a receipt dated later and logged earlier (or, logged in the same entry, naming an identifier
/// that sorts first) answers every question the other does. What is kept therefore ascends in
/// (entry, identifier) as it ascends in (eventTime, entry), and the first kept after a point is
/// the first logged of all dated after it.
#[derive(Clone, Debug, Default)]
struct Staircase(BTreeMap<(i128, LeafIndex), String>);

impl Staircase {
    fn add(&mut self, time: i128, leaf: LeafIndex, named: &str) {
        let at = (time, leaf);
        if let Some(kept) = self.0.get_mut(&at) {
            if named < kept.as_str() {
                named.clone_into(kept);
            }
            return;
        }
        let answered_before = self
            .0
            .range((Bound::Excluded(at), Bound::Unbounded))
            .next()
            .is_some_and(|(&(_, later), kept)| (later, kept.as_str()) <= (leaf, named));
        if answered_before {
            return;
        }
        // What this one answers before is dated earlier and logged later (or names a later
        // identifier in the same entry): no longer the answer to anything.
        let superseded: Vec<(i128, LeafIndex)> = self
            .0
            .range(..at)
            .rev()
            .take_while(|((_, earlier), kept)| (*earlier, kept.as_str()) >= (leaf, named))
            .map(|(at, _)| *at)
            .collect();
        for at in superseded {
            self.0.remove(&at);
        }
        self.0.insert(at, named.to_owned());
    }

    /// The first logged of the receipts dated (then logged) after `after`.
    fn first_after(&self, after: (i128, LeafIndex)) -> Option<(i128, LeafIndex, &str)> {
        self.0
            .range((Bound::Excluded(after), Bound::Unbounded))
            .next()
            .map(|(&(time, leaf), named)| (time, leaf, named.as_str()))
    }
}

/// Receipts by party ([`Staircase`]): of one identifier, or of everything a shipment carries.
#[derive(Clone, Debug, Default)]
pub(super) struct Receipts(BTreeMap<OrganisationId, Staircase>);

impl Receipts {
    /// Adds `by`'s receipt of `named` in entry `leaf`, dated `time`.
    pub(super) fn add(&mut self, by: &OrganisationId, time: i128, leaf: LeafIndex, named: &str) {
        match self.0.get_mut(by) {
            Some(staircase) => staircase.add(time, leaf, named),
            None => {
                let mut staircase = Staircase::default();
                staircase.add(time, leaf, named);
                self.0.insert(by.clone(), staircase);
            }
        }
    }

    /// Adds every receipt `other` answers with.
    pub(super) fn merge(&mut self, other: &Receipts) {
        for (by, staircase) in &other.0 {
            for (&(time, leaf), named) in &staircase.0 {
                self.add(by, time, leaf, named);
            }
        }
    }

    /// Of the receipts dated (then logged) after `after`, by a party `accept`s, the first logged,
    /// if it was logged before `before`. The same receipt whichever others are left out, as
    /// long as it is not: what a history keeps with a mark resting on it.
    pub(super) fn first(
        &self,
        after: (i128, LeafIndex),
        before: LeafIndex,
        accept: impl Fn(&OrganisationId) -> bool,
    ) -> Option<Receipt<'_>> {
        self.0
            .iter()
            .filter(|(by, _)| accept(by))
            .filter_map(|(by, staircase)| {
                let (time, leaf, named) = staircase.first_after(after)?;
                Some(Receipt {
                    leaf,
                    time,
                    by,
                    named,
                })
            })
            .filter(|receipt| receipt.leaf < before)
            .min_by(|a, b| (a.leaf, a.named).cmp(&(b.leaf, b.named)))
    }
}

/// The first of `receipts`' answers ([`Receipts::first`]) across several sets of receipts.
pub(super) fn first_of<'a>(
    sets: impl IntoIterator<Item = &'a Receipts>,
    after: (i128, LeafIndex),
    before: LeafIndex,
    accept: impl Fn(&OrganisationId) -> bool,
) -> Option<Receipt<'a>> {
    sets.into_iter()
        .filter_map(|receipts| receipts.first(after, before, &accept))
        .min_by(|a, b| (a.leaf, a.named).cmp(&(b.leaf, b.named)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u64) -> LeafIndex {
        LeafIndex::new(n).unwrap()
    }

    fn org(id: &str) -> OrganisationId {
        OrganisationId::parse(id).unwrap()
    }

    /// Every receipt, scanned: the answer [`Receipts::first`] must give.
    fn scanned<'a>(
        all: &'a [(OrganisationId, i128, LeafIndex, String)],
        after: (i128, LeafIndex),
        before: LeafIndex,
        accept: impl Fn(&OrganisationId) -> bool,
    ) -> Option<(LeafIndex, &'a str, &'a OrganisationId)> {
        all.iter()
            .filter(|(by, time, leaf, _)| {
                accept(by) && (*time, *leaf) > after && *leaf < before
            })
            .map(|(by, _, leaf, named)| (*leaf, named.as_str(), by))
            .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
    }

    #[test]
    fn the_first_logged_receipt_after_a_point_is_found_as_a_scan_finds_it() {
        // A pseudo-random mix of parties, times, entries and names, some entries naming two
        // identifiers, added in any order; every question asked of it answered as a scan does.
        let parties = [org("A"), org("B"), org("C")];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut all = Vec::new();
        for n in 0..300 {
            let by = parties[next(3) as usize].clone();
            let time = i128::from(next(40));
            let named = format!("id-{}", next(4));
            all.push((by.clone(), time, leaf(n), named));
            if next(5) == 0 {
                all.push((by, time, leaf(n), format!("id-{}", next(4))));
            }
        }
        let mut receipts = Receipts::default();
        let mut order: Vec<usize> = (0..all.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, next(i as u64 + 1) as usize);
        }
        for i in order {
            let (by, time, leaf, named) = &all[i];
            receipts.add(by, *time, *leaf, named);
        }
        let mut merged = Receipts::default();
        merged.merge(&receipts);
        for time in -1..41 {
            for at in [0, 17, 150, 299] {
                for before in [0, 1, 60, 200, 301] {
                    for accept in [&parties[..], &parties[1..], &parties[..1]] {
                        let after = (i128::from(time), leaf(at));
                        let accepts = |by: &OrganisationId| accept.contains(by);
                        let expected = scanned(&all, after, leaf(before), accepts);
                        for set in [&receipts, &merged] {
                            let found = set
                                .first(after, leaf(before), accepts)
                                .map(|r| (r.leaf, r.named, r.by));
                            assert_eq!(found, expected, "after {after:?}, before {before}");
                        }
                    }
                }
            }
        }
    }
}
