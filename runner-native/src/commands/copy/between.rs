//! `tug copy` between any two places (see [`tug_core::place`]): two registries are the
//! streamed copy of [`super`]; every other pair is run by the command that already moves
//! images that way — push (a file or store image to a registry), pull (a registry to a file
//! or the store), load (a file into the store), save (the store to an archive or a layout),
//! and load then save through a temporary store (a file to an archive or a layout).

use std::path::{Path, PathBuf};

use tug_core::archive::pulled_layout::given_archive_name;
use tug_core::place::{self, FileKind, Place};
use tug_core::Reference;

use crate::cli::{CopyArgs, LoadArgs, OutputFormat, PullArgs, PushArgs, SaveArgs};
use crate::commands::store::SaveName;
use crate::commands::{pull, push, store};
use crate::config::Settings;
use crate::credentials;
use crate::exit_code::CliError;
use crate::history::Recorder;
use crate::locked_temp::TempDir;
use crate::source::SourceSpec;

/// Prefix of the temporary store a file goes through on its way to an archive or layout
/// (in `$TMPDIR`; the directory's name adds [`crate::locked_temp::DIR_SUFFIX`]).
const TEMP_STORE_PREFIX: &str = ".tug-store-";

/// What a copy moves between.
pub enum Route {
    /// Two registries: the streamed copy.
    Registries(Reference, Reference),
    /// Any other pair.
    Places(Place, Place),
}

/// The two places `args` names.
pub fn route(args: &CopyArgs) -> Result<Route, CliError> {
    let parse = |text: &str, what: &str| {
        place::parse(text).map_err(|e| CliError::Usage(format!("{what}: {e}")))
    };
    // A file here is read by what it holds; a path that names none is said to be missing.
    let path_like = place::looks_like_path(&args.source);
    let source = match (parse(&args.source, "source"), local_file(&args.source)) {
        (Ok(Place::Registry(_)) | Err(_), Some(kind)) => Place::File {
            kind,
            path_and_ref: args.source.clone(),
        },
        (Ok(Place::File { .. }), Some(kind)) if path_like => Place::File {
            kind,
            path_and_ref: args.source.clone(),
        },
        (parsed, _) => parsed?,
    };
    let target = match parse(&args.target, "target")? {
        // `build.out/image.tar` where `build.out` is a directory here: a file to write.
        Place::Registry(_) if archive_in_a_directory_here(&args.target) => Place::File {
            kind: FileKind::of_output_name(&args.target),
            path_and_ref: args.target.clone(),
        },
        other => other,
    };
    if place::looks_like_path(&args.target) {
        // `out.tar.gz` with no transport: not what tug writes.
        if let Some(problem) = FileKind::output_name_problem(&args.target) {
            return Err(CliError::Usage(format!("target: {problem}")));
        }
    }
    if let Place::Registry(t) = &target {
        t.check_target()
            .map_err(|e| CliError::Usage(format!("target: {e}")))?;
    }
    Ok(match (source, target) {
        (Place::Registry(s), Place::Registry(d)) => Route::Registries(s, d),
        (s, d) => Route::Places(s, d),
    })
}

/// Whether `text` (no transport) names an archive in a directory that exists here.
fn archive_in_a_directory_here(text: &str) -> bool {
    let path = Path::new(text);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let archive = FileKind::of_output_name(text) != FileKind::Oci;
    !text.starts_with(place::DOCKER_PREFIX) && archive && parent.is_some_and(Path::is_dir)
}

/// A source named without a transport that is no registry image but a file here, as `tug
/// push` takes it: standard input (`-`) or a file is read as a tar (its format found from its
/// bytes), a directory as a layout.
fn local_file(text: &str) -> Option<FileKind> {
    if text == crate::source::STDIN {
        return Some(FileKind::DockerArchive);
    }
    // `./PATH:NAME` or `x.tar:NAME` without a transport: what PATH is (only for what looks
    // like a path: a directory `app` here does not make `app:1` a file).
    let split = crate::source::split_existing(text).filter(|(path, _)| {
        let path = path.to_string_lossy();
        let archive = FileKind::of_output_name(&path) != FileKind::Oci;
        place::looks_like_path(text) || place::looks_like_path(&path) || archive
    });
    let path = match split {
        Some((path, _)) => path,
        None => text.into(),
    };
    let meta = std::fs::metadata(path).ok()?;
    Some(match meta.is_dir() {
        true => FileKind::Oci,
        false => FileKind::DockerArchive,
    })
}

/// Copies from `src` to `dst`, neither pair being two registries.
pub fn run(
    (src, dst): (Place, Place),
    args: CopyArgs,
    mut settings: Settings,
    history: &mut Recorder,
) -> Result<(), CliError> {
    let usage = |m: String| Err(CliError::Usage(m));
    let to_or_from_registry =
        matches!(src, Place::Registry(_)) || matches!(dst, Place::Registry(_));
    if args.result.digestfile.is_some() && !to_or_from_registry {
        return usage(format!(
            "--digestfile is written by a copy to or from a registry, not from {} to {}",
            src.kind_name(),
            dst.kind_name()
        ));
    }
    // `-q` for every pair, the ones run by load and save too.
    args.result.apply(&mut settings)?;
    match (&src, &dst) {
        (Place::Store(_), Place::Store(_)) => {
            usage("both sides are the local store: there is nothing to copy".into())
        }
        (Place::File { .. } | Place::Store(_), Place::Registry(target)) => {
            let source = match &src {
                Place::Store(name) => store_name(name, "source")?,
                other => other.to_string(),
            };
            if args.sides.src_creds.is_some() {
                return usage(format!("--src-creds: the source is {}", src.kind_name()));
            }
            let (_, dst_creds) =
                credentials::sides_from_args(&args.sides, &args.registry.credentials)?;
            let mut registry = args.registry;
            registry.credentials.given = dst_creds;
            let push = PushArgs {
                source,
                store: args.store,
                target: target.to_string(),
                image: None,
                platform: args.platform,
                registry,
                transfer: args.transfer,
                upload: args.chunks.into(),
                dry_run: false,
                result: args.result,
            };
            push::run(push, settings, history)
        }
        (Place::Registry(image), Place::File { .. } | Place::Store(_)) => {
            let (output, format, name) = match &dst {
                Place::File { kind, path_and_ref } if !place::names_a_transport(&args.target) => (
                    Some(PathBuf::from(path_and_ref)),
                    Some(pull::output_format(*kind)?),
                    None,
                ),
                Place::File { .. } => match pull::transport_output(&dst.to_string()) {
                    Some(place) => {
                        let place = place?;
                        (Some(place.path), Some(place.format), place.name)
                    }
                    None => unreachable!("a file place is written with its transport"),
                },
                Place::Store(name) if name.is_empty() => (None, None, None),
                Place::Store(name) => (None, None, Some(store::canonical(name))),
                Place::Registry(_) => unreachable!("matched above"),
            };
            // An archive of docker's holds one platform: without --platform, this machine's.
            let one_platform = matches!(
                dst,
                Place::File {
                    kind: FileKind::DockerArchive,
                    ..
                }
            );
            if args.all_platforms && one_platform {
                return Err(pull::every_platform_into_a_docker_archive());
            }
            if args.sides.dest_creds.is_some() {
                return usage(format!("--dest-creds: the target is {}", dst.kind_name()));
            }
            // The source is the only registry: -u and TUG_* are its, as for `tug pull`.
            let (src_creds, flags) =
                credentials::sides_from_args(&args.sides, &args.registry.credentials)?;
            let mut registry = args.registry;
            registry.credentials.given = src_creds.or(flags);
            let pull = PullArgs {
                image: image.to_string(),
                output,
                format,
                all_platforms: args.platform.is_none() && !one_platform,
                platform: args.platform,
                store: args.store.map(Some),
                registry,
                transfer: args.transfer,
                name,
                result: args.result,
            };
            pull::run(pull, settings, history)
        }
        (Place::File { .. }, Place::Store(name)) => {
            if !name.is_empty() {
                return usage(format!(
                    "a file's images go into the store under their own names: write the \
                     target as `{}` alone",
                    place::STORE_PREFIX
                ));
            }
            if args.platform.is_some() {
                return usage("--platform: a file is loaded into the store whole".into());
            }
            store::load(LoadArgs {
                source: src.to_string(),
                image: None,
                store: args.store,
                quiet: false,
            })
            .map(drop)
        }
        (Place::Store(_) | Place::File { .. }, Place::File { kind, .. }) => {
            let format = pull::output_format(*kind)?;
            // `docker-archive:PATH:NAME` names the image in the archive, as skopeo's does; a
            // path given alone is the path.
            let spec = match &dst {
                Place::File { path_and_ref, .. } if !place::names_a_transport(&args.target) => {
                    SourceSpec {
                        path: path_and_ref.into(),
                        image: None,
                    }
                }
                _ => SourceSpec::parse(&dst.to_string()),
            };
            // Before a file is loaded into the temporary store (a link, a stream: where the
            // output really goes, which save finds again).
            match format {
                OutputFormat::Oci => {
                    crate::out_path::refuse_layout(&spec.path)?;
                    crate::layout_writer::check_output(&spec.path).map_err(CliError::Input)?
                }
                _ => drop(crate::archive_writer::check_output(&spec.path)?),
            }
            let oci = format != OutputFormat::DockerArchive;
            if let Some(given) = &spec.image {
                // A name that cannot be written is said before anything is read.
                given_archive_name(None, given, oci)
                    .map_err(|e| CliError::Usage(format!("target: {e}")))?;
            }
            let save = |image: String, store: Option<PathBuf>, name: Option<SaveName<'_>>| {
                let args = SaveArgs {
                    image,
                    output: spec.path.clone(),
                    platform: args.platform.clone(),
                    format: Some(format),
                    store,
                };
                store::save_named(args, name)
            };
            let given = spec.image.as_deref().map(SaveName::Given);
            match &src {
                Place::Store(name) => save(store_name(name, "source")?, args.store.clone(), given),
                _ => {
                    // Through a store of its own in `$TMPDIR`, gone when the copy ends (or
                    // when the next copy starts, if this one was killed).
                    let temp = TempDir::new(&std::env::temp_dir(), TEMP_STORE_PREFIX)
                        .map_err(|e| CliError::Input(format!("a temporary store: {e}")))?;
                    let loaded = store::load(LoadArgs {
                        source: src.to_string(),
                        image: None,
                        store: Some(temp.path().to_path_buf()),
                        quiet: false,
                    })?;
                    let image = only_image(&loaded, &src)?;
                    // The tag alone a layout named it by (`1`), which the store calls
                    // `docker.io/library/1:latest`: an OCI target names it so.
                    let tag =
                        Some(image.named.as_str()).filter(|n| !n.contains(['/', ':', '@']) && oci);
                    let name = given.or(tag.map(SaveName::Source));
                    save(image.name.clone(), Some(temp.path().into()), name)
                }
            }
        }
        (Place::Registry(_), Place::Registry(_)) => {
            unreachable!("two registries are the streamed copy")
        }
    }
}

/// A store image's name as a source: it cannot be empty.
fn store_name(name: &str, what: &str) -> Result<String, CliError> {
    if name.is_empty() {
        return Err(CliError::Usage(format!(
            "{what}: `{}` names no image of the store",
            place::STORE_PREFIX
        )));
    }
    Ok(name.to_owned())
}

/// The one image a file loaded whole into a temporary store holds (its names share one
/// digest), as [`store::load`] reported it.
fn only_image<'a>(loaded: &'a [store::Loaded], src: &Place) -> Result<&'a store::Loaded, CliError> {
    let mut digests: Vec<&tug_core::Digest> = loaded.iter().map(|l| &l.digest).collect();
    digests.sort();
    digests.dedup();
    match (loaded.first(), digests.len()) {
        (Some(image), 1) => Ok(image),
        (None, _) => Err(CliError::Input(format!("{src}: no image"))),
        (_, n) => Err(CliError::Usage(format!(
            "{src} holds {n} images: name one as {src}:REF"
        ))),
    }
}
