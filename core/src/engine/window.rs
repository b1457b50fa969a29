//! Which blobs move now: a queue of blobs waiting, the ones in flight, and how many may be
//! in flight — `jobs`, or the adaptive window ([`crate::concurrency`]) that follows the
//! measured throughput. One place for push and pull; a blob, once started, runs to its end.

use std::collections::VecDeque;

use crate::concurrency::{Change, ConcurrencyController};
use crate::time::Instant;

use super::outbox::Reports;
use super::{Cx, Protocol};

#[derive(Debug)]
pub(crate) struct BlobWindow {
    queue: VecDeque<usize>,
    active: usize,
    jobs: usize,
    concurrency: Option<ConcurrencyController>,
}

impl BlobWindow {
    /// Up to `jobs` blobs at once; with `adaptive`, between 1 and `jobs`, starting at `jobs`.
    pub(crate) fn new(jobs: usize, adaptive: bool) -> BlobWindow {
        let jobs = jobs.max(1);
        BlobWindow {
            queue: VecDeque::new(),
            active: 0,
            jobs,
            concurrency: adaptive.then(|| ConcurrencyController::new(1, jobs, jobs)),
        }
    }

    /// Queues blob `i` (last).
    pub(crate) fn push_back(&mut self, i: usize) {
        self.queue.push_back(i);
    }

    /// Queues blob `i` to start next.
    pub(crate) fn push_front(&mut self, i: usize) {
        self.queue.push_front(i);
    }

    /// The next queued blob, when the window has room for it (it counts as in flight).
    pub(crate) fn next(&mut self) -> Option<usize> {
        if self.active >= self.window() {
            return None;
        }
        let i = self.queue.pop_front()?;
        self.active += 1;
        Some(i)
    }

    /// A blob in flight is done (or went back to the queue).
    pub(crate) fn finished_one(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    /// Nothing in flight and nothing queued.
    pub(crate) fn idle(&self) -> bool {
        self.active == 0 && self.queue.is_empty()
    }

    /// Blobs that may be in flight now.
    pub(crate) fn window(&self) -> usize {
        self.concurrency
            .as_ref()
            .map_or(self.jobs, ConcurrencyController::window)
    }

    /// Request bodies confirmed so far (push): the adaptive window may change.
    pub(crate) fn on_completion(&mut self, now: Instant, confirmed: u64) -> Option<Change> {
        let active = self.active;
        self.concurrency
            .as_mut()
            .and_then(|c| c.on_completion(now, confirmed, active))
    }

    /// Bytes received so far (pull): the adaptive window may change.
    pub(crate) fn on_progress(&mut self, now: Instant, received: u64) -> Option<Change> {
        let active = self.active;
        self.concurrency
            .as_mut()
            .and_then(|c| c.on_progress(now, received, active))
    }

    /// A blob request failed with a sign of overload: the adaptive window halves.
    pub(crate) fn on_congestion(&mut self, now: Instant) -> Option<Change> {
        self.concurrency.as_mut().and_then(|c| c.on_congestion(now))
    }
}

/// A protocol that moves blobs through a [`BlobWindow`] (push, pull): the window's decisions
/// become `Concurrency` events and started blobs the same way for both.
pub(crate) trait Windowed: Protocol<Output: Reports> {
    /// The protocol's window.
    fn window(&mut self) -> &mut BlobWindow;

    /// Whether blobs are moving now: the window's decisions count only then.
    fn blobs_moving(&self) -> bool;

    /// Whether `step` moves a blob.
    fn moves_blob(step: Self::Step) -> bool;

    /// Feeds the window the protocol's measure of bytes moved so far (a push's confirmed
    /// request bodies, a pull's received bytes): the change it leads to, if any.
    fn measure(&mut self, now: Instant) -> Option<Change>;

    /// Starts queued blobs while the window has room.
    fn fill_slots(&mut self, cx: &mut Cx<Self::Step>);

    /// More bytes moved: a larger window starts blobs at once, a smaller one as blobs finish
    /// (a blob once started runs to its end).
    fn adapt(&mut self, cx: &mut Cx<Self::Step>) {
        if !self.blobs_moving() {
            return;
        }
        if let Some(change) = self.measure(cx.now) {
            self.window_changed(change, cx);
        }
    }

    /// `step` failed with a sign of overload: the adaptive window halves.
    fn congestion(&mut self, step: Self::Step, cx: &mut Cx<Self::Step>) {
        if !self.blobs_moving() || !Self::moves_blob(step) {
            return;
        }
        if let Some(change) = self.window().on_congestion(cx.now) {
            self.window_changed(change, cx);
        }
    }

    /// Reports the window's `change`; a larger window starts queued blobs.
    fn window_changed(&mut self, change: Change, cx: &mut Cx<Self::Step>) {
        let grew = change.to > change.from;
        self.outbox().push(Self::Output::concurrency(change));
        if grew {
            self.fill_slots(cx);
        }
    }
}
