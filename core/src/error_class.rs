//! The classes of failure users and scripts branch on: the CLI's exit codes, tug-wasm's
//! error `.code` and the history's `error_class` all come from [`Error::class`], so a failure
//! is put in the same class by every runner.

use std::fmt;

use crate::archive::layer_tar::LayerTarError;
use crate::archive::ArchiveError;
use crate::error::Error;
use crate::http::{TransportError, TransportErrorKind};

/// What kind of failure an error is, as its user sees it.
///
/// Not `#[non_exhaustive]`: a new class must be given its exit code and its name by every
/// runner, so adding one fails to compile until they do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The command line was wrong: a bad flag, an unparsable target. The core never returns
    /// it; the CLI uses it for its arguments (tug-wasm calls a bad argument `Input`, as its
    /// API has always said).
    Usage,
    /// The input cannot be used: not an image file, a missing or malformed entry, a size or
    /// digest that disagrees with its descriptor, a source file that changes or cannot be
    /// read while it is sent.
    Input,
    /// Credentials are missing or were rejected, or access was denied.
    Auth,
    /// The image or repository named is not there: the registry answered `404` with
    /// `MANIFEST_UNKNOWN` or `NAME_UNKNOWN` (the distribution spec's codes for a tag,
    /// digest or repository it does not know).
    NotFound,
    /// The registry answered with an error, or broke the protocol.
    Registry,
    /// The registry could not be reached, or the connection kept failing.
    Network,
    /// The registry answered but a browser withheld the answer (CORS).
    Cors,
    /// The user cancelled.
    Cancelled,
}

impl ErrorClass {
    /// Every class, in the order of the README's exit-code table.
    pub const ALL: [ErrorClass; 8] = [
        ErrorClass::Usage,
        ErrorClass::Input,
        ErrorClass::Auth,
        ErrorClass::NotFound,
        ErrorClass::Registry,
        ErrorClass::Network,
        ErrorClass::Cors,
        ErrorClass::Cancelled,
    ];

    /// The exit code a command-line host ends with on an error of this class (the README's
    /// "Exit codes": the `tug` CLI, the Python host). A cancellation's is SIGINT's, as a
    /// shell reports it; the CLI gives other signals their own.
    pub const fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Usage => 2,
            ErrorClass::Input => 3,
            ErrorClass::Auth => 4,
            ErrorClass::NotFound => 7,
            // A browser's CORS refusal too, which only tug-wasm meets.
            ErrorClass::Registry | ErrorClass::Network | ErrorClass::Cors => 5,
            ErrorClass::Cancelled => 130,
        }
    }

    /// The stable name: tug-wasm's `.code`, the history's `error_class`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Usage => "usage",
            ErrorClass::Input => "input",
            ErrorClass::Auth => "auth",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Registry => "registry",
            ErrorClass::Network => "network",
            ErrorClass::Cors => "cors",
            ErrorClass::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Error {
    /// The class of this failure.
    ///
    /// A digest mismatch is an input error whichever side's bytes failed their digest (the
    /// image file in a push, a pulled manifest or blob): the image is not what its digests
    /// say, and `tug` has documented exit code 3 for that since its first release.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidInput { .. } | Error::DigestMismatch { .. } => ErrorClass::Input,
            Error::Auth { .. }
            | Error::Registry {
                status: 401 | 403, ..
            } => ErrorClass::Auth,
            Error::Registry {
                status: 404,
                errors,
                ..
            } if NOT_FOUND_CODES.iter().any(|code| errors.has_code(code)) => ErrorClass::NotFound,
            Error::Registry { .. } | Error::Protocol { .. } => ErrorClass::Registry,
            Error::Transport { error, .. } => transport_class(error),
            Error::Cancelled => ErrorClass::Cancelled,
        }
    }
}

impl ArchiveError {
    /// The class of a failure to read an image file or layout: the input's.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Input
    }
}

impl LayerTarError {
    /// The class of a layer that cannot be turned back into its tar (it does not decode, or
    /// not to its diffID): the input's, as a digest mismatch is ([`Error::class`]).
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Input
    }
}

/// The registry error codes that say the image asked for is not there: an unknown tag or
/// digest, an unknown repository (a `404` without them — a missing blob, an upload session
/// gone, a path the registry does not serve — stays a registry error).
const NOT_FOUND_CODES: [&str; 2] = ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"];

/// The class of a transport failure: a local source that cannot be read is the input's
/// fault, a browser's CORS refusal its own class, a proxy wanting credentials an
/// authentication failure, an answer larger than any the protocol allows the registry's
/// (it was reached, and answered), anything else the network's.
fn transport_class(error: &TransportError) -> ErrorClass {
    match error.kind {
        TransportErrorKind::Source => ErrorClass::Input,
        TransportErrorKind::TooLarge => ErrorClass::Registry,
        TransportErrorKind::Blocked => ErrorClass::Cors,
        TransportErrorKind::ProxyAuth => ErrorClass::Auth,
        _ => ErrorClass::Network,
    }
}

/// One error of every kind the core returns, with the class it must have: the table the
/// core's test checks and the runners' tests walk (the CLI's exit codes, tug-wasm's `.code`),
/// so they cannot disagree. Not a stable API.
#[doc(hidden)]
pub fn class_table() -> Vec<(Error, ErrorClass)> {
    use crate::digest::Digest;
    let registry = |status| Error::Registry {
        action: "uploading blob".into(),
        status,
        errors: Default::default(),
        by: None,
    };
    let unknown = |code: &str| Error::Registry {
        action: "fetching manifest registry.example/app:1".into(),
        status: 404,
        errors: crate::registry_error::RegistryErrors::parse(
            format!(r#"{{"errors":[{{"code":"{code}","message":"unknown"}}]}}"#).as_bytes(),
        ),
        by: None,
    };
    let transport = |kind| Error::Transport {
        action: "uploading blob".into(),
        error: TransportError {
            kind,
            message: "what the runtime said".into(),
        },
    };
    let mut table = vec![
        (
            Error::InvalidInput {
                message: "bad plan".into(),
            },
            ErrorClass::Input,
        ),
        (
            Error::DigestMismatch {
                what: "blob from registry.example/app".into(),
                expected: Digest::sha256_of(b"expected"),
                actual: Digest::sha256_of(b"actual"),
            },
            ErrorClass::Input,
        ),
        (
            Error::Auth {
                message: "credentials rejected".into(),
            },
            ErrorClass::Auth,
        ),
        (registry(401), ErrorClass::Auth),
        (registry(403), ErrorClass::Auth),
        (registry(404), ErrorClass::Registry),
        (unknown("MANIFEST_UNKNOWN"), ErrorClass::NotFound),
        (unknown("NAME_UNKNOWN"), ErrorClass::NotFound),
        (unknown("BLOB_UNKNOWN"), ErrorClass::Registry),
        (registry(500), ErrorClass::Registry),
        (
            Error::Protocol {
                action: "pushing manifest".into(),
                message: "no Location".into(),
            },
            ErrorClass::Registry,
        ),
        (Error::Cancelled, ErrorClass::Cancelled),
    ];
    for kind in [
        TransportErrorKind::Connect,
        TransportErrorKind::NoSuchHost,
        TransportErrorKind::Tls,
        TransportErrorKind::NotTls,
        TransportErrorKind::Io,
        TransportErrorKind::Timeout,
        TransportErrorKind::MixedContent,
        TransportErrorKind::Other,
    ] {
        table.push((transport(kind), ErrorClass::Network));
    }
    table.push((
        transport(TransportErrorKind::TooLarge),
        ErrorClass::Registry,
    ));
    table.push((transport(TransportErrorKind::Source), ErrorClass::Input));
    table.push((transport(TransportErrorKind::Blocked), ErrorClass::Cors));
    table.push((transport(TransportErrorKind::ProxyAuth), ErrorClass::Auth));
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The README's exit-code table, class by class (the CLI and the Python host exit
    /// with these).
    #[test]
    fn every_class_has_its_documented_exit_code() {
        let documented = |class| match class {
            ErrorClass::Usage => 2,
            ErrorClass::Input => 3,
            ErrorClass::Auth => 4,
            ErrorClass::NotFound => 7,
            ErrorClass::Registry | ErrorClass::Network | ErrorClass::Cors => 5,
            ErrorClass::Cancelled => 130,
        };
        for class in ErrorClass::ALL {
            assert_eq!(class.exit_code(), documented(class), "{class}");
        }
    }

    #[test]
    fn every_error_has_the_class_the_table_lists() {
        for (error, class) in class_table() {
            assert_eq!(error.class(), class, "{error}");
        }
    }

    #[test]
    fn the_table_covers_every_class_the_core_returns() {
        let table = class_table();
        for class in ErrorClass::ALL {
            let returned = table.iter().any(|(_, c)| *c == class);
            // Usage is the runners' own (their flags and options), never the core's.
            assert_eq!(returned, class != ErrorClass::Usage, "{class}");
        }
    }

    #[test]
    fn names_are_the_documented_codes() {
        let names: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "usage",
                "input",
                "auth",
                "not_found",
                "registry",
                "network",
                "cors",
                "cancelled"
            ]
        );
    }

    #[test]
    fn an_unreadable_image_file_or_layer_is_an_input_error() {
        let archive = ArchiveError::NotATar {
            reason: "zeros".into(),
        };
        assert_eq!(archive.class(), ErrorClass::Input);
        let layer = LayerTarError {
            layer: crate::archive::layer_tar::LayerName {
                digest: crate::Digest::sha256_of(b"l"),
                image: None,
            },
            problem: crate::archive::layer_tar::LayerTarProblem::Unsupported(
                crate::archive::Compression::Xz,
            ),
        };
        assert_eq!(layer.class(), ErrorClass::Input);
    }

    #[test]
    fn a_pulled_blob_that_fails_its_digest_is_an_input_error_as_a_pushed_one_is() {
        let mismatch = |what: &str| Error::DigestMismatch {
            what: what.into(),
            expected: crate::Digest::sha256_of(b"a"),
            actual: crate::Digest::sha256_of(b"b"),
        };
        assert_eq!(
            mismatch("blob from 127.0.0.1:5000/app").class(),
            ErrorClass::Input
        );
        assert_eq!(mismatch("blob 1 of the image").class(), ErrorClass::Input);
    }
}
