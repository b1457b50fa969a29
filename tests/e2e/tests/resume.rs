//! A push killed midway (`kill -9`) continues where the registry says it stopped when the
//! same command runs again: bytes already received are not sent twice.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{ImageSpec, Registry, Tug};

const LAYER: u64 = 48 << 20;

fn tug(state: &std::path::Path) -> Tug {
    Tug::new().env("TUG_STATE_DIR", state).args([
        "push",
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

/// The session recorded in the upload state file: its upload id and committed bytes.
fn recorded(state: &std::path::Path) -> Option<(String, u64)> {
    let bytes = std::fs::read(state.join("uploads.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let entry = v
        .as_object()?
        .values()
        .max_by_key(|e| e["committed"].as_u64())?
        .clone();
    let location = entry["location"].as_str()?;
    let uuid = location.split('?').next()?.rsplit('/').next()?.to_owned();
    Some((uuid, entry["committed"].as_u64()?))
}

fn committed(state: &std::path::Path) -> u64 {
    recorded(state).map_or(0, |(_, c)| c)
}

/// Bytes the registry holds of upload `uuid`.
fn upload_size(registry: &Registry, uuid: &str) -> u64 {
    let data = registry
        .storage_dir()
        .join("docker/registry/v2/repositories/resume/app/_uploads")
        .join(uuid)
        .join("data");
    std::fs::metadata(data).map_or(0, |m| m.len())
}

fn signal(pid: u32, sig: &str) {
    std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn a_killed_push_resumes_from_the_registry_offset() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(51).layer(LAYER), "v1");
    let target = registry.image("resume/app:v1");

    let mut child = tug(&state)
        .command()
        .arg(&layout)
        .arg(&target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Watch the state file until a few chunks are confirmed; then freeze the push at a moment
    // when the registry holds exactly what tug recorded (no chunk half sent: distribution
    // 2.8 invalidates a session whose PATCH broke midway), and kill it hard.
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = child.id();
    loop {
        assert!(
            Instant::now() < deadline,
            "no moment between chunks was caught"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before it could be killed"
        );
        if committed(&state) < 4 << 20 {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        signal(pid, "-STOP");
        // Let bytes already on their way land, then compare.
        let (uuid, at) = recorded(&state).unwrap();
        let mut size = upload_size(&registry, &uuid);
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let now = upload_size(&registry, &uuid);
            if now == size {
                break;
            }
            size = now;
        }
        if size == at {
            break;
        }
        signal(pid, "-CONT");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = committed(&state);
    assert!(before >= 4 << 20);

    let out = tug(&state).arg(&layout).arg(&target).run().assert_success();
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
    pull_with_skopeo_and_compare(&registry, "resume/app:v1", &fixture);
    assert_eq!(committed(&state), 0, "finished uploads are forgotten");
}
