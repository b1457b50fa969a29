//! Driving a [`Copy`]: each side's requests go to its own model (the sources' first, the
//! target's last), and upload bodies are streamed by the copy itself from the source.

use std::collections::HashMap;

use tug_core::copy::{Copy, CopyConfig, CopyPlan, Event, Output, Side};
use tug_core::http::{Body, Request};
use tug_core::push::PushReport;
use tug_core::{Error, Instant};

use crate::driver::{Cx, Driver, Order, Out, Plug, SendBody};
use crate::model::RegistryModel;

/// A copy; `Side::Source(i)` is answered by model `i`, the target by model `target`.
pub struct CopyPlug {
    pub copy: Copy,
    pub events: Vec<Event>,
    /// The index of the target's model (the number of sources).
    pub target: usize,
}

impl CopyPlug {
    /// A copy of `plan`, starting at `Instant::ZERO`.
    pub fn new(plan: CopyPlan, config: CopyConfig) -> CopyPlug {
        let target = plan.sources.len();
        CopyPlug {
            copy: Copy::new(plan, config, Instant::ZERO),
            events: Vec::new(),
            target,
        }
    }
}

impl Plug for CopyPlug {
    type Op = Copy;
    type Report = PushReport;

    fn op(&mut self) -> &mut Copy {
        &mut self.copy
    }

    fn op_ref(&self) -> &Copy {
        &self.copy
    }

    fn next(&mut self, _cx: &Cx) -> Option<Out<PushReport>> {
        Some(match self.copy.poll()? {
            Output::Send(side, req) => {
                let to = match side {
                    Side::Source(i) => i,
                    Side::Target => self.target,
                };
                let body = match &req.body {
                    Body::Empty => SendBody::Bytes(Vec::new()),
                    Body::Bytes(b) => SendBody::Bytes(b.clone()),
                    Body::BlobRange { .. } | Body::BlobStream { .. } => SendBody::Streamed,
                };
                Out::Send { req, to, body }
            }
            Output::BodyData(id, data) => Out::BodyData(id, data),
            Output::BodyEnd(id) => Out::BodyEnd(id),
            Output::BodyFailed(id, message) => Out::BodyFailed(id, message),
            Output::Abort(_, id) => Out::Abort(id),
            Output::Event(e) => {
                self.events.push(e);
                Out::Other
            }
            Output::Finished(result) => Out::Finished(result),
            Output::Timeout(at) => Out::Timeout(at),
        })
    }
}

/// What a copy run leaves to look at.
pub struct CopyRun {
    pub result: Result<PushReport, Error>,
    pub events: Vec<Event>,
    /// The requests each model got (by index: the sources', then the target's).
    pub sent: HashMap<usize, Vec<Request>>,
}

/// Copies `plan`: `sources[i]` answers `Side::Source(i)`, `target` the target.
pub fn run_copy(
    sources: &mut [RegistryModel],
    target: &mut RegistryModel,
    plan: CopyPlan,
    config: CopyConfig,
    order: Order,
) -> CopyRun {
    let mut models: Vec<&mut RegistryModel> = sources.iter_mut().collect();
    models.push(target);
    let mut driver = Driver::new(CopyPlug::new(plan, config), models).order(order);
    driver.run();
    let mut sent: HashMap<usize, Vec<Request>> = HashMap::new();
    for (to, req) in std::mem::take(&mut driver.requests) {
        sent.entry(to).or_default().push(req);
    }
    CopyRun {
        result: driver.result.take().expect("finished"),
        events: std::mem::take(&mut driver.plug.events),
        sent,
    }
}
