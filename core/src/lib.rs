//! tug-core: the sans-IO protocol core of tug.
//!
//! It decides everything about moving images to and from a Registry V2 registry — which
//! requests to send and in what order, how to read every status and header, what to retry
//! and when, what has been committed, what to show as progress — and does no I/O: no
//! sockets, files, clocks, threads or randomness. A runner carries bytes and time. The same
//! core runs in the `tug` CLI (smol + ureq), in a browser (`fetch`), and in your program.
//!
//! Modules: [`archive`] reads image files (tar indexer, docker-save and OCI resolvers) as a
//! state machine that asks for byte ranges; [`push`] is the upload state machine; [`auth`],
//! [`challenge`], [`retry`], [`progress`] and [`endpoint`] are its parts.
//!
//! # Driving a push
//!
//! Create a [`push::Push`] with a plan, a config and `now`; then drain `poll()` — send each
//! request, show each event — and feed every response, body chunk, transport error and
//! timer back in with `now`, until it finishes. Here the "registry" is a closure and time is
//! virtual; a real runner does the same with a network and a clock.
//!
//! ```
//! use tug_core::http::{Body, Method, ResponseHead};
//! use tug_core::push::{Output, PlanBlob, PlanManifest, Push, PushConfig, PushPlan};
//! use tug_core::{Digest, Instant, Scheme};
//! use std::time::Duration;
//!
//! let config_blob = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
//! let manifest = format!(
//!     r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
//!     Digest::sha256_of(&config_blob), config_blob.len());
//! let plan = PushPlan {
//!     registry: "registry.example:5000".into(),
//!     repository: "team/app".into(),
//!     reference: "v1".into(),
//!     children: Vec::new(),
//!     mount_from: None,
//!     resume: Vec::new(),
//!     blobs: vec![PlanBlob { digest: Digest::sha256_of(&config_blob), size: config_blob.len() as u64 }],
//!     manifest: PlanManifest {
//!         digest: Digest::sha256_of(manifest.as_bytes()),
//!         bytes: manifest.into_bytes(),
//!         media_type: "application/vnd.oci.image.manifest.v1+json".into(),
//!     },
//! };
//! let config = PushConfig { scheme: Scheme::Http, ..PushConfig::default() };
//!
//! // A registry that has nothing yet and accepts everything.
//! let registry = |method: &Method, path: &str| -> ResponseHead {
//!     match (method.as_str(), path) {
//!         ("HEAD", _) => ResponseHead::new(404),
//!         ("POST", _) => ResponseHead::new(202).with_header("Location", "/v2/team/app/blobs/uploads/1"),
//!         ("PUT", _) | ("PATCH", _) => ResponseHead::new(201),
//!         _ => ResponseHead::new(200), // GET /v2/
//!     }
//! };
//!
//! let mut now = Instant::ZERO;
//! let mut push = Push::new(plan, config, now);
//! let report = 'drive: loop {
//!     while let Some(output) = push.poll() {
//!         match output {
//!             Output::Send(req) => {
//!                 // A runner streams `Body::BlobRange` bytes from the blob's file or Blob,
//!                 // and may report them with `handle_body_sent` for hashing and progress.
//!                 if let Body::BlobRange { start, end, .. } = req.body {
//!                     push.handle_body_sent(req.id, &config_blob[start as usize..end as usize], now).unwrap();
//!                 }
//!                 now = now + Duration::from_millis(3);
//!                 let head = registry(&req.method, req.url.path());
//!                 push.handle_response(req.id, head, now).unwrap();
//!                 push.handle_body_end(req.id, now).unwrap();
//!             }
//!             Output::Event(event) => println!("{event:?}"),
//!             Output::Finished(result) => break 'drive result.expect("pushed"),
//!         }
//!     }
//!     // Nothing to send: wait for the next timer (a retry backoff), then tell the core.
//!     if let Some(deadline) = push.poll_timeout() {
//!         now = deadline;
//!         push.handle_timeout(now);
//!     }
//! };
//! assert_eq!(report.blobs_uploaded, 1);
//! ```

pub mod archive;
pub mod auth;
pub mod challenge;
pub mod concurrency;
pub mod digest;
pub mod endpoint;
pub mod error;
pub mod fetch;
pub mod http;
pub mod manifest;
pub mod operation;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry_error;
pub mod retry;
mod session;
pub mod time;

pub use auth::Credentials;
pub use digest::Digest;
pub use endpoint::Scheme;
pub use error::{Error, Misuse};
pub use operation::Operation;
pub use platform::Platform;
pub use reference::Reference;
pub use time::Instant;
