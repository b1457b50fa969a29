//! How far a sync is, in images: done and to do, being copied, blob bytes sent; and its
//! `--progress json` events: the images declared once by number (`sync_images`), then
//! `image_started` and `image_finished` naming them by that number.

use serde_json::{json, Value};

use super::ImageOutcome;

/// The images of a sync, counted as they start and end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImagesDone {
    /// Images in the sync.
    pub total: usize,
    /// Images ended (in sync, planned, copied or failed).
    pub done: usize,
    /// Images being copied now.
    pub copying: usize,
    /// Blob bytes the ended copies sent.
    pub bytes: u64,
}

impl ImagesDone {
    /// A sync of `total` images, none done.
    pub fn new(total: usize) -> ImagesDone {
        ImagesDone {
            total,
            ..ImagesDone::default()
        }
    }

    /// The `sync_images` event: every image (source and target) by number, declared once.
    pub fn declared<'a>(images: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        let images: Vec<Value> = images
            .into_iter()
            .enumerate()
            .map(|(i, (source, target))| json!({"image": i, "source": source, "target": target}))
            .collect();
        json!({"event": "sync_images", "total": images.len(), "images": images})
    }

    /// Image `image` starts copying; its `image_started` event.
    pub fn started(&mut self, image: usize) -> Value {
        self.copying += 1;
        json!({"event": "image_started", "image": image, "copying": self.copying})
    }

    /// Image `image` ended with `outcome` (`copied`: it was being copied); its
    /// `image_finished` event.
    pub fn finished(&mut self, image: usize, outcome: &ImageOutcome, copied: bool) -> Value {
        if copied {
            self.copying = self.copying.saturating_sub(1);
        }
        self.done += 1;
        let mut v = json!({
            "event": "image_finished", "image": image, "outcome": outcome.name(),
            "images_done": self.done, "images_total": self.total,
        });
        match outcome {
            ImageOutcome::Copied { bytes } => {
                self.bytes += bytes;
                v["bytes"] = (*bytes).into();
            }
            ImageOutcome::Planned { bytes } => v["bytes"] = (*bytes).into(),
            ImageOutcome::Failed { error } => v["error"] = error.clone().into(),
            ImageOutcome::Skipped { reason } => v["reason"] = reason.clone().into(),
            ImageOutcome::InSync | ImageOutcome::Cancelled | ImageOutcome::Carried => {}
        }
        v
    }

    /// Images not ended yet.
    pub fn to_do(&self) -> usize {
        self.total.saturating_sub(self.done)
    }
}
