//! The serial protocol of the JRD-4035 / R200 (Magic RF M100 based) family of UHF modules.
//!
//! ```text
//! 0xBB  type  command  len_hi  len_lo  params[len]  checksum  0x7E
//! ```
//!
//! `type` is `0x00` for a command from the host, `0x01` for the module's response and `0x02` for a
//! notice the module sends on its own (a tag seen during inventory). `checksum` is the low byte of the
//! sum of every byte from `type` through the last parameter.
//!
//! A tag notice (`type 0x02`, command `0x22`) carries `RSSI (signed dBm) PC (2) EPC (n) CRC (2)`,
//! where the EPC length in 16-bit words is the top five bits of the PC. An error response is command
//! `0xFF` with one error-code byte (`0x15`: no tag answered the inventory round).
//!
//! TIDs are read per tag, outside continuous inventory: the host selects the tag by its EPC
//! (`0x0C`, Select parameters: `SelParam Ptr(4) MaskLen Truncate Mask`, here memory bank EPC from
//! bit 0x20, i.e. past the stored CRC and PC), makes the module select before tag operations only
//! (`0x12` mode `0x02`, so inventory still sees every tag), and reads the TID bank (`0x39`:
//! `AccessPassword(4) MemBank SA(2) DL(2)`, addresses and lengths in 16-bit words). The module
//! answers `UL PC+EPC(UL bytes) Data(DL*2)`, or an error response whose code is followed by the
//! tag's `UL PC+EPC`.
//!
//! The decoder is pure: it treats a partial frame as normal (returns `None` until the rest arrives),
//! skips garbage up to the next `0xBB`, and on a bad length, end byte or checksum drops only the
//! header byte and searches again, so a frame that starts inside a corrupted one is still found. Every
//! rejection is counted in [`DecodeStats`]. A corrupted length field makes the decoder wait for up to
//! `max_params` more bytes before it can tell; a live stream supplies them within a few frames.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::DecodeStats;

/// First byte of every frame.
pub const HEADER: u8 = 0xBB;
/// Last byte of every frame.
pub const END: u8 = 0x7E;
/// Command code of single-poll inventory; also the command code of tag notices.
pub const CMD_INVENTORY: u8 = 0x22;
/// Command code of multi-poll (continuous) inventory.
pub const CMD_MULTI_POLL: u8 = 0x27;
/// Command code that stops a multi-poll inventory.
pub const CMD_STOP_MULTI_POLL: u8 = 0x28;
/// Command code that reads module information (hardware, software, manufacturer).
pub const CMD_MODULE_INFO: u8 = 0x03;
/// Command code that reads the transmit power.
pub const CMD_GET_POWER: u8 = 0xB7;
/// Command code that sets the transmit power.
pub const CMD_SET_POWER: u8 = 0xB6;
/// Command code that sets the Select parameters (which tag the next operation addresses).
pub const CMD_SET_SELECT: u8 = 0x0C;
/// Command code that sets when the module sends Select.
pub const CMD_SET_SELECT_MODE: u8 = 0x12;
/// Command code that reads a tag's memory.
pub const CMD_READ_MEMORY: u8 = 0x39;
/// Select mode: send Select before reads, writes, locks and kills, but not before inventory.
pub const SELECT_BEFORE_ACCESS: u8 = 0x02;
/// Memory bank of the EPC.
pub const BANK_EPC: u8 = 0x01;
/// Memory bank of the TID.
pub const BANK_TID: u8 = 0x02;
/// Command code of an error response.
pub const CMD_ERROR: u8 = 0xFF;
/// Error code: no tag answered during an inventory round.
pub const ERROR_NO_TAG: u8 = 0x15;
/// The reserved byte that precedes the count in a multi-poll command.
const MULTI_POLL_RESERVED: u8 = 0x22;
/// Bytes around the parameters: header, type, command, two length bytes, checksum, end.
const OVERHEAD: usize = 7;

/// Who sent a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// A command from the host to the module (`0x00`).
    Command,
    /// The module's answer to a command (`0x01`).
    Response,
    /// A message the module sends on its own, such as a tag notice (`0x02`).
    Notice,
}

impl FrameType {
    /// The byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            FrameType::Command => 0x00,
            FrameType::Response => 0x01,
            FrameType::Notice => 0x02,
        }
    }

    /// The frame type of a byte, if it is one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x00 => Some(FrameType::Command),
            0x01 => Some(FrameType::Response),
            0x02 => Some(FrameType::Notice),
            _ => None,
        }
    }
}

/// One checked frame: type, command and parameters (header, length, checksum and end removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JrdFrame {
    frame_type: FrameType,
    command: u8,
    params: Bytes,
}

/// A frame that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JrdFrameError {
    /// The length field is two bytes.
    #[error("params: {len} bytes do not fit the 16-bit length field")]
    ParamsTooLong {
        /// The length given.
        len: usize,
    },
    /// An EPC is a whole number of 16-bit words, at most 31 of them (the PC's length field).
    #[error("epc: {len} bytes is not a whole number of 16-bit words between 0 and 31")]
    BadEpcLength {
        /// The length given.
        len: usize,
    },
}

impl JrdFrame {
    /// A frame from its parts; parameters longer than 65,535 bytes are refused.
    pub fn new(
        frame_type: FrameType,
        command: u8,
        params: impl Into<Bytes>,
    ) -> Result<Self, JrdFrameError> {
        let params = params.into();
        if params.len() > usize::from(u16::MAX) {
            return Err(JrdFrameError::ParamsTooLong { len: params.len() });
        }
        Ok(JrdFrame {
            frame_type,
            command,
            params,
        })
    }

    /// Who sent the frame.
    pub fn frame_type(&self) -> FrameType {
        self.frame_type
    }

    /// The command code.
    pub fn command(&self) -> u8 {
        self.command
    }

    /// The parameters.
    pub fn params(&self) -> &Bytes {
        &self.params
    }

    /// Number of bytes the frame takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.params.len() + OVERHEAD
    }

    /// Appends the frame's bytes to `dst`.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        // `new` and the decoder only build frames whose params fit in 16 bits.
        let len = u16::try_from(self.params.len()).unwrap_or(u16::MAX);
        let [len_hi, len_lo] = len.to_be_bytes();
        dst.reserve(self.encoded_len());
        dst.put_u8(HEADER);
        let start = dst.len();
        dst.put_u8(self.frame_type.to_byte());
        dst.put_u8(self.command);
        dst.put_u8(len_hi);
        dst.put_u8(len_lo);
        dst.put_slice(&self.params);
        let checksum = checksum(&dst[start..]);
        dst.put_u8(checksum);
        dst.put_u8(END);
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out.freeze()
    }

    /// Interprets the frame: a tag notice, an error response, or another frame as it is.
    ///
    /// A notice with command `0x22` whose length disagrees with its PC is [`JrdMessage::Other`].
    pub fn into_message(self) -> JrdMessage {
        match (self.frame_type, self.command) {
            (FrameType::Notice, CMD_INVENTORY) => match TagNotice::from_params(&self.params) {
                Some(notice) => JrdMessage::TagNotice(notice),
                None => JrdMessage::Other(self),
            },
            (FrameType::Response, CMD_ERROR) if self.params.len() == 1 => JrdMessage::Error {
                code: self.params[0],
            },
            _ => JrdMessage::Other(self),
        }
    }
}

/// The low byte of the sum of `bytes` (type through the last parameter).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte))
}

/// A tag seen by the module during inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagNotice {
    rssi: i8,
    pc: u16,
    epc: Bytes,
    crc: u16,
}

impl TagNotice {
    /// A notice from its parts; the PC's length field is set from the EPC's length.
    ///
    /// `pc_flags` supplies the PC's low 11 bits (UMI, XI, numbering system); its top five bits are
    /// replaced. The CRC is the tag's stored CRC-16 over PC and EPC ([`gen2_crc16`]).
    pub fn new(rssi: i8, pc_flags: u16, epc: impl Into<Bytes>) -> Result<Self, JrdFrameError> {
        let epc = epc.into();
        let words = epc.len() / 2;
        if !epc.len().is_multiple_of(2) || words > 31 {
            return Err(JrdFrameError::BadEpcLength { len: epc.len() });
        }
        // `words` is at most 31, so it fits the five-bit field.
        let pc = ((words as u16) << 11) | (pc_flags & 0x07FF);
        let mut covered = Vec::with_capacity(2 + epc.len());
        covered.extend_from_slice(&pc.to_be_bytes());
        covered.extend_from_slice(&epc);
        let crc = gen2_crc16(&covered);
        Ok(TagNotice { rssi, pc, epc, crc })
    }

    fn from_params(params: &Bytes) -> Option<Self> {
        if params.len() < 5 {
            return None;
        }
        let pc = u16::from_be_bytes([params[1], params[2]]);
        let epc_len = usize::from(pc >> 11) * 2;
        if params.len() != 5 + epc_len {
            return None;
        }
        Some(TagNotice {
            rssi: i8::from_be_bytes([params[0]]),
            pc,
            epc: params.slice(3..3 + epc_len),
            crc: u16::from_be_bytes([params[3 + epc_len], params[4 + epc_len]]),
        })
    }

    /// Received signal strength in dBm, as the module reports it.
    pub fn rssi_dbm(&self) -> i8 {
        self.rssi
    }

    /// The tag's protocol control word.
    pub fn pc(&self) -> u16 {
        self.pc
    }

    /// The EPC bank's identifier bytes (as many 16-bit words as the PC says).
    pub fn epc(&self) -> &Bytes {
        &self.epc
    }

    /// The CRC-16 the tag backscattered over PC and EPC.
    pub fn crc(&self) -> u16 {
        self.crc
    }

    /// Whether the tag's CRC matches PC and EPC (the module passes it through unchecked on some
    /// firmware, so this is a second line of defence against a corrupted EPC).
    pub fn crc_is_valid(&self) -> bool {
        let mut covered = Vec::with_capacity(2 + self.epc.len());
        covered.extend_from_slice(&self.pc.to_be_bytes());
        covered.extend_from_slice(&self.epc);
        gen2_crc16(&covered) == self.crc
    }

    /// The notice as a frame.
    pub fn to_frame(&self) -> JrdFrame {
        let mut params = BytesMut::with_capacity(5 + self.epc.len());
        params.put_i8(self.rssi);
        params.put_u16(self.pc);
        params.put_slice(&self.epc);
        params.put_u16(self.crc);
        JrdFrame {
            frame_type: FrameType::Notice,
            command: CMD_INVENTORY,
            params: params.freeze(),
        }
    }
}

/// The EPC Gen2 CRC-16 (ISO/IEC 18000-63: polynomial 0x1021, preset 0xFFFF, result inverted), as
/// stored by a tag over its PC and EPC.
pub fn gen2_crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    !crc
}

/// A decoded frame, interpreted where the protocol says what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JrdMessage {
    /// A tag seen during inventory.
    TagNotice(TagNotice),
    /// An error response with its code ([`ERROR_NO_TAG`] is the normal end of an empty round).
    Error {
        /// The module's error code.
        code: u8,
    },
    /// Any other checked frame, as it came.
    Other(JrdFrame),
}

impl JrdMessage {
    /// The frame this message came from, byte for byte.
    pub fn to_frame(&self) -> JrdFrame {
        match self {
            JrdMessage::TagNotice(notice) => notice.to_frame(),
            JrdMessage::Error { code } => JrdFrame {
                frame_type: FrameType::Response,
                command: CMD_ERROR,
                params: Bytes::copy_from_slice(&[*code]),
            },
            JrdMessage::Other(frame) => frame.clone(),
        }
    }
}

/// Commands the host sends to the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JrdCommand {
    /// One inventory round.
    SinglePoll,
    /// Continuous inventory for `count` rounds (the module streams tag notices).
    MultiPoll {
        /// Number of rounds (0 to 65,535).
        count: u16,
    },
    /// Stop a continuous inventory.
    StopMultiPoll,
    /// Set the transmit power, in hundredths of a dBm (2000 is 20 dBm).
    SetPower {
        /// Power in 0.01 dBm.
        centi_dbm: u16,
    },
    /// Read the transmit power.
    GetPower,
    /// Read module information (`0x00` hardware, `0x01` software, `0x02` manufacturer).
    ModuleInfo {
        /// Which information.
        kind: u8,
    },
    /// Set when the module sends Select ([`SELECT_BEFORE_ACCESS`]: before tag access only).
    SetSelectMode {
        /// The mode.
        mode: u8,
    },
    /// Read `word_count` 16-bit words of memory bank `bank` from `word_address` of the selected
    /// tag.
    ReadMemory {
        /// The tag's access password (0 when the bank is not locked).
        password: u32,
        /// The memory bank ([`BANK_TID`], ...).
        bank: u8,
        /// First word.
        word_address: u16,
        /// Number of words.
        word_count: u16,
    },
}

impl JrdCommand {
    /// The command as a frame.
    pub fn to_frame(self) -> JrdFrame {
        let (command, params): (u8, Vec<u8>) = match self {
            JrdCommand::SinglePoll => (CMD_INVENTORY, Vec::new()),
            JrdCommand::MultiPoll { count } => {
                let [hi, lo] = count.to_be_bytes();
                (CMD_MULTI_POLL, vec![MULTI_POLL_RESERVED, hi, lo])
            }
            JrdCommand::StopMultiPoll => (CMD_STOP_MULTI_POLL, Vec::new()),
            JrdCommand::SetPower { centi_dbm } => (CMD_SET_POWER, centi_dbm.to_be_bytes().to_vec()),
            JrdCommand::GetPower => (CMD_GET_POWER, Vec::new()),
            JrdCommand::ModuleInfo { kind } => (CMD_MODULE_INFO, vec![kind]),
            JrdCommand::SetSelectMode { mode } => (CMD_SET_SELECT_MODE, vec![mode]),
            JrdCommand::ReadMemory {
                password,
                bank,
                word_address,
                word_count,
            } => {
                let mut params = password.to_be_bytes().to_vec();
                params.push(bank);
                params.extend_from_slice(&word_address.to_be_bytes());
                params.extend_from_slice(&word_count.to_be_bytes());
                (CMD_READ_MEMORY, params)
            }
        };
        JrdFrame {
            frame_type: FrameType::Command,
            command,
            params: Bytes::from(params),
        }
    }

    /// Recognises a command frame (used by the simulator to answer the host).
    pub fn from_frame(frame: &JrdFrame) -> Option<Self> {
        if frame.frame_type != FrameType::Command {
            return None;
        }
        let params = &frame.params[..];
        match (frame.command, params) {
            (CMD_INVENTORY, []) => Some(JrdCommand::SinglePoll),
            (CMD_MULTI_POLL, [MULTI_POLL_RESERVED, hi, lo]) => Some(JrdCommand::MultiPoll {
                count: u16::from_be_bytes([*hi, *lo]),
            }),
            (CMD_STOP_MULTI_POLL, []) => Some(JrdCommand::StopMultiPoll),
            (CMD_SET_POWER, [hi, lo]) => Some(JrdCommand::SetPower {
                centi_dbm: u16::from_be_bytes([*hi, *lo]),
            }),
            (CMD_GET_POWER, []) => Some(JrdCommand::GetPower),
            (CMD_MODULE_INFO, [kind]) => Some(JrdCommand::ModuleInfo { kind: *kind }),
            (CMD_SET_SELECT_MODE, [mode]) => Some(JrdCommand::SetSelectMode { mode: *mode }),
            (CMD_READ_MEMORY, [p0, p1, p2, p3, bank, a0, a1, c0, c1]) => {
                Some(JrdCommand::ReadMemory {
                    password: u32::from_be_bytes([*p0, *p1, *p2, *p3]),
                    bank: *bank,
                    word_address: u16::from_be_bytes([*a0, *a1]),
                    word_count: u16::from_be_bytes([*c0, *c1]),
                })
            }
            _ => None,
        }
    }
}

/// The Select command addressing the tag whose EPC is `epc` (memory bank EPC, from bit 0x20, the
/// whole EPC as the mask). The mask length is one byte of bits, so an EPC longer than 31 bytes
/// cannot be selected whole and is refused.
pub fn select_epc(epc: &[u8]) -> Result<JrdFrame, JrdFrameError> {
    let bits = u8::try_from(epc.len() * 8)
        .ok()
        .filter(|_| !epc.is_empty())
        .ok_or(JrdFrameError::BadEpcLength { len: epc.len() })?;
    let mut params = Vec::with_capacity(7 + epc.len());
    // Target S0, action 000 (matching tags assert SL), memory bank EPC.
    params.push(BANK_EPC);
    params.extend_from_slice(&0x20u32.to_be_bytes());
    params.push(bits);
    params.push(0x00); // no truncation
    params.extend_from_slice(epc);
    JrdFrame::new(FrameType::Command, CMD_SET_SELECT, params)
}

/// The EPC a Select command built by [`select_epc`] addresses (used by the simulator).
pub fn selected_epc(frame: &JrdFrame) -> Option<Bytes> {
    if frame.frame_type != FrameType::Command || frame.command != CMD_SET_SELECT {
        return None;
    }
    let params = &frame.params;
    let [BANK_EPC, 0x00, 0x00, 0x00, 0x20, bits, 0x00] = params.get(..7)? else {
        return None;
    };
    (usize::from(*bits) == (params.len() - 7) * 8).then(|| params.slice(7..))
}

/// The answer to a [`JrdCommand::ReadMemory`]: which tag answered, and the words read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryRead {
    /// The tag (its EPC, from the PC+EPC the module echoes) and the data.
    Data {
        /// The EPC of the tag that answered.
        epc: Bytes,
        /// The words read, two bytes each.
        data: Bytes,
    },
    /// The module's error code (no tag answered, the tag refused, ...).
    Failed {
        /// The error code.
        code: u8,
    },
}

/// Reads a frame as the answer to a memory read, if it is one: a `0x39` response
/// (`UL PC+EPC Data`) or an error response carrying a tag (`code UL PC+EPC`) or only a code.
pub fn memory_read(frame: &JrdFrame) -> Option<MemoryRead> {
    if frame.frame_type != FrameType::Response {
        return None;
    }
    let params = &frame.params;
    match frame.command {
        CMD_READ_MEMORY => {
            let ul = usize::from(*params.first()?);
            // UL covers the PC (2 bytes) and the EPC; data follows.
            if ul < 2 || params.len() < 1 + ul {
                return None;
            }
            Some(MemoryRead::Data {
                epc: params.slice(3..1 + ul),
                data: params.slice(1 + ul..),
            })
        }
        CMD_ERROR => params
            .first()
            .map(|code| MemoryRead::Failed { code: *code }),
        _ => None,
    }
}

/// A memory read's answer, as the module sends it (used by the simulator): `UL PC+EPC Data`.
pub fn memory_read_response(pc: u16, epc: &[u8], data: &[u8]) -> Result<JrdFrame, JrdFrameError> {
    let ul =
        u8::try_from(2 + epc.len()).map_err(|_| JrdFrameError::BadEpcLength { len: epc.len() })?;
    let mut params = Vec::with_capacity(3 + epc.len() + data.len());
    params.push(ul);
    params.extend_from_slice(&pc.to_be_bytes());
    params.extend_from_slice(epc);
    params.extend_from_slice(data);
    JrdFrame::new(FrameType::Response, CMD_READ_MEMORY, params)
}

/// The JRD frame codec: decodes [`JrdMessage`]s, encodes [`JrdCommand`]s and [`JrdFrame`]s.
#[derive(Debug, Clone)]
pub struct JrdCodec {
    max_params: usize,
    stats: DecodeStats,
}

impl Default for JrdCodec {
    fn default() -> Self {
        JrdCodec::new()
    }
}

impl JrdCodec {
    /// Longest parameter block accepted by default; longer length fields are taken for corruption.
    pub const DEFAULT_MAX_PARAMS: usize = 1024;

    /// A codec with the default parameter limit.
    pub fn new() -> Self {
        JrdCodec::with_max_params(Self::DEFAULT_MAX_PARAMS)
    }

    /// A codec that refuses parameter blocks longer than `max_params` (at most 65,535 matters).
    pub fn with_max_params(max_params: usize) -> Self {
        JrdCodec {
            max_params,
            stats: DecodeStats::default(),
        }
    }

    /// What the decoder has seen so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Finds the next checked frame in `src`, consuming it and anything before it.
    fn next_frame(&mut self, src: &mut BytesMut) -> Option<JrdFrame> {
        loop {
            match src.iter().position(|byte| *byte == HEADER) {
                Some(0) => {}
                Some(skip) => {
                    self.stats.garbage_bytes += skip as u64;
                    src.advance(skip);
                }
                None => {
                    self.stats.garbage_bytes += src.len() as u64;
                    src.clear();
                    return None;
                }
            }
            if src.len() < 5 {
                return None;
            }
            let Some(frame_type) = FrameType::from_byte(src[1]) else {
                self.reject(src);
                self.stats.malformed += 1;
                continue;
            };
            let len = usize::from(u16::from_be_bytes([src[3], src[4]]));
            if len > self.max_params {
                self.reject(src);
                self.stats.malformed += 1;
                continue;
            }
            let total = len + OVERHEAD;
            if src.len() < total {
                src.reserve(total - src.len());
                return None;
            }
            if src[total - 1] != END {
                self.reject(src);
                self.stats.malformed += 1;
                continue;
            }
            if checksum(&src[1..5 + len]) != src[5 + len] {
                self.reject(src);
                self.stats.checksum_failures += 1;
                continue;
            }
            let command = src[2];
            let mut frame = src.split_to(total);
            frame.advance(5);
            frame.truncate(len);
            self.stats.frames += 1;
            return Some(JrdFrame {
                frame_type,
                command,
                params: frame.freeze(),
            });
        }
    }

    /// Drops the header byte of a bad candidate frame so the search resumes right after it.
    fn reject(&mut self, src: &mut BytesMut) {
        self.stats.garbage_bytes += 1;
        src.advance(1);
    }
}

impl Decoder for JrdCodec {
    type Item = JrdMessage;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<JrdMessage>, std::io::Error> {
        Ok(self.next_frame(src).map(|frame| {
            let message = frame.into_message();
            if let JrdMessage::Other(frame) = &message
                && frame.frame_type == FrameType::Notice
                && frame.command == CMD_INVENTORY
            {
                self.stats.malformed += 1;
            }
            message
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<JrdMessage>, std::io::Error> {
        loop {
            if let Some(message) = self.decode(src)? {
                return Ok(Some(message));
            }
            if src.is_empty() {
                return Ok(None);
            }
            // The stream ended inside a candidate frame (perhaps one whose length field was
            // corrupted): it can never complete, but a frame starting inside it still might.
            self.reject(src);
            self.stats.malformed += 1;
        }
    }
}

impl Encoder<JrdCommand> for JrdCodec {
    type Error = std::io::Error;

    fn encode(&mut self, command: JrdCommand, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        command.to_frame().encode_into(dst);
        Ok(())
    }
}

impl Encoder<&JrdFrame> for JrdCodec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: &JrdFrame, dst: &mut BytesMut) -> Result<(), std::io::Error> {
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

    fn decode_all(codec: &mut JrdCodec, bytes: &[u8]) -> Vec<JrdMessage> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(message) = codec.decode_eof(&mut buf).unwrap() {
            out.push(message);
        }
        out
    }

    // Known answers: the command examples of the module's published protocol manual.
    #[test]
    fn commands_encode_as_in_the_manual() {
        assert_eq!(
            JrdCommand::SinglePoll.to_frame().to_bytes()[..],
            hex("BB 00 22 00 00 22 7E")[..]
        );
        assert_eq!(
            JrdCommand::MultiPoll { count: 10_000 }
                .to_frame()
                .to_bytes()[..],
            hex("BB 00 27 00 03 22 27 10 83 7E")[..]
        );
        assert_eq!(
            JrdCommand::StopMultiPoll.to_frame().to_bytes()[..],
            hex("BB 00 28 00 00 28 7E")[..]
        );
        assert_eq!(
            JrdCommand::SetPower { centi_dbm: 2000 }
                .to_frame()
                .to_bytes()[..],
            hex("BB 00 B6 00 02 07 D0 8F 7E")[..]
        );
        assert_eq!(
            JrdCommand::GetPower.to_frame().to_bytes()[..],
            hex("BB 00 B7 00 00 B7 7E")[..]
        );
    }

    #[test]
    fn the_manuals_tag_notice_decodes_with_rssi_pc_and_epc() {
        let bytes = hex("BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E");
        let messages = decode_all(&mut JrdCodec::new(), &bytes);
        let [JrdMessage::TagNotice(notice)] = &messages[..] else {
            panic!("expected one notice: {messages:?}")
        };
        assert_eq!(notice.rssi_dbm(), -55);
        assert_eq!(notice.pc(), 0x3400);
        assert_eq!(
            notice.epc()[..],
            hex("30 75 1F EB 70 5C 59 04 E3 D5 0D 70")[..]
        );
        assert_eq!(notice.crc(), 0x3A76);
    }

    #[test]
    fn tid_access_commands_encode_as_in_the_manual() {
        assert_eq!(
            JrdCommand::SetSelectMode {
                mode: SELECT_BEFORE_ACCESS
            }
            .to_frame()
            .to_bytes()[..],
            hex("BB 00 12 00 01 02 15 7E")[..]
        );
        // Read 2 words of the user bank from word 0, password 0x0000FFFF (the manual's example).
        assert_eq!(
            JrdCommand::ReadMemory {
                password: 0x0000_FFFF,
                bank: 3,
                word_address: 0,
                word_count: 2
            }
            .to_frame()
            .to_bytes()[..],
            hex("BB 00 39 00 09 00 00 FF FF 03 00 00 00 02 45 7E")[..]
        );
        // Select by a 96-bit EPC (the manual's example mask).
        let epc = hex("30 75 1F EB 70 5C 59 04 E3 D5 0D 70");
        assert_eq!(
            select_epc(&epc).unwrap().to_bytes()[..],
            hex("BB 00 0C 00 13 01 00 00 00 20 60 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 AD 7E")[..]
        );
    }

    #[test]
    fn tid_access_frames_round_trip() {
        let epc = hex("30 75 1F EB 70 5C 59 04 E3 D5 0D 70");
        assert_eq!(
            selected_epc(&select_epc(&epc).unwrap()).unwrap()[..],
            epc[..]
        );
        assert!(select_epc(&[0u8; 32]).is_err());
        assert!(select_epc(&[]).is_err());
        let command = JrdCommand::ReadMemory {
            password: 7,
            bank: BANK_TID,
            word_address: 0,
            word_count: 6,
        };
        assert_eq!(JrdCommand::from_frame(&command.to_frame()), Some(command));
        let tid = hex("E2 80 11 70 20 00 12 34 56 78 9A BC");
        let answer = memory_read_response(0x3000, &epc, &tid).unwrap();
        let decoded = decode_all(&mut JrdCodec::new(), &answer.to_bytes());
        let [JrdMessage::Other(frame)] = &decoded[..] else {
            panic!("{decoded:?}")
        };
        assert_eq!(
            memory_read(frame),
            Some(MemoryRead::Data {
                epc: Bytes::from(epc),
                data: Bytes::from(tid)
            })
        );
        // A failed read: error code 0x09 followed by the tag's UL PC+EPC.
        let failed = JrdFrame::new(
            FrameType::Response,
            CMD_ERROR,
            hex("09 0E 30 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70"),
        )
        .unwrap();
        assert_eq!(
            memory_read(&failed),
            Some(MemoryRead::Failed { code: 0x09 })
        );
        // A response too short for its UL is not a read.
        let short = JrdFrame::new(FrameType::Response, CMD_READ_MEMORY, hex("0E 30 00")).unwrap();
        assert_eq!(memory_read(&short), None);
    }

    #[test]
    fn the_no_tag_error_response_decodes() {
        let messages = decode_all(&mut JrdCodec::new(), &hex("BB 01 FF 00 01 15 16 7E"));
        assert_eq!(messages, vec![JrdMessage::Error { code: ERROR_NO_TAG }]);
    }

    #[test]
    fn gen2_crc16_matches_the_standard_check_value() {
        // CRC-16/GENIBUS (the EPC Gen2 CRC) check value over "123456789".
        assert_eq!(gen2_crc16(b"123456789"), 0xD64E);
    }

    #[test]
    fn a_built_notice_carries_a_valid_tag_crc() {
        let notice = TagNotice::new(-60, 0, hex("30 74 25 7B F7 19 4E 40 00 00 1A 85")).unwrap();
        assert_eq!(notice.pc(), 0x3000);
        assert!(notice.crc_is_valid());
    }

    #[test]
    fn a_frame_split_anywhere_decodes_once_complete() {
        let bytes = hex("BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E");
        for cut in 0..bytes.len() {
            let mut codec = JrdCodec::new();
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert!(codec.decode(&mut buf).unwrap().is_none(), "cut at {cut}");
            buf.extend_from_slice(&bytes[cut..]);
            assert!(
                matches!(
                    codec.decode(&mut buf).unwrap(),
                    Some(JrdMessage::TagNotice(_))
                ),
                "cut at {cut}"
            );
            assert_eq!(codec.stats().garbage_bytes, 0);
        }
    }

    #[test]
    fn garbage_before_a_frame_is_skipped_and_counted() {
        let mut bytes = hex("00 7E BB 13 37");
        bytes.extend(hex("BB 01 FF 00 01 15 16 7E"));
        let mut codec = JrdCodec::new();
        assert_eq!(
            decode_all(&mut codec, &bytes),
            vec![JrdMessage::Error { code: ERROR_NO_TAG }]
        );
        assert_eq!(codec.stats().garbage_bytes, 5);
        assert_eq!(codec.stats().frames, 1);
    }

    #[test]
    fn a_bad_checksum_is_counted_and_the_next_frame_still_decodes() {
        let mut bytes = hex("BB 01 FF 00 01 15 17 7E");
        bytes.extend(hex("BB 00 28 00 00 28 7E"));
        let mut codec = JrdCodec::new();
        let messages = decode_all(&mut codec, &bytes);
        assert_eq!(messages.len(), 1);
        assert_eq!(
            JrdCommand::from_frame(&messages[0].to_frame()),
            Some(JrdCommand::StopMultiPoll)
        );
        assert_eq!(codec.stats().checksum_failures, 1);
    }

    #[test]
    fn a_notice_whose_length_disagrees_with_its_pc_is_counted_as_malformed() {
        // PC says 6 words but only 2 EPC bytes follow.
        let frame = JrdFrame::new(
            FrameType::Notice,
            CMD_INVENTORY,
            hex("C9 30 00 AA BB 12 34"),
        )
        .unwrap();
        let mut codec = JrdCodec::new();
        let messages = decode_all(&mut codec, &frame.to_bytes());
        assert!(matches!(&messages[..], [JrdMessage::Other(_)]));
        assert_eq!(codec.stats().malformed, 1);
    }

    #[test]
    fn a_truncated_stream_leaves_no_message_and_no_error() {
        let bytes = hex("BB 02 22 00 11 C9 34 00");
        let mut codec = JrdCodec::new();
        assert!(decode_all(&mut codec, &bytes).is_empty());
        assert_eq!(codec.stats().garbage_bytes, bytes.len() as u64);
    }
}
