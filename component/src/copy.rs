//! A registry-to-registry copy: the core's `Copy` with each request tagged with its side
//! (`send-to`) and every upload body a `stream` the core feeds from what the source
//! answered (`body-data`, `body-end`, `body-failed`). No file is read or written.

use tug_core::copy::{self, Copy, CopyConfig, CopyPlan, CopySource, Side};
use tug_core::{Instant, Reference};

use crate::bindings::exports::tug::core::sansio::{self, Failure, Input, Output};
use crate::convert;
use crate::options::{self, Options};
use crate::push;

/// A copy between two registries.
pub struct RegistryCopy {
    target: Reference,
    copy: Copy,
    now: Instant,
}

impl RegistryCopy {
    /// A copy of `source` to `target` with `options` (JSON): the plan and config in the
    /// core's own types, its defaults where an option is absent.
    pub fn new(source: &str, target: &str, options: &str) -> Result<RegistryCopy, Failure> {
        let source = options::reference(source)?;
        let target = options::target(target)?;
        let options = Options::parse(options, "copy")?;
        let plan = CopyPlan {
            sources: vec![CopySource {
                config: options.source_registry_config(&source)?,
                reference: source,
            }],
            target_config: options.registry_config(&target)?,
            target: target.clone(),
            platform: options.platform()?,
            resume: Vec::new(),
            referrers: options.referrers(),
        };
        let config = CopyConfig {
            transfer: options.transfer_config()?,
            ..CopyConfig::default()
        };
        Ok(RegistryCopy {
            copy: Copy::new(plan, config, Instant::ZERO),
            target,
            now: Instant::ZERO,
        })
    }

    pub fn poll(&mut self) -> Option<Output> {
        loop {
            let output = match self.copy.poll()? {
                copy::Output::Send(side, req) => {
                    let id = req.id;
                    let stream = |_, start, end: u64| Some(sansio::Body::Stream(end - start));
                    match convert::request(req, &stream) {
                        Some(req) => Output::SendTo((self::side(side), req)),
                        None => {
                            convert::undescribable(&mut self.copy, self.now, id);
                            continue;
                        }
                    }
                }
                copy::Output::Abort(_, id) => Output::Abort(id.0),
                copy::Output::BodyData(id, data) => {
                    Output::BodyData((id.0, convert::latin1(&data)))
                }
                copy::Output::BodyEnd(id) => Output::BodyEnd(id.0),
                copy::Output::BodyFailed(id, message) => Output::BodyFailed((id.0, message)),
                copy::Output::Event(event) => match event.json() {
                    Some(json) => Output::Event(json.to_string()),
                    None => continue,
                },
                copy::Output::Timeout(at) => Output::WaitUntil(convert::nanos(at)),
                copy::Output::Finished(result) => Output::Finished(
                    result
                        .map(|r| push::report(&self.target, &r))
                        .map_err(|e| convert::error(&e)),
                ),
            };
            return Some(output);
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), String> {
        self.now = self.now.max(now);
        convert::feed(&mut self.copy, now, input)
    }

    pub fn cancel(&mut self) {
        self.copy.cancel();
    }
}

/// The core's side as the WIT's.
fn side(side: Side) -> sansio::Side {
    match side {
        Side::Source(n) => sansio::Side::Source(u32::try_from(n).unwrap_or(u32::MAX)),
        Side::Target => sansio::Side::Target,
    }
}
