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
    // A new tag is an argument like the image: one that is no tag is a usage error.
    for t in &args.tags {
        if let Err(why) = tug_core::reference::validate_tag(t) {
            let elsewhere = match t.contains(['/', ':', '@']) {
                true => " (tug tag adds tags in the image's own repository; to another: tug copy REF TARGET)",
                false => "",
            };
            return Err(CliError::Usage(format!("new tag {t:?}: {why}{elsewhere}")));
        }
    }
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
    // Registries delete manifests, not tags: every tag naming this one is gone with it.
    let tags = match &image.tag {
        Some(tag) if image.digest.is_none() => {
            format!(" (the manifest {tag} named: every tag naming it is gone too)")
        }
        _ => String::new(),
    };
    errln!(
        "Deleted {}/{}@{}{tags}",
        image.registry,
        image.repository,
        report.digest
    );
    Ok(())
}
