//! The images of a push with `--compress`: every plain tar layer replaced by its compressed
//! blob (digest and size recalled from earlier pushes or measured now, layers in parallel),
//! manifests and index rewritten to name them. Layers already compressed, and the configs,
//! stay as they are. [`PlainLayers`] takes the steps one at a time (what is remembered, what
//! is learned while layers are sent or in a pass on its own, the rewrite), so a push can
//! start before any digest is known.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tug_core::archive::recompress::{self, CompressedLayer};
use tug_core::archive::{BlobSpec, Compression, ManifestBytes, ResolvedImage};
use tug_core::Digest;

use super::blob::{measure, CompressedBlob, Plain, Watch};
use super::cache::CompressCache;
use super::codec::Settings;
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

/// How far a pass on its own has got, for whoever shows it: plain bytes to compress now
/// (known once the cache was asked) and read so far.
#[derive(Debug, Default)]
pub struct Measuring {
    /// Plain bytes of the layers to compress now (the rest are recalled).
    pub total: AtomicU64,
    /// Plain bytes read so far, and whether to stop.
    pub watch: Arc<Watch>,
    /// Layers to compress now.
    pub layers: AtomicUsize,
}

/// The plain layers `--compress` changes, each once (even when several platforms share
/// it), and the compressed digest and size of those known so far.
pub struct PlainLayers {
    settings: Settings,
    layers: Vec<BlobSpec>,
    /// Compressed digest and size, by plain digest.
    found: HashMap<Digest, (Digest, u64)>,
    /// Plain digests whose compressed form an earlier push remembered.
    recalled: Vec<Digest>,
}

impl PlainLayers {
    /// The plain layers of `images`, with what the cache remembers of them.
    pub fn new(images: &[ResolvedImage], settings: Settings, cache: &CompressCache) -> Self {
        let mut layers: Vec<BlobSpec> = Vec::new();
        for layer in images
            .iter()
            .flat_map(|i| &i.layers)
            .filter(|l| Self::wants(l))
        {
            if !layers.iter().any(|p| p.digest == layer.digest) {
                layers.push(layer.clone());
            }
        }
        let mut found = HashMap::new();
        let mut recalled = Vec::new();
        for layer in &layers {
            if let Some(known) = cache.get(settings, &layer.digest) {
                recalled.push(layer.digest.clone());
                found.insert(layer.digest.clone(), known);
            }
        }
        PlainLayers {
            settings,
            layers,
            found,
            recalled,
        }
    }

    /// The codec and level.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Whether `--compress` changes this layer: a plain tar.
    pub fn wants(layer: &BlobSpec) -> bool {
        layer.compression == Some(Compression::None)
            && !layer.foreign
            && recompress::is_compressible(&layer.media_type)
    }

    /// The compressed digest and size of plain layer `plain`, if known.
    pub fn known(&self, plain: &Digest) -> Option<&(Digest, u64)> {
        self.found.get(plain)
    }

    /// Layers whose compressed form is not known yet.
    pub fn unknown(&self) -> usize {
        self.layers.len() - self.found.len()
    }

    /// The compressed blob of plain layer `layer` with `digest` and `size`, made from
    /// `source` on demand.
    pub fn blob(
        &self,
        source: &Source,
        layer: &BlobSpec,
        digest: Digest,
        size: u64,
        cache: &CompressCache,
    ) -> Arc<CompressedBlob> {
        let recalled_from = cache
            .path()
            .filter(|_| self.recalled.contains(&layer.digest));
        compressed_blob(self.settings, source, layer, digest, size, recalled_from)
    }

    /// Notes that plain layer `plain` compressed to `digest`, `size` bytes (while it was
    /// sent), and remembers it in `cache` for later pushes.
    pub fn learned(&mut self, plain: &Digest, digest: Digest, size: u64, cache: &CompressCache) {
        cache.put(self.settings, plain, &digest, size);
        self.found.insert(plain.clone(), (digest, size));
    }

    /// Compresses the layers not known yet, `jobs` at once, remembering each in `cache` and
    /// telling `done` (plain layer, digest, size) as it finishes; the first failure stops
    /// the rest.
    pub fn measure(
        &mut self,
        source: &Source,
        jobs: usize,
        cache: &CompressCache,
        measuring: &Measuring,
        done: &(dyn Fn(&BlobSpec, &Digest, u64) + Sync),
    ) -> Result<(), CliError> {
        let todo: Vec<&BlobSpec> = self
            .layers
            .iter()
            .filter(|l| !self.found.contains_key(&l.digest))
            .collect();
        let to_read: u64 = todo.iter().map(|l| l.size).sum();
        measuring.total.store(to_read, Ordering::Relaxed);
        measuring.layers.store(todo.len(), Ordering::Relaxed);
        let settings = self.settings;
        let results = Mutex::new(Vec::new());
        let next = Mutex::new(todo.iter());
        let failed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..jobs.clamp(1, todo.len().max(1)) {
                s.spawn(|| loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some(layer) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        return;
                    };
                    let r = measure(settings, &plain_of(source, layer), &measuring.watch).map_err(
                        |e| CliError::Input(format!("cannot compress {}: {e}", describe(layer))),
                    );
                    match &r {
                        Ok((digest, size)) => {
                            cache.put(settings, &layer.digest, digest, *size);
                            done(layer, digest, *size);
                        }
                        Err(_) => failed.store(true, Ordering::Relaxed),
                    }
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((layer.digest.clone(), r));
                });
            }
        });
        for (plain_digest, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
            self.found.insert(plain_digest, r?);
        }
        Ok(())
    }

    /// `images` and `index` rewritten to name the compressed layers (all known by now),
    /// and the blobs to push.
    pub fn finish(
        &self,
        source: &Source,
        images: &[ResolvedImage],
        index: Option<&ManifestBytes>,
        cache: &CompressCache,
    ) -> Result<CompressedImages, CliError> {
        let settings = self.settings;
        let mut blobs = HashMap::new();
        let (mut plain_bytes, mut compressed_bytes) = (0, 0);
        let mut replaced = Vec::new();
        for layer in &self.layers {
            let Some((digest, size)) = self.found.get(&layer.digest).cloned() else {
                return Err(CliError::Input(format!(
                    "{} was not compressed",
                    describe(layer)
                )));
            };
            plain_bytes += layer.size;
            compressed_bytes += size;
            let blob = self.blob(source, layer, digest.clone(), size, cache);
            blobs.insert(digest.clone(), blob);
            replaced.push(CompressedLayer {
                uncompressed: layer.digest.clone(),
                compression: settings.codec.compression(),
                digest,
                size,
            });
        }
        // A layer already compressed though labelled a plain tar is relabelled (core's rule).
        for relabel in images
            .iter()
            .flat_map(|i| &i.layers)
            .filter_map(recompress::relabelled)
        {
            if !replaced
                .iter()
                .any(|r| r.uncompressed == relabel.uncompressed)
            {
                replaced.push(relabel);
            }
        }
        let rewrite_failed = |e: String| CliError::Input(format!("{}: {e}", source.path.display()));
        let mut new_images = Vec::new();
        let mut children = Vec::new();
        for image in images {
            let manifest = recompress::with_compressed_layers(&image.manifest, &replaced)
                .map_err(rewrite_failed)?;
            let mut image = image.clone();
            for layer in image.layers.iter_mut().filter(|l| !l.foreign) {
                let Some(new) = replaced.iter().find(|r| r.uncompressed == layer.digest) else {
                    continue;
                };
                layer.digest = new.digest.clone();
                layer.size = new.size;
                layer.compression = Some(new.compression);
                layer.media_type =
                    recompress::compressed_layer_media_type(&manifest.media_type, new.compression)
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
            measured: self.layers.len() - self.recalled.len(),
        })
    }
}

/// The compressed blob of plain layer `layer` (`settings`, `digest`, `size`), made from
/// `source` on demand; `recalled_from`: the record its digest came from, if any.
pub fn compressed_blob(
    settings: Settings,
    source: &Source,
    layer: &BlobSpec,
    digest: Digest,
    size: u64,
    recalled_from: Option<std::path::PathBuf>,
) -> Arc<CompressedBlob> {
    let blob = CompressedBlob::new(settings, plain_of(source, layer), digest, size);
    Arc::new(match recalled_from {
        Some(file) => blob.recalled_from(file),
        None => blob,
    })
}

/// Where the plain bytes of `layer` are.
pub fn plain_of(source: &Source, layer: &BlobSpec) -> Plain {
    Plain {
        file: source.blob_file(&layer.location),
        len: layer.size,
        digest: layer.digest.clone(),
    }
}

/// A layer for messages: where it is in the source.
fn describe(layer: &BlobSpec) -> String {
    match &layer.location {
        tug_core::archive::BlobLocation::TarRange { entry, .. } => format!("layer {entry}"),
        tug_core::archive::BlobLocation::File { path } => format!("layer {path}"),
    }
}
