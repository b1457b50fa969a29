//! Artifacts attached to an image in a real registry by the referrers tag schema, as signing
//! and SBOM tools leave them where the registry has no referrers API (distribution 2.8): a
//! cosign-style signature under the tag `sha256-<hex>.sig`, and an OCI 1.1 SBOM artifact whose
//! `subject` is the image, listed in the index tagged `sha256-<hex>`. Written with plain HTTP
//! requests (no cosign binary); read back the same way.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::hashing::sha256_digest;
use crate::Registry;

/// Cosign's simple signing payload type (the signature layer's media type).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The SBOM's artifact type.
pub const SPDX: &str = "application/spdx+json";
/// The OCI empty descriptor's media type (an artifact's config).
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One attached artifact's manifest.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// Its manifest digest.
    pub digest: String,
    /// Its manifest size.
    pub size: u64,
    /// Its manifest bytes.
    pub manifest: Vec<u8>,
}

/// What [`attach_signature_and_sbom`] wrote.
#[derive(Clone, Debug)]
pub struct Attachments {
    /// The image's manifest digest.
    pub subject: String,
    /// The fallback tag, `sha256-<hex>`.
    pub index_tag: String,
    /// The signature, tagged `sha256-<hex>.sig`.
    pub signature: Artifact,
    /// The SBOM, listed in the fallback tag's index.
    pub sbom: Artifact,
}

impl Attachments {
    /// The signature's tag.
    pub fn signature_tag(&self) -> String {
        format!("{}.sig", self.index_tag)
    }
}

/// Attaches a signature and an SBOM to `repository:reference` in `registry` (see the
/// module docs); `seed` makes their contents differ between images.
pub fn attach_signature_and_sbom(
    registry: &Registry,
    repository: &str,
    reference: &str,
    seed: u64,
) -> Attachments {
    let (subject_bytes, subject_type) = get_manifest(registry, repository, reference)
        .unwrap_or_else(|| panic!("{repository}:{reference} is not in the registry"));
    let subject = sha256_digest(&subject_bytes);
    let index_tag = subject.replacen(':', "-", 1);

    // The signature: cosign's layout — an OCI config, one simple signing layer.
    let payload = json!({
        "critical": {"identity": {"docker-reference": format!("{}/{repository}", registry.host())},
                     "image": {"docker-manifest-digest": subject}, "type": "cosign container image signature"},
        "optional": {"seed": seed}
    });
    let payload = serde_json::to_vec(&payload).unwrap();
    let config = serde_json::to_vec(&json!({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&payload)]}, "config": {}})).unwrap();
    put_blob(registry, repository, &payload);
    put_blob(registry, repository, &config);
    let signature = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": SIMPLE_SIGNING, "digest": sha256_digest(&payload), "size": payload.len(),
                    "annotations": {"dev.cosignproject.cosign/signature": base64::engine::general_purpose::STANDARD.encode(format!("signature {seed}"))}}]
    });
    let signature = put_manifest(
        registry,
        repository,
        &format!("{index_tag}.sig"),
        OCI_MANIFEST,
        &signature,
    );

    // The SBOM: an OCI 1.1 artifact naming the image as its subject.
    let spdx = serde_json::to_vec(
        &json!({"spdxVersion": "SPDX-2.3", "name": format!("sbom {seed}"), "packages": []}),
    )
    .unwrap();
    put_blob(registry, repository, b"{}");
    put_blob(registry, repository, &spdx);
    let sbom = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SPDX,
        "config": {"mediaType": EMPTY, "digest": sha256_digest(b"{}"), "size": 2},
        "layers": [{"mediaType": SPDX, "digest": sha256_digest(&spdx), "size": spdx.len()}],
        "subject": {"mediaType": subject_type, "digest": subject, "size": subject_bytes.len()},
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
    });
    let sbom_digest = sha256_digest(&serde_json::to_vec(&sbom).unwrap());
    let sbom = put_manifest(registry, repository, &sbom_digest, OCI_MANIFEST, &sbom);
    let index = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sbom.digest, "size": sbom.size, "artifactType": SPDX,
                       "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}]
    });
    put_manifest(registry, repository, &index_tag, OCI_INDEX, &index);
    Attachments {
        subject,
        index_tag,
        signature,
        sbom,
    }
}

/// The manifest `repository:reference` names and its media type; `None` on 404.
pub fn get_manifest(
    registry: &Registry,
    repository: &str,
    reference: &str,
) -> Option<(Vec<u8>, String)> {
    let url = format!("{}/v2/{repository}/manifests/{reference}", registry.url());
    let accept = format!("{OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json");
    let mut response = with_auth(
        registry,
        registry.agent().get(&url).header("Accept", &accept),
    )
    .call()
    .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    match response.status().as_u16() {
        200 => {}
        404 => return None,
        s => panic!("GET {url}: {s}"),
    }
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.body_mut().read_to_vec().unwrap();
    Some((body, media_type))
}

/// Deletes the manifest `repository@digest` (the registry must allow deletes).
pub fn delete_manifest(registry: &Registry, repository: &str, digest: &str) {
    let url = format!("{}/v2/{repository}/manifests/{digest}", registry.url());
    let response = with_auth(registry, registry.agent().delete(&url))
        .call()
        .unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
    assert_eq!(response.status().as_u16(), 202, "DELETE {url}");
}

/// The digests an index in the registry lists (the fallback tag's, say); empty on 404.
pub fn index_digests(registry: &Registry, repository: &str, tag: &str) -> Vec<String> {
    let Some((bytes, _)) = get_manifest(registry, repository, tag) else {
        return Vec::new();
    };
    let index: Value = serde_json::from_slice(&bytes).unwrap();
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["digest"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn with_auth<B>(registry: &Registry, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
    match registry.credentials() {
        Some((user, password)) if registry.token_server().is_none() => {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.header("Authorization", &format!("Basic {basic}"))
        }
        _ => request,
    }
}

fn put_blob(registry: &Registry, repository: &str, data: &[u8]) {
    let url = format!("{}/v2/{repository}/blobs/uploads/", registry.url());
    let response = with_auth(registry, registry.agent().post(&url))
        .send_empty()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert_eq!(response.status().as_u16(), 202, "POST {url}");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("an upload Location")
        .to_owned();
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={}", sha256_digest(data));
    let response = with_auth(registry, registry.agent().put(&url))
        .header("Content-Type", "application/octet-stream")
        .send(data)
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    assert_eq!(response.status().as_u16(), 201, "PUT {url}");
}

fn put_manifest(
    registry: &Registry,
    repository: &str,
    reference: &str,
    media_type: &str,
    manifest: &Value,
) -> Artifact {
    let bytes = serde_json::to_vec(manifest).unwrap();
    put_manifest_bytes(registry, repository, reference, media_type, bytes)
}

/// Puts `bytes` as the manifest `repository:reference` (of `media_type`), as written (a
/// tool that spaces its JSON otherwise than tug, say).
pub fn put_manifest_bytes(
    registry: &Registry,
    repository: &str,
    reference: &str,
    media_type: &str,
    bytes: Vec<u8>,
) -> Artifact {
    let url = format!("{}/v2/{repository}/manifests/{reference}", registry.url());
    let mut response = with_auth(registry, registry.agent().put(&url))
        .header("Content-Type", media_type)
        .send(&bytes[..])
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 201, "PUT {url}: {body}");
    Artifact {
        digest: sha256_digest(&bytes),
        size: bytes.len() as u64,
        manifest: bytes,
    }
}
