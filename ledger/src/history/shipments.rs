//! The shipments custody authority reads from log order, kept for the one question a backdated
//! transfer asks of them: of one shipper's shipments of an identifier naming one party, logged
//! before the transfer and dated after it, which is dated first? Answered in logarithmic time,
//! however many shipments and transfers a party writes: a scan of every shipment for every
//! transfer made one party's own events cost a history time quadratic in their number.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ids::OrganisationId;
use crate::size::LeafIndex;

/// One shipper's shipments of one identifier that name one party, by (eventTime, entry), with
/// the least entry of every range of them a binary tree splits them into: the first dated of
/// those logged before an entry is one descent of the tree.
#[derive(Clone, Debug, Default)]
pub(super) struct Run {
    shipped: Vec<(i128, LeafIndex)>,
    /// `least[1]` is the least entry of all; `least[n]` that of its range, `least[2n]` and
    /// `least[2n + 1]` those of its halves; the shipments' own entries from `least[width]` on,
    /// in `shipped`'s order, padded with [`LeafIndex::LAST`].
    least: Vec<LeafIndex>,
}

impl Run {
    fn push(&mut self, time: i128, leaf: LeafIndex) {
        self.shipped.push((time, leaf));
    }

    /// Orders what was pushed and builds the tree.
    fn seal(&mut self) {
        self.shipped.sort_unstable();
        self.shipped.dedup();
        let width = self.shipped.len().next_power_of_two();
        let mut least = vec![LeafIndex::LAST; 2 * width];
        for (at, (_, leaf)) in self.shipped.iter().enumerate() {
            least[width + at] = *leaf;
        }
        for node in (1..width).rev() {
            least[node] = least[2 * node].min(least[2 * node + 1]);
        }
        self.least = least;
    }

    /// Of the shipments dated after `after` and logged before `before`, the first dated (then
    /// logged): (eventTime, entry).
    pub(super) fn first(&self, after: i128, before: LeafIndex) -> Option<(i128, LeafIndex)> {
        let start = self.shipped.partition_point(|(time, _)| *time <= after);
        let width = self.least.len() / 2;
        self.first_below(1, 0..width, start, before)
            .map(|at| self.shipped[at])
    }

    /// The first position from `start` on, in `node`'s range `span`, whose entry is before
    /// `before`. A range wholly before `start`, or with no entry before `before`, is skipped
    /// whole, so that one descent finds it.
    fn first_below(
        &self,
        node: usize,
        span: std::ops::Range<usize>,
        start: usize,
        before: LeafIndex,
    ) -> Option<usize> {
        if span.end <= start || self.least.get(node).is_none_or(|least| *least >= before) {
            return None;
        }
        if span.len() == 1 {
            return Some(span.start);
        }
        let middle = span.start + span.len() / 2;
        self.first_below(2 * node, span.start..middle, start, before)
            .or_else(|| self.first_below(2 * node + 1, middle..span.end, start, before))
    }
}

/// Every shipment of each identifier (by key), by shipper and by the party it names (a shipment
/// naming two parties is in the run of each): added in any order, then [`sealed`](Self::seal).
#[derive(Clone, Debug, Default)]
pub(super) struct Shipments(HashMap<String, BTreeMap<(OrganisationId, OrganisationId), Run>>);

impl Shipments {
    /// Adds `shipper`'s shipment of `key` in entry `leaf`, dated `time`, naming the parties `to`.
    pub(super) fn add(
        &mut self,
        key: String,
        shipper: &OrganisationId,
        to: &BTreeSet<OrganisationId>,
        time: i128,
        leaf: LeafIndex,
    ) {
        let runs = self.0.entry(key).or_default();
        for named in to {
            runs.entry((shipper.clone(), named.clone()))
                .or_default()
                .push(time, leaf);
        }
    }

    /// Orders every run once all are added; before, [`Run::first`] finds nothing.
    pub(super) fn seal(&mut self) {
        for run in self.0.values_mut().flat_map(BTreeMap::values_mut) {
            run.seal();
        }
    }

    /// The runs of shipments of `key`: (shipper, party named, run), by shipper then party.
    pub(super) fn of(
        &self,
        key: &str,
    ) -> impl Iterator<Item = (&OrganisationId, &OrganisationId, &Run)> {
        self.0
            .get(key)
            .into_iter()
            .flatten()
            .map(|((shipper, named), run)| (shipper, named, run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u64) -> LeafIndex {
        LeafIndex::new(n).unwrap()
    }

    #[test]
    fn the_first_dated_shipment_logged_before_an_entry_is_found_as_a_scan_finds_it() {
        // Pseudo-random runs of every size up to 70 (powers of two and one past them among
        // them), times and entries repeating, pushed in any order; every question answered as a
        // scan of them does.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for size in 0..70 {
            let mut run = Run::default();
            let mut all = Vec::new();
            for _ in 0..size {
                let shipped = (i128::from(next(30)), leaf(next(100)));
                all.push(shipped);
                run.push(shipped.0, shipped.1);
            }
            run.seal();
            for after in -1..31 {
                for before in [0, 1, 2, 17, 50, 99, 100, 101] {
                    let expected = all
                        .iter()
                        .filter(|(time, at)| *time > after && *at < leaf(before))
                        .min()
                        .copied();
                    assert_eq!(
                        run.first(after, leaf(before)),
                        expected,
                        "size {size}, after {after}, before {before}"
                    );
                }
            }
        }
    }

    /// A run as a test reads it: shipper, party named, and the first shipment it finds.
    type Answered = (String, String, Option<(i128, LeafIndex)>);

    #[test]
    fn a_shipment_naming_two_parties_is_in_the_run_of_each() {
        let org = |id: &str| OrganisationId::parse(id).unwrap();
        let mut shipments = Shipments::default();
        let to = BTreeSet::from([org("B"), org("C")]);
        shipments.add("case".to_owned(), &org("A"), &to, 5, leaf(3));
        shipments.add("case".to_owned(), &org("A"), &BTreeSet::new(), 6, leaf(4));
        shipments.seal();
        let runs: Vec<Answered> = shipments
            .of("case")
            .map(|(from, named, run)| (from.to_string(), named.to_string(), run.first(0, leaf(10))))
            .collect();
        let first = Some((5, leaf(3)));
        assert_eq!(
            runs,
            [
                ("A".to_owned(), "B".to_owned(), first),
                ("A".to_owned(), "C".to_owned(), first)
            ]
        );
        assert_eq!(shipments.of("item").count(), 0);
    }
}
