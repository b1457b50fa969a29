//! Which blobs move and when the manifests go: the blob window (adaptive concurrency fed
//! with confirmed request bodies), and the step from "every blob is in" to the manifests.

use crate::concurrency::Change;
use crate::engine::Step::Op;
use crate::engine::{BlobWindow, Cx, Reporting, Windowed};
use crate::time::Instant;

use super::blob::BlobUpload;
use super::event::Event;
use super::step::Step;
use super::{Phase, Pushing};

impl Windowed for Pushing {
    fn window(&mut self) -> &mut BlobWindow {
        &mut self.window
    }

    fn blobs_moving(&self) -> bool {
        self.phase == Phase::Blobs
    }

    fn moves_blob(step: Step) -> bool {
        step.blob().is_some()
    }

    /// The bytes of request bodies confirmed by their responses (bytes handed to a socket
    /// may still sit in buffers).
    fn measure(&mut self, now: Instant) -> Option<Change> {
        self.window.on_completion(now, self.confirmed_total)
    }

    fn fill_slots(&mut self, cx: &mut Cx<Step>) {
        while let Some(b) = self.window.next() {
            self.blobs[b].attempts = 1;
            match self.first_step(b) {
                Some(step) => cx.issue(Op(step)),
                // A dry run cannot ask about a blob made while it is sent.
                None => {
                    let blob = &self.blobs[b];
                    self.event(Event::BlobMissing {
                        blob: blob.plan_index,
                        digest: blob.digest.clone(),
                        size: blob.size,
                        mount_from: None,
                    });
                    self.window.finished_one();
                }
            }
        }
        self.check_all_done(cx);
    }
}

impl Pushing {
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
        // A dry run sends no bytes, so blobs made while they are sent never end: it does
        // not wait for the manifests that would name them.
        let streams_only = self.config.dry_run && self.blobs.iter().any(BlobUpload::unended);
        if !self.pending.is_empty() || !(self.manifests_ready || streams_only) {
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
