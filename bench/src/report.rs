//! Summaries, ratios against the targets, and the printed table.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::clients::{Client, Mode, RunResult};
use crate::fixture::human_bytes;
use crate::goals::Goal;
use crate::measure::Sample;
use crate::pacing::Measured as _;

/// The goals from the issue.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// tug wall ≤ this × skopeo wall (skopeo as users run it).
    pub wall_vs_skopeo: f64,
    /// tug wall ≤ this × raw curl wall.
    pub wall_vs_curl: f64,
    /// tug peak RSS ≤ this many MiB.
    pub rss_mib: f64,
    /// Peak RSS at the largest scanned size ≤ this × peak RSS at the smallest. The default
    /// scan sizes differ 8×, so growing with size would show as ~8×; the slack covers the
    /// run-to-run noise of a few MiB (how far the hashing falls behind the senders).
    pub rss_flat_factor: f64,
}

impl Targets {
    pub const ISSUE: Targets = Targets {
        wall_vs_skopeo: 0.8,
        wall_vs_curl: 1.1,
        rss_mib: 32.0,
        rss_flat_factor: 1.25,
    };
}

/// tug's peak RSS pushing an image of some size.
#[derive(Debug, Clone)]
pub struct ScanPoint {
    pub label: String,
    pub image_bytes: u64,
    pub sample: Sample,
    pub registry_cpu: f64,
    pub other_cpu: f64,
}

/// Everything measured.
#[derive(Debug)]
pub struct Report {
    pub mode: Mode,
    pub image_label: String,
    pub image_bytes: u64,
    pub rounds: u32,
    pub clients: Vec<Client>,
    pub runs: Vec<RunResult>,
    pub scan: Vec<ScanPoint>,
    pub targets: Targets,
    pub tug_args: Vec<String>,
    /// Blobs the curl floor moves at once.
    pub curl_jobs: u32,
}

/// One client's runs, summarised.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub runs: usize,
    pub wall_median: f64,
    pub wall_min: f64,
    pub wall_max: f64,
    pub cpu_median: f64,
    pub user_median: f64,
    pub sys_median: f64,
    pub rss_max_mib: f64,
    pub stored_bytes: u64,
    pub registry_cpu_median: f64,
    pub other_cpu_median: f64,
    pub other_cpu_max: f64,
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

impl Report {
    pub fn stats(&self, client: Client) -> Option<Stats> {
        let runs: Vec<&RunResult> = self.runs.iter().filter(|r| r.client == client).collect();
        if runs.is_empty() {
            return None;
        }
        let collect = |f: fn(&Sample) -> f64| runs.iter().map(|r| f(&r.sample)).collect::<Vec<_>>();
        let walls = collect(|s| s.wall);
        Some(Stats {
            runs: runs.len(),
            wall_median: median(&mut walls.clone()),
            wall_min: walls.iter().copied().fold(f64::INFINITY, f64::min),
            wall_max: walls.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            cpu_median: median(&mut collect(Sample::cpu)),
            user_median: median(&mut collect(|s| s.user)),
            sys_median: median(&mut collect(|s| s.sys)),
            rss_max_mib: runs.iter().map(|r| r.sample.rss_mib()).fold(0.0, f64::max),
            stored_bytes: runs.iter().map(|r| r.stored_bytes).max().unwrap_or(0),
            registry_cpu_median: median(
                &mut runs.iter().map(|r| r.registry_cpu).collect::<Vec<_>>(),
            ),
            other_cpu_median: median(&mut runs.iter().map(|r| r.other_cpu).collect::<Vec<_>>()),
            other_cpu_max: runs.iter().map(|r| r.other_cpu).fold(0.0, f64::max),
        })
    }

    /// (smallest-image RSS, largest-image RSS, largest/smallest) over the scan, in MiB, each
    /// the median of that size's runs.
    fn flatness(&self) -> Option<(f64, f64, f64)> {
        let smallest = self.scan.iter().map(|p| p.image_bytes).min()?;
        let largest = self.scan.iter().map(|p| p.image_bytes).max()?;
        if smallest == largest {
            return None;
        }
        let peak = |size: u64| {
            median(
                &mut self
                    .scan
                    .iter()
                    .filter(|p| p.image_bytes == size)
                    .map(|p| p.sample.rss_mib())
                    .collect::<Vec<_>>(),
            )
        };
        let (lo, hi) = (peak(smallest), peak(largest));
        Some((lo, hi, hi / lo))
    }

    pub fn render(&self, environment: &[String]) -> String {
        let mut out = String::new();
        let t = self.targets;
        let _ = writeln!(out, "\n=== tug {} benchmark ===", self.mode.name());
        for line in environment {
            let _ = writeln!(out, "{line}");
        }
        let setup = match self.mode {
            Mode::Push => {
                "(docker-archive, uncompressed random layers); a fresh TLS docker-registry \
                 with storage on tmpfs per run"
                    .to_owned()
            }
            Mode::Pull => "(uncompressed random layers, pushed beforehand); per run a fresh TLS \
                 docker-registry holding it (storage on tmpfs), pulled into a fresh OCI layout \
                 directory on tmpfs"
                .to_owned(),
            Mode::Copy => "(uncompressed random layers, pushed beforehand); per run a fresh TLS \
                 docker-registry holding it, copied into a second fresh one (storage of both on \
                 tmpfs)"
                .to_owned(),
        };
        let _ = writeln!(
            out,
            "image: {} {setup}; {} rounds, client order rotated each round",
            self.image_label, self.rounds
        );
        if !self.tug_args.is_empty() {
            let _ = writeln!(
                out,
                "extra tug {} args: {}",
                self.mode.name(),
                self.tug_args.join(" ")
            );
        }
        let curl_jobs = format!("{} blobs at once", self.curl_jobs);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<11} {:>4}  {:>8} {:>15}  {:>8} {:>15}  {:>9}  {:>5}  {:>9}  {:>8}  {:>8}",
            "client",
            "runs",
            "wall",
            "(min - max)",
            "CPU",
            "(user + sys)",
            "peak RSS",
            "MiB/s",
            "stored",
            "reg CPU",
            "other"
        );
        for &client in &self.clients {
            let Some(s) = self.stats(client) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{:<11} {:>4}  {:>6.2} s {:>15}  {:>6.2} s {:>15}  {:>5.1} MiB  {:>5.0}  {:>9}  {:>6.2} s  {:>6.2} s",
                client.name(),
                s.runs,
                s.wall_median,
                format!("({:.2} - {:.2})", s.wall_min, s.wall_max),
                s.cpu_median,
                format!("({:.2} + {:.2})", s.user_median, s.sys_median),
                s.rss_max_mib,
                self.image_bytes as f64 / (1024.0 * 1024.0) / s.wall_median,
                human_bytes(s.stored_bytes),
                s.registry_cpu_median,
                s.other_cpu_median,
            );
        }
        for &client in &self.clients {
            let detail = if client == Client::Curl {
                format!("{} ({curl_jobs})", client.describe(self.mode))
            } else {
                client.describe(self.mode).to_owned()
            };
            let _ = writeln!(out, "  {:<11} {detail}", client.name());
        }
        let (stored, registry) = match self.mode {
            Mode::Push => (
                "blob bytes\n  in the registry",
                "the registry's CPU during the push",
            ),
            Mode::Pull => (
                "blob bytes\n  in the output layout",
                "the source registry's CPU during the pull",
            ),
            Mode::Copy => (
                "blob bytes\n  in the destination registry",
                "both registries' CPU during the copy",
            ),
        };
        let _ = writeln!(
            out,
            "  wall, CPU, reg CPU, other: medians over the runs; CPU: user + sys of the client and \
             its children;\n  peak RSS: max over the runs (curl: its largest single process); \
             MiB/s: image / wall; stored: {stored}; reg CPU: {registry};\n  other: CPU used \
             meanwhile by anything else on the machine"
        );
        let disturbed: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.is_disturbed())
            .map(|r| format!("{} ({:.1} s)", r.client.name(), r.other_cpu))
            .collect();
        if !disturbed.is_empty() {
            let _ = writeln!(
                out,
                "  WARNING: other processes used more than a quarter CPU during {} of {} runs: {}; \
                 wall times are disturbed, rerun on a quiet machine",
                disturbed.len(),
                self.runs.len(),
                disturbed.join(", ")
            );
        }

        let Some(tug) = self.stats(Client::Tug) else {
            return out;
        };
        let _ = writeln!(out, "\nratios of medians      wall    CPU   target");
        let verdict = |ok: bool| if ok { "MET" } else { "NOT MET" };
        // The floor is a target for push (DESIGN.md); for pull it is for information.
        let floor_target = (self.mode == Mode::Push).then_some(t.wall_vs_curl);
        for (client, target) in [
            (Client::Skopeo, Some(t.wall_vs_skopeo)),
            (Client::SkopeoRaw, None),
            (Client::Curl, floor_target),
        ] {
            let Some(other) = self.stats(client) else {
                continue;
            };
            let wall = tug.wall_median / other.wall_median;
            let cpu = tug.cpu_median / other.cpu_median;
            let target_text = match target {
                Some(max) => format!("wall <= {max:.2}  {}", verdict(wall <= max)),
                None => "(for information)".to_owned(),
            };
            let name = match client {
                Client::Curl => "curl floor",
                c => c.name(),
            };
            let _ = writeln!(
                out,
                "tug / {:<15} {:>5.2}  {:>5.2}   {}",
                name, wall, cpu, target_text
            );
        }
        let _ = writeln!(
            out,
            "tug peak RSS          {:>5.1} MiB      <= {:.0} MiB  {}",
            tug.rss_max_mib,
            t.rss_mib,
            verdict(tug.rss_max_mib <= t.rss_mib)
        );

        if !self.scan.is_empty() {
            let _ = writeln!(out, "\ntug peak RSS by image size (size scan):");
            if self.mode != Mode::Push {
                let _ = writeln!(out, "  (at {}: the rounds' tug runs)", self.image_label);
            }
            for p in &self.scan {
                let _ = writeln!(
                    out,
                    "  {:<20} {:>5.1} MiB   (wall {:>5.2} s, CPU {:>5.2} s, reg CPU {:>5.2} s, other {:>5.2} s)",
                    p.label,
                    p.sample.rss_mib(),
                    p.sample.wall,
                    p.sample.cpu(),
                    p.registry_cpu,
                    p.other_cpu,
                );
            }
            if let Some((lo, hi, factor)) = self.flatness() {
                let _ = writeln!(
                    out,
                    "  largest / smallest image (medians): {hi:.1} / {lo:.1} MiB = {factor:.2}   \
                     flat (<= {:.2}) {}",
                    t.rss_flat_factor,
                    verdict(factor <= t.rss_flat_factor),
                );
            }
            let scan_max = self
                .scan
                .iter()
                .map(|p| p.sample.rss_mib())
                .fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "  every scan run <= {:.0} MiB (max {scan_max:.1} MiB)   {}",
                t.rss_mib,
                verdict(scan_max <= t.rss_mib)
            );
        }
        out
    }

    /// The issue's goals for this mode, as measured: tug / skopeo, tug / the curl floor (a
    /// target for push, information for pull), peak RSS (rounds and scan).
    pub fn goals(&self) -> Vec<Goal> {
        let t = self.targets;
        let workload = match self.mode {
            Mode::Push => format!("push ({}, random plain)", self.image_label),
            Mode::Pull => format!("pull → OCI layout ({}, random plain)", self.image_label),
            Mode::Copy => format!("copy ({}, random plain)", self.image_label),
        };
        let wall = |c: Client| self.stats(c).map(|s| s.wall_median);
        let tug = wall(Client::Tug);
        let mut goals = vec![Goal::ratio(
            &workload,
            format!(
                "wall ≤ {} × skopeo (and no slower than before: see bench/README)",
                t.wall_vs_skopeo
            ),
            tug,
            wall(Client::Skopeo),
            t.wall_vs_skopeo,
        )];
        match self.mode {
            Mode::Push => goals.push(Goal::ratio(
                &workload,
                format!("wall ≤ {} × curl floor", t.wall_vs_curl),
                tug,
                wall(Client::Curl),
                t.wall_vs_curl,
            )),
            Mode::Pull => goals.push(Goal::info(
                &workload,
                "tug / curl download floor".to_owned(),
                tug,
                wall(Client::Curl),
            )),
            Mode::Copy => {}
        }
        let scan_max = self
            .scan
            .iter()
            .map(|p| p.sample.rss_mib())
            .reduce(f64::max);
        let rounds_max = self.stats(Client::Tug).map(|s| s.rss_max_mib);
        let rss = match (rounds_max, scan_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        goals.push(Goal::rss(&workload, rss));
        goals
    }

    pub fn summary_json(&self) -> Value {
        let per_client: Vec<Value> = self
            .clients
            .iter()
            .filter_map(|&c| {
                self.stats(c).map(|s| {
                    json!({
                        "client": c.name(),
                        "runs": s.runs,
                        "wall_median_s": s.wall_median,
                        "wall_min_s": s.wall_min,
                        "wall_max_s": s.wall_max,
                        "cpu_median_s": s.cpu_median,
                        "rss_max_mib": s.rss_max_mib,
                        "stored_bytes": s.stored_bytes,
                        "registry_cpu_median_s": s.registry_cpu_median,
                        "other_cpu_median_s": s.other_cpu_median,
                        "other_cpu_max_s": s.other_cpu_max,
                    })
                })
            })
            .collect();
        let ratio = |other: Client| -> Value {
            match (self.stats(Client::Tug), self.stats(other)) {
                (Some(t), Some(o)) => json!({
                    "wall": t.wall_median / o.wall_median,
                    "cpu": t.cpu_median / o.cpu_median,
                }),
                _ => Value::Null,
            }
        };
        json!({
            "clients": per_client,
            "tug_vs_skopeo": ratio(Client::Skopeo),
            "tug_vs_skopeo_raw": ratio(Client::SkopeoRaw),
            "tug_vs_curl": ratio(Client::Curl),
            "rss_flatness": self.flatness().map(|(lo, hi, f)| json!({
                "smallest_mib": lo, "largest_mib": hi, "factor": f
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
