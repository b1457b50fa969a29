//! A `Pull` driven by a script of registry responses (see `fuzz/src/script.rs`): the
//! registry model serves the script's blobs and manifests (by tag and digest, ranges,
//! redirects to storage, Basic or Bearer auth), and each action answers a request in flight
//! — as the model would, with a changed status or headers (Location, Content-Range,
//! Content-Type, Docker-Content-Digest, WWW-Authenticate, Retry-After, ...), or byte by byte
//! — breaks it, or moves the clock. When the actions run out, every request in flight fails
//! for good and timers fire, so the pull must finish within a bound.
//!
//! Checked besides "no panic": one `Finished` and nothing after it; writes to a blob's
//! temporary file are sequential; a `Commit`ted blob's bytes match its digest; a finished
//! pull has every blob of its images committed or already present; progress adds up; no
//! request id is reused while in flight; inputs about unknown ids are refused; no due timer
//! survives `handle_timeout`; the pull never waits with nothing in flight and no timer.

#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};

use libfuzzer_sys::fuzz_target;
use tug_core::digest::Hasher;
use tug_core::error::Misuse;
use tug_core::http::ResponseHead;
use tug_core::operation::Operation;
use tug_core::pull::{Event, Output, Pull, PullConfig, PullPlan};
use tug_core::retry::RetryPolicy;
use tug_core::{Digest, Instant, Platform};
use tug_fuzz::responder::{Driven, Responder, DRAIN_BOUND, FINISH_BOUND};
use tug_fuzz::script::{Script, Setup};

/// A pull whose outputs are collected after every input, so the driver knows at once
/// when it finished.
struct PullOp {
    pull: Pull,
    out: VecDeque<Output>,
    finished: bool,
}

impl PullOp {
    fn collect(&mut self) {
        for _ in 0..DRAIN_BOUND {
            match self.pull.poll() {
                Some(o) => {
                    if matches!(o, Output::Finished(_)) {
                        assert!(!self.finished, "contract: Finished twice");
                        self.finished = true;
                    } else {
                        assert!(!self.finished, "contract: output after Finished: {o:?}");
                    }
                    self.out.push_back(o);
                }
                None => return,
            }
        }
        panic!("liveness: poll() produced {DRAIN_BOUND} outputs without stopping");
    }
}

impl Operation for PullOp {
    fn handle_input(&mut self, now: Instant, input: tug_core::Input<'_>) -> Result<(), Misuse> {
        let r = self.pull.handle_input(now, input);
        self.collect();
        r
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.pull.poll_timeout()
    }
    fn cancel(&mut self) {
        self.pull.cancel();
        self.collect();
    }
}

impl Driven for PullOp {
    fn done(&self) -> bool {
        self.finished
    }
}

/// The runner's disk: temporary files per blob, and committed blobs.
#[derive(Default)]
struct Disk {
    temp: HashMap<Digest, Vec<u8>>,
    committed: HashSet<Digest>,
    transferred: u64,
    result: Option<Result<tug_core::pull::PullReport, tug_core::Error>>,
}

fn digest_of(d: &Digest, bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(d.algorithm());
    h.update(bytes);
    h.finish()
}

impl Disk {
    /// Handles every collected output, checking the contracts on each.
    fn take(&mut self, op: &mut PullOp, responder: &mut Responder) {
        while let Some(o) = op.out.pop_front() {
            match o {
                Output::Send(req) => responder.sent(req),
                Output::Abort(id) => responder.aborted(id),
                Output::Write {
                    digest,
                    offset,
                    data,
                } => {
                    assert!(
                        !self.committed.contains(&digest),
                        "contract: a write to committed blob {digest}"
                    );
                    let file = self.temp.entry(digest.clone()).or_default();
                    assert_eq!(
                        file.len() as u64,
                        offset,
                        "contract: a write at {offset} to blob {digest}'s {}-byte temporary file",
                        file.len()
                    );
                    file.extend_from_slice(&data);
                }
                Output::Commit { digest } => {
                    let data = self.temp.remove(&digest).unwrap_or_default();
                    assert_eq!(
                        digest_of(&digest, &data),
                        digest,
                        "contract: committed blob's {} bytes do not match its digest",
                        data.len()
                    );
                    assert!(
                        self.committed.insert(digest.clone()),
                        "contract: blob {digest} committed twice"
                    );
                }
                Output::Discard { digest } => {
                    assert!(
                        !self.committed.contains(&digest),
                        "contract: discarding committed blob {digest}"
                    );
                    self.temp.remove(&digest);
                }
                Output::Event(e) => {
                    match &e {
                        Event::Progress(p) => {
                            assert!(
                                p.done_bytes <= p.total_bytes
                                    && p.skipped_bytes <= p.done_bytes
                                    && p.blobs_done <= p.blobs_total
                                    && p.blobs_skipped <= p.blobs_done,
                                "property: inconsistent progress {p:?}"
                            );
                            assert!(
                                p.transferred_bytes >= self.transferred,
                                "property: transferred bytes went back from {} to {}",
                                self.transferred,
                                p.transferred_bytes
                            );
                            self.transferred = p.transferred_bytes;
                        }
                        Event::BlobProgress { received, size, .. } => assert!(
                            received <= size,
                            "property: {received} bytes received of a {size}-byte blob"
                        ),
                        _ => {}
                    }
                    let _ = format!("{e:?}");
                }
                Output::Finished(result) => {
                    if let Err(e) = &result {
                        let _ = e.to_string();
                    }
                    if tug_fuzz::verbose() {
                        let summary = result.as_ref().map(|r| {
                            format!(
                                "{} image(s), {} blob(s) downloaded, {} skipped, {} retries",
                                r.images.len(),
                                r.blobs_downloaded,
                                r.blobs_skipped,
                                r.retries
                            )
                        });
                        tug_fuzz::describe("pull", &summary);
                    }
                    self.result = Some(result);
                }
            }
        }
    }
}

fn check_report(disk: &Disk, setup: &Setup, have: &[Digest]) {
    let Some(Ok(report)) = &disk.result else {
        return;
    };
    let root = &report.root;
    assert_eq!(
        digest_of(&root.digest, &root.bytes),
        root.digest,
        "contract: the root manifest's bytes do not match its digest"
    );
    for image in &report.images {
        let m = &image.manifest;
        assert_eq!(
            digest_of(&m.digest, &m.bytes),
            m.digest,
            "contract: a pulled manifest's bytes do not match its digest"
        );
        if setup.manifests_only {
            continue;
        }
        for d in std::iter::once(&image.config).chain(&image.layers) {
            assert!(
                disk.committed.contains(&d.digest) || have.contains(&d.digest),
                "contract: the pull succeeded without blob {}",
                d.digest
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let script = Script::parse(data);
    let setup = script.setup.clone();
    let have: Vec<Digest> = setup.have.iter().filter_map(|h| h.parse().ok()).collect();
    let plan = PullPlan {
        registry: setup.registry.clone(),
        repository: setup.repository.clone(),
        reference: setup.reference.clone(),
        platform: setup
            .platform
            .parse::<Platform>()
            .unwrap_or_else(|_| Platform::from_rust("linux", "x86_64")),
        all_platforms: setup.all_platforms,
        have: have.clone(),
        manifests_only: setup.manifests_only,
    };
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: setup.scheme,
            credentials: setup.credentials.clone(),
            retry: RetryPolicy {
                max_attempts: setup.attempts,
                base_delay: setup.delay,
                max_delay: setup.max_delay,
                seed: setup.seed,
                budget: setup.budget,
            },
            // No deadline, or one that slow scripted answers may miss.
            stall_timeout: std::time::Duration::from_millis((setup.seed >> 8) % 3 * 700),
            // Both kinds of runtime: bodies seen leaving, or not.
            body_progress: if setup.seed & 4 == 0 {
                tug_core::limits::BodyProgress::Seen
            } else {
                tug_core::limits::BodyProgress::Unseen
            },
            user_agent: "tug-fuzz".into(),
        },
        transfer: tug_core::TransferConfig {
            jobs: setup.jobs,
            // Both ways of choosing the blobs in flight.
            adaptive: setup.seed % 2 == 1,
            progress_interval: std::time::Duration::from_millis(200),
        },
    };
    let mut responder = Responder::new(setup.clone());
    let mut op = PullOp {
        pull: Pull::new(plan, config, responder.now),
        out: VecDeque::new(),
        finished: false,
    };
    op.collect();
    let mut disk = Disk::default();
    disk.take(&mut op, &mut responder);

    let live = |op: &PullOp, responder: &Responder| {
        if !op.finished {
            assert!(
                !responder.pending.is_empty() || op.poll_timeout().is_some(),
                "liveness: the pull waits with nothing in flight and no timer"
            );
        }
    };
    live(&op, &responder);
    for action in &script.actions {
        if op.finished {
            break;
        }
        responder.act(&mut op, action);
        disk.take(&mut op, &mut responder);
        live(&op, &responder);
    }
    for _ in 0..FINISH_BOUND {
        if op.finished || !responder.wind_down_step(&mut op) {
            break;
        }
        disk.take(&mut op, &mut responder);
    }
    assert!(
        op.finished,
        "liveness: the pull did not finish within {FINISH_BOUND} wind-down steps"
    );
    check_report(&disk, &setup, &have);

    // After Finished: inputs about requests it dropped are accepted and change nothing;
    // nothing more comes out.
    for p in &responder.pending {
        for input in [
            tug_core::Input::Response(p.req.id, ResponseHead::new(200)),
            tug_core::Input::BodyChunk(p.req.id, b"late"),
            tug_core::Input::BodyEnd(p.req.id),
        ] {
            assert!(
                op.pull.handle_input(responder.now, input).is_ok(),
                "contract: an input about a dropped request is a misuse"
            );
        }
    }
    op.pull
        .handle_input(
            responder.now + std::time::Duration::from_secs(3600),
            tug_core::Input::Timeout,
        )
        .unwrap();
    assert!(op.pull.poll().is_none(), "contract: output after Finished");
    assert!(
        op.pull.poll_timeout().is_none(),
        "contract: a timer after Finished"
    );
});
