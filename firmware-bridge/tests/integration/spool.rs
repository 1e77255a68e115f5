//! The spool survives `kill -9` of the writing process and a torn write at the end of its log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use firmware_bridge::spool::Spool;
use ledger::UnixMillis;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tagtrail-spool-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Not a test on its own: the child process of `committed_events_survive_kill_9`. It appends
/// numbered events forever and prints each committed number.
#[test]
#[ignore = "run as a child process by committed_events_survive_kill_9"]
fn spool_writer_child() {
    let Ok(path) = std::env::var("TAGTRAIL_SPOOL_CHILD_PATH") else {
        return;
    };
    let mut spool = Spool::open(std::path::Path::new(&path), u64::MAX).unwrap();
    let stdout = std::io::stdout();
    for n in 0u64.. {
        let events = [format!("{{\"n\":{n}}}")];
        spool.append(&events, UnixMillis::from_millis(n)).unwrap();
        let mut out = stdout.lock();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn committed_events_survive_kill_9() {
    let dir = temp_dir("kill9");
    let path = dir.join("spool.sqlite");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "spool::spool_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TAGTRAIL_SPOOL_CHILD_PATH", &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_committed = None;
    for line in lines.by_ref() {
        if let Some(n) = line.unwrap().strip_prefix("committed ") {
            let n: u64 = n.parse().unwrap();
            last_committed = Some(n);
            if n >= 200 {
                break;
            }
        }
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no clean close of the database.
    child.kill().unwrap();
    child.wait().unwrap();
    let last_committed = last_committed.expect("the child committed events");

    let spool = Spool::open(&path, u64::MAX).unwrap();
    let events = spool.peek(usize::MAX).unwrap();
    assert!(
        events.len() as u64 > last_committed,
        "lost committed events: {} <= {last_committed}",
        events.len()
    );
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.event,
            format!("{{\"n\":{index}}}"),
            "events out of order or damaged"
        );
    }
}

#[test]
fn a_torn_write_at_the_end_of_the_log_loses_nothing_committed() {
    let dir = temp_dir("torn");
    let path = dir.join("spool.sqlite");
    {
        let mut spool = Spool::open(&path, 1_000).unwrap();
        let events: Vec<String> = (0..50).map(|n| format!("{{\"n\":{n}}}")).collect();
        spool.append(&events, UnixMillis::from_millis(1)).unwrap();
        // Keep the connection open (no checkpoint), then append half a frame of garbage to the
        // write-ahead log, as a power cut in the middle of the next commit would leave it.
        let wal = dir.join("spool.sqlite-wal");
        let mut file = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
        file.write_all(&[0xA5; 3000]).unwrap();
        file.sync_all().unwrap();
        std::mem::forget(spool);
    }
    let mut spool = Spool::open(&path, 1_000).unwrap();
    assert_eq!(spool.depth(), 50);
    spool
        .append(&["{\"n\":50}"], UnixMillis::from_millis(2))
        .unwrap();
    let events = spool.peek(100).unwrap();
    assert_eq!(events.len(), 51);
    assert_eq!(events[50].event, "{\"n\":50}");
}
