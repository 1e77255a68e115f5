//! A scheduled subscription's `schedule` (EPCIS 2.0 REST binding), as a JSON object from the
//! request body: no input may panic; a schedule that parses parses again from what it shows to
//! the same schedule, and each time it names after a few starting points is later than the
//! start and named again as the next after the second before it; two times it finds closer
//! together than an interval are two in a row, that close.
#![no_main]

use epcis::query::QuerySchedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(given)) = serde_json::from_slice(data) else {
        return;
    };
    let Ok(schedule) = QuerySchedule::parse(&given) else {
        return;
    };
    let again = QuerySchedule::parse(&schedule.to_json()).expect("a schedule's own fields parse");
    assert_eq!(again, schedule);
    for after in [0, 1_795_000_000, 1_795_000_000 + 86_399, 4_102_444_800] {
        let next = schedule
            .next_after(after)
            .expect("a schedule that parses names a time every 400 years");
        assert!(next > after);
        assert_eq!(schedule.next_after(next - 1), Some(next));
        if let Some((first, then)) = schedule.fires_closer_than(after, 60, 7 * 86_400) {
            assert!(first > after && then > first && then - first < 60);
            assert_eq!(schedule.next_after(first), Some(then));
        }
    }
});
