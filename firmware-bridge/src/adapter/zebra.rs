//! Zebra FX / ATR fixed readers (IoT Connector): tag data events.
//!
//! One MQTT message carries one event or an array of them:
//!
//! ```json
//! {"type": "SIMPLE", "timestamp": "2019-06-10T14:31:58.371+0000",
//!  "data": {"idHex": "3074257bf7194e4000001a85", "antenna": 2, "peakRssi": -52, "TID": "e2801160..."}}
//! ```
//!
//! Used: `timestamp`, `data.idHex` (required), `data.antenna` (required), `data.peakRssi` (dBm,
//! optional) and the TID (`data.TID` or `data.tid`, hex, optional). Other members are ignored.

use super::{AdapterError, antenna, integer, objects, required_string, string, value_error};
use crate::read::{ReaderId, TagRead, parse_hex, parse_time};

/// Parses one MQTT payload of tag data events into reads by `reader`.
pub fn parse_tag_data(reader: &ReaderId, payload: &[u8]) -> Result<Vec<TagRead>, AdapterError> {
    let mut reads = Vec::new();
    for (base, event) in objects(payload)? {
        let time = required_string(&event, &base, "timestamp")?;
        let seen_at = parse_time("timestamp", time).map_err(value_error(&base, "timestamp"))?;
        let data_pointer = format!("{base}/data");
        let Some(data) = event.get("data").and_then(|data| data.as_object()) else {
            return Err(AdapterError::Field {
                pointer: data_pointer,
                rule: "must be an object",
            });
        };
        let epc = parse_hex("idHex", required_string(data, &data_pointer, "idHex")?)
            .map_err(value_error(&data_pointer, "idHex"))?;
        let (tid_key, tid) = match string(data, &data_pointer, "TID")? {
            Some(tid) => ("TID", Some(tid)),
            None => ("tid", string(data, &data_pointer, "tid")?),
        };
        let tid = tid
            .map(|tid| parse_hex("TID", tid).map_err(value_error(&data_pointer, tid_key)))
            .transpose()?;
        let rssi = integer(data, &data_pointer, "peakRssi")?
            .map(|dbm| {
                i32::try_from(dbm)
                    .ok()
                    .and_then(|dbm| dbm.checked_mul(100))
                    .ok_or(AdapterError::Field {
                        pointer: format!("{data_pointer}/peakRssi"),
                        rule: "out of range",
                    })
            })
            .transpose()?;
        reads.push(TagRead {
            reader: reader.clone(),
            antenna: antenna(data, &data_pointer, "antenna")?,
            epc,
            tid,
            rssi_centi_dbm: rssi,
            seen_at,
        });
    }
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> ReaderId {
        ReaderId::parse("fx9600-dock").unwrap()
    }

    #[test]
    fn a_tag_data_event_becomes_a_read() {
        let payload = br#"{"type":"SIMPLE","timestamp":"2019-06-10T14:31:58.371+0000",
            "data":{"eventNum":7,"format":"epc","idHex":"3074257bf7194e4000001a85","antenna":2,
                    "peakRssi":-52,"reads":3,"TID":"E2801160600002054E0C12E1"}}"#;
        let reads = parse_tag_data(&reader(), payload).unwrap();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].antenna, 2);
        assert_eq!(reads[0].rssi_centi_dbm, Some(-5200));
        assert_eq!(
            crate::read::to_hex(&reads[0].epc),
            "3074257BF7194E4000001A85"
        );
        assert_eq!(
            crate::read::to_hex(reads[0].tid.as_ref().unwrap()),
            "E2801160600002054E0C12E1"
        );
        assert_eq!(reads[0].seen_at.as_millis(), 1_560_177_118_371);
    }

    #[test]
    fn an_array_of_events_becomes_reads_in_order() {
        let payload = br#"[{"timestamp":"2019-06-10T14:31:58.371Z","data":{"idHex":"AAAA","antenna":1}},
                           {"timestamp":"2019-06-10T14:31:58.372Z","data":{"idHex":"BBBB","antenna":1}}]"#;
        let reads = parse_tag_data(&reader(), payload).unwrap();
        assert_eq!(
            reads
                .iter()
                .map(|r| crate::read::to_hex(&r.epc))
                .collect::<Vec<_>>(),
            ["AAAA", "BBBB"]
        );
    }

    #[test]
    fn a_bad_epc_is_refused_with_its_pointer() {
        let payload = br#"[{"timestamp":"2019-06-10T14:31:58.371Z","data":{"idHex":"AAAA","antenna":1}},
                           {"timestamp":"2019-06-10T14:31:58.372Z","data":{"idHex":"XYZ","antenna":1}}]"#;
        let error = parse_tag_data(&reader(), payload).unwrap_err();
        assert!(
            matches!(&error, AdapterError::Value { pointer, .. } if pointer == "/1/data/idHex"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_antenna_is_refused() {
        let payload = br#"{"timestamp":"2019-06-10T14:31:58.371Z","data":{"idHex":"AAAA"}}"#;
        let error = parse_tag_data(&reader(), payload).unwrap_err();
        assert_eq!(
            error,
            AdapterError::Field {
                pointer: "/data/antenna".into(),
                rule: "is required"
            }
        );
    }
}
