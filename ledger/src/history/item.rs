//! Item identifiers as routes take them: an EPC pure-identity URI, a GS1 Digital Link URI
//! (uncompressed or compressed), or the hex of a tag's EPC memory bank. Each becomes the identifiers events may name the item by.

use std::fmt;

use epcis::digital_link::{DigitalLink, epc_to_digital_link};
use epcis::epc::Epc;
use epcis::tds::EpcTag;

/// The GS1 company prefix lengths a Digital Link may have been split with (Digital Link does not
/// carry the length; an EPC URI does).
const COMPANY_PREFIX_LENGTHS: std::ops::RangeInclusive<usize> = 6..=12;

/// An item asked about, and every identifier an event may name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What was asked, as given.
    pub asked: String,
    /// How it was read.
    pub form: Form,
    /// The EPC URIs it stands for: one, or, for a Digital Link, one per company prefix length
    /// that gives a valid EPC (the same GTIN and serial split differently).
    pub epcs: Vec<String>,
    /// The identifiers events may name it by: the EPC URIs and their canonical Digital Links
    /// (EPCIS 2.0 allows both in event lists).
    pub names: Vec<String>,
}

/// The form an item identifier was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    EpcUri,
    DigitalLink,
    TagHex,
}

impl Form {
    /// The form's name in answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::EpcUri => "epc-uri",
            Self::DigitalLink => "digital-link",
            Self::TagHex => "tag-hex",
        }
    }
}

/// An identifier no form could read, with why each form refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// What was given.
    pub given: String,
    /// For each form tried: its name and why it refused.
    pub tried: Vec<(&'static str, String)>,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an item identifier:", self.given)?;
        for (form, why) in &self.tried {
            write!(f, " as {form}, {why};")?;
        }
        f.write_str(
            " give an EPC URI (urn:epc:id:sgtin:0614141.107346.2017), a GS1 Digital Link (https://id.gs1.org/01/10614141073464/21/2017) or the EPC bank in hex (3034257BF7194E4000001A85)",
        )
    }
}

impl std::error::Error for ItemError {}

/// The most characters an identifier may have (a Digital Link with qualifiers fits well within).
pub const MAX_ITEM_LEN: usize = 512;

impl Item {
    /// Reads an identifier in whichever form it is in: `urn:epc:id:` is an EPC URI, `http(s)://`
    /// a Digital Link (uncompressed, or compressed: [`DigitalLink::parse_any`]), hex digits a tag's EPC bank; anything else is refused saying what each
    /// form would have needed.
    pub fn parse(given: &str) -> Result<Self, ItemError> {
        let refuse = |tried: Vec<(&'static str, String)>| ItemError {
            given: given.chars().take(MAX_ITEM_LEN).collect(),
            tried,
        };
        if given.len() > MAX_ITEM_LEN {
            return Err(refuse(vec![(
                "any form",
                format!("it is longer than {MAX_ITEM_LEN} characters"),
            )]));
        }
        let (form, epcs) = if given.starts_with("urn:") {
            let epc = Epc::parse(given)
                .map_err(|error| refuse(vec![(Form::EpcUri.name(), error.to_string())]))?;
            (Form::EpcUri, vec![epc])
        } else if given.starts_with("https://") || given.starts_with("http://") {
            let link = DigitalLink::parse_any(given)
                .map_err(|error| refuse(vec![(Form::DigitalLink.name(), error.to_string())]))?;
            let mut epcs = Vec::new();
            let mut last_error = None;
            for length in COMPANY_PREFIX_LENGTHS {
                match link.to_epc_uri(length) {
                    Ok(epcis::epc::EpcUri::Id(epc)) => epcs.push(epc),
                    Ok(_) => {}
                    Err(error) => last_error = Some(error.to_string()),
                }
            }
            if epcs.is_empty() {
                let why = last_error.unwrap_or_else(|| "it names no single item".to_owned());
                return Err(refuse(vec![(Form::DigitalLink.name(), why)]));
            }
            (Form::DigitalLink, epcs)
        } else if !given.is_empty() && given.bytes().all(|b| b.is_ascii_hexdigit()) {
            let tag = EpcTag::from_hex(given)
                .map_err(|error| refuse(vec![(Form::TagHex.name(), error.to_string())]))?;
            (Form::TagHex, vec![tag.into_epc()])
        } else {
            return Err(refuse(vec![
                (
                    Form::EpcUri.name(),
                    "it does not start with urn:epc:id:".to_owned(),
                ),
                (
                    Form::DigitalLink.name(),
                    "it does not start with https:// or http://".to_owned(),
                ),
                (Form::TagHex.name(), "it is not hex digits".to_owned()),
            ]));
        };
        let mut names: Vec<String> = epcs.iter().map(ToString::to_string).collect();
        let epc_uris = names.clone();
        for epc in &epcs {
            if let Ok(link) = epc_to_digital_link(epc)
                && !names.contains(&link)
            {
                names.push(link);
            }
        }
        Ok(Self {
            asked: given.to_owned(),
            form,
            epcs: epc_uris,
            names,
        })
    }

    /// The item as the registry reads it: a Digital Link's EPC URIs narrowed to those under a
    /// company prefix an organisation registered, when some are and some are not (its owner
    /// splits a GTIN one way; only an unregistered prefix leaves every split possible). Every
    /// other item is unchanged. A history looks up one name per EPC URI, so a link of a
    /// registered brand's item costs two lookups instead of eight.
    pub fn narrowed(mut self, parties: &super::Parties) -> Self {
        if self.form != Form::DigitalLink {
            return self;
        }
        let registered: Vec<String> = self
            .epcs
            .iter()
            .filter(|epc| parties.owner_of_split(epc).is_some())
            .cloned()
            .collect();
        if registered.is_empty() || registered.len() == self.epcs.len() {
            return self;
        }
        let epcs = &self.epcs;
        self.names
            .retain(|name| !epcs.contains(name) || registered.contains(name));
        self.epcs = registered;
        self
    }

    /// Whether an event's identifier names this item.
    pub fn is_named_by(&self, id: &str) -> bool {
        self.names.iter().any(|name| name == id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_registered_prefix_narrows_a_link_to_its_owner_s_split() {
        use crate::history::Parties;
        use crate::ids::OrganisationId;
        use epcis::epc::CompanyPrefix;
        let link = "https://id.gs1.org/01/80614141123458/21/6789";
        let broad = Item::parse(link).unwrap();
        assert!(broad.epcs.len() > 1, "{broad:?}");
        // Nobody registered the prefix: every split stays.
        assert_eq!(broad.clone().narrowed(&Parties::new()), broad);
        let mut parties = Parties::new();
        parties.add_prefix(
            OrganisationId::parse("brand").unwrap(),
            CompanyPrefix::parse("0614141").unwrap(),
        );
        let narrow = broad.clone().narrowed(&parties);
        assert_eq!(narrow.epcs, ["urn:epc:id:sgtin:0614141.812345.6789"]);
        assert_eq!(
            narrow.names,
            [
                "urn:epc:id:sgtin:0614141.812345.6789",
                "https://id.gs1.org/01/80614141123458/21/6789"
            ]
        );
        // An EPC URI is what it is.
        let uri = Item::parse("urn:epc:id:sgtin:0712345.000001.1").unwrap();
        assert_eq!(uri.clone().narrowed(&parties), uri);
    }

    #[test]
    fn an_epc_uri_names_itself_and_its_digital_link() {
        let item = Item::parse("urn:epc:id:sgtin:0614141.107346.2017").unwrap();
        assert_eq!(item.form, Form::EpcUri);
        assert_eq!(item.epcs, ["urn:epc:id:sgtin:0614141.107346.2017"]);
        assert!(item.is_named_by("https://id.gs1.org/01/10614141073464/21/2017"));
    }

    #[test]
    fn a_digital_link_stands_for_every_company_prefix_split() {
        let item = Item::parse("https://id.gs1.org/01/10614141073464/21/2017").unwrap();
        assert_eq!(item.form, Form::DigitalLink);
        assert!(
            item.epcs
                .contains(&"urn:epc:id:sgtin:0614141.107346.2017".to_owned())
        );
        assert!(
            item.epcs
                .contains(&"urn:epc:id:sgtin:061414.1107346.2017".to_owned())
        );
        assert_eq!(item.epcs.len(), COMPANY_PREFIX_LENGTHS.count());
    }

    #[test]
    fn a_compressed_link_names_what_its_uncompressed_link_names() {
        let plain = "https://id.gs1.org/01/10614141073464/21/2017";
        let link = DigitalLink::parse(plain).unwrap();
        let compressed = epcis::digital_link::compress(&link).unwrap();
        assert_ne!(compressed, plain);
        let item = Item::parse(&compressed).unwrap();
        let uncompressed = Item::parse(plain).unwrap();
        assert_eq!(item.form, Form::DigitalLink);
        assert_eq!(item.asked, compressed, "it is shown as asked");
        assert_eq!(item.epcs, uncompressed.epcs);
        assert_eq!(item.names, uncompressed.names);
        // A segment that decodes to nothing is refused as a Digital Link, saying why.
        let error = Item::parse("https://id.gs1.org/ARHKVAdpQ_").unwrap_err();
        assert!(error.to_string().contains("GS1 Digital Link"), "{error}");
    }

    #[test]
    fn tag_hex_is_decoded() {
        // SGTIN-96 of the Tag Data Standard's example.
        let item = Item::parse("3074257BF7194E4000001A85").unwrap();
        assert_eq!(item.form, Form::TagHex);
        assert_eq!(item.epcs, ["urn:epc:id:sgtin:0614141.812345.6789"]);
    }

    #[test]
    fn what_no_form_reads_is_refused_naming_each_form() {
        let error = Item::parse("banana").unwrap_err();
        let forms: Vec<&str> = error.tried.iter().map(|(form, _)| *form).collect();
        assert_eq!(forms, ["epc-uri", "digital-link", "tag-hex"]);
        let error = Item::parse("urn:epc:id:sgtin:0614141.107346").unwrap_err();
        assert_eq!(error.tried[0].0, "epc-uri");
        let error = Item::parse("https://example.com/no-gs1-key").unwrap_err();
        assert_eq!(error.tried[0].0, "digital-link");
        let error = Item::parse("3074").unwrap_err();
        assert_eq!(error.tried[0].0, "tag-hex");
        assert!(Item::parse(&"a".repeat(MAX_ITEM_LEN + 1)).is_err());
    }
}
