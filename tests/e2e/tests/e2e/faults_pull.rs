//! Faults × pull: `tug pull` through the fault proxy in front of a real registry. Every run
//! ends with every blob in the output, byte-identical (rehashed), and the blob bytes the proxy
//! delivered stay within the image size plus what the injected fault cut off.

use tug_testkit::hashing::sha256_file;
use tug_testkit::{Fault, ImageSpec, Rule, TugOutput};

use crate::common::Scene;

const REPO: &str = "pullfaults/app:v1";

/// A plain registry holding an image of a ~3 MiB layer, a small one and the config, and the
/// proxy in front of it.
fn scene(seed: u64) -> Scene {
    let s = Scene::new(&ImageSpec::new(seed).layer(3_000_000).gzip_layer(50_000));
    crate::common::push(&s.registry, &s.layout, REPO).assert_success();
    s
}

/// `tug pull` of the image through the proxy into `out`.
fn pull(s: &Scene) -> TugOutput {
    s.tug()
        .args(["pull", "--progress", "json", "--plain-http", "-o"])
        .arg(s.env.path("out"))
        .arg(s.proxy.image(REPO))
        .run()
}

/// Every blob is in the output and hashes to its digest; the proxy delivered at most
/// `allowance` blob bytes more than the image holds.
fn check(s: &Scene, out: &TugOutput, allowance: u64) {
    assert!(out.success(), "{out}");
    let done = crate::common::done_event(out);
    assert!(done["retries"].as_u64().unwrap_or(0) >= 1, "{done}");
    let blobs = s.env.path("out/blobs/sha256");
    for digest in s.fixture.blob_digests() {
        let (got, _) = sha256_file(&blobs.join(digest.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(got, digest);
    }
    let delivered = s.proxy.response_body_bytes_from("/blobs/sha256:");
    let total = s.blob_bytes();
    assert!(
        delivered >= total && delivered <= total + allowance,
        "delivered {delivered} blob bytes for {total} (allowance {allowance})"
    );
}

#[test]
fn connection_dropped_mid_blob_resumes_with_range() {
    let s = scene(81);
    let big = format!("/blobs/{}", s.fixture.layers[0].digest);
    s.proxy
        .add_rule(Rule::new("GET", &big, Fault::DropResponseBody { after: 1 << 20 }).times(1));
    let out = pull(&s);
    // Bytes the proxy wrote before the reset may never reach tug (a reset discards what the
    // receiver had not read), so up to the cut-off megabyte may travel twice.
    check(&s, &out, 1 << 20);
    let resumed = s
        .proxy
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .find(|v| v.starts_with("bytes="))
        .expect("the blob was resumed with Range");
    assert_ne!(resumed, "bytes=0-", "a resume, not a restart");
}

#[test]
fn status_500_on_a_blob() {
    let s = scene(82);
    s.proxy
        .add_rule(Rule::new("GET", "/blobs/sha256:", Fault::status(500)).times(1));
    check(&s, &pull(&s), 0);
}

#[test]
fn status_503_on_the_manifest() {
    let s = scene(83);
    s.proxy
        .add_rule(Rule::new("GET", "/manifests/", Fault::status(503)).times(1));
    check(&s, &pull(&s), 0);
}

#[test]
fn rate_limited_429_on_a_blob() {
    let s = scene(84);
    s.proxy
        .add_rule(Rule::new("GET", "/blobs/sha256:", Fault::too_many_requests(Some(1))).times(1));
    check(&s, &pull(&s), 0);
}

#[test]
fn connection_reset_on_the_version_check() {
    let s = scene(85);
    s.proxy
        .add_rule(Rule::new("GET", "/v2/", Fault::Reset).times(1));
    check(&s, &pull(&s), 0);
}
