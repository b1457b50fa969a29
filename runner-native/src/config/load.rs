//! Loading the settings: built-in defaults, overridden by the config file, overridden by
//! environment variables (flags come later, per command).

use std::path::{Path, PathBuf};

use super::entry::FilePlace;
use super::table::{FileConfig, Settings};
use crate::exit_code::CliError;
use crate::transport::ProxyEnv;

/// The config file's path: `$TUG_CONFIG`, else `tug/config.toml` in the config folder
/// ([`crate::places`]: `$XDG_CONFIG_HOME`, `~/.config`, `%APPDATA%`); and whether it was
/// named explicitly.
fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = var("TUG_CONFIG") {
        return Some((p, true));
    }
    crate::places::config_home(env)
        .map(|d| d.join("tug").join("config.toml"))
        .map(|p| (p, false))
}

impl Settings {
    /// Defaults, the config file and the environment of this process.
    pub fn load() -> Result<Settings, CliError> {
        let s = Settings::load_with(&|k| std::env::var(k).ok())?;
        for warning in &s.proxies.warnings {
            crate::errln!("tug: {warning}");
        }
        Ok(s)
    }

    /// Defaults, the config file and the environment `env` describes.
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, CliError> {
        let mut s = Settings::default();
        if let Some((path, explicit)) = config_path(env) {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    s.apply_file(&path, &text)?;
                    s.file_found = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
                Err(e) => {
                    return Err(CliError::Input(format!(
                        "config file {} (from TUG_CONFIG): {e}",
                        path.display()
                    )))
                }
            }
            s.file = Some(path);
        }
        s.apply_env(env)?;
        s.proxies = ProxyEnv::from_vars(env).map_err(CliError::Input)?;
        Ok(s)
    }

    /// Applies a config file's text; errors name the file, the line and the key.
    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), CliError> {
        let place = FilePlace { path, text };
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |r| r.start);
            let key = key_at(text, at)
                .map(|k| format!("{k}: "))
                .unwrap_or_default();
            CliError::Input(format!(
                "config file {}:{}: {key}{}",
                path.display(),
                place.line(at),
                e.message().trim_end()
            ))
        })?;
        self.apply_file_settings(&file, &place)?;
        for (name, table) in &file.registries {
            self.registries
                .insert(name.clone(), table.read(name, &place)?);
        }
        Ok(())
    }
}

/// The key on the line at `offset` (`table.key` inside a table), if the line has one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}
