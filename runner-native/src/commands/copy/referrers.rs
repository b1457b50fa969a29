//! The referrers step of a registry-to-registry copy (`tug copy`, `tug sync`): after the
//! image, what is attached to it (signatures, SBOMs, attestations) is found at the source
//! and each is copied like an image — its blobs, then its manifest — and listed in the
//! target's fallback tag's index unless the target indexed it itself (`OCI-Subject`). What to
//! ask, copy and write is the core's ([`tug_core::referrers`]); this drives it.

use std::time::Instant as Clock;

use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource};
use tug_core::referrers::{
    carries, needs_fallback_index, Attach, AttachPlan, DiscoverPlan, Discovery, Known,
};
use tug_core::{Digest, Instant, Reference, RegistryConfig};

use super::run_copy_quietly;
use crate::commands::verbs;
use crate::exit_code::CliError;
use crate::output::errln;
use crate::progress::ProgressMode;
use crate::transport::Transport;

/// One end of the copy: the image there, and how to reach its registry.
pub(crate) struct End<'a> {
    pub(crate) image: &'a Reference,
    pub(crate) config: &'a RegistryConfig,
    pub(crate) transport: &'a Transport,
}

/// What [`carry`] did.
pub(crate) struct Carried {
    /// Whether the source answered the referrers API (for the next image's [`Known`]).
    pub(crate) api: bool,
}

/// Copies what is attached to `subject` (read at `source`, not asking what `known` rules
/// out) to `target`. `mode`: how their copies are shown.
pub(crate) async fn carry(
    source: End<'_>,
    target: End<'_>,
    (subject, known): (&Digest, Known),
    config: &CopyConfig,
    mode: ProgressMode,
) -> Result<Carried, CliError> {
    let plan = DiscoverPlan {
        registry: source.image.api_host().to_owned(),
        repository: source.image.repository.clone(),
        reference: subject.to_string(),
        known,
    };
    if !plan.asks_anything() {
        return Ok(Carried { api: false });
    }
    let discovery = Discovery::new(plan, source.config, Instant::ZERO);
    let found =
        verbs::run_async(discovery, Clock::now(), source.transport, Discovery::poll).await?;
    let mut indexed = Vec::new();
    for carry in carries(&found, source.image, target.image) {
        let plan = CopyPlan {
            sources: vec![CopySource {
                reference: carry.source.clone(),
                config: source.config.clone(),
            }],
            target: carry.target.clone(),
            target_config: target.config.clone(),
            platform: None,
            // Artifacts are small and their blobs unknown until read: none of the
            // repository's kept sessions (an image's, which its own copy takes up) is taken.
            resume: Vec::new(),
        };
        let copy = Copy::new(plan, config.clone(), Instant::ZERO);
        // The referrer's copy is shown as one line; its blobs are small.
        let ends = (source.transport, target.transport);
        let report = run_copy_quietly(copy, ends, (&carry.source, &carry.target)).await?;
        if !matches!(mode, ProgressMode::None | ProgressMode::Json) {
            let what = carry
                .referrer
                .artifact_type
                .as_deref()
                .unwrap_or("artifact");
            errln!("Copied referrer {what} {}", carry.target);
        }
        if needs_fallback_index(&carry, &report) {
            indexed.push(carry.referrer.clone());
        }
    }
    if !indexed.is_empty() {
        let plan = AttachPlan {
            registry: target.image.api_host().to_owned(),
            repository: target.image.repository.clone(),
            subject: subject.clone(),
            referrers: indexed,
        };
        let attach = Attach::new(plan, target.config, Instant::ZERO);
        verbs::run_async(attach, Clock::now(), target.transport, Attach::poll).await?;
    }
    Ok(Carried { api: found.api })
}
