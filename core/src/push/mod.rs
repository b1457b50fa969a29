//! The push state machine: blobs first (`HEAD`, then `POST` + `PUT` or `PATCH` chunks),
//! the manifest last, so a tag never points at a missing blob.
//!
//! Contract: create a [`Push`], then loop: drain [`Push::poll`] (send each request, show
//! each event) until it returns `None`, wait for a response, a body chunk or
//! [`Push::poll_timeout`], feed it in with [`Push::handle_input`], repeat until
//! [`Output::Finished`]. A plan with [`PushPlan::pending`] blobs also takes
//! [`Push::handle_blob_ready`] for each and [`Push::handle_manifests`] once; until then the
//! push may wait with nothing in flight.

mod blob;
mod event;
mod plan;
mod step;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

pub use event::{Event, Output};
pub use plan::{PlanBlob, PlanManifest, PushConfig, PushPlan, PushReport, ResumableUpload};

use blob::{BlobState, BlobUpload};
use step::Step;

use crate::concurrency::{Change, ConcurrencyController};
use crate::endpoint::with_digest;
use crate::error::{Error, Misuse};
use crate::http::{Body, HeaderMap, HeaderValue, Method, RequestId, ResponseHead, TransportError};
use crate::operation::Input;
use crate::progress::{Progress, RateMeter};
use crate::registry_error::RegistryErrors;
use crate::retry::{is_retryable_status, is_retryable_transport, retry_after};
use crate::session::{Completed, Session};
use crate::time::Instant;

/// Where the whole push stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ping,
    Blobs,
    Manifest,
    Finished,
}

crate::operation::inherent_operation!(Push);

/// A push of one image to one repository. See the [module docs](self) for the driving loop.
#[derive(Debug)]
pub struct Push {
    plan: PushPlan,
    config: PushConfig,
    session: Session<Step>,
    phase: Phase,
    blobs: Vec<BlobUpload>,
    queue: VecDeque<usize>,
    active: usize,
    outputs: VecDeque<Output>,
    started: Instant,
    meter: RateMeter,
    sent_total: u64,
    /// Request body bytes of blobs whose responses came back (the adaptive controller's
    /// measure: bytes handed to a socket may still sit in buffers).
    confirmed_total: u64,
    last_progress: Option<Instant>,
    /// The most bytes ever reported transferred: progress never goes backwards, even when
    /// a blob starts over.
    transferred_high: std::cell::Cell<u64>,
    /// Attempts of the current ping or manifest request.
    step_attempts: u32,
    /// Largest body the way to the registry takes, learned from a `413`.
    chunk_limit: Option<u64>,
    /// The registry refused `PATCH`: whole blobs go in one `PUT`.
    no_chunks: bool,
    /// The registry said the manifest names a blob it lacks once already; blobs were checked
    /// again (a second time is an error).
    rechecked: bool,
    /// Chooses the blobs in flight when `config.adaptive` is on.
    concurrency: Option<ConcurrencyController>,
    /// Plan blobs not ready yet ([`PushPlan::pending`]).
    pending: Vec<usize>,
    /// Whether the plan's manifests are final (false until [`Push::handle_manifests`]
    /// when blobs were pending).
    manifests_ready: bool,
}

/// Chunks never shrink below this on a `413`.
const MIN_CHUNK: u64 = 4 * 1024;

impl Push {
    /// A push of `plan`, starting at `now`.
    pub fn new(plan: PushPlan, config: PushConfig, now: Instant) -> Push {
        let session = Session::new(
            &plan.registry,
            config.scheme,
            config.credentials.clone(),
            config.retry.clone(),
            &config.user_agent,
            config.body_deadline,
            now,
        );
        let mut pending: Vec<usize> = plan
            .pending
            .iter()
            .copied()
            .filter(|&i| i < plan.blobs.len())
            .collect();
        pending.sort_unstable();
        pending.dedup();
        let mut seen: HashMap<&crate::Digest, ()> = HashMap::new();
        let mut blobs = Vec::new();
        for (i, b) in plan.blobs.iter().enumerate() {
            if pending.binary_search(&i).is_err() && seen.insert(&b.digest, ()).is_none() {
                blobs.push(BlobUpload::new(i, b.digest.clone(), b.size));
            }
        }
        for blob in &mut blobs {
            blob.resume = resume_of(&plan, &blob.digest);
        }
        let queue = (0..blobs.len()).collect();
        let manifests_ready = pending.is_empty();
        let mut session = session;
        session
            .auth
            .add_scope(format!("repository:{}:pull,push", plan.repository));
        if let Some(from) = &plan.mount_from {
            session.auth.add_scope(format!("repository:{from}:pull"));
        }
        let jobs = config.jobs.max(1);
        let concurrency = config
            .adaptive
            .then(|| ConcurrencyController::new(1, jobs, jobs));
        let mut push = Push {
            plan,
            config,
            session,
            phase: Phase::Ping,
            blobs,
            queue,
            active: 0,
            outputs: VecDeque::new(),
            started: now,
            meter: RateMeter::new(),
            sent_total: 0,
            confirmed_total: 0,
            last_progress: None,
            transferred_high: std::cell::Cell::new(0),
            step_attempts: 1,
            chunk_limit: None,
            no_chunks: false,
            rechecked: false,
            concurrency,
            pending,
            manifests_ready,
        };
        match push.validate() {
            Ok(()) => push.issue(Step::Ping),
            Err(e) => push.finish(Err(e)),
        }
        push
    }

    /// Pending plan blob `blob` ([`PushPlan::pending`]) is ready: these are its digest and
    /// size. It is checked and uploaded like any other (once, if another blob has the same
    /// digest).
    pub fn handle_blob_ready(
        &mut self,
        blob: usize,
        digest: crate::Digest,
        size: u64,
    ) -> Result<(), Misuse> {
        let Ok(at) = self.pending.binary_search(&blob) else {
            return Err(Misuse::OutOfOrder("that blob is not pending"));
        };
        self.pending.remove(at);
        self.plan.blobs[blob] = PlanBlob {
            digest: digest.clone(),
            size,
        };
        if self.phase == Phase::Finished || self.blobs.iter().any(|b| b.digest == digest) {
            self.check_all_done();
            return Ok(());
        }
        let mut upload = BlobUpload::new(blob, digest, size);
        upload.resume = resume_of(&self.plan, &upload.digest);
        self.blobs.push(upload);
        self.queue.push_back(self.blobs.len() - 1);
        if self.phase == Phase::Blobs {
            self.fill_slots();
        }
        Ok(())
    }

    /// The final manifests of a push that started with pending blobs: `manifest` (pushed
    /// under the reference) and the `children` pushed by digest before it.
    pub fn handle_manifests(
        &mut self,
        manifest: PlanManifest,
        children: Vec<PlanManifest>,
    ) -> Result<(), Misuse> {
        if self.manifests_ready {
            return Err(Misuse::OutOfOrder("the manifests are already known"));
        }
        self.plan.manifest = manifest;
        self.plan.children = children;
        self.manifests_ready = true;
        if self.phase == Phase::Finished {
            return Ok(());
        }
        match self.validate() {
            Ok(()) if self.phase == Phase::Blobs => self.check_all_done(),
            Ok(()) => {}
            Err(e) => self.finish(Err(e)),
        }
        Ok(())
    }

    /// The next output, or `None` when the push waits for an input.
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

    /// Whether the push has finished (the `Finished` output may still be queued).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
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
        self.session.on_head(id, head).map(|_| ())
    }

    /// A piece of request `id`'s response body arrived.
    fn handle_body_chunk(
        &mut self,
        id: RequestId,
        data: &[u8],
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        self.session.on_chunk(id, data, true)?;
        match self.session.body_fault(id) {
            Some(error) => self.handle_transport_error(id, error, now),
            None => Ok(()),
        }
    }

    /// Request `id`'s response is complete; the push acts on it.
    fn handle_body_end(&mut self, id: RequestId, now: Instant) -> Result<(), Misuse> {
        self.session.tick(now);
        let (req, head) = match self.session.complete(id)? {
            Completed::Op(req, head) => (req, head),
            Completed::Token(result) => {
                self.on_token(result);
                return Ok(());
            }
        };
        if req.sent < req.body_len {
            self.sent_total += req.body_len - req.sent;
        }
        if req.body_len > 0 && req.step.blob().is_some() {
            // The response confirms the body crossed the link.
            self.confirmed_total += req.body_len;
            self.adapt();
        }
        if self.phase != Phase::Finished {
            self.on_response(req.step, &req.url, head, &req.body);
        }
        Ok(())
    }

    /// The runner put these request body bytes of request `id` on the wire. Optional: a
    /// runner that cannot see them (a browser `fetch` of a `Blob`) leaves verification to the
    /// registry, and progress moves per request instead.
    fn handle_body_sent(&mut self, id: RequestId, data: &[u8], now: Instant) -> Result<(), Misuse> {
        self.session.tick(now);
        let Some(_) = self.session.step_of(id)? else {
            return Ok(());
        };
        let req = self.session.get_mut(id)?;
        let offset = req.step.body_start() + req.sent;
        req.sent += data.len() as u64;
        let step = req.step;
        self.sent_total += data.len() as u64;
        if let Some(b) = step.blob() {
            self.blobs[b].hash_sent(offset, data);
        }
        self.maybe_progress(false);
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
            self.on_body_broken(req.step);
            if self.schedule_retry(req.step, None, reason) {
                return Ok(());
            }
        }
        let action = self.describe(req.step);
        self.finish(Err(Error::Transport { action, error }));
        Ok(())
    }

    /// An upload body broke off below HTTP. Twice in a row at the same place hints at a body
    /// cap on the way that resets the connection instead of answering `413` (a proxy's
    /// request size limit): halve the chunks as for a `413`. The smaller request starts a
    /// fresh attempt count.
    fn on_body_broken(&mut self, step: Step) {
        let (b, start, len) = match step {
            Step::Put(b) => (b, 0, self.blobs[b].size),
            Step::Patch(b, start, end) => (b, start, end - start),
            _ => return,
        };
        if len <= MIN_CHUNK {
            return;
        }
        let blob = &mut self.blobs[b];
        if blob.broken_body != Some((start, len)) {
            blob.broken_body = Some((start, len));
            return;
        }
        blob.broken_body = None;
        blob.attempts = 0;
        let smaller = (len / 2).max(MIN_CHUNK);
        self.chunk_limit = Some(self.chunk_limit.map_or(smaller, |c| c.min(smaller)));
    }

    /// Stops the push: it finishes with [`Error::Cancelled`].
    pub fn cancel(&mut self) {
        if self.phase != Phase::Finished {
            self.finish(Err(Error::Cancelled));
        }
    }

    /// The token request ended: send the requests that waited for it, or fail.
    fn on_token(&mut self, result: Result<Vec<Step>, Error>) {
        match result {
            Ok(steps) if self.phase != Phase::Finished => {
                for step in steps {
                    self.issue(step);
                }
            }
            Ok(_) => {}
            Err(e) => self.finish(Err(e)),
        }
    }

    fn validate(&self) -> Result<(), Error> {
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
            let actual = crate::Digest::sha256_of(&m.bytes);
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
        if is_retryable_status(status) {
            if status != 500 {
                self.congestion(step);
            }
            let reason = format!("{status} from registry");
            if self.schedule_retry(step, retry_after(&head), reason) {
                return;
            }
        }
        let result = match step {
            Step::Ping => self.on_ping(status),
            Step::Head(b) => self.on_head(b, status),
            Step::Open(b) => self.on_open(b, &head),
            Step::Put(b) if status == 413 => self.on_too_large(b, self.blobs[b].size),
            Step::Put(b) | Step::Close(b) => self.on_committed(b, &head),
            Step::Status(b) => self.on_status(b, &head),
            Step::Patch(b, start, end) if status == 413 => self.on_too_large(b, end - start),
            Step::Patch(b, start, _)
                if matches!(status, 405 | 501)
                    || (status == 400 && RegistryErrors::parse(body).has_code("UNSUPPORTED")) =>
            {
                self.on_patch_unsupported(b, start)
            }
            Step::Patch(..) if status == 416 => {
                // The registry disagrees about the offset: ask it.
                if self.schedule_retry(step, Some(Duration::ZERO), "416 from registry".into()) {
                    Ok(())
                } else {
                    Err(Failure::Status)
                }
            }
            Step::Patch(b, start, end) => self.on_patch(b, start, end, &head),
            Step::Manifest(_) if !self.rechecked && names_unknown_blob(status, body) => {
                self.recheck_blobs(status);
                Ok(())
            }
            Step::Manifest(n) => self.on_manifest(n, &head),
        };
        match result {
            Ok(()) => {}
            Err(Failure::Status) => {
                let err = self.registry_error(step, status, body);
                self.finish(Err(err));
            }
            Err(Failure::Error(e)) => self.finish(Err(e)),
        }
    }

    fn on_ping(&mut self, status: u16) -> Result<(), Failure> {
        if status != 200 {
            return Err(Failure::Status);
        }
        self.phase = Phase::Blobs;
        self.step_attempts = 1;
        self.fill_slots();
        Ok(())
    }

    /// The manifest named a blob the registry says it lacks, though it confirmed every blob
    /// (another client's upload of the same blob racing ours, a cleanup between): check each
    /// blob again, upload what is missing, then send the manifests again — once.
    fn recheck_blobs(&mut self, status: u16) {
        self.rechecked = true;
        self.phase = Phase::Blobs;
        self.session.retries += 1;
        let what = format!("manifest for {}", self.plan.reference);
        self.event(Event::Retrying {
            what,
            attempt: 2,
            delay: Duration::ZERO,
            reason: format!("{status} from registry: a blob it confirmed is unknown to it; checking every blob again"),
        });
        for b in 0..self.blobs.len() {
            if matches!(self.blobs[b].state, BlobState::Done { .. }) {
                self.blobs[b].recheck = Some(self.blobs[b].state.clone());
                self.queue.push_back(b);
            }
        }
        self.fill_slots();
    }

    fn on_head(&mut self, b: usize, status: u16) -> Result<(), Failure> {
        if let Some(was) = self.blobs[b].recheck.take() {
            match status {
                // Still there: as it was.
                200 => {
                    self.blobs[b].state = was;
                    self.blob_finished();
                    return Ok(());
                }
                // Gone: upload it like a blob the registry never had.
                404 => {
                    self.blobs[b].restart();
                    self.blobs[b].state = BlobState::Checking;
                }
                _ => return Err(Failure::Status),
            }
        }
        match status {
            200 => {
                self.blobs[b].state = BlobState::Done {
                    skipped: true,
                    mounted: false,
                };
                let blob = &self.blobs[b];
                self.event(Event::BlobSkipped {
                    blob: blob.plan_index,
                    digest: blob.digest.clone(),
                    size: blob.size,
                });
                self.blob_finished();
                Ok(())
            }
            404 if self.config.dry_run => {
                self.blobs[b].state = BlobState::Missing;
                let blob = &self.blobs[b];
                self.event(Event::BlobMissing {
                    blob: blob.plan_index,
                    digest: blob.digest.clone(),
                    size: blob.size,
                });
                self.blob_finished();
                Ok(())
            }
            404 => match self.blobs[b].resume.take() {
                Some((location, confirmed)) => {
                    self.blobs[b].confirmed = confirmed;
                    self.blobs[b].inherited = true;
                    self.blobs[b].state = BlobState::Uploading {
                        location,
                        committed: 0,
                    };
                    self.issue(Step::Status(b));
                    Ok(())
                }
                None => {
                    self.issue(Step::Open(b));
                    Ok(())
                }
            },
            _ => Err(Failure::Status),
        }
    }

    /// Tells the runner where an upload session stands, so a later run can resume it.
    fn session_event(&mut self, b: usize) {
        let blob = &self.blobs[b];
        if let BlobState::Uploading {
            location,
            committed,
        } = &blob.state
        {
            let event = Event::UploadSession {
                blob: blob.plan_index,
                digest: blob.digest.clone(),
                location: location.to_string(),
                committed: *committed,
            };
            self.event(event);
        }
    }

    fn on_open(&mut self, b: usize, head: &ResponseHead) -> Result<(), Failure> {
        if head.status.as_u16() == 201 {
            if let Some(from) = self.plan.mount_from.clone() {
                let blob = &self.blobs[b];
                let event = Event::BlobMounted {
                    blob: blob.plan_index,
                    digest: blob.digest.clone(),
                    size: blob.size,
                    from,
                };
                self.blobs[b].state = BlobState::Done {
                    skipped: false,
                    mounted: true,
                };
                self.event(event);
                self.blob_finished();
                return Ok(());
            }
        }
        if head.status.as_u16() != 202 {
            return Err(Failure::Status);
        }
        let location = self.location(Step::Open(b), head)?;
        let blob = &mut self.blobs[b];
        blob.min_chunk = head
            .header("oci-chunk-min-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        blob.state = BlobState::Uploading {
            location,
            committed: 0,
        };
        let event = Event::BlobStarted {
            blob: blob.plan_index,
            digest: blob.digest.clone(),
            size: blob.size,
        };
        let monolithic_max = self
            .config
            .monolithic_max
            .min(self.chunk_limit.unwrap_or(u64::MAX));
        let chunked = !self.no_chunks && blob.size > monolithic_max;
        let next = if chunked {
            self.next_chunk(b, 0)
        } else {
            Step::Put(b)
        };
        self.event(event);
        if chunked {
            self.session_event(b);
        }
        self.issue(next);
        Ok(())
    }

    fn on_patch(
        &mut self,
        b: usize,
        start: u64,
        end: u64,
        head: &ResponseHead,
    ) -> Result<(), Failure> {
        if head.status.as_u16() != 202 {
            return Err(Failure::Status);
        }
        let location = match head.header("location") {
            Some(_) => self.location(Step::Patch(b, start, end), head)?,
            None => match &self.blobs[b].state {
                BlobState::Uploading { location, .. } => location.clone(),
                _ => return Err(self.protocol(Step::Patch(b, start, end), "no upload session")),
            },
        };
        let reported = match head.header("range").map(str::trim) {
            // distribution says `0-0` for nothing as well as for one byte: after a chunk
            // that ends at byte 1, it is that byte.
            Some("0-0") | Some("bytes=0-0") => Some(u64::from(end == 1)),
            Some(range) => Some(
                parse_range_end(range)
                    .and_then(|last| last.checked_add(1))
                    .ok_or_else(|| {
                        self.protocol(
                            Step::Patch(b, start, end),
                            &format!("unreadable Range header {range:?}"),
                        )
                    })?,
            ),
            None => None,
        };
        // Trust only what the registry confirms: exactly what was sent (or one more, from a
        // registry that reports an exclusive end). Anything else: ask it (`GET` the session).
        let committed = match reported {
            None => end,
            Some(r) if r == end || Some(r) == end.checked_add(1) => end,
            Some(_) => {
                self.blobs[b].state = BlobState::Uploading {
                    location,
                    committed: start,
                };
                return self.distrust(b);
            }
        };
        self.blobs[b].state = BlobState::Uploading {
            location,
            committed,
        };
        self.blobs[b].confirmed = self.blobs[b].confirmed.max(committed);
        // A confirmed chunk is progress: the attempt limit counts failures of one request,
        // so a long upload over a bad link is not cut off by faults spread across it.
        self.blobs[b].attempts = 1;
        self.blobs[b].broken_body = None;
        self.session_event(b);
        let next = if committed == self.blobs[b].size {
            if let Some(err) = self.mismatch_error(b) {
                return Err(Failure::Error(err));
            }
            Step::Close(b)
        } else {
            self.next_chunk(b, committed)
        };
        self.issue(next);
        Ok(())
    }

    /// What a status report of `0-0` means for blob `b`: one byte when the registry
    /// confirmed at least one before in this session (it never holds fewer); none unless a
    /// one-byte first chunk may have landed unconfirmed (registries keep whole chunks) or an
    /// earlier run's session holds what this run cannot know; `None` then: it cannot be told.
    fn one_or_none(&self, b: usize) -> Option<u64> {
        let blob = &self.blobs[b];
        if blob.confirmed >= 1 {
            Some(1)
        } else if blob.sent_upto == 1 || blob.inherited {
            None
        } else {
            Some(0)
        }
    }

    /// A report the push cannot trust: ask the registry where the upload stands, a bounded
    /// number of times.
    fn distrust(&mut self, b: usize) -> Result<(), Failure> {
        self.blobs[b].attempts += 1;
        if self.blobs[b].attempts > self.session.backoff.policy().max_attempts {
            let msg = "its reports of the received bytes keep disagreeing with what was sent";
            return Err(self.protocol(Step::Status(b), msg));
        }
        self.issue(Step::Status(b));
        Ok(())
    }

    /// `413`: the body was too large for something on the way. Halve the chunks (down to
    /// 4 KiB), upload this blob in chunks, and ask where its session stands.
    fn on_too_large(&mut self, b: usize, sent: u64) -> Result<(), Failure> {
        let smaller = (sent / 2).max(MIN_CHUNK);
        if sent <= MIN_CHUNK {
            return Err(Failure::Status);
        }
        self.chunk_limit = Some(self.chunk_limit.map_or(smaller, |c| c.min(smaller)));
        self.distrust(b)
    }

    /// The registry does not take `PATCH`: upload whole blobs in one `PUT` from now on.
    fn on_patch_unsupported(&mut self, b: usize, start: u64) -> Result<(), Failure> {
        if self.no_chunks || start != 0 {
            return Err(Failure::Status);
        }
        self.no_chunks = true;
        self.issue(Step::Put(b));
        Ok(())
    }

    /// The registry said how much of the upload it has: go on from there, or start over
    /// if the session is gone.
    fn on_status(&mut self, b: usize, head: &ResponseHead) -> Result<(), Failure> {
        match head.status.as_u16() {
            200 | 204 => {}
            404 => {
                self.blobs[b].restart();
                self.issue(Step::Open(b));
                return Ok(());
            }
            _ => return Err(Failure::Status),
        }
        let location = match head.header("location") {
            Some(_) => self.location(Step::Status(b), head)?,
            None => self.upload_location(b).map_err(Failure::Error)?,
        };
        // distribution 2.8 says `0-0` for an empty upload and for one byte: never trust a
        // byte not confirmed.
        let committed = match head.header("range").map(str::trim) {
            None => 0,
            Some("0-0") | Some("bytes=0-0") => match self.one_or_none(b) {
                Some(n) => n,
                None => {
                    // The session may hold the first byte or not: a fresh one costs a byte.
                    self.blobs[b].restart();
                    self.issue(Step::Open(b));
                    return Ok(());
                }
            },
            Some(range) => parse_range_end(range)
                .and_then(|last| last.checked_add(1))
                .ok_or_else(|| {
                    self.protocol(
                        Step::Status(b),
                        &format!("unreadable Range header {range:?}"),
                    )
                })?,
        };
        let size = self.blobs[b].size;
        let (sent, confirmed) = (self.blobs[b].sent_upto, self.blobs[b].confirmed);
        // A registry reporting an exclusive end says one byte more than it has (but never
        // less than it confirmed).
        let committed = if Some(committed) == sent.checked_add(1) && sent >= confirmed {
            sent
        } else {
            committed
        };
        if committed > size {
            let msg = format!("it reports {committed} bytes of a {size}-byte blob");
            return Err(self.protocol(Step::Status(b), &msg));
        }
        self.blobs[b].state = BlobState::Uploading {
            location,
            committed,
        };
        self.blobs[b].confirmed = self.blobs[b].confirmed.max(committed);
        self.session_event(b);
        let next = if committed == size {
            if let Some(err) = self.mismatch_error(b) {
                return Err(Failure::Error(err));
            }
            Step::Close(b)
        } else {
            self.next_chunk(b, committed)
        };
        self.issue(next);
        Ok(())
    }

    fn on_committed(&mut self, b: usize, head: &ResponseHead) -> Result<(), Failure> {
        if let Some(err) = self.mismatch_error(b) {
            return Err(Failure::Error(err));
        }
        if head.status.as_u16() != 201 {
            return Err(Failure::Status);
        }
        let blob = &self.blobs[b];
        if let Some(reported) = head.header("docker-content-digest") {
            if reported.trim() != blob.digest.to_string() {
                let msg = format!("it stored {} as {reported:?}", blob.digest);
                return Err(self.protocol(Step::Close(b), &msg));
            }
        }
        let event = Event::BlobCommitted {
            blob: blob.plan_index,
            digest: blob.digest.clone(),
            size: blob.size,
        };
        self.blobs[b].state = BlobState::Done {
            skipped: false,
            mounted: false,
        };
        self.event(event);
        self.blob_finished();
        Ok(())
    }

    fn on_manifest(&mut self, n: usize, head: &ResponseHead) -> Result<(), Failure> {
        if head.status.as_u16() != 201 {
            return Err(Failure::Status);
        }
        let expected = self.manifest(n).digest.clone();
        if let Some(reported) = head.header("docker-content-digest") {
            if reported.trim() != expected.to_string() {
                let msg = format!("it stored the manifest {expected} as {reported:?}");
                return Err(self.protocol(Step::Manifest(n), &msg));
            }
        }
        self.event(Event::ManifestPushed {
            digest: expected.clone(),
        });
        if n < self.plan.children.len() {
            self.step_attempts = 1;
            self.issue(Step::Manifest(n + 1));
        } else {
            let report = self.report();
            self.finish(Ok(report));
        }
        Ok(())
    }

    /// Manifest number `n` in push order: the children, then the root.
    fn manifest(&self, n: usize) -> &PlanManifest {
        self.plan.children.get(n).unwrap_or(&self.plan.manifest)
    }

    // ---- scheduling ------------------------------------------------------------------

    /// Blobs that may be in flight: the adaptive window, or `jobs`.
    fn window(&self) -> usize {
        self.concurrency
            .as_ref()
            .map_or(self.config.jobs.max(1), ConcurrencyController::window)
    }

    /// A request body was confirmed: feeds the controller the bytes confirmed so far. A
    /// larger window starts blobs at once, a smaller one as blobs finish (a blob once
    /// started runs to its end, chunks in order).
    fn adapt(&mut self) {
        if self.phase != Phase::Blobs {
            return;
        }
        let (now, confirmed, active) = (self.session.now, self.confirmed_total, self.active);
        if let Some(change) = self
            .concurrency
            .as_mut()
            .and_then(|c| c.on_completion(now, confirmed, active))
        {
            self.window_changed(change);
        }
    }

    /// A blob request failed with a sign of overload: the adaptive window halves.
    fn congestion(&mut self, step: Step) {
        if self.phase != Phase::Blobs || step.blob().is_none() {
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

    /// Starts queued blobs while fewer than the window are active.
    fn fill_slots(&mut self) {
        while self.active < self.window() {
            let Some(b) = self.queue.pop_front() else {
                break;
            };
            self.active += 1;
            self.blobs[b].attempts = 1;
            self.issue(Step::Head(b));
        }
        self.check_all_done();
    }

    fn blob_finished(&mut self) {
        self.active = self.active.saturating_sub(1);
        self.maybe_progress(true);
        self.fill_slots();
    }

    fn check_all_done(&mut self) {
        if self.phase != Phase::Blobs || self.active > 0 || !self.queue.is_empty() {
            return;
        }
        if !self.pending.is_empty() || !self.manifests_ready {
            return;
        }
        if !self.blobs.iter().all(BlobUpload::is_done) {
            return;
        }
        if self.config.dry_run {
            let report = self.report();
            self.finish(Ok(report));
        } else {
            self.phase = Phase::Manifest;
            self.step_attempts = 1;
            self.issue(Step::Manifest(0));
        }
    }

    /// The chunk after `committed`: at least the registry's minimum, at most the rest.
    fn next_chunk(&self, b: usize, committed: u64) -> Step {
        let blob = &self.blobs[b];
        let len = self
            .config
            .chunk_size
            .min(self.chunk_limit.unwrap_or(u64::MAX))
            .max(blob.min_chunk)
            .max(1);
        let end = committed.saturating_add(len).min(blob.size);
        Step::Patch(b, committed, end)
    }

    /// Plans another attempt of `step` after a backoff; false when attempts are exhausted.
    fn schedule_retry(&mut self, step: Step, hint: Option<Duration>, reason: String) -> bool {
        // A chunked upload that failed asks the registry how much it has and goes on from
        // there; a monolithic one starts a fresh session.
        let step = match step {
            Step::Patch(b, ..) | Step::Close(b) | Step::Status(b)
                if matches!(self.blobs[b].state, BlobState::Uploading { .. }) =>
            {
                Step::Status(b)
            }
            Step::Open(b)
            | Step::Put(b)
            | Step::Patch(b, ..)
            | Step::Close(b)
            | Step::Status(b) => Step::Open(b),
            other => other,
        };
        let attempt = match step.blob() {
            Some(b) => {
                self.blobs[b].attempts += 1;
                self.blobs[b].attempts
            }
            None => {
                self.step_attempts += 1;
                self.step_attempts
            }
        };
        if attempt > self.session.backoff.policy().max_attempts {
            return false;
        }
        if let Step::Open(b) = step {
            self.blobs[b].restart();
            self.blobs[b].state = BlobState::Opening;
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

    // ---- requests --------------------------------------------------------------------

    fn issue(&mut self, step: Step) {
        match self.build(step) {
            Ok((method, url, headers, body)) => {
                if let Some(req) = self.session.request(step, method, url, headers, body) {
                    self.outputs.push_back(Output::Send(req));
                }
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    /// The method, URL, headers and body of `step`'s request.
    fn build(&mut self, step: Step) -> Result<(Method, url::Url, HeaderMap, Body), Error> {
        let repo = self.plan.repository.clone();
        let url_err = |e: url::ParseError| Error::InvalidInput {
            message: format!("cannot build a URL for {}: {e}", self.plan.registry),
        };
        let endpoint = &self.session.endpoint;
        let mut headers = HeaderMap::new();
        let (method, url, body) = match step {
            Step::Ping => (Method::GET, endpoint.ping().map_err(url_err)?, Body::Empty),
            Step::Head(b) => {
                self.blobs[b].state = BlobState::Checking;
                let url = endpoint
                    .blob(&repo, &self.blobs[b].digest)
                    .map_err(url_err)?;
                (Method::HEAD, url, Body::Empty)
            }
            Step::Open(b) => {
                self.blobs[b].state = BlobState::Opening;
                let url = match &self.plan.mount_from {
                    Some(from) => endpoint.mount(&repo, &self.blobs[b].digest, from),
                    None => endpoint.uploads(&repo),
                };
                (Method::POST, url.map_err(url_err)?, Body::Empty)
            }
            Step::Put(b) => {
                let blob = &self.blobs[b];
                let url = with_digest(&self.upload_location(b)?, &blob.digest);
                headers.insert("content-type", octet_stream());
                let body = Body::BlobRange {
                    blob: blob.plan_index,
                    start: 0,
                    end: blob.size,
                };
                (Method::PUT, url, body)
            }
            Step::Patch(b, start, end) => {
                let url = self.upload_location(b)?;
                headers.insert("content-type", octet_stream());
                let range = format!("{start}-{}", end.saturating_sub(1));
                headers.insert("content-range", header_value(&range));
                let body = Body::BlobRange {
                    blob: self.blobs[b].plan_index,
                    start,
                    end,
                };
                (Method::PATCH, url, body)
            }
            Step::Close(b) => {
                let url = with_digest(&self.upload_location(b)?, &self.blobs[b].digest);
                (Method::PUT, url, Body::Empty)
            }
            Step::Status(b) => (Method::GET, self.upload_location(b)?, Body::Empty),
            Step::Manifest(n) => {
                let m = self.manifest(n);
                let reference = match self.plan.children.get(n) {
                    Some(child) => child.digest.to_string(),
                    None => self.plan.reference.clone(),
                };
                let url = endpoint.manifest(&repo, &reference).map_err(url_err)?;
                headers.insert("content-type", header_value(&m.media_type));
                (Method::PUT, url, Body::Bytes(m.bytes.clone()))
            }
        };
        Ok((method, url, headers, body))
    }

    fn upload_location(&self, b: usize) -> Result<url::Url, Error> {
        match &self.blobs[b].state {
            BlobState::Uploading { location, .. } => Ok(location.clone()),
            _ => Err(Error::Protocol {
                action: self.describe(Step::Put(b)),
                message: "no upload session is open".into(),
            }),
        }
    }

    fn location(&self, step: Step, head: &ResponseHead) -> Result<url::Url, Failure> {
        let raw = head
            .header("location")
            .ok_or_else(|| self.protocol(step, "the response has no Location header"))?;
        let url = self
            .session
            .endpoint
            .resolve_location(raw.trim())
            .map_err(|e| self.protocol(step, &format!("unusable Location {raw:?}: {e}")))?;
        if !crate::endpoint::is_http(&url) {
            let message = format!("unusable Location {raw:?}: not an http or https URL");
            return Err(self.protocol(step, &message));
        }
        Ok(url)
    }

    // ---- reporting -------------------------------------------------------------------

    fn describe(&self, step: Step) -> String {
        match step {
            Step::Ping => format!("contacting registry {}", self.plan.registry),
            Step::Head(b) => format!("checking {}", self.blobs[b].label()),
            Step::Open(b)
            | Step::Put(b)
            | Step::Patch(b, ..)
            | Step::Close(b)
            | Step::Status(b) => format!("uploading {}", self.blobs[b].label()),
            Step::Manifest(n) => match self.plan.children.get(n) {
                Some(child) => format!(
                    "pushing manifest {} to {}/{}",
                    child.digest, self.plan.registry, self.plan.repository
                ),
                None => format!(
                    "pushing manifest to {}/{}:{}",
                    self.plan.registry, self.plan.repository, self.plan.reference
                ),
            },
        }
    }

    fn protocol(&self, step: Step, message: &str) -> Failure {
        Failure::Error(Error::Protocol {
            action: self.describe(step),
            message: message.to_owned(),
        })
    }

    fn registry_error(&self, step: Step, status: u16, body: &[u8]) -> Error {
        let errors = RegistryErrors::parse(body);
        let action = self.describe(step);
        if status == 403 {
            return Error::Auth {
                message: format!("{action}: access denied (403): {errors}"),
            };
        }
        if step == Step::Ping && status == 404 {
            return Error::Protocol {
                action,
                message: "no Registry V2 API at /v2/ (404)".into(),
            };
        }
        Error::Registry {
            action,
            status,
            errors,
        }
    }

    fn mismatch_error(&self, b: usize) -> Option<Error> {
        let blob = &self.blobs[b];
        blob.local_mismatch().map(|actual| Error::DigestMismatch {
            what: format!("blob {} of the image", blob.plan_index),
            expected: blob.digest.clone(),
            actual,
        })
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn progress_due(&self) -> bool {
        self.last_progress
            .is_none_or(|t| self.session.now.saturating_since(t) >= self.config.progress_interval)
    }

    /// Emits per-blob and overall progress, at most once per interval unless forced.
    fn maybe_progress(&mut self, force: bool) {
        self.meter.record(self.session.now, self.sent_total);
        if !force && !self.progress_due() {
            return;
        }
        self.last_progress = Some(self.session.now);
        let moving: Vec<Event> = self
            .blobs
            .iter()
            .filter(|b| matches!(b.state, BlobState::Uploading { .. } | BlobState::Opening))
            .map(|b| Event::BlobProgress {
                blob: b.plan_index,
                sent: b.transferred(),
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
            sent_bytes: self.sent_total,
            transferred_bytes: 0,
            blobs_total: self.blobs.len(),
            blobs_done: 0,
            blobs_skipped: 0,
            bytes_per_second: self.meter.rate(),
            eta: None,
            elapsed: self.session.now.saturating_since(self.started),
        };
        // Blobs still being made count with their estimates.
        for &i in &self.pending {
            p.total_bytes += self.plan.blobs[i].size;
            p.blobs_total += 1;
        }
        for b in &self.blobs {
            p.total_bytes += b.size;
            p.transferred_bytes += b.transferred();
            if let BlobState::Done { skipped, .. } = b.state {
                p.done_bytes += b.size;
                p.blobs_done += 1;
                if skipped {
                    p.skipped_bytes += b.size;
                    p.blobs_skipped += 1;
                }
            }
        }
        p.transferred_bytes = p.transferred_bytes.max(self.transferred_high.get());
        self.transferred_high.set(p.transferred_bytes);
        p.eta = self
            .meter
            .eta(p.total_bytes.saturating_sub(p.transferred_bytes));
        p
    }

    fn report(&self) -> PushReport {
        let mut r = PushReport {
            manifest_digest: self.plan.manifest.digest.clone(),
            blobs_uploaded: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            blobs_missing: Vec::new(),
            bytes_uploaded: 0,
            bytes_skipped: 0,
            retries: self.session.retries,
            plain_http: self.session.endpoint.is_plain(),
            elapsed: self.session.now.saturating_since(self.started),
        };
        for b in &self.blobs {
            match b.state {
                BlobState::Done { skipped: true, .. } => {
                    r.blobs_skipped += 1;
                    r.bytes_skipped += b.size;
                }
                BlobState::Done { mounted: true, .. } => r.blobs_mounted += 1,
                BlobState::Done { .. } => {
                    r.blobs_uploaded += 1;
                    r.bytes_uploaded += b.size;
                }
                BlobState::Missing => r.blobs_missing.push(b.digest.clone()),
                _ => {}
            }
        }
        r
    }

    fn finish(&mut self, result: Result<PushReport, Error>) {
        if self.phase == Phase::Finished {
            return;
        }
        if result.is_ok() {
            self.maybe_progress(true);
        }
        self.phase = Phase::Finished;
        self.session.abandon_all();
        self.outputs.push_back(Output::Finished(result));
    }
}

/// The session a previous run left open for `digest`, if the plan names one.
fn resume_of(plan: &PushPlan, digest: &crate::Digest) -> Option<(url::Url, u64)> {
    let r = plan.resume.iter().find(|r| &r.digest == digest)?;
    let url = url::Url::parse(&r.location)
        .ok()
        .filter(crate::endpoint::is_http)?;
    Some((url, r.committed))
}

/// Why a response handler gave up.
enum Failure {
    /// An unexpected status: report the registry's error body.
    Status,
    /// A specific error.
    Error(Error),
}

/// The last byte offset in a `Range: 0-<last>` header (an optional `bytes=` prefix allowed).
pub(crate) fn parse_range_end(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (_, last) = v.split_once('-')?;
    last.trim().parse().ok()
}

fn octet_stream() -> HeaderValue {
    HeaderValue::from_static("application/octet-stream")
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A manifest `PUT` refused because it names a blob the registry does not have.
fn names_unknown_blob(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 400 | 404) {
        return false;
    }
    let errors = RegistryErrors::parse(body);
    errors.has_code("MANIFEST_BLOB_UNKNOWN") || errors.has_code("BLOB_UNKNOWN")
}
