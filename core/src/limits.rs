//! The ranges and defaults of the transfer settings, declared once: the CLI's flags, config
//! file and environment, tug-wasm's options and the web page's fields all take them from
//! here (the page through tug-wasm's `limits()`).

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::http::Deadlines;

/// Blobs in flight at once (`--jobs`, `jobs`): at least one; more than 64 only adds
/// connections a registry may refuse.
pub const JOBS: RangeInclusive<u16> = 1..=64;

/// Blobs in flight at once when nothing is said.
pub const DEFAULT_JOBS: u16 = 4;

/// Attempts per request, counting the first (`--retries`, `retries`).
pub const RETRIES: RangeInclusive<u32> = 1..=1000;

/// Attempts per request when nothing is said.
pub const DEFAULT_RETRIES: u32 = 5;

/// The wait before the first retry, in milliseconds (`--retry-delay`, `retryDelay`); each
/// later one's is twice the last, up to the policy's longest wait.
pub const RETRY_DELAY_MS: RangeInclusive<u64> = 0..=30_000;

/// The wait before the first retry when nothing is said: with the default attempts the
/// waits add up to 7.5–15 s, so a registry restarting or a proxy failing over for a few
/// seconds is ridden out (skopeo's and crane's retries span seconds too).
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The smallest `PATCH` chunk, in bytes: a chunk of nothing would never finish a blob. (The
/// registry's `OCI-Chunk-Min-Length` raises it further while a push runs.)
pub const CHUNK_SIZE_MIN: u64 = 1;

const MIB: u64 = 1024 * 1024;

/// Bytes a download must gain past the furthest it got before for its attempts to start
/// afresh: a big blob over a link that breaks now and then is fetched to its end, while one
/// that keeps breaking before a MiB more arrives fails after its attempts.
pub const RETRY_PROGRESS: u64 = 1 << 20;

/// How long a stopped push waits for the chunks on their way to be answered (so the next
/// run goes on after them) before it gives them up (a push's or copy's `wind_down`).
pub const WIND_DOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a request may move no byte (`--stall-timeout`), by default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a runtime cannot see a request body leave, the slowest upload rate waited for:
/// a request with a body gets this much extra time per byte before its response must
/// begin (a 16 MiB chunk: about 17 minutes).
pub const SLOWEST_UPLOAD_BYTES_PER_SEC: u64 = 16 * 1024;

/// The deadlines of a request with a `body_len`-byte body: no byte moving for `stall` fails
/// it; where the runtime cannot see the body leave, the response must also begin within
/// `stall` plus the body at the slowest upload rate.
pub fn request_deadlines(stall: Duration, body_len: u64, progress: BodyProgress) -> Deadlines {
    let stall = (!stall.is_zero()).then_some(stall);
    let head = match (stall, progress) {
        (Some(stall), BodyProgress::Unseen) if body_len > 0 => {
            Some(stall + Duration::from_secs(body_len / SLOWEST_UPLOAD_BYTES_PER_SEC))
        }
        _ => None,
    };
    Deadlines { stall, head }
}

/// Whether a runtime sees a request body leave while it is sent. The native runner does
/// (it streams the body itself); `fetch` does not: progress then moves once per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyProgress {
    /// Progress is reported while a body is sent.
    Seen,
    /// Only the response says a body arrived.
    Unseen,
}

/// The default `PATCH` chunk size and largest monolithic `PUT` (`--chunk-size`,
/// `--monolithic-max`, `chunkSize`, `monolithicMax`) for a runtime.
///
/// 64 MiB where progress is seen while a body is sent: fewer round trips. 16 MiB where it is
/// not: progress moves once per request, and distribution forgets an upload session whose
/// `PATCH` broke, so a smaller request bounds both the wait and what is lost.
pub const fn default_upload_size(progress: BodyProgress) -> u64 {
    match progress {
        BodyProgress::Seen => 64 * MIB,
        BodyProgress::Unseen => 16 * MIB,
    }
}

/// The largest monolithic `PUT` when none is given but maybe a chunk size is: where bodies
/// are not watched, no larger than that chunk size (no request outgrows a chunk); else the
/// default.
pub const fn default_monolithic_max(progress: BodyProgress, chunk_size: Option<u64>) -> u64 {
    match (progress, chunk_size) {
        (BodyProgress::Unseen, Some(chunk)) => chunk,
        _ => default_upload_size(progress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_runtime_that_cannot_see_a_body_leave_waits_longer_for_the_answer() {
        let stall = Duration::from_secs(60);
        let seen = request_deadlines(stall, 16 << 20, BodyProgress::Seen);
        assert_eq!(
            seen,
            Deadlines {
                stall: Some(stall),
                head: None
            }
        );
        let unseen = request_deadlines(stall, 16 << 20, BodyProgress::Unseen);
        assert_eq!(unseen.head, Some(Duration::from_secs(60 + 1024)));
        assert_eq!(request_deadlines(stall, 0, BodyProgress::Unseen).head, None);
        assert_eq!(
            request_deadlines(Duration::ZERO, 1 << 20, BodyProgress::Unseen),
            Deadlines::default()
        );
    }

    #[test]
    fn defaults_lie_in_their_ranges() {
        assert!(JOBS.contains(&DEFAULT_JOBS));
        assert!(RETRIES.contains(&DEFAULT_RETRIES));
        for progress in [BodyProgress::Seen, BodyProgress::Unseen] {
            assert!(default_upload_size(progress) >= CHUNK_SIZE_MIN);
        }
        assert!(*JOBS.start() >= 1 && *RETRIES.start() >= 1);
    }

    #[test]
    fn an_unwatched_body_stays_within_a_chunk() {
        let unseen = BodyProgress::Unseen;
        assert_eq!(default_monolithic_max(unseen, Some(1 << 20)), 1 << 20);
        assert_eq!(default_monolithic_max(unseen, None), 16 << 20);
        assert_eq!(default_upload_size(unseen), 16 << 20);
        let seen = BodyProgress::Seen;
        assert_eq!(default_monolithic_max(seen, Some(1 << 20)), 64 << 20);
        assert_eq!(default_upload_size(seen), 64 << 20);
    }
}
