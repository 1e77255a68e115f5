//! The serial protocol of the CF-RU5102 / UHFReader18 family of UHF readers.
//!
//! ```text
//! Len  Adr  Cmd  Data[]  CRC-16 (LSB first)          host -> reader
//! Len  Adr  Cmd  Status  Data[]  CRC-16 (LSB first)  reader -> host
//! ```
//!
//! `Len` counts every byte after itself (so a frame is `Len + 1` bytes). The CRC-16 covers `Len`
//! through the last data byte: polynomial 0x8408 (0x1021 reflected), preset 0xFFFF, no final XOR
//! (CRC-16/MCRF4XX). There is no start byte, so the decoder finds frames by their length and CRC:
//! when a candidate fails it drops one byte and tries again.
//!
//! The answer to an inventory (command `0x01`) carries `Num` and then, per tag, an EPC length byte
//! and the EPC bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::DecodeStats;

/// Command code of an EPC C1G2 inventory.
pub const CMD_INVENTORY: u8 = 0x01;
/// Command code that reads the reader's information.
pub const CMD_READER_INFO: u8 = 0x21;
/// Command code that sets the transmit power (one byte, dBm).
pub const CMD_SET_POWER: u8 = 0x2F;
/// Broadcast address: every reader on the bus answers.
pub const BROADCAST: u8 = 0xFF;
/// Smallest `Len`: address, command and the two CRC bytes.
const MIN_LEN: u8 = 4;

/// CRC-16/MCRF4XX: polynomial 0x8408 (reflected), preset 0xFFFF, no final XOR.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in bytes {
        crc ^= u16::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// One checked frame: address, command and the bytes between command and CRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ru5102Frame {
    address: u8,
    command: u8,
    payload: Bytes,
}

/// A frame that cannot be encoded or a response that does not say what its command promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ru5102Error {
    /// `Len` is one byte, so address, command, payload and CRC must fit in 255 bytes.
    #[error("payload: {len} bytes do not fit the one-byte Len field (at most 251)")]
    PayloadTooLong {
        /// The length given.
        len: usize,
    },
    /// A response has at least a status byte.
    #[error("status: a response frame must carry a status byte")]
    MissingStatus,
    /// The inventory data ended inside a tag, or had bytes left over.
    #[error("inventory data: {reason}")]
    BadInventory {
        /// Which rule was broken.
        reason: &'static str,
    },
}

impl Ru5102Frame {
    /// A frame from its parts; payloads longer than 251 bytes are refused.
    pub fn new(address: u8, command: u8, payload: impl Into<Bytes>) -> Result<Self, Ru5102Error> {
        let payload = payload.into();
        if payload.len() > usize::from(u8::MAX - MIN_LEN) {
            return Err(Ru5102Error::PayloadTooLong { len: payload.len() });
        }
        Ok(Ru5102Frame {
            address,
            command,
            payload,
        })
    }

    /// The reader's address (`0xFF` broadcasts).
    pub fn address(&self) -> u8 {
        self.address
    }

    /// The command code.
    pub fn command(&self) -> u8 {
        self.command
    }

    /// Everything between command and CRC (for a response: status, then data).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Appends the frame's bytes to `dst`.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        // `new` and the decoder keep the payload at most 251 bytes, so this fits.
        let len = u8::try_from(self.payload.len() + usize::from(MIN_LEN)).unwrap_or(u8::MAX);
        dst.reserve(usize::from(len) + 1);
        let start = dst.len();
        dst.put_u8(len);
        dst.put_u8(self.address);
        dst.put_u8(self.command);
        dst.put_slice(&self.payload);
        let crc = crc16(&dst[start..]);
        dst.put_u16_le(crc);
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_into(&mut out);
        out.freeze()
    }

    /// Reads the frame as a reader's response: status byte, then data.
    pub fn response(&self) -> Result<Ru5102Response, Ru5102Error> {
        let Some((&status, _)) = self.payload.split_first() else {
            return Err(Ru5102Error::MissingStatus);
        };
        Ok(Ru5102Response {
            address: self.address,
            command: self.command,
            status,
            data: self.payload.slice(1..),
        })
    }
}

/// A reader's response: the command it answers, a status and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ru5102Response {
    address: u8,
    command: u8,
    status: u8,
    data: Bytes,
}

/// Status of an inventory response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryStatus {
    /// `0x01`: the round finished and every tag is in this frame.
    Complete,
    /// `0x02`: the round timed out before every tag was read.
    TimedOut,
    /// `0x03`: more frames with tags follow.
    MoreFollows,
    /// `0x04`: the reader's buffer is full.
    BufferFull,
}

impl InventoryStatus {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(InventoryStatus::Complete),
            0x02 => Some(InventoryStatus::TimedOut),
            0x03 => Some(InventoryStatus::MoreFollows),
            0x04 => Some(InventoryStatus::BufferFull),
            _ => None,
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            InventoryStatus::Complete => 0x01,
            InventoryStatus::TimedOut => 0x02,
            InventoryStatus::MoreFollows => 0x03,
            InventoryStatus::BufferFull => 0x04,
        }
    }
}

/// The tags of one inventory response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// What the reader says about the round.
    pub status: InventoryStatus,
    /// The EPCs read, in the reader's order.
    pub epcs: Vec<Bytes>,
}

impl Inventory {
    /// The response frame a reader at `address` sends for this inventory.
    pub fn to_frame(&self, address: u8) -> Result<Ru5102Frame, Ru5102Error> {
        let mut payload = BytesMut::new();
        payload.put_u8(self.status.to_byte());
        let count = u8::try_from(self.epcs.len()).map_err(|_| Ru5102Error::BadInventory {
            reason: "at most 255 tags fit in one response",
        })?;
        payload.put_u8(count);
        for epc in &self.epcs {
            let len = u8::try_from(epc.len()).map_err(|_| Ru5102Error::BadInventory {
                reason: "an EPC is at most 255 bytes",
            })?;
            payload.put_u8(len);
            payload.put_slice(epc);
        }
        Ru5102Frame::new(address, CMD_INVENTORY, payload.freeze())
    }
}

impl Ru5102Response {
    /// The reader's address.
    pub fn address(&self) -> u8 {
        self.address
    }

    /// The command answered.
    pub fn command(&self) -> u8 {
        self.command
    }

    /// The status byte (`0x00` success; for inventory see [`InventoryStatus`]).
    pub fn status(&self) -> u8 {
        self.status
    }

    /// The data after the status byte.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The tags of an inventory response; `None` when this is not one (another command, or a
    /// status such as `0xFB`, no tag in the field).
    pub fn inventory(&self) -> Option<Result<Inventory, Ru5102Error>> {
        if self.command != CMD_INVENTORY {
            return None;
        }
        let status = InventoryStatus::from_byte(self.status)?;
        Some(parse_inventory(status, &self.data))
    }
}

fn parse_inventory(status: InventoryStatus, data: &Bytes) -> Result<Inventory, Ru5102Error> {
    let Some((&count, _)) = data.split_first() else {
        return Err(Ru5102Error::BadInventory {
            reason: "the tag count byte is missing",
        });
    };
    let mut epcs = Vec::with_capacity(usize::from(count));
    let mut at = 1;
    for _ in 0..count {
        let Some(&len) = data.get(at) else {
            return Err(Ru5102Error::BadInventory {
                reason: "fewer tags than the count says",
            });
        };
        let end = at + 1 + usize::from(len);
        if end > data.len() {
            return Err(Ru5102Error::BadInventory {
                reason: "an EPC runs past the end of the frame",
            });
        }
        epcs.push(data.slice(at + 1..end));
        at = end;
    }
    if at != data.len() {
        return Err(Ru5102Error::BadInventory {
            reason: "bytes left over after the last tag",
        });
    }
    Ok(Inventory { status, epcs })
}

/// Commands the host sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ru5102Command {
    /// One EPC C1G2 inventory round.
    Inventory,
    /// Read the reader's information (version, type, power, scan time).
    ReaderInfo,
    /// Set the transmit power in dBm (0 to 30).
    SetPower {
        /// Power in dBm.
        dbm: u8,
    },
}

impl Ru5102Command {
    /// The command as a frame to the reader at `address`.
    pub fn to_frame(self, address: u8) -> Ru5102Frame {
        let (command, payload): (u8, &[u8]) = match self {
            Ru5102Command::Inventory => (CMD_INVENTORY, &[]),
            Ru5102Command::ReaderInfo => (CMD_READER_INFO, &[]),
            Ru5102Command::SetPower { dbm } => (CMD_SET_POWER, &[dbm][..]),
        };
        Ru5102Frame {
            address,
            command,
            payload: Bytes::copy_from_slice(payload),
        }
    }
}

/// The CF-RU5102 frame codec: decodes [`Ru5102Frame`]s in either direction, encodes frames and
/// [`Ru5102Command`]s (to the address given at construction).
#[derive(Debug, Clone)]
pub struct Ru5102Codec {
    address: u8,
    stats: DecodeStats,
}

impl Default for Ru5102Codec {
    fn default() -> Self {
        Ru5102Codec::new(BROADCAST)
    }
}

impl Ru5102Codec {
    /// A codec that addresses commands to `address`.
    pub fn new(address: u8) -> Self {
        Ru5102Codec {
            address,
            stats: DecodeStats::default(),
        }
    }

    /// What the decoder has seen so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}

impl Decoder for Ru5102Codec {
    type Item = Ru5102Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Ru5102Frame>, std::io::Error> {
        loop {
            let Some(&len) = src.first() else {
                return Ok(None);
            };
            if len < MIN_LEN {
                self.stats.garbage_bytes += 1;
                self.stats.malformed += 1;
                src.advance(1);
                continue;
            }
            let total = usize::from(len) + 1;
            if src.len() < total {
                src.reserve(total - src.len());
                return Ok(None);
            }
            let crc = u16::from_le_bytes([src[total - 2], src[total - 1]]);
            if crc16(&src[..total - 2]) != crc {
                self.stats.garbage_bytes += 1;
                self.stats.checksum_failures += 1;
                src.advance(1);
                continue;
            }
            let address = src[1];
            let command = src[2];
            let mut frame = src.split_to(total);
            frame.advance(3);
            frame.truncate(total - 5);
            self.stats.frames += 1;
            return Ok(Some(Ru5102Frame {
                address,
                command,
                payload: frame.freeze(),
            }));
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Ru5102Frame>, std::io::Error> {
        loop {
            if let Some(frame) = self.decode(src)? {
                return Ok(Some(frame));
            }
            if src.is_empty() {
                return Ok(None);
            }
            // The first candidate can never complete; a later start still might.
            self.stats.garbage_bytes += 1;
            src.advance(1);
        }
    }
}

impl Encoder<Ru5102Command> for Ru5102Codec {
    type Error = std::io::Error;

    fn encode(&mut self, command: Ru5102Command, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        command.to_frame(self.address).encode_into(dst);
        Ok(())
    }
}

impl Encoder<&Ru5102Frame> for Ru5102Codec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: &Ru5102Frame, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        frame.encode_into(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|pair| u8::from_str_radix(pair, 16).unwrap())
            .collect()
    }

    #[test]
    fn crc16_matches_the_standard_check_value() {
        // CRC-16/MCRF4XX check value over "123456789".
        assert_eq!(crc16(b"123456789"), 0x6F91);
    }

    // Known answers: command examples from the reader family's user manual.
    #[test]
    fn commands_encode_as_in_the_manual() {
        assert_eq!(
            Ru5102Command::ReaderInfo.to_frame(0xFF).to_bytes()[..],
            hex("04 FF 21 19 95")[..]
        );
        assert_eq!(
            Ru5102Command::Inventory.to_frame(0x00).to_bytes()[..],
            hex("04 00 01 DB 4B")[..]
        );
    }

    #[test]
    fn an_inventory_response_yields_its_epcs() {
        let epc = hex("30 74 25 7B F7 19 4E 40 00 00 1A 85");
        let inventory = Inventory {
            status: InventoryStatus::Complete,
            epcs: vec![Bytes::from(epc.clone())],
        };
        let bytes = inventory.to_frame(0x00).unwrap().to_bytes();
        assert_eq!(bytes[0] as usize, bytes.len() - 1);
        let mut codec = Ru5102Codec::default();
        let frame = codec
            .decode(&mut BytesMut::from(&bytes[..]))
            .unwrap()
            .unwrap();
        let parsed = frame.response().unwrap().inventory().unwrap().unwrap();
        assert_eq!(parsed, inventory);
    }

    #[test]
    fn an_inventory_whose_count_exceeds_its_tags_is_refused() {
        let frame = Ru5102Frame::new(0, CMD_INVENTORY, hex("01 02 02 AA BB")).unwrap();
        assert!(matches!(
            frame.response().unwrap().inventory(),
            Some(Err(Ru5102Error::BadInventory { .. }))
        ));
    }

    #[test]
    fn a_no_tag_status_is_not_an_inventory() {
        let frame = Ru5102Frame::new(0, CMD_INVENTORY, hex("FB")).unwrap();
        assert!(frame.response().unwrap().inventory().is_none());
    }

    #[test]
    fn garbage_and_a_bad_crc_are_skipped_and_counted() {
        let mut bytes = hex("00 01 02");
        bytes.extend(hex("04 FF 21 19 96"));
        bytes.extend(hex("04 FF 21 19 95"));
        let mut codec = Ru5102Codec::default();
        let mut buf = BytesMut::from(&bytes[..]);
        let frame = codec.decode_eof(&mut buf).unwrap().unwrap();
        assert_eq!(frame.command(), CMD_READER_INFO);
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        assert_eq!(codec.stats().checksum_failures, 1);
        assert_eq!(codec.stats().frames, 1);
    }

    #[test]
    fn a_frame_split_anywhere_decodes_once_complete() {
        let bytes = hex("04 FF 21 19 95");
        for cut in 0..bytes.len() {
            let mut codec = Ru5102Codec::default();
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert!(codec.decode(&mut buf).unwrap().is_none());
            buf.extend_from_slice(&bytes[cut..]);
            assert_eq!(
                codec.decode(&mut buf).unwrap().unwrap().command(),
                CMD_READER_INFO
            );
        }
    }
}
