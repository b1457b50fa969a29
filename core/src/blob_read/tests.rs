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

/// Reads a 6 MiB blob with `attempts` attempts per request from a registry whose every
/// answer breaks after `cut` bytes (the last one ends with the blob). Returns the result,
/// the blob requests made, what was passed on and the blob.
fn read_through_breaks(
    cut: usize,
    attempts: u32,
) -> (Result<BlobReport, Error>, usize, Vec<u8>, Vec<u8>) {
    let blob: Vec<u8> = (0..6u32 << 20).map(|i| (i % 251) as u8).collect();
    let plan = BlobPlan {
        registry: "r.example".into(),
        repository: "team/app".into(),
        digest: Digest::sha256_of(&blob),
        max_size: None,
    };
    let config = RegistryConfig {
        scheme: Scheme::Https,
        retry: crate::retry::RetryPolicy {
            max_attempts: attempts,
            ..Default::default()
        },
        ..RegistryConfig::default()
    };
    let op = BlobRead::new(plan, &config, Instant::ZERO);
    let len = blob.len();
    let answer = |req: &Request| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new(), true);
        }
        let from = req.headers.get("range").map_or(0, |range| {
            let range = range.to_str().unwrap();
            range["bytes=".len()..range.len() - 1].parse().unwrap()
        });
        let to = (from + cut).min(len);
        let head = match from {
            0 => ResponseHead::new(200).with_header("Content-Length", &len.to_string()),
            _ => ResponseHead::new(206)
                .with_header("Content-Range", &format!("bytes {from}-{}/{len}", len - 1)),
        };
        (head, blob[from..to].to_vec(), to == len)
    };
    let (result, sent, data) = crate::one_shot::testing::run_breaking(op, BlobRead::poll, answer);
    let asked = sent.iter().filter(|r| r.url.path() != "/v2/").count();
    (result, asked, data, blob)
}

#[test]
fn a_read_that_breaks_after_each_mib_and_more_is_read_to_its_end() {
    // Four breaks, three attempts: each resumed request brings 1.25 MiB more, which starts
    // the attempts afresh.
    let (result, asked, data, blob) = read_through_breaks(5 << 18, 3);
    assert_eq!(result.unwrap().size, blob.len() as u64);
    assert_eq!(asked, 5);
    assert!(data == blob, "the bytes passed on are the blob's");
}

#[test]
fn a_read_that_keeps_breaking_before_a_mib_more_arrives_fails_after_its_attempts() {
    let (result, asked, _, _) = read_through_breaks(100 << 10, 3);
    assert!(result.is_err(), "{result:?}");
    assert_eq!(asked, 3);
}
