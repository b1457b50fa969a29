//! The documented exit codes, and which error gets which: the class of an error and its
//! number are the core's ([`tug_core::Error::class`], [`ErrorClass::exit_code`]); this file
//! adds the CLI's own (`tug web`'s).

use tug_core::archive::ArchiveError;
use tug_core::{Error, ErrorClass};

/// Success.
pub const OK: i32 = 0;
/// `tug web`: the web page was not built into this binary.
pub const WEB_NOT_BUILT: i32 = 6;
/// `tug web`: the address could not be listened on.
pub const SERVE: i32 = 1;

/// Why a command failed, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Core(#[from] Error),
    #[error("{0}")]
    WebNotBuilt(String),
    #[error("{0}")]
    Serve(String),
}

impl CliError {
    /// Advice for errors users can fix themselves.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            CliError::Core(Error::Transport { error, .. })
                if error.kind == tug_core::http::TransportErrorKind::NotTls =>
            {
                Some(
                    "the registry speaks plain HTTP: use --plain-http (or plain_http = true in \
                     its config table); --insecure only skips checking an HTTPS certificate",
                )
            }
            CliError::Core(Error::Transport { error, .. })
                if error.kind == tug_core::http::TransportErrorKind::Tls
                    && error.message.contains("alert") =>
            {
                Some(
                    "the registry refused the TLS handshake; if it asks for a client \
                     certificate, pass one with --cert-file PEM --key-file PEM or put it in a \
                     certs.d directory (see README)",
                )
            }
            CliError::Core(Error::Transport { error, .. })
                if error.kind == tug_core::http::TransportErrorKind::Tls
                    && error.message.contains("not valid for name") =>
            {
                Some(
                    "the registry's certificate is not for the host as the reference names it: \
                     use a name the certificate carries (its subjectAltName)",
                )
            }
            CliError::Core(Error::Transport { error, .. })
                if error.kind == tug_core::http::TransportErrorKind::Tls
                    && error.message.contains("CaUsedAsEndEntity") =>
            {
                Some(
                    "the registry's certificate is self-signed (a CA of its own): pass that \
                     certificate with --ca-file PEM, or put it in a certs.d directory as ca.crt",
                )
            }
            CliError::Core(Error::Transport { error, .. })
                if error.kind == tug_core::http::TransportErrorKind::Tls =>
            {
                Some(
                    "the registry's certificate was not accepted; if it comes from a private CA, \
                     pass that CA with --ca-file PEM (or skip verification with --insecure)",
                )
            }
            // Go's HTTPS server answering a plain-HTTP request (distribution, Harbor, Zot...).
            CliError::Core(Error::Registry {
                status: 400,
                errors,
                ..
            }) if errors
                .text
                .as_deref()
                .is_some_and(|t| t.contains("HTTP request to an HTTPS server")) =>
            {
                Some(
                    "the registry speaks HTTPS: drop --plain-http (or plain_http = true in its                      config table); for a certificate of a private CA, pass that CA with                      --ca-file PEM",
                )
            }
            CliError::Core(Error::Auth { message }) if message.contains(tug_core::auth::REJECTED) => {
                Some(
                    "check the user name and password: from -u/--password-stdin or \
                     TUG_USERNAME/TUG_PASSWORD when given, else those tug login or docker login \
                     kept (~/.docker/config.json, or its credential helper); tug login REGISTRY \
                     replaces kept ones",
                )
            }
            CliError::Core(Error::Auth { message })
                if message.contains(tug_core::auth::NO_CREDENTIALS) =>
            {
                Some(
                    "give credentials with -u/--username and --password-stdin, or \
                     TUG_USERNAME/TUG_PASSWORD (for a copy's source: --src-creds), or keep \
                     them with tug login REGISTRY",
                )
            }
            _ => None,
        }
    }

    /// The class of the failure; `None` for `tug web`'s own failures, which are not
    /// operations.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            CliError::Usage(_) => Some(ErrorClass::Usage),
            CliError::Input(_) => Some(ErrorClass::Input),
            CliError::Archive(e) => Some(e.class()),
            CliError::Core(e) => Some(e.class()),
            CliError::WebNotBuilt(_) | CliError::Serve(_) => None,
        }
    }

    /// The exit code: its class's, and for a cancellation the signal's that asked for it.
    pub fn code(&self) -> i32 {
        match (self, self.class()) {
            (_, Some(ErrorClass::Cancelled)) => crate::interrupt::exit_code(),
            (_, Some(class)) => of_class(class),
            (CliError::WebNotBuilt(_), None) => WEB_NOT_BUILT,
            (_, None) => SERVE,
        }
    }
}

/// The exit code of a class of failure (README "Exit codes").
pub fn of_class(class: ErrorClass) -> i32 {
    i32::from(class.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error the core returns exits with the code of the class the core gives it (the
    /// table tug-wasm's `.code` test walks too; `history.rs` checks it records that class).
    #[test]
    fn core_errors_exit_with_the_code_of_their_class() {
        for (error, class) in tug_core::error_class::class_table() {
            let e = CliError::Core(error);
            assert_eq!(e.class(), Some(class), "{e}");
            assert_eq!(e.code(), of_class(class), "{e}");
        }
    }

    /// `--plain-http` to an HTTPS registry: Go's server answers `400` in words, which get
    /// a hint to drop the flag.
    #[test]
    fn plain_http_to_an_https_registry_is_told_to_drop_the_flag() {
        let e = CliError::Core(Error::Registry {
            action: "checking the registry".into(),
            status: 400,
            errors: tug_core::registry_error::RegistryErrors::parse(
                b"Client sent an HTTP request to an HTTPS server.\n",
            ),
            by: None,
        });
        assert!(
            e.hint().is_some_and(|h| h.contains("drop --plain-http")),
            "{e}"
        );
    }

    /// Refused credentials, from the registry or its token server, say where they came from
    /// and how to replace kept ones.
    #[test]
    fn refused_credentials_are_told_where_credentials_come_from() {
        for message in [
            format!("the registry r.example {} (those of user \"u\")", tug_core::auth::REJECTED),
            format!(
                "the token server https://t.example/token answered 401: x ({}: those of user \"u\")",
                tug_core::auth::REJECTED
            ),
        ] {
            let e = CliError::Core(Error::Auth { message });
            assert!(e.hint().is_some_and(|h| h.contains("tug login REGISTRY")), "{e}");
        }
    }

    #[test]
    fn the_runner_s_own_errors_keep_their_codes() {
        assert_eq!(CliError::Usage("x".into()).code(), 2);
        assert_eq!(CliError::Input("x".into()).code(), 3);
        let archive = ArchiveError::NotATar { reason: "x".into() };
        assert_eq!(CliError::Archive(archive).code(), 3);
        assert_eq!(CliError::WebNotBuilt("x".into()).code(), 6);
        assert_eq!(CliError::Serve("x".into()).code(), 1);
    }
}
