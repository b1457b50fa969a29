//! The JSON vocabulary of events, in one place: the CLI's `--progress json` lines, tug-wasm's
//! `onEvent` objects and the component's `event` outputs are these values (sizes in bytes,
//! durations in milliseconds, digests as strings).

use serde_json::{json, Value};

use crate::progress::Progress;
use crate::retry::Retrying;
use crate::{copy, pull, push};

impl push::Event {
    /// The event in the JSON vocabulary; `None` for events outside it (concurrency
    /// decisions are reported on their own).
    pub fn json(&self) -> Option<Value> {
        let v = match self {
            push::Event::PlainHttpFallback { host } => plain_http_fallback(host),
            push::Event::BlobSkipped { blob, digest, size } => {
                json!({"event": "blob_skipped", "blob": blob, "digest": digest, "size": size})
            }
            push::Event::BlobMounted {
                blob,
                digest,
                size,
                from,
            } => {
                json!({"event": "blob_mounted", "blob": blob, "digest": digest, "size": size, "from": from})
            }
            push::Event::BlobMissing {
                blob,
                digest,
                size,
                mount_from,
            } => {
                let mut v =
                    json!({"event": "blob_missing", "blob": blob, "digest": digest, "size": size});
                if let Some(from) = mount_from {
                    v["mount_from"] = from.as_str().into();
                }
                v
            }
            push::Event::BlobStarted { blob, digest, size } => {
                json!({"event": "blob_started", "blob": blob, "digest": digest, "size": size})
            }
            push::Event::BlobResumed {
                blob,
                digest,
                from,
                size,
            } => {
                json!({"event": "blob_resumed", "blob": blob, "digest": digest, "from": from, "size": size})
            }
            push::Event::BlobProgress { blob, sent, size } => {
                json!({"event": "blob_progress", "blob": blob, "sent": sent, "size": size})
            }
            push::Event::BlobCommitted { blob, digest, size } => {
                json!({"event": "blob_committed", "blob": blob, "digest": digest, "size": size})
            }
            // The location as the registry gave it (less user info and secrets): an
            // embedding keeps it to resume.
            push::Event::UploadSession {
                blob,
                digest,
                location,
                committed,
                ..
            } => {
                json!({"event": "upload_session", "blob": blob, "digest": digest, "location": location, "committed": committed})
            }
            push::Event::UploadSessionClosed { blob, digest } => {
                json!({"event": "upload_session_closed", "blob": blob, "digest": digest})
            }
            push::Event::Retrying(r) => r.json(),
            push::Event::ManifestPushed { digest } => {
                json!({"event": "manifest_pushed", "digest": digest})
            }
            push::Event::Progress(p) => p.json("sent_bytes"),
            _ => return None,
        };
        Some(v)
    }
}

impl pull::Event {
    /// The event in the JSON vocabulary; `None` for events outside it.
    pub fn json(&self) -> Option<Value> {
        let v = match self {
            pull::Event::PlainHttpFallback { host } => plain_http_fallback(host),
            pull::Event::Resolved { digest, media_type } => {
                json!({"event": "resolved", "digest": digest, "media_type": media_type})
            }
            pull::Event::PlatformChosen { platform, digest } => {
                json!({"event": "platform_chosen", "platform": platform.to_string(), "digest": digest})
            }
            pull::Event::BlobSkipped { digest, size } => {
                json!({"event": "blob_skipped", "digest": digest, "size": size})
            }
            pull::Event::BlobStarted { digest, size } => {
                json!({"event": "blob_started", "digest": digest, "size": size})
            }
            pull::Event::BlobResumed { digest, from, size } => {
                json!({"event": "blob_resumed", "digest": digest, "from": from, "size": size})
            }
            pull::Event::BlobProgress {
                digest,
                received,
                size,
            } => {
                json!({"event": "blob_progress", "digest": digest, "received": received, "size": size})
            }
            pull::Event::BlobDone { digest, size } => {
                json!({"event": "blob_done", "digest": digest, "size": size})
            }
            pull::Event::Retrying(r) => r.json(),
            pull::Event::Progress(p) => p.json("received_bytes"),
            _ => return None,
        };
        Some(v)
    }
}

impl copy::Event {
    /// The event in the JSON vocabulary (a push's events as [`push::Event::json`]); `None`
    /// for events outside it.
    pub fn json(&self) -> Option<Value> {
        match self {
            copy::Event::MirrorSkipped { mirror, error } => Some(json!({
                "event": "mirror_skipped", "mirror": mirror, "error": error.to_string(),
            })),
            copy::Event::Planned {
                source,
                labels,
                bytes,
                ..
            } => Some(json!({
                "event": "planned", "source": source, "blobs": labels.len(), "bytes": bytes,
            })),
            copy::Event::Push(e) => e.json(),
            copy::Event::ReferrersStarted { subject } => Some(json!({
                "event": "referrers_started", "subject": subject,
            })),
            copy::Event::ReferrerCopied {
                artifact_type,
                target,
            } => Some(json!({
                "event": "referrer_copied", "artifact_type": artifact_type,
                "target": target.to_string(),
            })),
            copy::Event::ReferrerMissing {
                digest,
                artifact_type,
                source,
            } => Some(json!({
                "event": "referrer_missing", "digest": digest,
                "artifact_type": artifact_type, "source": source.to_string(),
            })),
            copy::Event::ReferrersCarried { api, copied } => Some(json!({
                "event": "referrers_carried", "api": api, "copied": copied,
            })),
        }
    }
}

impl push::PushReport {
    /// The `done` event of a push (or of a copy: a push fed from another registry) that
    /// sent its image to `reference`.
    pub fn json(&self, reference: &str) -> Value {
        json!({
            "event": "done", "reference": reference, "digest": self.manifest_digest,
            "blobs_uploaded": self.blobs_uploaded, "blobs_skipped": self.blobs_skipped,
            "blobs_mounted": self.blobs_mounted, "blobs_missing": self.blobs_missing,
            "bytes_uploaded": self.bytes_uploaded, "bytes_skipped": self.bytes_skipped,
            "bytes_resumed": self.bytes_resumed, "bytes_mounted": self.bytes_mounted,
            "retries": self.retries, "elapsed_ms": self.elapsed.as_millis() as u64,
            "peak_bytes_per_second": self.peak_bytes_per_second,
        })
    }
}

impl pull::PullReport {
    /// The `done` event of a pull of `reference`: `digest` is what the registry holds (a
    /// runner that writes it in another form adds what it wrote).
    pub fn json(&self, reference: &str) -> Value {
        json!({
            "event": "done", "reference": reference, "digest": self.root.digest,
            "blobs_downloaded": self.blobs_downloaded, "blobs_skipped": self.blobs_skipped,
            "bytes_downloaded": self.bytes_downloaded, "bytes_skipped": self.bytes_skipped,
            "retries": self.retries, "elapsed_ms": self.elapsed.as_millis() as u64,
            "peak_bytes_per_second": self.peak_bytes_per_second,
        })
    }
}

impl Progress {
    /// The snapshot as a `progress` event; `moved` names [`Progress::sent_bytes`]: `sent_bytes` for a
    /// push, `received_bytes` for a pull.
    pub fn json(&self, moved: &str) -> Value {
        json!({
            "event": "progress", "total_bytes": self.total_bytes, "done_bytes": self.done_bytes,
            "skipped_bytes": self.skipped_bytes, moved: self.sent_bytes,
            "transferred_bytes": self.transferred_bytes,
            "blobs_total": self.blobs_total, "blobs_done": self.blobs_done,
            "blobs_skipped": self.blobs_skipped, "blobs_active": self.blobs_active,
            "blobs_mounted": self.blobs_mounted, "retries": self.retries,
            "bytes_per_second": self.bytes_per_second,
            "peak_bytes_per_second": self.peak_bytes_per_second,
            "eta_ms": self.eta.map(|d| d.as_millis() as u64),
            "elapsed_ms": self.elapsed.as_millis() as u64,
        })
    }
}

impl Retrying {
    /// The `retrying` event.
    pub fn json(&self) -> Value {
        let mut v = json!({"event": "retrying", "what": self.what, "attempt": self.attempt,
                           "delay_ms": self.delay.as_millis() as u64, "reason": self.reason});
        if let Some(blob) = &self.blob {
            v["digest"] = blob.to_string().into();
        }
        v
    }
}

/// HTTPS failed against a loopback registry that speaks plain HTTP: using HTTP.
fn plain_http_fallback(host: &str) -> Value {
    json!({"event": "plain_http_fallback", "host": host})
}
