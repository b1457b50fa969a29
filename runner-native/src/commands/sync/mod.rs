//! `tug sync SOURCE... DEST`: every tag of the sources' repositories (filtered, and only this
//! process's `--shard`) copied to DEST. For each image the source's manifest digest and what
//! DEST serves under that tag are read (one `GET` each, [`check`]); equal ones are in sync
//! and cost nothing more, the rest are copied with the core's `Copy`, several at once within
//! one budget of blobs in flight ([`drive`], [`tug_core::sync::Budget`]). A failed image is
//! reported and the rest goes on. What the sources, mapping, filters and shards mean is the core's ([`tug_core::sync`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant as Clock;

use tug_core::copy::CopyConfig;
use tug_core::listing::{ListKind, ListPlan, Listing};
use tug_core::probe::Probe;
use tug_core::sync::{
    check_targets, listed_repository, parse_sync_file, Destination, ImageOutcome, Phase, Shard,
    Summary, SyncImage, SyncSource, SyncSpec, TagFilter, TargetCheck,
};
use tug_core::terminal_safe::terminal_safe;
use tug_core::{Digest, Instant, Platform, Reference, RegistryConfig};

mod check;
mod drive;
mod show;

use super::verbs;
use crate::blob_places::BlobPlaces;
use crate::cli::sync::SyncArgs;
use crate::config::Settings;
use crate::credentials;
use crate::exit_code::CliError;
use crate::history::{ImageRecord, Recorder};
use crate::output::{errln, outln};
use crate::progress::ProgressMode;
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
    /// What its copy did (blobs sent, skipped, mounted), for the history.
    report: Option<tug_core::push::PushReport>,
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
            report: None,
        }
    }
}

pub fn run(args: SyncArgs, mut settings: Settings, history: &mut Recorder) -> Result<(), CliError> {
    let usage = |e: String| CliError::Usage(e);
    let specs = specs(&args)?;
    let shard = args
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(|e| usage(format!("--shard (or TUG_SHARD): {e}")))?
        .unwrap_or_default();
    if args.dry_run {
        history.dry_run();
    }
    settings.apply_flags(&args.transfer);
    settings.apply_flags(&args.chunks);
    settings.apply_flags(&args.registry.connect);
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    let (sides, targets) = reach(&args, &settings, &specs)?;

    // Where blobs are, read once and written once for the whole sync.
    let _places = BlobPlaces::new().batch();
    let mut entries = Vec::new();
    let mut images = images(&specs, shard, args.page_size, &sides, &mut entries);
    // Tags a listing found that hold referrers stay behind where they cannot be synced
    // apart (`--no-referrers`; a fallback tag with `--platform`); a tag named on the command
    // line is copied.
    let referrers = args.referrers.enabled();
    images.retain(|i| {
        i.tags.is_none() || Phase::synced_apart(&i.image, referrers, i.platform.is_none())
    });
    // (With `--progress json` standard output is events; the summary names these.)
    if !args.json && settings.progress.value != ProgressMode::Json {
        entries.iter().for_each(show);
    }
    let mode = if args.json {
        ProgressMode::None
    } else {
        settings.progress.value
    };
    let config = CopyConfig {
        transfer: settings.transfer(),
        chunk_size: settings.chunk_size.value,
    };
    let work = drive::Work {
        sides: &sides,
        targets: &targets,
        config: &config,
        dry_run: args.dry_run,
        referrers: args.referrers.enabled(),
        referrers_api: Default::default(),
    };
    let mut shown = show::Shown::new(mode, &images, !args.json);
    let done = drive::run(&work, &images, &mut shown);
    shown.finish();
    entries.extend(done.entries.into_iter().map(|(_, e)| e));
    let cancelled = done.cancelled;

    let mut summary = Summary::default();
    for e in &entries {
        summary.add(&e.source, &e.outcome);
        if let Some(report) = &e.report {
            history.add_copy(report);
        }
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
        errln!(
            "tug: sync cancelled; run the same command again to go on (images in sync are not \
             copied again, and uploads go on where they stopped)"
        );
        return Err(e);
    }
    failure(entries)
}

/// Each registry's side, by registry as written.
type Sides = HashMap<String, Side>;

/// One image of the sync, with what applies to it.
struct Item {
    image: SyncImage,
    /// The one platform copied from an index, if any.
    platform: Option<Platform>,
    /// Its destination registry, as written (its side in `targets`).
    destination: String,
    /// Every tag of its source repository, when the sync listed them (what the referrers
    /// step need not ask for).
    tags: Option<Arc<BTreeSet<String>>>,
}

/// The sources with their filters, platform and destination: `--file`'s, or the command
/// line's (every SOURCE with the same ones).
fn specs(args: &SyncArgs) -> Result<Vec<SyncSpec>, CliError> {
    let usage = |e: String| CliError::Usage(e);
    if let Some(path) = &args.file {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| usage(format!("--file {name}: {e}")))?;
        return parse_sync_file(&name, &text).map_err(|e| usage(e.to_string()));
    }
    let (dest_text, source_texts) = args
        .places
        .split_last()
        .ok_or_else(|| usage("give SOURCE... DEST, or --file".into()))?;
    if source_texts.is_empty() {
        return Err(usage("give SOURCE... DEST, or --file".into()));
    }
    let destination =
        Destination::parse(dest_text).map_err(|e| usage(format!("destination {e}")))?;
    let filter =
        TagFilter::new(&args.tags, &args.exclude_tags).map_err(|e| usage(e.to_string()))?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| usage(e.to_string()))?;
    source_texts
        .iter()
        .map(|t| {
            Ok(SyncSpec {
                source: SyncSource::parse(t).map_err(|e| usage(format!("source {e}")))?,
                destination: destination.clone(),
                filter: filter.clone(),
                platform: platform.clone(),
            })
        })
        .collect()
}

/// The transport and config of each source registry (by registry as written), and of DEST.
/// `--src-creds` goes to every source registry, `--dest-creds` (or `-u`, `TUG_*`) to DEST
/// (and to a source on the same registry when it has none of its own); every other registry
/// gets what is stored for it.
fn reach(
    args: &SyncArgs,
    settings: &Settings,
    specs: &[SyncSpec],
) -> Result<(Sides, Sides), CliError> {
    let (src_given, dst_given) =
        credentials::sides_from_args(&args.sides, &args.registry.credentials)?;
    let mut registries: Vec<&str> = specs.iter().map(|s| s.source.registry()).collect();
    let mut dests: Vec<&str> = specs
        .iter()
        .map(|s| s.destination.registry.as_str())
        .collect();
    for v in [&mut registries, &mut dests] {
        v.sort_unstable();
        v.dedup();
    }
    let all: Vec<&str> = registries.iter().chain(&dests).copied().collect();
    let stored = credentials::stored_for(&all)?;
    let (stored_src, stored_dst) = stored.split_at(registries.len());
    let side = |registry: &str, creds| -> Result<Side, CliError> {
        let r = Reference::parse_registry(&format!("{registry}/sync"))
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let (tls, mut config) = settings.connection(&r, &args.registry, creds);
        let transport =
            Transport::new(&tls, NoBodies).map_err(|e| CliError::Input(e.to_string()))?;
        // One version check per registry; every operation after it skips its own. If it
        // fails, each operation checks again and says why for its image.
        let probe = Probe::new(r.api_host(), &config, Instant::ZERO);
        config.reached = verbs::run(probe, Clock::now(), &transport, Probe::poll).ok();
        Ok(Side { transport, config })
    };
    let mut sides = HashMap::new();
    for (registry, stored) in registries.iter().zip(stored_src) {
        let same = dests
            .iter()
            .any(|d| credentials::registry_matches(registry, d));
        let creds = src_given
            .clone()
            .or_else(|| dst_given.clone().filter(|_| same))
            .or_else(|| stored.clone());
        sides.insert((*registry).to_owned(), side(registry, creds)?);
    }
    let mut targets = HashMap::new();
    for (registry, stored) in dests.iter().zip(stored_dst) {
        let creds = dst_given.clone().or_else(|| stored.clone());
        targets.insert((*registry).to_owned(), side(registry, creds)?);
    }
    Ok((sides, targets))
}

/// Every image the sources name that their filters and the shard take; a repository or
/// catalog that cannot be listed becomes a failed entry.
fn images(
    specs: &[SyncSpec],
    shard: Shard,
    page_size: Option<u32>,
    sides: &HashMap<String, Side>,
    failed: &mut Vec<Entry>,
) -> Vec<Item> {
    let mut out = Vec::new();
    let mut fail =
        |source: String, target: String, e: CliError| failed.push(Entry::failed(source, target, e));
    for spec in specs {
        let (source, dest) = (&spec.source, &spec.destination);
        let item = |image, tags| Item {
            image,
            platform: spec.platform.clone(),
            destination: dest.registry.clone(),
            tags,
        };
        let side = &sides[source.registry()];
        let repositories = match source {
            SyncSource::Image(r) => {
                match SyncImage::of(r.clone(), dest) {
                    Ok(image) => out.push(item(image, None)),
                    Err(e) => fail(r.to_string(), String::new(), usage(e)),
                }
                continue;
            }
            SyncSource::Repository(r) => vec![r.repository.clone()],
            SyncSource::Registry(host) => match list(host, ListKind::Catalog, page_size, side) {
                Ok(repositories) => repositories,
                Err(e) => {
                    fail(host.clone(), dest.registry.clone(), e);
                    continue;
                }
            },
        };
        for repository in repositories {
            let registry = source.registry();
            if let Err(e) = listed_repository(registry, &repository) {
                fail(
                    format!("{registry}/{repository}"),
                    String::new(),
                    CliError::Core(e),
                );
                continue;
            }
            let kind = ListKind::Tags {
                repository: repository.clone(),
            };
            let tags = match list(registry, kind, page_size, side) {
                Ok(tags) => tags,
                Err(e) => {
                    let target = dest.repository_for(&repository);
                    fail(format!("{registry}/{repository}"), target, e);
                    continue;
                }
            };
            let listed = Arc::new(tags.iter().cloned().collect::<BTreeSet<_>>());
            for tag in tags.iter().filter(|t| spec.filter.takes(t)) {
                match SyncImage::tagged(registry, &repository, tag, dest) {
                    Ok(image) => out.push(item(image, Some(listed.clone()))),
                    Err(e) => fail(
                        format!("{registry}/{repository}:{tag}"),
                        String::new(),
                        CliError::Core(e),
                    ),
                }
            }
        }
    }
    // One image per target: a repeat is left out, two sources into one tag both fail (over
    // the whole plan, before sharding, so every shard agrees).
    let checks = check_targets(out.iter().map(|i| &i.image));
    let mut kept = Vec::with_capacity(out.len());
    for (item, check) in out.into_iter().zip(checks) {
        match check {
            TargetCheck::Keep => kept.push(item),
            TargetCheck::Repeated => {}
            TargetCheck::Clash(why) if shard.takes(&item.image.source) => fail(
                item.image.source.to_string(),
                item.image.target.to_string(),
                CliError::Usage(why),
            ),
            TargetCheck::Clash(_) => {}
        }
    }
    let mut out = kept;
    out.retain(|i| shard.takes(&i.image.source));
    // Tags holding referrers last: the drive starts them after the rest ([`Phase`]).
    out.sort_by_key(|i| Phase::of(&i.image));
    out
}

/// A whole tag list or catalog of `registry`.
fn list(
    registry: &str,
    kind: ListKind,
    page_size: Option<u32>,
    side: &Side,
) -> Result<Vec<String>, CliError> {
    let api_host = Reference::parse_registry(&format!("{registry}/x"))
        .map(|r| r.api_host().to_owned())
        .unwrap_or_else(|_| registry.to_owned());
    let plan = ListPlan {
        registry: api_host,
        kind,
        page_size,
    };
    let listing = Listing::new(plan, &side.config, Instant::ZERO);
    let listed = verbs::run(listing, Clock::now(), &side.transport, Listing::poll)?;
    Ok(listed.items)
}

/// One image's line: the outcome, then where from and where to; a failure's reason on
/// standard error.
fn show(e: &Entry) {
    // References hold tags a registry listed: one entry stays one line.
    let (source, target) = (terminal_safe(&e.source), terminal_safe(&e.target));
    outln!("{:<8} {source} -> {target}", e.outcome.name());
    if let ImageOutcome::Failed { error } = &e.outcome {
        errln!("tug: {source}: {}", terminal_safe(&error.to_string()));
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
                ImageOutcome::Skipped { reason } => v["reason"] = reason.clone().into(),
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
            "cancelled": summary.cancelled,
            "carried": summary.carried,
            "skipped": summary.skipped,
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
