//! Which blobs move and when the manifests go: the blob window (adaptive concurrency fed
//! with confirmed request bodies), and the step from "every blob is in" to the manifests.

use crate::concurrency::Change;
use crate::engine::Cx;
use crate::engine::Step::Op;

use super::blob::BlobUpload;
use super::event::Event;
use super::step::Step;
use super::{Phase, Pushing};

impl Pushing {
    /// A request body was confirmed: feeds the window the bytes confirmed so far. A larger
    /// window starts blobs at once, a smaller one as blobs finish (a blob once started runs
    /// to its end, chunks in order).
    pub(super) fn adapt(&mut self, cx: &mut Cx<Step>) {
        if self.phase != Phase::Blobs {
            return;
        }
        if let Some(change) = self.window.on_completion(cx.now, self.confirmed_total) {
            self.window_changed(change, cx);
        }
    }

    /// A blob request failed with a sign of overload: the adaptive window halves.
    pub(super) fn congestion(&mut self, step: Step, cx: &mut Cx<Step>) {
        if self.phase != Phase::Blobs || step.blob().is_none() {
            return;
        }
        if let Some(change) = self.window.on_congestion(cx.now) {
            self.window_changed(change, cx);
        }
    }

    fn window_changed(&mut self, change: Change, cx: &mut Cx<Step>) {
        let grew = change.to > change.from;
        self.event(Event::Concurrency(change));
        if grew {
            self.fill_slots(cx);
        }
    }

    /// Starts queued blobs while the window has room.
    pub(super) fn fill_slots(&mut self, cx: &mut Cx<Step>) {
        while let Some(b) = self.window.next() {
            self.blobs[b].attempts = 1;
            cx.issue(Op(Step::Head(b)));
        }
        self.check_all_done(cx);
    }

    /// Blob `b` is done (in the registry, or found missing on a dry run).
    pub(super) fn blob_finished(&mut self, b: usize, cx: &mut Cx<Step>) {
        self.close_session(b);
        self.window.finished_one();
        self.maybe_progress(true, cx);
        self.fill_slots(cx);
    }

    /// Every blob is in (and none still being made): the manifests go, or a dry run ends.
    pub(super) fn check_all_done(&mut self, cx: &mut Cx<Step>) {
        if self.phase != Phase::Blobs || !self.window.idle() {
            return;
        }
        if !self.pending.is_empty() || !self.manifests_ready {
            return;
        }
        if !self.blobs.iter().all(BlobUpload::is_done) {
            return;
        }
        if self.config.dry_run {
            self.succeed(cx);
        } else {
            self.phase = Phase::Manifest;
            self.manifest_attempts = 1;
            cx.issue(Op(Step::Manifest(0)));
        }
    }
}
