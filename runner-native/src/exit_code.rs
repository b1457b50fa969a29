//! The documented exit codes, and which error gets which.

use tug_core::archive::ArchiveError;
use tug_core::Error;

/// Success.
pub const OK: i32 = 0;
/// The command line is wrong (clap's own code).
pub const USAGE: i32 = 2;
/// The input file or reference is invalid: bad tar, missing entry, digest mismatch.
pub const INVALID_INPUT: i32 = 3;
/// Authentication failed or was refused.
pub const AUTH: i32 = 4;
/// The registry or the network failed.
pub const REGISTRY: i32 = 5;
/// `tug web`: the web page was not built into this binary.
pub const WEB_NOT_BUILT: i32 = 6;
/// `tug web`: the address could not be listened on.
pub const SERVE: i32 = 1;
/// Cancelled by the user (as a shell reports SIGINT).
pub const CANCELLED: i32 = 130;

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
                if error.kind == tug_core::http::TransportErrorKind::Tls =>
            {
                Some(
                    "the registry's certificate was not accepted; if it comes from a private CA, \
                     pass that CA with --ca-file PEM (or skip verification with --insecure)",
                )
            }
            _ => None,
        }
    }

    pub fn code(&self) -> i32 {
        match self {
            CliError::Usage(_) => USAGE,
            CliError::Input(_) | CliError::Archive(_) => INVALID_INPUT,
            CliError::WebNotBuilt(_) => WEB_NOT_BUILT,
            CliError::Serve(_) => SERVE,
            CliError::Core(e) => match e {
                Error::Auth { .. } => AUTH,
                Error::DigestMismatch { .. } | Error::InvalidInput { .. } => INVALID_INPUT,
                // The source file could not give the bytes (changed, truncated, unreadable).
                Error::Transport { error, .. }
                    if error.kind == tug_core::http::TransportErrorKind::Source =>
                {
                    INVALID_INPUT
                }
                Error::Cancelled => CANCELLED,
                _ => REGISTRY,
            },
        }
    }
}
