//! Memory bounded by configuration, not by data: every answer that loads events (histories and
//! provenance bundles) counts the bytes of the event text it loads against two budgets,
//! `limits.max_answer_bytes` for itself and `limits.max_inflight_bytes` for every answer in
//! flight at once. Events are loaded a few at a time, so an answer learns it is over its budget
//! after loading at most one more small batch, never after loading every event that names the
//! item. Over its own budget, an answer is refused (`422`); while the shared budget is spent, an
//! answer waits for it briefly, then is refused (`503`, retry), so a few huge answers cannot take
//! the memory every other client needs. The budget counts stored event text; parsed events and
//! the answer built from them cost a small multiple of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an answer waits for the shared budget before it is refused.
const WAIT: Duration = Duration::from_secs(2);

/// The shared budget, in KiB permits.
#[derive(Debug)]
pub struct Budget {
    shared: Arc<Semaphore>,
    total_kib: usize,
    per_answer: usize,
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
    /// (`per_answer <= in_flight`, both at least 1 KiB: the settings check that).
    pub fn new(per_answer: usize, in_flight: usize) -> Self {
        let total_kib = (in_flight / 1024).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            shared: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            per_answer,
        }
    }

    /// The budget of one answer.
    pub fn answer(&self) -> AnswerBudget {
        AnswerBudget {
            shared: self.shared.clone(),
            per_answer: self.per_answer,
            used: AtomicUsize::new(0),
            held: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Bytes held by answers in flight now.
    pub fn in_flight_bytes(&self) -> usize {
        self.total_kib
            .saturating_sub(self.shared.available_permits())
            .saturating_mul(1024)
    }
}

/// What one answer has loaded, and the share of the shared budget it holds (given back when the
/// answer is done and this is dropped).
#[derive(Debug)]
pub struct AnswerBudget {
    shared: Arc<Semaphore>,
    per_answer: usize,
    used: AtomicUsize,
    held: std::sync::Mutex<Vec<OwnedSemaphorePermit>>,
}

impl AnswerBudget {
    /// Counts `bytes` more loaded by this answer: `Err` when that is over the answer's budget, or
    /// the shared budget stays spent for `WAIT` (2 s).
    pub async fn take(&self, bytes: usize) -> Result<(), Exceeded> {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.per_answer {
            return Err(Exceeded::Answer {
                limit: self.per_answer,
            });
        }
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        if kib == 0 {
            return Ok(());
        }
        let permit = tokio::time::timeout(WAIT, self.shared.clone().acquire_many_owned(kib))
            .await
            .map_err(|_| Exceeded::Busy)?
            .map_err(|_| Exceeded::Busy)?;
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(permit);
        Ok(())
    }

    /// Bytes this answer loaded.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_over_its_budget_is_refused_and_the_shared_budget_comes_back() {
        let budget = Budget::new(10 * 1024, 16 * 1024);
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
    async fn answers_share_the_in_flight_budget_and_wait_briefly_for_it() {
        let budget = Budget::new(10 * 1024, 16 * 1024);
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
