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
mod event;
mod plan;
mod step;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

pub use event::{BlobSink, Event, Output};
pub use plan::{FetchedManifest, PullConfig, PullPlan, PullReport, PulledImage};

use blob::{BlobDownload, BlobState};
use step::Step;

use crate::concurrency::Change;
use crate::digest::{Digest, Hasher};
use crate::engine::{
    Accountant, BlobWindow, Cx, Engine, Failure, Parts, Protocol, Redirect, Response, Transient,
};
use crate::error::{Error, Misuse};
use crate::http::{content_range_start, HeaderMap, HeaderValue, Request, RequestId, ResponseHead};
use crate::manifest::{self, Parsed, MANIFEST_ACCEPT};
use crate::platform::Platform;
use crate::progress::Progress;
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
    outputs: VecDeque<Output>,
    accountant: Accountant,
    received_total: u64,
    /// Prefixes of blobs an earlier run left: bytes held and their running hash.
    partials: HashMap<Digest, (u64, Hasher)>,
}

impl Pull {
    /// A pull of `plan`, starting at `now`.
    pub fn new(plan: PullPlan, config: PullConfig, now: Instant) -> Pull {
        Pull::with_ids(plan, config, now, 0)
    }

    /// [`Pull::new`] numbering its requests from `id_base` on.
    pub(crate) fn with_ids(plan: PullPlan, config: PullConfig, now: Instant, id_base: u64) -> Pull {
        let mut session = Session::new(&plan.registry, &config.registry, now).ids_from(id_base);
        session
            .auth
            .add_scope(format!("repository:{}:pull", plan.repository));
        let root_job = ManifestJob {
            reference: plan.reference.clone(),
            expect: plan.reference.parse::<Digest>().ok(),
            platform: None,
            redirect: Redirect::default(),
            attempts: 1,
            fetched: None,
            root: true,
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
            outputs: VecDeque::new(),
            received_total: 0,
            partials: HashMap::new(),
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
}

crate::engine::engine_api!(Pull, Output);

impl Protocol for Pulling {
    type Step = Step;

    fn describe(&self, step: Step) -> String {
        match step {
            Step::Manifest(m) => format!(
                "fetching manifest {}/{}:{}",
                self.plan.registry, self.plan.repository, self.manifests[m].reference
            ),
            Step::Blob(b) => format!("downloading blob {}", self.blobs[b].digest),
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
                    self.outputs.push_back(Output::Discard { digest });
                }
                self.blobs[b].state = BlobState::Receiving;
            }
            206 if range_start == Some(blob.received) => blob.state = BlobState::Receiving,
            _ => {}
        }
        self.blobs[b].state == BlobState::Receiving
    }

    /// Blob bytes are hashed and passed on as [`Output::Write`].
    fn on_data(&mut self, step: Step, data: &[u8], cx: &mut Cx<Step>) {
        let Step::Blob(b) = step else {
            return;
        };
        let blob = &mut self.blobs[b];
        let offset = blob.received;
        if offset.saturating_add(data.len() as u64) > blob.size {
            let what = format!("blob {}", blob.digest);
            let message = format!(
                "{what} is longer than the {} bytes its descriptor says",
                blob.size
            );
            let digest = blob.digest.clone();
            self.outputs.push_back(Output::Discard { digest });
            self.finish(
                Err(Error::Protocol {
                    action: format!("downloading {what}"),
                    message,
                }),
                cx,
            );
            return;
        }
        blob.hasher.update(data);
        blob.received += data.len() as u64;
        self.received_total += data.len() as u64;
        let digest = blob.digest.clone();
        self.outputs.push_back(Output::Write {
            digest,
            offset,
            data: data.to_vec(),
        });
        self.maybe_progress(false, cx);
        self.adapt(cx);
    }

    fn redirect(&mut self, step: Step) -> Option<&mut Redirect> {
        Some(match step {
            Step::Manifest(m) => &mut self.manifests[m].redirect,
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
            Step::Blob(b) if self.blobs[b].state == BlobState::Receiving => {
                self.on_blob_end(b, cx)?
            }
            // A range other than the one asked for: start over.
            Step::Blob(_)
                if status == 206
                    && self.retry(step, None, "the registry sent another range".into(), cx) => {}
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
            Step::Manifest(m) => {
                let job = &mut self.manifests[m];
                job.redirect.clear();
                (step, &mut job.attempts)
            }
            Step::Blob(b) => {
                // Keep what arrived: the next request asks for the rest with `Range`.
                let blob = &mut self.blobs[b];
                blob.resume();
                (step, &mut blob.attempts)
            }
        })
    }

    fn fail(&mut self, _step: Option<Step>, error: Error, cx: &mut Cx<Step>) {
        self.finish(Err(error), cx);
    }

    fn finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    fn send(&mut self, request: Request) {
        self.outputs.push_back(Output::Send(request));
    }

    fn abort(&mut self, id: RequestId) {
        self.outputs.push_back(Output::Abort(id));
    }

    fn retrying(&mut self, what: String, attempt: u32, delay: Duration, reason: String) {
        self.event(Event::Retrying {
            what,
            attempt,
            delay,
            reason,
        });
    }

    fn plain_http(&mut self, host: String) {
        self.event(Event::PlainHttpFallback { host });
    }
}

impl Pulling {
    // ---- manifests -------------------------------------------------------------------

    fn on_manifest(
        &mut self,
        m: usize,
        head: &ResponseHead,
        body: &[u8],
        cx: &mut Cx<Step>,
    ) -> Result<(), Error> {
        let action = self.describe(Step::Manifest(m));
        let job = &self.manifests[m];
        let what = format!("manifest {} of {}", job.reference, self.plan.repository);
        let check = |expected: &Digest| -> Result<(), Error> {
            let mut h = Hasher::new(expected.algorithm());
            h.update(body);
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
        if let Some(expected) = &job.expect {
            check(expected)?;
        }
        if let Some(header) = head.header("docker-content-digest") {
            if let Ok(reported) = header.trim().parse::<Digest>() {
                check(&reported)?;
            }
        }
        let media_type =
            manifest::media_type_of(head.header("content-type"), body).ok_or_else(|| {
                Error::Protocol {
                    action: action.clone(),
                    message: "the manifest is neither a known media type nor JSON".into(),
                }
            })?;
        let parsed = manifest::parse(&media_type, body).map_err(|message| Error::Protocol {
            action: action.clone(),
            message,
        })?;
        let fetched = FetchedManifest {
            digest: match &job.expect {
                Some(d) => d.clone(),
                None => Digest::sha256_of(body),
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
                    return Err(Error::Protocol {
                        action,
                        message: "an index inside an index is not supported".into(),
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
            }
        }
        if self.pending_manifests == 0 {
            self.start_blobs(cx);
        } else {
            self.fill_manifest_slots(cx);
        }
        Ok(())
    }

    /// Asks for queued child manifests while fewer than `config.jobs` are in flight.
    fn fill_manifest_slots(&mut self, cx: &mut Cx<Step>) {
        while self.manifests_active < self.config.transfer.jobs.max(1) {
            let Some(m) = self.manifest_queue.pop_front() else {
                return;
            };
            self.manifests_active += 1;
            cx.issue(crate::engine::Step::Op(Step::Manifest(m)));
        }
    }

    /// Queues the index entries to fetch: every one, or the one for the plan's platform.
    fn add_children(
        &mut self,
        entries: Vec<manifest::Descriptor>,
        cx: &mut Cx<Step>,
    ) -> Result<(), Error> {
        let chosen: Vec<manifest::Descriptor> = if self.plan.all_platforms {
            entries
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
                    let available = manifest::platforms_of(&entries);
                    return Err(Error::InvalidInput {
                        message: format!(
                            "{}:{} has no image for platform {want}; it has: {}",
                            self.plan.repository,
                            self.plan.reference,
                            available.join(", ")
                        ),
                    });
                }
            }
        };
        for entry in chosen {
            self.manifests.push(ManifestJob {
                reference: entry.digest.to_string(),
                expect: Some(entry.digest),
                platform: entry.platform,
                redirect: Redirect::default(),
                attempts: 1,
                fetched: None,
                root: false,
            });
            self.pending_manifests += 1;
            self.manifest_queue.push_back(self.manifests.len() - 1);
        }
        self.fill_manifest_slots(cx);
        Ok(())
    }

    /// Every manifest is in: queue the unique blobs the runner lacks.
    fn start_blobs(&mut self, cx: &mut Cx<Step>) {
        self.phase = Phase::Blobs;
        if self.plan.manifests_only {
            self.succeed(cx);
            return;
        }
        let have: HashSet<&Digest> = self.plan.have.iter().collect();
        let mut seen = HashSet::new();
        let mut blobs = Vec::new();
        for job in &self.manifests {
            let Some(img) = &job.fetched else { continue };
            for d in std::iter::once(&img.config).chain(&img.layers) {
                if seen.insert(d.digest.clone()) {
                    blobs.push(BlobDownload::new(
                        d.digest.clone(),
                        d.size,
                        have.contains(&d.digest),
                    ));
                }
            }
        }
        self.blobs = blobs;
        self.take_partials();
        let mut skipped = Vec::new();
        for (i, b) in self.blobs.iter().enumerate() {
            match b.state {
                BlobState::Done { skipped: true } => skipped.push(Event::BlobSkipped {
                    digest: b.digest.clone(),
                    size: b.size,
                }),
                BlobState::Waiting => self.window.push_back(i),
                // Completed from an earlier run's prefix.
                _ => {}
            }
        }
        for e in skipped {
            self.event(e);
        }
        self.fill_slots(cx);
    }

    /// Continues blobs from the prefixes an earlier run left; a prefix as long as the blob
    /// that matches its digest is committed at once, one that cannot be right is discarded.
    fn take_partials(&mut self) {
        let mut partials: Vec<_> = std::mem::take(&mut self.partials).into_iter().collect();
        // In a fixed order: the outputs do not depend on a hash map's.
        partials.sort_by(|a, b| a.0.to_string().cmp(&b.0.to_string()));
        for (digest, (len, hasher)) in partials {
            let Some(b) = self.blobs.iter().position(|b| b.digest == digest) else {
                continue;
            };
            let blob = &mut self.blobs[b];
            if blob.state != BlobState::Waiting || len == 0 {
                continue;
            }
            if len > blob.size {
                self.outputs.push_back(Output::Discard { digest });
                continue;
            }
            let size = blob.size;
            if len == size {
                // Killed between its last byte and the rename: verify, no request needed.
                if hasher.finish() == digest {
                    blob.received = len;
                    blob.state = BlobState::Done { skipped: false };
                    self.outputs.push_back(Output::Commit {
                        digest: digest.clone(),
                    });
                    self.event(Event::BlobDone { digest, size });
                } else {
                    self.outputs.push_back(Output::Discard { digest });
                }
                continue;
            }
            blob.received = len;
            blob.hasher = hasher;
            blob.from_partial = true;
            self.event(Event::BlobResumed {
                digest,
                from: len,
                size,
            });
        }
    }

    fn on_blob_end(&mut self, b: usize, cx: &mut Cx<Step>) -> Result<(), Error> {
        let blob = &mut self.blobs[b];
        let digest = blob.digest.clone();
        let actual = std::mem::replace(&mut blob.hasher, Hasher::new(digest.algorithm())).finish();
        if blob.received != blob.size || actual != digest {
            self.outputs.push_back(Output::Discard {
                digest: digest.clone(),
            });
            if std::mem::take(&mut blob.from_partial) {
                // The earlier run's prefix was not this blob's: download it whole, once.
                blob.restart();
                self.window.push_front(b);
                self.window.finished_one();
                self.fill_slots(cx);
                return Ok(());
            }
            let received = std::mem::take(&mut blob.received);
            if received != blob.size {
                return Err(Error::Protocol {
                    action: format!("downloading blob {digest}"),
                    message: format!(
                        "the registry sent {received} bytes; the descriptor says {}",
                        blob.size
                    ),
                });
            }
            return Err(Error::DigestMismatch {
                what: format!("blob from {}/{}", self.plan.registry, self.plan.repository),
                expected: digest,
                actual,
            });
        }
        let size = blob.size;
        blob.state = BlobState::Done { skipped: false };
        self.outputs.push_back(Output::Commit {
            digest: digest.clone(),
        });
        self.event(Event::BlobDone { digest, size });
        self.window.finished_one();
        self.maybe_progress(true, cx);
        self.fill_slots(cx);
        Ok(())
    }

    // ---- scheduling ------------------------------------------------------------------

    /// Feeds the window the bytes received so far; a larger window starts blobs at once, a
    /// smaller one as blobs finish.
    fn adapt(&mut self, cx: &mut Cx<Step>) {
        if self.phase != Phase::Blobs {
            return;
        }
        if let Some(change) = self.window.on_progress(cx.now, self.received_total) {
            self.window_changed(change, cx);
        }
    }

    /// A blob request failed with a sign of overload: the adaptive window halves.
    fn congestion(&mut self, step: Step, cx: &mut Cx<Step>) {
        if self.phase != Phase::Blobs || !matches!(step, Step::Blob(_)) {
            return;
        }
        if let Some(change) = self.window.on_congestion(cx.now) {
            self.window_changed(change, cx);
        }
    }

    fn window_changed(&mut self, change: Change, cx: &mut Cx<Step>) {
        let grew = change.to > change.from;
        self.event(Event::Concurrency(change));
        if grew {
            self.fill_slots(cx);
        }
    }

    fn fill_slots(&mut self, cx: &mut Cx<Step>) {
        while let Some(b) = self.window.next() {
            let blob = &self.blobs[b];
            let event = Event::BlobStarted {
                digest: blob.digest.clone(),
                size: blob.size,
            };
            self.event(event);
            cx.issue(crate::engine::Step::Op(Step::Blob(b)));
        }
        if self.phase == Phase::Blobs && self.window.idle() {
            self.succeed(cx);
        }
    }

    // ---- reporting -------------------------------------------------------------------

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn maybe_progress(&mut self, force: bool, cx: &Cx<Step>) {
        if !self.accountant.tick(cx.now, self.received_total, force) {
            return;
        }
        let moving: Vec<Event> = self
            .blobs
            .iter()
            .filter(|b| b.state == BlobState::Receiving)
            .map(|b| Event::BlobProgress {
                digest: b.digest.clone(),
                received: b.received,
                size: b.size,
            })
            .collect();
        for e in moving {
            self.event(e);
        }
        let p = self.progress(cx);
        self.event(Event::Progress(p));
    }

    fn progress(&mut self, cx: &Cx<Step>) -> Progress {
        let mut p = Progress::counting(self.received_total, self.blobs.len());
        // Sizes come from the registry's manifests: sums saturate rather than overflow.
        for b in &self.blobs {
            p.total_bytes = p.total_bytes.saturating_add(b.size);
            match b.state {
                BlobState::Done { skipped } => {
                    p.done_bytes = p.done_bytes.saturating_add(b.size);
                    p.transferred_bytes = p.transferred_bytes.saturating_add(b.size);
                    p.blobs_done += 1;
                    if skipped {
                        p.skipped_bytes = p.skipped_bytes.saturating_add(b.size);
                        p.blobs_skipped += 1;
                    }
                }
                _ => p.transferred_bytes = p.transferred_bytes.saturating_add(b.received),
            }
        }
        self.accountant.progress(cx.now, p)
    }

    fn report(&self, cx: &Cx<Step>) -> PullReport {
        let mut r = PullReport {
            root: self.root.clone().unwrap_or_else(|| FetchedManifest {
                digest: Digest::sha256_of(b""),
                media_type: String::new(),
                bytes: Vec::new(),
            }),
            images: self
                .manifests
                .iter()
                .filter_map(|j| j.fetched.clone())
                .collect(),
            blobs_downloaded: 0,
            blobs_skipped: 0,
            bytes_downloaded: 0,
            bytes_skipped: 0,
            retries: cx.retries,
            plain_http: cx.endpoint.is_plain(),
            elapsed: self.accountant.elapsed(cx.now),
        };
        for b in &self.blobs {
            match b.state {
                BlobState::Done { skipped: true } => {
                    r.blobs_skipped += 1;
                    r.bytes_skipped = r.bytes_skipped.saturating_add(b.size);
                }
                BlobState::Done { skipped: false } => {
                    r.blobs_downloaded += 1;
                    r.bytes_downloaded = r.bytes_downloaded.saturating_add(b.size);
                }
                _ => {}
            }
        }
        r
    }

    fn succeed(&mut self, cx: &Cx<Step>) {
        let report = self.report(cx);
        self.finish(Ok(report), cx);
    }

    fn finish(&mut self, result: Result<PullReport, Error>, cx: &Cx<Step>) {
        if self.phase == Phase::Finished {
            return;
        }
        // A failed pull keeps unfinished blobs' temporary files: what arrived is a prefix
        // a later run can continue (`handle_partial`); the digest check covers it then.
        if result.is_ok() {
            self.maybe_progress(true, cx);
        }
        self.phase = Phase::Finished;
        self.outputs.push_back(Output::Finished(result));
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
        };
        let report = pull_with(plan, &manifest).expect("pulled");
        assert_eq!(report.blobs_skipped, 3);
        assert_eq!(report.bytes_skipped, u64::MAX);
    }
}
