//! Verifiable exports: the provenance scenario's log (an item commissioned, packed into a case,
//! shipped in it, transformed, sold) indexed and signed, answered as exports of EPCIS queries; the
//! golden export's JSON checked byte for byte, then every way of leaving an event out, altering
//! one, altering the spreadsheet, or forging the signed manifest.

use epcis::query::EventQuery;
use ledger::bundle::{
    CheckName, EXPORT_UNCOVERED, ExportBundle, ExportFormat, ExportReport, ExportVersion,
    IndexEvidence, Outcome, ProvenanceEvent, TRACE_UNJUDGED, TracedExport, TrustedKeys, Verdict,
    export_keys, fsma204_csv, manifest_text, trace_events, verify_export,
};
use ledger::index::{IndexHead, IndexKey, KeyRange, MemoryIndex};
use ledger::note::{KeyName, Note, NoteSignerKey, NoteVerifiers};
use ledger::trace::{index_keys_of, trace_csv};
use serde_json::Value;

use crate::provenance::{CASE, ITEM, NEW_ITEM, Scenario, committed, entry_keys, scenario};

const GOLDEN_EXPORT: &str = include_str!("../golden/export-v1.json");
const GOLDEN_EXPORT_KEY: &str = include_str!("../golden/export-key.pub");
const GOLDEN_TRACE_EXPORT: &str = include_str!("../golden/export-trace-v1.json");

/// The export service's key (fixed, so that the golden export's manifest is too).
fn export_key() -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse("trace.test/exports").unwrap(), &[11; 32])
}

/// What a regulator trusts: the log, and the export service's key.
fn trusted(scenario: &Scenario) -> TrustedKeys {
    let exporters = NoteVerifiers::new(vec![export_key().verifier_key()]).unwrap();
    scenario.trusted.clone().with_exporters(exporters)
}

/// The export's manifest, made at a fixed time and signed with `key`.
fn signed(export: &ExportBundle, key: &NoteSignerKey) -> String {
    let text = manifest_text(export, "2026-11-25T12:00:00Z");
    Note::sign(&text, &[key]).unwrap().to_message()
}

/// The item's events: every event naming it, anywhere in its lists or as parent.
const ITEM_QUERY: &[(&str, &str)] = &[("MATCH_anyEPC", ITEM)];

/// What was read at the packing station on 1 March 2024.
const PLACE_DAY_QUERY: &[(&str, &str)] = &[
    ("EQ_readPoint", "urn:epc:id:sgln:0614141.00777.0"),
    ("GE_eventTime", "2024-03-01T00:00:00Z"),
    ("LT_eventTime", "2024-03-02T00:00:00Z"),
];

fn query(pairs: &[(&str, &str)]) -> EventQuery {
    EventQuery::parse(pairs.iter().copied()).unwrap()
}

/// The export a writer makes of `pairs` over the scenario's log of 10 entries, indexed in two
/// runs and committed in a checkpoint of `index_size` entries' index: every entry the index lists
/// under the query's keys, and the spreadsheet of those that match.
fn export_of(scenario: &Scenario, pairs: &[(&str, &str)], index_size: u64) -> ExportBundle {
    let (index, head, checkpoint) = indexed(scenario, index_size);
    let query = query(pairs);
    let covered = export_keys(&query).unwrap_or_default();
    let mut proofs = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for (key, _) in &covered {
        let proof = index.prove(&head, KeyRange::all(*key)).unwrap();
        listed.extend(proof.verify(&head).unwrap());
        proofs.push(proof.encode());
    }
    let events: Vec<ProvenanceEvent> = scenario
        .bundle
        .events
        .iter()
        .filter(|event| listed.contains(&event.inclusion.leaf_index().get()))
        .map(|event| ProvenanceEvent {
            why: Vec::new(),
            ..event.clone()
        })
        .collect();
    let mut export = ExportBundle {
        format: ExportFormat,
        version: ExportVersion::V1,
        query: Some(query.canonical().to_vec()),
        trace: None,
        checkpoint,
        events,
        anchored: scenario.bundle.anchored.clone(),
        index: Some(IndexEvidence {
            head: head.encode(),
            proofs,
        }),
        fsma204: String::new(),
        manifest: None,
    };
    export.fsma204 = spreadsheet_of(&export, &query);
    export.manifest = Some(signed(&export, &export_key()));
    export
}

/// The scenario's log of 10 entries, its first `index_size` indexed in two runs: the index, its
/// head, and the checkpoint of the 10 entries that commits to it.
fn indexed(scenario: &Scenario, index_size: u64) -> (MemoryIndex, IndexHead, String) {
    let keys = entry_keys(scenario, 10);
    let mut index = MemoryIndex::new();
    index.push_entries(&keys[..6]);
    index.push_entries(&keys[6..index_size as usize]);
    let (head, checkpoint) = committed(scenario, &index);
    (index, head, checkpoint)
}

/// The spreadsheet of the events of `export` that match `query`.
fn spreadsheet_of(export: &ExportBundle, query: &EventQuery) -> String {
    let matching: Vec<&ProvenanceEvent> = export
        .events
        .iter()
        .filter(|event| {
            let parsed = epcis::document::Event::parse(event.event.as_bytes()).unwrap();
            query.matches(&parsed, None)
        })
        .collect();
    fsma204_csv(&matching)
}

fn outcome(report: &ExportReport, name: CheckName) -> Outcome {
    report.export_checks().outcome(name).unwrap().clone()
}

fn failed_with(report: &ExportReport, name: CheckName, needle: &str) {
    assert_eq!(report.verdict(), Verdict::Invalid, "{report:#?}");
    match outcome(report, name) {
        Outcome::Failed(why) => assert!(why.contains(needle), "{why}"),
        other => panic!("{name} is {other:?}, not failed with {needle:?}"),
    }
}

#[test]
fn the_export_has_its_golden_json_text_and_verifies_complete() {
    let scenario = scenario();
    let export = export_of(&scenario, ITEM_QUERY, 10);
    let text = serde_json::to_string_pretty(&export).unwrap() + "\n";
    assert_eq!(text, GOLDEN_EXPORT);
    let decoded: ExportBundle = serde_json::from_str(GOLDEN_EXPORT).unwrap();
    assert_eq!(decoded, export);
    let report = verify_export(&export, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Valid, "{report:#?}");
    assert_eq!(report.matching(), 3);
    assert_eq!(report.complete_through(), Some(10));
    for name in [
        CheckName::Checkpoint,
        CheckName::EventList,
        CheckName::OneCheckpoint,
        CheckName::Query,
        CheckName::Complete,
        CheckName::Spreadsheet,
    ] {
        assert_eq!(outcome(&report, name), Outcome::Passed, "{name}");
    }
    assert_eq!(report.events().len(), 3);
    // The spreadsheet: a header and one row per product line, each naming its entry.
    let lines: Vec<&str> = export.fsma204.split("\r\n").collect();
    assert!(lines[0].starts_with("Traceability Lot Code,Product (GTIN),Quantity"));
    assert!(lines[1].starts_with(",10614141073464,1,EA,,Initial Packing,2024-03-01T08:00:00.000Z,+01:00,urn:epc:id:sgln:0614141.00777.0"), "{}", lines[1]);
    assert!(lines[1].ends_with(",2"), "{}", lines[1]);
    // The transformation: its input and its output, each a line.
    assert!(
        lines[3].starts_with(",10614141073464,1,EA,input,Transformation,"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with(",10614141073464,1,EA,output,Transformation,"),
        "{}",
        lines[4]
    );
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[5], "");
}

#[test]
fn an_export_with_any_event_left_out_fails_naming_it() {
    let scenario = scenario();
    let export = export_of(&scenario, ITEM_QUERY, 10);
    for position in 0..export.events.len() {
        let mut trimmed = export.clone();
        let removed = trimmed.events.remove(position);
        let leaf = removed.inclusion.leaf_index();
        // Even with the spreadsheet made again without it.
        trimmed.fsma204 = spreadsheet_of(&trimmed, &query(ITEM_QUERY));
        let report = verify_export(&trimmed, &trusted(&scenario));
        failed_with(
            &report,
            CheckName::Complete,
            &format!(
                "the index lists entry {leaf} under https://id.gs1.org/01/10614141073464/21/2018, and the export does not carry it"
            ),
        );
    }
}

#[test]
fn an_altered_event_or_spreadsheet_fails() {
    let scenario = scenario();
    let export = export_of(&scenario, ITEM_QUERY, 10);
    let mut altered = export.clone();
    altered.events[0].event = altered.events[0]
        .event
        .replace("commissioning", "decommissioning");
    let report = verify_export(&altered, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Invalid);
    let event = &report.events()[0].report;
    assert!(
        matches!(
            event.outcome(CheckName::EventBytes),
            Some(Outcome::Failed(_))
        ),
        "{event:#?}"
    );
    // The spreadsheet no longer says what the (altered) event says either.
    failed_with(&report, CheckName::Spreadsheet, "line 2 differs");

    let mut sheet = export.clone();
    sheet.fsma204 = sheet.fsma204.replacen(",1,EA,", ",100,EA,", 1);
    failed_with(
        &verify_export(&sheet, &trusted(&scenario)),
        CheckName::Spreadsheet,
        "the FSMA 204 spreadsheet is not the one the matching events give: line 2 differs",
    );
    let mut dropped = export.clone();
    let cut = dropped
        .fsma204
        .trim_end_matches("\r\n")
        .rfind("\r\n")
        .unwrap();
    dropped.fsma204.truncate(cut + 2);
    failed_with(
        &verify_export(&dropped, &trusted(&scenario)),
        CheckName::Spreadsheet,
        "line 5 differs",
    );
    // Two events swapped: an export lists entries in log order.
    let mut swapped = export.clone();
    swapped.events.swap(0, 1);
    failed_with(
        &verify_export(&swapped, &trusted(&scenario)),
        CheckName::EventList,
        "in log order",
    );
}

#[test]
fn index_proofs_stripped_or_forged_fail_and_missing_ones_prove_nothing() {
    let scenario = scenario();
    let export = export_of(&scenario, ITEM_QUERY, 10);
    let mut stripped = export.clone();
    stripped.index = None;
    failed_with(
        &verify_export(&stripped, &trusted(&scenario)),
        CheckName::Complete,
        "the export carries none of its proofs: they were removed",
    );
    let mut forged = export.clone();
    let proof = &mut forged.index.as_mut().unwrap().proofs[0];
    let last = proof.len() - 1;
    proof[last] ^= 1;
    failed_with(
        &verify_export(&forged, &trusted(&scenario)),
        CheckName::Complete,
        "index proof 0",
    );
    let mut missing = export.clone();
    missing.index.as_mut().unwrap().proofs.clear();
    // As its writer signed it: the manifest holds, and completeness is not shown.
    missing.manifest = Some(signed(&missing, &export_key()));
    let report = verify_export(&missing, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    assert!(matches!(
        outcome(&report, CheckName::Complete),
        Outcome::Skipped(why) if why.contains("carries no index proof of every entry of https://id.gs1.org/01/10614141073464/21/2018")
    ));
}

#[test]
fn an_event_that_does_not_belong_or_a_query_changed_is_caught() {
    let scenario = scenario();
    let export = export_of(&scenario, ITEM_QUERY, 10);
    // The case's shipping: it does not name the item, and no proof lists it.
    let mut padded = export.clone();
    let shipping = scenario
        .bundle
        .events
        .iter()
        .find(|event| event.inclusion.leaf_index().get() == 5)
        .unwrap()
        .clone();
    padded.events.insert(2, shipping);
    failed_with(
        &verify_export(&padded, &trusted(&scenario)),
        CheckName::Complete,
        "event 2 (leaf 5) does not match the query and no index proof lists it",
    );
    // The query rewritten to the case's: the item's proof proves nothing of it.
    let mut requery = export.clone();
    requery.query = Some(vec![("MATCH_anyEPC".to_owned(), CASE.to_owned())]);
    let report = verify_export(&requery, &trusted(&scenario));
    assert_ne!(report.verdict(), Verdict::Valid, "{report:#?}");
    let mut unreadable = export.clone();
    unreadable.query = Some(vec![("MATCH_anyEPC".to_owned(), "not a uri".to_owned())]);
    failed_with(
        &verify_export(&unreadable, &trusted(&scenario)),
        CheckName::Query,
        "the export's query does not read",
    );
}

#[test]
fn a_place_and_day_is_complete_and_a_query_the_index_cannot_cover_says_so() {
    let scenario = scenario();
    let export = export_of(&scenario, PLACE_DAY_QUERY, 10);
    let report = verify_export(&export, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Valid, "{report:#?}");
    assert_eq!(report.matching(), 2);
    assert_eq!(export.events.len(), 2);
    let keys = export_keys(&query(PLACE_DAY_QUERY)).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].0,
        IndexKey::location_day("urn:epc:id:sgln:0614141.00777.0", 19783)
    );

    // Only a business step: any entry may match, and no key lists them all.
    let uncovered = export_of(&scenario, &[("EQ_bizStep", "retail_selling")], 10);
    let report = verify_export(&uncovered, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    assert_eq!(
        outcome(&report, CheckName::Complete),
        Outcome::Skipped(EXPORT_UNCOVERED.to_owned())
    );
    // The item whose history the sale is in, by the new item: not the asked one.
    assert!(export_keys(&query(&[("MATCH_epc", NEW_ITEM)])).is_some());
}

#[test]
fn an_index_behind_the_checkpoint_proves_only_up_to_its_size() {
    let scenario = scenario();
    let export = export_of(&scenario, ITEM_QUERY, 8);
    // Entry 8 (the sale) is past the index: the item's events are all before it.
    let report = verify_export(&export, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    assert!(matches!(
        outcome(&report, CheckName::Complete),
        Outcome::Skipped(why) if why.starts_with("complete up to entry 8 only")
    ));
    assert_eq!(report.complete_through(), None);
}

#[test]
fn the_manifest_says_who_made_the_export_and_any_change_or_another_key_fails_it() {
    let scenario = scenario();
    assert_eq!(
        export_key().verifier_key().to_string(),
        GOLDEN_EXPORT_KEY.trim()
    );
    let export = export_of(&scenario, ITEM_QUERY, 10);
    let report = verify_export(&export, &trusted(&scenario));
    assert_eq!(outcome(&report, CheckName::Manifest), Outcome::Passed);
    let key = export_key().verifier_key();
    assert_eq!(
        report.made_by(),
        Some(format!("{}+{} at 2026-11-25T12:00:00Z", key.name(), key.id()).as_str())
    );
    let manifest = export.manifest.as_deref().unwrap();
    assert!(manifest.starts_with("tagtrail.dev/export-manifest/v1\ncheckpoint "));
    assert!(manifest.contains("\nevents 3 "), "{manifest}");

    // Without the export key, or without a manifest: not checked, and said so.
    let report = verify_export(&export, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete);
    assert_eq!(
        outcome(&report, CheckName::Manifest),
        Outcome::Skipped(
            "no export key was given: the manifest's signature is not checked".to_owned()
        )
    );
    let mut bare = export.clone();
    bare.manifest = None;
    assert!(matches!(
        outcome(&verify_export(&bare, &trusted(&scenario)), CheckName::Manifest),
        Outcome::Skipped(why) if why.starts_with("the export carries no signed manifest")
    ));

    // Another key of the same name; the spreadsheet or the events changed after signing; a
    // manifest that says no time.
    let other = NoteSignerKey::from_seed(KeyName::parse("trace.test/exports").unwrap(), &[12; 32]);
    let mut forged = export.clone();
    forged.manifest = Some(signed(&forged, &other));
    failed_with(
        &verify_export(&forged, &trusted(&scenario)),
        CheckName::Manifest,
        "no trusted export key signed the manifest",
    );
    let mut sheet = export.clone();
    sheet.fsma204.push_str(",\r\n");
    failed_with(
        &verify_export(&sheet, &trusted(&scenario)),
        CheckName::Manifest,
        "the manifest's fsma204 line is not what the export holds",
    );
    let mut fewer = export.clone();
    fewer.events.pop();
    failed_with(
        &verify_export(&fewer, &trusted(&scenario)),
        CheckName::Manifest,
        "the manifest's events line is not what the export holds",
    );
    let mut timeless = export.clone();
    let text = manifest_text(&timeless, "yesterday");
    timeless.manifest = Some(Note::sign(&text, &[&export_key()]).unwrap().to_message());
    failed_with(
        &verify_export(&timeless, &trusted(&scenario)),
        CheckName::Manifest,
        "the manifest says no valid time it was made",
    );
}

// An export of a trace.

/// The export a writer makes of the trace from `start` over the scenario's log of 10 entries,
/// indexed whole, from `carried` of the log's events (all of them, for an honest writer): the
/// trace those events give with the registry of the parties, the index proofs of every key it
/// asked about, the entries they list that are carried, and the spreadsheet of the events read.
fn trace_export_of(
    scenario: &Scenario,
    start: &str,
    carried: &dyn Fn(u64) -> bool,
) -> ExportBundle {
    let (index, head, checkpoint) = indexed(scenario, 10);
    let events: Vec<ProvenanceEvent> = scenario
        .bundle
        .events
        .iter()
        .filter(|event| carried(event.inclusion.leaf_index().get()))
        .map(|event| ProvenanceEvent {
            why: Vec::new(),
            ..event.clone()
        })
        .collect();
    let mut traced = TracedExport {
        start: start.to_owned(),
        direction: "forward".to_owned(),
        from: None,
        until: None,
        graph: Value::Null,
        csv: String::new(),
    };
    let parties = scenario.trusted.parties().unwrap();
    let noted = trace_events(&events, &traced.request().unwrap(), parties).unwrap();
    let trace = noted.trace.unwrap();
    traced.graph = serde_json::to_value(&trace).unwrap();
    traced.csv = trace_csv(&trace);
    let mut proofs = Vec::new();
    for (key, _) in index_keys_of(&noted.asked).unwrap() {
        proofs.push(index.prove(&head, KeyRange::all(key)).unwrap().encode());
    }
    let read: Vec<&ProvenanceEvent> = events
        .iter()
        .filter(|event| noted.read.contains(&event.inclusion.leaf_index()))
        .collect();
    let fsma204 = fsma204_csv(&read);
    let mut export = ExportBundle {
        format: ExportFormat,
        version: ExportVersion::V1,
        query: None,
        trace: Some(traced),
        checkpoint,
        events,
        anchored: scenario.bundle.anchored.clone(),
        index: Some(IndexEvidence {
            head: head.encode(),
            proofs,
        }),
        fsma204,
        manifest: None,
    };
    export.manifest = Some(signed(&export, &export_key()));
    export
}

#[test]
fn a_trace_export_verifies_complete_and_names_any_event_left_out() {
    let scenario = scenario();
    let export = trace_export_of(&scenario, ITEM, &|_| true);
    let text = serde_json::to_string_pretty(&export).unwrap() + "\n";
    assert_eq!(text, GOLDEN_TRACE_EXPORT);
    let decoded: ExportBundle = serde_json::from_str(GOLDEN_TRACE_EXPORT).unwrap();
    assert_eq!(decoded, export);
    let traced = export.trace.as_ref().unwrap();
    // Forward from the item: the case it was packed and shipped in, the item it was made into.
    let nodes: Vec<&str> = traced.graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    for reached in [CASE, NEW_ITEM] {
        let id = ledger::trace::Subject::parse(reached).unwrap().id();
        assert!(nodes.contains(&id.as_str()), "{reached}: {nodes:?}");
    }
    let report = verify_export(&export, &trusted(&scenario));
    assert_eq!(report.verdict(), Verdict::Valid, "{report:#?}");
    for name in [
        CheckName::Trace,
        CheckName::Complete,
        CheckName::Spreadsheet,
        CheckName::Manifest,
    ] {
        assert_eq!(outcome(&report, name), Outcome::Passed, "{name}");
    }
    assert_eq!(report.complete_through(), Some(10));
    assert_eq!(report.matching(), export.events.len());
    // The manifest names the trace, not a query.
    let manifest = export.manifest.as_ref().unwrap();
    assert!(manifest.contains("\ntrace "), "{manifest}");
    assert!(!manifest.contains("\nquery "), "{manifest}");

    // Each event left out by a writer that makes the trace from what it keeps: the index
    // proofs name it.
    for left in export
        .events
        .iter()
        .map(|event| event.inclusion.leaf_index().get())
    {
        let trimmed = trace_export_of(&scenario, ITEM, &|leaf| leaf != left);
        let report = verify_export(&trimmed, &trusted(&scenario));
        failed_with(
            &report,
            CheckName::Complete,
            &format!("the index lists entry {left} under "),
        );
        assert_eq!(outcome(&report, CheckName::Trace), Outcome::Passed);
    }

    // Another start under the same trace: the graph no longer follows, nor does the manifest.
    let mut relabelled = export.clone();
    relabelled.trace.as_mut().unwrap().start = NEW_ITEM.to_owned();
    let report = verify_export(&relabelled, &trusted(&scenario));
    failed_with(
        &report,
        CheckName::Trace,
        "the export's trace is not the one its events give",
    );
    failed_with(
        &report,
        CheckName::Manifest,
        "the manifest's trace line is not what the export holds",
    );

    // Without the registry of the parties: not recomputed, so not shown complete.
    let unjudged = verify_export(&export, &TrustedKeys::new(scenario.trusted.log().clone()));
    assert_eq!(unjudged.verdict(), Verdict::Incomplete);
    assert_eq!(
        outcome(&unjudged, CheckName::Trace),
        Outcome::Skipped(TRACE_UNJUDGED.to_owned())
    );
    assert!(matches!(
        outcome(&unjudged, CheckName::Complete),
        Outcome::Skipped(_)
    ));

    // Neither a query nor a trace: nothing says what it answers.
    let mut neither = export.clone();
    neither.trace = None;
    failed_with(
        &verify_export(&neither, &trusted(&scenario)),
        CheckName::Query,
        "neither a query nor a trace",
    );
}
