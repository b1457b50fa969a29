//! Scenario tests of the pull state machine against an in-memory registry, in virtual time.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use tug_core::http::Method;
use tug_core::manifest::OCI_INDEX;
use tug_core::pull::{Event, PullConfig, PullPlan};
use tug_core::{Credentials, Digest, Error, Platform, Scheme};
use tug_sansio_kit::images::{image, image_from, publish, Image, MANIFEST_TYPE};
use tug_sansio_kit::ops::pull::{run_pull, run_pull_ordered, run_pull_resuming, PullRun};
use tug_sansio_kit::{Fault, Order, RegistryModel};

/// Publishes an index of two images (linux/amd64 and linux/arm64/v8) as `team/app:multi`.
fn publish_index(model: &mut RegistryModel) -> (Image, Image, Vec<u8>) {
    let amd = image(&[100, 2000]);
    let arm = image(&[101, 3000, 40]);
    publish(model, &amd, "amd");
    publish(model, &arm, "arm");
    let entry = |img: &Image, arch: &str, variant: &str| {
        format!(
            r#"{{"mediaType":"{MANIFEST_TYPE}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{arch}"{variant}}}}}"#,
            img.plan.manifest.digest,
            img.plan.manifest.bytes.len()
        )
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        entry(&amd, "amd64", ""),
        entry(&arm, "arm64", r#","variant":"v8""#)
    )
    .into_bytes();
    model.put_manifest("team/app", "multi", &index, OCI_INDEX);
    (amd, arm, index)
}

/// An index of an arm64 and an amd64 image whose entries name no platform (valid OCI:
/// only their configs say it), tagged `bare`.
fn publish_bare_index(model: &mut RegistryModel) -> (Image, Image) {
    let of = |arch: &str, layer: u8| {
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        image_from(vec![config.into_bytes(), vec![layer; 1500]])
    };
    let (arm, amd) = (of("arm64", 1), of("amd64", 2));
    publish(model, &arm, "arm");
    publish(model, &amd, "amd");
    let entry = |img: &Image| {
        format!(
            r#"{{"mediaType":"{MANIFEST_TYPE}","digest":"{}","size":{}}}"#,
            img.plan.manifest.digest,
            img.plan.manifest.bytes.len()
        )
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        entry(&arm),
        entry(&amd)
    );
    model.put_manifest("team/app", "bare", index.as_bytes(), OCI_INDEX);
    (arm, amd)
}

fn plan(reference: &str) -> PullPlan {
    PullPlan {
        registry: "127.0.0.1:5000".into(),
        repository: "team/app".into(),
        reference: reference.into(),
        platform: "linux/amd64".parse().unwrap(),
        all_platforms: false,
        have: Vec::new(),
        manifests_only: false,
        platform_required: false,
    }
}

fn config() -> PullConfig {
    PullConfig {
        registry: tug_core::RegistryConfig {
            scheme: Scheme::Http,
            ..PullConfig::default().registry
        },
        ..PullConfig::default()
    }
}

fn assert_has_image(run: &PullRun, img: &Image) {
    for (b, data) in img.plan.blobs.iter().zip(&img.data) {
        assert_eq!(
            run.committed.get(&b.digest),
            Some(data),
            "blob {} differs",
            b.digest
        );
    }
}

#[test]
fn pulls_a_tagged_image_and_verifies_every_blob() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 10, 0]);
    publish(&mut model, &img, "v1");
    let run = run_pull(&mut model, plan("v1"), config());
    let report = run.result.as_ref().expect("pull succeeds");
    assert_eq!(report.root.bytes, img.plan.manifest.bytes);
    assert_eq!(report.root.digest, img.plan.manifest.digest);
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].layers.len(), 3);
    assert_eq!(report.blobs_downloaded, 4);
    assert_has_image(&run, &img);
    assert!(run.leftovers.is_empty());
    let manifest_req = run
        .requests
        .iter()
        .find(|r| r.url.path().contains("/manifests/"))
        .unwrap();
    let accept = manifest_req.headers["accept"].to_str().unwrap();
    for t in [
        "oci.image.index",
        "manifest.list.v2",
        "oci.image.manifest",
        "manifest.v2+json",
    ] {
        assert!(accept.contains(t), "{accept}");
    }
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::BlobDone { .. })));
}

#[test]
fn blobs_the_runner_has_are_not_downloaded() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000, 1000]);
    publish(&mut model, &img, "v1");
    let mut p = plan("v1");
    p.have = vec![img.plan.blobs[1].digest.clone()];
    let run = run_pull(&mut model, p, config());
    let report = run.result.unwrap();
    assert_eq!((report.blobs_downloaded, report.blobs_skipped), (2, 1));
    assert_eq!(model.count("GET /v2/team/app/blobs/"), 2);
}

#[test]
fn an_index_resolves_to_the_requested_platform() {
    let mut model = RegistryModel::default();
    let (amd, arm, index) = publish_index(&mut model);
    let run = run_pull(&mut model, plan("multi"), config());
    let report = run.result.as_ref().unwrap();
    assert_eq!(report.root.bytes, index);
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].manifest.digest, amd.plan.manifest.digest);
    assert_has_image(&run, &amd);
    assert!(!run.committed.contains_key(&arm.plan.blobs[1].digest));

    let mut p = plan("multi");
    p.platform = "linux/arm64".parse().unwrap();
    let run = run_pull(&mut model, p, config());
    let report = run.result.as_ref().unwrap();
    assert_eq!(report.images[0].manifest.digest, arm.plan.manifest.digest);
    assert_eq!(
        report.images[0].platform.as_ref().unwrap().to_string(),
        "linux/arm64/v8"
    );
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::PlatformChosen { .. })));
}

#[test]
fn all_platforms_keeps_every_image_of_the_index() {
    let mut model = RegistryModel::default();
    let (amd, arm, _) = publish_index(&mut model);
    let mut p = plan("multi");
    p.all_platforms = true;
    let run = run_pull(&mut model, p, config());
    assert_eq!(run.result.as_ref().unwrap().images.len(), 2);
    assert_has_image(&run, &amd);
    assert_has_image(&run, &arm);
}

/// An index whose entries name one manifest a thousand times (a hostile one, or a careless
/// generator): the manifest is asked for once, and is one image.
#[test]
fn a_manifest_named_by_many_entries_is_fetched_once() {
    let mut model = RegistryModel::default();
    let img = image(&[100, 200]);
    publish(&mut model, &img, "one");
    let entry = format!(
        r#"{{"mediaType":"{MANIFEST_TYPE}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}"#,
        img.plan.manifest.digest,
        img.plan.manifest.bytes.len()
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        vec![entry; 1000].join(",")
    );
    model.put_manifest("team/app", "wide", index.as_bytes(), OCI_INDEX);
    let mut p = plan("wide");
    p.all_platforms = true;
    let run = run_pull(&mut model, p, config());
    assert_eq!(run.result.as_ref().unwrap().images.len(), 1);
    let digest = img.plan.manifest.digest.to_string();
    assert_eq!(
        model.count(&format!("GET /v2/team/app/manifests/{digest}")),
        1
    );
}

/// An index may name hundreds of platforms: its manifests are asked for `jobs` at a time.
#[test]
fn the_manifests_of_a_large_index_are_fetched_jobs_at_a_time() {
    let mut model = RegistryModel::default();
    let images: Vec<Image> = (0..12).map(|i| image(&[100 + i, 200 + i])).collect();
    let entries: Vec<String> = images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            publish(&mut model, img, &format!("p{i}"));
            format!(
                r#"{{"mediaType":"{MANIFEST_TYPE}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"arch{i}"}}}}"#,
                img.plan.manifest.digest,
                img.plan.manifest.bytes.len()
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    );
    model.put_manifest("team/app", "many", index.as_bytes(), OCI_INDEX);
    let mut p = plan("many");
    p.all_platforms = true;
    // Oldest first, counting the manifest requests in flight before each answer.
    let most = Rc::new(Cell::new(0));
    let seen = most.clone();
    let order = Order::choose(move |flights, ready| {
        let manifests = flights
            .iter()
            .filter(|f| f.req.url.path().contains("/manifests/"))
            .count();
        seen.set(seen.get().max(manifests));
        vec![ready[0]]
    });
    let config = PullConfig {
        transfer: tug_core::TransferConfig {
            jobs: 3,
            ..config().transfer
        },
        ..config()
    };
    let run = run_pull_ordered(&mut model, p, config, HashMap::new(), order);
    assert_eq!(run.result.as_ref().unwrap().images.len(), 12);
    for img in &images {
        assert_has_image(&run, img);
    }
    assert_eq!(most.get(), 3);
}

#[test]
fn a_missing_platform_lists_what_the_index_has() {
    let mut model = RegistryModel::default();
    publish_index(&mut model);
    let mut p = plan("multi");
    p.platform = Platform {
        os: "windows".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let err = run_pull(&mut model, p, config()).result.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("windows/amd64") && text.contains("linux/arm64/v8"),
        "{text}"
    );
}

#[test]
fn a_corrupted_blob_fails_and_is_never_committed() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    publish(&mut model, &img, "v1");
    let bad = img.plan.blobs[1].digest.clone();
    model.corrupt_blobs.push(bad.to_string());
    let run = run_pull(
        &mut model,
        plan("v1"),
        PullConfig {
            transfer: tug_core::TransferConfig {
                jobs: 1,
                ..config().transfer
            },
            ..config()
        },
    );
    match &run.result {
        Err(Error::DigestMismatch { expected, .. }) => assert_eq!(expected, &bad),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(!run.committed.contains_key(&bad));
    assert!(run.leftovers.is_empty(), "the partial file is discarded");
}

#[test]
fn a_wrong_manifest_for_a_digest_reference_is_rejected() {
    let mut model = RegistryModel::default();
    let img = image(&[300]);
    let wanted = Digest::sha256_of(b"what the user asked for");
    model.put_manifest(
        "team/app",
        &wanted.to_string(),
        &img.plan.manifest.bytes,
        MANIFEST_TYPE,
    );
    let err = run_pull(&mut model, plan(&wanted.to_string()), config())
        .result
        .unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { expected, .. } if *expected == wanted),
        "{err}"
    );
}

#[test]
fn redirects_to_blob_storage_drop_the_authorization_header() {
    let mut model = RegistryModel {
        required_auth: Some("Basic dXNlcjpwYXNz".into()),
        redirect_blobs: true,
        ..Default::default()
    };
    let img = image(&[300, 5000]);
    publish(&mut model, &img, "v1");
    let creds = Credentials {
        username: "user".into(),
        password: "pass".into(),
    };
    let run = run_pull(
        &mut model,
        plan("v1"),
        PullConfig {
            registry: tug_core::RegistryConfig {
                credentials: Some(creds),
                ..config().registry
            },
            ..config()
        },
    );
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    assert!(run
        .requests
        .iter()
        .any(|r| r.url.host_str() == Some("storage.example")));
}

/// Blob storage the registry redirected to refuses the download: the error names that
/// host, not the registry (found by probing with a hostile server: "registry answered").
#[test]
fn an_error_from_blob_storage_names_the_storage_host() {
    for (status, said) in [
        (403, "access denied (403) by storage.example"),
        (404, "storage.example answered 404"),
    ] {
        let mut model = RegistryModel {
            redirect_blobs: true,
            ..Default::default()
        };
        let img = image(&[3000]);
        publish(&mut model, &img, "v1");
        let layer = img.plan.blobs[0].digest.hex().to_owned();
        // The registry's own answer (the redirect) goes through; storage's is refused.
        model.fault(Fault::on(Method::GET, &layer).after(1).status(status));
        let run = run_pull(&mut model, plan("v1"), config());
        let err = run.result.unwrap_err().to_string();
        assert!(err.contains(said), "{status}: {err}");
        assert!(!err.contains("registry answered"), "{err}");
    }
}

#[test]
fn a_broken_download_resumes_from_the_bytes_received() {
    let (run, img) = pull_cut_halfway(RegistryModel::default());
    let report = run.result.as_ref().unwrap();
    assert_eq!(report.retries, 1);
    assert_has_image(&run, &img);
    let blob_gets: Vec<_> = run
        .requests
        .iter()
        .filter(|r| r.url.path().contains("/blobs/"))
        .collect();
    assert_eq!(blob_gets.len(), 2);
    assert_eq!(blob_gets[1].headers["range"], "bytes=1500-");
    let blob = &img.plan.blobs[0].digest;
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::Retrying(r) if r.blob.as_ref() == Some(blob))));
}

/// A pull of a 3000-byte layer from `model`, the download cut after 1500 bytes once.
fn pull_cut_halfway(mut model: RegistryModel) -> (PullRun, Image) {
    model.cut_next_blob_after = Some(1500);
    let img = image(&[3000]);
    publish(&mut model, &img, "v1");
    (run_pull(&mut model, plan("v1"), config()), img)
}

#[test]
fn a_server_ignoring_the_range_makes_the_blob_start_over() {
    let (run, img) = pull_cut_halfway(RegistryModel {
        ignore_ranges: true,
        ..Default::default()
    });
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    assert!(run.leftovers.is_empty());
}

/// A server that refuses the rest of a blob (`416`, its whole length in `Content-Range`)
/// gets asked for all of it: the blob starts over, nothing of the broken try kept.
#[test]
fn a_server_refusing_the_range_makes_the_blob_start_over() {
    let (run, img) = pull_cut_halfway(RegistryModel {
        refuse_ranges: true,
        ..Default::default()
    });
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    assert!(run.leftovers.is_empty());
    let asked = blob_requests(&run, &img.plan.blobs[0].digest);
    let ranges: Vec<Option<&str>> = asked
        .iter()
        .map(|r| r.headers.get("range").and_then(|v| v.to_str().ok()))
        .collect();
    assert_eq!(ranges, [None, Some("bytes=1500-"), None]);
    assert!(run.events.iter().any(
        |e| matches!(e, Event::Retrying(r) if r.reason.contains("refused the rest of the blob"))
    ));
}

/// A `416` whose `Content-Range` says the blob is shorter than its descriptor: bad input at
/// once, nothing left.
#[test]
fn a_416_saying_the_blob_is_shorter_than_its_descriptor_fails_at_once() {
    let mut model = RegistryModel {
        cut_next_blob_after: Some(1500),
        refuse_ranges: true,
        ..Default::default()
    };
    let img = image(&[3000]);
    publish(&mut model, &img, "v1");
    let digest = img.plan.blobs[0].digest.to_string();
    model.blobs.get_mut(&digest).unwrap().truncate(1000);
    let run = run_pull(&mut model, plan("v1"), config());
    match &run.result {
        Err(Error::InvalidInput { message }) => {
            assert!(message.contains("is 1000 bytes"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(run.committed.is_empty());
}

/// An index whose entries name no platform: the one whose config serves the platform asked
/// for is pulled (found by probing with such an index: `tug inspect` read the configs, the
/// pull refused it), the other fetched no further than its config.
#[test]
fn an_index_naming_no_platforms_is_chosen_from_by_the_configs() {
    let mut model = RegistryModel::default();
    let (arm, amd) = publish_bare_index(&mut model);
    let run = run_pull(&mut model, plan("bare"), config());
    let report = run.result.as_ref().unwrap();
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].manifest.digest, amd.plan.manifest.digest);
    assert_has_image(&run, &amd);
    let arm_layer = &arm.plan.blobs[1].digest;
    assert!(blob_requests(&run, arm_layer).is_empty(), "no arm64 layer");
    assert!(run.events.iter().any(|e| matches!(
        e,
        Event::PlatformChosen { platform, digest }
            if platform.to_string() == "linux/amd64" && digest == &amd.plan.manifest.digest
    )));
    // None serves: said with what their configs say.
    let mut s390x = plan("bare");
    s390x.platform = "linux/s390x".parse().unwrap();
    let err = run_pull(&mut model, s390x, config()).result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: 127.0.0.1:5000/team/app:bare has no image for platform linux/s390x; \
         it has: (no platform), (no platform) (their configs say: linux/arm64, linux/amd64)"
    );
}

#[test]
fn an_unknown_tag_is_a_registry_error_with_its_code() {
    let mut model = RegistryModel::default();
    let err = run_pull(&mut model, plan("nope"), config())
        .result
        .unwrap_err();
    match err {
        Error::Registry { status, errors, .. } => {
            assert_eq!(status, 404);
            assert!(errors.has_code("MANIFEST_UNKNOWN"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn manifests_only_fetches_no_blob() {
    let mut model = RegistryModel::default();
    let (amd, _, index) = publish_index(&mut model);
    let mut p = plan("multi");
    p.manifests_only = true;
    let run = run_pull(&mut model, p, config());
    let report = run.result.unwrap();
    assert_eq!(report.root.bytes, index);
    assert_eq!(report.images[0].manifest.digest, amd.plan.manifest.digest);
    assert_eq!(model.count("GET /v2/team/app/blobs/"), 0);
}

/// Requests for blob `digest`.
fn blob_requests<'a>(run: &'a PullRun, digest: &Digest) -> Vec<&'a tug_core::http::Request> {
    run.requests
        .iter()
        .filter(|r| r.url.path().ends_with(&format!("/blobs/{digest}")))
        .collect()
}

#[test]
fn a_prefix_left_by_an_earlier_run_is_continued_with_a_range() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    publish(&mut model, &img, "v1");
    let layer = img.plan.blobs[1].digest.clone();
    let prefix = img.data[1][..2100].to_vec();
    let run = run_pull_resuming(
        &mut model,
        plan("v1"),
        config(),
        HashMap::from([(layer.clone(), prefix)]),
    );
    let report = run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    let gets = blob_requests(&run, &layer);
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].headers["range"], "bytes=2100-");
    assert!(run.events.iter().any(|e| matches!(e,
        Event::BlobResumed { digest, from: 2100, size: 5000 } if *digest == layer)));
    assert_eq!(report.blobs_downloaded, 2);
    // What this run downloaded: the config, and the layer past the earlier run's bytes.
    assert_eq!(report.bytes_downloaded, 300 + 5000 - 2100);
}

#[test]
fn a_whole_prefix_is_verified_and_committed_without_a_request() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    publish(&mut model, &img, "v1");
    let layer = img.plan.blobs[1].digest.clone();
    let run = run_pull_resuming(
        &mut model,
        plan("v1"),
        config(),
        HashMap::from([(layer.clone(), img.data[1].clone())]),
    );
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    assert!(blob_requests(&run, &layer).is_empty());
}

#[test]
fn a_prefix_that_is_not_the_blob_is_discarded_and_the_blob_downloaded_whole() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    publish(&mut model, &img, "v1");
    let layer = img.plan.blobs[1].digest.clone();
    let config_blob = img.plan.blobs[0].digest.clone();
    let partials = HashMap::from([
        // Garbage of the right length class: found out only at the digest check.
        (layer.clone(), vec![0xAB; 1000]),
        // Whole length but wrong bytes.
        (config_blob.clone(), vec![0; 300]),
        // Longer than the blob can be.
        (Digest::sha256_of(b"unrelated"), vec![1; 10]),
    ]);
    let run = run_pull_resuming(&mut model, plan("v1"), config(), partials);
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    let gets = blob_requests(&run, &layer);
    assert_eq!(gets.len(), 2, "a ranged try, then the whole blob");
    assert_eq!(gets[0].headers["range"], "bytes=1000-");
    assert!(!gets[1].headers.contains_key("range"));
    assert_eq!(blob_requests(&run, &config_blob).len(), 1);
}

#[test]
fn a_failed_pull_keeps_what_arrived_for_the_next_run() {
    let mut model = RegistryModel {
        cut_next_blob_after: Some(1500),
        ..Default::default()
    };
    let img = image(&[3000]);
    publish(&mut model, &img, "v1");
    let layer = img.plan.blobs[0].digest.clone();
    // No retries: the cut ends the run.
    let first = run_pull(
        &mut model,
        plan("v1"),
        PullConfig {
            registry: tug_core::RegistryConfig {
                retry: tug_core::retry::RetryPolicy {
                    max_attempts: 1,
                    ..Default::default()
                },
                ..config().registry
            },
            ..config()
        },
    );
    assert!(first.result.is_err());
    assert_eq!(first.leftovers, vec![layer.clone()]);

    let kept = HashMap::from([(layer.clone(), img.data[0][..1500].to_vec())]);
    let second = run_pull_resuming(&mut model, plan("v1"), config(), kept);
    second.result.as_ref().unwrap();
    assert_has_image(&second, &img);
    assert_eq!(
        blob_requests(&second, &layer)[0].headers["range"],
        "bytes=1500-"
    );
}

#[test]
fn adaptive_pull_narrows_the_window_when_more_blobs_do_not_pay() {
    // The driver answers one request at a time: more blobs in flight never move more
    // bytes, so the window comes down from 8 (and stays within its bounds).
    let sizes: Vec<usize> = (0..800).map(|i| 2_000 + i).collect();
    let img = image(&sizes);
    let mut model = RegistryModel::default();
    publish(&mut model, &img, "v1");
    let run = run_pull(
        &mut model,
        plan("v1"),
        PullConfig {
            transfer: tug_core::TransferConfig {
                jobs: 8,
                ..config().transfer
            },
            ..config()
        },
    );
    run.result.as_ref().expect("pull succeeds");
    assert_has_image(&run, &img);
    let windows: Vec<(usize, usize)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Concurrency(c) => Some((c.from, c.to)),
            _ => None,
        })
        .collect();
    assert!(!windows.is_empty());
    assert!(windows.iter().all(|&(_, to)| (1..=8).contains(&to)));
    assert!(windows.iter().any(|&(from, to)| to < from));
    let fixed = run_pull(
        &mut model,
        plan("v1"),
        PullConfig {
            transfer: tug_core::TransferConfig {
                jobs: 8,
                adaptive: false,
                ..config().transfer
            },
            ..config()
        },
    );
    fixed.result.expect("pull succeeds");
    assert!(!fixed
        .events
        .iter()
        .any(|e| matches!(e, Event::Concurrency(_))));
}

/// A pull with `attempts` attempts per request from a registry that cuts every blob
/// response after `cut` bytes.
fn pull_through_breaks(cut: usize, attempts: u32) -> (PullRun, Image) {
    let mut model = RegistryModel {
        cut_every_blob_after: Some(cut),
        ..Default::default()
    };
    let img = image(&[6 << 20]);
    publish(&mut model, &img, "v1");
    let retry = tug_core::retry::RetryPolicy {
        max_attempts: attempts,
        ..Default::default()
    };
    let config = PullConfig {
        registry: tug_core::RegistryConfig {
            retry,
            ..config().registry
        },
        ..config()
    };
    (run_pull(&mut model, plan("v1"), config), img)
}

#[test]
fn a_download_that_breaks_after_each_mib_and_more_is_fetched_to_its_end() {
    // Five breaks, three attempts: each resumed request brings 1.25 MiB more, which
    // starts the attempts afresh. The fifth break comes after the blob's last byte: the
    // sixth request, for the rest, is answered 416, and what arrived is the whole blob.
    let (run, img) = pull_through_breaks(5 << 18, 3);
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    let layer = &img.plan.blobs[0].digest;
    let asked = blob_requests(&run, layer);
    assert_eq!(asked.len(), 6);
    assert_eq!(asked[5].headers["range"], format!("bytes={}-", 6 << 20));
}

#[test]
fn a_download_that_keeps_breaking_before_a_mib_more_arrives_fails_after_its_attempts() {
    let (run, img) = pull_through_breaks(100 << 10, 3);
    assert!(run.result.is_err(), "{:?}", run.result);
    let layer = &img.plan.blobs[0].digest;
    assert_eq!(blob_requests(&run, layer).len(), 3);
}

#[test]
fn a_manifest_naming_one_blob_with_two_sizes_fails_before_any_blob() {
    let mut model = RegistryModel::default();
    let img = image(&[300, 5000]);
    publish(&mut model, &img, "v1");
    // The layer again, with another size: only one of the two could be checked.
    let layer = &img.plan.blobs[1];
    let text = String::from_utf8(img.plan.manifest.bytes.clone()).unwrap();
    let twice = text.replace(
        "]}",
        &format!(
            r#",{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":4}}]}}"#,
            layer.digest
        ),
    );
    model.put_manifest("team/app", "twice", twice.as_bytes(), MANIFEST_TYPE);
    let run = run_pull(&mut model, plan("twice"), config());
    match &run.result {
        Err(Error::Protocol { message, .. }) => assert_eq!(
            message,
            &format!(
                "blob {} is named with two sizes, 5000 and 4 bytes",
                layer.digest
            )
        ),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert_eq!(model.count("GET /v2/team/app/blobs/"), 0);
    assert!(run.committed.is_empty());
}

/// A manifest whose layer descriptor gives the wrong size (a few bytes, or an exabyte) for
/// the right blob: the image is not what its manifest says, which is bad input (exit 3),
/// not the registry breaking the protocol.
#[test]
fn a_descriptor_size_that_disagrees_with_the_blob_is_bad_input() {
    for wrong in [10u64, 1 << 60] {
        let mut model = RegistryModel::default();
        let img = image(&[300, 5000]);
        publish(&mut model, &img, "v1");
        let layer = &img.plan.blobs[1];
        let mut m: serde_json::Value = serde_json::from_slice(&img.plan.manifest.bytes).unwrap();
        m["layers"][0]["size"] = wrong.into();
        let bytes = serde_json::to_vec(&m).unwrap();
        model.put_manifest("team/app", "lying", &bytes, MANIFEST_TYPE);
        let run = run_pull(&mut model, plan("lying"), config());
        let err = run.result.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&layer.digest.to_string()) && text.contains(&wrong.to_string()),
            "{text}"
        );
    }
}

/// A manifest labelled with another media type than its body's own `mediaType` (an OCI
/// manifest served as Docker's): the body says what it is.
#[test]
fn a_manifest_s_own_media_type_wins_over_the_content_type() {
    let mut model = RegistryModel::default();
    let img = image(&[100, 2000]);
    for data in &img.data {
        model.put_blob(data);
    }
    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    model.put_manifest("team/app", "v1", &img.plan.manifest.bytes, docker);
    let run = run_pull(&mut model, plan("v1"), config());
    let report = run.result.unwrap();
    assert_eq!(report.root.media_type, MANIFEST_TYPE);
}

/// Asked for by digest, the manifest is held to that digest: a `Docker-Content-Digest`
/// naming another (a proxy's mistake) does not fail it.
#[test]
fn a_pull_by_digest_is_held_to_that_digest_not_to_the_header() {
    let mut model = RegistryModel::default();
    let img = image(&[100, 2000]);
    publish(&mut model, &img, "v1");
    model.lying_manifest_digest = Some(Digest::sha256_of(b"something else").to_string());
    let by_digest = img.plan.manifest.digest.to_string();
    let run = run_pull(&mut model, plan(&by_digest), config());
    run.result.unwrap();
    // By tag, the reported digest is checked (and here, refused).
    let run = run_pull(&mut model, plan("v1"), config());
    assert!(
        matches!(run.result, Err(Error::DigestMismatch { .. })),
        "{:?}",
        run.result
    );
}

/// A `206` for bytes from further back than the range asked for: its bytes are not read into
/// memory nor written; the blob starts over whole, and the retry says why.
#[test]
fn a_206_for_another_range_starts_the_blob_over_and_says_why() {
    let mut model = RegistryModel {
        cut_next_blob_after: Some(1500),
        ranges_start_early_by: 1000,
        ..Default::default()
    };
    let img = image(&[3000]);
    publish(&mut model, &img, "v1");
    let run = run_pull(&mut model, plan("v1"), config());
    run.result.as_ref().unwrap();
    assert_has_image(&run, &img);
    let said = run.events.iter().any(|e| {
        matches!(e, Event::Retrying(r) if r.reason.contains("sent bytes from 500 (Content-Range), not from 1500"))
    });
    assert!(said, "{:#?}", run.events);
}

/// A single image (no index) whose config says `linux/amd64`.
fn publish_amd64_only(model: &mut RegistryModel) -> Image {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let img = tug_sansio_kit::images::image_from(vec![config.to_vec(), vec![7; 3000]]);
    publish(model, &img, "single");
    img
}

/// A platform asked for (`--platform`) holds a single image to it, as `docker pull
/// --platform` does: another platform's image fails before any layer moves, naming both;
/// its own passes (its config read first); not asked for, any platform is taken.
#[test]
fn a_single_image_is_held_to_the_platform_asked_for() {
    let mut model = RegistryModel::default();
    let img = publish_amd64_only(&mut model);
    let held = |platform: &str| PullPlan {
        platform: platform.parse().unwrap(),
        platform_required: true,
        ..plan("single")
    };
    let run = run_pull(&mut model, held("linux/arm64"), config());
    match &run.result {
        Err(Error::InvalidInput { message }) => assert!(
            message.contains("single image for linux/amd64, not linux/arm64"),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let layer = img.plan.blobs[1].digest.to_string();
    assert!(
        !model.log.iter().any(|l| l.contains(&layer)),
        "no layer was asked for: {:?}",
        model.log
    );
    let run = run_pull(&mut model, held("linux/amd64"), config());
    run.result.as_ref().expect("its own platform");
    assert_has_image(&run, &img);
    // Not asked for: the default platform takes whatever the single image is.
    let run = run_pull(
        &mut model,
        PullPlan {
            platform: "linux/arm64".parse().unwrap(),
            ..plan("single")
        },
        config(),
    );
    run.result.as_ref().expect("no platform asked for");
    // An image whose config names no platform (an artifact's) is taken either way.
    let artifact = image(&[50, 60]);
    publish(&mut model, &artifact, "artifact");
    let run = run_pull(
        &mut model,
        PullPlan {
            reference: "artifact".into(),
            ..held("linux/arm64")
        },
        config(),
    );
    run.result
        .as_ref()
        .expect("an artifact has no platform to hold");
}
