//! A registry-to-registry copy in virtual time, between two registry models: the source's
//! manifests, a mirror that lacks them, every upload body fed with the source's bytes, and
//! the source's failures retried and counted.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod support;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use http::Method;
use support::images::{image, Image, MANIFEST_TYPE};
use support::registry_model::{Fault, RegistryModel};
use tug_core::copy::{Copy, CopyConfig, CopyPlan, CopySource, Event, Output, Side};
use tug_core::http::{Body, Request, RequestId, TransportError, TransportErrorKind};
use tug_core::push::PushReport;
use tug_core::{Error, Input, Instant, RegistryConfig, Scheme};

fn http() -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Http,
        ..RegistryConfig::default()
    }
}

fn publish(model: &mut RegistryModel, img: &Image) {
    for (b, data) in img.plan.blobs.iter().zip(&img.data) {
        model.blobs.insert(b.digest.to_string(), data.clone());
    }
    model.put_manifest("team/app", "v1", &img.plan.manifest.bytes, MANIFEST_TYPE);
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
        platform: "linux/amd64".parse().unwrap(),
        all_platforms: false,
    }
}

struct Run {
    result: Result<PushReport, Error>,
    events: Vec<Event>,
    /// Requests each side got.
    sent: HashMap<String, Vec<Request>>,
}

/// Drives a copy: `models[i]` answers `Side::Source(i)`, `target` the target; requests are
/// answered one at a time, 10 ms each; an upload is answered once its body is complete.
fn run(models: &mut [RegistryModel], target: &mut RegistryModel, plan: CopyPlan) -> Run {
    let config = CopyConfig {
        monolithic_max: 1000,
        chunk_size: 700,
        ..CopyConfig::default()
    };
    let mut now = Instant::ZERO;
    let mut copy = Copy::new(plan, config, now);
    let mut pending: VecDeque<(Side, Request)> = VecDeque::new();
    let mut bodies: HashMap<RequestId, (Vec<u8>, bool)> = HashMap::new();
    // Uploads whose body broke: the runner's transport reports them failed.
    let mut broken: HashMap<RequestId, String> = HashMap::new();
    let mut run = Run {
        result: Err(Error::Cancelled),
        events: Vec::new(),
        sent: HashMap::new(),
    };
    for _ in 0..100_000 {
        while let Some(out) = copy.poll() {
            match out {
                Output::Send(side, req) => {
                    let key = format!("{side:?}");
                    run.sent.entry(key).or_default().push(req.clone());
                    if matches!(req.body, Body::BlobRange { .. }) {
                        bodies.insert(req.id, (Vec::new(), false));
                    }
                    pending.push_back((side, req));
                }
                Output::BodyData(id, data) => bodies.get_mut(&id).unwrap().0.extend(data),
                Output::BodyEnd(id) => bodies.get_mut(&id).unwrap().1 = true,
                Output::BodyFailed(id, message) => {
                    bodies.remove(&id);
                    broken.insert(id, message);
                }
                Output::Abort(_, id) => pending.retain(|(_, r)| r.id != id),
                Output::Event(e) => run.events.push(e),
                Output::Finished(result) => {
                    run.result = result;
                    return run;
                }
            }
        }
        if copy.poll_timeout().is_some_and(|t| t <= now) {
            copy.handle_input(now, Input::Timeout).unwrap();
            continue;
        }
        // The first request that can be answered: not an upload still waiting for its body.
        let ready = pending
            .iter()
            .position(|(_, r)| bodies.get(&r.id).is_none_or(|(_, complete)| *complete));
        if let Some(i) = ready {
            let (side, req) = pending.remove(i).unwrap();
            now = now + Duration::from_millis(10);
            if let Some(message) = broken.remove(&req.id) {
                let error = TransportError {
                    kind: TransportErrorKind::Source,
                    message,
                };
                copy.handle_input(now, Input::TransportError(req.id, error))
                    .unwrap();
                continue;
            }
            let body = match &req.body {
                Body::Bytes(b) => b.clone(),
                Body::BlobRange { .. } => bodies.remove(&req.id).unwrap().0,
                Body::Empty => Vec::new(),
            };
            if !body.is_empty() && matches!(req.body, Body::BlobRange { .. }) {
                copy.handle_input(now, Input::BodySent(req.id, &body))
                    .unwrap();
            }
            let model = match side {
                Side::Source(i) => &mut models[i],
                Side::Target => &mut *target,
            };
            match model.handle(&req, &body) {
                Ok((head, data)) => {
                    copy.handle_input(now, Input::Response(req.id, head))
                        .unwrap();
                    copy.handle_input(now, Input::BodyChunk(req.id, &data))
                        .unwrap();
                    copy.handle_input(now, Input::BodyEnd(req.id)).unwrap();
                }
                Err(e) => copy
                    .handle_input(now, Input::TransportError(req.id, e))
                    .unwrap(),
            }
        } else if let Some(t) = copy.poll_timeout() {
            now = t;
            copy.handle_input(now, Input::Timeout).unwrap();
        } else {
            panic!("the copy stalled: nothing to answer, no timer, not finished");
        }
    }
    panic!("the copy did not finish");
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
    let ranged = run.sent["Source(0)"]
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
    source.faults.push_back(Fault {
        method: Method::GET,
        path_contains: "/blobs/".into(),
        response: Ok(503),
        extra_headers: vec![],
        forget_uploads: false,
        after: 0,
    });
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
