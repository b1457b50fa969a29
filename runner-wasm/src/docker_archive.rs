//! A pulled image as a `docker save` archive `Blob`, in the entries the core plans
//! ([`SaveImage::entries`]: config, one uncompressed tar per layer, `manifest.json`,
//! `repositories`) with the core's tar headers — what `docker load` and `skopeo copy
//! docker-archive:` read, and what the CLI's `tug pull -o image.tar` writes.
//!
//! Layers are decoded by what their first bytes are, not their media type (skopeo 1.9 pushes
//! plain layers labelled `+gzip`); compressed ones are inflated with the runtime's
//! `DecompressionStream` as they are read from their `Blob`s; the inflated chunks stay
//! JS-side and pass through wasm memory only to be checked against their diffIDs.

use tug_core::archive::compression::SNIFF_LEN;
use tug_core::archive::docker_save_export::{SaveContent, SaveImage};
use tug_core::archive::layer_tar::{self, LayerName, LayerTarError, TarCheck};
use tug_core::archive::{tar_writer, Compression};
use tug_core::pull::PullReport;
use tug_core::{Digest, ErrorClass};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use crate::blob_source::{read_all, read_at};
use crate::errors::js_error;
use crate::fetch_transport::describe_js_error;
use crate::js;
use crate::pulled_blobs::PulledBlobs;

/// The image the archive cannot be made of, as an `input` error (the class of an archive
/// that cannot be read, and of the CLI's `tug pull -o image.tar` failing the same way).
fn invalid(message: String) -> JsValue {
    js_error(ErrorClass::Input, &message)
}

fn layer_error(e: LayerTarError) -> JsValue {
    js_error(e.class(), &e.to_string())
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
    let save = SaveImage::of(&image.config, &image.layers)
        .map_err(|e| js_error(e.class(), &e.to_string()))?;
    let config = read_all(blob(&save.config)?)
        .await
        .map_err(|e| invalid(describe_js_error(&e)))?;
    let entries = save
        .entries(&config, name)
        .map_err(|e| js_error(e.class(), &e.to_string()))?;
    let parts = js_sys::Array::new();
    for entry in &entries {
        match &entry.content {
            SaveContent::Bytes(bytes) => add(
                &parts,
                &entry.name,
                bytes.len() as u64,
                &js_sys::Uint8Array::from(bytes.as_slice()),
            )?,
            SaveContent::Layer { layer, diff_id } => {
                let tar = uncompressed(blob(&layer.digest)?, layer, diff_id).await?;
                add(&parts, &entry.name, tar.size() as u64, &tar)?;
            }
        }
    }
    parts.push(&js_sys::Uint8Array::from(&tar_writer::END_OF_ARCHIVE[..]));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/x-tar");
    Blob::new_with_u8_array_sequence_and_options(&parts, &options)
}

/// Appends the header, the data (a `Blob` or `Uint8Array`) and the padding of one entry.
fn add(parts: &js_sys::Array, name: &str, size: u64, data: &JsValue) -> Result<(), JsValue> {
    let header = tar_writer::file_header(name, size).map_err(|e| invalid(e.to_string()))?;
    parts.push(&js_sys::Uint8Array::from(header.as_slice()));
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
pub async fn uncompressed(
    layer: &Blob,
    name: &LayerName,
    diff_id: &Digest,
) -> Result<Blob, JsValue> {
    decoded(layer, name, diff_id, true).await
}

/// Checks that `layer` decodes to a tar whose digest is `diff_id`, keeping nothing (a
/// compressed layer of a `docker save` being pushed: the core's `diff_id_check`).
pub async fn check_tar(layer: &Blob, name: &LayerName, diff_id: &Digest) -> Result<(), JsValue> {
    decoded(layer, name, diff_id, false).await.map(drop)
}

/// [`uncompressed`], the decoded tar kept as a `Blob` only when `keep`.
async fn decoded(
    layer: &Blob,
    name: &LayerName,
    diff_id: &Digest,
    keep: bool,
) -> Result<Blob, JsValue> {
    let check = |compression| TarCheck::new(name.clone(), diff_id.clone(), compression);
    let head = read_at(layer, 0, SNIFF_LEN as u64)
        .await
        .map_err(|e| layer_error(check(Compression::None).unreadable(describe_js_error(&e))))?;
    let compression = layer_tar::decoding(&head)
        .map_err(|problem| layer_error(check(Compression::None).fail(problem)))?;
    // Capped where the tar is kept (a bomb must not fill memory); a check keeps nothing.
    let mut check = match keep {
        true => check(compression).capped(layer.size() as u64),
        false => check(compression),
    };
    if check.holds_by_digest() {
        return Ok(layer.clone());
    }
    let format = match compression {
        Compression::Gzip => Some("gzip"),
        Compression::Zstd => Some("zstd"),
        _ => None,
    };
    let stream = match format {
        None => layer.stream(),
        Some(format) => {
            let inflate = js::DecompressionStream::new(format).map_err(|_| {
                invalid(format!(
                    "{name}: this runtime cannot decompress {format} layers (DecompressionStream)"
                ))
            })?;
            js::pipe_through(&layer.stream(), &inflate)
        }
    };
    let mut parts = crate::blob_parts::BlobParts::new();
    let mut buf = Vec::new();
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let read = JsFuture::from(reader.read())
            .await
            .map_err(|e| layer_error(check.unreadable(describe_js_error(&e))))?;
        if js::get(&read, "done").is_some_and(|d| d.is_truthy()) {
            break;
        }
        let Some(value) = js::get(&read, "value") else {
            continue;
        };
        let chunk: js_sys::Uint8Array = value.unchecked_into();
        buf.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut buf);
        check.feed(&buf).map_err(|e| layer_error(*e))?;
        if format.is_some() && keep {
            parts.push(&chunk)?;
        }
    }
    check.finish().map_err(|e| layer_error(*e))?;
    match format {
        None => Ok(layer.clone()),
        Some(_) => parts.finish(),
    }
}
