//! The core's events as plain JS objects, with the same `event` names and fields as the
//! CLI's `--progress json` lines (durations in milliseconds, sizes in bytes, numbers as JS
//! numbers), and the caller's `onEvent` callback that receives them.

use serde_json::{json, Map, Value};
use tug_core::progress::Progress;
use tug_core::{pull, push};
use wasm_bindgen::{JsCast as _, JsValue};

/// The caller's `onEvent(event)`, if it gave one. A callback that throws is ignored: a
/// display bug must not stop a transfer.
pub struct Listener(Option<js_sys::Function>);

impl Listener {
    /// Wraps `value` if it is a function.
    pub fn new(value: &JsValue) -> Listener {
        Listener(value.dyn_ref::<js_sys::Function>().cloned())
    }

    /// Calls the callback with `event` as a JS object.
    pub fn emit(&self, event: Option<Value>) {
        if let (Some(f), Some(event)) = (&self.0, event) {
            let _ = f.call1(&JsValue::NULL, &to_js(&event));
        }
    }
}

/// A push event as the CLI prints it; `None` for events the CLI does not show.
pub fn push_event(e: &push::Event) -> Option<Value> {
    use push::Event as E;
    let v = match e {
        E::PlainHttpFallback { host } => json!({"event": "plain_http_fallback", "host": host}),
        E::BlobSkipped { blob, digest, size } => {
            json!({"event": "blob_skipped", "blob": blob, "digest": digest, "size": size})
        }
        E::BlobMounted {
            blob,
            digest,
            size,
            from,
        } => {
            json!({"event": "blob_mounted", "blob": blob, "digest": digest, "size": size, "from": from})
        }
        E::BlobMissing { blob, digest, size } => {
            json!({"event": "blob_missing", "blob": blob, "digest": digest, "size": size})
        }
        E::BlobStarted { blob, digest, size } => {
            json!({"event": "blob_started", "blob": blob, "digest": digest, "size": size})
        }
        E::BlobProgress { blob, sent, size } => {
            json!({"event": "blob_progress", "blob": blob, "sent": sent, "size": size})
        }
        E::BlobCommitted { blob, digest, size } => {
            json!({"event": "blob_committed", "blob": blob, "digest": digest, "size": size})
        }
        E::Retrying {
            what,
            attempt,
            delay,
            reason,
        } => retrying(what, *attempt, *delay, reason),
        E::ManifestPushed { digest } => json!({"event": "manifest_pushed", "digest": digest}),
        E::Progress(p) => json!({
            "event": "progress", "total_bytes": p.total_bytes, "done_bytes": p.done_bytes,
            "skipped_bytes": p.skipped_bytes, "sent_bytes": p.sent_bytes,
            "transferred_bytes": p.transferred_bytes,
            "blobs_total": p.blobs_total, "blobs_done": p.blobs_done,
            "blobs_skipped": p.blobs_skipped, "bytes_per_second": p.bytes_per_second,
            "eta_ms": eta_ms(p), "elapsed_ms": p.elapsed.as_millis() as u64,
        }),
        _ => return None,
    };
    Some(v)
}

/// A pull event as the CLI prints it; `None` for events the CLI does not show.
pub fn pull_event(e: &pull::Event) -> Option<Value> {
    use pull::Event as E;
    let v = match e {
        E::PlainHttpFallback { host } => json!({"event": "plain_http_fallback", "host": host}),
        E::Resolved { digest, media_type } => {
            json!({"event": "resolved", "digest": digest, "media_type": media_type})
        }
        E::PlatformChosen { platform, digest } => {
            json!({"event": "platform_chosen", "platform": platform.to_string(), "digest": digest})
        }
        E::BlobSkipped { digest, size } => {
            json!({"event": "blob_skipped", "digest": digest, "size": size})
        }
        E::BlobStarted { digest, size } => {
            json!({"event": "blob_started", "digest": digest, "size": size})
        }
        E::BlobProgress {
            digest,
            received,
            size,
        } => {
            json!({"event": "blob_progress", "digest": digest, "received": received, "size": size})
        }
        E::BlobDone { digest, size } => {
            json!({"event": "blob_done", "digest": digest, "size": size})
        }
        E::Retrying {
            what,
            attempt,
            delay,
            reason,
        } => retrying(what, *attempt, *delay, reason),
        E::Progress(p) => json!({
            "event": "progress", "total_bytes": p.total_bytes, "done_bytes": p.done_bytes,
            "received_bytes": p.sent_bytes, "transferred_bytes": p.transferred_bytes,
            "bytes_per_second": p.bytes_per_second, "eta_ms": eta_ms(p),
        }),
        _ => return None,
    };
    Some(v)
}

fn retrying(what: &str, attempt: u32, delay: std::time::Duration, reason: &str) -> Value {
    json!({"event": "retrying", "what": what, "attempt": attempt,
           "delay_ms": delay.as_millis() as u64, "reason": reason})
}

fn eta_ms(p: &Progress) -> Option<u64> {
    p.eta.map(|d| d.as_millis() as u64)
}

/// A JSON value as a plain JS value (objects, arrays, strings, numbers, booleans, null).
pub fn to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(to_js).collect::<js_sys::Array>().into(),
        Value::Object(map) => object(map).into(),
    }
}

fn object(map: &Map<String, Value>) -> js_sys::Object {
    let obj = js_sys::Object::new();
    for (k, v) in map {
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(k), &to_js(v));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tug_core::Digest;

    #[test]
    fn push_events_use_the_cli_names_and_fields() {
        let digest = Digest::sha256_of(b"x");
        let v = push_event(&push::Event::BlobCommitted {
            blob: 2,
            digest: digest.clone(),
            size: 7,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"event": "blob_committed", "blob": 2, "digest": digest.to_string(), "size": 7})
        );
        let v = push_event(&push::Event::Retrying {
            what: "blob".into(),
            attempt: 2,
            delay: Duration::from_millis(1500),
            reason: "503 from registry".into(),
        })
        .unwrap();
        assert_eq!(v["event"], "retrying");
        assert_eq!(v["delay_ms"], 1500);
    }

    #[test]
    fn pull_progress_counts_received_bytes() {
        let p = Progress {
            total_bytes: 10,
            done_bytes: 4,
            skipped_bytes: 0,
            sent_bytes: 6,
            transferred_bytes: 6,
            blobs_total: 2,
            blobs_done: 1,
            blobs_skipped: 0,
            bytes_per_second: 3.0,
            eta: Some(Duration::from_secs(2)),
            elapsed: Duration::from_secs(1),
        };
        let v = pull_event(&pull::Event::Progress(p)).unwrap();
        assert_eq!(v["received_bytes"], 6);
        assert_eq!(v["eta_ms"], 2000);
    }
}
