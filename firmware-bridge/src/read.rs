//! What every reader adapter produces: one tag read, independent of the wire it came over.

use std::fmt;

use bytes::Bytes;
use epcis::hex::digit_value as hex_value;
use ledger::UnixMillis;

/// The configured name of a reader (`dock-door-3`): 1 to 64 ASCII letters, digits, `.`, `_` or `-`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReaderId(String);

/// An id, hex string or time that an adapter could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Reader ids are short, plain names.
    #[error("reader id {0:?}: must be 1 to 64 ASCII letters, digits, '.', '_' or '-'")]
    BadReaderId(String),
    /// Hex strings have an even number of hex digits.
    #[error("{field}: {reason}")]
    BadHex {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Times are RFC 3339 timestamps at or after 1970.
    #[error("{field}: {value:?} is not an RFC 3339 timestamp at or after 1970")]
    BadTime {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: String,
    },
}

impl ReaderId {
    /// Parses a reader id.
    pub fn parse(text: &str) -> Result<Self, ReadError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(ReaderId(text.to_owned()))
        } else {
            Err(ReadError::BadReaderId(text.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReaderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ReaderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReaderId({})", self.0)
    }
}

/// One sighting of one tag by one antenna.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRead {
    /// The reader that saw the tag.
    pub reader: ReaderId,
    /// The antenna port (1-based; serial modules with one antenna report 1).
    pub antenna: u16,
    /// The EPC bank's identifier bytes, as read (decoded later, so that undecodable EPCs can be
    /// reported with their bytes).
    pub epc: Bytes,
    /// The tag's TID bytes, when the reader was asked for them.
    pub tid: Option<Bytes>,
    /// Peak signal strength in hundredths of a dBm, when reported.
    pub rssi_centi_dbm: Option<i32>,
    /// When the read happened.
    pub seen_at: UnixMillis,
}

/// Decodes a hex string (either case, no separators) into bytes.
pub fn parse_hex(field: &'static str, text: &str) -> Result<Bytes, ReadError> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(ReadError::BadHex {
            field,
            reason: "an odd number of hex digits",
        });
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks_exact(2) {
        let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(ReadError::BadHex {
                field,
                reason: "a character that is not a hex digit",
            });
        };
        out.push(hi << 4 | lo);
    }
    Ok(Bytes::from(out))
}

/// Upper-case hex of `bytes` (as readers and the Tag Data Standard write the EPC bank).
pub use epcis::hex::encode_upper as to_hex;

/// Parses an RFC 3339 timestamp, also accepting the `+hhmm` offset without a colon that some
/// readers send (`2019-06-10T14:31:58.371+0000`).
pub fn parse_time(field: &'static str, text: &str) -> Result<UnixMillis, ReadError> {
    let bad = || ReadError::BadTime {
        field,
        value: text.to_owned(),
    };
    let normalised;
    let mut candidate = text;
    let bytes = text.as_bytes();
    if bytes.len() > 5 {
        let tail = &bytes[bytes.len() - 5..];
        if matches!(tail[0], b'+' | b'-')
            && tail[1..].iter().all(u8::is_ascii_digit)
            && bytes.len() > 19
        {
            let (head, offset) = text.split_at(text.len() - 2);
            normalised = format!("{head}:{offset}");
            candidate = &normalised;
        }
    }
    let timestamp = epcis::document::Timestamp::parse(candidate).map_err(|_| bad())?;
    let millis = u64::try_from(timestamp.unix_millis()).map_err(|_| bad())?;
    Ok(UnixMillis::from_millis(millis))
}

/// Formats a time as an RFC 3339 UTC timestamp with milliseconds (`2026-11-22T03:04:05.678Z`).
pub fn format_time(time: UnixMillis) -> String {
    time.to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_id_with_a_space_is_refused() {
        assert!(ReaderId::parse("dock door").is_err());
        assert!(ReaderId::parse("").is_err());
        assert_eq!(
            ReaderId::parse("dock-door-3").unwrap().as_str(),
            "dock-door-3"
        );
    }

    #[test]
    fn hex_round_trips_and_refuses_odd_or_foreign_digits() {
        let bytes = parse_hex("epc", "3074257bf7194E4000001A85").unwrap();
        assert_eq!(to_hex(&bytes), "3074257BF7194E4000001A85");
        assert!(parse_hex("epc", "307").is_err());
        assert!(parse_hex("epc", "30x4").is_err());
    }

    #[test]
    fn an_offset_without_a_colon_is_read_as_one_with() {
        let a = parse_time("timestamp", "2019-06-10T14:31:58.371+0000").unwrap();
        let b = parse_time("timestamp", "2019-06-10T14:31:58.371Z").unwrap();
        assert_eq!(a, b);
        // 2019-06-10T14:31:58.371Z is 1,560,177,118,371 ms after the epoch.
        assert_eq!(a.as_millis(), 1_560_177_118_371);
    }

    #[test]
    fn formatting_then_parsing_a_time_gives_it_back() {
        for millis in [0, 951_782_400_000, 1_560_177_118_371, 4_102_444_799_999] {
            let time = UnixMillis::from_millis(millis);
            assert_eq!(parse_time("t", &format_time(time)).unwrap(), time);
        }
        assert_eq!(
            format_time(UnixMillis::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
