//! The page's push form (`browser_form.mjs` beside this file, in headless chromium): what it
//! shows when a destination is refused after a failed push.

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;
use tug_testkit::browser::{browser_test_dir, require_browser_tools};
use tug_testkit::fixtures::{skopeo_docker_archive, write_oci_layout};
use tug_testkit::{tug_bin, ImageSpec, TugWeb};

/// A destination the form refuses after a push that failed: only the field's error is on
/// screen, not the failed push's panel and status (they were about another push).
#[test]
fn a_refused_destination_clears_the_last_push_s_failure() {
    let node = require_browser_tools();
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(91).layer(20_000), "v1");
    let tar = dir.path().join("image.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/form:v1");
    // A loopback port nothing listens on: the push fails at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port();
    let out = Command::new(node)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/browser_form.mjs"))
        .env("TUG_BROWSER_DIR", browser_test_dir())
        .env("TUG_PAGE_URL", web.url())
        .env("TUG_TAR", &tar)
        .env("TUG_REGISTRY_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the form driver failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["failed"]["state"], "failed", "{report:#}");
    assert_eq!(report["failed"]["errorPanel"], true, "{report:#}");
    let refused = &report["refused"];
    assert!(
        refused["formError"].as_str().unwrap().contains("lowercase"),
        "{report:#}"
    );
    assert_eq!(refused["errorPanel"], false, "{report:#}");
    assert_eq!(refused["state"], "idle", "{report:#}");
    assert!(
        !refused["status"].as_str().unwrap().contains("failed"),
        "{report:#}"
    );
}
