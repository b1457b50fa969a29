//! What a sync shows as it goes: a line per image as it ends (standard output), and on
//! standard error the images done of all, being copied, and the blob bytes sent (a live line
//! on a terminal, every few seconds otherwise); with `--progress json`, the core's image
//! events instead ([`ImagesDone`]), one JSON object a line on standard output.

use tug_core::sync::{ImageOutcome, ImagesDone};

use super::{drive, show, Entry, Item};
use crate::output::outln;
use crate::progress::{bytes, Display, ProgressMode};

/// The sync's progress. See the [module docs](self).
pub(super) struct Shown {
    display: Display,
    done: ImagesDone,
    /// Each image's line (not with `--json`, whose report names them).
    lines: bool,
    /// Which images are being copied (their end counts them off).
    copying: Vec<bool>,
}

impl Shown {
    /// Progress of `images` in `mode`; `lines`: a line per image as it ends.
    pub(super) fn new(mode: ProgressMode, images: &[Item], lines: bool) -> Shown {
        let display = Display::new(mode, Vec::new());
        let names: Vec<(String, String)> = images
            .iter()
            .map(|i| (i.image.source.to_string(), i.image.target.to_string()))
            .collect();
        if display.mode() == ProgressMode::Json {
            let declared =
                ImagesDone::declared(names.iter().map(|(s, t)| (s.as_str(), t.as_str())));
            outln!("{declared}");
        }
        Shown {
            display,
            done: ImagesDone::new(images.len()),
            lines,
            copying: vec![false; images.len()],
        }
    }

    /// Clears the live line (before the summary).
    pub(super) fn finish(&mut self) {
        self.display.finish();
    }

    fn status(&mut self) {
        let d = &self.done;
        let mut line = format!("images {}/{}", d.done, d.total);
        if d.copying > 0 {
            line.push_str(&format!(", {} copying", d.copying));
        }
        if d.bytes > 0 {
            line.push_str(&format!(", {} sent", bytes(d.bytes)));
        }
        // The last count is always shown (plain lines come only every few seconds).
        if d.to_do() == 0 && self.display.mode() == ProgressMode::Plain {
            self.display.note(line);
        } else {
            self.display.status(line);
        }
    }
}

impl drive::Watch for Shown {
    fn started(&mut self, i: usize) {
        if let Some(c) = self.copying.get_mut(i) {
            *c = true;
        }
        let event = self.done.started(i);
        match self.display.mode() {
            ProgressMode::Json => outln!("{event}"),
            _ => self.status(),
        }
    }

    fn finished(&mut self, i: usize, entry: &Entry) {
        let copied = self.copying.get_mut(i).map(std::mem::take).unwrap_or(false);
        let event = self.done.finished(i, &entry.outcome, copied);
        if self.display.mode() == ProgressMode::Json {
            outln!("{event}");
            return;
        }
        if self.lines {
            // The live line goes away while the image's line is written, then comes back.
            self.display.finish();
            show(entry);
        }
        if !matches!(entry.outcome, ImageOutcome::InSync) || self.done.to_do() == 0 {
            self.status();
        }
    }
}
