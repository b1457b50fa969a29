//! tug-core: the sans-IO protocol core of tug.

pub mod archive;
pub mod auth;
pub mod challenge;
pub mod digest;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod progress;
pub mod push;
pub mod reference;
pub mod registry_error;
pub mod retry;
pub mod time;

pub use auth::Credentials;
pub use digest::Digest;
pub use endpoint::Scheme;
pub use error::{Error, Misuse};
pub use reference::Reference;
pub use time::Instant;
