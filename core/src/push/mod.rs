//! The push state machine: blobs first, the manifest last, so a tag never points at a
//! missing blob. It is a protocol on the operation engine (`core/src/engine/`), which carries
//! every request's lifecycle (auth, retries, redirects, the version check); this module says
//! what each step sends and what each answer means.
//!
//! One blob's upload:
//!
//! ```text
//!   HEAD /v2/<name>/blobs/<digest> ── 200 ──────────────────────────────► skipped
//!     │ 404
//!     ├─ a session an earlier run left ─► GET <location> (status) ─┐
//!     ▼                                                            │ Range: 0-<last>
//!   POST /v2/<name>/blobs/uploads/[?mount=&from=] ── 201 ──► mounted │
//!     │ 202 + Location                                             │
//!     ├─ small: PUT <location>?digest= (the whole blob) ──► committed
//!     └─ large: PATCH <location> (Content-Range a-b) … ◄───────────┘
//!                 │ after any failure: GET <location>, go on from the offset it reports
//!                 └─ PUT <location>?digest= (no body) ──► committed
//! ```
//!
//! A blob made while it is sent ([`PushPlan::streamed`]: a layer compressed on the fly)
//! has no digest to ask about until its bytes end, so it starts below the `HEAD`
//! (`stream.rs`):
//!
//! ```text
//!   a session an earlier run left under its key ─► GET <location> (status) ─┐
//!     │ none                                                                │ Range: 0-<last>
//!   POST /v2/<name>/blobs/uploads/ ── 202 + Location                        │
//!     └─ PATCH <location> (chunked, no Content-Range, at most a chunk) … ◄──┘
//!           │ after any failure: GET <location>, go on from the offset it reports
//!           │ handle_blob_end: its digest and size; the registry holds them all
//!           └─ PUT <location>?digest= (no body) ──► committed
//!                 └─ 400 DIGEST_INVALID in an earlier run's session: POST afresh
//! ```
//!
//! then `PUT /v2/<name>/manifests/<ref>` for each manifest, children first.
//!
//! Contract: create a [`Push`], then loop: drain [`Push::poll`] (send each request, show
//! each event, set the timer from the [`Output::Timeout`] that ends the drain) until it
//! returns `None`, wait for a response, a body chunk or the timer, feed it in with
//! [`Push::handle_input`], repeat until [`Output::Finished`]. A plan with
//! [`PushPlan::pending`] blobs also takes [`Push::handle_blob_ready`] for each and
//! [`Push::handle_manifests`] once; until then the push may wait with nothing in flight. A
//! plan with [`PushPlan::streamed`] blobs takes [`Push::handle_blob_end`] for each when its
//! bytes end, and [`Push::handle_manifests`] once.
//!
//! Files: `upload.rs` (one blob's steps), `stream.rs` (those of a blob made while it is
//! sent), `manifest.rs` (the manifests), `request.rs` (what each step sends), `schedule.rs`
//! (the blob window, when the manifests go), `report.rs` (descriptions, progress, the
//! report).

mod blob;
mod event;
mod manifest;
mod mount;
mod plan;
mod report;
mod request;
mod schedule;
mod step;
mod stream;
mod upload;

use std::collections::HashMap;
use std::time::Duration;

pub use event::{Event, Output};
pub use mount::MAX_MOUNT_SOURCES;
pub use plan::{PlanBlob, PlanManifest, PushConfig, PushPlan, PushReport, ResumableUpload};
pub(crate) use upload::parse_range_end;

use blob::{BlobState, BlobUpload};
use step::Step;

use crate::engine::{
    Accountant, BlobWindow, Cx, Engine, Failure, Outbox, Parts, Protocol, Reporting, Response,
    Transient, Windowed,
};
use crate::error::{Error, Misuse};
use crate::registry_error::RegistryErrors;
use crate::session::Session;
use crate::time::Instant;

/// Where the whole push stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ping,
    Blobs,
    Manifest,
    Finished,
}

/// Chunks never shrink below this on a `413`.
const MIN_CHUNK: u64 = 4 * 1024;

/// How many times in a row one body must break off at the same place before it is taken
/// for a cap on the way (a link that drops at random seldom breaks one body that often).
const BREAKS_FOR_A_CAP: u32 = 3;

/// Chunks that must pass under a limit learned from breaking bodies before it doubles.
const CLEAN_CHUNKS_TO_GROW: u32 = 8;

/// A push of one image to one repository. See the [module docs](self) for the driving loop.
#[derive(Debug)]
pub struct Push {
    engine: Engine<Pushing>,
}

/// The push's protocol: what it knows of every blob and manifest.
#[derive(Debug)]
struct Pushing {
    plan: PushPlan,
    config: PushConfig,
    phase: Phase,
    blobs: Vec<BlobUpload>,
    window: BlobWindow,
    outputs: Outbox<Output>,
    accountant: Accountant,
    /// Request body bytes of blobs whose responses came back (the adaptive controller's
    /// measure: bytes handed to a socket may still sit in buffers).
    confirmed_total: u64,
    /// Attempts of the current manifest request.
    manifest_attempts: u32,
    /// Largest body the way to the registry takes, learned from a `413` or from bodies
    /// breaking off at one place ([`Pushing::on_body_broken`]).
    chunk_limit: Option<u64>,
    /// Chunks that passed since the limit was last lowered by breaking bodies (not by a
    /// `413`, which is certain): enough of them lift it again.
    clean_chunks: Option<u32>,
    /// The registry refused `PATCH`: whole blobs go in one `PUT`.
    no_chunks: bool,
    /// The registry said the manifest names a blob it lacks once already; blobs were checked
    /// again (a second time is an error).
    rechecked: bool,
    /// Plan blobs not ready yet ([`PushPlan::pending`]).
    pending: Vec<usize>,
    /// Whether the plan's manifests are final (false until [`Push::handle_manifests`]
    /// when blobs were pending).
    manifests_ready: bool,
    /// The tagged manifest's `PUT` was answered with `OCI-Subject`.
    subject_indexed: bool,
    /// Where blobs are mounted from.
    mounts: mount::Mounts,
}

impl Push {
    /// What its version check established, once the registry answered it.
    pub(crate) fn reached(&self) -> Option<crate::config::Reached> {
        self.engine.reached()
    }
    /// A push of `plan`, starting at `now`.
    pub fn new(plan: PushPlan, config: PushConfig, now: Instant) -> Push {
        Push::with_ids(plan, config, now, 0)
    }

    /// [`Push::new`] numbering its requests from `id_base` on.
    pub(crate) fn with_ids(plan: PushPlan, config: PushConfig, now: Instant, id_base: u64) -> Push {
        let mut session = Session::new(&plan.registry, &config.registry, now)
            .ids_from(id_base)
            .scoped(&plan.repository, "pull,push");
        let mounts = mount::Mounts::of(&plan);
        for from in mounts.repositories() {
            session = session.scoped_optionally(from, "pull");
        }
        let mut pending: Vec<usize> = plan
            .pending
            .iter()
            .copied()
            .filter(|&i| i < plan.blobs.len())
            .collect();
        pending.sort_unstable();
        pending.dedup();
        let streamed: Vec<usize> = plan
            .streamed
            .iter()
            .copied()
            .filter(|i| *i < plan.blobs.len() && pending.binary_search(i).is_err())
            .collect();
        let mut seen: HashMap<&crate::Digest, ()> = HashMap::new();
        let mut blobs = Vec::new();
        for (i, b) in plan.blobs.iter().enumerate() {
            if pending.binary_search(&i).is_err() && seen.insert(&b.digest, ()).is_none() {
                blobs.push(match streamed.contains(&i) {
                    true => BlobUpload::streamed(i, b.digest.clone(), b.size),
                    false => BlobUpload::new(i, b.digest.clone(), b.size),
                });
            }
        }
        for blob in &mut blobs {
            blob.resume = upload::resume_of(&plan, blob.session_key());
            // The runner keeps that session: it hears when it is over.
            blob.announced = blob.resume.is_some();
        }
        let mut window = BlobWindow::new(config.transfer.jobs, config.transfer.adaptive);
        for b in 0..blobs.len() {
            window.push_back(b);
        }
        let mut pushing = Pushing {
            accountant: Accountant::new(now, config.transfer.progress_interval),
            manifests_ready: pending.is_empty() && streamed.is_empty(),
            plan,
            config,
            phase: Phase::Ping,
            blobs,
            window,
            outputs: Outbox::default(),
            confirmed_total: 0,
            manifest_attempts: 1,
            chunk_limit: None,
            clean_chunks: None,
            no_chunks: false,
            rechecked: false,
            pending,
            subject_indexed: false,
            mounts,
        };
        if let Err(e) = pushing.validate() {
            pushing.finish(Err(e), &session);
        }
        Push {
            engine: Engine::new(pushing, session),
        }
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
        self.engine
            .with(|p, cx| p.blob_ready(blob, digest, size, cx))
    }

    /// The bytes of plan blob `blob`, one of [`PushPlan::streamed`], ended: they are `size`
    /// bytes with `digest`. A runner says so as soon as it knows (the registry may already
    /// have them all: the upload then closes with that digest); saying it again with the
    /// same values changes nothing.
    pub fn handle_blob_end(
        &mut self,
        blob: usize,
        digest: crate::Digest,
        size: u64,
    ) -> Result<(), Misuse> {
        self.engine.with(|p, cx| p.blob_end(blob, digest, size, cx))
    }

    /// The final manifests of a push that started with pending blobs: `manifest` (pushed
    /// under the reference) and the `children` pushed by digest before it.
    pub fn handle_manifests(
        &mut self,
        manifest: PlanManifest,
        children: Vec<PlanManifest>,
    ) -> Result<(), Misuse> {
        self.engine
            .with(|p, cx| p.manifests_known(manifest, children, cx))
    }

    /// The digest of plan blob `blob` (a copy opens the source's stream for it).
    pub(crate) fn plan_blob_digest(&self, blob: usize) -> Option<crate::Digest> {
        self.engine
            .proto
            .plan
            .blobs
            .get(blob)
            .map(|b| b.digest.clone())
    }

    /// Whether the push has finished (the `Finished` output may still be queued).
    pub fn is_finished(&self) -> bool {
        self.engine.proto.phase == Phase::Finished
    }
}

crate::engine::engine_api!(Push, Output);

impl Pushing {
    /// See [`Push::handle_blob_ready`].
    fn blob_ready(
        &mut self,
        blob: usize,
        digest: crate::Digest,
        size: u64,
        cx: &mut Cx<Step>,
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
            self.check_all_done(cx);
            return Ok(());
        }
        let mut upload = BlobUpload::new(blob, digest, size);
        upload.resume = upload::resume_of(&self.plan, &upload.digest);
        upload.announced = upload.resume.is_some();
        self.blobs.push(upload);
        self.window.push_back(self.blobs.len() - 1);
        if self.phase == Phase::Blobs {
            self.fill_slots(cx);
        }
        Ok(())
    }

    /// See [`Push::handle_manifests`].
    fn manifests_known(
        &mut self,
        manifest: PlanManifest,
        children: Vec<PlanManifest>,
        cx: &mut Cx<Step>,
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
            Ok(()) if self.phase == Phase::Blobs => self.check_all_done(cx),
            Ok(()) => {}
            Err(e) => self.finish(Err(e), cx),
        }
        Ok(())
    }
}

impl Protocol for Pushing {
    type Step = Step;
    type Output = Output;

    fn outbox(&mut self) -> &mut Outbox<Output> {
        &mut self.outputs
    }

    fn describe(&self, step: Step) -> String {
        self.describe_step(step)
    }

    /// A chunk on its way when the push is stopped reaches the registry all the same (its
    /// bytes are in the socket), and distribution then refuses the session token of the
    /// answer before it ("wrong offset"): the answer to the chunk names the session the next
    /// run can go on from.
    fn finishes_in_flight(&self) -> bool {
        true
    }

    fn blob_of(&self, step: Step) -> Option<crate::Digest> {
        step.blob().map(|b| self.blobs[b].digest.clone())
    }

    fn request(&mut self, step: Step, cx: &Cx<Step>) -> Result<Option<Parts>, Error> {
        self.build(step, cx).map(Some)
    }

    fn on_due(&mut self, step: Step, _cx: &mut Cx<Step>) -> Option<Step> {
        match step {
            Step::EndLate(b) => self.end_late(b),
            other => Some(other),
        }
    }

    fn start(&mut self, cx: &mut Cx<Step>) {
        self.phase = Phase::Blobs;
        self.fill_slots(cx);
    }

    fn on_sent(&mut self, step: Step, offset: u64, data: &[u8], cx: &mut Cx<Step>) {
        self.accountant.count(data.len() as u64);
        if let Some(b) = step.blob() {
            self.blobs[b].hash_sent(step.body_start() + offset, data);
        }
        self.maybe_progress(false, cx);
    }

    fn on_progress(&mut self, step: Step, offset: u64, n: u64, cx: &mut Cx<Step>) {
        self.accountant.count(n);
        if let Some(b) = step.blob() {
            self.blobs[b].note_sent(step.body_start() + offset, n);
        }
        self.maybe_progress(false, cx);
    }

    fn on_done(&mut self, step: Step, body_len: u64, sent: u64, cx: &mut Cx<Step>) {
        if let Step::Stream(b, ..) = step {
            // Its length is what went: `body_len` is only the most it could have been.
            if let Some(s) = &mut self.blobs[b].streamed {
                s.last_sent = sent;
            }
            self.confirmed_total += sent;
            self.adapt(cx);
            return;
        }
        if sent < body_len {
            self.accountant.count(body_len - sent);
        }
        if body_len > 0 && step.blob().is_some() {
            // The response confirms the body crossed the link.
            self.confirmed_total += body_len;
            self.adapt(cx);
        }
    }

    fn on_response(
        &mut self,
        step: Step,
        response: Response<'_>,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        let (status, head, body) = (response.status(), response.head, response.body);
        match step {
            Step::Head(b) => self.on_head_blob(b, head, cx),
            Step::Open(b) => self.on_open(b, head, cx),
            Step::Put(b) if status == 413 => self.on_too_large(b, self.blobs[b].size, cx),
            Step::Close(b) if upload::digest_refused(status, body) && self.blobs[b].inherited => {
                // Bytes an earlier run left in the session are not these: start afresh.
                self.start_over(b, cx);
                Ok(())
            }
            // The bytes sent are not the blob the image names: the image's fault, not the
            // registry's (the same class as when tug hashes them itself as they go).
            // (Where tug hashed them, the mismatch it saw says more: `on_committed`.)
            Step::Put(b) | Step::Close(b)
                if upload::digest_refused(status, body)
                    && self.blobs[b].local_mismatch().is_none() =>
            {
                let blob = &self.blobs[b];
                Err(Failure::Error(Error::InvalidInput {
                    message: format!(
                        "blob {}: the registry found its bytes do not hash to that digest \
                         (DIGEST_INVALID): the image is damaged, or its manifest names another \
                         blob",
                        blob.digest
                    ),
                }))
            }
            Step::Put(b) | Step::Close(b) => self.on_committed(b, head, cx),
            Step::Status(b) => self.on_status(b, head, cx),
            Step::Patch(b, start, end) if status == 413 => self.on_too_large(b, end - start, cx),
            Step::Patch(b, start, _)
                if matches!(status, 405 | 501)
                    || (status == 400 && RegistryErrors::parse(body).has_code("UNSUPPORTED")) =>
            {
                self.on_patch_unsupported(b, start, cx)
            }
            Step::Patch(..) if status == 416 => {
                // The registry disagrees about the offset: ask it.
                if self.retry(step, Some(Duration::ZERO), "416 from registry".into(), cx) {
                    Ok(())
                } else {
                    Err(Failure::Status)
                }
            }
            Step::Patch(b, start, end) => self.on_patch(b, start, end, head, cx),
            Step::Stream(b, start, end) if status == 413 => self.on_too_large(b, end - start, cx),
            Step::Stream(b, ..)
                if matches!(status, 405 | 501)
                    || (status == 400 && RegistryErrors::parse(body).has_code("UNSUPPORTED")) =>
            {
                Err(self.no_chunks_for_stream(b, status, body, cx))
            }
            Step::Stream(..) if status == 416 => {
                if self.retry(step, Some(Duration::ZERO), "416 from registry".into(), cx) {
                    Ok(())
                } else {
                    Err(Failure::Status)
                }
            }
            Step::Stream(b, start, end) => self.on_streamed(b, start, end, head, cx),
            Step::Manifest(n) if status != 201 => {
                let bytes = &self.manifest(n).bytes;
                match manifest::refused_foreign_layer(bytes, body) {
                    Some(layer) => {
                        let action = manifest::foreign_layer_refused(self.describe(step), layer);
                        let errors = cx.auth.secrets().parse_errors(body);
                        Err(Failure::Error(Error::Registry {
                            action,
                            status,
                            errors,
                            by: None,
                        }))
                    }
                    None if !self.rechecked && manifest::names_unknown_blob(status, body) => {
                        self.recheck_blobs(status, cx);
                        Ok(())
                    }
                    None => self.on_manifest(n, head, cx),
                }
            }
            Step::Manifest(n) => self.on_manifest(n, head, cx),
            // A timer: never sent, so never answered.
            Step::EndLate(_) => Err(Failure::Status),
        }
    }

    fn on_transient(&mut self, step: Step, why: Transient, cx: &mut Cx<Step>) {
        match why {
            Transient::Status(500) => {}
            Transient::Status(_) => self.congestion(step, cx),
            Transient::Transport => {
                self.congestion(step, cx);
                self.on_body_broken(step);
                if let Step::Put(b) = step {
                    // No answer: whether the registry kept the blob is not known.
                    self.blobs[b].maybe_landed = true;
                }
            }
        }
    }

    /// A mount the registry refused (the account may not read the source): the blob is
    /// uploaded instead, and nothing more is asked of that source.
    fn on_refused(&mut self, step: Step, cx: &mut Cx<Step>) -> bool {
        let Step::Open(b) = step else {
            return false;
        };
        let Some(from) = self.blobs[b].mounting.take() else {
            return false;
        };
        self.mounts.refuse(&from);
        self.resume_or_open(b, cx);
        true
    }

    /// A chunked upload that failed asks the registry how much it has and goes on from
    /// there; a monolithic one starts a fresh session.
    fn retry_as(&mut self, step: Step) -> Option<(Step, &mut u32)> {
        let step = match step {
            Step::Patch(b, ..) | Step::Stream(b, ..) | Step::Close(b) | Step::Status(b)
                if matches!(self.blobs[b].state, BlobState::Uploading { .. }) =>
            {
                Step::Status(b)
            }
            // A whole blob sent in one `PUT` whose answer was lost (the connection broke, not
            // a status): the registry may have it.
            Step::Put(b)
                if self.blobs[b].maybe_landed && self.blobs[b].sent_upto >= self.blobs[b].size =>
            {
                self.close_session(b);
                self.blobs[b].maybe_landed_check();
                Step::Head(b)
            }
            Step::Open(b)
            | Step::Put(b)
            | Step::Patch(b, ..)
            | Step::Stream(b, ..)
            | Step::Close(b)
            | Step::Status(b) => {
                self.close_session(b);
                self.blobs[b].restart();
                self.blobs[b].maybe_landed = false;
                self.blobs[b].state = BlobState::Opening;
                Step::Open(b)
            }
            other => other,
        };
        Some(match step.blob() {
            Some(b) => (step, &mut self.blobs[b].attempts),
            None => (step, &mut self.manifest_attempts),
        })
    }

    fn fail(&mut self, step: Option<Step>, error: Error, cx: &mut Cx<Step>) {
        // The blob's own bytes could not be read as they are (a file that changed, a layer
        // that is not its digest): what its session holds is no part of a later run's blob.
        let unreadable = matches!(
            &error,
            Error::Transport { error, .. } if error.kind == crate::http::TransportErrorKind::Source
        );
        if let (true, Some(b)) = (unreadable, step.and_then(Step::blob)) {
            self.close_session(b);
        }
        // A session an earlier run left that cannot be used (its address unreachable, the
        // registry failing it): a fresh one, once, before the push fails.
        if let (false, Some(b)) = (unreadable, step.and_then(Step::blob)) {
            if self.blobs[b].inherited && self.phase == Phase::Blobs {
                let reason = "the upload session an earlier run left cannot be used";
                self.start_over_because(b, reason, cx);
                self.blobs[b].attempts = 1;
                return;
            }
        }
        self.finish(Err(error), cx);
    }

    fn finished(&self) -> bool {
        self.outputs.ended()
    }
}
