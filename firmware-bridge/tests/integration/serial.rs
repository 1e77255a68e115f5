//! The JRD serial transport over a real pseudo-terminal pair, talking to the simulated module.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use firmware_bridge::read::{ReaderId, TagRead};
use firmware_bridge::serial::{
    SerialCounters, SerialProtocol, SerialReader, SimulatedJrdModule, open_port, run_jrd_session,
    simulated_tid, supervise_jrd,
};
use firmware_bridge::simulator::{TagPopulation, portal_pass};
use tokio::sync::mpsc;
use tokio_serial::SerialPort;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

async fn collect(reads: &mut mpsc::Receiver<TagRead>, want: &BTreeSet<Bytes>) -> BTreeSet<Bytes> {
    let mut seen = BTreeSet::new();
    tokio::time::timeout(WAIT, async {
        while !want.is_subset(&seen) {
            let read = reads.recv().await.expect("the session is running");
            seen.insert(read.epc);
        }
    })
    .await
    .expect("every tag was read before the timeout");
    seen
}

#[tokio::test]
async fn a_jrd_module_on_a_pty_streams_every_tag_to_the_bridge() {
    let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let path = slave.name().expect("the pty has a path");
    let population = TagPopulation::sgtin96(20, 500);
    let module = SimulatedJrdModule::new(portal_pass(&population, 200, 2, 3), 200).with_speed(4.0);
    let cancel = CancellationToken::new();
    let module_task = tokio::spawn(module.serve(master, cancel.clone()));

    let port = open_port(std::path::Path::new(&path), 115_200).expect("the pty opens by path");
    let (tx, mut rx) = mpsc::channel(1024);
    let counters = Arc::new(SerialCounters::default());
    let reader = ReaderId::parse("pty-door").unwrap();
    let session = {
        let (cancel, counters) = (cancel.clone(), counters.clone());
        tokio::spawn(async move {
            run_jrd_session(port, &reader, Some(26), false, &tx, &counters, &cancel).await
        })
    };
    let want: BTreeSet<Bytes> = population.epcs().iter().cloned().collect();
    let seen = collect(&mut rx, &want).await;
    assert_eq!(
        seen, want,
        "a read that is not one of the population's tags"
    );
    cancel.cancel();
    session
        .await
        .unwrap()
        .expect("the session ends cleanly when cancelled");
    module_task.await.unwrap().unwrap();
    assert!(counters.frames.load(Ordering::Relaxed) >= 20);
    drop(slave);
}

#[tokio::test]
async fn with_tid_capture_every_tag_s_tid_is_read_once_over_the_pty() {
    let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let path = slave.name().expect("the pty has a path");
    let population = TagPopulation::sgtin96(40, 900);
    let module = SimulatedJrdModule::new(portal_pass(&population, 300, 3, 5), 300).with_speed(2.0);
    let cancel = CancellationToken::new();
    let module_task = tokio::spawn(module.serve(master, cancel.clone()));
    let port = open_port(std::path::Path::new(&path), 115_200).expect("the pty opens by path");
    let (tx, mut rx) = mpsc::channel(4096);
    let counters = Arc::new(SerialCounters::default());
    let reader = ReaderId::parse("tid-door").unwrap();
    let session = {
        let (cancel, counters) = (cancel.clone(), counters.clone());
        tokio::spawn(async move {
            run_jrd_session(port, &reader, None, true, &tx, &counters, &cancel).await
        })
    };
    // Every tag's reads must come to carry its TID; none may carry another tag's.
    let want: BTreeSet<Bytes> = population.epcs().iter().cloned().collect();
    let mut with_tid = BTreeSet::new();
    let mut reads_without_tid = 0usize;
    tokio::time::timeout(Duration::from_secs(30), async {
        while with_tid != want {
            let read = rx.recv().await.expect("the session is running");
            assert!(
                want.contains(&read.epc),
                "a read of a tag outside the population"
            );
            match &read.tid {
                Some(tid) => {
                    assert_eq!(
                        tid[..],
                        simulated_tid(&read.epc)[..],
                        "the TID of another tag"
                    );
                    with_tid.insert(read.epc);
                }
                None => reads_without_tid += 1,
            }
        }
    })
    .await
    .expect("every tag's TID was read before the timeout");
    // A tag's first notice comes before its TID is known; once read, the TID is remembered.
    assert!(reads_without_tid >= want.len(), "{reads_without_tid}");
    cancel.cancel();
    session.await.unwrap().expect("the session ends cleanly");
    module_task.await.unwrap().unwrap();
    drop(slave);
}

#[tokio::test]
async fn without_tid_capture_no_read_carries_a_tid() {
    let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let population = TagPopulation::sgtin96(10, 50);
    let module = SimulatedJrdModule::new(portal_pass(&population, 100, 2, 1), 100).with_speed(2.0);
    let cancel = CancellationToken::new();
    let module_task = tokio::spawn(module.serve(master, cancel.clone()));
    let (tx, mut rx) = mpsc::channel(4096);
    let counters = Arc::new(SerialCounters::default());
    let reader = ReaderId::parse("epc-door").unwrap();
    let session = {
        let (cancel, counters) = (cancel.clone(), counters.clone());
        tokio::spawn(async move {
            run_jrd_session(slave, &reader, None, false, &tx, &counters, &cancel).await
        })
    };
    let mut seen = BTreeSet::new();
    // Three passes' worth of reads: long enough for a TID round to have happened were it on.
    for _ in 0..60 {
        let read = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.tid, None);
        seen.insert(read.epc);
    }
    assert_eq!(seen.len(), 10);
    cancel.cancel();
    session.await.unwrap().unwrap();
    module_task.await.unwrap().unwrap();
}

#[tokio::test]
async fn corrupted_frames_are_counted_and_never_become_reads() {
    let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let population = TagPopulation::sgtin96(30, 9_000);
    let module = SimulatedJrdModule::new(portal_pass(&population, 100, 3, 9), 100)
        .with_speed(2.0)
        .with_corruption(0.2);
    let module_cancel = CancellationToken::new();
    tokio::spawn(module.serve(master, module_cancel.clone()));
    let cancel = CancellationToken::new();

    let (tx, mut rx) = mpsc::channel(1024);
    let counters = Arc::new(SerialCounters::default());
    let reader = ReaderId::parse("noisy-door").unwrap();
    let session = {
        let (cancel, counters) = (cancel.clone(), counters.clone());
        tokio::spawn(async move {
            run_jrd_session(slave, &reader, None, false, &tx, &counters, &cancel).await
        })
    };
    let want: BTreeSet<Bytes> = population.epcs().iter().cloned().collect();
    let mut seen = BTreeSet::new();
    tokio::time::timeout(WAIT, async {
        while !want.is_subset(&seen) || counters.checksum_failures.load(Ordering::Relaxed) == 0 {
            let read = rx.recv().await.expect("the session is running");
            assert!(want.contains(&read.epc), "a corrupted EPC became a read");
            seen.insert(read.epc);
        }
    })
    .await
    .expect("every tag was read and a corrupted frame counted before the timeout");
    cancel.cancel();
    session.await.unwrap().unwrap();
    module_cancel.cancel();
}

#[tokio::test]
async fn the_supervisor_keeps_trying_until_the_port_appears_and_stops_when_cancelled() {
    let dir = std::env::temp_dir().join(format!("tagtrail-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("ttyREADER");
    let _ = std::fs::remove_file(&link);
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let counters = Arc::new(SerialCounters::default());
    let port = SerialReader {
        protocol: SerialProtocol::Jrd,
        path: link.clone(),
        baud: 115_200,
        reader: ReaderId::parse("late-door").unwrap(),
        power_dbm: None,
        capture_tid: false,
    };
    let supervisor = tokio::spawn(supervise_jrd(
        port,
        tx,
        counters.clone(),
        cancel.clone(),
        Duration::from_millis(300),
    ));
    // The port does not exist yet: the supervisor must back off and retry, not give up.
    tokio::time::timeout(WAIT, async {
        while counters.reconnects.load(Ordering::Relaxed) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the supervisor retries a port that does not exist yet");
    assert!(!supervisor.is_finished());
    let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty pair");
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    let population = TagPopulation::sgtin96(5, 1);
    tokio::spawn(
        SimulatedJrdModule::new(portal_pass(&population, 100, 1, 1), 100)
            .serve(master, cancel.clone()),
    );
    let want: BTreeSet<Bytes> = population.epcs().iter().cloned().collect();
    collect(&mut rx, &want).await;
    cancel.cancel();
    tokio::time::timeout(WAIT, supervisor)
        .await
        .expect("the supervisor stops when cancelled")
        .unwrap();
    drop(slave);
}

#[tokio::test]
async fn an_ru5102_reader_on_a_pty_is_polled_and_its_inventory_becomes_reads() {
    use firmware_bridge::codec::ru5102::{CMD_INVENTORY, Inventory, InventoryStatus, Ru5102Codec};
    use firmware_bridge::serial::run_ru5102_session;
    use futures_util::{SinkExt, StreamExt};

    let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let population = TagPopulation::sgtin96(12, 77);
    let epcs: Vec<Bytes> = population.epcs().to_vec();
    // The reader: answers each inventory command with the next 5 tags (status "complete").
    let reader_task = tokio::spawn(async move {
        let mut framed = tokio_util::codec::Framed::new(master, Ru5102Codec::default());
        let mut next = 0;
        while let Some(Ok(command)) = framed.next().await {
            if command.command() != CMD_INVENTORY {
                continue;
            }
            let batch: Vec<Bytes> = (0..5)
                .map(|i| epcs[(next + i) % epcs.len()].clone())
                .collect();
            next += 5;
            let frame = Inventory {
                status: InventoryStatus::Complete,
                epcs: batch,
            }
            .to_frame(0)
            .unwrap();
            if framed.send(&frame).await.is_err() {
                break;
            }
        }
    });
    let (tx, mut rx) = mpsc::channel(1024);
    let counters = Arc::new(SerialCounters::default());
    let cancel = CancellationToken::new();
    let session = {
        let (cancel, counters) = (cancel.clone(), counters.clone());
        tokio::spawn(async move {
            let reader = ReaderId::parse("desk-reader").unwrap();
            run_ru5102_session(slave, &reader, Some(20), &tx, &counters, &cancel).await
        })
    };
    let want: BTreeSet<Bytes> = population.epcs().iter().cloned().collect();
    let seen = collect(&mut rx, &want).await;
    assert_eq!(seen, want);
    cancel.cancel();
    session.await.unwrap().unwrap();
    assert!(counters.frames.load(Ordering::Relaxed) >= 3);
    reader_task.abort();
}
