//! What a pull tells: events, progress (per blob and overall) and the final report.

use crate::digest::Digest;
use crate::engine::{Accountant, Cx, Reporting};
use crate::progress::Progress;

use super::blob::{BlobDownload, BlobState};
use super::event::Event;
use super::plan::{FetchedManifest, PullReport};
use super::step::Step;
use super::{Phase, Pulling};

impl Reporting for Pulling {
    fn accountant(&mut self) -> &mut Accountant {
        &mut self.accountant
    }

    fn blob_progress(&self) -> Vec<Event> {
        self.blobs
            .iter()
            .filter_map(BlobDownload::progress)
            .collect()
    }

    fn counts(&self) -> Progress {
        let mut p = Progress::counting(self.accountant.moved(), self.blobs.len());
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
                BlobState::Receiving | BlobState::WrongRange { .. } => {
                    p.blobs_active += 1;
                    p.transferred_bytes = p.transferred_bytes.saturating_add(b.received);
                }
                BlobState::Waiting => {
                    p.transferred_bytes = p.transferred_bytes.saturating_add(b.received)
                }
            }
        }
        p
    }

    fn report(&self, cx: &Cx<Step>) -> PullReport {
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
            peak_bytes_per_second: self.accountant.peak(cx.now),
        };
        for b in &self.blobs {
            b.add_to(&mut r);
        }
        r
    }

    /// A failed pull keeps unfinished blobs' temporary files: what arrived is a prefix a
    /// later run can continue (`handle_partial`); the digest check covers it then.
    fn closed(&mut self) {
        self.phase = Phase::Finished;
    }
}
