//! `--mode jobs`: fixed `--jobs` against adaptive concurrency over a slow link. The same
//! multi-layer image is pushed through the test harness's fault proxy, shaped to a bandwidth
//! shared by all connections and an added latency per request, into a fresh plain-HTTP
//! `docker-registry` on tmpfs, with `tug push --fixed-jobs -j N` for each N and with the
//! default adaptive concurrency (`-j MAX`), several rounds in a rotated order. Reports the
//! median wall time of each, the ratio to the best fixed setting, and the adaptive
//! controller's decisions (from `--progress json`).

use std::fmt::Write as _;
use std::fs;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tug_testkit::{FaultProxy, Registry, RegistryConfig};

use crate::clients::{pushed_layers, tail, Setup};
use crate::fixture::{human_bytes, BenchImage};
use crate::measure::{measure, wait_quiet, Sample};
use crate::report::median;

/// One way of running `tug push`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `--fixed-jobs -j N`.
    Fixed(u16),
    /// The default: adaptive, `-j MAX`.
    Adaptive(u16),
}

impl Variant {
    /// `1`, `4`, `8` (fixed) or `adaptive` (with `max`) or `adaptive:N`.
    pub fn parse(s: &str, max: u16) -> Result<Variant> {
        let s = s.trim();
        let number = |n: &str| -> Result<u16> {
            match n.parse::<u16>() {
                Ok(n) if (1..=64).contains(&n) => Ok(n),
                _ => bail!("bad --jobs-variants entry {s:?} (1 to 64, or adaptive[:N])"),
            }
        };
        match s.strip_prefix("adaptive") {
            Some("") => Ok(Variant::Adaptive(max)),
            Some(rest) => Ok(Variant::Adaptive(number(
                rest.strip_prefix(':').unwrap_or("x"),
            )?)),
            None => Ok(Variant::Fixed(number(s)?)),
        }
    }

    pub fn name(self) -> String {
        match self {
            Variant::Fixed(n) => format!("--fixed-jobs -j {n}"),
            Variant::Adaptive(n) => format!("adaptive -j {n}"),
        }
    }

    fn args(self) -> Vec<String> {
        match self {
            Variant::Fixed(n) => vec!["--fixed-jobs".into(), "-j".into(), n.to_string()],
            Variant::Adaptive(n) => vec!["-j".into(), n.to_string()],
        }
    }
}

/// The slow link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub bytes_per_sec: u64,
    pub latency: Duration,
}

impl Link {
    pub fn describe(&self) -> String {
        format!(
            "{:.0} MB/s shared by all connections, +{} ms per request",
            self.bytes_per_sec as f64 / 1e6,
            self.latency.as_millis()
        )
    }
}

/// One measured push.
#[derive(Debug, Clone)]
pub struct JobsRun {
    pub round: u32,
    pub variant: Variant,
    pub sample: Sample,
    /// The controller's decisions: (from, to, reason).
    pub changes: Vec<(u64, u64, String)>,
}

/// Pushes `image` with every variant, `rounds` times, each through a fresh shaped proxy in
/// front of a fresh registry.
pub fn run_jobs(
    setup: &Setup,
    image: &BenchImage,
    link: Link,
    variants: &[Variant],
    rounds: u32,
    wait_quiet_secs: u64,
) -> Result<Vec<JobsRun>> {
    let mut runs = Vec::new();
    for round in 1..=rounds {
        let mut order = variants.to_vec();
        order.rotate_left((round as usize - 1) % variants.len().max(1));
        for variant in order {
            if wait_quiet_secs > 0 {
                wait_quiet(
                    crate::measure::DISTURBED_CPUS,
                    Duration::from_secs(wait_quiet_secs),
                );
            }
            let run = run_once(setup, image, link, variant, round)?;
            eprintln!(
                "jobs round {round}  {:<22}  wall {:>6.2} s  cpu {:>5.2} s  decisions {}",
                variant.name(),
                run.sample.wall,
                run.sample.cpu(),
                path_of(&run.changes)
            );
            runs.push(run);
        }
    }
    Ok(runs)
}

fn run_once(
    setup: &Setup,
    image: &BenchImage,
    link: Link,
    variant: Variant,
    round: u32,
) -> Result<JobsRun> {
    let registry =
        Registry::start(RegistryConfig::plain().with_temp_parent(&setup.registry_parent));
    let proxy = FaultProxy::start(&registry);
    proxy.shape(link.bytes_per_sec, link.latency);
    let tag = match variant {
        Variant::Fixed(n) => format!("fixed{n}"),
        Variant::Adaptive(n) => format!("adaptive{n}"),
    };
    let repo = format!("bench/jobs-r{round}-{tag}");
    let mut args = vec![
        "push".to_owned(),
        "--plain-http".to_owned(),
        "--progress".to_owned(),
        "json".to_owned(),
    ];
    args.extend(variant.args());
    args.push(image.archive.display().to_string());
    args.push(proxy.image(&format!("{repo}:latest")));
    let log_stem = setup.logs.join(format!("jobs-r{round}-{tag}"));
    let finished = measure(&setup.tug, &args, &log_stem)?;
    if !finished.success {
        bail!(
            "tug push ({}) failed ({}):\n{}\n--- registry log (tail):\n{}",
            variant.name(),
            finished.status,
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    // The registry (not the proxy) has the image, with exactly its layers.
    let layers = pushed_layers(&registry, &format!("{repo}:latest"))?;
    if layers != image.layer_digests {
        bail!("pushed layers differ: {layers:?}");
    }
    if proxy.shaped_bytes() < image.total_bytes {
        bail!(
            "only {} of {} bytes went through the shaped link",
            proxy.shaped_bytes(),
            image.total_bytes
        );
    }
    let stdout = fs::read_to_string(&finished.stdout).unwrap_or_default();
    Ok(JobsRun {
        round,
        variant,
        sample: finished.sample,
        changes: decisions(&stdout),
    })
}

/// The `concurrency` events of `--progress json` output.
fn decisions(stdout: &str) -> Vec<(u64, u64, String)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "concurrency")
        .filter_map(|v| {
            Some((
                v["from"].as_u64()?,
                v["to"].as_u64()?,
                v["reason"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// `8→7→4→3→4` (or `—` without decisions).
fn path_of(changes: &[(u64, u64, String)]) -> String {
    let Some((first, _, _)) = changes.first() else {
        return "—".to_owned();
    };
    let mut s = first.to_string();
    for (_, to, _) in changes {
        let _ = write!(s, "→{to}");
    }
    s
}

/// Median wall of each variant, in the order given.
fn medians(runs: &[JobsRun], variants: &[Variant]) -> Vec<(Variant, f64, f64, f64)> {
    variants
        .iter()
        .filter_map(|&v| {
            let mut walls: Vec<f64> = runs
                .iter()
                .filter(|r| r.variant == v)
                .map(|r| r.sample.wall)
                .collect();
            if walls.is_empty() {
                return None;
            }
            let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
            let max = walls.iter().copied().fold(0.0, f64::max);
            Some((v, median(&mut walls), min, max))
        })
        .collect()
}

/// The result table (Markdown), with the link, the image and the floor the link sets.
pub fn render(
    runs: &[JobsRun],
    variants: &[Variant],
    image: &BenchImage,
    link: Link,
    rounds: u32,
    environment: &[String],
) -> String {
    let mut out = String::new();
    let floor = image.total_bytes as f64 / link.bytes_per_sec as f64;
    let _ = writeln!(
        out,
        "\n## tug push: fixed --jobs vs adaptive over a slow link\n\n{} ({} per layer), \
         through the fault proxy shaped to {}, into a fresh plain docker-registry on tmpfs; \
         medians of {rounds} rounds. The link alone needs {floor:.2} s.\n",
        image.label(),
        human_bytes(image.total_bytes / image.layers.max(1) as u64),
        link.describe(),
    );
    for line in environment {
        let _ = writeln!(out, "    {line}");
    }
    let stats = medians(runs, variants);
    let best_fixed = stats
        .iter()
        .filter(|(v, ..)| matches!(v, Variant::Fixed(_)))
        .map(|(_, m, ..)| *m)
        .fold(f64::INFINITY, f64::min);
    let _ = writeln!(
        out,
        "\n| tug push | wall (median) | min–max | vs best fixed | link use | decisions (adaptive) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (v, m, min, max) in &stats {
        let decisions = match v {
            Variant::Fixed(_) => String::new(),
            Variant::Adaptive(_) => runs
                .iter()
                .filter(|r| r.variant == *v)
                .map(|r| path_of(&r.changes))
                .collect::<Vec<_>>()
                .join("; "),
        };
        let _ = writeln!(
            out,
            "| {} | {m:.2} s | {min:.2}–{max:.2} s | {:.2} | {:.0} % | {decisions} |",
            v.name(),
            m / best_fixed,
            100.0 * floor / m,
        );
    }
    out
}

/// The runs as JSON (for `--json`).
pub fn to_json(runs: &[JobsRun], variants: &[Variant], link: Link) -> Value {
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
            "decisions": r.changes.iter().map(|(f, t, why)| json!({"from": f, "to": t, "reason": why})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "medians": medians(runs, variants).iter().map(|(v, m, min, max)| json!({
            "variant": v.name(), "wall_median_s": m, "wall_min_s": min, "wall_max_s": max,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse() {
        assert_eq!(Variant::parse("4", 8).unwrap(), Variant::Fixed(4));
        assert_eq!(Variant::parse("adaptive", 8).unwrap(), Variant::Adaptive(8));
        assert_eq!(
            Variant::parse(" adaptive:16", 8).unwrap(),
            Variant::Adaptive(16)
        );
        assert!(Variant::parse("0", 8).is_err());
        assert!(Variant::parse("adaptive16", 8).is_err());
        assert!(Variant::parse("many", 8).is_err());
        assert_eq!(Variant::Fixed(4).args(), ["--fixed-jobs", "-j", "4"]);
    }

    #[test]
    fn decisions_are_read_from_json_lines() {
        let out = "{\"event\":\"progress\"}\nnot json\n\
                   {\"event\":\"concurrency\",\"from\":8,\"to\":7,\"reason\":\"probe_down\"}\n\
                   {\"event\":\"concurrency\",\"from\":7,\"to\":8,\"reason\":\"no_gain\"}\n";
        let d = decisions(out);
        assert_eq!(d.len(), 2);
        assert_eq!(path_of(&d), "8→7→8");
        assert_eq!(path_of(&[]), "—");
    }
}
