//! The settings every operation shares: how to reach and talk to one registry
//! ([`RegistryConfig`]), and how a transfer moves blobs ([`TransferConfig`]). Push, pull,
//! fetch and copy embed them, so their defaults are declared once.

use std::time::Duration;

use crate::auth::Credentials;
use crate::endpoint::Scheme;
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
    /// A response body read into memory (manifest, error, token) must arrive whole within
    /// this long after its head, or the request fails as timed out (and is retried).
    /// Zero: no deadline.
    pub body_deadline: Duration,
    /// `User-Agent` header value.
    pub user_agent: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            scheme: Scheme::Https,
            credentials: None,
            retry: RetryPolicy::default(),
            body_deadline: crate::session::DEFAULT_BODY_DEADLINE,
            user_agent: concat!("tug/", env!("CARGO_PKG_VERSION")).to_owned(),
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
