//! Arbitrary bytes as a tar image source (docker save, classic or Docker 25+, or an OCI
//! archive) through `SourceResolver::for_tar`, every `ReadAt` answered from the bytes.
//!
//! Each input is resolved as is, and again with its header checksums fixed (see the
//! `tar_index` target), so mutations of seed archives get past the tar layer and reach the
//! manifest, config and layout readers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_fuzz::{describe, index_tar, resolve_tar};

fn summary(c: tug_core::archive::SourceContents) -> String {
    format!("{:?}: {} image(s)", c.format, c.images.len())
}

fuzz_target!(|data: &[u8]| {
    describe("raw", &resolve_tar(data).map(summary));
    let mut sealed = data.to_vec();
    let _ = index_tar(&mut sealed, data.len() as u64, true);
    if sealed != data {
        describe("sealed", &resolve_tar(&sealed).map(summary));
    }
});
