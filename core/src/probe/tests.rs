//! The probe learns how a registry answered; operations given that skip the version check,
//! send Basic credentials from their first request, and only to the host it was learned of.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::auth::Credentials;
use crate::blob_read::{BlobPlan, BlobRead};
use crate::digest::Digest;
use crate::endpoint::Scheme;
use crate::http::{Request, ResponseHead};

const HOST: &str = "r.example";
const BLOB: &[u8] = b"a blob";

fn config(reached: Option<Reached>) -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Https,
        credentials: Some(Credentials {
            username: "u".into(),
            password: "p".into(),
        }),
        reached,
        ..RegistryConfig::default()
    }
}

/// A registry that asks for Basic credentials and serves [`BLOB`].
fn basic_registry(req: &Request) -> (ResponseHead, Vec<u8>) {
    if req.headers.get("authorization").is_none() {
        let head = ResponseHead::new(401).with_header("www-authenticate", r#"Basic realm="r""#);
        return (head, Vec::new());
    }
    match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        _ => (ResponseHead::new(200), BLOB.to_vec()),
    }
}

fn read_blob(config: &RegistryConfig, host: &str) -> Vec<Request> {
    let plan = BlobPlan {
        registry: host.into(),
        repository: "team/app".into(),
        digest: Digest::sha256_of(BLOB),
        max_size: None,
    };
    let op = BlobRead::new(plan, config, Instant::ZERO);
    let (result, sent, _) =
        crate::one_shot::testing::run_reading(op, BlobRead::poll, basic_registry);
    result.unwrap();
    sent
}

fn paths(sent: &[Request]) -> Vec<&str> {
    sent.iter().map(|r| r.url.path()).collect()
}

#[test]
fn the_probe_learns_the_scheme_and_the_basic_challenge() {
    let probe = Probe::new(HOST, &config(None), Instant::ZERO);
    let (reached, sent) = crate::one_shot::testing::run(probe, Probe::poll, basic_registry);
    assert_eq!(
        reached.unwrap(),
        Reached {
            host: HOST.into(),
            scheme: Scheme::Https,
            basic: true
        }
    );
    assert_eq!(paths(&sent), ["/v2/", "/v2/"]);
}

#[test]
fn an_operation_given_what_was_learned_skips_the_check_and_sends_basic_at_once() {
    let without = read_blob(&config(None), HOST);
    assert_eq!(without.len(), 3, "{:?}", paths(&without));
    let reached = Reached {
        host: HOST.into(),
        scheme: Scheme::Https,
        basic: true,
    };
    let with = read_blob(&config(Some(reached)), HOST);
    assert_eq!(
        paths(&with),
        [format!("/v2/team/app/blobs/{}", Digest::sha256_of(BLOB))]
    );
    assert!(with[0].headers.get("authorization").is_some());
    assert_eq!(with[0].url.scheme(), "https");
}

#[test]
fn what_was_learned_of_another_host_is_ignored() {
    let reached = Reached {
        host: "elsewhere.example".into(),
        scheme: Scheme::Http,
        basic: true,
    };
    let sent = read_blob(&config(Some(reached)), HOST);
    assert_eq!(paths(&sent)[0], "/v2/");
    assert!(sent[0].headers.get("authorization").is_none());
    assert_eq!(sent[0].url.scheme(), "https");
}

#[test]
fn a_plain_http_registry_learned_is_reached_over_http() {
    let reached = Reached {
        host: HOST.into(),
        scheme: Scheme::Http,
        basic: false,
    };
    let mut config = config(Some(reached));
    config.scheme = Scheme::HttpsThenHttp;
    config.credentials = None;
    let plan = BlobPlan {
        registry: HOST.into(),
        repository: "team/app".into(),
        digest: Digest::sha256_of(BLOB),
        max_size: None,
    };
    let op = BlobRead::new(plan, &config, Instant::ZERO);
    let (result, sent, _) = crate::one_shot::testing::run_reading(op, BlobRead::poll, |_| {
        (ResponseHead::new(200), BLOB.to_vec())
    });
    result.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url.scheme(), "http");
}

#[test]
fn plain_http_learned_is_ignored_where_the_config_asks_for_https() {
    let reached = Reached {
        host: HOST.into(),
        scheme: Scheme::Http,
        basic: true,
    };
    let sent = read_blob(&config(Some(reached)), HOST);
    assert_eq!(paths(&sent)[0], "/v2/", "the check is made again");
    assert!(sent.iter().all(|r| r.url.scheme() == "https"));
}
