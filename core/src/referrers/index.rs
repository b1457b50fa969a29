//! The documents referrers are read from and written to: an image index listing them (the
//! referrers API's answer, or the fallback tag's index), a cosign-style tagged manifest, and
//! the fallback index merged with new entries.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::digest::Digest;
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};

use super::Referrer;

/// An index entry or manifest, with the fields a referrer is told by.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    manifests: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// The referrers an index lists (the referrers API's answer or the fallback tag's index);
/// `Err` says what is wrong with it.
pub(crate) fn referrers_of_index(body: &[u8]) -> Result<Vec<Referrer>, String> {
    let index: RawIndex =
        serde_json::from_slice(body).map_err(|e| format!("not a valid image index: {e}"))?;
    let entries = index.manifests.ok_or("the index has no manifests array")?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let digest: Digest = e
                .digest
                .parse()
                .map_err(|err| format!("manifests[{i}].digest: {err}"))?;
            Ok(Referrer {
                digest,
                media_type: e.media_type.unwrap_or_else(|| OCI_MANIFEST.to_owned()),
                artifact_type: e.artifact_type,
                size: e.size,
                annotations: e.annotations.unwrap_or_default(),
                tag: None,
            })
        })
        .collect()
}

/// A manifest found under a cosign-style tag (`sha256-<hex>.sig`), as a referrer: its
/// artifact type is the manifest's `artifactType`, else its config's media type.
pub(crate) fn referrer_of_tagged(
    tag: &str,
    media_type: &str,
    digest: Digest,
    body: &[u8],
) -> Result<Referrer, String> {
    let m: RawManifest =
        serde_json::from_slice(body).map_err(|e| format!("not a valid manifest: {e}"))?;
    Ok(Referrer {
        digest,
        media_type: m.media_type.unwrap_or_else(|| media_type.to_owned()),
        artifact_type: m
            .artifact_type
            .or_else(|| m.config.and_then(|c| c.media_type)),
        size: body.len() as u64,
        annotations: m.annotations.unwrap_or_default(),
        tag: Some(tag.to_owned()),
    })
}

/// The descriptor of `r` as an index entry.
fn entry(r: &Referrer) -> Value {
    let mut e = Map::new();
    e.insert("mediaType".into(), json!(r.media_type));
    e.insert("digest".into(), json!(r.digest.to_string()));
    e.insert("size".into(), json!(r.size));
    if let Some(t) = &r.artifact_type {
        e.insert("artifactType".into(), json!(t));
    }
    if !r.annotations.is_empty() {
        e.insert("annotations".into(), json!(r.annotations));
    }
    Value::Object(e)
}

/// The fallback tag's index with `adds` listed: `existing` (the index the tag named, if
/// any) keeps its entries and fields, and each of `adds` it lacks (by digest) is appended.
/// Returns the new index and how many entries were added; `Ok(None)`: it lists them all
/// already (nothing to put). `Err`: `existing` is not an index.
pub(crate) fn merged_index(
    existing: Option<&[u8]>,
    adds: &[Referrer],
) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut doc = match existing {
        Some(body) => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| format!("not a valid image index: {e}"))?;
            if !v.get("manifests").is_some_and(Value::is_array) {
                return Err("the index has no manifests array".into());
            }
            v
        }
        None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    let Some(manifests) = doc.get_mut("manifests").and_then(Value::as_array_mut) else {
        return Err("the index has no manifests array".into());
    };
    let mut added = 0;
    for r in adds {
        let digest = r.digest.to_string();
        let listed = manifests
            .iter()
            .any(|m| m.get("digest").and_then(Value::as_str) == Some(digest.as_str()));
        if !listed {
            manifests.push(entry(r));
            added += 1;
        }
    }
    if added == 0 {
        return Ok(None);
    }
    serde_json::to_vec(&doc)
        .map(|bytes| Some((bytes, added)))
        .map_err(|e| e.to_string())
}
