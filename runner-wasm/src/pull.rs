//! `pull(image, options, onEvent)`: drive the core's pull with `fetch`, keep each verified
//! blob as a JS `Blob`, and hand back the image as a `docker save` archive `Blob` — or, with
//! an `output` stream, write each verified blob into the archive there as it completes
//! ([`crate::archive_stream`]), holding only the blobs still downloading.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::mpsc::{self, Sender, UnboundedReceiver};
use futures_channel::oneshot;
use futures_util::SinkExt as _;
use futures_util::StreamExt as _;
use serde_json::json;
use tug_core::place::FileKind;
use tug_core::pull::{BlobSink, Event, Output, Pull, PullConfig, PullPlan, PulledImage};
use tug_core::Digest;
use tug_core::ErrorClass;
use tug_core::{Platform, Reference};
use wasm_bindgen::JsValue;

use crate::archive_stream::{self, ArchiveStream};
use crate::docker_archive;
use crate::driver::drive;
use crate::errors::{from_core, js_error};
use crate::events::{to_js, Listener};
use crate::fetch_transport::Transport;
use crate::handle;
use crate::options::{names, Options};
use crate::pulled_blobs::PulledBlobs;
use crate::timer::Clock;

/// The image reference a pull was given (`docker://` allowed, as skopeo writes it).
fn image_reference(text: &str) -> Result<Reference, JsValue> {
    Reference::parse_registry(text.trim())
        .map_err(|e| js_error(ErrorClass::Input, &format!("image: {e}")))
}

/// Runs a pull to completion; resolves to the result object or rejects with a coded error.
pub async fn run(
    image: String,
    options: JsValue,
    on_event: JsValue,
    mut cancel: UnboundedReceiver<()>,
) -> Result<JsValue, JsValue> {
    let clock = Clock::start();
    let image = image_reference(&image)?;
    let opts = Options::of(&options, "pull")?;
    let output = opts.object(names::OUTPUT);
    let named_format = opts.string(names::FORMAT)?;
    let format = archive_stream::format_of(named_format.as_deref())?;
    if !output.is_undefined() && !output.is_null() {
        let archive = ArchiveStream::new(&output, format, image.image_name())?;
        if let Err(e) = archive.check_open().await {
            archive.aborter().abort(&e).await;
            return Err(e);
        }
        return run_streamed(image, &opts, on_event, cancel, clock, archive).await;
    }
    if format != FileKind::DockerArchive {
        // Without an output the archive is the `tar` Blob, in the format asked for.
        let archive = ArchiveStream::in_memory(format, image.image_name());
        return run_streamed(image, &opts, on_event, cancel, clock, archive).await;
    }
    let (plan, config) = plan_of(&image, &opts, false)?;
    if handle::cancelled(&mut cancel) {
        return Err(handle::cancelled_error());
    }
    let listener = Listener::new(&on_event, clock);
    let mut blobs = PulledBlobs::default();
    let mut store_error: Option<String> = None;
    let pull = Pull::new(plan, config, clock.now());
    let transport = Transport::new(Default::default());
    let result = drive(pull, clock, transport, &mut cancel, |pull, io| {
        while let Some(output) = pull.poll() {
            match output.store_in(&mut blobs) {
                Ok(Some(Output::Send(req))) => io.send(req),
                Ok(Some(Output::Abort(id))) => io.abort(id),
                Ok(Some(Output::Event(e))) => listener.pull(&e),
                Ok(Some(Output::Timeout(at))) => io.wake_at(at),
                Ok(Some(Output::Finished(result))) => return Some(result),
                // Blob files went to `blobs`.
                Ok(_) => {}
                Err(e) => {
                    store_error = Some(e);
                    pull.cancel();
                }
            }
        }
        None
    })
    .await;
    // Building the archive decodes every layer of a docker save: a Cancel stops that too.
    let outcome = handle::unless_cancelled(
        finish(image, result, store_error, &blobs, clock),
        &mut cancel,
    )
    .await;
    listener.timed(outcome)
}

/// The core's plan and settings for pulling `image` with `opts` (`manifests_only`: stop
/// after the manifests, every platform of an index kept — to list them).
fn plan_of(
    image: &Reference,
    opts: &Options,
    manifests_only: bool,
) -> Result<(PullPlan, PullConfig), JsValue> {
    // A browser has no platform of its own worth using: the core's default for such hosts.
    let named = opts.string(names::PLATFORM)?;
    let platform_required = named.is_some();
    let platform: Platform = match named {
        Some(named) => named
            .parse()
            .map_err(|e: tug_core::platform::PlatformParseError| {
                js_error(ErrorClass::Input, &e.to_string())
            })?,
        None => Platform::default_for_unknown_host(),
    };
    let plan = PullPlan {
        all_platforms: manifests_only,
        manifests_only,
        platform_required,
        ..PullPlan::of(image, platform)
    };
    let config = PullConfig {
        registry: opts.registry_config(image)?,
        transfer: opts.transfer_config()?,
    };
    Ok((plan, config))
}

/// The buffered pull's end: its archive `Blob` and figures.
async fn finish(
    image: Reference,
    result: Result<tug_core::pull::PullReport, tug_core::Error>,
    store_error: Option<String>,
    blobs: &PulledBlobs,
    clock: Clock,
) -> Result<JsValue, JsValue> {
    if let Some(e) = store_error {
        return Err(js_error(
            ErrorClass::Input,
            &format!("cannot keep a pulled blob: {e}"),
        ));
    }
    let report = result.map_err(|e| from_core(&e))?;
    let name = image.image_name();
    let tar = docker_archive::build(&report, blobs, Some(&name)).await?;
    let digest = report
        .images
        .first()
        .map_or(&report.root.digest, |i| &i.manifest.digest);
    let result = to_js(&json!({
        "manifestDigest": digest,
        "bytesReceived": report.bytes_downloaded,
        "retries": report.retries,
        "durationMs": clock.elapsed().as_millis() as u64,
    }));
    js_sys::Reflect::set(&result, &"tar".into(), &tar)?;
    Ok(result)
}

/// What the pull hands the archive writer: the manifests, then each verified blob.
enum ToArchive {
    Start(Box<PulledImage>),
    Blob(Digest, web_sys::Blob),
}

/// The pull's blob outputs: bytes kept as JS parts while a blob downloads, the verified
/// blob handed to the archive writer, which holds one at a time; the ones it has no room
/// for yet wait in `waiting`, and the pull reads nothing more until they are handed over
/// (a slow output holds the download back, not the whole image in memory).
struct Streamed {
    blobs: PulledBlobs,
    to_archive: Sender<ToArchive>,
    waiting: std::collections::VecDeque<ToArchive>,
}

impl Streamed {
    /// Hands `message` to the writer, or keeps it (in order) until there is room.
    fn queue(&mut self, message: ToArchive) -> Result<(), String> {
        if !self.waiting.is_empty() {
            self.waiting.push_back(message);
            return Ok(());
        }
        match self.to_archive.try_send(message) {
            Ok(()) => Ok(()),
            Err(e) if e.is_full() => {
                self.waiting.push_back(e.into_inner());
                Ok(())
            }
            Err(_) => Err("the archive writer stopped".to_owned()),
        }
    }

    /// What the writer has no room for yet, handed over as it makes room.
    fn hand_over_waiting(&mut self) -> Option<impl std::future::Future<Output = ()>> {
        if self.waiting.is_empty() {
            return None;
        }
        let waiting: Vec<ToArchive> = self.waiting.drain(..).collect();
        let mut tx = self.to_archive.clone();
        Some(async move {
            for message in waiting {
                if tx.send(message).await.is_err() {
                    break;
                }
            }
        })
    }
}

impl BlobSink for Streamed {
    type Error = String;

    fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> Result<(), String> {
        self.blobs.write(digest, offset, data)
    }

    fn commit(&mut self, digest: &Digest) -> Result<(), String> {
        BlobSink::commit(&mut self.blobs, digest)?;
        let blob = self
            .blobs
            .take(digest)
            .ok_or_else(|| format!("blob {digest} was committed but not kept"))?;
        self.queue(ToArchive::Blob(digest.clone(), blob))
    }

    fn discard(&mut self, digest: &Digest) {
        self.blobs.discard(digest);
    }
}

/// A pull into `archive`: the writer runs beside the pull; a failure of either stops the
/// other and aborts the stream (nothing of the image is kept). A Cancel stops both at once,
/// whatever the output is doing (a write it never finishes included).
async fn run_streamed(
    image: Reference,
    opts: &Options<'_>,
    on_event: JsValue,
    cancel: UnboundedReceiver<()>,
    clock: Clock,
    archive: ArchiveStream,
) -> Result<JsValue, JsValue> {
    let listener = Listener::new(&on_event, clock);
    let outcome = stream(image, opts, &listener, cancel, clock, archive).await;
    listener.timed(outcome)
}

/// [`run_streamed`]'s pull, its events to `listener`.
async fn stream(
    image: Reference,
    opts: &Options<'_>,
    listener: &Listener,
    mut cancel: UnboundedReceiver<()>,
    clock: Clock,
    archive: ArchiveStream,
) -> Result<JsValue, JsValue> {
    let aborter = archive.aborter();
    let (plan, config) = match plan_of(&image, opts, false) {
        Ok(planned) => planned,
        Err(e) => {
            aborter.abort(&e).await;
            return Err(e);
        }
    };
    if handle::cancelled(&mut cancel) {
        let e = handle::cancelled_error();
        aborter.abort(&e).await;
        return Err(e);
    }
    // Room for one blob besides the one being written.
    let (tx, mut rx) = mpsc::channel::<ToArchive>(0);
    let write_error: Rc<RefCell<Option<JsValue>>> = Rc::default();
    let (done_tx, done_rx) = oneshot::channel::<ArchiveStream>();
    let writer_error = write_error.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let mut archive = archive;
        while let Some(message) = rx.next().await {
            let written = match message {
                ToArchive::Start(image) => archive.start(&image).await,
                ToArchive::Blob(digest, blob) => archive.blob(digest, blob).await,
            };
            if let Err(e) = written {
                *writer_error.borrow_mut() = Some(e);
                break;
            }
        }
        let _ = done_tx.send(archive);
    });
    let mut sink = Streamed {
        blobs: PulledBlobs::default(),
        to_archive: tx,
        waiting: Default::default(),
    };
    let mut store_error: Option<String> = None;
    let mut started = false;
    let pull = Pull::new(plan, config, clock.now());
    let transport = Transport::new(Default::default());
    let result = drive(pull, clock, transport, &mut cancel, |pull, io| {
        if write_error.borrow().is_some() {
            pull.cancel();
        }
        while let Some(output) = pull.poll() {
            match output.store_in(&mut sink) {
                Ok(Some(Output::Send(req))) => io.send(req),
                Ok(Some(Output::Abort(id))) => io.abort(id),
                Ok(Some(Output::Event(e))) => {
                    if !started && matches!(e, Event::BlobStarted { .. }) {
                        started = true;
                        if let Some(image) = pull.images().next().cloned() {
                            let _ = sink.queue(ToArchive::Start(Box::new(image)));
                        }
                    }
                    listener.pull(&e);
                }
                Ok(Some(Output::Timeout(at))) => io.wake_at(at),
                Ok(Some(Output::Finished(result))) => return Some(result),
                Ok(_) => {}
                Err(e) => {
                    store_error = Some(e);
                    pull.cancel();
                }
            }
        }
        if let Some(hand_over) = sink.hand_over_waiting() {
            io.hold_until(hand_over);
        }
        None
    })
    .await;
    // The writer's failure first (it made the pull stop), then the sink's, then the pull's;
    // none waits for the writer, which may be stuck in a write the output never finishes.
    let failure = write_error.borrow_mut().take().or_else(|| {
        store_error.map(|e| {
            js_error(
                ErrorClass::Input,
                &format!("cannot keep a pulled blob: {e}"),
            )
        })
    });
    let outcome = match (failure, result) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(from_core(&e)),
        (None, Ok(report)) => Ok(report),
    };
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            drop(sink);
            aborter.abort(&e).await;
            return Err(e);
        }
    };
    // The pull is done: what the last drain committed goes to the writer too, then the
    // archive's end — unless a Cancel (or the writer's failure) comes first.
    let written = handle::unless_cancelled(
        async {
            if let Some(hand_over) = sink.hand_over_waiting() {
                hand_over.await;
            }
            drop(sink);
            let archive = done_rx
                .await
                .map_err(|_| js_error(ErrorClass::Input, "the archive writer was lost"))?;
            if let Some(e) = write_error.borrow_mut().take() {
                return Err(e);
            }
            archive.finish().await
        },
        &mut cancel,
    )
    .await;
    let (written, tar) = match written {
        Ok(written) => written,
        Err(e) => {
            aborter.abort(&e).await;
            return Err(e);
        }
    };
    let digest = report
        .images
        .first()
        .map_or(&report.root.digest, |i| &i.manifest.digest);
    let mut result = json!({
        "manifestDigest": digest,
        "bytesReceived": report.bytes_downloaded,
        "retries": report.retries,
        "durationMs": clock.elapsed().as_millis() as u64,
    });
    if tar.is_none() {
        result["bytesWritten"] = written.into();
    }
    let result = to_js(&result);
    if let Some(tar) = tar {
        js_sys::Reflect::set(&result, &"tar".into(), &tar)?;
    }
    Ok(result)
}

/// The platforms `image` offers: an index's (in its order, as the core reads them), or the
/// one of an image manifest (`null` when its index entry named none); and the one a pull
/// takes when none is named — linux/amd64 if offered, else the only one.
pub async fn platforms(
    image: String,
    options: JsValue,
    mut cancel: UnboundedReceiver<()>,
) -> Result<JsValue, JsValue> {
    let clock = Clock::start();
    let image = image_reference(&image)?;
    let opts = Options::of(&options, "platforms")?;
    let (plan, config) = plan_of(&image, &opts, true)?;
    let pull = Pull::new(plan, config, clock.now());
    let transport = Transport::new(Default::default());
    let result = drive(pull, clock, transport, &mut cancel, |pull, io| {
        while let Some(output) = pull.poll() {
            match output {
                Output::Send(req) => io.send(req),
                Output::Abort(id) => io.abort(id),
                Output::Timeout(at) => io.wake_at(at),
                Output::Finished(result) => return Some(result),
                _ => {}
            }
        }
        None
    })
    .await;
    let report = result.map_err(|e| from_core(&e))?;
    let listed: Vec<String> = report
        .images
        .iter()
        .filter_map(|i| i.platform.as_ref().map(ToString::to_string))
        .collect();
    let fallback = Platform::default_for_unknown_host().to_string();
    let default = match listed.as_slice() {
        [only] if *only != fallback => only.clone(),
        _ => fallback,
    };
    Ok(to_js(&json!({
        "index": tug_core::manifest::is_index(&report.root.media_type),
        "digest": report.root.digest,
        "platforms": listed,
        "default": default,
    })))
}
