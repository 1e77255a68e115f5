//! Timestamp normalisation of pre-hash values (CBV 2.0 event hash rules 8 and 9).
//!
//! Every timestamp is written in UTC with millisecond precision and a capital `Z`:
//! `2020-03-04T11:00:30+01:00` → `2020-03-04T10:00:30.000Z`. More than three fractional digits
//! are rounded on the fourth: up if it is 5–9 (`…03.1415Z` → `…03.142Z`), carrying into the
//! seconds and beyond when needed. This is the rule as the standard writes it; the Python
//! reference rounds half to even on the first six digits instead, which differs only for a
//! fraction of exactly `d.dd50` with an even third digit (and fails on `.9995`).
//! A timestamp without an offset is read as UTC (the reference uses the machine's zone).

/// Appends the normalised form of `text` to `out` and returns `true` if `text` is a timestamp;
/// returns `false` and leaves `out` untouched otherwise (the caller then keeps the text as is,
/// as the reference implementation does).
///
/// Accepted: `YYYY-MM-DD`, `T` (or `t` or a space), `hh:mm`, optional `:ss` with optional
/// fraction, then `Z`, `z`, `±hh:mm`, `±hhmm`, `±hh` or nothing (read as UTC).
pub(crate) fn write_normalised_timestamp(out: &mut String, text: &str) -> bool {
    let Some(instant) = parse(text.as_bytes()) else {
        return false;
    };
    let Some(utc) = instant.to_utc() else {
        return false;
    };
    utc.write(out);
    true
}

/// A calendar instant: local fields plus the offset from UTC in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instant {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
    /// True when the fraction's fourth digit was 5–9 (round the milliseconds up).
    round_up: bool,
    offset_minutes: i64,
}

/// A UTC instant with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

fn parse(b: &[u8]) -> Option<Instant> {
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    let mut i = 16;
    let mut second = 0;
    let mut millis = 0;
    let mut round_up = false;
    if b.get(i) == Some(&b':') {
        second = digits(b, i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                let digit = u32::from(b[i] - b'0');
                match i - start {
                    0 => millis += digit * 100,
                    1 => millis += digit * 10,
                    2 => millis += digit,
                    3 => round_up = digit >= 5,
                    _ => {}
                }
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = i64::from(digits(b, i + 1, 2)?);
            i += 3;
            let minutes = match b.get(i) {
                Some(b':') => {
                    let m = digits(b, i + 1, 2)?;
                    i += 3;
                    m
                }
                Some(c) if c.is_ascii_digit() => {
                    let m = digits(b, i, 2)?;
                    i += 2;
                    m
                }
                _ => 0,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + i64::from(minutes);
            if sign == b'-' { -total } else { total }
        }
        Some(_) => return None,
    };
    if i != b.len() {
        return None;
    }
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(i64::from(year), month)
        && hour <= 23
        && minute <= 59
        && second <= 59
        && year >= 1;
    valid.then_some(Instant {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        millis,
        round_up,
        offset_minutes,
    })
}

fn digits(b: &[u8], start: usize, count: usize) -> Option<u32> {
    let slice = b.get(start..start + count)?;
    slice.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Instant {
    fn to_utc(self) -> Option<Utc> {
        let days = days_from_civil(self.year, self.month, self.day);
        let local_ms = (((days * 24 + i64::from(self.hour)) * 60 + i64::from(self.minute)) * 60
            + i64::from(self.second))
            * 1000
            + i64::from(self.millis)
            + i64::from(self.round_up);
        let utc_ms = local_ms - self.offset_minutes * 60_000;
        let day_ms = 86_400_000;
        let (year, month, day) = civil_from_days(utc_ms.div_euclid(day_ms));
        let in_day = utc_ms.rem_euclid(day_ms);
        let utc = Utc {
            year,
            month,
            day,
            hour: (in_day / 3_600_000) as u32,
            minute: (in_day / 60_000 % 60) as u32,
            second: (in_day / 1000 % 60) as u32,
            millis: (in_day % 1000) as u32,
        };
        (1..=9999).contains(&utc.year).then_some(utc)
    }
}

impl Utc {
    fn write(self, out: &mut String) {
        let mut buf = *b"0000-00-00T00:00:00.000Z";
        put(&mut buf[0..4], self.year as u32);
        put(&mut buf[5..7], self.month);
        put(&mut buf[8..10], self.day);
        put(&mut buf[11..13], self.hour);
        put(&mut buf[14..16], self.minute);
        put(&mut buf[17..19], self.second);
        put(&mut buf[20..23], self.millis);
        // Only ASCII digits and punctuation were written.
        out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    }
}

/// Writes `value` as zero-padded decimal digits filling `slot`.
fn put(slot: &mut [u8], mut value: u32) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn normalised(text: &str) -> Option<String> {
        let mut out = String::new();
        write_normalised_timestamp(&mut out, text).then_some(out)
    }

    #[test]
    fn offsets_are_converted_to_utc_with_millisecond_precision() {
        // Vectors ReferenceEventHashAlgorithm3 and epcisDocWithSingleEvent.
        assert_eq!(
            normalised("2020-03-04T11:00:30+01:00").as_deref(),
            Some("2020-03-04T10:00:30.000Z")
        );
        assert_eq!(
            normalised("2022-02-16T20:33:31.116000-06:00").as_deref(),
            Some("2022-02-17T02:33:31.116Z")
        );
        assert_eq!(
            normalised("2023-03-27T11:30:00.0Z").as_deref(),
            Some("2023-03-27T11:30:00.000Z")
        );
    }

    #[test]
    fn the_fourth_fractional_digit_rounds_the_milliseconds() {
        // Vector TimeStampRoundOff and the standard's example (2023-01-18T11:04:03.1415Z).
        assert_eq!(
            normalised("2023-02-02T11:04:03.1415Z").as_deref(),
            Some("2023-02-02T11:04:03.142Z")
        );
        assert_eq!(
            normalised("2023-02-02T11:04:03.1414Z").as_deref(),
            Some("2023-02-02T11:04:03.141Z")
        );
        assert_eq!(
            normalised("2023-02-12T11:04:03.1007Z").as_deref(),
            Some("2023-02-12T11:04:03.101Z")
        );
    }

    #[test]
    fn rounding_up_carries_across_the_year_boundary() {
        assert_eq!(
            normalised("2023-12-31T23:59:59.9996Z").as_deref(),
            Some("2024-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn a_negative_offset_can_move_the_date_forward_over_a_leap_day() {
        assert_eq!(
            normalised("2024-02-28T22:00:00-03:00").as_deref(),
            Some("2024-02-29T01:00:00.000Z")
        );
        assert_eq!(
            normalised("2024-02-29T12:00:00+0530").as_deref(),
            Some("2024-02-29T06:30:00.000Z")
        );
    }

    #[test]
    fn lenient_forms_are_accepted() {
        assert_eq!(
            normalised("2019-10-21 14:45Z").as_deref(),
            Some("2019-10-21T14:45:00.000Z")
        );
        assert_eq!(
            normalised("2019-10-21T14:45:00").as_deref(),
            Some("2019-10-21T14:45:00.000Z")
        );
        assert_eq!(
            normalised("2019-10-21T14:45:00+01").as_deref(),
            Some("2019-10-21T13:45:00.000Z")
        );
    }

    #[test]
    fn text_that_is_not_a_timestamp_is_rejected() {
        for text in [
            "",
            "2019-10-21",
            "2019-02-29T00:00:00Z",
            "2019-13-01T00:00:00Z",
            "2019-10-21T24:00:00Z",
            "2019-10-21T10:00:60Z",
            "2019-10-21T10:00:00.Z",
            "2019-10-21T10:00:00+25:00",
            "2019-10-21T10:00:00Zjunk",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "２０１９-10-21T10:00:00Z",
        ] {
            assert_eq!(normalised(text), None, "{text:?}");
        }
    }
}
