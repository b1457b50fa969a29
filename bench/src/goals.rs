//! The goals of issue 13, each checked against what this invocation measured, printed as one
//! table at the end: which workload, what the goal is, the measured figures, met or not.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// Peak RSS every tug run must stay under, MiB.
pub const RSS_MIB: f64 = 32.0;
/// pull → `docker save` tar: tug wall ≤ this × skopeo's.
pub const PULL_TAR_VS_SKOPEO: f64 = 0.8;
/// `push --compress gzip`: tug wall ≤ this × skopeo's (which gzips).
pub const GZIP_VS_SKOPEO: f64 = 0.8;
/// `push --compress gzip`: tug CPU ≤ this × skopeo's.
pub const GZIP_CPU_VS_SKOPEO: f64 = 1.0;
/// `push --compress zstd`: tug wall ≤ this × skopeo's gzip push.
pub const ZSTD_VS_SKOPEO: f64 = 0.5;

/// One goal as measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// The workload, e.g. `push real files (700 MiB / 4 layers)`.
    pub workload: String,
    /// The goal, e.g. `wall ≤ 0.8 × skopeo`.
    pub goal: String,
    /// What was measured, e.g. `0.62 (3.10 s / 5.00 s)`.
    pub measured: String,
    /// Met, not met, or not measured (a client did not run).
    pub met: Option<bool>,
}

impl Goal {
    /// `a / b ≤ max`, shown as the ratio and both values (seconds).
    pub fn ratio(workload: &str, goal: String, a: Option<f64>, b: Option<f64>, max: f64) -> Goal {
        let (measured, met) = match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => {
                let r = a / b;
                (format!("{r:.2} ({a:.2} s / {b:.2} s)"), Some(r <= max))
            }
            _ => ("not measured".to_owned(), None),
        };
        Goal {
            workload: workload.to_owned(),
            goal,
            measured,
            met,
        }
    }

    /// A ratio shown for information: no verdict.
    pub fn info(workload: &str, goal: String, a: Option<f64>, b: Option<f64>) -> Goal {
        let mut g = Goal::ratio(workload, goal, a, b, f64::INFINITY);
        g.met = None;
        g
    }

    /// The largest peak RSS of tug's runs ≤ [`RSS_MIB`].
    pub fn rss(workload: &str, max_mib: Option<f64>) -> Goal {
        let (measured, met) = match max_mib {
            Some(m) => (format!("{m:.1} MiB"), Some(m <= RSS_MIB)),
            None => ("not measured".to_owned(), None),
        };
        Goal {
            workload: workload.to_owned(),
            goal: format!("tug peak RSS ≤ {RSS_MIB:.0} MiB"),
            measured,
            met,
        }
    }

    fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "MET",
            Some(false) => "NOT MET",
            None if self.measured == "not measured" => "—",
            None => "(information)",
        }
    }
}

/// The summary table (Markdown).
pub fn render(goals: &[Goal]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Issue 13 goals\n\nMedians of this invocation's rounds; peak RSS the largest of \
         any tug run of the workload.\n"
    );
    let _ = writeln!(out, "| workload | goal | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    for g in goals {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            g.workload,
            g.goal,
            g.measured,
            g.verdict()
        );
    }
    let met = goals.iter().filter(|g| g.met == Some(true)).count();
    let judged = goals.iter().filter(|g| g.met.is_some()).count();
    let _ = writeln!(out, "\n{met} of {judged} goals met.");
    out
}

/// The goals as JSON.
pub fn to_json(goals: &[Goal]) -> Value {
    json!(goals
        .iter()
        .map(|g| json!({
            "workload": g.workload,
            "goal": g.goal,
            "measured": g.measured,
            "met": g.met,
        }))
        .collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_rss_and_missing_clients() {
        let g = Goal::ratio("w", "wall ≤ 0.8 × skopeo".into(), Some(2.0), Some(4.0), 0.8);
        assert_eq!(g.met, Some(true));
        assert_eq!(g.measured, "0.50 (2.00 s / 4.00 s)");
        let g = Goal::ratio("w", "x".into(), Some(4.0), Some(4.0), 0.8);
        assert_eq!(g.met, Some(false));
        let g = Goal::ratio("w", "x".into(), None, Some(4.0), 0.8);
        assert_eq!((g.met, g.verdict()), (None, "—"));
        assert_eq!(
            Goal::info("w", "x".into(), Some(1.0), Some(2.0)).verdict(),
            "(information)"
        );
        assert_eq!(Goal::rss("w", Some(40.0)).met, Some(false));
        assert_eq!(Goal::rss("w", Some(12.5)).measured, "12.5 MiB");
        let table = render(&[Goal::rss("w", Some(12.5)), Goal::rss("v", None)]);
        assert!(
            table.contains("| w | tug peak RSS ≤ 32 MiB | 12.5 MiB | MET |"),
            "{table}"
        );
        assert!(table.contains("1 of 1 goals met."), "{table}");
    }
}
