//! The local store's commands: `tug images`, `tug rm`, `tug prune`, `tug save`.
//!
//! The store is an OCI image layout (see [`crate::oci_dir`]): `index.json` names images by
//! their full reference, blobs are shared between images. A multi-platform image is its
//! index, named like any image, with every platform's manifest and blobs reachable from it.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;
use tug_core::archive::export_choice::{choose_export, ExportChoice, ExportRefusal};
use tug_core::archive::pulled_layout::{given_archive_name, IndexEntry, ANNOTATION_TUG_CREATED};
use tug_core::archive::stored_image::image_blobs;
use tug_core::archive::{Selection, MIN_DIGEST_PREFIX};
use tug_core::{Digest, Platform};

use crate::archive_writer::{write_docker_archive, write_oci_archive, ExportError, ExportImage};
use crate::cli::{ImagesArgs, LoadArgs, OutputFormat, PruneArgs, RmArgs, SaveArgs};
use crate::commands::pull::{infer_format, store_dir};
use crate::exit_code::CliError;
use crate::layout_writer::write_oci_layout;
use crate::oci_dir::{OciDir, TakeError};
use crate::output::{errln, noteln, outln, plural};
use crate::progress::bytes;
use crate::safe_fs::{self, Access};
use crate::source::{Source, SourceSpec};

/// Blobs younger than this survive `prune` (a concurrent pull may not have named them yet).
const PRUNE_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

fn open(store: Option<&Path>) -> Result<OciDir, CliError> {
    let root = store_dir(store);
    OciDir::open(&root).map_err(|e| CliError::Input(format!("{}: {e}", root.display())))
}

/// An error reading or writing the store `layout`, naming it (a full disk said without
/// where was no help).
fn in_store(layout: &OciDir) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::Input(format!("store {}: {e}", layout.root().display()))
}

/// An error reading or writing blob `digest` of the store `layout`, naming both (a blob
/// another process removed meanwhile, `tug rm` and `tug prune`).
fn blob_in_store<'a>(
    layout: &'a OciDir,
    digest: &'a Digest,
) -> impl Fn(std::io::Error) -> CliError + 'a {
    move |e| {
        CliError::Input(format!(
            "store {}: blob {digest}: {e}",
            layout.root().display()
        ))
    }
}

/// An image entry of the store's `index.json`.
struct Entry {
    name: String,
    digest: Digest,
    media_type: String,
    size: u64,
    created: String,
}

fn entries(layout: &OciDir) -> Result<Vec<Entry>, CliError> {
    Ok(layout
        .entries()
        .map_err(in_store(layout))?
        .iter()
        .filter_map(|v: &Value| {
            let a = &v["annotations"];
            Some(Entry {
                name: IndexEntry::name_of(v)?.to_owned(),
                digest: v["digest"].as_str()?.parse().ok()?,
                media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
                size: v["size"].as_u64().unwrap_or(0),
                created: a[ANNOTATION_TUG_CREATED].as_str().unwrap_or("").to_owned(),
            })
        })
        .collect())
}

/// A name as the store keeps it: `busybox` is `docker.io/library/busybox:latest`; a name
/// that is no image reference (an OCI `ref.name` such as `Release_1`) as it is.
pub fn canonical(name: &str) -> String {
    match name.parse::<tug_core::Reference>() {
        Ok(r) => r.with_default_tag().to_string(),
        Err(_) => name.to_owned(),
    }
}

/// Whether `hex` looks meant as a digest prefix but is too short to be taken as one.
fn short_prefix(hex: &str) -> bool {
    !hex.is_empty() && hex.len() < MIN_DIGEST_PREFIX && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The entry `wanted` names: a name (as given or canonical), else a digest prefix (an
/// image kept under its digest is found by its name first, though others share it).
fn find<'a>(all: &'a [Entry], wanted: &str) -> Result<&'a Entry, CliError> {
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    let canon = canonical(wanted);
    let by_name = all.iter().find(|e| e.name == wanted || e.name == canon);
    let matches: Vec<&Entry> = match by_name {
        Some(e) => vec![e],
        None => all
            .iter()
            .filter(|e| hex.len() >= MIN_DIGEST_PREFIX && e.digest.hex().starts_with(hex))
            .collect(),
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] if all.is_empty() => Err(CliError::Input(format!(
            "no image {wanted:?} in the store: it is empty (tug pull or tug load puts images there)"
        ))),
        [] if short_prefix(hex) => Err(CliError::Input(format!(
            "no image {wanted:?} in the store (as a digest prefix it is too short: at least \
             {MIN_DIGEST_PREFIX} hex digits)"
        ))),
        [] => Err(CliError::Input(format!(
            "no image {wanted:?} in the store; it has: {}",
            all.iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        several => Err(CliError::Input(format!(
            "{wanted:?} names several images ({}); use the full name",
            several
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Sum of the sizes of the blobs an image needs that the store holds.
fn image_size(layout: &OciDir, entry: &Entry) -> u64 {
    image_blobs(&entry.digest, &entry.media_type, |d| {
        layout.read_blob_if_held(d)
    })
    .map(|found| {
        found
            .blobs
            .iter()
            .chain(&found.foreign)
            .filter_map(|d| std::fs::metadata(layout.blob_path(d)).ok())
            .map(|m| m.len())
            .sum()
    })
    .unwrap_or(0)
}

pub fn images(args: ImagesArgs) -> Result<(), CliError> {
    let layout = open(args.store.as_deref())?;
    let all = entries(&layout)?;
    if args.json {
        let v: Vec<Value> = all
            .iter()
            .map(|e| {
                serde_json::json!({"name": e.name, "digest": e.digest, "mediaType": e.media_type,
                    "size": image_size(&layout, e), "created": e.created})
            })
            .collect();
        outln!("{}", Value::Array(v));
        return Ok(());
    }
    outln!("{:<50} {:<19} {:>10}  CREATED", "NAME", "DIGEST", "SIZE");
    for e in &all {
        outln!(
            "{:<50} sha256:{} {:>10}  {}",
            e.name,
            e.digest.short(),
            bytes(image_size(&layout, e)),
            e.created
        );
    }
    Ok(())
}

pub fn rm(args: RmArgs) -> Result<(), CliError> {
    let layout = open(args.store.as_deref())?;
    let all = entries(&layout)?;
    let entry = find(&all, &args.image)?;
    let digest = entry.digest.to_string();
    let name = entry.name.clone();
    layout
        .update_index(|m| {
            m.retain(|v| {
                let n = IndexEntry::name_of(v);
                !(n == Some(name.as_str()) && v["digest"].as_str() == Some(digest.as_str()))
            })
        })
        .map_err(in_store(&layout))?;
    errln!("Untagged {name}; `tug prune` frees blobs no image uses");
    Ok(())
}

pub fn prune(args: PruneArgs) -> Result<(), CliError> {
    let layout = open(args.store.as_deref())?;
    // No pull or load may be running: what they wrote is named only at their end.
    let Some(_alone) = layout.alone().map_err(in_store(&layout))? else {
        errln!(
            "Removed nothing: a pull or load is writing into the store {} now, and what it \
             wrote is named only when it ends; run tug prune then",
            layout.root().display()
        );
        if args.json {
            outln!(
                "{}",
                serde_json::json!({"blobs_removed": 0, "bytes_freed": 0, "store_in_use": true})
            );
        }
        return Ok(());
    };
    let mut keep: HashSet<Digest> = HashSet::new();
    let mut unknown = Vec::new();
    for e in entries(&layout)? {
        // A platform whose manifest the store lacks (a partial save) names nothing stored.
        match image_blobs(&e.digest, &e.media_type, |d| layout.read_blob_if_held(d)) {
            Ok(found) => keep.extend(found.blobs.into_iter().chain(found.foreign)),
            Err(why) => unknown.push(format!("{}: {why}", e.name)),
        }
    }
    if !unknown.is_empty() {
        // Any blob may be one of those images': none can be proved unreferenced.
        for why in &unknown {
            errln!("tug: cannot tell which blobs {why}");
        }
        errln!(
            "Removed nothing: every blob is kept while an image's manifests cannot be read (`tug rm` the image, or pull it again, then prune)"
        );
        if args.json {
            outln!(
                "{}",
                serde_json::json!({"blobs_removed": 0, "bytes_freed": 0, "unreadable_images": unknown})
            );
        }
        return Ok(());
    }
    let dir = layout.root().join("blobs/sha256");
    let (mut count, mut freed, mut kept_young) = (0u64, 0u64, 0u64);
    for entry in std::fs::read_dir(&dir)
        .map_err(in_store(&layout))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let unfinished = name.starts_with(crate::oci_dir::PARTIAL_PREFIX);
        if name.starts_with(crate::oci_dir::TEMP_PREFIX) {
            // A temporary file of a process gone (none is running: the store is ours).
            if let Ok(meta) = entry.metadata() {
                if std::fs::remove_file(entry.path()).is_ok() {
                    count += 1;
                    freed += meta.len();
                }
            }
            continue;
        }
        if !unfinished {
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                continue; // not a blob
            };
            if keep.contains(&digest) {
                continue;
            }
        }
        let Ok(meta) = entry.metadata() else { continue };
        if unfinished {
            // An interrupted download a later pull could continue; one a pull is writing
            // now is locked. One that cannot be opened as a regular file (a planted link)
            // is left alone.
            let options = std::fs::OpenOptions::new().write(true).clone();
            let locked = safe_fs::open(&entry.path(), &options, Access::Shared)
                .map_or(true, |f| f.try_lock().is_err());
            if locked {
                continue;
            }
        }
        // A pull running now may have stored blobs it has not named yet: leave young ones.
        let young = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|age| age < PRUNE_GRACE);
        if young && !args.all {
            kept_young += 1;
            continue;
        }
        let size = meta.len();
        if std::fs::remove_file(entry.path()).is_ok() {
            count += 1;
            freed += size;
        }
    }
    errln!("Removed {count} unreferenced blobs, freed {}", bytes(freed));
    if kept_young > 0 {
        errln!(
            "Kept {kept_young} unreferenced blobs written in the last {} minutes (a pull may be storing them; `tug prune --all` removes them too)",
            PRUNE_GRACE.as_secs() / 60
        );
    }
    if args.json {
        outln!(
            "{}",
            serde_json::json!({"blobs_removed": count, "bytes_freed": freed, "blobs_kept_recent": kept_young})
        );
    }
    Ok(())
}

pub fn save(mut args: SaveArgs) -> Result<(), CliError> {
    // `-o docker-archive:PATH[:NAME]`, as `tug pull -o` takes skopeo's spelling.
    let spelled = args
        .output
        .to_str()
        .and_then(crate::commands::pull::transport_output);
    let Some(place) = spelled else {
        return save_named(args, None);
    };
    let place = place?;
    if args.format.is_some_and(|f| f != place.format) {
        return Err(CliError::Usage(format!(
            "-o {}: --format says otherwise",
            args.output.display()
        )));
    }
    args.output = place.path;
    args.format = Some(place.format);
    save_named(args, place.name.as_deref().map(SaveName::Given))
}

/// The name an archive or layout `tug save` writes gives its image, instead of the store's.
#[derive(Clone, Copy, Debug)]
pub enum SaveName<'a> {
    /// The user's (`docker-archive:PATH:NAME`, `oci:DIR:REF`, as [`given_archive_name`]
    /// takes it): in a layout it replaces whatever it names, as skopeo's does.
    Given(&'a str),
    /// The tag the source file named the image by (`1` of a layout's `ref.name`), which
    /// the store names `docker.io/library/1:latest`: in a layout it never takes another
    /// image's name.
    Source(&'a str),
}

impl SaveName<'_> {
    fn text(&self) -> &str {
        match self {
            SaveName::Given(n) | SaveName::Source(n) => n,
        }
    }
}

/// `tug save`, the image named `given` in the archive or layout instead of its own name, if
/// given (`tug copy … docker-archive:PATH:NAME`).
pub fn save_named(args: SaveArgs, given: Option<SaveName<'_>>) -> Result<(), CliError> {
    let layout = open(args.store.as_deref())?;
    let all = entries(&layout)?;
    let entry = find(&all, &args.image)?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let format = infer_format(&args.output, args.format, true)?;
    // Where an archive really goes (through a link, into a stream); a layout is a
    // directory, never a stream.
    let dest = match format {
        OutputFormat::Oci => {
            crate::out_path::refuse_layout(&args.output)?;
            crate::layout_writer::check_output(&args.output).map_err(CliError::Input)?;
            None
        }
        _ => Some(crate::archive_writer::check_output(&args.output)?),
    };
    let (mut image, chosen) = export_image(&layout, entry, platform.as_ref(), format)?;
    if let Some(naming) = given {
        let given = naming.text();
        let oci = matches!(format, OutputFormat::OciArchive | OutputFormat::Oci);
        // An image the store keeps under its digest has no repository of its own, nor one
        // a file named by its tag alone (the store's name for it is made up): a bare tag
        // names it in an OCI output by `ref.name` alone, as skopeo writes it.
        let own = Some(entry.name.as_str()).filter(|n| n.parse::<Digest>().is_err());
        let bare = !given.contains(['/', ':', '@']);
        let unnamed = own.is_none() || matches!(naming, SaveName::Source(_));
        image.name = match unnamed && oci && bare {
            true => None,
            false => Some(given_archive_name(own, given, oci).map_err(CliError::Usage)?),
        };
        // As skopeo writes `oci-archive:PATH:NAME` and `oci:DIR:NAME`: NAME is the `ref.name`.
        image.ref_name = oci.then(|| given.to_owned());
        image.ref_given = matches!(naming, SaveName::Given(_));
    }
    let written = match dest.as_ref() {
        Some(dest) => dest.path(),
        None => &args.output,
    };
    match format {
        OutputFormat::DockerArchive => {
            write_docker_archive(&layout, &image, written).map_err(ExportError::into_cli)?
        }
        OutputFormat::OciArchive => {
            write_oci_archive(&layout, &image, written).map_err(ExportError::into_cli)?
        }
        OutputFormat::Oci => {
            write_oci_layout(&layout, &image, written).map_err(ExportError::into_cli)?
        }
    }
    let shown = match dest {
        Some(dest) => {
            let shown = dest.shown();
            dest.deliver()?;
            shown
        }
        None => args.output.display().to_string(),
    };
    let image_shown = match (&image.name, given) {
        (Some(name), Some(SaveName::Given(_))) => format!("{} as {name}", entry.name),
        (None, Some(naming)) => format!("{} as {}", entry.name, naming.text()),
        _ => entry.name.clone(),
    };
    match chosen.as_ref().or(platform.as_ref()) {
        Some(p) => noteln!("Saved {image_shown} ({p}) to {shown}"),
        None => noteln!("Saved {image_shown} to {shown}"),
    }
    Ok(())
}

/// What `tug save` writes for `entry`: the image, or with `platform` its manifest for that
/// platform (the core's choice; a docker-archive holds one platform), and the platform of
/// the index entry chosen, if one was.
fn export_image(
    layout: &OciDir,
    entry: &Entry,
    platform: Option<&Platform>,
    format: OutputFormat,
) -> Result<(ExportImage, Option<Platform>), CliError> {
    let bytes = layout
        .read_blob(&entry.digest)
        .map_err(blob_in_store(layout, &entry.digest))?;
    let manifest = (&entry.digest, entry.media_type.as_str(), bytes.as_slice());
    let read = |digest: &Digest| layout.read_blob(digest).ok();
    let one_platform = format == OutputFormat::DockerArchive;
    let choice = choose_export(&entry.name, manifest, read, platform, one_platform);
    let (digest, media_type, size, chosen) = match choice {
        Ok(ExportChoice::Whole) => (
            entry.digest.clone(),
            entry.media_type.clone(),
            entry.size,
            None,
        ),
        Ok(ExportChoice::Platform(child)) => {
            (child.digest, child.media_type, child.size, child.platform)
        }
        Err(ExportRefusal::NeedsPlatform(listed)) => {
            return Err(CliError::Usage(format!(
                "{} is a multi-platform image ({}) and a docker-archive holds one \
                 platform: choose one with --platform OS/ARCH[/VARIANT], or write every \
                 platform into an OCI archive (-o FILE.oci.tar)",
                entry.name,
                listed.join(", ")
            )))
        }
        Err(ExportRefusal::Input(message)) => return Err(CliError::Input(message)),
    };
    let image = ExportImage {
        name: Some(entry.name.clone()),
        ref_name: None,
        ref_given: false,
        digest,
        media_type,
        size,
    };
    Ok((image, chosen))
}

/// An image [`load`] stored: its name in the store, the name the file gave it, and what it
/// is (a manifest or index).
pub struct Loaded {
    /// The store's name (`docker.io/library/1:latest`).
    pub name: String,
    /// The file's (`1`, a layout's `ref.name`).
    pub named: String,
    /// Its manifest's or index's digest (names of one image share it).
    pub digest: Digest,
}

/// Stores every image of the source (or the one `--image` names) under its names: a
/// multi-platform index whole, with each of its platforms. Returns the names it stored.
pub fn load(args: LoadArgs) -> Result<Vec<Loaded>, CliError> {
    let mut loaded = Vec::new();
    if args.quiet {
        crate::output::set_quiet();
    }
    let spec = SourceSpec::parse(&args.source);
    let source = Source::open(&spec.path)?;
    let wanted = spec.wanted(args.image.as_deref())?;
    let selections = match wanted {
        Some(w) => vec![source
            .contents
            .select_for_push(Some(w))
            .map_err(|e| CliError::Input(format!("{}: {e}", source.path.display())))?],
        None => source.contents.entries(),
    };
    let mut layout = open(args.store.as_deref())?;
    // In use until every image is named: `tug prune` waits its turn.
    let _in_use = layout.in_use().map_err(in_store(&layout))?;
    for selection in selections {
        let (images, root) = match selection {
            Selection::Image(img) => (std::slice::from_ref(img), &img.manifest),
            Selection::Index { index, images } => (images, index),
        };
        crate::layer_check::check_layers(&source, images)?;
        for img in images {
            for blob in std::iter::once(&img.config).chain(&img.layers) {
                // A foreign layer the file does not hold stays outside, as in the file.
                let absent = || !source.blob_file(&blob.location).path.exists();
                if layout.has_blob(&blob.digest) || (blob.foreign && absent()) {
                    continue;
                }
                copy_blob(&mut layout, &source, blob)?;
            }
            layout
                .put_blob(&img.manifest.digest, &img.manifest.bytes)
                .map_err(blob_in_store(&layout, &img.manifest.digest))?;
        }
        layout
            .put_blob(&root.digest, &root.bytes)
            .map_err(blob_in_store(&layout, &root.digest))?;
        let names = match images.first().map(|img| img.repository_names()) {
            Some(names) if !names.is_empty() => names.iter().map(|n| n.to_string()).collect(),
            _ => vec![format!("sha256:{}", root.digest.hex())],
        };
        let what = match selection {
            Selection::Image(_) => String::new(),
            Selection::Index { .. } => {
                let platforms: Vec<String> = images
                    .iter()
                    .map(|img| match &img.platform {
                        Some(p) => p.to_string(),
                        None => "unknown platform".to_owned(),
                    })
                    .collect();
                format!(
                    " ({}: {})",
                    plural(images.len(), "platform"),
                    platforms.join(", ")
                )
            }
        };
        for name in &names {
            // An image without a name is kept under its digest, as it is (not as a
            // repository called `sha256` on Docker Hub).
            let full = match name.parse::<Digest>() {
                Ok(_) => name.clone(),
                Err(_) => canonical(name),
            };
            layout
                .tag(
                    &full,
                    Some(&full),
                    &root.media_type,
                    &root.digest,
                    root.bytes.len() as u64,
                    true,
                )
                .map_err(in_store(&layout))?;
            noteln!("Loaded {full}{what}");
            loaded.push(Loaded {
                name: full,
                named: name.clone(),
                digest: root.digest.clone(),
            });
        }
    }
    Ok(loaded)
}

/// Copies a blob from the source into the store, checking its digest on the way.
fn copy_blob(
    layout: &mut OciDir,
    source: &Source,
    blob: &tug_core::archive::BlobSpec,
) -> Result<(), CliError> {
    use std::io::{Seek, SeekFrom};
    let file = source.blob_file(&blob.location);
    let read = |e: std::io::Error| CliError::Input(format!("{}: {e}", file.path.display()));
    let mut f = std::fs::File::open(&file.path).map_err(read)?;
    f.seek(SeekFrom::Start(file.offset)).map_err(read)?;
    match layout.take_blob(&blob.digest, f, blob.size) {
        Ok(()) => Ok(()),
        // Ctrl-C: nothing is named.
        Err(TakeError::Stopped) => Err(CliError::Core(tug_core::Error::Cancelled)),
        Err(TakeError::Io(e)) => Err(blob_in_store(layout, &blob.digest)(e)),
        Err(e) => Err(CliError::Input(format!(
            "{}: blob {} {e}",
            source.path.display(),
            blob.digest
        ))),
    }
}
