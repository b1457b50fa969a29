//! `tug sync SOURCE... DEST`: every tag of the sources' repositories (filtered, and only this
//! process's `--shard`) copied to DEST. For each image the source's manifest digest and what
//! DEST serves under that tag are read (one `GET` each); equal ones are in sync and cost
//! nothing more, the rest are copied with the core's [`Copy`], one image after another (each
//! copy moves its own blobs several at a time). A failed image is reported and the rest goes
//! on. What the sources, mapping, filters and shards mean is the core's ([`tug_core::sync`]).

use std::collections::HashMap;
use std::time::Instant as Clock;

use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource};
use tug_core::listing::{ListKind, ListPlan, Listing};
use tug_core::manifest_ops::{ManifestAction, ManifestOp, ManifestPlan, ManifestReport};
use tug_core::sync::{
    decide, named_by, Decision, Destination, ImageOutcome, Named, PlannedBytes, Shard, Summary,
    SyncImage, SyncSource, TagFilter,
};
use tug_core::{Digest, ErrorClass, Instant, Platform, Reference, RegistryConfig};

use super::copy::referrers::{carry, End};
use super::copy::{run_copy, Sides};
use super::verbs;
use crate::cli::sync::SyncArgs;
use crate::config::Settings;
use crate::credentials;
use crate::exit_code::CliError;
use crate::history::{ImageRecord, Recorder};
use crate::output::{errln, outln};
use crate::progress::{Display, ProgressMode};
use crate::transport::{NoBodies, Transport};

/// How to reach one registry.
struct Side {
    transport: Transport,
    config: RegistryConfig,
}

/// One line of the plan or report: an image (or a repository that could not be listed).
struct Entry {
    source: String,
    target: String,
    outcome: ImageOutcome,
    digest: Option<Digest>,
    /// Why it failed, for the exit code.
    failure: Option<CliError>,
}

impl Entry {
    fn failed(source: String, target: String, e: CliError) -> Entry {
        Entry {
            source,
            target,
            outcome: ImageOutcome::Failed {
                error: e.to_string(),
            },
            digest: None,
            failure: Some(e),
        }
    }
}

pub fn run(args: SyncArgs, mut settings: Settings, history: &mut Recorder) -> Result<(), CliError> {
    let usage = |e: String| CliError::Usage(e);
    let (dest_text, source_texts) = args
        .places
        .split_last()
        .ok_or_else(|| usage("give SOURCE... DEST".into()))?;
    let sources = source_texts
        .iter()
        .map(|t| SyncSource::parse(t).map_err(|e| usage(format!("source {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let dest = Destination::parse(dest_text).map_err(|e| usage(format!("destination {e}")))?;
    let filter =
        TagFilter::new(&args.tags, &args.exclude_tags).map_err(|e| usage(e.to_string()))?;
    let shard = args
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(|e| usage(format!("--shard (or TUG_SHARD): {e}")))?
        .unwrap_or_default();
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| usage(e.to_string()))?;
    if args.dry_run {
        history.dry_run();
    }
    settings.apply_flags(&args.transfer);
    settings.apply_flags(&args.registry.connect);
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    let (sides, target) = reach(&args, &settings, &sources, &dest)?;

    let mut entries = Vec::new();
    let images = images(&sources, &dest, &filter, shard, &sides, &mut entries);
    if !args.json {
        entries.iter().for_each(show);
    }
    let mode = if args.json {
        ProgressMode::None
    } else {
        settings.progress.value
    };
    let config = CopyConfig {
        transfer: settings.transfer(),
        monolithic_max: settings.monolithic_max.value,
        chunk_size: settings.chunk_size.value,
    };
    let mut cancelled = None;
    let mut planned = PlannedBytes::default();
    for image in images {
        // Every image's registry is one of the sources' (the core maps them so).
        let Some(source) = sides.get(&image.source.registry) else {
            let e = CliError::Usage(format!("{}: not a source registry", image.source.registry));
            entries.push(Entry::failed(
                image.source.to_string(),
                image.target.to_string(),
                e,
            ));
            continue;
        };
        let mut entry = Entry {
            source: image.source.to_string(),
            target: image.target.to_string(),
            outcome: ImageOutcome::InSync,
            digest: None,
            failure: None,
        };
        match sync_one(
            &image,
            source,
            &target,
            platform.as_ref(),
            &config,
            args.dry_run.then_some(&mut planned),
            (mode, args.referrers.enabled()),
        ) {
            Ok((outcome, digest)) => {
                entry.outcome = outcome;
                entry.digest = Some(digest);
            }
            Err(e) if e.class() == Some(ErrorClass::Cancelled) => {
                cancelled = Some(e);
                break;
            }
            Err(e) => entry = Entry::failed(entry.source, entry.target, e),
        }
        if !args.json {
            show(&entry);
        }
        entries.push(entry);
    }

    let mut summary = Summary::default();
    for e in &entries {
        summary.add(&e.source, &e.outcome);
        history.image(ImageRecord {
            source: e.source.clone(),
            target: e.target.clone(),
            outcome: e.outcome.name().into(),
            bytes: match e.outcome {
                ImageOutcome::Copied { bytes } => bytes,
                _ => 0,
            },
            error: match &e.outcome {
                ImageOutcome::Failed { error } => Some(error.clone()),
                _ => None,
            },
        });
    }
    if args.json {
        outln!("{}", report_json(&entries, &summary, shard, args.dry_run));
    } else if mode != ProgressMode::None {
        let what = if args.dry_run { "Plan" } else { "Synced" };
        errln!("{what}: {}", summary.line());
    }
    if let Some(e) = cancelled {
        return Err(e);
    }
    failure(entries)
}

/// The transport and config of each source registry (by registry as written), and of DEST.
/// `--src-creds` goes to every source registry, `--dest-creds` (or `-u`, `TUG_*`) to DEST
/// (and to a source on the same registry when it has none of its own); every other registry
/// gets what is stored for it.
fn reach(
    args: &SyncArgs,
    settings: &Settings,
    sources: &[SyncSource],
    dest: &Destination,
) -> Result<(HashMap<String, Side>, Side), CliError> {
    let (src_given, dst_given) =
        credentials::sides_from_args(&args.sides, &args.registry.credentials)?;
    let mut registries: Vec<&str> = sources.iter().map(SyncSource::registry).collect();
    registries.sort_unstable();
    registries.dedup();
    let mut all = registries.clone();
    all.push(&dest.registry);
    let stored = credentials::for_registries(&Default::default(), &dest.registry, &all)?;
    let side = |registry: &str, creds| -> Result<Side, CliError> {
        let r = Reference::parse_registry(&format!("{registry}/sync"))
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let (tls, config) = settings.connection(&r, &args.registry, creds);
        let transport =
            Transport::new(&tls, NoBodies).map_err(|e| CliError::Input(e.to_string()))?;
        Ok(Side { transport, config })
    };
    let mut sides = HashMap::new();
    for (registry, stored) in registries.iter().zip(&stored) {
        let same = credentials::registry_matches(registry, &dest.registry);
        let creds = src_given
            .clone()
            .or_else(|| dst_given.clone().filter(|_| same))
            .or_else(|| stored.clone());
        sides.insert((*registry).to_owned(), side(registry, creds)?);
    }
    let dest_creds = dst_given.or_else(|| stored.last().cloned().flatten());
    Ok((sides, side(&dest.registry, dest_creds)?))
}

/// Every image the sources name that the filter and shard take; a repository or catalog
/// that cannot be listed becomes a failed entry.
fn images(
    sources: &[SyncSource],
    dest: &Destination,
    filter: &TagFilter,
    shard: Shard,
    sides: &HashMap<String, Side>,
    failed: &mut Vec<Entry>,
) -> Vec<SyncImage> {
    let mut out = Vec::new();
    let mut fail =
        |source: String, target: String, e: CliError| failed.push(Entry::failed(source, target, e));
    for source in sources {
        let side = &sides[source.registry()];
        let repositories = match source {
            SyncSource::Image(r) => {
                match SyncImage::of(r.clone(), dest) {
                    Ok(image) => out.push(image),
                    Err(e) => fail(r.to_string(), String::new(), usage(e)),
                }
                continue;
            }
            SyncSource::Repository(r) => vec![r.repository.clone()],
            SyncSource::Registry(host) => match list(host, ListKind::Catalog, side) {
                Ok(repositories) => repositories,
                Err(e) => {
                    fail(host.clone(), dest.registry.clone(), e);
                    continue;
                }
            },
        };
        for repository in repositories {
            let registry = source.registry();
            let kind = ListKind::Tags {
                repository: repository.clone(),
            };
            let tags = match list(registry, kind, side) {
                Ok(tags) => tags,
                Err(e) => {
                    let target = dest.repository_for(&repository);
                    fail(format!("{registry}/{repository}"), target, e);
                    continue;
                }
            };
            for tag in tags.iter().filter(|t| filter.takes(t)) {
                match SyncImage::tagged(registry, &repository, tag, dest) {
                    Ok(image) => out.push(image),
                    Err(e) => fail(
                        format!("{registry}/{repository}:{tag}"),
                        String::new(),
                        usage(e),
                    ),
                }
            }
        }
    }
    out.retain(|i| shard.takes(&i.source));
    out
}

/// A whole tag list or catalog of `registry`.
fn list(registry: &str, kind: ListKind, side: &Side) -> Result<Vec<String>, CliError> {
    let api_host = Reference::parse_registry(&format!("{registry}/x"))
        .map(|r| r.api_host().to_owned())
        .unwrap_or_else(|_| registry.to_owned());
    let plan = ListPlan {
        registry: api_host,
        kind,
        page_size: None,
    };
    let listing = Listing::new(plan, &side.config, Instant::ZERO);
    let listed = verbs::run(listing, Clock::now(), &side.transport, Listing::poll)?;
    Ok(listed.items)
}

/// The manifest `image` names (with a platform, that platform's) and its digest.
fn manifest_of(
    image: &Reference,
    platform: Option<&Platform>,
    side: &Side,
) -> Result<ManifestReport, CliError> {
    let plan = ManifestPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: image.manifest_ref(),
        action: ManifestAction::Get {
            platform: platform.cloned(),
        },
    };
    let op = ManifestOp::new(plan, &side.config, Instant::ZERO);
    verbs::run(op, Clock::now(), &side.transport, ManifestOp::poll)
}

/// Checks one image and copies it unless it is in sync (or this is a dry run); its outcome
/// and the source's digest. `referrers`: what is attached to a copied image follows it.
fn sync_one(
    image: &SyncImage,
    source: &Side,
    target: &Side,
    platform: Option<&Platform>,
    config: &CopyConfig,
    planned: Option<&mut PlannedBytes>,
    (mode, referrers): (ProgressMode, bool),
) -> Result<(ImageOutcome, Digest), CliError> {
    let manifest = manifest_of(&image.source, platform, source)?;
    let digest = manifest.digest.clone();
    let there = match manifest_of(&image.target, None, target) {
        Ok(r) => Some(r.digest),
        Err(e) if e.class() == Some(ErrorClass::NotFound) => None,
        Err(e) => return Err(e),
    };
    match decide(&digest, there.as_ref()) {
        Decision::InSync => return Ok((ImageOutcome::InSync, digest)),
        Decision::Copy => {
            if let Some(planned) = planned {
                let bytes = planned_bytes(&image.source, manifest, source, planned)?;
                return Ok((ImageOutcome::Planned { bytes }, digest));
            }
        }
    }
    let plan = CopyPlan {
        sources: vec![CopySource {
            reference: image.source.clone(),
            config: source.config.clone(),
        }],
        target: image.target.clone(),
        target_config: target.config.clone(),
        platform: platform.cloned(),
    };
    let copy = Copy::new(plan, config.clone(), Instant::ZERO);
    let sides = Sides {
        sources: std::slice::from_ref(&source.transport),
        target: &target.transport,
    };
    let mut display = Display::new(mode, Vec::new());
    // The sync keeps one record; the copy's blob events are not kept.
    let mut scratch = Recorder::new("copy", "", "");
    let result = smol::block_on(run_copy(
        copy,
        Clock::now(),
        sides,
        (&image.source, &image.target),
        &mut display,
        &mut scratch,
    ));
    display.finish();
    let report = result?;
    if referrers {
        let from = End {
            image: &image.source,
            config: &source.config,
            transport: &source.transport,
        };
        let to = End {
            image: &image.target,
            config: &target.config,
            transport: &target.transport,
        };
        carry(from, to, &report.manifest_digest, config, mode)?;
    }
    Ok((
        ImageOutcome::Copied {
            bytes: report.bytes_uploaded,
        },
        digest,
    ))
}

/// The blob bytes of the image `report` read (its children's, for an index) that no image
/// planned before it names.
fn planned_bytes(
    image: &Reference,
    report: ManifestReport,
    side: &Side,
    planned: &mut PlannedBytes,
) -> Result<u64, CliError> {
    let named = |m: &tug_core::pull::FetchedManifest| {
        named_by(&m.media_type, &m.bytes)
            .map_err(|e| CliError::Input(format!("{image} ({}): {e}", m.digest)))
    };
    let Some(manifest) = report.manifest else {
        return Ok(0);
    };
    let mut bytes = 0;
    match named(&manifest)? {
        Named::Blobs(blobs) => bytes += planned.add(&blobs),
        Named::Children(children) => {
            for child in children {
                let mut at = image.clone();
                at.digest = Some(child.digest.clone());
                let read = manifest_of(&at, None, side)?;
                if let Some(m) = &read.manifest {
                    if let Named::Blobs(blobs) = named(m)? {
                        bytes += planned.add(&blobs);
                    }
                }
            }
        }
    }
    Ok(bytes)
}

/// One image's line: the outcome, then where from and where to; a failure's reason on
/// standard error.
fn show(e: &Entry) {
    outln!("{:<8} {} -> {}", e.outcome.name(), e.source, e.target);
    if let ImageOutcome::Failed { error } = &e.outcome {
        errln!("tug: {}: {error}", e.source);
    }
}

/// The plan or report as JSON.
fn report_json(entries: &[Entry], summary: &Summary, shard: Shard, dry_run: bool) -> String {
    let images: Vec<_> = entries
        .iter()
        .map(|e| {
            let mut v = serde_json::json!({
                "source": e.source,
                "target": e.target,
                "outcome": e.outcome.name(),
            });
            if let Some(d) = &e.digest {
                v["digest"] = d.to_string().into();
            }
            match &e.outcome {
                ImageOutcome::Copied { bytes } | ImageOutcome::Planned { bytes } => {
                    v["bytes"] = (*bytes).into()
                }
                ImageOutcome::Failed { error } => v["error"] = error.clone().into(),
                _ => {}
            }
            v
        })
        .collect();
    serde_json::json!({
        "dry_run": dry_run,
        "shard": shard.to_string(),
        "images": images,
        "summary": {
            "planned": summary.planned,
            "copied": summary.copied,
            "in_sync": summary.in_sync,
            "bytes": summary.bytes,
            "failed": summary.failed,
        },
    })
    .to_string()
}

/// A source that cannot be mapped to DEST.
fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// The sync's result: every failed image named on standard error, and the first one's
/// error (so its class's exit code).
fn failure(entries: Vec<Entry>) -> Result<(), CliError> {
    let total = entries.len();
    let failed: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.failure.is_some())
        .collect();
    let names: Vec<&str> = failed.iter().map(|e| e.source.as_str()).collect();
    if !failed.is_empty() {
        errln!(
            "tug: {} of {total} images failed: {}",
            failed.len(),
            names.join(", ")
        );
    }
    match failed.into_iter().next().and_then(|e| e.failure) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
