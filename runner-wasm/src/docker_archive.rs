//! A pulled image as a `docker save` archive `Blob`: `<config hex>.json`, one uncompressed
//! `<diff_id hex>.tar` per layer (checked against the config's `diff_ids`), `manifest.json`
//! and `repositories` — what `docker load` and `skopeo copy docker-archive:` read, and what
//! the CLI's `tug pull -o image.tar` writes.
//!
//! Layers are decoded by what their first bytes are, not their media type (skopeo 1.9 pushes
//! plain layers labelled `+gzip`); compressed ones are inflated with the runtime's
//! `DecompressionStream` as they are read from their `Blob`s; the inflated chunks stay JS-side and pass through wasm memory only to
//! be hashed.

use serde_json::{json, Value};
use tug_core::archive::compression::SNIFF_LEN;
use tug_core::archive::layer_tar::{self, LayerName, LayerTarError, LayerTarProblem};
use tug_core::archive::Compression;
use tug_core::digest::Hasher;
use tug_core::pull::PullReport;
use tug_core::Digest;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use crate::blob_source::{read_all, read_at};
use crate::errors::js_error;
use tug_core::ErrorClass;
use crate::fetch_transport::describe_js_error;
use crate::js;
use crate::pulled_blobs::PulledBlobs;
use crate::tar_writer;

fn invalid(message: String) -> JsValue {
    js_error(ErrorClass::Registry, &message)
}

/// The archive of the (single-platform) image `report` pulled, tagged `name`
/// (`registry/repository:tag`) when given.
pub async fn build(
    report: &PullReport,
    blobs: &PulledBlobs,
    name: Option<&str>,
) -> Result<Blob, JsValue> {
    let image = report
        .images
        .first()
        .ok_or_else(|| invalid("the pull produced no image manifest".into()))?;
    let blob = |d: &Digest| {
        blobs
            .get(d)
            .ok_or_else(|| invalid(format!("blob {d} was not downloaded")))
    };
    let config_digest = &image.config.digest;
    let config_bytes = read_all(blob(config_digest)?)
        .await
        .map_err(|e| invalid(describe_js_error(&e)))?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("config {config_digest}: {e}")))?;
    let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    if diff_ids.len() != image.layers.len() {
        return Err(invalid(format!(
            "config {config_digest} lists {} diff_ids for {} layers",
            diff_ids.len(),
            image.layers.len()
        )));
    }
    let parts = js_sys::Array::new();
    let config_name = format!("{}.json", config_digest.hex());
    add_bytes(&parts, &config_name, &config_bytes)?;
    let mut layer_names: Vec<String> = Vec::new();
    for (layer, diff_id) in image.layers.iter().zip(&diff_ids) {
        let entry = format!("{}.tar", diff_id.hex());
        if !layer_names.contains(&entry) {
            let layer_blob = blob(&layer.digest)?;
            let layer_name = LayerName {
                digest: layer.digest.clone(),
                image: name.map(str::to_owned),
            };
            let tar = uncompressed(layer_blob, &layer_name, diff_id).await?;
            add(&parts, &entry, tar.size() as u64, &tar)?;
        }
        layer_names.push(entry);
    }
    let tags: Vec<&str> = name.into_iter().collect();
    let manifest = json!([{ "Config": config_name, "RepoTags": tags, "Layers": layer_names }]);
    add_bytes(&parts, "manifest.json", manifest.to_string().as_bytes())?;
    let repositories = match name.and_then(|n| n.rsplit_once(':')) {
        Some((repo, tag)) => json!({ repo: { tag: config_digest.hex() } }),
        None => json!({}),
    };
    add_bytes(&parts, "repositories", repositories.to_string().as_bytes())?;
    parts.push(&js_sys::Uint8Array::from(&tar_writer::END[..]));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/x-tar");
    Blob::new_with_u8_array_sequence_and_options(&parts, &options)
}

fn add_bytes(parts: &js_sys::Array, name: &str, data: &[u8]) -> Result<(), JsValue> {
    add(
        parts,
        name,
        data.len() as u64,
        &js_sys::Uint8Array::from(data),
    )
}

/// Appends the header, the data (a `Blob` or `Uint8Array`) and the padding of one entry.
fn add(parts: &js_sys::Array, name: &str, size: u64, data: &JsValue) -> Result<(), JsValue> {
    let header = tar_writer::header(name, size)
        .map_err(|e| invalid(format!("tar entry name too long: {}", e.0)))?;
    parts.push(&js_sys::Uint8Array::from(&header[..]));
    parts.push(data);
    let pad = tar_writer::padding(size);
    if pad > 0 {
        parts.push(&js_sys::Uint8Array::new_with_length(pad as u32));
    }
    Ok(())
}

/// The layer (already verified against its digest) as an uncompressed tar whose digest is
/// `diff_id`, decoded by what its first bytes are (the core's [`layer_tar::decoding`]), not
/// by its media type.
async fn uncompressed(layer: &Blob, name: &LayerName, diff_id: &Digest) -> Result<Blob, JsValue> {
    let fail = |problem| {
        invalid(
            LayerTarError {
                layer: name.clone(),
                problem,
            }
            .to_string(),
        )
    };
    let unreadable = |compression, e: &JsValue| {
        fail(LayerTarProblem::Unreadable {
            compression,
            detail: describe_js_error(e),
        })
    };
    let head = read_at(layer, 0, SNIFF_LEN as u64)
        .await
        .map_err(|e| unreadable(Compression::None, &e))?;
    let compression = layer_tar::decoding(&head).map_err(fail)?;
    let format = match compression {
        Compression::Gzip => Some("gzip"),
        Compression::Zstd => Some("zstd"),
        _ => None,
    };
    if format.is_none() && name.digest == *diff_id {
        return Ok(layer.clone());
    }
    let stream = match format {
        None => layer.stream(),
        Some(format) => {
            let inflate = js::DecompressionStream::new(format).map_err(|_| {
                js_error(
                    ErrorClass::Input,
                    &format!(
                        "{name}: this runtime cannot decompress {format} layers (DecompressionStream)"
                    ),
                )
            })?;
            js::pipe_through(&layer.stream(), &inflate)
        }
    };
    let parts = js_sys::Array::new();
    let mut hasher = Hasher::new(diff_id.algorithm());
    let mut buf = Vec::new();
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let read = JsFuture::from(reader.read())
            .await
            .map_err(|e| unreadable(compression, &e))?;
        if js::get(&read, "done").is_some_and(|d| d.is_truthy()) {
            break;
        }
        let Some(value) = js::get(&read, "value") else {
            continue;
        };
        let chunk: js_sys::Uint8Array = value.unchecked_into();
        buf.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut buf);
        hasher.update(&buf);
        if format.is_some() {
            parts.push(&chunk);
        }
    }
    let actual = hasher.finish();
    if &actual != diff_id {
        return Err(fail(LayerTarProblem::DiffIdMismatch {
            compression,
            actual,
            expected: diff_id.clone(),
        }));
    }
    match format {
        None => Ok(layer.clone()),
        Some(_) => Blob::new_with_u8_array_sequence(&parts),
    }
}
