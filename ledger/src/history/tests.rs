use serde_json::json;

use super::*;

fn at(minute: u32) -> String {
    format!("2026-01-01T{:02}:{:02}:00Z", minute / 60, minute % 60)
}

fn object(minute: u32, epcs: &[&str]) -> Map<String, Value> {
    json!({"type": "ObjectEvent", "eventTime": at(minute), "action": "OBSERVE", "epcList": epcs})
        .as_object()
        .unwrap()
        .clone()
}

fn aggregation(minute: u32, action: &str, parent: &str, children: &[&str]) -> Map<String, Value> {
    json!({"type": "AggregationEvent", "eventTime": at(minute), "action": action,
           "parentID": parent, "childEPCs": children})
    .as_object()
    .unwrap()
    .clone()
}

/// The history of `item` among `events`, each at its position as leaf index.
fn run(events: Vec<Map<String, Value>>, item: &str) -> Vec<(u64, Vec<Why>)> {
    let memory = Memory::new(events.into_iter().enumerate().map(|(leaf, event)| {
        SourceEvent::of(LeafIndex::new(leaf as u64).unwrap(), event, None, None)
    }));
    in_memory(
        &memory,
        vec![item.to_owned()],
        Judge::Claimed(&Claims::default()),
        1000,
    )
    .unwrap()
    .events
    .into_iter()
    .map(|e| (e.event.leaf.get(), e.why))
    .collect()
}

fn container(id: &str) -> Why {
    Why::Container {
        container: id.to_owned(),
    }
}

#[test]
fn events_of_the_case_and_the_pallet_count_while_the_item_is_inside() {
    let events = vec![
        object(0, &["item"]),                        // 0: direct
        object(1, &["case"]),                        // 1: before packing: no
        aggregation(2, "ADD", "case", &["item"]),    // 2: direct
        object(3, &["case"]),                        // 3: via case
        aggregation(4, "ADD", "pallet", &["case"]),  // 4: via case
        object(5, &["pallet"]),                      // 5: via pallet
        aggregation(6, "DELETE", "pallet", &[]),     // 6: via pallet (unpacks all)
        object(7, &["pallet"]),                      // 7: after unpacking: no
        object(8, &["case"]),                        // 8: via case
        aggregation(9, "DELETE", "case", &["item"]), // 9: direct
        object(10, &["case"]),                       // 10: after: no
        object(11, &["item"]),                       // 11: direct
    ];
    let found = run(events, "item");
    assert_eq!(
        found,
        vec![
            (0, vec![Why::Direct]),
            (2, vec![Why::Direct, container("case")]),
            (3, vec![container("case")]),
            (4, vec![container("case"), container("pallet")]),
            (5, vec![container("pallet")]),
            (6, vec![container("pallet")]),
            (8, vec![container("case")]),
            (9, vec![Why::Direct, container("case")]),
            (11, vec![Why::Direct]),
        ]
    );
}

#[test]
fn joining_another_container_leaves_the_first() {
    let events = vec![
        aggregation(0, "ADD", "case-a", &["item"]),
        object(1, &["case-a"]),
        aggregation(2, "ADD", "case-b", &["item"]),
        object(3, &["case-a"]),
        object(4, &["case-b"]),
    ];
    let found: Vec<u64> = run(events, "item")
        .into_iter()
        .map(|(leaf, _)| leaf)
        .collect();
    assert_eq!(found, [0, 1, 2, 4]);
}

#[test]
fn transformations_bring_in_inputs_before_and_outputs_after_one_step() {
    let transformation = json!({"type": "TransformationEvent", "eventTime": at(5),
        "inputEPCList": ["flour"], "outputEPCList": ["bread"]})
    .as_object()
    .unwrap()
    .clone();
    let events = vec![
        object(1, &["flour"]),                     // 0: via transformation (before)
        aggregation(2, "ADD", "sack", &["flour"]), // 1: via transformation
        object(3, &["sack"]),                      // 2: the input's container: not followed
        transformation,                            // 3: direct
        object(6, &["flour"]),                     // 4: after: no
        object(7, &["bread"]),                     // 5: direct
    ];
    let found = run(events, "bread");
    let via = Why::Transformation {
        via: "flour".to_owned(),
        transformation: LeafIndex::new(3).unwrap(),
    };
    assert_eq!(
        found,
        vec![
            (0, vec![via.clone()]),
            (1, vec![via.clone()]),
            (3, vec![Why::Direct, via]),
            (5, vec![Why::Direct]),
        ]
    );
}

/// A history of more events than its limit keeps its first (log order) and says how many it left
/// out, however many more they are.
#[test]
fn a_history_longer_than_the_limit_keeps_its_first_events_and_says_so() {
    let memory = Memory::new((0..5).map(|minute| {
        let leaf = LeafIndex::new(minute.into()).unwrap();
        SourceEvent::of(leaf, object(minute, &["item"]), None, None)
    }));
    let everyone = Claims::default();
    let limited = |limit| {
        in_memory(
            &memory,
            vec!["item".to_owned()],
            Judge::Claimed(&everyone),
            limit,
        )
    };
    let shared = limited(4).unwrap();
    let leaves: Vec<u64> = shared.events.iter().map(|e| e.event.leaf.get()).collect();
    assert_eq!(leaves, [0, 1, 2, 3]);
    assert_eq!(
        shared.omitted,
        [Omitted {
            reporter: None,
            events: 1
        }]
    );
    assert_eq!(limited(5).unwrap().events.len(), 5);
    assert!(limited(5).unwrap().omitted.is_empty());
    // However many times the limit the candidates are, the history chooses among them.
    let one = limited(1).unwrap();
    assert_eq!(one.events.len(), 1);
    assert_eq!(one.events[0].event.leaf.get(), 0);
    assert_eq!(
        one.omitted,
        [Omitted {
            reporter: None,
            events: 4
        }]
    );
}

#[test]
fn a_container_packed_into_itself_does_not_loop() {
    let events = vec![
        aggregation(0, "ADD", "b", &["a"]),
        aggregation(1, "ADD", "a", &["b"]),
        object(2, &["a"]),
    ];
    let found: Vec<u64> = run(events, "a").into_iter().map(|(leaf, _)| leaf).collect();
    assert_eq!(found, [0, 1, 2]);
}

/// A party that writes a long chain of events, each resting on the one before, with the first
/// left out of a trimmed history: the whole chain goes with it, and what rests on kept events or
/// on events not gathered stays. One walk of the chain, not one pass over the kept events
/// per link (quadratic: at this length, billions of steps).
#[test]
fn a_long_chain_resting_on_a_left_out_event_is_dropped_in_one_walk() {
    const LINKS: u64 = 100_000;
    let leaf = |n: u64| LeafIndex::new(n).unwrap();
    let pool: BTreeMap<LeafIndex, SourceEvent<()>> = (0..=LINKS + 3)
        .map(|n| {
            (
                leaf(n),
                SourceEvent::of(leaf(n), object(0, &["item"]), None, None),
            )
        })
        .collect();
    // 1 rests on 0, 2 on 1, ... (listed last link first, the worst order for a pass per link);
    // LINKS + 1 rests on LINKS + 2, which is kept; LINKS + 3 on an event not gathered.
    let mut rests_on: authority::RestsOn = (1..=LINKS)
        .rev()
        .map(|n| (leaf(n), vec![leaf(n - 1)]))
        .collect();
    rests_on.insert(leaf(LINKS + 1), vec![leaf(LINKS + 2)]);
    rests_on.insert(leaf(LINKS + 3), vec![leaf(LINKS + 10)]);
    let kept: HashSet<LeafIndex> = (1..=LINKS + 3).map(leaf).collect();

    let judgement = authority::Judgement {
        rests_on,
        ..authority::Judgement::default()
    };
    let (kept, trimmed) = without_unfounded(kept, Vec::new(), &pool, &judgement);

    assert_eq!(
        kept,
        HashSet::from([leaf(LINKS + 1), leaf(LINKS + 2), leaf(LINKS + 3)])
    );
    let mut dropped: Vec<u64> = trimmed.iter().map(|c| c.leaf.get()).collect();
    dropped.sort_unstable();
    assert_eq!(dropped, (1..=LINKS).collect::<Vec<_>>());
}

/// Two organisations as a new tenant gets them: A, a brand owning company prefix 0614141, and B,
/// another registered party owning 0712345; L is a logistics partner A delegates to.
mod custody {
    use super::*;
    use crate::ids::OrganisationId;
    use epcis::epc::CompanyPrefix;

    const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2017";
    const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
    const B_PALLET: &str = "urn:epc:id:sscc:0712345.0000000001";
    const B_ITEM: &str = "urn:epc:id:sgtin:0712345.000001.1";

    fn org(id: &str) -> OrganisationId {
        OrganisationId::parse(id).unwrap()
    }

    fn parties() -> Parties {
        let mut parties = Parties::new();
        parties.add_prefix(org("A"), CompanyPrefix::parse("0614141").unwrap());
        parties.add_prefix(org("B"), CompanyPrefix::parse("0712345").unwrap());
        parties.add_delegate(org("A"), org("L"));
        parties.add_regulator(org("R"));
        // C owns no prefix: its distribution centre is its by registration alone.
        let dc = crate::ids::SiteId::parse("c-dc").unwrap();
        parties.add_site(dc.clone(), org("C"));
        let dock = crate::location::SiteLocation::parse(C_DOCKS).unwrap();
        parties.add_location(dc, &dock);
        parties
    }

    /// Every location of C's distribution centre, as it registered them.
    const C_DOCKS: &str = "urn:epc:idpat:sgln:0999999.00001.*";
    /// One of them, as a Digital Link.
    const C_DOCK: &str = "https://example.com/414/0999999000019/254/door-3";

    /// A shipping of `ids` whose `destinationList` is `to` (CBV type, id).
    fn shipping_to(minute: u32, ids: &[&str], to: &[(&str, &str)]) -> Map<String, Value> {
        let to: Vec<Value> = to
            .iter()
            .map(|(kind, id)| json!({"type": kind, "destination": id}))
            .collect();
        with(
            step(object(minute, ids), "shipping"),
            "destinationList",
            json!(to),
        )
    }

    fn with(mut event: Map<String, Value>, member: &str, value: Value) -> Map<String, Value> {
        event.insert(member.to_owned(), value);
        event
    }

    fn step(event: Map<String, Value>, step: &str) -> Map<String, Value> {
        with(event, "bizStep", json!(step))
    }

    fn commission(minute: u32, epcs: &[&str]) -> Map<String, Value> {
        with(object(minute, epcs), "action", json!("ADD"))
    }

    /// Each event with its reporter, logged in the order given (leaf = position), captured at its
    /// event time unless `captured` says otherwise.
    struct Log(Vec<(Map<String, Value>, &'static str, Option<i128>)>);

    impl Log {
        fn new() -> Self {
            Self(Vec::new())
        }

        fn by(mut self, reporter: &'static str, event: Map<String, Value>) -> Self {
            self.0.push((event, reporter, None));
            self
        }

        /// An event reported `days` after its eventTime.
        fn late(mut self, reporter: &'static str, event: Map<String, Value>, days: i128) -> Self {
            let time = event_time(&event).unwrap();
            self.0
                .push((event, reporter, Some(time + days * 86_400 * 1_000_000_000)));
            self
        }

        /// The memory source of the log.
        fn memory(&self) -> Memory {
            Memory::new(
                self.0
                    .iter()
                    .enumerate()
                    .map(|(leaf, (event, reporter, captured))| {
                        let time = event_time(event).unwrap();
                        let mut source = SourceEvent::of(
                            LeafIndex::new(leaf as u64).unwrap(),
                            event.clone(),
                            Some(org(reporter)),
                            None,
                        );
                        source.captured = Some(captured.unwrap_or(time));
                        source.hash = Some(
                            epcis::hash::event_hash(event, &epcis::hash::HashContext::default())
                                .unwrap(),
                        );
                        source
                    }),
            )
        }

        /// The history of `item` as put together.
        fn told(&self, item: &str) -> History<usize> {
            let memory = self.memory();
            let parties = parties();
            in_memory(
                &memory,
                vec![item.to_owned()],
                Judge::Parties(&parties),
                1000,
            )
            .unwrap()
        }

        /// The history of `item`: (leaf, authority kind, whys).
        fn history(&self, item: &str) -> Vec<(u64, String, Vec<Why>)> {
            self.told(item)
                .events
                .into_iter()
                .map(|e| {
                    let kind = match e.authority {
                        Authority::Observation => "observation".to_owned(),
                        Authority::Authorised => "authorised".to_owned(),
                        Authority::Unauthorised { reason } => format!("unauthorised: {reason}"),
                    };
                    (e.event.leaf.get(), kind, e.why)
                })
                .collect()
        }
    }

    fn leaves(history: &[(u64, String, Vec<Why>)]) -> Vec<u64> {
        history.iter().map(|(leaf, _, _)| *leaf).collect()
    }

    fn kind(history: &[(u64, String, Vec<Why>)], leaf: u64) -> &str {
        &history.iter().find(|(l, _, _)| *l == leaf).unwrap().1
    }

    /// A's own journey: commissioned, packed, received by A, and shipped to B or C.
    fn a_journey() -> Log {
        Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", aggregation(10, "ADD", CASE, &[ITEM])) // 1
            .by("A", step(object(20, &[CASE]), "receiving")) // 2
            .by("A", shipping_to(30, &[CASE], TO_B_OR_C)) // 3
    }

    /// A `destinationList` naming B (its party GLN) and C (its dock).
    const TO_B_OR_C: &[(&str, &str)] = &[
        ("owning_party", "urn:epc:id:pgln:0712345.00000"),
        ("location", C_DOCK),
    ];

    #[test]
    fn b_packing_a_s_item_into_its_pallet_is_shown_unauthorised_and_changes_nothing() {
        let log = a_journey()
            // Backdated between A's events, with no location: B claims A's item.
            .by("B", aggregation(15, "ADD", B_PALLET, &[ITEM])) // 4
            .by("B", step(object(40, &[B_PALLET]), "destroying")); // 5
        let history = log.history(ITEM);
        // A's events stay; B's ADD is shown (it names the item), its pallet's events are not.
        assert_eq!(leaves(&history), [0, 1, 4, 2, 3]);
        assert!(
            kind(&history, 4).starts_with(&format!(
                "unauthorised: {ITEM} is in the custody of A, not of B"
            )),
            "{history:?}"
        );
        assert_eq!(kind(&history, 1), "authorised");
        // A's receiving of its own case is within its custody.
        assert_eq!(kind(&history, 2), "authorised");
    }

    #[test]
    fn b_unpacking_a_s_case_is_unauthorised_and_a_s_case_events_stay() {
        // Shown (an event of the case while the item is in it), and it closes nothing.
        let log = a_journey().by("B", aggregation(15, "DELETE", CASE, &[])); // 4
        let history = log.history(ITEM);
        assert_eq!(leaves(&history), [0, 1, 4, 2, 3]);
        assert!(kind(&history, 4).contains("in the custody of A, not of B"));
        let log = a_journey().by("B", aggregation(15, "DELETE", CASE, &[ITEM])); // 4
        let history = log.history(ITEM);
        assert_eq!(leaves(&history), [0, 1, 4, 2, 3]);
        assert!(kind(&history, 4).contains("in the custody of A, not of B"));
    }

    #[test]
    fn b_transforming_into_a_s_item_does_not_become_its_origin() {
        let transformation = json!({"type": "TransformationEvent", "eventTime": at(5),
            "inputEPCList": [B_ITEM], "outputEPCList": [ITEM]})
        .as_object()
        .unwrap()
        .clone();
        let log = a_journey()
            .by("B", object(1, &[B_ITEM])) // 4: B's own item, before
            .by("B", transformation); // 5
        let history = log.history(ITEM);
        assert_eq!(leaves(&history), [0, 5, 1, 2, 3]);
        assert!(kind(&history, 5).contains("company prefix of A, not of B"));
    }

    /// `event` declared erroneous at `minute`.
    fn declared(event: Map<String, Value>, minute: u32) -> Map<String, Value> {
        with(
            event,
            "errorDeclaration",
            json!({"declarationTime": at(minute), "reason": "incorrect_data"}),
        )
    }

    fn withdrawn(pairs: &[(u64, u64)]) -> BTreeMap<LeafIndex, LeafIndex> {
        pairs
            .iter()
            .map(|(declared, by)| {
                (
                    LeafIndex::new(*declared).unwrap(),
                    LeafIndex::new(*by).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_holder_s_error_declaration_withdraws_its_packing_and_the_case_s_events_leave() {
        // A packed its item into the wrong case, and says so; the case goes on without it.
        let log = a_journey().by("A", declared(aggregation(10, "ADD", CASE, &[ITEM]), 25)); // 4
        let told = log.told(ITEM);
        assert_eq!(told.withdrawn, withdrawn(&[(1, 4)]));
        let history = log.history(ITEM);
        // The packing and its declaration are shown (they name the item); the case's receiving
        // and shipping are no longer the item's.
        assert_eq!(leaves(&history), [0, 1, 4], "{history:?}");
        assert_eq!(kind(&history, 1), "authorised");
        assert_eq!(kind(&history, 4), "authorised");
        // Without the declaration, the same log keeps the case's events.
        assert_eq!(leaves(&a_journey().history(ITEM)), [0, 1, 2, 3]);
    }

    #[test]
    fn a_withdrawn_receipt_gives_no_custody_and_what_rested_on_it_is_refused() {
        let log = a_journey()
            .by("B", step(object(40, &[CASE]), "receiving")) // 4: hand-over
            .by("B", step(object(50, &[CASE]), "destroying")); // 5
        assert_eq!(kind(&log.history(ITEM), 5), "authorised");
        // B declares its receipt erroneous: the case is in transit again, A's.
        let log = log.by("B", declared(step(object(40, &[CASE]), "receiving"), 45)); // 6
        let told = log.told(ITEM);
        assert_eq!(told.withdrawn, withdrawn(&[(4, 6)]));
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 4), "authorised", "{history:?}");
        assert_eq!(kind(&history, 6), "authorised", "{history:?}");
        assert!(
            kind(&history, 5).contains("in the custody of A, not of B"),
            "{history:?}"
        );
    }

    #[test]
    fn a_custodian_cannot_withdraw_another_s_sighting_but_its_reporter_can() {
        let sighting = object(15, &[ITEM]); // B sees A's item on its way
        let log = a_journey()
            .by("B", sighting.clone()) // 4
            .by("A", declared(sighting.clone(), 16)); // 5: A, the custodian
        let told = log.told(ITEM);
        assert!(told.withdrawn.is_empty(), "{:?}", told.withdrawn);
        // B retracts its own sighting: no custody is needed for that.
        let log = log.by("B", declared(sighting, 17)); // 6
        assert_eq!(log.told(ITEM).withdrawn, withdrawn(&[(4, 6)]));
        // Declaring a sighting erroneous changes nobody's state: it is an observation too.
        assert_eq!(kind(&log.history(ITEM), 5), "observation");
        assert_eq!(kind(&log.history(ITEM), 6), "observation");
    }

    #[test]
    fn a_delegate_may_withdraw_its_principal_s_event_and_nobody_withdraws_in_advance() {
        let packing = aggregation(10, "ADD", CASE, &[ITEM]);
        let log = a_journey().by("L", declared(packing.clone(), 25)); // 4: A's logistics partner
        let told = log.told(ITEM);
        assert_eq!(told.withdrawn, withdrawn(&[(1, 4)]));
        // Without the registry, a verifier takes the claimed withdrawal the events bear out.
        let claims = Claims {
            marks: told
                .events
                .iter()
                .chain(&told.context)
                .chain(&told.outside)
                .map(|event| (event.event.leaf, event.authority.clone()))
                .collect(),
            withdrawn: told.withdrawn.clone(),
        };
        let memory = log.memory();
        let claimed = in_memory(
            &memory,
            vec![ITEM.to_owned()],
            Judge::Claimed(&claims),
            1000,
        )
        .unwrap();
        assert_eq!(claimed.withdrawn, told.withdrawn);
        // A claim the events do not bear out (the declaration logged before the event it
        // names) is not taken.
        let mut forged = claims.clone();
        forged.withdrawn = withdrawn(&[(4, 1)]);
        let claimed = in_memory(
            &memory,
            vec![ITEM.to_owned()],
            Judge::Claimed(&forged),
            1000,
        )
        .unwrap();
        assert!(claimed.withdrawn.is_empty(), "{:?}", claimed.withdrawn);
        // A declaration logged before the event it declares withdraws nothing, when it comes.
        const OTHER: &str = "urn:epc:id:sgtin:0614141.107346.2018";
        let early = aggregation(12, "ADD", CASE, &[OTHER]);
        let log = Log::new()
            .by("A", commission(0, &[OTHER])) // 0
            .by("A", declared(early.clone(), 13)) // 1
            .by("A", early); // 2
        let told = log.told(OTHER);
        assert!(told.withdrawn.is_empty(), "{:?}", told.withdrawn);
        let history = log.history(OTHER);
        assert!(
            kind(&history, 1).contains("it declares no authorised state change logged before it"),
            "{history:?}"
        );
    }

    #[test]
    fn a_declaration_s_mark_rests_on_no_other_party_s_refused_change() {
        // B ships A's item (refused: A holds it); C declares B's shipping erroneous. C's mark
        // must read the same whether or not a history kept B's refused change, or a share that
        // left it out would be judged otherwise and every state change kept.
        let shipping = step(object(20, &[ITEM]), "shipping");
        let with_it = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("B", shipping.clone()) // 1
            .by("C", declared(shipping.clone(), 25)); // 2
        let without_it = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("C", declared(shipping, 25)); // 1
        let reason = "unauthorised: it declares no authorised state change logged before it";
        assert_eq!(kind(&with_it.history(ITEM), 2), reason);
        assert_eq!(kind(&without_it.history(ITEM), 1), reason);
    }

    #[test]
    fn a_declaration_spelled_as_an_observation_withdraws_no_state_change() {
        // B received the case, shipped it on, and C received it. B then declares its receipt
        // erroneous, writing the business step as a compact CBV term: the hash reads it as the
        // receipt's, and so must the custody rules.
        let receipt = step(object(40, &[CASE]), "receiving");
        let spelled = step(object(40, &[CASE]), "cbv:BizStep-receiving");
        let hash = |event: &Map<String, Value>| {
            epcis::hash::event_hash(event, &epcis::hash::HashContext::default()).unwrap()
        };
        assert_eq!(hash(&receipt), hash(&spelled));
        let log = a_journey()
            .by("B", receipt) // 4
            .by("B", shipping_to(50, &[CASE], &[("location", C_DOCK)])) // 5
            .by("C", step(object(60, &[CASE]), "receiving")) // 6: hand-over from B
            .by("B", declared(spelled, 65)); // 7
        let told = log.told(ITEM);
        assert!(told.withdrawn.is_empty(), "{:?}", told.withdrawn);
        let history = log.history(ITEM);
        assert!(kind(&history, 7).contains("B handed"), "{history:?}");
        assert_eq!(kind(&history, 6), "authorised", "{history:?}");
    }

    #[test]
    fn a_party_cannot_withdraw_what_it_handed_over_since() {
        // A packed its item into its case and shipped the case; B received it. A's declaration
        // of the packing, logged after the hand-over, would take the item out of what B holds.
        let log = a_journey()
            .by("B", step(object(40, &[CASE]), "receiving")) // 4: hand-over
            .by("A", declared(aggregation(10, "ADD", CASE, &[ITEM]), 45)); // 5
        let told = log.told(ITEM);
        assert!(told.withdrawn.is_empty(), "{:?}", told.withdrawn);
        let history = log.history(ITEM);
        assert!(
            kind(&history, 5).starts_with(&format!(
                "unauthorised: A handed {CASE} over (entry 4) before this declaration"
            )),
            "{history:?}"
        );
        // The case's events, B's receipt among them, are still the item's.
        assert_eq!(leaves(&history), [0, 1, 5, 2, 3, 4], "{history:?}");
    }

    #[test]
    fn a_withdrawn_transformation_relates_nothing() {
        const MADE: &str = "urn:epc:id:sgtin:0614141.107346.9999";
        let made = transformation(40, &[ITEM], &[MADE]);
        let log = a_journey()
            .by("A", made.clone()) // 4: A turns its item into another
            .by("A", object(50, &[MADE])); // 5: an event of the output
        assert!(leaves(&log.history(ITEM)).contains(&5));
        let log = log.by("A", declared(made, 55)); // 6
        let history = log.history(ITEM);
        assert_eq!(log.told(ITEM).withdrawn, withdrawn(&[(4, 6)]));
        assert!(!leaves(&history).contains(&5), "{history:?}");
    }

    #[test]
    fn b_may_not_commission_or_declare_erroneous_what_is_a_s() {
        let declaration = with(
            aggregation(10, "ADD", CASE, &[ITEM]),
            "errorDeclaration",
            json!({"declarationTime": at(50), "reason": "incorrect_data"}),
        );
        let log = a_journey()
            .by("B", commission(1, &[ITEM])) // 4
            .by("B", declaration); // 5
        let history = log.history(ITEM);
        assert!(kind(&history, 4).contains("company prefix of A, not of B"));
        assert!(
            kind(&history, 5)
                .contains("the event it declares (entry 1) was reported by A, not by B"),
            "{history:?}"
        );
        // Nothing is withdrawn: the case's events stay the item's.
        assert!(log.told(ITEM).withdrawn.is_empty());
        assert_eq!(leaves(&history), [0, 4, 1, 5, 2, 3], "{history:?}");
    }

    #[test]
    fn a_hand_over_by_shipping_and_receiving_gives_the_receiver_custody() {
        let log = a_journey()
            .by("B", step(object(40, &[CASE]), "receiving")) // 4: hand-over
            .by("B", aggregation(50, "DELETE", CASE, &[])) // 5: B unpacks its case
            .by("B", aggregation(60, "ADD", B_PALLET, &[ITEM])) // 6: into B's pallet
            .by("B", step(object(70, &[B_PALLET]), "storing")); // 7
        let history = log.history(ITEM);
        assert_eq!(leaves(&history), [0, 1, 2, 3, 4, 5, 6, 7], "{history:?}");
        for leaf in [4, 5, 6] {
            assert_eq!(kind(&history, leaf), "authorised", "{history:?}");
        }
        assert_eq!(kind(&history, 7), "observation");
        // Afterwards A no longer has custody.
        let log = log.by("A", aggregation(80, "DELETE", B_PALLET, &[ITEM])); // 8
        assert!(kind(&log.history(ITEM), 8).contains("in the custody of B, not of A"));
    }

    #[test]
    fn receiving_what_was_not_shipped_takes_no_custody() {
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("B", step(object(5, &[ITEM]), "receiving")) // 1
            .by("B", aggregation(6, "ADD", B_PALLET, &[ITEM])); // 2
        let history = log.history(ITEM);
        assert!(kind(&history, 1).starts_with("unauthorised: no hand-over"));
        assert!(kind(&history, 2).contains("in the custody of A, not of B"));
    }

    #[test]
    fn a_delegate_acts_with_the_brand_s_authority() {
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("L", aggregation(5, "ADD", CASE, &[ITEM])) // 1
            .by("L", step(object(6, &[CASE]), "inspecting")); // 2
        let history = log.history(ITEM);
        assert_eq!(leaves(&history), [0, 1, 2]);
        assert_eq!(kind(&history, 1), "authorised");
    }

    #[test]
    fn a_state_change_reported_after_the_late_window_changes_nothing() {
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .late("A", aggregation(5, "ADD", CASE, &[ITEM]), 31) // 1
            .by("A", step(object(6, &[CASE]), "inspecting")); // 2
        let history = log.history(ITEM);
        assert_eq!(leaves(&history), [0, 1]);
        assert!(kind(&history, 1).contains("31 days after it happened"));
        // Within the window it counts.
        let log = Log::new()
            .by("A", commission(0, &[ITEM]))
            .late("A", aggregation(5, "ADD", CASE, &[ITEM]), 29)
            .by("A", step(object(6, &[CASE]), "inspecting"));
        assert_eq!(leaves(&log.history(ITEM)), [0, 1, 2]);
    }

    #[test]
    fn a_party_cannot_change_the_past_of_an_item_it_handed_over() {
        let log = a_journey()
            .by("B", step(object(40, &[CASE]), "receiving")) // 4: hand-over, logged
            // A, logged after the hand-over, backdates an unpacking to before it.
            .by("A", aggregation(25, "DELETE", CASE, &[])); // 5
        let history = log.history(ITEM);
        assert!(
            kind(&history, 5)
                .contains("A handed urn:epc:id:sscc:0614141.1234567890 over (entry 4)"),
            "{history:?}"
        );
        // The same unpacking logged before the hand-over counts.
        let log = Log::new()
            .by("A", commission(0, &[ITEM]))
            .by("A", aggregation(10, "ADD", CASE, &[ITEM]))
            .by("A", aggregation(25, "DELETE", CASE, &[])) // 2
            .by("A", step(object(30, &[ITEM]), "shipping"))
            .by("B", step(object(40, &[ITEM]), "receiving"));
        assert_eq!(kind(&log.history(ITEM), 2), "authorised");
    }

    #[test]
    fn an_unregistered_prefix_belongs_to_its_first_commissioner() {
        let item = "urn:epc:id:sgtin:0999999.000001.1";
        let log = Log::new()
            .by("B", commission(0, &[item])) // 0
            .by("A", commission(1, &[item])) // 1
            .by("A", aggregation(2, "ADD", CASE, &[item])); // 2
        let history = log.history(item);
        assert_eq!(kind(&history, 0), "authorised");
        assert!(kind(&history, 1).contains("in the custody of B, not of A"));
        assert!(kind(&history, 2).contains("in the custody of B, not of A"));
        // Dated before B's claim, logged after it: log order settles who was first.
        let log = Log::new()
            .by("B", commission(5, &[item])) // 0
            .by("A", commission(1, &[item])); // 1
        let history = log.history(item);
        assert_eq!(kind(&history, 0), "authorised");
        assert!(kind(&history, 1).contains("brought into being by B first (entry 0)"));
        // A packs its item into a container under no registered prefix: the container is A's.
        // B's commissioning of it, logged later and dated earlier, takes it back from nobody,
        // and A's packing and shipping of it stand.
        let pallet = "urn:epc:id:sscc:0999999.0000000001";
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", aggregation(10, "ADD", pallet, &[ITEM])) // 1
            .by("A", shipping_to(20, &[pallet], TO_B_OR_C)) // 2
            .by("B", commission(5, &[pallet])); // 3
        let history = log.history(ITEM);
        for leaf in [1, 2] {
            assert_eq!(kind(&history, leaf), "authorised", "{history:?}");
        }
        assert_eq!(
            kind(&log.history(pallet), 3),
            format!("unauthorised: {pallet} was brought into being by A first (entry 1)")
        );
    }

    #[test]
    fn a_receipt_reported_past_the_window_settles_no_hand_over() {
        // B, a party the shipment names, reports a receipt 31 days after its time; C, also
        // named, then reports its own receipt, dated before B's. B's has no authority of its
        // own, so log order gives it none over C's.
        let log = a_journey()
            .late("B", step(object(50, &[CASE]), "receiving"), 31) // 4
            .by("C", step(object(40, &[CASE]), "receiving")); // 5
        let history = log.history(ITEM);
        assert!(
            kind(&history, 4).contains("beyond the 30-day late-report window"),
            "{history:?}"
        );
        assert_eq!(kind(&history, 5), "authorised", "{history:?}");
    }

    #[test]
    fn a_backdated_receipt_logged_after_the_real_one_takes_nothing() {
        // A ships to C, C receives (logged); then A, or a third party B, logs a receipt dated
        // between the shipping and C's receipt.
        for thief in ["A", "B"] {
            let log = a_journey()
                .by("C", step(object(40, &[CASE]), "receiving")) // 4: the real hand-over
                .by(thief, step(object(35, &[CASE]), "receiving")); // 5: backdated
            let history = log.history(ITEM);
            assert_eq!(kind(&history, 4), "authorised", "{thief}: {history:?}");
            // A is caught as the party that handed the case over, B as a later receipt.
            let expected = if thief == "A" {
                "A handed urn:epc:id:sscc:0614141.1234567890 over (entry 4)"
            } else {
                "C received urn:epc:id:sscc:0614141.1234567890 in entry 4"
            };
            assert!(kind(&history, 5).contains(expected), "{thief}: {history:?}");
        }
    }

    #[test]
    fn a_shipment_to_a_named_party_is_for_it_alone_to_receive() {
        // A ships its case to C's dock; B races to report receiving it, twice, before C does in
        // log order: dated before C's receipt, and dated after it. Then B unpacks it.
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", aggregation(10, "ADD", CASE, &[ITEM])) // 1
            .by("A", shipping_to(30, &[CASE], &[("location", C_DOCK)])) // 2
            .by("B", step(object(31, &[CASE]), "receiving")) // 3: not B's to take
            .by("B", step(object(35, &[CASE]), "receiving")) // 4: dated after C's
            .by("C", step(object(32, &[CASE]), "receiving")) // 5: logged after B's
            .by("B", aggregation(40, "DELETE", CASE, &[])) // 6
            .by("C", aggregation(45, "DELETE", CASE, &[])); // 7
        let history = log.history(ITEM);
        assert_eq!(
            kind(&history, 3),
            format!("unauthorised: {CASE} was shipped to C (entry 2), not to B"),
            "{history:?}"
        );
        // B's receipt logged first and dated after C's, refused, settles nothing: C's is the
        // hand-over, and B's comes after it.
        assert_eq!(kind(&history, 5), "authorised", "{history:?}");
        assert_eq!(
            kind(&history, 4),
            format!(
                "unauthorised: no hand-over: {CASE} is in the custody of C, who has not shipped it"
            ),
            "{history:?}"
        );
        assert!(
            kind(&history, 6).contains("in the custody of C, not of B"),
            "{history:?}"
        );
        assert_eq!(kind(&history, 7), "authorised", "{history:?}");

        // Without the destination, nobody but A takes the case: whoever reports receiving it,
        // in whatever order, A keeps custody.
        let unbound = Log(log
            .0
            .iter()
            .cloned()
            .map(|(mut event, reporter, captured)| {
                event.remove("destinationList");
                (event, reporter, captured)
            })
            .collect());
        let history = unbound.history(ITEM);
        for leaf in [3, 4, 5] {
            assert_eq!(
                kind(&history, leaf),
                format!(
                    "unauthorised: {CASE} was shipped (entry 2) to no party the registry knows: \
                     only a party its destinationList names may take it"
                ),
                "{history:?}"
            );
        }
        for (leaf, by) in [(6, "B"), (7, "C")] {
            assert!(
                kind(&history, leaf).contains(&format!("in the custody of A, not of {by}")),
                "{history:?}"
            );
        }
    }

    #[test]
    fn sources_and_destinations_are_marked_with_whose_they_are() {
        let mut event = shipping_to(
            10,
            &[ITEM],
            &[
                ("location", C_DOCK),
                ("owning_party", "urn:epc:id:pgln:0614141.00000"),
                ("location", "urn:epc:id:sgln:0123456.00001.0"),
            ],
        );
        event.insert(
            "sourceList".to_owned(),
            json!([{"type": "location", "source": "urn:epc:id:sgln:0712345.00001.0"},
                {"type": "owning_party"}]),
        );
        let parties = parties();
        let listed = listed(&event, Some(&org("L")), &parties);
        let marked: Vec<(&str, &str, Option<&str>, bool)> = listed
            .iter()
            .map(|entry| {
                (
                    entry.list,
                    entry.id.as_str(),
                    entry.organisation.as_ref().map(OrganisationId::as_str),
                    entry.reporters,
                )
            })
            .collect();
        // Reported by L, A's delegate: A's own GLN is its principal's; an entry without an
        // identifier is left out; a GLN under no registered prefix is nobody's.
        assert_eq!(
            marked,
            [
                (
                    "sourceList",
                    "urn:epc:id:sgln:0712345.00001.0",
                    Some("B"),
                    false
                ),
                ("destinationList", C_DOCK, Some("C"), false),
                (
                    "destinationList",
                    "urn:epc:id:pgln:0614141.00000",
                    Some("A"),
                    true
                ),
                (
                    "destinationList",
                    "urn:epc:id:sgln:0123456.00001.0",
                    None,
                    false
                ),
            ]
        );
        assert_eq!(listed[1].kind, "location");
    }

    #[test]
    fn a_destination_is_a_registered_location_s_or_its_gln_s_owner_and_unknown_ones_name_nobody() {
        let received_by = |to: &[(&str, &str)], receiver: &'static str| {
            let log = Log::new()
                .by("A", commission(0, &[ITEM])) // 0
                .by("A", shipping_to(10, &[ITEM], to)) // 1
                .by(receiver, step(object(20, &[ITEM]), "receiving")); // 2
            kind(&log.history(ITEM), 2).to_owned()
        };
        // B's party GLN, as an EPC URI and as a Digital Link (AI 417), owned by its prefix.
        // (The EPC URI split at another length is the same GLN.)
        for party in [
            "urn:epc:id:pgln:0712345.00000",
            "urn:epc:id:pgln:071234.500000",
            "https://id.gs1.org/417/0712345000002",
        ] {
            for kind in [
                "owning_party",
                "urn:epcglobal:cbv:sdt:possessing_party",
                "https://ref.gs1.org/cbv/SDT-owning_party",
            ] {
                assert_eq!(received_by(&[(kind, party)], "B"), "authorised");
                assert_eq!(
                    received_by(&[(kind, party)], "C"),
                    format!("unauthorised: {ITEM} was shipped to B (entry 1), not to C"),
                );
            }
        }
        // C's registered dock, as an SGLN: its pattern covers every extension.
        let dock = [("location", "urn:epc:id:sgln:0999999.00001.door-9")];
        assert_eq!(received_by(&dock, "C"), "authorised");
        assert!(received_by(&dock, "B").contains("shipped to C (entry 1)"));
        // Two destinations: either may take it; the reason names both.
        let both = [
            ("location", C_DOCK),
            ("owning_party", "urn:epc:id:pgln:0712345.00000"),
        ];
        assert_eq!(received_by(&both, "B"), "authorised");
        assert_eq!(received_by(&both, "C"), "authorised");
        assert!(received_by(&both, "D").contains("shipped to B or C (entry 1), not to D"));
        // A destination the registry does not know, or of a type that names no party, names
        // no receiver: nobody else may take the item, as without one.
        for unknown in [
            &[][..],
            &[("location", "urn:epc:id:sgln:0555555.00001.0")],
            &[("location", "https://id.gs1.org/414/0555555000017")],
            &[("location", "geo:52.37,4.89")],
            &[("urn:example:sdt:carrier", "urn:epc:id:pgln:0712345.00000")],
        ] {
            assert_eq!(
                received_by(unknown, "C"),
                format!(
                    "unauthorised: {ITEM} was shipped (entry 1) to no party the registry \
                     knows: only a party its destinationList names may take it"
                ),
                "{unknown:?}"
            );
            assert_eq!(received_by(unknown, "A"), "authorised", "{unknown:?}");
        }
        // The holder taking back what it shipped is a return, wherever it was sent.
        assert_eq!(received_by(&dock, "A"), "authorised");
        // A's delegate acts for A: a shipment to A is its to receive too.
        let log = Log::new()
            .by("B", commission(0, &[B_ITEM])) // 0
            .by(
                "B",
                shipping_to(
                    10,
                    &[B_ITEM],
                    &[("owning_party", "urn:epc:id:pgln:0614141.00000")],
                ),
            ) // 1
            .by("L", step(object(20, &[B_ITEM]), "receiving")); // 2
        assert_eq!(kind(&log.history(B_ITEM), 2), "authorised");
    }

    /// A TransactionEvent `ADD` of `ids` under a purchase order, its `destinationList` `to`.
    fn transaction(minute: u32, ids: &[&str], to: &[(&str, &str)]) -> Map<String, Value> {
        let mut event = with(
            with(object(minute, ids), "type", json!("TransactionEvent")),
            "action",
            json!("ADD"),
        );
        event.insert(
            "bizTransactionList".to_owned(),
            json!([{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO-7"}]),
        );
        let to: Vec<Value> = to
            .iter()
            .map(|(kind, id)| json!({"type": kind, "destination": id}))
            .collect();
        with(event, "destinationList", json!(to))
    }

    const A_PARTY: &str = "urn:epc:id:pgln:0614141.00000";
    const B_PARTY: &str = "urn:epc:id:pgln:0712345.00000";

    #[test]
    fn a_transfer_with_a_business_transaction_hands_custody_to_the_party_it_names() {
        let to = |party: &'static str| [("possessing_party", party)];
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", transaction(10, &[ITEM], &to(B_PARTY))) // 1: to B
            .by("A", aggregation(20, "ADD", CASE, &[ITEM])) // 2: A no longer holds it
            .by("B", aggregation(30, "ADD", B_PALLET, &[ITEM])) // 3
            .by("C", transaction(40, &[ITEM], &to(C_DOCK))) // 4: C holds nothing
            .by(
                "B",
                transaction(50, &[B_PALLET], &to("urn:epc:id:pgln:0555555.00000")),
            ) // 5: to nobody known
            .by(
                "B",
                transaction(
                    60,
                    &[B_PALLET],
                    &[("possessing_party", A_PARTY), ("possessing_party", C_DOCK)],
                ),
            ) // 6: to two parties
            .by("A", aggregation(5, "ADD", CASE, &[ITEM])) // 7: A backdates a change
            .by(
                "B",
                transaction(
                    70,
                    &[B_PALLET],
                    &[("owning_party", A_PARTY), ("possessing_party", C_DOCK)],
                ),
            ) // 8: the pallet, item inside, into C's possession (A only owns it)
            .by("C", aggregation(80, "DELETE", B_PALLET, &[])) // 9
            .by("C", transaction(90, &[ITEM], &[("owning_party", A_PARTY)])); // 10: ownership only
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 1), "authorised", "{history:?}");
        assert!(
            kind(&history, 2).contains("in the custody of B, not of A"),
            "{history:?}"
        );
        assert_eq!(kind(&history, 3), "authorised", "{history:?}");
        // A party that holds nothing it names states no hand-over: an observation of the
        // transaction (a buyer's purchase order, say).
        assert_eq!(kind(&history, 4), "observation", "{history:?}");
        assert_eq!(
            kind(&history, 5),
            "unauthorised: a transfer to urn:epc:id:pgln:0555555.00000 moves no custody: the \
             registry knows no such party"
        );
        assert_eq!(
            kind(&history, 6),
            "unauthorised: a transfer to more than one party (A, C) moves no custody"
        );
        assert!(
            // (Packed, as A claims, the item went over in its case.)
            kind(&history, 7).contains(&format!("A handed {CASE} over (entry 1)")),
            "{history:?}"
        );
        assert_eq!(kind(&history, 8), "authorised", "{history:?}");
        assert_eq!(kind(&history, 9), "authorised", "{history:?}");
        assert_eq!(kind(&history, 10), "observation", "{history:?}");

        // Without a business transaction, or naming no possessing party, it is an observation.
        let mut bare = transaction(10, &[ITEM], &to(B_PARTY));
        bare.remove("bizTransactionList");
        let located = transaction(10, &[ITEM], &[("location", C_DOCK)]);
        for event in [bare, located] {
            let log = Log::new().by("A", commission(0, &[ITEM])).by("A", event);
            assert_eq!(kind(&log.history(ITEM), 1), "observation");
        }
    }

    #[test]
    fn a_receipt_logged_first_settles_a_transit_the_shipper_cannot_backdate_over() {
        // A ships to B, B's receipt is logged; then A logs changes dated between the two: a
        // shipping elsewhere, a transfer, a packing. Each would undo B's receipt if it were
        // judged before it, and is refused as a change of the past of what A handed over.
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", shipping_to(10, &[ITEM], &[("owning_party", B_PARTY)])) // 1
            .by("B", step(object(20, &[ITEM]), "receiving")) // 2
            .by("A", shipping_to(15, &[ITEM], &[("owning_party", A_PARTY)])) // 3
            .by(
                "A",
                transaction(15, &[ITEM], &[("possessing_party", C_DOCK)]),
            ) // 4
            .by("A", aggregation(15, "ADD", CASE, &[ITEM])) // 5
            .by("B", aggregation(30, "ADD", B_PALLET, &[ITEM])); // 6
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 2), "authorised", "{history:?}");
        for leaf in [3, 4, 5] {
            assert_eq!(
                kind(&history, leaf),
                format!(
                    "unauthorised: A handed {ITEM} over (entry 2) before this change of its past \
                     was reported"
                ),
                "{history:?}"
            );
        }
        assert_eq!(kind(&history, 6), "authorised", "{history:?}");

        // Logged before B's receipt, A's new shipping redirects the item, and B's receipt,
        // then, is not B's to make.
        let redirected = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", shipping_to(10, &[ITEM], &[("owning_party", B_PARTY)])) // 1
            .by("A", shipping_to(15, &[ITEM], &[("owning_party", A_PARTY)])) // 2
            .by("B", step(object(20, &[ITEM]), "receiving")); // 3
        let history = redirected.history(ITEM);
        assert_eq!(kind(&history, 2), "authorised", "{history:?}");
        assert_eq!(
            kind(&history, 3),
            format!("unauthorised: {ITEM} was shipped to A (entry 2), not to B")
        );
    }

    #[test]
    fn another_split_of_a_registered_gtin_is_still_the_owner_s() {
        // The same GTIN and serial as ITEM, with a 6-digit company prefix: one item.
        let split = "urn:epc:id:sgtin:061414.1107346.2017";
        let log = a_journey().by("B", commission(1, &[split])); // 4
        let history = log.history(split);
        assert!(
            kind(&history, 4).contains("company prefix of A, not of B"),
            "{history:?}"
        );
        let parties = parties();
        assert_eq!(parties.owner_of(split), Some(&org("A")));
        assert!(parties.may_commission(Some(&org("B")), split).is_err());
        // A case's SSCC split otherwise, and the Digital Link of the item.
        assert_eq!(
            parties.owner_of("urn:epc:id:sscc:061414.11234567890"),
            Some(&org("A"))
        );
        assert_eq!(
            parties.owner_of("https://id.gs1.org/01/10614141073464/21/2017"),
            Some(&org("A"))
        );
        // Neither prefix of B's, nor any split of an unregistered key.
        assert_eq!(parties.owner_of("urn:epc:id:sgtin:0999999.000001.1"), None);
        assert_eq!(
            parties.owner_of("urn:epc:id:sgln:0614141.00777.0"),
            Some(&org("A"))
        );
    }

    #[test]
    fn containers_cannot_be_packed_into_a_loop() {
        let pallet = "urn:epc:id:sscc:0614141.2234567890";
        let log = Log::new()
            .by("A", commission(0, &[ITEM]))
            .by("A", aggregation(1, "ADD", CASE, &[ITEM]))
            .by("A", aggregation(2, "ADD", pallet, &[CASE]))
            .by("A", aggregation(3, "ADD", CASE, &[pallet])); // 3
        let history = log.history(ITEM);
        assert!(
            kind(&history, 3).contains("would put a container inside itself"),
            "{history:?}"
        );
    }

    #[test]
    fn the_owner_cannot_take_back_by_transformation_what_it_handed_over() {
        let transformation = json!({"type": "TransformationEvent", "eventTime": at(50),
            "inputEPCList": [], "outputEPCList": [ITEM]})
        .as_object()
        .unwrap()
        .clone();
        let log = a_journey()
            .by("C", step(object(40, &[CASE]), "receiving")) // 4
            .by("C", aggregation(45, "DELETE", CASE, &[])) // 5
            .by("A", transformation); // 6
        let history = log.history(ITEM);
        assert!(
            kind(&history, 6).contains("in the custody of C, not of A"),
            "{history:?}"
        );
    }

    #[test]
    fn only_the_custodian_may_say_an_item_was_sold_or_destroyed() {
        let sold = with(
            step(object(25, &[ITEM]), "retail_selling"),
            "disposition",
            json!("retail_sold"),
        );
        let stolen = with(object(26, &[ITEM]), "disposition", json!("stolen"));
        let log = a_journey()
            .by("B", sold.clone())
            .by("B", stolen)
            .by("A", sold); // 4, 5, 6
        let history = log.history(ITEM);
        assert!(kind(&history, 4).contains("not of B"), "{history:?}");
        assert!(kind(&history, 5).contains("not of B"), "{history:?}");
        assert_eq!(kind(&history, 6), "authorised");
    }

    fn recall(minute: u32, epcs: &[&str]) -> Map<String, Value> {
        with(object(minute, epcs), "disposition", json!("recalled"))
    }

    #[test]
    fn only_the_brand_or_its_delegate_may_recall_an_item_whoever_holds_it() {
        let lifted = with(
            object(45, &[ITEM]),
            "persistentDisposition",
            json!({"unset": ["https://ref.gs1.org/cbv/Disp-recalled"]}),
        );
        let log = a_journey()
            // B holds nothing of A's and recalls A's item; it then receives it and still is no
            // brand; a regulator recalls it too.
            .by("B", recall(40, &[ITEM])) // 4
            .by("B", step(object(35, &[CASE]), "receiving")) // 5
            .by("B", recall(41, &[ITEM])) // 6
            .by("A", recall(42, &[ITEM])) // 7
            .by("L", recall(43, &[CASE])) // 8
            .by("B", lifted.clone()) // 9
            .by("A", lifted) // 10
            .by("R", recall(46, &[ITEM])); // 11
        let history = log.history(ITEM);
        for leaf in [4, 6, 9] {
            assert!(
                kind(&history, leaf).contains("is A's, not B's"),
                "entry {leaf}: {history:?}"
            );
        }
        // Custody passed to B (5), and still only the brand recalls: a recall is its word.
        assert_eq!(kind(&history, 5), "authorised");
        for leaf in [7, 8, 10, 11] {
            assert_eq!(
                kind(&history, leaf),
                "authorised",
                "entry {leaf}: {history:?}"
            );
        }
    }

    #[test]
    fn a_recall_of_classes_is_judged_by_their_owner_and_one_naming_nothing_recalls_nothing() {
        let lot = |minute: u32, class: &str| {
            let mut event = object(minute, &[]);
            event.insert(
                "quantityList".to_owned(),
                json!([{"epcClass": class, "quantity": 10}]),
            );
            with(
                event,
                "disposition",
                json!("urn:epcglobal:cbv:disp:recalled"),
            )
        };
        let parties = parties();
        let events: Vec<SourceEvent<()>> = [
            (lot(0, "urn:epc:class:lgtin:0614141.107346.L1"), "A"),
            (lot(1, "urn:epc:class:lgtin:0614141.107346.L1"), "B"),
            (lot(2, "urn:epc:idpat:sgtin:0614141.107346.*"), "L"),
            (lot(3, "urn:epc:class:lgtin:0999999.107346.L1"), "A"),
            (lot(4, "urn:epc:class:lgtin:0614141.107346.L1|junk"), "A"),
            (recall(5, &[]), "A"),
            (lot(6, "https://id.gs1.org/01/10614141073464/10/L2"), "L"),
            (lot(7, "https://id.gs1.org/01/10614141073464/10/L2"), "B"),
            // A regulator recalls any brand's lot, even one under no registered prefix.
            (lot(8, "urn:epc:class:lgtin:0614141.107346.L1"), "R"),
            (lot(9, "urn:epc:class:lgtin:0999999.107346.L1"), "R"),
            (recall(10, &[]), "R"),
        ]
        .into_iter()
        .enumerate()
        .map(|(leaf, (event, reporter))| {
            let mut source = SourceEvent::of(
                LeafIndex::new(leaf as u64).unwrap(),
                event,
                Some(org(reporter)),
                None,
            );
            source.captured = Some(source.time);
            source
        })
        .collect();
        let marks = assess(&events, &parties);
        let mark = |leaf: u64| marks[&LeafIndex::new(leaf).unwrap()].to_string();
        assert_eq!(mark(0), "authorised");
        assert!(mark(1).contains("not of B"), "{}", mark(1));
        assert_eq!(mark(2), "authorised");
        assert!(
            mark(3).contains("not a class under a registered"),
            "{}",
            mark(3)
        );
        assert!(
            mark(4).contains("not a class under a registered"),
            "{}",
            mark(4)
        );
        assert!(mark(5).contains("names nothing"), "{}", mark(5));
        // A Digital Link of the lot is the same class: its brand's delegate may, B may not.
        assert_eq!(mark(6), "authorised");
        assert!(mark(7).contains("not of B"), "{}", mark(7));
        assert_eq!(mark(8), "authorised");
        assert_eq!(mark(9), "authorised");
        assert!(mark(10).contains("names nothing"), "{}", mark(10));
    }

    fn transformation(minute: u32, inputs: &[&str], outputs: &[&str]) -> Map<String, Value> {
        json!({"type": "TransformationEvent", "eventTime": at(minute),
            "inputEPCList": inputs, "outputEPCList": outputs})
        .as_object()
        .unwrap()
        .clone()
    }

    /// A memory source that remembers what it was asked about (each question's names) and which
    /// events it gave.
    struct Recording {
        memory: Memory,
        asked: std::sync::Mutex<Vec<Vec<String>>>,
        given: std::sync::Mutex<Vec<u64>>,
    }

    impl EventSource for Recording {
        type Error = std::convert::Infallible;
        type Payload = usize;

        async fn candidates(
            &self,
            names: &[String],
            known: &(dyn Fn(LeafIndex) -> bool + Sync),
        ) -> Result<Vec<Candidate>, Self::Error> {
            self.asked.lock().unwrap().push(names.to_vec());
            self.memory.candidates(names, known).await
        }

        async fn load(
            &self,
            names: &[String],
            leaves: &[LeafIndex],
        ) -> Result<Vec<SourceEvent<usize>>, Self::Error> {
            let events = self.memory.load(names, leaves).await?;
            let given = events.iter().map(|event| event.leaf.get());
            self.given.lock().unwrap().extend(given);
            Ok(events)
        }
    }

    /// The questions a history of `item` of at most `limit` events asked its source (each by its
    /// EPC URIs: an item's and a container's Digital Link forms go with them), and its leaves (or
    /// why it could not be put together). Every event is given once.
    fn gathered(
        log: &Log,
        item: &str,
        limit: usize,
    ) -> (Vec<Vec<String>>, Result<Vec<u64>, String>) {
        let (asked, _, leaves) = gathered_loading(log, item, limit);
        (asked, leaves)
    }

    /// The questions asked, the leaves of the events loaded (in leaf order) and the history's
    /// leaves or why it could not be put together.
    type Gathering = (Vec<Vec<String>>, Vec<u64>, Result<Vec<u64>, String>);

    /// As [`gathered`], with the leaves of the events loaded.
    fn gathered_loading(log: &Log, item: &str, limit: usize) -> Gathering {
        gathered_loading_names(log, vec![item.to_owned()], limit)
    }

    /// As [`gathered_loading`], of the item named by `names`.
    fn gathered_loading_names(log: &Log, names: Vec<String>, limit: usize) -> Gathering {
        let source = Recording {
            memory: log.memory(),
            asked: Default::default(),
            given: Default::default(),
        };
        let parties = parties();
        let future = history(&source, names, names_of, Judge::Parties(&parties), limit);
        let answer = match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(answer) => answer,
            Poll::Pending => unreachable!("a memory source answers at once"),
        };
        let leaves = answer
            .map(|history| history.events.iter().map(|e| e.event.leaf.get()).collect())
            .map_err(|error| error.to_string());
        let mut given = source.given.into_inner().unwrap();
        let count = given.len();
        given.sort_unstable();
        given.dedup();
        assert_eq!(given.len(), count, "an event was given twice: {given:?}");
        let asked = source.asked.into_inner().unwrap();
        let asked = asked
            .into_iter()
            .map(|names| {
                names
                    .into_iter()
                    .filter(|name| name.starts_with("urn:"))
                    .collect()
            })
            .collect();
        (asked, given, leaves)
    }

    /// The history of A's item among `log`'s events, of at most `limit` events, judged with
    /// the registry.
    fn answered(log: &Log, limit: usize) -> History<usize> {
        answered_for(log, ITEM, limit)
    }

    /// The history of `item` among `log`'s events, of at most `limit` events, judged with the
    /// registry.
    fn answered_for(log: &Log, item: &str, limit: usize) -> History<usize> {
        let parties = parties();
        in_memory(
            &log.memory(),
            vec![item.to_owned()],
            Judge::Parties(&parties),
            limit,
        )
        .unwrap()
    }

    /// B relates A's item to its own pallet and item, which have many events: a history that
    /// gathered them would be full of them. None of them is gathered.
    #[test]
    fn what_another_party_relates_an_item_to_is_never_gathered() {
        let mut log = a_journey()
            .by("B", aggregation(15, "ADD", B_PALLET, &[ITEM])) // 4
            .by("B", transformation(16, &[ITEM], &[B_ITEM])) // 5: consumes A's item
            .by("B", transformation(17, &[B_ITEM], &[ITEM])); // 6: claims to produce it
        for minute in 0..50 {
            log = log.by("B", object(40 + minute, &[B_PALLET, B_ITEM]));
        }
        let (asked, history) = gathered(&log, ITEM, 10);
        assert_eq!(history.unwrap(), [0, 1, 4, 5, 6, 2, 3]);
        assert_eq!(
            asked,
            [[ITEM], [CASE]],
            "only the item and A's case are asked about"
        );
        // The same pallet, packed by B once A's case was handed over to it, is followed: its
        // events are the item's, and B has custody. Its observations beyond the round's share
        // (10) are left out unread, and the history keeps every state change (7) and B's first 3
        // observations; before candidates carried their kind, B's events could not be left out
        // (any could have been a state change) and both histories were refused.
        for observations in [50, 30] {
            let mut log = a_journey()
                .by("B", step(object(35, &[CASE]), "receiving")) // 4
                .by("B", aggregation(36, "DELETE", CASE, &[])) // 5
                .by("B", aggregation(37, "ADD", B_PALLET, &[ITEM])); // 6
            for minute in 0..observations {
                log = log.by("B", object(40 + minute, &[B_PALLET]));
            }
            let (asked, loaded, history) = gathered_loading(&log, ITEM, 10);
            assert_eq!(asked, [[ITEM], [CASE], [B_PALLET]]);
            assert_eq!(loaded, (0..17).collect::<Vec<u64>>());
            assert_eq!(history.unwrap(), (0..10).collect::<Vec<u64>>());
            let answered = answered(&log, 10);
            assert_eq!(answered.omitted, [omitted("B", observations as usize - 3)]);
            assert!(
                answered.events[..7]
                    .iter()
                    .all(|e| e.authority == Authority::Authorised)
            );
        }
    }

    /// Custody the item's own events cannot show (a receipt of its case by another party) is
    /// found in a later round: the new holder's container and transformation are followed.
    #[test]
    fn a_later_round_follows_a_holder_only_a_container_s_events_show() {
        let tote = "urn:epc:id:sscc:0999999.0000000001";
        let juice = "urn:epc:id:sgtin:0999999.000002.1";
        let log = a_journey()
            .by("C", step(object(40, &[CASE]), "receiving")) // 4: the hand-over
            .by("C", aggregation(45, "DELETE", CASE, &[])) // 5
            .by("C", aggregation(50, "ADD", tote, &[ITEM])) // 6
            .by("C", step(object(55, &[tote]), "storing")) // 7
            .by("C", aggregation(57, "DELETE", tote, &[])) // 8
            .by("C", transformation(60, &[ITEM], &[juice])) // 9
            .by("C", object(65, &[juice])); // 10
        let (asked, history) = gathered(&log, ITEM, 1000);
        assert_eq!(history.unwrap(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(asked, [vec![ITEM], vec![CASE], vec![tote, juice]]);
    }

    /// A transformation of the item into more identifiers than a history may ask about is
    /// refused before any of them is asked about, whoever reported it.
    #[test]
    fn too_many_related_items_are_refused_unasked() {
        let outputs: Vec<String> = (0..=MAX_SUBJECTS)
            .map(|serial| format!("urn:epc:id:sgtin:0614141.000002.{serial}"))
            .collect();
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let log = a_journey().by("A", transformation(40, &[ITEM], &outputs));
        let (asked, history) = gathered(&log, ITEM, 1000);
        assert_eq!(asked, [[ITEM]]);
        assert_eq!(
            history.unwrap_err(),
            "the item is related to more than 256 containers and items: ask about a narrower item"
        );
    }

    /// A's journey, C's receipt of A's case, then B's flood of A's item: 5 unauthorised packings
    /// into B's pallet, then 30 observations (leaves 5 to 39).
    fn flooded() -> Log {
        let mut log = a_journey().by("C", step(object(35, &[CASE]), "receiving")); // 4
        for minute in 0..5 {
            log = log.by("B", aggregation(40 + minute, "ADD", B_PALLET, &[ITEM]));
        }
        for minute in 0..30 {
            log = log.by("B", object(50 + minute, &[ITEM]));
        }
        log
    }

    /// More events name A's item than its history may hold (12), nearly all B's: the history is
    /// answered, with every event of A and C, B's first in log order up to an equal share, and
    /// what was left out of B's said. First the item's own events are shared out (A's 2, B's
    /// first 10 of 35), then the history (A's and C's 5 state changes, which it rests on, and 7
    /// of B's).
    #[test]
    fn another_party_s_flood_is_shared_out_not_refused() {
        let parties = parties();
        let history = in_memory(
            &flooded().memory(),
            vec![ITEM.to_owned()],
            Judge::Parties(&parties),
            12,
        )
        .unwrap();
        let leaves: Vec<u64> = history.events.iter().map(|e| e.event.leaf.get()).collect();
        assert_eq!(leaves, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(
            history.omitted,
            [Omitted {
                reporter: Some(org("B")),
                events: 28
            }]
        );
        for event in &history.events[5..10] {
            assert!(!event.authority.counts(), "{event:?}");
        }
        // B's events beyond its share were never loaded: A's 2 and B's first 10 of the item's,
        // then the case's 3.
        let (_, loaded, _) = gathered_loading(&flooded(), ITEM, 12);
        assert_eq!(loaded, (0..15).collect::<Vec<u64>>());
        // Without B's flood the history is A's and C's alone, and nothing is left out.
        let calm = in_memory(
            &a_journey()
                .by("C", step(object(35, &[CASE]), "receiving"))
                .memory(),
            vec![ITEM.to_owned()],
            Judge::Parties(&parties),
            12,
        )
        .unwrap();
        let calm_leaves: Vec<u64> = calm.events.iter().map(|e| e.event.leaf.get()).collect();
        assert_eq!(calm_leaves, [0, 1, 2, 3, 4]);
        assert!(calm.omitted.is_empty());
    }

    /// However many observations name an item, its history chooses among them without loading
    /// any beyond its share: B's 200 observations of A's item (more than 4 times the limit, the
    /// ceiling before candidates carried their kind) leave every state change read, B's first
    /// observations up to the places left, and the rest counted, unloaded. A history whose state
    /// changes alone are more than it may hold is still refused.
    #[test]
    fn a_flood_of_observations_of_any_size_is_answered_loading_a_share() {
        let mut log = a_journey();
        for minute in 0..200 {
            log = log.by("B", object(40 + minute, &[ITEM]));
        }
        let (asked, loaded, history) = gathered_loading(&log, ITEM, 12);
        assert_eq!(asked, [[ITEM], [CASE]]);
        // A's commissioning and packing (state changes), B's first 10 observations; then the
        // case's receipt and shipping.
        assert_eq!(loaded, (0..14).collect::<Vec<u64>>());
        let history = history.unwrap();
        assert_eq!(history, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let answered = answered(&log, 12);
        assert_eq!(answered.omitted, [omitted("B", 192)]);
        // A's case, with the item inside, shipped and received: 13 state changes, each read.
        let mut log = Log::new()
            .by("A", commission(0, &[ITEM]))
            .by("A", aggregation(1, "ADD", CASE, &[ITEM]));
        for minute in 0..11 {
            let step_name = ["shipping", "receiving"][minute as usize % 2];
            log = log.by("A", step(object(2 + minute, &[CASE]), step_name));
        }
        let (_, history) = gathered(&log, ITEM, 12);
        assert_eq!(
            history.unwrap_err(),
            "the history has more than 12 events: ask about a narrower item"
        );
    }

    /// A's own observations of its item are shared out with B's flood like B's: they weigh in no
    /// judgement, so leaving some out leaves the history sound. Before candidates carried their
    /// kind, any event of A's left out could have been a state change, and a flood that pushed
    /// A past its equal share made A's item unanswerable.
    #[test]
    fn a_flood_cannot_push_a_custodian_past_its_share() {
        let mut log = Log::new().by("A", commission(0, &[ITEM]));
        for minute in 1..=20 {
            log = log.by("A", object(minute, &[ITEM]));
        }
        for minute in 0..100 {
            log = log.by("B", object(40 + minute, &[ITEM]));
        }
        let (_, loaded, history) = gathered_loading(&log, ITEM, 12);
        // A's commissioning, then 11 places: A's first 6 observations (its run starts first and
        // takes the spare place), B's first 5.
        let expected: Vec<u64> = (0..=6).chain(21..26).collect();
        assert_eq!(loaded, expected);
        assert_eq!(history.unwrap(), expected);
        let answered = answered(&log, 12);
        assert_eq!(answered.events[0].authority, Authority::Authorised);
        assert_eq!(answered.omitted, [omitted("A", 14), omitted("B", 95)]);
        // A state change of A's beyond the places is never left out: its 13th, left out when
        // the state changes were shared, is read in a further question, and more of them than
        // a history holds is refused, not shared.
        let mut busy = Log::new().by("A", commission(0, &[ITEM]));
        for minute in 1..=12 {
            let step_name = ["shipping", "receiving"][minute as usize % 2];
            busy = busy.by("A", step(object(minute, &[ITEM]), step_name));
        }
        for minute in 0..100 {
            busy = busy.by("B", object(40 + minute, &[ITEM]));
        }
        let (_, loaded, history) = gathered_loading(&busy, ITEM, 12);
        // Every state change, no observation read.
        assert_eq!(loaded, (0..=12).collect::<Vec<u64>>());
        assert_eq!(
            history.unwrap_err(),
            "the history has more than 12 events: ask about a narrower item"
        );
    }

    /// `reporter`'s `changes` of an item it holds, at `minute` on: shipping it (to B or C) and
    /// receiving it by turns (each a state change, and none naming anything but the item).
    fn moves(mut log: Log, reporter: &'static str, minute: u32, changes: u32) -> Log {
        for change in 0..changes {
            let event = match change % 2 {
                0 => shipping_to(minute + change, &[ITEM], TO_B_OR_C),
                _ => step(object(minute + change, &[ITEM]), "receiving"),
            };
            log = log.by(reporter, event);
        }
        log
    }

    /// A's item: commissioned, then shipped and received `changes` times by A (leaves 0 to
    /// `changes`), then packed into B's pallet 100 times by B, each refused.
    fn a_busy_item_flooded_with_refused_changes(changes: u32) -> Log {
        let mut log = moves(Log::new().by("A", commission(0, &[ITEM])), "A", 1, changes);
        for minute in 0..100 {
            log = log.by("B", aggregation(400 + minute, "ADD", B_PALLET, &[ITEM]));
        }
        log
    }

    /// B's flood of changes it had no right to make is more than a round holds, so the state
    /// changes are shared out (6 of A's 9, 6 of B's 100), and three of custodian A's are left
    /// unread: judged to have authority over the item, A has them read in a further question,
    /// and the history answers with every change of A's, B's first 3 and B's other 97 counted.
    /// Before, a custodian whose own state changes were more than an equal share of a round
    /// (6 of 12 against one flooding party) made its item a `422`.
    #[test]
    fn a_flood_of_refused_changes_cannot_crowd_a_custodian_s_own_out() {
        let log = a_busy_item_flooded_with_refused_changes(8);
        let (asked, loaded, history) = gathered_loading(&log, ITEM, 12);
        // The round's share (A's 0 to 5, B's 9 to 14), then A's 6 to 8.
        assert_eq!(loaded, (0..15).collect::<Vec<u64>>());
        // The item alone: never B's pallet.
        assert_eq!(asked, [[ITEM]]);
        assert_eq!(history.unwrap(), (0..12).collect::<Vec<u64>>());
        let answered = answered(&log, 12);
        for event in &answered.events[..9] {
            assert_eq!(event.authority, Authority::Authorised, "{event:?}");
        }
        for event in &answered.events[9..] {
            assert!(
                matches!(&event.authority, Authority::Unauthorised { reason }
                    if reason.contains("in the custody of A, not of B")),
                "{event:?}"
            );
        }
        assert_eq!(answered.omitted, [omitted("B", 97)]);
    }

    /// The further reading of a custodian's state changes is bounded by the gathering's
    /// budget (4 x 12): 49 of A's against B's flood are refused before they are read.
    #[test]
    fn a_custodian_s_changes_past_the_gathering_budget_are_refused_unread() {
        let log = a_busy_item_flooded_with_refused_changes(48);
        let (_, loaded, history) = gathered_loading(&log, ITEM, 12);
        // The round's share only: A's first 6, B's first 6.
        assert_eq!(loaded, (0..6).chain(49..55).collect::<Vec<u64>>());
        assert_eq!(
            history.unwrap_err(),
            "more state changes of a party with authority over the item than a history of 12 \
             may read: ask about a narrower item"
        );
    }

    /// Custody shown by a change read in a further question has its holder's own left-out
    /// changes read in turn: A's shipping (its last) was left out by the round's share, so C's
    /// receipt was judged refused and C without authority; once A's are read, C's receipt is
    /// authorised and C's left-out changes are read too. Every change of A's and C's is in the
    /// history, authorised.
    #[test]
    fn custody_shown_by_a_further_read_has_its_holder_s_changes_read_too() {
        // A's 0 to 7 end with its shipping, C's 8 to 16 start with its receipt.
        let mut log = moves(Log::new().by("A", commission(0, &[ITEM])), "A", 1, 7);
        log = moves(
            log.by("C", step(object(8, &[ITEM]), "receiving")),
            "C",
            9,
            8,
        );
        for minute in 0..100 {
            log = log.by("B", aggregation(400 + minute, "ADD", B_PALLET, &[ITEM])); // 17 on
        }
        let (_, loaded, history) = gathered_loading(&log, ITEM, 20);
        // The round's share (A's 0 to 6 and C's 8 to 14, B's 17 to 22), then A's 7, then C's
        // 15 and 16.
        assert_eq!(loaded, (0..23).collect::<Vec<u64>>());
        assert_eq!(history.unwrap(), (0..20).collect::<Vec<u64>>());
        let answered = answered(&log, 20);
        for event in &answered.events[..17] {
            assert_eq!(event.authority, Authority::Authorised, "{event:?}");
        }
        assert_eq!(answered.omitted, [omitted("B", 97)]);
    }

    /// B packs A's item into its pallet 30 times (each unauthorised), more than a history of 12
    /// holds with A's and C's own events (leaves 5 to 34).
    fn flooded_with_packings() -> Log {
        let mut log = a_journey().by("C", step(object(35, &[CASE]), "receiving")); // 4
        for minute in 0..30 {
            log = log.by("B", aggregation(40 + minute, "ADD", B_PALLET, &[ITEM]));
        }
        log
    }

    /// Changes B had no right to make are shared out like observations: the history is
    /// answered with every event of A and C, B's first in log order up to an equal share, and
    /// the rest of B's counted. Before, every state change was kept, authorised or not, and
    /// 12 of B's packings made A's item unanswerable.
    #[test]
    fn a_flood_of_refused_changes_is_shared_out_not_refused() {
        let parties = parties();
        let history = in_memory(
            &flooded_with_packings().memory(),
            vec![ITEM.to_owned()],
            Judge::Parties(&parties),
            12,
        )
        .unwrap();
        let leaves: Vec<u64> = history.events.iter().map(|e| e.event.leaf.get()).collect();
        assert_eq!(leaves, (0..12).collect::<Vec<u64>>());
        for event in &history.events[..5] {
            assert_eq!(event.authority, Authority::Authorised, "{event:?}");
        }
        for event in &history.events[5..] {
            assert!(
                matches!(&event.authority, Authority::Unauthorised { reason }
                    if reason.contains("in the custody of C, not of B")),
                "{event:?}"
            );
        }
        assert_eq!(
            history.omitted,
            [Omitted {
                reporter: Some(org("B")),
                events: 23
            }]
        );
        // B's pallet is never gathered: B spoke for nothing it packed.
        let (asked, _) = gathered(&flooded_with_packings(), ITEM, 12);
        assert_eq!(asked, [[ITEM], [CASE]]);
    }

    /// A refused change can weigh in the judgement of others; a verifier judges the events kept
    /// alone. When the events a share of refused changes keeps judge otherwise than everything
    /// gathered did, every state change is kept instead: here the marks say B's first packing
    /// was authorised, which the events kept (without it or with it) do not bear out, so the
    /// share is not taken, and with every state change kept the history is too long.
    #[test]
    fn a_share_the_events_kept_judge_otherwise_is_not_taken() {
        let log = flooded_with_packings();
        let memory = log.memory();
        let pool: BTreeMap<LeafIndex, SourceEvent<usize>> = memory
            .at(&(0..35).map(LeafIndex::from).collect::<Vec<_>>())
            .map(|event| (event.leaf, event.clone()))
            .collect();
        let found: BTreeMap<LeafIndex, Vec<Why>> =
            pool.keys().map(|leaf| (*leaf, vec![Why::Direct])).collect();
        let parties = parties();
        let mut judged = assess_relations(pool.values(), &parties, |_| false);
        let (kept, trimmed) = trim(&found, &pool, &judged, Some(&parties), 12).unwrap();
        assert_eq!(kept.len(), 12);
        assert_eq!(trimmed.len(), 23);
        // Judged as claimed (no registry), nothing is judged again: the share stands.
        judged
            .marks
            .insert(LeafIndex::from(5), Authority::Authorised);
        assert!(trim(&found, &pool, &judged, None, 12).is_some());
        assert!(trim(&found, &pool, &judged, Some(&parties), 12).is_none());
        assert_eq!(
            trim(&found, &pool, &judged, Some(&parties), 35).map(|(kept, _)| kept.len()),
            Some(35)
        );
    }

    /// B, one of the parties A's shipment names, floods the case with receipts after C's receipt
    /// took it (each refused): `early` dated t31 on, then one dated t50. C's receipt dated t40,
    /// logged after them all (an honest dock read uploaded late), is refused by the first of
    /// B's dated after t40 (the t50 one, or with more than nine early ones an early one).
    fn flooded_by_a_named_party(early: u32) -> Log {
        let mut log = a_journey().by("C", step(object(100, &[CASE]), "receiving")); // 4
        for minute in 0..early {
            log = log.by("B", step(object(31 + minute, &[CASE]), "receiving"));
        }
        log.by("B", step(object(50, &[CASE]), "receiving"))
            .by("C", step(object(40, &[CASE]), "receiving"))
    }

    /// A history that keeps B's first receipts and leaves its last out would judge C's late read
    /// otherwise. Before, every state change was then kept, and the flood made A's item's history
    /// too long (`422`) for a named party that sent as few as seven receipts. Now the read is left
    /// out with the receipt its mark rests on, and the history is answered, judged alone as a
    /// verifier judges it. (A flood larger than a round may read is shared out while the history
    /// is gathered: the receipt that would refuse the read may then not be read at all, and the
    /// read is judged on what was.)
    #[test]
    fn a_named_party_s_flood_of_refused_receipts_leaves_the_history_answerable() {
        for early in 0..=20 {
            let log = flooded_by_a_named_party(early);
            let history = answered(&log, 12);
            let total = 7 + early as usize;
            let omitted: usize = history.omitted.iter().map(|o| o.events).sum();
            assert_eq!(
                history.events.len() + omitted,
                total,
                "{early}: {history:?}"
            );
            assert!(history.events.len() <= 12, "{early}");
            // C's first receipt takes the case, whatever else is left out.
            let first = history.events.iter().find(|e| e.event.leaf.get() == 4);
            assert_eq!(
                first.map(|e| &e.authority),
                Some(&Authority::Authorised),
                "{early}"
            );
            judged_alone_alike(&log, 12);
        }
        // The case the report found: 6 early receipts, 13 events for 12 places. B's last receipt
        // is left out by B's share, and C's late read with it.
        let history = answered(&flooded_by_a_named_party(6), 12);
        let mut shown: Vec<u64> = history.events.iter().map(|e| e.event.leaf.get()).collect();
        shown.sort_unstable();
        assert_eq!(shown, (0..11).collect::<Vec<u64>>());
        assert_eq!(history.omitted, [omitted("B", 1), omitted("C", 1)]);
        // With room for everything, the read is shown refused by the receipt it rests on.
        let history = answered(&flooded_by_a_named_party(6), 13);
        let late = history.events.iter().find(|e| e.event.leaf.get() == 12);
        assert_eq!(
            late.map(|e| &e.authority),
            Some(&Authority::Unauthorised {
                reason: format!(
                    "B received {CASE} in entry 11, logged before this receipt and dated after it"
                )
            })
        );
    }

    /// A ships its case to B, and B's receipt is logged; then A reports a transfer of the case to
    /// C dated before the shipping. B's receipt was in the log first, so the transfer is A
    /// changing the past of what it handed over, and takes nothing. Before, judged by event time
    /// alone, the transfer came first: A's shipping and B's receipt were refused, and C had the
    /// case.
    #[test]
    fn a_transfer_backdated_before_a_received_shipment_takes_nothing() {
        let to_c = [("possessing_party", C_DOCK)];
        let log = a_journey()
            .by("B", step(object(50, &[CASE]), "receiving")) // 4
            .by("A", transaction(25, &[CASE], &to_c)) // 5
            .by("B", aggregation(60, "DELETE", CASE, &[])); // 6: B holds the case
        let history = log.history(ITEM);
        for leaf in [3, 4, 6] {
            assert_eq!(kind(&history, leaf), "authorised", "{leaf}: {history:?}");
        }
        assert_eq!(
            kind(&history, 5),
            format!(
                "unauthorised: A handed {CASE} over (entry 4) before this change of its past was \
                 reported"
            )
        );
        judged_alone_alike(&log, 1000);
        // Logged before B's receipt, the same transfer came before any receipt in the log: the
        // shipping it contradicts was received by nobody yet, and the transfer stands.
        let log = a_journey()
            .by("A", transaction(25, &[CASE], &to_c)) // 4
            .by("B", step(object(50, &[CASE]), "receiving")); // 5
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 4), "authorised");
        assert!(
            kind(&history, 5).starts_with("unauthorised: "),
            "{history:?}"
        );
    }

    /// More registered parties' state changes name an item than a round may read (or no place
    /// is left in the history for a round's events): some party would have none of its changes
    /// read, so nothing could show it changed nothing, and the history is refused, not answered
    /// without it. Observations weigh in no judgement: any number of parties' may go unread, and
    /// so may entries of no registered organisation.
    #[test]
    fn a_round_that_would_read_nothing_of_a_party_is_refused() {
        let parties = parties();
        let others = ["C", "D", "E", "F", "G", "H", "I", "J", "K"];
        let mut log = a_journey();
        for (n, name) in others.iter().enumerate() {
            log = log.by(name, step(object(40 + n as u32, &[ITEM]), "shipping"));
        }
        // 2 of A's changes and one each of 9 others' name the item: 10 parties, 8 places.
        let (asked, loaded, history) = gathered_loading(&log, ITEM, 8);
        assert_eq!(asked, [[ITEM]]);
        assert!(loaded.is_empty(), "loaded {loaded:?}");
        assert_eq!(
            history.unwrap_err(),
            "the state changes naming the item, its containers and the items related to it come \
             from more parties than a history of 8 events can read one of each: ask about a \
             narrower item"
        );
        // The same parties' observations are shared out: 6 places for 9 parties' one each, then
        // the history's 4 left beside A's 4 changes (its case's events come in a second round).
        let mut observed = a_journey();
        for (n, name) in others.iter().enumerate() {
            observed = observed.by(name, object(40 + n as u32, &[ITEM]));
        }
        let answered = answered(&observed, 8);
        assert_eq!(answered.events.len(), 8);
        assert_eq!(
            answered.omitted,
            ["G", "H", "I", "J", "K"].map(|name| omitted(name, 1))
        );
        // Reporters the registry does not know are shared out, not a reason to refuse.
        let anonymous: Vec<SourceEvent<()>> = (0..9)
            .map(|n| SourceEvent::of(LeafIndex::from(4 + n), object(40 + n, &[ITEM]), None, None))
            .collect();
        let known: Vec<SourceEvent<()>> = a_journey()
            .memory()
            .at(&(0..4).map(LeafIndex::from).collect::<Vec<_>>())
            .map(|event| {
                SourceEvent::of(
                    event.leaf,
                    event.event.clone(),
                    event.reporter.clone(),
                    None,
                )
            })
            .collect();
        let answered = in_memory(
            &Memory::new(known.into_iter().chain(anonymous)),
            vec![ITEM.to_owned()],
            Judge::Parties(&parties),
            8,
        )
        .unwrap();
        assert_eq!(
            answered.omitted,
            [Omitted {
                reporter: None,
                events: 5
            }]
        );
    }

    /// A verifier has only the bundle: the history and its context events. Judged over those
    /// alone (with the bundle's length as its limit, as `tagtrail verify` does), every mark and
    /// reason must come out as the service judged them over everything it gathered, or an honest
    /// bundle would fail; so must a history a flood had to be shared out of.
    #[test]
    fn the_history_and_its_context_judge_alone_as_everything_gathered_did() {
        let pallet = "urn:epc:id:sscc:0812345.0000000001";
        let returnable = Log::new()
            .by("A", commission(0, &[ITEM]))
            // A returnable pallet of Z's (a prefix nobody registered: Z brought it into being),
            // shipped to A long before the item is packed into it.
            .by("Z", commission(1, &[pallet]))
            .by("Z", step(object(2, &[pallet]), "shipping"))
            .by("A", step(object(3, &[pallet]), "receiving"))
            .by("A", aggregation(10, "ADD", pallet, &[ITEM]))
            .by("A", step(object(20, &[pallet]), "shipping"))
            .by("C", step(object(30, &[pallet]), "receiving"))
            .by("C", aggregation(40, "DELETE", pallet, &[]));
        let transformed = a_journey()
            .by("C", step(object(40, &[CASE]), "receiving"))
            .by("B", aggregation(15, "ADD", B_PALLET, &[ITEM]));
        for (log, limit) in [
            (returnable, 1000),
            (transformed, 1000),
            (flooded(), 12),
            (flooded_with_packings(), 12),
            (flooded_by_a_named_party(6), 12),
            (flooded_by_a_named_party(9), 12),
        ] {
            judged_alone_alike(&log, limit);
        }
    }

    /// B, named by A's shipping, logs a transfer of the case on to C and its destruction, then
    /// its receipt, dated before both. Judged in time order B received the case and handed it
    /// on, so its own earlier-logged transfer refuses the receipt and the destruction: B never
    /// held the case. A history that kept the destruction and left the receipt out would judge
    /// the destruction for another reason (A holds the case) than the whole log does. Before,
    /// every state change was then kept, and B (with no custody, ever) made A's item's history
    /// too long (`422`) at a limit of six, and at any limit by flooding.
    fn handed_on_by_a_party_that_never_held_it() -> Log {
        a_journey()
            .by(
                "B",
                transaction(36, &[CASE], &[("possessing_party", C_DOCK)]),
            ) // 4
            .by("B", step(object(34, &[CASE]), "destroying")) // 5
            .by("B", step(object(32, &[CASE]), "receiving")) // 6
    }

    #[test]
    fn a_named_party_that_never_held_the_case_leaves_its_history_answerable() {
        let log = handed_on_by_a_party_that_never_held_it();
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 3), "authorised");
        for leaf in [5, 6] {
            assert!(
                kind(&history, leaf).starts_with("unauthorised: B handed"),
                "{history:?}"
            );
        }
        for limit in 4..=8 {
            let answer = answered(&log, limit);
            assert!(answer.events.len() <= limit, "{answer:?}");
            let counted: usize = answer.omitted.iter().map(|o| o.events).sum();
            assert_eq!(answer.events.len() + counted, 7, "{answer:?}");
            judged_alone_alike(&log, limit);
        }
        let mut flooded = handed_on_by_a_party_that_never_held_it();
        for minute in 0..20 {
            flooded = flooded.by("B", step(object(40 + minute, &[CASE]), "destroying"));
        }
        for limit in 6..=28 {
            judged_alone_alike(&flooded, limit);
        }
    }

    /// B receives A's case (backdated, logged last), hands it to C, and then, in `stages`
    /// windows, receives it again, hands it to C, takes it back from C and hands it on: each
    /// receipt is refused, in the whole log, by the hand-over at the end of its window. Left
    /// without the receipt logged last, the first window's receipt takes A's shipment and is
    /// refused by the hand-over right after it instead; left without that one, the next
    /// window's receipt, and so on. Before the first pass's hand-overs recorded what gave their
    /// giver custody, each round of `trim` freed one window, and five windows made A's item's
    /// history too long (`422`) at any limit, B padding it with refused changes.
    fn handed_back_and_forth(stages: u32, padding: u32) -> Log {
        let to_b = &[("possessing_party", B_PARTY)][..];
        let to_c = &[("possessing_party", C_DOCK)][..];
        let mut log = a_journey().by("B", transaction(32, &[CASE], to_c)); // 4
        for stage in 0..stages {
            let minute = 33 + 4 * stage;
            log = log
                .by("B", transaction(minute + 1, &[CASE], to_c))
                .by("B", transaction(minute + 3, &[CASE], to_c))
                .by("C", transaction(minute + 2, &[CASE], to_b))
                .by("B", step(object(minute, &[CASE]), "receiving"));
        }
        for minute in 0..padding {
            log = log.by("B", step(object(100 + minute, &[ITEM]), "destroying"));
        }
        log.by("B", step(object(31, &[CASE]), "receiving"))
    }

    #[test]
    fn a_cascade_of_refused_receipts_leaves_the_history_answerable() {
        for padding in [0, 10] {
            let log = handed_back_and_forth(5, padding);
            let history = log.history(ITEM);
            // Neither B nor C ever holds the case.
            for (leaf, kind, _) in &history {
                if *leaf > 3 {
                    assert_ne!(kind, "authorised", "{history:?}");
                }
            }
            let limit = 25 + padding as usize;
            let answer = answered(&log, limit);
            assert!(answer.events.len() <= limit, "{answer:?}");
            judged_alone_alike(&log, limit);
        }
    }

    /// B's destruction of A's case, dated before A packed the item into it (gathered outside the
    /// history: context), is refused by B's own transfer, which hands anything over only
    /// because of B's receipt logged last. A history that left that receipt out judged the
    /// destruction otherwise, and, the context being then always shown, kept every state
    /// change: with B's flood, `422` at every limit.
    fn context_refused_by_a_hand_over_on_a_receipt_left_out(flood: u32) -> Log {
        let mut log = a_journey()
            .by(
                "B",
                transaction(36, &[CASE], &[("possessing_party", C_DOCK)]),
            ) // 4
            .by("B", step(object(5, &[CASE]), "destroying")); // 5: context
        for minute in 0..flood {
            log = log.by("B", step(object(40 + minute, &[ITEM]), "destroying"));
        }
        log.by("B", step(object(32, &[CASE]), "receiving")) // last
    }

    #[test]
    fn a_context_change_refused_by_a_hand_over_leaves_the_history_answerable() {
        for flood in [0, 20] {
            let log = context_refused_by_a_hand_over_on_a_receipt_left_out(flood);
            let told = log.told(ITEM);
            assert!(
                told.context.iter().any(|e| e.event.leaf.get() == 5
                    && matches!(&e.authority,
                        Authority::Unauthorised { reason } if reason.starts_with("B handed"))),
                "{told:?}"
            );
            // The context change is shown with what it rests on, or left out with it: from six
            // on, every limit answers.
            for limit in 6..=(flood as usize + 5) {
                let answer = answered(&log, limit);
                assert!(answer.events.len() <= limit, "{answer:?}");
                judged_alone_alike(&log, limit);
            }
        }
    }

    /// As above, but B's transfer of the case hands it over only after `trips` round trips of
    /// A's item between B and C (each transfer refused: neither ever holds it). The context
    /// change rests on those transfers too; kept with it, they made the history too long at
    /// every limit below their number, whatever share B and C were owed.
    fn context_refused_after_round_trips(trips: u32) -> Log {
        let to_b = &[("possessing_party", B_PARTY)][..];
        let to_c = &[("possessing_party", C_DOCK)][..];
        let mut log = a_journey()
            .by("B", transaction(32 + 2 * trips, &[CASE], to_c)) // 4
            .by("B", step(object(5, &[CASE]), "destroying")); // 5: context
        for trip in 0..trips {
            log = log
                .by("B", transaction(32 + 2 * trip, &[ITEM], to_c))
                .by("C", transaction(33 + 2 * trip, &[ITEM], to_b));
        }
        log.by("B", step(object(31, &[CASE]), "receiving")) // last
    }

    #[test]
    fn a_context_change_resting_on_a_party_s_round_trips_leaves_the_history_answerable() {
        for trips in [1, 4, 10] {
            let log = context_refused_after_round_trips(trips);
            let history = log.history(ITEM);
            for (leaf, kind, _) in &history {
                if *leaf > 3 {
                    assert_ne!(kind, "authorised", "{history:?}");
                }
            }
            let told = log.told(ITEM);
            let all = told.events.len() + told.context.len();
            for limit in 4..=history.len() {
                let answer = answered(&log, limit);
                assert!(answer.events.len() <= limit, "{answer:?}");
                // What is shown and what is counted left out add up, the context included.
                let counted: usize = answer.omitted.iter().map(|o| o.events).sum();
                let shown = answer.events.len() + answer.context.len();
                assert_eq!(shown + counted, all, "{answer:?}");
                judged_alone_alike(&log, limit);
            }
        }
    }

    /// Judges `log`'s history of A's item (at most `limit` events), then the history and its
    /// context alone, as a verifier does, and asserts every mark and reason come out the same.
    fn judged_alone_alike(log: &Log, limit: usize) {
        let parties = parties();
        let judge = Judge::Parties(&parties);
        let all = in_memory(&log.memory(), vec![ITEM.to_owned()], judge, limit).unwrap();
        assert!(
            all.events
                .iter()
                .any(|e| e.authority == Authority::Authorised),
            "{all:?}"
        );
        let kept: Vec<SourceEvent<()>> = all
            .events
            .iter()
            .chain(&all.context)
            .map(|e| e.event.clone().carrying(()))
            .collect();
        let shown = kept.len();
        let alone = in_memory(&Memory::new(kept), vec![ITEM.to_owned()], judge, shown).unwrap();
        assert!(alone.omitted.is_empty(), "{alone:?}");
        let summary = |history: &History<usize>| -> Vec<(u64, Authority, Vec<Why>)> {
            history
                .events
                .iter()
                .chain(&history.context)
                .map(|e| (e.event.leaf.get(), e.authority.clone(), e.why.clone()))
                .collect()
        };
        assert_eq!(summary(&alone), summary(&all));
    }

    /// The limits in `limits` at which A's item's history is refused (`Err`), with the error.
    fn refused_at(log: &Log, limits: impl IntoIterator<Item = usize>) -> Vec<(usize, String)> {
        refused_at_for(log, ITEM, limits)
    }

    /// As [`refused_at`], for the history of `item`.
    fn refused_at_for(
        log: &Log,
        item: &str,
        limits: impl IntoIterator<Item = usize>,
    ) -> Vec<(usize, String)> {
        let parties = parties();
        limits
            .into_iter()
            .filter_map(|limit| {
                let source = log.memory();
                let future = history(
                    &source,
                    vec![item.to_owned()],
                    names_of,
                    Judge::Parties(&parties),
                    limit,
                );
                match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(Ok(_)) => None,
                    Poll::Ready(Err(error)) => Some((limit, error.to_string())),
                    Poll::Pending => unreachable!(),
                }
            })
            .collect()
    }

    /// A ships the case to B or C naming the item too; C receives the case (scanning the case
    /// only). Leaves 0 to 4, all authorised.
    fn shipped_naming_the_item() -> Log {
        Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", aggregation(10, "ADD", CASE, &[ITEM])) // 1
            .by("A", step(object(20, &[CASE]), "receiving")) // 2
            .by("A", shipping_to(30, &[CASE, ITEM], TO_B_OR_C)) // 3
            .by("C", step(object(31, &[CASE]), "receiving")) // 4
    }

    /// B (named, beaten to the case by C) claims a receipt of the item and packs it
    /// into its own pallet. Judged on the item's events alone (the gathering's first round) the
    /// receipt takes A's shipment, so the packing is spoken for and B's pallet is gathered;
    /// judged with the case's events the receipt and packing are refused. The pallet once stayed
    /// gathered, B's own (authorised) events of its pallet made B a party with authority, and
    /// every change B wrote had to be read: `422` at most limits. What the final judgement no
    /// longer reaches is now left out of the gathering.
    fn b_s_pallet_gathered_by_a_refused_receipt(flood: u32) -> Log {
        let mut log = shipped_naming_the_item()
            .by("B", step(object(32, &[ITEM]), "receiving")) // 5
            .by("B", aggregation(33, "ADD", B_PALLET, &[ITEM])); // 6
        for minute in 0..flood {
            log = log.by("B", commission(200 + minute, &[B_PALLET]));
        }
        log
    }

    #[test]
    fn a_container_packed_into_on_a_refused_receipt_leaves_the_history_answerable() {
        // Without B's events the history is answerable from 5 on.
        assert!(refused_at(&shipped_naming_the_item(), 5..=60).is_empty());
        let log = b_s_pallet_gathered_by_a_refused_receipt(100);
        let history = log.history(ITEM);
        assert!(kind(&history, 5).starts_with("unauthorised"), "{history:?}");
        assert!(kind(&history, 6).starts_with("unauthorised"), "{history:?}");
        let refused = refused_at(&log, 8..=60);
        assert!(refused.is_empty(), "refused at {refused:?}");
    }

    /// A chain of first-pass hand-overs by B and C (each refused in the end: B's
    /// receipt, logged last, is refused by its own transfer) ends with C, which then honestly
    /// receives, ships the case back to A, and A receives it. The first pass finds C's
    /// hand-over to A resting on what gave C custody in it: the whole chain, which C's and A's
    /// authorised changes once dragged into the events a history must keep (`422` below its
    /// length). Only what cites a first-pass hand-over rests on its provenance now.
    fn honest_return_resting_on_a_chain(trips: u32) -> Log {
        let to_b = &[("possessing_party", B_PARTY)][..];
        let to_c = &[("possessing_party", C_DOCK)][..];
        let mut log = a_journey();
        for trip in 0..trips {
            log = log
                .by("B", transaction(32 + 2 * trip / 10, &[ITEM], to_c))
                .by("C", transaction(32 + (2 * trip + 1) / 10, &[CASE], to_b));
        }
        log.by("B", transaction(38, &[ITEM], to_c))
            .by("B", step(object(31, &[CASE]), "receiving")) // refused in the end
            .by("C", step(object(40, &[CASE]), "receiving"))
            .by("C", shipping_to(50, &[CASE], &[("owning_party", A_PARTY)]))
            .by("A", step(object(60, &[CASE]), "receiving"))
    }

    #[test]
    fn an_honest_return_does_not_rest_on_a_chain_of_refused_hand_overs() {
        let honest = a_journey()
            .by("C", step(object(40, &[CASE]), "receiving"))
            .by("C", shipping_to(50, &[CASE], &[("owning_party", A_PARTY)]))
            .by("A", step(object(60, &[CASE]), "receiving"));
        assert!(refused_at(&honest, 7..=60).is_empty());
        let log = honest_return_resting_on_a_chain(20);
        let history = log.history(ITEM);
        let authorised: Vec<u64> = history
            .iter()
            .filter(|(_, kind, _)| kind == "authorised")
            .map(|(leaf, _, _)| *leaf)
            .collect();
        assert_eq!(authorised.len(), 7, "{history:?}");
        let refused = refused_at(&log, 10..=60);
        assert!(refused.is_empty(), "refused at {refused:?}");
    }

    /// C receives A's shipment first in the log, naming the case or the item in it; B, also
    /// named, then logs a receipt of the other, backdated before C's, and destroys what it
    /// names. The first receipt logged settles the hand-over whichever identifier of the
    /// shipment either names: B's receipt was once checked against receipts of what it named
    /// only, and took the case.
    #[test]
    fn a_backdated_receipt_of_the_case_or_its_item_does_not_beat_a_receipt_of_the_other() {
        for (c_received, b_received) in [(CASE, ITEM), (ITEM, CASE)] {
            let log = a_journey()
                .by("C", step(object(40, &[c_received]), "receiving")) // 4
                .by("B", step(object(32, &[b_received]), "receiving")) // 5
                .by("B", step(object(33, &[b_received]), "destroying")); // 6
            let history = log.history(ITEM);
            assert_eq!(kind(&history, 4), "authorised", "{history:?}");
            assert!(
                kind(&history, 5).starts_with(&format!("unauthorised: C received {c_received}")),
                "{history:?}"
            );
            assert!(kind(&history, 6).starts_with("unauthorised"), "{history:?}");
        }
    }

    /// B receives A's case, unpacks it and hands the item on: that hand-over rests on what gave
    /// B the case (A's shipment and B's receipt), as the case's own would.
    #[test]
    fn an_unpacked_item_s_hand_over_rests_on_what_gave_its_container_s_holder_custody() {
        let log = a_journey()
            .by("B", step(object(31, &[CASE]), "receiving")) // 4
            .by("B", aggregation(32, "DELETE", CASE, &[ITEM])) // 5
            .by(
                "B",
                transaction(33, &[ITEM], &[("possessing_party", C_DOCK)]),
            ); // 6
        let history = log.history(ITEM);
        for leaf in [4, 5, 6] {
            assert_eq!(kind(&history, leaf), "authorised", "{history:?}");
        }
        let memory = log.memory();
        let judgement = authority::assess_relations(memory.events.iter(), &parties(), |_| false);
        let leaf = |n: u64| LeafIndex::new(n).unwrap();
        assert_eq!(
            judgement.provenance.get(&leaf(6)),
            Some(&vec![leaf(3), leaf(4)]),
            "{:?}",
            judgement.provenance
        );
    }

    /// Asserts that A's item's history is answered at every limit of `limits`, and judged alike
    /// alone at each.
    fn answered_alike_at(log: &Log, limits: std::ops::RangeInclusive<usize>, what: &str) {
        let refused = refused_at(log, limits.clone());
        assert!(refused.is_empty(), "{what}: refused at {refused:?}");
        let unalike = alone_unalike_at(log, limits);
        assert!(
            unalike.is_empty(),
            "{what}: judged alone otherwise at {unalike:?}"
        );
    }

    /// The limits at which `judged_alone_alike` panics, among those answered.
    fn alone_unalike_at(log: &Log, limits: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let answerable: Vec<usize> = {
            let limits: Vec<usize> = limits.into_iter().collect();
            let refused: Vec<usize> = refused_at(log, limits.clone())
                .into_iter()
                .map(|(limit, _)| limit)
                .collect();
            limits
                .into_iter()
                .filter(|l| !refused.contains(l))
                .collect()
        };
        answerable
            .into_iter()
            .filter(|limit| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    judged_alone_alike(log, *limit)
                }))
                .is_err()
            })
            .collect()
    }

    /// As [`b_s_pallet_gathered_by_a_refused_receipt`], with a small pallet, B first padding the case with refused
    /// destructions (logged before its receipt and packing, so that a share of B's events
    /// keeps them and leaves the packing out). The packing that led to B's pallet is trimmed;
    /// the pallet's events stay as context, which a verifier, never led to the pallet, does not
    /// gather.
    fn b_s_pallet_left_without_its_packing(padding: u32) -> Log {
        let mut log = shipped_naming_the_item()
            .by("B", commission(200, &[B_PALLET])) // 5
            .by("B", commission(201, &[B_PALLET])) // 6
            .by("B", commission(202, &[B_PALLET])); // 7
        for minute in 0..padding {
            log = log.by("B", step(object(100 + minute, &[CASE]), "destroying"));
        }
        log.by("B", step(object(32, &[ITEM]), "receiving"))
            .by("B", aggregation(33, "ADD", B_PALLET, &[ITEM]))
    }

    #[test]
    fn a_container_only_a_refused_packing_led_to_is_not_shown() {
        let log = b_s_pallet_left_without_its_packing(40);
        // 47 events in the history (A's 4, C's 1, B's 42); 3 in its context.
        assert!(refused_at(&log, 13..=60).is_empty());
        let unalike = alone_unalike_at(&log, 13..=60);
        assert!(unalike.is_empty(), "judged alone otherwise at {unalike:?}");
    }

    /// B received A's case and ships it on to C; C's receipt of the case, or of the item in it,
    /// is logged first; B then logs an unpacking of the case dated before C's receipt. Receipts
    /// of what a shipment carries were once not read for a change in transit: receiving the
    /// item inside, C lost its hand-over to B's backdated unpacking.
    #[test]
    fn a_backdated_unpacking_in_transit_does_not_undo_a_receipt_of_the_item_inside() {
        let to_c = [("location", C_DOCK)];
        for c_received in [CASE, ITEM] {
            let log = a_journey()
                .by("B", step(object(40, &[CASE]), "receiving")) // 4
                .by("B", shipping_to(50, &[CASE], &to_c)) // 5
                .by("C", step(object(60, &[c_received]), "receiving")) // 6
                .by("B", aggregation(55, "DELETE", CASE, &[])); // 7: backdated, logged last
            let history = log.history(ITEM);
            assert_eq!(kind(&history, 6), "authorised", "{c_received}: {history:?}");
            assert!(
                kind(&history, 7).starts_with("unauthorised"),
                "{c_received}: {history:?}"
            );
        }
    }

    /// As `a_transfer_backdated_before_a_received_shipment_takes_nothing`, C's receipt (logged
    /// first) naming the case or the item in it: receipts of what the case carried were once
    /// not read, so A's backdated transfer to B took the case.
    #[test]
    fn a_backdated_transfer_does_not_beat_a_receipt_of_the_item_inside() {
        for c_received in [CASE, ITEM] {
            let log = a_journey()
                .by("C", step(object(40, &[c_received]), "receiving")) // 4
                .by(
                    "A",
                    transaction(25, &[CASE], &[("possessing_party", B_PARTY)]),
                ) // 5
                .by("B", aggregation(60, "DELETE", CASE, &[])); // 6
            let history = log.history(ITEM);
            assert_eq!(kind(&history, 4), "authorised", "{c_received}: {history:?}");
            assert!(
                kind(&history, 5).starts_with("unauthorised"),
                "{c_received}: {history:?}"
            );
        }
    }

    /// A packs its item into a case it has already shipped (it still holds the case); C's
    /// receipt of the item is logged first, and B's receipt of the case, backdated before it,
    /// comes after. What the case carries was once fixed when it was shipped, so B's receipt
    /// took the shipment and C's was refused.
    #[test]
    fn a_receipt_of_what_was_packed_in_transit_settles_the_shipment() {
        const OTHER: &str = "urn:epc:id:sgtin:0614141.107346.2018";
        let log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", aggregation(10, "ADD", CASE, &[OTHER])) // 1
            .by("A", shipping_to(30, &[CASE], TO_B_OR_C)) // 2
            .by("A", aggregation(32, "ADD", CASE, &[ITEM])) // 3: in transit
            .by("C", step(object(40, &[ITEM]), "receiving")) // 4: logged first
            .by("B", step(object(35, &[CASE]), "receiving")); // 5: backdated
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 3), "authorised", "{history:?}");
        assert_eq!(kind(&history, 4), "authorised", "{history:?}");
        assert!(
            kind(&history, 5).starts_with(&format!("unauthorised: C received {ITEM}")),
            "{history:?}"
        );
    }

    /// The first receipt logged settles a shipment when it names the item two levels down, and
    /// when the shipper's delegate takes the item back; withdrawn, it settles nothing.
    #[test]
    fn a_first_receipt_settles_a_shipment_at_any_depth_or_by_a_delegate_until_withdrawn() {
        const A_PALLET: &str = "urn:epc:id:sscc:0614141.0000000009";
        let nested = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", aggregation(10, "ADD", CASE, &[ITEM])) // 1
            .by("A", aggregation(15, "ADD", A_PALLET, &[CASE])) // 2
            .by("A", shipping_to(30, &[A_PALLET], TO_B_OR_C)) // 3
            .by("C", step(object(40, &[ITEM]), "receiving")) // 4
            .by("B", step(object(35, &[A_PALLET]), "receiving")); // 5
        let history = nested.history(ITEM);
        assert_eq!(kind(&history, 4), "authorised", "{history:?}");
        assert!(
            kind(&history, 5).starts_with("unauthorised: C received"),
            "{history:?}"
        );
        judged_alone_alike(&nested, 1000);
        // The shipper's delegate taking the item back first settles the shipment too.
        let delegate = a_journey()
            .by("L", step(object(40, &[ITEM]), "receiving")) // 4
            .by("B", step(object(35, &[CASE]), "receiving")); // 5
        let history = delegate.history(ITEM);
        assert_eq!(kind(&history, 4), "authorised", "{history:?}");
        assert!(kind(&history, 5).starts_with("unauthorised"), "{history:?}");
        // C withdraws its receipt of the item: B's backdated receipt of the case stands.
        let withdrawn = a_journey()
            .by("C", step(object(40, &[ITEM]), "receiving")) // 4
            .by("C", declared(step(object(40, &[ITEM]), "receiving"), 41)) // 5
            .by("B", step(object(35, &[CASE]), "receiving")); // 6
        let history = withdrawn.history(ITEM);
        assert_eq!(kind(&history, 6), "authorised", "{history:?}");
        judged_alone_alike(&withdrawn, 1000);
    }

    /// B holds A's item (shipped to it) and packs it into its pallet at t33, logged after the
    /// pallet's hand-over to C (shipped t25, received t40): the packing is refused by the
    /// pallet's own events. Those name only the pallet, which the refused packing no longer
    /// reaches, so the gathering leaves them out; judged without them the packing is authorised
    /// and reaches the pallet again. The pallet's events were once read again, over and over,
    /// and the gathering ended with the pallet followed though not reached, so C (authorised
    /// over the pallet only) counted as a custodian and its flood of refused changes, left out
    /// unread, made the history `CustodianLeftOut`. They are now put back, once.
    fn b_s_late_packing_into_a_pallet_handed_to_c(flood: u32) -> Log {
        let mut log = Log::new()
            .by("A", commission(0, &[ITEM])) // 0
            .by("A", shipping_to(10, &[ITEM], &[("owning_party", B_PARTY)])) // 1
            .by("B", step(object(20, &[ITEM]), "receiving")) // 2
            .by("B", shipping_to(25, &[B_PALLET], &[("location", C_DOCK)])) // 3
            .by("C", step(object(40, &[B_PALLET]), "receiving")); // 4
        for minute in 0..flood {
            log = log.by("C", step(object(100 + minute, &[ITEM]), "destroying"));
        }
        log.by("B", aggregation(33, "ADD", B_PALLET, &[ITEM])) // last: logged late
    }

    #[test]
    fn what_a_pruning_reaches_again_is_put_back_and_read_once() {
        let log = b_s_late_packing_into_a_pallet_handed_to_c(0);
        let history = log.history(ITEM);
        assert!(kind(&history, 5).starts_with("unauthorised"), "{history:?}");
        // Each event given once (`gathered_loading` checks it), the pallet asked about once.
        let (asked, _, _) = gathered_loading(&log, ITEM, 1000);
        let pallet_asked = asked
            .iter()
            .filter(|names| names.iter().any(|n| n == B_PALLET))
            .count();
        let refused = refused_at(&log, 4..=30);
        assert!(refused.is_empty(), "honest refused at {refused:?}");
        let unalike = alone_unalike_at(&log, 4..=30);
        assert!(unalike.is_empty(), "unalike at {unalike:?}");
        let flooded = b_s_late_packing_into_a_pallet_handed_to_c(30);
        let refused = refused_at(&flooded, 8..=40);
        assert!(refused.is_empty(), "refused at {refused:?}");
        assert!(
            pallet_asked <= 1,
            "the pallet was asked about {pallet_asked} times"
        );
    }

    /// B's receipt X of A's case (dated 35, logged late) takes it in the first pass only (B's
    /// own transfer Y, logged before X, refuses X in the second), so the first pass finds no
    /// hand-over in A's later transfer T to C (A holds nothing then by that pass), and A's
    /// receipt E, dated before T and logged after it, is authorised; without B's events E is
    /// refused (A changed the past of what it had handed over). A history that left X out
    /// (B's share of a flood) judged E otherwise, an authorised change that must stay, and
    /// kept every state change: `422` at limits where A's own history fits. The first pass's
    /// hand-overs left out are now put back once such a mark differs.
    fn a_s_late_return_with_b_s_receipt(flood: u32) -> Log {
        let to_c = [("possessing_party", C_DOCK)];
        let mut log = a_journey().by("B", transaction(36, &[CASE], &to_c)); // 4: Y
        for minute in 0..flood {
            log = log.by("B", step(object(60 + minute, &[ITEM]), "destroying"));
        }
        log.by("B", step(object(35, &[CASE]), "receiving")) // X
            .by("A", transaction(50, &[CASE], &to_c)) // T
            .by("A", step(object(45, &[CASE]), "receiving")) // E: logged after T
    }

    /// As [`a_s_late_return_with_b_s_receipt`], but B and C pad it with `trips` round trips of
    /// the item (before X) and of the case (after X) between them, each a hand-over in the first
    /// pass (X gave B the case there) and refused in the end. Putting back every first-pass
    /// hand-over left out put back all of them: more than any limit, so every state change was
    /// kept instead, and A's item's history was `422` at every limit its round trips exceed.
    fn a_s_late_return_with_round_trips(item_trips: u32, trips: u32) -> Log {
        let to_b = [("possessing_party", B_PARTY)];
        let to_c = [("possessing_party", C_DOCK)];
        let mut log = a_journey().by("B", transaction(36, &[CASE], &to_c)); // 4: Y
        for _ in 0..item_trips {
            log = log
                .by("C", transaction(37, &[ITEM], &to_b))
                .by("B", transaction(37, &[ITEM], &to_c));
        }
        log = log.by("B", step(object(35, &[CASE]), "receiving")); // X
        for _ in 0..trips {
            log = log
                .by("C", transaction(37, &[CASE], &to_b))
                .by("B", transaction(37, &[CASE], &to_c));
        }
        log.by("A", transaction(50, &[CASE], &to_c)) // T
            .by("A", step(object(45, &[CASE]), "receiving")) // E: logged after T
    }

    #[test]
    fn round_trips_on_two_identifiers_do_not_defeat_the_put_back() {
        // Round trips of the item and the case, or of the case only: E is A's own authorised
        // receipt at every limit the history is answered at (all but the lowest, where C's
        // round trips, a custodian's changes, do not fit), and it is judged alike alone.
        for (item_trips, trips) in [(1, 1), (20, 20), (0, 1), (0, 20)] {
            let log = a_s_late_return_with_round_trips(item_trips, trips);
            let e = LeafIndex::new(u64::from(7 + 2 * item_trips + 2 * trips)).unwrap();
            let history = log.history(ITEM);
            assert_eq!(kind(&history, e.get()), "authorised", "{history:?}");
            let what = format!("{item_trips} and {trips} trips");
            let from = answered_from(&log, 8..=60, &what);
            answered_alike_at(&log, from..=60, &what);
            for limit in from..=60 {
                let answer = answered(&log, limit);
                let shown = answer.events.iter().find(|shown| shown.event.leaf == e);
                assert_eq!(
                    shown.map(|shown| &shown.authority),
                    Some(&Authority::Authorised),
                    "{what}, limit {limit}: {answer:?}"
                );
            }
        }
    }

    /// As [`a_s_late_return_with_b_s_receipt`], B's transfer Y refusing its receipt X, but B
    /// and C hand the case back and forth `trips` times between X and Y (logged after X), so
    /// that the provenance of Y's hand-over in the first pass is the whole chain. Putting X back
    /// (its hand-over is from A, who had authority) once put the chain back with it, though Y
    /// hands the case over without it too (the chain ends where it began): `422` at most
    /// limits below the chain's length (found by a reviewer).
    fn a_s_late_return_with_a_chain(padding: u32, trips: u32) -> Log {
        let to_b = [("possessing_party", B_PARTY)];
        let to_c = [("possessing_party", C_DOCK)];
        let y = 36 + 2 * trips;
        let mut log = a_journey().by("B", transaction(y, &[CASE], &to_c)); // 4: Y
        for minute in 0..padding {
            log = log.by("B", step(object(500 + minute, &[ITEM]), "destroying"));
        }
        log = log.by("B", step(object(35, &[CASE]), "receiving")); // X
        for trip in 0..trips {
            log = log
                .by("B", transaction(36 + 2 * trip, &[CASE], &to_c))
                .by("C", transaction(37 + 2 * trip, &[CASE], &to_b));
        }
        log.by("A", transaction(y + 14, &[CASE], &to_c)) // T
            .by("A", step(object(y + 9, &[CASE]), "receiving")) // E: logged after T
    }

    #[test]
    fn a_chain_of_round_trips_a_put_back_cites_stays_out() {
        for (padding, trips) in [(0, 1), (0, 20), (20, 20), (40, 30)] {
            let log = a_s_late_return_with_a_chain(padding, trips);
            let e = (log.0.len() - 1) as u64;
            let history = log.history(ITEM);
            assert_eq!(kind(&history, e), "authorised", "{history:?}");
            let what = format!("padding {padding}, trips {trips}");
            let from = answered_from(&log, 8..=80, &what);
            answered_alike_at(&log, from..=80, &what);
        }
    }

    /// The first limit of `limits` from which A's item's history is answered, after asserting
    /// that the limits refused are the lowest ones, below 16 (the round trips here are at most
    /// 40 changes), each only because a custodian's changes do not fit. C, to whom A's transfer
    /// T hands the case, is a custodian whose custody no event of its own shows: every state
    /// change of its is read (its round trips, refused, among them), as for any custodian,
    /// which the smallest limits cannot hold.
    fn answered_from(log: &Log, limits: std::ops::RangeInclusive<usize>, what: &str) -> usize {
        let refused = refused_at(log, limits.clone());
        assert!(
            refused
                .iter()
                .zip(*limits.start()..)
                .all(|((limit, error), lowest)| {
                    *limit == lowest
                        && *limit < 16
                        && error.starts_with("more state changes of a party with authority")
                }),
            "{what}: {refused:?}"
        );
        *limits.start() + refused.len()
    }

    /// C's receipt names the case and the item in one entry; B's backdated receipt of the case
    /// is refused citing it, and the reason names what B's receipt names: the case.
    #[test]
    fn a_refusal_names_the_identifier_received_that_the_refused_receipt_names() {
        let log = a_journey()
            .by("C", step(object(40, &[CASE, ITEM]), "receiving")) // 4
            .by("B", step(object(35, &[CASE]), "receiving")); // 5
        let history = log.history(ITEM);
        assert_eq!(
            kind(&history, 5),
            format!(
                "unauthorised: C received {CASE} in entry 4, logged before this receipt and \
                 dated after it"
            ),
            "{history:?}"
        );
    }

    /// B transfers A's case and its item on (both refused), receives the item, is shipped the
    /// case by C, transfers it again, and unpacks it twice; A transfers the case and receives it
    /// back (logged last). A's own history is 6 events. At limit 9, B's share took its transfer
    /// of the case, which a receipt of B's that must stay then cited in place of the transfer of
    /// the item: a required mark read otherwise, and putting hand-overs back only made more
    /// differ (`422` at limits 9 to 12, where 8 answered; found by a reviewer's fuzzing).
    fn a_share_cited_in_place_of_one_left_out() -> Log {
        let to_c = [("possessing_party", C_DOCK)];
        a_journey()
            .by("B", transaction(52, &[CASE], &to_c)) // 4
            .by("B", transaction(52, &[ITEM], &to_c)) // 5
            .by("B", step(object(41, &[ITEM]), "receiving")) // 6
            .by("C", shipping_to(33, &[CASE], &[("owning_party", B_PARTY)])) // 7
            .by("B", transaction(43, &[CASE], &to_c)) // 8
            .by("A", transaction(50, &[CASE], &to_c)) // 9: T
            .by("B", aggregation(39, "DELETE", CASE, &[])) // 10
            .by("B", aggregation(41, "DELETE", CASE, &[])) // 11
            .by("A", step(object(45, &[CASE]), "receiving")) // 12: E
    }

    #[test]
    fn what_must_stay_is_tried_with_no_share_before_anything_is_put_back() {
        answered_alike_at(&a_share_cited_in_place_of_one_left_out(), 8..=20, "shared");
    }

    /// The log a differential test found (seed 325): A ships its case to B or C (leaf 3); B
    /// unpacks it (refused), transfers it to C, ships it to itself and then receives it (leaf
    /// 8, dated 47); C transfers it, receives the item (leaf 9, dated 38), transfers the case
    /// twice more and destroys the item. B's receipt, logged first and dated after C's, refuses
    /// C's (and what rests on it): as the full log judges it, the item is still in transit. A
    /// share of B's events kept its first three and left the receipt out; C's receipt then took
    /// the item and C's destruction was authorised, a verdict the full log does not give.
    /// `variant` 1 has C receive the case instead, 2 has B receive the item, 3 logs C's receipt
    /// before B's (C's then settles the shipment).
    fn seed_325(variant: u8) -> Log {
        let to_c = [("possessing_party", C_DOCK)];
        let b_receives = step(
            object(47, &[if variant == 2 { ITEM } else { CASE }]),
            "receiving",
        );
        let c_receives = step(
            object(38, &[if variant == 1 { CASE } else { ITEM }]),
            "receiving",
        );
        let mut log = a_journey()
            .by("B", aggregation(31, "DELETE", CASE, &[])) // 4
            .by("B", transaction(54, &[CASE], &to_c)) // 5
            .by("B", shipping_to(44, &[CASE], &[("owning_party", B_PARTY)])) // 6
            .by("C", transaction(51, &[CASE], &to_c)); // 7
        log = match variant {
            3 => log.by("C", c_receives).by("B", b_receives),
            _ => log.by("B", b_receives).by("C", c_receives), // 8, 9
        };
        log.by("C", transaction(48, &[CASE], &to_c)) // 10
            .by("C", transaction(57, &[CASE], &to_c)) // 11
            .by("C", step(object(42, &[ITEM]), "destroying")) // 12
    }

    /// The limits of `limits` at which an event A's item's history shows (or its context) is
    /// marked otherwise than in the history of the whole log, or one the whole log's history
    /// shows authorised is missing, each with the first such event.
    fn marked_otherwise_than_the_whole_log(
        log: &Log,
        limits: std::ops::RangeInclusive<usize>,
    ) -> Vec<(usize, u64)> {
        marked_otherwise_for(log, ITEM, limits)
    }

    /// As [`marked_otherwise_than_the_whole_log`], for the history of `item`.
    fn marked_otherwise_for(
        log: &Log,
        item: &str,
        limits: std::ops::RangeInclusive<usize>,
    ) -> Vec<(usize, u64)> {
        let answered = |log: &Log, limit: usize| answered_for(log, item, limit);
        let whole = answered(log, log.0.len());
        let mark = |history: &History<usize>, leaf: LeafIndex| {
            history
                .events
                .iter()
                .chain(&history.context)
                .find(|shown| shown.event.leaf == leaf)
                .map(|shown| shown.authority.clone())
        };
        limits
            .filter_map(|limit| {
                let history = answered(log, limit);
                let otherwise =
                    history.events.iter().chain(&history.context).find(|shown| {
                        mark(&whole, shown.event.leaf) != Some(shown.authority.clone())
                    });
                let missing = || {
                    whole.events.iter().chain(&whole.context).find(|shown| {
                        shown.authority == Authority::Authorised
                            && mark(&history, shown.event.leaf).is_none()
                    })
                };
                otherwise
                    .or_else(missing)
                    .map(|shown| (limit, shown.event.leaf.get()))
            })
            .collect()
    }

    /// Every variant of the seed-325 log is answered at limits 4 to 20, judged alike alone, and
    /// every event it shows is marked as the whole log marks it: B's receipt, left out by B's
    /// share, is read as one that could settle A's shipment (B is one of the parties it names).
    #[test]
    fn a_receipt_a_share_left_out_that_settles_a_shipment_is_read() {
        for variant in 0..3 {
            let log = seed_325(variant);
            let what = format!("variant {variant}");
            answered_alike_at(&log, 4..=20, &what);
            let otherwise = marked_otherwise_than_the_whole_log(&log, 4..=20);
            assert!(
                otherwise.is_empty(),
                "{what}: marked otherwise at {otherwise:?}"
            );
        }
        // Logged before B's, C's receipt settles the shipment: C's five changes are authorised,
        // and with A's more than a history of 8 keeps (every authorised change stays).
        let log = seed_325(3);
        let refused = refused_at(&log, 4..=8);
        assert_eq!(refused.len(), 5, "{refused:?}");
        assert!(
            refused
                .iter()
                .all(|(_, error)| error.starts_with("the history has more than")),
            "{refused:?}"
        );
        answered_alike_at(&log, 9..=20, "variant 3");
        let otherwise = marked_otherwise_than_the_whole_log(&log, 9..=20);
        assert!(
            otherwise.is_empty(),
            "variant 3: marked otherwise at {otherwise:?}"
        );
        // As the whole log has it: C's receipt and destruction are refused, citing B's receipt.
        let history = seed_325(0).history(ITEM);
        assert!(
            kind(&history, 9).contains("in entry 8, logged before this receipt"),
            "{history:?}"
        );
        assert!(
            kind(&history, 12).starts_with("unauthorised"),
            "{history:?}"
        );
        // With C's receipt logged first, C has the item and may destroy it.
        let history = seed_325(3).history(ITEM);
        assert_eq!(kind(&history, 8), "authorised", "{history:?}");
        assert_eq!(kind(&history, 12), "authorised", "{history:?}");
    }

    /// The finding of a review of the first fix, which read only the receipts logged before the
    /// event that ended a shipment's transit, and ended it at a transfer: A ships its case to B
    /// or C (leaf 3, dated 30), then transfers it to C (leaf 8, dated 50), while B's receipt
    /// (leaf 8, dated 40) is logged late. By event time B's receipt takes the case before the
    /// transfer, so in the whole log A's transfer is a transaction of a party holding nothing it
    /// names (an observation) and C's destruction is refused. B's first three changes, refused,
    /// fill B's share at low limits and leave the receipt out.
    fn transferred_while_b_s_receipt_was_late() -> Log {
        let to_c = [("possessing_party", C_DOCK)];
        a_journey()
            .by("B", aggregation(31, "DELETE", CASE, &[])) // 4
            .by("B", transaction(34, &[CASE], &to_c)) // 5
            .by("B", step(object(33, &[ITEM]), "destroying")) // 6
            .by("A", transaction(50, &[CASE], &to_c)) // 7
            .by("B", step(object(40, &[CASE]), "receiving")) // 8
            .by("C", step(object(55, &[ITEM]), "destroying")) // 9
    }

    /// The second finding: a transfer backdated before a shipment and a named party's receipt
    /// of it, both logged first, is refused whatever either is judged, so the receipt must be
    /// read even where nothing made its shipment one a history follows the transit of. A ships
    /// to B or C (leaf 3, dated 30), B receives the case (leaf 7, dated 40) after three refused
    /// changes, then A transfers the case to C dated 25 (leaf 8) and C destroys the item.
    fn transfer_backdated_before_b_s_receipt() -> Log {
        let to_c = [("possessing_party", C_DOCK)];
        a_journey()
            .by("B", aggregation(31, "DELETE", CASE, &[])) // 4
            .by("B", step(object(32, &[ITEM]), "destroying")) // 5
            .by("B", step(object(33, &[CASE]), "destroying")) // 6
            .by("B", step(object(40, &[CASE]), "receiving")) // 7
            .by("A", transaction(25, &[CASE], &to_c)) // 8
            .by("C", step(object(60, &[ITEM]), "destroying")) // 9
    }

    /// Both review findings: at every limit from 5 (the whole log authorises five changes, every
    /// one of which a history keeps) the history is answered, judged alike alone,
    /// and shows every event as the whole log marks it, with every change the whole log
    /// authorises; B's receipt is read although B's share leaves it out.
    #[test]
    fn a_late_receipt_a_share_left_out_still_refuses_a_transfer_or_a_destruction() {
        let history = transferred_while_b_s_receipt_was_late().history(ITEM);
        assert_eq!(kind(&history, 8), "authorised", "{history:?}");
        assert_eq!(kind(&history, 7), "observation", "{history:?}");
        assert!(kind(&history, 9).starts_with("unauthorised"), "{history:?}");
        let history = transfer_backdated_before_b_s_receipt().history(ITEM);
        assert_eq!(kind(&history, 7), "authorised", "{history:?}");
        assert!(
            kind(&history, 8).contains(
                "A handed urn:epc:id:sscc:0614141.1234567890 over (entry 7) before this change \
                 of its past was reported"
            ),
            "{history:?}"
        );
        assert!(kind(&history, 9).starts_with("unauthorised"), "{history:?}");
        for (log, what) in [
            (transferred_while_b_s_receipt_was_late(), "transferred"),
            (transfer_backdated_before_b_s_receipt(), "backdated"),
        ] {
            assert_eq!(refused_at(&log, 4..=4).len(), 1, "{what}");
            answered_alike_at(&log, 5..=20, what);
            let otherwise = marked_otherwise_than_the_whole_log(&log, 5..=20);
            assert!(
                otherwise.is_empty(),
                "{what}: marked otherwise at {otherwise:?}"
            );
        }
    }

    /// A delegate ships, and its principal's receipt (a return) is what settles the shipment:
    /// L, A's logistics partner, commissions A's item, packs it and ships the case to B or C
    /// (leaf 5); A receives the case back (leaf 6, dated 50), logged before B's receipt (leaf 7,
    /// dated 40), which it therefore refuses, and B's destruction with it. A's three late
    /// destructions (refused) fill A's share at low limits and leave its receipt out: a receipt
    /// of a party the shipper acts for is read like one of a party it names.
    #[test]
    fn a_principal_s_return_a_share_left_out_is_read_when_its_delegate_shipped() {
        let mut log = Log::new()
            .by("L", commission(0, &[ITEM])) // 0
            .by("L", aggregation(10, "ADD", CASE, &[ITEM])); // 1
        for minute in 11..=13 {
            log = log.late("A", step(object(minute, &[CASE]), "destroying"), 31); // 2, 3, 4
        }
        let log = log
            .by("L", shipping_to(30, &[CASE], TO_B_OR_C)) // 5
            .by("A", step(object(50, &[CASE]), "receiving")) // 6
            .by("B", step(object(40, &[CASE]), "receiving")) // 7
            .by("B", step(object(60, &[ITEM]), "destroying")); // 8
        let history = log.history(ITEM);
        assert_eq!(kind(&history, 6), "authorised", "{history:?}");
        assert!(kind(&history, 7).starts_with("unauthorised"), "{history:?}");
        assert!(kind(&history, 8).starts_with("unauthorised"), "{history:?}");
        let answerable: Vec<usize> = (4..=20)
            .filter(|limit| refused_at(&log, [*limit]).is_empty())
            .collect();
        assert!(answerable.contains(&5), "{answerable:?}");
        let otherwise: Vec<(usize, u64)> = answerable
            .iter()
            .flat_map(|limit| marked_otherwise_than_the_whole_log(&log, *limit..=*limit))
            .collect();
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// What a history knows of a candidate from its lookup tag alone (the service's path:
    /// `Candidate::tagged`) is what it would know from the loaded event (`Candidate::naming`):
    /// its reporter, whether it changes state, whether it is a receipt and whether it claims
    /// what it was found by.
    #[test]
    fn a_tagged_candidate_is_the_loaded_event_s() {
        let parties = parties();
        let site = crate::ids::SiteId::parse("c-dc").unwrap();
        let attestation = crate::record::Attestation::Unattested { site };
        let leaf = LeafIndex::new(7).unwrap();
        // Each event, and whether it claims the item and the case.
        for (event, claims) in [
            (step(object(40, &[CASE]), "receiving"), [false, false]),
            (step(object(40, &[CASE]), "shipping"), [false, false]),
            (object(40, &[CASE]), [false, false]),
            (commission(40, &[ITEM]), [true, false]),
            (aggregation(40, "ADD", CASE, &[ITEM]), [false, true]),
            (aggregation(40, "DELETE", CASE, &[ITEM]), [false, false]),
        ] {
            let loaded = SourceEvent::of(leaf, event.clone(), Some(org("C")), None);
            // Found by the item or by the case: the packing claims the case alone.
            for (id, claims) in [ITEM, CASE].into_iter().zip(claims) {
                let tag = Tag::naming(&attestation, &event, id);
                let candidate = Candidate::naming(&loaded, &[id.to_owned()]);
                assert_eq!(Candidate::tagged(leaf, tag, &parties), candidate);
                assert_eq!(candidate.claim, claims, "{id} in {event:?}");
            }
        }
    }

    /// A candidate left out again in a later round, found by another identifier, claims what
    /// either finding says: a packing found by the item (a claim of another identifier) and by
    /// the case it packs into (a claim of it) is both, in whichever order; the flags of one the
    /// left-out budget passed over are joined too, and it stays passed over.
    #[test]
    fn a_candidate_found_again_claims_what_either_finding_says() {
        let leaf = |n: u64| LeafIndex::new(n).unwrap();
        let candidate = |n: u64, claim: bool, other_claim: bool| Candidate {
            leaf: leaf(n),
            reporter: Some(org("C")),
            changes: true,
            receipt: n == 9,
            claim,
            other_claim,
        };
        let mut left_out = BTreeMap::new();
        let mut passed_over = vec![candidate(9, false, false)];
        found_again(
            &mut left_out,
            &mut passed_over,
            vec![candidate(1, false, true), candidate(2, true, false)],
        );
        found_again(
            &mut left_out,
            &mut passed_over,
            vec![
                candidate(1, true, false),
                candidate(2, false, true),
                candidate(9, true, false),
                candidate(3, false, false),
            ],
        );
        let flags: Vec<(u64, bool, bool)> = left_out
            .values()
            .map(|c| (c.leaf.get(), c.claim, c.other_claim))
            .collect();
        assert_eq!(flags, [(1, true, true), (2, true, true), (3, false, false)]);
        assert_eq!(
            passed_over,
            [Candidate {
                claim: true,
                ..candidate(9, false, false)
            }]
        );
    }

    /// Claims of other identifiers only (packings of the item into containers of their own:
    /// four parties' 40, and two of B's) come after a party's own claims of the item in its part
    /// and its share, however early they were logged: B's and A's claims of the item are read,
    /// and the flooders' packings shared out in the rest; once the gathering has found
    /// everything, B's passed-over claim is read before its own packings.
    #[test]
    fn claims_of_other_identifiers_come_after_a_party_s_own_claims_of_the_item() {
        let leaf = |n: u64| LeafIndex::new(n).unwrap();
        let candidate = |n: u64, by: &str, claim: bool| Candidate {
            leaf: leaf(n),
            reporter: Some(org(by)),
            changes: true,
            receipt: false,
            claim,
            other_claim: !claim,
        };
        let flooders = ["A", "C", "L", "R"];
        let mut packings: Vec<Candidate> = (0..40)
            .map(|n| candidate(n, flooders[n as usize % 4], false))
            .collect();
        packings.extend([candidate(40, "B", false), candidate(41, "B", false)]);
        let claims = vec![candidate(100, "B", true), candidate(101, "A", true)];
        let mut receipts = Receipts::default();
        let (read, passed) = receipts.choose(
            Mattering {
                first: claims,
                then: packings.clone(),
            },
            8,
        );
        // Each party's part (2) takes its claim first; five parties of 2 in 8 places: one
        // each, and the three whose earliest candidate is earliest (A, C, L) one more.
        let expected: Vec<LeafIndex> = [0, 1, 2, 3, 5, 6, 100, 101].map(leaf).to_vec();
        assert_eq!(read, expected);
        assert_eq!(passed.len(), 44 - 8);
        assert!(
            passed.iter().all(|candidate| !candidate.claim),
            "{passed:?}"
        );

        // Passed over, B's claim is read before its own packings, logged earlier.
        let mut receipts = Receipts {
            passed_over: packings.clone(),
            ..Receipts::default()
        };
        receipts.passed_over.push(candidate(100, "B", true));
        let read = receipts.leftover(
            Mattering {
                first: vec![candidate(100, "B", true)],
                then: packings,
            },
            10,
        );
        // Half of the budget of 10: one of each party's, B's claim rather than its packings.
        assert_eq!(read, [0, 1, 2, 3, 100].map(leaf));
        assert_eq!(receipts.passed_over.len(), 43 - 5);
    }

    /// The left-out receipts' own budget: no party takes more than a quarter of it, however
    /// early its receipts are found, so that the receipts of parties found in a later pass still
    /// have room; what is passed over stays passed over, and what is read counts against this
    /// budget, not the gathering's.
    #[test]
    fn the_receipts_budget_keeps_room_for_parties_found_later() {
        let leaf = |n: u64| LeafIndex::new(n).unwrap();
        let receipt = |n: u64, by: &str| Candidate {
            leaf: leaf(n),
            reporter: Some(org(by)),
            changes: true,
            receipt: true,
            claim: false,
            other_claim: false,
        };
        let mut receipts = Receipts::default();
        let flood: Vec<Candidate> = (0..100).map(|n| receipt(n, "B")).collect();
        let (read, passed) = receipts.choose(flood, 20);
        assert_eq!(read, (0..5).map(leaf).collect::<Vec<_>>());
        assert_eq!(passed.len(), 95);
        // Found in a later pass: B's beyond its part are passed over, C's and L's read.
        let later = vec![
            receipt(200, "B"),
            receipt(201, "C"),
            receipt(202, "L"),
            receipt(203, "C"),
        ];
        let (read, passed) = receipts.choose(later, 20);
        assert_eq!(read, [leaf(201), leaf(202), leaf(203)]);
        assert_eq!(passed, [receipt(200, "B")]);
        // More than the 12 places left, each party within its part: shared out by party.
        let found: Vec<Candidate> = ["C", "L", "R", "A"]
            .into_iter()
            .enumerate()
            .flat_map(|(n, by)| (0..10).map(move |k| receipt(300 + 100 * n as u64 + k, by)))
            .collect();
        let (read, passed) = receipts.choose(found, 20);
        assert_eq!(read.len(), 12, "{read:?}");
        assert_eq!(passed.len(), 40 - 12);
        assert_eq!(receipts.read.len(), 20);
        for (n, by) in ["C", "L", "R", "A"].into_iter().enumerate() {
            let first = 300 + 100 * n as u64;
            let of = read
                .iter()
                .filter(|leaf| (first..first + 100).contains(&leaf.get()));
            assert!(of.count() >= 2, "{by}: {read:?}");
        }
        // Spent: nothing more is read, whoever reports it.
        let (read, passed) = receipts.choose(vec![receipt(900, "R")], 20);
        assert!(read.is_empty());
        assert_eq!(passed, [receipt(900, "R")]);
        // The receipts read are not counted against the gathering's budget.
        let pool: BTreeMap<LeafIndex, SourceEvent<()>> = [0, 1, 201, 900]
            .into_iter()
            .map(|n| {
                (
                    leaf(n),
                    SourceEvent::of(leaf(n), object(1, &[ITEM]), None, None),
                )
            })
            .collect();
        assert_eq!(receipts.counted(&pool), 1);
    }

    /// An item under no registered company prefix.
    const UNREGISTERED: &str = "urn:epc:id:sgtin:0999999.000001.1";

    /// B ships an unregistered item twice (refused: nobody holds it yet), then commissions it
    /// (the first claim, leaf 2); A commissions it later, dated earlier, and ships it.
    fn claimed_first_by_b() -> Log {
        Log::new()
            .by("B", shipping_to(5, &[UNREGISTERED], TO_B_OR_C)) // 0
            .by("B", shipping_to(6, &[UNREGISTERED], TO_B_OR_C)) // 1
            .by("B", commission(10, &[UNREGISTERED])) // 2
            .by("A", commission(1, &[UNREGISTERED])) // 3
            .by("A", shipping_to(20, &[UNREGISTERED], TO_B_OR_C)) // 4
    }

    /// Under no registered prefix the first claim in log order brings an identifier into being
    /// whoever is judged to hold anything, and a share can leave it out: in
    /// [`claimed_first_by_b`] the whole log refuses A's claim. At limit 3, B's share keeps its
    /// two shippings and leaves out its claim; judged without it, A's claim, the only one read,
    /// would be authorised and B without authority (so its left-out changes unread). The claim
    /// tag makes the history read B's claim, logged before the first claim it holds.
    #[test]
    fn a_first_claim_a_share_left_out_still_decides_who_brought_an_item_into_being() {
        let log = claimed_first_by_b();
        let history = log.history(UNREGISTERED);
        assert!(kind(&history, 3).contains("brought into being by B first (entry 2)"));
        assert_eq!(kind(&history, 2), "authorised");
        for limit in 3..=6 {
            let shared = answered_for(&log, UNREGISTERED, limit);
            let a_s = shared.events.iter().find(|e| e.event.leaf.get() == 3);
            assert_ne!(
                a_s.map(|e| &e.authority),
                Some(&Authority::Authorised),
                "limit {limit}: {shared:?}"
            );
        }
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 3..=6);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
        // Packing into a container nobody holds is a claim of the container too: B's packing of
        // its own unregistered case, left out by B's share, decides who brought the case into
        // being, and A's later commissioning of it, dated earlier, is refused.
        let case = "urn:epc:id:sscc:0999999.0000000001";
        let log = Log::new()
            .by("B", commission(2, &[UNREGISTERED])) // 0
            .by("B", object(3, &[case])) // 1
            .by("B", object(4, &[case])) // 2
            .by("B", aggregation(10, "ADD", case, &[UNREGISTERED])) // 3
            .by("A", commission(1, &[case])) // 4
            .by("A", shipping_to(20, &[case], TO_B_OR_C)); // 5
        let whole = log.history(case);
        assert!(
            kind(&whole, 4).contains("brought into being by B first (entry 3)"),
            "{whole:?}"
        );
        let otherwise = marked_otherwise_for(&log, case, 3..=7);
        assert!(
            otherwise.is_empty(),
            "the case: marked otherwise at {otherwise:?}"
        );
    }

    /// Claims logged after the first claim a history holds of each identifier it reaches cannot
    /// be first: a party flooding later claims of the item (all refused) has them left out and
    /// never read, and the history loads no more than its limit.
    #[test]
    fn claims_after_the_first_are_not_read() {
        let mut log = Log::new().by("A", commission(1, &[UNREGISTERED]));
        for minute in 0..40 {
            log = log.by("B", commission(2 + minute % 9, &[UNREGISTERED]));
        }
        let whole = log.history(UNREGISTERED);
        assert_eq!(kind(&whole, 0), "authorised");
        for limit in [4, 6, 10, 20] {
            let (_, loaded, answer) = gathered_loading(&log, UNREGISTERED, limit);
            assert!(answer.is_ok(), "limit {limit}: {answer:?}");
            assert!(loaded.len() <= limit, "limit {limit}: {loaded:?}");
            // Asked as the service asks, by every name of the item (its EPC URI and its Digital
            // Link): the events spell it one way, and the same holds.
            let names = names_of(UNREGISTERED);
            assert!(names.len() > 1, "{names:?}");
            let (_, loaded, answer) = gathered_loading_names(&log, names, limit);
            assert!(answer.is_ok(), "limit {limit}: {answer:?}");
            assert!(
                loaded.len() <= limit,
                "by every name, limit {limit}: {loaded:?}"
            );
        }
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 4..=20);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// A claim withdrawn by its reporter's error declaration brings nothing into being, so the
    /// first claim after it decides, and a share must read that one even though the pool holds
    /// the withdrawn claim logged before it. A commissions the item and declares that erroneous;
    /// B ships it twice (refused), then commissions it; C commissions it later, dated earliest.
    #[test]
    fn a_withdrawn_claim_does_not_hide_the_first_that_stands() {
        let log = Log::new()
            .by("A", commission(2, &[UNREGISTERED])) // 0
            .by("A", declared(commission(2, &[UNREGISTERED]), 3)) // 1
            .by("B", shipping_to(5, &[UNREGISTERED], TO_B_OR_C)) // 2
            .by("B", shipping_to(6, &[UNREGISTERED], TO_B_OR_C)) // 3
            .by("B", commission(10, &[UNREGISTERED])) // 4
            .by("C", commission(1, &[UNREGISTERED])); // 5
        let whole = log.history(UNREGISTERED);
        assert!(
            kind(&whole, 5).contains("brought into being by B first (entry 4)"),
            "{whole:?}"
        );
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 4..=8);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// A's packings of the item into its case (claims of the case) come before its
    /// commissioning of the item (the item's only claim) in log order. While the tag said only
    /// that an entry claims something, A's quarter of the left-out budget (one, at limit 4) went
    /// to a packing, and the room left read the commissioning; now the pairs under the item say
    /// the packings claim another identifier, and the commissioning is read first. Either way,
    /// A's packings and shipping are authorised, as in the whole log, and five authorised
    /// changes are more than a history of 4 holds: refused, not judged without one.
    #[test]
    fn a_party_s_claims_of_a_case_do_not_hide_its_claim_of_the_item() {
        let case = "urn:epc:id:sscc:0999999.0000000007";
        let log = Log::new()
            .by("A", aggregation(5, "ADD", case, &[UNREGISTERED])) // 0
            .by("A", aggregation(6, "ADD", case, &[UNREGISTERED])) // 1
            .by("A", aggregation(7, "ADD", case, &[UNREGISTERED])) // 2
            .by("A", shipping_to(20, &[UNREGISTERED], TO_B_OR_C)) // 3
            .by("B", shipping_to(21, &[UNREGISTERED], TO_B_OR_C)) // 4
            .by("B", shipping_to(22, &[UNREGISTERED], TO_B_OR_C)) // 5
            .by("A", commission(1, &[UNREGISTERED])); // 6
        let whole = log.history(UNREGISTERED);
        for leaf in [0, 1, 2, 3, 6] {
            assert_eq!(kind(&whole, leaf), "authorised", "{leaf}: {whole:?}");
        }
        // Five authorised changes: a history of 4 is refused, not judged without one.
        let refused: Vec<usize> = refused_at_for(&log, UNREGISTERED, 4..=8)
            .into_iter()
            .map(|(limit, _)| limit)
            .collect();
        assert_eq!(refused, [4]);
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 5..=8);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// As above, but A's packings are dated before its commissioning (refused in the whole log:
    /// nobody held the item then), so the history holds A's two authorised changes at any limit.
    /// At limits 5 and 6 A's quarter of the left-out budget (two) goes to packings, and the room
    /// left reads the commissioning: every history of 4 to 10 is answered as the whole log
    /// judges it (before the room left was read, 5 and 6 were not). At limit 4 the whole budget
    /// went to A's own packings, logged before its commissioning, and B's shipping was refused
    /// for nobody holding the item rather than for A holding it, while the tag said that an
    /// entry claims something, not what. A pair's tag now says that a packing claims another
    /// identifier than the item, which the history reads only while an identifier it did not ask
    /// about could be claimed first: the case's first claim is A's first packing, in the
    /// history, so A's other packings cannot be first of anything that matters.
    #[test]
    fn the_room_left_reads_a_claim_a_party_s_share_passed_over() {
        let case = "urn:epc:id:sscc:0999999.0000000007";
        let mut log = Log::new();
        for minute in 1..7 {
            log = log.by("A", aggregation(minute, "ADD", case, &[UNREGISTERED])); // 0-5
        }
        let log = log
            .by("A", shipping_to(40, &[UNREGISTERED], TO_B_OR_C)) // 6
            .by("B", shipping_to(41, &[UNREGISTERED], TO_B_OR_C)) // 7
            .by("B", shipping_to(42, &[UNREGISTERED], TO_B_OR_C)) // 8
            .by("A", commission(30, &[UNREGISTERED])); // 9
        let whole = log.history(UNREGISTERED);
        assert_eq!(kind(&whole, 9), "authorised", "{whole:?}");
        assert_eq!(kind(&whole, 6), "authorised", "{whole:?}");
        assert!(kind(&whole, 0).starts_with("unauthorised: nobody has custody"));
        assert!(kind(&whole, 7).contains("in the custody of A, not of B"));
        assert_eq!(refused_at_for(&log, UNREGISTERED, 4..=10), []);
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 4..=10);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
        // At limit 4, of A's left-out packings none is read: A's commissioning takes the room.
        let (_, loaded, answer) = gathered_loading(&log, UNREGISTERED, 4);
        assert!(answer.is_ok(), "{answer:?}");
        assert!(loaded.contains(&9), "{loaded:?}");
    }

    /// A state change can name an identifier the history does not follow, and is judged on who
    /// brought that one into being too: A commissions its item and, later, the item with C's
    /// case, which C packed the item into first (refused, but the case's first claim). C's
    /// packing, left out by C's share, is still read: A's second commissioning is refused as in
    /// the whole log.
    #[test]
    fn a_claim_of_an_identifier_the_history_does_not_follow_is_read_too() {
        let case = "urn:epc:id:sscc:0999999.0000000007";
        let log = Log::new()
            .by("A", commission(1, &[UNREGISTERED])) // 0
            .by("C", shipping_to(2, &[UNREGISTERED], TO_B_OR_C)) // 1
            .by("C", shipping_to(3, &[UNREGISTERED], TO_B_OR_C)) // 2
            .by("C", aggregation(4, "ADD", case, &[UNREGISTERED])) // 3
            .by("A", commission(5, &[UNREGISTERED, case])); // 4
        let whole = log.history(UNREGISTERED);
        assert!(
            kind(&whole, 4).contains(&format!("{case} was brought into being by C first")),
            "{whole:?}"
        );
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 3..=6);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// C floods the unregistered item with packings into its own cases, logged before anything
    /// else (claims of its cases, refused: the item is B's by then), so that they come before B's
    /// claim, which B's share leaves out at small limits. While parties may still be found, the
    /// flood is read no further than C's share of the left-out budget: B's claim is still read,
    /// A's refused, and the history answered. Only the room left after that goes to C's flood.
    #[test]
    fn a_flood_of_claims_takes_no_more_than_its_share() {
        let mut log = Log::new();
        for n in 0..40 {
            let case = format!("urn:epc:id:sscc:0999999.{:010}", 100 + n);
            log = log.by("C", aggregation(30, "ADD", &case, &[UNREGISTERED]));
        }
        for (event, by, _) in claimed_first_by_b().0 {
            log = log.by(by, event);
        }
        let (b, a) = (42, 43);
        let whole = log.history(UNREGISTERED);
        assert_eq!(kind(&whole, b), "authorised", "{whole:?}");
        assert!(kind(&whole, a).contains("brought into being by B first"));
        for limit in [6, 8, 12, 20] {
            let shared = answered_for(&log, UNREGISTERED, limit);
            let a_s = shared.events.iter().find(|e| e.event.leaf.get() == a);
            assert_ne!(
                a_s.map(|e| &e.authority),
                Some(&Authority::Authorised),
                "limit {limit}: {shared:?}"
            );
            let (_, loaded, answer) = gathered_loading(&log, UNREGISTERED, limit);
            assert!(answer.is_ok(), "limit {limit}: {answer:?}");
            assert!(loaded.contains(&b), "limit {limit}: {loaded:?}");
            // The first round's limit, then the left-out budget (a history's limit).
            assert!(loaded.len() <= 2 * limit, "limit {limit}: {loaded:?}");
        }
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 6..=20);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// Four parties (A, C, L and R) pack the unregistered item into 120 fresh cases of their
    /// own, interleaved (leaves 0 to 119).
    fn packed_into_fresh_cases() -> Log {
        let flooders = ["A", "C", "L", "R"];
        (0..120).fold(Log::new(), |log, n| {
            let case = format!("urn:epc:id:sscc:0999999.{:010}", 100 + n);
            let by = flooders[n % flooders.len()];
            log.by(by, aggregation(30, "ADD", &case, &[UNREGISTERED]))
        })
    }

    /// Four parties (A, C, L and R) flood the unregistered item with packings into fresh cases
    /// of their own, interleaved and logged before anything else: claims of the cases, not of
    /// the item, as each pair under the item says. Four flooders could spend the whole left-out
    /// budget while its tag said only that an entry claims something; now none of the flood is
    /// read beyond what the first round's share took (each case's first claim is that packing,
    /// in the history, so no left-out packing can be first of anything it names), and B's claim
    /// of the item, left out by B's share, is read at every limit.
    #[test]
    fn a_flood_of_claims_of_other_identifiers_spends_nothing() {
        let mut log = packed_into_fresh_cases();
        for (event, by, _) in claimed_first_by_b().0 {
            log = log.by(by, event);
        }
        let (b, a) = (122, 123);
        let whole = log.history(UNREGISTERED);
        assert_eq!(kind(&whole, b), "authorised", "{whole:?}");
        assert!(kind(&whole, a).contains("brought into being by B first"));
        for limit in [6, 8, 12, 20] {
            let (_, loaded, answer) = gathered_loading(&log, UNREGISTERED, limit);
            assert!(answer.is_ok(), "limit {limit}: {answer:?}");
            assert!(loaded.contains(&b), "limit {limit}: {loaded:?}");
            // The first round's share of the flood, and nothing more of it.
            let flood = loaded.iter().filter(|&&leaf| leaf < 120).count();
            assert!(flood <= limit, "limit {limit}: {loaded:?}");
        }
        let otherwise = marked_otherwise_for(&log, UNREGISTERED, 6..=20);
        assert!(otherwise.is_empty(), "marked otherwise at {otherwise:?}");
    }

    /// As [`a_flood_of_claims_of_other_identifiers_spends_nothing`], and B, whose claim of the
    /// item is first, also packs the item into `packs` fresh cases of its own before claiming
    /// it (logged first, as a late upload would), or lists a sibling item nobody claimed in its
    /// first shipping (`sibling`). A gathered packing late in the log, or a gathered state
    /// change naming an unclaimed identifier the history did not ask about, makes every
    /// left-out packing one that could be first, so the flood is read again within the shares:
    /// B's claim is still read at every limit, the flood read no further than a round and the
    /// left-out budget, and every event marked as the whole log marks it. (This held before
    /// B's packings came after its claim in its part too: B's run is short, and a short run is
    /// kept whole by the share. With many more of B's own packings, B's authorised changes are
    /// more than a history of 6 holds, and the history is refused as too long.)
    #[test]
    fn a_flood_of_claims_of_other_identifiers_read_again_leaves_the_first_claim_read() {
        const SIBLING: &str = "urn:epc:id:sgtin:0999999.000001.2";
        for (packs, sibling) in [(0, true), (2, false), (3, true)] {
            let what = format!("packs {packs}, sibling {sibling}");
            let mut log = packed_into_fresh_cases();
            for n in 0..packs {
                let case = format!("urn:epc:id:sscc:0999999.{:010}", 900 + n);
                log = log.by("B", aggregation(12, "ADD", &case, &[UNREGISTERED]));
            }
            let shipped: &[&str] = match sibling {
                true => &[UNREGISTERED, SIBLING],
                false => &[UNREGISTERED],
            };
            // As in [`claimed_first_by_b`].
            let log = log
                .by("B", shipping_to(5, shipped, TO_B_OR_C))
                .by("B", shipping_to(6, &[UNREGISTERED], TO_B_OR_C))
                .by("B", commission(10, &[UNREGISTERED]))
                .by("A", commission(1, &[UNREGISTERED]))
                .by("A", shipping_to(20, &[UNREGISTERED], TO_B_OR_C));
            let (b, a) = (122 + packs, 123 + packs);
            let whole = log.history(UNREGISTERED);
            assert_eq!(kind(&whole, b), "authorised", "{what}: {whole:?}");
            assert!(
                kind(&whole, a).contains("brought into being by B first"),
                "{what}"
            );
            for limit in [6, 8, 12, 20] {
                let (_, loaded, answer) = gathered_loading(&log, UNREGISTERED, limit);
                assert!(answer.is_ok(), "{what}, limit {limit}: {answer:?}");
                assert!(loaded.contains(&b), "{what}, limit {limit}: {loaded:?}");
                // The first round's share of the flood, then the left-out budget at most.
                let flood = loaded.iter().filter(|&&leaf| leaf < 120).count();
                assert!(flood <= 2 * limit, "{what}, limit {limit}: {loaded:?}");
            }
            let otherwise = marked_otherwise_for(&log, UNREGISTERED, 6..=20);
            assert!(
                otherwise.is_empty(),
                "{what}: marked otherwise at {otherwise:?}"
            );
        }
    }

    /// B, one of the parties A's shipment names, floods the case with `flood` receipts dated
    /// before the shipping (none of which takes anything), all logged before C's receipt, which
    /// takes the case; C then destroys the item.
    fn flooded_with_backdated_receipts(flood: u32) -> Log {
        let mut log = a_journey();
        for minute in 0..flood {
            log = log.by("B", step(object(21 + minute % 9, &[CASE]), "receiving"));
        }
        log.by("C", step(object(40, &[CASE]), "receiving"))
            .by("C", step(object(50, &[ITEM]), "destroying"))
    }

    /// B's backdated receipts are left-out receipts of a party A's shipment names: a history
    /// reads them only within a budget of their own (B's first in log order, at most a quarter
    /// of it), passes over the rest, and stays answerable, C's receipt and
    /// destruction authorised, every event shown marked as the whole log marks it.
    #[test]
    fn a_named_party_s_flood_of_backdated_receipts_changes_nothing() {
        for flood in [3, 10, 40, 200, 1000] {
            let log = flooded_with_backdated_receipts(flood);
            let c = 4 + u64::from(flood);
            let what = format!("flood {flood}");
            for limit in [6, 8, 12, 20] {
                let history = answered(&log, limit);
                for leaf in [c, c + 1] {
                    let shown = history.events.iter().find(|e| e.event.leaf.get() == leaf);
                    assert_eq!(
                        shown.map(|e| &e.authority),
                        Some(&Authority::Authorised),
                        "{what}, limit {limit}: {history:?}"
                    );
                }
                // What B's flood costs the history: within its gathering budget, and its
                // receipts' own budget at most a round.
                let (_, loaded, answer) = gathered_loading(&log, ITEM, limit);
                assert!(answer.is_ok(), "{what}, limit {limit}: {answer:?}");
                assert!(
                    loaded.len() <= 3 * limit,
                    "{what}, limit {limit}: {loaded:?}"
                );
            }
            answered_alike_at(&log, 6..=20, &what);
            let otherwise = marked_otherwise_than_the_whole_log(&log, 6..=20);
            assert!(
                otherwise.is_empty(),
                "{what}: marked otherwise at {otherwise:?}"
            );
        }
    }

    #[test]
    fn a_first_pass_hand_over_left_out_does_not_turn_an_authorised_change() {
        let to_c = [("possessing_party", C_DOCK)];
        let honest = a_journey()
            .by("A", transaction(50, &[CASE], &to_c)) // 4: T
            .by("A", step(object(45, &[CASE]), "receiving")); // 5: E
        assert!(refused_at(&honest, 6..=30).is_empty());
        answered_alike_at(&a_s_late_return_with_b_s_receipt(10), 8..=30, "flooded");
    }

    /// Differential: random journeys of A's case among A, B, C and L, each history of a limit from
    /// 4 to 20 either refused or judged as the whole log judges it.
    mod differential {
        use super::*;

        /// Draws from a reproducible sequence ([`SplitMix64`](crate::draw::SplitMix64)).
        struct Draw(crate::draw::SplitMix64);

        impl Draw {
            fn below(&mut self, n: u64) -> u64 {
                self.0.next_u64() % n
            }
        }

        /// A's journey, then `events` events by A, B, C or L drawn from the kinds a custody dispute
        /// is made of, dated between minutes 21 and 64.
        pub(super) fn journey(seed: u64, events: usize) -> Log {
            let mut draw = Draw(crate::draw::SplitMix64::new(seed));
            let mut log = a_journey();
            for _ in 0..events {
                let by = ["A", "B", "C", "L"][draw.below(4) as usize];
                let minute = 21 + draw.below(44) as u32;
                let id = [CASE, ITEM][draw.below(2) as usize];
                let event = match draw.below(7) {
                    0 => aggregation(minute, "DELETE", CASE, &[]),
                    1 => transaction(minute, &[CASE], &[("possessing_party", C_DOCK)]),
                    2 => shipping_to(minute, &[CASE], TO_B_OR_C),
                    3 => shipping_to(minute, &[id], &[("owning_party", B_PARTY)]),
                    4 | 5 => step(object(minute, &[id]), "receiving"),
                    _ => step(object(minute, &[id]), "destroying"),
                };
                log = log.by(by, event);
            }
            log
        }

        /// The limits at which `log`'s history is answered otherwise than the whole log's.
        pub(super) fn diverging(log: &Log) -> Vec<(usize, u64)> {
            diverging_for(log, ITEM)
        }

        /// The limits at which `log`'s history of `item` is answered otherwise than the whole
        /// log's.
        fn diverging_for(log: &Log, item: &str) -> Vec<(usize, u64)> {
            let refused: Vec<usize> = refused_at_for(log, item, 4..=20)
                .into_iter()
                .map(|(l, _)| l)
                .collect();
            (4..=20)
                .filter(|limit| !refused.contains(limit))
                .flat_map(|limit| marked_otherwise_for(log, item, limit..=limit))
                .collect()
        }

        /// A case under no registered company prefix.
        const UNREGISTERED_CASE: &str = "urn:epc:id:sscc:0999999.0000000007";

        /// `events` events by A, B, C or L about an item and a case under no registered
        /// prefix, drawn from the kinds a dispute over who brought them into being is made of:
        /// commissionings (claims, often backdated), packings of the item into the case (a claim
        /// of the case), unpackings, shipments, receipts and destructions, some declared
        /// erroneous by their reporter, dated between minutes 1 and 64.
        fn unregistered_journey(seed: u64, events: usize) -> Log {
            let mut draw = Draw(crate::draw::SplitMix64::new(seed));
            let mut log = Log::new();
            for _ in 0..events {
                let minute = 1 + draw.below(64) as u32;
                // One in eight withdraws an earlier event, declared erroneous by its reporter:
                // a withdrawn claim brings nothing into being.
                if !log.0.is_empty() && draw.below(8) == 0 {
                    let (event, by, _) = log.0[draw.below(log.0.len() as u64) as usize].clone();
                    log = log.by(by, declared(event, minute));
                    continue;
                }
                let by = ["A", "B", "C", "L"][draw.below(4) as usize];
                let id = [UNREGISTERED_CASE, UNREGISTERED][draw.below(2) as usize];
                let event = match draw.below(8) {
                    0 | 1 => commission(minute, &[id]),
                    2 => aggregation(minute, "ADD", UNREGISTERED_CASE, &[UNREGISTERED]),
                    3 => aggregation(minute, "DELETE", UNREGISTERED_CASE, &[]),
                    4 => shipping_to(minute, &[id], TO_B_OR_C),
                    5 => step(object(minute, &[id]), "receiving"),
                    6 => step(object(minute, &[id]), "destroying"),
                    _ => shipping_to(minute, &[id], &[("owning_party", B_PARTY)]),
                };
                log = log.by(by, event);
            }
            log
        }

        /// A thousand random disputes over an item under no registered prefix: every history
        /// of every limit is refused or judged as the whole log judges it, first claims left
        /// out by a share included, but for the journey this names, a known gap (issue 31): in
        /// seed 895, the case's brand (C, its first claimant) commissions it again later in the
        /// log, dated before L packs the item into it; a share of the case's events leaves that
        /// commissioning out, and once L's packing is refused on C's first claim the case is no
        /// longer followed, so C is no custodian whose left-out changes are read: L's packing
        /// comes out authorised at limit 6. Before the left-out budget's room went to what it
        /// had passed over, 15 of these diverged, each a party's quarter of the budget spent on
        /// a claim of the case while its commissioning of the item was passed over.
        #[test]
        fn random_claims_are_judged_as_the_whole_log_judges_them() {
            let known = [(895, (6, 11))];
            let diverging: Vec<(u64, (usize, u64))> = (0..1000)
                .filter_map(|seed| {
                    let log = unregistered_journey(seed, 8 + (seed % 7) as usize);
                    diverging_for(&log, UNREGISTERED)
                        .first()
                        .map(|first| (seed, *first))
                })
                .collect();
            assert_eq!(diverging, known);
        }

        /// A thousand random journeys: every history of every limit is refused or judged as
        /// the whole log judges it, but for the journeys this names, a known gap (issue 31): in
        /// seed 558, a first pass's hand-over (B's receipt of the item, which refuses A's later
        /// unpacking of it as a change of what A had handed over) is judged otherwise without
        /// B's other changes, and L's destruction comes out authorised at limit 6. Before
        /// histories read left-out receipts and transferees' changes, 64 of these diverged (18
        /// with the receipts read alone).
        #[test]
        fn random_journeys_are_judged_as_the_whole_log_judges_them() {
            let known = [(558, (6, 4))];
            let diverging: Vec<(u64, (usize, u64))> = (0..1000)
                .filter_map(|seed| {
                    let log = journey(seed, 8 + (seed % 5) as usize);
                    diverging(&log).first().map(|first| (seed, *first))
                })
                .collect();
            assert_eq!(diverging, known);
        }
    }
}

#[test]
fn authority_marks_refuse_unknown_kinds_and_members() {
    for bad in [
        json!({"kind": "observation", "extra": 1}),
        json!({"kind": "authorised", "reason": "because"}),
        json!({"kind": "unauthorised"}),
        json!({"kind": "trusted"}),
    ] {
        assert!(
            serde_json::from_value::<Authority>(bad.clone()).is_err(),
            "{bad} must be refused"
        );
    }
    let mark = Authority::Unauthorised {
        reason: "no".to_owned(),
    };
    let json = serde_json::to_value(&mark).unwrap();
    assert_eq!(json, json!({"kind": "unauthorised", "reason": "no"}));
    assert_eq!(serde_json::from_value::<Authority>(json).unwrap(), mark);
}

fn candidates(reporters: &[(&str, u64)]) -> Vec<Candidate> {
    let mut leaf = 0;
    let mut all = Vec::new();
    for &(reporter, count) in reporters {
        for _ in 0..count {
            all.push(Candidate {
                leaf: LeafIndex::new(leaf).unwrap(),
                reporter: crate::ids::OrganisationId::parse(reporter).ok(),
                changes: false,
                receipt: false,
                claim: false,
                other_claim: false,
            });
            leaf += 1;
        }
    }
    all
}

fn omitted(reporter: &str, events: usize) -> Omitted {
    Omitted {
        reporter: Some(crate::ids::OrganisationId::parse(reporter).unwrap()),
        events,
    }
}

fn leaves_of(taken: &[LeafIndex]) -> Vec<u64> {
    taken.iter().map(|leaf| leaf.get()).collect()
}

#[test]
fn candidates_that_fit_are_all_taken() {
    let (taken, left) = share(candidates(&[("A", 3), ("B", 4)]), 7);
    assert_eq!(taken.len(), 7);
    assert!(left.is_empty());
}

#[test]
fn each_reporter_keeps_up_to_an_equal_share_its_first_in_log_order() {
    // A's 4 fit whole; B's 100 keep the first 6.
    let (taken, left) = share(candidates(&[("A", 4), ("B", 100)]), 10);
    assert_eq!(leaves_of(&taken), (0..10).collect::<Vec<u64>>());
    assert_eq!(counted(left), [omitted("B", 94)]);
    // A's 3 fit whole; C and B share the 17 left: 8 each, and the place left over goes to C,
    // whose first candidate is earlier in the log.
    let mut interleaved = candidates(&[("C", 50), ("A", 3), ("B", 50)]);
    interleaved.reverse();
    let (taken, left) = share(interleaved, 20);
    let expected: Vec<u64> = (0..9).chain(50..53).chain(53..61).collect();
    assert_eq!(leaves_of(&taken), expected);
    assert_eq!(counted(left), [omitted("B", 42), omitted("C", 41)]);
    // Unknown reporters are one reporter of their own.
    let mut unknown = candidates(&[("A", 2), ("B", 9)]);
    for candidate in &mut unknown[2..] {
        candidate.reporter = None;
    }
    let (taken, left) = share(unknown, 5);
    assert_eq!(leaves_of(&taken), [0, 1, 2, 3, 4]);
    assert_eq!(
        counted(left),
        [Omitted {
            reporter: None,
            events: 6
        }]
    );
    // More reporters than places: the earliest reporters' first candidates.
    let (taken, left) = share(candidates(&[("A", 2), ("B", 2), ("C", 2)]), 2);
    assert_eq!(leaves_of(&taken), [0, 2]);
    assert_eq!(
        counted(left),
        [omitted("A", 1), omitted("B", 1), omitted("C", 2)]
    );
    // Nothing may be taken: everything is left out.
    let (taken, left) = share(candidates(&[("A", 2)]), 0);
    assert!(taken.is_empty());
    assert_eq!(counted(left), [omitted("A", 2)]);
}
