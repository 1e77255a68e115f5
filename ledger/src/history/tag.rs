//! [`Tag`]: what a lookup pair says of its entry besides where it is, so that a history can
//! choose among any number of candidates at the cost of the lookup alone: who reported the
//! entry, whether its event changes some item's state, whether it is a receipt, and whether it
//! claims to bring something into being.
//!
//! A history that must leave events out shares them out by reporter ([`share`](super::share)),
//! and may leave out only events that cannot weigh in any judgement of authority: observations.
//! Learning either fact from the entry itself costs a random read a candidate; with the tag in
//! the lookup, a party that writes millions of observations of another's item costs a history
//! 24 bytes of lookup a candidate, read in order, and none of its events.
//!
//! A receipt that a share left out can still settle a shipment the history rests on (the first
//! receipt logged, by a party the shipment names, takes it): a history reads the left-out receipts
//! of the parties the shipments it reaches name, within a budget of their own ([`receives`]; the
//! history module, "Left-out receipts and claims"), and learns which candidates are receipts from the tag.
//! So it is with a claim to bring an identifier into being (commissioning, a transformation's
//! outputs, packing into a container): under no registered company prefix, the first logged
//! decides who did, and a history reads the left-out claims that could be first ([`claims`]).
//!
//! The tag is 8 bytes, a big-endian `i64` in the lookup's pairs (ledger-store's `sql/README.md`):
//! the top byte holds flags (bit 0: the event changes state, [`changes_state`]; bit 1: the event
//! is a receipt, [`receives`]; bit 2: the event claims to bring an identifier into being,
//! [`claims`]; either is always a state change too), the other 7
//! bytes the first 7 bytes of SHA-256 of the reporter's identity as the leaf record attests it:
//! `"tagtrail-reporter\0device\0" || device id` or `"tagtrail-reporter\0site\0" || site id`
//! (an entry sent with a site's token). The registry maps a digest back to a site
//! ([`Parties::reporter_of_digest`](super::Parties::reporter_of_digest)); one it does not know is
//! a reporter the registry does not know, as its record would say. Two reporters share a digest
//! with probability about n² / 2^57 for n registered devices and sites; a shared digest only
//! mixes up how their observations are shared out, never what is judged.
//!
//! What counts as a state change is [`changes_state`], as a receipt [`receives`] and as a claim
//! [`claims`]: a change to any must rebuild the lookups. Migrations up to V35 deleted the runs
//! (`sql/V33__lookup_tags.sql`, `sql/V34__transfer_tags.sql`, `sql/V35__declaration_tags.sql`);
//! since V38 the change bumps ledger-store's lookup key format instead, with a migration that
//! refuses runs of the older one, and the indexer rebuilds those in place
//! (`sql/V40__receipt_tags.sql`, which brought the receipt flag, and `sql/V41__claim_tags.sql`,
//! the claim flag).

use sha2::{Digest, Sha256};

use crate::ids::{DeviceId, SiteId};
use crate::record::Attestation;

use super::authority::{changes_state, claims, receives};

/// The flag bit of a tag for an event that changes some item's state.
const CHANGES_STATE: u64 = 1 << 56;

/// The flag bit of a tag for an event that is a receipt ([`receives`]).
const RECEIPT: u64 = 1 << 57;

/// The flag bit of a tag for an event that claims to bring an identifier into being
/// ([`claims`]).
const CLAIM: u64 = 1 << 58;

/// The bits of a tag that hold the reporter's digest.
const DIGEST_BITS: u64 = (1 << 56) - 1;

/// What a lookup pair says of its entry: who reported it, whether it changes state, whether it is
/// a receipt and whether it claims to bring an identifier into being.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(u64);

impl Tag {
    /// The tag of an entry attested so, whose event is `event`.
    pub fn of(
        attestation: &Attestation,
        event: &serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self::new(attestation, changes_state(event))
            .with_receipt(receives(event))
            .with_claim(claims(event))
    }

    /// The tag of an entry attested so, whose event changes state or not (and is no receipt and
    /// no claim: [`with_receipt`](Self::with_receipt), [`with_claim`](Self::with_claim)).
    pub fn new(attestation: &Attestation, changes: bool) -> Self {
        let digest = match attestation {
            Attestation::Device { device, .. } => device_digest(device),
            Attestation::Unattested { site } => site_digest(site),
        };
        Self(digest | if changes { CHANGES_STATE } else { 0 })
    }

    /// The tag, saying that its entry is a receipt ([`receives`]) or not. A receipt changes
    /// state: the tag of one says so too.
    pub fn with_receipt(self, receipt: bool) -> Self {
        match receipt {
            true => Self(self.0 | RECEIPT | CHANGES_STATE),
            false => Self(self.0 & !RECEIPT),
        }
    }

    /// The tag, saying that its entry claims to bring an identifier into being ([`claims`]) or
    /// not. A claim changes state: the tag of one says so too.
    pub fn with_claim(self, claim: bool) -> Self {
        match claim {
            true => Self(self.0 | CLAIM | CHANGES_STATE),
            false => Self(self.0 & !CLAIM),
        }
    }

    /// The tag as stored (a big-endian `i64` in a lookup pair).
    pub fn to_bits(self) -> i64 {
        i64::from_be_bytes(self.0.to_be_bytes())
    }

    /// A tag as stored; the bits no tag sets are ignored.
    pub fn from_bits(bits: i64) -> Self {
        Self(
            u64::from_be_bytes(bits.to_be_bytes())
                & (CHANGES_STATE | RECEIPT | CLAIM | DIGEST_BITS),
        )
    }

    /// The digest of the reporter's identity (56 bits).
    pub fn reporter(self) -> u64 {
        self.0 & DIGEST_BITS
    }

    /// Whether the entry's event changes some item's state ([`changes_state`]).
    pub fn changes_state(self) -> bool {
        self.0 & CHANGES_STATE != 0
    }

    /// Whether the entry's event is a receipt ([`receives`]).
    pub fn receipt(self) -> bool {
        self.0 & RECEIPT != 0
    }

    /// Whether the entry's event claims to bring an identifier into being ([`claims`]).
    pub fn claim(self) -> bool {
        self.0 & CLAIM != 0
    }
}

/// The digest a tag holds for entries of a device.
pub fn device_digest(device: &DeviceId) -> u64 {
    digest("device", device.as_str())
}

/// The digest a tag holds for entries sent with a site's token.
pub fn site_digest(site: &SiteId) -> u64 {
    digest("site", site.as_str())
}

fn digest(what: &str, id: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(b"tagtrail-reporter\0");
    hash.update(what.as_bytes());
    hash.update(b"\0");
    hash.update(id.as_bytes());
    let hash = hash.finalize();
    let mut word = [0; 8];
    word[1..].copy_from_slice(&hash[..7]);
    u64::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::StatementHash;
    use serde_json::json;

    fn device(id: &str) -> Attestation {
        Attestation::Device {
            device: DeviceId::parse(id).unwrap(),
            statement: StatementHash::from_bytes([7; 32]),
            index: 3,
        }
    }

    #[test]
    fn a_tag_keeps_the_reporter_and_the_flag_through_its_stored_form() {
        let shipping = json!({"type": "ObjectEvent", "action": "OBSERVE",
            "bizStep": "shipping", "epcList": ["urn:epc:id:sgtin:0614141.107346.1"]});
        let looking = json!({"type": "ObjectEvent", "action": "OBSERVE",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.1"]});
        let receiving = json!({"type": "ObjectEvent", "action": "OBSERVE",
            "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.1"]});
        let changes = Tag::of(&device("reader-1"), shipping.as_object().unwrap());
        let observes = Tag::of(&device("reader-1"), looking.as_object().unwrap());
        let receipt = Tag::of(&device("reader-1"), receiving.as_object().unwrap());
        assert!(changes.changes_state());
        assert!(!observes.changes_state());
        assert!(receipt.changes_state() && receipt.receipt());
        assert!(!changes.receipt() && !observes.receipt());
        assert_eq!(changes.reporter(), observes.reporter());
        assert_eq!(receipt.reporter(), observes.reporter());
        for tag in [changes, observes, receipt] {
            assert_eq!(Tag::from_bits(tag.to_bits()), tag);
        }
        assert_eq!(
            changes.reporter(),
            device_digest(&DeviceId::parse("reader-1").unwrap())
        );
        // The device's batch and position are not who reported it.
        let other_batch = Attestation::Device {
            device: DeviceId::parse("reader-1").unwrap(),
            statement: StatementHash::from_bytes([9; 32]),
            index: 0,
        };
        assert_eq!(Tag::new(&other_batch, false), observes);
    }

    #[test]
    fn devices_and_sites_of_one_name_have_different_digests() {
        let site = Attestation::Unattested {
            site: SiteId::parse("reader-1").unwrap(),
        };
        assert_ne!(
            Tag::new(&site, false).reporter(),
            Tag::new(&device("reader-1"), false).reporter()
        );
        assert_ne!(
            Tag::new(&device("reader-1"), false).reporter(),
            Tag::new(&device("reader-2"), false).reporter()
        );
        // Stray high bits of a stored tag are ignored, never read as a flag.
        assert!(!Tag::from_bits(i64::MIN | 5).changes_state());
        assert!(!Tag::from_bits(i64::MIN | 5).receipt());
        assert!(!Tag::from_bits(i64::MIN | 5).claim());
        // Bits 56 and 57, as stored: a receipt's tag says it changes state too.
        let receipt = Tag::new(&site, false).with_receipt(true);
        assert_eq!(receipt.to_bits() >> 56, 0b11);
        assert_eq!(receipt.with_receipt(false), Tag::new(&site, true));
        // Bit 58: a claim's tag says it changes state too, and is no receipt.
        let claim = Tag::new(&site, false).with_claim(true);
        assert_eq!(claim.to_bits() >> 56, 0b101);
        assert!(claim.claim() && claim.changes_state() && !claim.receipt());
        assert_eq!(claim.with_claim(false), Tag::new(&site, true));
        assert_eq!(Tag::from_bits(claim.to_bits()), claim);
    }

    #[test]
    fn a_claim_s_tag_says_so_and_nothing_else_s_does() {
        let epc = "urn:epc:id:sgtin:0614141.107346.1";
        let claims = [
            json!({"type": "ObjectEvent", "action": "ADD", "epcList": [epc]}),
            json!({"type": "TransformationEvent", "inputEPCList": ["urn:epc:id:sgtin:0614141.107346.2"],
                "outputEPCList": [epc]}),
            json!({"type": "AggregationEvent", "action": "ADD",
                "parentID": "urn:epc:id:sscc:0614141.1234567890", "childEPCs": [epc]}),
        ];
        let others = [
            json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping", "epcList": [epc]}),
            json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving", "epcList": [epc]}),
            json!({"type": "ObjectEvent", "action": "DELETE", "epcList": [epc]}),
            json!({"type": "AggregationEvent", "action": "DELETE",
                "parentID": "urn:epc:id:sscc:0614141.1234567890", "childEPCs": [epc]}),
            // A transformation that produces nothing brings nothing into being.
            json!({"type": "TransformationEvent", "inputEPCList": [epc]}),
            // Declaring a commissioning erroneous claims nothing.
            json!({"type": "ObjectEvent", "action": "ADD", "epcList": [epc],
                "errorDeclaration": {"declarationTime": "2026-01-01T00:00:00Z"}}),
            json!({"type": "ObjectEvent", "action": "OBSERVE", "epcList": [epc]}),
        ];
        for event in &claims {
            let tag = Tag::of(&device("reader-1"), event.as_object().unwrap());
            assert!(tag.claim() && tag.changes_state(), "{event}");
        }
        for event in &others {
            let tag = Tag::of(&device("reader-1"), event.as_object().unwrap());
            assert!(!tag.claim(), "{event}");
        }
    }

    #[test]
    fn the_registry_names_the_organisation_a_digest_reports_for() {
        let brand = crate::ids::OrganisationId::parse("brand").unwrap();
        let dock = SiteId::parse("dock").unwrap();
        let mut parties = super::super::Parties::new();
        parties.add_site(dock.clone(), brand.clone());
        parties.add_device(DeviceId::parse("reader-1").unwrap(), dock.clone());
        let of = |attestation: &Attestation| {
            parties
                .reporter_of_digest(Tag::new(attestation, true).reporter())
                .cloned()
        };
        assert_eq!(of(&device("reader-1")), Some(brand.clone()));
        assert_eq!(of(&Attestation::Unattested { site: dock }), Some(brand));
        // A device the registry does not know reports for nobody, as its record would say.
        assert_eq!(of(&device("stranger")), None);
    }
}
