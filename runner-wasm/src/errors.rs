//! Failures as JS `Error`s with a stable `.code`: `input`, `auth`, `registry`, `network`,
//! `cors` or `cancelled`. Messages come from the core and the runner, which never put a
//! password or token in them.

use tug_core::http::TransportErrorKind;
use tug_core::Error;
use wasm_bindgen::JsValue;

/// The stable classes of failure a caller can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The file (or an argument) cannot be used: not a tar, a missing entry, a bad target.
    Input,
    /// Credentials missing or rejected, or access denied.
    Auth,
    /// The registry answered with an error or broke the protocol.
    Registry,
    /// The registry could not be reached, or the connection kept failing.
    Network,
    /// The registry answered but the browser withheld the response (CORS).
    Cors,
    /// The caller cancelled.
    Cancelled,
}

impl Code {
    /// The `.code` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Input => "input",
            Code::Auth => "auth",
            Code::Registry => "registry",
            Code::Network => "network",
            Code::Cors => "cors",
            Code::Cancelled => "cancelled",
        }
    }
}

/// Which side a digest mismatch blames: a push blames the file, a pull the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Push,
    Pull,
}

/// The code for an operation's outcome error.
pub fn code_of(e: &Error, side: Side) -> Code {
    match e {
        Error::InvalidInput { .. } => Code::Input,
        Error::DigestMismatch { .. } if side == Side::Push => Code::Input,
        Error::DigestMismatch { .. } => Code::Registry,
        Error::Auth { .. } => Code::Auth,
        Error::Registry {
            status: 401 | 403, ..
        } => Code::Auth,
        Error::Registry { .. } | Error::Protocol { .. } => Code::Registry,
        Error::Transport { error, .. } => match error.kind {
            TransportErrorKind::Blocked if !error.message.starts_with("mixed content") => {
                Code::Cors
            }
            TransportErrorKind::Source => Code::Input,
            _ => Code::Network,
        },
        Error::Cancelled => Code::Cancelled,
        _ => Code::Registry,
    }
}

/// A JS `Error` with `message` and `.code`.
pub fn js_error(code: Code, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.as_str().into());
    error.into()
}

/// The core's error as a JS `Error`.
pub fn from_core(e: &Error, side: Side) -> JsValue {
    js_error(code_of(e, side), &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tug_core::http::TransportError;

    fn transport(kind: TransportErrorKind, message: &str) -> Error {
        Error::Transport {
            action: "uploading blob".into(),
            error: TransportError {
                kind,
                message: message.into(),
            },
        }
    }

    #[test]
    fn codes_follow_the_kind_of_failure() {
        let denied = Error::Registry {
            action: "x".into(),
            status: 403,
            errors: Default::default(),
        };
        assert_eq!(code_of(&denied, Side::Push), Code::Auth);
        let blocked = transport(TransportErrorKind::Blocked, "http://r answered, but");
        assert_eq!(code_of(&blocked, Side::Push), Code::Cors);
        let mixed = transport(TransportErrorKind::Blocked, "mixed content: this page");
        assert_eq!(code_of(&mixed, Side::Push), Code::Network);
        let refused = transport(TransportErrorKind::Connect, "ECONNREFUSED");
        assert_eq!(code_of(&refused, Side::Pull), Code::Network);
        assert_eq!(code_of(&Error::Cancelled, Side::Pull), Code::Cancelled);
    }
}
