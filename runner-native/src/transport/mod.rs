//! Carries the core's requests over HTTP with ureq on blocking threads, and reports what
//! happens back to the driving task over a channel. No protocol decisions are made here,
//! and nothing of tug's above it is known: connection options come in ([`TlsOptions`]),
//! request bodies come from a [`BodySource`].

mod body;
mod client;
mod proxy;
mod tls;
mod tls_connector;

pub use body::{BodySource, NoBodies};
pub use client::{log_requests_with, Message, Transport, QUEUE};
pub use proxy::ProxyEnv;
pub use tls::TlsOptions;
