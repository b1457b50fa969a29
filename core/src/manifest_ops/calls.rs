//! The manifest operation's protocol: `GET` the manifest, then as the action says `GET` a
//! platform's manifest of an index, `PUT` the bytes under each new tag, or `DELETE` by
//! digest.

use std::collections::HashMap;

use crate::digest::Digest;
use crate::engine::{Cx, Failure, Outbox, Parts, Protocol, Redirect, Response, Step};
use crate::error::Error;
use crate::http::{Body, HeaderMap, HeaderValue, Method, ResponseHead};
use crate::manifest::{self, Parsed, MANIFEST_ACCEPT};
use crate::one_shot::Output;
use crate::platform_search::{PlatformSearch, Verdict};
use crate::pull::FetchedManifest;

use super::received::received;
use super::{ManifestAction, ManifestPlan, ManifestReport};

/// How deleting is turned on in distribution, the registry most often run by hand.
const DELETE_HINT: &str = "; distribution needs storage.delete.enabled: true";

/// A request of the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Call {
    /// `HEAD` the manifest the reference names: its digest, from `Docker-Content-Digest`.
    Head,
    /// `GET` the manifest the reference names.
    Root,
    /// `GET` the platform's manifest named by the index.
    Child,
    /// `GET` the config of a single image read for a platform: it must be that platform's
    /// (as `docker pull --platform` holds it).
    Config,
    /// `PUT` the manifest under new tag number `n`.
    Put(usize),
    /// `DELETE` the manifest by digest.
    Delete,
}

#[derive(Debug)]
pub(super) struct Calls {
    plan: ManifestPlan,
    root: Option<FetchedManifest>,
    /// The platform's manifest, once the index named it.
    child: Option<Digest>,
    /// The config of a single image read for a platform, to check.
    config: Option<Digest>,
    /// The search through an index's entries naming no platform, when none names the one
    /// asked for, and the entry being tried.
    search: Option<PlatformSearch>,
    candidate: Option<FetchedManifest>,
    /// What a deletion deletes.
    target: Option<Digest>,
    puts_left: usize,
    attempts: HashMap<Call, u32>,
    redirects: HashMap<Call, Redirect>,
    outputs: Outbox<Output<ManifestReport>>,
    done: bool,
}

impl Calls {
    /// The protocol for `plan`; `done` when it ended before starting (`outputs` says how).
    pub(super) fn new(
        plan: ManifestPlan,
        outputs: Outbox<Output<ManifestReport>>,
        done: bool,
    ) -> Calls {
        Calls {
            plan,
            root: None,
            child: None,
            config: None,
            search: None,
            candidate: None,
            target: None,
            puts_left: 0,
            attempts: HashMap::new(),
            redirects: HashMap::new(),
            outputs,
            done,
        }
    }

    fn finish(&mut self, result: Result<ManifestReport, Error>) {
        if !self.done {
            self.done = true;
            self.outputs.push(Output::Finished(result));
        }
    }

    /// The reference as a digest, when it is one.
    fn reference_digest(&self) -> Option<Digest> {
        self.plan.reference.parse().ok()
    }

    fn tags(&self) -> &[String] {
        match &self.plan.action {
            ManifestAction::Tag { tags } => tags,
            _ => &[],
        }
    }

    /// The manifest came: what the action does with it next.
    fn on_root(&mut self, root: FetchedManifest, cx: &mut Cx<Call>) -> Result<(), Error> {
        let digest = root.digest.clone();
        self.root = Some(root.clone());
        match self.plan.action.clone() {
            ManifestAction::Get { platform: None } => self.finish(Ok(ManifestReport {
                digest,
                manifest: Some(root),
                index: None,
            })),
            ManifestAction::Get {
                platform: Some(platform),
            } => {
                let action = self.describe(Call::Root);
                let parsed = manifest::parse_served(&action, &root.media_type, &root.bytes)?;
                let manifests = match parsed {
                    Parsed::Index { manifests } => manifests,
                    // One image, no choice to make: its config must name the platform.
                    Parsed::Image { config, .. }
                        if config.size <= crate::session::MAX_BODY_IN_MEMORY as u64 =>
                    {
                        self.config = Some(config.digest);
                        cx.issue(Step::Op(Call::Config));
                        return Ok(());
                    }
                    Parsed::Image { .. } => {
                        self.finish(Ok(ManifestReport {
                            digest,
                            manifest: Some(root),
                            index: None,
                        }));
                        return Ok(());
                    }
                };
                let Some(entry) = manifest::entry_for(&manifests, &platform) else {
                    // Entries that name no platform (valid OCI) are tried by their configs,
                    // as a pull does.
                    let plan = &self.plan;
                    let name = crate::reference::named_at(
                        &plan.registry,
                        &plan.repository,
                        &plan.reference,
                    );
                    self.search = Some(PlatformSearch::of(manifests, &platform, &name)?);
                    return self.try_next_entry(cx);
                };
                self.child = Some(entry.digest.clone());
                cx.issue(Step::Op(Call::Child));
            }
            ManifestAction::Tag { tags } => {
                self.puts_left = tags.len();
                if tags.is_empty() {
                    self.finish(Ok(ManifestReport {
                        digest,
                        manifest: Some(root),
                        index: None,
                    }));
                }
                for n in 0..tags.len() {
                    cx.issue(Step::Op(Call::Put(n)));
                }
            }
            ManifestAction::Delete => self.delete(digest, cx),
            ManifestAction::Resolve | ManifestAction::Probe => self.finish(Ok(ManifestReport {
                digest,
                manifest: Some(root),
                index: None,
            })),
        }
        Ok(())
    }

    /// Asks for the next index entry naming no platform; none left is the error that the
    /// index has no image for the platform.
    fn try_next_entry(&mut self, cx: &mut Cx<Call>) -> Result<(), Error> {
        let Some(search) = &mut self.search else {
            return Ok(());
        };
        let Some(entry) = search.next() else {
            return Err(search.none_serves());
        };
        for call in [Call::Child, Call::Config] {
            self.attempts.remove(&call);
            self.redirects.remove(&call);
        }
        self.child = Some(entry.digest);
        self.config = None;
        self.candidate = None;
        cx.issue(Step::Op(Call::Child));
        Ok(())
    }

    /// An index entry naming no platform came: an image whose config fits in memory is
    /// judged by it; anything else is taken as it is, as a pull takes it.
    fn on_candidate(&mut self, child: FetchedManifest, cx: &mut Cx<Call>) -> Result<(), Error> {
        let action = self.describe(Call::Child);
        match manifest::parse_served(&action, &child.media_type, &child.bytes)? {
            Parsed::Image { config, .. }
                if config.size <= crate::session::MAX_BODY_IN_MEMORY as u64 =>
            {
                self.config = Some(config.digest);
                self.candidate = Some(child);
                cx.issue(Step::Op(Call::Config));
            }
            _ => {
                let index = self.root.clone();
                self.report(Some(child), index);
            }
        }
        Ok(())
    }

    /// Deletes the manifest the reference resolved to, saying which it is.
    fn delete(&mut self, digest: Digest, cx: &mut Cx<Call>) {
        self.outputs.push(Output::Resolved {
            reference: crate::reference::named(&self.plan.repository, &self.plan.reference),
            digest: digest.clone(),
        });
        self.target = Some(digest);
        cx.issue(Step::Op(Call::Delete));
    }

    /// The `HEAD` answered: the digest it names, else the manifest is read by `GET`. Asked
    /// by digest, the answer must name that digest.
    fn on_head_answer(&mut self, status: u16, head: &ResponseHead, cx: &mut Cx<Call>) {
        let named = head
            .header("docker-content-digest")
            .and_then(|h| h.trim().parse::<Digest>().ok())
            .filter(|d| self.reference_digest().is_none_or(|asked| asked == *d));
        match (status, named) {
            // A manifest's `HEAD` answers no body: its `404` is the manifest unknown.
            (404, _) if self.plan.action == ManifestAction::Probe => {
                let unknown = crate::registry_error::RegistryErrorEntry {
                    code: "MANIFEST_UNKNOWN".into(),
                    message: "manifest unknown (its HEAD answered 404)".into(),
                    detail: None,
                };
                self.finish(Err(Error::Registry {
                    action: self.describe(Call::Head),
                    status: 404,
                    errors: crate::registry_error::RegistryErrors {
                        entries: vec![unknown],
                        text: None,
                    },
                    by: None,
                }));
            }
            (200, Some(digest)) => match self.plan.action {
                ManifestAction::Delete => self.delete(digest, cx),
                _ => self.finish(Ok(ManifestReport {
                    digest,
                    manifest: None,
                    index: None,
                })),
            },
            _ => cx.issue(Step::Op(Call::Root)),
        }
    }

    /// The config of the single image read for a platform: checked against its digest,
    /// then its platform against the one asked for (a config naming none passes).
    fn on_config(&mut self, body: &[u8], cx: &mut Cx<Call>) -> Result<(), Error> {
        let (Some(expected), Some(root)) = (self.config.clone(), self.root.clone()) else {
            return Ok(());
        };
        let mut hasher = crate::digest::Hasher::new(expected.algorithm());
        hasher.update(body);
        let actual = hasher.finish();
        if actual != expected {
            return Err(Error::DigestMismatch {
                what: self.describe(Call::Config),
                expected,
                actual,
            });
        }
        if let Some(search) = &mut self.search {
            return match search.judge(body) {
                Verdict::Other => self.try_next_entry(cx),
                Verdict::Serves(_) => {
                    let candidate = self.candidate.take();
                    self.report(candidate, Some(root));
                    Ok(())
                }
            };
        }
        if let ManifestAction::Get {
            platform: Some(want),
        } = &self.plan.action
        {
            let name = crate::reference::named(&self.plan.repository, &self.plan.reference);
            if let Some(message) = want.refuses_single_image(&name, body) {
                return Err(Error::InvalidInput { message });
            }
        }
        self.report(Some(root), None);
        Ok(())
    }

    fn report(&mut self, manifest: Option<FetchedManifest>, index: Option<FetchedManifest>) {
        let digest = manifest
            .as_ref()
            .map(|m| m.digest.clone())
            .or_else(|| self.target.clone());
        let Some(digest) = digest else { return };
        self.finish(Ok(ManifestReport {
            digest,
            manifest,
            index,
        }));
    }
}

impl Protocol for Calls {
    type Step = Call;
    type Output = Output<ManifestReport>;

    fn outbox(&mut self) -> &mut Outbox<Self::Output> {
        &mut self.outputs
    }

    fn describe(&self, call: Call) -> String {
        let (repo, reference) = (&self.plan.repository, &self.plan.reference);
        let digest = |d: &Option<Digest>| d.as_ref().map(ToString::to_string).unwrap_or_default();
        match call {
            Call::Head => format!(
                "resolving {}/{}",
                self.plan.registry,
                crate::reference::named(repo, reference)
            ),
            Call::Root => format!(
                "fetching manifest {}/{}",
                self.plan.registry,
                crate::reference::named(repo, reference)
            ),
            Call::Child => format!("fetching manifest {} of {repo}", digest(&self.child)),
            Call::Config => format!("reading config {} of {repo}", digest(&self.config)),
            Call::Put(n) => format!(
                "tagging {} as {}",
                crate::reference::named(repo, reference),
                self.tags().get(n).map(String::as_str).unwrap_or("")
            ),
            Call::Delete => format!("deleting manifest {} of {repo}", digest(&self.target)),
        }
    }

    fn request(&mut self, call: Call, cx: &Cx<Call>) -> Result<Option<Parts>, Error> {
        let repo = &self.plan.repository;
        let mut headers = HeaderMap::new();
        let (method, reference, body) = match call {
            Call::Head => (Method::HEAD, self.plan.reference.clone(), Body::Empty),
            Call::Root => (Method::GET, self.plan.reference.clone(), Body::Empty),
            Call::Child => match &self.child {
                Some(d) => (Method::GET, d.to_string(), Body::Empty),
                None => return Ok(None),
            },
            Call::Put(n) => {
                let (Some(root), Some(tag)) = (&self.root, self.tags().get(n)) else {
                    return Ok(None);
                };
                if let Ok(v) = HeaderValue::try_from(root.media_type.as_str()) {
                    headers.insert("content-type", v);
                }
                (Method::PUT, tag.clone(), Body::Bytes(root.bytes.clone()))
            }
            Call::Delete => match &self.target {
                Some(d) => (Method::DELETE, d.to_string(), Body::Empty),
                None => return Ok(None),
            },
            Call::Config => {
                let Some(config) = &self.config else {
                    return Ok(None);
                };
                let url = match self.redirects.get(&call).and_then(|r| r.target.clone()) {
                    Some(u) => u,
                    None => cx
                        .endpoint
                        .blob(repo, config)
                        .map_err(|e| Error::InvalidInput {
                            message: format!("cannot build a URL for {}: {e}", self.plan.registry),
                        })?,
                };
                return Ok(Some(Parts::get(url, headers)));
            }
        };
        if method == Method::GET || method == Method::HEAD {
            headers.insert("accept", HeaderValue::from_static(MANIFEST_ACCEPT));
        }
        let url = match self.redirects.get(&call).and_then(|r| r.target.clone()) {
            Some(u) => u,
            None => cx
                .endpoint
                .manifest(repo, &reference)
                .map_err(|e| Error::InvalidInput {
                    message: format!("cannot build a URL for {}: {e}", self.plan.registry),
                })?,
        };
        Ok(Some(Parts {
            method,
            url,
            headers,
            body,
        }))
    }

    fn start(&mut self, cx: &mut Cx<Call>) {
        let by_digest = self.reference_digest();
        match (&self.plan.action, by_digest) {
            (ManifestAction::Delete, Some(digest)) => {
                self.target = Some(digest);
                cx.issue(Step::Op(Call::Delete));
            }
            (ManifestAction::Delete | ManifestAction::Resolve | ManifestAction::Probe, _) => {
                cx.issue(Step::Op(Call::Head))
            }
            _ => cx.issue(Step::Op(Call::Root)),
        }
    }

    fn redirect(&mut self, call: Call) -> Option<&mut Redirect> {
        matches!(call, Call::Head | Call::Root | Call::Child | Call::Config)
            .then(|| self.redirects.entry(call).or_default())
    }

    fn on_response(
        &mut self,
        call: Call,
        response: Response<'_>,
        cx: &mut Cx<Call>,
    ) -> Result<(), Failure> {
        let status = response.status();
        match call {
            Call::Head => self.on_head_answer(status, response.head, cx),
            Call::Root if status == 200 => {
                let what = self.describe(call);
                let expected = self.reference_digest();
                let root = received(&what, response.head, response.body, expected.as_ref())?;
                self.on_root(root, cx)?;
            }
            Call::Config if status == 200 => self.on_config(response.body, cx)?,
            Call::Child if status == 200 => {
                let what = self.describe(call);
                let child = received(&what, response.head, response.body, self.child.as_ref())?;
                if self.search.is_some() {
                    self.on_candidate(child, cx)?;
                } else {
                    let index = self.root.clone();
                    self.report(Some(child), index);
                }
            }
            Call::Put(_) if matches!(status, 200 | 201) => {
                self.puts_left = self.puts_left.saturating_sub(1);
                if self.puts_left == 0 {
                    let root = self.root.clone();
                    self.report(root, None);
                }
            }
            Call::Delete if matches!(status, 200 | 202) => {
                let root = self.root.clone();
                self.report(root, None);
            }
            _ => return Err(Failure::Status),
        }
        Ok(())
    }

    fn retry_as(&mut self, call: Call) -> Option<(Call, &mut u32)> {
        if let Some(r) = self.redirects.get_mut(&call) {
            r.clear();
        }
        Some((call, self.attempts.entry(call).or_insert(1)))
    }

    fn fail(&mut self, call: Option<Call>, error: Error, _: &mut Cx<Call>) {
        let error = match (call, error) {
            // distribution answers 405 unless deleting is turned on: say so.
            (
                Some(Call::Delete),
                Error::Registry {
                    action,
                    status: 405,
                    errors,
                    by,
                },
            ) => Error::Registry {
                action: format!("{action} (the registry does not allow deleting{DELETE_HINT})"),
                status: 405,
                errors,
                by,
            },
            (_, error) => error,
        };
        self.finish(Err(error));
    }

    fn finished(&self) -> bool {
        self.done
    }
}
