//! [`Tag`]: what a lookup pair says of its entry besides where it is, so that a history can
//! choose among any number of candidates at the cost of the lookup alone: who reported the
//! entry, whether its event changes some item's state, whether it is a receipt, and whether it
//! claims to bring into being the identifier the pair is found by.
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
//! decides who did, and a history reads the left-out claims that could be first ([`claims`](super::claims)).
//! That flag is the pair's, not the entry's: a packing of an item into a case claims the case,
//! and only its pair under the case says so ([`claimed`]); its pair under the item says, with a
//! flag of its own, that it claims something else. A history reads a claim of an identifier it
//! asked about as a claim of it, and one of something else only while an identifier it did not
//! ask about could be claimed first, so that a party's claims of other identifiers (a flood of
//! packings of the item into containers of its own) spend less of the budget an item's claims
//! are read in (the history module, "Left-out receipts and claims", says when none).
//!
//! The tag is 8 bytes, a big-endian `i64` in the lookup's pairs (ledger-store's `sql/README.md`):
//! the top byte holds flags (bit 0: the event changes state, [`changes_state`]; bit 1: the event
//! is a receipt, [`receives`]; bit 2: the event claims to bring some identifier into being
//! ([`claimed`]), all a tag told before V42; bit 3: it claims the identifier, as the event
//! spells it, whose lookup key the pair holds; bit 4: it claims another; each is always a state
//! change too, and bit 2 is set whenever bit 3 or 4 is, so a binary of V41 reads a claim where
//! it did; a pair under an event's hash or a place claims only others; a tag with bit 2 alone,
//! written before V42, could be either), the other 7
//! bytes the first 7 bytes of SHA-256 of the reporter's identity as the leaf record attests it:
//! `"tagtrail-reporter\0device\0" || device id` or `"tagtrail-reporter\0site\0" || site id`
//! (an entry sent with a site's token). The registry maps a digest back to a site
//! ([`Parties::reporter_of_digest`](super::Parties::reporter_of_digest)); one it does not know is
//! a reporter the registry does not know, as its record would say. Two reporters share a digest
//! with probability about n² / 2^57 for n registered devices and sites; a shared digest only
//! mixes up how their observations are shared out, never what is judged.
//!
//! What counts as a state change is [`changes_state`], as a receipt [`receives`] and as a claim
//! [`claims`](super::claims): a change to any must rebuild the lookups. Migrations up to V35 deleted the runs
//! (`sql/V33__lookup_tags.sql`, `sql/V34__transfer_tags.sql`, `sql/V35__declaration_tags.sql`);
//! since V38 the change bumps ledger-store's lookup key format instead, with a migration that
//! refuses runs of the older one, and the indexer rebuilds those in place
//! (`sql/V40__receipt_tags.sql`, which brought the receipt flag, `sql/V41__claim_tags.sql`, the
//! claim flag, and `sql/V42__claim_pair_tags.sql`, which made that flag the pair's).

use sha2::{Digest, Sha256};

use crate::ids::{DeviceId, SiteId};
use crate::record::Attestation;

use super::authority::{changes_state, claimed, receives};

/// The flag bit of a tag for an event that changes some item's state.
const CHANGES_STATE: u64 = 1 << 56;

/// The flag bit of a tag for an event that is a receipt ([`receives`]).
const RECEIPT: u64 = 1 << 57;

/// The flag bit of a tag for an event that claims to bring some identifier into being
/// ([`claimed`]), whichever: all a tag written before V42 (key format 3) tells, and what one
/// written since still tells a binary of V41, set whenever [`CLAIM`] or [`OTHER_CLAIM`] is.
const ANY_CLAIM: u64 = 1 << 58;

/// The flag bit of a pair's tag for an event that claims to bring the identifier the pair is
/// found by into being ([`claimed`]).
const CLAIM: u64 = 1 << 59;

/// The flag bit of a pair's tag for an event that claims to bring an identifier other than the
/// one the pair is found by into being ([`claimed`]).
const OTHER_CLAIM: u64 = 1 << 60;

/// Every claim bit.
const CLAIMS: u64 = ANY_CLAIM | CLAIM | OTHER_CLAIM;

/// The bits of a tag that hold the reporter's digest.
const DIGEST_BITS: u64 = (1 << 56) - 1;

/// What a lookup pair says of its entry: who reported it, whether it changes state, whether it is
/// a receipt and whether it claims to bring the identifier the pair is found by, or another, into
/// being.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(u64);

impl Tag {
    /// The tag of a pair of an entry attested so, whose event is `event`, under no identifier
    /// (the event's hash, a place): whatever the event claims is another's
    /// ([`naming`](Self::naming) for a pair under an identifier).
    pub fn of(
        attestation: &Attestation,
        event: &serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self::new(attestation, changes_state(event))
            .with_receipt(receives(event))
            .with_other_claim(!claimed(event).is_empty())
    }

    /// The tag of the pair of an entry attested so, whose event is `event`, under the
    /// identifier `id` (as the event spells it): a claim when the event claims to bring `id`
    /// into being, another's when it claims anything else ([`claimed`]).
    pub fn naming(
        attestation: &Attestation,
        event: &serde_json::Map<String, serde_json::Value>,
        id: &str,
    ) -> Self {
        let claimed = claimed(event);
        Self::new(attestation, changes_state(event))
            .with_receipt(receives(event))
            .with_claim(claimed.contains(&id))
            .with_other_claim(claimed.iter().any(|other| *other != id))
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

    /// The tag, saying that its entry claims to bring the identifier the pair is found by into
    /// being ([`claimed`]) or not. A claim changes state: the tag of one says so too.
    pub fn with_claim(self, claim: bool) -> Self {
        self.with_claims(claim, self.other_claim())
    }

    /// The tag, saying that its entry claims to bring an identifier other than the one the pair
    /// is found by into being ([`claimed`]) or not. A claim changes state: the tag of one says
    /// so too.
    pub fn with_other_claim(self, claim: bool) -> Self {
        self.with_claims(self.claim(), claim)
    }

    /// The tag claiming the identifier the pair is found by, another, both or neither, and
    /// claiming something ([`ANY_CLAIM`]) when it claims either. (The flags of a tag of before
    /// V42 are told apart first, by the callers, so that it gains or loses one claim, not both.)
    fn with_claims(self, claim: bool, other: bool) -> Self {
        let flags = [
            (claim, CLAIM),
            (other, OTHER_CLAIM),
            (claim || other, ANY_CLAIM | CHANGES_STATE),
        ];
        let bits = flags
            .into_iter()
            .filter(|(set, _)| *set)
            .fold(self.0 & !CLAIMS, |bits, (_, bit)| bits | bit);
        Self(bits)
    }

    /// The tag as stored (a big-endian `i64` in a lookup pair).
    pub fn to_bits(self) -> i64 {
        i64::from_be_bytes(self.0.to_be_bytes())
    }

    /// A tag as stored; the bits no tag sets are ignored.
    pub fn from_bits(bits: i64) -> Self {
        Self(
            u64::from_be_bytes(bits.to_be_bytes())
                & (CHANGES_STATE | RECEIPT | CLAIMS | DIGEST_BITS),
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

    /// Whether the entry's event claims to bring the identifier the pair is found by into being
    /// ([`claimed`]). A tag written before V42 tells only that it claims something: it could be
    /// this.
    pub fn claim(self) -> bool {
        self.0 & CLAIM != 0 || self.0 & CLAIMS == ANY_CLAIM
    }

    /// Whether the entry's event claims to bring an identifier other than the one the pair is
    /// found by into being ([`claimed`]). A tag written before V42 tells only that it claims
    /// something: it could be another.
    pub fn other_claim(self) -> bool {
        self.0 & OTHER_CLAIM != 0 || self.0 & CLAIMS == ANY_CLAIM
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
        // Bits 58 and 59: a claim's tag says it claims something and changes state too, and is
        // no receipt.
        let claim = Tag::new(&site, false).with_claim(true);
        assert_eq!(claim.to_bits() >> 56, 0b1101);
        assert!(claim.claim() && claim.changes_state() && !claim.receipt());
        assert!(!claim.other_claim());
        assert_eq!(claim.with_claim(false), Tag::new(&site, true));
        assert_eq!(Tag::from_bits(claim.to_bits()), claim);
        // Bits 58 and 60: a claim of another identifier.
        let other = Tag::new(&site, false).with_other_claim(true);
        assert_eq!(other.to_bits() >> 56, 0b10101);
        assert!(other.other_claim() && !other.claim());
        let both = claim.with_other_claim(true);
        assert_eq!(both.to_bits() >> 56, 0b11101);
        assert_eq!(both.with_other_claim(false), claim);
        assert_eq!(both.with_claim(false), other);
        // A tag written before V42 (key format 3) says only that its entry claims something
        // (bit 58): read as a claim of this identifier and of another, so that a history reads
        // no fewer claims through a run not yet rebuilt.
        let before = Tag::from_bits(Tag::new(&site, true).to_bits() | 1 << 58);
        assert!(before.claim() && before.other_claim());
        assert!(!before.with_other_claim(false).other_claim());
        assert!(before.with_other_claim(false).claim());
    }

    #[test]
    fn a_pair_claims_what_its_event_brings_into_being_and_nothing_else() {
        let epc = "urn:epc:id:sgtin:0614141.107346.1";
        let case = "urn:epc:id:sscc:0614141.1234567890";
        let claims = [
            json!({"type": "ObjectEvent", "action": "ADD", "epcList": [epc]}),
            json!({"type": "TransformationEvent", "inputEPCList": ["urn:epc:id:sgtin:0614141.107346.2"],
                "outputEPCList": [epc]}),
            json!({"type": "AggregationEvent", "action": "ADD", "parentID": epc,
                "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2"]}),
        ];
        let others = [
            json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping", "epcList": [epc]}),
            json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving", "epcList": [epc]}),
            json!({"type": "ObjectEvent", "action": "DELETE", "epcList": [epc]}),
            json!({"type": "AggregationEvent", "action": "DELETE", "parentID": epc,
                "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2"]}),
            // Packing the item into a case claims the case, not the item.
            json!({"type": "AggregationEvent", "action": "ADD", "parentID": case,
                "childEPCs": [epc]}),
            // Producing something else from the item claims that, not the item.
            json!({"type": "TransformationEvent", "inputEPCList": [epc],
                "outputEPCList": ["urn:epc:id:sgtin:0614141.107346.2"]}),
            // A transformation that produces nothing brings nothing into being.
            json!({"type": "TransformationEvent", "inputEPCList": [epc]}),
            // Declaring a commissioning erroneous claims nothing.
            json!({"type": "ObjectEvent", "action": "ADD", "epcList": [epc],
                "errorDeclaration": {"declarationTime": "2026-01-01T00:00:00Z"}}),
            json!({"type": "ObjectEvent", "action": "OBSERVE", "epcList": [epc]}),
        ];
        for event in &claims {
            let event = event.as_object().unwrap();
            let tag = Tag::naming(&device("reader-1"), event, epc);
            assert!(tag.claim() && tag.changes_state(), "{event:?}");
            // It claims nothing else.
            assert!(!tag.other_claim(), "{event:?}");
            // Its pair under the event's hash or a place claims another's, and so does one
            // under an identifier spelt otherwise (the lookups key the spelling).
            let unnamed = Tag::of(&device("reader-1"), event);
            assert!(!unnamed.claim() && unnamed.other_claim());
            let spelt = Tag::naming(
                &device("reader-1"),
                event,
                "URN:EPC:ID:SGTIN:0614141.107346.1",
            );
            assert!(!spelt.claim() && spelt.other_claim());
            assert_eq!(Tag::from_bits(tag.to_bits()), tag);
        }
        // Of the others, the packing claims the case and the transformation its output: another
        // identifier than the item.
        for (at, event) in others.iter().enumerate() {
            let tag = Tag::naming(&device("reader-1"), event.as_object().unwrap(), epc);
            assert!(!tag.claim(), "{event}");
            assert_eq!(tag.other_claim(), at == 4 || at == 5, "{event}");
        }
        // The packing's pair under the case claims it, and nothing else.
        let packing = others[4].as_object().unwrap();
        let under_case = Tag::naming(&device("reader-1"), packing, case);
        assert!(under_case.claim() && !under_case.other_claim());
        // Bits 58 and 60, as stored: a binary of V41 reads bit 58 alone, that it claims
        // something, as it did before.
        let other = Tag::naming(&device("reader-1"), packing, epc);
        assert_eq!(other.to_bits() >> 56, 0b10101);
        assert_eq!(Tag::from_bits(other.to_bits()), other);
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
