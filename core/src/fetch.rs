//! Byte ranges of blobs from a registry, on demand: the source side of a registry-to-registry
//! copy, where each upload body of the destination is fed by a stream from here.
//!
//! A runner opens a stream for `start..end` of a blob; the fetch sends `GET` with `Range`,
//! follows redirects (without credentials to other hosts), answers auth challenges, and on a
//! broken connection or a transient error resumes from the last byte it passed on. Bytes come
//! out in order as [`Output::Data`], then [`Output::End`] — or [`Output::Failed`].

use std::collections::HashMap;

use crate::config::RegistryConfig;
use crate::digest::Digest;
use crate::engine::{
    Cx, Engine, Failure, Outbox, Outputs, Parts, Protocol, Redirect, Response, Step,
};
use crate::error::Error;
use crate::http::{
    content_range_length, content_range_start, HeaderMap, HeaderValue, Request, RequestId,
    ResponseHead,
};
use crate::retry::{Attempts, Retrying};
use crate::session::Session;
use crate::time::Instant;

/// Identifies a stream from [`Fetch::open`] until its `End` or `Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// What the runner must do next.
#[allow(clippy::large_enum_variant)] // a request, moved once to the runner
#[derive(Debug)]
pub enum Output {
    /// Send this request and report its response.
    Send(Request),
    /// Stop request `id` (close its connection, read no more of it): the core gave up on
    /// it — its response body was too large or too slow to read into memory. Inputs about
    /// it are still accepted, and ignored.
    Abort(RequestId),
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
    Retrying(Retrying),
    /// Nothing more until an input: if nothing else comes first, feed
    /// [`crate::Input::Timeout`] at this instant (the same as `poll_timeout()`). It ends a
    /// drain of `poll()` when a timer is pending; the next `poll()` is `None`.
    Timeout(crate::time::Instant),
}

impl Outputs for Output {
    fn send(request: Request) -> Self {
        Output::Send(request)
    }
    fn abort(id: RequestId) -> Self {
        Output::Abort(id)
    }
    fn retrying(retry: Retrying) -> Self {
        Output::Retrying(retry)
    }
    fn plain_http(host: String) -> Self {
        Output::PlainHttpFallback { host }
    }
    fn timeout(at: crate::time::Instant) -> Self {
        Output::Timeout(at)
    }
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
    redirect: Redirect,
    attempts: Attempts,
}

/// Range reads of blobs in one repository of one registry.
#[derive(Debug)]
pub struct Fetch {
    engine: Engine<Streams>,
}

/// The fetch's protocol: streams of byte ranges, each a `GET` with `Range`.
#[derive(Debug)]
struct Streams {
    repository: String,
    streams: HashMap<StreamId, Stream>,
    /// Streams opened before the version check finished.
    waiting: Vec<StreamId>,
    ready: bool,
    /// Set when the registry cannot be used at all: every stream fails with it.
    fatal: Option<Error>,
    next_stream: u64,
    outputs: Outbox<Output>,
}

impl Fetch {
    /// What its version check established, once the registry answered it.
    pub(crate) fn reached(&self) -> Option<crate::config::Reached> {
        self.engine.reached()
    }
    /// A fetcher for `registry`/`repository`, starting at `now` with the version check. With
    /// an empty `repository` it only checks that the registry accepts the credentials (as
    /// `docker login` does, asking for a token without a scope).
    pub fn new(registry: &str, repository: &str, config: &RegistryConfig, now: Instant) -> Fetch {
        Fetch::with_ids(registry, repository, config, now, 0)
    }

    /// [`Fetch::new`] numbering its requests from `id_base` on.
    pub(crate) fn with_ids(
        registry: &str,
        repository: &str,
        config: &RegistryConfig,
        now: Instant,
        id_base: u64,
    ) -> Fetch {
        let session = Session::new(registry, config, now)
            .ids_from(id_base)
            .scoped(repository, "pull");
        let streams = Streams {
            repository: repository.to_owned(),
            streams: HashMap::new(),
            waiting: Vec::new(),
            ready: false,
            fatal: None,
            next_stream: 0,
            outputs: Outbox::default(),
        };
        Fetch {
            engine: Engine::new(streams, session),
        }
    }

    /// Starts a stream of bytes `start..end` of blob `digest`.
    pub fn open(&mut self, digest: &Digest, start: u64, end: u64) -> StreamId {
        self.engine.with(|p, cx| p.open(digest, start, end, cx))
    }

    /// The consumer of a stream is gone: stop it.
    pub fn close(&mut self, stream: StreamId) {
        let p = &mut self.engine.proto;
        p.streams.remove(&stream);
        p.waiting.retain(|s| *s != stream);
    }

    /// Why the registry cannot be used at all, once that is known (the version check or
    /// authentication failed for good).
    pub fn fatal_error(&self) -> Option<&Error> {
        self.engine.proto.fatal.as_ref()
    }
}

crate::engine::engine_api!(Fetch, Output);

impl Streams {
    fn open(&mut self, digest: &Digest, start: u64, end: u64, cx: &mut Cx<StreamId>) -> StreamId {
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
                redirect: Redirect::default(),
                attempts: Attempts::from(start),
            },
        );
        if let Some(error) = self.fatal.clone() {
            self.fail_stream(id, error);
        } else if start >= end {
            self.streams.remove(&id);
            self.outputs.push(Output::End { stream: id });
        } else if self.ready {
            cx.issue(Step::Op(id));
        } else {
            self.waiting.push(id);
        }
        id
    }

    fn fail_stream(&mut self, s: StreamId, error: Error) {
        if self.streams.remove(&s).is_some() {
            self.outputs.push(Output::Failed { stream: s, error });
        }
    }
}

impl Protocol for Streams {
    type Step = StreamId;
    type Output = Output;

    fn outbox(&mut self) -> &mut Outbox<Output> {
        &mut self.outputs
    }

    /// A stopped copy lets the chunks on their way finish: the reads feeding them go on.
    fn finishes_in_flight(&self) -> bool {
        true
    }

    fn describe(&self, s: StreamId) -> String {
        match self.streams.get(&s) {
            Some(st) => format!("downloading blob {}", st.digest),
            None => "downloading a blob".into(),
        }
    }

    fn request(&mut self, s: StreamId, cx: &Cx<StreamId>) -> Result<Option<Parts>, Error> {
        let Some(stream) = self.streams.get(&s) else {
            return Ok(None);
        };
        let mut headers = HeaderMap::new();
        let range = format!("bytes={}-{}", stream.pos, stream.end - 1);
        if let Ok(v) = HeaderValue::try_from(range) {
            headers.insert("range", v);
        }
        let url = match &stream.redirect.target {
            Some(u) => u.clone(),
            None => cx
                .endpoint
                .blob(&self.repository, &stream.digest)
                .map_err(|e| Error::InvalidInput {
                    message: format!("cannot build a URL: {e}"),
                })?,
        };
        Ok(Some(Parts::get(url, headers)))
    }

    fn start(&mut self, cx: &mut Cx<StreamId>) {
        self.ready = true;
        self.outputs.push(Output::Ready);
        for s in std::mem::take(&mut self.waiting) {
            cx.issue(Step::Op(s));
        }
    }

    fn on_head(&mut self, s: StreamId, head: &ResponseHead, cx: &mut Cx<StreamId>) -> bool {
        let Some(stream) = self.streams.get_mut(&s) else {
            return false;
        };
        let content_range = head.header("content-range");
        // The registry's blob ends before the range asked for (a `206` or a `416` saying
        // its length): the manifest's descriptor is wrong, and no retry can mend it.
        let length = content_range.and_then(content_range_length);
        if let Some(length) = length.filter(|l| *l < stream.end) {
            let message = format!(
                "blob {} of {}/{} is {length} bytes, but the manifest's descriptor says it \
                 is longer (bytes up to {} were asked for)",
                stream.digest,
                cx.endpoint.host(),
                self.repository,
                stream.end
            );
            self.fail_stream(s, Error::InvalidInput { message });
            return false;
        }
        let start = content_range.and_then(content_range_start);
        match (head.status.as_u16(), start) {
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
        stream.receiving
    }

    fn on_data(&mut self, s: StreamId, data: &[u8], _cx: &mut Cx<StreamId>) {
        let Some(stream) = self.streams.get_mut(&s).filter(|st| st.receiving) else {
            return;
        };
        let skip = usize::try_from(stream.skip)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let data = &data[skip..];
        stream.skip -= skip as u64;
        let room = usize::try_from(stream.end - stream.pos).unwrap_or(usize::MAX);
        let take = data.len().min(room);
        if take > 0 {
            stream.pos += take as u64;
            self.outputs.push(Output::Data {
                stream: s,
                data: data[..take].to_vec(),
            });
        }
        if stream.pos == stream.end {
            self.streams.remove(&s);
            self.outputs.push(Output::End { stream: s });
        }
    }

    fn redirect(&mut self, s: StreamId) -> Option<&mut Redirect> {
        self.streams.get_mut(&s).map(|st| &mut st.redirect)
    }

    fn on_response(
        &mut self,
        s: StreamId,
        response: Response<'_>,
        cx: &mut Cx<StreamId>,
    ) -> Result<(), Failure> {
        let Some(stream) = self.streams.get_mut(&s) else {
            return Ok(()); // completed or closed
        };
        if stream.receiving {
            // The body ended before the range did: resume from where it stopped.
            stream.receiving = false;
            let reason = format!(
                "the response ended at byte {} of {}",
                stream.pos, stream.end
            );
            if !self.retry(s, None, reason.clone(), cx) {
                let action = self.describe(s);
                return Err(Failure::Error(Error::Protocol {
                    action,
                    message: reason,
                }));
            }
            return Ok(());
        }
        // A range other than the one asked for (a cache or proxy on the way): ask again.
        if response.status() == 206
            && self.retry(s, None, "the registry sent another range".into(), cx)
        {
            return Ok(());
        }
        Err(Failure::Status)
    }

    fn retry_as(&mut self, s: StreamId) -> Option<(StreamId, &mut u32)> {
        let st = self.streams.get_mut(&s)?;
        st.redirect.clear();
        st.receiving = false;
        Some((s, st.attempts.retrying_at(st.pos)))
    }

    fn fail(&mut self, step: Option<StreamId>, error: Error, _cx: &mut Cx<StreamId>) {
        if let Some(s) = step {
            self.fail_stream(s, error);
            return;
        }
        if !self.ready {
            self.fatal = Some(error.clone());
        }
        let mut ids: Vec<StreamId> = self.streams.keys().copied().collect();
        ids.sort();
        for s in ids {
            self.fail_stream(s, error.clone());
        }
        self.waiting.clear();
    }

    fn finished(&self) -> bool {
        false
    }
}
