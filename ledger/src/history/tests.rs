use std::convert::Infallible;

use serde_json::json;

use super::*;

/// Events in memory, in log order.
struct Memory(Vec<Map<String, Value>>);

impl EventSource for Memory {
    type Error = Infallible;
    type Payload = ();

    async fn events_naming(&self, names: &[String]) -> Result<Vec<SourceEvent<()>>, Infallible> {
        let named = |event: &Map<String, Value>| {
            ["epcList", "childEPCs", "inputEPCList", "outputEPCList"]
                .iter()
                .flat_map(|member| text_list(event, member))
                .chain(event.get("parentID").and_then(Value::as_str))
                .any(|id| names.iter().any(|name| name == id))
        };
        Ok(self
            .0
            .iter()
            .enumerate()
            .filter(|(_, event)| named(event))
            .map(|(leaf, event)| SourceEvent {
                leaf: LeafIndex::new(leaf as u64).unwrap(),
                event: event.clone(),
                time: event_time(event).unwrap(),
                payload: (),
            })
            .collect())
    }
}

fn at(minute: u32) -> String {
    format!("2026-01-01T00:{minute:02}:00Z")
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

async fn run(events: Vec<Map<String, Value>>, item: &str) -> Vec<(u64, Vec<Why>)> {
    history(
        &Memory(events),
        vec![item.to_owned()],
        |id| vec![id.to_owned()],
        1000,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| (e.event.leaf.get(), e.why))
    .collect()
}

fn container(id: &str) -> Why {
    Why::Container {
        container: id.to_owned(),
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
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
    let found = block_on(run(events, "item"));
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
    let found: Vec<u64> = block_on(run(events, "item"))
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
    let found = block_on(run(events, "bread"));
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

#[test]
fn a_history_longer_than_the_limit_is_refused() {
    let events: Vec<_> = (0..5).map(|minute| object(minute, &["item"])).collect();
    let result = block_on(history(
        &Memory(events),
        vec!["item".to_owned()],
        |id| vec![id.to_owned()],
        4,
    ));
    assert!(matches!(result, Err(HistoryError::TooLong { limit: 4 })));
}

#[test]
fn a_container_packed_into_itself_does_not_loop() {
    let events = vec![
        aggregation(0, "ADD", "b", &["a"]),
        aggregation(1, "ADD", "a", &["b"]),
        object(2, &["a"]),
    ];
    let found: Vec<u64> = block_on(run(events, "a"))
        .into_iter()
        .map(|(leaf, _)| leaf)
        .collect();
    assert_eq!(found, [0, 1, 2]);
}
