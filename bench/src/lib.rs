#![doc = include_str!("../README.md")]

pub mod detector;

use std::fmt::Write;

/// A GS1 company prefix used by every generated identifier (7 digits: the GS1 examples' own).
const COMPANY_PREFIX: &str = "0614141";

/// One realistic dock-door ObjectEvent as JSON: 5 SGTIN EPCs, a read point and business location
/// (SGLN), bizStep and disposition, a purchase-order business transaction and a lot in the ILMD-free
/// OBSERVE shape a receiving portal reports. About 700 bytes, like the events the architecture's
/// measurements used. `n` makes the serials (and so the event hash) unique.
pub fn object_event_json(n: u64) -> String {
    let mut epcs = String::with_capacity(256);
    for k in 0..5 {
        if k > 0 {
            epcs.push(',');
        }
        let _ = write!(
            epcs,
            "\"urn:epc:id:sgtin:{COMPANY_PREFIX}.107346.{}\"",
            n * 5 + k
        );
    }
    let seconds = n % 60;
    let minutes = (n / 60) % 60;
    format!(
        concat!(
            "{{\"type\":\"ObjectEvent\",",
            "\"eventTime\":\"2026-11-20T08:{:02}:{:02}.{:03}+01:00\",",
            "\"eventTimeZoneOffset\":\"+01:00\",",
            "\"epcList\":[{}],",
            "\"action\":\"OBSERVE\",",
            "\"bizStep\":\"receiving\",",
            "\"disposition\":\"in_progress\",",
            "\"readPoint\":{{\"id\":\"urn:epc:id:sgln:{}.00777.dock-{}\"}},",
            "\"bizLocation\":{{\"id\":\"urn:epc:id:sgln:{}.00777.0\"}},",
            "\"bizTransactionList\":[{{\"type\":\"po\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141000005:PO-{}\"}}],",
            "\"example:portal\":{{\"antenna\":{},\"cycleMs\":500}}}}"
        ),
        minutes,
        seconds,
        n % 1000,
        epcs,
        COMPANY_PREFIX,
        n % 8,
        COMPANY_PREFIX,
        n / 100,
        n % 4 + 1,
    )
}

/// An EPCISDocument holding `events` ObjectEvents from [`object_event_json`], numbered from `first`.
pub fn object_event_document(first: u64, events: u64) -> Vec<u8> {
    let mut doc = String::with_capacity(events as usize * 720 + 256);
    doc.push_str(concat!(
        "{\"@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\",",
        "{\"example\":\"https://example.com/tagtrail/\"}],",
        "\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\",",
        "\"creationDate\":\"2026-11-20T08:00:00.000+01:00\",",
        "\"epcisBody\":{\"eventList\":["
    ));
    for i in 0..events {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&object_event_json(first + i));
    }
    doc.push_str("]}}");
    doc.into_bytes()
}

/// The consumer's delivery data each event of [`delivery_event_document`] carries, as five
/// extension fields (JSON Pointers from the event's root), and their values.
pub const DELIVERY_FIELDS: [(&str, &str); 5] = [
    ("/example:name", "Jeanne Moreau-Lefebvre"),
    ("/example:street", "12 Quai des Brumes"),
    ("/example:city", "75001 Paris"),
    ("/example:phone", "+33 6 12 34 56 78"),
    ("/example:email", "jeanne.moreau@example.com"),
];

/// Bytes from the operating system's generator.
pub fn random(bytes: &mut [u8]) {
    // The operating system's generator failing is not something to measure through.
    #[allow(clippy::expect_used)]
    getrandom::fill(bytes).expect("the operating system gives random bytes");
}

/// Adds the five [`DELIVERY_FIELDS`] to an event, in clear.
pub fn add_delivery_fields(event: &mut serde_json::Map<String, serde_json::Value>) {
    for (pointer, value) in DELIVERY_FIELDS {
        event.insert(pointer[1..].to_owned(), value.into());
    }
}

/// An [`object_event_document`] whose events also carry the five [`DELIVERY_FIELDS`]: in clear
/// without recipients, sealed for `recipients` otherwise (one sealer for the document, as
/// `tagtrail seal` does, its key set in `sealed:keys`).
pub fn delivery_event_document(
    first: u64,
    events: u64,
    recipients: &[ledger::sealed::RecipientKey],
) -> Vec<u8> {
    use ledger::sealed::{self, KEYS_MEMBER, Sealer};
    // The generated document is valid JSON; sealing fields it has cannot fail.
    #[allow(clippy::expect_used)]
    {
        let mut document: serde_json::Value =
            serde_json::from_slice(&object_event_document(first, events)).expect("JSON");
        let mut sealer = (!recipients.is_empty())
            .then(|| Sealer::new(recipients, &mut random).expect("recipients"));
        let pointers: Vec<&str> = DELIVERY_FIELDS.iter().map(|(p, _)| *p).collect();
        if let Some(list) = document["epcisBody"]["eventList"].as_array_mut() {
            for event in list {
                let event = event.as_object_mut().expect("an event object");
                add_delivery_fields(event);
                if let Some(sealer) = sealer.as_mut() {
                    sealed::seal_event_fields(event, &pointers, Some(sealer), &mut random)
                        .expect("sealable");
                }
            }
        }
        if let Some(sealer) = &sealer {
            let root = document.as_object_mut().expect("an object");
            sealed::declare_namespace(root).expect("a free prefix");
            root.insert(
                KEYS_MEMBER.to_owned(),
                vec![sealer.key_set().to_base64()].into(),
            );
        }
        serde_json::to_vec(&document).expect("JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_delivery_document_is_valid_and_holds_no_delivery_data_in_clear() {
        let recipient = ledger::sealed::RecipientSecret::generate(&mut random);
        let clear = delivery_event_document(0, 3, &[]);
        let sealed = delivery_event_document(0, 3, &[recipient.public_key()]);
        let text = String::from_utf8_lossy(&sealed);
        for (_, value) in DELIVERY_FIELDS {
            assert!(String::from_utf8_lossy(&clear).contains(value));
            assert!(!text.contains(value), "{value} in clear");
        }
        for bytes in [&clear, &sealed] {
            let document = epcis::document::Document::parse(bytes).expect("parses");
            if let Err(violations) = epcis::validate::validate(&document) {
                panic!("generated document is invalid: {violations:#?}");
            }
        }
    }

    #[test]
    fn generated_documents_are_valid_epcis_with_distinct_event_hashes() {
        let bytes = object_event_document(0, 50);
        let document = epcis::document::Document::parse(&bytes).expect("parses");
        assert_eq!(document.events().len(), 50);
        if let Err(violations) = epcis::validate::validate(&document) {
            panic!("generated document is invalid: {violations:#?}");
        }
        let hashes = epcis::hash::parsed_document_hashes(&document).expect("hashes");
        let distinct: std::collections::HashSet<_> = hashes.iter().map(|h| *h.as_bytes()).collect();
        assert_eq!(distinct.len(), 50);
    }

    #[test]
    fn a_generated_event_is_about_700_bytes() {
        let len = object_event_json(123_456).len();
        assert!((600..=800).contains(&len), "event is {len} bytes");
    }
}

pub mod trace;

pub mod harness {
    //! An ingest service in this process, on a database of its own, for the load drivers.

    use std::path::PathBuf;

    use actix_web::dev::ServerHandle;
    use anyhow::Context as _;
    use ingest::{Application, Config};
    use ledger::batch::DevicePublicKey;
    use ledger::note::{KeyName, NoteSignerKey};
    use ledger::{DeviceId, SiteId};
    use ledger_store::testing::TestDatabase;
    use registry::location::SiteLocation;
    use secrecy::SecretString;
    use service_kit::http::HttpService as _;
    use tokio::task::JoinHandle;

    /// The login role ingest runs as (a member of `tagtrail_ingest` only).
    pub const SERVICE_ROLE: &str = "tagtrail_ingest_bench";

    /// A running ingest service and its database (dropped when this is).
    pub struct IngestUnderTest {
        /// The database (superuser access for measurements).
        pub db: TestDatabase,
        /// `http://127.0.0.1:<port>`.
        pub base: String,
        handle: ServerHandle,
        server: JoinHandle<anyhow::Result<()>>,
        dir: PathBuf,
    }

    /// Creates a migrated database with a site `bench-site` owning `locations` and the given
    /// devices, and starts ingest on it (port 0), connected as [`SERVICE_ROLE`]; `adjust` may
    /// change the settings first.
    pub async fn start_ingest(
        locations: &[&str],
        devices: &[(DeviceId, DevicePublicKey)],
        adjust: impl FnOnce(&mut Config),
    ) -> anyhow::Result<IngestUnderTest> {
        let db = TestDatabase::create()
            .await
            .context("Failed to create the database")?;
        let service_url = db.login_role(SERVICE_ROLE, "tagtrail_ingest").await?;
        let mut admin = db.connect().await?;
        let site = SiteId::parse("bench-site")?;
        registry::add_site(&admin, &site, "load driver", None).await?;
        let locations = locations
            .iter()
            .map(|location| SiteLocation::parse(location))
            .collect::<Result<Vec<_>, _>>()?;
        registry::add_site_locations(&mut admin, &site, &locations).await?;
        for (device, key) in devices {
            registry::add_device(&mut admin, device, &site, key, &[]).await?;
        }
        let dir = std::env::temp_dir().join(format!(
            "tagtrail-bench-{}-{}",
            std::process::id(),
            db.name()
        ));
        std::fs::create_dir_all(&dir)?;
        let key_path = dir.join("checkpoint.key");
        let signer = NoteSignerKey::from_seed(KeyName::parse("bench.tagtrail/log")?, &[7; 32]);
        std::fs::write(&key_path, signer.to_private_text().as_str())?;
        let mut config = Config::new(
            SecretString::from(service_url),
            key_path,
            "127.0.0.1:0".parse()?,
        )?;
        // The load comes from one address: its rate is what is measured, not limited.
        config.limits.requests_per_second = u32::MAX;
        config.limits.burst = u32::MAX;
        adjust(&mut config);
        let app = Application::build(config).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        Ok(IngestUnderTest {
            db,
            base,
            handle,
            server,
            dir,
        })
    }

    impl std::fmt::Debug for IngestUnderTest {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("IngestUnderTest")
                .field("database", &self.db.name())
                .field("base", &self.base)
                .finish_non_exhaustive()
        }
    }

    impl IngestUnderTest {
        /// Stops the service gracefully; the database stays until the returned value is dropped.
        pub async fn stop(self) -> anyhow::Result<TestDatabase> {
            self.handle.stop(true).await;
            self.server.await??;
            let _ = std::fs::remove_dir_all(&self.dir);
            Ok(self.db)
        }
    }
}
