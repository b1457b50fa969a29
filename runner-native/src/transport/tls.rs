//! How the transport connects: which certificates it trusts, how long it waits and which
//! proxies it goes through. The settings build these options (config file, environment,
//! flags); the transport only reads them.

use std::path::PathBuf;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

use super::proxy::ProxyEnv;

/// Connection choices for one registry.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM file of extra CA certificates to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// The proxies requests go through.
    pub proxies: ProxyEnv,
}

impl TlsOptions {
    /// An HTTP agent with these options that never follows redirects nor turns statuses
    /// into errors, connecting through `proxy` (a URL [`ProxyEnv`] chose) or directly (ureq
    /// never reads the environment for itself).
    pub(super) fn agent(&self, proxy: Option<&str>) -> anyhow::Result<Agent> {
        let proxy = proxy
            .map(|url| Proxy::new(url).map_err(|e| anyhow::anyhow!("proxy: {e}")))
            .transpose()?;
        let mut tls_config = TlsConfig::builder().disable_verification(self.insecure);
        tls_config = match &self.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read CA file {}: {e}", path.display()))?;
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    anyhow::bail!("CA file {} holds no PEM certificate", path.display());
                }
                tls_config.root_certs(RootCerts::new_with_certs(&certs))
            }
            None => tls_config.root_certs(RootCerts::PlatformVerifier),
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .tls_config(tls_config.build())
            .timeout_connect(Some(self.connect_timeout).filter(|d| !d.is_zero()))
            .max_idle_connections_per_host(16)
            .proxy(proxy)
            .build();
        Ok(config.into())
    }
}
