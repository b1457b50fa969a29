//! The core's ranges and defaults of the transfer options ([`tug_core::limits`]) as the JS
//! object `limits()` returns, so a page shows and clamps the same values tug-wasm accepts.

use serde_json::{json, Value};
use tug_core::limits::{self, BodyProgress};

use crate::fetch_transport::UploadBody;

/// What `fetch` shows of a request body while it is sent: nothing. The request deadlines
/// are set for it everywhere (a browser's push uploads by `XMLHttpRequest`, which shows the
/// body leave, but its copy's bodies go by `fetch`).
pub const BODY_PROGRESS: BodyProgress = BodyProgress::Unseen;

/// How often progress is reported: a page redraws at least every 250 ms, and reports twice
/// as often keep its figures moving between redraws (a browser's upload progress comes about
/// every 100 ms).
pub const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// How a browser's push hands each chunk to `XMLHttpRequest` (`uploadBody`): the file's
/// `Blob` slice. See bench/README.md ("Where the page's push spends its time").
pub const UPLOAD_BODY: UploadBody = UploadBody::Blob;

/// The default `PATCH` chunk of a push (`chunkSize`; `monolithicMax` follows it): the core's
/// default for uploads whose progress is seen in a browser (64 MiB, the CLI's), for unseen
/// ones elsewhere (16 MiB).
///
/// Why: 16 MiB was chosen when a browser showed no upload progress, so a chunk was also how
/// long the figures stood still. A browser's push now sends file slices by
/// `XMLHttpRequest`, whose progress reaches the core as bytes sent: measured from the page
/// through nginx (TLS, CORS, loopback; 2026-12-06), the figures moved every 100–200 ms at
/// 4, 16, 32 and 64 MiB alike, and the chunk only set the request count: a 256 MiB layer
/// took 2.9–3.7 s (median 3.35 s, 17 `PATCH`es) at 16 MiB and 2.5–3.0 s (median 2.65 s, 5)
/// at 64 MiB, 4 rounds each, alternating; a 64 MiB layer, 6 rounds: medians 1.72 s at 4 MiB,
/// 1.52 s at 16, 1.47 s at 32, 1.33 s at 64. The price: what an interrupted push sends
/// again (the chunk in flight per layer, as the registry confirmed the rest) is up to
/// 64 MiB. Node.js's `fetch` still shows nothing while a body leaves: 16 MiB there.
pub const fn push_chunk_size(browser: bool) -> u64 {
    limits::default_upload_size(if browser {
        BodyProgress::Seen
    } else {
        BodyProgress::Unseen
    })
}

/// `{ jobs, retries, chunkSize, monolithicMax }`, each `{ min?, max?, default }`, and
/// `uploadBody` (`{ values, default }`), for a push in a browser (`browser`) or elsewhere.
pub fn describe(browser: bool) -> Value {
    let upload = push_chunk_size(browser);
    json!({
        "jobs": {
            "min": limits::JOBS.start(),
            "max": limits::JOBS.end(),
            "default": limits::DEFAULT_JOBS,
        },
        "retries": {
            "min": limits::RETRIES.start(),
            "max": limits::RETRIES.end(),
            "default": limits::DEFAULT_RETRIES,
        },
        "chunkSize": { "min": limits::CHUNK_SIZE_MIN, "default": upload },
        "monolithicMax": {
            "min": 0,
            "default": limits::default_monolithic_max(BODY_PROGRESS, Some(upload)),
        },
        "uploadBody": { "values": UploadBody::NAMES, "default": UPLOAD_BODY.name() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_gets_the_core_s_values() {
        let v = describe(true);
        assert_eq!(v["retries"]["max"], 1000);
        assert_eq!(v["retries"]["min"], 1);
        assert_eq!(v["jobs"]["max"], 64);
        assert_eq!(v["jobs"]["default"], 4);
        assert_eq!(v["chunkSize"]["min"], 1);
        assert_eq!(v["uploadBody"]["default"], UPLOAD_BODY.name());
        assert_eq!(v["uploadBody"]["values"], json!(["blob", "buffer"]));
    }

    #[test]
    fn a_browser_pushes_in_the_cli_s_chunks_node_in_smaller_ones() {
        let browser = describe(true);
        assert_eq!(browser["chunkSize"]["default"], 64 << 20);
        assert_eq!(browser["monolithicMax"]["default"], 64 << 20);
        assert_eq!(
            push_chunk_size(true),
            limits::default_upload_size(BodyProgress::Seen)
        );
        let node = describe(false);
        assert_eq!(node["chunkSize"]["default"], 16 << 20);
        assert_eq!(node["monolithicMax"]["default"], 16 << 20);
    }
}
