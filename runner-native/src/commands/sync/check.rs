//! One image's check, before any blob moves: the source's manifest digest against what DEST
//! serves under that name (one `HEAD` each, which Docker Hub does not count as a pull; a
//! `GET` of the source's for a platform, which needs its index); for an image to copy, also
//! every blob its manifests name (an index's children are read for theirs), which the
//! budget needs to copy a blob shared by several images once.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant as Clock;

use tug_core::manifest::Descriptor;
use tug_core::manifest_ops::{ManifestAction, ManifestOp, ManifestPlan, ManifestReport};
use tug_core::referrers::{DiscoverPlan, Discovery, Known, Referrers};
use tug_core::sync::{decide, named_by, Decision, Named, Phase, ReferrersCheck, SyncImage};
use tug_core::{Digest, ErrorClass, Instant, Platform, Reference};

use super::Side;
use crate::commands::verbs;
use crate::exit_code::CliError;
use crate::output::errln;

/// What the check found.
pub(super) enum Checked {
    /// DEST serves the source's manifest (its digest) under that name.
    InSync(Digest),
    /// Nothing to copy, nor anything at DEST: why.
    Skipped(String),
    /// To copy: the source's digest and the blobs its manifests name.
    Copy {
        digest: Digest,
        blobs: Vec<Descriptor>,
    },
}

/// What a check knows of referrers while they travel with images.
pub(super) struct Carried<'a> {
    /// Every tag of the image's source repository, when the sync listed them.
    pub tags: Option<Arc<BTreeSet<String>>>,
    /// What each source registry said of the referrers API (learnt by checks and copies).
    pub api: &'a RefCell<HashMap<String, bool>>,
}

/// Checks `image` (with `platform`, that platform's manifest of the source); `referrers`:
/// what is attached to an image travels with it (`None`: it does not).
pub(super) async fn check(
    image: &SyncImage,
    source: &Side,
    target: &Side,
    platform: Option<&Platform>,
    carried: Option<Carried<'_>>,
) -> Result<Checked, CliError> {
    let referrers = carried.is_some();
    let resolved = match platform {
        Some(_) => manifest_of(&image.source, platform, source).await?,
        None => resolve(&image.source, source).await?,
    };
    let digest = resolved.digest.clone();
    let there = match probe(&image.target, target).await {
        Ok(r) => Some(r.digest),
        Err(e) if e.class() == Some(ErrorClass::NotFound) => None,
        Err(e) => return Err(e),
    };
    let mut decision = decide(&digest, there.as_ref());
    let whole = platform.is_none();
    if decision == Decision::Copy {
        // A tag holding the referrers of an image deleted at the source: nothing to copy.
        if let Some(subject) = Phase::copies_subject(image, referrers, whole) {
            if !has(&image.source, &subject, source).await? {
                let reason = format!(
                    "it holds the referrers of {subject}, which {}/{} no longer has: nothing \
                     to copy",
                    image.source.registry, image.source.repository
                );
                errln!("tug: warning: {}: {reason}", image.source);
                return Ok(Checked::Skipped(reason));
            }
        }
    }
    if decision == Decision::Copy && ReferrersCheck::applies(image, referrers, whole) {
        decision = referrers_tag(image, &digest, source, target).await?;
    }
    // An image in sync may have had a referrer attached at the source since. The image
    // itself is in sync whatever that asking meets: a failure is a warning.
    if let (Decision::InSync, Some(carried)) = (decision, &carried) {
        if Phase::of(image) == Phase::Images {
            decision = match attached_since(image, &digest, carried, source, target).await {
                Ok(decision) => decision,
                Err(e) => {
                    errln!(
                        "tug: warning: {}: what is attached to it could not be compared ({e}); \
                         left as it is",
                        image.source
                    );
                    Decision::InSync
                }
            };
        }
    }
    match decision {
        Decision::InSync => Ok(Checked::InSync(digest)),
        Decision::Copy => {
            // What a HEAD resolved is read now, by its digest (the tag may move meanwhile).
            let manifest = match resolved.manifest {
                Some(_) => resolved,
                None => {
                    let mut pinned = image.source.clone();
                    pinned.digest = Some(digest.clone());
                    manifest_of(&pinned, None, source).await?
                }
            };
            let blobs = blobs_of(&image.source, manifest, source).await?;
            Ok(Checked::Copy { digest, blobs })
        }
    }
}

/// Whether a fallback tag's index at the target lists what the source's (`digest`) does, as
/// the core's [`ReferrersCheck`] decides: both indexes read, and each referrer the target's
/// lacks asked at the source (one it no longer has is never copied, so does not count).
async fn referrers_tag(
    image: &SyncImage,
    digest: &Digest,
    source: &Side,
    target: &Side,
) -> Result<Decision, CliError> {
    let mut pinned = image.source.clone();
    pinned.digest = Some(digest.clone());
    let theirs = manifest_of(&pinned, None, source).await?.manifest;
    let ours = match manifest_of(&image.target, None, target).await {
        Ok(r) => r.manifest,
        Err(e) if e.class() == Some(ErrorClass::NotFound) => None,
        Err(e) => return Err(e),
    };
    let check = match (&theirs, &ours) {
        (None, _) => None,
        (Some(theirs), Some(ours)) => ReferrersCheck::new(&theirs.bytes, Some(&ours.bytes)),
        // No such tag at the target: one with the referrers API keeps none, and lists them.
        (Some(theirs), None) => match Phase::subject(image) {
            Some(subject) => {
                let listed = listed_at(&image.target, &subject, target).await?;
                ReferrersCheck::against(&theirs.bytes, &listed)
            }
            None => ReferrersCheck::new(&theirs.bytes, None),
        },
    };
    let Some(check) = check else {
        return Ok(Decision::Copy);
    };
    decided(&check, image, source).await
}

/// [`ReferrersCheck::decide`], each referrer the target lacks asked at the source (one it no
/// longer has is never copied, so does not count).
async fn decided(
    check: &ReferrersCheck,
    image: &SyncImage,
    source: &Side,
) -> Result<Decision, CliError> {
    let mut gone = Vec::new();
    for d in check.unlisted() {
        // One the source has, the target lacks: no need to ask about the rest.
        if has(&image.source, d, source).await? {
            break;
        }
        gone.push(d.clone());
    }
    Ok(check.decide(&gone))
}

/// Whether an image in sync (`digest`) is to be copied again for a referrer the source
/// lists for it and the target does not ([`ReferrersCheck::attached`]): asked only where
/// something may be attached (a source registry with the referrers API, or a fallback tag
/// the listing holds or did not rule out).
async fn attached_since(
    image: &SyncImage,
    digest: &Digest,
    carried: &Carried<'_>,
    source: &Side,
    target: &Side,
) -> Result<Decision, CliError> {
    let registry = &image.source.registry;
    let known = Known {
        tags: carried.tags.clone(),
        api: carried.api.borrow().get(registry).copied(),
    };
    let found = discover(&image.source, digest, known, source).await?;
    let Some(found) = found else {
        return Ok(Decision::InSync);
    };
    carried.api.borrow_mut().insert(registry.clone(), found.api);
    if ReferrersCheck::attached(&found, &[]).unlisted().is_empty() {
        // Nothing attached that travels with the image: the target need not be asked.
        return Ok(Decision::InSync);
    }
    let listed = listed_at(&image.target, digest, target).await?;
    decided(&ReferrersCheck::attached(&found, &listed), image, source).await
}

/// What `side` lists as attached to `subject` in `image`'s repository, as the core's
/// [`Discovery`] finds it; `None` when `known` rules out that anything is.
async fn discover(
    image: &Reference,
    subject: &Digest,
    known: Known,
    side: &Side,
) -> Result<Option<Referrers>, CliError> {
    let plan = DiscoverPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: subject.to_string(),
        known,
    };
    if !plan.asks_anything() {
        return Ok(None);
    }
    let discovery = Discovery::new(plan, &side.config, Instant::ZERO);
    let found = verbs::run_async(discovery, Clock::now(), &side.transport, Discovery::poll).await?;
    Ok(Some(found))
}

/// The referrers `side` lists for `subject` in `image`'s repository (its referrers API, or
/// its fallback tag).
async fn listed_at(
    image: &Reference,
    subject: &Digest,
    side: &Side,
) -> Result<Vec<Digest>, CliError> {
    let found = discover(image, subject, Known::default(), side).await?;
    Ok(found
        .map(|f| f.referrers.into_iter().map(|r| r.digest).collect())
        .unwrap_or_default())
}

/// Whether `image`'s repository at the source has manifest `digest` (a `HEAD`).
async fn has(image: &Reference, digest: &Digest, side: &Side) -> Result<bool, CliError> {
    let mut at = image.clone();
    at.tag = None;
    at.digest = Some(digest.clone());
    match probe(&at, side).await {
        Ok(_) => Ok(true),
        Err(e) if e.class() == Some(ErrorClass::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The digest of the manifest `image` names, asked with `HEAD` ([`ManifestAction::Resolve`]).
async fn resolve(image: &Reference, side: &Side) -> Result<ManifestReport, CliError> {
    operate(image, ManifestAction::Resolve, side).await
}

/// The digest of the manifest `image` names if it is there, a `NotFound` error if not: one
/// `HEAD` for a tag the target lacks ([`ManifestAction::Probe`]).
async fn probe(image: &Reference, side: &Side) -> Result<ManifestReport, CliError> {
    operate(image, ManifestAction::Probe, side).await
}

/// The manifest `image` names (with a platform, that platform's) and its digest.
async fn manifest_of(
    image: &Reference,
    platform: Option<&Platform>,
    side: &Side,
) -> Result<ManifestReport, CliError> {
    let action = ManifestAction::Get {
        platform: platform.cloned(),
    };
    operate(image, action, side).await
}

/// Runs `action` on the manifest `image` names.
async fn operate(
    image: &Reference,
    action: ManifestAction,
    side: &Side,
) -> Result<ManifestReport, CliError> {
    let plan = ManifestPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: image.manifest_ref(),
        action,
    };
    let op = ManifestOp::new(plan, &side.config, Instant::ZERO);
    verbs::run_async(op, Clock::now(), &side.transport, ManifestOp::poll).await
}

/// The blobs the manifest in `report` names (its children's, for an index).
async fn blobs_of(
    image: &Reference,
    report: ManifestReport,
    side: &Side,
) -> Result<Vec<Descriptor>, CliError> {
    let named = |m: &tug_core::pull::FetchedManifest| {
        named_by(&m.media_type, &m.bytes)
            .map_err(|e| CliError::Input(format!("{image} ({}): {e}", m.digest)))
    };
    let Some(manifest) = report.manifest else {
        return Ok(Vec::new());
    };
    let children = match named(&manifest)? {
        Named::Blobs(blobs) => return Ok(blobs),
        Named::Children(children) => children,
    };
    let mut blobs = Vec::new();
    for child in children {
        let mut at = image.clone();
        at.digest = Some(child.digest.clone());
        let read = manifest_of(&at, None, side).await?;
        if let Some(m) = &read.manifest {
            if let Named::Blobs(b) = named(m)? {
                blobs.extend(b);
            }
        }
    }
    Ok(blobs)
}
