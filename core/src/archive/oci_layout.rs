//! OCI image layouts (in a directory or a tar): `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
//!
//! Manifests are pushed byte for byte as stored, so their digests stay the same. Manifest and
//! config blobs are small and are hashed to check them; layer blobs are only checked for size.

use super::compression::{sniff, Compression, SNIFF_LEN};
use super::error::ArchiveError;
use super::image::{BlobLocation, BlobSpec, ManifestBytes, ResolvedImage};
use super::media_types::{is_image_manifest, is_index, OCI_INDEX, OCI_MANIFEST};
use super::oci_json::{blob_path, parse_json, verify_blob, Descriptor, ManifestDoc, OciLayoutFile};
use super::store::{both, gather, Res, Stop, Store};
use crate::digest::Digest;
use crate::platform::Platform;

/// Name of the layout marker file.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// Name of the layout's top-level index.
pub const INDEX_JSON: &str = "index.json";
const LAYOUT: &str = "the OCI image layout";
/// Annotation marking buildkit attestation manifests inside an index (not runnable images).
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// Where a layout keeps a blob of a given digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Naming {
    /// An OCI layout: `blobs/<alg>/<hex>`.
    Oci,
    /// skopeo's `dir:` (version 1.1): `<hex>`, and an index's manifests `<hex>.manifest.json`;
    /// version 1.0 named every blob `<hex>.tar`.
    SkopeoDir {
        /// Blobs end in `.tar` (version 1.0).
        tar_suffix: bool,
    },
}

impl Naming {
    /// The file of blob `digest`.
    fn blob(self, digest: &Digest) -> String {
        match self {
            Naming::Oci => blob_path(digest),
            Naming::SkopeoDir { tar_suffix: false } => digest.hex().to_owned(),
            Naming::SkopeoDir { tar_suffix: true } => format!("{}.tar", digest.hex()),
        }
    }

    /// The file of manifest `digest`, which an index names.
    fn manifest(self, digest: &Digest) -> String {
        match self {
            Naming::Oci => blob_path(digest),
            Naming::SkopeoDir { .. } => format!("{}.manifest.json", digest.hex()),
        }
    }
}

/// Reads every image of the OCI layout in `store`.
pub(crate) fn resolve(store: &mut Store) -> Res<Vec<ResolvedImage>> {
    let layout = store
        .read_opt(OCI_LAYOUT_FILE, LAYOUT)
        .map(|o| o.map(check_layout_file));
    let index = store
        .read_opt(INDEX_JSON, LAYOUT)
        .map(|o| o.map(|b| parse_json::<ManifestDoc>(b, INDEX_JSON)));
    let index = match both(layout, index)? {
        (None, None) => {
            return Err(Stop::Fail(ArchiveError::UnsupportedFormat {
                reason: "found neither an oci-layout file nor index.json, so this is not an \
                         OCI image layout"
                    .to_owned(),
            }))
        }
        (None, Some(_)) => return Err(Stop::Fail(store.missing(OCI_LAYOUT_FILE, LAYOUT))),
        (Some(_), None) => return Err(Stop::Fail(store.missing(INDEX_JSON, LAYOUT))),
        (Some(layout), Some(index)) => {
            layout?;
            index?
        }
    };
    check_schema_version(&index, INDEX_JSON)?;
    let descriptors = index.manifests.unwrap_or_default();
    if descriptors.is_empty() {
        return Err(Stop::Fail(ArchiveError::NoImage {
            file: INDEX_JSON.to_owned(),
        }));
    }
    let per_descriptor = gather(descriptors.iter().enumerate().map(|(i, d)| {
        let field = format!("manifests[{i}]");
        let digest = d.parsed_digest(INDEX_JSON, &field)?;
        let referenced_by = format!("{INDEX_JSON} {field}");
        let at = Lookup {
            naming: Naming::Oci,
            depth: 0,
        };
        resolve_manifest(store, d, &digest, &referenced_by, &d.names(), at)
    }))?;
    Ok(per_descriptor.into_iter().flatten().collect())
}

fn check_layout_file(bytes: &[u8]) -> Result<(), ArchiveError> {
    let layout: OciLayoutFile = parse_json(bytes, OCI_LAYOUT_FILE)?;
    let major = layout.image_layout_version.split('.').next();
    if major != Some("1") {
        return Err(ArchiveError::Malformed {
            file: OCI_LAYOUT_FILE.to_owned(),
            reason: format!(
                "imageLayoutVersion is {:?}; only 1.x (1.0.0) is supported",
                layout.image_layout_version
            ),
        });
    }
    Ok(())
}

fn check_schema_version(doc: &ManifestDoc, file: &str) -> Result<(), ArchiveError> {
    match doc.schema_version {
        Some(2) | None => Ok(()),
        Some(v) => Err(ArchiveError::Malformed {
            file: file.to_owned(),
            reason: format!("schemaVersion is {v}, expected 2"),
        }),
    }
}

/// How a manifest is found: the layout's naming, and how deep in indexes it is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup {
    pub(crate) naming: Naming,
    pub(crate) depth: u32,
}

/// Reads the manifest (or index) `desc` names; an index yields the images of its manifests
/// that are present in the layout.
fn resolve_manifest(
    store: &mut Store,
    desc: &Descriptor,
    digest: &Digest,
    referenced_by: &str,
    names: &[String],
    at: Lookup,
) -> Res<Vec<ResolvedImage>> {
    let path = at.naming.manifest(digest);
    let bytes = store.read(&path, referenced_by)?;
    let what = format!("manifest {path} (referenced by {referenced_by})");
    verify_blob(bytes, digest, desc.size, &what)?;
    let bytes = bytes.to_vec();
    let found = Found {
        digest,
        path: &path,
        referenced_by,
        media_type: desc.media_type.as_deref(),
    };
    images_of_manifest(store, bytes, found, names, at)
}

/// A manifest's bytes as read, and what is known of them.
pub(crate) struct Found<'a> {
    pub(crate) digest: &'a Digest,
    /// The file it was read from.
    pub(crate) path: &'a str,
    pub(crate) referenced_by: &'a str,
    /// The media type its descriptor gives, if any.
    pub(crate) media_type: Option<&'a str>,
}

/// The images of a manifest (or index) whose bytes were read (and checked) already.
pub(crate) fn images_of_manifest(
    store: &mut Store,
    bytes: Vec<u8>,
    found: Found<'_>,
    names: &[String],
    at: Lookup,
) -> Res<Vec<ResolvedImage>> {
    let Found {
        digest,
        path,
        referenced_by,
        media_type,
    } = found;
    let what = format!("manifest {path} (referenced by {referenced_by})");
    let doc: ManifestDoc = parse_json(&bytes, path)?;
    check_schema_version(&doc, path)?;
    let media_type = doc
        .media_type
        .clone()
        .or_else(|| media_type.map(str::to_owned))
        .unwrap_or_else(|| {
            let guess = if doc.manifests.is_some() && doc.config.is_none() {
                OCI_INDEX
            } else {
                OCI_MANIFEST
            };
            guess.to_owned()
        });
    if is_index(&media_type) {
        let index = ManifestBytes {
            bytes,
            media_type,
            digest: digest.clone(),
        };
        let mut images = resolve_nested_index(store, doc, digest, path, referenced_by, names, at)?;
        for img in &mut images {
            img.index = Some(index.clone());
        }
        return Ok(images);
    }
    if !is_image_manifest(&media_type) {
        return Err(Stop::Fail(ArchiveError::UnsupportedFormat {
            reason: format!(
                "{what} has media type {media_type:?}, which is not an OCI or Docker schema 2 \
                 image manifest"
            ),
        }));
    }
    let manifest = ManifestBytes {
        bytes,
        media_type,
        digest: digest.clone(),
    };
    image_from_manifest(store, doc, manifest, path, names, at.naming)
}

/// An index inside index.json (multi-platform images, and Docker 25+ saves with the
/// containerd store): its manifests whose blobs are present become images, named like the
/// index; attestation manifests are marked so (pushed with the index, never the image run).
fn resolve_nested_index(
    store: &mut Store,
    doc: ManifestDoc,
    digest: &Digest,
    path: &str,
    referenced_by: &str,
    names: &[String],
    at: Lookup,
) -> Res<Vec<ResolvedImage>> {
    let nested = |reason: String| {
        Stop::Fail(ArchiveError::NestedIndex {
            digest: digest.to_string(),
            referenced_by: referenced_by.to_owned(),
            reason,
        })
    };
    if at.depth >= 1 {
        return Err(nested(
            "only one level of index below index.json is supported".to_owned(),
        ));
    }
    let children = doc.manifests.unwrap_or_default();
    let mut candidates = Vec::new();
    for (i, child) in children.iter().enumerate() {
        candidates.push((
            i,
            child,
            child.parsed_digest(path, &format!("manifests[{i}]"))?,
        ));
    }
    let present = gather(candidates.iter().map(|(i, _, d)| {
        let child_ref = format!("manifests[{i}] of index {path}");
        store.size_opt(&at.naming.manifest(d), &child_ref)
    }))?;
    // Each manifest once, however many entries name it.
    let mut seen = std::collections::HashSet::new();
    let chosen: Vec<_> = candidates
        .iter()
        .zip(present)
        .filter_map(|(c, size)| size.map(|_| c))
        .filter(|(_, _, d)| seen.insert(d.clone()))
        .collect();
    if chosen.is_empty() {
        return Err(nested(format!(
            "none of its {} manifests is present in the layout",
            children.len()
        )));
    }
    let images = gather(chosen.iter().map(|(i, child, d)| {
        let child_ref = format!("manifests[{i}] of index {path}");
        let below = Lookup {
            naming: at.naming,
            depth: at.depth.saturating_add(1),
        };
        let mut images = resolve_manifest(store, child, d, &child_ref, names, below)?;
        let attestation = child
            .annotations
            .as_ref()
            .and_then(|a| a.get(REFERENCE_TYPE))
            .is_some_and(|v| v == "attestation-manifest");
        for img in &mut images {
            if child.platform.is_some() {
                img.platform = child.platform.clone();
            }
            img.attestation = attestation;
        }
        Ok(images)
    }))?;
    Ok(images.into_iter().flatten().collect())
}

fn image_from_manifest(
    store: &mut Store,
    doc: ManifestDoc,
    manifest: ManifestBytes,
    path: &str,
    names: &[String],
    naming: Naming,
) -> Res<Vec<ResolvedImage>> {
    let config = doc.config.ok_or_else(|| ArchiveError::Malformed {
        file: path.to_owned(),
        reason: "the image manifest has no config descriptor".to_owned(),
    })?;
    let layers = doc.layers.unwrap_or_default();
    let config = config_blob(store, &config, path, naming);
    let layers = gather(
        layers
            .iter()
            .enumerate()
            .map(|(i, l)| layer_blob(store, l, path, i, naming)),
    );
    let ((config, platform), layers) = both(config, layers)?;
    Ok(vec![ResolvedImage {
        index: None,
        names: names.to_vec(),
        manifest,
        config,
        layers,
        platform,
        attestation: false,
    }])
}

fn media_type_of(d: &Descriptor, manifest_path: &str, field: &str) -> Result<String, ArchiveError> {
    d.media_type.clone().ok_or_else(|| ArchiveError::Malformed {
        file: manifest_path.to_owned(),
        reason: format!("{field} has no mediaType"),
    })
}

/// The config blob, and the platform it declares.
fn config_blob(
    store: &mut Store,
    d: &Descriptor,
    manifest_path: &str,
    naming: Naming,
) -> Res<(BlobSpec, Option<Platform>)> {
    let digest = d.parsed_digest(manifest_path, "config")?;
    let media_type = media_type_of(d, manifest_path, "config")?;
    let path = naming.blob(&digest);
    let referenced_by = format!("the config of manifest {manifest_path}");
    let bytes = store.read(&path, &referenced_by)?;
    verify_blob(
        bytes,
        &digest,
        d.size,
        &format!("config {path} (referenced by manifest {manifest_path})"),
    )?;
    let platform = Platform::from_config(bytes);
    let blob = BlobSpec {
        digest,
        size: d.size,
        media_type,
        compression: None,
        location: store.location(&path, &referenced_by)?,
        diff_id_check: None,
        foreign: false,
    };
    Ok((blob, platform))
}

fn layer_blob(
    store: &mut Store,
    d: &Descriptor,
    manifest_path: &str,
    i: usize,
    naming: Naming,
) -> Res<BlobSpec> {
    let field = format!("layers[{i}]");
    let digest = d.parsed_digest(manifest_path, &field)?;
    let media_type = media_type_of(d, manifest_path, &field)?;
    let path = naming.blob(&digest);
    let referenced_by = format!("{field} of manifest {manifest_path}");
    // A foreign layer is fetched from its URLs, not from the layout: skopeo and crane
    // write layouts without its blob.
    let foreign = d.urls.as_ref().is_some_and(|u| !u.is_empty());
    let held = match foreign {
        true => store.size_opt(&path, &referenced_by)?,
        false => Some(store.size(&path, &referenced_by)?),
    };
    let size = held.unwrap_or(d.size);
    if size != d.size {
        return Err(Stop::Fail(ArchiveError::SizeMismatch {
            what: format!("layer {path} ({referenced_by})"),
            descriptor: d.size,
            actual: size,
        }));
    }
    // A layer labelled a plain tar may hold gzip or zstd (skopeo 1.9 writes such labels the
    // other way round too): what its bytes are decides, so `--compress` never compresses
    // a compressed layer again.
    let compression = match (Compression::from_media_type(&media_type), held) {
        (Some(Compression::None), Some(_)) => {
            Some(sniff(store.prefix(&path, SNIFF_LEN, &referenced_by)?))
        }
        (labelled, _) => labelled,
    };
    Ok(BlobSpec {
        digest,
        size,
        compression,
        media_type,
        location: match held {
            Some(_) => store.location(&path, &referenced_by)?,
            // Never read: a foreign layer is never uploaded.
            None => BlobLocation::File { path },
        },
        diff_id_check: None,
        foreign,
    })
}
