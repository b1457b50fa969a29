//! Secrets stay secret: a push and a pull against a token-auth registry, with `-v` and
//! `--progress json`, never show the password or any token in stdout, stderr, or any file
//! tug writes (upload state, store).

use std::fs;
use std::path::Path;

use base64::Engine as _;
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{ImageSpec, Registry, Tug, TugOutput};

const PASSWORD: &str = "Hunter2-very-secret";

/// Every file under `dir`, as bytes.
pub(crate) fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if let Ok(b) = fs::read(&p) {
            out.push((p.display().to_string(), b));
        }
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_password_or_token_in_any_output_or_file() {
    let registry = Registry::tls_token_auth("pat", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(
        &layout,
        &ImageSpec::new(71).layer(3 << 20).layer(1000),
        "v1",
    );
    let tug = |args: &[&str]| -> TugOutput {
        Tug::new()
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("TUG_STATE_DIR", home.join("state"))
            .env("TUG_STORE", home.join("store"))
            .env("TUG_USERNAME", "pat")
            .env("TUG_PASSWORD", PASSWORD)
            .arg("-v")
            .args(args)
            .arg("--ca-file")
            .arg(registry.ca_file().unwrap())
            .run()
            .assert_success()
    };
    let target = registry.image("sec/app:v1");
    let layout_arg = layout.to_str().unwrap();
    let push = tug(&[
        "push",
        "--progress",
        "json",
        "--chunk-size",
        "1048576",
        "--monolithic-max",
        "0",
        layout_arg,
        &target,
    ]);
    let pull = tug(&["pull", "--progress", "json", &target]);
    assert!(
        push.stderr_str().contains("-> "),
        "-v logs requests: {}",
        push.stderr_str()
    );

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("pat:{PASSWORD}"));
    let mut secrets: Vec<String> = vec![PASSWORD.to_owned(), basic];
    let tokens: Vec<String> = registry
        .token_server()
        .expect("token registry")
        .requests()
        .into_iter()
        .filter_map(|r| r.token)
        .collect();
    assert!(!tokens.is_empty(), "tokens were issued");
    secrets.extend(tokens);

    let mut written = Vec::new();
    files(&home, &mut written);
    assert!(
        written.iter().any(|(p, _)| p.contains("store")),
        "the pull wrote into the store"
    );
    for secret in &secrets {
        for out in [&push, &pull] {
            assert!(
                !out.stdout_str().contains(secret.as_str()),
                "a secret in stdout"
            );
            assert!(
                !out.stderr_str().contains(secret.as_str()),
                "a secret in stderr"
            );
        }
        for (path, bytes) in &written {
            assert!(!contains(bytes, secret), "a secret in {path}");
        }
    }
}
