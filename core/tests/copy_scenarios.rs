//! A registry-to-registry copy in virtual time, between two registry models: the source's
//! manifests, a mirror that lacks them, every upload body fed with the source's bytes, and
//! the source's failures retried and counted; an upload a cut-off copy left resumed.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use http::Method;
use tug_core::copy::{CopyConfig, CopyPlan, CopySource, Event};
use tug_core::http::RequestId;
use tug_core::http::{Body, TransportErrorKind};
use tug_core::push::{self, ResumableUpload};
use tug_core::{Error, Input, RegistryConfig, Scheme};
use tug_sansio_kit::images::{image, Image};
use tug_sansio_kit::ops::copy::{run_copy, CopyPlug, CopyRun};
use tug_sansio_kit::{Driver, Fault, Order, RegistryModel};

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
        resume: Vec::new(),
        referrers: None,
    }
}

/// Drives a copy: `models[i]` answers `Side::Source(i)`, `target` the target; requests are
/// answered one at a time, 10 ms each; an upload is answered once its body is complete.
fn run(models: &mut [RegistryModel], target: &mut RegistryModel, plan: CopyPlan) -> CopyRun {
    let config = CopyConfig {
        chunk_size: 700,
        ..CopyConfig::default()
    };
    run_copy(models, target, plan, config, Order::Fifo)
}

/// Whether the copy gave the mirror up for the source.
fn mirror_skipped(events: &[Event]) -> bool {
    events.iter().any(
        |e| matches!(e, Event::MirrorSkipped { mirror, .. } if mirror == "mirror.example:5000"),
    )
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
    assert!(mirror_skipped(&run.events));
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::Planned { source, .. } if source == "source.example:5000")));
}

/// A mirror that has the manifests but fails on the blobs (retries spent): the copy starts
/// again from the source, and the target gets the image.
#[test]
fn a_mirror_failing_on_blobs_gives_way_to_the_source() {
    let img = image(&[300, 2500]);
    let mut models = vec![RegistryModel::default(), RegistryModel::default()];
    publish(&mut models[0], &img);
    publish(&mut models[1], &img);
    for _ in 0..40 {
        models[0].fault(Fault::on(Method::GET, "/blobs/").status(500));
    }
    let mut target = RegistryModel::default();
    let run = run(&mut models, &mut target, plan(2));
    run.result.unwrap();
    assert_copied(&target, &img);
    assert!(mirror_skipped(&run.events));
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

/// The target's retries cut to one attempt: a failed chunk ends the copy (as a kill does).
fn no_retry(mut plan: CopyPlan) -> CopyPlan {
    plan.target_config.retry = tug_core::retry::RetryPolicy {
        max_attempts: 1,
        ..Default::default()
    };
    plan
}

/// The upload session a copy's `events` announced last.
fn last_session(events: &[Event]) -> ResumableUpload {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Push(push::Event::UploadSession {
                digest,
                location,
                committed,
                ..
            }) => Some(ResumableUpload {
                digest: digest.clone(),
                location: location.clone(),
                committed: *committed,
            }),
            _ => None,
        })
        .expect("the copy announced an upload session")
}

/// Copies `img` until the target breaks the layer's third chunk (no retries): the session
/// the copy announced last, with the bytes the target confirmed in it.
fn a_copy_cut_off_at_the_third_chunk(
    source: &mut RegistryModel,
    target: &mut RegistryModel,
) -> ResumableUpload {
    target.fault(
        Fault::on(Method::PATCH, "/blobs/uploads/u1")
            .transport(TransportErrorKind::Io)
            .after(2),
    );
    let first = run(std::slice::from_mut(source), target, no_retry(plan(1)));
    assert!(first.result.is_err(), "the copy was cut off");
    let session = last_session(&first.events);
    assert_eq!(session.committed, 1400, "two 700-byte chunks confirmed");
    session
}

/// What a resumed copy sent the target: the `(start, end)` of each `PATCH` body.
fn patched(run: &CopyRun) -> Vec<(u64, u64)> {
    run.sent[&1]
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .filter_map(|r| match r.body {
            Body::BlobRange { start, end, .. } => Some((start, end)),
            _ => None,
        })
        .collect()
}

/// A copy cut off midway leaves its upload session announced, as a push does; given that
/// session, the next copy asks the target how far it got and sends only the rest, reading
/// the source from that offset on.
#[test]
fn an_upload_a_cut_off_copy_left_open_is_resumed_from_the_targets_offset() {
    let img = image(&[300, 5000]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    let mut target = RegistryModel::default();
    let session = a_copy_cut_off_at_the_third_chunk(&mut source, &mut target);
    assert_eq!(session.digest, img.plan.blobs[1].digest);

    let posts = target.count("POST");
    let mut resumed = plan(1);
    resumed.resume = vec![session];
    let second = run(std::slice::from_mut(&mut source), &mut target, resumed);
    let report = second.result.as_ref().unwrap();
    assert_copied(&target, &img);
    assert_eq!(report.blobs_uploaded, 1, "the config was in already");
    assert_eq!(target.count("POST"), posts, "no new upload session");
    let chunks = patched(&second);
    assert_eq!(chunks.first(), Some(&(1400, 2100)), "{chunks:?}");
    let sent: u64 = chunks.iter().map(|(a, b)| b - a).sum();
    assert_eq!(sent, 5000 - 1400, "only what the target lacked");
    // The source was read from the target's offset on, never from its start.
    let reads: Vec<String> = second.sent[&0]
        .iter()
        .filter(|r| r.method == Method::GET && r.url.path().contains("/blobs/"))
        .filter_map(|r| r.headers.get("range")?.to_str().ok().map(str::to_owned))
        .collect();
    assert_eq!(reads.first().map(String::as_str), Some("bytes=1400-2099"));
    // The resumed session is over once the blob is in: a runner forgets it.
    assert!(second.events.iter().any(|e| matches!(
        e,
        Event::Push(push::Event::UploadSessionClosed { digest, .. }) if *digest == img.plan.blobs[1].digest
    )));
}

/// A source that ignores `Range` answers each read of the resumed upload with the whole
/// blob: the bytes before the offset are dropped, and the target gets exactly the rest (its
/// digest check of the whole blob at the session's close passes).
#[test]
fn a_resumed_copy_from_a_source_that_ignores_ranges_sends_only_the_rest() {
    let img = image(&[300, 5000]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    let mut target = RegistryModel::default();
    let session = a_copy_cut_off_at_the_third_chunk(&mut source, &mut target);

    source.ignore_ranges = true;
    let mut resumed = plan(1);
    resumed.resume = vec![session];
    let second = run(std::slice::from_mut(&mut source), &mut target, resumed);
    second.result.as_ref().unwrap();
    assert_copied(&target, &img);
    let chunks = patched(&second);
    assert!(chunks.iter().all(|(start, _)| *start >= 1400), "{chunks:?}");
    let sent: u64 = chunks.iter().map(|(a, b)| b - a).sum();
    assert_eq!(sent, 5000 - 1400);
}

/// Inputs about requests of the copy's parts that ended (the mirror's and the source's
/// manifest reads, the push and the fetch) are refused as unknown once answered, or when
/// never sent, as any operation refuses them; those dropped in flight are accepted (fuzz
/// `copy_responses`: a stray input about the finished manifest read was accepted).
#[test]
fn inputs_about_answered_requests_of_ended_parts_are_refused() {
    let img = image(&[300, 2500]);
    let mut models = [RegistryModel::default(), RegistryModel::default()];
    publish(&mut models[1], &img);
    let mut target = RegistryModel::default();
    let config = CopyConfig {
        chunk_size: 700,
        ..CopyConfig::default()
    };
    let mut all: Vec<&mut RegistryModel> = models.iter_mut().collect();
    all.push(&mut target);
    let mut driver = Driver::new(CopyPlug::new(plan(2), config), all);
    driver.run();
    assert!(matches!(driver.result, Some(Ok(_))), "{:?}", driver.result);
    let in_flight: Vec<RequestId> = driver.flights.iter().map(|f| f.req.id).collect();
    let answered: Vec<RequestId> = driver
        .requests
        .iter()
        .map(|(_, r)| r.id)
        .filter(|id| !in_flight.contains(id))
        .collect();
    assert!(answered.len() > 6, "{answered:?}");
    let now = driver.now;
    let copy = &mut driver.plug.copy;
    for id in answered {
        assert!(
            copy.handle_input(now, Input::BodyEnd(id)).is_err(),
            "an input about answered request {id} was accepted"
        );
    }
    // The mirror's manifest read numbered its requests from 0; this one it never sent.
    assert!(copy
        .handle_input(now, Input::BodyEnd(RequestId(999)))
        .is_err());
    driver.check_after_finished();
}

#[test]
fn a_blob_the_source_corrupts_is_never_committed_at_the_target() {
    // Small enough for one `PUT` in a push: a copy sends it in a `PATCH` and closes the
    // session only once the bytes that passed hashed to the digest.
    let img = image(&[300, 800]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    let bad = img.plan.blobs[1].digest.clone();
    source.corrupt_blobs.push(bad.to_string());
    let mut target = RegistryModel::default();
    let run = run(std::slice::from_mut(&mut source), &mut target, plan(1));
    match &run.result {
        Err(Error::DigestMismatch { expected, what, .. }) => {
            assert_eq!(expected, &bad);
            // Said of where the bytes came from, as a pull says it.
            assert_eq!(what, "blob from source.example:5000/team/app");
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(!target.blobs.contains_key(&bad.to_string()));
    let committing = target
        .log
        .iter()
        .filter(|l| l.starts_with("PUT") && l.contains(&format!("digest=sha256%3A{}", bad.hex())))
        .count();
    assert_eq!(committing, 0, "{:#?}", target.log);
    assert!(target.manifests.is_empty());
}

/// A copy of one platform (`--platform`) of a single image for another platform is
/// refused before anything is sent to the target, as a pull is.
#[test]
fn a_single_image_of_another_platform_is_not_copied_as_the_one_asked_for() {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let img = tug_sansio_kit::images::image_from(vec![config.to_vec(), vec![9; 2000]]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    let mut target = RegistryModel::default();
    let mut plan = plan(1);
    plan.platform = Some("linux/arm64".parse().unwrap());
    let run = run(std::slice::from_mut(&mut source), &mut target, plan);
    match run.result {
        Err(Error::InvalidInput { message }) => {
            assert!(message.contains("not linux/arm64"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(target.blobs.is_empty() && target.manifests.is_empty());
}

/// A copy stopped while a chunk is on its way to the target lets it finish, fed by the
/// source's read on its way too (as a push does): the session is announced after that
/// chunk, nothing new goes to the target, and the copy finishes cancelled; the next copy
/// goes on from there.
#[test]
fn a_copy_wound_down_mid_chunk_keeps_the_session_after_the_chunk_on_its_way() {
    let img = image(&[300, 2500]);
    let mut source = RegistryModel::default();
    publish(&mut source, &img);
    let mut target = RegistryModel::default();
    let config = CopyConfig {
        chunk_size: 700,
        ..CopyConfig::default()
    };
    let mut copy_plan = plan(1);
    copy_plan.target_config.retry.max_attempts = 1;
    let mut driver = Driver::new(
        CopyPlug::new(copy_plan, config),
        vec![&mut source, &mut target],
    );
    // The layer's second chunk on its way to the target (the config went in one PATCH).
    let chunks_on_the_way = |d: &Driver<'_, CopyPlug>| {
        let patches = d
            .requests
            .iter()
            .filter(|(to, r)| *to == 1 && r.method == Method::PATCH);
        patches.count() >= 3 && d.flights.iter().any(|f| f.req.method == Method::PATCH)
    };
    for _ in 0..10_000 {
        if chunks_on_the_way(&driver) || driver.finished() {
            break;
        }
        driver.step();
    }
    assert!(
        chunks_on_the_way(&driver),
        "no chunk on its way: {:?}",
        driver.result
    );
    let to_target = |d: &Driver<'_, CopyPlug>| d.requests.iter().filter(|(to, _)| *to == 1).count();
    let sent = to_target(&driver);
    driver.wind_down();
    driver.run();
    assert!(
        matches!(driver.result, Some(Err(Error::Cancelled))),
        "{:?}",
        driver.result
    );
    assert_eq!(to_target(&driver), sent, "nothing new goes to the target");
    let last = last_session(&driver.plug.events);
    assert_eq!(last.committed % 700, 0);
    assert!(last.committed >= 1400, "{}", last.committed);
    drop(driver);
    let mut again = plan(1);
    again.resume = vec![last.clone()];
    let second = run(std::slice::from_mut(&mut source), &mut target, again);
    assert!(second.result.is_ok(), "{:?}", second.result);
    assert_eq!(patched(&second).first().map(|p| p.0), Some(last.committed));
    assert_copied(&target, &img);
}
