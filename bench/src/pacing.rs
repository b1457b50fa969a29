//! Running measured runs on a shared machine: wait for a quiet second before each run, repeat
//! a run other processes disturbed, keep the least disturbed one, and spend at most a fixed
//! budget (`--patience`) on waiting and repeating over the whole invocation.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::measure::{wait_quiet, DISTURBED_CPUS};

/// A measured run's wall time and the CPU other processes used meanwhile.
pub trait Measured {
    fn wall(&self) -> f64;
    fn other_cpu(&self) -> f64;

    /// Whether other processes used more than a quarter CPU during the run.
    fn is_disturbed(&self) -> bool {
        self.other_cpu() > DISTURBED_CPUS * self.wall()
    }
}

/// The waiting and repeating settings, and what is left of the budget.
#[derive(Debug)]
pub struct Pacing {
    /// Seconds to wait at most for a quiet machine before a run (0: never wait).
    pub wait_quiet: u64,
    /// Times a disturbed run is repeated.
    pub retry_disturbed: u32,
    /// What is left of the budget for waiting and repeating.
    pub patience: Duration,
}

impl Pacing {
    /// One run of `run` (given a suffix for its id: "" the first time, "-retryN" when
    /// repeated), after waiting for a quiet machine, repeated while disturbed. `name` is
    /// what the log lines call it.
    pub fn run<R: Measured>(
        &mut self,
        name: &str,
        mut run: impl FnMut(&str) -> Result<R>,
    ) -> Result<R> {
        let mut best: Option<R> = None;
        for attempt in 0..=self.retry_disturbed {
            if attempt > 0 && self.patience.is_zero() {
                eprintln!("  (out of patience (--patience): keeping the disturbed run)");
                break;
            }
            let start = Instant::now();
            if self.wait_quiet > 0 && !self.patience.is_zero() {
                let max_wait = Duration::from_secs(self.wait_quiet).min(self.patience);
                wait_quiet(DISTURBED_CPUS, max_wait);
            }
            let suffix = match attempt {
                0 => String::new(),
                n => format!("-retry{n}"),
            };
            let result = run(&suffix)?;
            // The wait counts against the patience, and so do repeated runs.
            let spent = if attempt == 0 {
                start
                    .elapsed()
                    .saturating_sub(Duration::from_secs_f64(result.wall()))
            } else {
                start.elapsed()
            };
            self.patience = self.patience.saturating_sub(spent);
            let disturbed = result.is_disturbed();
            if disturbed {
                eprintln!(
                    "  ({name}{suffix} disturbed: other processes used {:.2} s CPU in {:.2} s{})",
                    result.other_cpu(),
                    result.wall(),
                    if attempt < self.retry_disturbed && !self.patience.is_zero() {
                        "; again"
                    } else {
                        ""
                    }
                );
            }
            let better = best
                .as_ref()
                .is_none_or(|b| result.other_cpu() / result.wall() < b.other_cpu() / b.wall());
            if better {
                best = Some(result);
            }
            if !disturbed {
                break;
            }
        }
        best.context("no run")
    }
}
