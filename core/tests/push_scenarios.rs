//! Scenario tests of the push state machine against an in-memory registry, in virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::time::Duration;

use tug_core::http::{Body, Method, TransportErrorKind};
use tug_core::push::{Event, PlanManifest, PushConfig, ResumableUpload};
use tug_core::{Credentials, Digest, Error, Scheme};
use tug_sansio_kit::images::{image, image_from, Image, MANIFEST_TYPE};
use tug_sansio_kit::ops::push::{run_push, Run};
use tug_sansio_kit::{Fault, LocationStyle, RegistryModel};

fn config() -> PushConfig {
    tug_sansio_kit::ops::push::small_chunks()
}

/// [`config`] with one blob at a time: each blob's answers come before the next opens.
fn one_at_a_time() -> PushConfig {
    PushConfig {
        transfer: tug_core::TransferConfig {
            jobs: 1,
            ..config().transfer
        },
        ..config()
    }
}

fn push(model: &mut RegistryModel, img: &Image, config: PushConfig) -> Run {
    run_push(model, img.plan.clone(), &img.data, config)
}

fn assert_pushed(model: &RegistryModel, img: &Image) {
    for (d, b) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(
            model.blobs.get(&d.digest.to_string()),
            Some(b),
            "blob {} differs",
            d.digest
        );
    }
    let (bytes, media_type) = model.manifests.get("team/app:v1").expect("manifest tagged");
    assert_eq!(bytes, &img.plan.manifest.bytes);
    assert_eq!(media_type, MANIFEST_TYPE);
}

#[test]
fn pushes_small_and_chunked_blobs_then_the_manifest_last() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 10, 1000, 0]);
    let run = push(&mut model, &img, config());
    let report = run.result.expect("push succeeds");
    assert_eq!(report.manifest_digest, img.plan.manifest.digest);
    assert_eq!(report.blobs_uploaded, 5);
    assert_eq!(report.bytes_uploaded, 6310);
    assert_pushed(&model, &img);
    // 5000 bytes in 700-byte chunks: 8 PATCHes, then a closing PUT.
    assert_eq!(model.patch_sizes.len(), 8);
    assert!(model.patch_sizes.iter().all(|&n| n <= 700));
    assert!(model
        .log
        .last()
        .unwrap()
        .starts_with("PUT /v2/team/app/manifests/v1"));
    let first_blob_put_after_manifest = model
        .log
        .iter()
        .skip_while(|l| !l.contains("/manifests/"))
        .any(|l| l.contains("/blobs/"));
    assert!(!first_blob_put_after_manifest);
    // Chunk requests carry inclusive Content-Range without a "bytes " prefix.
    let patch = run
        .requests
        .iter()
        .find(|r| r.method == Method::PATCH)
        .unwrap();
    assert_eq!(patch.headers["content-range"], "0-699");
    assert_eq!(patch.headers["content-length"], "700");
    let manifest_put = run.requests.last().unwrap();
    assert_eq!(manifest_put.headers["content-type"], MANIFEST_TYPE);
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::ManifestPushed { .. })));
}

#[test]
fn a_second_push_uploads_nothing() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 1000]);
    push(&mut model, &img, config()).result.unwrap();
    let before = model.log.len();
    let run = push(&mut model, &img, config());
    let report = run.result.unwrap();
    assert_eq!(report.blobs_skipped, 3);
    assert_eq!(report.blobs_uploaded, 0);
    let second: Vec<_> = model.log[before..].to_vec();
    assert!(
        second
            .iter()
            .all(|l| !l.starts_with("POST") && !l.starts_with("PATCH")),
        "{second:?}"
    );
    let sent: u64 = run.requests.iter().map(|r| r.body.len()).sum();
    assert_eq!(
        sent,
        img.plan.manifest.bytes.len() as u64,
        "only the manifest is sent"
    );
}

#[test]
fn relative_location_with_query_is_kept_and_digest_merged() {
    let mut model = RegistryModel {
        location_style: LocationStyle::RelativeWithState,
        ..Default::default()
    };
    let img = image(&[300, 2500]);
    let run = push(&mut model, &img, config());
    run.result.unwrap();
    assert_pushed(&model, &img);
    let closing = run
        .requests
        .iter()
        .find(|r| r.method == Method::PUT && r.url.query().is_some_and(|q| q.contains("digest=")))
        .unwrap();
    let q: Vec<(String, String)> = closing
        .url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert_eq!(q[0].0, "_state");
    assert_eq!(q[1].0, "digest");
    assert_eq!(closing.url.host_str(), Some("127.0.0.1"));
}

#[test]
fn relative_location_resolves_against_the_registry() {
    let mut model = RegistryModel {
        location_style: LocationStyle::Relative,
        ..Default::default()
    };
    let img = image(&[300, 2500]);
    let run = push(&mut model, &img, config());
    run.result.unwrap();
    assert!(run
        .requests
        .iter()
        .all(|r| r.url.as_str().starts_with("http://127.0.0.1:5000/v2/")));
}

#[test]
fn a_location_relative_to_the_request_path_resolves_against_that_path() {
    // `Location: <id>?_state=…` (no leading `/`): under `/v2/team/app/blobs/uploads/`
    // after the `POST`, and next to the session's own URL after a `PATCH`.
    let mut model = RegistryModel {
        location_style: LocationStyle::PathRelative,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let run = push(&mut model, &img, config());
    run.result.unwrap();
    assert_pushed(&model, &img);
    for r in run
        .requests
        .iter()
        .filter(|r| r.method != Method::HEAD && r.url.path() != "/v2/")
    {
        assert!(
            r.url.path().starts_with("/v2/team/app/blobs/uploads/")
                || r.url.path().starts_with("/v2/team/app/manifests/"),
            "{} {}",
            r.method,
            r.url
        );
    }
    assert!(model.patch_sizes.len() >= 3, "{:?}", model.patch_sizes);
}

/// An upload opened with an empty `Location`: no session URL, said as such; the bytes are
/// never sent to the `POST`'s own URL.
#[test]
fn an_empty_location_is_no_session_url() {
    let mut model = RegistryModel::default();
    model.fault(
        Fault::on(Method::POST, "/blobs/uploads/")
            .status(202)
            .header("Location", ""),
    );
    let img = image(&[300]);
    let run = push(&mut model, &img, config());
    let err = run.result.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("location"), "{err}");
    assert!(
        !run.requests
            .iter()
            .any(|r| r.method == Method::PUT && r.url.path() == "/v2/team/app/blobs/uploads/"),
        "nothing was sent to the POST's URL"
    );
}

#[test]
fn registry_minimum_chunk_length_is_honoured() {
    let mut model = RegistryModel {
        min_chunk: Some(2000),
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    push(&mut model, &img, config()).result.unwrap();
    assert_eq!(model.patch_sizes, [2000, 2000, 1000]);
    assert_pushed(&model, &img);
}

#[test]
fn a_short_range_answer_resends_from_the_confirmed_offset() {
    let mut model = RegistryModel {
        short_accept: Some(100),
        ..Default::default()
    };
    let img = image(&[300, 2100]);
    push(&mut model, &img, config()).result.unwrap();
    assert_eq!(model.patch_sizes[0], 700);
    assert_eq!(
        model.patch_sizes[1], 700,
        "the next chunk starts at the confirmed 100"
    );
    assert_pushed(&model, &img);
}

#[test]
fn basic_auth_challenge_is_answered_with_credentials() {
    let expected = "Basic dXNlcjpwYXNz"; // user:pass
    let mut model = RegistryModel {
        required_auth: Some(expected.into()),
        ..Default::default()
    };
    let img = image(&[300, 2500]);
    let creds = Credentials {
        username: "user".into(),
        password: "pass".into(),
    };
    let run = push(
        &mut model,
        &img,
        PushConfig {
            registry: tug_core::RegistryConfig {
                credentials: Some(creds),
                ..config().registry
            },
            ..config()
        },
    );
    run.result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(
        model.count("GET /v2/"),
        2,
        "one challenge, then authenticated"
    );
    let auth = &run.requests.last().unwrap().headers["authorization"];
    assert!(auth.is_sensitive());
}

#[test]
fn auth_failures_are_auth_errors() {
    let mut model = RegistryModel {
        required_auth: Some("Basic dXNlcjpwYXNz".into()),
        ..Default::default()
    };
    let img = image(&[300]);
    let err = push(&mut model, &img, config()).result.unwrap_err();
    assert!(
        matches!(&err, Error::Auth { message } if message.contains("requires authentication")),
        "{err}"
    );
    let wrong = Credentials {
        username: "user".into(),
        password: "nope".into(),
    };
    let err = push(
        &mut model,
        &img,
        PushConfig {
            registry: tug_core::RegistryConfig {
                credentials: Some(wrong),
                ..config().registry
            },
            ..config()
        },
    )
    .result
    .unwrap_err();
    assert!(
        matches!(&err, Error::Auth { message } if message.contains("rejected")),
        "{err}"
    );
    assert!(!err.to_string().contains("nope"));
    assert!(model.manifests.is_empty());
}

#[test]
fn a_500_during_a_chunk_resumes_from_the_committed_offset_after_a_backoff() {
    let mut model = RegistryModel::default();
    model.fault(Fault::on(Method::PATCH, "/blobs/uploads/").status(500));
    let img = image(&[300, 5000]);
    let run = push(&mut model, &img, config());
    let report = run.result.unwrap();
    assert_eq!(report.retries, 1);
    assert_pushed(&model, &img);
    let retry = run.events.iter().find_map(|e| match e {
        Event::Retrying(r) => Some((r.attempt, r.delay, r.reason.clone())),
        _ => None,
    });
    let (attempt, delay, reason) = retry.expect("a Retrying event");
    assert_eq!(attempt, 2);
    let base = tug_core::retry::RetryPolicy::default().base_delay;
    assert!(delay >= base / 2 && delay <= base, "{delay:?}");
    assert_eq!(reason, "500 from registry");
    assert_eq!(last_progress(&run.events).retries, 1, "progress counts it");
    assert_eq!(model.count("POST"), 2, "the session is kept");
    assert_eq!(
        model.count("GET /v2/team/app/blobs/uploads/"),
        1,
        "the offset was asked for"
    );
}

#[test]
fn retry_after_is_honoured_in_virtual_time() {
    let mut model = RegistryModel::default();
    model.fault(
        Fault::on(Method::HEAD, "/blobs/")
            .status(429)
            .header("Retry-After", "7"),
    );
    let img = image(&[300]);
    let run = push(&mut model, &img, config());
    run.result.unwrap();
    assert!(run.end.since_origin() >= Duration::from_secs(7));
}

/// A `Retry-After` past the time allowed for retries fails at once, and the error says
/// why it was not retried (it said only "registry answered 503").
#[test]
fn a_retry_after_past_the_time_budget_is_said_as_why_nothing_was_retried() {
    let mut model = RegistryModel::default();
    model.fault(
        Fault::on(Method::HEAD, "/blobs/")
            .status(503)
            .header("Retry-After", "120"),
    );
    let img = image(&[300]);
    let mut config = config();
    config.registry.retry.budget = Some(Duration::from_secs(5));
    let err = push(&mut model, &img, config)
        .result
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not retried: the next try would come in 30 s, past the 5 s allowed"),
        "{err}"
    );
    assert!(err.contains("answered 503"), "{err}");
}

#[test]
fn retries_are_bounded() {
    let mut model = RegistryModel::default();
    for _ in 0..10 {
        model.fault(Fault::on(Method::HEAD, "/blobs/").transport(TransportErrorKind::Io));
    }
    let img = image(&[300]);
    let err = push(&mut model, &img, config()).result.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(model.count("HEAD"), 5);
    assert!(model.manifests.is_empty());
}

#[test]
fn a_response_the_browser_blocked_is_final_at_once() {
    // A browser that withholds a response (CORS) gives the same answer every time.
    let mut model = RegistryModel::default();
    model.fault(Fault::on(Method::GET, "/v2/").transport(TransportErrorKind::Blocked));
    let img = image(&[300]);
    let run = push(&mut model, &img, config());
    match run.result {
        Err(Error::Transport { error, .. }) => assert_eq!(error.kind, TransportErrorKind::Blocked),
        other => panic!("expected a blocked transport error, got {other:?}"),
    }
    assert_eq!(run.requests.len(), 1, "nothing is retried");
    assert!(!run.events.iter().any(|e| matches!(e, Event::Retrying(_))));
}

#[test]
fn registry_errors_carry_code_and_stop_before_the_manifest() {
    let mut model = RegistryModel::default();
    model.fault(Fault::on(Method::POST, "/blobs/uploads/").status(404));
    let img = image(&[300, 400]);
    let err = push(&mut model, &img, config()).result.unwrap_err();
    match &err {
        Error::Registry {
            status,
            errors,
            action,
            ..
        } => {
            assert_eq!(*status, 404);
            assert!(errors.has_code("UNAVAILABLE"));
            assert!(action.starts_with("uploading blob sha256:"), "{action}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(model.manifests.is_empty());
}

#[test]
fn bytes_that_do_not_match_their_digest_are_never_committed() {
    let mut model = RegistryModel::default();
    let mut img = image(&[300, 5000]);
    img.data[1][4321] ^= 0xff; // corrupt the chunked layer after the plan was made
    let run = push(&mut model, &img, config());
    let err = run.result.unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { what, .. } if what == "blob 1 of the image"),
        "{err}"
    );
    assert_eq!(
        model.count("PUT"),
        1,
        "only the config's monolithic PUT; no closing PUT, no manifest"
    );
    assert!(model.manifests.is_empty());
}

#[test]
fn corrupt_monolithic_blob_is_reported_as_a_digest_mismatch() {
    let mut model = RegistryModel::default();
    let mut img = image(&[300]);
    img.data[0][0] ^= 1;
    let err = push(&mut model, &img, config()).result.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(model.blobs.is_empty());
}

/// A runner that reports counts of bytes sent, not the bytes (a browser): tug cannot hash
/// them, and the registry's `DIGEST_INVALID` says the image is wrong: an input error, as
/// when tug hashes them itself.
#[test]
fn a_digest_the_registry_refuses_is_the_image_s_fault_where_tug_could_not_hash() {
    use tug_sansio_kit::driver::Driver;
    use tug_sansio_kit::ops::push::PushPlug;
    for sizes in [&[300][..], &[300, 5000]] {
        let mut model = RegistryModel::default();
        let mut img = image(sizes);
        let last = img.data.len() - 1;
        img.data[last][0] ^= 1;
        let plug = PushPlug::new(img.plan.clone(), &img.data, config());
        let run = Run::of(Driver::new(plug, vec![&mut model]).sent_as_counts());
        match run.result {
            Err(Error::InvalidInput { message }) => {
                assert!(message.contains("DIGEST_INVALID"), "{message}")
            }
            other => panic!("{sizes:?}: expected an input error, got {other:?}"),
        }
        assert!(model.manifests.is_empty());
    }
}

#[test]
fn loopback_https_falls_back_to_plain_http() {
    let mut model = RegistryModel {
        plain_http_only: true,
        ..Default::default()
    };
    let img = image(&[300]);
    let run = push(
        &mut model,
        &img,
        PushConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::HttpsThenHttp,
                ..config().registry
            },
            ..config()
        },
    );
    let report = run.result.unwrap();
    assert!(report.plain_http);
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::PlainHttpFallback { .. })));
    assert_pushed(&model, &img);
    let err = push(
        &mut model,
        &img,
        PushConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::Https,
                ..config().registry
            },
            ..config()
        },
    )
    .result
    .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

#[test]
fn dry_run_reports_missing_blobs_and_uploads_nothing() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 400, 500]);
    model
        .blobs
        .insert(img.plan.blobs[1].digest.to_string(), img.data[1].clone());
    let report = push(
        &mut model,
        &img,
        PushConfig {
            dry_run: true,
            ..config()
        },
    )
    .result
    .unwrap();
    assert_eq!(report.blobs_skipped, 1);
    assert_eq!(report.blobs_missing.len(), 2);
    assert!(model
        .log
        .iter()
        .all(|l| l.starts_with("GET") || l.starts_with("HEAD")));
}

#[test]
fn duplicate_layers_are_pushed_once() {
    let mut model = RegistryModel::default();
    let layer: Vec<u8> = vec![7; 500];
    let img = image_from(vec![vec![1; 100], layer.clone(), layer]);
    let run = push(&mut model, &img, config());
    assert_eq!(run.result.unwrap().blobs_uploaded, 2);
    assert_eq!(model.count("HEAD"), 2);
}

#[test]
fn several_blobs_are_in_flight_at_once_within_the_job_limit() {
    let img = image(&[100, 200, 300, 400, 500, 600]);
    for jobs in [1, 3] {
        let mut model = RegistryModel::default();
        let run = push(
            &mut model,
            &img,
            PushConfig {
                transfer: tug_core::TransferConfig {
                    jobs,
                    ..config().transfer
                },
                ..config()
            },
        );
        run.result.unwrap();
        assert_eq!(run.max_in_flight, jobs);
    }
}

#[test]
fn a_wrong_manifest_digest_from_the_registry_is_a_protocol_error() {
    let mut model = RegistryModel {
        wrong_manifest_digest: Some(Digest::sha256_of(b"other").to_string()),
        ..Default::default()
    };
    let err = push(&mut model, &image(&[300]), config())
        .result
        .unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err}");
}

#[test]
fn a_digest_target_must_match_the_manifest() {
    let mut model = RegistryModel::default();
    let mut img = image(&[300]);
    img.plan.reference = Digest::sha256_of(b"something else").to_string();
    let err = push(&mut model, &img, config()).result.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert!(model.log.is_empty(), "nothing is sent");
}

/// The last progress snapshot of a run's events.
fn last_progress(events: &[Event]) -> tug_core::progress::Progress {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Progress(p) => Some(p.clone()),
            _ => None,
        })
        .expect("a progress event")
}

#[test]
fn progress_events_account_for_every_byte() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 1000]);
    let run = push(&mut model, &img, config());
    let last = last_progress(&run.events);
    assert_eq!(last.total_bytes, 6300);
    assert_eq!(last.done_bytes, 6300);
    assert_eq!(last.transferred_bytes, 6300);
    assert_eq!(last.eta, Some(Duration::ZERO));
    let chunked_progress = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::BlobProgress { blob: 1, .. }))
        .count();
    assert!(
        chunked_progress > 0,
        "the chunked blob reports progress while it moves"
    );
    assert_eq!(last.blobs_done, 3);
    assert!(last.sent_bytes >= 6300);
    assert!(last.bytes_per_second > 0.0);
    assert_eq!(
        (last.blobs_active, last.blobs_mounted, last.retries),
        (0, 0, 0)
    );
    let average = last.sent_bytes as f64 / last.elapsed.as_secs_f64();
    assert!(last.peak_bytes_per_second >= last.bytes_per_second.max(average));
    assert_eq!(
        run.result.as_ref().unwrap().peak_bytes_per_second,
        last.peak_bytes_per_second
    );
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::Progress(p) if p.blobs_active > 0)),
        "a blob in flight is counted while it moves"
    );
    let body_ranges: u64 = run
        .requests
        .iter()
        .filter_map(|r| match r.body {
            Body::BlobRange { start, end, .. } => Some(end - start),
            _ => None,
        })
        .sum();
    assert_eq!(body_ranges, 6300);
}

#[test]
fn a_multi_platform_index_is_pushed_after_its_manifests() {
    let mut model = RegistryModel::default();
    let amd = image(&[100, 2000]);
    let arm = image(&[101, 3000]);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{MANIFEST_TYPE}","digest":"{}","size":{}}},{{"mediaType":"{MANIFEST_TYPE}","digest":"{}","size":{}}}]}}"#,
        amd.plan.manifest.digest,
        amd.plan.manifest.bytes.len(),
        arm.plan.manifest.digest,
        arm.plan.manifest.bytes.len()
    )
    .into_bytes();
    let mut plan = amd.plan.clone();
    plan.blobs.extend(arm.plan.blobs.iter().cloned());
    plan.children = vec![amd.plan.manifest.clone(), arm.plan.manifest.clone()];
    plan.manifest = PlanManifest {
        digest: Digest::sha256_of(&index),
        bytes: index.clone(),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
    };
    let mut data = amd.data.clone();
    data.extend(arm.data.iter().cloned());
    let run = run_push(&mut model, plan, &data, config());
    run.result.unwrap();
    let puts: Vec<&String> = model
        .log
        .iter()
        .filter(|l| l.contains("/manifests/"))
        .collect();
    assert_eq!(puts.len(), 3);
    assert!(puts[0].ends_with(&amd.plan.manifest.digest.to_string()));
    assert!(puts[1].ends_with(&arm.plan.manifest.digest.to_string()));
    assert!(puts[2].ends_with("/manifests/v1"));
    assert_eq!(model.manifests["team/app:v1"].0, index);
}

/// A registry that keeps blobs per repository, holding `img` in `team/app` already.
fn holding_team_app(img: &Image) -> RegistryModel {
    let mut model = RegistryModel {
        repo_scoped: true,
        ..Default::default()
    };
    push(&mut model, img, config()).result.unwrap();
    model
}

/// Every blob of `img` seen in `repository`.
fn all_seen_in(img: &Image, repository: &str) -> std::collections::BTreeMap<Digest, Vec<String>> {
    img.plan
        .blobs
        .iter()
        .map(|b| (b.digest.clone(), vec![repository.to_owned()]))
        .collect()
}

#[test]
fn blobs_are_mounted_from_another_repository_without_sending_bytes() {
    let img = image(&[300, 5000, 1000]);
    let mut model = holding_team_app(&img);
    let mut plan = img.plan.clone();
    plan.repository = "other/app".into();
    plan.mount_from = Some("team/app".into());
    let run = run_push(&mut model, plan, &img.data, config());
    let report = run.result.unwrap();
    assert_eq!(report.blobs_mounted, 3);
    assert_eq!(report.blobs_uploaded, 0);
    assert_eq!(last_progress(&run.events).blobs_mounted, 3);
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::BlobMounted { .. })));
    let sent: u64 = run.requests.iter().map(|r| r.body.len()).sum();
    assert_eq!(sent, img.plan.manifest.bytes.len() as u64);
    assert!(model.manifests.contains_key("other/app:v1"));
}

/// Each blob is mounted from where the runner last saw it: one repository for one blob,
/// another for the next; a blob seen nowhere else is uploaded.
#[test]
fn each_blob_is_mounted_from_the_repository_it_was_seen_in() {
    let img = image(&[300, 5000, 1000]);
    let mut model = holding_team_app(&img);
    let (config_blob, layer, other) = (
        img.plan.blobs[0].digest.clone(),
        img.plan.blobs[1].digest.clone(),
        img.plan.blobs[2].digest.clone(),
    );
    let mut plan = img.plan.clone();
    plan.repository = "team/base".into();
    plan.reference = "v0".into();
    run_push(&mut model, plan, &img.data, config())
        .result
        .unwrap();

    let mut plan = img.plan.clone();
    plan.repository = "other/app".into();
    plan.mount_sources = [
        // The target itself is no source; the next place is.
        (config_blob, vec!["other/app".into(), "team/app".into()]),
        (layer, vec!["team/base".into()]),
        (other, vec!["Not A Repository".into()]),
    ]
    .into_iter()
    .collect();
    let run = run_push(&mut model, plan, &img.data, config());
    let report = run.result.unwrap();
    assert_eq!((report.blobs_mounted, report.blobs_uploaded), (2, 1));
    let posts: Vec<&String> = model.log.iter().filter(|l| l.starts_with("POST")).collect();
    let mounts: Vec<&&String> = posts.iter().filter(|l| l.contains("mount=")).collect();
    assert_eq!(mounts.len(), 2, "{posts:#?}");
    assert!(
        mounts.iter().any(|l| l.contains("from=team%2Fapp")),
        "{mounts:#?}"
    );
    assert!(
        mounts.iter().any(|l| l.contains("from=team%2Fbase")),
        "{mounts:#?}"
    );
}

fn hidden_repository_model(refuse_hidden_scopes: bool) -> RegistryModel {
    RegistryModel {
        repo_scoped: true,
        bearer: Some(tug_sansio_kit::BearerAuth {
            hidden: vec!["secret/base".into()],
            refuse_hidden_scopes,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A mount from a repository the account may not read is refused (`401` with a fresh
/// token too): the blob is uploaded instead, and that repository is not asked again.
#[test]
fn a_refused_mount_uploads_the_blob_instead() {
    for refuse_hidden_scopes in [false, true] {
        let mut model = hidden_repository_model(refuse_hidden_scopes);
        let img = image(&[300, 5000, 1000]);
        let mut plan = img.plan.clone();
        plan.mount_sources = all_seen_in(&img, "secret/base");
        // One blob at a time: the first blob's refusal is seen before the next one opens.
        let run = run_push(&mut model, plan, &img.data, one_at_a_time());
        let report = run.result.unwrap();
        assert_eq!((report.blobs_mounted, report.blobs_uploaded), (0, 3));
        assert_pushed(&model, &img);
        let mounts = model.log.iter().filter(|l| l.contains("mount=")).count();
        assert_eq!(
            mounts, 2,
            "a refused source is not asked again: {:#?}",
            model.log
        );
        let last_token = model.token_requests.last().unwrap();
        if refuse_hidden_scopes {
            assert!(
                !last_token.1.iter().any(|s| s.contains("secret/base")),
                "the refused token request was asked again without the optional scope: {:?}",
                model.token_requests
            );
        } else {
            assert!(mounts >= 1, "the mount was tried");
        }
    }
}

/// A mount answered with neither `201` nor `202` — a `404` for the source, or a `500` that
/// would be retried anywhere else — gets the blob uploaded at once (no retry), and that
/// source is asked no more.
#[test]
fn a_mount_answered_with_an_error_uploads_the_blob_without_retrying() {
    for status in [404, 500] {
        let img = image(&[300, 5000, 1000]);
        let mut model = holding_team_app(&img);
        let mut plan = img.plan.clone();
        plan.repository = "other/app".into();
        plan.mount_sources = all_seen_in(&img, "team/app");
        model.fault(Fault::on(Method::POST, "/other/app/blobs/uploads/").status(status));
        let run = run_push(&mut model, plan, &img.data, one_at_a_time());
        let report = run.result.unwrap();
        assert_eq!(
            (report.blobs_mounted, report.blobs_uploaded),
            (0, 3),
            "{status}"
        );
        assert_eq!(report.retries, 0, "{status}: {:#?}", run.events);
        let mounts = model.log.iter().filter(|l| l.contains("mount=")).count();
        assert_eq!(mounts, 1, "{status}: {:#?}", model.log);
        assert!(model.manifests.contains_key("other/app:v1"));
    }
}

/// A registry that says `201` to a mount it did not make: the manifest names the blob
/// unknown, the blob is checked again, found missing, and uploaded (not mounted again).
#[test]
fn a_mount_that_was_not_made_is_uploaded_after_the_manifest_names_it() {
    let mut model = RegistryModel {
        repo_scoped: true,
        lying_mounts: true,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let mut plan = img.plan.clone();
    plan.mount_sources = all_seen_in(&img, "gone/app");
    let report = run_push(&mut model, plan, &img.data, one_at_a_time())
        .result
        .unwrap();
    assert_pushed(&model, &img);
    assert_eq!(report.blobs_uploaded, 2, "{report:?}");
    let mounts = model.log.iter().filter(|l| l.contains("mount=")).count();
    assert_eq!(mounts, 2, "each blob asked once: {:#?}", model.log);
}

/// A token server that gives no token (here `404`) for a request with a mount source's
/// scope is asked once more without it.
#[test]
fn a_token_server_failing_a_request_with_a_mount_scope_is_asked_without_it() {
    let mut model = RegistryModel {
        bearer: Some(tug_sansio_kit::BearerAuth::default()),
        ..Default::default()
    };
    model.fault(Fault::on(Method::GET, "/token").status(404));
    let img = image(&[300, 5000]);
    let mut plan = img.plan.clone();
    plan.mount_sources = all_seen_in(&img, "old/app");
    run_push(&mut model, plan, &img.data, config())
        .result
        .unwrap();
    assert_pushed(&model, &img);
    let asked: Vec<bool> = model
        .token_requests
        .iter()
        .map(|(_, scopes)| scopes.iter().any(|s| s.contains("old/app")))
        .collect();
    // (The refused request is the fault's: the token server logs the one that followed.)
    assert_eq!(asked, [false], "{:?}", model.token_requests);
    assert!(model.faults.is_empty(), "the 404 was given");
}

#[test]
fn a_broken_chunk_resends_only_that_chunk() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    model.fault(Fault::on(Method::PATCH, "/blobs/uploads/u1").transport(TransportErrorKind::Io));
    // u0 is the config's session; u1 the layer's: its first PATCH breaks.
    let run = push(&mut model, &img, config());
    run.result.unwrap();
    assert_pushed(&model, &img);
    let sent: u64 = run
        .requests
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .map(|r| r.body.len())
        .sum();
    assert_eq!(sent, 5000 + 700, "exactly one chunk is sent twice");
    assert_eq!(model.count("POST"), 2);
}

#[test]
fn a_lost_upload_session_starts_over() {
    let mut model = RegistryModel::default();
    model.fault(
        Fault::on(Method::PATCH, "/blobs/uploads/")
            .status(503)
            .forget_uploads(),
    );
    let img = image(&[300, 5000]);
    let run = push(&mut model, &img, one_at_a_time());
    run.result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(
        model.count("POST"),
        3,
        "a new session after BLOB_UPLOAD_UNKNOWN"
    );
}

/// The location and committed bytes of the upload session `events` announced last.
fn last_session(events: &[Event]) -> (String, u64) {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::UploadSession {
                location,
                committed,
                ..
            } => Some((location.clone(), *committed)),
            _ => None,
        })
        .expect("an upload session was announced")
}

/// A push stopped while a chunk is on its way lets that chunk's answer come (its bytes
/// reach the registry anyway, and distribution then refuses the session token of the
/// answer before it): the session is announced at the offset after the chunk, nothing new
/// is sent, and the push finishes cancelled; the next run goes on from there.
#[test]
fn a_push_wound_down_mid_chunk_keeps_the_session_after_the_chunk_on_its_way() {
    use tug_sansio_kit::ops::push::PushPlug;
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let plug = PushPlug::new(img.plan.clone(), &img.data, one_at_a_time());
    let mut driver = tug_sansio_kit::Driver::new(plug, vec![&mut model]);
    let patch_in_flight = |d: &tug_sansio_kit::Driver<'_, PushPlug>| {
        let patches = d.requests.iter().filter(|(_, r)| r.method == Method::PATCH);
        patches.count() >= 2 && d.flights.iter().any(|f| f.req.method == Method::PATCH)
    };
    while !patch_in_flight(&driver) {
        driver.step();
    }
    let sent = driver.requests.len();
    driver.wind_down();
    driver.run();
    assert!(
        matches!(driver.result, Some(Err(Error::Cancelled))),
        "{:?}",
        driver.result
    );
    assert_eq!(driver.requests.len(), sent, "nothing new is sent");
    let (location, committed) = last_session(&driver.plug.events);
    assert_eq!(
        committed, 1400,
        "after the second chunk, the one on its way"
    );
    drop(driver);
    let mut plan = img.plan.clone();
    plan.resume = vec![ResumableUpload {
        digest: img.plan.blobs[1].digest.clone(),
        location,
        committed,
    }];
    let again = run_push(&mut model, plan, &img.data, config());
    assert_eq!(again.result.as_ref().unwrap().bytes_resumed, 1400);
    assert_pushed(&model, &img);
}

/// A chunk on its way that does not answer within the grace period is given up: the push
/// stops then, not at its stall timeout.
#[test]
fn a_wound_down_push_gives_up_a_chunk_that_does_not_answer_in_time() {
    use tug_sansio_kit::ops::push::PushPlug;
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let plug = PushPlug::new(img.plan.clone(), &img.data, one_at_a_time());
    let mut driver = tug_sansio_kit::Driver::new(plug, vec![&mut model]);
    while !driver.flights.iter().any(|f| f.req.method == Method::PATCH) {
        driver.step();
    }
    let stopped = driver.now;
    driver.wind_down();
    assert!(driver.result.is_none(), "it waits for the chunk");
    assert_eq!(
        driver.timer,
        Some(stopped + tug_core::limits::WIND_DOWN_GRACE),
        "until the grace period ends"
    );
    driver.fire();
    assert!(
        matches!(driver.result, Some(Err(Error::Cancelled))),
        "{:?}",
        driver.result
    );
}

/// No retries: a run dies at its first fault.
fn no_retry() -> PushConfig {
    PushConfig {
        registry: tug_core::RegistryConfig {
            retry: tug_core::retry::RetryPolicy {
                max_attempts: 1,
                ..Default::default()
            },
            ..config().registry
        },
        ..config()
    }
}

/// A first run of `img` (config, then a 5000-byte layer) into `model` that dies on the
/// layer's third chunk, leaving its upload session open: the session it announced.
fn session_left_open(model: &mut RegistryModel, img: &Image) -> ResumableUpload {
    model.fault(
        Fault::on(Method::PATCH, "/blobs/uploads/u1")
            .transport(TransportErrorKind::Io)
            .after(2),
    );
    let first = push(model, img, no_retry());
    assert!(first.result.is_err());
    let (location, committed) = last_session(&first.events);
    ResumableUpload {
        digest: img.plan.blobs[1].digest.clone(),
        location,
        committed,
    }
}

#[test]
fn an_upload_left_open_by_an_earlier_run_is_resumed() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let left = session_left_open(&mut model, &img);
    assert_eq!(left.committed, 1400);
    let mut plan = img.plan.clone();
    plan.resume = vec![left];
    let posts_before = model.count("POST");
    let second = run_push(&mut model, plan, &img.data, no_retry());
    let report = second.result.as_ref().unwrap();
    assert_eq!(report.bytes_resumed, 1400, "counted, not sent by this run");
    assert_eq!(
        report.bytes_uploaded, 5000,
        "the layer (the config went in the first run)"
    );
    let resumed: Vec<&Event> = second
        .events
        .iter()
        .filter(|e| matches!(e, Event::BlobResumed { .. }))
        .collect();
    assert_eq!(
        resumed,
        vec![&Event::BlobResumed {
            blob: 1,
            digest: img.plan.blobs[1].digest.clone(),
            from: 1400,
            size: 5000
        }],
        "said once, with the registry's offset"
    );
    assert_pushed(&model, &img);
    assert_eq!(model.count("POST"), posts_before, "no new session");
    let sent: u64 = second
        .requests
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .map(|r| r.body.len())
        .sum();
    assert_eq!(sent, 5000 - 1400, "only what the registry lacked");
}

/// Bytes this run sent in blob upload bodies.
fn body_bytes(run: &Run) -> u64 {
    run.requests
        .iter()
        .filter(|r| matches!(r.method, Method::PATCH | Method::PUT))
        .filter(|r| r.url.path().contains("/blobs/uploads/"))
        .map(|r| r.body.len())
        .sum()
}

/// A layer whose session an earlier run left open, and which another repository of the
/// registry got meanwhile: mounted from there (nothing sent), not resumed (the rest of it
/// sent), and its old session forgotten.
#[test]
fn a_blob_another_repository_holds_is_mounted_rather_than_its_session_resumed() {
    let mut model = RegistryModel {
        repo_scoped: true,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let left = session_left_open(&mut model, &img);
    let mut other = img.plan.clone();
    other.repository = "other/app".into();
    run_push(&mut model, other, &img.data, config())
        .result
        .unwrap();
    let mut plan = img.plan.clone();
    plan.resume = vec![left];
    plan.mount_sources = all_seen_in(&img, "other/app");
    let run = run_push(&mut model, plan, &img.data, no_retry());
    let report = run.result.as_ref().unwrap();
    assert_eq!(report.blobs_mounted, 1, "the layer");
    assert_eq!(body_bytes(&run), 0, "nothing sent");
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::UploadSessionClosed { blob: 1, .. })),
        "the old session is forgotten: {:#?}",
        run.events
    );
    assert_pushed(&model, &img);
}

/// The same, where the mount is refused (the source does not hold it; the registry opens
/// a new session instead, `202`): the session the earlier run left goes on.
#[test]
fn a_refused_mount_resumes_the_session_left_open() {
    let mut model = RegistryModel {
        repo_scoped: true,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let left = session_left_open(&mut model, &img);
    let mut plan = img.plan.clone();
    plan.resume = vec![left];
    plan.mount_sources = all_seen_in(&img, "gone/app");
    let run = run_push(&mut model, plan, &img.data, no_retry());
    let report = run.result.as_ref().unwrap();
    assert_eq!((report.blobs_mounted, report.bytes_resumed), (0, 1400));
    assert_eq!(
        body_bytes(&run),
        5000 - 1400,
        "only what the registry lacked"
    );
    assert_pushed(&model, &img);
}

/// A session an earlier run left whose status reports cannot be right (ahead of anything
/// sent, again and again): given up for a new session, not a failed push.
#[test]
fn a_resumed_session_whose_reports_keep_disagreeing_is_started_over() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let left = session_left_open(&mut model, &img);
    for _ in 0..20 {
        model.fault(
            Fault::on(Method::GET, "/blobs/uploads/u1")
                .status(204)
                .header("Range", "0-999999"),
        );
    }
    let mut plan = img.plan.clone();
    plan.resume = vec![left];
    let posts_before = model.count("POST");
    let second = run_push(&mut model, plan, &img.data, config());
    second.result.unwrap();
    assert_pushed(&model, &img);
    assert!(model.count("POST") > posts_before, "a new session");
}

/// A session an earlier run left whose address cannot be reached (a node gone from behind
/// a load balancer): given up for a new session after its attempts, not a failed push; the
/// runner is told to forget it.
#[test]
fn a_resumed_session_that_cannot_be_reached_is_started_over() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let left = session_left_open(&mut model, &img);
    for _ in 0..20 {
        model.fault(
            Fault::on(Method::GET, "/blobs/uploads/u1").transport(TransportErrorKind::Connect),
        );
    }
    let mut plan = img.plan.clone();
    plan.resume = vec![left];
    let posts_before = model.count("POST");
    let second = run_push(&mut model, plan, &img.data, config());
    second.result.unwrap();
    assert_pushed(&model, &img);
    assert!(model.count("POST") > posts_before, "a new session");
    assert!(
        second
            .events
            .iter()
            .any(|e| matches!(e, Event::UploadSessionClosed { .. })),
        "the old session is forgotten"
    );
}

/// A session an earlier run left that the registry dropped (distribution drops one whose
/// chunk broke off): the push says so and opens a fresh one.
#[test]
fn a_resumed_session_the_registry_dropped_is_said_and_started_over() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let left = session_left_open(&mut model, &img);
    model.fault(Fault::on(Method::GET, "/blobs/uploads/u1").status(404));
    let mut plan = img.plan.clone();
    plan.resume = vec![left];
    let run = run_push(&mut model, plan, &img.data, config());
    run.result.unwrap();
    assert_pushed(&model, &img);
    let said = run.events.iter().any(|e| {
        matches!(e, Event::Retrying(r)
            if r.reason.contains("no longer takes the upload session")
                && r.blob.as_ref() == Some(&img.plan.blobs[1].digest))
    });
    assert!(said, "said, and of the layer: {:#?}", run.events);
}

#[test]
fn a_registry_without_patch_gets_whole_blobs() {
    let mut model = RegistryModel {
        patch_status: Some(405),
        ..Default::default()
    };
    let img = image(&[300, 5000, 3000]);
    push(&mut model, &img, one_at_a_time()).result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(
        model.count("PATCH"),
        1,
        "one refused PATCH, then monolithic PUTs"
    );
}

/// A push of blobs of `sizes` into `model` (its body limit set), one blob at a time, whole
/// blobs up to `monolithic_max` bytes and chunks of `chunk_size` at first.
fn push_through_body_limit(
    mut model: RegistryModel,
    sizes: &[usize],
    (monolithic_max, chunk_size): (u64, u64),
) -> (RegistryModel, Image, Run) {
    let img = image(sizes);
    let config = PushConfig {
        transfer: tug_core::TransferConfig {
            jobs: 1,
            ..config().transfer
        },
        monolithic_max,
        chunk_size,
        ..config()
    };
    let run = push(&mut model, &img, config);
    (model, img, run)
}

/// A registry model refusing bodies over `cap` bytes (`413`, or a reset connection).
fn capped(cap: usize, resets: bool) -> RegistryModel {
    RegistryModel {
        body_cap: Some(cap),
        body_cap_resets: resets,
        ..Default::default()
    }
}

/// The push went through, every chunk within `cap`.
fn assert_pushed_within(model: &RegistryModel, img: &Image, run: Run, cap: u64) {
    run.result.unwrap();
    assert_pushed(model, img);
    assert!(
        model.patch_sizes.iter().all(|&n| n <= cap),
        "{:?}",
        model.patch_sizes
    );
}

#[test]
fn a_body_limit_shrinks_the_chunks() {
    let (model, img, run) =
        push_through_body_limit(capped(8000, false), &[300, 50_000, 9000], (10_000, 20_000));
    assert_pushed_within(&model, &img, run, 8000);
}

/// A limit far below the first body (nginx's default `client_max_body_size 1m` before a
/// 40 MiB layer): the chunks halve as often as it takes, each `413` being news, not a
/// failed attempt; the retry budget is not spent on them.
#[test]
fn a_body_limit_far_below_the_first_body_is_found_however_many_halvings_it_takes() {
    let first = (1_000_000, 1_000_000);
    let (model, img, run) = push_through_body_limit(capped(8000, false), &[300, 400_000], first);
    assert_pushed_within(&model, &img, run, 8000);
}

/// Below the smallest chunk tug sends, a `413` fails the push, naming the status.
#[test]
fn a_body_limit_below_the_smallest_chunk_fails_naming_the_413() {
    let first = (1_000_000, 1_000_000);
    let (_, _, run) = push_through_body_limit(capped(1000, false), &[300, 50_000], first);
    let err = run.result.unwrap_err().to_string();
    assert!(err.contains("registry answered 413"), "{err}");
}

#[test]
fn a_body_limit_that_resets_connections_shrinks_the_chunks() {
    // A proxy's request size limit that drops the connection instead of answering 413:
    // a body breaking twice at the same place halves the chunks, until they pass.
    let (model, img, run) =
        push_through_body_limit(capped(6000, true), &[300, 50_000, 9000], (10_000, 40_000));
    assert_pushed_within(&model, &img, run, 6000);
}

/// The answer to a closing `PUT` lost after the registry committed the blob: the session
/// is gone, and a `HEAD` finds the blob there; nothing is sent twice.
#[test]
fn a_blob_whose_closing_answer_was_lost_is_found_not_sent_again() {
    let img = image(&[300, 5000]);
    // The config's monolithic `PUT`, then (all chunked) the config's closing `PUT`.
    for monolithic_max in [1000, 0] {
        let mut model = RegistryModel {
            lose_close_answers: 1,
            ..RegistryModel::default()
        };
        let config = PushConfig {
            monolithic_max,
            ..one_at_a_time()
        };
        let run = push(&mut model, &img, config);
        let report = run.result.unwrap();
        assert_pushed(&model, &img);
        assert_eq!(model.lose_close_answers, 0, "an answer was lost");
        let opened = model.count("POST /v2/team/app/blobs/uploads/");
        assert_eq!(opened, 2, "one session a blob: {:#?}", model.log);
        assert_eq!(report.blobs_uploaded, 2, "{report:?}");
    }
}

/// A registry whose answers to closing `PUT`s are always lost and that keeps nothing: the
/// push asks, sends again, and gives up when its attempts are spent, never going on for
/// ever.
#[test]
fn answers_lost_for_ever_end_the_push_when_its_attempts_are_spent() {
    let mut model = RegistryModel::default();
    for _ in 0..50 {
        model.fault(Fault::on(Method::PUT, "/blobs/uploads/").transport(TransportErrorKind::Io));
    }
    let img = image(&[300]);
    let run = push(&mut model, &img, one_at_a_time());
    assert!(run.result.is_err(), "{:?}", run.result);
    let puts = model.count("PUT /v2/team/app/blobs/uploads/");
    assert!(puts <= 6, "{puts} PUTs: {:#?}", model.log);
}

/// `--retries` counts attempts per request: two `429`s to a blob's `HEAD` spend none of
/// its `PATCH`es' attempts.
#[test]
fn a_check_s_retries_spend_none_of_the_upload_s() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let layer = img.plan.blobs[1].digest.to_string();
    for _ in 0..2 {
        model.fault(Fault::on(Method::HEAD, &layer).status(429));
    }
    for _ in 0..3 {
        model.fault(Fault::on(Method::PATCH, "/blobs/uploads/").status(503));
    }
    let mut config = one_at_a_time();
    config.registry.retry.max_attempts = 4;
    let run = push(&mut model, &img, config);
    run.result.unwrap();
    assert_pushed(&model, &img);
    assert!(model.faults.is_empty(), "every fault struck");
}

/// A link that drops now and then: each chunk breaks off twice before it passes. That is
/// no body cap (a cap breaks one body every time): the chunks keep their size.
#[test]
fn bodies_breaking_at_random_do_not_shrink_the_chunks() {
    let mut model = RegistryModel::default();
    for k in 0..12 {
        let reset = Fault::on(Method::PATCH, "/blobs/uploads/").transport(TransportErrorKind::Io);
        model.fault(reset.after(usize::from(k % 2 == 0)));
    }
    let (model, img, run) = push_through_body_limit(model, &[300, 60_000], (10_000, 8000));
    run.result.unwrap();
    assert_pushed(&model, &img);
    let sizes = &model.patch_sizes;
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 8000),
        "{sizes:?}"
    );
}

/// A cap found from bodies breaking is lifted again once enough chunks pass: a link whose
/// drops came in a burst gets its full chunks back.
#[test]
fn a_limit_learned_from_breaking_bodies_grows_back() {
    let mut model = RegistryModel::default();
    // One burst: the first chunk breaks three times in a row, then nothing more.
    for _ in 0..3 {
        model.fault(Fault::on(Method::PATCH, "/blobs/uploads/").transport(TransportErrorKind::Io));
    }
    let (model, img, run) = push_through_body_limit(model, &[300, 200_000], (10_000, 8000));
    run.result.unwrap();
    assert_pushed(&model, &img);
    let sizes = &model.patch_sizes;
    assert!(sizes.contains(&4096), "the chunks were halved: {sizes:?}");
    assert_eq!(sizes[sizes.len() - 2], 8000, "and grew back: {sizes:?}");
}

#[test]
fn stale_range_reports_are_checked_with_the_registry() {
    let mut model = RegistryModel {
        range_skew: -700,
        range_skew_count: 1,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    push(&mut model, &img, config()).result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(
        model.count("GET /v2/team/app/blobs/uploads/"),
        1,
        "the stale report was checked"
    );
}

#[test]
fn an_exclusive_end_range_is_accepted() {
    let mut model = RegistryModel {
        range_skew: 1,
        range_skew_count: 100,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    push(&mut model, &img, config()).result.unwrap();
    assert_pushed(&model, &img);
}

#[test]
fn an_overflowing_range_is_a_protocol_error_not_a_panic() {
    let mut model = RegistryModel {
        range_skew: i64::MAX,
        range_skew_count: 1,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    let run = push(&mut model, &img, one_at_a_time());
    // Either the registry is asked and the push goes on, or it fails cleanly.
    if let Err(e) = run.result {
        assert!(matches!(e, Error::Protocol { .. }), "{e}");
    }
}

#[test]
fn a_body_end_before_the_head_is_refused_and_loses_nothing() {
    let img = image(&[300]);
    let mut push = tug_core::push::Push::new(img.plan.clone(), config(), tug_core::Instant::ZERO);
    let Some(tug_core::push::Output::Send(req)) = push.poll() else {
        panic!("a request")
    };
    assert!(push
        .handle_input(tug_core::Instant::ZERO, tug_core::Input::BodyEnd(req.id))
        .is_err());
    // The request is still awaited: its real answer is taken.
    push.handle_input(
        tug_core::Instant::ZERO,
        tug_core::Input::Response(req.id, tug_core::http::ResponseHead::new(200)),
    )
    .unwrap();
    push.handle_input(tug_core::Instant::ZERO, tug_core::Input::BodyEnd(req.id))
        .unwrap();
    assert!(
        matches!(push.poll(), Some(tug_core::push::Output::Send(_))),
        "the push went on"
    );
}

#[test]
fn the_retry_time_budget_ends_retries() {
    let mut model = RegistryModel::default();
    for _ in 0..10 {
        model.fault(
            Fault::on(Method::HEAD, "/blobs/")
                .status(503)
                .header("Retry-After", "20"),
        );
    }
    let img = image(&[300]);
    let retry = tug_core::retry::RetryPolicy {
        max_attempts: 10,
        budget: Some(Duration::from_secs(45)),
        ..Default::default()
    };
    let run = push(
        &mut model,
        &img,
        PushConfig {
            registry: tug_core::RegistryConfig {
                retry,
                ..config().registry
            },
            ..config()
        },
    );
    assert!(
        matches!(run.result, Err(Error::Registry { status: 503, .. })),
        "{:?}",
        run.result
    );
    assert_eq!(
        model.count("HEAD"),
        3,
        "two 20 s waits fit in 45 s, a third does not"
    );
}

#[test]
fn a_blob_lost_before_the_manifest_is_checked_again_and_sent_again() {
    // distribution answers MANIFEST_BLOB_UNKNOWN when another client's upload of the same
    // blob raced ours: tug checks every blob again, uploads what is gone, and retries once.
    let img = image(&[300, 5000, 7000]);
    let lost = img.plan.blobs[2].digest.to_string();
    let mut model = RegistryModel {
        lose_blobs_before_manifests: vec![lost.clone()],
        ..Default::default()
    };
    let run = push(&mut model, &img, config());
    let report = run.result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(report.retries, 1);
    let heads = model.count(&format!("HEAD /v2/team/app/blobs/{lost}"));
    assert_eq!(heads, 2, "{:#?}", model.log);
    assert_eq!(model.count("PUT /v2/team/app/manifests/"), 2);
    let lost_puts = model
        .log
        .iter()
        .filter(|l| l.starts_with("PUT") && l.contains(&lost.replace(':', "%3A")))
        .count();
    assert_eq!(lost_puts, 2, "uploaded again: {:#?}", model.log);
}

#[test]
fn a_blob_lost_twice_is_an_error_naming_the_registry_code() {
    let img = image(&[300, 5000]);
    let lost = img.plan.blobs[1].digest.to_string();
    let mut model = RegistryModel {
        lose_blobs_before_manifests: vec![lost.clone(), lost],
        ..Default::default()
    };
    let err = push(&mut model, &img, config()).result.unwrap_err();
    match err {
        Error::Registry { errors, .. } => assert!(errors.has_code("MANIFEST_BLOB_UNKNOWN")),
        other => panic!("{other}"),
    }
}

/// A runner keeps the sessions a push announces, to resume them later; the push tells it
/// when each is over: the blob committed, or a session a plan named whose blob the registry
/// has meanwhile.
#[test]
fn every_announced_upload_session_is_closed() {
    let closed = |run: &Run| -> Vec<tug_core::Digest> {
        run.events
            .iter()
            .filter_map(|e| match e {
                Event::UploadSessionClosed { digest, .. } => Some(digest.clone()),
                _ => None,
            })
            .collect()
    };
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let run = push(&mut model, &img, config());
    run.result.as_ref().unwrap();
    let announced: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::UploadSession { digest, .. } => Some(digest.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !announced.is_empty(),
        "the chunked layer's session was announced"
    );
    assert_eq!(closed(&run), [img.plan.blobs[1].digest.clone()]);

    // Pushed again with a session an earlier run left for the layer: the registry has the
    // layer now, so that session is over too.
    let mut plan = img.plan.clone();
    plan.resume = vec![ResumableUpload {
        digest: img.plan.blobs[1].digest.clone(),
        location: "http://127.0.0.1:5000/v2/team/app/blobs/uploads/old".into(),
        committed: 700,
    }];
    let again = run_push(&mut model, plan, &img.data, config());
    again.result.as_ref().unwrap();
    assert_eq!(closed(&again), [img.plan.blobs[1].digest.clone()]);
}

/// A runner that can count what it sent but not see it (a browser's upload progress):
/// `Input::BodyProgress` moves progress and rate while bodies go out, and after each
/// `PATCH`'s answer the blob's committed bytes are reported, whatever the interval.
#[test]
fn counted_bytes_move_progress_and_each_confirmed_chunk_is_reported() {
    use tug_sansio_kit::driver::{Driver, Pace};
    use tug_sansio_kit::ops::push::PushPlug;

    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 1000]);
    let plug = PushPlug::new(img.plan.clone(), &img.data, config());
    let pace = Pace {
        latency: Duration::from_millis(400),
        ..Pace::default()
    };
    let run = Run::of(
        Driver::new(plug, vec![&mut model])
            .pace(pace)
            .sent_as_counts(),
    );
    let report = run.result.expect("push succeeds");
    assert_eq!(report.bytes_uploaded, 6300);
    assert_pushed(&model, &img);

    // Overall progress moved while bodies went out, with a rate, before the end.
    let moving: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Progress(p) if p.transferred_bytes > 0 && p.transferred_bytes < 6300 => {
                Some(p.clone())
            }
            _ => None,
        })
        .collect();
    assert!(moving.len() >= 3, "progress while sending: {moving:?}");
    assert!(
        moving.iter().any(|p| p.bytes_per_second > 0.0),
        "{moving:?}"
    );
    assert!(moving.iter().any(|p| p.eta.is_some()), "{moving:?}");
    assert!(
        moving
            .windows(2)
            .all(|w| w[0].transferred_bytes <= w[1].transferred_bytes),
        "never backwards: {moving:?}"
    );

    // The 5000-byte blob goes in 700-byte chunks: each confirmed end is reported, even
    // when the interval between progress reports is longer than the whole push.
    let mut model = RegistryModel::default();
    let mut slow_reports = config();
    slow_reports.transfer.progress_interval = Duration::from_secs(3600);
    let plug = PushPlug::new(img.plan.clone(), &img.data, slow_reports);
    let run = Run::of(
        Driver::new(plug, vec![&mut model])
            .pace(pace)
            .sent_as_counts(),
    );
    run.result.expect("push succeeds");
    let reported: Vec<u64> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::BlobProgress { blob: 1, sent, .. } => Some(*sent),
            _ => None,
        })
        .collect();
    for end in (700..5000).step_by(700).chain([5000]) {
        assert!(reported.contains(&end), "chunk end {end} in {reported:?}");
    }
}

/// A registry that confirms a chunk, then fails the next and has lost the session when
/// asked: bytes confirmed again in a new session are not progress, so the blob fails after
/// its attempts instead of being uploaded again and again for ever.
#[test]
fn a_registry_that_keeps_losing_the_session_fails_the_blob_after_its_attempts() {
    let mut model = RegistryModel::default();
    for _ in 0..40 {
        model.fault(
            Fault::on(Method::PATCH, "/blobs/uploads/")
                .after(1)
                .status(503)
                .forget_uploads(),
        );
    }
    let img = image(&[300, 5000]);
    let cfg = one_at_a_time();
    let attempts = cfg.registry.retry.max_attempts as usize;
    let run = push(&mut model, &img, cfg);
    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("503"), "{error}");
    // The first session, then one per failed attempt; never the 40 the faults allow.
    let posts = model.count("POST");
    assert!(posts <= attempts + 1, "{posts} sessions opened");
    assert!(model.manifests.is_empty(), "no manifest without its blobs");
}

#[test]
fn a_manifest_named_by_its_sha512_is_checked_by_sha512() {
    let mut model = RegistryModel::default();
    let mut img = image(&[300, 2500]);
    let sha512 = Digest::of(
        tug_core::digest::Algorithm::Sha512,
        &img.plan.manifest.bytes,
    );
    img.plan.manifest.digest = sha512.clone();
    let report = push(&mut model, &img, config())
        .result
        .expect("push succeeds");
    assert_eq!(report.manifest_digest, sha512);
    // Bytes that are not the manifest fail, whatever the algorithm.
    let mut bad = image(&[300, 2500]);
    bad.plan.manifest.digest = Digest::of(tug_core::digest::Algorithm::Sha512, b"other");
    let err = push(&mut RegistryModel::default(), &bad, config())
        .result
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}

#[test]
fn a_head_whose_length_is_not_the_blob_s_does_not_skip_it() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 2500]);
    // The layer's HEAD says 200, with a length that is not the layer's.
    // Every time it is asked (a check again after the manifest is refused included).
    let layer = img.plan.blobs[1].digest.to_string();
    for _ in 0..2 {
        model.fault(
            Fault::on(Method::HEAD, &layer)
                .status(200)
                .header("content-length", "7"),
        );
    }
    let report = push(&mut model, &img, config())
        .result
        .expect("push succeeds");
    assert_eq!((report.blobs_uploaded, report.retries), (2, 0));
    assert_pushed(&model, &img);
}

/// A `HEAD` answering `200` for another blob (its `Docker-Content-Digest` names another
/// digest, its length this blob's): this blob is not taken as there, it is uploaded (found
/// by probing with a hostile registry: the push skipped every blob).
#[test]
fn a_head_naming_another_digest_does_not_skip_the_blob() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 2500]);
    let layer = &img.plan.blobs[1];
    let other = Digest::sha256_of(b"another blob");
    for _ in 0..2 {
        model.fault(
            Fault::on(Method::HEAD, &layer.digest.to_string())
                .status(200)
                .header("content-length", &layer.size.to_string())
                .header("docker-content-digest", &other.to_string()),
        );
    }
    let report = push(&mut model, &img, config())
        .result
        .expect("push succeeds");
    assert_eq!((report.blobs_uploaded, report.retries), (2, 0));
    assert_pushed(&model, &img);
}

#[test]
fn a_success_status_the_step_does_not_give_is_named_as_such() {
    let mut model = RegistryModel::default();
    let img = image(&[300]);
    model.fault(Fault::on(Method::PUT, "/blobs/uploads/").status(202));
    let err = push(&mut model, &img, config()).result.unwrap_err();
    match &err {
        Error::Protocol { message, .. } => {
            assert!(
                message.starts_with("it answered 202, which this step does not expect"),
                "{message}"
            )
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn a_blob_whose_source_cannot_be_read_leaves_no_session_to_resume() {
    // The first chunk lands (the session is kept for a later run), then the file cannot be
    // read as it was: the session holds bytes that are no part of a later run's blob.
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    model.fault(
        Fault::on(Method::PATCH, "/blobs/uploads/")
            .transport(TransportErrorKind::Source)
            .after(1),
    );
    let config = one_at_a_time();
    let run = push(&mut model, &img, config);
    let err = run.result.as_ref().unwrap_err();
    assert_eq!(err.class(), tug_core::ErrorClass::Input, "{err}");
    let layer = &img.plan.blobs[1].digest;
    let kept = run
        .events
        .iter()
        .any(|e| matches!(e, Event::UploadSession { digest, .. } if digest == layer));
    let closed = run
        .events
        .iter()
        .any(|e| matches!(e, Event::UploadSessionClosed { digest, .. } if digest == layer));
    assert!(kept && closed, "{:#?}", run.events);
}
