//! Scenario tests of a push that starts before all its blobs exist (layers compressed while
//! it runs): the ready blobs go at once, the late ones join when the runner has them, and
//! the manifest waits for every blob and for the final manifests. In virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tug_core::push::{Event, PlanBlob, PlanManifest, Push, PushConfig};
use tug_core::{Digest, Error};
use tug_sansio_kit::images::{image, Image, MANIFEST_TYPE};
use tug_sansio_kit::ops::push::run_push_late;
use tug_sansio_kit::RegistryModel;

fn config() -> PushConfig {
    tug_sansio_kit::ops::push::small_chunks()
}

/// `img`'s plan with blob `late` pending: an estimate in its place and a placeholder for
/// the manifest, as a runner has before the layer is made.
fn pending(img: &Image, late: usize) -> tug_core::push::PushPlan {
    let mut plan = img.plan.clone();
    plan.blobs[late] = PlanBlob {
        digest: Digest::sha256_of(b"the plain layer"),
        size: 9000,
    };
    plan.pending = vec![late];
    let placeholder = b"not the manifest".to_vec();
    plan.manifest = PlanManifest {
        digest: Digest::sha256_of(&placeholder),
        bytes: placeholder,
        media_type: MANIFEST_TYPE.into(),
    };
    plan
}

/// Pushes `plan` with `data`, calling `when_idle` with a count (1, 2, …) each time the
/// push waits on nothing but what the test gives it.
fn push_when_idle(
    model: &mut RegistryModel,
    plan: tug_core::push::PushPlan,
    data: &[Vec<u8>],
    mut when_idle: impl FnMut(&mut Push, usize),
) -> tug_sansio_kit::ops::push::Run {
    let mut idle_calls = 0;
    run_push_late(model, plan, data, config(), &mut |push, _, idle| {
        if idle {
            idle_calls += 1;
            when_idle(push, idle_calls);
        }
    })
}

fn manifest_puts(model: &RegistryModel) -> usize {
    model
        .log
        .iter()
        .filter(|l| l.starts_with("PUT /v2/team/app/manifests/"))
        .count()
}

#[test]
fn ready_blobs_go_first_a_late_one_joins_and_the_manifest_waits_for_both() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 2000]);
    let plan = pending(&img, 2);
    let real = img.plan.blobs[2].clone();
    let mut seen_idle_before_ready = false;
    let run = {
        let mut late = |push: &mut Push, answered: usize, idle: bool| {
            // Mid-way through the other uploads, the late blob is ready.
            if answered == 4 {
                push.handle_blob_ready(2, real.digest.clone(), real.size)
                    .unwrap();
            }
            // Everything uploaded: the push waits for its manifests.
            if idle && answered > 4 {
                push.handle_manifests(img.plan.manifest.clone(), Vec::new())
                    .unwrap();
            }
            if idle && answered < 4 {
                seen_idle_before_ready = true;
            }
        };
        run_push_late(&mut model, plan, &img.data, config(), &mut late)
    };
    let report = run.result.expect("push succeeds");
    assert!(!seen_idle_before_ready, "the ready blobs kept it busy");
    assert_eq!(report.blobs_uploaded, 3);
    assert_eq!(report.manifest_digest, img.plan.manifest.digest);
    for (b, data) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(model.blobs.get(&b.digest.to_string()), Some(data));
    }
    assert_eq!(manifest_puts(&model), 1);
    assert!(model
        .log
        .last()
        .unwrap()
        .starts_with("PUT /v2/team/app/manifests/v1"));
    let (bytes, _) = &model.manifests["team/app:v1"];
    assert_eq!(
        bytes, &img.plan.manifest.bytes,
        "the final manifest, not the placeholder"
    );
    // Progress counted the estimate until the blob was ready, then its real size.
    let totals: Vec<u64> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Progress(p) => Some(p.total_bytes),
            _ => None,
        })
        .collect();
    assert_eq!(totals.first(), Some(&(300 + 5000 + 9000)));
    assert_eq!(totals.last(), Some(&(300 + 5000 + 2000)));
}

#[test]
fn the_manifest_is_not_sent_before_the_manifests_come_even_when_every_blob_is_in() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 400]);
    let real = img.plan.blobs[1].clone();
    let mut idle_calls = 0;
    let run = push_when_idle(&mut model, pending(&img, 1), &img.data, |push, n| {
        idle_calls = n;
        match n {
            // Nothing left to do but wait for the layer.
            1 => push
                .handle_blob_ready(1, real.digest.clone(), real.size)
                .unwrap(),
            // Both blobs in: still no manifest until the runner gives it.
            _ => push
                .handle_manifests(img.plan.manifest.clone(), Vec::new())
                .unwrap(),
        }
    });
    run.result.expect("push succeeds");
    assert_eq!(idle_calls, 2);
    assert_eq!(manifest_puts(&model), 1);
}

#[test]
fn a_late_blob_equal_to_another_is_sent_once() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    let mut plan = pending(&img, 1);
    // Blob 2 will turn out to be blob 1 again (two platforms sharing a layer).
    plan.blobs.push(PlanBlob {
        digest: Digest::sha256_of(b"the plain layer"),
        size: 9000,
    });
    plan.pending = vec![1, 2];
    let real = img.plan.blobs[1].clone();
    let mut data = img.data.clone();
    data.push(img.data[1].clone());
    let run = push_when_idle(&mut model, plan, &data, |push, n| {
        if n == 1 {
            push.handle_blob_ready(1, real.digest.clone(), real.size)
                .unwrap();
            push.handle_blob_ready(2, real.digest.clone(), real.size)
                .unwrap();
        } else {
            push.handle_manifests(img.plan.manifest.clone(), Vec::new())
                .unwrap();
        }
    });
    let report = run.result.expect("push succeeds");
    assert_eq!(report.blobs_uploaded, 2);
    assert_eq!(model.count("POST /v2/team/app/blobs/uploads/"), 2);
}

#[test]
fn late_inputs_out_of_place_are_refused_and_bad_manifests_fail_the_push() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 400]);
    let plan = pending(&img, 1);
    let real = img.plan.blobs[1].clone();
    let run = push_when_idle(&mut model, plan, &img.data, |push, n| {
        if n == 1 {
            assert!(
                push.handle_blob_ready(0, real.digest.clone(), 1).is_err(),
                "not pending"
            );
            assert!(
                push.handle_blob_ready(7, real.digest.clone(), 1).is_err(),
                "no such blob"
            );
            push.handle_blob_ready(1, real.digest.clone(), real.size)
                .unwrap();
            assert!(
                push.handle_blob_ready(1, real.digest.clone(), real.size)
                    .is_err(),
                "twice"
            );
        } else {
            // Bytes that do not hash to the digest given with them.
            let mut wrong = img.plan.manifest.clone();
            wrong.bytes.push(b' ');
            push.handle_manifests(wrong, Vec::new()).unwrap();
            assert!(push
                .handle_manifests(img.plan.manifest.clone(), Vec::new())
                .is_err());
        }
    });
    assert!(
        matches!(run.result, Err(Error::DigestMismatch { .. })),
        "{:?}",
        run.result
    );
    assert_eq!(manifest_puts(&model), 0, "nothing tagged");
}
