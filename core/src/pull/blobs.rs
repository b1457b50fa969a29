//! The blobs, once every manifest is in: the unique ones the runner lacks, prefixes an
//! earlier run left continued, each verified as its bytes arrive and committed only whole;
//! the blob window, adaptive to the measured throughput.

use std::collections::{HashMap, HashSet};

use crate::concurrency::Change;
use crate::digest::{Digest, Hasher};
use crate::engine::{BlobWindow, Cx, Failure, Protocol, Reporting, Windowed};
use crate::error::Error;
use crate::retry::Attempts;
use crate::time::Instant;

use super::blob::{BlobDownload, BlobState};
use super::event::{Event, Output};
use super::step::Step;
use super::{Phase, Pulling};

impl Pulling {
    /// Blob `b` starts over from its first byte (the runner discards what it wrote) and is
    /// asked for again as an attempt; `reason` is why, and the failure once its attempts
    /// are spent.
    pub(super) fn start_over(
        &mut self,
        b: usize,
        step: Step,
        reason: String,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        let digest = self.blobs[b].digest.clone();
        self.blobs[b].restart();
        self.outputs.push(Output::Discard { digest });
        if !self.retry(step, None, reason.clone(), cx) {
            let action = self.describe(step);
            return Err(Failure::Error(Error::Protocol {
                action,
                message: reason,
            }));
        }
        Ok(())
    }

    /// Every manifest is in: queue the unique blobs the runner lacks (foreign layers are
    /// none of them: [`Descriptor::is_foreign`](crate::manifest::Descriptor::is_foreign)). An error says why
    /// the manifests cannot be right: one blob named with two sizes (only one of them can
    /// be checked against its bytes).
    pub(super) fn start_blobs(&mut self, cx: &mut Cx<Step>) -> Result<(), String> {
        self.phase = Phase::Blobs;
        if self.plan.manifests_only {
            self.succeed(cx);
            return Ok(());
        }
        let have: HashSet<&Digest> = self.plan.have.iter().collect();
        let mut sizes: HashMap<Digest, u64> = HashMap::new();
        let mut blobs = Vec::new();
        for job in &self.manifests {
            let Some(img) = &job.fetched else { continue };
            // A foreign layer is fetched from its URLs by whoever runs the image, never
            // from the registry (which does not hold it).
            let layers = img.layers.iter().filter(|l| !l.is_foreign());
            for d in std::iter::once(&img.config).chain(layers) {
                match sizes.get(&d.digest) {
                    Some(&size) if size != d.size => {
                        return Err(format!(
                            "blob {} is named with two sizes, {size} and {} bytes",
                            d.digest, d.size
                        ))
                    }
                    Some(_) => {}
                    None => {
                        sizes.insert(d.digest.clone(), d.size);
                        blobs.push(BlobDownload::new(
                            d.digest.clone(),
                            d.size,
                            have.contains(&d.digest),
                        ));
                    }
                }
            }
        }
        self.blobs = blobs;
        self.take_partials();
        let mut skipped = Vec::new();
        for (i, b) in self.blobs.iter().enumerate() {
            match b.state {
                BlobState::Done { skipped: true } => skipped.push(Event::BlobSkipped {
                    digest: b.digest.clone(),
                    size: b.size,
                }),
                BlobState::Waiting => self.window.push_back(i),
                // Completed from an earlier run's prefix.
                _ => {}
            }
        }
        for e in skipped {
            self.event(e);
        }
        self.fill_slots(cx);
        Ok(())
    }

    /// Continues blobs from the prefixes an earlier run left; a prefix as long as the blob
    /// that matches its digest is committed at once, one that cannot be right is discarded.
    pub(super) fn take_partials(&mut self) {
        let mut partials: Vec<_> = std::mem::take(&mut self.partials).into_iter().collect();
        // In a fixed order: the outputs do not depend on a hash map's.
        partials.sort_by_key(|(digest, _)| digest.to_string());
        for (digest, (len, hasher)) in partials {
            let Some(b) = self.blobs.iter().position(|b| b.digest == digest) else {
                continue;
            };
            let blob = &mut self.blobs[b];
            if blob.state != BlobState::Waiting || len == 0 {
                continue;
            }
            if len > blob.size {
                self.outputs.push(Output::Discard { digest });
                continue;
            }
            let size = blob.size;
            if len == size {
                // Killed between its last byte and the rename: verify, no request needed.
                if hasher.finish() == digest {
                    blob.received = len;
                    blob.prefix = len;
                    blob.state = BlobState::Done { skipped: false };
                    self.outputs.push(Output::Commit {
                        digest: digest.clone(),
                    });
                    self.event(Event::BlobDone { digest, size });
                } else {
                    self.outputs.push(Output::Discard { digest });
                }
                continue;
            }
            blob.received = len;
            blob.prefix = len;
            blob.attempts = Attempts::from(len);
            blob.hasher = hasher;
            blob.from_partial = true;
            self.event(Event::BlobResumed {
                digest,
                from: len,
                size,
            });
        }
    }

    pub(super) fn on_blob_end(&mut self, b: usize, cx: &mut Cx<Step>) -> Result<(), Error> {
        let blob = &mut self.blobs[b];
        let digest = blob.digest.clone();
        let actual = std::mem::replace(&mut blob.hasher, Hasher::new(digest.algorithm())).finish();
        if blob.received != blob.size || actual != digest {
            self.outputs.push(Output::Discard {
                digest: digest.clone(),
            });
            if std::mem::take(&mut blob.from_partial) {
                // The earlier run's prefix was not this blob's: download it whole, once.
                blob.restart();
                self.window.push_front(b);
                self.window.finished_one();
                self.fill_slots(cx);
                return Ok(());
            }
            let received = std::mem::take(&mut blob.received);
            if received != blob.size && actual == digest {
                // The bytes are the blob: the manifest's descriptor is what is wrong.
                return Err(Error::InvalidInput {
                    message: format!(
                        "blob {digest} of {}/{} is {received} bytes, but the manifest's \
                         descriptor says {}",
                        self.plan.registry, self.plan.repository, blob.size
                    ),
                });
            }
            return Err(Error::DigestMismatch {
                what: format!("blob from {}/{}", self.plan.registry, self.plan.repository),
                expected: digest,
                actual,
            });
        }
        let size = blob.size;
        blob.state = BlobState::Done { skipped: false };
        self.outputs.push(Output::Commit {
            digest: digest.clone(),
        });
        self.event(Event::BlobDone { digest, size });
        self.window.finished_one();
        self.maybe_progress(true, cx);
        self.fill_slots(cx);
        Ok(())
    }
}

impl Windowed for Pulling {
    fn window(&mut self) -> &mut BlobWindow {
        &mut self.window
    }

    fn blobs_moving(&self) -> bool {
        self.phase == Phase::Blobs
    }

    fn moves_blob(step: Step) -> bool {
        matches!(step, Step::Blob(_))
    }

    /// The bytes received so far.
    fn measure(&mut self, now: Instant) -> Option<Change> {
        self.window.on_progress(now, self.accountant.moved())
    }

    fn fill_slots(&mut self, cx: &mut Cx<Step>) {
        while let Some(b) = self.window.next() {
            let blob = &self.blobs[b];
            let event = Event::BlobStarted {
                digest: blob.digest.clone(),
                size: blob.size,
            };
            self.event(event);
            cx.issue(crate::engine::Step::Op(Step::Blob(b)));
        }
        if self.phase == Phase::Blobs && self.window.idle() {
            self.succeed(cx);
        }
    }
}
