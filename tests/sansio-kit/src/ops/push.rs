//! Driving a [`Push`]: request bodies come from the image's blob bytes; `late` gives the
//! push what comes from elsewhere than the registry (blobs made while it runs).

use tug_core::http::{Body, Request};
use tug_core::push::{Event, Output, PlanManifest, Push, PushConfig, PushPlan, PushReport};
use tug_core::{Digest, Error, Instant, RegistryConfig, Scheme};

use crate::driver::{Cx, Driver, Order, Out, Plug, SendBody};
use crate::model::RegistryModel;

/// What gives a push its late blobs: called with the push, the number of requests answered
/// so far, and whether the push waits on nothing else.
pub type Late<'a> = Box<dyn FnMut(&mut Push, usize, bool) + 'a>;

/// When and how the plug, as a runner making streamed blobs ([`PushPlan::streamed`]),
/// tells the push their bytes ended.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ends {
    /// Only once the push waits on nothing else (after the last chunk's response), rather
    /// than before the next answer.
    pub late: bool,
    /// With a digest the bytes do not have.
    pub lie: bool,
}

/// A push and the blob bytes its plan names.
pub struct PushPlug<'a> {
    pub push: Push,
    /// The bytes of plan blob `i`.
    pub data: Vec<Vec<u8>>,
    pub events: Vec<Event>,
    /// Whether the push may wait on nothing but blobs still to come.
    pub may_idle: bool,
    /// How streamed blobs' ends are told.
    pub ends: Ends,
    /// Streamed blobs whose bytes were all read into a request body, not told yet.
    ended: Vec<usize>,
    /// Streamed blobs told so far.
    told: Vec<usize>,
    /// How many streamed blobs there are (one per key), and the final manifest, given once
    /// every one ended.
    manifest: Option<(usize, PlanManifest)>,
    late: Option<Late<'a>>,
}

impl<'a> PushPlug<'a> {
    /// A push of `plan` (whose blob `i` is `data[i]`) starting at `Instant::ZERO`.
    pub fn new(plan: PushPlan, data: &[Vec<u8>], config: PushConfig) -> PushPlug<'a> {
        PushPlug {
            push: Push::new(plan, config, Instant::ZERO),
            data: data.to_vec(),
            events: Vec::new(),
            may_idle: false,
            ends: Ends::default(),
            ended: Vec::new(),
            told: Vec::new(),
            manifest: None,
            late: None,
        }
    }

    /// The same, for `plan`'s streamed blobs: their ends told as `ends` says, then
    /// `manifest` (a push of streamed blobs may wait for them with nothing in flight).
    pub fn ends(mut self, plan: &PushPlan, ends: Ends, manifest: PlanManifest) -> PushPlug<'a> {
        let mut keys: Vec<&Digest> = plan
            .streamed
            .iter()
            .map(|&i| &plan.blobs[i].digest)
            .collect();
        keys.sort_unstable_by_key(|d| d.to_string());
        keys.dedup();
        self.manifest = Some((keys.len(), manifest));
        self.ends = ends;
        self.may_idle = true;
        self
    }

    /// Whether streamed blobs' ends (and then the final manifest) are still to be told.
    pub fn awaiting_ends(&self) -> bool {
        self.manifest.is_some()
    }

    /// Whether a streamed blob's bytes were all sent and the push was not told yet.
    pub fn has_untold_ends(&self) -> bool {
        !self.ended.is_empty()
    }

    /// Tells the push the streamed blobs whose bytes ended (and, after the last, the
    /// final manifest), as a runner does when a compressor ends; whether it told anything
    /// (acting on the push as an input does).
    pub fn tell_ends(&mut self) -> bool {
        let told = !self.ended.is_empty();
        for blob in std::mem::take(&mut self.ended) {
            let data = &self.data[blob];
            let digest = match self.ends.lie {
                true => Digest::sha256_of(b"not these bytes"),
                false => Digest::sha256_of(data),
            };
            self.push
                .handle_blob_end(blob, digest, data.len() as u64)
                .expect("contract: a streamed blob's end was refused");
            if !self.told.contains(&blob) {
                self.told.push(blob);
            }
        }
        if let Some((count, _)) = &self.manifest {
            if self.told.len() == *count {
                let (_, manifest) = self.manifest.take().expect("there");
                // It may have failed meanwhile; the manifest then changes nothing.
                let _ = self.push.handle_manifests(manifest, Vec::new());
            }
        }
        told
    }

    /// The same, with `late` giving it blobs as they are made.
    pub fn late(mut self, late: Late<'a>) -> PushPlug<'a> {
        self.late = Some(late);
        self.may_idle = true;
        self
    }

    /// The bytes of a request body, as a runner streams them; checks a blob range lies
    /// inside its blob.
    fn body(&self, body: &Body) -> Vec<u8> {
        match body {
            Body::Empty => Vec::new(),
            Body::Bytes(b) => b.clone(),
            Body::BlobRange { blob, start, end } => {
                let data = self.data.get(*blob).unwrap_or_else(|| {
                    panic!("contract: BlobRange names blob {blob}, not in the plan")
                });
                assert!(
                    start <= end && *end <= data.len() as u64,
                    "contract: BlobRange {start}..{end} of blob {blob} outside its {} bytes",
                    data.len()
                );
                data[*start as usize..*end as usize].to_vec()
            }
            Body::BlobStream { blob, start, max } => {
                let data = self.data.get(*blob).unwrap_or_else(|| {
                    panic!("contract: BlobStream names blob {blob}, not in the plan")
                });
                let len = data.len() as u64;
                let start = (*start).min(len);
                let end = start.saturating_add(*max).min(len);
                data[start as usize..end as usize].to_vec()
            }
        }
    }

    /// Notes a streamed body that reads its blob to the end: the runner learns its digest
    /// and size there.
    fn note_end(&mut self, body: &Body) {
        if let Body::BlobStream { blob, start, max } = body {
            let len = self.data[*blob].len() as u64;
            if start.saturating_add(*max) >= len && !self.ended.contains(blob) {
                self.ended.push(*blob);
            }
        }
    }
}

impl Plug for PushPlug<'_> {
    type Op = Push;
    type Report = PushReport;

    fn op(&mut self) -> &mut Push {
        &mut self.push
    }

    fn op_ref(&self) -> &Push {
        &self.push
    }

    fn next(&mut self, _cx: &Cx) -> Option<Out<PushReport>> {
        Some(match self.push.poll()? {
            Output::Send(req) => {
                if let Body::BlobStream { .. } = req.body {
                    assert!(
                        !req.headers.contains_key("content-length"),
                        "contract: a streamed body with a Content-Length"
                    );
                }
                let body = SendBody::Bytes(self.body(&req.body));
                self.note_end(&req.body);
                Out::Send { req, to: 0, body }
            }
            Output::Abort(id) => Out::Abort(id),
            Output::Event(e) => {
                self.events.push(e);
                Out::Other
            }
            Output::Finished(result) => {
                assert!(
                    self.push.is_finished(),
                    "contract: Finished but not is_finished"
                );
                Out::Finished(result)
            }
            Output::Timeout(at) => Out::Timeout(at),
        })
    }

    fn may_idle(&self) -> bool {
        self.may_idle
    }

    fn between(&mut self, answered: usize, idle: bool) {
        if !self.ends.late || idle {
            let _ = self.tell_ends();
        }
        if let Some(late) = &mut self.late {
            late(&mut self.push, answered, idle);
        }
    }
}

/// What a push run leaves to look at.
pub struct Run {
    pub result: Result<PushReport, Error>,
    pub events: Vec<Event>,
    pub requests: Vec<Request>,
    /// The most requests that were waiting for an answer at once.
    pub max_in_flight: usize,
    pub end: Instant,
}

impl Run {
    /// Runs `driver` to the end and collects the run.
    pub fn of(mut driver: Driver<'_, PushPlug<'_>>) -> Run {
        driver.run();
        Run {
            result: driver.result.take().expect("finished"),
            events: std::mem::take(&mut driver.plug.events),
            requests: driver.requests.into_iter().map(|(_, r)| r).collect(),
            max_in_flight: driver.max_in_flight,
            end: driver.now,
        }
    }
}

/// Plain HTTP, small blobs in one `PUT` up to 1000 bytes, 700-byte chunks above: the push
/// settings most scenarios use.
pub fn small_chunks() -> PushConfig {
    PushConfig {
        registry: RegistryConfig {
            scheme: Scheme::Http,
            ..PushConfig::default().registry
        },
        monolithic_max: 1000,
        chunk_size: 700,
        ..PushConfig::default()
    }
}

/// Pushes `plan` (blob `i` is `data[i]`) to `model`, answering requests oldest first.
pub fn run_push(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
) -> Run {
    run_push_ordered(model, plan, data, config, Order::Fifo)
}

/// [`run_push`], answering in `order`.
pub fn run_push_ordered(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
    order: Order,
) -> Run {
    let plug = PushPlug::new(plan, data, config);
    Run::of(Driver::new(plug, vec![model]).order(order))
}

/// Like [`run_push`], for a plan with streamed blobs: their ends are told as `ends` says,
/// then the final `manifest`.
pub fn run_push_streamed(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
    ends: Ends,
    manifest: PlanManifest,
) -> Run {
    let plug = PushPlug::new(plan.clone(), data, config).ends(&plan, ends, manifest);
    Run::of(Driver::new(plug, vec![model]))
}

/// Like [`run_push`], also giving the push what comes from elsewhere than the registry
/// (blobs made while it runs): `late` is called with the number of requests answered so
/// far, and whether the push waits on nothing else (`idle`), before each answer.
pub fn run_push_late(
    model: &mut RegistryModel,
    plan: PushPlan,
    data: &[Vec<u8>],
    config: PushConfig,
    late: &mut dyn FnMut(&mut Push, usize, bool),
) -> Run {
    let plug = PushPlug::new(plan, data, config).late(Box::new(late));
    Run::of(Driver::new(plug, vec![model]))
}
