//! Impinj fixed readers (IoT device interface, e.g. R700): tag inventory events.
//!
//! One MQTT message carries one event or an array of them:
//!
//! ```json
//! {"timestamp": "2023-04-12T10:01:02.123456Z", "hostname": "impinj-14-1f-2b",
//!  "eventType": "tagInventory",
//!  "tagInventoryEvent": {"epcHex": "3074257BF7194E4000001A85", "tidHex": "E2801190...",
//!                        "antennaPort": 1, "peakRssiCdbm": -5600,
//!                        "lastSeenTime": "2023-04-12T10:01:02.120000Z"}}
//! ```
//!
//! Used: `eventType` (events other than `tagInventory`, such as status events, yield no reads),
//! `tagInventoryEvent.epcHex` (required), `.antennaPort` (required), `.tidHex`, `.peakRssiCdbm`,
//! `.lastSeenTime` (falling back to the event's `timestamp`). Other members are ignored.

use super::{AdapterError, antenna, integer, objects, required_string, string, value_error};
use crate::read::{ReaderId, TagRead, parse_hex, parse_time};

/// Parses one MQTT payload of IoT device interface events into reads by `reader`.
pub fn parse_tag_inventory(
    reader: &ReaderId,
    payload: &[u8],
) -> Result<Vec<TagRead>, AdapterError> {
    let mut reads = Vec::new();
    for (base, event) in objects(payload)? {
        if required_string(&event, &base, "eventType")? != "tagInventory" {
            continue;
        }
        let inner_pointer = format!("{base}/tagInventoryEvent");
        let Some(inner) = event
            .get("tagInventoryEvent")
            .and_then(|inner| inner.as_object())
        else {
            return Err(AdapterError::Field {
                pointer: inner_pointer,
                rule: "must be an object",
            });
        };
        let seen_at = match string(inner, &inner_pointer, "lastSeenTime")? {
            Some(time) => parse_time("lastSeenTime", time)
                .map_err(value_error(&inner_pointer, "lastSeenTime"))?,
            None => parse_time("timestamp", required_string(&event, &base, "timestamp")?)
                .map_err(value_error(&base, "timestamp"))?,
        };
        let epc = parse_hex("epcHex", required_string(inner, &inner_pointer, "epcHex")?)
            .map_err(value_error(&inner_pointer, "epcHex"))?;
        let tid = string(inner, &inner_pointer, "tidHex")?
            .map(|tid| parse_hex("tidHex", tid).map_err(value_error(&inner_pointer, "tidHex")))
            .transpose()?;
        let rssi = integer(inner, &inner_pointer, "peakRssiCdbm")?
            .map(|cdbm| {
                i32::try_from(cdbm).map_err(|_| AdapterError::Field {
                    pointer: format!("{inner_pointer}/peakRssiCdbm"),
                    rule: "out of range",
                })
            })
            .transpose()?;
        reads.push(TagRead {
            reader: reader.clone(),
            antenna: antenna(inner, &inner_pointer, "antennaPort")?,
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
        ReaderId::parse("r700-line-1").unwrap()
    }

    #[test]
    fn a_tag_inventory_event_becomes_a_read() {
        let payload = br#"{"timestamp":"2023-04-12T10:01:02.123456Z","hostname":"impinj-14-1f-2b",
            "eventType":"tagInventory","tagInventoryEvent":{"epc":"MHQle/cZTkAAABqF",
            "epcHex":"3074257BF7194E4000001A85","tidHex":"E2801190200051E0A5BA0301",
            "antennaPort":3,"antennaName":"","peakRssiCdbm":-5600,"frequency":915250,
            "lastSeenTime":"2023-04-12T10:01:02.120000Z"}}"#;
        let reads = parse_tag_inventory(&reader(), payload).unwrap();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].antenna, 3);
        assert_eq!(reads[0].rssi_centi_dbm, Some(-5600));
        assert_eq!(
            crate::read::to_hex(&reads[0].epc),
            "3074257BF7194E4000001A85"
        );
        assert!(reads[0].tid.is_some());
        // 2023-04-12T10:01:02.120Z
        assert_eq!(reads[0].seen_at.as_millis(), 1_681_293_662_120);
    }

    #[test]
    fn a_status_event_yields_no_reads() {
        let payload = br#"{"timestamp":"2023-04-12T10:01:02Z","eventType":"inventoryStatus","inventoryStatusEvent":{"inventoryStatus":"running"}}"#;
        assert_eq!(parse_tag_inventory(&reader(), payload).unwrap(), vec![]);
    }

    #[test]
    fn an_antenna_port_of_zero_is_refused() {
        let payload = br#"{"timestamp":"2023-04-12T10:01:02Z","eventType":"tagInventory","tagInventoryEvent":{"epcHex":"AAAA","antennaPort":0}}"#;
        let error = parse_tag_inventory(&reader(), payload).unwrap_err();
        assert!(
            matches!(error, AdapterError::Field { ref pointer, .. } if pointer == "/tagInventoryEvent/antennaPort")
        );
    }
}
