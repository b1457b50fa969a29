//! Adaptive concurrency end to end: a `429` halves the blobs in flight, and the decision
//! shows in `--progress json` and with `-v`; `--fixed-jobs` keeps the number as it is. Both
//! pushes complete (skopeo pulls them back from the registry).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{Fault, FaultProxy, FixtureImage, ImageSpec, Registry, Rule, Tug, TugOutput};

use crate::common::hermetic;

const REPO: &str = "adaptive/app:v1";

fn image(dir: &Path) -> FixtureImage {
    let mut spec = ImageSpec::new(71);
    for _ in 0..6 {
        spec = spec.layer(200_000);
    }
    write_oci_layout(&dir.join("layout"), &spec, "v1")
}

fn push(dir: &Path, proxy: &FaultProxy, extra: &[&str]) -> TugOutput {
    hermetic(Tug::new(), dir)
        .timeout(Duration::from_secs(90))
        .args([
            "-v",
            "push",
            "--progress",
            "json",
            "--plain-http",
            "-j",
            "4",
        ])
        .args(extra)
        .arg(dir.join("layout"))
        .arg(proxy.image(REPO))
        .run()
        .assert_success()
}

fn concurrency_events(out: &TugOutput) -> Vec<Value> {
    out.stdout_str()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "concurrency")
        .collect()
}

#[test]
fn a_429_halves_the_blobs_in_flight_and_says_so() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let fixture = image(dir.path());
    // The second blob upload is turned away once.
    let rule = proxy
        .add_rule(Rule::new("PUT", "/blobs/uploads/", Fault::too_many_requests(Some(0))).nth(2));
    let out = push(dir.path(), &proxy, &[]);
    assert_eq!(proxy.hits(rule), 1);
    pull_with_skopeo_and_compare(&registry, REPO, &fixture);
    let events = concurrency_events(&out);
    let cut = events
        .iter()
        .find(|e| e["reason"] == "congestion")
        .unwrap_or_else(|| panic!("no congestion decision:\n{}", out.stdout_str()));
    assert_eq!(
        (cut["from"].as_u64(), cut["to"].as_u64()),
        (Some(4), Some(2))
    );
    for e in &events {
        let to = e["to"].as_u64().unwrap();
        assert!((1..=4).contains(&to), "{e}");
    }
    assert!(
        out.stderr_str().contains("blobs in flight 4 -> 2"),
        "-v shows the decision:\n{}",
        out.stderr_str()
    );
}

#[test]
fn fixed_jobs_keep_the_number_through_a_429() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let fixture = image(dir.path());
    let rule = proxy
        .add_rule(Rule::new("PUT", "/blobs/uploads/", Fault::too_many_requests(Some(0))).nth(2));
    let out = push(dir.path(), &proxy, &["--fixed-jobs"]);
    assert_eq!(proxy.hits(rule), 1);
    pull_with_skopeo_and_compare(&registry, REPO, &fixture);
    assert!(concurrency_events(&out).is_empty(), "{}", out.stdout_str());
    assert!(!out.stderr_str().contains("blobs in flight"));
}
