//! The input side every operation shares, so one runner loop can drive any of them.
//!
//! Outputs differ per operation (a pull writes blob bytes, a push streams them), so each
//! has its own `poll`; inputs are the same, and go in through one method:
//! [`Operation::handle_input`] with an [`Input`] and the time it happened. Every `poll`
//! keeps one rule: a drain (the calls after an input, a cancel or another call that acts
//! on the operation, until `None`) ends with a `Timeout(at)` output when a timer is
//! pending, `at` being [`Operation::poll_timeout`].

use crate::error::Misuse;
use crate::http::{RequestId, ResponseHead, TransportError};
use crate::time::Instant;

/// Something that happened, for an operation to act on: to one of its requests, or time
/// passing.
#[derive(Debug)]
pub enum Input<'a> {
    /// The status line and headers of a response arrived.
    Response(RequestId, ResponseHead),
    /// A piece of a response body arrived.
    BodyChunk(RequestId, &'a [u8]),
    /// A response body ended.
    BodyEnd(RequestId),
    /// Request body bytes went out (optional for runners that cannot see them).
    BodySent(RequestId, &'a [u8]),
    /// `n` more request body bytes went out, unseen: for runners that can count what was
    /// sent but not see it (a browser's upload progress). It counts for progress and rate
    /// like [`Input::BodySent`]; the core cannot hash those bytes, so the blob's digest is
    /// then checked by the registry alone.
    BodyProgress(RequestId, u64),
    /// A request failed below HTTP.
    TransportError(RequestId, TransportError),
    /// Time passed: the instant the drain's `Timeout` output (or `poll_timeout`) named
    /// came, or any other — early is safe: nothing is due before its time.
    Timeout,
}

/// The inputs of a sans-IO operation (push, pull, fetch and copy implement it).
pub trait Operation {
    /// Feeds one input, at `now` (an earlier `now` than a previous input's counts as that
    /// one). `Err` only when the runner breaks the contract (an id the core never sent, a
    /// body before its head); inputs about requests the core gave up on are `Ok`.
    fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse>;
    /// When [`Input::Timeout`] is due, if nothing happens first: the same instant as the
    /// `Timeout` output that ends a drain of the operation's `poll()` (runners set their
    /// timer from that output; this is for code that is not draining).
    fn poll_timeout(&self) -> Option<Instant>;
    /// Stop: the operation finishes with `Error::Cancelled`.
    fn cancel(&mut self);
    /// Stop once what is in flight has answered, where that is worth waiting for (a push's
    /// chunk on its way); else as [`Operation::cancel`].
    fn wind_down(&mut self) {
        self.cancel();
    }
}

/// Implements [`Operation`] with the type's inherent methods of the same names.
macro_rules! inherent_operation {
    ($ty:ty) => {
        impl $crate::operation::Operation for $ty {
            fn handle_input(
                &mut self,
                now: $crate::time::Instant,
                input: $crate::operation::Input<'_>,
            ) -> Result<(), $crate::error::Misuse> {
                <$ty>::handle_input(self, now, input)
            }
            fn poll_timeout(&self) -> Option<$crate::time::Instant> {
                <$ty>::poll_timeout(self)
            }
            fn cancel(&mut self) {
                <$ty>::cancel(self)
            }
            fn wind_down(&mut self) {
                <$ty>::wind_down(self)
            }
        }
    };
}
pub(crate) use inherent_operation;
