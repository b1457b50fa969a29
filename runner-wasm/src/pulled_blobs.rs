//! Where a pull's blob bytes go: JS-side `Blob`s. Each chunk the core verified is copied
//! out of wasm memory into a `Uint8Array` part at once and gathered by [`BlobParts`] (a few
//! MiB in the page's heap at most); a committed blob is one `Blob`.

use std::collections::HashMap;

use tug_core::Digest;
use wasm_bindgen::JsValue;
use web_sys::Blob;

use crate::blob_parts::BlobParts;

/// The blobs of one pull: those being written and those committed.
#[derive(Default)]
pub struct PulledBlobs {
    pending: HashMap<Digest, BlobParts>,
    done: HashMap<Digest, Blob>,
}

impl PulledBlobs {
    /// Appends `data` at `offset` of blob `digest` (the core writes each blob in order).
    pub fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> Result<(), String> {
        let pending = self.pending.entry(digest.clone()).or_default();
        if offset != pending.len() {
            return Err(format!(
                "blob {digest}: asked to write at {offset} after {} bytes",
                pending.len()
            ));
        }
        pending
            .push(&js_sys::Uint8Array::from(data))
            .map_err(|e| crate::fetch_transport::describe_js_error(&e))
    }

    /// The blob is complete and verified: it becomes a `Blob`.
    pub fn commit(&mut self, digest: &Digest) -> Result<(), JsValue> {
        let blob = self.pending.remove(digest).unwrap_or_default().finish()?;
        self.done.insert(digest.clone(), blob);
        Ok(())
    }

    /// Forgets what was written of blob `digest` (its download restarts or failed).
    pub fn discard(&mut self, digest: &Digest) {
        self.pending.remove(digest);
    }

    /// Hands over a committed blob, keeping it no longer (it was written elsewhere).
    pub fn take(&mut self, digest: &Digest) -> Option<Blob> {
        self.done.remove(digest)
    }

    /// A committed blob.
    pub fn get(&self, digest: &Digest) -> Option<&Blob> {
        self.done.get(digest)
    }
}

/// A pull keeps its blobs as JS `Blob`s.
impl tug_core::pull::BlobSink for PulledBlobs {
    type Error = String;

    fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> Result<(), String> {
        PulledBlobs::write(self, digest, offset, data)
    }

    fn commit(&mut self, digest: &Digest) -> Result<(), String> {
        PulledBlobs::commit(self, digest).map_err(|e| crate::fetch_transport::describe_js_error(&e))
    }

    fn discard(&mut self, digest: &Digest) {
        PulledBlobs::discard(self, digest);
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn a_blob_is_written_in_order_and_committed_whole() {
        let mut blobs = PulledBlobs::default();
        let d = Digest::sha256_of(b"x");
        blobs.write(&d, 0, b"abc").unwrap();
        assert!(blobs.write(&d, 5, b"def").is_err());
        blobs.write(&d, 3, b"def").unwrap();
        blobs.commit(&d).unwrap();
        assert_eq!(blobs.get(&d).unwrap().size(), 6.0);
    }
}
