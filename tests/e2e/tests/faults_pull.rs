//! Faults × pull: `tug pull` through the fault proxy in front of a real registry. Every run
//! ends with every blob in the output, byte-identical (rehashed), and the blob bytes the proxy
//! delivered stay within the image size plus what the injected fault cut off.

mod common;

use std::path::Path;

use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::hashing::sha256_file;
use tug_testkit::{Fault, FaultProxy, FixtureImage, ImageSpec, Registry, Rule, Tug, TugOutput};

const REPO: &str = "pullfaults/app:v1";

struct Scene {
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    fixture: FixtureImage,
    _registry: Registry,
}

impl Scene {
    fn new(seed: u64) -> Scene {
        let registry = Registry::plain();
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let fixture = write_oci_layout(
            &layout,
            &ImageSpec::new(seed).layer(3_000_000).gzip_layer(50_000),
            "v1",
        );
        common::push(&registry, &layout, REPO).assert_success();
        let proxy = FaultProxy::start(&registry);
        Scene {
            proxy,
            dir,
            fixture,
            _registry: registry,
        }
    }

    fn pull(&self) -> TugOutput {
        let out = self.dir.path().join("out");
        Tug::new()
            .env("TUG_STORE", self.dir.path().join("store"))
            .args(["pull", "--progress", "json", "--plain-http", "-o"])
            .arg(&out)
            .arg(self.proxy.image(REPO))
            .run()
    }

    fn blob_bytes(&self) -> u64 {
        self.fixture.config.len() as u64 + self.fixture.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// Every blob is in the output and hashes to its digest; the proxy delivered at most
    /// `allowance` blob bytes more than the image holds.
    fn check(&self, out: &TugOutput, allowance: u64) {
        assert!(out.success(), "{out}");
        let done = common::done_event(out);
        assert!(done["retries"].as_u64().unwrap_or(0) >= 1, "{done}");
        let blobs = Path::new(self.dir.path()).join("out/blobs/sha256");
        for digest in self.fixture.blob_digests() {
            let (got, _) = sha256_file(&blobs.join(digest.trim_start_matches("sha256:"))).unwrap();
            assert_eq!(got, digest);
        }
        let delivered = self.proxy.response_body_bytes_from("/blobs/sha256:");
        let total = self.blob_bytes();
        assert!(
            delivered >= total && delivered <= total + allowance,
            "delivered {delivered} blob bytes for {total} (allowance {allowance})"
        );
    }
}

#[test]
fn connection_dropped_mid_blob_resumes_with_range() {
    let s = Scene::new(81);
    let big = format!("/blobs/{}", s.fixture.layers[0].digest);
    s.proxy
        .add_rule(Rule::new("GET", &big, Fault::DropResponseBody { after: 1 << 20 }).times(1));
    let out = s.pull();
    // Bytes the proxy wrote before the reset may never reach tug (a reset discards what the
    // receiver had not read), so up to the cut-off megabyte may travel twice.
    s.check(&out, 1 << 20);
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
    let s = Scene::new(82);
    s.proxy
        .add_rule(Rule::new("GET", "/blobs/sha256:", Fault::status(500)).times(1));
    s.check(&s.pull(), 0);
}

#[test]
fn status_503_on_the_manifest() {
    let s = Scene::new(83);
    s.proxy
        .add_rule(Rule::new("GET", "/manifests/", Fault::status(503)).times(1));
    s.check(&s.pull(), 0);
}

#[test]
fn rate_limited_429_on_a_blob() {
    let s = Scene::new(84);
    s.proxy
        .add_rule(Rule::new("GET", "/blobs/sha256:", Fault::too_many_requests(Some(1))).times(1));
    s.check(&s.pull(), 0);
}

#[test]
fn connection_reset_on_the_version_check() {
    let s = Scene::new(85);
    s.proxy
        .add_rule(Rule::new("GET", "/v2/", Fault::Reset).times(1));
    s.check(&s.pull(), 0);
}
