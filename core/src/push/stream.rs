//! A blob made while it is sent ([`super::PushPlan::streamed`]: a layer compressed on the
//! fly): nothing can be asked about it before its digest is known, so it opens an upload at
//! once (or asks where the session an earlier run left stands), sends its bytes in `PATCH`
//! chunks whose length is known only as they end, learns its digest and size from the
//! runner when its bytes end ([`super::Push::handle_blob_end`]), and closes the session with
//! that digest. After a failure it goes on from the offset the registry reports, as any
//! chunked upload does; the runner makes the bytes again from the start to get there.

use crate::engine::Step::Op;
use crate::engine::{registry_error, Cx, Failure, Reporting};
use crate::error::Misuse;
use crate::http::ResponseHead;

use super::blob::BlobState;
use super::event::Event;
use super::plan::PlanBlob;
use super::step::Step;
use super::{Phase, Pushing};

impl Pushing {
    /// The first request of blob `b`: `HEAD`, or for a streamed blob whose digest is not
    /// known yet, the status of the session an earlier run left, else a new session.
    pub(super) fn first_step(&mut self, b: usize) -> Option<Step> {
        let blob = &mut self.blobs[b];
        if !blob.unended() || blob.recheck.is_some() {
            return Some(Step::Head(b));
        }
        if self.config.dry_run {
            // Nothing can be asked about it: it is missing as far as anyone can tell.
            blob.state = BlobState::Missing;
            return None;
        }
        Some(match blob.resume.take() {
            Some((location, confirmed)) => {
                blob.confirmed = confirmed;
                blob.inherited = true;
                blob.announced = true;
                blob.state = BlobState::Uploading {
                    location,
                    committed: 0,
                };
                Step::Status(b)
            }
            None => Step::Open(b),
        })
    }

    /// What streamed blob `b` does once the registry holds `committed` bytes of it, `full`
    /// when its last chunk went to its end: close the session (its bytes ended there), send
    /// more, or wait for the runner to say where they end.
    pub(super) fn stream_on(
        &mut self,
        b: usize,
        committed: u64,
        full: bool,
        cx: &mut Cx<Step>,
    ) -> Result<Option<Step>, Failure> {
        let (ended, size) = (!self.blobs[b].unended(), self.blobs[b].size);
        if ended && committed > size {
            if self.blobs[b].inherited {
                // An earlier run's session holds more than these bytes: not these.
                self.start_over_quietly(b);
                return Ok(Some(Step::Open(b)));
            }
            let msg = format!("it reports {committed} bytes of a {size}-byte blob");
            return Err(self.protocol(Step::Status(b), &msg));
        }
        if ended && committed == size {
            if let Some(err) = self.mismatch_error(b) {
                return Err(Failure::Error(err));
            }
            return Ok(Some(Step::Close(b)));
        }
        if ended || full {
            return Ok(Some(self.next_chunk(b, committed)));
        }
        if let Some(s) = &mut self.blobs[b].streamed {
            s.waiting = true;
        }
        // Not forever: a runner that never says where the bytes end (the registry answered
        // before the body was all sent) gets the next chunk asked for a stall timeout on.
        cx.schedule(self.end_wait(), Op(Step::EndLate(b)));
        Ok(None)
    }

    /// How long a streamed blob waits for the runner to say where its bytes end.
    fn end_wait(&self) -> std::time::Duration {
        match self.config.registry.stall_timeout {
            d if d.is_zero() => crate::limits::DEFAULT_STALL_TIMEOUT,
            d => d,
        }
    }

    /// Streamed blob `b`'s wait for its end ran out ([`Step::EndLate`]): the next chunk from
    /// the registry's offset, if it still waits.
    pub(super) fn end_late(&mut self, b: usize) -> Option<Step> {
        let waiting = self.blobs[b]
            .streamed
            .as_mut()
            .is_some_and(|s| std::mem::take(&mut s.waiting));
        match (&self.blobs[b].state, waiting && self.phase == Phase::Blobs) {
            (BlobState::Uploading { committed, .. }, true) => Some(self.next_chunk(b, *committed)),
            _ => None,
        }
    }

    /// The `202` to a chunk of streamed blob `b` that began at `start` and could go to
    /// `end`: the registry must hold exactly what the runner reported sending.
    pub(super) fn on_streamed(
        &mut self,
        b: usize,
        start: u64,
        end: u64,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        let step = Step::Stream(b, start, end);
        if head.status.as_u16() != 202 {
            return Err(Failure::Status);
        }
        let location = match head.location() {
            Some(_) => self.location(step, head, cx)?,
            None => self.upload_location(b).map_err(Failure::Error)?,
        };
        let sent = self.blobs[b].streamed.as_ref().map_or(0, |s| s.last_sent);
        let expected = start.saturating_add(sent);
        let Some(committed) = self.chunk_confirmed(step, head, expected)? else {
            self.blobs[b].state = BlobState::Uploading {
                location,
                committed: start,
            };
            return self.distrust(b, cx);
        };
        let blob = &mut self.blobs[b];
        blob.state = BlobState::Uploading {
            location,
            committed,
        };
        blob.confirmed_chunk(committed);
        blob.broken_body = None;
        self.chunk_passed();
        self.session_event(b, cx);
        if let Some(next) = self.stream_on(b, committed, committed == end, cx)? {
            cx.issue(Op(next));
        }
        Ok(())
    }

    /// See [`super::Push::handle_blob_end`].
    pub(super) fn blob_end(
        &mut self,
        blob: usize,
        digest: crate::Digest,
        size: u64,
        cx: &mut Cx<Step>,
    ) -> Result<(), Misuse> {
        let Some(b) = self
            .blobs
            .iter()
            .position(|u| u.plan_index == blob && u.streamed.is_some())
        else {
            return Err(Misuse::OutOfOrder(
                "that blob is not one made while it is sent",
            ));
        };
        if !self.blobs[b].unended() {
            return match (self.blobs[b].digest == digest, self.blobs[b].size == size) {
                (true, true) => Ok(()),
                _ => Err(Misuse::OutOfOrder(
                    "that blob ended before, with another digest or size",
                )),
            };
        }
        let key = self.blobs[b].session_key().clone();
        for entry in self.plan.blobs.iter_mut().filter(|e| e.digest == key) {
            *entry = PlanBlob {
                digest: digest.clone(),
                size,
            };
        }
        self.blobs[b].end(digest, size);
        let waiting = self.blobs[b]
            .streamed
            .as_mut()
            .is_some_and(|s| std::mem::take(&mut s.waiting));
        if self.phase != Phase::Blobs || !waiting {
            return Ok(());
        }
        let committed = match &self.blobs[b].state {
            BlobState::Uploading { committed, .. } => *committed,
            _ => return Ok(()),
        };
        match self.stream_on(b, committed, false, cx) {
            Ok(Some(next)) => cx.issue(Op(next)),
            Ok(None) => {}
            Err(Failure::Error(e)) => self.finish(Err(e), cx),
            Err(Failure::Status) => {}
        }
        Ok(())
    }

    /// The registry refused `PATCH` (status `status`, error body `body`): a streamed blob
    /// cannot go up any other way, as its digest is known only at its end.
    pub(super) fn no_chunks_for_stream(
        &self,
        b: usize,
        status: u16,
        body: &[u8],
        cx: &Cx<Step>,
    ) -> Failure {
        let action = format!(
            "{} (its digest is known only when its bytes end, so it needs a chunked upload, \
             which the registry refuses)",
            self.describe_step(Step::Stream(b, 0, 0))
        );
        let secrets = cx.auth.secrets();
        Failure::Error(registry_error(action, status, body, None, secrets))
    }

    /// The registry refused to close the session of blob `b` with its digest, and the
    /// session holds bytes an earlier run sent: those differ from this run's. Open a fresh
    /// session and send everything (once: the fresh one is this run's own).
    pub(super) fn start_over(&mut self, b: usize, cx: &mut Cx<Step>) {
        let reason = format!(
            "the upload session an earlier run left holds other bytes than {}",
            self.blobs[b].digest
        );
        self.start_over_because(b, &reason, cx);
    }

    /// [`Pushing::start_over`] saying `reason`.
    pub(super) fn start_over_because(&mut self, b: usize, reason: &str, cx: &mut Cx<Step>) {
        self.start_over_quietly(b);
        let event = Event::Retrying(crate::retry::Retrying {
            what: self.describe_step(Step::Close(b)),
            attempt: 2,
            delay: std::time::Duration::ZERO,
            reason: format!("{reason}; starting afresh"),
            blob: Some(self.blobs[b].digest.clone()),
        });
        cx.retries += 1;
        self.event(event);
        cx.issue(Op(Step::Open(b)));
    }

    /// Forgets blob `b`'s session, to open a fresh one.
    fn start_over_quietly(&mut self, b: usize) {
        self.close_session(b);
        self.blobs[b].restart();
        self.blobs[b].state = BlobState::Opening;
    }
}
