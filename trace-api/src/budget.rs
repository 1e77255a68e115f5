//! Memory bounded by configuration, not by data: every answer that loads events (histories and
//! provenance bundles) counts the bytes of the event text it loads against two budgets,
//! `limits.max_answer_bytes` for itself and `limits.max_inflight_bytes` for every answer in
//! flight at once. Events are loaded a few at a time, and before a batch is loaded its share of
//! the shared budget is reserved as if each of its events were as large as an event may be
//! (`limits.max_event_bytes`, ingest's limit); once loaded, the reservation is settled to what the
//! batch holds. So the events every answer in flight holds never exceed the shared budget, and an
//! answer learns it is over its own after one batch more at most. Over its own budget, an answer
//! is refused (`422`); while the shared budget is spent, an answer waits for it briefly, then is
//! refused (`503`, retry), so a few huge answers cannot take the memory every other client needs.
//! The budget counts stored event text; parsed events and the answer built from them cost a small
//! multiple of it.
//!
//! What an answer loaded is also charged to its client (an IPv4 address, an IPv6 /64), at
//! `limits.answer_bytes_per_second` with `limits.max_answer_bytes` at once: a client whose
//! answers loaded more than that waits (`429`) until its rate has paid them back. So one client
//! asking again and again for a large history takes a bounded share of the machine, however
//! its requests are spread.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use service_kit::rate_limit::RateLimiter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an answer waits for the shared budget before it is refused.
const WAIT: Duration = Duration::from_secs(2);

/// The shared budget, in KiB permits.
#[derive(Debug)]
pub struct Budget {
    shared: Arc<Semaphore>,
    total_kib: usize,
    per_answer: usize,
    max_entry: usize,
    /// Bytes loaded per client, when charged.
    per_client: Option<Arc<RateLimiter>>,
}

/// Why an answer may not load more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("the answer would load more than {limit} bytes of events (this service's limit)")]
    Answer { limit: usize },
    #[error("the service is loading as much as it may for other answers: retry shortly")]
    Busy,
}

impl Budget {
    /// At most `per_answer` bytes per answer and `in_flight` bytes for all at once
    /// (`per_answer <= in_flight`, both at least 1 KiB: the settings check that), for entries
    /// of at most `max_entry` bytes each as counted (a larger one is counted as it is, once
    /// loaded).
    pub fn new(per_answer: usize, in_flight: usize, max_entry: usize) -> Self {
        let total_kib = (in_flight / 1024).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            shared: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            per_answer,
            max_entry: max_entry.max(1),
            per_client: None,
        }
    }

    /// Charges what answers load to their clients: `bytes_per_second` sustained, an answer's
    /// budget at once, for at most `max_clients` clients ([`RateLimiter`]).
    pub fn charged_per_client(mut self, bytes_per_second: u64, max_clients: usize) -> Self {
        let burst = u64::try_from(self.per_answer).unwrap_or(u64::MAX);
        self.per_client = Some(Arc::new(RateLimiter::of_amounts(
            bytes_per_second,
            burst,
            max_clients,
        )));
        self
    }

    /// Whether `client` may start an answer now: `Err(seconds)` while what its answers loaded is
    /// not paid back.
    pub fn admit(&self, client: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        match (&self.per_client, client) {
            (Some(limiter), Some(client)) => limiter.admit(client, now),
            _ => Ok(()),
        }
    }

    /// The budget of one answer for `client`, which is charged what it loads when it is done.
    pub fn answer_for(&self, client: Option<IpAddr>) -> AnswerBudget {
        let mut answer = self.answer();
        answer.charge_to = self.per_client.clone().zip(client);
        answer
    }

    /// The budget of one answer, charged to no client.
    pub fn answer(&self) -> AnswerBudget {
        // A batch reserves at most an eighth of the shared budget: eight answers can always load
        // at once, however large events may be.
        let batch = (self.total_kib.saturating_mul(1024) / 8 / self.max_entry).clamp(1, MAX_BATCH);
        AnswerBudget {
            shared: self.shared.clone(),
            per_answer: self.per_answer,
            max_entry: self.max_entry,
            batch,
            used: AtomicUsize::new(0),
            held: std::sync::Mutex::new(Vec::new()),
            charge_to: None,
        }
    }

    /// Bytes held or reserved by answers in flight now.
    pub fn in_flight_bytes(&self) -> usize {
        self.total_kib
            .saturating_sub(self.shared.available_permits())
            .saturating_mul(1024)
    }
}

/// The most entries loaded at once.
const MAX_BATCH: usize = 32;

/// What one answer has loaded, and the share of the shared budget it holds (given back when the
/// answer is done and this is dropped).
#[derive(Debug)]
pub struct AnswerBudget {
    shared: Arc<Semaphore>,
    per_answer: usize,
    max_entry: usize,
    batch: usize,
    used: AtomicUsize,
    held: std::sync::Mutex<Vec<OwnedSemaphorePermit>>,
    /// The client charged what this answer loaded, when it is dropped (done, refused or timed
    /// out alike: the work was done).
    charge_to: Option<(Arc<RateLimiter>, IpAddr)>,
}

impl Drop for AnswerBudget {
    fn drop(&mut self) {
        if let Some((limiter, client)) = &self.charge_to {
            let used = u64::try_from(self.used()).unwrap_or(u64::MAX);
            limiter.charge(*client, Instant::now(), used);
        }
    }
}

/// A share of the shared budget reserved for a batch not loaded yet.
#[derive(Debug)]
pub struct Reserved(Option<OwnedSemaphorePermit>);

impl AnswerBudget {
    /// How many entries to load at once.
    pub fn batch_len(&self) -> usize {
        self.batch
    }

    /// Reserves the shared budget for `entries` entries as large as an entry may be, before they
    /// are loaded: `Err(Busy)` when the shared budget stays spent for `WAIT` (2 s).
    pub async fn reserve(&self, entries: usize) -> Result<Reserved, Exceeded> {
        self.acquire(entries.saturating_mul(self.max_entry))
            .await
            .map(Reserved)
    }

    /// Settles a reservation to the `bytes` its batch holds once loaded: what was not needed goes
    /// back to the shared budget (more is taken for entries larger than the limit); `Err` when the
    /// answer is over its own budget, or the shared budget stays spent for more.
    pub async fn settle(&self, reserved: Reserved, bytes: usize) -> Result<(), Exceeded> {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.per_answer {
            return Err(Exceeded::Answer {
                limit: self.per_answer,
            });
        }
        let needed = kib(bytes);
        let mut permit = reserved.0;
        let have = permit.as_ref().map_or(0, |permit| permit.num_permits());
        if have > needed {
            // Dropping the split-off part gives it back.
            drop(
                permit
                    .as_mut()
                    .and_then(|permit| permit.split(have - needed)),
            );
        } else if needed > have {
            let more = self.acquire((needed - have).saturating_mul(1024)).await?;
            self.hold(more);
        }
        self.hold(permit);
        Ok(())
    }

    /// Counts `bytes` more loaded by this answer (loaded without a reservation): `Err` when that
    /// is over the answer's budget, or the shared budget stays spent for `WAIT` (2 s).
    pub async fn take(&self, bytes: usize) -> Result<(), Exceeded> {
        self.settle(Reserved(None), bytes).await
    }

    /// Bytes this answer may still load.
    pub fn left(&self) -> usize {
        self.per_answer.saturating_sub(self.used())
    }

    /// What this answer's budget refuses: more than it may load.
    pub fn over(&self) -> Exceeded {
        Exceeded::Answer {
            limit: self.per_answer,
        }
    }

    /// Bytes this answer loaded.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    async fn acquire(&self, bytes: usize) -> Result<Option<OwnedSemaphorePermit>, Exceeded> {
        let kib = u32::try_from(kib(bytes)).unwrap_or(u32::MAX);
        if kib == 0 {
            return Ok(None);
        }
        let permit = tokio::time::timeout(WAIT, self.shared.clone().acquire_many_owned(kib))
            .await
            .map_err(|_| Exceeded::Busy)?
            .map_err(|_| Exceeded::Busy)?;
        Ok(Some(permit))
    }

    fn hold(&self, permit: Option<OwnedSemaphorePermit>) {
        if let Some(permit) = permit {
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(permit);
        }
    }
}

/// `bytes` in whole KiB, rounded up.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_over_its_budget_is_refused_and_the_shared_budget_comes_back() {
        let budget = Budget::new(10 * 1024, 16 * 1024, 1024);
        let answer = budget.answer();
        answer.take(6 * 1024).await.unwrap();
        assert_eq!(budget.in_flight_bytes(), 6 * 1024);
        assert_eq!(
            answer.take(5 * 1024).await,
            Err(Exceeded::Answer { limit: 10 * 1024 })
        );
        drop(answer);
        assert_eq!(
            budget.in_flight_bytes(),
            0,
            "given back when the answer is done"
        );
    }

    #[tokio::test]
    async fn a_client_is_charged_what_its_answers_loaded_refused_or_not() {
        // 10 KiB per answer, 1 KiB per second per client.
        let budget = Budget::new(10 * 1024, 64 * 1024, 1024).charged_per_client(1024, 16);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let now = Instant::now();
        assert_eq!(budget.admit(Some(client), now), Ok(()));
        let answer = budget.answer_for(Some(client));
        answer.take(6 * 1024).await.unwrap();
        assert!(answer.take(6 * 1024).await.is_err(), "over its own budget");
        drop(answer);
        // 12 KiB loaded against 10 KiB of credit: 2 KiB of debt, paid back in 2 s.
        let charged = Instant::now();
        assert_eq!(budget.admit(Some(client), charged), Err(2));
        let almost = charged + Duration::from_millis(1_900);
        assert!(budget.admit(Some(client), almost).is_err());
        let paid = charged + Duration::from_millis(2_100);
        assert_eq!(budget.admit(Some(client), paid), Ok(()));
        assert_eq!(budget.admit(Some(other), Instant::now()), Ok(()));
        // Answers of no known client (none in this service: every request has a peer) and
        // budgets without a rate are not charged.
        assert_eq!(budget.admit(None, now), Ok(()));
        let unlimited = Budget::new(10 * 1024, 64 * 1024, 1024);
        unlimited
            .answer_for(Some(other))
            .take(10 * 1024)
            .await
            .unwrap();
        assert_eq!(unlimited.admit(Some(other), Instant::now()), Ok(()));
    }

    #[tokio::test]
    async fn a_batch_reserves_its_worst_case_before_loading_and_keeps_what_it_holds() {
        // Entries of up to 4 KiB; 64 KiB in flight: a batch reserves at most 8 KiB (2 entries).
        let budget = Budget::new(32 * 1024, 64 * 1024, 4 * 1024);
        let answer = budget.answer();
        assert_eq!(answer.batch_len(), 2);
        let reserved = answer.reserve(2).await.unwrap();
        assert_eq!(
            budget.in_flight_bytes(),
            8 * 1024,
            "reserved before loading"
        );
        answer.settle(reserved, 3 * 1024).await.unwrap();
        assert_eq!(budget.in_flight_bytes(), 3 * 1024, "the rest given back");
        // Entries larger than the limit (stored before it) take what they hold.
        let reserved = answer.reserve(1).await.unwrap();
        answer.settle(reserved, 9 * 1024).await.unwrap();
        assert_eq!(budget.in_flight_bytes(), 12 * 1024);
        // The shared budget holds every reservation: a second answer cannot reserve past it.
        let other = budget.answer();
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(other.reserve(2).await.unwrap());
        }
        assert_eq!(budget.in_flight_bytes(), 60 * 1024);
        assert_eq!(other.reserve(2).await.unwrap_err(), Exceeded::Busy);
        drop(held);
        drop(answer);
        assert_eq!(budget.in_flight_bytes(), 0);
    }

    #[tokio::test]
    async fn answers_share_the_in_flight_budget_and_wait_briefly_for_it() {
        let budget = Budget::new(10 * 1024, 16 * 1024, 1024);
        let first = budget.answer();
        first.take(10 * 1024).await.unwrap();
        let second = budget.answer();
        // 10 + 10 KiB > 16 KiB: the second waits (2 s), then is refused.
        assert_eq!(second.take(10 * 1024).await, Err(Exceeded::Busy));
        assert_eq!(
            second.used(),
            10 * 1024,
            "what it loaded is counted, refused or not"
        );
        drop(second);
        drop(first);
        let third = budget.answer();
        third.take(10 * 1024).await.unwrap();
        assert_eq!(budget.in_flight_bytes(), 10 * 1024);
    }
}
