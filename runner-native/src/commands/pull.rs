//! `tug pull IMAGE [-o OUTPUT]`: the core's pull writes verified blobs into an OCI layout —
//! the output directory for `--format oci`, else the local store — and an OCI archive is
//! then written from there. A `docker save` tar is written while the blobs arrive
//! ([`crate::save_stream`]); only with `--store` do they also land in the store.

use std::path::{Path, PathBuf};
use std::time::Instant as Clock;

use tug_core::archive::oci_types::oci_rewrites;
use tug_core::archive::pulled_layout::{given_archive_name, pulled_ref_name};
use tug_core::archive::ManifestBytes;
use tug_core::place::FileKind;
use tug_core::pull::{Event, FetchedManifest, Output, Pull, PullConfig, PullPlan, PullReport};
use tug_core::{Digest, Instant, Platform, Reference};

use crate::archive_writer::{write_oci_archive, ExportError, ExportImage};
use crate::blob_places::Landed;
use crate::cli::{OutputFormat, PullArgs};
use crate::config::Settings;
use crate::credentials;
use crate::driver::drive;
use crate::exit_code::CliError;
use crate::history::Recorder;
use crate::oci_dir::{NewLayout, OciDir};
use crate::output::{errln, noteln, outln};
use crate::progress::{bytes, done_line, Display, ProgressMode, Totals};
use crate::save_stream::pull_sink::TarPull;
use crate::source::SourceSpec;
use crate::transport::{NoBodies, Transport};

/// The local store: `--store`, `$TUG_STORE`, else `tug/store` in the data folder
/// ([`crate::places`]: `$XDG_DATA_HOME`, `~/.local/share`, `%LOCALAPPDATA%`).
pub fn store_dir(flag: Option<&Path>) -> PathBuf {
    let env = crate::places::process_env;
    flag.map(Path::to_path_buf)
        .or_else(|| {
            env("TUG_STORE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| crate::places::data_home(&env).map(|d| d.join("tug").join("store")))
        .unwrap_or_else(|| PathBuf::from(".tug-store"))
}

/// The output format: as given, else from the path's name ([`FileKind::of_output_name`];
/// [`FileKind::of_archive_name`] where only archives are written). A compressed tar's
/// name with no format given is a usage error ([`FileKind::output_name_problem`]). A
/// stream (`-`, a FIFO, `/dev/stdout`) takes an archive, a `docker save` tar as `docker
/// save` writes there, unless its name says OCI archive.
pub fn infer_format(
    output: &Path,
    explicit: Option<OutputFormat>,
    archives_only: bool,
) -> Result<OutputFormat, CliError> {
    if let Some(f) = explicit {
        return Ok(f);
    }
    let name = output.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(problem) = FileKind::output_name_problem(name) {
        return Err(CliError::Usage(problem));
    }
    let kind = match archives_only || crate::out_path::is_stream(output) {
        true => FileKind::of_archive_name(name),
        false => FileKind::of_output_name(name),
    };
    Ok(match kind {
        FileKind::OciArchive => OutputFormat::OciArchive,
        FileKind::DockerArchive => OutputFormat::DockerArchive,
        FileKind::Oci | FileKind::Dir => OutputFormat::Oci,
    })
}

/// An output as skopeo spells it: its path, its format and the name after it.
pub struct SpelledOutput {
    pub path: PathBuf,
    pub format: OutputFormat,
    pub name: Option<String>,
}

/// An output in skopeo's spelling, `oci:DIR[:REF]`, `oci-archive:PATH[:REF]` or
/// `docker-archive:PATH[:REF]` (for `tug pull -o` and `tug copy`); `None` for a plain path.
pub fn transport_output(out: &str) -> Option<Result<SpelledOutput, CliError>> {
    let kind = FileKind::of_prefixed(out)?;
    let spec = SourceSpec::parse(out);
    Some(output_format(kind).map(|format| SpelledOutput {
        path: spec.path,
        format,
        name: spec.image,
    }))
}

/// The output format a file transport names (skopeo's `dir:` is read, never written).
pub fn output_format(kind: FileKind) -> Result<OutputFormat, CliError> {
    match kind {
        FileKind::Oci => Ok(OutputFormat::Oci),
        FileKind::OciArchive => Ok(OutputFormat::OciArchive),
        FileKind::DockerArchive => Ok(OutputFormat::DockerArchive),
        FileKind::Dir => Err(CliError::Usage(
            "tug reads skopeo's dir: layout but does not write it; write oci:DIR instead".into(),
        )),
    }
}

/// `--all-platforms` into a docker-archive, which holds one platform (for `tug pull` and
/// `tug copy`).
pub fn every_platform_into_a_docker_archive() -> CliError {
    CliError::Usage(
        "--all-platforms: a docker-archive holds one platform; drop it (this machine's \
         platform is taken), give --platform, or write another format"
            .into(),
    )
}

pub fn run(
    mut args: PullArgs,
    mut settings: Settings,
    history: &mut Recorder,
) -> Result<(), CliError> {
    let origin = Clock::now();
    let spelled = args
        .output
        .as_ref()
        .and_then(|o| o.to_str())
        .and_then(transport_output);
    if let Some(place) = spelled {
        // `-o oci:DIR:TAG`: the transport says the format, the reference the name.
        let SpelledOutput { path, format, name } = place?;
        if args.format.is_some_and(|f| f != format) {
            return Err(CliError::Usage(format!(
                "-o {}: --format says otherwise",
                args.output.as_deref().unwrap_or(Path::new("")).display()
            )));
        }
        args.output = Some(path);
        args.format = Some(format);
        args.name = name.or(args.name);
    }
    let image = Reference::parse_registry(&args.image)
        .map_err(|e| CliError::Usage(format!("image: {e}")))?;
    settings.apply_flags(&args.transfer);
    settings.apply_flags(&args.registry.connect);
    args.result.apply(&mut settings)?;
    crate::verbose::note(&format!("settings: {}", settings.summary()));
    let platform = match &args.platform {
        Some(p) => p
            .parse::<Platform>()
            .map_err(|e| CliError::Usage(e.to_string()))?,
        None => Platform::default_for_arch(std::env::consts::ARCH),
    };
    let format = match args.output.as_deref() {
        Some(o) => Some(infer_format(o, args.format, false)?),
        None => None,
    };
    let store_flag = args.store.as_ref().and_then(|s| s.as_deref());
    let layout_root = match (&args.output, format) {
        (Some(out), Some(OutputFormat::Oci)) => out.clone(),
        _ => store_dir(store_flag),
    };
    // `oci-archive:PATH:NAME` (a bare name is a tag of the image's repository) and
    // `docker-archive:PATH:NAME` (a reference), as for `tug copy` and `tug save`.
    let archive_name = match (&args.name, format) {
        (Some(name), Some(f @ (OutputFormat::OciArchive | OutputFormat::DockerArchive))) => {
            let oci = f == OutputFormat::OciArchive;
            let own = image.to_string();
            Some(given_archive_name(Some(&own), name, oci).map_err(CliError::Usage)?)
        }
        _ => None,
    };
    // Where the output really goes (through a link, into a stream), before anything is
    // downloaded; a layout is a directory, never a stream.
    let dest = match (&args.output, format) {
        (Some(out), Some(OutputFormat::DockerArchive | OutputFormat::OciArchive)) => {
            Some(crate::archive_writer::check_output(out)?)
        }
        (Some(out), _) => {
            crate::out_path::refuse_layout(out)?;
            None
        }
        (None, _) => None,
    };
    if args.all_platforms && format == Some(OutputFormat::DockerArchive) {
        return Err(every_platform_into_a_docker_archive());
    }
    // A docker-archive is written as blobs arrive; the store gets them only with --store.
    let tar_out = match (format, &dest) {
        (Some(OutputFormat::DockerArchive), Some(dest)) => Some(dest.path()),
        _ => None,
    };
    let keep = tar_out.is_none() || args.store.is_some();
    let io_err = |e: std::io::Error| CliError::Input(format!("{}: {e}", layout_root.display()));
    let new_output = (format == Some(OutputFormat::Oci)).then(|| NewLayout::at(&layout_root));
    let mut layout = if keep {
        Some(OciDir::open(&layout_root).map_err(io_err)?)
    } else {
        None
    };
    // The store in use until the image is named: `tug prune` waits its turn (an output
    // layout is the user's, and gets no lock file).
    let _in_use = match &layout {
        Some(store) if format != Some(OutputFormat::Oci) => Some(store.in_use().map_err(io_err)?),
        _ => None,
    };
    let mut display = Display::new(settings.progress.value, Vec::new());
    let mode = display.mode();
    if display.is_human() {
        errln!("Pulling {image}");
    }
    // The registry's mirror first, if its table names one; then the registry itself.
    let mirror = settings.mirror_for(&image, &args.registry);
    let sources: Vec<&Reference> = mirror.iter().chain([&image]).collect();
    let mut sink_error: Option<CliError> = None;
    // One look-up for every registry (`--password-stdin` can be read only once).
    let scopes: Vec<String> = sources.iter().map(|r| credentials::scope(r)).collect();
    let registries: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let creds =
        credentials::for_registries(&args.registry.credentials, &image.registry, &registries)?;
    let full_name = match (&archive_name, &args.name) {
        (Some(named), _) => named.clone(),
        (None, Some(name)) => name.clone(),
        (None, None) => image.image_name(),
    };
    let mut result = Err(tug_core::Error::Cancelled);
    let mut tar = None;
    for (i, from) in sources.iter().enumerate() {
        // A fresh tar for each source: what a failed one wrote goes.
        tar = match tar_out {
            Some(out) => Some(TarPull::new(out, full_name.clone())?),
            None => None,
        };
        let mut sink = Sink {
            store: layout.as_mut(),
            tar: tar.as_mut(),
        };
        result = pull_from(
            &args,
            &settings,
            (from, creds[i].clone(), i + 1 < sources.len()),
            platform.clone(),
            (origin, &mut sink),
            (history, &mut display),
            &mut sink_error,
        )?;
        match &result {
            Err(e)
                if i + 1 < sources.len()
                    && sink_error.is_none()
                    && e.gives_way_to_next_source() =>
            {
                tar = None;
                display.finish();
                if display.is_human() {
                    errln!(
                        "mirror {}: {e}; pulling from {}",
                        from.registry,
                        image.registry
                    );
                }
            }
            _ => break,
        }
    }
    display.finish();
    if let Some(e) = sink_error {
        return Err(e);
    }
    if let Err(tug_core::Error::Cancelled) = &result {
        if keep {
            errln!(
                "tug: pull cancelled; run the same command again to go on (downloaded bytes are kept in {})",
                layout_root.display()
            );
        } else {
            errln!(
                "tug: pull cancelled; nothing was kept (with --store, downloaded bytes are kept in the store for the next run)"
            );
        }
    }
    let report = result?;
    history.pull_report(&report);
    history.digest(&report.root.digest);
    let oci_types = matches!(format, Some(OutputFormat::Oci | OutputFormat::OciArchive));
    let full_names = format != Some(OutputFormat::Oci);
    // `--name` names the image in the layout only where the layout is the output.
    let layout_name = match format {
        None | Some(OutputFormat::Oci) => args.name.as_deref(),
        _ => None,
    };
    let mut root = match &layout {
        Some(layout) => record(
            layout,
            &report,
            &image,
            args.all_platforms,
            (full_names, layout_name),
            oci_types,
        )?,
        None => ExportImage {
            name: Some(full_name.clone()),
            ref_name: None,
            ref_given: false,
            digest: report.root.digest.clone(),
            media_type: report.root.media_type.clone(),
            size: report.root.bytes.len() as u64,
        },
    };
    if let (Some(named), Some(OutputFormat::OciArchive)) = (archive_name, format) {
        root.name = Some(named);
        // The name as given is the `ref.name`, as skopeo writes `oci-archive:PATH:NAME`.
        root.ref_name = args.name.clone();
    }
    if format == Some(OutputFormat::Oci) {
        if let Some(layout) = &layout {
            // An output layout holds the image only; the store keeps its lock file.
            layout.remove_lock_file().map_err(io_err)?;
        }
    }
    let written = match (format, dest, &layout) {
        (Some(OutputFormat::OciArchive), Some(dest), Some(layout)) => {
            write_oci_archive(layout, &root, dest.path()).map_err(ExportError::into_cli)?;
            let shown = dest.shown();
            dest.deliver()?;
            shown
        }
        (Some(OutputFormat::DockerArchive), Some(dest), _) => {
            let tar = tar.ok_or_else(|| CliError::Input("the tar was not started".into()))?;
            tar.finish()?.note();
            let shown = dest.shown();
            dest.deliver()?;
            shown
        }
        _ => layout_root.display().to_string(),
    };
    if let Some(new_output) = new_output {
        new_output.keep();
    }
    if mode == ProgressMode::Json {
        let mut v = report.json(&image.to_string());
        // What was written, which may be the registry's manifest in another form.
        v["digest"] = serde_json::json!(root.digest);
        v["registry_digest"] = serde_json::json!(report.root.digest);
        v["output"] = written.into();
        outln!("{v}");
    } else {
        if mode != ProgressMode::None {
            errln!("{}", done_line(&Totals::of_pull(&report)));
        }
        // The pinned reference names the manifest the registry holds; an output in OCI
        // form may hold it converted, under another digest (what --digestfile gets).
        let converted = match root.digest == report.root.digest {
            true => String::new(),
            false => format!(" (written as {})", root.digest),
        };
        outln!(
            "{}/{}@{} -> {written}{converted}",
            image.registry,
            image.repository,
            report.root.digest
        );
    }
    args.result.write_digest(&root.digest)?;
    Ok(())
}

/// Where a pull's blobs go: a layout (the store or an `oci` output), or a `docker save`
/// tar written as they arrive (and the store too with `--store`).
struct Sink<'a> {
    store: Option<&'a mut OciDir>,
    tar: Option<&'a mut TarPull>,
}

impl Sink<'_> {
    /// Acts on a blob output; hands every other output back.
    fn handle(&mut self, pull: &Pull, output: Output) -> Result<Option<Output>, CliError> {
        match (&mut self.tar, &mut self.store) {
            (Some(tar), store) => tar.handle(store.as_deref_mut(), pull, output),
            (None, Some(layout)) => output.store_in(&mut **layout).map_err(|e| {
                CliError::Input(format!(
                    "cannot write into {}: {e}",
                    layout.root().display()
                ))
            }),
            (None, None) => Ok(Some(output)),
        }
    }
}

/// One pull from `from` into `sink`. Downloads an earlier run (or the mirror) left in the
/// store are continued; a failure to write stops the pull and lands in `sink_error`.
fn pull_from(
    args: &PullArgs,
    settings: &Settings,
    (from, credentials, mirror): (&Reference, Option<tug_core::Credentials>, bool),
    platform: Platform,
    (origin, sink): (Clock, &mut Sink<'_>),
    (history, display): (&mut Recorder, &mut Display),
    sink_error: &mut Option<CliError>,
) -> Result<Result<PullReport, tug_core::Error>, CliError> {
    let io_err =
        |root: &Path, e: std::io::Error| CliError::Input(format!("{}: {e}", root.display()));
    let (tls, registry) = settings.connection(from, &args.registry, credentials);
    let registry = match mirror {
        true => registry.for_mirror(),
        false => registry,
    };
    let have = match sink.store.as_deref() {
        Some(store) => store.blobs().map_err(|e| io_err(store.root(), e))?,
        None => Vec::new(),
    };
    let plan = PullPlan {
        all_platforms: args.all_platforms,
        have,
        platform_required: args.platform.is_some(),
        ..PullPlan::of(from, platform)
    };
    let config = PullConfig {
        registry,
        transfer: settings.transfer(),
    };
    let transport = Transport::new(&tls, NoBodies).map_err(|e| CliError::Input(e.to_string()))?;
    let mut pull = Pull::new(plan, config, Instant::from_duration(origin.elapsed()));
    // Blobs the source repository holds: a later push elsewhere on its registry mounts them.
    let mut held = Landed::new(from);
    if let Some(store) = sink.store.as_deref_mut() {
        let resumed = store
            .take_partials(|digest, data| {
                // Only before the pull starts, which is now: cannot fail.
                let _ = pull.handle_partial(digest, data);
            })
            .map_err(|e| io_err(store.root(), e))?;
        if !resumed.is_empty() && display.is_human() {
            let held: u64 = resumed.iter().map(|(_, n)| n).sum();
            errln!(
                "Found {} unfinished download(s) from an earlier run ({}): continuing them",
                resumed.len(),
                bytes(held)
            );
        }
    }
    let result = smol::block_on(drive(pull, origin, &transport, |pull, io| {
        while let Some(output) = pull.poll() {
            let output = match sink.handle(pull, output) {
                Ok(Some(output)) => output,
                Ok(None) => continue,
                Err(e) => {
                    if sink_error.is_none() {
                        *sink_error = Some(e);
                    }
                    pull.cancel();
                    continue;
                }
            };
            match output {
                Output::Send(req) => io.send(req),
                Output::Abort(id) => io.abort(id),
                Output::Event(e) => {
                    if let Event::BlobSkipped { digest, .. } = &e {
                        if let Some(store) = sink.store.as_deref() {
                            store.touch(digest);
                        }
                        if let Some(t) = sink.tar.as_deref_mut() {
                            if let Err(err) = t.skipped(sink.store.as_deref(), pull, digest) {
                                if sink_error.is_none() {
                                    *sink_error = Some(err);
                                }
                                pull.cancel();
                            }
                        }
                    }
                    held.note(e.held());
                    history.pull_event(&e);
                    if let Event::Concurrency(c) = &e {
                        let json = display.mode() == ProgressMode::Json;
                        crate::verbose::concurrency(c, json);
                    }
                    display.pull_event(&e);
                }
                Output::Timeout(at) => io.wake_at(at),
                Output::Finished(result) => return Some(result),
                // Blob files went to the sink above.
                Output::Write { .. } | Output::Commit { .. } | Output::Discard { .. } => {}
            }
        }
        None
    }));
    held.keep(result.is_ok() && sink_error.is_none());
    Ok(result)
}

/// Stores the pulled manifests and names the image in `index.json`: the index itself with
/// `--all-platforms`, else the one manifest. Store entries carry the full name; an `oci:`
/// output names it by tag, as skopeo's `oci:DIR:TAG` does. With `oci_types`, Docker schema 2
/// manifests are also stored with OCI media types (new digests), as skopeo writes OCI
/// layouts (it cannot read Docker media types there): an `oci:` output names that rewrite,
/// the store keeps naming the manifest as the registry serves it, and the rewrite is what
/// an OCI archive gets. `name`, if given, is the image's name in the layout (an `oci:`
/// output's, or the store's when the store is the output).
fn record(
    layout: &OciDir,
    report: &PullReport,
    image: &Reference,
    all_platforms: bool,
    (full_names, name): (bool, Option<&str>),
    oci_types: bool,
) -> Result<ExportImage, CliError> {
    let io = |e: std::io::Error| CliError::Input(format!("{}: {e}", layout.root().display()));
    let whole_index = all_platforms && tug_core::manifest::is_index(&report.root.media_type);
    let original = if whole_index {
        report.root.clone()
    } else {
        report
            .images
            .first()
            .map(|i| i.manifest.clone())
            .unwrap_or_else(|| report.root.clone())
    };
    let rewrites = match oci_types {
        true => {
            let root = ManifestBytes {
                bytes: original.bytes.clone(),
                media_type: original.media_type.clone(),
                digest: original.digest.clone(),
            };
            let pulled = |d: &Digest| {
                let image = report.images.iter().find(|i| &i.manifest.digest == d);
                Ok(image.map(|i| i.manifest.bytes.clone()))
            };
            oci_rewrites(&root, pulled).map_err(CliError::Input)?
        }
        false => Vec::new(),
    };
    // The store keeps the manifests as served (it names them); an `oci:` output holds only
    // what it names, as skopeo writes one.
    let kept = |d: &Digest| full_names || !rewrites.iter().any(|r| &r.from == d);
    let roots = whole_index.then_some(&report.root);
    for m in report.images.iter().map(|i| &i.manifest).chain(roots) {
        if kept(&m.digest) {
            layout.put_blob(&m.digest, &m.bytes).map_err(io)?;
        }
    }
    for r in &rewrites {
        layout
            .put_blob(&r.manifest.digest, &r.manifest.bytes)
            .map_err(io)?;
    }
    let root = match rewrites.last().filter(|r| r.from == original.digest) {
        Some(r) => FetchedManifest {
            digest: r.manifest.digest.clone(),
            media_type: r.manifest.media_type.clone(),
            bytes: r.manifest.bytes.clone(),
        },
        None => original.clone(),
    };
    // The store names what the registry serves; an `oci:` output names what it holds.
    let named = if full_names { &original } else { &root };
    let full = image.image_name();
    let ref_name = match name {
        Some(name) => name.to_owned(),
        None if full_names => full.clone(),
        None => pulled_ref_name(image),
    };
    // An `oci:DIR:NAME` output: containerd's name says the same as the ref name, so a load
    // finds the name given (a tag of the image's repository, or a whole reference).
    let full = match (name, full_names) {
        (Some(name), true) => Some(name.to_owned()),
        (Some(name), false) => given_archive_name(Some(&full), name, true).ok(),
        (None, _) => Some(full),
    };
    let named_size = named.bytes.len() as u64;
    let took = layout
        .tag(
            &ref_name,
            full.as_deref(),
            &named.media_type,
            &named.digest,
            named_size,
            name.is_some(),
        )
        .map_err(io)?;
    if took != ref_name {
        noteln!(
            "{ref_name:?} in {} names another repository's image: this one is named {took:?} there",
            layout.root().display()
        );
    }
    let size = root.bytes.len() as u64;
    Ok(ExportImage {
        name: full,
        ref_name: None,
        ref_given: false,
        digest: root.digest,
        media_type: root.media_type,
        size,
    })
}
