//! `--mode`: which benchmarks an invocation runs.

use anyhow::{bail, Result};

use crate::clients::Mode;

/// The benchmarks asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modes {
    /// push, pull, copy of the random plain image, in that order.
    pub registry: Vec<Mode>,
    /// `push-files`, `pull-tar`, `rootfs`: the real-content workloads.
    pub push_files: bool,
    pub pull_tar: bool,
    pub rootfs: bool,
    /// Not part of `all`.
    pub browser: bool,
    pub jobs: bool,
    pub compress: bool,
    pub sync: bool,
    /// `embed`: the CLI vs the Python host and the tokio example.
    pub embed: bool,
}

impl Modes {
    /// Whether the main (random plain) image is needed.
    pub fn main_image(&self) -> bool {
        !self.registry.is_empty() || self.browser || self.embed
    }

    fn is_empty(&self) -> bool {
        *self == Modes::default()
    }
}

/// The names `--mode` takes.
const NAMES: &str =
    "push, pull, copy, push-files, pull-tar, rootfs, all, browser, jobs, compress, sync, embed";

/// Parses `--mode` values: push, pull, copy, push-files, pull-tar, rootfs, all (those six),
/// browser, jobs, compress, sync, embed.
pub fn parse_modes(values: &[String]) -> Result<Modes> {
    let mut m = Modes::default();
    for v in values {
        match v.trim() {
            "all" => {
                m.registry = Mode::ALL.to_vec();
                m.push_files = true;
                m.pull_tar = true;
                m.rootfs = true;
            }
            "push-files" => m.push_files = true,
            "pull-tar" => m.pull_tar = true,
            "rootfs" => m.rootfs = true,
            "browser" => m.browser = true,
            "jobs" => m.jobs = true,
            "compress" => m.compress = true,
            "sync" => m.sync = true,
            "embed" => m.embed = true,
            name => match Mode::ALL.into_iter().find(|mode| mode.name() == name) {
                Some(mode) if !m.registry.contains(&mode) => m.registry.push(mode),
                Some(_) => {}
                None => bail!("unknown mode {name:?} ({NAMES})"),
            },
        }
    }
    if m.is_empty() {
        bail!("no mode given ({NAMES})");
    }
    // Always in the same order.
    m.registry
        .sort_by_key(|mode| Mode::ALL.iter().position(|x| x == mode));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &[&str]) -> Result<Modes> {
        parse_modes(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn modes_parse_with_the_extra_ones_apart() {
        let modes = m(&["copy", "push"]).unwrap();
        assert_eq!(modes.registry, [Mode::Push, Mode::Copy]);
        assert!(!modes.jobs && !modes.browser && !modes.compress && !modes.pull_tar);
        let modes = m(&["compress"]).unwrap();
        assert!(modes.registry.is_empty() && modes.compress && !modes.main_image());
        let modes = m(&["browser", "all"]).unwrap();
        assert_eq!(modes.registry, Mode::ALL);
        assert!(modes.browser && modes.push_files && modes.pull_tar && modes.rootfs);
        assert!(!modes.jobs && !modes.compress);
        let modes = m(&[" pull-tar", "rootfs"]).unwrap();
        assert!(modes.pull_tar && modes.rootfs && !modes.push_files && !modes.main_image());
        let modes = m(&["sync"]).unwrap();
        assert!(modes.sync && !modes.main_image() && !modes.compress);
        let modes = m(&["embed"]).unwrap();
        assert!(modes.embed && modes.main_image() && modes.registry.is_empty());
        assert!(m(&["zip"]).is_err());
        assert!(m(&[]).is_err());
    }
}
