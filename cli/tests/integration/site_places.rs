//! `tagtrail site place` on a migrated database of its own: where a registered location is, in
//! any of its spellings, what is refused (and that a refusal changes nothing), clearing a place,
//! and a place set on a GLN pattern standing for every location under it.

use ledger_store::testing::TestDatabase;

use crate::run::{on_database, stdout_of, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_placed_refused_and_cleared() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let run = on_database(&url);
    stdout_of(
        &run(&[
            "site",
            "add",
            "--id",
            "plant-1",
            "--location",
            "urn:epc:id:sgln:0614141.00777.0",
            "--location",
            "urn:epc:idpat:sgln:0614141.00888.*",
        ]),
        0,
    );
    let places = || async {
        let client = db.connect().await.unwrap();
        registry::places(&client).await.unwrap()
    };
    // Placed by the Digital Link spelling of the SGLN it was registered as.
    assert_eq!(
        stdout_of(
            &run(&[
                "site",
                "place",
                "--location",
                "https://id.gs1.org/414/0614141007776",
                "--latitude",
                "52.37",
                "--longitude",
                "-4.9",
            ]),
            0
        ),
        "location https://id.gs1.org/414/0614141007776 is at 52.37, -4.9\n"
    );
    stdout_of(
        &run(&[
            "site",
            "place",
            "--location",
            "urn:epc:idpat:sgln:0614141.00888.*",
            "--latitude",
            "31.23",
            "--longitude",
            "121.47",
        ]),
        0,
    );
    let placed = places().await;
    assert_eq!(placed.len(), 2);
    let at = |location: &str| placed.of(location).map(|p| (p.latitude, p.longitude));
    assert_eq!(at("urn:epc:id:sgln:0614141.00777.0"), Some((52.37, -4.9)));
    // Every location under the pattern's GLN stands where the pattern does.
    assert_eq!(
        at("urn:epc:id:sgln:0614141.00888.dock-3"),
        Some((31.23, 121.47))
    );
    assert_eq!(at("urn:epc:id:sgln:0614141.00999.0"), None);

    // Refusals, each with its reason, and nothing changed by them.
    for (args, code, reason) in [
        (
            vec![
                "--location",
                "urn:epc:id:sgln:0614141.00777.0",
                "--latitude",
                "91",
                "--longitude",
                "0",
            ],
            2,
            "latitude 91 is not between -90 and 90 degrees",
        ),
        (
            vec![
                "--location",
                "urn:epc:id:sgln:0614141.00777.0",
                "--latitude",
                "0",
                "--longitude",
                "-180.5",
            ],
            2,
            "longitude -180.5 is not between -180 and 180 degrees",
        ),
        (
            vec![
                "--location",
                "urn:epc:id:sgln:0614141.00777.0",
                "--latitude",
                "NaN",
                "--longitude",
                "0",
            ],
            2,
            "latitude NaN is not between -90 and 90 degrees",
        ),
        (
            vec![
                "--location",
                "urn:epc:id:sgln:0614141.00999.0",
                "--latitude",
                "1",
                "--longitude",
                "1",
            ],
            2,
            "no site speaks for location urn:epc:id:sgln:0614141.00999.0",
        ),
        (
            vec![
                "--location",
                "urn:epc:id:sgln:0614141.00777.0",
                "--latitude",
                "1",
            ],
            2,
            "--longitude",
        ),
        (
            vec![
                "--location",
                "urn:epc:id:sgln:0614141.00777.0",
                "--clear",
                "--latitude",
                "1",
            ],
            2,
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["site", "place"];
        all.extend(args.iter().copied());
        let output = run(&all);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{all:?}: {}",
            text(&output.stdout)
        );
        assert!(
            text(&output.stderr).contains(reason),
            "{all:?}: {}",
            text(&output.stderr)
        );
    }
    assert_eq!(places().await, placed);

    // Cleared: the location has no place any more.
    assert_eq!(
        stdout_of(
            &run(&[
                "site",
                "place",
                "--location",
                "urn:epc:id:sgln:0614141.00777.0",
                "--clear",
            ]),
            0
        ),
        "location urn:epc:id:sgln:0614141.00777.0: place cleared\n"
    );
    let cleared = places().await;
    assert_eq!(cleared.of("urn:epc:id:sgln:0614141.00777.0"), None);
    assert_eq!(cleared.len(), 1);
}
