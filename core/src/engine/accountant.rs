//! Progress accounting for one operation: the rate meter, when the next report is due, and
//! the most bytes ever reported transferred (progress never goes backwards, even when a blob
//! starts over). The protocol counts its blobs; the accountant adds time, rate and ETA.

use std::time::Duration;

use crate::progress::{Progress, RateMeter};
use crate::time::Instant;

#[derive(Debug)]
pub(crate) struct Accountant {
    started: Instant,
    interval: Duration,
    meter: RateMeter,
    last: Option<Instant>,
    transferred_high: u64,
    moved: u64,
    /// The highest smoothed rate reported.
    peak: f64,
}

impl Accountant {
    /// Reports at most every `interval`, from `started` on.
    pub(crate) fn new(started: Instant, interval: Duration) -> Accountant {
        Accountant {
            started,
            interval,
            meter: RateMeter::new(),
            last: None,
            transferred_high: 0,
            moved: 0,
            peak: 0.0,
        }
    }

    /// `bytes` more moved (sent or received).
    pub(crate) fn count(&mut self, bytes: u64) {
        self.moved = self.moved.saturating_add(bytes);
    }

    /// Bytes moved so far.
    pub(crate) fn moved(&self) -> u64 {
        self.moved
    }

    /// Records the bytes moved so far; whether a report is due (always when `force`). A
    /// report due is counted as made.
    pub(crate) fn tick(&mut self, now: Instant, force: bool) -> bool {
        self.meter.record(now, self.moved);
        let due = self
            .last
            .is_none_or(|t| now.saturating_since(t) >= self.interval);
        if force || due {
            self.last = Some(now);
        }
        force || due
    }

    /// Time since the operation started.
    pub(crate) fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_since(self.started)
    }

    /// The highest smoothed rate by `now`, never below the average rate so far.
    pub(crate) fn peak(&self, now: Instant) -> f64 {
        let secs = self.elapsed(now).as_secs_f64();
        let average = if secs > 0.0 {
            self.moved as f64 / secs
        } else {
            0.0
        };
        self.peak.max(self.meter.rate()).max(average)
    }

    /// `counts` (the protocol's byte and blob counts) with rate, peak, ETA, elapsed time and
    /// `retries` added, and transferred bytes never below what was reported before.
    pub(crate) fn progress(&mut self, now: Instant, counts: Progress, retries: u32) -> Progress {
        let mut p = counts;
        p.transferred_bytes = p.transferred_bytes.max(self.transferred_high);
        self.transferred_high = p.transferred_bytes;
        p.bytes_per_second = self.meter.rate();
        self.peak = self.peak(now);
        p.peak_bytes_per_second = self.peak;
        p.eta = self
            .meter
            .eta(p.total_bytes.saturating_sub(p.transferred_bytes));
        p.elapsed = self.elapsed(now);
        p.retries = retries;
        p
    }
}
