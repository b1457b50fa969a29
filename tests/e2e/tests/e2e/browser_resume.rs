//! Resume in the web page: a push stopped midway (cancelled, or the page reloaded) goes on
//! from each layer's confirmed offset when it is retried or pushed again, because the page
//! keeps its upload sessions in IndexedDB and hands them to tug-wasm. The page pushes
//! through nginx (CORS) → the fault proxy (which counts every request-body byte the browser
//! sent and sees each `PATCH`'s `Content-Range`) → docker-registry; skopeo checks the image.
//!
//! Needs what `browser.rs` needs (`scripts/install-deps.sh`, `scripts/build-web.sh`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use tug_testkit::browser::require_browser_tools;
use tug_testkit::fixtures::{
    pull_with_skopeo_and_compare_layers, skopeo_docker_archive, write_oci_layout,
};
use tug_testkit::{
    tug_bin, FaultProxy, FixtureImage, ImageSpec, Nginx, PagePush, Registry, TugWeb,
};

/// The page's chunk size in these tests: a small image still has many chunks.
const CHUNK: u64 = 1024 * 1024;
/// The big layer: a dozen chunks.
const BIG: u64 = 12 * 1024 * 1024;
/// Stop the first push once a session confirms this much (observed in IndexedDB).
const INTERRUPT_AT: u64 = 4 * 1024 * 1024;

fn docker_archive(dir: &Path, seed: u64) -> (std::path::PathBuf, FixtureImage) {
    let layout = dir.join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(seed).layer(100_000).layer(BIG),
        "v1",
    );
    let tar = dir.join("image.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/resume:v1");
    (tar, fixture)
}

fn text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Pushes from the page, stopped once (`how`: `cancel` or `reload`) and pushed again; checks
/// that the image arrived whole, that no byte range was accepted twice and that the bytes
/// sent in all come to the image's size plus at most the one chunk cut off midway.
fn push_interrupted_then_again(how: &str, seed: u64, repository: &str) -> Value {
    require_browser_tools();
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    // A chunk cut off midway reaches the registry whole or not at all (as behind nginx's
    // default `proxy_request_buffering on`): distribution 2.8 drops a session that got half
    // a chunk, and the layer would then rightly start over.
    proxy.buffer_request_bodies(true);
    let nginx = Nginx::cors_front_port(proxy.port());
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_archive(dir.path(), seed);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), &format!("{repository}:v1"))
        .trust_cert(nginx.cert_file())
        .screenshots(&format!("resume-{how}"))
        .env("TUG_INTERRUPT", how)
        .env("TUG_INTERRUPT_AT_BYTES", INTERRUPT_AT.to_string())
        .env("TUG_THROTTLE_BPS", (2 * CHUNK).to_string())
        .env("TUG_CHUNK_MIB", "1")
        .run();
    assert_eq!(report["state"], "success", "{}", text(&report));

    // The session was in IndexedDB when the push stopped, still there for the second push,
    // and gone once every blob was in.
    let at_interrupt = report["sessionsAtInterrupt"].as_array().unwrap();
    assert!(
        at_interrupt
            .iter()
            .any(|s| s["committed"].as_u64().unwrap_or(0) >= INTERRUPT_AT),
        "{}",
        text(&report)
    );
    assert!(
        !report["sessionsBeforeAgain"].as_array().unwrap().is_empty(),
        "{}",
        text(&report)
    );
    assert_eq!(
        report["sessionsAfter"],
        serde_json::json!([]),
        "{}",
        text(&report)
    );

    let pulled =
        pull_with_skopeo_and_compare_layers(&registry, &format!("{repository}:v1"), &fixture);
    assert_eq!(report["digest"], pulled.manifest_digest.as_str());
    let manifest = &pulled.manifest_json;
    let image_size: u64 = manifest["config"]["size"].as_u64().unwrap()
        + manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum::<u64>();

    // The second push asked the registry how far the session got, then went on from there:
    // every byte range the registry accepted, per upload session, follows the one before.
    let requests = proxy.requests_matching("*", "/blobs/uploads/");
    let log: Vec<String> = requests
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} → {:?} ({} bytes, {} cut off)",
                r.method,
                r.path(),
                r.header("content-range"),
                r.status,
                r.request_body_forwarded,
                r.request_body_discarded
            )
        })
        .collect();
    let log = log.join("\n");
    assert!(
        requests
            .iter()
            .any(|r| r.method == "GET" && r.status == Some(204)),
        "no session status asked:\n{log}"
    );
    let mut accepted: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for r in requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.status == Some(202))
    {
        let range = r.header("content-range").expect("PATCH with Content-Range");
        let (a, b) = range.split_once('-').unwrap();
        accepted
            .entry(r.path())
            .or_default()
            .push((a.parse().unwrap(), b.parse().unwrap()));
    }
    assert_eq!(accepted.len(), 1, "the big layer used one session:\n{log}");
    for ranges in accepted.values_mut() {
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            assert!(w[1].0 > w[0].1, "bytes {w:?} accepted twice:\n{log}");
        }
    }
    let sent: u64 = requests
        .iter()
        .map(|r| r.request_body_forwarded + r.request_body_discarded)
        .sum();
    eprintln!("image {image_size} bytes; sent {sent} bytes in all");
    assert!(
        sent >= image_size && sent <= image_size + CHUNK,
        "sent {sent} bytes for an image of {image_size} (one {CHUNK}-byte chunk extra at most):\n{log}"
    );
    report
}

#[test]
fn retry_after_a_cancel_goes_on_from_the_confirmed_offset() {
    let report = push_interrupted_then_again("cancel", 611, "browser/resume-retry");
    assert_eq!(
        report["cancelled"]["state"],
        "cancelled",
        "{}",
        text(&report)
    );
    assert_eq!(report["pushLabelAfterCancel"], "Retry", "{}", text(&report));
}

#[test]
fn a_reload_mid_push_then_the_same_file_pushed_again_resumes() {
    let report = push_interrupted_then_again("reload", 612, "browser/resume-reload");
    // The form came back from the page's remembered settings, the chunk size with it.
    assert_eq!(
        report["settingsAfterReload"]["chunk"],
        "1",
        "{}",
        text(&report)
    );
}
