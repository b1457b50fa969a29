//! Manifests and indexes as a registry serves them: media types, the `Accept` header, and a
//! lenient parser of the fields the core needs.

use serde::Deserialize;

use crate::digest::Digest;
use crate::platform::Platform;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (a list of manifests, e.g. one per platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker counterpart of the OCI index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` header of a manifest request: every type the core can read.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// Digest of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform, for index entries that have one.
    pub platform: Option<Platform>,
    /// Where a foreign (non-distributable) layer's bytes are, outside the registry
    /// ([`Descriptor::is_foreign`]).
    pub urls: Vec<String>,
}

impl Descriptor {
    /// Whether this is a foreign layer: one whose descriptor names `urls` to fetch it from
    /// (Windows base layers, non-distributable layers). As skopeo and crane do toward
    /// registries and layouts, tug never uploads or downloads one: the manifest keeps
    /// naming it, and whoever runs the image fetches it from its URLs.
    pub fn is_foreign(&self) -> bool {
        !self.urls.is_empty()
    }
}

/// A parsed manifest or index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An image manifest: a config and layers.
    Image {
        /// The config blob.
        config: Descriptor,
        /// The layer blobs, bottom first.
        layers: Vec<Descriptor>,
    },
    /// An index (manifest list): one manifest per platform.
    Index {
        /// The entries.
        manifests: Vec<Descriptor>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
}

/// The index entry that serves `platform`: the first one whose platform is exactly it (a
/// variant asked for wins over an entry that names none: `arm64/v8` over `arm64`, as
/// containerd and skopeo choose), else the first whose platform matches; else the index's
/// only entry when it names no platform (the `platform` field is optional: such an index
/// says nothing against it, and skopeo takes it too).
pub fn entry_for<'a>(entries: &'a [Descriptor], platform: &Platform) -> Option<&'a Descriptor> {
    let matching = platform.choose(entries, |e| e.platform.as_ref());
    match (matching, entries) {
        (Some(e), _) => Some(e),
        (None, [only]) if only.platform.is_none() => Some(only),
        _ => None,
    }
}

/// What an entry without a platform is called in messages.
pub const NO_PLATFORM: &str = "(no platform)";

/// The platforms index entries name, in order (for messages listing the choices); an
/// entry that names none is [`NO_PLATFORM`]. buildkit's attestations (`unknown/unknown`)
/// are no platform to choose: left out, unless they are all there is.
pub fn platforms_of(entries: &[Descriptor]) -> Vec<String> {
    let attestation = |e: &&Descriptor| {
        e.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    };
    let choosable: Vec<&Descriptor> = entries.iter().filter(|e| !attestation(e)).collect();
    let shown = match choosable.is_empty() {
        true => entries.iter().collect(),
        false => choosable,
    };
    shown
        .iter()
        .map(|e| match &e.platform {
            Some(p) => p.to_string(),
            None => NO_PLATFORM.to_owned(),
        })
        .collect()
}

/// The platforms of an index's entries for a message: the first [`PLATFORMS_SHOWN`], then
/// how many more (an index may list thousands).
pub fn platforms_listed(entries: &[Descriptor]) -> String {
    list_some(&platforms_of(entries))
}

/// The most platforms [`platforms_listed`] names.
pub const PLATFORMS_SHOWN: usize = 20;

fn list_some(all: &[String]) -> String {
    let shown = all[..all.len().min(PLATFORMS_SHOWN)].join(", ");
    match all.len().saturating_sub(PLATFORMS_SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Whether a media type names an index or manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The media type of a manifest: the body's own `mediaType` when it names a known type (the
/// body is what the digest covers; a server's `Content-Type` may say otherwise), else the
/// response's `Content-Type` (without parameters) when it names a known type, else a Docker
/// schema 1 type when the body is one ([`crate::schema1`]), else the body's `mediaType` as
/// it is, else what its fields show.
pub fn media_type_of(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let known = |t: &str| {
        [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ]
        .contains(&t)
    };
    let doc: Option<RawDoc> = serde_json::from_slice(body).ok();
    let declared = doc.as_ref().and_then(|d| d.media_type.clone());
    if let Some(t) = declared.as_deref().filter(|t| known(t)) {
        return Some(t.to_owned());
    }
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|c| known(c));
    if header.is_some() {
        return header;
    }
    if let Some(schema1) = crate::schema1::media_type(body) {
        return Some(schema1.to_owned());
    }
    let doc = doc?;
    declared.or_else(|| {
        Some(
            if doc.manifests.is_some() {
                OCI_INDEX
            } else {
                OCI_MANIFEST
            }
            .to_owned(),
        )
    })
}

/// What an artifact's manifest says it is (a signature, an SBOM, a Helm chart): its
/// `artifactType`, else its config's media type when that is no image config (the
/// referrers API's rule, less an image's own config type); `None` for an image.
pub fn artifact_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        artifact_type: Option<String>,
        config: Option<Config>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Config {
        media_type: Option<String>,
    }
    const IMAGE_CONFIGS: [&str; 2] = [
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    ];
    let doc: Doc = serde_json::from_slice(body).ok()?;
    doc.artifact_type.or_else(|| {
        doc.config
            .and_then(|c| c.media_type)
            .filter(|t| !IMAGE_CONFIGS.contains(&t.as_str()))
    })
}

/// [`parse`] of a manifest a registry served, while `action`: a Docker schema 1 manifest is
/// the image's form, which tug does not read (an input error saying so), anything else
/// unreadable is the registry's fault (a protocol error).
pub(crate) fn parse_served(
    action: &str,
    media_type: &str,
    body: &[u8],
) -> Result<Parsed, crate::error::Error> {
    if let Some(schema1) = crate::schema1::media_type(body) {
        return Err(crate::error::Error::InvalidInput {
            message: format!(
                "{action}: the image is a Docker schema 1 manifest ({schema1}), which tug does \
                 not read; push it again with a current tool (docker push, or skopeo copy \
                 --format v2s2)"
            ),
        });
    }
    parse(media_type, body).map_err(|message| crate::error::Error::Protocol {
        action: action.to_owned(),
        message,
    })
}

/// Parses a manifest or index; `Err` says what is wrong with it.
pub fn parse(media_type: &str, body: &[u8]) -> Result<Parsed, String> {
    let doc: RawDoc =
        serde_json::from_slice(body).map_err(|e| format!("not a valid manifest: {e}"))?;
    if doc.schema_version == Some(1) {
        return Err("Docker schema 1 manifests are not supported".into());
    }
    if is_index(media_type) {
        let manifests = doc.manifests.ok_or("the index has no manifests array")?;
        let manifests = manifests
            .into_iter()
            .enumerate()
            .map(|(i, d)| descriptor(d, &format!("manifests[{i}]"), OCI_MANIFEST))
            .collect::<Result<_, _>>()?;
        return Ok(Parsed::Index { manifests });
    }
    let known = [OCI_MANIFEST, DOCKER_MANIFEST].contains(&media_type);
    let no_config = match known {
        true => "the manifest has no config".to_owned(),
        false => format!(
            "the manifest has no config, and its media type {:?} is none tug reads (an OCI or \
             Docker image manifest or index)",
            crate::terminal_safe::terminal_safe(media_type)
        ),
    };
    let config = descriptor(
        doc.config.ok_or(no_config)?,
        "config",
        "application/vnd.oci.image.config.v1+json",
    )?;
    let layers = doc
        .layers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            descriptor(
                d,
                &format!("layers[{i}]"),
                "application/vnd.oci.image.layer.v1.tar",
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Parsed::Image { config, layers })
}

fn descriptor(raw: RawDescriptor, field: &str, default_type: &str) -> Result<Descriptor, String> {
    let digest = raw
        .digest
        .parse()
        .map_err(|e| format!("{field}.digest: {e}"))?;
    Ok(Descriptor {
        media_type: raw.media_type.unwrap_or_else(|| default_type.to_owned()),
        digest,
        size: raw.size,
        platform: raw.platform,
        urls: raw.urls.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_artifact_says_its_type_and_an_image_none() {
        let sbom = br#"{"schemaVersion":2,"artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json"}}"#;
        assert_eq!(
            artifact_type(sbom).as_deref(),
            Some("application/spdx+json")
        );
        let helm = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json"}}"#;
        assert_eq!(
            artifact_type(helm).as_deref(),
            Some("application/vnd.cncf.helm.config.v1+json")
        );
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}"#;
        assert_eq!(artifact_type(image), None);
        assert_eq!(artifact_type(b"not json"), None);
    }

    #[test]
    fn a_manifest_of_a_type_tug_does_not_read_is_named_by_its_type() {
        let weird = "application/vnd.example.weird.v1+json";
        let err = parse(weird, br#"{"schemaVersion":2,"mediaType":"x"}"#).unwrap_err();
        assert!(
            err.contains("\"application/vnd.example.weird.v1+json\" is none tug reads"),
            "{err}"
        );
        let err = parse(OCI_MANIFEST, br#"{"schemaVersion":2}"#).unwrap_err();
        assert_eq!(err, "the manifest has no config");
    }

    #[test]
    fn an_only_entry_without_a_platform_serves_any_and_is_named_in_lists() {
        let d = |platform: Option<&str>| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: crate::Digest::sha256_of(platform.unwrap_or("none").as_bytes()),
            size: 1,
            platform: platform.map(|p| p.parse().unwrap()),
            urls: Vec::new(),
        };
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let only = [d(None)];
        assert_eq!(entry_for(&only, &amd64), Some(&only[0]));
        let two = [d(None), d(Some("linux/arm64"))];
        assert_eq!(entry_for(&two, &amd64), None);
        assert_eq!(platforms_listed(&two), "(no platform), linux/arm64");
        // buildkit's attestations are no platform to choose, unless they are all there is.
        let buildx = [
            d(Some("linux/amd64")),
            d(Some("linux/arm64")),
            d(Some("unknown/unknown")),
        ];
        assert_eq!(platforms_listed(&buildx), "linux/amd64, linux/arm64");
        assert_eq!(platforms_listed(&buildx[2..]), "unknown/unknown");
        // `arm64/v8` asked for: the entry that says so wins over a plain `arm64` listed
        // first; `arm64` asked for takes the first that serves it.
        let arm = [d(Some("linux/arm64")), d(Some("linux/arm64/v8"))];
        let v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(entry_for(&arm, &v8), Some(&arm[1]));
        let plain: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(entry_for(&arm, &plain), Some(&arm[0]));
        assert_eq!(entry_for(&arm[..1], &v8), Some(&arm[0]));
    }

    #[test]
    fn a_long_platform_list_is_cut_with_a_count() {
        let many: Vec<String> = (0..25).map(|i| format!("linux/arch{i}")).collect();
        let listed = list_some(&many);
        assert!(listed.starts_with("linux/arch0, linux/arch1"), "{listed}");
        assert!(listed.ends_with("linux/arch19 and 5 more"), "{listed}");
        assert_eq!(list_some(&many[..2]), "linux/arch0, linux/arch1");
    }

    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_image_and_index() {
        let m = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{D}","size":1}},"layers":[{{"digest":"{D}","size":2}}]}}"#
        );
        let Parsed::Image { config, layers } = parse(OCI_MANIFEST, m.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(config.size, 1);
        assert_eq!(
            layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar"
        );
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":3,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#
        );
        assert_eq!(
            media_type_of(None, i.as_bytes()).as_deref(),
            Some(OCI_INDEX)
        );
        let Parsed::Index { manifests } = parse(OCI_INDEX, i.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            manifests[0].platform.as_ref().unwrap().architecture,
            "arm64"
        );
    }

    #[test]
    fn a_body_naming_its_type_wins_over_the_content_type() {
        let body = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
        assert_eq!(
            media_type_of(Some(DOCKER_MANIFEST), body.as_bytes()).as_deref(),
            Some(OCI_MANIFEST)
        );
        let bare = r#"{"schemaVersion":2,"layers":[]}"#;
        assert_eq!(
            media_type_of(Some(DOCKER_MANIFEST), bare.as_bytes()).as_deref(),
            Some(DOCKER_MANIFEST),
            "without one, the Content-Type"
        );
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(parse(OCI_MANIFEST, b"{").is_err());
        assert!(parse(OCI_MANIFEST, br#"{"schemaVersion":1}"#).is_err());
        assert!(parse(
            OCI_MANIFEST,
            br#"{"config":{"digest":"sha256:zz","size":1}}"#
        )
        .is_err());
        assert_eq!(
            media_type_of(
                Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
                b""
            )
            .as_deref(),
            Some(OCI_MANIFEST)
        );
    }
}

/// The OCI media type for a Docker schema 2 media type, when there is one.
pub(crate) fn oci_media_type(docker: &str) -> Option<&'static str> {
    Some(match docker {
        DOCKER_MANIFEST => OCI_MANIFEST,
        DOCKER_MANIFEST_LIST => OCI_INDEX,
        "application/vnd.docker.container.image.v1+json" => {
            "application/vnd.oci.image.config.v1+json"
        }
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        }
        "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        }
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        _ => return None,
    })
}

/// A Docker schema 2 manifest (or manifest list) rewritten with OCI media types, as skopeo
/// does when it writes an OCI layout; `None` when there is nothing to convert. `children`
/// maps the digests of converted child manifests to their new descriptors
/// `(digest, size)`, for rewriting a list: an entry not among them keeps its descriptor
/// whole (the bytes it names are what its media type says, converted or not).
pub fn docker_to_oci(
    body: &[u8],
    children: &[(Digest, Digest, u64)],
) -> Result<Option<Vec<u8>>, String> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a valid manifest: {e}"))?;
    let Some(new_type) = doc["mediaType"].as_str().and_then(oci_media_type) else {
        return Ok(None);
    };
    doc["mediaType"] = new_type.into();
    let convert = |d: &mut serde_json::Value| {
        if let Some(t) = d["mediaType"].as_str().and_then(oci_media_type) {
            d["mediaType"] = t.into();
        }
    };
    if let Some(config) = doc.get_mut("config") {
        convert(config);
    }
    // `get_mut`, not `doc["layers"]`: indexing a JSON object mutably inserts a missing key
    // as `null`, and containerd refuses a manifest with `"manifests": null` as an index.
    for layer in doc
        .get_mut("layers")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        convert(layer);
    }
    for m in doc
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let old = m["digest"].as_str().and_then(|d| d.parse::<Digest>().ok());
        if let Some((_, new, size)) = children.iter().find(|(o, _, _)| Some(o) == old.as_ref()) {
            convert(m);
            m["digest"] = new.to_string().into();
            m["size"] = (*size).into();
        }
    }
    serde_json::to_vec(&doc)
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod convert_tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn docker_manifests_get_oci_media_types() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{d}","size":1}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{d}","size":2}}]}}"#
        );
        let out = docker_to_oci(m.as_bytes(), &[]).unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["mediaType"], OCI_MANIFEST);
        assert_eq!(
            v["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let oci = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{d}","size":1}}}}"#
        );
        assert_eq!(docker_to_oci(oci.as_bytes(), &[]).unwrap(), None);
    }

    /// Found by the `manifest` fuzz target: the rewrite added `"manifests": null` to every
    /// manifest and `"layers": null` to every list.
    #[test]
    fn the_rewrite_adds_no_fields() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"digest":"{d}","size":1}},"layers":[]}}"#
        );
        let l = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"digest":"{d}","size":1}}]}}"#
        );
        for (doc, absent) in [(m, "manifests"), (l, "layers")] {
            let out = docker_to_oci(doc.as_bytes(), &[]).unwrap().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert!(v.get(absent).is_none(), "{}", String::from_utf8_lossy(&out));
        }
    }
}
