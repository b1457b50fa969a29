//! `tug tag REF NEWTAG…` (the same manifest under new tags: no blob moves) and
//! `tug delete REF` (a manifest, by digest).

use tug_core::manifest_ops::ManifestAction;

use crate::cli::verbs::{DeleteArgs, TagArgs};
use crate::exit_code::CliError;
use crate::output::{errln, outln};

/// Prints the pinned reference `registry/repository@digest` on standard output, once (every
/// new tag names the same manifest).
pub fn tag(args: TagArgs) -> Result<(), CliError> {
    let image = super::parse_reference("image", &args.image)?;
    let action = ManifestAction::Tag {
        tags: args.tags.clone(),
    };
    let report = super::manifest::operate(&image, action, &args.reach)?;
    for tag in &args.tags {
        errln!("Tagged {}/{}:{tag}", image.registry, image.repository);
    }
    outln!("{}/{}@{}", image.registry, image.repository, report.digest);
    Ok(())
}

pub fn delete(args: DeleteArgs) -> Result<(), CliError> {
    let image = super::parse_reference("image", &args.image)?;
    let report = super::manifest::operate(&image, ManifestAction::Delete, &args.reach)?;
    errln!(
        "Deleted {}/{}@{}",
        image.registry,
        image.repository,
        report.digest
    );
    Ok(())
}
