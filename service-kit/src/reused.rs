//! [`Reused`]: the newest answer of a check, reused for a while. A flood of readiness probes then
//! costs one check (one database round trip) per period, never the pool; one check runs at a time
//! and the callers that arrive meanwhile wait for its answer.

use std::future::Future;
use std::time::{Duration, Instant};

/// The newest answer of a check and when it was made.
#[derive(Debug)]
pub struct Reused<T> {
    reuse: Duration,
    newest: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Reused<T> {
    /// Answers are reused for `reuse`.
    pub fn new(reuse: Duration) -> Self {
        Self {
            reuse,
            newest: tokio::sync::Mutex::new(None),
        }
    }

    /// The newest answer if it is younger than the reuse period, else `check`'s (kept).
    pub async fn answer<F, Fut>(&self, check: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut newest = self.newest.lock().await;
        if let Some((at, answer)) = newest.as_ref()
            && at.elapsed() < self.reuse
        {
            return answer.clone();
        }
        let answer = check().await;
        *newest = Some((Instant::now(), answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn an_answer_is_reused_within_its_period_then_asked_again() {
        let checks = AtomicUsize::new(0);
        let check = || async {
            checks.fetch_add(1, Ordering::SeqCst);
            "ready"
        };
        let reused = Reused::new(Duration::from_secs(3600));
        for _ in 0..5 {
            assert_eq!(reused.answer(check).await, "ready");
        }
        assert_eq!(checks.load(Ordering::SeqCst), 1);
        let never = Reused::new(Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(never.answer(check).await, "ready");
        }
        assert_eq!(checks.load(Ordering::SeqCst), 4);
    }
}
