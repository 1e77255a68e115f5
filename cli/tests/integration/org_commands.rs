//! `tagtrail org` and `tagtrail participants` on a migrated database of their own: the
//! organisations, prefixes and delegates they register, what they refuse (and that a refusal
//! changes nothing), and the participants file verifiers read, which must load as the parties
//! `tagtrail verify --participants` judges with.

use ledger::OrganisationId;
use ledger::bundle::Participants;
use ledger_store::testing::TestDatabase;

use crate::run::{on_database, stdout_of, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_prefixes_and_delegates_are_registered_and_published() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();
    let run = on_database(&url);
    assert_eq!(
        stdout_of(
            &run(&["org", "add", "--id", "brand", "--prefix", "0614141"]),
            0
        ),
        "organisation brand added with 1 company prefix(es)\n"
    );
    stdout_of(&run(&["org", "add", "--id", "carrier"]), 0);
    stdout_of(
        &run(&["org", "add-prefix", "--id", "carrier", "0712345", "0812345"]),
        0,
    );
    assert_eq!(
        stdout_of(
            &run(&["org", "delegate", "--id", "brand", "--to", "carrier"]),
            0
        ),
        "organisation carrier may now act for brand\n"
    );
    stdout_of(
        &run(&[
            "site",
            "add",
            "--id",
            "plant-1",
            "--org",
            "brand",
            "--location",
            "urn:epc:id:sgln:0614141.00777.0",
        ]),
        0,
    );
    // Without --org, a site is an organisation of its own; its dock is under the carrier's
    // prefix but registered to it.
    stdout_of(
        &run(&[
            "site",
            "add",
            "--id",
            "depot-9",
            "--location",
            "urn:epc:idpat:sgln:0712345.00009.*",
        ]),
        0,
    );

    // Refusals, each with its reason, and nothing changed by them.
    for (args, reason) in [
        (
            vec!["org", "add", "--id", "rival", "--prefix", "0614141"],
            "company prefix 0614141 already belongs to organisation brand",
        ),
        (
            vec!["org", "add", "--id", "brand"],
            "organisation brand already exists",
        ),
        (
            vec!["org", "delegate", "--id", "brand", "--to", "brand"],
            "organisation brand cannot delegate to itself",
        ),
        (
            vec!["org", "delegate", "--id", "brand", "--to", "nobody"],
            "there is no organisation nobody",
        ),
        (
            vec!["site", "add", "--id", "plant-2", "--org", "nobody"],
            "there is no organisation nobody",
        ),
        (
            vec!["org", "add", "--id", "x", "--prefix", "12345"],
            "Invalid company prefix",
        ),
        (
            vec!["org", "regulator", "--id", "nobody"],
            "there is no organisation nobody",
        ),
    ] {
        let output = run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stdout)
        );
        assert!(
            text(&output.stderr).contains(reason),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }

    // A regulator, named twice (idempotent); one named and then removed is none.
    stdout_of(&run(&["org", "add", "--id", "authority"]), 0);
    for _ in 0..2 {
        assert_eq!(
            stdout_of(&run(&["org", "regulator", "--id", "authority"]), 0),
            "organisation authority is a regulator\n"
        );
    }
    stdout_of(&run(&["org", "regulator", "--id", "carrier"]), 0);
    assert_eq!(
        stdout_of(
            &run(&["org", "regulator", "--id", "carrier", "--remove"]),
            0
        ),
        "organisation carrier is no regulator\n"
    );

    let listed = stdout_of(&run(&["org", "list"]), 0);
    assert_eq!(
        listed,
        "authority\tprefixes: \tdelegates: \tsites: \tregulator\n\
         brand\tprefixes: 0614141\tdelegates: carrier\tsites: plant-1\n\
         carrier\tprefixes: 0712345 0812345\tdelegates: \tsites: \n\
         depot-9\tprefixes: \tdelegates: \tsites: depot-9\n"
    );

    // The participants file, as verifiers read it: it loads as parties, and judges as listed.
    let printed = stdout_of(&run(&["participants"]), 0);
    let participants: Participants = serde_json::from_str(&printed).unwrap();
    let parties = participants.parties().unwrap();
    let org = |id: &str| OrganisationId::parse(id).unwrap();
    assert_eq!(
        parties.owner_of("urn:epc:id:sgtin:0614141.107346.2017"),
        Some(&org("brand"))
    );
    assert_eq!(
        parties.owner_of("urn:epc:id:sscc:0812345.0000000001"),
        Some(&org("carrier"))
    );
    assert!(parties.acts_for(&org("carrier"), &org("brand")));
    assert!(parties.is_regulator(&org("authority")));
    assert!(!parties.is_regulator(&org("carrier")));
    assert!(printed.contains("\"regulator\": true"), "{printed}");
    assert!(!parties.acts_for(&org("brand"), &org("carrier")));
    assert_eq!(
        parties.organisation_of(&ledger::SiteId::parse("depot-9").unwrap()),
        Some(&org("depot-9"))
    );
    // Sites' locations are in it, as registered: a shipment to one is for the site's
    // organisation to receive, whoever owns the GLN's prefix; other GLNs go by their prefix.
    assert!(
        printed.contains("\"urn:epc:idpat:sgln:0712345.00009.*\""),
        "{printed}"
    );
    assert_eq!(
        parties.party_of("urn:epc:id:sgln:0614141.00777.0"),
        Some(&org("brand"))
    );
    assert_eq!(
        parties.party_of("urn:epc:id:sgln:0712345.00009.door-1"),
        Some(&org("depot-9"))
    );
    assert_eq!(
        parties.party_of("urn:epc:id:pgln:0712345.00000"),
        Some(&org("carrier"))
    );
}
