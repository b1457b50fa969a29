//! Byte ranges of blobs from a registry, on demand: the source side of a registry-to-registry
//! copy, where each upload body of the destination is fed by a stream from here.
//!
//! A runner opens a stream for `start..end` of a blob; the fetch sends `GET` with `Range`,
//! follows redirects (without credentials to other hosts), answers auth challenges, and on a
//! broken connection or a transient error resumes from the last byte it passed on. Bytes come
//! out in order as [`Output::Data`], then [`Output::End`] — or [`Output::Failed`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use url::Url;

use crate::digest::Digest;
use crate::error::{Error, Misuse};
use crate::http::{
    content_range_start, Body, HeaderMap, HeaderValue, Method, Request, RequestId, ResponseHead,
    TransportError,
};
use crate::operation::Input;
use crate::pull::PullConfig;
use crate::registry_error::RegistryErrors;
use crate::retry::{is_retryable_status, is_retryable_transport, retry_after};
use crate::session::{Completed, Session};
use crate::time::Instant;

/// Redirects followed for one stream before giving up.
const MAX_REDIRECTS: u8 = 5;

/// Identifies a stream from [`Fetch::open`] until its `End` or `Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// What the runner must do next.
#[derive(Debug)]
pub enum Output {
    /// Send this request and report its response.
    Send(Request),
    /// The next bytes of a stream, in order.
    Data {
        /// The stream.
        stream: StreamId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The stream delivered every byte of its range.
    End {
        /// The stream.
        stream: StreamId,
    },
    /// The stream cannot be completed.
    Failed {
        /// The stream.
        stream: StreamId,
        /// Why.
        error: Error,
    },
    /// The registry answered the version check (with credentials, when it wanted them): it
    /// is reachable and the credentials work.
    Ready,
    /// HTTPS failed against a loopback registry that speaks plain HTTP; using HTTP.
    PlainHttpFallback {
        /// The registry host.
        host: String,
    },
    /// A request failed transiently and will be tried again.
    Retrying {
        /// What is retried.
        what: String,
        /// The attempt about to be made.
        attempt: u32,
        /// How long until then.
        delay: Duration,
        /// Why the last one failed.
        reason: String,
    },
}

/// What a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Ping,
    Stream(StreamId),
}

#[derive(Debug)]
struct Stream {
    digest: Digest,
    /// Next byte to pass on.
    pos: u64,
    /// End of the range, exclusive.
    end: u64,
    /// Bytes of the current response to drop before `pos` (a `200` to a ranged request).
    skip: u64,
    /// Whether the current response's body is the blob's bytes.
    receiving: bool,
    redirect: Option<Url>,
    redirects: u8,
    attempts: u32,
}

/// Range reads of blobs in one repository of one registry.
#[derive(Debug)]
pub struct Fetch {
    repository: String,
    session: Session<Step>,
    streams: HashMap<StreamId, Stream>,
    /// Streams opened before the version check finished.
    waiting: Vec<StreamId>,
    ready: bool,
    /// Set when the registry cannot be used at all: every stream fails with it.
    fatal: Option<Error>,
    next_stream: u64,
    ping_attempts: u32,
    outputs: VecDeque<Output>,
}

impl Fetch {
    /// A fetcher for `registry`/`repository`, starting at `now` with the version check. With
    /// an empty `repository` it only checks that the registry accepts the credentials (as
    /// `docker login` does, asking for a token without a scope).
    pub fn new(registry: &str, repository: &str, config: &PullConfig, now: Instant) -> Fetch {
        let session = Session::new(
            registry,
            config.scheme,
            config.credentials.clone(),
            config.retry.clone(),
            &config.user_agent,
            config.body_deadline,
            now,
        );
        let mut session = session;
        if !repository.is_empty() {
            session
                .auth
                .add_scope(format!("repository:{repository}:pull"));
        }
        let mut fetch = Fetch {
            repository: repository.to_owned(),
            session,
            streams: HashMap::new(),
            waiting: Vec::new(),
            ready: false,
            fatal: None,
            next_stream: 0,
            ping_attempts: 1,
            outputs: VecDeque::new(),
        };
        fetch.issue(Step::Ping);
        fetch
    }

    /// Starts a stream of bytes `start..end` of blob `digest`.
    pub fn open(&mut self, digest: &Digest, start: u64, end: u64) -> StreamId {
        let id = StreamId(self.next_stream);
        self.next_stream += 1;
        self.streams.insert(
            id,
            Stream {
                digest: digest.clone(),
                pos: start,
                end,
                skip: 0,
                receiving: false,
                redirect: None,
                redirects: 0,
                attempts: 1,
            },
        );
        if let Some(error) = self.fatal.clone() {
            self.fail(id, error);
        } else if start >= end {
            self.streams.remove(&id);
            self.outputs.push_back(Output::End { stream: id });
        } else if self.ready {
            self.issue(Step::Stream(id));
        } else {
            self.waiting.push(id);
        }
        id
    }

    /// The consumer of a stream is gone: stop it.
    pub fn close(&mut self, stream: StreamId) {
        self.streams.remove(&stream);
        self.waiting.retain(|s| *s != stream);
    }

    /// The next output, or `None` when waiting for an input.
    pub fn poll(&mut self) -> Option<Output> {
        if let Some(req) = self.session.next_outgoing() {
            return Some(Output::Send(req));
        }
        self.outputs.pop_front()
    }

    /// When [`Input::Timeout`] is due.
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
            self.issue(step);
        }
    }

    /// A response head arrived.
    fn handle_response(
        &mut self,
        id: RequestId,
        head: ResponseHead,
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        let status = head.status.as_u16();
        let content_range_start = head.header("content-range").and_then(content_range_start);
        let step = self.session.on_head(id, head)?;
        if let Some(Step::Stream(s)) = step {
            if let Some(stream) = self.streams.get_mut(&s) {
                match (status, content_range_start) {
                    (206, Some(start)) if start <= stream.pos => {
                        stream.receiving = true;
                        stream.skip = stream.pos - start;
                    }
                    (200, _) => {
                        // The server ignored the range: drop what came before it.
                        stream.receiving = true;
                        stream.skip = stream.pos;
                    }
                    _ => stream.receiving = false,
                }
            }
        }
        Ok(())
    }

    /// A piece of a response body arrived.
    fn handle_body_chunk(
        &mut self,
        id: RequestId,
        data: &[u8],
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        let step = self.session.step_of(id)?;
        let receiving = match step {
            Some(Step::Stream(s)) => self.streams.get(&s).is_some_and(|st| st.receiving),
            _ => false,
        };
        self.session.on_chunk(id, data, !receiving)?;
        if let Some(error) = self.session.body_fault(id) {
            return self.handle_transport_error(id, error, now);
        }
        let Some(Step::Stream(s)) = step else {
            return Ok(());
        };
        let Some(stream) = self.streams.get_mut(&s).filter(|st| st.receiving) else {
            return Ok(());
        };
        let mut data = data;
        let skip = usize::try_from(stream.skip)
            .unwrap_or(usize::MAX)
            .min(data.len());
        data = &data[skip..];
        stream.skip -= skip as u64;
        let room = usize::try_from(stream.end - stream.pos).unwrap_or(usize::MAX);
        let take = data.len().min(room);
        if take > 0 {
            stream.pos += take as u64;
            self.outputs.push_back(Output::Data {
                stream: s,
                data: data[..take].to_vec(),
            });
        }
        if stream.pos == stream.end {
            self.streams.remove(&s);
            self.outputs.push_back(Output::End { stream: s });
        }
        Ok(())
    }

    /// A response ended.
    fn handle_body_end(&mut self, id: RequestId, now: Instant) -> Result<(), Misuse> {
        self.session.tick(now);
        let (req, head) = match self.session.complete(id)? {
            Completed::Op(req, head) => (req, head),
            Completed::Token(Ok(steps)) => {
                for step in steps {
                    self.issue(step);
                }
                return Ok(());
            }
            Completed::Token(Err(e)) => {
                self.fail_all(e);
                return Ok(());
            }
        };
        let status = head.status.as_u16();
        if status == 401 {
            match self.session.on_unauthorized(req.step, &req.url, &head) {
                Ok(Some(step)) => self.issue(step),
                Ok(None) => {}
                Err(e) => self.fail_all(e),
            }
            return Ok(());
        }
        match req.step {
            Step::Ping if status == 200 => {
                self.ready = true;
                self.outputs.push_back(Output::Ready);
                for s in std::mem::take(&mut self.waiting) {
                    self.issue(Step::Stream(s));
                }
            }
            Step::Ping => {
                if !(is_retryable_status(status)
                    && self.retry(
                        Step::Ping,
                        retry_after(&head),
                        format!("{status} from registry"),
                    ))
                {
                    let error = self.registry_error(Step::Ping, status, &req.body);
                    self.fail_all(error);
                }
            }
            Step::Stream(s) => self.on_stream_end(s, &req.url, &head, &req.body),
        }
        Ok(())
    }

    /// A request failed below HTTP.
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
                self.fail_all(e);
                return Ok(());
            }
        };
        if let Some(host) = self
            .session
            .plain_http_fallback(req.step == Step::Ping, &error)
        {
            self.outputs.push_back(Output::PlainHttpFallback { host });
            self.issue(Step::Ping);
            return Ok(());
        }
        if is_retryable_transport(&error) && self.retry(req.step, None, error.to_string()) {
            return Ok(());
        }
        let action = self.describe(req.step);
        let err = Error::Transport { action, error };
        match req.step {
            Step::Ping => self.fail_all(err),
            Step::Stream(s) => self.fail(s, err),
        }
        Ok(())
    }

    /// A fetch sends no request bodies.
    fn handle_body_sent(
        &mut self,
        id: RequestId,
        _data: &[u8],
        now: Instant,
    ) -> Result<(), Misuse> {
        self.session.tick(now);
        self.session.step_of(id).map(|_| ())
    }

    /// Why the registry cannot be used at all, once that is known (the version check or
    /// authentication failed for good).
    pub fn fatal_error(&self) -> Option<&Error> {
        self.fatal.as_ref()
    }

    /// Fails every open stream.
    pub fn cancel(&mut self) {
        self.fail_all(Error::Cancelled);
    }

    fn on_stream_end(&mut self, s: StreamId, url: &Url, head: &ResponseHead, body: &[u8]) {
        let status = head.status.as_u16();
        let Some(stream) = self.streams.get_mut(&s) else {
            return; // completed or closed
        };
        if stream.receiving {
            // The body ended before the range did: resume from where it stopped.
            stream.receiving = false;
            let reason = format!(
                "the response ended at byte {} of {}",
                stream.pos, stream.end
            );
            if !self.retry(Step::Stream(s), None, reason.clone()) {
                let action = self.describe(Step::Stream(s));
                self.fail(
                    s,
                    Error::Protocol {
                        action,
                        message: reason,
                    },
                );
            }
            return;
        }
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let target = head
                .header("location")
                .and_then(|l| url.join(l.trim()).ok())
                .filter(crate::endpoint::is_http);
            stream.redirects += 1;
            match target {
                Some(t) if stream.redirects <= MAX_REDIRECTS => {
                    stream.redirect = Some(t);
                    self.issue(Step::Stream(s));
                }
                _ => {
                    let action = self.describe(Step::Stream(s));
                    let message = "a redirect without a usable Location, or too many".into();
                    self.fail(s, Error::Protocol { action, message });
                }
            }
            return;
        }
        if is_retryable_status(status)
            && self.retry(
                Step::Stream(s),
                retry_after(head),
                format!("{status} from registry"),
            )
        {
            return;
        }
        // A range other than the one asked for (a cache or proxy on the way): ask again.
        if status == 206
            && self.retry(
                Step::Stream(s),
                None,
                "the registry sent another range".into(),
            )
        {
            return;
        }
        let error = self.registry_error(Step::Stream(s), status, body);
        self.fail(s, error);
    }

    fn retry(&mut self, step: Step, hint: Option<Duration>, reason: String) -> bool {
        let attempt = match step {
            Step::Ping => {
                self.ping_attempts += 1;
                self.ping_attempts
            }
            Step::Stream(s) => match self.streams.get_mut(&s) {
                Some(st) => {
                    st.attempts += 1;
                    st.redirect = None;
                    st.receiving = false;
                    st.attempts
                }
                None => return true,
            },
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
        self.outputs.push_back(Output::Retrying {
            what,
            attempt,
            delay,
            reason,
        });
        self.session.schedule(delay, step);
        true
    }

    fn issue(&mut self, step: Step) {
        let mut headers = HeaderMap::new();
        let url = match step {
            Step::Ping => self.session.endpoint.ping(),
            Step::Stream(s) => {
                let Some(stream) = self.streams.get(&s) else {
                    return;
                };
                let range = format!("bytes={}-{}", stream.pos, stream.end - 1);
                if let Ok(v) = HeaderValue::try_from(range) {
                    headers.insert("range", v);
                }
                match &stream.redirect {
                    Some(u) => Ok(u.clone()),
                    None => self.session.endpoint.blob(&self.repository, &stream.digest),
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
                let message = format!("cannot build a URL: {e}");
                self.fail_all(Error::InvalidInput { message });
            }
        }
    }

    fn describe(&self, step: Step) -> String {
        match step {
            Step::Ping => format!("contacting registry {}", self.session.endpoint.host()),
            Step::Stream(s) => match self.streams.get(&s) {
                Some(st) => format!("downloading blob {}", st.digest),
                None => "downloading a blob".into(),
            },
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

    fn fail(&mut self, s: StreamId, error: Error) {
        if self.streams.remove(&s).is_some() {
            self.outputs.push_back(Output::Failed { stream: s, error });
        }
    }

    fn fail_all(&mut self, error: Error) {
        if !self.ready {
            self.fatal = Some(error.clone());
        }
        let mut ids: Vec<StreamId> = self.streams.keys().copied().collect();
        ids.sort();
        for s in ids {
            self.fail(s, error.clone());
        }
        self.waiting.clear();
    }
}

crate::operation::inherent_operation!(Fetch);
