//! Discovery and the fallback index's update against a registry played by a closure, in
//! virtual time: the referrers API where it answers, the tag schema where it does not,
//! cosign's tags either way, and bad answers ending in errors that say what was wrong.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::error::Error;
use crate::http::{Method, Request, ResponseHead};
use crate::Scheme;

const REGISTRY: &str = "r.example:5000";
const SBOM_TYPE: &str = "application/spdx+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

fn config() -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Https,
        ..RegistryConfig::default()
    }
}

/// The image the referrers are attached to.
fn subject_manifest() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec()
}

fn subject() -> Digest {
    Digest::sha256_of(&subject_manifest())
}

fn sbom_entry() -> Referrer {
    Referrer {
        digest: Digest::sha256_of(b"sbom manifest"),
        media_type: crate::manifest::OCI_MANIFEST.into(),
        artifact_type: Some(SBOM_TYPE.into()),
        size: 13,
        annotations: [(
            "org.opencontainers.image.created".to_owned(),
            "2026-01-01T00:00:00Z".to_owned(),
        )]
        .into_iter()
        .collect(),
        tag: None,
    }
}

fn index_of(entries: &[&Referrer]) -> Vec<u8> {
    let manifests: Vec<_> = entries
        .iter()
        .map(|r| {
            serde_json::json!({
                "mediaType": r.media_type, "digest": r.digest.to_string(), "size": r.size,
                "artifactType": r.artifact_type, "annotations": r.annotations,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": crate::manifest::OCI_INDEX, "manifests": manifests,
    }))
    .unwrap()
}

/// A cosign signature manifest.
fn signature_manifest() -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[{{"mediaType":"{SIMPLE_SIGNING}","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"annotations":{{"dev.cosignproject.cosign/signature":"MEUC"}}}}]}}"#
    )
    .into_bytes()
}

fn ok(content_type: &str, body: Vec<u8>) -> (ResponseHead, Vec<u8>) {
    (
        ResponseHead::new(200).with_header("Content-Type", content_type),
        body,
    )
}

fn not_found() -> (ResponseHead, Vec<u8>) {
    (
        ResponseHead::new(404),
        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec(),
    )
}

fn discover(
    reference: &str,
    registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
) -> (Result<Referrers, Error>, Vec<Request>) {
    discover_knowing(reference, Known::default(), registry)
}

fn discover_knowing(
    reference: &str,
    known: Known,
    registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
) -> (Result<Referrers, Error>, Vec<Request>) {
    let plan = DiscoverPlan {
        registry: REGISTRY.into(),
        repository: "team/app".into(),
        reference: reference.into(),
        known,
    };
    let op = Discovery::new(plan, &config(), Instant::ZERO);
    crate::one_shot::testing::run(op, Discovery::poll, registry)
}

fn paths(sent: &[Request]) -> Vec<String> {
    sent.iter().map(|r| r.url.path().to_owned()).collect()
}

#[test]
fn the_referrers_api_is_asked_first_and_its_answer_taken() {
    let tag = fallback_tag(&subject());
    let api_path = format!("/v2/team/app/referrers/{}", subject());
    let (result, sent) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p == api_path => ok(crate::manifest::OCI_INDEX, index_of(&[&sbom_entry()])),
        _ => not_found(),
    });
    let found = result.unwrap();
    assert!(found.api);
    assert_eq!(found.subject, subject());
    assert_eq!(found.referrers, vec![sbom_entry()]);
    let asked = paths(&sent);
    // The API answered: the fallback tag's index is not read; cosign's tags still are.
    assert!(
        !asked.contains(&format!("/v2/team/app/manifests/{tag}")),
        "{asked:?}"
    );
    for suffix in COSIGN_SUFFIXES {
        assert!(asked.contains(&format!("/v2/team/app/manifests/{tag}.{suffix}")));
    }
    let api = sent.iter().find(|r| r.url.path() == api_path).unwrap();
    assert_eq!(
        api.headers.get("accept").unwrap(),
        crate::manifest::OCI_INDEX
    );
}

#[test]
fn without_the_api_the_fallback_tag_and_cosign_tags_are_read() {
    let tag = fallback_tag(&subject());
    assert_eq!(tag, format!("sha256-{}", subject().hex()));
    let index_path = format!("/v2/team/app/manifests/{tag}");
    let sig_path = format!("/v2/team/app/manifests/{tag}.sig");
    let (result, _) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p == index_path => ok(crate::manifest::OCI_INDEX, index_of(&[&sbom_entry()])),
        p if p == sig_path => ok(crate::manifest::OCI_MANIFEST, signature_manifest()),
        // distribution 2.8: no such route.
        p if p.contains("/referrers/") => {
            (ResponseHead::new(404), b"404 page not found\n".to_vec())
        }
        _ => not_found(),
    });
    let found = result.unwrap();
    assert!(!found.api);
    assert_eq!(found.referrers.len(), 2, "{found:?}");
    assert_eq!(found.referrers[0], sbom_entry());
    let sig = &found.referrers[1];
    assert_eq!(sig.tag.as_deref(), Some(format!("{tag}.sig").as_str()));
    assert_eq!(sig.digest, Digest::sha256_of(&signature_manifest()));
    assert_eq!(sig.size, signature_manifest().len() as u64);
    assert_eq!(
        sig.artifact_type.as_deref(),
        Some("application/vnd.oci.image.config.v1+json")
    );
}

/// Every cosign tag is its own referrer, whatever another tag or a referrer naming the
/// subject holds (found by probing: `.att` holding `.sig`'s bytes, and a referrer tagged
/// `.sig` as well, were dropped, so a copy never put those tags on the target).
#[test]
fn cosign_tags_holding_the_same_manifest_as_another_are_each_kept() {
    let tag = fallback_tag(&subject());
    let index_path = format!("/v2/team/app/manifests/{tag}");
    let sbom_bytes = signature_manifest();
    let mut indexed = sbom_entry();
    indexed.digest = Digest::sha256_of(&sbom_bytes);
    indexed.size = sbom_bytes.len() as u64;
    let index = index_of(&[&indexed]);
    let (result, _) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p == index_path => ok(crate::manifest::OCI_INDEX, index.clone()),
        // `.sig` and `.att` hold the very manifest the fallback index lists.
        p if p.ends_with(".sig") || p.ends_with(".att") => {
            ok(crate::manifest::OCI_MANIFEST, sbom_bytes.clone())
        }
        p if p.contains("/referrers/") => (ResponseHead::new(404), Vec::new()),
        _ => not_found(),
    });
    let found = result.unwrap();
    let tags: Vec<Option<String>> = found.referrers.iter().map(|r| r.tag.clone()).collect();
    assert_eq!(
        tags,
        [None, Some(format!("{tag}.sig")), Some(format!("{tag}.att"))],
        "{found:?}"
    );
    assert!(found.referrers.iter().all(|r| r.digest == indexed.digest));
}

#[test]
fn a_tag_is_resolved_to_the_digest_whose_referrers_are_asked() {
    let api_path = format!("/v2/team/app/referrers/{}", subject());
    let (result, sent) = discover("v1", |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        "/v2/team/app/manifests/v1" => ok(crate::manifest::OCI_MANIFEST, subject_manifest()),
        p if p == api_path => ok(crate::manifest::OCI_INDEX, index_of(&[])),
        _ => not_found(),
    });
    let found = result.unwrap();
    assert_eq!(found.subject, subject());
    assert!(found.api && found.referrers.is_empty());
    assert!(paths(&sent).contains(&api_path));
}

#[test]
fn an_api_answer_that_is_no_index_falls_back_to_the_tag() {
    let index_path = format!("/v2/team/app/manifests/{}", fallback_tag(&subject()));
    let (result, sent) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p.contains("/referrers/") => ok("text/html", b"<html>welcome</html>".to_vec()),
        p if p == index_path => ok(crate::manifest::OCI_INDEX, index_of(&[&sbom_entry()])),
        _ => not_found(),
    });
    let found = result.unwrap();
    assert!(!found.api);
    assert_eq!(found.referrers, vec![sbom_entry()]);
    assert!(paths(&sent).contains(&index_path));
}

#[test]
fn nothing_attached_is_an_empty_list() {
    let (result, _) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        _ => not_found(),
    });
    let found = result.unwrap();
    assert!(!found.api && found.referrers.is_empty());
}

#[test]
fn bad_answers_are_errors_naming_what_was_wrong() {
    let index_path = format!("/v2/team/app/manifests/{}", fallback_tag(&subject()));
    let sig_path = format!("{index_path}.sig");
    let bad_digest = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:zz","size":1}]}"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("api", bad_digest.to_vec(), "manifests[0].digest"),
        (
            "api",
            br#"{"manifests":{"x":1}}"#.to_vec(),
            "not a valid image index",
        ),
        (
            "index",
            b"\xff\xfe not json".to_vec(),
            "not a valid image index",
        ),
        (
            "index",
            br#"{"schemaVersion":2}"#.to_vec(),
            "no manifests array",
        ),
        ("sig", b"[1,2,3]".to_vec(), "not a valid manifest"),
    ];
    for (at, body, says) in cases {
        let (result, _) = discover(&subject().to_string(), |req| {
            let path = req.url.path();
            match (at, path) {
                (_, "/v2/") => (ResponseHead::new(200), Vec::new()),
                ("api", p) if p.contains("/referrers/") => {
                    ok(crate::manifest::OCI_INDEX, body.clone())
                }
                ("index", p) if p == index_path => ok(crate::manifest::OCI_INDEX, body.clone()),
                ("sig", p) if p == sig_path => ok(crate::manifest::OCI_MANIFEST, body.clone()),
                _ => not_found(),
            }
        });
        let Err(Error::Protocol { action, message }) = &result else {
            panic!("{at}: {result:?}");
        };
        assert!(message.contains(says), "{at}: {message}");
        assert!(action.contains("team/app"), "{at}: {action}");
    }
}

#[test]
fn a_resolved_digest_the_registry_misreports_is_an_error() {
    let (result, _) = discover("v1", |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        "/v2/team/app/manifests/v1" => (
            ResponseHead::new(200)
                .with_header("Content-Type", crate::manifest::OCI_MANIFEST)
                .with_header(
                    "Docker-Content-Digest",
                    &Digest::sha256_of(b"other").to_string(),
                ),
            subject_manifest(),
        ),
        _ => not_found(),
    });
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
}

fn attach(
    referrers: Vec<Referrer>,
    registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
) -> (Result<Attached, Error>, Vec<Request>) {
    let plan = AttachPlan {
        registry: REGISTRY.into(),
        repository: "team/app".into(),
        subject: subject(),
        referrers,
    };
    let op = Attach::new(plan, &config(), Instant::ZERO);
    crate::one_shot::testing::run(op, Attach::poll, registry)
}

/// A registry holding the fallback tag's index (`None`: none yet): a `PUT` stores what
/// `after_put` (the put's number from 1, its body) says the tag holds after it — another
/// writer's index put over it, say — and a `GET` serves what is stored.
fn holding_index(
    mut stored: Option<Vec<u8>>,
    mut after_put: impl FnMut(u32, Vec<u8>) -> Vec<u8>,
) -> impl FnMut(&Request) -> (ResponseHead, Vec<u8>) {
    let mut puts = 0;
    move |req| match (&req.method, req.url.path()) {
        (_, "/v2/") => (ResponseHead::new(200), Vec::new()),
        (&Method::PUT, _) => {
            let crate::http::Body::Bytes(bytes) = &req.body else {
                panic!("{:?}", req.body)
            };
            puts += 1;
            stored = Some(after_put(puts, bytes.clone()));
            (ResponseHead::new(201), Vec::new())
        }
        _ => match &stored {
            Some(index) => ok(crate::manifest::OCI_INDEX, index.clone()),
            None => not_found(),
        },
    }
}

fn put_body(sent: &[Request]) -> Option<serde_json::Value> {
    let put = sent.iter().find(|r| r.method == Method::PUT)?;
    let crate::http::Body::Bytes(bytes) = &put.body else {
        panic!("{:?}", put.body)
    };
    assert_eq!(
        put.headers.get("content-type").unwrap(),
        crate::manifest::OCI_INDEX
    );
    Some(serde_json::from_slice(bytes).unwrap())
}

#[test]
fn the_fallback_index_is_created_when_there_is_none() {
    let (result, sent) = attach(vec![sbom_entry()], holding_index(None, |_, b| b));
    let attached = result.unwrap();
    assert_eq!(attached.added, 1);
    assert_eq!(attached.tag, fallback_tag(&subject()));
    let put = sent.iter().find(|r| r.method == Method::PUT).unwrap();
    assert_eq!(
        put.url.path(),
        format!("/v2/team/app/manifests/{}", attached.tag)
    );
    let index = put_body(&sent).unwrap();
    assert_eq!(index["mediaType"], crate::manifest::OCI_INDEX);
    let listed = index::referrers_of_index(&serde_json::to_vec(&index).unwrap()).unwrap();
    assert_eq!(listed, vec![sbom_entry()]);
}

#[test]
fn the_fallback_index_keeps_what_it_lists_and_adds_what_it_lacks() {
    let other = Referrer {
        digest: Digest::sha256_of(b"other"),
        artifact_type: Some("application/vnd.example+json".into()),
        annotations: Default::default(),
        ..sbom_entry()
    };
    let mut existing: serde_json::Value = serde_json::from_slice(&index_of(&[&other])).unwrap();
    existing["annotations"] = serde_json::json!({"kept": "yes"});
    let existing = serde_json::to_vec(&existing).unwrap();
    let (result, sent) = attach(
        vec![other.clone(), sbom_entry()],
        holding_index(Some(existing), |_, b| b),
    );
    assert_eq!(result.unwrap().added, 1);
    let index = put_body(&sent).unwrap();
    assert_eq!(index["annotations"]["kept"], "yes");
    let listed = index::referrers_of_index(&serde_json::to_vec(&index).unwrap()).unwrap();
    assert_eq!(listed, vec![other, sbom_entry()]);
}

/// Another writer that read the index before this one put it puts its own merge over it:
/// the index read back after the put lacks the entry this one added, so it is merged and
/// put again (listing both); one replaced every time fails after [`attach::REWRITES`].
#[test]
fn a_fallback_index_another_writer_replaced_is_merged_and_put_again() {
    let theirs = Referrer {
        digest: Digest::sha256_of(b"theirs"),
        ..sbom_entry()
    };
    let their_index = index_of(&[&theirs]);
    let replaced_once = {
        let their_index = their_index.clone();
        move |n: u32, body: Vec<u8>| if n == 1 { their_index.clone() } else { body }
    };
    let (result, sent) = attach(vec![sbom_entry()], holding_index(None, replaced_once));
    assert_eq!(result.unwrap().added, 1);
    let puts: Vec<&Request> = sent.iter().filter(|r| r.method == Method::PUT).collect();
    assert_eq!(puts.len(), 2, "{sent:#?}");
    let crate::http::Body::Bytes(last) = &puts[1].body else {
        panic!()
    };
    let listed = index::referrers_of_index(last).unwrap();
    assert_eq!(listed, vec![theirs.clone(), sbom_entry()]);

    let always = move |_: u32, _: Vec<u8>| their_index.clone();
    let (result, sent) = attach(vec![sbom_entry()], holding_index(None, always));
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
    let puts = sent.iter().filter(|r| r.method == Method::PUT).count();
    assert_eq!(puts as u32, 1 + attach::REWRITES);
}

#[test]
fn a_fallback_index_listing_everything_is_not_put_again() {
    let existing = index_of(&[&sbom_entry()]);
    let (result, sent) = attach(vec![sbom_entry()], |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        _ => ok(crate::manifest::OCI_INDEX, existing.clone()),
    });
    assert_eq!(result.unwrap().added, 0);
    assert!(put_body(&sent).is_none());
}

#[test]
fn a_fallback_tag_that_is_no_index_is_an_error_and_not_overwritten() {
    let (result, sent) = attach(vec![sbom_entry()], |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        _ => ok(crate::manifest::OCI_MANIFEST, subject_manifest()),
    });
    let Err(Error::Protocol { message, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(message.contains("no manifests array"), "{message}");
    assert!(put_body(&sent).is_none());
}

#[test]
fn carries_keep_cosign_tags_and_subject_digests() {
    let sig = Referrer {
        tag: Some(format!("{}.sig", fallback_tag(&subject()))),
        ..sbom_entry()
    };
    let found = Referrers {
        subject: subject(),
        api: false,
        referrers: vec![sbom_entry(), sig.clone()],
    };
    let source = Reference::parse_registry("src.example/team/app:v1").unwrap();
    let target = Reference::parse_registry("dst.example/mirror/app:v1").unwrap();
    let c = carries(&found, &source, &target);
    assert_eq!(
        c[0].source.to_string(),
        format!("src.example/team/app@{}", sbom_entry().digest)
    );
    assert_eq!(
        c[0].target.to_string(),
        format!("dst.example/mirror/app@{}", sbom_entry().digest)
    );
    assert_eq!(c[1].target.tag, sig.tag);
    assert_eq!(c[1].target.digest, None);
    let mut report = crate::push::PushReport {
        manifest_digest: sbom_entry().digest,
        blobs_uploaded: 0,
        blobs_skipped: 0,
        blobs_mounted: 0,
        bytes_mounted: 0,
        blobs_missing: Vec::new(),
        bytes_uploaded: 0,
        bytes_skipped: 0,
        bytes_resumed: 0,
        retries: 0,
        plain_http: false,
        elapsed: std::time::Duration::ZERO,
        peak_bytes_per_second: 0.0,
        subject_indexed: false,
    };
    assert!(needs_fallback_index(&c[0], &report));
    assert!(!needs_fallback_index(&c[1], &report));
    report.subject_indexed = true;
    assert!(!needs_fallback_index(&c[0], &report));
}

#[test]
fn a_paginated_referrers_answer_is_read_page_after_page() {
    let other = Referrer {
        digest: Digest::sha256_of(b"second page"),
        ..sbom_entry()
    };
    let api_path = format!("/v2/team/app/referrers/{}", subject());
    let (result, sent) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p == api_path && req.url.query() == Some("page=2") => {
            ok(crate::manifest::OCI_INDEX, index_of(&[&other]))
        }
        p if p == api_path => {
            let (head, body) = ok(crate::manifest::OCI_INDEX, index_of(&[&sbom_entry()]));
            let link = format!(r#"<{api_path}?page=2>; rel="next""#);
            (head.with_header("Link", &link), body)
        }
        _ => not_found(),
    });
    let found = result.unwrap();
    assert_eq!(found.referrers, vec![sbom_entry(), other]);
    let pages = sent.iter().filter(|r| r.url.path() == api_path).count();
    assert_eq!(pages, 2);
}

#[test]
fn a_referrers_page_linking_back_is_an_error() {
    let api_path = format!("/v2/team/app/referrers/{}", subject());
    let (result, _) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p == api_path => {
            let (head, body) = ok(crate::manifest::OCI_INDEX, index_of(&[&sbom_entry()]));
            (
                head.with_header("Link", &format!(r#"<{api_path}>; rel="next""#)),
                body,
            )
        }
        _ => not_found(),
    });
    let Err(Error::Protocol { message, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(message.contains("points back"), "{message}");
}

#[test]
fn referrers_pages_that_list_nothing_yet_link_on_end_in_an_error() {
    let api_path = format!("/v2/team/app/referrers/{}", subject());
    let (result, sent) = discover(&subject().to_string(), |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        p if p == api_path => {
            // Every page is empty and names a page not read yet.
            let page: u32 = req
                .url
                .query()
                .and_then(|q| q.strip_prefix("page=")?.parse().ok())
                .unwrap_or(0);
            let (head, body) = ok(crate::manifest::OCI_INDEX, index_of(&[]));
            let link = format!(r#"<{api_path}?page={}>; rel="next""#, page + 1);
            (head.with_header("Link", &link), body)
        }
        _ => not_found(),
    });
    let Err(Error::Protocol { message, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(
        message.contains("pages in a row listed nothing"),
        "{message}"
    );
    let pages = sent.iter().filter(|r| r.url.path() == api_path).count();
    assert_eq!(pages, crate::listing::pager::MAX_EMPTY_PAGES as usize);
}

/// The repository's tags as a sync listed them.
fn tags(list: &[String]) -> Option<std::sync::Arc<std::collections::BTreeSet<String>>> {
    Some(std::sync::Arc::new(list.iter().cloned().collect()))
}

#[test]
fn known_tags_and_a_registry_known_to_lack_the_api_leave_nothing_to_ask_of_an_unsigned_image() {
    let known = Known {
        tags: tags(&["v1".into(), "v2".into()]),
        api: Some(false),
    };
    let plan = |known: Known| DiscoverPlan {
        registry: REGISTRY.into(),
        repository: "team/app".into(),
        reference: subject().to_string(),
        known,
    };
    assert!(!plan(known.clone()).asks_anything());
    assert!(plan(Known::default()).asks_anything());
    let api_unknown = Known {
        api: None,
        ..known.clone()
    };
    assert!(plan(api_unknown).asks_anything());
    // Started anyway, it asks only the version check.
    let (result, sent) =
        discover_knowing(&subject().to_string(), known, |req| match req.url.path() {
            "/v2/" => (ResponseHead::new(200), Vec::new()),
            _ => not_found(),
        });
    let found = result.unwrap();
    assert!(found.referrers.is_empty() && !found.api);
    let asked: Vec<_> = paths(&sent)
        .into_iter()
        .filter(|p| p.contains("/manifests/") || p.contains("/referrers/"))
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
}

#[test]
fn known_tags_ask_only_the_referrers_tags_listed() {
    let tag = fallback_tag(&subject());
    let known = Known {
        tags: tags(&["v1".into(), tag.clone(), format!("{tag}.sig")]),
        api: Some(false),
    };
    let index_path = format!("/v2/team/app/manifests/{tag}");
    let (result, sent) =
        discover_knowing(&subject().to_string(), known, |req| match req.url.path() {
            "/v2/" => (ResponseHead::new(200), Vec::new()),
            p if p == index_path => ok(crate::manifest::OCI_INDEX, index_of(&[&sbom_entry()])),
            _ => not_found(),
        });
    assert_eq!(result.unwrap().referrers, vec![sbom_entry()]);
    let asked = paths(&sent);
    assert!(asked.contains(&index_path), "{asked:?}");
    assert!(asked.contains(&format!("{index_path}.sig")), "{asked:?}");
    for gone in [".att", ".sbom"] {
        assert!(!asked.contains(&format!("{index_path}{gone}")), "{asked:?}");
    }
    assert!(
        !asked.iter().any(|p| p.contains("/referrers/")),
        "{asked:?}"
    );
}

#[test]
fn a_referrers_tag_names_its_subject_and_other_tags_none() {
    let s = subject();
    assert_eq!(subject_of_tag(&fallback_tag(&s)), Some(s.clone()));
    for suffix in COSIGN_SUFFIXES {
        assert_eq!(subject_of_tag(&cosign_tag(&s, suffix)), Some(s.clone()));
    }
    let hex = s.hex().to_owned();
    for tag in [
        "v1".to_owned(),
        "latest".to_owned(),
        format!("sha256-{hex}.tar"),
        format!("sha256-{}", &hex[1..]),
        format!("sha256-{hex}0"),
        format!("sha256_{hex}"),
        format!("sha256-{}", hex.to_uppercase()),
        format!("md5-{hex}"),
        "sha256-".to_owned(),
        format!("sha256-{hex}.sig.sig"),
    ] {
        assert_eq!(subject_of_tag(&tag), None, "{tag}");
    }
}
