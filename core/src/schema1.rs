//! Docker schema 1 manifests, which tug does not pull but must still name and hash right
//! (to tag, delete or print one): their media types, and the bytes a signed one's digest
//! covers. A signed manifest (JWS, `…v1+prettyjws`) carries `signatures` a registry may
//! make anew on every `GET`; its digest is that of its payload without them (libtrust's
//! rule, which distribution and skopeo follow): the body's first `formatLength` bytes and
//! the `formatTail` of the first signature's protected header.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;

/// A signed schema 1 manifest.
pub const SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// An unsigned schema 1 manifest.
pub const UNSIGNED: &str = "application/vnd.docker.distribution.manifest.v1+json";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    schema_version: Option<u32>,
    #[serde(default)]
    signatures: Vec<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    protected: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Protected {
    format_length: usize,
    format_tail: String,
}

/// The media type of `body` when it is a schema 1 manifest (`schemaVersion: 1`): signed
/// when it carries signatures.
pub fn media_type(body: &[u8]) -> Option<&'static str> {
    let doc: Doc = serde_json::from_slice(body).ok()?;
    (doc.schema_version == Some(1)).then_some(match doc.signatures.is_empty() {
        true => UNSIGNED,
        false => SIGNED,
    })
}

/// The bytes a manifest's digest covers: its payload for a signed schema 1 manifest whose
/// first signature says where it ends, else the whole body.
pub fn digested(body: &[u8]) -> Cow<'_, [u8]> {
    match payload(body) {
        Some(payload) => Cow::Owned(payload),
        None => Cow::Borrowed(body),
    }
}

fn payload(body: &[u8]) -> Option<Vec<u8>> {
    let doc: Doc = serde_json::from_slice(body).ok()?;
    if doc.schema_version != Some(1) {
        return None;
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let protected = b64
        .decode(doc.signatures.first()?.protected.trim_end_matches('='))
        .ok()?;
    let protected: Protected = serde_json::from_slice(&protected).ok()?;
    let tail = b64
        .decode(protected.format_tail.trim_end_matches('='))
        .ok()?;
    let mut payload = body.get(..protected.format_length)?.to_vec();
    payload.extend_from_slice(&tail);
    Some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A payload signed the way libtrust lays it out: the payload up to its closing `}`
    /// (`formatLength`), the signatures spliced in, the payload's tail (`formatTail`) last.
    fn signed(payload: &str, nonce: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let cut = payload.rfind("\n}").unwrap();
        let protected = serde_json::json!({
            "formatLength": cut,
            "formatTail": b64.encode(&payload[cut..]),
            "time": nonce,
        });
        let signature = format!(
            r#",
   "signatures": [{{"header": {{"alg": "ES256"}}, "signature": "{nonce}", "protected": "{}"}}]"#,
            b64.encode(protected.to_string())
        );
        format!("{}{signature}{}", &payload[..cut], &payload[cut..]).into_bytes()
    }

    const PAYLOAD: &str = "{\n   \"schemaVersion\": 1,\n   \"name\": \"t/s1\",\n   \"tag\": \"v1\",\n   \"fsLayers\": []\n}";

    #[test]
    fn a_signed_manifest_is_digested_without_its_signatures_whatever_they_are() {
        let (a, b) = (signed(PAYLOAD, "one"), signed(PAYLOAD, "two"));
        assert_ne!(a, b, "signed anew");
        assert_eq!(digested(&a).as_ref(), PAYLOAD.as_bytes());
        assert_eq!(
            Digest::sha256_of(&digested(&b)),
            Digest::sha256_of(PAYLOAD.as_bytes())
        );
        assert_eq!(media_type(&a), Some(SIGNED));
    }

    #[test]
    fn other_manifests_are_digested_whole() {
        assert_eq!(media_type(PAYLOAD.as_bytes()), Some(UNSIGNED));
        assert_eq!(digested(PAYLOAD.as_bytes()).as_ref(), PAYLOAD.as_bytes());
        let v2 = br#"{"schemaVersion":2,"signatures":[{"protected":"e30"}]}"#;
        assert_eq!(digested(v2).as_ref(), v2.as_slice());
        assert_eq!(media_type(v2), None);
        // A protected header pointing past the body is no payload.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let bad = serde_json::json!({"formatLength": 1 << 20, "formatTail": ""}).to_string();
        let body = format!(
            r#"{{"schemaVersion":1,"signatures":[{{"protected":"{}"}}]}}"#,
            b64.encode(bad)
        );
        assert_eq!(digested(body.as_bytes()).as_ref(), body.as_bytes());
    }
}
