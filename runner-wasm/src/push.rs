//! `push(file, target, options, onEvent)`: resolve the image in the file, then drive the
//! core's push with `fetch`, streaming blob bytes as `Blob.slice`s of the file.

use futures_channel::mpsc::UnboundedReceiver;
use serde_json::json;
use tug_core::archive::{BlobLocation, ManifestBytes, Selection};
use tug_core::push::{Output, PlanBlob, PlanManifest, Push, PushConfig, PushPlan};
use tug_core::retry::RetryPolicy;
use tug_core::Reference;
use wasm_bindgen::JsValue;
use web_sys::Blob;

use crate::blob_source::{display_name, BlobSources};
use crate::driver::drive;
use crate::errors::{from_core, js_error, Code, Side};
use crate::events::{push_event, to_js, Listener};
use crate::fetch_transport::Transport;
use crate::handle;
use crate::inspect;
use crate::options::Options;
use crate::timer::Clock;

/// Default `PATCH` chunk and largest monolithic `PUT`: `fetch` shows no upload progress,
/// so progress moves once per request, and distribution drops a session whose `PATCH`
/// broke: 16 MiB bounds both.
const DEFAULT_CHUNK: u64 = 16 * 1024 * 1024;

/// Runs a push to completion; resolves to the result object or rejects with a coded error.
pub async fn run(
    file: Blob,
    target: String,
    options: JsValue,
    on_event: JsValue,
    mut cancel: UnboundedReceiver<()>,
) -> Result<JsValue, JsValue> {
    let clock = Clock::start();
    let target: Reference = target
        .trim()
        .parse()
        .map_err(|e| js_error(Code::Input, &format!("target: {e}")))?;
    let opts = Options::new(&options);
    let credentials = opts.credentials()?;
    let wanted = opts.name_or_index("image")?;
    let plain_http = opts.boolean("plainHttp")?;
    let jobs = opts.count("jobs")?.unwrap_or(4).clamp(1, 64) as usize;
    let retries = opts.count("retries")?.unwrap_or(5).clamp(1, 100) as u32;
    let chunk_size = opts.count("chunkSize")?.unwrap_or(DEFAULT_CHUNK).max(1);
    let monolithic_max = opts.count("monolithicMax")?.unwrap_or(chunk_size);

    let contents = inspect::resolve(&file).await?;
    let name = display_name(&file);
    let selection = contents
        .select_for_push(wanted.as_deref())
        .map_err(|e| js_error(Code::Input, &format!("{name}: {e}")))?;
    let (images, index) = match selection {
        Selection::Image(img) => (std::slice::from_ref(img), None),
        Selection::Index { index, images } => (images, Some(index)),
    };
    let blobs: Vec<_> = images
        .iter()
        .flat_map(|img| std::iter::once(&img.config).chain(&img.layers))
        .collect();
    let mut sources = Vec::new();
    for b in &blobs {
        match &b.location {
            BlobLocation::TarRange { offset, .. } => sources.push((file.clone(), *offset)),
            BlobLocation::File { path } => {
                return Err(js_error(
                    Code::Input,
                    &format!("{name}: blob {path} is outside the tar"),
                ))
            }
        }
    }
    let plan_manifest = |m: &ManifestBytes| PlanManifest {
        bytes: m.bytes.clone(),
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
    };
    let plan = PushPlan {
        registry: target.api_host().to_owned(),
        repository: target.repository.clone(),
        reference: target.manifest_ref(),
        blobs: blobs
            .iter()
            .map(|b| PlanBlob {
                digest: b.digest.clone(),
                size: b.size,
            })
            .collect(),
        manifest: plan_manifest(index.unwrap_or(&images[0].manifest)),
        mount_from: None,
        resume: Vec::new(),
        pending: Vec::new(),
        children: match index {
            Some(_) => images.iter().map(|i| plan_manifest(&i.manifest)).collect(),
            None => Vec::new(),
        },
    };
    let config = PushConfig {
        registry: tug_core::RegistryConfig {
            scheme: target.scheme(plain_http),
            credentials,
            retry: RetryPolicy {
                max_attempts: retries,
                seed: crate::js::random_seed(),
                ..RetryPolicy::default()
            },
            ..PushConfig::default().registry
        },
        transfer: tug_core::TransferConfig {
            jobs,
            ..PushConfig::default().transfer
        },
        monolithic_max,
        chunk_size,
        ..PushConfig::default()
    };
    if handle::cancelled(&mut cancel) {
        return Err(from_core(&tug_core::Error::Cancelled, Side::Push));
    }
    let listener = Listener::new(&on_event);
    let transport = Transport::new(BlobSources::new(sources));
    let push = Push::new(plan, config, clock.now());
    let result = drive(push, clock, transport, cancel, |push, io| {
        while let Some(output) = push.poll() {
            match output {
                Output::Send(req) => io.send(req),
                Output::Abort(id) => io.abort(id),
                Output::Event(e) => listener.emit(push_event(&e)),
                Output::Finished(result) => return Some(result),
            }
        }
        None
    })
    .await;
    let report = result.map_err(|e| from_core(&e, Side::Push))?;
    Ok(to_js(&json!({
        "manifestDigest": report.manifest_digest,
        "bytesSent": report.bytes_uploaded,
        "blobsSkipped": report.blobs_skipped,
        "blobsPushed": report.blobs_uploaded + report.blobs_mounted,
        "retries": report.retries,
        "durationMs": clock.elapsed().as_millis() as u64,
    })))
}
