//! Response bodies the core reads into memory (manifests, errors, token answers) have a size
//! cap and a total deadline, in virtual time: an endless body fails its request as soon as
//! it passes the cap, a trickling one when its deadline passes (either is retried like a
//! broken connection), and the request the core gave up on is unknown to it from then on
//! (the runner's cue to stop reading it). Every request is also held to its stall deadline
//! by the core itself, so a host needs no timer per request.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::time::Duration;

use tug_core::http::{Request, RequestId, ResponseHead, TransportErrorKind};
use tug_core::pull::{Output, Pull, PullConfig, PullPlan};
use tug_core::retry::RetryPolicy;
use tug_core::{Error, Instant, Scheme, MAX_BODY_IN_MEMORY};

const DEADLINE: Duration = Duration::from_secs(60);

fn at(secs: f64) -> Instant {
    Instant::from_duration(Duration::from_secs_f64(secs))
}

fn pull(attempts: u32) -> Pull {
    let plan = PullPlan {
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: "v1".into(),
        platform: "linux/amd64".parse().unwrap(),
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
        platform_required: false,
    };
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            retry: RetryPolicy {
                max_attempts: attempts,
                ..RetryPolicy::default()
            },
            stall_timeout: DEADLINE,
            ..PullConfig::default().registry
        },
        ..PullConfig::default()
    };
    Pull::new(plan, config, Instant::ZERO)
}

/// What a drain of the outputs found.
struct Drained {
    sent: Vec<Request>,
    aborted: Vec<RequestId>,
    result: Option<Result<(), Error>>,
    /// The timer the drain's closing `Timeout` set.
    timer: Option<Instant>,
}

/// Drains outputs: the requests to send, those to stop, the result if the pull finished,
/// and the timer.
fn drain(p: &mut Pull) -> Drained {
    let mut d = Drained {
        sent: Vec::new(),
        aborted: Vec::new(),
        result: None,
        timer: None,
    };
    while let Some(out) = p.poll() {
        match out {
            Output::Send(r) => d.sent.push(r),
            Output::Abort(id) => d.aborted.push(id),
            Output::Finished(r) => d.result = Some(r.map(|_| ())),
            Output::Timeout(t) => d.timer = Some(t),
            _ => {}
        }
    }
    d
}

fn answer(p: &mut Pull, id: RequestId, head: ResponseHead, body: &[u8], now: Instant) {
    p.handle_input(now, tug_core::Input::Response(id, head))
        .unwrap();
    p.handle_input(now, tug_core::Input::BodyChunk(id, body))
        .unwrap();
    p.handle_input(now, tug_core::Input::BodyEnd(id)).unwrap();
}

/// Past the version check: the manifest request is out.
fn manifest_request(p: &mut Pull) -> Request {
    let sent = drain(p).sent;
    answer(p, sent[0].id, ResponseHead::new(200), b"{}", Instant::ZERO);
    let sent = drain(p).sent;
    assert!(
        sent[0].url.path().contains("/manifests/"),
        "{}",
        sent[0].url
    );
    sent[0].clone()
}

fn manifest_head() -> ResponseHead {
    ResponseHead::new(200).with_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
}

fn expect_error(result: Option<Result<(), Error>>, kind: TransportErrorKind) -> String {
    match result {
        Some(Err(e @ Error::Transport { .. })) => {
            let Error::Transport { error, .. } = &e else {
                unreachable!()
            };
            assert_eq!(error.kind, kind, "{e}");
            e.to_string()
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[test]
fn an_endless_manifest_fails_at_the_cap_and_is_not_read_further() {
    let mut p = pull(1);
    let req = manifest_request(&mut p);
    p.handle_input(
        Instant::ZERO,
        tug_core::Input::Response(req.id, manifest_head()),
    )
    .unwrap();
    let piece = vec![b' '; 64 * 1024];
    let mut fed = 0;
    let mut drained = drain(&mut p);
    while drained.result.is_none() {
        assert!(fed <= MAX_BODY_IN_MEMORY + piece.len(), "read past the cap");
        p.handle_input(Instant::ZERO, tug_core::Input::BodyChunk(req.id, &piece))
            .unwrap();
        fed += piece.len();
        drained = drain(&mut p);
    }
    assert!(fed > MAX_BODY_IN_MEMORY);
    assert_eq!(
        drained.aborted,
        [req.id],
        "the runner is told to stop reading it"
    );
    let message = expect_error(drained.result, TransportErrorKind::TooLarge);
    assert!(message.contains("manifest"), "{message}");
    assert!(message.contains("4 MiB"), "{message}");
    // What the runner still hands in about it is accepted and ignored.
    p.handle_input(Instant::ZERO, tug_core::Input::BodyChunk(req.id, &piece))
        .unwrap();
    p.handle_input(Instant::ZERO, tug_core::Input::BodyEnd(req.id))
        .unwrap();
}

#[test]
fn a_manifest_declared_over_the_cap_fails_at_its_first_bytes() {
    let mut p = pull(1);
    let req = manifest_request(&mut p);
    let head = manifest_head().with_header("Content-Length", &(MAX_BODY_IN_MEMORY + 1).to_string());
    p.handle_input(Instant::ZERO, tug_core::Input::Response(req.id, head))
        .unwrap();
    p.handle_input(Instant::ZERO, tug_core::Input::BodyChunk(req.id, b"{"))
        .unwrap();
    let message = expect_error(drain(&mut p).result, TransportErrorKind::TooLarge);
    assert!(message.contains("larger than 4 MiB"), "{message}");
}

#[test]
fn an_endless_answer_once_is_retried_and_the_next_one_taken() {
    let mut p = pull(3);
    let req = manifest_request(&mut p);
    p.handle_input(
        Instant::ZERO,
        tug_core::Input::Response(req.id, manifest_head()),
    )
    .unwrap();
    let piece = vec![b' '; 1 << 20];
    for _ in 0..=(MAX_BODY_IN_MEMORY >> 20) {
        p.handle_input(Instant::ZERO, tug_core::Input::BodyChunk(req.id, &piece))
            .unwrap();
    }
    let Drained {
        sent,
        result,
        timer,
        ..
    } = drain(&mut p);
    assert!(sent.is_empty() && result.is_none(), "{result:?}");
    let retry_at = timer.expect("a retry is scheduled");
    p.handle_input(retry_at, tug_core::Input::Timeout).unwrap();
    let sent = drain(&mut p).sent;
    assert!(sent[0].url.path().contains("/manifests/v1"));
    // The next answer is a manifest: the pull goes on to its blobs.
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
    answer(&mut p, sent[0].id, manifest_head(), manifest, retry_at);
    let Drained { sent, result, .. } = drain(&mut p);
    assert!(result.is_none(), "{result:?}");
    assert!(sent[0].url.path().contains("/blobs/"), "{}", sent[0].url);
}

#[test]
fn a_trickling_manifest_times_out_at_its_deadline_and_is_retried() {
    let mut p = pull(2);
    let req = manifest_request(&mut p);
    p.handle_input(at(1.0), tug_core::Input::Response(req.id, manifest_head()))
        .unwrap();
    assert_eq!(drain(&mut p).timer, Some(at(61.0)));
    // One byte a second: each under any stall timeout, the whole never done.
    let mut t = 1.0;
    while t < 60.5 {
        t += 1.0;
        p.handle_input(at(t), tug_core::Input::BodyChunk(req.id, b" "))
            .unwrap();
        assert!(drain(&mut p).sent.is_empty());
    }
    p.handle_input(at(61.0), tug_core::Input::Timeout).unwrap();
    // The retry asks again once its backoff passes; the runner stops the old request.
    let drained = drain(&mut p);
    assert!(drained.result.is_none() && drained.sent.is_empty());
    assert_eq!(
        drained.aborted,
        [req.id],
        "the runner is told to stop reading it"
    );
    p.handle_input(at(61.0), tug_core::Input::BodyChunk(req.id, b" "))
        .unwrap();
    let retry_at = drain(&mut p).timer.expect("a retry is scheduled");
    p.handle_input(retry_at, tug_core::Input::Timeout).unwrap();
    let sent = drain(&mut p).sent;
    assert!(sent[0].url.path().contains("/manifests/"));
    // Trickling again: retries are exhausted, the error says why.
    let again = sent[0].id;
    p.handle_input(retry_at, tug_core::Input::Response(again, manifest_head()))
        .unwrap();
    p.handle_input(retry_at + DEADLINE, tug_core::Input::Timeout)
        .unwrap();
    let message = expect_error(drain(&mut p).result, TransportErrorKind::Timeout);
    assert!(
        message.contains("did not arrive whole within 60 s"),
        "{message}"
    );
}

#[test]
fn a_token_answer_has_the_same_cap() {
    let mut p = pull(1);
    let sent = drain(&mut p).sent;
    let challenge = ResponseHead::new(401).with_header(
        "WWW-Authenticate",
        r#"Bearer realm="http://127.0.0.1:5000/token""#,
    );
    answer(&mut p, sent[0].id, challenge, b"", Instant::ZERO);
    let sent = drain(&mut p).sent;
    let token = &sent[0];
    assert!(token.url.path().ends_with("/token"));
    p.handle_input(
        Instant::ZERO,
        tug_core::Input::Response(token.id, ResponseHead::new(200)),
    )
    .unwrap();
    let piece = vec![b'x'; 1 << 20];
    let mut result = None;
    for _ in 0..=(MAX_BODY_IN_MEMORY >> 20) {
        p.handle_input(Instant::ZERO, tug_core::Input::BodyChunk(token.id, &piece))
            .unwrap();
        result = drain(&mut p).result;
        if result.is_some() {
            break;
        }
    }
    // No attempt left (one in all): the failure of the token server's answer, not a
    // refusal of the credentials.
    match result {
        Some(Err(e @ Error::Transport { .. })) => {
            assert!(e.to_string().contains("larger than 4 MiB"), "{e}");
            assert!(e.to_string().contains("fetching a token from"), "{e}");
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// A pull with `attempts` whose version check is challenged, and whose token server
/// answers its head at 2 s and then sends nothing: its body deadline is at 62 s.
fn trickling_token(attempts: u32) -> Pull {
    let mut p = pull(attempts);
    let sent = drain(&mut p).sent;
    let challenge = ResponseHead::new(401).with_header(
        "WWW-Authenticate",
        r#"Bearer realm="http://127.0.0.1:5000/token""#,
    );
    answer(&mut p, sent[0].id, challenge, b"", Instant::ZERO);
    let sent = drain(&mut p).sent;
    p.handle_input(
        at(2.0),
        tug_core::Input::Response(sent[0].id, ResponseHead::new(200)),
    )
    .unwrap();
    assert_eq!(drain(&mut p).timer, Some(at(62.0)));
    p
}

#[test]
fn a_trickling_token_answer_times_out() {
    let mut p = trickling_token(5);
    p.handle_input(at(62.0), tug_core::Input::Timeout).unwrap();
    // Retried like a broken connection: what waited for the token goes again after a
    // backoff delay, and asks for a token again.
    let waited = drain(&mut p);
    assert!(waited.result.is_none(), "{:?}", waited.result);
    let again = waited.timer.expect("a retry is scheduled");
    p.handle_input(again, tug_core::Input::Timeout).unwrap();
    let sent = drain(&mut p).sent;
    assert!(
        sent.iter().any(|r| r.url.path().ends_with("/token")),
        "{:?}",
        sent.iter().map(|r| r.url.as_str()).collect::<Vec<_>>()
    );
}

#[test]
fn a_token_server_that_keeps_trickling_fails_as_a_transport_error_after_its_attempts() {
    let mut p = trickling_token(1);
    p.handle_input(at(62.0), tug_core::Input::Timeout).unwrap();
    match drain(&mut p).result {
        Some(Err(e @ Error::Transport { .. })) => {
            assert!(e.to_string().contains("did not arrive whole"), "{e}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// An image manifest whose config and layers have digests of one repeated hex pair each
/// (blobs no registry answers here), with these sizes.
/// The blob requests a pull sends once its manifest (of `config` and `layers`) is
/// answered at 1 s.
fn blobs_asked(p: &mut Pull, config: (&str, u64), layers: &[(&str, u64)]) -> Vec<Request> {
    let req = manifest_request(p);
    let manifest = manifest_of(config, layers);
    answer(p, req.id, manifest_head(), manifest.as_bytes(), at(1.0));
    drain(p).sent
}

fn manifest_of(config: (&str, u64), layers: &[(&str, u64)]) -> String {
    let descriptor = |media_type: &str, (hex, size): (&str, u64)| {
        let digest = format!("sha256:{}", hex.repeat(32));
        format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
    };
    let layers: Vec<String> = layers
        .iter()
        .map(|&l| descriptor("application/vnd.oci.image.layer.v1.tar", l))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
        descriptor("application/vnd.oci.image.config.v1+json", config),
        layers.join(",")
    )
}

#[test]
fn a_request_nothing_moves_on_fails_at_its_stall_deadline_and_is_retried() {
    let mut p = pull(2);
    let req = manifest_request(&mut p);
    assert_eq!(
        drain(&mut p).timer,
        None,
        "the drain after sending already named it"
    );
    assert_eq!(p.poll_timeout(), Some(at(60.0)));
    // Early: nothing is due.
    p.handle_input(at(59.0), tug_core::Input::Timeout).unwrap();
    assert!(drain(&mut p).aborted.is_empty());
    p.handle_input(at(60.0), tug_core::Input::Timeout).unwrap();
    let drained = drain(&mut p);
    assert_eq!(drained.aborted, [req.id], "the runner is told to stop it");
    assert!(drained.result.is_none(), "{:?}", drained.result);
    let retry_at = drained.timer.expect("a retry is scheduled");
    p.handle_input(retry_at, tug_core::Input::Timeout).unwrap();
    let sent = drain(&mut p).sent;
    assert!(
        sent[0].url.path().contains("/manifests/"),
        "{}",
        sent[0].url
    );
    // Its answer never comes either: retries are exhausted, and the error says why.
    p.handle_input(retry_at + DEADLINE, tug_core::Input::Timeout)
        .unwrap();
    let message = expect_error(drain(&mut p).result, TransportErrorKind::Timeout);
    assert!(message.contains("no byte moved for 60 s"), "{message}");
}

#[test]
fn a_streamed_blob_that_keeps_moving_is_never_timed_out_and_one_that_stops_is() {
    let mut p = pull(1);
    let blob = blobs_asked(&mut p, ("ab", 1_000_000), &[]).remove(0);
    assert!(blob.url.path().contains("/blobs/"), "{}", blob.url);
    p.handle_input(
        at(2.0),
        tug_core::Input::Response(blob.id, ResponseHead::new(200)),
    )
    .unwrap();
    // A byte every 50 s for ten minutes: slow, never stalled, and no total deadline.
    let mut t = 2.0;
    while t < 600.0 {
        t += 50.0;
        p.handle_input(at(t), tug_core::Input::Timeout).unwrap();
        p.handle_input(at(t), tug_core::Input::BodyChunk(blob.id, b"x"))
            .unwrap();
        let drained = drain(&mut p);
        assert!(drained.aborted.is_empty() && drained.result.is_none());
        assert_eq!(drained.timer, Some(at(t + 60.0)));
    }
    p.handle_input(at(t + 60.0), tug_core::Input::Timeout)
        .unwrap();
    let message = expect_error(drain(&mut p).result, TransportErrorKind::Timeout);
    assert!(message.contains("no byte moved for 60 s"), "{message}");
}

#[test]
fn requests_due_at_once_end_the_pull_once_with_nothing_after_its_end() {
    let mut p = pull(1);
    let blobs = blobs_asked(&mut p, ("ab", 10), &[("cd", 10)]);
    assert_eq!(blobs.len(), 2, "both blobs are asked for at once");
    // Neither answers: both pass their stall deadline at the same instant, with no retry
    // left. The pull ends once; no output comes after `Finished`.
    p.handle_input(at(61.0), tug_core::Input::Timeout).unwrap();
    let mut outputs = Vec::new();
    while let Some(out) = p.poll() {
        outputs.push(out);
    }
    let end = outputs
        .iter()
        .position(|o| matches!(o, Output::Finished(_)))
        .expect("the pull ends");
    assert_eq!(end, outputs.len() - 1, "{outputs:?}");
}
