//! `tug push SOURCE TARGET`: resolve the image file, then drive the core's push.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant as Clock;

use tug_core::archive::{ArchiveError, BlobSpec, ManifestBytes, ResolvedImage, Selection};
use tug_core::push::{
    Event, Output, PlanBlob, PlanManifest, Push, PushConfig, PushPlan, PushReport, ResumableUpload,
};
use tug_core::{Digest, Instant, Reference};

use crate::blob_places::{BlobPlaces, Landed};
use crate::cli::PushArgs;
use crate::compress::cache::CompressCache;
use crate::compress::codec;
use crate::compress::phase::compress_layers;
use crate::compress::plan::{plain_of, CompressedImages, PlainLayers};
use crate::compress::status::show_summary;
use crate::compress::stream::{self, Ended, OnEnd, StreamedLayer};
use crate::config::{Origin, Settings};
use crate::credentials;
use crate::driver::drive_with;
use crate::exit_code::CliError;
use crate::history::Recorder;
use crate::output::{errln, outln, plural};
use crate::progress::{bytes, done_line, Display, ProgressMode, Totals};
use crate::push_bodies::{BlobSource, PushBodies};
use crate::source::{Source, SourceSpec};
use crate::transport::Transport;
use crate::upload_state::UploadState;

pub fn run(args: PushArgs, mut settings: Settings, history: &mut Recorder) -> Result<(), CliError> {
    let origin = Clock::now();
    let target = Reference::parse_registry(&args.target)
        .and_then(|t| t.check_target().map(|()| t))
        .map_err(|e| CliError::Usage(format!("target: {e}")))?;
    settings.apply_flags(&args.transfer);
    settings.apply_flags(&args.upload);
    settings.apply_flags(&args.registry.connect);
    args.result.apply(&mut settings)?;
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    if args.dry_run {
        history.dry_run();
    }
    let mut spec = SourceSpec::parse(&args.source);
    let from_stdin = crate::source::names_stdin(&spec.path);
    if from_stdin {
        // Before `--password-stdin` could read the image as a password.
        crate::stdin::take_for(crate::source::STDIN_IMAGE).map_err(CliError::Usage)?;
    }
    let credentials = credentials::for_registries(
        &args.registry.credentials,
        &target.registry,
        &[&credentials::scope(&target)],
    )?
    .pop()
    .flatten();
    let mut from_store = false;
    let store_prefixed = args.source.strip_prefix(tug_core::place::STORE_PREFIX);
    let source_text = store_prefixed.unwrap_or(&args.source);
    // A store image's name: `store:NAME` as `tug copy` spells it, an image reference, or
    // a name that is neither a path nor a reference (an OCI `ref.name`, `Release_1`).
    // (A file transport names a file: `docker-archive:x.tar` is no store image.)
    let file_transport = tug_core::place::FileKind::of_prefixed(&args.source).is_some();
    let store_name = store_prefixed.is_some()
        || !file_transport
            && !tug_core::place::looks_like_path(source_text)
            && (source_text.parse::<Reference>().is_ok() || !source_text.contains('/'));
    if !spec.path.exists() && spec.image.is_none() && !from_stdin && store_name {
        // Not a file: an image of the local store, by name.
        spec = SourceSpec {
            path: crate::commands::pull::store_dir(args.store.as_deref()),
            image: Some(source_text.to_owned()),
        };
        from_store = true;
        // A number names a position in a file (`:@N`, `--image N`), never a store image:
        // `04` is neither a name tug images shows nor a digest prefix long enough.
        let plain_number =
            !source_text.is_empty() && source_text.bytes().all(|b| b.is_ascii_digit());
        if plain_number && source_text.len() < tug_core::archive::MIN_DIGEST_PREFIX {
            return Err(CliError::Input(format!(
                "{source_text}: no such file, and a store image is named by its name or by at \
                 least {} characters of its digest (tug images lists them)",
                tug_core::archive::MIN_DIGEST_PREFIX
            )));
        }
        if let Some(image) = &args.image {
            // `--image` chooses among a file's images: with no such file, a typo's.
            return Err(CliError::Input(format!(
                "{}: no such file (--image {image} chooses among the images of a file; an \
                 image of the store is named by itself: tug push NAME TARGET)",
                args.source
            )));
        }
    }
    // A name that is neither a file nor in the store: say both, the file first.
    let neither = |e: &dyn std::fmt::Display| {
        CliError::Input(format!(
            "{}: no such file, nor an image of that name in the store {} ({e})",
            args.source,
            spec.path.display()
        ))
    };
    let source = match Source::open(&spec.path) {
        Err(e) if from_store => return Err(neither(&e)),
        other => other?,
    };
    let wanted = spec.wanted(args.image.as_deref())?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<tug_core::Platform>)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let contents = &source.contents;
    let selection = match &platform {
        Some(p) => contents.select_for_platform(wanted, p),
        None => contents.select_for_push(wanted),
    }
    .map_err(|e| match (from_store, &e) {
        // Not in the store either: say both. Found, but several: say which.
        (true, ArchiveError::ImageNotFound { .. }) if platform.is_none() => neither(&e),
        (true, _) => CliError::Input(format!("the store {}: {e}", source.path.display())),
        (false, _) => CliError::Input(format!("{}: {e}", source.path.display())),
    })?;
    let (images, index) = (selection.images(), selection.index());
    crate::layer_check::check_layers(&source, images)?;
    let how = match settings.compress.value.codec() {
        Some(chosen) => {
            let level = &settings.compress_level;
            Some(
                codec::Settings::new(chosen, level.value).map_err(|e| match &level.origin {
                    Origin::Flag(_) => CliError::Usage(e),
                    other => CliError::Input(format!("{e} ({other})")),
                })?,
            )
        }
        // A level in the config file or environment waits for a codec; a flag alone is a
        // mistake.
        None if matches!(settings.compress_level.origin, Origin::Flag(_)) => {
            return Err(CliError::Usage(format!(
                "a compression level ({}) needs --compress gzip|zstd",
                settings.compress_level.origin
            )))
        }
        None => None,
    };
    let cache = CompressCache::new();
    // Layers to compress now are compressed while they are sent; a dry run, which sends
    // nothing, and a push of layers all remembered compress (or recall) first.
    let alongside = how
        .filter(|_| !args.dry_run)
        .map(|how| PlainLayers::new(images, how, &cache))
        .filter(|layers| layers.unknown() > 0);
    let compressed = match how {
        Some(how) if alongside.is_none() => Some(compress_layers(
            &source,
            images,
            index,
            how,
            usize::from(settings.jobs.value),
            settings.progress.value,
        )?),
        _ => None,
    };
    let selection = match &compressed {
        Some(c) => Selection::of(&c.images, c.index.as_ref())
            .ok_or_else(|| CliError::Input(format!("{}: no image", source.path.display())))?,
        None => selection,
    };
    let (images, index) = (selection.images(), selection.index());
    let selected = selection.push_plan(&target);
    let labels = selected.labels;
    // Where each blob's bytes come from; streamed: the plan indices of layers compressed
    // while they are sent, which go in under their key (known before their digest) with
    // their plain size as the estimate.
    let (ends_tx, ends) = async_channel::unbounded::<Ended>();
    let on_end: OnEnd = Arc::new(move |ended| {
        let _ = ends_tx.send_blocking(ended);
    });
    let settings_key = how.map(codec::Settings::key);
    let whereabouts = whereabouts(&source, &selected.sources);
    let mut files = Vec::new();
    let mut plan_blobs = Vec::new();
    let mut streamed = Vec::new();
    let mut streams: HashMap<Digest, Arc<StreamedLayer>> = HashMap::new();
    for (i, (b, as_is)) in selected.sources.iter().zip(selected.plan.blobs).enumerate() {
        let compressible = alongside.as_ref().filter(|_| PlainLayers::wants(b));
        let (blob, file) = if let Some(c) = compressed.as_ref().and_then(|c| c.blobs.get(&b.digest))
        {
            (as_is, BlobSource::Compressed(c.clone()))
        } else if let Some(layers) = compressible {
            match layers.known(&b.digest) {
                Some((digest, size)) => (
                    PlanBlob {
                        digest: digest.clone(),
                        size: *size,
                    },
                    BlobSource::Compressed(layers.blob(&source, b, digest.clone(), *size, &cache)),
                ),
                None => {
                    streamed.push(i);
                    let layer = streams.entry(b.digest.clone()).or_insert_with(|| {
                        let plain = plain_of(&source, b);
                        Arc::new(StreamedLayer::new(layers.settings(), plain, on_end.clone()))
                    });
                    let key = stream::key(settings_key.as_deref().unwrap_or(""), &b.digest);
                    let estimate = PlanBlob {
                        digest: key,
                        size: b.size,
                    };
                    (estimate, BlobSource::Streamed(layer.clone()))
                }
            }
        } else {
            (as_is, BlobSource::File(source.blob_file(&b.location)))
        };
        plan_blobs.push(blob);
        files.push(file);
    }
    drop(on_end);
    // With streamed layers, the manifests are placeholders until the last one ends.
    let plan = PushPlan {
        blobs: plan_blobs,
        streamed,
        ..selected.plan
    };
    let (tls, registry) = settings.connection(&target, &args.registry, credentials);
    let config = PushConfig {
        registry,
        transfer: settings.transfer(),
        monolithic_max: settings.monolithic_max.value,
        chunk_size: settings.chunk_size.value.max(1),
        dry_run: args.dry_run,
    };
    let transport_sources = files.clone();
    let transport =
        Transport::new(&tls, PushBodies(files)).map_err(|e| CliError::Input(e.to_string()))?;
    let progress = settings.progress.value;
    let mode = if args.dry_run && progress != ProgressMode::Json {
        ProgressMode::None
    } else {
        progress
    };
    let display = RefCell::new(Display::new(mode, labels.clone()));
    if display.borrow().is_human() {
        let what = match index {
            Some(_) => {
                let attestations = images.iter().filter(|i| i.attestation).count();
                let platforms = images.len() - attestations;
                match attestations {
                    0 => plural(platforms, "platform"),
                    n => format!(
                        "{}, {}",
                        plural(platforms, "platform"),
                        plural(n, "attestation")
                    ),
                }
            }
            None => plural(images[0].layers.len(), "layer"),
        };
        // An image of the store is named by its name, not by the store's directory.
        let (shown, format) = match from_store {
            true => (args.source.clone(), "the store".to_owned()),
            false => (source.path.display().to_string(), source.describe_format()),
        };
        errln!(
            "Pushing {shown} ({format}, {what}, {}) to {target}",
            bytes(plan.blobs.iter().map(|b| b.size).sum())
        );
    }
    let uploads = UploadState::of(&target);
    let mut plan = plan;
    // Only this push's blobs' sessions (by digest, or by key while compressed).
    let mut keys: Vec<Digest> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
    if let Some(k) = &settings_key {
        keys.extend(transport_sources.iter().filter_map(|s| match s {
            BlobSource::Compressed(c) => Some(stream::key(k, c.plain_digest())),
            _ => None,
        }));
    }
    plan.resume = uploads.resumable_for(&keys);
    plan.mount_sources = BlobPlaces::new().at(&target.registry);
    let aliases = match &settings_key {
        Some(k) => resume_by_digest(&mut plan, &transport_sources, k),
        None => HashMap::new(),
    };
    let push = Push::new(plan.clone(), config, Instant::ZERO);
    let failure: RefCell<Option<CliError>> = RefCell::new(None);
    // Blobs the target repository holds now: where a later push mounts them from.
    let landed = RefCell::new(Landed::new(&target));
    // A dry run's missing blobs a push would ask to mount, and where from.
    let mountable: RefCell<HashMap<Digest, String>> = RefCell::new(HashMap::new());
    let drain = |push: &mut Push, io: &crate::driver::Io<'_>| {
        let mut display = display.borrow_mut();
        while let Some(output) = push.poll() {
            match output {
                Output::Send(req) => io.send(req),
                Output::Abort(id) => io.abort(id),
                Output::Event(e) => {
                    keep_upload_state(&uploads, &aliases, &e);
                    landed.borrow_mut().note(e.landed());
                    if let Event::BlobMissing {
                        digest,
                        mount_from: Some(from),
                        ..
                    } = &e
                    {
                        mountable.borrow_mut().insert(digest.clone(), from.clone());
                    }
                    history.push_event(&e);
                    if let Event::Concurrency(c) = &e {
                        crate::verbose::concurrency(c, display.mode() == ProgressMode::Json);
                    }
                    display.event(&e);
                }
                Output::Timeout(at) => io.wake_at(at),
                Output::Finished(result) => return Some(result),
            }
        }
        None
    };
    let started = Clock::now();
    let mut rewrite = alongside.map(|layers| Rewrite {
        layers,
        source: &source,
        images,
        index,
        cache: &cache,
        left: streams.len(),
    });
    let on_end = |push: &mut Push, ended: Ended| {
        let _ = push.handle_blob_end(ended.blob, ended.digest.clone(), ended.size);
        let Some(rewrite) = rewrite.as_mut() else {
            return;
        };
        match rewrite.ended(&ended) {
            Ok(None) => {}
            Ok(Some((manifest, children, done))) => {
                let how = rewrite.layers.settings();
                show_summary(&mut display.borrow_mut(), how, &done, started.elapsed());
                let _ = push.handle_manifests(manifest, children);
            }
            Err(e) => {
                *failure.borrow_mut() = Some(e);
                push.cancel();
            }
        }
    };
    let ends = (!streams.is_empty()).then_some(ends);
    let result = smol::block_on(drive_with(push, origin, &transport, ends, on_end, drain));
    landed.into_inner().keep(result.is_ok());
    let mut display = display.into_inner();
    display.finish();
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    if let Err(tug_core::Error::Cancelled) = &result {
        errln!(
            "tug: push cancelled; run the same command again to go on (blobs already in the registry are not sent again)"
        );
    }
    let report = result.map_err(|e| name_the_file(e, &whereabouts))?;
    history.push_report(&report);
    // What compressing cost: plain bytes fed to compressors (a resumed or retried layer
    // again from its start) and compressed bytes made.
    let work = how.map(|_| crate::compress::blob::work());
    if let Some((plain, made)) = work {
        crate::verbose::note(&format!(
            "compression: {plain} plain bytes compressed into {made} bytes"
        ));
    }
    let mountable = mountable.into_inner();
    let outcome = Outcome {
        report: &report,
        compression: work,
        mountable: &mountable,
    };
    print_result(&args, progress, &target, &plan, &labels, &outcome);
    if !args.dry_run {
        args.result.write_digest(&report.manifest_digest)?;
    }
    Ok(())
}

/// Where each blob of the source is, by digest, for messages: a tar entry of the file, or a
/// file of the layout.
fn whereabouts(source: &Source, blobs: &[&BlobSpec]) -> HashMap<Digest, String> {
    let path = source.path.display().to_string();
    blobs
        .iter()
        .map(|b| (b.digest.clone(), b.location.describe(&path)))
        .collect()
}

/// A blob whose bytes are not what its digest says, named by where it is in the source.
fn name_the_file(e: tug_core::Error, whereabouts: &HashMap<Digest, String>) -> tug_core::Error {
    match e {
        tug_core::Error::DigestMismatch {
            what,
            expected,
            actual,
        } => tug_core::Error::DigestMismatch {
            what: match whereabouts.get(&expected) {
                Some(place) => format!("{what} ({place})"),
                None => what,
            },
            expected,
            actual,
        },
        e => e,
    }
}

/// What a push of layers compressed while they are sent does as each one ends: remembers
/// its digest, and once every one is known, rewrites the manifests to name them.
struct Rewrite<'a> {
    layers: PlainLayers,
    source: &'a Source,
    images: &'a [ResolvedImage],
    index: Option<&'a ManifestBytes>,
    cache: &'a CompressCache,
    /// Layers whose end is still to come.
    left: usize,
}

impl Rewrite<'_> {
    /// Layer `ended` is known: once it is the last, the manifests (the root, the children)
    /// and what was compressed.
    fn ended(
        &mut self,
        ended: &Ended,
    ) -> Result<Option<(PlanManifest, Vec<PlanManifest>, CompressedImages)>, CliError> {
        if self.layers.known(&ended.plain).is_some() {
            return Ok(None);
        }
        self.layers
            .learned(&ended.plain, ended.digest.clone(), ended.size, self.cache);
        self.left -= 1;
        if self.left > 0 {
            return Ok(None);
        }
        let done = self
            .layers
            .finish(self.source, self.images, self.index, self.cache)?;
        let (manifest, children) = Selection::of(&done.images, done.index.as_ref())
            .ok_or_else(|| CliError::Input("the compressed image has no manifest".into()))?
            .manifests();
        Ok(Some((manifest, children, done)))
    }
}

/// Keeps open upload sessions for a later run, and forgets them once their blob is in
/// (and the key it was kept under while its digest was unknown, from `aliases`).
fn keep_upload_state(uploads: &UploadState, aliases: &HashMap<Digest, Digest>, event: &Event) {
    uploads.keep(event);
    if let Event::UploadSessionClosed { digest, .. } = event {
        if let Some(key) = aliases.get(digest) {
            uploads.forget(key);
        }
    }
}

/// A layer whose compressed bytes all went out in an interrupted run has its digest
/// remembered now, while its session is kept under the key it went by then: resume that
/// session under the digest. The aliases (digest → key) it made.
fn resume_by_digest(
    plan: &mut PushPlan,
    sources: &[BlobSource],
    settings_key: &str,
) -> HashMap<Digest, Digest> {
    let mut aliases = HashMap::new();
    for (blob, source) in plan.blobs.iter().zip(sources) {
        let BlobSource::Compressed(c) = source else {
            continue;
        };
        let key = stream::key(settings_key, c.plain_digest());
        let kept = plan.resume.iter().find(|r| r.digest == key).cloned();
        if let Some(r) = kept {
            if !plan.resume.iter().any(|r| r.digest == blob.digest) {
                aliases.insert(blob.digest.clone(), key);
                plan.resume.push(ResumableUpload {
                    digest: blob.digest.clone(),
                    ..r
                });
            }
        }
    }
    aliases
}

/// What a finished push did, as shown: the core's report and (with `--compress`) the plain
/// bytes compressed and the compressed bytes made.
struct Outcome<'a> {
    report: &'a PushReport,
    compression: Option<(u64, u64)>,
    /// A dry run's missing blobs a push would ask to mount, and where from.
    mountable: &'a HashMap<Digest, String>,
}

fn print_result(
    args: &PushArgs,
    progress: ProgressMode,
    target: &Reference,
    plan: &PushPlan,
    labels: &[String],
    outcome: &Outcome<'_>,
) {
    let Outcome {
        report,
        compression,
        mountable,
    } = *outcome;
    let pushed = format!(
        "{}/{}@{}",
        target.registry, target.repository, report.manifest_digest
    );
    if progress == ProgressMode::Json {
        let mut v = report.json(&target.to_string());
        v["dry_run"] = serde_json::json!(args.dry_run);
        if let Some((plain, made)) = compression {
            v["compression"] =
                serde_json::json!({ "plain_bytes": plain, "compressed_bytes": made });
        }
        outln!("{v}");
        return;
    }
    if args.dry_run {
        outln!("Plan for {target} (dry run, nothing uploaded):");
        // Each blob once, as it is sent once, with the other places it is used.
        for (i, blob) in plan.blobs.iter().enumerate() {
            if plan.blobs[..i].iter().any(|b| b.digest == blob.digest) {
                continue;
            }
            let missing = report.blobs_missing.contains(&blob.digest);
            let state = match (missing, mountable.get(&blob.digest)) {
                (true, Some(_)) => "mount",
                (true, None) => "upload",
                (false, _) => "exists",
            };
            let also: Vec<&str> = plan
                .blobs
                .iter()
                .zip(labels)
                .skip(i + 1)
                .filter(|(b, _)| b.digest == blob.digest)
                .map(|(_, label)| label.as_str())
                .collect();
            let mut also = match also.is_empty() {
                true => String::new(),
                false => format!(" (also {})", also.join(", ")),
            };
            if let (true, Some(from)) = (missing, mountable.get(&blob.digest)) {
                also.push_str(&format!(" from {from}, else upload"));
            }
            outln!(
                "  {state:6} {:12} {} {}{also}",
                labels[i],
                blob.digest,
                bytes(blob.size)
            );
        }
        let missing: u64 = plan
            .blobs
            .iter()
            .filter(|b| report.blobs_missing.contains(&b.digest))
            .map(|b| b.size)
            .sum();
        outln!(
            "  then   manifest     {} ({})",
            report.manifest_digest,
            plan.manifest.media_type
        );
        let mounts = match mountable.len() {
            0 => String::new(),
            n => format!(", {n} of them to mount first"),
        };
        outln!(
            "{} of {} blobs to upload ({}){mounts}",
            report.blobs_missing.len(),
            report.blobs_missing.len() + report.blobs_skipped,
            bytes(missing)
        );
        return;
    }
    // People read standard error; standard output is the one line scripts take.
    if progress != ProgressMode::None {
        errln!("{}", done_line(&Totals::of_push("Pushed", report)));
        errln!("{target}");
    }
    outln!("{pushed}");
}
