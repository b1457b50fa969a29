//! Locating the external tools the harness drives.

use std::path::{Path, PathBuf};

/// The script that installs every external tool the tests need.
pub const INSTALL_SCRIPT: &str = "scripts/install-deps.sh";

/// Path of the CNCF distribution registry binary (Debian package `docker-registry`).
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// Returns the path of `name` if it is an existing file, or searches `PATH` for a bare name.
///
/// # Panics
///
/// If the tool cannot be found; the message names [`INSTALL_SCRIPT`].
pub fn require_tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!("required tool `{name}` not found (PATH or absolute path); install it with {INSTALL_SCRIPT}")
    })
}

/// Like [`require_tool`] but returns `None` instead of panicking.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let as_path = Path::new(name);
    if as_path.components().count() > 1 {
        return as_path.is_file().then(|| as_path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Path of the `skopeo` binary.
///
/// # Panics
///
/// If skopeo is not installed; the message names [`INSTALL_SCRIPT`].
pub fn skopeo_bin() -> PathBuf {
    require_tool("skopeo")
}

/// Path of the `docker-registry` binary.
///
/// # Panics
///
/// If it is not installed; the message names [`INSTALL_SCRIPT`].
pub fn docker_registry_bin() -> PathBuf {
    require_tool(DOCKER_REGISTRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_the_install_script() {
        let panic = std::panic::catch_unwind(|| require_tool("tug-testkit-no-such-tool"))
            .expect_err("must panic");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("scripts/install-deps.sh"), "{message}");
        assert!(message.contains("tug-testkit-no-such-tool"), "{message}");
    }

    #[test]
    fn installed_tools_are_found() {
        assert!(skopeo_bin().is_file());
        assert!(docker_registry_bin().is_file());
        assert!(find_tool("/nonexistent/skopeo").is_none());
    }
}
