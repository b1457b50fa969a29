//! The benchmark images: deterministic random uncompressed layers written by the testkit as
//! an OCI layout (whose blob files the curl floor uploads), converted by skopeo into the
//! `docker-archive` tar that tug and skopeo push. Kept in the work directory and reused when
//! the same spec is asked for again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tug_testkit::fixtures::Compression;
use tug_testkit::fixtures::{skopeo_docker_archive, write_oci_layout};
use tug_testkit::ImageSpec;

/// Tag of the image inside the OCI layout.
pub const LAYOUT_TAG: &str = "bench";
/// Name and tag recorded in the docker-archive.
const ARCHIVE_NAME: &str = "bench/image:latest";
/// Bump when the on-disk layout of a prepared image changes, to ignore old caches.
const FORMAT: u64 = 1;

/// A prepared image.
#[derive(Debug, Clone)]
pub struct BenchImage {
    /// The `docker-archive` tar pushed by tug and skopeo.
    pub archive: PathBuf,
    /// The OCI manifest blob file (pushed by the curl floor).
    pub manifest: PathBuf,
    /// Its media type.
    pub manifest_media_type: String,
    /// Layer digests in manifest order.
    pub layer_digests: Vec<String>,
    /// Files of every distinct blob, config first (their names are the hex digests).
    pub blob_files: Vec<PathBuf>,
    /// Bytes of all distinct blobs.
    pub total_bytes: u64,
    /// Number of layers.
    pub layers: usize,
}

impl BenchImage {
    /// E.g. `1.00 GiB / 8 layers`.
    pub fn label(&self) -> String {
        format!("{} / {} layers", human_bytes(self.total_bytes), self.layers)
    }
}

/// An image as an OCI layout only (its layers possibly compressed).
#[derive(Debug, Clone)]
pub struct LayoutImage {
    /// The layout directory; the image is tagged [`LAYOUT_TAG`] in it.
    pub oci_dir: PathBuf,
    /// The manifest blob file and its media type.
    pub manifest: PathBuf,
    pub manifest_media_type: String,
    /// Layer digests in manifest order.
    pub layer_digests: Vec<String>,
    /// The config's `rootfs.diff_ids`.
    pub diff_ids: Vec<String>,
    /// Files of every distinct blob, config first (their names are the hex digests).
    pub blob_files: Vec<PathBuf>,
    /// Bytes of all distinct blobs (compressed, as stored).
    pub total_bytes: u64,
}

impl LayoutImage {
    /// `oci:<dir>:<tag>`, for skopeo.
    pub fn skopeo_ref(&self) -> String {
        format!("oci:{}:{LAYOUT_TAG}", self.oci_dir.display())
    }
}

/// Makes (or reuses) the image `name` under `root`: `layers` uncompressed layers of
/// `layer_size` bytes of random file content each, as an OCI layout and a docker-archive.
pub fn prepare(
    root: &Path,
    name: &str,
    seed: u64,
    layers: usize,
    layer_size: u64,
) -> Result<BenchImage> {
    let dir = root.join(name);
    let archive = dir.join("image.docker-archive.tar");
    let layout = prepare_layout_with(
        &dir,
        seed,
        layers,
        layer_size,
        Compression::None,
        Some(&archive),
    )?;
    Ok(BenchImage {
        archive,
        manifest: layout.manifest,
        manifest_media_type: layout.manifest_media_type,
        layer_digests: layout.layer_digests,
        blob_files: layout.blob_files,
        total_bytes: layout.total_bytes,
        layers,
    })
}

/// Makes (or reuses) the OCI layout `name` under `root`: `layers` gzip layers of
/// `layer_size` bytes (before compression) of random file content each — they hardly
/// shrink, and inflate fast.
pub fn prepare_gzip_layout(
    root: &Path,
    name: &str,
    seed: u64,
    layers: usize,
    layer_size: u64,
) -> Result<LayoutImage> {
    prepare_layout_with(
        &root.join(name),
        seed,
        layers,
        layer_size,
        Compression::Gzip,
        None,
    )
}

/// The layout (and with `archive`, the docker-archive skopeo makes of it) in `dir`.
fn prepare_layout_with(
    dir: &Path,
    seed: u64,
    layers: usize,
    layer_size: u64,
    compression: Compression,
    archive: Option<&Path>,
) -> Result<LayoutImage> {
    let name = dir
        .file_name()
        .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
    let marker = dir.join("spec.json");
    let mut want =
        json!({"format": FORMAT, "seed": seed, "layers": layers, "layer_size": layer_size});
    if compression == Compression::Gzip {
        want["compression"] = json!("gzip");
    }
    let oci_dir = dir.join("oci");
    let cached = fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|have| have == want)
        && archive.is_none_or(Path::is_file)
        && oci_dir.join("index.json").is_file();
    if cached {
        eprintln!("image {name}: reusing {}", dir.display());
    } else {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        fs::create_dir_all(dir)?;
        let start = Instant::now();
        let kind = if compression == Compression::Gzip {
            "random gzip"
        } else {
            "random"
        };
        eprintln!(
            "image {name}: writing {layers} × {} {kind} layers …",
            human_bytes(layer_size)
        );
        let spec = ImageSpec::random(seed, layers, layer_size, compression);
        write_oci_layout(&oci_dir, &spec, LAYOUT_TAG);
        if let Some(archive) = archive {
            eprintln!("image {name}: skopeo copy oci: → docker-archive: …");
            skopeo_docker_archive(&oci_dir, LAYOUT_TAG, archive, ARCHIVE_NAME);
        }
        fs::write(&marker, serde_json::to_vec(&want)?)?;
        eprintln!(
            "image {name}: ready in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    read_layout(&oci_dir, layers)
}

/// Reads the layout's index, manifest and config to find the blobs.
fn read_layout(oci_dir: &Path, layers: usize) -> Result<LayoutImage> {
    let blobs = oci_dir.join("blobs").join("sha256");
    let blob_path = |digest: &str| -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("not a sha256 digest: {digest}"))?;
        Ok(blobs.join(hex))
    };
    let index: Value = serde_json::from_slice(&fs::read(oci_dir.join("index.json"))?)?;
    let entry = &index["manifests"][0];
    let manifest_digest = entry["digest"].as_str().context("index.json: no digest")?;
    let manifest_media_type = entry["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_owned();
    let manifest = blob_path(manifest_digest)?;
    let m: Value = serde_json::from_slice(&fs::read(&manifest)?)?;
    let config_digest = m["config"]["digest"].as_str().context("manifest: config")?;
    let layer_digests: Vec<String> = m["layers"]
        .as_array()
        .context("manifest: layers")?
        .iter()
        .map(|l| l["digest"].as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("manifest: layer digest")?;
    if layer_digests.len() != layers {
        bail!(
            "manifest has {} layers, wanted {layers}",
            layer_digests.len()
        );
    }
    let config: Value = serde_json::from_slice(&fs::read(blob_path(config_digest)?)?)?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .context("config: rootfs.diff_ids")?
        .iter()
        .map(|d| d.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("config: a diff_id")?;
    let mut blob_files = vec![blob_path(config_digest)?];
    for d in &layer_digests {
        let p = blob_path(d)?;
        if !blob_files.contains(&p) {
            blob_files.push(p);
        }
    }
    let mut total_bytes = 0;
    for f in &blob_files {
        total_bytes += fs::metadata(f)
            .with_context(|| format!("blob {}", f.display()))?
            .len();
    }
    Ok(LayoutImage {
        oci_dir: oci_dir.to_path_buf(),
        manifest,
        manifest_media_type,
        layer_digests,
        diff_ids,
        blob_files,
        total_bytes,
    })
}

/// `1.00 GiB`, `256 MiB`, `12.0 KiB`.
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f >= K * K * K {
        format!("{:.2} GiB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.0} MiB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{n} B")
    }
}

/// Parses `256M`, `1G`, `1.5G`, `4096` (binary units) into bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..].to_ascii_lowercase();
            let mult: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => bail!("unknown size unit in {s:?}"),
            };
            (&s[..i], mult)
        }
        None => (s, 1),
    };
    let value: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("bad size {s:?}"))?;
    Ok((value * mult as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("3X").is_err());
        assert_eq!(human_bytes(1 << 30), "1.00 GiB");
        assert_eq!(human_bytes(256 << 20), "256 MiB");
    }
}
