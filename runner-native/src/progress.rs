//! Shows an operation's events (push, pull and copy alike): on a terminal a live frame of one
//! line per blob in flight plus an overall line, redrawn in place; plain lines otherwise; or
//! one JSON object per event for machines (`--progress json`).
//!
//! A terminal frame is one `write`: the cursor goes up over the previous frame, each line is
//! cleared and rewritten, and what is left of a longer previous frame is cleared below. Lines
//! that stay (a blob pushed, a retry) are written in the same `write`, above the new frame.
//! Frames are drawn on every overall progress event, which the core emits at least every
//! 200 ms while bytes move, and whenever such a line appears.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use tug_core::progress::Progress;
use tug_core::retry::Retrying;
use tug_core::{pull, push};

use crate::output::Stream;
use tug_core::terminal_safe::terminal_safe;

/// The progress display chosen with `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A live display on a terminal, plain lines otherwise.
    Auto,
    /// A live display.
    Tty,
    /// Plain lines.
    Plain,
    /// One JSON object per line on stdout.
    Json,
    /// Nothing but the result.
    None,
}

/// Most blob lines a frame shows; the rest are counted on one line.
const MAX_BLOB_LINES: usize = 10;
/// Plain output repeats the overall line this often.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// A blob in flight.
struct Active {
    key: String,
    label: String,
    done: u64,
    size: u64,
}

/// Renders events to a writer; `labels[i]` names push plan blob `i` ("config", "layer 2/3").
pub struct Display {
    mode: ProgressMode,
    out: Box<dyn Write>,
    width: Option<usize>,
    labels: Vec<String>,
    keys: HashMap<usize, String>,
    active: Vec<Active>,
    progress: Option<Progress>,
    /// Whether push events came (mounts only exist there).
    pushing: bool,
    /// Blobs allowed in flight, once adaptive concurrency changed it.
    window: Option<usize>,
    /// Lines of the frame on screen.
    drawn: usize,
    /// Lines to write above the next frame.
    pending: Vec<String>,
    last_plain: Option<Instant>,
    /// A line about work before any blob moves (compressing layers), last in the frame.
    status: Option<String>,
}

impl Display {
    /// A display on stderr (stdout for JSON); `Auto` becomes `Tty` on a terminal.
    pub fn new(mode: ProgressMode, labels: Vec<String>) -> Display {
        let mode = match mode {
            ProgressMode::Auto if crate::terminal::stderr_redraws() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let out: Box<dyn Write> = match mode {
            ProgressMode::Json => Box::new(Stream::Stdout.writer()),
            _ => Box::new(Stream::Stderr.writer()),
        };
        let mut d = Display::with_output(mode, labels, out, None);
        d.width = None;
        d
    }

    /// A display writing to `out`, with lines cut to `width` columns (else the terminal's).
    pub fn with_output(
        mode: ProgressMode,
        labels: Vec<String>,
        out: Box<dyn Write>,
        width: Option<usize>,
    ) -> Display {
        Display {
            mode,
            out,
            width,
            labels,
            keys: HashMap::new(),
            active: Vec::new(),
            progress: None,
            pushing: false,
            window: None,
            drawn: 0,
            pending: Vec::new(),
            last_plain: None,
            status: None,
        }
    }

    /// The mode in effect (`Auto` resolved).
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// Whether the display writes text for people (not JSON, not nothing).
    pub fn is_human(&self) -> bool {
        matches!(self.mode, ProgressMode::Tty | ProgressMode::Plain)
    }

    /// Shows how work before any blob moves is going: the frame's last line on a terminal,
    /// a plain line every few seconds otherwise, nothing for JSON (the caller's events).
    pub fn status(&mut self, line: String) {
        match self.mode {
            ProgressMode::Tty => {
                self.status = Some(line);
                self.draw();
            }
            ProgressMode::Plain if self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) => {
                self.last_plain = Some(Instant::now());
                let _ = writeln!(self.out, "{}", terminal_safe(&line));
            }
            _ => {}
        }
    }

    /// Drops the status line (from the next frame on).
    pub fn clear_status(&mut self) {
        self.status = None;
    }

    /// Writes a line for people (above the live frame on a terminal).
    pub fn note(&mut self, line: String) {
        match self.mode {
            ProgressMode::Tty => {
                self.pending.push(line);
                self.draw();
            }
            ProgressMode::Plain => {
                let _ = writeln!(self.out, "{}", terminal_safe(&line));
            }
            _ => {}
        }
    }

    fn label(&self, blob: usize) -> String {
        self.labels
            .get(blob)
            .cloned()
            .unwrap_or_else(|| "blob".to_owned())
    }

    // ---- what events do to the view -------------------------------------------------

    fn start(&mut self, key: String, label: String, done: u64, size: u64) {
        match self.active.iter_mut().find(|a| a.key == key) {
            Some(a) => a.done = done,
            None => self.active.push(Active {
                key,
                label,
                done,
                size,
            }),
        }
    }

    fn advance(&mut self, key: &str, done: u64) {
        if let Some(a) = self.active.iter_mut().find(|a| a.key == key) {
            a.done = done;
        }
    }

    fn record(&mut self, p: &Progress) {
        self.progress = Some(p.clone());
    }

    fn end(&mut self, key: &str) {
        self.active.retain(|a| a.key != key);
    }

    fn overall(&mut self, p: &Progress) {
        match self.mode {
            ProgressMode::Tty => self.draw(),
            ProgressMode::Plain => {
                let due = self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY);
                if due && p.done_bytes < p.total_bytes {
                    self.last_plain = Some(Instant::now());
                    let line = self.overall_line(p);
                    let _ = writeln!(self.out, "{}", terminal_safe(&line));
                }
            }
            _ => {}
        }
    }

    /// Shows one event of a push (or of a copy, which is a push fed from another registry).
    pub fn event(&mut self, e: &push::Event) {
        use push::Event as E;
        let key = |blob: &usize| format!("#{blob}");
        self.pushing = true;
        match e {
            E::BlobStarted { blob, size, .. } => {
                self.keys.insert(*blob, key(blob));
                self.start(key(blob), self.label(*blob), 0, *size);
            }
            E::BlobResumed {
                blob, from, size, ..
            } => {
                self.keys.insert(*blob, key(blob));
                self.start(key(blob), self.label(*blob), *from, *size);
            }
            E::BlobProgress { blob, sent, .. } => self.advance(&key(blob), *sent),
            E::BlobCommitted { blob, .. } | E::BlobSkipped { blob, .. } => self.end(&key(blob)),
            E::BlobMounted { blob, .. } => self.end(&key(blob)),
            E::Progress(p) => self.record(p),
            E::Concurrency(c) => self.window = Some(c.to),
            _ => {}
        }
        if self.mode == ProgressMode::Json {
            if let Some(v) = self.push_json(e) {
                self.json(v);
            }
            return;
        }
        if let E::Progress(p) = e {
            self.overall(p);
        } else if let Some(line) = self.push_line(e) {
            self.note(line);
        }
    }

    /// Shows one event of a pull.
    pub fn pull_event(&mut self, e: &pull::Event) {
        use pull::Event as E;
        let label = |d: &tug_core::Digest| d.short().to_owned();
        match e {
            E::BlobStarted { digest, size } => {
                self.start(digest.to_string(), label(digest), 0, *size)
            }
            E::BlobResumed { digest, from, size } => {
                self.start(digest.to_string(), label(digest), *from, *size)
            }
            E::BlobProgress {
                digest, received, ..
            } => self.advance(&digest.to_string(), *received),
            E::BlobDone { digest, .. } | E::BlobSkipped { digest, .. } => {
                self.end(&digest.to_string())
            }
            E::Progress(p) => self.record(p),
            E::Concurrency(c) => self.window = Some(c.to),
            _ => {}
        }
        if self.mode == ProgressMode::Json {
            if let Some(v) = self.pull_json(e) {
                self.json(v);
            }
            return;
        }
        if let E::Progress(p) = e {
            self.overall(p);
        } else if let Some(line) = pull_line(e) {
            self.note(line);
        }
    }

    /// Clears the live frame (before the final lines).
    pub fn finish(&mut self) {
        self.status = None;
        if self.mode == ProgressMode::Tty && (self.drawn > 0 || !self.pending.is_empty()) {
            let mut buf = String::new();
            if self.drawn > 0 {
                buf.push_str(&format!("\x1b[{}A", self.drawn));
            }
            for line in std::mem::take(&mut self.pending) {
                buf.push_str("\r\x1b[2K");
                buf.push_str(&self.cut(&line));
                buf.push('\n');
            }
            buf.push_str("\r\x1b[J");
            let _ = self.out.write_all(buf.as_bytes());
            let _ = self.out.flush();
            self.drawn = 0;
        }
    }

    // ---- terminal frames -------------------------------------------------------------

    fn cut(&self, line: &str) -> String {
        let width = self
            .width
            .or_else(|| {
                console::Term::stderr()
                    .size_checked()
                    .map(|(_, w)| usize::from(w))
            })
            .unwrap_or(100);
        // Never fill the last column: some terminals wrap there, which would break the count.
        // Lines carry text from outside (layer names, registry messages): escaped first, so
        // only the frame's own sequences reach the terminal.
        terminal_safe(line)
            .chars()
            .take(width.saturating_sub(1).max(10))
            .collect()
    }

    /// The lines of the live frame: blobs in flight, then the overall line.
    pub fn frame(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let label_width = self
            .active
            .iter()
            .map(|a| a.label.chars().count())
            .max()
            .unwrap_or(0)
            .min(24);
        for a in self.active.iter().take(MAX_BLOB_LINES) {
            lines.push(format!(
                "  {:<label_width$} {} {:>10} / {:<10}",
                a.label,
                bar(a.done, a.size, 20),
                bytes(a.done),
                bytes(a.size)
            ));
        }
        if self.active.len() > MAX_BLOB_LINES {
            lines.push(format!(
                "  … and {} more",
                self.active.len() - MAX_BLOB_LINES
            ));
        }
        if let Some(p) = &self.progress {
            lines.push(format!(
                "{} {}",
                bar(p.transferred_bytes, p.total_bytes, 20),
                self.overall_line(p)
            ));
        }
        lines.extend(self.status.clone());
        lines
    }

    /// Redraws the frame, with the pending lines above it, in one write.
    fn draw(&mut self) {
        let mut buf = String::new();
        if self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in std::mem::take(&mut self.pending) {
            buf.push_str("\r\x1b[2K");
            buf.push_str(&self.cut(&line));
            buf.push('\n');
        }
        let frame = self.frame();
        for line in &frame {
            buf.push_str("\r\x1b[2K");
            buf.push_str(&self.cut(line));
            buf.push('\n');
        }
        // Whatever the previous frame had below this one.
        buf.push_str("\r\x1b[J");
        self.drawn = frame.len();
        let _ = self.out.write_all(buf.as_bytes());
        let _ = self.out.flush();
    }

    /// The overall numbers on one line.
    fn overall_line(&self, p: &Progress) -> String {
        let mut s = format!(
            "{} / {} at {}/s",
            bytes(p.transferred_bytes),
            bytes(p.total_bytes),
            bytes(p.bytes_per_second as u64)
        );
        if let Some(eta) = p.eta.filter(|_| p.done_bytes < p.total_bytes) {
            s.push_str(&format!(", ETA {}", clock(eta)));
        }
        s.push_str(&format!(
            ", {}/{} blobs ({} skipped",
            p.blobs_done, p.blobs_total, p.blobs_skipped
        ));
        if self.pushing {
            s.push_str(&format!(", {} mounted", p.blobs_mounted));
        }
        s.push(')');
        if let Some(w) = self.window {
            s.push_str(&format!(", {w} at once"));
        }
        if p.retries > 0 {
            s.push_str(&format!(
                ", {} {}",
                p.retries,
                if p.retries == 1 { "retry" } else { "retries" }
            ));
        }
        s
    }

    // ---- lines and JSON ----------------------------------------------------------------

    fn push_line(&self, e: &push::Event) -> Option<String> {
        use push::Event as E;
        let line = match e {
            E::PlainHttpFallback { host } => plain_http_line(host),
            E::BlobSkipped { blob, digest, size } => format!(
                "{} {} exists ({})",
                self.label(*blob),
                digest.short(),
                bytes(*size)
            ),
            E::BlobMounted {
                blob, digest, from, ..
            } => format!(
                "{} {} mounted from {from}",
                self.label(*blob),
                digest.short()
            ),
            E::BlobMissing {
                blob,
                digest,
                size,
                mount_from,
            } => match mount_from {
                Some(from) => format!(
                    "{} {} missing, would ask to mount it from {from} (else upload {})",
                    self.label(*blob),
                    digest.short(),
                    bytes(*size)
                ),
                None => format!(
                    "{} {} missing, would upload {}",
                    self.label(*blob),
                    digest.short(),
                    bytes(*size)
                ),
            },
            // On a terminal the blob's line shows it; plain output says it once.
            E::BlobStarted { blob, digest, size } if self.mode == ProgressMode::Plain => format!(
                "{} {} uploading {}",
                self.label(*blob),
                digest.short(),
                bytes(*size)
            ),
            E::BlobResumed {
                blob,
                digest,
                from,
                size,
            } => format!(
                "{} {} continuing at {} of {} (an earlier run's upload)",
                self.label(*blob),
                digest.short(),
                bytes(*from),
                bytes(*size)
            ),
            E::BlobCommitted { blob, digest, .. } => {
                format!("{} {} pushed", self.label(*blob), digest.short())
            }
            E::Retrying(r) => retry_line(r),
            E::ManifestPushed { digest } => format!("manifest {digest} pushed"),
            _ => return None,
        };
        Some(line)
    }

    fn push_json(&self, e: &push::Event) -> Option<serde_json::Value> {
        let mut v = e.json()?;
        if let push::Event::UploadSession { shown, .. } = e {
            // Printed, so shown: the CLI resumes from its own uploads.json.
            v["location"] = json!(shown);
        }
        Some(v)
    }

    fn pull_json(&self, e: &pull::Event) -> Option<serde_json::Value> {
        e.json()
    }

    /// Prints `v`, an event of the JSON vocabulary, when the progress is JSON lines.
    pub fn json_event(&mut self, v: Option<serde_json::Value>) {
        if let (ProgressMode::Json, Some(v)) = (self.mode(), v) {
            self.json(v);
        }
    }

    fn json(&mut self, v: serde_json::Value) {
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }
}

fn pull_line(e: &pull::Event) -> Option<String> {
    use pull::Event as E;
    let line = match e {
        E::PlainHttpFallback { host } => plain_http_line(host),
        E::PlatformChosen { platform, digest } => {
            format!("platform {platform}: {}", digest.short())
        }
        E::BlobSkipped { digest, .. } => format!("{} already present", digest.short()),
        E::BlobResumed { digest, from, size } => format!(
            "{} continuing at {} of {}",
            digest.short(),
            bytes(*from),
            bytes(*size)
        ),
        E::BlobDone { digest, size } => format!("{} downloaded ({})", digest.short(), bytes(*size)),
        E::Retrying(r) => retry_line(r),
        _ => return None,
    };
    Some(line)
}

/// The line saying a loopback registry is used over plain HTTP (push, pull, copy and the
/// registry verbs alike).
pub fn plain_http_line(host: &str) -> String {
    format!("{host} speaks plain HTTP; using http://")
}

/// The line saying a request is tried again.
pub fn retry_line(r: &Retrying) -> String {
    format!(
        "retrying {} in {:.1} s (attempt {}): {}",
        r.what,
        r.delay.as_secs_f64(),
        r.attempt,
        r.reason
    )
}

/// `[=====>    ]`, `width` columns inside the brackets.
fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        ((done.min(total) as f64 / total as f64) * width as f64) as usize
    };
    let mut s = String::with_capacity(width + 2);
    s.push('[');
    for i in 0..width {
        s.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    s.push(']');
    s
}

/// `42s`, `3m05s`, `1h02m`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

/// What a finished operation did, for its final line.
pub struct Totals {
    /// `Pushed`, `Pulled`, `Copied`.
    pub verb: &'static str,
    pub blobs: usize,
    pub bytes: u64,
    pub skipped: usize,
    pub skipped_bytes: u64,
    /// Bytes of `bytes` an earlier run had sent (a resumed upload): not sent in `elapsed`.
    pub resumed: u64,
    /// `None` where mounting does not apply (pulls).
    pub mounted: Option<usize>,
    pub retries: u32,
    pub elapsed: Duration,
    pub peak: f64,
}

impl Totals {
    /// The totals of a push (or of a copy: a push fed from another registry).
    pub fn of_push(verb: &'static str, report: &push::PushReport) -> Totals {
        Totals {
            verb,
            blobs: report.blobs_uploaded,
            bytes: report.bytes_uploaded,
            skipped: report.blobs_skipped,
            skipped_bytes: report.bytes_skipped,
            resumed: report.bytes_resumed,
            mounted: Some(report.blobs_mounted),
            retries: report.retries,
            elapsed: report.elapsed,
            peak: report.peak_bytes_per_second,
        }
    }

    /// The totals of a pull.
    pub fn of_pull(report: &pull::PullReport) -> Totals {
        Totals {
            verb: "Pulled",
            blobs: report.blobs_downloaded,
            bytes: report.bytes_downloaded,
            skipped: report.blobs_skipped,
            skipped_bytes: report.bytes_skipped,
            resumed: 0,
            mounted: None,
            retries: report.retries,
            elapsed: report.elapsed,
            peak: report.peak_bytes_per_second,
        }
    }
}

/// The final summary line.
pub fn done_line(t: &Totals) -> String {
    let resumed = match t.resumed {
        0 => String::new(),
        n => format!(", {} of it sent by an earlier run", bytes(n)),
    };
    let mut s = format!(
        "{} {} blobs ({}{resumed}), {} already present ({})",
        t.verb,
        t.blobs,
        bytes(t.bytes),
        t.skipped,
        bytes(t.skipped_bytes)
    );
    if let Some(m) = t.mounted {
        s.push_str(&format!(", {m} mounted"));
    }
    let secs = t.elapsed.as_secs_f64();
    s.push_str(&format!(
        ", {} {}, in {secs:.1} s",
        t.retries,
        if t.retries == 1 { "retry" } else { "retries" }
    ));
    // The rate is of the bytes this run sent.
    let sent = t.bytes.saturating_sub(t.resumed);
    if sent > 0 {
        let average = sent as f64 / secs.max(0.001);
        s.push_str(&format!(
            " ({}/s average, {}/s peak)",
            bytes(average as u64),
            bytes(t.peak.max(average) as u64)
        ));
    }
    s
}

/// Human-readable size.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use tug_core::Digest;

    /// Records every `write` call separately (a frame must be exactly one).
    #[derive(Clone, Default)]
    struct Writes(Rc<RefCell<Vec<Vec<u8>>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Writes {
        fn take(&self) -> Vec<String> {
            self.0
                .borrow_mut()
                .drain(..)
                .map(|w| String::from_utf8(w).unwrap())
                .collect()
        }
    }

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    fn progress(transferred: u64, done: usize, rate: f64) -> Progress {
        Progress {
            total_bytes: 3000,
            done_bytes: transferred,
            skipped_bytes: 0,
            sent_bytes: transferred,
            transferred_bytes: transferred,
            blobs_total: 3,
            blobs_done: done,
            blobs_skipped: 0,
            blobs_active: 0,
            blobs_mounted: 0,
            retries: 0,
            bytes_per_second: rate,
            peak_bytes_per_second: rate,
            eta: Some(Duration::from_secs(75)),
            elapsed: Duration::from_secs(1),
        }
    }

    fn display(mode: ProgressMode) -> (Display, Writes) {
        let w = Writes::default();
        let labels = vec!["config".into(), "layer 1/2".into(), "layer 2/2".into()];
        (
            Display::with_output(mode, labels, Box::new(w.clone()), Some(120)),
            w,
        )
    }

    /// `ESC[nA` at the start of a frame: how many lines it goes up.
    fn up(frame: &str) -> usize {
        frame
            .strip_prefix("\x1b[")
            .and_then(|r| r.split_once('A'))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn each_frame_is_one_write_that_rewrites_the_previous_frame_in_place() {
        let (mut d, w) = display(ProgressMode::Tty);
        use push::Event as E;
        d.event(&E::BlobStarted {
            blob: 1,
            digest: digest('a'),
            size: 1000,
        });
        d.event(&E::BlobStarted {
            blob: 2,
            digest: digest('b'),
            size: 2000,
        });
        d.event(&E::BlobProgress {
            blob: 1,
            sent: 500,
            size: 1000,
        });
        d.event(&E::BlobProgress {
            blob: 2,
            sent: 200,
            size: 2000,
        });
        assert!(w.take().is_empty(), "nothing drawn until overall progress");
        d.event(&E::Progress(progress(700, 0, 1500.0)));
        let f1 = w.take();
        assert_eq!(f1.len(), 1, "one write per frame");
        let f1 = &f1[0];
        assert_eq!(up(f1), 0);
        let lines: Vec<&str> = f1.split('\n').collect();
        assert_eq!(lines.len(), 4, "{f1:?}"); // 2 blobs + overall + the clear below
        assert!(
            lines[0].contains("layer 1/2") && lines[0].contains("500 B / 1000 B"),
            "{f1:?}"
        );
        assert!(
            lines[1].contains("layer 2/2") && lines[1].contains("200 B / 1.95 KiB"),
            "{f1:?}"
        );
        assert!(
            lines[2].contains(
                "700 B / 2.93 KiB at 1.46 KiB/s, ETA 1m15s, 0/3 blobs (0 skipped, 0 mounted)"
            ),
            "{f1:?}"
        );
        assert_eq!(lines[3], "\r\x1b[J");

        // A blob done and a retry: their lines go above, the frame shrinks, all in one write.
        d.event(&E::BlobCommitted {
            blob: 1,
            digest: digest('a'),
            size: 1000,
        });
        let f2 = w.take();
        assert_eq!(f2.len(), 1);
        assert_eq!(up(&f2[0]), 3, "goes up over the whole previous frame");
        assert!(f2[0].contains("layer 1/2 aaaaaaaaaaaa pushed\n"));
        d.event(&E::Retrying(Retrying {
            what: "uploading blob sha256:bbbbbbbbbbbb".into(),
            attempt: 2,
            delay: Duration::from_millis(1500),
            reason: "registry answered 503".into(),
            blob: None,
        }));
        // The core's snapshot counts the retry.
        let mut p = progress(1300, 1, 1600.0);
        p.retries = 1;
        d.event(&E::Progress(p));
        let frames = w.take();
        assert_eq!(frames.len(), 2);
        // The frame after the commit had 2 lines (one blob + overall).
        assert_eq!(up(&frames[0]), 2);
        assert!(
            frames[0].contains("retrying uploading blob sha256:bbbbbbbbbbbb in 1.5 s (attempt 2)")
        );
        assert_eq!(up(&frames[1]), 2);
        assert!(
            frames[1].contains("1/3 blobs (0 skipped, 0 mounted), 1 retry"),
            "{:?}",
            frames[1]
        );
        // Every line is cleared just before it is rewritten: no blank frame ever shows.
        for f in &frames {
            for line in f.split('\n').filter(|l| !l.is_empty()) {
                let line = line.trim_start_matches(|c: char| c != '\r');
                assert!(
                    line.starts_with("\r\x1b[2K") || line == "\r\x1b[J",
                    "{line:?}"
                );
            }
        }

        d.finish();
        let end = w.take();
        assert_eq!(
            end,
            ["\x1b[2A\r\x1b[J".to_owned()],
            "finish clears the frame"
        );
    }

    #[test]
    fn the_overall_line_shows_the_blobs_in_flight_once_they_adapt() {
        let (mut d, w) = display(ProgressMode::Plain);
        d.event(&push::Event::Progress(progress(100, 0, 10.0)));
        let before = w.take().concat();
        assert!(!before.contains("at once"), "{before:?}");
        d.event(&push::Event::Concurrency(tug_core::concurrency::Change {
            from: 4,
            to: 2,
            reason: tug_core::concurrency::Reason::Congestion,
            base: 2,
            bytes_per_second: None,
        }));
        assert!(
            w.take().is_empty(),
            "no line of its own (-v prints decisions)"
        );
        d.last_plain = None;
        d.event(&push::Event::Progress(progress(200, 0, 10.0)));
        let after = w.take().concat();
        assert!(
            after.contains("(0 skipped, 0 mounted), 2 at once"),
            "{after:?}"
        );
    }

    #[test]
    fn lines_never_reach_the_last_column() {
        let w = Writes::default();
        let mut d = Display::with_output(
            ProgressMode::Tty,
            vec!["a very long label for a layer of an image".into()],
            Box::new(w.clone()),
            Some(40),
        );
        d.event(&push::Event::BlobStarted {
            blob: 0,
            digest: digest('a'),
            size: 10,
        });
        d.event(&push::Event::Progress(progress(0, 0, 0.0)));
        for line in w.take()[0].split('\n') {
            let visible = line.trim_start_matches("\r\x1b[2K");
            assert!(visible.chars().count() <= 39, "{visible:?}");
        }
    }

    #[test]
    fn many_blobs_are_summed_up_on_one_line() {
        let (mut d, w) = display(ProgressMode::Tty);
        for i in 0..14 {
            d.event(&push::Event::BlobStarted {
                blob: i,
                digest: digest('a'),
                size: 10,
            });
        }
        d.event(&push::Event::Progress(progress(0, 0, 0.0)));
        let f = &w.take()[0];
        assert_eq!(f.matches('\n').count(), MAX_BLOB_LINES + 2);
        assert!(f.contains("… and 4 more"));
    }

    #[test]
    fn pulls_show_the_same_frame() {
        let (mut d, w) = display(ProgressMode::Tty);
        use pull::Event as E;
        d.pull_event(&E::BlobResumed {
            digest: digest('c'),
            from: 100,
            size: 1000,
        });
        d.pull_event(&E::BlobProgress {
            digest: digest('c'),
            received: 400,
            size: 1000,
        });
        d.pull_event(&E::Progress(progress(400, 0, 100.0)));
        let f = w.take();
        assert!(
            f[0].starts_with("\r\x1b[2Kcccccccccccc continuing at 100 B of 1000 B\n"),
            "{f:?}"
        );
        assert!(f[0].contains("100 B / 1000 B"), "{f:?}");
        assert!(
            f[1].contains("  cccccccccccc [========>           ]      400 B / 1000 B"),
            "{f:?}"
        );
        assert!(
            f[1].contains("0/3 blobs (0 skipped)\n"),
            "no mounts in a pull: {f:?}"
        );
        d.pull_event(&E::BlobDone {
            digest: digest('c'),
            size: 1000,
        });
        let f = w.take();
        assert_eq!(up(&f[0]), 2);
        assert!(f[0].contains("cccccccccccc downloaded (1000 B)"));
    }

    #[test]
    fn a_status_line_is_redrawn_in_place_then_cleared_or_printed_now_and_then() {
        let (mut d, w) = display(ProgressMode::Tty);
        d.status("Compressing 1 layer: 1 B".into());
        d.status("Compressing 1 layer: 2 B".into());
        d.finish();
        let f = w.take();
        assert_eq!(f[0], "\r\x1b[2KCompressing 1 layer: 1 B\n\r\x1b[J");
        assert_eq!(up(&f[1]), 1, "drawn over the previous frame: {f:?}");
        assert!(
            f[1].ends_with("Compressing 1 layer: 2 B\n\r\x1b[J"),
            "{f:?}"
        );
        assert_eq!(f[2], "\x1b[1A\r\x1b[J", "cleared at the end");

        let (mut d, w) = display(ProgressMode::Plain);
        d.status("first".into());
        d.status("too soon after".into());
        assert_eq!(w.take().concat(), "first\n");
        let (mut d, w) = display(ProgressMode::Json);
        d.status("for people only".into());
        assert!(w.take().is_empty());
    }

    #[test]
    fn plain_output_is_lines_without_escapes() {
        let (mut d, w) = display(ProgressMode::Plain);
        use push::Event as E;
        d.event(&E::BlobStarted {
            blob: 0,
            digest: digest('a'),
            size: 1000,
        });
        d.event(&E::BlobMounted {
            blob: 1,
            digest: digest('b'),
            size: 10,
            from: "other".into(),
        });
        let mounted = |transferred| {
            let mut p = progress(transferred, 1, 1500.0);
            p.blobs_mounted = 1;
            p
        };
        d.event(&E::Progress(mounted(700)));
        d.event(&E::Progress(mounted(800))); // within 2 s of the last line
        d.event(&E::BlobCommitted {
            blob: 0,
            digest: digest('a'),
            size: 1000,
        });
        d.finish();
        let text = w.take().concat();
        assert!(!text.contains('\x1b'));
        assert_eq!(
            text,
            "config aaaaaaaaaaaa uploading 1000 B\n\
             layer 1/2 bbbbbbbbbbbb mounted from other\n\
             700 B / 2.93 KiB at 1.46 KiB/s, ETA 1m15s, 1/3 blobs (0 skipped, 1 mounted)\n\
             config aaaaaaaaaaaa pushed\n"
        );
    }

    /// Labels come from files (tags, layer names) and retry reasons from registries: the
    /// live frame shows them escaped, so only the frame's own sequences reach the terminal.
    #[test]
    fn outside_text_in_a_live_frame_is_escaped() {
        let w = Writes::default();
        let labels = vec!["evil\x1b[32m label".into()];
        let mut d = Display::with_output(ProgressMode::Tty, labels, Box::new(w.clone()), Some(120));
        use push::Event as E;
        d.event(&E::BlobStarted {
            blob: 0,
            digest: digest('a'),
            size: 1000,
        });
        d.event(&E::Retrying(Retrying {
            what: "blob".into(),
            attempt: 2,
            delay: Duration::from_secs(1),
            reason: "DENIED: \x1b[2K\x1b[1Afake".into(),
            blob: None,
        }));
        d.finish();
        let text = w.take().concat();
        assert!(text.contains("evil\\x1b[32m label"), "{text:?}");
        assert!(text.contains("DENIED: \\x1b[2K\\x1b[1Afake"), "{text:?}");
        for sequence in ["\x1b[32m", "\x1b[1Afake"] {
            assert!(!text.contains(sequence), "{text:?}");
        }
    }

    /// The overall line and the JSON lines show the core's counts as they are.
    #[test]
    fn the_overall_line_and_json_show_the_cores_counts() {
        use push::Event as E;
        let mut p = progress(700, 1, 1500.0);
        (p.blobs_mounted, p.retries, p.blobs_active) = (1, 2, 1);
        p.peak_bytes_per_second = 1800.0;
        let (mut d, w) = display(ProgressMode::Json);
        d.event(&E::Progress(p.clone()));
        let line: serde_json::Value = serde_json::from_str(w.take().concat().trim()).unwrap();
        assert_eq!(line, p.json("sent_bytes"));
        let (mut d, w) = display(ProgressMode::Plain);
        d.event(&E::BlobMounted {
            blob: 1,
            digest: digest('b'),
            size: 10,
            from: "o".into(),
        });
        d.event(&E::Progress(p));
        let text = w.take().concat();
        assert!(
            text.contains("1/3 blobs (0 skipped, 1 mounted), 2 retries"),
            "{text}"
        );
    }

    #[test]
    fn the_final_line_has_totals_and_rates() {
        let line = done_line(&Totals {
            verb: "Pushed",
            blobs: 2,
            bytes: 4 << 20,
            skipped: 1,
            skipped_bytes: 1024,
            resumed: 0,
            mounted: Some(1),
            retries: 1,
            elapsed: Duration::from_secs(2),
            peak: 3.0 * 1024.0 * 1024.0,
        });
        assert_eq!(
            line,
            "Pushed 2 blobs (4.00 MiB), 1 already present (1.00 KiB), 1 mounted, 1 retry, in 2.0 s (2.00 MiB/s average, 3.00 MiB/s peak)"
        );
    }

    #[test]
    fn an_operation_too_short_to_sample_reports_its_average_as_peak() {
        let line = done_line(&Totals {
            verb: "Pulled",
            blobs: 3,
            bytes: 50 << 20,
            skipped: 0,
            skipped_bytes: 0,
            resumed: 0,
            mounted: None,
            retries: 0,
            elapsed: Duration::from_millis(100),
            peak: 0.0,
        });
        assert!(
            line.ends_with("(500.00 MiB/s average, 500.00 MiB/s peak)"),
            "{line}"
        );
    }

    #[test]
    fn bars_and_clocks() {
        assert_eq!(bar(0, 10, 4), "[>   ]");
        assert_eq!(bar(5, 10, 4), "[==> ]");
        assert_eq!(bar(10, 10, 4), "[====]");
        assert_eq!(bar(0, 0, 2), "[==]");
        assert_eq!(clock(Duration::from_secs(42)), "42s");
        assert_eq!(clock(Duration::from_secs(185)), "3m05s");
        assert_eq!(clock(Duration::from_secs(3720)), "1h02m");
    }
}
