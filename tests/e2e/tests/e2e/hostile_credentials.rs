//! The password never reaches a host it was not meant for: registries written to misbehave
//! (redirects to hosts that challenge with their own realm, upload sessions on another host,
//! a plain-HTTP realm behind HTTPS, a redirect from HTTPS to HTTP on the same port, which is
//! not followed at all), each
//! logging what it received.

use std::fs;
use std::sync::Arc;

use base64::Engine as _;
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{HostileServer, ImageSpec, MiniRegistry, Reply, SeenRequest, Tug, TugOutput};

use crate::common::{hermetic, AUTH, REGISTRY};

const USER: &str = "alice";
const PASSWORD: &str = "Hunter2-very-secret";

fn basic() -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    format!("Basic {b64}")
}

/// An image `team/app:v1` served by a mini registry.
fn served_image(dir: &std::path::Path) -> (Arc<MiniRegistry>, std::path::PathBuf) {
    let layout = dir.join("layout");
    write_oci_layout(&layout, &ImageSpec::new(7).layer(20_000), "v1");
    (
        Arc::new(MiniRegistry::from_layout("team/app", &layout)),
        layout,
    )
}

/// A registry that wants Basic credentials on every request, then does what `then` says.
fn basic_registry(then: impl Fn(&SeenRequest) -> Reply + Send + Sync + 'static) -> HostileServer {
    HostileServer::start(move |r| {
        if r.header("authorization") != Some(basic().as_str()) {
            return Reply::challenge(r#"Basic realm="registry""#);
        }
        then(r)
    })
}

/// A host (blob storage, an upload host) that answers everything with a challenge naming
/// its own token realm.
fn challenging_host() -> HostileServer {
    let realm = Arc::new(std::sync::OnceLock::<String>::new());
    let r2 = Arc::clone(&realm);
    let server = HostileServer::start(move |_| {
        let realm = r2.get().cloned().unwrap_or_default();
        Reply::challenge(&format!(r#"Bearer realm="{realm}/token",service="evil""#))
    });
    realm.set(server.http_url()).unwrap();
    server
}

fn with_credentials(dir: &std::path::Path) -> Tug {
    hermetic(Tug::new(), dir)
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
}

fn assert_no_credentials_reached(host: &HostileServer, out: &TugOutput) {
    let leaked = host.requests_with_authorization();
    assert!(
        leaked.is_empty(),
        "credentials reached {}: {leaked:#?}",
        host.host()
    );
    assert!(
        !host.requests().iter().any(|r| r.path().ends_with("/token")),
        "the foreign realm was asked for a token: {:#?}",
        host.requests()
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(PASSWORD),
        "password in stderr"
    );
}

#[test]
fn a_blob_redirect_to_a_host_with_its_own_realm_gets_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = served_image(dir.path());
    let storage = challenging_host();
    let storage_url = storage.http_url();
    let registry = basic_registry(move |r| {
        if r.method == "GET" && r.path().contains("/blobs/sha256:") {
            let digest = r.path().rsplit('/').next().unwrap_or("");
            return Reply::redirect(&format!("{storage_url}/blobs/{digest}"));
        }
        image.answer(r)
    });
    let out = with_credentials(dir.path())
        .args(["pull", "--plain-http", "-o"])
        .arg(dir.path().join("out"))
        .arg(format!("{}/team/app:v1", registry.host()))
        .run()
        .assert_code(AUTH);
    assert!(
        out.stderr_str().contains(&storage.http_url()),
        "{}",
        out.stderr_str()
    );
    assert!(!storage.requests().is_empty(), "tug followed the redirect");
    assert_no_credentials_reached(&storage, &out);
}

#[test]
fn an_upload_session_on_another_host_gets_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let (image, layout) = served_image(dir.path());
    let uploads = challenging_host();
    let uploads_url = uploads.http_url();
    let registry = basic_registry(move |r| {
        if r.method == "HEAD" && r.path().contains("/blobs/") {
            return Reply::registry_error(404, "BLOB_UNKNOWN", "blob unknown");
        }
        if r.method == "POST" && r.path().ends_with("/blobs/uploads/") {
            return Reply::status(202).with_header("Location", &format!("{uploads_url}/upload/1"));
        }
        image.answer(r)
    });
    let out = with_credentials(dir.path())
        .args(["push", "--plain-http", "--progress", "plain"])
        .arg(&layout)
        .arg(format!("{}/team/app:v2", registry.host()))
        .run()
        .assert_code(AUTH);
    assert!(
        !uploads.requests().is_empty(),
        "tug used the upload session"
    );
    assert_no_credentials_reached(&uploads, &out);
    assert!(
        !registry
            .requests()
            .iter()
            .any(|r| r.is("PUT", "/manifests/")),
        "a manifest was pushed after a failed blob"
    );
}

#[test]
fn an_https_registry_naming_a_plain_http_realm_gets_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let realm_host =
        HostileServer::start(|_| Reply::body(200, "application/json", r#"{"token":"t"}"#));
    let realm = format!("{}/token", realm_host.http_url());
    let registry = HostileServer::start(move |r| match r.header("authorization") {
        Some(a) if a.starts_with("Bearer ") => Reply::body(200, "application/json", "{}"),
        _ => Reply::challenge(&format!(r#"Bearer realm="{realm}",service="registry""#)),
    });
    let ca = dir.path().join("ca.pem");
    fs::write(&ca, registry.ca_pem()).unwrap();
    let out = with_credentials(dir.path())
        .args(["pull", "--ca-file"])
        .arg(&ca)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg(format!("{}/team/app:v1", registry.host()))
        .run()
        .assert_code(AUTH);
    let stderr = out.stderr_str();
    assert!(stderr.contains("plain HTTP"), "{stderr}");
    assert!(
        registry.requests().iter().all(|r| r.scheme == "https"),
        "{:#?}",
        registry.requests()
    );
    assert!(
        realm_host.requests().is_empty(),
        "{:#?}",
        realm_host.requests()
    );
}

#[test]
fn a_redirect_from_https_to_http_on_the_same_port_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = served_image(dir.path());
    let registry = Arc::new(std::sync::OnceLock::<String>::new());
    let registry_host = Arc::clone(&registry);
    let server = basic_registry(move |r| {
        if r.scheme == "https" && r.method == "GET" && r.path().contains("/blobs/sha256:") {
            let host = registry_host.get().cloned().unwrap_or_default();
            return Reply::redirect(&format!("http://{host}{}", r.path()));
        }
        image.answer(r)
    });
    registry.set(server.host()).unwrap();
    let ca = dir.path().join("ca.pem");
    fs::write(&ca, server.ca_pem()).unwrap();
    let out = with_credentials(dir.path())
        .args(["pull", "--ca-file"])
        .arg(&ca)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg(format!("{}/team/app:v1", server.host()))
        .run()
        .assert_code(REGISTRY);
    let plain: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.scheme == "http")
        .collect();
    assert!(plain.is_empty(), "tug followed the redirect: {plain:#?}");
    let stderr = out.stderr_str();
    assert!(stderr.contains("leaves HTTPS for plain HTTP"), "{stderr}");
    assert!(!stderr.contains(PASSWORD));
}

/// A client certificate given for the registry (mutual TLS) is presented to the registry
/// alone: blob storage it redirects to learns nothing of who the client is (found by
/// probing: the one connection set-up per registry presented it everywhere).
#[test]
fn a_client_certificate_goes_to_the_registry_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = served_image(dir.path());
    let pki = tug_testkit::tls::TestPki::generate_with(&["127.0.0.1"], true);
    let storage_image = Arc::clone(&image);
    let storage = HostileServer::start_with_pki(pki.clone(), move |r| storage_image.answer(r));
    let storage_url = storage.https_url();
    let registry = HostileServer::start_with_pki(pki.clone(), move |r| {
        if r.method == "GET" && r.path().contains("/blobs/sha256:") {
            return Reply::redirect(&format!("{storage_url}{}", r.path()));
        }
        image.answer(r)
    });
    let (cert, key) = pki.client.clone().unwrap();
    let files = [
        ("ca.pem", &pki.ca_pem),
        ("client.cert", &cert),
        ("client.key", &key),
    ];
    for (name, pem) in files {
        fs::write(dir.path().join(name), pem).unwrap();
    }
    hermetic(Tug::new(), dir.path())
        .args(["pull", "--ca-file"])
        .arg(dir.path().join("ca.pem"))
        .arg("--cert-file")
        .arg(dir.path().join("client.cert"))
        .arg("--key-file")
        .arg(dir.path().join("client.key"))
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg(format!("{}/team/app:v1", registry.host()))
        .run()
        .assert_success();
    let to_registry = registry.requests();
    assert!(!to_registry.is_empty());
    assert!(
        to_registry.iter().all(|r| r.client_certificate),
        "{to_registry:#?}"
    );
    let to_storage = storage.requests();
    assert!(!to_storage.is_empty(), "the blobs came from storage");
    assert!(
        to_storage.iter().all(|r| !r.client_certificate),
        "the client certificate went to blob storage: {to_storage:#?}"
    );
}
