#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::hash::{Hash, leaf_hash};
use crate::tree::MemoryTree;

fn event(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("the tests write objects"),
    }
}

fn key_of(kind: KeyKind, n: u8) -> IndexKey {
    IndexKey::of_name(kind, &[n])
}

/// An index of `entries` (keys by entry), cut into runs at `cuts`.
fn index_of(entries: &[Vec<IndexKey>], cuts: &[usize]) -> MemoryIndex {
    let mut index = MemoryIndex::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([&entries.len()]) {
        if cut > start && cut <= entries.len() {
            index.push_entries(&entries[start..cut]);
            start = cut;
        }
    }
    index
}

fn brute_force(entries: &[Vec<IndexKey>], range: &KeyRange) -> Vec<u64> {
    entries
        .iter()
        .enumerate()
        .filter(|(leaf, keys)| {
            keys.contains(&range.key) && (range.from..range.to).contains(&(*leaf as u64))
        })
        .map(|(leaf, _)| leaf as u64)
        .collect()
}

#[test]
fn the_frontier_gives_the_rfc6962_root_of_any_number_of_leaves() {
    for size in 0..70u32 {
        let leaves: Vec<Hash> = (0..size).map(|n| leaf_hash(&n.to_be_bytes())).collect();
        let mut frontier = Frontier::new();
        for leaf in &leaves {
            frontier.push(*leaf);
        }
        let tree = MemoryTree::from_leaf_hashes(leaves).unwrap();
        assert_eq!(frontier.root(), tree.root(), "{size} leaves");
        assert_eq!(frontier.leaves(), u64::from(size));
    }
}

#[test]
fn a_range_proof_gives_the_root_from_any_range_of_leaves_and_nothing_else() {
    for size in 1..34u64 {
        let leaves: Vec<Hash> = (0..size).map(|n| leaf_hash(&n.to_be_bytes())).collect();
        let tree = MemoryTree::from_leaf_hashes(leaves.clone()).unwrap();
        let node = |level: u32, index: u64| -> Result<Hash, ()> {
            let node = crate::tree::NodeId::new(level as u8, index).unwrap();
            tree.node(node).ok_or(())
        };
        let log2 = 64 - (size - 1).leading_zeros() as usize;
        for lo in 0..size {
            for hi in lo + 1..=size {
                let spans = range_proof_spans(size, lo, hi);
                assert!(spans.len() <= 2 * log2, "{size} {lo}..{hi}: {spans:?}");
                let proof: Vec<Hash> = spans
                    .iter()
                    .map(|&(start, end)| span_hash(start, end, &mut node.clone()).unwrap())
                    .collect();
                let range = &leaves[lo as usize..hi as usize];
                assert_eq!(
                    root_from_range(size, lo, hi, range, &proof).unwrap(),
                    tree.root(),
                    "{size} {lo}..{hi}"
                );
                if let Some(first) = proof.first() {
                    let mut bent = proof.clone();
                    bent[0] = leaf_hash(first.as_bytes());
                    assert_ne!(
                        root_from_range(size, lo, hi, range, &bent).unwrap(),
                        tree.root()
                    );
                    assert_eq!(
                        root_from_range(size, lo, hi, range, &proof[1..]),
                        Err(RangeProofError::HashCount {
                            given: proof.len() - 1,
                            wanted: proof.len()
                        })
                    );
                }
                if hi < size {
                    // The same leaves claimed one position later give another root.
                    let moved = range_proof_spans(size, lo + 1, hi + 1);
                    if moved.len() == proof.len() {
                        assert_ne!(
                            root_from_range(size, lo + 1, hi + 1, range, &proof).unwrap(),
                            tree.root()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_run_root_is_the_tree_of_its_chunks() {
    let pairs: Vec<Pair> = (0..21)
        .map(|leaf| Pair::new(key_of(KeyKind::Epc, 1), leaf))
        .collect();
    let chunks: Vec<Hash> = pairs.chunks(CHUNK_PAIRS).map(chunk_hash).collect();
    assert_eq!(chunks.len(), 3);
    let expected = MemoryTree::from_leaf_hashes(chunks).unwrap().root();
    assert_eq!(run_root(&pairs), expected);
    assert_eq!(MemoryRun::new(0, 21, pairs).head().root, *expected.hash());
    assert_eq!(run_root(&[]), crate::RootHash::empty());
    assert_eq!(chunk_count(0), 0);
    assert_eq!(chunk_count(8), 1);
    assert_eq!(chunk_count(9), 2);
    assert_eq!(chunk_len(21, 2), 5);
    assert_eq!(chunk_len(21, 3), 0);
}

#[test]
fn pairs_read_back_as_written_and_order_as_their_bytes() {
    let a = Pair::new(key_of(KeyKind::Epc, 1), 7);
    let b = Pair::new(key_of(KeyKind::Epc, 1), 1 << 40);
    let c = Pair::new(key_of(KeyKind::Parent, 0), 0);
    for pair in [a, b, c] {
        assert_eq!(Pair::from_bytes(&pair.to_bytes()), Ok(pair));
    }
    let mut sorted = [c, b, a];
    sorted.sort();
    let mut by_bytes = [c, b, a];
    by_bytes.sort_by_key(Pair::to_bytes);
    assert_eq!(sorted, by_bytes);
    let mut bytes = a.to_bytes();
    bytes[0] = 9;
    assert_eq!(Pair::from_bytes(&bytes), Err(PairError::UnknownKind(9)));
    let mut bytes = a.to_bytes();
    bytes[9] = 0x80;
    assert!(matches!(
        Pair::from_bytes(&bytes),
        Err(PairError::BadLeaf(_))
    ));
}

#[test]
fn an_event_has_keys_for_its_epcs_container_classes_lots_and_places_by_day() {
    let keys = keys_of_event(&event(json!({
        "type": "AggregationEvent",
        "eventTime": "2026-03-01T23:30:00-02:00",
        "eventTimeZoneOffset": "-02:00",
        "parentID": "urn:epc:id:sscc:0614141.1234567890",
        "childEPCs": [
            "urn:epc:id:sgtin:0614141.107346.2017",
            "https://id.gs1.org/01/10614141073464/21/2017",
            "urn:epc:id:grai:0614141.12345.400"
        ],
        "childQuantityList": [
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200, "uom": "KGM"},
            {"epcClass": "https://example.com/classes/beans", "quantity": 3}
        ],
        "ilmd": {"cbvmda:lotNumber": "LOT-7"},
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
        "bizLocation": {"id": "https://id.gs1.org/414/0614141073467"}
    })));
    let day = day_of(1_772_415_000 * 1_000_000_000);
    assert_eq!(day, 20_514, "2026-03-02 in UTC");
    let mut expected = vec![
        IndexKey::epc("urn:epc:id:sscc:0614141.1234567890"),
        IndexKey::parent("urn:epc:id:sscc:0614141.1234567890"),
        IndexKey::epc("https://id.gs1.org/01/10614141073464/21/2017"),
        IndexKey::epc("urn:epc:id:grai:0614141.12345.400"),
        IndexKey::gtin("10614141073464").unwrap(),
        IndexKey::lot("10614141073464", "LOT-7").unwrap(),
        IndexKey::gtin("04012345123456").unwrap(),
        IndexKey::lot("04012345123456", "998877").unwrap(),
        IndexKey::class("urn:epc:class:lgtin:4012345.012345.998877"),
        IndexKey::other_class("https://example.com/classes/beans"),
        IndexKey::location_day("https://id.gs1.org/414/0614141073467", day),
        IndexKey::location_day("urn:epc:id:sgln:0614141.07346.1234", day),
    ];
    expected.sort();
    expected.dedup();
    assert_eq!(expected.len(), 11, "the class of an LGTIN is its GTIN's");
    assert_eq!(keys, expected);
    assert_eq!(
        IndexKey::epc("urn:epc:id:sgtin:0614141.107346.2017"),
        IndexKey::epc("https://example.com/01/10614141073464/21/2017?linkType=all"),
        "one item, whatever the spelling"
    );
    assert_ne!(
        IndexKey::location_day("urn:epc:id:sgln:0614141.07346.1234", day),
        IndexKey::location_day("urn:epc:id:sgln:0614141.07346.1234", day + 1)
    );
    assert_eq!(keys_of_json("[1]"), None);
    assert_eq!(
        keys_of_json(r#"{"epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]}"#).unwrap(),
        {
            let mut keys = vec![
                IndexKey::epc("urn:epc:id:sgtin:0614141.107346.2017"),
                IndexKey::gtin("10614141073464").unwrap(),
            ];
            keys.sort();
            keys
        }
    );
}

#[test]
fn the_keys_of_a_parsed_event_are_those_of_its_json_object() {
    let texts = [
        r#"{"type":"AggregationEvent","eventTime":"2026-03-01T23:30:00-02:00","parentID":"urn:epc:id:sscc:0614141.1234567890","childEPCs":["urn:epc:id:sgtin:0614141.107346.2017"],"childQuantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":2}],"action":"ADD","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"}}"#,
        r#"{"type":"ObjectEvent","eventTime":"2026-03-01T08:00:00Z","epcList":["urn:epc:id:sgtin:0614141.107346.2018"],"quantityList":[{"epcClass":"https://example.com/beans"}],"action":"ADD","ilmd":{"urn:epcglobal:cbv:mda:lotNumber":"L9"},"bizLocation":{"id":"https://id.gs1.org/414/0614141073467"}}"#,
        r#"{"type":"TransformationEvent","eventTime":"2026-03-01T08:00:00Z","inputEPCList":["urn:epc:id:sgtin:0614141.107346.2018"],"outputEPCList":["urn:epc:id:sgtin:0614141.107346.3000"],"inputQuantityList":[{"epcClass":"urn:epc:idpat:sgtin:4012345.012345.*","quantity":1}],"ilmd":{"cbvmda:lotNumber":"L10"}}"#,
    ];
    for text in texts {
        let parsed = epcis::document::Event::parse(text.as_bytes()).unwrap();
        let keys = keys_of_parsed(&parsed);
        assert!(keys.len() >= 4, "{keys:?}");
        assert_eq!(keys, keys_of_json(text).unwrap(), "{text}");
    }
}

#[test]
fn a_run_tree_builder_gives_the_run_root_and_keeps_its_upper_nodes() {
    for count in [0u64, 1, 7, 8, 9, 64, 255, 256, 257, 1000] {
        let pairs: Vec<Pair> = (0..count)
            .map(|leaf| Pair::new(key_of(KeyKind::Epc, (leaf % 5) as u8), leaf))
            .collect();
        let run = MemoryRun::new(0, count.max(1), pairs);
        let mut builder = RunTreeBuilder::new(2);
        let mut kept = Vec::new();
        for (at, pair) in run.pairs().iter().enumerate() {
            builder.push(*pair).unwrap();
            if at % 100 == 0 {
                kept.extend(builder.take_kept());
            }
        }
        let (pairs, root, rest) = builder.finish();
        kept.extend(rest);
        assert_eq!(pairs, count);
        assert_eq!(*root.hash(), run.head().root, "{count} pairs");
        let mut expected = Vec::new();
        for level in 2..12 {
            for index in 0.. {
                match run.node(level, index) {
                    Some(hash) => expected.push((level, index, hash)),
                    None => break,
                }
            }
        }
        kept.sort_by_key(|&(level, index, _)| (level, index));
        assert_eq!(kept, expected, "{count} pairs");
    }
    let mut builder = RunTreeBuilder::new(0);
    let pair = Pair::new(key_of(KeyKind::Epc, 1), 5);
    builder.push(pair).unwrap();
    assert_eq!(builder.push(pair), Err(Unsorted { before: pair, pair }));
}

#[test]
fn a_key_proof_lists_every_entry_of_the_key_in_every_run() {
    let item = key_of(KeyKind::Epc, 1);
    let other = key_of(KeyKind::Epc, 2);
    let place = key_of(KeyKind::LocationDay, 3);
    let entries: Vec<Vec<IndexKey>> = (0..100u64)
        .map(|leaf| match leaf % 7 {
            0 => vec![item, place],
            3 => vec![other],
            _ => vec![place],
        })
        .collect();
    let mut index = index_of(&entries, &[10, 11, 40, 64]);
    for merged in [false, true] {
        let head = index.head().unwrap();
        for range in [
            KeyRange::all(item),
            KeyRange::all(other),
            KeyRange::all(place),
            KeyRange::all(key_of(KeyKind::Lot, 9)),
            KeyRange {
                key: item,
                from: 14,
                to: 50,
            },
            KeyRange {
                key: place,
                from: 63,
                to: 65,
            },
        ] {
            let proof = index.prove(&head, range).unwrap();
            assert_eq!(KeyProof::decode(&proof.encode()).unwrap(), proof);
            assert_eq!(
                proof.verify(&head).unwrap(),
                brute_force(&entries, &range),
                "{range:?}, merged {merged}"
            );
        }
        index.merge(1, 4);
    }
    assert_eq!(index.runs().len(), 3);
}

#[test]
fn a_proof_with_an_entry_left_out_or_moved_fails() {
    let item = key_of(KeyKind::Epc, 1);
    let entries: Vec<Vec<IndexKey>> = (0..60u8)
        .map(|n| {
            let mut keys = vec![
                key_of(KeyKind::Epc, n % 11 + 2),
                key_of(KeyKind::Class, n % 3),
            ];
            if n % 2 == 0 {
                keys.push(item);
            }
            keys
        })
        .collect();
    let index = index_of(&entries, &[25]);
    let head = index.head().unwrap();
    let proof = index.prove(&head, KeyRange::all(item)).unwrap();
    assert_eq!(
        proof.verify(&head).unwrap(),
        brute_force(&entries, &KeyRange::all(item))
    );
    // Removing one of the key's pairs: the chunk no longer has its length.
    let mut trimmed = proof.clone();
    let at = trimmed.runs[1]
        .pairs
        .iter()
        .position(|pair| pair.key == item)
        .unwrap();
    trimmed.runs[1].pairs.remove(at);
    assert!(matches!(
        trimmed.verify(&head),
        Err(KeyProofError::Run {
            run: 1,
            why: RunProofError::PairCount { .. },
            ..
        })
    ));
    // Replacing it by another pair of the run: the root differs.
    let mut swapped = proof.clone();
    let replacement = Pair::new(key_of(KeyKind::Epc, 0), swapped.runs[1].pairs[at].leaf);
    swapped.runs[1].pairs[at] = replacement;
    swapped.runs[1].pairs.sort();
    assert!(matches!(
        swapped.verify(&head),
        Err(KeyProofError::Run {
            run: 1,
            why: RunProofError::RootMismatch { .. },
            ..
        })
    ));
    // A run's part left out, or another head.
    let mut short = proof.clone();
    short.runs.pop();
    assert_eq!(
        short.verify(&head),
        Err(KeyProofError::RunCount {
            given: 1,
            wanted: 2
        })
    );
    let other_head = index_of(&entries, &[30]).head().unwrap();
    assert!(proof.verify(&other_head).is_err());
    // Chunks that stop before the key's last pair (or start after its first), with the hashes
    // that prove exactly those chunks.
    let run = &index.runs()[1];
    let part = &proof.runs[1];
    assert!(
        part.hi - part.lo >= 3,
        "the key has pairs in several chunks: {part:?}"
    );
    let narrowed = |lo: u64, hi: u64| {
        let mut narrowed = proof.clone();
        narrowed.runs[1] = part_of(run, lo, hi);
        narrowed.verify(&head)
    };
    assert!(matches!(
        narrowed(part.lo, part.hi - 1),
        Err(KeyProofError::Run {
            run: 1,
            why: RunProofError::NoPairAbove { .. },
            ..
        })
    ));
    assert!(matches!(
        narrowed(part.lo + 1, part.hi),
        Err(KeyProofError::Run {
            run: 1,
            why: RunProofError::NoPairBelow(_),
            ..
        })
    ));
    // More chunks than needed: refused, so that a key has one proof.
    if part.lo > 0 {
        assert!(matches!(
            narrowed(part.lo - 1, part.hi),
            Err(KeyProofError::Run {
                run: 1,
                why: RunProofError::NotMinimal,
                ..
            })
        ));
    }
    assert_eq!(narrowed(part.lo, part.hi), proof.verify(&head));
}

/// Run `run`'s part giving chunks `lo..hi`, honestly proven.
fn part_of(run: &MemoryRun, lo: u64, hi: u64) -> RunProof {
    let chunks: Vec<Hash> = run.pairs().chunks(CHUNK_PAIRS).map(chunk_hash).collect();
    let count = chunks.len() as u64;
    let tree = MemoryTree::from_leaf_hashes(chunks).unwrap();
    let mut node = |level: u32, index: u64| {
        tree.node(crate::tree::NodeId::new(level as u8, index).unwrap())
            .ok_or(())
    };
    let end = (hi as usize * CHUNK_PAIRS).min(run.pairs().len());
    RunProof {
        lo,
        hi,
        pairs: run.pairs()[lo as usize * CHUNK_PAIRS..end].to_vec(),
        hashes: range_proof_spans(count, lo, hi)
            .into_iter()
            .map(|(start, end)| span_hash(start, end, &mut node).unwrap())
            .collect(),
    }
}

#[test]
fn a_run_without_pairs_has_the_empty_root_and_an_empty_part() {
    let entries = vec![vec![], vec![key_of(KeyKind::Epc, 1)]];
    let index = index_of(&entries, &[1]);
    let head = index.head().unwrap();
    assert_eq!(head.runs()[0].pairs, 0);
    assert_eq!(head.runs()[0].root, *crate::RootHash::empty().hash());
    let proof = index
        .prove(&head, KeyRange::all(key_of(KeyKind::Epc, 1)))
        .unwrap();
    assert_eq!(proof.verify(&head).unwrap(), vec![1]);
    let mut padded = proof.clone();
    padded.runs[0].lo = 1;
    assert!(matches!(
        padded.verify(&head),
        Err(KeyProofError::Run {
            run: 0,
            why: RunProofError::EmptyRunPart,
            ..
        })
    ));
}

#[test]
fn heads_read_back_as_written_and_refuse_every_other_shape() {
    let entries: Vec<Vec<IndexKey>> = (0..30u8)
        .map(|n| vec![key_of(KeyKind::Epc, n % 4)])
        .collect();
    let head = index_of(&entries, &[3, 17]).head().unwrap();
    let bytes = head.encode();
    assert_eq!(bytes.len(), 13 + 3 * 56);
    assert_eq!(IndexHead::decode(&bytes), Ok(head.clone()));
    assert_eq!(head.run_of(0), Some(0));
    assert_eq!(head.run_of(17), Some(2));
    assert_eq!(head.run_of(30), None);
    assert_eq!(IndexHead::decode(&[]), Err(HeadError::Empty));
    let mut other = bytes.clone();
    other[0] = 2;
    assert_eq!(IndexHead::decode(&other), Err(HeadError::UnknownVersion(2)));
    assert!(matches!(
        IndexHead::decode(&bytes[..bytes.len() - 1]),
        Err(HeadError::WrongLength { .. })
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        IndexHead::decode(&longer),
        Err(HeadError::WrongLength { .. })
    ));
    let mut gap = bytes.clone();
    gap[13 + 56 + 7] += 1; // the second run starts at 4 instead of 3
    assert!(matches!(
        IndexHead::decode(&gap),
        Err(HeadError::BadCover { run: 1, .. })
    ));
    let mut short = bytes.clone();
    short[8] += 1; // the size says 31 entries
    assert_eq!(
        IndexHead::decode(&short),
        Err(HeadError::ShortCover { end: 30, size: 31 })
    );
    let mut many = bytes;
    many[9..13].copy_from_slice(&5000u32.to_be_bytes());
    assert_eq!(IndexHead::decode(&many), Err(HeadError::TooManyRuns(5000)));
    assert_ne!(
        head.root(),
        index_of(&entries, &[4, 17]).head().unwrap().root()
    );
}

#[test]
fn key_proofs_refuse_bytes_that_are_not_one() {
    let entries: Vec<Vec<IndexKey>> = (0..30u8)
        .map(|n| vec![key_of(KeyKind::Epc, n % 4)])
        .collect();
    let index = index_of(&entries, &[3, 17]);
    let head = index.head().unwrap();
    let bytes = index
        .prove(&head, KeyRange::all(key_of(KeyKind::Epc, 1)))
        .unwrap()
        .encode();
    assert_eq!(KeyProof::decode(&[]), Err(KeyProofDecodeError::Empty));
    let mut other = bytes.clone();
    other[0] = 7;
    assert_eq!(
        KeyProof::decode(&other),
        Err(KeyProofDecodeError::UnknownVersion(7))
    );
    let mut kind = bytes.clone();
    kind[1] = 0;
    assert_eq!(
        KeyProof::decode(&kind),
        Err(KeyProofDecodeError::UnknownKind(0))
    );
    for cut in 1..bytes.len() {
        assert!(
            matches!(
                KeyProof::decode(&bytes[..cut]),
                Err(KeyProofDecodeError::Truncated(_))
            ),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0, 0]);
    assert_eq!(
        KeyProof::decode(&longer),
        Err(KeyProofDecodeError::TrailingBytes(2))
    );
    let mut runs = bytes.clone();
    runs[26..30].copy_from_slice(&2000u32.to_be_bytes());
    assert_eq!(
        KeyProof::decode(&runs),
        Err(KeyProofDecodeError::TooManyRuns(2000))
    );
    let mut hashes = bytes;
    hashes[30 + 20] = 200;
    assert!(matches!(
        KeyProof::decode(&hashes),
        Err(KeyProofDecodeError::TooManyHashes {
            run: 0,
            hashes: 200
        })
    ));
    let empty = KeyProof {
        range: KeyRange {
            key: key_of(KeyKind::Epc, 1),
            from: 5,
            to: 5,
        },
        runs: Vec::new(),
    };
    assert_eq!(
        empty.verify(&head),
        Err(KeyProofError::EmptyRange { from: 5, to: 5 })
    );
    assert_eq!(
        index.prove(
            &head,
            KeyRange {
                key: key_of(KeyKind::Epc, 1),
                from: 30,
                to: 5
            }
        ),
        Err(EmptyRange { from: 30, to: 5 }),
        "a range backwards is refused, not proven"
    );
    assert_eq!(IndexKey::gtin("0614141073467"), None, "13 digits");
    assert_eq!(IndexKey::lot("0950600013435", "2X"), None);
    assert_ne!(
        IndexKey::lot("09506000134352", "X"),
        IndexKey::lot("09506000134350", "2X")
    );
}

/// Entries (their keys), where runs are cut, and which runs are merged (start, count).
type ArbitraryIndex = (Vec<Vec<IndexKey>>, Vec<usize>, Vec<(usize, usize)>);

/// Entries with keys from a small set, cut into runs, some merged.
fn arbitrary_index() -> impl Strategy<Value = ArbitraryIndex> {
    let keys = prop::collection::vec((0u8..3, 0u8..6), 0..4).prop_map(|keys| {
        keys.into_iter()
            .map(|(kind, n)| key_of(KeyKind::ALL[usize::from(kind)], n))
            .collect::<Vec<_>>()
    });
    (
        prop::collection::vec(keys, 1..120),
        prop::collection::vec(1usize..120, 0..8),
        prop::collection::vec((0usize..6, 2usize..4), 0..3),
    )
}

proptest! {
    #[test]
    fn every_key_range_proves_exactly_the_entries_that_have_the_key(
        (entries, mut cuts, merges) in arbitrary_index(),
        kind in 0u8..3,
        n in 0u8..7,
        from in 0u64..130,
        len in 1u64..140,
    ) {
        cuts.sort_unstable();
        let mut index = index_of(&entries, &cuts);
        for (start, count) in merges {
            index.merge(start, start + count);
        }
        let head = index.head().unwrap();
        prop_assert_eq!(IndexHead::decode(&head.encode()).unwrap(), head.clone());
        let range = KeyRange { key: key_of(KeyKind::ALL[usize::from(kind)], n), from, to: from + len };
        let proof = index.prove(&head, range).unwrap();
        prop_assert_eq!(KeyProof::decode(&proof.encode()).unwrap(), proof.clone());
        prop_assert_eq!(proof.verify(&head).unwrap(), brute_force(&entries, &range));
        prop_assert_eq!(
            index.leaves(range.key),
            brute_force(&entries, &KeyRange::all(range.key))
        );
    }
}

#[test]
fn an_index_commitment_is_one_extension_line_with_one_spelling() {
    use crate::checkpoint::{Checkpoint, Origin};
    use crate::size::TreeSize;
    let entries: Vec<Vec<IndexKey>> = (0..9u8).map(|n| vec![key_of(KeyKind::Epc, n)]).collect();
    let head = index_of(&entries, &[4]).head().unwrap();
    let commitment = IndexCommitment::of_head(&head);
    let line = commitment.to_line();
    assert_eq!(
        line,
        format!("tagtrail-index 9 {}", head.root().to_base64())
    );
    assert_eq!(IndexCommitment::parse_line(&line), Ok(commitment));
    let root = head.root().to_base64();
    for bad in [
        format!("tagtrail-index 09 {root}"),
        format!("tagtrail-index  9 {root}"),
        format!("tagtrail-index 9 {root} "),
        format!("tagtrail-index 9 {}", root.trim_end_matches('=')),
        format!("tagtrail-index -9 {root}"),
        format!("tagtrail-indexes 9 {root}"),
        "tagtrail-index 9".to_owned(),
        format!("tagtrail-index 99999999999999999999 {root}"),
    ] {
        assert!(
            matches!(
                IndexCommitment::parse_line(&bad),
                Err(CommitmentError::NotAnIndexLine(_))
            ),
            "{bad:?}"
        );
    }
    let origin = Origin::parse("tagtrail.test/log").unwrap();
    let at = |size: u64, lines: Vec<String>| {
        Checkpoint::new(
            origin.clone(),
            TreeSize::new(size).unwrap(),
            crate::RootHash::empty(),
        )
        .with_extensions(lines)
        .unwrap()
    };
    assert_eq!(IndexCommitment::of_checkpoint(&at(9, vec![])), Ok(None));
    assert_eq!(
        IndexCommitment::of_checkpoint(&at(12, vec![line.clone()])),
        Ok(Some(commitment))
    );
    assert_eq!(
        IndexCommitment::of_checkpoint(&at(8, vec![line.clone()])),
        Err(CommitmentError::BeyondTree { index: 9, tree: 8 })
    );
    assert_eq!(
        IndexCommitment::of_checkpoint(&at(12, vec![line.clone(), line])),
        Err(CommitmentError::LineCount(2))
    );
}

#[test]
fn a_key_reads_back_from_its_one_displayed_spelling_and_nothing_else() {
    for kind in KeyKind::ALL {
        let key = key_of(kind, 7);
        assert_eq!(key.to_string().parse::<IndexKey>(), Ok(key));
    }
    let key = IndexKey::epc("urn:epc:id:sgtin:0614141.107346.2017");
    assert_eq!(key.to_string().parse::<IndexKey>(), Ok(key));
    for bad in [
        "",
        "epc",
        "epc:",
        "epc:0123456789abcde",
        "epc:0123456789abcdef0",
        "epc:0123456789ABCDEF",
        "epc:0123456789abcdeg",
        "EPC:0123456789abcdef",
        "pallet:0123456789abcdef",
        "epc:+123456789abcdef",
        "epc:é123456789abcde",
    ] {
        assert!(bad.parse::<IndexKey>().is_err(), "{bad:?}");
    }
}
