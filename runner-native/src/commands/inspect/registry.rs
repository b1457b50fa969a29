//! `tug inspect REF`: an image in a registry shown as a file's inspection shows its images
//! (per image its platform, index, manifest, config and layers with sizes and media types),
//! plus what its config says (platform, created, entrypoint and command, env, labels).
//! Every request is a core operation: the manifests ([`tug_core::manifest_ops`]), each
//! config blob verified ([`tug_core::blob_read`]). `--config` prints the config blob.

use std::time::Instant as Clock;

use tug_core::blob_read::{BlobPlan, BlobRead};
use tug_core::image_config::ConfigSummary;
use tug_core::manifest::{self, Descriptor, Parsed};
use tug_core::manifest_ops::{ManifestAction, ManifestOp, ManifestPlan, ManifestReport};
use tug_core::pull::FetchedManifest;
use tug_core::{Instant, Platform, Reference, RegistryConfig};

use super::lines::{Blob, ImageLines, Shown};
use crate::cli::verbs::InspectArgs;
use crate::commands::verbs;
use crate::exit_code::CliError;
use crate::output::{outln, Stream};
use crate::transport::Transport;

/// One image of the reference, with what its config says.
struct Image {
    /// Its platform: the index entry's, else its config's.
    platform: Option<String>,
    index: Option<FetchedManifest>,
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
    let reference = remote.image.manifest_ref();
    let report = remote.manifest(&reference, platform)?;
    let root = report.index.clone().or(report.manifest.clone());
    let Some(root) = root else {
        return Err(CliError::Input(format!("{}: no manifest", args.source)));
    };
    let images = match (report.index, report.manifest) {
        // A platform's image, taken from the index.
        (Some(index), Some(manifest)) => {
            let platform = args.platform.clone();
            vec![remote.image_of(manifest, Some(index), platform)?]
        }
        _ => match parse(&root)? {
            Parsed::Image { .. } => vec![remote.image_of(root.clone(), None, None)?],
            Parsed::Index { manifests } if args.config => {
                return Err(CliError::Usage(format!(
                    "{} is an index: --config needs --platform, one of {}",
                    args.source,
                    manifest::platforms_of(&manifests).join(", ")
                )));
            }
            Parsed::Index { manifests } => remote.images_of(&root, &manifests)?,
        },
    };
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

fn parse(m: &FetchedManifest) -> Result<Parsed, CliError> {
    manifest::parse(&m.media_type, &m.bytes).map_err(|message| {
        CliError::Core(tug_core::Error::Protocol {
            action: format!("reading manifest {}", m.digest),
            message,
        })
    })
}

impl Remote {
    /// The manifest `reference` names (with `platform`, that platform's of an index).
    fn manifest(
        &self,
        reference: &str,
        platform: Option<Platform>,
    ) -> Result<ManifestReport, CliError> {
        let plan = ManifestPlan {
            registry: self.image.api_host().to_owned(),
            repository: self.image.repository.clone(),
            reference: reference.to_owned(),
            action: ManifestAction::Get { platform },
        };
        let op = ManifestOp::new(plan, &self.config, Instant::ZERO);
        verbs::run(op, self.origin, &self.transport, ManifestOp::poll)
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

    /// The image `manifest` describes, read with its config.
    fn image_of(
        &self,
        manifest: FetchedManifest,
        index: Option<FetchedManifest>,
        platform: Option<String>,
    ) -> Result<Image, CliError> {
        let Parsed::Image { config, layers } = parse(&manifest)? else {
            return Err(CliError::Input(format!(
                "manifest {} is an index inside an index; inspect it by its digest",
                manifest.digest
            )));
        };
        let config_bytes = self.config_blob(&config)?;
        let summary = ConfigSummary::of(&config_bytes).map_err(|message| {
            CliError::Core(tug_core::Error::Protocol {
                action: format!("reading config {}", config.digest),
                message,
            })
        })?;
        Ok(Image {
            platform: platform.or_else(|| summary.platform.clone()),
            index,
            manifest,
            config,
            layers,
            config_bytes,
            summary,
        })
    }

    /// Every image of `index`, in its order.
    fn images_of(
        &self,
        index: &FetchedManifest,
        entries: &[Descriptor],
    ) -> Result<Vec<Image>, CliError> {
        entries
            .iter()
            .map(|entry| {
                let report = self.manifest(&entry.digest.to_string(), None)?;
                let manifest = report.manifest.ok_or_else(|| {
                    CliError::Input(format!("manifest {}: nothing was read", entry.digest))
                })?;
                let platform = entry.platform.as_ref().map(ToString::to_string);
                self.image_of(manifest, Some(index.clone()), platform)
            })
            .collect()
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
            index: img.index.as_ref().map(fetched),
            manifest: fetched(&img.manifest),
            config: descriptor(&img.config),
            layers: img.layers.iter().map(descriptor).collect(),
        }
        .print();
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
                "index": img.index.as_ref().map(manifest),
                "manifest": manifest(&img.manifest),
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
