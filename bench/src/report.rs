//! Summaries, ratios against the targets, and the printed table.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::clients::{Client, RunResult};
use crate::fixture::human_bytes;
use crate::measure::Sample;

/// The goals from the issue.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// tug wall ≤ this × skopeo wall (skopeo as users run it).
    pub wall_vs_skopeo: f64,
    /// tug wall ≤ this × raw curl wall.
    pub wall_vs_curl: f64,
    /// tug peak RSS ≤ this many MiB.
    pub rss_mib: f64,
    /// Peak RSS at the largest scanned size ≤ this × peak RSS at the smallest.
    pub rss_flat_factor: f64,
}

impl Targets {
    pub const ISSUE: Targets = Targets {
        wall_vs_skopeo: 0.8,
        wall_vs_curl: 1.1,
        rss_mib: 32.0,
        rss_flat_factor: 1.10,
    };
}

/// tug's peak RSS pushing an image of some size.
#[derive(Debug, Clone)]
pub struct ScanPoint {
    pub label: String,
    pub image_bytes: u64,
    pub sample: Sample,
}

/// Everything measured.
#[derive(Debug)]
pub struct Report {
    pub image_label: String,
    pub image_bytes: u64,
    pub rounds: u32,
    pub clients: Vec<Client>,
    pub runs: Vec<RunResult>,
    pub scan: Vec<ScanPoint>,
    pub targets: Targets,
    pub tug_args: Vec<String>,
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
        })
    }

    /// (smallest-image RSS, largest-image RSS, largest/smallest) over the scan, in MiB.
    fn flatness(&self) -> Option<(f64, f64, f64)> {
        let smallest = self.scan.iter().map(|p| p.image_bytes).min()?;
        let largest = self.scan.iter().map(|p| p.image_bytes).max()?;
        if smallest == largest {
            return None;
        }
        let peak = |size: u64| {
            self.scan
                .iter()
                .filter(|p| p.image_bytes == size)
                .map(|p| p.sample.rss_mib())
                .fold(0.0, f64::max)
        };
        let (lo, hi) = (peak(smallest), peak(largest));
        Some((lo, hi, hi / lo))
    }

    pub fn render(&self, environment: &[String]) -> String {
        let mut out = String::new();
        let t = self.targets;
        let _ = writeln!(out, "\n=== tug push benchmark ===");
        for line in environment {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "image: {} (docker-archive, uncompressed random layers); fresh TLS docker-registry \
             on tmpfs per run; {} rounds, client order rotated each round",
            self.image_label, self.rounds
        );
        if !self.tug_args.is_empty() {
            let _ = writeln!(out, "extra tug push args: {}", self.tug_args.join(" "));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<11} {:>4}  {:>8} {:>17}  {:>8} {:>15}  {:>9}  {:>8}  {:>9}",
            "client",
            "runs",
            "wall med",
            "(min – max)",
            "CPU med",
            "(user + sys)",
            "peak RSS",
            "MiB/s",
            "stored"
        );
        for &client in &self.clients {
            let Some(s) = self.stats(client) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{:<11} {:>4}  {:>6.2} s {:>17}  {:>6.2} s {:>15}  {:>5.1} MiB  {:>8.0}  {:>9}",
                client.name(),
                s.runs,
                s.wall_median,
                format!("({:.2} – {:.2})", s.wall_min, s.wall_max),
                s.cpu_median,
                format!("({:.2} + {:.2})", s.user_median, s.sys_median),
                s.rss_max_mib,
                self.image_bytes as f64 / (1024.0 * 1024.0) / s.wall_median,
                human_bytes(s.stored_bytes),
            );
        }
        for &client in &self.clients {
            let _ = writeln!(out, "  {:<11} {}", client.name(), client.describe());
        }
        let _ = writeln!(
            out,
            "  wall and CPU: medians; CPU = user + sys of the client and its children; peak RSS: \
             max over runs (curl: the largest single process); MiB/s = image / median wall; \
             stored = blob bytes in the registry"
        );

        let Some(tug) = self.stats(Client::Tug) else {
            return out;
        };
        let _ = writeln!(out, "\nratios (medians)      wall    CPU   target");
        let verdict = |ok: bool| if ok { "MET" } else { "NOT MET" };
        for (client, target) in [
            (Client::Skopeo, Some(t.wall_vs_skopeo)),
            (Client::SkopeoRaw, None),
            (Client::Curl, Some(t.wall_vs_curl)),
        ] {
            let Some(other) = self.stats(client) else {
                continue;
            };
            let wall = tug.wall_median / other.wall_median;
            let cpu = tug.cpu_median / other.cpu_median;
            let target_text = match target {
                Some(max) => format!("wall ≤ {max:.2}  {}", verdict(wall <= max)),
                None => "(information)".to_owned(),
            };
            let _ = writeln!(
                out,
                "tug / {:<14} {:>5.2}  {:>5.2}   {}",
                client.name(),
                wall,
                cpu,
                target_text
            );
        }
        let _ = writeln!(
            out,
            "tug peak RSS          {:.1} MiB       ≤ {:.0} MiB  {}",
            tug.rss_max_mib,
            t.rss_mib,
            verdict(tug.rss_max_mib <= t.rss_mib)
        );

        if !self.scan.is_empty() {
            let _ = writeln!(out, "\ntug peak RSS by image size (size scan):");
            for p in &self.scan {
                let _ = writeln!(
                    out,
                    "  {:<22} {:>6.1} MiB   (wall {:.2} s, CPU {:.2} s)",
                    p.label,
                    p.sample.rss_mib(),
                    p.sample.wall,
                    p.sample.cpu()
                );
            }
            if let Some((lo, hi, factor)) = self.flatness() {
                let _ = writeln!(
                    out,
                    "  largest / smallest image: {hi:.1} / {lo:.1} MiB = {factor:.2}   \
                     flat (≤ {:.2}) {}; all ≤ {:.0} MiB {}",
                    t.rss_flat_factor,
                    verdict(factor <= t.rss_flat_factor),
                    t.rss_mib,
                    verdict(self.scan.iter().all(|p| p.sample.rss_mib() <= t.rss_mib))
                );
            }
        }
        out
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
