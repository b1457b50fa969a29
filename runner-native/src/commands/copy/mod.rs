//! `tug copy SRC DST`: between any two places ([`between`]); registry to registry, driven by the core's [`Copy`]: the source's
//! manifests are read first (its mirror's, if the config names one), then every upload body
//! of the push to the target is a stream of bytes the core reads from the source and hands
//! over piece by piece — from one socket to the other, never to disk, with bounded buffers
//! in between. What is attached to the image (its referrers) comes after it, in the same
//! copy ([`CopyPlan::referrers`]).

mod between;
mod pipes;

use std::time::Instant as Clock;

use futures_lite::FutureExt as _;
use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource, Event, Output, Side};
use tug_core::http::Body;
use tug_core::push::{self, PushReport};
use tug_core::referrers::Known;
use tug_core::{Error, Instant, Platform, Reference};

use crate::blob_places::{BlobPlaces, Landed};
use crate::cli::CopyArgs;
use crate::config::Settings;
use crate::credentials;
use crate::driver::feed;
use crate::exit_code::CliError;
use crate::history::Recorder;
use crate::output::{errln, outln};
use crate::progress::{bytes, done_line, Display, ProgressMode, Totals};
use crate::transport::{Message, NoBodies, Transport};
use crate::upload_state::UploadState;
use pipes::Pipes;

pub fn run(args: CopyArgs, mut settings: Settings, history: &mut Recorder) -> Result<(), CliError> {
    let origin = Clock::now();
    let (src, dst) = match between::route(&args)? {
        between::Route::Registries(src, dst) => (src, dst),
        between::Route::Places(src, dst) => {
            return between::run((src, dst), args, settings, history)
        }
    };
    settings.apply_flags(&args.transfer);
    settings.apply_flags(&args.chunks);
    settings.apply_flags(&args.registry.connect);
    args.result.apply(&mut settings)?;
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    let mirror = settings.mirror_for(&src, &args.registry);
    let sources: Vec<Reference> = mirror.into_iter().chain([src.clone()]).collect();
    // One look-up for every registry (`--password-stdin` can be read only once), by
    // repository: a stored key naming a namespace applies only under it.
    let scopes: Vec<String> = sources
        .iter()
        .chain([&dst])
        .map(credentials::scope)
        .collect();
    let registries: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let mut creds = side_credentials(&args, (&src, &dst), &registries)?;
    let dst_credentials = creds.pop().flatten();
    let input = |e: anyhow::Error| CliError::Input(e.to_string());
    // Each side has its own TLS settings (a registry's config table), so its own transport.
    let mut transports = Vec::new();
    let mut copy_sources = Vec::new();
    for (i, (reference, credentials)) in sources.iter().zip(creds).enumerate() {
        let (tls, config) = settings.connection(reference, &args.registry, credentials);
        // A mirror gives way to the source rather than retrying.
        let config = match i + 1 < sources.len() {
            true => config.for_mirror(),
            false => config,
        };
        transports.push(Transport::new(&tls, NoBodies).map_err(input)?);
        copy_sources.push(CopySource {
            reference: reference.clone(),
            config,
        });
    }
    let (dst_tls, target_config) = settings.connection(&dst, &args.registry, dst_credentials);
    let target = Transport::new(&dst_tls, NoBodies).map_err(input)?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let plan = CopyPlan {
        sources: copy_sources,
        target: dst.clone(),
        target_config,
        platform,
        resume: UploadState::of(&dst).resumable(),
        referrers: args.referrers.enabled().then(Known::default),
    };
    let config = CopyConfig {
        transfer: settings.transfer(),
        chunk_size: settings.chunk_size.value,
    };
    let known = BlobPlaces::new().at(&dst.registry);
    let copy = Copy::new(plan, config, Instant::ZERO).mounting_known(known);
    let mut display = Display::new(settings.progress.value, Vec::new());
    let sides = Sides::new(&transports, &target);
    let result = smol::block_on(run_copy(
        copy,
        origin,
        &sides,
        (&src, &dst),
        &mut display,
        history,
    ));
    display.finish();
    if let Err(Error::Cancelled) = &result {
        errln!(
            "tug: copy cancelled; run the same command again to go on (blobs already at the \
             target are not sent again, open uploads go on where they stopped)"
        );
    }
    let report = result?.report;
    history.push_report(&report);
    let mode = display.mode();
    if mode == ProgressMode::Json {
        let v = report.json(&dst.to_string());
        outln!("{v}");
    } else {
        // People read standard error; standard output is the one line scripts take.
        if mode != ProgressMode::None {
            errln!("{}", done_line(&Totals::of_push("Copied", &report)));
            errln!("{dst}");
        }
        outln!(
            "{}/{}@{}",
            dst.registry,
            dst.repository,
            report.manifest_digest
        );
    }
    args.result.write_digest(&report.manifest_digest)?;
    Ok(())
}

/// The credentials of each registry of `registries` (the sources, mirrors first, then the
/// target). Flag credentials go only to the registry they are for: `--src-creds` to the
/// source (never its mirror), `--dest-creds` or `-u`/`TUG_*` to the target (and to the
/// source when both are one registry); every other registry gets what is stored for it.
fn side_credentials(
    args: &CopyArgs,
    (src, dst): (&Reference, &Reference),
    registries: &[&str],
) -> Result<Vec<Option<tug_core::Credentials>>, CliError> {
    let (src_given, dst_given) =
        credentials::sides_from_args(&args.sides, &args.registry.credentials)?;
    let mut creds = credentials::stored_for(registries)?;
    let same_registry = credentials::registry_matches(&src.registry, &dst.registry);
    let src_own = src_given.or_else(|| dst_given.clone().filter(|_| same_registry));
    // The source itself comes after its mirror, just before the target.
    let (source_at, target_at) = (registries.len() - 2, registries.len() - 1);
    if let Some(c) = src_own {
        creds[source_at] = Some(c);
    }
    if let Some(c) = dst_given {
        creds[target_at] = Some(c);
    }
    Ok(creds)
}

/// The transport of each side: every source's, and the target's.
pub(crate) struct Sides<'a> {
    pub(crate) sources: &'a [Transport],
    pub(crate) target: &'a Transport,
}

impl<'a> Sides<'a> {
    /// The transports, no source asked yet.
    pub(crate) fn new(sources: &'a [Transport], target: &'a Transport) -> Sides<'a> {
        Sides { sources, target }
    }

    fn of(&self, side: Side) -> &Transport {
        match side {
            Side::Source(i) => self.sources.get(i).unwrap_or(self.target),
            Side::Target => self.target,
        }
    }
}

/// What woke the copy loop.
enum Wake {
    Message(Message),
    /// An upload took bytes from a full pipe.
    Room,
    Timer,
    Interrupt,
}

/// What a copy did.
pub(crate) struct Copied {
    /// The image's push to the target.
    pub(crate) report: PushReport,
    /// Whether the source answered the referrers API, if the copy asked.
    pub(crate) referrers_api: Option<bool>,
}

/// Runs `copy` from one source to `target` with nothing shown and no history of its own:
/// a part of a bigger command (one of a sync's images), which shows and keeps its own.
pub(crate) async fn run_copy_quietly(
    copy: Copy,
    (source, target): (&Transport, &Transport),
    names: (&Reference, &Reference),
) -> Result<Copied, Error> {
    let sides = Sides::new(std::slice::from_ref(source), target);
    let mut display = Display::new(ProgressMode::None, Vec::new());
    let mut scratch = Recorder::new("copy", "", "");
    run_copy(
        copy,
        Clock::now(),
        &sides,
        names,
        &mut display,
        &mut scratch,
    )
    .await
}

/// Drives the copy: sends each request on its side's transport, pipes the source's bytes
/// into upload bodies (bounded: a full pipe holds the source back, never the target — see
/// [`pipes`]), shows the events, and feeds every response, error and timer (the one its
/// drain's `Timeout` names) back in.
pub(crate) async fn run_copy(
    mut copy: Copy,
    origin: Clock,
    sides: &Sides<'_>,
    (src, dst): (&Reference, &Reference),
    display: &mut Display,
    history: &mut Recorder,
) -> Result<Copied, Error> {
    let now = || Instant::from_duration(origin.elapsed());
    // Each side answers on its own channel, so the source can be held back alone.
    let (src_tx, src_rx) = async_channel::bounded::<Message>(crate::transport::QUEUE);
    let (dst_tx, dst_rx) = async_channel::bounded::<Message>(crate::transport::QUEUE);
    let mut pipes = Pipes::new();
    // Its upload sessions are kept as a push's are, so a copy run again resumes them.
    let uploads = UploadState::of(dst);
    // Blobs the target repository holds now, recorded when the copy ends.
    let mut landed = Landed::new(dst);
    // The timer the last drain named; an input clears it (the drain after it names it again).
    let mut timer = None;
    let mut stopping = false;
    let mut referrers_api = None;
    let mut referrers_started = false;
    loop {
        while let Some(output) = copy.poll() {
            match output {
                Output::Send(side, req) => {
                    let tx = match side {
                        Side::Target => dst_tx.clone(),
                        Side::Source(_) => src_tx.clone(),
                    };
                    match req.body {
                        Body::BlobRange { .. } => {
                            let body = Box::new(pipes.open(req.id));
                            sides.of(side).spawn_streaming(req, body, tx);
                        }
                        _ => sides.of(side).spawn(req, tx),
                    }
                }
                Output::Abort(side, id) => sides.of(side).drop_request(id),
                Output::BodyData(id, data) => pipes.data(id, data),
                Output::BodyEnd(id) => pipes.end(id),
                Output::BodyFailed(id, message) => pipes.fail(id, message),
                Output::Event(e) => {
                    match &e {
                        Event::Push(e) => {
                            uploads.keep(e);
                            landed.note(e.landed());
                        }
                        Event::ReferrersCarried { api, .. } => referrers_api = Some(*api),
                        Event::ReferrersStarted { .. } => referrers_started = true,
                        _ => {}
                    }
                    show(e, (src, dst), display, history)
                }
                Output::Timeout(at) => timer = Some(at),
                Output::Finished(result) => {
                    if result.is_err() && referrers_started && display.is_human() {
                        errln!(
                            "tug: note: the image itself was copied; what is attached to it \
                             (its referrers) was not all copied (--no-referrers copies the \
                             image alone)"
                        );
                    }
                    landed.keep(result.is_ok());
                    return result.map(|report| Copied {
                        report,
                        referrers_api,
                    });
                }
            }
        }
        // A stop is seen at once even while a side always has a message ready (the stop
        // below, polled after the messages, only wakes an idle loop).
        if !stopping && crate::interrupt::requested() {
            stopping = true;
            copy.wind_down();
            continue;
        }
        let message = |rx: &async_channel::Receiver<Message>| {
            let rx = rx.clone();
            async move { rx.recv().await.map(Wake::Message).unwrap_or(Wake::Timer) }
        };
        let stop = async {
            match stopping {
                true => std::future::pending().await,
                false => crate::interrupt::interrupted().await,
            }
            Wake::Interrupt
        };
        let next = message(&dst_rx).or(stop);
        pipes.forget_closed();
        let wake = async {
            if pipes.backlogged() {
                next.or(async {
                    pipes.room().await;
                    Wake::Room
                })
                .await
            } else {
                next.or(message(&src_rx)).await
            }
        };
        let wake = match timer {
            Some(d) => {
                let wait = d.saturating_since(now());
                wake.or(async {
                    async_io::Timer::after(wait).await;
                    Wake::Timer
                })
                .await
            }
            None => wake.await,
        };
        let t = now();
        if !matches!(wake, Wake::Room) {
            timer = None;
        }
        match wake {
            Wake::Message(m) => feed(&mut copy, m, t),
            // Nothing acted on the copy: the timer stays, the source may be read again.
            Wake::Room => {}
            Wake::Timer => {
                let _ = copy.handle_input(t, tug_core::Input::Timeout);
            }
            // The chunks on their way finish first (fed by the source's reads), so the next
            // run goes on after them; the stop is not heard again.
            Wake::Interrupt => {
                stopping = true;
                copy.wind_down();
            }
        }
    }
}

/// Shows one of the copy's events.
fn show(
    e: Event,
    (src, dst): (&Reference, &Reference),
    display: &mut Display,
    history: &mut Recorder,
) {
    match e {
        Event::MirrorSkipped { mirror, error }
            if !matches!(display.mode(), ProgressMode::Json | ProgressMode::None) =>
        {
            errln!("mirror {mirror}: {error}; copying from {}", src.registry);
        }
        Event::Planned {
            labels,
            bytes: total,
            ..
        } => {
            let blobs = labels.len();
            *display = Display::new(display.mode(), labels);
            if display.is_human() {
                errln!("Copying {src} to {dst} ({blobs} blobs, {})", bytes(total));
            }
        }
        Event::Push(e) => {
            history.push_event(&e);
            if let push::Event::Concurrency(c) = &e {
                crate::verbose::concurrency(c, display.mode() == ProgressMode::Json);
            }
            display.event(&e);
        }
        Event::ReferrerCopied {
            artifact_type,
            target,
        } if display.is_human() => {
            let what = artifact_type.as_deref().unwrap_or("artifact");
            errln!("Copied referrer {what} {target}");
        }
        Event::ReferrerMissing {
            digest,
            artifact_type,
            source,
        } if display.mode() != ProgressMode::Json => {
            let what = artifact_type.as_deref().unwrap_or("artifact");
            errln!(
                "tug: warning: referrer {what} {digest} is listed for the image but {}/{} \
                 no longer has it: not copied",
                source.registry,
                source.repository
            );
        }
        // The referrers step in JSON lines: its start, each referrer, its end.
        e @ (Event::ReferrersStarted { .. }
        | Event::ReferrerCopied { .. }
        | Event::ReferrerMissing { .. }
        | Event::ReferrersCarried { .. }) => display.json_event(e.json()),
        _ => {}
    }
}
