//! Whether an image needs copying, and the tally of what a sync did to each image.

use crate::digest::Digest;

/// What to do with one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The destination serves the source's manifest digest under that name: nothing to do.
    InSync,
    /// The destination lacks it or serves another manifest: copy.
    Copy,
}

/// The decision for an image whose source manifest is `source` and which the destination
/// serves as `target` (`None`: not at all). Equal digests mean equal bytes, so the same
/// image and every blob it names.
pub fn decide(source: &Digest, target: Option<&Digest>) -> Decision {
    if target == Some(source) {
        Decision::InSync
    } else {
        Decision::Copy
    }
}

/// What happened to one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageOutcome {
    /// Already there: nothing sent.
    InSync,
    /// To be copied (a dry run stops here).
    Planned {
        /// Blob bytes its manifests name that no image before it in the plan names.
        bytes: u64,
    },
    /// Copied.
    Copied {
        /// Blob bytes put on the wire.
        bytes: u64,
    },
    /// It failed; the rest of the sync went on.
    Failed {
        /// Why.
        error: String,
    },
    /// The sync was stopped (Ctrl-C) before this image ended: not copied, or copied in part
    /// (a run of the same sync goes on where the uploads stopped).
    Cancelled,
    /// A tag holding referrers, brought along by the copy of the image they are attached
    /// to this run (that copy merged them into the target's).
    Carried,
    /// Nothing to copy, and nothing at the target either: why (a tag holding the referrers
    /// of an image the source no longer has).
    Skipped {
        /// Why.
        reason: String,
    },
}

impl ImageOutcome {
    /// The stable name: `in_sync`, `planned`, `copied`, `failed`, `cancelled`, `carried`,
    /// `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            ImageOutcome::Carried => "carried",
            ImageOutcome::Skipped { .. } => "skipped",
            ImageOutcome::InSync => "in_sync",
            ImageOutcome::Planned { .. } => "planned",
            ImageOutcome::Copied { .. } => "copied",
            ImageOutcome::Failed { .. } => "failed",
            ImageOutcome::Cancelled => "cancelled",
        }
    }
}

/// The counts of a sync, and the images that failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Images already in sync.
    pub in_sync: usize,
    /// Images a dry run would copy.
    pub planned: usize,
    /// Images copied.
    pub copied: usize,
    /// Blob bytes sent by the copies (a dry run: named by the images to copy, each once).
    pub bytes: u64,
    /// The images that failed (as the runner names them), in order.
    pub failed: Vec<String>,
    /// Images the sync was stopped before.
    pub cancelled: usize,
    /// Tags holding referrers brought along by their images' copies.
    pub carried: usize,
    /// Images with nothing to copy and nothing at the target ([`ImageOutcome::Skipped`]).
    pub skipped: usize,
}

impl Summary {
    /// Counts `outcome` of the image called `name`.
    pub fn add(&mut self, name: &str, outcome: &ImageOutcome) {
        match outcome {
            ImageOutcome::InSync => self.in_sync += 1,
            ImageOutcome::Planned { bytes } => {
                self.planned += 1;
                self.bytes += bytes;
            }
            ImageOutcome::Copied { bytes } => {
                self.copied += 1;
                self.bytes += bytes;
            }
            ImageOutcome::Failed { .. } => self.failed.push(name.to_owned()),
            ImageOutcome::Cancelled => self.cancelled += 1,
            ImageOutcome::Carried => self.carried += 1,
            ImageOutcome::Skipped { .. } => self.skipped += 1,
        }
    }

    /// One line for people: `3 copied, 5 in sync, 2 cancelled, 1 failed: reg/a:1`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if self.planned > 0 {
            parts.push(format!(
                "{} to copy ({} blob bytes)",
                self.planned, self.bytes
            ));
        }
        parts.push(format!("{} copied", self.copied));
        if self.carried > 0 {
            parts.push(format!("{} carried with their images", self.carried));
        }
        parts.push(format!("{} in sync", self.in_sync));
        if self.skipped > 0 {
            parts.push(format!("{} skipped", self.skipped));
        }
        if self.cancelled > 0 {
            parts.push(format!("{} cancelled", self.cancelled));
        }
        let mut line = parts.join(", ");
        if !self.failed.is_empty() {
            line += &format!(", {} failed: {}", self.failed.len(), self.failed.join(", "));
        }
        line
    }
}
