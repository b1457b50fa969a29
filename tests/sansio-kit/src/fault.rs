//! Scripted failures for the registry model, built as
//! `Fault::on(Method::PATCH, "/uploads/").status(500)`: the next request with that method
//! whose path contains the text gets the failure instead of its answer, once.

use tug_core::http::{Method, Request, ResponseHead, TransportError, TransportErrorKind};

use crate::model::{error_body, Answer, Reply};

/// One scripted failure (queue it with [`crate::RegistryModel::fault`]).
#[derive(Clone, Debug)]
pub struct Fault {
    pub(crate) method: Method,
    pub(crate) path_contains: String,
    response: Result<u16, TransportErrorKind>,
    headers: Vec<(String, String)>,
    /// Also forget every upload session (the registry restarted or expired them).
    pub(crate) forget_uploads: bool,
    /// Let this many matching requests through before failing one.
    pub(crate) after: usize,
}

impl Fault {
    /// A fault for the next `method` request whose path contains `path_contains`; it
    /// answers `500` until told otherwise.
    pub fn on(method: Method, path_contains: &str) -> Fault {
        Fault {
            method,
            path_contains: path_contains.to_owned(),
            response: Ok(500),
            headers: Vec::new(),
            forget_uploads: false,
            after: 0,
        }
    }

    /// Answer with this status (and a registry error body).
    pub fn status(mut self, status: u16) -> Fault {
        self.response = Ok(status);
        self
    }

    /// Fail below HTTP with this kind of transport error.
    pub fn transport(mut self, kind: TransportErrorKind) -> Fault {
        self.response = Err(kind);
        self
    }

    /// Add this header to the answer (`Retry-After`, `Content-Range`, …).
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Let `n` matching requests through first.
    pub fn after(mut self, n: usize) -> Fault {
        self.after = n;
        self
    }

    /// Also forget every upload session when it strikes.
    pub fn forget_uploads(mut self) -> Fault {
        self.forget_uploads = true;
        self
    }

    /// Whether `req` (at `path`) is one this fault is for.
    pub(crate) fn matches(&self, req: &Request, path: &str) -> bool {
        self.method == req.method && path.contains(&self.path_contains)
    }

    /// What the request it strikes gets.
    pub(crate) fn answer(&self) -> Answer {
        match self.response {
            Ok(status) => {
                let mut head = ResponseHead::new(status);
                for (n, v) in &self.headers {
                    head = head.with_header(n, v);
                }
                Ok(Reply::new(
                    head,
                    error_body("UNAVAILABLE", "scripted failure"),
                ))
            }
            Err(kind) => Err(TransportError {
                kind,
                message: "scripted transport failure".into(),
            }),
        }
    }
}
