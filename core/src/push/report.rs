//! What a push tells: what each step is doing, its events, progress (per blob and overall)
//! and the final report.

use crate::engine::{Cx, Failure};
use crate::error::Error;
use crate::progress::Progress;

use super::blob::BlobState;
use super::event::{Event, Output};
use super::plan::PushReport;
use super::step::Step;
use super::{Phase, Pushing};

impl Pushing {
    pub(super) fn describe_step(&self, step: Step) -> String {
        match step {
            Step::Head(b) => format!("checking {}", self.blobs[b].label()),
            Step::Open(b)
            | Step::Put(b)
            | Step::Patch(b, ..)
            | Step::Close(b)
            | Step::Status(b) => format!("uploading {}", self.blobs[b].label()),
            Step::Manifest(n) => match self.plan.children.get(n) {
                Some(child) => format!(
                    "pushing manifest {} to {}/{}",
                    child.digest, self.plan.registry, self.plan.repository
                ),
                None => format!(
                    "pushing manifest to {}/{}:{}",
                    self.plan.registry, self.plan.repository, self.plan.reference
                ),
            },
        }
    }

    /// The registry broke the protocol while doing `step`.
    pub(super) fn protocol(&self, step: Step, message: &str) -> Failure {
        Failure::Error(Error::Protocol {
            action: self.describe_step(step),
            message: message.to_owned(),
        })
    }

    pub(super) fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    /// Emits per-blob and overall progress, at most once per interval unless forced.
    pub(super) fn maybe_progress(&mut self, force: bool, cx: &Cx<Step>) {
        if !self.accountant.tick(cx.now, self.sent_total, force) {
            return;
        }
        let moving: Vec<Event> = self
            .blobs
            .iter()
            .filter(|b| matches!(b.state, BlobState::Uploading { .. } | BlobState::Opening))
            .map(|b| Event::BlobProgress {
                blob: b.plan_index,
                sent: b.transferred(),
                size: b.size,
            })
            .collect();
        for e in moving {
            self.event(e);
        }
        let p = self.progress(cx);
        self.event(Event::Progress(p));
    }

    fn progress(&mut self, cx: &Cx<Step>) -> Progress {
        let mut p = Progress::counting(self.sent_total, self.blobs.len());
        // Blobs still being made count with their estimates.
        for &i in &self.pending {
            p.total_bytes += self.plan.blobs[i].size;
            p.blobs_total += 1;
        }
        for b in &self.blobs {
            p.total_bytes += b.size;
            p.transferred_bytes += b.transferred();
            if let BlobState::Done { skipped, .. } = b.state {
                p.done_bytes += b.size;
                p.blobs_done += 1;
                if skipped {
                    p.skipped_bytes += b.size;
                    p.blobs_skipped += 1;
                }
            }
        }
        self.accountant.progress(cx.now, p)
    }

    fn report(&self, cx: &Cx<Step>) -> PushReport {
        let mut r = PushReport {
            manifest_digest: self.plan.manifest.digest.clone(),
            blobs_uploaded: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            blobs_missing: Vec::new(),
            bytes_uploaded: 0,
            bytes_skipped: 0,
            retries: cx.retries,
            plain_http: cx.endpoint.is_plain(),
            elapsed: self.accountant.elapsed(cx.now),
        };
        for b in &self.blobs {
            match b.state {
                BlobState::Done { skipped: true, .. } => {
                    r.blobs_skipped += 1;
                    r.bytes_skipped += b.size;
                }
                BlobState::Done { mounted: true, .. } => r.blobs_mounted += 1,
                BlobState::Done { .. } => {
                    r.blobs_uploaded += 1;
                    r.bytes_uploaded += b.size;
                }
                BlobState::Missing => r.blobs_missing.push(b.digest.clone()),
                _ => {}
            }
        }
        r
    }

    /// The push is done: its report.
    pub(super) fn succeed(&mut self, cx: &Cx<Step>) {
        let report = self.report(cx);
        self.finish(Ok(report), cx);
    }

    pub(super) fn finish(&mut self, result: Result<PushReport, Error>, cx: &Cx<Step>) {
        if self.phase == Phase::Finished {
            return;
        }
        if result.is_ok() {
            self.maybe_progress(true, cx);
        }
        self.phase = Phase::Finished;
        self.outputs.push_back(Output::Finished(result));
    }
}
