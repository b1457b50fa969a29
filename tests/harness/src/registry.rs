//! A real `docker-registry` (CNCF distribution 2.8) process on a loopback ephemeral port.

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::registry_config::{htpasswd_line, render_config, ConfigPaths, TokenAuthSettings};
use crate::rng::TestRng;
use crate::tls::TestPki;
use crate::token_server::{TokenServer, TokenServerConfig};
use crate::tools::docker_registry_bin;
use crate::RegistryConfig;

/// How long a registry may take to answer `GET /v2/` after being started.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times to pick a new port when the chosen one was taken before the registry bound it.
const PORT_ATTEMPTS: usize = 5;

/// A running registry with its own temporary storage. Killed and cleaned up on drop.
///
/// Listens on `127.0.0.1:<ephemeral port>` only.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    config: RegistryConfig,
    pki: Option<TestPki>,
    paths: RegistryPaths,
    // Stopped after the registry process (fields drop after `Drop::drop`).
    token_server: Option<TokenServer>,
    // Dropped last (after the process is killed in `Drop`).
    _dir: TempDir,
}

#[derive(Debug)]
struct RegistryPaths {
    storage: PathBuf,
    log: PathBuf,
    ca_file: Option<PathBuf>,
    ca_dir: Option<PathBuf>,
}

impl Registry {
    /// Plain HTTP, no auth.
    pub fn plain() -> Self {
        Self::start(RegistryConfig::plain())
    }

    /// HTTPS with a private CA ([`Registry::ca_file`], [`Registry::ca_dir`]), no auth.
    pub fn tls() -> Self {
        Self::start(RegistryConfig::tls())
    }

    /// HTTPS with a private CA and htpasswd Basic auth for one user.
    pub fn tls_basic_auth(user: &str, password: &str) -> Self {
        Self::start(RegistryConfig::tls().with_basic_auth(user, password))
    }

    /// HTTPS with a private CA and token (Bearer) auth: an HTTPS token server (same CA) that
    /// grants `user` pull and push on every repository and nothing to anonymous requests.
    /// See [`Registry::token_server`].
    pub fn tls_token_auth(user: &str, password: &str) -> Self {
        Self::start(RegistryConfig::tls().with_token_auth(user, password))
    }

    /// HTTPS with a private CA and token auth with a token server configured as given
    /// (anonymous pull, token lifetime, …).
    pub fn tls_token_server(token_server: TokenServerConfig) -> Self {
        Self::start(RegistryConfig::tls().with_token_server(token_server))
    }

    /// Starts a registry and waits until it answers `GET /v2/`.
    ///
    /// # Panics
    ///
    /// If `docker-registry` is not installed (the message names `scripts/install-deps.sh`),
    /// if it exits, or if it is not ready within 20 s (the message carries its log); if both
    /// Basic and token auth are configured (distribution takes one auth method).
    pub fn start(config: RegistryConfig) -> Self {
        Self::start_with_ports(config, free_port)
    }

    /// [`Registry::start`] taking candidate ports from `next_port`.
    fn start_with_ports(config: RegistryConfig, mut next_port: impl FnMut() -> u16) -> Self {
        let bin = docker_registry_bin();
        let dir = match &config.temp_parent {
            Some(parent) => tempfile::Builder::new()
                .prefix("tug-registry-")
                .tempdir_in(parent),
            None => tempfile::Builder::new().prefix("tug-registry-").tempdir(),
        }
        .expect("create registry temp dir");
        let root = dir.path();
        let storage = root.join("storage");
        fs::create_dir(&storage).expect("create storage dir");

        let pki = config.tls.then(|| {
            let mut names = vec!["127.0.0.1", "localhost"];
            names.extend(config.tls_names.iter().map(String::as_str));
            match config.self_signed_ca {
                true => TestPki::self_signed_ca(&names),
                false => TestPki::generate_with(&names, config.client_auth),
            }
        });
        let (mut ca_file, mut ca_dir, mut tls_paths) = (None, None, None);
        if let Some(pki) = &pki {
            let cert = root.join("server.crt");
            let key = root.join("server.key");
            fs::write(&cert, &pki.server_cert_pem).expect("write server cert");
            fs::write(&key, &pki.server_key_pem).expect("write server key");
            let certs = root.join("certs.d");
            fs::create_dir(&certs).expect("create CA dir");
            fs::write(certs.join("ca.crt"), &pki.ca_pem).expect("write ca.crt");
            if let Some((cert, key)) = &pki.client {
                // Where skopeo and Docker look for a client certificate.
                fs::write(certs.join("client.cert"), cert).expect("write client.cert");
                fs::write(certs.join("client.key"), key).expect("write client.key");
            }
            let ca = root.join("ca.pem");
            fs::write(&ca, &pki.ca_pem).expect("write ca.pem");
            ca_file = Some(ca);
            ca_dir = Some(certs);
            tls_paths = Some((cert, key));
        }
        let htpasswd = config.basic_auth.as_ref().map(|(user, password)| {
            let path = root.join("htpasswd");
            fs::write(&path, htpasswd_line(user, password)).expect("write htpasswd");
            path
        });

        assert!(
            config.basic_auth.is_none() || config.token_auth.is_none(),
            "a registry has one auth method: Basic or token, not both"
        );
        let token_server = config.token_auth.clone().map(|token_config| match &pki {
            Some(pki) => TokenServer::start_tls(token_config, pki),
            None => TokenServer::start(token_config),
        });
        let token_realm = token_server.as_ref().map(TokenServer::token_url);
        let signer_cert = token_server.as_ref().map(|server| {
            let path = root.join("token-signer.crt");
            fs::write(&path, server.signer_cert_pem()).expect("write token signer certificate");
            path
        });

        let mut secret_bytes = [0u8; 16];
        TestRng::new(u64::from(std::process::id()) ^ now_nanos()).fill(&mut secret_bytes);
        let secret = hex::encode(secret_bytes);

        let paths = ConfigPaths {
            storage: &storage,
            tls: tls_paths.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            client_ca: ca_file.as_deref().filter(|_| config.client_auth),
            htpasswd: htpasswd.as_deref(),
            token: match (&token_server, &token_realm, &signer_cert) {
                (Some(server), Some(realm), Some(cert)) => Some(TokenAuthSettings {
                    realm,
                    service: server.service(),
                    issuer: server.issuer(),
                    rootcertbundle: cert,
                }),
                _ => None,
            },
        };
        let config_file = root.join("config.yml");
        let log = root.join("registry.log");
        let agent = probe_agent(pki.as_ref());
        let scheme = if config.tls { "https" } else { "http" };

        let mut failures = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = next_port();
            fs::write(&config_file, render_config(&config, &paths, port, &secret))
                .expect("write config.yml");
            let child = spawn(&bin, &config_file, &log, root);
            let url = format!("{scheme}://127.0.0.1:{port}/v2/");
            match wait_ready(child, &agent, &url, &log) {
                Ok(child) => {
                    return Registry {
                        child,
                        port,
                        config,
                        pki,
                        paths: RegistryPaths {
                            storage,
                            log,
                            ca_file,
                            ca_dir,
                        },
                        token_server,
                        _dir: dir,
                    };
                }
                Err(Failure::PortTaken(text)) => {
                    failures.push_str(&format!(
                        "--- attempt {attempt}, port {port} was taken:\n{text}\n"
                    ));
                }
                Err(Failure::Fatal(message)) => panic!("{message}"),
            }
        }
        panic!("docker-registry could not bind a port in {PORT_ATTEMPTS} attempts:\n{failures}");
    }

    /// `127.0.0.1:PORT`, the registry host as used in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.host())
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.config.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Whether the registry serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.config.tls
    }

    /// `HOST/<name_and_ref>`, e.g. `image("app:1")` → `127.0.0.1:PORT/app:1`.
    pub fn image(&self, name_and_ref: &str) -> String {
        format!("{}/{}", self.host(), name_and_ref)
    }

    /// `docker://HOST/<name_and_ref>`, a skopeo image reference.
    pub fn docker_ref(&self, name_and_ref: &str) -> String {
        format!("docker://{}", self.image(name_and_ref))
    }

    /// The PEM file of the private CA (TLS registries only).
    pub fn ca_file(&self) -> Option<&Path> {
        self.paths.ca_file.as_deref()
    }

    /// The CA certificate as PEM text (TLS registries only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.pki.as_ref().map(|p| p.ca_pem.as_str())
    }

    /// A directory holding only `ca.crt`, for skopeo's `--src-cert-dir` / `--dest-cert-dir`
    /// (TLS registries only).
    pub fn ca_dir(&self) -> Option<&Path> {
        self.paths.ca_dir.as_deref()
    }

    /// The user and password the registry requires: the htpasswd user for Basic auth, the
    /// token server's account for token auth.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.config
            .basic_auth
            .as_ref()
            .or(self
                .config
                .token_auth
                .as_ref()
                .and_then(|t| t.user.as_ref()))
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The token server of a registry with token auth: its request log, switches and
    /// signing certificate.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// The registry's log (stdout and stderr) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.paths.log).unwrap_or_else(|e| format!("<log unreadable: {e}>"))
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> &Path {
        &self.paths.storage
    }

    /// The registry process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An HTTP agent for talking to this registry directly: trusts only the private CA (for
    /// TLS), never follows redirects and returns every status as a response, not an error.
    pub fn agent(&self) -> ureq::Agent {
        probe_agent(self.pki.as_ref())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Failure {
    PortTaken(String),
    Fatal(String),
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A port that was free a moment ago: bind `127.0.0.1:0`, read it, release it.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn spawn(bin: &Path, config_file: &Path, log: &Path, cwd: &Path) -> Child {
    let out = File::create(log).expect("create registry log");
    let err = out.try_clone().expect("clone log handle");
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg(config_file)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // distribution reads REGISTRY_* variables as config overrides; keep the config hermetic.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(key);
        }
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", bin.display()))
}

fn probe_agent(pki: Option<&TestPki>) -> ureq::Agent {
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)));
    if let Some(pki) = pki {
        let ca = ureq::tls::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("parse CA PEM");
        let mut tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
            // webpki takes no CA for a server certificate: a self-signed CA one is only
            // probed here (what tug makes of it is the test's).
            .disable_verification(pki.ca_pem == pki.server_cert_pem);
        if let Some((cert, key)) = &pki.client {
            let cert = ureq::tls::Certificate::from_pem(cert.as_bytes()).expect("client cert");
            let key = ureq::tls::PrivateKey::from_pem(key.as_bytes()).expect("client key");
            tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&[cert], key)));
        }
        let tls = tls.build();
        builder = builder.tls_config(tls);
    }
    builder.build().new_agent()
}

/// Polls `GET /v2/` until the registry answers 200 or 401, with short exponential backoff.
fn wait_ready(
    mut child: Child,
    agent: &ureq::Agent,
    url: &str,
    log: &Path,
) -> Result<Child, Failure> {
    let read_log = || fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut backoff = Duration::from_millis(5);
    loop {
        if let Some(status) = child.try_wait().expect("query registry process") {
            let text = read_log();
            if text.contains("address already in use") {
                return Err(Failure::PortTaken(text));
            }
            return Err(Failure::Fatal(format!(
                "docker-registry exited with {status} before becoming ready ({url}); log:\n{text}"
            )));
        }
        // The registry logs "listening on <addr>" once it has bound the port; probing before
        // that could hang on whoever else holds the port.
        let listening = read_log().contains("listening on ");
        let last_error = if !listening {
            "not listening yet".to_owned()
        } else {
            match agent
                .get(url)
                .config()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .call()
            {
                Ok(response) if matches!(response.status().as_u16(), 200 | 401) => {
                    return Ok(child);
                }
                Ok(response) => format!("unexpected status {}", response.status()),
                Err(e) => e.to_string(),
            }
        };
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::Fatal(format!(
                "docker-registry not ready at {url} within {READY_TIMEOUT:?} (last: {last_error}); log:\n{}",
                read_log()
            )));
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_with_a_new_port_when_the_first_is_taken() {
        let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let mut ports = vec![taken, taken];
        let registry = Registry::start_with_ports(RegistryConfig::plain(), || {
            ports.pop().unwrap_or_else(free_port)
        });
        assert_ne!(registry.port(), taken);
        assert!(ports.is_empty(), "both taken ports were tried");
    }

    #[test]
    fn a_registry_that_cannot_bind_fails_with_its_log() {
        let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let panic = std::panic::catch_unwind(|| {
            Registry::start_with_ports(RegistryConfig::plain(), || taken)
        })
        .expect_err("start must fail");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("could not bind a port in 5 attempts")
                && message.contains("address already in use"),
            "{message}"
        );
    }
}
