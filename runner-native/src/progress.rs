//! Shows a push's events: bars on a terminal (indicatif), plain lines otherwise, or one
//! JSON object per event for machines (`--progress json`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use tug_core::progress::Progress;
use tug_core::push::Event;

/// The progress display chosen with `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Bars.
    Tty,
    /// Plain lines.
    Plain,
    /// One JSON object per line on stdout.
    Json,
    /// Nothing but the result.
    None,
}

/// Renders events; `labels[i]` names plan blob `i` ("config", "layer 2/3").
pub struct Display {
    mode: ProgressMode,
    labels: Vec<String>,
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    bars: HashMap<usize, ProgressBar>,
    last_plain: Option<std::time::Instant>,
}

impl Display {
    pub fn new(mode: ProgressMode, labels: Vec<String>) -> Display {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let multi = (mode == ProgressMode::Tty)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)));
        Display {
            mode,
            labels,
            multi,
            total: None,
            bars: HashMap::new(),
            last_plain: None,
        }
    }

    fn label(&self, blob: usize) -> &str {
        self.labels.get(blob).map_or("blob", String::as_str)
    }

    /// Shows one event.
    pub fn event(&mut self, e: &Event) {
        match self.mode {
            ProgressMode::Json => json_line(e),
            ProgressMode::Plain => self.plain(e),
            ProgressMode::Tty => self.tty(e),
            ProgressMode::Auto | ProgressMode::None => {}
        }
    }

    /// Clears bars before the final message.
    pub fn finish(&mut self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
        if let Some(total) = &self.total {
            total.finish_and_clear();
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }

    fn plain(&mut self, e: &Event) {
        if let Event::Progress(p) = e {
            let due = self
                .last_plain
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
            if due && p.done_bytes < p.total_bytes && p.transferred_bytes > 0 {
                self.last_plain = Some(std::time::Instant::now());
                eprintln!("{}", summary(p));
            }
            return;
        }
        if let Some(line) = self.line(e) {
            eprintln!("{line}");
        }
    }

    /// The one-line description of an event, for events shown as lines.
    fn line(&self, e: &Event) -> Option<String> {
        let line = match e {
            Event::PlainHttpFallback { host } => {
                format!("{host} speaks plain HTTP; using http://")
            }
            Event::BlobSkipped { blob, digest, size } => format!(
                "{} {} exists ({})",
                self.label(*blob),
                digest.short(),
                bytes(*size)
            ),
            Event::BlobMounted {
                blob, digest, from, ..
            } => format!(
                "{} {} mounted from {from}",
                self.label(*blob),
                digest.short()
            ),
            Event::BlobMissing { blob, digest, size } => format!(
                "{} {} missing, would upload {}",
                self.label(*blob),
                digest.short(),
                bytes(*size)
            ),
            Event::BlobStarted { blob, digest, size } => format!(
                "{} {} uploading {}",
                self.label(*blob),
                digest.short(),
                bytes(*size)
            ),
            Event::BlobCommitted { blob, digest, .. } => {
                format!("{} {} pushed", self.label(*blob), digest.short())
            }
            Event::Retrying {
                what,
                attempt,
                delay,
                reason,
            } => format!(
                "retrying {what} in {:.1} s (attempt {attempt}): {reason}",
                delay.as_secs_f64()
            ),
            Event::ManifestPushed { digest } => format!("manifest {digest} pushed"),
            _ => return None,
        };
        Some(line)
    }

    fn tty(&mut self, e: &Event) {
        let Some(multi) = self.multi.clone() else {
            return;
        };
        match e {
            Event::BlobStarted { blob, size, .. } => {
                let bar = multi.insert_from_back(1, ProgressBar::new(*size));
                bar.set_style(blob_style());
                bar.set_prefix(self.label(*blob).to_owned());
                self.bars.insert(*blob, bar);
            }
            Event::BlobProgress { blob, sent, .. } => {
                if let Some(bar) = self.bars.get(blob) {
                    bar.set_position(*sent);
                }
            }
            Event::BlobCommitted { blob, .. } => {
                if let Some(bar) = self.bars.remove(blob) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                if let Some(line) = self.line(e) {
                    let _ = multi.println(line);
                }
            }
            Event::Progress(p) => {
                let total = self.total.get_or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(p.total_bytes));
                    bar.set_style(total_style());
                    bar
                });
                total.set_length(p.total_bytes);
                total.set_position(p.transferred_bytes);
                total.set_message(format!(
                    "{}/{} blobs, {}/s{}",
                    p.blobs_done,
                    p.blobs_total,
                    bytes(p.bytes_per_second as u64),
                    p.eta
                        .map(|d| format!(", ETA {}s", d.as_secs()))
                        .unwrap_or_default()
                ));
            }
            other => {
                if let Some(line) = self.line(other) {
                    let _ = multi.println(line);
                }
            }
        }
    }
}

fn blob_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix:12} [{bar:30}] {bytes}/{total_bytes}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn total_style() -> ProgressStyle {
    ProgressStyle::with_template("total        [{bar:30}] {bytes}/{total_bytes} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A one-line summary of progress.
pub fn summary(p: &Progress) -> String {
    format!(
        "{} / {} ({} of {} blobs) at {}/s{}",
        bytes(p.transferred_bytes),
        bytes(p.total_bytes),
        p.blobs_done,
        p.blobs_total,
        bytes(p.bytes_per_second as u64),
        p.eta
            .map(|d| format!(", ETA {}s", d.as_secs()))
            .unwrap_or_default()
    )
}

/// Human-readable size.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

fn json_line(e: &Event) {
    let v = match e {
        Event::PlainHttpFallback { host } => json!({"event": "plain_http_fallback", "host": host}),
        Event::BlobSkipped { blob, digest, size } => {
            json!({"event": "blob_skipped", "blob": blob, "digest": digest, "size": size})
        }
        Event::BlobMounted {
            blob,
            digest,
            size,
            from,
        } => {
            json!({"event": "blob_mounted", "blob": blob, "digest": digest, "size": size, "from": from})
        }
        Event::BlobMissing { blob, digest, size } => {
            json!({"event": "blob_missing", "blob": blob, "digest": digest, "size": size})
        }
        Event::BlobStarted { blob, digest, size } => {
            json!({"event": "blob_started", "blob": blob, "digest": digest, "size": size})
        }
        Event::BlobProgress { blob, sent, size } => {
            json!({"event": "blob_progress", "blob": blob, "sent": sent, "size": size})
        }
        Event::BlobCommitted { blob, digest, size } => {
            json!({"event": "blob_committed", "blob": blob, "digest": digest, "size": size})
        }
        Event::Retrying {
            what,
            attempt,
            delay,
            reason,
        } => json!({"event": "retrying", "what": what, "attempt": attempt,
                     "delay_ms": delay.as_millis() as u64, "reason": reason}),
        Event::ManifestPushed { digest } => json!({"event": "manifest_pushed", "digest": digest}),
        Event::Progress(p) => json!({
            "event": "progress", "total_bytes": p.total_bytes, "done_bytes": p.done_bytes,
            "skipped_bytes": p.skipped_bytes, "sent_bytes": p.sent_bytes,
            "transferred_bytes": p.transferred_bytes,
            "blobs_total": p.blobs_total, "blobs_done": p.blobs_done,
            "blobs_skipped": p.blobs_skipped, "bytes_per_second": p.bytes_per_second,
            "eta_ms": p.eta.map(|d| d.as_millis() as u64), "elapsed_ms": p.elapsed.as_millis() as u64,
        }),
        _ => return,
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}
