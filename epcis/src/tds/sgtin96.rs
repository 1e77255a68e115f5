//! SGTIN-96, the hot path: a reader sees thousands of these a second.
//!
//! [`Sgtin96`] is a small `Copy` struct of integers, decoded without allocating. Formatting the
//! URIs is separate and allocates only when asked.

use std::fmt;

use super::bits::{hex96, to_hex};
use super::error::{DecodeError, EncodeError};
use super::scheme::{Filter, PartitionTable, SGTIN, Scheme};
use crate::epc::{EpcUriError, Sgtin};

const POW10: [u64; 13] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
];

const SERIAL_BITS: u32 = 38;
const SERIAL_MAX: u64 = (1 << SERIAL_BITS) - 1;
const NAME: &str = "sgtin-96";

/// A decoded SGTIN-96: filter, partition, company prefix, indicator/item reference and serial as
/// integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sgtin96 {
    filter: Filter,
    partition: u8,
    company_prefix: u64,
    item_reference: u32,
    serial: u64,
}

impl Sgtin96 {
    /// Decodes 24 hex digits (either case).
    #[inline]
    pub fn from_hex(hex: &str) -> Result<Self, DecodeError> {
        Self::from_u128(hex96(hex)?)
    }

    /// Decodes the 12 bytes of an SGTIN-96 EPC.
    #[inline]
    pub fn from_bytes(bytes: &[u8; 12]) -> Result<Self, DecodeError> {
        let mut word = [0_u8; 16];
        word[4..].copy_from_slice(bytes);
        Self::from_u128(u128::from_be_bytes(word))
    }

    /// Decodes the 96 low bits of `bits`.
    #[inline]
    pub fn from_u128(bits: u128) -> Result<Self, DecodeError> {
        let header = (bits >> 88) as u8;
        if header != Scheme::Sgtin96.header() {
            return Err(DecodeError::UnknownHeader { header });
        }
        let filter = Filter::from_bits(bits >> 85);
        let partition = ((bits >> 82) & 0b111) as u8;
        let Some(row) = SGTIN.row(partition) else {
            return Err(DecodeError::Partition {
                scheme: NAME,
                value: partition,
            });
        };
        let reference_bits = u32::from(row.reference_bits);
        let cp_bits = u32::from(row.company_prefix_bits);
        let serial = (bits & u128::from(SERIAL_MAX)) as u64;
        let item_reference = ((bits >> SERIAL_BITS) & ((1 << reference_bits) - 1)) as u32;
        let company_prefix =
            ((bits >> (SERIAL_BITS + reference_bits)) & ((1 << cp_bits) - 1)) as u64;
        if company_prefix >= POW10[usize::from(row.company_prefix_digits)] {
            return Err(DecodeError::FieldRange {
                scheme: NAME,
                field: "company prefix",
                value: u128::from(company_prefix),
                digits: row.company_prefix_digits,
            });
        }
        if u64::from(item_reference) >= POW10[usize::from(row.reference_digits)] {
            return Err(DecodeError::FieldRange {
                scheme: NAME,
                field: "item reference",
                value: u128::from(item_reference),
                digits: row.reference_digits,
            });
        }
        Ok(Self {
            filter,
            partition,
            company_prefix,
            item_reference,
            serial,
        })
    }

    /// Builds an SGTIN-96 from a pure identity SGTIN, if its serial is a decimal number without
    /// leading zeros below 2^38.
    pub fn from_sgtin(sgtin: &Sgtin, filter: Filter) -> Result<Self, EncodeError> {
        let serial = numeric_serial(sgtin.serial())?;
        let partition = PartitionTable::value_for(sgtin.company_prefix().len());
        // Both were validated as digits of the right counts (at most 12 and 7) by `Sgtin`.
        let company_prefix = sgtin.company_prefix().as_str().parse::<u64>().unwrap_or(0);
        let item_reference = sgtin.item_reference().parse::<u32>().unwrap_or(0);
        Ok(Self {
            filter,
            partition,
            company_prefix,
            item_reference,
            serial,
        })
    }

    /// The 96 bits, right-aligned.
    pub fn to_u128(&self) -> u128 {
        let row = SGTIN.row(self.partition);
        let (cp_bits, reference_bits) = row.map_or((0, 0), |r| {
            (
                u32::from(r.company_prefix_bits),
                u32::from(r.reference_bits),
            )
        });
        let mut bits = u128::from(Scheme::Sgtin96.header());
        bits = (bits << 3) | u128::from(self.filter.value());
        bits = (bits << 3) | u128::from(self.partition);
        bits = (bits << cp_bits) | u128::from(self.company_prefix);
        bits = (bits << reference_bits) | u128::from(self.item_reference);
        (bits << SERIAL_BITS) | u128::from(self.serial)
    }

    /// The 12 bytes of the EPC.
    pub fn to_bytes(&self) -> [u8; 12] {
        let all = self.to_u128().to_be_bytes();
        let mut out = [0_u8; 12];
        out.copy_from_slice(&all[4..]);
        out
    }

    /// Upper-case hex of the 12 bytes.
    pub fn to_hex(&self) -> String {
        to_hex(&self.to_bytes())
    }

    /// The filter value.
    pub fn filter(&self) -> Filter {
        self.filter
    }

    /// The partition value (0 to 6).
    pub fn partition(&self) -> u8 {
        self.partition
    }

    /// The company prefix as a number; it has [`Self::company_prefix_digits`] digits.
    pub fn company_prefix(&self) -> u64 {
        self.company_prefix
    }

    /// Digits of the company prefix (12 down to 6).
    pub fn company_prefix_digits(&self) -> usize {
        12 - usize::from(self.partition)
    }

    /// The indicator digit and item reference as a number; it has 13 minus the company prefix
    /// digits.
    pub fn item_reference(&self) -> u32 {
        self.item_reference
    }

    /// The serial number.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The pure identity.
    pub fn to_sgtin(&self) -> Result<Sgtin, EpcUriError> {
        let (cp, item) = self.padded_fields();
        Sgtin::new(&cp, &item, &self.serial.to_string())
    }

    /// `urn:epc:id:sgtin:...`
    pub fn id_uri(&self) -> String {
        let (cp, item) = self.padded_fields();
        format!("urn:epc:id:sgtin:{cp}.{item}.{}", self.serial)
    }

    /// `urn:epc:tag:sgtin-96:...`
    pub fn tag_uri(&self) -> String {
        self.to_string()
    }

    fn padded_fields(&self) -> (String, String) {
        let cp_digits = self.company_prefix_digits();
        let item_digits = 13 - cp_digits;
        (
            format!("{:0cp_digits$}", self.company_prefix),
            format!("{:0item_digits$}", self.item_reference),
        )
    }
}

impl fmt::Display for Sgtin96 {
    /// The tag URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cp_digits = self.company_prefix_digits();
        let item_digits = 13 - cp_digits;
        write!(
            f,
            "urn:epc:tag:{NAME}:{}.{:0cp_digits$}.{:0item_digits$}.{}",
            self.filter, self.company_prefix, self.item_reference, self.serial
        )
    }
}

/// Reads a serial that an integer field can hold: digits, no leading zeros, below 2^38.
fn numeric_serial(serial: &str) -> Result<u64, EncodeError> {
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EncodeError::NotNumeric {
            scheme: NAME,
            field: "serial",
            value: serial.to_owned(),
        });
    }
    if serial.len() > 1 && serial.starts_with('0') {
        return Err(EncodeError::LeadingZero {
            scheme: NAME,
            field: "serial",
            value: serial.to_owned(),
        });
    }
    match serial.parse::<u64>() {
        Ok(n) if n <= SERIAL_MAX => Ok(n),
        _ => Err(EncodeError::TooLarge {
            scheme: NAME,
            field: "serial",
            value: serial.to_owned(),
            bits: 38,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epc::Epc;

    #[test]
    fn the_tds_sgtin_96_example_decodes() {
        // GS1 EPC Tag Data Standard, appendix E (example of a specific trade item):
        // 3074257BF7194E4000001A85 = urn:epc:tag:sgtin-96:3.0614141.812345.6789.
        let tag = Sgtin96::from_hex("3074257BF7194E4000001A85");
        assert_eq!(
            tag.as_ref().map(|t| t.tag_uri()).as_deref(),
            Ok("urn:epc:tag:sgtin-96:3.0614141.812345.6789")
        );
        assert_eq!(
            tag.as_ref().map(|t| t.id_uri()).as_deref(),
            Ok("urn:epc:id:sgtin:0614141.812345.6789")
        );
        assert_eq!(
            tag.map(|t| t.to_hex()).as_deref(),
            Ok("3074257BF7194E4000001A85")
        );
    }

    #[test]
    fn lower_case_hex_decodes_the_same() {
        assert_eq!(
            Sgtin96::from_hex("3074257bf7194e4000001a85"),
            Sgtin96::from_hex("3074257BF7194E4000001A85")
        );
    }

    #[test]
    fn another_header_is_refused() {
        assert_eq!(
            Sgtin96::from_hex("3174257BF7194E4000001A85"),
            Err(DecodeError::UnknownHeader { header: 0x31 })
        );
    }

    #[test]
    fn partition_seven_is_refused() {
        // 0x3074 = header 0x30, filter 3, partition 5; 0x307C sets partition 7.
        assert_eq!(
            Sgtin96::from_hex("307C257BF7194E4000001A85"),
            Err(DecodeError::Partition {
                scheme: "sgtin-96",
                value: 7
            })
        );
    }

    #[test]
    fn a_company_prefix_with_too_many_digits_is_refused() {
        // Partition 6 (20 bits, 6 digits) with company prefix 0xFFFFF = 1048575.
        let bits = (0x30_u128 << 88) | (6 << 82) | (0xFFFFF << 62);
        assert!(matches!(
            Sgtin96::from_u128(bits),
            Err(DecodeError::FieldRange {
                field: "company prefix",
                digits: 6,
                ..
            })
        ));
    }

    #[test]
    fn a_serial_with_leading_zeros_cannot_be_encoded() {
        let Ok(Epc::Sgtin(sgtin)) = Epc::parse("urn:epc:id:sgtin:0614141.812345.06789") else {
            panic!("must parse");
        };
        assert!(matches!(
            Sgtin96::from_sgtin(&sgtin, Filter::ALL_OTHERS),
            Err(EncodeError::LeadingZero { .. })
        ));
    }

    #[test]
    fn a_serial_of_2_to_the_38_is_too_large() {
        let Ok(Epc::Sgtin(sgtin)) = Epc::parse("urn:epc:id:sgtin:0614141.812345.274877906944")
        else {
            panic!("must parse");
        };
        assert!(matches!(
            Sgtin96::from_sgtin(&sgtin, Filter::ALL_OTHERS),
            Err(EncodeError::TooLarge { bits: 38, .. })
        ));
        let Ok(Epc::Sgtin(max)) = Epc::parse("urn:epc:id:sgtin:0614141.812345.274877906943") else {
            panic!("must parse");
        };
        assert!(Sgtin96::from_sgtin(&max, Filter::ALL_OTHERS).is_ok());
    }

    #[test]
    fn an_alphanumeric_serial_is_not_numeric() {
        let Ok(Epc::Sgtin(sgtin)) = Epc::parse("urn:epc:id:sgtin:0614141.812345.A1") else {
            panic!("must parse");
        };
        assert!(matches!(
            Sgtin96::from_sgtin(&sgtin, Filter::ALL_OTHERS),
            Err(EncodeError::NotNumeric { .. })
        ));
    }
}
