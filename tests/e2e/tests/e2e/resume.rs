//! A push killed midway (`kill -9`) continues where the registry says it stopped when the
//! same command runs again: bytes already received are not sent twice.

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{FaultProxy, ImageSpec, Registry, Tug};

use crate::common::hermetic;

const LAYER: u64 = 48 << 20;

/// `tug push` in the world `dir` (state in `dir/state`), in 1 MiB chunks, one blob at a time.
fn chunked_push(dir: &std::path::Path) -> Tug {
    hermetic(Tug::new(), dir).args([
        "push",
        "--plain-http",
        "--progress",
        "json",
        "--chunk-size",
        "1048576",
        "--monolithic-max",
        "0",
        "-j",
        "1",
    ])
}

/// The bytes the upload state file records as committed (0 when it records no session).
pub(crate) fn committed(state: &std::path::Path) -> u64 {
    let Ok(bytes) = std::fs::read(state.join("uploads.json")) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    v.as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(|e| e["committed"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_killed_push_resumes_from_the_registry_offset() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(51).layer(LAYER), "v1");
    let target = proxy.image("resume/app:v1");

    // Hold the layer's fifth chunk in the proxy (nothing of it reaches the registry) and
    // kill tug hard while it waits there: the registry then holds exactly the four chunks
    // tug recorded (a chunk half sent would make distribution 2.8 drop the session). With
    // `-j 1` the config goes first, in one PATCH of its own: the layer's fifth is the sixth.
    crate::common::kill_at_chunk(
        &proxy,
        chunked_push(dir.path()).arg(&layout).arg(&target),
        6,
    );
    let before = committed(&state);
    assert_eq!(
        before,
        4 << 20,
        "tug recorded the four chunks the registry confirmed"
    );

    let out = chunked_push(dir.path())
        .arg(&layout)
        .arg(&target)
        .run()
        .assert_success();
    let stdout = out.stdout_str();
    let sent = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "progress")
        .filter_map(|v| v["sent_bytes"].as_u64())
        .max()
        .unwrap();
    let config = fixture.config.len() as u64;
    assert!(
        sent <= LAYER - before + config + (1 << 20),
        "the second run sent {sent} bytes; the registry already had {before} of {LAYER}"
    );
    // It says so: the layer goes on at the registry's offset, the summary counts those
    // bytes apart, and the history has the layer start when it was taken up.
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let resumed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|v| v["event"] == "blob_resumed")
        .collect();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(resumed[0]["from"], before);
    let layer_size = resumed[0]["size"].as_u64().unwrap();
    assert!(
        layer_size >= LAYER,
        "the layer (a tar of {LAYER} bytes of files)"
    );
    let done = events.iter().find(|v| v["event"] == "done").unwrap();
    assert_eq!(done["bytes_resumed"], before, "{done}");
    let history = std::fs::read_to_string(state.join("history.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    let layer = last["blob_timings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["size"] == layer_size)
        .unwrap();
    assert_eq!(layer["resumed_from"], before, "{layer}");
    assert_eq!(layer["outcome"], "pushed", "{layer}");
    pull_with_skopeo_and_compare(&registry, "resume/app:v1", &fixture);
    assert_eq!(committed(&state), 0, "finished uploads are forgotten");
}

/// A push does not take up an upload session another running push has open (both send the
/// same layer to one repository): it opens its own. Taking it up would have both write into
/// one session, and whichever closed it second would fail.
#[test]
fn a_session_another_running_push_has_open_is_not_taken_up() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(53).layer(LAYER), "v1");

    // The first push waits in its layer's fifth chunk, its session recorded at four.
    let push = |tag: &str| chunked_push(dir.path()).arg(&layout).arg(proxy.image(tag));
    let mut first = crate::common::held_at_chunk(&proxy, push("shared/app:v1"), 6);
    assert_eq!(
        committed(&state),
        4 << 20,
        "the first push's session is recorded"
    );

    push("shared/app:v2").run().assert_success();
    let sessions = proxy.requests_matching("POST", "/blobs/uploads/").len();
    first.kill().unwrap();
    first.wait().unwrap();
    proxy.clear_rules();
    assert_eq!(
        sessions,
        3,
        "the second push opened a session of its own for the layer (config and layer by the \
         first, layer by the second): {:#?}",
        proxy.requests_matching("POST", "/blobs/uploads/")
    );
    pull_with_skopeo_and_compare(&registry, "shared/app:v2", &fixture);
}

/// A process that cannot mark itself (`owners` in the state directory is a file) cannot
/// tell a session in use from one left behind: it says so and takes none up, and pushes.
#[test]
fn without_a_mark_of_its_own_a_push_takes_up_no_session() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("owners"), b"not a directory").unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(54).layer(8 << 20), "v1");
    let push = || {
        chunked_push(dir.path())
            .arg(&layout)
            .arg(proxy.image("nomark/app:v1"))
    };
    crate::common::kill_at_chunk(&proxy, push(), 4);
    assert!(committed(&state) > 0, "the killed push kept its session");
    let sessions = proxy.requests_matching("POST", "/blobs/uploads/").len();

    let out = push().run().assert_success();
    assert!(
        out.stderr_str().contains("cannot mark this process"),
        "{}",
        out.stderr_str()
    );
    assert_eq!(
        proxy.requests_matching("POST", "/blobs/uploads/").len(),
        sessions + 1,
        "the layer got a session of its own"
    );
    pull_with_skopeo_and_compare(&registry, "nomark/app:v1", &fixture);
}

/// distribution answers `Range: 0-0` for one byte as for none: a push killed when the
/// registry holds exactly the layer's first byte resumes after that byte (re-sending it
/// would make the blob's digest wrong).
#[test]
fn a_resume_at_one_committed_byte_continues_after_it() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(52).layer(64 << 10), "v1");
    let target = proxy.image("resume/one:v1");
    let one_byte_chunks = || {
        hermetic(Tug::new(), dir.path()).args([
            "push",
            "--plain-http",
            "--chunk-size",
            "1",
            "--monolithic-max",
            "4096",
            "-j",
            "1",
        ])
    };
    // The config goes in one PUT; the layer's second one-byte chunk is held and tug killed.
    crate::common::kill_at_chunk(&proxy, one_byte_chunks().arg(&layout).arg(&target), 2);
    assert_eq!(
        committed(&state),
        1,
        "tug recorded the byte the registry confirmed"
    );

    hermetic(Tug::new(), dir.path())
        .args(["push", "--plain-http", "--progress", "plain"])
        .arg(&layout)
        .arg(&target)
        .run()
        .assert_success();
    let sessions = proxy.requests_matching("POST", "/blobs/uploads/").len();
    assert_eq!(
        sessions, 2,
        "the layer's session was resumed, not opened again"
    );
    pull_with_skopeo_and_compare(&registry, "resume/one:v1", &fixture);
}
