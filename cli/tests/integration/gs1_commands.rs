//! The `tagtrail` binary's GS1 commands, run as a user would run them.
#![allow(clippy::expect_used)] // a failed expect is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::run::tagtrail_with_stdin;

fn tagtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagtrail"))
        .args(args)
        .output()
        .expect("the tagtrail binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn vectors_with_jsonld_input() -> Vec<PathBuf> {
    let dir = testdata().join("event-hash/examples");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the vector directory exists")
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonld"))
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 20,
        "expected the GS1 event-hash vectors in {}",
        dir.display()
    );
    inputs
}

#[test]
fn epcis_hash_prints_the_reference_hash_of_every_vector_event() {
    for input in vectors_with_jsonld_input() {
        let output = tagtrail(&["epcis", "hash", input.to_str().expect("UTF-8 path")]);
        assert!(
            output.status.success(),
            "{}: {}",
            input.display(),
            stderr(&output)
        );
        let expected =
            std::fs::read_to_string(input.with_extension("hashes")).expect("a .hashes file");
        let expected: Vec<&str> = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let actual = stdout(&output);
        let actual: Vec<&str> = actual.lines().collect();
        assert_eq!(actual, expected, "hashes of {}", input.display());
    }
}

#[test]
fn epcis_hash_with_prehash_prints_the_reference_prehash_strings() {
    let input = testdata().join("event-hash/examples/epcisDocWithSingleEvent.jsonld");
    let output = tagtrail(&[
        "epcis",
        "hash",
        "--prehash",
        input.to_str().expect("UTF-8 path"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected =
        std::fs::read_to_string(input.with_extension("prehashes")).expect("a .prehashes file");
    // The reference file may break one pre-hash string over several lines; the command prints
    // each event's string on one line.
    assert_eq!(
        stdout(&output).replace('\n', ""),
        expected.replace(['\n', '\r'], "")
    );
}

#[test]
fn epcis_hash_reads_standard_input_for_a_dash() {
    let input = testdata().join("event-hash/examples/epcisDocWithSingleEvent.jsonld");
    let document = std::fs::read(&input).expect("the vector exists");
    let output = tagtrail_with_stdin(&["epcis", "hash", "-"], &document);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = std::fs::read_to_string(input.with_extension("hashes")).expect("a .hashes file");
    assert_eq!(stdout(&output).trim(), expected.trim());
}

#[test]
fn epcis_hash_of_a_file_that_is_not_json_fails_with_the_file_named() {
    let output = tagtrail_with_stdin(&["epcis", "hash", "-"], b"{ not json");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("- is not a JSON document"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn epcis_validate_accepts_every_official_example() {
    let dir = testdata().join("gs1-epcis/examples");
    let mut files = Vec::new();
    for entry in walk(&dir) {
        if entry.extension().is_some_and(|ext| ext == "jsonld") {
            files.push(entry.to_str().expect("UTF-8 path").to_owned());
        }
    }
    assert!(
        files.len() >= 40,
        "expected the GS1 examples, found {}",
        files.len()
    );
    let mut args = vec!["epcis", "validate"];
    args.extend(files.iter().map(String::as_str));
    let output = tagtrail(&args);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn epcis_validate_lists_each_problem_with_its_pointer_and_exits_1() {
    let document =
        br#"{"@context":"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z",
        "epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z",
        "eventTimeZoneOffset":"+01:00","epcList":[],"action":"SHIP"}]}}"#;
    let output = tagtrail_with_stdin(&["epcis", "validate", "-"], document);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.lines().all(|line| line.starts_with("-: ")), "{text}");
    assert!(text.contains("/epcisBody/eventList/0/action"), "{text}");
}

#[test]
fn epc_decode_prints_the_three_forms_of_the_tds_example() {
    let output = tagtrail(&["epc", "decode", "3074257BF7194E4000001A85"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "urn:epc:id:sgtin:0614141.812345.6789\n\
         urn:epc:tag:sgtin-96:3.0614141.812345.6789\n\
         https://id.gs1.org/01/80614141123458/21/6789\n\n"
    );
}

#[test]
fn epc_decode_json_has_the_documented_keys_and_reports_bad_input() {
    let output = tagtrail(&[
        "epc",
        "decode",
        "--json",
        "3074257bf7194e4000001a85",
        "FF00",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let object: serde_json::Value = serde_json::from_str(lines[0]).expect("one JSON object");
    assert_eq!(object["hex"], "3074257BF7194E4000001A85");
    assert_eq!(object["scheme"], "sgtin-96");
    assert_eq!(object["filter"], 3);
    assert_eq!(object["idUri"], "urn:epc:id:sgtin:0614141.812345.6789");
    assert_eq!(
        object["tagUri"],
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    );
    assert_eq!(
        object["digitalLink"],
        "https://id.gs1.org/01/80614141123458/21/6789"
    );
    assert!(stderr(&output).contains("FF00"), "{}", stderr(&output));
}

#[test]
fn epc_encode_takes_a_tag_uri_or_a_pure_identity_uri_with_scheme_and_filter() {
    let output = tagtrail(&[
        "epc",
        "encode",
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "3074257BF7194E4000001A85\n");

    let output = tagtrail(&[
        "epc",
        "encode",
        "urn:epc:id:sgtin:0614141.812345.6789",
        "--scheme",
        "sgtin-96",
        "--filter",
        "3",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "3074257BF7194E4000001A85\n");
}

#[test]
fn epc_encode_rejects_an_unknown_scheme_and_a_serial_too_large_for_96_bits() {
    let output = tagtrail(&[
        "epc",
        "encode",
        "urn:epc:id:sgtin:0614141.812345.6789",
        "--scheme",
        "sgtin-97",
        "--filter",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown scheme \"sgtin-97\""),
        "{}",
        stderr(&output)
    );

    let output = tagtrail(&[
        "epc",
        "encode",
        "urn:epc:tag:sgtin-96:3.0614141.812345.999999999999",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).is_empty());
    assert_eq!(stdout(&output), "");
}

#[test]
fn dl_converts_both_ways() {
    let output = tagtrail(&["dl", "from-urn", "urn:epc:id:sgtin:0614141.107346.2017"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "https://id.gs1.org/01/10614141073464/21/2017\n"
    );

    let output = tagtrail(&[
        "dl",
        "to-urn",
        "--company-prefix-length",
        "7",
        "https://example.com/01/10614141073464/21/2017",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "urn:epc:id:sgtin:0614141.107346.2017\n");
}

#[test]
fn dl_writes_and_reads_the_compressed_form() {
    let output = tagtrail(&[
        "dl",
        "from-urn",
        "--compressed",
        "urn:epc:id:sgtin:0614141.107346.2017",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "https://id.gs1.org/DBNOmDdwcAg_C\n");

    let output = tagtrail(&[
        "dl",
        "to-urn",
        "-p",
        "7",
        "https://id.gs1.org/DBNOmDdwcAg_C",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "urn:epc:id:sgtin:0614141.107346.2017\n");

    let uncompressed = "https://example.com/01/09506000134352/10/AB-123?17=261231";
    let output = tagtrail(&["dl", "compress", uncompressed]);
    assert!(output.status.success(), "{}", stderr(&output));
    let compressed = stdout(&output);
    assert_eq!(compressed, "https://example.com/CxFKk4XBoMwAP2u24uf43g\n");
    let output = tagtrail(&["dl", "decompress", compressed.trim_end()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{uncompressed}\n"));
}

#[test]
fn dl_names_what_is_wrong_with_a_compressed_link() {
    let output = tagtrail(&["dl", "decompress", "https://id.gs1.org/ARHKVAdp"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("ends inside an element"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn dl_to_urn_asks_for_the_company_prefix_length_instead_of_guessing() {
    let output = tagtrail(&[
        "dl",
        "to-urn",
        "https://id.gs1.org/01/10614141073464/21/2017",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--company-prefix-length"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn dl_rejects_a_bad_check_digit() {
    let output = tagtrail(&[
        "dl",
        "to-urn",
        "-p",
        "7",
        "https://id.gs1.org/01/10614141073465/21/2017",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).to_lowercase().contains("check digit"),
        "{}",
        stderr(&output)
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a readable entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
