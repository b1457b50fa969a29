//! Carries the core's requests with `fetch` and reports what happens back to the driving
//! loop over a channel, as the native runner's ureq transport does. No protocol decisions
//! are made here: statuses, redirects (where the runtime shows them) and errors all go to
//! the core.
//!
//! Request bodies are `Blob.slice`s of the user's file (or small byte arrays); response
//! bodies are read chunk by chunk from the `ReadableStream`. Every request has an
//! `AbortController`: the driver aborts what is still in flight when the operation ends or
//! is cancelled, and what the core gives up on (`Abort`), which is how a request that
//! passes one of its deadlines ends: the core keeps them from the times of the inputs
//! about each request, and fails and retries it itself. No timer here but the CORS probe's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc::Sender;
use futures_util::future::{select, Either};
use futures_util::SinkExt as _;
use tug_core::http::{
    Body, HeaderMap, HeaderName, HeaderValue, Request, RequestId, ResponseHead, StatusCode,
    TransportError, TransportErrorKind,
};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, RequestCache, RequestCredentials, RequestInit, RequestMode, RequestRedirect,
    Response,
};

mod upload_body;
mod xhr_upload;

pub use upload_body::UploadBody;

use crate::blob_source::BlobSources;
use crate::js;
use crate::timer::Timer;

/// Messages queued between the fetch tasks and the driving loop (backpressure on readers).
pub const QUEUE: usize = 32;
/// How long the CORS probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened to a request, in order: `Head`, `Chunk`s, `End` — or `Failed`.
#[derive(Debug)]
pub enum Message {
    Head(RequestId, ResponseHead),
    Chunk(RequestId, Vec<u8>),
    End(RequestId),
    /// This many more request body bytes went out (browsers' uploads, [`xhr_upload`]).
    Progress(RequestId, u64),
    Failed(RequestId, TransportError),
}

/// Sends requests with the global `fetch`.
#[derive(Clone)]
pub struct Transport {
    blobs: Rc<BlobSources>,
    inflight: Rc<RefCell<HashMap<RequestId, AbortController>>>,
    browser: bool,
    upload_body: UploadBody,
}

impl Transport {
    /// A transport whose `BlobRange` bodies come from `blobs`.
    pub fn new(blobs: BlobSources) -> Transport {
        Transport {
            blobs: Rc::new(blobs),
            inflight: Rc::default(),
            browser: js::is_browser(),
            upload_body: UploadBody::default(),
        }
    }

    /// Hands a browser's uploads their file slices as `how` says ([`UploadBody`]).
    pub fn with_upload_body(mut self, how: UploadBody) -> Transport {
        self.upload_body = how;
        self
    }

    /// Sends `req`; everything that happens comes back through `tx`.
    pub fn spawn(&self, req: Request, tx: Sender<Message>) {
        let controller = match AbortController::new() {
            Ok(c) => c,
            Err(e) => {
                let error = failure(TransportErrorKind::Other, &describe_js_error(&e));
                fail_later(req.id, error, tx);
                return;
            }
        };
        let body = match &req.body {
            Body::Empty => None,
            Body::Bytes(bytes) => Some(JsValue::from(js_sys::Uint8Array::from(&bytes[..]))),
            Body::BlobRange { blob, start, end } => match self.blobs.slice(*blob, *start, *end) {
                // Browsers show upload progress only to XMLHttpRequest.
                Some(slice) if self.browser => {
                    self.send_xhr(req, slice, controller, tx);
                    return;
                }
                Some(slice) => Some(slice.into()),
                None => {
                    let error = failure(
                        TransportErrorKind::Source,
                        &format!("no source for bytes {start}..{end} of blob {blob}"),
                    );
                    fail_later(req.id, error, tx);
                    return;
                }
            },
            // Blobs made while they are sent come only from the native runner's --compress.
            Body::BlobStream { blob, .. } => {
                let error = failure(
                    TransportErrorKind::Source,
                    &format!("blob {blob} is made while it is sent, which tug-wasm does not do"),
                );
                fail_later(req.id, error, tx);
                return;
            }
        };
        self.send(req, body, controller, tx);
    }

    /// Sends `req` with `body` in place of the one it describes (a copy's upload, whose
    /// bytes the core handed over piece by piece).
    pub fn spawn_with_body(&self, req: Request, body: JsValue, tx: Sender<Message>) {
        match AbortController::new() {
            Ok(controller) => self.send(req, Some(body), controller, tx),
            Err(e) => {
                let error = failure(TransportErrorKind::Other, &describe_js_error(&e));
                fail_later(req.id, error, tx);
            }
        }
    }

    /// Reports request `id` failed without sending it (its body could not be made).
    pub fn fail(&self, id: RequestId, error: TransportError, tx: Sender<Message>) {
        fail_later(id, error, tx);
    }

    fn send(
        &self,
        req: Request,
        body: Option<JsValue>,
        controller: AbortController,
        tx: Sender<Message>,
    ) {
        self.inflight
            .borrow_mut()
            .insert(req.id, controller.clone());
        let inflight = self.inflight.clone();
        let browser = self.browser;
        wasm_bindgen_futures::spawn_local(async move {
            let id = req.id;
            perform(req, body, &controller, browser, tx).await;
            inflight.borrow_mut().remove(&id);
        });
    }

    /// Uploads `body` with `XMLHttpRequest`, reporting its progress ([`xhr_upload`]).
    fn send_xhr(
        &self,
        req: Request,
        body: web_sys::Blob,
        controller: AbortController,
        tx: Sender<Message>,
    ) {
        self.inflight
            .borrow_mut()
            .insert(req.id, controller.clone());
        let inflight = self.inflight.clone();
        let how = self.upload_body;
        wasm_bindgen_futures::spawn_local(async move {
            let id = req.id;
            xhr_upload::perform(req, body, how, &controller, tx).await;
            inflight.borrow_mut().remove(&id);
        });
    }

    /// Aborts request `id`: the core no longer waits for it (it failed the request on a body
    /// too large or too slow).
    pub fn abort(&self, id: RequestId) {
        if let Some(controller) = self.inflight.borrow_mut().remove(&id) {
            controller.abort();
        }
    }

    /// Aborts every request still in flight (the operation ended).
    pub fn abort_all(&self) {
        for (_, controller) in self.inflight.borrow_mut().drain() {
            controller.abort();
        }
    }
}

fn failure(kind: TransportErrorKind, message: &str) -> TransportError {
    TransportError {
        kind,
        message: message.to_owned(),
    }
}

/// Reports a failure from a task of its own: inputs reach the core only from the loop.
fn fail_later(id: RequestId, error: TransportError, mut tx: Sender<Message>) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = tx.send(Message::Failed(id, error)).await;
    });
}

/// Awaits `fut` for at most `limit` (`None`: as long as it takes).
async fn within(fut: JsFuture, limit: Option<Duration>) -> Option<Result<JsValue, JsValue>> {
    let Some(limit) = limit else {
        return Some(fut.await);
    };
    match select(fut, Timer::after(limit)).await {
        Either::Left((result, _)) => Some(result),
        Either::Right(_) => None,
    }
}

async fn perform(
    req: Request,
    body: Option<JsValue>,
    controller: &AbortController,
    browser: bool,
    mut tx: Sender<Message>,
) {
    let id = req.id;
    let init = match request_init(&req, body.as_ref(), controller, browser) {
        Ok(init) => init,
        Err(e) => {
            let error = failure(TransportErrorKind::Other, &describe_js_error(&e));
            let _ = tx.send(Message::Failed(id, error)).await;
            return;
        }
    };
    let fetched = JsFuture::from(js::fetch_with_init(req.url.as_str(), &init)).await;
    let response: Response = match fetched {
        Ok(r) => r.unchecked_into(),
        Err(e) => {
            if controller.signal().aborted() {
                return; // the driver aborted it: nobody waits for this request
            }
            let error = classify(&e, req.url.as_str(), browser).await;
            let _ = tx.send(Message::Failed(id, error)).await;
            return;
        }
    };
    if response.type_() == web_sys::ResponseType::Opaqueredirect {
        let error = failure(
            TransportErrorKind::Other,
            "the runtime hid a redirect response from the runner",
        );
        let _ = tx.send(Message::Failed(id, error)).await;
        return;
    }
    if tx
        .send(Message::Head(id, response_head(&response)))
        .await
        .is_err()
    {
        return;
    }
    let Some(stream) = response.body() else {
        let _ = tx.send(Message::End(id)).await;
        return;
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let read = match JsFuture::from(reader.read()).await {
            Ok(read) => read,
            Err(e) => {
                if controller.signal().aborted() {
                    return;
                }
                let error = failure(TransportErrorKind::Io, &describe_js_error(&e));
                let _ = tx.send(Message::Failed(id, error)).await;
                return;
            }
        };
        let done = js::get(&read, "done").is_some_and(|d| d.is_truthy());
        if done {
            let _ = tx.send(Message::End(id)).await;
            return;
        }
        if let Some(value) = js::get(&read, "value") {
            let chunk = js_sys::Uint8Array::new(&value).to_vec();
            if !chunk.is_empty() && tx.send(Message::Chunk(id, chunk)).await.is_err() {
                let _ = reader.cancel();
                return;
            }
        }
    }
}

/// The `fetch` options for `req`: exactly its method, headers and body, no cookies, no
/// cache. Redirects are left to the core where the runtime shows them (Node.js); browsers
/// hide them (an opaque response), so there the browser follows them itself, and drops
/// `Authorization` when the redirect leaves the registry's origin.
fn request_init(
    req: &Request,
    body: Option<&JsValue>,
    controller: &AbortController,
    browser: bool,
) -> Result<RequestInit, JsValue> {
    let init = RequestInit::new();
    init.set_method(req.method.as_str());
    let headers = web_sys::Headers::new()?;
    for (name, value) in &req.headers {
        // The runtime computes these from the body and the URL; browsers refuse to send a
        // User-Agent of ours and some would ask the registry's permission (a preflight) for it.
        let skip = matches!(name.as_str(), "content-length" | "host" | "connection")
            || (browser && name.as_str() == "user-agent");
        if !skip {
            headers.append(name.as_str(), &String::from_utf8_lossy(value.as_bytes()))?;
        }
    }
    init.set_headers(&headers);
    if let Some(body) = body {
        init.set_body(body);
    }
    init.set_signal(Some(&controller.signal()));
    init.set_redirect(if browser {
        RequestRedirect::Follow
    } else {
        RequestRedirect::Manual
    });
    init.set_credentials(RequestCredentials::Omit);
    init.set_cache(RequestCache::NoStore);
    if browser {
        init.set_mode(RequestMode::Cors);
    }
    Ok(init)
}

/// Status and headers; repeated headers stay repeated where the runtime keeps them apart
/// (browsers join them with `, `, which the core's challenge parser expects).
fn response_head(response: &Response) -> ResponseHead {
    let status = StatusCode::from_u16(response.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    if let Ok(Some(entries)) = js_sys::try_iter(&response.headers()) {
        for entry in entries.flatten() {
            let pair: js_sys::Array = entry.unchecked_into();
            let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string())
            else {
                continue;
            };
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.append(n, v);
            }
        }
    }
    ResponseHead { status, headers }
}

/// The core's class for a rejected `fetch`. Node.js says why in `error.cause.code`;
/// browsers say only "Failed to fetch", so there a `no-cors` probe of the same URL tells a
/// registry that answered without CORS permission from one that cannot be reached.
pub(crate) async fn classify(error: &JsValue, url: &str, browser: bool) -> TransportError {
    let message = describe_js_error(error);
    let code = js::get(error, "cause")
        .and_then(|c| js::get(&c, "code"))
        .and_then(|c| c.as_string())
        .unwrap_or_default();
    let text = message.to_ascii_lowercase();
    let kind = match code.as_str() {
        "ENOTFOUND" => TransportErrorKind::NoSuchHost,
        "ECONNREFUSED"
        | "EAI_AGAIN"
        | "EHOSTUNREACH"
        | "ENETUNREACH"
        | "UND_ERR_CONNECT_TIMEOUT" => TransportErrorKind::Connect,
        "ETIMEDOUT" | "UND_ERR_HEADERS_TIMEOUT" | "UND_ERR_BODY_TIMEOUT" => {
            TransportErrorKind::Timeout
        }
        "EPROTO" | "ERR_SSL_WRONG_VERSION_NUMBER" if text.contains("wrong version number") => {
            TransportErrorKind::NotTls
        }
        c if c.contains("CERT") || c.starts_with("ERR_TLS") || c.starts_with("ERR_SSL") => {
            TransportErrorKind::Tls
        }
        _ if text.contains("wrong version number") => TransportErrorKind::NotTls,
        _ if text.contains("certificate") => TransportErrorKind::Tls,
        _ => TransportErrorKind::Io,
    };
    if browser && kind == TransportErrorKind::Io {
        if let Some((kind, why)) = blocked_by_browser(url).await {
            return failure(kind, &why);
        }
    }
    failure(kind, &message)
}

/// Whether and why the browser blocked a request to `url` whose server is reachable: mixed
/// content, or CORS ([`TransportErrorKind::Blocked`]).
async fn blocked_by_browser(url: &str) -> Option<(TransportErrorKind, String)> {
    let origin = url::Url::parse(url).ok()?.origin().ascii_serialization();
    if js::page_protocol().as_deref() == Some("https:") && url.starts_with("http:") {
        return Some((
            TransportErrorKind::MixedContent,
            format!(
                "mixed content: this page was loaded over HTTPS and the browser does not let \
                 it send requests to the plain-HTTP registry {origin}; serve the registry over \
                 HTTPS"
            ),
        ));
    }
    let probe = RequestInit::new();
    probe.set_method("HEAD");
    probe.set_mode(RequestMode::NoCors);
    probe.set_credentials(RequestCredentials::Omit);
    probe.set_cache(RequestCache::NoStore);
    let answered = within(
        JsFuture::from(js::fetch_with_init(url, &probe)),
        Some(PROBE_TIMEOUT),
    )
    .await;
    matches!(answered, Some(Ok(_))).then(|| {
        let why = format!(
            "{origin} answered, but the browser withheld the response (CORS): the registry, \
             or a proxy in front of it, must allow this page's origin — send \
             Access-Control-Allow-Origin and Access-Control-Expose-Headers (Location, Range, \
             Docker-Content-Digest, WWW-Authenticate) on every response and answer preflight \
             OPTIONS requests with the allowed methods and headers (Authorization, \
             Content-Type, Content-Range, Range, Accept)"
        );
        (TransportErrorKind::Blocked, why)
    })
}

/// `name: message (cause)` of a JS error, without anything a request carried.
pub fn describe_js_error(error: &JsValue) -> String {
    let text = |v: &JsValue, key: &str| js::get(v, key).and_then(|m| m.as_string());
    let mut out = match (text(error, "name"), text(error, "message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (None, Some(message)) => message,
        _ => error
            .as_string()
            .unwrap_or_else(|| "unknown error".to_owned()),
    };
    if let Some(cause) = js::get(error, "cause") {
        let detail = text(&cause, "code")
            .into_iter()
            .chain(text(&cause, "message"))
            .collect::<Vec<_>>()
            .join(" ");
        if !detail.is_empty() {
            out.push_str(&format!(" ({detail})"));
        }
    }
    out
}
