//! How a drain of `poll()` ends, for push, pull, fetch and copy (str0m's
//! `Output::Timeout`): while a timer is pending, the drain's last output is `Timeout(at)`,
//! `at` being `poll_timeout()`, exactly once; then `None` until the next input; every input
//! (and a cancel) starts a new drain; after `Finished`, no `Timeout`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::HashMap;
use std::time::Duration;

use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource};
use tug_core::fetch::Fetch;
use tug_core::http::{Request, RequestId, ResponseHead};
use tug_core::pull::Pull;
use tug_core::push::Push;
use tug_core::{copy, fetch, pull, push};
use tug_core::{Input, Instant, Operation, RegistryConfig, Scheme};
use tug_sansio_kit::images::{image, publish, Image};
use tug_sansio_kit::ops::copy::CopyPlug;
use tug_sansio_kit::ops::fetch::{FetchPlug, Until};
use tug_sansio_kit::ops::pull::{plain_pull, pull_plan, PullPlug};
use tug_sansio_kit::ops::push::{small_chunks, PushPlug};
use tug_sansio_kit::{Driver, Order, RegistryModel};

/// An output, as these tests tell them apart.
#[derive(Debug)]
enum Seen {
    Send(Box<Request>),
    Timeout(Instant),
    Finished,
    Other,
}

/// An operation whose outputs these tests sum up (its inputs are [`Operation`]'s).
trait Op: Operation {
    /// `poll()`, summed up.
    fn next(&mut self) -> Option<Seen>;
}

impl Op for Push {
    fn next(&mut self) -> Option<Seen> {
        Some(match self.poll()? {
            push::Output::Send(req) => Seen::Send(Box::new(req)),
            push::Output::Timeout(at) => Seen::Timeout(at),
            push::Output::Finished(_) => Seen::Finished,
            _ => Seen::Other,
        })
    }
}

impl Op for Pull {
    fn next(&mut self) -> Option<Seen> {
        Some(match self.poll()? {
            pull::Output::Send(req) => Seen::Send(Box::new(req)),
            pull::Output::Timeout(at) => Seen::Timeout(at),
            pull::Output::Finished(_) => Seen::Finished,
            _ => Seen::Other,
        })
    }
}

impl Op for Fetch {
    fn next(&mut self) -> Option<Seen> {
        Some(match self.poll()? {
            fetch::Output::Send(req) => Seen::Send(Box::new(req)),
            fetch::Output::Timeout(at) => Seen::Timeout(at),
            _ => Seen::Other,
        })
    }
}

impl Op for Copy {
    fn next(&mut self) -> Option<Seen> {
        Some(match self.poll()? {
            copy::Output::Send(_, req) => Seen::Send(Box::new(req)),
            copy::Output::Timeout(at) => Seen::Timeout(at),
            copy::Output::Finished(_) => Seen::Finished,
            _ => Seen::Other,
        })
    }
}

fn http() -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Http,
        ..RegistryConfig::default()
    }
}

fn new_push() -> Push {
    Push::new(image(&[300, 2000]).plan, small_chunks(), Instant::ZERO)
}

fn new_pull() -> Pull {
    Pull::new(pull_plan(), plain_pull(), Instant::ZERO)
}

fn new_fetch() -> Fetch {
    Fetch::new("127.0.0.1:5000", "team/app", &http(), Instant::ZERO)
}

fn copy_plan() -> CopyPlan {
    CopyPlan {
        sources: vec![CopySource {
            reference: "source.example:5000/team/app:v1".parse().unwrap(),
            config: http(),
        }],
        target: "target.example:5000/copied/app:v1".parse().unwrap(),
        target_config: http(),
        platform: Some("linux/amd64".parse().unwrap()),
        resume: Vec::new(),
        referrers: None,
    }
}

fn copy_config() -> CopyConfig {
    CopyConfig {
        chunk_size: 700,
        ..CopyConfig::default()
    }
}

fn new_copy() -> Copy {
    Copy::new(copy_plan(), copy_config(), Instant::ZERO)
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// `poll()` until `None`.
fn drain(op: &mut impl Op) -> Vec<Seen> {
    let mut outs = Vec::new();
    while let Some(out) = op.next() {
        outs.push(out);
        assert!(outs.len() < 10_000, "a drain that does not end");
    }
    outs
}

/// The timeouts among a drain's outputs, with their places.
fn timeouts(outs: &[Seen]) -> Vec<(usize, Instant)> {
    outs.iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Seen::Timeout(t) => Some((i, *t)),
            _ => None,
        })
        .collect()
}

/// The version check every operation starts with: the first drain's one request, then
/// its stall deadline as the timer (the core holds every request to its deadlines).
fn first_drain(op: &mut impl Op) -> RequestId {
    let outs = drain(op);
    let stall = Instant::ZERO + tug_core::limits::DEFAULT_STALL_TIMEOUT;
    assert_eq!(op.poll_timeout(), Some(stall), "{outs:?}");
    match &outs[..] {
        [Seen::Send(req), Seen::Timeout(t)] if *t == stall => {
            assert_eq!(req.url.path(), "/v2/");
            req.id
        }
        other => panic!("expected the version check and its deadline, got {other:?}"),
    }
}

/// The version check's head came (its body deadline is the timer): the drain is exactly
/// `Timeout(poll_timeout())`, then `None`, and `None` again.
fn ends_with_the_timer(mut op: impl Op) {
    let ping = first_drain(&mut op);
    op.handle_input(at(5), Input::Response(ping, ResponseHead::new(200)))
        .unwrap();
    let pending = op.poll_timeout().expect("the body deadline is pending");
    assert!(pending > at(5));
    match op.next() {
        Some(Seen::Timeout(t)) => assert_eq!(t, pending),
        other => panic!("expected Timeout({pending:?}), got {other:?}"),
    }
    assert!(op.next().is_none(), "poll() after the drain's Timeout");
    assert!(op.next().is_none(), "poll() again, before an input");
}

#[test]
fn a_drain_ends_with_one_timeout_at_poll_timeout_then_none() {
    ends_with_the_timer(new_push());
    ends_with_the_timer(new_pull());
    ends_with_the_timer(new_fetch());
    ends_with_the_timer(new_copy());
}

/// The version check gets a `503`: nothing is in flight, and the retry's backoff ends the
/// drain — the runner's only reason to wake. At that instant the check goes out again.
fn backoff_ends_the_drain(mut op: impl Op) {
    let ping = first_drain(&mut op);
    op.handle_input(at(5), Input::Response(ping, ResponseHead::new(503)))
        .unwrap();
    let _ = drain(&mut op);
    op.handle_input(at(5), Input::BodyEnd(ping)).unwrap();
    let outs = drain(&mut op);
    let found = timeouts(&outs);
    let [(place, retry_at)] = found[..] else {
        panic!("expected one Timeout, got {outs:?}");
    };
    assert_eq!(place, outs.len() - 1, "the Timeout is the last output");
    assert!(retry_at > at(5), "{retry_at:?}");
    assert_eq!(op.poll_timeout(), Some(retry_at));
    assert!(!outs.iter().any(|o| matches!(o, Seen::Send(_))), "{outs:?}");
    op.handle_input(retry_at, Input::Timeout).unwrap();
    let outs = drain(&mut op);
    assert!(
        matches!(&outs[0], Seen::Send(req) if req.url.path() == "/v2/"),
        "{outs:?}"
    );
}

#[test]
fn a_retry_backoff_is_the_drains_last_output() {
    backoff_ends_the_drain(new_push());
    backoff_ends_the_drain(new_pull());
    backoff_ends_the_drain(new_fetch());
    backoff_ends_the_drain(new_copy());
}

/// After a drain ended with `Timeout(t)`: an early `Input::Timeout` (nothing due), a
/// misused input and a cancel each start a new drain, which ends with the timer again —
/// unless the operation finished.
fn every_input_restarts(mut op: impl Op) {
    let ping = first_drain(&mut op);
    op.handle_input(at(5), Input::Response(ping, ResponseHead::new(200)))
        .unwrap();
    let outs = drain(&mut op);
    let [Seen::Timeout(t)] = outs[..] else {
        panic!("expected the timer alone, got {outs:?}");
    };
    assert!(op.next().is_none());

    // Early is safe: nothing is due, the timer stays, and the new drain says it again.
    op.handle_input(at(6), Input::Timeout).unwrap();
    let outs = drain(&mut op);
    assert!(
        matches!(outs[..], [Seen::Timeout(again)] if again == t),
        "{outs:?}"
    );

    // An input the core refuses is still an input.
    let stray = RequestId(ping.0 + (1 << 50));
    assert!(op.handle_input(at(7), Input::BodyEnd(stray)).is_err());
    let outs = drain(&mut op);
    assert!(
        matches!(outs[..], [Seen::Timeout(again)] if again == t),
        "{outs:?}"
    );

    // A cancel: the operation ends (no Timeout after Finished) or, for a fetch, whose
    // streams are all that ends, the drain ends with the timer still pending.
    op.cancel();
    let outs = drain(&mut op);
    let found = timeouts(&outs);
    if outs.iter().any(|o| matches!(o, Seen::Finished)) {
        assert!(found.is_empty(), "{outs:?}");
        assert!(matches!(outs.last(), Some(Seen::Finished)), "{outs:?}");
        assert_eq!(op.poll_timeout(), None);
    } else {
        assert_eq!(found, [(outs.len() - 1, op.poll_timeout().unwrap())]);
    }
    assert!(op.next().is_none());
}

#[test]
fn every_input_and_a_cancel_start_a_new_drain() {
    every_input_restarts(new_push());
    every_input_restarts(new_pull());
    every_input_restarts(new_fetch());
    every_input_restarts(new_copy());
}

#[test]
fn opening_a_stream_starts_a_new_drain_too() {
    let mut fetch = new_fetch();
    let ping = first_drain(&mut fetch);
    fetch
        .handle_input(at(5), Input::Response(ping, ResponseHead::new(200)))
        .unwrap();
    let outs = drain(&mut fetch);
    let [Seen::Timeout(t)] = outs[..] else {
        panic!("expected the timer alone, got {outs:?}");
    };
    // The stream waits for the version check: no request yet, and the timer is said again.
    let digest = image(&[10]).plan.blobs[0].digest.clone();
    fetch.open(&digest, 0, 10);
    let outs = drain(&mut fetch);
    assert!(
        matches!(outs[..], [Seen::Timeout(again)] if again == t),
        "{outs:?}"
    );
}

/// After `Finished`: `poll()` stays `None` — no `Timeout` — whatever comes in, and no timer
/// is pending.
fn nothing_after_finished(op: &mut impl Op) {
    assert!(op.next().is_none());
    let later = at(3_600_000);
    op.handle_input(later, Input::Timeout).unwrap();
    assert!(op.next().is_none(), "an output after Finished");
    op.cancel();
    assert!(op.next().is_none(), "an output after Finished");
    assert_eq!(op.poll_timeout(), None);
}

#[test]
fn a_cancel_with_a_timer_pending_ends_with_finished_and_no_timeout() {
    fn check(mut op: impl Op) {
        let ping = first_drain(&mut op);
        op.handle_input(at(5), Input::Response(ping, ResponseHead::new(200)))
            .unwrap();
        assert!(matches!(drain(&mut op)[..], [Seen::Timeout(_)]));
        op.cancel();
        let outs = drain(&mut op);
        assert!(matches!(outs[..], [Seen::Finished]), "{outs:?}");
        nothing_after_finished(&mut op);
    }
    check(new_push());
    check(new_pull());
    check(new_copy());
}

/// Whole runs against the registry model, answered out of order: the kit's driver takes its
/// timer from each drain's `Timeout` and checks, after every drain, that it is
/// `poll_timeout()` (so a drain that leaves a timer ends with it) and that nothing follows
/// it; the runs needed timers, and after `Finished` nothing comes.
#[test]
fn whole_runs_take_their_timers_from_the_drains() {
    let img = image(&[300, 5000, 1800]);
    for seed in 0..8 {
        // Push.
        let mut model = RegistryModel::default();
        let plug = PushPlug::new(img.plan.clone(), &img.data, small_chunks());
        let mut driver = Driver::new(plug, vec![&mut model]).order(Order::Seeded(seed));
        driver.run();
        assert!(driver.result.as_ref().unwrap().is_ok());
        assert!(driver.timeouts > 0, "the push's drains named timers");
        nothing_after_finished(&mut driver.plug.push);

        // Pull.
        let mut model = published(&img);
        let plug = PullPlug::new(pull_plan(), plain_pull(), HashMap::new());
        let mut driver = Driver::new(plug, vec![&mut model]).order(Order::Seeded(seed));
        driver.run();
        assert!(driver.result.as_ref().unwrap().is_ok());
        assert!(driver.timeouts > 0, "the pull's drains named timers");
        nothing_after_finished(&mut driver.plug.pull);

        // Copy.
        let mut source = published(&img);
        let mut target = RegistryModel::default();
        let plug = CopyPlug::new(copy_plan(), copy_config());
        let mut driver =
            Driver::new(plug, vec![&mut source, &mut target]).order(Order::Seeded(seed));
        driver.run();
        assert!(driver.result.as_ref().unwrap().is_ok());
        assert!(driver.timeouts > 0, "the copy's drains named timers");
        nothing_after_finished(&mut driver.plug.copy);

        // Fetch: two ranges of a layer.
        let mut model = published(&img);
        let digest = &img.plan.blobs[1].digest;
        let mut plug = FetchPlug::new("127.0.0.1:5000", "team/app", &http(), Until::StreamsOver);
        plug.open(digest, 0, 2500, Some(img.data[1].clone()));
        plug.open(digest, 2500, 5000, Some(img.data[1].clone()));
        let mut driver = Driver::new(plug, vec![&mut model]).order(Order::Seeded(seed));
        driver.run();
        assert_eq!(driver.plug.ended.len(), 2);
        assert!(driver.timeouts > 0, "the fetch's drains named timers");
    }
}

/// A registry model holding `img` as `team/app:v1`.
fn published(img: &Image) -> RegistryModel {
    let mut model = RegistryModel::default();
    publish(&mut model, img, "v1");
    model
}

/// Body bytes reported sent past what a request's body holds (a count of `u64::MAX`, then
/// bytes) are the runner's misuse, refused without a panic (found by probing as an
/// embedder: the sum overflowed); the request goes on as if they never came.
#[test]
fn body_bytes_past_the_body_are_a_misuse_not_a_panic() {
    let img = image(&[300, 2000]);
    let mut model = RegistryModel::default();
    let mut op = Push::new(img.plan.clone(), small_chunks(), Instant::ZERO);
    let mut queue: Vec<Request> = Vec::new();
    for _ in 0..1000 {
        while let Some(out) = op.poll() {
            if let push::Output::Send(req) = out {
                queue.push(req);
            }
        }
        let Some(req) = queue.pop() else { break };
        let body = match &req.body {
            tug_core::http::Body::BlobRange { blob, start, end } => {
                img.data[*blob][*start as usize..*end as usize].to_vec()
            }
            tug_core::http::Body::Bytes(b) => b.clone(),
            _ => Vec::new(),
        };
        if !body.is_empty() && req.url.path().contains("/blobs/uploads/") {
            let id = req.id;
            let huge = op.handle_input(at(1), Input::BodyProgress(id, u64::MAX));
            assert!(
                matches!(huge, Err(tug_core::Misuse::OutOfOrder(_))),
                "{huge:?}"
            );
            let past = vec![0u8; body.len() + 1];
            let more = op.handle_input(at(1), Input::BodySent(id, &past));
            assert!(
                matches!(more, Err(tug_core::Misuse::OutOfOrder(_))),
                "{more:?}"
            );
            // The body as it is still goes.
            op.handle_input(at(1), Input::BodySent(id, &body)).unwrap();
            return;
        }
        let reply = model.handle(&req, &body).expect("the model answers");
        op.handle_input(at(1), Input::Response(req.id, reply.head))
            .unwrap();
        if !reply.body.is_empty() {
            op.handle_input(at(1), Input::BodyChunk(req.id, &reply.body))
                .unwrap();
        }
        op.handle_input(at(1), Input::BodyEnd(req.id)).unwrap();
    }
    panic!("no upload with a body was sent");
}
