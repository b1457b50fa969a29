//! A slow link for the proxy: a bandwidth shared by all connections (a token bucket per
//! direction) and a latency added to every forwarded request. See [`super::FaultProxy::shape`].

use std::time::{Duration, Instant};

/// The link the proxy simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shaping {
    /// Body bytes per second in each direction, shared by every connection (0: unlimited).
    pub bytes_per_sec: u64,
    /// Added to every forwarded request before it goes to the registry: one extra round
    /// trip per request.
    pub latency: Duration,
}

/// How much an idle link may send at once before the rate applies.
pub(crate) const BURST: Duration = Duration::from_millis(20);

/// A token bucket in the form of a virtual schedule: the link is busy until `free_at`;
/// bytes reserved now are sent after everything reserved before them, at `rate`. An idle
/// link has up to [`BURST`] of credit. Time is an input, so it is tested without clocks.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    bytes_per_sec: u64,
    burst: Duration,
    free_at: Option<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(bytes_per_sec: u64, burst: Duration) -> TokenBucket {
        TokenBucket {
            bytes_per_sec,
            burst,
            free_at: None,
        }
    }

    /// Reserves `n` bytes at `now`: how long the caller must wait before they count as
    /// sent (zero when unlimited or within the burst credit).
    pub(crate) fn reserve(&mut self, now: Instant, n: u64) -> Duration {
        if self.bytes_per_sec == 0 {
            return Duration::ZERO;
        }
        let floor = now.checked_sub(self.burst).unwrap_or(now);
        let start = self.free_at.map_or(floor, |f| f.max(floor));
        let end = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        self.free_at = Some(end);
        end.saturating_duration_since(now)
    }
}

/// The shaping in force: the settings and one bucket per direction.
#[derive(Debug)]
pub(crate) struct Shaper {
    pub settings: Shaping,
    pub up: TokenBucket,
    pub down: TokenBucket,
}

impl Shaper {
    pub(crate) fn new(settings: Shaping) -> Shaper {
        Shaper {
            settings,
            up: TokenBucket::new(settings.bytes_per_sec, BURST),
            down: TokenBucket::new(settings.bytes_per_sec, BURST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn bytes_queue_behind_each_other_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, Duration::ZERO);
        assert_eq!(b.reserve(t0, 500), MS(500));
        // A second sender at the same moment waits for the first: the rate is shared.
        assert_eq!(b.reserve(t0, 500), MS(1000));
        // Later, part of the queue has drained.
        assert_eq!(b.reserve(t0 + MS(600), 100), MS(500));
        // 10 s of idle leave no credit without a burst: 100 bytes take 100 ms.
        assert_eq!(b.reserve(t0 + MS(10_000), 100), MS(100));
    }

    #[test]
    fn an_idle_link_has_a_burst_of_credit_and_no_more() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut b = TokenBucket::new(1000, MS(100));
        // 100 ms of credit: 100 bytes go at once, the next 100 wait 100 ms.
        assert_eq!(b.reserve(t0, 100), Duration::ZERO);
        assert_eq!(b.reserve(t0, 100), MS(100));
        // Idle for an hour still gives only 100 ms of credit.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.reserve(later, 300), MS(200));
    }

    #[test]
    fn over_a_long_run_the_rate_holds() {
        // 1 MB reserved at once in 64 KiB pieces at 20 MB/s: the last piece goes 50 ms
        // after the start, less the burst credit.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(20_000_000, BURST);
        let mut wait = Duration::ZERO;
        let mut sent = 0u64;
        while sent < 1_000_000 {
            let n = (1_000_000 - sent).min(65_536);
            wait = b.reserve(t0, n);
            sent += n;
        }
        let expected = MS(50) - BURST;
        let diff = wait.abs_diff(expected);
        assert!(diff < Duration::from_micros(1), "{wait:?} vs {expected:?}");
    }

    #[test]
    fn unlimited_never_waits() {
        let mut b = TokenBucket::new(0, BURST);
        assert_eq!(b.reserve(Instant::now(), u64::MAX), Duration::ZERO);
    }
}
