//! `--mode browser`: the same docker-archive pushed from the web page in Debian's headless
//! chromium (`tests/browser/push-bare.mjs`) and by the `tug push` CLI, to the
//! same kind of registry: a fresh plain-HTTP `docker-registry` on tmpfs behind nginx doing
//! TLS and CORS with `docs/nginx-cors.conf` (the browser cannot reach a registry any other
//! way). Rounds alternate which client goes first.
//!
//! The browser's wall time is the page's: from the click on Push to the page showing
//! success (the page indexes the tar again when it pushes, as `tug push` does). The
//! browser session (launch, page load, inspect, push, close) is measured too, under GNU time,
//! for its CPU time and peak RSS.
//!
//! The page's own settings come from the environment `tests/browser/push.mjs` reads, which
//! the bench passes on: `TUG_CHUNK_MIB` (the chunk size typed in) and `TUG_UPLOAD_BODY`
//! (`blob` or `buffer`, tug-wasm's `uploadBody`); the report names them. `TUG_PAGE_DRIVER`
//! picks the driver in tests/browser: by default `push-bare.mjs`, which drives chromium over
//! a bare DevTools pipe with the Page, DOM and Runtime calls it needs, as a person's browser
//! runs the page (no DevTools watching it); `push.mjs` is the browser tests' playwright
//! driver, whose Network domain instrumentation costs the page ~0.65 s per 512 MiB.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tug_testkit::browser::{browser_test_dir, require_browser_tools};
use tug_testkit::{Nginx, PagePush, Registry, RegistryConfig, TugWeb};

use crate::clients::{pushed_layers, tail, Setup};
use crate::fixture::BenchImage;
use crate::measure::DISTURBED_CPUS;
use crate::measure::{measure, system_busy_seconds, wait_quiet, Sample};

/// Ratio of browser to CLI wall time the issue asks for at most.
pub const TARGET_RATIO: f64 = 1.5;

/// The two ways of pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pusher {
    Cli,
    Browser,
}

impl Pusher {
    fn name(self) -> &'static str {
        match self {
            Pusher::Cli => "tug-cli",
            Pusher::Browser => "browser",
        }
    }
}

/// One measured push.
#[derive(Debug, Clone)]
pub struct BrowserRun {
    pub round: u32,
    pub pusher: Pusher,
    /// Seconds: the CLI process's wall time, or the page's click-to-success time.
    pub wall: f64,
    /// The measured process: `tug push`, or the whole browser session (node + chromium).
    pub sample: Sample,
    /// CPU seconds nginx used during the run (TLS and proxying, for both pushers).
    pub nginx_cpu: f64,
    /// CPU seconds processes other than the pusher, the registry and nginx used during the
    /// run: other work competing for the CPUs.
    pub other_cpu: f64,
}

impl BrowserRun {
    /// Whether other processes used more than a quarter CPU during the run.
    fn disturbed(&self) -> bool {
        self.other_cpu > DISTURBED_CPUS * self.sample.wall
    }
}

/// Runs `rounds` rounds and prints the report; returns it as JSON.
pub fn run(
    setup: &Setup,
    image: &BenchImage,
    rounds: u32,
    wait_quiet_secs: u64,
    retry_disturbed: u32,
) -> Result<Value> {
    let node = require_browser_tools();
    let web = TugWeb::start(&setup.tug);
    eprintln!(
        "browser mode: page at {} (served by {})",
        web.url(),
        setup.tug.display()
    );
    let page_settings = page_settings();
    eprintln!("browser mode: the page's settings: {page_settings}");
    let mut runs = Vec::new();
    for round in 1..=rounds {
        let order = if round % 2 == 1 {
            [Pusher::Cli, Pusher::Browser]
        } else {
            [Pusher::Browser, Pusher::Cli]
        };
        for pusher in order {
            // Repeated (up to retry_disturbed times) while other work disturbed it; the least
            // disturbed run counts.
            let mut best: Option<BrowserRun> = None;
            for _ in 0..=retry_disturbed {
                if wait_quiet_secs > 0 {
                    wait_quiet(DISTURBED_CPUS, Duration::from_secs(wait_quiet_secs));
                }
                let run = run_once(setup, &node, &web, image, pusher, round)
                    .with_context(|| format!("browser mode, round {round}, {}", pusher.name()))?;
                eprintln!(
                    "browser round {round}  {:<8}  wall {:>6.2} s  (process: wall {:.2} s, cpu \
                     {:.2} s, rss {:.1} MiB)  nginx cpu {:.2} s  other cpu {:.2} s{}",
                    pusher.name(),
                    run.wall,
                    run.sample.wall,
                    run.sample.cpu(),
                    run.sample.rss_mib(),
                    run.nginx_cpu,
                    run.other_cpu,
                    if run.disturbed() { "  (disturbed)" } else { "" }
                );
                let disturbed = run.disturbed();
                let share = |r: &BrowserRun| r.other_cpu / r.sample.wall;
                if best.as_ref().is_none_or(|b| share(&run) < share(b)) {
                    best = Some(run);
                }
                if !disturbed {
                    break;
                }
            }
            runs.push(best.context("no run")?);
        }
    }
    let stats = |p: Pusher| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.pusher == p)
            .map(|r| r.wall)
            .collect()
    };
    let cli = median(&stats(Pusher::Cli));
    let browser = median(&stats(Pusher::Browser));
    let ratio = browser / cli;
    let cli_cpu = median(&pick(&runs, Pusher::Cli, |r| r.sample.cpu()));
    let cli_rss = median(&pick(&runs, Pusher::Cli, |r| r.sample.rss_mib()));
    let session_wall = median(&pick(&runs, Pusher::Browser, |r| r.sample.wall));
    let session_cpu = median(&pick(&runs, Pusher::Browser, |r| r.sample.cpu()));
    let session_rss = median(&pick(&runs, Pusher::Browser, |r| r.sample.rss_mib()));
    let nginx_cli = median(&pick(&runs, Pusher::Cli, |r| r.nginx_cpu));
    let nginx_browser = median(&pick(&runs, Pusher::Browser, |r| r.nginx_cpu));
    let disturbed = runs.iter().filter(|r| r.disturbed()).count();
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|w| format!("{w:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "\n## Browser push: {} ({} rounds, medians)\n\n\
         The page's settings: {page_settings}.\n\n\
         Both push to a fresh plain-HTTP docker-registry on tmpfs behind nginx (TLS + CORS, \
         docs/nginx-cors.conf).\n\n\
         | pusher | wall | runs |\n|---|---|---|\n\
         | tug push (CLI) | {cli:.2} s | {} |\n\
         | web page in chromium (click → pushed) | {browser:.2} s | {} |\n\n\
         browser / CLI wall: {ratio:.2} (target ≤ {TARGET_RATIO:.1}){}\n\n\
         CLI: cpu {cli_cpu:.2} s, peak RSS {cli_rss:.1} MiB. Browser session (launch, page load, \
         inspect, push, close): wall {session_wall:.2} s, cpu {session_cpu:.2} s (chromium's \
         processes and node), largest process peak RSS {session_rss:.1} MiB. nginx cpu (TLS, \
         proxying): {nginx_cli:.2} s for the CLI's push, {nginx_browser:.2} s for the page's \
         (CORS preflights included).{}",
        image.label(),
        rounds,
        fmt(&stats(Pusher::Cli)),
        fmt(&stats(Pusher::Browser)),
        if ratio <= TARGET_RATIO {
            ""
        } else {
            "  ** above target **"
        },
        if disturbed > 0 {
            format!(
                "\n\n{disturbed} of {} kept runs were disturbed by other work on the machine.",
                runs.len()
            )
        } else {
            String::new()
        },
    );
    Ok(json!({
        "image_bytes": image.total_bytes,
        "runs": runs.iter().map(|r| json!({
            "round": r.round, "pusher": r.pusher.name(), "wall_s": r.wall,
            "process_wall_s": r.sample.wall, "cpu_s": r.sample.cpu(),
            "max_rss_kib": r.sample.max_rss_kib, "nginx_cpu_s": r.nginx_cpu,
            "other_cpu_s": r.other_cpu, "disturbed": r.disturbed(),
        })).collect::<Vec<_>>(),
        "cli_wall_s": cli,
        "browser_wall_s": browser,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "page_settings": page_settings,
    }))
}

/// The driver script in tests/browser (`TUG_PAGE_DRIVER`, default `push-bare.mjs`).
fn page_driver() -> String {
    std::env::var("TUG_PAGE_DRIVER")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "push-bare.mjs".to_owned())
}

/// The page's chunk size and upload body as `push.mjs` will set them (else the defaults).
fn page_settings() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    format!(
        "chunk {}, upload body {}, driver {}",
        var("TUG_CHUNK_MIB").map_or("default".to_owned(), |m| format!("{m} MiB")),
        var("TUG_UPLOAD_BODY").unwrap_or_else(|| "default".to_owned()),
        page_driver(),
    )
}

fn pick(runs: &[BrowserRun], p: Pusher, f: impl Fn(&BrowserRun) -> f64) -> Vec<f64> {
    runs.iter().filter(|r| r.pusher == p).map(f).collect()
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
    node: &Path,
    web: &TugWeb,
    image: &BenchImage,
    pusher: Pusher,
    round: u32,
) -> Result<BrowserRun> {
    let registry =
        Registry::start(RegistryConfig::plain().with_temp_parent(&setup.registry_parent));
    let nginx = Nginx::cors_front(&registry);
    let name_and_ref = format!("bench/{}-r{round}:latest", pusher.name());
    let log_stem = setup
        .logs
        .join(format!("browser-r{round}-{}", pusher.name()));
    let busy_before = system_busy_seconds();
    let registry_cpu_before = crate::measure::process_cpu_seconds(registry.pid());
    let nginx_cpu_before = crate::measure::process_cpu_seconds(nginx.pid());
    let (wall, finished) = match pusher {
        Pusher::Cli => {
            let mut args = vec![
                "push".to_owned(),
                "--ca-file".to_owned(),
                nginx.ca_file().display().to_string(),
                "--progress".to_owned(),
                "none".to_owned(),
            ];
            args.extend(setup.tug_args.iter().cloned());
            args.push(image.archive.display().to_string());
            args.push(format!("{}/{name_and_ref}", nginx.host()));
            let finished = measure(&setup.tug, &args, &log_stem)?;
            (finished.sample.wall, finished)
        }
        Pusher::Browser => {
            let push = PagePush::new(web.url(), &image.archive, &nginx.url(), &name_and_ref)
                .trust_cert(nginx.cert_file())
                .timeout(Duration::from_secs(1800));
            // /usr/bin/env VAR=… node push.mjs, so GNU time measures node and chromium.
            let mut args: Vec<String> = push
                .env_vars()
                .into_iter()
                .map(|(k, v): (String, OsString)| format!("{k}={}", v.to_string_lossy()))
                .collect();
            args.push(node.display().to_string());
            args.push(browser_test_dir().join(page_driver()).display().to_string());
            let mut finished = measure(Path::new("/usr/bin/env"), &args, &log_stem)?;
            if !finished.success {
                bail!("the browser driver failed:\n{}", finished.output_tail(4000));
            }
            let report = last_json_line(&finished.stdout)?;
            if report["state"] != "success" {
                bail!(
                    "the page did not push: {}\n--- nginx:\n{}",
                    serde_json::to_string_pretty(&report)?,
                    tail(&nginx.error_log(), 4000)
                );
            }
            let ms = report["timings"]["pushMs"]
                .as_f64()
                .context("the report has no timings.pushMs")?;
            // GNU time misses chromium's processes nobody waits for (its renderers); the
            // bare driver reports the whole tree's CPU, counted as the browser's (not as
            // other work disturbing the run).
            if let Some(tree) = report["sessionCpuS"].as_f64() {
                finished.sample.user += (tree - finished.sample.cpu()).max(0.0);
            }
            (ms / 1000.0, finished)
        }
    };
    let registry_cpu = crate::measure::process_cpu_seconds(registry.pid()) - registry_cpu_before;
    let nginx_cpu = crate::measure::process_cpu_seconds(nginx.pid()) - nginx_cpu_before;
    let other_cpu =
        (system_busy_seconds() - busy_before - finished.sample.cpu() - registry_cpu - nginx_cpu)
            .max(0.0);
    if !finished.success {
        bail!(
            "{} failed ({}):\n{}\n--- registry log (tail):\n{}",
            pusher.name(),
            finished.status,
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    // The tag resolves to a manifest with the image's layers.
    let layers = pushed_layers(&registry, &name_and_ref)?;
    if layers != image.layer_digests {
        bail!("{} pushed other layers: {layers:?}", pusher.name());
    }
    Ok(BrowserRun {
        round,
        pusher,
        wall,
        sample: finished.sample,
        nginx_cpu,
        other_cpu,
    })
}

fn last_json_line(path: &PathBuf) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no report in {}:\n{}", path.display(), tail(&text, 2000)))?;
    Ok(serde_json::from_str(line)?)
}
