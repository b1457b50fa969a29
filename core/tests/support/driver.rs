//! Drives a push against the registry model in virtual time: requests are answered one at a
//! time, in order, each taking 10 ms; timers jump the clock.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tug_core::http::{Body, Request, TransportError, TransportErrorKind};
use tug_core::pull::{self, Pull, PullConfig, PullPlan, PullReport};
use tug_core::push::{Event, Output, Push, PushConfig, PushPlan, PushReport};
use tug_core::Digest;
use tug_core::{Error, Instant};

use super::registry_model::RegistryModel;

pub struct Run {
    pub result: Result<PushReport, Error>,
    pub events: Vec<Event>,
    pub requests: Vec<Request>,
    /// The most requests that were waiting for an answer at once.
    pub max_in_flight: usize,
    pub end: Instant,
}

/// Plain HTTP, small blobs in one `PUT` up to 1000 bytes, 700-byte chunks above: the
/// push settings most scenarios use.
pub fn small_chunks() -> PushConfig {
    PushConfig {
        registry: tug_core::RegistryConfig {
            scheme: tug_core::Scheme::Http,
            ..PushConfig::default().registry
        },
        monolithic_max: 1000,
        chunk_size: 700,
        ..PushConfig::default()
    }
}

pub fn run_push(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
) -> Run {
    run_push_late(model, plan, data, config, &mut |_, _, _| {})
}

/// Like [`run_push`], also giving the push what comes from elsewhere than the registry
/// (blobs made while it runs): `late` is called with the number of requests answered so
/// far, and whether the push waits on nothing else (`idle`), before each answer.
pub fn run_push_late(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
    late: &mut dyn FnMut(&mut Push, usize, bool),
) -> Run {
    let mut answered = 0;
    let mut last_late = None;
    let mut now = Instant::ZERO;
    let mut push = Push::new(plan, config, now);
    let mut pending: VecDeque<Request> = VecDeque::new();
    let mut events = Vec::new();
    let mut requests = Vec::new();
    let mut max_in_flight = 0;
    for _ in 0..100_000 {
        while let Some(out) = push.poll() {
            match out {
                Output::Send(req) => {
                    requests.push(req.clone());
                    pending.push_back(req);
                }
                Output::Event(e) => events.push(e),
                Output::Finished(result) => {
                    return Run {
                        result,
                        events,
                        requests,
                        max_in_flight,
                        end: now,
                    };
                }
            }
        }
        max_in_flight = max_in_flight.max(pending.len());
        if push.poll_timeout().is_some_and(|t| t <= now) {
            // A timer came due while requests were being answered.
            push.handle_input(now, tug_core::Input::Timeout).unwrap();
            continue;
        }
        let idle = pending.is_empty() && push.poll_timeout().is_none();
        if last_late != Some((answered, idle)) {
            last_late = Some((answered, idle));
            late(&mut push, answered, idle);
            continue;
        }
        if let Some(req) = pending.pop_front() {
            answered += 1;
            let body: Vec<u8> = match &req.body {
                Body::Empty => Vec::new(),
                Body::Bytes(b) => b.clone(),
                Body::BlobRange { blob, start, end } => {
                    data[*blob][*start as usize..*end as usize].to_vec()
                }
            };
            let half = body.len() / 2;
            push.handle_input(now, tug_core::Input::BodySent(req.id, &body[..half]))
                .unwrap();
            now = now + Duration::from_millis(5);
            push.handle_input(now, tug_core::Input::BodySent(req.id, &body[half..]))
                .unwrap();
            now = now + Duration::from_millis(5);
            match model.handle(&req, &body) {
                Ok((head, resp_body)) => {
                    push.handle_input(now, tug_core::Input::Response(req.id, head))
                        .unwrap();
                    if !resp_body.is_empty() {
                        push.handle_input(now, tug_core::Input::BodyChunk(req.id, &resp_body))
                            .unwrap();
                    }
                    push.handle_input(now, tug_core::Input::BodyEnd(req.id))
                        .unwrap();
                }
                Err(e) => push
                    .handle_input(now, tug_core::Input::TransportError(req.id, e))
                    .unwrap(),
            }
        } else if let Some(t) = push.poll_timeout() {
            assert!(t > now, "a due timer was not consumed");
            now = t;
            push.handle_input(now, tug_core::Input::Timeout).unwrap();
        } else {
            panic!(
                "the push stalled: nothing in flight, no timer, not finished\n{:#?}",
                model.log
            );
        }
    }
    panic!("the push did not finish within 100000 steps");
}

pub struct PullRun {
    pub result: Result<PullReport, Error>,
    pub events: Vec<pull::Event>,
    pub requests: Vec<Request>,
    /// Blobs the runner moved into place.
    pub committed: HashMap<Digest, Vec<u8>>,
    /// Temporary files left behind (none after a success; a failure keeps prefixes).
    pub leftovers: Vec<Digest>,
    /// Their contents.
    pub kept: HashMap<Digest, Vec<u8>>,
    pub commits: usize,
    pub end: Instant,
    /// The most manifest requests that were waiting for an answer at once.
    pub max_manifests_in_flight: usize,
}

/// Drives a pull like [`run_push`]; `Write`/`Commit`/`Discard` act on an in-memory disk.
pub fn run_pull(model: &mut RegistryModel, plan: PullPlan, config: PullConfig) -> PullRun {
    run_pull_resuming(model, plan, config, HashMap::new())
}

/// [`run_pull`] with temporary files an earlier run left (`partials`), given to the pull
/// with `handle_partial` in pieces before it starts.
pub fn run_pull_resuming(
    model: &mut RegistryModel,
    plan: PullPlan,
    config: PullConfig,
    partials: HashMap<Digest, Vec<u8>>,
) -> PullRun {
    let mut now = Instant::ZERO;
    let mut pull = Pull::new(plan, config, now);
    for (digest, bytes) in &partials {
        for piece in bytes.chunks(777) {
            pull.handle_partial(digest, piece).unwrap();
        }
    }
    let mut pending: VecDeque<Request> = VecDeque::new();
    let mut run = PullRun {
        result: Err(Error::Cancelled),
        events: Vec::new(),
        requests: Vec::new(),
        committed: HashMap::new(),
        leftovers: Vec::new(),
        kept: HashMap::new(),
        commits: 0,
        end: now,
        max_manifests_in_flight: 0,
    };
    let mut temp: HashMap<Digest, Vec<u8>> = partials;
    for _ in 0..100_000 {
        while let Some(out) = pull.poll() {
            match out {
                pull::Output::Send(req) => {
                    run.requests.push(req.clone());
                    pending.push_back(req);
                }
                pull::Output::Write {
                    digest,
                    offset,
                    data,
                } => {
                    let file = temp.entry(digest).or_default();
                    assert_eq!(file.len() as u64, offset, "writes are sequential");
                    file.extend_from_slice(&data);
                }
                pull::Output::Commit { digest } => {
                    let data = temp.remove(&digest).unwrap_or_default();
                    assert_eq!(
                        Digest::sha256_of(&data),
                        digest,
                        "only verified blobs are committed"
                    );
                    run.committed.insert(digest, data);
                    run.commits += 1;
                }
                pull::Output::Discard { digest } => {
                    temp.remove(&digest);
                }
                pull::Output::Event(e) => run.events.push(e),
                pull::Output::Finished(result) => {
                    run.result = result;
                    run.leftovers = temp.keys().cloned().collect();
                    run.kept = temp;
                    run.end = now;
                    return run;
                }
            }
        }
        if pull.poll_timeout().is_some_and(|t| t <= now) {
            pull.handle_input(now, tug_core::Input::Timeout).unwrap();
            continue;
        }
        let manifests = pending
            .iter()
            .filter(|r| r.url.path().contains("/manifests/"))
            .count();
        run.max_manifests_in_flight = run.max_manifests_in_flight.max(manifests);
        if let Some(req) = pending.pop_front() {
            now = now + Duration::from_millis(10);
            match model.handle(&req, &[]) {
                Ok((head, body)) => {
                    pull.handle_input(now, tug_core::Input::Response(req.id, head))
                        .unwrap();
                    let cut = model.pending_cut.take();
                    let end = cut.unwrap_or(body.len()).min(body.len());
                    for chunk in body[..end].chunks(1000) {
                        pull.handle_input(now, tug_core::Input::BodyChunk(req.id, chunk))
                            .unwrap();
                    }
                    match cut {
                        Some(n) => {
                            let err = TransportError {
                                kind: TransportErrorKind::Io,
                                message: format!("connection reset after {n} bytes"),
                            };
                            pull.handle_input(now, tug_core::Input::TransportError(req.id, err))
                                .unwrap();
                        }
                        None => pull
                            .handle_input(now, tug_core::Input::BodyEnd(req.id))
                            .unwrap(),
                    }
                }
                Err(e) => pull
                    .handle_input(now, tug_core::Input::TransportError(req.id, e))
                    .unwrap(),
            }
        } else if let Some(t) = pull.poll_timeout() {
            assert!(t > now, "a due timer was not consumed");
            now = t;
            pull.handle_input(now, tug_core::Input::Timeout).unwrap();
        } else {
            panic!("the pull stalled: nothing in flight, no timer, not finished");
        }
    }
    panic!("the pull did not finish within 100000 steps");
}
