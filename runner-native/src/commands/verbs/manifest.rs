//! `tug digest REF` (the manifest's digest) and `tug manifest REF` (its bytes exactly as the
//! registry serves them); with `--platform`, that platform's manifest of an index.

use std::time::Instant as Clock;

use tug_core::manifest_ops::{ManifestAction, ManifestOp, ManifestPlan, ManifestReport};
use tug_core::{Instant, Platform, Reference};

use crate::cli::verbs::{DigestArgs, ManifestArgs, ReachArgs};
use crate::exit_code::CliError;
use crate::output::{outln, Stream};

pub fn digest(args: DigestArgs) -> Result<(), CliError> {
    // The digest alone is asked with HEAD; `--json` also says the media type and size, and a
    // platform needs the index: those read the manifest.
    let report = match (args.json, &args.platform) {
        (false, None) => {
            let image = super::parse_reference("image", &args.image)?;
            operate(&image, ManifestAction::Resolve, &args.reach)?
        }
        _ => get(&args.image, args.platform.as_deref(), &args.reach)?,
    };
    if args.json {
        let (media_type, size) = match &report.manifest {
            Some(m) => (Some(m.media_type.clone()), Some(m.bytes.len())),
            None => (None, None),
        };
        let v = serde_json::json!({"digest": report.digest, "mediaType": media_type, "size": size});
        outln!("{v}");
    } else {
        outln!("{}", report.digest);
    }
    Ok(())
}

/// The raw manifest; JSON already, so no `--json`.
pub fn manifest(args: ManifestArgs) -> Result<(), CliError> {
    let report = get(&args.image, args.platform.as_deref(), &args.reach)?;
    let bytes = report.manifest.map(|m| m.bytes).unwrap_or_default();
    Stream::Stdout.write(&bytes);
    Ok(())
}

/// The manifest `image` names, or its platform's.
fn get(image: &str, platform: Option<&str>, reach: &ReachArgs) -> Result<ManifestReport, CliError> {
    let image = super::parse_reference("image", image)?;
    let platform = platform
        .map(|p| {
            p.parse::<Platform>()
                .map_err(|e| CliError::Usage(e.to_string()))
        })
        .transpose()?;
    operate(&image, ManifestAction::Get { platform }, reach)
}

/// Runs `action` on the manifest `image` names.
pub(super) fn operate(
    image: &Reference,
    action: ManifestAction,
    reach: &ReachArgs,
) -> Result<ManifestReport, CliError> {
    let origin = Clock::now();
    let (transport, config) = super::reach(image, reach)?;
    let plan = ManifestPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: image.manifest_ref(),
        action,
    };
    let op = ManifestOp::new(plan, &config, Instant::ZERO);
    super::run(op, origin, &transport, ManifestOp::poll)
}
