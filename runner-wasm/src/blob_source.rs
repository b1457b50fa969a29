//! Where request bodies come from: byte ranges of the user's `Blob`, handed to `fetch` as
//! `Blob.slice(start, end)` so the browser streams them from disk. Nothing here copies a
//! layer into wasm memory; only small reads (tar headers, JSON files) are read into it.

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// The bytes of each plan blob: a `Blob` and the offset of the plan blob's data in it.
#[derive(Clone, Debug, Default)]
pub struct BlobSources {
    ranges: Vec<(Blob, u64)>,
}

impl BlobSources {
    /// Plan blob `i` is at `ranges[i]`.
    pub fn new(ranges: Vec<(Blob, u64)>) -> BlobSources {
        BlobSources { ranges }
    }

    /// Bytes `start..end` of plan blob `blob`, as a `Blob` to pass to `fetch`.
    pub fn slice(&self, blob: usize, start: u64, end: u64) -> Option<Blob> {
        let (file, offset) = self.ranges.get(blob)?;
        slice(file, offset + start, offset + end).ok()
    }
}

/// `blob.slice(start, end)` with byte offsets (exact up to 2^53, far beyond any file).
pub fn slice(blob: &Blob, start: u64, end: u64) -> Result<Blob, JsValue> {
    blob.slice_with_f64_and_f64(start as f64, end as f64)
}

/// Reads `len` bytes at `offset` of `blob` into memory (for small reads only).
pub async fn read_at(blob: &Blob, offset: u64, len: u64) -> Result<Vec<u8>, JsValue> {
    let part = slice(blob, offset, offset.saturating_add(len))?;
    read_all(&part).await
}

/// Reads a whole (small) `Blob` into memory.
pub async fn read_all(blob: &Blob) -> Result<Vec<u8>, JsValue> {
    let buffer = JsFuture::from(blob.array_buffer()).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// A name for `blob` in messages: its file name when it is a `File`.
pub fn display_name(blob: &Blob) -> String {
    crate::js::get(blob, "name")
        .and_then(|n| n.as_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "the image file".to_owned())
}
