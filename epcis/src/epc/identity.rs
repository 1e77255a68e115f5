//! EPC pure identity URIs (`urn:epc:id:...`), GS1 Tag Data Standard section 6.3.
//!
//! Every type keeps its components as the standard splits them (company prefix, reference,
//! serial) and formats back to the canonical URI with `Display`. Text components are held as raw
//! characters: `%2F` in a URI is `/` in [`Sgtin::serial`].

use std::fmt;
use std::str::FromStr;

use super::charset::{escape_epc_uri, is_plain_cs82};
use super::components::{
    Charset, Prefixed, check_escaped_text, decimal, escaped_text, fixed_digits, padded_digits,
    raw_text, split,
};
use super::error::EpcUriError;
use super::keys::{CompanyPrefix, Gln, Gtin, SsccKey};

/// `urn:epc:id:`
pub const ID_PREFIX: &str = "urn:epc:id:";

/// Serialised Global Trade Item Number: `urn:epc:id:sgtin:CompanyPrefix.ItemRefAndIndicator.Serial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sgtin {
    key: Prefixed,
    serial: String,
}

impl Sgtin {
    /// Builds an SGTIN from a company prefix, the indicator digit followed by the item reference
    /// (13 digits with the company prefix), and a raw serial (1 to 20 characters of set 82).
    pub fn new(
        company_prefix: &str,
        item_reference: &str,
        serial: &str,
    ) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, item_reference, "item reference", 13)?,
            serial: raw_text("serial", serial, Charset::Cs82, 20)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, item, serial] = parts::<3>("sgtin", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, item, "item reference", 13)?,
            serial: escaped_text("serial", serial, Charset::Cs82, 20)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The indicator digit followed by the item reference, as in the URI.
    pub fn item_reference(&self) -> &str {
        &self.key.reference
    }

    /// The serial number, unescaped.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The GTIN-14 with its check digit.
    pub fn gtin(&self) -> Gtin {
        Gtin::from_valid(self.key.leading_digit_key())
    }
}

impl fmt::Display for Sgtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}sgtin:{}.{}",
            self.key.uri_part(),
            escape_epc_uri(&self.serial)
        )
    }
}

/// Serial Shipping Container Code: `urn:epc:id:sscc:CompanyPrefix.ExtensionAndSerialRef`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sscc {
    key: Prefixed,
}

impl Sscc {
    /// Builds an SSCC from a company prefix and the extension digit followed by the serial
    /// reference (17 digits with the company prefix).
    pub fn new(company_prefix: &str, serial_reference: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, serial_reference, "serial reference", 17)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference] = parts::<2>("sscc", body)?;
        Self::new(cp, reference)
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The extension digit followed by the serial reference, as in the URI.
    pub fn serial_reference(&self) -> &str {
        &self.key.reference
    }

    /// The SSCC-18 with its check digit.
    pub fn sscc(&self) -> SsccKey {
        SsccKey::from_valid(self.key.leading_digit_key())
    }
}

impl fmt::Display for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}sscc:{}", self.key.uri_part())
    }
}

/// Global Location Number with extension: `urn:epc:id:sgln:CompanyPrefix.LocationRef.Extension`.
/// The extension `0` means "no extension" (the plain GLN).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sgln {
    key: Prefixed,
    extension: String,
}

impl Sgln {
    /// Builds an SGLN from a company prefix, a location reference (12 digits with the company
    /// prefix) and a raw extension (1 to 20 characters of set 82; `0` for none).
    pub fn new(
        company_prefix: &str,
        location_reference: &str,
        extension: &str,
    ) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, location_reference, "location reference", 12)?,
            extension: raw_text("extension", extension, Charset::Cs82, 20)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, location, extension] = parts::<3>("sgln", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, location, "location reference", 12)?,
            extension: escaped_text("extension", extension, Charset::Cs82, 20)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The location reference.
    pub fn location_reference(&self) -> &str {
        &self.key.reference
    }

    /// The extension, unescaped (`0` when there is none).
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// The extension, or `None` when it is `0`.
    pub fn extension_if_any(&self) -> Option<&str> {
        (self.extension != "0").then_some(self.extension.as_str())
    }

    /// The GLN-13 with its check digit.
    pub fn gln(&self) -> Gln {
        Gln::from_valid(self.key.checked_key())
    }
}

impl fmt::Display for Sgln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}sgln:{}.{}",
            self.key.uri_part(),
            escape_epc_uri(&self.extension)
        )
    }
}

/// Global Returnable Asset Identifier: `urn:epc:id:grai:CompanyPrefix.AssetType.Serial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grai {
    key: Prefixed,
    serial: String,
}

impl Grai {
    /// Builds a GRAI from a company prefix, an asset type (12 digits with the company prefix)
    /// and a raw serial (1 to 16 characters of set 82).
    pub fn new(company_prefix: &str, asset_type: &str, serial: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, asset_type, "asset type", 12)?,
            serial: raw_text("serial", serial, Charset::Cs82, 16)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, asset_type, serial] = parts::<3>("grai", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, asset_type, "asset type", 12)?,
            serial: escaped_text("serial", serial, Charset::Cs82, 16)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The asset type.
    pub fn asset_type(&self) -> &str {
        &self.key.reference
    }

    /// The serial number, unescaped.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The 14 digits of AI (8003) before the serial: `0`, company prefix, asset type, check digit.
    pub fn grai_key(&self) -> String {
        super::check_digit::with_check_digit(&format!("0{}", self.key.joined()))
    }
}

impl fmt::Display for Grai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}grai:{}.{}",
            self.key.uri_part(),
            escape_epc_uri(&self.serial)
        )
    }
}

/// Global Individual Asset Identifier: `urn:epc:id:giai:CompanyPrefix.IndividualAssetRef`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Giai {
    key: Prefixed,
}

impl Giai {
    /// Builds a GIAI from a company prefix and a raw asset reference (set 82, at most 30
    /// characters together with the company prefix).
    pub fn new(company_prefix: &str, asset_reference: &str) -> Result<Self, EpcUriError> {
        let company_prefix = CompanyPrefix::parse(company_prefix)?;
        let max = 30 - company_prefix.len();
        let reference = raw_text(
            "individual asset reference",
            asset_reference,
            Charset::Cs82,
            max,
        )?;
        Ok(Self {
            key: Prefixed {
                company_prefix,
                reference,
            },
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference] = parts::<2>("giai", body)?;
        Ok(Self {
            key: Prefixed::text(
                cp,
                reference,
                "individual asset reference",
                Charset::Cs82,
                30,
            )?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The individual asset reference, unescaped.
    pub fn asset_reference(&self) -> &str {
        &self.key.reference
    }

    /// The GIAI element string (AI 8004): company prefix followed by the asset reference.
    pub fn giai_key(&self) -> String {
        self.key.joined()
    }
}

impl fmt::Display for Giai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}giai:{}", self.key.uri_part())
    }
}

/// Global Service Relation Number, recipient (`gsrn`) or provider (`gsrnp`):
/// `urn:epc:id:gsrn:CompanyPrefix.ServiceReference`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gsrn {
    key: Prefixed,
}

impl Gsrn {
    /// Builds a GSRN from a company prefix and a service reference (17 digits together).
    pub fn new(company_prefix: &str, service_reference: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, service_reference, "service reference", 17)?,
        })
    }

    fn parse_body(scheme: &'static str, body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference] = parts::<2>(scheme, body)?;
        Self::new(cp, reference)
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The service reference.
    pub fn service_reference(&self) -> &str {
        &self.key.reference
    }

    /// The 18-digit GSRN with its check digit.
    pub fn gsrn_key(&self) -> String {
        self.key.checked_key()
    }
}

/// Global Document Type Identifier: `urn:epc:id:gdti:CompanyPrefix.DocumentType.Serial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gdti {
    key: Prefixed,
    serial: String,
}

impl Gdti {
    /// Builds a GDTI from a company prefix, a document type (12 digits together) and a raw
    /// serial (1 to 17 characters of set 82).
    pub fn new(
        company_prefix: &str,
        document_type: &str,
        serial: &str,
    ) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, document_type, "document type", 12)?,
            serial: raw_text("serial", serial, Charset::Cs82, 17)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, document_type, serial] = parts::<3>("gdti", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, document_type, "document type", 12)?,
            serial: escaped_text("serial", serial, Charset::Cs82, 17)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The document type.
    pub fn document_type(&self) -> &str {
        &self.key.reference
    }

    /// The serial, unescaped.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The 13 digits of AI (253) before the serial.
    pub fn gdti_key(&self) -> String {
        self.key.checked_key()
    }
}

impl fmt::Display for Gdti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}gdti:{}.{}",
            self.key.uri_part(),
            escape_epc_uri(&self.serial)
        )
    }
}

/// Serialised Global Coupon Number: `urn:epc:id:sgcn:CompanyPrefix.CouponReference.Serial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sgcn {
    key: Prefixed,
    serial: String,
}

impl Sgcn {
    /// Builds an SGCN from a company prefix, a coupon reference (12 digits together) and a
    /// serial of 1 to 12 digits (leading zeros are significant).
    pub fn new(
        company_prefix: &str,
        coupon_reference: &str,
        serial: &str,
    ) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, coupon_reference, "coupon reference", 12)?,
            serial: padded_digits("serial", serial, 12)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference, serial] = parts::<3>("sgcn", body)?;
        Self::new(cp, reference, serial)
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The coupon reference.
    pub fn coupon_reference(&self) -> &str {
        &self.key.reference
    }

    /// The serial digits.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The 13 digits of AI (255) before the serial.
    pub fn gcn_key(&self) -> String {
        self.key.checked_key()
    }
}

impl fmt::Display for Sgcn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}sgcn:{}.{}", self.key.uri_part(), self.serial)
    }
}

/// Component / Part Identifier: `urn:epc:id:cpi:CompanyPrefix.ComponentPartRef.Serial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpi {
    key: Prefixed,
    serial: u64,
}

/// The largest CPI serial: twelve nines (AI 8011 is up to 12 digits).
const CPI_SERIAL_MAX: u64 = 999_999_999_999;

impl Cpi {
    /// Builds a CPI from a company prefix, a raw component/part reference (set 39, at most 30
    /// characters together with the company prefix) and a serial of at most 12 digits.
    pub fn new(
        company_prefix: &str,
        part_reference: &str,
        serial: u64,
    ) -> Result<Self, EpcUriError> {
        let company_prefix = CompanyPrefix::parse(company_prefix)?;
        let max = 30 - company_prefix.len();
        let reference = raw_text(
            "component/part reference",
            part_reference,
            Charset::Cs39,
            max,
        )?;
        if serial > CPI_SERIAL_MAX {
            return Err(EpcUriError::OutOfRange {
                component: "serial",
                max: CPI_SERIAL_MAX,
            });
        }
        Ok(Self {
            key: Prefixed {
                company_prefix,
                reference,
            },
            serial,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        // The reference of set 39 has no dots, so the serial is after the last dot.
        let [cp, rest] = parts::<2>("cpi", body)?;
        let Some((reference, serial)) = rest.rsplit_once('.') else {
            return Err(EpcUriError::ComponentCount {
                scheme: "cpi",
                expected: 3,
                found: 2,
            });
        };
        Ok(Self {
            key: Prefixed::text(cp, reference, "component/part reference", Charset::Cs39, 30)?,
            serial: decimal("serial", serial, CPI_SERIAL_MAX)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The component/part reference, unescaped.
    pub fn part_reference(&self) -> &str {
        &self.key.reference
    }

    /// The serial.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The AI (8010) value: company prefix and part reference.
    pub fn cpid(&self) -> String {
        self.key.joined()
    }
}

impl fmt::Display for Cpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}cpi:{}.{}", self.key.uri_part(), self.serial)
    }
}

/// General Identifier: `urn:epc:id:gid:ManagerNumber.ObjectClass.SerialNumber` (no GS1 key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gid {
    manager: u32,
    class: u32,
    serial: u64,
}

/// Field limits of GID-96 (28, 24 and 36 bits), which bound the URI too.
const GID_MANAGER_MAX: u64 = (1 << 28) - 1;
const GID_CLASS_MAX: u64 = (1 << 24) - 1;
const GID_SERIAL_MAX: u64 = (1 << 36) - 1;

impl Gid {
    /// Builds a GID; the manager number fits 28 bits, the class 24 bits and the serial 36 bits.
    pub fn new(manager: u32, class: u32, serial: u64) -> Result<Self, EpcUriError> {
        if u64::from(manager) > GID_MANAGER_MAX {
            return Err(EpcUriError::OutOfRange {
                component: "general manager number",
                max: GID_MANAGER_MAX,
            });
        }
        if u64::from(class) > GID_CLASS_MAX {
            return Err(EpcUriError::OutOfRange {
                component: "object class",
                max: GID_CLASS_MAX,
            });
        }
        if serial > GID_SERIAL_MAX {
            return Err(EpcUriError::OutOfRange {
                component: "serial",
                max: GID_SERIAL_MAX,
            });
        }
        Ok(Self {
            manager,
            class,
            serial,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [manager, class, serial] = parts::<3>("gid", body)?;
        let manager = decimal("general manager number", manager, GID_MANAGER_MAX)?;
        let class = decimal("object class", class, GID_CLASS_MAX)?;
        let serial = decimal("serial", serial, GID_SERIAL_MAX)?;
        // Both values were checked against limits below 2^28.
        Ok(Self {
            manager: manager as u32,
            class: class as u32,
            serial,
        })
    }

    /// The general manager number.
    pub fn manager(&self) -> u32 {
        self.manager
    }

    /// The object class.
    pub fn class(&self) -> u32 {
        self.class
    }

    /// The serial number.
    pub fn serial(&self) -> u64 {
        self.serial
    }
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}gid:{}.{}.{}",
            self.manager, self.class, self.serial
        )
    }
}

/// Global Location Number of a party: `urn:epc:id:pgln:CompanyPrefix.PartyReference`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pgln {
    key: Prefixed,
}

impl Pgln {
    /// Builds a PGLN from a company prefix and a party reference (12 digits together).
    pub fn new(company_prefix: &str, party_reference: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, party_reference, "party reference", 12)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference] = parts::<2>("pgln", body)?;
        Self::new(cp, reference)
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The party reference.
    pub fn party_reference(&self) -> &str {
        &self.key.reference
    }

    /// The GLN-13 with its check digit.
    pub fn gln(&self) -> Gln {
        Gln::from_valid(self.key.checked_key())
    }
}

impl fmt::Display for Pgln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}pgln:{}", self.key.uri_part())
    }
}

/// Individual Trade Item Piece:
/// `urn:epc:id:itip:CompanyPrefix.ItemRefAndIndicator.Piece.Total.Serial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Itip {
    key: Prefixed,
    piece: String,
    total: String,
    serial: String,
}

impl Itip {
    /// Builds an ITIP from a company prefix, indicator and item reference (13 digits together),
    /// two-digit piece and total counts, and a raw serial (1 to 20 characters of set 82).
    pub fn new(
        company_prefix: &str,
        item_reference: &str,
        piece: &str,
        total: &str,
        serial: &str,
    ) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, item_reference, "item reference", 13)?,
            piece: fixed_digits("piece", piece, 2)?,
            total: fixed_digits("total", total, 2)?,
            serial: raw_text("serial", serial, Charset::Cs82, 20)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, item, piece, total, serial] = parts::<5>("itip", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, item, "item reference", 13)?,
            piece: fixed_digits("piece", piece, 2)?,
            total: fixed_digits("total", total, 2)?,
            serial: escaped_text("serial", serial, Charset::Cs82, 20)?,
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

    /// The piece number (two digits).
    pub fn piece(&self) -> &str {
        &self.piece
    }

    /// The total number of pieces (two digits).
    pub fn total(&self) -> &str {
        &self.total
    }

    /// The serial, unescaped.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The GTIN-14 of the whole trade item.
    pub fn gtin(&self) -> Gtin {
        Gtin::from_valid(self.key.leading_digit_key())
    }

    /// The 18 digits of AI (8006): GTIN, piece, total.
    pub fn itip_key(&self) -> String {
        format!(
            "{}{}{}",
            self.key.leading_digit_key(),
            self.piece,
            self.total
        )
    }
}

impl fmt::Display for Itip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}itip:{}.{}.{}.{}",
            self.key.uri_part(),
            self.piece,
            self.total,
            escape_epc_uri(&self.serial)
        )
    }
}

/// Global Identification Number for Consignment: `urn:epc:id:ginc:CompanyPrefix.ConsignmentRef`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ginc {
    key: Prefixed,
}

impl Ginc {
    /// Builds a GINC from a company prefix and a raw consignment reference (set 82, at most 30
    /// characters together).
    pub fn new(company_prefix: &str, consignment_reference: &str) -> Result<Self, EpcUriError> {
        let company_prefix = CompanyPrefix::parse(company_prefix)?;
        let max = 30 - company_prefix.len();
        let reference = raw_text(
            "consignment reference",
            consignment_reference,
            Charset::Cs82,
            max,
        )?;
        Ok(Self {
            key: Prefixed {
                company_prefix,
                reference,
            },
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference] = parts::<2>("ginc", body)?;
        Ok(Self {
            key: Prefixed::text(cp, reference, "consignment reference", Charset::Cs82, 30)?,
        })
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The consignment reference, unescaped.
    pub fn consignment_reference(&self) -> &str {
        &self.key.reference
    }

    /// The AI (401) value.
    pub fn ginc_key(&self) -> String {
        self.key.joined()
    }
}

impl fmt::Display for Ginc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}ginc:{}", self.key.uri_part())
    }
}

/// Global Shipment Identification Number: `urn:epc:id:gsin:CompanyPrefix.ShipperReference`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gsin {
    key: Prefixed,
}

impl Gsin {
    /// Builds a GSIN from a company prefix and a shipper reference (16 digits together).
    pub fn new(company_prefix: &str, shipper_reference: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, shipper_reference, "shipper reference", 16)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, reference] = parts::<2>("gsin", body)?;
        Self::new(cp, reference)
    }

    /// The GS1 company prefix.
    pub fn company_prefix(&self) -> &CompanyPrefix {
        &self.key.company_prefix
    }

    /// The shipper reference.
    pub fn shipper_reference(&self) -> &str {
        &self.key.reference
    }

    /// The 17-digit GSIN with its check digit.
    pub fn gsin_key(&self) -> String {
        self.key.checked_key()
    }
}

impl fmt::Display for Gsin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ID_PREFIX}gsin:{}", self.key.uri_part())
    }
}

/// Unit Pack Identifier: `urn:epc:id:upui:CompanyPrefix.ItemRefAndIndicator.TPX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upui {
    key: Prefixed,
    tpx: String,
}

impl Upui {
    /// Builds a UPUI from a company prefix, indicator and item reference (13 digits together)
    /// and a raw third-party controlled serial (1 to 28 characters of set 82).
    pub fn new(company_prefix: &str, item_reference: &str, tpx: &str) -> Result<Self, EpcUriError> {
        Ok(Self {
            key: Prefixed::fixed(company_prefix, item_reference, "item reference", 13)?,
            tpx: raw_text("third-party serial", tpx, Charset::Cs82, 28)?,
        })
    }

    fn parse_body(body: &str) -> Result<Self, EpcUriError> {
        let [cp, item, tpx] = parts::<3>("upui", body)?;
        Ok(Self {
            key: Prefixed::fixed(cp, item, "item reference", 13)?,
            tpx: escaped_text("third-party serial", tpx, Charset::Cs82, 28)?,
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

    /// The third-party controlled, serialised extension (AI 235), unescaped.
    pub fn tpx(&self) -> &str {
        &self.tpx
    }

    /// The GTIN-14.
    pub fn gtin(&self) -> Gtin {
        Gtin::from_valid(self.key.leading_digit_key())
    }
}

impl fmt::Display for Upui {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ID_PREFIX}upui:{}.{}",
            self.key.uri_part(),
            escape_epc_uri(&self.tpx)
        )
    }
}

/// An EPC pure identity: one physical or digital object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Epc {
    /// `urn:epc:id:sgtin:`
    Sgtin(Sgtin),
    /// `urn:epc:id:sscc:`
    Sscc(Sscc),
    /// `urn:epc:id:sgln:`
    Sgln(Sgln),
    /// `urn:epc:id:grai:`
    Grai(Grai),
    /// `urn:epc:id:giai:`
    Giai(Giai),
    /// `urn:epc:id:gsrn:` (service recipient)
    Gsrn(Gsrn),
    /// `urn:epc:id:gsrnp:` (service provider)
    Gsrnp(Gsrn),
    /// `urn:epc:id:gdti:`
    Gdti(Gdti),
    /// `urn:epc:id:sgcn:`
    Sgcn(Sgcn),
    /// `urn:epc:id:cpi:`
    Cpi(Cpi),
    /// `urn:epc:id:gid:`
    Gid(Gid),
    /// `urn:epc:id:pgln:`
    Pgln(Pgln),
    /// `urn:epc:id:itip:`
    Itip(Itip),
    /// `urn:epc:id:ginc:`
    Ginc(Ginc),
    /// `urn:epc:id:gsin:`
    Gsin(Gsin),
    /// `urn:epc:id:upui:`
    Upui(Upui),
}

impl Epc {
    /// Parses a pure identity URI such as `urn:epc:id:sgtin:0614141.107346.2017`.
    pub fn parse(uri: &str) -> Result<Self, EpcUriError> {
        let Some(rest) = uri.strip_prefix(ID_PREFIX) else {
            return Err(EpcUriError::NotAnEpcUri);
        };
        let (scheme, body) = rest.split_once(':').unwrap_or((rest, ""));
        Ok(match scheme {
            "sgtin" => Self::Sgtin(Sgtin::parse_body(body)?),
            "sscc" => Self::Sscc(Sscc::parse_body(body)?),
            "sgln" => Self::Sgln(Sgln::parse_body(body)?),
            "grai" => Self::Grai(Grai::parse_body(body)?),
            "giai" => Self::Giai(Giai::parse_body(body)?),
            "gsrn" => Self::Gsrn(Gsrn::parse_body("gsrn", body)?),
            "gsrnp" => Self::Gsrnp(Gsrn::parse_body("gsrnp", body)?),
            "gdti" => Self::Gdti(Gdti::parse_body(body)?),
            "sgcn" => Self::Sgcn(Sgcn::parse_body(body)?),
            "cpi" => Self::Cpi(Cpi::parse_body(body)?),
            "gid" => Self::Gid(Gid::parse_body(body)?),
            "pgln" => Self::Pgln(Pgln::parse_body(body)?),
            "itip" => Self::Itip(Itip::parse_body(body)?),
            "ginc" => Self::Ginc(Ginc::parse_body(body)?),
            "gsin" => Self::Gsin(Gsin::parse_body(body)?),
            "upui" => Self::Upui(Upui::parse_body(body)?),
            other => {
                return Err(EpcUriError::UnknownScheme {
                    scheme: other.to_owned(),
                });
            }
        })
    }

    /// The scheme name as written in the URI, e.g. `sgtin`.
    /// The GS1 company prefix the EPC was issued under; `None` for a GID, whose manager number is
    /// not a GS1 company prefix.
    pub fn company_prefix(&self) -> Option<&CompanyPrefix> {
        Some(match self {
            Self::Sgtin(v) => v.company_prefix(),
            Self::Sscc(v) => v.company_prefix(),
            Self::Sgln(v) => v.company_prefix(),
            Self::Grai(v) => v.company_prefix(),
            Self::Giai(v) => v.company_prefix(),
            Self::Gsrn(v) | Self::Gsrnp(v) => v.company_prefix(),
            Self::Gdti(v) => v.company_prefix(),
            Self::Sgcn(v) => v.company_prefix(),
            Self::Cpi(v) => v.company_prefix(),
            Self::Pgln(v) => v.company_prefix(),
            Self::Itip(v) => v.company_prefix(),
            Self::Ginc(v) => v.company_prefix(),
            Self::Gsin(v) => v.company_prefix(),
            Self::Upui(v) => v.company_prefix(),
            Self::Gid(_) => return None,
        })
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Sgtin(_) => "sgtin",
            Self::Sscc(_) => "sscc",
            Self::Sgln(_) => "sgln",
            Self::Grai(_) => "grai",
            Self::Giai(_) => "giai",
            Self::Gsrn(_) => "gsrn",
            Self::Gsrnp(_) => "gsrnp",
            Self::Gdti(_) => "gdti",
            Self::Sgcn(_) => "sgcn",
            Self::Cpi(_) => "cpi",
            Self::Gid(_) => "gid",
            Self::Pgln(_) => "pgln",
            Self::Itip(_) => "itip",
            Self::Ginc(_) => "ginc",
            Self::Gsin(_) => "gsin",
            Self::Upui(_) => "upui",
        }
    }
}

impl fmt::Display for Epc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sgtin(v) => v.fmt(f),
            Self::Sscc(v) => v.fmt(f),
            Self::Sgln(v) => v.fmt(f),
            Self::Grai(v) => v.fmt(f),
            Self::Giai(v) => v.fmt(f),
            Self::Gsrn(v) => write!(f, "{ID_PREFIX}gsrn:{}", v.key.uri_part()),
            Self::Gsrnp(v) => write!(f, "{ID_PREFIX}gsrnp:{}", v.key.uri_part()),
            Self::Gdti(v) => v.fmt(f),
            Self::Sgcn(v) => v.fmt(f),
            Self::Cpi(v) => v.fmt(f),
            Self::Gid(v) => v.fmt(f),
            Self::Pgln(v) => v.fmt(f),
            Self::Itip(v) => v.fmt(f),
            Self::Ginc(v) => v.fmt(f),
            Self::Gsin(v) => v.fmt(f),
            Self::Upui(v) => v.fmt(f),
        }
    }
}

impl FromStr for Epc {
    type Err = EpcUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Epc {
    type Error = EpcUriError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

/// Whether `uri` is a valid EPC pure identity URI.
///
/// Agrees with [`Epc::parse`]; the schemes of everyday capture (SGTIN, SSCC, SGLN) are checked
/// without building the identifier (no allocation), the others by parsing.
pub fn is_valid_epc_uri(uri: &str) -> bool {
    CommonEpc::parse(uri).is_some() || Epc::parse(uri).is_ok()
}

/// An SGTIN, SSCC or SGLN pure identity URI that [`Epc::parse`] accepts, as borrowed components
/// (serial and extension still written in EPC URI form, `%`-escapes included): the schemes of
/// everyday capture, read without allocating for validation and Digital Link conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommonEpc<'a> {
    /// `urn:epc:id:sgtin:CompanyPrefix.ItemRefAndIndicator.Serial`
    Sgtin {
        company_prefix: &'a str,
        item_reference: &'a str,
        serial: &'a str,
    },
    /// `urn:epc:id:sscc:CompanyPrefix.SerialReference`
    Sscc {
        company_prefix: &'a str,
        serial_reference: &'a str,
    },
    /// `urn:epc:id:sgln:CompanyPrefix.LocationReference.Extension`
    Sgln {
        company_prefix: &'a str,
        location_reference: &'a str,
        extension: &'a str,
    },
}

impl<'a> CommonEpc<'a> {
    /// The components of `uri`, or `None` if it is not a valid SGTIN, SSCC or SGLN URI (other
    /// schemes included). Applies exactly the rules of the schemes' `parse_body`, with the
    /// checks written as plain byte tests: this runs for every identifier of every event, twice
    /// (validation and the event hash), and the error details of the full parser are not needed.
    pub(crate) fn parse(uri: &'a str) -> Option<Self> {
        let rest = uri.strip_prefix(ID_PREFIX)?;
        if let Some(body) = rest.strip_prefix("sgtin:") {
            let (cp, rest) = digits_then_dot(body)?;
            let (item, serial) = digits_then_dot(rest)?;
            (is_key_split(cp, item, 13) && is_escaped_text(serial, 20)).then_some(Self::Sgtin {
                company_prefix: cp,
                item_reference: item,
                serial,
            })
        } else if let Some(body) = rest.strip_prefix("sscc:") {
            let (cp, reference) = digits_then_dot(body)?;
            (is_key_split(cp, reference, 17) && reference.bytes().all(|b| b.is_ascii_digit()))
                .then_some(Self::Sscc {
                    company_prefix: cp,
                    serial_reference: reference,
                })
        } else if let Some(body) = rest.strip_prefix("sgln:") {
            let (cp, rest) = digits_then_dot(body)?;
            let (location, extension) = digits_then_dot(rest)?;
            (is_key_split(cp, location, 12) && is_escaped_text(extension, 20)).then_some(
                Self::Sgln {
                    company_prefix: cp,
                    location_reference: location,
                    extension,
                },
            )
        } else {
            None
        }
    }
}

/// Splits a leading run of digits ended by a dot off `text`: the digits and what follows the
/// dot. `None` if the first byte that is not a digit is not a dot. (A digits-only component
/// of an EPC URI body is exactly such a run: components are separated by dots.)
fn digits_then_dot(text: &str) -> Option<(&str, &str)> {
    let end = text.bytes().position(|b| !b.is_ascii_digit())?;
    (text.as_bytes()[end] == b'.').then(|| (&text[..end], &text[end + 1..]))
}

/// Whether a company prefix and a reference (both already known to be digits) have the
/// lengths of [`Prefixed::fixed`] for a key of `total` digits: 6 to 12 digits of company
/// prefix, and the remaining digits of reference.
fn is_key_split(company_prefix: &str, reference: &str, total: usize) -> bool {
    (6..=12).contains(&company_prefix.len()) && reference.len() == total - company_prefix.len()
}

/// Whether an escaped component passes `check_escaped_text` for character set 82 and at most
/// `max` characters. A component without escapes (the usual serial) is checked byte by byte
/// here; one with `%` escapes or any other doubt goes through the full check.
fn is_escaped_text(escaped: &str, max: usize) -> bool {
    if !escaped.is_empty() && escaped.len() <= max && escaped.bytes().all(is_plain_cs82) {
        return true;
    }
    check_escaped_text("component", escaped, Charset::Cs82, max).is_ok()
}

/// Splits a URI body into exactly `N` components.
pub(crate) fn parts<'a, const N: usize>(
    scheme: &'static str,
    body: &'a str,
) -> Result<[&'a str; N], EpcUriError> {
    split::<N>(scheme, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips(uri: &str) {
        let parsed = Epc::parse(uri);
        assert_eq!(
            parsed.as_ref().map(ToString::to_string).as_deref(),
            Ok(uri),
            "{uri}"
        );
    }

    #[test]
    fn tds_example_uris_round_trip() {
        // Examples from GS1 Tag Data Standard 2.x, section 6.3 and the CBV/EPCIS examples.
        for uri in [
            "urn:epc:id:sgtin:0614141.112345.400",
            "urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()",
            "urn:epc:id:sscc:0614141.1234567890",
            "urn:epc:id:sgln:0614141.12345.400",
            "urn:epc:id:grai:0614141.12345.400",
            "urn:epc:id:giai:0614141.12345400",
            "urn:epc:id:gsrn:0614141.1234567890",
            "urn:epc:id:gsrnp:0614141.1234567890",
            "urn:epc:id:gdti:0614141.12345.400",
            "urn:epc:id:sgcn:4012345.67890.04711",
            "urn:epc:id:cpi:0614141.123ABC.123456789",
            "urn:epc:id:cpi:0614141.11111111111111-A%23%2F.1234",
            "urn:epc:id:gid:95100000.12345.400",
            "urn:epc:id:pgln:0614141.00000",
            "urn:epc:id:itip:4012345.012345.01.02.987",
            "urn:epc:id:ginc:0614141.xyz47%2F11",
            "urn:epc:id:gsin:4012345.222333444",
            "urn:epc:id:upui:1234567.098765.51qIgY)%3C%26Jp3*j7'SDB",
            "urn:epc:id:gdti:987659999999..9",
            "urn:epc:id:pgln:999999999999.",
            "urn:epc:id:sgtin:415056789012.0.987654",
        ] {
            round_trips(uri);
        }
    }

    #[test]
    fn escapes_are_normalised_to_upper_case() {
        let epc = Epc::parse("urn:epc:id:sgtin:0614141.812345.a%2fb");
        assert_eq!(
            epc.map(|e| e.to_string()).as_deref(),
            Ok("urn:epc:id:sgtin:0614141.812345.a%2Fb")
        );
    }

    #[test]
    fn sgtin_gives_its_gtin_with_check_digit() {
        let Ok(Epc::Sgtin(sgtin)) = Epc::parse("urn:epc:id:sgtin:0614141.107346.2017") else {
            panic!("the TDS example must parse");
        };
        assert_eq!(sgtin.gtin().as_str(), "10614141073464");
        assert_eq!(sgtin.serial(), "2017");
    }

    #[test]
    fn a_short_item_reference_names_the_component_and_count() {
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.10734.2017"),
            Err(EpcUriError::DigitCount {
                component: "item reference",
                expected: 6,
                found: 5
            })
        );
    }

    #[test]
    fn a_five_digit_company_prefix_is_rejected() {
        assert_eq!(
            Epc::parse("urn:epc:id:sscc:06141.123456789012"),
            Err(EpcUriError::CompanyPrefixLength { found: 5 })
        );
    }

    #[test]
    fn a_serial_of_21_characters_is_too_long() {
        assert!(matches!(
            Epc::parse("urn:epc:id:sgtin:0614141.107346.123456789012345678901"),
            Err(EpcUriError::TooLong {
                component: "serial",
                max: 20,
                found: 21
            })
        ));
    }

    #[test]
    fn a_serial_with_a_space_is_rejected() {
        assert!(matches!(
            Epc::parse("urn:epc:id:sgtin:0614141.107346.12 3"),
            Err(EpcUriError::BadCharacter {
                component: "serial",
                character: ' '
            })
        ));
    }

    #[test]
    fn an_unknown_scheme_is_named() {
        assert_eq!(
            Epc::parse("urn:epc:id:xyz:1.2"),
            Err(EpcUriError::UnknownScheme {
                scheme: "xyz".into()
            })
        );
    }

    #[test]
    fn a_missing_component_is_counted() {
        assert_eq!(
            Epc::parse("urn:epc:id:sgtin:0614141.107346"),
            Err(EpcUriError::ComponentCount {
                scheme: "sgtin",
                expected: 3,
                found: 2
            })
        );
    }

    #[test]
    fn gid_fields_are_bounded_by_their_bit_widths() {
        assert!(Epc::parse("urn:epc:id:gid:268435455.16777215.68719476735").is_ok());
        assert!(matches!(
            Epc::parse("urn:epc:id:gid:268435456.1.1"),
            Err(EpcUriError::OutOfRange {
                component: "general manager number",
                ..
            })
        ));
        assert_eq!(
            Epc::parse("urn:epc:id:gid:1.01.1"),
            Err(EpcUriError::LeadingZero {
                component: "object class"
            })
        );
    }

    #[test]
    fn a_sgcn_serial_must_be_numeric() {
        assert!(matches!(
            Epc::parse("urn:epc:id:sgcn:4012345.67890.04a11"),
            Err(EpcUriError::NonNumeric {
                component: "serial",
                character: 'a'
            })
        ));
    }

    #[test]
    fn a_cpi_reference_refuses_lower_case() {
        assert!(matches!(
            Epc::parse("urn:epc:id:cpi:0614141.abc.1"),
            Err(EpcUriError::BadCharacter {
                component: "component/part reference",
                ..
            })
        ));
    }

    #[test]
    fn a_giai_reference_is_bounded_by_thirty_characters_with_the_prefix() {
        assert!(Epc::parse("urn:epc:id:giai:0614141.12345678901234567890123").is_ok());
        assert!(matches!(
            Epc::parse("urn:epc:id:giai:0614141.123456789012345678901234"),
            Err(EpcUriError::TooLong {
                max: 23,
                found: 24,
                ..
            })
        ));
    }

    #[test]
    fn sgln_extension_zero_means_no_extension() {
        let Ok(Epc::Sgln(sgln)) = Epc::parse("urn:epc:id:sgln:0614141.07346.0") else {
            panic!("must parse");
        };
        assert_eq!(sgln.extension_if_any(), None);
        assert_eq!(sgln.gln().as_str(), "0614141073467");
    }

    proptest::proptest! {
        #[test]
        fn the_validity_check_agrees_with_parsing(
            scheme in proptest::sample::select(vec!["sgtin", "sscc", "sgln", "grai"]),
            company in "[0-9a]{5,13}",
            reference in "[0-9.]{0,13}",
            serial in "[A-Za-z0-9._%'!/+(),:;=*<>?&\"-]{0,22}|[0-9A-Za-z]{0,8}%[0-9A-Fa-f]{2}[a-z]{0,4}",
        ) {
            for uri in [
                format!("urn:epc:id:{scheme}:{company}.{reference}.{serial}"),
                format!("urn:epc:id:{scheme}:{company}.{reference}"),
                format!("urn:epc:id:{scheme}:{company}{serial}"),
            ] {
                let parses = Epc::parse(&uri).is_ok();
                proptest::prop_assert_eq!(is_valid_epc_uri(&uri), parses, "{}", uri);
                // The fast path alone accepts exactly the valid URIs of its three schemes.
                proptest::prop_assert_eq!(
                    CommonEpc::parse(&uri).is_some(),
                    parses && scheme != "grai",
                    "{}",
                    uri
                );
            }
        }
    }

    #[test]
    fn the_validity_check_accepts_escapes_and_refuses_what_parsing_refuses() {
        for (uri, valid) in [
            ("urn:epc:id:sgtin:0614141.107346.2017", true),
            ("urn:epc:id:sgtin:0614141.107346.A%2FB", true),
            ("urn:epc:id:sgtin:0614141.107346.A/B", false),
            ("urn:epc:id:sgtin:0614141.107346.%2", false),
            (
                "urn:epc:id:sgtin:0614141.107346.123456789012345678901",
                false,
            ),
            ("urn:epc:id:sgtin:0614141.107346", false),
            ("urn:epc:id:sscc:0614141.1234567890", true),
            ("urn:epc:id:sscc:0614141.123456789", false),
            ("urn:epc:id:sgln:0614141.07346.0", true),
            ("urn:epc:id:sgln:0614141.07346.", false),
            ("urn:epc:id:sgln:061414.07346.0", false),
        ] {
            assert_eq!(is_valid_epc_uri(uri), valid, "{uri}");
            assert_eq!(Epc::parse(uri).is_ok(), valid, "{uri}");
        }
    }
}
