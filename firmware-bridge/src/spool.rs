//! The on-disk spool: every event is stored durably before anything else happens to it, and leaves
//! only when ingest has returned its receipt.
//!
//! **SQLite in WAL mode** (bundled SQLite through `rusqlite`), with `synchronous = FULL`: a commit
//! returns only after its WAL frames are on disk, and SQLite checksums every WAL frame and ignores a
//! torn (partially written) tail on recovery, so a `kill -9` or a power cut mid-write loses nothing
//! that was committed and never exposes half an event. We chose it over a hand-written segment log
//! because the hard parts (torn-write detection, fsync ordering, recovery, compaction after
//! deletes) are SQLite's most tested code, while a segment log would need all of them written and
//! proven anew; the cost is a C dependency compiled from source and about 1 MB of binary.
//!
//! Events are rows `(seq INTEGER PRIMARY KEY, spooled_at, event, keys)`; `keys` is the key set
//! that opens the event's sealed values (`[sealing]`), stored in the event's own transaction, or
//! NULL (a spool made before sealing gets the column when opened). `seq` only grows
//! (`AUTOINCREMENT`), so the spool drains in the order events were taken in. It is bounded by
//! `max_events`; when full, the policy is **refuse new**: events already spooled are never
//! dropped to make room, newly built ones are refused and counted ([`AppendOutcome::refused`]) so
//! that an operator sees the loss on the `..._spool_refused_total` metric and in the logs.
//!
//! All methods block on disk I/O: call them from `tokio::task::spawn_blocking` in async code.

use std::path::Path;

use ledger::UnixMillis;
use rusqlite::{Connection, params};

/// Position of an event in the spool (grows with every event ever spooled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpoolSeq(i64);

impl SpoolSeq {
    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A spool operation that failed (the spool's content is unchanged by a failed operation).
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// SQLite refused (disk full, permissions, corruption).
    #[error("spool database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored row is not what the bridge writes.
    #[error("spool row {seq}: {rule}")]
    BadRow {
        /// The row.
        seq: i64,
        /// What is wrong.
        rule: &'static str,
    },
}

/// One spooled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledEvent {
    /// Its position.
    pub seq: SpoolSeq,
    /// When it was spooled.
    pub spooled_at: UnixMillis,
    /// The event's JSON, as built (its sealed values sealed).
    pub event: String,
    /// The key set that opens the event's sealed values (standard base64), if it holds any.
    pub keys: Option<String>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Events stored.
    pub accepted: usize,
    /// Events refused because the spool was full.
    pub refused: usize,
}

/// The spool.
#[derive(Debug)]
pub struct Spool {
    connection: Connection,
    max_events: u64,
    depth: u64,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS spool (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        spooled_at INTEGER NOT NULL,
        event      TEXT    NOT NULL
    );
    CREATE TABLE IF NOT EXISTS quarantine (
        seq        INTEGER PRIMARY KEY,
        spooled_at INTEGER NOT NULL,
        event      TEXT    NOT NULL,
        reason     TEXT    NOT NULL
    );
    CREATE TABLE IF NOT EXISTS counter (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    -- The number of spooled events, kept exact by every connection's inserts and deletes (the
    -- bridge spools on one connection and uploads on another), so reading it is O(1).
    CREATE TRIGGER IF NOT EXISTS spool_depth_insert AFTER INSERT ON spool BEGIN
        UPDATE counter SET value = value + 1 WHERE name = 'spool-depth';
    END;
    CREATE TRIGGER IF NOT EXISTS spool_depth_delete AFTER DELETE ON spool BEGIN
        UPDATE counter SET value = value - 1 WHERE name = 'spool-depth';
    END;
    -- A spool written before the triggers existed is counted once.
    INSERT OR IGNORE INTO counter (name, value) SELECT 'spool-depth', count(*) FROM spool;
";

/// The tables that hold events, each given the `keys` column (the key set of the event's sealed
/// values, or NULL) when a spool written before sealing is opened.
const KEYED_TABLES: [&str; 2] = ["spool", "quarantine"];

impl Spool {
    /// Opens (creating if needed) the spool at `path`, holding at most `max_events`.
    pub fn open(path: &Path, max_events: u64) -> Result<Self, SpoolError> {
        let connection = Connection::open(path)?;
        // WAL: readers and the writer do not block each other, and a commit is one sequential write.
        let mode: String =
            connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SpoolError::Database(rusqlite::Error::InvalidQuery));
        }
        // FULL: fsync the WAL at every commit, so a committed event survives power loss.
        connection.execute_batch("PRAGMA synchronous = FULL;")?;
        // Another connection (the uploader's) may hold the write lock for a moment: wait for it.
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        connection.execute_batch(SCHEMA)?;
        for table in KEYED_TABLES {
            let keyed = |connection: &Connection| -> rusqlite::Result<bool> {
                connection.query_row(
                    &format!(
                        "SELECT count(*) > 0 FROM pragma_table_info('{table}') WHERE name = 'keys'"
                    ),
                    [],
                    |row| row.get(0),
                )
            };
            if !keyed(&connection)? {
                // Another process opening the same old spool may add it first: fine, as long as
                // the column is there afterwards.
                if let Err(error) =
                    connection.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN keys TEXT"))
                    && !keyed(&connection)?
                {
                    return Err(error.into());
                }
            }
        }
        let mut spool = Spool {
            connection,
            max_events,
            depth: 0,
        };
        spool.refresh_depth()?;
        Ok(spool)
    }

    /// Number of events held, as last read by this connection ([`Spool::refresh_depth`] reads
    /// it again: another connection may have added or removed events since).
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// Reads the number of events held now, whichever connection changed it (O(1)).
    pub fn refresh_depth(&mut self) -> Result<u64, SpoolError> {
        let depth: i64 = self.connection.query_row(
            "SELECT value FROM counter WHERE name = 'spool-depth'",
            [],
            |row| row.get(0),
        )?;
        self.depth = u64::try_from(depth).unwrap_or(0);
        Ok(self.depth)
    }

    /// Most events held.
    pub fn capacity(&self) -> u64 {
        self.max_events
    }

    /// Bytes the spool takes on disk now: its database file, its write-ahead log and the log's
    /// shared-memory index (a file that is missing counts as 0; an in-memory spool is 0). The WAL
    /// holds committed events until SQLite checkpoints them into the database file, so the sum,
    /// not the database file alone, is what the file system must hold.
    pub fn disk_bytes(&self) -> u64 {
        let Some(path) = self.connection.path().filter(|path| !path.is_empty()) else {
            return 0;
        };
        [
            path.to_owned(),
            format!("{path}-wal"),
            format!("{path}-shm"),
        ]
        .iter()
        .map(|file| std::fs::metadata(file).map_or(0, |metadata| metadata.len()))
        .sum()
    }

    /// Whether new events would be refused.
    pub fn is_full(&self) -> bool {
        self.depth >= self.max_events
    }

    /// Stores `events` (JSON text) in order, in one durable transaction; when the spool fills up,
    /// the rest are refused.
    pub fn append<S: AsRef<str>>(
        &mut self,
        events: &[S],
        now: UnixMillis,
    ) -> Result<AppendOutcome, SpoolError> {
        self.append_keyed(events, &[], now)
    }

    /// As [`Spool::append`], each event with the key set of its sealed values (`keys[i]` for
    /// `events[i]`; an event past the end of `keys` has none), in the same transaction: an event
    /// is never stored without what opens it.
    pub fn append_keyed<S: AsRef<str>>(
        &mut self,
        events: &[S],
        keys: &[Option<String>],
        now: UnixMillis,
    ) -> Result<AppendOutcome, SpoolError> {
        let mut room =
            usize::try_from(self.max_events.saturating_sub(self.depth)).unwrap_or(usize::MAX);
        if events.len() > room {
            // Another connection may have removed events since this one last counted.
            self.refresh_depth()?;
            room =
                usize::try_from(self.max_events.saturating_sub(self.depth)).unwrap_or(usize::MAX);
        }
        let accepted = events.len().min(room);
        if accepted > 0 {
            let spooled_at = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
            let transaction = self.connection.transaction()?;
            {
                let mut insert = transaction
                    .prepare("INSERT INTO spool (spooled_at, event, keys) VALUES (?1, ?2, ?3)")?;
                for (index, event) in events[..accepted].iter().enumerate() {
                    let keys = keys.get(index).and_then(Option::as_deref);
                    insert.execute(params![spooled_at, event.as_ref(), keys])?;
                }
            }
            transaction.commit()?;
            self.depth += accepted as u64;
        }
        Ok(AppendOutcome {
            accepted,
            refused: events.len() - accepted,
        })
    }

    /// The oldest `limit` events, oldest first.
    pub fn peek(&self, limit: usize) -> Result<Vec<SpooledEvent>, SpoolError> {
        let mut select = self
            .connection
            .prepare("SELECT seq, spooled_at, event, keys FROM spool ORDER BY seq LIMIT ?1")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = select.query_map([limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, spooled_at, event, keys) = row?;
            let spooled_at = u64::try_from(spooled_at).map_err(|_| SpoolError::BadRow {
                seq,
                rule: "negative spooled_at",
            })?;
            out.push(SpooledEvent {
                seq: SpoolSeq(seq),
                spooled_at: UnixMillis::from_millis(spooled_at),
                event,
                keys,
            });
        }
        Ok(out)
    }

    /// When the oldest event was spooled.
    pub fn oldest(&self) -> Result<Option<UnixMillis>, SpoolError> {
        let oldest: Option<i64> =
            self.connection
                .query_row("SELECT min(spooled_at) FROM spool", [], |row| row.get(0))?;
        Ok(oldest.map(|millis| UnixMillis::from_millis(u64::try_from(millis).unwrap_or(0))))
    }

    /// Moves events that ingest refused for good (a client error, not an outage) out of the
    /// queue into the `quarantine` table with the reason, so they stop blocking the queue but are
    /// kept for an operator to inspect. Returns how many moved.
    pub fn quarantine(&mut self, seqs: &[SpoolSeq], reason: &str) -> Result<u64, SpoolError> {
        let transaction = self.connection.transaction()?;
        let mut moved = 0u64;
        {
            let mut copy = transaction.prepare(
                "INSERT INTO quarantine (seq, spooled_at, event, reason, keys) SELECT seq, spooled_at, event, ?2, keys FROM spool WHERE seq = ?1",
            )?;
            let mut delete = transaction.prepare("DELETE FROM spool WHERE seq = ?1")?;
            for seq in seqs {
                copy.execute(params![seq.0, reason])?;
                moved += delete.execute([seq.0])? as u64;
            }
        }
        transaction.commit()?;
        self.depth = self.depth.saturating_sub(moved);
        Ok(moved)
    }

    /// Number of quarantined events.
    pub fn quarantined(&self) -> Result<u64, SpoolError> {
        let count: i64 =
            self.connection
                .query_row("SELECT count(*) FROM quarantine", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The next value of a durable counter (1, 2, 3, ...), committed before it is returned, so a
    /// value is never handed out twice, not even across a crash.
    pub fn next_counter(&mut self, name: &str) -> Result<u64, SpoolError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO counter (name, value) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            [name],
        )?;
        let value: i64 =
            transaction.query_row("SELECT value FROM counter WHERE name = ?1", [name], |row| {
                row.get(0)
            })?;
        transaction.commit()?;
        Ok(u64::try_from(value).unwrap_or(0))
    }

    /// Removes the given events (after ingest's receipts for them), in one durable transaction.
    pub fn remove(&mut self, seqs: &[SpoolSeq]) -> Result<u64, SpoolError> {
        let transaction = self.connection.transaction()?;
        let mut removed = 0u64;
        {
            let mut delete = transaction.prepare("DELETE FROM spool WHERE seq = ?1")?;
            for seq in seqs {
                removed += delete.execute([seq.0])? as u64;
            }
        }
        transaction.commit()?;
        self.depth = self.depth.saturating_sub(removed);
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagtrail-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A spool written before sealing (no `keys` column) is opened with its events kept: the
    /// column is added, NULL for them, and they upload and quarantine as before.
    #[test]
    fn a_spool_from_before_sealing_gets_its_keys_column_and_keeps_its_events() {
        let dir = temp_dir("before-sealing");
        let path = dir.join("spool.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                                     spooled_at INTEGER NOT NULL, event TEXT NOT NULL);
                 CREATE TABLE quarantine (seq INTEGER PRIMARY KEY, spooled_at INTEGER NOT NULL,
                                          event TEXT NOT NULL, reason TEXT NOT NULL);
                 INSERT INTO spool (spooled_at, event) VALUES (1, '{\"old\": 1}'),
                                                              (1, '{\"old\": 2}');",
            )
            .unwrap();
        }
        let mut spool = Spool::open(&path, 100).unwrap();
        assert_eq!(spool.depth(), 2);
        let held = spool.peek(10).unwrap();
        assert_eq!(held[0].event, "{\"old\": 1}");
        assert_eq!(held[0].keys, None);
        spool
            .append_keyed(
                &["{}"],
                &[Some("a key set".to_owned())],
                UnixMillis::from_millis(2),
            )
            .unwrap();
        assert_eq!(
            spool.peek(10).unwrap()[2].keys.as_deref(),
            Some("a key set")
        );
        assert_eq!(spool.quarantine(&[held[0].seq], "refused").unwrap(), 1);
        // Opened again (the column is there now), nothing changes.
        drop(spool);
        let spool = Spool::open(&path, 100).unwrap();
        assert_eq!(spool.peek(10).unwrap().len(), 2);
        assert_eq!(spool.quarantined().unwrap(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_metrics_disk_size_counts_the_database_and_its_wal() {
        let dir = temp_dir("disk-bytes");
        let path = dir.join("spool.sqlite");
        let mut spool = Spool::open(&path, 100).unwrap();
        let empty = spool.disk_bytes();
        assert!(empty > 0, "an opened spool has a file");
        let event = "x".repeat(10_000);
        spool
            .append(
                &[event.as_str(), event.as_str()],
                UnixMillis::from_millis(1),
            )
            .unwrap();
        let wal = std::fs::metadata(dir.join("spool.sqlite-wal")).map_or(0, |m| m.len());
        assert!(spool.disk_bytes() >= empty + 20_000, "two 10 kB events");
        assert!(spool.disk_bytes() >= wal);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_depth_is_exact_across_connections() {
        let dir = temp_dir("depth");
        let path = dir.join("spool.sqlite");
        let mut writer = Spool::open(&path, 100).unwrap();
        let mut uploader = Spool::open(&path, 100).unwrap();
        writer
            .append(&["{}", "{}", "{}", "{}"], UnixMillis::from_millis(1))
            .unwrap();
        assert_eq!(uploader.refresh_depth().unwrap(), 4);
        let oldest: Vec<SpoolSeq> = uploader
            .peek(3)
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect();
        uploader.remove(&oldest).unwrap();
        // The writer's own count is stale until it reads the shared one again.
        assert_eq!(writer.depth(), 4);
        assert_eq!(writer.refresh_depth().unwrap(), 1);
        uploader
            .quarantine(&[writer.peek(1).unwrap()[0].seq], "test")
            .unwrap();
        assert_eq!(writer.refresh_depth().unwrap(), 0);
        assert_eq!(Spool::open(&path, 100).unwrap().depth(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn events_drain_in_the_order_they_were_spooled() {
        let dir = temp_dir("order");
        let mut spool = Spool::open(&dir.join("spool.sqlite"), 100).unwrap();
        spool
            .append(&["a", "b", "c"], UnixMillis::from_millis(1))
            .unwrap();
        spool.append(&["d"], UnixMillis::from_millis(2)).unwrap();
        let first = spool.peek(2).unwrap();
        assert_eq!(
            first.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        spool
            .remove(&first.iter().map(|e| e.seq).collect::<Vec<_>>())
            .unwrap();
        let rest = spool.peek(10).unwrap();
        assert_eq!(
            rest.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
            ["c", "d"]
        );
        assert_eq!(spool.depth(), 2);
        assert_eq!(spool.oldest().unwrap(), Some(UnixMillis::from_millis(1)));
    }

    #[test]
    fn a_counter_never_repeats_across_reopening() {
        let dir = temp_dir("counter");
        let path = dir.join("spool.sqlite");
        let first = Spool::open(&path, 10)
            .unwrap()
            .next_counter("batch")
            .unwrap();
        let mut spool = Spool::open(&path, 10).unwrap();
        assert_eq!(spool.next_counter("batch").unwrap(), first + 1);
        assert_eq!(spool.next_counter("other").unwrap(), 1);
    }

    #[test]
    fn a_quarantined_event_leaves_the_queue_but_is_kept() {
        let dir = temp_dir("quarantine");
        let mut spool = Spool::open(&dir.join("spool.sqlite"), 10).unwrap();
        spool
            .append(&["a", "b"], UnixMillis::from_millis(1))
            .unwrap();
        let first = spool.peek(1).unwrap()[0].seq;
        assert_eq!(spool.quarantine(&[first], "400: invalid").unwrap(), 1);
        assert_eq!(
            spool
                .peek(10)
                .unwrap()
                .iter()
                .map(|e| e.event.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(spool.quarantined().unwrap(), 1);
        assert_eq!(spool.depth(), 1);
    }

    #[test]
    fn room_freed_through_another_connection_is_seen_before_refusing() {
        let dir = temp_dir("two-connections");
        let path = dir.join("spool.sqlite");
        let mut writer = Spool::open(&path, 2).unwrap();
        writer
            .append(&["a", "b"], UnixMillis::from_millis(1))
            .unwrap();
        let mut uploader = Spool::open(&path, 2).unwrap();
        let first = uploader.peek(1).unwrap()[0].seq;
        uploader.remove(&[first]).unwrap();
        assert_eq!(
            writer.append(&["c"], UnixMillis::from_millis(2)).unwrap(),
            AppendOutcome {
                accepted: 1,
                refused: 0
            }
        );
    }

    #[test]
    fn a_full_spool_refuses_new_events_and_keeps_the_old() {
        let dir = temp_dir("full");
        let mut spool = Spool::open(&dir.join("spool.sqlite"), 3).unwrap();
        assert_eq!(
            spool
                .append(&["a", "b"], UnixMillis::from_millis(1))
                .unwrap(),
            AppendOutcome {
                accepted: 2,
                refused: 0
            }
        );
        assert_eq!(
            spool
                .append(&["c", "d", "e"], UnixMillis::from_millis(2))
                .unwrap(),
            AppendOutcome {
                accepted: 1,
                refused: 2
            }
        );
        assert!(spool.is_full());
        let all = spool.peek(10).unwrap();
        assert_eq!(
            all.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn a_reopened_spool_keeps_its_events_and_never_reuses_a_position() {
        let dir = temp_dir("reopen");
        let path = dir.join("spool.sqlite");
        let last = {
            let mut spool = Spool::open(&path, 10).unwrap();
            spool
                .append(&["a", "b"], UnixMillis::from_millis(1))
                .unwrap();
            let all = spool.peek(10).unwrap();
            spool.remove(&[all[1].seq]).unwrap();
            all[1].seq
        };
        let mut spool = Spool::open(&path, 10).unwrap();
        assert_eq!(spool.depth(), 1);
        spool.append(&["c"], UnixMillis::from_millis(2)).unwrap();
        let all = spool.peek(10).unwrap();
        assert!(all[1].seq > last, "a removed position was reused");
    }
}
