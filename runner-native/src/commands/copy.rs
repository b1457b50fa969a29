//! `tug copy SRC DST`: registry to registry. The source's manifests are read first; then the
//! core's push runs against the destination, and every upload body is a stream the core's
//! fetch reads from the source — bytes go from one socket to the other, never to disk, with
//! bounded buffers in between.

use std::collections::HashMap;
use std::io::{self, Read};
use std::time::Instant as Clock;

use async_channel::{Receiver, Sender};
use futures_lite::FutureExt as _;
use tug_core::fetch::{self, Fetch, StreamId};
use tug_core::http::{Body, TransportErrorKind};
use tug_core::pull::{self, Pull, PullConfig, PullPlan, PullReport};
use tug_core::push::{self, PlanBlob, PlanManifest, Push, PushConfig, PushPlan, PushReport};
use tug_core::{Error, Instant, Platform, Reference};

use crate::cli::CopyArgs;
use crate::config::Settings;
use crate::credentials;
use crate::driver::{drive, feed};
use crate::exit_code::CliError;
use crate::history::Recorder;
use crate::output::{errln, outln};
use crate::progress::{bytes, done_line, Display, ProgressMode, Totals};
use crate::transport::{Message, NoBodies, Transport};

/// Chunks buffered between the source download and the destination upload of one stream.
const PIPE_CHUNKS: usize = 16;

pub fn run(args: CopyArgs, mut settings: Settings, history: &mut Recorder) -> Result<(), CliError> {
    let origin = Clock::now();
    let src: Reference = parse(&args.source, "source")?;
    let dst: Reference = parse(&args.target, "target")?;
    settings.apply_flags(&args.transfer);
    settings.apply_flags(&args.registry.connect);
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    let mirror = settings.mirror_for(&src, &args.registry);
    let sources: Vec<&Reference> = mirror.iter().chain([&src]).collect();
    // One look-up for every registry (`--password-stdin` can be read only once).
    let mut registries: Vec<&str> = sources.iter().map(|r| r.registry.as_str()).collect();
    registries.push(&dst.registry);
    // Credentials from flags and TUG_* are the destination's; the source (and its mirror)
    // get what is stored for them.
    let mut creds =
        credentials::for_registries(&args.registry.credentials, &dst.registry, &registries)?;
    let dst_credentials = creds.pop().flatten();
    // Each side has its own TLS settings (a registry's config table).
    let (dst_tls, dst_registry) = settings.connection(&dst, &args.registry, dst_credentials);
    let input = |e: anyhow::Error| CliError::Input(e.to_string());
    let transport = Transport::new(&dst_tls, NoBodies).map_err(input)?;
    let platform = match &args.platform {
        Some(p) => p
            .parse::<Platform>()
            .map_err(|e| CliError::Usage(e.to_string()))?,
        None => Platform::from_rust(std::env::consts::OS, std::env::consts::ARCH),
    };

    // 1. What the source holds: asked of the source registry's mirror first, if its table
    // names one, and then of the registry itself.
    let mut found = None;
    for (i, from) in sources.iter().enumerate() {
        let credentials = creds[i].clone();
        let (tls, registry) = settings.connection(from, &args.registry, credentials);
        let pull_config = PullConfig {
            registry,
            transfer: settings.transfer(),
        };
        let source = Transport::new(&tls, NoBodies).map_err(input)?;
        let pull_plan = PullPlan {
            registry: from.api_host().to_owned(),
            repository: from.repository.clone(),
            reference: from.manifest_ref(),
            platform: platform.clone(),
            all_platforms: args.all_platforms,
            have: Vec::new(),
            manifests_only: true,
        };
        let start = Instant::from_duration(origin.elapsed());
        let pull = Pull::new(pull_plan, pull_config.clone(), start);
        let result = smol::block_on(drive(pull, origin, &source, |pull, io| {
            while let Some(output) = pull.poll() {
                match output {
                    pull::Output::Send(req) => io.send(req),
                    pull::Output::Finished(result) => return Some(result),
                    _ => {}
                }
            }
            None
        }));
        match result {
            Err(e) if i + 1 < sources.len() && super::pull::mirror_miss(&e) => {
                if !matches!(
                    settings.progress.value,
                    ProgressMode::Json | ProgressMode::None
                ) {
                    errln!(
                        "mirror {}: {e}; copying from {}",
                        from.registry,
                        src.registry
                    );
                }
            }
            result => {
                found = Some((result?, *from, pull_config, source));
                break;
            }
        }
    }
    let Some((resolved, from, pull_config, source)) = found else {
        unreachable!("the last source always ends the loop")
    };

    // 2. The push of those manifests and blobs to the destination.
    let (plan, labels) = push_plan(&resolved, &src, &dst, args.all_platforms);
    let push_config = PushConfig {
        registry: dst_registry,
        transfer: settings.transfer(),
        ..PushConfig::default()
    };
    let mut display = Display::new(settings.progress.value, labels);
    let mode = display.mode();
    if display.is_human() {
        errln!(
            "Copying {src} to {dst} ({} blobs, {})",
            plan.blobs.len(),
            bytes(plan.blobs.iter().map(|b| b.size).sum())
        );
    }
    let push = Push::new(plan.clone(), push_config, Instant::ZERO);
    let fetch = Fetch::new(
        from.api_host(),
        &from.repository,
        &pull_config.registry,
        Instant::from_duration(origin.elapsed()),
    );
    let result = smol::block_on(run_copy(
        push,
        fetch,
        &plan,
        origin,
        (&source, &transport),
        &mut display,
        history,
    ));
    display.finish();
    let report = result?;
    history.push_report(&report);
    if mode == ProgressMode::Json {
        let v = serde_json::json!({
            "event": "done",
            "reference": dst.to_string(),
            "digest": report.manifest_digest,
            "blobs_uploaded": report.blobs_uploaded,
            "blobs_skipped": report.blobs_skipped,
            "blobs_mounted": report.blobs_mounted,
            "bytes_uploaded": report.bytes_uploaded,
            "retries": report.retries,
            "elapsed_ms": report.elapsed.as_millis() as u64,
            "peak_bytes_per_second": display.peak(),
        });
        outln!("{v}");
    } else {
        if mode != ProgressMode::None {
            errln!(
                "{}",
                done_line(&Totals {
                    verb: "Copied",
                    blobs: report.blobs_uploaded,
                    bytes: report.bytes_uploaded,
                    skipped: report.blobs_skipped,
                    skipped_bytes: report.bytes_skipped,
                    mounted: Some(report.blobs_mounted),
                    retries: report.retries,
                    elapsed: report.elapsed,
                    peak: display.peak(),
                })
            );
        }
        outln!("{dst}");
        outln!(
            "{}/{}@{}",
            dst.registry,
            dst.repository,
            report.manifest_digest
        );
    }
    Ok(())
}

fn parse(text: &str, what: &str) -> Result<Reference, CliError> {
    let text = text.strip_prefix("docker://").unwrap_or(text);
    text.parse()
        .map_err(|e| CliError::Usage(format!("{what}: {e}")))
}

/// The destination push: every image's blobs, its manifests, and the index when copying all
/// platforms of one. Blobs are mounted when both sides are the same registry.
fn push_plan(
    resolved: &PullReport,
    src: &Reference,
    dst: &Reference,
    all_platforms: bool,
) -> (PushPlan, Vec<String>) {
    let mut blobs = Vec::new();
    let mut labels = Vec::new();
    let several = resolved.images.len() > 1;
    for (i, img) in resolved.images.iter().enumerate() {
        let prefix = match (&img.platform, several) {
            (Some(p), true) => format!("{p} "),
            _ if several => format!("image {} ", i + 1),
            _ => String::new(),
        };
        blobs.push(PlanBlob {
            digest: img.config.digest.clone(),
            size: img.config.size,
        });
        labels.push(format!("{prefix}config"));
        let n = img.layers.len();
        for (j, l) in img.layers.iter().enumerate() {
            blobs.push(PlanBlob {
                digest: l.digest.clone(),
                size: l.size,
            });
            labels.push(format!("{prefix}layer {}/{n}", j + 1));
        }
    }
    let as_plan = |m: &pull::FetchedManifest| PlanManifest {
        bytes: m.bytes.clone(),
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
    };
    let copy_index = all_platforms && tug_core::manifest::is_index(&resolved.root.media_type);
    let (manifest, children) = if copy_index {
        let children = resolved
            .images
            .iter()
            .map(|i| as_plan(&i.manifest))
            .collect();
        (as_plan(&resolved.root), children)
    } else {
        let first = resolved
            .images
            .first()
            .map(|i| &i.manifest)
            .unwrap_or(&resolved.root);
        (as_plan(first), Vec::new())
    };
    let same_registry = src.api_host() == dst.api_host() && src.repository != dst.repository;
    let plan = PushPlan {
        registry: dst.api_host().to_owned(),
        repository: dst.repository.clone(),
        reference: dst.manifest_ref(),
        blobs,
        manifest,
        children,
        mount_from: same_registry.then(|| src.repository.clone()),
        resume: Vec::new(),
        pending: Vec::new(),
    };
    (plan, labels)
}

/// What woke the copy loop.
enum Wake {
    Push(Message),
    Fetch(Message),
    Timer,
    Interrupt,
}

/// What the loop must do with the fetch's bytes, in order.
enum PipeAction {
    Data(StreamId, Vec<u8>),
    End(StreamId),
    Fail(StreamId, String),
}

/// Drives the destination push and the source fetch together, piping fetched ranges into
/// upload bodies.
async fn run_copy(
    mut push: Push,
    mut fetch: Fetch,
    plan: &PushPlan,
    origin: Clock,
    (source, transport): (&Transport, &Transport),
    display: &mut Display,
    history: &mut Recorder,
) -> Result<PushReport, Error> {
    let now = || Instant::from_duration(origin.elapsed());
    let (push_tx, push_rx) = async_channel::bounded::<Message>(crate::transport::QUEUE);
    let (fetch_tx, fetch_rx) = async_channel::bounded::<Message>(crate::transport::QUEUE);
    let mut pipes: HashMap<StreamId, Sender<Result<Vec<u8>, String>>> = HashMap::new();
    let mut fetch_error: Option<Error> = None;
    let mut source_retries = 0u32;
    loop {
        let mut actions = Vec::new();
        while let Some(output) = push.poll() {
            match output {
                push::Output::Send(req) => match req.body {
                    Body::BlobRange { blob, start, end } => {
                        let digest = &plan.blobs[blob].digest;
                        let stream = fetch.open(digest, start, end);
                        let (tx, rx) = async_channel::bounded(PIPE_CHUNKS);
                        pipes.insert(stream, tx);
                        let reader = Box::new(PipeReader {
                            rx,
                            buf: Vec::new(),
                            pos: 0,
                        });
                        transport.spawn_streaming(req, reader, push_tx.clone());
                    }
                    _ => transport.spawn(req, push_tx.clone()),
                },
                push::Output::Event(e) => {
                    history.push_event(&e);
                    if let push::Event::Concurrency(c) = &e {
                        crate::verbose::concurrency(c, display.mode() == ProgressMode::Json);
                    }
                    display.event(&e);
                }
                push::Output::Finished(result) => {
                    let result = result.map(|mut report| {
                        report.retries += source_retries;
                        report
                    });
                    return result.map_err(|e| match (&e, fetch_error.take()) {
                        (Error::Transport { error, .. }, Some(source_error))
                            if error.kind == TransportErrorKind::Source =>
                        {
                            source_error
                        }
                        _ => e,
                    });
                }
            }
        }
        while let Some(output) = fetch.poll() {
            match output {
                fetch::Output::Send(req) => source.spawn(req, fetch_tx.clone()),
                fetch::Output::Data { stream, data } => {
                    actions.push(PipeAction::Data(stream, data))
                }
                fetch::Output::End { stream } => actions.push(PipeAction::End(stream)),
                fetch::Output::Failed { stream, error } => {
                    actions.push(PipeAction::Fail(stream, error.to_string()));
                    fetch_error = Some(error);
                }
                fetch::Output::Retrying {
                    what,
                    attempt,
                    delay,
                    reason,
                } => {
                    source_retries += 1;
                    let e = push::Event::Retrying {
                        what,
                        attempt,
                        delay,
                        reason,
                    };
                    history.push_event(&e);
                    display.event(&e);
                }
                _ => {}
            }
        }
        for action in actions {
            match action {
                PipeAction::Data(stream, data) => {
                    let gone = match pipes.get(&stream) {
                        Some(tx) => tx.send(Ok(data)).await.is_err(),
                        None => false,
                    };
                    if gone {
                        pipes.remove(&stream);
                        fetch.close(stream);
                    }
                }
                PipeAction::End(stream) => {
                    pipes.remove(&stream);
                }
                PipeAction::Fail(stream, message) => {
                    if let Some(tx) = pipes.remove(&stream) {
                        let _ = tx.send(Err(message)).await;
                    }
                }
            }
        }
        let deadline = [push.poll_timeout(), fetch.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let from_push = async { push_rx.recv().await.map(Wake::Push).unwrap_or(Wake::Timer) };
        let from_fetch = async {
            fetch_rx
                .recv()
                .await
                .map(Wake::Fetch)
                .unwrap_or(Wake::Timer)
        };
        let stop = async {
            crate::interrupt::interrupted().await;
            Wake::Interrupt
        };
        let next = from_push.or(from_fetch).or(stop);
        let wake = match deadline {
            Some(d) => {
                let wait = d.saturating_since(now());
                next.or(async {
                    async_io::Timer::after(wait).await;
                    Wake::Timer
                })
                .await
            }
            None => next.await,
        };
        let t = now();
        match wake {
            Wake::Push(m) => {
                if let Err(tug_core::Misuse::UnknownRequest(id)) = feed(&mut push, m, t) {
                    transport.drop_request(id);
                }
            }
            Wake::Fetch(m) => {
                if let Err(tug_core::Misuse::UnknownRequest(id)) = feed(&mut fetch, m, t) {
                    source.drop_request(id);
                }
            }
            Wake::Timer => {
                let _ = push.handle_input(t, tug_core::Input::Timeout);
                let _ = fetch.handle_input(t, tug_core::Input::Timeout);
            }
            Wake::Interrupt => {
                push.cancel();
                fetch.cancel();
            }
        }
    }
}

/// The reading end of a pipe from the fetch to an upload body.
struct PipeReader {
    rx: Receiver<Result<Vec<u8>, String>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv_blocking() {
                Ok(Ok(data)) => {
                    self.buf = data;
                    self.pos = 0;
                }
                Ok(Err(message)) => return Err(io::Error::other(message)),
                Err(_) => return Ok(0), // the stream ended
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
