//! What a pull tells: events, progress (per blob and overall) and the final report.

use crate::digest::Digest;
use crate::engine::Cx;
use crate::error::Error;
use crate::progress::Progress;

use super::blob::BlobState;
use super::event::{Event, Output};
use super::plan::{FetchedManifest, PullReport};
use super::step::Step;
use super::{Phase, Pulling};

impl Pulling {
    pub(super) fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    pub(super) fn maybe_progress(&mut self, force: bool, cx: &Cx<Step>) {
        if !self.accountant.tick(cx.now, self.received_total, force) {
            return;
        }
        let moving: Vec<Event> = self
            .blobs
            .iter()
            .filter(|b| b.state == BlobState::Receiving)
            .map(|b| Event::BlobProgress {
                digest: b.digest.clone(),
                received: b.received,
                size: b.size,
            })
            .collect();
        for e in moving {
            self.event(e);
        }
        let p = self.progress(cx);
        self.event(Event::Progress(p));
    }

    pub(super) fn progress(&mut self, cx: &Cx<Step>) -> Progress {
        let mut p = Progress::counting(self.received_total, self.blobs.len());
        // Sizes come from the registry's manifests: sums saturate rather than overflow.
        for b in &self.blobs {
            p.total_bytes = p.total_bytes.saturating_add(b.size);
            match b.state {
                BlobState::Done { skipped } => {
                    p.done_bytes = p.done_bytes.saturating_add(b.size);
                    p.transferred_bytes = p.transferred_bytes.saturating_add(b.size);
                    p.blobs_done += 1;
                    if skipped {
                        p.skipped_bytes = p.skipped_bytes.saturating_add(b.size);
                        p.blobs_skipped += 1;
                    }
                }
                _ => p.transferred_bytes = p.transferred_bytes.saturating_add(b.received),
            }
        }
        self.accountant.progress(cx.now, p)
    }

    pub(super) fn report(&self, cx: &Cx<Step>) -> PullReport {
        let mut r = PullReport {
            root: self.root.clone().unwrap_or_else(|| FetchedManifest {
                digest: Digest::sha256_of(b""),
                media_type: String::new(),
                bytes: Vec::new(),
            }),
            images: self
                .manifests
                .iter()
                .filter_map(|j| j.fetched.clone())
                .collect(),
            blobs_downloaded: 0,
            blobs_skipped: 0,
            bytes_downloaded: 0,
            bytes_skipped: 0,
            retries: cx.retries,
            plain_http: cx.endpoint.is_plain(),
            elapsed: self.accountant.elapsed(cx.now),
        };
        for b in &self.blobs {
            match b.state {
                BlobState::Done { skipped: true } => {
                    r.blobs_skipped += 1;
                    r.bytes_skipped = r.bytes_skipped.saturating_add(b.size);
                }
                BlobState::Done { skipped: false } => {
                    r.blobs_downloaded += 1;
                    r.bytes_downloaded = r.bytes_downloaded.saturating_add(b.size);
                }
                _ => {}
            }
        }
        r
    }

    pub(super) fn succeed(&mut self, cx: &Cx<Step>) {
        let report = self.report(cx);
        self.finish(Ok(report), cx);
    }

    pub(super) fn finish(&mut self, result: Result<PullReport, Error>, cx: &Cx<Step>) {
        if self.phase == Phase::Finished {
            return;
        }
        // A failed pull keeps unfinished blobs' temporary files: what arrived is a prefix
        // a later run can continue (`handle_partial`); the digest check covers it then.
        if result.is_ok() {
            self.maybe_progress(true, cx);
        }
        self.phase = Phase::Finished;
        self.outputs.push_back(Output::Finished(result));
    }
}
