//! The general settings, each declared once: its name (also its config file key), type,
//! default, accepted values, environment variable, flag and help. Defaults the core
//! declares come from the core. [`super::declare`] makes the rest from these lines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgMatches};
use serde::Deserialize;
use toml::Spanned;
use tug_core::push::PushConfig;
use tug_core::retry::RetryPolicy;

use super::declare::declare_settings;
use super::entry::{flag_args, from_env, from_file, from_flags, FilePlace, Row};
use super::origin::{Origin, Setting};
use super::registry::{FileRegistry, RegistrySettings};
use super::spec::{Group, Spec};
use super::value::Value;
use tug_core::limits;

use crate::compress::codec::CompressChoice;
use crate::exit_code::CliError;
use crate::progress::ProgressMode;

/// The core's push defaults (its pull defaults agree on what they share).
fn core() -> PushConfig {
    PushConfig::default()
}

declare_settings! {
    /// Most blobs in flight at once (exactly this many with --fixed-jobs).
    jobs: u16 = Spec::new(Group::Transfer, "--jobs", "TUG_JOBS", limits::DEFAULT_JOBS)
        .short('j')
        .value("JOBS")
        .between(i64::from(*limits::JOBS.start()), i64::from(*limits::JOBS.end()));
    /// Attempts per request before giving up.
    retries: u32 = Spec::new(
        Group::Retry,
        "--retries",
        "TUG_RETRIES",
        RetryPolicy::default().max_attempts,
    )
    .value("RETRIES")
    .between(i64::from(*limits::RETRIES.start()), i64::from(*limits::RETRIES.end()));
    /// Stop retrying once this many seconds have passed since the first failure.
    retry_max_wait: Option<u64> = Spec::new(
        Group::Retry,
        "--retry-max-wait",
        "TUG_RETRY_MAX_WAIT",
        RetryPolicy::default().budget.map(|d| d.as_secs()),
    )
    .value("SECS")
    .counting("seconds")
    .unset("none");
    /// Wait before the first retry (500ms, 2s; a plain number counts milliseconds), doubled
    /// for each later one; each wait is drawn between half of it and all of it.
    retry_delay: u64 = Spec::new(
        Group::Retry,
        "--retry-delay",
        "TUG_RETRY_DELAY",
        limits::DEFAULT_RETRY_DELAY.as_millis() as u64,
    )
    .value("DELAY")
    .counting("milliseconds")
    .between(*limits::RETRY_DELAY_MS.start() as i64, *limits::RETRY_DELAY_MS.end() as i64);
    /// Size of each chunk of a chunked upload.
    chunk_size: u64 = Spec::new(Group::Chunks, "--chunk-size", "TUG_CHUNK_SIZE", core().chunk_size)
        .value("BYTES")
        .counting("bytes")
        .at_least(limits::CHUNK_SIZE_MIN as i64);
    /// Blobs up to this many bytes are uploaded in one request; larger ones in chunks.
    monolithic_max: u64 = Spec::new(Group::Upload, "--monolithic-max", "TUG_MONOLITHIC_MAX", core().monolithic_max)
        .value("BYTES")
        .counting("bytes");
    /// How to show progress.
    progress: ProgressMode = Spec::new(Group::Transfer, "--progress", "TUG_PROGRESS", ProgressMode::Auto)
        .value("PROGRESS");
    /// Seconds to wait for a connection (0: no limit).
    connect_timeout: u64 = Spec::new(Group::Connect, "--connect-timeout", "TUG_CONNECT_TIMEOUT", 30)
        .value("SECS")
        .counting("seconds");
    /// Seconds without a byte moving before a request counts as failed and is retried, and
    /// the most a manifest, token or error answer may take to arrive whole (0: no limit).
    stall_timeout: u64 = Spec::new(
        Group::Connect,
        "--stall-timeout",
        "TUG_STALL_TIMEOUT",
        tug_core::limits::DEFAULT_STALL_TIMEOUT.as_secs(),
    )
    .value("SECS")
    .counting("seconds");
    /// Adapt the number of blobs in flight to the measured throughput, between 1 and
    /// --jobs: the default (undoes an earlier --fixed-jobs).
    adaptive: bool = Spec::new(Group::Transfer, "--adaptive", "TUG_ADAPTIVE", core().transfer.adaptive).off(
        "--fixed-jobs",
        "Keep exactly --jobs blobs in flight. By default the number adapts to the measured \
         throughput between 1 and --jobs, starting at --jobs (`-v` shows its decisions)",
    );
    /// Compress plain tar layers (as `docker save` writes them) while uploading them; layers
    /// already compressed are sent as they are. zstd makes the manifest OCI.
    compress: CompressChoice = Spec::new(Group::Upload, "--compress", "TUG_COMPRESS", CompressChoice::None)
        .value("CODEC");
    /// Compression level (gzip 1-9, default 3; zstd 1-19, default 3).
    compress_level: Option<i32> = Spec::new(Group::Upload, "--compress-level", "TUG_COMPRESS_LEVEL", None)
        .value("N")
        .between(1, 19)
        .unset("default");
}
