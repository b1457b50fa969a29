//! `tug sync`'s arguments, in the command line's layer; what it does is in `commands/sync.rs`.

use crate::config::{RegistryArgs, TransferArgs};
use crate::credentials::SideCredentialArgs;

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// The sources, then the one DEST (the last). A SOURCE is `registry/repository` (every tag),
    /// `registry/repository:tag` or `@digest` (that image), or `registry` alone (every
    /// repository its catalog lists); DEST is `registry[/prefix]`, and
    /// `src/team/app:1.2` lands at `DEST/team/app:1.2`. `docker://` allowed.
    #[arg(
        required_unless_present = "file",
        conflicts_with = "file",
        num_args = 2..,
        value_name = "PLACE"
    )]
    pub places: Vec<String>,
    /// Read the sources, each with its own tags, exclude-tags, platform and destination,
    /// from this TOML file instead of the command line (see the README).
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Take only the listed tags this regular expression matches in whole (repeatable).
    #[arg(long = "tags", value_name = "REGEX", conflicts_with = "file")]
    pub tags: Vec<String>,
    /// Leave out the listed tags this regular expression matches in whole (repeatable).
    #[arg(long = "exclude-tags", value_name = "REGEX", conflicts_with = "file")]
    pub exclude_tags: Vec<String>,
    /// Copy only this platform's image of a multi-platform source (default: every platform
    /// and the index itself, unchanged, as `tug copy`).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "file")]
    pub platform: Option<String>,
    /// Take only the I-th of N disjoint parts of the images (split by a stable hash of
    /// repository and tag), so N processes do the whole sync between them.
    #[arg(long, env = "TUG_SHARD", value_name = "I/N")]
    pub shard: Option<String>,
    /// Ask the source registries for this many tags (or repositories) per page (`?n=N`),
    /// following their `Link` headers to the end.
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Print the plan (images to copy and already in sync); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan or report as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sides: SideCredentialArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub chunks: crate::config::ChunkArgs,
    #[command(flatten)]
    pub referrers: super::referrers::ReferrersArgs,
}
