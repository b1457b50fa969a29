//! One measured run of the real-content workloads, the medians over a variant's runs, and
//! their table (Markdown) with each variant's wall and CPU against a reference variant.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::fixture::human_bytes;
use crate::measure::Sample;
use crate::pacing::Measured;
use crate::report::median;

/// One measured run.
#[derive(Debug, Clone)]
pub struct Run {
    pub round: u32,
    /// The variant's name, e.g. `tug push --compress gzip`.
    pub who: String,
    pub sample: Sample,
    /// CPU seconds the registry used during the run.
    pub registry_cpu: f64,
    /// CPU seconds everything else on the machine used during the run.
    pub other_cpu: f64,
    /// What the run left: blob bytes in the registry, or bytes of the output.
    pub bytes: u64,
}

impl Measured for Run {
    fn wall(&self) -> f64 {
        self.sample.wall
    }

    fn other_cpu(&self) -> f64 {
        self.other_cpu
    }
}

/// A variant's runs, summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub runs: usize,
    pub wall_median: f64,
    pub wall_min: f64,
    pub wall_max: f64,
    pub cpu_median: f64,
    /// The largest peak RSS of any run, MiB.
    pub rss_max_mib: f64,
    pub registry_cpu_median: f64,
    pub other_cpu_median: f64,
    /// The largest `Run::bytes`.
    pub bytes: u64,
}

/// The summary of `who`'s runs (`None` without runs).
pub fn stats(runs: &[Run], who: &str) -> Option<Stats> {
    let mine: Vec<&Run> = runs.iter().filter(|r| r.who == who).collect();
    if mine.is_empty() {
        return None;
    }
    let values = |f: &dyn Fn(&Run) -> f64| mine.iter().map(|r| f(r)).collect::<Vec<f64>>();
    let walls = values(&|r| r.sample.wall);
    Some(Stats {
        runs: mine.len(),
        wall_median: median(&mut walls.clone()),
        wall_min: walls.iter().copied().fold(f64::INFINITY, f64::min),
        wall_max: walls.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        cpu_median: median(&mut values(&|r| r.sample.cpu())),
        rss_max_mib: values(&|r| r.sample.rss_mib())
            .into_iter()
            .fold(0.0, f64::max),
        registry_cpu_median: median(&mut values(&|r| r.registry_cpu)),
        other_cpu_median: median(&mut values(&|r| r.other_cpu)),
        bytes: mine.iter().map(|r| r.bytes).max().unwrap_or(0),
    })
}

/// The table of `order`'s variants: medians, peak RSS, bytes, and wall and CPU divided by
/// `reference`'s (when it ran). `bytes_label` names the bytes column.
pub fn table(runs: &[Run], order: &[String], reference: &str, bytes_label: &str) -> String {
    let mut out = String::new();
    let base = stats(runs, reference);
    let _ = writeln!(
        out,
        "| client | wall (median) | min–max | CPU (median) | peak RSS (max) | reg CPU | other \
         | {bytes_label} | wall / {reference} | CPU / {reference} |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for who in order {
        let Some(s) = stats(runs, who) else {
            continue;
        };
        let ratio = |a: f64, b: Option<f64>| match b {
            Some(b) if b > 0.0 => format!("{:.2}", a / b),
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {who} | {:.2} s | {:.2}–{:.2} s | {:.2} s | {:.1} MiB | {:.2} s | {:.2} s | {} | {} \
             | {} |",
            s.wall_median,
            s.wall_min,
            s.wall_max,
            s.cpu_median,
            s.rss_max_mib,
            s.registry_cpu_median,
            s.other_cpu_median,
            human_bytes(s.bytes),
            ratio(s.wall_median, base.map(|b| b.wall_median)),
            ratio(s.cpu_median, base.map(|b| b.cpu_median)),
        );
    }
    let disturbed: Vec<String> = runs
        .iter()
        .filter(|r| r.is_disturbed())
        .map(|r| format!("{} round {} ({:.1} s)", r.who, r.round, r.other_cpu))
        .collect();
    if !disturbed.is_empty() {
        let _ = writeln!(
            out,
            "\nWARNING: other processes used more than a quarter CPU during {} of {} runs: {}; \
             wall times are disturbed, rerun on a quiet machine",
            disturbed.len(),
            runs.len(),
            disturbed.join(", ")
        );
    }
    out
}

/// The runs and their summaries as JSON.
pub fn to_json(runs: &[Run], order: &[String]) -> Value {
    json!({
        "runs": runs.iter().map(|r| json!({
            "round": r.round,
            "client": r.who,
            "wall_s": r.sample.wall,
            "user_s": r.sample.user,
            "sys_s": r.sample.sys,
            "max_rss_kib": r.sample.max_rss_kib,
            "registry_cpu_s": r.registry_cpu,
            "other_cpu_s": r.other_cpu,
            "bytes": r.bytes,
        })).collect::<Vec<_>>(),
        "summary": order.iter().filter_map(|who| stats(runs, who).map(|s| json!({
            "client": who,
            "runs": s.runs,
            "wall_median_s": s.wall_median,
            "wall_min_s": s.wall_min,
            "wall_max_s": s.wall_max,
            "cpu_median_s": s.cpu_median,
            "rss_max_mib": s.rss_max_mib,
            "registry_cpu_median_s": s.registry_cpu_median,
            "other_cpu_median_s": s.other_cpu_median,
            "bytes": s.bytes,
        }))).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(who: &str, wall: f64, cpu: f64, rss_kib: u64) -> Run {
        Run {
            round: 1,
            who: who.to_owned(),
            sample: Sample {
                wall,
                user: cpu,
                sys: 0.0,
                max_rss_kib: rss_kib,
            },
            registry_cpu: 0.5,
            other_cpu: 0.0,
            bytes: 100,
        }
    }

    #[test]
    fn stats_take_medians_and_the_largest_rss() {
        let runs = [
            run("a", 3.0, 1.0, 2048),
            run("b", 9.0, 9.0, 1024),
            run("a", 1.0, 2.0, 4096),
            run("a", 2.0, 4.0, 1024),
        ];
        let a = stats(&runs, "a").unwrap();
        assert_eq!(a.runs, 3);
        assert_eq!((a.wall_median, a.wall_min, a.wall_max), (2.0, 1.0, 3.0));
        assert_eq!(a.cpu_median, 2.0);
        assert_eq!(a.rss_max_mib, 4.0);
        assert!(stats(&runs, "c").is_none());
    }

    #[test]
    fn the_table_divides_by_the_reference() {
        let runs = [run("tug", 1.0, 2.0, 1024), run("skopeo", 4.0, 4.0, 1024)];
        let order = ["tug".to_owned(), "skopeo".to_owned()];
        let t = table(&runs, &order, "skopeo", "stored");
        let tug_row = t.lines().find(|l| l.starts_with("| tug")).unwrap();
        assert!(tug_row.ends_with("| 0.25 | 0.50 |"), "{tug_row}");
        // Without the reference the ratios are blank.
        let t = table(&runs[..1], &order[..1], "skopeo", "stored");
        assert!(t.contains("| — | — |"), "{t}");
    }
}
