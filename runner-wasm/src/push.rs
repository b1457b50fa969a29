//! `push(file, target, options, onEvent)`: resolve the image in the file, then drive the
//! core's push with `fetch`, streaming blob bytes as `Blob.slice`s of the file.

use futures_channel::mpsc::UnboundedReceiver;
use tug_core::archive::diff_id_checks::layers_to_check;
use tug_core::archive::BlobLocation;
use tug_core::push::{Output, Push, PushConfig};
use tug_core::{limits, ErrorClass, Reference};
use wasm_bindgen::JsValue;
use web_sys::Blob;

use crate::blob_source::{display_name, BlobSources};
use crate::driver::drive;
use crate::errors::{from_core, js_error};
use crate::events::{push_result, to_js, Listener};
use crate::fetch_transport::Transport;
use crate::handle;
use crate::inspect;
use crate::limits::BODY_PROGRESS;
use crate::options::{names, Options};
use crate::timer::Clock;

/// Runs a push to completion; resolves to the result object or rejects with a coded error.
pub async fn run(
    file: Blob,
    target: String,
    options: JsValue,
    on_event: JsValue,
    mut cancel: UnboundedReceiver<()>,
) -> Result<JsValue, JsValue> {
    let clock = Clock::start();
    let target = Reference::parse_registry(target.trim())
        .and_then(|t| t.check_target().map(|()| t))
        .map_err(|e| js_error(ErrorClass::Input, &format!("target: {e}")))?;
    let opts = Options::of(&options, "push")?;
    let wanted = opts.name_or_index(names::IMAGE)?;
    let chunk_size = opts
        .count_in(names::CHUNK_SIZE, limits::CHUNK_SIZE_MIN..=u64::MAX)?
        .unwrap_or(crate::limits::push_chunk_size(crate::js::is_browser()));
    let monolithic_max =
        opts.count(names::MONOLITHIC_MAX)?
            .unwrap_or(limits::default_monolithic_max(
                BODY_PROGRESS,
                Some(chunk_size),
            ));
    let resume = opts.resumable_uploads()?;
    let upload_body = opts.upload_body()?;

    // One platform of a multi-platform image, as `tug push --platform` pushes it.
    let platform: Option<tug_core::Platform> = opts
        .string(names::PLATFORM)?
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: tug_core::platform::PlatformParseError| {
            js_error(ErrorClass::Usage, &format!("platform: {e}"))
        })?;
    let contents = inspect::resolve(&file).await?;
    let name = display_name(&file);
    let selection = match &platform {
        Some(p) => contents.select_for_platform(wanted.as_deref(), p),
        None => contents.select_for_push(wanted.as_deref()),
    }
    .map_err(|e| js_error(ErrorClass::Input, &format!("{name}: {e}")))?;
    // A compressed layer of a docker save: its tar checked first, the layers the CLI checks.
    let todo = layers_to_check(selection.images())
        .map_err(|e| js_error(ErrorClass::Input, &format!("{name}: {e}")))?;
    for (layer, image) in todo {
        let (Some(diff_id), BlobLocation::TarRange { offset, .. }) =
            (&layer.diff_id_check, &layer.location)
        else {
            continue;
        };
        let bytes = crate::blob_source::slice(&file, *offset, offset + layer.size)?;
        let layer_name = tug_core::archive::layer_tar::LayerName {
            digest: layer.digest.clone(),
            image: image.names.first().cloned(),
        };
        crate::docker_archive::check_tar(&bytes, &layer_name, diff_id).await?;
    }
    let selected = selection.push_plan(&target);
    let mut sources = Vec::new();
    for b in &selected.sources {
        match &b.location {
            BlobLocation::TarRange { offset, .. } => sources.push((file.clone(), *offset)),
            BlobLocation::File { path } => {
                return Err(js_error(
                    ErrorClass::Input,
                    &format!("{name}: blob {path} is outside the tar"),
                ))
            }
        }
    }
    let mut plan = selected.plan;
    plan.resume = resume;
    let config = PushConfig {
        registry: opts.registry_config(&target)?,
        transfer: opts.transfer_config()?,
        monolithic_max,
        chunk_size,
        ..PushConfig::default()
    };
    if handle::cancelled(&mut cancel) {
        return Err(from_core(&tug_core::Error::Cancelled));
    }
    let listener = Listener::new(&on_event, clock);
    let transport = Transport::new(BlobSources::new(sources)).with_upload_body(upload_body);
    let push = Push::new(plan, config, clock.now());
    let result = drive(push, clock, transport, &mut cancel, |push, io| {
        while let Some(output) = push.poll() {
            match output {
                Output::Send(req) => io.send(req),
                Output::Abort(id) => io.abort(id),
                Output::Event(e) => listener.push(&e),
                Output::Timeout(at) => io.wake_at(at),
                Output::Finished(result) => return Some(result),
            }
        }
        None
    })
    .await;
    let duration_ms = clock.elapsed().as_millis() as u64;
    let outcome = result
        .map(|report| to_js(&push_result(&report, "blobsPushed", duration_ms)))
        .map_err(|e| from_core(&e));
    listener.timed(outcome)
}
