//! A fresh, empty world for one client run: its own HOME and XDG directories, so no tug store,
//! upload state, `compressed.json`, history or config file carries over from an earlier run
//! (nor skopeo's blob-info cache), and none of the caller's `TUG_*` settings apply.

use std::path::Path;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::measure::ClientEnv;

/// The variables pointing at per-user state, each set to its own empty directory.
const DIRS: [(&str, &str); 6] = [
    ("HOME", "home"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_DATA_HOME", "data"),
    ("XDG_STATE_HOME", "state"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_RUNTIME_DIR", "run"),
];

/// Variables that would point a client at state or credentials outside the fresh home.
const REMOVED: [&str; 3] = ["DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "CONTAINERS_CONF"];

/// The directories of one run; removed when dropped.
#[derive(Debug)]
pub struct FreshHome {
    dir: TempDir,
}

impl FreshHome {
    /// Empty directories under `parent` (a tmpfs).
    pub fn new(parent: &Path) -> Result<FreshHome> {
        let dir = tempfile::Builder::new()
            .prefix("tug-bench-home-")
            .tempdir_in(parent)
            .context("create a fresh home directory")?;
        for (_, name) in DIRS {
            std::fs::create_dir(dir.path().join(name))?;
        }
        Ok(FreshHome { dir })
    }

    /// The environment of a run in this home: the directories set, the caller's `TUG_*`
    /// variables and the state-pointing ones removed, then `extra` set.
    pub fn env(&self, extra: &[(&str, &str)]) -> ClientEnv {
        let mut remove: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("TUG_"))
            .collect();
        remove.extend(REMOVED.iter().map(|s| s.to_string()));
        let mut set: Vec<(String, String)> = DIRS
            .iter()
            .map(|(var, name)| {
                let path = self.dir.path().join(name);
                (var.to_string(), path.display().to_string())
            })
            .collect();
        set.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ClientEnv { set, remove }
    }
}
