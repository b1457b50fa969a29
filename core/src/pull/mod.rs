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

pub use event::{Event, Output};
pub use plan::{FetchedManifest, PullConfig, PullPlan, PullReport, PulledImage};

use blob::{BlobDownload, BlobState};
use step::Step;

use crate::concurrency::{Change, ConcurrencyController};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, Misuse};
use crate::http::{
    content_range_start, Body, HeaderMap, HeaderValue, Method, RequestId, ResponseHead,
    TransportError,
};
use crate::manifest::{self, Parsed, MANIFEST_ACCEPT};
use crate::operation::Input;
use crate::platform::Platform;
use crate::progress::{Progress, RateMeter};
use crate::registry_error::RegistryErrors;
use crate::retry::{is_retryable_status, is_retryable_transport, retry_after};
use crate::session::{Completed, Session};
use crate::time::Instant;

/// Redirects followed for one request before giving up.
const MAX_REDIRECTS: u8 = 5;

/// A manifest to fetch.
#[derive(Clone, Debug)]
struct ManifestJob {
    /// Tag or digest to ask for.
    reference: String,
    /// The digest it must have (when asked for by digest).
    expect: Option<Digest>,
    /// The platform its index entry named.
    platform: Option<Platform>,
    /// Where a redirect pointed.
    redirect: Option<url::Url>,
    redirects: u8,
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

crate::operation::inherent_operation!(Pull);

/// A pull of one image (or one index with `all_platforms`).
#[derive(Debug)]
pub struct Pull {
    plan: PullPlan,
    config: PullConfig,
    session: Session<Step>,
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
    queue: VecDeque<usize>,
    active: usize,
    outputs: VecDeque<Output>,
    started: Instant,
    meter: RateMeter,
    received_total: u64,
    last_progress: Option<Instant>,
    /// The most bytes ever reported transferred (progress never goes backwards).
    transferred_high: std::cell::Cell<u64>,
    ping_attempts: u32,
    /// Prefixes of blobs an earlier run left: bytes held and their running hash.
    partials: HashMap<Digest, (u64, Hasher)>,
    /// Chooses the blobs in flight when `config.adaptive` is on.
    concurrency: Option<ConcurrencyController>,
}

impl Pull {
    /// A pull of `plan`, starting at `now`.
    pub fn new(plan: PullPlan, config: PullConfig, now: Instant) -> Pull {
        let session = Session::new(
            &plan.registry,
            config.scheme,
            config.credentials.clone(),
            config.retry.clone(),
            &config.user_agent,
            config.body_deadline,
            now,
        );
        let expect = plan.reference.parse::<Digest>().ok();
        let mut session = session;
        session
            .auth
            .add_scope(format!("repository:{}:pull", plan.repository));
        let root_job = ManifestJob {
            reference: plan.reference.clone(),
            expect,
            platform: None,
            redirect: None,
            redirects: 0,
            attempts: 1,
            fetched: None,
            root: true,
        };
        let jobs = config.jobs.max(1);
        let concurrency = config
            .adaptive
            .then(|| ConcurrencyController::new(1, jobs, jobs));
        let mut pull = Pull {
            plan,
            config,
            session,
            phase: Phase::Ping,
            manifests: vec![root_job],
            root: None,
            pending_manifests: 1,
            manifest_queue: VecDeque::new(),
            manifests_active: 0,
            blobs: Vec::new(),
            queue: VecDeque::new(),
            active: 0,
            outputs: VecDeque::new(),
            started: now,
            meter: RateMeter::new(),
            received_total: 0,
            last_progress: None,
            transferred_high: std::cell::Cell::new(0),
            ping_attempts: 1,
            partials: HashMap::new(),
            concurrency,
        };
        pull.issue(Step::Ping);
        pull
    }

    /// Bytes of blob `digest` that an earlier run already wrote to its temporary file, in
    /// order from byte 0, one piece per call. They are hashed now and not downloaded again:
    /// if the pull needs the blob it asks for the rest with `Range` and checks the whole
    /// digest at the end (a mismatch discards the file and fails as usual). Call before the
    /// blobs start, i.e. before feeding the manifest responses; prefixes of blobs the pull
    /// does not need are ignored.
    pub fn handle_partial(&mut self, digest: &Digest, data: &[u8]) -> Result<(), Misuse> {
        if matches!(self.phase, Phase::Blobs | Phase::Finished) {
            return Err(Misuse::OutOfOrder(
                "handle_partial came after the blobs started",
            ));
        }
        let (len, hasher) = self
            .partials
            .entry(digest.clone())
            .or_insert_with(|| (0, Hasher::new(digest.algorithm())));
        *len += data.len() as u64;
        hasher.update(data);
        Ok(())
    }

    /// The next output, or `None` when the pull waits for an input.
    pub fn poll(&mut self) -> Option<Output> {
        if let Some(req) = self.session.next_outgoing() {
            return Some(Output::Send(req));
        }
        self.outputs.pop_front()
    }

    /// When [`Input::Timeout`] is due, if nothing else happens first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Feeds one input at `now` (see [`Input`]): a response head, body bytes, a body end,
    /// request body bytes sent, a transport error, or time passing.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse> {
        match input {
            Input::Response(id, head) => self.handle_response(id, head, now),
            Input::BodyChunk(id, data) => self.handle_body_chunk(id, data, now),
            Input::BodyEnd(id) => self.handle_body_end(id, now),
            Input::BodySent(id, data) => self.handle_body_sent(id, data, now),
            Input::TransportError(id, error) => self.handle_transport_error(id, error, now),
            Input::Timeout => {
                self.handle_timeout(now);
                Ok(())
            }
        }
    }

    /// Time has passed; fire due retries.
    fn handle_timeout(&mut self, now: Instant) {
        self.session.tick(now);
        for (id, error) in self.session.overdue() {
            let _ = self.handle_transport_error(id, error, now);
        }
        for step in self.session.due() {
            if self.phase != Phase::Finished {
                self.issue(step);
            }
        }
    }

    /// The status line and headers of request `id`'s response arrived.
    fn handle_response(
        &mut self,
        id: RequestId,
        head: ResponseHead,
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        let status = head.status.as_u16();
        let range_start = head.header("content-range").and_then(content_range_start);
        let step = self.session.on_head(id, head)?;
        if let Some(Step::Blob(b)) = step {
            let blob = &mut self.blobs[b];
            match status {
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
        }
        Ok(())
    }

    /// A piece of request `id`'s response body arrived. Blob bytes are hashed and passed on
    /// as [`Output::Write`].
    fn handle_body_chunk(
        &mut self,
        id: RequestId,
        data: &[u8],
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        let streaming = matches!(
            self.session.step_of(id)?,
            Some(Step::Blob(b)) if self.blobs[b].state == BlobState::Receiving
        );
        let step = self.session.on_chunk(id, data, !streaming)?;
        if let Some(error) = self.session.body_fault(id) {
            return self.handle_transport_error(id, error, now);
        }
        if !streaming || self.phase == Phase::Finished {
            return Ok(());
        }
        let Some(Step::Blob(b)) = step else {
            return Ok(());
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
            self.finish(Err(Error::Protocol {
                action: format!("downloading {what}"),
                message,
            }));
            return Ok(());
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
        self.maybe_progress(false);
        self.adapt();
        Ok(())
    }

    /// Request `id`'s response is complete; the pull acts on it.
    fn handle_body_end(&mut self, id: RequestId, now: Instant) -> Result<(), Misuse> {
        self.session.tick(now);
        match self.session.complete(id)? {
            Completed::Op(req, head) if self.phase != Phase::Finished => {
                self.on_response(req.step, &req.url, head, &req.body);
            }
            Completed::Op(..) => {}
            Completed::Token(Ok(steps)) => {
                for step in steps {
                    if self.phase != Phase::Finished {
                        self.issue(step);
                    }
                }
            }
            Completed::Token(Err(e)) => self.finish(Err(e)),
        }
        Ok(())
    }

    /// Request `id` failed below HTTP.
    fn handle_transport_error(
        &mut self,
        id: RequestId,
        error: TransportError,
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        let req = match self.session.fail(id, &error)? {
            Ok(req) => req,
            Err(e) => {
                self.finish(Err(e));
                return Ok(());
            }
        };
        if self.phase == Phase::Finished {
            return Ok(());
        }
        if let Some(host) = self
            .session
            .plain_http_fallback(req.step == Step::Ping, &error)
        {
            self.event(Event::PlainHttpFallback { host });
            self.issue(Step::Ping);
            return Ok(());
        }
        let reason = error.to_string();
        if is_retryable_transport(&error) {
            self.congestion(req.step);
        }
        if is_retryable_transport(&error) && self.retry(req.step, None, reason) {
            return Ok(());
        }
        let action = self.describe(req.step);
        self.finish(Err(Error::Transport { action, error }));
        Ok(())
    }

    /// A pull sends no request bodies: nothing to do.
    fn handle_body_sent(
        &mut self,
        id: RequestId,
        _data: &[u8],
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        self.session.step_of(id).map(|_| ())
    }

    /// Stops the pull: it finishes with [`Error::Cancelled`].
    pub fn cancel(&mut self) {
        self.finish(Err(Error::Cancelled));
    }

    // ---- responses -------------------------------------------------------------------

    fn on_response(&mut self, step: Step, url: &url::Url, head: ResponseHead, body: &[u8]) {
        let status = head.status.as_u16();
        if status == 401 {
            match self.session.on_unauthorized(step, url, &head) {
                Ok(Some(step)) => self.issue(step),
                Ok(None) => {}
                Err(e) => self.finish(Err(e)),
            }
            return;
        }
        if is_retryable_status(status) && status != 500 {
            self.congestion(step);
        }
        if is_retryable_status(status)
            && self.retry(step, retry_after(&head), format!("{status} from registry"))
        {
            return;
        }
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            if let Err(e) = self.follow_redirect(step, url, &head) {
                self.finish(Err(e));
            }
            return;
        }
        let result = match step {
            Step::Ping if status == 200 => {
                self.phase = Phase::Manifests;
                self.issue(Step::Manifest(0));
                Ok(())
            }
            Step::Manifest(m) if status == 200 => self.on_manifest(m, &head, body),
            Step::Blob(b) if self.blobs[b].state == BlobState::Receiving => self.on_blob_end(b),
            Step::Blob(_) if status == 206 => {
                // A range other than the one asked for: start over.
                if self.retry(step, None, "the registry sent another range".into()) {
                    Ok(())
                } else {
                    Err(self.registry_error(step, status, body))
                }
            }
            _ => Err(self.registry_error(step, status, body)),
        };
        if let Err(e) = result {
            self.finish(Err(e));
        }
    }

    fn follow_redirect(
        &mut self,
        step: Step,
        url: &url::Url,
        head: &ResponseHead,
    ) -> Result<(), Error> {
        let action = self.describe(step);
        let location = head.header("location").ok_or_else(|| Error::Protocol {
            action: action.clone(),
            message: format!(
                "a {} redirect without a Location header",
                head.status.as_u16()
            ),
        })?;
        let target = url
            .join(location.trim())
            .map_err(|e| e.to_string())
            .and_then(|u| match crate::endpoint::is_http(&u) {
                true => Ok(u),
                false => Err("not an http or https URL".to_owned()),
            })
            .map_err(|e| Error::Protocol {
                action: action.clone(),
                message: format!("unusable redirect Location {location:?}: {e}"),
            })?;
        let (redirect, redirects) = match step {
            Step::Manifest(m) => {
                let j = &mut self.manifests[m];
                (&mut j.redirect, &mut j.redirects)
            }
            Step::Blob(b) => {
                let j = &mut self.blobs[b];
                (&mut j.redirect, &mut j.redirects)
            }
            Step::Ping => {
                return Err(Error::Protocol {
                    action,
                    message: "the version check was redirected".into(),
                })
            }
        };
        *redirects += 1;
        if *redirects > MAX_REDIRECTS {
            return Err(Error::Protocol {
                action,
                message: format!("more than {MAX_REDIRECTS} redirects"),
            });
        }
        *redirect = Some(target);
        self.issue(step);
        Ok(())
    }

    fn on_manifest(&mut self, m: usize, head: &ResponseHead, body: &[u8]) -> Result<(), Error> {
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
                self.add_children(manifests)?;
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
            self.start_blobs();
        } else {
            self.fill_manifest_slots();
        }
        Ok(())
    }

    /// Asks for queued child manifests while fewer than `config.jobs` are in flight.
    fn fill_manifest_slots(&mut self) {
        while self.manifests_active < self.config.jobs.max(1) {
            let Some(m) = self.manifest_queue.pop_front() else {
                return;
            };
            self.manifests_active += 1;
            self.issue(Step::Manifest(m));
        }
    }

    /// Queues the index entries to fetch: every one, or the one for the plan's platform.
    fn add_children(&mut self, entries: Vec<manifest::Descriptor>) -> Result<(), Error> {
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
                redirect: None,
                redirects: 0,
                attempts: 1,
                fetched: None,
                root: false,
            });
            self.pending_manifests += 1;
            self.manifest_queue.push_back(self.manifests.len() - 1);
        }
        self.fill_manifest_slots();
        Ok(())
    }

    /// Every manifest is in: queue the unique blobs the runner lacks.
    fn start_blobs(&mut self) {
        self.phase = Phase::Blobs;
        if self.plan.manifests_only {
            let report = self.report();
            self.finish(Ok(report));
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
                BlobState::Waiting => self.queue.push_back(i),
                // Completed from an earlier run's prefix.
                _ => {}
            }
        }
        for e in skipped {
            self.event(e);
        }
        self.fill_slots();
    }

    /// Continues blobs from the prefixes an earlier run left; a prefix as long as the blob
    /// that matches its digest is committed at once, one that cannot be right is discarded.
    fn take_partials(&mut self) {
        let partials = std::mem::take(&mut self.partials);
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

    fn on_blob_end(&mut self, b: usize) -> Result<(), Error> {
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
                self.queue.push_front(b);
                self.active = self.active.saturating_sub(1);
                self.fill_slots();
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
        self.active = self.active.saturating_sub(1);
        self.maybe_progress(true);
        self.fill_slots();
        Ok(())
    }

    /// Blobs that may be in flight: the adaptive window, or `jobs`.
    fn window(&self) -> usize {
        self.concurrency
            .as_ref()
            .map_or(self.config.jobs.max(1), ConcurrencyController::window)
    }

    /// Feeds the controller the bytes received so far; a larger window starts blobs at
    /// once, a smaller one as blobs finish.
    fn adapt(&mut self) {
        if self.phase != Phase::Blobs {
            return;
        }
        let (now, received, active) = (self.session.now, self.received_total, self.active);
        if let Some(change) = self
            .concurrency
            .as_mut()
            .and_then(|c| c.on_progress(now, received, active))
        {
            self.window_changed(change);
        }
    }

    /// A blob request failed with a sign of overload: the adaptive window halves.
    fn congestion(&mut self, step: Step) {
        if self.phase != Phase::Blobs || !matches!(step, Step::Blob(_)) {
            return;
        }
        let now = self.session.now;
        if let Some(change) = self.concurrency.as_mut().and_then(|c| c.on_congestion(now)) {
            self.window_changed(change);
        }
    }

    fn window_changed(&mut self, change: Change) {
        let grew = change.to > change.from;
        self.event(Event::Concurrency(change));
        if grew {
            self.fill_slots();
        }
    }

    fn fill_slots(&mut self) {
        while self.active < self.window() {
            let Some(b) = self.queue.pop_front() else {
                break;
            };
            self.active += 1;
            let blob = &self.blobs[b];
            let event = Event::BlobStarted {
                digest: blob.digest.clone(),
                size: blob.size,
            };
            self.event(event);
            self.issue(Step::Blob(b));
        }
        if self.phase == Phase::Blobs && self.active == 0 && self.queue.is_empty() {
            let report = self.report();
            self.finish(Ok(report));
        }
    }

    // ---- retries and requests --------------------------------------------------------

    fn retry(&mut self, step: Step, hint: Option<Duration>, reason: String) -> bool {
        let attempt = match step {
            Step::Ping => {
                self.ping_attempts += 1;
                self.ping_attempts
            }
            Step::Manifest(m) => {
                self.manifests[m].attempts += 1;
                self.manifests[m].redirect = None;
                self.manifests[m].attempts
            }
            Step::Blob(b) => {
                // Keep what arrived: the next request asks for the rest with `Range`.
                let blob = &mut self.blobs[b];
                blob.attempts += 1;
                blob.resume();
                blob.attempts
            }
        };
        if attempt > self.session.backoff.policy().max_attempts {
            return false;
        }
        let delay = self.session.backoff.delay(attempt, hint);
        if !self.session.backoff.within_budget(self.session.now, delay) {
            return false;
        }
        self.session.retries += 1;
        let what = self.describe(step);
        self.event(Event::Retrying {
            what,
            attempt,
            delay,
            reason,
        });
        self.session.schedule(delay, step);
        true
    }

    fn issue(&mut self, step: Step) {
        let repo = &self.plan.repository;
        let endpoint = &self.session.endpoint;
        let mut headers = HeaderMap::new();
        let url = match step {
            Step::Ping => endpoint.ping(),
            Step::Manifest(m) => {
                headers.insert("accept", HeaderValue::from_static(MANIFEST_ACCEPT));
                let job = &self.manifests[m];
                match &job.redirect {
                    Some(u) => Ok(u.clone()),
                    None => endpoint.manifest(repo, &job.reference),
                }
            }
            Step::Blob(b) => {
                let blob = &self.blobs[b];
                if blob.received > 0 {
                    if let Ok(v) = HeaderValue::try_from(format!("bytes={}-", blob.received)) {
                        headers.insert("range", v);
                    }
                }
                match &blob.redirect {
                    Some(u) => Ok(u.clone()),
                    None => endpoint.blob(repo, &blob.digest),
                }
            }
        };
        match url {
            Ok(url) => {
                let req = self
                    .session
                    .request(step, Method::GET, url, headers, Body::Empty);
                if let Some(req) = req {
                    self.outputs.push_back(Output::Send(req));
                }
            }
            Err(e) => {
                let message = format!("cannot build a URL for {}: {e}", self.plan.registry);
                self.finish(Err(Error::InvalidInput { message }));
            }
        }
    }

    // ---- reporting -------------------------------------------------------------------

    fn describe(&self, step: Step) -> String {
        match step {
            Step::Ping => format!("contacting registry {}", self.plan.registry),
            Step::Manifest(m) => format!(
                "fetching manifest {}/{}:{}",
                self.plan.registry, self.plan.repository, self.manifests[m].reference
            ),
            Step::Blob(b) => format!("downloading blob {}", self.blobs[b].digest),
        }
    }

    fn registry_error(&self, step: Step, status: u16, body: &[u8]) -> Error {
        let errors = RegistryErrors::parse(body);
        let action = self.describe(step);
        if status == 403 {
            return Error::Auth {
                message: format!("{action}: access denied (403): {errors}"),
            };
        }
        Error::Registry {
            action,
            status,
            errors,
        }
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn maybe_progress(&mut self, force: bool) {
        let now = self.session.now;
        self.meter.record(now, self.received_total);
        let due = self
            .last_progress
            .is_none_or(|t| now.saturating_since(t) >= self.config.progress_interval);
        if !force && !due {
            return;
        }
        self.last_progress = Some(now);
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
        let p = self.progress();
        self.event(Event::Progress(p));
    }

    fn progress(&self) -> Progress {
        let mut p = Progress {
            total_bytes: 0,
            done_bytes: 0,
            skipped_bytes: 0,
            sent_bytes: self.received_total,
            transferred_bytes: 0,
            blobs_total: self.blobs.len(),
            blobs_done: 0,
            blobs_skipped: 0,
            bytes_per_second: self.meter.rate(),
            eta: None,
            elapsed: self.session.now.saturating_since(self.started),
        };
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
        p.transferred_bytes = p.transferred_bytes.max(self.transferred_high.get());
        self.transferred_high.set(p.transferred_bytes);
        p.eta = self
            .meter
            .eta(p.total_bytes.saturating_sub(p.transferred_bytes));
        p
    }

    fn report(&self) -> PullReport {
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
            retries: self.session.retries,
            plain_http: self.session.endpoint.is_plain(),
            elapsed: self.session.now.saturating_since(self.started),
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

    fn finish(&mut self, result: Result<PullReport, Error>) {
        if self.phase == Phase::Finished {
            return;
        }
        // A failed pull keeps unfinished blobs' temporary files: what arrived is a prefix
        // a later run can continue (`handle_partial`); the digest check covers it then.
        if result.is_ok() {
            self.maybe_progress(true);
        }
        self.phase = Phase::Finished;
        self.session.abandon_all();
        self.outputs.push_back(Output::Finished(result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
