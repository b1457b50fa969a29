//! One target per image: a sync whose sources map two different images to one target tag
//! would put each over the other on every run and never settle, so such images fail, naming
//! each other; the same source listed twice (overlapping pages, a source given twice) is
//! one image.

use std::collections::{HashMap, HashSet};

use super::places::SyncImage;

/// What the plan does with one image, by the others going to its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetCheck {
    /// The only image going there.
    Keep,
    /// The same source and target as an earlier image: left out.
    Repeated,
    /// Another source goes to the same target: why it fails.
    Clash(String),
}

/// The check of each of `images`, in order.
pub fn check_targets<'a>(images: impl IntoIterator<Item = &'a SyncImage>) -> Vec<TargetCheck> {
    let images: Vec<&SyncImage> = images.into_iter().collect();
    let mut sources: HashMap<String, Vec<String>> = HashMap::new();
    for image in &images {
        let list = sources.entry(image.target.to_string()).or_default();
        let source = image.source.to_string();
        if !list.contains(&source) {
            list.push(source);
        }
    }
    let mut seen: HashSet<(String, String)> = HashSet::new();
    images
        .iter()
        .map(|image| {
            let (source, target) = (image.source.to_string(), image.target.to_string());
            let others: Vec<&str> = sources[&target]
                .iter()
                .map(String::as_str)
                .filter(|s| *s != source)
                .collect();
            if !others.is_empty() {
                return TargetCheck::Clash(format!(
                    "{target} is also the target of {}: two sources cannot sync into one \
                     tag (give each its own destination prefix)",
                    others.join(", ")
                ));
            }
            match seen.insert((source, target)) {
                true => TargetCheck::Keep,
                false => TargetCheck::Repeated,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn image(source: &str, target: &str) -> SyncImage {
        SyncImage {
            source: source.parse().unwrap(),
            target: target.parse().unwrap(),
        }
    }

    #[test]
    fn two_sources_into_one_tag_both_fail_naming_each_other() {
        let images = [
            image("a.example/team/app:1", "d.example/team/app:1"),
            image("b.example/team/app:1", "d.example/team/app:1"),
            image("a.example/team/app:2", "d.example/team/app:2"),
        ];
        let checks = check_targets(&images);
        match (&checks[0], &checks[1]) {
            (TargetCheck::Clash(first), TargetCheck::Clash(second)) => {
                assert!(first.contains("b.example/team/app:1"), "{first}");
                assert!(second.contains("a.example/team/app:1"), "{second}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(checks[2], TargetCheck::Keep);
    }

    #[test]
    fn the_same_source_twice_is_one_image() {
        let images = [
            image("a.example/team/app:1", "d.example/team/app:1"),
            image("a.example/team/app:1", "d.example/team/app:1"),
        ];
        assert_eq!(
            check_targets(&images),
            [TargetCheck::Keep, TargetCheck::Repeated]
        );
    }
}
