//! Adaptive concurrency: how many blobs to move at once, chosen from measured throughput.
//!
//! A [`ConcurrencyController`] is pure: the operation feeds it the time, the bytes moved so
//! far and how many blobs are in flight ([`ConcurrencyController::on_progress`]), and tells
//! it when the registry or the link signals overload
//! ([`ConcurrencyController::on_congestion`]). It answers with the *window*: how many blobs
//! may be in flight, always within `min..=max`. A push or pull with `adaptive` on starts
//! blobs while fewer than the window are in flight. A blob, once started, runs to its end
//! and its chunks go in order, so a smaller window takes effect as blobs finish.
//!
//! # Algorithm
//!
//! **Samples.** Throughput is sampled over intervals of at least [`INTERVAL`] (500 ms); for
//! a push, whose bytes count only once a response confirms them
//! ([`ConcurrencyController::on_completion`]: bytes written to a socket may wait in
//! buffers), also over at least [`COMPLETIONS`] (2) completed requests per blob in the
//! window. A sample counts only if the number of blobs in flight equalled the window from
//! its start to its end: during the tail of an operation (fewer blobs left than the window)
//! nothing changes, and a smaller window is measured only once enough blobs have finished.
//! The first whole sample after every change of the window is dropped ([`SETTLE`]): new
//! blobs spend it on `HEAD` and `POST` round trips.
//!
//! **Start.** Below `max`, the first sample starts a search upwards whose first probe
//! doubles the window (slow start). At `max` (where tug starts: `--jobs` is the most and
//! the first guess) the window is held for [`FIRST_HOLD`] (2) samples, then searched from.
//!
//! **Hold.** The window stays; a reference rate follows the samples (moving average,
//! weight [`FOLLOW`]). Two samples in a row more than [`DROP`] (30 %) below the reference
//! mean the link got slower: *multiplicative decrease*, a search downwards whose first
//! probe halves the window. A sample more than [`RISE`] (30 %) above the reference starts
//! a search at once; after [`HOLD_SAMPLES`] (8) samples a search starts anyway (the link
//! may have room that only more flows can use, or need fewer). These start with one step
//! up.
//!
//! **Search** (hill climbing within a bracket). From a base window with a measured rate, a
//! probe moves the window by `s` flows and measures it. One rule judges both directions:
//! the larger of the two windows must beat the smaller, `small`, by more than
//! `GAIN · s / small` ([`GAIN`] = ½: half of what `s` more flows add when throughput grows in
//! proportion to the flows). A probe up is kept when the larger (the probe) wins; a probe
//! down is kept when the larger (the base) does not. A kept probe becomes the base; the
//! next step up doubles (additive increase that speeds up while it pays); the next step
//! down is one window (a probe down costs throughput when it is rejected, more so at small
//! windows), except after a drop, where each halves the window again (multiplicative
//! decrease while nothing is lost). A rejected probe rules out its window and everything
//! beyond it, and the next step is 1; a rejected step of 1 up turns the search down, a
//! rejected step of 1 down ends it: back to the base, hold. Every probe narrows the bracket,
//! so every search ends.
//!
//! **Congestion.** A retry of a request that failed with 408, 429, 502, 503, 504 or a
//! transport failure (timeout, reset, refused connection) halves the window at once (at most
//! once per [`INTERVAL`], so one burst of failures counts once; never below `min`) and holds
//! for [`HOLD_SAMPLES`] before growing again.
//!
//! # Convergence
//!
//! On a link whose throughput with `w` flows is `min(C, w · c)` (capacity `C` shared by the
//! flows, each flow limited to `c` by its own round trips), the best window is the knee
//! `C / c` rounded to the nearest window (one flow more adds less than half its share, one
//! flow fewer loses more than half of it), within `min..=max`; because both directions use
//! the same rule it is the only window a search can end at. Claim, checked by
//! `core/tests/concurrency_sim.rs` in virtual time (flows that take 100 ms to start and
//! 300 ms to stop; the capacity stepping between 20, 80 and 10 MB/s from every starting
//! window with `max` 8 and 16, and random links, capacities and bounds up to 16): within
//! [`convergence_bound`]`(min, max)` samples after a change of the link (or the start) —
//! 50 samples, at least 25 s, for `1..=16`; 34 for `1..=8` — the window is within ±1 of the
//! best one and stays there until the next change (holding the best window, probing one
//! step either side now and then). The window never leaves `min..=max`, and failures halve
//! it. (The samples are the controller's own, [`ConcurrencyController::samples`]; real links
//! are noisier than this model, and where more blobs change nothing, probes are kept or
//! rejected by a hair and the window wanders above the knee, which costs no throughput.)

use std::fmt;
use std::time::Duration;

use crate::time::Instant;

/// Least length of one throughput sample.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Fed with completions, a sample spans at least this many per blob in the window (each
/// completion counts a whole request body at once: fewer would make samples lumpy).
pub const COMPLETIONS: usize = 2;
/// Whole samples dropped after every change of the window.
pub const SETTLE: u32 = 1;
/// Of two windows `s` apart, the larger must beat the smaller, `small`, by more than
/// `GAIN · s / small` to count as better.
pub const GAIN: f64 = 0.5;
/// A held window whose rate falls this much below the reference is halved.
pub const DROP: f64 = 0.3;
/// A held window whose rate rises this much above the reference searches upwards.
pub const RISE: f64 = 0.3;
/// Samples a window is held before a search upwards is tried anyway.
pub const HOLD_SAMPLES: u32 = 8;
/// Samples the starting window is held when it is `max`, before the first search.
pub const FIRST_HOLD: u32 = 2;
/// Weight of a new sample in the reference rate while holding.
pub const FOLLOW: f64 = 0.25;

/// Samples after a change of the link (or the start) within which the window is within ±1
/// of the best one on the links described in the [module docs](self), and stays there:
/// `HOLD_SAMPLES + 2 · (max − min) + 12`. That covers a hold that has not noticed the change
/// yet, then a search that walks down one window at a time from `max` (each probe costs a
/// settle sample and a measured one), and the probes a search straddling the change wastes.
/// (Checked by tests; the worst seen is about three quarters of it.)
pub fn convergence_bound(min: usize, max: usize) -> u32 {
    let range = u32::try_from(max.saturating_sub(min)).unwrap_or(u32::MAX / 4);
    HOLD_SAMPLES + 2 * range + 12
}

/// Why the window changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Trying a window above [`Change::base`], the best so far: the last probe up paid
    /// off, or it is time to look for room.
    ProbeUp,
    /// Trying a window below [`Change::base`]: more did not pay off, or fewer did as well.
    ProbeDown,
    /// The probe did not pay off: back to the window that did best.
    NoGain,
    /// Throughput fell well below what this window moved before: halved.
    ThroughputFell,
    /// A request failed with a sign of overload (429, 503, timeouts, resets): halved.
    Congestion,
}

impl Reason {
    /// A stable snake_case name, for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ProbeUp => "probe_up",
            Reason::ProbeDown => "probe_down",
            Reason::NoGain => "no_gain",
            Reason::ThroughputFell => "throughput_fell",
            Reason::Congestion => "congestion",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::ProbeUp => "probing above the best window so far",
            Reason::ProbeDown => "probing below the best window so far",
            Reason::NoGain => "the probe did not pay off",
            Reason::ThroughputFell => "throughput fell",
            Reason::Congestion => "requests failed with signs of overload",
        })
    }
}

/// A decision of the controller: the window went from `from` to `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The window before.
    pub from: usize,
    /// The window now.
    pub to: usize,
    /// Why.
    pub reason: Reason,
    /// The best window so far, which a probe is measured against (`to` when the window
    /// goes back or is halved for congestion; `from` when it is halved after a drop).
    pub base: usize,
    /// The throughput of the sample that led to it, in bytes per second (none for
    /// [`Reason::Congestion`]).
    pub bytes_per_second: Option<f64>,
}

/// Direction of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Before the first sample.
    Start,
    /// Keeping the window.
    Hold {
        reference: Option<f64>,
        samples: u32,
        /// The last sample was [`DROP`] below the reference.
        fell: bool,
    },
    /// A probe of `current` against `base` (measured at `base_rate`) is in progress; windows
    /// `<= floor` and `>= ceiling` are ruled out.
    Search {
        dir: Dir,
        base: usize,
        base_rate: f64,
        floor: usize,
        ceiling: usize,
        halving: bool,
    },
}

/// The next probe of a search: `step` in `dir` from `base` (measured at `base_rate`),
/// strictly between `floor` and `ceiling`.
#[derive(Clone, Copy, Debug)]
struct Probe {
    dir: Dir,
    base: usize,
    base_rate: f64,
    step: usize,
    floor: usize,
    ceiling: usize,
    /// A multiplicative decrease: while probes down are kept, each halves the window.
    halving: bool,
}

impl Probe {
    fn new(
        dir: Dir,
        base: usize,
        base_rate: f64,
        step: usize,
        (floor, ceiling): (usize, usize),
    ) -> Probe {
        Probe {
            dir,
            base,
            base_rate,
            step: step.max(1),
            floor,
            ceiling,
            halving: false,
        }
    }

    fn halving(self) -> Probe {
        Probe {
            halving: true,
            ..self
        }
    }
}

/// Chooses how many blobs to move at once. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ConcurrencyController {
    min: usize,
    max: usize,
    current: usize,
    phase: Phase,
    /// Start of the sample being taken: time and bytes moved.
    mark: Option<(Instant, u64)>,
    /// Whole samples still to drop after the last change.
    settling: u32,
    last_cut: Option<Instant>,
    samples: u64,
    /// Fed with [`ConcurrencyController::on_completion`]: samples span completions.
    per_completion: bool,
    /// Completions since the sample began.
    completions: usize,
}

impl ConcurrencyController {
    /// A controller keeping the window within `min..=max` (`min` at least 1, `max` at least
    /// `min`), starting at `initial` (clamped).
    pub fn new(min: usize, max: usize, initial: usize) -> ConcurrencyController {
        let min = min.max(1);
        let max = max.max(min);
        ConcurrencyController {
            min,
            max,
            current: initial.clamp(min, max),
            phase: Phase::Start,
            mark: None,
            settling: SETTLE,
            last_cut: None,
            samples: 0,
            per_completion: false,
            completions: 0,
        }
    }

    /// Blobs that may be in flight now.
    pub fn window(&self) -> usize {
        self.current
    }

    /// The lower bound.
    pub fn min(&self) -> usize {
        self.min
    }

    /// The upper bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Samples taken so far (those dropped after a change included): the controller's
    /// clock, in which its convergence is stated.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// `bytes` have moved in all (a running total) by `now`, with `in_flight` blobs under
    /// way: for a count that grows as bytes arrive (a pull's received bytes). Returns the
    /// change of window this leads to, if any.
    pub fn on_progress(&mut self, now: Instant, bytes: u64, in_flight: usize) -> Option<Change> {
        self.observe(now, bytes, in_flight)
    }

    /// A request finished, and `bytes` in all (a running total) are confirmed delivered by
    /// `now`, with `in_flight` blobs under way: for a count that grows as responses confirm
    /// request bodies (a push: bytes handed to a socket may sit in buffers on the way, so
    /// only a response says they crossed the link). With these, a sample also spans at
    /// least [`COMPLETIONS`] times as many completions as the window, so each blob in flight
    /// finishes about two requests per sample. Returns the change of window this leads to,
    /// if any.
    pub fn on_completion(&mut self, now: Instant, bytes: u64, in_flight: usize) -> Option<Change> {
        self.per_completion = true;
        self.completions += 1;
        self.observe(now, bytes, in_flight)
    }

    fn observe(&mut self, now: Instant, bytes: u64, in_flight: usize) -> Option<Change> {
        if in_flight != self.current {
            // Not the window's steady state (the tail, or a smaller window still draining).
            self.restart_sample(now, bytes);
            return None;
        }
        let Some((t0, b0)) = self.mark else {
            self.restart_sample(now, bytes);
            return None;
        };
        let dt = now.saturating_since(t0);
        let enough = !self.per_completion || self.completions >= COMPLETIONS * self.current;
        if dt < INTERVAL || !enough {
            return None;
        }
        self.restart_sample(now, bytes);
        self.samples += 1;
        if self.settling > 0 {
            self.settling -= 1;
            return None;
        }
        let rate = bytes.saturating_sub(b0) as f64 / dt.as_secs_f64();
        self.decide(rate)
    }

    fn restart_sample(&mut self, now: Instant, bytes: u64) {
        self.mark = Some((now, bytes));
        self.completions = 0;
    }

    /// A request failed in a way that signals overload (429, 503, timeouts, resets): halve
    /// the window, at most once per [`INTERVAL`], and hold.
    pub fn on_congestion(&mut self, now: Instant) -> Option<Change> {
        if self
            .last_cut
            .is_some_and(|t| now.saturating_since(t) < INTERVAL)
        {
            return None;
        }
        self.last_cut = Some(now);
        self.phase = Phase::Hold {
            reference: None,
            samples: 0,
            fell: false,
        };
        let to = (self.current / 2).max(self.min);
        let change = self.set(to, to, Reason::Congestion, None);
        // Hold from a fresh measurement even when the window stayed (already at `min`).
        self.settling = SETTLE;
        self.mark = None;
        change
    }

    fn decide(&mut self, rate: f64) -> Option<Change> {
        let w = self.current;
        match self.phase {
            // Slow start: the first probe doubles the window.
            Phase::Start if w < self.max => {
                let probe = Probe::new(Dir::Up, w, rate, w, self.fresh_bracket());
                self.search(probe, rate, Reason::ProbeUp)
            }
            // Starting at the bound: hold it for FIRST_HOLD samples, then search.
            Phase::Start => {
                self.phase = Phase::Hold {
                    reference: Some(rate),
                    samples: HOLD_SAMPLES.saturating_sub(FIRST_HOLD),
                    fell: false,
                };
                None
            }
            Phase::Hold {
                reference,
                samples,
                fell,
            } => {
                let Some(reference) = reference else {
                    self.phase = Phase::Hold {
                        reference: Some(rate),
                        samples: 1,
                        fell: false,
                    };
                    return None;
                };
                if rate < reference * (1.0 - DROP) {
                    if fell {
                        // Two samples in a row: the link got slower. Multiplicative
                        // decrease: the first probe halves the window.
                        let bracket = self.fresh_bracket();
                        let probe =
                            Probe::new(Dir::Down, w, rate, (w / 2).max(1), bracket).halving();
                        return self.search(probe, rate, Reason::ThroughputFell);
                    }
                    // One low sample may straddle the change (or be noise): confirm it.
                    self.phase = Phase::Hold {
                        reference: Some(reference),
                        samples: samples + 1,
                        fell: true,
                    };
                    return None;
                }
                if rate > reference * (1.0 + RISE) || samples + 1 >= HOLD_SAMPLES {
                    let probe = Probe::new(Dir::Up, w, rate, 1, self.fresh_bracket());
                    return self.search(probe, rate, Reason::ProbeUp);
                }
                self.phase = Phase::Hold {
                    reference: Some(reference + FOLLOW * (rate - reference)),
                    samples: samples + 1,
                    fell: false,
                };
                None
            }
            Phase::Search {
                dir,
                base,
                base_rate,
                floor,
                ceiling,
                halving,
            } => {
                // One rule for both directions: the larger window must beat the smaller one
                // by more than GAIN · s / smaller. Up keeps the probe when it does; down
                // keeps it when it does not.
                let s = w.abs_diff(base);
                let (small, small_rate, large_rate) = match dir {
                    Dir::Up => (base, base_rate, rate),
                    Dir::Down => (w, rate, base_rate),
                };
                let larger_wins = large_rate > small_rate * (1.0 + GAIN * s as f64 / small as f64);
                let kept = match dir {
                    Dir::Up => larger_wins,
                    Dir::Down => !larger_wins,
                };
                let next = match (dir, kept) {
                    // More flows paid off: nothing at or below the old base is better; the
                    // next step is twice as large.
                    (Dir::Up, true) => Probe::new(Dir::Up, w, rate, 2 * s, (base, ceiling)),
                    // Fewer flows did as well: nothing at or above the old base is needed;
                    // the next probe is one fewer, or half as many after a drop.
                    (Dir::Down, true) if halving => {
                        Probe::new(Dir::Down, w, rate, w / 2, (floor, base)).halving()
                    }
                    (Dir::Down, true) => Probe::new(Dir::Down, w, rate, 1, (floor, base)),
                    // Too far: `w` and beyond are no better; try the single step.
                    (Dir::Up, false) if s > 1 => {
                        Probe::new(Dir::Up, base, base_rate, 1, (floor, w))
                    }
                    (Dir::Up, false) => Probe::new(Dir::Down, base, base_rate, 1, (floor, w)),
                    (Dir::Down, false) if s > 1 => {
                        Probe::new(Dir::Down, base, base_rate, 1, (w, ceiling))
                    }
                    (Dir::Down, false) => return self.hold_at(base, base_rate, rate),
                };
                let reason = match next.dir {
                    Dir::Up => Reason::ProbeUp,
                    Dir::Down => Reason::ProbeDown,
                };
                self.search(next, rate, reason)
            }
        }
    }

    /// Nothing ruled out yet.
    fn fresh_bracket(&self) -> (usize, usize) {
        (self.min - 1, self.max + 1)
    }

    /// Starts `probe`; with no room its way, turns down (from up) or holds at its base
    /// (from down).
    fn search(&mut self, probe: Probe, rate: f64, reason: Reason) -> Option<Change> {
        let Probe {
            dir,
            base,
            base_rate,
            step,
            floor,
            ceiling,
            halving,
        } = probe;
        let target = match dir {
            Dir::Up => base.saturating_add(step).min(ceiling - 1).min(self.max),
            Dir::Down => base.saturating_sub(step).max(floor + 1).max(self.min),
        };
        if target == base {
            return match dir {
                Dir::Up => {
                    let down = Probe::new(Dir::Down, base, base_rate, 1, (floor, ceiling));
                    self.search(down, rate, Reason::ProbeDown)
                }
                Dir::Down => self.hold_at(base, base_rate, rate),
            };
        }
        self.phase = Phase::Search {
            dir,
            base,
            base_rate,
            floor,
            ceiling,
            halving,
        };
        self.set(target, base, reason, Some(rate))
    }

    /// Ends a search: back to `base`, hold with its rate as the reference.
    fn hold_at(&mut self, base: usize, base_rate: f64, rate: f64) -> Option<Change> {
        self.phase = Phase::Hold {
            reference: Some(base_rate),
            samples: 0,
            fell: false,
        };
        self.set(base, base, Reason::NoGain, Some(rate))
    }

    fn set(&mut self, to: usize, base: usize, reason: Reason, rate: Option<f64>) -> Option<Change> {
        let to = to.clamp(self.min, self.max);
        if to == self.current {
            return None;
        }
        let change = Change {
            from: self.current,
            to,
            reason,
            base,
            bytes_per_second: rate,
        };
        self.current = to;
        self.settling = SETTLE;
        self.mark = None;
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stated_bounds() {
        assert_eq!(convergence_bound(1, 16), 50);
        assert_eq!(convergence_bound(1, 8), 34);
        assert_eq!(convergence_bound(1, 1), 12 + HOLD_SAMPLES);
        assert_eq!(convergence_bound(3, 3), 12 + HOLD_SAMPLES);
    }

    #[test]
    fn fed_with_completions_a_sample_spans_two_per_blob_in_flight() {
        let mut c = ConcurrencyController::new(1, 4, 2);
        let second = Duration::from_secs(1);
        let mut t = Instant::ZERO;
        // The first completion starts the sample; three more in 3 s are not enough (2 × 2).
        for i in 0..4u64 {
            assert_eq!(c.on_completion(t, i * 1000, 2), None);
            t = t + second;
        }
        assert_eq!(c.samples(), 0);
        // The fourth after the start closes it (the settle sample, dropped).
        assert_eq!(c.on_completion(t, 4000, 2), None);
        assert_eq!(c.samples(), 1);
    }

    #[test]
    fn bounds_are_normalised() {
        let c = ConcurrencyController::new(0, 0, 9);
        assert_eq!((c.min(), c.max(), c.window()), (1, 1, 1));
        let c = ConcurrencyController::new(3, 2, 0);
        assert_eq!((c.min(), c.max(), c.window()), (3, 3, 3));
    }

    #[test]
    fn nothing_is_decided_before_a_whole_interval() {
        let mut c = ConcurrencyController::new(1, 8, 4);
        let mut t = Instant::ZERO;
        for i in 0..4u64 {
            assert_eq!(c.on_progress(t, i * 1000, 4), None);
            t = t + Duration::from_millis(100);
        }
        assert_eq!(c.samples(), 0);
        // 500 ms: the settle sample (dropped), then a measured one: slow start doubles.
        let mut change = None;
        for i in 4..=10u64 {
            change = change.or(c.on_progress(t, i * 1000, 4));
            t = t + Duration::from_millis(100);
        }
        let change = change.expect("slow start");
        assert_eq!(
            (change.from, change.to, change.reason),
            (4, 8, Reason::ProbeUp)
        );
        assert_eq!(change.base, 4);
        assert_eq!(Reason::ProbeUp.as_str(), "probe_up");
    }
}
