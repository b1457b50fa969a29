//! Pull to a `docker save` tar: an image with compressed layers is put once (not measured)
//! into a seed registry with htpasswd auth and kept as a hard-linked snapshot; each measured
//! run starts a fresh loopback TLS + htpasswd registry holding it (storage on tmpfs) and
//! pulls it into a fresh tar on the tmpfs with `tug pull -o x.tar` (in a fresh home, so no
//! store or state carries over), `skopeo copy docker:// docker-archive:`, or the curl floor
//! (the compressed blobs downloaded, nothing inflated). Checked: the tar's config names the
//! image's diff_ids and every layer in it hashes to its diff_id; the floor's blobs to their
//! digests.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use tug_testkit::hashing::sha256_reader;
use tug_testkit::skopeo::{self, registry_args, Side};
use tug_testkit::Registry;

use crate::clients::{tail, Setup};
use crate::fixture::LayoutImage;
use crate::hermetic::FreshHome;
use crate::measure::{measure_env, ClientEnv};
use crate::push_real::{auth_registry_config, os_strings, PASSWORD, USER};
use crate::realfiles::FilesImage;
use crate::summary::Run;
use crate::transfer::{blob_digests, verify_blob_files, Meters, Snapshot, SOURCE_REPO, SOURCE_TAG};

/// The image every source registry holds, as `bench/source:latest`.
#[derive(Debug)]
pub struct TarSource {
    snapshot: Snapshot,
    /// The config's then every layer's digest.
    pub blob_digests: Vec<String>,
    /// The image's diff_ids.
    pub diff_ids: Vec<String>,
    /// Bytes of the config and layer blobs, as stored (compressed).
    pub blob_bytes: u64,
}

/// A fresh seed registry, and the name the image gets in it.
fn seed_registry(setup: &Setup) -> (Registry, String) {
    let registry = Registry::start(auth_registry_config(&setup.registry_parent));
    (registry, format!("{SOURCE_REPO}:{SOURCE_TAG}"))
}

/// Puts the layout's image (its compressed layers as they are) into a seed registry with
/// `skopeo copy --preserve-digests`, and keeps the registry's storage under `dir`, its blob
/// files hard links to the layout's.
pub fn seed_layout(setup: &Setup, image: &LayoutImage, dir: &Path) -> Result<TarSource> {
    let (registry, name) = seed_registry(setup);
    skopeo::copy_to_registry(
        &image.skopeo_ref(),
        &registry,
        &name,
        &["--preserve-digests"],
    )?;
    let (config, layers, blob_bytes) = manifest_blobs(&registry, &name)?;
    ensure!(
        layers == image.layer_digests,
        "seeding: the registry's layers differ from the layout's:\n  {layers:?}\n  {:?}",
        image.layer_digests
    );
    let mut digests = vec![config];
    digests.extend(layers);
    ensure!(
        digests == blob_digests(&image.blob_files)?,
        "seeding: the registry's blobs differ from the layout's"
    );
    Ok(TarSource {
        snapshot: Snapshot::take(&registry, dir, &image.blob_files)?,
        blob_digests: digests,
        diff_ids: image.diff_ids.clone(),
        blob_bytes,
    })
}

/// Puts the `docker save` tar into a seed registry with `skopeo copy` (which gzips its plain
/// layers, as an image built by buildah has them), and keeps the registry's storage under
/// `dir`.
pub fn seed_gzipped(setup: &Setup, image: &FilesImage, dir: &Path) -> Result<TarSource> {
    let (registry, name) = seed_registry(setup);
    let none: [&str; 0] = [];
    skopeo::copy_to_registry(
        &format!("docker-archive:{}", image.archive.display()),
        &registry,
        &name,
        &none,
    )?;
    let (config, layers, blob_bytes) = manifest_blobs(&registry, &name)?;
    ensure!(
        layers.len() == image.diff_ids.len(),
        "seeding: {} layers in the registry, {} in the image",
        layers.len(),
        image.diff_ids.len()
    );
    let mut digests = vec![config];
    digests.extend(layers);
    Ok(TarSource {
        snapshot: Snapshot::take(&registry, dir, &[])?,
        blob_digests: digests,
        diff_ids: image.diff_ids.clone(),
        blob_bytes,
    })
}

/// (config digest, layer digests, bytes of config and layers) of the manifest.
fn manifest_blobs(registry: &Registry, name: &str) -> Result<(String, Vec<String>, u64)> {
    let m: Value = serde_json::from_slice(&skopeo::inspect_raw_in(registry, name)?)
        .context("manifest is not JSON")?;
    let digest = |v: &Value| v["digest"].as_str().map(str::to_owned);
    let config = digest(&m["config"]).context("manifest has no config digest")?;
    let layers: Vec<String> = m["layers"]
        .as_array()
        .context("manifest has no layers")?
        .iter()
        .map(digest)
        .collect::<Option<_>>()
        .context("a layer without a digest")?;
    let bytes = m["config"]["size"].as_u64().unwrap_or(0)
        + m["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["size"].as_u64())
            .sum::<u64>();
    Ok((config, layers, bytes))
}

/// Who pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullVariant {
    /// `tug pull IMAGE -o x.tar`.
    Tug,
    /// `skopeo copy docker://IMAGE docker-archive:x.tar:…`.
    Skopeo,
    /// The floor: curl GETs of the manifest and the blobs, as many at once as tug's jobs.
    Curl,
}

impl PullVariant {
    /// `tug`, `skopeo`, `curl` (`--pull-tar-clients`).
    pub fn parse(s: &str) -> Result<PullVariant> {
        match s.trim() {
            "tug" => Ok(PullVariant::Tug),
            "skopeo" => Ok(PullVariant::Skopeo),
            "curl" => Ok(PullVariant::Curl),
            other => bail!("bad --pull-tar-clients entry {other:?} (tug, skopeo, curl)"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PullVariant::Tug => "tug pull -o x.tar",
            PullVariant::Skopeo => "skopeo",
            PullVariant::Curl => "curl floor",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            PullVariant::Tug => "tug",
            PullVariant::Skopeo => "skopeo",
            PullVariant::Curl => "curl",
        }
    }
}

/// One measured pull of `source` from a fresh registry into a fresh tar (or, for curl, a
/// directory of blobs) on the tmpfs, checked, then deleted. `what` names the workload in log
/// file names.
pub fn run_pull(
    setup: &Setup,
    source: &TarSource,
    variant: PullVariant,
    what: &str,
    round: u32,
    run_id: &str,
) -> Result<Run> {
    let registry = source
        .snapshot
        .start(auth_registry_config(&setup.registry_parent))?;
    let ca_file = registry.ca_file().context("TLS registry has a CA file")?;
    let scratch = tempfile::Builder::new()
        .prefix("tug-bench-pull-tar-")
        .tempdir_in(&setup.registry_parent)
        .context("create a pull output dir on the tmpfs")?;
    let out = scratch.path().join("x.tar");
    let home = FreshHome::new(&setup.registry_parent)?;
    let name = format!("{SOURCE_REPO}:{SOURCE_TAG}");
    let path = |p: &Path| p.display().to_string();

    let (program, args, env): (PathBuf, Vec<String>, ClientEnv) = match variant {
        PullVariant::Tug => {
            let mut args = vec![
                "pull".to_owned(),
                "--ca-file".to_owned(),
                path(ca_file),
                "--progress".to_owned(),
                "none".to_owned(),
            ];
            args.extend(setup.tug_pull_args.iter().cloned());
            args.extend([registry.image(&name), "-o".to_owned(), path(&out)]);
            let env = home.env(&[("TUG_USERNAME", USER), ("TUG_PASSWORD", PASSWORD)]);
            (setup.tug.clone(), args, env)
        }
        PullVariant::Skopeo => {
            let mut args = vec!["--insecure-policy".to_owned(), "copy".to_owned()];
            args.extend(os_strings(registry_args(&registry, Side::Source)));
            args.push(registry.docker_ref(&name));
            args.push(format!("docker-archive:{}:{name}", path(&out)));
            (setup.skopeo.clone(), args, home.env(&[]))
        }
        PullVariant::Curl => {
            fs::create_dir(&out)?;
            let mut args = vec![
                path(&setup.curl_pull_script),
                registry.url(),
                path(ca_file),
                SOURCE_REPO.to_owned(),
                SOURCE_TAG.to_owned(),
                path(&out),
                setup.pull_floor_jobs.to_string(),
            ];
            args.extend(source.blob_digests.iter().cloned());
            let auth = format!("{USER}:{PASSWORD}");
            (setup.bash.clone(), args, home.env(&[("BENCH_AUTH", &auth)]))
        }
    };

    let log_stem = setup
        .logs
        .join(format!("{what}-{run_id}-{}", variant.tag()));
    let meters = Meters::start(vec![registry.pid()]);
    let finished = measure_env(&program, &args, &env, &log_stem)?;
    let (registry_cpu, other_cpu) = meters.stop(finished.sample.cpu());
    if !finished.success {
        bail!(
            "{} failed ({}): {} {}\n{}\n--- registry log (tail):\n{}",
            variant.name(),
            finished.status,
            program.display(),
            args.join(" "),
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    drop(registry);
    let bytes = match variant {
        PullVariant::Curl => {
            let files: Vec<(String, PathBuf)> = source
                .blob_digests
                .iter()
                .map(|d| (d.clone(), out.join(d.trim_start_matches("sha256:"))))
                .collect();
            verify_blob_files(&files).context("checking the blobs curl pulled")?;
            source.blob_bytes
        }
        _ => {
            check_docker_save(&out, &source.diff_ids)
                .with_context(|| format!("checking the tar {} wrote", variant.name()))?;
            fs::metadata(&out)?.len()
        }
    };
    Ok(Run {
        round,
        who: variant.name().to_owned(),
        sample: finished.sample,
        registry_cpu,
        other_cpu,
        bytes,
    })
}

/// The `docker save` tar at `path` holds one image whose config lists `diff_ids`, and each
/// of its layers (following symlinks between entries) hashes to its diff_id.
pub fn check_docker_save(path: &Path, diff_ids: &[String]) -> Result<()> {
    let mut archive = tar::Archive::new(BufReader::new(
        File::open(path).with_context(|| format!("open {}", path.display()))?,
    ));
    let mut digests: HashMap<String, String> = HashMap::new();
    let mut json_files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    for entry in archive.entries()? {
        let mut e = entry?;
        let name = entry_name(&e.path()?.to_string_lossy());
        match e.header().entry_type() {
            tar::EntryType::Regular if name.ends_with(".json") && e.size() < 1 << 24 => {
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes)?;
                json_files.insert(name, bytes);
            }
            tar::EntryType::Regular => {
                let (digest, _) = sha256_reader(&mut e)?;
                digests.insert(name, digest);
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name()?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
                let resolved = normalise(&dir.join(target));
                links.insert(name, resolved);
            }
            _ => {}
        }
    }
    let manifest: Value = serde_json::from_slice(
        json_files
            .get("manifest.json")
            .context("no manifest.json in the tar")?,
    )
    .context("manifest.json is not JSON")?;
    let image = manifest
        .as_array()
        .filter(|a| a.len() == 1)
        .and_then(|a| a.first())
        .context("manifest.json does not describe one image")?;
    let config_name = image["Config"]
        .as_str()
        .context("manifest.json: no Config")?;
    let config: Value = serde_json::from_slice(
        json_files
            .get(&entry_name(config_name))
            .with_context(|| format!("no config {config_name} in the tar"))?,
    )
    .context("the config is not JSON")?;
    let listed: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .context("the config has no rootfs.diff_ids")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        listed == diff_ids,
        "the config's diff_ids differ:\n  tar   {listed:?}\n  image {diff_ids:?}"
    );
    let layers: Vec<&str> = image["Layers"]
        .as_array()
        .context("manifest.json: no Layers")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        layers.len() == diff_ids.len(),
        "manifest.json lists {} layers, the image has {}",
        layers.len(),
        diff_ids.len()
    );
    for (layer, want) in layers.iter().zip(diff_ids) {
        let mut name = entry_name(layer);
        for _ in 0..8 {
            match links.get(&name) {
                Some(target) => name = target.clone(),
                None => break,
            }
        }
        let have = digests
            .get(&name)
            .with_context(|| format!("layer {layer} is not in the tar"))?;
        ensure!(have == want, "layer {layer} hashes to {have}, not {want}");
    }
    Ok(())
}

/// A tar entry name without a leading `./` or trailing `/`.
fn entry_name(name: &str) -> String {
    name.trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned()
}

/// `a/../b/./c` → `b/c`.
fn normalise(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_parse() {
        assert_eq!(PullVariant::parse(" curl").unwrap(), PullVariant::Curl);
        assert_eq!(PullVariant::parse("tug").unwrap(), PullVariant::Tug);
        assert!(PullVariant::parse("docker").is_err());
    }

    #[test]
    fn symlink_targets_resolve_within_the_tar() {
        assert_eq!(normalise(Path::new("b/../a/layer.tar")), "a/layer.tar");
        assert_eq!(normalise(Path::new("./x/./y")), "x/y");
        assert_eq!(entry_name("./abc/"), "abc");
    }

    #[test]
    fn a_docker_save_tar_is_checked_against_the_diff_ids() {
        use tug_testkit::fixtures::classic_docker_save;
        use tug_testkit::ImageSpec;
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("x.tar");
        let spec = ImageSpec::new(7).layer(3000).layer(5000).repeat_layer(0);
        let fixture = classic_docker_save(&tar, &spec, "a/b:c");
        let diff_ids: Vec<String> = fixture.layers.iter().map(|l| l.diff_id.clone()).collect();
        check_docker_save(&tar, &diff_ids).unwrap();
        let mut wrong = diff_ids.clone();
        wrong.swap(0, 1);
        let e = check_docker_save(&tar, &wrong).unwrap_err();
        assert!(format!("{e:#}").contains("diff_ids differ"), "{e:#}");
    }
}
