//! Where a pull's blob bytes go: JS-side `Blob`s. Each chunk the core verified is copied
//! out of wasm memory into a `Uint8Array` part at once; every [`SEGMENT`] bytes the parts
//! become a `Blob` segment (the browser keeps those outside the page's heap, on disk when
//! large), and a committed blob is one `Blob` of its segments. A page pulling a 1 GiB layer
//! so holds a few MiB of it in its own memory, not the whole layer.

use std::collections::HashMap;

use tug_core::Digest;
use wasm_bindgen::JsValue;
use web_sys::Blob;

/// Bytes of parts gathered before they become one `Blob` segment.
const SEGMENT: u64 = 8 * 1024 * 1024;

/// A `Blob` being built from parts: every [`SEGMENT`] bytes they become one segment, so the
/// page holds at most a segment's worth of them.
pub struct BlobParts {
    segments: js_sys::Array,
    parts: js_sys::Array,
    /// Bytes in `parts`.
    unsegmented: u64,
    /// Bytes pushed in all.
    len: u64,
}

impl BlobParts {
    pub fn new() -> BlobParts {
        BlobParts {
            segments: js_sys::Array::new(),
            parts: js_sys::Array::new(),
            unsegmented: 0,
            len: 0,
        }
    }

    /// Bytes pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `part` (kept as it is: the caller hands over a copy of its own).
    pub fn push(&mut self, part: &js_sys::Uint8Array) -> Result<(), JsValue> {
        self.parts.push(part);
        self.unsegmented += u64::from(part.length());
        self.len += u64::from(part.length());
        if self.unsegmented >= SEGMENT {
            self.segment()?;
        }
        Ok(())
    }

    /// The `Blob` of everything pushed.
    pub fn finish(mut self) -> Result<Blob, JsValue> {
        self.segment()?;
        Blob::new_with_blob_sequence(&self.segments)
    }

    /// The parts since the last segment become one.
    fn segment(&mut self) -> Result<(), JsValue> {
        if self.parts.length() > 0 {
            let segment = Blob::new_with_u8_array_sequence(&self.parts)?;
            self.segments.push(&segment);
            self.parts = js_sys::Array::new();
            self.unsegmented = 0;
        }
        Ok(())
    }
}

impl Default for BlobParts {
    fn default() -> Self {
        BlobParts::new()
    }
}

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

    /// Parts become a segment every [`SEGMENT`] bytes: a big blob is never held whole as
    /// parts (found by probing: a 1 GiB layer pulled in a page held ~2.4 GiB of its heap).
    #[wasm_bindgen_test]
    fn parts_become_segments_as_they_come() {
        let mut parts = BlobParts::new();
        let mib = vec![7u8; 1 << 20];
        for _ in 0..20 {
            parts.push(&js_sys::Uint8Array::from(&mib[..])).unwrap();
            assert!(parts.unsegmented < SEGMENT);
        }
        assert_eq!(parts.segments.length(), 2);
        assert_eq!(parts.unsegmented, 4 << 20);
        assert_eq!(parts.len(), 20 << 20);
        assert_eq!(parts.finish().unwrap().size(), f64::from(20u32 << 20));
    }

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
