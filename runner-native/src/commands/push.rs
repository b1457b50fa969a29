//! `tug push SOURCE TARGET`: resolve the image file, then drive the core's push.

use std::time::Instant as Clock;

use tug_core::archive::Selection;
use tug_core::push::{
    Event, Output, PlanBlob, PlanManifest, Push, PushConfig, PushPlan, PushReport,
};
use tug_core::retry::RetryPolicy;
use tug_core::{Instant, Reference, Scheme};

use crate::cli::PushArgs;
use crate::credentials;
use crate::driver::drive;
use crate::exit_code::CliError;
use crate::progress::{bytes, Display, ProgressMode};
use crate::source::{Source, SourceSpec};
use crate::transport::{TlsOptions, Transport};
use crate::upload_state::UploadState;

pub fn run(args: PushArgs) -> Result<(), CliError> {
    let origin = Clock::now();
    let target: Reference = args
        .target
        .parse()
        .map_err(|e| CliError::Usage(format!("target: {e}")))?;
    let credentials = credentials::for_registries(&args.registry, &[&target.registry])?
        .pop()
        .flatten();
    let mut spec = SourceSpec::parse(&args.source);
    if !spec.path.exists() && spec.image.is_none() && args.source.parse::<Reference>().is_ok() {
        // Not a file: an image of the local store, by name.
        spec = SourceSpec {
            path: crate::commands::pull::store_dir(args.store.as_deref()),
            image: Some(args.source.clone()),
        };
    }
    let source = Source::open(&spec.path)?;
    let wanted = args.image.as_deref().or(spec.image.as_deref());
    let selection = source
        .contents
        .select_for_push(wanted)
        .map_err(|e| CliError::Input(format!("{}: {e}", source.path.display())))?;
    let (images, index) = match selection {
        Selection::Image(img) => (std::slice::from_ref(img), None),
        Selection::Index { index, images } => (images, Some(index)),
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
        .map(|b| source.blob_file(&b.location))
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
        children: match index {
            Some(_) => images
                .iter()
                .map(|img| plan_manifest(&img.manifest))
                .collect(),
            None => Vec::new(),
        },
    };
    let scheme = if args.registry.plain_http {
        Scheme::Http
    } else if target.is_loopback() {
        Scheme::HttpsThenHttp
    } else {
        Scheme::Https
    };
    let config = PushConfig {
        scheme,
        credentials,
        jobs: usize::from(args.jobs),
        monolithic_max: args.monolithic_max,
        chunk_size: args.chunk_size.max(1),
        retry: RetryPolicy {
            max_attempts: args.retries.max(1),
            budget: args.retry_max_wait.map(std::time::Duration::from_secs),
            ..RetryPolicy::default()
        },
        dry_run: args.dry_run,
        ..PushConfig::default()
    };
    let tls = TlsOptions::from_args(&args.registry);
    let transport = Transport::new(&tls, files).map_err(|e| CliError::Input(e.to_string()))?;
    let mode = if args.dry_run && args.progress != ProgressMode::Json {
        ProgressMode::None
    } else {
        args.progress
    };
    let mut display = Display::new(mode, labels.clone());
    if mode != ProgressMode::Json && mode != ProgressMode::None {
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
    print_result(&args, &target, &plan, &labels, &report);
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
    target: &Reference,
    plan: &PushPlan,
    labels: &[String],
    report: &PushReport,
) {
    let pushed = format!(
        "{}/{}@{}",
        target.registry, target.repository, report.manifest_digest
    );
    if args.progress == ProgressMode::Json {
        let v = serde_json::json!({
            "event": "done",
            "dry_run": args.dry_run,
            "reference": target.to_string(),
            "digest": report.manifest_digest,
            "blobs_uploaded": report.blobs_uploaded,
            "blobs_skipped": report.blobs_skipped,
            "blobs_missing": report.blobs_missing,
            "bytes_uploaded": report.bytes_uploaded,
            "bytes_skipped": report.bytes_skipped,
            "retries": report.retries,
            "elapsed_ms": report.elapsed.as_millis() as u64,
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
    eprintln!(
        "Pushed {} blobs ({}), {} already present ({}), in {:.1} s",
        report.blobs_uploaded,
        bytes(report.bytes_uploaded),
        report.blobs_skipped,
        bytes(report.bytes_skipped),
        report.elapsed.as_secs_f64()
    );
    println!("{target}");
    println!("{pushed}");
}
