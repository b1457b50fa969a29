//! The pull state machine: resolve the reference to a manifest (choosing a platform from an
//! index), then download every blob it names, verifying each one as its bytes arrive.
//!
//! Contract: as for [`crate::push`]: drain [`Pull::poll`], feed inputs with
//! [`Pull::handle_input`]. Blob bytes come out as [`Output::Write`]; the runner appends them to a
//! temporary file per blob and moves it into place only on [`Output::Commit`], which comes
//! after the core checked size and digest. [`Output::Discard`] throws a temporary away.
//!
//! Downloads survive the runner: a failed or cancelled pull leaves its temporary files
//! alone, and a later pull given their bytes with [`Pull::handle_partial`] asks only for
//! the rest (`Range`), verifying the whole blob as usual.

mod blob;
mod blobs;
mod event;
mod manifests;
mod plan;
mod platform_check;
mod report;
mod step;

use std::collections::{HashMap, VecDeque};

pub use event::{BlobSink, Event, Output};
pub use plan::{FetchedManifest, PullConfig, PullPlan, PullReport, PulledImage};

use blob::{BlobDownload, BlobState};
use step::Step;

use crate::digest::{Digest, Hasher};
use crate::engine::{
    Accountant, BlobWindow, Cx, Engine, Failure, Outbox, Parts, Protocol, Redirect, Reporting,
    Response, Transient, Windowed,
};
use crate::error::{Error, Misuse};
use crate::http::{
    content_range_length, content_range_start, HeaderMap, HeaderValue, ResponseHead,
};
use crate::manifest::MANIFEST_ACCEPT;
use crate::platform::Platform;
use crate::session::Session;
use crate::time::Instant;

/// A manifest to fetch.
#[derive(Clone, Debug)]
struct ManifestJob {
    /// Tag or digest to ask for.
    reference: String,
    /// The digest it must have (when asked for by digest).
    expect: Option<Digest>,
    /// The platform its index entry named.
    platform: Option<Platform>,
    redirect: Redirect,
    attempts: u32,
    fetched: Option<PulledImage>,
    root: bool,
    /// An index entry naming no platform, tried for the platform asked for because no
    /// entry names it: its config says whether it serves it.
    unplatformed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ping,
    Manifests,
    Blobs,
    Finished,
}

/// A pull of one image (or one index with `all_platforms`).
#[derive(Debug)]
pub struct Pull {
    engine: Engine<Pulling>,
}

/// The pull's protocol: the manifest (and an index's children), then the blobs.
#[derive(Debug)]
struct Pulling {
    plan: PullPlan,
    config: PullConfig,
    phase: Phase,
    manifests: Vec<ManifestJob>,
    root: Option<FetchedManifest>,
    pending_manifests: usize,
    /// Index entries waiting for a slot: at most `config.jobs` child manifests are asked
    /// for at once (an index may name hundreds).
    manifest_queue: VecDeque<usize>,
    /// Child manifests asked for and not yet in.
    manifests_active: usize,
    blobs: Vec<BlobDownload>,
    window: BlobWindow,
    outputs: Outbox<Output>,
    accountant: Accountant,
    /// Prefixes of blobs an earlier run left: bytes held and their running hash.
    partials: HashMap<Digest, (u64, Hasher)>,
    /// The search through an index's entries naming no platform, when none names the one
    /// asked for.
    unplatformed: Option<crate::platform_search::PlatformSearch>,
}

impl Pull {
    /// What its version check established, once the registry answered it.
    pub(crate) fn reached(&self) -> Option<crate::config::Reached> {
        self.engine.reached()
    }
    /// A pull of `plan`, starting at `now`.
    pub fn new(plan: PullPlan, config: PullConfig, now: Instant) -> Pull {
        Pull::with_ids(plan, config, now, 0)
    }

    /// [`Pull::new`] numbering its requests from `id_base` on.
    pub(crate) fn with_ids(plan: PullPlan, config: PullConfig, now: Instant, id_base: u64) -> Pull {
        let session = Session::new(&plan.registry, &config.registry, now)
            .ids_from(id_base)
            .scoped(&plan.repository, "pull");
        let root_job = ManifestJob {
            reference: plan.reference.clone(),
            expect: plan.reference.parse::<Digest>().ok(),
            platform: None,
            redirect: Redirect::default(),
            attempts: 1,
            fetched: None,
            root: true,
            unplatformed: false,
        };
        let pulling = Pulling {
            window: BlobWindow::new(config.transfer.jobs, config.transfer.adaptive),
            accountant: Accountant::new(now, config.transfer.progress_interval),
            plan,
            config,
            phase: Phase::Ping,
            manifests: vec![root_job],
            root: None,
            pending_manifests: 1,
            manifest_queue: VecDeque::new(),
            manifests_active: 0,
            blobs: Vec::new(),
            outputs: Outbox::default(),
            partials: HashMap::new(),
            unplatformed: None,
        };
        Pull {
            engine: Engine::new(pulling, session),
        }
    }

    /// Bytes of blob `digest` that an earlier run already wrote to its temporary file, in
    /// order from byte 0, one piece per call. They are hashed now and not downloaded again:
    /// if the pull needs the blob it asks for the rest with `Range` and checks the whole
    /// digest at the end (a mismatch discards the file and fails as usual). Call before the
    /// blobs start, i.e. before feeding the manifest responses; prefixes of blobs the pull
    /// does not need are ignored.
    pub fn handle_partial(&mut self, digest: &Digest, data: &[u8]) -> Result<(), Misuse> {
        let p = &mut self.engine.proto;
        if matches!(p.phase, Phase::Blobs | Phase::Finished) {
            return Err(Misuse::OutOfOrder(
                "handle_partial came after the blobs started",
            ));
        }
        let (len, hasher) = p
            .partials
            .entry(digest.clone())
            .or_insert_with(|| (0, Hasher::new(digest.algorithm())));
        *len += data.len() as u64;
        hasher.update(data);
        Ok(())
    }

    /// The image manifests fetched so far, with the blobs each names: all of them once the
    /// first blob starts ([`Event::BlobStarted`]), so a runner can tell a config from a layer
    /// as its bytes arrive (to turn layers into tars while they download).
    pub fn images(&self) -> impl Iterator<Item = &PulledImage> {
        self.engine
            .proto
            .manifests
            .iter()
            .filter_map(|m| m.fetched.as_ref())
    }
}

crate::engine::engine_api!(Pull, Output);

impl Protocol for Pulling {
    type Step = Step;
    type Output = Output;

    fn outbox(&mut self) -> &mut Outbox<Output> {
        &mut self.outputs
    }

    fn describe(&self, step: Step) -> String {
        match step {
            Step::Manifest(m) => format!(
                "fetching manifest {}/{}",
                self.plan.registry,
                crate::reference::named(&self.plan.repository, &self.manifests[m].reference)
            ),
            Step::Blob(b) => format!("downloading blob {}", self.blobs[b].digest),
            Step::Config(m) => format!(
                "reading the config of {}/{}",
                self.plan.registry,
                crate::reference::named(&self.plan.repository, &self.manifests[m].reference)
            ),
        }
    }

    fn blob_of(&self, step: Step) -> Option<Digest> {
        match step {
            Step::Blob(b) => Some(self.blobs[b].digest.clone()),
            Step::Manifest(_) | Step::Config(_) => None,
        }
    }

    fn request(&mut self, step: Step, cx: &Cx<Step>) -> Result<Option<Parts>, Error> {
        let repo = &self.plan.repository;
        let mut headers = HeaderMap::new();
        let url = match step {
            Step::Manifest(m) => {
                headers.insert("accept", HeaderValue::from_static(MANIFEST_ACCEPT));
                let job = &self.manifests[m];
                match &job.redirect.target {
                    Some(u) => Ok(u.clone()),
                    None => cx.endpoint.manifest(repo, &job.reference),
                }
            }
            Step::Blob(b) => {
                let blob = &self.blobs[b];
                if blob.received > 0 {
                    if let Ok(v) = HeaderValue::try_from(format!("bytes={}-", blob.received)) {
                        headers.insert("range", v);
                    }
                }
                match &blob.redirect.target {
                    Some(u) => Ok(u.clone()),
                    None => cx.endpoint.blob(repo, &blob.digest),
                }
            }
            Step::Config(m) => {
                let job = &self.manifests[m];
                match (&job.redirect.target, &job.fetched) {
                    (Some(u), _) => Ok(u.clone()),
                    (None, Some(image)) => cx.endpoint.blob(repo, &image.config.digest),
                    (None, None) => return Ok(None),
                }
            }
        };
        let url = url.map_err(|e| Error::InvalidInput {
            message: format!("cannot build a URL for {}: {e}", self.plan.registry),
        })?;
        Ok(Some(Parts::get(url, headers)))
    }

    fn start(&mut self, cx: &mut Cx<Step>) {
        self.phase = Phase::Manifests;
        cx.issue(crate::engine::Step::Op(Step::Manifest(0)));
    }

    fn on_head(&mut self, step: Step, head: &ResponseHead, _cx: &mut Cx<Step>) -> bool {
        let Step::Blob(b) = step else {
            return false;
        };
        let range_start = head.header("content-range").and_then(content_range_start);
        let blob = &mut self.blobs[b];
        match head.status.as_u16() {
            200 => {
                if blob.received > 0 {
                    // The server ignored the range: start this blob over.
                    let digest = blob.digest.clone();
                    blob.restart();
                    self.outputs.push(Output::Discard { digest });
                }
                self.blobs[b].state = BlobState::Receiving;
            }
            206 if range_start == Some(blob.received) => blob.state = BlobState::Receiving,
            // Read through, not kept: it is no part of the blob where it is wanted.
            206 => blob.state = BlobState::WrongRange { start: range_start },
            _ => {}
        }
        matches!(
            self.blobs[b].state,
            BlobState::Receiving | BlobState::WrongRange { .. }
        )
    }

    /// Blob bytes are hashed and passed on as [`Output::Write`].
    fn on_data(&mut self, step: Step, data: &[u8], cx: &mut Cx<Step>) {
        let Step::Blob(b) = step else {
            return;
        };
        let blob = &mut self.blobs[b];
        if matches!(blob.state, BlobState::WrongRange { .. }) {
            return;
        }
        let offset = blob.received;
        if offset.saturating_add(data.len() as u64) > blob.size {
            // The image is not what its manifest says, whoever holds it: bad input (3).
            let message = format!(
                "blob {} of {}/{} is longer than the {} bytes the manifest's descriptor says",
                blob.digest, self.plan.registry, self.plan.repository, blob.size
            );
            let digest = blob.digest.clone();
            self.outputs.push(Output::Discard { digest });
            self.finish(Err(Error::InvalidInput { message }), cx);
            return;
        }
        blob.hasher.update(data);
        blob.received += data.len() as u64;
        self.accountant.count(data.len() as u64);
        let digest = blob.digest.clone();
        self.outputs.push(Output::Write {
            digest,
            offset,
            data: data.to_vec(),
        });
        self.maybe_progress(false, cx);
        self.adapt(cx);
    }

    fn redirect(&mut self, step: Step) -> Option<&mut Redirect> {
        Some(match step {
            Step::Manifest(m) | Step::Config(m) => &mut self.manifests[m].redirect,
            Step::Blob(b) => &mut self.blobs[b].redirect,
        })
    }

    fn on_response(
        &mut self,
        step: Step,
        response: Response<'_>,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        let status = response.status();
        match step {
            Step::Manifest(m) if status == 200 => {
                self.on_manifest(m, response.head, response.body, cx)?
            }
            Step::Config(m) if status == 200 => self.on_config(m, response.body, cx)?,
            Step::Blob(b) if self.blobs[b].state == BlobState::Receiving => {
                self.on_blob_end(b, cx)?
            }
            // Asked for the rest of a blob that had all arrived (the connection broke after
            // its last byte): nothing is left, so what arrived is checked as the whole.
            Step::Blob(b) if status == 416 && self.blobs[b].is_all_here() => {
                self.on_blob_end(b, cx)?
            }
            // A range other than the one asked for: this blob starts over from its first
            // byte (asked for whole), as an attempt.
            Step::Blob(b) if matches!(self.blobs[b].state, BlobState::WrongRange { .. }) => {
                let asked = self.blobs[b].received;
                let reason = match self.blobs[b].state {
                    BlobState::WrongRange { start: Some(s) } => format!(
                        "the registry sent bytes from {s} (Content-Range), not from {asked} as asked"
                    ),
                    _ => format!(
                        "the registry answered 206 with no readable Content-Range for bytes from {asked}"
                    ),
                };
                self.start_over(b, step, reason, cx)?;
            }
            // The rest of a blob refused (a `416` before all of it arrived): shorter than its
            // descriptor by the registry's own count (`Content-Range: bytes */LENGTH`) is bad
            // input, at once; else (a server or cache that serves no such range) the blob
            // starts over from its first byte.
            Step::Blob(b) if status == 416 => {
                let blob = &self.blobs[b];
                let length = response
                    .head
                    .header("content-range")
                    .and_then(content_range_length);
                if let Some(length) = length.filter(|l| *l < blob.size) {
                    let message = format!(
                        "blob {} of {}/{} is {length} bytes, but the manifest's descriptor says \
                         it is {}",
                        blob.digest, self.plan.registry, self.plan.repository, blob.size
                    );
                    let digest = blob.digest.clone();
                    self.outputs.push(Output::Discard { digest });
                    return Err(Failure::Error(Error::InvalidInput { message }));
                }
                let reason = format!(
                    "the registry refused the rest of the blob from byte {} (416): asking for \
                     all of it",
                    blob.received
                );
                self.start_over(b, step, reason, cx)?;
            }
            _ => return Err(Failure::Status),
        }
        Ok(())
    }

    fn on_transient(&mut self, step: Step, why: Transient, cx: &mut Cx<Step>) {
        if !matches!(why, Transient::Status(500)) {
            self.congestion(step, cx);
        }
    }

    fn retry_as(&mut self, step: Step) -> Option<(Step, &mut u32)> {
        Some(match step {
            Step::Manifest(m) | Step::Config(m) => {
                let job = &mut self.manifests[m];
                job.redirect.clear();
                (step, &mut job.attempts)
            }
            Step::Blob(b) => {
                // Keep what arrived: the next request asks for the rest with `Range`.
                (step, self.blobs[b].resume())
            }
        })
    }

    fn fail(&mut self, _step: Option<Step>, error: Error, cx: &mut Cx<Step>) {
        self.finish(Err(error), cx);
    }

    fn finished(&self) -> bool {
        self.outputs.ended()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Input;

    /// Answers the pull's requests in order: the version check, then `manifest`.
    fn pull_with(plan: PullPlan, manifest: &str) -> Result<PullReport, Error> {
        let now = Instant::ZERO;
        let mut pull = Pull::new(plan, PullConfig::default(), now);
        let mut answers = vec![manifest.as_bytes(), b""];
        for _ in 0..10 {
            while let Some(out) = pull.poll() {
                match out {
                    Output::Send(req) => {
                        let body = answers.pop().expect("no more requests expected");
                        pull.handle_input(now, Input::Response(req.id, ResponseHead::new(200)))
                            .unwrap();
                        pull.handle_input(now, Input::BodyChunk(req.id, body))
                            .unwrap();
                        pull.handle_input(now, Input::BodyEnd(req.id)).unwrap();
                    }
                    Output::Finished(result) => return result,
                    _ => {}
                }
            }
        }
        panic!("the pull did not finish");
    }

    /// A runner turning layers into tars as they download tells a config from a layer by
    /// the images the pull names once its blobs start.
    #[test]
    fn the_images_are_known_when_the_first_blob_starts() {
        let config = Digest::sha256_of(b"{}");
        let layer = Digest::sha256_of(b"layer");
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{config}","size":2}},"layers":[{{"digest":"{layer}","size":5}}]}}"#
        );
        let plan = PullPlan {
            registry: "registry.example".into(),
            repository: "a/b".into(),
            reference: "v1".into(),
            platform: Platform::from_rust("linux", "x86_64"),
            all_platforms: false,
            have: vec![],
            manifests_only: false,
            platform_required: false,
        };
        let now = Instant::ZERO;
        let mut pull = Pull::new(plan, PullConfig::default(), now);
        assert_eq!(pull.images().count(), 0);
        let mut answers = vec![manifest.as_bytes(), b""];
        let mut seen = None;
        for _ in 0..10 {
            while let Some(out) = pull.poll() {
                match out {
                    Output::Send(req) if !answers.is_empty() => {
                        let body = answers.pop().unwrap();
                        pull.handle_input(now, Input::Response(req.id, ResponseHead::new(200)))
                            .unwrap();
                        pull.handle_input(now, Input::BodyChunk(req.id, body))
                            .unwrap();
                        pull.handle_input(now, Input::BodyEnd(req.id)).unwrap();
                    }
                    Output::Event(Event::BlobStarted { .. }) if seen.is_none() => {
                        seen = Some(pull.images().cloned().collect::<Vec<_>>());
                    }
                    _ => {}
                }
            }
        }
        let images = seen.expect("a blob started");
        let [image] = images.as_slice() else {
            panic!("{images:?}")
        };
        assert_eq!(image.config.digest, config);
        assert_eq!(image.layers[0].digest, layer);
    }

    /// Found by the `pull_responses` fuzz target: sizes near `u64::MAX` in a manifest
    /// overflowed the progress and report sums.
    #[test]
    fn huge_descriptor_sizes_do_not_overflow_the_sums() {
        let d1 = Digest::sha256_of(b"1");
        let d2 = Digest::sha256_of(b"2");
        let config = Digest::sha256_of(b"{}");
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{config}","size":{max}}},"layers":[{{"digest":"{d1}","size":{max}}},{{"digest":"{d2}","size":{max}}}]}}"#,
            max = u64::MAX
        );
        let plan = PullPlan {
            registry: "registry.example".into(),
            repository: "a/b".into(),
            reference: "v1".into(),
            platform: Platform::from_rust("linux", "x86_64"),
            all_platforms: false,
            have: vec![config, d1, d2],
            manifests_only: false,
            platform_required: false,
        };
        let report = pull_with(plan, &manifest).expect("pulled");
        assert_eq!(report.blobs_skipped, 3);
        assert_eq!(report.bytes_skipped, u64::MAX);
    }
}
