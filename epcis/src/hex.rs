//! Hexadecimal, written and read once for every tagtrail crate: lower case for hashes, keys and
//! ids (the ledger's formats, event hash IDs), upper case for the EPC bank and reader frames (the
//! Tag Data Standard's convention). Readers accept either case.

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Lower-case hex of `bytes`.
pub fn encode_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push(&mut out, bytes, LOWER);
    out
}

/// Upper-case hex of `bytes`.
pub fn encode_upper(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push(&mut out, bytes, UPPER);
    out
}

/// Appends the lower-case hex of `bytes` to `out`.
pub fn push_lower(out: &mut String, bytes: &[u8]) {
    push(out, bytes, LOWER);
}

fn push(out: &mut String, bytes: &[u8], digits: &[u8; 16]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(digits[usize::from(byte >> 4)]));
        out.push(char::from(digits[usize::from(byte & 0x0f)]));
    }
}

/// The value of one hex digit, either case.
pub const fn digit_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Exactly `2 * N` hex digits (either case) as `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *slot = (digit_value(pair[0])? << 4) | digit_value(pair[1])?;
    }
    Some(out)
}

/// An even number of hex digits (either case) as bytes.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| Some((digit_value(pair[0])? << 4) | digit_value(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_in_either_case() {
        let bytes = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff];
        assert_eq!(encode_lower(&bytes), "00017f80abff");
        assert_eq!(encode_upper(&bytes), "00017F80ABFF");
        assert_eq!(decode_array::<6>("00017f80abff"), Some(bytes));
        assert_eq!(decode_array::<6>("00017F80ABFF"), Some(bytes));
        assert_eq!(decode("00017F80abff").as_deref(), Some(&bytes[..]));
        let mut out = String::from("x");
        push_lower(&mut out, &[0xde, 0xad]);
        assert_eq!(out, "xdead");
    }

    #[test]
    fn odd_lengths_wrong_lengths_and_foreign_digits_are_refused() {
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode_array::<2>("abc"), None);
        assert_eq!(decode_array::<2>("abcdef"), None);
        assert_eq!(decode_array::<1>("g0"), None);
        assert_eq!(decode_array::<1>(" 0"), None);
        assert_eq!(decode(""), Some(Vec::new()));
    }
}
