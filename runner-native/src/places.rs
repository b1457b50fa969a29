//! Where tug keeps its files on each platform: the user's home and the base folders of
//! config, state and data. On Unix (Linux and macOS alike) the XDG base directories:
//! `$XDG_CONFIG_HOME` (`~/.config`), `$XDG_STATE_HOME` (`~/.local/state`), `$XDG_DATA_HOME`
//! (`~/.local/share`). On Windows the same variables when set, else the known folders (the
//! `dirs` crate): config in `%APPDATA%`, state and data in `%LOCALAPPDATA%`, home
//! `%USERPROFILE%`. Every lookup takes the environment as a function, so tests give their own.

use std::path::PathBuf;

/// Reads one environment variable (`None` when unset or empty).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// This process's environment.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn var(env: Env<'_>, key: &str) -> Option<PathBuf> {
    env(key).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The user's home folder: `$HOME` (on Windows, else the profile folder).
pub fn home(env: Env<'_>) -> Option<PathBuf> {
    var(env, "HOME").or_else(platform::home)
}

/// The base folder of configuration files (tug's is `tug/` in it).
pub fn config_home(env: Env<'_>) -> Option<PathBuf> {
    var(env, "XDG_CONFIG_HOME")
        .or_else(platform::config_home)
        .or_else(|| home(env).map(|h| h.join(".config")))
}

/// The base folder of state that outlives a run (upload sessions, history).
pub fn state_home(env: Env<'_>) -> Option<PathBuf> {
    var(env, "XDG_STATE_HOME")
        .or_else(platform::local_data_home)
        .or_else(|| home(env).map(|h| h.join(".local/state")))
}

/// tug's state directory: `$TUG_STATE_DIR`, else `tug/` in the state base folder (upload
/// sessions, history, remembered digests, where blobs were seen).
pub fn state_dir() -> Option<PathBuf> {
    var(&process_env, "TUG_STATE_DIR").or_else(|| state_home(&process_env).map(|d| d.join("tug")))
}

/// The base folder of data (the local store).
pub fn data_home(env: Env<'_>) -> Option<PathBuf> {
    var(env, "XDG_DATA_HOME")
        .or_else(platform::local_data_home)
        .or_else(|| home(env).map(|h| h.join(".local/share")))
}

#[cfg(windows)]
mod platform {
    use std::path::PathBuf;

    pub fn home() -> Option<PathBuf> {
        dirs::home_dir()
    }

    /// `%APPDATA%` (roaming: settings follow the user).
    pub fn config_home() -> Option<PathBuf> {
        dirs::config_dir()
    }

    /// `%LOCALAPPDATA%` (this machine only: sessions, history, the store).
    pub fn local_data_home() -> Option<PathBuf> {
        dirs::data_local_dir()
    }
}

/// Unix keeps to the XDG layout under `$HOME`, macOS included (as Docker's and the containers
/// tools' files are there too).
#[cfg(not(windows))]
mod platform {
    use std::path::PathBuf;

    pub fn home() -> Option<PathBuf> {
        None
    }

    pub fn config_home() -> Option<PathBuf> {
        None
    }

    pub fn local_data_home() -> Option<PathBuf> {
        None
    }
}

#[cfg(all(test, not(windows)))]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn xdg_variables_win_and_home_is_the_fallback() {
        let home_only = env(&[("HOME", "/h")]);
        assert_eq!(home(&home_only), Some(PathBuf::from("/h")));
        assert_eq!(config_home(&home_only), Some(PathBuf::from("/h/.config")));
        assert_eq!(
            state_home(&home_only),
            Some(PathBuf::from("/h/.local/state"))
        );
        assert_eq!(
            data_home(&home_only),
            Some(PathBuf::from("/h/.local/share"))
        );
        let xdg = env(&[
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/c"),
            ("XDG_STATE_HOME", "/s"),
            ("XDG_DATA_HOME", "/d"),
        ]);
        assert_eq!(config_home(&xdg), Some(PathBuf::from("/c")));
        assert_eq!(state_home(&xdg), Some(PathBuf::from("/s")));
        assert_eq!(data_home(&xdg), Some(PathBuf::from("/d")));
        let empty = env(&[("HOME", ""), ("XDG_CONFIG_HOME", "")]);
        assert_eq!(config_home(&empty), None, "empty variables count as unset");
    }
}
