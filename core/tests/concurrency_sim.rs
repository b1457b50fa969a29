//! The adaptive concurrency controller against a simulated link, in virtual time.
//!
//! The link: a capacity shared by the flows in flight (it changes at given times), each
//! flow limited to `per_flow` by its own round trips, so `w` flows move
//! `min(capacity, w · per_flow)`; a new flow starts moving 100 ms after the window grows
//! (its `HEAD` and `POST`), and a flow the window drops keeps moving for 300 ms (the blob
//! finishing). The best window is `⌈capacity / per_flow⌉` within the bounds.

use std::time::Duration;

use proptest::prelude::*;
use tug_core::concurrency::{convergence_bound, Change, ConcurrencyController, Reason, INTERVAL};
use tug_core::Instant;

const MB: f64 = 1_000_000.0;
const TICK: Duration = Duration::from_millis(50);
const START_DELAY: Duration = Duration::from_millis(100);
const STOP_DELAY: Duration = Duration::from_millis(300);

struct Flow {
    moving_from: Instant,
    stop_at: Option<Instant>,
}

struct Link {
    /// Capacity (bytes/s) from each instant on.
    schedule: Vec<(Instant, f64)>,
    per_flow: f64,
    flows: Vec<Flow>,
    bytes: f64,
}

impl Link {
    fn new(schedule: Vec<(Instant, f64)>, per_flow: f64, window: usize) -> Link {
        let flows = (0..window)
            .map(|_| Flow {
                moving_from: Instant::ZERO,
                stop_at: None,
            })
            .collect();
        Link {
            schedule,
            per_flow,
            flows,
            bytes: 0.0,
        }
    }

    fn capacity(&self, t: Instant) -> f64 {
        self.schedule
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(0.0, |(_, c)| *c)
    }

    /// Moves bytes over `(t, t + TICK]` and retires flows whose time is up.
    fn advance(&mut self, t: Instant) {
        let moving = self.flows.iter().filter(|f| f.moving_from <= t).count();
        if moving > 0 {
            let each = self.per_flow.min(self.capacity(t) / moving as f64);
            self.bytes += moving as f64 * each * TICK.as_secs_f64();
        }
        let end = t + TICK;
        self.flows.retain(|f| f.stop_at.is_none_or(|s| s > end));
    }

    fn in_flight(&self) -> usize {
        self.flows.len()
    }

    fn set_window(&mut self, now: Instant, window: usize) {
        let alive = self.flows.iter().filter(|f| f.stop_at.is_none()).count();
        for _ in alive..window {
            self.flows.push(Flow {
                moving_from: now + START_DELAY,
                stop_at: None,
            });
        }
        for f in self
            .flows
            .iter_mut()
            .rev()
            .filter(|f| f.stop_at.is_none())
            .take(alive.saturating_sub(window))
        {
            f.stop_at = Some(now + STOP_DELAY);
        }
    }
}

/// What the controller did at one tick.
struct Point {
    t: Instant,
    samples: u64,
    window: usize,
}

struct Trace {
    points: Vec<Point>,
    changes: Vec<Change>,
}

fn simulate(link: &mut Link, ctl: &mut ConcurrencyController, until: Instant) -> Trace {
    let mut t = Instant::ZERO;
    let mut trace = Trace {
        points: Vec::new(),
        changes: Vec::new(),
    };
    while t < until {
        link.advance(t);
        t = t + TICK;
        if let Some(change) = ctl.on_progress(t, link.bytes as u64, link.in_flight()) {
            link.set_window(t, change.to);
            trace.changes.push(change);
        }
        trace.points.push(Point {
            t,
            samples: ctl.samples(),
            window: ctl.window(),
        });
    }
    trace
}

/// The best windows: the knee `capacity / per_flow` rounded to the nearest window, within
/// the bounds (one flow more adds at most half its share, one flow fewer loses at least
/// half of it); both neighbours when the knee lies exactly halfway.
fn best(capacity: f64, per_flow: f64, min: usize, max: usize) -> (usize, usize) {
    let knee = capacity / per_flow;
    let low = ((knee - 0.5).ceil().max(0.0) as usize).clamp(min, max);
    let high = ((knee + 0.5).floor().max(0.0) as usize).clamp(min, max);
    (low, high)
}

/// Whether `window` is within ±1 of the best windows.
fn near(window: usize, (low, high): (usize, usize)) -> bool {
    window + 1 >= low && window <= high + 1
}

/// For each phase of the schedule: the first sample count from which the window stayed
/// within ±1 of the best one until the phase ended (`None`: it never settled), and the
/// samples the phase lasted.
fn settling(
    trace: &Trace,
    schedule: &[(Instant, f64)],
    per_flow: f64,
    min: usize,
    max: usize,
) -> Vec<(Option<u64>, u64, (usize, usize))> {
    let mut out = Vec::new();
    for (i, &(from, capacity)) in schedule.iter().enumerate() {
        let to = schedule.get(i + 1).map(|(t, _)| *t);
        let target = best(capacity, per_flow, min, max);
        let phase: Vec<&Point> = trace
            .points
            .iter()
            .filter(|p| p.t > from && to.is_none_or(|to| p.t <= to))
            .collect();
        let Some(first) = phase.first() else { continue };
        let start = first.samples;
        let last = phase.last().map_or(start, |p| p.samples);
        // The last point outside ±1; the window was within from the next sample on.
        let settled = match phase.iter().rposition(|p| !near(p.window, target)) {
            None => Some(0),
            Some(k) => phase.get(k + 1).map(|p| p.samples - start),
        };
        out.push((settled, last - start, target));
    }
    out
}

fn at(secs: u64) -> Instant {
    Instant::from_duration(Duration::from_secs(secs))
}

/// 20 → 80 → 10 MB/s (and the other orders), 5 MB/s per flow: best windows 4, 16, 2.
#[test]
fn converges_within_the_bound_after_every_change_of_capacity() {
    let per_flow = 5.0 * MB;
    let orders = [
        [20.0, 80.0, 10.0],
        [80.0, 10.0, 20.0],
        [10.0, 80.0, 20.0],
        [20.0, 10.0, 80.0],
    ];
    let mut worst = 0;
    for max in [8usize, 16] {
        let bound = u64::from(convergence_bound(1, max));
        for order in orders {
            for initial in 1..=max {
                let schedule: Vec<(Instant, f64)> = order
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (at(60 * i as u64), c * MB))
                    .collect();
                let mut link = Link::new(schedule.clone(), per_flow, initial);
                let mut ctl = ConcurrencyController::new(1, max, initial);
                let trace = simulate(&mut link, &mut ctl, at(180));
                assert!(trace.points.iter().all(|p| (1..=max).contains(&p.window)));
                for (phase, (settled, lasted, target)) in
                    settling(&trace, &schedule, per_flow, 1, max)
                        .into_iter()
                        .enumerate()
                {
                    let settled = settled.unwrap_or_else(|| {
                        panic!(
                            "max {max}, capacities {order:?}, initial {initial}: phase {phase} \
                             (best {target:?}) never settled within ±1 in {lasted} samples; \
                             changes: {:?}",
                            trace.changes
                        )
                    });
                    worst = worst.max(settled);
                    assert!(
                        settled <= bound,
                        "max {max}, capacities {order:?}, initial {initial}: phase {phase} \
                         (best {target:?}) settled after {settled} samples, bound {bound}; \
                         changes: {:?}",
                        trace.changes
                    );
                }
            }
        }
    }
    eprintln!("worst settling: {worst} samples");
}

/// The window the controller came back to after its last probe.
fn held(trace: &Trace) -> usize {
    trace
        .changes
        .iter()
        .rev()
        .find(|c| c.reason == Reason::NoGain)
        .expect("a probe was turned back")
        .to
}

#[test]
fn a_steady_link_is_found_from_below_by_slow_start() {
    // 40 MB/s at 5 MB/s per flow: 8 flows; from 1 the window doubles 1 → 2 → 4 → 8.
    let schedule = vec![(Instant::ZERO, 40.0 * MB)];
    let mut link = Link::new(schedule, 5.0 * MB, 1);
    let mut ctl = ConcurrencyController::new(1, 16, 1);
    let trace = simulate(&mut link, &mut ctl, at(60));
    let ups: Vec<(usize, usize)> = trace
        .changes
        .iter()
        .take(3)
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(ups, [(1, 2), (2, 4), (4, 8)]);
    assert!(trace.changes[..3]
        .iter()
        .all(|c| c.reason == Reason::ProbeUp));
    // Then 16 (no gain), 9 (no gain), 7 (a loss): back to 8, and from then on it only
    // probes 9 and 7 now and then.
    let first_back = trace
        .changes
        .iter()
        .position(|c| c.reason == Reason::NoGain)
        .expect("a probe turned back");
    assert!(trace.changes[first_back..]
        .iter()
        .all(|c| (7..=9).contains(&c.to)));
    assert!(trace
        .changes
        .iter()
        .filter(|c| c.reason == Reason::NoGain)
        .all(|c| c.to == 8));
}

#[test]
fn a_drop_in_capacity_halves_the_window_first() {
    // 80 MB/s at 5 MB/s per flow: 16 flows; then 10 MB/s: 2.
    let schedule = vec![(Instant::ZERO, 80.0 * MB), (at(60), 10.0 * MB)];
    let mut link = Link::new(schedule, 5.0 * MB, 16);
    let mut ctl = ConcurrencyController::new(1, 16, 16);
    let trace = simulate(&mut link, &mut ctl, at(120));
    let fell = trace
        .changes
        .iter()
        .position(|c| c.reason == Reason::ThroughputFell)
        .expect("the drop is noticed");
    // Halved while nothing is lost: 16 → 8 → 4 → 2 → 1 (a loss), back to 2.
    let path: Vec<(usize, usize)> = trace.changes[fell..fell + 5]
        .iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(path, [(16, 8), (8, 4), (4, 2), (2, 1), (1, 2)]);
    assert_eq!(held(&trace), 2);
}

#[test]
fn failures_halve_the_window_once_per_interval_and_never_below_min() {
    let mut ctl = ConcurrencyController::new(2, 16, 16);
    let t0 = at(10);
    let c = ctl.on_congestion(t0).expect("halved");
    assert_eq!((c.from, c.to, c.reason), (16, 8, Reason::Congestion));
    // The same burst of failures counts once.
    assert_eq!(ctl.on_congestion(t0 + INTERVAL / 2), None);
    assert_eq!(ctl.window(), 8);
    let mut t = t0 + INTERVAL;
    for expected in [4, 2, 2, 2] {
        ctl.on_congestion(t);
        assert_eq!(ctl.window(), expected);
        t = t + INTERVAL;
    }
}

#[test]
fn after_failures_the_window_holds_before_growing_again() {
    // A link where more flows always help: the window climbs back, but only after a hold.
    let schedule = vec![(Instant::ZERO, 100.0 * MB)];
    let mut link = Link::new(schedule, 5.0 * MB, 8);
    let mut ctl = ConcurrencyController::new(1, 8, 8);
    let now = at(1);
    let change = ctl.on_congestion(now).expect("halved");
    link.set_window(now, change.to);
    assert_eq!(ctl.window(), 4);
    let mut t = now;
    let mut samples_at_first_rise = None;
    let start = ctl.samples();
    for _ in 0..2000 {
        link.advance(t);
        t = t + TICK;
        if let Some(c) = ctl.on_progress(t, link.bytes as u64, link.in_flight()) {
            link.set_window(t, c.to);
            if c.to > c.from && samples_at_first_rise.is_none() {
                samples_at_first_rise = Some(ctl.samples() - start);
            }
        }
    }
    let waited = samples_at_first_rise.expect("it grows again");
    // The settle sample, the reference sample, then HOLD_SAMPLES - 1 more.
    assert!(
        waited >= u64::from(tug_core::concurrency::HOLD_SAMPLES),
        "{waited}"
    );
    // Back at the bound, probing 7 now and then.
    assert!((7..=8).contains(&ctl.window()));
}

#[test]
fn the_tail_of_an_operation_changes_nothing() {
    // Fewer blobs in flight than the window (nothing left to start): no samples, no change.
    let mut ctl = ConcurrencyController::new(1, 8, 6);
    let mut bytes = 0;
    for i in 0..200 {
        bytes += if i % 2 == 0 { 10 } else { 1_000_000 };
        let t = Instant::from_millis(100 * i);
        assert_eq!(ctl.on_progress(t, bytes, 3), None);
    }
    assert_eq!(ctl.window(), 6);
    assert_eq!(ctl.samples(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the throughput does, the window stays within its bounds and every change
    /// reports the window before and after.
    #[test]
    fn the_window_never_leaves_its_bounds(
        min in 1usize..6,
        extra in 0usize..20,
        initial in 0usize..40,
        steps in proptest::collection::vec((0u64..50_000_000, 0u64..1500, 0usize..30, any::<bool>()), 1..400),
    ) {
        let max = min + extra;
        let mut ctl = ConcurrencyController::new(min, max, initial);
        prop_assert!((min..=max).contains(&ctl.window()));
        let mut t = Instant::ZERO;
        let mut bytes = 0u64;
        for (delta, ms, in_flight, congested) in steps {
            t = t + Duration::from_millis(ms);
            bytes += delta;
            let before = ctl.window();
            // Half the time, the operation is in its steady state.
            let in_flight = if in_flight % 2 == 0 { before } else { in_flight };
            let change = if congested && in_flight % 3 == 0 {
                ctl.on_congestion(t)
            } else {
                ctl.on_progress(t, bytes, in_flight)
            };
            let after = ctl.window();
            prop_assert!((min..=max).contains(&after), "window {} outside {}..={}", after, min, max);
            match change {
                Some(c) => {
                    prop_assert_eq!(c.from, before);
                    prop_assert_eq!(c.to, after);
                    prop_assert_ne!(c.from, c.to);
                }
                None => prop_assert_eq!(before, after),
            }
        }
    }

    /// Random links (capacity, per-flow limit, when it changes) and bounds: the window
    /// settles within ±1 of the best one within the stated bound after every change that
    /// leaves it time to.
    #[test]
    fn random_links_converge_within_the_bound(
        max in 1usize..=16,
        initial in 1usize..=16,
        per_flow_mb in 1u32..=20,
        phases in proptest::collection::vec((1u32..=120, 40u64..=90), 1..4),
    ) {
        let per_flow = f64::from(per_flow_mb) * MB;
        let mut start = 0;
        let mut schedule = Vec::new();
        for (capacity_mb, secs) in &phases {
            schedule.push((at(start), f64::from(*capacity_mb) * MB));
            start += secs;
        }
        let mut link = Link::new(schedule.clone(), per_flow, initial.min(max));
        let mut ctl = ConcurrencyController::new(1, max, initial);
        let trace = simulate(&mut link, &mut ctl, at(start));
        let bound = u64::from(convergence_bound(1, max));
        for (phase, (settled, lasted, target)) in settling(&trace, &schedule, per_flow, 1, max).into_iter().enumerate() {
            if lasted <= bound + 2 {
                continue;
            }
            let settled = settled.unwrap_or(u64::MAX);
            prop_assert!(
                settled <= bound,
                "phase {} (best {:?}) settled after {} samples (bound {}); changes {:?}",
                phase, target, settled, bound, trace.changes
            );
        }
    }
}
