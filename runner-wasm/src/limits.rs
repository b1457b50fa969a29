//! The core's ranges and defaults of the transfer options ([`tug_core::limits`]) as the JS
//! object `limits()` returns, so a page shows and clamps the same values tug-wasm accepts.

use serde_json::{json, Value};
use tug_core::limits::{self, BodyProgress};

/// What `fetch` shows of a request body while it is sent: nothing. (Browsers' uploads go by
/// `XMLHttpRequest`, which shows it, but a chunk stays as large as where it does not:
/// distribution forgets the session of a broken `PATCH`, so a chunk bounds what is lost.)
pub const BODY_PROGRESS: BodyProgress = BodyProgress::Unseen;

/// How often progress is reported: a page redraws at least every 250 ms, and reports twice
/// as often keep its figures moving between redraws (a browser's upload progress comes about
/// every 100 ms).
pub const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// `{ jobs, retries, chunkSize, monolithicMax }`, each `{ min?, max?, default }`.
pub fn describe() -> Value {
    let upload = limits::default_upload_size(BODY_PROGRESS);
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
            "default": limits::default_monolithic_max(BODY_PROGRESS, None),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_gets_the_core_s_values() {
        let v = describe();
        assert_eq!(v["retries"]["max"], 1000);
        assert_eq!(v["retries"]["min"], 1);
        assert_eq!(v["jobs"]["max"], 64);
        assert_eq!(v["jobs"]["default"], 4);
        assert_eq!(v["chunkSize"]["default"], 16 << 20);
        assert_eq!(v["chunkSize"]["min"], 1);
    }
}
