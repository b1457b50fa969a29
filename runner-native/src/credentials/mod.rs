//! Where registry credentials come from, in this order: `-u` with `--password-stdin`,
//! `TUG_USERNAME` / `TUG_PASSWORD`, Docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore`), then the containers `auth.json`. Also where `tug login` keeps them.

mod docker_config;
mod flags;
mod helper;

pub use docker_config::{forget, remember};
pub use flags::{from_args, sides_from_args, CredentialArgs, SideCredentialArgs};

use tug_core::Credentials;

use crate::exit_code::CliError;

/// The credentials to use for each of `registries`: hosts as written in image references,
/// or — so that a stored key naming a namespace (`quay.io/org`) applies only under it —
/// [`scope`]s, `host/repository`. The command line's (`-u`, `--password-stdin`, `TUG_USERNAME`/`TUG_PASSWORD`) go only to
/// `named`, the registry the command names for them (a push's or copy's target, a pull's
/// image); every other registry (a copy's source, a mirror) gets only what is stored for it.
pub fn for_registries(
    args: &CredentialArgs,
    named: &str,
    registries: &[&str],
) -> Result<Vec<Option<Credentials>>, CliError> {
    let flags = from_args(args)?;
    registries
        .iter()
        .map(|r| match &flags {
            Some(creds) if registry_matches(r, named) => Ok(Some(creds.clone())),
            _ => docker_config::lookup(r),
        })
        .collect()
}

/// The credentials stored for each of `registries` (Docker's `config.json`, a helper,
/// containers' `auth.json`), none from the command line: for registries no flag is for (a
/// copy's sides have their own flags, a sync's sources and destination too).
pub fn stored_for(registries: &[&str]) -> Result<Vec<Option<Credentials>>, CliError> {
    registries
        .iter()
        .map(|r| docker_config::lookup(r))
        .collect()
}

/// What a stored credential is looked up for: `host/repository` (the longest stored key
/// naming it or a namespace above it wins, as containers-auth.json(5) says).
pub fn scope(reference: &tug_core::Reference) -> String {
    format!("{}/{}", reference.registry, reference.repository)
}

/// The keys a registry may be stored under: Docker Hub's legacy URL for `docker.io`, and the
/// host with or without `https://` and a `/v1/` or `/v2/` suffix.
pub(crate) fn registry_matches(key: &str, registry: &str) -> bool {
    let normalise = |s: &str| -> String {
        let s = s
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let s = s.split('/').next().unwrap_or(s);
        tug_core::reference::canonical_registry(s).to_owned()
    };
    normalise(key) == normalise(registry)
}

/// The key `tug login` writes for `registry` (Docker Hub keeps its legacy URL).
pub(crate) fn config_key(registry: &str) -> String {
    if registry_matches(registry, tug_core::reference::DOCKER_HUB) {
        tug_core::reference::DOCKER_HUB_CONFIG_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_spellings_match() {
        assert!(registry_matches("https://index.docker.io/v1/", "docker.io"));
        assert!(registry_matches("registry-1.docker.io", "index.docker.io"));
        assert!(registry_matches("https://127.0.0.1:5000", "127.0.0.1:5000"));
        assert!(!registry_matches("127.0.0.1:5001", "127.0.0.1:5000"));
        assert_eq!(config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(config_key("ghcr.io"), "ghcr.io");
    }
}
