//! The receipts custody authority reads from log order, kept for the one question it asks of
//! them: of the receipts dated after a point, by a party it accepts, which was logged first, and
//! was that before the event being judged? Answered in logarithmic time per party, however many
//! receipts a party writes: a scan of every receipt for every event made a party's own receipts
//! cost a history time quadratic (or worse) in their number.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::ids::OrganisationId;
use crate::size::LeafIndex;

/// A receipt as a question answers it: its entry, reporter, and the identifier it names (the
/// key custody keeps it under).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Receipt<'a> {
    pub(super) leaf: LeafIndex,
    pub(super) by: &'a OrganisationId,
    pub(super) named: &'a str,
}

/// One party's receipts of one identifier, by (eventTime, entry), keeping only those no other
/// answers before: a receipt dated later and logged earlier answers every question the other
/// does. What is kept therefore ascends in entry as it ascends in (eventTime, entry), and the
/// first kept after a point is the first logged of all dated after it.
#[derive(Clone, Debug, Default)]
struct Staircase(BTreeSet<(i128, LeafIndex)>);

impl Staircase {
    fn add(&mut self, time: i128, leaf: LeafIndex) {
        let at = (time, leaf);
        let answered_before = self
            .0
            .range((Bound::Included(at), Bound::Unbounded))
            .next()
            .is_some_and(|(_, later)| *later <= leaf);
        if answered_before {
            return;
        }
        // What this one answers before is dated earlier and logged later: no longer the answer
        // to anything.
        let superseded: Vec<(i128, LeafIndex)> = self
            .0
            .range(..at)
            .rev()
            .take_while(|(_, earlier)| *earlier >= leaf)
            .copied()
            .collect();
        for at in superseded {
            self.0.remove(&at);
        }
        self.0.insert(at);
    }

    /// The first logged of the receipts dated (then logged) after `after`.
    fn first_after(&self, after: (i128, LeafIndex)) -> Option<(i128, LeafIndex)> {
        self.0
            .range((Bound::Excluded(after), Bound::Unbounded))
            .next()
            .copied()
    }
}

/// The receipts of one identifier, by party ([`Staircase`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Receipts(BTreeMap<OrganisationId, Staircase>);

impl Receipts {
    /// Adds `by`'s receipt in entry `leaf`, dated `time`.
    pub(super) fn add(&mut self, by: &OrganisationId, time: i128, leaf: LeafIndex) {
        match self.0.get_mut(by) {
            Some(staircase) => staircase.add(time, leaf),
            None => {
                let mut staircase = Staircase::default();
                staircase.add(time, leaf);
                self.0.insert(by.clone(), staircase);
            }
        }
    }

    /// Of the receipts dated (then logged) after `after`, by a party `accept`s, the first
    /// logged, if it was logged before `before`: (entry, party).
    fn first(
        &self,
        after: (i128, LeafIndex),
        before: LeafIndex,
        accept: impl Fn(&OrganisationId) -> bool,
    ) -> Option<(LeafIndex, &OrganisationId)> {
        self.0
            .iter()
            .filter(|(by, _)| accept(by))
            .filter_map(|(by, staircase)| {
                let (_, leaf) = staircase.first_after(after)?;
                (leaf < before).then_some((leaf, by))
            })
            .min_by_key(|(leaf, _)| *leaf)
    }
}

/// Of the receipts of the identifiers `named` (each with its [`Receipts`]), dated (then logged)
/// after `after`, by a party `accept`s, the first logged, if it was logged before `before`; of
/// several in that entry, that of the identifier named first. The same receipt whichever other
/// events a history leaves out, as long as it keeps this one (which it does: the mark resting
/// on it keeps it), provided `named` comes in the same order.
pub(super) fn first_of<'a>(
    named: impl IntoIterator<Item = (&'a str, &'a Receipts)>,
    after: (i128, LeafIndex),
    before: LeafIndex,
    accept: impl Fn(&OrganisationId) -> bool,
) -> Option<Receipt<'a>> {
    let mut first: Option<Receipt<'a>> = None;
    for (name, receipts) in named {
        if let Some((leaf, by)) = receipts.first(after, before, &accept)
            && first.is_none_or(|first| leaf < first.leaf)
        {
            first = Some(Receipt {
                leaf,
                by,
                named: name,
            });
        }
    }
    first
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

    /// A receipt: the identifier it names, its party, eventTime and entry.
    type Logged = (String, OrganisationId, i128, LeafIndex);

    /// Every receipt scanned, identifiers in `names` order: the answer [`first_of`] must give.
    fn scanned<'a>(
        all: &'a [Logged],
        names: &[String],
        after: (i128, LeafIndex),
        before: LeafIndex,
        accept: impl Fn(&OrganisationId) -> bool,
    ) -> Option<(LeafIndex, &'a str, &'a OrganisationId)> {
        all.iter()
            .filter(|(_, by, time, leaf)| accept(by) && (*time, *leaf) > after && *leaf < before)
            .filter_map(|(named, by, _, leaf)| {
                let rank = names.iter().position(|name| name == named)?;
                Some((*leaf, rank, named.as_str(), by))
            })
            .min_by_key(|(leaf, rank, _, _)| (*leaf, *rank))
            .map(|(leaf, _, named, by)| (leaf, named, by))
    }

    #[test]
    fn the_first_logged_receipt_after_a_point_is_found_as_a_scan_finds_it() {
        // A pseudo-random mix of parties, times, entries and identifiers, some entries naming
        // two identifiers, added in any order; every question asked of it answered as a scan
        // does, whichever order the identifiers are asked in.
        let parties = [org("A"), org("B"), org("C")];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut all: Vec<Logged> = Vec::new();
        for n in 0..300 {
            let by = parties[next(3) as usize].clone();
            let time = i128::from(next(40));
            let named = next(4);
            all.push((format!("id-{named}"), by.clone(), time, leaf(n)));
            if next(5) == 0 {
                all.push((format!("id-{}", (named + 1) % 4), by, time, leaf(n)));
            }
        }
        let mut order: Vec<usize> = (0..all.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, next(i as u64 + 1) as usize);
        }
        let mut receipts: BTreeMap<String, Receipts> = BTreeMap::new();
        for i in order {
            let (named, by, time, leaf) = &all[i];
            receipts
                .entry(named.clone())
                .or_default()
                .add(by, *time, *leaf);
        }
        let forward: Vec<String> = receipts.keys().cloned().collect();
        let backward: Vec<String> = forward.iter().rev().cloned().collect();
        for names in [&forward, &backward] {
            let sets: Vec<(&str, &Receipts)> = names
                .iter()
                .map(|name| (name.as_str(), &receipts[name]))
                .collect();
            for time in -1..41 {
                for at in [0, 17, 150, 299] {
                    for before in [0, 1, 60, 200, 301] {
                        for accept in [&parties[..], &parties[1..], &parties[..1]] {
                            let after = (i128::from(time), leaf(at));
                            let accepts = |by: &OrganisationId| accept.contains(by);
                            let expected = scanned(&all, names, after, leaf(before), accepts);
                            let found =
                                first_of(sets.iter().copied(), after, leaf(before), accepts)
                                    .map(|r| (r.leaf, r.named, r.by));
                            assert_eq!(found, expected, "after {after:?}, before {before}");
                        }
                    }
                }
            }
        }
    }
}
