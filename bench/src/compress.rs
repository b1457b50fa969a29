//! `--mode compress`: `tug push --compress gzip|zstd` against pushing as is, and against
//! `skopeo copy` (which gzips plain layers), over a slow link. The image is a classic
//! `docker save` tar of plain layers whose files compress like a root filesystem's (the
//! testkit's text layers, about 2:1 under gzip); each run pushes it through the harness's fault proxy,
//! shaped to a bandwidth and a latency, into a fresh plain-HTTP `docker-registry` on tmpfs,
//! several rounds in a rotated order. Every tug run gets an empty state directory, so it
//! compresses everything (nothing is recalled from an earlier run).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tug_testkit::fixtures::classic_docker_save;
use tug_testkit::{skopeo, FaultProxy, ImageSpec, Registry, RegistryConfig};

use crate::clients::{tail, Setup};
use crate::fixture::human_bytes;
use crate::jobs::Link;
use crate::measure::{measure, wait_quiet, Sample};
use crate::report::median;

/// One way of pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `tug push` (layers as they are).
    Plain,
    /// `tug push --compress gzip`.
    Gzip,
    /// `tug push --compress zstd`.
    Zstd,
    /// `skopeo copy docker-archive: docker://` (gzips plain layers by default).
    Skopeo,
}

impl Variant {
    /// `none`, `gzip`, `zstd`, `skopeo`.
    pub fn parse(s: &str) -> Result<Variant> {
        match s.trim() {
            "none" => Ok(Variant::Plain),
            "gzip" => Ok(Variant::Gzip),
            "zstd" => Ok(Variant::Zstd),
            "skopeo" => Ok(Variant::Skopeo),
            other => bail!("bad --compress-variants entry {other:?} (none, gzip, zstd, skopeo)"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "tug push",
            Variant::Gzip => "tug push --compress gzip",
            Variant::Zstd => "tug push --compress zstd",
            Variant::Skopeo => "skopeo copy (gzip)",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Variant::Plain => "none",
            Variant::Gzip => "gzip",
            Variant::Zstd => "zstd",
            Variant::Skopeo => "skopeo",
        }
    }

    /// How the pushed layers' media types must end.
    fn layer_suffix(self) -> &'static [&'static str] {
        match self {
            Variant::Plain => &[".tar"],
            Variant::Gzip | Variant::Skopeo => &["+gzip", ".tar.gzip"],
            Variant::Zstd => &["+zstd"],
        }
    }
}

/// The image: a classic `docker save` tar of text layers.
#[derive(Debug, Clone)]
pub struct CompressImage {
    pub archive: PathBuf,
    /// Plain bytes of the config and layers.
    pub plain_bytes: u64,
    pub layers: usize,
}

/// Writes the image into `dir` (reused when the same spec is there already).
pub fn prepare(dir: &Path, seed: u64, layers: usize, layer_size: u64) -> Result<CompressImage> {
    let name = format!("compress-{layers}x{layer_size}-{seed:x}");
    let dir = dir.join(name);
    let archive = dir.join("image.tar");
    let marker = dir.join("plain_bytes");
    if let Some(plain_bytes) = fs::read_to_string(&marker)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|_| archive.is_file())
    {
        eprintln!("compress image: reusing {}", dir.display());
        return Ok(CompressImage {
            archive,
            plain_bytes,
            layers,
        });
    }
    fs::create_dir_all(&dir)?;
    let start = Instant::now();
    eprintln!(
        "compress image: writing {layers} × {} text layers …",
        human_bytes(layer_size)
    );
    let mut spec = ImageSpec::new(seed);
    for _ in 0..layers {
        spec = spec.text_layer(layer_size);
    }
    let fixture = classic_docker_save(&archive, &spec, "bench/compress:latest");
    let plain_bytes =
        fixture.layers.iter().map(|l| l.size).sum::<u64>() + fixture.config.len() as u64;
    fs::write(&marker, plain_bytes.to_string())?;
    eprintln!(
        "compress image: ready in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(CompressImage {
        archive,
        plain_bytes,
        layers,
    })
}

/// One measured push.
#[derive(Debug, Clone)]
pub struct CompressRun {
    pub round: u32,
    pub variant: Variant,
    pub sample: Sample,
    /// Request-body bytes through the shaped link.
    pub link_bytes: u64,
    /// Bytes of the blobs the registry stored for the image (config and layers).
    pub blob_bytes: u64,
}

/// Pushes `image` with every variant, `rounds` times, each through a fresh shaped proxy
/// in front of a fresh registry.
pub fn run_compress(
    setup: &Setup,
    image: &CompressImage,
    link: Link,
    variants: &[Variant],
    rounds: u32,
    wait_quiet_secs: u64,
) -> Result<Vec<CompressRun>> {
    let mut runs = Vec::new();
    for round in 1..=rounds {
        let mut order = variants.to_vec();
        order.rotate_left((round as usize - 1) % variants.len().max(1));
        for variant in order {
            if wait_quiet_secs > 0 {
                wait_quiet(
                    crate::measure::DISTURBED_CPUS,
                    std::time::Duration::from_secs(wait_quiet_secs),
                );
            }
            let run = run_once(setup, image, link, variant, round)?;
            eprintln!(
                "compress round {round}  {:<26}  wall {:>6.2} s  cpu {:>5.2} s  sent {}",
                variant.name(),
                run.sample.wall,
                run.sample.cpu(),
                human_bytes(run.link_bytes)
            );
            runs.push(run);
        }
    }
    Ok(runs)
}

fn run_once(
    setup: &Setup,
    image: &CompressImage,
    link: Link,
    variant: Variant,
    round: u32,
) -> Result<CompressRun> {
    let registry =
        Registry::start(RegistryConfig::plain().with_temp_parent(&setup.registry_parent));
    let proxy = FaultProxy::start(&registry);
    proxy.shape(link.bytes_per_sec, link.latency);
    let repo = format!("bench/compress-r{round}-{}", variant.tag());
    let target = proxy.image(&format!("{repo}:latest"));
    let archive = image.archive.display().to_string();
    let state = tempfile::tempdir_in(&setup.registry_parent).context("tug state dir")?;
    let (program, args): (PathBuf, Vec<String>) = match variant {
        Variant::Skopeo => (
            setup.skopeo.clone(),
            vec![
                "--insecure-policy".into(),
                "copy".into(),
                "--dest-tls-verify=false".into(),
                format!("docker-archive:{archive}"),
                format!("docker://{target}"),
            ],
        ),
        _ => {
            // Through env(1): a fresh state directory, so nothing is recalled.
            let mut args = vec![
                format!("TUG_STATE_DIR={}", state.path().display()),
                setup.tug.display().to_string(),
                "push".into(),
                "--plain-http".into(),
                "--progress".into(),
                "none".into(),
            ];
            match variant {
                Variant::Gzip => args.extend(["--compress".into(), "gzip".into()]),
                Variant::Zstd => args.extend(["--compress".into(), "zstd".into()]),
                _ => {}
            }
            args.push(archive);
            args.push(target);
            (PathBuf::from("/usr/bin/env"), args)
        }
    };
    let log_stem = setup
        .logs
        .join(format!("compress-r{round}-{}", variant.tag()));
    let finished = measure(&program, &args, &log_stem)?;
    if !finished.success {
        bail!(
            "{} failed ({}):\n{}\n--- registry log (tail):\n{}",
            variant.name(),
            finished.status,
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    // The registry (not the proxy) has the image, its layers compressed as asked.
    let raw = skopeo::inspect_raw_in(&registry, &format!("{repo}:latest"))?;
    let manifest: Value = serde_json::from_slice(&raw).context("manifest is not JSON")?;
    let layers = manifest["layers"]
        .as_array()
        .context("manifest has no layers")?;
    if layers.len() != image.layers {
        bail!("{}: {} layers pushed", variant.name(), layers.len());
    }
    let mut blob_bytes = manifest["config"]["size"].as_u64().unwrap_or(0);
    for l in layers {
        let t = l["mediaType"].as_str().unwrap_or("");
        if !variant.layer_suffix().iter().any(|s| t.ends_with(s)) {
            bail!("{}: a layer of media type {t}", variant.name());
        }
        blob_bytes += l["size"].as_u64().unwrap_or(0);
    }
    let link_bytes = proxy.request_body_bytes();
    if link_bytes < blob_bytes {
        bail!(
            "{}: only {link_bytes} of {blob_bytes} blob bytes went through the link",
            variant.name()
        );
    }
    Ok(CompressRun {
        round,
        variant,
        sample: finished.sample,
        link_bytes,
        blob_bytes,
    })
}

/// Per variant: median wall, min, max, median CPU, blob bytes.
fn medians(runs: &[CompressRun], variants: &[Variant]) -> Vec<(Variant, f64, f64, f64, f64, u64)> {
    variants
        .iter()
        .filter_map(|&v| {
            let mine: Vec<&CompressRun> = runs.iter().filter(|r| r.variant == v).collect();
            let mut walls: Vec<f64> = mine.iter().map(|r| r.sample.wall).collect();
            let mut cpus: Vec<f64> = mine.iter().map(|r| r.sample.cpu()).collect();
            let first = mine.first()?;
            let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
            let max = walls.iter().copied().fold(0.0, f64::max);
            Some((
                v,
                median(&mut walls),
                min,
                max,
                median(&mut cpus),
                first.blob_bytes,
            ))
        })
        .collect()
}

/// The result table (Markdown).
pub fn render(
    runs: &[CompressRun],
    variants: &[Variant],
    image: &CompressImage,
    link: Link,
    rounds: u32,
    environment: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## tug push --compress over a slow link\n\n{} of text-like layers ({} layers, a \
         classic docker save tar), through the fault proxy shaped to {}, into a fresh plain \
         docker-registry on tmpfs; medians of {rounds} rounds; every tug run with an empty \
         state directory.\n",
        human_bytes(image.plain_bytes),
        image.layers,
        link.describe(),
    );
    for line in environment {
        let _ = writeln!(out, "    {line}");
    }
    let stats = medians(runs, variants);
    let base = stats
        .iter()
        .find(|s| s.0 == Variant::Plain)
        .map(|s| s.1)
        .unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "\n| client | wall (median) | min–max | vs tug push | blobs stored | ratio | CPU (median) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (v, m, min, max, cpu, blob_bytes) in &stats {
        let vs = if base.is_nan() {
            "—".to_owned()
        } else {
            format!("{:.2}", m / base)
        };
        let _ = writeln!(
            out,
            "| {} | {m:.2} s | {min:.2}–{max:.2} s | {vs} | {} | {:.2} | {cpu:.2} s |",
            v.name(),
            human_bytes(*blob_bytes),
            image.plain_bytes as f64 / *blob_bytes as f64,
        );
    }
    out
}

/// The runs as JSON (for `--json`).
pub fn to_json(runs: &[CompressRun], variants: &[Variant], link: Link) -> Value {
    json!({
        "link_bytes_per_sec": link.bytes_per_sec,
        "link_latency_ms": link.latency.as_millis() as u64,
        "runs": runs.iter().map(|r| json!({
            "round": r.round,
            "variant": r.variant.name(),
            "wall_s": r.sample.wall,
            "user_s": r.sample.user,
            "sys_s": r.sample.sys,
            "max_rss_kib": r.sample.max_rss_kib,
            "link_bytes": r.link_bytes,
            "blob_bytes": r.blob_bytes,
        })).collect::<Vec<_>>(),
        "medians": medians(runs, variants).iter().map(|(v, m, min, max, cpu, b)| json!({
            "variant": v.name(), "wall_median_s": m, "wall_min_s": min, "wall_max_s": max,
            "cpu_median_s": cpu, "blob_bytes": b,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_and_name_their_media_types() {
        assert_eq!(Variant::parse(" zstd").unwrap(), Variant::Zstd);
        assert_eq!(Variant::parse("none").unwrap(), Variant::Plain);
        assert!(Variant::parse("lz4").is_err());
        assert!(Variant::Skopeo.layer_suffix().contains(&".tar.gzip"));
    }
}
