//! The manifests, last: checked before anything is sent, pushed children first and the
//! tagged one at the end, each checked against the digest the registry reports; and the one
//! second chance when the registry says a blob it confirmed is gone.

use std::time::Duration;

use crate::engine::Step::Op;
use crate::engine::{Cx, Reporting, Windowed};
use crate::error::Error;
use crate::http::ResponseHead;
use crate::registry_error::RegistryErrors;
use crate::retry::Retrying;

use super::blob::BlobState;
use super::event::Event;
use super::plan::PlanManifest;
use super::step::Step;
use super::{Phase, Pushing};
use crate::engine::Failure;

impl Pushing {
    pub(super) fn validate(&self) -> Result<(), Error> {
        if !self.manifests_ready {
            return Ok(()); // checked when they come
        }
        let m = &self.plan.manifest;
        if let Ok(d) = self.plan.reference.parse::<crate::Digest>() {
            if d != m.digest {
                return Err(Error::InvalidInput {
                    message: format!(
                        "the target names digest {d}, but the manifest to push has digest {}",
                        m.digest
                    ),
                });
            }
        }
        for m in self.plan.children.iter().chain([m]) {
            let actual = crate::Digest::of(m.digest.algorithm(), &m.bytes);
            if actual != m.digest {
                return Err(Error::DigestMismatch {
                    what: "manifest".into(),
                    expected: m.digest.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }

    pub(super) fn on_manifest(
        &mut self,
        n: usize,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        if head.status.as_u16() != 201 {
            return Err(Failure::Status);
        }
        let expected = self.manifest(n).digest.clone();
        if let Some(reported) = head.header("docker-content-digest") {
            // A registry may name a manifest by another algorithm (sha256 for one pushed by
            // its sha512): then the bytes sent must hash to that.
            let other = match reported.trim().parse::<crate::Digest>() {
                Ok(d) if d.algorithm() != expected.algorithm() => {
                    Some(d.clone() == crate::Digest::of(d.algorithm(), &self.manifest(n).bytes))
                }
                _ => None,
            };
            if other != Some(true) && reported.trim() != expected.to_string() {
                let msg = format!("it stored the manifest {expected} as {reported:?}");
                return Err(self.protocol(Step::Manifest(n), &msg));
            }
        }
        if n == self.plan.children.len() && head.header("oci-subject").is_some() {
            self.subject_indexed = true;
        }
        self.event(Event::ManifestPushed {
            digest: expected.clone(),
        });
        if n < self.plan.children.len() {
            self.manifest_attempts = 1;
            cx.issue(Op(Step::Manifest(n + 1)));
        } else {
            self.succeed(cx);
        }
        Ok(())
    }

    /// Manifest number `n` in push order: the children, then the root.
    pub(super) fn manifest(&self, n: usize) -> &PlanManifest {
        self.plan.children.get(n).unwrap_or(&self.plan.manifest)
    }

    /// The manifest named a blob the registry says it lacks, though it confirmed every blob
    /// (another client's upload of the same blob racing ours, a cleanup between): check each
    /// blob again, upload what is missing, then send the manifests again — once.
    pub(super) fn recheck_blobs(&mut self, status: u16, cx: &mut Cx<Step>) {
        self.rechecked = true;
        self.phase = Phase::Blobs;
        cx.retries += 1;
        let what = format!("manifest for {}", self.plan.reference);
        self.event(Event::Retrying(Retrying {
            what,
            attempt: 2,
            delay: Duration::ZERO,
            reason: format!("{status} from registry: a blob it confirmed is unknown to it; checking every blob again"),
            blob: None,
        }));
        for b in 0..self.blobs.len() {
            if matches!(self.blobs[b].state, BlobState::Done { .. }) {
                self.blobs[b].recheck = Some(self.blobs[b].state.clone());
                self.window.push_back(b);
            }
        }
        self.fill_slots(cx);
    }
}

/// The foreign layer (a descriptor with `urls`, never uploaded) of manifest `bytes` that a
/// refusal of it names as a blob the registry lacks (`MANIFEST_BLOB_UNKNOWN` with its
/// digest as detail), with its first URL.
pub(super) fn refused_foreign_layer(bytes: &[u8], body: &[u8]) -> Option<(String, String)> {
    let errors = RegistryErrors::parse(body);
    let unknown: Vec<&str> = errors
        .entries
        .iter()
        .filter(|e| e.code == "MANIFEST_BLOB_UNKNOWN")
        .filter_map(|e| e.detail.as_deref())
        .collect();
    let media_type = crate::manifest::media_type_of(None, bytes)?;
    let crate::manifest::Parsed::Image { layers, .. } =
        crate::manifest::parse(&media_type, bytes).ok()?
    else {
        return None;
    };
    layers
        .into_iter()
        .filter(|l| l.is_foreign() && unknown.contains(&l.digest.to_string().as_str()))
        .find_map(|l| Some((l.digest.to_string(), l.urls.first()?.clone())))
}

/// Why a registry refused a manifest over its foreign layer `digest` (fetched from `url`).
pub(super) fn foreign_layer_refused(action: String, (digest, url): (String, String)) -> String {
    format!(
        "{action}: the registry does not take the manifest's foreign layer {digest} (one \
         fetched from {url}, never uploaded); distribution takes foreign layers' URLs only \
         where its validation.manifests.urls.allow setting names them"
    )
}

/// A manifest `PUT` refused because it names a blob the registry does not have.
pub(super) fn names_unknown_blob(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 400 | 404) {
        return false;
    }
    let errors = RegistryErrors::parse(body);
    errors.has_code("MANIFEST_BLOB_UNKNOWN") || errors.has_code("BLOB_UNKNOWN")
}
