//! Token (Bearer) auth against a real registry: distribution 2.8 with `auth.token` and the
//! harness's token server. Push, login, cross-repository mount, short-lived tokens, anonymous
//! pull, and secrets that never show.

use std::fs;
use std::path::{Path, PathBuf};

use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::token_server::TokenRequest;
use tug_testkit::{
    skopeo, FixtureImage, ImageSpec, Registry, TokenMode, TokenServer, TokenServerConfig, Tug,
    TugOutput,
};

use crate::common::{done_event, Env};

const USER: &str = "bearer-user";
const PASSWORD: &str = "Tok3n-s3cret-pw";

/// A scratch place for one test (a private HOME, DOCKER_CONFIG and state dir) and an image
/// with `layers` layers of a few KiB each (plus its config blob).
fn scene(seed: u64, layers: u64) -> (Env, PathBuf, FixtureImage) {
    let env = Env::new();
    fs::create_dir_all(env.home().join(".docker")).unwrap();
    fs::create_dir_all(env.state()).unwrap();
    let mut spec = ImageSpec::new(seed);
    for i in 0..layers {
        spec = if i % 2 == 0 {
            spec.layer(4_000 + i * 1_000)
        } else {
            spec.gzip_layer(3_000 + i * 1_000)
        };
    }
    let layout = env.path("layout");
    let fixture = write_oci_layout(&layout, &spec, "v1");
    (env, layout, fixture)
}

/// `tug COMMAND --ca-file CA` in `env`, traced, with no credentials from the environment.
fn command(env: &Env, command: &str, registry: &Registry) -> Tug {
    env.tug()
        .env("RUST_LOG", "trace")
        .arg(command)
        .arg("--ca-file")
        .arg(registry.ca_file().unwrap())
}

/// `tug push --progress json LAYOUT registry/NAME_AND_REF` without credentials.
fn push(env: &Env, layout: &Path, registry: &Registry, name_and_ref: &str) -> Tug {
    command(env, "push", registry)
        .args(["--progress", "json"])
        .arg(layout)
        .arg(registry.image(name_and_ref))
}

fn token_server(registry: &Registry) -> &TokenServer {
    registry.token_server().expect("a token-auth registry")
}

/// Asserts that neither the password (plain or in Basic form) nor any token the server
/// issued occurs in tug's output or in any file under `dir` (state, config written by tug
/// aside, which `tug login` is meant to write).
#[track_caller]
fn assert_no_secret(out: &TugOutput, server: &TokenServer, files_under: &[&Path]) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let tokens: Vec<String> = server
        .requests()
        .into_iter()
        .filter_map(|r| r.token)
        .collect();
    let mut texts = vec![
        ("stdout".to_owned(), out.stdout_str()),
        ("stderr".to_owned(), out.stderr_str()),
    ];
    for dir in files_under {
        for file in files_in(dir) {
            let text = String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned();
            texts.push((file.display().to_string(), text));
        }
    }
    for (what, text) in &texts {
        assert!(
            !text.contains(PASSWORD),
            "the password leaked into {what}:\n{text}"
        );
        assert!(
            !text.contains(&basic),
            "the Basic credentials leaked into {what}:\n{text}"
        );
        for token in &tokens {
            // A JWT's signature part alone is enough to show a leak.
            let signature = token.rsplit('.').next().unwrap();
            assert!(
                !text.contains(signature),
                "a token leaked into {what}:\n{text}"
            );
        }
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_in(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Token requests that asked for `scope`.
fn asking_for<'a>(log: &'a [TokenRequest], scope: &str) -> Vec<&'a TokenRequest> {
    log.iter()
        .filter(|r| r.scopes.iter().any(|s| s == scope))
        .collect()
}

#[test]
fn push_with_env_credentials_gets_a_scoped_token_and_skopeo_sees_the_image() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    let (env, layout, fixture) = scene(101, 3);
    let out = push(&env, &layout, &registry, "team/app:v1")
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .run();
    assert_no_secret(&out, server, &[&env.state()]);
    let out = out.assert_success();
    let done = done_event(&out);
    assert_eq!(done["blobs_uploaded"], 4, "{done}");

    let log = server.requests();
    assert!(!log.is_empty(), "tug asked the token server");
    for request in &log {
        assert_eq!(request.method, "GET", "{request:?}");
        assert_eq!(request.path, "/token", "{request:?}");
        assert_eq!(
            request.service.as_deref(),
            Some(server.service()),
            "{request:?}"
        );
        assert!(
            request.authenticated_as(USER),
            "Basic credentials sent: {request:?}"
        );
        assert_eq!(request.status, 200, "{request:?}");
    }
    let push_scope = "repository:team/app:pull,push";
    let scoped = asking_for(&log, push_scope);
    assert!(!scoped.is_empty(), "{log:#?}");
    assert_eq!(
        scoped.last().unwrap().granted[0].to_scope(),
        push_scope,
        "{log:#?}"
    );
    // A token lives 300 s here: one is enough for the whole push, give or take the first
    // (unscoped) one for the version check.
    assert!(server.tokens_issued() <= 2, "{log:#?}");

    pull_with_skopeo_and_compare(&registry, "team/app:v1", &fixture);
}

#[test]
fn push_with_password_stdin() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let (env, layout, fixture) = scene(102, 2);
    let out = push(&env, &layout, &registry, "stdin/app:v1")
        .args(["-u", USER, "--password-stdin"])
        .stdin(format!("{PASSWORD}\n"))
        .run();
    assert_no_secret(&out, token_server(&registry), &[&env.state()]);
    out.assert_success();
    let log = token_server(&registry).requests();
    assert!(
        asking_for(&log, "repository:stdin/app:pull,push")
            .iter()
            .all(|r| r.authenticated_as(USER) && r.issued()),
        "{log:#?}"
    );
    pull_with_skopeo_and_compare(&registry, "stdin/app:v1", &fixture);
}

#[test]
fn a_wrong_password_fails_with_the_auth_code_and_names_the_token_server() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    let (env, layout, _) = scene(103, 1);
    let out = push(&env, &layout, &registry, "team/app:v1")
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", "not-the-Pa55word")
        .run();
    assert_no_secret(&out, server, &[&env.state()]);
    let stderr = out.stderr_str();
    assert!(!stderr.contains("not-the-Pa55word"), "{stderr}");
    let out = out.assert_code(crate::common::AUTH);
    assert!(
        stderr.contains(&server.host()),
        "the message names the token server {}:\n{out}",
        server.host()
    );
    assert!(stderr.contains("401"), "{stderr}");
    let log = server.requests();
    assert!(!log.is_empty());
    assert!(
        log.iter()
            .all(|r| r.status == 401 && r.auth.sent_credentials() && !r.issued()),
        "{log:#?}"
    );
    assert!(
        skopeo::inspect_raw_in(&registry, "team/app:v1").is_err(),
        "nothing was pushed"
    );
}

#[test]
fn a_token_without_access_is_final_after_one_refetch() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    server.set_mode(TokenMode::NoAccess);
    let (env, layout, _) = scene(104, 1);
    let out = push(&env, &layout, &registry, "team/app:v1")
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .run();
    assert_no_secret(&out, server, &[&env.state()]);
    let out = out.assert_code(crate::common::AUTH);
    assert!(
        out.stderr_str().contains("rejected the token"),
        "{out}\ntoken server log: {:#?}",
        server.requests()
    );
    // Every token works for nothing; the first 401 with a token fetches one more, the next
    // is final: a bounded number of token requests, not a loop.
    assert!(server.tokens_issued() <= 4, "{:#?}", server.requests());
}

#[test]
fn login_checks_against_the_token_server_and_a_push_needs_no_flags_after_it() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    let (env, layout, fixture) = scene(105, 2);
    let config = env.home().join(".docker/config.json");
    let login = |password: &str| {
        let out = command(&env, "login", &registry)
            .args(["-u", USER, "--password-stdin"])
            .arg(registry.host())
            .stdin(format!("{password}\n"))
            .run();
        assert_no_secret(&out, server, &[&env.state()]);
        out
    };

    let out = login("wrong-password").assert_code(crate::common::AUTH);
    assert!(!config.exists(), "nothing kept after a failed login: {out}");
    let failed = server.requests();
    assert!(
        failed
            .iter()
            .any(|r| r.status == 401 && r.auth.sent_credentials()),
        "the login asked the token server: {failed:#?}"
    );

    server.clear_requests();
    login(PASSWORD).assert_success();
    let log = server.requests();
    assert!(
        log.iter().any(|r| r.authenticated_as(USER) && r.issued()),
        "the login got a token: {log:#?}"
    );
    let kept = fs::read_to_string(&config).unwrap();
    assert!(kept.contains(&registry.host()), "{kept}");

    server.clear_requests();
    let out = push(&env, &layout, &registry, "kept/app:v1").run();
    assert_no_secret(&out, server, &[&env.state()]);
    out.assert_success();
    let log = server.requests();
    assert!(
        asking_for(&log, "repository:kept/app:pull,push")
            .iter()
            .any(|r| r.authenticated_as(USER) && r.issued()),
        "{log:#?}"
    );
    pull_with_skopeo_and_compare(&registry, "kept/app:v1", &fixture);
}

#[test]
fn copy_within_the_token_registry_mounts_with_a_pull_scope_on_the_source() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    let (env, layout, fixture) = scene(106, 2);
    push(&env, &layout, &registry, "one/app:v1")
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .run()
        .assert_success();
    server.clear_requests();

    let out = command(&env, "copy", &registry)
        .args(["--progress", "json"])
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .arg(registry.image("one/app:v1"))
        .arg(registry.image("two/app:v1"))
        .run();
    assert_no_secret(&out, server, &[&env.state()]);
    let out = out.assert_success();
    let done = done_event(&out);
    assert_eq!(done["blobs_mounted"], 3, "{done}");
    assert_eq!(done["bytes_uploaded"], 0, "{done}");

    let log = server.requests();
    let both = log.iter().any(|r| {
        r.authenticated_as(USER)
            && r.scopes.iter().any(|s| s == "repository:two/app:pull,push")
            && r.scopes.iter().any(|s| s == "repository:one/app:pull")
            && r.granted.len() == 2
    });
    assert!(
        both,
        "a token for the mount covers both repositories: {log:#?}"
    );
    pull_with_skopeo_and_compare(&registry, "two/app:v1", &fixture);
}

/// A push to a second repository asks to mount what the first push sent (tug remembers
/// where its blobs went); when the account may no longer read the first, distribution
/// refuses the mount (`401`, even with a fresh token) and the blobs are sent instead.
#[test]
fn a_mount_from_a_repository_the_account_cannot_read_sends_the_blobs() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    let (env, layout, fixture) = scene(108, 2);
    let push_to = |repo: &str| {
        push(&env, &layout, &registry, repo)
            .env("TUG_USERNAME", USER)
            .env("TUG_PASSWORD", PASSWORD)
            .run()
    };
    push_to("one/app:v1").assert_success();
    server.hide(&["one/app"]);
    server.clear_requests();

    let out = push_to("two/app:v1");
    assert_no_secret(&out, server, &[&env.state()]);
    let done = done_event(&out.assert_success());
    assert_eq!(done["blobs_mounted"], 0, "{done}");
    assert_eq!(done["blobs_uploaded"], 3, "{done}");
    let log = server.requests();
    assert!(
        asking_for(&log, "repository:one/app:pull")
            .iter()
            .any(|r| r.issued()),
        "the mount was asked for, with pull on its source: {log:#?}"
    );
    pull_with_skopeo_and_compare(&registry, "two/app:v1", &fixture);

    // Readable again: the next repository mounts.
    server.hide(&[]);
    let done = done_event(&push_to("three/app:v1").assert_success());
    assert_eq!(done["blobs_mounted"], 3, "{done}");
}

#[test]
fn short_lived_tokens_are_fetched_again_and_long_lived_ones_are_reused() {
    let registry = Registry::tls_token_auth(USER, PASSWORD);
    let server = token_server(&registry);
    let (env, layout, fixture) = scene(107, 5);
    let push = |repo: &str| {
        let out = push(&env, &layout, &registry, repo)
            .args(["-j", "1"])
            .env("TUG_USERNAME", USER)
            .env("TUG_PASSWORD", PASSWORD)
            .run();
        assert_no_secret(&out, server, &[&env.state()]);
        out.assert_success()
    };

    // 300 s tokens: the push of 6 blobs and a manifest reuses its token.
    push("long/app:v1");
    let long_lived = server.tokens_issued();
    assert!(long_lived <= 2, "{:#?}", server.requests());

    // 1 s tokens are inside the core's 15 s refresh margin the moment they arrive, so every
    // request goes out with a fresh one: many more token requests, all with credentials
    // and the push scope.
    server.clear_requests();
    server.set_expires_in(1);
    push("short/app:v1");
    let log = server.requests();
    let scoped = asking_for(&log, "repository:short/app:pull,push");
    assert!(
        scoped.len() >= 7,
        "a token per request (6 blobs + manifest at least): {log:#?}"
    );
    assert!(
        log.iter().all(|r| r.authenticated_as(USER) && r.issued()),
        "{log:#?}"
    );
    pull_with_skopeo_and_compare(&registry, "short/app:v1", &fixture);
}

#[test]
fn anonymous_pull_of_a_public_repository_and_no_anonymous_push() {
    let registry = Registry::tls_token_server(
        TokenServerConfig::for_user(USER, PASSWORD).with_anonymous_pull(),
    );
    let server = token_server(&registry);
    let (env, layout, fixture) = scene(108, 2);
    push(&env, &layout, &registry, "pub/app:v1")
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .run()
        .assert_success();

    // Anonymous push: the token grants pull only, the registry refuses the upload.
    server.clear_requests();
    let out = push(&env, &layout, &registry, "pub/other:v1").run();
    assert_no_secret(&out, server, &[&env.state()]);
    let out = out.assert_code(crate::common::AUTH);
    assert!(out.stderr_str().contains("insufficient scope"), "{out}");
    let log = server.requests();
    assert!(
        log.iter().all(|r| !r.auth.sent_credentials()),
        "no credentials were given: {log:#?}\n{out}"
    );

    // Anonymous pull: copy the public image to a plain registry without credentials.
    server.clear_requests();
    let plain = Registry::plain();
    let out = command(&env, "copy", &registry)
        .args(["--progress", "json"])
        .arg(registry.image("pub/app:v1"))
        .arg(plain.image("mirror/app:v1"))
        .run();
    assert_no_secret(&out, server, &[&env.state()]);
    out.assert_success();
    let log = server.requests();
    let pulls = asking_for(&log, "repository:pub/app:pull");
    assert!(!pulls.is_empty(), "{log:#?}");
    assert!(
        pulls
            .iter()
            .all(|r| !r.auth.sent_credentials() && r.granted[0].actions == ["pull"]),
        "{log:#?}"
    );
    pull_with_skopeo_and_compare(&plain, "mirror/app:v1", &fixture);
}
