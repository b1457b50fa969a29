//! Running one client command under `/usr/bin/time` and reading what it used.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Background CPUs (averaged over a run) above which a run counts as disturbed.
pub const DISTURBED_CPUS: f64 = 0.25;

/// GNU time, which reports the resources of the command and every descendant it waited for.
pub const GNU_TIME: &str = "/usr/bin/time";

/// What one measured run used.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Wall-clock seconds from spawn to exit (measured here, around `/usr/bin/time`).
    pub wall: f64,
    /// User CPU seconds of the command and its waited-for descendants.
    pub user: f64,
    /// System CPU seconds of the command and its waited-for descendants.
    pub sys: f64,
    /// Peak resident set size in KiB: of the command, or of its largest single descendant
    /// (`getrusage(RUSAGE_CHILDREN)` semantics; processes running in parallel are not summed).
    pub max_rss_kib: u64,
}

impl Sample {
    /// User + system CPU seconds.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    /// Peak RSS in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

/// A command that ran to completion (successfully or not).
#[derive(Debug)]
pub struct Finished {
    pub sample: Sample,
    pub success: bool,
    pub status: String,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Finished {
    /// The last `max` bytes of the command's stderr and stdout, for error messages.
    pub fn output_tail(&self, max: usize) -> String {
        let tail = |p: &Path| {
            let text = fs::read_to_string(p).unwrap_or_default();
            let start = text.len().saturating_sub(max);
            let start = (start..text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            text[start..].to_owned()
        };
        format!(
            "--- stderr (tail):\n{}\n--- stdout (tail):\n{}",
            tail(&self.stderr),
            tail(&self.stdout)
        )
    }
}

/// Environment changes for a measured command: variables set, and variables removed from
/// what this program inherited.
#[derive(Debug, Clone, Default)]
pub struct ClientEnv {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// Runs `program args…` under GNU time with stdout/stderr going to files named `<log_stem>.out`
/// / `.err`, and returns what it used.
pub fn measure(program: &Path, args: &[String], log_stem: &Path) -> Result<Finished> {
    measure_env(program, args, &ClientEnv::default(), log_stem)
}

/// [`measure`] with the environment changed as `env` says.
pub fn measure_env(
    program: &Path,
    args: &[String],
    env: &ClientEnv,
    log_stem: &Path,
) -> Result<Finished> {
    let time_file = log_stem.with_extension("time");
    let stdout = log_stem.with_extension("out");
    let stderr = log_stem.with_extension("err");
    let _ = fs::remove_file(&time_file);
    let mut cmd = Command::new(GNU_TIME);
    cmd.arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&time_file)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).context("create stdout log")?)
        .stderr(File::create(&stderr).context("create stderr log")?);
    for name in &env.remove {
        cmd.env_remove(name);
    }
    cmd.envs(env.set.iter().map(|(k, v)| (k, v)));
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("run {GNU_TIME} (install the `time` package)"))?;
    let wall = start.elapsed().as_secs_f64();
    let text =
        fs::read_to_string(&time_file).with_context(|| format!("read {}", time_file.display()))?;
    let sample = parse_time_output(&text, wall)
        .with_context(|| format!("parse GNU time output {text:?}"))?;
    Ok(Finished {
        sample,
        success: status.success(),
        status: status.to_string(),
        stdout,
        stderr,
    })
}

/// Parses the last line of GNU time's `-f '%e %U %S %M'` output (an earlier line may say
/// "Command exited with non-zero status N").
fn parse_time_output(text: &str, wall: f64) -> Result<Sample> {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("empty")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != 4 {
        bail!("expected 4 fields, got {line:?}");
    }
    Ok(Sample {
        wall,
        user: fields[1].parse()?,
        sys: fields[2].parse()?,
        max_rss_kib: fields[3].parse()?,
    })
}

/// Linux reports CPU times in /proc in USER_HZ ticks, 100 per second on every mainstream
/// architecture.
const USER_HZ: f64 = 100.0;

/// CPU seconds all CPUs spent busy (not idle nor waiting for I/O) since boot, from /proc/stat.
pub fn system_busy_seconds() -> f64 {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return f64::NAN;
    };
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // counted in user.
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if v.len() < 8 {
        return f64::NAN;
    }
    (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / USER_HZ
}

/// User + system CPU seconds process `pid` has used so far (its own threads, not children).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name (which may hold spaces): state is field 3,
    // utime and stime are fields 14 and 15.
    let Some((_, rest)) = text.rsplit_once(')') else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    match (
        f.get(11).and_then(|v| v.parse::<f64>().ok()),
        f.get(12).and_then(|v| v.parse::<f64>().ok()),
    ) {
        (Some(u), Some(s)) => (u + s) / USER_HZ,
        _ => f64::NAN,
    }
}

/// Waits until the machine has been (almost) idle for a second — less than `max_busy` CPUs
/// busy — or `max_wait` has passed. Returns whether it got quiet.
pub fn wait_quiet(max_busy: f64, max_wait: std::time::Duration) -> bool {
    let start = Instant::now();
    let mut told = false;
    loop {
        let before = system_busy_seconds();
        std::thread::sleep(std::time::Duration::from_secs(1));
        let busy = system_busy_seconds() - before;
        if busy.is_nan() || busy < max_busy {
            return true;
        }
        if start.elapsed() >= max_wait {
            eprintln!("  (machine still busy: {busy:.2} CPUs; running anyway)");
            return false;
        }
        if !told {
            eprintln!("  (waiting for other processes to quiet down: {busy:.2} CPUs busy)");
            told = true;
        }
    }
}

/// The 1-minute load average, to show whether something else was competing for the CPUs.
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_output_with_a_status_line() {
        let s = parse_time_output(
            "Command exited with non-zero status 1\n1.50 0.20 0.30 4096\n",
            1.6,
        )
        .unwrap();
        assert_eq!(s.max_rss_kib, 4096);
        assert!((s.cpu() - 0.5).abs() < 1e-9);
        assert!((s.wall - 1.6).abs() < 1e-9);
    }
}
