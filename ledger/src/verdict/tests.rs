//! The verdict's rules on realistic event sequences, some written by a hostile participant: A is
//! a brand owning company prefix 0614141, C its retailer, B another registered party.

use serde_json::json;

use super::*;
use crate::history::{Judge, Memory, Parties, SourceEvent, in_memory};
use epcis::epc::CompanyPrefix;

const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2017";
const A_FACTORY: &str = "urn:epc:id:sgln:0614141.00001.0";
const C_SHOP: &str = "urn:epc:id:sgln:0614141.00002.0";
const B_WAREHOUSE: &str = "urn:epc:id:sgln:0712345.00001.0";
const B_DEPOT: &str = "urn:epc:id:sgln:0712345.00002.0";
const TID: &str = "E2801190200053A8B1C00A1B";

fn org(id: &str) -> OrganisationId {
    OrganisationId::parse(id).unwrap()
}

/// `2026-03-01` plus `minutes`.
fn at(minutes: u32) -> String {
    let (days, rest) = (minutes / 1440, minutes % 1440);
    format!(
        "2026-03-{:02}T{:02}:{:02}:00Z",
        1 + days,
        rest / 60,
        rest % 60
    )
}

/// An ObjectEvent of the item (no business step when `step` is empty).
fn event(minutes: u32, action: &str, step: &str, place: &str) -> Map<String, Value> {
    let mut event = json!({"type": "ObjectEvent", "eventTime": at(minutes),
        "eventTimeZoneOffset": "+00:00", "action": action, "epcList": [ITEM],
        "readPoint": {"id": place}})
    .as_object()
    .unwrap()
    .clone();
    if !step.is_empty() {
        event.insert("bizStep".to_owned(), json!(step));
    }
    event
}

/// The event with `place` as its destination: a shipment to whoever registered it.
fn to(mut event: Map<String, Value>, place: &str) -> Map<String, Value> {
    event.insert(
        "destinationList".to_owned(),
        json!([{"type": "location", "destination": place}]),
    );
    event
}

/// The event with the bridge's read of the item's tag (chip `tid`).
fn read(mut event: Map<String, Value>, tid: &str) -> Map<String, Value> {
    event.insert(
        "@context".to_owned(),
        json!([{"tagtrail": BRIDGE_NAMESPACE}]),
    );
    event.insert(
        "tagtrail:tids".to_owned(),
        json!([{"tagtrail:epc": ITEM, "tagtrail:tid": tid}]),
    );
    event
}

/// A log of events with their reporters, in log order.
#[derive(Default)]
struct Log(Vec<(Map<String, Value>, &'static str)>);

impl Log {
    fn by(mut self, reporter: &'static str, event: Map<String, Value>) -> Self {
        self.0.push((event, reporter));
        self
    }

    fn history(&self) -> History<usize> {
        let mut parties = Parties::new();
        parties.add_prefix(org("A"), CompanyPrefix::parse("0614141").unwrap());
        parties.add_prefix(org("B"), CompanyPrefix::parse("0712345").unwrap());
        parties.add_regulator(org("R"));
        // C's shop, under A's prefix, is C's by registration: what a shipment names it for.
        let shop = crate::ids::SiteId::parse("c-shop").unwrap();
        parties.add_site(shop.clone(), org("C"));
        parties.add_location(shop, &crate::location::SiteLocation::parse(C_SHOP).unwrap());
        let memory = Memory::new(self.0.iter().enumerate().map(|(leaf, (event, reporter))| {
            let mut source = SourceEvent::of(
                LeafIndex::new(leaf as u64).unwrap(),
                event.clone(),
                Some(org(reporter)),
                None,
            );
            source.captured = Some(source.time);
            source
        }));
        in_memory(
            &memory,
            vec![ITEM.to_owned()],
            Judge::Parties(&parties),
            1000,
        )
        .unwrap()
    }

    /// The verdict with every entry anchored, coordinates for the three places, nothing
    /// withdrawn.
    fn judged(&self) -> Judgement {
        self.judged_with(Some(1_000), &|_| false)
    }

    fn judged_with(
        &self,
        anchored: Option<u64>,
        withdrawn: &dyn Fn(LeafIndex) -> bool,
    ) -> Judgement {
        self.judged_after(anchored, withdrawn, None)
    }

    /// The verdict on a scan that carried an NFC tap, checked as `tap` says.
    fn judged_tapped(&self, tap: &TapCheck) -> Judgement {
        self.judged_after(Some(1_000), &|_| false, Some(tap))
    }

    /// The verdict with consumers' `scans` of the item.
    fn judged_scanned(&self, scans: &[ConsumerScan]) -> Judgement {
        self.judged_full(Some(1_000), &|_| false, None, scans)
    }

    fn judged_after(
        &self,
        anchored: Option<u64>,
        withdrawn: &dyn Fn(LeafIndex) -> bool,
        tap: Option<&TapCheck>,
    ) -> Judgement {
        self.judged_full(anchored, withdrawn, tap, &[])
    }

    fn judged_full(
        &self,
        anchored: Option<u64>,
        withdrawn: &dyn Fn(LeafIndex) -> bool,
        tap: Option<&TapCheck>,
        scans: &[ConsumerScan],
    ) -> Judgement {
        let history = self.history();
        let names = [ITEM.to_owned()];
        judge(&Facts {
            history: &history,
            names: &names,
            refused: None,
            anchored,
            place: &place,
            withdrawn,
            unbound: &|_| false,
            tap,
            scans,
            classes: &[],
            class_recalls: Ok(&[]),
            class_link: false,
        })
    }
}

/// A stop of a chain eastwards from Amsterdam, one every 2.5 degrees of longitude (about 170 km).
fn stop(k: u32) -> String {
    format!("urn:epc:id:sgln:0712345.00100.{k}")
}

/// Amsterdam, Rotterdam (57 km away), Schiphol, Shanghai and the stops of a chain eastwards.
fn place(id: &str) -> Option<Place> {
    if let Some(k) = id.strip_prefix("urn:epc:id:sgln:0712345.00100.") {
        return Some(Place {
            latitude: 52.37,
            longitude: 4.90 + 2.5 * k.parse::<f64>().ok()?,
        });
    }
    let (latitude, longitude) = match id {
        A_FACTORY => (52.37, 4.90),
        B_DEPOT => (52.31, 4.76),
        C_SHOP => (51.92, 4.48),
        B_WAREHOUSE => (31.23, 121.47),
        _ => return None,
    };
    Some(Place {
        latitude,
        longitude,
    })
}

fn codes(judgement: &Judgement) -> Vec<&'static str> {
    judgement.reasons.iter().map(|reason| reason.code).collect()
}

fn reason<'j>(judgement: &'j Judgement, code: &str) -> &'j Reason {
    judgement
        .reasons
        .iter()
        .find(|reason| reason.code == code)
        .unwrap_or_else(|| panic!("no {code}: {judgement:?}"))
}

/// A commissions the item at its factory (recording the tag's chip), ships it, C receives it
/// at its shop and sells it: leaves 0 to 4.
fn a_genuine_life() -> Log {
    Log::default()
        .by("A", read(event(0, "ADD", "commissioning", A_FACTORY), TID)) // 0
        .by(
            "A",
            read(to(event(60, "OBSERVE", "shipping", A_FACTORY), C_SHOP), TID),
        ) // 1
        .by("C", read(event(300, "OBSERVE", "receiving", C_SHOP), TID)) // 2
        .by("C", event(2_000, "OBSERVE", "retail_selling", C_SHOP)) // 3
}

#[test]
fn a_genuine_item_is_genuine_and_says_why() {
    let judged = a_genuine_life().judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert_eq!(
        codes(&judged),
        ["commissioned", "tid_matches", "ended", "anchored"]
    );
    assert_eq!(reason(&judged, "commissioned").evidence, [0]);
    assert_eq!(reason(&judged, "tid_matches").evidence, [0, 1, 2]);
    assert_eq!(reason(&judged, "ended").evidence, [3]);
    assert_eq!(
        reason(&judged, "ended").detail,
        "C says it was sold at 2026-03-02T09:20:00Z"
    );
}

#[test]
fn evidence_not_anchored_yet_holds_the_verdict() {
    let judged = a_genuine_life().judged_with(Some(3), &|_| false);
    assert_eq!(judged.verdict, Verdict::NotAnchoredYet);
    assert_eq!(reason(&judged, "not_anchored_yet").evidence, [3]);
    let judged = a_genuine_life().judged_with(None, &|_| false);
    assert_eq!(judged.verdict, Verdict::NotAnchoredYet);
    assert_eq!(
        reason(&judged, "not_anchored_yet").detail,
        "no checkpoint of the log is anchored yet"
    );
    assert!(!codes(&judged).contains(&"anchored"));
}

#[test]
fn an_item_nobody_entitled_brought_into_being_is_unknown() {
    // Seen, never commissioned.
    let seen = Log::default().by("C", event(0, "OBSERVE", "inspecting", C_SHOP));
    let judged = seen.judged();
    assert_eq!(judged.verdict, Verdict::Unknown);
    assert_eq!(codes(&judged), ["never_commissioned", "anchored"]);
    // B commissions A's item (its company prefix is A's): refused, a sighting only.
    let forged = Log::default().by("B", event(0, "ADD", "commissioning", B_WAREHOUSE));
    let judged = forged.judged();
    assert_eq!(judged.verdict, Verdict::Unknown);
    assert_eq!(
        codes(&judged),
        ["never_commissioned", "anchored", "refused_events_ignored"]
    );
    assert_eq!(reason(&judged, "refused_events_ignored").evidence, [0]);
}

/// B, near A's factory, says A's item was destroyed there, and packs it into its pallet while
/// it travels: both refused; they end nothing and move nothing.
#[test]
fn a_hostile_party_s_refused_changes_change_nothing() {
    let log = a_genuine_life()
        .by("B", event(100, "OBSERVE", "destroying", B_DEPOT)) // 4
        .by(
            "B",
            json!({"type": "AggregationEvent", "eventTime": at(200), "action": "ADD",
                "parentID": "urn:epc:id:sscc:0712345.0000000001", "childEPCs": [ITEM],
                "bizStep": "packing", "readPoint": {"id": B_DEPOT}})
            .as_object()
            .unwrap()
            .clone(),
        ); // 5
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert_eq!(reason(&judged, "refused_events_ignored").evidence, [4, 5]);
    assert_eq!(reason(&judged, "ended").evidence, [3]);
}

#[test]
fn a_tag_read_with_another_chip_is_a_copied_label() {
    let log = a_genuine_life().by(
        "C",
        read(
            event(400, "OBSERVE", "storing", C_SHOP),
            "E2801190200053A8B1C0FFFF",
        ),
    ); // 4
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious);
    let mismatch = reason(&judged, "tid_mismatch");
    assert_eq!(mismatch.evidence, [0, 4]);
    assert_eq!(
        mismatch.detail,
        format!(
            "chips {TID}, E2801190200053A8B1C0FFFF were read with the item's EPC; the one \
             recorded at commissioning is {TID}"
        )
    );
    assert!(!codes(&judged).contains(&"tid_matches"));
    // A reader that reads only the TID's first words (make and model) reads the same chip.
    let log = a_genuine_life().by(
        "C",
        read(event(400, "OBSERVE", "storing", C_SHOP), &TID[..8]),
    );
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert_eq!(reason(&judged, "tid_matches").evidence, [0, 1, 2, 4]);
    // The same chip in lower case is the same chip.
    let log = a_genuine_life().by(
        "C",
        read(
            event(400, "OBSERVE", "storing", C_SHOP),
            &TID.to_lowercase(),
        ),
    );
    assert_eq!(log.judged().verdict, Verdict::Genuine);
}

/// A valid tap of the item's own tag speaks for it; a replayed or refused one makes it
/// suspicious whatever the history shows; one the service could not check weighs nothing.
#[test]
fn nfc_taps_weigh_as_their_check_came_out() {
    use crate::nfc::{Refusal, SunError, Uid};
    let uid = Uid([0x04, 0xDE, 0x5F, 0x1E, 0xAC, 0xC0, 0x40]);
    let life = a_genuine_life();

    let accepted = life.judged_tapped(&TapCheck::Accepted { uid, counter: 61 });
    assert_eq!(accepted.verdict, Verdict::Genuine, "{accepted:?}");
    assert_eq!(
        reason(&accepted, "nfc_tap_verified").detail,
        "tag 04DE5F1EACC040 read 61, a counter never used before"
    );

    let replayed = life.judged_tapped(&TapCheck::Replayed {
        uid,
        counter: 61,
        last: 64,
    });
    assert_eq!(replayed.verdict, Verdict::Suspicious);
    assert_eq!(
        reason(&replayed, "nfc_tap_replayed").detail,
        "tag 04DE5F1EACC040's message with counter 61 was used before (the last accepted is 64)"
    );
    assert!(!codes(&replayed).contains(&"nfc_tap_verified"));

    for refusal in [
        Refusal::NotOurs,
        Refusal::BadMac,
        Refusal::Unregistered,
        Refusal::OtherItem,
    ] {
        let refused = life.judged_tapped(&TapCheck::Refused(refusal));
        assert_eq!(refused.verdict, Verdict::Suspicious, "{refusal:?}");
        assert!(
            reason(&refused, "nfc_tap_refused")
                .detail
                .contains(refusal.meaning())
        );
    }
    // A Digital Link may carry parameters named like a tap's: malformed tap data weighs nothing.
    let malformed = life.judged_tapped(&TapCheck::Malformed(SunError::Repeated("c")));
    assert_eq!(malformed.verdict, Verdict::Genuine);
    assert_eq!(
        reason(&malformed, "nfc_tap_unchecked").detail,
        "the tap was not checked: the tap's parameter `c` is given more than once"
    );
    // A valid message whose counter could not be checked may be a replay: never genuine.
    let unconfirmed = life.judged_tapped(&TapCheck::Unconfirmed { uid, counter: 62 });
    assert_eq!(unconfirmed.verdict, Verdict::Unknown, "{unconfirmed:?}");
    assert!(!codes(&unconfirmed).contains(&"nfc_tap_verified"));

    let unchecked = life.judged_tapped(&TapCheck::Unchecked("this service holds no NFC keys"));
    assert_eq!(unchecked.verdict, Verdict::Genuine);
    assert_eq!(reason(&unchecked, "nfc_tap_unchecked").weight, Weight::Note);

    // A valid tap does not make an item nobody entitled brought into being genuine.
    let orphan = Log::default().by("C", read(event(300, "OBSERVE", "receiving", C_SHOP), TID));
    let judged = orphan.judged_tapped(&TapCheck::Accepted { uid, counter: 1 });
    assert_eq!(judged.verdict, Verdict::Unknown, "{judged:?}");
}

/// A consumer's scan `minutes` into the story, kept as `id` (`None`: the one being answered),
/// in the cell whose centre is at `(latitude, longitude)`.
fn scan(
    id: Option<u64>,
    minutes: u32,
    how: ScanHow,
    latitude: f64,
    longitude: f64,
) -> ConsumerScan {
    let time = epcis::document::Timestamp::parse(&at(minutes))
        .unwrap()
        .unix_nanos();
    ConsumerScan {
        id,
        time,
        how,
        place: Some(Place {
            latitude,
            longitude,
        }),
    }
}

/// A tap in Lagos an hour after the shop received the item in Rotterdam: the label the shop's
/// reader saw is a copy. Two taps an hour apart in Amsterdam and Shanghai both come from the one
/// chip (fresh counters): where a scan came from was misjudged, which is said and weighs nothing.
/// Taps days apart, or near each other, are one object. Where consumers were is never repeated.
#[test]
fn taps_one_object_cannot_explain_are_a_copied_label() {
    let life = a_genuine_life();
    let judged = life.judged_scanned(&[scan(Some(8), 360, ScanHow::Nfc, 6.5, 3.5)]);
    assert_eq!(judged.verdict, Verdict::Suspicious, "{judged:?}");
    let copied = reason(&judged, "copied_label");
    assert_eq!(copied.evidence, [2]);
    assert_eq!(copied.scans, [8]);
    assert!(
        copied
            .detail
            .starts_with(&format!("entry 2 at {C_SHOP} and a tap, 60 minutes apart")),
        "{}",
        copied.detail
    );

    let judged = life.judged_scanned(&[
        scan(Some(7), 3_000, ScanHow::Nfc, 52.5, 4.5),
        scan(None, 3_060, ScanHow::Nfc, 31.5, 121.5),
    ]);
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    let said = reason(&judged, "scanned_far_apart");
    assert_eq!(said.scans, [7]);
    assert!(
        !said.detail.contains("52.5") && !said.detail.contains("121"),
        "{}",
        said.detail
    );

    // A week later in Shanghai; the same afternoon in the next cell.
    let judged = life.judged_scanned(&[
        scan(Some(9), 3_000, ScanHow::Nfc, 52.5, 4.5),
        scan(Some(10), 3_060, ScanHow::Nfc, 52.5, 5.5),
        scan(None, 13_000, ScanHow::Nfc, 31.5, 121.5),
    ]);
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert!(!codes(&judged).contains(&"copied_label"));
}

/// Anyone can open a link anywhere: a flood of scans without a tap from all over the world is
/// said, and weighs nothing; nor do scans without a place.
#[test]
fn a_flood_of_link_scans_from_everywhere_weighs_nothing() {
    let life = a_genuine_life();
    let flood: Vec<ConsumerScan> = (0..500u32)
        .map(|k| {
            let latitude = f64::from(k % 120) - 59.5;
            let longitude = f64::from((k * 37) % 340) - 169.5;
            scan(
                Some(u64::from(k)),
                3_000 + k % 60,
                ScanHow::Qr,
                latitude,
                longitude,
            )
        })
        .collect();
    let judged = life.judged_scanned(&flood);
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    let said = reason(&judged, "scanned_far_apart");
    assert_eq!(said.weight, Weight::Note);
    assert!(!said.scans.is_empty() && said.scans.len() <= MAX_EVIDENCE);
    assert!(
        said.detail.contains("of the newest 64 scans"),
        "{}",
        said.detail
    );
    // A flood with no place, and one more tap at home, change nothing either.
    let mut unplaced: Vec<ConsumerScan> = flood
        .into_iter()
        .map(|scan| ConsumerScan {
            place: None,
            ..scan
        })
        .collect();
    unplaced.push(scan(None, 3_100, ScanHow::Nfc, 51.5, 4.5));
    let judged = life.judged_scanned(&unplaced);
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert_eq!(
        codes(&judged),
        ["commissioned", "tid_matches", "ended", "anchored"]
    );
}

#[test]
fn a_destroyed_item_seen_again_is_suspicious() {
    let log = Log::default()
        .by("A", event(0, "ADD", "commissioning", A_FACTORY)) // 0
        .by("A", event(60, "DELETE", "destroying", A_FACTORY)) // 1
        .by("A", event(100, "OBSERVE", "inspecting", A_FACTORY)) // 2: A's own, in the grace
        .by("C", event(200, "OBSERVE", "inspecting", C_SHOP)); // 3
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious);
    let seen = reason(&judged, "seen_after_end");
    assert_eq!(seen.evidence, [1, 3]);
    assert_eq!(
        seen.detail,
        "1 sightings after the item was destroyed (entry 1)"
    );
}

#[test]
fn a_sold_item_is_suspicious_only_back_in_the_supply_chain() {
    // The shop's door after the till, then another shop's door the buyer walks through.
    let walked = a_genuine_life()
        .by("C", event(2_010, "OBSERVE", "departing", C_SHOP)) // 4: C's own, in the grace
        .by("B", event(5_000, "OBSERVE", "", B_WAREHOUSE)); // 5: no business step
    let judged = walked.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    // A warehouse receiving the sold item (a receipt refused as a change of custody, and a
    // sighting): its label is on another object.
    let copied = a_genuine_life().by("B", event(5_000, "OBSERVE", "receiving", B_WAREHOUSE)); // 4
    let judged = copied.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious);
    assert_eq!(reason(&judged, "seen_after_end").evidence, [3, 4]);
    assert_eq!(
        reason(&judged, "seen_after_end").detail,
        "1 sightings after the item was sold (entry 3)"
    );
}

/// The retailer takes a return (a receipt it has authority for): the sale is taken back, and
/// the item back on the shelf is not suspicious.
#[test]
fn a_return_takes_the_end_back() {
    let log = a_genuine_life()
        .by("C", event(4_000, "OBSERVE", "receiving", C_SHOP)) // 4
        .by("C", event(4_100, "OBSERVE", "storing", C_SHOP)); // 5
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
}

/// An end declared erroneous by its custodian weighs nothing.
#[test]
fn a_withdrawn_end_weighs_nothing() {
    let log = a_genuine_life().by("B", event(5_000, "OBSERVE", "receiving", B_WAREHOUSE)); // 4
    let judged = log.judged_with(Some(1_000), &|leaf| leaf.get() == 3);
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert!(!codes(&judged).contains(&"ended"));
}

#[test]
fn sightings_farther_apart_than_one_object_travels_are_suspicious() {
    // Shanghai two hours after Rotterdam.
    let log = a_genuine_life().by("B", event(420, "OBSERVE", "inspecting", B_WAREHOUSE)); // 4
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious);
    let travel = reason(&judged, "impossible_travel");
    assert_eq!(travel.evidence, [2, 4]);
    assert!(
        travel.detail.starts_with(&format!(
            "seen at {C_SHOP} and, 120 minutes later, at {B_WAREHOUSE}, "
        )),
        "{}",
        travel.detail
    );
    // A day after the sale: a flight.
    let log = a_genuine_life().by("B", event(3_440, "OBSERVE", "inspecting", B_WAREHOUSE));
    assert_eq!(log.judged().verdict, Verdict::Genuine);
    // Amsterdam to Rotterdam (57 km) in 4 hours, and places without coordinates: fine.
    let log = a_genuine_life().by(
        "C",
        event(
            301,
            "OBSERVE",
            "inspecting",
            "urn:epc:id:sgln:0614141.00009.0",
        ),
    );
    assert_eq!(log.judged().verdict, Verdict::Genuine);
}

/// An event whose eventTime does not parse (ingest refuses them; a source could still give
/// one) is at no time in particular: it is placed nowhere in time, and nothing overflows.
#[test]
fn a_sighting_without_a_time_is_at_no_time() {
    let mut untimed = event(0, "OBSERVE", "inspecting", B_WAREHOUSE);
    untimed.remove("eventTime");
    let log = a_genuine_life().by("B", untimed.clone()).by("B", untimed);
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
}

/// B's sightings along a chain of stops, each about 170 km from the one before and a minute
/// later (within what one leg's clock allowance lets pass): 30 of them carry the item 5,000 km
/// in half an hour, which the legs alone would not show.
#[test]
fn a_chain_of_near_sightings_cannot_carry_an_object_across_the_world() {
    let mut log = a_genuine_life();
    for k in 1..=30 {
        log = log.by("B", event(2_100 + k, "OBSERVE", "inspecting", &stop(k)));
    }
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious, "{judged:?}");
    // Never two neighbouring stops (each leg alone is possible): a stop against an earlier one.
    let found: Vec<&Reason> = judged
        .reasons
        .iter()
        .filter(|reason| reason.code == "impossible_travel")
        .collect();
    assert!(!found.is_empty());
    for reason in found {
        let [from, to] = reason.evidence[..] else {
            panic!("{reason:?}");
        };
        assert!(to - from > 1, "{reason:?}");
    }
}

#[test]
fn distances_are_great_circles() {
    let amsterdam = Place {
        latitude: 52.37,
        longitude: 4.90,
    };
    let shanghai = Place {
        latitude: 31.23,
        longitude: 121.47,
    };
    let km = amsterdam.kilometres_to(shanghai);
    assert!((8_850.0..8_900.0).contains(&km), "{km}");
    assert_eq!(amsterdam.kilometres_to(amsterdam), 0.0);
}

#[test]
fn every_rule_has_its_own_code() {
    let codes: BTreeSet<&str> = RULES.iter().map(|rule| rule.code).collect();
    assert_eq!(codes.len(), RULES.len());
    for rule in RULES {
        assert!(
            rule.code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}",
            rule.code
        );
    }
}

/// A history refused as too much to read is not judged: unknown, saying why; a history some of
/// whose events were left out is unknown too, whatever the rest shows.
#[test]
fn what_could_not_be_read_leaves_the_item_unknown() {
    let history = a_genuine_life().history();
    let names = [ITEM.to_owned()];
    let judged = |history: &History<usize>, refused: Option<&str>| {
        judge(&Facts {
            history,
            names: &names,
            refused,
            anchored: Some(1_000),
            place: &place,
            withdrawn: &|_| false,
            unbound: &|_| false,
            tap: None,
            scans: &[],
            classes: &[],
            class_recalls: Ok(&[]),
            class_link: false,
        })
    };
    let empty = History::default();
    let refused = judged(&empty, Some("more than 40000 events name it"));
    assert_eq!(refused.verdict, Verdict::Unknown);
    assert_eq!(
        reason(&refused, "history_refused").detail,
        "the history could not be read: more than 40000 events name it"
    );
    let mut partly = history.clone();
    partly.omitted = vec![crate::history::Omitted {
        reporter: Some(org("B")),
        events: 3,
    }];
    let judged = judged(&partly, None);
    assert_eq!(judged.verdict, Verdict::Unknown);
    assert_eq!(
        reason(&judged, "history_partly_shown").weight,
        Weight::Unknown
    );
}

/// A container's events do not end the item's life: a case of sold items stored again is not
/// a sighting of the item after its sale.
#[test]
fn a_container_s_events_are_not_the_item_s_end() {
    const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
    let aggregation = |minutes: u32, action: &str| {
        json!({"type": "AggregationEvent", "eventTime": at(minutes), "action": action,
            "parentID": CASE, "childEPCs": [ITEM], "readPoint": {"id": C_SHOP}})
        .as_object()
        .unwrap()
        .clone()
    };
    let case_event = |minutes: u32, step: &str| {
        json!({"type": "ObjectEvent", "eventTime": at(minutes), "action": "OBSERVE",
            "epcList": [CASE], "bizStep": step, "readPoint": {"id": C_SHOP}})
        .as_object()
        .unwrap()
        .clone()
    };
    let log = Log::default()
        .by("A", event(0, "ADD", "commissioning", A_FACTORY)) // 0
        .by("A", aggregation(10, "ADD")) // 1
        .by("A", to(case_event(60, "shipping"), C_SHOP)) // 2
        .by("C", case_event(300, "receiving")) // 3
        .by("C", event(2_000, "OBSERVE", "retail_selling", C_SHOP)) // 4
        .by("C", case_event(3_000, "storing")); // 5: the case, with no unpacking said
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
}

/// A copy that carries the genuine chip id too (a chip emulator): B receives an object under
/// A's item's EPC at its warehouse while A, which never shipped the item, still counts it at its
/// factory afterwards. One of them holds another object: suspicious, naming B's receipt and A's
/// sighting after it. The same three entries are what a hostile B writing a
/// receipt it never made would give: the finding names B, which answers for its entries.
#[test]
fn a_receipt_without_a_hand_over_while_the_holder_still_has_it_is_suspicious() {
    let log = Log::default()
        .by("A", read(event(0, "ADD", "commissioning", A_FACTORY), TID)) // 0
        .by(
            "A",
            read(event(60, "OBSERVE", "cycle_counting", A_FACTORY), TID),
        ) // 1
        .by(
            "B",
            read(event(600, "OBSERVE", "receiving", B_WAREHOUSE), TID),
        ) // 2
        .by(
            "A",
            read(event(1_440, "OBSERVE", "cycle_counting", A_FACTORY), TID),
        ); // 3
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious, "{judged:?}");
    let held = reason(&judged, "held_elsewhere");
    assert_eq!(held.evidence, [2, 3]);
    assert_eq!(
        held.detail,
        "B received it at 2026-03-01T10:00:00Z (urn:epc:id:sgln:0712345.00001.0) with no \
         hand-over, while A, which had custody and had not shipped it, still reported it at \
         2026-03-02T00:00:00Z (urn:epc:id:sgln:0614141.00001.0)"
    );
    // Within the readers' clock skew of the receipt, A's sighting proves nothing.
    let close = Log::default()
        .by("A", read(event(0, "ADD", "commissioning", A_FACTORY), TID))
        .by(
            "B",
            read(event(600, "OBSERVE", "receiving", B_WAREHOUSE), TID),
        )
        .by(
            "A",
            read(event(610, "OBSERVE", "cycle_counting", A_FACTORY), TID),
        );
    assert!(!codes(&close.judged()).contains(&"held_elsewhere"));
}

/// A missed door read: A's shipping was never read, so C's receipt has no hand-over and is
/// refused; but A never reports the item again (it left), so nothing is suspicious. A return
/// the holder ships back and receives is a hand-over each way, and nothing either.
#[test]
fn a_receipt_after_a_missed_shipping_read_is_not_suspicious() {
    let missed = Log::default()
        .by("A", read(event(0, "ADD", "commissioning", A_FACTORY), TID))
        .by("C", read(event(300, "OBSERVE", "receiving", C_SHOP), TID))
        .by("C", event(2_000, "OBSERVE", "retail_selling", C_SHOP));
    let judged = missed.judged();
    assert_ne!(judged.verdict, Verdict::Suspicious, "{judged:?}");
    assert!(codes(&judged).contains(&"refused_events_ignored"));
    let returned = a_genuine_life()
        .by(
            "C",
            read(
                to(event(2_100, "OBSERVE", "shipping", C_SHOP), A_FACTORY),
                TID,
            ),
        )
        .by(
            "A",
            read(event(2_400, "OBSERVE", "receiving", A_FACTORY), TID),
        )
        .by(
            "A",
            read(event(3_000, "OBSERVE", "cycle_counting", A_FACTORY), TID),
        );
    assert!(!codes(&returned.judged()).contains(&"held_elsewhere"));
}

/// What a genuine item's life gives with one fault each, none of them suspicious: a return to
/// sender after a missed shipping read (A's shipping unread, the carrier B receives it, sends it
/// back, A receives and counts it again); a receiver whose clock runs five hours behind (its
/// receipt sorts before A's last count and shipping, which were logged before it); a receipt
/// refused for coming second (B receives after C did: nothing to do with A still having it).
#[test]
fn returns_slow_clocks_and_second_receipts_are_not_held_elsewhere() {
    let returned = Log::default()
        .by("A", read(event(0, "ADD", "commissioning", A_FACTORY), TID))
        .by(
            "B",
            read(event(600, "OBSERVE", "receiving", B_WAREHOUSE), TID),
        )
        .by(
            "B",
            read(event(900, "OBSERVE", "shipping", B_WAREHOUSE), TID),
        )
        .by(
            "A",
            read(event(1_500, "OBSERVE", "receiving", A_FACTORY), TID),
        )
        .by(
            "A",
            read(event(2_000, "OBSERVE", "cycle_counting", A_FACTORY), TID),
        );
    assert!(!codes(&returned.judged()).contains(&"held_elsewhere"));
    let slow_clock = Log::default()
        .by("A", read(event(0, "ADD", "commissioning", A_FACTORY), TID))
        .by(
            "A",
            read(event(400, "OBSERVE", "cycle_counting", A_FACTORY), TID),
        )
        .by(
            "A",
            read(
                to(event(420, "OBSERVE", "shipping", A_FACTORY), C_SHOP),
                TID,
            ),
        )
        // Received at 12:30 real time, stamped five hours earlier.
        .by(
            "C",
            read(event(450 - 300, "OBSERVE", "receiving", C_SHOP), TID),
        );
    let judged = slow_clock.judged();
    assert!(!codes(&judged).contains(&"held_elsewhere"), "{judged:?}");
    let second = a_genuine_life().by(
        "B",
        read(event(400, "OBSERVE", "receiving", B_WAREHOUSE), TID),
    );
    assert!(!codes(&second.judged()).contains(&"held_elsewhere"));
}

/// A store that gives an event other than the log committed to (damaged, or altered by whoever
/// holds the database): that event is no evidence, and the item is unknown, naming the entry.
/// Here the altered entry is a read with another chip id, which would otherwise make the item
/// suspicious.
#[test]
fn events_not_as_logged_are_no_evidence_and_leave_the_item_unknown() {
    let log = a_genuine_life().by(
        "B",
        read(
            event(3_000, "OBSERVE", "inspecting", B_DEPOT),
            "E2801190200053A8B1C0FFEE",
        ),
    ); // 4
    let history = log.history();
    let names = [ITEM.to_owned()];
    let judged = judge(&Facts {
        history: &history,
        names: &names,
        refused: None,
        anchored: Some(1_000),
        place: &place,
        withdrawn: &|_| false,
        unbound: &|leaf| leaf.get() == 4,
        tap: None,
        scans: &[],
        classes: &[],
        class_recalls: Ok(&[]),
        class_link: false,
    });
    assert_eq!(judged.verdict, Verdict::Unknown, "{judged:?}");
    assert_eq!(reason(&judged, "not_as_logged").evidence, [4]);
    assert!(!codes(&judged).contains(&"tid_mismatch"), "{judged:?}");
    // As logged, the same read is a copied label.
    assert!(codes(&log.judged()).contains(&"tid_mismatch"));
}

/// An ObjectEvent recalling `epcs` (CBV disposition `recalled`) at `place`.
fn recall_of(minutes: u32, epcs: &[&str], place: &str) -> Map<String, Value> {
    json!({"type": "ObjectEvent", "eventTime": at(minutes), "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE", "epcList": epcs, "disposition": "recalled",
        "readPoint": {"id": place}})
    .as_object()
    .unwrap()
    .clone()
}

/// The same, lifting the recall (`persistentDisposition` unsets `recalled`).
fn lifting_of(minutes: u32, epcs: &[&str], place: &str) -> Map<String, Value> {
    let mut event = recall_of(minutes, epcs, place);
    event.remove("disposition");
    event.insert(
        "persistentDisposition".to_owned(),
        json!({"unset": ["urn:epcglobal:cbv:disp:recalled"]}),
    );
    event
}

/// The brand recalls its item after the sale: the recall is said first, names the entry, and
/// leaves the verdict on whether it is genuine as it was.
#[test]
fn a_brand_s_recall_is_said_first_and_the_item_is_still_judged_genuine() {
    let mut said = recall_of(2_500, &[ITEM], A_FACTORY);
    said.insert("@context".to_owned(), json!([{"rc": RECALL_NAMESPACE}]));
    said.insert("rc:reason".to_owned(), json!("possible listeria"));
    let log = a_genuine_life().by("A", said); // 4
    let judged = log.judged();
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert!(judged.recalled());
    assert_eq!(judged.reasons[0].code, "recalled", "{judged:?}");
    assert_eq!(judged.reasons[0].weight, Weight::Recall);
    assert_eq!(judged.reasons[0].evidence, [4]);
    assert!(
        judged.reasons[0]
            .detail
            .starts_with("A recalled the item at")
            && judged.reasons[0].detail.ends_with(": possible listeria"),
        "{judged:?}"
    );
    // A suspicious item under recall is both.
    let copied = log.by(
        "C",
        read(
            event(2_600, "OBSERVE", "inspecting", C_SHOP),
            "E2801190200053A8B1C0FFEE",
        ),
    );
    let judged = copied.judged();
    assert_eq!(judged.verdict, Verdict::Suspicious, "{judged:?}");
    assert_eq!(codes(&judged)[0], "recalled");
}

/// A hostile party "recalls" another brand's item, and the retailer holding it does too: neither
/// is the brand's word, so nothing is recalled; the entries are named among those without
/// authority.
#[test]
fn a_recall_by_anyone_but_the_brand_recalls_nothing() {
    let log = a_genuine_life()
        .by("B", recall_of(2_500, &[ITEM], B_DEPOT)) // 4
        .by("C", recall_of(2_600, &[ITEM], C_SHOP)); // 5
    let judged = log.judged();
    assert!(!judged.recalled(), "{judged:?}");
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert_eq!(reason(&judged, "refused_events_ignored").evidence, [4, 5]);
}

/// A recall lifted by the brand that made it is a note; recalled again, it holds from the new
/// recall; a recall withdrawn by an error declaration holds nothing.
#[test]
fn a_lifted_or_withdrawn_recall_holds_nothing_and_a_new_one_does() {
    let lifted = a_genuine_life()
        .by("A", recall_of(2_500, &[ITEM], A_FACTORY)) // 4
        .by("A", lifting_of(2_700, &[ITEM], A_FACTORY)); // 5
    let judged = lifted.judged();
    assert!(!judged.recalled(), "{judged:?}");
    assert_eq!(reason(&judged, "recall_lifted").evidence, [5]);
    assert_eq!(reason(&judged, "recall_lifted").weight, Weight::Note);
    // Only the brand lifts it: B's lifting of a recall in force changes nothing.
    let judged = a_genuine_life()
        .by("A", recall_of(2_500, &[ITEM], A_FACTORY))
        .by("B", lifting_of(2_700, &[ITEM], B_DEPOT))
        .judged();
    assert!(judged.recalled(), "{judged:?}");
    let again = lifted.by("A", recall_of(2_900, &[ITEM], A_FACTORY)); // 6
    assert_eq!(reason(&again.judged(), "recalled").evidence, [6]);
    let withdrawn = a_genuine_life().by("A", recall_of(2_500, &[ITEM], A_FACTORY));
    let judged = withdrawn.judged_with(Some(1_000), &|leaf| leaf.get() == 4);
    assert!(!judged.recalled(), "{judged:?}");
}

/// A regulator recalls any brand's item; the brand cannot lift that recall (its lifting ends only
/// its own), the regulator can.
#[test]
fn a_regulator_s_recall_holds_until_the_regulator_lifts_it() {
    let both = a_genuine_life()
        .by("R", recall_of(2_500, &[ITEM], B_DEPOT)) // 4
        .by("A", recall_of(2_600, &[ITEM], A_FACTORY)) // 5
        .by("A", lifting_of(2_700, &[ITEM], A_FACTORY)); // 6
    let judged = both.judged();
    assert!(judged.recalled(), "{judged:?}");
    assert_eq!(reason(&judged, "recalled").evidence, [4]);
    assert!(
        reason(&judged, "recalled")
            .detail
            .starts_with("R recalled the item"),
        "{judged:?}"
    );
    assert_eq!(reason(&judged, "recall_lifted").evidence, [6]);
    let judged = both.by("R", lifting_of(2_800, &[ITEM], B_DEPOT)).judged(); // 7
    assert!(!judged.recalled(), "{judged:?}");
    let lifted: Vec<&Reason> = judged
        .reasons
        .iter()
        .filter(|reason| reason.code == "recall_lifted")
        .collect();
    assert_eq!(lifted.len(), 2, "{judged:?}");
    assert_eq!(lifted[1].evidence, [7]);
}

/// A recall of a case reaches the items in it at the time, and not one unpacked before.
#[test]
fn a_recall_of_a_container_reaches_what_was_in_it_at_the_time() {
    const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
    let aggregation = |minutes: u32, action: &str| {
        json!({"type": "AggregationEvent", "eventTime": at(minutes), "action": action,
            "parentID": CASE, "childEPCs": [ITEM], "readPoint": {"id": A_FACTORY}})
        .as_object()
        .unwrap()
        .clone()
    };
    let packed = Log::default()
        .by("A", event(0, "ADD", "commissioning", A_FACTORY)) // 0
        .by("A", aggregation(10, "ADD")); // 1
    let inside = packed.by("A", recall_of(60, &[CASE], A_FACTORY)); // 2
    let judged = inside.judged();
    assert_eq!(reason(&judged, "recalled").evidence, [2], "{judged:?}");
    assert!(
        reason(&judged, "recalled")
            .detail
            .contains("a container it was in"),
        "{judged:?}"
    );
    let unpacked = Log::default()
        .by("A", event(0, "ADD", "commissioning", A_FACTORY))
        .by("A", aggregation(10, "ADD"))
        .by("A", aggregation(30, "DELETE"))
        .by("A", recall_of(60, &[CASE], A_FACTORY));
    assert!(!unpacked.judged().recalled());
}

/// The item's GTIN (`ITEM`'s company prefix and item reference, indicator 1).
const GTIN: &str = "10614141073464";

/// An ObjectEvent recalling (or, with `lift`, lifting the recall of) classes by `quantityList`.
fn class_recall(minutes: u32, classes: &[&str], lift: bool) -> Map<String, Value> {
    let quantities: Vec<Value> = classes
        .iter()
        .map(|class| json!({"epcClass": class, "quantity": 100}))
        .collect();
    let mut event = recall_of(minutes, &[], A_FACTORY);
    event.insert("quantityList".to_owned(), json!(quantities));
    if lift {
        event.remove("disposition");
        event.insert(
            "persistentDisposition".to_owned(),
            json!({"unset": ["recalled"]}),
        );
    }
    event
}

/// The lot `lot` of the item's product as an LGTIN class.
fn lot_class(lot: &str) -> String {
    format!("urn:epc:class:lgtin:0614141.107346.{lot}")
}

/// The whole product as a class.
const PRODUCT: &str = "urn:epc:idpat:sgtin:0614141.107346.*";

impl Log {
    /// The verdict with the recalls of classes in `recalls` (logged after this log's events),
    /// judged as trace-api judges them, for an item of lot `lot` (or, with `link`, for a link
    /// naming that lot, or the product when `lot` is `None`).
    fn judged_classes(&self, recalls: &Log, lot: Option<&str>, link: bool) -> Judgement {
        let history = self.history();
        let mut parties = Parties::new();
        parties.add_prefix(org("A"), CompanyPrefix::parse("0614141").unwrap());
        parties.add_prefix(org("B"), CompanyPrefix::parse("0712345").unwrap());
        parties.add_regulator(org("R"));
        let events: Vec<SourceEvent<()>> = recalls
            .0
            .iter()
            .enumerate()
            .map(|(n, (event, reporter))| {
                SourceEvent::of(
                    LeafIndex::new(100 + n as u64).unwrap(),
                    event.clone(),
                    Some(org(reporter)),
                    None,
                )
            })
            .collect();
        let marks = crate::history::assess(&events, &parties);
        let judged: Vec<HistoryEvent<usize>> = events
            .into_iter()
            .map(|event| HistoryEvent {
                authority: marks[&event.leaf].clone(),
                event: event.carrying(0),
                why: Vec::new(),
            })
            .collect();
        let lots: Vec<String> = lot.into_iter().map(str::to_owned).collect();
        let names = [ITEM.to_owned()];
        let classes = authority::item_classes(&names, &lots);
        let (history, names) = match link {
            true => (History::default(), Vec::new()),
            false => (history, names.to_vec()),
        };
        judge_with_classes(&history, &names, &classes, Ok(&judged), link)
    }
}

/// The verdict on `history` (of an item named `names`, or a link naming a class with `link`)
/// with the recalls of its `classes` as read.
fn judge_with_classes(
    history: &History<usize>,
    names: &[String],
    classes: &[RecalledClass],
    class_recalls: Result<&[HistoryEvent<usize>], &str>,
    link: bool,
) -> Judgement {
    judge(&Facts {
        history,
        names,
        refused: None,
        anchored: Some(1_000),
        place: &|_| None,
        withdrawn: &|_| false,
        unbound: &|_| false,
        tap: None,
        scans: &[],
        classes,
        class_recalls,
        class_link: link,
    })
}

/// The brand recalls the item's lot, or its whole product, without naming the item: the scan
/// of the item says so first, naming the lot; a recall of another lot, or by another brand,
/// says nothing; the lifting of the product ends a lot's recall, a lifting of another lot does
/// not.
#[test]
fn a_recall_of_the_item_s_lot_or_product_is_said_first() {
    let item = a_genuine_life();
    let lot = Log::default().by("A", class_recall(2_500, &[&lot_class("L7")], false)); // 100
    let judged = item.judged_classes(&lot, Some("L7"), false);
    assert!(judged.recalled(), "{judged:?}");
    assert_eq!(judged.verdict, Verdict::Genuine, "{judged:?}");
    assert_eq!(codes(&judged)[0], "recalled");
    assert_eq!(reason(&judged, "recalled").evidence, [100]);
    assert!(
        reason(&judged, "recalled")
            .detail
            .starts_with(&format!("A recalled lot L7 of its product (GTIN {GTIN})")),
        "{judged:?}"
    );
    // Another lot's recall is not this item's; nor is a lot recall for an item whose lot is not
    // known.
    assert!(!item.judged_classes(&lot, Some("L8"), false).recalled());
    assert!(!item.judged_classes(&lot, None, false).recalled());
    // The whole product, in its Digital Link spelling.
    let product = Log::default().by(
        "A",
        class_recall(2_500, &[&format!("https://id.gs1.org/01/{GTIN}")], false),
    );
    let judged = item.judged_classes(&product, None, false);
    assert!(judged.recalled(), "{judged:?}");
    assert!(
        reason(&judged, "recalled")
            .detail
            .contains("every item of its product"),
        "{judged:?}"
    );
    // B's "recall" of A's lot is no recall (ingest refuses it; a verifier would mark it).
    let hostile = Log::default().by("B", class_recall(2_500, &[&lot_class("L7")], false));
    assert!(!item.judged_classes(&hostile, Some("L7"), false).recalled());
    // A regulator's is.
    let regulator = Log::default().by("R", class_recall(2_500, &[&lot_class("L7")], false));
    assert!(
        item.judged_classes(&regulator, Some("L7"), false)
            .recalled()
    );
    // Lifting another lot leaves L7 recalled; lifting the product ends it.
    let other = lot.by("A", class_recall(2_600, &[&lot_class("L8")], true));
    assert!(item.judged_classes(&other, Some("L7"), false).recalled());
    let lifted = Log::default()
        .by("A", class_recall(2_500, &[&lot_class("L7")], false)) // 100
        .by("A", class_recall(2_600, &[PRODUCT], true)); // 101
    let judged = item.judged_classes(&lifted, Some("L7"), false);
    assert!(!judged.recalled(), "{judged:?}");
    assert_eq!(reason(&judged, "recall_lifted").evidence, [101]);
    // A lifting of the lot does not end a recall of the item itself.
    let both = a_genuine_life().by("A", recall_of(2_500, &[ITEM], A_FACTORY));
    let lot_lifted = Log::default().by("A", class_recall(2_600, &[&lot_class("L7")], true));
    assert!(
        both.judged_classes(&lot_lifted, Some("L7"), false)
            .recalled()
    );
}

/// A link naming a lot says whether the lot (or its product) is recalled, and that it names no
/// one item; a link naming the product alone lists its recalled lots as a note and is not itself
/// recalled unless the whole product is; unread recalls leave the verdict unknown.
#[test]
fn a_link_naming_a_lot_or_a_product_says_what_is_recalled() {
    let recalls = Log::default()
        .by("A", class_recall(2_500, &[&lot_class("L7")], false)) // 100
        .by("A", class_recall(2_600, &[&lot_class("L9")], false)); // 101
    let lot = Log::default().judged_classes(&recalls, Some("L7"), true);
    assert!(lot.recalled(), "{lot:?}");
    assert_eq!(lot.verdict, Verdict::Unknown, "{lot:?}");
    assert!(codes(&lot).contains(&"names_a_class"), "{lot:?}");
    assert!(!codes(&lot).contains(&"never_commissioned"), "{lot:?}");
    assert_eq!(reason(&lot, "recalled").evidence, [100]);
    let fine = Log::default().judged_classes(&recalls, Some("L8"), true);
    assert!(!fine.recalled(), "{fine:?}");
    let product = Log::default().judged_classes(&recalls, None, true);
    assert!(!product.recalled(), "{product:?}");
    let lots = reason(&product, "lots_recalled");
    assert_eq!(lots.evidence, [100, 101]);
    assert!(
        lots.detail.starts_with("lot L7, L9 of this product"),
        "{product:?}"
    );
    let whole = recalls.by("A", class_recall(2_700, &[PRODUCT], false)); // 102
    let judged = Log::default().judged_classes(&whole, None, true);
    assert!(judged.recalled(), "{judged:?}");
    assert_eq!(reason(&judged, "recalled").evidence, [102]);
    // Recalls that could not be read: unknown, saying why, never "not recalled" in silence.
    let names = [ITEM.to_owned()];
    let classes = authority::item_classes(&names, &["L7".to_owned()]);
    let history = a_genuine_life().history();
    let judged = judge_with_classes(
        &history,
        &names,
        &classes,
        Err("more than 10 recalls name its lot"),
        false,
    );
    assert_eq!(judged.verdict, Verdict::Unknown, "{judged:?}");
    assert_eq!(
        reason(&judged, "recall_unread").detail,
        "more than 10 recalls name its lot"
    );
}
