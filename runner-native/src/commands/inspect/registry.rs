//! `tug inspect REF`: an image in a registry shown as a file's inspection shows its images
//! (per image its platform, index, manifest, config and layers with sizes and media types),
//! plus what its config says (platform, created, entrypoint and command, env, labels).
//! Which manifests there are is the core's pull, stopped after the manifests (an index's
//! every image, or `--platform`'s); each config blob is read verified
//! ([`tug_core::blob_read`]). `--config` prints the config blob.

use std::time::Instant as Clock;

use tug_core::blob_read::{BlobPlan, BlobRead};
use tug_core::image_config::ConfigSummary;
use tug_core::manifest::{self, Descriptor};
use tug_core::pull::{self, FetchedManifest, Pull, PullPlan, PullReport, PulledImage};
use tug_core::terminal_safe::terminal_safe;
use tug_core::{Instant, Platform, Reference, RegistryConfig};

use super::lines::{Blob, ImageLines, Shown};
use crate::cli::verbs::InspectArgs;
use crate::commands::verbs;
use crate::driver::drive;
use crate::exit_code::CliError;
use crate::output::{outln, Stream};
use crate::transport::Transport;

/// One image of the reference, with what its config says.
struct Image {
    /// Its platform: the index entry's, else its config's.
    platform: Option<String>,
    /// Whether it is an image of the index the reference names (shown from the root; one
    /// copy of an index for each of its images grew as entries × index size).
    in_index: bool,
    manifest: FetchedManifest,
    config: Descriptor,
    layers: Vec<Descriptor>,
    config_bytes: Vec<u8>,
    summary: ConfigSummary,
}

/// The registry, reached once for every request of the inspection.
struct Remote {
    image: Reference,
    transport: Transport,
    config: RegistryConfig,
    origin: Clock,
}

pub fn run(args: InspectArgs) -> Result<(), CliError> {
    let image = verbs::parse_reference("image", &args.source)?;
    let platform = args
        .platform
        .as_deref()
        .map(|p| {
            p.parse::<Platform>()
                .map_err(|e| CliError::Usage(e.to_string()))
        })
        .transpose()?;
    let origin = Clock::now();
    let (transport, config) = verbs::reach(&image, &args.reach)?;
    let remote = Remote {
        image,
        transport,
        config,
        origin,
    };
    let pulled = remote.manifests(platform)?;
    let root = pulled.root;
    let in_index = manifest::is_index(&root.media_type);
    if args.config && pulled.images.len() > 1 {
        let platforms: Vec<String> = pulled.images.iter().map(platform_of).collect();
        return Err(CliError::Usage(format!(
            "{} is an index: --config needs --platform, one of {}",
            args.source,
            platforms.join(", ")
        )));
    }
    let images = pulled
        .images
        .into_iter()
        .map(|pulled| remote.image_of(pulled, in_index))
        .collect::<Result<Vec<_>, _>>()?;
    if args.config {
        let bytes = images.first().map(|i| i.config_bytes.as_slice());
        Stream::Stdout.write(bytes.unwrap_or_default());
        return Ok(());
    }
    if args.json {
        print_json(&remote.image, &root, &images);
    } else {
        print_text(&args.source, &remote.image, &root, &images);
    }
    Ok(())
}

/// An index entry's platform as shown, `?` where the entry names none.
fn platform_of(image: &PulledImage) -> String {
    image
        .platform
        .as_ref()
        .map_or_else(|| "?".to_owned(), ToString::to_string)
}

impl Remote {
    /// The reference's manifests: every image of an index, or `platform`'s; no blob.
    fn manifests(&self, platform: Option<Platform>) -> Result<PullReport, CliError> {
        let plan = PullPlan {
            all_platforms: platform.is_none(),
            manifests_only: true,
            platform_required: platform.is_some(),
            // (Every image of an index when none is named: the platform is then unused.)
            ..PullPlan::of(
                &self.image,
                platform.unwrap_or_else(Platform::default_for_unknown_host),
            )
        };
        let config = pull::PullConfig::from(self.config.clone());
        let op = Pull::new(plan, config, Instant::ZERO);
        let result = smol::block_on(drive(op, self.origin, &self.transport, |op, io| {
            while let Some(output) = op.poll() {
                match output {
                    pull::Output::Send(req) => io.send(req),
                    pull::Output::Abort(id) => io.abort(id),
                    pull::Output::Timeout(at) => io.wake_at(at),
                    pull::Output::Finished(result) => return Some(result),
                    _ => {}
                }
            }
            None
        }));
        Ok(result?)
    }

    /// The config blob `config` names, verified and no larger than it says.
    fn config_blob(&self, config: &Descriptor) -> Result<Vec<u8>, CliError> {
        let plan = BlobPlan {
            registry: self.image.api_host().to_owned(),
            repository: self.image.repository.clone(),
            digest: config.digest.clone(),
            max_size: Some(config.size),
        };
        let op = BlobRead::new(plan, &self.config, Instant::ZERO);
        let mut bytes = Vec::new();
        let keep = |data: &[u8]| {
            bytes.extend_from_slice(data);
            Ok(())
        };
        verbs::run_reading(op, self.origin, &self.transport, BlobRead::poll, keep)?;
        Ok(bytes)
    }

    /// A pulled image's manifest, read with its config.
    fn image_of(&self, pulled: PulledImage, in_index: bool) -> Result<Image, CliError> {
        let config_bytes = self.config_blob(&pulled.config)?;
        let summary = ConfigSummary::of(&config_bytes).map_err(|message| {
            CliError::Core(tug_core::Error::Protocol {
                action: format!("reading config {}", pulled.config.digest),
                message,
            })
        })?;
        Ok(Image {
            platform: (pulled.platform.as_ref().map(ToString::to_string))
                .or_else(|| summary.platform.clone()),
            in_index,
            manifest: pulled.manifest,
            config: pulled.config,
            layers: pulled.layers,
            config_bytes,
            summary,
        })
    }
}

fn total(image: &Image) -> u64 {
    image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>()
}

fn print_text(source: &str, image: &Reference, root: &FetchedManifest, images: &[Image]) {
    let what = if manifest::is_index(&root.media_type) {
        format!("index of {} images", images.len())
    } else {
        "one image".to_owned()
    };
    outln!("{source}: {what} in a registry");
    for (i, img) in images.iter().enumerate() {
        let name = format!("{}/{}", image.registry, image.repository);
        outln!("image {i}: {name}@{}", img.manifest.digest);
        ImageLines {
            platform: img.platform.clone(),
            index: img.in_index.then(|| fetched(root)),
            manifest: fetched(&img.manifest),
            config: descriptor(&img.config),
            layers: img.layers.iter().map(descriptor).collect(),
        }
        .print();
        if let Some(artifact) = manifest::artifact_type(&img.manifest.bytes) {
            outln!("  artifact {}", terminal_safe(&artifact));
        }
        let s = &img.summary;
        if let Some(created) = &s.created {
            outln!("  created  {created}");
        }
        if let Some(entrypoint) = &s.entrypoint {
            outln!("  entrypoint {}", serde_json::json!(entrypoint));
        }
        if let Some(cmd) = &s.cmd {
            outln!("  cmd      {}", serde_json::json!(cmd));
        }
        outln!("  env      {} variables", s.env);
        for (k, v) in &s.labels {
            outln!("  label    {k}={v}");
        }
    }
}

fn print_json(image: &Reference, root: &FetchedManifest, images: &[Image]) {
    let blob = |b: &Descriptor| serde_json::json!({"digest": b.digest, "size": b.size, "mediaType": b.media_type});
    let manifest = |m: &FetchedManifest| serde_json::json!({"digest": m.digest, "mediaType": m.media_type, "size": m.bytes.len()});
    let list: Vec<_> = images
        .iter()
        .map(|img| {
            serde_json::json!({
                "platform": img.platform,
                "index": img.in_index.then(|| manifest(root)),
                "manifest": manifest(&img.manifest),
                "artifactType": manifest::artifact_type(&img.manifest.bytes),
                "config": blob(&img.config),
                "layers": img.layers.iter().map(blob).collect::<Vec<_>>(),
                "size": total(img),
                "summary": img.summary,
            })
        })
        .collect();
    let v = serde_json::json!({
        "reference": image.to_string(),
        "format": "registry",
        "digest": root.digest,
        "mediaType": root.media_type,
        "images": list,
    });
    outln!("{v:#}");
}

/// A manifest or index from the registry, as shown.
fn fetched(m: &FetchedManifest) -> Shown<'_> {
    Shown {
        digest: &m.digest,
        media_type: &m.media_type,
        len: m.bytes.len(),
    }
}

/// A descriptor's blob, as shown.
fn descriptor(d: &Descriptor) -> Blob<'_> {
    Blob {
        digest: &d.digest,
        size: d.size,
        media_type: &d.media_type,
    }
}
