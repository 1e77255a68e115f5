//! `tagtrail grant issue|list|revoke|request`, run as an operator and a grantee would run them:
//! keys from `tagtrail keygen`, the grant in the registry, requests signed by the grantee's key
//! against a trace-api that trusts the issuer's key; what each refuses, and that a refusal
//! changes nothing.

use std::sync::Arc;

use ledger::checkpoint::Origin;
use ledger::note::{KeyName, NoteSignerKey};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{Checkpointer, Sequencer, Writer};
use secrecy::SecretString;
use serde_json::Value;
use service_kit::http::HttpService as _;

use crate::run::{TempDir, on_database, stdout_of, tagtrail, text};

/// `tagtrail keygen --name NAME` into `dir`: the private key's path and the verifier key.
fn keygen(dir: &TempDir, name: &str) -> (String, String) {
    let private = dir.path(&format!("{name}.key"));
    let public = stdout_of(
        &tagtrail(&["keygen", "--name", name, "--private-key", &private]),
        0,
    );
    (private, public.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_is_issued_used_listed_and_revoked() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let run = on_database(&url);
    let dir = TempDir::new("grant-commands");
    let (issuer_key, issuer) = keygen(&dir, "grants.cli.test");
    let (grantee_key, _) = keygen(&dir, "auditor.cli.test");
    let (other_key, _) = keygen(&dir, "someone.else");
    let (access_key, _) = keygen(&dir, "access.cli.test");
    stdout_of(&run(&["site", "add", "--id", "depot-1"]), 0);
    // A log of a few events under a signed checkpoint, for the queries to be answered as of.
    let store = Writer::connect(db.url()).unwrap();
    let signer = NoteSignerKey::from_seed(KeyName::parse("cli.test/log").unwrap(), &[3; 32]);
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("cli.test/log").unwrap(),
        Arc::new(signer),
    );
    let sequencer = Sequencer::start(&store);
    sequencer
        .append(EventFactory::new("dock-door-1", 1).next_batch(10))
        .await
        .unwrap();
    checkpointer.sign_latest().await.unwrap();

    // Refusals first, each with its reason, and none leaves a grant behind.
    let grantee_pub = format!("{grantee_key}.pub");
    let issue = |extra: &[&str]| {
        let mut args = vec![
            "grant",
            "issue",
            "--issuer-key",
            &issuer_key,
            "--grantee",
            &grantee_pub,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (extra, reason) in [
        (
            vec!["--role", "partner", "--expires", "30d"],
            "a partner's grant names its sites",
        ),
        (
            vec![
                "--role",
                "regulator",
                "--site",
                "depot-1",
                "--expires",
                "30d",
            ],
            "a regulator's grant names no site",
        ),
        (
            vec!["--role", "owner", "--expires", "30d"],
            "Invalid role \"owner\"",
        ),
        (
            vec![
                "--role",
                "regulator",
                "--permission",
                "delete",
                "--expires",
                "30d",
            ],
            "Invalid permission \"delete\"",
        ),
        (
            vec!["--role", "partner", "--site", "depot-9", "--expires", "30d"],
            "depot-9",
        ),
        (
            vec!["--role", "regulator", "--expires", "0d"],
            "Invalid duration",
        ),
    ] {
        let output = issue(&extra);
        assert_ne!(output.status.code(), Some(0), "{extra:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(reason), "{extra:?}: {stderr}");
    }
    assert_eq!(stdout_of(&run(&["grant", "list"]), 0), "");
    let refused = run(&[
        "grant",
        "issue",
        "--issuer-key",
        &grantee_pub,
        "--grantee",
        &grantee_pub,
        "--role",
        "regulator",
        "--expires",
        "1d",
    ]);
    assert!(
        text(&refused.stderr).contains("is not a private key"),
        "{}",
        text(&refused.stderr)
    );

    // Issued: printed, written to --out, listed as active.
    let grant_file = dir.path("grant.txt");
    let printed = stdout_of(
        &issue(&[
            "--role",
            "partner",
            "--site",
            "depot-1",
            "--permission",
            "query",
            "--expires",
            "30d",
            "--label",
            "auditor 2026",
            "--out",
            &grant_file,
        ]),
        0,
    );
    assert_eq!(std::fs::read_to_string(&grant_file).unwrap(), printed);
    let id = printed
        .lines()
        .find_map(|line| line.strip_prefix("id "))
        .unwrap()
        .to_owned();
    assert!(
        printed.contains("\nrole partner\nsite depot-1\npermission query\n"),
        "{printed}"
    );
    let listed = stdout_of(&run(&["grant", "list"]), 0);
    assert!(
        listed.starts_with(&format!("{id}\tpartner\tdepot-1\tquery\tauditor.cli.test+")),
        "{listed}"
    );
    assert!(
        listed.trim_end().ends_with("\tactive\tauditor 2026"),
        "{listed}"
    );
    let again = issue(&[
        "--role",
        "regulator",
        "--expires",
        "1d",
        "--out",
        &grant_file,
    ]);
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );

    // A trace-api that trusts the issuer's key answers the grantee's signed requests.
    let reader_url = db
        .login_role("tagtrail_reader_grant_test", "tagtrail_reader")
        .await
        .unwrap();
    let access_url = db
        .login_role("tagtrail_access_grant_test", "tagtrail_access")
        .await
        .unwrap();
    let mut config = trace_api::Config::new(
        SecretString::from(reader_url),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    config.http.workers = Some(1);
    config.grants.keys = vec![issuer];
    config.access_log.url = Some(SecretString::from(access_url));
    config.access_log.signing_key = Some(access_key.into());
    config.access_log.origin = Some("access.cli.test".to_owned());
    let app = trace_api::Application::build(config).await.unwrap();
    let trace_url = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());

    let request = |key: &str, target: &str| {
        tagtrail(&[
            "grant",
            "request",
            "--grant",
            &grant_file,
            "--key",
            key,
            &format!("{trace_url}{target}"),
        ])
    };
    let answer: Value =
        serde_json::from_str(&stdout_of(&request(&grantee_key, "/events?perPage=5"), 0)).unwrap();
    assert_eq!(answer["type"], "EPCISQueryDocument", "{answer}");
    // Each request is signed anew: the same command twice is two answers.
    stdout_of(&request(&grantee_key, "/events?perPage=5"), 0);
    // Exports were not granted: trace-api's 403, exit 1.
    let export = dir.path("export.json");
    std::fs::write(&export, br#"{"query":{}}"#).unwrap();
    let output = tagtrail(&[
        "grant",
        "request",
        "--grant",
        &grant_file,
        "--key",
        &grantee_key,
        "--method",
        "POST",
        "--data",
        &export,
        &format!("{trace_url}/exports"),
    ]);
    let answer: Value = serde_json::from_str(&stdout_of(&output, 1)).unwrap();
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(
        text(&output.stderr).contains("403"),
        "{}",
        text(&output.stderr)
    );
    // Another key than the grantee's is refused before anything is sent.
    let output = request(&other_key, "/events");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("not the grant's grantee key"));

    // Revoked: listed so, and trace-api refuses the next request (401, exit 1).
    assert_eq!(
        stdout_of(&run(&["grant", "revoke", "--id", &id]), 0),
        format!("grant {id} revoked\n")
    );
    assert!(stdout_of(&run(&["grant", "list"]), 0).contains("\trevoked\t"));
    let answer: Value =
        serde_json::from_str(&stdout_of(&request(&grantee_key, "/events"), 1)).unwrap();
    assert_eq!(answer["status"], 401, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("revoked"),
        "{answer}"
    );
    let unknown = run(&["grant", "revoke", "--id", "00000000deadbeef"]);
    assert_ne!(unknown.status.code(), Some(0));

    handle.stop(true).await;
    server.await.unwrap().unwrap();
}
