//! Per-blob timings of one transfer, folded from its events with the time as input: when
//! each blob started and ended, how, and what was retried. What the CLI's `tug history show`
//! and the web page's history show and export, made once here for every runner.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::retry::Retrying;
use crate::time::Instant;
use crate::{pull, push};

/// What happened to one blob, in milliseconds since the transfer started.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BlobTiming {
    /// The blob's digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it started (first seen), in milliseconds since the transfer started.
    pub start_ms: u64,
    /// When it ended (or the list was made, while unfinished).
    pub end_ms: u64,
    /// `pushed`, `downloaded`, `skipped`, `mounted`, or [`UNFINISHED`] (the transfer ended
    /// first).
    pub outcome: String,
    /// Bytes an earlier run had moved: a download continued from its partial file, an upload
    /// from its session.
    #[serde(skip_serializing_if = "is_zero")]
    pub resumed_from: u64,
    /// Retries of its requests.
    pub retries: u32,
}

/// The outcome of a blob the transfer ended before.
pub const UNFINISHED: &str = "unfinished";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The timings of one transfer's blobs, in the order they were first seen.
#[derive(Clone, Debug)]
pub struct BlobTimings {
    start: Instant,
    timings: Vec<BlobTiming>,
    by_digest: HashMap<String, usize>,
}

impl BlobTimings {
    /// The timings of a transfer that started at `start`.
    pub fn new(start: Instant) -> BlobTimings {
        BlobTimings {
            start,
            timings: Vec::new(),
            by_digest: HashMap::new(),
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_since(self.start).as_millis() as u64
    }

    /// Blob `digest`'s timing, started `now` when first seen.
    fn blob(&mut self, now: Instant, digest: &impl ToString, size: u64) -> &mut BlobTiming {
        let at = self.ms(now);
        let key = digest.to_string();
        let next = self.timings.len();
        let i = *self.by_digest.entry(key.clone()).or_insert(next);
        if i == next {
            self.timings.push(BlobTiming {
                digest: key,
                size,
                start_ms: at,
                end_ms: at,
                outcome: UNFINISHED.to_owned(),
                ..BlobTiming::default()
            });
        }
        &mut self.timings[i]
    }

    fn end(&mut self, now: Instant, digest: &impl ToString, size: u64, outcome: &str) {
        let at = self.ms(now);
        let b = self.blob(now, digest, size);
        b.end_ms = at;
        b.outcome = outcome.to_owned();
    }

    /// A retry counts against the blob the core names; else one whose digest `what` names
    /// (a 12-digit prefix).
    fn retry(&mut self, r: &Retrying) {
        let named = |b: &&mut BlobTiming| match &r.blob {
            Some(d) => b.digest == d.to_string(),
            None => b.digest.len() > 19 && r.what.contains(&b.digest[7..19]),
        };
        if let Some(b) = self.timings.iter_mut().find(named) {
            b.retries += 1;
        }
    }

    /// Takes in a push's (or a copy's) event, seen `now`.
    pub fn push_event(&mut self, now: Instant, e: &push::Event) {
        use push::Event as E;
        match e {
            E::BlobStarted { digest, size, .. } => {
                self.blob(now, digest, *size);
            }
            E::BlobResumed {
                digest, from, size, ..
            } => self.blob(now, digest, *size).resumed_from = *from,
            E::BlobCommitted { digest, size, .. } => self.end(now, digest, *size, "pushed"),
            E::BlobSkipped { digest, size, .. } => self.end(now, digest, *size, "skipped"),
            E::BlobMounted { digest, size, .. } => self.end(now, digest, *size, "mounted"),
            E::Retrying(r) => self.retry(r),
            _ => {}
        }
    }

    /// Takes in a pull's event, seen `now`.
    pub fn pull_event(&mut self, now: Instant, e: &pull::Event) {
        use pull::Event as E;
        match e {
            E::BlobStarted { digest, size } => {
                self.blob(now, digest, *size);
            }
            E::BlobResumed { digest, from, size } => {
                self.blob(now, digest, *size).resumed_from = *from
            }
            E::BlobDone { digest, size } => self.end(now, digest, *size, "downloaded"),
            E::BlobSkipped { digest, size } => self.end(now, digest, *size, "skipped"),
            E::Retrying(r) => self.retry(r),
            _ => {}
        }
    }

    /// The timings as of `now`: those of blobs still unfinished end then.
    pub fn list(&self, now: Instant) -> Vec<BlobTiming> {
        let at = self.ms(now);
        let mut list = self.timings.clone();
        for b in list.iter_mut().filter(|b| b.outcome == UNFINISHED) {
            b.end_ms = at;
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Digest;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn retrying(what: &str, blob: Option<Digest>) -> Retrying {
        Retrying {
            what: what.into(),
            attempt: 2,
            delay: Duration::from_millis(500),
            reason: "500 from registry".into(),
            blob,
        }
    }

    /// A push's blobs from start to end, a retry counted against the blob its text names, a
    /// blob the registry had, one still moving when the list is asked for.
    #[test]
    fn a_push_s_blobs_are_timed_from_their_events() {
        let (a, b, c) = (
            Digest::sha256_of(b"a"),
            Digest::sha256_of(b"b"),
            Digest::sha256_of(b"c"),
        );
        let mut t = BlobTimings::new(at(1000));
        t.push_event(
            at(1010),
            &push::Event::BlobStarted {
                blob: 0,
                digest: a.clone(),
                size: 5,
            },
        );
        let what = format!("uploading blob {}", &a.to_string()[..19]);
        t.push_event(at(1050), &push::Event::Retrying(retrying(&what, None)));
        t.push_event(
            at(1100),
            &push::Event::BlobCommitted {
                blob: 0,
                digest: a.clone(),
                size: 5,
            },
        );
        t.push_event(
            at(1100),
            &push::Event::BlobSkipped {
                blob: 1,
                digest: b.clone(),
                size: 7,
            },
        );
        t.push_event(
            at(1200),
            &push::Event::BlobStarted {
                blob: 2,
                digest: c.clone(),
                size: 9,
            },
        );
        let timing = |d: &Digest, size, start_ms, end_ms, outcome: &str, retries| BlobTiming {
            digest: d.to_string(),
            size,
            start_ms,
            end_ms,
            outcome: outcome.into(),
            resumed_from: 0,
            retries,
        };
        assert_eq!(
            t.list(at(1300)),
            [
                timing(&a, 5, 10, 100, "pushed", 1),
                timing(&b, 7, 100, 100, "skipped", 0),
                timing(&c, 9, 200, 300, UNFINISHED, 0),
            ]
        );
    }

    /// A pull's blob ends as downloaded; one continued from an earlier run's bytes says from
    /// where; a retry the core names the blob of counts against it.
    #[test]
    fn a_pull_s_blobs_are_timed_and_resumed_ones_say_from_where() {
        let d = Digest::sha256_of(b"d");
        let mut t = BlobTimings::new(Instant::ZERO);
        t.pull_event(
            at(20),
            &pull::Event::BlobResumed {
                digest: d.clone(),
                from: 4096,
                size: 8192,
            },
        );
        t.pull_event(
            at(30),
            &pull::Event::Retrying(retrying("downloading", Some(d.clone()))),
        );
        t.pull_event(
            at(70),
            &pull::Event::BlobDone {
                digest: d.clone(),
                size: 8192,
            },
        );
        let list = t.list(at(100));
        assert_eq!(
            list,
            [BlobTiming {
                digest: d.to_string(),
                size: 8192,
                start_ms: 20,
                end_ms: 70,
                outcome: "downloaded".into(),
                resumed_from: 4096,
                retries: 1,
            }]
        );
        let json = serde_json::to_value(&list[0]).unwrap();
        assert_eq!(json["resumed_from"], 4096);
        let fresh = BlobTiming::default();
        let json = serde_json::to_value(&fresh).unwrap();
        assert!(json.get("resumed_from").is_none(), "{json}");
    }
}
