//! How `tug push --compress` shows its compressing: a pass on its own (a dry run) gets a
//! status line (or a `compressing` JSON event) at least every 250 ms; a last line (a
//! `compressed` event) says what was compressed, after that pass or when the last layer
//! compressed while it was sent ends.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::codec::Settings;
use super::plan::{CompressedImages, Measuring};
use crate::output::outln;
use crate::progress::{bytes, clock, Display, ProgressMode};

/// Shows how far a pass on its own has got: the display's status line, or a `compressing` event.
pub fn show_progress(display: &mut Display, now: Snapshot) {
    match display.mode() {
        ProgressMode::Json => outln!("{}", now.json()),
        _ => display.status(now.line()),
    }
}

/// Shows what was compressed (the status line goes): a line above the display, a
/// `compressed` event, or (without progress) a verbose note.
pub fn show_summary(
    display: &mut Display,
    how: Settings,
    done: &CompressedImages,
    elapsed: Duration,
) {
    match display.mode() {
        ProgressMode::Json => outln!("{}", summary_json(how, done, elapsed)),
        _ if display.is_human() => {
            display.clear_status();
            display.note(summary_line(how, done, elapsed));
        }
        _ => crate::verbose::note(&summary_line(how, done, elapsed)),
    }
}

/// What was compressed, for people: `Compressed 2 layers with gzip level 6: …`.
fn summary_line(how: Settings, c: &CompressedImages, elapsed: Duration) -> String {
    let n = c.blobs.len();
    format!(
        "{} {n} {} with {} level {}: {} -> {} ({} measured now, {:.1?})",
        if c.measured > 0 {
            "Compressed"
        } else {
            "Recalled"
        },
        if n == 1 { "layer" } else { "layers" },
        how.codec.name(),
        how.level,
        bytes(c.plain_bytes),
        bytes(c.compressed_bytes),
        c.measured,
        elapsed
    )
}

/// What was compressed, as a `compressed` event.
fn summary_json(how: Settings, c: &CompressedImages, elapsed: Duration) -> serde_json::Value {
    json!({
        "event": "compressed", "codec": how.codec.name(), "level": how.level,
        "layers": c.blobs.len(), "measured": c.measured, "plain_bytes": c.plain_bytes,
        "compressed_bytes": c.compressed_bytes, "elapsed_ms": elapsed.as_millis() as u64,
    })
}

/// A pass on its own at one moment.
pub struct Snapshot {
    codec: &'static str,
    level: i32,
    layers: usize,
    read: u64,
    total: u64,
    elapsed: Duration,
}

impl Snapshot {
    pub fn of(m: &Measuring, how: Settings, elapsed: Duration) -> Snapshot {
        Snapshot {
            codec: how.codec.name(),
            level: how.level,
            layers: m.layers.load(Ordering::Relaxed),
            read: m.watch.read.load(Ordering::Relaxed),
            total: m.total.load(Ordering::Relaxed),
            elapsed,
        }
    }

    /// Whether there is anything to show (not when every layer was recalled).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Plain bytes per second since the start (steady: compression is CPU-bound).
    fn rate(&self) -> f64 {
        self.read as f64 / self.elapsed.as_secs_f64().max(0.001)
    }

    fn eta(&self) -> Option<Duration> {
        let left = self.total.saturating_sub(self.read);
        (self.rate() > 1.0).then(|| Duration::from_secs_f64(left as f64 / self.rate()))
    }

    /// `Compressing 2 layers with gzip level 6: 50 MiB / 200 MiB at 50 MiB/s, ETA 3s`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "Compressing {} {} with {} level {}: {} / {} at {}/s",
            self.layers,
            if self.layers == 1 { "layer" } else { "layers" },
            self.codec,
            self.level,
            bytes(self.read),
            bytes(self.total),
            bytes(self.rate() as u64)
        );
        if let Some(eta) = self.eta() {
            s.push_str(&format!(", ETA {}", clock(eta)));
        }
        s
    }

    /// A `compressing` event.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "event": "compressing", "codec": self.codec, "level": self.level,
            "layers": self.layers, "plain_bytes": self.total, "done_bytes": self.read,
            "bytes_per_second": self.rate(),
            "eta_ms": self.eta().map(|d| d.as_millis() as u64),
            "elapsed_ms": self.elapsed.as_millis() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::codec::Codec;

    #[test]
    fn the_status_names_codec_bytes_rate_and_eta() {
        let s = Snapshot {
            codec: "gzip",
            level: 6,
            layers: 2,
            read: 50 << 20,
            total: 200 << 20,
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(
            s.line(),
            "Compressing 2 layers with gzip level 6: 50.00 MiB / 200.00 MiB at 50.00 MiB/s, ETA 3s"
        );
        let v = s.json();
        assert_eq!(v["event"], "compressing");
        assert_eq!(v["done_bytes"], 50 << 20);
        assert_eq!(v["plain_bytes"], 200 << 20);
        assert_eq!(v["eta_ms"], 3000);
        let m = Measuring::default();
        m.total.store(10, Ordering::Relaxed);
        m.layers.store(1, Ordering::Relaxed);
        let how = Settings::new(Codec::Zstd, None).unwrap();
        let s = Snapshot::of(&m, how, Duration::ZERO);
        assert!(s
            .line()
            .starts_with("Compressing 1 layer with zstd level 3: 0 B / 10 B"));
        assert_eq!(s.eta(), None, "no rate yet, no ETA");
    }
}
