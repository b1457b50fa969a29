//! A pull into an OCI layout the host writes: each blob goes to a temporary file until the
//! core has verified it (`write`, then `rename` into `blobs/<alg>/<hex>`, or `remove`), and
//! once the pull succeeded the layout's `index.json` is read (`read-file`) and the manifests,
//! `oci-layout` and `index.json` with the image added are written.

use std::collections::VecDeque;

use tug_core::archive::pulled_layout::{self, LayoutOp};
use tug_core::archive::{INDEX_JSON, MAX_METADATA_LEN};
use tug_core::error_class::ErrorClass;
use tug_core::host::{Action, Drive};
use tug_core::pull::{Pull, PullConfig, PullPlan, PullReport};
use tug_core::{Instant, Platform, Reference};

use crate::bindings::exports::tug::core::sansio::{
    Failure, FileRead, FileRename, FileWrite, Input, Output,
};
use crate::convert;
use crate::options::{self, Options};

/// A pull from a registry into a layout.
pub struct LayoutPull {
    source: Reference,
    pull: Pull,
    /// Outputs to hand out before polling the pull again (the layout's files at the end).
    queued: VecDeque<Output>,
    /// The succeeded pull's report while the layout's `index.json` is being read.
    finishing: Option<Box<PullReport>>,
    done: bool,
    now: Instant,
}

/// A file operation on the layout as the WIT output.
fn layout_output(op: LayoutOp) -> Output {
    match op {
        LayoutOp::Write { path, offset, data } => Output::Write(FileWrite {
            path,
            offset,
            data: convert::latin1(&data),
        }),
        LayoutOp::Rename { from, to } => Output::Rename(FileRename {
            source: from,
            target: to,
        }),
        LayoutOp::Remove(path) => Output::Remove(path),
    }
}

impl LayoutPull {
    /// A pull of `source` (for `options.platform`, default `linux/amd64`).
    pub fn new(source: &str, options: &str) -> Result<LayoutPull, Failure> {
        let source = options::reference(source)?;
        let options = Options::parse(options, "pull")?;
        let named = options.platform()?;
        let platform_required = named.is_some();
        let platform = named.unwrap_or_else(Platform::default_for_unknown_host);
        let plan = PullPlan {
            platform_required,
            ..PullPlan::of(&source, platform)
        };
        let config = PullConfig {
            registry: options.registry_config(&source)?,
            transfer: options.transfer_config()?,
        };
        Ok(LayoutPull {
            pull: Pull::new(plan, config, Instant::ZERO),
            source,
            queued: VecDeque::new(),
            finishing: None,
            done: false,
            now: Instant::ZERO,
        })
    }

    pub fn poll(&mut self) -> Option<Output> {
        if let Some(output) = self.queued.pop_front() {
            return Some(output);
        }
        if self.done || self.finishing.is_some() {
            return None;
        }
        loop {
            let output = match self.pull.poll_action()? {
                Action::Send(req) => {
                    let id = req.id;
                    match convert::request(req, &|_, _, _| None) {
                        Some(req) => Output::Send(req),
                        None => {
                            convert::undescribable(&mut self.pull, self.now, id);
                            continue;
                        }
                    }
                }
                Action::Abort(id) => Output::Abort(id.0),
                Action::Store(store) => layout_output(store.into()),
                Action::Event(json) => Output::Event(json.to_string()),
                Action::Timeout(at) => Output::WaitUntil(convert::nanos(at)),
                Action::Finished(result) => match result {
                    Ok(report) => {
                        self.finishing = Some(Box::new(report));
                        Output::ReadFile(FileRead {
                            path: INDEX_JSON.into(),
                            max_len: MAX_METADATA_LEN,
                        })
                    }
                    Err(e) => {
                        self.done = true;
                        Output::Finished(Err(convert::error(&e)))
                    }
                },
            };
            return Some(output);
        }
    }

    /// The pull report as JSON.
    fn report(&self, r: &PullReport) -> String {
        serde_json::json!({
            "image": self.source.to_string(),
            "manifest_digest": r.root.digest.to_string(),
            "blobs_downloaded": r.blobs_downloaded,
            "bytes_downloaded": r.bytes_downloaded,
            "retries": r.retries,
            "plain_http": r.plain_http,
            "elapsed_ms": r.elapsed.as_millis() as u64,
        })
        .to_string()
    }

    /// Writes the layout's files with the image added to `index` (its `index.json`), then
    /// finishes.
    fn finish(&mut self, report: &PullReport, index: Option<&[u8]>) {
        self.done = true;
        let name = self.source.manifest_ref();
        match pulled_layout::finishing_ops(report, &name, index) {
            Ok(ops) => {
                self.queued = ops.into_iter().map(layout_output).collect();
                let finished = Output::Finished(Ok(self.report(report)));
                self.queued.push_back(finished);
            }
            Err(e) => {
                let message = format!("layout: {e}");
                let finished = Output::Finished(Err(convert::failure(e.class(), &message)));
                self.queued.push_back(finished);
            }
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), String> {
        self.now = self.now.max(now);
        match (self.finishing.take(), input) {
            (Some(report), Input::File((path, data))) if path == INDEX_JSON => {
                let index = data.as_deref().map(convert::bytes).transpose()?;
                self.finish(&report, index.as_deref());
                Ok(())
            }
            (finishing, input) => {
                self.finishing = finishing;
                convert::feed(&mut self.pull, now, input)
            }
        }
    }

    pub fn cancel(&mut self) {
        if self.finishing.take().is_some() {
            self.done = true;
            let cancelled = convert::failure(ErrorClass::Cancelled, "cancelled");
            self.queued.push_back(Output::Finished(Err(cancelled)));
        }
        self.pull.cancel();
    }
}
