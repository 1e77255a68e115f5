//! The participants file: the registry of the parties as an offline verifier reads it (which
//! organisation owns which GS1 company prefixes and delegates to whom, which site belongs to
//! which organisation and speaks for which locations, which device to which site, each device's public keys, and the keys values
//! are sealed to for each organisation). `tagtrail participants` writes it from the database;
//! `tagtrail verify --participants` reads it, and `tagtrail seal --to ORG --participants` seals
//! to an organisation's current keys from it, offline.
//!
//! ```json
//! {"version": 1,
//!  "organisations": [{"id": "acme", "companyPrefixes": ["0614141"], "delegates": ["fastship"]}],
//!  "sites": [{"id": "acme-plant", "organisation": "acme",
//!             "locations": ["urn:epc:idpat:sgln:0614141.00777.*"]}],
//!  "devices": [{"id": "dock-door-1", "site": "acme-plant",
//!               "publicKeys": [{"algorithm": "ed25519", "key": "<base64>"}]}]}
//! ```

use serde::{Deserialize, Serialize};

use epcis::epc::CompanyPrefix;

use crate::batch::DevicePublicKey;
use crate::history::Parties;
use crate::ids::{DeviceId, OrganisationId, SiteId};
use crate::location::SiteLocation;
use crate::sealed::RecipientKey;

use super::verify::DeviceRegistry;

/// The participants file, version 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Participants {
    /// Always 1.
    pub version: u8,
    pub organisations: Vec<OrganisationEntry>,
    pub sites: Vec<SiteEntry>,
    pub devices: Vec<DeviceEntry>,
}

/// An organisation, the company prefixes it owns and the organisations that act for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganisationEntry {
    pub id: OrganisationId,
    #[serde(default)]
    pub company_prefixes: Vec<String>,
    #[serde(default)]
    pub delegates: Vec<OrganisationId>,
    /// A regulator: its recalls hold for any item, besides each item's brand. Left out when
    /// false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regulator: bool,
    /// The keys values are sealed to for it (`tagtrail recipient add`), current and retired,
    /// oldest first. Left out when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipient_keys: Vec<RecipientKeyEntry>,
}

/// A key values are sealed to for an organisation: the X25519 public key (standard base64 of its
/// 32 bytes, as `tagtrail recipient keygen` writes it) and, once retired, when (RFC 3339). Seal
/// only to current keys; what was sealed to a retired key still opens with its private key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientKeyEntry {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<String>,
}

/// A site, its organisation and the locations it speaks for (as registered: an SGLN, an SGLN
/// pattern, a Digital Link or any other URI; left out when it has none). A shipment to one of
/// them is for the site's organisation to receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteEntry {
    pub id: SiteId,
    pub organisation: OrganisationId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
}

/// A device, its site and every public key it was registered with (several after a rekey).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceEntry {
    pub id: DeviceId,
    pub site: SiteId,
    #[serde(default)]
    pub public_keys: Vec<DevicePublicKey>,
}

/// Why a participants file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantsError {
    #[error("unknown participants file version {0}: this software reads version 1")]
    Version(u8),
    #[error("organisation {organisation}: company prefix {prefix:?}: {reason}")]
    Prefix {
        organisation: OrganisationId,
        prefix: String,
        reason: String,
    },
    #[error("company prefix {prefix} is listed for both {first} and {second}")]
    PrefixTwice {
        prefix: String,
        first: OrganisationId,
        second: OrganisationId,
    },
    #[error("{what} {id} names organisation {organisation}, which the file does not list")]
    UnknownOrganisation {
        what: &'static str,
        id: String,
        organisation: OrganisationId,
    },
    #[error("site {site}: location {location:?}: {reason}")]
    Location {
        site: SiteId,
        location: String,
        reason: String,
    },
    #[error("location {location:?} is listed for both site {first} and site {second}")]
    LocationTwice {
        location: String,
        first: SiteId,
        second: SiteId,
    },
    #[error("device {device} names site {site}, which the file does not list")]
    UnknownSite { device: DeviceId, site: SiteId },
    #[error("organisation {organisation}: recipient key {key:?}: {reason}")]
    RecipientKey {
        organisation: OrganisationId,
        key: String,
        reason: &'static str,
    },
}

impl Participants {
    /// The parties as the history judges authority with, after checking that every name the file
    /// uses is listed in it and no prefix has two owners.
    pub fn parties(&self) -> Result<Parties, ParticipantsError> {
        if self.version != 1 {
            return Err(ParticipantsError::Version(self.version));
        }
        let listed = |id: &OrganisationId| self.organisations.iter().any(|o| o.id == *id);
        let mut parties = Parties::new();
        for organisation in &self.organisations {
            for text in &organisation.company_prefixes {
                let prefix =
                    CompanyPrefix::parse(text).map_err(|error| ParticipantsError::Prefix {
                        organisation: organisation.id.clone(),
                        prefix: text.clone(),
                        reason: error.to_string(),
                    })?;
                if let Some(first) = parties.prefixes().find(|(p, _)| **p == prefix) {
                    return Err(ParticipantsError::PrefixTwice {
                        prefix: text.clone(),
                        first: first.1.clone(),
                        second: organisation.id.clone(),
                    });
                }
                parties.add_prefix(organisation.id.clone(), prefix);
            }
            for delegate in &organisation.delegates {
                if !listed(delegate) {
                    return Err(ParticipantsError::UnknownOrganisation {
                        what: "the delegates of organisation",
                        id: organisation.id.to_string(),
                        organisation: delegate.clone(),
                    });
                }
                parties.add_delegate(organisation.id.clone(), delegate.clone());
            }
            if organisation.regulator {
                parties.add_regulator(organisation.id.clone());
            }
        }
        self.recipient_keys_of_all()?;
        for site in &self.sites {
            if !listed(&site.organisation) {
                return Err(ParticipantsError::UnknownOrganisation {
                    what: "site",
                    id: site.id.to_string(),
                    organisation: site.organisation.clone(),
                });
            }
            parties.add_site(site.id.clone(), site.organisation.clone());
            for text in &site.locations {
                let location =
                    SiteLocation::parse(text).map_err(|error| ParticipantsError::Location {
                        site: site.id.clone(),
                        location: text.chars().take(128).collect(),
                        reason: error.to_string(),
                    })?;
                if let Some((_, first)) = parties
                    .locations()
                    .find(|(key, _)| *key == location.key().as_str())
                {
                    return Err(ParticipantsError::LocationTwice {
                        location: text.chars().take(128).collect(),
                        first: first.clone(),
                        second: site.id.clone(),
                    });
                }
                parties.add_location(site.id.clone(), &location);
            }
        }
        for device in &self.devices {
            if !self.sites.iter().any(|site| site.id == device.site) {
                return Err(ParticipantsError::UnknownSite {
                    device: device.id.clone(),
                    site: device.site.clone(),
                });
            }
            parties.add_device(device.id.clone(), device.site.clone());
        }
        Ok(parties)
    }

    /// Every organisation's recipient keys, read: refused when one is not a key, its retirement
    /// is not a time, or a key is listed twice (for one organisation or two).
    fn recipient_keys_of_all(
        &self,
    ) -> Result<Vec<(&OrganisationId, RecipientKey, bool)>, ParticipantsError> {
        let mut keys: Vec<(&OrganisationId, RecipientKey, bool)> = Vec::new();
        for organisation in &self.organisations {
            for entry in &organisation.recipient_keys {
                let refuse = |reason| ParticipantsError::RecipientKey {
                    organisation: organisation.id.clone(),
                    key: entry.key.chars().take(64).collect(),
                    reason,
                };
                let key = RecipientKey::parse_base64(&entry.key)
                    .ok_or_else(|| refuse("not the standard base64 of a 32-byte X25519 key"))?;
                if let Some(retired) = &entry.retired
                    && epcis::document::Timestamp::parse(retired).is_err()
                {
                    return Err(refuse("its retirement is not an RFC 3339 time"));
                }
                if keys.iter().any(|(_, listed, _)| *listed == key) {
                    return Err(refuse("listed twice"));
                }
                keys.push((&organisation.id, key, entry.retired.is_none()));
            }
        }
        Ok(keys)
    }

    /// The current recipient keys of `organisation` (those not retired): what a capturer seals
    /// its data to. Empty when the file lists none for it (or does not list it).
    pub fn current_recipient_keys(
        &self,
        organisation: &OrganisationId,
    ) -> Result<Vec<RecipientKey>, ParticipantsError> {
        Ok(self
            .recipient_keys_of_all()?
            .into_iter()
            .filter(|(owner, _, current)| *owner == organisation && *current)
            .map(|(_, key, _)| key)
            .collect())
    }

    /// Every device's registered keys.
    pub fn device_keys(&self) -> DeviceRegistry {
        let mut registry = DeviceRegistry::new();
        for device in &self.devices {
            for key in &device.public_keys {
                registry.add(device.id.clone(), key.clone());
            }
        }
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(keys: serde_json::Value) -> Participants {
        serde_json::from_value(serde_json::json!({
            "version": 1,
            "organisations": [
                {"id": "brand", "companyPrefixes": ["0614141"], "recipientKeys": keys},
                {"id": "carrier"}
            ],
            "sites": [],
            "devices": []
        }))
        .unwrap()
    }

    /// Recipient keys are read with the rest: current ones are what `seal --to` seals to, a
    /// retired one is not; a file without any reads as before and writes without the member.
    #[test]
    fn recipient_keys_are_read_and_only_current_ones_are_sealed_to() {
        let (old, new) = (
            RecipientKey::from_bytes([1; 32]),
            RecipientKey::from_bytes([2; 32]),
        );
        let participants = file(serde_json::json!([
            {"key": old.to_base64(), "retired": "2026-11-20T10:00:00Z"},
            {"key": new.to_base64()}
        ]));
        participants.parties().unwrap();
        let brand = OrganisationId::parse("brand").unwrap();
        assert_eq!(participants.current_recipient_keys(&brand).unwrap(), [new]);
        let carrier = OrganisationId::parse("carrier").unwrap();
        assert!(
            participants
                .current_recipient_keys(&carrier)
                .unwrap()
                .is_empty()
        );
        let written = serde_json::to_value(&participants).unwrap();
        assert!(written["organisations"][1].get("recipientKeys").is_none());
        assert_eq!(
            serde_json::from_value::<Participants>(written).unwrap(),
            participants
        );
    }

    fn with_sites(sites: serde_json::Value) -> Participants {
        let mut participants = file(serde_json::json!([]));
        participants.sites = serde_json::from_value(sites).unwrap();
        participants
    }

    /// A site's locations are read with it: a shipment to one of them is its organisation's to
    /// receive; a site without any writes without the member.
    #[test]
    fn site_locations_name_the_organisation_a_shipment_goes_to() {
        let participants = with_sites(serde_json::json!([
            {"id": "carrier-hub", "organisation": "carrier",
             "locations": ["urn:epc:idpat:sgln:0999999.00001.*", "geo:52.37,4.89"]},
            {"id": "brand-plant", "organisation": "brand"}
        ]));
        let parties = participants.parties().unwrap();
        let carrier = OrganisationId::parse("carrier").unwrap();
        let brand = OrganisationId::parse("brand").unwrap();
        for place in [
            "urn:epc:id:sgln:0999999.00001.dock-2",
            "https://id.gs1.org/414/0999999000019",
            "geo:52.37,4.89",
        ] {
            assert_eq!(parties.party_of(place), Some(&carrier), "{place}");
        }
        // Not registered: the owner of the GLN's company prefix, else nobody.
        assert_eq!(
            parties.party_of("urn:epc:id:sgln:0614141.00001.0"),
            Some(&brand)
        );
        assert_eq!(parties.party_of("urn:epc:id:sgln:0999999.00002.0"), None);
        assert_eq!(parties.party_of("geo:52.37,4.8"), None);
        let written = serde_json::to_value(&participants).unwrap();
        assert!(written["sites"][1].get("locations").is_none());
        assert_eq!(
            serde_json::from_value::<Participants>(written).unwrap(),
            participants
        );
    }

    /// A location that is not one, or one listed for two sites: refused, naming it.
    #[test]
    fn bad_site_locations_are_refused_naming_why() {
        let participants = with_sites(serde_json::json!([
            {"id": "hub", "organisation": "carrier", "locations": ["urn:epc:id:sgln:0999999.00001"]}
        ]));
        let error = participants.parties().unwrap_err().to_string();
        assert!(
            error.starts_with("site hub: location \"urn:epc:id:sgln:0999999.00001\""),
            "{error}"
        );
        // The same GLN written two ways is one location.
        let participants = with_sites(serde_json::json!([
            {"id": "hub", "organisation": "carrier", "locations": ["urn:epc:id:sgln:0999999.00001.0"]},
            {"id": "plant", "organisation": "brand", "locations": ["https://example.com/414/0999999000019"]}
        ]));
        assert_eq!(
            participants.parties().unwrap_err().to_string(),
            "location \"https://example.com/414/0999999000019\" is listed for both site hub \
             and site plant"
        );
        let participants = with_sites(serde_json::json!([
            {"id": "hub", "organisation": "nobody", "locations": []}
        ]));
        assert!(matches!(
            participants.parties(),
            Err(ParticipantsError::UnknownOrganisation { .. })
        ));
    }

    /// A key that is not one, a retirement that is not a time, a key listed twice, an unknown
    /// member: each refused, naming it.
    #[test]
    fn bad_recipient_keys_are_refused_naming_why() {
        let key = RecipientKey::from_bytes([3; 32]).to_base64();
        for (keys, why) in [
            (
                serde_json::json!([{"key": "AAAA"}]),
                "not the standard base64",
            ),
            (
                serde_json::json!([{"key": key, "retired": "yesterday"}]),
                "not an RFC 3339 time",
            ),
            (
                serde_json::json!([{"key": key}, {"key": key}]),
                "listed twice",
            ),
        ] {
            let error = file(keys).parties().unwrap_err().to_string();
            assert!(
                error.contains("organisation brand: recipient key") && error.contains(why),
                "{error}"
            );
        }
        let unknown = serde_json::from_value::<Participants>(serde_json::json!({
            "version": 1,
            "organisations": [{"id": "brand", "recipientKeys": [{"key": key, "owner": "x"}]}],
            "sites": [], "devices": []
        }));
        assert!(unknown.is_err());
    }
}
