//! A token server for registries with Bearer (token) auth, as distribution's `auth.token`
//! expects one.
//!
//! It answers `GET /token?service=…&scope=…[&scope=…][&account=…]` with
//! `{"token", "access_token", "expires_in", "issued_at"}`, where the token is an ES256 JWT
//! whose header carries `x5c: [base64 DER of the signing certificate]` (a self-signed
//! certificate generated at start; give [`TokenServer::signer_cert_pem`] to the registry as
//! `rootcertbundle`) and whose claims are `iss`, `aud` (the service), `sub`, `exp`, `nbf`,
//! `iat`, `jti` and `access: [{type, name, actions}]` built from the requested scopes.
//!
//! Who gets what: the configured user (Basic credentials on the token request) gets `pull`,
//! `push` and `delete` on every repository and `*` on `registry:catalog`; an anonymous
//! request gets `pull` on every repository when [`TokenServerConfig::anonymous_pull`] is set
//! and nothing otherwise; wrong credentials get `401`. Every request is logged
//! ([`TokenServer::requests`]) without the password.
//!
//! The server listens on `127.0.0.1:<ephemeral>`, over HTTPS when started with a
//! certificate ([`TokenServer::start_tls`]), and stops when dropped.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rcgen::{CertificateParams, DnType, KeyPair};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::tls::TestPki;

/// Default `iss` claim (the registry's `auth.token.issuer`).
pub const DEFAULT_ISSUER: &str = "tug-testkit-token-issuer";
/// Default `aud` claim and `service` (the registry's `auth.token.service`).
pub const DEFAULT_SERVICE: &str = "tug-testkit-registry";
/// Default token lifetime in seconds (`expires_in`).
pub const DEFAULT_EXPIRES_IN: u64 = 300;

/// How long a connection may stay silent before the server gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head or body the server reads.
const MAX_REQUEST: usize = 64 * 1024;

/// What the token server grants and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenServerConfig {
    /// The one account: user name and password, checked against Basic credentials.
    pub user: Option<(String, String)>,
    /// Grant `pull` on every repository to requests without credentials.
    pub anonymous_pull: bool,
    /// Token lifetime in seconds (`expires_in`, and `exp` = now + this).
    pub expires_in: u64,
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim; also what the registry names as `service` in its challenges.
    pub service: String,
}

impl Default for TokenServerConfig {
    fn default() -> Self {
        Self {
            user: None,
            anonymous_pull: false,
            expires_in: DEFAULT_EXPIRES_IN,
            issuer: DEFAULT_ISSUER.to_owned(),
            service: DEFAULT_SERVICE.to_owned(),
        }
    }
}

impl TokenServerConfig {
    /// No account and no anonymous access: every token request gets a token without access
    /// (add a user or anonymous pull).
    pub fn new() -> Self {
        Self::default()
    }

    /// One account with pull and push on every repository.
    pub fn for_user(user: &str, password: &str) -> Self {
        Self::default().with_user(user, password)
    }

    /// Sets the account.
    pub fn with_user(mut self, user: &str, password: &str) -> Self {
        self.user = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Lets requests without credentials pull every repository.
    pub fn with_anonymous_pull(mut self) -> Self {
        self.anonymous_pull = true;
        self
    }

    /// Sets the token lifetime in seconds.
    pub fn with_expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = seconds;
        self
    }

    /// Sets the `iss` claim.
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.to_owned();
        self
    }

    /// Sets the service (`aud` claim).
    pub fn with_service(mut self, service: &str) -> Self {
        self.service = service.to_owned();
        self
    }
}

/// How the server answers token requests; switchable while it runs
/// ([`TokenServer::set_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenMode {
    /// Check credentials and grant what the account may.
    #[default]
    Grant,
    /// Answer every request with `401 UNAUTHORIZED`, whatever the credentials.
    Refuse,
    /// Check credentials, then issue valid tokens with an empty `access` list (the registry
    /// answers requests with such a token `401 insufficient_scope`).
    NoAccess,
}

/// One entry of a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `repository`, `registry`, ….
    pub kind: String,
    /// The resource name, e.g. `team/app`.
    pub name: String,
    /// Granted actions, e.g. `["pull", "push"]`.
    pub actions: Vec<String>,
}

impl Access {
    /// Parses a scope `type:name:actions`, splitting at the first and the last colon (names
    /// may hold colons, e.g. a registry host with a port). `None` if it has fewer than two.
    pub fn parse_scope(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Access {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Back to `type:name:a,b`.
    pub fn to_scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// How a token request authenticated itself. Never holds the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// No `Authorization` header.
    Anonymous,
    /// `Authorization: Basic …` for `user`; `accepted` says whether the password matched.
    Basic {
        /// The user name sent.
        user: String,
        /// Whether user and password matched the configured account.
        accepted: bool,
    },
    /// Some other `Authorization` scheme (or an unreadable Basic value).
    Other {
        /// The scheme as sent.
        scheme: String,
    },
}

impl ClientAuth {
    /// Whether an `Authorization` header was sent.
    pub fn sent_credentials(&self) -> bool {
        !matches!(self, ClientAuth::Anonymous)
    }
}

/// One request the token server saw, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The path without the query, e.g. `/token`.
    pub path: String,
    /// The `service` query parameter.
    pub service: Option<String>,
    /// Every `scope` query parameter, in order (space-separated values split).
    pub scopes: Vec<String>,
    /// The `account` query parameter.
    pub account: Option<String>,
    /// The credentials the request carried.
    pub auth: ClientAuth,
    /// The status answered.
    pub status: u16,
    /// What the issued token grants (empty if none was issued).
    pub granted: Vec<Access>,
    /// The issued token, so tests can check it never leaks into output.
    pub token: Option<String>,
}

impl TokenRequest {
    /// Whether the request carried Basic credentials for `user` that were accepted.
    pub fn authenticated_as(&self, user: &str) -> bool {
        matches!(&self.auth, ClientAuth::Basic { user: u, accepted: true } if u == user)
    }

    /// Whether a token was issued.
    pub fn issued(&self) -> bool {
        self.token.is_some()
    }
}

struct Settings {
    mode: TokenMode,
    expires_in: u64,
    anonymous_pull: bool,
    /// Repositories no account gets anything on (the rest of a request is granted).
    hidden: Vec<String>,
}

struct Shared {
    config: TokenServerConfig,
    settings: Mutex<Settings>,
    log: Mutex<Vec<TokenRequest>>,
    signer: Signer,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: AtomicBool,
}

/// A running token server. Stops (and closes its port) when dropped.
pub struct TokenServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

// Tests hold registries across `catch_unwind`. The server's state is behind mutexes whose
// poisoning `lock` tolerates, and the TLS config and thread handle are never touched through
// a shared reference, so a panic cannot leave anything observably broken.
impl std::panic::UnwindSafe for TokenServer {}
impl std::panic::RefUnwindSafe for TokenServer {}

impl fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenServer")
            .field("url", &self.token_url())
            .field("issuer", &self.shared.config.issuer)
            .field("service", &self.shared.config.service)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// Starts a plain-HTTP token server on `127.0.0.1:<ephemeral>`.
    pub fn start(config: TokenServerConfig) -> TokenServer {
        Self::start_inner(config, None)
    }

    /// Starts an HTTPS token server using the server certificate of `pki` (valid for
    /// `127.0.0.1`), so clients that trust `pki.ca_pem` trust it.
    pub fn start_tls(config: TokenServerConfig, pki: &TestPki) -> TokenServer {
        Self::start_inner(config, Some(server_tls_config(pki)))
    }

    fn start_inner(config: TokenServerConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("token server address");
        let shared = Arc::new(Shared {
            settings: Mutex::new(Settings {
                mode: TokenMode::Grant,
                expires_in: config.expires_in,
                anonymous_pull: config.anonymous_pull,
                hidden: Vec::new(),
            }),
            config,
            log: Mutex::new(Vec::new()),
            signer: Signer::generate(),
            tls,
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("tug-testkit-token-server".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("spawn token server thread");
        TokenServer {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// `http(s)://127.0.0.1:PORT/token`, the registry's `realm`.
    pub fn token_url(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}/token", self.addr)
    }

    /// The `iss` claim of its tokens.
    pub fn issuer(&self) -> &str {
        &self.shared.config.issuer
    }

    /// The service (`aud` claim) of its tokens.
    pub fn service(&self) -> &str {
        &self.shared.config.service
    }

    /// The self-signed certificate (PEM) whose key signs the tokens; the registry's
    /// `rootcertbundle`.
    pub fn signer_cert_pem(&self) -> &str {
        &self.shared.signer.cert_pem
    }

    /// The signing certificate (DER), as carried in the tokens' `x5c` header.
    pub fn signer_cert_der(&self) -> &[u8] {
        &self.shared.signer.cert_der
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.log).clone()
    }

    /// How many requests it has answered.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// How many tokens it has issued.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.shared.log).iter().filter(|r| r.issued()).count()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Changes how requests are answered from now on.
    pub fn set_mode(&self, mode: TokenMode) {
        lock(&self.shared.settings).mode = mode;
    }

    /// Changes the lifetime of tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        lock(&self.shared.settings).expires_in = seconds;
    }

    /// Turns anonymous pull on or off from now on.
    pub fn set_anonymous_pull(&self, allowed: bool) {
        lock(&self.shared.settings).anonymous_pull = allowed;
    }

    /// From now on grants nothing on `repositories` (as to an account that may not read
    /// them), and the rest of each request as before.
    pub fn hide(&self, repositories: &[&str]) {
        lock(&self.shared.settings).hidden = repositories.iter().map(|r| r.to_string()).collect();
    }

    /// Issues a token for `scopes` directly (as the configured user when `as_user`, else
    /// anonymously), without an HTTP request and without logging it.
    pub fn issue_token(&self, scopes: &[&str], as_user: bool) -> String {
        let sub = if as_user {
            self.shared.config.user.as_ref().map(|(u, _)| u.as_str())
        } else {
            None
        };
        let settings = lock(&self.shared.settings);
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let granted = grant(&scopes, sub.is_some(), settings.anonymous_pull);
        let expires_in = settings.expires_in;
        drop(settings);
        self.shared
            .mint(sub.unwrap_or(""), &granted, expires_in, now_unix())
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and returns, closing the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("tug-testkit-token-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &shared);
            });
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    match &shared.tls {
        Some(config) => {
            let conn =
                rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let result = serve_requests(&mut tls, shared);
            tls.conn.send_close_notify();
            let _ = tls.flush();
            let _ = tls.sock.shutdown(Shutdown::Write);
            result
        }
        None => {
            let mut plain = stream;
            let result = serve_requests(&mut plain, shared);
            let _ = plain.shutdown(Shutdown::Write);
            result
        }
    }
}

/// Serves requests on one connection until the client closes it (keep-alive).
fn serve_requests<S: Read + Write>(stream: &mut S, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader)? else {
            return Ok(());
        };
        let close = request.wants_close();
        let (status, body) = shared.answer(&request);
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            _ => "Error",
        };
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            body.len()
        );
        if status == 401 {
            head.push_str("WWW-Authenticate: Basic realm=\"tug-testkit token server\"\r\n");
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let out = reader.get_mut();
        out.write_all(head.as_bytes())?;
        out.write_all(body.as_bytes())?;
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}

struct HttpRequest {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        match self.header("connection") {
            Some(v) => v.eq_ignore_ascii_case("close"),
            None => self.version == "HTTP/1.0",
        }
    }
}

/// Reads one request head (and discards its body). `None` when the client closed the
/// connection between requests.
fn read_request<R: BufRead>(reader: &mut R) -> io::Result<Option<HttpRequest>> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = match reader
            .by_ref()
            .take(MAX_REQUEST as u64)
            .read_line(&mut line)
        {
            Ok(n) => n,
            // Between requests: a client that closed without TLS close_notify, a reset, or
            // an idle keep-alive connection timing out.
            Err(_) if lines.is_empty() => return Ok(None),
            Err(e) => return Err(e),
        };
        if n == 0 {
            if lines.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "request head cut short",
            ));
        }
        total += n;
        if total > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // stray CRLF between requests
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let request = HttpRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request body too large",
        ));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(request))
}

impl Shared {
    /// Decides the answer to one request and logs it.
    fn answer(&self, request: &HttpRequest) -> (u16, String) {
        let (path, query) = match request.target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (request.target.as_str(), ""),
        };
        let mut service = None;
        let mut account = None;
        let mut scopes = Vec::new();
        for (key, value) in parse_query(query) {
            match key.as_str() {
                "service" => service = Some(value),
                "account" => account = Some(value),
                "scope" => scopes.extend(
                    value
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        let auth = self.client_auth(request.header("authorization"));
        let mut entry = TokenRequest {
            method: request.method.clone(),
            path: path.to_owned(),
            service,
            scopes,
            account,
            auth,
            status: 0,
            granted: Vec::new(),
            token: None,
        };
        let (status, body) = self.decide(&mut entry);
        entry.status = status;
        lock(&self.log).push(entry);
        (status, body)
    }

    fn decide(&self, entry: &mut TokenRequest) -> (u16, String) {
        let (mode, expires_in, anonymous_pull, hidden) = {
            let s = lock(&self.settings);
            (s.mode, s.expires_in, s.anonymous_pull, s.hidden.clone())
        };
        if entry.path != "/token" {
            return (404, error_body("NOT_FOUND", "no such endpoint"));
        }
        if entry.method != "GET" {
            // No OAuth2 (POST) support: clients fall back to GET on 404.
            return (404, error_body("UNSUPPORTED", "only GET token requests"));
        }
        if mode == TokenMode::Refuse {
            return (
                401,
                error_body("UNAUTHORIZED", "this token server refuses every request"),
            );
        }
        if let Some(service) = &entry.service {
            if *service != self.config.service {
                return (
                    400,
                    error_body("INVALID_SERVICE", &format!("unknown service {service:?}")),
                );
            }
        }
        let user = match &entry.auth {
            ClientAuth::Anonymous => None,
            ClientAuth::Basic {
                user,
                accepted: true,
            } => Some(user.clone()),
            ClientAuth::Basic { .. } | ClientAuth::Other { .. } => {
                return (
                    401,
                    error_body(
                        "UNAUTHORIZED",
                        "authentication failed: wrong user name or password",
                    ),
                );
            }
        };
        let granted = if mode == TokenMode::NoAccess {
            Vec::new()
        } else {
            let mut granted = grant(&entry.scopes, user.is_some(), anonymous_pull);
            granted.retain(|a| !(a.kind == "repository" && hidden.contains(&a.name)));
            granted
        };
        let now = now_unix();
        let token = self.mint(user.as_deref().unwrap_or(""), &granted, expires_in, now);
        let body = json!({
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": rfc3339(now),
        })
        .to_string();
        entry.granted = granted;
        entry.token = Some(token);
        (200, body)
    }

    fn client_auth(&self, header: Option<&str>) -> ClientAuth {
        let Some(value) = header else {
            return ClientAuth::Anonymous;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return ClientAuth::Other {
                scheme: scheme.to_owned(),
            };
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return ClientAuth::Other {
                scheme: scheme.to_owned(),
            };
        };
        let accepted = self
            .config
            .user
            .as_ref()
            .is_some_and(|(u, p)| u == user && p == password);
        ClientAuth::Basic {
            user: user.to_owned(),
            accepted,
        }
    }

    fn mint(&self, sub: &str, access: &[Access], expires_in: u64, now: u64) -> String {
        let mut jti = [0u8; 16];
        self.signer.rng.fill(&mut jti).expect("random jti");
        let access: Vec<Value> = access
            .iter()
            .map(|a| json!({"type": a.kind, "name": a.name, "actions": a.actions}))
            .collect();
        let claims = json!({
            "iss": self.config.issuer,
            "sub": sub,
            "aud": self.config.service,
            "exp": now + expires_in,
            "nbf": now,
            "iat": now,
            "jti": hex::encode(jti),
            "access": access,
        });
        self.signer.sign_jwt(&claims)
    }
}

/// What an account may have of the requested scopes: the user gets pull, push and delete on
/// repositories and `*` on `registry:catalog`; anonymous requests get pull on repositories
/// when allowed. Scopes granting nothing are left out.
fn grant(scopes: &[String], user: bool, anonymous_pull: bool) -> Vec<Access> {
    let mut granted = Vec::new();
    for scope in scopes {
        let Some(mut access) = Access::parse_scope(scope) else {
            continue;
        };
        let allowed: &[&str] = match (access.kind.as_str(), user) {
            ("repository", true) => &["pull", "push", "delete", "*"],
            ("repository", false) if anonymous_pull => &["pull"],
            ("registry", true) if access.name == "catalog" => &["*"],
            _ => &[],
        };
        access.actions.retain(|a| allowed.contains(&a.as_str()));
        if !access.actions.is_empty() {
            granted.push(access);
        }
    }
    granted
}

fn error_body(code: &str, message: &str) -> String {
    json!({"errors": [{"code": code, "message": message}]}).to_string()
}

/// The signing key (ECDSA P-256) and its self-signed certificate.
struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl Signer {
    fn generate() -> Signer {
        let key_pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("generate token signing key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("signer params");
        params
            .distinguished_name
            .push(DnType::CommonName, "tug-testkit token signer");
        let cert = params.self_signed(&key_pair).expect("self-sign signer");
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .expect("load token signing key");
        Signer {
            key,
            rng,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
        }
    }

    /// `base64url(header).base64url(claims).base64url(r || s)`.
    fn sign_jwt(&self, claims: &Value) -> String {
        let header = json!({
            "alg": "ES256",
            "typ": "JWT",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("sign token");
        format!("{signing_input}.{}", b64.encode(signature.as_ref()))
    }
}

/// `pki`'s server certificate chain and key, parsed.
pub(crate) fn server_identity(
    pki: &TestPki,
) -> (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("parse server certificate PEM");
    let key =
        PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).expect("parse server key PEM");
    (certs, key)
}

pub(crate) fn server_tls_config(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    let (certs, key) = server_identity(pki);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("TLS server config");
    Arc::new(config)
}

/// Splits a query string into decoded `(key, value)` pairs (`+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The decoded parts of a JWT made by a [`TokenServer`] (no signature check; see
/// [`verify_jwt`]).
#[derive(Debug, Clone)]
pub struct DecodedJwt {
    /// The JOSE header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

/// Decodes a JWT's header and claims.
///
/// # Panics
///
/// If it is not three base64url segments of JSON.
pub fn decode_jwt(token: &str) -> DecodedJwt {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let part = |s: &str| -> Value {
        serde_json::from_slice(&b64.decode(s).expect("base64url JWT part")).expect("JSON JWT part")
    };
    DecodedJwt {
        header: part(parts[0]),
        claims: part(parts[1]),
    }
}

/// Checks a JWT's ES256 signature against the public key of the certificate in its `x5c`
/// header. Returns whether it verifies.
pub fn verify_jwt(token: &str) -> bool {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Some((header, _claims)) = signing_input.split_once('.') else {
        return false;
    };
    let (Ok(signature), Ok(header)) = (b64.decode(signature), b64.decode(header)) else {
        return false;
    };
    let Ok(header) = serde_json::from_slice::<Value>(&header) else {
        return false;
    };
    let Some(cert) = header["x5c"][0]
        .as_str()
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
    else {
        return false;
    };
    let Some(public_key) = spki_ec_point(&cert) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(signing_input.as_bytes(), &signature)
        .is_ok()
}

/// The uncompressed P-256 point (`04 || X || Y`) in a DER certificate: the 65 bytes after
/// the `BIT STRING` header `03 42 00` that follows the `prime256v1` OID.
fn spki_ec_point(cert: &[u8]) -> Option<&[u8]> {
    const PRIME256V1: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let at = cert
        .windows(PRIME256V1.len())
        .position(|w| w == PRIME256V1)?
        + PRIME256V1.len();
    let rest = cert.get(at..)?;
    if rest.get(..3)? != [0x03, 0x42, 0x00] {
        return None;
    }
    rest.get(3..3 + 65)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_at_the_first_and_last_colon() {
        let a = Access::parse_scope("repository:team/app:pull,push").unwrap();
        assert_eq!(a.kind, "repository");
        assert_eq!(a.name, "team/app");
        assert_eq!(a.actions, ["pull", "push"]);
        let b = Access::parse_scope("repository:host:5000/app:pull").unwrap();
        assert_eq!(b.name, "host:5000/app");
        assert_eq!(b.to_scope(), "repository:host:5000/app:pull");
        assert!(Access::parse_scope("repository:app").is_none());
    }

    #[test]
    fn grants_follow_the_account() {
        let scopes = vec![
            "repository:a:pull,push".to_owned(),
            "repository:b:pull".to_owned(),
            "registry:catalog:*".to_owned(),
        ];
        let user = grant(&scopes, true, false);
        assert_eq!(user.len(), 3);
        assert_eq!(user[0].actions, ["pull", "push"]);
        let anonymous = grant(&scopes, false, true);
        assert_eq!(anonymous.len(), 2);
        assert_eq!(anonymous[0].actions, ["pull"]);
        assert!(grant(&scopes, false, false).is_empty());
    }

    #[test]
    fn query_decoding() {
        let pairs =
            parse_query("service=reg%20x&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=x+y&flag");
        assert_eq!(
            pairs,
            [
                ("service".into(), "reg x".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
                ("scope".into(), "x y".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn tokens_are_signed_jwts_with_x5c() {
        let server = TokenServer::start(TokenServerConfig::for_user("u", "p").with_expires_in(7));
        let token = server.issue_token(&["repository:a/b:pull,push"], true);
        assert!(verify_jwt(&token), "signature verifies");
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
        let forged = b64.encode(claims.replace("\"sub\":\"u\"", "\"sub\":\"x\""));
        assert_ne!(forged, parts[1]);
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert!(
            !verify_jwt(&tampered),
            "a changed claim breaks the signature"
        );
        assert!(!verify_jwt("not a jwt"));
        let jwt = decode_jwt(&token);
        assert_eq!(jwt.header["alg"], "ES256");
        assert_eq!(jwt.header["typ"], "JWT");
        let x5c = jwt.header["x5c"][0].as_str().unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(x5c)
                .unwrap(),
            server.signer_cert_der()
        );
        let c = &jwt.claims;
        assert_eq!(c["iss"], DEFAULT_ISSUER);
        assert_eq!(c["aud"], DEFAULT_SERVICE);
        assert_eq!(c["sub"], "u");
        assert_eq!(c["exp"].as_u64().unwrap(), c["iat"].as_u64().unwrap() + 7);
        assert_eq!(c["nbf"], c["iat"]);
        assert_eq!(c["jti"].as_str().unwrap().len(), 32);
        assert_eq!(
            c["access"],
            json!([{"type": "repository", "name": "a/b", "actions": ["pull", "push"]}])
        );
        assert!(server.signer_cert_pem().contains("BEGIN CERTIFICATE"));
    }
}
