//! Applying the numbered, forward-only SQL migrations of `sql/` (embedded in the binary) with refinery.

use tokio_postgres::Client;

/// The migrations of `sql/`, embedded at compile time.
mod embedded {
    refinery::embed_migrations!("../sql");
}

/// Serialises concurrent migrators of one database (`tagtrail migrate` run twice at once): refinery
/// itself takes no lock. The value is arbitrary but fixed; advisory locks are per database.
const MIGRATION_LOCK: i64 = 0x7461_6774_7261_0003;

/// The earlier texts of landed migrations that were edited after they landed (against the rule), as
/// some databases applied them: `(version, name, text)`. Their history rows are re-stamped with the
/// landed text's checksum before migrating, and `V7` brings their schema to the landed one.
const SUPERSEDED: [(i32, &str, &str); 6] = [
    (
        3,
        "lookup_runs",
        include_str!("../superseded/V3__lookup_runs.ccc72cc.sql"),
    ),
    (
        6,
        "event_packs",
        include_str!("../superseded/V6__event_packs.0cba27d.sql"),
    ),
    (
        6,
        "event_packs",
        include_str!("../superseded/V6__event_packs.4570cff.sql"),
    ),
    // 5256de2's texts, embedded by session 25's build; the texts in sql/ are those builds from
    // d44a4e3 on embedded. Re-stamped; V18 (idempotent) gives both one schema.
    (
        16,
        "nfc_tags",
        include_str!("../superseded/V16__nfc_tags.5256de2.sql"),
    ),
    (
        17,
        "consumer_scans",
        include_str!("../superseded/V17__consumer_scans.5256de2.sql"),
    ),
    // 82e9836's text, written before V20 landed and edited before it did: re-stamped; V21
    // (idempotent) gives both one schema.
    (
        20,
        "verifiable_index",
        include_str!("../superseded/V20__verifiable_index.82e9836.sql"),
    ),
];

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Applied migrations whose history was re-stamped because the database applied an earlier
    /// text of them (`V<version>__<name>`); `V7` then brings their schema up to date.
    pub repaired: Vec<String>,
    /// The migrations applied by this run (`V<version>__<name>`), oldest first; empty when the
    /// database was already up to date.
    pub applied: Vec<String>,
    /// The number of migrations the binary knows.
    pub known: usize,
}

/// Why the migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("failed to take the migration lock")]
    Lock(#[source] tokio_postgres::Error),
    #[error("failed to apply the migrations")]
    Apply(#[source] refinery::Error),
    #[error("failed to re-stamp migrations applied with an earlier text")]
    Repair(#[source] tokio_postgres::Error),
}

/// Applies every migration of `sql/` that the database has not applied yet, each in its own
/// transaction, under an advisory lock. Refuses (with an error) a database whose applied migrations
/// differ from the embedded ones (an edited migration: their checksums differ).
pub async fn migrate(client: &mut Client) -> Result<MigrationReport, MigrateError> {
    migrate_up_to(client, None).await
}

/// Applies the migrations up to and including `V<version>` only, as [`migrate`] does: a test of a
/// later migration's conversion of stored data starts from the schema before it.
#[cfg(feature = "testing")]
pub async fn migrate_to_version(
    client: &mut Client,
    version: i32,
) -> Result<MigrationReport, MigrateError> {
    migrate_up_to(client, Some(version)).await
}

async fn migrate_up_to(
    client: &mut Client,
    version: Option<i32>,
) -> Result<MigrationReport, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(MigrateError::Lock)?;
    let result = repair_and_run(client, version).await;
    // The lock is released with the session anyway; releasing it here keeps a pooled client clean.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let (repaired, known, report) = result?;
    unlock.map_err(MigrateError::Lock)?;
    Ok(MigrationReport {
        repaired,
        applied: report
            .applied_migrations()
            .iter()
            .map(|m| format!("V{}__{}", m.version(), m.name()))
            .collect(),
        known,
    })
}

/// Under the migration lock: re-stamps the rows of superseded texts, then applies the migrations
/// up to `version` (all of them when `None`).
async fn repair_and_run(
    client: &mut Client,
    version: Option<i32>,
) -> Result<(Vec<String>, usize, refinery::Report), MigrateError> {
    let repaired = repair_superseded(client)
        .await
        .map_err(MigrateError::Repair)?;
    let target = version.map_or(refinery::Target::Latest, refinery::Target::Version);
    let runner = embedded::migrations::runner()
        .set_target(target)
        .set_abort_divergent(true)
        .set_abort_missing(true);
    let known = runner.get_migrations().len();
    let report = runner
        .run_async(client)
        .await
        .map_err(MigrateError::Apply)?;
    Ok((repaired, known, report))
}

/// Re-stamps the history rows of migrations applied with one of their [`SUPERSEDED`] texts with the
/// checksum of the text this build embeds (one statement per row, only where the stored checksum is
/// exactly the earlier text's), and returns their names.
async fn repair_superseded(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let has_history: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !has_history {
        return Ok(Vec::new());
    }
    let embedded = embedded_migrations();
    let mut repaired = Vec::new();
    for (version, name, text) in SUPERSEDED {
        let Some(current) = embedded.iter().find(|m| m.version() == version) else {
            continue;
        };
        // The texts are fixed and well-formed: a failure would be a build error in the tests.
        let Ok(earlier) = refinery::Migration::unapplied(&format!("V{version}__{name}"), text)
        else {
            continue;
        };
        let changed = client
            .execute(
                "UPDATE refinery_schema_history SET checksum = $1
                 WHERE version = $2 AND name = $3 AND checksum = $4",
                &[
                    &current.checksum().to_string(),
                    &version,
                    &name,
                    &earlier.checksum().to_string(),
                ],
            )
            .await?;
        if changed > 0 {
            repaired.push(format!("V{version}__{name}"));
        }
    }
    Ok(repaired)
}

/// The migrations this build embeds, oldest first.
pub(crate) fn embedded_migrations() -> Vec<refinery::Migration> {
    // In version order: refinery lists them by file name, where V10 sorts before V2.
    let mut migrations = embedded::migrations::runner().get_migrations().clone();
    migrations.sort_by_key(refinery::Migration::version);
    migrations
}

/// A fingerprint of the embedded migrations (names and SQL): changes whenever a migration is added
/// (or, against the rules, edited). Test harnesses key their template databases on it.
pub fn migrations_fingerprint() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for migration in embedded::migrations::runner().get_migrations() {
        hasher.update(migration.name().as_bytes());
        hasher.update([0]);
        hasher.update(migration.sql().unwrap_or_default().as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The SHA-256 of every landed migration's text. A landed migration is never edited: a
    /// database that applied it would be refused (its checksum would differ). Adding a migration
    /// adds its line here; changing a line is the mistake this test exists to catch.
    const LANDED: [(i32, &str, &str); 42] = [
        (
            1,
            "ledger",
            "3da1a1e43f944cdc81cad770724ad3340af5da31636fa6ebbb0c53eafdc970be",
        ),
        (
            2,
            "ingest",
            "8a4f6b78946e2535964e114bab86e1d593d66848bc5c96eb54495559ddd7b7fc",
        ),
        (
            3,
            "lookup_runs",
            "641c0dd6e85e32c31597ea7967b661fb7353a9eefd119121e9381bbe890f6117",
        ),
        (
            4,
            "registry_generation",
            "243631007fc83814051ae5f50ba5aa9c5964b11e6abab64a601e02b12d7b4166",
        ),
        (
            5,
            "entry_bundles",
            "0fcfcbc5dbc6317c2229e3b3adfe59f369af1cf2fd2bd5fabd61ad24647451cc",
        ),
        (
            6,
            "event_packs",
            "d4774bcb297e8eafbdb7fb9664979214c8a97f670ebd0dff0dc4bccd5710a275",
        ),
        (
            7,
            "superseded_migrations",
            "b4ce808c97af1c3f52ce636763561abfd4c0b3f97ff894fc2e36e9e8bb966528",
        ),
        (
            8,
            "error_declarations",
            "da3f6210811a67edfc4ce0747748466835fc06afa6cc3b0f1195f6f6ca168bd0",
        ),
        (
            9,
            "reader_role",
            "ef524e8d8c20589a72871ae0101615d9b1a06d42c615f097144072fc460ee537",
        ),
        (
            10,
            "anchors",
            "02bcceac5bd872cbc55d4426279a99f111442812ed3301f3b2464923212a68ad",
        ),
        (
            11,
            "organisations",
            "eda3145557e7da06fa36236ba096a1cd033e46241864c7e61783934afccbf9f2",
        ),
        (
            12,
            "anchor_retries",
            "74d75df9d414a275b291a4aad6aa77c1a576adaac59a3df4abbc9b99207ed52f",
        ),
        (
            13,
            "sealed_capture_jobs",
            "e5a4105b242d784c063736bb096dc524f00d079b92a45dc5cb8491c2647e68a8",
        ),
        (
            14,
            "sealed_fields",
            "59d5c3298dd509aa688d85215b23b01be45b629949cff6a2455a59e35edb207b",
        ),
        (
            15,
            "location_places",
            "b21ccc414d0505069bcb9658f013fd26b716ef1f48c9b1674766e6b27b056c52",
        ),
        (
            16,
            "nfc_tags",
            "4c81a5e2a8c0bab85eddd4a08795ecedf08d07f3fc900b649166320a31433cb2",
        ),
        (
            17,
            "consumer_scans",
            "334175cfe3d6b8756f4fe649745450c062b3c801b60070f6d8cda3b9f5706bf2",
        ),
        (
            18,
            "nfc_counters_rise_scans_by_kind",
            "c492370363bea0e3781c271a51109c1aa2da6f23192fa584b997bc71d1a35061",
        ),
        (
            19,
            "access_tokens",
            "b5081f2248e79aeec5dce5bb85533445c7d84d43eb3be7cc96fd6480e3a3df47",
        ),
        (
            20,
            "verifiable_index",
            "6629ca2b4eb20c6acd804822b040554ba5b19531e748b1fa226c8e17218f8f33",
        ),
        (
            21,
            "index_heads_everywhere",
            "ef1cb0fad775bc5a9c4a2b6403c308feb50ade5f92e6390d4df3d00a0c2a7f8e",
        ),
        (
            22,
            "sealed_keys_bound_to_entries",
            "181b72e108657b8ef54c1cf58d042d6868aa3c74fac4e37da5896ff5884938a5",
        ),
        (
            23,
            "recipient_keys",
            "16207b4eaaeed90e8385dc7a433e750fca8ad6c66f1fa6d5ec7a724092ae5eb7",
        ),
        (
            24,
            "recalls",
            "0acf620699fb972aef1434f936f8a6d08c1a96443b524038509327a098e0e632",
        ),
        (
            25,
            "lookup_runs_find_class_recalls",
            "5b658f6f96761241f0b59a6f874ecc86cb0f5501829a6fe03b71c8ebc230ecec",
        ),
        (
            26,
            "sealed_decoy_secret",
            "b8711b04c02ed629acaa54ecdb535d3ee1b6298afc6fff67b745fbb3d5a860fa",
        ),
        (
            27,
            "site_token_function",
            "8e3a58a666244ff2fdc409664fbf6cd67dc357f4d57301822382b410f5570ff8",
        ),
        (
            28,
            "access_log",
            "5e99d48ae6465582cd7b310aa551e861909285d82ef8bf9ebff9650fa03e58f2",
        ),
        (
            29,
            "named_queries",
            "336a8c0edb79fa39f9d93620bf98d2983a39b6f1a77cabf4206580c644e4f1f2",
        ),
        (
            30,
            "subscriptions",
            "7b5f9bdcad9455a797296d631307d32adb1b6fb4803185d1d541e1f91216a704",
        ),
        (
            31,
            "access_grants",
            "1bd47cab99500c4826b280da4a2200044fe2fcb112272ad3a33542d89ef3f5fa",
        ),
        (
            32,
            "scheduled_subscriptions",
            "02d77fb9c8542198a088591c7b2edfa8dee80597679335a8949ef029d26ae72d",
        ),
        (
            33,
            "lookup_tags",
            "699f6e1fb1e5d7c3efaec329d7f37628369ef8b57e979f9bbe945d8f11b60727",
        ),
        (
            34,
            "transfer_tags",
            "58368ca05899333234401faf1da389a380ed43bcf2628ec8ab8ae544199bc744",
        ),
        (
            35,
            "declaration_tags",
            "8d466c0d21977a3058c7cb386a9b712629e6c8ee2e357aba3c481d5f7407baa1",
        ),
        (
            36,
            "event_id_lookups",
            "ae38e7c48cdbc0f075a3cdf555520b804aa0821dd914a2a2a565f6f621dc5e10",
        ),
        (
            37,
            "checkpoints_by_index",
            "b3cfcd753d1a42adc29f5f85f6cff268873cdd2c9314f8d06b8bc4cb2ef558c5",
        ),
        (
            38,
            "lookup_key_format",
            "59034940d204598fb6739d9a9a285b0bab9d01b86f4c6a16593027d9bfcfd75e",
        ),
        (
            39,
            "subscription_leases",
            "607deaea215c81eaed11d31dd25e674e8bb9d8c78f19cf42e2177c44e2b1d841",
        ),
        (
            40,
            "receipt_tags",
            "97754b445ffe1f334f790359b139527b0f8907893fb1ff8b888392438608af6e",
        ),
        (
            41,
            "claim_tags",
            "942ba48ec890feeae51bc8f1632172aadf9e6db78a0ebb362b6f0951c6386782",
        ),
        (
            42,
            "claim_pair_tags",
            "e38ddeff76db877eb1a9d69bb2472abea041f270bbac2f4456fe1bf03a587f20",
        ),
    ];

    #[test]
    fn landed_migrations_keep_their_bytes() {
        let embedded = embedded_migrations();
        let found: Vec<(i32, String, String)> = embedded
            .iter()
            .map(|m| {
                let digest = Sha256::digest(m.sql().unwrap_or_default().as_bytes());
                (
                    m.version(),
                    m.name().to_owned(),
                    epcis::hex::encode_lower(&digest),
                )
            })
            .collect();
        let expected: Vec<(i32, String, String)> = LANDED
            .iter()
            .map(|(v, n, h)| (*v, (*n).to_owned(), (*h).to_owned()))
            .collect();
        assert_eq!(
            found, expected,
            "a landed migration changed, or one was added without its line"
        );
    }

    #[test]
    fn every_superseded_text_is_an_earlier_version_of_a_landed_migration() {
        let embedded = embedded_migrations();
        for (version, name, text) in SUPERSEDED {
            let earlier =
                refinery::Migration::unapplied(&format!("V{version}__{name}"), text).unwrap();
            let landed = embedded.iter().find(|m| m.version() == version).unwrap();
            assert_eq!(landed.name(), name);
            assert_ne!(earlier.checksum(), landed.checksum(), "V{version}: {name}");
        }
    }
}
