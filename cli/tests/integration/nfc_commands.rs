//! `tagtrail nfc`: a key file written private and rotated, tags registered (and re-registered only
//! under a newer key version), refusals that change nothing, and tap URLs that verify under the
//! key file as trace-api checks them.

use std::os::unix::fs::PermissionsExt as _;

use ledger::nfc::{Keys, Sun, Uid};
use ledger_store::testing::TestDatabase;

use crate::run::{on_database, stdout_of, tagtrail, text};

const UID: &str = "04DE5F1EACC040";
const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
const LINK: &str = "https://id.gs1.org/01/80614141123458/21/6789";

/// The tap in a URL `tagtrail nfc tap` printed, checked with the key file at `keys`.
fn verified(url: &str, keys: &std::path::Path) -> ledger::nfc::Tap {
    let keys = Keys::parse(&std::fs::read_to_string(keys).unwrap()).unwrap();
    let (_, query) = url.trim_end().split_once('?').unwrap();
    let sun = Sun::from_query(query).unwrap().unwrap();
    keys.verify(&sun).unwrap()
}

#[test]
fn keys_are_written_private_and_rotated_and_taps_verify_under_them() {
    let dir = std::env::temp_dir().join(format!("tagtrail-nfc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("nfc-keys.json");
    let second = dir.join("nfc-keys-2.json");
    let first_arg = first.to_str().unwrap();
    let second_arg = second.to_str().unwrap();
    assert_eq!(
        stdout_of(&tagtrail(&["nfc", "keygen", "--out", first_arg]), 0),
        format!("wrote {first_arg} with key version 1 (new tags are programmed with it)\n")
    );
    let mode = std::fs::metadata(&first).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Never overwritten.
    let again = tagtrail(&["nfc", "keygen", "--out", first_arg]);
    assert_ne!(again.status.code(), Some(0));
    stdout_of(
        &tagtrail(&["nfc", "keygen", "--from", first_arg, "--out", second_arg]),
        0,
    );
    let rotated = Keys::parse(&std::fs::read_to_string(&second).unwrap()).unwrap();
    assert_eq!(
        rotated
            .versions()
            .iter()
            .map(|version| version.version)
            .collect::<Vec<_>>(),
        [1, 2]
    );

    let url = "https://example.com/01/80614141123458/21/6789";
    let tap = stdout_of(
        &tagtrail(&[
            "nfc",
            "tap",
            url,
            "--keys",
            second_arg,
            "--uid",
            UID,
            "--counter",
            "7",
        ]),
        0,
    );
    assert!(tap.starts_with(&format!("{url}?picc_data=")), "{tap}");
    let checked = verified(&tap, &second);
    assert_eq!(
        (checked.uid, checked.counter, checked.version),
        (Uid::parse(UID).unwrap(), 7, 2)
    );
    // Version 1's keys, the short form, after a query string the link already has.
    let tap = stdout_of(
        &tagtrail(&[
            "nfc",
            "tap",
            &format!("{url}?lang=en"),
            "--keys",
            second_arg,
            "--uid",
            UID,
            "--counter",
            "8",
            "--key-version",
            "1",
            "--short",
        ]),
        0,
    );
    assert!(tap.starts_with(&format!("{url}?lang=en&e=")), "{tap}");
    assert_eq!(verified(&tap, &first).version, 1);

    for (args, reason) in [
        (
            vec!["--uid", "04DE5F", "--counter", "1"],
            "is not a tag UID",
        ),
        (
            vec!["--uid", UID, "--counter", "16777216"],
            "at most 16777215",
        ),
        (
            vec!["--uid", UID, "--counter", "1", "--key-version", "3"],
            "no key version 3",
        ),
    ] {
        let mut all = vec!["nfc", "tap", url, "--keys", second_arg];
        all.extend(args);
        let output = tagtrail(&all);
        assert_eq!(output.status.code(), Some(2), "{all:?}");
        assert!(
            text(&output.stderr).contains(reason),
            "{}",
            text(&output.stderr)
        );
    }
    // A key file that is not one names what is wrong and shows no key.
    std::fs::write(
        dir.join("bad.json"),
        r#"{"algorithm": "ntag424-sun", "versions": []}"#,
    )
    .unwrap();
    let output = tagtrail(&[
        "nfc",
        "tap",
        url,
        "--keys",
        dir.join("bad.json").to_str().unwrap(),
        "--uid",
        UID,
        "--counter",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no key version"),
        "{}",
        text(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_registered_once_per_key_version() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let run = on_database(&url);
    let register = |item: &str, version: &str| {
        run(&[
            "nfc",
            "register",
            "--uid",
            UID,
            "--item",
            item,
            "--key-version",
            version,
        ])
    };
    assert_eq!(
        stdout_of(&register(ITEM, "1"), 0),
        format!("tag {UID} registered for {LINK} under key version 1\n")
    );
    // The Digital Link spelling is the same item.
    assert_eq!(
        stdout_of(&register(LINK, "1"), 0),
        format!("tag {UID} was registered for {LINK} under key version 1 already\n")
    );
    let list = || stdout_of(&run(&["nfc", "list"]), 0);
    assert_eq!(
        list(),
        format!("{UID}\t{LINK}\tversion 1\tlast counter -\n")
    );

    for (item, version, reason) in [
        (
            "https://id.gs1.org/01/80614141123458/21/6790",
            "1",
            "a re-programmed tag is registered under a newer key version than 1",
        ),
        (
            ITEM,
            "0",
            "a re-programmed tag is registered under a newer key version than 1",
        ),
        (
            "urn:epc:id:sgtin:0614141.812345",
            "2",
            "not an item identifier",
        ),
        (
            "urn:epc:id:sgln:0614141.00777.0",
            "2",
            "is not an item a tag can be attached to",
        ),
    ] {
        let output = register(item, version);
        assert_eq!(output.status.code(), Some(2), "{item} {version}");
        assert!(
            text(&output.stderr).contains(reason),
            "{item}: {}",
            text(&output.stderr)
        );
    }
    let output = run(&[
        "nfc",
        "register",
        "--uid",
        "nothex",
        "--item",
        ITEM,
        "--key-version",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("is not a tag UID"));
    assert_eq!(
        list(),
        format!("{UID}\t{LINK}\tversion 1\tlast counter -\n")
    );

    assert_eq!(
        stdout_of(&register(ITEM, "2"), 0),
        format!(
            "tag {UID} registered for {LINK} under key version 2 (was 1): its counter starts again\n"
        )
    );
    assert_eq!(
        list(),
        format!("{UID}\t{LINK}\tversion 2\tlast counter -\n")
    );
}
