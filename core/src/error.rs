//! The outcome errors of an operation, and the error for a runner that misuses the API.

use crate::digest::Digest;
use crate::http::{RequestId, TransportError};
use crate::registry_error::RegistryErrors;

/// Why an operation failed. Every variant says what and where; none holds a secret.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry (or a server it sent the request to) answered with an error status.
    #[error("{action}: {} answered {status}: {errors}", .by.as_deref().unwrap_or("registry"))]
    Registry {
        /// What was being done, e.g. `uploading blob sha256:ab12…`.
        action: String,
        /// HTTP status code.
        status: u16,
        /// The registry's error codes and messages.
        errors: RegistryErrors,
        /// The host that answered when it is not the registry (blob storage a download was
        /// redirected to, an upload location elsewhere); `None`: the registry.
        by: Option<String>,
    },
    /// Authentication failed or is impossible with what was given.
    #[error("authentication failed: {message}")]
    Auth {
        /// What went wrong.
        message: String,
    },
    /// Bytes did not hash to the digest that names them.
    #[error("{what}: content does not match its digest (expected {expected}, got {actual})")]
    DigestMismatch {
        /// What was checked, with its location.
        what: String,
        /// The digest it should have.
        expected: Digest,
        /// The digest it has.
        actual: Digest,
    },
    /// The registry broke the protocol (missing `Location`, impossible `Range`…).
    #[error("{action}: the registry broke the protocol: {message}")]
    Protocol {
        /// What was being done.
        action: String,
        /// What it did wrong.
        message: String,
    },
    /// The network failed and retries did not help.
    #[error("{action}: {error}")]
    Transport {
        /// What was being done.
        action: String,
        /// The last transport failure.
        error: TransportError,
    },
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The input (plan, reference, credentials) cannot be used.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// Whether a source that failed with this gives way to the next one (a mirror to the
    /// registry it mirrors): any failure but a stop asked for, as Docker and skopeo fall
    /// back from a mirror that lacks the image, cannot be reached, refuses the credentials,
    /// fails (`500`) or serves something wrong.
    pub fn gives_way_to_next_source(&self) -> bool {
        !matches!(self, Error::Cancelled)
    }
}

/// A runner called the core in a way the API does not allow. This is a bug in the runner,
/// never caused by a registry or a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// An input named a request the core is not waiting on.
    #[error("no request {0} is in flight")]
    UnknownRequest(RequestId),
    /// A body chunk or end arrived before the response head.
    #[error("body data for request {0} arrived before its response head")]
    BodyBeforeHead(RequestId),
    /// An input came at a moment it has no meaning (e.g. a pull's partial blob bytes after
    /// its blobs started).
    #[error("{0}")]
    OutOfOrder(&'static str),
}
