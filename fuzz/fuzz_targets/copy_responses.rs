//! A registry-to-registry `Copy` driven by a script of registry responses (see
//! `fuzz/src/script.rs`): the script's registry is the source (its blobs and manifests, by
//! tag and digest, ranges, redirects to storage, Basic or Bearer auth), the target an empty
//! registry (`target`, `target-auth`), optionally behind an empty mirror that is asked first
//! (`mirror`). Each action answers a request in flight on either side (`auto` one whose
//! request body is complete) — as the models
//! would (the target checks every uploaded blob's digest), changed, byte by byte, cut off
//! or failed — or moves the clock; the copy's uploads stream what its fetch reads from the
//! source. When the actions run out, every request in flight fails for good and timers
//! fire, so the copy must finish within a bound.
//!
//! Checked, besides "no panic" and the driver's contract (one `Finished` and nothing after
//! it, streamed bodies only for uploads in flight, no request id reused in flight, inputs
//! about unknown ids refused, no due timer after a timeout, never waiting with nothing in
//! flight and no timer): each side's `Authorization` goes only to that side's registry or a
//! token realm a challenge named (never the source's to the target, a redirect target or
//! blob storage), never over plain HTTP when the registry is reached over HTTPS; a copy
//! that succeeded while every answer was the models' own left the manifest on the target.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_core::copy::{CopyConfig, CopyPlan, CopySource};
use tug_core::referrers::Known;
use tug_core::{Digest, Platform, Reference, TransferConfig};
use tug_fuzz::play::{act, wind_down, ANSWER_TIME, PACE};
use tug_fuzz::script::{Action, Script};
use tug_fuzz::verbs::{HostChecked, HostRule};
use tug_sansio_kit::ops::copy::CopyPlug;
use tug_sansio_kit::{Driver, RegistryModel};

/// The empty mirror's host (`mirror`).
const MIRROR: &str = "mirror.example:5000";

/// `bytes`' digest with `d`'s algorithm.
fn digest_of(d: &Digest, bytes: &[u8]) -> Digest {
    let mut h = tug_core::digest::Hasher::new(d.algorithm());
    h.update(bytes);
    h.finish()
}

/// `registry/repository` with `reference` as its tag, or its digest when it is one.
fn reference(registry: &str, repository: &str, reference: &str) -> Reference {
    let digest: Option<Digest> = reference.parse().ok();
    Reference {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        tag: digest.is_none().then(|| reference.to_owned()),
        digest,
    }
}

fuzz_target!(|data: &[u8]| {
    let script = Script::parse(data);
    let setup = &script.setup;
    let config = setup.registry_config();
    let mut registries = Vec::new();
    if setup.mirror {
        registries.push(MIRROR.to_owned());
    }
    registries.push(setup.registry.clone());
    let sources: Vec<CopySource> = registries
        .iter()
        .map(|r| CopySource {
            reference: reference(r, &setup.repository, &setup.reference),
            config: config.clone(),
        })
        .collect();
    let target = reference(
        &setup.target,
        &setup.target_repository,
        &setup.target_reference,
    );
    let plan = CopyPlan {
        sources,
        target: target.clone(),
        target_config: config.clone(),
        platform: (!setup.all_platforms).then(|| {
            setup
                .platform
                .parse::<Platform>()
                .unwrap_or_else(|_| Platform::from_rust("linux", "x86_64"))
        }),
        resume: Vec::new(),
        // Half the runs bring the image's referrers along too (the discovery, the
        // referrers' copies and the fallback tag's index, all against scripted answers).
        referrers: ((setup.seed / 2) % 2 == 0).then(Known::default),
    };
    let copy_config = CopyConfig {
        transfer: TransferConfig {
            jobs: setup.jobs,
            adaptive: setup.seed % 2 == 1,
            progress_interval: std::time::Duration::from_millis(200),
        },
        chunk_size: setup.upload_chunk,
    };

    let mut models: Vec<RegistryModel> = Vec::new();
    if setup.mirror {
        let mut mirror = RegistryModel::at(MIRROR);
        mirror.location_style = tug_sansio_kit::LocationStyle::RelativeWithState;
        models.push(mirror);
    }
    models.push(setup.model());
    models.push(setup.target_model());
    let target_index = models.len() - 1;
    let rules: Vec<HostRule> = models
        .iter()
        .map(|m| {
            let host = m.host.clone().unwrap_or_default();
            let realm = m.realm.clone().unwrap_or_default();
            HostRule::new(&[&host], setup.scheme, &[&realm], &script.actions)
        })
        .collect();

    let plug = HostChecked {
        inner: CopyPlug::new(plan, copy_config),
        rules,
    };
    let mut driver = Driver::new(plug, models.iter_mut().collect()).pace(PACE);
    driver.check_live();
    for action in &script.actions {
        if driver.finished() {
            break;
        }
        match action {
            // `auto` picks among the requests the network can answer: an upload's body
            // streams from the source, so it is ready once the copy ended it (`head` /
            // `body` / `end` / `fail` answer the others early, as a registry may).
            Action::Auto { pick, opts, edits } => {
                let ready: Vec<usize> = (0..driver.flights.len())
                    .filter(|&i| driver.flights[i].ready())
                    .collect();
                match ready.get(pick % ready.len().max(1)) {
                    Some(&i) => {
                        if tug_fuzz::verbose() {
                            let f = &driver.flights[i];
                            eprintln!("AUTO {} {} {}", f.req.id, f.req.method, f.req.url);
                        }
                        driver.answer(i, &opts.answering(edits), |_, _| {});
                    }
                    None => driver.now = driver.now + ANSWER_TIME,
                }
            }
            _ => {
                act(&mut driver, setup, action);
            }
        }
        driver.check_live();
    }
    wind_down(&mut driver, "copy");
    let result = driver.result.as_ref().expect("finished");
    tug_fuzz::describe("copy", result);
    match result {
        Ok(report) if driver.clean => {
            // By digest: the model keys manifests by the path as sent (percent-encoded).
            let digest = &report.manifest_digest;
            let stored = driver.models[target_index]
                .manifests
                .values()
                .any(|(bytes, _)| digest_of(digest, bytes) == *digest);
            assert!(
                stored,
                "contract: the copy succeeded, but the target has no manifest {digest} (for {}:{})",
                target.repository,
                target.manifest_ref()
            );
        }
        Ok(_) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for e in &driver.plug.inner.events {
        let _ = format!("{e:?}");
    }
    driver.check_after_finished();
});
