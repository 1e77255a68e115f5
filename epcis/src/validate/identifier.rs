//! Identifier checks beyond the schema's `uri` format: a value that claims to be an EPC URI
//! (`urn:epc:...`) must be a well-formed one of the right level (instance or class), as the Tag
//! Data Standard defines it; a value that claims to be a GS1 Digital Link URI (an `http(s)` URI
//! whose path ends in a GS1 primary key such as `/01/<GTIN>`) must be a well-formed one, check
//! digits included.

use crate::digital_link::{DigitalLink, DigitalLinkError};
use crate::epc::{CommonEpc, Epc, EpcUri, is_valid_epc_uri};

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

/// Whether `text` is a valid SGTIN, SSCC or SGLN pure identity URI (the identifiers of everyday
/// capture) in a position that takes one: such a text is an absolute URI — its components are
/// digits, dots and characters of set 82 that are `pchar`s, or well-formed `%xx` escapes — and
/// passes [`check`], so one parse stands for both checks.
pub(super) fn is_valid_everyday_epc(text: &str, level: Level) -> bool {
    level != Level::Class && CommonEpc::parse(text).is_some()
}

/// Checks `uri` (already known to be a URI) when it is an EPC URI or a GS1 Digital Link URI;
/// other URIs (private identifiers) pass. Returns a message naming the rule broken.
pub(super) fn check(uri: &str, level: Level) -> Result<(), String> {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return check_digital_link(uri);
    }
    if !uri.starts_with(EPC_NAMESPACE) {
        return Ok(());
    }
    match level {
        // `is_valid_epc_uri` is the fast path; the parse below only builds the message.
        Level::Instance | Level::LocationOrParty if is_valid_epc_uri(uri) => Ok(()),
        Level::Instance | Level::LocationOrParty => match Epc::parse(uri) {
            Ok(_) => Ok(()),
            Err(error) if uri.starts_with("urn:epc:id:") => Err(format!(
                "{uri:?} is not a valid EPC pure identity URI: {error}"
            )),
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

/// An `http(s)` URI is held to the Digital Link syntax once its path ends in a recognised GS1
/// primary key and its value (`/01/<GTIN>`, possibly followed by qualifiers such as
/// `/21/<serial>`); URIs with no such pair at the end of the path are private identifiers and
/// pass.
fn check_digital_link(uri: &str) -> Result<(), String> {
    match DigitalLink::parse(uri) {
        Ok(_)
        | Err(
            DigitalLinkError::NotHttp
            | DigitalLinkError::NoHost
            | DigitalLinkError::NoPrimaryKey
            | DigitalLinkError::MissingValue { .. }
            | DigitalLinkError::UnknownAi { .. },
        ) => Ok(()),
        Err(error) => Err(format!(
            "{uri:?} is not a valid GS1 Digital Link URI: {error}"
        )),
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
    fn an_everyday_epc_is_a_uri_that_passes_the_identifier_check() {
        let plain_serial: String = (0u8..=0x7F)
            .filter(|&c| crate::epc::charset::is_plain_cs82(c))
            .map(char::from)
            .take(20)
            .collect();
        for uri in [
            "urn:epc:id:sgtin:0614141.107346.2017".to_owned(),
            "urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()".to_owned(),
            format!("urn:epc:id:sgtin:0614141.107346.{plain_serial}"),
            "urn:epc:id:sscc:0614141.1234567890".to_owned(),
            "urn:epc:id:sgln:0012345.11111.400".to_owned(),
            format!("urn:epc:id:sgln:0012345.11111.{plain_serial}"),
            "urn:epc:id:sgln:0012345.11111.a%3cb%3E".to_owned(),
        ] {
            for level in [Level::Instance, Level::LocationOrParty] {
                assert!(is_valid_everyday_epc(&uri, level), "{uri}");
            }
            assert!(crate::validate::format::is_uri(&uri), "{uri}");
            assert_eq!(check(&uri, Level::Instance), Ok(()), "{uri}");
            assert!(!is_valid_everyday_epc(&uri, Level::Class), "{uri}");
        }
        for uri in [
            "urn:epc:id:sgtin:0614141.107346.a b",
            "urn:epc:id:sgtin:0614141.107346.a%2",
            "urn:epc:id:giai:4000001.12345",
        ] {
            assert!(!is_valid_everyday_epc(uri, Level::Instance), "{uri}");
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
        assert_eq!(
            check("urn:epc:class:lgtin:4012345.012345.998877", Level::Class),
            Ok(())
        );
        assert_eq!(
            check("urn:epc:idpat:sgtin:4012345.098765.*", Level::Class),
            Ok(())
        );
    }

    #[test]
    fn private_uris_are_left_alone() {
        for uri in [
            "geo:42.698334,23.319941",
            "https://example.org/products/widget-7",
            "https://example.org/orders/2024/15",
            "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8",
        ] {
            assert_eq!(check(uri, Level::Instance), Ok(()), "{uri}");
        }
    }

    #[test]
    fn well_formed_digital_links_pass() {
        for uri in [
            "https://id.gs1.org/01/09506000134352/21/12345",
            "https://id.gs1.org/01/70614141123451/10/998877",
            "https://id.example.com/414/4012345000054",
            "https://id.example.com/8003/040123450007718765",
        ] {
            assert_eq!(check(uri, Level::Instance), Ok(()), "{uri}");
        }
    }

    #[test]
    fn a_digital_link_with_a_wrong_check_digit_or_length_is_rejected() {
        for uri in [
            "https://id.gs1.org/01/09506000134353/21/12345",
            "https://id.gs1.org/01/0950600013435/21/12345",
            "https://id.gs1.org/414/4012345000055",
            "https://id.gs1.org/00/106141412345678900",
        ] {
            assert!(check(uri, Level::Instance).is_err(), "{uri}");
        }
    }
}
