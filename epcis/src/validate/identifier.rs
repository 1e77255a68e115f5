//! Identifier checks beyond the schema's `uri` format: a value that claims to be an EPC URI
//! (`urn:epc:...`) must be a well-formed one of the right level (instance or class), as the Tag
//! Data Standard defines it.

use crate::epc::{Epc, EpcUri};

/// What an identifier position of an event holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    /// One object: `epcList`, `childEPCs`, `inputEPCList`, `outputEPCList`, `parentID`.
    Instance,
    /// A class of objects: `epcClass` of a quantity element.
    Class,
    /// A location or party: `readPoint`, `bizLocation`, `source`, `destination`.
    LocationOrParty,
}

const EPC_NAMESPACE: &str = "urn:epc:";

/// Checks `uri` (already known to be a URI) when it is in the EPC namespace; other URIs (GS1
/// Digital Link, private identifiers) pass. Returns a message naming the rule broken.
pub(super) fn check(uri: &str, level: Level) -> Result<(), String> {
    if !uri.starts_with(EPC_NAMESPACE) {
        return Ok(());
    }
    match level {
        Level::Instance | Level::LocationOrParty => match Epc::parse(uri) {
            Ok(_) => Ok(()),
            Err(error) if uri.starts_with("urn:epc:id:") => {
                Err(format!("{uri:?} is not a valid EPC pure identity URI: {error}"))
            }
            Err(_) => Err(format!(
                "{uri:?} is not an EPC pure identity URI (urn:epc:id:...); an instance-level \
                 identifier is required here"
            )),
        },
        Level::Class => match EpcUri::parse(uri) {
            Ok(EpcUri::Class(_) | EpcUri::Pattern(_)) => Ok(()),
            Ok(EpcUri::Id(_)) => Err(format!(
                "{uri:?} is an instance identifier; epcClass needs an EPC class URI \
                 (urn:epc:class:lgtin:...) or pattern URI (urn:epc:idpat:...)"
            )),
            Err(error) => Err(format!(
                "{uri:?} is not a valid EPC class or pattern URI: {error}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_epcs_pass_at_instance_level() {
        for uri in [
            "urn:epc:id:sgtin:0614141.107346.2017",
            "urn:epc:id:sscc:0614141.1234567890",
            "urn:epc:id:sgln:0012345.11111.400",
            "urn:epc:id:giai:4000001.12345",
        ] {
            assert_eq!(check(uri, Level::Instance), Ok(()), "{uri}");
        }
    }

    #[test]
    fn a_malformed_epc_is_rejected() {
        for uri in [
            "urn:epc:id:sgtin:0614141.107346",
            "urn:epc:id:sgtin:0614141.1073466.2017",
            "urn:epc:id:sgtn:0614141.107346.2017",
            "urn:epc:id:sscc:0614141.12345",
        ] {
            assert!(check(uri, Level::Instance).is_err(), "{uri}");
        }
    }

    #[test]
    fn class_and_instance_levels_are_not_interchangeable() {
        assert!(check("urn:epc:class:lgtin:4012345.012345.998877", Level::Instance).is_err());
        assert!(check("urn:epc:id:sgtin:0614141.107346.2017", Level::Class).is_err());
        assert_eq!(check("urn:epc:class:lgtin:4012345.012345.998877", Level::Class), Ok(()));
        assert_eq!(check("urn:epc:idpat:sgtin:4012345.098765.*", Level::Class), Ok(()));
    }

    #[test]
    fn uris_outside_the_epc_namespace_are_left_alone() {
        assert_eq!(check("https://id.gs1.org/01/09506000134352/21/12345", Level::Instance), Ok(()));
        assert_eq!(check("geo:42.698334,23.319941", Level::LocationOrParty), Ok(()));
    }
}
