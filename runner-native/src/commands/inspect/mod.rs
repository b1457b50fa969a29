//! `tug inspect SOURCE`: what an image holds — an image file ([`file`]) or an image in a
//! registry ([`registry`]), shown the same way. The argument decides: an existing path, a
//! `oci:` / `oci-archive:` / `docker-archive:` prefix, a path that starts with `/` or `.`, or
//! what is no image reference is a file (so a missing file is said to be missing); anything
//! else is a reference.

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
    let prefixed = ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|p| source.starts_with(p));
    // (A URL or `docker:HOST/…` is a reference gone wrong, said as such.)
    let registry_typo = source.starts_with("http://")
        || source.starts_with("https://")
        || source.starts_with("docker:");
    prefixed
        || Path::new(source).exists()
        || source.starts_with(['/', '.'])
        || !registry_typo && super::verbs::parse_reference("image", source).is_err()
}
