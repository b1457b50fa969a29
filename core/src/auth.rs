//! Registry authentication: answers `401` challenges and decorates requests.
//!
//! Basic auth is answered with the user's credentials. The `Authorization` header is only
//! ever attached to requests for the registry's own host, and is marked sensitive so it
//! never shows in debug output.

use std::fmt;

use base64::Engine as _;

use crate::challenge::parse_challenges;
use crate::error::Error;
use crate::http::{HeaderValue, Request, ResponseHead};

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

/// What to do after a `401`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// New credentials are in place: send the request again.
    Retry,
}

/// Per-operation authentication state for one registry host.
#[derive(Debug)]
pub(crate) struct Auth {
    host: String,
    credentials: Option<Credentials>,
    header: Option<HeaderValue>,
}

impl Auth {
    pub(crate) fn new(host: &str, credentials: Option<Credentials>) -> Auth {
        Auth {
            host: host.to_owned(),
            credentials,
            header: None,
        }
    }

    /// Adds `Authorization` to a request for the registry's own host.
    pub(crate) fn apply(&self, req: &mut Request) {
        let same_host = req.url.host_str().is_some_and(|h| {
            let with_port = match req.url.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            };
            with_port == self.host || h == self.host
        });
        if let (Some(value), true) = (&self.header, same_host) {
            req.headers
                .insert(http::header::AUTHORIZATION, value.clone());
        }
    }

    /// Reacts to a `401` response: choose credentials for the challenge, or fail.
    pub(crate) fn on_unauthorized(&mut self, head: &ResponseHead) -> Result<AuthOutcome, Error> {
        let challenges: Vec<_> = head
            .headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        if self.header.is_some() {
            return Err(Error::Auth {
                message: format!("the registry {} rejected the credentials", self.host),
            });
        }
        let Some(creds) = &self.credentials else {
            return Err(Error::Auth {
                message: format!(
                    "the registry {} requires authentication; give credentials with -u/--username and --password-stdin, or TUG_USERNAME/TUG_PASSWORD",
                    self.host
                ),
            });
        };
        if challenges.iter().any(|c| c.scheme == "basic") || challenges.is_empty() {
            let raw = format!("{}:{}", creds.username, creds.password);
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            let mut value = HeaderValue::try_from(format!("Basic {encoded}")).map_err(|_| {
                Error::InvalidInput {
                    message: "credentials contain characters not allowed in an HTTP header".into(),
                }
            })?;
            value.set_sensitive(true);
            self.header = Some(value);
            return Ok(AuthOutcome::Retry);
        }
        let schemes: Vec<_> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(Error::Auth {
            message: format!(
                "the registry {} asks for {} authentication, which this version of tug does not support yet",
                self.host,
                schemes.join(" or ")
            ),
        })
    }
}
