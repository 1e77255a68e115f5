//! EPC class URIs (`urn:epc:class:lgtin:`) and class-level pattern URIs (`urn:epc:idpat:...*`),
//! GS1 Tag Data Standard sections 6.4 and 8; and [`EpcUri`], any of the three URI kinds.

use std::fmt;
use std::str::FromStr;

use super::charset::escape_epc_uri;
use super::components::{Charset, Prefixed, escaped_text, fixed_digits, raw_text};
use super::error::EpcUriError;
use super::identity::{Epc, ID_PREFIX, parts};
use super::keys::{CompanyPrefix, Gtin};

/// `urn:epc:class:`
pub const CLASS_PREFIX: &str = "urn:epc:class:";
/// `urn:epc:idpat:`
pub const PATTERN_PREFIX: &str = "urn:epc:idpat:";

/// A GTIN and batch/lot: `urn:epc:class:lgtin:CompanyPrefix.ItemRefAndIndicator.Lot`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lgtin {
    key: Prefixed,
    lot: String,
}

impl Lgtin {
    /// Builds an LGTIN from a company prefix, indicator and item reference (13 digits together)
    /// and a raw lot (1 to 20 characters of set 82).
    pub fn new(company_prefix: &str, item_reference: &str, lot: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, item_reference, "item reference", 13)?,
            lot: raw_text("lot", lot, Charset::Cs82, 20)?,
        })
    }

    /// Parses `urn:epc:class:lgtin:...`.
    pub fn parse(uri: &str) -> Result<Self, EpcUriError> {
        let Some(body) = uri
            .strip_prefix(CLASS_PREFIX)
            .and_then(|r| r.strip_prefix("lgtin:"))
        else {
            return Err(EpcUriError::NotAnEpcUri);
        };
        let [cp, item, lot] = parts::<3>("lgtin", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, item, "item reference", 13)?,
            lot: escaped_text("lot", lot, Charset::Cs82, 20)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The indicator digit followed by the item reference.
    pub fn item_reference(&self) -> &str {
        &self.key.reference
    }

    /// The batch/lot, unescaped.
    pub fn lot(&self) -> &str {
        &self.lot
    }

    /// The GTIN-14.
    pub fn gtin(&self) -> Gtin {
        Gtin::from_valid(self.key.leading_digit_key())
    }
}

impl fmt::Display for Lgtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{CLASS_PREFIX}lgtin:{}.{}",
            self.key.uri_part(),
            escape_epc_uri(&self.lot)
        )
    }
}

/// The schemes whose class-level pattern (every serial of one class) has a GS1 key of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatternScheme {
    /// `urn:epc:idpat:sgtin:CompanyPrefix.ItemRef.*`: a product class (GTIN).
    Sgtin,
    /// `urn:epc:idpat:grai:CompanyPrefix.AssetType.*`
    Grai,
    /// `urn:epc:idpat:gdti:CompanyPrefix.DocumentType.*`
    Gdti,
    /// `urn:epc:idpat:sgcn:CompanyPrefix.CouponRef.*`
    Sgcn,
    /// `urn:epc:idpat:cpi:CompanyPrefix.PartRef.*`
    Cpi,
    /// `urn:epc:idpat:itip:CompanyPrefix.ItemRef.Piece.Total.*`
    Itip,
    /// `urn:epc:idpat:upui:CompanyPrefix.ItemRef.*`
    Upui,
}

impl PatternScheme {
    /// The scheme name as written in the URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sgtin => "sgtin",
            Self::Grai => "grai",
            Self::Gdti => "gdti",
            Self::Sgcn => "sgcn",
            Self::Cpi => "cpi",
            Self::Itip => "itip",
            Self::Upui => "upui",
        }
    }
}

/// A class-level EPC pattern: every serial of one class, e.g. `urn:epc:idpat:sgtin:4012345.066666.*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdPattern {
    scheme: PatternScheme,
    key: Prefixed,
    /// Piece and total of an ITIP pattern.
    piece_total: Option<(String, String)>,
}

impl IdPattern {
    /// Parses `urn:epc:idpat:<scheme>:...*` where all components but the last are given.
    pub fn parse(uri: &str) -> Result<Self, EpcUriError> {
        let Some(rest) = uri.strip_prefix(PATTERN_PREFIX) else {
            return Err(EpcUriError::NotAnEpcUri);
        };
        let (scheme_name, body) = rest.split_once(':').unwrap_or((rest, ""));
        let scheme = match scheme_name {
            "sgtin" => PatternScheme::Sgtin,
            "grai" => PatternScheme::Grai,
            "gdti" => PatternScheme::Gdti,
            "sgcn" => PatternScheme::Sgcn,
            "cpi" => PatternScheme::Cpi,
            "itip" => PatternScheme::Itip,
            "upui" => PatternScheme::Upui,
            other => {
                return Err(EpcUriError::UnknownScheme {
                    scheme: other.to_owned(),
                });
            }
        };
        let unsupported = EpcUriError::UnsupportedPattern {
            scheme: scheme.as_str(),
        };
        let Some(body) = body.strip_suffix(".*") else {
            return Err(unsupported);
        };
        if body.contains('*') {
            return Err(unsupported);
        }
        let name = scheme.as_str();
        let (key, piece_total) = match scheme {
            PatternScheme::Sgtin | PatternScheme::Upui => {
                let [cp, item] = parts::<2>(name, body)?;
                (Prefixed::fixed(cp, item, "item reference", 13)?, None)
            }
            PatternScheme::Grai => {
                let [cp, asset] = parts::<2>(name, body)?;
                (Prefixed::fixed(cp, asset, "asset type", 12)?, None)
            }
            PatternScheme::Gdti => {
                let [cp, doc] = parts::<2>(name, body)?;
                (Prefixed::fixed(cp, doc, "document type", 12)?, None)
            }
            PatternScheme::Sgcn => {
                let [cp, coupon] = parts::<2>(name, body)?;
                (Prefixed::fixed(cp, coupon, "coupon reference", 12)?, None)
            }
            PatternScheme::Cpi => {
                let [cp, part] = parts::<2>(name, body)?;
                (
                    Prefixed::text(cp, part, "component/part reference", Charset::Cs39, 30)?,
                    None,
                )
            }
            PatternScheme::Itip => {
                let [cp, item, piece, total] = parts::<4>(name, body)?;
                let key = Prefixed::fixed(cp, item, "item reference", 13)?;
                let piece = fixed_digits("piece", piece, 2)?;
                let total = fixed_digits("total", total, 2)?;
                (key, Some((piece, total)))
            }
        };
        Ok(Self {
            scheme,
            key,
            piece_total,
        })
    }

    /// The scheme of the identities this pattern matches.
    pub fn scheme(&self) -> PatternScheme {
        self.scheme
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The class reference (item reference with indicator, asset type, document type, ...),
    /// unescaped.
    pub fn reference(&self) -> &str {
        &self.key.reference
    }

    /// The GS1 key of the class as an element string: GTIN-14 for SGTIN and UPUI, AI (8003)
    /// without serial for GRAI, AI (253) for GDTI, AI (255) for SGCN, AI (8010) for CPI, AI (8006)
    /// for ITIP.
    pub fn class_key(&self) -> String {
        match self.scheme {
            PatternScheme::Sgtin | PatternScheme::Upui => self.key.leading_digit_key(),
            PatternScheme::Grai => {
                super::check_digit::with_check_digit(&format!("0{}", self.key.joined()))
            }
            PatternScheme::Gdti | PatternScheme::Sgcn => self.key.checked_key(),
            PatternScheme::Cpi => self.key.joined(),
            PatternScheme::Itip => {
                let (piece, total) = self.piece_total.as_ref().map_or(("", ""), |(p, t)| (p, t));
                format!("{}{piece}{total}", self.key.leading_digit_key())
            }
        }
    }
}

impl fmt::Display for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PATTERN_PREFIX}{}:{}",
            self.scheme.as_str(),
            self.key.uri_part()
        )?;
        if let Some((piece, total)) = &self.piece_total {
            write!(f, ".{piece}.{total}")?;
        }
        f.write_str(".*")
    }
}

/// Any EPC URI that names a GS1 identity or class: pure identity, LGTIN class, or class pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EpcUri {
    /// `urn:epc:id:...`
    Id(Epc),
    /// `urn:epc:class:lgtin:...`
    Class(Lgtin),
    /// `urn:epc:idpat:...*`
    Pattern(IdPattern),
}

impl EpcUri {
    /// Parses any of the three kinds, chosen by the prefix.
    pub fn parse(uri: &str) -> Result<Self, EpcUriError> {
        if uri.starts_with(ID_PREFIX) {
            Epc::parse(uri).map(Self::Id)
        } else if let Some(rest) = uri.strip_prefix(CLASS_PREFIX) {
            if rest.starts_with("lgtin:") {
                Lgtin::parse(uri).map(Self::Class)
            } else {
                let scheme = rest.split(':').next().unwrap_or_default().to_owned();
                Err(EpcUriError::UnknownScheme { scheme })
            }
        } else if uri.starts_with(PATTERN_PREFIX) {
            IdPattern::parse(uri).map(Self::Pattern)
        } else {
            Err(EpcUriError::NotAnEpcUri)
        }
    }
}

impl fmt::Display for EpcUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(epc) => epc.fmt(f),
            Self::Class(lgtin) => lgtin.fmt(f),
            Self::Pattern(pattern) => pattern.fmt(f),
        }
    }
}

impl FromStr for EpcUri {
    type Err = EpcUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Whether `uri` is a valid EPC class URI (`urn:epc:class:lgtin:...`).
pub fn is_valid_epc_class_uri(uri: &str) -> bool {
    Lgtin::parse(uri).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lgtin_and_patterns_round_trip() {
        for uri in [
            "urn:epc:class:lgtin:4012345.012345.Lot987",
            "urn:epc:class:lgtin:4012345.099988.2014-02-10",
            "urn:epc:idpat:sgtin:4012345.066666.*",
            "urn:epc:idpat:grai:4012345.66666.*",
            "urn:epc:idpat:gdti:4012345.55555.*",
            "urn:epc:idpat:sgcn:4012345.99999.*",
            "urn:epc:idpat:cpi:4012345.ABC.*",
            "urn:epc:idpat:itip:4012345.012345.01.02.*",
        ] {
            assert_eq!(
                EpcUri::parse(uri).map(|u| u.to_string()).as_deref(),
                Ok(uri)
            );
        }
    }

    #[test]
    fn a_pattern_with_a_wildcard_item_reference_is_unsupported() {
        assert_eq!(
            EpcUri::parse("urn:epc:idpat:sgtin:4012345.*.*"),
            Err(EpcUriError::UnsupportedPattern { scheme: "sgtin" })
        );
    }

    #[test]
    fn a_product_class_gives_its_gtin() {
        let Ok(pattern) = IdPattern::parse("urn:epc:idpat:sgtin:4054739.099914.*") else {
            panic!("must parse");
        };
        assert_eq!(pattern.class_key(), "04054739999148");
    }

    #[test]
    fn an_lgtin_lot_is_at_most_20_characters() {
        assert!(matches!(
            Lgtin::parse("urn:epc:class:lgtin:4012345.012345.123456789012345678901"),
            Err(EpcUriError::TooLong {
                component: "lot",
                ..
            })
        ));
    }
}
