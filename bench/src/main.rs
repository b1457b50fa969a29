//! tug-bench: pushes the same image with `tug push`, `skopeo copy` (as users run it, and
//! without compression) and a raw parallel curl upload, each against a fresh local TLS
//! `docker-registry` with storage on tmpfs, alternating the order over several rounds, and
//! prints wall time, client CPU time and peak RSS with the tug/skopeo and tug/curl ratios.
//! Then measures tug's peak RSS at several image sizes. Likewise pulls the image from a fresh
//! registry into an OCI layout (`tug pull` vs `skopeo copy docker:// oci:`) and copies it
//! between two fresh registries (`tug copy` vs `skopeo copy docker:// docker://`). And
//! (`--mode jobs`) pushes a smaller image over a slow link with fixed `--jobs` settings and
//! with adaptive concurrency. The real-content workloads (`push-files`, `pull-tar`,
//! `rootfs`) push `docker save` tars of real files with `--compress` and pull to `docker
//! save` tars; a table of the issue's goals ends the output. See `bench/README.md`.
//!
//! A benchmark, not a test: run it with `bench/run.sh`.

mod browser;
mod clients;
mod compress;
mod embed;
mod fixture;
mod floor;
mod goals;
mod hermetic;
mod jobs;
mod measure;
mod modes;
mod pacing;
mod pull_tar;
mod push_real;
mod realfiles;
mod report;
mod summary;
mod sync;
mod transfer;
mod workloads;

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

use crate::clients::{run_once, Client, Mode, RunResult, Setup};
use crate::fixture::{human_bytes, parse_size, prepare, BenchImage};
use crate::floor::{tug_jobs, CURL_PULL_SCRIPT, CURL_PUSH_SCRIPT};
use crate::goals::Goal;
use crate::measure::{load_average, GNU_TIME};
use crate::modes::{parse_modes, Modes};
use crate::pacing::Pacing;
use crate::pull_tar::PullVariant;
use crate::push_real::PushVariant;
use crate::report::{Report, ScanPoint, Targets};
use crate::transfer::{run_copy, run_pull, seed, Seed};
use crate::workloads::Section;

/// Push, pull and copy benchmark: tug vs skopeo and raw-curl floors against fresh local TLS
/// registries on tmpfs, and issue 13's real-content workloads.
#[derive(Parser, Debug)]
#[command(name = "tug-bench", max_term_width = 100)]
struct Args {
    /// What to measure, comma-separated: push, pull, copy (random plain layers);
    /// push-files (`--compress` push of a tar of real files vs skopeo), pull-tar (a gzip image
    /// pulled to a docker save tar), rootfs (a root-filesystem-like image pushed with
    /// --compress and pulled to a tar); all (those six); browser: the web page in chromium vs
    /// the CLI (use --size 512M); jobs: fixed --jobs vs adaptive over a slow link; compress:
    /// `--compress gzip|zstd` vs none vs skopeo over a slow link; embed: the CLI vs the Python
    /// host and the tokio example pushing an OCI layout (use --size 512M) (browser, jobs,
    /// compress, sync and embed are not part of all).
    #[arg(long, default_value = "all", value_delimiter = ',')]
    mode: Vec<String>,
    /// jobs mode: the link's bandwidth in bytes per second, shared by all connections, each
    /// direction.
    #[arg(long, default_value_t = 20_000_000)]
    link_rate: u64,
    /// jobs mode: milliseconds added to every request on the link.
    #[arg(long, default_value_t = 50)]
    link_latency_ms: u64,
    /// jobs mode: how to run tug push, comma-separated: N (`--fixed-jobs -j N`), adaptive
    /// (`-j --jobs-max`), adaptive:N.
    #[arg(long, default_value = "1,4,8,adaptive", value_delimiter = ',')]
    jobs_variants: Vec<String>,
    /// jobs mode: the most blobs in flight for `adaptive`.
    #[arg(long, default_value_t = 8)]
    jobs_max: u16,
    /// jobs mode: total layer content of the image pushed.
    #[arg(long, default_value = "64M")]
    jobs_size: String,
    /// jobs mode: its number of layers.
    #[arg(long, default_value_t = 8)]
    jobs_layers: usize,
    /// compress mode: what to run, comma-separated: none (`tug push`), gzip, zstd
    /// (`tug push --compress …`), skopeo (`skopeo copy`, which gzips plain layers).
    #[arg(long, default_value = "none,gzip,zstd,skopeo", value_delimiter = ',')]
    compress_variants: Vec<String>,
    /// compress mode: total layer content of the image (text-like, compresses ~2:1).
    #[arg(long, default_value = "256M")]
    compress_size: String,
    /// compress mode: its number of layers.
    #[arg(long, default_value_t = 4)]
    compress_layers: usize,
    /// sync mode: repositories of small images.
    #[arg(long, default_value_t = 50)]
    sync_repos: usize,
    /// sync mode: tags (each its own image) per small repository.
    #[arg(long, default_value_t = 4)]
    sync_tags: usize,
    /// sync mode: layer content of each small image.
    #[arg(long, default_value = "256K")]
    sync_small_size: String,
    /// sync mode: repositories of one big image each (0: none).
    #[arg(long, default_value_t = 4)]
    sync_big_repos: usize,
    /// sync mode: content of each big image (4 layers).
    #[arg(long, default_value = "1G")]
    sync_big_size: String,
    /// Rounds; each round runs once with every client, in a rotated order.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Push clients to measure, comma-separated: tug, skopeo, skopeo-raw, curl (the floor).
    #[arg(
        long,
        default_value = "tug,skopeo,skopeo-raw,curl",
        value_delimiter = ','
    )]
    clients: Vec<String>,
    /// Pull clients to measure, comma-separated: tug, skopeo, skopeo-raw, curl (the floor).
    #[arg(
        long,
        default_value = "tug,skopeo,skopeo-raw,curl",
        value_delimiter = ','
    )]
    pull_clients: Vec<String>,
    /// Copy clients to measure, comma-separated: tug, skopeo, skopeo-raw.
    #[arg(long, default_value = "tug,skopeo,skopeo-raw", value_delimiter = ',')]
    copy_clients: Vec<String>,
    /// Total uncompressed layer content of every image (e.g. 1G, 512M; default: 1G for push,
    /// pull, copy and pull-tar, 700M of files for push-files, 276M for rootfs).
    #[arg(long)]
    size: Option<String>,
    /// Number of layers of every image (each gets size / layers bytes).
    #[arg(long, default_value_t = 8)]
    layers: usize,
    /// Image sizes at which tug's peak RSS is measured, comma-separated (same layer count).
    #[arg(long, default_value = "256M,1G,2G", value_delimiter = ',')]
    scan_sizes: Vec<String>,
    /// tug pushes per size in the size scan (0 skips the scan).
    #[arg(long, default_value_t = 2)]
    scan_runs: u32,
    /// tug pulls and copies per size in their size scans, at the sizes other than the main
    /// image's (whose points are the rounds' tug runs); 0 skips these scans.
    #[arg(long, default_value_t = 2)]
    transfer_scan_runs: u32,
    /// Before each run, wait up to this many seconds for the machine to be idle (other
    /// processes using under a quarter CPU for a second); 0 disables the wait.
    #[arg(long, default_value_t = 15)]
    wait_quiet: u64,
    /// Repeat a run up to this many times when other processes used more than a quarter
    /// CPU during it, keeping the least disturbed one.
    #[arg(long, default_value_t = 1)]
    retry_disturbed: u32,
    /// At most this many seconds in all are spent waiting for quiet and repeating disturbed
    /// runs; after that every run happens once, as it comes (bounds the total run time on a
    /// busy machine).
    #[arg(long, default_value_t = 150)]
    patience: u64,
    /// Blobs the curl floors move at once (0: as many as tug's --jobs, from --tug-arg for
    /// push and --tug-pull-arg for pull, else tug's default).
    #[arg(long, default_value_t = 0)]
    curl_jobs: u32,
    /// push-files and rootfs: how to push, comma-separated: gzip, zstd
    /// (`tug push --compress …`), gzip2 (`--compress gzip --compress-level 2`), none
    /// (`tug push`), skopeo (`skopeo copy`, which gzips).
    #[arg(long, default_value = "gzip,gzip2,zstd,skopeo", value_delimiter = ',')]
    files_variants: Vec<String>,
    /// pull-tar and rootfs: who pulls to a docker save tar, comma-separated: tug, skopeo,
    /// curl (the download floor).
    #[arg(long, default_value = "tug,skopeo,curl", value_delimiter = ',')]
    pull_tar_clients: Vec<String>,
    /// push-files: the directories whose files make the image, comma-separated (taken in
    /// turns up to --size).
    #[arg(
        long,
        default_value = "/usr/include,/usr/bin,/usr/share/doc,/usr/lib",
        value_delimiter = ','
    )]
    files_dirs: Vec<String>,
    /// rootfs: the directories whose files make the image, comma-separated.
    #[arg(
        long,
        default_value = "/etc,/usr/bin,/usr/lib,/usr/share",
        value_delimiter = ','
    )]
    rootfs_dirs: Vec<String>,
    /// push-files and rootfs: layers of the real-files images.
    #[arg(long, default_value_t = 4)]
    real_layers: usize,
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
    /// Extra argument for `tug pull` (repeatable), e.g. --tug-pull-arg=-j8.
    #[arg(long = "tug-pull-arg", allow_hyphen_values = true)]
    tug_pull_args: Vec<String>,
    /// Extra argument for `tug copy` (repeatable), e.g. --tug-copy-arg=-j8.
    #[arg(long = "tug-copy-arg", allow_hyphen_values = true)]
    tug_copy_args: Vec<String>,
    /// Also write every sample and the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only start a fresh TLS registry on the tmpfs, print how to reach it (shell variable
    /// assignments REGISTRY, URL, CA_FILE, CA_DIR), and keep it until standard input closes:
    /// for profiling a client by hand.
    #[arg(long)]
    serve: bool,
}

/// Measured runs with their round numbers.
type Runs = Vec<(u32, RunResult)>;

/// Seeds of the generated images (any fixed values; the content is deterministic).
const MAIN_SEED: u64 = 0xBE4C_0001;
const SCAN_SEED: u64 = 0xBE4C_0002;
const JOBS_SEED: u64 = 0xBE4C_0003;
const COMPRESS_SEED: u64 = 0xBE4C_0004;

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
    let modes: Modes = parse_modes(&args.mode)?;
    let (jobs_mode, browser_mode, compress_mode) = (modes.jobs, modes.browser, modes.compress);
    let compress_variants: Vec<compress::Variant> = args
        .compress_variants
        .iter()
        .map(|v| compress::Variant::parse(v))
        .collect::<Result<_>>()?;
    if compress_mode && compress_variants.is_empty() {
        bail!("no --compress-variants given");
    }
    let variants: Vec<jobs::Variant> = args
        .jobs_variants
        .iter()
        .map(|v| jobs::Variant::parse(v, args.jobs_max))
        .collect::<Result<_>>()?;
    if jobs_mode && variants.is_empty() {
        bail!("no --jobs-variants given");
    }
    let clients_of = |mode: Mode, names: &[String]| -> Result<Vec<Client>> {
        let clients: Vec<Client> = names
            .iter()
            .map(|s| Client::parse(s.trim(), mode))
            .collect::<Result<_>>()?;
        if clients.is_empty() {
            bail!("no {} clients given", mode.name());
        }
        Ok(clients)
    };
    let push_clients = clients_of(Mode::Push, &args.clients)?;
    let pull_clients = clients_of(Mode::Pull, &args.pull_clients)?;
    let copy_clients = clients_of(Mode::Copy, &args.copy_clients)?;
    let size_or = |default: &str| parse_size(args.size.as_deref().unwrap_or(default));
    let size = size_or("1G")?;
    let workload_options = workloads::Options {
        rounds: args.rounds,
        push_variants: non_empty(&args.files_variants, "--files-variants", |v| {
            PushVariant::parse(v)
        })?,
        pull_variants: non_empty(&args.pull_tar_clients, "--pull-tar-clients", |v| {
            PullVariant::parse(v)
        })?,
        files_size: size_or("700M")?,
        files_dirs: args.files_dirs.clone(),
        rootfs_size: size_or("276M")?,
        rootfs_dirs: args.rootfs_dirs.clone(),
        real_layers: args.real_layers,
        pull_tar_size: size,
        pull_tar_layers: args.layers,
    };
    realfiles::check_sources("--files-dirs", &args.files_dirs)?;
    realfiles::check_sources("--rootfs-dirs", &args.rootfs_dirs)?;
    if args.real_layers == 0 {
        bail!("--real-layers must be at least 1");
    }
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
    let curl_push_script = work.join("curl-push.sh");
    fs::write(&curl_push_script, CURL_PUSH_SCRIPT)?;
    let curl_pull_script = work.join("curl-pull.sh");
    fs::write(&curl_pull_script, CURL_PULL_SCRIPT)?;
    let floor_jobs = |tug_args: &[String], flag: &str| -> Result<u32> {
        if args.curl_jobs > 0 {
            return Ok(args.curl_jobs);
        }
        tug_jobs(tug_args)
            .map(u32::from)
            .with_context(|| format!("{flag}: a --jobs value that is not a number"))
    };
    let setup = Setup {
        tug: tug.clone(),
        tug_args: args.tug_args.clone(),
        tug_pull_args: args.tug_pull_args.clone(),
        tug_copy_args: args.tug_copy_args.clone(),
        skopeo: require_tool("skopeo"),
        bash: require_tool("bash"),
        curl_push_script,
        curl_pull_script,
        push_floor_jobs: floor_jobs(&args.tug_args, "--tug-arg")?,
        pull_floor_jobs: floor_jobs(&args.tug_pull_args, "--tug-pull-arg")?,
        registry_parent: args.registry_parent.clone(),
        logs: logs.clone(),
    };
    if (modes.registry.contains(&Mode::Push) && push_clients.contains(&Client::Curl))
        || (modes.registry.contains(&Mode::Pull) && pull_clients.contains(&Client::Curl))
        || ((modes.pull_tar || modes.rootfs)
            && workload_options.pull_variants.contains(&PullVariant::Curl))
    {
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
    let mut jobs_json = None;
    if jobs_mode {
        let total = parse_size(&args.jobs_size)?;
        if args.jobs_layers == 0 || total < args.jobs_layers as u64 {
            bail!("--jobs-layers must be at least 1 and at most --jobs-size bytes");
        }
        let per_layer = total / args.jobs_layers as u64;
        let image = prepare(
            &images,
            &image_name("jobs", args.jobs_layers, per_layer),
            JOBS_SEED,
            args.jobs_layers,
            per_layer,
        )?;
        let link = jobs::Link {
            bytes_per_sec: args.link_rate,
            latency: Duration::from_millis(args.link_latency_ms),
        };
        let runs = jobs::run_jobs(
            &setup,
            &image,
            link,
            &variants,
            args.rounds,
            args.wait_quiet,
        )?;
        println!(
            "{}",
            jobs::render(&runs, &variants, &image, link, args.rounds, &environment)
        );
        jobs_json = Some(jobs::to_json(&runs, &variants, link));
    }
    let mut compress_json = None;
    if compress_mode {
        let total = parse_size(&args.compress_size)?;
        if args.compress_layers == 0 || total < args.compress_layers as u64 {
            bail!("--compress-layers must be at least 1 and at most --compress-size bytes");
        }
        let image = compress::prepare(
            &images,
            COMPRESS_SEED,
            args.compress_layers,
            total / args.compress_layers as u64,
        )?;
        let link = jobs::Link {
            bytes_per_sec: args.link_rate,
            latency: Duration::from_millis(args.link_latency_ms),
        };
        let runs = compress::run_compress(
            &setup,
            &image,
            link,
            &compress_variants,
            args.rounds,
            args.wait_quiet,
        )?;
        println!(
            "{}",
            compress::render(
                &runs,
                &compress_variants,
                &image,
                link,
                args.rounds,
                &environment
            )
        );
        compress_json = Some(compress::to_json(&runs, &compress_variants, link));
    }
    let mut sync_json = None;
    if modes.sync {
        let sizes = sync::Sizes {
            repos: args.sync_repos,
            tags: args.sync_tags,
            small: parse_size(&args.sync_small_size)?,
            big_repos: args.sync_big_repos,
            big: parse_size(&args.sync_big_size)?,
        };
        if sizes.repos == 0 || sizes.tags == 0 {
            bail!("--sync-repos and --sync-tags must be at least 1");
        }
        let (source, workloads) = sync::prepare(&setup, &work, sizes)?;
        let runs = sync::run_sync(&setup, &source, &workloads, args.rounds, args.wait_quiet)?;
        println!(
            "{}",
            sync::render(&runs, &workloads, args.rounds, &environment)
        );
        sync_json = Some(sync::to_json(&runs, &workloads));
    }
    let mut pacing = Pacing {
        wait_quiet: args.wait_quiet,
        retry_disturbed: args.retry_disturbed,
        patience: Duration::from_secs(args.patience),
    };
    // The real-content workloads.
    let seeds = work.join("seeds");
    let mut sections: Vec<Section> = Vec::new();
    if modes.push_files {
        sections.push(workloads::push_files(
            &setup,
            &images,
            &workload_options,
            &mut pacing,
        )?);
    }
    if modes.pull_tar {
        sections.push(workloads::pull_tar(
            &setup,
            &images,
            &seeds,
            &workload_options,
            &mut pacing,
        )?);
    }
    if modes.rootfs {
        sections.extend(workloads::rootfs(
            &setup,
            &images,
            &seeds,
            &workload_options,
            &mut pacing,
        )?);
    }
    for section in &sections {
        println!("{}", section.text);
    }
    // Browser mode pushes the main image: it goes on below.
    if !modes.main_image() {
        let goals: Vec<Goal> = sections.iter().flat_map(|s| s.goals.clone()).collect();
        if !goals.is_empty() {
            println!("{}", goals::render(&goals));
        }
        eprintln!("total bench time {:.0} s", started.elapsed().as_secs_f64());
        if let Some(path) = &args.json {
            let mut doc = json!({"environment": environment, "jobs": jobs_json,
                                 "compress": compress_json, "sync": sync_json});
            add_sections(&mut doc, &sections, &goals);
            fs::write(path, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        return Ok(());
    }
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
    // The scan images other than the main one, made when first needed.
    let scan_image = |s: &str| -> Result<BenchImage> {
        let per_layer = parse_size(s)? / args.layers as u64;
        if per_layer == layer_size {
            return Ok(main_image.clone());
        }
        let name = image_name("scan", args.layers, per_layer);
        prepare(&images, &name, SCAN_SEED, args.layers, per_layer)
    };

    let mut reports: Vec<(Report, Runs)> = Vec::new();

    if modes.registry.contains(&Mode::Push) {
        let runs = rounds(&args, &push_clients, "push", |client, run_id| {
            pacing
                .run(client.name(), |id| {
                    run_once(&setup, client, &main_image, &format!("{run_id}{id}"))
                })
                .with_context(|| format!("push {run_id}"))
        })?;

        // tug's peak RSS against image size.
        let mut scan: Vec<ScanPoint> = Vec::new();
        if args.scan_runs > 0 {
            for s in &args.scan_sizes {
                let image = scan_image(s)?;
                for i in 0..args.scan_runs {
                    let run_id = format!("scan-{}-{}", s.trim().to_ascii_lowercase(), i + 1);
                    let result = pacing.run(Client::Tug.name(), |id| {
                        run_once(&setup, Client::Tug, &image, &format!("{run_id}{id}"))
                    })?;
                    scan.push(scan_point(Mode::Push, &image, &result));
                }
            }
        }
        let report = Report {
            mode: Mode::Push,
            image_label: main_image.label(),
            image_bytes: main_image.total_bytes,
            rounds: args.rounds,
            clients: push_clients.clone(),
            runs: runs.iter().map(|(_, r)| r.clone()).collect(),
            scan,
            targets: Targets::ISSUE,
            tug_args: args.tug_args.clone(),
            curl_jobs: setup.push_floor_jobs,
        };
        println!("{}", report.render(&environment));
        reports.push((report, runs));
    }

    let transfer_modes: Vec<Mode> = modes
        .registry
        .iter()
        .copied()
        .filter(|&m| m != Mode::Push)
        .collect();
    if !transfer_modes.is_empty() {
        let seeds = work.join("seeds");
        let seed_of = |image: &BenchImage| -> Result<Seed> {
            eprintln!("seeding: tug push of {} (not measured) …", image.label());
            let name = image
                .archive
                .parent()
                .and_then(Path::file_name)
                .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
            seed(&setup, image, &seeds.join(name))
        };
        let main_seed = seed_of(&main_image)?;
        let mut sections: Vec<(Mode, Runs, Vec<ScanPoint>)> = Vec::new();
        for &mode in &transfer_modes {
            let clients = if mode == Mode::Pull {
                &pull_clients
            } else {
                &copy_clients
            };
            let runs = rounds(&args, clients, mode.name(), |client, run_id| {
                pacing.run(client.name(), |id| {
                    transfer_run(&setup, mode, client, &main_seed, &format!("{run_id}{id}"))
                })
            })?;
            // The main image's scan points are the rounds' tug runs.
            let scan = runs
                .iter()
                .filter(|(_, r)| r.client == Client::Tug)
                .map(|(_, r)| scan_point(mode, &main_image, r))
                .collect();
            sections.push((mode, runs, scan));
        }
        drop(main_seed);
        if args.transfer_scan_runs > 0 {
            for s in &args.scan_sizes {
                let image = scan_image(s)?;
                if image.total_bytes == main_image.total_bytes {
                    continue;
                }
                let scan_seed = seed_of(&image)?;
                for (mode, _, scan) in &mut sections {
                    let mode = *mode;
                    for i in 0..args.transfer_scan_runs {
                        let run_id = format!("scan-{}-{}", s.trim().to_ascii_lowercase(), i + 1);
                        let result = pacing.run(Client::Tug.name(), |id| {
                            transfer_run(
                                &setup,
                                mode,
                                Client::Tug,
                                &scan_seed,
                                &format!("{run_id}{id}"),
                            )
                        })?;
                        scan.push(scan_point(mode, &image, &result));
                    }
                }
            }
        }
        for (mode, runs, mut scan) in sections {
            scan.sort_by_key(|p| p.image_bytes);
            let report = Report {
                mode,
                image_label: main_image.label(),
                image_bytes: main_image.total_bytes,
                rounds: args.rounds,
                clients: if mode == Mode::Pull {
                    pull_clients.clone()
                } else {
                    copy_clients.clone()
                },
                runs: runs.iter().map(|(_, r)| r.clone()).collect(),
                scan,
                targets: Targets::ISSUE,
                tug_args: if mode == Mode::Pull {
                    args.tug_pull_args.clone()
                } else {
                    args.tug_copy_args.clone()
                },
                curl_jobs: setup.pull_floor_jobs,
            };
            println!("{}", report.render(&environment));
            reports.push((report, runs));
        }
    }
    let browser_report = if browser_mode {
        Some(browser::run(
            &setup,
            &main_image,
            args.rounds,
            args.wait_quiet,
            args.retry_disturbed,
        )?)
    } else {
        None
    };
    let embed_report = if modes.embed {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let programs = embed::Programs::find(&workspace, &setup.tug)?;
        let image = &main_image;
        Some(embed::run(
            &setup,
            &programs,
            image,
            args.rounds,
            args.wait_quiet,
        )?)
    } else {
        None
    };
    let mut goals: Vec<Goal> = reports.iter().flat_map(|(r, _)| r.goals()).collect();
    goals.extend(sections.iter().flat_map(|s| s.goals.clone()));
    if !goals.is_empty() {
        println!("{}", goals::render(&goals));
    }
    eprintln!("total bench time {:.0} s", started.elapsed().as_secs_f64());

    if let Some(path) = &args.json {
        let section = |report: &Report, runs: &[(u32, RunResult)]| {
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
            json!({
                "tug_args": report.tug_args,
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
            })
        };
        let mut doc = json!({
            "environment": environment,
            "image_bytes": main_image.total_bytes,
            "layers": args.layers,
            "push_floor_jobs": setup.push_floor_jobs,
            "pull_floor_jobs": setup.pull_floor_jobs,
        });
        add_sections(&mut doc, &sections, &goals);
        if let Some(b) = &browser_report {
            doc["browser"] = b.clone();
        }
        if let Some(e) = &embed_report {
            doc["embed"] = e.clone();
        }
        if let Some(v) = jobs_json {
            doc["jobs"] = v;
        }
        if let Some(v) = compress_json {
            doc["compress"] = v;
        }
        if let Some(v) = sync_json {
            doc["sync"] = v;
        }
        for (report, runs) in &reports {
            let s = section(report, runs);
            if report.mode == Mode::Push {
                // The push results stay at the top level, where they always were.
                for (k, v) in s.as_object().into_iter().flatten() {
                    doc[k] = v.clone();
                }
            } else {
                doc[report.mode.name()] = s;
            }
        }
        fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Adds the real-content workloads' runs and the goals to the `--json` document.
fn add_sections(doc: &mut serde_json::Value, sections: &[Section], goals: &[Goal]) {
    for s in sections {
        doc[s.key] = s.json.clone();
    }
    doc["goals"] = goals::to_json(goals);
}

/// The parsed entries of a comma-separated option, at least one.
fn non_empty<T>(
    values: &[String],
    flag: &str,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<Vec<T>> {
    let parsed: Vec<T> = values.iter().map(|v| parse(v)).collect::<Result<_>>()?;
    if parsed.is_empty() {
        bail!("no {flag} given");
    }
    Ok(parsed)
}

/// `--rounds` rounds of `run(client, "rN")` over `clients`, rotating the order every round
/// so no client always runs first or after the same other client.
fn rounds(
    args: &Args,
    clients: &[Client],
    what: &str,
    mut run: impl FnMut(Client, &str) -> Result<RunResult>,
) -> Result<Runs> {
    let mut runs = Vec::new();
    for round in 0..args.rounds {
        let mut order = clients.to_vec();
        order.rotate_left(round as usize % clients.len());
        for client in order {
            let result = run(client, &format!("r{}", round + 1))?;
            eprintln!(
                "{what} round {}  {:<10}  wall {:>6.2} s  cpu {:>6.2} s (user {:.2} + sys {:.2})  \
                 rss {:>6.1} MiB  stored {}  registry cpu {:.2} s  other cpu {:.2} s",
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
    Ok(runs)
}

/// One pull or copy.
fn transfer_run(
    setup: &Setup,
    mode: Mode,
    client: Client,
    seed: &Seed,
    run_id: &str,
) -> Result<RunResult> {
    match mode {
        Mode::Pull => run_pull(setup, client, seed, run_id),
        Mode::Copy => run_copy(setup, client, seed, run_id),
        Mode::Push => bail!("push is not a transfer"),
    }
}

/// A size-scan point from a tug run, logged.
fn scan_point(mode: Mode, image: &BenchImage, result: &RunResult) -> ScanPoint {
    eprintln!(
        "{} scan {:<18}  wall {:>6.2} s  cpu {:>6.2} s  rss {:>6.1} MiB  registry cpu {:.2} s  \
         other cpu {:.2} s",
        mode.name(),
        image.label(),
        result.sample.wall,
        result.sample.cpu(),
        result.sample.rss_mib(),
        result.registry_cpu,
        result.other_cpu,
    );
    ScanPoint {
        label: image.label(),
        image_bytes: image.total_bytes,
        sample: result.sample,
        registry_cpu: result.registry_cpu,
        other_cpu: result.other_cpu,
    }
}

/// Directory name of a generated image, e.g. `main-8x128MiB`.
fn image_name(kind: &str, layers: usize, layer_size: u64) -> String {
    let size = if layer_size.is_multiple_of(1 << 20) {
        format!("{}MiB", layer_size >> 20)
    } else {
        format!("{layer_size}B")
    };
    format!("{kind}-{layers}x{size}")
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
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned());
    let mut lines = vec![
        format!("date: {date}"),
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
