//! The web page in Debian's chromium (playwright-core): `tug web` serves it on loopback, the
//! page reads a skopeo-made docker-archive tar from its file input and pushes it to a real
//! docker-registry behind nginx (TLS, htpasswd, CORS from `docs/nginx-cors.conf`); skopeo
//! then checks the image byte for byte. Also: a wrong password shows the auth error, a
//! registry without CORS shows the CORS explanation, and a push cancelled midway can be
//! retried. Screenshots land in `target/test-artifacts/browser/`.
//!
//! Needs `scripts/install-deps.sh` (chromium, nginx, playwright-core) and
//! `scripts/build-web.sh` before `cargo build -p tug` (the page embedded in tug).

use std::path::Path;

use serde_json::Value;
use tug_testkit::browser::{browser_test_dir, require_browser_tools, workspace_root};
use tug_testkit::fixtures::{
    pull_with_skopeo_and_compare_layers, skopeo_docker_archive, write_oci_layout,
};
use tug_testkit::{
    skopeo, tug_bin, Fault, FaultProxy, FixtureImage, ImageSpec, Nginx, PagePush, Registry,
    RegistryConfig, Rule, TugWeb,
};

const USER: &str = "web-pusher";
const PASSWORD: &str = "br0wser-S3cret";

/// A docker-archive tar made by skopeo from a generated image, with a layer big enough for
/// several 16 MiB `PATCH` chunks.
fn docker_archive(dir: &Path, seed: u64, big: u64) -> (std::path::PathBuf, FixtureImage) {
    let layout = dir.join("layout");
    let spec = ImageSpec::new(seed)
        .layer(180_000)
        .layer(2_500_000)
        .layer(big);
    let fixture = write_oci_layout(&layout, &spec, "v1");
    let tar = dir.join("image.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/web-app:v1");
    (tar, fixture)
}

fn registry_with_auth() -> Registry {
    Registry::start(RegistryConfig::plain().with_basic_auth(USER, PASSWORD))
}

fn text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[test]
fn push_from_the_page_through_nginx_then_skopeo_checks_every_byte() {
    require_browser_tools();
    let registry = registry_with_auth();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_archive(dir.path(), 601, 40 * 1024 * 1024);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/app:v1")
        .credentials(USER, PASSWORD)
        .trust_cert(nginx.cert_file())
        .screenshots("push-success")
        .env("TUG_RELOAD_CHECK", "1")
        .run();
    assert_eq!(
        report["state"],
        "success",
        "page report: {}\nnginx: {}\n{}",
        text(&report),
        nginx.error_log(),
        nginx.access_log()
    );

    // skopeo, straight from the registry: the config and every layer byte for byte.
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "browser/app:v1", &fixture);
    assert_eq!(
        report["digest"],
        pulled.manifest_digest.as_str(),
        "{}",
        text(&report)
    );

    // The option fields' ranges and defaults are the core's, read through tug-wasm's
    // limits(): the CLI's ranges (1-64 jobs, 1-1000 attempts), fetch's 16 MiB chunks.
    let fields = &report["optionFields"];
    let field = |min: &str, max: &str, value: &str| serde_json::json!({ "min": min, "max": max, "value": value });
    assert_eq!(fields["jobs"], field("1", "64", "4"), "{fields}");
    assert_eq!(fields["retries"], field("1", "1000", "5"), "{fields}");
    assert_eq!(fields["chunk"], field("1", "", "16"), "{fields}");

    // The page showed the image it read, and every blob as pushed.
    let images = report["images"].to_string();
    assert!(images.contains("example/web-app:v1"), "{images}");
    assert!(images.contains("3 layers"), "{images}");
    let blobs = report["blobs"].as_array().unwrap();
    assert_eq!(blobs.len(), 4, "config + 3 layers: {blobs:?}");
    assert!(
        blobs.iter().all(|b| b.as_str().unwrap().contains("pushed")),
        "{blobs:?}"
    );

    // The browser went through CORS: preflights answered by nginx, chunks sent with PATCH.
    let access = nginx.access_log();
    assert!(
        access.contains("\"OPTIONS /v2/browser/app/blobs/uploads/"),
        "{access}"
    );
    assert!(
        access.contains("\"PATCH /v2/browser/app/blobs/uploads/"),
        "{access}"
    );
    assert!(
        access.contains("\"PUT /v2/browser/app/manifests/v1"),
        "{access}"
    );

    // History: kept in IndexedDB (still there after a reload), without the password.
    let history = report["historyAfterReload"]
        .as_array()
        .expect("history after reload");
    let row = history[0].to_string();
    assert!(
        row.contains(&format!("{}/browser/app:v1", nginx.host())),
        "{row}"
    );
    assert!(row.contains(&pulled.manifest_digest), "{row}");
    assert!(row.contains("success"), "{row}");
    let stored = report["indexedDb"].to_string();
    assert!(stored.contains(&pulled.manifest_digest), "{stored}");
    assert!(
        !stored.contains(PASSWORD),
        "the password is in IndexedDB: {stored}"
    );
    assert!(
        !report.to_string().contains(PASSWORD),
        "the password appears on the page or in its console"
    );
}

#[test]
fn a_wrong_password_shows_the_auth_error() {
    require_browser_tools();
    let registry = registry_with_auth();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, _) = docker_archive(dir.path(), 602, 1_000_000);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/denied:v1")
        .credentials(USER, "not-the-password")
        .trust_cert(nginx.cert_file())
        .screenshots("auth-error")
        .env("TUG_CLEAR_HISTORY", "1")
        .run();
    assert_eq!(report["state"], "failed", "{}", text(&report));
    let error = &report["error"];
    assert_eq!(error["code"], "auth", "{}", text(&report));
    assert_eq!(error["title"], "The registry refused the credentials");
    assert!(
        !report.to_string().contains("not-the-password"),
        "the password appears on the page: {}",
        text(&report)
    );
    assert_eq!(report["retryVisible"], true);
    assert_eq!(
        report["history"][0]["outcome"],
        "failed (auth)",
        "{}",
        text(&report)
    );
    // The history's clear button asks once more, then empties the view and the database.
    assert_eq!(report["clearButtonArmed"], "Click again to clear");
    assert_eq!(report["historyAfterClear"], serde_json::json!([]));
    assert_eq!(
        report["indexedDbAfterClear"]["tug-web/operations"],
        serde_json::json!([])
    );
    // Nothing was tagged.
    let inspect = skopeo::inspect_raw_in(&registry, "browser/denied:v1");
    assert!(inspect.is_err(), "the image must not exist");
}

#[test]
fn a_registry_without_cors_gets_the_cors_explanation() {
    require_browser_tools();
    // docker-registry itself, no nginx: it sends no CORS headers.
    let registry = Registry::plain();
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, _) = docker_archive(dir.path(), 603, 1_000_000);

    // The file arrives by drag and drop this time.
    let report = PagePush::new(web.url(), &tar, &registry.url(), "browser/nocors:v1")
        .screenshots("cors-error")
        .env("TUG_FILE_VIA", "drop")
        .run();
    assert_eq!(report["fileVia"], "drop");
    assert!(
        report["images"].to_string().contains("example/web-app:v1"),
        "{}",
        text(&report)
    );
    assert_eq!(report["state"], "failed", "{}", text(&report));
    let error = &report["error"];
    assert_eq!(error["code"], "cors", "{}", text(&report));
    let help = error["help"].as_str().unwrap();
    assert!(help.contains("docs/nginx-cors.conf"), "{help}");
    assert!(
        help.contains(web.origin()),
        "names the page's origin: {help}"
    );
    assert!(help.contains("OPTIONS"), "{help}");
}

#[test]
fn a_cancelled_push_can_be_retried_and_finishes() {
    require_browser_tools();
    let registry = registry_with_auth();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_archive(dir.path(), 604, 48 * 1024 * 1024);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/again:v1")
        .credentials(USER, PASSWORD)
        .trust_cert(nginx.cert_file())
        .screenshots("cancel-retry")
        .env("TUG_CANCEL_RETRY", "1")
        .env("TUG_THROTTLE_BPS", (8 * 1024 * 1024).to_string())
        .run();
    let cancelled = &report["cancelled"];
    assert_eq!(cancelled["state"], "cancelled", "{}", text(&report));
    assert_eq!(cancelled["error"]["code"], "cancelled", "{}", text(&report));
    assert_eq!(cancelled["retryVisible"], true);
    assert_eq!(report["state"], "success", "{}", text(&report));
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "browser/again:v1", &fixture);
    assert_eq!(report["digest"], pulled.manifest_digest.as_str());
    let outcomes: Vec<&str> = report["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["success", "cancelled"], "newest first");
}

#[test]
fn retries_show_on_the_page_as_they_happen() {
    require_browser_tools();
    let registry = registry_with_auth();
    // nginx → fault proxy → registry: the faults reach the page with CORS headers on them.
    let proxy = FaultProxy::start(&registry);
    let patch = proxy.add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::status(503)).nth(2));
    let manifest =
        proxy.add_rule(Rule::new("PUT", "/manifests/", Fault::too_many_requests(Some(1))).nth(1));
    let nginx = Nginx::cors_front_port(proxy.port());
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_archive(dir.path(), 605, 40 * 1024 * 1024);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/flaky:v1")
        .credentials(USER, PASSWORD)
        .trust_cert(nginx.cert_file())
        .screenshots("retries")
        .run();
    assert_eq!(report["state"], "success", "{}", text(&report));
    assert_eq!(proxy.hits(patch), 1);
    assert_eq!(proxy.hits(manifest), 1);
    let shown: Vec<&str> = report["retriesShown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(shown.len(), 2, "one notice per retry: {shown:?}");
    assert!(shown.iter().any(|r| r.contains("503")), "{shown:?}");
    assert!(shown.iter().any(|r| r.contains("429")), "{shown:?}");
    assert!(shown.iter().all(|r| r.contains("attempt 2")), "{shown:?}");
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "browser/flaky:v1", &fixture);
    assert_eq!(report["digest"], pulled.manifest_digest.as_str());
}

/// `tug web` itself: the embedded files with their types, nothing else.
#[test]
fn tug_web_serves_the_embedded_page_and_nothing_else() {
    use std::io::{Read, Write};
    let web = TugWeb::start(&tug_bin());
    let host = web.origin().trim_start_matches("http://").to_owned();
    let get = |method: &str, path: &str| -> String {
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    let index = get("GET", "/");
    assert!(index.starts_with("HTTP/1.1 200 "), "{index}");
    assert!(index.contains("Content-Type: text/html; charset=utf-8"));
    assert!(index.contains("<label for=\"registry-url\">"), "{index}");
    let wasm = get("HEAD", "/pkg/tug_wasm_bg.wasm");
    assert!(wasm.starts_with("HTTP/1.1 200 "), "{wasm}");
    assert!(
        wasm.contains("Content-Type: application/wasm\r\n"),
        "{wasm}"
    );
    let js = get("GET", "/pkg/tug_wasm.js");
    assert!(js.contains("Content-Type: text/javascript"), "{js}");
    for path in ["/../Cargo.toml", "/%2e%2e/%2e%2e/etc/passwd", "/nope.html"] {
        let r = get("GET", path);
        assert!(r.starts_with("HTTP/1.1 404 "), "{path}: {r}");
    }
    assert!(get("PUT", "/").starts_with("HTTP/1.1 405 "));
}

/// The page's own logic (destination parsing, formatting, explanations, history records)
/// under Node's test runner.
#[test]
fn page_modules_pass_their_unit_tests() {
    let node = require_browser_tools();
    let root = workspace_root();
    let mut files: Vec<_> = std::fs::read_dir(root.join("web/test"))
        .expect("web/test")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no web/test/*.test.mjs");
    let out = std::process::Command::new(node)
        .arg("--test")
        .args(&files)
        .current_dir(browser_test_dir())
        .output()
        .expect("run node --test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
