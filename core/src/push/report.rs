//! What a push tells: what each step is doing, its events, progress (per blob and overall)
//! and the final report.

use crate::engine::{Accountant, Cx, Failure, Reporting};
use crate::error::Error;
use crate::progress::Progress;

use super::blob::{BlobState, BlobUpload};
use super::event::Event;
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
            | Step::Stream(b, ..)
            | Step::Close(b)
            | Step::Status(b)
            | Step::EndLate(b) => format!("uploading {}", self.blobs[b].label()),
            Step::Manifest(n) => match self.plan.children.get(n) {
                Some(child) => format!(
                    "pushing manifest {} to {}/{}",
                    child.digest, self.plan.registry, self.plan.repository
                ),
                None => format!(
                    "pushing manifest to {}/{}",
                    self.plan.registry,
                    crate::reference::named(&self.plan.repository, &self.plan.reference)
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
}

impl Reporting for Pushing {
    fn accountant(&mut self) -> &mut Accountant {
        &mut self.accountant
    }

    fn blob_progress(&self) -> Vec<Event> {
        self.blobs.iter().filter_map(BlobUpload::progress).collect()
    }

    fn counts(&self) -> Progress {
        let mut p = Progress::counting(self.accountant.moved(), self.blobs.len());
        // Blobs still being made count with their estimates.
        for &i in &self.pending {
            p.total_bytes += self.plan.blobs[i].size;
            p.blobs_total += 1;
        }
        for b in &self.blobs {
            p.total_bytes += b.size;
            p.transferred_bytes += b.transferred();
            match b.state {
                BlobState::Done { skipped, mounted } => {
                    p.done_bytes += b.size;
                    p.blobs_done += 1;
                    if skipped {
                        p.skipped_bytes += b.size;
                        p.blobs_skipped += 1;
                    }
                    p.blobs_mounted += usize::from(mounted);
                }
                BlobState::Opening | BlobState::Uploading { .. } => p.blobs_active += 1,
                _ => {}
            }
        }
        p
    }

    fn report(&self, cx: &Cx<Step>) -> PushReport {
        let mut r = PushReport {
            manifest_digest: self.plan.manifest.digest.clone(),
            blobs_uploaded: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes_mounted: 0,
            blobs_missing: Vec::new(),
            bytes_uploaded: 0,
            bytes_skipped: 0,
            bytes_resumed: 0,
            retries: cx.retries,
            plain_http: cx.endpoint.is_plain(),
            elapsed: self.accountant.elapsed(cx.now),
            peak_bytes_per_second: self.accountant.peak(cx.now),
            subject_indexed: self.subject_indexed,
        };
        for b in &self.blobs {
            b.add_to(&mut r);
        }
        r
    }

    fn closed(&mut self) {
        self.phase = Phase::Finished;
    }
}
