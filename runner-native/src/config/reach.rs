//! How to reach a registry: its table of the config file under the flags, the TLS options
//! and scheme the transport gets, the deadline of bodies read into memory, and its mirror.

use std::time::Duration;

use tug_core::host_settings::HostSettings;
use tug_core::{Credentials, Reference, RegistryConfig, Scheme, TransferConfig};

use super::certs_d;
use super::flags::RegistryArgs;
use super::registry::RegistrySettings;
use super::table::Settings;
use crate::credentials::registry_matches;
use crate::transport::TlsOptions;

impl Settings {
    /// The settings for `registry` (a `host[:port]` as in a reference): its config table,
    /// then the flags (which apply to every registry).
    pub fn registry(&self, registry: &str, flags: &RegistryArgs) -> RegistrySettings {
        let mut r = self
            .registries
            .iter()
            .find(|(name, _)| registry_matches(name, registry))
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        r.ca_file.flag(flags.ca_file.clone().map(Some), "--ca-file");
        r.insecure
            .flag(flags.insecure.then_some(true), "--insecure");
        r.plain_http
            .flag(flags.plain_http.then_some(true), "--plain-http");
        r
    }

    /// How to reach `r`: TLS options (with what the certificate directories hold for its
    /// registry) and the scheme (plain HTTP when configured; for loopback registries HTTPS,
    /// then plain HTTP if the registry does not speak TLS).
    pub fn reach(&self, r: &Reference, flags: &RegistryArgs) -> (TlsOptions, Scheme) {
        let reg = self.registry(&r.registry, flags);
        let scheme = r.scheme(reg.plain_http.value.then_some(true));
        let certs = certs_d::for_registry(&r.registry, flags.cert_dir.as_deref());
        let client_cert = match (&flags.cert_file, &flags.key_file) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ => certs.client,
        };
        let tls = TlsOptions {
            ca_files: reg
                .ca_file
                .value
                .into_iter()
                .chain(certs.ca_files)
                .collect(),
            only_ca_files: flags.only_ca_file,
            client_cert,
            insecure: reg.insecure.value,
            connect_timeout: Duration::from_secs(self.connect_timeout.value),
            proxies: self.proxies.clone(),
        };
        (tls, scheme)
    }

    /// How push, pull and copy talk to the registry of `r` with `credentials`: the TLS
    /// options, and the core's registry config with these settings' retries and deadlines.
    pub fn connection(
        &self,
        r: &Reference,
        flags: &RegistryArgs,
        credentials: Option<Credentials>,
    ) -> (TlsOptions, RegistryConfig) {
        let (tls, scheme) = self.reach(r, flags);
        // The ranges were checked as the settings were read; the core's defaults fill in.
        let config = self
            .host()
            .registry_config(r)
            .unwrap_or_else(|_| RegistryConfig::default());
        let config = RegistryConfig {
            scheme,
            credentials,
            ..config
        };
        (tls, config)
    }

    /// How many blobs a transfer moves at once.
    pub fn transfer(&self) -> TransferConfig {
        self.host()
            .transfer_config()
            .unwrap_or_else(|_| TransferConfig::default())
    }

    /// These settings as the core's [`HostSettings`]: the one place their values become
    /// the core's configs, as for every embedding.
    fn host(&self) -> HostSettings {
        HostSettings {
            retries: Some(u64::from(self.retries.value.max(1))),
            stall_timeout: Some(self.stall_timeout.value),
            retry_max_wait: self.retry_max_wait.value,
            retry_delay: Some(self.retry_delay.value),
            jobs: Some(u64::from(self.jobs.value)),
            adaptive: Some(self.adaptive.value),
            seed: Some(random_seed()),
            ..HostSettings::default()
        }
    }

    /// Where to pull `r` from first: the same repository and reference on the mirror of
    /// `r`'s registry, when its table names one.
    pub fn mirror_for(&self, r: &Reference, flags: &RegistryArgs) -> Option<Reference> {
        let mirror = self.registry(&r.registry, flags).mirror.value?;
        let mut m = r.clone();
        m.registry = mirror;
        Some(m)
    }
}

/// 64 bits from the OS's entropy (std seeds its `RandomState` from it): the seed of the
/// core's retry jitter, so that clients retrying at once do not retry in step.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}
