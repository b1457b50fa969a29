//! Driving a [`Pull`] onto an in-memory disk (its [`BlobSink`]): `Write`s go to a temporary
//! file per blob, `Commit` moves one into place, `Discard` drops it — each checked as a
//! runner relies on (writes are sequential, a committed blob's bytes match its digest,
//! progress adds up).

use std::collections::HashMap;

use tug_core::digest::Hasher;
use tug_core::http::Request;
use tug_core::pull::{BlobSink, Event, Output, Pull, PullConfig, PullPlan, PullReport};
use tug_core::{Digest, Error, Instant, RegistryConfig, Scheme};

use crate::driver::{Cx, Driver, Order, Out, Plug, SendBody};
use crate::model::RegistryModel;

/// The runner's disk: a temporary file per blob, and the blobs moved into place — the
/// pull's [`BlobSink`], checking each write, commit and discard as a runner relies on.
#[derive(Default)]
pub struct Disk {
    /// Temporary files, per blob.
    pub temp: HashMap<Digest, Vec<u8>>,
    /// Blobs moved into place.
    pub committed: HashMap<Digest, Vec<u8>>,
    pub commits: usize,
}

impl BlobSink for Disk {
    type Error = std::convert::Infallible;

    fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> Result<(), Self::Error> {
        assert!(
            !self.committed.contains_key(digest),
            "contract: a write to committed blob {digest}"
        );
        let file = self.temp.entry(digest.clone()).or_default();
        assert_eq!(
            file.len() as u64,
            offset,
            "contract: a write at {offset} to blob {digest}'s {}-byte temporary file",
            file.len()
        );
        file.extend_from_slice(data);
        Ok(())
    }

    fn commit(&mut self, digest: &Digest) -> Result<(), Self::Error> {
        let data = self.temp.remove(digest).unwrap_or_default();
        assert_eq!(
            digest_of(digest, &data),
            *digest,
            "contract: committed blob's {} bytes do not match its digest",
            data.len()
        );
        assert!(
            self.committed.insert(digest.clone(), data).is_none(),
            "contract: blob {digest} committed twice"
        );
        self.commits += 1;
        Ok(())
    }

    fn discard(&mut self, digest: &Digest) {
        assert!(
            !self.committed.contains_key(digest),
            "contract: discarding committed blob {digest}"
        );
        self.temp.remove(digest);
    }
}

/// A pull and the runner's disk.
pub struct PullPlug {
    pub pull: Pull,
    pub disk: Disk,
    pub events: Vec<Event>,
    /// Blobs the plan says the runner has.
    have: Vec<Digest>,
    manifests_only: bool,
    /// Transferred bytes as the last progress said.
    transferred: u64,
}

/// `bytes`' digest with `d`'s algorithm.
fn digest_of(d: &Digest, bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(d.algorithm());
    h.update(bytes);
    h.finish()
}

impl PullPlug {
    /// A pull of `plan` starting at `Instant::ZERO`, given the temporary files an earlier run
    /// left (`partials`) in pieces before it starts.
    pub fn new(plan: PullPlan, config: PullConfig, partials: HashMap<Digest, Vec<u8>>) -> Self {
        let have = plan.have.clone();
        let manifests_only = plan.manifests_only;
        let mut pull = Pull::new(plan, config, Instant::ZERO);
        for (digest, bytes) in &partials {
            for piece in bytes.chunks(777) {
                pull.handle_partial(digest, piece).unwrap();
            }
        }
        PullPlug {
            pull,
            disk: Disk {
                temp: partials,
                ..Disk::default()
            },
            events: Vec::new(),
            have,
            manifests_only,
            transferred: 0,
        }
    }

    fn event(&mut self, e: &Event) {
        match e {
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
    }

    /// What a finished pull promises: manifests match their digests; after a success,
    /// every blob of its images is committed or was there already.
    fn check_report(&self, report: &PullReport) {
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
            if self.manifests_only {
                continue;
            }
            for d in std::iter::once(&image.config).chain(&image.layers) {
                assert!(
                    self.disk.committed.contains_key(&d.digest) || self.have.contains(&d.digest),
                    "contract: the pull succeeded without blob {}",
                    d.digest
                );
            }
        }
    }
}

impl Plug for PullPlug {
    type Op = Pull;
    type Report = PullReport;

    fn op(&mut self) -> &mut Pull {
        &mut self.pull
    }

    fn op_ref(&self) -> &Pull {
        &self.pull
    }

    fn next(&mut self, _cx: &Cx) -> Option<Out<PullReport>> {
        let out = match self.pull.poll()?.store_in(&mut self.disk) {
            Ok(Some(out)) => out,
            Ok(None) => return Some(Out::Other),
            Err(never) => match never {},
        };
        Some(match out {
            Output::Send(req) => Out::Send {
                req,
                to: 0,
                body: SendBody::Bytes(Vec::new()),
            },
            Output::Abort(id) => Out::Abort(id),
            Output::Event(e) => {
                self.event(&e);
                self.events.push(e);
                Out::Other
            }
            Output::Finished(result) => {
                if let Ok(report) = &result {
                    self.check_report(report);
                }
                Out::Finished(result)
            }
            Output::Timeout(at) => Out::Timeout(at),
            Output::Write { .. } | Output::Commit { .. } | Output::Discard { .. } => {
                unreachable!("kept by the disk")
            }
        })
    }
}

/// What a pull run leaves to look at.
pub struct PullRun {
    pub result: Result<PullReport, Error>,
    pub events: Vec<Event>,
    pub requests: Vec<Request>,
    /// Blobs the runner moved into place.
    pub committed: HashMap<Digest, Vec<u8>>,
    /// Temporary files left behind (none after a success; a failure keeps prefixes).
    pub leftovers: Vec<Digest>,
    /// Their contents.
    pub kept: HashMap<Digest, Vec<u8>>,
    pub commits: usize,
    pub end: Instant,
}

impl PullRun {
    /// Runs `driver` to the end and collects the run.
    pub fn of(mut driver: Driver<'_, PullPlug>) -> PullRun {
        driver.run();
        let plug = &mut driver.plug;
        PullRun {
            result: driver.result.take().expect("finished"),
            events: std::mem::take(&mut plug.events),
            requests: driver.requests.into_iter().map(|(_, r)| r).collect(),
            committed: std::mem::take(&mut plug.disk.committed),
            leftovers: plug.disk.temp.keys().cloned().collect(),
            kept: std::mem::take(&mut plug.disk.temp),
            commits: plug.disk.commits,
            end: driver.now,
        }
    }
}

/// Plain HTTP and the default pull settings.
pub fn plain_pull() -> PullConfig {
    PullConfig {
        registry: RegistryConfig {
            scheme: Scheme::Http,
            ..PullConfig::default().registry
        },
        ..PullConfig::default()
    }
}

/// `team/app:v1` from `127.0.0.1:5000`, for linux/amd64.
pub fn pull_plan() -> PullPlan {
    PullPlan {
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: "v1".into(),
        platform: "linux/amd64".parse().expect("a platform"),
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
        platform_required: false,
    }
}

/// Pulls `plan` from `model`, answering requests oldest first.
pub fn run_pull(model: &mut RegistryModel, plan: PullPlan, config: PullConfig) -> PullRun {
    run_pull_resuming(model, plan, config, HashMap::new())
}

/// [`run_pull`] with temporary files an earlier run left (`partials`).
pub fn run_pull_resuming(
    model: &mut RegistryModel,
    plan: PullPlan,
    config: PullConfig,
    partials: HashMap<Digest, Vec<u8>>,
) -> PullRun {
    run_pull_ordered(model, plan, config, partials, Order::Fifo)
}

/// [`run_pull_resuming`], answering in `order`.
pub fn run_pull_ordered(
    model: &mut RegistryModel,
    plan: PullPlan,
    config: PullConfig,
    partials: HashMap<Digest, Vec<u8>>,
    order: Order,
) -> PullRun {
    let plug = PullPlug::new(plan, config, partials);
    PullRun::of(Driver::new(plug, vec![model]).order(order))
}
