//! Binary schemes, their headers and partition tables (GS1 EPC Tag Data Standard 2.x, section 14:
//! table 14-1 for headers, tables 14-2 to 14-7 and 14-13 for partitions).

use std::fmt;

use super::error::EncodeError;

/// The filter value: a 3-bit hint to readers about the kind of object (TDS section 10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Filter(u8);

impl Filter {
    /// A filter of 0 to 7.
    pub fn new(value: u32) -> Result<Self, EncodeError> {
        match u8::try_from(value) {
            Ok(v) if v <= 7 => Ok(Self(v)),
            _ => Err(EncodeError::Filter { value }),
        }
    }

    /// Filter 0, "all others".
    pub const ALL_OTHERS: Self = Self(0);

    /// The low three bits of `bits`.
    pub(crate) fn from_bits(bits: u128) -> Self {
        Self((bits & 0b111) as u8)
    }

    /// The value 0 to 7.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An EPC binary encoding scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// SGTIN with a numeric serial (header 0x30).
    Sgtin96,
    /// SGTIN with an alphanumeric serial of up to 20 characters (header 0x36).
    Sgtin198,
    /// SSCC (header 0x31).
    Sscc96,
    /// SGLN with a numeric extension (header 0x32).
    Sgln96,
    /// SGLN with an alphanumeric extension of up to 20 characters (header 0x39).
    Sgln195,
    /// GRAI with a numeric serial (header 0x33).
    Grai96,
    /// GRAI with an alphanumeric serial of up to 16 characters (header 0x37).
    Grai170,
    /// GIAI with a numeric asset reference (header 0x34).
    Giai96,
    /// GIAI with an alphanumeric asset reference (header 0x38).
    Giai202,
    /// General identifier (header 0x35).
    Gid96,
    /// GSRN, service recipient (header 0x2D).
    Gsrn96,
    /// GSRN, service provider (header 0x2E).
    Gsrnp96,
    /// GDTI with a numeric serial (header 0x2C).
    Gdti96,
    /// GDTI with an alphanumeric serial of up to 17 characters (header 0x3E).
    Gdti174,
    /// SGCN (header 0x3F).
    Sgcn96,
}

impl Scheme {
    /// Every scheme this crate encodes and decodes.
    pub const ALL: [Self; 15] = [
        Self::Sgtin96,
        Self::Sgtin198,
        Self::Sscc96,
        Self::Sgln96,
        Self::Sgln195,
        Self::Grai96,
        Self::Grai170,
        Self::Giai96,
        Self::Giai202,
        Self::Gid96,
        Self::Gsrn96,
        Self::Gsrnp96,
        Self::Gdti96,
        Self::Gdti174,
        Self::Sgcn96,
    ];

    /// The scheme name as in tag URIs, e.g. `sgtin-96`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sgtin96 => "sgtin-96",
            Self::Sgtin198 => "sgtin-198",
            Self::Sscc96 => "sscc-96",
            Self::Sgln96 => "sgln-96",
            Self::Sgln195 => "sgln-195",
            Self::Grai96 => "grai-96",
            Self::Grai170 => "grai-170",
            Self::Giai96 => "giai-96",
            Self::Giai202 => "giai-202",
            Self::Gid96 => "gid-96",
            Self::Gsrn96 => "gsrn-96",
            Self::Gsrnp96 => "gsrnp-96",
            Self::Gdti96 => "gdti-96",
            Self::Gdti174 => "gdti-174",
            Self::Sgcn96 => "sgcn-96",
        }
    }

    /// The scheme named `name` (as in tag URIs), if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The 8-bit header.
    pub fn header(self) -> u8 {
        match self {
            Self::Sgtin96 => 0x30,
            Self::Sscc96 => 0x31,
            Self::Sgln96 => 0x32,
            Self::Grai96 => 0x33,
            Self::Giai96 => 0x34,
            Self::Gid96 => 0x35,
            Self::Sgtin198 => 0x36,
            Self::Grai170 => 0x37,
            Self::Giai202 => 0x38,
            Self::Sgln195 => 0x39,
            Self::Gdti96 => 0x2C,
            Self::Gsrn96 => 0x2D,
            Self::Gsrnp96 => 0x2E,
            Self::Gdti174 => 0x3E,
            Self::Sgcn96 => 0x3F,
        }
    }

    /// The scheme whose header is `header`, if supported.
    pub fn from_header(header: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.header() == header)
    }

    /// The number of bits of the encoding (before padding to 16-bit words).
    pub fn bits(self) -> usize {
        match self {
            Self::Sgtin198 => 198,
            Self::Sgln195 => 195,
            Self::Grai170 => 170,
            Self::Giai202 => 202,
            Self::Gdti174 => 174,
            _ => 96,
        }
    }

    /// The pure identity scheme it encodes, as in `urn:epc:id:<scheme>:`.
    pub fn identity_scheme(self) -> &'static str {
        match self {
            Self::Sgtin96 | Self::Sgtin198 => "sgtin",
            Self::Sscc96 => "sscc",
            Self::Sgln96 | Self::Sgln195 => "sgln",
            Self::Grai96 | Self::Grai170 => "grai",
            Self::Giai96 | Self::Giai202 => "giai",
            Self::Gid96 => "gid",
            Self::Gsrn96 => "gsrn",
            Self::Gsrnp96 => "gsrnp",
            Self::Gdti96 | Self::Gdti174 => "gdti",
            Self::Sgcn96 => "sgcn",
        }
    }

    /// Whether the scheme has a filter field (all but GID-96).
    pub fn has_filter(self) -> bool {
        self != Self::Gid96
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of a partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Partition {
    /// Bits of the company prefix field.
    pub(crate) company_prefix_bits: u8,
    /// Digits of the company prefix (12 down to 6).
    pub(crate) company_prefix_digits: u8,
    /// Bits of the second field.
    pub(crate) reference_bits: u8,
    /// Digits (numeric) or characters (7-bit string) of the second field.
    pub(crate) reference_digits: u8,
}

/// Company prefix bits for partition values 0 to 6; the digits are 12 down to 6.
const COMPANY_PREFIX_BITS: [u8; 7] = [40, 37, 34, 30, 27, 24, 20];

/// A partition table: the bits of the second field for partition values 0 to 6, and the digits
/// the company prefix and the second field have together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionTable {
    reference_bits: [u8; 7],
    total_digits: u8,
}

impl PartitionTable {
    /// The row for a 3-bit partition value, if defined (7 is not).
    #[inline]
    pub(crate) fn row(&self, value: u8) -> Option<Partition> {
        let index = usize::from(value);
        let company_prefix_bits = *COMPANY_PREFIX_BITS.get(index)?;
        let company_prefix_digits = 12 - value;
        Some(Partition {
            company_prefix_bits,
            company_prefix_digits,
            reference_bits: self.reference_bits[index],
            reference_digits: self.total_digits - company_prefix_digits,
        })
    }

    /// The partition value for a company prefix of `digits` digits (6 to 12).
    pub(crate) fn value_for(digits: usize) -> u8 {
        // Company prefixes are validated to 6..=12 digits, so this is 0..=6.
        (12 - digits.clamp(6, 12)) as u8
    }
}

/// SGTIN-96 and SGTIN-198: company prefix and indicator/item reference, 13 digits (TDS table 14-2).
pub(crate) const SGTIN: PartitionTable = PartitionTable {
    reference_bits: [4, 7, 10, 14, 17, 20, 24],
    total_digits: 13,
};
/// SSCC-96, GSRN-96, GSRNP-96: company prefix and serial reference, 17 digits (TDS table 14-3).
pub(crate) const SSCC: PartitionTable = PartitionTable {
    reference_bits: [18, 21, 24, 28, 31, 34, 38],
    total_digits: 17,
};
/// SGLN, GDTI, SGCN: company prefix and location reference / document type / coupon reference,
/// 12 digits in 41 bits (TDS table 14-4).
pub(crate) const SGLN: PartitionTable = PartitionTable {
    reference_bits: [1, 4, 7, 11, 14, 17, 21],
    total_digits: 12,
};
/// GRAI: company prefix and asset type, 12 digits in 44 bits (TDS table 14-5).
pub(crate) const GRAI: PartitionTable = PartitionTable {
    reference_bits: [4, 7, 10, 14, 17, 20, 24],
    total_digits: 12,
};
/// GIAI-96: company prefix and a numeric asset reference in 82 bits (TDS table 14-6). The digit
/// count is not used for the integer asset reference.
pub(crate) const GIAI_96: PartitionTable = PartitionTable {
    reference_bits: [42, 45, 48, 52, 55, 58, 62],
    total_digits: 25,
};
/// GIAI-202: company prefix and up to 30 characters with it (TDS table 14-7).
pub(crate) const GIAI_202: PartitionTable = PartitionTable {
    reference_bits: [148, 151, 154, 158, 161, 164, 168],
    total_digits: 30,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_round_trips_through_name_and_header() {
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::from_name(scheme.name()), Some(scheme));
            assert_eq!(Scheme::from_header(scheme.header()), Some(scheme));
        }
    }

    #[test]
    fn partition_rows_fill_their_schemes() {
        for value in 0..7 {
            let sgtin = SGTIN
                .row(value)
                .map(|r| r.company_prefix_bits + r.reference_bits);
            let sscc = SSCC
                .row(value)
                .map(|r| r.company_prefix_bits + r.reference_bits);
            let sgln = SGLN
                .row(value)
                .map(|r| r.company_prefix_bits + r.reference_bits);
            let grai = GRAI
                .row(value)
                .map(|r| r.company_prefix_bits + r.reference_bits);
            let giai = GIAI_96
                .row(value)
                .map(|r| r.company_prefix_bits + r.reference_bits);
            let giai202 = GIAI_202
                .row(value)
                .map(|r| u16::from(r.company_prefix_bits) + u16::from(r.reference_bits));
            assert_eq!(
                (sgtin, sscc, sgln, grai, giai, giai202),
                (Some(44), Some(58), Some(41), Some(44), Some(82), Some(188))
            );
        }
        assert_eq!(SGTIN.row(7), None);
    }

    #[test]
    fn a_filter_of_eight_is_rejected() {
        assert_eq!(Filter::new(8), Err(EncodeError::Filter { value: 8 }));
        assert_eq!(Filter::new(7).map(Filter::value), Ok(7));
    }
}
