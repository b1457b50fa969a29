//! Which manifest of a stored image an export writes: the image as it is, or, with a
//! platform named, the index's manifest for that platform. A `docker save` tar holds one
//! platform, so an index going into one needs a platform, unless the store holds only one
//! of its platforms (Docker's containerd store saves the whole index with the platforms it
//! pulled); an OCI archive keeps the index.

use super::stored_image::is_runnable;
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};
use crate::platform::Platform;

/// What an export writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportChoice {
    /// The stored manifest or index as it is.
    Whole,
    /// The index's manifest for the platform named.
    Platform(Descriptor),
}

/// Why an export cannot be made as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportRefusal {
    /// An index going into an archive of one platform, with no platform named: these are
    /// the platforms the store holds, to choose from.
    NeedsPlatform(Vec<String>),
    /// The image has no such platform, or its manifest is not one: what is wrong.
    Input(String),
}

/// What exporting image `name` (manifest `digest` of `media_type`, `bytes`) writes, with
/// `platform` if named, into an archive of `one_platform` only or not. `read` reads a blob
/// of the store (`None`: not there): a single image's platform is its config's, and an
/// index's platforms are those whose manifests the store holds.
pub fn choose_export(
    name: &str,
    (digest, media_type, bytes): (&Digest, &str, &[u8]),
    read: impl Fn(&Digest) -> Option<Vec<u8>>,
    platform: Option<&Platform>,
    one_platform: bool,
) -> Result<ExportChoice, ExportRefusal> {
    let children = match manifest::parse(media_type, bytes) {
        Ok(Parsed::Index { manifests }) => manifests,
        Ok(Parsed::Image {
            config: descriptor, ..
        }) => {
            // A single image: a platform named must be its own.
            let declared = read(&descriptor.digest).and_then(|c| Platform::from_config(&c));
            return match (platform, declared) {
                (Some(want), Some(have)) if !want.matches(&have) => Err(ExportRefusal::Input(
                    format!("{name} is an image for {have} only, not {want}"),
                )),
                _ => Ok(ExportChoice::Whole),
            };
        }
        Err(e) => return Err(ExportRefusal::Input(format!("manifest {digest}: {e}"))),
    };
    let (held, lacked): (Vec<Descriptor>, Vec<Descriptor>) = children
        .iter()
        .cloned()
        .partition(|child| read(&child.digest).is_some());
    let runnable: Vec<Descriptor> = held.iter().filter(|c| is_runnable(c)).cloned().collect();
    let Some(platform) = platform else {
        return match (one_platform, runnable.as_slice()) {
            (false, _) => Ok(ExportChoice::Whole),
            // The only platform there is, or the store holds (a partial save).
            (true, [only]) => Ok(ExportChoice::Platform(only.clone())),
            (true, []) => Err(ExportRefusal::Input(format!(
                "the store holds none of {name}'s platforms ({})",
                manifest::platforms_listed(&children)
            ))),
            (true, _) => Err(ExportRefusal::NeedsPlatform(manifest::platforms_of(
                &runnable,
            ))),
        };
    };
    match manifest::entry_for(&children, platform) {
        Some(child) if lacked.contains(child) => Err(ExportRefusal::Input(format!(
            "{name}'s index lists {platform}, but the store does not hold its image (a \
             `docker save` of some platforms only); it holds: {}",
            manifest::platforms_listed(&runnable)
        ))),
        Some(child) => Ok(ExportChoice::Platform(child.clone())),
        None => Err(ExportRefusal::Input(format!(
            "{name} has no image for platform {platform}; it has: {}",
            manifest::platforms_listed(&children)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};

    fn digest(text: &str) -> Digest {
        Digest::sha256_of(text.as_bytes())
    }

    fn index() -> Vec<u8> {
        index_of(&["linux/amd64", "linux/arm64"])
    }

    /// An index of one entry per platform, each entry's digest that of its platform's name.
    fn index_of(platforms: &[&str]) -> Vec<u8> {
        let entry = |platform: &&str| {
            let (os, arch) = platform.split_once('/').unwrap();
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": digest(arch).to_string(),
                "size": 10, "platform": {"os": os, "architecture": arch}})
        };
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": platforms.iter().map(entry).collect::<Vec<_>>()}),
        )
        .unwrap()
    }

    fn image() -> Vec<u8> {
        let blob = |text: &str, media_type: &str| serde_json::json!({"mediaType": media_type, "digest": digest(text).to_string(), "size": 2});
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": blob("config", "application/vnd.oci.image.config.v1+json"),
            "layers": [blob("layer", "application/vnd.oci.image.layer.v1.tar")]}),
        )
        .unwrap()
    }

    fn arm64() -> Platform {
        "linux/arm64".parse().unwrap()
    }

    #[test]
    fn an_index_gives_the_platform_named_or_all_of_it_where_an_archive_holds_all() {
        let bytes = index();
        let held = |d: &Digest| {
            [digest("amd64"), digest("arm64")]
                .contains(d)
                .then(Vec::new)
        };
        let of = |platform: Option<&Platform>, one| {
            let manifest = (&digest("index"), OCI_INDEX, bytes.as_slice());
            choose_export("app:1", manifest, held, platform, one)
        };
        let Ok(ExportChoice::Platform(child)) = of(Some(&arm64()), true) else {
            panic!("{:?}", of(Some(&arm64()), true))
        };
        assert_eq!(child.digest, digest("arm64"));
        assert_eq!(of(None, false), Ok(ExportChoice::Whole));
        assert_eq!(
            of(None, true),
            Err(ExportRefusal::NeedsPlatform(vec![
                "linux/amd64".into(),
                "linux/arm64".into()
            ]))
        );
        let s390x: Platform = "linux/s390x".parse().unwrap();
        let Err(ExportRefusal::Input(message)) = of(Some(&s390x), false) else {
            panic!()
        };
        assert!(
            message.contains(
                "app:1 has no image for platform linux/s390x; it has: linux/amd64, linux/arm64"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_partial_index_goes_whole_into_an_oci_archive_and_as_its_held_platform_into_a_docker_one() {
        // Docker 27's containerd store saves every platform's entry, and one image.
        let bytes = index_of(&["linux/amd64", "linux/arm64", "unknown/unknown"]);
        let of = |held: &[&str], platform: Option<&Platform>, one| {
            let held: Vec<Digest> = held.iter().map(|a| digest(a)).collect();
            let manifest = (&digest("index"), OCI_INDEX, bytes.as_slice());
            let read = |d: &Digest| held.contains(d).then(Vec::new);
            choose_export("app:1", manifest, read, platform, one)
        };
        assert_eq!(of(&["amd64"], None, false), Ok(ExportChoice::Whole));
        let Ok(ExportChoice::Platform(child)) = of(&["amd64"], None, true) else {
            panic!("{:?}", of(&["amd64"], None, true))
        };
        assert_eq!(child.digest, digest("amd64"));
        // An attestation is not an image to run: the one runnable platform is taken.
        let Ok(ExportChoice::Platform(child)) = of(&["amd64", "unknown"], None, true) else {
            panic!()
        };
        assert_eq!(child.digest, digest("amd64"));
        assert_eq!(
            of(&["amd64", "arm64", "unknown"], None, true),
            Err(ExportRefusal::NeedsPlatform(vec![
                "linux/amd64".into(),
                "linux/arm64".into()
            ]))
        );
        assert_eq!(
            of(&["amd64"], Some(&arm64()), true),
            Err(ExportRefusal::Input(
                "app:1's index lists linux/arm64, but the store does not hold its image (a \
                 `docker save` of some platforms only); it holds: linux/amd64"
                    .into()
            ))
        );
        let Err(ExportRefusal::Input(none)) = of(&["unknown"], None, true) else {
            panic!()
        };
        assert!(
            none.starts_with("the store holds none of app:1's platforms"),
            "{none}"
        );
    }

    #[test]
    fn a_single_image_is_written_whole_unless_its_config_names_another_platform() {
        let bytes = image();
        let config = br#"{"os": "linux", "architecture": "amd64"}"#.to_vec();
        let of = |platform: Option<&Platform>| {
            let manifest = (&digest("image"), OCI_MANIFEST, bytes.as_slice());
            let read = |d: &Digest| (*d == digest("config")).then(|| config.clone());
            choose_export("app:1", manifest, read, platform, true)
        };
        assert_eq!(of(None), Ok(ExportChoice::Whole));
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(of(Some(&amd64)), Ok(ExportChoice::Whole));
        assert_eq!(
            of(Some(&arm64())),
            Err(ExportRefusal::Input(
                "app:1 is an image for linux/amd64 only, not linux/arm64".into()
            ))
        );
        let garbage = choose_export(
            "app:1",
            (&digest("x"), OCI_MANIFEST, b"{"),
            |_| None,
            None,
            true,
        );
        assert!(
            matches!(garbage, Err(ExportRefusal::Input(m)) if m.starts_with("manifest sha256:"))
        );
    }
}
