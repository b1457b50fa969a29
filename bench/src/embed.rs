//! `--mode embed`: the same OCI layout pushed by the `tug push` CLI, by the Python host
//! over the WebAssembly component (`python -m tug_embed`, wasmtime from PyPI) and by the
//! tokio example (`tug-tokio-runner`), each run to a fresh TLS + htpasswd `docker-registry`
//! on tmpfs with a fresh home, rounds rotating who goes first. Medians and ratios to the
//! CLI; the goal is the Python host within 1.5× the CLI's wall time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tug_testkit::{Registry, RegistryConfig};

use crate::clients::{pushed_layers, tail, Setup};
use crate::fixture::{BenchImage, LAYOUT_TAG};
use crate::hermetic::FreshHome;
use crate::measure::DISTURBED_CPUS;
use crate::measure::{measure_env, process_cpu_seconds, system_busy_seconds, wait_quiet, Sample};

/// The Python host's wall time over the CLI's the issue asks for at most.
pub const TARGET_RATIO: f64 = 1.5;
const USER: &str = "bench";
const PASSWORD: &str = "bench-embed";

/// The three pushers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Cli,
    Python,
    Tokio,
}

impl Host {
    const ALL: [Host; 3] = [Host::Cli, Host::Python, Host::Tokio];

    fn name(self) -> &'static str {
        match self {
            Host::Cli => "tug-cli",
            Host::Python => "python",
            Host::Tokio => "tokio",
        }
    }
}

/// The programs besides tug: the venv's Python (with `embed/python` on its path) and the
/// tokio example's release build.
pub struct Programs {
    pub python: PathBuf,
    pub python_path: PathBuf,
    pub tokio: PathBuf,
}

impl Programs {
    /// The workspace's: `target/tug-embed-venv` (scripts/build-component.sh) and the
    /// example next to `tug`.
    pub fn find(workspace: &Path, tug: &Path) -> Result<Programs> {
        let programs = Programs {
            python: workspace.join("target/tug-embed-venv/bin/python"),
            python_path: workspace.join("embed/python"),
            tokio: tug.with_file_name("tug-tokio-runner"),
        };
        let component = workspace.join("target/wasm32-wasip2/dist/tug_component.wasm");
        if !programs.python.is_file() || !component.is_file() {
            bail!("the Python venv or the component is missing: run scripts/build-component.sh (bench/run.sh does)");
        }
        if !programs.tokio.is_file() {
            bail!(
                "{} is missing: cargo build --release -p tug-tokio-runner (bench/run.sh does)",
                programs.tokio.display()
            );
        }
        Ok(programs)
    }
}

/// One measured push.
#[derive(Debug, Clone)]
struct EmbedRun {
    round: u32,
    host: Host,
    sample: Sample,
    /// CPU seconds other processes than the pusher and the registry used meanwhile.
    other_cpu: f64,
}

/// Runs `rounds` rounds and prints the report; returns it as JSON.
pub fn run(
    setup: &Setup,
    programs: &Programs,
    image: &BenchImage,
    rounds: u32,
    wait_quiet_secs: u64,
) -> Result<Value> {
    let layout = image
        .archive
        .parent()
        .context("the image's directory")?
        .join("oci");
    let mut runs = Vec::new();
    for round in 1..=rounds {
        let mut order = Host::ALL;
        order.rotate_left((round as usize - 1) % Host::ALL.len());
        for host in order {
            if wait_quiet_secs > 0 {
                wait_quiet(DISTURBED_CPUS, Duration::from_secs(wait_quiet_secs));
            }
            let run = run_once(setup, programs, image, &layout, host, round)
                .with_context(|| format!("embed mode, round {round}, {}", host.name()))?;
            eprintln!(
                "embed round {round}  {:<8}  wall {:>6.2} s  cpu {:.2} s  rss {:.1} MiB  other cpu {:.2} s",
                host.name(),
                run.sample.wall,
                run.sample.cpu(),
                run.sample.rss_mib(),
                run.other_cpu
            );
            runs.push(run);
        }
    }
    let pick = |h: Host, f: fn(&EmbedRun) -> f64| -> Vec<f64> {
        runs.iter().filter(|r| r.host == h).map(f).collect()
    };
    let cli = median(&pick(Host::Cli, |r| r.sample.wall));
    let mut table = String::new();
    let mut summary = serde_json::Map::new();
    for host in Host::ALL {
        let walls = pick(host, |r| r.sample.wall);
        let wall = median(&walls);
        let cpu = median(&pick(host, |r| r.sample.cpu()));
        let rss = median(&pick(host, |r| r.sample.rss_mib()));
        let all = walls
            .iter()
            .map(|w| format!("{w:.2}"))
            .collect::<Vec<_>>()
            .join(" / ");
        table.push_str(&format!(
            "| {} | {wall:.2} s | {all} | {:.2} | {cpu:.2} s | {rss:.1} MiB |\n",
            host.name(),
            wall / cli
        ));
        summary.insert(
            host.name().into(),
            json!({"wall_s": wall, "cpu_s": cpu, "rss_mib": rss, "ratio_to_cli": wall / cli}),
        );
    }
    let python = median(&pick(Host::Python, |r| r.sample.wall)) / cli;
    println!(
        "\n## Embedding: a push of {} ({rounds} rounds, medians)\n\n\
         Each push goes to a fresh TLS + htpasswd docker-registry on tmpfs.\n\n\
         | host | wall | runs | / CLI | CPU | peak RSS |\n|---|---|---|---|---|---|\n{table}\n\
         Python host / CLI wall: {python:.2} (target ≤ {TARGET_RATIO:.1}){}",
        image.label(),
        if python <= TARGET_RATIO {
            ""
        } else {
            "  ** above target **"
        }
    );
    Ok(json!({
        "image_bytes": image.total_bytes,
        "runs": runs.iter().map(|r| json!({
            "round": r.round, "host": r.host.name(), "wall_s": r.sample.wall,
            "cpu_s": r.sample.cpu(), "max_rss_kib": r.sample.max_rss_kib,
            "other_cpu_s": r.other_cpu,
        })).collect::<Vec<_>>(),
        "summary": summary,
        "python_ratio": python,
        "target_ratio": TARGET_RATIO,
    }))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn run_once(
    setup: &Setup,
    programs: &Programs,
    image: &BenchImage,
    layout: &Path,
    host: Host,
    round: u32,
) -> Result<EmbedRun> {
    let registry = Registry::start(
        RegistryConfig::tls()
            .with_basic_auth(USER, PASSWORD)
            .with_temp_parent(&setup.registry_parent),
    );
    let ca = registry.ca_file().context("a TLS registry has a CA")?;
    let name_and_ref = format!("bench/{}-r{round}:latest", host.name());
    let target = registry.image(&name_and_ref);
    let home = FreshHome::new(&setup.registry_parent)?;
    let log_stem = setup.logs.join(format!("embed-r{round}-{}", host.name()));
    let s = |p: &Path| p.display().to_string();
    let embedded = |program: &Path, first: &[&str]| {
        let mut args: Vec<String> = first.iter().map(|a| a.to_string()).collect();
        args.extend(["push".into(), s(layout), target.clone()]);
        (program.to_path_buf(), args)
    };
    let (program, args, env) = match host {
        Host::Cli => {
            let mut args = vec![
                "push".to_owned(),
                "--ca-file".to_owned(),
                s(ca),
                "--progress".to_owned(),
                "none".to_owned(),
            ];
            args.extend(setup.tug_args.iter().cloned());
            args.push(format!("oci:{}:{LAYOUT_TAG}", layout.display()));
            args.push(target.clone());
            let env = home.env(&[("TUG_USERNAME", USER), ("TUG_PASSWORD", PASSWORD)]);
            (setup.tug.clone(), args, env)
        }
        Host::Python => {
            let (program, mut args) = embedded(&programs.python, &["-m", "tug_embed"]);
            args.extend(["--user", USER, "--password", PASSWORD, "--ca"].map(String::from));
            args.push(s(ca));
            let python_path = s(&programs.python_path);
            (program, args, home.env(&[("PYTHONPATH", &python_path)]))
        }
        Host::Tokio => {
            // As `tug`, from the environment; the CA as for any rustls program.
            let (program, args) = embedded(&programs.tokio, &[]);
            let auth = [("TUG_USERNAME", USER), ("TUG_PASSWORD", PASSWORD)];
            let env = home.env(&[auth[0], auth[1], ("SSL_CERT_FILE", &s(ca))]);
            (program, args, env)
        }
    };
    let busy_before = system_busy_seconds();
    let registry_cpu_before = process_cpu_seconds(registry.pid());
    let finished = measure_env(&program, &args, &env, &log_stem)?;
    let registry_cpu = process_cpu_seconds(registry.pid()) - registry_cpu_before;
    let other_cpu =
        (system_busy_seconds() - busy_before - finished.sample.cpu() - registry_cpu).max(0.0);
    if !finished.success {
        bail!(
            "{} failed ({}):\n{}\n--- registry log (tail):\n{}",
            host.name(),
            finished.status,
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    // The tag resolves to a manifest with the image's layers.
    let layers = pushed_layers(&registry, &name_and_ref)?;
    if layers != image.layer_digests {
        bail!("{} pushed other layers: {layers:?}", host.name());
    }
    Ok(EmbedRun {
        round,
        host,
        sample: finished.sample,
        other_cpu,
    })
}
