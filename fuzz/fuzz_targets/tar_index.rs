//! Arbitrary bytes as a tar file, read by `TarIndexer` the way a runner drives it: every read
//! it asks for is answered from the bytes (short at end of file), until it is done or fails.
//!
//! Each input is indexed three ways:
//! 1. as is;
//! 2. with every header block's checksum fixed as it is read, so mutated headers reach the
//!    field, PAX and long-name parsers instead of failing the checksum;
//! 3. as a file that claims to be longer than it is (it shrank while being read), so reads at
//!    the end come back short.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_fuzz::{describe, index_tar};

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let mut file = data.to_vec();
    describe("raw", &index_tar(&mut file, len, false).map(|i| i.len()));
    let mut sealed = data.to_vec();
    describe(
        "sealed",
        &index_tar(&mut sealed, len, true).map(|i| i.len()),
    );
    let claimed = len + 1 + (len % 2048);
    describe(
        "shrunk",
        &index_tar(&mut sealed, claimed, false).map(|i| i.len()),
    );
});
