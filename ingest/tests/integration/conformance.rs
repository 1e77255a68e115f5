//! Conformance of the capture interface to the official EPCIS 2.0 REST binding: schemathesis
//! (from PyPI, in the virtual environment `scripts/services` creates) generates requests for the
//! capture operations of `testdata/gs1-epcis/rest-bindings/openapi.json` and checks every answer
//! against the document: status codes, content types, headers and response schemas, that valid
//! data is accepted and invalid data refused, and that no answer is a server error. The test site
//! owns one location, and the hooks (`tests/conformance/hooks.py`) put it in every generated
//! event, so that the validator, not the location check, answers.

use std::path::PathBuf;
use std::process::Command;

use crate::common::TestApp;

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";

fn repository_path(parts: &[&str]) -> String {
    let mut path: PathBuf = [env!("CARGO_MANIFEST_DIR"), ".."].iter().collect();
    path.extend(parts);
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_operations_conform_to_the_official_openapi_document() {
    let schemathesis = std::env::var("TAGTRAIL_SCHEMATHESIS").expect(
        "TAGTRAIL_SCHEMATHESIS names the schemathesis executable: run scripts/services, which \
         installs it into a virtual environment, and load its settings",
    );
    let mut app = TestApp::spawn().await;
    let site = app.site("conformance", &[HERE]).await;
    let token = app.token(&site).await;
    let spec = repository_path(&["testdata", "gs1-epcis", "rest-bindings", "openapi.json"]);
    let hooks = repository_path(&["ingest", "tests", "conformance", "hooks.py"]);
    let config = repository_path(&["ingest", "tests", "conformance", "schemathesis.toml"]);
    let address = app.address.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&schemathesis)
            .args([
                "--config-file",
                &config,
                "run",
                &spec,
                "--url",
                &address,
                "--include-path-regex",
                "^/capture",
                "--header",
                &format!("Authorization: Bearer {token}"),
                "--checks",
                "all",
                "--max-examples",
                "25",
                "--seed",
                "20261123",
                "--workers",
                "1",
                "--no-color",
            ])
            .env("SCHEMATHESIS_HOOKS", &hooks)
            .env("TAGTRAIL_CONFORMANCE_LOCATION", HERE)
            .output()
            .unwrap_or_else(|error| panic!("failed to run {schemathesis}: {error}"))
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "schemathesis failed:\n{report}");
    // It tested every capture operation (none skipped), with many generated cases.
    assert!(
        report.contains("Selected: 5/")
            && report.contains("Tested: 5")
            && !report.contains("Skipped:"),
        "{report}"
    );
    assert!(report.contains(" passed"), "{report}");
    app.stop().await;
}
