//! A `Fetch` (the source side of `tug copy`: ranged blob reads) driven by a script of
//! registry responses (see `fuzz/src/script.rs`). `open` / `close` lines start and drop
//! streams of byte ranges; the other actions answer its ranged `GET`s as the registry model
//! would (206 + Content-Range, 416, redirects to storage, Basic or Bearer auth), with
//! changes (status, Content-Range, Location, ...), byte by byte, or break them. When the
//! actions run out, every request in flight fails for good and timers fire, so every stream
//! must end or fail within a bound.
//!
//! Checked besides "no panic": each stream gets at most its range's length in `Data`, then
//! exactly one `End` (after exactly that many bytes) or `Failed`, and nothing after that or
//! after `close`; while only the model answered (connections may break, the clock may
//! jump), the bytes are the blob's own bytes at the right offsets; no request id is reused
//! while in flight; inputs about unknown ids are refused; no due timer survives
//! `handle_timeout`; the fetch never waits for a stream with nothing in flight and no timer.

#![no_main]

use std::collections::{HashMap, VecDeque};

use libfuzzer_sys::fuzz_target;
use tug_core::error::Misuse;
use tug_core::fetch::{Fetch, Output, StreamId};

use tug_core::operation::Operation;
use tug_core::pull::PullConfig;
use tug_core::retry::RetryPolicy;
use tug_core::{Digest, Instant};
use tug_fuzz::responder::{Driven, Responder, DRAIN_BOUND, FINISH_BOUND};
use tug_fuzz::script::{Action, BlobRef, Script};

/// Most streams opened by one input.
const MAX_STREAMS: usize = 64;

/// A fetch whose outputs are collected after every input.
struct FetchOp {
    fetch: Fetch,
    out: VecDeque<Output>,
}

impl FetchOp {
    fn collect(&mut self) {
        for _ in 0..DRAIN_BOUND {
            match self.fetch.poll() {
                Some(o) => self.out.push_back(o),
                None => return,
            }
        }
        panic!("liveness: poll() produced {DRAIN_BOUND} outputs without stopping");
    }
}

impl Operation for FetchOp {
    fn handle_input(&mut self, now: Instant, input: tug_core::Input<'_>) -> Result<(), Misuse> {
        let r = self.fetch.handle_input(now, input);
        self.collect();
        r
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.fetch.poll_timeout()
    }
    fn cancel(&mut self) {
        self.fetch.cancel();
        self.collect();
    }
}

impl Driven for FetchOp {
    /// A fetch never finishes; it serves streams until dropped.
    fn done(&self) -> bool {
        false
    }
}

/// What the consumer of a stream has seen.
struct StreamState {
    /// The blob's bytes, when the model has it.
    blob: Option<Vec<u8>>,
    start: u64,
    end: u64,
    received: u64,
    /// Ended, failed or closed.
    over: bool,
}

#[derive(Default)]
struct Consumers {
    streams: HashMap<StreamId, StreamState>,
}

impl Consumers {
    fn open_count(&self) -> usize {
        self.streams.values().filter(|s| !s.over).count()
    }

    fn take(&mut self, op: &mut FetchOp, responder: &mut Responder) {
        while let Some(o) = op.out.pop_front() {
            match o {
                Output::Send(req) => responder.sent(req),
                Output::Abort(id) => responder.aborted(id),
                Output::Data { stream, data } => {
                    let s = self
                        .streams
                        .get_mut(&stream)
                        .unwrap_or_else(|| panic!("contract: data for unknown stream {stream:?}"));
                    assert!(
                        !s.over,
                        "contract: data for stream {stream:?} after it was over"
                    );
                    assert!(!data.is_empty(), "contract: an empty Data output");
                    let len = data.len() as u64;
                    let range = s.end.saturating_sub(s.start);
                    assert!(
                        s.received + len <= range,
                        "contract: stream {stream:?} got {} bytes of a {range}-byte range",
                        s.received + len,
                    );
                    if responder.clean {
                        if let Some(blob) = &s.blob {
                            let at = usize::try_from(s.start + s.received).unwrap_or(usize::MAX);
                            assert!(
                                blob.get(at..at.saturating_add(data.len())) == Some(&data[..]),
                                "property: stream {stream:?} passed on bytes that are not the \
                                 blob's bytes at {at}"
                            );
                        }
                    }
                    s.received += len;
                }
                Output::End { stream } => {
                    let s = self
                        .streams
                        .get_mut(&stream)
                        .unwrap_or_else(|| panic!("contract: End of unknown stream {stream:?}"));
                    assert!(
                        !s.over,
                        "contract: End of stream {stream:?} after it was over"
                    );
                    assert_eq!(
                        s.received,
                        s.end.saturating_sub(s.start),
                        "contract: stream {stream:?} ended early"
                    );
                    s.over = true;
                }
                Output::Failed { stream, error } => {
                    let s = self.streams.get_mut(&stream).unwrap_or_else(|| {
                        panic!("contract: failure of unknown stream {stream:?}")
                    });
                    assert!(
                        !s.over,
                        "contract: failure of stream {stream:?} after it was over"
                    );
                    s.over = true;
                    let _ = error.to_string();
                    tug_fuzz::describe::<(), _>("stream", &Err(error));
                }
                other => {
                    let _ = format!("{other:?}");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let script = Script::parse(data);
    let setup = script.setup.clone();
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: setup.scheme,
            credentials: setup.credentials.clone(),
            retry: RetryPolicy {
                max_attempts: setup.attempts,
                base_delay: setup.delay,
                max_delay: setup.max_delay,
                seed: setup.seed,
                budget: setup.budget,
            },
            // No deadline, or one that slow scripted answers may miss.
            stall_timeout: std::time::Duration::from_millis((setup.seed >> 8) % 3 * 700),
            // Both kinds of runtime: bodies seen leaving, or not.
            body_progress: if setup.seed & 4 == 0 {
                tug_core::limits::BodyProgress::Seen
            } else {
                tug_core::limits::BodyProgress::Unseen
            },
            user_agent: "tug-fuzz".into(),
        },
        transfer: tug_core::TransferConfig {
            jobs: setup.jobs,
            // Both ways of choosing the blobs in flight.
            adaptive: setup.seed % 2 == 1,
            progress_interval: std::time::Duration::from_millis(200),
        },
    };
    let mut responder = Responder::new(setup.clone());
    let mut op = FetchOp {
        fetch: Fetch::new(
            &setup.registry,
            &setup.repository,
            &config.registry,
            responder.now,
        ),
        out: VecDeque::new(),
    };
    op.collect();
    let mut consumers = Consumers::default();
    consumers.take(&mut op, &mut responder);

    let live = |op: &FetchOp, responder: &Responder, consumers: &Consumers| {
        if consumers.open_count() > 0 {
            assert!(
                !responder.pending.is_empty() || op.poll_timeout().is_some(),
                "liveness: the fetch waits for a stream with nothing in flight and no timer"
            );
        }
    };
    let mut opened: Vec<StreamId> = Vec::new();
    for action in &script.actions {
        if !responder.act(&mut op, action) {
            match action {
                Action::Open { blob, start, end } if opened.len() < MAX_STREAMS => {
                    let blobs = &setup.blobs;
                    let (digest, bytes) = match blob {
                        BlobRef::Index(i) if !blobs.is_empty() => {
                            let b = &blobs[i % blobs.len()];
                            (Digest::sha256_of(b), Some(b.clone()))
                        }
                        BlobRef::Index(_) => (Digest::sha256_of(b""), None),
                        BlobRef::Digest(d) => (
                            d.clone(),
                            blobs.iter().find(|b| Digest::sha256_of(b) == *d).cloned(),
                        ),
                    };
                    let id = op.fetch.open(&digest, *start, *end);
                    assert!(
                        !consumers.streams.contains_key(&id),
                        "contract: stream id {id:?} reused"
                    );
                    consumers.streams.insert(
                        id,
                        StreamState {
                            blob: bytes,
                            start: *start,
                            end: *end,
                            received: 0,
                            over: false,
                        },
                    );
                    opened.push(id);
                    op.collect();
                }
                Action::Close(n) if !opened.is_empty() => {
                    let id = opened[*n as usize % opened.len()];
                    op.fetch.close(id);
                    op.collect();
                    consumers.take(&mut op, &mut responder);
                    if let Some(s) = consumers.streams.get_mut(&id) {
                        s.over = true;
                    }
                }
                _ => {}
            }
        }
        consumers.take(&mut op, &mut responder);
        live(&op, &responder, &consumers);
    }
    for _ in 0..FINISH_BOUND {
        if consumers.open_count() == 0 || !responder.wind_down_step(&mut op) {
            break;
        }
        consumers.take(&mut op, &mut responder);
    }
    assert_eq!(
        consumers.open_count(),
        0,
        "liveness: streams neither ended nor failed within {FINISH_BOUND} wind-down steps"
    );
});
