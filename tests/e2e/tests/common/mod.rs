//! Shared helpers for the end-to-end tests: running `tug push` against a harness registry.

#![allow(dead_code)]

use std::path::Path;

use tug_testkit::{Registry, Tug, TugOutput};

/// Exit codes documented in the README.
pub const INVALID_INPUT: i32 = 3;
pub const AUTH: i32 = 4;
pub const REGISTRY: i32 = 5;

/// `tug push` with the flags needed to reach `registry` (CA file, credentials).
pub fn tug_for(registry: &Registry) -> Tug {
    let mut tug = Tug::new()
        .env_remove("TUG_USERNAME")
        .env_remove("TUG_PASSWORD")
        .arg("push");
    if let Some(ca) = registry.ca_file() {
        tug = tug.arg("--ca-file").arg(ca);
    }
    if let Some((user, password)) = registry.credentials() {
        tug = tug.env("TUG_USERNAME", user).env("TUG_PASSWORD", password);
    }
    tug
}

/// Runs `tug push SOURCE registry/NAME_AND_REF` with plain progress lines.
pub fn push(registry: &Registry, source: impl AsRef<Path>, name_and_ref: &str) -> TugOutput {
    push_with(registry, source, name_and_ref, &[])
}

/// Like [`push`] with extra flags.
pub fn push_with(
    registry: &Registry,
    source: impl AsRef<Path>,
    name_and_ref: &str,
    extra: &[&str],
) -> TugOutput {
    tug_for(registry)
        .args(["--progress", "plain"])
        .args(extra)
        .arg(source.as_ref())
        .arg(registry.image(name_and_ref))
        .run()
}

/// The final `done` object of a `--progress json` run.
pub fn done_event(out: &TugOutput) -> serde_json::Value {
    let stdout = out.stdout_str();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains(r#""event":"done""#))
        .unwrap_or_else(|| {
            panic!(
                "no done event in stdout:\n{stdout}\nstderr:\n{}",
                out.stderr_str()
            )
        });
    serde_json::from_str(line).expect("done event is JSON")
}
