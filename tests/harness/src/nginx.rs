//! nginx (Debian package) in front of a harness [`Registry`], answering CORS preflights and
//! adding CORS headers, configured with the project's documented `docs/nginx-cors.conf`.
//!
//! The documented file is used as it is, with only the values it marks `CHANGE` replaced
//! (upstream port, listen address, certificate paths), so the browser tests test the docs.

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tls::TestPki;
use crate::tools::{find_tool, require_tool};
use crate::Registry;

/// Path of the nginx binary (Debian package `nginx`).
pub const NGINX: &str = "/usr/sbin/nginx";

/// The documented CORS configuration, as shipped in `docs/`.
pub const DOCUMENTED_CONF: &str = include_str!("../../../docs/nginx-cors.conf");

/// How long nginx may take to answer after being started.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times to pick a new port when the chosen one was taken before nginx bound it.
const PORT_ATTEMPTS: usize = 5;

/// Where the pieces of [`DOCUMENTED_CONF`] that change per installation go.
#[derive(Debug, Clone)]
pub struct CorsConfValues<'a> {
    /// The registry's port on 127.0.0.1 (plain HTTP).
    pub upstream_port: u16,
    /// The port nginx listens on (127.0.0.1, TLS).
    pub listen_port: u16,
    /// The server certificate (PEM file).
    pub certificate: &'a Path,
    /// Its private key (PEM file).
    pub certificate_key: &'a Path,
}

/// Renders [`DOCUMENTED_CONF`] with its `CHANGE` values replaced.
///
/// # Panics
///
/// If one of the documented example values is not in the file exactly once (the docs
/// changed; change this function with them).
pub fn render_cors_conf(values: &CorsConfValues<'_>) -> String {
    let replacements = [
        (
            "server 127.0.0.1:5000;".to_owned(),
            format!("server 127.0.0.1:{};", values.upstream_port),
        ),
        (
            "listen 443 ssl;".to_owned(),
            format!("listen 127.0.0.1:{} ssl;", values.listen_port),
        ),
        (
            "ssl_certificate /etc/nginx/tls/registry.crt;".to_owned(),
            format!("ssl_certificate {};", quoted(values.certificate)),
        ),
        (
            "ssl_certificate_key /etc/nginx/tls/registry.key;".to_owned(),
            format!("ssl_certificate_key {};", quoted(values.certificate_key)),
        ),
    ];
    let mut conf = DOCUMENTED_CONF.to_owned();
    for (from, to) in replacements {
        let count = conf.matches(from.as_str()).count();
        assert_eq!(
            count, 1,
            "docs/nginx-cors.conf must contain `{from}` exactly once (found {count}); the \
             harness replaces it"
        );
        conf = conf.replace(from.as_str(), &to);
    }
    conf
}

/// An nginx config string literal.
fn quoted(path: &Path) -> String {
    let s = path.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A running nginx serving HTTPS on `127.0.0.1:<port>` in front of a plain-HTTP registry,
/// with CORS as documented. Its certificate comes from its own private CA
/// ([`Nginx::ca_pem`]). Killed on drop.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    pki: TestPki,
    cert_file: PathBuf,
    ca_file: PathBuf,
    dir: TempDir,
}

impl Nginx {
    /// Starts nginx with `docs/nginx-cors.conf` in front of `registry` and waits until it
    /// answers `GET /v2/` (with the registry's status: 200 or 401).
    ///
    /// # Panics
    ///
    /// If nginx is not installed (the message names `scripts/install-deps.sh`), if the
    /// registry uses TLS (the documented set-up has nginx do TLS in front of a plain-HTTP
    /// registry), or if nginx fails to start (the message carries its error log).
    pub fn cors_front(registry: &Registry) -> Self {
        assert!(
            !registry.is_tls(),
            "the documented nginx set-up fronts a plain-HTTP registry; start it with TLS off"
        );
        Self::cors_front_port(registry.port())
    }

    /// Like [`Nginx::cors_front`], in front of whatever plain-HTTP registry listens on
    /// `127.0.0.1:upstream_port` (e.g. a [`FaultProxy`](crate::FaultProxy) before a registry).
    pub fn cors_front_port(upstream_port: u16) -> Self {
        let bin = nginx_bin();
        let dir = tempfile::Builder::new()
            .prefix("tug-nginx-")
            .tempdir()
            .expect("create nginx temp dir");
        let root = dir.path();
        for sub in ["tmp", "logs"] {
            fs::create_dir(root.join(sub)).expect("create nginx dirs");
        }
        let pki = TestPki::generate();
        let cert_file = root.join("server.crt");
        let key_file = root.join("server.key");
        let ca_file = root.join("ca.pem");
        fs::write(&cert_file, &pki.server_cert_pem).expect("write server cert");
        fs::write(&key_file, &pki.server_key_pem).expect("write server key");
        fs::write(&ca_file, &pki.ca_pem).expect("write CA");
        fs::create_dir(root.join("certs.d")).expect("create CA dir");
        fs::write(root.join("certs.d/ca.crt"), &pki.ca_pem).expect("write ca.crt");
        let agent = probe_agent(&pki);

        let mut failures = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let server = render_cors_conf(&CorsConfValues {
                upstream_port,
                listen_port: port,
                certificate: &cert_file,
                certificate_key: &key_file,
            });
            fs::write(root.join("registry-cors.conf"), server).expect("write server conf");
            fs::write(root.join("nginx.conf"), main_conf(root)).expect("write nginx.conf");
            let _ = fs::remove_file(root.join("logs/error.log"));
            let child = spawn(&bin, root);
            match wait_ready(child, &agent, port, root) {
                Ok(child) => {
                    return Nginx {
                        child,
                        port,
                        pki,
                        cert_file,
                        ca_file,
                        dir,
                    };
                }
                Err(Failure::PortTaken(log)) => failures.push_str(&format!(
                    "--- attempt {attempt}, port {port} was taken:\n{log}\n"
                )),
                Err(Failure::Fatal(message)) => panic!("{message}"),
            }
        }
        panic!("nginx could not bind a port in {PORT_ATTEMPTS} attempts:\n{failures}");
    }

    /// `127.0.0.1:PORT`, the registry host as used in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// The nginx process id (one process: `master_process off`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port nginx listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private CA that signed nginx's certificate (PEM text).
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The CA certificate as a PEM file.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A directory holding only `ca.crt`, for skopeo's `--cert-dir` / `--dest-cert-dir`.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// `docker://HOST/<name_and_ref>` through nginx, a skopeo image reference.
    pub fn docker_ref(&self, name_and_ref: &str) -> String {
        format!("docker://{}/{name_and_ref}", self.host())
    }

    /// nginx's own server certificate as a PEM file (e.g. to pin its key in a browser).
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The configuration nginx runs with (the documented server block, values replaced).
    pub fn server_conf(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry-cors.conf")).unwrap_or_default()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        read_or_note(&self.dir.path().join("logs/error.log"))
    }

    /// nginx's access log so far (one line per request: method, URI, status).
    pub fn access_log(&self) -> String {
        read_or_note(&self.dir.path().join("logs/access.log"))
    }

    /// An HTTP agent that trusts nginx's CA, never follows redirects and returns every
    /// status as a response.
    pub fn agent(&self) -> ureq::Agent {
        probe_agent(&self.pki)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of the nginx binary.
///
/// # Panics
///
/// If nginx is not installed; the message names `scripts/install-deps.sh`.
pub fn nginx_bin() -> PathBuf {
    find_tool(NGINX)
        .or_else(|| find_tool("nginx"))
        .unwrap_or_else(|| require_tool(NGINX))
}

/// The main configuration: one foreground process, every path inside `root`.
fn main_conf(root: &Path) -> String {
    let p = |rel: &str| quoted(&root.join(rel));
    format!(
        "daemon off;\n\
         master_process off;\n\
         pid {pid};\n\
         error_log {error} info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n\
         \x20   access_log {access};\n\
         \x20   client_body_temp_path {body};\n\
         \x20   proxy_temp_path {proxy};\n\
         \x20   fastcgi_temp_path {fastcgi};\n\
         \x20   uwsgi_temp_path {uwsgi};\n\
         \x20   scgi_temp_path {scgi};\n\
         \x20   include {server};\n\
         }}\n",
        pid = p("nginx.pid"),
        error = p("logs/error.log"),
        access = p("logs/access.log"),
        body = p("tmp/body"),
        proxy = p("tmp/proxy"),
        fastcgi = p("tmp/fastcgi"),
        uwsgi = p("tmp/uwsgi"),
        scgi = p("tmp/scgi"),
        server = p("registry-cors.conf"),
    )
}

fn spawn(bin: &Path, root: &Path) -> Child {
    let out = File::create(root.join("logs/stderr.log")).expect("create nginx stderr log");
    let err = out.try_clone().expect("clone log handle");
    let mut prefix = root.as_os_str().to_owned();
    prefix.push("/");
    Command::new(bin)
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(root.join("nginx.conf"))
        .arg("-e")
        .arg(root.join("logs/error.log"))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", bin.display()))
}

enum Failure {
    PortTaken(String),
    Fatal(String),
}

fn read_or_note(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("<{} unreadable: {e}>", path.display()))
}

fn logs(root: &Path) -> String {
    format!(
        "error.log:\n{}\nstderr:\n{}",
        read_or_note(&root.join("logs/error.log")),
        read_or_note(&root.join("logs/stderr.log"))
    )
}

fn wait_ready(
    mut child: Child,
    agent: &ureq::Agent,
    port: u16,
    root: &Path,
) -> Result<Child, Failure> {
    let url = format!("https://127.0.0.1:{port}/v2/");
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut backoff = Duration::from_millis(10);
    loop {
        let text = logs(root);
        // nginx retries a taken port for a few seconds before giving up: stop it at once.
        if text.contains("Address already in use") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::PortTaken(text));
        }
        if let Some(status) = child.try_wait().expect("query nginx process") {
            return Err(Failure::Fatal(format!(
                "nginx exited with {status} before becoming ready ({url}); {text}"
            )));
        }
        let last_error = match agent
            .get(&url)
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
        {
            // Our nginx (its certificate is from our CA) relaying the registry's answer.
            Ok(response) if matches!(response.status().as_u16(), 200 | 401) => {
                return Ok(child);
            }
            Ok(response) => format!("unexpected status {}", response.status()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::Fatal(format!(
                "nginx not ready at {url} within {READY_TIMEOUT:?} (last: {last_error}); {}",
                logs(root)
            )));
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn probe_agent(pki: &TestPki) -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("parse CA PEM");
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls)
        .build()
        .new_agent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_value_is_replaced() {
        let conf = render_cors_conf(&CorsConfValues {
            upstream_port: 4100,
            listen_port: 4200,
            certificate: Path::new("/t/c.pem"),
            certificate_key: Path::new("/t/k.pem"),
        });
        assert!(conf.contains("server 127.0.0.1:4100;"), "{conf}");
        assert!(conf.contains("listen 127.0.0.1:4200 ssl;"), "{conf}");
        assert!(conf.contains("ssl_certificate \"/t/c.pem\";"), "{conf}");
        assert!(conf.contains("ssl_certificate_key \"/t/k.pem\";"), "{conf}");
        assert!(!conf.contains(":5000"), "{conf}");
    }
}
