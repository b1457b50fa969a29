//! Where a pull's blob bytes go: JS-side `Blob`s. Each chunk the core verified is copied
//! out of wasm memory into a `Uint8Array` part at once; a committed blob becomes one
//! `Blob` of its parts (the browser may keep large ones on disk).

use std::collections::HashMap;

use tug_core::Digest;
use wasm_bindgen::JsValue;
use web_sys::Blob;

/// The blobs of one pull: those being written and those committed.
#[derive(Default)]
pub struct PulledBlobs {
    pending: HashMap<Digest, (js_sys::Array, u64)>,
    done: HashMap<Digest, Blob>,
}

impl PulledBlobs {
    /// Appends `data` at `offset` of blob `digest` (the core writes each blob in order).
    pub fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> Result<(), String> {
        let (parts, len) = self
            .pending
            .entry(digest.clone())
            .or_insert_with(|| (js_sys::Array::new(), 0));
        if offset != *len {
            return Err(format!(
                "blob {digest}: asked to write at {offset} after {len} bytes"
            ));
        }
        parts.push(&js_sys::Uint8Array::from(data));
        *len += data.len() as u64;
        Ok(())
    }

    /// The blob is complete and verified: it becomes a `Blob`.
    pub fn commit(&mut self, digest: &Digest) -> Result<(), JsValue> {
        let (parts, _) = self
            .pending
            .remove(digest)
            .unwrap_or_else(|| (js_sys::Array::new(), 0));
        let blob = Blob::new_with_u8_array_sequence(&parts)?;
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
