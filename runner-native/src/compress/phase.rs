//! The pass of `tug push --compress` on its own, before the push: for a dry run (which
//! sends nothing, so must learn the digests), or when every layer's digest is remembered
//! (nothing is compressed then). A real push compresses the other layers while it sends
//! them ([`super::stream`]).

use tug_core::archive::{ManifestBytes, ResolvedImage};

use super::cache::CompressCache;
use super::codec::Settings;
use super::first_pass::{FirstPass, Late};
use super::plan::{CompressedImages, PlainLayers};
use super::status::{show_progress, show_summary};
use crate::exit_code::CliError;
use crate::progress::{Display, ProgressMode};
use crate::source::Source;

/// Compresses (or recalls) the plain layers of `images` with `how`, `jobs` layers at once,
/// showing progress in `mode`: a pass on its own, nothing sent.
pub fn compress_layers(
    source: &Source,
    images: &[ResolvedImage],
    index: Option<&ManifestBytes>,
    how: Settings,
    jobs: usize,
    mode: ProgressMode,
) -> Result<CompressedImages, CliError> {
    let cache = CompressCache::new();
    let mut display = Display::new(mode, Vec::new());
    let result = std::thread::scope(|s| {
        let late = FirstPass {
            source,
            images,
            index,
            how,
            jobs,
            cache: &cache,
            layers: PlainLayers::new(images, how, &cache),
            measuring: Default::default(),
        }
        .start(s);
        loop {
            match late.recv_blocking() {
                Ok(Late::Progress(now)) => show_progress(&mut display, now),
                Ok(Late::Manifests {
                    how, done, elapsed, ..
                }) => {
                    show_summary(&mut display, how, &done, elapsed);
                    return Ok(*done);
                }
                Ok(Late::Failed(e)) => return Err(e),
                Err(_) => return Err(CliError::Input("the compressing threads stopped".into())),
            }
        }
    });
    display.finish();
    result
}
