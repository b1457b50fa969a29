//! The sync's images driven at once on one thread: each checked ([`check`]; as many at once
//! as the budget has blobs), then copied when the core's [`Budget`] says so, with the share
//! of blobs in flight and the repository to mount from it gives. The budget decides; this
//! only starts what it hands out and tells it what ended. A failed image is one entry; the
//! rest goes on. Images of the second [`Phase`] (tags holding referrers, last in the list)
//! start only when every other image has ended. An interrupt stops what runs and starts
//! nothing more.

use std::cell::RefCell;
use std::collections::HashMap;

use smol::LocalExecutor;
use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource};
use tug_core::manifest::Descriptor;
use tug_core::push::PushReport;
use tug_core::referrers::Known;
use tug_core::sync::{
    Budget, ImageId, ImageOutcome, Phase, PlannedBytes, Start, SyncImage, Wanted,
};
use tug_core::{Digest, ErrorClass, Instant};

use super::check::{check, Carried, Checked};
use super::{Entry, Item, Side};
use crate::blob_places::BlobPlaces;
use crate::commands::copy::run_copy_quietly;
use crate::exit_code::CliError;
use crate::upload_state::UploadState;

/// What the images are synced with.
pub(super) struct Work<'a> {
    /// Each source registry's side, by registry as written.
    pub sides: &'a HashMap<String, Side>,
    /// Each destination registry's side, by registry as written.
    pub targets: &'a HashMap<String, Side>,
    /// Its `jobs` is the budget: blobs in flight across all images.
    pub config: &'a CopyConfig,
    pub dry_run: bool,
    /// Whether what is attached to a copied image (signatures, SBOMs) is copied with it.
    pub referrers: bool,
    /// Whether each source registry answered the referrers API, once one image's referrers
    /// were asked there: the next images do not ask again where it did not.
    pub referrers_api: RefCell<HashMap<String, bool>>,
}

/// What the images came to: an entry per image (by its index), and the interrupt, if one
/// stopped the sync.
pub(super) struct Done {
    pub entries: Vec<(usize, Entry)>,
    pub cancelled: Option<CliError>,
}

/// What is happening to the images, for the progress display.
pub(super) trait Watch {
    /// Image `i` starts copying.
    fn started(&mut self, i: usize);
    /// Image `i` came to `entry`.
    fn finished(&mut self, i: usize, entry: &Entry);
}

/// One task's end.
enum Ended {
    Checked(usize, Result<Checked, CliError>),
    Copied(usize, Result<PushReport, CliError>),
}

/// Syncs `images` as [`Work`] says, telling `watch` as they start and end.
pub(super) fn run(work: &Work<'_>, items: &[Item], watch: &mut dyn Watch) -> Done {
    let total = work.config.transfer.jobs.max(1);
    let (tx, rx) = async_channel::unbounded::<Ended>();
    let ex = LocalExecutor::new();
    let mut budget = Budget::new(total);
    let mut digests: HashMap<usize, Digest> = HashMap::new();
    let mut planned: Vec<(usize, Vec<Descriptor>)> = Vec::new();
    let mut entries = Vec::new();
    let mut cancelled = None;
    let (mut next, mut checking) = (0, 0);
    let images: Vec<&SyncImage> = items.iter().map(|i| &i.image).collect();
    // Where the second phase begins (the items are in phase order), and whether it may.
    let second = images
        .iter()
        .position(|i| Phase::of(i) == Phase::Referrers)
        .unwrap_or(images.len());
    let mut second_open = false;
    // Images copied with their referrers, by target repository and digest: the tags
    // holding those there need no copy of their own (the referrers step merged the
    // target's index; copying the source's would drop what the target lists beside).
    let mut carried: std::collections::HashSet<(String, String, Digest)> = Default::default();
    let at_target = |i: usize, digest: Digest| {
        let target = &images[i].target;
        (target.registry.clone(), target.repository.clone(), digest)
    };
    let entry = |i: usize, outcome: ImageOutcome, digest: Option<Digest>| Entry {
        source: images[i].source.to_string(),
        target: images[i].target.to_string(),
        outcome,
        digest,
        failure: None,
        report: None,
    };
    let failed = |i: usize, e: CliError| {
        Entry::failed(
            images[i].source.to_string(),
            images[i].target.to_string(),
            e,
        )
    };
    smol::block_on(ex.run(async {
        loop {
            if cancelled.is_none() {
                second_open |= next >= second
                    && checking == 0
                    && budget.running() == 0
                    && budget.waiting() == 0;
                while checking < total && next < images.len() && (next < second || second_open) {
                    let i = next;
                    next += 1;
                    let sides = (
                        work.sides.get(&images[i].source.registry),
                        work.targets.get(&items[i].destination),
                    );
                    let subject = Phase::subject(images[i]);
                    if work.referrers && subject.is_some_and(|s| carried.contains(&at_target(i, s)))
                    {
                        let e = entry(i, ImageOutcome::Carried, None);
                        watch.finished(i, &e);
                        entries.push((i, e));
                        continue;
                    }
                    let (Some(source), Some(target)) = sides else {
                        // Every image's registries are the specs' (the core maps them so).
                        let e = format!("{}: not a source registry", images[i].source.registry);
                        let e = failed(i, CliError::Usage(e));
                        watch.finished(i, &e);
                        entries.push((i, e));
                        continue;
                    };
                    checking += 1;
                    let tx = tx.clone();
                    let item = &items[i];
                    ex.spawn(async move {
                        let platform = item.platform.as_ref();
                        let carried = work.referrers.then(|| Carried {
                            tags: item.tags.clone(),
                            api: &work.referrers_api,
                        });
                        let r = check(&item.image, source, target, platform, carried).await;
                        let _ = tx.send(Ended::Checked(i, r)).await;
                    })
                    .detach();
                }
                while let Some(start) = budget.start_next() {
                    let i = start.id.0;
                    watch.started(i);
                    let tx = tx.clone();
                    let item = &items[i];
                    let sides = (
                        &work.sides[&item.image.source.registry],
                        &work.targets[&item.destination],
                    );
                    ex.spawn(async move {
                        let r = copy_one(item, sides, work, start).await;
                        let _ = tx.send(Ended::Copied(i, r)).await;
                    })
                    .detach();
                }
            }
            if checking == 0 && budget.running() == 0 {
                break;
            }
            let Ok(ended) = rx.recv().await else { break };
            let (i, result) = match ended {
                Ended::Checked(i, r) => {
                    checking -= 1;
                    match r {
                        Ok(Checked::InSync(d)) => (i, Ok(entry(i, ImageOutcome::InSync, Some(d)))),
                        Ok(Checked::Skipped(reason)) => {
                            (i, Ok(entry(i, ImageOutcome::Skipped { reason }, None)))
                        }
                        Ok(Checked::Copy { digest, blobs }) if work.dry_run => {
                            digests.insert(i, digest);
                            planned.push((i, blobs));
                            continue;
                        }
                        Ok(Checked::Copy { digest, blobs }) => {
                            digests.insert(i, digest);
                            budget.queue(Wanted {
                                id: ImageId(i),
                                registry: items[i].destination.clone(),
                                repository: images[i].target.repository.clone(),
                                blobs: blobs.into_iter().map(|b| b.digest).collect(),
                            });
                            continue;
                        }
                        Err(e) => (i, Err(e)),
                    }
                }
                Ended::Copied(i, r) => {
                    budget.finished(ImageId(i), r.is_ok());
                    let d = digests.remove(&i);
                    if let (Ok(report), true) = (&r, work.referrers) {
                        carried.insert(at_target(i, report.manifest_digest.clone()));
                    }
                    // The bytes this run sent (not those an earlier run's sessions held).
                    let copied = r.map(|report| {
                        let bytes = report.bytes_uploaded.saturating_sub(report.bytes_resumed);
                        Entry {
                            report: Some(report.clone()),
                            ..entry(i, ImageOutcome::Copied { bytes }, d)
                        }
                    });
                    (i, copied)
                }
            };
            let e = match result {
                Ok(e) => e,
                Err(e) if e.class() == Some(ErrorClass::Cancelled) => {
                    cancelled = Some(e);
                    budget.drop_queued();
                    entry(i, ImageOutcome::Cancelled, None)
                }
                Err(e) => failed(i, e),
            };
            watch.finished(i, &e);
            entries.push((i, e));
        }
    }));
    // A dry run's bytes: each blob counted for the first image in the plan naming it.
    planned.sort_by_key(|(i, _)| *i);
    let mut counted = PlannedBytes::default();
    for (i, blobs) in planned {
        let bytes = counted.add(&blobs);
        let e = entry(i, ImageOutcome::Planned { bytes }, digests.remove(&i));
        watch.finished(i, &e);
        entries.push((i, e));
    }
    if cancelled.is_some() {
        // What the sync was stopped before is said too (not copied, or copied in part).
        let ended: std::collections::HashSet<usize> = entries.iter().map(|(i, _)| *i).collect();
        for i in (0..images.len()).filter(|i| !ended.contains(i)) {
            let e = entry(i, ImageOutcome::Cancelled, None);
            watch.finished(i, &e);
            entries.push((i, e));
        }
    }
    entries.sort_by_key(|(i, _)| *i);
    Done { entries, cancelled }
}

/// Copies `image` with the share of the budget and the mount `start` gives, then (unless
/// turned off) what is attached to it.
async fn copy_one(
    item: &Item,
    (source, target): (&Side, &Side),
    work: &Work<'_>,
    start: Start,
) -> Result<PushReport, CliError> {
    let image = &item.image;
    // A tag holding referrers: its subject with them, as the core says.
    let (from, to) = Phase::copied_as(image, work.referrers, item.platform.is_none());
    let plan = CopyPlan {
        sources: vec![CopySource {
            reference: from,
            config: source.config.clone(),
        }],
        target: to,
        target_config: target.config.clone(),
        platform: item.platform.clone(),
        // The sessions an interrupted sync (or copy, or push) left there for its blobs.
        resume: UploadState::of(&image.target).resumable_for(&start.blobs),
        // What is attached to it too (unless turned off), not asking what the listing
        // and the images before it ruled out.
        referrers: work.referrers.then(|| Known {
            tags: item.tags.clone(),
            api: work
                .referrers_api
                .borrow()
                .get(&image.source.registry)
                .copied(),
        }),
    };
    let mut config = work.config.clone();
    config.transfer.jobs = start.jobs;
    let known = BlobPlaces::new().at(&image.target.registry);
    let copy = Copy::new(plan, config, Instant::ZERO)
        .mounting_from(start.mount_from)
        .mounting_known(known);
    // The sync shows its own progress and keeps one record; the copy's are not kept.
    let ends = (&source.transport, &target.transport);
    let copied = run_copy_quietly(copy, ends, (&image.source, &image.target)).await?;
    if let Some(api) = copied.referrers_api {
        let registry = image.source.registry.clone();
        work.referrers_api.borrow_mut().insert(registry, api);
    }
    Ok(copied.report)
}
