//! The outputs of an operation that makes a few requests and ends with one result (a tag
//! list, a manifest, a deletion): requests to send, retries, the end. Shared so a runner
//! drains all of them with one loop.

use crate::digest::Digest;
use crate::engine::Outputs;
use crate::error::Error;
use crate::http::{Request, RequestId};
use crate::retry::Retrying;
use crate::time::Instant;

/// What the runner must do next, for an operation ending with an `R`.
#[allow(clippy::large_enum_variant)] // a request, moved once to the runner
#[derive(Debug)]
pub enum Output<R> {
    /// Send this request and report its response.
    Send(Request),
    /// Stop request `id`: the core gave up on it (its body was too large or too slow).
    /// Inputs about it are still accepted, and ignored.
    Abort(RequestId),
    /// A request failed transiently and will be tried again.
    Retrying(Retrying),
    /// HTTPS failed against a loopback registry that speaks plain HTTP; using HTTP.
    PlainHttpFallback {
        /// The registry host.
        host: String,
    },
    /// A tag resolved to this manifest digest (a deletion says so before it deletes).
    Resolved {
        /// The tag.
        reference: String,
        /// The digest of the manifest it names.
        digest: Digest,
    },
    /// The next bytes of what the operation reads (a blob's), in order; the result says
    /// whether they were what was asked for.
    Data(Vec<u8>),
    /// Nothing more until an input: feed [`crate::Input::Timeout`] at this instant if
    /// nothing else comes first. It ends a drain of `poll()` when a timer is pending.
    Timeout(Instant),
    /// The operation ended; no output follows.
    Finished(Result<R, Error>),
}

impl<R> Outputs for Output<R> {
    fn send(request: Request) -> Self {
        Output::Send(request)
    }
    fn abort(id: RequestId) -> Self {
        Output::Abort(id)
    }
    fn retrying(retry: Retrying) -> Self {
        Output::Retrying(retry)
    }
    fn plain_http(host: String) -> Self {
        Output::PlainHttpFallback { host }
    }
    fn timeout(at: Instant) -> Self {
        Output::Timeout(at)
    }
}

/// A test driver: a one-shot operation against a registry played by a closure.
#[cfg(test)]
pub(crate) mod testing {
    use super::Output;
    use crate::error::Error;
    use crate::http::{Request, ResponseHead};
    use crate::operation::{Input, Operation};
    use crate::time::Instant;

    /// Runs `op` (its outputs from `poll`), answering each request with `registry`;
    /// returns the result and every request sent, in order.
    pub(crate) fn run<O: Operation, R>(
        op: O,
        poll: impl Fn(&mut O) -> Option<Output<R>>,
        registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
    ) -> (Result<R, Error>, Vec<Request>) {
        let (result, sent, _) = run_reading(op, poll, registry);
        (result, sent)
    }

    /// [`run`], also returning the bytes of every [`Output::Data`], in order.
    pub(crate) fn run_reading<O: Operation, R>(
        op: O,
        poll: impl Fn(&mut O) -> Option<Output<R>>,
        mut registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
    ) -> (Result<R, Error>, Vec<Request>, Vec<u8>) {
        run_breaking(op, poll, |req| {
            let (head, body) = registry(req);
            (head, body, true)
        })
    }

    /// [`run_reading`] with a registry that also says whether each body ends (`true`) or
    /// its connection breaks after it (`false`: a transport error instead of its end).
    pub(crate) fn run_breaking<O: Operation, R>(
        mut op: O,
        poll: impl Fn(&mut O) -> Option<Output<R>>,
        mut registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>, bool),
    ) -> (Result<R, Error>, Vec<Request>, Vec<u8>) {
        let mut sent = Vec::new();
        let mut data = Vec::new();
        let mut now = Instant::ZERO;
        loop {
            let mut requests = Vec::new();
            let mut timer = None;
            while let Some(output) = poll(&mut op) {
                match output {
                    Output::Send(req) => requests.push(req),
                    Output::Finished(result) => return (result, sent, data),
                    Output::Data(bytes) => data.extend(bytes),
                    Output::Timeout(at) => timer = Some(at),
                    _ => {}
                }
            }
            if requests.is_empty() {
                // A retry's backoff: its time comes.
                now = timer.expect("the operation stalled");
                op.handle_input(now, Input::Timeout).unwrap();
                continue;
            }
            for req in requests {
                let (head, body, ends) = registry(&req);
                op.handle_input(now, Input::Response(req.id, head)).unwrap();
                op.handle_input(now, Input::BodyChunk(req.id, &body))
                    .unwrap();
                let end = match ends {
                    true => Input::BodyEnd(req.id),
                    false => Input::TransportError(
                        req.id,
                        crate::http::TransportError::new(
                            crate::http::TransportErrorKind::Io,
                            "connection reset",
                        ),
                    ),
                };
                op.handle_input(now, end).unwrap();
                sent.push(req);
            }
        }
    }
}
