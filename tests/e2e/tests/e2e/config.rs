//! The config file: its per-registry `ca_file` and `plain_http` and its `jobs` take effect on
//! real pushes, pulls and copies; `tug config` shows every value's source; bad files fail
//! with the file, the line and the key.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{ImageSpec, Registry, Tug};

use crate::common::Env;

/// The config file of `env`'s tug runs.
fn config_file(env: &Env) -> PathBuf {
    env.path("tug.toml")
}

fn write_config(env: &Env, text: &str) {
    fs::write(config_file(env), text).unwrap();
}

/// tug in `env` with the config file `tug.toml` (written or not).
fn configured(env: &Env) -> Tug {
    env.tug().env("TUG_CONFIG", config_file(env))
}

const VARS: &[(&str, &str)] = &[
    ("TUG_JOBS", "jobs"),
    ("TUG_RETRIES", "retries"),
    ("TUG_RETRY_MAX_WAIT", "retry_max_wait"),
    ("TUG_RETRY_DELAY", "retry_delay"),
    ("TUG_CHUNK_SIZE", "chunk_size"),
    ("TUG_MONOLITHIC_MAX", "monolithic_max"),
    ("TUG_PROGRESS", "progress"),
    ("TUG_CONNECT_TIMEOUT", "connect_timeout"),
    ("TUG_STALL_TIMEOUT", "stall_timeout"),
];

#[test]
fn a_registry_ca_file_in_the_config_is_enough_to_push_pull_and_copy_over_tls() {
    let env = Env::new();
    let registry = Registry::tls();
    let layout = env.path("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(91).layer(200_000), "v1");
    let push = |env: &Env| {
        configured(env)
            .args(["push", "--progress", "plain"])
            .arg(&layout)
            .arg(registry.image("conf/app:v1"))
            .run()
    };

    // No config file (TUG_CONFIG names a missing one: an error that says so) ...
    let missing = push(&env).assert_code(crate::common::INVALID_INPUT);
    assert!(missing.stderr_str().contains("tug.toml"), "{missing}");
    // ... an empty one: the private CA is unknown, the push fails on TLS.
    write_config(&env, "");
    let untrusted = push(&env).assert_code(crate::common::REGISTRY);
    assert!(untrusted.stderr_str().contains("--ca-file"), "{untrusted}");

    // The CA named in the registry's table, relative to the config file.
    fs::copy(registry.ca_file().unwrap(), env.path("ca.pem")).unwrap();
    write_config(
        &env,
        &format!(
            "jobs = 2\nretries = 3\n\n[registries.\"{}\"]\nca_file = \"ca.pem\"\n",
            registry.host()
        ),
    );
    let out = configured(&env)
        .args(["-v", "push", "--progress", "plain", "--retries", "4"])
        .arg(&layout)
        .arg(registry.image("conf/app:v1"))
        .run()
        .assert_success();
    let err = out.stderr_str();
    let file = config_file(&env).display().to_string();
    assert!(err.contains(&format!("jobs=2 (file {file}:1)")), "{err}");
    assert!(err.contains("retries=4 (flag --retries)"), "{err}");
    assert!(err.contains("chunk_size=67108864 (default)"), "{err}");
    tug_testkit::fixtures::pull_with_skopeo_and_compare(&registry, "conf/app:v1", &fixture);
    configured(&env)
        .args(["pull", "--progress", "plain", "-o"])
        .arg(env.path("pulled"))
        .arg(registry.image("conf/app:v1"))
        .run()
        .assert_success();
    configured(&env)
        .args(["copy", "--progress", "plain"])
        .arg(registry.image("conf/app:v1"))
        .arg(registry.image("conf/copy:v1"))
        .run()
        .assert_success();

    // An environment variable beats the file.
    let out = configured(&env)
        .env("TUG_JOBS", "3")
        .args(["-v", "push", "--progress", "plain"])
        .arg(&layout)
        .arg(registry.image("conf/app:v1"))
        .run()
        .assert_success();
    assert!(out.stderr_str().contains("jobs=3 (env TUG_JOBS)"), "{out}");
}

#[test]
fn a_copy_uses_each_registrys_own_table() {
    // A TLS source whose CA only the config knows, and a plain-HTTP destination marked
    // `plain_http` (no HTTPS attempt first, so no fallback notice).
    let env = Env::new();
    let src = Registry::tls();
    let dst = Registry::plain();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(92).layer(100_000), "v1");
    fs::copy(src.ca_file().unwrap(), env.path("src-ca.pem")).unwrap();
    write_config(
        &env,
        &format!(
        "[registries.\"{}\"]\nca_file = \"src-ca.pem\"\n\n[registries.\"{}\"]\nplain_http = true\n",
        src.host(),
        dst.host()
    ),
    );
    configured(&env)
        .args(["push", "--progress", "plain"])
        .arg(&layout)
        .arg(src.image("a/app:v1"))
        .run()
        .assert_success();
    let out = configured(&env)
        .args(["copy", "--progress", "plain"])
        .arg(src.image("a/app:v1"))
        .arg(dst.image("b/app:v1"))
        .run()
        .assert_success();
    assert!(!out.stderr_str().contains("speaks plain HTTP"), "{out}");
    assert_eq!(
        tug_testkit::skopeo::inspect_raw_in(&src, "a/app:v1").unwrap(),
        tug_testkit::skopeo::inspect_raw_in(&dst, "b/app:v1").unwrap()
    );
    // Without the table, the same plain registry is found by the HTTPS-then-HTTP fallback.
    write_config(
        &env,
        &format!(
            "[registries.\"{}\"]\nca_file = \"src-ca.pem\"\n",
            src.host()
        ),
    );
    let out = configured(&env)
        .args(["copy", "--progress", "plain"])
        .arg(src.image("a/app:v1"))
        .arg(dst.image("b/app:v2"))
        .run()
        .assert_success();
    assert!(out.stderr_str().contains("speaks plain HTTP"), "{out}");
}

#[test]
fn tug_config_shows_each_value_and_where_it_came_from() {
    let env = Env::new();
    fs::write(env.path("ca.pem"), "not checked here").unwrap();
    write_config(
        &env,
        "# defaults for this machine\njobs = 6\nprogress = \"plain\"\n\n[registries.\"reg.example:5000\"]\nca_file = \"ca.pem\"\ninsecure = true\n",
    );
    let file = config_file(&env).display().to_string();
    let out = configured(&env)
        .env("TUG_RETRIES", "8")
        .arg("config")
        .run()
        .assert_success()
        .stdout_str();
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    assert!(
        out.starts_with(&format!("# config file: {file}\n")),
        "{out}"
    );
    assert!(line("jobs").starts_with("jobs = 6 "), "{out}");
    assert!(line("jobs").ends_with(&format!("# file {file}:2")), "{out}");
    assert!(
        line("progress").starts_with("progress = \"plain\" "),
        "{out}"
    );
    assert!(
        line("progress").ends_with(&format!("# file {file}:3")),
        "{out}"
    );
    assert!(line("retries").ends_with("# env TUG_RETRIES"), "{out}");
    assert!(line("retries").starts_with("retries = 8 "), "{out}");
    assert!(line("chunk_size").ends_with("# default"), "{out}");
    assert!(out.contains("[registries.\"reg.example:5000\"]"), "{out}");
    assert!(
        line("insecure").ends_with(&format!("# file {file}:7")),
        "{out}"
    );
    assert!(line("plain_http").ends_with("# default"), "{out}");
    // What it prints reads back as a config file (unset values in comments) and says the
    // same.
    assert!(out.contains("# retry_max_wait = none "), "{out}");
    let echoed = env.path("echoed.toml");
    fs::write(&echoed, &out).unwrap();
    let again = configured(&env)
        .env("TUG_CONFIG", &echoed)
        .env("TUG_RETRIES", "8")
        .arg("config")
        .run()
        .assert_success()
        .stdout_str();
    let values = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
            .collect()
    };
    assert_eq!(values(&again), values(&out), "{again}");

    let json: Value = serde_json::from_slice(
        &configured(&env)
            .env("TUG_RETRIES", "8")
            .args(["config", "--json"])
            .run()
            .assert_success()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["config_file"], file.as_str());
    assert_eq!(json["config_file_found"], true);
    assert_eq!(json["settings"]["jobs"]["value"], 6);
    assert_eq!(json["settings"]["jobs"]["source"], "file");
    assert_eq!(json["settings"]["jobs"]["line"], 2);
    assert_eq!(json["settings"]["retries"]["source"], "env");
    assert_eq!(json["settings"]["retries"]["var"], "TUG_RETRIES");
    assert_eq!(json["settings"]["stall_timeout"]["source"], "default");
    assert_eq!(json["settings"]["stall_timeout"]["value"], 60);
    let reg = &json["registries"]["reg.example:5000"];
    assert_eq!(reg["insecure"]["value"], true);
    assert_eq!(
        reg["ca_file"]["value"],
        env.path("ca.pem").display().to_string()
    );

    // Every documented variable is read.
    let mut tug = configured(&env).args(["config", "--json"]);
    let values = ["7", "9", "11", "1500", "1000", "2000", "json", "13", "17"];
    for ((var, _), v) in VARS.iter().zip(values) {
        tug = tug.env(var, v);
    }
    let json: Value = serde_json::from_slice(&tug.run().assert_success().stdout).unwrap();
    for ((var, key), v) in VARS.iter().zip(values) {
        let s = &json["settings"][key];
        assert_eq!(s["var"], *var, "{key}: {s}");
        assert_eq!(s["value"].to_string().trim_matches('"'), v, "{key}: {s}");
    }
}

#[test]
fn bad_settings_fail_with_the_file_line_and_key() {
    let env = Env::new();
    write_config(&env, "jobs = 4\nretries = \"many\"\n");
    let file = config_file(&env).display().to_string();
    for args in [
        &["config"][..],
        &["push", "x.tar", "127.0.0.1:5000/a:b"][..],
    ] {
        let out = configured(&env)
            .args(args)
            .run()
            .assert_code(crate::common::INVALID_INPUT);
        let err = out.stderr_str();
        assert!(err.contains(&format!("config file {file}:2:")), "{err}");
        assert!(err.contains("retries"), "{err}");
    }
    write_config(&env, "[registries.\"r:1\"]\nmirror_of = \"x\"\n");
    let err = configured(&env)
        .arg("config")
        .run()
        .assert_code(crate::common::INVALID_INPUT)
        .stderr_str();
    assert!(
        err.contains(&format!("{file}:2:")) && err.contains("mirror_of"),
        "{err}"
    );
    write_config(&env, "");
    let err = configured(&env)
        .env("TUG_STALL_TIMEOUT", "soon")
        .arg("config")
        .run()
        .assert_code(crate::common::INVALID_INPUT)
        .stderr_str();
    assert!(err.contains("TUG_STALL_TIMEOUT=\"soon\""), "{err}");
}

#[test]
fn pulls_and_copies_try_a_mirror_first_and_fall_back_to_the_registry() {
    let env = Env::new();
    let origin = Registry::plain();
    let mirror = Registry::plain();
    let other = Registry::plain();
    let layout = env.path("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(93).layer(150_000), "v1");
    write_config(&env, "");
    let origin_host = origin.host();
    let origin_image = origin.image("m/app:v1");
    configured(&env)
        .args(["push", "--progress", "plain"])
        .arg(&layout)
        .arg(origin.image("m/app:v1"))
        .run()
        .assert_success();
    let with_mirror = |m: &str| {
        write_config(
            &env,
            &format!("[registries.\"{origin_host}\"]\nmirror = \"{m}\"\n"),
        )
    };
    let pull = |store: &str| {
        configured(&env)
            .args(["pull", "--progress", "plain", "--store"])
            .arg(env.path(store))
            .arg(&origin_image)
            .run()
            .assert_success()
    };

    // The mirror lacks the image (404): the pull falls back to the registry.
    with_mirror(&mirror.host());
    let out = pull("store-1");
    let fell_back = format!("mirror {}: ", mirror.host());
    assert!(out.stderr_str().contains(&fell_back), "{out}");
    assert!(
        out.stderr_str()
            .contains(&format!("pulling from {origin_host}")),
        "{out}"
    );
    // So does a copy whose source has the mirror: this one fills the mirror.
    let out = configured(&env)
        .args(["copy", "--progress", "plain"])
        .arg(origin.image("m/app:v1"))
        .arg(mirror.image("m/app:v1"))
        .run()
        .assert_success();
    assert!(out.stderr_str().contains(&fell_back), "{out}");

    // A mirror nobody answers on: the same.
    with_mirror("127.0.0.1:1");
    let out = pull("store-2");
    assert!(out.stderr_str().contains("mirror 127.0.0.1:1: "), "{out}");
    // A mirror that fails (500 on everything): the same, naming the mirror and its answer.
    let failing = tug_testkit::HostileServer::start(|_| {
        tug_testkit::Reply::registry_error(500, "UNKNOWN", "the mirror's disk is full")
    });
    let failing_host = failing.host();
    write_config(
        &env,
        &format!(
            "[registries.\"{origin_host}\"]\nmirror = \"{failing_host}\"\n\
             [registries.\"{failing_host}\"]\nplain_http = true\n"
        ),
    );
    let out = pull("store-2b");
    let said = format!("mirror {}: ", failing.host());
    assert!(out.stderr_str().contains(&said), "{out}");
    assert!(out.stderr_str().contains("disk is full"), "{out}");

    // The mirror has the image and the registry is gone: pulls and copies come from the mirror.
    with_mirror(&mirror.host());
    drop(origin);
    let out = pull("store-3");
    assert!(!out.stderr_str().contains("mirror "), "{out}");
    assert!(
        out.stdout_str().starts_with(&format!(
            "{origin_host}/m/app@{}",
            fixture.manifest_digest.as_deref().unwrap()
        )),
        "the image keeps its own name: {out}"
    );
    let listed = configured(&env)
        .args(["images", "--store"])
        .arg(env.path("store-3"))
        .run()
        .assert_success()
        .stdout_str();
    assert!(listed.contains(&format!("{origin_host}/m/app")), "{listed}");
    configured(&env)
        .args(["copy", "--progress", "plain"])
        .arg(&origin_image)
        .arg(other.image("copied/app:v1"))
        .run()
        .assert_success();
    tug_testkit::fixtures::pull_with_skopeo_and_compare(&other, "copied/app:v1", &fixture);
}
