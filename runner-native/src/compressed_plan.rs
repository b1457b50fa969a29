//! The images of a push with `--compress`: every plain tar layer replaced by its compressed
//! blob (digest and size recalled from earlier pushes or measured now, layers in parallel),
//! manifests and index rewritten to name them. Layers already compressed, and the configs,
//! stay as they are.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tug_core::archive::recompress::{self, CompressedLayer};
use tug_core::archive::{BlobSpec, Compression, ManifestBytes, ResolvedImage};
use tug_core::Digest;

use crate::compress::{measure, CompressedBlob, Plain, Settings};
use crate::compress_cache::CompressCache;
use crate::exit_code::CliError;
use crate::source::Source;

/// The rewritten images and where the bytes of each compressed blob come from.
pub struct CompressedImages {
    pub images: Vec<ResolvedImage>,
    pub index: Option<ManifestBytes>,
    /// By compressed digest.
    pub blobs: HashMap<Digest, Arc<CompressedBlob>>,
    /// Plain and compressed bytes of the layers compressed; how many were measured now
    /// (the rest were recalled).
    pub plain_bytes: u64,
    pub compressed_bytes: u64,
    pub measured: usize,
}

/// How far the first pass has got, for whoever shows it: plain bytes to compress now
/// (known once the cache was asked) and read so far.
#[derive(Debug, Default)]
pub struct Measuring {
    /// Plain bytes of the layers to compress now (the rest are recalled).
    pub total: AtomicU64,
    /// Plain bytes read so far.
    pub read: Arc<AtomicU64>,
    /// Layers to compress now.
    pub layers: AtomicUsize,
}

/// Whether `--compress` changes this layer.
fn wants(layer: &BlobSpec) -> bool {
    layer.compression == Some(Compression::None) && recompress::is_compressible(&layer.media_type)
}

/// Compresses (or recalls) every plain layer of `images` with `settings`, `jobs` at once,
/// keeping `measuring` up to date.
pub fn compress_images(
    source: &Source,
    images: &[ResolvedImage],
    index: Option<&ManifestBytes>,
    settings: Settings,
    jobs: usize,
    cache: &CompressCache,
    measuring: &Measuring,
) -> Result<CompressedImages, CliError> {
    // Each plain layer once, even when several platforms share it.
    let mut plain: Vec<&BlobSpec> = Vec::new();
    for layer in images.iter().flat_map(|i| &i.layers).filter(|l| wants(l)) {
        if !plain.iter().any(|p| p.digest == layer.digest) {
            plain.push(layer);
        }
    }
    let mut found: HashMap<Digest, (Digest, u64)> = HashMap::new();
    let mut recalled = Vec::new();
    let mut todo = Vec::new();
    for layer in &plain {
        match cache.get(settings, &layer.digest) {
            Some(known) => {
                recalled.push(layer.digest.clone());
                found.insert(layer.digest.clone(), known);
            }
            None => todo.push(*layer),
        }
    }
    let measured = todo.len();
    let to_read: u64 = todo.iter().map(|l| l.size).sum();
    measuring.total.store(to_read, Ordering::Relaxed);
    measuring.layers.store(measured, Ordering::Relaxed);
    let plain_of = |layer: &BlobSpec| Plain {
        file: source.blob_file(&layer.location),
        len: layer.size,
    };
    let results = Mutex::new(Vec::new());
    let next = Mutex::new(todo.iter());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, todo.len().max(1)) {
            s.spawn(|| loop {
                let Some(layer) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                    return;
                };
                let r = measure(settings, &plain_of(layer), &measuring.read).map_err(|e| {
                    CliError::Input(format!("cannot compress {}: {e}", describe(layer)))
                });
                let failed = r.is_err();
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((layer.digest.clone(), r));
                if failed {
                    return;
                }
            });
        }
    });
    for (plain_digest, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let (digest, size) = r?;
        cache.put(settings, &plain_digest, &digest, size);
        found.insert(plain_digest, (digest, size));
    }

    let mut blobs = HashMap::new();
    let (mut plain_bytes, mut compressed_bytes) = (0, 0);
    for layer in &plain {
        let (digest, size) = found[&layer.digest].clone();
        plain_bytes += layer.size;
        compressed_bytes += size;
        let mut blob = CompressedBlob::new(settings, plain_of(layer), digest.clone(), size);
        if let Some(file) = cache.path().filter(|_| recalled.contains(&layer.digest)) {
            blob = blob.recalled_from(file);
        }
        blobs.insert(digest, Arc::new(blob));
    }
    let replaced: Vec<CompressedLayer> = plain
        .iter()
        .map(|l| CompressedLayer {
            uncompressed: l.digest.clone(),
            compression: settings.codec.compression(),
            digest: found[&l.digest].0.clone(),
            size: found[&l.digest].1,
        })
        .collect();
    let rewrite_failed = |e: String| CliError::Input(format!("{}: {e}", source.path.display()));
    let mut new_images = Vec::new();
    let mut children = Vec::new();
    for image in images {
        let manifest = recompress::with_compressed_layers(&image.manifest, &replaced)
            .map_err(rewrite_failed)?;
        let mut image = image.clone();
        for layer in image.layers.iter_mut().filter(|l| wants(l)) {
            let new = replaced
                .iter()
                .find(|r| r.uncompressed == layer.digest)
                .expect("every plain layer was compressed");
            layer.digest = new.digest.clone();
            layer.size = new.size;
            layer.compression = Some(new.compression);
            layer.media_type = new
                .compression
                .oci_layer_media_type()
                .unwrap_or_default()
                .to_owned();
        }
        children.push((image.manifest.digest.clone(), manifest.clone()));
        image.manifest = manifest;
        new_images.push(image);
    }
    let index = index
        .map(|i| recompress::index_with_children(i, &children))
        .transpose()
        .map_err(rewrite_failed)?;
    Ok(CompressedImages {
        images: new_images,
        index,
        blobs,
        plain_bytes,
        compressed_bytes,
        measured,
    })
}

/// A layer for messages: where it is in the source.
fn describe(layer: &BlobSpec) -> String {
    match &layer.location {
        tug_core::archive::BlobLocation::TarRange { entry, .. } => format!("layer {entry}"),
        tug_core::archive::BlobLocation::File { path } => format!("layer {path}"),
    }
}
