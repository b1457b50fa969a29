//! `tug history`: real pushes, pulls and copies (and failed ones) are recorded in the state
//! directory and listed; concurrent tug processes never corrupt the file; rotation keeps it
//! under its cap; secrets never enter it.

use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;
use tug_testkit::{ImageSpec, Registry, TugOutput};

use crate::common::Env;

const PASSWORD: &str = "Wr0ng-but-secret-pw";

/// `tug history --json` in `env`, parsed.
fn history_json(env: &Env, extra: &[&str]) -> Vec<Value> {
    let out = env
        .tug()
        .args(["history", "--json"])
        .args(extra)
        .run()
        .assert_success();
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Every line of the history file `name`, parsed (panics on a line that is not JSON).
fn lines(env: &Env, name: &str) -> Vec<Value> {
    let text = fs::read_to_string(env.state().join(name)).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// An image in the OCI layout `layout-<seed>` of `env`.
fn layout(env: &Env, seed: u64) -> (PathBuf, tug_testkit::FixtureImage) {
    env.layout(
        seed,
        &ImageSpec::new(seed).layer(300_000).gzip_layer(50_000),
    )
}

fn ids(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

#[test]
fn pushes_pulls_copies_and_failures_are_recorded_and_listed() {
    let env = Env::new();
    let registry = Registry::plain();
    let (src, fixture) = layout(&env, 81);
    let manifest = fixture.manifest_digest.clone().unwrap();
    let blob_digests: Vec<String> = std::iter::once(fixture.config_digest.clone())
        .chain(fixture.layers.iter().map(|l| l.digest.clone()))
        .collect();
    let total: u64 =
        fixture.config.len() as u64 + fixture.layers.iter().map(|l| l.size).sum::<u64>();

    // 1. A push.
    env.tug()
        .args(["push", "--progress", "plain"])
        .arg(&src)
        .arg(registry.image("hist/app:v1"))
        .run()
        .assert_success();
    // 2. A pull into an OCI layout.
    let out_dir = env.path("pulled");
    env.tug()
        .args(["pull", "--progress", "plain", "-o"])
        .arg(&out_dir)
        .arg(registry.image("hist/app:v1"))
        .run()
        .assert_success();
    // 3. A copy within the registry: blobs are mounted.
    env.tug()
        .args(["copy", "--progress", "plain"])
        .arg(registry.image("hist/app:v1"))
        .arg(registry.image("hist/copy:v1"))
        .run()
        .assert_success();
    // 4. A push with a wrong password.
    let auth = Registry::tls_basic_auth("alice", "the-right-one");
    let denied = env
        .tug()
        .env("TUG_USERNAME", "alice")
        .env("TUG_PASSWORD", PASSWORD)
        .args(["push", "--progress", "plain", "--ca-file"])
        .arg(auth.ca_file().unwrap())
        .arg(&src)
        .arg(auth.image("hist/app:v1"))
        .run()
        .assert_code(crate::common::AUTH);
    // 5. A pull from a registry nobody listens on.
    let unreachable = env
        .tug()
        .args(["pull", "--progress", "plain", "--retries", "1"])
        .arg("127.0.0.1:1/nobody/home:v1")
        .run()
        .assert_code(crate::common::REGISTRY);

    let all = history_json(&env, &[]);
    assert_eq!(all.len(), 5, "{all:#?}");
    let [push, pull, copy, auth_fail, net_fail] = &all[..] else {
        unreachable!()
    };
    let unique: std::collections::HashSet<_> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), 5, "ids are unique");

    assert_eq!(push["command"], "push");
    assert_eq!(push["outcome"], "ok");
    assert_eq!(push["exit_code"], 0);
    assert_eq!(push["source"], src.display().to_string());
    assert_eq!(push["target"], registry.image("hist/app:v1"));
    assert_eq!(push["digest"], manifest.as_str());
    assert_eq!(push["blobs"], 3);
    assert_eq!(push["blobs_transferred"], 3);
    assert_eq!(push["bytes_total"], total);
    assert!(push["bytes_transferred"].as_u64().unwrap() >= total);
    assert!(push["avg_bytes_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        push["peak_bytes_per_second"].as_f64().unwrap()
            >= push["avg_bytes_per_second"].as_f64().unwrap(),
        "the peak is never below the average: {push}"
    );
    assert!(push["start"].as_str().unwrap() <= push["end"].as_str().unwrap());
    assert!(push["start"].as_str().unwrap().ends_with('Z'));
    let timings = push["blob_timings"].as_array().unwrap();
    let mut timed: Vec<&str> = timings
        .iter()
        .map(|b| b["digest"].as_str().unwrap())
        .collect();
    timed.sort();
    let mut expected: Vec<&str> = blob_digests.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(timed, expected, "a timing per blob");
    for b in timings {
        assert_eq!(b["outcome"], "pushed");
        assert!(b["start_ms"].as_u64().unwrap() <= b["end_ms"].as_u64().unwrap());
        assert!(b["end_ms"].as_u64().unwrap() <= push["duration_ms"].as_u64().unwrap());
    }

    assert_eq!(pull["command"], "pull");
    assert_eq!(pull["outcome"], "ok");
    assert_eq!(pull["target"], out_dir.display().to_string());
    assert_eq!(pull["digest"], manifest.as_str());
    assert_eq!(pull["blobs_transferred"], 3);
    assert_eq!(pull["bytes_total"], total);
    let outcomes: Vec<&str> = pull["blob_timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["downloaded"; 3]);

    assert_eq!(copy["command"], "copy");
    assert_eq!(copy["outcome"], "ok");
    assert_eq!(copy["digest"], manifest.as_str());
    assert_eq!(copy["blobs_mounted"], 3);
    assert_eq!(copy["bytes_mounted"], total);
    assert_eq!(copy["blobs_transferred"], 0);
    // Only the manifest went over the wire.
    assert!(copy["bytes_transferred"].as_u64().unwrap() < 2000, "{copy}");
    assert!(copy["blob_timings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["outcome"] == "mounted"));

    assert_eq!(auth_fail["outcome"], "failed");
    assert_eq!(auth_fail["exit_code"], crate::common::AUTH);
    assert_eq!(auth_fail["error_class"], "auth");
    let message = auth_fail["error"].as_str().unwrap();
    assert!(
        denied.stderr_str().contains(message),
        "the recorded error is the one shown: {message:?} in {denied}"
    );

    assert_eq!(net_fail["command"], "pull");
    assert_eq!(net_fail["outcome"], "failed");
    assert_eq!(net_fail["exit_code"], crate::common::REGISTRY);
    assert_eq!(net_fail["error_class"], "network");
    assert!(unreachable
        .stderr_str()
        .contains(net_fail["error"].as_str().unwrap()));

    // --failed, -n, and both.
    assert_eq!(ids(&history_json(&env, &["--failed"])), ids(&all[3..]));
    assert_eq!(ids(&history_json(&env, &["-n", "2"])), ids(&all[3..]));
    assert_eq!(
        ids(&history_json(&env, &["-n", "1", "--failed"])),
        ids(&all[4..])
    );
    assert_eq!(ids(&history_json(&env, &["-n", "9"])), ids(&all));

    // The table: a row per operation, oldest first.
    let table = env.tug().arg("history").run().assert_success().stdout_str();
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{table}");
    for (row, r) in rows.iter().zip(&all) {
        assert!(row.starts_with(r["id"].as_str().unwrap()), "{row}");
        assert!(row.contains(r["command"].as_str().unwrap()), "{row}");
    }
    assert!(rows[0].contains(" ok "), "{table}");
    assert!(rows[3].contains("failed:auth"), "{table}");
    assert!(rows[4].contains("failed:network"), "{table}");
    let failed = env
        .tug()
        .args(["history", "--failed"])
        .run()
        .assert_success()
        .stdout_str();
    assert_eq!(failed.lines().count(), 3, "header and two rows: {failed}");

    // One operation in detail, by id and by a unique prefix.
    let id = push["id"].as_str().unwrap();
    let shown = env
        .tug()
        .args(["history", "show", id])
        .run()
        .assert_success();
    let text = shown.stdout_str();
    assert!(text.contains(&format!("id:          {id}")), "{text}");
    assert!(text.contains(&format!("digest:      {manifest}")), "{text}");
    assert!(text.contains("result:      ok (exit 0)"), "{text}");
    for d in &blob_digests {
        let row = text
            .lines()
            .find(|l| l.contains(&d[..19]))
            .unwrap_or_else(|| panic!("no row for {d}: {text}"));
        assert!(row.contains("pushed"), "{row}");
    }
    let json = env
        .tug()
        .args(["history", "show", "--json", id])
        .run()
        .assert_success();
    let one: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(&one, push);
    let fail_id = auth_fail["id"].as_str().unwrap();
    let shown = env
        .tug()
        .args(["history", "show", fail_id])
        .run()
        .assert_success()
        .stdout_str();
    assert!(
        shown.contains("result:      failed (exit 4, auth): "),
        "{shown}"
    );
    env.tug()
        .args(["history", "show", "no-such-id"])
        .run()
        .assert_code(crate::common::INVALID_INPUT);

    // No secret in the history.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for name in ["history.jsonl", "history.jsonl.1"] {
        let bytes = fs::read(env.state().join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(PASSWORD), "the password in {name}");
        assert!(!text.contains(&basic), "Basic credentials in {name}");
    }
}

#[test]
fn eight_concurrent_pushes_never_corrupt_the_history() {
    let env = Env::new();
    let registry = Registry::plain();
    let (src, _) = layout(&env, 82);
    let runs: Vec<std::thread::JoinHandle<TugOutput>> = (0..8)
        .map(|i| {
            let tug = env
                .tug()
                .args(["push", "--progress", "json"])
                .arg(&src)
                .arg(registry.image(&format!("many/app{i}:v1")));
            std::thread::spawn(move || tug.run())
        })
        .collect();
    for run in runs {
        run.join().unwrap().assert_success();
    }
    // Every line parses (`lines` panics otherwise) and there is one per push.
    let lines = lines(&env, "history.jsonl");
    assert_eq!(lines.len(), 8);
    let mut targets: Vec<&str> = lines
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    targets.sort();
    let expected: Vec<String> = (0..8)
        .map(|i| registry.image(&format!("many/app{i}:v1")))
        .collect();
    assert_eq!(targets, expected);
    assert!(lines.iter().all(|r| r["outcome"] == "ok"));
    let unique: std::collections::HashSet<_> = ids(&lines).into_iter().collect();
    assert_eq!(unique.len(), 8);
    assert_eq!(history_json(&env, &[]).len(), 8);
}

#[test]
fn rotation_keeps_the_history_under_its_cap() {
    let env = Env::new();
    let cap: u64 = 4000;
    let mut seen = Vec::new();
    for i in 0..12 {
        // Quick failures: nothing listens on port 1.
        env.tug()
            .env("TUG_HISTORY_MAX_BYTES", cap.to_string())
            .args(["pull", "--progress", "none", "--retries", "1"])
            .arg(format!("127.0.0.1:1/rot/app:t{i}"))
            .run()
            .assert_code(crate::common::REGISTRY);
        let size = fs::metadata(env.state().join("history.jsonl"))
            .unwrap()
            .len();
        assert!(size <= cap, "history.jsonl is {size} bytes, over {cap}");
        seen.push(format!("127.0.0.1:1/rot/app:t{i}"));
    }
    let old = lines(&env, "history.jsonl.1");
    let new = lines(&env, "history.jsonl");
    assert!(!old.is_empty(), "the file was rotated");
    assert!(
        fs::metadata(env.state().join("history.jsonl.1"))
            .unwrap()
            .len()
            <= cap
    );
    // What is kept is the newest operations, in order, from both files.
    let listed = history_json(&env, &[]);
    assert_eq!(listed.len(), old.len() + new.len());
    let sources: Vec<&str> = listed
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, seen[seen.len() - listed.len()..]);
}

/// A dry run is recorded, and the table says it was one.
#[test]
fn a_dry_run_is_listed_as_one() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, _) = layout(&env, 93);
    env.tug()
        .args(["push", "--plain-http", "--dry-run"])
        .arg(&layout)
        .arg(registry.image("plan/app:v1"))
        .run()
        .assert_success();
    let table = env.tug().arg("history").run().assert_success();
    let row = table
        .stdout_str()
        .lines()
        .find(|l| l.contains("plan/app:v1"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("ok (dry run)"), "{row}");
    assert_eq!(history_json(&env, &[])[0]["dry_run"], true);
}
