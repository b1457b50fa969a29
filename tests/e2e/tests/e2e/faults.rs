//! Faults × {push, copy} through the fault proxy in front of a real registry: every run ends
//! with exit 0, the image complete and byte-identical (skopeo pulls it straight from the
//! registry), at least one retry reported, and the request-body bytes the proxy forwarded
//! within the image's blob bytes plus one chunk per injected fault.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{
    Fault, FaultProxy, FixtureImage, ImageSpec, Registry, Rule, RuleId, Tug, TugOutput,
};

use crate::common::{done_event, hermetic, log, Scene};

const CHUNK: u64 = 1 << 20;
/// Blobs up to this size go in one `PUT`; the big layer goes in 1 MiB chunks.
const MONOLITHIC_MAX: u64 = 256 << 10;
const REPO: &str = "faults/app:v1";

/// The stall bound of every tug run here.
const HANG: Duration = Duration::from_secs(90);

/// A plain registry behind the proxy, and an image of a ~3.5 MiB chunked layer plus a small
/// monolithic layer and the config.
fn scene(seed: u64) -> Scene {
    let s = Scene::new(&ImageSpec::new(seed).layer(3_500_000).gzip_layer(60_000));
    assert!(s.fixture.layers[0].size > 3 * CHUNK);
    assert!(s.fixture.layers[1].size < MONOLITHIC_MAX);
    s
}

/// The size of the largest blob pushed in one `PUT`.
fn small_blob(s: &Scene) -> u64 {
    s.fixture.layers[1].size.max(s.fixture.config.len() as u64)
}

fn push(s: &Scene) -> TugOutput {
    pushing(s).run()
}

/// The push of [`push`], to run.
fn pushing(s: &Scene) -> Tug {
    s.tug()
        .timeout(HANG)
        .args([
            "push",
            "--progress",
            "json",
            "--plain-http",
            "--chunk-size",
            &CHUNK.to_string(),
            "--monolithic-max",
            &MONOLITHIC_MAX.to_string(),
            "--stall-timeout",
            "2",
        ])
        .arg(&s.layout)
        .arg(s.proxy.image(REPO))
}

/// Pushes through the proxy with `rule` in place and checks the outcome; `allowance` is how
/// many bytes beyond the image's blobs the proxy may forward.
fn push_through(s: &Scene, rule: RuleId, allowance: u64) -> TugOutput {
    let out = push(s).assert_success();
    assert_eq!(s.proxy.hits(rule), 1, "the fault was injected once");
    let done = done_event(&out);
    assert!(
        done["retries"].as_u64().unwrap_or(0) >= 1,
        "the done event counts the retry: {done}\n{}",
        out.stdout_str()
    );
    pull_with_skopeo_and_compare(&s.registry, REPO, &s.fixture);
    let forwarded = s.proxy.request_body_bytes_to("/blobs/uploads/");
    let total = s.blob_bytes();
    assert!(
        forwarded >= total && forwarded <= total + allowance,
        "forwarded {forwarded} blob bytes; the image has {total}, allowance {allowance}\n{}",
        s.log()
    );
    out
}

/// Every `retrying` event of a `--progress json` run.
fn retry_events(out: &TugOutput) -> Vec<Value> {
    out.stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "retrying")
        .collect()
}

#[test]
fn connection_dropped_mid_patch_body() {
    let s = scene(101);
    // The first chunk of the big layer breaks after 512 KiB. distribution 2.8 drops a session
    // whose PATCH broke midway, so the blob starts over: the cost is the broken part.
    let rule = s.proxy.inject(
        "PATCH",
        "/blobs/uploads/",
        Fault::DropRequestBody { after: 512 << 10 },
    );
    push_through(&s, rule, CHUNK);
}

#[test]
fn status_500_on_a_patch() {
    let s = scene(102);
    let rule = s
        .proxy
        .add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::status(500)).nth(2));
    push_through(&s, rule, CHUNK);
}

#[test]
fn status_503_on_head() {
    let s = scene(103);
    let rule = s.proxy.inject("HEAD", "/blobs/sha256:", Fault::status(503));
    push_through(&s, rule, 0);
}

/// A registry down for five seconds mid-push (every request answered `503`, as a load
/// balancer answers while the registry behind it restarts) is ridden out by the default
/// retries, whose waits add up to 7.5–15 s. (Full jitter from half a second, the default
/// before, gave up after 2–4 s as a rule.)
#[test]
fn a_registry_down_for_five_seconds_mid_push_is_ridden_out_by_default() {
    let s = scene(108);
    s.proxy
        .add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::status(503)).nth(2));
    let run = pushing(&s).env_remove("TUG_RETRY_DELAY");
    let child = run
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tug starts");
    assert!(
        s.proxy
            .wait_for(HANG, |log| log.iter().any(|r| r.fault.is_some())),
        "the push reached its second chunk"
    );
    s.proxy
        .add_rule(Rule::new("*", "/v2/", Fault::status(503)).always());
    std::thread::sleep(OUTAGE);
    s.proxy.clear_rules();
    let output = child.wait_with_output().expect("tug ends");
    let out = TugOutput {
        code: output.status.code(),
        status: output.status,
        stdout: output.stdout,
        stderr: output.stderr,
        timed_out: false,
    }
    .assert_success();
    let waited: u64 = retry_events(&out)
        .iter()
        .filter_map(|e| e["delay_ms"].as_u64())
        .sum();
    assert!(
        waited >= OUTAGE.as_millis() as u64,
        "retried through the outage: {waited} ms of waits\n{}",
        out.stdout_str()
    );
    pull_with_skopeo_and_compare(&s.registry, REPO, &s.fixture);
}

/// How long the registry is down in [`a_registry_down_for_five_seconds_mid_push_is_ridden_out_by_default`].
const OUTAGE: Duration = Duration::from_secs(5);

#[test]
fn status_429_with_retry_after_1() {
    let s = scene(104);
    let rule = s.proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::too_many_requests(Some(1)),
        )
        .nth(2),
    );
    let out = push_through(&s, rule, CHUNK);
    let waits: Vec<u64> = retry_events(&out)
        .iter()
        .filter(|e| e["reason"].as_str().unwrap_or("").contains("429"))
        .filter_map(|e| e["delay_ms"].as_u64())
        .collect();
    assert!(
        waits.len() == 1 && waits[0] >= 1000,
        "one retry after 429 waiting at least the 1 s Retry-After: {waits:?}"
    );
}

#[test]
fn status_429_without_retry_after() {
    let s = scene(105);
    // The first PUT: a small blob's monolithic upload, or the close of the chunked one.
    let rule = s
        .proxy
        .inject("PUT", "/blobs/uploads/", Fault::too_many_requests(None));
    let out = push_through(&s, rule, small_blob(&s));
    let waits: Vec<u64> = retry_events(&out)
        .iter()
        .filter(|e| e["reason"].as_str().unwrap_or("").contains("429"))
        .filter_map(|e| e["delay_ms"].as_u64())
        .collect();
    assert_eq!(waits.len(), 1, "{}", out.stdout_str());
    assert!(waits[0] <= 30_000, "capped backoff: {waits:?}");
}

#[test]
fn stall_beyond_the_stall_timeout() {
    let s = scene(106);
    // The second chunk is held, not forwarded, for twice tug's --stall-timeout.
    let rule = s.proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::Stall {
                hold: Duration::from_secs(4),
            },
        )
        .nth(2),
    );
    push_through(&s, rule, CHUNK);
}

#[test]
fn status_502_on_the_manifest_put() {
    let s = scene(107);
    let rule = s.proxy.inject("PUT", "/manifests/", Fault::status(502));
    push_through(&s, rule, 0);
    let puts = s.proxy.requests_matching("PUT", "/manifests/");
    assert_eq!(puts.len(), 2, "{}", s.log());
    assert_eq!(
        (puts[0].status, puts[1].status),
        (Some(502), Some(201)),
        "{}",
        s.log()
    );
}

#[test]
fn connection_reset_on_post() {
    let s = scene(108);
    let rule = s.proxy.inject("POST", "/blobs/uploads/", Fault::Reset);
    push_through(&s, rule, 0);
}

/// An image in registry `a` (pushed straight to it) for copies.
fn source_image(a: &Registry, dir: &Path, seed: u64) -> FixtureImage {
    let layout = dir.join("src-layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(seed).layer(3_000_000).gzip_layer(40_000),
        "v1",
    );
    hermetic(Tug::new(), dir)
        .timeout(HANG)
        .args(["push", "--progress", "none", "--plain-http"])
        .arg(&layout)
        .arg(a.image("src/app:v1"))
        .run()
        .assert_success();
    fixture
}

fn copy(dir: &Path, from: &str, to: &str, extra: &[&str]) -> TugOutput {
    hermetic(Tug::new(), dir)
        .timeout(HANG)
        .args([
            "copy",
            "--progress",
            "json",
            "--plain-http",
            "--stall-timeout",
            "2",
        ])
        .args(extra)
        .arg(from)
        .arg(to)
        .run()
}

fn fixture_blob_bytes(fixture: &FixtureImage) -> u64 {
    fixture.config.len() as u64 + fixture.layers.iter().map(|l| l.size).sum::<u64>()
}

#[test]
fn copy_with_the_source_dropped_mid_get() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Registry::plain(), Registry::plain());
    let fixture = source_image(&a, dir.path(), 109);
    let proxy = FaultProxy::start(&a);
    let big = fixture.layers[0].digest.clone();
    let cut = 256 << 10;
    let rule = proxy.inject("GET", &big, Fault::DropResponseBody { after: cut });

    let out = copy(
        dir.path(),
        &proxy.image("src/app:v1"),
        &b.image("dst/app:v1"),
        &[],
    )
    .assert_success();
    assert_eq!(proxy.hits(rule), 1);
    // The source side's retry shows as an event. (The done event's `retries` counts only
    // the destination's retries, so it is not checked here.)
    let downloads: Vec<Value> = retry_events(&out)
        .into_iter()
        .filter(|e| e["what"].as_str().unwrap_or("").contains("downloading"))
        .collect();
    assert_eq!(
        downloads.len(),
        1,
        "{}\n{}",
        out.stdout_str(),
        log(&proxy.requests())
    );
    done_event(&out);
    pull_with_skopeo_and_compare(&b, "dst/app:v1", &fixture);
    let fetched = proxy.response_body_bytes_from("/blobs/sha256:");
    let total = fixture_blob_bytes(&fixture);
    assert!(
        fetched >= total && fetched <= total + cut,
        "fetched {fetched} blob bytes from the source for {total}\n{}",
        log(&proxy.requests())
    );
}

#[test]
fn copy_with_the_destination_dropped_mid_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Registry::plain(), Registry::plain());
    let fixture = source_image(&a, dir.path(), 110);
    let proxy = FaultProxy::start(&b);
    let cut = 256 << 10;
    // A copy sends every blob in `PATCH`es (its bytes are checked as they pass). One blob
    // at a time, in plan order, the big layer's is the second `PATCH`: it breaks after
    // 256 KiB.
    let rule = proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::DropRequestBody { after: cut },
        )
        .nth(2),
    );

    let out = copy(
        dir.path(),
        &a.image("src/app:v1"),
        &proxy.image("dst/app:v1"),
        &["--jobs", "1", "--fixed-jobs"],
    )
    .assert_success();
    assert_eq!(proxy.hits(rule), 1);
    let done = done_event(&out);
    assert!(done["retries"].as_u64().unwrap_or(0) >= 1, "{done}");
    pull_with_skopeo_and_compare(&b, "dst/app:v1", &fixture);
    let sent = proxy.request_body_bytes_to("/blobs/uploads/");
    let total = fixture_blob_bytes(&fixture);
    assert!(
        sent >= total && sent <= total + cut,
        "sent {sent} blob bytes to the destination for {total}\n{}",
        log(&proxy.requests())
    );
}
