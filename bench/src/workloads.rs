//! The real-content workloads of issue 13, run without a shaped link against fresh loopback
//! TLS + htpasswd registries on tmpfs, tug and skopeo alternating (order rotated each
//! round):
//!
//! - `push-files`: a `docker save` tar of real files from this machine pushed with
//!   `tug push --compress gzip|zstd` and with `skopeo copy` (which gzips);
//! - `pull-tar`: a random image of gzip layers pulled into a `docker save` tar with
//!   `tug pull -o x.tar`, `skopeo copy docker:// docker-archive:` and the curl floor;
//! - `rootfs`: a root-filesystem-like image of real files, pushed as `push-files` is, then
//!   (gzipped by skopeo, as buildah's images are) pulled as `pull-tar` is.
//!
//! Each returns its tables, the goals as measured, and its runs as JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::clients::Setup;
use crate::fixture::{human_bytes, prepare_gzip_layout};
use crate::goals::{self, Goal};
use crate::pacing::Pacing;
use crate::pull_tar::{run_pull, seed_gzipped, seed_layout, PullVariant, TarSource};
use crate::push_real::{run_push, PushVariant};
use crate::realfiles::{self, FilesImage};
use crate::summary::{self, stats, Run};

/// Seed of the random gzip image (any fixed value; the content is deterministic).
const PULL_TAR_SEED: u64 = 0xBE4C_0005;

/// What to run and on what.
#[derive(Debug, Clone)]
pub struct Options {
    pub rounds: u32,
    pub push_variants: Vec<PushVariant>,
    pub pull_variants: Vec<PullVariant>,
    /// `push-files`: bytes of files, their directories.
    pub files_size: u64,
    pub files_dirs: Vec<String>,
    /// `rootfs`: bytes of files, their directories.
    pub rootfs_size: u64,
    pub rootfs_dirs: Vec<String>,
    /// Layers of the real-files images.
    pub real_layers: usize,
    /// `pull-tar`: bytes of layer content (before gzip) and layers.
    pub pull_tar_size: u64,
    pub pull_tar_layers: usize,
}

/// A workload's result.
#[derive(Debug)]
pub struct Section {
    /// Key of its runs in the `--json` output.
    pub key: &'static str,
    /// Its tables (Markdown).
    pub text: String,
    pub goals: Vec<Goal>,
    pub json: Value,
}

/// `push-files`.
pub fn push_files(
    setup: &Setup,
    images: &Path,
    opts: &Options,
    pacing: &mut Pacing,
) -> Result<Section> {
    let image = realfiles::prepare(
        images,
        &format!("files-{}x{}", opts.real_layers, opts.files_size),
        &opts.files_dirs,
        opts.files_size,
        opts.real_layers,
        "bench/files:latest",
    )?;
    let workload = format!("push real files ({})", short_label(&image));
    let runs = push_rounds(setup, &image, "files", opts, pacing)?;
    Ok(push_section(
        "push_files",
        &workload,
        "`tug push --compress` of a `docker save` tar of real files vs `skopeo copy \
         docker-archive: docker://` (which gzips)",
        &image,
        &runs,
        opts,
    ))
}

/// `pull-tar`.
pub fn pull_tar(
    setup: &Setup,
    images: &Path,
    seeds: &Path,
    opts: &Options,
    pacing: &mut Pacing,
) -> Result<Section> {
    let per_layer = opts.pull_tar_size / opts.pull_tar_layers as u64;
    let layout = prepare_gzip_layout(
        images,
        &format!("gzip-{}x{per_layer}", opts.pull_tar_layers),
        PULL_TAR_SEED,
        opts.pull_tar_layers,
        per_layer,
    )?;
    eprintln!("seeding: skopeo copy of the gzip image (not measured) …");
    let source = seed_layout(setup, &layout, &seeds.join("pull-tar"))?;
    let label = format!(
        "{} / {} random gzip layers, {} compressed",
        human_bytes(opts.pull_tar_size),
        opts.pull_tar_layers,
        human_bytes(source.blob_bytes)
    );
    let workload = format!(
        "pull → tar ({} / {} gzip layers)",
        human_bytes(opts.pull_tar_size),
        opts.pull_tar_layers
    );
    let runs = pull_rounds(setup, &source, "pull-tar", opts, pacing)?;
    Ok(pull_section(
        "pull_tar", &workload, &label, &source, &runs, opts,
    ))
}

/// `rootfs`: the push section, then the pull section.
pub fn rootfs(
    setup: &Setup,
    images: &Path,
    seeds: &Path,
    opts: &Options,
    pacing: &mut Pacing,
) -> Result<Vec<Section>> {
    let image = realfiles::prepare(
        images,
        &format!("rootfs-{}x{}", opts.real_layers, opts.rootfs_size),
        &opts.rootfs_dirs,
        opts.rootfs_size,
        opts.real_layers,
        "bench/rootfs:latest",
    )?;
    let push_runs = push_rounds(setup, &image, "rootfs-push", opts, pacing)?;
    let push = push_section(
        "rootfs_push",
        &format!("push root filesystem ({})", short_label(&image)),
        "a root-filesystem-like image of real files pushed with `tug push --compress` vs \
         `skopeo copy docker-archive: docker://` (which gzips)",
        &image,
        &push_runs,
        opts,
    );
    eprintln!("seeding: skopeo copy of the root filesystem image, gzipped (not measured) …");
    let source = seed_gzipped(setup, &image, &seeds.join("rootfs"))?;
    let label = format!(
        "the root filesystem image gzipped by skopeo: {} / {} layers, {} compressed",
        human_bytes(image.plain_bytes()),
        image.diff_ids.len(),
        human_bytes(source.blob_bytes)
    );
    let pull_runs = pull_rounds(setup, &source, "rootfs-pull", opts, pacing)?;
    let pull = pull_section(
        "rootfs_pull",
        &format!(
            "pull root filesystem → tar ({} gzip layers)",
            image.diff_ids.len()
        ),
        &label,
        &source,
        &pull_runs,
        opts,
    );
    Ok(vec![push, pull])
}

/// `700 MiB / 4 layers`.
fn short_label(image: &FilesImage) -> String {
    format!(
        "{} / {} layers",
        human_bytes(image.plain_bytes()),
        image.diff_ids.len()
    )
}

/// Every push variant once a round, the order rotated.
fn push_rounds(
    setup: &Setup,
    image: &FilesImage,
    what: &str,
    opts: &Options,
    pacing: &mut Pacing,
) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for round in 1..=opts.rounds {
        let mut order = opts.push_variants.clone();
        let shift = (round as usize - 1) % order.len().max(1);
        order.rotate_left(shift);
        for variant in order {
            let run = pacing
                .run(variant.name(), |suffix| {
                    run_push(
                        setup,
                        image,
                        variant,
                        what,
                        round,
                        &format!("r{round}{suffix}"),
                    )
                })
                .with_context(|| format!("{what} round {round}: {}", variant.name()))?;
            log(what, &run);
            runs.push(run);
        }
    }
    Ok(runs)
}

/// Every pull client once a round, the order rotated.
fn pull_rounds(
    setup: &Setup,
    source: &TarSource,
    what: &str,
    opts: &Options,
    pacing: &mut Pacing,
) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for round in 1..=opts.rounds {
        let mut order = opts.pull_variants.clone();
        let shift = (round as usize - 1) % order.len().max(1);
        order.rotate_left(shift);
        for variant in order {
            let run = pacing
                .run(variant.name(), |suffix| {
                    run_pull(
                        setup,
                        source,
                        variant,
                        what,
                        round,
                        &format!("r{round}{suffix}"),
                    )
                })
                .with_context(|| format!("{what} round {round}: {}", variant.name()))?;
            log(what, &run);
            runs.push(run);
        }
    }
    Ok(runs)
}

fn log(what: &str, run: &Run) {
    eprintln!(
        "{what} round {}  {:<26}  wall {:>6.2} s  cpu {:>6.2} s  rss {:>6.1} MiB  {}  \
         registry cpu {:.2} s  other cpu {:.2} s",
        run.round,
        run.who,
        run.sample.wall,
        run.sample.cpu(),
        run.sample.rss_mib(),
        human_bytes(run.bytes),
        run.registry_cpu,
        run.other_cpu,
    );
}

fn push_section(
    key: &'static str,
    workload: &str,
    what: &str,
    image: &FilesImage,
    runs: &[Run],
    opts: &Options,
) -> Section {
    let order: Vec<String> = opts
        .push_variants
        .iter()
        .map(|v| v.name().to_owned())
        .collect();
    let skopeo = PushVariant::Skopeo.name();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n## {workload}\n\n{what}: {}; a fresh TLS + htpasswd docker-registry on tmpfs and \
         a fresh tug home (no compressed.json) per run; medians of {} rounds.\n",
        image.label(),
        opts.rounds
    );
    text.push_str(&summary::table(runs, &order, skopeo, "blobs stored"));
    let wall = |v: PushVariant| stats(runs, v.name()).map(|s| s.wall_median);
    let cpu = |v: PushVariant| stats(runs, v.name()).map(|s| s.cpu_median);
    let goals = vec![
        Goal::ratio(
            workload,
            format!(
                "push --compress gzip wall ≤ {} × skopeo",
                goals::GZIP_VS_SKOPEO
            ),
            wall(PushVariant::Gzip),
            wall(PushVariant::Skopeo),
            goals::GZIP_VS_SKOPEO,
        ),
        Goal::ratio(
            workload,
            "push --compress gzip client CPU ≤ skopeo's".to_owned(),
            cpu(PushVariant::Gzip),
            cpu(PushVariant::Skopeo),
            goals::GZIP_CPU_VS_SKOPEO,
        ),
        Goal::info(
            workload,
            "push --compress gzip --compress-level 2 wall / skopeo".to_owned(),
            wall(PushVariant::Gzip2),
            wall(PushVariant::Skopeo),
        ),
        Goal::ratio(
            workload,
            format!(
                "push --compress zstd wall ≤ {} × skopeo's gzip push",
                goals::ZSTD_VS_SKOPEO
            ),
            wall(PushVariant::Zstd),
            wall(PushVariant::Skopeo),
            goals::ZSTD_VS_SKOPEO,
        ),
        Goal::rss(workload, tug_rss(runs, skopeo)),
    ];
    Section {
        key,
        text,
        goals,
        json: json!({
            "image": image.label(),
            "plain_bytes": image.plain_bytes(),
            "runs": summary::to_json(runs, &order),
        }),
    }
}

fn pull_section(
    key: &'static str,
    workload: &str,
    label: &str,
    source: &TarSource,
    runs: &[Run],
    opts: &Options,
) -> Section {
    let order: Vec<String> = opts
        .pull_variants
        .iter()
        .map(|v| v.name().to_owned())
        .collect();
    let skopeo = PullVariant::Skopeo.name();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n## {workload}\n\n{label}; per run a fresh TLS + htpasswd docker-registry holding it \
         (storage on tmpfs), pulled into a fresh `docker save` tar on tmpfs (`tug pull -o x.tar` \
         in a fresh home; `skopeo copy docker:// docker-archive:`); the curl floor downloads \
         the {} compressed blobs, as many at once as tug's --jobs, and inflates nothing; \
         medians of {} rounds.\n",
        source.blob_digests.len(),
        opts.rounds
    );
    text.push_str(&summary::table(runs, &order, skopeo, "output"));
    let wall = |v: PullVariant| stats(runs, v.name()).map(|s| s.wall_median);
    let goals = vec![
        Goal::ratio(
            workload,
            format!(
                "pull → docker save tar wall ≤ {} × skopeo",
                goals::PULL_TAR_VS_SKOPEO
            ),
            wall(PullVariant::Tug),
            wall(PullVariant::Skopeo),
            goals::PULL_TAR_VS_SKOPEO,
        ),
        Goal::info(
            workload,
            "tug / curl download floor".to_owned(),
            wall(PullVariant::Tug),
            wall(PullVariant::Curl),
        ),
        Goal::rss(
            workload,
            stats(runs, PullVariant::Tug.name()).map(|s| s.rss_max_mib),
        ),
    ];
    Section {
        key,
        text,
        goals,
        json: json!({
            "image": label,
            "blob_bytes": source.blob_bytes,
            "runs": summary::to_json(runs, &order),
        }),
    }
}

/// The largest peak RSS of the tug runs (every variant but `skopeo`).
fn tug_rss(runs: &[Run], skopeo: &str) -> Option<f64> {
    runs.iter()
        .filter(|r| r.who != skopeo)
        .map(|r| r.sample.rss_mib())
        .reduce(f64::max)
}
