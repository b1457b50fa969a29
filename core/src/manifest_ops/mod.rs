//! Manifests read, tagged and deleted in place: `GET` a manifest exactly as the registry
//! serves it (and, for a platform, that platform's manifest of an index), `PUT` the same
//! bytes under new tags (no blob moves), `DELETE` one by digest (a tag is resolved first).
//!
//! Files: `calls.rs` (the protocol: which request each step is and what its answer means),
//! `received.rs` (a manifest body checked against the digests that name it).

mod calls;
mod received;

use crate::config::RegistryConfig;
use crate::digest::Digest;
use crate::engine::{Engine, Outbox};
use crate::error::Error;
use crate::one_shot::Output;
use crate::platform::Platform;
use crate::pull::FetchedManifest;
use crate::session::Session;
use crate::time::Instant;

use calls::Calls;

/// What to do with the manifest a reference names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestAction {
    /// Read it; with a platform and an index, read that platform's manifest too.
    Get {
        /// The platform whose manifest to take from an index.
        platform: Option<Platform>,
    },
    /// Read it, and put the same bytes under each of these tags.
    Tag {
        /// The new tags.
        tags: Vec<String>,
    },
    /// Delete it (by digest: a tag is resolved to its digest first, as [`Self::Resolve`]
    /// does).
    Delete,
    /// Its digest alone: asked with `HEAD` (Docker Hub counts a manifest `GET` against its
    /// pull limit, not a `HEAD`; crane and regsync ask so too), read by `GET` when the
    /// answer names no digest or is not a `200` (whose error the `GET` then says). The
    /// report then holds no manifest.
    Resolve,
    /// As [`Self::Resolve`], for asking whether it is there: a `404` to the `HEAD` is the
    /// answer (a `NotFound` error, without the `GET` that would say the registry's words),
    /// so a sync asking about tags the target lacks sends one request per tag, not two.
    Probe,
}

/// A manifest operation's plan.
#[derive(Clone, Debug)]
pub struct ManifestPlan {
    /// The registry's API host (and port).
    pub registry: String,
    /// The repository, e.g. `team/app`.
    pub repository: String,
    /// The tag or digest of the manifest.
    pub reference: String,
    /// What to do.
    pub action: ManifestAction,
}

/// What a manifest operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestReport {
    /// The digest of the manifest acted on: the one the reference names, or with a
    /// platform, that platform's.
    pub digest: Digest,
    /// That manifest as the registry served it; `None` for a deletion by digest (which
    /// reads nothing).
    pub manifest: Option<FetchedManifest>,
    /// The index the platform's manifest was taken from.
    pub index: Option<FetchedManifest>,
}

/// A manifest operation on one registry.
#[derive(Debug)]
pub struct ManifestOp {
    engine: Engine<Calls>,
}

impl ManifestOp {
    /// Starts `plan` with `config` at `now` with the version check.
    pub fn new(plan: ManifestPlan, config: &RegistryConfig, now: Instant) -> ManifestOp {
        let actions = match plan.action {
            ManifestAction::Get { .. } | ManifestAction::Resolve | ManifestAction::Probe => "pull",
            ManifestAction::Tag { .. } => "pull,push",
            ManifestAction::Delete => "pull,delete",
        };
        let session = Session::new(&plan.registry, config, now).scoped(&plan.repository, actions);
        let mut outputs = Outbox::default();
        let invalid = match &plan.action {
            ManifestAction::Tag { tags } => tags.iter().find_map(|t| {
                crate::reference::validate_tag(t)
                    .err()
                    .map(|why| format!("new tag {t:?}: {why}"))
            }),
            _ => None,
        };
        if let Some(message) = &invalid {
            outputs.push(Output::Finished(Err(Error::InvalidInput {
                message: message.clone(),
            })));
        }
        let calls = Calls::new(plan, outputs, invalid.is_some());
        ManifestOp {
            engine: Engine::new(calls, session),
        }
    }
}

crate::engine::engine_api!(ManifestOp, Output<ManifestReport>);

#[cfg(test)]
mod tests;
