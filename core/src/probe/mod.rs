//! The version check alone: what it learns of a registry ([`Reached`]) is handed to the
//! next operations on it (in [`RegistryConfig::reached`]) so that they skip theirs — a
//! `tug sync` runs thousands of operations on two registries, and each one's `GET /v2/`
//! (twice, with a Basic challenge) was most of its requests.

use crate::config::{Reached, RegistryConfig};
use crate::engine::{Cx, Engine, Failure, Outbox, Parts, Protocol, Response};
use crate::error::Error;
use crate::one_shot::Output;
use crate::session::Session;
use crate::time::Instant;

/// Only the version check: what it learned, for the operations that follow.
#[derive(Debug)]
pub struct Probe {
    engine: Engine<Probing>,
}

impl Probe {
    /// Starts the version check of `registry` with `config` at `now`.
    pub fn new(registry: &str, config: &RegistryConfig, now: Instant) -> Probe {
        let session = Session::new(registry, config, now);
        let probing = Probing {
            outputs: Outbox::default(),
            done: false,
        };
        Probe {
            engine: Engine::new(probing, session),
        }
    }
}

crate::engine::engine_api!(Probe, Output<Reached>);

/// The probe's protocol: no step of its own; it finishes when the check passes.
#[derive(Debug)]
struct Probing {
    outputs: Outbox<Output<Reached>>,
    done: bool,
}

/// The probe has no step: a value that is never made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoStep {}

impl Protocol for Probing {
    type Step = NoStep;
    type Output = Output<Reached>;

    fn outbox(&mut self) -> &mut Outbox<Self::Output> {
        &mut self.outputs
    }

    fn describe(&self, step: NoStep) -> String {
        match step {}
    }

    fn request(&mut self, step: NoStep, _: &Cx<NoStep>) -> Result<Option<Parts>, Error> {
        match step {}
    }

    fn start(&mut self, cx: &mut Cx<NoStep>) {
        self.done = true;
        self.outputs.push(Output::Finished(Ok(cx.reached())));
    }

    fn on_response(
        &mut self,
        step: NoStep,
        _: Response<'_>,
        _: &mut Cx<NoStep>,
    ) -> Result<(), Failure> {
        match step {}
    }

    fn retry_as(&mut self, step: NoStep) -> Option<(NoStep, &mut u32)> {
        match step {}
    }

    fn fail(&mut self, _: Option<NoStep>, error: Error, _: &mut Cx<NoStep>) {
        if !self.done {
            self.done = true;
            self.outputs.push(Output::Finished(Err(error)));
        }
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests;
