//! Driving a [`Fetch`] (the source side of a copy): streams of byte ranges, each consumed
//! and checked as a consumer relies on — at most its range's length, then exactly one `End`
//! (after exactly that many bytes) or `Failed`, nothing after; while only the model
//! answered, the blob's own bytes.

use std::collections::HashMap;

use tug_core::fetch::{Fetch, Output, StreamId};
use tug_core::{Digest, Error, Instant, RegistryConfig};

use crate::driver::{Cx, Driver, Out, Plug, SendBody};
use crate::model::RegistryModel;

/// What the consumer of a stream has seen.
#[derive(Debug)]
pub struct Stream {
    /// The blob's bytes, when known (to check what arrives).
    pub blob: Option<Vec<u8>>,
    pub start: u64,
    pub end: u64,
    /// The bytes passed on.
    pub data: Vec<u8>,
    /// Ended, failed or closed.
    pub over: bool,
}

/// When a fetch run is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Never (a fuzz target winds it down itself).
    Never,
    /// Every stream opened ended or failed.
    StreamsOver,
    /// The registry answered the version check ([`Output::Ready`]).
    Ready,
}

/// A fetch and the consumers of its streams.
pub struct FetchPlug {
    pub fetch: Fetch,
    pub streams: HashMap<StreamId, Stream>,
    /// Streams that ended, in order.
    pub ended: Vec<StreamId>,
    /// Streams that failed, in order, with why.
    pub failed: Vec<(StreamId, Error)>,
    pub retries: usize,
    pub ready: bool,
    until: Until,
    over: bool,
    /// Streams closed, to count as over once their outputs are drained.
    closing: Vec<StreamId>,
}

impl FetchPlug {
    /// A fetch from `repository` on `registry`, starting at `Instant::ZERO`.
    pub fn new(registry: &str, repository: &str, config: &RegistryConfig, until: Until) -> Self {
        FetchPlug {
            fetch: Fetch::new(registry, repository, config, Instant::ZERO),
            streams: HashMap::new(),
            ended: Vec::new(),
            failed: Vec::new(),
            retries: 0,
            ready: false,
            until,
            over: false,
            closing: Vec::new(),
        }
    }

    /// Opens a stream of bytes `start..end` of blob `digest`, whose bytes are `blob` if known.
    pub fn open(
        &mut self,
        digest: &Digest,
        start: u64,
        end: u64,
        blob: Option<Vec<u8>>,
    ) -> StreamId {
        let id = self.fetch.open(digest, start, end);
        assert!(
            !self.streams.contains_key(&id),
            "contract: stream id {id:?} reused"
        );
        let stream = Stream {
            blob,
            start,
            end,
            data: Vec::new(),
            over: false,
        };
        self.streams.insert(id, stream);
        id
    }

    /// The consumer of stream `id` is gone: what the fetch puts out until the driver has
    /// drained it still counts; after that, nothing more may come for the stream.
    pub fn close(&mut self, id: StreamId) {
        self.fetch.close(id);
        self.closing.push(id);
    }

    /// Streams neither over nor closed.
    pub fn open_count(&self) -> usize {
        self.streams.values().filter(|s| !s.over).count()
    }

    fn stream(&mut self, id: StreamId, what: &str) -> &mut Stream {
        let s = self
            .streams
            .get_mut(&id)
            .unwrap_or_else(|| panic!("contract: {what} for unknown stream {id:?}"));
        assert!(
            !s.over,
            "contract: {what} for stream {id:?} after it was over"
        );
        s
    }

    fn data(&mut self, id: StreamId, data: Vec<u8>, clean: bool) {
        let s = self.stream(id, "data");
        assert!(!data.is_empty(), "contract: an empty Data output");
        let range = s.end.saturating_sub(s.start);
        let received = s.data.len() as u64 + data.len() as u64;
        assert!(
            received <= range,
            "contract: stream {id:?} got {received} bytes of a {range}-byte range"
        );
        if let (true, Some(blob)) = (clean, &s.blob) {
            let at = usize::try_from(s.start)
                .unwrap_or(usize::MAX)
                .saturating_add(s.data.len());
            assert!(
                blob.get(at..at.saturating_add(data.len())) == Some(&data[..]),
                "property: stream {id:?} passed on bytes that are not the blob's bytes at {at}"
            );
        }
        s.data.extend_from_slice(&data);
    }

    /// Whether the run is over, as `until` says.
    fn done(&self) -> bool {
        match self.until {
            Until::Never => false,
            Until::StreamsOver => self.open_count() == 0,
            Until::Ready => self.ready,
        }
    }
}

/// What a finished fetch run reports: nothing beyond the plug's fields.
#[derive(Debug)]
pub struct FetchReport;

impl Plug for FetchPlug {
    type Op = Fetch;
    type Report = FetchReport;

    fn op(&mut self) -> &mut Fetch {
        &mut self.fetch
    }

    fn op_ref(&self) -> &Fetch {
        &self.fetch
    }

    /// Once the run is over, outputs are taken and kept to the plug.
    fn next(&mut self, cx: &Cx) -> Option<Out<FetchReport>> {
        let out = match self.fetch.poll() {
            Some(out) => out,
            None if !self.closing.is_empty() => {
                for id in std::mem::take(&mut self.closing) {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.over = true;
                    }
                }
                return self.next(cx);
            }
            None if !self.over && self.done() => {
                self.over = true;
                return Some(Out::Finished(Ok(FetchReport)));
            }
            None => return None,
        };
        let out = match out {
            Output::Send(req) => Out::Send {
                req,
                to: 0,
                body: SendBody::Bytes(Vec::new()),
            },
            Output::Abort(id) => Out::Abort(id),
            Output::Data { stream, data } => {
                self.data(stream, data, cx.clean);
                Out::Other
            }
            Output::End { stream } => {
                let s = self.stream(stream, "End");
                assert_eq!(
                    s.data.len() as u64,
                    s.end.saturating_sub(s.start),
                    "contract: stream {stream:?} ended early"
                );
                s.over = true;
                self.ended.push(stream);
                Out::Other
            }
            Output::Failed { stream, error } => {
                self.stream(stream, "failure").over = true;
                let _ = error.to_string();
                self.failed.push((stream, error));
                Out::Other
            }
            Output::Retrying(_) => {
                self.retries += 1;
                Out::Other
            }
            Output::Ready => {
                self.ready = true;
                Out::Other
            }
            Output::Timeout(at) => Out::Timeout(at),
            other => {
                let _ = format!("{other:?}");
                Out::Other
            }
        };
        Some(match out {
            Out::Send { .. } | Out::Abort(_) | Out::Timeout(_) if self.over => Out::Other,
            out => out,
        })
    }

    fn may_idle(&self) -> bool {
        self.open_count() == 0
    }
}

/// What a fetch run leaves to look at.
pub struct FetchRun {
    /// The bytes each stream passed on.
    pub data: HashMap<StreamId, Vec<u8>>,
    pub ended: Vec<StreamId>,
    pub failed: Vec<(StreamId, Error)>,
    pub retries: usize,
}

impl FetchRun {
    /// Runs `driver` until its plug's `until` and collects the run.
    pub fn of(mut driver: Driver<'_, FetchPlug>) -> FetchRun {
        driver.run();
        let plug = driver.plug;
        FetchRun {
            data: plug
                .streams
                .into_iter()
                .map(|(id, s)| (id, s.data))
                .collect(),
            ended: plug.ended,
            failed: plug.failed,
            retries: plug.retries,
        }
    }
}

/// Opens the given ranges of `digest` at once and drives the fetch until every stream is
/// over, answered by `model`.
pub fn run_fetch(
    model: &mut RegistryModel,
    config: &RegistryConfig,
    digest: &Digest,
    ranges: &[(u64, u64)],
) -> FetchRun {
    let mut plug = FetchPlug::new("127.0.0.1:5000", "team/app", config, Until::StreamsOver);
    let blob = model.blobs.get(&digest.to_string()).cloned();
    for &(a, b) in ranges {
        plug.open(digest, a, b, blob.clone());
    }
    FetchRun::of(Driver::new(plug, vec![model]))
}
