//! A registry-to-registry copy in virtual time, between two registry models: the source's
//! manifests, a mirror that lacks them, every upload body fed with the source's bytes, and
//! the source's failures retried and counted.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use http::Method;
use tug_core::copy::{CopyConfig, CopyPlan, CopySource, Event};
use tug_core::{Error, RegistryConfig, Scheme};
use tug_sansio_kit::images::{image, Image};
use tug_sansio_kit::ops::copy::{run_copy, CopyRun};
use tug_sansio_kit::{Fault, Order, RegistryModel};

fn http() -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Http,
        ..RegistryConfig::default()
    }
}

/// Puts `img` into `model` as `team/app:v1`.
fn publish(model: &mut RegistryModel, img: &Image) {
    tug_sansio_kit::images::publish(model, img, "v1");
}

fn plan(sources: usize) -> CopyPlan {
    let source = |host: &str| CopySource {
        reference: format!("{host}/team/app:v1").parse().unwrap(),
        config: http(),
    };
    let mut all: Vec<CopySource> = (1..sources)
        .map(|_| source("mirror.example:5000"))
        .collect();
    all.push(source("source.example:5000"));
    CopyPlan {
        sources: all,
        target: "target.example:5000/copied/app:v1".parse().unwrap(),
        target_config: http(),
        platform: Some("linux/amd64".parse().unwrap()),
    }
}

/// Drives a copy: `models[i]` answers `Side::Source(i)`, `target` the target; requests are
/// answered one at a time, 10 ms each; an upload is answered once its body is complete.
fn run(models: &mut [RegistryModel], target: &mut RegistryModel, plan: CopyPlan) -> CopyRun {
    let config = CopyConfig {
        monolithic_max: 1000,
        chunk_size: 700,
        ..CopyConfig::default()
    };
    run_copy(models, target, plan, config, Order::Fifo)
}

fn assert_copied(target: &RegistryModel, img: &Image) {
    for (b, data) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(
            target.blobs.get(&b.digest.to_string()),
            Some(data),
            "{}",
            b.digest
        );
    }
    let (bytes, _) = &target.manifests["copied/app:v1"];
    assert_eq!(
        bytes, &img.plan.manifest.bytes,
        "the manifest, byte for byte"
    );
}

#[test]
fn blobs_flow_from_the_source_into_the_target_uploads() {
    let img = image(&[300, 5000, 1800]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    let mut target = RegistryModel::default();
    let run = run(std::slice::from_mut(&mut source), &mut target, plan(1));
    let report = run.result.unwrap();
    assert_copied(&target, &img);
    assert_eq!(report.blobs_uploaded, 3);
    // The source was read in ranges (one per upload request), never stored.
    let ranged = run.sent[&0]
        .iter()
        .filter(|r| r.headers.contains_key("range"))
        .count();
    assert!(ranged >= 3, "{ranged} ranged reads");
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::Planned { labels, .. } if labels.len() == 3)));
}

#[test]
fn a_mirror_without_the_image_gives_way_to_the_source() {
    let img = image(&[300, 2500]);
    let mut models = vec![RegistryModel::default(), RegistryModel::default()];
    publish(&mut models[1], &img);
    let mut target = RegistryModel::default();
    let run = run(&mut models, &mut target, plan(2));
    run.result.unwrap();
    assert_copied(&target, &img);
    assert!(run.events.iter().any(
        |e| matches!(e, Event::MirrorSkipped { mirror, .. } if mirror == "mirror.example:5000")
    ));
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::Planned { source, .. } if source == "source.example:5000")));
}

#[test]
fn the_sources_failures_are_retried_and_counted() {
    let img = image(&[300, 5000]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    source.fault(Fault::on(Method::GET, "/blobs/").status(503));
    let mut target = RegistryModel::default();
    let run = run(std::slice::from_mut(&mut source), &mut target, plan(1));
    let report = run.result.unwrap();
    assert_copied(&target, &img);
    assert!(report.retries >= 1, "{report:?}");
}

#[test]
fn a_source_that_lacks_a_blob_fails_the_copy_with_its_error() {
    let img = image(&[300, 5000]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    source.blobs.remove(&img.plan.blobs[1].digest.to_string());
    let mut target = RegistryModel::default();
    let run = run(std::slice::from_mut(&mut source), &mut target, plan(1));
    match run.result {
        Err(Error::Registry {
            status: 404,
            errors,
            ..
        }) => {
            assert!(errors.has_code("BLOB_UNKNOWN"), "{errors}")
        }
        other => panic!("expected the source's 404, got {other:?}"),
    }
    assert!(target.manifests.is_empty(), "nothing is tagged");
}
