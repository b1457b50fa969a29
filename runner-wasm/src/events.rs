//! The core's events as plain JS objects, with the same `event` names and fields as the
//! CLI's `--progress json` lines (durations in milliseconds, sizes in bytes, numbers as JS
//! numbers), and the caller's `onEvent` callback that receives them; the per-blob timings
//! the core folds from them, which results and errors carry as `blobTimings`.

use std::cell::{Cell, RefCell};

use serde_json::{Map, Value};
use tug_core::blob_timings::BlobTimings;
use tug_core::{copy, pull, push};
use wasm_bindgen::{JsCast as _, JsValue};

use crate::timer::Clock;

/// The caller's `onEvent(event)`, if it gave one. A callback that throws does not stop the
/// transfer (a display bug must not), but its first error is shown on the console, with
/// what it was given.
pub struct Listener {
    callback: Option<js_sys::Function>,
    reported: Cell<bool>,
    clock: Clock,
    timings: RefCell<BlobTimings>,
}

impl Listener {
    /// Wraps `value` if it is a function; the blob timings count from `clock`'s origin.
    pub fn new(value: &JsValue, clock: Clock) -> Listener {
        Listener {
            callback: value.dyn_ref::<js_sys::Function>().cloned(),
            reported: Cell::new(false),
            clock,
            timings: RefCell::new(BlobTimings::new(tug_core::Instant::ZERO)),
        }
    }

    /// A push's event: timed, and passed on.
    pub fn push(&self, e: &push::Event) {
        self.timings.borrow_mut().push_event(self.clock.now(), e);
        self.emit(push_event(e));
    }

    /// A pull's event: timed, and passed on.
    pub fn pull(&self, e: &pull::Event) {
        self.timings.borrow_mut().pull_event(self.clock.now(), e);
        self.emit(pull_event(e));
    }

    /// A copy's event: its push's events timed, and passed on.
    pub fn copy(&self, e: &copy::Event) {
        if let copy::Event::Push(pushed) = e {
            self.timings
                .borrow_mut()
                .push_event(self.clock.now(), pushed);
        }
        self.emit(e.json());
    }

    /// The blobs' timings so far, as `tug history show` has them (unfinished ones end now).
    pub fn blob_timings(&self) -> Value {
        let list = self.timings.borrow().list(self.clock.now());
        serde_json::to_value(list).unwrap_or_default()
    }

    /// `value` (a result object, or an error) with the blob timings as `blobTimings`.
    pub fn with_timings(&self, value: JsValue) -> JsValue {
        if value.is_object() {
            let timings = to_js(&self.blob_timings());
            let _ = js_sys::Reflect::set(&value, &"blobTimings".into(), &timings);
        }
        value
    }

    /// An operation's outcome, its result object or its error, with the blob timings.
    pub fn timed(&self, outcome: Result<JsValue, JsValue>) -> Result<JsValue, JsValue> {
        outcome
            .map(|v| self.with_timings(v))
            .map_err(|e| self.with_timings(e))
    }

    /// Whether `value` can be an `onEvent`: a function, or nothing (`undefined`, `null`);
    /// anything else is a `usage` error, as a bad argument is.
    pub fn check(value: &JsValue) -> Result<(), JsValue> {
        if value.is_undefined() || value.is_null() || value.is_function() {
            return Ok(());
        }
        Err(crate::errors::js_error(
            tug_core::ErrorClass::Usage,
            &format!(
                "onEvent must be a function, not {}",
                value.js_typeof().as_string().unwrap_or_default()
            ),
        ))
    }

    /// Calls the callback with `event` as a JS object.
    pub fn emit(&self, event: Option<Value>) {
        if let (Some(f), Some(event)) = (&self.callback, event) {
            let event = to_js(&event);
            if let Err(e) = f.call1(&JsValue::NULL, &event) {
                if !self.reported.replace(true) {
                    console_error(&[
                        "tug: onEvent threw (the transfer goes on; later errors of it are not shown):"
                            .into(),
                        e,
                        event,
                    ]);
                }
            }
        }
    }
}

/// `console.error(...args)`, where there is a console.
fn console_error(args: &[JsValue]) {
    let console = js_sys::Reflect::get(&js_sys::global(), &"console".into());
    let Ok(console) = console else { return };
    let Ok(error) = js_sys::Reflect::get(&console, &"error".into()) else {
        return;
    };
    if let Some(error) = error.dyn_ref::<js_sys::Function>() {
        let _ = error.apply(&console, &args.iter().collect::<js_sys::Array>());
    }
}

/// A push event as the CLI prints it (the core's vocabulary); `None` for events the CLI does
/// not show.
pub fn push_event(e: &push::Event) -> Option<Value> {
    e.json()
}

/// A pull event as the CLI prints it; `None` for events the CLI does not show.
pub fn pull_event(e: &pull::Event) -> Option<Value> {
    e.json()
}

/// A JSON value as a plain JS value (objects, arrays, strings, numbers, booleans, null).
/// What a push (or a copy: a push fed from another registry) resolves to in JS; `moved`
/// names the count of blobs it sent or mounted (`blobsPushed`, `blobsCopied`).
pub fn push_result(report: &push::PushReport, moved: &str, duration_ms: u64) -> Value {
    let mut v = serde_json::json!({
        "manifestDigest": report.manifest_digest,
        // What this run sent: bytes an earlier run's session already held are not.
        "bytesSent": report.bytes_uploaded.saturating_sub(report.bytes_resumed),
        "blobsSkipped": report.blobs_skipped,
        "retries": report.retries,
        "durationMs": duration_ms,
    });
    v[moved] = (report.blobs_uploaded + report.blobs_mounted).into();
    v
}

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
    use serde_json::json;
    use std::time::Duration;
    use tug_core::progress::Progress;
    use tug_core::retry::Retrying;
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
        let v = push_event(&push::Event::Retrying(Retrying {
            what: "blob".into(),
            attempt: 2,
            delay: Duration::from_millis(1500),
            reason: "503 from registry".into(),
            blob: None,
        }))
        .unwrap();
        assert_eq!(v["event"], "retrying");
        assert_eq!(v["delay_ms"], 1500);
    }

    /// The location as the registry gave it, query and all: what a later push resumes from.
    #[test]
    fn upload_sessions_reach_js_to_be_kept_and_forgotten() {
        let digest = Digest::sha256_of(b"layer");
        let location = "https://r.example/v2/a/blobs/uploads/u1?_state=s".to_owned();
        let v = push_event(&push::Event::UploadSession {
            blob: 1,
            digest: digest.clone(),
            location: location.clone(),
            shown: "https://r.example/v2/a/blobs/uploads/u1".to_owned(),
            committed: 3 << 20,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"event": "upload_session", "blob": 1, "digest": digest.to_string(),
                   "location": location, "committed": 3 << 20})
        );
        let v = push_event(&push::Event::UploadSessionClosed {
            blob: 1,
            digest: digest.clone(),
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"event": "upload_session_closed", "blob": 1, "digest": digest.to_string()})
        );
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
            blobs_active: 1,
            blobs_mounted: 0,
            retries: 0,
            bytes_per_second: 3.0,
            peak_bytes_per_second: 3.0,
            eta: Some(Duration::from_secs(2)),
            elapsed: Duration::from_secs(1),
        };
        let v = pull_event(&pull::Event::Progress(p)).unwrap();
        assert_eq!(v["received_bytes"], 6);
        assert_eq!(v["eta_ms"], 2000);
    }
}
