//! The command line (the registry verbs' and inspect's arguments in `cli/verbs.rs`).

pub mod foreign_flags;
pub mod referrers;
pub mod sync;
pub mod verbs;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ChunkArgs, RegistryArgs, TransferArgs, UploadArgs};

/// Move container images between files and OCI / Docker registries.
#[derive(Parser, Debug)]
#[command(
    name = "tug",
    version,
    about,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Cli {
    /// Log every request and response status on standard error (never headers or secrets).
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Push an image file (docker save tar, OCI archive, OCI layout) to a registry.
    Push(PushArgs),
    /// Show what an image file or a registry image holds: images, platforms, layers, sizes,
    /// media types, config.
    Inspect(verbs::InspectArgs),
    /// Copy an image between registries (streaming blobs between them), files and the store.
    Copy(CopyArgs),
    /// Mirror repositories (every tag, filtered) or a whole registry into another registry.
    #[command(
        override_usage = "tug sync [OPTIONS] <SOURCE>... <DEST>\n       tug sync [OPTIONS] --file <FILE>"
    )]
    Sync(sync::SyncArgs),
    /// Pull an image from a registry into a file, a directory, or the local store.
    Pull(PullArgs),
    /// List the images in the local store.
    Images(ImagesArgs),
    /// Remove an image's name from the local store (its blobs go with `tug prune`).
    Rm(RmArgs),
    /// Delete the store's blobs no image uses, and say how much space that freed.
    Prune(PruneArgs),
    /// Write an image of the local store to a docker-archive or oci-archive tar.
    Save(SaveArgs),
    /// Import the images of an archive or layout (any format `tug push` reads) into the store.
    Load(LoadArgs),
    /// Check credentials against a registry and keep them (credential helper or config.json).
    Login(LoginArgs),
    /// Forget the credentials kept for a registry.
    Logout(LogoutArgs),
    /// Serve the web page (push an image file from a browser) on a local address.
    Web(WebArgs),
    /// List past pushes, pulls and copies (`tug history show ID` for one in detail).
    History(HistoryArgs),
    /// Print the effective settings and where each comes from (default, file, env).
    Config(ConfigArgs),
    /// List a repository's tags (every page).
    Ls(verbs::LsArgs),
    /// List a registry's repositories (every page).
    Catalog(verbs::CatalogArgs),
    /// Print the digest of an image's manifest (`--platform`: that platform's).
    Digest(verbs::DigestArgs),
    /// Print an image's manifest exactly as the registry serves it.
    Manifest(verbs::ManifestArgs),
    /// Give an image new tags in its repository (no blob moves).
    Tag(verbs::TagArgs),
    /// Delete an image's manifest from a registry (a tag is resolved to its digest first).
    Delete(verbs::DeleteArgs),
    /// Write a blob to standard output or a file, verified against its digest.
    Blob(verbs::BlobArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish).
    Completion(CompletionArgs),
    /// Write a man page for tug and for each of its commands into DIR.
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The image file: a path (format detected), or `docker-archive:PATH`, `oci:DIR[:REF]`,
    /// `oci-archive:PATH[:REF]`, `dir:DIR` (skopeo's); or the name of an image in the local
    /// store.
    pub source: String,
    /// The local store, for store images as SOURCE.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Where to push: `registry[:port]/repository[:tag|@digest]` (`docker://` allowed).
    pub target: String,
    /// Which image of a file holding several (a name such as `app:1.0`, or an index).
    #[arg(long)]
    pub image: Option<String>,
    /// Of a multi-platform image, push only this platform's image (not the index).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    /// Check which blobs the registry lacks and print the plan; upload nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub result: ResultArgs,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The image to copy: `registry/repository[:tag|@digest]` (`docker://` allowed),
    /// `oci:DIR[:REF]`, `oci-archive:PATH[:REF]`, `docker-archive:PATH[:REF]`, `dir:DIR`
    /// (skopeo's), or `store:NAME` (an image of the local store).
    pub source: String,
    /// Where to copy it, in the same forms but `dir:` (`store:` alone keeps the source's
    /// name).
    pub target: String,
    /// The local store, for `store:` places.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Copy only this platform's image of a multi-platform source (default: every
    /// platform and the index itself, unchanged).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Copy every platform and the index (the default; kept for scripts that say so).
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    #[command(flatten)]
    pub sides: crate::credentials::SideCredentialArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub chunks: ChunkArgs,
    #[command(flatten)]
    pub result: ResultArgs,
    #[command(flatten)]
    pub referrers: referrers::ReferrersArgs,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry, e.g. `registry.example.com:5000` (default: Docker Hub).
    #[arg(default_value = "docker.io")]
    pub registry: String,
    #[command(flatten)]
    pub registry_args: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub).
    #[arg(default_value = "docker.io")]
    pub registry: String,
}

/// An archive format `tug save` writes (not a layout directory).
fn archive_format(text: &str) -> Result<OutputFormat, String> {
    use clap::ValueEnum as _;
    match OutputFormat::from_str(text, false)? {
        OutputFormat::Oci => Err("tug save writes archives: docker-archive or oci-archive".into()),
        archive => Ok(archive),
    }
}

/// What `tug pull -o` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A `docker save` tar (`docker load` reads it).
    DockerArchive,
    /// An OCI image layout directory.
    Oci,
    /// An OCI image layout in a tar.
    OciArchive,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// The image: `registry/repository[:tag|@digest]` (`docker://` allowed).
    pub image: String,
    /// Where to write it; without it the image goes into the local store. `-` is standard
    /// output (a `docker save` tar, as `docker save` writes); a link is written through, a
    /// FIFO gets the archive once it is whole.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The output's format (default: from the path: `*.tar` docker-archive, `*.oci.tar`
    /// oci-archive, else an OCI layout directory).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// The platform to take from a multi-platform image (default: linux on this machine's
    /// architecture).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Keep every platform of a multi-platform image (not for docker-archive).
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// The local store (default: $TUG_STORE, else $XDG_DATA_HOME/tug/store). A pull to a
    /// docker-archive (`-o FILE.tar`) leaves the store alone unless `--store` is given
    /// (with or without DIR): then it also keeps the blobs there, and takes those it has.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub store: Option<Option<PathBuf>>,
    /// The name the image gets where it is written (a copy's `oci:DIR:REF`); default: its
    /// tag in an `oci` layout, its full name elsewhere.
    #[arg(skip)]
    pub name: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub result: ResultArgs,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// The local store (default: $TUG_STORE, else $XDG_DATA_HOME/tug/store).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// The image: its full name, or a digest prefix (6 hex digits or more).
    pub image: String,
    /// The local store.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// The local store.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Also print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also delete unreferenced blobs written in the last ten minutes (only when no pull is
    /// running into the store).
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// The image: its full name, or a digest prefix (6 hex digits or more).
    pub image: String,
    /// The tar to write, or in skopeo's spelling `docker-archive:PATH[:NAME]`,
    /// `oci-archive:PATH[:NAME]` or `oci:DIR[:REF]` (an OCI layout directory); `-` is
    /// standard output; a link is written through, a FIFO gets the archive once it is whole.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// For a multi-platform image: write only this platform's image (a docker-archive needs
    /// one; an OCI archive gets every platform without it).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// docker-archive or oci-archive (default: from the name, `*.oci.tar` is oci-archive).
    #[arg(long, value_parser = archive_format, value_name = "docker-archive|oci-archive")]
    pub format: Option<OutputFormat>,
    /// The local store.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The image file, as for `tug push`.
    pub source: String,
    /// Which image of a file holding several (default: all of them).
    #[arg(long)]
    pub image: Option<String>,
    /// The local store.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Say nothing but errors (no `Loaded …` lines), as `docker load -q`.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct WebArgs {
    /// The address to listen on (port 0: any free port). The page's URL is printed on
    /// standard output.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub action: Option<HistoryAction>,
    /// Print JSON (an array of records).
    #[arg(long)]
    pub json: bool,
    /// Only operations that failed or were cancelled.
    #[arg(long)]
    pub failed: bool,
    /// Only the last N operations.
    #[arg(short = 'n', value_name = "N")]
    pub n: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum HistoryAction {
    /// Show one operation, with the timings of each blob.
    Show {
        /// The operation's id (or a unique prefix of it).
        id: String,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for (source its output, or put it where the shell loads
    /// completions from).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The directory to write the pages into (created if missing): `tug.1`, `tug-push.1`, …
    pub dir: PathBuf,
}

/// How push, pull and copy hand their result to scripts, as skopeo and podman do: the
/// digest in a file (`--digestfile`), and nothing on standard error but errors (`-q`).
/// Standard output carries the result either way.
#[derive(Args, Debug, Default, Clone)]
pub struct ResultArgs {
    /// Show no progress and no messages, only errors (standard output keeps the result).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Also write the manifest digest (`sha256:…`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
}

impl ResultArgs {
    /// `-q` turns progress off, whatever the config file, environment or `--progress` said;
    /// a `--digestfile` that could not be written fails now, before any work.
    pub fn apply(
        &self,
        settings: &mut crate::config::Settings,
    ) -> Result<(), crate::exit_code::CliError> {
        if self.quiet {
            crate::output::set_quiet();
            settings.progress = crate::config::Setting {
                value: crate::progress::ProgressMode::None,
                origin: crate::config::Origin::Flag("--quiet"),
            };
        }
        match &self.digestfile {
            Some(path) => {
                crate::output::check_digest_file(path).map_err(crate::exit_code::CliError::Input)
            }
            None => Ok(()),
        }
    }

    /// Writes `digest` to the `--digestfile`, if one was asked for.
    pub fn write_digest(
        &self,
        digest: &tug_core::Digest,
    ) -> Result<(), crate::exit_code::CliError> {
        match &self.digestfile {
            Some(path) => {
                crate::output::write_digest(path, digest).map_err(crate::exit_code::CliError::Input)
            }
            None => Ok(()),
        }
    }
}
