//! distribution reports `Range: 0-0` for an upload holding one byte as well as for an empty
//! one. A push reads it by what the registry confirmed before: one byte after a confirmed
//! one-byte chunk (in this run or the earlier run that left the session open), and a fresh
//! session when it cannot tell — never byte 0 sent twice.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tug_core::http::{Method, TransportErrorKind};
use tug_core::push::{Event, PushConfig, ResumableUpload};
use tug_core::retry::RetryPolicy;
use tug_sansio_kit::images::image;
use tug_sansio_kit::ops::push::run_push;
use tug_sansio_kit::{Fault, RegistryModel};

/// One-byte chunks for everything above 10 bytes, no retries.
fn one_byte_chunks() -> PushConfig {
    PushConfig {
        registry: tug_core::RegistryConfig {
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..tug_sansio_kit::ops::push::small_chunks().registry
        },
        chunk_size: 1,
        monolithic_max: 10,
        ..tug_sansio_kit::ops::push::small_chunks()
    }
}

fn fail_patch(after: usize) -> Fault {
    Fault::on(Method::PATCH, "/blobs/uploads/")
        .transport(TransportErrorKind::Io)
        .after(after)
}

fn assert_pushed(model: &RegistryModel, img: &tug_sansio_kit::images::Image) {
    for (d, b) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(
            model.blobs.get(&d.digest.to_string()),
            Some(b),
            "{}",
            d.digest
        );
    }
}

#[test]
fn one_byte_chunks_are_read_as_one_byte_each() {
    let mut model = RegistryModel::default();
    let img = image(&[40]);
    let run = run_push(&mut model, img.plan.clone(), &img.data, one_byte_chunks());
    run.result.unwrap();
    assert_pushed(&model, &img);
}

#[test]
fn a_session_holding_one_confirmed_byte_resumes_after_it() {
    let mut model = RegistryModel::default();
    let img = image(&[40]);
    // The first run dies on the second chunk: the registry holds exactly byte 0.
    model.faults.push_back(fail_patch(1));
    let first = run_push(&mut model, img.plan.clone(), &img.data, one_byte_chunks());
    assert!(first.result.is_err());
    let (location, committed) = first
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::UploadSession {
                location,
                committed,
                ..
            } => Some((location.clone(), *committed)),
            _ => None,
        })
        .expect("the session was announced");
    assert_eq!(committed, 1);
    let mut plan = img.plan.clone();
    plan.resume = vec![ResumableUpload {
        digest: img.plan.blobs[0].digest.clone(),
        location,
        committed,
    }];
    let posts = model.count("POST");
    let second = run_push(&mut model, plan, &img.data, one_byte_chunks());
    second.result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(model.count("POST"), posts, "the session was resumed");
    let resent_byte_0 = second
        .requests
        .iter()
        .any(|r| r.headers.get("content-range").is_some_and(|v| v == "0-0"));
    assert!(!resent_byte_0, "byte 0 was sent again");
}

#[test]
fn an_ambiguous_report_gets_a_fresh_session() {
    let mut model = RegistryModel::default();
    let img = image(&[40]);
    model.faults.push_back(fail_patch(1));
    let first = run_push(&mut model, img.plan.clone(), &img.data, one_byte_chunks());
    assert!(first.result.is_err());
    let location = first
        .events
        .iter()
        .find_map(|e| match e {
            Event::UploadSession { location, .. } => Some(location.clone()),
            _ => None,
        })
        .unwrap();
    // An earlier run that recorded nothing confirmed: `0-0` may mean none or one.
    let mut plan = img.plan.clone();
    plan.resume = vec![ResumableUpload {
        digest: img.plan.blobs[0].digest.clone(),
        location,
        committed: 0,
    }];
    let posts = model.count("POST");
    let second = run_push(&mut model, plan, &img.data, one_byte_chunks());
    second.result.unwrap();
    assert_pushed(&model, &img);
    assert_eq!(model.count("POST"), posts + 1, "a fresh session");
}
