//! Referrers: the artifacts (signatures, SBOMs, attestations) attached to an image, found
//! and written the two ways registries keep them — the OCI 1.1 referrers API
//! (`GET /v2/<name>/referrers/<digest>`, and a manifest `PUT` with a `subject` that the
//! registry answers with `OCI-Subject`) and, where that is missing, the tag schema: an index
//! tagged `sha256-<hex>` listing them, and cosign's `sha256-<hex>.sig` / `.att` / `.sbom`
//! tags.
//!
//! Files: `discover.rs` (what is attached to an image), `attach.rs` (the fallback tag's
//! index updated on a registry without the API), `carry.rs` (what a copy does to bring them
//! along), `index.rs` (the documents read and written).

mod attach;
mod carry;
mod discover;
mod index;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::RegistryConfig;
use crate::digest::Digest;
use crate::engine::{Engine, Outbox};
use crate::one_shot::Output;
#[cfg(test)]
use crate::reference::Reference;
use crate::session::Session;
use crate::time::Instant;

pub use carry::{carries, needs_fallback_index, Carry};

/// Whether a copy brings the image's referrers along unless told not to.
pub const COPY_BY_DEFAULT: bool = true;

/// The `Accept` of a referrers API request and of the fallback tag's index.
pub const REFERRERS_ACCEPT: &str = crate::manifest::OCI_INDEX;

/// The cosign tag suffixes read as referrers, in the order they are read.
pub const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// One artifact attached to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// Its manifest's digest.
    pub digest: Digest,
    /// Its manifest's media type.
    pub media_type: String,
    /// What it is (`application/spdx+json`, cosign's simple signing config type), if said.
    pub artifact_type: Option<String>,
    /// Its manifest's size in bytes.
    pub size: u64,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// The cosign-style tag it was found under (`sha256-<hex>.sig`); `None`: it names the
    /// image as its `subject` (found by the referrers API or the fallback tag's index).
    pub tag: Option<String>,
}

/// What is attached to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrers {
    /// The image's manifest digest (the subject).
    pub subject: Digest,
    /// Whether the registry answered the referrers API (else the fallback tag was read).
    pub api: bool,
    /// The artifacts: those naming the subject first, then the cosign-style tags'.
    pub referrers: Vec<Referrer>,
}

/// The fallback tag of `subject`: `<algorithm>-<hex>` (`sha256-0123…`), as the
/// distribution spec's referrers tag schema names it.
pub fn fallback_tag(subject: &Digest) -> String {
    let algorithm: String = subject.algorithm().name().chars().take(32).collect();
    let hex: String = subject.hex().chars().take(64).collect();
    format!("{algorithm}-{hex}")
}

/// Cosign's tag for `subject` with `suffix` (one of [`COSIGN_SUFFIXES`]):
/// `sha256-0123….sig`.
pub fn cosign_tag(subject: &Digest, suffix: &str) -> String {
    format!("{}.{suffix}", fallback_tag(subject))
}

/// Whether `tag` is a fallback tag (`sha256-<hex>`, an index of referrers), not cosign's
/// `sha256-<hex>.sig` / `.att` / `.sbom` (a manifest of its own) nor any other tag.
pub fn is_fallback_tag(tag: &str) -> bool {
    !tag.contains('.') && subject_of_tag(tag).is_some()
}

/// The image a referrers tag is about: `sha256-<hex>` (the fallback tag) or
/// `sha256-<hex>.sig` / `.att` / `.sbom` (cosign's) give that digest; any other tag `None`.
pub fn subject_of_tag(tag: &str) -> Option<Digest> {
    let (base, suffix) = match tag.split_once('.') {
        Some((base, suffix)) => (base, Some(suffix)),
        None => (tag, None),
    };
    if suffix.is_some_and(|s| !COSIGN_SUFFIXES.contains(&s)) {
        return None;
    }
    let (algorithm, hex) = base.split_once('-')?;
    let digest = format!("{algorithm}:{hex}").parse::<Digest>().ok()?;
    (fallback_tag(&digest) == base).then_some(digest)
}

/// The digests an image index lists (the fallback tag's index, the referrers API's answer);
/// `Err` says what is wrong with it.
pub fn index_digests(body: &[u8]) -> Result<Vec<Digest>, String> {
    index::referrers_of_index(body).map(|r| r.into_iter().map(|r| r.digest).collect())
}

/// Where to look for what is attached to an image.
#[derive(Clone, Debug)]
pub struct DiscoverPlan {
    /// The registry's API host (and port).
    pub registry: String,
    /// The repository, e.g. `team/app`.
    pub repository: String,
    /// The image's tag or digest (a tag is resolved to its digest first).
    pub reference: String,
    /// What the caller already knows, so as not to ask again (a sync learns it once).
    pub known: Known,
}

impl DiscoverPlan {
    /// Whether a [`Discovery`] of this plan would ask anything: not when the registry is
    /// known to lack the referrers API and the repository's known tags hold neither the
    /// subject's fallback tag nor a cosign tag of it (then nothing is attached, and a caller
    /// need not start one — not even the registry's version check).
    pub fn asks_anything(&self) -> bool {
        let Ok(subject) = self.reference.parse::<Digest>() else {
            return true;
        };
        if self.known.api != Some(false) {
            return true;
        }
        self.known.may_have(&fallback_tag(&subject))
            || COSIGN_SUFFIXES
                .iter()
                .any(|suffix| self.known.may_have(&cosign_tag(&subject, suffix)))
    }
}

/// What a discovery need not ask: the repository's tags and whether the registry has the
/// referrers API, learned once by a caller that discovers for many images (`tug sync`).
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// Every tag of the repository, when listed: a fallback or cosign tag not among them is
    /// not asked for. `None`: each is asked.
    pub tags: Option<Arc<BTreeSet<String>>>,
    /// Whether the registry answers the referrers API ([`Referrers::api`] of an earlier
    /// discovery there): `Some(false)` goes straight to the fallback tag. `None`: ask.
    pub api: Option<bool>,
}

impl Known {
    /// Whether `tag` may exist: listed, or the tags are not known.
    pub(crate) fn may_have(&self, tag: &str) -> bool {
        self.tags.as_ref().is_none_or(|tags| tags.contains(tag))
    }
}

/// Finds what is attached to an image: the referrers API, and where the registry lacks it
/// the fallback tag's index; cosign's tags either way.
#[derive(Debug)]
pub struct Discovery {
    engine: Engine<discover::Calls>,
}

impl Discovery {
    /// What its version check established, once the registry answered it.
    pub(crate) fn reached(&self) -> Option<crate::config::Reached> {
        self.engine.reached()
    }
    /// Starts `plan` with `config` at `now` with the version check.
    pub fn new(plan: DiscoverPlan, config: &RegistryConfig, now: Instant) -> Discovery {
        Discovery::with_ids(plan, config, now, 0)
    }

    /// [`Discovery::new`] numbering its requests from `id_base` on.
    pub(crate) fn with_ids(
        plan: DiscoverPlan,
        config: &RegistryConfig,
        now: Instant,
        id_base: u64,
    ) -> Discovery {
        let session = Session::new(&plan.registry, config, now)
            .ids_from(id_base)
            .scoped(&plan.repository, "pull");
        let calls = discover::Calls::new(plan, Outbox::default());
        Discovery {
            engine: Engine::new(calls, session),
        }
    }
}

crate::engine::engine_api!(Discovery, Output<Referrers>);

/// Referrers written to a registry without the referrers API: added to the index its
/// fallback tag names (created when there is none).
#[derive(Clone, Debug)]
pub struct AttachPlan {
    /// The registry's API host (and port).
    pub registry: String,
    /// The repository, e.g. `team/app`.
    pub repository: String,
    /// The image they are attached to.
    pub subject: Digest,
    /// The referrers (already in the repository) to list.
    pub referrers: Vec<Referrer>,
}

/// What an [`Attach`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The fallback tag.
    pub tag: String,
    /// Referrers it did not list before (0: nothing was put).
    pub added: usize,
}

/// Updates the fallback tag's index: fetched, merged with the plan's referrers, put.
#[derive(Debug)]
pub struct Attach {
    engine: Engine<attach::Calls>,
}

impl Attach {
    /// What its version check established, once the registry answered it.
    pub(crate) fn reached(&self) -> Option<crate::config::Reached> {
        self.engine.reached()
    }
    /// Starts `plan` with `config` at `now` with the version check.
    pub fn new(plan: AttachPlan, config: &RegistryConfig, now: Instant) -> Attach {
        Attach::with_ids(plan, config, now, 0)
    }

    /// [`Attach::new`] numbering its requests from `id_base` on.
    pub(crate) fn with_ids(
        plan: AttachPlan,
        config: &RegistryConfig,
        now: Instant,
        id_base: u64,
    ) -> Attach {
        let session = Session::new(&plan.registry, config, now)
            .ids_from(id_base)
            .scoped(&plan.repository, "pull,push");
        let calls = attach::Calls::new(plan, Outbox::default());
        Attach {
            engine: Engine::new(calls, session),
        }
    }
}

crate::engine::engine_api!(Attach, Output<Attached>);

#[cfg(test)]
mod tests;
