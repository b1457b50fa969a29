//! A `Pull` driven by a script of registry responses (see `fuzz/src/script.rs`): the
//! registry model serves the script's blobs and manifests (by tag and digest, ranges,
//! redirects to storage, Basic or Bearer auth), and each action answers a request in flight
//! — as the model would, with a changed status or headers (Location, Content-Range,
//! Content-Type, Docker-Content-Digest, WWW-Authenticate, Retry-After, ...), or byte by byte
//! — breaks it, or moves the clock. When the actions run out, every request in flight fails
//! for good and timers fire, so the pull must finish within a bound.
//!
//! The test kit's pull plug and driver check, besides "no panic": one `Finished` and nothing
//! after it; writes to a blob's temporary file are sequential; a `Commit`ted blob's bytes
//! match its digest; a finished pull has every blob of its images committed or already
//! present; progress adds up; no request id is reused while in flight; inputs about unknown
//! ids are refused; no due timer survives a timeout; the pull never waits with nothing in
//! flight and no timer.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use tug_core::pull::{PullConfig, PullPlan};
use tug_core::{Digest, Platform};
use tug_fuzz::play::{play, wind_down, PACE};
use tug_fuzz::script::Script;
use tug_sansio_kit::ops::pull::PullPlug;
use tug_sansio_kit::Driver;

fuzz_target!(|data: &[u8]| {
    let script = Script::parse(data);
    let setup = &script.setup;
    let have: Vec<Digest> = setup.have.iter().filter_map(|h| h.parse().ok()).collect();
    let plan = PullPlan {
        registry: setup.registry.clone(),
        repository: setup.repository.clone(),
        reference: setup.reference.clone(),
        platform: setup
            .platform
            .parse::<Platform>()
            .unwrap_or_else(|_| Platform::from_rust("linux", "x86_64")),
        all_platforms: setup.all_platforms,
        have,
        manifests_only: setup.manifests_only,
        // Half the runs hold a single image to the platform (its config read first).
        platform_required: setup.seed % 2 == 1,
    };
    let config = PullConfig {
        registry: setup.registry_config(),
        transfer: setup.transfer_config(),
    };
    let mut model = setup.model();
    let plug = PullPlug::new(plan, config, HashMap::new());
    let mut driver = Driver::new(plug, vec![&mut model]).pace(PACE);
    play(&mut driver, setup, &script.actions);
    wind_down(&mut driver, "pull");
    if tug_fuzz::verbose() {
        let summary = driver.result.as_ref().unwrap().as_ref().map(|r| {
            format!(
                "{} image(s), {} blob(s) downloaded, {} skipped, {} retries",
                r.images.len(),
                r.blobs_downloaded,
                r.blobs_skipped,
                r.retries
            )
        });
        tug_fuzz::describe("pull", &summary);
    }
    if let Some(Err(e)) = &driver.result {
        let _ = e.to_string();
    }
    for e in &driver.plug.events {
        let _ = format!("{e:?}");
    }
    driver.check_after_finished();
});
