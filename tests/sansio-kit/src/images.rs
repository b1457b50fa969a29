//! Test images: blobs with patterned content, a manifest naming them, and a push plan.

use tug_core::push::{PlanBlob, PlanManifest, PushPlan};
use tug_core::Digest;

use crate::model::RegistryModel;

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// An image: its push plan and its blobs' bytes (plan blob `i` is `data[i]`).
#[derive(Clone, Debug)]
pub struct Image {
    pub plan: PushPlan,
    pub data: Vec<Vec<u8>>,
}

/// An image whose blobs have the given sizes (the first is the config), filled with a
/// pattern that differs per blob.
pub fn image(sizes: &[usize]) -> Image {
    let data: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| ((j * 31 + i * 7) % 251) as u8).collect())
        .collect();
    image_from(data)
}

/// An image of these blobs (the first is the config), pushed as `team/app:v1` to
/// `127.0.0.1:5000`.
pub fn image_from(data: Vec<Vec<u8>>) -> Image {
    let blobs: Vec<PlanBlob> = data
        .iter()
        .map(|d| PlanBlob {
            digest: Digest::sha256_of(d),
            size: d.len() as u64,
        })
        .collect();
    let desc = |b: &PlanBlob, t: &str| {
        format!(
            r#"{{"mediaType":"{t}","digest":"{}","size":{}}}"#,
            b.digest, b.size
        )
    };
    let layers: Vec<String> = blobs[1..]
        .iter()
        .map(|b| desc(b, "application/vnd.oci.image.layer.v1.tar"))
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{},"layers":[{}]}}"#,
        desc(&blobs[0], "application/vnd.oci.image.config.v1+json"),
        layers.join(",")
    )
    .into_bytes();
    let plan = PushPlan {
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: "v1".into(),
        children: Vec::new(),
        mount_from: None,
        mount_sources: Default::default(),
        resume: Vec::new(),
        pending: Vec::new(),
        streamed: Vec::new(),
        blobs,
        manifest: PlanManifest {
            digest: Digest::sha256_of(&manifest),
            bytes: manifest,
            media_type: MANIFEST_TYPE.into(),
        },
    };
    Image { plan, data }
}

/// Puts `img` into `model` as if pushed: its blobs, and its manifest as `team/app:<tag>`.
pub fn publish(model: &mut RegistryModel, img: &Image, tag: &str) {
    for data in &img.data {
        model.put_blob(data);
    }
    model.put_manifest("team/app", tag, &img.plan.manifest.bytes, MANIFEST_TYPE);
}
