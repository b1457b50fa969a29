//! Choosing one image from a source that may hold several (`--image NAME`).
//!
//! Entries that name the same image (two tags on one manifest, or on one index) count once:
//! no choice is needed between them.

use super::error::ArchiveError;
use super::image::{ManifestBytes, ResolvedImage, Selection, SourceContents};

/// A digest prefix names an image from this many hex characters on (`tug images` shows 12):
/// a shorter one would name one by chance, or be a position (`04`).
pub const MIN_DIGEST_PREFIX: usize = 6;

impl SourceContents {
    /// Pick one image: by name (`--image NAME`, match a name exactly or with a missing
    /// `:latest`, or by a digest prefix / index position "0","1"); None → the only image, or
    /// an error listing the choices when there are several.
    ///
    /// Names also match without a `docker.io/` or `docker.io/library/` prefix; digest prefixes
    /// (with or without `sha256:`) match the manifest digest or the config digest (the image
    /// ID Docker shows).
    pub fn select(&self, wanted: Option<&str>) -> Result<&ResolvedImage, ArchiveError> {
        let candidates = self.runnable(self.distinct(self.candidates(wanted)?));
        self.one_of(&candidates)
    }

    /// `candidates` without attestation manifests, unless that leaves none.
    fn runnable(&self, candidates: Vec<usize>) -> Vec<usize> {
        let run: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| self.images.get(i).is_some_and(|img| !img.attestation))
            .collect();
        match run.is_empty() {
            true => candidates,
            false => run,
        }
    }

    /// Like [`SourceContents::select`], but a name shared by every image of one
    /// multi-platform index selects the whole index (to push every platform, then the index;
    /// or to load it into a store).
    ///
    /// An index whose manifests the source does not all hold (a Docker save of one platform
    /// of it) cannot be pushed whole: a registry refuses an index naming manifests it lacks.
    /// Its one runnable image is pushed alone then.
    pub fn select_for_push(&self, wanted: Option<&str>) -> Result<Selection<'_>, ArchiveError> {
        let candidates = self.distinct(self.candidates(wanted)?);
        // One manifest both on its own and in an index (a digest prefix names both): the
        // manifest on its own is what was asked for, and the same image either way.
        let standalone = candidates.iter().find_map(|&i| {
            let img = self.images.get(i)?;
            let same = |&j: &usize| {
                self.images
                    .get(j)
                    .is_some_and(|o| o.manifest.digest == img.manifest.digest)
            };
            (img.index.is_none() && candidates.iter().all(same)).then_some(img)
        });
        if let Some(img) = standalone {
            return Ok(Selection::Image(img));
        }
        if let [only] = self.runnable(candidates.clone()).as_slice() {
            // Asked for alone (by its position or its own digest), or the one image of an
            // index the source does not hold whole. An index of one image the source holds
            // whole, named or the only thing there, is pushed as the index it is (podman's
            // `manifest push --all` of a one-platform list, as skopeo `--all` keeps it).
            let img = self.images.get(*only);
            let alone = (candidates.len() == 1 && self.picks_one_image(wanted))
                || img
                    .and_then(|img| img.index.as_ref())
                    .is_none_or(|index| !self.holds_all_of(index));
            if let (Some(img), true) = (img, alone) {
                return Ok(Selection::Image(img));
            }
        }
        let first = candidates.first().and_then(|&i| self.images.get(i));
        let index = first.and_then(|img| img.index.as_ref());
        let contiguous = candidates.windows(2).all(|w| w[1] == w[0] + 1);
        if let (Some(index), Some(&start), true) = (index, candidates.first(), contiguous) {
            let end = start + candidates.len();
            let same =
                |img: &ResolvedImage| img.index.as_ref().is_some_and(|i| i.digest == index.digest);
            let whole = self.distinct(self.matching(same)).len() == candidates.len();
            if let Some(images) = self.images.get(start..end) {
                if whole && images.iter().all(same) && self.holds_all_of(index) {
                    return Ok(Selection::Index { index, images });
                }
            }
        }
        Err(self.ambiguous(&candidates))
    }

    /// [`SourceContents::select_for_push`] narrowed to `platform`'s image (`--platform`):
    /// also where the choice alone would be ambiguous (platforms of an index the source does
    /// not hold whole), when exactly one of the images to choose from is for `platform`.
    pub fn select_for_platform(
        &self,
        wanted: Option<&str>,
        platform: &crate::platform::Platform,
    ) -> Result<Selection<'_>, ArchiveError> {
        match self.select_for_push(wanted) {
            Ok(selection) => selection.for_platform(platform),
            Err(e @ ArchiveError::AmbiguousImage { .. }) => {
                let candidates = self.distinct(self.candidates(wanted)?);
                let fits = |img: &ResolvedImage| {
                    !img.attestation && img.platform.as_ref().is_some_and(|p| platform.matches(p))
                };
                let fitting: Vec<&ResolvedImage> = candidates
                    .iter()
                    .filter_map(|&i| self.images.get(i))
                    .filter(|img| fits(img))
                    .collect();
                // One that serves the platform; of two, the one that is exactly it.
                let exact = fitting
                    .iter()
                    .filter(|img| img.platform.as_ref() == Some(platform))
                    .count();
                // Said of the images it is about, by position: none of them serves the
                // platform (each listed with its own), or the several that do.
                let choices = self.choices();
                let said = |keep: &dyn Fn(&ResolvedImage) -> bool| -> Vec<String> {
                    candidates
                        .iter()
                        .filter(|&&i| self.images.get(i).is_some_and(keep))
                        .filter_map(|&i| {
                            let img = &self.images[i];
                            let choice = choices.get(i)?;
                            Some(match (&img.index, &img.platform) {
                                (None, Some(p)) => format!("{choice} for {p}"),
                                (None, None) => format!("{choice} for no platform"),
                                _ => choice.clone(),
                            })
                        })
                        .collect()
                };
                match (fitting.as_slice(), exact) {
                    ([one], _) => Ok(Selection::Image(one)),
                    (_, 1) => platform
                        .choose(fitting.iter().copied(), |img| img.platform.as_ref())
                        .map(Selection::Image)
                        .ok_or(e),
                    ([], _) => Err(ArchiveError::ImageNotFound {
                        requested: format!("for platform {platform}"),
                        available: said(&|img| !img.attestation),
                    }),
                    _ => Err(ArchiveError::AmbiguousImage {
                        available: said(&fits),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Everything the source names, in order, each as a whole: a single image, or the
    /// platforms of one index under one name (what `tug load` stores under each name).
    pub fn entries(&self) -> Vec<Selection<'_>> {
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(first) = self.images.get(start) {
            let Some(index) = &first.index else {
                out.push(Selection::Image(first));
                start += 1;
                continue;
            };
            let mut end = start + 1;
            while let Some(next) = self.images.get(end) {
                let same_entry = next.index.as_ref().map(|i| &i.digest) == Some(&index.digest)
                    && next.names == first.names
                    && !self.images[start..end]
                        .iter()
                        .any(|seen| seen.manifest.digest == next.manifest.digest);
                if !same_entry {
                    break;
                }
                end += 1;
            }
            out.push(Selection::Index {
                index,
                images: &self.images[start..end],
            });
            start = end;
        }
        out
    }

    /// `candidates` without the images that repeat an earlier one: the same manifest in
    /// the same index (or in none), listed again under another name.
    fn distinct(&self, candidates: Vec<usize>) -> Vec<usize> {
        let key = |i: usize| {
            self.images
                .get(i)
                .map(|img| (&img.manifest.digest, img.index.as_ref().map(|x| &x.digest)))
        };
        let mut out: Vec<usize> = Vec::new();
        for i in candidates {
            if !out.iter().any(|&seen| key(seen) == key(i)) {
                out.push(i);
            }
        }
        out
    }

    /// The images `wanted` names (all of them when `wanted` is `None`).
    /// Whether `wanted` names one image by what only it has (a position, as `tug inspect`
    /// numbers them, or its manifest's or config's digest), not by a name or an index's
    /// digest it shares with the other images of its index.
    fn picks_one_image(&self, wanted: Option<&str>) -> bool {
        let Some(wanted) = wanted.map(str::trim) else {
            return false;
        };
        let by_name = |img: &ResolvedImage| {
            let wanted_ref = normalise_reference(wanted);
            img.names
                .iter()
                .any(|n| n == wanted || normalise_reference(n) == wanted_ref)
        };
        if self.images.iter().any(by_name) {
            return false;
        }
        let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
        let position = wanted.strip_prefix('@').unwrap_or(wanted);
        let is_position = !position.is_empty() && position.bytes().all(|b| b.is_ascii_digit());
        is_position
            || (hex.len() >= MIN_DIGEST_PREFIX
                && self.images.iter().any(|img| {
                    img.manifest.digest.hex().starts_with(hex)
                        || img.config.digest.hex().starts_with(hex)
                }))
    }

    fn candidates(&self, wanted: Option<&str>) -> Result<Vec<usize>, ArchiveError> {
        let Some(wanted) = wanted.map(str::trim) else {
            if self.images.is_empty() {
                return Err(self.not_found("(any image)"));
            }
            return Ok((0..self.images.len()).collect());
        };

        let exact = self.matching(|img| img.names.iter().any(|n| n == wanted));
        if !exact.is_empty() {
            return Ok(exact);
        }
        let wanted_ref = normalise_reference(wanted);
        let loose = self.matching(|img| {
            img.names
                .iter()
                .any(|n| normalise_reference(n) == wanted_ref)
        });
        if !loose.is_empty() {
            return Ok(loose);
        }
        // A position, as `tug inspect` numbers images (skopeo's `docker-archive:PATH:@N`).
        let position = wanted.strip_prefix('@').unwrap_or(wanted);
        if !position.is_empty() && position.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(i) = position
                .parse::<usize>()
                .ok()
                .filter(|&i| i < self.images.len())
            {
                return Ok(vec![i]);
            }
        }
        let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
        let hex_only = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex.len() >= MIN_DIGEST_PREFIX && hex_only {
            let by_digest = self.matching(|img| {
                img.manifest.digest.hex().starts_with(hex)
                    || img.config.digest.hex().starts_with(hex)
            });
            if !by_digest.is_empty() {
                return Ok(by_digest);
            }
            let by_index = self.matching(|img| {
                img.index
                    .as_ref()
                    .is_some_and(|i| i.digest.hex().starts_with(hex))
            });
            if !by_index.is_empty() {
                return Ok(by_index);
            }
        }
        Err(self.not_found(wanted))
    }

    /// One line per image for messages and pickers: `0: busybox:latest (sha256:0123456789ab)`.
    pub fn choices(&self) -> Vec<String> {
        self.images
            .iter()
            .enumerate()
            .map(|(i, img)| match (&img.index, &img.platform) {
                // Platforms of one index share their names: the platform tells them apart.
                (Some(_), Some(p)) => format!("{i}: {} for {p}", img.describe()),
                _ => format!("{i}: {}", img.describe()),
            })
            .collect()
    }

    /// Whether the source holds every manifest `index` names (as images of it).
    fn holds_all_of(&self, index: &ManifestBytes) -> bool {
        let Ok(crate::manifest::Parsed::Index { manifests }) =
            crate::manifest::parse(&index.media_type, &index.bytes)
        else {
            return false;
        };
        manifests.iter().all(|child| {
            self.images.iter().any(|img| {
                img.manifest.digest == child.digest
                    && img.index.as_ref().is_some_and(|i| i.digest == index.digest)
            })
        })
    }

    fn matching(&self, pred: impl Fn(&ResolvedImage) -> bool) -> Vec<usize> {
        (0..self.images.len())
            .filter(|&i| self.images.get(i).is_some_and(&pred))
            .collect()
    }

    fn one_of(&self, candidates: &[usize]) -> Result<&ResolvedImage, ArchiveError> {
        match candidates {
            [only] => self
                .images
                .get(*only)
                .ok_or_else(|| self.not_found("(any image)")),
            _ => Err(self.ambiguous(candidates)),
        }
    }

    fn ambiguous(&self, candidates: &[usize]) -> ArchiveError {
        let choices = self.choices();
        ArchiveError::AmbiguousImage {
            available: candidates
                .iter()
                .filter_map(|&i| choices.get(i).cloned())
                .collect(),
        }
    }

    fn not_found(&self, requested: &str) -> ArchiveError {
        ArchiveError::ImageNotFound {
            requested: requested.to_owned(),
            available: self.choices(),
        }
    }
}

impl ResolvedImage {
    /// A one-line description: its names (or `<unnamed>`) and short manifest digest.
    pub fn describe(&self) -> String {
        let names = if self.names.is_empty() {
            "<unnamed>".to_owned()
        } else {
            self.names.join(", ")
        };
        format!("{names} (sha256:{})", self.manifest.digest.short())
    }
}

/// Canonical spelling of an image reference for loose matching: no `docker.io/library/` or
/// `docker.io/` prefix, and `:latest` added when there is no tag or digest.
fn normalise_reference(name: &str) -> String {
    let short = [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ]
    .iter()
    .find_map(|p| name.strip_prefix(p))
    .unwrap_or(name);
    let last = short.rsplit('/').next().unwrap_or(short);
    if last.contains(':') || short.contains('@') {
        short.to_owned()
    } else {
        format!("{short}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn normalises_references() {
        assert_eq!(normalise_reference("busybox"), "busybox:latest");
        assert_eq!(
            normalise_reference("docker.io/library/busybox:1"),
            "busybox:1"
        );
        assert_eq!(
            normalise_reference("localhost:5000/a/b"),
            "localhost:5000/a/b:latest"
        );
        assert_eq!(normalise_reference("a@sha256:00"), "a@sha256:00");
    }
}
