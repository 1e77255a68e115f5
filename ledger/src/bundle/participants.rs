//! The participants file: the registry of the parties as an offline verifier reads it (which
//! organisation owns which GS1 company prefixes and delegates to whom, which site belongs to
//! which organisation, which device to which site, and each device's public keys). `tagtrail
//! participants` writes it from the database; `tagtrail verify --participants` reads it.
//!
//! ```json
//! {"version": 1,
//!  "organisations": [{"id": "acme", "companyPrefixes": ["0614141"], "delegates": ["fastship"]}],
//!  "sites": [{"id": "acme-plant", "organisation": "acme"}],
//!  "devices": [{"id": "dock-door-1", "site": "acme-plant",
//!               "publicKeys": [{"algorithm": "ed25519", "key": "<base64>"}]}]}
//! ```

use serde::{Deserialize, Serialize};

use epcis::epc::CompanyPrefix;

use crate::batch::DevicePublicKey;
use crate::history::Parties;
use crate::ids::{DeviceId, OrganisationId, SiteId};

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
}

/// A site and its organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteEntry {
    pub id: SiteId,
    pub organisation: OrganisationId,
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
    #[error("device {device} names site {site}, which the file does not list")]
    UnknownSite { device: DeviceId, site: SiteId },
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
        for site in &self.sites {
            if !listed(&site.organisation) {
                return Err(ParticipantsError::UnknownOrganisation {
                    what: "site",
                    id: site.id.to_string(),
                    organisation: site.organisation.clone(),
                });
            }
            parties.add_site(site.id.clone(), site.organisation.clone());
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
