//! [`Backoff`]: the waits between failed attempts of every service (uploads, reconnections, RPC
//! calls): exponential, capped, with jitter, so that many clients that failed together do not
//! retry together.

use std::time::Duration;

/// Exponential backoff with jitter: the `n`-th delay after a success is drawn from `[d/2, d]`
/// with `d = min(max, min · 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    /// A xorshift state for the jitter (not for anything secret).
    state: u64,
}

impl Backoff {
    /// A backoff between `min` and `max`, its jitter seeded from the clock.
    pub fn new(min: Duration, max: Duration) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            // Never zero (a xorshift state of zero stays zero).
            state: nanos | 1,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let jitter = self.unit();
        self.next_delay_with(jitter)
    }

    /// The delay before the next attempt, given a jitter value in `[0, 1)`.
    pub fn next_delay_with(&mut self, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(30));
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.failures = self.failures.saturating_add(1);
        let jitter = jitter.clamp(0.0, 1.0);
        ceiling.mul_f64(0.5 + jitter / 2.0)
    }

    /// Back to the shortest delay (after a success).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// A value in `[0, 1)` (xorshift64*).
    fn unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_stays_within_its_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(backoff.next_delay_with(0.999_999).as_millis(), 99);
        assert_eq!(backoff.next_delay_with(0.0), Duration::from_millis(100));
        assert_eq!(backoff.next_delay_with(0.0), Duration::from_millis(200));
        // 800 ms at most now, then the 1,000 ms cap: from half of each.
        let delay = backoff.next_delay();
        assert!(
            delay <= Duration::from_millis(800) && delay >= Duration::from_millis(400),
            "{delay:?}"
        );
        for _ in 0..40 {
            let delay = backoff.next_delay();
            assert!(
                delay <= Duration::from_millis(1000) && delay >= Duration::from_millis(500),
                "{delay:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn two_backoffs_that_failed_together_do_not_retry_together() {
        let mut first = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut second = first.clone();
        second.state ^= 0x9E37_79B9_7F4A_7C15;
        let delays =
            |backoff: &mut Backoff| (0..8).map(|_| backoff.next_delay()).collect::<Vec<_>>();
        assert_ne!(delays(&mut first), delays(&mut second));
    }
}
