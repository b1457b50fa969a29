//! Uploads of file slices in browsers with `XMLHttpRequest`: `fetch` shows nothing while a
//! request body leaves, `upload.onprogress` does, so the core hears the bytes go
//! ([`Message::Progress`], fed in as [`tug_core::Input::BodyProgress`]) and the page's
//! progress, rate and ETA move during each chunk rather than after it.
//!
//! The slice goes as a `Blob`, or read into an `ArrayBuffer` first ([`UploadBody`]).
//!
//! Otherwise the same as a `fetch` of the slice: the core's method, headers and body, no
//! cookies, redirects followed by the browser; the response head, its (small) body and the
//! end go back over the same channel, and a failure is classified as a `fetch` failure is.

use futures_channel::mpsc::{self, Sender, UnboundedSender};
use futures_util::{SinkExt as _, StreamExt as _};
use tug_core::http::{
    HeaderMap, HeaderName, HeaderValue, Request, ResponseHead, StatusCode, TransportError,
    TransportErrorKind,
};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{AbortController, ProgressEvent, XmlHttpRequest, XmlHttpRequestResponseType};

use super::upload_body::{body_of, UploadBody};
use super::{classify, describe_js_error, Message};

/// What the request's event handlers saw.
enum Seen {
    /// `loaded` body bytes have left so far.
    Sent(f64),
    /// The whole response arrived.
    Load,
    /// It failed below HTTP (the browser says no more).
    Error,
    /// It was aborted.
    Abort,
}

/// The handlers, kept alive while the request runs and detached when it ends.
struct Handlers {
    xhr: XmlHttpRequest,
    signal: web_sys::AbortSignal,
    _closures: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Handlers {
    fn drop(&mut self) {
        self.xhr.set_onload(None);
        self.xhr.set_onerror(None);
        self.xhr.set_onabort(None);
        if let Ok(upload) = self.xhr.upload() {
            upload.set_onprogress(None);
        }
        self.signal.set_onabort(None);
    }
}

fn handler(
    tx: &UnboundedSender<Seen>,
    f: impl Fn(JsValue) -> Seen + 'static,
) -> Closure<dyn FnMut(JsValue)> {
    let tx = tx.clone();
    Closure::new(move |e: JsValue| {
        let _ = tx.unbounded_send(f(e));
    })
}

/// Opens the request with its handlers attached and sends `body`.
fn start(
    req: &Request,
    body: &JsValue,
    controller: &AbortController,
    seen: &UnboundedSender<Seen>,
) -> Result<Handlers, JsValue> {
    let xhr = XmlHttpRequest::new()?;
    xhr.open_with_async(req.method.as_str(), req.url.as_str(), true)?;
    for (name, value) in &req.headers {
        // The browser sets these itself and refuses ours (see `fetch_transport`).
        if matches!(
            name.as_str(),
            "content-length" | "host" | "connection" | "user-agent"
        ) {
            continue;
        }
        xhr.set_request_header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()))?;
    }
    xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
    xhr.set_with_credentials(false);
    let progress = handler(seen, |e| {
        Seen::Sent(
            e.dyn_ref::<ProgressEvent>()
                .map_or(0.0, ProgressEvent::loaded),
        )
    });
    let load = handler(seen, |_| Seen::Load);
    let error = handler(seen, |_| Seen::Error);
    let abort = handler(seen, |_| Seen::Abort);
    xhr.upload()?
        .set_onprogress(Some(progress.as_ref().unchecked_ref()));
    xhr.set_onload(Some(load.as_ref().unchecked_ref()));
    xhr.set_onerror(Some(error.as_ref().unchecked_ref()));
    xhr.set_onabort(Some(abort.as_ref().unchecked_ref()));
    let signal = controller.signal();
    let to_abort = xhr.clone();
    let on_signal: Closure<dyn FnMut(JsValue)> = Closure::new(move |_| {
        let _ = to_abort.abort();
    });
    signal.set_onabort(Some(on_signal.as_ref().unchecked_ref()));
    let handlers = Handlers {
        xhr: xhr.clone(),
        signal,
        _closures: vec![progress, load, error, abort, on_signal],
    };
    match body.dyn_ref::<web_sys::Blob>() {
        Some(blob) => xhr.send_with_opt_blob(Some(blob))?,
        None => xhr.send_with_opt_buffer_source(Some(body.unchecked_ref()))?,
    }
    Ok(handlers)
}

/// Sends `req` with `slice` as its body (handed over as `how` says), reporting its upload
/// progress, then its response, on `tx`.
pub async fn perform(
    req: Request,
    slice: web_sys::Blob,
    how: UploadBody,
    controller: &AbortController,
    mut tx: Sender<Message>,
) {
    let id = req.id;
    let body = match body_of(&slice, how).await {
        Ok(body) => body,
        Err(e) => {
            if controller.signal().aborted() {
                return;
            }
            let error = failure(TransportErrorKind::Source, &describe_js_error(&e));
            let _ = tx.send(Message::Failed(id, error)).await;
            return;
        }
    };
    if controller.signal().aborted() {
        return; // aborted while the slice was read: nobody waits for this request
    }
    let (seen_tx, mut seen) = mpsc::unbounded();
    let handlers = match start(&req, &body, controller, &seen_tx) {
        Ok(h) => h,
        Err(e) => {
            let error = failure(TransportErrorKind::Other, &describe_js_error(&e));
            let _ = tx.send(Message::Failed(id, error)).await;
            return;
        }
    };
    let mut reported = 0u64;
    loop {
        // The core keeps this request's deadlines (upload progress shows bytes moving) and
        // aborts it through `controller` when one passes.
        let next = seen.next().await;
        match next {
            Some(Seen::Sent(loaded)) => {
                let loaded = loaded.max(0.0) as u64;
                let more = loaded.saturating_sub(reported);
                if more > 0 {
                    reported = loaded;
                    if tx.send(Message::Progress(id, more)).await.is_err() {
                        let _ = handlers.xhr.abort();
                        return;
                    }
                }
            }
            Some(Seen::Load) => {
                let head = response_head(&handlers.xhr);
                let body = handlers
                    .xhr
                    .response()
                    .ok()
                    .filter(|b| b.is_instance_of::<js_sys::ArrayBuffer>())
                    .map(|b| js_sys::Uint8Array::new(&b).to_vec())
                    .unwrap_or_default();
                if tx.send(Message::Head(id, head)).await.is_err() {
                    return;
                }
                if !body.is_empty() && tx.send(Message::Chunk(id, body)).await.is_err() {
                    return;
                }
                let _ = tx.send(Message::End(id)).await;
                return;
            }
            Some(Seen::Error) => {
                if controller.signal().aborted() {
                    return;
                }
                let what = JsValue::from_str("XMLHttpRequest: network error");
                let error = classify(&what, req.url.as_str(), true).await;
                let _ = tx.send(Message::Failed(id, error)).await;
                return;
            }
            Some(Seen::Abort) | None => {
                if controller.signal().aborted() {
                    return; // the driver aborted it: nobody waits for this request
                }
                let error = failure(TransportErrorKind::Io, "the browser aborted the upload");
                let _ = tx.send(Message::Failed(id, error)).await;
                return;
            }
        }
    }
}

fn failure(kind: TransportErrorKind, message: &str) -> TransportError {
    TransportError {
        kind,
        message: message.to_owned(),
    }
}

/// Status and the headers CORS lets the page see (`getAllResponseHeaders`).
fn response_head(xhr: &XmlHttpRequest) -> ResponseHead {
    let status = xhr
        .status()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    let all = xhr.get_all_response_headers().unwrap_or_default();
    for line in all.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::try_from(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    ResponseHead { status, headers }
}
