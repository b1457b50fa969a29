//! A referrer (a manifest with a `subject`) pushed to a registry model in virtual time: a
//! registry with the OCI 1.1 referrers API answers with `OCI-Subject` and the push reports
//! it indexed the subject (no fallback tag to update); one without does not.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tug_core::referrers::{carries, needs_fallback_index, Referrer, Referrers};
use tug_core::{Digest, Reference};
use tug_sansio_kit::images::{image, Image};
use tug_sansio_kit::ops::push::{run_push, small_chunks};
use tug_sansio_kit::RegistryModel;

/// An artifact naming `subject` as its subject.
fn artifact(subject: &Digest) -> Image {
    let mut img = image(&[2, 300]);
    let mut m: serde_json::Value = serde_json::from_slice(&img.plan.manifest.bytes).unwrap();
    m["artifactType"] = "application/spdx+json".into();
    m["subject"] = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": subject.to_string(), "size": 100,
    });
    let bytes = serde_json::to_vec(&m).unwrap();
    img.plan.manifest.digest = Digest::sha256_of(&bytes);
    img.plan.manifest.bytes = bytes;
    img.plan.reference = img.plan.manifest.digest.to_string();
    img
}

fn pushed_to(model: &mut RegistryModel) -> (bool, bool) {
    let subject = Digest::sha256_of(b"the image");
    let img = artifact(&subject);
    let report = run_push(model, img.plan.clone(), &img.data, small_chunks())
        .result
        .unwrap();
    let found = Referrers {
        subject: subject.clone(),
        api: false,
        referrers: vec![Referrer {
            digest: img.plan.manifest.digest.clone(),
            media_type: img.plan.manifest.media_type.clone(),
            artifact_type: Some("application/spdx+json".into()),
            size: img.plan.manifest.bytes.len() as u64,
            annotations: Default::default(),
            tag: None,
        }],
    };
    let at: Reference = "r.example/team/app:v1".parse().unwrap();
    let carry = &carries(&found, &at, &at)[0];
    (report.subject_indexed, needs_fallback_index(carry, &report))
}

#[test]
fn a_registry_with_the_referrers_api_indexes_the_subject_itself() {
    let mut model = RegistryModel {
        referrers_api: true,
        ..RegistryModel::default()
    };
    assert_eq!(pushed_to(&mut model), (true, false));
}

#[test]
fn a_registry_without_it_needs_the_fallback_tag() {
    let mut model = RegistryModel::default();
    assert_eq!(pushed_to(&mut model), (false, true));
}
