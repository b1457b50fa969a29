//! Blob reads against a registry played by a closure: bytes passed on and verified, a
//! mismatch and an unknown blob refused, a broken body resumed by `Range`, a cap kept.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::http::{Request, ResponseHead};
use crate::Scheme;

const BLOB: &[u8] = b"the bytes of a layer, as a registry keeps them";

fn run(
    max_size: Option<u64>,
    registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
) -> (Result<BlobReport, Error>, Vec<Request>, Vec<u8>) {
    let plan = BlobPlan {
        registry: "r.example".into(),
        repository: "team/app".into(),
        digest: Digest::sha256_of(BLOB),
        max_size,
    };
    let config = RegistryConfig {
        scheme: Scheme::Https,
        ..RegistryConfig::default()
    };
    let op = BlobRead::new(plan, &config, Instant::ZERO);
    crate::one_shot::testing::run_reading(op, BlobRead::poll, registry)
}

/// `/v2/` answered, then each blob request by `blob`.
fn registry(
    mut blob: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
) -> impl FnMut(&Request) -> (ResponseHead, Vec<u8>) {
    move |req| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        assert_eq!(
            req.url.path(),
            format!("/v2/team/app/blobs/{}", Digest::sha256_of(BLOB))
        );
        blob(req)
    }
}

fn whole(body: &[u8]) -> (ResponseHead, Vec<u8>) {
    let head = ResponseHead::new(200).with_header("Content-Length", &body.len().to_string());
    (head, body.to_vec())
}

#[test]
fn a_blob_is_passed_on_and_verified() {
    let (result, sent, data) = run(None, registry(|_| whole(BLOB)));
    assert_eq!(
        result.unwrap(),
        BlobReport {
            digest: Digest::sha256_of(BLOB),
            size: BLOB.len() as u64
        }
    );
    assert_eq!(data, BLOB);
    assert_eq!(sent.len(), 2);
    assert!(sent[1].headers.get("range").is_none());
}

#[test]
fn bytes_that_are_not_the_digest_s_fail_the_read() {
    let (result, _, _) = run(None, registry(|_| whole(b"something else")));
    match result {
        Err(Error::DigestMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, Digest::sha256_of(BLOB));
            assert_eq!(actual, Digest::sha256_of(b"something else"));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

#[test]
fn an_unknown_blob_is_the_registry_s_error() {
    let (result, _, data) = run(
        None,
        registry(|_| {
            let body =
                br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;
            (ResponseHead::new(404), body.to_vec())
        }),
    );
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::Registry { status: 404, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("BLOB_UNKNOWN"), "{error}");
    assert!(data.is_empty());
}

#[test]
fn a_body_that_ends_early_is_resumed_from_the_last_byte() {
    let mut ranges = Vec::new();
    let (result, _, data) = run(
        None,
        registry(|req| {
            let range = req
                .headers
                .get("range")
                .map(|v| v.to_str().unwrap().to_owned());
            ranges.push(range.clone());
            match range {
                // The first answer announces the whole blob and stops after 10 bytes.
                None => (
                    ResponseHead::new(200).with_header("Content-Length", &BLOB.len().to_string()),
                    BLOB[..10].to_vec(),
                ),
                Some(r) => {
                    assert_eq!(r, "bytes=10-");
                    let head = ResponseHead::new(206).with_header(
                        "Content-Range",
                        &format!("bytes 10-{}/{}", BLOB.len() - 1, BLOB.len()),
                    );
                    (head, BLOB[10..].to_vec())
                }
            }
        }),
    );
    assert_eq!(result.unwrap().size, BLOB.len() as u64);
    assert_eq!(data, BLOB);
    assert_eq!(ranges.len(), 2);
}

#[test]
fn a_blob_larger_than_allowed_is_refused() {
    let (result, _, data) = run(Some(8), registry(|_| whole(BLOB)));
    assert!(
        matches!(&result, Err(Error::Protocol { message, .. }) if message.contains("larger than its 8 bytes")),
        "{result:?}"
    );
    assert!(data.is_empty());
}

#[test]
fn a_connection_broken_after_the_last_byte_leaves_the_whole_blob_to_check() {
    let plan = BlobPlan {
        registry: "r.example".into(),
        repository: "team/app".into(),
        digest: Digest::sha256_of(BLOB),
        max_size: None,
    };
    let config = RegistryConfig {
        scheme: Scheme::Https,
        ..RegistryConfig::default()
    };
    let op = BlobRead::new(plan, &config, Instant::ZERO);
    let mut answer = registry(|req| match req.headers.get("range") {
        // The rest after every byte: nothing, as a registry says it.
        Some(range) => {
            assert_eq!(range, &format!("bytes={}-", BLOB.len()));
            let head = ResponseHead::new(416)
                .with_header("Content-Range", &format!("bytes */{}", BLOB.len()));
            (head, Vec::new())
        }
        None => whole(BLOB),
    });
    let breaks = |req: &Request| {
        let (head, body) = answer(req);
        // The whole blob's response breaks after its last byte.
        let ends = head.status.as_u16() != 200 || req.url.path() == "/v2/";
        (head, body, ends)
    };
    let (result, sent, data) = crate::one_shot::testing::run_breaking(op, BlobRead::poll, breaks);
    assert_eq!(result.unwrap().size, BLOB.len() as u64);
    assert_eq!(data, BLOB);
    assert_eq!(sent.len(), 3, "/v2/, the blob, the rest");
}
