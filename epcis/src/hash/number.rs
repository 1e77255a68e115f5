//! Numeric normalisation of pre-hash values (CBV 2.0 event hash rules 6 and 7).
//!
//! A value that reads as a decimal number is written in one canonical form: an integral value
//! without a fraction (`452.0` → `452`, `"007"` → `7`), any other value in its shortest
//! round-trip form (`12.10` → `12.1`). The reference implementation does this by converting the
//! text to a binary64 float and printing it back the way Python prints floats, so this module
//! reproduces exactly that: Python's `float()` syntax on input, Python's `repr()` on output
//! (fixed notation, or `1e-05` style exponents below 1e-4), and integral values as the exact
//! integer the float holds.

use std::fmt::Write as _;

/// Appends the canonical form of `text` to `out` and returns `true` if `text` (already trimmed)
/// is a finite number in Python `float()` syntax; returns `false` and leaves `out` untouched
/// otherwise (including for `inf` and `nan`, which stay as written).
pub(crate) fn write_canonical_number_text(out: &mut String, text: &str) -> bool {
    let Some(value) = parse_python_float(text) else {
        return false;
    };
    write_canonical_f64(out, value);
    true
}

/// Appends the canonical form of a finite float: integral values as exact integers, others in
/// Python's shortest `repr`.
pub(crate) fn write_canonical_f64(out: &mut String, value: f64) {
    if value.fract() == 0.0 {
        write_integral_f64(out, value);
    } else {
        write_python_repr(out, value);
    }
}

/// Parses `text` with the grammar of Python's `float()` (decimal digits with optional single
/// underscores between digits, optional fraction and exponent, optional sign). Returns `None` for
/// anything else, for infinities and NaN, and for values that overflow to infinity.
fn parse_python_float(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let (int_digits, next) = digit_part(bytes, i);
    i = next;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        let (digits, next) = digit_part(bytes, i + 1);
        frac_digits = digits;
        i = next;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (exp_digits, next) = digit_part(bytes, i);
        if exp_digits == 0 {
            return None;
        }
        i = next;
    }
    if i != bytes.len() {
        return None;
    }
    let value: f64 = if text.contains('_') {
        text.replace('_', "").parse().ok()?
    } else {
        text.parse().ok()?
    };
    value.is_finite().then_some(value)
}

/// Scans a run of ASCII digits starting at `start` in which single underscores may separate
/// digits; returns the number of digits and the index after the run. A trailing or doubled
/// underscore ends the run before it (so the caller sees an unexpected character).
fn digit_part(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut i = start;
    let mut digits = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                digits += 1;
                i += 1;
            }
            b'_' if digits > 0 && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => i += 1,
            _ => break,
        }
    }
    (digits, i)
}

/// Writes an integral float as the exact decimal integer it holds (Python `str(int(x))`).
fn write_integral_f64(out: &mut String, value: f64) {
    if value < 0.0 {
        out.push('-');
    }
    let magnitude = value.abs();
    if magnitude < 18_446_744_073_709_551_616.0 {
        // Integral and below 2^64, so the conversion is exact.
        push_u64(out, magnitude as u64);
        return;
    }
    write_big_integral(out, magnitude);
}

/// Appends `n` in decimal, as `write!(out, "{n}")` does, without the formatting machinery (every
/// number of every event comes through here).
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

/// Writes an integral float of at least 2^64 exactly, as mantissa × 2^exponent in base 10^9.
fn write_big_integral(out: &mut String, magnitude: f64) {
    let bits = magnitude.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    // Least significant limb first, each limb < 10^9.
    let mut limbs: Vec<u32> = Vec::with_capacity(40);
    let mut m = mantissa;
    while m > 0 {
        limbs.push((m % 1_000_000_000) as u32);
        m /= 1_000_000_000;
    }
    for _ in 0..exponent.max(0) {
        let mut carry = 0u64;
        for limb in &mut limbs {
            let doubled = u64::from(*limb) * 2 + carry;
            *limb = (doubled % 1_000_000_000) as u32;
            carry = doubled / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut iter = limbs.iter().rev();
    if let Some(first) = iter.next() {
        let _ = write!(out, "{first}");
    }
    for limb in iter {
        let _ = write!(out, "{limb:09}");
    }
}

/// Writes a finite, non-integral float the way Python's `repr` does: the shortest digits that
/// round-trip, in fixed notation when the decimal exponent is in `-4..16`, else as `d.ddde-XX`.
fn write_python_repr(out: &mut String, value: f64) {
    // Rust's `{:e}` yields the same shortest round-trip digits, as `d.ddde<exp>`.
    let mut scientific = StackBuf::new();
    let _ = write!(scientific, "{:e}", value.abs());
    let text = scientific.as_str();
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits = StackBuf::new();
    for c in mantissa.chars().filter(char::is_ascii_digit) {
        digits.push(c);
    }
    let digits = digits.as_str();
    // Python's decpt: value = 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    if value < 0.0 {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..-decpt {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let point = decpt as usize;
        if point >= digits.len() {
            // Not reached for non-integral values, kept for completeness.
            out.push_str(digits);
            for _ in digits.len()..point {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
}

/// A small fixed-capacity text buffer, so formatting a float does not allocate.
struct StackBuf {
    bytes: [u8; 40],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        Self {
            bytes: [0; 40],
            len: 0,
        }
    }

    fn push(&mut self, c: char) {
        let _ = self.write_char(c);
    }

    fn as_str(&self) -> &str {
        // Only whole UTF-8 strings are ever written, so this cannot fail; fall back to "" anyway.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn canonical(text: &str) -> Option<String> {
        let mut out = String::new();
        write_canonical_number_text(&mut out, text).then_some(out)
    }

    #[test]
    fn integers_are_written_in_plain_decimal() {
        for n in [0, 1, 9, 10, 500, 1_234_567_890, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn quantities_lose_trailing_zeros_as_the_standard_requires() {
        // CBV 2.0 rule 6: "a quantity of one SHALL be expressed as '1' ... 0.3434 SHALL be
        // expressed as 0.3434"; vector epcisDocWithXMLstartTagAndErrorDeclaration: 452.0 -> 452.
        assert_eq!(canonical("1.0").as_deref(), Some("1"));
        assert_eq!(canonical("0.3434").as_deref(), Some("0.3434"));
        assert_eq!(canonical("0.34340").as_deref(), Some("0.3434"));
        assert_eq!(canonical("452.0").as_deref(), Some("452"));
    }

    #[test]
    fn numeric_text_is_normalised_like_python_float() {
        assert_eq!(canonical("007").as_deref(), Some("7"));
        assert_eq!(canonical("+3").as_deref(), Some("3"));
        assert_eq!(canonical("-0").as_deref(), Some("0"));
        assert_eq!(canonical("1e3").as_deref(), Some("1000"));
        assert_eq!(canonical("1_000").as_deref(), Some("1000"));
        assert_eq!(canonical(".5").as_deref(), Some("0.5"));
        assert_eq!(canonical("5.").as_deref(), Some("5"));
        assert_eq!(canonical("12.1").as_deref(), Some("12.1"));
        assert_eq!(canonical("-26.25").as_deref(), Some("-26.25"));
    }

    #[test]
    fn small_numbers_use_pythons_exponent_notation() {
        assert_eq!(canonical("0.0001").as_deref(), Some("0.0001"));
        assert_eq!(canonical("0.00001").as_deref(), Some("1e-05"));
        assert_eq!(canonical("0.000015").as_deref(), Some("1.5e-05"));
        assert_eq!(canonical("-2.5e-100").as_deref(), Some("-2.5e-100"));
    }

    #[test]
    fn large_integral_values_print_the_exact_integer_the_float_holds() {
        assert_eq!(canonical("1e16").as_deref(), Some("10000000000000000"));
        // 12345678901234567890 is not representable; the nearest double is ...7168.
        assert_eq!(
            canonical("12345678901234567890").as_deref(),
            Some("12345678901234567168")
        );
        assert_eq!(
            canonical("1e22").as_deref(),
            Some("10000000000000000000000")
        );
        assert_eq!(
            canonical("1e300").map(|s| s.len()),
            Some(301),
            "1e300 prints as a 301-digit integer"
        );
    }

    #[test]
    fn text_that_is_not_a_finite_number_is_left_alone() {
        for text in [
            "", "+", ".", "e5", "1e", "1__0", "_1", "1_", "0x10", "inf", "nan", "Infinity",
            "1e999", "+01:00", "12 3", "CEL", "1.2.3",
        ] {
            assert_eq!(canonical(text), None, "{text:?}");
        }
    }
}
