//! Conformance of the capture interface to the official EPCIS 2.0 REST binding: schemathesis
//! (from PyPI, in the virtual environment `scripts/services` creates) generates requests for the
//! capture operations of `testdata/gs1-epcis/rest-bindings/openapi.json` and checks every answer
//! against the document: status codes, content types, headers and response schemas, that valid
//! data is accepted and invalid data refused, and that no answer is a server error. The test site
//! owns one location, and the hooks (`tests/conformance/hooks.py`) put it in every generated
//! event, so that the validator, not the location check, answers.

use service_kit::testing::{Schemathesis, workspace_path};

use crate::common::TestApp;

const HERE: &str = "urn:epc:id:sgln:0614141.00777.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_operations_conform_to_the_official_openapi_document() {
    let mut app = TestApp::spawn().await;
    let site = app.site("conformance", &[HERE]).await;
    let token = app.token(&site).await;
    let spec = workspace_path(&["testdata", "gs1-epcis", "rest-bindings", "openapi.json"]);
    let conformance = workspace_path(&["ingest", "tests", "conformance"]);
    let report = Schemathesis::run(
        &conformance.join("schemathesis.toml"),
        &spec.to_string_lossy(),
    )
    .unwrap()
    .args([
        "--url",
        &app.address,
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
    ])
    .hooks(&conformance.join("hooks.py"))
    .env("TAGTRAIL_CONFORMANCE_LOCATION", HERE)
    .finish()
    .await
    .unwrap();
    assert!(report.passed, "schemathesis failed:\n{}", report.text);
    // It tested every capture operation (none skipped), with many generated cases.
    assert!(report.tested_every_operation(5), "{}", report.text);
    app.stop().await;
}
