//! The reader simulator's model: a population of SGTIN-96 tags and the stream of tag notices a
//! JRD module reports while they pass through its field. Deterministic for a seed, so tests and
//! benchmarks replay exactly the same stream.
//!
//! [`crate::serial::SimulatedJrdModule`] plays this stream on a pseudo-terminal, answering the
//! host's commands as a JRD module does (`firmware-bridge simulate`).
//!
//! For MQTT, the same stream is written as the JSON that fixed readers publish
//! ([`zebra_tag_data`], [`impinj_tag_inventory`]) and a [`SensorWalk`] produces sensor telemetry
//! in tagtrail's format ([`sensor_telemetry`]); [`crate::mqtt::SimulatedPublisher`] publishes
//! them (`firmware-bridge simulate --mqtt`).

use bytes::{Bytes, BytesMut};
use ledger::UnixMillis;
use serde_json::{Value, json};

use crate::codec::jrd::TagNotice;
use crate::read::{format_time, to_hex};

/// A small, fast, deterministic pseudo-random generator (xorshift64*), so that simulated streams
/// are reproducible without a dependency.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from a seed (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Xorshift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `bytes` with random bytes (reproducible test keys and salts; nothing secret).
    pub fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// A value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A population of SGTIN-96 tags of one product (company prefix 0614141, item reference 812345),
/// with consecutive serial numbers.
#[derive(Debug, Clone)]
pub struct TagPopulation {
    epcs: Vec<Bytes>,
}

impl TagPopulation {
    /// `count` tags with serials `first_serial..first_serial + count`.
    pub fn sgtin96(count: usize, first_serial: u64) -> Self {
        let epcs = (0..count as u64)
            .map(|offset| Bytes::copy_from_slice(&sgtin96_bytes(first_serial + offset)))
            .collect();
        TagPopulation { epcs }
    }

    /// The tags' EPC bytes.
    pub fn epcs(&self) -> &[Bytes] {
        &self.epcs
    }
}

/// The 96 bits of `urn:epc:id:sgtin:0614141.812345.<serial>` with filter 1 (point of sale item),
/// laid out by hand per the Tag Data Standard (header 0x30, partition 5 = 7-digit company prefix).
pub fn sgtin96_bytes(serial: u64) -> [u8; 12] {
    let header: u128 = 0x30;
    let filter: u128 = 1;
    let partition: u128 = 5;
    let company: u128 = 614_141;
    let item: u128 = 812_345;
    let serial = u128::from(serial & ((1 << 38) - 1));
    let bits = header << 88 | filter << 85 | partition << 82 | company << 58 | item << 38 | serial;
    let bytes = bits.to_be_bytes();
    let mut out = [0u8; 12];
    out.copy_from_slice(&bytes[4..]);
    out
}

/// One notice at a time offset from the start of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedNotice {
    /// Milliseconds since the pass began.
    pub at_ms: u64,
    /// The notice.
    pub notice: TagNotice,
}

/// A pallet of tags moving through a portal: each tag is in the field for a window of the pass
/// and is reported `reads_per_tag` times at random moments of its window.
pub fn portal_pass(
    population: &TagPopulation,
    pass_ms: u64,
    reads_per_tag: usize,
    seed: u64,
) -> Vec<TimedNotice> {
    let mut rng = Xorshift::new(seed);
    let mut notices = Vec::with_capacity(population.epcs().len() * reads_per_tag);
    for epc in population.epcs() {
        let enter = rng.below(pass_ms / 2 + 1);
        let stay = pass_ms / 4 + rng.below(pass_ms / 4 + 1);
        for _ in 0..reads_per_tag {
            let at_ms = enter + rng.below(stay + 1);
            let rssi = -40 - i8::try_from(rng.below(40)).unwrap_or(0);
            // A 96-bit EPC always fits a notice, so this cannot fail.
            if let Ok(notice) = TagNotice::new(rssi, 0, epc.clone()) {
                notices.push(TimedNotice { at_ms, notice });
            }
        }
    }
    notices.sort_by_key(|timed| timed.at_ms);
    notices
}

/// The bytes of a stream of notices, as the module would write them to the serial line.
pub fn notice_bytes(notices: &[TimedNotice]) -> Bytes {
    let mut out = BytesMut::with_capacity(notices.len() * 24);
    for timed in notices {
        timed.notice.to_frame().encode_into(&mut out);
    }
    out.freeze()
}

/// One Zebra IoT Connector message (an array of tag data events) for `notices` seen by `antenna`
/// at `time`, with the `+0000` offset Zebra readers write.
pub fn zebra_tag_data(notices: &[&TagNotice], antenna: u16, time: UnixMillis) -> String {
    let formatted = format_time(time);
    let timestamp = match formatted.strip_suffix('Z') {
        Some(head) => format!("{head}+0000"),
        None => formatted,
    };
    let events: Vec<Value> = notices
        .iter()
        .map(|notice| {
            json!({
                "type": "SIMPLE",
                "timestamp": timestamp,
                "data": {
                    "idHex": to_hex(notice.epc()).to_ascii_lowercase(),
                    "antenna": antenna,
                    "peakRssi": notice.rssi_dbm(),
                    "reads": 1,
                },
            })
        })
        .collect();
    Value::Array(events).to_string()
}

/// One Impinj IoT device interface message (an array of `tagInventory` events) for `notices` seen
/// by `antenna` at `time`.
pub fn impinj_tag_inventory(notices: &[&TagNotice], antenna: u16, time: UnixMillis) -> String {
    let timestamp = format_time(time);
    let events: Vec<Value> = notices
        .iter()
        .map(|notice| {
            json!({
                "timestamp": timestamp,
                "hostname": "tagtrail-simulator",
                "eventType": "tagInventory",
                "tagInventoryEvent": {
                    "epcHex": to_hex(notice.epc()),
                    "antennaPort": antenna,
                    "peakRssiCdbm": i32::from(notice.rssi_dbm()) * 100,
                    "lastSeenTime": timestamp,
                },
            })
        })
        .collect();
    Value::Array(events).to_string()
}

/// One sensor telemetry message in tagtrail's format (see [`crate::adapter::sensor`]).
pub fn sensor_telemetry(time: UnixMillis, readings: &[(&str, f64)]) -> String {
    let readings: serde_json::Map<String, Value> = readings
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .collect();
    json!({"time": format_time(time), "readings": readings}).to_string()
}

/// A cold room's temperature (°C) and relative humidity (%), wandering slowly around 4 °C and
/// 60 %, rounded to hundredths. Deterministic for a seed.
#[derive(Debug, Clone)]
pub struct SensorWalk {
    rng: Xorshift,
    temperature: f64,
    humidity: f64,
}

impl SensorWalk {
    /// A walk starting at 4 °C and 60 %.
    pub fn new(seed: u64) -> Self {
        SensorWalk {
            rng: Xorshift::new(seed),
            temperature: 4.0,
            humidity: 60.0,
        }
    }

    /// The next readings: `temperature` and `humidity`.
    pub fn next_readings(&mut self) -> [(&'static str, f64); 2] {
        let step = |rng: &mut Xorshift, value: f64, centre: f64, spread: f64| {
            // A random step, pulled back towards the centre so the walk stays plausible.
            let next = value + (rng.unit() - 0.5) * spread - (value - centre) * 0.1;
            (next * 100.0).round() / 100.0
        };
        self.temperature = step(&mut self.rng, self.temperature, 4.0, 0.4);
        self.humidity = step(&mut self.rng, self.humidity, 60.0, 2.0).clamp(0.0, 100.0);
        [
            ("temperature", self.temperature),
            ("humidity", self.humidity),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::sensor::{MeasurementMap, parse_telemetry};
    use crate::read::ReaderId;

    #[test]
    fn simulated_zebra_and_impinj_messages_parse_back_to_the_same_tags() {
        let population = TagPopulation::sgtin96(3, 100);
        let notices: Vec<TagNotice> = population
            .epcs()
            .iter()
            .map(|epc| TagNotice::new(-52, 0, epc.clone()).unwrap())
            .collect();
        let refs: Vec<&TagNotice> = notices.iter().collect();
        let time = UnixMillis::from_millis(1_700_000_000_123);
        let reader = ReaderId::parse("sim").unwrap();
        let zebra = crate::adapter::zebra::parse_tag_data(
            &reader,
            zebra_tag_data(&refs, 2, time).as_bytes(),
        )
        .unwrap();
        let impinj = crate::adapter::impinj::parse_tag_inventory(
            &reader,
            impinj_tag_inventory(&refs, 2, time).as_bytes(),
        )
        .unwrap();
        for reads in [&zebra, &impinj] {
            let epcs: Vec<&[u8]> = reads.iter().map(|read| &read.epc[..]).collect();
            let expected: Vec<&[u8]> = population.epcs().iter().map(|epc| &epc[..]).collect();
            assert_eq!(epcs, expected);
            assert!(
                reads
                    .iter()
                    .all(|read| read.antenna == 2 && read.seen_at == time)
            );
        }
        assert_eq!(zebra[0].rssi_centi_dbm, impinj[0].rssi_centi_dbm);
    }

    #[test]
    fn simulated_telemetry_parses_to_temperature_and_humidity() {
        let mut walk = SensorWalk::new(5);
        let readings = walk.next_readings();
        let time = UnixMillis::from_millis(1_700_000_000_000);
        let samples = parse_telemetry(
            &MeasurementMap::standard(),
            sensor_telemetry(time, &readings).as_bytes(),
        )
        .unwrap();
        let kinds: Vec<(&str, &str)> = samples[0]
            .reports
            .iter()
            .map(|r| (r.measurement.kind.as_str(), r.measurement.uom.as_str()))
            .collect();
        assert_eq!(kinds, [("RelativeHumidity", "P1"), ("Temperature", "CEL")]);
        assert!(samples[0].unmapped.is_empty());
        assert!((3.0..5.0).contains(&readings[0].1), "{readings:?}");
    }

    #[test]
    fn the_hand_built_sgtin96_is_the_tag_data_standard_encoding() {
        // The TDS example: urn:epc:id:sgtin:0614141.812345.6789 with filter 3 is 3074257BF7194E4000001A85;
        // with filter 1 only the three filter bits change (0x74 -> 0x34).
        let epc = sgtin96_bytes(6789);
        assert_eq!(crate::read::to_hex(&epc), "3034257BF7194E4000001A85");
        let tag = epcis::tds::EpcTag::from_bytes(&epc).unwrap();
        assert_eq!(tag.id_uri(), "urn:epc:id:sgtin:0614141.812345.6789");
    }

    #[test]
    fn the_same_seed_gives_the_same_pass() {
        let population = TagPopulation::sgtin96(50, 1);
        assert_eq!(
            portal_pass(&population, 3000, 4, 42),
            portal_pass(&population, 3000, 4, 42)
        );
        assert_ne!(
            portal_pass(&population, 3000, 4, 42),
            portal_pass(&population, 3000, 4, 43)
        );
    }
}
