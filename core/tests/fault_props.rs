//! Property tests: push and pull against the registry model with random faults, in virtual
//! time. Every run either completes with exactly the right content or ends in a typed error
//! within the retry budget; it never stalls or spins (the drivers panic on both); time only
//! moves forward; progress never goes backwards.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use proptest::prelude::*;
use tug_core::http::{Method, TransportErrorKind};
use tug_core::pull::{self, PullConfig, PullPlan};
use tug_core::push::{self, PushConfig};
use tug_core::retry::RetryPolicy;
use tug_core::Scheme;
use tug_sansio_kit::images::{image, MANIFEST_TYPE};
use tug_sansio_kit::ops::pull::{run_pull, run_pull_resuming};
use tug_sansio_kit::ops::push::run_push;
use tug_sansio_kit::{Fault, RegistryModel};

fn fault() -> impl Strategy<Value = Fault> {
    let method = prop_oneof![
        Just(Method::HEAD),
        Just(Method::POST),
        Just(Method::PATCH),
        Just(Method::PUT),
        Just(Method::GET),
    ];
    let response = prop_oneof![
        Just(Ok(500)),
        Just(Ok(502)),
        Just(Ok(503)),
        Just(Ok(429)),
        Just(Ok(404)),
        Just(Ok(416)),
        Just(Err(TransportErrorKind::Io)),
        Just(Err(TransportErrorKind::Timeout)),
        Just(Err(TransportErrorKind::Connect)),
    ];
    let path = prop_oneof![
        Just("/blobs/"),
        Just("/uploads/"),
        Just("/manifests/"),
        Just("/v2/")
    ];
    (method, response, path, any::<bool>(), 0usize..4).prop_map(
        |(method, response, path, forget, after)| {
            let fault = Fault::on(method, path).after(after);
            let fault = match response {
                Ok(status) => fault.status(status),
                Err(kind) => fault.transport(kind),
            };
            if forget {
                fault.forget_uploads()
            } else {
                fault
            }
        },
    )
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..4000, 1..5)
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        ..RetryPolicy::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn push_completes_or_fails_cleanly(sizes in sizes(), faults in prop::collection::vec(fault(), 0..6),
                                       chunk in 100u64..2000, mono in 0u64..3000, jobs in 1usize..4) {
        let mut model = RegistryModel::default();
        model.faults.extend(faults);
        let img = image(&sizes);
        let config = PushConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::Http,
                retry: retry(),
                ..PushConfig::default().registry
            },
            transfer: tug_core::TransferConfig {
                jobs,
                ..PushConfig::default().transfer
            },
            chunk_size: chunk,
            monolithic_max: mono,
            ..PushConfig::default()
        };
        let run = run_push(&mut model, img.plan.clone(), &img.data, config);
        let (mut done, mut transferred, mut retries, mut peak) = (0, 0, 0, 0.0);
        for e in &run.events {
            if let push::Event::Progress(p) = e {
                prop_assert!(p.done_bytes >= done, "done bytes went back");
                prop_assert!(p.transferred_bytes >= transferred, "transferred bytes went back");
                prop_assert!(p.retries >= retries, "retries went back");
                prop_assert!(p.peak_bytes_per_second >= peak, "the peak went back");
                prop_assert!(p.peak_bytes_per_second >= p.bytes_per_second);
                prop_assert!(p.blobs_active <= jobs, "{} blobs in flight", p.blobs_active);
                done = p.done_bytes;
                transferred = p.transferred_bytes;
                retries = p.retries;
                peak = p.peak_bytes_per_second;
            }
        }
        if let Ok(report) = &run.result {
            prop_assert!(report.retries >= retries);
        }
        match run.result {
            Ok(_) => {
                for (b, data) in img.plan.blobs.iter().zip(&img.data) {
                    prop_assert_eq!(model.blobs.get(&b.digest.to_string()), Some(data));
                }
                prop_assert_eq!(&model.manifests["team/app:v1"].0, &img.plan.manifest.bytes);
            }
            Err(e) => {
                // Nothing is tagged unless every blob is in.
                if model.manifests.contains_key("team/app:v1") {
                    for b in &img.plan.blobs {
                        prop_assert!(model.blobs.contains_key(&b.digest.to_string()), "{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn pull_completes_or_fails_cleanly(sizes in sizes(), faults in prop::collection::vec(fault(), 0..6),
                                       cut in prop::option::of(0usize..3000), jobs in 1usize..4) {
        let mut model = RegistryModel::default();
        let img = image(&sizes);
        for (b, data) in img.plan.blobs.iter().zip(&img.data) {
            model.blobs.insert(b.digest.to_string(), data.clone());
        }
        model.put_manifest("team/app", "v1", &img.plan.manifest.bytes, MANIFEST_TYPE);
        model.faults.extend(faults);
        model.cut_next_blob_after = cut;
        let plan = PullPlan {
            registry: "127.0.0.1:5000".into(),
            repository: "team/app".into(),
            reference: "v1".into(),
            platform: "linux/amd64".parse().unwrap(),
            all_platforms: false,
            have: Vec::new(),
            manifests_only: false,
            platform_required: false,
        };
        let config = PullConfig {
            registry: tug_core::RegistryConfig {
                scheme: Scheme::Http,
                retry: retry(),
                ..PullConfig::default().registry
            },
            transfer: tug_core::TransferConfig {
                jobs,
                ..PullConfig::default().transfer
            },
        };
        let run = run_pull(&mut model, plan.clone(), config.clone());
        if run.result.is_ok() {
            prop_assert!(run.leftovers.is_empty(), "temporary files left behind");
        } else {
            // What a failed pull keeps is a true prefix, and the next run finishes from it.
            for (digest, kept) in &run.kept {
                let i = img.plan.blobs.iter().position(|b| b.digest == *digest).unwrap();
                prop_assert!(img.data[i].starts_with(kept), "a kept file is not a prefix");
            }
            model.faults.clear();
            model.cut_next_blob_after = None;
            let again = run_pull_resuming(&mut model, plan, config, run.kept.clone());
            prop_assert!(again.result.is_ok(), "{:?}", again.result);
            for (b, data) in img.plan.blobs.iter().zip(&img.data) {
                prop_assert_eq!(again.committed.get(&b.digest), Some(data));
            }
        }
        let (mut transferred, mut retries) = (0, 0);
        for e in &run.events {
            if let pull::Event::Progress(p) = e {
                prop_assert!(p.transferred_bytes >= transferred, "progress went back");
                prop_assert!(p.retries >= retries, "retries went back");
                prop_assert!(p.blobs_active <= p.blobs_total - p.blobs_done);
                transferred = p.transferred_bytes;
                retries = p.retries;
            }
        }
        if run.result.is_ok() {
            for (b, data) in img.plan.blobs.iter().zip(&img.data) {
                prop_assert_eq!(run.committed.get(&b.digest), Some(data));
            }
        }
    }
}
