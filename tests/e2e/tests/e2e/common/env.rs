//! A tug run's whole world in a temporary directory — home, Docker and XDG config, state,
//! store — so nothing from the machine running the tests leaks in or out.

use std::path::{Path, PathBuf};

use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{FixtureImage, ImageSpec, Tug};

/// `tug` with `dir` as its world: `HOME` is `dir/home` (Docker config in `home/.docker`,
/// XDG config in `home/.config`), state in `dir/state`, store in `dir/store`; no
/// credentials or credential files from the environment (the harness drops every other
/// `TUG_*` variable itself).
pub fn hermetic(tug: Tug, dir: &Path) -> Tug {
    let home = dir.join("home");
    tug.env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("TUG_STATE_DIR", dir.join("state"))
        .env("TUG_STORE", dir.join("store"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
}

/// A temporary directory that is the world of the tug runs of one test (see [`hermetic`]).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// tug's `HOME`.
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// tug's state directory (history, upload sessions).
    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    /// tug in this world.
    pub fn tug(&self) -> Tug {
        hermetic(Tug::new(), self.dir.path())
    }

    /// An image written as the OCI layout `layout-<seed>`, tagged `v1`.
    pub fn layout(&self, seed: u64, spec: &ImageSpec) -> (PathBuf, FixtureImage) {
        let path = self.path(&format!("layout-{seed}"));
        let fixture = write_oci_layout(&path, spec, "v1");
        (path, fixture)
    }
}
