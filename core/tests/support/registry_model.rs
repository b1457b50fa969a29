//! An in-memory Registry V2 that answers the core's requests the way distribution does,
//! with knobs for the behaviours real registries differ in.

use std::collections::{HashMap, VecDeque};

use tug_core::http::{Method, Request, ResponseHead, TransportError, TransportErrorKind};
use tug_core::Digest;

/// How the model writes `Location` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationStyle {
    Absolute,
    Relative,
    /// Relative, with a `_state` query parameter that must come back unchanged.
    RelativeWithState,
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
}

/// A scripted failure: the next request whose method and path match gets `status`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Method,
    pub path_contains: String,
    pub response: Result<u16, TransportErrorKind>,
    pub extra_headers: Vec<(String, String)>,
    /// Also forget every upload session (the registry restarted or expired them).
    pub forget_uploads: bool,
    /// Let this many matching requests through before failing one.
    pub after: usize,
}

pub struct RegistryModel {
    pub blobs: HashMap<String, Vec<u8>>,
    pub manifests: HashMap<String, (Vec<u8>, String)>,
    pub uploads: HashMap<String, Vec<u8>>,
    pub next_upload: u64,
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
    pub faults: VecDeque<Fault>,
    /// Every request as `METHOD path?query`.
    pub log: Vec<String>,
    pub patch_sizes: Vec<u64>,
    /// Blobs served with one byte flipped.
    pub corrupt_blobs: Vec<String>,
    /// Answer blob GETs with a 307 to `http://storage.example/<digest>`, which this model
    /// also serves (and which must never see an `Authorization` header).
    pub redirect_blobs: bool,
    /// Break the connection after this many body bytes of the next blob GET.
    pub cut_next_blob_after: Option<usize>,
    /// Set by the answer that must break after this many body bytes (the driver obeys).
    pub pending_cut: Option<usize>,
    /// When set, a blob exists in a repository only once pushed or mounted there, as in
    /// distribution; `links` holds `repo@digest`.
    pub repo_scoped: bool,
    /// Bearer token auth: a token server at `http://auth.example/token`.
    pub bearer: Option<BearerAuth>,
    /// Tokens the token server issued and the registry accepts.
    pub valid_tokens: Vec<String>,
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
    /// Forget the first of these blobs when a manifest arrives, the next one at the next
    /// manifest, … (a racing client's upload or a cleanup lost it after the push confirmed it).
    pub lose_blobs_before_manifests: Vec<String>,
    /// Added to the last byte of every PATCH answer's `Range` (stale or off-by-one reports),
    /// for the next `range_skew_count` answers.
    pub range_skew: i64,
    pub range_skew_count: usize,
    /// Answer ranged blob requests with the whole blob (200), as some servers do.
    pub ignore_ranges: bool,
    pub links: std::collections::HashSet<String>,
    /// The realm the registry's Bearer challenge names (default `http://auth.example/token`);
    /// any host named here serves tokens as `auth.example` does.
    pub realm: Option<String>,
    /// Where blob GETs redirect to, when `redirect_blobs` (default `http://storage.example`);
    /// the digest is appended as the last path segment.
    pub redirect_base: Option<String>,
    /// Blob storage and upload hosts answer every request with `401` and this challenge
    /// (a hostile or misconfigured host naming its own realm).
    pub foreign_challenge: Option<String>,
    /// Upload sessions live on `http://uploads.example` (absolute `Location`s there).
    pub foreign_uploads: bool,
    /// Every request as its origin (`scheme://host:port`) and its `Authorization` header.
    pub seen: Vec<(String, Option<String>)>,
}

impl Default for RegistryModel {
    fn default() -> Self {
        RegistryModel {
            blobs: HashMap::new(),
            manifests: HashMap::new(),
            uploads: HashMap::new(),
            next_upload: 0,
            location_style: LocationStyle::Absolute,
            min_chunk: None,
            required_auth: None,
            plain_http_only: false,
            short_accept: None,
            wrong_manifest_digest: None,
            faults: VecDeque::new(),
            log: Vec::new(),
            patch_sizes: Vec::new(),
            corrupt_blobs: Vec::new(),
            redirect_blobs: false,
            cut_next_blob_after: None,
            pending_cut: None,
            repo_scoped: false,
            ignore_ranges: false,
            patch_status: None,
            body_cap: None,
            body_cap_resets: false,
            lose_blobs_before_manifests: Vec::new(),
            range_skew: 0,
            range_skew_count: 0,
            bearer: None,
            valid_tokens: Vec::new(),
            token_requests: Vec::new(),
            oauth_requests: Vec::new(),
            revoke_tokens_after: None,
            links: std::collections::HashSet::new(),
            realm: None,
            redirect_base: None,
            foreign_challenge: None,
            foreign_uploads: false,
            seen: Vec::new(),
        }
    }
}

type Answer = Result<(ResponseHead, Vec<u8>), TransportError>;

fn error_body(code: &str, message: &str) -> Vec<u8> {
    format!(r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}"#)
        .into_bytes()
}

impl RegistryModel {
    pub fn count(&self, prefix: &str) -> usize {
        self.log.iter().filter(|l| l.starts_with(prefix)).count()
    }

    pub fn handle(&mut self, req: &Request, body: &[u8]) -> Answer {
        let path = req.url.path().to_owned();
        let query = req.url.query().map(|q| format!("?{q}")).unwrap_or_default();
        self.log.push(format!("{} {path}{query}", req.method));
        let authorization = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.seen
            .push((req.url.origin().ascii_serialization(), authorization));
        let host = req.url.host_str().unwrap_or("");
        if let (Some(challenge), "storage.example" | "uploads.example") =
            (&self.foreign_challenge, host)
        {
            let head = ResponseHead::new(401).with_header("WWW-Authenticate", challenge);
            return Ok((head, error_body("UNAUTHORIZED", "authentication required")));
        }
        if self
            .realm
            .as_deref()
            .is_some_and(|r| url::Url::parse(r).is_ok_and(|r| r.origin() == req.url.origin()))
        {
            return Ok(self.token_server(req, body));
        }
        if self.plain_http_only && req.url.scheme() == "https" {
            return Err(TransportError {
                kind: TransportErrorKind::NotTls,
                message: "received corrupt message of type InvalidContentType".into(),
            });
        }
        let matching = self
            .faults
            .iter()
            .position(|f| f.method == req.method && path.contains(&f.path_contains));
        if let Some(f) = matching
            .and_then(|i| self.faults.get_mut(i))
            .filter(|f| f.after > 0)
        {
            f.after -= 1;
        } else if let Some(pos) = matching {
            let fault = self.faults.remove(pos).unwrap();
            if fault.forget_uploads {
                self.uploads.clear();
            }
            return match fault.response {
                Ok(status) => {
                    let mut head = ResponseHead::new(status);
                    for (n, v) in &fault.extra_headers {
                        head = head.with_header(n, v);
                    }
                    Ok((head, error_body("UNAVAILABLE", "scripted failure")))
                }
                Err(kind) => Err(TransportError {
                    kind,
                    message: "scripted transport failure".into(),
                }),
            };
        }
        if req.url.host_str() == Some("storage.example") {
            assert!(
                req.headers.get("authorization").is_none(),
                "Authorization must not be sent to blob storage on another host"
            );
            let digest = path.trim_start_matches('/');
            return self.serve_blob(digest, req);
        }
        if req.url.host_str() == Some("auth.example") {
            return Ok(self.token_server(req, body));
        }
        if let Some(n) = self.revoke_tokens_after.as_mut() {
            if *n == 0 {
                self.valid_tokens.clear();
                self.revoke_tokens_after = None;
            } else {
                *n -= 1;
            }
        }
        if self.bearer.is_some() {
            let got = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            let ok = got
                .and_then(|g| g.strip_prefix("Bearer "))
                .is_some_and(|t| self.valid_tokens.iter().any(|v| v == t));
            if !ok {
                let realm = self.realm.as_deref().unwrap_or("http://auth.example/token");
                // As distribution: the version check's challenge names no scope.
                let scope = if path == "/v2/" {
                    ""
                } else {
                    r#","scope="repository:team/app:pull""#
                };
                let head = ResponseHead::new(401).with_header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="{realm}",service="registry.example"{scope}"#),
                );
                return Ok((head, error_body("UNAUTHORIZED", "authentication required")));
            }
        }
        if let Some(expected) = &self.required_auth {
            let got = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if got != Some(expected.as_str()) {
                let head = ResponseHead::new(401)
                    .with_header("WWW-Authenticate", r#"Basic realm="Registry Realm""#);
                return Ok((head, error_body("UNAUTHORIZED", "authentication required")));
            }
        }
        if let Some(cap) = self.body_cap {
            if body.len() > cap && self.body_cap_resets {
                return Err(TransportError {
                    kind: TransportErrorKind::Io,
                    message: "connection reset by peer".into(),
                });
            }
            if body.len() > cap {
                return Ok((
                    ResponseHead::new(413),
                    b"<html>413 Request Entity Too Large</html>".to_vec(),
                ));
            }
        }
        if let (Some(status), true) = (self.patch_status, req.method == Method::PATCH) {
            return Ok((
                ResponseHead::new(status),
                error_body("UNSUPPORTED", "chunked upload unsupported"),
            ));
        }
        let parts: Vec<&str> = path.trim_start_matches("/v2/").split('/').collect();
        if path == "/v2/" {
            return Ok((ResponseHead::new(200), b"{}".to_vec()));
        }
        let blobs_at = parts.iter().position(|p| *p == "blobs");
        let manifests_at = parts.iter().position(|p| *p == "manifests");
        match (req.method.as_str(), blobs_at, manifests_at) {
            ("HEAD", Some(i), _) => {
                let digest = parts.get(i + 1).copied().unwrap_or("");
                let repo = parts[..i].join("/");
                if self.repo_scoped && !self.links.contains(&format!("{repo}@{digest}")) {
                    return Ok((ResponseHead::new(404), Vec::new()));
                }
                match self.blobs.get(digest) {
                    Some(b) => Ok((
                        ResponseHead::new(200).with_header("Content-Length", &b.len().to_string()),
                        Vec::new(),
                    )),
                    None => Ok((ResponseHead::new(404), Vec::new())),
                }
            }
            ("GET", Some(i), _) if parts.get(i + 1) == Some(&"uploads") => {
                let id = parts.get(i + 2).copied().unwrap_or("").to_owned();
                let Some(upload) = self.uploads.get(&id) else {
                    let body = error_body("BLOB_UPLOAD_UNKNOWN", "upload unknown");
                    return Ok((ResponseHead::new(404), body));
                };
                let last = upload.len().saturating_sub(1);
                let head = ResponseHead::new(204)
                    .with_header("Range", &format!("0-{last}"))
                    .with_header("Location", &self.location_for(&parts[..i], &id));
                Ok((head, Vec::new()))
            }
            ("GET", Some(i), _) => {
                let digest = parts.get(i + 1).copied().unwrap_or("");
                if self.redirect_blobs {
                    let base = self
                        .redirect_base
                        .as_deref()
                        .unwrap_or("http://storage.example");
                    let head =
                        ResponseHead::new(307).with_header("Location", &format!("{base}/{digest}"));
                    return Ok((head, Vec::new()));
                }
                self.serve_blob(digest, req)
            }
            ("GET", None, Some(i)) => {
                let reference = parts.get(i + 1).copied().unwrap_or("");
                let repo = parts[..i].join("/");
                match self.manifests.get(&format!("{repo}:{reference}")) {
                    Some((bytes, media_type)) => {
                        let head = ResponseHead::new(200)
                            .with_header("Content-Type", media_type)
                            .with_header(
                                "Docker-Content-Digest",
                                &Digest::sha256_of(bytes).to_string(),
                            );
                        Ok((head, bytes.clone()))
                    }
                    None => Ok((
                        ResponseHead::new(404),
                        error_body("MANIFEST_UNKNOWN", "manifest unknown"),
                    )),
                }
            }
            ("POST", Some(i), _) if parts.get(i + 1) == Some(&"uploads") => {
                let repo = parts[..i].join("/");
                let pairs: HashMap<String, String> = req
                    .url
                    .query_pairs()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect();
                if let (Some(d), Some(from)) = (pairs.get("mount"), pairs.get("from")) {
                    let linked = !self.repo_scoped || self.links.contains(&format!("{from}@{d}"));
                    if linked && self.blobs.contains_key(d) {
                        self.links.insert(format!("{repo}@{d}"));
                        let head = ResponseHead::new(201)
                            .with_header("Location", &format!("/v2/{repo}/blobs/{d}"))
                            .with_header("Docker-Content-Digest", d);
                        return Ok((head, Vec::new()));
                    }
                }
                let id = format!("u{}", self.next_upload);
                self.next_upload += 1;
                self.uploads.insert(id.clone(), Vec::new());
                let mut head = ResponseHead::new(202)
                    .with_header("Location", &self.location_for(&parts[..i], &id))
                    .with_header("Range", "0-0")
                    .with_header("Docker-Upload-UUID", &id);
                if let Some(min) = self.min_chunk {
                    head = head.with_header("OCI-Chunk-Min-Length", &min.to_string());
                }
                Ok((head, Vec::new()))
            }
            ("PATCH", Some(i), _) => {
                let id = parts.get(i + 2).copied().unwrap_or("").to_owned();
                self.check_state(req);
                let Some(upload) = self.uploads.get_mut(&id) else {
                    return Ok((
                        ResponseHead::new(404),
                        error_body("BLOB_UPLOAD_UNKNOWN", "upload unknown"),
                    ));
                };
                let range = req
                    .headers
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let start: u64 = range
                    .split('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u64::MAX);
                if start != upload.len() as u64 {
                    return Ok((
                        ResponseHead::new(416),
                        error_body("BLOB_UPLOAD_INVALID", "bad range"),
                    ));
                }
                self.patch_sizes.push(body.len() as u64);
                let accept = self
                    .short_accept
                    .map_or(body.len(), |n| (n as usize).min(body.len()));
                self.short_accept = None;
                upload.extend_from_slice(&body[..accept]);
                let mut last = upload.len().saturating_sub(1) as i128;
                if self.range_skew_count > 0 {
                    self.range_skew_count -= 1;
                    last += i128::from(self.range_skew);
                    if self.range_skew == i64::MAX {
                        last = i128::from(u64::MAX);
                    }
                }
                let last = last.clamp(0, i128::from(u64::MAX)) as u64;
                let prefix = parts[..i].join("/");
                let head = ResponseHead::new(202)
                    .with_header("Location", &self.location_for(&[prefix.as_str()], &id))
                    .with_header("Range", &format!("0-{last}"));
                Ok((head, Vec::new()))
            }
            ("PUT", Some(i), _) => {
                let id = parts.get(i + 2).copied().unwrap_or("").to_owned();
                self.check_state(req);
                let digest = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "digest")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let Some(mut data) = self.uploads.remove(&id) else {
                    return Ok((
                        ResponseHead::new(404),
                        error_body("BLOB_UPLOAD_UNKNOWN", "upload unknown"),
                    ));
                };
                data.extend_from_slice(body);
                if Digest::sha256_of(&data).to_string() != digest {
                    return Ok((
                        ResponseHead::new(400),
                        error_body(
                            "DIGEST_INVALID",
                            "provided digest did not match uploaded content",
                        ),
                    ));
                }
                self.links
                    .insert(format!("{}@{digest}", parts[..i].join("/")));
                self.blobs.insert(digest.clone(), data);
                let head = ResponseHead::new(201)
                    .with_header("Docker-Content-Digest", &digest)
                    .with_header(
                        "Location",
                        &format!("/v2/{}/blobs/{digest}", parts[..i].join("/")),
                    );
                Ok((head, Vec::new()))
            }
            ("PUT", None, Some(i)) => {
                let reference = parts.get(i + 1).copied().unwrap_or("").to_owned();
                let media_type = req
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let manifest: serde_json::Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(_) => {
                        return Ok((
                            ResponseHead::new(400),
                            error_body("MANIFEST_INVALID", "bad json"),
                        ))
                    }
                };
                let repo = parts[..i].join("/");
                if !self.lose_blobs_before_manifests.is_empty() {
                    let lost = self.lose_blobs_before_manifests.remove(0);
                    self.blobs.remove(&lost);
                }
                if let Some(children) = manifest["manifests"].as_array() {
                    for c in children {
                        let key = format!("{repo}:{}", c["digest"].as_str().unwrap_or(""));
                        if !self.manifests.contains_key(&key) {
                            let body = error_body("MANIFEST_UNKNOWN", &key);
                            return Ok((ResponseHead::new(400), body));
                        }
                    }
                } else {
                    let config = manifest["config"]["digest"].as_str().unwrap_or("");
                    let mut wanted = vec![config.to_owned()];
                    for l in manifest["layers"].as_array().into_iter().flatten() {
                        wanted.push(l["digest"].as_str().unwrap_or("").to_owned());
                    }
                    if let Some(missing) = wanted.iter().find(|d| !self.blobs.contains_key(*d)) {
                        let body = error_body("MANIFEST_BLOB_UNKNOWN", missing);
                        return Ok((ResponseHead::new(400), body));
                    }
                }
                let digest = self
                    .wrong_manifest_digest
                    .clone()
                    .unwrap_or_else(|| Digest::sha256_of(body).to_string());
                self.manifests
                    .insert(format!("{repo}:{reference}"), (body.to_vec(), media_type));
                Ok((
                    ResponseHead::new(201).with_header("Docker-Content-Digest", &digest),
                    Vec::new(),
                ))
            }
            _ => Ok((ResponseHead::new(404), b"404 page not found\n".to_vec())),
        }
    }

    fn serve_blob(&mut self, digest: &str, req: &Request) -> Answer {
        let Some(mut data) = self.blobs.get(digest).cloned() else {
            return Ok((
                ResponseHead::new(404),
                error_body("BLOB_UNKNOWN", "blob unknown to registry"),
            ));
        };
        if self.corrupt_blobs.iter().any(|d| d == digest) {
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
        }
        self.pending_cut = self.cut_next_blob_after.take();
        let range = req
            .headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.split_once('-'))
            .and_then(|(a, b)| {
                // `bytes=a-b`, or open-ended `bytes=a-`.
                let last = if b.is_empty() {
                    usize::MAX
                } else {
                    b.parse::<usize>().ok()?
                };
                Some((a.parse::<usize>().ok()?, last))
            });
        if let (Some((a, b)), false) = (range, self.ignore_ranges) {
            let b = b.min(data.len().saturating_sub(1));
            let part = data.get(a..=b).unwrap_or_default().to_vec();
            let head = ResponseHead::new(206)
                .with_header("Content-Range", &format!("bytes {a}-{b}/{}", data.len()))
                .with_header("Content-Length", &part.len().to_string());
            return Ok((head, part));
        }
        let head = ResponseHead::new(200).with_header("Content-Length", &data.len().to_string());
        Ok((head, data))
    }

    fn token_server(&mut self, req: &Request, body: &[u8]) -> (ResponseHead, Vec<u8>) {
        if req.method == Method::POST {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(body).into_owned().collect();
            self.oauth_requests.push(form.clone());
            let Some(expected) = self.bearer.as_ref().and_then(|b| b.refresh_token.clone()) else {
                return (ResponseHead::new(404), Vec::new());
            };
            if form.get("grant_type").map(String::as_str) != Some("refresh_token")
                || form.get("refresh_token") != Some(&expected)
            {
                return (
                    ResponseHead::new(401),
                    error_body("UNAUTHORIZED", "bad refresh token"),
                );
            }
            let token = format!("oauth-{}", self.oauth_requests.len());
            self.valid_tokens.push(token.clone());
            let body = format!(r#"{{"access_token":"{token}","expires_in":300}}"#);
            return (ResponseHead::new(200), body.into_bytes());
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let scopes: Vec<String> = req
            .url
            .query_pairs()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
        self.token_requests.push((auth.clone(), scopes));
        let Some(bearer) = self.bearer.clone() else {
            return (ResponseHead::new(404), Vec::new());
        };
        if let Some(required) = &bearer.basic {
            if auth.as_deref() != Some(required.as_str()) {
                return (
                    ResponseHead::new(401),
                    error_body("UNAUTHORIZED", "bad credentials"),
                );
            }
        }
        let token = format!("tok-{}", self.token_requests.len());
        if !bearer.useless_tokens {
            self.valid_tokens.push(token.clone());
        }
        let body = format!(
            r#"{{"token":"{token}","expires_in":{}}}"#,
            bearer.expires_in
        );
        (ResponseHead::new(200), body.into_bytes())
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

    fn location_for(&self, repo_parts: &[&str], id: &str) -> String {
        let path = format!("/v2/{}/blobs/uploads/{id}", repo_parts.join("/"));
        match self.location_style {
            _ if self.foreign_uploads => format!("http://uploads.example{path}"),
            LocationStyle::Absolute => format!("http://127.0.0.1:5000{path}"),
            LocationStyle::Relative => path,
            LocationStyle::RelativeWithState => format!("{path}?_state=st%2B{id}%3D%3D"),
        }
    }

    fn check_state(&self, req: &Request) {
        if self.location_style == LocationStyle::RelativeWithState {
            let state = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "_state")
                .map(|(_, v)| v.into_owned());
            assert!(
                state
                    .as_deref()
                    .is_some_and(|s| s.starts_with("st+u") && s.ends_with("==")),
                "the _state query parameter must come back unchanged: {}",
                req.url
            );
        }
    }
}
