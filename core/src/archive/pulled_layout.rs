//! A pull into an OCI layout directory, as file operations a host does: each blob written
//! to a temporary file and renamed into place once verified, then the manifests,
//! `oci-layout` and an `index.json` naming the image. Every embedding writing a pulled
//! layout (the component, the tokio example, tug-wasm's OCI archives) writes these bytes
//! under these names, so their layouts match.

use serde_json::{json, Map, Value};

use super::docker_save_export::split_tag;
use super::error::ArchiveError;
use super::media_types::OCI_INDEX;
use super::oci_json::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use super::oci_layout::{INDEX_JSON, OCI_LAYOUT_FILE};
use super::MAX_METADATA_LEN;
use crate::digest::Digest;
use crate::host::Store;
use crate::pull::PullReport;
use crate::reference::Reference;

/// The content of the `oci-layout` file.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The annotation of an `index.json` entry saying when tug named the image (RFC 3339).
pub const ANNOTATION_TUG_CREATED: &str = "dev.tug.created";

/// An `index.json` entry naming a manifest or index of a layout.
#[derive(Clone, Copy, Debug)]
pub struct IndexEntry<'a> {
    /// The manifest's media type.
    pub media_type: &'a str,
    /// Its digest.
    pub digest: &'a Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its name in the layout (`org.opencontainers.image.ref.name`; none when empty).
    pub ref_name: &'a str,
    /// The image's full name, for containerd (`io.containerd.image.name`).
    pub image_name: Option<&'a str>,
    /// When it was named (RFC 3339), from the host's clock.
    pub created: Option<&'a str>,
}

impl IndexEntry<'_> {
    /// The entry as `index.json` holds it.
    pub fn json(&self) -> Value {
        let mut annotations = Map::new();
        if !self.ref_name.is_empty() {
            annotations.insert(ANNOTATION_REF_NAME.into(), json!(self.ref_name));
        }
        if let Some(name) = self.image_name {
            annotations.insert(ANNOTATION_CONTAINERD_NAME.into(), json!(name));
        }
        if let Some(created) = self.created {
            annotations.insert(ANNOTATION_TUG_CREATED.into(), json!(created));
        }
        json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.size,
            "annotations": annotations,
        })
    }

    /// The name an `index.json` entry gives its image: containerd's full name when it has
    /// one, else its ref name (as skopeo's `oci:DIR:NAME` reads it).
    pub fn name_of(entry: &Value) -> Option<&str> {
        let annotations = &entry["annotations"];
        annotations[ANNOTATION_CONTAINERD_NAME]
            .as_str()
            .or(annotations[ANNOTATION_REF_NAME].as_str())
    }

    /// `manifests` (an `index.json`'s entries) with this entry naming its image: an entry
    /// of the same ref name is replaced (with none, one of the same digest and none), the
    /// others kept in their order. When the ref name was not `given` by the user (tug chose
    /// it, a tag) and belongs to another image that may be another repository's (`a/app:1`
    /// there, `b/app:1` pulled in; or an image another tool named by its tag alone, which
    /// says no repository), nothing is lost: this entry takes its whole name as its ref name
    /// instead (replacing an entry of that name). A name the user gave replaces whatever it
    /// named, as skopeo's `oci:DIR:REF` does. Returns the ref name it took.
    pub fn name_in(&self, manifests: &mut Vec<Value>, given: bool) -> String {
        let anothers = self.names_another(manifests, given);
        let named = |m: &Value, name: &str| self.is_named(m, name);
        let ref_name = match (anothers, self.image_name) {
            (true, Some(whole)) => whole,
            _ => self.ref_name,
        };
        manifests.retain(|m| !named(m, ref_name));
        manifests.push(IndexEntry { ref_name, ..*self }.json());
        ref_name.to_owned()
    }

    /// Whether [`IndexEntry::name_in`] would replace another image it cannot tell is not
    /// another repository's, having no whole name of its own to take instead (an image a
    /// file named by its tag alone, going where another tool named a different image so):
    /// the caller asks for a name rather than lose that image.
    pub fn clashes_in(&self, manifests: &[Value], given: bool) -> bool {
        let digest = self.digest.to_string();
        !given
            && self.image_name.is_none()
            && manifests
                .iter()
                .any(|m| self.is_named(m, self.ref_name) && m["digest"].as_str() != Some(&digest))
    }

    /// Whether the ref name (not `given` by the user) names an image in `manifests` that
    /// may be another repository's: another whole name, or none and another digest.
    fn names_another(&self, manifests: &[Value], given: bool) -> bool {
        let digest = self.digest.to_string();
        !given
            && manifests.iter().any(|m| {
                let theirs = m["annotations"][ANNOTATION_CONTAINERD_NAME].as_str();
                // An entry naming no repository is this image already when it has its digest.
                let this_image = theirs.is_none() && m["digest"].as_str() == Some(&digest);
                self.is_named(m, self.ref_name) && theirs != self.image_name && !this_image
            })
    }

    /// Whether `index.json` entry `m` has the ref name `name` (an empty one: none, and this
    /// entry's digest).
    fn is_named(&self, m: &Value, name: &str) -> bool {
        match m["annotations"][ANNOTATION_REF_NAME].as_str() {
            Some(theirs) => theirs == name,
            None => name.is_empty() && m["digest"].as_str() == Some(&self.digest.to_string()),
        }
    }
}

/// The whole name an archive written as `docker-archive:PATH:NAME` or `oci-archive:PATH:NAME`
/// gives the image `image` (its own whole name, if it has one). A docker-archive takes NAME
/// as an image reference, as skopeo does (`app` is `docker.io/library/app:latest`); an OCI
/// archive takes a bare NAME as a tag of the image's own repository (skopeo's `ref.name`),
/// and a NAME with a `/` or `:` as a whole reference. `Err` says why NAME is none of these.
pub fn given_archive_name(image: Option<&str>, given: &str, oci: bool) -> Result<String, String> {
    let whole = |given: &str| match given.parse::<Reference>() {
        Ok(r) if r.digest.is_none() => Ok(r.with_default_tag().to_string()),
        Ok(_) => Err(format!(
            "{given:?}: an archive names its image by a tag, not a digest"
        )),
        Err(e) => Err(e.to_string()),
    };
    if !oci || given.contains(['/', ':']) {
        return whole(given);
    }
    match image.and_then(|i| i.parse::<Reference>().ok()) {
        Some(r) => whole(&format!("{}/{}:{given}", r.registry, r.repository)),
        None => whole(given),
    }
}

/// The name an OCI archive of the image `name` (`registry/repository:tag`, as the user
/// gave it) has in its `index.json`: the tag, or `latest` when there is none (a port's
/// colon is no tag, a digest no name). A name that is no image reference (an OCI
/// `ref.name` such as `Release_1`, kept as a store name) is its own `ref.name`.
pub fn archive_ref_name(name: Option<&str>) -> &str {
    let name = name.filter(|n| n.parse::<Digest>().is_err());
    let own_name = |n: &&str| !n.is_empty() && !n.contains('@') && n.parse::<Reference>().is_err();
    if let Some(own) = name.filter(own_name) {
        return own;
    }
    let name = name.map(|n| n.split_once('@').map_or(n, |(n, _)| n));
    name.and_then(split_tag).map_or("latest", |(_, tag)| tag)
}

/// The `ref.name` a pull into an OCI layout gives `image` when no name is asked for: its
/// tag; none when it was named by digest alone (as skopeo's `oci:DIR`), not `latest`.
pub fn pulled_ref_name(image: &Reference) -> String {
    match (&image.tag, &image.digest) {
        (Some(tag), _) => tag.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_owned(),
    }
}

/// `index.json` of an OCI archive holding the image `name` (as [`archive_ref_name`] takes
/// it): its tag as `ref.name`, and, when `name` names a repository, the whole name as
/// containerd's `io.containerd.image.name` (as Docker and buildx write it), so loading the
/// archive again gives the image its name back. An image known only by its digest gets
/// neither, so it loads again without a name. `ref_name`, when given (the user wrote
/// `oci-archive:PATH:NAME`), is the `ref.name` as it is, as skopeo writes and reads it.
pub fn archive_index_json(
    media_type: &str,
    digest: &Digest,
    size: u64,
    name: Option<&str>,
    ref_name: Option<&str>,
) -> Vec<u8> {
    let (ref_name, image_name) = exported_names(name, ref_name);
    let entry = IndexEntry {
        media_type,
        digest,
        size,
        ref_name,
        image_name,
        created: None,
    };
    one_entry_index(&entry)
}

/// The names an image `name` of the store gets in the `index.json` it is exported into (an
/// OCI archive, or a layout's `oci:DIR[:REF]`): its `ref.name` and containerd's whole name,
/// as [`archive_index_json`] says. `ref_name`, when given, is the user's `:REF`.
pub fn exported_names<'a>(
    name: Option<&'a str>,
    ref_name: Option<&'a str>,
) -> (&'a str, Option<&'a str>) {
    let unnamed = name.is_some_and(|n| n.parse::<Digest>().is_ok());
    let image_name = name.filter(|n| !unnamed && n.parse::<Reference>().is_ok());
    let ref_name = match (ref_name, unnamed) {
        (Some(given), _) => given,
        (None, true) => "",
        (None, false) => archive_ref_name(name),
    };
    (ref_name, image_name)
}

/// `index.json` naming `digest` (a manifest or index of `media_type`, `size` bytes)
/// `ref_name`: the one image of a layout a pull wrote.
pub fn index_json(media_type: &str, digest: &Digest, size: u64, ref_name: &str) -> Vec<u8> {
    let entry = IndexEntry {
        media_type,
        digest,
        size,
        ref_name,
        image_name: None,
        created: None,
    };
    one_entry_index(&entry)
}

fn one_entry_index(entry: &IndexEntry<'_>) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [entry.json()],
    })
    .to_string()
    .into_bytes()
}

/// Where blob `digest` lands in a layout: `blobs/<algorithm>/<hex>`.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// Where blob `digest` is written until the pull has verified it.
fn partial_path(digest: &Digest) -> String {
    format!(
        "blobs/{}/.partial-{}",
        digest.algorithm().name(),
        digest.hex()
    )
}

/// A file operation on the layout (paths relative to its directory, `/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutOp {
    /// Write `data` at `offset` of the file at `path`, creating it and its directories.
    Write {
        /// The file.
        path: String,
        /// Where in the file.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Move a file into place (over anything there).
    Rename {
        /// The file now.
        from: String,
        /// Where it goes.
        to: String,
    },
    /// Remove the file at this path, if there is one.
    Remove(String),
}

impl std::fmt::Display for LayoutOp {
    /// What the operation does, for an error message (never the bytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutOp::Write { path, offset, data } => {
                write!(f, "writing {} bytes at {offset} of {path}", data.len())
            }
            LayoutOp::Rename { from, to } => write!(f, "moving {from} to {to}"),
            LayoutOp::Remove(path) => write!(f, "removing {path}"),
        }
    }
}

impl From<Store> for LayoutOp {
    /// What a pull's blob output is in a layout.
    fn from(store: Store) -> LayoutOp {
        match store {
            Store::Write {
                digest,
                offset,
                data,
            } => LayoutOp::Write {
                path: partial_path(&digest),
                offset,
                data,
            },
            Store::Commit(digest) => LayoutOp::Rename {
                from: partial_path(&digest),
                to: blob_path(&digest),
            },
            Store::Discard(digest) => LayoutOp::Remove(partial_path(&digest)),
        }
    }
}

/// What a finished pull adds to its layout besides the blobs: the manifests, `oci-layout`,
/// and `index.json` naming the image `ref_name`. `index` is the layout's `index.json` as
/// the host found it (at most [`MAX_METADATA_LEN`] bytes; `None` when there is none): its
/// other entries stay, as `skopeo copy … oci:DIR:TAG` keeps them, and an entry named
/// `ref_name` is replaced.
///
/// # Errors
///
/// [`ArchiveError::Malformed`] naming `index.json` when `index` is not an image index.
pub fn finishing_ops(
    report: &PullReport,
    ref_name: &str,
    index: Option<&[u8]>,
) -> Result<Vec<LayoutOp>, ArchiveError> {
    let root = &report.root;
    let entry = IndexEntry {
        media_type: &root.media_type,
        digest: &root.digest,
        size: root.bytes.len() as u64,
        ref_name,
        image_name: None,
        created: None,
    };
    let index = match index {
        None => index_json(entry.media_type, entry.digest, entry.size, ref_name),
        Some(found) => named_in(found, &entry)?,
    };
    let manifests = std::iter::once(root).chain(report.images.iter().map(|i| &i.manifest));
    let mut files: Vec<_> = manifests
        .map(|m| (blob_path(&m.digest), m.bytes.clone()))
        .collect();
    files.push((OCI_LAYOUT_FILE.into(), OCI_LAYOUT_CONTENT.to_vec()));
    files.push((INDEX_JSON.into(), index));
    let write = |(path, data)| LayoutOp::Write {
        path,
        offset: 0,
        data,
    };
    Ok(files.into_iter().map(write).collect())
}

/// The `index.json` bytes `found` with `entry` naming its image (its other fields and
/// entries kept), or why `found` is no image index. Bytes that do not parse and fill the
/// whole read were cut off at the limit.
fn named_in(found: &[u8], entry: &IndexEntry<'_>) -> Result<Vec<u8>, ArchiveError> {
    let malformed = |reason: String| ArchiveError::Malformed {
        file: INDEX_JSON.into(),
        reason,
    };
    let parsed = serde_json::from_slice(found);
    let mut index: Value = parsed.map_err(|e| match found.len() as u64 {
        len if len >= MAX_METADATA_LEN => ArchiveError::TooLarge {
            what: INDEX_JSON.into(),
            limit: MAX_METADATA_LEN,
        },
        _ => malformed(e.to_string()),
    })?;
    let manifests = match index.get_mut("manifests") {
        Some(Value::Array(manifests)) => manifests,
        _ => return Err(malformed("it has no \"manifests\" list".into())),
    };
    entry.name_in(manifests, false);
    Ok(index.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::media_types::OCI_MANIFEST;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_pulled_image_is_named_by_its_tag_or_by_none() {
        let name = |r: &str| pulled_ref_name(&r.parse().unwrap());
        assert_eq!(name("r.example/app:v1"), "v1");
        assert_eq!(name("r.example/app"), "latest");
        let digest = Digest::sha256_of(b"m");
        assert_eq!(name(&format!("r.example/app@{digest}")), "");
        assert_eq!(name(&format!("r.example/app:v2@{digest}")), "v2");
    }

    #[test]
    fn an_archive_names_its_image_by_the_tag() {
        for (name, ref_name) in [
            (Some("r.example:5000/team/app:v1"), "v1"),
            (Some("r.example:5000/team/app"), "latest"),
            (Some("app"), "latest"),
            (Some("app:v2@sha256:abcd"), "v2"),
            (Some("r.example:5000/app@sha256:abcd"), "latest"),
            (Some(&format!("sha256:{}", "a".repeat(64))), "latest"),
            (Some("Release_1"), "Release_1"),
            (None, "latest"),
        ] {
            assert_eq!(archive_ref_name(name), ref_name, "{name:?}");
        }
    }

    #[test]
    fn a_name_given_after_an_archive_s_path_is_a_reference_or_an_oci_tag() {
        let own = Some("registry.example:5000/team/app:v1");
        let given = |name: &str, oci: bool| given_archive_name(own, name, oci);
        assert_eq!(given("app", false).unwrap(), "docker.io/library/app:latest");
        assert_eq!(given("my/app:v2", false).unwrap(), "docker.io/my/app:v2");
        assert_eq!(
            given("v3", true).unwrap(),
            "registry.example:5000/team/app:v3"
        );
        assert_eq!(given("my/app:v2", true).unwrap(), "docker.io/my/app:v2");
        assert_eq!(
            given_archive_name(None, "v3", true).unwrap(),
            "docker.io/library/v3:latest"
        );
        let digest = format!("app@{}", Digest::sha256_of(b"x"));
        assert!(given(&digest, false).unwrap_err().contains("not a digest"));
        assert!(given("UPPER/case", false).is_err());
    }

    #[test]
    fn an_archive_s_index_keeps_the_whole_name_for_containerd() {
        let digest = Digest::sha256_of(b"{}");
        let entry = |name| {
            let index: serde_json::Value =
                serde_json::from_slice(&archive_index_json(OCI_MANIFEST, &digest, 2, name, None))
                    .unwrap();
            index["manifests"][0]["annotations"].clone()
        };
        let a = entry(Some("docker.io/library/app:1"));
        assert_eq!(a[ANNOTATION_REF_NAME], "1");
        assert_eq!(a[ANNOTATION_CONTAINERD_NAME], "docker.io/library/app:1");
        let unnamed = format!("sha256:{}", "a".repeat(64));
        assert_eq!(entry(Some(&unnamed)), serde_json::json!({}));
        assert_eq!(entry(None)[ANNOTATION_REF_NAME], "latest");
    }

    #[test]
    fn an_exported_image_is_named_by_its_tag_the_ref_given_or_its_store_name() {
        let named = exported_names(Some("registry.example/app:1"), None);
        assert_eq!(named, ("1", Some("registry.example/app:1")));
        let given = exported_names(Some("registry.example/app:v2"), Some("v2"));
        assert_eq!(given, ("v2", Some("registry.example/app:v2")));
        // skopeo writes any `ref.name`; the store keeps it as the image's name.
        assert_eq!(exported_names(Some("Release_1"), None), ("Release_1", None));
        let unnamed = format!("sha256:{}", "a".repeat(64));
        assert_eq!(exported_names(Some(&unnamed), None), ("", None));
    }

    #[test]
    fn the_index_names_the_image_by_its_reference() {
        let digest = Digest::sha256_of(b"{}");
        let index: serde_json::Value =
            serde_json::from_slice(&index_json(OCI_MANIFEST, &digest, 2, "v1")).unwrap();
        assert_eq!(index["mediaType"], OCI_INDEX);
        let entry = &index["manifests"][0];
        assert_eq!(entry["digest"], digest.to_string());
        assert_eq!(entry["size"], 2);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["annotations"][ANNOTATION_REF_NAME], "v1");
        assert_eq!(entry["annotations"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn an_entry_s_name_is_containerd_s_else_its_ref_name() {
        let digest = Digest::sha256_of(b"a");
        let entry = |image_name| IndexEntry {
            media_type: OCI_MANIFEST,
            digest: &digest,
            size: 1,
            ref_name: "v1",
            image_name,
            created: None,
        };
        let full = entry(Some("r.example/app:v1")).json();
        assert_eq!(IndexEntry::name_of(&full), Some("r.example/app:v1"));
        assert_eq!(IndexEntry::name_of(&entry(None).json()), Some("v1"));
        assert_eq!(IndexEntry::name_of(&json!({"annotations": {}})), None);
    }

    #[test]
    fn naming_an_image_replaces_only_the_entry_of_its_name() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let entry = |digest, ref_name, image_name| IndexEntry {
            media_type: OCI_MANIFEST,
            digest,
            size: 1,
            ref_name,
            image_name,
            created: Some("2026-12-07T02:00:00Z"),
        };
        let mut manifests = Vec::new();
        entry(&a, "v1", None).name_in(&mut manifests, false);
        entry(&a, "v2", None).name_in(&mut manifests, false);
        // A name given replaces what it named.
        entry(&b, "v1", Some("r/x:v1")).name_in(&mut manifests, true);
        let names: Vec<_> = manifests
            .iter()
            .map(|m| m["annotations"][ANNOTATION_REF_NAME].as_str().unwrap())
            .collect();
        assert_eq!(names, ["v2", "v1"]);
        assert_eq!(manifests[1]["digest"], b.to_string());
        // The same tag of another repository: both are kept, the newcomer by its whole name.
        let took = entry(&a, "v1", Some("r/y:v1")).name_in(&mut manifests, false);
        assert_eq!(took, "r/y:v1");
        let names: Vec<_> = manifests
            .iter()
            .map(|m| m["annotations"][ANNOTATION_REF_NAME].as_str().unwrap())
            .collect();
        assert_eq!(names, ["v2", "v1", "r/y:v1"]);
        assert_eq!(
            entry(&b, "v1", Some("r/y:v1")).name_in(&mut manifests, false),
            "r/y:v1"
        );
        assert_eq!(
            manifests.len(),
            3,
            "pulled again, it replaces its own entry"
        );
        manifests.truncate(2);
        assert_eq!(
            manifests[1]["annotations"][ANNOTATION_CONTAINERD_NAME],
            "r/x:v1"
        );
        assert_eq!(
            manifests[1]["annotations"][ANNOTATION_TUG_CREATED],
            "2026-12-07T02:00:00Z"
        );
    }

    /// An image another tool named by its tag alone (skopeo's, umoci's `oci:DIR:1`) says no
    /// repository: a name tug chooses keeps it and takes the whole name; a name the user
    /// gave replaces it; the same image (its digest) is named again in place.
    #[test]
    fn an_image_named_by_its_tag_alone_is_kept_unless_the_name_was_given() {
        let (theirs, ours) = (Digest::sha256_of(b"theirs"), Digest::sha256_of(b"ours"));
        let entry = |digest, image_name| IndexEntry {
            media_type: OCI_MANIFEST,
            digest,
            size: 1,
            ref_name: "1",
            image_name,
            created: None,
        };
        let mut manifests = Vec::new();
        entry(&theirs, None).name_in(&mut manifests, true);
        let took = entry(&ours, Some("r/app:1")).name_in(&mut manifests, false);
        assert_eq!(took, "r/app:1");
        assert_eq!(manifests.len(), 2);
        assert_eq!(manifests[0]["digest"], theirs.to_string());
        let took = entry(&ours, Some("r/app:1")).name_in(&mut manifests, true);
        assert_eq!(took, "1");
        let ones: Vec<_> = manifests
            .iter()
            .filter(|m| m["annotations"][ANNOTATION_REF_NAME] == "1")
            .collect();
        assert_eq!(ones.len(), 1);
        assert_eq!(ones[0]["digest"], ours.to_string());
        let mut manifests = Vec::new();
        entry(&theirs, None).name_in(&mut manifests, true);
        assert_eq!(
            entry(&theirs, Some("r/app:1")).name_in(&mut manifests, false),
            "1"
        );
        assert_eq!(manifests.len(), 1);
        // Without a whole name to take, another image there is a clash the caller reports.
        assert!(entry(&ours, None).clashes_in(&manifests, false));
        assert!(!entry(&ours, None).clashes_in(&manifests, true));
        assert!(!entry(&theirs, None).clashes_in(&manifests, false));
        assert!(!entry(&ours, Some("r/app:1")).clashes_in(&manifests, false));
    }

    /// A pull's report naming a manifest of `bytes` and no other.
    fn report(bytes: &[u8]) -> PullReport {
        PullReport {
            root: crate::pull::FetchedManifest {
                digest: Digest::sha256_of(bytes),
                media_type: OCI_MANIFEST.into(),
                bytes: bytes.to_vec(),
            },
            images: Vec::new(),
            blobs_downloaded: 0,
            blobs_skipped: 0,
            bytes_downloaded: 0,
            bytes_skipped: 0,
            retries: 0,
            plain_http: false,
            elapsed: std::time::Duration::ZERO,
            peak_bytes_per_second: 0.0,
        }
    }

    /// The `index.json` among `ops`.
    fn index_of(ops: &[LayoutOp]) -> Value {
        let written = ops.iter().find_map(|op| match op {
            LayoutOp::Write { path, data, .. } if path == "index.json" => Some(data),
            _ => None,
        });
        serde_json::from_slice(written.expect("index.json is written")).unwrap()
    }

    #[test]
    fn a_pull_into_a_new_layout_writes_its_manifest_oci_layout_and_index() {
        let pulled = report(b"{\"m\":1}");
        let ops = finishing_ops(&pulled, "v1", None).unwrap();
        let paths: Vec<_> = ops
            .iter()
            .map(|op| match op {
                LayoutOp::Write {
                    path, offset: 0, ..
                } => path.as_str(),
                other => panic!("only whole files are written: {other}"),
            })
            .collect();
        let manifest = format!("blobs/sha256/{}", pulled.root.digest.hex());
        assert_eq!(paths, [manifest.as_str(), "oci-layout", "index.json"]);
        let index = index_of(&ops);
        assert_eq!(
            index["manifests"][0]["digest"],
            pulled.root.digest.to_string()
        );
    }

    #[test]
    fn a_pull_into_a_layout_keeps_the_images_it_names_and_replaces_its_own_name() {
        let (old, other) = (report(b"{\"m\":1}"), report(b"{\"m\":2}"));
        let mut found = Vec::new();
        for (pulled, name) in [(&old, "v1"), (&other, "keep")] {
            let entry = IndexEntry {
                media_type: OCI_MANIFEST,
                digest: &pulled.root.digest,
                size: 7,
                ref_name: name,
                image_name: None,
                created: None,
            };
            entry.name_in(&mut found, false);
        }
        let found = json!({"schemaVersion": 2, "manifests": found, "annotations": {"a": "b"}});
        let found = serde_json::to_vec_pretty(&found).unwrap();

        let new = report(b"{\"m\":3}");
        let index = index_of(&finishing_ops(&new, "v1", Some(&found)).unwrap());
        let entries: Vec<_> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["annotations"][ANNOTATION_REF_NAME].as_str().unwrap(),
                    m["digest"].as_str().unwrap(),
                )
            })
            .collect();
        let (other, new) = (other.root.digest.to_string(), new.root.digest.to_string());
        assert_eq!(entries, [("keep", other.as_str()), ("v1", new.as_str())]);
        assert_eq!(
            index["annotations"]["a"], "b",
            "the index's other fields stay"
        );
    }

    #[test]
    fn an_index_json_that_is_no_index_is_an_error_naming_it() {
        let pulled = report(b"{}");
        for found in [
            &b"{\"manifests\": 3}"[..],
            b"[]",
            b"not json",
            b"{\"schemaVersion\":2,\"mani",
        ] {
            let err = finishing_ops(&pulled, "v1", Some(found)).unwrap_err();
            assert!(
                matches!(&err, ArchiveError::Malformed { file, .. } if file == "index.json"),
                "{err:?}"
            );
            assert!(
                err.to_string().starts_with("index.json is malformed"),
                "{err}"
            );
        }
        // Cut off at the limit the host reads up to.
        let mut big = b"{\"manifests\": [".to_vec();
        big.resize(MAX_METADATA_LEN as usize, b' ');
        let err = finishing_ops(&pulled, "v1", Some(&big)).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::TooLarge { what, .. } if what == "index.json"),
            "{err:?}"
        );
    }
}
