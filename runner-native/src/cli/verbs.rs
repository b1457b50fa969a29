//! The registry verbs' arguments (`ls`, `catalog`, `digest`, `manifest`, `tag`, `delete`,
//! `blob`) and `inspect`'s, in the command line's layer; what each does is in
//! `commands/verbs/` and `commands/inspect/`. [`ReachArgs`] is declared once and flattened
//! into each.

use std::path::PathBuf;

use crate::config::{RegistryArgs, RetryArgs};

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// The repository: `registry/repository` (`docker://` allowed); with `--referrers`, the
    /// image: `registry/repository[:tag|@digest]`.
    pub repository: String,
    /// Print `{"name": …, "tags": […]}` (with `--referrers`, `{"subject": …, "referrers": […]}`).
    #[arg(long)]
    pub json: bool,
    /// List what is attached to the image instead (signatures, SBOMs, attestations): type,
    /// digest, size, and the cosign-style tag it is under.
    #[arg(long, conflicts_with = "page_size")]
    pub referrers: bool,
    /// Ask the registry for this many tags per page (`?n=N`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct CatalogArgs {
    /// The registry: `host[:port]` (`docker://` allowed).
    pub registry: String,
    /// Print `{"repositories": […]}`.
    #[arg(long)]
    pub json: bool,
    /// Ask the registry for this many repositories per page (`?n=N`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct DigestArgs {
    /// The image: `registry/repository[:tag|@digest]` (`docker://` allowed).
    pub image: String,
    /// The digest of this platform's manifest of a multi-platform image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print `{"digest": …, "mediaType": …, "size": …}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct ManifestArgs {
    /// The image: `registry/repository[:tag|@digest]` (`docker://` allowed).
    pub image: String,
    /// This platform's manifest of a multi-platform image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct TagArgs {
    /// The image to tag: `registry/repository[:tag|@digest]` (`docker://` allowed).
    pub image: String,
    /// The new tags, in the same repository.
    #[arg(required = true, value_name = "NEWTAG")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The image: `registry/repository:tag` (resolved to its digest) or `…@digest`
    /// (`docker://` allowed).
    pub image: String,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct BlobArgs {
    /// The blob: `registry/repository@sha256:…` (`docker://` allowed).
    pub blob: String,
    /// Write it to this file (replaced only once the blob is complete and verified; a link
    /// is written through, a FIFO gets the blob once verified); default, and `-`: standard
    /// output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// An image file, as for `tug push`, or an image in a registry:
    /// `registry/repository[:tag|@digest]` (`docker://` allowed).
    pub source: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// A registry image: print its config blob, byte for byte (of `--platform`'s image for an
    /// index).
    #[arg(long)]
    pub config: bool,
    /// A registry image: only this platform's image of an index.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

/// How a verb reaches the registry: pull's registry options (TLS, credentials, timeouts)
/// and retries; none of the blob-moving ones (`--jobs`, `--progress`, `--adaptive`).
/// Declared once, flattened into every verb.
#[derive(clap::Args, Debug)]
pub struct ReachArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub retry: RetryArgs,
}
