//! The manifests, first: the root (checked against the digest asked for and the one the
//! registry reports), an index's entries (every one, or the platform's) asked for `jobs` at a
//! time, each parsed as an image or refused.

use crate::digest::{Digest, Hasher};
use crate::engine::{Cx, Protocol, Reporting};
use crate::error::Error;
use crate::http::ResponseHead;
use crate::manifest::{self, Parsed};

use super::event::Event;
use super::plan::{FetchedManifest, PulledImage};
use super::step::Step;
use super::{ManifestJob, Pulling};
use crate::engine::Redirect;
use crate::platform_search::PlatformSearch;

impl Pulling {
    pub(super) fn on_manifest(
        &mut self,
        m: usize,
        head: &ResponseHead,
        body: &[u8],
        cx: &mut Cx<Step>,
    ) -> Result<(), Error> {
        let action = self.describe(Step::Manifest(m));
        let job = &self.manifests[m];
        let what = format!("manifest {} of {}", job.reference, self.plan.repository);
        // A signed schema 1 manifest is held to its payload's digest (and refused as what it
        // is when parsed, never as a digest mismatch).
        let digested = crate::schema1::digested(body);
        let check = |expected: &Digest| -> Result<(), Error> {
            let mut h = Hasher::new(expected.algorithm());
            h.update(&digested);
            let actual = h.finish();
            if &actual != expected {
                return Err(Error::DigestMismatch {
                    what: what.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
            Ok(())
        };
        // Asked for by digest, the body is held to that digest alone (a header naming
        // another changes nothing); asked for by tag, to the digest the registry reports.
        match &job.expect {
            Some(expected) => check(expected)?,
            None => {
                let header = head.header("docker-content-digest");
                if let Some(reported) = header.and_then(|h| h.trim().parse::<Digest>().ok()) {
                    check(&reported)?;
                }
            }
        }
        let media_type =
            manifest::media_type_of(head.header("content-type"), body).ok_or_else(|| {
                Error::Protocol {
                    action: action.clone(),
                    message: "the manifest is neither a known media type nor JSON".into(),
                }
            })?;
        let parsed = manifest::parse_served(&action, &media_type, body)?;
        let fetched = FetchedManifest {
            digest: match &job.expect {
                Some(d) => d.clone(),
                None => Digest::sha256_of(&digested),
            },
            media_type: media_type.clone(),
            bytes: body.to_vec(),
        };
        if job.root {
            self.event(Event::Resolved {
                digest: fetched.digest.clone(),
                media_type: media_type.clone(),
            });
            self.root = Some(fetched.clone());
        }
        self.pending_manifests -= 1;
        if !self.manifests[m].root {
            self.manifests_active = self.manifests_active.saturating_sub(1);
        }
        match parsed {
            Parsed::Index { manifests } => {
                if !self.manifests[m].root {
                    // Valid OCI, but not something tug pulls: the image's shape, not the
                    // registry's fault.
                    return Err(Error::InvalidInput {
                        message: format!(
                            "{action}: it is an index inside an index, which tug does not pull"
                        ),
                    });
                }
                self.add_children(manifests, cx)?;
            }
            Parsed::Image { config, layers } => {
                let platform = self.manifests[m].platform.clone();
                self.manifests[m].fetched = Some(PulledImage {
                    manifest: fetched,
                    platform,
                    config,
                    layers,
                });
                if self.needs_platform_check(m) {
                    self.check_platform(m, cx);
                }
            }
        }
        if self.pending_manifests == 0 {
            self.start_blobs(cx)
                .map_err(|message| Error::Protocol { action, message })?;
        } else {
            self.fill_manifest_slots(cx);
        }
        Ok(())
    }

    /// Asks for queued child manifests while fewer than `config.jobs` are in flight.
    pub(super) fn fill_manifest_slots(&mut self, cx: &mut Cx<Step>) {
        while self.manifests_active < self.config.transfer.jobs.max(1) {
            let Some(m) = self.manifest_queue.pop_front() else {
                return;
            };
            self.manifests_active += 1;
            cx.issue(crate::engine::Step::Op(Step::Manifest(m)));
        }
    }

    /// Queues the index entries to fetch: every one (each manifest once, however many
    /// entries name it), or the one for the plan's platform.
    pub(super) fn add_children(
        &mut self,
        entries: Vec<manifest::Descriptor>,
        cx: &mut Cx<Step>,
    ) -> Result<(), Error> {
        let chosen: Vec<manifest::Descriptor> = if self.plan.all_platforms {
            let mut seen = std::collections::HashSet::new();
            entries
                .into_iter()
                .filter(|e| seen.insert(e.digest.clone()))
                .collect()
        } else {
            let want = &self.plan.platform;
            let found = manifest::entry_for(&entries, want).cloned();
            match found {
                Some(e) => {
                    self.event(Event::PlatformChosen {
                        platform: e.platform.clone().unwrap_or_else(|| want.clone()),
                        digest: e.digest.clone(),
                    });
                    vec![e]
                }
                None => {
                    // Entries that name no platform (valid OCI) are tried in order: their
                    // configs say which they are, as `tug inspect` reads them.
                    let plan = &self.plan;
                    let name = crate::reference::named_at(
                        &plan.registry,
                        &plan.repository,
                        &plan.reference,
                    );
                    let search = PlatformSearch::of(entries, want, &name)?;
                    self.unplatformed = Some(search);
                    return self.try_unplatformed(cx);
                }
            }
        };
        for entry in chosen {
            self.queue_child(entry, false);
        }
        self.fill_manifest_slots(cx);
        Ok(())
    }

    /// Queues index entry `entry` to fetch.
    fn queue_child(&mut self, entry: manifest::Descriptor, unplatformed: bool) {
        self.manifests.push(ManifestJob {
            reference: entry.digest.to_string(),
            expect: Some(entry.digest),
            platform: entry.platform,
            redirect: Redirect::default(),
            attempts: 1,
            fetched: None,
            root: false,
            unplatformed,
        });
        self.pending_manifests += 1;
        self.manifest_queue.push_back(self.manifests.len() - 1);
    }

    /// Tries the next index entry naming no platform for the one asked for; none left is
    /// the error that the index has no image for it.
    pub(super) fn try_unplatformed(&mut self, cx: &mut Cx<Step>) -> Result<(), Error> {
        let Some(search) = &mut self.unplatformed else {
            return Ok(());
        };
        let Some(entry) = search.next() else {
            return Err(search.none_serves());
        };
        self.queue_child(entry, true);
        self.fill_manifest_slots(cx);
        Ok(())
    }
}
