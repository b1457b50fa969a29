//! An in-memory Registry V2 that answers the core's requests the way distribution does, with
//! knobs for the behaviours real registries differ in: its token server, blob storage on
//! another host, upload hosts, and scripted [`Fault`]s.
//!
//! [`RegistryModel::handle`] takes one request and its body and gives the [`Reply`] (or a
//! transport failure). It never panics on what a request says, except for one contract a
//! runner relies on ([`RegistryModel::handle`] says which); what a well-behaved client would
//! not send is answered as distribution answers it, and noted in `violations` when it is
//! the client's fault (the drivers of `core/tests` fail on any).

mod api;
mod blob;
mod token;

use std::collections::{HashMap, HashSet, VecDeque};

use tug_core::http::{Request, ResponseHead, TransportError, TransportErrorKind};
use tug_core::{Digest, Instant};

use crate::fault::Fault;

/// Host of the model's blob storage (where blob `GET`s redirect to by default).
pub const STORAGE_HOST: &str = "storage.example";
/// Host of the model's token server (the default realm `http://auth.example/token`).
pub const AUTH_HOST: &str = "auth.example";
/// Host upload sessions live on with [`RegistryModel::foreign_uploads`].
pub const UPLOADS_HOST: &str = "uploads.example";

/// How the model writes `Location` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationStyle {
    Absolute,
    Relative,
    /// Relative, with a `_state` query parameter that must come back unchanged.
    RelativeWithState,
    /// A relative path without a leading `/` (only the session id, with a `_state`):
    /// resolved against the URL the request went to, `…/blobs/uploads/` or the session's.
    PathRelative,
}

/// Settings of the model's token server.
#[derive(Clone, Debug)]
pub struct BearerAuth {
    /// Basic credentials the token server requires (`None`: anonymous tokens).
    pub basic: Option<String>,
    /// `expires_in` of issued tokens.
    pub expires_in: u64,
    /// The refresh token the OAuth2 `POST` accepts (`None`: no OAuth2, `POST` gets 404).
    pub refresh_token: Option<String>,
    /// Issue tokens the registry never accepts.
    pub useless_tokens: bool,
    /// Repositories the account may not read: a mount from one is refused (`401`, as
    /// distribution answers a token without `pull` on the source).
    pub hidden: Vec<String>,
    /// The token server refuses (`403`) a request whose scopes name a hidden repository,
    /// instead of granting the rest.
    pub refuse_hidden_scopes: bool,
}

impl Default for BearerAuth {
    /// Anonymous tokens valid for five minutes.
    fn default() -> Self {
        BearerAuth {
            basic: None,
            expires_in: 300,
            refresh_token: None,
            useless_tokens: false,
            hidden: Vec::new(),
            refuse_hidden_scopes: false,
        }
    }
}

/// The model's answer to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub head: ResponseHead,
    pub body: Vec<u8>,
    /// Break the connection after this many body bytes (a driver obeys).
    pub cut: Option<usize>,
}

impl Reply {
    /// A reply with this head and body.
    pub fn new(head: ResponseHead, body: Vec<u8>) -> Reply {
        Reply {
            head,
            body,
            cut: None,
        }
    }

    /// A reply with no body.
    pub fn head(head: ResponseHead) -> Reply {
        Reply::new(head, Vec::new())
    }
}

/// What the model answers: a reply, or a failure below HTTP.
pub type Answer = Result<Reply, TransportError>;

pub struct RegistryModel {
    /// The registry's `host[:port]`, when only that one is the registry (other hosts but
    /// the token, storage and upload hosts get `404 NAME_UNKNOWN`); `None`: any host.
    pub host: Option<String>,
    pub blobs: HashMap<String, Vec<u8>>,
    /// Manifests under `repo:reference` (tag or digest): bytes and media type (empty: no
    /// `Content-Type`).
    pub manifests: HashMap<String, (Vec<u8>, String)>,
    pub uploads: HashMap<String, Vec<u8>>,
    pub next_upload: u64,
    /// Upload sessions whose `Location` carried a `_state` that must come back.
    pub stated_uploads: HashSet<String>,
    pub location_style: LocationStyle,
    pub min_chunk: Option<u64>,
    /// `Authorization` value required on every request, when set.
    pub required_auth: Option<String>,
    /// Answer HTTPS requests with a TLS error (a plain-HTTP server).
    pub plain_http_only: bool,
    /// When set, PATCH accepts only this many bytes of each chunk and reports the short Range.
    pub short_accept: Option<u64>,
    /// Answer manifest PUTs with this `Docker-Content-Digest` instead of the right one.
    pub wrong_manifest_digest: Option<String>,
    /// Answer manifest GETs with this `Docker-Content-Digest` instead of the right one.
    pub lying_manifest_digest: Option<String>,
    /// Answer a blob range from byte `a` with bytes from `a - this` on (0: as asked).
    pub ranges_start_early_by: u64,
    /// Scripted failures, see [`Fault`].
    pub faults: VecDeque<Fault>,
    /// Every request as `METHOD path?query`.
    pub log: Vec<String>,
    pub patch_sizes: Vec<u64>,
    /// Blobs served with one byte flipped.
    pub corrupt_blobs: Vec<String>,
    /// Answer blob GETs with a 307 to `<redirect_base>/<digest>`, which this model also
    /// serves (and which, on another host, must never see an `Authorization` header).
    pub redirect_blobs: bool,
    /// Break the connection after this many body bytes of the next blob GET.
    pub cut_next_blob_after: Option<usize>,
    /// Cut every blob response after this many body bytes (a link that keeps breaking).
    pub cut_every_blob_after: Option<usize>,
    /// When set, a blob exists in a repository only once pushed or mounted there, as in
    /// distribution; `links` holds `repo@digest`.
    pub repo_scoped: bool,
    /// Answers every mount `201` without mounting anything (a registry that lies).
    pub lying_mounts: bool,
    /// Bearer token auth: a token server at the realm (default `http://auth.example/token`).
    pub bearer: Option<BearerAuth>,
    /// Tokens the token server issued and the registry accepts (until they expire).
    pub valid_tokens: Vec<String>,
    /// When each issued token expires (`expires_in` after it was issued).
    pub token_expiry: HashMap<String, Instant>,
    /// The model's clock, for token expiry: the driver sets it before every request.
    pub now: Instant,
    /// Every token request: its `Authorization` header (if any) and its scopes.
    pub token_requests: Vec<(Option<String>, Vec<String>)>,
    /// Every OAuth2 token request's form.
    pub oauth_requests: Vec<HashMap<String, String>>,
    /// Forget every issued token after this many more registry requests.
    pub revoke_tokens_after: Option<usize>,
    /// Answer every PATCH with this status (a registry without chunked uploads).
    pub patch_status: Option<u16>,
    /// Answer 413 to request bodies longer than this (a proxy's body limit).
    pub body_cap: Option<usize>,
    /// Bodies over `body_cap` break the connection instead of getting a `413`.
    pub body_cap_resets: bool,
    /// Closing upload `PUT`s whose blob is committed but whose answer is lost (the
    /// connection breaks after the registry acted).
    pub lose_close_answers: usize,
    /// Forget the first of these blobs when a manifest arrives, the next one at the next
    /// manifest, … (a racing client's upload or a cleanup lost it after the push confirmed it).
    pub lose_blobs_before_manifests: Vec<String>,
    /// Added to the last byte of every PATCH answer's `Range` (stale or off-by-one reports),
    /// for the next `range_skew_count` answers.
    pub range_skew: i64,
    pub range_skew_count: usize,
    /// Answer ranged blob requests with the whole blob (200), as some servers do.
    pub ignore_ranges: bool,
    /// Answer ranged blob requests `416` with the blob's whole length (`bytes */SIZE`), as
    /// a server or cache that serves no ranges may.
    pub refuse_ranges: bool,
    pub links: HashSet<String>,
    /// The realm the registry's Bearer challenge names (default `http://auth.example/token`);
    /// any host named here serves tokens as `auth.example` does.
    pub realm: Option<String>,
    /// Where blob GETs redirect to, when `redirect_blobs` (default `http://storage.example`);
    /// the digest is appended as the last path segment. A path (`/storage`) redirects to
    /// the registry itself, which serves blobs there too.
    pub redirect_base: Option<String>,
    /// Blob storage and upload hosts answer every request with `401` and this challenge
    /// (a hostile or misconfigured host naming its own realm).
    pub foreign_challenge: Option<String>,
    /// Upload sessions live on `http://uploads.example` (absolute `Location`s there).
    pub foreign_uploads: bool,
    /// Every request as its origin (`scheme://host:port`) and its `Authorization` header.
    pub seen: Vec<(String, Option<String>)>,
    /// The origins of requests the core marked [`tug_core::http::Request::to_registry`]
    /// (those a client certificate may go to).
    pub identified: Vec<String>,
    /// What a client did that distribution would refuse and a correct client never does
    /// (an upload URL's `_state` not sent back unchanged): answered `400`, noted here.
    pub violations: Vec<String>,
    /// Answer the `PUT` of a manifest with a `subject` with `OCI-Subject`, and
    /// `GET /v2/<name>/referrers/<digest>`, as a registry with the OCI 1.1 referrers API
    /// does (without it, that path is a `404`).
    pub referrers_api: bool,
}

impl Default for RegistryModel {
    fn default() -> Self {
        RegistryModel {
            host: None,
            blobs: HashMap::new(),
            manifests: HashMap::new(),
            uploads: HashMap::new(),
            next_upload: 0,
            stated_uploads: HashSet::new(),
            location_style: LocationStyle::Absolute,
            min_chunk: None,
            required_auth: None,
            plain_http_only: false,
            short_accept: None,
            wrong_manifest_digest: None,
            lying_manifest_digest: None,
            ranges_start_early_by: 0,
            faults: VecDeque::new(),
            log: Vec::new(),
            patch_sizes: Vec::new(),
            corrupt_blobs: Vec::new(),
            redirect_blobs: false,
            cut_next_blob_after: None,
            cut_every_blob_after: None,
            repo_scoped: false,
            lying_mounts: false,
            ignore_ranges: false,
            refuse_ranges: false,
            patch_status: None,
            body_cap: None,
            body_cap_resets: false,
            lose_close_answers: 0,
            lose_blobs_before_manifests: Vec::new(),
            range_skew: 0,
            range_skew_count: 0,
            bearer: None,
            valid_tokens: Vec::new(),
            token_expiry: HashMap::new(),
            now: Instant::ZERO,
            token_requests: Vec::new(),
            oauth_requests: Vec::new(),
            revoke_tokens_after: None,
            links: HashSet::new(),
            realm: None,
            redirect_base: None,
            foreign_challenge: None,
            foreign_uploads: false,
            seen: Vec::new(),
            identified: Vec::new(),
            violations: Vec::new(),
            referrers_api: false,
        }
    }
}

/// A registry error body (`{"errors":[…]}`) with one error.
pub(crate) fn error_body(code: &str, message: &str) -> Vec<u8> {
    let error = serde_json::json!({"code": code, "message": message, "detail": null});
    serde_json::json!({ "errors": [error] })
        .to_string()
        .into_bytes()
}

/// A reply with `status` and a registry error body.
pub(crate) fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        ResponseHead::new(status).with_header("Content-Type", "application/json"),
        error_body(code, message),
    )
}

/// The `Authorization` value of HTTP Basic authentication with these credentials.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A request header's value as text, if it has one.
pub(crate) fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

impl RegistryModel {
    /// A model answering only for `host` (`host[:port]`).
    pub fn at(host: &str) -> RegistryModel {
        RegistryModel {
            host: Some(host.to_owned()),
            ..RegistryModel::default()
        }
    }

    /// How many logged requests start with `prefix` (`"PATCH"`, `"HEAD /v2/team/app/blobs"`).
    pub fn count(&self, prefix: &str) -> usize {
        self.log.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Queues a scripted failure.
    pub fn fault(&mut self, fault: Fault) -> &mut Self {
        self.faults.push_back(fault);
        self
    }

    /// Stores a blob as if pushed to every repository.
    pub fn put_blob(&mut self, data: &[u8]) -> Digest {
        let digest = Digest::sha256_of(data);
        self.blobs.insert(digest.to_string(), data.to_vec());
        digest
    }

    /// Stores a manifest as if pushed, under `repo:reference` and `repo:digest`.
    pub fn put_manifest(&mut self, repo: &str, reference: &str, bytes: &[u8], media_type: &str) {
        let entry = (bytes.to_vec(), media_type.to_owned());
        self.manifests.insert(
            format!("{repo}:{}", Digest::sha256_of(bytes)),
            entry.clone(),
        );
        self.manifests.insert(format!("{repo}:{reference}"), entry);
    }

    /// Whether `url` is the model's blob storage on a host of its own (where
    /// `Authorization` must never go).
    pub fn is_foreign_storage(&self, url: &url::Url) -> bool {
        url.host_str() == Some(STORAGE_HOST) && !self.is_registry(url)
    }

    /// Whether `url` is on the registry's host (without [`RegistryModel::host`]: any host
    /// but the token server's, blob storage's and the upload host's).
    fn is_registry(&self, url: &url::Url) -> bool {
        let name = url.host_str().unwrap_or("");
        let Some(host) = &self.host else {
            return ![STORAGE_HOST, AUTH_HOST, UPLOADS_HOST].contains(&name);
        };
        let with_port = match url.port() {
            Some(p) => format!("{name}:{p}"),
            None => name.to_owned(),
        };
        with_port.eq_ignore_ascii_case(host) || name.eq_ignore_ascii_case(host)
    }

    /// Answers `req`, whose body is `body`, as the registry (or its token server, blob
    /// storage or upload host) would.
    ///
    /// # Panics
    ///
    /// When `Authorization` is sent to blob storage on another host: credentials must
    /// never leave the registry for a host the registry only redirected to.
    pub fn handle(&mut self, req: &Request, body: &[u8]) -> Answer {
        let path = req.url.path().to_owned();
        let query = req.url.query().map(|q| format!("?{q}")).unwrap_or_default();
        self.log.push(format!("{} {path}{query}", req.method));
        let authorization = header(req, "authorization").map(str::to_owned);
        self.seen
            .push((req.url.origin().ascii_serialization(), authorization));
        if req.to_registry {
            self.identified.push(req.url.origin().ascii_serialization());
        }
        let host = req.url.host_str().unwrap_or("").to_owned();
        if let (Some(challenge), STORAGE_HOST | UPLOADS_HOST) =
            (&self.foreign_challenge, host.as_str())
        {
            let head = ResponseHead::new(401).with_header("WWW-Authenticate", challenge);
            return Ok(Reply::new(
                head,
                error_body("UNAUTHORIZED", "authentication required"),
            ));
        }
        if self.is_realm(&req.url) || host == AUTH_HOST {
            // Faults aimed at the token server (their path names it) strike it too.
            if let Some(answer) = self.scripted_token(req) {
                return answer;
            }
        }
        if self.is_realm(&req.url) {
            return Ok(self.token_server(req, body));
        }
        if self.plain_http_only && req.url.scheme() == "https" {
            return Err(TransportError {
                kind: TransportErrorKind::NotTls,
                message: "received corrupt message of type InvalidContentType".into(),
            });
        }
        if let Some(answer) = self.scripted(req) {
            return answer;
        }
        if self.is_foreign_storage(&req.url) {
            assert!(
                req.headers.get("authorization").is_none(),
                "contract: Authorization sent to blob storage on another host: {}",
                req.url
            );
            let digest = path.rsplit('/').next().unwrap_or("");
            return Ok(self.serve_blob(digest, req));
        }
        if host == AUTH_HOST {
            return Ok(self.token_server(req, body));
        }
        if !self.is_registry(&req.url) && host != UPLOADS_HOST {
            return Ok(error_reply(404, "NAME_UNKNOWN", "no registry on this host"));
        }
        self.tick_revocation();
        if let Some(refused) = self.refuse_unauthorized(req, &path) {
            return Ok(refused);
        }
        if let Some(cap) = self.body_cap {
            if body.len() > cap && self.body_cap_resets {
                return Err(TransportError {
                    kind: TransportErrorKind::Io,
                    message: "connection reset by peer".into(),
                });
            }
            if body.len() > cap {
                return Ok(Reply::new(
                    ResponseHead::new(413),
                    b"<html>413 Request Entity Too Large</html>".to_vec(),
                ));
            }
        }
        let closing = req.method == tug_core::http::Method::PUT && path.contains("/blobs/uploads/");
        let reply = self.api(req, &path, body);
        if closing && reply.head.status.as_u16() == 201 && self.lose_close_answers > 0 {
            self.lose_close_answers -= 1;
            return Err(TransportError {
                kind: TransportErrorKind::Io,
                message: "connection reset by peer (after the registry acted)".into(),
            });
        }
        Ok(reply)
    }

    /// The first queued fault that matches `req`, if it is due: its answer.
    /// [`RegistryModel::scripted`] for a token request: only faults whose path names
    /// `token`.
    fn scripted_token(&mut self, req: &Request) -> Option<Answer> {
        let aimed = self
            .faults
            .iter()
            .any(|f| f.path_contains.contains("token") && f.matches(req, req.url.path()));
        match aimed {
            true => self.scripted(req),
            false => None,
        }
    }

    fn scripted(&mut self, req: &Request) -> Option<Answer> {
        let path = req.url.path();
        let pos = self.faults.iter().position(|f| f.matches(req, path))?;
        if self.faults[pos].after > 0 {
            self.faults[pos].after -= 1;
            return None;
        }
        let fault = self.faults.remove(pos)?;
        if fault.forget_uploads {
            self.uploads.clear();
        }
        Some(fault.answer())
    }

    /// The `Location` of upload session `id` of repository `repo`.
    fn location_for(&self, repo: &str, id: &str) -> String {
        let path = format!("/v2/{repo}/blobs/uploads/{id}");
        match self.location_style {
            _ if self.foreign_uploads => format!("http://{UPLOADS_HOST}{path}"),
            LocationStyle::Absolute => format!("http://127.0.0.1:5000{path}"),
            LocationStyle::Relative => path,
            LocationStyle::RelativeWithState => format!("{path}?_state=st%2B{id}%3D%3D"),
            LocationStyle::PathRelative => format!("{id}?_state=st%2B{id}%3D%3D"),
        }
    }

    /// Whether an upload request to session `id` carries the `_state` the model gave out
    /// with it (sessions it gave none, or made without a `POST`, need none): if not, notes a
    /// violation.
    fn state_ok(&mut self, req: &Request, id: &str) -> bool {
        if !self.stated_uploads.contains(id) {
            return true;
        }
        let state = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "_state")
            .map(|(_, v)| v.into_owned());
        let ok = state.as_deref() == Some(format!("st+{id}==").as_str());
        if !ok {
            self.violations.push(format!(
                "the _state query parameter did not come back unchanged: {}",
                req.url
            ));
        }
        ok
    }
}
