//! tug-testkit: real parts for tug's end-to-end tests.
//!
//! - [`Registry`]: a real `docker-registry` (distribution 2.8) on `127.0.0.1:<ephemeral>`,
//!   plain HTTP, TLS with a private CA, TLS + htpasswd Basic auth, or TLS + token (Bearer)
//!   auth with its own [`TokenServer`]; stopped on drop.
//! - [`skopeo`]: the peer client, to check pushes and feed pulls.
//! - [`fixtures`]: deterministic random images written as OCI layouts, docker-save tars
//!   (classic and Docker ≥ 25), skopeo-made archives, and a sparse > 4 GiB layer; plus checks
//!   that an image in a registry is byte-identical to a fixture.
//! - [`referrers`]: a signature and an SBOM attached to an image by the referrers tag schema.
//! - [`zstd_frames`]: decoding every frame of a zstd stream (skippable frames skipped).
//! - [`room`]: where a test that writes gigabytes puts them (temp dir or `/dev/shm`).
//! - [`Tug`]: runs the `tug` binary built in this workspace.
//! - [`FaultProxy`]: a fault-injecting HTTP proxy in front of a plain-HTTP registry (dropped
//!   connections, 5xx, 429, stalls, 401 challenges, body caps, `Range` rewrites, blob
//!   redirects to a [`BlobHost`]), counting the bytes it forwards.
//! - [`HostileServer`]: a scripted registry, token realm or blob store written to misbehave
//!   (one port for plain HTTP and TLS; endless and trickled bodies), logging every request.
//! - [`Nginx`]: nginx in front of a plain-HTTP [`Registry`], doing TLS and CORS with the
//!   documented `docs/nginx-cors.conf`, for browser tests.
//! - [`TugWeb`], [`PagePush`]: `tug web` serving the page, and chromium (playwright-core)
//!   pushing from it.
//!
//! Every external tool is installed by `scripts/install-deps.sh`; a missing one makes the
//! test fail with a message saying so.

pub mod browser;
pub mod connect_proxy;
pub mod fault_proxy;
pub mod fixtures;
pub mod hashing;
pub mod hostile;
pub mod hostile_registry;
pub mod nginx;
pub mod referrers;
mod registry;
mod registry_config;
pub mod rng;
pub mod room;
pub mod skopeo;
pub mod tls;
pub mod token_server;
pub mod tools;
mod tug;
pub mod zstd_frames;

pub use browser::{PagePush, TugWeb};
pub use connect_proxy::ConnectProxy;
pub use fault_proxy::{
    BlobHost, BlobHostRequest, CapReply, Fault, FaultProxy, ProxiedRequest, RangeRewrite, Rule,
    RuleId, Shaping,
};
pub use fixtures::{FixtureImage, FixtureLayer, ImageSpec, LayerSpec};
pub use hostile::{HostileServer, Reply, SeenRequest};
pub use hostile_registry::MiniRegistry;
pub use nginx::Nginx;
pub use registry::Registry;
pub use registry_config::RegistryConfig;
pub use token_server::{TokenMode, TokenServer, TokenServerConfig};
pub use tug::{tug_bin, Cut, CutOutput, CutWhen, Tug, TugOutput};
