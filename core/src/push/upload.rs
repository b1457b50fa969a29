//! One blob's upload, response by response: `HEAD` (skip), `POST` (open, or mount),
//! monolithic `PUT` or `PATCH` chunks and the closing `PUT`, the upload status `GET` after a
//! failure, and what a `413`, a `405` or a broken body teaches about the way to the registry.

use crate::endpoint::is_http;
use crate::engine::Step::Op;
use crate::engine::{Cx, Failure, Reporting};
use crate::error::Error;
use crate::http::ResponseHead;

use super::blob::BlobState;
use super::event::Event;
use super::plan::PushPlan;
use super::step::Step;
use super::{Pushing, BREAKS_FOR_A_CAP, CLEAN_CHUNKS_TO_GROW, MIN_CHUNK};

impl Pushing {
    pub(super) fn on_head_blob(
        &mut self,
        b: usize,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        let status = match head.status.as_u16() {
            // A `200` whose length or digest is not the blob's does not hold this blob: it is
            // uploaded (the registry keeps one copy either way).
            200 if !self.blobs[b].answer_is_this_blob(head) => 404,
            status => status,
        };
        let rechecked = self.blobs[b].recheck.is_some();
        if let Some(was) = self.blobs[b].recheck.take() {
            let landed = std::mem::take(&mut self.blobs[b].maybe_landed);
            match status {
                // Still there: as it was (or landed by the `PUT` whose answer was lost).
                200 => {
                    self.blobs[b].state = was;
                    if landed {
                        let blob = &self.blobs[b];
                        self.event(Event::BlobCommitted {
                            blob: blob.plan_index,
                            digest: blob.digest.clone(),
                            size: blob.size,
                        });
                    }
                    self.blob_finished(b, cx);
                    return Ok(());
                }
                // Gone: upload it like a blob the registry never had. A mount that said
                // it was done and was not: that source is asked no more.
                404 => {
                    if let (BlobState::Done { mounted: true, .. }, Some(from)) =
                        (&was, self.blobs[b].mounting.take())
                    {
                        self.mounts.refuse(&from);
                    }
                    self.close_session(b);
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
                self.blob_finished(b, cx);
                Ok(())
            }
            404 if self.config.dry_run => {
                self.blobs[b].state = BlobState::Missing;
                let blob = &self.blobs[b];
                let event = Event::BlobMissing {
                    blob: blob.plan_index,
                    digest: blob.digest.clone(),
                    size: blob.size,
                    mount_from: match blob.streamed {
                        None => self.mounts.source(&blob.digest).map(str::to_owned),
                        Some(_) => None,
                    },
                };
                self.event(event);
                self.blob_finished(b, cx);
                Ok(())
            }
            // The first check got its answer: the upload's requests count their attempts
            // afresh (a `429` to the `HEAD` spends none of the `PATCH`es'). A check again
            // after a lost answer spends the upload's own (so it cannot go on for ever).
            404 => {
                if !rechecked {
                    self.blobs[b].attempts = 1;
                }
                // A mount costs nothing, a resumed session the rest of the blob: a blob
                // another repository of the registry holds is asked for there first, its
                // session kept for when the mount is refused.
                let mountable = self.blobs[b].streamed.is_none()
                    && self.mounts.source(&self.blobs[b].digest).is_some();
                match self.blobs[b].resume.is_some() && mountable {
                    true => cx.issue(Op(Step::Open(b))),
                    false => self.resume_or_open(b, cx),
                }
                Ok(())
            }
            _ => Err(Failure::Status),
        }
    }

    /// Goes on with the session an earlier run left for blob `b`, if there is one (asking
    /// the registry how much it holds), else opens a new one.
    pub(super) fn resume_or_open(&mut self, b: usize, cx: &mut Cx<Step>) {
        match self.blobs[b].resume.take() {
            Some((location, confirmed)) => {
                self.blobs[b].confirmed = confirmed;
                self.blobs[b].inherited = true;
                self.blobs[b].announced = true;
                self.blobs[b].state = BlobState::Uploading {
                    location,
                    committed: 0,
                };
                cx.issue(Op(Step::Status(b)));
            }
            None => cx.issue(Op(Step::Open(b))),
        }
    }

    /// Tells the runner where an upload session stands, so a later run can resume it.
    pub(super) fn session_event(&mut self, b: usize, cx: &Cx<Step>) {
        self.blobs[b].announced = true;
        let blob = &self.blobs[b];
        if let BlobState::Uploading {
            location,
            committed,
        } = &blob.state
        {
            let event = Event::UploadSession {
                blob: blob.plan_index,
                digest: blob.session_key().clone(),
                location: cx.kept(location),
                shown: cx.shown(location),
                committed: *committed,
            };
            self.event(event);
        }
    }

    /// Tells the runner the session it was told of is over.
    pub(super) fn close_session(&mut self, b: usize) {
        let blob = &mut self.blobs[b];
        if std::mem::take(&mut blob.announced) {
            let event = Event::UploadSessionClosed {
                blob: blob.plan_index,
                digest: blob.session_key().clone(),
            };
            self.event(event);
        }
    }

    pub(super) fn on_open(
        &mut self,
        b: usize,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        // A blob whose digest is not known yet is never mounted.
        if head.status.as_u16() == 201 && !self.blobs[b].unended() {
            if let Some(from) = self.blobs[b].mounting.clone() {
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
                // The session an earlier run left for it is needed no more.
                if self.blobs[b].resume.take().is_some() {
                    self.blobs[b].announced = true;
                    self.close_session(b);
                }
                self.blob_finished(b, cx);
                return Ok(());
            }
        }
        if head.status.as_u16() != 202 {
            // A registry that does not mount as the spec says (a `404` for the source, a
            // `405`): the blob is uploaded, and that source not asked again.
            if let Some(from) = self.blobs[b].mounting.take() {
                self.mounts.refuse(&from);
                self.resume_or_open(b, cx);
                return Ok(());
            }
            return Err(Failure::Status);
        }
        // A mount refused with a new session (`202`): the session an earlier run left goes
        // on instead (the new one is left to the registry to expire).
        if self.blobs[b].resume.is_some() && self.blobs[b].mounting.is_some() {
            self.blobs[b].mounting = None;
            self.resume_or_open(b, cx);
            return Ok(());
        }
        let location = self.location(Step::Open(b), head, cx)?;
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
        let streamed = blob.streamed.is_some();
        let chunked = streamed || (!self.no_chunks && blob.size > monolithic_max);
        if streamed && self.no_chunks {
            return Err(self.no_chunks_for_stream(b, 405, b"", cx));
        }
        let next = if chunked {
            self.next_chunk(b, 0)
        } else {
            Step::Put(b)
        };
        self.event(event);
        if chunked {
            self.session_event(b, cx);
        }
        cx.issue(Op(next));
        Ok(())
    }

    /// What the answer to a chunk that ended at byte `end` confirms: `Some(end)` when the
    /// registry reports exactly that (or one more: an exclusive end), or no `Range` at all;
    /// `None` when it reports anything else — trust only what it confirms, and ask it (`GET`
    /// the session) otherwise.
    pub(super) fn chunk_confirmed(
        &self,
        step: Step,
        head: &ResponseHead,
        end: u64,
    ) -> Result<Option<u64>, Failure> {
        let reported = match head.header("range").map(str::trim) {
            // distribution says `0-0` for nothing as well as for one byte: after a chunk
            // that ends at byte 1, it is that byte.
            Some("0-0") | Some("bytes=0-0") => u64::from(end == 1),
            Some(range) => parse_range_end(range)
                .and_then(|last| last.checked_add(1))
                .ok_or_else(|| {
                    self.protocol(step, &format!("unreadable Range header {range:?}"))
                })?,
            None => return Ok(Some(end)),
        };
        let trusted = reported == end || Some(reported) == end.checked_add(1);
        Ok(trusted.then_some(end))
    }

    pub(super) fn on_patch(
        &mut self,
        b: usize,
        start: u64,
        end: u64,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        if head.status.as_u16() != 202 {
            return Err(Failure::Status);
        }
        let location = match head.location() {
            Some(_) => self.location(Step::Patch(b, start, end), head, cx)?,
            None => match &self.blobs[b].state {
                BlobState::Uploading { location, .. } => location.clone(),
                _ => return Err(self.protocol(Step::Patch(b, start, end), "no upload session")),
            },
        };
        let Some(committed) = self.chunk_confirmed(Step::Patch(b, start, end), head, end)? else {
            self.blobs[b].state = BlobState::Uploading {
                location,
                committed: start,
            };
            return self.distrust(b, cx);
        };
        self.blobs[b].confirmed_chunk(committed);
        self.blobs[b].broken_body = None;
        self.chunk_passed();
        self.go_on_from(b, location, committed, cx)?;
        // What the registry holds now, chunk by chunk: progress for runners that cannot
        // count bytes as they leave, whatever the reporting interval.
        if let Some(event) = self.blobs[b].progress() {
            self.event(event);
        }
        Ok(())
    }

    /// The registry holds `committed` bytes of blob `b` in the session at `location`: send
    /// the next chunk, or close the session when it holds them all (a streamed blob's:
    /// [`Pushing::stream_on`]).
    fn go_on_from(
        &mut self,
        b: usize,
        location: url::Url,
        committed: u64,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        self.blobs[b].state = BlobState::Uploading {
            location,
            committed,
        };
        self.blobs[b].confirmed = self.blobs[b].confirmed.max(committed);
        if self.blobs[b].inherited && !self.blobs[b].resume_said {
            let blob = &mut self.blobs[b];
            blob.resume_said = true;
            blob.resumed_from = committed;
            let event = Event::BlobResumed {
                blob: blob.plan_index,
                digest: blob.digest.clone(),
                from: committed,
                size: blob.size,
            };
            self.event(event);
        }
        self.session_event(b, cx);
        if self.blobs[b].streamed.is_some() {
            // Send from there, as far as the bytes go.
            if let Some(next) = self.stream_on(b, committed, true, cx)? {
                cx.issue(Op(next));
            }
            return Ok(());
        }
        let next = if committed == self.blobs[b].size {
            if let Some(err) = self.mismatch_error(b) {
                return Err(Failure::Error(err));
            }
            Step::Close(b)
        } else {
            self.next_chunk(b, committed)
        };
        cx.issue(Op(next));
        Ok(())
    }

    /// What a status report of `0-0` means for blob `b`: one byte when the registry
    /// confirmed at least one before in this session (it never holds fewer); none unless a
    /// one-byte first chunk may have landed unconfirmed (registries keep whole chunks) or an
    /// earlier run's session holds what this run cannot know; `None` then: it cannot be told.
    pub(super) fn one_or_none(&self, b: usize) -> Option<u64> {
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
    /// number of times. A session an earlier run left that keeps disagreeing is given up
    /// for a new one, once, before the push fails.
    pub(super) fn distrust(&mut self, b: usize, cx: &mut Cx<Step>) -> Result<(), Failure> {
        self.blobs[b].attempts += 1;
        if self.blobs[b].attempts > cx.backoff.policy().max_attempts {
            if self.blobs[b].inherited {
                self.start_over(b, cx);
                self.blobs[b].attempts = 1;
                return Ok(());
            }
            let msg = "its reports of the received bytes keep disagreeing with what was sent";
            return Err(self.protocol(Step::Status(b), msg));
        }
        cx.issue(Op(Step::Status(b)));
        Ok(())
    }

    /// `413`: the body was too large for something on the way. Halve the chunks (down to
    /// 4 KiB), upload this blob in chunks, and ask where its session stands. Each `413`
    /// teaches a smaller size, so it spends no attempt: a limit far below the first body
    /// (nginx's 1 MiB before a 40 MiB layer) takes as many halvings as it takes.
    pub(super) fn on_too_large(
        &mut self,
        b: usize,
        sent: u64,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        let smaller = (sent / 2).max(MIN_CHUNK);
        if sent <= MIN_CHUNK {
            return Err(Failure::Status);
        }
        let limit = self.chunk_limit.map_or(smaller, |c| c.min(smaller));
        if self.chunk_limit == Some(limit) {
            // Sent before the last halving: it teaches nothing new; count it.
            return self.distrust(b, cx);
        }
        self.chunk_limit = Some(limit);
        // A limit the registry said is certain: it is never lifted.
        self.clean_chunks = None;
        cx.issue(Op(Step::Status(b)));
        Ok(())
    }

    /// The registry does not take `PATCH`: upload whole blobs in one `PUT` from now on.
    pub(super) fn on_patch_unsupported(
        &mut self,
        b: usize,
        start: u64,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        if self.no_chunks || start != 0 {
            return Err(Failure::Status);
        }
        self.no_chunks = true;
        cx.issue(Op(Step::Put(b)));
        Ok(())
    }

    /// The registry said how much of the upload it has: go on from there, or start over
    /// if the session is gone.
    pub(super) fn on_status(
        &mut self,
        b: usize,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
        match head.status.as_u16() {
            200 | 204 => {}
            // An earlier run's session the registry dropped, or no longer takes (distribution
            // refuses one whose last chunk landed after that run stopped listening:
            // BLOB_UPLOAD_INVALID, "wrong offset"): said, and a fresh one.
            404 if self.blobs[b].inherited => {
                let reason = "the registry no longer takes the upload session an earlier run left \
                              (gone, or holding other bytes than that run knew of)";
                self.start_over_because(b, reason, cx);
                return Ok(());
            }
            // Every byte went and the session is gone: the closing `PUT` may have landed
            // and its answer been lost. Asked with `HEAD` before it is all sent again.
            404 if self.blobs[b].sent_upto >= self.blobs[b].size && !self.blobs[b].unended() => {
                self.close_session(b);
                self.blobs[b].maybe_landed_check();
                cx.issue(Op(Step::Head(b)));
                return Ok(());
            }
            404 => {
                self.close_session(b);
                self.blobs[b].restart();
                cx.issue(Op(Step::Open(b)));
                return Ok(());
            }
            _ => return Err(Failure::Status),
        }
        let location = match head.location() {
            Some(_) => self.location(Step::Status(b), head, cx)?,
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
                    self.close_session(b);
                    self.blobs[b].restart();
                    cx.issue(Op(Step::Open(b)));
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
        // (A streamed blob's size may be an estimate: `stream_on` judges it.)
        if committed > size && self.blobs[b].streamed.is_none() {
            if self.blobs[b].inherited {
                // An earlier run's session that cannot be right: a new one, once.
                self.start_over(b, cx);
                return Ok(());
            }
            let msg = format!("it reports {committed} bytes of a {size}-byte blob");
            return Err(self.protocol(Step::Status(b), &msg));
        }
        self.go_on_from(b, location, committed, cx)
    }

    pub(super) fn on_committed(
        &mut self,
        b: usize,
        head: &ResponseHead,
        cx: &mut Cx<Step>,
    ) -> Result<(), Failure> {
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
        self.blob_finished(b, cx);
        Ok(())
    }

    /// An upload body broke off below HTTP. [`BREAKS_FOR_A_CAP`] times in a row at the same
    /// place hint at a body cap on the way that resets the connection instead of answering
    /// `413` (a proxy's request size limit): halve the chunks as for a `413`, with a fresh
    /// attempt count. A link that drops now and then breaks bodies at random, seldom the
    /// same one that often; and chunks that pass again lift the limit ([`Self::chunk_passed`]),
    /// so such a link never shrinks the chunks for good.
    pub(super) fn on_body_broken(&mut self, step: Step) {
        let (b, start, len) = match step {
            Step::Put(b) => (b, 0, self.blobs[b].size),
            Step::Patch(b, start, end) | Step::Stream(b, start, end) => (b, start, end - start),
            _ => return,
        };
        if len <= MIN_CHUNK {
            return;
        }
        if self.clean_chunks.is_some() {
            self.clean_chunks = Some(0);
        }
        let blob = &mut self.blobs[b];
        let times = match blob.broken_body {
            Some((at, n)) if at == (start, len) => n + 1,
            _ => 1,
        };
        if times < BREAKS_FOR_A_CAP {
            blob.broken_body = Some(((start, len), times));
            return;
        }
        blob.broken_body = None;
        blob.attempts = 0;
        let smaller = (len / 2).max(MIN_CHUNK);
        let certain = self.chunk_limit.is_some() && self.clean_chunks.is_none();
        self.chunk_limit = Some(self.chunk_limit.map_or(smaller, |c| c.min(smaller)));
        if !certain {
            self.clean_chunks = Some(0);
        }
    }

    /// A chunk went through. Under a limit learned from breaking bodies, every
    /// [`CLEAN_CHUNKS_TO_GROW`] of them double it, up to the configured chunk size.
    pub(super) fn chunk_passed(&mut self) {
        let (Some(clean), Some(limit)) = (self.clean_chunks, self.chunk_limit) else {
            return;
        };
        if clean + 1 < CLEAN_CHUNKS_TO_GROW {
            self.clean_chunks = Some(clean + 1);
            return;
        }
        let larger = limit.saturating_mul(2);
        if larger >= self.config.chunk_size {
            self.chunk_limit = None;
            self.clean_chunks = None;
        } else {
            self.chunk_limit = Some(larger);
            self.clean_chunks = Some(0);
        }
    }

    /// The chunk after `committed`: at least the registry's minimum, at most the rest (of a
    /// streamed blob, whose end may be unknown: up to where it ends).
    pub(super) fn next_chunk(&self, b: usize, committed: u64) -> Step {
        let blob = &self.blobs[b];
        let len = self
            .config
            .chunk_size
            .min(self.chunk_limit.unwrap_or(u64::MAX))
            .max(blob.min_chunk)
            .max(1);
        let limit = if blob.unended() { u64::MAX } else { blob.size };
        let end = committed.saturating_add(len).min(limit);
        match blob.streamed {
            Some(_) => Step::Stream(b, committed, end),
            None => Step::Patch(b, committed, end),
        }
    }

    pub(super) fn upload_location(&self, b: usize) -> Result<url::Url, Error> {
        match &self.blobs[b].state {
            BlobState::Uploading { location, .. } => Ok(location.clone()),
            _ => Err(Error::Protocol {
                action: self.describe_step(Step::Put(b)),
                message: "no upload session is open".into(),
            }),
        }
    }

    pub(super) fn location(
        &self,
        step: Step,
        head: &ResponseHead,
        cx: &Cx<Step>,
    ) -> Result<url::Url, Failure> {
        let raw = head
            .location()
            .ok_or_else(|| self.protocol(step, "the response has no Location header"))?;
        // Relative to the URL the request went to (RFC 9110): the upload URL for the
        // `POST`, the session's own for the rest.
        let asked = match (step, step.blob().map(|b| &self.blobs[b].state)) {
            (Step::Open(_), _) => cx.endpoint.uploads(&self.plan.repository),
            (_, Some(BlobState::Uploading { location, .. })) => Ok(location.clone()),
            _ => cx.endpoint.uploads(&self.plan.repository),
        };
        let asked =
            asked.map_err(|e| self.protocol(step, &format!("unusable Location {raw:?}: {e}")))?;
        let url = asked
            .join(raw.trim())
            .map_err(|e| self.protocol(step, &format!("unusable Location {raw:?}: {e}")))?;
        if !is_http(&url) {
            let message = format!("unusable Location {raw:?}: not an http or https URL");
            return Err(self.protocol(step, &message));
        }
        if let Some(why) = crate::endpoint::downgrade(&asked, &url) {
            return Err(self.protocol(step, &format!("the upload location {why}")));
        }
        Ok(url)
    }

    pub(super) fn mismatch_error(&self, b: usize) -> Option<Error> {
        let blob = &self.blobs[b];
        blob.local_mismatch().map(|actual| Error::DigestMismatch {
            what: format!("blob {} of the image", blob.plan_index),
            expected: blob.digest.clone(),
            actual,
        })
    }
}

/// The session a previous run left open for `digest`, if the plan names one.
pub(super) fn resume_of(plan: &PushPlan, digest: &crate::Digest) -> Option<(url::Url, u64)> {
    let r = plan.resume.iter().find(|r| &r.digest == digest)?;
    let url = url::Url::parse(&r.location)
        .ok()
        .filter(crate::endpoint::is_http)?;
    Some((url, r.committed))
}

/// Whether a response to a closing `PUT <location>?digest=` says the bytes of the session
/// do not have that digest.
pub(super) fn digest_refused(status: u16, body: &[u8]) -> bool {
    status == 400 && crate::registry_error::RegistryErrors::parse(body).has_code("DIGEST_INVALID")
}

/// The last byte offset in a `Range: 0-<last>` header (an optional `bytes=` prefix allowed).
pub(crate) fn parse_range_end(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (_, last) = v.split_once('-')?;
    last.trim().parse().ok()
}
