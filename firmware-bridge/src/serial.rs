//! Serial transports: the pure codecs of [`crate::codec`] over a serial port (`tokio-serial`), the
//! supervisor that reopens a port after errors, and a simulated JRD module on a pseudo-terminal.
//!
//! A JRD session sets the transmit power (if configured), starts a continuous inventory and turns
//! every tag notice into a [`TagRead`] stamped with the bridge's clock. The module stops a
//! multi-poll after its count of rounds, so the session starts it again every
//! [`JRD_RESTART_EVERY`]. On cancellation it stops the inventory before closing the port.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ledger::UnixMillis;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::codec::DecodeStats;
use crate::codec::jrd::{
    BANK_TID, CMD_ERROR, CMD_GET_POWER, CMD_SET_POWER, CMD_SET_SELECT, ERROR_NO_TAG, FrameType,
    JrdCodec, JrdCommand, JrdFrame, JrdMessage, MemoryRead, SELECT_BEFORE_ACCESS, TagNotice,
    memory_read, memory_read_response, select_epc, selected_epc,
};
use crate::read::{ReaderId, TagRead};
use crate::simulator::{TimedNotice, Xorshift};

/// How often a JRD session restarts the module's multi-poll inventory.
pub const JRD_RESTART_EVERY: Duration = Duration::from_secs(30);

/// Why a serial session ended.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// The port could not be opened.
    #[error("failed to open serial port {path}: {source}")]
    Open {
        /// The port.
        path: PathBuf,
        /// Why.
        source: tokio_serial::Error,
    },
    /// Reading or writing failed.
    #[error("serial I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The port closed (the device went away).
    #[error("the serial port closed")]
    Closed,
    /// The consumer of reads has gone (the bridge is shutting down).
    #[error("the read channel closed")]
    ChannelClosed,
}

/// Counters shared between a session and the metrics endpoint.
#[derive(Debug, Default)]
pub struct SerialCounters {
    /// Frames that passed their checks.
    pub frames: AtomicU64,
    /// Candidate frames whose checksum failed.
    pub checksum_failures: AtomicU64,
    /// Candidate frames refused for their structure.
    pub malformed: AtomicU64,
    /// Garbage bytes skipped.
    pub garbage_bytes: AtomicU64,
    /// Sessions that failed (the port could not be opened, or was lost), each followed by a
    /// reconnect after a backoff.
    pub reconnects: AtomicU64,
}

impl SerialCounters {
    fn add(&self, now: &DecodeStats, before: &DecodeStats) {
        self.frames
            .fetch_add(now.frames - before.frames, Ordering::Relaxed);
        self.checksum_failures.fetch_add(
            now.checksum_failures - before.checksum_failures,
            Ordering::Relaxed,
        );
        self.malformed
            .fetch_add(now.malformed - before.malformed, Ordering::Relaxed);
        self.garbage_bytes
            .fetch_add(now.garbage_bytes - before.garbage_bytes, Ordering::Relaxed);
    }
}

/// Opens a serial port at `baud` (8N1, no flow control).
pub fn open_port(path: &Path, baud: u32) -> Result<tokio_serial::SerialStream, SerialError> {
    let builder = tokio_serial::new(path.to_string_lossy(), baud);
    tokio_serial::SerialStream::open(&builder).map_err(|source| SerialError::Open {
        path: path.to_owned(),
        source,
    })
}

/// The current time from the system clock.
pub fn system_now() -> UnixMillis {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    UnixMillis::from_millis(millis)
}

/// TID words read per tag: 96 bits, the class, mask designer, model and a 48-bit serial of the
/// common serialised TIDs.
pub const TID_WORDS: u16 = 6;
/// How often a session pauses the inventory to read the TIDs of newly seen tags.
pub const TID_ROUND_EVERY: Duration = Duration::from_millis(100);
/// Most TIDs read in one pause.
const TID_ROUND_SIZE: usize = 16;
/// How long the module has to answer one Select or read.
const TID_ANSWER_TIMEOUT: Duration = Duration::from_millis(300);
/// Failed reads of one tag's TID before the session stops asking.
const TID_ATTEMPTS: u8 = 3;
/// Tags whose TID state a session remembers; when full, it forgets them all and starts over.
const TID_CACHE_LIMIT: usize = 65_536;

/// What a session knows of a tag's TID.
#[derive(Debug, Clone)]
enum TidEntry {
    /// Queued for a read, after this many failed ones.
    Waiting { failures: u8 },
    /// Read.
    Known(Bytes),
    /// Failed [`TID_ATTEMPTS`] times: not asked again.
    GaveUp,
}

/// The TIDs of the tags a session has seen; every `Waiting` tag is in `queue` once.
#[derive(Debug, Default)]
struct Tids {
    entries: HashMap<Bytes, TidEntry>,
    queue: VecDeque<Bytes>,
}

impl Tids {
    /// The TID of `epc` when known; a tag seen for the first time is queued for a read.
    fn lookup(&mut self, epc: &Bytes) -> Option<Bytes> {
        if let Some(entry) = self.entries.get(epc) {
            return match entry {
                TidEntry::Known(tid) => Some(tid.clone()),
                TidEntry::Waiting { .. } | TidEntry::GaveUp => None,
            };
        }
        if self.entries.len() >= TID_CACHE_LIMIT {
            self.entries.clear();
            self.queue.clear();
        }
        self.entries
            .insert(epc.clone(), TidEntry::Waiting { failures: 0 });
        self.queue.push_back(epc.clone());
        None
    }

    fn read(&mut self, epc: &Bytes, tid: Bytes) {
        self.entries.insert(epc.clone(), TidEntry::Known(tid));
    }

    fn failed(&mut self, epc: &Bytes) {
        let failures = match self.entries.get(epc) {
            Some(TidEntry::Waiting { failures }) => failures + 1,
            _ => return,
        };
        if failures >= TID_ATTEMPTS {
            self.entries.insert(epc.clone(), TidEntry::GaveUp);
        } else {
            self.entries
                .insert(epc.clone(), TidEntry::Waiting { failures });
            self.queue.push_back(epc.clone());
        }
    }
}

/// A JRD port with its codec.
type JrdPort<P> = Framed<P, JrdCodec>;

/// What a JRD session needs besides its port.
struct JrdContext<'a> {
    reader: &'a ReaderId,
    reads: &'a mpsc::Sender<TagRead>,
    counters: &'a SerialCounters,
    /// The codec's counts already added to `counters`.
    seen: DecodeStats,
    /// TIDs, when the session reads them.
    tids: Option<Tids>,
}

impl JrdContext<'_> {
    /// Counts what the codec saw since the last call.
    fn count<P>(&mut self, framed: &JrdPort<P>) {
        let stats = *framed.codec().stats();
        self.counters.add(&stats, &self.seen);
        self.seen = stats;
    }

    /// Forwards a tag notice as a read (with the tag's TID when it is known).
    async fn notice(&mut self, notice: &TagNotice) -> Result<(), SerialError> {
        let tid = self
            .tids
            .as_mut()
            .and_then(|tids| tids.lookup(notice.epc()));
        let rssi = i32::from(notice.rssi_dbm()) * 100;
        self.send(notice.epc().clone(), tid, Some(rssi)).await
    }

    /// Sends a read of `epc`, seen now.
    async fn send(
        &self,
        epc: Bytes,
        tid: Option<Bytes>,
        rssi_centi_dbm: Option<i32>,
    ) -> Result<(), SerialError> {
        let read = TagRead {
            reader: self.reader.clone(),
            antenna: 1,
            epc,
            tid,
            rssi_centi_dbm,
            seen_at: system_now(),
        };
        self.reads
            .send(read)
            .await
            .map_err(|_| SerialError::ChannelClosed)
    }

    /// Waits for the module's answer to a command (a frame `wanted` accepts), forwarding tag
    /// notices that are still arriving; `None` when none came in time.
    async fn answer<P>(
        &mut self,
        framed: &mut JrdPort<P>,
        wanted: impl Fn(&JrdFrame) -> bool,
    ) -> Result<Option<JrdFrame>, SerialError>
    where
        P: AsyncRead + AsyncWrite + Unpin,
    {
        let deadline = tokio::time::Instant::now() + TID_ANSWER_TIMEOUT;
        loop {
            let message = match tokio::time::timeout_at(deadline, framed.next()).await {
                Err(_) => return Ok(None),
                Ok(message) => message,
            };
            self.count(framed);
            match message {
                None => return Err(SerialError::Closed),
                Some(Err(error)) => return Err(SerialError::Io(error)),
                Some(Ok(JrdMessage::TagNotice(notice))) => self.notice(&notice).await?,
                Some(Ok(message)) => {
                    let frame = message.to_frame();
                    if wanted(&frame) {
                        return Ok(Some(frame));
                    }
                }
            }
        }
    }

    /// Pauses the inventory, reads the TIDs of up to [`TID_ROUND_SIZE`] queued tags (Select by
    /// EPC, then read the TID bank), sends a read carrying each TID read, and resumes.
    async fn read_tids<P>(&mut self, framed: &mut JrdPort<P>) -> Result<(), SerialError>
    where
        P: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(tids) = self.tids.as_mut() else {
            return Ok(());
        };
        let count = tids.queue.len().min(TID_ROUND_SIZE);
        if count == 0 {
            return Ok(());
        }
        let batch: Vec<Bytes> = tids.queue.drain(..count).collect();
        framed.send(JrdCommand::StopMultiPoll).await?;
        for epc in batch {
            let tid = self.read_tid(framed, &epc).await?;
            let Some(tids) = self.tids.as_mut() else {
                break;
            };
            match tid {
                Some(tid) => {
                    tids.read(&epc, tid.clone());
                    self.send(epc, Some(tid), None).await?;
                }
                None => tids.failed(&epc),
            }
        }
        framed
            .send(JrdCommand::MultiPoll { count: u16::MAX })
            .await?;
        Ok(())
    }

    /// One tag's TID, or `None` when the module could not read it.
    async fn read_tid<P>(
        &mut self,
        framed: &mut JrdPort<P>,
        epc: &Bytes,
    ) -> Result<Option<Bytes>, SerialError>
    where
        P: AsyncRead + AsyncWrite + Unpin,
    {
        let Ok(select) = select_epc(epc) else {
            return Ok(None);
        };
        framed.send(&select).await?;
        let selected = self
            .answer(framed, |frame| {
                frame.frame_type() == FrameType::Response
                    && (frame.command() == CMD_SET_SELECT || frame.command() == CMD_ERROR)
            })
            .await?;
        let accepted = selected.is_some_and(|frame| {
            frame.command() == CMD_SET_SELECT && frame.params().first() == Some(&0x00)
        });
        if !accepted {
            return Ok(None);
        }
        framed
            .send(JrdCommand::ReadMemory {
                password: 0,
                bank: BANK_TID,
                word_address: 0,
                word_count: TID_WORDS,
            })
            .await?;
        let answer = self
            .answer(framed, |frame| memory_read(frame).is_some())
            .await?;
        Ok(match answer.as_ref().and_then(memory_read) {
            Some(MemoryRead::Data {
                epc: answered,
                data,
            }) if answered == *epc && data.len() == usize::from(TID_WORDS) * 2 => Some(data),
            Some(MemoryRead::Data { .. } | MemoryRead::Failed { .. }) | None => None,
        })
    }
}

/// Runs one JRD session on an open port until cancelled or until the port fails.
///
/// With `capture_tid`, the session also reads each new tag's TID once: it makes the module send
/// Select before tag access only (so inventory still sees every tag), and every
/// [`TID_ROUND_EVERY`] in which new tags were seen it stops the inventory, reads their TIDs and
/// starts it again. Each TID read is sent as a read of its own (so the smoother attaches it to the
/// tag's current cycle) and with every later read of the tag. A tag whose TID cannot be read after
/// three tries is reported without one. The pauses cost inventory time in proportion to the number
/// of new tags (a Select and a read each); switch TID capture off where every read counts.
pub async fn run_jrd_session<P>(
    port: P,
    reader: &ReaderId,
    power_dbm: Option<u8>,
    capture_tid: bool,
    reads: &mpsc::Sender<TagRead>,
    counters: &SerialCounters,
    cancel: &CancellationToken,
) -> Result<(), SerialError>
where
    P: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = Framed::new(port, JrdCodec::new());
    if let Some(dbm) = power_dbm {
        framed
            .send(JrdCommand::SetPower {
                centi_dbm: u16::from(dbm) * 100,
            })
            .await?;
    }
    if capture_tid {
        framed
            .send(JrdCommand::SetSelectMode {
                mode: SELECT_BEFORE_ACCESS,
            })
            .await?;
    }
    framed
        .send(JrdCommand::MultiPoll { count: u16::MAX })
        .await?;
    let mut context = JrdContext {
        reader,
        reads,
        counters,
        seen: *framed.codec().stats(),
        tids: capture_tid.then(Tids::default),
    };
    let mut restart = tokio::time::interval(JRD_RESTART_EVERY);
    restart.tick().await;
    let mut tid_round = tokio::time::interval(TID_ROUND_EVERY);
    tid_round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                // Best effort: if the port is already gone, there is no inventory left to stop.
                if let Err(error) = framed.send(JrdCommand::StopMultiPoll).await {
                    tracing::debug!(reader = %reader, error = %error, "could not stop the inventory at shutdown");
                }
                return Ok(());
            }
            _ = restart.tick() => {
                framed.send(JrdCommand::MultiPoll { count: u16::MAX }).await?;
            }
            _ = tid_round.tick(), if context.tids.as_ref().is_some_and(|tids| !tids.queue.is_empty()) => {
                context.read_tids(&mut framed).await?;
            }
            message = framed.next() => {
                context.count(&framed);
                match message {
                    None => return Err(SerialError::Closed),
                    Some(Err(error)) => return Err(SerialError::Io(error)),
                    Some(Ok(JrdMessage::TagNotice(notice))) => context.notice(&notice).await?,
                    Some(Ok(JrdMessage::Error { code: ERROR_NO_TAG })) => {}
                    Some(Ok(JrdMessage::Error { code })) => {
                        tracing::warn!(reader = %reader, code, "the module reported an error");
                    }
                    Some(Ok(JrdMessage::Other(_))) => {}
                }
            }
        }
    }
}

/// How often an RU5102 session asks the reader for an inventory round.
pub const RU5102_POLL_EVERY: Duration = Duration::from_millis(100);

/// Runs one CF-RU5102 session on an open port until cancelled or until the port fails: sets the
/// power (if configured), then asks for an inventory round every [`RU5102_POLL_EVERY`] and turns
/// every EPC of every inventory response into a [`TagRead`]. The reader answers at its own pace;
/// a response with status "more follows" is simply followed by more frames.
pub async fn run_ru5102_session<P>(
    port: P,
    reader: &ReaderId,
    power_dbm: Option<u8>,
    reads: &mpsc::Sender<TagRead>,
    counters: &SerialCounters,
    cancel: &CancellationToken,
) -> Result<(), SerialError>
where
    P: AsyncRead + AsyncWrite + Unpin,
{
    use crate::codec::ru5102::{Ru5102Codec, Ru5102Command};
    let mut framed = Framed::new(port, Ru5102Codec::default());
    if let Some(dbm) = power_dbm {
        framed.send(Ru5102Command::SetPower { dbm }).await?;
    }
    let mut poll = tokio::time::interval(RU5102_POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = *framed.codec().stats();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            _ = poll.tick() => {
                framed.send(Ru5102Command::Inventory).await?;
            }
            frame = framed.next() => {
                let stats = *framed.codec().stats();
                counters.add(&stats, &seen);
                seen = stats;
                let frame = match frame {
                    None => return Err(SerialError::Closed),
                    Some(Err(error)) => return Err(SerialError::Io(error)),
                    Some(Ok(frame)) => frame,
                };
                let inventory = frame.response().ok().and_then(|response| response.inventory());
                match inventory {
                    Some(Ok(inventory)) => {
                        let now = system_now();
                        for epc in inventory.epcs {
                            let read = TagRead { reader: reader.clone(), antenna: 1, epc, tid: None, rssi_centi_dbm: None, seen_at: now };
                            reads.send(read).await.map_err(|_| SerialError::ChannelClosed)?;
                        }
                    }
                    Some(Err(error)) => {
                        counters.malformed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(reader = %reader, error = %error, "a malformed inventory response");
                    }
                    None => {}
                }
            }
        }
    }
}

/// Which protocol a serial reader speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialProtocol {
    /// JRD-4035 / R200 modules.
    Jrd,
    /// CF-RU5102 / UHFReader18 readers.
    Ru5102,
}

/// A serial reader to keep connected.
#[derive(Debug, Clone)]
pub struct SerialReader {
    /// Its protocol.
    pub protocol: SerialProtocol,
    /// The port's path.
    pub path: PathBuf,
    /// Its speed.
    pub baud: u32,
    /// The reader's name.
    pub reader: ReaderId,
    /// Transmit power to set at every connect.
    pub power_dbm: Option<u8>,
    /// Whether to read tags' TIDs (JRD modules; a read point of this reader captures TIDs).
    pub capture_tid: bool,
}

/// Keeps a serial reader connected (either protocol): opens the port, runs a session, and after any failure waits a
/// jittered, growing delay (capped at `max_delay`) before reopening. Returns when cancelled.
pub async fn supervise_jrd(
    port: SerialReader,
    reads: mpsc::Sender<TagRead>,
    counters: Arc<SerialCounters>,
    cancel: CancellationToken,
    max_delay: Duration,
) {
    let SerialReader {
        protocol,
        path,
        baud,
        reader,
        power_dbm,
        capture_tid,
    } = port;
    if capture_tid && protocol == SerialProtocol::Ru5102 {
        tracing::warn!(reader = %reader, "TID capture is not implemented for RU5102 readers; their events carry EPCs only");
    }
    let mut backoff = service_kit::backoff::Backoff::new(Duration::from_millis(100), max_delay);
    while !cancel.is_cancelled() {
        let outcome = match open_port(&path, baud) {
            Ok(port) => {
                backoff.reset();
                match protocol {
                    SerialProtocol::Jrd => {
                        run_jrd_session(
                            port,
                            &reader,
                            power_dbm,
                            capture_tid,
                            &reads,
                            &counters,
                            &cancel,
                        )
                        .await
                    }
                    SerialProtocol::Ru5102 => {
                        run_ru5102_session(port, &reader, power_dbm, &reads, &counters, &cancel)
                            .await
                    }
                }
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => return,
            Err(SerialError::ChannelClosed) => return,
            Err(error) => {
                counters.reconnects.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                tracing::warn!(reader = %reader, error = %error, delay_ms = delay.as_millis() as u64, "serial reader lost; reconnecting");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// A simulated JRD module: answers the host's commands and, while a multi-poll runs, streams the
/// given notices in a loop, paced by their time offsets (`speed` × real time).
#[derive(Debug)]
pub struct SimulatedJrdModule {
    notices: Vec<TimedNotice>,
    loop_ms: u64,
    speed: f64,
    /// Fraction of frames to corrupt (one flipped bit), to exercise resynchronisation.
    corrupt: f64,
}

impl SimulatedJrdModule {
    /// A module streaming `notices` (sorted by time), starting over every `loop_ms`.
    pub fn new(notices: Vec<TimedNotice>, loop_ms: u64) -> Self {
        SimulatedJrdModule {
            notices,
            loop_ms: loop_ms.max(1),
            speed: 1.0,
            corrupt: 0.0,
        }
    }

    /// Plays time faster (`speed` > 1) or slower.
    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = if speed > 0.0 { speed } else { 1.0 };
        self
    }

    /// Corrupts a fraction of frames.
    pub fn with_corruption(mut self, fraction: f64) -> Self {
        self.corrupt = fraction.clamp(0.0, 1.0);
        self
    }

    /// Serves the host on `port` until cancelled or the port closes.
    pub async fn serve<P>(self, port: P, cancel: CancellationToken) -> Result<(), std::io::Error>
    where
        P: AsyncRead + AsyncWrite + Unpin,
    {
        let mut framed = Framed::new(port, JrdCodec::new());
        let mut power: u16 = 2600;
        let mut polling = false;
        let mut paused_at: Option<tokio::time::Instant> = None;
        let mut next = 0usize;
        let mut cycle_start = tokio::time::Instant::now();
        let mut rng = Xorshift::new(7);
        // The tags in the field (every tag of the stream) and the one Select addresses.
        let in_field: std::collections::HashSet<Bytes> = self
            .notices
            .iter()
            .map(|timed| timed.notice.epc().clone())
            .collect();
        let mut selected: Option<Bytes> = None;
        let mut select_before_access = false;
        loop {
            let due = if polling && !self.notices.is_empty() {
                let offset = self.notices[next].at_ms as f64 / self.speed;
                Some(cycle_start + Duration::from_micros((offset * 1000.0) as u64))
            } else {
                None
            };
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                command = framed.next() => {
                    let Some(command) = command else { return Ok(()) };
                    let frame = command?.to_frame();
                    if let Some(epc) = selected_epc(&frame) {
                        selected = Some(epc);
                        framed.send(&response(CMD_SET_SELECT, &[0x00])).await?;
                        continue;
                    }
                    match JrdCommand::from_frame(&frame) {
                        Some(JrdCommand::MultiPoll { .. }) if !polling => {
                            polling = true;
                            match paused_at.take() {
                                // Resume the stream where it stopped.
                                Some(paused) => cycle_start += paused.elapsed(),
                                None => {
                                    next = 0;
                                    cycle_start = tokio::time::Instant::now();
                                }
                            }
                        }
                        Some(JrdCommand::MultiPoll { .. }) => {}
                        Some(JrdCommand::StopMultiPoll) => {
                            if polling {
                                paused_at = Some(tokio::time::Instant::now());
                            }
                            polling = false;
                            framed.send(&response(frame.command(), &[0x00])).await?;
                        }
                        Some(JrdCommand::SetSelectMode { mode }) => {
                            select_before_access = mode == SELECT_BEFORE_ACCESS;
                            framed.send(&response(frame.command(), &[0x00])).await?;
                        }
                        Some(JrdCommand::ReadMemory { bank: BANK_TID, word_address: 0, word_count, .. }) => {
                            let tag = selected
                                .as_ref()
                                .filter(|epc| select_before_access && in_field.contains(*epc));
                            let answer = tag.and_then(|epc| {
                                let tid = simulated_tid(epc);
                                let words = usize::from(word_count).min(tid.len() / 2);
                                let pc = u16::try_from(epc.len() / 2).unwrap_or(0) << 11;
                                memory_read_response(pc, epc, &tid[..words * 2]).ok()
                            });
                            match answer {
                                Some(answer) => framed.send(&answer).await?,
                                // Error 0x09: the read failed (no such tag answered).
                                None => framed.send(&response(CMD_ERROR, &[0x09])).await?,
                            }
                        }
                        Some(JrdCommand::ReadMemory { .. }) => {
                            framed.send(&response(CMD_ERROR, &[0x09])).await?;
                        }
                        Some(JrdCommand::SetPower { centi_dbm }) => {
                            power = centi_dbm;
                            framed.send(&response(CMD_SET_POWER, &[0x00])).await?;
                        }
                        Some(JrdCommand::GetPower) => {
                            framed.send(&response(CMD_GET_POWER, &power.to_be_bytes())).await?;
                        }
                        Some(JrdCommand::SinglePoll) => {
                            framed.send(&response(CMD_ERROR, &[ERROR_NO_TAG])).await?;
                        }
                        Some(JrdCommand::ModuleInfo { kind }) => {
                            let mut params = vec![kind];
                            params.extend_from_slice(b"tagtrail-sim JRD");
                            framed.send(&response(frame.command(), &params)).await?;
                        }
                        None => {}
                    }
                }
                () = sleep_until(due) => {
                    let frame = self.notices[next].notice.to_frame();
                    if self.corrupt > 0.0 && rng.unit() < self.corrupt {
                        let mut bytes = bytes::BytesMut::from(&frame.to_bytes()[..]);
                        let bit = rng.below(bytes.len() as u64 * 8) as usize;
                        bytes[bit / 8] ^= 1 << (bit % 8);
                        use tokio::io::AsyncWriteExt as _;
                        SinkExt::<JrdCommand>::flush(&mut framed).await?;
                        framed.get_mut().write_all(&bytes).await?;
                    } else {
                        framed.send(&frame).await?;
                    }
                    next += 1;
                    if next == self.notices.len() {
                        next = 0;
                        cycle_start += Duration::from_micros((self.loop_ms as f64 / self.speed * 1000.0) as u64);
                    }
                }
            }
        }
    }
}

/// The TID the simulated module reports for `epc`: `E2 80 11 70` (class, mask designer, model)
/// followed by the EPC's last 8 bytes (for SGTIN-96, which carry the serial number), so distinct
/// tags have distinct TIDs.
pub fn simulated_tid(epc: &[u8]) -> [u8; 12] {
    let mut tid = [0xE2, 0x80, 0x11, 0x70, 0, 0, 0, 0, 0, 0, 0, 0];
    let tail = &epc[epc.len().saturating_sub(8)..];
    tid[12 - tail.len()..].copy_from_slice(tail);
    tid
}

fn response(command: u8, params: &[u8]) -> JrdFrame {
    // Parameters here are a few bytes, far below the 16-bit limit, so `new` cannot refuse them;
    // an empty response stands in should it ever.
    JrdFrame::new(FrameType::Response, command, params.to_vec()).unwrap_or_else(|_| {
        JrdFrame::new(FrameType::Response, command, Vec::new())
            .unwrap_or_else(|_| JrdCommand::GetPower.to_frame())
    })
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
