//! The slow lane: work that grows with the bytes of the events an answer holds (parsing their
//! JSON, writing a large answer) runs on a few threads of its own at a lower CPU priority
//! (`nice` 10) when an answer is large, instead of on the HTTP workers.
//!
//! A worker owns every connection it accepted: while it parses 50 MB of events, the requests of
//! every other client on that worker wait, however cheap they are. On the lane they do not: the
//! workers stay free, and the kernel runs the lane's threads only when the workers leave a core
//! to spare (a thread at nice 10 weighs a tenth of one at nice 0). A client asking for large
//! answers slows down its own answers, not other clients'.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// The CPU priority of the lane's threads (0 is the workers'; 19 the lowest).
const NICE: i32 = 10;

/// Answers holding at least this many bytes of event text go on the lane; smaller ones are
/// cheaper to do in place than to hand over.
pub const LANE_BYTES: usize = 256 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// The lane's threads, fed through one queue.
#[derive(Debug)]
pub struct Lane {
    jobs: Mutex<Sender<Job>>,
    /// The bytes of event text the jobs waiting or running work on.
    queued: Arc<AtomicUsize>,
    /// The most bytes of event text the lane's jobs may work on at once.
    most: usize,
}

/// Why a job of the lane gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaneFailed {
    /// The job panicked.
    #[error("a job of the slow lane failed")]
    Failed,
    /// The jobs already waiting work on as many bytes as the lane takes: the answer waits for
    /// none (`503`). A request that timed out gives its byte budget back, and its job keeps
    /// its events until the lane reaches it: this bounds what such jobs hold.
    #[error("the slow lane holds as many bytes of events as it takes")]
    Full,
}

impl Lane {
    /// Starts `threads` threads (at least one), whose jobs may work on at most `most` bytes of
    /// event text at once. They end when the lane is dropped.
    pub fn start(threads: usize, most: usize) -> std::io::Result<Self> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("slow-lane-{n}"))
                .spawn(move || serve(&receiver))?;
        }
        Ok(Self {
            jobs: Mutex::new(sender),
            queued: Arc::new(AtomicUsize::new(0)),
            most,
        })
    }

    /// Runs `job` on the lane and waits for its result without holding the caller's thread.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LaneFailed> {
        self.run_holding(0, job).await
    }

    /// Counts `bytes` against what the lane holds, when they fit: beside what it holds, within
    /// its limit, or alone (a job larger than the limit runs when nothing else waits, so that
    /// no answer is refused for good).
    fn reserve(&self, bytes: usize) -> bool {
        self.queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                (held == 0 || held.saturating_add(bytes) <= self.most)
                    .then(|| held.saturating_add(bytes))
            })
            .is_ok()
    }

    /// [`run`](Self::run) of a job whose `bytes` were [`reserve`](Self::reserve)d, given back
    /// when it ends; a job whose caller has gone by the time the lane reaches it is not run.
    async fn run_holding<T: Send + 'static>(
        &self,
        bytes: usize,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LaneFailed> {
        let queued = self.queued.clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (its request timed out): nothing to do then.
            let result = match answer.is_closed() {
                true => None,
                false => std::panic::catch_unwind(AssertUnwindSafe(job)).ok(),
            };
            // Given back before the answer, so that its caller finds it given back.
            queued.fetch_sub(bytes, Ordering::SeqCst);
            if let Some(result) = result {
                let _ = answer.send(result);
            }
        });
        if self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .is_err()
        {
            self.queued.fetch_sub(bytes, Ordering::SeqCst);
            return Err(LaneFailed::Failed);
        }
        answered.await.map_err(|_| LaneFailed::Failed)
    }

    /// Runs `job` on the lane when `bytes` (of event text it works on) reach [`LANE_BYTES`],
    /// else in place; [`LaneFailed::Full`] when the lane holds too much to take it.
    pub async fn run_sized<T: Send + 'static>(
        &self,
        bytes: usize,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LaneFailed> {
        self.run_weighed(bytes, 1, job).await
    }

    /// [`run_sized`](Self::run_sized) of a job whose work is `weight` times what its `bytes`
    /// would cost to parse (matching them against many values, say): on the lane once its work
    /// reaches [`LANE_BYTES`]; what the lane holds is counted in `bytes` still.
    pub async fn run_weighed<T: Send + 'static>(
        &self,
        bytes: usize,
        weight: usize,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LaneFailed> {
        if bytes.saturating_mul(weight.max(1)) < LANE_BYTES {
            return Ok(job());
        }
        if !self.reserve(bytes) {
            return Err(LaneFailed::Full);
        }
        self.run_holding(bytes, job).await
    }

    /// [`run_sized`](Self::run_sized), but in place when the lane holds too much to take the
    /// job: for work whose answer must not fail once it is under way (a scan that spent an NFC
    /// tap's counter), whose events the request already holds.
    pub async fn run_sized_or_here<T: Send + 'static>(
        &self,
        bytes: usize,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LaneFailed> {
        if bytes < LANE_BYTES || !self.reserve(bytes) {
            return Ok(job());
        }
        self.run_holding(bytes, job).await
    }
}

/// A lane thread: lowers its own priority, then runs jobs until the lane is dropped.
fn serve(receiver: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let receiver = receiver
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            receiver.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Sets this thread's nice value to [`NICE`] (on Linux a thread's priority is its own), or leaves
/// it if the process already runs at a lower priority. Failing that, the lane still keeps the
/// work off the workers; it is logged.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(thread)).unwrap_or(0);
    if let Err(error) = rustix::process::setpriority_process(Some(thread), current.max(NICE)) {
        tracing::warn!(%error, "could not lower the slow lane's CPU priority");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_lane_at_a_lower_priority_and_a_panic_is_an_error() {
        let process_nice =
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let lane = Arc::new(Lane::start(2, LANE_BYTES * 2).unwrap());
        let (name, nice) = lane
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
                (name, nice.unwrap())
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("slow-lane-"));
        assert_eq!(nice, process_nice.max(NICE));
        #[allow(clippy::panic)]
        let failed = lane.run(|| panic!("a bug")).await;
        assert_eq!(failed, Err::<(), _>(LaneFailed::Failed));
        // The lane still serves after a panic.
        assert_eq!(lane.run(|| 7).await, Ok(7));
        // What the lane holds is bounded: a job over it runs only alone, a job beside others
        // that would take it over the limit is refused at once (or, asked so, done in place),
        // and what a job held is given back when it ends.
        assert_eq!(lane.run_sized(LANE_BYTES * 3, || 1).await, Ok(1));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = lane.clone();
        let holding = tokio::spawn(async move {
            holder
                .run_sized(LANE_BYTES * 2, move || released.recv().is_ok())
                .await
        });
        // Wait until the first job holds its bytes.
        while lane.queued.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            lane.run_sized(LANE_BYTES, || 2).await,
            Err(LaneFailed::Full)
        );
        let in_place = lane
            .run_sized_or_here(LANE_BYTES, move || std::thread::current().id())
            .await;
        assert_eq!(in_place, Ok(std::thread::current().id()));
        release.send(()).unwrap();
        assert_eq!(holding.await.unwrap(), Ok(true));
        assert_eq!(lane.queued.load(Ordering::SeqCst), 0);
        assert_eq!(lane.run_sized(LANE_BYTES, || 3).await, Ok(3));
    }

    #[tokio::test]
    async fn a_job_whose_caller_has_gone_is_not_run() {
        let lane = Arc::new(Lane::start(1, LANE_BYTES * 4).unwrap());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let holder = lane.clone();
        let busy = tokio::spawn(async move {
            holder
                .run(move || {
                    let _ = started.send(());
                    released.recv().is_ok()
                })
                .await
        });
        // The lane's one thread is busy before the next job is sent.
        while running.try_recv().is_err() {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        // Its caller gives up while the lane's one thread is busy.
        let abandoned = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            lane.run_sized(LANE_BYTES, move || flag.store(true, Ordering::SeqCst)),
        )
        .await;
        assert!(abandoned.is_err());
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(true));
        // One thread, jobs in order: once this one ran, the abandoned one was reached.
        assert_eq!(lane.run(|| 4).await, Ok(4));
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
        assert_eq!(lane.queued.load(Ordering::SeqCst), 0);
        // Small work is done in place.
        let here = std::thread::current().id();
        let ran_on = lane
            .run_sized(LANE_BYTES - 1, move || std::thread::current().id())
            .await
            .unwrap();
        assert_eq!(ran_on, here);
        // Work weighed heavier than its bytes goes on the lane sooner; it holds its bytes only.
        let small = LANE_BYTES / 4;
        let on_lane = lane
            .run_weighed(small, 4, || {
                std::thread::current().name().map(str::to_owned)
            })
            .await
            .unwrap();
        assert!(on_lane.unwrap().starts_with("slow-lane-"));
        let ran_on = lane
            .run_weighed(small, 3, move || std::thread::current().id())
            .await
            .unwrap();
        assert_eq!(ran_on, here);
        assert_eq!(lane.queued.load(Ordering::SeqCst), 0);
    }
}
