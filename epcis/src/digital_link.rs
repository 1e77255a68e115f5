//! GS1 Digital Link URIs: parsing, canonical form, and conversion to and from EPC URNs.
//!
//! A Digital Link names a GS1 key in a web URI: `https://{host}/{optional/prefix}/{primary AI}/
//! {value}/{qualifier AI}/{value}...?{attribute AI}={value}&linkType=...`. [`DigitalLink::parse`]
//! checks each AI value against its format (digits, length, check digit, character set), the
//! key qualifiers against the primary key and their order, and the query-string AIs against the
//! data attributes this crate knows. The short names of GS1 Digital Link 1.x (`gtin`, `lot`,
//! `ser`, ...) are read as their numeric AIs.
//!
//! Percent-encoding: the canonical form writes `! " # % & ( ) * + , / : < > ?` as `%xx` and keeps
//! the other characters of set 82 literal; this is what the CBV 2.0 event-hash reference vectors
//! expect.
//!
//! A Digital Link does not carry the GS1 company prefix length, which an EPC URN needs to split
//! the key; [`digital_link_to_urn`] takes it as an argument.
//!
//! The compressed form of GS1 Digital Link 1.1 (`https://{host}/{base64url}`) is read by
//! [`decompress`] and written by [`compress`]; [`DigitalLink::parse_any`] takes either form. See
//! [`compressed`] for the format.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

pub mod compressed;

pub use compressed::{MAX_COMPRESSED_URI_LEN, compress, decompress};

use crate::epc::charset::{
    escape_digital_link, is_cs39, is_cs82, is_plain_in_both, push_digital_link_char,
};
use crate::epc::components::{Charset, decode_component};
use crate::epc::{
    CommonEpc, Cpi, Epc, EpcUri, EpcUriError, Gdti, Giai, Ginc, Grai, Gsin, Gsrn, IdPattern, Itip,
    Lgtin, PatternScheme, Pgln, Sgcn, Sgln, Sgtin, Sscc, Upui, has_valid_check_digit,
};

/// The host of canonical GS1 Digital Link URIs.
pub const CANONICAL_PREFIX: &str = "https://id.gs1.org";

/// Why a Digital Link could not be parsed, built or converted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigitalLinkError {
    /// The EPC URN to convert is not valid, or the Digital Link does not make a valid EPC with
    /// the company prefix length given.
    #[error("invalid EPC URI: {0}")]
    Urn(#[from] EpcUriError),
    /// The EPC scheme has no GS1 key, so no Digital Link (e.g. `gid`).
    #[error("EPC scheme {scheme} has no GS1 Digital Link equivalent")]
    NoDigitalLinkEquivalent {
        /// The EPC scheme.
        scheme: &'static str,
    },
    /// Not an `http://` or `https://` URI.
    #[error("a GS1 Digital Link must start with https:// or http://")]
    NotHttp,
    /// No host after the scheme.
    #[error("a GS1 Digital Link must name a host")]
    NoHost,
    /// The path holds no primary key (`/01/`, `/00/`, `/414/`, ...).
    #[error("the path holds no GS1 primary key")]
    NoPrimaryKey,
    /// A path segment or query parameter named by digits is not an AI this crate knows.
    #[error("unknown or unsupported GS1 Application Identifier ({ai})")]
    UnknownAi {
        /// The AI as written.
        ai: String,
    },
    /// An AI in the path without a value after it.
    #[error("AI ({ai}) has no value in the path")]
    MissingValue {
        /// The AI.
        ai: Ai,
    },
    /// A key qualifier that the primary key does not take.
    #[error("AI ({qualifier}) is not a key qualifier of AI ({key})")]
    QualifierNotAllowed {
        /// The qualifier.
        qualifier: Ai,
        /// The primary key.
        key: Ai,
    },
    /// Key qualifiers out of their order (for a GTIN: 22, then 10, then 21) or repeated.
    #[error("AI ({qualifier}) must come before AI ({after}) and only once")]
    QualifierOrder {
        /// The qualifier out of place.
        qualifier: Ai,
        /// The qualifier it must precede.
        after: Ai,
    },
    /// A primary key or key qualifier in the query string, where only data attributes belong.
    #[error("AI ({ai}) is a key or key qualifier and belongs in the path, not the query string")]
    KeyInQuery {
        /// The AI.
        ai: Ai,
    },
    /// A numeric AI value with a non-digit.
    #[error("AI ({ai}) must be digits only, found {character:?}")]
    NonNumeric {
        /// The AI.
        ai: Ai,
        /// The offending character.
        character: char,
    },
    /// An AI value of the wrong length.
    #[error("AI ({ai}) must be {expected}, found {found} characters")]
    Length {
        /// The AI.
        ai: Ai,
        /// The rule, e.g. `14 digits` or `1 to 20 characters`.
        expected: &'static str,
        /// Characters found (after percent-decoding).
        found: usize,
    },
    /// A GS1 key whose check digit is wrong.
    #[error("AI ({ai}) value {value} has a wrong check digit")]
    CheckDigit {
        /// The AI.
        ai: Ai,
        /// The value.
        value: String,
    },
    /// A character outside the AI's character set.
    #[error("AI ({ai}) contains {character:?}, which its character set does not allow")]
    BadCharacter {
        /// The AI.
        ai: Ai,
        /// The offending character (after percent-decoding).
        character: char,
    },
    /// A malformed `%xx` escape.
    #[error("malformed percent-encoding in {part}")]
    BadEscape {
        /// Where: an AI value or a query parameter.
        part: String,
    },
    /// Conversion to a URN needs the GS1 company prefix length, which a Digital Link does not
    /// carry.
    #[error("converting a Digital Link to an EPC URN needs the GS1 company prefix length")]
    CompanyPrefixLengthRequired,
    /// The primary key has no EPC URN form (e.g. GMN, AI 8013).
    #[error("AI ({ai}) has no EPC URN equivalent")]
    NoUrnEquivalent {
        /// The AI.
        ai: Ai,
    },
    /// A compressed Digital Link longer than [`MAX_COMPRESSED_URI_LEN`]; it is refused before
    /// any decoding.
    #[error("a compressed Digital Link may be at most {max} bytes long, found {length}")]
    CompressedTooLong {
        /// Bytes found.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside the base64url alphabet (`A-Z a-z 0-9 - _`) in the compressed segment.
    #[error("the compressed segment contains {character:?}, which is not base64url")]
    CompressedAlphabet {
        /// The offending character.
        character: char,
    },
    /// The bit string of a compressed Digital Link ends inside an element.
    #[error("the compressed segment ends inside an element (after {bits} bits)")]
    CompressedTruncated {
        /// The length of the segment's bit string.
        bits: usize,
    },
    /// The bits after the last element (too few to start another) are not the padding of the
    /// last character: 6 or 7 of them (a whole character too many), or a bit set.
    #[error(
        "the compressed segment ends with {bits} bits after its last element, which are not \
         padding (at most 5 zero bits)"
    )]
    CompressedPadding {
        /// How many bits follow the last element.
        bits: usize,
    },
    /// Two hexadecimal digits, one of them above 9, that name no optimisation code.
    #[error("the compressed segment uses {code}, which is no optimisation code")]
    UnknownOptimisationCode {
        /// The two hexadecimal digits.
        code: String,
    },
    /// A 4-bit digit of an AI code above 9.
    #[error("the compressed AI code {digits}... continues with {nibble:X}, which is not a digit")]
    AiNibble {
        /// The AI digits read before it.
        digits: String,
        /// The offending 4-bit value.
        nibble: u8,
    },
    /// A value written with an encoding indicator that names no encoding (5, 6 or 7).
    #[error("{part} is written with encoding {indicator}, which the standard does not define")]
    UnknownEncoding {
        /// The AI or parameter, e.g. `AI (21)`.
        part: String,
        /// The 3-bit indicator.
        indicator: u8,
    },
    /// A binary number too large for the count of digits it must fill.
    #[error("{part} holds a number of more than {digits} digits")]
    NumericOverflow {
        /// The AI or parameter, e.g. `AI (01)`.
        part: String,
        /// The digits it must fill.
        digits: usize,
    },
    /// An AI given twice in one compressed Digital Link.
    #[error("AI ({ai}) appears twice")]
    DuplicateAi {
        /// The AI.
        ai: Ai,
    },
    /// Two primary keys in one compressed Digital Link.
    #[error("AIs ({first}) and ({second}) are both primary keys; a Digital Link has one")]
    MultiplePrimaryKeys {
        /// The first primary key.
        first: Ai,
        /// The second.
        second: Ai,
    },
    /// A numeric name in the query string of a compressed Digital Link or among its packed
    /// parameters, where only non-GS1 parameters belong.
    #[error(
        "{name} is an AI; a compressed Digital Link carries its AIs in the compressed segment only"
    )]
    AiOutsideCompressedSegment {
        /// The name as written.
        name: String,
    },
    /// A link whose base path ends in an AI code or short name (or in one and a segment after
    /// it) cannot be compressed: the compressed segment would read as that AI's value, or the
    /// base would show a key the segment does not mean.
    #[error(
        "the base path ends in {segment}, an AI: a compressed segment after it would not read \
         as the link"
    )]
    AiInCompressedBase {
        /// The segment, as written.
        segment: String,
    },
    /// A non-GS1 parameter packed into the compressed segment with an empty name.
    #[error("the compressed segment holds a non-GS1 parameter without a name")]
    EmptyParameterName,
    /// A query parameter with an empty name (`?=x`): neither an AI nor a named parameter.
    #[error("the query string holds a parameter without a name (=value)")]
    EmptyQueryName,
    /// A URI given to [`DigitalLink::parse_any`] longer than [`MAX_COMPRESSED_URI_LEN`]; it is
    /// refused before any parsing, so no part of it reaches an error.
    #[error("a Digital Link may be at most {max} bytes long, found {length}")]
    TooLong {
        /// Bytes found.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A non-GS1 parameter packed into the compressed segment with a character that is not
    /// printable ASCII.
    #[error("parameter {name} contains {character:?}, which is not printable ASCII")]
    ParameterCharacter {
        /// The parameter name.
        name: String,
        /// The offending character.
        character: char,
    },
}

/// Converts an EPC pure identity URI, LGTIN class URI or class-level pattern URI to its canonical
/// GS1 Digital Link URI on `https://id.gs1.org`.
///
/// Text components are written with the Digital Link percent-encoding (see the module notes), so
/// the result matches the CBV 2.0 event-hash reference conversion.
///
/// ```
/// use epcis::digital_link::urn_to_digital_link;
/// assert_eq!(
///     urn_to_digital_link("urn:epc:id:sgtin:0614141.107346.2017").as_deref(),
///     Ok("https://id.gs1.org/01/10614141073464/21/2017"),
/// );
/// assert_eq!(
///     urn_to_digital_link("urn:epc:id:sgln:0614141.07346.0").as_deref(),
///     Ok("https://id.gs1.org/414/0614141073467"),
/// );
/// ```
pub fn urn_to_digital_link(urn: &str) -> Result<String, DigitalLinkError> {
    epc_uri_to_digital_link(&EpcUri::parse(urn)?)
}

/// Appends the canonical GS1 Digital Link URI of an EPC URI to `out`: the same text as
/// [`urn_to_digital_link`], written in place. SGTIN, SSCC and SGLN URIs, the identifiers of
/// everyday capture, are converted without allocating. On error nothing is appended.
///
/// ```
/// let mut out = String::from("epc=");
/// epcis::digital_link::write_digital_link(&mut out, "urn:epc:id:sscc:0614141.1234567890")?;
/// assert_eq!(out, "epc=https://id.gs1.org/00/106141412345678908");
/// # Ok::<(), epcis::digital_link::DigitalLinkError>(())
/// ```
pub fn write_digital_link(out: &mut String, urn: &str) -> Result<(), DigitalLinkError> {
    match CommonEpc::parse(urn) {
        Some(CommonEpc::Sgtin {
            company_prefix,
            item_reference,
            serial,
        }) => {
            // The indicator digit moves in front of the company prefix (GTIN-14).
            let (indicator, item) = item_reference.split_at(1);
            out.push_str(CANONICAL_PREFIX);
            out.push_str("/01/");
            push_key_with_check_digit(out, &[indicator, company_prefix, item]);
            out.push_str("/21/");
            push_component(out, "serial", serial);
        }
        Some(CommonEpc::Sscc {
            company_prefix,
            serial_reference,
        }) => {
            // The extension digit moves in front of the company prefix (SSCC-18).
            let (extension, serial) = serial_reference.split_at(1);
            out.push_str(CANONICAL_PREFIX);
            out.push_str("/00/");
            push_key_with_check_digit(out, &[extension, company_prefix, serial]);
        }
        Some(CommonEpc::Sgln {
            company_prefix,
            location_reference,
            extension,
        }) => {
            out.push_str(CANONICAL_PREFIX);
            out.push_str("/414/");
            push_key_with_check_digit(out, &[company_prefix, location_reference]);
            let mark = out.len();
            out.push_str("/254/");
            let value = out.len();
            push_component(out, "extension", extension);
            // Extension `0` means "no extension" (as `Sgln::extension_if_any`).
            if &out[value..] == "0" {
                out.truncate(mark);
            }
        }
        None => out.push_str(&urn_to_digital_link(urn)?),
    }
    Ok(())
}

/// Appends the concatenated digit `parts` (already checked to be ASCII digits) and their GS1
/// mod-10 check digit.
fn push_key_with_check_digit(out: &mut String, parts: &[&str]) {
    let mut sum = 0u32;
    let mut weight_three = true;
    for part in parts.iter().rev() {
        for digit in part.bytes().rev() {
            let value = u32::from(digit.wrapping_sub(b'0'));
            sum += if weight_three { 3 * value } else { value };
            weight_three = !weight_three;
        }
    }
    for part in parts {
        out.push_str(part);
    }
    out.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
}

/// Appends an EPC URI component (already checked by [`CommonEpc::parse`]) in Digital Link form.
fn push_component(out: &mut String, component: &'static str, escaped: &str) {
    // The usual serial (digits and letters) reads the same in both syntaxes.
    if escaped.bytes().all(is_plain_in_both) {
        out.push_str(escaped);
        return;
    }
    // The component passed these very rules in `CommonEpc::parse`, so decoding cannot fail;
    // were it to, the check of the result against `urn_to_digital_link` in the tests would.
    let _ = decode_component(component, escaped, Charset::Cs82, |c| {
        push_digital_link_char(out, c);
    });
}

/// Converts a parsed EPC URI to its canonical GS1 Digital Link URI.
pub fn epc_uri_to_digital_link(uri: &EpcUri) -> Result<String, DigitalLinkError> {
    match uri {
        EpcUri::Id(epc) => epc_to_digital_link(epc),
        EpcUri::Class(lgtin) => Ok(format!(
            "{CANONICAL_PREFIX}/01/{}/10/{}",
            lgtin.gtin(),
            escape_digital_link(lgtin.lot())
        )),
        EpcUri::Pattern(pattern) => Ok(pattern_to_digital_link(pattern)),
    }
}

/// Converts an EPC pure identity to its canonical GS1 Digital Link URI.
pub fn epc_to_digital_link(epc: &Epc) -> Result<String, DigitalLinkError> {
    let dl = escape_digital_link;
    let path = match epc {
        Epc::Sgtin(v) => format!("/01/{}/21/{}", v.gtin(), dl(v.serial())),
        Epc::Sscc(v) => format!("/00/{}", v.sscc()),
        Epc::Sgln(v) => match v.extension_if_any() {
            Some(extension) => format!("/414/{}/254/{}", v.gln(), dl(extension)),
            None => format!("/414/{}", v.gln()),
        },
        Epc::Grai(v) => format!("/8003/{}{}", v.grai_key(), dl(v.serial())),
        Epc::Giai(v) => format!("/8004/{}", dl(&v.giai_key())),
        Epc::Gsrn(v) => format!("/8018/{}", v.gsrn_key()),
        Epc::Gsrnp(v) => format!("/8017/{}", v.gsrn_key()),
        Epc::Gdti(v) => format!("/253/{}{}", v.gdti_key(), dl(v.serial())),
        Epc::Sgcn(v) => format!("/255/{}{}", v.gcn_key(), v.serial()),
        Epc::Cpi(v) => format!("/8010/{}/8011/{}", dl(&v.cpid()), v.serial()),
        Epc::Pgln(v) => format!("/417/{}", v.gln()),
        Epc::Itip(v) => format!("/8006/{}/21/{}", v.itip_key(), dl(v.serial())),
        Epc::Ginc(v) => format!("/401/{}", dl(&v.ginc_key())),
        Epc::Gsin(v) => format!("/402/{}", v.gsin_key()),
        Epc::Upui(v) => format!("/01/{}/235/{}", v.gtin(), dl(v.tpx())),
        Epc::Gid(_) => {
            return Err(DigitalLinkError::NoDigitalLinkEquivalent {
                scheme: epc.scheme(),
            });
        }
    };
    Ok(format!("{CANONICAL_PREFIX}{path}"))
}

fn pattern_to_digital_link(pattern: &IdPattern) -> String {
    let ai = match pattern.scheme() {
        PatternScheme::Sgtin | PatternScheme::Upui => "01",
        PatternScheme::Grai => "8003",
        PatternScheme::Gdti => "253",
        PatternScheme::Sgcn => "255",
        PatternScheme::Cpi => "8010",
        PatternScheme::Itip => "8006",
    };
    format!(
        "{CANONICAL_PREFIX}/{ai}/{}",
        escape_digital_link(&pattern.class_key())
    )
}

/// A GS1 Application Identifier: two to four digits, e.g. `01` or `3103`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ai {
    digits: [u8; 4],
    len: u8,
}

impl Ai {
    /// Builds an AI from a code of the static AI table (two to four ASCII digits).
    const fn from_table(code: &'static str) -> Self {
        let bytes = code.as_bytes();
        let mut digits = [0_u8; 4];
        let mut i = 0;
        while i < bytes.len() && i < 4 {
            digits[i] = bytes[i];
            i += 1;
        }
        Self {
            digits,
            len: i as u8,
        }
    }

    /// Reads two to four ASCII digits.
    pub fn parse(code: &str) -> Option<Self> {
        let valid = (2..=4).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| {
            let mut digits = [0_u8; 4];
            digits[..code.len()].copy_from_slice(code.as_bytes());
            Self {
                digits,
                len: code.len() as u8,
            }
        })
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Ai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ai({})", self.as_str())
    }
}

impl fmt::Display for Ai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Ai {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The role an AI plays in a Digital Link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Qualifier,
    Attribute,
}

/// The format of an AI value (GS1 General Specifications, section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A GTIN: 8, 12, 13 or 14 digits with a check digit; written as 14 digits in canonical form.
    Gtin,
    /// Exactly this many digits, the last a check digit.
    Key(usize),
    /// Exactly this many digits, no check digit.
    Digits(usize),
    /// 1 to this many digits.
    UpToDigits(usize),
    /// 1 to this many characters of set 82.
    Cs82(usize),
    /// 1 to this many characters of set 39.
    Cs39(usize),
    /// A key of this many digits (last one a check digit) followed by 0 to `max` characters of
    /// set 82 (GRAI, GDTI) or digits (GCN).
    KeyThen {
        digits: usize,
        max: usize,
        numeric: bool,
    },
    /// A GTIN-14 followed by two two-digit counts (ITIP).
    Itip,
}

/// One GS1 Application Identifier.
#[derive(Debug, Clone, Copy)]
struct AiSpec {
    code: Ai,
    short_name: Option<&'static str>,
    role: Role,
    format: Format,
    /// Key qualifiers the primary key takes, in the order they must appear.
    qualifiers: &'static [&'static str],
}

const fn key(
    code: &'static str,
    short: Option<&'static str>,
    format: Format,
    qualifiers: &'static [&'static str],
) -> AiSpec {
    AiSpec {
        code: Ai::from_table(code),
        short_name: short,
        role: Role::Primary,
        format,
        qualifiers,
    }
}

const fn qualifier(code: &'static str, short: Option<&'static str>, format: Format) -> AiSpec {
    AiSpec {
        code: Ai::from_table(code),
        short_name: short,
        role: Role::Qualifier,
        format,
        qualifiers: &[],
    }
}

const fn attribute(code: &'static str, format: Format) -> AiSpec {
    AiSpec {
        code: Ai::from_table(code),
        short_name: None,
        role: Role::Attribute,
        format,
        qualifiers: &[],
    }
}

/// The AIs this crate reads, with their formats (GS1 General Specifications) and Digital Link
/// roles (GS1 Digital Link URI syntax, table of primary keys and key qualifiers).
static AIS: &[AiSpec] = &[
    key("01", Some("gtin"), Format::Gtin, &["22", "10", "21", "235"]),
    key("00", Some("sscc"), Format::Key(18), &[]),
    key("414", Some("gln"), Format::Key(13), &["254"]),
    key("417", Some("party"), Format::Key(13), &[]),
    key(
        "8003",
        Some("grai"),
        Format::KeyThen {
            digits: 14,
            max: 16,
            numeric: false,
        },
        &[],
    ),
    key("8004", Some("giai"), Format::Cs82(30), &[]),
    key("8006", Some("itip"), Format::Itip, &["22", "10", "21"]),
    key("8010", Some("cpid"), Format::Cs39(30), &["8011"]),
    key("8017", Some("gsrnp"), Format::Key(18), &["8019"]),
    key("8018", Some("gsrn"), Format::Key(18), &["8019"]),
    key(
        "253",
        Some("gdti"),
        Format::KeyThen {
            digits: 13,
            max: 17,
            numeric: false,
        },
        &[],
    ),
    key(
        "255",
        Some("gcn"),
        Format::KeyThen {
            digits: 13,
            max: 12,
            numeric: true,
        },
        &[],
    ),
    key("401", Some("ginc"), Format::Cs82(30), &[]),
    key("402", Some("gsin"), Format::Key(17), &[]),
    qualifier("22", Some("cpv"), Format::Cs82(20)),
    qualifier("10", Some("lot"), Format::Cs82(20)),
    qualifier("21", Some("ser"), Format::Cs82(20)),
    qualifier("235", None, Format::Cs82(28)),
    qualifier("254", None, Format::Cs82(20)),
    qualifier("8011", None, Format::UpToDigits(12)),
    qualifier("8019", None, Format::UpToDigits(10)),
    attribute("11", Format::Digits(6)),
    attribute("12", Format::Digits(6)),
    attribute("13", Format::Digits(6)),
    attribute("15", Format::Digits(6)),
    attribute("16", Format::Digits(6)),
    attribute("17", Format::Digits(6)),
    attribute("20", Format::Digits(2)),
    attribute("30", Format::UpToDigits(8)),
    attribute("37", Format::UpToDigits(8)),
    attribute("240", Format::Cs82(30)),
    attribute("241", Format::Cs82(30)),
    attribute("242", Format::UpToDigits(6)),
    attribute("243", Format::Cs82(20)),
    attribute("250", Format::Cs82(30)),
    attribute("251", Format::Cs82(30)),
    attribute("422", Format::Digits(3)),
    attribute("7003", Format::Digits(10)),
    attribute("7006", Format::Digits(6)),
    attribute("7240", Format::Cs82(20)),
];

/// Measures (AIs 3100-3699 such as 3103 net weight in kg with three decimals) are six digits.
fn measure_spec(code: &str) -> Option<AiSpec> {
    let bytes = code.as_bytes();
    let is_measure = bytes.len() == 4
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] == b'3'
        && (b'1'..=b'6').contains(&bytes[1]);
    let code = Ai::parse(code)?;
    is_measure.then_some(AiSpec {
        code,
        short_name: None,
        role: Role::Attribute,
        format: Format::Digits(6),
        qualifiers: &[],
    })
}

fn spec_by_code(code: &str) -> Option<&'static AiSpec> {
    AIS.iter().find(|s| s.code == code)
}

/// The spec of an AI of the table or of a measure AI.
fn spec_for_code(code: &str) -> Option<AiSpec> {
    spec_by_code(code).copied().or_else(|| measure_spec(code))
}

fn spec_by_segment(segment: &str) -> Option<&'static AiSpec> {
    AIS.iter()
        .find(|s| s.code == segment || s.short_name == Some(segment))
}

/// Where `qualifier` stands in the key's ordered list of qualifiers, if the key takes it.
fn qualifier_position(key: &AiSpec, qualifier: Ai) -> Option<usize> {
    key.qualifiers.iter().position(|q| qualifier == *q)
}

/// Checks that `qualifier` may follow the key qualifiers already placed (`next_allowed`: the
/// position after the last of them; `first`: whether there are none) and returns the position
/// after it.
fn place_qualifier(
    key: &AiSpec,
    qualifier: Ai,
    next_allowed: usize,
    first: bool,
) -> Result<usize, DigitalLinkError> {
    let Some(position) = qualifier_position(key, qualifier) else {
        return Err(DigitalLinkError::QualifierNotAllowed {
            qualifier,
            key: key.code,
        });
    };
    if position < next_allowed {
        let after = Ai::from_table(key.qualifiers[next_allowed - 1]);
        return Err(DigitalLinkError::QualifierOrder { qualifier, after });
    }
    // A GTIN takes either 22/10/21 or 235, not both.
    if key.code == "01" && qualifier == "235" && !first {
        return Err(DigitalLinkError::QualifierNotAllowed {
            qualifier,
            key: key.code,
        });
    }
    Ok(position + 1)
}

/// Checks `value` (percent-decoded) against the AI's format; returns it normalised (a GTIN padded
/// to 14 digits).
fn check_value(ai: Ai, format: Format, value: &str) -> Result<String, DigitalLinkError> {
    let digits_only = |v: &str| match v.chars().find(|c| !c.is_ascii_digit()) {
        Some(character) => Err(DigitalLinkError::NonNumeric { ai, character }),
        None => Ok(()),
    };
    let length = |expected: &'static str| DigitalLinkError::Length {
        ai,
        expected,
        found: value.chars().count(),
    };
    let checked = |key: &str| {
        if has_valid_check_digit(key) {
            Ok(())
        } else {
            Err(DigitalLinkError::CheckDigit {
                ai,
                value: key.to_owned(),
            })
        }
    };
    match format {
        Format::Gtin => {
            digits_only(value)?;
            if ![8, 12, 13, 14].contains(&value.len()) {
                return Err(length("8, 12, 13 or 14 digits"));
            }
            checked(value)?;
            Ok(format!("{value:0>14}"))
        }
        Format::Key(n) => {
            digits_only(value)?;
            if value.len() != n {
                return Err(length(digit_rule(n)));
            }
            checked(value)?;
            Ok(value.to_owned())
        }
        Format::Digits(n) => {
            digits_only(value)?;
            if value.len() != n {
                return Err(length(digit_rule(n)));
            }
            Ok(value.to_owned())
        }
        Format::UpToDigits(max) => {
            digits_only(value)?;
            if value.is_empty() || value.len() > max {
                return Err(length(up_to_rule(max, "digits")));
            }
            Ok(value.to_owned())
        }
        Format::Cs82(max) | Format::Cs39(max) => {
            let allowed: fn(u8) -> bool = if matches!(format, Format::Cs39(_)) {
                is_cs39
            } else {
                is_cs82
            };
            if let Some(character) = value.chars().find(|&c| !c.is_ascii() || !allowed(c as u8)) {
                return Err(DigitalLinkError::BadCharacter { ai, character });
            }
            if value.is_empty() || value.len() > max {
                return Err(length(up_to_rule(max, "characters")));
            }
            Ok(value.to_owned())
        }
        Format::KeyThen {
            digits,
            max,
            numeric,
        } => {
            let Some(key) = value.get(..digits) else {
                return Err(length(key_then_rule(digits)));
            };
            digits_only(key)?;
            checked(key)?;
            let rest = &value[digits..];
            if numeric {
                digits_only(rest)?;
            } else if let Some(character) =
                rest.chars().find(|&c| !c.is_ascii() || !is_cs82(c as u8))
            {
                return Err(DigitalLinkError::BadCharacter { ai, character });
            }
            if rest.len() > max {
                return Err(length(key_then_rule(digits)));
            }
            Ok(value.to_owned())
        }
        Format::Itip => {
            digits_only(value)?;
            if value.len() != 18 {
                return Err(length("18 digits"));
            }
            checked(&value[..14])?;
            Ok(value.to_owned())
        }
    }
}

fn digit_rule(n: usize) -> &'static str {
    match n {
        2 => "2 digits",
        3 => "3 digits",
        6 => "6 digits",
        10 => "10 digits",
        13 => "13 digits",
        14 => "14 digits",
        17 => "17 digits",
        18 => "18 digits",
        _ => "a fixed number of digits",
    }
}

fn up_to_rule(max: usize, unit: &'static str) -> &'static str {
    match (max, unit) {
        (6, "digits") => "1 to 6 digits",
        (8, "digits") => "1 to 8 digits",
        (10, "digits") => "1 to 10 digits",
        (12, "digits") => "1 to 12 digits",
        (20, _) => "1 to 20 characters",
        (28, _) => "1 to 28 characters",
        (30, _) => "1 to 30 characters",
        _ => "within its maximum length",
    }
}

fn key_then_rule(digits: usize) -> &'static str {
    match digits {
        13 => "13 digits and a serial within its maximum length",
        _ => "14 digits and a serial within its maximum length",
    }
}

/// One AI and its (percent-decoded, normalised) value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AiValue {
    ai: Ai,
    value: String,
}

impl AiValue {
    /// The AI, e.g. `01`.
    pub fn ai(&self) -> Ai {
        self.ai
    }

    /// The value, percent-decoded.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A parsed GS1 Digital Link URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DigitalLink {
    /// Scheme, host and any path prefix before the primary key, without a trailing slash.
    base: String,
    primary: AiValue,
    qualifiers: Vec<AiValue>,
    attributes: Vec<AiValue>,
    /// Query parameters that are not AIs (`linkType`, `context`, ...), percent-decoded.
    other: Vec<(String, String)>,
}

impl DigitalLink {
    /// Parses a Digital Link in path form (uncompressed) on any `http(s)` host.
    pub fn parse(uri: &str) -> Result<Self, DigitalLinkError> {
        let UriParts {
            scheme,
            host,
            path,
            query,
        } = UriParts::split(uri)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

        // Walk back from the end in (AI, value) pairs: qualifiers, then the primary key.
        let mut end = segments.len();
        let mut qualifiers_rev: Vec<(&'static AiSpec, &str)> = Vec::new();
        let primary = loop {
            if end < 2 {
                return Err(match segments.last().and_then(|s| spec_by_segment(s)) {
                    Some(spec) => DigitalLinkError::MissingValue { ai: spec.code },
                    None => DigitalLinkError::NoPrimaryKey,
                });
            }
            let (ai_segment, value) = (segments[end - 2], segments[end - 1]);
            let Some(spec) = spec_by_segment(ai_segment) else {
                if let Some(spec) = spec_by_segment(value) {
                    return Err(DigitalLinkError::MissingValue { ai: spec.code });
                }
                if ai_segment.bytes().all(|b| b.is_ascii_digit()) && qualifiers_rev.is_empty() {
                    return Err(DigitalLinkError::UnknownAi {
                        ai: ai_segment.to_owned(),
                    });
                }
                return Err(DigitalLinkError::NoPrimaryKey);
            };
            end -= 2;
            match spec.role {
                Role::Primary => break (spec, value),
                Role::Qualifier => qualifiers_rev.push((spec, value)),
                Role::Attribute => {
                    return Err(DigitalLinkError::UnknownAi {
                        ai: ai_segment.to_owned(),
                    });
                }
            }
        };
        let base = format!("{scheme}{host}{}", prefix_path(&segments[..end]));

        let (key_spec, key_value) = primary;
        let primary = AiValue {
            ai: key_spec.code,
            value: check_value(key_spec.code, key_spec.format, &decode_part(key_value)?)?,
        };
        let mut qualifiers = Vec::with_capacity(qualifiers_rev.len());
        let mut next_allowed = 0;
        for (spec, value) in qualifiers_rev.into_iter().rev() {
            next_allowed =
                place_qualifier(key_spec, spec.code, next_allowed, qualifiers.is_empty())?;
            qualifiers.push(AiValue {
                ai: spec.code,
                value: check_value(spec.code, spec.format, &decode_part(value)?)?,
            });
        }

        let mut attributes = Vec::new();
        let mut other = Vec::new();
        for pair in query_pairs(query) {
            let (name, value) = pair?;
            if name.bytes().all(|b| b.is_ascii_digit()) {
                let Some(spec) = spec_for_code(&name) else {
                    return Err(DigitalLinkError::UnknownAi { ai: name });
                };
                if spec.role != Role::Attribute {
                    return Err(DigitalLinkError::KeyInQuery { ai: spec.code });
                }
                attributes.push(AiValue {
                    ai: spec.code,
                    value: check_value(spec.code, spec.format, &value)?,
                });
            } else {
                other.push((name, value));
            }
        }
        Ok(Self {
            base,
            primary,
            qualifiers,
            attributes,
            other,
        })
    }

    /// Parses a Digital Link in either form: uncompressed as [`DigitalLink::parse`] reads it, or
    /// compressed (fully, or with the primary key uncompressed) as [`decompress`] reads it.
    ///
    /// A link that does not parse uncompressed is read as compressed when its last path segment
    /// is base64url and the segment before it is not an AI code or short name this crate knows
    /// (so `/01/0950600013435A` reports its bad GTIN, not a failed decompression); the error is
    /// then the decompression's. After two to four digits that name no AI this crate knows, the
    /// segment is read as compressed only if it decodes (`/2024/{base64url}` is a folder and a
    /// compressed link, `/99/x` reports the unknown AI 99).
    ///
    /// A URI longer than [`MAX_COMPRESSED_URI_LEN`] is refused before either parser reads it
    /// ([`DigitalLinkError::TooLong`]), so no error repeats an oversized input.
    ///
    /// ```
    /// use epcis::digital_link::DigitalLink;
    /// let plain = DigitalLink::parse_any("https://id.gs1.org/01/09780345418913")?;
    /// let compressed = DigitalLink::parse_any("https://id.gs1.org/ARHKVAdpQg")?;
    /// assert_eq!(plain, compressed);
    /// # Ok::<(), epcis::digital_link::DigitalLinkError>(())
    /// ```
    pub fn parse_any(uri: &str) -> Result<Self, DigitalLinkError> {
        if uri.len() > MAX_COMPRESSED_URI_LEN {
            return Err(DigitalLinkError::TooLong {
                length: uri.len(),
                max: MAX_COMPRESSED_URI_LEN,
            });
        }
        match Self::parse(uri) {
            Ok(link) => Ok(link),
            Err(error) => match compressed::reading(uri) {
                compressed::Reading::Uncompressed => Err(error),
                compressed::Reading::Compressed => decompress(uri),
                compressed::Reading::Either => decompress(uri).map_err(|_| error),
            },
        }
    }

    /// Scheme, host and path prefix, e.g. `https://example.com/products`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The primary key, e.g. AI `01` with a 14-digit GTIN.
    pub fn primary_key(&self) -> &AiValue {
        &self.primary
    }

    /// The key qualifiers in path order.
    pub fn qualifiers(&self) -> &[AiValue] {
        &self.qualifiers
    }

    /// The value of key qualifier `ai`, if present.
    pub fn qualifier(&self, ai: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|q| q.ai == ai)
            .map(|q| q.value.as_str())
    }

    /// The data attributes of the query string (AIs such as `17` or `3103`).
    pub fn attributes(&self) -> &[AiValue] {
        &self.attributes
    }

    /// The value of data attribute `ai`, if present.
    pub fn attribute(&self, ai: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.ai == ai)
            .map(|a| a.value.as_str())
    }

    /// Query parameters that are not AIs, such as `linkType`.
    pub fn other_parameters(&self) -> &[(String, String)] {
        &self.other
    }

    /// The canonical URI: `https://id.gs1.org`, the primary key and the key qualifiers, GTIN as
    /// 14 digits, values percent-encoded; without query string.
    pub fn canonical(&self) -> String {
        format!("{CANONICAL_PREFIX}{}", self.key_path())
    }

    fn key_path(&self) -> String {
        let mut path = format!(
            "/{}/{}",
            self.primary.ai,
            escape_digital_link(&self.primary.value)
        );
        for q in &self.qualifiers {
            path.push_str(&format!("/{}/{}", q.ai, escape_digital_link(&q.value)));
        }
        path
    }

    /// The EPC URI for this key, splitting it with a company prefix of `company_prefix_len`
    /// digits (which the Digital Link does not carry). A GTIN with a serial becomes an SGTIN, with
    /// only a lot an LGTIN class, alone a product class pattern; the CPV (22) is dropped.
    pub fn to_epc_uri(&self, company_prefix_len: usize) -> Result<EpcUri, DigitalLinkError> {
        let cpl = company_prefix_len;
        if !(6..=12).contains(&cpl) {
            return Err(EpcUriError::CompanyPrefixLength { found: cpl }.into());
        }
        let key = self.primary.value.as_str();
        // Splits digits `from..to` of the key at the company prefix: (prefix, reference).
        let split = |from: usize, to: usize| -> Result<(&str, &str), DigitalLinkError> {
            let cp = key
                .get(from..from + cpl)
                .ok_or(EpcUriError::CompanyPrefixLength { found: cpl })?;
            let reference = key
                .get(from + cpl..to)
                .ok_or(EpcUriError::CompanyPrefixLength { found: cpl })?;
            Ok((cp, reference))
        };
        // GTIN-style keys move the first digit after the company prefix.
        let gtin_parts = |gtin: &str| -> Result<(String, String), DigitalLinkError> {
            let cp = gtin
                .get(1..1 + cpl)
                .ok_or(EpcUriError::CompanyPrefixLength { found: cpl })?;
            let rest = gtin
                .get(1 + cpl..13)
                .ok_or(EpcUriError::CompanyPrefixLength { found: cpl })?;
            Ok((cp.to_owned(), format!("{}{rest}", &gtin[..1])))
        };
        let uri = match self.primary.ai.as_str() {
            "01" => {
                let (cp, item) = gtin_parts(key)?;
                if let Some(serial) = self.qualifier("21") {
                    EpcUri::Id(Epc::Sgtin(Sgtin::new(&cp, &item, serial)?))
                } else if let Some(tpx) = self.qualifier("235") {
                    EpcUri::Id(Epc::Upui(Upui::new(&cp, &item, tpx)?))
                } else if let Some(lot) = self.qualifier("10") {
                    EpcUri::Class(Lgtin::new(&cp, &item, lot)?)
                } else {
                    EpcUri::Pattern(IdPattern::parse(&format!(
                        "urn:epc:idpat:sgtin:{cp}.{item}.*"
                    ))?)
                }
            }
            "00" => {
                let (cp, rest) = (key.get(1..1 + cpl), key.get(1 + cpl..17));
                let (Some(cp), Some(rest)) = (cp, rest) else {
                    return Err(EpcUriError::CompanyPrefixLength { found: cpl }.into());
                };
                EpcUri::Id(Epc::Sscc(Sscc::new(cp, &format!("{}{rest}", &key[..1]))?))
            }
            "414" => {
                let (cp, location) = split(0, 12)?;
                EpcUri::Id(Epc::Sgln(Sgln::new(
                    cp,
                    location,
                    self.qualifier("254").unwrap_or("0"),
                )?))
            }
            "417" => {
                let (cp, party) = split(0, 12)?;
                EpcUri::Id(Epc::Pgln(Pgln::new(cp, party)?))
            }
            "8003" => {
                let (cp, asset_type) = split(1, 13)?;
                match key.get(14..).filter(|s| !s.is_empty()) {
                    Some(serial) => EpcUri::Id(Epc::Grai(Grai::new(cp, asset_type, serial)?)),
                    None => EpcUri::Pattern(IdPattern::parse(&format!(
                        "urn:epc:idpat:grai:{cp}.{asset_type}.*"
                    ))?),
                }
            }
            "8004" => {
                let (cp, reference) = (key.get(..cpl), key.get(cpl..));
                let (Some(cp), Some(reference)) = (cp, reference) else {
                    return Err(EpcUriError::CompanyPrefixLength { found: cpl }.into());
                };
                EpcUri::Id(Epc::Giai(Giai::new(cp, reference)?))
            }
            "8006" => {
                let (cp, item) = gtin_parts(key)?;
                let (piece, total) = (&key[14..16], &key[16..18]);
                match self.qualifier("21") {
                    Some(serial) => {
                        EpcUri::Id(Epc::Itip(Itip::new(&cp, &item, piece, total, serial)?))
                    }
                    None => EpcUri::Pattern(IdPattern::parse(&format!(
                        "urn:epc:idpat:itip:{cp}.{item}.{piece}.{total}.*"
                    ))?),
                }
            }
            "8010" => {
                let (cp, reference) = (key.get(..cpl), key.get(cpl..));
                let (Some(cp), Some(reference)) = (cp, reference) else {
                    return Err(EpcUriError::CompanyPrefixLength { found: cpl }.into());
                };
                if let Some(c) = cp.chars().find(|c| !c.is_ascii_digit()) {
                    return Err(EpcUriError::NonNumeric {
                        component: "company prefix",
                        character: c,
                    }
                    .into());
                }
                match self.qualifier("8011") {
                    Some(serial) => {
                        // AI (8011) was checked to be 1 to 12 digits, which fit a u64.
                        let serial =
                            serial.parse::<u64>().map_err(|_| EpcUriError::OutOfRange {
                                component: "serial",
                                max: 999_999_999_999,
                            })?;
                        EpcUri::Id(Epc::Cpi(Cpi::new(cp, reference, serial)?))
                    }
                    None => EpcUri::Pattern(IdPattern::parse(&format!(
                        "urn:epc:idpat:cpi:{cp}.{}.*",
                        crate::epc::charset::escape_epc_uri(reference)
                    ))?),
                }
            }
            "8017" | "8018" => {
                let (cp, reference) = split(0, 17)?;
                let gsrn = Gsrn::new(cp, reference)?;
                EpcUri::Id(if self.primary.ai == "8017" {
                    Epc::Gsrnp(gsrn)
                } else {
                    Epc::Gsrn(gsrn)
                })
            }
            "253" => {
                let (cp, document_type) = split(0, 12)?;
                match key.get(13..).filter(|s| !s.is_empty()) {
                    Some(serial) => EpcUri::Id(Epc::Gdti(Gdti::new(cp, document_type, serial)?)),
                    None => EpcUri::Pattern(IdPattern::parse(&format!(
                        "urn:epc:idpat:gdti:{cp}.{document_type}.*"
                    ))?),
                }
            }
            "255" => {
                let (cp, coupon) = split(0, 12)?;
                match key.get(13..).filter(|s| !s.is_empty()) {
                    Some(serial) => EpcUri::Id(Epc::Sgcn(Sgcn::new(cp, coupon, serial)?)),
                    None => EpcUri::Pattern(IdPattern::parse(&format!(
                        "urn:epc:idpat:sgcn:{cp}.{coupon}.*"
                    ))?),
                }
            }
            "401" => {
                let (cp, reference) = (key.get(..cpl), key.get(cpl..));
                let (Some(cp), Some(reference)) = (cp, reference) else {
                    return Err(EpcUriError::CompanyPrefixLength { found: cpl }.into());
                };
                EpcUri::Id(Epc::Ginc(Ginc::new(cp, reference)?))
            }
            "402" => {
                let (cp, shipper) = split(0, 16)?;
                EpcUri::Id(Epc::Gsin(Gsin::new(cp, shipper)?))
            }
            _ => {
                return Err(DigitalLinkError::NoUrnEquivalent {
                    ai: self.primary.ai,
                });
            }
        };
        Ok(uri)
    }
}

impl fmt::Display for DigitalLink {
    /// The link on its own base, with normalised key path, data attributes and other
    /// parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.base, self.key_path())?;
        let mut separator = '?';
        for a in &self.attributes {
            write!(f, "{separator}{}={}", a.ai, escape_digital_link(&a.value))?;
            separator = '&';
        }
        for (name, value) in &self.other {
            write!(
                f,
                "{separator}{}={}",
                escape_query(name),
                escape_query(value)
            )?;
            separator = '&';
        }
        Ok(())
    }
}

impl FromStr for DigitalLink {
    type Err = DigitalLinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An `http(s)` URI cut into the parts a Digital Link reads; the fragment is dropped.
struct UriParts<'a> {
    scheme: &'static str,
    host: &'a str,
    /// After the host, without its leading slash.
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> UriParts<'a> {
    fn split(uri: &'a str) -> Result<Self, DigitalLinkError> {
        let rest = uri
            .strip_prefix("https://")
            .map(|r| ("https://", r))
            .or_else(|| uri.strip_prefix("http://").map(|r| ("http://", r)));
        let Some((scheme, rest)) = rest else {
            return Err(DigitalLinkError::NotHttp);
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (path_part, query) = rest
            .split_once('?')
            .map_or((rest, None), |(p, q)| (p, Some(q)));
        let (host, path) = path_part.split_once('/').unwrap_or((path_part, ""));
        if host.is_empty() {
            return Err(DigitalLinkError::NoHost);
        }
        Ok(Self {
            scheme,
            host,
            path,
            query,
        })
    }
}

/// The query string's `name=value` pairs, percent-decoded (`+` read as a space in values); a
/// pair without a name (`=x`) is refused, as neither an AI nor a named parameter.
fn query_pairs(
    query: Option<&str>,
) -> impl Iterator<Item = Result<(String, String), DigitalLinkError>> + '_ {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name.is_empty() {
                return Err(DigitalLinkError::EmptyQueryName);
            }
            Ok((decode_part(name)?, decode_part(&value.replace('+', " "))?))
        })
}

fn prefix_path(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{s}")).collect()
}

fn decode_part(part: &str) -> Result<String, DigitalLinkError> {
    crate::epc::charset::unescape(part).map_err(|_| DigitalLinkError::BadEscape {
        part: part.to_owned(),
    })
}

/// Escapes a non-AI query name or value: keeps what RFC 3986 allows in a query except the
/// separators `&`, `=`, `+` and `#`.
fn escape_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'!'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b','
                    | b';'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Converts a Digital Link to an EPC URN, splitting the key with a GS1 company prefix of
/// `company_prefix_len` digits (6 to 12). Digital Link does not carry that length, so the caller
/// must know it.
///
/// ```
/// use epcis::digital_link::digital_link_to_urn;
/// assert_eq!(
///     digital_link_to_urn("https://id.gs1.org/01/10614141073464/21/2017", 7).as_deref(),
///     Ok("urn:epc:id:sgtin:0614141.107346.2017"),
/// );
/// ```
pub fn digital_link_to_urn(
    uri: &str,
    company_prefix_len: usize,
) -> Result<String, DigitalLinkError> {
    Ok(DigitalLink::parse(uri)?
        .to_epc_uri(company_prefix_len)?
        .to_string())
}

/// [`digital_link_to_urn`] for a company prefix length that may be missing (e.g. an optional
/// command-line flag): `None` is [`DigitalLinkError::CompanyPrefixLengthRequired`]. The length is
/// never guessed.
pub fn digital_link_to_urn_with(
    uri: &str,
    company_prefix_len: Option<usize>,
) -> Result<String, DigitalLinkError> {
    let link = DigitalLink::parse(uri)?;
    let length = company_prefix_len.ok_or(DigitalLinkError::CompanyPrefixLengthRequired)?;
    Ok(link.to_epc_uri(length)?.to_string())
}

/// Whether `uri` is a valid GS1 Digital Link.
pub fn is_valid_digital_link(uri: &str) -> bool {
    DigitalLink::parse(uri).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Conversions that the CBV 2.0 event-hash reference vectors
    /// (testdata/event-hash/examples/*.prehashes against the matching .jsonld) rely on.
    const VECTORS: &[(&str, &str)] = &[
        (
            "urn:epc:id:sgtin:0614141.107346.2017",
            "https://id.gs1.org/01/10614141073464/21/2017",
        ),
        (
            "urn:epc:id:sgln:0614141.07346.1234",
            "https://id.gs1.org/414/0614141073467/254/1234",
        ),
        (
            "urn:epc:id:sgln:0012345.11111.0",
            "https://id.gs1.org/414/0012345111112",
        ),
        (
            "urn:epc:id:sscc:4012345.0111111111",
            "https://id.gs1.org/00/040123451111111110",
        ),
        (
            "urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()",
            "https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29",
        ),
        (
            "urn:epc:id:sgtin:4012345.011111.98%22",
            "https://id.gs1.org/01/04012345111118/21/98%22",
        ),
        (
            "urn:epc:id:sgtin:415056789012.0.987654",
            "https://id.gs1.org/01/04150567890128/21/987654",
        ),
        (
            "urn:epc:id:upui:1234567.098765.51qIgY)%3C%26Jp3*j7'SDB",
            "https://id.gs1.org/01/01234567987651/235/51qIgY%29%3C%26Jp3%2Aj7'SDB",
        ),
        (
            "urn:epc:id:gdti:4012345.00009.PO-4711",
            "https://id.gs1.org/253/4012345000092PO-4711",
        ),
        (
            "urn:epc:id:gdti:987659999999..9",
            "https://id.gs1.org/253/98765999999929",
        ),
        (
            "urn:epc:id:ginc:0614141.xyz47%2F11",
            "https://id.gs1.org/401/0614141xyz47%2F11",
        ),
        (
            "urn:epc:id:gsin:4012345.222333444",
            "https://id.gs1.org/402/40123452223334442",
        ),
        (
            "urn:epc:id:pgln:4000001.00000",
            "https://id.gs1.org/417/4000001000005",
        ),
        (
            "urn:epc:id:pgln:999999999999.",
            "https://id.gs1.org/417/9999999999994",
        ),
        (
            "urn:epc:id:grai:4012345.00022.334455",
            "https://id.gs1.org/8003/04012345000221334455",
        ),
        (
            "urn:epc:id:giai:4012345.ABC345",
            "https://id.gs1.org/8004/4012345ABC345",
        ),
        (
            "urn:epc:id:itip:4012345.011111.01.02.987",
            "https://id.gs1.org/8006/040123451111180102/21/987",
        ),
        (
            "urn:epc:id:cpi:0614141.11111111111111-A%23%2F.1234",
            "https://id.gs1.org/8010/061414111111111111111-A%23%2F/8011/1234",
        ),
        (
            "urn:epc:id:gsrnp:4012345.0000000007",
            "https://id.gs1.org/8017/401234500000000074",
        ),
        (
            "urn:epc:id:gsrn:4012345.0000006765",
            "https://id.gs1.org/8018/401234500000067657",
        ),
        (
            "urn:epc:id:sgcn:4012345.99999.44",
            "https://id.gs1.org/255/401234599999044",
        ),
        (
            "urn:epc:class:lgtin:4012345.012345.Lot987",
            "https://id.gs1.org/01/04012345123456/10/Lot987",
        ),
        (
            "urn:epc:idpat:sgtin:4054739.099914.*",
            "https://id.gs1.org/01/04054739999148",
        ),
        (
            "urn:epc:idpat:grai:4012345.66666.*",
            "https://id.gs1.org/8003/04012345666663",
        ),
        (
            "urn:epc:idpat:gdti:4012345.55555.*",
            "https://id.gs1.org/253/4012345555554",
        ),
        (
            "urn:epc:idpat:sgcn:4012345.99999.*",
            "https://id.gs1.org/255/4012345999990",
        ),
        (
            "urn:epc:idpat:cpi:4012345.ABC.*",
            "https://id.gs1.org/8010/4012345ABC",
        ),
        (
            "urn:epc:idpat:itip:4012345.012345.01.02.*",
            "https://id.gs1.org/8006/040123451234560102",
        ),
    ];

    #[test]
    fn urns_convert_as_in_the_event_hash_vectors() {
        for (urn, expected) in VECTORS {
            assert_eq!(urn_to_digital_link(urn).as_deref(), Ok(*expected), "{urn}");
        }
    }

    #[test]
    fn a_gid_has_no_digital_link() {
        assert_eq!(
            urn_to_digital_link("urn:epc:id:gid:95100000.12345.400"),
            Err(DigitalLinkError::NoDigitalLinkEquivalent { scheme: "gid" })
        );
    }

    #[test]
    fn an_invalid_urn_reports_the_epc_rule() {
        assert!(matches!(
            urn_to_digital_link("urn:epc:id:sgtin:0614141.10734.2017"),
            Err(DigitalLinkError::Urn(EpcUriError::DigitCount { .. }))
        ));
    }

    /// The company prefix length an EPC URN encodes: the digits before the first dot.
    fn company_prefix_len(urn: &str) -> usize {
        let body = urn.splitn(5, ':').nth(4).unwrap_or_default();
        body.split('.').next().map_or(0, str::len)
    }

    #[test]
    fn the_event_hash_vectors_convert_back_with_their_company_prefix_length() {
        for (urn, link) in VECTORS {
            let back = digital_link_to_urn(link, company_prefix_len(urn));
            assert_eq!(back.as_deref(), Ok(*urn), "{link}");
        }
    }

    fn parsed(uri: &str) -> DigitalLink {
        DigitalLink::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    #[test]
    fn a_custom_domain_with_a_path_prefix_and_attributes_parses() {
        // GS1 Digital Link standard example GTIN 09506000134352.
        let link = parsed(
            "https://example.com/shop/dl/01/09506000134352/10/AB-123/21/12345?17=180426&3103=000195&linkType=gs1:pip",
        );
        assert_eq!(link.base(), "https://example.com/shop/dl");
        assert_eq!(
            (link.primary_key().ai(), link.primary_key().value()),
            (Ai::from_table("01"), "09506000134352")
        );
        assert_eq!(link.qualifier("10"), Some("AB-123"));
        assert_eq!(link.qualifier("21"), Some("12345"));
        assert_eq!(link.attribute("17"), Some("180426"));
        assert_eq!(link.attribute("3103"), Some("000195"));
        assert_eq!(
            link.other_parameters(),
            [("linkType".to_owned(), "gs1:pip".to_owned())]
        );
        assert_eq!(
            link.canonical(),
            "https://id.gs1.org/01/09506000134352/10/AB-123/21/12345"
        );
    }

    #[test]
    fn a_gtin_13_is_padded_in_the_canonical_form() {
        assert_eq!(
            parsed("https://id.gs1.org/01/9506000134352").canonical(),
            "https://id.gs1.org/01/09506000134352"
        );
    }

    #[test]
    fn short_names_read_as_numeric_ais() {
        let link = parsed("https://example.com/gtin/09506000134352/lot/ABC/ser/1");
        assert_eq!(
            link.canonical(),
            "https://id.gs1.org/01/09506000134352/10/ABC/21/1"
        );
    }

    #[test]
    fn a_percent_encoded_serial_is_decoded_and_re_encoded() {
        let link = parsed("https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29");
        assert_eq!(link.qualifier("21"), Some("6789/&%\"!?()"));
        assert_eq!(
            link.canonical(),
            "https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29"
        );
    }

    #[test]
    fn a_wrong_gtin_check_digit_is_rejected() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134353"),
            Err(DigitalLinkError::CheckDigit { ai, .. }) if ai == "01"
        ));
    }

    #[test]
    fn a_non_numeric_gtin_is_rejected() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/0950600013435A"),
            Err(DigitalLinkError::NonNumeric { character: 'A', .. })
        ));
    }

    #[test]
    fn a_gtin_of_eleven_digits_is_rejected() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/95060001343"),
            Err(DigitalLinkError::Length { found: 11, .. })
        ));
    }

    #[test]
    fn an_sscc_must_be_18_digits() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/00/04012345111111111"),
            Err(DigitalLinkError::Length {
                expected: "18 digits",
                found: 17,
                ..
            })
        ));
    }

    #[test]
    fn a_serial_is_not_a_qualifier_of_a_gln() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/414/4012345000054/21/5"),
            Err(DigitalLinkError::QualifierNotAllowed { qualifier, key }) if qualifier == "21" && key == "414"
        ));
    }

    #[test]
    fn a_lot_after_a_serial_is_out_of_order() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352/21/1/10/A"),
            Err(DigitalLinkError::QualifierOrder { qualifier, after }) if qualifier == "10" && after == "21"
        ));
    }

    #[test]
    fn a_tpx_cannot_follow_a_serial() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352/21/1/235/X"),
            Err(DigitalLinkError::QualifierNotAllowed { .. })
        ));
    }

    #[test]
    fn an_unknown_ai_in_the_path_is_named() {
        assert_eq!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352/99/x"),
            Err(DigitalLinkError::UnknownAi { ai: "99".into() })
        );
    }

    #[test]
    fn an_unknown_ai_in_the_query_is_named() {
        assert_eq!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352?9999=1"),
            Err(DigitalLinkError::UnknownAi { ai: "9999".into() })
        );
    }

    #[test]
    fn a_lot_in_the_query_belongs_in_the_path() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352?10=ABC"),
            Err(DigitalLinkError::KeyInQuery { ai }) if ai == "10"
        ));
    }

    #[test]
    fn an_expiry_date_must_be_six_digits() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352?17=2026"),
            Err(DigitalLinkError::Length { .. })
        ));
    }

    #[test]
    fn a_key_without_value_is_reported() {
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01"),
            Err(DigitalLinkError::MissingValue { ai }) if ai == "01"
        ));
        assert!(matches!(
            DigitalLink::parse("https://id.gs1.org/01/09506000134352/21"),
            Err(DigitalLinkError::MissingValue { ai }) if ai == "21"
        ));
    }

    #[test]
    fn only_http_uris_are_digital_links() {
        assert_eq!(
            DigitalLink::parse("ftp://id.gs1.org/01/09506000134352"),
            Err(DigitalLinkError::NotHttp)
        );
        assert_eq!(
            DigitalLink::parse("https:///01/09506000134352"),
            Err(DigitalLinkError::NoHost)
        );
        assert_eq!(
            DigitalLink::parse("https://example.com/about"),
            Err(DigitalLinkError::NoPrimaryKey)
        );
    }

    #[test]
    fn display_keeps_the_own_domain_and_attributes() {
        let link = parsed("https://example.com/01/9506000134352/10/ABC?17=180426&linkType=gs1:pip");
        assert_eq!(
            link.to_string(),
            "https://example.com/01/09506000134352/10/ABC?17=180426&linkType=gs1:pip"
        );
    }

    #[test]
    fn a_gtin_with_lot_and_serial_converts_to_an_sgtin() {
        assert_eq!(
            digital_link_to_urn("https://example.com/01/09506000134352/10/ABC/21/12345", 7)
                .as_deref(),
            Ok("urn:epc:id:sgtin:9506000.013435.12345")
        );
    }

    #[test]
    fn conversion_needs_a_company_prefix_length() {
        assert_eq!(
            digital_link_to_urn_with("https://id.gs1.org/00/040123451111111110", None),
            Err(DigitalLinkError::CompanyPrefixLengthRequired)
        );
        assert_eq!(
            digital_link_to_urn_with("https://id.gs1.org/00/040123451111111110", Some(7))
                .as_deref(),
            Ok("urn:epc:id:sscc:4012345.0111111111")
        );
        assert!(matches!(
            digital_link_to_urn("https://id.gs1.org/00/040123451111111110", 13),
            Err(DigitalLinkError::Urn(EpcUriError::CompanyPrefixLength {
                found: 13
            }))
        ));
    }

    #[test]
    fn a_company_prefix_length_inside_a_giai_must_leave_digits() {
        // The first 7 characters of 4012345ABC345 are digits; 8 would take the letter A.
        assert!(matches!(
            digital_link_to_urn("https://id.gs1.org/8004/4012345ABC345", 8),
            Err(DigitalLinkError::Urn(EpcUriError::NonNumeric { .. }))
        ));
    }

    proptest::proptest! {
        #[test]
        fn writing_in_place_agrees_with_the_general_conversion(
            scheme in proptest::sample::select(vec!["sgtin", "sscc", "sgln", "grai", "lgtin"]),
            company in "[0-9]{5,13}",
            reference in "[0-9]{0,12}",
            serial in "[A-Za-z0-9._%'!()*+,:/-]{0,22}",
        ) {
            let level = if scheme == "lgtin" { "class" } else { "id" };
            for urn in [
                format!("urn:epc:{level}:{scheme}:{company}.{reference}.{serial}"),
                format!("urn:epc:{level}:{scheme}:{company}.{reference}"),
            ] {
                let mut out = String::from("x=");
                let written = write_digital_link(&mut out, &urn).map(|()| out[2..].to_owned());
                proptest::prop_assert_eq!(&written, &urn_to_digital_link(&urn), "{}", urn);
                if written.is_err() {
                    proptest::prop_assert_eq!(out.as_str(), "x=");
                }
            }
        }
    }

    #[test]
    fn writing_in_place_escapes_and_drops_a_zero_extension_as_the_conversion_does() {
        for urn in [
            "urn:epc:id:sgtin:4012345.011111.98%22",
            "urn:epc:id:sgtin:0614141.107346.a(b)!",
            "urn:epc:id:sgln:0614141.07346.%30",
            "urn:epc:id:sgln:0614141.07346.0",
            "urn:epc:id:sgln:061414107346..x",
            "urn:epc:id:sscc:0614141.1234567890",
            "urn:epc:id:gid:95100000.12345.400",
            "urn:epc:id:sgtin:0614141.107346",
        ] {
            let mut out = String::new();
            let written = write_digital_link(&mut out, urn).map(|()| out);
            assert_eq!(written, urn_to_digital_link(urn), "{urn}");
        }
    }
}
