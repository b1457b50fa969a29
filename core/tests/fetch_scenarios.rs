//! Scenario tests of range fetches (the source side of a copy) in virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod support;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use http::Method;
use support::registry_model::{Fault, RegistryModel};
use tug_core::fetch::{Fetch, Output, StreamId};
use tug_core::http::{Request, TransportError, TransportErrorKind};
use tug_core::pull::PullConfig;
use tug_core::{Digest, Error, Instant, Scheme};

struct FetchRun {
    data: HashMap<StreamId, Vec<u8>>,
    ended: Vec<StreamId>,
    failed: Vec<(StreamId, Error)>,
    retries: usize,
}

/// Opens the given ranges of `digest` at once and drives the fetch until every stream ended.
fn run(model: &mut RegistryModel, digest: &Digest, ranges: &[(u64, u64)]) -> FetchRun {
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            ..PullConfig::default().registry
        },
        ..PullConfig::default()
    };
    let mut now = Instant::ZERO;
    let mut fetch = Fetch::new("127.0.0.1:5000", "team/app", &config.registry, now);
    let ids: Vec<StreamId> = ranges
        .iter()
        .map(|&(a, b)| fetch.open(digest, a, b))
        .collect();
    let mut run = FetchRun {
        data: HashMap::new(),
        ended: Vec::new(),
        failed: Vec::new(),
        retries: 0,
    };
    let mut pending: VecDeque<Request> = VecDeque::new();
    for _ in 0..10_000 {
        while let Some(out) = fetch.poll() {
            match out {
                Output::Send(r) => pending.push_back(r),
                Output::Data { stream, data } => run.data.entry(stream).or_default().extend(data),
                Output::End { stream } => run.ended.push(stream),
                Output::Failed { stream, error } => run.failed.push((stream, error)),
                Output::Retrying { .. } => run.retries += 1,
                _ => {}
            }
        }
        if run.ended.len() + run.failed.len() == ids.len() {
            return run;
        }
        if let Some(req) = pending.pop_front() {
            now = now + Duration::from_millis(10);
            match model.handle(&req, &[]) {
                Ok((head, body)) => {
                    fetch
                        .handle_input(now, tug_core::Input::Response(req.id, head))
                        .unwrap();
                    let cut = model.pending_cut.take();
                    let end = cut.unwrap_or(body.len()).min(body.len());
                    for chunk in body[..end].chunks(700) {
                        fetch
                            .handle_input(now, tug_core::Input::BodyChunk(req.id, chunk))
                            .unwrap();
                    }
                    if cut.is_some() {
                        let e = TransportError {
                            kind: TransportErrorKind::Io,
                            message: "reset".into(),
                        };
                        fetch
                            .handle_input(now, tug_core::Input::TransportError(req.id, e))
                            .unwrap();
                    } else {
                        fetch
                            .handle_input(now, tug_core::Input::BodyEnd(req.id))
                            .unwrap();
                    }
                }
                Err(e) => fetch
                    .handle_input(now, tug_core::Input::TransportError(req.id, e))
                    .unwrap(),
            }
        } else if let Some(t) = fetch.poll_timeout() {
            now = t;
            fetch.handle_input(now, tug_core::Input::Timeout).unwrap();
        } else {
            panic!("the fetch stalled");
        }
    }
    panic!("the fetch did not finish");
}

fn blob(model: &mut RegistryModel, n: usize) -> (Digest, Vec<u8>) {
    let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
    let d = Digest::sha256_of(&data);
    model.blobs.insert(d.to_string(), data.clone());
    (d, data)
}

#[test]
fn ranges_arrive_whole_and_in_order() {
    let mut model = RegistryModel::default();
    let (d, data) = blob(&mut model, 10_000);
    let r = run(&mut model, &d, &[(0, 4000), (4000, 10_000), (123, 124)]);
    assert!(r.failed.is_empty());
    assert_eq!(r.data[&StreamId(0)], data[..4000]);
    assert_eq!(r.data[&StreamId(1)], data[4000..]);
    assert_eq!(r.data[&StreamId(2)], data[123..124]);
    assert!(
        model
            .log
            .iter()
            .filter(|l| l.starts_with("GET /v2/team/app/blobs"))
            .count()
            == 3
    );
}

#[test]
fn a_broken_stream_resumes_where_it_stopped() {
    let mut model = RegistryModel {
        cut_next_blob_after: Some(2500),
        ..Default::default()
    };
    let (d, data) = blob(&mut model, 10_000);
    let r = run(&mut model, &d, &[(1000, 9000)]);
    assert_eq!(r.retries, 1);
    assert_eq!(r.data[&StreamId(0)], data[1000..9000]);
}

#[test]
fn a_server_that_ignores_ranges_still_yields_the_range() {
    let mut model = RegistryModel {
        ignore_ranges: true,
        ..Default::default()
    };
    let (d, data) = blob(&mut model, 10_000);
    let r = run(&mut model, &d, &[(3333, 7777)]);
    assert_eq!(r.data[&StreamId(0)], data[3333..7777]);
}

#[test]
fn a_206_for_another_range_is_asked_again() {
    let mut model = RegistryModel::default();
    let (d, data) = blob(&mut model, 10_000);
    model.faults.push_back(Fault {
        method: Method::GET,
        path_contains: "/blobs/".into(),
        response: Ok(206),
        extra_headers: vec![("Content-Range".into(), "bytes 9000-9999/10000".into())],
        forget_uploads: false,
        after: 0,
    });
    let r = run(&mut model, &d, &[(2000, 5000)]);
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.retries, 1);
    assert_eq!(r.data[&StreamId(0)], data[2000..5000]);
}

#[test]
fn a_missing_blob_fails_its_stream_with_the_registry_code() {
    let mut model = RegistryModel::default();
    let d = Digest::sha256_of(b"nope");
    let r = run(&mut model, &d, &[(0, 10)]);
    match &r.failed[0].1 {
        Error::Registry {
            status: 404,
            errors,
            ..
        } => assert!(errors.has_code("BLOB_UNKNOWN")),
        other => panic!("{other}"),
    }
}

#[test]
fn credentials_are_not_sent_to_blob_storage() {
    let mut model = RegistryModel {
        required_auth: Some("Basic dXNlcjpwYXNz".into()),
        redirect_blobs: true,
        ..Default::default()
    };
    let (d, data) = blob(&mut model, 5000);
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            credentials: Some(tug_core::Credentials {
                username: "user".into(),
                password: "pass".into(),
            }),
            ..PullConfig::default().registry
        },
        ..PullConfig::default()
    };
    let mut fetch = Fetch::new(
        "127.0.0.1:5000",
        "team/app",
        &config.registry,
        Instant::ZERO,
    );
    let s = fetch.open(&d, 0, 5000);
    let mut got = Vec::new();
    let mut pending = VecDeque::new();
    'outer: for _ in 0..100 {
        while let Some(out) = fetch.poll() {
            match out {
                Output::Send(r) => pending.push_back(r),
                Output::Data { data, .. } => got.extend(data),
                Output::End { stream } if stream == s => break 'outer,
                Output::Failed { error, .. } => panic!("{error}"),
                _ => {}
            }
        }
        let req: Request = pending.pop_front().expect("a request");
        let (head, body) = model.handle(&req, &[]).unwrap();
        fetch
            .handle_input(Instant::ZERO, tug_core::Input::Response(req.id, head))
            .unwrap();
        fetch
            .handle_input(Instant::ZERO, tug_core::Input::BodyChunk(req.id, &body))
            .unwrap();
        fetch
            .handle_input(Instant::ZERO, tug_core::Input::BodyEnd(req.id))
            .unwrap();
    }
    assert_eq!(got, data);
}

/// `tug login` checks credentials with a fetch of no repository: its token request names
/// no scope (as `docker login` does), not the malformed `repository::pull`.
#[test]
fn a_login_check_asks_for_a_token_without_a_scope() {
    let mut model = RegistryModel {
        bearer: Some(support::registry_model::BearerAuth {
            basic: Some("Basic dXNlcjpwYXNz".into()),
            expires_in: 300,
            useless_tokens: false,
            refresh_token: None,
        }),
        ..Default::default()
    };
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            credentials: Some(tug_core::Credentials {
                username: "user".into(),
                password: "pass".into(),
            }),
            ..PullConfig::default().registry
        },
        ..PullConfig::default()
    };
    let mut fetch = Fetch::new("127.0.0.1:5000", "", &config.registry, Instant::ZERO);
    let mut pending = VecDeque::new();
    'outer: for _ in 0..20 {
        while let Some(out) = fetch.poll() {
            match out {
                Output::Send(r) => pending.push_back(r),
                Output::Ready => break 'outer,
                Output::Failed { error, .. } => panic!("{error}"),
                _ => {}
            }
        }
        let req: Request = pending.pop_front().expect("a request");
        let (head, body) = model.handle(&req, &[]).unwrap();
        fetch
            .handle_input(Instant::ZERO, tug_core::Input::Response(req.id, head))
            .unwrap();
        fetch
            .handle_input(Instant::ZERO, tug_core::Input::BodyChunk(req.id, &body))
            .unwrap();
        fetch
            .handle_input(Instant::ZERO, tug_core::Input::BodyEnd(req.id))
            .unwrap();
    }
    let (auth, scopes) = &model.token_requests[0];
    assert!(auth.is_some(), "the token request carried the credentials");
    assert!(scopes.is_empty(), "scopes asked for: {scopes:?}");
}
