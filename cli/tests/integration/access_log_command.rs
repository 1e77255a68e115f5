//! `tagtrail access-log verify`: a grantee's listing of its access-log entries holds against the
//! access log's key, and one altered, relabelled or signed by another key does not.

use ledger::access_log::{AccessEntry, ENTRY_VERSION, ListedEntry, Listing};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::{KeyName, NoteSignerKey};
use ledger::tree::{MemoryTree, prove_inclusion};
use ledger::{Hash, LeafIndex};

use crate::run::{stdout_of, tagtrail_with_stdin, text};

const MINE: &str = "0123456789abcdef";
const THEIRS: &str = "fedcba9876543210";

/// An access log of four entries (the second another token's), signed by `key`, and `MINE`'s
/// listing of it, as JSON.
fn listing(key: &NoteSignerKey) -> Listing {
    let entries: Vec<AccessEntry> = (0..4u64)
        .map(|n| AccessEntry {
            access_log: ENTRY_VERSION,
            at: format!("2026-11-26T10:0{n}:00.000Z"),
            token: if n == 1 { THEIRS } else { MINE }.to_owned(),
            role: "regulator".to_owned(),
            sites: Vec::new(),
            method: "GET".to_owned(),
            target: format!("/events?EQ_bizStep=shipping&perPage={}", n + 1),
            body_sha256: None,
            answered: n * 10,
            as_of: 100,
            nonce: format!("{:032x}", n + 7),
        })
        .collect();
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(AccessEntry::leaf_hash)).unwrap();
    let note = Checkpoint::new(
        Origin::parse("cli.test/access").unwrap(),
        tree.size(),
        tree.root(),
    )
    .sign(&[key])
    .unwrap()
    .to_message();
    Listing {
        checkpoint: note,
        token: MINE.to_owned(),
        entries: entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.token == MINE)
            .map(|(index, entry)| ListedEntry {
                leaf_index: index as u64,
                entry: String::from_utf8(entry.to_bytes()).unwrap(),
                inclusion_proof: prove_inclusion(
                    &tree,
                    LeafIndex::new(index as u64).unwrap(),
                    tree.size(),
                )
                .unwrap()
                .hashes()
                .iter()
                .map(Hash::to_base64)
                .collect(),
            })
            .collect(),
        next_from: None,
    }
}

#[test]
fn a_listing_verifies_against_the_access_log_key_and_an_altered_one_fails() {
    let key = NoteSignerKey::from_seed(KeyName::parse("cli.test/access").unwrap(), &[5; 32]);
    let verifier = key.verifier_key().to_string();
    let good = listing(&key);
    let json = serde_json::to_vec(&good).unwrap();

    let output = tagtrail_with_stdin(&["access-log", "verify", "--key", &verifier, "-"], &json);
    let out = stdout_of(&output, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        "0 2026-11-26T10:00:00.000Z GET /events?EQ_bizStep=shipping&perPage=1 answered=0"
    );
    assert!(lines[2].starts_with("3 "), "{out}");
    assert_eq!(
        lines[3],
        format!("valid: 3 entries of token {MINE} in the access log's checkpoint of 4 entries")
    );

    // What was asked, rewritten: the proof fails (1).
    let mut altered = good.clone();
    altered.entries[1].entry = altered.entries[1].entry.replace("perPage=3", "perPage=9");
    let output = tagtrail_with_stdin(
        &["access-log", "verify", "--key", &verifier, "-"],
        &serde_json::to_vec(&altered).unwrap(),
    );
    let out = stdout_of(&output, 1);
    assert!(
        out.starts_with("FAILED: entry 2 is not in the access log's checkpoint"),
        "{out}"
    );
    // Another token's listing asked for; another key's checkpoint.
    let output = tagtrail_with_stdin(
        &[
            "access-log",
            "verify",
            "--key",
            &verifier,
            "--token",
            THEIRS,
            "-",
        ],
        &json,
    );
    assert!(stdout_of(&output, 1).contains(&format!("not {THEIRS}'s")));
    let stranger = NoteSignerKey::from_seed(KeyName::parse("cli.test/access").unwrap(), &[6; 32]);
    let output = tagtrail_with_stdin(
        &[
            "access-log",
            "verify",
            "--key",
            &stranger.verifier_key().to_string(),
            "-",
        ],
        &json,
    );
    assert!(stdout_of(&output, 1).contains("FAILED: the access log's checkpoint"));
    // Not a listing at all: a usage error (2), said on stderr.
    let output = tagtrail_with_stdin(&["access-log", "verify", "--key", &verifier, "-"], b"{}");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("is not an access-log listing"),
        "{}",
        text(&output.stderr)
    );
}
