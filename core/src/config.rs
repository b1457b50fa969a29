//! The settings every operation shares: how to reach and talk to one registry
//! ([`RegistryConfig`]), and how a transfer moves blobs ([`TransferConfig`]). Push, pull,
//! fetch and copy embed them, so their defaults are declared once.

use std::time::Duration;

use crate::auth::Credentials;
use crate::endpoint::Scheme;
use crate::limits::BodyProgress;
use crate::retry::RetryPolicy;

/// How to reach and talk to one registry.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// HTTPS, HTTP, or HTTPS with the loopback fallback.
    pub scheme: Scheme,
    /// Credentials to answer authentication challenges with.
    pub credentials: Option<Credentials>,
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// A request fails as timed out (and is retried) when no byte moves either way for
    /// this long; a response body read into memory (manifest, error, token) must also
    /// arrive whole within it after its head. Zero: no limit. The core turns it into each
    /// request's [`crate::http::Deadlines`].
    pub stall_timeout: Duration,
    /// Whether the runtime sees a request body leave while it is sent (a browser's `fetch`
    /// does not): without it, a request's response gets extra time per byte of its body.
    pub body_progress: BodyProgress,
    /// `User-Agent` header value.
    pub user_agent: String,
    /// What an earlier operation's version check learned of this registry: operations
    /// started with it skip the check (and send Basic credentials at once where it asked
    /// for them). `None`: check first.
    pub reached: Option<Reached>,
}

/// The longest a mirror may stay silent before it gives way to the registry behind it.
pub const MIRROR_STALL_TIMEOUT: Duration = Duration::from_secs(10);

impl RegistryConfig {
    /// This config for a mirror: one attempt per request and at most
    /// [`MIRROR_STALL_TIMEOUT`] of silence, since the registry behind it is the fallback (a
    /// hanging mirror would otherwise hold a pull for the whole retry budget).
    pub fn for_mirror(mut self) -> RegistryConfig {
        self.retry.max_attempts = 1;
        if self.stall_timeout.is_zero() || self.stall_timeout > MIRROR_STALL_TIMEOUT {
            self.stall_timeout = MIRROR_STALL_TIMEOUT;
        }
        self
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            scheme: Scheme::Https,
            credentials: None,
            retry: RetryPolicy::default(),
            stall_timeout: crate::limits::DEFAULT_STALL_TIMEOUT,
            body_progress: BodyProgress::Seen,
            user_agent: concat!("tug/", env!("CARGO_PKG_VERSION")).to_owned(),
            reached: None,
        }
    }
}

/// How a transfer moves blobs.
#[derive(Clone, Debug)]
pub struct TransferConfig {
    /// Blobs in flight at once (at least 1); with `adaptive`, the most.
    pub jobs: usize,
    /// Choose the blobs in flight from measured throughput, between 1 and `jobs`, starting
    /// at `jobs` ([`crate::concurrency`]); off: always `jobs`.
    pub adaptive: bool,
    /// Least time between two progress events.
    pub progress_interval: Duration,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            jobs: usize::from(crate::limits::DEFAULT_JOBS),
            adaptive: true,
            progress_interval: Duration::from_millis(200),
        }
    }
}

/// A registry known to answer the Registry V2 API, and how: what a version check learned
/// (the probe's, or any operation's), for [`RegistryConfig::reached`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    /// The registry host (and port) it was learned of; a session for any other host ignores
    /// it.
    pub host: String,
    /// The scheme that answered (after the loopback plain-HTTP fallback, if taken): `Https`
    /// or `Http`.
    pub scheme: Scheme,
    /// It asked for Basic credentials, and the check passed with them: they are sent from
    /// the first request on (to that host only, as after a challenge).
    pub basic: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A mirror is tried once, and silent for at most ten seconds: then the registry.
    #[test]
    fn a_mirror_gets_one_attempt_and_a_short_stall() {
        let mirror = RegistryConfig::default().for_mirror();
        assert_eq!(mirror.retry.max_attempts, 1);
        assert_eq!(mirror.stall_timeout, MIRROR_STALL_TIMEOUT);
        let quick = RegistryConfig {
            stall_timeout: Duration::from_secs(3),
            ..RegistryConfig::default()
        };
        assert_eq!(quick.for_mirror().stall_timeout, Duration::from_secs(3));
        let unlimited = RegistryConfig {
            stall_timeout: Duration::ZERO,
            ..RegistryConfig::default()
        };
        assert_eq!(unlimited.for_mirror().stall_timeout, MIRROR_STALL_TIMEOUT);
    }
}
