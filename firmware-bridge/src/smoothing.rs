//! Smoothing: a portal reports each tag many times a second; custody needs one event when a tag
//! arrives at a read point and one when it has gone.
//!
//! Per read point (see [`crate::config::ReadPoints`]):
//! - a tag not currently present **arrives** when read. Arrivals are gathered into a *cycle* that
//!   opens with the first arrival and lasts `cycle`; when it closes, its tags become one arrival
//!   event (several when there are more than `max_epcs_per_event`, in EPC URI order);
//! - a present tag read again only refreshes its last-seen time;
//! - a tag unseen for `absence` **departs**; the tags that depart together become departure events.
//!
//! The smoother has no clock: time comes from the reads' own timestamps and from [`Smoother::advance`],
//! which the caller invokes with the current time (so that the last cycle closes even when the
//! reader falls silent). Time never goes backwards inside the smoother: a read older than the
//! latest time seen counts as seen at that latest time. Given the same reads and `advance` calls the
//! output is the same, event for event, which is what lets tests replay recorded read streams.
//!
//! EPCs are decoded with `epcis::tds` when a tag arrives; an EPC that does not decode is reported
//! ([`ReadOutcome::Undecodable`]) once per arrival and kept out of events.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use ledger::UnixMillis;

use crate::config::{ReadPoint, ReadPoints};
use crate::read::TagRead;

/// The smoothing parameters (they are also written into every event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmoothingParams {
    cycle: Duration,
    absence: Duration,
    max_epcs_per_event: usize,
}

/// Smoothing parameters that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmoothingError {
    /// The cycle must be at least a millisecond.
    #[error("cycle_ms: must be at least 1")]
    ZeroCycle,
    /// A tag cannot depart before the cycle that saw it arrive has closed.
    #[error("absence_ms: must be at least cycle_ms")]
    AbsenceShorterThanCycle,
    /// Events list at least one EPC and at most 100,000.
    #[error("max_epcs_per_event: must be 1 to 100000")]
    BadMaxEpcs,
}

impl SmoothingParams {
    /// Checked parameters.
    pub fn new(
        cycle: Duration,
        absence: Duration,
        max_epcs_per_event: usize,
    ) -> Result<Self, SmoothingError> {
        if cycle.as_millis() == 0 {
            return Err(SmoothingError::ZeroCycle);
        }
        if absence < cycle {
            return Err(SmoothingError::AbsenceShorterThanCycle);
        }
        if !(1..=100_000).contains(&max_epcs_per_event) {
            return Err(SmoothingError::BadMaxEpcs);
        }
        Ok(SmoothingParams {
            cycle,
            absence,
            max_epcs_per_event,
        })
    }

    /// How long a cycle gathers arrivals.
    pub fn cycle(&self) -> Duration {
        self.cycle
    }

    /// How long a tag must be unseen to have departed.
    pub fn absence(&self) -> Duration {
        self.absence
    }

    /// Most EPCs in one event.
    pub fn max_epcs_per_event(&self) -> usize {
        self.max_epcs_per_event
    }

    fn cycle_ms(&self) -> u64 {
        u64::try_from(self.cycle.as_millis()).unwrap_or(u64::MAX)
    }

    fn absence_ms(&self) -> u64 {
        u64::try_from(self.absence.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Whether an event reports tags arriving or departing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The tags came into the read point's field.
    Arrival,
    /// The tags have not been seen for the absence time.
    Departure,
}

impl Transition {
    /// The word used in the event's extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Arrival => "arrival",
            Transition::Departure => "departure",
        }
    }
}

/// One tag in a smoothed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenTag {
    /// The EPC pure identity URI.
    pub epc_uri: String,
    /// The TID, when the read point captures TIDs and the reader reported one.
    pub tid: Option<Bytes>,
}

/// Tags that arrived at or departed from one read point, ready to become an EPCIS ObjectEvent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmoothedEvent {
    /// Where.
    pub read_point: ReadPoint,
    /// Arrival or departure.
    pub transition: Transition,
    /// For an arrival: the last arrival of the cycle; for a departure: the last sighting.
    pub event_time: UnixMillis,
    /// The tags, in EPC URI order.
    pub tags: Vec<SeenTag>,
    /// The parameters that produced the event.
    pub params: SmoothingParams,
}

/// What became of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The tag arrived (it will be in the cycle's event).
    Arrived,
    /// The tag was already present.
    Refreshed,
    /// The tag arrived but its EPC does not decode: reported here, never put in an event.
    Undecodable {
        /// The EPC bytes as hex.
        epc_hex: String,
        /// Why they do not decode.
        reason: String,
    },
    /// No read point is configured for this reader and antenna.
    NoReadPoint,
}

impl ReadOutcome {
    /// A short label for metrics (`arrived`, `refreshed`, `undecodable`, `no_read_point`).
    pub fn label(&self) -> &'static str {
        match self {
            ReadOutcome::Arrived => "arrived",
            ReadOutcome::Refreshed => "refreshed",
            ReadOutcome::Undecodable { .. } => "undecodable",
            ReadOutcome::NoReadPoint => "no_read_point",
        }
    }
}

#[derive(Debug)]
struct Presence {
    last_seen: u64,
    /// `None` for a tag whose EPC does not decode (kept so it is reported once per arrival).
    epc_uri: Option<String>,
}

#[derive(Debug)]
struct Cycle {
    opened: u64,
    last_arrival: u64,
    tags: BTreeMap<String, Option<Bytes>>,
}

#[derive(Debug, Default)]
struct PointState {
    present: HashMap<Bytes, Presence>,
    /// A lower bound of every present tag's last sighting, so that `advance` scans for departures
    /// only when one may be due (refreshes only raise the true minimum).
    earliest_last_seen: u64,
    cycle: Option<Cycle>,
}

impl PointState {
    fn note_arrival(&mut self, now: u64) {
        if self.present.is_empty() {
            self.earliest_last_seen = now;
        } else {
            self.earliest_last_seen = self.earliest_last_seen.min(now);
        }
    }
}

/// The smoothing state of every read point.
#[derive(Debug)]
pub struct Smoother {
    params: SmoothingParams,
    points: Vec<ReadPoint>,
    states: Vec<PointState>,
    now: u64,
}

impl Smoother {
    /// A smoother for the configured read points.
    pub fn new(params: SmoothingParams, read_points: &ReadPoints) -> Self {
        let points: Vec<ReadPoint> = read_points.iter().cloned().collect();
        let states = points.iter().map(|_| PointState::default()).collect();
        Smoother {
            params,
            points,
            states,
            now: 0,
        }
    }

    /// Tags currently present at all read points.
    pub fn present_tags(&self) -> usize {
        self.states.iter().map(|state| state.present.len()).sum()
    }

    /// Takes one read; events that became due by the read's time are appended to `events`.
    pub fn push(&mut self, read: &TagRead, events: &mut Vec<SmoothedEvent>) -> ReadOutcome {
        self.advance(read.seen_at, events);
        let Some(index) = self.point_index(read) else {
            return ReadOutcome::NoReadPoint;
        };
        let now = self.now;
        let capture_tid = self.points[index].capture_tid;
        let state = &mut self.states[index];
        if let Some(presence) = state.present.get_mut(&read.epc) {
            presence.last_seen = now;
            if capture_tid
                && let (Some(uri), Some(tid), Some(cycle)) =
                    (&presence.epc_uri, &read.tid, state.cycle.as_mut())
                && let Some(slot) = cycle.tags.get_mut(uri)
                && slot.is_none()
            {
                *slot = Some(tid.clone());
            }
            return ReadOutcome::Refreshed;
        }
        match epcis::tds::EpcTag::from_bytes(&read.epc) {
            Ok(tag) => {
                let uri = tag.id_uri();
                let cycle = state.cycle.get_or_insert_with(|| Cycle {
                    opened: now,
                    last_arrival: now,
                    tags: BTreeMap::new(),
                });
                cycle.last_arrival = now;
                cycle.tags.insert(
                    uri.clone(),
                    if capture_tid { read.tid.clone() } else { None },
                );
                state.note_arrival(now);
                state.present.insert(
                    read.epc.clone(),
                    Presence {
                        last_seen: now,
                        epc_uri: Some(uri),
                    },
                );
                ReadOutcome::Arrived
            }
            Err(error) => {
                state.note_arrival(now);
                state.present.insert(
                    read.epc.clone(),
                    Presence {
                        last_seen: now,
                        epc_uri: None,
                    },
                );
                ReadOutcome::Undecodable {
                    epc_hex: crate::read::to_hex(&read.epc),
                    reason: error.to_string(),
                }
            }
        }
    }

    /// Moves time forward to `now`: closes due cycles and reports departures, in read point order.
    pub fn advance(&mut self, now: UnixMillis, events: &mut Vec<SmoothedEvent>) {
        self.now = self.now.max(now.as_millis());
        let now = self.now;
        let cycle_ms = self.params.cycle_ms();
        let absence_ms = self.params.absence_ms();
        for (point, state) in self.points.iter().zip(self.states.iter_mut()) {
            if state
                .cycle
                .as_ref()
                .is_some_and(|cycle| now >= cycle.opened.saturating_add(cycle_ms))
                && let Some(cycle) = state.cycle.take()
            {
                emit_arrivals(events, point, cycle, self.params);
            }
            // Departures are gathered like arrivals: once the first present tag's absence has
            // run out, a cycle later every tag whose absence ran out by then departs in one event.
            if !state.present.is_empty()
                && now
                    >= state
                        .earliest_last_seen
                        .saturating_add(absence_ms)
                        .saturating_add(cycle_ms)
            {
                let mut departed = BTreeMap::new();
                let mut last_seen = 0;
                state.present.retain(|_, presence| {
                    if now < presence.last_seen.saturating_add(absence_ms) {
                        return true;
                    }
                    if let Some(uri) = presence.epc_uri.take() {
                        last_seen = last_seen.max(presence.last_seen);
                        departed.insert(uri, None);
                    }
                    false
                });
                state.earliest_last_seen = state
                    .present
                    .values()
                    .map(|presence| presence.last_seen)
                    .min()
                    .unwrap_or(now);
                if !departed.is_empty() {
                    let tags = departed
                        .into_iter()
                        .map(|(epc_uri, tid)| SeenTag { epc_uri, tid });
                    emit(
                        events,
                        point,
                        Transition::Departure,
                        last_seen,
                        tags,
                        self.params,
                    );
                }
            }
        }
    }

    /// Closes every open cycle now (at shutdown), whatever its age; departures are not forced.
    pub fn flush(&mut self, events: &mut Vec<SmoothedEvent>) {
        for (point, state) in self.points.iter().zip(self.states.iter_mut()) {
            if let Some(cycle) = state.cycle.take() {
                emit_arrivals(events, point, cycle, self.params);
            }
        }
    }

    fn point_index(&self, read: &TagRead) -> Option<usize> {
        self.points
            .iter()
            .position(|point| point.reader == read.reader && point.antenna == Some(read.antenna))
            .or_else(|| {
                self.points
                    .iter()
                    .position(|point| point.reader == read.reader && point.antenna.is_none())
            })
    }
}

/// The arrival events of a closed cycle.
fn emit_arrivals(
    events: &mut Vec<SmoothedEvent>,
    point: &ReadPoint,
    cycle: Cycle,
    params: SmoothingParams,
) {
    let tags = cycle
        .tags
        .into_iter()
        .map(|(epc_uri, tid)| SeenTag { epc_uri, tid });
    emit(
        events,
        point,
        Transition::Arrival,
        cycle.last_arrival,
        tags,
        params,
    );
}

fn emit(
    events: &mut Vec<SmoothedEvent>,
    point: &ReadPoint,
    transition: Transition,
    time: u64,
    tags: impl Iterator<Item = SeenTag>,
    params: SmoothingParams,
) {
    let tags: Vec<SeenTag> = tags.collect();
    for chunk in tags.chunks(params.max_epcs_per_event) {
        events.push(SmoothedEvent {
            read_point: point.clone(),
            transition,
            event_time: UnixMillis::from_millis(time),
            tags: chunk.to_vec(),
            params,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;
    use crate::read::ReaderId;
    use epcis::document::Action;

    fn params(max: usize) -> SmoothingParams {
        SmoothingParams::new(
            Duration::from_millis(1000),
            Duration::from_millis(3000),
            max,
        )
        .unwrap()
    }

    fn points() -> ReadPoints {
        ReadPoints::new(vec![ReadPoint {
            reader: ReaderId::parse("door").unwrap(),
            antenna: None,
            read_point: Location::parse("urn:epc:id:sgln:0614141.00777.0").unwrap(),
            biz_location: None,
            biz_step: Some("receiving".into()),
            disposition: None,
            action: Action::Observe,
            capture_tid: true,
        }])
    }

    /// An SGTIN-96 with the given serial (company prefix 0614141, item 812345).
    fn sgtin(serial: u64) -> Bytes {
        let sgtin = epcis::epc::Sgtin::new("0614141", "812345", &serial.to_string()).unwrap();
        let tag =
            epcis::tds::Sgtin96::from_sgtin(&sgtin, epcis::tds::Filter::new(1).unwrap()).unwrap();
        Bytes::copy_from_slice(&tag.to_bytes())
    }

    fn read(epc: Bytes, at: u64) -> TagRead {
        TagRead {
            reader: ReaderId::parse("door").unwrap(),
            antenna: 1,
            epc,
            tid: None,
            rssi_centi_dbm: None,
            seen_at: UnixMillis::from_millis(at),
        }
    }

    #[test]
    fn a_tag_read_many_times_in_a_cycle_is_one_arrival() {
        let mut smoother = Smoother::new(params(10), &points());
        let mut events = Vec::new();
        for at in (0..900).step_by(10) {
            smoother.push(&read(sgtin(1), 1_000_000 + at), &mut events);
            smoother.push(&read(sgtin(2), 1_000_000 + at + 5), &mut events);
        }
        assert!(events.is_empty());
        smoother.advance(UnixMillis::from_millis(1_001_000), &mut events);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].transition, Transition::Arrival);
        let uris: Vec<&str> = events[0]
            .tags
            .iter()
            .map(|tag| tag.epc_uri.as_str())
            .collect();
        assert_eq!(
            uris,
            [
                "urn:epc:id:sgtin:0614141.812345.1",
                "urn:epc:id:sgtin:0614141.812345.2"
            ]
        );
        assert_eq!(events[0].event_time.as_millis(), 1_000_005);
    }

    #[test]
    fn a_tag_unseen_for_the_absence_departs_and_can_arrive_again() {
        let mut smoother = Smoother::new(params(10), &points());
        let mut events = Vec::new();
        smoother.push(&read(sgtin(1), 10_000), &mut events);
        // Absence 3 s, then the departure cycle of 1 s.
        smoother.advance(UnixMillis::from_millis(13_999), &mut events);
        assert_eq!(events.len(), 1);
        smoother.advance(UnixMillis::from_millis(14_000), &mut events);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].transition, Transition::Departure);
        assert_eq!(events[1].event_time.as_millis(), 10_000);
        assert_eq!(smoother.present_tags(), 0);
        smoother.push(&read(sgtin(1), 20_000), &mut events);
        smoother.advance(UnixMillis::from_millis(21_000), &mut events);
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].transition, Transition::Arrival);
    }

    #[test]
    fn tags_whose_absence_runs_out_within_one_cycle_depart_in_one_event() {
        let mut smoother = Smoother::new(params(10), &points());
        let mut events = Vec::new();
        // Three tags last seen 100 ms apart, a fourth 1.5 s later.
        for (serial, at) in [(1, 10_000), (2, 10_100), (3, 10_200), (4, 11_500)] {
            smoother.push(&read(sgtin(serial), at), &mut events);
        }
        // The bridge advances every 100 ms.
        for now in (11_000..=16_000).step_by(100) {
            smoother.advance(UnixMillis::from_millis(now), &mut events);
        }
        let departures: Vec<&SmoothedEvent> = events
            .iter()
            .filter(|event| event.transition == Transition::Departure)
            .collect();
        assert_eq!(departures.len(), 2, "{departures:#?}");
        assert_eq!(departures[0].tags.len(), 3);
        assert_eq!(departures[0].event_time.as_millis(), 10_200);
        assert_eq!(departures[1].tags.len(), 1);
        assert_eq!(departures[1].event_time.as_millis(), 11_500);
    }

    #[test]
    fn a_large_cycle_is_split_at_the_maximum() {
        let mut smoother = Smoother::new(params(4), &points());
        let mut events = Vec::new();
        for serial in 0..10 {
            smoother.push(&read(sgtin(serial), 5_000 + serial), &mut events);
        }
        smoother.advance(UnixMillis::from_millis(6_000), &mut events);
        assert_eq!(
            events
                .iter()
                .map(|event| event.tags.len())
                .collect::<Vec<_>>(),
            [4, 4, 2]
        );
    }

    #[test]
    fn an_undecodable_epc_is_reported_once_per_arrival_and_kept_out_of_events() {
        let mut smoother = Smoother::new(params(10), &points());
        let mut events = Vec::new();
        let junk = Bytes::from_static(&[0xFF, 0xEE, 0xDD, 0xCC]);
        let first = smoother.push(&read(junk.clone(), 1_000), &mut events);
        assert!(
            matches!(&first, ReadOutcome::Undecodable { epc_hex, .. } if epc_hex == "FFEEDDCC"),
            "{first:?}"
        );
        assert_eq!(
            smoother.push(&read(junk, 1_100), &mut events),
            ReadOutcome::Refreshed
        );
        smoother.advance(UnixMillis::from_millis(10_000), &mut events);
        assert!(events.is_empty());
    }

    #[test]
    fn a_read_from_an_unconfigured_reader_is_reported() {
        let mut smoother = Smoother::new(params(10), &points());
        let mut stray = read(sgtin(1), 1_000);
        stray.reader = ReaderId::parse("elsewhere").unwrap();
        assert_eq!(
            smoother.push(&stray, &mut Vec::new()),
            ReadOutcome::NoReadPoint
        );
    }

    #[test]
    fn the_first_tid_reported_in_the_cycle_is_kept() {
        let mut smoother = Smoother::new(params(10), &points());
        let mut events = Vec::new();
        smoother.push(&read(sgtin(1), 1_000), &mut events);
        let mut with_tid = read(sgtin(1), 1_010);
        with_tid.tid = Some(Bytes::from_static(&[0xE2, 0x80, 0x11, 0x60]));
        smoother.push(&with_tid, &mut events);
        smoother.flush(&mut events);
        assert_eq!(
            events[0].tags[0].tid.as_deref(),
            Some(&[0xE2, 0x80, 0x11, 0x60][..])
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert_eq!(
            SmoothingParams::new(Duration::ZERO, Duration::from_secs(1), 1),
            Err(SmoothingError::ZeroCycle)
        );
        assert_eq!(
            SmoothingParams::new(Duration::from_secs(2), Duration::from_secs(1), 1),
            Err(SmoothingError::AbsenceShorterThanCycle)
        );
        assert_eq!(
            SmoothingParams::new(Duration::from_secs(1), Duration::from_secs(1), 0),
            Err(SmoothingError::BadMaxEpcs)
        );
    }
}
