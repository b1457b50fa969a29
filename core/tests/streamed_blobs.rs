//! Scenario tests of blobs made while they are sent (`tug push --compress`: a layer
//! compressed on the fly, its digest known only when its bytes end): the push opens an
//! upload at once, streams `PATCH` chunks without `Content-Range`, closes the session with
//! the digest the runner gives at the end, goes on from the registry's offset after a
//! failure (in the same run or a later one), and never closes a session whose bytes do not
//! have the digest. In virtual time, against the in-memory registry.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tug_core::http::{Body, Method, TransportErrorKind};
use tug_core::push::{Event, PlanBlob, PlanManifest, PushConfig, PushPlan, ResumableUpload};
use tug_core::{Digest, Error};
use tug_sansio_kit::images::{image, Image, MANIFEST_TYPE};
use tug_sansio_kit::ops::push::{run_push_streamed, Ends, PushPlug, Run};
use tug_sansio_kit::{Driver, Fault, RegistryModel};

fn config() -> PushConfig {
    tug_sansio_kit::ops::push::small_chunks()
}

/// The key streamed blob `i` goes by before its digest is known.
fn key(i: usize) -> Digest {
    Digest::sha256_of(format!("plain layer {i} at gzip level 6").as_bytes())
}

/// `img`'s plan with blobs `streamed` made while they are sent: each goes by its key, with
/// an estimate for its size, and the manifest is a placeholder until they all end.
fn streamed(img: &Image, streamed: &[usize]) -> PushPlan {
    let mut plan = img.plan.clone();
    for &i in streamed {
        plan.blobs[i] = PlanBlob {
            digest: key(i),
            size: 9000,
        };
    }
    plan.streamed = streamed.to_vec();
    let placeholder = b"not the manifest yet".to_vec();
    plan.manifest = PlanManifest {
        digest: Digest::sha256_of(&placeholder),
        bytes: placeholder,
        media_type: MANIFEST_TYPE.into(),
    };
    plan
}

fn push(model: &mut RegistryModel, img: &Image, plan: PushPlan, ends: Ends) -> Run {
    run_push_streamed(
        model,
        plan,
        &img.data,
        config(),
        ends,
        img.plan.manifest.clone(),
    )
}

fn assert_pushed(model: &RegistryModel, img: &Image) {
    for (d, b) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(
            model.blobs.get(&d.digest.to_string()),
            Some(b),
            "{}",
            d.digest
        );
    }
    let (bytes, _) = model.manifests.get("team/app:v1").expect("manifest tagged");
    assert_eq!(bytes, &img.plan.manifest.bytes, "the final manifest");
}

/// The `start` of every streamed `PATCH` body of plan blob `blob`, in order.
fn stream_starts(run: &Run, blob: usize) -> Vec<u64> {
    run.requests
        .iter()
        .filter_map(|r| match r.body {
            Body::BlobStream { blob: b, start, .. } if b == blob => Some(start),
            _ => None,
        })
        .collect()
}

#[test]
fn streamed_blobs_open_at_once_stream_chunks_and_close_with_the_digest_given_at_their_end() {
    for late in [false, true] {
        let mut model = RegistryModel::default();
        let img = image(&[300, 5000, 2000]);
        let run = push(
            &mut model,
            &img,
            streamed(&img, &[1, 2]),
            Ends { late, lie: false },
        );
        let report = run.result.as_ref().expect("push succeeds");
        assert_pushed(&model, &img);
        assert_eq!(report.blobs_uploaded, 3);
        assert_eq!(report.bytes_uploaded, 7300, "real sizes, not the estimates");
        // Nothing is asked about a blob before its digest is known: only the config is
        // checked.
        assert_eq!(model.count("HEAD"), 1, "late={late}: {:#?}", model.log);
        for r in run.requests.iter().filter(|r| r.method == Method::PATCH) {
            assert!(matches!(r.body, Body::BlobStream { .. }), "{:?}", r.body);
            assert!(!r.headers.contains_key("content-range"));
            assert!(!r.headers.contains_key("content-length"));
        }
        // 700-byte chunks, the last one short where the bytes end.
        assert_eq!(
            stream_starts(&run, 1),
            [0, 700, 1400, 2100, 2800, 3500, 4200, 4900]
        );
        assert_eq!(stream_starts(&run, 2), [0, 700, 1400]);
        for (i, b) in img.plan.blobs.iter().enumerate().skip(1) {
            let close = format!("digest={}", b.digest).replace(':', "%3A");
            assert!(
                model
                    .log
                    .iter()
                    .any(|l| l.starts_with("PUT ") && l.contains(&close)),
                "blob {i} closed with its digest: {:#?}",
                model.log
            );
        }
        // The sessions are announced (and closed) under the keys a later run finds them by.
        for i in [1, 2] {
            assert!(run.events.iter().any(|e| matches!(e,
                Event::UploadSession { blob, digest, .. } if *blob == i && *digest == key(i))));
            assert!(run.events.iter().any(|e| matches!(e,
                Event::UploadSessionClosed { blob, digest } if *blob == i && *digest == key(i))));
        }
        assert!(run.events.iter().any(|e| matches!(e,
            Event::BlobCommitted { blob: 1, digest, size: 5000 } if *digest == img.plan.blobs[1].digest)));
    }
}

#[test]
fn a_layer_used_twice_is_streamed_once() {
    let mut model = RegistryModel::default();
    let mut img = image(&[300, 3000]);
    img.data.push(img.data[1].clone());
    img.plan.blobs.push(img.plan.blobs[1].clone());
    let mut plan = streamed(&img, &[1, 2]);
    plan.blobs[2] = plan.blobs[1].clone();
    let run = push(&mut model, &img, plan, Ends::default());
    assert_eq!(run.result.as_ref().expect("pushed").blobs_uploaded, 2);
    assert_eq!(
        model.count("POST"),
        2,
        "the config's session and the layer's"
    );
    assert_eq!(stream_starts(&run, 2), Vec::<u64>::new());
}

#[test]
fn a_broken_chunk_goes_on_from_the_registrys_offset() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    // The third chunk breaks below HTTP: the registry holds two.
    model.fault(
        Fault::on(Method::PATCH, "/blobs/uploads/")
            .transport(TransportErrorKind::Io)
            .after(2),
    );
    let run = push(&mut model, &img, streamed(&img, &[1]), Ends::default());
    let report = run.result.as_ref().expect("push succeeds");
    assert!(report.retries >= 1);
    assert_pushed(&model, &img);
    assert!(
        model
            .log
            .iter()
            .any(|l| l.starts_with("GET ") && l.contains("/uploads/")),
        "asks where it stands: {:#?}",
        model.log
    );
    // The broken chunk began at 1400; after the status it begins there again, and each
    // byte the registry kept went once.
    assert_eq!(
        stream_starts(&run, 1),
        [0, 700, 1400, 1400, 2100, 2800, 3500, 4200, 4900]
    );
    assert_eq!(model.patch_sizes.iter().sum::<u64>(), 5000);
    assert_eq!(
        model.count("POST"),
        2,
        "the config's session and the layer's, once"
    );
}

#[test]
fn a_registry_keeping_less_than_was_sent_is_asked_and_the_stream_goes_on_from_there() {
    let mut model = RegistryModel {
        short_accept: Some(300),
        ..Default::default()
    };
    let img = image(&[300, 2000]);
    let run = push(&mut model, &img, streamed(&img, &[1]), Ends::default());
    run.result.as_ref().expect("push succeeds");
    assert_pushed(&model, &img);
    let starts = stream_starts(&run, 1);
    assert_eq!(
        starts[..2],
        [0, 300],
        "from the offset the registry reports: {starts:?}"
    );
}

#[test]
fn an_end_whose_digest_the_sent_bytes_do_not_have_fails_before_the_session_closes() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 3000]);
    let run = push(
        &mut model,
        &img,
        streamed(&img, &[1]),
        Ends {
            late: false,
            lie: true,
        },
    );
    match run.result {
        Err(Error::DigestMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, Digest::sha256_of(b"not these bytes"));
            assert_eq!(actual, img.plan.blobs[1].digest);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    // The layer's session (the one with PATCHes) was never closed.
    let layer_session = model
        .log
        .iter()
        .find(|l| l.starts_with("PATCH "))
        .and_then(|l| l.split(' ').nth(1))
        .expect("the layer was sent")
        .to_owned();
    assert!(
        !model
            .log
            .iter()
            .any(|l| l.starts_with("PUT ") && l.contains(&layer_session)),
        "no session closed: {:#?}",
        model.log
    );
    assert!(model.manifests.is_empty());
}

/// Runs a push of `plan` until the registry took `patches` chunks, then drops it (the
/// process was killed): the last session it announced.
fn killed_after(
    model: &mut RegistryModel,
    img: &Image,
    plan: PushPlan,
    patches: usize,
) -> ResumableUpload {
    let plug = PushPlug::new(plan.clone(), &img.data, config()).ends(
        &plan,
        Ends::default(),
        img.plan.manifest.clone(),
    );
    let mut driver = Driver::new(plug, vec![model]);
    while driver.models[0].patch_sizes.len() < patches {
        driver.step();
    }
    driver
        .plug
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::UploadSession {
                digest,
                location,
                committed,
                ..
            } => Some(ResumableUpload {
                digest: digest.clone(),
                location: location.clone(),
                committed: *committed,
            }),
            _ => None,
        })
        .expect("a session was announced")
}

#[test]
fn a_later_run_resumes_a_streamed_blobs_session_at_the_registrys_offset() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let session = killed_after(&mut model, &img, streamed(&img, &[1]), 3);
    assert_eq!(session.digest, key(1), "kept under the key");
    assert_eq!(session.committed, 2100);

    let mut plan = streamed(&img, &[1]);
    plan.resume = vec![session];
    let before = model.patch_sizes.len();
    let posts = model.count("POST");
    let config_in = model
        .blobs
        .contains_key(&img.plan.blobs[0].digest.to_string());
    let run = push(&mut model, &img, plan, Ends::default());
    run.result.as_ref().expect("push succeeds");
    assert_pushed(&model, &img);
    assert_eq!(
        model.count("POST"),
        posts + usize::from(!config_in),
        "no new session for the layer"
    );
    assert_eq!(
        stream_starts(&run, 1)[0],
        2100,
        "from the registry's offset"
    );
    let resent: u64 = model.patch_sizes[before..].iter().sum();
    assert_eq!(resent, 5000 - 2100, "no byte the registry had went again");
}

#[test]
fn an_earlier_runs_session_holding_other_bytes_is_given_up_for_a_fresh_one() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let session = killed_after(&mut model, &img, streamed(&img, &[1]), 3);
    // What the earlier run sent is not what this run makes (another compressor).
    for bytes in model.uploads.values_mut().filter(|b| b.len() > 10) {
        bytes[10] ^= 0xff;
    }
    let mut plan = streamed(&img, &[1]);
    plan.resume = vec![session];
    let posts = model.count("POST");
    let config_in = model
        .blobs
        .contains_key(&img.plan.blobs[0].digest.to_string());
    let run = push(&mut model, &img, plan, Ends::default());
    let report = run.result.as_ref().expect("push succeeds");
    assert_pushed(&model, &img);
    assert_eq!(
        model.count("POST"),
        posts + 1 + usize::from(!config_in),
        "one fresh session for the layer"
    );
    assert!(report.retries >= 1);
    assert_eq!(stream_starts(&run, 1)[0], 2100);
    assert_eq!(
        stream_starts(&run, 1).iter().filter(|&&s| s == 0).count(),
        1,
        "then everything from the start, once"
    );
}

#[test]
fn a_registry_refusing_chunked_uploads_fails_a_streamed_blob_with_a_clear_error() {
    let mut model = RegistryModel {
        patch_status: Some(405),
        ..Default::default()
    };
    let img = image(&[300, 3000]);
    let run = push(&mut model, &img, streamed(&img, &[1]), Ends::default());
    match run.result {
        Err(e @ Error::Registry { status: 405, .. }) => {
            let text = e.to_string();
            assert!(text.contains("needs a chunked upload"), "{text}");
        }
        other => panic!("expected the registry's refusal, got {other:?}"),
    }
    assert!(model.manifests.is_empty());
}

#[test]
fn a_dry_run_finds_streamed_blobs_missing_and_ends_without_their_manifests() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 3000]);
    let plan = streamed(&img, &[1]);
    let run = run_push_streamed(
        &mut model,
        plan,
        &img.data,
        PushConfig {
            dry_run: true,
            ..config()
        },
        Ends::default(),
        img.plan.manifest.clone(),
    );
    let report = run.result.as_ref().expect("the dry run ends");
    let mut missing = report.blobs_missing.clone();
    missing.sort_by_key(|d| d.to_string());
    let mut expected = vec![key(1), img.plan.blobs[0].digest.clone()];
    expected.sort_by_key(|d| d.to_string());
    assert_eq!(missing, expected, "the layer (by its key) and the config");
    assert!(!model
        .log
        .iter()
        .any(|l| l.starts_with("POST") || l.starts_with("PATCH")));
}

/// Drives a push of `img` with blob 1 streamed, answering by hand, until blob 1's first
/// `PATCH` went out: the registry answers `202` holding its first 3 bytes, as one that
/// answers before the body was all sent (the runner reported 3 bytes sent). Returns the
/// push and the instant.
fn first_chunk_answered_short(img: &Image) -> (tug_core::push::Push, tug_core::Instant) {
    use tug_core::http::ResponseHead;
    use tug_core::push::{Output, Push};
    use tug_core::Input;
    let mut push = Push::new(streamed(img, &[1]), config(), tug_core::Instant::ZERO);
    let now = tug_core::Instant::ZERO;
    let location = "/v2/team/app/blobs/uploads/u1";
    loop {
        let mut sent = Vec::new();
        while let Some(out) = push.poll() {
            if let Output::Send(req) = out {
                sent.push(req);
            }
        }
        assert!(!sent.is_empty(), "the push waits for an answer it got");
        for req in sent {
            let head = match (req.method.as_str(), &req.body) {
                ("PATCH", Body::BlobStream { start: 0, .. }) => {
                    push.handle_input(now, Input::BodyProgress(req.id, 3))
                        .unwrap();
                    let head = ResponseHead::new(202)
                        .with_header("Location", location)
                        .with_header("Range", "0-2");
                    push.handle_input(now, Input::Response(req.id, head))
                        .unwrap();
                    push.handle_input(now, Input::BodyEnd(req.id)).unwrap();
                    return (push, now);
                }
                ("GET", _) => ResponseHead::new(200),
                ("HEAD", _) => ResponseHead::new(404),
                ("POST", _) => ResponseHead::new(202).with_header("Location", location),
                ("PUT", _) => ResponseHead::new(201),
                other => panic!("unexpected request {other:?}"),
            };
            if let Body::BlobRange { start, end, .. } = req.body {
                push.handle_input(now, Input::BodyProgress(req.id, end - start))
                    .unwrap();
            }
            push.handle_input(now, Input::Response(req.id, head))
                .unwrap();
            push.handle_input(now, Input::BodyEnd(req.id)).unwrap();
        }
    }
}

/// The streamed `PATCH`es a drain of `push` sends, by their body's start.
fn stream_sent(push: &mut tug_core::push::Push) -> Vec<u64> {
    let mut starts = Vec::new();
    while let Some(out) = push.poll() {
        if let tug_core::push::Output::Send(req) = out {
            if let Body::BlobStream { start, .. } = req.body {
                starts.push(start);
            }
        }
    }
    starts
}

#[test]
fn a_short_chunk_whose_end_the_runner_never_tells_goes_on_from_the_registrys_offset() {
    let img = image(&[300, 2000]);
    let (mut push, now) = first_chunk_answered_short(&img);
    // The push waits for the runner to say where blob 1's bytes end — not forever: at the
    // stall timeout it asks for the next chunk from the registry's offset.
    assert_eq!(stream_sent(&mut push), Vec::<u64>::new());
    let wait = tug_core::limits::DEFAULT_STALL_TIMEOUT;
    assert_eq!(push.poll_timeout(), Some(now + wait));
    push.handle_input(now + wait, tug_core::Input::Timeout)
        .unwrap();
    assert_eq!(stream_sent(&mut push), [3]);

    // A runner that does tell the end in time: the session closes, and the wait's timer,
    // when it comes, sends nothing.
    let (mut push, now) = first_chunk_answered_short(&img);
    push.handle_blob_end(1, Digest::sha256_of(&img.data[1][..3]), 3)
        .unwrap();
    let mut closed = false;
    while let Some(out) = push.poll() {
        if let tug_core::push::Output::Send(req) = out {
            closed |=
                req.method == Method::PUT && req.url.query().is_some_and(|q| q.contains("digest="));
        }
    }
    assert!(closed, "the session is closed with the digest given");
    push.handle_input(now + wait, tug_core::Input::Timeout)
        .unwrap();
    assert_eq!(stream_sent(&mut push), Vec::<u64>::new());
}
