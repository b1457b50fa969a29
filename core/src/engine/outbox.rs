//! An operation's output queue, and the outputs every operation makes alike: requests,
//! aborts, planned retries, the plain-HTTP fallback and, for push and pull, concurrency
//! changes and the end. The engine and the protocols queue them through one place.

use std::collections::VecDeque;

use crate::concurrency::Change;
use crate::error::Error;
use crate::http::{Request, RequestId};
use crate::progress::Progress;
use crate::retry::Retrying;
use crate::time::Instant;

/// The outputs of an operation that the engine makes.
pub(crate) trait Outputs {
    /// Send `request`.
    fn send(request: Request) -> Self;
    /// Stop request `id`: the engine gave up on it.
    fn abort(id: RequestId) -> Self;
    /// A retry is planned.
    fn retrying(retry: Retrying) -> Self;
    /// The registry speaks plain HTTP: using it.
    fn plain_http(host: String) -> Self;
    /// The end of a drain: feed `Input::Timeout` at `at` if nothing comes first.
    fn timeout(at: Instant) -> Self;
}

/// The outputs of an operation that ends with a report (push, pull).
pub(crate) trait Reports: Outputs {
    /// What the operation reports when it succeeds.
    type Report;
    /// What it shows the user.
    type Event;
    /// Show `event`.
    fn event(event: Self::Event) -> Self;
    /// The adaptive window changed.
    fn concurrency(change: Change) -> Self;
    /// Overall progress.
    fn progress(progress: Progress) -> Self;
    /// The operation ended.
    fn finished(result: Result<Self::Report, Error>) -> Self;
}

/// An operation's queue of outputs, and whether it has ended.
#[derive(Debug)]
pub(crate) struct Outbox<O> {
    queue: VecDeque<O>,
    ended: bool,
}

impl<O> Default for Outbox<O> {
    fn default() -> Self {
        Outbox {
            queue: VecDeque::new(),
            ended: false,
        }
    }
}

impl<O> Outbox<O> {
    /// Queues `output` last.
    pub(crate) fn push(&mut self, output: O) {
        self.queue.push_back(output);
    }

    /// The next output.
    pub(crate) fn pop(&mut self) -> Option<O> {
        self.queue.pop_front()
    }

    /// Whether the `Finished` output was queued.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }
}

impl<O: Reports> Outbox<O> {
    /// Queues the operation's end, once: false when it had ended already.
    pub(crate) fn finish(&mut self, result: Result<O::Report, Error>) -> bool {
        if self.ended {
            return false;
        }
        self.ended = true;
        self.queue.push_back(O::finished(result));
        true
    }
}

/// [`Outputs`] and [`Reports`] for an operation's `$out` enum with `Send`, `Abort`,
/// `Timeout(Instant)`, `Event($event)` and `Finished(Result<$report, Error>)` variants, whose `$event` enum has
/// `Retrying`, `PlainHttpFallback { host }`, `Concurrency` and `Progress` variants (push,
/// pull).
macro_rules! reported_outputs {
    ($out:ident, $event:ident, $report:ty) => {
        impl $crate::engine::Outputs for $out {
            fn send(request: $crate::http::Request) -> Self {
                $out::Send(request)
            }
            fn abort(id: $crate::http::RequestId) -> Self {
                $out::Abort(id)
            }
            fn retrying(retry: $crate::retry::Retrying) -> Self {
                $out::Event($event::Retrying(retry))
            }
            fn plain_http(host: String) -> Self {
                $out::Event($event::PlainHttpFallback { host })
            }
            fn timeout(at: $crate::time::Instant) -> Self {
                $out::Timeout(at)
            }
        }

        impl $crate::engine::Reports for $out {
            type Report = $report;
            type Event = $event;
            fn event(event: $event) -> Self {
                $out::Event(event)
            }
            fn concurrency(change: $crate::concurrency::Change) -> Self {
                $out::Event($event::Concurrency(change))
            }
            fn progress(progress: $crate::progress::Progress) -> Self {
                $out::Event($event::Progress(progress))
            }
            fn finished(result: Result<$report, $crate::error::Error>) -> Self {
                $out::Finished(result)
            }
        }
    };
}
pub(crate) use reported_outputs;
