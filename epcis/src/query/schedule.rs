//! The schedule of a scheduled subscription (EPCIS 2.0 REST binding, `QueryScheduleSubscription`:
//! `{"schedule": {"hour": "1", "minute": "5"}}`), and the times it names.
//!
//! Each field (`second` 0–59, `minute` 0–59, `hour` 0–23, `dayOfMonth` 1–31, `month` 1–12,
//! `dayOfWeek` 1–7, Monday 1) is a string (or a whole number) listing values separated by commas,
//! each a number, a range `[n-m]` (the binding's grammar; `n-m` is read alike), or a step `n/s`
//! or `[n-m]/s` (from `n`, every `s`, to the end of the range or of the field: the binding's own
//! example is `"second": "0/30"`). A time matches when every field matches it, in UTC (the day of
//! the month and the day of the week both, when both are given).
//!
//! A field left out matches every value when it is coarser than the finest field given, and only
//! its first value when it is finer, as a cron job's schedule reads: `{"hour": "1", "minute":
//! "5"}` is 01:05:00 every day (the binding: "every morning at 1.05am"), `{"minute": "0"}` the top
//! of every hour, `{"dayOfWeek": "1"}` midnight each Monday, `{"month": "1"}` midnight on the 1st
//! of January. A schedule names at least one field, and one that names no time in 400 years
//! (`{"month": "2", "dayOfMonth": "30"}`) is refused.

use serde_json::{Map, Value};

/// The fields of a schedule, finest first, with their ranges.
const FIELDS: [(&str, u8, u8); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("dayOfMonth", 1, 31),
    ("dayOfWeek", 1, 7),
    ("month", 1, 12),
];
/// How fine each of [`FIELDS`] is: the two days are one rank.
const RANK: [u8; 6] = [0, 1, 2, 3, 3, 4];
/// The longest value of a field, in bytes.
const MAX_FIELD: usize = 256;
/// Days in 400 Gregorian years: the calendar repeats after them.
const CYCLE_DAYS: i64 = 146_097;
const DAY: i64 = 86_400;

/// A query schedule: the values each field matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySchedule {
    /// Per field of [`FIELDS`], the values it matches (bit `n` for value `n`).
    matches: [u64; 6],
    /// The fields as given, in [`FIELDS`]' order: what the schedule is shown as.
    given: Vec<(&'static str, String)>,
}

/// Why a schedule is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("a schedule names at least one of second, minute, hour, dayOfMonth, month, dayOfWeek")]
    Empty,
    #[error(
        "schedule has member {0:?}; a schedule has second, minute, hour, dayOfMonth, month and dayOfWeek"
    )]
    UnknownField(String),
    #[error("schedule.{field} is a string such as \"0\", \"[1-5]\" or \"0/15\", not {found}")]
    NotText { field: &'static str, found: String },
    #[error("schedule.{field} {value:?}: {why}")]
    BadValue {
        field: &'static str,
        value: String,
        why: String,
    },
    #[error("the schedule names no time in the next 400 years: no day matches its month and days")]
    Never,
}

impl QuerySchedule {
    /// Reads a `schedule` object.
    pub fn parse(schedule: &Map<String, Value>) -> Result<Self, ScheduleError> {
        if let Some(unknown) = schedule
            .keys()
            .find(|key| !FIELDS.iter().any(|(name, ..)| name == key))
        {
            return Err(ScheduleError::UnknownField(
                unknown.chars().take(64).collect(),
            ));
        }
        let mut matches = [0u64; 6];
        let mut given = Vec::new();
        let mut finest = None;
        for (at, (name, low, high)) in FIELDS.iter().enumerate() {
            let Some(value) = schedule.get(*name) else {
                continue;
            };
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) if number.is_u64() => number.to_string(),
                other => {
                    return Err(ScheduleError::NotText {
                        field: name,
                        found: other.to_string().chars().take(64).collect(),
                    });
                }
            };
            matches[at] = values(&text, *low, *high).map_err(|why| ScheduleError::BadValue {
                field: name,
                value: text.chars().take(64).collect(),
                why,
            })?;
            finest = Some(finest.map_or(RANK[at], |rank: u8| rank.min(RANK[at])));
            given.push((*name, text));
        }
        let finest = finest.ok_or(ScheduleError::Empty)?;
        for (at, (name, low, high)) in FIELDS.iter().enumerate() {
            if given.iter().any(|(field, _)| field == name) {
                continue;
            }
            // Finer than the finest given: its first value; else every value. The day of the
            // week is never the one defaulted to its first (a month's schedule is on the 1st).
            matches[at] = if RANK[at] < finest && *name != "dayOfWeek" {
                1 << low
            } else {
                span(*low, *high)
            };
        }
        let schedule = Self { matches, given };
        if schedule.next_after(0).is_none() {
            return Err(ScheduleError::Never);
        }
        Ok(schedule)
    }

    /// The schedule as given: each field named, with its value as a string.
    pub fn to_json(&self) -> Map<String, Value> {
        self.given
            .iter()
            .map(|(name, text)| ((*name).to_owned(), Value::String(text.clone())))
            .collect()
    }

    /// The first time the schedule names after `after` (Unix seconds, UTC): `None` if none in
    /// the 400 years that follow (which [`parse`](Self::parse) refuses).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.checked_add(1)?;
        let (first_day, first_second) = (start.div_euclid(DAY), start.rem_euclid(DAY));
        for offset in 0..=CYCLE_DAYS {
            let day = first_day.checked_add(offset)?;
            if !self.day_matches(day) {
                continue;
            }
            let from = if offset == 0 { first_second } else { 0 };
            if let Some(second) = self.first_second_from(from) {
                return day.checked_mul(DAY)?.checked_add(second);
            }
        }
        None
    }

    /// The time of the round after one that was due at `due`, as a service that fires a
    /// subscription at most once every `least` seconds runs it (Unix seconds, UTC): the first
    /// time the schedule names at or after `now` and at least `least` after `due`. Counted from
    /// when a round was due, not from when it ended, so a round that ends late skips no time a
    /// schedule of times `least` apart names.
    pub fn next_round(&self, now: i64, due: i64, least: i64) -> Option<i64> {
        self.next_after(now.max(due.saturating_add(least)).saturating_sub(1))
    }

    /// The first two times in a row that the schedule names after `after` and within `horizon`
    /// seconds of it that are less than `least` seconds apart, if any: how a service that fires
    /// a subscription at most once every `least` seconds refuses a schedule finer than that.
    ///
    /// Exact, and cheap whatever the schedule: the times of a day are the same on every day that
    /// matches, so only the pairs within a day and those across two matching days are looked
    /// at, once each (a day's 86,400 seconds, then a step for each day of the horizon, at most
    /// 400 years of them).
    pub fn fires_closer_than(&self, after: i64, least: i64, horizon: i64) -> Option<(i64, i64)> {
        if least <= 1 {
            return None;
        }
        let times: Vec<i64> = (0..DAY)
            .filter(|second| {
                self.has(0, second % 60)
                    && self.has(1, second / 60 % 60)
                    && self.has(2, second / 3600)
            })
            .collect();
        let close = |times: &[i64]| {
            times
                .windows(2)
                .find(|pair| pair[1] - pair[0] < least)
                .map(|pair| (pair[0], pair[1]))
        };
        let whole_day = close(&times);
        let start = after.checked_add(1)?;
        let end = after.saturating_add(horizon);
        let (first_day, last_day) = (start.div_euclid(DAY), end.div_euclid(DAY));
        let last_day = last_day.min(first_day.saturating_add(CYCLE_DAYS));
        // The last time of the matching day before.
        let mut previous: Option<i64> = None;
        for day in first_day..=last_day {
            if !self.day_matches(day) {
                continue;
            }
            let base = day.checked_mul(DAY)?;
            let from = if day == first_day { start - base } else { 0 };
            let skipped = times.partition_point(|second| *second < from);
            let today = &times[skipped..];
            let (Some(first), Some(last)) = (today.first(), today.last()) else {
                continue;
            };
            if let Some(previous) = previous
                && base + first - previous < least
            {
                return (base + first <= end).then_some((previous, base + first));
            }
            let within = if skipped == 0 {
                whole_day
            } else {
                close(today)
            };
            if let Some((one, then)) = within {
                return (base + then <= end).then_some((base + one, base + then));
            }
            previous = Some(base + last);
        }
        None
    }

    /// Whether the schedule's month, day of the month and day of the week match a day (days
    /// since 1970-01-01).
    fn day_matches(&self, day: i64) -> bool {
        let (_, month, day_of_month) = crate::document::civil_from_days(day);
        // 1970-01-01 was a Thursday (4).
        let day_of_week = (day + 3).rem_euclid(7) + 1;
        self.has(5, month) && self.has(3, day_of_month) && self.has(4, day_of_week)
    }

    fn has(&self, field: usize, value: i64) -> bool {
        (0..64).contains(&value) && self.matches[field] & (1 << value) != 0
    }

    /// The first second of a day at or after `from` that the hour, minute and second match.
    fn first_second_from(&self, from: i64) -> Option<i64> {
        let (from_hour, from_minute, from_second) = (from / 3600, from / 60 % 60, from % 60);
        for hour in (from_hour..24).filter(|hour| self.has(2, *hour)) {
            let minute_from = if hour == from_hour { from_minute } else { 0 };
            for minute in (minute_from..60).filter(|minute| self.has(1, *minute)) {
                let second_from = if hour == from_hour && minute == from_minute {
                    from_second
                } else {
                    0
                };
                if let Some(second) = (second_from..60).find(|second| self.has(0, *second)) {
                    return Some(hour * 3600 + minute * 60 + second);
                }
            }
        }
        None
    }
}

/// Bits `low..=high`.
fn span(low: u8, high: u8) -> u64 {
    (low..=high).fold(0, |bits, value| bits | 1 << value)
}

/// The values a field's text lists, as bits; why not.
fn values(text: &str, low: u8, high: u8) -> Result<u64, String> {
    if text.len() > MAX_FIELD {
        return Err(format!("longer than {MAX_FIELD} bytes"));
    }
    let number = |digits: &str| -> Result<u8, String> {
        let trimmed = digits.trim();
        if trimmed.is_empty() || trimmed.len() > 3 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{trimmed:?} is not a number"));
        }
        let value: u8 = trimmed
            .parse()
            .map_err(|_| format!("{trimmed} is too large"))?;
        if value < low || value > high {
            return Err(format!("{value} is not within {low} to {high}"));
        }
        Ok(value)
    };
    let mut bits = 0;
    for element in text.split(',') {
        let (range, step) = match element.split_once('/') {
            Some((range, step)) => {
                let step: u8 = step
                    .trim()
                    .parse()
                    .ok()
                    .filter(|step| *step > 0)
                    .ok_or_else(|| format!("the step of {element:?} is not a positive number"))?;
                (range, Some(step))
            }
            None => (element, None),
        };
        let range = range.trim();
        let inner = match range.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')
                .ok_or_else(|| format!("{range:?} opens a range it does not close"))?,
            None => range,
        };
        let (first, last) = match inner.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => {
                let first = number(inner)?;
                (first, if step.is_some() { high } else { first })
            }
        };
        if last < first {
            return Err(format!("the range {range:?} ends before it starts"));
        }
        let step = usize::from(step.unwrap_or(1));
        for value in (first..=last).step_by(step) {
            bits |= 1 << value;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schedule(value: Value) -> Result<QuerySchedule, ScheduleError> {
        QuerySchedule::parse(value.as_object().unwrap())
    }

    /// Unix seconds of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
        let mut days = 0;
        // Count by days from the epoch: slow, plain and independent of `civil`.
        let step = if (year, month, day) >= (1970, 1, 1) {
            1
        } else {
            -1
        };
        while civil_of(days) != (year, month, day) {
            days += step;
        }
        days * DAY + hour * 3600 + minute * 60 + second
    }

    /// The date of a day, by walking the calendar's months.
    fn civil_of(day: i64) -> (i64, i64, i64) {
        let leap = |year: i64| (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let length = |year: i64, month: i64| match month {
            2 if leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut year, mut month, mut left) = (1970, 1, day);
        while left < 0 {
            month -= 1;
            if month == 0 {
                month = 12;
                year -= 1;
            }
            left += length(year, month);
        }
        while left >= length(year, month) {
            left -= length(year, month);
            month += 1;
            if month == 13 {
                month = 1;
                year += 1;
            }
        }
        (year, month, left + 1)
    }

    #[test]
    fn the_calendar_is_the_gregorian_one() {
        let civil = crate::document::civil_from_days;
        for day in (-800_000..800_000)
            .step_by(997)
            .chain([0, 59, 60, 365, 11_016, 11_017])
        {
            assert_eq!(civil(day), civil_of(day), "day {day}");
        }
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(-1), (1969, 12, 31));
    }

    #[test]
    fn the_binding_s_example_is_1_05_every_morning() {
        let morning = schedule(json!({"hour": "1", "minute": "5"})).unwrap();
        let now = at(2026, 11, 26, 20, 14, 7);
        assert_eq!(morning.next_after(now), Some(at(2026, 11, 27, 1, 5, 0)));
        let then = at(2026, 11, 27, 1, 5, 0);
        assert_eq!(morning.next_after(then), Some(at(2026, 11, 28, 1, 5, 0)));
        assert_eq!(morning.next_after(then - 1), Some(then));
        assert_eq!(
            morning.to_json(),
            *json!({"minute": "5", "hour": "1"}).as_object().unwrap()
        );
        // Its other example: every thirty seconds.
        let half = schedule(json!({"second": "0/30"})).unwrap();
        assert_eq!(half.next_after(then), Some(then + 30));
        assert_eq!(half.next_after(then + 30), Some(then + 60));
    }

    #[test]
    fn fields_left_out_match_all_when_coarser_and_their_first_value_when_finer() {
        let now = at(2026, 11, 26, 20, 14, 7); // a Thursday
        let cases = [
            (json!({"minute": "0"}), at(2026, 11, 26, 21, 0, 0)),
            (json!({"second": "[10-12]"}), at(2026, 11, 26, 20, 14, 10)),
            (json!({"hour": "20"}), at(2026, 11, 27, 20, 0, 0)),
            (json!({"dayOfWeek": "1"}), at(2026, 11, 30, 0, 0, 0)),
            (json!({"dayOfMonth": "1"}), at(2026, 12, 1, 0, 0, 0)),
            (json!({"month": "1"}), at(2027, 1, 1, 0, 0, 0)),
            (
                json!({"month": "11", "dayOfWeek": "5"}),
                at(2026, 11, 27, 0, 0, 0),
            ),
            // Both days must match: Friday the 13th.
            (
                json!({"dayOfMonth": "13", "dayOfWeek": "5", "hour": "9"}),
                at(2027, 8, 13, 9, 0, 0),
            ),
            (
                json!({"second": 30, "minute": "14"}),
                at(2026, 11, 26, 20, 14, 30),
            ),
            (
                json!({"minute": "10-20/5", "second": "7"}),
                at(2026, 11, 26, 20, 15, 7),
            ),
            (json!({"minute": "[1-3],59"}), at(2026, 11, 26, 20, 59, 0)),
            (
                json!({"month": "2", "dayOfMonth": "29"}),
                at(2028, 2, 29, 0, 0, 0),
            ),
            (
                json!({"dayOfMonth": "31", "hour": "23", "minute": "59", "second": "59"}),
                at(2026, 12, 31, 23, 59, 59),
            ),
        ];
        for (given, expected) in cases {
            let parsed = schedule(given.clone()).unwrap();
            assert_eq!(parsed.next_after(now), Some(expected), "{given}");
            assert!(parsed.next_after(expected).unwrap() > expected, "{given}");
        }
    }

    #[test]
    fn schedules_finer_than_a_least_interval_are_found() {
        let now = at(2026, 11, 26, 20, 14, 7);
        let months = 62 * DAY;
        let close = |given: Value, least: i64| {
            schedule(given)
                .unwrap()
                .fires_closer_than(now, least, months)
        };
        let every_second = close(json!({"second": "0/1"}), 60);
        assert_eq!(every_second, Some((now + 1, now + 2)));
        assert_eq!(
            close(json!({"second": "0/30"}), 60),
            Some((at(2026, 11, 26, 20, 14, 30), at(2026, 11, 26, 20, 15, 0)))
        );
        assert_eq!(close(json!({"second": "0/30"}), 30), None);
        assert_eq!(close(json!({"hour": "1", "minute": "5"}), 60), None);
        // Close only across the turn of a month, a few weeks on.
        let month_end = json!({"dayOfMonth": "1,31", "hour": "0,23", "minute": "0,59"});
        assert_eq!(
            close(month_end.clone(), 3600),
            Some((at(2026, 12, 1, 0, 0, 0), at(2026, 12, 1, 0, 59, 0)))
        );
        assert_eq!(
            close(month_end, 120),
            Some((at(2026, 12, 31, 23, 59, 0), at(2027, 1, 1, 0, 0, 0)))
        );
        // Beyond the horizon nothing is looked at; a least interval of a second holds always.
        assert_eq!(
            schedule(json!({"month": "3", "second": "0,1"}))
                .unwrap()
                .fires_closer_than(now, 60, months),
            None
        );
        assert_eq!(close(json!({"second": "0/1"}), 1), None);
    }

    #[test]
    fn a_round_that_ends_late_skips_no_time() {
        let half = schedule(json!({"second": "0/30"})).unwrap();
        let due = at(2026, 11, 26, 20, 14, 30);
        // Ended within its second, or a second late: the next is the one after, 30 s on.
        assert_eq!(half.next_round(due, due, 30), Some(due + 30));
        assert_eq!(half.next_round(due + 1, due, 30), Some(due + 30));
        // Made up long after (no process ran): the next time from now on.
        assert_eq!(half.next_round(due + 95, due, 30), Some(due + 120));
        // A schedule finer than the least interval: its times within it are skipped.
        let every = schedule(json!({"second": "0/1"})).unwrap();
        assert_eq!(every.next_round(due + 2, due, 30), Some(due + 30));
    }

    #[test]
    fn close_times_are_found_as_a_walk_from_time_to_time_finds_them() {
        // The walk: every time in turn, by next_after.
        let walk = |schedule: &QuerySchedule, after: i64, least: i64, horizon: i64| {
            let end = after + horizon;
            let mut previous = schedule.next_after(after)?;
            loop {
                let next = schedule.next_after(previous).filter(|next| *next <= end)?;
                if next - previous < least {
                    return Some((previous, next));
                }
                previous = next;
            }
        };
        let starts = [
            at(2026, 11, 26, 20, 14, 7),
            at(2026, 12, 31, 23, 59, 59),
            at(2028, 2, 28, 23, 0, 0),
        ];
        let schedules = [
            json!({"second": "0/30"}),
            json!({"second": "0,20", "minute": "0/1"}),
            json!({"minute": "0,59", "hour": "0,23"}),
            json!({"hour": "0,23", "minute": "0,59", "dayOfMonth": "1,31"}),
            json!({"hour": "23", "minute": "59", "second": "50", "dayOfWeek": "1,2"}),
            json!({"dayOfMonth": "28,29", "month": "2", "hour": "0,23", "minute": "30"}),
            json!({"hour": "[1-3]", "minute": "5/20", "second": "0,15"}),
        ];
        for given in schedules {
            let parsed = schedule(given.clone()).unwrap();
            for after in starts {
                for (least, horizon) in [(20, 3 * DAY), (60, 40 * DAY), (3_600, 400 * DAY)] {
                    assert_eq!(
                        parsed.fires_closer_than(after, least, horizon),
                        walk(&parsed, after, least, horizon),
                        "{given} after {after}, {least} s within {horizon} s"
                    );
                }
            }
        }
    }

    #[test]
    fn each_kind_of_bad_schedule_is_refused_saying_why() {
        let cases = [
            (json!({}), "at least one"),
            (json!({"hours": "1"}), "member \"hours\""),
            (json!({"minute": 5.5}), "not 5.5"),
            (json!({"minute": ["5"]}), "a string"),
            (json!({"minute": ["é".repeat(40)]}), "a string"),
            (json!({"minute": "60"}), "60 is not within 0 to 59"),
            (json!({"dayOfWeek": "0"}), "0 is not within 1 to 7"),
            (json!({"hour": "[3-1]"}), "ends before it starts"),
            (json!({"hour": "[1-3"}), "does not close"),
            (json!({"hour": "x"}), "is not a number"),
            (json!({"hour": ""}), "is not a number"),
            (json!({"hour": "1,,2"}), "is not a number"),
            (json!({"second": "0/0"}), "positive number"),
            (json!({"second": "-1"}), "is not a number"),
            (
                json!({"month": "2", "dayOfMonth": "30"}),
                "no time in the next 400 years",
            ),
            (
                json!({"month": "4", "dayOfMonth": "31"}),
                "no time in the next 400 years",
            ),
            (json!({"second": "1,".repeat(200)}), "longer than 256 bytes"),
        ];
        for (given, says) in cases {
            let error = schedule(given.clone()).unwrap_err().to_string();
            assert!(error.contains(says), "{given}: {error}");
        }
    }

    #[test]
    fn every_time_is_found_in_order_and_none_is_skipped() {
        // By brute force over two days, second by second.
        let parsed = schedule(json!({"minute": "[0-1],30/15", "second": "0,59"})).unwrap();
        let start = at(2026, 12, 31, 23, 0, 0);
        let mut expected = Vec::new();
        for time in start + 1..start + 2 * DAY {
            let of_day = time.rem_euclid(DAY);
            let (minute, second) = (of_day / 60 % 60, of_day % 60);
            if [0, 1, 30, 45].contains(&minute) && [0, 59].contains(&second) {
                expected.push(time);
            }
        }
        let mut found = Vec::new();
        let mut time = start;
        while let Some(next) = parsed
            .next_after(time)
            .filter(|next| *next < start + 2 * DAY)
        {
            found.push(next);
            time = next;
        }
        assert_eq!(found, expected);
    }

    proptest::proptest! {
        /// Any fields with values of the grammar's characters are read or refused without a
        /// panic; a schedule read parses again from what it shows to the same schedule, and the
        /// time it names next is later than the start and is the next after the second before.
        #[test]
        fn any_schedule_is_read_or_refused_and_never_panics(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek", "week",
                    ]),
                    "[0-9,/\\[\\] -]{0,12}",
                ),
                0..7,
            ),
            after in -5_000_000_000i64..5_000_000_000,
        ) {
            let given: Map<String, Value> = fields
                .into_iter()
                .map(|(name, value)| (name.to_owned(), Value::String(value)))
                .collect();
            if let Ok(parsed) = QuerySchedule::parse(&given) {
                proptest::prop_assert_eq!(QuerySchedule::parse(&parsed.to_json()), Ok(parsed.clone()));
                let next = parsed.next_after(after).unwrap();
                proptest::prop_assert!(next > after);
                proptest::prop_assert_eq!(parsed.next_after(next - 1), Some(next));
            }
        }
    }
}
