//! The lines that describe one image, the same for an image file and a registry image.

use std::fmt::Display;

use crate::output::outln;
use crate::progress::bytes;

/// A manifest or index as shown: digest, media type, length.
pub struct Shown<'a> {
    pub digest: &'a dyn Display,
    pub media_type: &'a str,
    pub len: usize,
}

/// A blob as shown: digest, size, media type.
pub struct Blob<'a> {
    pub digest: &'a dyn Display,
    pub size: u64,
    pub media_type: &'a str,
}

/// Everything the lines of one image name.
pub struct ImageLines<'a> {
    pub platform: Option<String>,
    pub index: Option<Shown<'a>>,
    pub manifest: Shown<'a>,
    pub config: Blob<'a>,
    pub layers: Vec<Blob<'a>>,
}

impl ImageLines<'_> {
    /// Config and layers together.
    pub fn total(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// Prints the image's lines (after its `image N: …` heading), its total last.
    pub fn print(&self) {
        if let Some(platform) = &self.platform {
            outln!("  platform {platform}");
        }
        if let Some(index) = &self.index {
            outln!(
                "  index    {} {} ({} bytes)",
                index.digest,
                index.media_type,
                index.len
            );
        }
        outln!(
            "  manifest {} {} ({} bytes)",
            self.manifest.digest,
            self.manifest.media_type,
            self.manifest.len
        );
        outln!(
            "  config   {} {}",
            self.config.digest,
            bytes(self.config.size)
        );
        for (j, layer) in self.layers.iter().enumerate() {
            outln!(
                "  layer {:>2} {} {:>10} {}",
                j + 1,
                layer.digest,
                bytes(layer.size),
                layer.media_type
            );
        }
        outln!("  total    {}", bytes(self.total()));
    }
}
