//! Reading an image file (a `Blob`) with the core's sans-IO resolver: it asks for byte
//! ranges (tar headers, small JSON files, the first bytes of layers), answered with
//! `Blob.slice(…).arrayBuffer()`. Layer contents are never read.

use serde_json::{json, Value};
use tug_core::archive::{
    ArchiveError, BlobSpec, ResolveStep, ResolvedImage, SourceContents, SourceFormat,
    SourceResolver,
};
use tug_core::ErrorClass;
use wasm_bindgen::JsValue;
use web_sys::Blob;

use crate::blob_source::{display_name, read_at};
use crate::errors::js_error;
use crate::fetch_transport::describe_js_error;

/// Every image in `file`, with where each blob's bytes are.
pub async fn resolve(file: &Blob) -> Result<SourceContents, JsValue> {
    let name = display_name(file);
    let input = |message: String| js_error(ErrorClass::Input, &format!("{name}: {message}"));
    let unusable = |e: ArchiveError| js_error(e.class(), &format!("{name}: {e}"));
    let mut resolver = SourceResolver::for_tar(file.size() as u64);
    loop {
        match resolver.poll().map_err(unusable)? {
            ResolveStep::ReadAt { offset, len } => {
                let data = read_at(file, offset, len as u64)
                    .await
                    .map_err(|e| input(format!("cannot read: {}", describe_js_error(&e))))?;
                resolver.handle_read_at(offset, &data).map_err(unusable)?;
            }
            ResolveStep::Done(contents) => return Ok(contents),
            other => return Err(input(format!("internal error: a tar asked for {other:?}"))),
        }
    }
}

/// The stable name of a source format in the JS API.
pub fn format_name(format: SourceFormat) -> &'static str {
    match format {
        SourceFormat::DockerArchive => "docker-save",
        SourceFormat::DockerArchiveOci => "docker-save-oci",
        SourceFormat::OciArchive => "oci-archive",
        SourceFormat::OciLayout => "oci",
        SourceFormat::SkopeoDir => "dir",
    }
}

/// What `inspect(file)` resolves to: one object per image.
pub fn describe(contents: &SourceContents) -> Value {
    let images = contents
        .images
        .iter()
        .enumerate()
        .map(|(index, image)| {
            // The core's: the index entry's platform, else the config's.
            let platform = image.platform.as_ref().map(ToString::to_string);
            image_json(index, image, platform, contents.format)
        })
        .collect();
    Value::Array(images)
}

fn image_json(
    index: usize,
    image: &ResolvedImage,
    platform: Option<String>,
    format: SourceFormat,
) -> Value {
    let blob =
        |b: &BlobSpec| json!({"digest": b.digest, "size": b.size, "mediaType": b.media_type});
    json!({
        "index": index,
        "tags": image.names,
        "platform": platform,
        "manifestDigest": image.manifest.digest,
        "configDigest": image.config.digest,
        "format": format_name(format),
        "layers": image.layers.iter().map(blob).collect::<Vec<_>>(),
        "totalSize": image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>(),
    })
}
