//! A `Fetch` (the source side of `tug copy`: ranged blob reads) driven by a script of
//! registry responses (see `fuzz/src/script.rs`). `open` / `close` lines start and drop
//! streams of byte ranges; the other actions answer its ranged `GET`s as the registry model
//! would (206 + Content-Range, 416, redirects to storage, Basic or Bearer auth), with
//! changes (status, Content-Range, Location, ...), byte by byte, or break them. When the
//! actions run out, every request in flight fails for good and timers fire, so every stream
//! must end or fail within a bound.
//!
//! The test kit's fetch plug and driver check, besides "no panic": each stream gets at most its range's length in `Data`, then
//! exactly one `End` (after exactly that many bytes) or `Failed`, and nothing after that or
//! after `close`; while only the model answered (connections may break, the clock may
//! jump), the bytes are the blob's own bytes at the right offsets; no request id is reused
//! while in flight; inputs about unknown ids are refused; no due timer survives
//! a timeout; the fetch never waits for a stream with nothing in flight and no timer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_core::fetch::StreamId;
use tug_core::pull::PullConfig;
use tug_core::Digest;
use tug_fuzz::play::{act, FINISH_BOUND, PACE};
use tug_fuzz::script::{Action, BlobRef, Script};
use tug_sansio_kit::ops::fetch::{FetchPlug, Until};
use tug_sansio_kit::Driver;

/// Most streams opened by one input.
const MAX_STREAMS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let script = Script::parse(data);
    let setup = &script.setup;
    let config = PullConfig {
        registry: setup.registry_config(),
        transfer: setup.transfer_config(),
    };
    let mut model = setup.model();
    let plug = FetchPlug::new(
        &setup.registry,
        &setup.repository,
        &config.registry,
        Until::Never,
    );
    let mut driver = Driver::new(plug, vec![&mut model]).pace(PACE);
    let mut opened: Vec<StreamId> = Vec::new();
    for action in &script.actions {
        if !act(&mut driver, setup, action) {
            match action {
                Action::Open { blob, start, end } if opened.len() < MAX_STREAMS => {
                    let blobs = &setup.blobs;
                    let (digest, bytes) = match blob {
                        BlobRef::Index(i) if !blobs.is_empty() => {
                            let b = &blobs[i % blobs.len()];
                            (Digest::sha256_of(b), Some(b.clone()))
                        }
                        BlobRef::Index(_) => (Digest::sha256_of(b""), None),
                        BlobRef::Digest(d) => (
                            d.clone(),
                            blobs.iter().find(|b| Digest::sha256_of(b) == *d).cloned(),
                        ),
                    };
                    opened.push(driver.plug.open(&digest, *start, *end, bytes));
                    driver.drain();
                }
                Action::Close(n) if !opened.is_empty() => {
                    let id = opened[*n as usize % opened.len()];
                    driver.plug.close(id);
                    driver.drain();
                }
                _ => {}
            }
        }
        driver.check_live();
    }
    for _ in 0..FINISH_BOUND {
        if driver.plug.open_count() == 0 || !driver.wind_down_step() {
            break;
        }
    }
    assert_eq!(
        driver.plug.open_count(),
        0,
        "liveness: streams neither ended nor failed within {FINISH_BOUND} wind-down steps"
    );
    for (_, error) in &driver.plug.failed {
        tug_fuzz::describe::<(), _>("stream", &Err(error));
    }
});
