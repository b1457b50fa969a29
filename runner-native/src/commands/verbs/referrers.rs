//! `tug ls --referrers REF`: what is attached to an image (signatures, SBOMs, attestations),
//! as the core's [`Discovery`] finds it — one line each (type, digest, size, and the
//! cosign-style tag it is under, if any), or JSON.

use std::time::Instant as Clock;

use tug_core::referrers::{DiscoverPlan, Discovery, Known, Referrers};
use tug_core::Instant;

use crate::cli::verbs::LsArgs;
use crate::exit_code::CliError;
use crate::output::outln;

pub fn ls(args: LsArgs) -> Result<(), CliError> {
    let image = super::parse_reference("image", &args.repository)?.with_default_tag();
    let origin = Clock::now();
    let (transport, config) = super::reach(&image, &args.reach)?;
    let plan = DiscoverPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: image.manifest_ref(),
        known: Known::default(),
    };
    let found = super::run(
        Discovery::new(plan, &config, Instant::ZERO),
        origin,
        &transport,
        Discovery::poll,
    )?;
    // Nothing found for an image named by digest: said only once it is known to exist (a
    // tag is resolved first, so a missing one is already an error), else a typo in the
    // repository would read as "nothing attached".
    if found.referrers.is_empty() && image.digest.is_some() {
        let probe = tug_core::manifest_ops::ManifestAction::Probe;
        super::manifest::operate(&image, probe, &args.reach)?;
    }
    if args.json {
        outln!("{}", as_json(&found));
    } else {
        for r in &found.referrers {
            let kind = r.artifact_type.as_deref().unwrap_or(&r.media_type);
            let line = format!("{kind}\t{}\t{}", r.digest, r.size);
            match &r.tag {
                Some(tag) => outln!("{line}\t{tag}"),
                None => outln!("{line}"),
            }
        }
    }
    Ok(())
}

fn as_json(found: &Referrers) -> serde_json::Value {
    let referrers: Vec<_> = found
        .referrers
        .iter()
        .map(|r| {
            serde_json::json!({
                "digest": r.digest.to_string(),
                "mediaType": r.media_type,
                "artifactType": r.artifact_type,
                "size": r.size,
                "annotations": r.annotations,
                "tag": r.tag,
            })
        })
        .collect();
    serde_json::json!({
        "subject": found.subject.to_string(),
        "referrersApi": found.api,
        "referrers": referrers,
    })
}
