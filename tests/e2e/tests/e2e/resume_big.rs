//! A 1 GiB image moved by a `tug` that is killed (`SIGKILL`) about half way continues when the
//! same command runs again, and no byte reaches the registry (push) or leaves it (pull)
//! twice beyond one chunk.
//!
//! The push goes through a proxy that buffers request bodies, as nginx does in front of most
//! registries: a chunk broken off by the kill never reaches distribution, whose upload
//! session therefore stays valid at the last complete chunk. (Straight to distribution 2.8,
//! a PATCH broken midway invalidates the session; tug then starts a new one — see
//! `resume.rs` for the straight case, killed between chunks.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use tug_testkit::fixtures::big_layer_tar_tagged;
use tug_testkit::hashing::sha256_file;
use tug_testkit::room::tempdir_with_room;
use tug_testkit::{FaultProxy, Registry, RegistryConfig, Tug};

const LAYER: u64 = 1 << 30;
/// tug's default upload chunk.
const CHUNK: u64 = 64 << 20;

fn push(state: &Path, tar: &Path, image: &str) -> Tug {
    Tug::new()
        .env("TUG_STATE_DIR", state)
        .args(["push", "--plain-http", "--progress", "json"])
        .arg(tar)
        .arg(image)
}

fn pull(store: &Path, image: &str) -> Tug {
    Tug::new()
        .args(["pull", "--plain-http", "--progress", "json", "--store"])
        .arg(store)
        .arg(image)
}

/// Starts `tug`, reads its JSON progress lines until `field` of a `progress` event reaches
/// `at` bytes, and kills it hard right there.
fn kill_when(tug: Tug, field: &str, at: u64) -> u64 {
    signal_when(tug, field, at, "-KILL").0
}

/// Starts `tug`, reads its JSON progress lines until `field` of a `progress` event reaches
/// `at` bytes, and sends it `signal` (`-KILL`, `-INT`) right there; the bytes reached and
/// how tug ended.
fn signal_when(tug: Tug, field: &str, at: u64, signal: &str) -> (u64, std::process::ExitStatus) {
    let mut child: Child = tug
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut reached = None;
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["event"] == "progress" {
            if let Some(n) = v[field].as_u64().filter(|&n| n >= at) {
                let sent = std::process::Command::new("kill")
                    .args([signal, &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(sent.success());
                reached = Some(n);
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    let reached = reached.unwrap_or_else(|| panic!("tug ended before {field} reached {at}"));
    (reached, status)
}

/// The proxy's request log, one line per request, for failure messages.
fn request_log(proxy: &FaultProxy) -> String {
    proxy
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} [{}] -> {:?}/{:?} fwd={} discarded={} range={:?}\n",
                r.method,
                r.path(),
                r.header("content-range").unwrap_or("-"),
                r.upstream_status,
                r.status,
                r.request_body_forwarded,
                r.request_body_discarded,
                r.upstream_range
            )
        })
        .collect()
}

fn progress_max(out: &tug_testkit::TugOutput, field: &str) -> u64 {
    out.stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "progress")
        .filter_map(|v| v[field].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_gib_push_killed_halfway_behind_a_buffering_proxy_sends_at_most_one_chunk_twice() {
    // The registry's copy of the layer (the tar is sparse), and a chunk in flight.
    let dir = tempdir_with_room(LAYER + CHUNK);
    let registry = Registry::start(RegistryConfig::plain().with_temp_parent(dir.path()));
    let proxy = FaultProxy::start(&registry);
    proxy.buffer_request_bodies(true);
    let state = dir.path().join("state");
    let tar = dir.path().join("big.tar");
    let fixture = big_layer_tar_tagged(&tar, LAYER, "resume/big:v1");
    let image = proxy.image("resume/big:v1");

    // Kill tug while it sends the chunk that starts half way: the proxy holds that PATCH, so
    // tug has recorded the registry's answer to the chunk before it (it sends the next one
    // only after). Killed in the moment between a chunk's last byte and the registry's
    // answer, tug would keep a session whose `_state` token is one chunk old, and
    // distribution cancels such a session when it is asked about it: that push starts over.
    let half = (LAYER / 2 / CHUNK) as usize;
    crate::common::kill_at_chunk(&proxy, push(&state, &tar, &image), half + 1);
    let before = proxy.request_body_bytes();
    assert!(
        (LAYER / 2..LAYER).contains(&before),
        "the first run was killed half way ({before} bytes in)"
    );

    let out = push(&state, &tar, &image).run().assert_success();
    let config = fixture.config.len() as u64;
    let total = proxy.request_body_bytes();
    assert!(
        total <= LAYER + 2 * config + CHUNK,
        "the registry received {total} bytes in all for a {LAYER}-byte layer; requests:\n{}\nsecond run:\n{}",
        request_log(&proxy),
        out.stdout_str()
    );
    let second = progress_max(&out, "sent_bytes");
    assert!(
        second <= LAYER - before + config + CHUNK,
        "the second run sent {second} bytes; the registry already had {before}"
    );

    // The registry holds the layer under its digest (distribution checks it on the final
    // PUT), and the tag names a manifest with it.
    let manifest = tug_testkit::skopeo::inspect_raw_in(&registry, "resume/big:v1").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["layers"][0]["digest"],
        fixture.layers[0].digest.as_str()
    );
    let url = format!(
        "{}/v2/resume/big/blobs/{}",
        registry.url(),
        fixture.layers[0].digest
    );
    let head = registry.agent().head(&url).call().unwrap();
    assert_eq!(head.headers()["content-length"], LAYER.to_string().as_str());
}

/// A registry holding a 1 GiB image (`resume/big:v1`) in `dir`, and the image.
fn registry_with_a_gib_image(dir: &Path) -> (Registry, tug_testkit::FixtureImage) {
    let registry = Registry::start(RegistryConfig::plain().with_temp_parent(dir));
    let tar = dir.join("big.tar");
    let fixture = big_layer_tar_tagged(&tar, LAYER, "resume/big:v1");
    push(&dir.join("state"), &tar, &registry.image("resume/big:v1"))
        .run()
        .assert_success();
    (registry, fixture)
}

/// Ctrl-C during a pull at loopback speed stops it there (exit 130, the layer not all
/// downloaded), and the next run goes on from the bytes on disk. The transport always had a
/// message ready, and the driver looked at them before the stop: the whole GiB arrived,
/// and a pull into the store ended 0 after saying it was stopping. (Seen with a release
/// tug, `TUG_BIN=target/release/tug`: a debug one reads slower than it is sent to.)
#[test]
fn ctrl_c_stops_a_fast_pull_at_once_and_the_next_run_continues() {
    let dir = tempdir_with_room(2 * LAYER);
    let (registry, fixture) = registry_with_a_gib_image(dir.path());
    let store = dir.path().join("store");
    let image = registry.image("resume/big:v1");
    let (_, status) = signal_when(pull(&store, &image), "received_bytes", 64 << 20, "-INT");
    assert_eq!(status.code(), Some(130), "{status}");
    let layer_hex = fixture.layers[0].digest.trim_start_matches("sha256:");
    let blob = store.join(format!("blobs/sha256/{layer_hex}"));
    assert!(!blob.exists(), "the stopped pull committed the layer");
    let out = pull(&store, &image).run().assert_success();
    assert!(out.stdout_str().contains(r#""event":"blob_resumed""#));
    let (digest, len) = sha256_file(&blob).unwrap();
    assert_eq!(
        (digest.as_str(), len),
        (fixture.layers[0].digest.as_str(), LAYER)
    );
}

#[test]
fn a_gib_pull_killed_halfway_continues_from_the_bytes_on_disk() {
    // The registry's copy of the layer (the tar is sparse) and the pulled one.
    let dir = tempdir_with_room(2 * LAYER);
    let (registry, fixture) = registry_with_a_gib_image(dir.path());
    let proxy = FaultProxy::start(&registry);
    let store = dir.path().join("store");
    let image = proxy.image("resume/big:v1");

    kill_when(pull(&store, &image), "received_bytes", LAYER / 2);
    let layer_hex = fixture.layers[0].digest.trim_start_matches("sha256:");
    let partial = store.join(format!("blobs/sha256/.partial-{layer_hex}"));
    let kept = std::fs::metadata(&partial).map_or(0, |m| m.len());
    assert!(
        (LAYER / 2..LAYER).contains(&kept),
        "the killed pull kept {kept} bytes"
    );
    let first = proxy.response_body_bytes_from("/blobs/");

    let out = pull(&store, &image).run().assert_success();
    assert!(out.stdout_str().contains(r#""event":"blob_resumed""#));
    let config = fixture.config.len() as u64;
    let total = proxy.response_body_bytes_from("/blobs/");
    assert!(
        total - first <= LAYER - kept + config,
        "the second run downloaded {} bytes; {kept} were on disk",
        total - first
    );
    assert!(
        total <= LAYER + 2 * config + CHUNK,
        "the registry sent {total} bytes in all for a {LAYER}-byte layer"
    );
    let blob = store.join(format!("blobs/sha256/{layer_hex}"));
    let (digest, len) = sha256_file(&blob).unwrap();
    assert_eq!(
        (digest.as_str(), len),
        (fixture.layers[0].digest.as_str(), LAYER)
    );
    assert!(
        !partial.exists(),
        "the finished download left no partial file"
    );
}
