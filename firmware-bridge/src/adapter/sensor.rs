//! Sensor telemetry over MQTT, in tagtrail's documented JSON format, mapped per topic to GS1 CBV
//! measurement types and UN/ECE Recommendation 20 units.
//!
//! ```json
//! {"time": "2026-11-22T03:00:00.000Z", "readings": {"temperature": 4.2, "humidity": 61.5}}
//! ```
//!
//! `time` is RFC 3339; `readings` maps a measurement name to a number. Each topic has a
//! [`MeasurementMap`] from names to a CBV measurement type and unit; [`MeasurementMap::standard`]
//! knows `temperature` (Temperature, CEL), `humidity` (RelativeHumidity, P1 = percent), `shock`
//! (Acceleration, MSK = m/s²), `pressure` (Pressure, KPA) and `light` (Illuminance, LUX). A name with
//! no mapping is listed in [`SensorSample::unmapped`], never silently dropped.

use std::collections::BTreeMap;
use std::fmt;

use ledger::UnixMillis;
use serde::Deserialize;
use serde_json::Value;

use super::{AdapterError, objects, required_string, value_error};
use crate::read::parse_time;

/// A CBV 2.0 measurement type word (`Temperature`) or a URI for a non-standard one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeasurementType(String);

/// A UN/ECE Recommendation 20 unit code: 2 or 3 upper-case letters or digits (`CEL`, `P1`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uom(String);

/// A measurement type or unit that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasurementError {
    /// Not a CBV measurement type and not a URI.
    #[error(
        "measurement type {0:?}: must be a CBV 2.0 measurement type (such as Temperature) or a URI"
    )]
    UnknownType(String),
    /// Not a Recommendation 20 code.
    #[error(
        "unit {0:?}: must be a UN/ECE Recommendation 20 code of 2 or 3 upper-case letters or digits"
    )]
    BadUom(String),
}

impl MeasurementType {
    /// Parses a measurement type.
    pub fn parse(text: &str) -> Result<Self, MeasurementError> {
        let standard = epcis::vocab::is_standard_measurement_type(text);
        let uri = text.contains(':') && !text.contains(char::is_whitespace);
        if standard || uri {
            Ok(MeasurementType(text.to_owned()))
        } else {
            Err(MeasurementError::UnknownType(text.to_owned()))
        }
    }

    /// The type as written in an event.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Uom {
    /// Parses a unit code.
    pub fn parse(text: &str) -> Result<Self, MeasurementError> {
        let ok = (2..=3).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Uom(text.to_owned()))
        } else {
            Err(MeasurementError::BadUom(text.to_owned()))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MeasurementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MeasurementType({})", self.0)
    }
}

impl fmt::Debug for Uom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uom({})", self.0)
    }
}

/// What one reading name means: its measurement type and unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement {
    /// The CBV measurement type.
    pub kind: MeasurementType,
    /// The unit the sensor reports in.
    pub uom: Uom,
}

/// A measurement as written in the configuration: `{ type = "Temperature", uom = "CEL" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSpec {
    /// CBV measurement type.
    #[serde(rename = "type")]
    pub kind: String,
    /// UN/ECE Recommendation 20 unit.
    pub uom: String,
}

impl TryFrom<&MeasurementSpec> for Measurement {
    type Error = MeasurementError;

    fn try_from(spec: &MeasurementSpec) -> Result<Self, MeasurementError> {
        Ok(Measurement {
            kind: MeasurementType::parse(&spec.kind)?,
            uom: Uom::parse(&spec.uom)?,
        })
    }
}

/// Reading name → measurement, for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeasurementMap(BTreeMap<String, Measurement>);

impl MeasurementMap {
    /// The standard names (see the module documentation).
    pub fn standard() -> Self {
        let mut map = BTreeMap::new();
        for (name, kind, uom) in [
            ("temperature", "Temperature", "CEL"),
            ("humidity", "RelativeHumidity", "P1"),
            ("shock", "Acceleration", "MSK"),
            ("pressure", "Pressure", "KPA"),
            ("light", "Illuminance", "LUX"),
        ] {
            map.insert(
                name.to_owned(),
                Measurement {
                    kind: MeasurementType(kind.to_owned()),
                    uom: Uom(uom.to_owned()),
                },
            );
        }
        MeasurementMap(map)
    }

    /// The standard names plus (overriding them) the configured ones.
    pub fn with_overrides(
        specs: &BTreeMap<String, MeasurementSpec>,
    ) -> Result<Self, MeasurementError> {
        let mut map = Self::standard();
        for (name, spec) in specs {
            map.0.insert(name.clone(), Measurement::try_from(spec)?);
        }
        Ok(map)
    }

    /// The measurement a name stands for.
    pub fn get(&self, name: &str) -> Option<&Measurement> {
        self.0.get(name)
    }
}

/// One reported value.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorReport {
    /// What was measured.
    pub measurement: Measurement,
    /// The value, in `measurement.uom`.
    pub value: f64,
}

/// One telemetry message, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSample {
    /// When the sensor measured.
    pub time: UnixMillis,
    /// The mapped readings, in name order.
    pub reports: Vec<SensorReport>,
    /// Reading names this topic has no mapping for (reported, not dropped silently).
    pub unmapped: Vec<String>,
}

/// Parses one telemetry payload (an object or an array of objects) with a topic's map.
pub fn parse_telemetry(
    map: &MeasurementMap,
    payload: &[u8],
) -> Result<Vec<SensorSample>, AdapterError> {
    let mut samples = Vec::new();
    for (base, object) in objects(payload)? {
        let time = parse_time("time", required_string(&object, &base, "time")?)
            .map_err(value_error(&base, "time"))?;
        let Some(readings) = object.get("readings").and_then(Value::as_object) else {
            return Err(AdapterError::Field {
                pointer: format!("{base}/readings"),
                rule: "must be an object",
            });
        };
        let mut names: Vec<&String> = readings.keys().collect();
        names.sort();
        let mut reports = Vec::new();
        let mut unmapped = Vec::new();
        for name in names {
            let Some(value) = readings
                .get(name)
                .and_then(Value::as_f64)
                .filter(|value| value.is_finite())
            else {
                return Err(AdapterError::Field {
                    pointer: format!("{base}/readings/{}", escape_pointer(name)),
                    rule: "must be a finite number",
                });
            };
            match map.get(name) {
                Some(measurement) => reports.push(SensorReport {
                    measurement: measurement.clone(),
                    value,
                }),
                None => unmapped.push(name.clone()),
            }
        }
        samples.push(SensorSample {
            time,
            reports,
            unmapped,
        });
    }
    Ok(samples)
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_telemetry_message_maps_to_cbv_measurements() {
        let payload = br#"{"time":"2026-11-22T03:00:00.000Z","readings":{"temperature":4.25,"humidity":61.5,"battery":3.1}}"#;
        let samples = parse_telemetry(&MeasurementMap::standard(), payload).unwrap();
        let [sample] = &samples[..] else {
            panic!("one sample")
        };
        let kinds: Vec<(&str, &str, f64)> = sample
            .reports
            .iter()
            .map(|r| {
                (
                    r.measurement.kind.as_str(),
                    r.measurement.uom.as_str(),
                    r.value,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("RelativeHumidity", "P1", 61.5),
                ("Temperature", "CEL", 4.25)
            ]
        );
        assert_eq!(sample.unmapped, ["battery"]);
    }

    #[test]
    fn a_configured_mapping_overrides_the_standard_one() {
        let mut specs = BTreeMap::new();
        specs.insert(
            "temperature".to_owned(),
            MeasurementSpec {
                kind: "Temperature".into(),
                uom: "FAH".into(),
            },
        );
        let map = MeasurementMap::with_overrides(&specs).unwrap();
        assert_eq!(map.get("temperature").unwrap().uom.as_str(), "FAH");
    }

    #[test]
    fn an_unknown_measurement_type_is_refused() {
        let spec = MeasurementSpec {
            kind: "Warmth".into(),
            uom: "CEL".into(),
        };
        assert_eq!(
            Measurement::try_from(&spec),
            Err(MeasurementError::UnknownType("Warmth".into()))
        );
        assert!(Uom::parse("cel").is_err());
    }

    #[test]
    fn a_non_numeric_reading_is_refused_with_its_pointer() {
        let payload = br#"{"time":"2026-11-22T03:00:00Z","readings":{"temperature":"warm"}}"#;
        let error = parse_telemetry(&MeasurementMap::standard(), payload).unwrap_err();
        assert_eq!(
            error,
            AdapterError::Field {
                pointer: "/readings/temperature".into(),
                rule: "must be a finite number"
            }
        );
    }
}
