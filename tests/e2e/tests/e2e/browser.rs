//! The web page in Debian's chromium (playwright-core): `tug web` serves it on loopback, the
//! page reads a skopeo-made docker-archive tar from its file input and pushes it to a real
//! docker-registry behind nginx (TLS, htpasswd, CORS from `docs/nginx-cors.conf`); skopeo
//! then checks the image byte for byte. Also: a wrong password shows the auth error (and the
//! form's settings survive a reload, never the password), a registry without CORS shows the
//! CORS explanation, a registry down behind nginx says so without HTML, a push cancelled
//! midway can be retried, the display moves at least every 500 ms during a 256 MiB push,
//! the README's local quick start registry takes a push, the page fits a phone's width with every
//! button named, and its memory stays flat while it pulls a big image. Screenshots land in
//! `target/test-artifacts/browser/`.
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

/// The chunk size (MiB) typed by tests that want a layer sent in several `PATCH`es (the
/// default, 64 MiB, would send their layers in one request each).
const CHUNK_MIB: &str = "16";

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
        .env("TUG_CHUNK_MIB", CHUNK_MIB)
        .env("TUG_RELOAD_CHECK", "1")
        .env("TUG_NARROW_CHECK", "1")
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
    // limits(): the CLI's ranges (1-64 jobs, 1-1000 attempts), and a browser's push in the
    // CLI's 64 MiB chunks (its uploads show their progress: runner-wasm/src/limits.rs).
    let fields = &report["optionFields"];
    let field = |min: &str, max: &str, value: &str| serde_json::json!({ "min": min, "max": max, "value": value });
    assert_eq!(fields["jobs"], field("1", "64", "4"), "{fields}");
    assert_eq!(fields["retries"], field("1", "1000", "5"), "{fields}");
    assert_eq!(fields["chunk"], field("1", "", "64"), "{fields}");

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
    // Its row opens to the per-blob timings (config + 3 layers): docs/screenshots/history.png.
    let opened = &report["historyExpanded"][0]["details"];
    assert_eq!(opened["hidden"], false, "{opened}");
    assert_eq!(opened["timings"], 4, "{opened}");
    let stored = report["indexedDb"].to_string();
    assert!(stored.contains(&pulled.manifest_digest), "{stored}");

    // The page's words say what it does (push and pull), and at a phone's width nothing
    // sticks out sideways; every button has a name of its own (one action each).
    let narrow = &report["narrow"];
    for words in [&narrow["title"], &narrow["tagline"], &narrow["engine"]] {
        let words = words.as_str().unwrap_or_default();
        assert!(
            !words.contains("Push engine") && !words.contains("push container"),
            "{words}"
        );
    }
    let tagline = narrow["tagline"].as_str().unwrap_or_default();
    assert!(
        tagline.contains("push") && tagline.contains("pull"),
        "{tagline}"
    );
    assert!(
        narrow["engine"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Ready to push and pull"),
        "{narrow}"
    );
    assert_eq!(narrow["outside"], serde_json::json!([]), "{narrow}");
    assert!(
        narrow["scrollWidth"].as_u64() <= narrow["width"].as_u64(),
        "{narrow}"
    );
    let buttons = narrow["buttons"].as_array().expect("buttons");
    let names: Vec<&str> = buttons.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names.len(), buttons.len(), "{narrow}");
    assert!(
        names.iter().all(|n| !n.is_empty()),
        "a button without a name: {narrow}"
    );
    assert!(
        buttons.iter().all(|b| b["inView"] == true),
        "a button out of sight sideways: {narrow}"
    );
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "two buttons share a name: {names:?}"
    );
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
        .env("TUG_NEW_FILE_CHECK", "1")
        .env("TUG_SETTINGS_CHECK", "1")
        .run();
    assert_eq!(report["state"], "failed", "{}", text(&report));
    let error = &report["error"];
    assert_eq!(error["code"], "auth", "{}", text(&report));
    assert_eq!(error["kind"], "auth", "{}", text(&report));
    assert_eq!(error["title"], "The registry refused the credentials");
    // One button per action: Push itself offers the retry; no second button does the same.
    assert_eq!(report["pushLabel"], "Retry", "{}", text(&report));
    assert_eq!(report["buttons"], serde_json::json!(["Retry", "Cancel"]));
    // Picking a file again clears what the failed push left on the page.
    let fresh = &report["afterNewFile"];
    assert_eq!(fresh["error"], Value::Null, "{}", text(&report));
    assert_eq!(fresh["state"], "idle", "{}", text(&report));
    assert_eq!(fresh["pushLabel"], "Push", "{}", text(&report));
    assert_eq!(fresh["blobs"], 0, "{}", text(&report));
    assert_eq!(fresh["overallVisible"], false, "{}", text(&report));
    // The form's settings come back after a reload, the password never; "Forget" clears them.
    let fields = &report["settingsAfterReload"];
    assert_eq!(fields["registry-url"], nginx.url().as_str(), "{fields}");
    assert_eq!(fields["repository"], "browser/denied:v1", "{fields}");
    assert_eq!(fields["username"], USER, "{fields}");
    assert_eq!(fields["password"], "", "{fields}");
    assert_eq!(fields["jobs"], "4", "{fields}");
    let stored = report["localStorage"].as_str().unwrap();
    assert!(stored.contains("browser/denied:v1"), "{stored}");
    assert!(!stored.contains("not-the-password"), "{stored}");
    let forgotten = &report["settingsAfterForget"];
    assert_eq!(forgotten["registry-url"], "", "{forgotten}");
    assert_eq!(forgotten["repository"], "", "{forgotten}");
    assert_eq!(forgotten["username"], "", "{forgotten}");
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

/// tug-wasm's `uploadBody: "buffer"` (the page's `?uploadBody=buffer`): each chunk is read
/// into the page and sent as an `ArrayBuffer`, and the image arrives byte for byte; a value
/// it does not know is refused, naming the option, before anything is sent.
#[test]
fn the_page_pushes_chunks_read_into_buffers_when_asked() {
    require_browser_tools();
    let registry = registry_with_auth();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_archive(dir.path(), 611, 40 * 1024 * 1024);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/buffered:v1")
        .credentials(USER, PASSWORD)
        .trust_cert(nginx.cert_file())
        .env("TUG_CHUNK_MIB", CHUNK_MIB)
        .env("TUG_UPLOAD_BODY", "buffer")
        .run();
    assert_eq!(report["state"], "success", "{}", text(&report));
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "browser/buffered:v1", &fixture);
    assert_eq!(report["digest"], pulled.manifest_digest.as_str());

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/refused:v1")
        .credentials(USER, PASSWORD)
        .trust_cert(nginx.cert_file())
        .env("TUG_UPLOAD_BODY", "pipe")
        .run();
    assert_eq!(report["state"], "failed", "{}", text(&report));
    let message = report["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("uploadBody") && message.contains("buffer"),
        "names the option and its values: {}",
        text(&report)
    );
    let access = nginx.access_log();
    assert!(
        !access.contains("/v2/browser/refused/"),
        "nothing sent for the refused push: {access}"
    );
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
    // The Retry that succeeded leaves the button reading Push (found by probing: Retry).
    assert_eq!(report["pushLabel"], "Push", "{}", text(&report));
    assert_eq!(report["retryVisible"], false, "{}", text(&report));
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
        .env("TUG_CHUNK_MIB", CHUNK_MIB)
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
    // The PATCH retried is the big layer's, named as the page lists it.
    assert!(
        shown
            .iter()
            .any(|r| r.contains("503") && r.contains("layer 3 of 3")),
        "{shown:?}"
    );
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "browser/flaky:v1", &fixture);
    assert_eq!(report["digest"], pulled.manifest_digest.as_str());
}

/// The README's local quick start: docker-registry with `docs/registry-cors-local.yml` (only
/// its values marked CHANGE replaced) answers CORS itself, and the page `tug web` serves
/// pushes to it over plain HTTP; skopeo reads the image back.
#[test]
fn the_local_quick_start_registry_takes_a_push_from_the_page() {
    require_browser_tools();
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let documented = std::fs::read_to_string(workspace_root().join("docs/registry-cors-local.yml"))
        .expect("docs/registry-cors-local.yml");
    let storage = dir.path().join("storage");
    let mut conf = documented.clone();
    for (from, to) in [
        ("/tmp/tug-local-registry", storage.display().to_string()),
        ("127.0.0.1:5000", format!("127.0.0.1:{port}")),
        ("http://127.0.0.1:8080", web.origin().to_owned()),
    ] {
        assert!(conf.contains(from), "{from} is not in the documented file");
        conf = conf.replace(from, &to);
    }
    let conf_file = dir.path().join("registry.yml");
    std::fs::write(&conf_file, conf).unwrap();
    let mut registry = std::process::Command::new(tug_testkit::tools::docker_registry_bin())
        .arg("serve")
        .arg(&conf_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let url = format!("http://127.0.0.1:{port}");
    // Ready once it answers `GET /v2/` (bounded: 500 tries, 20 ms apart).
    let answers = || {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let request =
            format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        let mut head = [0u8; 12];
        s.write_all(request.as_bytes()).is_ok()
            && s.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.1 200")
    };
    let ready = (0..500).any(|_| {
        let up = answers();
        if !up {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        up
    });
    assert!(
        ready,
        "docker-registry with the documented file did not start"
    );
    let (tar, _) = docker_archive(dir.path(), 608, 3_000_000);

    let report = PagePush::new(web.url(), &tar, &url, "quick/app:v1")
        .screenshots("quick-start")
        .run();
    let stored = skopeo::inspect_raw(
        &format!("docker://127.0.0.1:{port}/quick/app:v1"),
        &["--tls-verify=false"],
    );
    let _ = registry.kill();
    let _ = registry.wait();
    assert_eq!(report["state"], "success", "{}", text(&report));
    let manifest = stored.expect("skopeo reads the pushed image");
    assert_eq!(
        report["digest"],
        tug_testkit::hashing::sha256_digest(&manifest).as_str(),
        "{}",
        text(&report)
    );
}

/// A registry that is down behind its proxy: nginx answers 502 with its HTML error page. The
/// page says the registry is not working, what to try, and shows no markup.
#[test]
fn a_registry_down_behind_nginx_says_so_without_html() {
    require_browser_tools();
    // The registry stops after nginx came up: nginx cannot reach its upstream any more.
    let registry = Registry::plain();
    let nginx = Nginx::cors_front(&registry);
    drop(registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, _) = docker_archive(dir.path(), 607, 1_000_000);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/down:v1")
        .trust_cert(nginx.cert_file())
        .screenshots("registry-down")
        .env("TUG_RETRIES", "2")
        .run();
    assert_eq!(report["state"], "failed", "{}", text(&report));
    let error = &report["error"];
    assert_eq!(error["code"], "registry", "{}", text(&report));
    assert_eq!(error["kind"], "registry-down", "{}", text(&report));
    assert_eq!(error["title"], "The registry is not working (502)");
    assert_eq!(
        report["status"],
        "Push failed: The registry is not working (502)"
    );
    let message = error["message"].as_str().unwrap();
    let help = error["help"].as_str().unwrap();
    assert!(message.contains("502"), "{message}");
    assert!(
        message.contains("502 Bad Gateway"),
        "a short excerpt: {message}"
    );
    for shown in [message, help] {
        assert!(!shown.contains('<'), "markup shown: {shown}");
    }
    assert!(help.contains("proxy"), "{help}");
    assert!(help.contains("registry service is running"), "{help}");
    assert_eq!(report["pushLabel"], "Retry");
}

/// Live progress: during a 256 MiB push the page's overall figures, sampled every 100 ms,
/// never stand still for more than 500 ms while bytes move (uploads go by XMLHttpRequest,
/// whose upload progress reaches the core as bytes sent).
#[test]
fn progress_moves_at_least_every_500_ms_during_a_big_push() {
    require_browser_tools();
    let registry = registry_with_auth();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_archive(dir.path(), 606, 256 * 1024 * 1024);

    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/live:v1")
        .credentials(USER, PASSWORD)
        .trust_cert(nginx.cert_file())
        .screenshots("live-progress")
        .env("TUG_SAMPLE_MS", "100")
        .env("TUG_SHOT_MIDWAY", "1")
        .run();
    assert_eq!(report["state"], "success", "{}", text(&report));
    // Midway (between 10 % and 90 % sent, seen on the page, not slept for) it showed the
    // bytes, a rate and an ETA: the moment of docs/screenshots/pushing.png.
    let midway = &report["midway"];
    assert_eq!(midway["state"], "working", "{}", text(&report));
    assert!(
        midway["speed"].as_str().is_some_and(|s| s.ends_with("/s")),
        "{midway}"
    );
    assert!(
        midway["eta"].as_str().is_some_and(|s| s.ends_with(" left")),
        "{midway}"
    );
    assert!(
        report["screenshots"]
            .to_string()
            .contains("live-progress-pushing.png"),
        "{}",
        text(&report)
    );
    let samples: Vec<(u64, String, f64, f64)> = report["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            (
                s[0].as_u64().unwrap(),
                s[1].as_str().unwrap_or_default().to_owned(),
                s[2].as_f64().unwrap(),
                s[3].as_f64().unwrap(),
            )
        })
        .collect();
    // From the first figure showing bytes moved to the first showing them all.
    let first = samples
        .iter()
        .position(|s| s.2 > 0.0)
        .unwrap_or_else(|| panic!("no progress shown: {samples:?}"));
    let last = samples
        .iter()
        .position(|s| s.3 > 1.0 && s.2 >= s.3)
        .unwrap_or(samples.len() - 1);
    let (mut since, mut still, mut changes) = (samples[first].0, 0, 0);
    for w in samples[first..=last].windows(2) {
        if w[1].1 != w[0].1 {
            changes += 1;
            since = w[1].0;
        }
        still = still.max(w[1].0 - since);
    }
    eprintln!(
        "display stood still at most {still} ms; {changes} changes in {} samples",
        last + 1 - first
    );
    let shown: Vec<String> = samples[first..=last]
        .iter()
        .map(|s| format!("{} ms: {}", s.0, s.1))
        .collect();
    assert!(
        still <= 500,
        "the figures stood still for {still} ms while bytes moved:\n{}",
        shown.join("\n")
    );
    // Enough of the push was seen to judge (a fast machine sends 256 MiB in under a
    // second; the page redraws at its 250 ms tick: two redraws at least), and the figures
    // changed in every half second of it.
    let window = samples[last].0 - samples[first].0;
    assert!(
        window >= 600,
        "bytes were seen moving for only {window} ms:\n{}",
        shown.join("\n")
    );
    assert!(
        changes as u64 >= window / 500,
        "{changes} changes in {window} ms:\n{}",
        shown.join("\n")
    );
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "browser/live:v1", &fixture);
    assert_eq!(report["digest"], pulled.manifest_digest.as_str());
}

/// While a push runs the page redraws at its 250 ms tick, not every frame: no CSS animation or
/// transition keeps chromium restyling and laying out the page 60 times a second (that cost
/// a 512 MiB push ~1 s of the browser's CPU, bench/README.md).
#[test]
fn the_page_redraws_at_its_tick_not_every_frame_while_pushing() {
    require_browser_tools();
    let registry = Registry::plain();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    let (tar, _) = docker_archive(dir.path(), 607, 128 * 1024 * 1024);
    let report = PagePush::new(web.url(), &tar, &nginx.url(), "browser/frames:v1")
        .trust_cert(nginx.cert_file())
        .env("TUG_RENDER_COUNTS", "1")
        .run();
    assert_eq!(report["state"], "success", "{}", text(&report));
    let counts = &report["renderCounts"];
    let per_second =
        |what: &str| counts[what].as_f64().unwrap() * 1000.0 / counts["ms"].as_f64().unwrap();
    let (styles, layouts) = (per_second("styles"), per_second("layouts"));
    eprintln!("during the push: {styles:.1} style recalculations and {layouts:.1} layouts a second ({counts})");
    // The tick (4 a second) and the blobs' and the status's own changes; an animation or a
    // transition running through the push gives ~50 a second.
    assert!(
        styles <= 20.0 && layouts <= 20.0,
        "the page redrew {styles:.1} / {layouts:.1} times a second: {counts}"
    );
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
    // The documents the page links to, so a user with only the binary can read them.
    assert!(index.contains("href=\"docs/nginx-cors.conf\""), "{index}");
    assert!(
        index.contains("href=\"docs/trust-private-ca.html\""),
        "{index}"
    );
    let conf = get("GET", "/docs/nginx-cors.conf");
    assert!(conf.starts_with("HTTP/1.1 200 "), "{conf}");
    assert!(conf.contains("Content-Type: text/plain"), "{conf}");
    assert!(
        conf.contains("map $http_origin $registry_cors_origin"),
        "{conf}"
    );
    let trust = get("GET", "/docs/trust-private-ca.html");
    assert!(trust.starts_with("HTTP/1.1 200 "), "{trust}");
    assert!(
        trust.contains("Chromium") && trust.contains("Firefox"),
        "{trust}"
    );
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

/// Runs `tests/browser/pull.mjs` (the page's Pull panel, saved as a streamed download
/// through the page's service worker) with `vars`; its report.
fn page_pull(vars: &[(&str, &std::ffi::OsStr)]) -> Value {
    let node = require_browser_tools();
    let dir = browser_test_dir();
    let mut cmd = std::process::Command::new(node);
    cmd.arg(dir.join("pull.mjs"))
        .current_dir(&dir)
        .env("TUG_TIMEOUT_MS", "60000")
        .stdin(std::process::Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("start node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the pull driver failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn pull_from_the_page_streams_a_file_that_skopeo_reads() {
    use tug_testkit::hashing::sha256_digest;
    require_browser_tools();
    let registry = registry_with_auth();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let dir = tempfile::tempdir().unwrap();
    // A plain and a gzip layer: the docker save's entries are decoded both ways. For
    // arm64 alone: the page asks a single image for no platform (this machine's is another).
    let spec = ImageSpec::new(616)
        .architecture("arm64")
        .layer(300_000)
        .gzip_layer(2_000_000);
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &spec, "v1");
    // skopeo pushes it through nginx (TLS, htpasswd), as a person's CI would.
    let ca = nginx.ca_dir();
    skopeo::copy(
        &format!("oci:{}:v1", layout.display()),
        &nginx.docker_ref("pulled/app:v1"),
        &[
            "--dest-cert-dir".into(),
            ca.into_os_string(),
            "--dest-creds".into(),
            format!("{USER}:{PASSWORD}").into(),
        ],
    )
    .unwrap();
    let pushed = skopeo::inspect_raw_in(&registry, "pulled/app:v1").unwrap();
    let pushed_digest = sha256_digest(&pushed);
    let diff_ids: Vec<String> = fixture.layers.iter().map(|l| l.diff_id.clone()).collect();

    let shots = tug_testkit::browser::artifacts_dir();
    // Both formats as a streamed download (the service worker), and one into a file the
    // page "picked" (the File System Access path, its dialog answered by the driver).
    for (format, out_name, via) in [
        ("docker-archive", "pulled.tar", "download"),
        ("oci-archive", "pulled.oci.tar", "download"),
        ("docker-archive", "picked.tar", "picker"),
    ] {
        let out = dir.path().join(out_name);
        let nginx_url = nginx.url();
        let shot_name = format!("pull-{format}-{via}");
        let vars: Vec<(&str, &std::ffi::OsStr)> = vec![
            ("TUG_PAGE_URL", web.url().as_ref()),
            ("TUG_REGISTRY_URL", nginx_url.as_ref()),
            ("TUG_PULL_REF", "pulled/app:v1".as_ref()),
            ("TUG_OUT", out.as_os_str()),
            ("TUG_FORMAT", format.as_ref()),
            ("TUG_SAVE_VIA", via.as_ref()),
            ("TUG_USERNAME", USER.as_ref()),
            ("TUG_PASSWORD", PASSWORD.as_ref()),
            ("TUG_TRUST_CERT", nginx.cert_file().as_os_str()),
            ("TUG_SCREENSHOTS", shots.as_os_str()),
            ("TUG_SCREENSHOT_NAME", shot_name.as_ref()),
        ];
        let report = page_pull(&vars);
        // The page names the file after the repository and tag.
        let saved = if format == "oci-archive" {
            "app-v1.oci.tar"
        } else {
            "app-v1.tar"
        };
        assert_eq!(
            report["state"],
            "success",
            "{format}: {}\n{}",
            text(&report),
            nginx.error_log()
        );
        assert_eq!(
            report["digest"],
            pushed_digest.as_str(),
            "{}",
            text(&report)
        );
        if via == "download" {
            assert_eq!(report["downloadFailure"], Value::Null, "{}", text(&report));
        } else {
            assert_eq!(report["picked"]["name"], saved, "{}", text(&report));
        }
        // A single-platform image: the page says so and takes it as it is.
        assert_eq!(
            report["platformNote"],
            "a single-platform image",
            "{}",
            text(&report)
        );
        assert_eq!(report["platformSelected"], "", "{}", text(&report));
        // The page says where the image goes: a download, or the file the person chooses.
        let note = if via == "download" {
            "download"
        } else {
            "You choose the file"
        };
        assert!(
            report["saveNote"].as_str().unwrap().contains(note),
            "{}",
            text(&report)
        );
        let history = report["history"].to_string();
        assert!(
            history.contains("pulled ") && history.contains("success"),
            "{history}"
        );
        // Its details: one timing per blob (config and two layers), each downloaded; "Pull again".
        let details = &report["historyDetails"];
        assert_eq!(details["open"], true, "{details}");
        let timings = details["timings"].as_array().unwrap();
        assert_eq!(timings.len(), 3, "{details}");
        assert!(timings.iter().all(|t| t[5] == "downloaded"), "{details}");
        assert!(
            details["actions"].to_string().contains("Pull again"),
            "{details}"
        );
        // Export JSON: the record in the CLI history's shape (runner-native/src/history.rs).
        assert_eq!(report["exportName"], "tug-web-history.json");
        let exported = &report["exported"][0];
        assert_eq!(exported["command"], "pull", "{exported}");
        assert_eq!(exported["outcome"], "ok", "{exported}");
        assert_eq!(exported["digest"], pushed_digest.as_str(), "{exported}");
        assert_eq!(exported["target"], saved, "{exported}");
        assert_eq!(
            exported["blob_timings"].as_array().map(Vec::len),
            Some(3),
            "{exported}"
        );
        assert!(
            !report.to_string().contains(PASSWORD),
            "the password shows: {}",
            text(&report)
        );

        let reference = format!("{format}:{}", out.display());
        let inspected: Value =
            serde_json::from_slice(&skopeo::run(["inspect", reference.as_str()]).unwrap()).unwrap();
        let config = skopeo::run(["inspect", "--config", "--raw", reference.as_str()]).unwrap();
        assert_eq!(sha256_digest(&config), fixture.config_digest, "{reference}");
        if format == "oci-archive" {
            // The manifest as the registry served it, and the blobs as pushed.
            let raw = skopeo::run(["inspect", "--raw", reference.as_str()]).unwrap();
            assert_eq!(sha256_digest(&raw), pushed_digest, "{reference}");
            let manifest: Value = serde_json::from_slice(&pushed).unwrap();
            let layers: Vec<&Value> = manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| &l["digest"])
                .collect();
            assert_eq!(
                inspected["Layers"],
                serde_json::json!(layers),
                "{inspected}"
            );
        } else {
            // A docker save holds uncompressed layers: their digests are the diffIDs.
            assert_eq!(
                inspected["Layers"],
                serde_json::json!(diff_ids),
                "{inspected}"
            );
        }
        // skopeo reads every byte (each blob checked against its digest) into a layout.
        let copied = dir.path().join(format!("copied-{format}"));
        skopeo::copy(
            &reference,
            &format!("oci:{}:v1", copied.display()),
            &[] as &[&str],
        )
        .unwrap();
    }
}

/// A layer whose bytes do not match its digest (a proxy serves other bytes of the right
/// length): the core refuses it, the page says the pull failed, and the streamed download is
/// aborted — no file is saved.
#[test]
fn a_pulled_layer_that_does_not_match_its_digest_leaves_no_file() {
    use tug_testkit::hashing::sha256_digest;
    require_browser_tools();
    let registry = registry_with_auth();
    let dir = tempfile::tempdir().unwrap();
    // gzip layers: skopeo pushes them as they are (a plain one it would compress first).
    let spec = ImageSpec::new(617).gzip_layer(200_000).gzip_layer(900_000);
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &spec, "v1");
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        &registry,
        "pulled/bad:v1",
        &[] as &[&str],
    )
    .unwrap();
    // nginx → fault proxy → registry: the big layer's GET gets wrong bytes, every time.
    let proxy = FaultProxy::start(&registry);
    let layer = &fixture.layers[1];
    let wrong = Fault::Respond {
        status: 200,
        headers: vec![("Content-Type".into(), "application/octet-stream".into())],
        body: vec![0x5a; layer.size as usize],
    };
    assert_ne!(
        sha256_digest(&vec![0x5a; layer.size as usize]),
        layer.digest
    );
    let bad = proxy.add_rule(Rule::new("GET", &format!("/blobs/{}", layer.digest), wrong).always());
    let nginx = Nginx::cors_front_port(proxy.port());
    let web = TugWeb::start(&tug_bin());
    let out = dir.path().join("never.tar");
    let nginx_url = nginx.url();
    let report = page_pull(&[
        ("TUG_PAGE_URL", web.url().as_ref()),
        ("TUG_REGISTRY_URL", nginx_url.as_ref()),
        ("TUG_PULL_REF", "pulled/bad:v1".as_ref()),
        ("TUG_OUT", out.as_os_str()),
        ("TUG_USERNAME", USER.as_ref()),
        ("TUG_PASSWORD", PASSWORD.as_ref()),
        ("TUG_TRUST_CERT", nginx.cert_file().as_os_str()),
    ]);
    assert_eq!(report["state"], "failed", "{}", text(&report));
    assert!(proxy.hits(bad) >= 1);
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&layer.digest[..19]),
        "the layer is named: {}",
        text(&report)
    );
    assert_eq!(report["button"], "Retry", "{}", text(&report));
    assert!(
        report["downloadFailure"].is_string(),
        "the download was aborted: {}",
        text(&report)
    );
    assert!(!out.exists(), "a file was saved");
    let history = report["history"].to_string();
    assert!(history.contains("failed"), "{history}");
    // The history row shows the error in full (not only on hover), naming the layer.
    let error = report["historyDetails"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains(&layer.digest[..19]), "{}", text(&report));
}

/// The page's memory while it pulls an image many times larger than a blob: each blob stays
/// in the page until its digest is checked and it is written out, at most 4 (the default
/// `jobs`) at once, so the page's renderer (its resident memory, sampled every 50 ms with how
/// far the pull is) rises while the first blobs arrive, then stays within a band: in the
/// pull's second half (192 MiB arriving) its peak is no more than 96 MiB above its peak in
/// the first half. Holding what it pulled would add the 192 MiB (a page that kept each
/// written blob's bytes grew by 183 MiB there: checked once by hand).
#[test]
fn pulling_a_big_image_keeps_the_page_s_memory_flat() {
    use tug_testkit::hashing::sha256_digest;
    require_browser_tools();
    const LAYERS: u64 = 24;
    const LAYER: u64 = 16 * 1024 * 1024;
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let spec = (0..LAYERS).fold(ImageSpec::new(618), |spec, _| spec.gzip_layer(LAYER));
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &spec, "v1");
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        &registry,
        "pulled/big:v1",
        &[] as &[&str],
    )
    .unwrap();
    let pushed = skopeo::inspect_raw_in(&registry, "pulled/big:v1").unwrap();
    let nginx = Nginx::cors_front(&registry);
    let web = TugWeb::start(&tug_bin());
    let out = dir.path().join("big.oci.tar");
    let nginx_url = nginx.url();
    let report = page_pull(&[
        ("TUG_PAGE_URL", web.url().as_ref()),
        ("TUG_REGISTRY_URL", nginx_url.as_ref()),
        ("TUG_PULL_REF", "pulled/big:v1".as_ref()),
        ("TUG_OUT", out.as_os_str()),
        ("TUG_FORMAT", "oci-archive".as_ref()),
        ("TUG_TRUST_CERT", nginx.cert_file().as_os_str()),
        ("TUG_RSS_MS", "50".as_ref()),
    ]);
    assert_eq!(report["state"], "success", "{}", text(&report));
    assert_eq!(report["digest"], sha256_digest(&pushed).as_str());
    let rss = &report["rss"];
    // [fraction pulled, MiB of the page's renderer, MiB of all the browser's processes]
    let trace: Vec<(f64, u64, u64)> = rss["trace"]
        .as_array()
        .expect("rss.trace")
        .iter()
        .filter_map(|s| Some((s[0].as_f64()?, s[1].as_u64()?, s[2].as_u64()?)))
        .collect();
    // The sustained level of a part of the pull: the 75th percentile of its samples, so one
    // garbage-collection spike (a busy machine delays the collector) does not count as growth,
    // while a page keeping what it pulled still would (it would sit ~190 MiB higher in the
    // second half of this 384 MiB pull).
    let level = |from: f64, to: f64, of: fn(&(f64, u64, u64)) -> u64| {
        let mut v: Vec<u64> = trace
            .iter()
            .filter(|s| s.0 >= from && s.0 < to)
            .map(of)
            .collect();
        assert!(!v.is_empty(), "samples in each half of the pull: {rss}");
        v.sort_unstable();
        v[(v.len() * 3) / 4]
    };
    assert!(trace.len() > 20, "{rss}");
    let first_half = level(f64::MIN_POSITIVE, 0.5, |s| s.1);
    let second_half = level(0.5, 1.5, |s| s.1);
    // All the browser's processes together, for the record (not checked: see the README).
    eprintln!(
        "the page's renderer: {} MiB before, {first_half} MiB (75th percentile) in the pull's \
         first half, {second_half} MiB in its second; the whole browser: {} and {} MiB",
        rss["rendererBefore"],
        level(f64::MIN_POSITIVE, 0.5, |s| s.2),
        level(0.5, 1.5, |s| s.2)
    );
    assert!(
        second_half < first_half + 96,
        "the page grew from {first_half} to {second_half} MiB in the pull's second half: {rss}"
    );
    // The archive is whole: skopeo reads every blob.
    let reference = format!("oci-archive:{}", out.display());
    skopeo::copy(
        &reference,
        &format!("oci:{}:v1", dir.path().join("copied").display()),
        &[] as &[&str],
    )
    .unwrap();
}
