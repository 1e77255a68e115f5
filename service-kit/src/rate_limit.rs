//! Per-client rate limits: a token bucket per client address (`requests_per_second` sustained,
//! `burst` at once), in memory, for at most `max_clients` addresses (when full, the addresses
//! not seen for longest are forgotten: a forgotten client starts again with a full bucket). A
//! bucket can also count work whose cost is known only once it is done (bytes an answer loaded):
//! [`RateLimiter::admit`] lets a client in unless its bucket is in debt, and
//! [`RateLimiter::charge`] takes the cost afterwards, into debt if need be, so a client that
//! asked for much waits until its rate has paid it back. An
//! IPv6 client is its /64: one host is usually given a whole /64 and can rotate through it
//! freely, so each of its addresses is the same client. An IPv4-mapped IPv6 address is its IPv4
//! address.
//!
//! Behind a reverse proxy every request comes from the proxy's address: limit there instead, or
//! run one service per proxy. `X-Forwarded-For` is not trusted, since any client can write it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clients::client_of;

/// The buckets of every client seen.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    max_clients: usize,
    /// How long a refused request waits before its `429` ([`RateLimiter::answer_late`]).
    refusal_delay: Duration,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter of `rate` requests per second and `burst` at once per address.
    pub fn new(rate: u32, burst: u32, max_clients: usize) -> Self {
        Self::of_amounts(u64::from(rate), u64::from(burst), max_clients)
    }

    /// A limiter of `rate` units of work per second and `burst` at once per address (units the
    /// caller charges: [`Self::admit`] and [`Self::charge`]).
    pub fn of_amounts(rate: u64, burst: u64, max_clients: usize) -> Self {
        Self {
            rate: rate.max(1) as f64,
            burst: burst.max(1) as f64,
            max_clients: max_clients.max(1),
            refusal_delay: Duration::ZERO,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Refused requests wait `delay` before they are answered (see [`Self::answer_late`]).
    pub fn with_refusal_delay(mut self, delay: Duration) -> Self {
        self.refusal_delay = delay;
        self
    }

    /// How long a request refused with `retry_after` waits: the refusal delay, never longer than
    /// the `Retry-After` it is given.
    pub fn refusal_wait(&self, retry_after: u64) -> Duration {
        self.refusal_delay.min(Duration::from_secs(retry_after))
    }

    /// Waits [`Self::refusal_wait`] before a refused request is answered. An async wait holds
    /// no worker: a client flooding over its rate gets about one answer per connection per
    /// delay (and the connections one client may hold are capped), so its flood cannot keep the
    /// workers busy answering `429`s.
    pub async fn answer_late(&self, retry_after: u64) {
        tokio::time::sleep(self.refusal_wait(retry_after)).await;
    }

    /// Takes one request from `client`'s bucket at `now`: `Ok`, or `Err(seconds)` to wait before
    /// the next one is allowed.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        self.with_bucket(client, now, |bucket| {
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                Ok(())
            } else {
                // At least one second, at most what one token takes at the slowest rate (1/s).
                Err((((1.0 - bucket.tokens) / self.rate).ceil() as u64).max(1))
            }
        })
    }

    /// Whether `client` may start work whose cost is charged when it is done: `Ok` unless its
    /// bucket is in debt, else `Err(seconds)` until the debt is paid back.
    pub fn admit(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        self.with_bucket(client, now, |bucket| {
            if bucket.tokens >= 0.0 {
                Ok(())
            } else {
                // Whole seconds until the debt is paid back (at least one).
                Err(((-bucket.tokens / self.rate).ceil() as u64).max(1))
            }
        })
    }

    /// Takes `amount` of work done for `client` out of its bucket, into debt if need be.
    pub fn charge(&self, client: IpAddr, now: Instant, amount: u64) {
        self.with_bucket(client, now, |bucket| bucket.tokens -= amount as f64);
    }

    /// `client`'s bucket, refilled to `now`, handed to `take`.
    fn with_bucket<T>(
        &self,
        client: IpAddr,
        now: Instant,
        take: impl FnOnce(&mut Bucket) -> T,
    ) -> T {
        let client = client_of(client);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= self.max_clients && !buckets.contains_key(&client) {
            forget_oldest(&mut buckets, self.max_clients / 10 + 1);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        take(bucket)
    }
}

/// Forgets the `count` clients seen longest ago.
fn forget_oldest(buckets: &mut HashMap<IpAddr, Bucket>, count: usize) {
    let mut by_age: Vec<(Instant, IpAddr)> = buckets
        .iter()
        .map(|(ip, bucket)| (bucket.at, *ip))
        .collect();
    by_age.sort_unstable();
    for (_, ip) in by_age.into_iter().take(count) {
        buckets.remove(&ip);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_refused_request_waits_the_delay_but_never_past_its_retry_after() {
        let limiter = RateLimiter::new(1, 1, 4);
        assert_eq!(
            limiter.refusal_wait(3),
            Duration::ZERO,
            "no delay by default"
        );
        let limiter = limiter.with_refusal_delay(Duration::from_secs(2));
        assert_eq!(limiter.refusal_wait(3), Duration::from_secs(2));
        assert_eq!(limiter.refusal_wait(1), Duration::from_secs(1));
    }

    #[test]
    fn a_client_gets_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(2, 3, 10);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(client, start), Ok(()));
        }
        assert_eq!(limiter.check(client, start), Err(1));
        // Half a second later at 2/s: one more.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.check(client, later), Ok(()));
        assert!(limiter.check(client, later).is_err());
        // Another client is not affected.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(limiter.check(other, later), Ok(()));
    }

    #[test]
    fn every_address_of_one_ipv6_slash_64_is_one_client() {
        let limiter = RateLimiter::new(1, 2, 10);
        let start = Instant::now();
        // A host rotating through its /64 gets the /64's burst, no more.
        for (n, address) in [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff::9",
            "2001:db8:1:2:abcd::",
        ]
        .iter()
        .enumerate()
        {
            let address: IpAddr = address.parse().unwrap();
            let expected = if n < 2 { Ok(()) } else { Err(1) };
            assert_eq!(limiter.check(address, start), expected, "{address}");
        }
        // The next /64 is another client; an IPv4-mapped address is its IPv4 address.
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limiter.check(next, start), Ok(()));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(limiter.check(v4, start), Ok(()));
        assert_eq!(limiter.check(mapped, start), Ok(()));
        assert_eq!(limiter.check(v4, start), Err(1));
    }

    #[test]
    fn work_charged_afterwards_is_paid_back_at_the_rate_before_more_is_admitted() {
        // 1,000 bytes per second, 4,000 at once.
        let limiter = RateLimiter::of_amounts(1000, 4000, 10);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        assert_eq!(limiter.admit(client, start), Ok(()));
        // An answer of 10,000 bytes: 6,000 in debt, six seconds to pay back.
        limiter.charge(client, start, 10_000);
        assert_eq!(limiter.admit(client, start), Err(6));
        let later = start + Duration::from_millis(5_500);
        assert_eq!(limiter.admit(client, later), Err(1));
        let paid = start + Duration::from_millis(6_001);
        assert_eq!(limiter.admit(client, paid), Ok(()));
        // Another client is not affected, and admitting takes nothing.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.admit(other, start), Ok(()));
        }
    }

    #[test]
    fn the_table_of_clients_stays_bounded() {
        let limiter = RateLimiter::new(1, 1, 4);
        let start = Instant::now();
        for n in 0..100u8 {
            let client = IpAddr::from([10, 0, 0, n]);
            assert_eq!(
                limiter.check(client, start + Duration::from_millis(u64::from(n))),
                Ok(())
            );
        }
        assert!(limiter.buckets.lock().unwrap().len() <= 4);
    }
}
