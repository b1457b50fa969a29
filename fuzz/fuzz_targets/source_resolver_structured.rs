//! A structured image source: a few files (OCI layout files, blobs under their real digests,
//! docker-save `manifest.json`, configs with diffIDs, links) whose documents reference each
//! other with real digests and sizes, built from the input with `arbitrary`.
//!
//! The same files are resolved as an OCI layout directory (`SourceResolver::for_directory`,
//! answering ReadFile / Stat from a path → bytes map) and as a tar archive written in memory
//! (`SourceResolver::for_tar`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_fuzz::structured::{as_directory, as_tar, SourceSpec};
use tug_fuzz::{describe, resolve_dir, resolve_tar};

fn summary(c: tug_core::archive::SourceContents) -> String {
    format!("{:?}: {} image(s)", c.format, c.images.len())
}

fuzz_target!(|spec: SourceSpec| {
    describe("dir", &resolve_dir(&as_directory(&spec)).map(summary));
    describe("tar", &resolve_tar(&as_tar(&spec)).map(summary));
});
