//! Pure frame codecs for serial reader modules (`tokio_util::codec`): no I/O, no clocks.
//!
//! Each decoder treats a partial frame as normal, resynchronises after garbage and counts what it
//! rejected in [`DecodeStats`]; it never fails on bad input, so one corrupted byte on the wire never
//! ends a stream.

pub mod jrd;
pub mod ru5102;

/// Counters a decoder keeps about its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames that passed every check.
    pub frames: u64,
    /// Bytes skipped while searching for the next frame (including dropped headers of bad frames).
    pub garbage_bytes: u64,
    /// Candidate frames whose checksum or CRC did not match.
    pub checksum_failures: u64,
    /// Candidate frames refused for their structure (type, length, end byte, inconsistent content).
    pub malformed: u64,
}
