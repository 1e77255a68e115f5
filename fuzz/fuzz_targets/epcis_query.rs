//! The EPCIS 2.0 `SimpleEventQuery` parameters (`GET /events`'s query string, names and values
//! as decoded): no input may panic; a query that parses parses again from its own canonical
//! parameters to the same query, and says whether each of a few events matches without
//! panicking, its order keys included.
#![no_main]

use epcis::document::Event;
use epcis::query::EventQuery;
use libfuzzer_sys::fuzz_target;

/// Events with every kind of member a parameter looks at.
const EVENTS: &[&str] = &[
    r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"example":"http://ns.example.com/epcis/"}],"type":"ObjectEvent","action":"OBSERVE","bizStep":"receiving","disposition":"in_progress","epcList":["urn:epc:id:sgtin:0614141.107346.2018","https://id.gs1.org/01/10614141073464/21/2019"],"quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":200,"uom":"KGM"}],"eventTime":"2005-04-04T20:33:31.116-06:00","eventTimeZoneOffset":"-06:00","readPoint":{"id":"urn:epc:id:sgln:0012345.11111.400"},"bizLocation":{"id":"urn:epc:id:sgln:0012345.11111.0"},"bizTransactionList":[{"type":"po","bizTransaction":"http://transaction.acme.com/po/12345678"}],"sourceList":[{"type":"owning_party","source":"urn:epc:id:pgln:0614141.00001"}],"persistentDisposition":{"set":["completeness_verified"]},"ilmd":{"example:lot":{"example:depth":[1,2,{"example:x":"2014-12-10T00:00:00Z"}]}},"errorDeclaration":{"declarationTime":"2021-02-01T22:46:31Z","reason":"incorrect_data","correctiveEventIDs":["urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]},"sensorElementList":[{"sensorMetadata":{"time":"2019-04-02T14:05:00Z","deviceID":"urn:epc:id:giai:4000001.111"},"sensorReport":[{"type":"Temperature","value":26.0,"uom":"CEL","booleanValue":true}]}],"example:myField":"Example"}"#,
    r#"{"type":"AggregationEvent","action":"ADD","parentID":"urn:epc:id:sscc:0614141.1234567890","childEPCs":["urn:epc:id:sgtin:0614141.107346.2017"],"childQuantityList":[{"epcClass":"urn:epc:idpat:sgtin:4012345.098765.*","quantity":10}],"eventTime":"2013-06-08T14:58:56.591Z","eventTimeZoneOffset":"+02:00"}"#,
    r#"{"type":"TransformationEvent","inputEPCList":["urn:epc:id:sgtin:4012345.011122.25"],"outputQuantityList":[{"epcClass":"https://id.gs1.org/01/04012345111118/10/4444","quantity":3}],"transformationID":"urn:epc:id:gdti:0614141.12345.400","eventTime":"2013-10-31T14:58:56.591Z","eventTimeZoneOffset":"+02:00"}"#,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    let Ok(query) = EventQuery::parse(pairs) else {
        return;
    };
    let again = EventQuery::parse(
        query
            .canonical()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .expect("a query's own canonical parameters parse");
    assert_eq!(again.canonical(), query.canonical());
    for json in EVENTS {
        let event = Event::parse(json.as_bytes()).expect("the fixed events parse");
        let _ = query.matches(&event, event.event_time());
        if let Some(order) = query.order() {
            let _ = order.key(&event, None);
        }
    }
    let _ = query.identities();
    let _ = query.places();
});
