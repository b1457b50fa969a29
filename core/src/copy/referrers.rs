//! The referrers step of a copy ([`CopyPlan::referrers`]): once the image is in, what is
//! attached to it is found where the image was read ([`Discovery`]), each referrer is copied
//! like an image — its blobs, then its manifest — by a copy of its own, and those naming the
//! image are listed in the target's fallback tag's index unless the target indexed them
//! itself (`OCI-Subject`; [`Attach`]). An index copied whole has each platform's manifest
//! looked at too, after the index (`cosign sign --recursive` signs each). What to ask and
//! write is [`crate::referrers`]'s.

use std::collections::VecDeque;

use crate::digest::Digest;
use crate::error::Misuse;
use crate::operation::Input;
use crate::push::{self, PushReport};
use crate::referrers::{
    carries, needs_fallback_index, Attach, AttachPlan, Carry, DiscoverPlan, Discovery, Referrer,
    Referrers,
};
use crate::time::Instant;

use super::{Copy, CopyPlan, CopySource, Ended, Event, Output, Phase, Side, LANE_SHIFT};

/// The referrers step as it goes: whose referrers are looked for, and what it did so far.
#[derive(Debug)]
pub(super) struct Referring {
    /// The source the image was read from: the referrers are read there too.
    source: usize,
    /// The image's push report: the copy's result.
    report: PushReport,
    /// The subject being looked at.
    subject: Digest,
    /// The subjects not looked at yet.
    subjects: VecDeque<Digest>,
    /// Whether the source answered the referrers API.
    api: bool,
    /// Referrers copied, every subject's.
    copied: usize,
    /// Whether [`Event::ReferrersStarted`] was said (with the first discovery).
    started: bool,
}

/// One subject's referrers being copied, one at a time.
#[derive(Debug)]
pub(super) struct Carrying {
    referring: Box<Referring>,
    /// The referrers not copied yet.
    rest: VecDeque<Carry>,
    /// The referrer being copied.
    current: Option<Current>,
    /// The referrers copied that the target's fallback tag's index must list.
    indexed: Vec<Referrer>,
}

/// One referrer's copy.
#[derive(Debug)]
struct Current {
    carry: Carry,
    copy: Box<Copy>,
    /// Its first lane; it numbers the next ones itself.
    first_lane: u64,
}

impl Carrying {
    /// Whether request lane `lane` is the current referrer copy's.
    pub(super) fn owns(&self, lane: u64) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| (c.first_lane..c.copy.next_lane).contains(&lane))
    }

    pub(super) fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse> {
        match &mut self.current {
            Some(c) => c.copy.handle_input(now, input),
            None => Ok(()),
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().and_then(|c| c.copy.poll_timeout())
    }

    pub(super) fn cancel(&mut self) {
        self.rest.clear();
        self.referring.subjects.clear();
        if let Some(c) = &mut self.current {
            c.copy.cancel();
        }
    }
}

impl Copy {
    /// The image is in: finds what is attached to it (and to each platform's manifest of an
    /// index copied whole, `children`) at source `source`, if the plan asks for referrers;
    /// else the copy ends. Returns whether a new phase began.
    pub(super) fn discover(
        &mut self,
        source: usize,
        report: PushReport,
        children: Vec<Digest>,
        now: Instant,
    ) -> bool {
        if self.plan.referrers.is_none() {
            self.finish(Ok(report));
            return false;
        }
        let referring = Box::new(Referring {
            source,
            subject: report.manifest_digest.clone(),
            subjects: children.into(),
            report,
            api: false,
            copied: 0,
            started: false,
        });
        self.look_at(referring, now)
    }

    /// Starts the discovery of `referring.subject`'s referrers, or passes on to the next
    /// subject when nothing can be attached to it. Returns whether a new phase began.
    fn look_at(&mut self, mut referring: Box<Referring>, now: Instant) -> bool {
        let from = &self.plan.sources[referring.source];
        let plan = DiscoverPlan {
            registry: from.reference.api_host().to_owned(),
            repository: from.reference.repository.clone(),
            reference: referring.subject.to_string(),
            known: self.plan.referrers.clone().unwrap_or_default(),
        };
        if !plan.asks_anything() {
            return self.next_subject(referring, now);
        }
        let config = from.config.clone();
        if !referring.started {
            referring.started = true;
            self.event(Event::ReferrersStarted {
                subject: referring.report.manifest_digest.clone(),
            });
        }
        let (lane, base) = self.lane();
        let discovery = Discovery::with_ids(plan, &config, now, base);
        self.phase = Phase::Discovering {
            lane,
            discovery: Box::new(discovery),
            referring,
        };
        true
    }

    /// The next subject's referrers, or the end of the step. Returns whether a new phase
    /// began.
    fn next_subject(&mut self, mut referring: Box<Referring>, now: Instant) -> bool {
        match referring.subjects.pop_front() {
            Some(subject) => {
                referring.subject = subject;
                self.look_at(referring, now)
            }
            None => {
                let Referring {
                    report,
                    api,
                    copied,
                    ..
                } = *referring;
                self.event(Event::ReferrersCarried { api, copied });
                self.finish(Ok(report));
                false
            }
        }
    }

    /// Returns whether the phase changed.
    pub(super) fn pump_discovering(
        &mut self,
        (lane, mut discovery): (u64, Box<Discovery>),
        mut referring: Box<Referring>,
        now: Instant,
    ) -> bool {
        use crate::one_shot::Output as O;
        let side = Side::Source(referring.source);
        while let Some(output) = discovery.poll() {
            match output {
                O::Send(req) => self.outputs.push_back(Output::Send(side, req)),
                O::Abort(id) => self.outputs.push_back(Output::Abort(side, id)),
                O::Retrying(r) => self.source_retried(r),
                O::Finished(result) => {
                    self.learned(side, discovery.reached());
                    self.ended(lane, Ended::Discovery(discovery));
                    return match result {
                        Ok(found) => {
                            referring.api |= found.api;
                            self.carry(referring, &found, now)
                        }
                        Err(e) => {
                            self.finish(Err(e));
                            false
                        }
                    };
                }
                O::PlainHttpFallback { .. } | O::Resolved { .. } | O::Data(_) | O::Timeout(_) => {}
            }
        }
        self.phase = Phase::Discovering {
            lane,
            discovery,
            referring,
        };
        false
    }

    /// Starts copying what was `found` attached to the subject. Returns whether a new
    /// phase began.
    fn carry(&mut self, referring: Box<Referring>, found: &Referrers, now: Instant) -> bool {
        let from = &self.plan.sources[referring.source].reference;
        let rest: VecDeque<Carry> = carries(found, from, &self.plan.target).into();
        if rest.is_empty() {
            return self.next_subject(referring, now);
        }
        self.phase = Phase::Carrying(Box::new(Carrying {
            referring,
            rest,
            current: None,
            indexed: Vec::new(),
        }));
        true
    }

    /// Copies the subject's referrers one after another; one that fails fails the copy (the
    /// image is in, what is attached to it is not all there), except one the source does not
    /// have ([`Event::ReferrerMissing`]: its index names a manifest deleted there). Returns whether the phase
    /// changed.
    pub(super) fn pump_carrying(&mut self, mut c: Box<Carrying>, now: Instant) -> bool {
        loop {
            if c.current.is_none() {
                match c.rest.pop_front() {
                    Some(carry) => {
                        let copy = self.referrer_copy(c.referring.source, &carry, now);
                        c.current = Some(Current {
                            carry,
                            first_lane: self.next_lane,
                            copy: Box::new(copy),
                        });
                    }
                    None => return self.attach(*c, now),
                }
            }
            let source = c.referring.source;
            let Some(current) = &mut c.current else {
                continue;
            };
            let mut ended = None;
            while let Some(output) = current.copy.poll() {
                match output {
                    // The referrer is read where the image was.
                    Output::Send(Side::Source(_), req) => self
                        .outputs
                        .push_back(Output::Send(Side::Source(source), req)),
                    Output::Abort(Side::Source(_), id) => self
                        .outputs
                        .push_back(Output::Abort(Side::Source(source), id)),
                    Output::Event(Event::Push(push::Event::Retrying(r))) => {
                        self.event(Event::Push(push::Event::Retrying(r)))
                    }
                    // A referrer's copy is shown as one line, when it ends.
                    Output::Event(_) | Output::Timeout(_) => {}
                    Output::Finished(result) => {
                        ended = Some(result);
                        break;
                    }
                    other => self.outputs.push_back(other),
                }
            }
            let Some(result) = ended else {
                self.phase = Phase::Carrying(c);
                return false;
            };
            let Some(Current {
                carry,
                copy,
                first_lane,
            }) = c.current.take()
            else {
                continue;
            };
            self.next_lane = copy.next_lane;
            let unresolved = copy.unresolved;
            self.ended
                .push((first_lane..copy.next_lane, Ended::Copy(copy)));
            match result {
                // Listed at the source but gone from it: a warning; the rest go on.
                Err(_) if unresolved => {
                    self.event(Event::ReferrerMissing {
                        digest: carry.referrer.digest.clone(),
                        artifact_type: carry.referrer.artifact_type.clone(),
                        source: carry.source.clone(),
                    });
                }
                Ok(report) => {
                    // Its retries were shown as they came; the copy's report counts them.
                    self.source_retries += report.retries;
                    if needs_fallback_index(&carry, &report) {
                        c.indexed.push(carry.referrer.clone());
                    }
                    c.referring.copied += 1;
                    self.event(Event::ReferrerCopied {
                        artifact_type: carry.referrer.artifact_type.clone(),
                        target: carry.target.clone(),
                    });
                }
                Err(e) => {
                    self.finish(Err(e));
                    return false;
                }
            }
        }
    }

    /// The copy of one referrer: from source `source` (the image's), to the target.
    fn referrer_copy(&self, source: usize, carry: &Carry, now: Instant) -> Copy {
        let plan = CopyPlan {
            sources: vec![CopySource {
                reference: carry.source.clone(),
                config: self.plan.sources[source].config.clone(),
            }],
            target: carry.target.clone(),
            target_config: self.plan.target_config.clone(),
            platform: None,
            // Artifacts are small and their blobs unknown until read: none of the
            // repository's kept sessions (the image's, which its own copy takes up) is taken.
            resume: Vec::new(),
            referrers: None,
        };
        debug_assert!(self.next_lane < (1 << (64 - LANE_SHIFT)));
        Copy::with_lanes(plan, self.config.clone(), now, self.next_lane)
    }

    /// Every referrer of the subject is copied: the target's fallback tag's index lists
    /// those it did not index itself, if any; then the next subject. Returns whether a new
    /// phase began.
    fn attach(&mut self, c: Carrying, now: Instant) -> bool {
        if c.indexed.is_empty() {
            return self.next_subject(c.referring, now);
        }
        let target = &self.plan.target;
        let plan = AttachPlan {
            registry: target.api_host().to_owned(),
            repository: target.repository.clone(),
            subject: c.referring.subject.clone(),
            referrers: c.indexed,
        };
        let config = self.plan.target_config.clone();
        let (lane, base) = self.lane();
        self.phase = Phase::Attaching {
            lane,
            attach: Box::new(Attach::with_ids(plan, &config, now, base)),
            referring: c.referring,
        };
        true
    }

    /// Returns whether the phase changed.
    pub(super) fn pump_attaching(
        &mut self,
        (lane, mut attach): (u64, Box<Attach>),
        referring: Box<Referring>,
        now: Instant,
    ) -> bool {
        use crate::one_shot::Output as O;
        while let Some(output) = attach.poll() {
            match output {
                O::Send(req) => self.outputs.push_back(Output::Send(Side::Target, req)),
                O::Abort(id) => self.outputs.push_back(Output::Abort(Side::Target, id)),
                O::Retrying(r) => self.source_retried(r),
                O::Finished(result) => {
                    self.learned(Side::Target, attach.reached());
                    self.ended(lane, Ended::Attach(attach));
                    return match result {
                        Ok(_) => self.next_subject(referring, now),
                        Err(e) => {
                            self.finish(Err(e));
                            false
                        }
                    };
                }
                O::PlainHttpFallback { .. } | O::Resolved { .. } | O::Data(_) | O::Timeout(_) => {}
            }
        }
        self.phase = Phase::Attaching {
            lane,
            attach,
            referring,
        };
        false
    }
}
