//! How the transport connects: which certificates it trusts, how long it waits and which
//! proxies it goes through. The settings build these options (config file, environment,
//! flags); the transport only reads them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector as _, SocksConnector, TcpConnector,
};
use ureq::{Agent, Proxy};

use super::proxy::ProxyEnv;
use super::tls_connector::{TlsConnector, Trust};

/// Connection choices for one registry.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM files of CA certificates to trust, beside the system's roots.
    pub ca_files: Vec<PathBuf>,
    /// Trust only `ca_files`, not the system's roots too.
    pub only_ca_files: bool,
    /// A client certificate and its private key (PEM files) to present (mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
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
    /// never reads the environment for itself), in TLS by [`TlsConnector`], presenting the
    /// client certificate only when `identified` (requests to the registry's own origin).
    pub(super) fn agent(&self, proxy: Option<&str>, identified: bool) -> anyhow::Result<Agent> {
        let proxy = proxy
            .map(|url| Proxy::new(url).map_err(|e| anyhow::anyhow!("proxy: {e}")))
            .transpose()?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(self.connect_timeout).filter(|d| !d.is_zero()))
            .max_idle_connections_per_host(16)
            .proxy(proxy)
            .build();
        let given = self.given()?;
        let trust = Trust {
            roots: self.roots(&given),
            given,
            insecure: self.insecure,
            client: match identified {
                true => self.client()?,
                false => None,
            },
        };
        // ureq's own chain, with this TLS: a SOCKS proxy, else an HTTP CONNECT proxy's
        // tunnel, else a TCP connection; then TLS for `https`.
        let connector =
            ().chain(SocksConnector::default())
                .chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(TlsConnector::new(trust)?);
        Ok(Agent::with_parts(
            config,
            connector,
            DefaultResolver::default(),
        ))
    }

    /// The certificates of the CA files.
    fn given(&self) -> anyhow::Result<Vec<CertificateDer<'static>>> {
        let mut certs = Vec::new();
        for path in &self.ca_files {
            let found = certificates(&read(path, "CA file")?);
            if found.is_empty() {
                anyhow::bail!("CA file {} holds no PEM certificate", path.display());
            }
            certs.extend(found);
        }
        Ok(certs)
    }

    /// The roots to verify servers with: the platform's verifier (`None`) without CA files,
    /// else the system's roots and the CA files' (`given`), or the CA files' alone.
    fn roots(&self, given: &[CertificateDer<'static>]) -> Option<Vec<CertificateDer<'static>>> {
        if self.ca_files.is_empty() {
            return None;
        }
        let mut certs = given.to_vec();
        if !self.only_ca_files {
            // Unreadable system certificates are skipped, as every TLS client does.
            certs.extend(rustls_native_certs::load_native_certs().certs);
        }
        Some(certs)
    }

    /// The client certificate chain and key to present, if any.
    fn client(
        &self,
    ) -> anyhow::Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
        let Some((cert_path, key_path)) = &self.client_cert else {
            return Ok(None);
        };
        let chain = certificates(&read(cert_path, "client certificate")?);
        if chain.is_empty() {
            anyhow::bail!(
                "client certificate {} holds no PEM certificate",
                cert_path.display()
            );
        }
        let key_pem = read(key_path, "client key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            anyhow::anyhow!(
                "client key {}: no PEM private key ({e})",
                key_path.display()
            )
        })?;
        Ok(Some((chain, key)))
    }
}

/// The PEM certificates in `pem` (other blocks and unreadable ones skipped).
fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The bytes of `path`; an error names it as `what`.
fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_file() -> tempfile::NamedTempFile {
        // A PEM certificate block: roots are counted here, never parsed as X.509.
        let f = tempfile::NamedTempFile::new().unwrap();
        let pem = "-----BEGIN CERTIFICATE-----\nMIIBeTCCAR+gAwIBAgIUY2sJ5M0n3kU3oF8m0b2mYpK7ZtEwCgYIKoZIzj0EAwIw\nEjEQMA4GA1UEAwwHdHVnLWNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAw\nMFowEjEQMA4GA1UEAwwHdHVnLWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END CERTIFICATE-----\n";
        std::fs::write(f.path(), pem).unwrap();
        f
    }

    fn count(o: &TlsOptions) -> Option<usize> {
        o.roots(&o.given().unwrap()).map(|roots| roots.len())
    }

    #[test]
    fn a_ca_file_adds_to_the_system_roots_unless_only_it_is_asked_for() {
        let f = ca_file();
        let mut o = TlsOptions {
            ca_files: vec![f.path().to_owned()],
            ..TlsOptions::default()
        };
        let with_system = count(&o).unwrap();
        o.only_ca_files = true;
        assert_eq!(count(&o), Some(1));
        let system = rustls_native_certs::load_native_certs().certs.len();
        assert_eq!(with_system, 1 + system);
        assert_eq!(
            count(&TlsOptions::default()),
            None,
            "the platform's verifier"
        );
    }

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let empty = tempfile::NamedTempFile::new().unwrap();
        let o = TlsOptions {
            ca_files: vec![empty.path().to_owned()],
            ..TlsOptions::default()
        };
        let err = o.given().unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let f = ca_file();
        let o = TlsOptions {
            client_cert: Some((f.path().to_owned(), f.path().with_extension("key"))),
            ..TlsOptions::default()
        };
        let err = o.client().unwrap_err().to_string();
        assert!(
            err.contains("cannot read client key") && err.contains(".key"),
            "{err}"
        );
    }
}
