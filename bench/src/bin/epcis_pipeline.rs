//! The `event_pipeline/parse_validate_hash` benchmark's work as a plain program, for instruction
//! counts under callgrind, which do not depend on how busy the machine is:
//!
//! ```sh
//! cargo build --release -p tagtrail-bench --bin epcis_pipeline
//! valgrind --tool=callgrind "$CARGO_TARGET_DIR/release/epcis_pipeline" 1000 5
//! ```
//!
//! Arguments: events per document (default 1,000) and rounds (default 5). Divide the instruction
//! count by events × rounds, after subtracting a run with 0 rounds (document generation).
//! SHA-256 runs in software under valgrind: subtract the inclusive cost of `hash_prehash` to
//! compare with native runs, which use the CPU's SHA extensions.

// The input is fixed and valid; a failed `expect` is a broken benchmark, reported as such.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use epcis::document::Document;

// The count printed at the end is this program's only output.
#[allow(clippy::print_stdout)]
fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .map_or(1_000, |a| a.parse().expect("events is a number"));
    let rounds: u64 = args
        .next()
        .map_or(5, |a| a.parse().expect("rounds is a number"));
    let bytes = tagtrail_bench::object_event_document(0, events);
    let mut hashed = 0;
    for _ in 0..rounds {
        let document = Document::parse(black_box(&bytes)).expect("the generated document parses");
        epcis::validate::validate(&document).expect("the generated document is valid");
        hashed +=
            black_box(epcis::hash::parsed_document_hashes(&document).expect("every event hashes"))
                .len();
    }
    println!("{hashed} events hashed");
}
