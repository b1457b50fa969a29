//! `docker save` tars: the classic `manifest.json` + `<id>/layer.tar` layout, and the Docker
//! 25+ layout that is also an OCI layout.
//!
//! For classic saves an OCI image manifest is built: the config digest is computed from its
//! bytes; uncompressed layers become OCI tar layers whose digest is the config's diffID, so
//! layer contents are never read (only a few bytes, to sniff compression). A compressed layer
//! keeps its bytes and gets its own digest: the one its `blobs/sha256/<hex>` path names, else
//! its hash, read in chunks (go-containerregistry's tarballs name layers `<hex>.tar.gz`).

use serde::Deserialize;

use super::compression::{sniff, Compression, SNIFF_LEN};
use super::error::ArchiveError;
use super::image::{BlobLocation, BlobSpec, ManifestBytes, ResolvedImage};
use super::media_types::{
    OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST, OCI_NONDISTRIBUTABLE_LAYER_TAR,
    OCI_NONDISTRIBUTABLE_LAYER_TAR_GZIP, OCI_NONDISTRIBUTABLE_LAYER_TAR_ZSTD,
};
use super::oci_json::{parse_json, OutDescriptor, OutManifest};
use super::oci_layout;
use super::path::{blob_sha256_hex, normalize, sha256_hex_in_name};
use super::store::{both, gather, Res, Stop, Store};
use crate::digest::Digest;
use crate::platform::Platform;

/// Name of docker save's top-level manifest.
pub(crate) const MANIFEST_JSON: &str = "manifest.json";
const FORMAT: &str = "the docker-archive format";

/// One image in `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
struct SaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
    /// Layers that come from elsewhere (a Windows base layer): the descriptor each diffID
    /// has, with the URLs of its bytes. Such a layer is never uploaded.
    #[serde(rename = "LayerSources", default)]
    layer_sources: Option<std::collections::HashMap<String, LayerSource>>,
}

/// A foreign layer's descriptor in `LayerSources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerSource {
    media_type: String,
    size: u64,
    digest: String,
    #[serde(default)]
    urls: Vec<String>,
}

/// The part of an image config that matters here.
#[derive(Debug, Clone, Deserialize)]
struct ConfigDoc {
    rootfs: Option<RootFs>,
}

#[derive(Debug, Clone, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

fn parse_manifest_json(bytes: &[u8]) -> Result<Vec<SaveEntry>, ArchiveError> {
    let entries: Vec<SaveEntry> = parse_json(bytes, MANIFEST_JSON)?;
    if entries.is_empty() {
        return Err(ArchiveError::Malformed {
            file: MANIFEST_JSON.to_owned(),
            reason: "it lists no images".to_owned(),
        });
    }
    Ok(entries)
}

fn parse_diff_ids(bytes: &[u8], config_path: &str) -> Result<Vec<Digest>, ArchiveError> {
    let doc: ConfigDoc = parse_json(bytes, config_path)?;
    let rootfs = doc.rootfs.ok_or_else(|| ArchiveError::Malformed {
        file: config_path.to_owned(),
        reason: "the image config has no rootfs".to_owned(),
    })?;
    rootfs
        .diff_ids
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.parse().map_err(|e| ArchiveError::Malformed {
                file: config_path.to_owned(),
                reason: format!("rootfs.diff_ids[{i}]: {e}"),
            })
        })
        .collect()
}

/// The sha256 hex a path names, if it is `blobs/sha256/<hex>` or `<hex>.json`.
fn hex_named_by(path: &str) -> Option<String> {
    normalize(path)
        .as_deref()
        .and_then(sha256_hex_in_name)
        .map(str::to_owned)
}

/// Reads a classic docker save: every image in `manifest.json`.
pub(crate) fn resolve_classic(store: &mut Store) -> Res<Vec<ResolvedImage>> {
    let entries = parse_manifest_json(store.read(MANIFEST_JSON, FORMAT)?)?;
    gather(
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| classic_image(store, i, e)),
    )
}

/// Reads a Docker 25+ save: images from its OCI layout (manifests kept byte for byte), named
/// by `manifest.json`'s RepoTags (matched by config digest) when it has any for them.
pub(crate) fn resolve_docker25(store: &mut Store) -> Res<Vec<ResolvedImage>> {
    let entries = store
        .read(MANIFEST_JSON, FORMAT)
        .and_then(|b| Ok(parse_manifest_json(b)?));
    let images = oci_layout::resolve(store);
    let (entries, mut images) = both(entries, images)?;
    for image in &mut images {
        let mut tags: Vec<String> = Vec::new();
        for e in &entries {
            if hex_named_by(&e.config).as_deref() == Some(image.config.digest.hex()) {
                for tag in e.repo_tags.iter().flatten() {
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
            }
        }
        if !tags.is_empty() {
            image.names = tags;
        }
    }
    // Docker writes one `index.json` entry per tag of an image: named alike by now, it is
    // one image (shown and loaded once), as `docker load` takes it.
    let mut seen = Vec::new();
    images.retain(|img| {
        let key = (
            img.manifest.digest.clone(),
            img.index.as_ref().map(|i| i.digest.clone()),
            img.names.clone(),
        );
        let first = !seen.contains(&key);
        seen.push(key);
        first
    });
    Ok(images)
}

/// What the resolver learns about a layer entry: its place, size and compression from its
/// first bytes, and for a compressed one, its digest.
struct LayerProbe {
    location: BlobLocation,
    size: u64,
    compression: Compression,
    /// A compressed layer's own digest (its diffID is that of its plain tar): named by a
    /// `blobs/sha256/<hex>` path, else read whole and hashed, as crane and docker do.
    compressed_digest: Option<Digest>,
}

fn probe_layer(store: &mut Store, path: &str) -> Res<LayerProbe> {
    let location = store.location(path, MANIFEST_JSON)?;
    let size = store.size(path, MANIFEST_JSON)?;
    let compression = sniff(store.prefix(path, SNIFF_LEN, MANIFEST_JSON)?);
    let compressed_digest = match compression {
        Compression::Gzip | Compression::Zstd => match digest_named_by(path, &location) {
            Some(digest) => Some(digest),
            None => Some(store.sha256(path, MANIFEST_JSON)?),
        },
        _ => None,
    };
    Ok(LayerProbe {
        location,
        size,
        compression,
        compressed_digest,
    })
}

/// The digest a layer's content-addressed path (`blobs/sha256/<hex>`, as given or after
/// following links) names; the bytes are checked against it when they are read.
fn digest_named_by(path: &str, location: &BlobLocation) -> Option<Digest> {
    let resolved = match location {
        BlobLocation::TarRange { entry, .. } => entry.as_str(),
        BlobLocation::File { path } => path.as_str(),
    };
    let hex = normalize(path)
        .as_deref()
        .and_then(blob_sha256_hex)
        .map(str::to_owned)
        .or_else(|| blob_sha256_hex(resolved).map(str::to_owned))?;
    format!("sha256:{hex}").parse().ok()
}

fn classic_image(store: &mut Store, i: usize, e: &SaveEntry) -> Res<ResolvedImage> {
    let config_path = e.config.as_str();
    let config = store.read(config_path, MANIFEST_JSON).and_then(|bytes| {
        let digest = Digest::sha256_of(bytes);
        let diff_ids = parse_diff_ids(bytes, config_path)?;
        let platform = Platform::from_config(bytes);
        Ok((digest, bytes.len() as u64, diff_ids, platform))
    });
    // A foreign layer (`LayerSources`) is never read: the tar need not hold it.
    let sources = e.layer_sources.clone().unwrap_or_default();
    let probes = gather(e.layers.iter().map(|p| probe_layer(store, p).map(Some)));
    let ((config_digest, config_size, diff_ids, platform), probes) = match sources.is_empty() {
        true => both(config, probes)?,
        false => {
            let config = config?;
            let probes = gather(e.layers.iter().zip(&config.2).map(|(p, d)| {
                match sources.contains_key(&d.to_string()) {
                    true => Ok(None),
                    false => probe_layer(store, p).map(Some),
                }
            }))?;
            (config, probes)
        }
    };

    // A config named `<hex>.json` or `blobs/sha256/<hex>` must hash to that hex.
    let named =
        hex_named_by(config_path).and_then(|h| format!("sha256:{h}").parse::<Digest>().ok());
    if let Some(expected) = named {
        if expected != config_digest {
            return Err(Stop::Fail(ArchiveError::DigestMismatch {
                what: format!("config {config_path:?} (referenced by manifest.json)"),
                expected,
                actual: config_digest,
            }));
        }
    }
    if diff_ids.len() != e.layers.len() {
        return Err(Stop::Fail(ArchiveError::Malformed {
            file: config_path.to_owned(),
            reason: format!(
                "rootfs.diff_ids lists {} layers but manifest.json image {i} lists {}",
                diff_ids.len(),
                e.layers.len()
            ),
        }));
    }

    let mut layers = Vec::with_capacity(probes.len());
    let mut urls = std::collections::HashMap::new();
    for ((path, probe), diff_id) in e.layers.iter().zip(probes).zip(diff_ids) {
        let layer = match (probe, sources.get(&diff_id.to_string())) {
            (_, Some(source)) => {
                let layer = foreign_layer(path, source, &diff_id)?;
                urls.insert(layer.digest.clone(), source.urls.clone());
                layer
            }
            (Some(probe), None) => classic_layer(path, probe, diff_id)?,
            (None, None) => {
                return Err(Stop::Fail(ArchiveError::Malformed {
                    file: MANIFEST_JSON.to_owned(),
                    reason: format!("layer {path:?} was neither read nor named by LayerSources"),
                }))
            }
        };
        layers.push(layer);
    }
    let read: Vec<BlobSpec> = layers.iter().filter(|l| !l.foreign).cloned().collect();
    let read_paths: Vec<String> = layers
        .iter()
        .zip(&e.layers)
        .filter(|(l, _)| !l.foreign)
        .map(|(_, p)| p.clone())
        .collect();
    repeated_layers_are_one_entry(store, &read, &read_paths, config_path)?;
    let config = BlobSpec {
        digest: config_digest,
        size: config_size,
        media_type: OCI_CONFIG.to_owned(),
        compression: None,
        location: store.location(config_path, MANIFEST_JSON)?,
        diff_id_check: None,
        foreign: false,
    };
    let manifest = build_manifest(&config, &layers, &urls)?;
    Ok(ResolvedImage {
        index: None,
        names: e.repo_tags.clone().unwrap_or_default(),
        manifest,
        config,
        layers,
        platform,
        attestation: false,
    })
}

/// A layer an image repeats is pushed once, read from its first entry: a later entry under
/// the same digest is never read, so it must be that entry (docker save links a repeated
/// layer to its first copy; skopeo writes it once) or the same bytes (Docker before links
/// wrote each copy in full): such a copy is hashed here. Another entry could hold anything.
fn repeated_layers_are_one_entry(
    store: &mut Store,
    layers: &[BlobSpec],
    paths: &[String],
    config_path: &str,
) -> Res<()> {
    for (j, layer) in layers.iter().enumerate() {
        let first = layers[..j].iter().position(|l| l.digest == layer.digest);
        let Some(i) = first.filter(|&i| layers[i].location != layer.location) else {
            continue;
        };
        let same_bytes = layers[i].size == layer.size
            && match store.sha256(&paths[j], MANIFEST_JSON) {
                Ok(digest) => digest == layer.digest,
                // Not hashable here (a directory): not shown to be the same.
                Err(Stop::Fail(_)) => false,
                Err(pending) => return Err(pending),
            };
        if !same_bytes {
            return Err(Stop::Fail(ArchiveError::Malformed {
                file: MANIFEST_JSON.to_owned(),
                reason: format!(
                    "layers {i} and {j} ({:?}, {:?}) are different entries of {} and {} bytes \
                     whose bytes differ, but {config_path} gives both the digest {}; a repeated \
                     layer must be one entry, a link to it, or the same bytes",
                    paths[i], paths[j], layers[i].size, layer.size, layer.digest
                ),
            }));
        }
    }
    Ok(())
}

/// A layer `LayerSources` says comes from elsewhere: its descriptor as given, under the OCI
/// non-distributable type of its compression (the manifest built is OCI), never uploaded.
fn foreign_layer(
    path: &str,
    source: &LayerSource,
    diff_id: &Digest,
) -> Result<BlobSpec, ArchiveError> {
    let malformed = |reason: String| ArchiveError::Malformed {
        file: MANIFEST_JSON.to_owned(),
        reason: format!("LayerSources[{diff_id}]: {reason}"),
    };
    let digest: Digest = source
        .digest
        .parse()
        .map_err(|e| malformed(format!("digest {:?}: {e}", source.digest)))?;
    if source.urls.is_empty() {
        return Err(malformed("a foreign layer names no URLs".into()));
    }
    let compression = Compression::from_media_type(&source.media_type);
    let media_type = match compression {
        Some(Compression::Gzip) => OCI_NONDISTRIBUTABLE_LAYER_TAR_GZIP,
        Some(Compression::Zstd) => OCI_NONDISTRIBUTABLE_LAYER_TAR_ZSTD,
        Some(Compression::None) => OCI_NONDISTRIBUTABLE_LAYER_TAR,
        Some(Compression::Bzip2 | Compression::Xz) | None => {
            return Err(malformed(format!(
                "media type {:?} is no layer's",
                source.media_type
            )))
        }
    };
    Ok(BlobSpec {
        digest,
        size: source.size,
        media_type: media_type.to_owned(),
        compression,
        location: BlobLocation::File {
            path: path.to_owned(),
        },
        diff_id_check: None,
        foreign: true,
    })
}

fn classic_layer(path: &str, probe: LayerProbe, diff_id: Digest) -> Result<BlobSpec, ArchiveError> {
    // A plain layer's digest is its diffID, checked as it is read; a compressed one's
    // digest comes from its own bytes, which leaves its tar unchecked.
    let (digest, media_type, diff_id_check) = match probe.compression {
        Compression::None => (diff_id, OCI_LAYER_TAR, None),
        c @ (Compression::Gzip | Compression::Zstd) => {
            match (probe.compressed_digest, c.oci_layer_media_type()) {
                (Some(d), Some(mt)) => (d, mt, Some(diff_id)),
                _ => {
                    return Err(ArchiveError::Misuse {
                        reason: format!("layer {path:?} is {c}-compressed but was not hashed"),
                    })
                }
            }
        }
        c => {
            return Err(ArchiveError::UnsupportedFormat {
                reason: format!(
                    "layer {path:?} in manifest.json is {c}-compressed; OCI has no layer media \
                     type for {c}"
                ),
            })
        }
    };
    Ok(BlobSpec {
        digest,
        size: probe.size,
        media_type: media_type.to_owned(),
        compression: Some(probe.compression),
        location: probe.location,
        diff_id_check,
        foreign: false,
    })
}

/// Serialises the OCI manifest for a classic save, deterministically (compact JSON, fixed
/// field order).
fn build_manifest(
    config: &BlobSpec,
    layers: &[BlobSpec],
    urls: &std::collections::HashMap<Digest, Vec<String>>,
) -> Result<ManifestBytes, ArchiveError> {
    let out = OutManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.to_owned(),
        config: OutDescriptor {
            media_type: config.media_type.clone(),
            digest: config.digest.clone(),
            size: config.size,
            urls: Vec::new(),
        },
        layers: layers
            .iter()
            .map(|l| OutDescriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
                urls: urls.get(&l.digest).cloned().unwrap_or_default(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&out).map_err(|e| ArchiveError::Malformed {
        file: MANIFEST_JSON.to_owned(),
        reason: format!("cannot serialise the image manifest: {e}"),
    })?;
    Ok(ManifestBytes {
        digest: Digest::sha256_of(&bytes),
        bytes,
        media_type: OCI_MANIFEST.to_owned(),
    })
}
