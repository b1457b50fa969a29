//! The input side every operation shares, so one runner loop can drive any of them.
//!
//! Outputs differ per operation (a pull writes blob bytes, a push streams them), so each
//! has its own `poll`; inputs are the same: responses, body chunks, body bytes sent,
//! transport errors and time.

use crate::error::Misuse;
use crate::http::{RequestId, ResponseHead, TransportError};
use crate::time::Instant;

/// The inputs of a sans-IO operation ([`crate::push::Push`], [`crate::pull::Pull`]).
pub trait Operation {
    /// The status line and headers of a response arrived.
    fn handle_response(
        &mut self,
        id: RequestId,
        head: ResponseHead,
        now: Instant,
    ) -> Result<(), Misuse>;
    /// A piece of a response body arrived.
    fn handle_body_chunk(&mut self, id: RequestId, data: &[u8], now: Instant)
        -> Result<(), Misuse>;
    /// A response body ended.
    fn handle_body_end(&mut self, id: RequestId, now: Instant) -> Result<(), Misuse>;
    /// Request body bytes went out (optional for runners that cannot see them).
    fn handle_body_sent(&mut self, id: RequestId, data: &[u8], now: Instant) -> Result<(), Misuse>;
    /// A request failed below HTTP.
    fn handle_transport_error(
        &mut self,
        id: RequestId,
        error: TransportError,
        now: Instant,
    ) -> Result<(), Misuse>;
    /// Time passed.
    fn handle_timeout(&mut self, now: Instant);
    /// When `handle_timeout` is due, if nothing happens first.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Stop: the operation finishes with `Error::Cancelled`.
    fn cancel(&mut self);
}

/// Implements [`Operation`] by delegating to the type's inherent methods of the same names.
macro_rules! delegate_operation {
    ($ty:ty) => {
        impl $crate::operation::Operation for $ty {
            fn handle_response(
                &mut self,
                id: $crate::http::RequestId,
                head: $crate::http::ResponseHead,
                now: $crate::time::Instant,
            ) -> Result<(), $crate::error::Misuse> {
                <$ty>::handle_response(self, id, head, now)
            }
            fn handle_body_chunk(
                &mut self,
                id: $crate::http::RequestId,
                data: &[u8],
                now: $crate::time::Instant,
            ) -> Result<(), $crate::error::Misuse> {
                <$ty>::handle_body_chunk(self, id, data, now)
            }
            fn handle_body_end(
                &mut self,
                id: $crate::http::RequestId,
                now: $crate::time::Instant,
            ) -> Result<(), $crate::error::Misuse> {
                <$ty>::handle_body_end(self, id, now)
            }
            fn handle_body_sent(
                &mut self,
                id: $crate::http::RequestId,
                data: &[u8],
                now: $crate::time::Instant,
            ) -> Result<(), $crate::error::Misuse> {
                <$ty>::handle_body_sent(self, id, data, now)
            }
            fn handle_transport_error(
                &mut self,
                id: $crate::http::RequestId,
                error: $crate::http::TransportError,
                now: $crate::time::Instant,
            ) -> Result<(), $crate::error::Misuse> {
                <$ty>::handle_transport_error(self, id, error, now)
            }
            fn handle_timeout(&mut self, now: $crate::time::Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_timeout(&self) -> Option<$crate::time::Instant> {
                <$ty>::poll_timeout(self)
            }
            fn cancel(&mut self) {
                <$ty>::cancel(self)
            }
        }
    };
}
pub(crate) use delegate_operation;
