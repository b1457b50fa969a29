//! `copy(source, target, options, onEvent)`: drive the core's copy with `fetch`. The core
//! hands over each upload body piece by piece as it reads the source; `fetch` cannot stream
//! a request body everywhere (browsers need HTTP/2 for it), so each upload is sent once its
//! pieces are in, as one `Blob` — a chunk at a time (`chunkSize`), never a whole layer.

use std::cell::RefCell;
use std::collections::HashMap;

use futures_channel::mpsc::UnboundedReceiver;
use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource, Output};
use tug_core::http::{Request, RequestId, TransportError, TransportErrorKind};
use tug_core::{limits, referrers, ErrorClass, Platform, Reference};
use wasm_bindgen::JsValue;

use crate::driver::drive;
use crate::errors::{from_core, js_error};
use crate::events::{push_result, to_js, Listener};
use crate::fetch_transport::Transport;
use crate::handle;
use crate::limits::BODY_PROGRESS;
use crate::options::{names, Options};
use crate::timer::Clock;

/// An upload whose body the core is still handing over.
struct Upload {
    request: Request,
    parts: crate::blob_parts::BlobParts,
}

/// Runs a copy to completion; resolves to the result object or rejects with a coded error.
pub async fn run(
    source: String,
    target: String,
    options: JsValue,
    on_event: JsValue,
    mut cancel: UnboundedReceiver<()>,
) -> Result<JsValue, JsValue> {
    let clock = Clock::start();
    let parse = |text: &str, what: &str| -> Result<Reference, JsValue> {
        Reference::parse_registry(text.trim())
            .map_err(|e| js_error(ErrorClass::Input, &format!("{what}: {e}")))
    };
    let source = parse(&source, "source")?;
    let target = parse(&target, "target")?;
    target
        .check_target()
        .map_err(|e| js_error(ErrorClass::Input, &format!("target: {e}")))?;
    let opts = Options::of(&options, "copy")?;
    let from = opts.object(names::SOURCE);
    let source_opts = Options::source(&from)?;
    // Every platform and the index unless `platform` names one (the core's default).
    let platform: Option<Platform> = opts
        .string(names::PLATFORM)?
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: tug_core::platform::PlatformParseError| {
            js_error(ErrorClass::Input, &e.to_string())
        })?;
    if opts.boolean(names::ALL_PLATFORMS)? == Some(true) && platform.is_some() {
        return Err(js_error(
            ErrorClass::Usage,
            "allPlatforms and platform cannot be given together",
        ));
    }
    let chunk_size = opts.count_in(names::CHUNK_SIZE, limits::CHUNK_SIZE_MIN..=u64::MAX)?;
    let plan = CopyPlan {
        sources: vec![CopySource {
            config: opts.source_registry_config(&source_opts, &source)?,
            reference: source,
        }],
        target_config: opts.registry_config(&target)?,
        target,
        platform,
        // The sessions an earlier copy's `upload_session` events left open, as for a push.
        resume: opts.resumable_uploads()?,
        referrers: opts
            .boolean(names::REFERRERS)?
            .unwrap_or(referrers::COPY_BY_DEFAULT)
            .then(referrers::Known::default),
    };
    let config = CopyConfig {
        transfer: opts.transfer_config()?,
        chunk_size: chunk_size.unwrap_or(limits::default_upload_size(BODY_PROGRESS)),
    };
    if handle::cancelled(&mut cancel) {
        return Err(from_core(&tug_core::Error::Cancelled));
    }
    let listener = Listener::new(&on_event, clock);
    let uploads: RefCell<HashMap<RequestId, Upload>> = RefCell::default();
    let copy = Copy::new(plan, config, clock.now());
    let transport = Transport::new(Default::default());
    let result = drive(copy, clock, transport, &mut cancel, |copy, io| {
        while let Some(output) = copy.poll() {
            match output {
                Output::Send(_, req)
                    if matches!(req.body, tug_core::http::Body::BlobRange { .. }) =>
                {
                    let upload = Upload {
                        request: req,
                        parts: crate::blob_parts::BlobParts::new(),
                    };
                    uploads.borrow_mut().insert(upload.request.id, upload);
                }
                Output::Send(_, req) => io.send(req),
                Output::Abort(_, id) => {
                    uploads.borrow_mut().remove(&id);
                    io.abort(id);
                }
                Output::BodyData(id, data) => {
                    let pushed = uploads
                        .borrow_mut()
                        .get_mut(&id)
                        .map(|u| u.parts.push(&js_sys::Uint8Array::from(&data[..])));
                    if let Some(Err(e)) = pushed {
                        uploads.borrow_mut().remove(&id);
                        let message = crate::fetch_transport::describe_js_error(&e);
                        io.fail(id, source_failure(&message));
                    }
                }
                Output::BodyEnd(id) => {
                    let Some(u) = uploads.borrow_mut().remove(&id) else {
                        continue;
                    };
                    match u.parts.finish() {
                        Ok(body) => io.send_with_body(u.request, body.into()),
                        Err(e) => io.fail(
                            id,
                            source_failure(&crate::fetch_transport::describe_js_error(&e)),
                        ),
                    }
                }
                Output::BodyFailed(id, message) => {
                    if uploads.borrow_mut().remove(&id).is_some() {
                        io.fail(id, source_failure(&message));
                    }
                }
                Output::Event(e) => listener.copy(&e),
                Output::Timeout(at) => io.wake_at(at),
                Output::Finished(result) => return Some(result),
            }
        }
        None
    })
    .await;
    let duration_ms = clock.elapsed().as_millis() as u64;
    let outcome = result
        .map(|report| to_js(&push_result(&report, "blobsCopied", duration_ms)))
        .map_err(|e| from_core(&e));
    listener.timed(outcome)
}

/// An upload that cannot be sent because its body could not be had from the source.
fn source_failure(message: &str) -> TransportError {
    TransportError {
        kind: TransportErrorKind::Source,
        message: message.to_owned(),
    }
}
