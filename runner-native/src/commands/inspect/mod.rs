//! `tug inspect SOURCE`: what an image holds — an image file ([`file`]) or an image in a
//! registry ([`registry`]), shown the same way. The argument decides: an existing path, a
//! file transport's prefix (`oci:`, `oci-archive:`, `docker-archive:`, `dir:`), a path that
//! starts with `/` or `.`, or what is no image reference is a file (so a missing file is
//! said to be missing); anything else is a reference.

mod file;
mod lines;
mod registry;

use std::path::Path;

use crate::cli::verbs::InspectArgs;
use crate::exit_code::CliError;

pub fn run(args: InspectArgs) -> Result<(), CliError> {
    if is_file(&args.source) {
        if args.config || args.platform.is_some() {
            return Err(CliError::Usage(format!(
                "{}: --config and --platform are for an image in a registry; this is a file",
                args.source
            )));
        }
        return file::run(args);
    }
    registry::run(args)
}

/// Whether `source` names an image file rather than a registry reference.
fn is_file(source: &str) -> bool {
    let prefixed = tug_core::place::FileKind::of_prefixed(source).is_some();
    // (A URL or `docker:HOST/…` is a reference gone wrong, said as such.)
    let registry_typo = source.starts_with("http://")
        || source.starts_with("https://")
        || source.starts_with("docker:");
    // A file's name (`nope.tar`: a missing file, said so), or `PATH:NAME` of a file that
    // exists (`out/d.tar:app`), as `tug push` reads them.
    prefixed
        || Path::new(source).exists()
        || source.starts_with(['/', '.'])
        || tug_core::place::looks_like_path(source)
        || crate::source::split_existing(source).is_some()
        || !registry_typo && super::verbs::parse_reference("image", source).is_err()
}

#[cfg(test)]
mod tests {
    use super::is_file;

    /// Every file transport names a file, a relative path after it included (`dir:x` was
    /// taken for the Docker Hub image `dir:x`).
    #[test]
    fn a_file_transport_names_a_file() {
        for source in [
            "dir:two-zstd-dir",
            "oci:layout:1",
            "oci-archive:x.tar",
            "docker-archive:x.tar:app:1",
        ] {
            assert!(is_file(source), "{source}");
        }
        assert!(!is_file("busybox:latest"));
        // A file's name, there or not: a missing one is said missing, not asked of Docker Hub.
        assert!(is_file("nope.tar"));
        assert!(is_file("out/nope.tar.gz"));
        assert!(!is_file("registry.example:5000/team/app:1"));
    }
}
