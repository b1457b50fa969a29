//! tug-bench: pushes the same image with `tug push`, `skopeo copy` (as users run it, and
//! without compression) and a raw parallel curl upload, each against a fresh local TLS
//! `docker-registry` with storage on tmpfs, alternating the order over several rounds, and
//! prints wall time, client CPU time and peak RSS with the tug/skopeo and tug/curl ratios.
//! Then measures tug's peak RSS at several image sizes. See `bench/README.md`.
//!
//! A benchmark, not a test: run it with `bench/run.sh`.

mod clients;
mod fixture;
mod measure;
mod report;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;
use tug_testkit::tools::{find_tool, require_tool};
use tug_testkit::{Registry, RegistryConfig};

use crate::clients::{run_once, Client, RunResult, Setup, CURL_SCRIPT, DISTURBED_CPUS};
use crate::fixture::{human_bytes, parse_size, prepare, BenchImage};
use crate::measure::{load_average, wait_quiet, GNU_TIME};
use crate::report::{Report, ScanPoint, Targets};

/// Push benchmark: tug vs skopeo vs raw curl against a fresh local TLS registry on tmpfs.
#[derive(Parser, Debug)]
#[command(name = "tug-bench", max_term_width = 100)]
struct Args {
    /// Rounds; each round pushes once with every client, in a rotated order.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Clients to measure, comma-separated: tug, skopeo, skopeo-raw, curl.
    #[arg(
        long,
        default_value = "tug,skopeo,skopeo-raw,curl",
        value_delimiter = ','
    )]
    clients: Vec<String>,
    /// Total uncompressed layer content of the main image (e.g. 1G, 512M).
    #[arg(long, default_value = "1G")]
    size: String,
    /// Number of layers of every image (each gets size / layers bytes).
    #[arg(long, default_value_t = 8)]
    layers: usize,
    /// Image sizes at which tug's peak RSS is measured, comma-separated (same layer count).
    #[arg(long, default_value = "256M,1G,2G", value_delimiter = ',')]
    scan_sizes: Vec<String>,
    /// tug pushes per size in the size scan (0 skips the scan).
    #[arg(long, default_value_t = 2)]
    scan_runs: u32,
    /// Before each push, wait up to this many seconds for the machine to be idle (other
    /// processes using under a quarter CPU for a second); 0 disables the wait.
    #[arg(long, default_value_t = 15)]
    wait_quiet: u64,
    /// Repeat a push up to this many times when other processes used more than a quarter
    /// CPU during it, keeping the least disturbed one.
    #[arg(long, default_value_t = 1)]
    retry_disturbed: u32,
    /// At most this many seconds in all are spent waiting for quiet and repeating disturbed
    /// pushes; after that every push runs once, as it comes (bounds the total run time on a
    /// busy machine).
    #[arg(long, default_value_t = 150)]
    patience: u64,
    /// Blobs the curl floor uploads at once (0: all of them).
    #[arg(long, default_value_t = 0)]
    curl_jobs: u32,
    /// Keep images here and reuse them on the next run (default: a temporary directory in
    /// /dev/shm, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where each registry's temporary directory (with its storage) goes; must be a tmpfs.
    #[arg(long, default_value = "/dev/shm")]
    registry_parent: PathBuf,
    /// The tug binary (default: <target dir>/release/tug).
    #[arg(long)]
    tug: Option<PathBuf>,
    /// Extra argument for `tug push` (repeatable), e.g. --tug-arg=-j8.
    #[arg(long = "tug-arg", allow_hyphen_values = true)]
    tug_args: Vec<String>,
    /// Also write every sample and the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only start a fresh TLS registry on the tmpfs, print how to reach it (shell variable
    /// assignments REGISTRY, URL, CA_FILE, CA_DIR), and keep it until standard input closes:
    /// for profiling a client by hand.
    #[arg(long)]
    serve: bool,
}

/// Seeds of the generated images (any fixed values; the content is deterministic).
const MAIN_SEED: u64 = 0xBE4C_0001;
const SCAN_SEED: u64 = 0xBE4C_0002;

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("tug-bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.serve {
        return serve(&args.registry_parent);
    }
    let started = Instant::now();
    let clients: Vec<Client> = args
        .clients
        .iter()
        .map(|s| Client::parse(s.trim()))
        .collect::<Result<_>>()?;
    if clients.is_empty() {
        bail!("no clients given");
    }
    let size = parse_size(&args.size)?;
    if args.layers == 0 || size < args.layers as u64 {
        bail!("--layers must be at least 1 and at most --size bytes");
    }
    if !Path::new(GNU_TIME).is_file() {
        bail!("{GNU_TIME} not found: install the `time` package (bench/run.sh does)");
    }
    let tug = args.tug.clone().unwrap_or_else(default_tug);
    if !tug.is_file() {
        bail!(
            "tug binary not found at {}: run `cargo build --release -p tug` (bench/run.sh does)",
            tug.display()
        );
    }
    let tug = fs::canonicalize(&tug)?;

    let _temp_work;
    let work: PathBuf = match &args.work_dir {
        Some(dir) => {
            fs::create_dir_all(dir)?;
            fs::canonicalize(dir)?
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("tug-bench-")
                .tempdir_in("/dev/shm")
                .context("create a work dir in /dev/shm")?;
            let p = t.path().to_path_buf();
            _temp_work = t;
            p
        }
    };
    let logs = work.join("logs");
    fs::create_dir_all(&logs)?;
    let curl_script = work.join("curl-push.sh");
    fs::write(&curl_script, CURL_SCRIPT)?;
    let setup = Setup {
        tug: tug.clone(),
        tug_args: args.tug_args.clone(),
        skopeo: require_tool("skopeo"),
        bash: require_tool("bash"),
        curl_script,
        curl_jobs: args.curl_jobs,
        registry_parent: args.registry_parent.clone(),
        logs: logs.clone(),
    };
    if clients.contains(&Client::Curl) {
        require_tool("curl");
    }

    let environment = environment(&setup);
    for line in &environment {
        eprintln!("{line}");
    }
    eprintln!(
        "work dir: {} (client logs in {})",
        work.display(),
        logs.display()
    );

    let images = work.join("images");
    let layer_size = size / args.layers as u64;
    let main_image = prepare(
        &images,
        &image_name("main", args.layers, layer_size),
        MAIN_SEED,
        args.layers,
        layer_size,
    )?;
    eprintln!(
        "main image: {} in {}",
        main_image.label(),
        main_image.archive.display()
    );

    let mut patience = Duration::from_secs(args.patience);
    // Rounds, rotating the client order so no client always runs first or after another.
    let mut runs: Vec<(u32, RunResult)> = Vec::new();
    for round in 0..args.rounds {
        let mut order = clients.clone();
        order.rotate_left(round as usize % clients.len());
        for client in order {
            let result = measured_run(
                &setup,
                &args,
                &mut patience,
                client,
                &main_image,
                &format!("r{}", round + 1),
            )?;
            eprintln!(
                "round {}  {:<10}  wall {:>6.2} s  cpu {:>6.2} s (user {:.2} + sys {:.2})  rss {:>6.1} MiB  \
                 stored {}  registry cpu {:.2} s  other cpu {:.2} s",
                round + 1,
                client.name(),
                result.sample.wall,
                result.sample.cpu(),
                result.sample.user,
                result.sample.sys,
                result.sample.rss_mib(),
                human_bytes(result.stored_bytes),
                result.registry_cpu,
                result.other_cpu,
            );
            runs.push((round + 1, result));
        }
    }

    // tug's peak RSS against image size.
    let mut scan: Vec<ScanPoint> = Vec::new();
    if args.scan_runs > 0 {
        for s in &args.scan_sizes {
            let total = parse_size(s)?;
            let per_layer = total / args.layers as u64;
            let image = if per_layer == layer_size {
                main_image.clone()
            } else {
                let name = image_name("scan", args.layers, per_layer);
                prepare(&images, &name, SCAN_SEED, args.layers, per_layer)?
            };
            for i in 0..args.scan_runs {
                let run_id = format!("scan-{}-{}", s.trim().to_ascii_lowercase(), i + 1);
                let result =
                    measured_run(&setup, &args, &mut patience, Client::Tug, &image, &run_id)?;
                eprintln!(
                    "scan {:<18}  wall {:>6.2} s  cpu {:>6.2} s  rss {:>6.1} MiB  registry cpu {:.2} s  \
                     other cpu {:.2} s",
                    image.label(),
                    result.sample.wall,
                    result.sample.cpu(),
                    result.sample.rss_mib(),
                    result.registry_cpu,
                    result.other_cpu,
                );
                scan.push(ScanPoint {
                    label: image.label(),
                    image_bytes: image.total_bytes,
                    sample: result.sample,
                    registry_cpu: result.registry_cpu,
                    other_cpu: result.other_cpu,
                });
            }
        }
    }

    let report = Report {
        image_label: main_image.label(),
        image_bytes: main_image.total_bytes,
        rounds: args.rounds,
        clients: clients.clone(),
        runs: runs.iter().map(|(_, r)| r.clone()).collect(),
        scan,
        targets: Targets::ISSUE,
        tug_args: args.tug_args.clone(),
        curl_jobs: args.curl_jobs,
    };
    let text = report.render(&environment);
    println!("{text}");
    eprintln!("total bench time {:.0} s", started.elapsed().as_secs_f64());

    if let Some(path) = &args.json {
        let samples: Vec<_> = runs
            .iter()
            .map(|(round, r)| {
                json!({
                    "round": round,
                    "client": r.client.name(),
                    "wall_s": r.sample.wall,
                    "user_s": r.sample.user,
                    "sys_s": r.sample.sys,
                    "max_rss_kib": r.sample.max_rss_kib,
                    "stored_bytes": r.stored_bytes,
                    "load_before": r.load_before,
                    "registry_cpu_s": r.registry_cpu,
                    "other_cpu_s": r.other_cpu,
                })
            })
            .collect();
        let doc = json!({
            "environment": environment,
            "image_bytes": main_image.total_bytes,
            "layers": args.layers,
            "tug_args": args.tug_args,
            "curl_jobs": args.curl_jobs,
            "runs": samples,
            "size_scan": report.scan.iter().map(|p| json!({
                "image_bytes": p.image_bytes,
                "wall_s": p.sample.wall,
                "cpu_s": p.sample.cpu(),
                "max_rss_kib": p.sample.max_rss_kib,
                "registry_cpu_s": p.registry_cpu,
                "other_cpu_s": p.other_cpu,
            })).collect::<Vec<_>>(),
            "summary": report.summary_json(),
        });
        fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Directory name of a generated image, e.g. `main-8x128MiB`.
fn image_name(kind: &str, layers: usize, layer_size: u64) -> String {
    let size = if layer_size % (1 << 20) == 0 {
        format!("{}MiB", layer_size >> 20)
    } else {
        format!("{layer_size}B")
    };
    format!("{kind}-{layers}x{size}")
}

/// One push with `run_once`, after waiting for a quiet machine, repeated while disturbed.
fn measured_run(
    setup: &Setup,
    args: &Args,
    patience: &mut Duration,
    client: Client,
    image: &BenchImage,
    run_id: &str,
) -> Result<RunResult> {
    let mut best: Option<RunResult> = None;
    for attempt in 0..=args.retry_disturbed {
        if attempt > 0 && patience.is_zero() {
            eprintln!("  (out of patience (--patience): keeping the disturbed run)");
            break;
        }
        let start = Instant::now();
        if args.wait_quiet > 0 && !patience.is_zero() {
            let max_wait = Duration::from_secs(args.wait_quiet).min(*patience);
            wait_quiet(DISTURBED_CPUS, max_wait);
        }
        let id = match attempt {
            0 => run_id.to_owned(),
            n => format!("{run_id}-retry{n}"),
        };
        let result = run_once(setup, client, image, &id)?;
        // The wait counts against the patience, and so do repeated pushes.
        let spent = if attempt == 0 {
            start
                .elapsed()
                .saturating_sub(Duration::from_secs_f64(result.sample.wall))
        } else {
            start.elapsed()
        };
        *patience = patience.saturating_sub(spent);
        let disturbed = result.disturbed();
        if disturbed {
            eprintln!(
                "  ({} {id} disturbed: other processes used {:.2} s CPU in {:.2} s{})",
                client.name(),
                result.other_cpu,
                result.sample.wall,
                if attempt < args.retry_disturbed && !patience.is_zero() {
                    "; again"
                } else {
                    ""
                }
            );
        }
        let better = best
            .as_ref()
            .is_none_or(|b| result.other_cpu / result.sample.wall < b.other_cpu / b.sample.wall);
        if better {
            best = Some(result);
        }
        if !disturbed {
            break;
        }
    }
    best.context("no run")
}

/// `--serve`: a registry for experiments, until standard input closes.
fn serve(parent: &Path) -> Result<()> {
    let registry = Registry::start(RegistryConfig::tls().with_temp_parent(parent));
    let shown = |p: Option<&Path>| p.map(|p| p.display().to_string()).unwrap_or_default();
    println!("REGISTRY={}", registry.host());
    println!("URL={}", registry.url());
    println!("CA_FILE={}", shown(registry.ca_file()));
    println!("CA_DIR={}", shown(registry.ca_dir()));
    println!("REGISTRY_PID={}", registry.pid());
    std::io::stdout().flush()?;
    eprintln!("registry running; close standard input (Ctrl-D) to stop it");
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    Ok(())
}

/// `<target dir>/release/tug`, the target dir being `$CARGO_TARGET_DIR` or the workspace's.
fn default_tug() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    target.join("release").join("tug")
}

/// Machine and tool versions, printed with the results.
fn environment(setup: &Setup) -> Vec<String> {
    let first_line = |program: &Path, arg: &str| -> String {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "?".to_owned())
    };
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "?".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut lines = vec![
        format!(
            "machine: {cpus} CPUs ({cpu}), load average {:.2}",
            load_average()
        ),
        format!(
            "tug: {} ({})",
            first_line(&setup.tug, "--version"),
            setup.tug.display()
        ),
        format!("skopeo: {}", first_line(&setup.skopeo, "--version")),
    ];
    if let Some(curl) = find_tool("curl") {
        lines.push(format!("curl: {}", first_line(&curl, "--version")));
    }
    lines.push(format!(
        "registry: {}",
        first_line(Path::new(tug_testkit::tools::DOCKER_REGISTRY), "--version")
    ));
    lines
}
