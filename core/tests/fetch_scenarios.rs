//! Scenario tests of range fetches (the source side of a copy) in virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use http::Method;
use tug_core::fetch::StreamId;
use tug_core::pull::PullConfig;
use tug_core::{Digest, Error, RegistryConfig, Scheme};
use tug_sansio_kit::ops::fetch::{run_fetch, FetchPlug, FetchRun, Until};
use tug_sansio_kit::{Driver, Fault, RegistryModel};

/// Opens the given ranges of `digest` at once and drives the fetch until every stream ended.
fn run(model: &mut RegistryModel, digest: &Digest, ranges: &[(u64, u64)]) -> FetchRun {
    let config = RegistryConfig {
        scheme: Scheme::Http,
        ..RegistryConfig::default()
    };
    run_fetch(model, &config, digest, ranges)
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
    model.fault(
        Fault::on(Method::GET, "/blobs/")
            .status(206)
            .header("Content-Range", "bytes 9000-9999/10000"),
    );
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

/// A range past the blob's end (its descriptor says it is longer than the registry's blob):
/// the registry's `Content-Range` says its length, so the stream fails at once as the
/// image's fault, naming the blob and both lengths, without a retry.
#[test]
fn a_blob_shorter_than_its_descriptor_fails_at_once_as_bad_input() {
    let mut model = RegistryModel::default();
    let (d, _) = blob(&mut model, 98);
    for range in [(0, 99), (98, 99)] {
        let r = run(&mut model, &d, &[range]);
        assert_eq!(r.retries, 0, "{range:?}");
        match &r.failed[0].1 {
            e @ Error::InvalidInput { message } => {
                assert!(message.contains(&d.to_string()), "{message}");
                assert!(message.contains("is 98 bytes"), "{message}");
                assert_eq!(e.class(), tug_core::ErrorClass::Input);
            }
            other => panic!("{range:?}: {other}"),
        }
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
    let mut plug = FetchPlug::new(
        "127.0.0.1:5000",
        "team/app",
        &config.registry,
        Until::StreamsOver,
    );
    let s = plug.open(&d, 0, 5000, Some(data.clone()));
    let mut driver = Driver::new(plug, vec![&mut model]);
    driver.run();
    assert!(driver.plug.failed.is_empty(), "{:?}", driver.plug.failed);
    let got = &driver.plug.streams[&s].data;
    assert_eq!(got, &data);
}

/// `tug login` checks credentials with a fetch of no repository: its token request names
/// no scope (as `docker login` does), not the malformed `repository::pull`.
#[test]
fn a_login_check_asks_for_a_token_without_a_scope() {
    let mut model = RegistryModel {
        bearer: Some(tug_sansio_kit::BearerAuth {
            basic: Some("Basic dXNlcjpwYXNz".into()),
            expires_in: 300,
            useless_tokens: false,
            refresh_token: None,
            ..Default::default()
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
    let plug = FetchPlug::new("127.0.0.1:5000", "", &config.registry, Until::Ready);
    let mut driver = Driver::new(plug, vec![&mut model]);
    driver.run();
    assert!(driver.plug.ready);
    let (auth, scopes) = &model.token_requests[0];
    assert!(auth.is_some(), "the token request carried the credentials");
    assert!(scopes.is_empty(), "scopes asked for: {scopes:?}");
}

/// Reads all of a 6 MiB blob from byte `start` with `attempts` attempts per request, from a
/// registry whose every answer breaks after `cut` bytes.
fn fetch_through_breaks(start: u64, cut: usize, attempts: u32) -> (FetchRun, Vec<u8>) {
    let mut model = RegistryModel {
        cut_every_blob_after: Some(cut),
        ..Default::default()
    };
    let (d, data) = blob(&mut model, 6 << 20);
    let config = RegistryConfig {
        scheme: Scheme::Http,
        retry: tug_core::retry::RetryPolicy {
            max_attempts: attempts,
            ..Default::default()
        },
        ..RegistryConfig::default()
    };
    let run = run_fetch(&mut model, &config, &d, &[(start, data.len() as u64)]);
    (run, data)
}

#[test]
fn a_stream_that_breaks_after_each_mib_and_more_is_read_to_its_end() {
    // From 512 KiB on, four breaks with three attempts: each resumed request brings
    // 1.25 MiB more, which starts the attempts afresh.
    let (r, data) = fetch_through_breaks(1 << 19, 5 << 18, 3);
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.retries, 4);
    assert!(
        r.data[&StreamId(0)] == data[1 << 19..],
        "the range arrives whole"
    );
}

#[test]
fn a_stream_that_keeps_breaking_before_a_mib_more_arrives_fails_after_its_attempts() {
    let (r, _) = fetch_through_breaks(1 << 19, 100 << 10, 3);
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    assert_eq!(r.retries, 2);
}
