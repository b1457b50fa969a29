//! `tug push SOURCE TARGET`: resolve the image file, then drive the core's push.

use std::time::Instant as Clock;

use tug_core::archive::Selection;
use tug_core::push::{
    Event, Output, PlanBlob, PlanManifest, Push, PushConfig, PushPlan, PushReport,
};
use tug_core::retry::RetryPolicy;
use tug_core::{Instant, Reference};

use crate::cli::PushArgs;
use crate::compress;
use crate::compress::CompressChoice;
use crate::compress_phase::compress_layers;
use crate::config::{Origin, Settings};
use crate::credentials;
use crate::driver::drive;
use crate::exit_code::CliError;
use crate::history::Recorder;
use crate::progress::{bytes, done_line, Display, ProgressMode, Totals};
use crate::source::{Source, SourceSpec};
use crate::transport::{BlobSource, Transport};
use crate::upload_state::UploadState;

pub fn run(args: PushArgs, mut settings: Settings, history: &mut Recorder) -> Result<(), CliError> {
    let origin = Clock::now();
    let target: Reference = args
        .target
        .parse()
        .map_err(|e| CliError::Usage(format!("target: {e}")))?;
    settings.jobs.flag(args.jobs, "--jobs");
    settings.concurrency_flags(args.fixed_jobs, args.adaptive);
    settings.retries.flag(args.retries, "--retries");
    settings
        .retry_max_wait
        .flag(args.retry_max_wait.map(Some), "--retry-max-wait");
    settings.chunk_size.flag(args.chunk_size, "--chunk-size");
    settings
        .monolithic_max
        .flag(args.monolithic_max, "--monolithic-max");
    settings.progress.flag(args.progress, "--progress");
    settings
        .compress
        .flag(args.compress.map(CompressChoice::codec), "--compress");
    settings
        .compress_level
        .flag(args.compress_level.map(Some), "--compress-level");
    settings.registry_flags(&args.registry);
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    if args.dry_run {
        history.dry_run();
    }
    let credentials = credentials::for_registries(&args.registry, &[&target.registry])?
        .pop()
        .flatten();
    let mut spec = SourceSpec::parse(&args.source);
    let mut from_store = false;
    if !spec.path.exists() && spec.image.is_none() && args.source.parse::<Reference>().is_ok() {
        // Not a file: an image of the local store, by name.
        spec = SourceSpec {
            path: crate::commands::pull::store_dir(args.store.as_deref()),
            image: Some(args.source.clone()),
        };
        from_store = true;
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
    let wanted = args.image.as_deref().or(spec.image.as_deref());
    let selection = source
        .contents
        .select_for_push(wanted)
        .map_err(|e| match from_store {
            true => neither(&e),
            false => CliError::Input(format!("{}: {e}", source.path.display())),
        })?;
    let (images, index) = match selection {
        Selection::Image(img) => (std::slice::from_ref(img), None),
        Selection::Index { index, images } => (images, Some(index)),
    };
    let compressed = match settings.compress.value {
        Some(codec) => {
            let level = &settings.compress_level;
            let how =
                compress::Settings::new(codec, level.value).map_err(|e| match &level.origin {
                    Origin::Flag(_) => CliError::Usage(e),
                    other => CliError::Input(format!("{e} ({other})")),
                })?;
            Some(compress_layers(
                &source,
                images,
                index,
                how,
                usize::from(settings.jobs.value),
                settings.progress.value,
            )?)
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
    let (images, index) = match &compressed {
        Some(c) => (c.images.as_slice(), c.index.as_ref()),
        None => (images, index),
    };
    let mut blobs = Vec::new();
    let mut labels = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let prefix = if index.is_some() {
            format!("image {}/{} ", i + 1, images.len())
        } else {
            String::new()
        };
        let n = image.layers.len();
        blobs.push(&image.config);
        labels.push(format!("{prefix}config"));
        for (j, layer) in image.layers.iter().enumerate() {
            blobs.push(layer);
            labels.push(format!("{prefix}layer {}/{n}", j + 1));
        }
    }
    let files = blobs
        .iter()
        .map(
            |b| match compressed.as_ref().and_then(|c| c.blobs.get(&b.digest)) {
                Some(c) => BlobSource::Compressed(c.clone()),
                None => BlobSource::File(source.blob_file(&b.location)),
            },
        )
        .collect();
    let plan_manifest = |m: &tug_core::archive::ManifestBytes| PlanManifest {
        bytes: m.bytes.clone(),
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
    };
    let plan = PushPlan {
        registry: target.api_host().to_owned(),
        repository: target.repository.clone(),
        reference: target.manifest_ref(),
        blobs: blobs
            .iter()
            .map(|b| PlanBlob {
                digest: b.digest.clone(),
                size: b.size,
            })
            .collect(),
        manifest: match index {
            Some(index) => plan_manifest(index),
            None => plan_manifest(&images[0].manifest),
        },
        mount_from: None,
        resume: Vec::new(),
        pending: Vec::new(),
        children: match index {
            Some(_) => images
                .iter()
                .map(|img| plan_manifest(&img.manifest))
                .collect(),
            None => Vec::new(),
        },
    };
    let (tls, scheme) = settings.reach(&target, &args.registry);
    let config = PushConfig {
        scheme,
        credentials,
        jobs: usize::from(settings.jobs.value),
        adaptive: settings.adaptive.value,
        monolithic_max: settings.monolithic_max.value,
        chunk_size: settings.chunk_size.value.max(1),
        retry: RetryPolicy {
            max_attempts: settings.retries.value.max(1),
            budget: settings
                .retry_max_wait
                .value
                .map(std::time::Duration::from_secs),
            ..RetryPolicy::default()
        },
        dry_run: args.dry_run,
        ..PushConfig::default()
    };
    let transport = Transport::new(&tls, files).map_err(|e| CliError::Input(e.to_string()))?;
    let progress = settings.progress.value;
    let mode = if args.dry_run && progress != ProgressMode::Json {
        ProgressMode::None
    } else {
        progress
    };
    let mut display = Display::new(mode, labels.clone());
    if display.is_human() {
        let what = match index {
            Some(_) => format!("{} platforms", images.len()),
            None => format!("{} layers", images[0].layers.len()),
        };
        eprintln!(
            "Pushing {} ({}, {what}, {}) to {target}",
            source.path.display(),
            source.contents.format,
            bytes(plan.blobs.iter().map(|b| b.size).sum())
        );
    }
    let uploads = UploadState::new(&target.registry, &target.repository);
    let mut plan = plan;
    plan.resume = uploads.resumable();
    let push = Push::new(plan.clone(), config, Instant::ZERO);
    let result = smol::block_on(drive(push, origin, &transport, |push, io| {
        while let Some(output) = push.poll() {
            match output {
                Output::Send(req) => io.send(req),
                Output::Event(e) => {
                    keep_upload_state(&uploads, &e);
                    history.push_event(&e);
                    if let Event::Concurrency(c) = &e {
                        crate::verbose::concurrency(c, display.mode() == ProgressMode::Json);
                    }
                    display.event(&e);
                }
                Output::Finished(result) => return Some(result),
            }
        }
        None
    }));
    display.finish();
    if let Err(tug_core::Error::Cancelled) = &result {
        eprintln!(
            "tug: push cancelled; run the same command again to go on (blobs already in the registry are not sent again)"
        );
    }
    let report = result?;
    history.push_report(&report);
    print_result(
        &args,
        progress,
        &target,
        &plan,
        &labels,
        &report,
        display.peak(),
    );
    Ok(())
}

/// Keeps open upload sessions for a later run, and forgets them once their blob is in.
fn keep_upload_state(uploads: &UploadState, event: &Event) {
    match event {
        Event::UploadSession {
            digest,
            location,
            committed,
            ..
        } => uploads.record(digest, location, *committed),
        Event::BlobCommitted { digest, .. }
        | Event::BlobSkipped { digest, .. }
        | Event::BlobMounted { digest, .. } => uploads.forget(digest),
        _ => {}
    }
}

fn print_result(
    args: &PushArgs,
    progress: ProgressMode,
    target: &Reference,
    plan: &PushPlan,
    labels: &[String],
    report: &PushReport,
    peak: f64,
) {
    let pushed = format!(
        "{}/{}@{}",
        target.registry, target.repository, report.manifest_digest
    );
    if progress == ProgressMode::Json {
        let v = serde_json::json!({
            "event": "done",
            "dry_run": args.dry_run,
            "reference": target.to_string(),
            "digest": report.manifest_digest,
            "blobs_uploaded": report.blobs_uploaded,
            "blobs_skipped": report.blobs_skipped,
            "blobs_mounted": report.blobs_mounted,
            "blobs_missing": report.blobs_missing,
            "bytes_uploaded": report.bytes_uploaded,
            "bytes_skipped": report.bytes_skipped,
            "retries": report.retries,
            "elapsed_ms": report.elapsed.as_millis() as u64,
            "peak_bytes_per_second": peak,
        });
        println!("{v}");
        return;
    }
    if args.dry_run {
        println!("Plan for {target} (dry run, nothing uploaded):");
        for (i, blob) in plan.blobs.iter().enumerate() {
            let state = if report.blobs_missing.contains(&blob.digest) {
                "upload"
            } else {
                "exists"
            };
            println!(
                "  {state:6} {:12} {} {}",
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
        println!(
            "  then   manifest     {} ({})",
            report.manifest_digest, plan.manifest.media_type
        );
        println!(
            "{} of {} blobs to upload ({})",
            report.blobs_missing.len(),
            report.blobs_missing.len() + report.blobs_skipped,
            bytes(missing)
        );
        return;
    }
    if progress != ProgressMode::None {
        eprintln!(
            "{}",
            done_line(&Totals {
                verb: "Pushed",
                blobs: report.blobs_uploaded,
                bytes: report.bytes_uploaded,
                skipped: report.blobs_skipped,
                skipped_bytes: report.bytes_skipped,
                mounted: Some(report.blobs_mounted),
                retries: report.retries,
                elapsed: report.elapsed,
                peak,
            })
        );
    }
    println!("{target}");
    println!("{pushed}");
}
