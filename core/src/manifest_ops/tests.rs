//! Manifest operations against a registry played by a closure: reads checked against
//! digests, a platform's manifest from an index, tags put with the same bytes, deletion by
//! digest after resolving a tag, and the registry's refusal.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::HashMap;

use crate::http::{Body, Method, Request, ResponseHead};
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::Scheme;

const REGISTRY: &str = "r.example";

fn image_manifest(seed: u8) -> Vec<u8> {
    let config = Digest::sha256_of(&[seed]);
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":1}},"layers":[]}}"#
    )
    .into_bytes()
}

fn index(children: &[(&[u8], &str)]) -> Vec<u8> {
    let entries: Vec<String> = children
        .iter()
        .map(|(bytes, arch)| {
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#,
                Digest::sha256_of(bytes),
                bytes.len()
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

/// A registry holding `manifests` by tag or digest; `PUT`s and `DELETE`s are answered
/// `put_status` / `delete_status` (with distribution's body for a 405).
struct Model {
    manifests: HashMap<String, (String, Vec<u8>)>,
    delete_status: u16,
    /// A `HEAD` is answered with the `GET`'s head: with `Docker-Content-Digest` unless
    /// this is false (some registries and proxies leave it out).
    head_digest: bool,
}

impl Model {
    fn new(entries: &[(&str, &str, &[u8])]) -> Model {
        let mut manifests = HashMap::new();
        for (tag, media_type, bytes) in entries {
            let entry = (media_type.to_string(), bytes.to_vec());
            manifests.insert(Digest::sha256_of(bytes).to_string(), entry.clone());
            manifests.insert(tag.to_string(), entry);
        }
        Model {
            manifests,
            delete_status: 202,
            head_digest: true,
        }
    }

    fn answer(&mut self, req: &Request) -> (ResponseHead, Vec<u8>) {
        let path = req.url.path();
        if path == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        let reference = path.rsplit('/').next().unwrap().to_owned();
        if req.method == Method::HEAD {
            let get = Request {
                method: Method::GET,
                ..req.clone()
            };
            let (mut head, _) = self.answer(&get);
            if !self.head_digest {
                head.headers.remove("docker-content-digest");
            }
            return (head, Vec::new());
        }
        match req.method {
            Method::GET => match self.manifests.get(&reference) {
                Some((media_type, bytes)) => (
                    ResponseHead::new(200)
                        .with_header("Content-Type", media_type)
                        .with_header(
                            "Docker-Content-Digest",
                            &Digest::sha256_of(bytes).to_string(),
                        ),
                    bytes.clone(),
                ),
                None => (
                    ResponseHead::new(404),
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                        .to_vec(),
                ),
            },
            Method::PUT => {
                let Body::Bytes(bytes) = &req.body else {
                    panic!("a manifest body")
                };
                let media_type = req.headers["content-type"].to_str().unwrap().to_owned();
                self.manifests
                    .insert(reference, (media_type, bytes.clone()));
                (ResponseHead::new(201), Vec::new())
            }
            Method::DELETE if self.delete_status == 405 => (
                ResponseHead::new(405),
                br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#
                    .to_vec(),
            ),
            Method::DELETE => {
                self.manifests
                    .retain(|_, (_, b)| Digest::sha256_of(b).to_string() != reference);
                (ResponseHead::new(self.delete_status), Vec::new())
            }
            _ => panic!("unexpected {} {path}", req.method),
        }
    }
}

fn run(
    model: &mut Model,
    reference: &str,
    action: ManifestAction,
) -> (Result<ManifestReport, Error>, Vec<Request>) {
    let plan = ManifestPlan {
        registry: REGISTRY.into(),
        repository: "team/app".into(),
        reference: reference.into(),
        action,
    };
    let config = RegistryConfig {
        scheme: Scheme::Https,
        ..RegistryConfig::default()
    };
    let op = ManifestOp::new(plan, &config, Instant::ZERO);
    crate::one_shot::testing::run(op, ManifestOp::poll, |req| model.answer(req))
}

fn calls(sent: &[Request]) -> Vec<String> {
    sent.iter()
        .skip(1)
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[test]
fn a_manifest_is_read_as_served_with_its_digest() {
    let bytes = image_manifest(1);
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    let (result, sent) = run(&mut model, "v1", ManifestAction::Get { platform: None });
    let report = result.unwrap();
    assert_eq!(report.digest, Digest::sha256_of(&bytes));
    let manifest = report.manifest.unwrap();
    assert_eq!(
        (manifest.bytes, manifest.media_type.as_str()),
        (bytes, OCI_MANIFEST)
    );
    assert_eq!(calls(&sent), ["GET /v2/team/app/manifests/v1"]);
    assert!(sent[1].headers["accept"]
        .to_str()
        .unwrap()
        .contains(OCI_INDEX));
}

#[test]
fn a_platform_s_manifest_is_taken_from_the_index() {
    let (amd, arm) = (image_manifest(1), image_manifest(2));
    let idx = index(&[(&amd, "amd64"), (&arm, "arm64")]);
    let mut model = Model::new(&[
        ("v1", OCI_INDEX, &idx),
        ("amd", OCI_MANIFEST, &amd),
        ("arm", OCI_MANIFEST, &arm),
    ]);
    let platform = Some("linux/arm64".parse().unwrap());
    let (result, sent) = run(&mut model, "v1", ManifestAction::Get { platform });
    let report = result.unwrap();
    assert_eq!(report.digest, Digest::sha256_of(&arm));
    assert_eq!(report.manifest.unwrap().bytes, arm);
    assert_eq!(report.index.unwrap().bytes, idx);
    let child = format!("GET /v2/team/app/manifests/{}", Digest::sha256_of(&arm));
    assert_eq!(
        calls(&sent),
        ["GET /v2/team/app/manifests/v1".to_owned(), child]
    );

    let platform = Some("linux/s390x".parse().unwrap());
    let (result, _) = run(&mut model, "v1", ManifestAction::Get { platform });
    let error = result.unwrap_err().to_string();
    assert!(error.contains("linux/amd64, linux/arm64"), "{error}");
}

/// A single image read for a platform (`tug digest --platform`): its config is read and
/// must name that platform, as a pull holds it.
#[test]
fn a_single_image_read_for_a_platform_must_be_its_own() {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        Digest::sha256_of(config),
        config.len()
    )
    .into_bytes();
    let mut model = Model::new(&[
        ("v1", OCI_MANIFEST, &manifest),
        ("cfg", "application/json", config),
    ]);
    let platform = Some("linux/arm64".parse().unwrap());
    let (result, sent) = run(&mut model, "v1", ManifestAction::Get { platform });
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("single image for linux/amd64, not linux/arm64"),
        "{error}"
    );
    let config_get = format!("GET /v2/team/app/blobs/{}", Digest::sha256_of(config));
    assert!(calls(&sent).contains(&config_get), "{:?}", calls(&sent));
    let platform = Some("linux/amd64".parse().unwrap());
    let (result, _) = run(&mut model, "v1", ManifestAction::Get { platform });
    assert_eq!(result.unwrap().digest, Digest::sha256_of(&manifest));
}

/// An image manifest whose config (returned too) names `arch`.
fn image_with_config(arch: &str) -> (Vec<u8>, Vec<u8>) {
    let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#).into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        Digest::sha256_of(&config),
        config.len()
    )
    .into_bytes();
    (manifest, config)
}

/// An index whose entries name no platform (valid OCI, as some tools write them) is
/// searched by its entries' configs, as a pull searches it.
#[test]
fn an_index_naming_no_platforms_is_chosen_from_by_the_configs() {
    let (arm, arm_config) = image_with_config("arm64");
    let (amd, amd_config) = image_with_config("amd64");
    let entry = |m: &[u8]| {
        format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}}"#,
            Digest::sha256_of(m),
            m.len()
        )
    };
    let idx = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        entry(&arm),
        entry(&amd)
    )
    .into_bytes();
    let mut model = Model::new(&[
        ("v1", OCI_INDEX, &idx),
        ("arm", OCI_MANIFEST, &arm),
        ("amd", OCI_MANIFEST, &amd),
        ("armc", "application/json", &arm_config),
        ("amdc", "application/json", &amd_config),
    ]);
    let platform = Some("linux/amd64".parse().unwrap());
    let (result, sent) = run(&mut model, "v1", ManifestAction::Get { platform });
    let report = result.unwrap();
    assert_eq!(report.digest, Digest::sha256_of(&amd));
    assert_eq!(report.manifest.unwrap().bytes, amd);
    assert_eq!(report.index.unwrap().bytes, idx);
    assert_eq!(calls(&sent).len(), 5, "{:?}", calls(&sent));

    let platform = Some("linux/s390x".parse().unwrap());
    let (result, _) = run(&mut model, "v1", ManifestAction::Get { platform });
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("has no image for platform linux/s390x"),
        "{error}"
    );
    assert!(
        error.contains("their configs say: linux/arm64, linux/amd64"),
        "{error}"
    );
}

#[test]
fn a_manifest_that_does_not_match_its_digest_is_refused() {
    let bytes = image_manifest(1);
    let other = Digest::sha256_of(b"other");
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    model
        .manifests
        .insert(other.to_string(), (OCI_MANIFEST.into(), bytes));
    let (result, _) = run(
        &mut model,
        &other.to_string(),
        ManifestAction::Get { platform: None },
    );
    assert!(
        matches!(result, Err(Error::DigestMismatch { .. })),
        "{result:?}"
    );
}

#[test]
fn tags_put_the_same_bytes_with_the_same_media_type() {
    let bytes = image_manifest(1);
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    let tags = vec!["v2".to_owned(), "latest".to_owned()];
    let (result, sent) = run(&mut model, "v1", ManifestAction::Tag { tags });
    assert_eq!(result.unwrap().digest, Digest::sha256_of(&bytes));
    assert_eq!(
        calls(&sent),
        [
            "GET /v2/team/app/manifests/v1",
            "PUT /v2/team/app/manifests/v2",
            "PUT /v2/team/app/manifests/latest"
        ]
    );
    for tag in ["v2", "latest"] {
        assert_eq!(
            model.manifests[tag],
            (OCI_MANIFEST.to_owned(), bytes.clone())
        );
    }
}

#[test]
fn a_bad_new_tag_is_refused_before_any_request() {
    let mut model = Model::new(&[]);
    let tags = vec!["ok".to_owned(), "-bad".to_owned()];
    let (result, sent) = run(&mut model, "v1", ManifestAction::Tag { tags });
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::InvalidInput { .. }) && error.to_string().contains("-bad"),
        "{error}"
    );
    assert!(sent.is_empty());
}

#[test]
fn a_tag_is_resolved_then_deleted_by_digest() {
    let bytes = image_manifest(1);
    let digest = Digest::sha256_of(&bytes);
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    let (result, sent) = run(&mut model, "v1", ManifestAction::Delete);
    assert_eq!(result.unwrap().digest, digest);
    assert_eq!(
        calls(&sent),
        [
            "HEAD /v2/team/app/manifests/v1".to_owned(),
            format!("DELETE /v2/team/app/manifests/{digest}")
        ]
    );
    assert!(model.manifests.is_empty());
}

/// A digest alone is asked with `HEAD` (which Docker Hub does not count as a pull); an
/// answer naming none is followed by a `GET`, and so is one that is no `200`, whose `GET`
/// says the registry's error.
#[test]
fn a_digest_is_resolved_by_head_and_by_get_when_the_head_names_none() {
    let bytes = image_manifest(1);
    let digest = Digest::sha256_of(&bytes);
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    let (result, sent) = run(&mut model, "v1", ManifestAction::Resolve);
    let report = result.unwrap();
    assert_eq!((report.digest, report.manifest), (digest.clone(), None));
    assert_eq!(calls(&sent), ["HEAD /v2/team/app/manifests/v1"]);
    assert!(sent[1].headers["accept"]
        .to_str()
        .unwrap()
        .contains(OCI_INDEX));

    model.head_digest = false;
    let (result, sent) = run(&mut model, "v1", ManifestAction::Resolve);
    assert_eq!(result.unwrap().digest, digest);
    assert_eq!(
        calls(&sent),
        [
            "HEAD /v2/team/app/manifests/v1",
            "GET /v2/team/app/manifests/v1"
        ]
    );

    let (result, sent) = run(&mut model, "v9", ManifestAction::Resolve);
    let error = result.unwrap_err();
    assert!(error.to_string().contains("MANIFEST_UNKNOWN"), "{error}");
    assert_eq!(calls(&sent).len(), 2, "the GET says why");
    // Asked whether it is there (a sync's check of its target), the HEAD's 404 is the
    // answer: one request.
    let (result, sent) = run(&mut model, "v9", ManifestAction::Probe);
    let error = result.unwrap_err();
    assert_eq!(error.class(), crate::ErrorClass::NotFound, "{error}");
    assert_eq!(calls(&sent).len(), 1, "no GET after the HEAD's 404");

    // Asked by digest, an answer naming another is not taken.
    model.head_digest = true;
    let other = Digest::sha256_of(b"other");
    model
        .manifests
        .insert(other.to_string(), (OCI_MANIFEST.into(), bytes.clone()));
    let (result, _) = run(&mut model, &other.to_string(), ManifestAction::Resolve);
    assert!(
        matches!(result, Err(Error::DigestMismatch { .. })),
        "{result:?}"
    );
}

#[test]
fn a_digest_is_deleted_without_reading_it() {
    let bytes = image_manifest(1);
    let digest = Digest::sha256_of(&bytes);
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    let (result, sent) = run(&mut model, &digest.to_string(), ManifestAction::Delete);
    let report = result.unwrap();
    assert_eq!((report.digest, report.manifest), (digest.clone(), None));
    assert_eq!(
        calls(&sent),
        [format!("DELETE /v2/team/app/manifests/{digest}")]
    );
}

#[test]
fn deletion_disabled_is_the_registry_s_error_with_its_code() {
    let bytes = image_manifest(1);
    let mut model = Model::new(&[("v1", OCI_MANIFEST, &bytes)]);
    model.delete_status = 405;
    let (result, _) = run(&mut model, "v1", ManifestAction::Delete);
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::Registry { status: 405, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("UNSUPPORTED"), "{error}");
    assert!(
        error
            .to_string()
            .contains("the registry does not allow deleting"),
        "{error}"
    );
}
