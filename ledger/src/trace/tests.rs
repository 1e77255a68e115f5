use serde_json::json;

use epcis::epc::CompanyPrefix;

use super::*;

const FACTORY: &str = "urn:epc:id:sgln:0614141.00001.0";
const DC: &str = "urn:epc:id:sgln:0712345.00001.0";
const STORE: &str = "urn:epc:id:sgln:0712345.00002.0";

fn at(minute: u32) -> String {
    format!("2026-03-01T{:02}:{:02}:00Z", minute / 60, minute % 60)
}

fn item(serial: u32) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.{serial}")
}

fn sscc(prefix: &str, serial: u32) -> String {
    let width = 17 - prefix.len();
    format!("urn:epc:id:sscc:{prefix}.{serial:0width$}")
}

fn org(id: &str) -> OrganisationId {
    OrganisationId::parse(id).unwrap()
}

fn parties() -> Parties {
    let mut parties = Parties::new();
    parties.add_prefix(org("brand"), CompanyPrefix::parse("0614141").unwrap());
    parties.add_prefix(org("retailer"), CompanyPrefix::parse("0712345").unwrap());
    parties.add_prefix(org("mallory"), CompanyPrefix::parse("0999999").unwrap());
    parties
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn commission(minute: u32, epcs: &[String], lot: &str) -> Map<String, Value> {
    map(
        json!({"type": "ObjectEvent", "eventTime": at(minute), "action": "ADD",
        "bizStep": "commissioning", "epcList": epcs, "bizLocation": {"id": FACTORY},
        "ilmd": {"cbvmda:lotNumber": lot}}),
    )
}

fn pack(minute: u32, action: &str, parent: &str, children: &[String]) -> Map<String, Value> {
    map(
        json!({"type": "AggregationEvent", "eventTime": at(minute), "action": action,
        "parentID": parent, "childEPCs": children}),
    )
}

fn observe(minute: u32, epcs: &[String], place: &str) -> Map<String, Value> {
    map(
        json!({"type": "ObjectEvent", "eventTime": at(minute), "action": "OBSERVE",
        "epcList": epcs, "bizLocation": {"id": place}}),
    )
}

/// The scenario: a brand makes two lots of items, packs them into cases, the cases into
/// pallets, a pallet into a shipment; the retailer receives it, unpacks it and turns two items
/// into a new product; mallory (registered, with custody of nothing) packs one of the brand's
/// items into its own container and reports another at the retailer's warehouse.
struct Scenario {
    events: Vec<(Map<String, Value>, &'static str)>,
}

fn scenario() -> Scenario {
    let items: Vec<String> = (1..=6).map(item).collect();
    let [c1, c2, c3, p1, s1] = [1, 2, 3, 11, 21].map(|serial| sscc("0614141", serial));
    let xc = sscc("0999999", 1);
    let o1 = "urn:epc:id:sgtin:0712345.512345.1".to_owned();
    let events = vec![
        (commission(0, &items[0..4], "L1"), "brand"), // 0
        (commission(1, &items[4..6], "L2"), "brand"), // 1
        (pack(2, "ADD", &c1, &items[0..2]), "brand"), // 2
        (pack(3, "ADD", &c2, &items[2..4]), "brand"), // 3
        (pack(4, "ADD", &c3, &items[4..6]), "brand"), // 4
        (pack(5, "ADD", &p1, &[c1.clone(), c2.clone()]), "brand"), // 5
        (pack(6, "DELETE", &p1, std::slice::from_ref(&c2)), "brand"), // 6
        (pack(7, "ADD", &s1, std::slice::from_ref(&p1)), "brand"), // 7
        (
            map(
                json!({"type": "ObjectEvent", "eventTime": at(8), "action": "OBSERVE",
                "bizStep": "shipping", "epcList": [s1], "readPoint": {"id": FACTORY},
                "destinationList": [{"type": "location", "destination": DC}]}),
            ),
            "brand",
        ), // 8
        (
            map(
                json!({"type": "ObjectEvent", "eventTime": at(9), "action": "OBSERVE",
                "bizStep": "receiving", "epcList": [s1], "bizLocation": {"id": DC}}),
            ),
            "retailer",
        ), // 9
        (pack(10, "DELETE", &s1, &[]), "retailer"),   // 10
        (pack(11, "DELETE", &p1, &[]), "retailer"),   // 11
        (pack(12, "DELETE", &c1, &[]), "retailer"),   // 12
        (
            map(json!({"type": "TransformationEvent", "eventTime": at(13),
                "inputEPCList": [items[0], items[1]], "outputEPCList": [o1],
                "outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:0712345.512345.L9",
                    "quantity": 10}],
                "bizLocation": {"id": DC}})),
            "retailer",
        ), // 13
        (observe(14, std::slice::from_ref(&o1), STORE), "retailer"), // 14
        (pack(15, "ADD", &xc, &items[4..5]), "mallory"), // 15
        (observe(16, &items[2..3], DC), "mallory"),   // 16
    ];
    Scenario { events }
}

impl Scenario {
    fn memory(&self) -> InMemory {
        InMemory::new(
            self.events
                .iter()
                .enumerate()
                .map(|(leaf, (event, reporter))| {
                    SourceEvent::of(
                        LeafIndex::new(leaf as u64).unwrap(),
                        event.clone(),
                        Some(org(reporter)),
                        None,
                    )
                }),
        )
    }

    fn trace(&self, start: &str, direction: Direction, span: Span) -> Trace {
        let request = TraceRequest {
            start: Subject::parse(start).unwrap(),
            direction,
            span,
            max_events: 1000,
            max_subjects: 1000,
        };
        self.memory().trace(&request, &parties()).unwrap()
    }
}

fn id(text: &str) -> String {
    Subject::parse(text).unwrap().id()
}

fn nodes(trace: &Trace) -> BTreeSet<String> {
    trace.nodes.iter().map(|node| node.id.clone()).collect()
}

fn ids(texts: &[String]) -> BTreeSet<String> {
    texts.iter().map(|text| id(text)).collect()
}

fn edge<'a>(trace: &'a Trace, kind: EdgeKind, from: &str, to: &str) -> Option<&'a TraceEdge> {
    trace
        .edges
        .iter()
        .find(|edge| edge.kind == kind && edge.from == id(from) && edge.to == id(to))
}

fn minutes(from: u32, until: u32) -> Span {
    let nanos = |minute| Timestamp::parse(&at(minute)).unwrap().unix_nanos();
    Span {
        from: nanos(from),
        until: nanos(until),
    }
}

#[test]
fn a_lot_traced_forward_reaches_its_items_their_containers_the_shipment_and_what_they_became() {
    let scenario = scenario();
    let trace = scenario.trace(
        "urn:epc:class:lgtin:0614141.812345.L1",
        Direction::Forward,
        Span::ALL,
    );
    let [c1, c2, p1, s1] = [1, 2, 11, 21].map(|serial| sscc("0614141", serial));
    let expected = ids(&[
        "urn:epc:class:lgtin:0614141.812345.L1".to_owned(),
        item(1),
        item(2),
        item(3),
        item(4),
        c1.clone(),
        c2,
        p1.clone(),
        s1.clone(),
        "urn:epc:id:sgtin:0712345.512345.1".to_owned(),
        "urn:epc:class:lgtin:0712345.512345.L9".to_owned(),
        FACTORY.to_owned(),
        DC.to_owned(),
        STORE.to_owned(),
    ]);
    assert_eq!(nodes(&trace), expected);
    // Nothing of the other lot, nor mallory's container.
    assert!(!nodes(&trace).contains(&id(&item(5))));
    assert!(!nodes(&trace).contains(&id(&sscc("0999999", 1))));
    // The shipment held the pallet from minute 7 to 10, the pallet the case from 5 to 11.
    let shipment = edge(&trace, EdgeKind::Contains, &s1, &p1).unwrap();
    assert_eq!(
        (shipment.since.as_deref(), shipment.until.as_deref()),
        (Some("2026-03-01T00:07:00Z"), Some("2026-03-01T00:10:00Z"))
    );
    assert_eq!(shipment.evidence, [7, 10]);
    assert_eq!(shipment.reported_by, ["brand", "retailer"]);
    assert!(edge(&trace, EdgeKind::Contains, &p1, &c1).is_some());
    assert!(
        edge(
            &trace,
            EdgeKind::TransformedInto,
            &item(1),
            "urn:epc:id:sgtin:0712345.512345.1"
        )
        .is_some()
    );
    assert!(
        edge(
            &trace,
            EdgeKind::LotOf,
            "urn:epc:class:lgtin:0614141.812345.L1",
            &item(3)
        )
        .is_some()
    );
    let kinds: BTreeMap<String, NodeKind> = trace
        .nodes
        .iter()
        .map(|node| (node.id.clone(), node.kind))
        .collect();
    assert_eq!(kinds[&id(&s1)], NodeKind::Container);
    assert_eq!(kinds[&id(&item(1))], NodeKind::Item);
    assert_eq!(kinds[&id(DC)], NodeKind::Location);
    assert_eq!(
        kinds[&id("urn:epc:class:lgtin:0712345.512345.L9")],
        NodeKind::Lot
    );
    assert!(trace.unfollowed.is_empty(), "{:?}", trace.unfollowed);
}

#[test]
fn a_case_unpacked_before_the_pallet_shipped_does_not_reach_the_shipment() {
    let scenario = scenario();
    let trace = scenario.trace(&item(3), Direction::Forward, Span::ALL);
    let [c2, p1, s1] = [2, 11, 21].map(|serial| sscc("0614141", serial));
    let reached = nodes(&trace);
    assert!(reached.contains(&id(&c2)));
    assert!(reached.contains(&id(&p1)));
    assert!(!reached.contains(&id(&s1)), "{reached:?}");
    // The pallet is reached only for the minute the case was on it.
    let pallet = trace.nodes.iter().find(|node| node.id == id(&p1)).unwrap();
    assert_eq!(
        (pallet.from.as_deref(), pallet.until.as_deref()),
        (Some("2026-03-01T00:05:00Z"), Some("2026-03-01T00:06:00Z"))
    );
    // Not the other case on the pallet.
    assert!(!reached.contains(&id(&sscc("0614141", 1))));
}

#[test]
fn backward_from_the_new_product_reaches_its_inputs_their_lot_and_their_route() {
    let scenario = scenario();
    let trace = scenario.trace(
        "urn:epc:id:sgtin:0712345.512345.1",
        Direction::Backward,
        Span::ALL,
    );
    let reached = nodes(&trace);
    for expected in [
        item(1),
        item(2),
        "urn:epc:class:lgtin:0614141.812345.L1".to_owned(),
        sscc("0614141", 1),
        sscc("0614141", 11),
        sscc("0614141", 21),
        FACTORY.to_owned(),
        DC.to_owned(),
    ] {
        assert!(
            reached.contains(&id(&expected)),
            "{expected} in {reached:?}"
        );
    }
    // Backward does not turn into the lot's other items, nor to what else was made with it.
    assert!(!reached.contains(&id(&item(3))));
    assert!(!reached.contains(&id("urn:epc:class:lgtin:0712345.512345.L9")));
    // The start's own places are all in it.
    assert!(reached.contains(&id(STORE)));
    assert!(
        trace
            .nodes
            .iter()
            .all(|node| node.directions == [Direction::Backward])
    );
}

#[test]
fn a_container_traced_both_ways_reaches_its_contents_and_what_held_it() {
    let scenario = scenario();
    let c1 = sscc("0614141", 1);
    let trace = scenario.trace(&c1, Direction::Both, Span::ALL);
    let reached = nodes(&trace);
    for expected in [item(1), item(2), sscc("0614141", 11), sscc("0614141", 21)] {
        assert!(
            reached.contains(&id(&expected)),
            "{expected} in {reached:?}"
        );
    }
    let first = trace
        .nodes
        .iter()
        .find(|node| node.id == id(&item(1)))
        .unwrap();
    assert_eq!(first.directions, [Direction::Forward, Direction::Backward]);
    assert_eq!(first.depth, 1);
    assert_eq!(
        first.via.as_deref(),
        Some(format!("contains {}", id(&c1)).as_str())
    );
    // Forward, the contents reach what they were made into; backward, their lot.
    assert!(reached.contains(&id("urn:epc:id:sgtin:0712345.512345.1")));
    assert!(reached.contains(&id("urn:epc:class:lgtin:0614141.812345.L1")));
    // The pallet's other case is no content of this one.
    assert!(!reached.contains(&id(&sscc("0614141", 2))));
}

#[test]
fn a_packing_by_a_party_without_custody_is_listed_and_leads_nowhere() {
    let scenario = scenario();
    let trace = scenario.trace(
        "https://id.gs1.org/01/80614141123458/10/L2",
        Direction::Forward,
        Span::ALL,
    );
    let reached = nodes(&trace);
    assert!(reached.contains(&id(&item(5))));
    assert!(reached.contains(&id(&sscc("0614141", 3))));
    assert!(!reached.contains(&id(&sscc("0999999", 1))), "{reached:?}");
    assert_eq!(trace.unfollowed.len(), 1, "{:?}", trace.unfollowed);
    assert_eq!(trace.unfollowed[0].leaf_index, 15);
}

#[test]
fn a_place_traced_forward_follows_what_its_owner_reported_there() {
    let scenario = scenario();
    let trace = scenario.trace(DC, Direction::Forward, minutes(9, 20));
    let reached = nodes(&trace);
    // The shipment received there, its contents, and what was made there.
    for expected in [
        sscc("0614141", 21),
        sscc("0614141", 11),
        sscc("0614141", 1),
        item(1),
        "urn:epc:id:sgtin:0712345.512345.1".to_owned(),
        STORE.to_owned(),
    ] {
        assert!(
            reached.contains(&id(&expected)),
            "{expected} in {reached:?}"
        );
    }
    // Mallory's report of an item at the retailer's warehouse is not followed.
    assert!(!reached.contains(&id(&item(3))), "{reached:?}");
    assert!(
        trace
            .unfollowed
            .iter()
            .any(|unfollowed| unfollowed.leaf_index == 16),
        "{:?}",
        trace.unfollowed
    );
    // Before minute 9 nothing was at the warehouse.
    let early = scenario.trace(DC, Direction::Forward, minutes(0, 8));
    assert_eq!(nodes(&early), BTreeSet::from([id(DC)]));
}

#[test]
fn a_trace_that_may_show_some_events_is_made_of_them_with_authority_judged_on_all() {
    // The retailer's partner sees only the retailer's events (leaves 9 to 14).
    let scenario = scenario();
    let memory = scenario
        .memory()
        .showing(|leaf| (9..=14).contains(&leaf.get()));
    let request = TraceRequest {
        start: Subject::parse("urn:epc:id:sgtin:0712345.512345.1").unwrap(),
        direction: Direction::Backward,
        span: Span::ALL,
        max_events: 1000,
        max_subjects: 1000,
    };
    let trace = memory.trace(&request, &parties()).unwrap();
    let reached = nodes(&trace);
    // The transformation counts (the retailer had custody, as the brand's events it may not
    // see show): its inputs are reached; the brand's packing and lot are not shown.
    assert!(reached.contains(&id(&item(1))), "{reached:?}");
    assert!(!reached.contains(&id(&sscc("0614141", 1))), "{reached:?}");
    assert!(!reached.contains(&id("urn:epc:class:lgtin:0614141.812345.L1")));
    let evidence: BTreeSet<u64> = trace
        .edges
        .iter()
        .flat_map(|edge| edge.evidence.iter().copied())
        .collect();
    assert!(
        evidence.iter().all(|leaf| (9..=14).contains(leaf)),
        "{evidence:?}"
    );
    assert_eq!(trace.events_read, 6);
}

/// `scenario()` with more events after it, each with its reporter.
fn with(extra: Vec<(Map<String, Value>, &'static str)>) -> Scenario {
    let mut scenario = scenario();
    scenario.events.extend(extra);
    scenario
}

fn quantities(minute: u32, kind: &str, members: &[(&str, &[&str])]) -> Map<String, Value> {
    let mut event = json!({"type": kind, "eventTime": at(minute)});
    for (member, classes) in members {
        event[*member] = classes
            .iter()
            .map(|class| json!({"epcClass": class, "quantity": 5}))
            .collect();
    }
    map(event)
}

#[test]
fn quantities_are_related_only_by_their_class_s_owner() {
    const L1: &str = "urn:epc:class:lgtin:0614141.812345.L1";
    const MALLORY_LOT: &str = "urn:epc:class:lgtin:0999999.512345.M1";
    let pallet = sscc("0614141", 11);
    let brand_pallet = sscc("0614141", 31);
    let mut to_brand_pallet = quantities(20, "AggregationEvent", &[("childQuantityList", &[L1])]);
    to_brand_pallet.insert("action".to_owned(), json!("ADD"));
    to_brand_pallet.insert("parentID".to_owned(), json!(brand_pallet));
    let mut into_victim = quantities(
        21,
        "AggregationEvent",
        &[("childQuantityList", &[MALLORY_LOT])],
    );
    into_victim.insert("action".to_owned(), json!("ADD"));
    into_victim.insert("parentID".to_owned(), json!(pallet));
    let scenario = with(vec![
        // 17: the brand puts quantities of its lot on a pallet of its own: followed.
        (to_brand_pallet, "brand"),
        // 18: mallory "turns" the brand's lot into a lot of its own: its input is not followed.
        (
            quantities(
                21,
                "TransformationEvent",
                &[
                    ("inputQuantityList", &[L1]),
                    ("outputQuantityList", &[MALLORY_LOT]),
                ],
            ),
            "mallory",
        ),
        // 19: mallory packs quantities of its own lot into the brand's pallet: not followed.
        (into_victim, "mallory"),
    ]);
    let forward = scenario.trace(L1, Direction::Forward, Span::ALL);
    let reached = nodes(&forward);
    assert!(reached.contains(&id(&brand_pallet)), "{reached:?}");
    assert!(!reached.contains(&id(MALLORY_LOT)), "{reached:?}");
    let unfollowed: BTreeMap<u64, &str> = forward
        .unfollowed
        .iter()
        .map(|u| (u.leaf_index, u.reason.as_str()))
        .collect();
    assert!(unfollowed[&18].contains("does not own"), "{unfollowed:?}");
    assert!(
        unfollowed[&19].contains("a container its reporter does not own"),
        "{unfollowed:?}"
    );
    // The brand's pallet holds the lot from minute 20 on, while the lot stays on the first
    // pallet too: a lot's quantities may be in many containers at once.
    let held = edge(&forward, EdgeKind::Contains, &brand_pallet, L1).unwrap();
    assert_eq!(held.since.as_deref(), Some("2026-03-01T00:20:00Z"));
    assert_eq!(held.until, None);
    let backward = scenario.trace(&pallet, Direction::Backward, Span::ALL);
    assert!(!nodes(&backward).contains(&id(MALLORY_LOT)));
}

#[test]
fn a_transformation_id_another_party_writes_joins_nothing() {
    let o1 = "urn:epc:id:sgtin:0712345.512345.1";
    let mx = "urn:epc:id:sgtin:0999999.512345.7";
    let mut scenario = scenario();
    // The retailer's transformation (leaf 13) names its identifier.
    scenario.events[13]
        .0
        .insert("transformationID".to_owned(), json!("urn:uuid:t-1"));
    // Mallory writes one with the same identifier, earlier, making a product of its own.
    scenario.events.push((
        map(json!({"type": "TransformationEvent", "eventTime": at(12),
            "transformationID": "urn:uuid:t-1", "outputEPCList": [mx]})),
        "mallory",
    ));
    let forward = scenario.trace(&item(1), Direction::Forward, Span::ALL);
    let reached = nodes(&forward);
    assert!(reached.contains(&id(o1)), "{reached:?}");
    assert!(!reached.contains(&id(mx)), "{reached:?}");
    // Nor is mallory's product made of the retailer's inputs.
    let backward = scenario.trace(mx, Direction::Backward, Span::ALL);
    assert!(!nodes(&backward).contains(&id(&item(1))));
}

#[test]
fn at_a_place_nobody_owns_only_registered_parties_are_followed() {
    const NOWHERE: &str = "urn:epc:id:sgln:0555555.00001.0";
    let scenario = with(vec![
        (observe(20, &[item(5)], NOWHERE), "brand"),
        (observe(21, &[item(6)], NOWHERE), "unknown"),
    ]);
    let memory = InMemory::new(scenario.events.iter().enumerate().map(
        |(leaf, (event, reporter))| {
            SourceEvent::of(
                LeafIndex::new(leaf as u64).unwrap(),
                event.clone(),
                // "unknown" is no organisation the registry knows.
                (*reporter != "unknown").then(|| org(reporter)),
                None,
            )
        },
    ));
    let request = TraceRequest {
        start: Subject::parse(NOWHERE).unwrap(),
        direction: Direction::Forward,
        span: minutes(0, 30),
        max_events: 1000,
        max_subjects: 1000,
    };
    let trace = memory.trace(&request, &parties()).unwrap();
    let reached = nodes(&trace);
    assert!(reached.contains(&id(&item(5))), "{reached:?}");
    assert!(!reached.contains(&id(&item(6))), "{reached:?}");
    // The unknown reporter's report at the place, and mallory's packing of the item reached.
    assert_eq!(
        trace
            .unfollowed
            .iter()
            .map(|u| u.leaf_index)
            .collect::<Vec<_>>(),
        [15, 18]
    );
}

#[test]
fn a_lot_reached_backward_is_shown_and_not_read() {
    let scenario = scenario();
    let trace = scenario.trace(&item(1), Direction::Backward, Span::ALL);
    let reached = nodes(&trace);
    assert!(reached.contains(&id("urn:epc:class:lgtin:0614141.812345.L1")));
    // Its other items are not sources of this one.
    assert!(!reached.contains(&id(&item(3))), "{reached:?}");
}

#[test]
fn the_flat_list_has_a_line_per_node_and_guards_formulas() {
    let scenario = scenario();
    let trace = scenario.trace(
        "urn:epc:class:lgtin:0614141.812345.L1",
        Direction::Forward,
        Span::ALL,
    );
    let csv = trace_csv(&trace);
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), trace.nodes.len() + 1);
    assert_eq!(lines[0], "kind,id,depth,directions,from,until,via,evidence");
    assert!(lines[1].starts_with("lot,https://id.gs1.org/01/80614141123458/10/L1,0,forward,"));
    let formula = Trace {
        nodes: vec![TraceNode {
            id: "=HYPERLINK(\"x\")".to_owned(),
            kind: NodeKind::Item,
            depth: 0,
            directions: vec![Direction::Forward],
            from: None,
            until: None,
            via: None,
        }],
        ..trace
    };
    assert!(trace_csv(&formula).contains("\r\nitem,\"'=HYPERLINK(\"\"x\"\")\",0,"));
}

#[test]
fn what_a_trace_starts_from_is_read_or_refused_with_why() {
    let lot = Subject::parse("urn:epc:class:lgtin:0614141.812345.L1").unwrap();
    assert_eq!(
        lot,
        Subject::Lot {
            gtin: "80614141123458".to_owned(),
            lot: "L1".to_owned()
        }
    );
    assert_eq!(
        Subject::parse("https://example.com/01/80614141123458/10/L1").unwrap(),
        lot
    );
    assert!(matches!(
        Subject::parse(FACTORY).unwrap(),
        Subject::Location(_)
    ));
    assert!(matches!(
        Subject::parse("3074257BF7194E4000001A85").unwrap(),
        Subject::Epc(_)
    ));
    assert_eq!(
        Subject::parse(&item(1)),
        Subject::parse("https://id.gs1.org/01/80614141123458/21/1")
    );
    assert!(matches!(
        Subject::parse("https://id.gs1.org/01/80614141123458"),
        Err(SubjectError::WholeClass(_))
    ));
    assert!(matches!(
        Subject::parse("not an identifier"),
        Err(SubjectError::Unknown(_))
    ));
    assert_eq!(
        Subject::parse(&"9".repeat(5000)),
        Err(SubjectError::TooLong)
    );
    let odd = Subject::Lot {
        gtin: "80614141123458".to_owned(),
        lot: "A/B 1".to_owned(),
    };
    assert_eq!(
        odd.id(),
        "https://id.gs1.org/01/80614141123458/10/A%2FB%201"
    );
    // A start reads back from the identifier a trace shows for it.
    for start in [
        lot,
        Subject::Lot {
            gtin: "80614141123458".to_owned(),
            lot: "A/B-1".to_owned(),
        },
        Subject::parse(FACTORY).unwrap(),
        Subject::parse(&item(1)).unwrap(),
        Subject::parse(&sscc("0614141", 1)).unwrap(),
    ] {
        assert_eq!(Subject::parse(&start.id()), Ok(start.clone()), "{start:?}");
    }
}

#[test]
fn a_trace_reaching_too_much_is_refused() {
    let scenario = scenario();
    let memory = scenario.memory();
    let request = |max_events, max_subjects| TraceRequest {
        start: Subject::parse("urn:epc:class:lgtin:0614141.812345.L1").unwrap(),
        direction: Direction::Forward,
        span: Span::ALL,
        max_events,
        max_subjects,
    };
    assert!(matches!(
        memory.trace(&request(3, 1000), &parties()),
        Err(TraceError::TooManyEvents { limit: 3 })
    ));
    assert!(matches!(
        memory.trace(&request(1000, 4), &parties()),
        Err(TraceError::TooManySubjects { limit: 4 })
    ));
    assert!(memory.trace(&request(1000, 1000), &parties()).is_ok());
}

/// Found by libFuzzer (`trace_inputs`): a text that is not itself a GLN's link, but whose
/// identifier is one, was read as an EPC whose id then read back as a place. It is the place.
#[test]
fn a_text_naming_a_gln_is_the_place_and_reads_back_so() {
    let text = "https://i!ihttps://i!i/gs1.or/414/422489110396/gs1.or/414/4224891103961";
    let subject = Subject::parse(text).unwrap();
    assert_eq!(
        subject,
        Subject::Location("https://id.gs1.org/414/4224891103961".to_owned())
    );
    assert_eq!(Subject::parse(&subject.id()), Ok(subject));
}
