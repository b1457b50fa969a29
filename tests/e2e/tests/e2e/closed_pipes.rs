//! A closed standard output or error (`tug history | head -1`, `tug -v push … 2>&1 | head -1`)
//! ends tug quietly: never a panic (exit 101) nor a hang, and the work ends as it would with
//! the pipe open: a push still pushes, an error keeps its exit code. Every command runs with
//! stdout, stderr and both cut, before tug writes anything and after one line, the latter
//! several times (the hang was intermittent).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tug_testkit::skopeo::inspect_raw_in;
use tug_testkit::{Cut, CutWhen, FixtureImage, ImageSpec, Registry, Tug};

use crate::common::Env;

/// Far longer than any of these runs takes: only a hang gets there.
const HANG: Duration = Duration::from_secs(90);
/// Runs per cut that close the pipe after one line.
const AFTER_LINE_RUNS: usize = 3;

/// An image in the OCI layout `layout-<seed>` of `env`, tagged `v1`.
fn layout(env: &Env, seed: u64) -> (PathBuf, FixtureImage) {
    env.layout(
        seed,
        &ImageSpec::new(seed).layer(200_000).gzip_layer(30_000),
    )
}

/// Runs `tug(n)` with every cut, each time checking it ended with `code` (no hang, no panic)
/// and then `done(n)` (the work got done); `n` is new for each run.
fn every_cut(what: &str, code: i32, tug: impl Fn(usize) -> Tug, done: impl Fn(usize)) {
    let mut n = 0;
    for cut in [Cut::Stdout, Cut::Stderr, Cut::Both] {
        let runs = std::iter::once(CutWhen::Before)
            .chain(std::iter::repeat_n(CutWhen::AfterLine, AFTER_LINE_RUNS));
        for when in runs {
            n += 1;
            let out = tug(n).run_cut(cut, when);
            let run = format!("{what} with {cut:?} cut {when:?} (run {n})");
            assert!(!out.timed_out, "{run} hung: {out}");
            assert_ne!(out.code, Some(101), "{run} panicked: {out}");
            assert!(
                !String::from_utf8_lossy(&out.other).contains("panicked"),
                "{run}: {out}"
            );
            assert_eq!(out.code, Some(code), "{run}: {out}");
            done(n);
        }
    }
}

/// The image `name_and_ref` in `registry` is `fixture`'s, byte for byte.
fn pushed(registry: &Registry, name_and_ref: &str, fixture: &FixtureImage) {
    let manifest = inspect_raw_in(registry, name_and_ref)
        .unwrap_or_else(|e| panic!("{name_and_ref} is not in the registry: {e}"));
    assert_eq!(manifest, fixture.manifest_bytes(), "{name_and_ref}");
}

#[test]
fn a_verbose_push_finishes_whatever_pipe_closes() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, fixture) = layout(&env, 1);
    let (env, registry, layout) = (&env, &registry, &layout);
    let push = |progress: &'static str, tag: &'static str| {
        move |n: usize| {
            env.tug()
                .timeout(HANG)
                .args(["-v", "push", "--progress", progress])
                .arg(layout)
                .arg(registry.image(&format!("pipes/{tag}:{n}")))
        }
    };
    every_cut("push -v", 0, push("plain", "plain"), |n| {
        pushed(registry, &format!("pipes/plain:{n}"), &fixture)
    });
    // JSON events go to stdout.
    every_cut("push -v --progress json", 0, push("json", "json"), |n| {
        pushed(registry, &format!("pipes/json:{n}"), &fixture)
    });
}

#[test]
fn pulls_and_copies_finish_whatever_pipe_closes() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, fixture) = layout(&env, 2);
    env.tug()
        .timeout(HANG)
        .args(["push", "--progress", "plain"])
        .arg(&layout)
        .arg(registry.image("pipes/src:v1"))
        .run()
        .assert_success();
    let pulled = |n: usize| env.path(&format!("pulled-{n}"));
    every_cut(
        "pull -v",
        0,
        |n| {
            env.tug()
                .timeout(HANG)
                .args(["-v", "pull", "--progress", "plain", "-o"])
                .arg(pulled(n))
                .arg(registry.image("pipes/src:v1"))
        },
        |n| {
            let index = std::fs::read_to_string(pulled(n).join("index.json")).unwrap();
            let digest = fixture.manifest_digest.as_deref().unwrap();
            assert!(index.contains(digest), "pull {n} wrote {index}");
        },
    );
    every_cut(
        "copy -v",
        0,
        |n| {
            env.tug()
                .timeout(HANG)
                .args(["-v", "copy", "--progress", "plain"])
                .arg(registry.image("pipes/src:v1"))
                .arg(registry.image(&format!("pipes/copy:{n}")))
        },
        |n| pushed(&registry, &format!("pipes/copy:{n}"), &fixture),
    );
}

#[test]
fn listings_end_quietly_when_their_reader_goes() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, _) = layout(&env, 3);
    // Something to list: a push and a pull in the history, an image in the store.
    env.tug()
        .timeout(HANG)
        .args(["push", "--progress", "plain"])
        .arg(&layout)
        .arg(registry.image("pipes/list:v1"))
        .run()
        .assert_success();
    env.tug()
        .timeout(HANG)
        .args(["pull", "--progress", "plain"])
        .arg(registry.image("pipes/list:v1"))
        .run()
        .assert_success();
    let history = env
        .tug()
        .timeout(HANG)
        .args(["history", "--json"])
        .run()
        .assert_success();
    let records: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let id = records[0]["id"].as_str().unwrap().to_owned();
    let layout = layout.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["history"],
        &["history", "--json"],
        &["history", "show", &id],
        &["history", "show", "--json", &id],
        &["inspect", layout],
        &["inspect", "--json", layout],
        &["images"],
        &["images", "--json"],
        &["config"],
        &["config", "--json"],
        &["--help"],
        &["push", "--help"],
    ];
    for args in commands {
        every_cut(
            &args.join(" "),
            0,
            |_| env.tug().timeout(HANG).args(*args),
            |_| {},
        );
    }
}

#[test]
fn store_commands_finish_whatever_pipe_closes() {
    let env = Env::new();
    let (layout, _) = layout(&env, 4);
    let layout = layout.to_str().unwrap();
    let stored_names = || {
        let out = env
            .tug()
            .timeout(HANG)
            .args(["images", "--json"])
            .run()
            .assert_success();
        let images: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let name = |i: &serde_json::Value| i["name"].as_str().unwrap().to_owned();
        images.iter().map(name).collect::<Vec<String>>()
    };
    let load = |_| env.tug().timeout(HANG).args(["load", layout]);
    every_cut("load", 0, load, |_| assert_eq!(stored_names().len(), 1));
    let stored = stored_names().remove(0);
    let saved = |n: usize| env.path(&format!("saved-{n}.tar"));
    every_cut(
        "save",
        0,
        |n| {
            env.tug()
                .timeout(HANG)
                .args(["save", &stored, "-o"])
                .arg(saved(n))
        },
        |n| assert!(is_tar(&saved(n)), "save {n} wrote no tar"),
    );
    every_cut(
        "rm",
        0,
        |_| {
            env.tug()
                .timeout(HANG)
                .args(["load", layout])
                .run()
                .assert_success();
            env.tug().timeout(HANG).args(["rm", &stored])
        },
        |_| assert!(stored_names().is_empty()),
    );
    every_cut(
        "prune",
        0,
        |_| env.tug().timeout(HANG).args(["prune", "--all"]),
        |_| {},
    );
    let logout = |_| env.tug().timeout(HANG).args(["logout", "registry.invalid"]);
    every_cut("logout", 0, logout, |_| {});
}

#[test]
fn errors_keep_their_exit_code_whatever_pipe_closes() {
    let env = Env::new();
    let registry = Registry::plain();
    let locked = Registry::tls_basic_auth("alice", "secret");
    let (layout, _) = layout(&env, 5);
    let layout = layout.to_str().unwrap();
    let missing = registry.image("pipes/missing:v1");
    let ca = locked.ca_file().unwrap().to_str().unwrap().to_owned();
    let denied = locked.image("pipes/denied:v1");
    let nowhere = env.path("nowhere.tar");
    let nowhere = nowhere.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["-v", "pull", "--progress", "plain", &missing],
        &[
            "-v",
            "push",
            "--progress",
            "plain",
            "--ca-file",
            &ca,
            layout,
            &denied,
        ],
        &["inspect", nowhere],
        &["push", "--no-such-flag"],
    ];
    for args in commands {
        // The code the error has with the pipes open.
        let open = env.tug().timeout(HANG).args(*args).run();
        let code = open.code.unwrap();
        assert!(code != 0 && code != 101, "{args:?}: {open}");
        every_cut(
            &args.join(" "),
            code,
            |_| env.tug().timeout(HANG).args(*args),
            |_| {},
        );
    }
}

/// Whether `path` holds a tar (its first header checks out).
fn is_tar(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    tar::Archive::new(file)
        .entries()
        .is_ok_and(|mut e| e.next().is_some_and(|e| e.is_ok()))
}

/// Output written to a full disk (`> /dev/full`) is lost, unlike output nobody reads any
/// more: the command fails with exit 3 and says so, as crane and skopeo do.
#[test]
fn output_lost_to_a_full_disk_fails_the_command() {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, fixture) = layout(&env, 5);
    env.tug()
        .timeout(HANG)
        .args(["push", "--progress", "plain"])
        .arg(&layout)
        .arg(registry.image("pipes/full:v1"))
        .run()
        .assert_success();
    let blob = format!("pipes/full@{}", fixture.config_digest);
    for args in [
        vec!["blob".to_owned(), registry.image(&blob)],
        vec!["manifest".to_owned(), registry.image("pipes/full:v1")],
        vec!["ls".to_owned(), registry.image("pipes/full")],
    ] {
        let out = env
            .tug()
            .timeout(HANG)
            .args(&args)
            .command()
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
    }
}
