//! Text from outside never drives the terminal: a registry's error message, platform strings
//! in an index and tags in a tar carry escape sequences that would erase tug's error line and
//! print a fake green success line; tug shows them escaped — in its error, its progress, `-v`,
//! `inspect`, and `tug history` replaying the record later.

use std::fs;

use tug_testkit::fixtures::{classic_docker_save, write_oci_layout};
use tug_testkit::{HostileServer, ImageSpec, Reply, TugOutput};

use crate::common::Env;

/// Erase the line, go up one, print a green success.
const FAKE_SUCCESS: &str = "\u{1b}[2K\u{1b}[1A\u{1b}[32mPushed sha256:ok, all good\u{1b}[0m\u{7}";

/// No ESC (or other control byte but newline and tab) anywhere in stdout or stderr.
fn assert_no_control_bytes(out: &TugOutput) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let bad: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|b| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f)
            .collect();
        assert!(bad.is_empty(), "{name} holds control bytes {bad:?}:\n{out}");
    }
}

#[test]
fn a_registry_error_message_is_shown_escaped_now_and_in_history() {
    let env = Env::new();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(41).layer(5_000), "v1");
    let server = HostileServer::start(|r| {
        if r.path() == "/v2/" {
            return Reply::body(200, "application/json", "{}");
        }
        if r.method == "HEAD" {
            return Reply::status(404);
        }
        Reply::registry_error(403, "DENIED", FAKE_SUCCESS)
    });
    for progress in ["plain", "json"] {
        let out = env
            .tug()
            .args([
                "-v",
                "push",
                "--plain-http",
                "--retries",
                "1",
                "--progress",
                progress,
            ])
            .arg(&layout)
            .arg(format!("{}/team/app:v1", server.host()))
            .run();
        assert!(!out.success(), "{out}");
        assert!(
            out.stderr_str().contains("\\x1b[32mPushed sha256:ok"),
            "the message is there, escaped: {out}"
        );
        assert_no_control_bytes(&out);
    }
    let history = env.tug().arg("history").run().assert_success();
    assert_no_control_bytes(&history);
    let records = env.tug().args(["history", "--json"]).run().assert_success();
    let records: serde_json::Value = serde_json::from_slice(&records.stdout).unwrap();
    let id = records[0]["id"].as_str().unwrap().to_owned();
    let show = env
        .tug()
        .args(["history", "show", &id])
        .run()
        .assert_success();
    assert!(show.stdout_str().contains("\\x1b[32mPushed"), "{show}");
    assert_no_control_bytes(&show);
}

#[test]
fn platforms_in_an_index_are_shown_escaped() {
    let env = Env::new();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "1".repeat(64)),
            "size": 100,
            "platform": {"os": format!("plan9{FAKE_SUCCESS}"), "architecture": "amd64"}
        }]
    })
    .to_string();
    let server = HostileServer::start(move |r| match r.path() {
        "/v2/" => Reply::body(200, "application/json", "{}"),
        p if p.ends_with("/manifests/v1") => Reply::body(
            200,
            "application/vnd.oci.image.index.v1+json",
            index.clone(),
        ),
        _ => Reply::registry_error(404, "MANIFEST_UNKNOWN", "unknown"),
    });
    let out = env
        .tug()
        .args(["pull", "--plain-http", "--platform", "linux/amd64", "-o"])
        .arg(env.path("out"))
        .arg(format!("{}/team/app:v1", server.host()))
        .run();
    assert!(!out.success(), "{out}");
    assert!(out.stderr_str().contains("plan9\\x1b[2K"), "{out}");
    assert_no_control_bytes(&out);
}

#[test]
fn tags_in_a_tar_are_shown_escaped() {
    let env = Env::new();
    let tar = env.path("evil.tar");
    classic_docker_save(
        &tar,
        &ImageSpec::new(42).layer(3_000),
        &format!("evil{FAKE_SUCCESS}:latest"),
    );
    let state = env.state();
    for args in [vec!["inspect"], vec!["inspect", "--json"]] {
        let out = env.tug().args(&args).arg(&tar).run().assert_success();
        assert_no_control_bytes(&out);
    }
    let out = env.tug().arg("inspect").arg(&tar).run();
    assert!(out.stdout_str().contains("\\x1b[32m"), "{out}");
    // The same tag on a push's progress lines and its error.
    let server = HostileServer::start(|r| match r.path() {
        "/v2/" => Reply::body(200, "application/json", "{}"),
        _ => Reply::registry_error(500, "UNAVAILABLE", "down"),
    });
    let out = env
        .tug()
        .args([
            "push",
            "--plain-http",
            "--retries",
            "1",
            "--progress",
            "plain",
        ])
        .arg(&tar)
        .arg(format!("{}/team/app:v1", server.host()))
        .run();
    assert!(!out.success());
    assert_no_control_bytes(&out);
    let _ = fs::remove_dir_all(&state);
}

#[test]
fn a_listed_tag_or_repository_is_one_line_whatever_it_holds() {
    let env = Env::new();
    let server = HostileServer::start(|r| {
        if r.path() == "/v2/" {
            return Reply::body(200, "application/json", "{}");
        }
        let body = if r.path().ends_with("/tags/list") {
            serde_json::json!({"name": "team/app", "tags": ["v1", "nl\nfake-tag", FAKE_SUCCESS]})
        } else {
            serde_json::json!({"repositories": ["team/app", "nl\nfake-repo"]})
        };
        Reply::body(200, "application/json", body.to_string())
    });
    for (verb, target, fake) in [
        ("ls", format!("{}/team/app", server.host()), "fake-tag"),
        ("catalog", server.host(), "fake-repo"),
    ] {
        let out = env
            .tug()
            .args([verb, "--plain-http", &target])
            .run()
            .assert_success();
        assert_no_control_bytes(&out);
        let lines: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
        assert!(lines.contains(&format!("nl\\x0a{fake}")), "{out}");
        assert!(!lines.iter().any(|l| l == fake), "{out}");
    }
}
