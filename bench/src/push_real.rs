//! One measured push of a `docker save` tar of real files into a fresh loopback TLS
//! registry with htpasswd auth (storage on tmpfs): `tug push --compress gzip|zstd` (or as
//! is) in a fresh home (no `compressed.json` or upload state from earlier runs), or
//! `skopeo copy docker-archive: docker://` (which gzips plain layers). Checked: the manifest
//! has every layer, of the media type the variant makes, and the config's diff_ids are the
//! image's (so every layer decompresses to the right bytes, as skopeo's and tug's own
//! checks on push make sure).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use tug_testkit::skopeo::{self, registry_args, Side};
use tug_testkit::{Registry, RegistryConfig};

use crate::clients::{tail, Setup};
use crate::hermetic::FreshHome;
use crate::measure::{measure_env, ClientEnv};
use crate::realfiles::FilesImage;
use crate::summary::Run;
use crate::transfer::Meters;

/// The user and password of every registry of these workloads (htpasswd Basic auth).
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password";

/// A fresh TLS registry with htpasswd auth, storage under `parent` (a tmpfs).
pub fn auth_registry_config(parent: &Path) -> RegistryConfig {
    RegistryConfig::tls()
        .with_basic_auth(USER, PASSWORD)
        .with_temp_parent(parent)
}

/// One way of pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushVariant {
    /// `tug push` (layers as they are).
    Plain,
    /// `tug push --compress gzip`.
    Gzip,
    /// `tug push --compress gzip --compress-level 2`: a little bigger, less CPU.
    Gzip2,
    /// `tug push --compress zstd`.
    Zstd,
    /// `skopeo copy docker-archive: docker://` (gzips plain layers).
    Skopeo,
}

impl PushVariant {
    /// `none`, `gzip`, `gzip2`, `zstd`, `skopeo` (`--files-variants`).
    pub fn parse(s: &str) -> Result<PushVariant> {
        match s.trim() {
            "none" => Ok(PushVariant::Plain),
            "gzip" => Ok(PushVariant::Gzip),
            "gzip2" => Ok(PushVariant::Gzip2),
            "zstd" => Ok(PushVariant::Zstd),
            "skopeo" => Ok(PushVariant::Skopeo),
            other => {
                bail!("bad --files-variants entry {other:?} (none, gzip, gzip2, zstd, skopeo)")
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PushVariant::Plain => "tug push",
            PushVariant::Gzip => "tug push --compress gzip",
            PushVariant::Gzip2 => "tug push --compress gzip --compress-level 2",
            PushVariant::Zstd => "tug push --compress zstd",
            PushVariant::Skopeo => "skopeo",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            PushVariant::Plain => "none",
            PushVariant::Gzip => "gzip",
            PushVariant::Gzip2 => "gzip2",
            PushVariant::Zstd => "zstd",
            PushVariant::Skopeo => "skopeo",
        }
    }

    /// How the pushed layers' media types may end.
    fn layer_suffixes(self) -> &'static [&'static str] {
        match self {
            PushVariant::Plain => &[".tar"],
            PushVariant::Gzip | PushVariant::Gzip2 | PushVariant::Skopeo => &["+gzip", ".tar.gzip"],
            PushVariant::Zstd => &["+zstd"],
        }
    }
}

/// Pushes `image` with `variant` into a fresh registry, measured, and checks it. `what`
/// names the workload in log file names.
pub fn run_push(
    setup: &Setup,
    image: &FilesImage,
    variant: PushVariant,
    what: &str,
    round: u32,
    run_id: &str,
) -> Result<Run> {
    let registry = Registry::start(auth_registry_config(&setup.registry_parent));
    let repo = format!("bench/{what}-{}-{run_id}", variant.tag());
    let target = registry.image(&format!("{repo}:latest"));
    let home = FreshHome::new(&setup.registry_parent)?;
    let archive = image.archive.display().to_string();
    let (program, args, env): (PathBuf, Vec<String>, ClientEnv) = match variant {
        PushVariant::Skopeo => {
            let mut args = vec!["--insecure-policy".to_owned(), "copy".to_owned()];
            args.extend(os_strings(registry_args(&registry, Side::Destination)));
            args.push(format!("docker-archive:{archive}"));
            args.push(format!("docker://{target}"));
            (setup.skopeo.clone(), args, home.env(&[]))
        }
        _ => {
            let ca = registry.ca_file().context("TLS registry has a CA file")?;
            let mut args = vec![
                "push".to_owned(),
                "--ca-file".to_owned(),
                ca.display().to_string(),
                "--progress".to_owned(),
                "none".to_owned(),
            ];
            match variant {
                PushVariant::Gzip => args.extend(["--compress".into(), "gzip".into()]),
                PushVariant::Gzip2 => {
                    args.extend(["--compress", "gzip", "--compress-level", "2"].map(String::from))
                }
                PushVariant::Zstd => args.extend(["--compress".into(), "zstd".into()]),
                _ => {}
            }
            args.extend(setup.tug_args.iter().cloned());
            args.push(archive);
            args.push(target);
            let env = home.env(&[("TUG_USERNAME", USER), ("TUG_PASSWORD", PASSWORD)]);
            (setup.tug.clone(), args, env)
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
    let bytes = verify(&registry, &format!("{repo}:latest"), image, variant)
        .with_context(|| format!("checking what {} pushed", variant.name()))?;
    Ok(Run {
        round,
        who: variant.name().to_owned(),
        sample: finished.sample,
        registry_cpu,
        other_cpu,
        bytes,
    })
}

/// The manifest has the image's layers in the variant's media type and the config its
/// diff_ids; returns the bytes of config and layers.
fn verify(
    registry: &Registry,
    name_and_ref: &str,
    image: &FilesImage,
    variant: PushVariant,
) -> Result<u64> {
    let manifest: Value = serde_json::from_slice(&skopeo::inspect_raw_in(registry, name_and_ref)?)
        .context("manifest is not JSON")?;
    let layers = manifest["layers"]
        .as_array()
        .context("manifest has no layers")?;
    ensure!(
        layers.len() == image.diff_ids.len(),
        "{} layers pushed, the image has {}",
        layers.len(),
        image.diff_ids.len()
    );
    let mut bytes = manifest["config"]["size"].as_u64().unwrap_or(0);
    for l in layers {
        let t = l["mediaType"].as_str().unwrap_or("");
        ensure!(
            variant.layer_suffixes().iter().any(|s| t.ends_with(s)),
            "a layer of media type {t}"
        );
        bytes += l["size"].as_u64().unwrap_or(0);
    }
    let mut args: Vec<String> = vec!["inspect".into(), "--config".into(), "--raw".into()];
    args.extend(os_strings(registry_args(registry, Side::Single)));
    args.push(registry.docker_ref(name_and_ref));
    let config: Value =
        serde_json::from_slice(&skopeo::run(args)?).context("config is not JSON")?;
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .context("config has no rootfs.diff_ids")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        diff_ids == image.diff_ids,
        "the config's diff_ids differ from the image's:\n  {diff_ids:?}\n  {:?}",
        image.diff_ids
    );
    Ok(bytes)
}

/// Command-line arguments as strings (they are ASCII paths and flags).
pub fn os_strings(args: Vec<std::ffi::OsString>) -> Vec<String> {
    args.into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_and_name_their_media_types() {
        assert_eq!(PushVariant::parse(" zstd").unwrap(), PushVariant::Zstd);
        assert_eq!(PushVariant::parse("none").unwrap(), PushVariant::Plain);
        assert!(PushVariant::parse("lz4").is_err());
        assert!(PushVariant::Skopeo.layer_suffixes().contains(&".tar.gzip"));
    }
}
