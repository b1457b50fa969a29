//! Writing an image from an OCI layout directory into a tar file: an OCI archive (the layout
//! in a tar), or a `docker save` archive (`manifest.json`, `<hex>.json` config, uncompressed
//! `<diffid>.tar` layers) that `docker load` and `skopeo copy docker-archive:` read.
//!
//! The tar is written next to the output and renamed into place only when complete. Layers
//! are streamed from files, never held in memory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tug_core::archive::layer_tar::{LayerName, LayerTarError};
use tug_core::Digest;

use crate::layer_tar::{copy_tar, CopyTarError};
use crate::oci_dir::{OciDir, REF_NAME};

/// One image to write: its manifest (or index), already stored in the layout.
pub struct ExportImage {
    /// `repository:tag` for `RepoTags` and the layout's ref name (the tag part).
    pub name: Option<String>,
    /// The manifest or index the image is.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Layer(Box<LayerTarError>),
}

/// Writes `image` from `layout` as an OCI archive at `out`.
pub fn write_oci_archive(
    layout: &OciDir,
    image: &ExportImage,
    out: &Path,
) -> Result<(), ExportError> {
    let blobs = reachable(layout, &image.digest)?;
    let ref_name = image
        .name
        .as_deref()
        .and_then(|n| n.rsplit_once(':').map(|(_, t)| t))
        .unwrap_or("latest");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": image.media_type,
            "digest": image.digest.to_string(),
            "size": image.size,
            "annotations": {REF_NAME: ref_name},
        }],
    });
    write_tar(out, |tar| {
        append_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        append_bytes(
            tar,
            "index.json",
            &serde_json::to_vec(&index).map_err(io::Error::other)?,
        )?;
        for d in &blobs {
            let name = format!("blobs/{}/{}", d.algorithm().name(), d.hex());
            append_file(tar, &name, &layout.blob_path(d))?;
        }
        Ok(())
    })
}

/// Writes the single-platform `image` from `layout` as a classic `docker save` archive.
pub fn write_docker_archive(
    layout: &OciDir,
    image: &ExportImage,
    out: &Path,
) -> Result<(), ExportError> {
    let manifest: Value = serde_json::from_slice(&layout.read_blob(&image.digest)?)
        .map_err(|e| ExportError::Invalid(format!("manifest {}: {e}", image.digest)))?;
    if manifest.get("manifests").is_some() {
        return Err(ExportError::Invalid(
            "a multi-platform index cannot be written as a docker-archive; choose one with --platform".into(),
        ));
    }
    let config_digest = digest_of(&manifest["config"], "config")?;
    let config_bytes = layout.read_blob(&config_digest)?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| ExportError::Invalid(format!("config {config_digest}: {e}")))?;
    let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(ExportError::Invalid(format!(
            "config {config_digest} lists {} diff_ids for {} layers",
            diff_ids.len(),
            layers.len()
        )));
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut layer_names = Vec::new();
    let mut temps: Vec<(String, tempfile::TempPath)> = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let digest = digest_of(layer, &format!("layers[{i}]"))?;
        let name = format!("{}.tar", diff_ids[i].hex());
        layer_names.push(name.clone());
        if temps.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let layer = LayerName {
            digest: digest.clone(),
            image: image.name.clone(),
        };
        let temp = decompress_layer(&layout.blob_path(&digest), &layer, &diff_ids[i], dir)?;
        temps.push((name, temp));
    }
    let config_name = format!("{}.json", config_digest.hex());
    let tags: Vec<String> = image.name.iter().cloned().collect();
    let docker_manifest =
        json!([{ "Config": config_name, "RepoTags": tags, "Layers": layer_names }]);
    let repositories = match image.name.as_deref().and_then(|n| n.rsplit_once(':')) {
        Some((repo, tag)) => json!({ repo: { tag: config_digest.hex() } }),
        None => json!({}),
    };
    write_tar(out, |tar| {
        append_bytes(tar, &config_name, &config_bytes)?;
        for (name, temp) in &temps {
            append_file(tar, name, temp)?;
        }
        append_bytes(
            tar,
            "manifest.json",
            &serde_json::to_vec(&docker_manifest).map_err(io::Error::other)?,
        )?;
        append_bytes(
            tar,
            "repositories",
            &serde_json::to_vec(&repositories).map_err(io::Error::other)?,
        )
    })
}

/// The uncompressed tar of `layer` in a temporary file, checked against its diff_id.
fn decompress_layer(
    blob: &Path,
    layer: &LayerName,
    diff_id: &Digest,
    dir: &Path,
) -> Result<tempfile::TempPath, ExportError> {
    let temp = tempfile::Builder::new()
        .prefix(".tug-layer-")
        .tempfile_in(dir)?;
    let mut out = BufWriter::new(temp.as_file());
    copy_tar(blob, layer, diff_id, &mut out).map_err(|e| match e {
        CopyTarError::Layer(e) => ExportError::Layer(e),
        CopyTarError::Output(e) => ExportError::Io(e),
    })?;
    out.flush()?;
    drop(out);
    Ok(temp.into_temp_path())
}

/// Every blob `root` needs, root first: an index's manifests, each manifest's config and
/// layers. Only manifests and indexes are read; configs and layers are not opened.
pub fn reachable(layout: &OciDir, root: &Digest) -> Result<Vec<Digest>, ExportError> {
    let missing = |d: &Digest| {
        ExportError::Invalid(format!(
            "blob {d} is missing from {}",
            layout.root().display()
        ))
    };
    let mut out: Vec<Digest> = Vec::new();
    let mut manifests = vec![root.clone()];
    while let Some(d) = manifests.pop() {
        if out.contains(&d) {
            continue;
        }
        let bytes = layout.read_blob(&d).map_err(|_| missing(&d))?;
        out.push(d.clone());
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ExportError::Invalid(format!("manifest {d}: {e}")))?;
        for m in v["manifests"].as_array().into_iter().flatten() {
            manifests.push(digest_of(m, "manifests[]")?);
        }
        if v.get("config").is_some() {
            let leaves =
                std::iter::once(&v["config"]).chain(v["layers"].as_array().into_iter().flatten());
            for leaf in leaves {
                let digest = digest_of(leaf, "descriptor")?;
                if !out.contains(&digest) {
                    out.push(digest);
                }
            }
        }
    }
    if let Some(d) = out.iter().find(|d| !layout.has_blob(d)) {
        return Err(missing(d));
    }
    Ok(out)
}

fn digest_of(descriptor: &Value, what: &str) -> Result<Digest, ExportError> {
    descriptor["digest"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| ExportError::Invalid(format!("{what} has no valid digest")))
}

/// Builds a tar at a temporary path next to `out` and renames it into place on success.
fn write_tar(
    out: &Path,
    fill: impl FnOnce(&mut tar::Builder<BufWriter<File>>) -> io::Result<()>,
) -> Result<(), ExportError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".tug-out-")
        .tempfile_in(dir)?;
    let (file, temp_path): (File, PathBuf) = temp.keep().map_err(|e| e.error)?;
    let result = (|| -> io::Result<()> {
        let mut tar = tar::Builder::new(BufWriter::new(file));
        tar.mode(tar::HeaderMode::Deterministic);
        fill(&mut tar)?;
        let mut w = tar.into_inner()?;
        w.flush()?;
        w.get_ref().sync_all()
    })();
    match result {
        Ok(()) => {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&temp_path, fs::Permissions::from_mode(0o644))?;
            fs::rename(&temp_path, out)?;
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&temp_path);
            Err(e.into())
        }
    }
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, name: &str, path: &Path) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(f.metadata()?.len());
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, &mut f)
}
