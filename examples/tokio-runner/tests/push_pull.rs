//! The tokio example against real registries: a push of an OCI layout and a pull back into
//! one, over TLS with htpasswd Basic auth or token auth, and through the fault proxy with
//! one failure each way that the core retries. Pushed images are checked with skopeo; pulled layouts
//! against the fixture, and read by skopeo.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, read_layout_image, write_oci_layout};
use tug_testkit::{
    skopeo, Fault, FaultProxy, FixtureImage, ImageSpec, Registry, RegistryConfig, Rule, Tug,
    TugOutput,
};

const USER: &str = "embedder";
const PASSWORD: &str = "tokio-secret";

/// The example with `args`, killed if it runs past a minute (a hang is a failure).
fn example(args: &[&str]) -> Tug {
    Tug::with_bin(env!("CARGO_BIN_EXE_tug-tokio-runner"))
        .args(args)
        .timeout(Duration::from_secs(60))
}

/// The example with `args` as `USER`, trusting `ca` (a TLS registry's) if given.
fn as_user(args: &[&str], ca: Option<&Path>) -> Tug {
    let tug = example(args)
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD);
    match ca {
        Some(ca) => tug.env("SSL_CERT_FILE", ca),
        None => tug,
    }
}

/// Runs the example with `args` and returns what it did, after checking it succeeded.
fn run(tug: Tug) -> TugOutput {
    tug.run().assert_success()
}

/// The core's `retrying` events the example printed.
fn retries(out: &TugOutput) -> Vec<String> {
    out.stderr_str()
        .lines()
        .filter(|l| l.contains(r#""event":"retrying""#))
        .map(str::to_owned)
        .collect()
}

/// An image with a layer seen twice, so the push skips a blob it already sent.
fn image(dir: &Path, seed: u64) -> FixtureImage {
    let spec = ImageSpec::new(seed)
        .layer(900_000)
        .layer(150_000)
        .repeat_layer(0);
    write_oci_layout(dir, &spec, "v1")
}

/// The pulled layout holds exactly the fixture, and skopeo reads it (checking every blob).
fn check_pulled(dir: &Path, fixture: &FixtureImage) {
    assert_eq!(&read_layout_image(dir, "v1"), fixture);
    let copy = tempfile::tempdir().unwrap();
    skopeo::copy(
        &format!("oci:{}:v1", dir.display()),
        &format!("oci:{}:v1", copy.path().display()),
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Pushes a fresh image to `registry` (TLS, with `USER`'s credentials) and pulls it back;
/// skopeo checks both. Returns the layout pushed from.
fn push_and_pull_back(registry: &Registry, dir: &Path, seed: u64) -> PathBuf {
    let layout = dir.join("layout");
    let fixture = image(&layout, seed);
    let ca = registry.ca_file().expect("a TLS registry has a CA");
    let target = registry.image("embed/tokio:v1");

    let pushed = run(as_user(
        &["push", layout.to_str().unwrap(), &target],
        Some(ca),
    ));
    pull_with_skopeo_and_compare(registry, "embed/tokio:v1", &fixture);
    let stderr = pushed.stderr_str();
    assert!(stderr.contains(r#""event":"manifest_pushed""#), "{stderr}");

    let pulled = dir.join("pulled");
    run(as_user(
        &["pull", &target, pulled.to_str().unwrap()],
        Some(ca),
    ));
    check_pulled(&pulled, &fixture);
    layout
}

#[test]
fn pushes_and_pulls_over_tls_with_basic_auth() {
    let registry = Registry::tls_basic_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let layout = push_and_pull_back(&registry, dir.path(), 171);

    // Without the CA the registry's certificate is not trusted: the core fails the push.
    let other = registry.image("embed/other:v1");
    let untrusted = as_user(&["push", layout.to_str().unwrap(), &other], None).run();
    let stderr = untrusted.stderr_str();
    assert!(!untrusted.success() && !untrusted.timed_out, "{untrusted}");
    assert!(
        stderr.contains("TLS error") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
}

#[test]
fn a_failed_upload_and_a_dropped_download_are_retried_by_the_core() {
    let registry = Registry::start(RegistryConfig::plain().with_basic_auth(USER, PASSWORD));
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = image(&layout, 172);
    let target = proxy.image("embed/tokio:v1");

    // The first blob upload's closing PUT gets a 503.
    let put = proxy.add_rule(Rule::new("PUT", "/blobs/uploads/", Fault::status(503)).times(1));
    let push = ["push", "--plain-http", layout.to_str().unwrap(), &target];
    let pushed = run(as_user(&push, None));
    assert_eq!(proxy.hits(put), 1);
    assert_eq!(retries(&pushed).len(), 1, "{:?}", retries(&pushed));
    pull_with_skopeo_and_compare(&registry, "embed/tokio:v1", &fixture);

    // The big layer's download breaks after 100 kB; the core asks again.
    let big = format!("/blobs/{}", fixture.layers[0].digest);
    let get =
        proxy.add_rule(Rule::new("GET", &big, Fault::DropResponseBody { after: 100_000 }).times(1));
    let pulled = dir.path().join("pulled");
    let out = run(as_user(
        &["pull", "--plain-http", &target, pulled.to_str().unwrap()],
        None,
    ));
    assert_eq!(proxy.hits(get), 1);
    assert_eq!(retries(&out).len(), 1, "{:?}", retries(&out));
    check_pulled(&pulled, &fixture);
}

#[test]
fn pushes_and_pulls_with_token_auth() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    push_and_pull_back(&registry, dir.path(), 173);
    let tokens = registry.token_server().expect("a token server");
    assert!(
        tokens
            .requests()
            .iter()
            .any(|r| r.authenticated_as(USER) && r.issued()),
        "the core got its tokens with the user's credentials"
    );
}

#[test]
fn a_pull_into_a_layout_keeps_the_images_it_already_names() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let pulled = dir.path().join("pulled");
    let mut fixtures = Vec::new();
    for (seed, tag) in [(174, "v1"), (175, "v2")] {
        let layout = dir.path().join(tag);
        let fixture = image(&layout, seed);
        let target = registry.image(&format!("embed/tokio:{tag}"));
        run(example(&["push", layout.to_str().unwrap(), &target]));
        run(example(&["pull", &target, pulled.to_str().unwrap()]));
        fixtures.push((tag, fixture));
    }
    // Pulled again: its entry is replaced, not added twice.
    let again = registry.image("embed/tokio:v1");
    run(example(&["pull", &again, pulled.to_str().unwrap()]));

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    for (tag, fixture) in &fixtures {
        assert_eq!(&read_layout_image(&pulled, tag), fixture);
        let copy = tempfile::tempdir().unwrap();
        skopeo::copy(
            &format!("oci:{}:{tag}", pulled.display()),
            &format!("oci:{}:{tag}", copy.path().display()),
            skopeo::NO_ARGS,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
