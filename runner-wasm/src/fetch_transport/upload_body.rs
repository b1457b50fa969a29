//! How a browser's upload hands a file slice to `XMLHttpRequest` (`uploadBody`): the `Blob`
//! slice itself, which chromium's browser process reads and pipes to its network service, or
//! the slice read into the page first (an `ArrayBuffer`, one more copy per chunk in flight).

use wasm_bindgen::JsValue;

/// The body a browser's upload sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadBody {
    /// The `Blob` slice (`"blob"`).
    #[default]
    Blob,
    /// The slice's bytes read into an `ArrayBuffer` before the request starts (`"buffer"`).
    Buffer,
}

impl UploadBody {
    /// The option's values, as the page names them.
    pub const NAMES: [&'static str; 2] = ["blob", "buffer"];

    /// `"blob"` or `"buffer"`; anything else is `None`.
    pub fn parse(name: &str) -> Option<UploadBody> {
        match name {
            "blob" => Some(UploadBody::Blob),
            "buffer" => Some(UploadBody::Buffer),
            _ => None,
        }
    }

    /// Its name, as [`UploadBody::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            UploadBody::Blob => "blob",
            UploadBody::Buffer => "buffer",
        }
    }
}

/// What to hand `XMLHttpRequest.send`: `slice` itself, or its bytes once read.
pub async fn body_of(slice: &web_sys::Blob, how: UploadBody) -> Result<JsValue, JsValue> {
    match how {
        UploadBody::Blob => Ok(slice.clone().into()),
        UploadBody::Buffer => wasm_bindgen_futures::JsFuture::from(slice.array_buffer()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for name in UploadBody::NAMES {
            assert_eq!(UploadBody::parse(name).map(UploadBody::name), Some(name));
        }
        assert_eq!(UploadBody::parse("Blob"), None);
        assert_eq!(UploadBody::parse(""), None);
    }
}
