//! Progress accounting: bytes done, bytes sent, a smoothed rate and an ETA.

use std::time::Duration;

use crate::time::Instant;

/// A snapshot of an operation's progress, emitted as an event.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Bytes the whole operation covers (all unique blobs).
    pub total_bytes: u64,
    /// Bytes the registry confirmed or already had.
    pub done_bytes: u64,
    /// Bytes of those the registry already had (not sent).
    pub skipped_bytes: u64,
    /// Bytes put on the wire in this run, including re-sent ones.
    pub sent_bytes: u64,
    /// Bytes done, plus bytes of blobs in flight that their current attempt has sent: the
    /// position of an overall progress bar.
    pub transferred_bytes: u64,
    /// Unique blobs in the operation.
    pub blobs_total: usize,
    /// Blobs committed or skipped.
    pub blobs_done: usize,
    /// Blobs the registry already had.
    pub blobs_skipped: usize,
    /// Blobs whose bytes are moving now.
    pub blobs_active: usize,
    /// Blobs mounted from another repository (push; none for a pull).
    pub blobs_mounted: usize,
    /// Requests retried so far.
    pub retries: u32,
    /// Smoothed transfer rate in bytes per second.
    pub bytes_per_second: f64,
    /// The highest smoothed rate so far, never below the average: a run too short for the
    /// rate meter to take a sample has its average.
    pub peak_bytes_per_second: f64,
    /// Estimated time to finish, when there is a rate to estimate from.
    pub eta: Option<Duration>,
    /// Time since the operation started.
    pub elapsed: Duration,
}

impl Progress {
    /// A snapshot with `sent_bytes` moved and `blobs_total` blobs, nothing counted yet: the
    /// operation adds its blobs, the accountant the time, rate and ETA.
    pub(crate) fn counting(sent_bytes: u64, blobs_total: usize) -> Progress {
        Progress {
            total_bytes: 0,
            done_bytes: 0,
            skipped_bytes: 0,
            sent_bytes,
            transferred_bytes: 0,
            blobs_total,
            blobs_done: 0,
            blobs_skipped: 0,
            blobs_active: 0,
            blobs_mounted: 0,
            retries: 0,
            bytes_per_second: 0.0,
            peak_bytes_per_second: 0.0,
            eta: None,
            elapsed: Duration::ZERO,
        }
    }
}

/// Exponentially weighted transfer rate: steady under bursty samples, quick to follow change.
#[derive(Clone, Debug)]
pub(crate) struct RateMeter {
    last: Option<(Instant, u64)>,
    rate: f64,
}

/// Samples closer together than this are merged into the next one.
const MIN_SAMPLE: Duration = Duration::from_millis(100);
/// Time constant of the smoothing.
const TAU_SECS: f64 = 3.0;

impl RateMeter {
    pub(crate) fn new() -> RateMeter {
        RateMeter {
            last: None,
            rate: 0.0,
        }
    }

    /// Records that `total` bytes have moved by `now`.
    pub(crate) fn record(&mut self, now: Instant, total: u64) {
        let Some((t0, b0)) = self.last else {
            self.last = Some((now, total));
            return;
        };
        let dt = now.saturating_since(t0);
        if dt < MIN_SAMPLE {
            return;
        }
        let secs = dt.as_secs_f64();
        let instant_rate = total.saturating_sub(b0) as f64 / secs;
        let alpha = if self.rate == 0.0 {
            1.0
        } else {
            1.0 - libm::exp(-secs / TAU_SECS)
        };
        self.rate += alpha * (instant_rate - self.rate);
        self.last = Some((now, total));
    }

    /// Bytes per second.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Time to move `remaining` bytes at the current rate.
    pub(crate) fn eta(&self, remaining: u64) -> Option<Duration> {
        if remaining == 0 {
            return Some(Duration::ZERO);
        }
        (self.rate > 1.0).then(|| Duration::from_secs_f64(remaining as f64 / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn steady_rate_is_measured_and_eta_follows() {
        let mut m = RateMeter::new();
        for i in 0..=50u64 {
            m.record(Instant::from_millis(i * 200), i * 200_000); // 1 MB/s
        }
        assert!((m.rate() - 1_000_000.0).abs() < 1.0, "{}", m.rate());
        assert_eq!(m.eta(5_000_000), Some(Duration::from_secs(5)));
        assert_eq!(m.eta(0), Some(Duration::ZERO));
    }

    #[test]
    fn no_rate_no_eta() {
        let m = RateMeter::new();
        assert_eq!(m.eta(10), None);
    }
}
