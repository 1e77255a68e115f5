//! The C2SP tlog-tiles endpoints, checked by a client written from the specification alone: it
//! reads the checkpoint, fetches the hash tiles and entry bundles the checkpoint's tree needs,
//! hashes every entry into its leaf, recomputes the root by RFC 6962 and compares it with the
//! checkpoint's (whose signature the ledger's verifier checks).

use sha2::{Digest, Sha256};

use crate::common::{Pipeline, header, object};

/// `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` as the specification spells it: `N` in
/// groups of three digits, every group but the last prefixed with `x`.
fn tile_path(prefix: &str, index: u64, width: u64) -> String {
    let digits = index.to_string();
    let padded = format!("{index:0width$}", width = digits.len().div_ceil(3) * 3);
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .map(|group| std::str::from_utf8(group).unwrap())
        .collect();
    let mut path = format!("/log/tile/{prefix}/");
    for (i, group) in groups.iter().enumerate() {
        if i + 1 < groups.len() {
            path.push_str(&format!("x{group}/"));
        } else {
            path.push_str(group);
        }
    }
    if width < 256 {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

#[test]
fn tile_paths_are_spelled_as_the_specification_says() {
    assert_eq!(tile_path("0", 1_234_067, 256), "/log/tile/0/x001/x234/067");
    assert_eq!(tile_path("entries", 5, 17), "/log/tile/entries/005.p/17");
}

fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(entry);
    hasher.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// RFC 6962 §2.1 Merkle tree hash of the leaves.
fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|&b| b != b'=') {
        let value = ALPHABET.iter().position(|&a| a == byte).unwrap() as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// Captures 300 observations of 300 items, in three documents.
async fn capture_300(pipeline: &Pipeline) {
    for round in 0..3u32 {
        let events = (0..100u32)
            .map(|n| {
                let epc = format!("urn:epc:id:sgtin:0614141.812345.{}", round * 100 + n);
                object(n % 60, "OBSERVE", &[epc.as_str()], "storing")
            })
            .collect();
        pipeline.capture(events).await;
    }
}

/// Splits an entry bundle: each entry is a big-endian u16 length and that many bytes.
fn entries(bundle: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        out.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_client_rebuilds_the_checkpoint_root_from_the_tiles() {
    let pipeline = Pipeline::start(|_| {}).await;
    // 300 entries: one full tile and entry bundle, and a partial one of each.
    capture_300(&pipeline).await;
    let (status, headers, note) = pipeline.get_raw("/log/checkpoint").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let note = String::from_utf8(note).unwrap();
    // The checkpoint: origin, size, base64 root, blank line, signatures.
    let mut lines = note.lines();
    assert_eq!(lines.next(), Some("trace.test/log"));
    let size: u64 = lines.next().unwrap().parse().unwrap();
    let checkpoint_root = base64_decode(lines.next().unwrap());
    assert!(size >= 300, "{note}");
    // The signature, by the ledger's note verifier.
    let verified = pipeline.trusted_log().open_checkpoint(&note);
    assert!(verified.is_ok(), "{verified:?}");

    let mut leaves = Vec::new();
    let mut index = 0;
    while index * 256 < size {
        let width = (size - index * 256).min(256);
        let (status, headers, tile) = pipeline.get_raw(&tile_path("0", index, width)).await;
        assert_eq!(status, 200, "{}", tile_path("0", index, width));
        assert_eq!(
            header(&headers, "cache-control"),
            Some("public, max-age=604800, immutable")
        );
        assert_eq!(tile.len() as u64, 32 * width);
        let (status, _, bundle) = pipeline.get_raw(&tile_path("entries", index, width)).await;
        assert_eq!(status, 200);
        let bundle_entries = entries(&bundle);
        assert_eq!(bundle_entries.len() as u64, width);
        for (position, entry) in bundle_entries.iter().enumerate() {
            let leaf = leaf_hash(entry);
            assert_eq!(leaf.as_slice(), &tile[32 * position..32 * position + 32]);
            leaves.push(leaf);
        }
        index += 1;
    }
    assert_eq!(root(&leaves).as_slice(), checkpoint_root.as_slice());

    // Beyond the tree, and not a tile path.
    let (status, _, _) = pipeline.get_raw(&tile_path("0", 999, 256)).await;
    assert_eq!(status, 404);
    let (status, _, _) = pipeline.get_raw(&tile_path("entries", 999, 256)).await;
    assert_eq!(status, 404);
    let (status, body) = pipeline.get("/log/tile/0/1234").await;
    assert_eq!(status, 400, "{body}");
    pipeline.stop().await;
}

/// Every file under `dir`, as paths relative to it.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_files_are_what_the_service_serves() {
    let pipeline = Pipeline::start(|_| {}).await;
    let events = (0..260u32)
        .map(|n| {
            let epc = format!("urn:epc:id:sgtin:0614141.812345.{n}");
            object(n % 60, "OBSERVE", &[epc.as_str()], "storing")
        })
        .collect();
    pipeline.capture(events).await;
    let store = ledger_store::Writer::connect(pipeline.db.url()).unwrap();
    let dir = std::env::temp_dir().join(format!("trace-api-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = store.export_files(&dir).await.unwrap();
    assert!(report.size.get() >= 260);
    assert_eq!(report.kept, 0);
    let written = files(&dir);
    // The checkpoint, every hash tile of the tree (level 0: one full and one partial; level 1:
    // one partial) and both entry bundles.
    assert_eq!(
        written.len() as u64,
        1 + report.tiles + report.bundles,
        "{written:?}"
    );
    assert_eq!(report.bundles, 2);
    assert!(written.contains(&"tile/0/000".to_owned()), "{written:?}");
    assert!(
        !written.iter().any(|name| name.ends_with(".tmp")),
        "{written:?}"
    );
    for name in &written {
        let served = if name == "checkpoint" {
            pipeline.get_raw("/log/checkpoint").await
        } else {
            pipeline.get_raw(&format!("/log/{name}")).await
        };
        assert_eq!(served.0, 200, "{name}");
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            served.2,
            "{name} differs from what is served"
        );
    }
    // A second run keeps everything: the log did not grow.
    let again = store.export_files(&dir).await.unwrap();
    assert_eq!((again.tiles, again.bundles), (0, 0));
    assert_eq!(again.kept, report.tiles + report.bundles);
    std::fs::remove_dir_all(&dir).unwrap();
    pipeline.stop().await;
}

/// What an independent monitor (`ledger::index::monitor` over `capture_client::log::LogClient`,
/// what `tagtrail index-monitor` runs) finds reading the pipeline's log as anyone can.
async fn monitor(pipeline: &Pipeline) -> ledger::index::monitor::MonitorReport {
    let url = pipeline.trace.clone();
    let log = pipeline.trusted_log();
    tokio::task::spawn_blocking(move || {
        ledger::index::monitor::check(&mut capture_client::log::LogClient::new(&url), &log).unwrap()
    })
    .await
    .unwrap()
}

/// An independent monitor (`ledger::index::monitor` over `capture_client::log::LogClient`, what
/// `tagtrail index-monitor` runs) recomputes the verifiable index from what the service serves to
/// anyone and finds it is what the checkpoint commits to. Then the operator lies: a run's root is
/// changed in the database and a new checkpoint commits to it; the monitor names that run and its
/// first key, whose proof no longer verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_recomputes_the_index_from_what_the_log_serves_and_catches_a_lie() {
    use ledger::index::monitor::MonitorProblem;

    let pipeline = Pipeline::start(|_| {}).await;
    // 300 entries: a full entry bundle and a partial one.
    capture_300(&pipeline).await;
    pipeline.wait_for_index(300).await;
    let report = monitor(&pipeline).await;
    assert_eq!(report.problem, None, "{report:?}");
    assert!(
        report.size >= 300 && report.indexed == report.size,
        "{report:?}"
    );
    // Its EPC, its GTIN and its place on its day: three keys per event.
    assert_eq!(report.pairs, 3 * report.indexed);

    // The endpoints refuse what they do not serve, saying why.
    for (path, status) in [
        ("/log/index/00", 400),
        (&format!("/log/index/{}", "0".repeat(64)), 404),
        (&format!("/log/index/{}/epc:0011", "0".repeat(64)), 400),
        (
            &format!(
                "/log/index/{}/epc:0011223344556677?from=5&to=5",
                "0".repeat(64)
            ),
            400,
        ),
        (
            &format!("/log/index/{}/epc:0011223344556677", "0".repeat(64)),
            404,
        ),
        ("/log/entries/x001", 400),
        ("/log/entries/009", 404),
    ] {
        let (got, body) = pipeline.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{path}: {body}"
        );
    }
    // The events of the first bundle are the bytes its records commit to (checked by the monitor
    // above), served as a JSON array, immutable.
    let (status, headers, body) = pipeline.get_raw("/log/entries/000").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=604800, immutable")
    );
    let events: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert_eq!(events.len(), 256);

    // The operator changes the root of the first live run, and a checkpoint commits to it. A
    // merge of that run in between recomputes its root from its pages: then the lie is told again.
    let admin = pipeline.db.connect().await.unwrap();
    let mut size = 300;
    let report = loop {
        let tampered = admin
            .execute(
                "UPDATE index_runs SET root = '\\x0101010101010101010101010101010101010101010101010101010101010101'
                 WHERE run_id = (SELECT run_id FROM index_runs WHERE NOT retired ORDER BY first_leaf LIMIT 1)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(tampered, 1);
        let more = (0..5u32)
            .map(|n| {
                let epc = format!("urn:epc:id:sgtin:0614141.812345.{}", 1000 + size + n);
                object(n, "OBSERVE", &[epc.as_str()], "storing")
            })
            .collect();
        pipeline.capture(more).await;
        size += 5;
        pipeline.wait_for_index(u64::from(size)).await;
        let report = monitor(&pipeline).await;
        if report.problem.is_some() {
            break report;
        }
        assert!(size < 400, "the forged run was never committed: {report:?}");
    };
    let Some(MonitorProblem::Run {
        first: 0,
        key: Some(key),
        reason,
        ..
    }) = &report.problem
    else {
        panic!("the forged run is found: {report:?}")
    };
    assert!(
        reason.contains(&format!("the proof of key {key} does not verify")),
        "{reason}"
    );
    pipeline.stop().await;
}

/// A key proof is charged to its client's byte rate as an answer's events are: a client asking
/// for proofs again and again (varying `from`, which no cache holds) is answered `429
/// answer-bytes-spent` once they hold more than its rate has paid back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_proofs_are_charged_to_the_client_s_byte_rate() {
    let pipeline = Pipeline::start(|config| {
        config.limits.max_answer_bytes = 16 * 1024;
        config.limits.max_event_bytes = 1024;
        config.limits.answer_bytes_per_second = 1024;
        config.limits.rate_limited_delay = std::time::Duration::ZERO;
        config.limits.requests_per_second = 10_000;
        config.limits.burst = 10_000;
    })
    .await;
    capture_300(&pipeline).await;
    pipeline.wait_for_index(300).await;
    let (_, checkpoint) = pipeline.get_text("/log/checkpoint").await;
    let line = checkpoint
        .lines()
        .find(|line| line.starts_with("tagtrail-index "))
        .unwrap_or_else(|| panic!("no index line: {checkpoint}"));
    let root = ledger::Hash::parse_base64(line.split(' ').nth(2).unwrap())
        .unwrap()
        .to_hex();
    let key = ledger::index::IndexKey::epc("urn:epc:id:sgtin:0614141.812345.7");
    let mut answers = Vec::new();
    for from in 0..500u64 {
        let (status, _, body) = pipeline
            .get_raw(&format!("/log/index/{root}/{key}?from={from}"))
            .await;
        answers.push((status, body.len()));
        if status == 429 {
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                problem["type"],
                "https://tagtrail.dev/problems/answer-bytes-spent"
            );
            break;
        }
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    assert_eq!(answers.first().map(|(status, _)| *status), Some(200));
    assert_eq!(
        answers.last().map(|(status, _)| *status),
        Some(429),
        "{answers:?}"
    );
}

/// An event changed in the store behind the ledger's back (to other JSON, or to text that is not
/// JSON) is served by `/log/entries` as it is now stored, never parsed, for a monitor to name:
/// its check of the bytes against the entry's leaf record fails at that entry. The answer is
/// `no-store`, not immutable, and the changed entry is not kept by the reader either: once the
/// row is restored, the bundle is served as it was, immutable, and the monitor finds nothing.
/// The service counts the changed entry once (`trace_changed_events_served`), however often it
/// is asked for, until it is served as logged again: an alert fires while it is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_changed_in_the_store_is_served_as_stored_for_monitors_to_name() {
    use ledger::index::monitor::MonitorProblem;
    use ledger_store::testing::change_event_sql;

    const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
    const BUNDLE: &str = "/log/entries/000.p/3";
    let changes: [fn(&str) -> String; 2] = [
        |stored| format!("replace({stored}, 'commissioning', 'decommissioning')"),
        |_| "'not json'".to_owned(),
    ];
    for change in changes {
        let pipeline = Pipeline::start(|_| {}).await;
        pipeline
            .capture(vec![
                object(
                    0,
                    "OBSERVE",
                    &["urn:epc:id:sgtin:0614141.812345.1"],
                    "storing",
                ),
                object(1, "ADD", &[ITEM], "commissioning"),
                object(2, "OBSERVE", &[ITEM], "shipping"),
            ])
            .await;
        pipeline.wait_for_index(3).await;
        let admin = &pipeline.db.connect().await.unwrap();
        let stored = || async move {
            admin
                .query("SELECT event FROM events ORDER BY leaf_index", &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect::<Vec<String>>()
        };
        let captured = stored().await;
        assert_eq!(captured.len(), 3);
        let counted = || async {
            let (_, metrics) = pipeline.get_text("/metrics").await;
            metrics
                .lines()
                .find_map(|line| line.strip_prefix("trace_changed_events_served "))
                .map(str::to_owned)
        };
        assert_eq!(counted().await.as_deref(), Some("0"));
        let leaf = pipeline
            .tamper_with_commissioning(|leaf| change_event_sql(leaf, change))
            .await;
        let leaf = usize::try_from(leaf).unwrap();
        let changed = stored().await;
        assert_ne!(changed[leaf], captured[leaf]);

        let (status, headers, body) = pipeline.get_raw(BUNDLE).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
        let served: Vec<String> = serde_json::from_slice(&body).unwrap();
        assert_eq!(served, changed);
        match &monitor(&pipeline).await.problem {
            Some(MonitorProblem::Entry {
                leaf: named,
                reason,
            }) => {
                assert_eq!(*named, leaf as u64, "{reason}");
                assert!(reason.contains("its leaf record commits to"), "{reason}");
            }
            other => panic!("the changed entry is named: {other:?}"),
        }
        // Served twice (here and to the monitor), the changed entry is counted (and logged) once.
        assert_eq!(counted().await.as_deref(), Some("1"));
        pipeline.get_raw(BUNDLE).await;
        assert_eq!(counted().await.as_deref(), Some("1"));

        // Restored, the entry is served as logged again: nothing kept the changed text.
        let original = captured[leaf].replace('\'', "''");
        admin
            .batch_execute(&format!(
                "SET session_replication_role = replica; {}",
                change_event_sql(leaf as u64, |_| format!("'{original}'"))
            ))
            .await
            .unwrap();
        let (status, headers, body) = pipeline.get_raw(BUNDLE).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            header(&headers, "cache-control"),
            Some("public, max-age=604800, immutable")
        );
        let served: Vec<String> = serde_json::from_slice(&body).unwrap();
        assert_eq!(served, captured);
        let report = monitor(&pipeline).await;
        assert_eq!(report.problem, None, "{report:?}");
        assert_eq!(counted().await.as_deref(), Some("0"));
        pipeline.stop().await;
    }
}
