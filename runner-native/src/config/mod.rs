//! Settings: built-in defaults, overridden by the config file, overridden by environment
//! variables, overridden by flags. Resolved once per command; each value remembers where it
//! came from, for `tug config` and `-v`.
//!
//! Each general setting is declared once, in [`table`]: name (the config file key), type,
//! default, accepted values, environment variable and flag; the rest is made from that.
//!
//! The config file is `$TUG_CONFIG`, else `$XDG_CONFIG_HOME/tug/config.toml`, else
//! `~/.config/tug/config.toml`:
//!
//! ```toml
//! jobs = 8
//! retries = 5
//! retry_max_wait = 600     # seconds
//! retry_delay = 1000       # milliseconds before the first retry
//! chunk_size = 67108864    # bytes
//! monolithic_max = 67108864
//! progress = "plain"       # auto, tty, plain, json, none
//! connect_timeout = 30     # seconds
//! stall_timeout = 60
//! adaptive = true          # false: always --jobs blobs in flight (--fixed-jobs)
//! compress = "zstd"        # push: none, gzip, zstd
//! compress_level = 3       # gzip 1-9, zstd 1-19
//!
//! [registries."registry.example.com:5000"]
//! ca_file = "certs/ca.pem" # relative to the config file
//! insecure = false
//! plain_http = false
//! ```
//!
//! From the bottom up: [`origin`], [`spec`] and [`value`] (a setting, its declaration, its
//! type), [`entry`] (one setting read and shown), [`registry`] (a registry's table),
//! [`table`] (the declarations, expanded by [`declare`]), then what uses the table:
//! [`flags`], [`load`], [`reach`], [`show`].

mod certs_d;
mod declare;
mod entry;
mod flags;
mod load;
mod origin;
mod reach;
mod registry;
mod show;
mod spec;
mod table;
#[cfg(test)]
mod tests;
mod value;

pub use flags::{ChunkArgs, RegistryArgs, RetryArgs, TransferArgs, UploadArgs};
pub use origin::{Origin, Setting};
pub use table::Settings;
