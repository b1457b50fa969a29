//! A copy that brings the image's referrers along ([`CopyPlan::referrers`]), in virtual
//! time between registry models: found by the referrers API or the tag schema where the
//! image was read, each copied after the image, and the target's fallback tag's index
//! written only where the target does not index them itself.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tug_core::copy::{CopyConfig, CopyPlan, CopySource, Event};
use tug_core::manifest::{OCI_INDEX, OCI_MANIFEST};
use tug_core::referrers::{cosign_tag, fallback_tag, Known};
use tug_core::{Digest, RegistryConfig, Scheme};
use tug_sansio_kit::images::{image, Image};
use tug_sansio_kit::ops::copy::{run_copy, CopyRun};
use tug_sansio_kit::{Order, RegistryModel};

const SBOM_TYPE: &str = "application/spdx+json";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

fn http() -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Http,
        ..RegistryConfig::default()
    }
}

/// A copy of `team/app:v1` from the last of `sources` hosts (mirrors first) to
/// `copied/app:v1`, its referrers along.
fn plan(hosts: &[&str]) -> CopyPlan {
    CopyPlan {
        sources: hosts
            .iter()
            .map(|host| CopySource {
                reference: format!("{host}/team/app:v1").parse().unwrap(),
                config: http(),
            })
            .collect(),
        target: "target.example:5000/copied/app:v1".parse().unwrap(),
        target_config: http(),
        platform: None,
        resume: Vec::new(),
        referrers: Some(Known::default()),
    }
}

/// A registry with the OCI 1.1 referrers API.
fn with_api() -> RegistryModel {
    RegistryModel {
        referrers_api: true,
        ..RegistryModel::default()
    }
}

fn run(sources: &mut [RegistryModel], target: &mut RegistryModel, plan: CopyPlan) -> CopyRun {
    let config = CopyConfig {
        chunk_size: 700,
        ..CopyConfig::default()
    };
    run_copy(sources, target, plan, config, Order::Fifo)
}

/// An artifact attached to `subject` (of `subject_size` bytes): an empty config and one
/// layer holding `content`. Returns its manifest's bytes; its blobs go into `model`.
fn artifact(model: &mut RegistryModel, subject: (&Digest, usize), content: &[u8]) -> Vec<u8> {
    let config = model.put_blob(b"{}");
    let layer = model.put_blob(content);
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": {"mediaType": EMPTY_CONFIG, "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "text/spdx", "digest": layer.to_string(), "size": content.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.0.to_string(), "size": subject.1},
    }))
    .unwrap()
}

/// The fallback tag's index listing `manifests` (each an artifact's bytes).
fn fallback_index(manifests: &[&[u8]]) -> Vec<u8> {
    let entries: Vec<_> = manifests
        .iter()
        .map(|m| {
            serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": Digest::sha256_of(m).to_string(),
                "size": m.len(), "artifactType": SBOM_TYPE,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
    }))
    .unwrap()
}

/// A source holding the image as `team/app:v1` and an SBOM naming it as its subject;
/// returns the image and the SBOM manifest's bytes.
fn source_with_sbom(model: &mut RegistryModel) -> (Image, Vec<u8>) {
    let img = image(&[300, 2500]);
    tug_sansio_kit::images::publish(model, &img, "v1");
    let subject = &img.plan.manifest;
    let sbom = artifact(
        model,
        (&subject.digest, subject.bytes.len()),
        b"SPDX-2.3 ...",
    );
    let digest = Digest::sha256_of(&sbom).to_string();
    model.put_manifest("team/app", &digest, &sbom, OCI_MANIFEST);
    (img, sbom)
}

/// The digests the target's fallback tag of `subject` lists in `copied/app`.
fn fallback_listed(target: &RegistryModel, subject: &Digest) -> Vec<String> {
    let (index, _) = &target.manifests[&format!("copied/app:{}", fallback_tag(subject))];
    let index: serde_json::Value = serde_json::from_slice(index).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["digest"].as_str().map(str::to_owned))
        .collect()
}

fn copied(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ReferrerCopied { target, .. } => Some(target.to_string()),
            _ => None,
        })
        .collect()
}

fn carried(events: &[Event]) -> Option<(bool, usize)> {
    events.iter().find_map(|e| match e {
        Event::ReferrersCarried { api, copied } => Some((*api, *copied)),
        _ => None,
    })
}

#[test]
fn an_sbom_found_by_the_referrers_api_follows_the_image_and_the_target_indexes_it() {
    let mut source = with_api();
    let (img, sbom) = source_with_sbom(&mut source);
    let mut target = with_api();
    let run = run(
        std::slice::from_mut(&mut source),
        &mut target,
        plan(&["source.example:5000"]),
    );
    let report = run.result.unwrap();
    assert_eq!(report.manifest_digest, img.plan.manifest.digest);
    let sbom_digest = Digest::sha256_of(&sbom);
    assert_eq!(
        target.manifests[&format!("copied/app:{sbom_digest}")].0,
        sbom,
        "the SBOM, byte for byte"
    );
    assert_eq!(
        copied(&run.events),
        [format!("target.example:5000/copied/app@{sbom_digest}")]
    );
    assert_eq!(carried(&run.events), Some((true, 1)));
    // The target answered `OCI-Subject`: no fallback tag was written.
    let tag = fallback_tag(&img.plan.manifest.digest);
    assert!(!target.manifests.contains_key(&format!("copied/app:{tag}")));
    // The SBOM's manifest went after the image's.
    let puts: Vec<&str> = run.sent[&1]
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path().contains("/manifests/"))
        .map(|r| r.url.path())
        .collect();
    assert_eq!(
        puts,
        [
            "/v2/copied/app/manifests/v1".to_owned(),
            format!("/v2/copied/app/manifests/{sbom_digest}")
        ]
    );
    // One version check a side: the referrers step's parts go on from the image's.
    for side in [0, 1] {
        let pings = run.sent[&side]
            .iter()
            .filter(|r| r.url.path() == "/v2/")
            .count();
        assert_eq!(pings, 1, "side {side}");
    }
}

#[test]
fn without_the_api_the_tag_schema_is_read_and_written_and_cosign_tags_follow() {
    let mut source = RegistryModel::default();
    let (img, sbom) = source_with_sbom(&mut source);
    let subject = img.plan.manifest.digest.clone();
    source.put_manifest(
        "team/app",
        &fallback_tag(&subject),
        &fallback_index(&[&sbom]),
        OCI_INDEX,
    );
    // A cosign signature under its tag (no subject of its own).
    let signature = image(&[40, 90]);
    for data in &signature.data {
        source.put_blob(data);
    }
    let sig_tag = cosign_tag(&subject, "sig");
    let sig_bytes = &signature.plan.manifest.bytes;
    source.put_manifest("team/app", &sig_tag, sig_bytes, OCI_MANIFEST);
    let mut target = RegistryModel::default();
    let run = run(
        std::slice::from_mut(&mut source),
        &mut target,
        plan(&["source.example:5000"]),
    );
    run.result.unwrap();
    assert_eq!(carried(&run.events), Some((false, 2)));
    assert_eq!(
        &target.manifests[&format!("copied/app:{sig_tag}")].0,
        sig_bytes
    );
    // The target lacks the API: its fallback tag's index lists the SBOM (not the signature,
    // which is found by its own tag).
    assert_eq!(
        fallback_listed(&target, &subject),
        [Digest::sha256_of(&sbom).to_string()]
    );
}

#[test]
fn referrers_are_read_where_the_image_was_read_a_mirror_that_served_it() {
    // The mirror holds the image and its SBOM; the source holds only the image.
    let mut mirror = with_api();
    let (img, sbom) = source_with_sbom(&mut mirror);
    let mut source = RegistryModel::default();
    tug_sansio_kit::images::publish(&mut source, &img, "v1");
    let mut models = [mirror, source];
    let mut target = RegistryModel::default();
    let hosts = ["mirror.example:5000", "source.example:5000"];
    let run = run(&mut models, &mut target, plan(&hosts));
    run.result.unwrap();
    let sbom_digest = Digest::sha256_of(&sbom);
    assert!(target
        .manifests
        .contains_key(&format!("copied/app:{sbom_digest}")));
    assert!(
        run.sent.get(&1).is_none_or(|r| r.is_empty()),
        "the source was not asked"
    );
}

#[test]
fn a_copy_without_referrers_asks_nothing_about_them() {
    let mut source = with_api();
    source_with_sbom(&mut source);
    let mut target = RegistryModel::default();
    let mut plan = plan(&["source.example:5000"]);
    plan.referrers = None;
    let run = run(std::slice::from_mut(&mut source), &mut target, plan);
    run.result.unwrap();
    assert!(!run.sent[&0]
        .iter()
        .any(|r| r.url.path().contains("/referrers/")));
    assert_eq!(carried(&run.events), None);
    assert_eq!(target.manifests.len(), 2, "the image by tag and by digest");
}

/// What a caller learned before (a sync: no API there, and the repository's tags) rules
/// every question out: nothing is asked, and the copy says so.
#[test]
fn what_is_known_to_be_missing_is_not_asked() {
    let mut source = with_api();
    source_with_sbom(&mut source);
    let mut target = RegistryModel::default();
    let mut plan = plan(&["source.example:5000"]);
    plan.referrers = Some(Known {
        tags: Some(std::sync::Arc::new(["v1".to_owned()].into())),
        api: Some(false),
    });
    let run = run(std::slice::from_mut(&mut source), &mut target, plan);
    run.result.unwrap();
    assert!(!run.sent[&0]
        .iter()
        .any(|r| r.url.path().contains("/referrers/") || r.url.path().contains("sha256-")));
    assert_eq!(carried(&run.events), Some((false, 0)));
}

/// A referrer whose blob the source lost fails the copy with the source's error, after the
/// image itself was copied.
#[test]
fn a_referrer_that_cannot_be_copied_fails_the_copy() {
    let mut source = with_api();
    let (img, _) = source_with_sbom(&mut source);
    source
        .blobs
        .remove(&Digest::sha256_of(b"SPDX-2.3 ...").to_string());
    let mut target = RegistryModel::default();
    let run = run(
        std::slice::from_mut(&mut source),
        &mut target,
        plan(&["source.example:5000"]),
    );
    match run.result {
        Err(tug_core::Error::Registry { status: 404, .. }) => {}
        other => panic!("expected the source's 404, got {other:?}"),
    }
    assert!(target.manifests.contains_key("copied/app:v1"));
    assert_eq!(target.manifests["copied/app:v1"].0, img.plan.manifest.bytes);
}

/// A referrer the source's fallback index names but the source no longer has (its manifest
/// was deleted) is a warning, not the copy's failure: the image and the referrers there are
/// copied, the target's index lists those, and the event names the missing one's digest.
#[test]
fn a_referrer_the_source_no_longer_has_is_a_warning() {
    let mut source = RegistryModel::default();
    let (img, sbom) = source_with_sbom(&mut source);
    let subject = img.plan.manifest.digest.clone();
    let deleted = artifact(
        &mut source,
        (&subject, img.plan.manifest.bytes.len()),
        b"SPDX-2.3 deleted",
    );
    source.put_manifest(
        "team/app",
        &fallback_tag(&subject),
        &fallback_index(&[&deleted, &sbom]),
        OCI_INDEX,
    );
    let mut target = RegistryModel::default();
    let run = run(
        std::slice::from_mut(&mut source),
        &mut target,
        plan(&["source.example:5000"]),
    );
    let report = run.result.expect("the copy succeeds");
    assert_eq!(report.manifest_digest, subject);
    let missing: Vec<(Digest, String)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ReferrerMissing { digest, source, .. } => {
                Some((digest.clone(), source.to_string()))
            }
            _ => None,
        })
        .collect();
    let gone = Digest::sha256_of(&deleted);
    assert_eq!(
        missing,
        [(gone.clone(), format!("source.example:5000/team/app@{gone}"))]
    );
    assert_eq!(carried(&run.events), Some((false, 1)));
    assert_eq!(
        fallback_listed(&target, &subject),
        [Digest::sha256_of(&sbom).to_string()]
    );
}

/// An index copied whole: what is attached to each platform's manifest comes along too
/// (`cosign sign --recursive` signs each), after the index's own.
#[test]
fn referrers_of_an_index_s_platform_manifests_come_along() {
    use tug_sansio_kit::images::{publish, MANIFEST_TYPE};
    let mut source = with_api();
    let (amd, arm) = (image(&[100, 2000]), image(&[101, 3000]));
    publish(&mut source, &amd, "amd");
    publish(&mut source, &arm, "arm");
    let entry = |img: &Image, arch: &str| {
        serde_json::json!({
            "mediaType": MANIFEST_TYPE, "digest": img.plan.manifest.digest.to_string(),
            "size": img.plan.manifest.bytes.len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .unwrap();
    source.put_manifest("team/app", "v1", &index, OCI_INDEX);
    let child = &arm.plan.manifest;
    let sig = artifact(
        &mut source,
        (&child.digest, child.bytes.len()),
        b"arm64 signature",
    );
    let sig_digest = Digest::sha256_of(&sig);
    source.put_manifest("team/app", &sig_digest.to_string(), &sig, OCI_MANIFEST);
    let mut target = with_api();
    let run = run(
        std::slice::from_mut(&mut source),
        &mut target,
        plan(&["source.example:5000"]),
    );
    run.result.unwrap();
    assert_eq!(target.manifests[&format!("copied/app:{sig_digest}")].0, sig);
    assert_eq!(carried(&run.events), Some((true, 1)));
    // One discovery per subject: the index, then each platform's manifest.
    let asked = run.sent[&0]
        .iter()
        .filter(|r| r.url.path().contains("/referrers/"))
        .count();
    assert_eq!(asked, 3);
}

/// A token registry: the referrers step's requests go out at once without a version check
/// of their own (the image's copy answered it), so all of them meet the first challenge;
/// one token serves them all, none is taken for a rejected token.
#[test]
fn a_token_registry_s_first_challenge_meets_every_request_sent_at_once() {
    let mut source = RegistryModel {
        bearer: Some(tug_sansio_kit::BearerAuth {
            expires_in: 300,
            ..Default::default()
        }),
        ..RegistryModel::default()
    };
    source_with_sbom(&mut source);
    let mut target = RegistryModel::default();
    // The token server answers first, the registry's other `401`s after the token came.
    let order = Order::choose(|flights, ready| {
        let token = ready
            .iter()
            .find(|&&i| flights[i].req.url.host_str() == Some("auth.example"));
        vec![*token.unwrap_or(&ready[0])]
    });
    let config = CopyConfig {
        chunk_size: 700,
        ..CopyConfig::default()
    };
    let plan = plan(&["source.example:5000"]);
    let run = run_copy(
        std::slice::from_mut(&mut source),
        &mut target,
        plan,
        config,
        order,
    );
    run.result.unwrap();
    assert_eq!(carried(&run.events), Some((false, 0)));
}
