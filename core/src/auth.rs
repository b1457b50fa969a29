//! Registry authentication: answers `401` challenges and decorates requests.
//!
//! - `Basic`: the user's credentials, sent to the registry's own origin only (scheme, host
//!   and port: never to blob storage or an upload host it redirects to, never over plain
//!   HTTP to a registry reached over HTTPS).
//! - `Bearer`: a token from the challenge's realm (`GET realm?service=…&scope=…`, with the
//!   user's credentials as Basic if any, anonymous otherwise), cached with its expiry and
//!   refreshed before it runs out; a `401` with a token that used to work fetches a new one,
//!   a `401` with a fresh token is final.
//!
//! Only a `401` from the registry's own origin is a challenge: one from another host (blob
//! storage, an upload host) could name any realm, and the realm receives the user's
//! credentials. A realm over plain HTTP gets no credentials unless the registry itself is
//! reached over plain HTTP.
//!
//! Token requests are ordinary requests the session sends; time for expiry is the core's
//! input time. `Authorization` values are marked sensitive and never appear in messages.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use url::Url;

use crate::challenge::{parse_challenges, Challenge};
use crate::error::Error;
use crate::http::{HeaderValue, Request, ResponseHead};
use crate::redact::{strip_user_info, url_shown, Secrets};
use crate::time::Instant;

/// A username and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token. Never printed.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

/// The user name Docker gives credentials that are an OAuth2 refresh token (`identitytoken`):
/// with it, tokens are fetched with a refresh-token `POST` to the realm.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// A token request: `GET url` with `authorization`, or `POST url` with a form.
#[derive(Debug)]
pub(crate) struct TokenRequest {
    pub url: Url,
    pub authorization: Option<HeaderValue>,
    pub form: Option<Vec<u8>>,
}

/// What to do after a `401`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// New credentials are in place: send the request again now.
    Retry,
    /// A token must be fetched first: the session sends the token request and hands the
    /// request back for re-sending when the token is in.
    FetchToken,
}

/// Tokens are refreshed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(15);
/// Lifetime of a token whose response names none (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A bearer token and when it runs out.
#[derive(Debug)]
struct Token {
    header: HeaderValue,
    expires_at: Instant,
    /// Which token of the operation it is (1, 2, …), to tell a `401` to an earlier one.
    generation: u64,
}

/// Where tokens come from, as the registry's challenge says.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BearerChallenge {
    realm: Url,
    service: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    /// Not used, but a secret all the same: blanked wherever it is echoed.
    #[serde(default)]
    refresh_token: Option<String>,
    /// Seconds; anything but a positive whole number (a negative one, a string) means the
    /// default lifetime, as Docker takes it.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The resource of a scope: `repository:team/app` of `repository:team/app:pull`.
fn resource_of(scope: &str) -> &str {
    scope
        .rsplit_once(':')
        .map_or(scope, |(resource, _)| resource)
}

/// The longest token tug sends: a header must fit an HTTP client's request buffer (real
/// tokens, JWTs, are a few KiB).
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Per-operation authentication state for one registry host.
#[derive(Debug)]
pub(crate) struct Auth {
    host: String,
    credentials: Option<Credentials>,
    basic: Option<HeaderValue>,
    bearer: Option<BearerChallenge>,
    token: Option<Token>,
    /// Scopes the operation needs, e.g. `repository:team/app:pull,push`.
    scopes: Vec<String>,
    /// Scopes it would like (pull on a repository to mount blobs from): asked for too, and
    /// left out of the next token request when the token server refuses one with them.
    optional: Vec<String>,
    /// The resources (`repository:base/app`) of every optional scope, kept after they are
    /// dropped: a challenge naming one does not make it needed.
    optional_resources: Vec<String>,
    /// Tokens fetched after a `401` since a token last worked; a second one failing is final.
    refetches: u32,
    /// The token server answered the OAuth2 `POST` with 404.
    oauth_unsupported: bool,
    /// Tokens received so far.
    tokens: u64,
    /// The password, its Basic value and every token received: blanked out of errors.
    secrets: Secrets,
}

impl Auth {
    pub(crate) fn new(host: &str, credentials: Option<Credentials>) -> Auth {
        let mut secrets = Secrets::default();
        if let Some(c) = &credentials {
            secrets.add(&c.password);
            let pair = format!("{}:{}", c.username, c.password);
            secrets.add(&base64::engine::general_purpose::STANDARD.encode(&pair));
            secrets.add(&pair);
        }
        Auth {
            host: host.to_owned(),
            credentials,
            basic: None,
            bearer: None,
            token: None,
            scopes: Vec::new(),
            optional: Vec::new(),
            optional_resources: Vec::new(),
            refetches: 0,
            oauth_unsupported: false,
            tokens: 0,
            secrets,
        }
    }

    /// The secrets of this registry's authentication so far: the password, its Basic
    /// value and the tokens received.
    /// Whose credentials these are, for messages: the user's name (no secret), or that
    /// they are an identity token.
    fn whose(&self) -> String {
        match &self.credentials {
            Some(c) if c.username == IDENTITY_TOKEN_USER => "an identity token".to_owned(),
            Some(c) => format!("those of user {:?}", c.username),
            None => "none were given".to_owned(),
        }
    }

    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The registry asked for Basic credentials before (an earlier operation's check): send
    /// them from the first request on. Without credentials (or with ones no header can
    /// carry) nothing changes: a challenge then says what to do.
    pub(crate) fn assume_basic(&mut self) {
        if let Some(creds) = &self.credentials {
            self.basic = basic_header(creds).ok();
        }
    }

    /// Whether Basic credentials are being sent (a Basic challenge was answered).
    pub(crate) fn uses_basic(&self) -> bool {
        self.basic.is_some()
    }

    /// Declares a scope the operation needs (asked for in every token request). Actions
    /// on a resource already listed are merged into its entry, as Docker does.
    pub(crate) fn add_scope(&mut self, scope: String) {
        let split = |s: &str| -> Option<(String, Vec<String>)> {
            let (resource, actions) = s.rsplit_once(':')?;
            resource.contains(':').then(|| {
                let actions = actions
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned);
                (resource.to_owned(), actions.collect())
            })
        };
        let Some((resource, actions)) = split(&scope) else {
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
            return;
        };
        for existing in &mut self.scopes {
            if let Some((r, mut have)) = split(existing) {
                if r == resource {
                    for a in actions {
                        if !have.contains(&a) {
                            have.push(a);
                        }
                    }
                    *existing = format!("{r}:{}", have.join(","));
                    return;
                }
            }
        }
        self.scopes.push(scope);
    }

    /// Declares a scope the operation can do without ([`Auth::optional`]).
    pub(crate) fn add_optional_scope(&mut self, scope: String) {
        let resource = resource_of(&scope).to_owned();
        if !self.optional_resources.contains(&resource) {
            self.optional_resources.push(resource);
        }
        if !self.scopes.contains(&scope) && !self.optional.contains(&scope) {
            self.optional.push(scope);
        }
    }

    /// The token server gave no token for a request: if optional scopes were asked for,
    /// they are dropped and true returned (ask again without them).
    pub(crate) fn drop_optional_scopes(&mut self) -> bool {
        !std::mem::take(&mut self.optional).is_empty()
    }

    /// Every scope a token request asks for: the needed ones, then the optional ones.
    fn requested_scopes(&self) -> impl Iterator<Item = &String> {
        self.scopes.iter().chain(&self.optional)
    }

    /// Whether a token is needed before requests can go out: bearer auth is in use and the
    /// token is missing or about to expire.
    pub(crate) fn needs_token(&self, now: Instant) -> bool {
        self.bearer.is_some()
            && self
                .token
                .as_ref()
                .is_none_or(|t| now + REFRESH_MARGIN >= t.expires_at)
    }

    /// Adds `Authorization` to a request for the registry's own origin (`registry`, its API
    /// base); returns which bearer token was attached, if one was.
    pub(crate) fn apply(&self, req: &mut Request, registry: &Url) -> Option<u64> {
        if !same_origin(&req.url, registry) {
            return None;
        }
        if let Some(token) = &self.token {
            req.headers
                .insert(http::header::AUTHORIZATION, token.header.clone());
            return Some(token.generation);
        }
        if let Some(value) = &self.basic {
            req.headers
                .insert(http::header::AUTHORIZATION, value.clone());
        }
        None
    }

    /// Whether a `401` to a request that carried token `carried` says nothing about the
    /// current token: the request carried an earlier one, replaced since, or none at all,
    /// sent before the first came (requests sent at once before any challenge: their `401`s
    /// were on the wire while the token came).
    pub(crate) fn is_stale(&self, carried: Option<u64>) -> bool {
        match (carried, &self.token) {
            (Some(c), Some(t)) => c != t.generation,
            (None, Some(_)) => true,
            (_, None) => false,
        }
    }

    /// A request that carried the token got a response other than `401`: the token works.
    pub(crate) fn token_worked(&mut self) {
        self.refetches = 0;
    }

    /// Reacts to a `401` response to a request for `url`: choose credentials for the
    /// challenge, or fail. `base` is the registry's API base; a `401` from any other origin
    /// is final, its challenge ignored.
    pub(crate) fn on_unauthorized(
        &mut self,
        head: &ResponseHead,
        base: &Url,
        url: &Url,
    ) -> Result<AuthOutcome, Error> {
        if !same_origin(url, base) {
            return Err(Error::Auth {
                message: format!(
                    "{} answered 401 Unauthorized; it is not the registry {}, so tug sends it no credentials and does not follow its challenge",
                    origin_text(url),
                    self.host
                ),
            });
        }
        let challenges: Vec<Challenge> = head
            .headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            return self.on_bearer_challenge(bearer, base);
        }
        if self.basic.is_some() {
            return Err(Error::Auth {
                message: format!("the registry {} {REJECTED} ({})", self.host, self.whose()),
            });
        }
        let Some(creds) = &self.credentials else {
            return Err(Error::Auth {
                message: format!(
                    "the registry {} requires authentication, and {NO_CREDENTIALS}",
                    self.host
                ),
            });
        };
        if challenges.iter().any(|c| c.scheme == "basic") || challenges.is_empty() {
            if creds.username == IDENTITY_TOKEN_USER {
                // An OAuth2 refresh token goes to a token server only, as Docker sends it.
                return Err(Error::Auth {
                    message: format!(
                        "the registry {} asks for Basic authentication, and the credentials \
                         stored for it are an identity token, which is sent only to a token \
                         server: log in with a user and password (tug login)",
                        self.host
                    ),
                });
            }
            self.basic = Some(basic_header(creds)?);
            return Ok(AuthOutcome::Retry);
        }
        let schemes: Vec<_> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(Error::Auth {
            message: format!(
                "the registry {} asks for {} authentication, which tug does not support",
                self.host,
                schemes.join(" or ")
            ),
        })
    }

    fn on_bearer_challenge(&mut self, c: &Challenge, base: &Url) -> Result<AuthOutcome, Error> {
        // An empty realm is none (`realm=,` would join to the registry's own path).
        let realm = c.param("realm").map(str::trim).filter(|r| !r.is_empty());
        let realm = realm.ok_or_else(|| Error::Auth {
            message: format!(
                "the registry {} sent a Bearer challenge without a realm",
                self.host
            ),
        })?;
        let mut realm = base
            .join(realm)
            .map_err(|e| e.to_string())
            .and_then(|u| match crate::endpoint::is_http(&u) {
                true => Ok(u),
                false => Err("not an http or https URL".to_owned()),
            })
            .map_err(|e| Error::Auth {
                message: format!(
                    "the registry {} names an unusable token realm {:?}: {e}",
                    self.host,
                    crate::redact::scrub(realm)
                ),
            })?;
        // User info in a realm would reach the token server as credentials of the
        // registry's choosing; the user's own go in `Authorization`.
        strip_user_info(&mut realm);
        if self.credentials.is_some() && realm.scheme() == "http" && base.scheme() != "http" {
            return Err(Error::Auth {
                message: format!(
                    "the registry {} is reached over HTTPS but names a token realm over plain HTTP ({}); tug does not send credentials unencrypted (only a registry used over plain HTTP, with --plain-http or on loopback, may name a plain-HTTP realm)",
                    self.host,
                    origin_text(&realm)
                ),
            });
        }
        if let Some(scope) = c.param("scope") {
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                // A resource the operation can do without stays optional (a mount source
                // the challenge of a refused mount names).
                if !self.optional_resources.iter().any(|r| r == resource_of(s)) {
                    self.add_scope(s.to_owned());
                }
            }
        }
        if self.token.is_some() {
            self.refetches += 1;
            if self.refetches > 1 {
                let detail = match c.param("error") {
                    Some("insufficient_scope") => {
                        " (insufficient scope: no permission for this repository)"
                    }
                    _ => "",
                };
                return Err(Error::Auth {
                    message: format!("the registry {} rejected the token{detail}", self.host),
                });
            }
        }
        self.token = None;
        self.bearer = Some(BearerChallenge {
            realm,
            service: c.param("service").map(str::to_owned),
        });
        Ok(AuthOutcome::FetchToken)
    }

    /// The token request for the current challenge: `GET realm?service=…&scope=…`, with
    /// Basic credentials when the user has them.
    pub(crate) fn token_request_parts(&self) -> Option<TokenRequest> {
        let bearer = self.bearer.as_ref()?;
        if let (Some(creds), false) = (&self.credentials, self.oauth_unsupported) {
            if creds.username == IDENTITY_TOKEN_USER {
                // OAuth2 refresh-token grant, as Docker does with an `identitytoken`.
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", &creds.password);
                form.append_pair("client_id", "tug");
                if let Some(service) = &bearer.service {
                    form.append_pair("service", service);
                }
                let scopes: Vec<&str> = self.requested_scopes().map(String::as_str).collect();
                if !scopes.is_empty() {
                    form.append_pair("scope", &scopes.join(" "));
                }
                return Some(TokenRequest {
                    url: bearer.realm.clone(),
                    authorization: None,
                    form: Some(form.finish().into_bytes()),
                });
            }
        }
        let mut url = bearer.realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = &bearer.service {
                q.append_pair("service", service);
            }
            for scope in self.requested_scopes() {
                q.append_pair("scope", scope);
            }
        }
        // (An identity token goes only in the OAuth2 form above, never as a password.)
        let basic = self
            .credentials
            .as_ref()
            .filter(|c| c.username != IDENTITY_TOKEN_USER)
            .and_then(|c| basic_header(c).ok());
        Some(TokenRequest {
            url,
            authorization: basic,
            form: None,
        })
    }

    /// The token server does not do OAuth2 (it answered the `POST` with 404): use `GET`.
    /// Returns whether that changes anything.
    pub(crate) fn oauth_not_found(&mut self) -> bool {
        let was_oauth = self
            .credentials
            .as_ref()
            .is_some_and(|c| c.username == IDENTITY_TOKEN_USER)
            && !self.oauth_unsupported;
        self.oauth_unsupported = true;
        was_oauth
    }

    /// What a token request is doing, for errors: `fetching a token from <realm>`.
    pub(crate) fn token_action(&self) -> String {
        let realm = self.bearer.as_ref().map(|b| url_shown(&b.realm));
        format!("fetching a token from {}", realm.unwrap_or_default())
    }

    /// Takes the token server's answer.
    pub(crate) fn on_token_response(
        &mut self,
        status: u16,
        body: &[u8],
        now: Instant,
    ) -> Result<(), Error> {
        let realm = self
            .bearer
            .as_ref()
            .map(|b| url_shown(&b.realm))
            .unwrap_or_default();
        if (300..400).contains(&status) {
            return Err(Error::Auth {
                message: format!(
                    "the token server {realm} answered {status}, a redirect, which tug does \
                     not follow for a token request (it may carry credentials)"
                ),
            });
        }
        if status != 200 {
            let errors = self.secrets.parse_errors(body);
            let hint = match (&self.credentials, status) {
                (None, 401 | 403) => format!(", and {NO_CREDENTIALS}"),
                (Some(_), 401) => format!(" ({REJECTED}: {})", self.whose()),
                _ => String::new(),
            };
            return Err(Error::Auth {
                message: format!("the token server {realm} answered {status}: {errors}{hint}"),
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(body).map_err(|e| Error::Auth {
            message: format!("the token server {realm} sent an unreadable answer: {e}"),
        })?;
        // Every token the answer holds is blanked in what tug shows, the one it uses or not.
        for t in [&parsed.token, &parsed.access_token, &parsed.refresh_token] {
            if let Some(t) = t.as_deref().filter(|t| !t.is_empty()) {
                self.secrets.add(t);
            }
        }
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Auth {
                message: format!("the token server {realm} sent no token"),
            })?;
        self.secrets.add(&token);
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::Auth {
                message: format!(
                    "the token server {realm} sent a token of {} bytes, longer than the \
                     {MAX_TOKEN_LEN} any header can carry",
                    token.len()
                ),
            });
        }
        // Visible ASCII only (RFC 6750's token characters and more): an HTTP client refuses
        // a header of other bytes, which is the token server's fault, not the network's.
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        let header = HeaderValue::try_from(format!("Bearer {token}"))
            .ok()
            .filter(|_| visible);
        let mut header = header.ok_or_else(|| Error::Auth {
            message: format!("the token server {realm} sent a token with invalid characters"),
        })?;
        header.set_sensitive(true);
        let lifetime = parsed
            .expires_in
            .and_then(|v| v.as_u64())
            .map(Duration::from_secs)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        self.tokens += 1;
        self.token = Some(Token {
            header,
            expires_at: now + lifetime,
            generation: self.tokens,
        });
        Ok(())
    }
}

/// What an authentication error says when the registry wants credentials and none were
/// given for it: a runner recognizes it to say how to give them (its flags, its options).
pub const NO_CREDENTIALS: &str = "no credentials were given for it";

/// What an authentication error says when the credentials given were refused (runners
/// find it to advise where credentials come from).
pub const REJECTED: &str = "rejected the credentials";

/// Whether two URLs share scheme, host and port (a missing port is the scheme's default).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host[:port]` of a URL, for messages (no path or query: those may carry tokens).
fn origin_text(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn basic_header(creds: &Credentials) -> Result<HeaderValue, Error> {
    let raw = format!("{}:{}", creds.username, creds.password);
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut value =
        HeaderValue::try_from(format!("Basic {encoded}")).map_err(|_| Error::InvalidInput {
            message: "credentials contain characters not allowed in an HTTP header".into(),
        })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A token server's redirect is said to be one (credentials never follow it).
    #[test]
    fn a_token_server_redirect_is_named() {
        let mut a = Auth::new("r.example", None);
        let err = a
            .on_token_response(307, b"", Instant::ZERO)
            .unwrap_err()
            .to_string();
        assert!(err.contains("answered 307, a redirect"), "{err}");
    }

    /// A token server's odd answers: a token no HTTP client would send (not visible ASCII,
    /// or longer than any header) is the token server's fault, said once (no retries); an
    /// `expires_in` that is no positive number means the default lifetime, as for Docker.
    #[test]
    fn odd_token_answers_are_refused_or_read_as_docker_reads_them() {
        let mut a = Auth::new("r.example", None);
        let now = Instant::ZERO;
        for body in [
            r#"{"token":"t\u00f6ken"}"#.to_owned(),
            format!(r#"{{"token":"{}"}}"#, "x".repeat(MAX_TOKEN_LEN + 1)),
        ] {
            let err = a.on_token_response(200, body.as_bytes(), now).unwrap_err();
            assert!(matches!(err, Error::Auth { .. }), "{err:?}");
        }
        for expires in ["-100", "\"300\"", "0", "1.5"] {
            let body = format!(r#"{{"token":"tok","expires_in":{expires}}}"#);
            a.on_token_response(200, body.as_bytes(), now).unwrap();
            let token = a.token.as_ref().unwrap();
            assert_eq!(token.expires_at, now + DEFAULT_TOKEN_LIFETIME, "{expires}");
        }
        a.on_token_response(200, br#"{"token":"tok","expires_in":300}"#, now)
            .unwrap();
        assert_eq!(
            a.token.as_ref().unwrap().expires_at,
            now + Duration::from_secs(300)
        );
    }

    /// Every token a token server's answer holds is a secret: the one used, and an unused
    /// `access_token` or `refresh_token` a registry might echo.
    #[test]
    fn every_token_of_an_answer_is_blanked() {
        let mut a = Auth::new("r.example", None);
        let body = br#"{"token":"TOKused1234","access_token":"ACCESSunused5678","refresh_token":"REFRESHsecret9012"}"#;
        a.on_token_response(200, body, Instant::ZERO).unwrap();
        let shown = a
            .secrets()
            .redact("auth=TOKused1234 refresh=REFRESHsecret9012 access=ACCESSunused5678");
        assert_eq!(shown, "auth=*** refresh=*** access=***");
    }

    #[test]
    fn scopes_for_one_repository_are_merged() {
        let mut a = Auth::new("r.example", None);
        a.add_scope("repository:team/app:pull,push".into());
        a.add_scope("repository:team/app:pull".into());
        a.add_scope("repository:other/app:pull".into());
        a.add_scope("registry:catalog:*".into());
        a.add_scope("repository:other/app:push".into());
        assert_eq!(
            a.scopes,
            [
                "repository:team/app:pull,push",
                "repository:other/app:pull,push",
                "registry:catalog:*"
            ]
        );
    }

    /// Found by the `fetch_responses` fuzz target: a realm such as `file:///x` or
    /// `hscopettps://auth/token` became a token request a runner cannot send.
    #[test]
    fn realms_must_be_http_urls() {
        let base = Url::parse("https://r.example/v2/").unwrap();
        for (realm, ok) in [
            ("https://auth.example/token", true),
            ("/token", true),
            ("http://auth.example/token", true),
            ("file:///etc/passwd", false),
            ("hscopettps://auth.example/token", false),
            ("", false),
            ("  ", false),
        ] {
            let mut a = Auth::new("r.example", None);
            let head = ResponseHead::new(401)
                .with_header("WWW-Authenticate", &format!("Bearer realm=\"{realm}\""));
            let outcome = a.on_unauthorized(&head, &base, &base);
            assert_eq!(outcome.is_ok(), ok, "{realm}: {outcome:?}");
        }
        // Found by probing with a hostile registry: an empty realm among junk was joined
        // to the registry's own `/v2/` and asked for a token.
        for header in ["Bearer realm=,,,==\"", "Bearer realm=\"\""] {
            let mut a = Auth::new("r.example", None);
            let head = ResponseHead::new(401).with_header("WWW-Authenticate", header);
            let err = a.on_unauthorized(&head, &base, &base).unwrap_err();
            assert!(
                err.to_string().contains("without a realm"),
                "{header}: {err}"
            );
        }
    }

    /// Docker Hub style references name no port: another port on the same host, or the same
    /// host over plain HTTP, is another origin and gets no `Authorization`.
    #[test]
    fn authorization_goes_to_the_registry_origin_only() {
        let mut a = Auth::new(
            "r.example",
            Some(Credentials {
                username: "u".into(),
                password: "p".into(),
            }),
        );
        let base = Url::parse("https://r.example/v2/").unwrap();
        let head = ResponseHead::new(401).with_header("WWW-Authenticate", "Basic realm=\"r\"");
        assert_eq!(
            a.on_unauthorized(&head, &base, &base).unwrap(),
            AuthOutcome::Retry
        );
        for (url, sent) in [
            ("https://r.example/v2/a/blobs/x", true),
            ("https://r.example:443/v2/a/blobs/x", true),
            ("https://r.example:8443/v2/a/blobs/x", false),
            ("http://r.example/v2/a/blobs/x", false),
            ("http://r.example:443/v2/a/blobs/x", false),
            ("https://storage.r.example/x", false),
        ] {
            let mut req = Request {
                id: crate::http::RequestId(1),
                method: http::Method::GET,
                url: Url::parse(url).unwrap(),
                shown: String::new(),
                headers: crate::http::HeaderMap::new(),
                body: crate::http::Body::Empty,
                deadlines: Default::default(),
                to_registry: true,
            };
            a.apply(&mut req, &base);
            assert_eq!(req.headers.contains_key("authorization"), sent, "{url}");
        }
    }
}
