//! Registry quirks seen in the field, each emulated by the fault proxy in front of a real
//! registry and handled without user flags. Each test is named after the registry family it
//! stands for; every push ends with the image byte-identical in the registry (checked by
//! skopeo, straight against the registry).

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{
    BlobHost, Fault, FaultProxy, ImageSpec, ProxiedRequest, Registry, RegistryConfig, Rule, Tug,
    TugOutput,
};

use crate::common::{done_event, hermetic, log, Scene};

const CHUNK: u64 = 1 << 20;
/// With [`push_chunked`], blobs up to this size go in one `PUT`: only the big layer
/// uses `PATCH`, so "the nth PATCH" is the big layer's nth chunk.
const MONOLITHIC_MAX: u64 = 256 << 10;
const REPO: &str = "quirks/app:v1";
const USER: &str = "quirk-user";
const PASSWORD: &str = "quirk-pw";

/// The stall bound of every tug run here.
const HANG: Duration = Duration::from_secs(90);

/// The image of the quirk tests: a ~3.2 MiB layer, a small layer and the config.
fn image(seed: u64) -> ImageSpec {
    ImageSpec::new(seed).layer(3_200_000).gzip_layer(30_000)
}

/// A plain registry behind the proxy, and the image.
fn scene(seed: u64) -> Scene {
    Scene::new(&image(seed))
}

/// `tug push --progress json --plain-http [extra] LAYOUT PROXY/quirks/app:v1`.
fn push(s: &Scene, extra: &[&str]) -> TugOutput {
    let mut tug = s.tug().timeout(HANG);
    if let Some((user, password)) = s.registry.credentials() {
        tug = tug.env("TUG_USERNAME", user).env("TUG_PASSWORD", password);
    }
    tug.args(["push", "--progress", "json", "--plain-http"])
        .args(extra)
        .arg(&s.layout)
        .arg(s.proxy.image(REPO))
        .run()
}

/// A push with the big layer in 1 MiB chunks (the small blobs in one `PUT` each).
fn push_chunked(s: &Scene) -> TugOutput {
    push(
        s,
        &[
            "--chunk-size",
            &CHUNK.to_string(),
            "--monolithic-max",
            &MONOLITHIC_MAX.to_string(),
        ],
    )
}

fn check_image(s: &Scene) {
    pull_with_skopeo_and_compare(&s.registry, REPO, &s.fixture);
}

fn assert_forwarded_within(s: &Scene, allowance: u64) {
    let forwarded = s.proxy.request_body_bytes_to("/blobs/uploads/");
    let total = s.blob_bytes();
    assert!(
        forwarded >= total && forwarded <= total + allowance,
        "forwarded {forwarded} blob bytes for {total} (allowance {allowance})\n{}",
        s.log()
    );
}

fn retry_events(out: &TugOutput) -> Vec<Value> {
    out.stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "retrying")
        .collect()
}

/// The requests to one upload session (`/blobs/uploads/<uuid>`), in order.
fn session_requests(requests: &[ProxiedRequest], uuid_path: &str) -> Vec<ProxiedRequest> {
    requests
        .iter()
        .filter(|r| r.path() == uuid_path)
        .cloned()
        .collect()
}

#[test]
fn retried_chunk_gets_416_and_rereads_offset() {
    // Registries that check `Content-Range` (distribution 3, Harbor, cloud registries) answer
    // a chunk that does not start at their offset with 416. Here the second chunk fails with
    // a 500 and its retry is refused with 416: tug must ask for the offset again and go on
    // from what the registry confirms, not give up and not start over.
    let s = scene(207);
    let failed = s
        .proxy
        .add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::status(500)).nth(2));
    let refused = s
        .proxy
        .add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::status(416)).nth(3));
    let out = push_chunked(&s);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    assert_eq!((s.proxy.hits(failed), s.proxy.hits(refused)), (1, 1));
    check_image(&s);
    let at = requests
        .iter()
        .position(|r| r.is("PATCH", "/blobs/uploads/") && r.status == Some(416))
        .unwrap();
    let session = session_requests(&requests[at..], requests[at].path());
    assert!(
        session.len() >= 3 && session[1].method == "GET" && session[1].status == Some(204),
        "after the 416 tug asks for the offset, then goes on:\n{}",
        log(&session)
    );
    let confirmed_last: u64 = session[1]
        .upstream_range
        .as_deref()
        .and_then(|r| r.split('-').nth(1))
        .and_then(|last| last.parse().ok())
        .unwrap();
    assert_eq!(
        session[2].header("content-range"),
        Some(format!("{}-{}", confirmed_last + 1, confirmed_last + CHUNK).as_str()),
        "the next chunk starts at the offset the registry confirmed:\n{}",
        log(&session)
    );
    assert_eq!(session[2].status, Some(202));
    // Neither refused body reached the registry: nothing was sent twice.
    assert_forwarded_within(&s, 0);
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.is("POST", "/blobs/uploads/"))
            .count(),
        3,
        "no blob started over"
    );
}

#[test]
fn rate_limited_429_with_and_without_retry_after() {
    // Docker Hub style: 429 on a HEAD with Retry-After, and on an upload start without.
    let s = scene(208);
    let with = s
        .proxy
        .inject("HEAD", "/blobs/sha256:", Fault::too_many_requests(Some(1)));
    let without = s
        .proxy
        .inject("POST", "/blobs/uploads/", Fault::too_many_requests(None));
    let out = push(&s, &[]);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    assert_eq!((s.proxy.hits(with), s.proxy.hits(without)), (1, 1));
    check_image(&s);
    let retries = retry_events(&out);
    let checks: Vec<u64> = retries
        .iter()
        .filter(|e| e["what"].as_str().unwrap_or("").starts_with("checking"))
        .filter_map(|e| e["delay_ms"].as_u64())
        .collect();
    let uploads: Vec<u64> = retries
        .iter()
        .filter(|e| e["what"].as_str().unwrap_or("").starts_with("uploading"))
        .filter_map(|e| e["delay_ms"].as_u64())
        .collect();
    assert!(
        checks.len() == 1 && checks[0] >= 1000,
        "the HEAD waits the 1 s Retry-After: {retries:?}"
    );
    assert_eq!(uploads.len(), 1, "{retries:?}");
    assert!(retries
        .iter()
        .all(|e| e["reason"].as_str().unwrap_or("").contains("429")));
    assert_eq!(done_event(&out)["retries"], 2);
    assert_forwarded_within(&s, 0);
}

#[test]
fn blob_get_redirected_to_storage_on_another_host() {
    // Registries on S3/GCS/CDN storage answer blob GETs with a redirect to a signed URL on
    // another host; credentials for the registry must never go there.
    let dir = tempfile::tempdir().unwrap();
    let source = Registry::start(RegistryConfig::plain().with_token_auth(USER, PASSWORD));
    let dest = Registry::plain();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(209).layer(1_500_000).gzip_layer(20_000),
        "v1",
    );
    hermetic(Tug::new(), dir.path())
        .timeout(HANG)
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .args(["push", "--progress", "none", "--plain-http"])
        .arg(&layout)
        .arg(source.image("src/app:v1"))
        .run()
        .assert_success();

    let proxy = FaultProxy::start(&source);
    let storage = BlobHost::serving(&source);
    proxy.add_rule(
        Rule::new(
            "GET",
            "/blobs/sha256:",
            Fault::RedirectTo {
                base: storage.url(),
            },
        )
        .always(),
    );
    // The source's credentials are stored for it (flag credentials are the destination's).
    let docker = dir.path().join("home/.docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let config = serde_json::json!({"auths": {proxy.host(): {"auth": auth}}});
    std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
    let out = hermetic(Tug::new(), dir.path())
        .timeout(HANG)
        .args(["copy", "--progress", "json", "--plain-http"])
        .arg(proxy.image("src/app:v1"))
        .arg(dest.image("dst/app:v1"))
        .run();
    let requests = proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    pull_with_skopeo_and_compare(&dest, "dst/app:v1", &fixture);

    let redirected: Vec<&ProxiedRequest> = requests
        .iter()
        .filter(|r| r.is("GET", "/blobs/sha256:") && r.status == Some(307))
        .collect();
    assert_eq!(
        redirected.len(),
        3,
        "config and two layers:\n{}",
        log(&requests)
    );
    assert!(
        redirected.iter().all(|r| r.has_authorization()),
        "the registry itself got the credentials"
    );
    let fetched = storage.requests();
    assert!(
        fetched.len() >= 3 && fetched.iter().all(|r| r.status / 100 == 2),
        "{fetched:?}"
    );
    for r in &fetched {
        assert!(
            !r.has_authorization(),
            "the storage host got an Authorization header: {r:?}"
        );
    }
}

#[test]
fn unauthorized_401_with_fresh_bearer_challenge_mid_upload() {
    // A token that expires mid-upload: the registry answers a chunk with 401 and a fresh
    // Bearer challenge. tug gets a new token and sends the chunk again in the same session.
    let s = Scene::on(
        Registry::start(RegistryConfig::plain().with_token_auth(USER, PASSWORD)),
        &image(210),
    );
    let challenge = FaultProxy::bearer_challenge(&s.registry, "repository:quirks/app:pull,push");
    let rule = s
        .proxy
        .add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::unauthorized(&challenge)).nth(2));
    let tokens = s.registry.token_server().unwrap();
    let out = push_chunked(&s);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    assert_eq!(s.proxy.hits(rule), 1);
    check_image(&s);
    assert!(
        tokens.tokens_issued() >= 2,
        "a new token after the 401 ({} issued)",
        tokens.tokens_issued()
    );
    // No blob started over: one upload session per blob.
    let posts = requests
        .iter()
        .filter(|r| r.is("POST", "/blobs/uploads/") && r.status == Some(202))
        .count();
    assert_eq!(posts, 3, "{}", log(&requests));
    // The refused chunk is sent again, with the same range, in the same session.
    let refused = requests
        .iter()
        .position(|r| r.status == Some(401) && r.method == "PATCH")
        .unwrap();
    let session = session_requests(&requests[refused..], requests[refused].path());
    let next_patch = session[1..]
        .iter()
        .find(|r| r.method == "PATCH")
        .expect("the chunk is sent again");
    assert_eq!(
        next_patch.header("content-range"),
        requests[refused].header("content-range")
    );
    assert_eq!(next_patch.status, Some(202));
    // The refused body never reached the registry: nothing was sent twice.
    assert_forwarded_within(&s, 0);
}

#[test]
fn google_artifact_registry_style_patch_rejected_falls_back_to_monolithic() {
    // A registry without chunked uploads: every PATCH is refused with 405. tug uploads whole
    // blobs in one PUT instead, without a flag.
    let s = scene(301);
    let refused = s
        .proxy
        .add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::status(405)).always());
    let out = push_chunked(&s);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    assert_eq!(
        s.proxy.hits(refused),
        1,
        "one refused PATCH, then whole-blob PUTs"
    );
    check_image(&s);
}

#[test]
fn cloudflare_style_body_cap_shrinks_chunks() {
    // A proxy in front of the registry answers 413 to bodies over 1 MiB (Cloudflare's and a
    // small nginx client_max_body_size's behaviour): tug halves its chunks until they fit.
    let s = scene(302);
    s.proxy.add_rule(
        Rule::new(
            "*",
            "/blobs/uploads/",
            Fault::BodyCap {
                max: 1 << 20,
                reply: tug_testkit::CapReply::Status(413),
            },
        )
        .always(),
    );
    // Default flags: the 3.2 MB layer goes in one 64 MiB-limit PUT first.
    let out = push(&s, &[]);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    check_image(&s);
    assert!(
        requests
            .iter()
            .filter(|r| r.status == Some(202) && r.is("PATCH", "/blobs/uploads/"))
            .all(|r| r.request_body_forwarded <= 1 << 20),
        "{}",
        log(&requests)
    );
}

#[test]
fn nginx_style_body_cap_that_resets_shrinks_chunks() {
    // A front proxy whose body limit drops the connection instead of answering 413 (nginx
    // closing on an oversized body, some load balancers): a body breaking off twice at the
    // same place makes tug halve its chunks until they pass.
    let s = scene(305);
    s.proxy.add_rule(
        Rule::new(
            "*",
            "/blobs/uploads/",
            Fault::BodyCap {
                max: 1 << 20,
                reply: tug_testkit::CapReply::Reset,
            },
        )
        .always(),
    );
    let out = push(&s, &["--retry-max-wait", "60"]);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    check_image(&s);
    let accepted: Vec<&ProxiedRequest> = requests
        .iter()
        .filter(|r| r.status == Some(202) && r.is("PATCH", "/blobs/uploads/"))
        .collect();
    assert!(!accepted.is_empty(), "{}", log(&requests));
    assert!(
        accepted.iter().all(|r| r.request_body_forwarded <= 1 << 20),
        "{}",
        log(&requests)
    );
}

#[test]
fn stale_range_reports_are_not_trusted() {
    // A registry (or cache in front of it) answering a chunk with a stale Range: tug asks the
    // registry where the session stands before sending more, so nothing is sent twice.
    let s = scene(303);
    s.proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::RewriteRange(tug_testkit::RangeRewrite::Stale),
        )
        .nth(2),
    );
    let out = push_chunked(&s);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    check_image(&s);
    assert_forwarded_within(&s, 0);
}

#[test]
fn off_by_one_range_reports() {
    // Registries that report an exclusive end (one byte more than they hold).
    let s = scene(304);
    s.proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::RewriteRange(tug_testkit::RangeRewrite::Shift(1)),
        )
        .always(),
    );
    let out = push_chunked(&s);
    let requests = s.proxy.requests();
    assert!(out.success(), "{out}\n{}", log(&requests));
    check_image(&s);
    assert_forwarded_within(&s, 0);
}
