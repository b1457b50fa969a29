//! Secrets a server sends back stay secret: registries and token servers that echo the
//! password, the Basic value or the token in their errors, a realm and a redirect whose URLs
//! carry user info and a signed query, and a reference given with `user:password@`. Nothing
//! of them reaches stderr or the history, and user info in a URL never becomes credentials.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{HostileServer, ImageSpec, MiniRegistry, Reply, Tug, TugOutput};

use crate::common::{hermetic, AUTH, REGISTRY};
use crate::secrets::{contains, files};

const USER: &str = "alice";
const PASSWORD: &str = "S3cr3t-PW-echoed";
const TOKEN: &str = "T0ken-S3cr3t-echoed";
/// What a registry puts in the user info and query of the URLs it hands out.
const URL_SECRET: &str = "Qu3ry-S3cr3t";

fn basic_value() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

fn with_credentials(dir: &Path) -> Tug {
    hermetic(Tug::new(), dir)
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
}

/// `tug pull` of `team/app:v1` from `registry` into a layout in `dir`, with the credentials.
fn pull(dir: &Path, registry: &HostileServer) -> TugOutput {
    with_credentials(dir)
        .args(["pull", "--plain-http", "-o"])
        .arg(dir.join("out"))
        .arg(format!("{}/team/app:v1", registry.host()))
        .run()
}

/// None of `secrets` is in the output or in any file of the state directory (the history).
fn assert_nothing_shows(dir: &Path, out: &TugOutput, secrets: &[&str]) {
    let mut written = Vec::new();
    files(&dir.join("state"), &mut written);
    assert!(
        written.iter().any(|(p, _)| p.contains("history")),
        "the history was written: {written:?}"
    );
    for secret in secrets {
        assert!(
            !out.stderr_str().contains(secret),
            "{secret} in stderr: {}",
            out.stderr_str()
        );
        assert!(!out.stdout_str().contains(secret), "{secret} in stdout");
        for (path, bytes) in &written {
            assert!(!contains(bytes, secret), "{secret} in {path}");
        }
    }
}

#[test]
fn a_registry_echoing_the_password_and_basic_value_shows_neither() {
    let dir = tempfile::tempdir().unwrap();
    let registry = HostileServer::start(|r| match r.header("authorization") {
        Some(sent) if r.path().contains("/manifests/") => Reply::registry_error(
            400,
            "DENIED",
            &format!("you sent {sent}, and password {PASSWORD} is expired"),
        ),
        Some(_) => Reply::status(200),
        None => Reply::challenge(r#"Basic realm="registry""#),
    });
    let out = pull(dir.path(), &registry).assert_code(REGISTRY);
    assert!(
        out.stderr_str()
            .contains("DENIED: you sent Basic ***, and password *** is expired"),
        "{}",
        out.stderr_str()
    );
    assert_nothing_shows(dir.path(), &out, &[PASSWORD, &basic_value()]);
}

/// The password in the forms it travels in (a form body's percent-encoding, base64 of it
/// alone), echoed back, is blanked out too.
#[test]
fn a_password_echoed_encoded_shows_in_no_form() {
    use base64::Engine as _;
    const ODD: &str = "S3cr3t+/=PW!";
    let encoded = ["S3cr3t%2B%2F%3DPW%21", "S3cr3t%2b%2f%3dPW%21"];
    let b64 = base64::engine::general_purpose::STANDARD.encode(ODD);
    let echo = format!("form {} {}, base64 {b64}", encoded[0], encoded[1]);
    let registry = HostileServer::start(move |r| match r.header("authorization") {
        Some(_) if r.path().contains("/manifests/") => Reply::registry_error(400, "DENIED", &echo),
        Some(_) => Reply::status(200),
        None => Reply::challenge(r#"Basic realm="registry""#),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = hermetic(Tug::new(), dir.path())
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", ODD)
        .args(["pull", "--plain-http", "-o"])
        .arg(dir.path().join("out"))
        .arg(format!("{}/team/app:v1", registry.host()))
        .run()
        .assert_code(REGISTRY);
    assert!(
        out.stderr_str()
            .contains("DENIED: form *** ***, base64 ***"),
        "{}",
        out.stderr_str()
    );
    assert_nothing_shows(dir.path(), &out, &[ODD, encoded[0], encoded[1], &b64]);
}

/// A registry that puts the Basic value and the password (escaped as a path escapes it,
/// `/` and all) into its upload URLs: the `-v` request lines and the `--progress json`
/// session events show neither.
#[test]
fn secrets_a_registry_puts_in_its_upload_urls_are_not_shown() {
    use tug_testkit::Reply;
    const ODD: &str = "S3cr3t:p@ss/w0rd";
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{ODD}"));
    let echo = format!("/{basic}/S3cr3t%3Ap%40ss/w0rd");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(10).layer(20_000), "v1");
    let image = MiniRegistry::new("team/app");
    let tail = echo.clone();
    let registry = HostileServer::start(move |r| {
        if r.header("authorization").is_none() {
            return Reply::challenge(r#"Basic realm="registry""#);
        }
        let mut plain = r.clone();
        plain.target = plain.target.replacen(&tail, "", 1);
        let mut reply = image.answer(&plain);
        if let Reply::Full { headers, .. } = &mut reply {
            for (name, value) in headers.iter_mut() {
                if name == "Location" && value.contains("/blobs/uploads/") {
                    value.push_str(&tail);
                }
            }
        }
        reply
    });
    let out = hermetic(Tug::new(), dir.path())
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", ODD)
        .args(["push", "-v", "--plain-http", "--progress", "json"])
        .args(["--monolithic-max", "1000", "--chunk-size", "8192"])
        .arg(&layout)
        .arg(format!("{}/team/app:v1", registry.host()))
        .run()
        .assert_success();
    let echoed = registry
        .requests()
        .iter()
        .filter(|r| r.target.contains(&echo))
        .count();
    assert!(echoed > 0, "tug used the upload URLs it was given");
    assert!(
        out.stdout_str().contains("upload_session"),
        "{}",
        out.stdout_str()
    );
    assert_nothing_shows(dir.path(), &out, &[ODD, &basic, "S3cr3t%3Ap%40ss"]);
}

/// An upload session left open by a failed push is kept for the next run (`uploads.json`)
/// without the user info and the echoed password its URL carried: kept, a secret would sit
/// on disk (such a session cannot be resumed; the next run opens another).
#[test]
fn an_upload_url_echoing_the_password_is_kept_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(11).layer(20_000), "v1");
    let image = MiniRegistry::new("team/app");
    let registry = Arc::new(std::sync::OnceLock::<String>::new());
    let host = Arc::clone(&registry);
    let server = HostileServer::start(move |r| {
        if r.header("authorization").is_none() {
            return Reply::challenge(r#"Basic realm="registry""#);
        }
        if r.is("POST", "/blobs/uploads/") {
            let location = format!(
                "http://{USER}:{PASSWORD}@{}/v2/team/app/blobs/uploads/s1?_state={PASSWORD}",
                host.get().unwrap()
            );
            return Reply::status(202).with_header("Location", &location);
        }
        if r.is("PATCH", "/blobs/uploads/") || r.is("PUT", "/blobs/uploads/") {
            return Reply::registry_error(400, "BLOB_UPLOAD_INVALID", "no");
        }
        image.answer(r)
    });
    registry.set(server.host()).unwrap();
    let out = with_credentials(dir.path())
        .args(["push", "--plain-http", "--retries", "1"])
        .args(["--monolithic-max", "0", "--chunk-size", "8192"])
        .arg(&layout)
        .arg(format!("{}/team/app:v1", server.host()))
        .run();
    assert_ne!(out.code, Some(0), "the push fails: {}", out.stderr_str());
    let mut written = Vec::new();
    files(&dir.path().join("state"), &mut written);
    let (path, uploads) = written
        .iter()
        .find(|(p, _)| p.ends_with("uploads.json"))
        .unwrap_or_else(|| panic!("the session is kept: {written:?} {}", out.stderr_str()));
    let kept = String::from_utf8_lossy(uploads);
    assert!(kept.contains("/blobs/uploads/s1"), "{path}: {kept}");
    for secret in [PASSWORD, USER] {
        assert!(!kept.contains(secret), "{secret} in {path}: {kept}");
    }
}

#[test]
fn a_token_echoed_by_the_registry_and_a_password_echoed_by_the_token_server_stay_hidden() {
    // The realm's URL carries user info and a signed query of the registry's choosing.
    for token_server_fails in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let token_server = HostileServer::start(move |r| {
            if token_server_fails {
                return Reply::registry_error(
                    401,
                    "UNAUTHORIZED",
                    &format!("bad password {PASSWORD} for {USER}"),
                );
            }
            match r.header("authorization") {
                Some(_) => {
                    Reply::body(200, "application/json", format!(r#"{{"token":"{TOKEN}"}}"#))
                }
                None => Reply::status(401),
            }
        });
        let realm = format!(
            "http://leak:{URL_SECRET}@{}/token?key={URL_SECRET}",
            token_server.host()
        );
        let registry = HostileServer::start(move |r| match r.header("authorization") {
            Some(sent) if sent.starts_with("Bearer ") => {
                Reply::registry_error(403, "DENIED", &format!("token {} may not pull", &sent[7..]))
            }
            _ => Reply::challenge(&format!(r#"Bearer realm="{realm}",service="registry""#)),
        });
        let out = pull(dir.path(), &registry).assert_code(AUTH);
        let stderr = out.stderr_str();
        let expected = match token_server_fails {
            true => format!(
                "the token server http://{}/token answered 401",
                token_server.host()
            ),
            false => "DENIED: token *** may not pull".to_owned(),
        };
        assert!(stderr.contains(&expected), "{stderr}");
        assert_nothing_shows(
            dir.path(),
            &out,
            &[PASSWORD, &basic_value(), TOKEN, URL_SECRET],
        );
        // The token server got the user's credentials, not the realm's user info.
        let asked = token_server.requests();
        assert!(!asked.is_empty());
        for r in asked {
            assert_eq!(
                r.header("authorization"),
                Some(format!("Basic {}", basic_value()).as_str())
            );
        }
    }
}

#[test]
fn user_info_in_a_redirect_never_becomes_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(9).layer(5_000), "v1");
    let image = Arc::new(MiniRegistry::from_layout("team/app", &layout));
    let storage_image = Arc::clone(&image);
    let storage = HostileServer::start(move |r| storage_image.answer(r));
    let storage_host = storage.host();
    let registry = HostileServer::start(move |r| {
        if r.header("authorization").is_none() {
            return Reply::challenge(r#"Basic realm="registry""#);
        }
        if r.method == "GET" && r.path().contains("/blobs/sha256:") {
            return Reply::redirect(&format!(
                "http://leak:{URL_SECRET}@{storage_host}{}?sig={URL_SECRET}",
                r.path()
            ));
        }
        image.answer(r)
    });
    let out = pull(dir.path(), &registry).assert_success();
    assert!(!storage.requests().is_empty(), "tug followed the redirect");
    let leaked = storage.requests_with_authorization();
    assert!(
        leaked.is_empty(),
        "credentials reached storage: {leaked:#?}"
    );
    assert_nothing_shows(dir.path(), &out, &[PASSWORD, URL_SECRET]);
}

#[test]
fn a_reference_given_with_a_password_is_refused_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    for reference in [
        format!("{USER}:{PASSWORD}@127.0.0.1:5/app:1"),
        format!("docker://{USER}:{PASSWORD}@127.0.0.1:5/app:1"),
    ] {
        let out = hermetic(Tug::new(), dir.path())
            .args(["pull", "-o"])
            .arg(dir.path().join("out"))
            .arg(&reference)
            .run()
            .assert_code(2);
        assert!(
            out.stderr_str().contains("\"127.0.0.1:5/app:1\""),
            "{}",
            out.stderr_str()
        );
        assert_nothing_shows(dir.path(), &out, &[PASSWORD]);
    }
}
