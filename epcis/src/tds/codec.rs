//! Decoding and encoding every supported binary scheme, and EPC tag URIs
//! (`urn:epc:tag:sgtin-96:3.0614141.812345.6789`), per GS1 EPC Tag Data Standard 2.x sections 12
//! and 14.

use std::fmt;

use serde::Serialize;

use super::bits::{BitReader, BitWriter, hex_bytes, to_hex};
use super::error::{DecodeError, EncodeError, TagUriError};
use super::scheme::{
    Filter, GIAI_96, GIAI_202, GRAI, Partition, PartitionTable, SGLN, SGTIN, SSCC, Scheme,
};
use super::sgtin96::Sgtin96;
use crate::digital_link::epc_to_digital_link;
use crate::epc::charset::is_cs82;
use crate::epc::{Epc, Gdti, Giai, Gid, Grai, Gsrn, Sgcn, Sgln, Sgtin, Sscc};

/// `urn:epc:tag:`
pub const TAG_PREFIX: &str = "urn:epc:tag:";

/// An EPC as stored on a tag: binary scheme, filter, and the pure identity it encodes.
///
/// Built only by decoding, by encoding an identity that fits, or by parsing a tag URI, so
/// [`EpcTag::to_hex`] cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpcTag {
    scheme: Scheme,
    filter: Option<Filter>,
    epc: Epc,
    /// The canonical encoding, padded with zero bits to whole 16-bit words.
    bytes: Vec<u8>,
}

impl EpcTag {
    /// Decodes the hex of an EPC memory bank's EPC (either case). The length must be the
    /// scheme's bits, padded to at most a whole 16-bit word.
    pub fn from_hex(hex: &str) -> Result<Self, DecodeError> {
        if hex.is_empty() {
            return Err(DecodeError::Empty);
        }
        let bytes = hex_bytes(hex)?;
        decode(&bytes, hex.len() * 4)
    }

    /// Decodes EPC bytes (the scheme's bits padded to whole bytes or 16-bit words).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes, bytes.len() * 8)
    }

    /// Encodes `epc` in `scheme` with `filter` (ignored by GID-96, which has none).
    pub fn encode(scheme: Scheme, filter: Filter, epc: Epc) -> Result<Self, EncodeError> {
        let bytes = encode(scheme, filter, &epc)?;
        let filter = scheme.has_filter().then_some(filter);
        Ok(Self {
            scheme,
            filter,
            epc,
            bytes,
        })
    }

    /// Encodes `epc` in the shortest scheme that can hold it: the 96-bit scheme when its serial
    /// is numeric, otherwise the alphanumeric one.
    pub fn encode_shortest(filter: Filter, epc: Epc) -> Result<Self, EncodeError> {
        let candidates: &[Scheme] = match &epc {
            Epc::Sgtin(_) => &[Scheme::Sgtin96, Scheme::Sgtin198],
            Epc::Sscc(_) => &[Scheme::Sscc96],
            Epc::Sgln(_) => &[Scheme::Sgln96, Scheme::Sgln195],
            Epc::Grai(_) => &[Scheme::Grai96, Scheme::Grai170],
            Epc::Giai(_) => &[Scheme::Giai96, Scheme::Giai202],
            Epc::Gid(_) => &[Scheme::Gid96],
            Epc::Gsrn(_) => &[Scheme::Gsrn96],
            Epc::Gsrnp(_) => &[Scheme::Gsrnp96],
            Epc::Gdti(_) => &[Scheme::Gdti96, Scheme::Gdti174],
            Epc::Sgcn(_) => &[Scheme::Sgcn96],
            _ => &[],
        };
        let mut last = EncodeError::SchemeMismatch {
            scheme: "any supported scheme",
            epc_scheme: epc.scheme(),
        };
        for &scheme in candidates {
            match encode(scheme, filter, &epc) {
                Ok(bytes) => {
                    let filter = scheme.has_filter().then_some(filter);
                    return Ok(Self {
                        scheme,
                        filter,
                        epc,
                        bytes,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Parses an EPC tag URI such as `urn:epc:tag:sgtin-96:3.0614141.812345.6789` and checks
    /// that the identity fits the scheme.
    pub fn parse_tag_uri(uri: &str) -> Result<Self, TagUriError> {
        let Some(rest) = uri.strip_prefix(TAG_PREFIX) else {
            return Err(TagUriError::NotATagUri);
        };
        let (name, body) = rest.split_once(':').unwrap_or((rest, ""));
        let Some(scheme) = Scheme::from_name(name) else {
            return Err(TagUriError::UnknownScheme {
                scheme: name.to_owned(),
            });
        };
        let (filter, body) = if scheme.has_filter() {
            let (filter, body) = body.split_once('.').unwrap_or((body, ""));
            let value = match filter.as_bytes() {
                [d @ b'0'..=b'7'] => u32::from(d - b'0'),
                _ => {
                    return Err(TagUriError::Filter {
                        found: filter.to_owned(),
                    });
                }
            };
            (Filter::new(value)?, body)
        } else {
            (Filter::ALL_OTHERS, body)
        };
        let epc = Epc::parse(&format!("urn:epc:id:{}:{body}", scheme.identity_scheme()))?;
        Ok(Self::encode(scheme, filter, epc)?)
    }

    /// Encodes a tag URI, or a pure identity URI in `scheme` (by default the shortest that
    /// fits) with `filter` (by default 0): the one-liner behind `tagtrail epc encode URI`.
    /// With a tag URI, a scheme or filter that is given must agree with the URI's.
    pub fn from_uri(
        uri: &str,
        scheme: Option<Scheme>,
        filter: Option<Filter>,
    ) -> Result<Self, TagUriError> {
        if uri.starts_with(TAG_PREFIX) {
            let tag = Self::parse_tag_uri(uri)?;
            if let Some(given) = scheme.filter(|s| *s != tag.scheme) {
                let (given, in_uri) = (given.name().to_owned(), tag.scheme.name().to_owned());
                return Err(TagUriError::Conflict {
                    what: "scheme",
                    given,
                    in_uri,
                });
            }
            if let (Some(given), Some(in_uri)) = (filter, tag.filter)
                && given != in_uri
            {
                return Err(TagUriError::Conflict {
                    what: "filter",
                    given: given.to_string(),
                    in_uri: in_uri.to_string(),
                });
            }
            return Ok(tag);
        }
        let epc = Epc::parse(uri)?;
        let filter = filter.unwrap_or(Filter::ALL_OTHERS);
        Ok(match scheme {
            Some(scheme) => Self::encode(scheme, filter, epc)?,
            None => Self::encode_shortest(filter, epc)?,
        })
    }

    /// The binary scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The filter value (`None` for GID-96).
    pub fn filter(&self) -> Option<Filter> {
        self.filter
    }

    /// The pure identity.
    pub fn epc(&self) -> &Epc {
        &self.epc
    }

    /// Takes the pure identity.
    pub fn into_epc(self) -> Epc {
        self.epc
    }

    /// The encoded bytes, padded with zero bits to whole 16-bit words.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Upper-case hex of [`Self::bytes`].
    pub fn to_hex(&self) -> String {
        to_hex(&self.bytes)
    }

    /// The tag URI (same as `Display`).
    pub fn tag_uri(&self) -> String {
        self.to_string()
    }

    /// The pure identity URI.
    pub fn id_uri(&self) -> String {
        self.epc.to_string()
    }

    /// Everything a person or a JSON consumer wants to see about the tag.
    pub fn describe(&self) -> TagDescription {
        TagDescription {
            hex: self.to_hex(),
            scheme: self.scheme.name(),
            filter: self.filter.map(Filter::value),
            id_uri: self.id_uri(),
            tag_uri: self.tag_uri(),
            digital_link: epc_to_digital_link(&self.epc).ok(),
        }
    }
}

impl fmt::Display for EpcTag {
    /// The tag URI: the pure identity URI's body, after the scheme name and the filter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.epc.to_string();
        let prefix_len = "urn:epc:id:".len() + self.scheme.identity_scheme().len() + 1;
        let body = id.get(prefix_len..).unwrap_or_default();
        write!(f, "{TAG_PREFIX}{}:", self.scheme.name())?;
        if let Some(filter) = self.filter {
            write!(f, "{filter}.")?;
        }
        f.write_str(body)
    }
}

/// A decoded tag in the words of `tagtrail epc decode --json`: keys `hex`, `scheme`, `filter`,
/// `idUri`, `tagUri`, `digitalLink`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagDescription {
    /// Upper-case hex of the EPC.
    pub hex: String,
    /// The binary scheme, e.g. `sgtin-96`.
    pub scheme: &'static str,
    /// The filter value (absent for GID-96).
    pub filter: Option<u8>,
    /// The pure identity URI.
    pub id_uri: String,
    /// The tag URI.
    pub tag_uri: String,
    /// The canonical GS1 Digital Link (absent for GID, which has no GS1 key).
    pub digital_link: Option<String>,
}

/// Decodes hex and describes the tag: the one-liner behind `tagtrail epc decode HEX`.
pub fn describe_hex(hex: &str) -> Result<TagDescription, DecodeError> {
    EpcTag::from_hex(hex).map(|tag| tag.describe())
}

fn decode(bytes: &[u8], found_bits: usize) -> Result<EpcTag, DecodeError> {
    let header = *bytes.first().ok_or(DecodeError::Empty)?;
    let scheme = Scheme::from_header(header).ok_or(DecodeError::UnknownHeader { header })?;
    let needed = scheme.bits();
    let padded = needed.div_ceil(16) * 16;
    if found_bits < needed || found_bits > padded {
        return Err(DecodeError::Length {
            scheme: scheme.name(),
            expected_bits: needed,
            found_bits,
        });
    }
    let name = scheme.name();
    let mut r = BitReader::new(bytes);
    r.read(8);
    let filter = if scheme.has_filter() {
        Filter::from_bits(r.read(3))
    } else {
        Filter::ALL_OTHERS
    };
    let epc = match scheme {
        Scheme::Sgtin96 => {
            // The length check above guarantees exactly 96 bits, i.e. 12 bytes.
            let first = bytes.get(..12).and_then(|b| <&[u8; 12]>::try_from(b).ok());
            let Some(first) = first else {
                return Err(DecodeError::Length {
                    scheme: name,
                    expected_bits: needed,
                    found_bits,
                });
            };
            Epc::Sgtin(Sgtin96::from_bytes(first)?.to_sgtin()?)
        }
        Scheme::Sgtin198 => {
            let (cp, item) = partitioned_numeric(&mut r, name, &SGTIN, "item reference")?;
            let serial = string7(&mut r, name, "serial", 140, 20)?;
            Epc::Sgtin(Sgtin::new(&cp, &item, &serial)?)
        }
        Scheme::Sscc96 | Scheme::Gsrn96 | Scheme::Gsrnp96 => {
            let second = if scheme == Scheme::Sscc96 {
                "serial reference"
            } else {
                "service reference"
            };
            let (cp, reference) = partitioned_numeric(&mut r, name, &SSCC, second)?;
            if r.any_set(24) {
                return Err(DecodeError::Reserved { scheme: name });
            }
            match scheme {
                Scheme::Sscc96 => Epc::Sscc(Sscc::new(&cp, &reference)?),
                Scheme::Gsrn96 => Epc::Gsrn(Gsrn::new(&cp, &reference)?),
                _ => Epc::Gsrnp(Gsrn::new(&cp, &reference)?),
            }
        }
        Scheme::Sgln96 | Scheme::Sgln195 => {
            let (cp, location) = partitioned_numeric(&mut r, name, &SGLN, "location reference")?;
            let extension = if scheme == Scheme::Sgln96 {
                r.read(41).to_string()
            } else {
                string7(&mut r, name, "extension", 140, 20)?
            };
            Epc::Sgln(Sgln::new(&cp, &location, &extension)?)
        }
        Scheme::Grai96 | Scheme::Grai170 => {
            let (cp, asset_type) = partitioned_numeric(&mut r, name, &GRAI, "asset type")?;
            let serial = if scheme == Scheme::Grai96 {
                r.read(38).to_string()
            } else {
                string7(&mut r, name, "serial", 112, 16)?
            };
            Epc::Grai(Grai::new(&cp, &asset_type, &serial)?)
        }
        Scheme::Giai96 => {
            let row = partition(&mut r, name, &GIAI_96)?;
            let cp = numeric(
                &mut r,
                name,
                "company prefix",
                row.company_prefix_bits,
                row.company_prefix_digits,
            )?;
            let reference = r.read(usize::from(row.reference_bits)).to_string();
            Epc::Giai(Giai::new(&cp, &reference)?)
        }
        Scheme::Giai202 => {
            let row = partition(&mut r, name, &GIAI_202)?;
            let cp = numeric(
                &mut r,
                name,
                "company prefix",
                row.company_prefix_bits,
                row.company_prefix_digits,
            )?;
            let reference = string7(
                &mut r,
                name,
                "individual asset reference",
                usize::from(row.reference_bits),
                usize::from(row.reference_digits),
            )?;
            Epc::Giai(Giai::new(&cp, &reference)?)
        }
        Scheme::Gid96 => {
            // 28, 24 and 36 bits fit their integer types.
            let manager = r.read(28) as u32;
            let class = r.read(24) as u32;
            let serial = r.read(36) as u64;
            Epc::Gid(Gid::new(manager, class, serial)?)
        }
        Scheme::Gdti96 | Scheme::Gdti174 => {
            let (cp, document_type) = partitioned_numeric(&mut r, name, &SGLN, "document type")?;
            let serial = if scheme == Scheme::Gdti96 {
                r.read(41).to_string()
            } else {
                string7(&mut r, name, "serial", 119, 17)?
            };
            Epc::Gdti(Gdti::new(&cp, &document_type, &serial)?)
        }
        Scheme::Sgcn96 => {
            let (cp, coupon) = partitioned_numeric(&mut r, name, &SGLN, "coupon reference")?;
            let value = r.read(41);
            let digits = value.to_string();
            let Some(serial) = digits.strip_prefix('1') else {
                return Err(DecodeError::NumericString {
                    scheme: name,
                    field: "serial",
                    value,
                });
            };
            Epc::Sgcn(Sgcn::new(&cp, &coupon, serial)?)
        }
    };
    let mut canonical = vec![0_u8; padded / 8];
    let kept = bytes.len().min(canonical.len());
    canonical[..kept].copy_from_slice(&bytes[..kept]);
    clear_bits_from(&mut canonical, needed);
    let filter = scheme.has_filter().then_some(filter);
    Ok(EpcTag {
        scheme,
        filter,
        epc,
        bytes: canonical,
    })
}

/// Zeroes every bit from bit `start` on.
fn clear_bits_from(bytes: &mut [u8], start: usize) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        let first = i * 8;
        if first >= start {
            *byte = 0;
        } else if first + 8 > start {
            let keep = start - first;
            *byte &= 0xFF_u8 << (8 - keep);
        }
    }
}

fn partition(
    r: &mut BitReader<'_>,
    scheme: &'static str,
    table: &PartitionTable,
) -> Result<Partition, DecodeError> {
    let value = r.read(3) as u8;
    table
        .row(value)
        .ok_or(DecodeError::Partition { scheme, value })
}

/// Reads partition, company prefix and a numeric second field, both zero-padded to their digits.
fn partitioned_numeric(
    r: &mut BitReader<'_>,
    scheme: &'static str,
    table: &PartitionTable,
    second: &'static str,
) -> Result<(String, String), DecodeError> {
    let row = partition(r, scheme, table)?;
    let cp = numeric(
        r,
        scheme,
        "company prefix",
        row.company_prefix_bits,
        row.company_prefix_digits,
    )?;
    let reference = numeric(r, scheme, second, row.reference_bits, row.reference_digits)?;
    Ok((cp, reference))
}

/// Reads `bits` as an integer of at most `digits` decimal digits, zero-padded to `digits`.
fn numeric(
    r: &mut BitReader<'_>,
    scheme: &'static str,
    field: &'static str,
    bits: u8,
    digits: u8,
) -> Result<String, DecodeError> {
    let value = r.read(usize::from(bits));
    if value >= 10_u128.pow(u32::from(digits)) {
        return Err(DecodeError::FieldRange {
            scheme,
            field,
            value,
            digits,
        });
    }
    if digits == 0 {
        return Ok(String::new());
    }
    Ok(format!("{value:0width$}", width = usize::from(digits)))
}

/// Reads a string of 7-bit characters in `bits` bits: characters of set 82 up to the first zero
/// character, then zero bits only; at most `max_chars` characters.
fn string7(
    r: &mut BitReader<'_>,
    scheme: &'static str,
    field: &'static str,
    bits: usize,
    max_chars: usize,
) -> Result<String, DecodeError> {
    let mut out = String::new();
    let mut ended = false;
    for _ in 0..bits / 7 {
        let code = r.read(7) as u8;
        if ended {
            if code != 0 {
                return Err(DecodeError::AfterTerminator { scheme, field });
            }
        } else if code == 0 {
            ended = true;
        } else if is_cs82(code) {
            out.push(char::from(code));
        } else {
            return Err(DecodeError::Character {
                scheme,
                field,
                code,
            });
        }
    }
    if r.any_set(bits % 7) {
        return Err(DecodeError::AfterTerminator { scheme, field });
    }
    if out.len() > max_chars {
        return Err(DecodeError::Identity(crate::epc::EpcUriError::TooLong {
            component: field,
            max: max_chars,
            found: out.len(),
        }));
    }
    Ok(out)
}

fn encode(scheme: Scheme, filter: Filter, epc: &Epc) -> Result<Vec<u8>, EncodeError> {
    let name = scheme.name();
    let mismatch = || EncodeError::SchemeMismatch {
        scheme: name,
        epc_scheme: epc.scheme(),
    };
    if scheme == Scheme::Sgtin96 {
        let Epc::Sgtin(sgtin) = epc else {
            return Err(mismatch());
        };
        return Ok(Sgtin96::from_sgtin(sgtin, filter)?.to_bytes().to_vec());
    }
    let mut w = BitWriter::with_bits(scheme.bits());
    w.write(u128::from(scheme.header()), 8);
    if scheme.has_filter() {
        w.write(u128::from(filter.value()), 3);
    }
    match (scheme, epc) {
        (Scheme::Sgtin198, Epc::Sgtin(v)) => {
            write_partitioned(
                &mut w,
                &SGTIN,
                v.company_prefix().as_str(),
                v.item_reference(),
            );
            write_string7(&mut w, name, "serial", v.serial(), 140)?;
        }
        (Scheme::Sscc96, Epc::Sscc(v)) => {
            write_partitioned(
                &mut w,
                &SSCC,
                v.company_prefix().as_str(),
                v.serial_reference(),
            );
        }
        (Scheme::Gsrn96, Epc::Gsrn(v)) | (Scheme::Gsrnp96, Epc::Gsrnp(v)) => {
            write_partitioned(
                &mut w,
                &SSCC,
                v.company_prefix().as_str(),
                v.service_reference(),
            );
        }
        (Scheme::Sgln96 | Scheme::Sgln195, Epc::Sgln(v)) => {
            write_partitioned(
                &mut w,
                &SGLN,
                v.company_prefix().as_str(),
                v.location_reference(),
            );
            if scheme == Scheme::Sgln96 {
                w.write(integer(name, "extension", v.extension(), 41)?, 41);
            } else {
                write_string7(&mut w, name, "extension", v.extension(), 140)?;
            }
        }
        (Scheme::Grai96 | Scheme::Grai170, Epc::Grai(v)) => {
            write_partitioned(&mut w, &GRAI, v.company_prefix().as_str(), v.asset_type());
            if scheme == Scheme::Grai96 {
                w.write(integer(name, "serial", v.serial(), 38)?, 38);
            } else {
                write_string7(&mut w, name, "serial", v.serial(), 112)?;
            }
        }
        (Scheme::Giai96 | Scheme::Giai202, Epc::Giai(v)) => {
            let table = if scheme == Scheme::Giai96 {
                &GIAI_96
            } else {
                &GIAI_202
            };
            let value = PartitionTable::value_for(v.company_prefix().len());
            let Some(row) = table.row(value) else {
                return Err(mismatch());
            };
            w.write(u128::from(value), 3);
            w.write(
                digits_value(v.company_prefix().as_str()),
                usize::from(row.company_prefix_bits),
            );
            let bits = usize::from(row.reference_bits);
            if scheme == Scheme::Giai96 {
                w.write(
                    integer(
                        name,
                        "individual asset reference",
                        v.asset_reference(),
                        row.reference_bits,
                    )?,
                    bits,
                );
            } else {
                write_string7(
                    &mut w,
                    name,
                    "individual asset reference",
                    v.asset_reference(),
                    bits,
                )?;
            }
        }
        (Scheme::Gid96, Epc::Gid(v)) => {
            w.write(u128::from(v.manager()), 28);
            w.write(u128::from(v.class()), 24);
            w.write(u128::from(v.serial()), 36);
        }
        (Scheme::Gdti96 | Scheme::Gdti174, Epc::Gdti(v)) => {
            write_partitioned(
                &mut w,
                &SGLN,
                v.company_prefix().as_str(),
                v.document_type(),
            );
            if scheme == Scheme::Gdti96 {
                w.write(integer(name, "serial", v.serial(), 41)?, 41);
            } else {
                write_string7(&mut w, name, "serial", v.serial(), 119)?;
            }
        }
        (Scheme::Sgcn96, Epc::Sgcn(v)) => {
            write_partitioned(
                &mut w,
                &SGLN,
                v.company_prefix().as_str(),
                v.coupon_reference(),
            );
            // "1" followed by at most 12 digits is below 2 * 10^12 < 2^41.
            w.write(digits_value(&format!("1{}", v.serial())), 41);
        }
        _ => return Err(mismatch()),
    }
    Ok(w.into_bytes())
}

/// The value of a string of at most 38 digits (validated by the identity types).
fn digits_value(digits: &str) -> u128 {
    digits.bytes().fold(0_u128, |acc, b| {
        acc * 10 + u128::from(b.wrapping_sub(b'0') % 10)
    })
}

fn write_partitioned(
    w: &mut BitWriter,
    table: &PartitionTable,
    company_prefix: &str,
    reference: &str,
) {
    let value = PartitionTable::value_for(company_prefix.len());
    // `value_for` returns 0..=6, for which every table has a row.
    let Some(row) = table.row(value) else {
        return;
    };
    w.write(u128::from(value), 3);
    w.write(
        digits_value(company_prefix),
        usize::from(row.company_prefix_bits),
    );
    w.write(digits_value(reference), usize::from(row.reference_bits));
}

/// A field stored as an integer: digits only, no leading zeros, fits `bits`.
fn integer(
    scheme: &'static str,
    field: &'static str,
    value: &str,
    bits: u8,
) -> Result<u128, EncodeError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EncodeError::NotNumeric {
            scheme,
            field,
            value: value.to_owned(),
        });
    }
    if value.len() > 1 && value.starts_with('0') {
        return Err(EncodeError::LeadingZero {
            scheme,
            field,
            value: value.to_owned(),
        });
    }
    let too_large = || EncodeError::TooLarge {
        scheme,
        field,
        value: value.to_owned(),
        bits,
    };
    if value.len() > 38 {
        return Err(too_large());
    }
    let n = digits_value(value);
    if n >> bits != 0 {
        return Err(too_large());
    }
    Ok(n)
}

fn write_string7(
    w: &mut BitWriter,
    scheme: &'static str,
    field: &'static str,
    value: &str,
    bits: usize,
) -> Result<(), EncodeError> {
    let max = bits / 7;
    if value.len() > max {
        return Err(EncodeError::TooLong {
            scheme,
            field,
            max,
            found: value.len(),
        });
    }
    for b in value.bytes() {
        w.write(u128::from(b), 7);
    }
    w.skip(bits - 7 * value.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_from_a_bit_keeps_the_bits_before_it() {
        let mut bytes = [0xFF, 0xFF, 0xFF];
        clear_bits_from(&mut bytes, 12);
        assert_eq!(bytes, [0xFF, 0xF0, 0x00]);
    }

    #[test]
    fn integer_fields_refuse_leading_zeros_and_overflow() {
        assert_eq!(integer("x", "serial", "0", 3), Ok(0));
        assert_eq!(integer("x", "serial", "7", 3), Ok(7));
        assert!(matches!(
            integer("x", "serial", "8", 3),
            Err(EncodeError::TooLarge { .. })
        ));
        assert!(matches!(
            integer("x", "serial", "07", 3),
            Err(EncodeError::LeadingZero { .. })
        ));
        assert!(matches!(
            integer("x", "serial", "7a", 3),
            Err(EncodeError::NotNumeric { .. })
        ));
    }
}
