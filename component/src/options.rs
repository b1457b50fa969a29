//! The `options` JSON of `push`, `pull` and `copy`: the option names of tug-wasm's
//! `PushOptions` / `PullOptions` / `CopyOptions`, checked against the core's limits.

use std::time::Duration;

use serde::Deserialize;
use tug_core::retry::RetryPolicy;
use tug_core::{
    limits, Credentials, ErrorClass, Platform, Reference, RegistryConfig, TransferConfig,
};

use crate::bindings::exports::tug::core::sansio::Failure;
use crate::convert::failure;

/// The options a host may pass (unknown fields are an error, so typos are caught).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Plain HTTP (`true`), HTTPS only (`false`), or the core's choice (absent).
    pub plain_http: Option<bool>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Attempts per request, counting the first.
    pub retries: Option<u32>,
    /// Seconds a request may move no byte before it fails and is retried (0: no limit).
    pub stall_timeout: Option<u64>,
    /// Blobs moved at once.
    pub jobs: Option<u16>,
    /// Seed of the retry jitter (the host's entropy; fixed when absent).
    pub seed: Option<u64>,
    /// Push: which of the layout's images (its `org.opencontainers.image.ref.name`).
    pub name: Option<String>,
    /// Pull: `os/arch[/variant]` (default `linux/amd64`); copy: the one platform to copy
    /// (default: every platform and the index).
    pub platform: Option<String>,
    /// The `User-Agent` the requests carry.
    pub user_agent: Option<String>,
    /// Copy: how to reach the source (the rest of the options are the target's).
    pub source: Option<SourceOptions>,
}

/// A copy's source registry: its own scheme and credentials.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceOptions {
    pub plain_http: Option<bool>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Options {
    /// Parses `text` (empty means no options) for operation `kind` (`push`, `pull`,
    /// `copy`): an option of another operation is an error, as an unknown one is.
    pub fn parse(text: &str, kind: &str) -> Result<Options, Failure> {
        if text.trim().is_empty() {
            return Ok(Options::default());
        }
        let options: Options = serde_json::from_str(text)
            .map_err(|e| failure(ErrorClass::Usage, &format!("options: {e}")))?;
        let given = [
            ("name", options.name.is_some(), ["push"].as_slice()),
            ("platform", options.platform.is_some(), &["pull", "copy"]),
            ("source", options.source.is_some(), &["copy"]),
        ];
        match given
            .iter()
            .find(|(_, set, ops)| *set && !ops.contains(&kind))
        {
            Some((name, ..)) => Err(failure(
                ErrorClass::Usage,
                &format!("options: {name:?} is not an option of a {kind}"),
            )),
            None => Ok(options),
        }
    }

    /// How to reach `reference`'s registry.
    pub fn registry_config(&self, reference: &Reference) -> Result<RegistryConfig, Failure> {
        let retries = self.retries.unwrap_or(limits::DEFAULT_RETRIES);
        if !limits::RETRIES.contains(&retries) {
            return Err(out_of_range("retries", &limits::RETRIES));
        }
        let credentials = self
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .map(|username| Credentials {
                username,
                password: self.password.clone().unwrap_or_default(),
            });
        let defaults = RegistryConfig::default();
        Ok(RegistryConfig {
            scheme: reference.scheme(self.plain_http),
            credentials,
            retry: RetryPolicy {
                max_attempts: retries,
                seed: self.seed.unwrap_or(defaults.retry.seed),
                ..RetryPolicy::default()
            },
            user_agent: self
                .user_agent
                .clone()
                .unwrap_or(defaults.user_agent.clone()),
            stall_timeout: self
                .stall_timeout
                .map_or(defaults.stall_timeout, Duration::from_secs),
            ..defaults
        })
    }

    /// How to reach a copy's source `reference`: as the target, but with the `source`
    /// object's scheme and credentials.
    pub fn source_registry_config(&self, reference: &Reference) -> Result<RegistryConfig, Failure> {
        let source = self.source.clone().unwrap_or_default();
        let options = Options {
            plain_http: source.plain_http,
            username: source.username,
            password: source.password,
            ..self.clone()
        };
        options.registry_config(reference)
    }

    /// The `platform` option parsed, or a `usage` failure naming it.
    pub fn platform(&self) -> Result<Option<Platform>, Failure> {
        self.platform
            .as_deref()
            .map(|text| {
                text.parse::<Platform>()
                    .map_err(|e| failure(ErrorClass::Usage, &format!("platform {text:?}: {e}")))
            })
            .transpose()
    }

    /// How many blobs at once.
    pub fn transfer_config(&self) -> Result<TransferConfig, Failure> {
        let jobs = self.jobs.unwrap_or(limits::DEFAULT_JOBS);
        if !limits::JOBS.contains(&jobs) {
            return Err(out_of_range("jobs", &limits::JOBS));
        }
        Ok(TransferConfig {
            jobs: usize::from(jobs),
            ..TransferConfig::default()
        })
    }
}

fn out_of_range<T: std::fmt::Display>(name: &str, range: &std::ops::RangeInclusive<T>) -> Failure {
    failure(
        ErrorClass::Usage,
        &format!(
            "option {name:?} must be from {} to {}",
            range.start(),
            range.end()
        ),
    )
}

/// Parses an image reference as the CLI does, or a `usage` failure naming it.
pub fn reference(text: &str) -> Result<Reference, Failure> {
    Reference::parse_registry(text)
        .map_err(|e| failure(ErrorClass::Usage, &format!("image {text:?}: {e}")))
}
