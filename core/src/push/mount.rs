//! Which repository of the registry each blob is mounted from: the plan's `mount_from` for
//! every blob (a copy within one registry, a sync's earlier image), else where the runner
//! last saw that blob ([`PushPlan::mount_sources`], as skopeo's blob-info cache does). A
//! source the registry refuses is not asked again and the blob is uploaded instead: a `401`
//! a fresh token does not cure (the account may not read it), a status that would be
//! retried (`5xx`, `429`), any other answer but `201` mounted or `202` upload, or a `201`
//! that was not true (the registry names the blob unknown in the manifest).

use std::collections::BTreeMap;

use crate::digest::Digest;

use super::plan::PushPlan;

/// The most repositories one push mounts from: each is a scope in every token request.
pub const MAX_MOUNT_SOURCES: usize = 8;

/// The mount sources of one push.
#[derive(Clone, Debug, Default)]
pub(super) struct Mounts {
    /// For every blob the plan knows another place of: the repository to ask for it.
    by_blob: BTreeMap<Digest, String>,
    /// The plan's source for every other blob.
    default: Option<String>,
    /// Sources the registry refused.
    refused: Vec<String>,
}

impl Mounts {
    /// The sources `plan` names: for each of its blobs (in plan order) the first of its
    /// places that is a repository other than the target, as long as at most
    /// [`MAX_MOUNT_SOURCES`] repositories come of it. Places of blobs the plan does not
    /// name are no matter.
    pub(super) fn of(plan: &PushPlan) -> Mounts {
        let mut by_blob = BTreeMap::new();
        let mut repositories: Vec<&str> = plan.mount_from.iter().map(String::as_str).collect();
        let known = plan
            .blobs
            .iter()
            .filter_map(|b| Some((&b.digest, plan.mount_sources.get(&b.digest)?)));
        for (digest, places) in known {
            // Places come from a runner's records: a name that is no repository is skipped.
            let usable = |r: &&String| {
                **r != plan.repository && crate::reference::validate_repository(r).is_ok()
            };
            let Some(from) = places.iter().find(usable) else {
                continue;
            };
            if !repositories.contains(&from.as_str()) {
                if repositories.len() >= MAX_MOUNT_SOURCES {
                    continue;
                }
                repositories.push(from);
            }
            by_blob.insert(digest.clone(), from.clone());
        }
        Mounts {
            by_blob,
            default: plan.mount_from.clone(),
            refused: Vec::new(),
        }
    }

    /// Every repository blobs may be mounted from (each needs `pull` in the token).
    pub(super) fn repositories(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.default.iter().map(String::as_str).collect();
        for from in self.by_blob.values() {
            if !all.contains(&from.as_str()) {
                all.push(from);
            }
        }
        all
    }

    /// Where to ask for blob `digest`, if anywhere: the plan's source (a copy's own source
    /// repository, a sync's earlier image: surer than a record), else where it was seen,
    /// whichever the registry has not refused.
    pub(super) fn source(&self, digest: &Digest) -> Option<&str> {
        let open = |from: &&String| !self.refused.contains(*from);
        let plan = self.default.as_ref().filter(open);
        plan.or_else(|| self.by_blob.get(digest).filter(open))
            .map(String::as_str)
    }

    /// The registry refused a mount from `from`: no blob asks there again.
    pub(super) fn refuse(&mut self, from: &str) {
        if !self.refused.iter().any(|r| r == from) {
            self.refused.push(from.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::{PlanBlob, PlanManifest};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn plan(blobs: &[&Digest], places: &[(&Digest, &[&str])]) -> PushPlan {
        PushPlan {
            registry: "reg.example".into(),
            repository: "team/app".into(),
            reference: "v1".into(),
            blobs: blobs
                .iter()
                .map(|d| PlanBlob {
                    digest: (*d).clone(),
                    size: 1,
                })
                .collect(),
            manifest: PlanManifest {
                bytes: Vec::new(),
                media_type: String::new(),
                digest: Digest::sha256_of(b""),
            },
            mount_from: Some("team/base".into()),
            mount_sources: places
                .iter()
                .map(|(d, p)| ((*d).clone(), p.iter().map(|s| s.to_string()).collect()))
                .collect(),
            resume: Vec::new(),
            children: Vec::new(),
            pending: Vec::new(),
            streamed: Vec::new(),
        }
    }

    #[test]
    fn the_plans_source_goes_first_then_where_a_blob_was_seen() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let mut m = Mounts::of(&plan(&[&a, &b], &[(&a, &["team/app", "other/app"])]));
        assert_eq!(m.source(&a), Some("team/base"));
        assert_eq!(m.source(&b), Some("team/base"));
        m.refuse("team/base");
        assert_eq!(m.source(&a), Some("other/app"), "the target is no source");
        assert_eq!(m.source(&b), None);
        m.refuse("other/app");
        assert_eq!(m.source(&a), None);
    }

    #[test]
    fn at_most_eight_repositories_are_sources() {
        let digests: Vec<Digest> = (0..12u8).map(|i| Digest::sha256_of(&[i])).collect();
        let names: Vec<String> = (0..12).map(|i| format!("r/{i}")).collect();
        let places: Vec<(&Digest, Vec<&str>)> = digests
            .iter()
            .zip(&names)
            .map(|(d, n)| (d, vec![n.as_str()]))
            .collect();
        let places: Vec<(&Digest, &[&str])> =
            places.iter().map(|(d, p)| (*d, p.as_slice())).collect();
        let blobs: Vec<&Digest> = digests.iter().collect();
        let mut m = Mounts::of(&plan(&blobs, &places));
        assert_eq!(m.repositories().len(), MAX_MOUNT_SOURCES);
        assert_eq!(
            m.source(&digests[11]),
            Some("team/base"),
            "the plan's first"
        );
        m.refuse("team/base");
        assert_eq!(m.source(&digests[0]), Some("r/0"));
        assert_eq!(m.source(&digests[11]), None, "beyond eight: none");
    }
}
