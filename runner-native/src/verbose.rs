//! `-v`: one line per request and per response on standard error. Only the method, the URL
//! as the core shows it (no query: upload `_state` tokens are long and say nothing to a
//! person; none of the operation's secrets, which a registry may echo into an upload URL)
//! and the status are shown; headers never are, so no credential or token can appear. Also every
//! decision of the adaptive concurrency controller.

use std::sync::atomic::{AtomicBool, Ordering};

use tug_core::concurrency::Change;
use tug_core::http::{Request, RequestId, ResponseHead};

use crate::output::{errln, outln};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns the request log on.
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Logs a request about to be sent, its URL as the core says it may be shown.
pub fn request(req: &Request) {
    if on() {
        errln!(
            "tug: -> {} {} {} ({} body bytes)",
            req.id,
            req.method,
            req.shown,
            req.body.len()
        );
    }
}

/// Logs a response head.
pub fn response(id: RequestId, head: &ResponseHead) {
    if on() {
        errln!("tug: <- {id} {}", head.status);
    }
}

/// Logs a transport failure.
pub fn failure(id: RequestId, error: &tug_core::http::TransportError) {
    if on() {
        errln!("tug: <- {id} failed: {error}");
    }
}

/// Shows a decision of the adaptive concurrency controller: a line on standard error with
/// `-v`, and an object on standard output with `--progress json` (`json`).
pub fn concurrency(change: &Change, json: bool) {
    let rate = change.bytes_per_second;
    if on() {
        let measured = rate
            .map(|r| format!(", at {}/s", crate::progress::bytes(r as u64)))
            .unwrap_or_default();
        errln!(
            "tug: blobs in flight {} -> {}: {} (best so far {}{measured})",
            change.from,
            change.to,
            change.reason,
            change.base
        );
    }
    if json {
        let v = serde_json::json!({
            "event": "concurrency", "from": change.from, "to": change.to,
            "reason": change.reason.as_str(), "base": change.base, "bytes_per_second": rate,
        });
        outln!("{v}");
    }
}

/// Logs a line of context (the settings in effect, ...).
pub fn note(line: &str) {
    if on() {
        errln!("tug: {line}");
    }
}
