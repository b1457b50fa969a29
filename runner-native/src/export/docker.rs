//! Classic `docker save` output, the format `docker load` (every version) and
//! `skopeo … docker-archive:FILE` read:
//!
//! ```text
//! manifest.json        [{"Config":"<config hex>.json","RepoTags":["name:tag"],"Layers":["<diff_id hex>.tar",…]}]
//! <config hex>.json    the image config, byte for byte
//! <diff_id hex>.tar    each layer UNCOMPRESSED (gzip and zstd layers are decompressed and
//!                      checked against the config's rootfs.diff_ids)
//! repositories         {"name":{"tag":"<config hex>"}}
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use tug_core::archive::compression::SNIFF_LEN;
use tug_core::archive::{sniff, Compression};
use tug_core::Digest;

use super::io_util::{zstd_decompress, HashingReader, HashingWriter, Meter, Metered};
use super::oci::TarOut;
use super::{
    io_err, parent_dir, repo_and_tag, Blob, DiffIdMismatch, ExportError, ExportReport, Format, Plan,
};
use crate::store::Store;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// Writes a docker-archive of the plan's images (single-platform manifests) to `output`.
pub(super) fn write_archive(
    store: &Store,
    plan: &Plan,
    output: &Path,
    meter: &mut Meter<'_>,
) -> Result<ExportReport, ExportError> {
    // Progress counts configs and layers only: manifests are not written.
    let mut counted = HashSet::new();
    meter.total = plan
        .images
        .iter()
        .filter_map(|i| i.image.as_ref())
        .flat_map(|(config, layers)| std::iter::once(config).chain(layers))
        .filter(|b| counted.insert(b.digest.clone()))
        .map(|b| b.size)
        .sum();

    let scratch_dir = parent_dir(output);
    let mut tar = TarOut::create(output)?;
    let mut written: HashSet<String> = HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in &plan.images {
        let (config, layers) = image
            .image
            .as_ref()
            .ok_or_else(|| ExportError::InvalidImage {
                image: image.label.clone(),
                message: "not an image manifest".into(),
            })?;
        let config_bytes = store.read_blob(&config.digest).map_err(io_err(format!(
            "{}: reading config {}",
            image.label, config.digest
        )))?;
        meter.check().map_err(|_| ExportError::Cancelled)?;
        let diff_ids = diff_ids(&config_bytes).map_err(|message| ExportError::InvalidImage {
            image: image.label.clone(),
            message: format!("config {}: {message}", config.digest),
        })?;
        if diff_ids.len() != layers.len() {
            return Err(ExportError::InvalidImage {
                image: image.label.clone(),
                message: format!(
                    "the manifest lists {} layers but the config has {} rootfs.diff_ids",
                    layers.len(),
                    diff_ids.len()
                ),
            });
        }
        let config_name = format!("{}.json", config.digest.hex());
        if written.insert(config_name.clone()) {
            tar.append_bytes(&config_name, &config_bytes)?;
            meter.advance(config.size);
        }
        let mut layer_names = Vec::new();
        for (index, (layer, diff_id)) in layers.iter().zip(&diff_ids).enumerate() {
            let name = format!("{}.tar", diff_id.hex());
            if written.insert(name.clone()) {
                let ctx = LayerCtx {
                    image: &image.label,
                    index,
                    layer,
                    diff_id,
                };
                write_layer(store, &mut tar, &name, &ctx, &scratch_dir, meter)?;
            }
            layer_names.push(name);
        }
        let mut repo_tags = Vec::new();
        if let Some((repo, tag)) = image.name.as_deref().and_then(repo_and_tag) {
            repo_tags.push(format!("{repo}:{tag}"));
            repositories
                .entry(repo.to_owned())
                .or_default()
                .insert(tag.to_owned(), config.digest.hex().to_owned());
        }
        manifest.push(ManifestEntry {
            config: config_name,
            repo_tags,
            layers: layer_names,
        });
    }
    let manifest = serde_json::to_vec(&manifest).expect("manifest.json serialises");
    let repositories = serde_json::to_vec(&repositories).expect("repositories serialises");
    tar.append_bytes("manifest.json", &manifest)?;
    tar.append_bytes("repositories", &repositories)?;
    tar.finish()?;
    Ok(ExportReport {
        format: Format::DockerArchive,
        images: 0,
        blobs: written.len(),
        bytes: 0,
        linked: 0,
    })
}

fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, String> {
    let config: Config =
        serde_json::from_slice(config).map_err(|e| format!("not a valid image config: {e}"))?;
    let rootfs = config.rootfs.ok_or("no rootfs in the image config")?;
    rootfs
        .diff_ids
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.parse::<Digest>()
                .map_err(|e| format!("rootfs.diff_ids[{i}]: {e}"))
        })
        .collect()
}

struct LayerCtx<'a> {
    image: &'a str,
    index: usize,
    layer: &'a Blob,
    diff_id: &'a Digest,
}

impl LayerCtx<'_> {
    fn describe(&self) -> String {
        format!(
            "{}: layer {} ({})",
            self.image, self.index, self.layer.digest
        )
    }

    fn check(&self, actual: Digest) -> Result<(), ExportError> {
        if &actual == self.diff_id {
            Ok(())
        } else {
            Err(ExportError::DiffIdMismatch(Box::new(DiffIdMismatch {
                image: self.image.to_owned(),
                index: self.index,
                digest: self.layer.digest.clone(),
                expected: self.diff_id.clone(),
                actual,
            })))
        }
    }
}

/// Appends one layer as `name`, uncompressed, checking it against its diff_id. The
/// compression is sniffed from the blob's first bytes, not taken from the media type.
fn write_layer(
    store: &Store,
    tar: &mut TarOut,
    name: &str,
    ctx: &LayerCtx<'_>,
    scratch_dir: &Path,
    meter: &mut Meter<'_>,
) -> Result<(), ExportError> {
    let path = store.blob_path(&ctx.layer.digest);
    let read_ctx = || format!("{}: reading {}", ctx.describe(), path.display());
    let mut file = File::open(&path).map_err(io_err(read_ctx()))?;
    let mut head = [0u8; SNIFF_LEN];
    let n = read_up_to(&mut file, &mut head).map_err(io_err(read_ctx()))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(read_ctx()))?;
    let algorithm = ctx.diff_id.algorithm();
    let compression = sniff(&head[..n]);
    match compression {
        Compression::None => {
            let mut reader = HashingReader::new(Metered { inner: file, meter }, algorithm);
            tar.append_reader(name, ctx.layer.size, &mut reader)?;
            ctx.check(reader.hasher.finish())
        }
        Compression::Gzip | Compression::Zstd => {
            // A tar entry needs its size first: decompress into a scratch file beside OUTPUT
            // (removed when dropped), hashing on the way.
            let scratch = tempfile::Builder::new()
                .prefix(".tug-layer-")
                .tempfile_in(scratch_dir)
                .map_err(io_err(format!(
                    "creating a file in {}",
                    scratch_dir.display()
                )))?;
            let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, scratch), algorithm);
            let src = BufReader::with_capacity(1 << 20, Metered { inner: file, meter });
            let decompress_ctx =
                format!("{}: decompressing ({})", ctx.describe(), compression.name());
            let result = if compression == Compression::Gzip {
                io::copy(&mut MultiGzDecoder::new(src), &mut out).map(drop)
            } else {
                zstd_decompress(src, &mut out)
            };
            result.map_err(io_err(decompress_ctx.clone()))?;
            let (buffered, actual, len) = out.finish();
            ctx.check(actual)?;
            let mut scratch = buffered
                .into_inner()
                .map_err(|e| io_err(decompress_ctx.clone())(e.into_error()))?;
            scratch
                .as_file_mut()
                .seek(SeekFrom::Start(0))
                .map_err(io_err(decompress_ctx))?;
            tar.append_reader(
                name,
                len,
                BufReader::with_capacity(1 << 20, scratch.as_file()),
            )
        }
        Compression::Bzip2 | Compression::Xz => Err(ExportError::UnsupportedCompression {
            image: ctx.image.to_owned(),
            index: ctx.index,
            digest: ctx.layer.digest.clone(),
            compression: compression.name(),
        }),
    }
}

/// Reads until `buf` is full or the end; returns how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
