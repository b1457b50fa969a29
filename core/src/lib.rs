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
//! request, show each event, and set the timer from the `Timeout` output that ends the
//! drain — and feed every response, body chunk, transport error and timer back in with
//! `now`, until it finishes. Here the "registry" is a closure and time is virtual; a real
//! runner does the same with a network and a clock.
//!
//! ```
//! use tug_core::http::{Body, Method, ResponseHead};
//! use tug_core::push::{Output, PlanBlob, PlanManifest, Push, PushConfig, PushPlan};
//! use tug_core::{Digest, Input, Instant, RegistryConfig, Scheme};
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
//!     mount_sources: Default::default(),
//!     resume: Vec::new(),
//!     pending: Vec::new(),
//!     streamed: Vec::new(),
//!     blobs: vec![PlanBlob { digest: Digest::sha256_of(&config_blob), size: config_blob.len() as u64 }],
//!     manifest: PlanManifest {
//!         digest: Digest::sha256_of(manifest.as_bytes()),
//!         bytes: manifest.into_bytes(),
//!         media_type: "application/vnd.oci.image.manifest.v1+json".into(),
//!     },
//! };
//! let registry = RegistryConfig { scheme: Scheme::Http, ..RegistryConfig::default() };
//! let config = PushConfig::from(registry);
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
//!     let mut timer = None;
//!     while let Some(output) = push.poll() {
//!         match output {
//!             Output::Send(req) => {
//!                 // A runner streams `Body::BlobRange` bytes from the blob's file or Blob,
//!                 // and may report them as `Input::BodySent` for hashing and progress.
//!                 if let Body::BlobRange { start, end, .. } = req.body {
//!                     let sent = &config_blob[start as usize..end as usize];
//!                     push.handle_input(now, Input::BodySent(req.id, sent)).unwrap();
//!                 }
//!                 now = now + Duration::from_millis(3);
//!                 let head = registry(&req.method, req.url.path());
//!                 push.handle_input(now, Input::Response(req.id, head)).unwrap();
//!                 push.handle_input(now, Input::BodyEnd(req.id)).unwrap();
//!             }
//!             Output::Event(event) => println!("{event:?}"),
//!             // The core gave up on a request (a body too large or too slow): stop it.
//!             Output::Abort(_) => {}
//!             // The drain's last output: nothing more until an input; wake by then.
//!             Output::Timeout(deadline) => timer = Some(deadline),
//!             Output::Finished(result) => break 'drive result.expect("pushed"),
//!         }
//!     }
//!     // Nothing to send: wait for the timer (a retry backoff), then tell the core.
//!     now = timer.expect("an unfinished push always waits on something");
//!     push.handle_input(now, Input::Timeout).unwrap();
//! };
//! assert_eq!(report.blobs_uploaded, 1);
//! ```
//!
//! # Driving the core from another runtime
//!
//! A runner for another runtime (tokio, a GUI event loop, a build tool) has the same shape
//! as tug's runners — `runner-native/src/driver.rs` (smol + ureq),
//! `runner-wasm/src/driver.rs` (`fetch` on the JS event loop) and the example
//! `examples/tokio-runner` (tokio + reqwest, a push and a pull in ~300 lines). Its duties:
//!
//! - One task owns the operation; nothing else touches it. Every input passes a `now`
//!   measured from one origin of the runner's choosing (a monotonic clock). Time must move:
//!   retry waits and deadlines end only when `now` reaches them, so a runner on a paused or
//!   frozen clock (a test's virtual time) advances it to each `Timeout(at)` it is given.
//! - Send each [`http::Request`] exactly as described: do not follow redirects, add
//!   authentication or turn statuses into errors — the core reads every response. Stream
//!   a [`http::Body::BlobRange`] from wherever the plan's blob lives (file, `Blob`,
//!   another response); report the bytes as [`Input::BodySent`] if you can see them, or
//!   only how many went as [`Input::BodyProgress`] if you can count them but not see them
//!   (a browser's upload progress: the core then cannot hash them, and leaves checking the
//!   digest to the registry; progress, rate and ETA count them all the same). A
//!   [`http::Body::BlobStream`] (a push plan's [`push::PushPlan::streamed`] blobs, made
//!   while they are sent) goes without `Content-Length`, its bytes always reported, and
//!   its blob's digest and size told with [`push::Push::handle_blob_end`] when it ends.
//! - Report back per request, in order: the head, body chunks, the end — or a
//!   [`http::TransportError`] whose kind says what failed (it decides retries;
//!   [`http::TransportError::from_error`] classes a client's error by its words). Request
//!   body bytes sent (or counted) come before the end or error, never more than the body
//!   holds, and nothing about a request comes after its end or error: a client whose
//!   upload-progress callback may fire late orders it before them, or drops it.
//! - Deadlines are the core's: it holds every request to its [`http::Deadlines`] (no byte
//!   moving for the stall timeout; where bodies cannot be seen leaving, a response-head
//!   deadline) from the times of the inputs about it, within the operation's one timer. A
//!   request past one gets an `Abort(id)` and fails as a timeout; a runner needs no timer
//!   per request (a client that can apply the deadlines as socket timeouts may, too).
//! - After every input, drain `poll()` until it returns `None`. When a timer is pending,
//!   the drain's last output is `Timeout(at)` (str0m's `Output::Timeout`): set the timer
//!   from it — no separate call to forget. Then wait for the next message, that timer, or
//!   a cancellation ([`Operation::cancel`]), and feed it in; [`Input::Timeout`] early is
//!   safe (nothing is due before its time). [`Operation::poll_timeout`] names the same
//!   instant, for code that is not draining. When the operation finishes (no `Timeout`
//!   comes after `Finished`), drop what is still in flight.
//! - An `Abort(id)` output means the core gave up on request `id` (its response body was
//!   over [`MAX_BODY_IN_MEMORY`], or it missed a deadline): stop sending and reading it.
//!   Inputs about requests the core gave up on (or dropped when it finished) are accepted
//!   and ignored, so a [`Misuse`] is always a bug in the runner: runners may
//!   `debug_assert!` that every input returns `Ok`.
//!
//! [`host`] gives a push and a pull one shape for this ([`host::Drive`]: `poll_action()`
//! and `handle()` with what happened to a request), so a host writes its loop once; the
//! operations' own `poll()` outputs stay for runners that want every detail:
//!
//! ```
//! use tug_core::host::{Action, Drive, Happened};
//! use tug_core::http::{Request, RequestId};
//! use tug_core::{Error, Input, Instant};
//!
//! /// What woke the loop: news of a request, the timer the last drain asked for, the user.
//! enum Wake {
//!     Request(Happened<Vec<u8>>),
//!     Timer,
//!     Cancel,
//! }
//!
//! /// Runs `op` to its end. `send` starts a request (its news comes back through `wait`),
//! /// `abort` stops one, `wait` blocks or awaits until something happens, at the latest
//! /// at the timer.
//! fn drive<O: Drive>(
//!     mut op: O,
//!     now: impl Fn() -> Instant,
//!     mut send: impl FnMut(Request),
//!     mut abort: impl FnMut(RequestId),
//!     mut wait: impl FnMut(Option<Instant>) -> Wake,
//! ) -> Result<O::Report, Error> {
//!     loop {
//!         let mut timer = None;
//!         while let Some(action) = op.poll_action() {
//!             match action {
//!                 Action::Send(req) => send(req),
//!                 Action::Abort(id) => abort(id),
//!                 // A pull's blob bytes: `Store::apply` with a `BlobSink`, or as a
//!                 // layout's file operations (`archive::pulled_layout::LayoutOp`).
//!                 Action::Store(_) => {}
//!                 Action::Event(json) => println!("{json}"),
//!                 Action::Timeout(at) => timer = Some(at),
//!                 Action::Finished(result) => return result, // and stop what is in flight
//!             }
//!         }
//!         // Inputs about requests the operation gave up on are accepted: a `Misuse`
//!         // is a bug in this loop.
//!         let result = match wait(timer) {
//!             Wake::Request(happened) => op.handle(now(), happened),
//!             Wake::Timer => op.handle_input(now(), Input::Timeout),
//!             Wake::Cancel => {
//!                 op.cancel();
//!                 continue;
//!             }
//!         };
//!         debug_assert!(result.is_ok(), "runner misuse: {result:?}");
//!     }
//! }
//! ```
//!
//! From JavaScript (a web page, Node.js, Deno), use the `tug-wasm` package instead: it is
//! this loop over `fetch`, with `inspect`, `push` and `pull` as its API.

pub mod archive;
pub mod auth;
pub mod blob_read;
pub mod blob_timings;
pub mod challenge;
pub mod concurrency;
pub mod config;
pub mod copy;
pub mod digest;
pub mod endpoint;
mod engine;
pub mod error;
pub mod error_class;
mod event_json;
pub mod fetch;
pub mod host;
pub mod host_settings;
pub mod http;
pub mod image_config;
pub mod limits;
pub mod listing;
pub mod manifest;
pub mod manifest_ops;
pub mod one_shot;
pub mod operation;
pub mod place;
pub mod platform;
mod platform_search;
pub mod probe;
pub mod progress;
pub mod pull;
pub mod push;
pub mod redact;
pub mod reference;
pub mod referrers;
pub mod registry_error;
mod request_watch;
pub mod retry;
pub mod schema1;
mod session;
pub mod sync;
pub mod terminal_safe;
pub mod time;

/// The header and URL helpers the state machines use internally, for the fuzz targets in
/// `fuzz/` (which must drive the real code). Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::Duration;

    use crate::digest::Digest;
    use crate::endpoint::{Endpoint, Scheme};
    use crate::http::ResponseHead;

    /// What a `206`'s `Content-Range` says the body starts at (pull and fetch).
    pub fn content_range_start(value: &str) -> Option<u64> {
        crate::http::content_range_start(value)
    }

    /// The last byte of an upload's `Range: 0-<last>` (push).
    pub fn range_end(value: &str) -> Option<u64> {
        crate::push::parse_range_end(value)
    }

    /// `Retry-After` (seconds, or an HTTP date against `Date`).
    pub fn retry_after(head: &ResponseHead) -> Option<Duration> {
        crate::retry::retry_after(head)
    }

    /// A `Location` header resolved against the API base of `registry`.
    pub fn resolve_location(
        registry: &str,
        scheme: Scheme,
        location: &str,
    ) -> Result<url::Url, url::ParseError> {
        Endpoint::new(registry, scheme).resolve_location(location)
    }

    /// An upload location with `digest=` merged into its query (the closing `PUT`).
    pub fn with_digest(location: &url::Url, digest: &Digest) -> url::Url {
        crate::endpoint::with_digest(location, digest)
    }

    /// Where credentials would go: what the auth state does with a `401` carrying
    /// `challenge` to a request for `url`, made by a user with credentials against
    /// `registry` (over plain HTTP when `plain`).
    #[derive(Debug)]
    pub struct AuthProbe {
        /// The registry's API base.
        pub base: url::Url,
        /// `Err` when the challenge was refused (with the message).
        pub outcome: Result<(), String>,
        /// The token request it would send, and whether it carries the credentials.
        pub token: Option<(url::Url, bool)>,
        /// For each probe URL (after a token, if any, came back): whether a request to it
        /// would carry `Authorization`.
        pub authorized: Vec<bool>,
    }

    /// Runs the auth state through one challenge and reports where credentials would go
    /// (see [`AuthProbe`]).
    pub fn auth_probe(
        registry: &str,
        plain: bool,
        url: &url::Url,
        challenge: &str,
        probes: &[url::Url],
    ) -> Option<AuthProbe> {
        use crate::auth::{Auth, Credentials};
        use crate::http::{Body, HeaderMap, Method, Request, RequestId};
        let scheme = if plain { Scheme::Http } else { Scheme::Https };
        let base = Endpoint::new(registry, scheme).ping().ok()?;
        let creds = Credentials {
            username: "user".into(),
            password: "secret".into(),
        };
        let mut auth = Auth::new(registry, Some(creds));
        let head = ResponseHead::new(401).with_header("WWW-Authenticate", challenge);
        let outcome = auth
            .on_unauthorized(&head, &base, url)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let token = auth
            .token_request_parts()
            .map(|t| (t.url, t.authorization.is_some() || t.form.is_some()));
        if token.is_some() {
            let _ = auth.on_token_response(200, br#"{"token":"t"}"#, crate::Instant::ZERO);
        }
        let authorized = probes
            .iter()
            .map(|u| {
                let mut req = Request {
                    id: RequestId(0),
                    method: Method::GET,
                    url: u.clone(),
                    shown: String::new(),
                    headers: HeaderMap::new(),
                    body: Body::Empty,
                    deadlines: Default::default(),
                    to_registry: true,
                };
                auth.apply(&mut req, &base);
                req.headers.contains_key(http::header::AUTHORIZATION)
            })
            .collect();
        Some(AuthProbe {
            base,
            outcome,
            token,
            authorized,
        })
    }

    /// The API URLs of `registry`: ping, blob, uploads, mount, manifest.
    pub fn api_urls(
        registry: &str,
        scheme: Scheme,
        repository: &str,
        digest: &Digest,
        reference: &str,
    ) -> [Result<url::Url, url::ParseError>; 5] {
        let e = Endpoint::new(registry, scheme);
        [
            e.ping(),
            e.blob(repository, digest),
            e.uploads(repository),
            e.mount(repository, digest, repository),
            e.manifest(repository, reference),
        ]
    }
}

pub use auth::Credentials;
pub use config::{RegistryConfig, TransferConfig};
pub use digest::Digest;
pub use endpoint::Scheme;
pub use error::{Error, Misuse};
pub use error_class::ErrorClass;
pub use operation::{Input, Operation};
pub use platform::Platform;
pub use reference::Reference;
pub use session::MAX_BODY_IN_MEMORY;
pub use time::Instant;
