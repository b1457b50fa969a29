//! Choosing a platform's image from an index none of whose entries names it, among the
//! entries that name no platform (valid OCI): tried in order, the first whose config serves
//! the platform (or names none, as a single image's may) is the image. A pull and
//! `tug manifest --platform` search alike, and say alike when none serves.

use std::collections::VecDeque;

use crate::error::Error;
use crate::manifest::{self, Descriptor};
use crate::platform::Platform;

/// The search through an index's entries naming no platform, for the platform `want`.
#[derive(Clone, Debug)]
pub(crate) struct PlatformSearch {
    /// The index's reference (`registry/repository:tag`), for the message when none serves.
    name: String,
    want: Platform,
    /// The index's entries, for the message when none serves.
    entries: Vec<Descriptor>,
    untried: VecDeque<Descriptor>,
    /// The platforms the configs of those tried say.
    said: Vec<String>,
}

/// What an entry's config says of the platform searched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The image: the platform its config names, or the one asked for when it names none.
    Serves(Platform),
    /// Another platform's: the search goes on.
    Other,
}

impl PlatformSearch {
    /// The search through `entries`' entries naming no platform for `want`, in the index
    /// `name` (`registry/repository:tag`); when every entry names one, the error that the
    /// index has no image for `want`.
    pub(crate) fn of(
        entries: Vec<Descriptor>,
        want: &Platform,
        name: &str,
    ) -> Result<PlatformSearch, Error> {
        let untried: VecDeque<Descriptor> = entries
            .iter()
            .filter(|e| e.platform.is_none())
            .cloned()
            .collect();
        let search = PlatformSearch {
            name: name.to_owned(),
            want: want.clone(),
            entries,
            untried,
            said: Vec::new(),
        };
        match search.untried.is_empty() {
            true => Err(search.none_serves()),
            false => Ok(search),
        }
    }

    /// The next entry to try; `None` when all were tried.
    pub(crate) fn next(&mut self) -> Option<Descriptor> {
        self.untried.pop_front()
    }

    /// Judges a tried entry by its `config` (digest already checked), noting what it said.
    pub(crate) fn judge(&mut self, config: &[u8]) -> Verdict {
        match Platform::from_config(config) {
            Some(other) if !self.want.matches(&other) => {
                self.said.push(other.to_string());
                Verdict::Other
            }
            Some(serves) => Verdict::Serves(serves),
            None => Verdict::Serves(self.want.clone()),
        }
    }

    /// The error that the index has no image for the platform: the platforms it lists, and
    /// those the configs of its entries naming none said.
    pub(crate) fn none_serves(&self) -> Error {
        let mut has = manifest::platforms_listed(&self.entries);
        if !self.said.is_empty() {
            has.push_str(&format!(" (their configs say: {})", self.said.join(", ")));
        }
        Error::InvalidInput {
            message: format!(
                "{} has no image for platform {}; it has: {has}",
                self.name, self.want
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, platform: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: manifest::OCI_MANIFEST.into(),
            digest: crate::Digest::sha256_of(&[n]),
            size: 1,
            platform: platform.map(|p| p.parse().unwrap()),
            urls: Vec::new(),
        }
    }

    fn amd64() -> Platform {
        "linux/amd64".parse().unwrap()
    }

    #[test]
    fn entries_naming_no_platform_are_tried_in_order() {
        let entries = vec![
            entry(1, None),
            entry(2, Some("linux/arm64")),
            entry(3, None),
        ];
        let mut search = PlatformSearch::of(entries, &amd64(), "r:t").unwrap();
        assert_eq!(search.next().unwrap().digest, entry(1, None).digest);
        let arm = br#"{"os":"linux","architecture":"arm64"}"#;
        assert_eq!(search.judge(arm), Verdict::Other);
        assert_eq!(search.next().unwrap().digest, entry(3, None).digest);
        let amd = br#"{"os":"linux","architecture":"amd64"}"#;
        assert_eq!(search.judge(amd), Verdict::Serves(amd64()));
    }

    #[test]
    fn a_config_naming_no_platform_serves_the_one_asked_for() {
        let mut search = PlatformSearch::of(vec![entry(1, None)], &amd64(), "r:t").unwrap();
        search.next();
        assert_eq!(search.judge(b"{}"), Verdict::Serves(amd64()));
    }

    #[test]
    fn none_serving_says_what_the_configs_said() {
        let mut search = PlatformSearch::of(vec![entry(1, None)], &amd64(), "r:t").unwrap();
        search.next();
        search.judge(br#"{"os":"linux","architecture":"s390x"}"#);
        assert!(search.next().is_none());
        let message = search.none_serves().to_string();
        assert!(
            message.contains("r:t has no image for platform linux/amd64"),
            "{message}"
        );
        assert!(
            message.contains("their configs say: linux/s390x"),
            "{message}"
        );
    }

    #[test]
    fn an_index_whose_entries_all_name_platforms_has_nothing_to_search() {
        let entries = vec![entry(1, Some("linux/arm64"))];
        let message = PlatformSearch::of(entries, &amd64(), "r:t")
            .unwrap_err()
            .to_string();
        assert!(message.contains("it has: linux/arm64"), "{message}");
    }
}
