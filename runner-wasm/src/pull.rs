//! `pull(image, options, onEvent)`: drive the core's pull with `fetch`, keep each verified
//! blob as a JS `Blob`, and hand back the image as a `docker save` archive `Blob`.

use futures_channel::mpsc::UnboundedReceiver;
use serde_json::json;
use tug_core::pull::{Output, Pull, PullConfig, PullPlan};
use tug_core::ErrorClass;
use tug_core::{Platform, Reference};
use wasm_bindgen::JsValue;

use crate::docker_archive;
use crate::driver::drive;
use crate::errors::{from_core, js_error};
use crate::events::{pull_event, to_js, Listener};
use crate::fetch_transport::Transport;
use crate::handle;
use crate::options::Options;
use crate::pulled_blobs::PulledBlobs;
use crate::timer::Clock;

/// The platform taken from a multi-platform image when the caller names none (a browser
/// has no platform of its own worth using).
const DEFAULT_PLATFORM: &str = "linux/amd64";

/// Runs a pull to completion; resolves to the result object or rejects with a coded error.
pub async fn run(
    image: String,
    options: JsValue,
    on_event: JsValue,
    mut cancel: UnboundedReceiver<()>,
) -> Result<JsValue, JsValue> {
    let clock = Clock::start();
    let text = image.trim();
    let image: Reference = text
        .strip_prefix("docker://")
        .unwrap_or(text)
        .parse()
        .map_err(|e| js_error(ErrorClass::Input, &format!("image: {e}")))?;
    let opts = Options::new(&options);
    let platform: Platform = opts
        .string("platform")?
        .as_deref()
        .unwrap_or(DEFAULT_PLATFORM)
        .parse()
        .map_err(|e: tug_core::platform::PlatformParseError| {
            js_error(ErrorClass::Input, &e.to_string())
        })?;
    let plan = PullPlan {
        registry: image.api_host().to_owned(),
        repository: image.repository.clone(),
        reference: image.manifest_ref(),
        platform,
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
    };
    let config = PullConfig {
        registry: opts.registry_config(&image)?,
        transfer: opts.transfer_config()?,
    };
    if handle::cancelled(&mut cancel) {
        return Err(from_core(&tug_core::Error::Cancelled));
    }
    let listener = Listener::new(&on_event);
    let mut blobs = PulledBlobs::default();
    let mut store_error: Option<String> = None;
    let pull = Pull::new(plan, config, clock.now());
    let transport = Transport::new(Default::default());
    let result = drive(pull, clock, transport, cancel, |pull, io| {
        while let Some(output) = pull.poll() {
            match output.store_in(&mut blobs) {
                Ok(Some(Output::Send(req))) => io.send(req),
                Ok(Some(Output::Abort(id))) => io.abort(id),
                Ok(Some(Output::Event(e))) => listener.emit(pull_event(&e)),
                Ok(Some(Output::Timeout(at))) => io.wake_at(at),
                Ok(Some(Output::Finished(result))) => return Some(result),
                // Blob files went to `blobs`.
                Ok(_) => {}
                Err(e) => {
                    store_error = Some(e);
                    pull.cancel();
                }
            }
        }
        None
    })
    .await;
    if let Some(e) = store_error {
        return Err(js_error(
            ErrorClass::Input,
            &format!("cannot keep a pulled blob: {e}"),
        ));
    }
    let report = result.map_err(|e| from_core(&e))?;
    let tag = image.tag.clone().unwrap_or_else(|| "latest".to_owned());
    let name = format!("{}/{}:{tag}", image.registry, image.repository);
    let tar = docker_archive::build(&report, &blobs, Some(&name)).await?;
    let digest = report
        .images
        .first()
        .map_or(&report.root.digest, |i| &i.manifest.digest);
    let result = to_js(&json!({
        "manifestDigest": digest,
        "bytesReceived": report.bytes_downloaded,
        "retries": report.retries,
        "durationMs": clock.elapsed().as_millis() as u64,
    }));
    js_sys::Reflect::set(&result, &"tar".into(), &tar)?;
    Ok(result)
}
