//! Compressed GS1 Digital Link URIs: `https://{host}/{optional/prefix}/{base64url}`.
//!
//! # Source
//!
//! The compression defined by GS1 Digital Link Standard 1.1 (ratified February 2020), in its
//! section on URI compression. The standard's own text was not at hand when this was written; the
//! bit layout below was taken from GS1's prototype toolkit (`GS1DigitalLinkCompressionPrototype`,
//! written alongside the standard) and checked against an independent implementation, the PyPI
//! package `gs1-compression` 0.1.3 (`testdata/digital-link-compression/`). Not to be confused
//! with GS1's 2025 "Compression Technical Standard for EPC binary strings", a different format.
//!
//! # The format as implemented here
//!
//! The last path segment is written in the URL-safe base64 alphabet (`A-Z a-z 0-9 - _`, values
//! 0 to 63, no `=` padding). Each character stands for 6 bits, most significant first, and the
//! segment is the concatenation of those bits. The bit string is a run of elements; each begins
//! with 8 bits read as two hexadecimal digits:
//!
//! - **Two decimal digits** start an AI code. GS1 fixes the length of every AI by its first two
//!   digits (`01` has two, `254` three, `3103` four); the remaining digits follow, 4 bits each.
//!   The AI's value comes next.
//! - **An optimisation code** (two hexadecimal digits, at least one of them above 9, listed in
//!   the standard's table, e.g. `0D` for AIs 01 and 17, `9D` for 414 and 254) stands for a fixed
//!   sequence of AIs; their values follow in that order, with no AI codes.
//! - **`F` followed by anything**: a non-GS1 query parameter. Its name length takes 7 bits (the
//!   second hexadecimal digit gives the first 4 of them), the name follows in base64url
//!   characters of 6 bits, and the value follows as a text value (below) with a 7-bit length.
//! - Anything else is an error.
//!
//! An AI's value is made of one or two components, which its format (the AI table of
//! [`super`], from the GS1 General Specifications) determines:
//!
//! - **fixed-length digits**, n of them: the number in binary, in B(n) bits;
//! - **variable-length digits**, at most m: the count of digits in L(m) bits, then the number in
//!   B(count) bits;
//! - **text**, at most m characters: a 3-bit encoding indicator, the count of characters in L(m)
//!   bits, then the characters: `000` digits only, as one number in B(count) bits; `001`
//!   lower-case hexadecimal and `010` upper-case hexadecimal, 4 bits a character; `011`
//!   base64url, 6 bits a character; `100` 7-bit ASCII. `101` to `111` are undefined.
//!
//! L(m) is the number of bits needed to write m in binary (5 for 20). B(n) is
//! ⌈n·log₂10 + 0.01⌉: the bits needed for n nines, 1 for n = 0 (the prototype's formula, whose
//! `+ 0.01` also adds a bit at n = 59, which only a parameter value can reach). A GTIN has 14
//! fixed digits, GRAI and GDTI 14 and 13 fixed digits then text, a GCN 13 fixed then up to 12
//! digits, an ITIP 18 fixed digits, a lot, serial or GIAI text, a date 6 fixed digits.
//!
//! After the last element, fewer than 6 zero bits complete the last character. Non-GS1
//! parameters may also follow the segment as an ordinary query string. In the partially
//! compressed form the primary key stays uncompressed in the path (`/01/{gtin}/{base64url}`)
//! and the segment holds the rest.
//!
//! # Decoding
//!
//! [`decompress`] is strict: it refuses a URI longer than [`MAX_COMPRESSED_URI_LEN`] before
//! decoding; a character outside base64url; a bit string that ends inside an element; padding
//! (what follows the last element, fewer than the 8 bits that start one) of 6 bits or more, or
//! with a bit set; an undefined optimisation code or encoding; an AI code with a non-digit, or
//! one this crate does not know (the same AIs [`DigitalLink::parse`] takes); a number too large
//! for its digits; an AI given twice, or two primary keys; a parameter without a name, packed
//! or in the query string (as [`DigitalLink::parse`] refuses `?=x`), or named by digits (an AI
//! outside the segment); and every value the uncompressed parser refuses (length, character
//! set, check digit, qualifier not of the key). It allocates in proportion to its (bounded)
//! input.
//!
//! Numbers are padded with leading zeros to the count of digits the format or the length field
//! gives. GS1's prototype drops the leading zeros of a variable-length number and of a text value
//! written as digits (`000`), so it reads a serial `0012` as `12` (`gs1-compression` does the
//! same for text, and writes a variable-length number back in binary); this crate keeps them, as
//! the length field says.
//!
//! # Encoding
//!
//! [`compress`] writes the AIs as GS1's prototype encoder does: first the optimisation code whose
//! AIs are all present and whose AI codes are longest in total (ties: the earlier code of the
//! table), then every other AI in ascending order of its code. Every optimisation code includes
//! a primary key, so at most one applies. Text takes the smallest alphabet that holds it:
//! digits, upper-case hexadecimal, lower-case hexadecimal, base64url, 7-bit ASCII; the empty text
//! takes 7-bit ASCII. One exception: text of two or more digits starting with `0` is written as
//! upper-case hexadecimal (4 bits a digit instead of about 3.3), so that decoders that drop
//! leading zeros (above) still read it right. Non-GS1 parameters stay in the query string, as
//! the prototype leaves them by default.
//!
//! The compressed form does not carry the order of the data attributes: the encoder sorts them.
//! [`decompress`] returns the key qualifiers in the key's order and the data attributes in
//! ascending AI order, so every encoding of one link decodes to one [`DigitalLink`], and
//! `decompress(&compress(&link)?) == Ok(link)` for every link whose attributes are in that order
//! (every link that [`decompress`] returns). Holding each AI once, the compressed form has no
//! room for a data attribute given twice, which [`DigitalLink::parse`] accepts; [`compress`]
//! refuses such a link.

use super::{
    AIS, AiSpec, AiValue, DigitalLink, DigitalLinkError, Format, Role, UriParts, check_value,
    decode_part, escape_query, place_qualifier, prefix_path, qualifier_position, query_pairs,
    spec_by_segment, spec_for_code,
};

/// The longest URI [`decompress`] reads, in bytes; longer ones are refused before decoding.
/// Twice what a QR code printed on a pack plausibly carries, and room for a GTIN, all its
/// qualifiers and a dozen data attributes of the longest kinds.
pub const MAX_COMPRESSED_URI_LEN: usize = 2048;

/// The URL-safe base64 alphabet, in order of value.
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Encoding indicators of a text value.
const DIGITS: u8 = 0;
const LOWER_HEX: u8 = 1;
const UPPER_HEX: u8 = 2;
const URL_BASE64: u8 = 3;
const ASCII: u8 = 4;

/// Bits of the name length and of the value length of a non-GS1 parameter.
const PARAMETER_LENGTH_BITS: usize = 7;

/// The optimisation codes of the standard: two hexadecimal digits (one above 9) that stand for
/// a sequence of AIs. Some name AIs this crate does not know (91, 39xx), which then fail to
/// decode as an unknown AI would.
static OPTIMISATIONS: &[(u8, &[&str])] = &[
    (0x0A, &["01", "22"]),
    (0x0B, &["01", "10"]),
    (0x0C, &["01", "21"]),
    (0x0D, &["01", "17"]),
    (0x0E, &["01", "7003"]),
    (0x0F, &["01", "30"]),
    (0x1A, &["01", "10", "21", "17"]),
    (0x1B, &["01", "15"]),
    (0x1C, &["01", "11"]),
    (0x1D, &["01", "16"]),
    (0x1E, &["01", "91"]),
    (0x1F, &["01", "10", "15"]),
    (0x2A, &["01", "3100"]),
    (0x2B, &["01", "3101"]),
    (0x2C, &["01", "3102"]),
    (0x2D, &["01", "3103"]),
    (0x2E, &["01", "3104"]),
    (0x2F, &["01", "3105"]),
    (0x3A, &["01", "3200"]),
    (0x3B, &["01", "3201"]),
    (0x3C, &["01", "3202"]),
    (0x3D, &["01", "3203"]),
    (0x3E, &["01", "3204"]),
    (0x3F, &["01", "3205"]),
    (0x9A, &["8010", "8011"]),
    (0x9B, &["8017", "8019"]),
    (0x9C, &["8018", "8019"]),
    (0x9D, &["414", "254"]),
    (0xA0, &["01", "3920"]),
    (0xA1, &["01", "3921"]),
    (0xA2, &["01", "3922"]),
    (0xA3, &["01", "3923"]),
    (0xA4, &["01", "3924"]),
    (0xA5, &["01", "3925"]),
    (0xA6, &["01", "3926"]),
    (0xA7, &["01", "3927"]),
    (0xA8, &["01", "3928"]),
    (0xA9, &["01", "3929"]),
    (0xC0, &["255", "3900"]),
    (0xC1, &["255", "3901"]),
    (0xC2, &["255", "3902"]),
    (0xC3, &["255", "3903"]),
    (0xC4, &["255", "3904"]),
    (0xC5, &["255", "3905"]),
    (0xC6, &["255", "3906"]),
    (0xC7, &["255", "3907"]),
    (0xC8, &["255", "3908"]),
    (0xC9, &["255", "3909"]),
    (0xCA, &["255", "3940"]),
    (0xCB, &["255", "3941"]),
    (0xCC, &["255", "3942"]),
    (0xCD, &["255", "3943"]),
];

/// Reads a compressed GS1 Digital Link: the same [`DigitalLink`] its uncompressed form parses
/// to, on the compressed link's own base (scheme, host and any path prefix).
///
/// The last path segment is the compressed one; a primary key may stand uncompressed before it
/// (`/01/{gtin}/{base64url}`). Non-GS1 parameters may be packed into the segment or follow it
/// as a query string (packed ones first); an AI in the query string is refused. See the
/// [module documentation](self) for the format and every check.
///
/// ```
/// use epcis::digital_link::{DigitalLink, decompress};
/// assert_eq!(
///     decompress("https://id.gs1.org/ARHKVAdpQg"),
///     DigitalLink::parse("https://id.gs1.org/01/09780345418913"),
/// );
/// ```
pub fn decompress(uri: &str) -> Result<DigitalLink, DigitalLinkError> {
    if uri.len() > MAX_COMPRESSED_URI_LEN {
        return Err(DigitalLinkError::CompressedTooLong {
            length: uri.len(),
            max: MAX_COMPRESSED_URI_LEN,
        });
    }
    let parts = UriParts::split(uri)?;
    let segments: Vec<&str> = parts.path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((compressed, prefix)) = segments.split_last() else {
        return Err(DigitalLinkError::NoPrimaryKey);
    };
    let decoded = decode_segment(compressed)?;
    let mut parameters = decoded.parameters;
    for pair in query_pairs(parts.query) {
        let (name, value) = pair?;
        if name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DigitalLinkError::AiOutsideCompressedSegment { name });
        }
        parameters.push((name, value));
    }
    let roles = Roles::split(decoded.ais, prefix)?;
    let base = format!(
        "{}{}{}",
        parts.scheme,
        parts.host,
        prefix_path(roles.prefix)
    );
    roles.into_link(base, parameters)
}

/// Writes a link in compressed form on its own base: `{base}/{base64url}`, followed by its
/// non-GS1 parameters (such as `linkType`) as a query string. See the [module
/// documentation](self) for the choices made.
///
/// The compressed form holds each AI once, so a link whose query string gives one data attribute
/// twice (`?17=251231&17=261231`, which [`DigitalLink::parse`] accepts) cannot be compressed:
/// [`DigitalLinkError::DuplicateAi`]. Nor can a link whose base path ends in an AI code or short
/// name, or in one followed by a segment (`https://x/giai`, `https://x/01/a`): the segment would
/// read as that AI's value, or the base would show a key the segment does not mean
/// ([`DigitalLinkError::AiInCompressedBase`]). (A link on a very long base, or with very long
/// parameters, can compress to more than [`MAX_COMPRESSED_URI_LEN`] bytes, which [`decompress`]
/// refuses.)
///
/// ```
/// use epcis::digital_link::{DigitalLink, compress, decompress};
/// let link = DigitalLink::parse("https://id.gs1.org/01/09780345418913")?;
/// let compressed = compress(&link)?;
/// assert_eq!(compressed, "https://id.gs1.org/ARHKVAdpQg");
/// assert_eq!(decompress(&compressed), Ok(link));
/// # Ok::<(), epcis::digital_link::DigitalLinkError>(())
/// ```
pub fn compress(link: &DigitalLink) -> Result<String, DigitalLinkError> {
    let attributes = &link.attributes;
    let repeated = (1..attributes.len()).find_map(|i| {
        let ai = attributes[i].ai;
        attributes[..i].iter().any(|a| a.ai == ai).then_some(ai)
    });
    if let Some(ai) = repeated {
        return Err(DigitalLinkError::DuplicateAi { ai });
    }
    // The base came from a parsed or decoded URI, so it splits again.
    let base = UriParts::split(&link.base)?;
    let base_path: Vec<&str> = base.path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(segment) = ai_at_end(&base_path) {
        return Err(DigitalLinkError::AiInCompressedBase { segment });
    }
    let mut uri = format!("{}/{}", link.base, compressed_segment(link));
    let mut separator = '?';
    for (name, value) in &link.other {
        uri.push(separator);
        uri.push_str(&escape_query(name));
        uri.push('=');
        uri.push_str(&escape_query(value));
        separator = '&';
    }
    Ok(uri)
}

/// How [`DigitalLink::parse_any`] reads a URI that is not an uncompressed Digital Link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// Not as compressed: the uncompressed parser's error stands. The last path segment is not
    /// base64url, or follows an AI code or short name this crate knows, which makes it that AI's
    /// value (`/01/0950600013435A` is a bad GTIN).
    Uncompressed,
    /// As compressed: the decompression's result stands.
    Compressed,
    /// As compressed if it decodes, else the uncompressed parser's error stands: the last
    /// segment follows two to four digits that name no AI this crate knows, which may be an AI
    /// it does not read (`/99/x`) or a folder of the base (`/2024/{base64url}`).
    Either,
}

/// How to read a URI that is not an uncompressed Digital Link (see [`Reading`]).
pub(super) fn reading(uri: &str) -> Reading {
    let Ok(parts) = UriParts::split(uri) else {
        return Reading::Uncompressed;
    };
    let segments: Vec<&str> = parts.path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((last, before)) = segments.split_last() else {
        return Reading::Uncompressed;
    };
    if !last.bytes().all(|b| BASE64URL.contains(&b)) {
        return Reading::Uncompressed;
    }
    match before.last() {
        Some(segment) if spec_by_segment(segment).is_some() => Reading::Uncompressed,
        Some(segment)
            if (2..=4).contains(&segment.len()) && segment.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Reading::Either
        }
        _ => Reading::Compressed,
    }
}

/// The first of a path's last two segments that is an AI code or short name the crate knows: a
/// base ending in one would make what follows read as its value (`/giai/{segment}`) or show a
/// key of its own before the segment (`/01/{gtin}/{segment}`).
fn ai_at_end(path: &[&str]) -> Option<String> {
    path.iter()
        .rev()
        .take(2)
        .find(|segment| spec_by_segment(segment).is_some())
        .map(|segment| (*segment).to_owned())
}

/// What a compressed segment holds, in the order written.
#[derive(Debug, Default)]
struct Decoded {
    ais: Vec<(AiSpec, String)>,
    parameters: Vec<(String, String)>,
}

fn decode_segment(segment: &str) -> Result<Decoded, DigitalLinkError> {
    let mut bits = BitReader::new(segment)?;
    let mut decoded = Decoded::default();
    // Every element starts with 8 bits, so fewer than 8 left can only be padding: valid if
    // under 6 zero bits (completing the last character), refused as padding otherwise.
    while bits.remaining() >= 8 {
        let header = bits.read(8)?;
        let (high, low) = (header >> 4, header & 0xF);
        if high <= 9 && low <= 9 {
            let spec = read_ai_code(&mut bits, high, low)?;
            read_ai_value(&mut bits, spec, &mut decoded)?;
        } else if let Some((_, sequence)) = OPTIMISATIONS
            .iter()
            .find(|(code, _)| u32::from(*code) == header)
        {
            for code in *sequence {
                let spec = spec_for_code(code).ok_or_else(|| DigitalLinkError::UnknownAi {
                    ai: (*code).to_owned(),
                })?;
                read_ai_value(&mut bits, spec, &mut decoded)?;
            }
        } else if high == 0xF {
            decoded.parameters.push(read_parameter(&mut bits, low)?);
        } else {
            return Err(DigitalLinkError::UnknownOptimisationCode {
                code: format!("{header:02X}"),
            });
        }
    }
    let padding = bits.remaining();
    if padding >= 6 || bits.read(padding)? != 0 {
        return Err(DigitalLinkError::CompressedPadding { bits: padding });
    }
    Ok(decoded)
}

/// Reads the rest of an AI code whose first two digits are `first` and `second`.
fn read_ai_code(bits: &mut BitReader, first: u32, second: u32) -> Result<AiSpec, DigitalLinkError> {
    let mut code = format!("{first}{second}");
    let Some(length) = ai_length(&code) else {
        return Err(DigitalLinkError::UnknownAi { ai: code });
    };
    while code.len() < length {
        let nibble = bits.read(4)?;
        let Some(digit) = char::from_digit(nibble, 10) else {
            return Err(DigitalLinkError::AiNibble {
                digits: code,
                nibble: nibble as u8,
            });
        };
        code.push(digit);
    }
    spec_for_code(&code).ok_or(DigitalLinkError::UnknownAi { ai: code })
}

/// The length of the AIs starting with these two digits (GS1 fixes it by them), for the AIs
/// this crate knows.
fn ai_length(first_two: &str) -> Option<usize> {
    let known = AIS
        .iter()
        .map(|spec| spec.code.as_str())
        .find(|code| code.starts_with(first_two))
        .map(str::len);
    // Measures (3100-3699) are not listed one by one.
    known.or_else(|| spec_for_code(&format!("{first_two}00")).map(|_| 4))
}

/// Reads the value of `spec`'s AI, checks it as the uncompressed parser does and records it.
fn read_ai_value(
    bits: &mut BitReader,
    spec: AiSpec,
    decoded: &mut Decoded,
) -> Result<(), DigitalLinkError> {
    if decoded.ais.iter().any(|(seen, _)| seen.code == spec.code) {
        return Err(DigitalLinkError::DuplicateAi { ai: spec.code });
    }
    let part = || format!("AI ({})", spec.code);
    let mut raw = String::new();
    for component in components(spec.format).into_iter().flatten() {
        raw.push_str(&match component {
            Component::Digits(n) => bits.read_number(value_bits(n), n, part)?,
            Component::UpToDigits(max) => {
                let n = bits.read(length_bits(max))? as usize;
                bits.read_number(value_bits(n), n, part)?
            }
            Component::Text(max) => bits.read_text(length_bits(max), part)?,
        });
    }
    let value = check_value(spec.code, spec.format, &raw)?;
    decoded.ais.push((spec, value));
    Ok(())
}

/// Reads a packed non-GS1 parameter, after its flag `F`; `low` holds the first 4 bits of its name
/// length.
fn read_parameter(bits: &mut BitReader, low: u32) -> Result<(String, String), DigitalLinkError> {
    let length = ((low << 3) | bits.read(3)?) as usize;
    if length == 0 {
        return Err(DigitalLinkError::EmptyParameterName);
    }
    let name = bits.read_characters(length, 6, BASE64URL)?;
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DigitalLinkError::AiOutsideCompressedSegment { name });
    }
    let value = bits.read_text(PARAMETER_LENGTH_BITS, || format!("parameter {name}"))?;
    if let Some(character) = value.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(DigitalLinkError::ParameterCharacter { name, character });
    }
    Ok((name, value))
}

/// The AIs of a compressed link by role.
#[derive(Debug)]
struct Roles<'p, 's> {
    primary: (AiSpec, String),
    qualifiers: Vec<(AiSpec, String)>,
    attributes: Vec<(AiSpec, String)>,
    /// The path prefix left once a primary key standing uncompressed in it is taken.
    prefix: &'p [&'s str],
}

impl<'p, 's> Roles<'p, 's> {
    /// Sorts the decoded AIs by role; with no primary key among them, takes it from the end of
    /// the path prefix (partial compression: `.../{primary AI}/{value}/{segment}`).
    fn split(ais: Vec<(AiSpec, String)>, prefix: &'p [&'s str]) -> Result<Self, DigitalLinkError> {
        let mut primary: Option<(AiSpec, String)> = None;
        let mut qualifiers = Vec::new();
        let mut attributes = Vec::new();
        for (spec, value) in ais {
            match spec.role {
                Role::Primary => {
                    if let Some((first, _)) = &primary {
                        return Err(DigitalLinkError::MultiplePrimaryKeys {
                            first: first.code,
                            second: spec.code,
                        });
                    }
                    primary = Some((spec, value));
                }
                Role::Qualifier => qualifiers.push((spec, value)),
                Role::Attribute => attributes.push((spec, value)),
            }
        }
        let (primary, prefix) = match primary {
            // A path showing a key or qualifier of its own before a segment holding the primary
            // key would name one item to a reader and mean another.
            Some(primary) => match ai_at_end(prefix) {
                Some(name) => return Err(DigitalLinkError::AiOutsideCompressedSegment { name }),
                None => (primary, prefix),
            },
            None => uncompressed_primary(prefix)?,
        };
        Ok(Self {
            primary,
            qualifiers,
            attributes,
            prefix,
        })
    }

    /// The link: key qualifiers in the key's order (checked as the uncompressed parser checks
    /// them), data attributes in ascending AI order.
    fn into_link(
        self,
        base: String,
        other: Vec<(String, String)>,
    ) -> Result<DigitalLink, DigitalLinkError> {
        let (key, value) = self.primary;
        let mut qualifiers = self.qualifiers;
        qualifiers
            .sort_by_key(|(spec, _)| qualifier_position(&key, spec.code).unwrap_or(usize::MAX));
        let mut placed = Vec::with_capacity(qualifiers.len());
        let mut next_allowed = 0;
        for (spec, value) in qualifiers {
            next_allowed = place_qualifier(&key, spec.code, next_allowed, placed.is_empty())?;
            placed.push(AiValue {
                ai: spec.code,
                value,
            });
        }
        let mut attributes = self.attributes;
        attributes.sort_by_key(|(spec, _)| spec.code);
        let attributes = attributes
            .into_iter()
            .map(|(spec, value)| AiValue {
                ai: spec.code,
                value,
            })
            .collect();
        Ok(DigitalLink {
            base,
            primary: AiValue {
                ai: key.code,
                value,
            },
            qualifiers: placed,
            attributes,
            other,
        })
    }
}

/// The primary key at the end of a path prefix, checked, and the prefix before it.
fn uncompressed_primary<'p, 's>(
    prefix: &'p [&'s str],
) -> Result<((AiSpec, String), &'p [&'s str]), DigitalLinkError> {
    let [rest @ .., ai, value] = prefix else {
        return Err(DigitalLinkError::NoPrimaryKey);
    };
    let Some(spec) = spec_by_segment(ai).filter(|spec| spec.role == Role::Primary) else {
        return Err(DigitalLinkError::NoPrimaryKey);
    };
    let value = check_value(spec.code, spec.format, &decode_part(value)?)?;
    Ok(((*spec, value), rest))
}

/// The base64url segment of a link's GS1 data.
fn compressed_segment(link: &DigitalLink) -> String {
    let mut entries: Vec<&AiValue> = std::iter::once(&link.primary)
        .chain(&link.qualifiers)
        .chain(&link.attributes)
        .collect();
    let mut bits = BitWriter::default();
    if let Some((code, sequence)) = best_optimisation(&entries) {
        bits.push(u32::from(*code), 8);
        for ai in *sequence {
            if let Some(entry) = entries.iter().find(|e| e.ai == *ai) {
                write_ai_value(&mut bits, entry);
            }
        }
        entries.retain(|e| !sequence.iter().any(|ai| e.ai == *ai));
    }
    entries.sort_by_key(|e| e.ai);
    for entry in entries {
        for digit in entry.ai.as_str().bytes() {
            bits.push(u32::from(digit - b'0'), 4);
        }
        write_ai_value(&mut bits, entry);
    }
    bits.into_base64url()
}

/// The optimisation code whose AIs are all present and longest in total; the earlier on a tie.
fn best_optimisation(entries: &[&AiValue]) -> Option<&'static (u8, &'static [&'static str])> {
    let weight = |sequence: &[&str]| sequence.iter().map(|ai| ai.len()).sum::<usize>();
    OPTIMISATIONS
        .iter()
        .filter(|(_, sequence)| {
            sequence
                .iter()
                .all(|ai| entries.iter().any(|e| e.ai == *ai))
        })
        .fold(None, |best: Option<&(u8, &[&str])>, candidate| match best {
            Some(best) if weight(best.1) >= weight(candidate.1) => Some(best),
            _ => Some(candidate),
        })
}

fn write_ai_value(bits: &mut BitWriter, entry: &AiValue) {
    // Every AI of a link is in the table: the link was parsed or decoded with it.
    let Some(spec) = spec_for_code(entry.ai.as_str()) else {
        return;
    };
    let mut rest = entry.value.as_str();
    for component in components(spec.format).into_iter().flatten() {
        match component {
            Component::Digits(n) => {
                let (digits, after) = rest.split_at_checked(n).unwrap_or((rest, ""));
                bits.push_number(digits, value_bits(n));
                rest = after;
            }
            Component::UpToDigits(max) => {
                bits.push(rest.len() as u32, length_bits(max));
                bits.push_number(rest, value_bits(rest.len()));
                rest = "";
            }
            Component::Text(max) => {
                bits.push_text(rest, length_bits(max));
                rest = "";
            }
        }
    }
}

/// One part of an AI value as the compression writes it.
#[derive(Debug, Clone, Copy)]
enum Component {
    /// Exactly this many digits.
    Digits(usize),
    /// 0 to this many digits, with their count.
    UpToDigits(usize),
    /// 0 to this many characters, with an encoding and their count.
    Text(usize),
}

/// The components of a value of this format (the standard's table of formats, derived from the
/// AI table rather than kept as a second one).
fn components(format: Format) -> [Option<Component>; 2] {
    let one = |c| [Some(c), None];
    match format {
        Format::Gtin => one(Component::Digits(14)),
        Format::Key(n) | Format::Digits(n) => one(Component::Digits(n)),
        Format::Itip => one(Component::Digits(18)),
        Format::UpToDigits(max) => one(Component::UpToDigits(max)),
        Format::Cs82(max) | Format::Cs39(max) => one(Component::Text(max)),
        Format::KeyThen {
            digits,
            max,
            numeric,
        } => [
            Some(Component::Digits(digits)),
            Some(if numeric {
                Component::UpToDigits(max)
            } else {
                Component::Text(max)
            }),
        ],
    }
}

/// L(m): the bits of a length field for at most `max` (the bits needed to write `max`).
fn length_bits(max: usize) -> usize {
    (usize::BITS - max.leading_zeros()) as usize
}

/// B(n): the bits of a number of `digits` decimal digits, ⌈n·log₂10 + 0.01⌉ as the standard's
/// prototype computes it (1 for no digits).
fn value_bits(digits: usize) -> usize {
    (digits as f64 * std::f64::consts::LOG2_10 + 0.01).ceil() as usize
}

/// The encoding of a text value: the smallest alphabet that holds it (see the module notes for
/// all-digit text with a leading zero).
fn text_encoding(text: &str) -> u8 {
    let all = |allowed: &dyn Fn(u8) -> bool| !text.is_empty() && text.bytes().all(allowed);
    if all(&|b| b.is_ascii_digit()) && !(text.len() > 1 && text.starts_with('0')) {
        DIGITS
    } else if all(&|b| HEX_UPPER.contains(&b)) {
        UPPER_HEX
    } else if all(&|b| HEX_LOWER.contains(&b)) {
        LOWER_HEX
    } else if all(&|b| BASE64URL.contains(&b)) {
        URL_BASE64
    } else {
        ASCII
    }
}

/// The bits of a compressed segment, read from the front.
#[derive(Debug)]
struct BitReader {
    /// One 6-bit value per character.
    sextets: Vec<u8>,
    position: usize,
}

impl BitReader {
    fn new(segment: &str) -> Result<Self, DigitalLinkError> {
        let sextets = segment
            .chars()
            .map(|c| {
                u8::try_from(c)
                    .ok()
                    .and_then(|b| BASE64URL.iter().position(|&a| a == b))
                    .map(|value| value as u8)
                    .ok_or(DigitalLinkError::CompressedAlphabet { character: c })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Ok(Self {
            sextets,
            position: 0,
        })
    }

    fn remaining(&self) -> usize {
        self.sextets.len() * 6 - self.position
    }

    fn truncated(&self) -> DigitalLinkError {
        DigitalLinkError::CompressedTruncated {
            bits: self.sextets.len() * 6,
        }
    }

    fn bit(&mut self) -> Result<bool, DigitalLinkError> {
        let Some(sextet) = self.sextets.get(self.position / 6) else {
            return Err(self.truncated());
        };
        let bit = sextet >> (5 - self.position % 6) & 1 == 1;
        self.position += 1;
        Ok(bit)
    }

    /// Reads `width` bits (at most 32) as an unsigned number, most significant first.
    fn read(&mut self, width: usize) -> Result<u32, DigitalLinkError> {
        if width > self.remaining() {
            return Err(self.truncated());
        }
        (0..width).try_fold(0, |value, _| Ok((value << 1) | u32::from(self.bit()?)))
    }

    /// Reads a `width`-bit binary number and writes it as exactly `digits` decimal digits.
    fn read_number(
        &mut self,
        width: usize,
        digits: usize,
        part: impl Fn() -> String,
    ) -> Result<String, DigitalLinkError> {
        if width > self.remaining() {
            return Err(self.truncated());
        }
        // Decimal digits, most significant first: doubled and added to, bit by bit.
        let mut decimal = vec![0_u8; digits];
        for _ in 0..width {
            let mut carry = u8::from(self.bit()?);
            for digit in decimal.iter_mut().rev() {
                let doubled = *digit * 2 + carry;
                *digit = doubled % 10;
                carry = doubled / 10;
            }
            if carry != 0 {
                return Err(DigitalLinkError::NumericOverflow {
                    part: part(),
                    digits,
                });
            }
        }
        Ok(decimal.into_iter().map(|d| char::from(b'0' + d)).collect())
    }

    /// Reads a text value: encoding indicator, count in `length_width` bits, characters.
    fn read_text(
        &mut self,
        length_width: usize,
        part: impl Fn() -> String,
    ) -> Result<String, DigitalLinkError> {
        let indicator = self.read(3)? as u8;
        let count = self.read(length_width)? as usize;
        match indicator {
            DIGITS => self.read_number(value_bits(count), count, part),
            LOWER_HEX => self.read_characters(count, 4, HEX_LOWER),
            UPPER_HEX => self.read_characters(count, 4, HEX_UPPER),
            URL_BASE64 => self.read_characters(count, 6, BASE64URL),
            ASCII => self.read_characters(count, 7, &ASCII_TABLE),
            _ => Err(DigitalLinkError::UnknownEncoding {
                part: part(),
                indicator,
            }),
        }
    }

    /// Reads `count` characters of `width` bits each, the value indexing `alphabet` (which has
    /// 2^`width` entries).
    fn read_characters(
        &mut self,
        count: usize,
        width: usize,
        alphabet: &[u8],
    ) -> Result<String, DigitalLinkError> {
        if count * width > self.remaining() {
            return Err(self.truncated());
        }
        (0..count)
            .map(|_| {
                let index = self.read(width)? as usize;
                Ok(char::from(alphabet.get(index).copied().unwrap_or(b'?')))
            })
            .collect()
    }
}

/// 7-bit ASCII as an alphabet: each value stands for itself.
const ASCII_TABLE: [u8; 128] = {
    let mut table = [0_u8; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = i as u8;
        i += 1;
    }
    table
};

/// The bits of a compressed segment, written from the front.
#[derive(Debug, Default)]
struct BitWriter {
    bits: Vec<bool>,
}

impl BitWriter {
    /// Appends the `width` low bits of `value`, most significant first.
    fn push(&mut self, value: u32, width: usize) {
        self.bits
            .extend((0..width).rev().map(|i| i < 32 && value >> i & 1 == 1));
    }

    /// Appends a string of decimal digits as a `width`-bit binary number.
    fn push_number(&mut self, digits: &str, width: usize) {
        // Halve the decimal number `width` times, collecting the remainders (least significant
        // first); the number is below 10^digits, which fits `width` bits.
        let mut decimal: Vec<u8> = digits.bytes().map(|b| b.wrapping_sub(b'0') % 10).collect();
        let mut low_first = Vec::with_capacity(width);
        for _ in 0..width {
            let mut remainder = 0;
            for digit in &mut decimal {
                let current = remainder * 10 + *digit;
                *digit = current / 2;
                remainder = current % 2;
            }
            low_first.push(remainder == 1);
        }
        self.bits.extend(low_first.into_iter().rev());
    }

    /// Appends a text value: encoding indicator, count in `length_width` bits, characters.
    fn push_text(&mut self, text: &str, length_width: usize) {
        let encoding = text_encoding(text);
        self.push(u32::from(encoding), 3);
        self.push(text.len() as u32, length_width);
        let (width, alphabet): (usize, &[u8]) = match encoding {
            DIGITS => return self.push_number(text, value_bits(text.len())),
            LOWER_HEX => (4, HEX_LOWER),
            UPPER_HEX => (4, HEX_UPPER),
            URL_BASE64 => (6, BASE64URL),
            _ => (7, &ASCII_TABLE),
        };
        for b in text.bytes() {
            let index = alphabet.iter().position(|&a| a == b).unwrap_or(0);
            self.push(index as u32, width);
        }
    }

    /// The bits padded with zeros to whole characters, in base64url.
    fn into_base64url(self) -> String {
        self.bits
            .chunks(6)
            .map(|chunk| {
                let value = (0..6).fold(0, |value, i| {
                    (value << 1) | usize::from(chunk.get(i).copied().unwrap_or(false))
                });
                char::from(BASE64URL[value])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_bits_follow_the_standard_formula() {
        let expected = [
            (0, 1),
            (1, 4),
            (2, 7),
            (3, 10),
            (6, 20),
            (13, 44),
            (14, 47),
            (17, 57),
            (18, 60),
            (20, 67),
            (30, 100),
            (58, 193),
            (59, 197),
            (60, 200),
            (127, 422),
        ];
        for (digits, bits) in expected {
            assert_eq!(value_bits(digits), bits, "{digits} digits");
        }
    }

    #[test]
    fn length_fields_hold_the_maximum() {
        for (max, bits) in [(6, 3), (8, 4), (10, 4), (12, 4), (16, 5), (20, 5), (30, 5)] {
            assert_eq!(length_bits(max), bits, "max {max}");
        }
        assert_eq!(length_bits(127), PARAMETER_LENGTH_BITS);
    }

    #[test]
    fn ais_sharing_their_first_two_digits_share_their_length() {
        for spec in AIS {
            let code = spec.code.as_str();
            assert_eq!(ai_length(&code[..2]), Some(code.len()), "{code}");
        }
        assert_eq!(ai_length("31"), Some(4));
        assert_eq!(ai_length("36"), Some(4));
        assert_eq!(ai_length("99"), None);
    }

    #[test]
    fn optimisation_codes_are_unique_and_never_two_decimal_digits() {
        for (i, (code, sequence)) in OPTIMISATIONS.iter().enumerate() {
            assert!(code >> 4 > 9 || code & 0xF > 9, "{code:02X}");
            assert!(code >> 4 != 0xF, "{code:02X} would read as a parameter");
            assert!(OPTIMISATIONS[i + 1..].iter().all(|(c, _)| c != code));
            let first = spec_for_code(sequence[0]).map(|s| s.role);
            assert_eq!(first, Some(Role::Primary), "{code:02X}");
        }
    }

    #[test]
    fn numbers_round_trip_through_their_bits() {
        for digits in [
            "",
            "0",
            "7",
            "0012",
            "999999",
            "09780345418913",
            "12345678901234567890",
        ] {
            let width = value_bits(digits.len());
            let mut writer = BitWriter::default();
            writer.push_number(digits, width);
            let segment = writer.into_base64url();
            let mut reader = BitReader::new(&segment).unwrap();
            let read = reader.read_number(width, digits.len(), String::new);
            assert_eq!(read.as_deref(), Ok(digits));
        }
    }

    #[test]
    fn a_number_beyond_its_digits_overflows() {
        // 4 bits for one digit can hold 15.
        let mut reader = BitReader::new("_").unwrap();
        assert!(matches!(
            reader.read_number(4, 1, || "AI (20)".to_owned()),
            Err(DigitalLinkError::NumericOverflow { digits: 1, .. })
        ));
    }

    #[test]
    fn text_takes_the_smallest_alphabet() {
        for (text, encoding) in [
            ("12345", DIGITS),
            ("0", DIGITS),
            ("0012", UPPER_HEX),
            ("ABC123", UPPER_HEX),
            ("abc123", LOWER_HEX),
            ("abcDEF", URL_BASE64),
            ("A-b_9", URL_BASE64),
            ("ABC&+123", ASCII),
            ("", ASCII),
        ] {
            assert_eq!(text_encoding(text), encoding, "{text:?}");
        }
    }
}
