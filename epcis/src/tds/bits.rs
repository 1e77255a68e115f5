//! Bit-level reading and writing of the EPC memory bank, and its hexadecimal form.

use super::error::DecodeError;

/// Value of each ASCII byte as a hex digit, or 0xFF.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xFF_u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut j = 0;
    while j < 6 {
        table[b'a' as usize + j] = 10 + j as u8;
        table[b'A' as usize + j] = 10 + j as u8;
        j += 1;
    }
    table
};

fn hex_error(hex: &str, position: usize) -> DecodeError {
    let character = hex
        .get(position..)
        .and_then(|s| s.chars().next())
        .unwrap_or('\u{FFFD}');
    DecodeError::Hex {
        position,
        character,
    }
}

/// Reads exactly 24 hex digits (either case) as a 96-bit number.
#[inline]
pub(crate) fn hex96(hex: &str) -> Result<u128, DecodeError> {
    let bytes = hex.as_bytes();
    if bytes.len() != 24 {
        return Err(DecodeError::HexLength { found: bytes.len() });
    }
    let mut value: u128 = 0;
    let mut bad = 0_u8;
    for &c in bytes {
        let digit = HEX_VALUES[usize::from(c)];
        bad |= digit;
        value = (value << 4) | u128::from(digit & 0x0F);
    }
    // Every valid digit is < 16, so only an invalid one sets the high bits.
    if bad & 0xF0 != 0 {
        let position = bytes
            .iter()
            .position(|&c| HEX_VALUES[usize::from(c)] == 0xFF)
            .unwrap_or(0);
        return Err(hex_error(hex, position));
    }
    Ok(value)
}

/// Reads any even or odd number of hex digits into bytes (a trailing odd digit fills the high
/// nibble of the last byte).
pub(crate) fn hex_bytes(hex: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = hex.as_bytes();
    let mut out = Vec::with_capacity(bytes.len().div_ceil(2));
    for (i, pair) in bytes.chunks(2).enumerate() {
        let mut byte = 0_u8;
        for (j, &c) in pair.iter().enumerate() {
            let digit = HEX_VALUES[usize::from(c)];
            if digit == 0xFF {
                return Err(hex_error(hex, 2 * i + j));
            }
            byte |= digit << (4 * (1 - j));
        }
        out.push(byte);
    }
    Ok(out)
}

/// Upper-case hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    crate::hex::encode_upper(bytes)
}

/// Reads big-endian bit fields from a byte slice. Reading past the end yields zero bits; callers
/// check the length first.
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// Whether any of the next `count` bits is set; consumes them.
    pub(crate) fn any_set(&mut self, count: usize) -> bool {
        let mut any = false;
        for _ in 0..count {
            any |= self.read(1) != 0;
        }
        any
    }

    /// Reads `count` bits (at most 128) as an unsigned number.
    pub(crate) fn read(&mut self, count: usize) -> u128 {
        debug_assert!(count <= 128);
        let mut value: u128 = 0;
        for _ in 0..count {
            let byte = self.bytes.get(self.position / 8).copied().unwrap_or(0);
            let bit = (byte >> (7 - self.position % 8)) & 1;
            value = (value << 1) | u128::from(bit);
            self.position += 1;
        }
        value
    }
}

/// Writes big-endian bit fields into a zeroed buffer of a fixed number of bytes.
#[derive(Debug)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    position: usize,
}

impl BitWriter {
    /// A writer for `bits` bits, padded with zeros to a whole number of 16-bit words (the EPC
    /// memory bank is word-addressed).
    pub(crate) fn with_bits(bits: usize) -> Self {
        Self {
            bytes: vec![0; bits.div_ceil(16) * 2],
            position: 0,
        }
    }

    /// Writes the low `count` bits of `value` (at most 128).
    pub(crate) fn write(&mut self, value: u128, count: usize) {
        debug_assert!(count <= 128);
        for i in (0..count).rev() {
            let bit = ((value >> i) & 1) as u8;
            if let Some(byte) = self.bytes.get_mut(self.position / 8) {
                *byte |= bit << (7 - self.position % 8);
            }
            self.position += 1;
        }
    }

    /// Leaves `count` bits at zero.
    pub(crate) fn skip(&mut self, count: usize) {
        self.position += count;
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex96_reads_either_case() {
        assert_eq!(
            hex96("3074257bf7194e4000001a85"),
            hex96("3074257BF7194E4000001A85")
        );
        assert_eq!(hex96("000000000000000000000001"), Ok(1));
    }

    #[test]
    fn hex96_names_the_bad_character() {
        assert_eq!(
            hex96("3074257BF7194E4000001A8G"),
            Err(DecodeError::Hex {
                position: 23,
                character: 'G'
            })
        );
        assert_eq!(hex96("30"), Err(DecodeError::HexLength { found: 2 }));
    }

    #[test]
    fn bits_written_are_read_back() {
        let mut w = BitWriter::with_bits(20);
        w.write(0b101, 3);
        w.write(0x3FF, 10);
        w.write(1, 7);
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 4);
        let mut r = BitReader::new(&bytes);
        assert_eq!((r.read(3), r.read(10), r.read(7)), (0b101, 0x3FF, 1));
    }

    #[test]
    fn hex_bytes_round_trips() {
        assert_eq!(hex_bytes("0aFf").map(|b| to_hex(&b)).as_deref(), Ok("0AFF"));
        assert!(matches!(
            hex_bytes("0x"),
            Err(DecodeError::Hex { position: 1, .. })
        ));
    }
}
