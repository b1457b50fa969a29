//! Operation history: every push, pull and copy appends one record to `history.jsonl` in the
//! state directory (one JSON object per line).
//!
//! Appends happen under an exclusive lock on `history.lock`, with the whole line in one
//! `write` on a file opened with `O_APPEND`, so concurrent tug processes never interleave or
//! lose records. When a record would take the file over the cap (4 MiB, or
//! `$TUG_HISTORY_MAX_BYTES`), the file first becomes `history.jsonl.1` (replacing the older
//! one) and a new file is started. Readers take a shared lock and read both files. The files
//! are private (0600, in a 0700 directory tug creates) and never opened through a link.
//!
//! Nothing secret goes in: references and paths as the user gave them (with any
//! `user:password@` removed), counts, timings, and error messages, which carry no credentials
//! (URLs in them lose their user info and query).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tug_core::progress::Progress;
use tug_core::redact::scrub;
use tug_core::{pull, push};

use crate::exit_code::CliError;
use crate::output::errln;
use crate::safe_fs::{self, Access};

/// The history file in the state directory.
pub const FILE: &str = "history.jsonl";
/// The rotated history file.
pub const OLD_FILE: &str = "history.jsonl.1";
const LOCK_FILE: &str = "history.lock";
/// Default size cap of the history file.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 20;

/// One operation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Record {
    /// Short unique id (time and process based).
    pub id: String,
    /// `push`, `pull` or `copy`.
    pub command: String,
    /// A dry run (nothing uploaded).
    #[serde(skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Start and end, RFC 3339 in UTC.
    pub start: String,
    pub end: String,
    pub duration_ms: u64,
    /// What was read and where it went, as given (file, reference, output).
    pub source: String,
    pub target: String,
    /// The manifest (or index) pushed, pulled or copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes of all the operation's blobs.
    pub bytes_total: u64,
    /// Bytes put on the wire (push, copy) or received (pull), re-sent bytes included.
    pub bytes_transferred: u64,
    /// Bytes of blobs the other side already had.
    pub bytes_skipped: u64,
    /// Bytes of blobs mounted from another repository.
    pub bytes_mounted: u64,
    /// Blobs of the operation.
    pub blobs: usize,
    pub blobs_transferred: usize,
    pub blobs_skipped: usize,
    pub blobs_mounted: usize,
    /// Requests retried.
    pub retries: u32,
    /// Bytes transferred over the whole duration, per second.
    pub avg_bytes_per_second: f64,
    /// The highest smoothed rate the progress reports showed (at least the average).
    pub peak_bytes_per_second: f64,
    /// `ok`, `failed` or `cancelled`.
    pub outcome: String,
    /// The exit code.
    pub exit_code: i32,
    /// For failures: the error's class, as the core names it ([`tug_core::ErrorClass`]:
    /// `usage`, `input`, `auth`, `not_found`, `registry`, `network`, `cancelled`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// For failures: the error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per-blob timings, in the order blobs were first seen.
    pub blob_timings: Vec<BlobTiming>,
    /// A sync's images and what happened to each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRecord>,
}

/// What a sync did with one image.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageRecord {
    pub source: String,
    pub target: String,
    /// `in_sync`, `planned`, `copied` or `failed`.
    pub outcome: String,
    /// Blob bytes sent for it.
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub use tug_core::blob_timings::BlobTiming;
use tug_core::blob_timings::BlobTimings;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The history directory (the state directory), if there is one.
pub fn dir() -> Option<PathBuf> {
    crate::places::state_dir()
}

/// The size cap: `$TUG_HISTORY_MAX_BYTES`, else 4 MiB.
pub fn max_bytes() -> u64 {
    std::env::var("TUG_HISTORY_MAX_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_BYTES)
}

fn lock_file(dir: &Path) -> io::Result<File> {
    safe_fs::open_lock(&dir.join(LOCK_FILE), Access::Private)
}

/// Appends `record` to the history in `dir`, rotating first when the file would pass `cap`.
/// A write that fails (a full disk) is cut back off, so the next record starts a line of its
/// own; a line a killed run left unfinished is ended before this one.
pub fn append(dir: &Path, record: &Record, cap: u64) -> io::Result<()> {
    safe_fs::create_private_dir(dir)?;
    let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
    line.push(b'\n');
    let lock = lock_file(dir)?;
    lock.lock()?;
    let path = dir.join(FILE);
    let size = fs::metadata(&path).map_or(0, |m| m.len());
    if size > 0 && size + line.len() as u64 > cap {
        fs::rename(&path, dir.join(OLD_FILE))?;
    }
    let options = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .clone();
    let mut file = safe_fs::open(&path, &options, Access::Private)?;
    let size = file.metadata()?.len();
    if size > 0 && last_byte(&mut file, size)? != b'\n' {
        line.insert(0, b'\n');
    }
    // One write of the whole line: with O_APPEND and the lock, lines never interleave.
    if let Err(e) = file.write_all(&line) {
        let _ = file.set_len(size);
        return Err(e);
    }
    drop(file);
    lock.unlock()
}

/// The last of a file's `size` bytes.
fn last_byte(file: &mut File, size: u64) -> io::Result<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(size - 1))?;
    file.read_exact(&mut byte)?;
    Ok(byte[0])
}

/// Every record in `dir`, oldest first, and how many lines could not be read.
pub fn read(dir: &Path) -> io::Result<(Vec<Record>, usize)> {
    if !dir.join(FILE).exists() && !dir.join(OLD_FILE).exists() {
        return Ok((Vec::new(), 0));
    }
    let lock = lock_file(dir)?;
    lock.lock_shared()?;
    let mut records = Vec::new();
    let mut bad = 0;
    for name in [OLD_FILE, FILE] {
        let text = match safe_fs::read(&dir.join(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let (mut r, b) = parse(&text);
        records.append(&mut r);
        bad += b;
    }
    lock.unlock()?;
    Ok((records, bad))
}

/// The records of a history file's bytes, and how many non-empty lines did not parse.
pub fn parse(text: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut bad = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => records.push(r),
            Err(_) => bad += 1,
        }
    }
    (records, bad)
}

/// A new record id: the time in milliseconds and the process id, in base 36.
fn new_id(now: SystemTime) -> String {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    format!("{}-{}", base36(ms), base36(u64::from(std::process::id())))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The class of an error, for `--failed` listings and scripts (the core's class names).
pub fn error_class(e: &CliError) -> &'static str {
    // `tug web` is not an operation the history records.
    e.class().map_or("other", tug_core::ErrorClass::name)
}

/// Gathers one operation's record from the events its command sees, and appends it when the
/// operation ends.
pub struct Recorder {
    record: Record,
    wall_start: SystemTime,
    start: Instant,
    /// Per blob, from the events (the core's, as every runner's history has them).
    timings: BlobTimings,
    last_progress: Option<Progress>,
    retries_seen: u32,
}

impl Recorder {
    /// Starts the record of `command` (`push`, `pull`, `copy`) from `source` to `target`.
    pub fn new(command: &str, source: &str, target: &str) -> Recorder {
        let wall_start = SystemTime::now();
        Recorder {
            record: Record {
                id: new_id(wall_start),
                command: command.to_owned(),
                source: scrub(source),
                target: scrub(target),
                ..Record::default()
            },
            wall_start,
            start: Instant::now(),
            timings: BlobTimings::new(tug_core::time::Instant::ZERO),
            last_progress: None,
            retries_seen: 0,
        }
    }

    /// Marks a dry run.
    pub fn dry_run(&mut self) {
        self.record.dry_run = true;
    }

    /// The manifest or index the operation is about.
    pub fn digest(&mut self, digest: &impl ToString) {
        self.record.digest = Some(digest.to_string());
    }

    /// Now, on the timings' clock (zero when the record started).
    fn now(&self) -> tug_core::time::Instant {
        tug_core::time::Instant::from_duration(self.start.elapsed())
    }

    fn progress(&mut self, p: &Progress) {
        self.record.peak_bytes_per_second = self
            .record
            .peak_bytes_per_second
            .max(p.peak_bytes_per_second);
        self.last_progress = Some(p.clone());
    }

    /// Takes in a push's (or a copy's) event.
    pub fn push_event(&mut self, e: &push::Event) {
        use push::Event as E;
        let now = self.now();
        self.timings.push_event(now, e);
        match e {
            E::BlobSkipped { size, .. } => {
                self.record.blobs_skipped += 1;
                self.record.bytes_skipped += size;
            }
            E::BlobMounted { size, .. } => {
                self.record.blobs_mounted += 1;
                self.record.bytes_mounted += size;
            }
            E::ManifestPushed { digest } => self.digest(digest),
            E::Retrying(_) => self.retries_seen += 1,
            E::Progress(p) => self.progress(p),
            _ => {}
        }
    }

    /// Takes in a pull's event.
    pub fn pull_event(&mut self, e: &pull::Event) {
        use pull::Event as E;
        let now = self.now();
        self.timings.pull_event(now, e);
        match e {
            E::BlobSkipped { size, .. } => {
                self.record.blobs_skipped += 1;
                self.record.bytes_skipped += size;
            }
            E::Retrying(_) => self.retries_seen += 1,
            E::Progress(p) => self.progress(p),
            _ => {}
        }
    }

    /// Takes the final numbers of a push or copy.
    pub fn push_report(&mut self, r: &push::PushReport) {
        self.digest(&r.manifest_digest);
        self.record.blobs_transferred = r.blobs_uploaded;
        self.record.blobs_skipped = r.blobs_skipped;
        self.record.blobs_mounted = r.blobs_mounted;
        self.record.bytes_skipped = r.bytes_skipped;
        self.record.retries = r.retries;
    }

    /// Adds the blob counts of one image a sync copied to the sync's.
    pub fn add_copy(&mut self, r: &push::PushReport) {
        let r_blobs = r.blobs_uploaded + r.blobs_skipped + r.blobs_mounted;
        self.record.blobs += r_blobs;
        self.record.bytes_total += r.bytes_uploaded + r.bytes_skipped + r.bytes_mounted;
        self.record.bytes_mounted += r.bytes_mounted;
        self.record.blobs_transferred += r.blobs_uploaded;
        self.record.blobs_skipped += r.blobs_skipped;
        self.record.blobs_mounted += r.blobs_mounted;
        self.record.bytes_skipped += r.bytes_skipped;
        self.record.retries += r.retries;
    }

    /// Takes one image of a sync: its outcome, and its bytes into the sync's total.
    pub fn image(&mut self, image: ImageRecord) {
        self.record.bytes_transferred += image.bytes;
        self.record.images.push(ImageRecord {
            source: scrub(&image.source),
            target: scrub(&image.target),
            error: image.error.as_deref().map(scrub),
            ..image
        });
    }

    /// Takes the final numbers of a pull.
    pub fn pull_report(&mut self, r: &pull::PullReport) {
        self.record.blobs_transferred = r.blobs_downloaded;
        self.record.blobs_skipped = r.blobs_skipped;
        self.record.bytes_skipped = r.bytes_skipped;
        self.record.retries = r.retries;
    }

    /// The finished record for `result`.
    pub fn finish(mut self, result: &Result<(), CliError>) -> Record {
        let elapsed = self.start.elapsed();
        self.record.blob_timings = self
            .timings
            .list(tug_core::time::Instant::from_duration(elapsed));
        let r = &mut self.record;
        r.start = rfc3339(self.wall_start);
        r.end = rfc3339(self.wall_start + elapsed);
        r.duration_ms = elapsed.as_millis() as u64;
        if let Some(p) = &self.last_progress {
            r.bytes_total = p.total_bytes;
            r.bytes_transferred = p.sent_bytes;
            r.blobs = p.blobs_total;
        }
        r.blobs = r.blobs.max(r.blob_timings.len());
        r.retries = r.retries.max(self.retries_seen);
        if r.blobs_transferred == 0 {
            r.blobs_transferred = r
                .blob_timings
                .iter()
                .filter(|b| b.outcome == "pushed" || b.outcome == "downloaded")
                .count();
        }
        let secs = elapsed.max(Duration::from_millis(1)).as_secs_f64();
        r.avg_bytes_per_second = (r.bytes_transferred as f64 / secs).round();
        // An operation too short for the rate meter to sample has only its average.
        r.peak_bytes_per_second = r.peak_bytes_per_second.max(r.avg_bytes_per_second).round();
        match result {
            Ok(()) => {
                r.outcome = "ok".into();
                r.exit_code = crate::exit_code::OK;
            }
            Err(e) => {
                r.outcome = if e.class() == Some(tug_core::ErrorClass::Cancelled) {
                    "cancelled".into()
                } else {
                    "failed".into()
                };
                r.exit_code = e.code();
                r.error_class = Some(error_class(e).into());
                r.error = Some(scrub(&e.to_string()));
            }
        }
        self.record
    }

    /// Finishes the record and appends it to the history; a failure to write is a warning.
    pub fn save(self, result: &Result<(), CliError>) {
        let record = self.finish(result);
        let Some(dir) = dir() else {
            return;
        };
        if let Err(e) = append(&dir, &record, max_bytes()) {
            errln!(
                "tug: warning: cannot write the history in {}: {e}",
                dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tug_core::retry::Retrying;

    /// The history records the class the core gives every error.
    #[test]
    fn core_errors_are_recorded_with_their_class() {
        for (error, class) in tug_core::error_class::class_table() {
            let e = CliError::Core(error);
            assert_eq!(error_class(&e), class.name(), "{e}");
        }
    }

    fn record(id: &str, pad: usize) -> Record {
        Record {
            id: id.into(),
            command: "push".into(),
            source: "x".repeat(pad),
            outcome: "ok".into(),
            ..Record::default()
        }
    }

    #[test]
    fn appends_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            append(dir.path(), &record(&i.to_string(), 10), DEFAULT_MAX_BYTES).unwrap();
        }
        let (records, bad) = read(dir.path()).unwrap();
        assert_eq!(bad, 0);
        let ids: Vec<_> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2", "3", "4"]);
    }

    /// A line left unfinished (a write cut short by a full disk or a kill) is ended before
    /// the next record, which is read back whole: it was glued onto the unfinished line and
    /// lost with it.
    #[test]
    fn a_record_after_an_unfinished_line_starts_its_own() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &record("0", 10), DEFAULT_MAX_BYTES).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        file.write_all(br#"{"id":"1","comm"#).unwrap();
        drop(file);
        append(dir.path(), &record("2", 10), DEFAULT_MAX_BYTES).unwrap();
        let (records, bad) = read(dir.path()).unwrap();
        let ids: Vec<_> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!((ids, bad), (vec!["0", "2"], 1));
    }

    #[test]
    fn rotation_keeps_the_file_under_the_cap_and_reads_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = serde_json::to_vec(&record("00", 200)).unwrap().len() as u64 + 1;
        let cap = line_len * 3 + 10;
        for i in 0..10 {
            append(dir.path(), &record(&format!("{i:02}"), 200), cap).unwrap();
            let size = fs::metadata(dir.path().join(FILE)).unwrap().len();
            assert!(size <= cap, "{size} > {cap}");
        }
        // 10 records, 3 per file: 09 is alone in the current file, 06..08 in the old one.
        let (records, bad) = read(dir.path()).unwrap();
        assert_eq!(bad, 0);
        let ids: Vec<_> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["06", "07", "08", "09"]);
        assert!(fs::metadata(dir.path().join(OLD_FILE)).unwrap().len() <= cap);
    }

    #[test]
    fn unreadable_lines_are_counted_and_skipped() {
        let ok = serde_json::to_string(&record("a", 1)).unwrap();
        let text = format!("{ok}\n{{\"id\": \"trunc\n\n  \nnot json\n{ok}\n");
        let (records, bad) = parse(text.as_bytes());
        assert_eq!(records.len(), 2);
        assert_eq!(bad, 2);
    }

    #[test]
    fn older_and_newer_records_parse() {
        // Fields missing (older tug) default; unknown fields (newer tug) are ignored.
        let (records, bad) = parse(br#"{"id":"x","command":"pull","future":1}"#);
        assert_eq!(bad, 0);
        assert_eq!(records[0].command, "pull");
        assert!(records[0].blob_timings.is_empty());
    }

    #[test]
    fn concurrent_appends_from_many_threads_never_corrupt_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let dir = dir.path().to_owned();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        // Lines of different lengths, some longer than a pipe buffer.
                        let r = record(&format!("{t}-{i}"), (t * 1500 + i * 37) % 9000);
                        append(&dir, &r, DEFAULT_MAX_BYTES).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = fs::read(dir.path().join(FILE)).unwrap();
        let (records, bad) = parse(&text);
        assert_eq!(bad, 0);
        assert_eq!(records.len(), 400);
        let mut ids: Vec<_> = records.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 400);
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789); // a leap year's 29 Feb
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn ids_are_short_and_differ_by_time() {
        let a = new_id(UNIX_EPOCH + Duration::from_millis(1_709_210_096_789));
        let b = new_id(UNIX_EPOCH + Duration::from_millis(1_709_210_096_790));
        assert_ne!(a, b);
        assert!(a.len() <= 16, "{a}");
    }

    #[test]
    fn recorder_gathers_blob_timings_and_totals() {
        let d1: tug_core::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let d2: tug_core::Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let mut rec = Recorder::new("push", "img.tar", "https://u:p@reg/app:1");
        rec.push_event(&push::Event::BlobSkipped {
            blob: 0,
            digest: d1.clone(),
            size: 10,
        });
        rec.push_event(&push::Event::BlobStarted {
            blob: 1,
            digest: d2.clone(),
            size: 100,
        });
        rec.push_event(&push::Event::Retrying(Retrying {
            what: format!("uploading blob sha256:{}", d2.short()),
            attempt: 2,
            delay: Duration::from_millis(5),
            reason: "503".into(),
            blob: None,
        }));
        let progress = |rate: f64, sent: u64| Progress {
            total_bytes: 110,
            done_bytes: 10,
            skipped_bytes: 10,
            sent_bytes: sent,
            transferred_bytes: sent,
            blobs_total: 2,
            blobs_done: 1,
            blobs_skipped: 1,
            blobs_active: 1,
            blobs_mounted: 0,
            retries: 1,
            bytes_per_second: rate,
            peak_bytes_per_second: rate,
            eta: None,
            elapsed: Duration::ZERO,
        };
        rec.push_event(&push::Event::Progress(progress(300.0, 50)));
        rec.push_event(&push::Event::Progress(progress(100.0, 150)));
        let r = rec.finish(&Err(CliError::Core(tug_core::Error::Cancelled)));
        assert_eq!(r.target, "https://reg/app:1");
        assert_eq!(r.outcome, "cancelled");
        assert_eq!(r.error_class.as_deref(), Some("cancelled"));
        assert_eq!(r.exit_code, 130);
        assert_eq!(r.retries, 1);
        assert_eq!(
            r.peak_bytes_per_second,
            r.avg_bytes_per_second.max(300.0),
            "the highest rate shown, or the average when that is higher"
        );
        assert_eq!(
            (r.bytes_total, r.bytes_transferred, r.bytes_skipped),
            (110, 150, 10)
        );
        assert_eq!((r.blobs, r.blobs_skipped, r.blobs_transferred), (2, 1, 0));
        assert_eq!(r.blob_timings.len(), 2);
        assert_eq!(r.blob_timings[0].outcome, "skipped");
        assert_eq!(r.blob_timings[1].outcome, "unfinished");
        assert_eq!(r.blob_timings[1].retries, 1);
    }
}
