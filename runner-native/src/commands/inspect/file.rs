//! `tug inspect FILE`: what an image file holds, without touching a registry: per image
//! its names, platform (`os/arch[/variant]`), the index it belongs to, manifest, config and
//! layers.

use crate::cli::verbs::InspectArgs;
use crate::exit_code::CliError;
use crate::output::outln;
use tug_core::archive::{ManifestBytes, ResolvedImage};

use super::lines::{Blob, ImageLines, Shown};
use crate::source::{Source, SourceSpec};

pub fn run(args: InspectArgs) -> Result<(), CliError> {
    let spec = SourceSpec::parse(&args.source);
    let source = Source::open(&spec.path)?;
    let contents = &source.contents;
    // `oci:DIR:REF`, `docker-archive:PATH:NAME`: only the image named, as push takes it.
    let wanted: Vec<&ResolvedImage> = match &spec.image {
        Some(name) => contents
            .select_for_push(Some(name))
            .map_err(|e| CliError::Input(format!("{}: {e}", source.path.display())))?
            .images()
            .iter()
            .collect(),
        None => contents.images.iter().collect(),
    };
    let shown_images = contents
        .images
        .iter()
        .enumerate()
        .filter(|(_, img)| wanted.iter().any(|w| std::ptr::eq(*w, *img)));
    if args.json {
        let images: Vec<_> = shown_images
            .map(|(_, img)| {
                let blob = |b: &tug_core::archive::BlobSpec| {
                    serde_json::json!({"digest": b.digest, "size": b.size, "mediaType": b.media_type})
                };
                serde_json::json!({
                    "names": img.names,
                    "platform": img.platform.as_ref().map(ToString::to_string),
                    "index": img.index.as_ref().map(|i| serde_json::json!({
                        "digest": i.digest, "mediaType": i.media_type, "size": i.bytes.len()})),
                    "manifest": {"digest": img.manifest.digest, "mediaType": img.manifest.media_type,
                                 "size": img.manifest.bytes.len()},
                    "config": blob(&img.config),
                    "layers": img.layers.iter().map(blob).collect::<Vec<_>>(),
                    "size": img.config.size + img.layers.iter().map(|l| l.size).sum::<u64>(),
                })
            })
            .collect();
        let v = serde_json::json!({"format": contents.format.to_string(),
            "compression": source.compression.map(|c| c.name()), "images": images});
        outln!("{v:#}");
        return Ok(());
    }
    outln!("{}: {}", source.path.display(), source.describe_format());
    for (i, img) in shown_images {
        let names = if img.names.is_empty() {
            "(untagged)".to_owned()
        } else {
            img.names.join(", ")
        };
        outln!("image {i}: {names}");
        ImageLines {
            platform: img.platform.as_ref().map(ToString::to_string),
            index: img.index.as_ref().map(shown),
            manifest: shown(&img.manifest),
            config: Blob {
                digest: &img.config.digest,
                size: img.config.size,
                media_type: &img.config.media_type,
            },
            layers: img
                .layers
                .iter()
                .map(|l| Blob {
                    digest: &l.digest,
                    size: l.size,
                    media_type: &l.media_type,
                })
                .collect(),
        }
        .print();
    }
    Ok(())
}

/// A manifest or index of a file, as shown.
fn shown(m: &ManifestBytes) -> Shown<'_> {
    Shown {
        digest: &m.digest,
        media_type: &m.media_type,
        len: m.bytes.len(),
    }
}
