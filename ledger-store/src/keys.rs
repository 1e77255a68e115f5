//! [`LookupKeys`]: what the lookup tables hold of one event, and the hand-off that brings them
//! from the sequencer to the indexer of the same [`Writer`](super::Writer) without reading the event
//! back.
//!
//! Ingest has parsed every event it appends: it computes the keys from the parsed object
//! ([`LookupKeys::of_event`]) and attaches them to the entry
//! ([`NewEntry::with_lookup_keys`](super::NewEntry::with_lookup_keys)). After the durable commit,
//! the sequencer hands the keys of the new entries to the store's [`KeyHandoff`]; the indexer takes
//! them from there when they continue its watermark, and otherwise (entries appended by another
//! process, keys dropped because the indexer fell far behind, entries appended without keys) reads
//! the stored JSON and parses it ([`LookupKeys::of_json`]). Both give the same keys.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::indexer::PgTimestamp;

/// The most handed-over entries kept for the indexer (about 40 MB); older ones are dropped first
/// (the indexer then reads those entries back from the database).
const MAX_HANDED_ENTRIES: usize = 200_000;

/// The lookup keys of one event: its EPCs (`epcList`, `childEPCs`, `inputEPCList`,
/// `outputEPCList`), its `parentID`, its `readPoint` and `bizLocation` ids (each as
/// [`lookup_key`]) and its `eventTime`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupKeys {
    /// Sorted, without duplicates.
    epcs: Vec<i64>,
    parent: Option<i64>,
    /// Sorted, without duplicates.
    locations: Vec<i64>,
    event_time: Option<PgTimestamp>,
    /// The keys of the verifiable index (`ledger::index`), sorted, without duplicates.
    index: Vec<ledger::index::IndexKey>,
    /// Whether the event changes some item's state (`ledger::history::changes_state`), for its
    /// lookup pairs' tag.
    changes: bool,
    /// Whether the event is a receipt (`ledger::history::receives`), for its lookup pairs' tag.
    receipt: bool,
    /// The lookup keys of the identifiers the event claims to bring into being
    /// (`ledger::history::claimed`), sorted, without duplicates: the pairs under these say so in
    /// their tag ([`tag_under`](Self::tag_under)).
    claimed: Vec<i64>,
}

impl LookupKeys {
    /// The keys of a parsed EPCIS 2.0 JSON event. Members of the wrong type are skipped (ingest
    /// has validated the event), and so is an `eventTime` that is not a valid timestamp.
    pub fn of_event(event: &Map<String, Value>) -> Self {
        let strings = |name: &str| {
            event
                .get(name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
        };
        let epcs = strings("epcList")
            .chain(strings("childEPCs"))
            .chain(strings("inputEPCList"))
            .chain(strings("outputEPCList"));
        let place = |name: &str| {
            event
                .get(name)
                .and_then(|place| place.get("id"))
                .and_then(Value::as_str)
        };
        let time = event.get("eventTime").and_then(Value::as_str);
        Self::build(
            epcs,
            event.get("parentID").and_then(Value::as_str),
            [place("readPoint"), place("bizLocation")]
                .into_iter()
                .flatten(),
            time.and_then(|time| parse_time(time).ok()),
        )
        .with_index(ledger::index::keys_of_event(event))
        .with_recalls(&ledger::history::class_recall_names(event))
        .with_event_id(event.get("eventID").and_then(Value::as_str))
        .with_changes(ledger::history::changes_state(event))
        .with_receipt(ledger::history::receives(event))
        .with_claimed(&ledger::history::claimed(event))
    }

    /// The keys of an event as `epcis` parsed it: the same as [`of_event`](Self::of_event) of its
    /// JSON object, without building that object.
    pub fn of_parsed(event: &epcis::document::Event) -> Self {
        let epcs = event
            .epc_list()
            .chain(event.child_epcs())
            .chain(event.input_epc_list())
            .chain(event.output_epc_list());
        Self::build(
            epcs,
            event.parent_id(),
            [event.read_point(), event.biz_location()]
                .into_iter()
                .flatten(),
            event
                .event_time()
                .map(|time| PgTimestamp::from_unix_nanos(time.unix_nanos())),
        )
        .with_index(ledger::index::keys_of_parsed(event))
        .with_recalls(&ledger::history::class_recall_names(event.raw()))
        .with_event_id(event.event_id())
        .with_changes(ledger::history::changes_state(event.raw()))
        .with_receipt(ledger::history::receives(event.raw()))
        .with_claimed(&ledger::history::claimed(event.raw()))
    }

    /// The keys of an event's JSON text, as stored. Fails when the text is not a JSON object or
    /// a member the keys come from has the wrong type; an `eventTime` that is not a valid
    /// timestamp is left out.
    pub fn of_json(text: &str) -> Result<Self, serde_json::Error> {
        let fields: LookupFields<'_> = serde_json::from_str(text)?;
        let epcs = fields
            .epc_list
            .iter()
            .chain(&fields.child_epcs)
            .chain(&fields.input_epc_list)
            .chain(&fields.output_epc_list)
            .map(|epc| epc.as_ref());
        let places = [&fields.read_point, &fields.biz_location]
            .into_iter()
            .flatten()
            .filter_map(|place| place.id.as_deref());
        // The verifiable index and recalls of classes read members the lookups skip
        // (quantities, ILMD, dispositions): a second parse, on the path of entries the indexer
        // reads back only.
        // An event whose kind cannot be told counts as a state change: a history never leaves
        // one out for an observation (and as no receipt and no claim: it is read as a state
        // change).
        let (index, recalls, changes, receipt, claimed) = match serde_json::from_str::<Value>(text)
        {
            Ok(Value::Object(event)) => (
                ledger::index::keys_of_event(&event),
                ledger::history::class_recall_names(&event),
                ledger::history::changes_state(&event),
                ledger::history::receives(&event),
                (ledger::history::claimed(&event).into_iter())
                    .map(lookup_key)
                    .collect(),
            ),
            _ => (Vec::new(), Vec::new(), true, false, Vec::new()),
        };
        Ok(Self::build(
            epcs,
            fields.parent_id.as_deref(),
            places,
            fields
                .event_time
                .as_deref()
                .and_then(|time| parse_time(time).ok()),
        )
        .with_index(index)
        .with_recalls(&recalls)
        .with_event_id(fields.event_id.as_ref().and_then(Value::as_str))
        .with_changes(changes)
        .with_receipt(receipt)
        .with_claimed_keys(claimed))
    }

    /// Adds the lookup name of the event's `eventID` ([`event_id_lookup_name`]) to the EPC
    /// keys: `GET /events/{eventID}` finds the event under it.
    fn with_event_id(mut self, id: Option<&str>) -> Self {
        if let Some(id) = id {
            self.epcs.push(lookup_key(&event_id_lookup_name(id)));
            self.epcs.sort_unstable();
            self.epcs.dedup();
        }
        self
    }

    /// Adds the lookup names of a recall of classes (`ledger::history::class_recall_names`) to
    /// the EPC keys: a recall of a lot or a product is found under them.
    fn with_recalls(mut self, names: &[String]) -> Self {
        if !names.is_empty() {
            self.epcs.extend(names.iter().map(|name| lookup_key(name)));
            self.epcs.sort_unstable();
            self.epcs.dedup();
        }
        self
    }

    fn with_changes(mut self, changes: bool) -> Self {
        self.changes = changes;
        self
    }

    fn with_receipt(mut self, receipt: bool) -> Self {
        self.receipt = receipt;
        self
    }

    fn with_claimed(self, ids: &[&str]) -> Self {
        self.with_claimed_keys(ids.iter().map(|id| lookup_key(id)).collect())
    }

    fn with_claimed_keys(mut self, mut keys: Vec<i64>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        self.claimed = keys;
        self
    }

    fn with_index(mut self, index: Vec<ledger::index::IndexKey>) -> Self {
        self.index = index;
        self
    }

    fn build<'a>(
        epcs: impl Iterator<Item = &'a str>,
        parent: Option<&str>,
        locations: impl Iterator<Item = &'a str>,
        event_time: Option<PgTimestamp>,
    ) -> Self {
        let mut epcs: Vec<i64> = epcs.map(lookup_key).collect();
        // An EPC listed twice in one event is one lookup key; so is a place named twice.
        epcs.sort_unstable();
        epcs.dedup();
        let mut locations: Vec<i64> = locations.map(lookup_key).collect();
        locations.sort_unstable();
        locations.dedup();
        Self {
            epcs,
            parent: parent.map(lookup_key),
            locations,
            event_time,
            index: Vec::new(),
            changes: true,
            receipt: false,
            claimed: Vec::new(),
        }
    }

    /// The EPC keys, sorted, without duplicates.
    pub(crate) fn epcs(&self) -> &[i64] {
        &self.epcs
    }

    /// The keys an event is found by as an EPC: its EPCs' and, for a recall of classes, the
    /// lookup names of what it recalls; sorted, without duplicates.
    pub fn epc_keys(&self) -> &[i64] {
        &self.epcs
    }

    /// The parent id key.
    pub(crate) fn parent(&self) -> Option<i64> {
        self.parent
    }

    /// The location keys, sorted, without duplicates.
    pub(crate) fn locations(&self) -> &[i64] {
        &self.locations
    }

    /// The event time.
    pub(crate) fn event_time(&self) -> Option<PgTimestamp> {
        self.event_time
    }

    /// The keys of the verifiable index.
    pub(crate) fn index(&self) -> &[ledger::index::IndexKey] {
        &self.index
    }

    /// The tag of the lookup pairs of an entry with these keys, attested so, under no
    /// identifier (its hash, a place): whatever it claims is another's
    /// (`ledger::history::Tag::other_claim`; [`tag_under`](Self::tag_under) for a pair under an
    /// identifier).
    pub(crate) fn tag(&self, attestation: &ledger::record::Attestation) -> i64 {
        ledger::history::Tag::new(attestation, self.changes)
            .with_receipt(self.receipt)
            .with_other_claim(!self.claimed.is_empty())
            .to_bits()
    }

    /// The tag of the entry's pair under the identifier whose lookup key is `key`, given its
    /// pairs' [`tag`](Self::tag): a claim when the event claims to bring that identifier into
    /// being (`ledger::history::Tag::claim`), another's when it claims anything else.
    pub(crate) fn tag_under(&self, tag: i64, key: i64) -> i64 {
        let claims = self.claimed.binary_search(&key).is_ok();
        let others = self.claimed.iter().any(|&claimed| claimed != key);
        ledger::history::Tag::from_bits(tag)
            .with_claim(claims)
            .with_other_claim(others)
            .to_bits()
    }
}

fn parse_time(text: &str) -> Result<PgTimestamp, epcis::document::TimeError> {
    epcis::document::Timestamp::parse(text)
        .map(|time| PgTimestamp::from_unix_nanos(time.unix_nanos()))
}

/// The name an event is looked up by for its `eventID`, among the EPC keys: the id after
/// `eventID ` (a space no URI holds, so no EPC's name is ever one, and an event whose id is
/// someone's EPC is no candidate of that EPC's history).
pub fn event_id_lookup_name(id: &str) -> String {
    format!("eventID {id}")
}

/// The lookup key of an identifier (an EPC, a parent id, a location): the first 8 bytes of its
/// SHA-256 as a signed big-endian integer. The same as the SQL function `tagtrail_lookup_key`.
pub fn lookup_key(id: &str) -> i64 {
    let digest: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    i64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

/// The members of an EPCIS 2.0 JSON event the lookup tables use; everything else is skipped.
#[derive(Deserialize)]
struct LookupFields<'a> {
    #[serde(borrow, default, rename = "epcList")]
    epc_list: Vec<Cow<'a, str>>,
    #[serde(borrow, default, rename = "childEPCs")]
    child_epcs: Vec<Cow<'a, str>>,
    #[serde(borrow, default, rename = "inputEPCList")]
    input_epc_list: Vec<Cow<'a, str>>,
    #[serde(borrow, default, rename = "outputEPCList")]
    output_epc_list: Vec<Cow<'a, str>>,
    #[serde(borrow, default, rename = "parentID")]
    parent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "readPoint")]
    read_point: Option<Place<'a>>,
    #[serde(borrow, default, rename = "bizLocation")]
    biz_location: Option<Place<'a>>,
    #[serde(borrow, default, rename = "eventTime")]
    event_time: Option<Cow<'a, str>>,
    /// Any JSON value: an `eventID` that is not a string is no key (as for the parsed event),
    /// never a reason to drop the entry's other keys.
    #[serde(default, rename = "eventID")]
    event_id: Option<Value>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

/// A committed entry's event hash and lookup keys, handed from the sequencer to the indexer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HandedKeys {
    pub(crate) event_hash: [u8; 32],
    pub(crate) keys: LookupKeys,
    /// The tag of its lookup pairs under no identifier ([`LookupKeys::tag`]); a pair under an
    /// identifier has [`LookupKeys::tag_under`] it.
    pub(crate) tag: i64,
}

/// Lookup keys of committed entries, in runs of consecutive leaves, waiting for the indexer of
/// the same store. Shared by every clone of the store.
#[derive(Debug, Default)]
pub(crate) struct KeyHandoff {
    runs: Mutex<Runs>,
}

#[derive(Debug, Default)]
struct Runs {
    /// First leaf index → the keys of that entry and the following ones.
    by_first_leaf: BTreeMap<u64, Vec<HandedKeys>>,
    entries: usize,
}

impl KeyHandoff {
    /// Hands over the keys of entries `first_leaf..first_leaf + run.len()`, which have committed.
    pub(crate) fn publish(&self, first_leaf: u64, run: Vec<HandedKeys>) {
        if run.is_empty() {
            return;
        }
        let Ok(mut runs) = self.runs.lock() else {
            return;
        };
        runs.entries += run.len();
        if let Some(replaced) = runs.by_first_leaf.insert(first_leaf, run) {
            runs.entries -= replaced.len();
        }
        while runs.entries > MAX_HANDED_ENTRIES {
            let Some((_, dropped)) = runs.by_first_leaf.pop_first() else {
                break;
            };
            runs.entries -= dropped.len();
        }
    }

    /// Forgets the keys of every entry below leaf `covered` (indexed already).
    pub(crate) fn forget_below(&self, covered: u64) {
        self.take(covered, 0);
    }

    /// Takes the keys of up to `max` consecutive entries starting at leaf `from`, and forgets
    /// every entry below `from` (indexed already). Empty when the entry at `from` was not handed
    /// over (or was dropped).
    pub(crate) fn take(&self, from: u64, max: usize) -> Vec<HandedKeys> {
        let Ok(mut runs) = self.runs.lock() else {
            return Vec::new();
        };
        // Runs wholly below `from` are indexed; a run reaching past it keeps its tail.
        while let Some(entry) = runs.by_first_leaf.first_entry() {
            let first = *entry.key();
            if first >= from {
                break;
            }
            let mut run = entry.remove();
            runs.entries -= run.len();
            let behind = usize::try_from(from - first).unwrap_or(usize::MAX);
            if behind < run.len() {
                let rest = run.split_off(behind);
                runs.entries += rest.len();
                runs.by_first_leaf.insert(from, rest);
            }
        }
        let mut taken: Vec<HandedKeys> = Vec::new();
        let mut next = from;
        while taken.len() < max {
            let Some(mut run) = runs.by_first_leaf.remove(&next) else {
                break;
            };
            runs.entries -= run.len();
            let room = max - taken.len();
            if run.len() > room {
                let rest = run.split_off(room);
                runs.entries += rest.len();
                runs.by_first_leaf.insert(next + room as u64, rest);
            }
            next += run.len() as u64;
            if taken.is_empty() {
                taken = run;
            } else {
                taken.append(&mut run);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn handed(n: u8) -> HandedKeys {
        HandedKeys {
            event_hash: [n; 32],
            keys: LookupKeys::default(),
            tag: 0,
        }
    }

    fn hashes(list: &[HandedKeys]) -> Vec<u8> {
        list.iter().map(|h| h.event_hash[0]).collect()
    }

    #[test]
    fn keys_of_a_parsed_event_are_the_keys_of_its_json_text() {
        let event = json!({
            "type": "AggregationEvent",
            "eventTime": "2000-01-01T00:00:01.5Z",
            "parentID": "urn:epc:id:sscc:4012345.0000000001",
            "childEPCs": ["urn:epc:id:sgtin:4012345.011111.2", "urn:epc:id:sgtin:4012345.011111.1",
                          "urn:epc:id:sgtin:4012345.011111.2"],
            "epcList": ["urn:epc:id:sgtin:4012345.011111.9"],
            "inputEPCList": ["urn:epc:id:sgtin:4012345.011111.8"],
            "outputEPCList": ["urn:epc:id:sgtin:4012345.011111.7"],
            "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.1"},
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.2"}
        });
        let parsed = LookupKeys::of_event(event.as_object().unwrap());
        let text = LookupKeys::of_json(&event.to_string()).unwrap();
        assert_eq!(parsed, text);
        let mut epcs: Vec<i64> = ["1", "2", "7", "8", "9"]
            .iter()
            .map(|serial| lookup_key(&format!("urn:epc:id:sgtin:4012345.011111.{serial}")))
            .collect();
        epcs.sort_unstable();
        assert_eq!(parsed.epcs(), epcs);
        assert_eq!(
            parsed.parent(),
            Some(lookup_key("urn:epc:id:sscc:4012345.0000000001"))
        );
        assert_eq!(parsed.locations().len(), 2);
        assert_eq!(
            parsed.event_time(),
            Some(PgTimestamp::from_unix_nanos(946_684_801_500_000_000))
        );
    }

    /// A receipt's pairs say so in their tag (and that it changes state), whichever way its keys
    /// were computed; a shipping's do not.
    #[test]
    fn a_receipt_s_tag_says_it_is_one() {
        let site = ledger::record::Attestation::Unattested {
            site: ledger::ids::SiteId::parse("dock").unwrap(),
        };
        for (step, receipt) in [
            ("receiving", true),
            ("urn:epcglobal:cbv:bizstep:arriving", true),
            ("shipping", false),
        ] {
            let event = json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": step,
                "eventTime": "2000-01-01T00:00:01Z", "epcList": ["urn:epc:id:sgtin:4012345.011111.1"]});
            let parsed = LookupKeys::of_event(event.as_object().unwrap());
            assert_eq!(LookupKeys::of_json(&event.to_string()).unwrap(), parsed);
            let tag = ledger::history::Tag::from_bits(parsed.tag(&site));
            assert_eq!(tag.receipt(), receipt, "{step}");
            assert!(tag.changes_state(), "{step}");
        }
    }

    /// A claim's pair under what it claims (commissioning, a transformation's outputs, packing
    /// into a container) says so in its tag, whichever way its keys were computed; its other
    /// pairs, and a receipt's and an unpacking's, do not.
    #[test]
    fn a_claim_s_tag_says_it_is_one() {
        let site = ledger::record::Attestation::Unattested {
            site: ledger::ids::SiteId::parse("dock").unwrap(),
        };
        let epc = "urn:epc:id:sgtin:4012345.011111.1";
        let parent = "urn:epc:id:sscc:4012345.0000000001";
        let time = "2000-01-01T00:00:01Z";
        for (event, claims) in [
            (
                json!({"type": "ObjectEvent", "action": "ADD", "epcList": [epc]}),
                [true, false],
            ),
            (
                json!({"type": "TransformationEvent", "outputEPCList": [epc]}),
                [true, false],
            ),
            (
                json!({"type": "TransformationEvent", "inputEPCList": [epc],
                "outputEPCList": [parent]}),
                [false, true],
            ),
            (
                json!({"type": "AggregationEvent", "action": "ADD", "parentID": parent,
                "childEPCs": [epc]}),
                [false, true],
            ),
            (
                json!({"type": "AggregationEvent", "action": "DELETE", "parentID": parent,
                "childEPCs": [epc]}),
                [false, false],
            ),
            (
                json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
                "epcList": [epc]}),
                [false, false],
            ),
        ] {
            let mut event = event.as_object().unwrap().clone();
            event.insert("eventTime".to_owned(), json!(time));
            let parsed = LookupKeys::of_event(&event);
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(LookupKeys::of_json(&text).unwrap(), parsed);
            let tag = parsed.tag(&site);
            // Under the item, its pair claims when the event brings the item into being; under
            // the case, when it packs into it; under neither otherwise, nor under the entry's
            // hash (its pairs' tag).
            let under =
                |id: &str| ledger::history::Tag::from_bits(parsed.tag_under(tag, lookup_key(id)));
            assert_eq!(under(epc).claim(), claims[0], "{text}");
            assert_eq!(under(parent).claim(), claims[1], "{text}");
            // What one pair claims is another's to the other; under the hash, both are.
            assert_eq!(under(epc).other_claim(), claims[1], "{text}");
            assert_eq!(under(parent).other_claim(), claims[0], "{text}");
            let unnamed = ledger::history::Tag::from_bits(tag);
            assert!(!unnamed.claim(), "{text}");
            assert_eq!(unnamed.other_claim(), claims[0] || claims[1], "{text}");
            assert!(
                under(epc).changes_state() && under(parent).changes_state(),
                "{text}"
            );
        }
    }

    #[test]
    fn an_event_without_lookup_members_has_no_keys_and_a_bad_time_is_left_out() {
        let event = json!({"type": "ObjectEvent", "eventTime": "2024-02-30T00:00:00Z"});
        let keys = LookupKeys::of_event(event.as_object().unwrap());
        assert_eq!(keys, LookupKeys::default());
        assert_eq!(LookupKeys::of_json(&event.to_string()).unwrap(), keys);
        assert!(LookupKeys::of_json(r#"{"epcList": 5}"#).is_err());
        assert!(LookupKeys::of_json("[1]").is_err());
    }

    #[test]
    fn the_lookup_key_is_the_first_eight_bytes_of_the_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea ... (FIPS 180-2, appendix B.1).
        assert_eq!(
            lookup_key("abc"),
            i64::from_be_bytes([0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea])
        );
    }

    #[test]
    fn handed_runs_are_taken_in_leaf_order_across_runs_and_in_pieces() {
        let handoff = KeyHandoff::default();
        // Published out of order, as two sequencers of one process may.
        handoff.publish(13, vec![handed(13), handed(14)]);
        handoff.publish(10, vec![handed(10), handed(11), handed(12)]);
        assert_eq!(hashes(&handoff.take(10, 4)), [10, 11, 12, 13]);
        assert_eq!(hashes(&handoff.take(14, 10)), [14]);
        assert!(handoff.take(15, 10).is_empty());
    }

    #[test]
    fn nothing_is_taken_when_the_watermark_is_not_where_a_run_continues() {
        let handoff = KeyHandoff::default();
        handoff.publish(10, vec![handed(10), handed(11)]);
        handoff.publish(20, vec![handed(20)]);
        // Entries 0..10 were appended elsewhere: read them back, keep the run.
        assert!(handoff.take(0, 5).is_empty());
        // The database path indexed 10 already: the run's tail continues at 11.
        assert_eq!(hashes(&handoff.take(11, 5)), [11]);
        // 12..20 are missing: nothing to take at 12, and 20 waits.
        assert!(handoff.take(12, 5).is_empty());
        assert_eq!(hashes(&handoff.take(20, 5)), [20]);
    }

    #[test]
    fn the_oldest_runs_are_dropped_beyond_the_limit() {
        let handoff = KeyHandoff::default();
        let run = |first: u64| {
            (first..first + 50_000)
                .map(|n| handed(n as u8))
                .collect::<Vec<_>>()
        };
        for first in (0..5).map(|k| k * 50_000) {
            handoff.publish(first, run(first));
        }
        assert!(handoff.take(0, 10).is_empty(), "the oldest run is dropped");
        assert_eq!(handoff.take(50_000, 10).len(), 10);
    }

    #[test]
    fn runs_below_what_another_indexer_covered_are_forgotten() {
        let handoff = KeyHandoff::default();
        handoff.publish(0, vec![handed(0), handed(1), handed(2)]);
        handoff.publish(3, vec![handed(3)]);
        handoff.forget_below(2);
        assert_eq!(handoff.runs.lock().unwrap().entries, 2);
        assert!(handoff.take(0, 10).is_empty());
        assert_eq!(hashes(&handoff.take(2, 10)), [2, 3]);
        assert_eq!(handoff.runs.lock().unwrap().entries, 0);
    }
}
