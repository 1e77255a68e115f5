#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use super::*;

/// The events of an official example document, each self-contained (with the document's
/// `@context`), as a repository stores them.
fn events(path: &str) -> Vec<Event> {
    let bytes = std::fs::read(format!(
        "{}/../testdata/gs1-epcis/examples/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let document = crate::document::Document::parse(&bytes).unwrap();
    let context = document.context().cloned().unwrap();
    document
        .events()
        .iter()
        .map(|event| Event::parse(event.to_json_with_context(&context).as_bytes()).unwrap())
        .collect()
}

/// Which of `events` a query string (decoded pairs, `&`-separated, `=` between) matches.
fn matching(events: &[Event], query: &str) -> Vec<usize> {
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap())
        .collect();
    let query = EventQuery::parse(pairs).unwrap();
    events
        .iter()
        .enumerate()
        .filter(|(_, event)| query.matches(event, None))
        .map(|(at, _)| at)
        .collect()
}

fn refused(query: &[(&str, &str)]) -> QueryError {
    EventQuery::parse(query.iter().copied()).unwrap_err()
}

#[test]
fn the_object_events_of_example_9_6_1_are_found_by_each_kind_of_parameter() {
    let events = events("Example_9.6.1-ObjectEvent.jsonld");
    let cases: &[(&str, &[usize])] = &[
        ("", &[0, 1]),
        ("eventType=ObjectEvent", &[0, 1]),
        ("eventType=AggregationEvent|TransformationEvent", &[]),
        ("EQ_action=OBSERVE", &[0, 1]),
        ("EQ_action=ADD|DELETE", &[]),
        ("EQ_bizStep=shipping", &[0]),
        // A CBV term in its URN and Web URI forms is the same term.
        ("EQ_bizStep=urn:epcglobal:cbv:bizstep:receiving", &[1]),
        ("EQ_bizStep=https://ref.gs1.org/cbv/BizStep-shipping", &[0]),
        ("EQ_disposition=in_transit|in_progress", &[0, 1]),
        ("GE_eventTime=2005-04-04T12:00:00Z", &[1]),
        ("LT_eventTime=2005-04-04T12:00:00Z", &[0]),
        // Instants compare whatever the offsets they are written with.
        ("GE_eventTime=2005-04-04T02:33:31.116Z", &[0, 1]),
        ("GE_eventTime=2005-04-04T02:33:31.117Z", &[1]),
        ("MATCH_epc=urn:epc:id:sgtin:0614141.107346.2018", &[0, 1]),
        ("MATCH_epc=urn:epc:id:sgtin:0614141.107346.2017", &[0]),
        // The Digital Link of the same identity.
        (
            "MATCH_epc=https://id.gs1.org/01/10614141073464/21/2017",
            &[0],
        ),
        ("MATCH_anyEPC=urn:epc:idpat:sgtin:0614141.107346.*", &[0, 1]),
        ("MATCH_epc=urn:epc:idpat:sgtin:0614141.*.*", &[0, 1]),
        ("MATCH_epc=urn:epc:idpat:sgtin:*.*.*", &[0, 1]),
        ("MATCH_epc=urn:epc:idpat:sgtin:0614142.*.*", &[]),
        ("MATCH_epc=urn:epc:idpat:sscc:*.*", &[]),
        ("MATCH_parentID=urn:epc:id:sgtin:0614141.107346.2017", &[]),
        ("MATCH_inputEPC=urn:epc:id:sgtin:0614141.107346.2017", &[]),
        ("EQ_readPoint=urn:epc:id:sgln:0614141.07346.1234", &[0]),
        (
            "EQ_readPoint=https://id.gs1.org/414/0614141073467/254/1234",
            &[0],
        ),
        // A GLN's locations with an extension descend from it.
        ("WD_readPoint=urn:epc:id:sgln:0012345.11111.0", &[1]),
        ("EQ_readPoint=urn:epc:id:sgln:0012345.11111.0", &[]),
        ("EQ_bizLocation=urn:epc:id:sgln:0012345.11111.0", &[1]),
        ("WD_bizLocation=urn:epc:id:sgln:0012345.11111.0", &[1]),
        (
            "EQ_bizTransaction_po=http://transaction.acme.com/po/12345678",
            &[0, 1],
        ),
        (
            "EQ_bizTransaction_desadv=urn:epcglobal:cbv:bt:0614141073467:1152",
            &[1],
        ),
        (
            "EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0614141073467:1152",
            &[],
        ),
        // An extension field, by namespace#name and by the event's own prefix.
        (
            "EQ_http://ns.example.com/epcis/#myField=Example of a vendor/user extension",
            &[1],
        ),
        (
            "EQ_example:myField=Example of a vendor/user extension",
            &[1],
        ),
        ("EQ_example:myField=another value", &[]),
        ("EXISTS_http://ns.example.com/epcis/#myField=true", &[1]),
        ("EXISTS_http://ns.example.com/other/#myField=true", &[]),
        (
            "EQ_eventID=ni:///sha-256;00e1e6eba3a7cc6125be4793a631f0af50f8322e0ab5f2c0bab994a11cec1d79?ver=CBV2.0",
            &[1],
        ),
        ("EXISTS_errorDeclaration=true", &[]),
        ("EXISTS_errorDeclaration=false", &[0, 1]),
        // Every condition must hold.
        (
            "EQ_bizStep=shipping&MATCH_epc=urn:epc:id:sgtin:0614141.107346.2018",
            &[0],
        ),
        (
            "EQ_bizStep=receiving&GE_eventTime=2006-01-01T00:00:00Z",
            &[],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(matching(&events, query), *expected, "{query}");
    }
}

#[test]
fn aggregation_transformation_and_quantity_parameters_look_at_their_own_lists() {
    let aggregation = events("Example_9.6.3-AggregationEvent.jsonld");
    let transformation = events("Example_9.6.4-TransformationEvent.jsonld");
    let object = events("Example_9.6.2-ObjectEvent.jsonld");
    let mut all = aggregation;
    all.extend(transformation);
    all.extend(object);
    let cases: &[(&str, &[usize])] = &[
        ("MATCH_parentID=urn:epc:id:sscc:0614141.1234567890", &[0]),
        (
            "MATCH_parentID=https://id.gs1.org/00/106141412345678908",
            &[0],
        ),
        ("MATCH_epc=urn:epc:id:sscc:0614141.1234567890", &[]),
        ("MATCH_anyEPC=urn:epc:id:sscc:0614141.1234567890", &[0]),
        ("MATCH_epc=urn:epc:id:sgtin:0614141.107346.2017", &[0]),
        ("MATCH_inputEPC=urn:epc:id:sgtin:4012345.011122.25", &[1]),
        ("MATCH_outputEPC=urn:epc:id:sgtin:4012345.011122.25", &[]),
        ("MATCH_outputEPC=urn:epc:idpat:sgtin:4012345.077889.*", &[1]),
        ("MATCH_anyEPC=urn:epc:idpat:sgtin:4012345.*.*", &[1]),
        // A lot, by its class URI and its Digital Link.
        (
            "MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.998877",
            &[0, 2],
        ),
        (
            "MATCH_epcClass=https://id.gs1.org/01/04012345123456/10/998877",
            &[0, 2],
        ),
        (
            "MATCH_inputEPCClass=urn:epc:class:lgtin:4012345.011111.4444",
            &[1],
        ),
        (
            "MATCH_epcClass=urn:epc:class:lgtin:4012345.011111.4444",
            &[],
        ),
        (
            "MATCH_anyEPCClass=urn:epc:class:lgtin:4012345.011111.4444",
            &[1],
        ),
        // A product pattern: the class of the GTIN and each of its lots.
        (
            "MATCH_epcClass=urn:epc:idpat:sgtin:4012345.012345.*",
            &[0, 2],
        ),
        ("MATCH_epcClass=urn:epc:idpat:sgtin:4012345.098765.*", &[0]),
        (
            "MATCH_anyEPCClass=urn:epc:idpat:sgtin:4012345.*.*",
            &[0, 1, 2],
        ),
        ("MATCH_anyEPCClass=urn:epc:idpat:sgtin:0614141.*.*", &[1]),
        ("MATCH_outputEPCClass=urn:epc:idpat:sgtin:*.*.*", &[]),
        ("EQ_quantity=10", &[0, 1]),
        ("GT_quantity=200", &[0, 1]),
        ("GE_quantity=200", &[0, 1, 2]),
        ("LT_quantity=10", &[]),
        ("LE_quantity=10", &[0, 1]),
        ("EQ_quantity_KGM=200", &[2]),
        ("GE_quantity_KGM=200.5", &[0]),
        ("EQ_transformationID=urn:epc:id:gdti:0614141.12345.400", &[]),
        (
            "EQ_source_possessing_party=urn:epc:id:sgln:4012345.00001.0",
            &[2],
        ),
        (
            "EQ_destination_owning_party=urn:epc:id:sgln:0614141.00001.0",
            &[2],
        ),
        (
            "EQ_source_owning_party=urn:epc:id:sgln:4012345.00001.0",
            &[],
        ),
        (
            "EQ_ILMD_http://ns.example.com/epcis/#bestBeforeDate=2014-12-10",
            &[1],
        ),
        (
            "EQ_http://ns.example.com/epcis/#bestBeforeDate=2014-12-10",
            &[],
        ),
        ("eventType=AggregationEvent|TransformationEvent", &[0, 1]),
    ];
    for (query, expected) in cases {
        assert_eq!(matching(&all, query), *expected, "{query}");
    }
}

#[test]
fn error_declaration_parameters_find_the_declaring_event() {
    let events =
        events("WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld");
    let cases: &[(&str, &[usize])] = &[
        ("EXISTS_errorDeclaration=true", &[0]),
        ("EQ_errorReason=incorrect_data", &[0]),
        ("EQ_errorReason=urn:epcglobal:cbv:er:incorrect_data", &[0]),
        ("EQ_errorReason=did_not_occur", &[]),
        ("GE_errorDeclarationTime=2021-02-01T22:46:31Z", &[0]),
        ("LT_errorDeclarationTime=2021-02-01T22:46:31Z", &[]),
        ("GE_errorDeclaration_Time=2021-01-01T00:00:00Z", &[0]),
        (
            "EQ_correctiveEventID=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            &[0],
        ),
        (
            "EQ_correctiveEventID=urn:uuid:00000000-7dec-11d0-a765-00a0c91e6bf6",
            &[],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(matching(&events, query), *expected, "{query}");
    }
}

#[test]
fn sensor_parameters_compare_reports_and_metadata() {
    let events = events("WithSensorData/SensorDataExample1.jsonld");
    assert!(!events.is_empty());
    let first = &events[..1];
    let cases: &[(&str, &[usize])] = &[
        ("EQ_type=Temperature", &[0]),
        ("EQ_type=Pressure", &[]),
        ("EQ_deviceID=urn:epc:id:giai:4000001.111", &[0]),
        ("GE_value_CEL=26.2", &[0]),
        ("GT_value_CEL=26.2", &[]),
        ("LT_value_CEL=26", &[]),
        ("EQ_value_CEL=25|26", &[0]),
        ("EQ_value_KMH=26", &[]),
        ("GE_time=2019-04-02T13:05:00Z", &[0]),
        ("LT_time=2019-04-02T13:05:00Z", &[]),
        ("EXISTS_sensorElementList=true", &[0]),
    ];
    for (query, expected) in cases {
        assert_eq!(matching(first, query), *expected, "{query}");
    }
}

#[test]
fn ordering_and_limits_are_read_and_checked_together() {
    let query = EventQuery::parse([("orderBy", "eventTime"), ("orderDirection", "ASC")]).unwrap();
    assert_eq!(
        query.order(),
        Some(&Order {
            by: OrderBy::EventTime,
            ascending: true
        })
    );
    let query = EventQuery::parse([("orderBy", "recordTime"), ("eventCountLimit", "5")]).unwrap();
    assert!(!query.order().unwrap().ascending, "DESC is the default");
    assert_eq!(query.limit(), Some(Limit::First(5)));
    let query = EventQuery::parse([("maxEventCount", "0")]).unwrap();
    assert_eq!(query.limit(), Some(Limit::AtMost(0)));

    let events = events("Example_9.6.1-ObjectEvent.jsonld");
    let order = Order {
        by: OrderBy::EventTime,
        ascending: true,
    };
    assert!(order.key(&events[0], None) < order.key(&events[1], None));
    let by_field = Order {
        by: OrderBy::Field("example:myField".to_owned()),
        ascending: true,
    };
    assert_eq!(by_field.key(&events[0], None), OrderKey::Missing);
    assert_eq!(
        by_field.key(&events[1], None),
        OrderKey::Text("Example of a vendor/user extension".to_owned())
    );
}

#[test]
fn the_query_s_identity_ignores_parameter_order_and_paging() {
    let a = EventQuery::parse([
        ("EQ_bizStep", "shipping"),
        ("MATCH_epc", "urn:epc:id:sgtin:0614141.107346.2017"),
        ("perPage", "10"),
    ])
    .unwrap();
    let b = EventQuery::parse([
        ("nextPageToken", "abc"),
        ("MATCH_epc", "urn:epc:id:sgtin:0614141.107346.2017"),
        ("EQ_bizStep", "shipping"),
    ])
    .unwrap();
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(a.paging().per_page, Some(10));
    assert_eq!(b.paging().next_page_token.as_deref(), Some("abc"));
}

#[test]
fn what_an_index_can_find_is_said_only_for_identities_and_places() {
    let query = EventQuery::parse([("MATCH_epc", "urn:epc:id:sgtin:0614141.107346.2017")]).unwrap();
    let identities = query.identities().unwrap();
    assert!(
        identities
            .names
            .contains(&"urn:epc:id:sgtin:0614141.107346.2017".to_owned())
    );
    assert!(
        identities
            .names
            .contains(&"https://id.gs1.org/01/10614141073464/21/2017".to_owned())
    );
    assert!(identities.in_lists && !identities.in_parent);
    let any = EventQuery::parse([("MATCH_anyEPC", "urn:epc:id:sscc:0614141.1234567890")]).unwrap();
    let identities = any.identities().unwrap();
    assert!(identities.in_lists && identities.in_parent);
    // A pattern cannot be looked up.
    let pattern = EventQuery::parse([("MATCH_epc", "urn:epc:idpat:sgtin:0614141.*.*")]).unwrap();
    assert_eq!(pattern.identities(), None);

    let place = EventQuery::parse([("EQ_bizLocation", "urn:epc:id:sgln:0012345.11111.0")]).unwrap();
    let places = place.places().unwrap();
    assert!(places.contains(&"urn:epc:id:sgln:0012345.11111.0".to_owned()));
    assert!(places.contains(&"https://id.gs1.org/414/0012345111112".to_owned()));
    let range = EventQuery::parse([
        ("GE_eventTime", "2005-04-04T00:00:00Z"),
        ("LT_eventTime", "2005-04-05T00:00:00Z"),
    ])
    .unwrap()
    .event_time_range();
    assert!(range.0.unwrap() < range.1.unwrap());
}

#[test]
fn each_kind_of_bad_parameter_is_refused_naming_it() {
    /// Parameters, the parameter refused and words of why.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (&[("EQ_colour", "red")], "EQ_colour", "not a parameter"),
        (&[("bizStep", "shipping")], "bizStep", "not a parameter"),
        (
            &[("EQ_bizStep", "shipping"), ("EQ_bizStep", "receiving")],
            "EQ_bizStep",
            "given twice",
        ),
        (&[("EQ_action", "ADD|MOVE")], "EQ_action", "MOVE"),
        (&[("GE_eventTime", "yesterday")], "GE_eventTime", "RFC 3339"),
        (
            &[("GE_eventTime", "2005-04-04T00:00:00")],
            "GE_eventTime",
            "RFC 3339",
        ),
        (&[("EQ_quantity", "ten")], "EQ_quantity", "not a number"),
        (&[("EQ_quantity", "NaN")], "EQ_quantity", "not a number"),
        (
            &[("EXISTS_errorDeclaration", "yes")],
            "EXISTS_errorDeclaration",
            "true nor false",
        ),
        (
            &[("eventCountLimit", "3")],
            "eventCountLimit",
            "needs orderBy",
        ),
        (
            &[
                ("orderBy", "eventTime"),
                ("eventCountLimit", "3"),
                ("maxEventCount", "3"),
            ],
            "eventCountLimit",
            "may not both",
        ),
        (&[("maxEventCount", "-1")], "maxEventCount", "whole number"),
        (&[("perPage", "0")], "perPage", "at least 1"),
        (&[("orderBy", "colour")], "orderBy", "eventTime, recordTime"),
        (
            &[("orderDirection", "ASC")],
            "orderDirection",
            "without orderBy",
        ),
        (
            &[("orderBy", "eventTime"), ("orderDirection", "UP")],
            "orderDirection",
            "ASC nor DESC",
        ),
        (
            &[("EQ_bizStep", "shipping||receiving")],
            "EQ_bizStep",
            "empty value",
        ),
        (&[("eventType", "ObjectEvnt")], "eventType", "ObjectEvnt"),
        (
            &[("MATCH_epc", "urn:epc:id:sgtin:0614141.10734.2017")],
            "MATCH_epc",
            "not an EPC URI",
        ),
        (
            &[("MATCH_epc", "urn:epc:idpat:sgtin:*.107346.*")],
            "MATCH_epc",
            "only the last",
        ),
        (
            &[("MATCH_epc", "urn:epc:idpat:sgtin:0614141.107346")],
            "MATCH_epc",
            "3 components",
        ),
        (
            &[("MATCH_epc", "urn:epc:idpat:shoe:1.2.*")],
            "MATCH_epc",
            "not an EPC scheme",
        ),
        (&[("MATCH_epc", "not a uri")], "MATCH_epc", "not a URI"),
        (
            &[("MATCH_epcClass", "urn:epc:class:lgtin:1.2")],
            "MATCH_epcClass",
            "class URI",
        ),
        (
            &[("MATCH_epcClass", "urn:epc:idpat:grai:0614141.*.*")],
            "MATCH_epcClass",
            "only urn:epc:idpat:sgtin",
        ),
        (&[("EQ_value_c", "1")], "EQ_value_c", "not a parameter"),
        (
            &[("EQ_bizTransaction_", "x:y")],
            "EQ_bizTransaction_",
            "names no type",
        ),
        (
            &[("GT_example:f", "big")],
            "GT_example:f",
            "neither a number nor",
        ),
        (&[("EQ_#f", "1")], "EQ_#f", "not a parameter"),
        (
            &[("EQ_readPoint", "not a uri")],
            "EQ_readPoint",
            "not an absolute URI",
        ),
        (
            &[("EQ_bizStep", "shiping")],
            "EQ_bizStep",
            "neither a standard CBV term nor a URI",
        ),
        (
            &[("EQ_disposition", "in transit")],
            "EQ_disposition",
            "neither",
        ),
        (
            &[("EQ_type", "Warmth")],
            "EQ_type",
            "neither a GS1 measurement type",
        ),
        (
            &[("EQ_bizTransaction_p o", "urn:x:1")],
            "EQ_bizTransaction_p o",
            "not a parameter",
        ),
        (
            &[("EQ_eventID", "urn:x:%zz")],
            "EQ_eventID",
            "not an absolute URI",
        ),
        (
            &[("EQ_correctiveEventID", "0:x")],
            "EQ_correctiveEventID",
            "not an absolute URI",
        ),
        (
            &[("EQ_deviceID", "urn:x y")],
            "EQ_deviceID",
            "not an absolute URI",
        ),
    ];
    for (query, parameter, says) in cases {
        let error = refused(query);
        assert_eq!(error.parameter, *parameter, "{query:?}");
        assert!(error.reason.contains(says), "{query:?}: {}", error.reason);
    }
    let many = vec!["shipping"; MAX_VALUES + 1].join("|");
    assert!(
        refused(&[("EQ_bizStep", &many)])
            .reason
            .contains("more than")
    );
    let long = "x".repeat(MAX_VALUE_LEN + 1);
    assert!(
        refused(&[("EQ_bizStep", &long)])
            .reason
            .contains("longer than")
    );
    let names: Vec<String> = (0..=MAX_PARAMETERS)
        .map(|n| format!("EQ_example:f{n}"))
        .collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "1")).collect();
    assert!(
        EventQuery::parse(pairs)
            .unwrap_err()
            .reason
            .contains("at most")
    );
}

proptest::proptest! {
    /// Any parameters (names of every family, values of any characters) are read or refused
    /// without a panic; a query read parses again from its canonical parameters to the same
    /// query, and matches the example events without a panic.
    #[test]
    fn any_parameters_are_read_or_refused_and_never_panic(
        pairs in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "eventType", "EQ_action", "GE_eventTime", "LT_recordTime", "EQ_bizStep",
                    "WD_readPoint", "EQ_bizLocation", "MATCH_epc", "MATCH_anyEPC",
                    "MATCH_epcClass", "GT_quantity", "EQ_quantity_KGM", "EQ_value_CEL",
                    "EXISTS_errorDeclaration", "EQ_example:myField", "GE_INNER_ILMD_example:x",
                    "EQ_bizTransaction_po", "orderBy", "orderDirection", "eventCountLimit",
                    "maxEventCount", "perPage", "nextPageToken", "EQ_", "MATCH_",
                ]),
                proptest::prop_oneof![
                    "[a-zA-Z0-9:.*|#/_-]{0,40}",
                    proptest::sample::select(vec![
                        "urn:epc:idpat:sgtin:0614141.*.*".to_owned(),
                        "urn:epc:id:sgtin:0614141.107346.2018".to_owned(),
                        "2005-04-04T00:00:00Z".to_owned(),
                        "ASC".to_owned(),
                        "eventTime".to_owned(),
                        "true".to_owned(),
                        "12.5".to_owned(),
                    ]),
                ],
            ),
            0..6,
        )
    ) {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(name, value)| (*name, value.as_str())).collect();
        if let Ok(query) = EventQuery::parse(refs) {
            let again = EventQuery::parse(
                query.canonical().iter().map(|(name, value)| (name.as_str(), value.as_str())),
            ).unwrap();
            proptest::prop_assert_eq!(again.canonical(), query.canonical());
            for event in events("Example_9.6.1-ObjectEvent.jsonld") {
                let _ = query.matches(&event, None);
            }
        }
    }
}

/// A query read from a string of decoded pairs (`&`-separated, `=` between).
fn parsed(query: &str) -> EventQuery {
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap())
        .collect();
    EventQuery::parse(pairs).unwrap()
}

#[test]
fn covers_name_what_every_result_has_of_what_an_index_lists() {
    let sgtin = "https://id.gs1.org/01/10614141073464/21/2017";
    assert_eq!(
        parsed(
            "MATCH_anyEPC=urn:epc:id:sgtin:0614141.107346.2017|urn:uuid:1&eventType=ObjectEvent"
        )
        .covers(),
        [Cover::Identities(vec![
            sgtin.to_owned(),
            "urn:uuid:1".to_owned()
        ])]
    );
    // A pattern among the values: every result names one of them, but not an identity.
    assert_eq!(
        parsed(
            "MATCH_epc=urn:epc:idpat:sgtin:0614141.107346.*|urn:epc:id:sgtin:0614141.107346.2017"
        )
        .covers(),
        []
    );
    assert_eq!(
        parsed("MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.998877&MATCH_parentID=urn:epc:id:sscc:0614141.1234567890").covers(),
        [
            Cover::Classes(vec!["https://id.gs1.org/01/04012345123456/10/998877".to_owned()]),
            Cover::Identities(vec!["https://id.gs1.org/00/106141412345678908".to_owned()]),
        ]
    );
    assert_eq!(
        parsed("MATCH_anyEPCClass=urn:epc:idpat:sgtin:4012345.012345.*").covers(),
        []
    );
    // A place needs both ends of an event-time range; with descendants it is not one place.
    let day = "GE_eventTime=2026-01-01T00:00:00Z&LT_eventTime=2026-01-02T00:00:00Z";
    assert_eq!(
        parsed(&format!(
            "EQ_bizLocation=urn:epc:id:sgln:0614141.07346.0&{day}"
        ))
        .covers(),
        [Cover::PlacesBetween {
            places: vec!["https://id.gs1.org/414/0614141073467".to_owned()],
            from: 1_767_225_600_000_000_000,
            to: 1_767_312_000_000_000_000,
        }]
    );
    assert_eq!(
        parsed("EQ_bizLocation=urn:epc:id:sgln:0614141.07346.0&GE_eventTime=2026-01-01T00:00:00Z")
            .covers(),
        []
    );
    assert_eq!(
        parsed(&format!(
            "WD_bizLocation=urn:epc:id:sgln:0614141.07346.0&{day}"
        ))
        .covers(),
        []
    );
    assert_eq!(parsed("EQ_bizStep=shipping").covers(), []);
    assert!(!parsed(day).uses_record_time());
    assert!(parsed("GE_recordTime=2026-01-01T00:00:00Z").uses_record_time());
    assert!(parsed("orderBy=recordTime").uses_record_time());
}

#[test]
fn comparisons_count_the_values_an_event_is_matched_against() {
    assert_eq!(parsed("").comparisons(), 0);
    assert_eq!(parsed("eventType=ObjectEvent").comparisons(), 1);
    let patterns: Vec<String> = (0..40)
        .map(|n| format!("urn:epc:idpat:sgtin:0614141.{n}.*"))
        .collect();
    let query = format!(
        "MATCH_epc={}&EQ_bizStep=shipping|receiving&GE_eventTime=2020-01-01T00:00:00Z",
        patterns.join("|")
    );
    assert_eq!(parsed(&query).comparisons(), 40 + 2 + 1);
    let values: Vec<String> = (0..30).map(|n| n.to_string()).collect();
    let fields = format!("EQ_example:lot={}&EQ_example:size=1|2", values.join("|"));
    assert_eq!(parsed(&fields).comparisons(), 30 + 2);
}
