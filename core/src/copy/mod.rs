//! A registry-to-registry copy: a [`Pull`] of the source's manifests (a mirror first, if
//! the plan names one), then a [`Push`] to the target whose every upload body is a range
//! that a [`Fetch`] reads from the source. Bytes go from one connection to the other through
//! the runner ([`Output::BodyData`]), never to disk; the core keeps the pieces in order and
//! pairs each upload with its stream.
//!
//! Contract: as for [`crate::push`], with two more duties. Each request comes with the
//! [`Side`] it goes to (the runner reaches each side with its own TLS settings). A request
//! whose body is a [`crate::http::Body::BlobRange`] is an upload fed from the source: the
//! runner sends it with a body that streams what [`Output::BodyData`] hands over for it, in
//! order, until [`Output::BodyEnd`] (or breaks the body on [`Output::BodyFailed`]). A runner
//! that cannot stream a request body may gather the pieces and send when the body ends.
//!
//! Resuming: the copy announces its upload sessions as a push does
//! ([`push::Event::UploadSession`], [`push::Event::UploadSessionClosed`]), and takes back
//! the ones an earlier run left ([`CopyPlan::resume`]). The target is asked how far each got
//! and the upload goes on from there, its body a range of the source's blob from that
//! offset (a source that ignores `Range` sends the whole blob: the bytes before the offset
//! are dropped). The target checks the whole blob's digest when the session closes; bytes
//! an earlier run left that are not these make the copy start that blob afresh.
//!
//! Referrers: with [`CopyPlan::referrers`], what is attached to the image is found where
//! the image was read and copied after it, each as a copy of its own (`referrers.rs`).

mod plan;
mod referrers;

use std::collections::{HashMap, VecDeque};

pub use plan::{CopyConfig, CopyPlan, CopySource};

use crate::engine::Drain;
use crate::error::{Error, Misuse};
use crate::fetch::{self, Fetch, StreamId};
use crate::http::{Body, Request, RequestId, TransportErrorKind};
use crate::operation::Input;
use crate::platform::Platform;
use crate::pull::{self, Pull, PullConfig, PullPlan};
use crate::push::{self, Push, PushConfig, PushReport};
use crate::reference::Reference;
use crate::referrers::{Attach, Discovery};
use crate::retry::Retrying;
use crate::time::Instant;

/// Request ids of the copy's parts are kept apart: part `n` numbers its requests from
/// `n << LANE_SHIFT` on.
const LANE_SHIFT: u32 = 40;

/// Which registry a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The plan's source number `n` (a mirror, or the source registry).
    Source(usize),
    /// The target.
    Target,
}

/// What the runner must do next.
#[derive(Debug)]
pub enum Output {
    /// Send this request to that side and report its response.
    Send(Side, Request),
    /// Stop this request (see [`crate::push::Output::Abort`]).
    Abort(Side, RequestId),
    /// The next bytes of upload request `id`'s body, in order.
    BodyData(RequestId, Vec<u8>),
    /// Upload request `id`'s body is complete.
    BodyEnd(RequestId),
    /// Upload request `id`'s body cannot be completed (the source failed): break it.
    BodyFailed(RequestId, String),
    /// Show this to the user.
    Event(Event),
    /// The copy ended; drop any requests still in flight.
    Finished(Result<PushReport, Error>),
    /// Nothing more until an input: if nothing else comes first, feed [`Input::Timeout`] at
    /// this instant (the same as [`Copy::poll_timeout`]). It ends a drain of
    /// [`Copy::poll`] when a timer is pending; the next `poll()` is `None`.
    Timeout(Instant),
}

/// Something worth showing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A mirror lacks the image or cannot be reached: the next source is asked.
    MirrorSkipped {
        /// The mirror's registry.
        mirror: String,
        /// What it answered.
        error: Error,
    },
    /// The source's manifests are in: the blobs to copy, with their labels.
    Planned {
        /// The source read (a mirror or the source registry).
        source: String,
        /// Which of the plan's sources it is: what is attached to the image (its
        /// referrers) is read there too.
        source_index: usize,
        /// Display labels of the push plan's blobs (`config`, `layer 1/3`), in plan order.
        labels: Vec<String>,
        /// The blobs' sizes summed.
        bytes: u64,
    },
    /// What the push to the target reports (and the source's retries, as `Retrying`).
    Push(push::Event),
    /// The image is in; what is attached to it is looked for now (a failure from here on
    /// leaves the image copied).
    ReferrersStarted {
        /// The image's manifest digest.
        subject: crate::Digest,
    },
    /// One of the image's referrers was copied (after the image).
    ReferrerCopied {
        /// What it is (`application/spdx+json`), if it says.
        artifact_type: Option<String>,
        /// Where it went: the target repository, by its digest or cosign-style tag.
        target: Reference,
    },
    /// One of the image's referrers is listed at the source (its `sha256-<hex>` index names
    /// it) but the source does not have it (`404`, `MANIFEST_UNKNOWN`): it was deleted there.
    /// A warning: it is not copied nor listed at the target, and the copy goes on.
    ReferrerMissing {
        /// Its manifest's digest.
        digest: crate::Digest,
        /// What it is (`application/spdx+json`), if the index says.
        artifact_type: Option<String>,
        /// Where it was looked for: the source repository, by its digest or cosign tag.
        source: Reference,
    },
    /// The referrers step ended (before [`Output::Finished`]).
    ReferrersCarried {
        /// Whether the source answered the referrers API (a caller copying many images from
        /// one registry need not ask again: [`crate::referrers::Known::api`]).
        api: bool,
        /// How many referrers were copied.
        copied: usize,
    },
}

/// A registry-to-registry copy. See the [module docs](self).
#[derive(Debug)]
pub struct Copy {
    plan: CopyPlan,
    config: CopyConfig,
    phase: Phase,
    outputs: VecDeque<Output>,
    /// The next lane of request ids.
    next_lane: u64,
    /// Retries outside the image's push (the source's reads, the referrers step), counted
    /// into the report.
    source_retries: u32,
    /// Why the source failed, if it did: a push failing because its body broke says this.
    source_error: Option<Error>,
    /// Where the runner's drain of `poll` is: it ends with the timer.
    drain: Drain,
    /// Whether it failed because its source does not have the image (every source said
    /// not found): a referrer's copy that did is a referrer the source no longer has.
    unresolved: bool,
    /// A repository of the target to mount blobs from ([`Copy::mounting_from`]).
    mount_from: Option<String>,
    /// Where blobs were seen on the target's registry ([`Copy::mounting_known`]).
    mount_sources: std::collections::BTreeMap<crate::Digest, Vec<String>>,
    /// The parts that ended, by their lanes: they accept inputs about the requests they
    /// dropped and refuse those about requests they finished or never sent, as any
    /// operation does.
    ended: Vec<(std::ops::Range<u64>, Ended)>,
}

/// A part of the copy that ended.
#[derive(Debug)]
enum Ended {
    Pull(Box<Pull>),
    Push(Box<Push>),
    Fetch(Box<Fetch>),
    Discovery(Box<Discovery>),
    /// A referrer's copy (its lanes are its own).
    Copy(Box<Copy>),
    Attach(Box<Attach>),
}

impl Ended {
    fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse> {
        match self {
            Ended::Pull(p) => p.handle_input(now, input),
            Ended::Push(p) => p.handle_input(now, input),
            Ended::Fetch(f) => f.handle_input(now, input),
            Ended::Discovery(d) => d.handle_input(now, input),
            Ended::Copy(c) => c.handle_input(now, input),
            Ended::Attach(a) => a.handle_input(now, input),
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// The manifests of source `source`.
    Resolving {
        source: usize,
        lane: u64,
        pull: Box<Pull>,
    },
    /// The push, fed by the fetch.
    Moving(Box<Moving>),
    /// What is attached to one subject of the copied image, found where it was read.
    Discovering {
        lane: u64,
        discovery: Box<Discovery>,
        referring: Box<referrers::Referring>,
    },
    /// That subject's referrers copied one at a time.
    Carrying(Box<referrers::Carrying>),
    /// The target's fallback tag's index lists the referrers it did not index itself.
    Attaching {
        lane: u64,
        attach: Box<Attach>,
        referring: Box<referrers::Referring>,
    },
    Finished,
}

impl Phase {
    /// When the parts' next timer is due.
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Phase::Resolving { pull, .. } => pull.poll_timeout(),
            Phase::Moving(m) => [m.push.poll_timeout(), m.fetch.poll_timeout()]
                .into_iter()
                .flatten()
                .min(),
            Phase::Discovering { discovery, .. } => discovery.poll_timeout(),
            Phase::Carrying(c) => c.poll_timeout(),
            Phase::Attaching { attach, .. } => attach.poll_timeout(),
            Phase::Finished => None,
        }
    }
}

#[derive(Debug)]
struct Moving {
    source: usize,
    push: Push,
    push_lane: u64,
    fetch: Fetch,
    fetch_lane: u64,
    /// The upload each open stream feeds, and back.
    uploads: HashMap<StreamId, RequestId>,
    streams: HashMap<RequestId, StreamId>,
    /// The platforms' manifests of an index copied whole (what is attached to each is
    /// carried too).
    children: Vec<crate::Digest>,
}

impl Copy {
    /// A copy as `plan` says, starting at `now` with the first source's manifests.
    pub fn new(plan: CopyPlan, config: CopyConfig, now: Instant) -> Copy {
        Copy::with_lanes(plan, config, now, 0)
    }

    /// [`Copy::new`] numbering its parts' lanes from `first_lane` on (a referrer's copy
    /// within a copy).
    fn with_lanes(plan: CopyPlan, config: CopyConfig, now: Instant, first_lane: u64) -> Copy {
        let mut copy = Copy {
            plan,
            config,
            phase: Phase::Finished,
            outputs: VecDeque::new(),
            next_lane: first_lane,
            source_retries: 0,
            source_error: None,
            unresolved: false,
            drain: Drain::default(),
            mount_from: None,
            mount_sources: Default::default(),
            ended: Vec::new(),
        };
        if copy.plan.sources.is_empty() {
            copy.finish(Err(Error::InvalidInput {
                message: "a copy needs a source".into(),
            }));
        } else {
            copy.resolve(0, now);
        }
        copy.pump(now);
        copy
    }

    /// This copy's uploads first ask the target to mount each blob from `repository` of the
    /// target registry (which another copy filled); a source on the target's registry mounts
    /// from the source's repository instead.
    #[must_use]
    pub fn mounting_from(mut self, repository: Option<String>) -> Copy {
        self.mount_from = repository;
        self
    }

    /// This copy's uploads first ask the target to mount each blob from a repository of
    /// the target registry where it was seen ([`push::PushPlan::mount_sources`]).
    #[must_use]
    pub fn mounting_known(
        mut self,
        sources: std::collections::BTreeMap<crate::Digest, Vec<String>>,
    ) -> Copy {
        self.mount_sources = sources;
        self
    }

    /// The next output, or `None` when the copy waits for an input. A drain (the calls
    /// after an input or a cancel, until `None`) ends with [`Output::Timeout`] when a timer
    /// is pending (never after `Finished`).
    #[must_use]
    pub fn poll(&mut self) -> Option<Output> {
        let queued = self.outputs.pop_front();
        let phase = &self.phase;
        self.drain
            .next(queued, || phase.poll_timeout(), Output::Timeout)
    }

    /// When [`Input::Timeout`] is due, if nothing else happens first: the same instant as
    /// the [`Output::Timeout`] that ended the last drain.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.phase.poll_timeout()
    }

    /// Feeds one input at `now` (see [`Input`]): requests of either side are told apart by
    /// their ids.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse> {
        self.drain.restart();
        let result = self.route(now, input);
        self.pump(now);
        result
    }

    /// Stops once the chunks on their way to the target have been answered, as a push
    /// does ([`crate::push::Push::wind_down`]): the reads of the source feeding them go on,
    /// nothing new is sent, then the copy finishes with [`Error::Cancelled`]. Outside the
    /// moving of blobs, or called again, it is [`Copy::cancel`].
    pub fn wind_down(&mut self) {
        self.drain.restart();
        match &mut self.phase {
            Phase::Moving(m) => {
                m.push.wind_down();
                m.fetch.wind_down();
                self.pump(Instant::ZERO);
            }
            _ => self.cancel(),
        }
    }

    /// Stops the copy: it finishes with [`Error::Cancelled`].
    pub fn cancel(&mut self) {
        self.drain.restart();
        match &mut self.phase {
            Phase::Resolving { pull, .. } => pull.cancel(),
            Phase::Moving(m) => {
                m.fetch.cancel();
                m.push.cancel();
            }
            Phase::Discovering { discovery, .. } => discovery.cancel(),
            Phase::Carrying(c) => c.cancel(),
            Phase::Attaching { attach, .. } => attach.cancel(),
            Phase::Finished => {}
        }
        self.pump(Instant::ZERO);
    }

    // ---- inputs ----------------------------------------------------------------------

    fn route(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse> {
        let id = match &input {
            Input::Response(id, _)
            | Input::BodyChunk(id, _)
            | Input::BodyEnd(id)
            | Input::BodySent(id, _)
            | Input::BodyProgress(id, _)
            | Input::TransportError(id, _) => *id,
            Input::Timeout => {
                match &mut self.phase {
                    Phase::Resolving { pull, .. } => pull.handle_input(now, Input::Timeout)?,
                    Phase::Moving(m) => {
                        m.push.handle_input(now, Input::Timeout)?;
                        m.fetch.handle_input(now, Input::Timeout)?;
                    }
                    Phase::Discovering { discovery, .. } => {
                        discovery.handle_input(now, Input::Timeout)?
                    }
                    Phase::Carrying(c) => c.handle_input(now, Input::Timeout)?,
                    Phase::Attaching { attach, .. } => attach.handle_input(now, Input::Timeout)?,
                    Phase::Finished => {}
                }
                return Ok(());
            }
        };
        let lane = id.0 >> LANE_SHIFT;
        // A referrer's copy numbers its lanes on from the copy's own.
        if let Phase::Carrying(c) = &mut self.phase {
            if c.owns(lane) {
                return c.handle_input(now, input);
            }
        }
        if lane >= self.next_lane {
            return Err(Misuse::UnknownRequest(id));
        }
        let ends = matches!(input, Input::BodyEnd(_) | Input::TransportError(..));
        match &mut self.phase {
            Phase::Resolving { lane: l, pull, .. } if *l == lane => pull.handle_input(now, input),
            Phase::Moving(m) if m.push_lane == lane => {
                if ends {
                    // The upload's answer came (or it broke): its stream is not needed.
                    if let Some(s) = m.streams.remove(&id) {
                        m.uploads.remove(&s);
                        m.fetch.close(s);
                    }
                }
                m.push.handle_input(now, input)
            }
            Phase::Moving(m) if m.fetch_lane == lane => m.fetch.handle_input(now, input),
            Phase::Discovering {
                lane: l, discovery, ..
            } if *l == lane => discovery.handle_input(now, input),
            Phase::Attaching {
                lane: l, attach, ..
            } if *l == lane => attach.handle_input(now, input),
            // A part that ended: what it left in flight was dropped, the rest is unknown.
            _ => match self.ended.iter_mut().find(|(l, _)| l.contains(&lane)) {
                Some((_, part)) => part.handle_input(now, input),
                None => Err(Misuse::UnknownRequest(id)),
            },
        }
    }

    // ---- phases ----------------------------------------------------------------------

    fn lane(&mut self) -> (u64, u64) {
        let lane = self.next_lane;
        self.next_lane += 1;
        (lane, lane << LANE_SHIFT)
    }

    /// Keeps a part that ended on `lane`.
    fn ended(&mut self, lane: u64, part: Ended) {
        self.ended.push((lane..lane + 1, part));
    }

    /// What a part's version check established of `side`'s registry: the parts started
    /// after it there (the referrers step's) need not ask again.
    fn learned(&mut self, side: Side, reached: Option<crate::config::Reached>) {
        let config = match side {
            Side::Source(s) => match self.plan.sources.get_mut(s) {
                Some(source) => &mut source.config,
                None => return,
            },
            Side::Target => &mut self.plan.target_config,
        };
        if config.reached.is_none() {
            config.reached = reached;
        }
    }

    /// Reads the manifests of source `source`.
    fn resolve(&mut self, source: usize, now: Instant) {
        let from = &self.plan.sources[source];
        let plan = PullPlan {
            registry: from.reference.api_host().to_owned(),
            repository: from.reference.repository.clone(),
            reference: from.reference.manifest_ref(),
            // With every platform copied the pull takes the whole index and never reads this.
            platform: self
                .plan
                .platform
                .clone()
                .unwrap_or_else(|| Platform::default_for_arch("")),
            all_platforms: self.plan.all_platforms(),
            have: Vec::new(),
            manifests_only: true,
            // A platform named for a single image must be its own.
            platform_required: self.plan.platform.is_some(),
        };
        let config = PullConfig {
            registry: from.config.clone(),
            transfer: self.config.transfer.clone(),
        };
        let (lane, base) = self.lane();
        let pull = Pull::with_ids(plan, config, now, base);
        self.phase = Phase::Resolving {
            source,
            lane,
            pull: Box::new(pull),
        };
    }

    /// The manifests are in: the push to the target starts, fed from `source`.
    fn start_moving(&mut self, source: usize, resolved: &pull::PullReport, now: Instant) {
        let from = self.plan.sources[source].clone();
        let (mut plan, labels) = plan::push_plan(
            resolved,
            &from.reference,
            &self.plan.target,
            self.plan.all_platforms(),
        );
        plan.resume = self.plan.resume.clone();
        plan.mount_sources = self.mount_sources.clone();
        if plan.mount_from.is_none() {
            plan.mount_from = self
                .mount_from
                .clone()
                .filter(|r| *r != self.plan.target.repository);
        }
        self.event(Event::Planned {
            source: from.reference.registry.clone(),
            source_index: source,
            labels,
            bytes: plan.blobs.iter().map(|b| b.size).sum(),
        });
        let config = PushConfig {
            registry: self.plan.target_config.clone(),
            transfer: self.config.transfer.clone(),
            // The bytes come from the source as they are sent, checked as they pass: a
            // single `PUT ?digest=` would commit them before tug knows they are right, so
            // every blob goes in `PATCH`es and the closing `PUT` follows the check.
            monolithic_max: 0,
            chunk_size: self.config.chunk_size,
            dry_run: false,
        };
        let (push_lane, push_base) = self.lane();
        let (fetch_lane, fetch_base) = self.lane();
        let fetch = Fetch::with_ids(
            from.reference.api_host(),
            &from.reference.repository,
            &from.config,
            now,
            fetch_base,
        );
        let children = plan.children.iter().map(|c| c.digest.clone()).collect();
        self.phase = Phase::Moving(Box::new(Moving {
            source,
            children,
            push: Push::with_ids(plan, config, now, push_base),
            push_lane,
            fetch,
            fetch_lane,
            uploads: HashMap::new(),
            streams: HashMap::new(),
        }));
    }

    /// Moves what the parts put out into the copy's outputs, advancing the phases.
    fn pump(&mut self, now: Instant) {
        loop {
            let progressed = match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Resolving { source, lane, pull } => {
                    self.pump_resolving(source, lane, pull, now)
                }
                Phase::Moving(m) => self.pump_moving(m, now),
                Phase::Discovering {
                    lane,
                    discovery,
                    referring,
                } => self.pump_discovering((lane, discovery), referring, now),
                Phase::Carrying(c) => self.pump_carrying(c, now),
                Phase::Attaching {
                    lane,
                    attach,
                    referring,
                } => self.pump_attaching((lane, attach), referring, now),
                Phase::Finished => false,
            };
            if !progressed {
                return;
            }
        }
    }

    /// Returns whether the phase changed (and the new one must be pumped).
    fn pump_resolving(
        &mut self,
        source: usize,
        lane: u64,
        mut pull: Box<Pull>,
        now: Instant,
    ) -> bool {
        while let Some(output) = pull.poll() {
            match output {
                pull::Output::Send(req) => self
                    .outputs
                    .push_back(Output::Send(Side::Source(source), req)),
                pull::Output::Abort(id) => self
                    .outputs
                    .push_back(Output::Abort(Side::Source(source), id)),
                pull::Output::Event(pull::Event::Retrying(r)) => self.source_retried(r),
                pull::Output::Finished(Ok(report)) => {
                    self.learned(Side::Source(source), pull.reached());
                    self.ended(lane, Ended::Pull(pull));
                    self.start_moving(source, &report, now);
                    return true;
                }
                pull::Output::Finished(Err(e)) => {
                    self.ended(lane, Ended::Pull(pull));
                    if source + 1 < self.plan.sources.len() && e.gives_way_to_next_source() {
                        let mirror = self.plan.sources[source].reference.registry.clone();
                        self.event(Event::MirrorSkipped { mirror, error: e });
                        self.resolve(source + 1, now);
                        return true;
                    }
                    // A 404 for the manifest, with or without a `MANIFEST_UNKNOWN` body.
                    self.unresolved = matches!(e, Error::Registry { status: 404, .. });
                    self.finish(Err(e));
                    return false;
                }
                // A manifests-only pull writes nothing; its other events are the push's to show.
                _ => {}
            }
        }
        self.phase = Phase::Resolving { source, lane, pull };
        false
    }

    fn pump_moving(&mut self, mut m: Box<Moving>, now: Instant) -> bool {
        let side = Side::Source(m.source);
        loop {
            let mut moved = false;
            while let Some(output) = m.push.poll() {
                moved = true;
                match output {
                    push::Output::Send(req) => {
                        if let Body::BlobRange { blob, start, end } = req.body {
                            if let Some(digest) = m.push.plan_blob_digest(blob) {
                                let stream = m.fetch.open(&digest, start, end);
                                m.uploads.insert(stream, req.id);
                                m.streams.insert(req.id, stream);
                            }
                        }
                        self.outputs.push_back(Output::Send(Side::Target, req));
                    }
                    push::Output::Abort(id) => {
                        if let Some(s) = m.streams.remove(&id) {
                            m.uploads.remove(&s);
                            m.fetch.close(s);
                        }
                        self.outputs.push_back(Output::Abort(Side::Target, id));
                    }
                    push::Output::Event(push::Event::Progress(mut p)) => {
                        // The source's retries count with the target's.
                        p.retries += self.source_retries;
                        self.event(Event::Push(push::Event::Progress(p)))
                    }
                    push::Output::Event(e) => self.event(Event::Push(e)),
                    push::Output::Finished(result) => {
                        // A mirror that failed while its blobs moved (an error, wrong bytes)
                        // gives way to the next source as one that fails to resolve does:
                        // the copy starts again from it, the target's blobs already there
                        // found by their HEADs.
                        let source = m.source;
                        let next = match &result {
                            Err(e) if source + 1 < self.plan.sources.len() => {
                                e.gives_way_to_next_source().then(|| e.clone())
                            }
                            _ => None,
                        };
                        let fell_back = next.is_some();
                        if result.is_ok() {
                            self.learned(Side::Target, m.push.reached());
                            self.learned(Side::Source(source), m.fetch.reached());
                        }
                        let mut discovering = false;
                        match (next, result) {
                            (Some(e), _) => {
                                let error = self.source_error.take().unwrap_or(e);
                                let mirror = self.plan.sources[source].reference.registry.clone();
                                self.event(Event::MirrorSkipped { mirror, error });
                            }
                            (None, Ok(report)) => {
                                let children = std::mem::take(&mut m.children);
                                discovering = self.discover(source, report, children, now)
                            }
                            (None, Err(e)) => {
                                let e = self.said_of_source(source, e);
                                self.finish(Err(e))
                            }
                        }
                        // What the fetch has in flight is dropped with this part's end.
                        let Moving {
                            push,
                            push_lane,
                            mut fetch,
                            fetch_lane,
                            ..
                        } = *m;
                        fetch.cancel();
                        self.ended(push_lane, Ended::Push(Box::new(push)));
                        self.ended(fetch_lane, Ended::Fetch(Box::new(fetch)));
                        if fell_back {
                            self.resolve(source + 1, now);
                        }
                        return fell_back || discovering;
                    }
                    // The copy's own drain ends with the earliest of the parts' timers.
                    push::Output::Timeout(_) => {}
                }
            }
            while let Some(output) = m.fetch.poll() {
                moved = true;
                match output {
                    fetch::Output::Send(req) => self.outputs.push_back(Output::Send(side, req)),
                    fetch::Output::Abort(id) => self.outputs.push_back(Output::Abort(side, id)),
                    fetch::Output::Data { stream, data } => {
                        if let Some(&id) = m.uploads.get(&stream) {
                            self.outputs.push_back(Output::BodyData(id, data));
                        }
                    }
                    fetch::Output::End { stream } => {
                        if let Some(id) = m.uploads.remove(&stream) {
                            m.streams.remove(&id);
                            self.outputs.push_back(Output::BodyEnd(id));
                        }
                    }
                    fetch::Output::Failed { stream, error } => {
                        if let Some(id) = m.uploads.remove(&stream) {
                            m.streams.remove(&id);
                            self.outputs
                                .push_back(Output::BodyFailed(id, error.to_string()));
                        }
                        self.source_error = Some(error);
                    }
                    fetch::Output::Retrying(r) => self.source_retried(r),
                    fetch::Output::Ready
                    | fetch::Output::PlainHttpFallback { .. }
                    | fetch::Output::Timeout(_) => {}
                }
            }
            if !moved {
                break;
            }
        }
        self.phase = Phase::Moving(m);
        false
    }

    // ---- outputs ---------------------------------------------------------------------

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn source_retried(&mut self, retry: Retrying) {
        self.source_retries += 1;
        self.event(Event::Push(push::Event::Retrying(retry)));
    }

    /// A blob whose bytes failed their digest on the way came so from source `source` (the
    /// target was only sent them): said of the source's repository, as a pull says it, not
    /// of "the image".
    fn said_of_source(&self, source: usize, e: Error) -> Error {
        match (e, self.plan.sources.get(source)) {
            (
                Error::DigestMismatch {
                    expected, actual, ..
                },
                Some(s),
            ) => Error::DigestMismatch {
                what: format!(
                    "blob from {}/{}",
                    s.reference.registry, s.reference.repository
                ),
                expected,
                actual,
            },
            (e, _) => e,
        }
    }

    fn finish(&mut self, result: Result<PushReport, Error>) {
        let retries = self.source_retries;
        let source_error = self.source_error.take();
        let result = match result {
            Ok(mut report) => {
                report.retries += retries;
                Ok(report)
            }
            // An upload broke because the source did: the source's error says why.
            Err(Error::Transport { error, .. })
                if error.kind == TransportErrorKind::Source && source_error.is_some() =>
            {
                Err(source_error.unwrap_or(Error::Cancelled))
            }
            Err(e) => Err(e),
        };
        self.phase = Phase::Finished;
        self.outputs.push_back(Output::Finished(result));
    }
}

crate::operation::inherent_operation!(Copy);
