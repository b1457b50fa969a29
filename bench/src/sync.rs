//! `--mode sync`: `tug sync` against `skopeo sync` mirroring the same repositories from one
//! plain-HTTP `docker-registry` into a fresh one, two workloads measured apart: many small
//! images (`--sync-repos` repositories × `--sync-tags` tags, each image its own) and a few
//! big ones (`--sync-big-repos` repositories of one `--sync-big-size` image in 4 layers).
//! Both registries sit behind the harness's fault proxy (unshaped), which counts the
//! requests each client sends. Wall time and requests, medians of `--rounds`, ratios to
//! skopeo's.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tug_testkit::fixtures::{write_oci_layout, Compression};
use tug_testkit::{FaultProxy, ImageSpec, Registry, RegistryConfig};

use crate::clients::{tail, Setup};
use crate::fixture::human_bytes;
use crate::measure::{measure, wait_quiet};
use crate::report::median;

/// The two clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Tug,
    Skopeo,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Tug => "tug sync",
            Client::Skopeo => "skopeo sync",
        }
    }
}

/// What is mirrored.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `small` or `big`.
    pub name: &'static str,
    /// Repositories (under `bench/`), each with its tags.
    pub repositories: Vec<String>,
    pub tags: usize,
    /// Blob bytes of all images.
    pub bytes: u64,
}

impl Workload {
    fn images(&self) -> usize {
        self.repositories.len() * self.tags
    }
}

/// The sizes asked for.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub repos: usize,
    pub tags: usize,
    pub small: u64,
    pub big_repos: usize,
    pub big: u64,
}

/// One measured sync.
#[derive(Debug, Clone)]
pub struct SyncRun {
    pub round: u32,
    pub workload: &'static str,
    pub client: Client,
    pub wall: f64,
    pub cpu: f64,
    /// Requests both proxies saw.
    pub requests: usize,
}

/// Starts the source registry and fills it: the small and the big workload.
pub fn prepare(setup: &Setup, work: &Path, sizes: Sizes) -> Result<(Registry, Vec<Workload>)> {
    let source = Registry::start(RegistryConfig::plain().with_temp_parent(&setup.registry_parent));
    let layouts = work.join("sync-layouts");
    let mut workloads = Vec::new();
    let mut fill = |name: &'static str,
                    repos: usize,
                    tags: usize,
                    spec: &dyn Fn(u64) -> ImageSpec|
     -> Result<()> {
        let mut w = Workload {
            name,
            repositories: Vec::new(),
            tags,
            bytes: 0,
        };
        for r in 0..repos {
            let repo = format!("bench/{name}-{r:02}");
            for t in 0..tags {
                let seed =
                    0x5e00_0000 + (r * 100 + t) as u64 + if name == "big" { 1 << 20 } else { 0 };
                let dir = layouts.join(format!("{name}-{r}-{t}"));
                let _ = fs::remove_dir_all(&dir);
                let f = write_oci_layout(&dir, &spec(seed), "v");
                w.bytes += f.config.len() as u64 + f.layers.iter().map(|l| l.size).sum::<u64>();
                let target = source.image(&format!("{repo}:t{t}"));
                let args: Vec<String> = vec![
                    "push".into(),
                    "--plain-http".into(),
                    "--progress".into(),
                    "none".into(),
                    dir.display().to_string(),
                    target.clone(),
                ];
                let out = std::process::Command::new(&setup.tug)
                    .args(&args)
                    .output()
                    .context("run tug push")?;
                if !out.status.success() {
                    bail!("pushing {target}: {}", String::from_utf8_lossy(&out.stderr));
                }
                let _ = fs::remove_dir_all(&dir);
            }
            w.repositories.push(repo);
        }
        eprintln!(
            "sync source: {name}: {} images, {}",
            w.images(),
            human_bytes(w.bytes)
        );
        workloads.push(w);
        Ok(())
    };
    let small = sizes.small;
    fill("small", sizes.repos, sizes.tags, &|seed| {
        ImageSpec::new(seed).layer(small)
    })?;
    let big = sizes.big;
    if sizes.big_repos > 0 {
        fill("big", sizes.big_repos, 1, &|seed| {
            ImageSpec::random(seed, 4, big / 4, Compression::None)
        })?;
    }
    Ok((source, workloads))
}

/// Syncs every workload with both clients, `rounds` times (the order rotated).
pub fn run_sync(
    setup: &Setup,
    source: &Registry,
    workloads: &[Workload],
    rounds: u32,
    wait_quiet_secs: u64,
) -> Result<Vec<SyncRun>> {
    let mut runs = Vec::new();
    for round in 1..=rounds {
        for w in workloads {
            let mut order = [Client::Tug, Client::Skopeo];
            order.rotate_left((round as usize - 1) % 2);
            for client in order {
                if wait_quiet_secs > 0 {
                    wait_quiet(
                        crate::measure::DISTURBED_CPUS,
                        std::time::Duration::from_secs(wait_quiet_secs),
                    );
                }
                let run = run_once(setup, source, w, client, round)?;
                eprintln!(
                    "sync round {round}  {:<6} {:<12}  wall {:>7.2} s  cpu {:>6.2} s  requests {}",
                    w.name,
                    client.name(),
                    run.wall,
                    run.cpu,
                    run.requests
                );
                runs.push(run);
            }
        }
    }
    Ok(runs)
}

fn run_once(
    setup: &Setup,
    source: &Registry,
    w: &Workload,
    client: Client,
    round: u32,
) -> Result<SyncRun> {
    let dest = Registry::start(RegistryConfig::plain().with_temp_parent(&setup.registry_parent));
    let (ps, pd) = (FaultProxy::start(source), FaultProxy::start(&dest));
    let scratch = tempfile::tempdir_in(&setup.registry_parent).context("scratch dir")?;
    let target = format!("{}/mirror", pd.host());
    let (program, args): (PathBuf, Vec<String>) = match client {
        Client::Tug => {
            // Through env(1): a fresh state directory.
            let mut args = vec![
                format!("TUG_STATE_DIR={}", scratch.path().display()),
                setup.tug.display().to_string(),
                "sync".into(),
                "--plain-http".into(),
                "--progress".into(),
                "none".into(),
            ];
            args.extend(w.repositories.iter().map(|r| ps.image(r)));
            args.push(target);
            (PathBuf::from("/usr/bin/env"), args)
        }
        Client::Skopeo => {
            let mut yaml = format!(
                "{}:\n  tls-verify: false\n  images-by-tag-regex:\n",
                ps.host()
            );
            for r in &w.repositories {
                let _ = writeln!(yaml, "    {r}: \".*\"");
            }
            let file = scratch.path().join("sync.yaml");
            fs::write(&file, yaml)?;
            (
                setup.skopeo.clone(),
                vec![
                    "--insecure-policy".into(),
                    "sync".into(),
                    "--src".into(),
                    "yaml".into(),
                    "--dest".into(),
                    "docker".into(),
                    "--dest-tls-verify=false".into(),
                    file.display().to_string(),
                    target,
                ],
            )
        }
    };
    let log_stem = setup.logs.join(format!(
        "sync-r{round}-{}-{}",
        w.name,
        client.name().replace(' ', "-")
    ));
    let finished = measure(&program, &args, &log_stem)?;
    if !finished.success {
        bail!(
            "{} failed ({}):\n{}\n--- destination log (tail):\n{}",
            client.name(),
            finished.status,
            finished.output_tail(4000),
            tail(&dest.log(), 4000)
        );
    }
    let manifests = pd.requests_matching("PUT", "/manifests/").len();
    if manifests < w.images() {
        bail!(
            "{}: {manifests} of {} images arrived",
            client.name(),
            w.images()
        );
    }
    Ok(SyncRun {
        round,
        workload: w.name,
        client,
        wall: finished.sample.wall,
        cpu: finished.sample.cpu(),
        requests: ps.requests().len() + pd.requests().len(),
    })
}

/// Per workload and client: median wall, min, max, median CPU, median requests.
fn medians(runs: &[SyncRun], workload: &str, client: Client) -> Option<(f64, f64, f64, f64, f64)> {
    let mine: Vec<&SyncRun> = runs
        .iter()
        .filter(|r| r.workload == workload && r.client == client)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut walls: Vec<f64> = mine.iter().map(|r| r.wall).collect();
    let mut cpus: Vec<f64> = mine.iter().map(|r| r.cpu).collect();
    let mut requests: Vec<f64> = mine.iter().map(|r| r.requests as f64).collect();
    let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
    let max = walls.iter().copied().fold(0.0, f64::max);
    Some((
        median(&mut walls),
        min,
        max,
        median(&mut cpus),
        median(&mut requests),
    ))
}

/// The result tables (Markdown), one per workload.
pub fn render(
    runs: &[SyncRun],
    workloads: &[Workload],
    rounds: u32,
    environment: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## tug sync vs skopeo sync\n\nMirroring from a plain docker-registry into a fresh \
         one, both behind the fault proxy (unshaped, counting requests), on tmpfs; medians of \
         {rounds} rounds; goal: tug ≤ 0.5 × skopeo's wall time for the small images.\n"
    );
    for line in environment {
        let _ = writeln!(out, "    {line}");
    }
    for w in workloads {
        let _ = writeln!(
            out,
            "\n### {}: {} repositories × {} tags, {} images, {}\n",
            w.name,
            w.repositories.len(),
            w.tags,
            w.images(),
            human_bytes(w.bytes)
        );
        let _ = writeln!(
            out,
            "| client | wall (median) | min–max | vs skopeo | requests (median) | vs skopeo | CPU (median) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let base = medians(runs, w.name, Client::Skopeo);
        for client in [Client::Tug, Client::Skopeo] {
            let Some((m, min, max, cpu, req)) = medians(runs, w.name, client) else {
                continue;
            };
            let ratio =
                |x: f64, b: Option<f64>| b.map_or("—".to_owned(), |b| format!("{:.2}", x / b));
            let _ = writeln!(
                out,
                "| {} | {m:.2} s | {min:.2}–{max:.2} s | {} | {req:.0} | {} | {cpu:.2} s |",
                client.name(),
                ratio(m, base.map(|b| b.0)),
                ratio(req, base.map(|b| b.4)),
            );
        }
    }
    out
}

/// The runs as JSON (for `--json`).
pub fn to_json(runs: &[SyncRun], workloads: &[Workload]) -> Value {
    json!({
        "workloads": workloads.iter().map(|w| json!({
            "name": w.name, "repositories": w.repositories.len(), "tags": w.tags,
            "images": w.images(), "blob_bytes": w.bytes,
        })).collect::<Vec<_>>(),
        "runs": runs.iter().map(|r| json!({
            "round": r.round, "workload": r.workload, "client": r.client.name(),
            "wall_s": r.wall, "cpu_s": r.cpu, "requests": r.requests,
        })).collect::<Vec<_>>(),
    })
}
