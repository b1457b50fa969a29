//! A `tug copy` and a `tug sync` killed midway (`kill -9`) through a big layer's chunked
//! upload continue where the destination registry says it stopped when they run again, as
//! a push does: no chunk the registry had is sent twice, and the copy is whole.

use std::path::Path;

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{FaultProxy, FixtureImage, ImageSpec, ProxiedRequest, Registry, Tug};

use crate::common::{hermetic, kill_at_chunk, push};
use crate::resume::committed;

const LAYER: u64 = 64 << 20;
const CHUNK: u64 = 1 << 20;

/// `tug ARGS…` in the world `dir` (state in `dir/state`), one blob at a time, every blob in
/// 1 MiB `PATCH` chunks.
fn chunked(dir: &Path, args: &[&str]) -> Tug {
    hermetic(Tug::new(), dir)
        .env("TUG_CHUNK_SIZE", CHUNK.to_string())
        .env("TUG_MONOLITHIC_MAX", "0")
        .args(args)
        .args(["--plain-http", "-j", "1"])
}

/// The upload session and first byte of each `PATCH` the registry answered, in order.
fn patches(log: &[ProxiedRequest]) -> Vec<(String, u64)> {
    log.iter()
        .filter(|r| r.is("PATCH", "/blobs/uploads/") && r.status == Some(202))
        .filter_map(|r| {
            let start = r.header("content-range")?.split('-').next()?.parse().ok()?;
            Some((r.path().to_owned(), start))
        })
        .collect()
}

/// The bytes of an image's blobs (its config and layers).
fn blob_bytes(image: &FixtureImage) -> u64 {
    image.config.len() as u64 + image.layers.iter().map(|l| l.size).sum::<u64>()
}

/// A source registry holding an image with one 64 MiB layer as `name`.
fn source_with_a_big_layer(dir: &Path, name: &str, seed: u64) -> (Registry, FixtureImage) {
    let a = Registry::plain();
    let layout = dir.join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(seed).layer(LAYER), "v1");
    push(&a, &layout, name).assert_success();
    (a, fixture)
}

/// Runs `tug`, killed while the proxy holds the layer's fifth chunk (nothing of it reaches
/// the registry, which keeps the four before it), then `again` to its end, and checks what
/// the proxy saw: the state recorded the four chunks, the second run sent the layer from
/// there on and nothing twice (`blobs`: the image's blob bytes), and it forgot the session
/// once the layer was in.
fn kill_and_run_again(proxy: &FaultProxy, dir: &Path, tug: Tug, again: Tug, blobs: u64) {
    let state = dir.join("state");
    // With `-j 1` the config goes first, in one `PATCH` of its own: the layer's fifth is the
    // sixth.
    kill_at_chunk(proxy, tug, 6);
    let before = committed(&state);
    assert_eq!(
        before,
        4 * CHUNK,
        "tug recorded the four chunks the registry confirmed"
    );
    let first_run = proxy.requests().len();

    again.run().assert_success();
    let log = proxy.requests();
    let second: Vec<u64> = patches(&log[first_run..])
        .into_iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(
        second.first(),
        Some(&before),
        "the second run went on at the registry's offset: {second:?}"
    );
    assert!(
        second.iter().all(|s| *s >= before),
        "nothing before the offset sent again: {second:?}"
    );
    let mut all = patches(&log);
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "no chunk the registry took was sent twice");
    let sent = proxy.request_body_bytes_to("/blobs/");
    assert!(
        sent <= blobs,
        "{sent} blob bytes reached the registry over both runs, for {blobs} bytes of blobs"
    );
    assert_eq!(committed(&state), 0, "finished uploads are forgotten");
}

#[test]
fn a_killed_copy_resumes_from_the_destination_s_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (a, fixture) = source_with_a_big_layer(dir.path(), "src/big:v1", 61);
    let b = Registry::plain();
    let proxy = FaultProxy::start(&b);
    let copy = || {
        chunked(dir.path(), &["copy"])
            .arg(a.image("src/big:v1"))
            .arg(proxy.image("dst/big:v1"))
    };
    kill_and_run_again(&proxy, dir.path(), copy(), copy(), blob_bytes(&fixture));
    pull_with_skopeo_and_compare(&b, "dst/big:v1", &fixture);
}

/// The same through `tug sync`'s path: each image of a sync is a copy that keeps its
/// upload sessions in the same state file.
#[test]
fn a_killed_sync_resumes_its_image_s_upload_from_the_destination_s_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (a, fixture) = source_with_a_big_layer(dir.path(), "team/big:v1", 62);
    let b = Registry::plain();
    let proxy = FaultProxy::start(&b);
    let sync = || {
        chunked(dir.path(), &["sync"])
            .arg(a.image("team/big:v1"))
            .arg(proxy.host())
    };
    kill_and_run_again(&proxy, dir.path(), sync(), sync(), blob_bytes(&fixture));
    pull_with_skopeo_and_compare(&b, "team/big:v1", &fixture);
}
