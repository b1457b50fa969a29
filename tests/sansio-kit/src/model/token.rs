//! The model's authentication: the Basic or Bearer challenge a registry request gets without
//! the right `Authorization`, and the token server (GET with scopes, OAuth2 refresh POST).

use std::collections::HashMap;

use tug_core::http::{Method, Request, ResponseHead};

use super::{error_body, error_reply, header, RegistryModel, Reply};

/// The realm the model names when none is set.
const DEFAULT_REALM: &str = "http://auth.example/token";

impl RegistryModel {
    /// Whether `url` is on the origin of a realm set in [`RegistryModel::realm`], or is
    /// `/token` on the registry while tokens are in use (a relative realm).
    pub(super) fn is_realm(&self, url: &url::Url) -> bool {
        let on_realm = self
            .realm
            .as_deref()
            .is_some_and(|r| url::Url::parse(r).is_ok_and(|r| r.origin() == url.origin()));
        on_realm || (self.bearer.is_some() && url.path() == "/token" && self.is_registry(url))
    }

    /// Counts a registry request towards [`RegistryModel::revoke_tokens_after`].
    pub(super) fn tick_revocation(&mut self) {
        if let Some(n) = self.revoke_tokens_after.as_mut() {
            if *n == 0 {
                self.valid_tokens.clear();
                self.revoke_tokens_after = None;
            } else {
                *n -= 1;
            }
        }
    }

    /// The `401` a registry request at `path` gets without the token or credentials the
    /// model wants; `None` when it may pass.
    pub(super) fn refuse_unauthorized(&self, req: &Request, path: &str) -> Option<Reply> {
        let got = header(req, "authorization");
        if self.bearer.is_some() {
            let ok = got
                .and_then(|g| g.strip_prefix("Bearer "))
                .is_some_and(|t| self.token_valid(t));
            if !ok {
                let realm = self.realm.as_deref().unwrap_or(DEFAULT_REALM);
                // As distribution: the version check's challenge names no scope.
                let scope = match repository_of(path) {
                    Some(repo) => format!(r#","scope="repository:{repo}:pull""#),
                    None => String::new(),
                };
                let head = ResponseHead::new(401).with_header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="{realm}",service="registry.example"{scope}"#),
                );
                return Some(Reply::new(
                    head,
                    error_body("UNAUTHORIZED", "authentication required"),
                ));
            }
        }
        if let Some(expected) = &self.required_auth {
            if got != Some(expected.as_str()) {
                let head = ResponseHead::new(401)
                    .with_header("WWW-Authenticate", r#"Basic realm="Registry Realm""#);
                return Some(Reply::new(
                    head,
                    error_body("UNAUTHORIZED", "authentication required"),
                ));
            }
        }
        None
    }

    /// Whether the registry accepts `token`: issued, not revoked, not expired.
    pub fn token_valid(&self, token: &str) -> bool {
        self.valid_tokens.iter().any(|v| v == token)
            && self.token_expiry.get(token).is_none_or(|t| self.now < *t)
    }

    /// Issues `token`, valid for `seconds` from now.
    fn issue(&mut self, token: &str, seconds: u64) {
        self.valid_tokens.push(token.to_owned());
        let expiry = self.now + std::time::Duration::from_secs(seconds);
        self.token_expiry.insert(token.to_owned(), expiry);
    }

    /// The token server at the realm (or at `auth.example`).
    pub(super) fn token_server(&mut self, req: &Request, body: &[u8]) -> Reply {
        if req.method == Method::POST {
            return self.oauth(body);
        }
        let auth = header(req, "authorization").map(str::to_owned);
        let scopes: Vec<String> = req
            .url
            .query_pairs()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
        self.token_requests.push((auth.clone(), scopes.clone()));
        let Some(bearer) = self.bearer.clone() else {
            return Reply::head(ResponseHead::new(404));
        };
        if let Some(required) = &bearer.basic {
            if auth.as_deref() != Some(required.as_str()) {
                return error_reply(401, "UNAUTHORIZED", "bad credentials");
            }
        }
        let names_hidden = |scope: &String| {
            bearer
                .hidden
                .iter()
                .any(|h| scope.starts_with(&format!("repository:{h}:")))
        };
        if bearer.refuse_hidden_scopes && scopes.iter().any(names_hidden) {
            return error_reply(403, "DENIED", "access to a requested resource is denied");
        }
        let token = format!("tok-{}", self.token_requests.len());
        if !bearer.useless_tokens {
            self.issue(&token, bearer.expires_in);
        }
        let body = format!(
            r#"{{"token":"{token}","expires_in":{}}}"#,
            bearer.expires_in
        );
        Reply::new(
            ResponseHead::new(200).with_header("Content-Type", "application/json"),
            body.into_bytes(),
        )
    }

    /// The OAuth2 refresh grant (`POST` with a form).
    fn oauth(&mut self, body: &[u8]) -> Reply {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        self.oauth_requests.push(form.clone());
        let Some(expected) = self.bearer.as_ref().and_then(|b| b.refresh_token.clone()) else {
            return Reply::head(ResponseHead::new(404));
        };
        if form.get("grant_type").map(String::as_str) != Some("refresh_token")
            || form.get("refresh_token") != Some(&expected)
        {
            return error_reply(401, "UNAUTHORIZED", "bad refresh token");
        }
        let token = format!("oauth-{}", self.oauth_requests.len());
        self.issue(&token, 300);
        let body = format!(r#"{{"access_token":"{token}","expires_in":300}}"#);
        Reply::new(
            ResponseHead::new(200).with_header("Content-Type", "application/json"),
            body.into_bytes(),
        )
    }
}

/// The repository an API path is about (`/v2/<repo>/blobs/…`, `/v2/<repo>/manifests/…`).
pub(super) fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let at = parts
        .iter()
        .position(|p| *p == "blobs" || *p == "manifests")?;
    (at > 0).then(|| parts[..at].join("/"))
}
