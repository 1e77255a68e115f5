//! EPCIS time values: RFC 3339 timestamps (`eventTime`, `recordTime`, `creationDate`, ...) and the
//! `eventTimeZoneOffset` string.

use std::fmt;

/// Why a string is not a timestamp or a time zone offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text does not follow the RFC 3339 `date-time` grammar.
    #[error(
        "timestamp is not an RFC 3339 date-time with an offset (YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm))"
    )]
    DateTimeSyntax,
    /// The fields are well formed but name no real instant (month 13, 30 February, hour 24, ...).
    #[error("timestamp has a field out of range (month, day, hour, minute, second or offset)")]
    DateTimeRange,
    /// The text is not `±hh:mm` between -14:00 and +14:00.
    #[error("time zone offset must match ±hh:mm between -14:00 and +14:00")]
    OffsetSyntax,
}

/// An `eventTimeZoneOffset`: a signed offset from UTC between -14:00 and +14:00, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeZoneOffset {
    minutes: i16,
}

impl TimeZoneOffset {
    /// Parses `±hh:mm` as the EPCIS schema's pattern `^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$`
    /// allows it.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let bytes = text.as_bytes();
        let [sign, h1, h2, b':', m1, m2] = *bytes else {
            return Err(TimeError::OffsetSyntax);
        };
        let sign: i16 = match sign {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(TimeError::OffsetSyntax),
        };
        let hours = two_digits(h1, h2).ok_or(TimeError::OffsetSyntax)?;
        let minutes = two_digits(m1, m2).ok_or(TimeError::OffsetSyntax)?;
        let in_range = (hours <= 13 && minutes <= 59) || (hours == 14 && minutes == 0);
        if !in_range {
            return Err(TimeError::OffsetSyntax);
        }
        Ok(Self {
            minutes: sign * (i16::from(hours) * 60 + i16::from(minutes)),
        })
    }

    /// The offset in minutes east of UTC (negative west of it).
    pub fn minutes(self) -> i16 {
        self.minutes
    }
}

impl fmt::Display for TimeZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_offset(f, self.minutes, false)
    }
}

/// An RFC 3339 `date-time` with its UTC offset, as EPCIS uses for `eventTime`, `recordTime`,
/// `declarationTime`, `creationDate` and sensor times.
///
/// Two timestamps are equal when they name the same instant with the same offset; compare
/// instants with [`Timestamp::unix_nanos`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    unix_seconds: i64,
    nanos: u32,
    offset_minutes: i16,
}

impl Timestamp {
    /// Parses an RFC 3339 `date-time` (section 5.6): `T` or `t` between date and time, any
    /// number of fraction digits (kept to nanoseconds), and `Z`, `z` or `±hh:mm` as the offset.
    /// A leap second (`:60`) is accepted only at 23:59 UTC, and counted as the first instant of
    /// the next day.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(TimeError::DateTimeSyntax);
        }
        let syntax = TimeError::DateTimeSyntax;
        let year = four_digits(&b[0..4]).ok_or(syntax)?;
        expect(b[4], b'-')?;
        let month = two_digits(b[5], b[6]).ok_or(syntax)?;
        expect(b[7], b'-')?;
        let day = two_digits(b[8], b[9]).ok_or(syntax)?;
        if b[10] != b'T' && b[10] != b't' {
            return Err(syntax);
        }
        let hour = two_digits(b[11], b[12]).ok_or(syntax)?;
        expect(b[13], b':')?;
        let minute = two_digits(b[14], b[15]).ok_or(syntax)?;
        expect(b[16], b':')?;
        let second = two_digits(b[17], b[18]).ok_or(syntax)?;

        let mut rest = &b[19..];
        let mut nanos: u32 = 0;
        if let [b'.', tail @ ..] = rest {
            let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(syntax);
            }
            for (position, digit) in tail[..digits].iter().enumerate() {
                if position < 9 {
                    nanos = nanos * 10 + u32::from(digit - b'0');
                }
            }
            for _ in digits..9 {
                nanos *= 10;
            }
            rest = &tail[digits..];
        }
        let offset_minutes: i16 = match *rest {
            [b'Z'] | [b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = two_digits(h1, h2).ok_or(syntax)?;
                let minutes = two_digits(m1, m2).ok_or(syntax)?;
                if hours > 23 || minutes > 59 {
                    return Err(TimeError::DateTimeRange);
                }
                let magnitude = i16::from(hours) * 60 + i16::from(minutes);
                if sign == b'-' { -magnitude } else { magnitude }
            }
            _ => return Err(syntax),
        };

        let month_ok = (1..=12).contains(&month);
        if !month_ok
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(TimeError::DateTimeRange);
        }
        // RFC 3339 section 5.7: a leap second can only be the last second of a UTC day.
        let utc_minute_of_day = (i32::from(hour) * 60 + i32::from(minute)
            - i32::from(offset_minutes))
        .rem_euclid(1_440);
        if second == 60 && utc_minute_of_day != 23 * 60 + 59 {
            return Err(TimeError::DateTimeRange);
        }
        let days = days_from_civil(i64::from(year), month, day);
        let local_seconds =
            days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second);
        Ok(Self {
            unix_seconds: local_seconds - i64::from(offset_minutes) * 60,
            nanos,
            offset_minutes,
        })
    }

    /// The instant `nanos` nanoseconds after the Unix epoch, in UTC; `None` beyond the years a
    /// timestamp can be written in (0000 to 9999).
    pub fn from_unix_nanos(nanos: i128) -> Option<Self> {
        /// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in Unix seconds.
        const EARLIEST: i64 = -62_167_219_200;
        const END: i64 = 253_402_300_800;
        let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
        let nanos = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
        (EARLIEST..END).contains(&seconds).then_some(Self {
            unix_seconds: seconds,
            nanos,
            offset_minutes: 0,
        })
    }

    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// The fraction of the second, in nanoseconds (0..1e9).
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// The instant as nanoseconds since the Unix epoch; use it to order timestamps.
    pub fn unix_nanos(self) -> i128 {
        i128::from(self.unix_seconds) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// The instant as milliseconds since the Unix epoch (the fraction below a millisecond is
    /// dropped, rounding towards the past).
    pub fn unix_millis(self) -> i64 {
        self.unix_seconds * 1_000 + i64::from(self.nanos / 1_000_000)
    }

    /// The offset from UTC the timestamp was written with, in minutes.
    pub fn offset_minutes(self) -> i16 {
        self.offset_minutes
    }
}

/// Formats as RFC 3339 in the timestamp's own offset, with the fraction trimmed of trailing
/// zeros (`2005-04-03T20:33:31.116-06:00`, `2019-04-02T13:05:00Z`).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.unix_seconds + i64::from(self.offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let seconds_of_day = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            seconds_of_day / 3_600,
            seconds_of_day % 3_600 / 60,
            seconds_of_day % 60
        )?;
        if self.nanos != 0 {
            let mut fraction = self.nanos;
            let mut width = 9;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                width -= 1;
            }
            write!(f, ".{fraction:0width$}")?;
        }
        write_offset(f, self.offset_minutes, true)
    }
}

fn write_offset(f: &mut fmt::Formatter<'_>, minutes: i16, zulu: bool) -> fmt::Result {
    if zulu && minutes == 0 {
        return f.write_str("Z");
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    let magnitude = minutes.unsigned_abs();
    write!(f, "{sign}{:02}:{:02}", magnitude / 60, magnitude % 60)
}

fn expect(found: u8, wanted: u8) -> Result<(), TimeError> {
    if found == wanted {
        Ok(())
    } else {
        Err(TimeError::DateTimeSyntax)
    }
}

fn two_digits(tens: u8, units: u8) -> Option<u8> {
    if tens.is_ascii_digit() && units.is_ascii_digit() {
        Some((tens - b'0') * 10 + (units - b'0'))
    } else {
        None
    }
}

fn four_digits(bytes: &[u8]) -> Option<u16> {
    bytes.iter().try_fold(0u16, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u16::from(digit - b'0'))
    })
}

fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: the civil date (year, month 1–12, day 1–31) of a day
/// counted from 1970-01-01, in the proleptic Gregorian calendar.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_in_nanoseconds_is_the_same_instant_in_utc() {
        let time = Timestamp::parse("2005-04-03T20:33:31.116000-06:00").unwrap();
        let utc = Timestamp::from_unix_nanos(time.unix_nanos()).unwrap();
        assert_eq!(utc.unix_nanos(), time.unix_nanos());
        assert_eq!(utc.offset_minutes(), 0);
        let before = Timestamp::from_unix_nanos(-1).unwrap();
        assert_eq!(
            (before.unix_seconds(), before.subsec_nanos()),
            (-1, 999_999_999)
        );
        assert!(Timestamp::from_unix_nanos(i128::MAX).is_none());
        assert!(Timestamp::from_unix_nanos(-62_167_219_201_000_000_000).is_none());
    }

    #[test]
    fn the_unix_epoch_is_second_zero() {
        let epoch = Timestamp::parse("1970-01-01T00:00:00Z").unwrap();
        assert_eq!(epoch.unix_seconds(), 0);
        assert_eq!(epoch.subsec_nanos(), 0);
    }

    #[test]
    fn an_offset_moves_the_instant_back_to_utc() {
        // 2005-04-03T20:33:31.116-06:00 is 2005-04-04T02:33:31.116Z = 1112582011.116 s.
        let time = Timestamp::parse("2005-04-03T20:33:31.116000-06:00").unwrap();
        assert_eq!(time.unix_seconds(), 1_112_582_011);
        assert_eq!(time.subsec_nanos(), 116_000_000);
        assert_eq!(time.offset_minutes(), -360);
        assert_eq!(time.unix_millis(), 1_112_582_011_116);
    }

    #[test]
    fn a_known_date_after_2000_maps_to_its_unix_time() {
        // `date -u -d 2013-06-04T12:59:02Z +%s` = 1370350742.
        let time = Timestamp::parse("2013-06-04T14:59:02.099+02:00").unwrap();
        assert_eq!(time.unix_seconds(), 1_370_350_742);
        assert_eq!(time.subsec_nanos(), 99_000_000);
    }

    #[test]
    fn dates_before_the_epoch_are_negative() {
        let time = Timestamp::parse("1969-12-31T23:59:59Z").unwrap();
        assert_eq!(time.unix_seconds(), -1);
    }

    #[test]
    fn the_29th_of_february_exists_only_in_leap_years() {
        assert!(Timestamp::parse("2020-02-29T00:00:00Z").is_ok());
        assert!(Timestamp::parse("2000-02-29T00:00:00Z").is_ok());
        assert_eq!(
            Timestamp::parse("2019-02-29T00:00:00Z"),
            Err(TimeError::DateTimeRange)
        );
        assert_eq!(
            Timestamp::parse("1900-02-29T00:00:00Z"),
            Err(TimeError::DateTimeRange)
        );
    }

    #[test]
    fn a_timestamp_without_an_offset_is_rejected() {
        assert_eq!(
            Timestamp::parse("2005-04-03T20:33:31.116"),
            Err(TimeError::DateTimeSyntax)
        );
        assert_eq!(
            Timestamp::parse("2005-04-03T20:33:31"),
            Err(TimeError::DateTimeSyntax)
        );
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        for text in [
            "2005-04-03 20:33:31Z",
            "2005-04-03T20:33:31.Z",
            "2005-4-03T20:33:31Z",
            "2005-04-03T20:33Z",
            "2005-04-03T20:33:31+0600",
            "2005-04-03T20:33:31+06",
            "2005-04-03T20:33:31ZZ",
            "٢٠٠٥-04-03T20:33:31Z",
            "",
        ] {
            assert_eq!(
                Timestamp::parse(text),
                Err(TimeError::DateTimeSyntax),
                "{text}"
            );
        }
    }

    #[test]
    fn fields_out_of_range_are_rejected() {
        for text in [
            "2005-13-03T20:33:31Z",
            "2005-00-03T20:33:31Z",
            "2005-04-31T20:33:31Z",
            "2005-04-00T20:33:31Z",
            "2005-04-03T24:00:00Z",
            "2005-04-03T20:60:00Z",
            "2005-04-03T20:33:61Z",
            "2005-04-03T20:33:60Z",
            "1998-12-31T23:59:60+01:00",
            "2005-04-03T20:33:31+24:00",
            "2005-04-03T20:33:31+05:60",
        ] {
            assert_eq!(
                Timestamp::parse(text),
                Err(TimeError::DateTimeRange),
                "{text}"
            );
        }
    }

    #[test]
    fn a_leap_second_is_allowed_only_at_the_end_of_a_utc_day() {
        let leap = Timestamp::parse("1998-12-31T23:59:60Z").unwrap();
        let next_day = Timestamp::parse("1999-01-01T00:00:00Z").unwrap();
        assert_eq!(leap.unix_seconds(), next_day.unix_seconds());
        assert!(Timestamp::parse("1998-12-31T15:59:60.123-08:00").is_ok());
    }

    #[test]
    fn lower_case_separators_are_allowed_by_rfc_3339() {
        let upper = Timestamp::parse("2019-04-02T13:05:00Z").unwrap();
        let lower = Timestamp::parse("2019-04-02t13:05:00z").unwrap();
        assert_eq!(upper, lower);
    }

    #[test]
    fn fraction_digits_beyond_nanoseconds_are_truncated() {
        let time = Timestamp::parse("2019-04-02T13:05:00.1234567891Z").unwrap();
        assert_eq!(time.subsec_nanos(), 123_456_789);
    }

    #[test]
    fn display_writes_rfc_3339_in_the_original_offset() {
        for (input, output) in [
            (
                "2005-04-03T20:33:31.116000-06:00",
                "2005-04-03T20:33:31.116-06:00",
            ),
            ("2019-04-02T13:05:00.000Z", "2019-04-02T13:05:00Z"),
            (
                "2013-06-04T14:59:02.099+02:00",
                "2013-06-04T14:59:02.099+02:00",
            ),
            ("1969-12-31T23:59:59.5+00:00", "1969-12-31T23:59:59.5Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ] {
            assert_eq!(Timestamp::parse(input).unwrap().to_string(), output);
        }
    }

    #[test]
    fn event_time_zone_offsets_follow_the_schema_pattern() {
        assert_eq!(TimeZoneOffset::parse("-06:00").unwrap().minutes(), -360);
        assert_eq!(TimeZoneOffset::parse("+05:45").unwrap().minutes(), 345);
        assert_eq!(TimeZoneOffset::parse("+14:00").unwrap().minutes(), 840);
        assert_eq!(TimeZoneOffset::parse("-13:59").unwrap().minutes(), -839);
        assert_eq!(TimeZoneOffset::parse("+00:00").unwrap().minutes(), 0);
        for bad in [
            "+14:01", "+15:00", "-14:30", "06:00", "+6:00", "+06:0", "+06-00", "Z", "+06:60", "",
        ] {
            assert_eq!(
                TimeZoneOffset::parse(bad),
                Err(TimeError::OffsetSyntax),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_time_zone_offset_displays_as_written() {
        assert_eq!(
            TimeZoneOffset::parse("-06:00").unwrap().to_string(),
            "-06:00"
        );
        assert_eq!(
            TimeZoneOffset::parse("+00:00").unwrap().to_string(),
            "+00:00"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = Timestamp::parse(&text);
            let _ = TimeZoneOffset::parse(&text);
        }

        #[test]
        fn civil_dates_round_trip_through_day_numbers(days in -1_000_000i64..3_000_000) {
            let (year, month, day) = civil_from_days(days);
            let month = u8::try_from(month).unwrap();
            let day = u8::try_from(day).unwrap();
            proptest::prop_assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
