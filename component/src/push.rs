//! A push of an OCI layout the host reads: first the core's `SourceResolver` asks for the
//! layout's files (`read-file`, `stat` outputs), then the core's `Push` runs with each plan
//! blob's body described as a range of its file.

use tug_core::archive::{ResolveStep, SourceResolver};
use tug_core::host::{Action, Drive};
use tug_core::push::{Push, PushConfig, PushReport};
use tug_core::{ErrorClass, Instant, Reference};

use crate::bindings::exports::tug::core::sansio::{Failure, FileRead, Input, Output};
use crate::convert::{self, failure};
use crate::options::{self, Options};

enum State {
    /// Reading the layout; `asked` while the host has not answered the last step.
    Resolving {
        resolver: Box<SourceResolver>,
        asked: bool,
    },
    /// Pushing; `sources[i]` is the layout file of plan blob `i`.
    Pushing {
        push: Box<Push>,
        sources: Vec<String>,
    },
    /// The finished output was taken.
    Done,
}

/// A push from a layout to a registry.
pub struct LayoutPush {
    target: Reference,
    options: Options,
    config: PushConfig,
    state: State,
    /// The latest `now` the host gave.
    now: Instant,
    /// An output to hand out before anything else (a failure before the push started).
    next: Option<Output>,
}

impl LayoutPush {
    /// A push to `target` with `options` (JSON), starting with reading the layout.
    pub fn new(target: &str, options: &str) -> Result<LayoutPush, Failure> {
        let target = options::target(target)?;
        let options = Options::parse(options, "push")?;
        let config = PushConfig {
            registry: options.registry_config(&target)?,
            transfer: options.transfer_config()?,
            ..PushConfig::default()
        };
        Ok(LayoutPush {
            target,
            options,
            config,
            state: State::Resolving {
                resolver: Box::new(SourceResolver::for_directory()),
                asked: false,
            },
            now: Instant::ZERO,
            next: None,
        })
    }

    pub fn poll(&mut self) -> Option<Output> {
        if let Some(output) = self.next.take() {
            self.state = State::Done;
            return Some(output);
        }
        match &mut self.state {
            State::Resolving { resolver, asked } => {
                if *asked {
                    return None;
                }
                match resolver.poll() {
                    Ok(ResolveStep::ReadFile { path, max_len }) => {
                        *asked = true;
                        Some(Output::ReadFile(FileRead { path, max_len }))
                    }
                    Ok(ResolveStep::Stat { path }) => {
                        *asked = true;
                        Some(Output::Stat(path))
                    }
                    Ok(ResolveStep::Done(contents)) => {
                        let started = self.start(&contents);
                        self.next = started.err().map(|f| Output::Finished(Err(f)));
                        self.poll()
                    }
                    Ok(other) => self.fail(&format!("a layout directory cannot answer {other:?}")),
                    Err(e) => self.fail(&format!("layout: {e}")),
                }
            }
            State::Pushing { push, sources } => loop {
                let output = match push.poll_action()? {
                    Action::Send(req) => {
                        let id = req.id;
                        let body = |i, start, end| convert::file_range(sources.get(i), start, end);
                        match convert::request(req, &body) {
                            Some(req) => Output::Send(req),
                            None => {
                                convert::undescribable(&mut **push, self.now, id);
                                continue;
                            }
                        }
                    }
                    Action::Abort(id) => Output::Abort(id.0),
                    // A push keeps no blob: never asked.
                    Action::Store(_) => continue,
                    Action::Event(json) => Output::Event(json.to_string()),
                    Action::Timeout(at) => Output::WaitUntil(convert::nanos(at)),
                    Action::Finished(result) => {
                        let finished = result
                            .map(|r| report(&self.target, &r))
                            .map_err(|e| convert::error(&e));
                        self.state = State::Done;
                        Output::Finished(finished)
                    }
                };
                return Some(output);
            },
            State::Done => None,
        }
    }

    /// Builds the push of the resolved layout, or the failure to report.
    fn start(&mut self, contents: &tug_core::archive::SourceContents) -> Result<(), Failure> {
        let selection = contents
            .select_for_push(self.options.name.as_deref())
            .map_err(|e| failure(e.class(), &format!("layout: {e}")))?;
        let built = selection.push_plan(&self.target);
        let sources = built
            .layout_files()
            .map_err(|e| failure(ErrorClass::Input, &format!("layout: {e}")))?;
        let push = Push::new(built.plan, self.config.clone(), self.now);
        self.state = State::Pushing {
            push: Box::new(push),
            sources,
        };
        Ok(())
    }

    fn fail(&mut self, message: &str) -> Option<Output> {
        self.state = State::Done;
        Some(Output::Finished(Err(failure(ErrorClass::Input, message))))
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), String> {
        self.now = self.now.max(now);
        match (&mut self.state, input) {
            (State::Resolving { resolver, asked }, Input::File((path, data))) if *asked => {
                let data = data.as_deref().map(convert::bytes).transpose()?;
                *asked = false;
                // An error is kept by the resolver and returned by its next poll.
                let _ = resolver.handle_file(&path, data.as_deref());
                Ok(())
            }
            (State::Resolving { resolver, asked }, Input::Size((path, size))) if *asked => {
                *asked = false;
                let _ = resolver.handle_stat(&path, size);
                Ok(())
            }
            (State::Resolving { .. }, Input::Timeout) => Ok(()),
            (State::Resolving { .. }, _) => {
                Err("the layout is still being read: only file and size inputs".into())
            }
            (State::Pushing { push, .. }, input) => convert::feed(&mut **push, now, input),
            // Inputs after the end are about requests the push no longer waits for.
            (State::Done, _) => Ok(()),
        }
    }

    pub fn cancel(&mut self) {
        match &mut self.state {
            State::Pushing { push, .. } => push.cancel(),
            State::Resolving { .. } => {
                self.next = Some(Output::Finished(Err(failure(
                    ErrorClass::Cancelled,
                    "cancelled",
                ))));
            }
            State::Done => {}
        }
    }
}

/// The push report as JSON (a copy's too: it ends with a push to its target).
pub fn report(target: &Reference, r: &PushReport) -> String {
    serde_json::json!({
        "image": target.to_string(),
        "manifest_digest": r.manifest_digest.to_string(),
        "blobs_uploaded": r.blobs_uploaded,
        "blobs_skipped": r.blobs_skipped,
        "blobs_mounted": r.blobs_mounted,
        "bytes_uploaded": r.bytes_uploaded,
        "retries": r.retries,
        "plain_http": r.plain_http,
        "elapsed_ms": r.elapsed.as_millis() as u64,
    })
    .to_string()
}
