//! Test images: blobs with patterned content, a manifest naming them, and a push plan.

use tug_core::push::{PlanBlob, PlanManifest, PushPlan};
use tug_core::Digest;

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

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
        resume: Vec::new(),
        pending: Vec::new(),
        blobs,
        manifest: PlanManifest {
            digest: Digest::sha256_of(&manifest),
            bytes: manifest,
            media_type: MANIFEST_TYPE.into(),
        },
    };
    Image { plan, data }
}
