//! Ctrl-C (SIGINT), SIGTERM and SIGHUP stop a transfer cleanly: tug exits with 130, 143 or
//! 129 (128 + the signal), says how to go on, records the run as cancelled, and the same
//! command run again continues where the first stopped.

use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};

use serde_json::Value;
use std::time::Duration;

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{Fault, FaultProxy, ImageSpec, Registry, Rule, Tug};

/// Bytes of file content in the test layer (its tar is a little larger).
const LAYER: u64 = 8 << 20;
const CHUNK: u64 = 1 << 20;
const CANCELLED: i32 = 130;

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child`, killing it if it has not exited after `limit` (then the status shows
/// the kill, not 130).
fn wait_at_most(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::park_timeout(limit);
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr).unwrap();
    }
    let status = child.wait().unwrap();
    watchdog.thread().unpark();
    watchdog.join().unwrap();
    (status, stderr)
}

#[test]
fn ctrl_c_stops_a_push_cleanly_and_the_next_run_continues() {
    a_signal_stops_a_push_cleanly_and_the_next_run_continues("-INT", CANCELLED, "interrupted");
}

/// A CI job cancelled, a pod evicted: `kill` stops a push as cleanly as Ctrl-C.
#[test]
fn sigterm_stops_a_push_cleanly_and_the_next_run_continues() {
    a_signal_stops_a_push_cleanly_and_the_next_run_continues("-TERM", 143, "terminated (SIGTERM)");
}

/// The terminal went away.
#[test]
fn sighup_stops_a_push_cleanly_and_the_next_run_continues() {
    a_signal_stops_a_push_cleanly_and_the_next_run_continues("-HUP", 129, "hung up (SIGHUP)");
}

/// Runs `tug` with `fault` on the fourth `PATCH` through `proxy`, sends it `sig` once that
/// `PATCH` has started, and waits for it to exit (its status and standard error).
fn signalled_at_the_fourth_patch(
    proxy: &FaultProxy,
    tug: Tug,
    fault: Fault,
    sig: &str,
) -> (ExitStatus, String) {
    proxy.add_rule(Rule::new("PATCH", "/blobs/uploads/", fault).nth(4));
    let child = tug
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(patches_started(proxy, 4), "the fourth chunk never started");
    signal(&child, sig);
    wait_at_most(child, Duration::from_secs(30))
}

/// Sends `sig` to a push held in the middle of its layer, checks it stops with `code`
/// saying `said`, is recorded as cancelled, and that the next run sends nothing the
/// registry already had.
fn a_signal_stops_a_push_cleanly_and_the_next_run_continues(sig: &str, code: i32, said: &str) {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(61).layer(LAYER), "v1");
    let push = || {
        Tug::new().env("TUG_STATE_DIR", &state).args([
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
    };
    // The fourth chunk hangs (nothing of it reaches the registry): the push is mid-way.
    let hang = Fault::Stall {
        hold: Duration::from_secs(60),
    };
    let first = push().arg(&layout).arg(proxy.image("intr/app:v1"));
    let (status, stderr) = signalled_at_the_fourth_patch(&proxy, first, hang, sig);
    assert_eq!(status.code(), Some(code), "{status:?}\n{stderr}");
    assert!(stderr.contains(&format!("{said}, stopping")), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let history = Tug::new()
        .env("TUG_STATE_DIR", &state)
        .args(["history", "--json"])
        .run()
        .assert_success();
    let records: Vec<serde_json::Value> = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(records.len(), 1, "{history}");
    assert_eq!(records[0]["outcome"], "cancelled", "{history}");
    assert_eq!(records[0]["exit_code"], code, "{history}");

    proxy.clear_rules();
    proxy.reset_counters();
    push()
        .arg(&layout)
        .arg(proxy.image("intr/app:v1"))
        .run()
        .assert_success();
    let config = fixture.config.len() as u64;
    let sent = proxy.request_body_bytes();
    assert!(
        sent <= fixture.layers[0].size - 2 * CHUNK + config,
        "the second run sent {sent} bytes; the registry had at least 2 chunks of the layer"
    );
    pull_with_skopeo_and_compare(&registry, "intr/app:v1", &fixture);
}

/// Runs `tug` with `args` (a push or a copy to `proxy`'s registry, 1 MiB chunks, one blob at
/// a time) and Ctrl-C's it while its fourth `PATCH` (the config's, then the layer's third
/// chunk) is on its way for 2 s (a slow link) before it goes through; runs it again and
/// returns the `blob_resumed` event of that run.
fn ctrl_c_during_the_third_chunk(proxy: &FaultProxy, state: &Path, args: &[String]) -> Value {
    let tug = || {
        Tug::new().env("TUG_STATE_DIR", state).args(args).args([
            "--plain-http",
            "--progress",
            "json",
            "--chunk-size",
            "1048576",
            "-j",
            "1",
        ])
    };
    let slow = Fault::Delay {
        hold: Duration::from_secs(2),
    };
    let (status, stderr) = signalled_at_the_fourth_patch(proxy, tug(), slow, "-INT");
    assert_eq!(status.code(), Some(CANCELLED), "{status:?}\n{stderr}");
    proxy.clear_rules();
    proxy.reset_counters();
    let out = tug().run().assert_success();
    out.stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "blob_resumed")
        .unwrap_or_else(|| panic!("the layer was not resumed: {}\n{stderr}", out.stderr_str()))
}

/// Ctrl-C while a chunk is on its way to distribution: the chunk's bytes reach the
/// registry anyway, and distribution then refuses the session token of the answer before
/// it ("upload resumed at wrong offset"). tug lets that chunk's answer come (a few seconds
/// at most) and keeps the session it names, so the next run goes on after the chunk
/// instead of sending the whole layer again.
#[test]
fn ctrl_c_during_a_chunk_keeps_the_session_after_it() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(63).layer(LAYER), "v1");
    let args = [
        "push".to_owned(),
        "--monolithic-max".to_owned(),
        "0".to_owned(),
        layout.display().to_string(),
        proxy.image("intr/chunk:v1"),
    ];
    let resumed = ctrl_c_during_the_third_chunk(&proxy, &dir.path().join("state"), &args);
    assert_eq!(
        resumed["from"],
        3 * CHUNK,
        "after the third chunk: {resumed}"
    );
    let config = fixture.config.len() as u64;
    let sent = proxy.request_body_bytes();
    assert!(
        sent <= fixture.layers[0].size - 3 * CHUNK + config,
        "the second run sent {sent} bytes; the registry had 3 chunks of the layer"
    );
    pull_with_skopeo_and_compare(&registry, "intr/chunk:v1", &fixture);
}

/// The same for a copy between registries: the chunk on its way to the target finishes,
/// fed by the source's read on its way too, and the next copy goes on after it.
#[test]
fn ctrl_c_during_a_copied_chunk_keeps_the_session_after_it() {
    let source = Registry::plain();
    let target = Registry::plain();
    let proxy = FaultProxy::start(&target);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(64).layer(LAYER), "v1");
    crate::common::push(&source, &layout, "intr/copy:v1").assert_success();
    let args = [
        "copy".to_owned(),
        source.image("intr/copy:v1"),
        proxy.image("intr/copied:v1"),
    ];
    let resumed = ctrl_c_during_the_third_chunk(&proxy, &dir.path().join("state"), &args);
    assert_eq!(
        resumed["from"],
        3 * CHUNK,
        "after the third chunk: {resumed}"
    );
    pull_with_skopeo_and_compare(&target, "intr/copied:v1", &fixture);
}

#[test]
fn ctrl_c_stops_a_pull_cleanly_and_the_next_run_continues() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(62).layer(LAYER), "v1");
    crate::common::push(&registry, &layout, "intr/pull:v1").assert_success();
    let proxy = FaultProxy::start(&registry);
    let layer = fixture.layers[0].digest.clone();
    let size_of_layer = fixture.layers[0].size;
    // The layer's download hangs after 3 MiB.
    proxy.add_rule(Rule::new(
        "GET",
        &format!("/blobs/{layer}"),
        Fault::StallResponseAfter {
            after: 3 * CHUNK,
            hold: Duration::from_secs(60),
        },
    ));
    let store = dir.path().join("store");
    let pull = || {
        Tug::new()
            // Its own state directory would go with the Tug, before the process ends.
            .env("TUG_STATE_DIR", dir.path().join("state"))
            .args(["pull", "--plain-http", "--progress", "json", "--store"])
            .arg(&store)
            .arg(proxy.image("intr/pull:v1"))
    };
    let child = pull()
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the partial file holds a good part of what the proxy let through.
    let hex = layer.trim_start_matches("sha256:");
    let partial = store.join(format!("blobs/sha256/.partial-{hex}"));
    let size = || std::fs::metadata(&partial).map_or(0, |m| m.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while size() < CHUNK {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, "-INT");
    let (status, stderr) = wait_at_most(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(CANCELLED), "{status:?}\n{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let kept = size();
    assert!(
        (CHUNK..=3 * CHUNK).contains(&kept),
        "kept {kept} bytes\n{:#?}",
        proxy.requests()
    );

    proxy.clear_rules();
    proxy.reset_counters();
    let out = pull().run().assert_success();
    assert!(
        out.stdout_str().contains(r#""event":"blob_resumed""#),
        "{out}"
    );
    let downloaded = proxy.response_body_bytes_from(&format!("/blobs/{layer}"));
    assert_eq!(
        downloaded,
        size_of_layer - kept,
        "only the missing bytes are downloaded\n{out}"
    );
    assert!(!partial.exists());
    let blob = store.join(format!("blobs/sha256/{hex}"));
    let (digest, len) = tug_testkit::hashing::sha256_file(&blob).unwrap();
    assert_eq!((digest, len), (layer, size_of_layer));
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    // tug blocks reading a password from a stdin nobody writes to or closes: the first
    // Ctrl-C asks for a clean stop that cannot come yet, the second must end the process
    // right away. (A FIFO as the source no longer blocks: it is refused at once.)
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.tar");
    std::fs::write(&image, b"").unwrap();
    let mut child = Tug::new()
        .env("TUG_STATE_DIR", dir.path().join("state"))
        .args([
            "-v",
            "push",
            "--plain-http",
            "-u",
            "someone",
            "--password-stdin",
        ])
        .arg(&image)
        .arg("127.0.0.1:9/intr/app:v1")
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin_held_open = child.stdin.take();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut read_until = |needle: &str, seen: &mut String| loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "tug ended before printing {needle:?}:\n{seen}");
        seen.push_str(&line);
        if line.contains(needle) {
            break;
        }
    };
    // `-v` prints the settings after the Ctrl-C handler is in place, before the source opens.
    read_until("settings:", &mut seen);
    signal(&child, "-INT");
    read_until("interrupted, stopping", &mut seen);
    signal(&child, "-INT");
    read_until("interrupted again, exiting now", &mut seen);
    drop(stderr);
    let (status, _) = wait_at_most(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(CANCELLED), "{status:?}\n{seen}");
}

/// A stream whose writer stalls (`(cat image.tar; sleep 600) | tug push - …`): Ctrl-C stops
/// tug while it waits for bytes, with 130, and its temporary copy goes.
#[test]
fn ctrl_c_stops_reading_a_stalled_stream_and_removes_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A few bytes, and the pipe held open: tug is reading it when the signal comes.
    let (child, stdin) = crate::common::pushing_a_held_stream(Tug::new(), &tmp);
    signal(&child, "-INT");
    let (status, _) = wait_at_most(child, Duration::from_secs(20));
    drop(stdin);
    assert_eq!(
        status.code(),
        Some(CANCELLED),
        "stopped on the first Ctrl-C"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "the temporary copy is gone: {left:?}");
}

/// A sync copying several images at once: Ctrl-C stops every copy in flight, not only one
/// (each image would otherwise run to its end first).
#[test]
fn ctrl_c_stops_every_image_a_sync_is_copying() {
    use std::sync::{mpsc, Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let mut minis = Vec::new();
    let mut layers = Vec::new();
    for (i, repo) in ["slow/one", "slow/two", "slow/three"]
        .into_iter()
        .enumerate()
    {
        let layout = dir.path().join(repo.replace('/', "-"));
        let image = write_oci_layout(&layout, &ImageSpec::new(40 + i as u64).layer(30_000), "v1");
        layers.push(image.layers[0].digest.clone());
        minis.push((repo, tug_testkit::MiniRegistry::from_layout(repo, &layout)));
    }
    let (started, layer_asked) = mpsc::channel::<()>();
    let started = Mutex::new(started);
    let minis = Arc::new(minis);
    let source = tug_testkit::HostileServer::start(move |r| {
        if r.method == "GET" && layers.iter().any(|l| r.path().ends_with(l.as_str())) {
            let _ = started.lock().unwrap().send(());
            // One byte a second: the copy is in flight until it is stopped.
            return tug_testkit::Reply::Trickle {
                status: 200,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                byte: 0,
                every: Duration::from_secs(1),
                len: Some(30_000),
            };
        }
        let (_, mini) = minis
            .iter()
            .find(|(repo, _)| r.path().contains(&format!("/v2/{repo}/")))
            .unwrap_or(&minis[0]);
        mini.answer(r)
    });
    let target = Registry::plain();
    let state = dir.path().join("state");
    // Four blobs at once, two for each image of two blobs: two images are copied, the
    // third waits for them.
    let mut child = Tug::new()
        .env("TUG_STATE_DIR", &state)
        .args(["sync", "--plain-http", "--jobs", "4", "--json"])
        .arg(format!("{}/slow/one:v1", source.host()))
        .arg(format!("{}/slow/two:v1", source.host()))
        .arg(format!("{}/slow/three:v1", source.host()))
        .arg(target.host())
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two images are being copied.
    layer_asked.recv().unwrap();
    layer_asked.recv().unwrap();
    signal(&child, "-INT");
    let stdout = child.stdout.take().unwrap();
    let (status, stderr) = wait_at_most(child, Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(CANCELLED),
        "every copy stopped on the first Ctrl-C"
    );
    assert!(
        stderr.contains("run the same command again to go on"),
        "{stderr}"
    );
    // The report and the history name every image the sync was stopped before.
    let report: serde_json::Value = serde_json::from_reader(stdout).unwrap();
    let outcomes: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["cancelled"; 3], "{report}");
    assert_eq!(report["summary"]["cancelled"], 3, "{report}");
    let history = std::fs::read_to_string(state.join("history.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["images"].as_array().unwrap().len(), 3, "{record}");
}

/// Ctrl-C stops a registry-to-registry copy held mid-layer: 130, and it says how to go on.
#[test]
fn ctrl_c_stops_a_copy_and_says_how_to_go_on() {
    let (source, target) = (Registry::plain(), Registry::plain());
    let proxy = FaultProxy::start(&target);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(62).layer(LAYER), "v1");
    crate::common::push(&source, &layout, "intr/src:v1").assert_success();
    let hold = Duration::from_secs(60);
    proxy.add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::Stall { hold }).nth(3));
    let child = Tug::new()
        .env("TUG_STATE_DIR", dir.path().join("state"))
        .env("TUG_CHUNK_SIZE", "1048576")
        .args(["copy", "--plain-http", "-j", "1"])
        .arg(source.image("intr/src:v1"))
        .arg(proxy.image("intr/copy:v1"))
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        patches_started(&proxy, 3),
        "the third chunk never started: {:#?}",
        proxy.requests()
    );
    signal(&child, "-INT");
    let (status, stderr) = wait_at_most(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(CANCELLED), "{status:?}\n{stderr}");
    assert!(
        stderr.contains("copy cancelled; run the same command again"),
        "{stderr}"
    );
}

/// Whether `n` chunks (`PATCH`es) reached `proxy` within a minute (waited for, not slept).
fn patches_started(proxy: &FaultProxy, n: usize) -> bool {
    proxy.wait_for(Duration::from_secs(60), |log| {
        log.iter()
            .filter(|r| r.is("PATCH", "/blobs/uploads/"))
            .count()
            >= n
    })
}
