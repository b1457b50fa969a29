//! What kind of registry to start, and its distribution 2.8 `config.yml`.

use std::path::{Path, PathBuf};

use crate::token_server::TokenServerConfig;

/// Options for [`Registry::start`](crate::Registry::start). Start from
/// [`RegistryConfig::plain`] or [`RegistryConfig::tls`] and add options.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Serve HTTPS with a certificate from a freshly generated private CA.
    pub tls: bool,
    /// htpasswd Basic auth with this single user and password.
    pub basic_auth: Option<(String, String)>,
    /// Token (Bearer) auth (`auth.token`) with a token server the registry starts and owns
    /// (HTTPS with the registry's CA when the registry uses TLS). Exclusive with
    /// [`RegistryConfig::basic_auth`].
    pub token_auth: Option<TokenServerConfig>,
    /// Send relative `Location` headers (`http.relativeurls`) instead of absolute ones.
    pub relative_urls: bool,
    /// Refuse manifest and blob deletion (`storage.delete.enabled: false`); enabled by default.
    pub deletion_disabled: bool,
    /// Refuse manifests naming foreign layers' URLs, as distribution does without
    /// `validation.manifests.urls.allow` (by default they are accepted, as public
    /// registries accept them).
    pub foreign_urls_refused: bool,
    /// Create the registry's temporary directory (storage, config, log) inside this directory
    /// instead of the system temp dir (e.g. a tmpfs for benchmarks).
    pub temp_parent: Option<PathBuf>,
    /// Host names the TLS certificate is also valid for (beside `127.0.0.1` and
    /// `localhost`), e.g. a name a test reaches through a proxy.
    pub tls_names: Vec<String>,
    /// Ask every client for a certificate signed by the registry's CA (mutual TLS); the
    /// registry's CA directory then holds `client.cert` and `client.key` too.
    pub client_auth: bool,
    /// The server certificate is its own CA (`CA:TRUE`, self-signed), as `openssl req
    /// -x509` with OpenSSL's default config makes one: the registry's CA file is that
    /// certificate.
    pub self_signed_ca: bool,
}

impl RegistryConfig {
    /// Plain HTTP, no auth.
    pub fn plain() -> Self {
        Self::default()
    }

    /// HTTPS with a private CA, no auth.
    pub fn tls() -> Self {
        Self {
            tls: true,
            ..Self::default()
        }
    }

    /// HTTPS with a self-signed certificate that is its own CA ([`Self::self_signed_ca`]).
    pub fn tls_self_signed_ca() -> Self {
        Self {
            self_signed_ca: true,
            ..Self::tls()
        }
    }

    /// Adds htpasswd Basic auth for one user.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Adds token (Bearer) auth: a token server granting `user` pull and push on every
    /// repository, and nothing to anonymous requests.
    pub fn with_token_auth(self, user: &str, password: &str) -> Self {
        self.with_token_server(TokenServerConfig::for_user(user, password))
    }

    /// Adds token (Bearer) auth with a token server configured as given.
    pub fn with_token_server(mut self, token_server: TokenServerConfig) -> Self {
        self.token_auth = Some(token_server);
        self
    }

    /// Makes the registry answer with relative `Location` URLs.
    pub fn with_relative_urls(mut self) -> Self {
        self.relative_urls = true;
        self
    }

    /// Makes the registry refuse manifests naming foreign layers' URLs (distribution's
    /// default).
    pub fn with_foreign_urls_refused(mut self) -> Self {
        self.foreign_urls_refused = true;
        self
    }

    /// Makes the registry refuse deletions (`405 UNSUPPORTED`).
    pub fn with_deletion_disabled(mut self) -> Self {
        self.deletion_disabled = true;
        self
    }

    /// Makes the TLS certificate valid for `name` too.
    pub fn with_tls_name(mut self, name: &str) -> Self {
        self.tls_names.push(name.to_owned());
        self
    }

    /// Asks clients for a certificate (mutual TLS; implies TLS).
    pub fn with_client_auth(mut self) -> Self {
        self.tls = true;
        self.client_auth = true;
        self
    }

    /// Puts the registry's temporary directory under `parent`.
    pub fn with_temp_parent(mut self, parent: impl Into<PathBuf>) -> Self {
        self.temp_parent = Some(parent.into());
        self
    }
}

/// File locations a rendered config refers to.
#[derive(Debug)]
pub(crate) struct ConfigPaths<'a> {
    pub storage: &'a Path,
    pub tls: Option<(&'a Path, &'a Path)>,
    /// The CA client certificates must be signed by (mutual TLS).
    pub client_ca: Option<&'a Path>,
    pub htpasswd: Option<&'a Path>,
    pub token: Option<TokenAuthSettings<'a>>,
}

/// What `auth.token` needs: where tokens come from and how to check them.
#[derive(Debug)]
pub(crate) struct TokenAuthSettings<'a> {
    pub realm: &'a str,
    pub service: &'a str,
    pub issuer: &'a str,
    pub rootcertbundle: &'a Path,
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("string serialises")
}

/// Renders a distribution 2.8 (config version 0.1) `config.yml`.
pub(crate) fn render_config(
    config: &RegistryConfig,
    paths: &ConfigPaths<'_>,
    port: u16,
    http_secret: &str,
) -> String {
    let mut y = String::new();
    y.push_str("version: 0.1\n");
    y.push_str("log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n");
    y.push_str("storage:\n");
    y.push_str(&format!(
        "  filesystem:\n    rootdirectory: {}\n",
        quoted(&paths.storage.display().to_string())
    ));
    y.push_str(&format!(
        "  delete:\n    enabled: {}\n",
        !config.deletion_disabled
    ));
    y.push_str("  maintenance:\n    uploadpurging:\n      enabled: false\n");
    // Foreign layers' URLs accepted in manifests, as Docker Hub and other public
    // registries accept them (distribution refuses every URL without an allow list).
    if !config.foreign_urls_refused {
        y.push_str("validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n");
    }
    y.push_str("http:\n");
    y.push_str(&format!(
        "  addr: {}\n",
        quoted(&format!("127.0.0.1:{port}"))
    ));
    y.push_str(&format!("  secret: {}\n", quoted(http_secret)));
    y.push_str(&format!("  relativeurls: {}\n", config.relative_urls));
    y.push_str("  headers:\n    X-Content-Type-Options: [nosniff]\n");
    if let Some((cert, key)) = paths.tls {
        y.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            quoted(&cert.display().to_string()),
            quoted(&key.display().to_string())
        ));
        if let Some(ca) = paths.client_ca {
            y.push_str(&format!(
                "    clientcas:\n      - {}\n",
                quoted(&ca.display().to_string())
            ));
        }
    }
    if let Some(htpasswd) = paths.htpasswd {
        y.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
            quoted("tug-testkit"),
            quoted(&htpasswd.display().to_string())
        ));
    }
    if let Some(token) = &paths.token {
        y.push_str(&format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            quoted(token.realm),
            quoted(token.service),
            quoted(token.issuer),
            quoted(&token.rootcertbundle.display().to_string())
        ));
    }
    y
}

/// One htpasswd line `user:<bcrypt>` (cost 5: fast, accepted by distribution).
pub(crate) fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash_with_result(password, 5)
        .expect("bcrypt hash")
        .format_for_version(bcrypt::Version::TwoY);
    format!("{user}:{hash}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_line_verifies() {
        let line = htpasswd_line("alice", "s3cret");
        let hash = line.trim_end().strip_prefix("alice:").unwrap();
        assert!(hash.starts_with("$2y$05$"), "{hash}");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
    }

    #[test]
    fn config_mentions_everything() {
        let config = RegistryConfig::tls()
            .with_basic_auth("u", "p")
            .with_relative_urls();
        let paths = ConfigPaths {
            storage: Path::new("/tmp/x y/storage"),
            tls: Some((Path::new("/c.pem"), Path::new("/k.pem"))),
            client_ca: None,
            htpasswd: Some(Path::new("/h")),
            token: None,
        };
        let yaml = render_config(&config, &paths, 4321, "sec");
        assert!(
            yaml.contains("rootdirectory: \"/tmp/x y/storage\""),
            "{yaml}"
        );
        assert!(yaml.contains("addr: \"127.0.0.1:4321\""), "{yaml}");
        assert!(yaml.contains("certificate: \"/c.pem\""), "{yaml}");
        assert!(yaml.contains("path: \"/h\""), "{yaml}");
        assert!(yaml.contains("relativeurls: true"), "{yaml}");
    }

    #[test]
    fn token_auth_config() {
        let config = RegistryConfig::tls().with_token_auth("u", "p");
        let paths = ConfigPaths {
            storage: Path::new("/s"),
            tls: None,
            client_ca: None,
            htpasswd: None,
            token: Some(TokenAuthSettings {
                realm: "https://127.0.0.1:1/token",
                service: "svc",
                issuer: "iss",
                rootcertbundle: Path::new("/signer.pem"),
            }),
        };
        let yaml = render_config(&config, &paths, 1, "sec");
        assert!(
            yaml.contains(
                "auth:\n  token:\n    realm: \"https://127.0.0.1:1/token\"\n    service: \"svc\"\n    issuer: \"iss\"\n    rootcertbundle: \"/signer.pem\"\n"
            ),
            "{yaml}"
        );
        assert!(!yaml.contains("htpasswd"), "{yaml}");
    }
}
