//! Structured image sources: a small set of files whose JSON documents reference each other by
//! real digests and sizes, so the fuzzer gets past digest checks and reaches the readers'
//! deeper logic (nested indexes, docker-save naming, links, size mismatches, ...).
//!
//! The same set is served two ways: as an OCI layout directory and as a tar archive.

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use tug_core::Digest;

use crate::{TarKind, TarWriter};

/// Most files in one source.
const MAX_FILES: usize = 12;
/// Most descriptors / layers in one document.
const MAX_REFS: usize = 6;

/// One source: a valid base image (or none), then the fuzzer's files in order (a later file
/// with the same path replaces an earlier one); documents may reference files before them,
/// base files included.
#[derive(Arbitrary, Debug)]
pub struct SourceSpec {
    /// A valid image to start from, so mutations start from success.
    pub base: Base,
    /// The files.
    pub files: Vec<FileSpec>,
    /// Whether to put a `./` directory entry first in the tar (as `tar -C dir .` does).
    pub dot_prefix: bool,
}

/// A valid image the source starts with.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Base {
    /// Nothing.
    Empty,
    /// An OCI layout: layer, config, manifest, index.json, oci-layout (files 0-4).
    Oci,
    /// An OCI layout whose index.json points at an index (with an attestation entry that is
    /// not in the layout) that points at the manifest: layer, config, manifest, index,
    /// index.json, oci-layout (files 0-5).
    OciNested,
    /// A Docker 25+ save: `OciNested` plus manifest.json naming the image (files 0-6).
    Docker25,
    /// A classic docker save: layer, a symlinked duplicate, `<hex>.json` config, manifest.json
    /// (files 0-3).
    DockerClassic,
}

fn desc(digest: DigestSpec, media_type: MediaTypeSpec) -> DescSpec {
    DescSpec {
        digest,
        size_delta: 0,
        media_type,
        ref_name: None,
        containerd_name: None,
        attestation: false,
    }
}

fn file(path: PathSpec, content: ContentSpec) -> FileSpec {
    FileSpec {
        path,
        content,
        link: LinkSpec::None,
    }
}

fn document(media_type: MediaTypeSpec, manifests: Vec<DescSpec>) -> ContentSpec {
    ContentSpec::Document {
        schema_version: Some(2),
        media_type,
        config: None,
        layers: None,
        manifests: Some(manifests),
    }
}

impl Base {
    fn files(self) -> Vec<FileSpec> {
        use DigestSpec::Of;
        use MediaTypeSpec as M;
        let oci_start = || {
            vec![
                file(
                    PathSpec::Blob,
                    ContentSpec::Compressed {
                        zstd: false,
                        rest: b"\0\0\0\0\0\0layer".to_vec(),
                    },
                ),
                file(
                    PathSpec::Blob,
                    ContentSpec::ImageConfig {
                        rootfs: true,
                        diff_ids: vec![DigestSpec::OfBytes(b"layer".to_vec())],
                    },
                ),
                file(
                    PathSpec::Blob,
                    ContentSpec::Document {
                        schema_version: Some(2),
                        media_type: M::OciManifest,
                        config: Some(desc(Of(1), M::OciConfig)),
                        layers: Some(vec![desc(Of(0), M::OciLayerGzip)]),
                        manifests: None,
                    },
                ),
            ]
        };
        match self {
            Base::Empty => Vec::new(),
            Base::Oci => {
                let mut f = oci_start();
                let mut d = desc(Of(2), M::OciManifest);
                d.ref_name = Some("1".to_owned());
                f.push(file(PathSpec::IndexJson, document(M::OciIndex, vec![d])));
                f.push(file(PathSpec::OciLayout, ContentSpec::LayoutFile(None)));
                f
            }
            Base::OciNested | Base::Docker25 => {
                let mut f = oci_start();
                let mut attestation = desc(DigestSpec::OfBytes(b"att".to_vec()), M::OciManifest);
                attestation.attestation = true;
                f.push(file(
                    PathSpec::Blob,
                    document(M::OciIndex, vec![desc(Of(2), M::OciManifest), attestation]),
                ));
                let mut d = desc(Of(3), M::OciIndex);
                d.containerd_name = Some("docker.io/fuzz/app:1".to_owned());
                d.ref_name = Some("1".to_owned());
                f.push(file(PathSpec::IndexJson, document(M::OciIndex, vec![d])));
                f.push(file(PathSpec::OciLayout, ContentSpec::LayoutFile(None)));
                if matches!(self, Base::Docker25) {
                    f.push(file(
                        PathSpec::ManifestJson,
                        ContentSpec::SaveManifest(vec![SaveEntrySpec {
                            config: PathRef::Of(1),
                            repo_tags: Some(vec!["fuzz/app:1".to_owned()]),
                            layers: vec![PathRef::Of(0)],
                        }]),
                    ));
                }
                f
            }
            Base::DockerClassic => vec![
                file(
                    PathSpec::LayerTar(0xaa),
                    ContentSpec::Raw(b"layer".to_vec()),
                ),
                FileSpec {
                    path: PathSpec::LayerTar(0xbb),
                    content: ContentSpec::Raw(b"duplicate".to_vec()),
                    link: LinkSpec::Symlink(0),
                },
                file(
                    PathSpec::HexJson,
                    ContentSpec::ImageConfig {
                        rootfs: true,
                        diff_ids: vec![Of(0), Of(0)],
                    },
                ),
                file(
                    PathSpec::ManifestJson,
                    ContentSpec::SaveManifest(vec![SaveEntrySpec {
                        config: PathRef::Of(2),
                        repo_tags: Some(vec!["fuzz/app:1".to_owned()]),
                        layers: vec![PathRef::Of(0), PathRef::Of(1)],
                    }]),
                ),
            ],
        }
    }
}

/// One file of the source.
#[derive(Arbitrary, Debug)]
pub struct FileSpec {
    /// Where it goes.
    pub path: PathSpec,
    /// What it holds.
    pub content: ContentSpec,
    /// In a tar: stored as a link to an earlier file instead of its own bytes.
    pub link: LinkSpec,
}

/// Where a file goes.
#[derive(Arbitrary, Debug)]
pub enum PathSpec {
    /// `oci-layout`
    OciLayout,
    /// `index.json`
    IndexJson,
    /// `manifest.json` (docker save)
    ManifestJson,
    /// `repositories` (old docker save)
    Repositories,
    /// `blobs/sha256/<sha256 of the content>`
    Blob,
    /// `blobs/sha512/<sha512-length hex>` made from the sha256 (wrong on purpose).
    BlobSha512,
    /// `<sha256 of the content>.json` (classic docker save config)
    HexJson,
    /// `<id>/layer.tar` (classic docker save layer)
    LayerTar(u8),
    /// Anything.
    Raw(String),
}

/// How a file is stored in a tar.
#[derive(Arbitrary, Debug)]
pub enum LinkSpec {
    /// Its own bytes.
    None,
    /// A symlink to file `n` (relative to this file's directory, as docker save writes).
    Symlink(u8),
    /// A hard link to file `n`.
    HardLink(u8),
    /// A symlink to an arbitrary target.
    SymlinkRaw(String),
    /// A directory entry instead of a file.
    Dir,
}

/// A media type.
#[derive(Arbitrary, Debug, Clone)]
pub enum MediaTypeSpec {
    /// Omitted.
    None,
    /// OCI image manifest.
    OciManifest,
    /// OCI image index.
    OciIndex,
    /// Docker schema 2 manifest.
    DockerManifest,
    /// Docker manifest list.
    DockerList,
    /// OCI image config.
    OciConfig,
    /// Docker image config.
    DockerConfig,
    /// OCI tar layer.
    OciLayer,
    /// OCI gzip layer.
    OciLayerGzip,
    /// OCI zstd layer.
    OciLayerZstd,
    /// Docker gzip layer.
    DockerLayer,
    /// Anything.
    Raw(String),
}

impl MediaTypeSpec {
    fn value(&self) -> Option<String> {
        let s = match self {
            MediaTypeSpec::None => return None,
            MediaTypeSpec::OciManifest => "application/vnd.oci.image.manifest.v1+json",
            MediaTypeSpec::OciIndex => "application/vnd.oci.image.index.v1+json",
            MediaTypeSpec::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            MediaTypeSpec::DockerList => {
                "application/vnd.docker.distribution.manifest.list.v2+json"
            }
            MediaTypeSpec::OciConfig => "application/vnd.oci.image.config.v1+json",
            MediaTypeSpec::DockerConfig => "application/vnd.docker.container.image.v1+json",
            MediaTypeSpec::OciLayer => "application/vnd.oci.image.layer.v1.tar",
            MediaTypeSpec::OciLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            MediaTypeSpec::OciLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            MediaTypeSpec::DockerLayer => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            MediaTypeSpec::Raw(s) => return Some(s.clone()),
        };
        Some(s.to_owned())
    }
}

/// A digest as written in a document.
#[derive(Arbitrary, Debug, Clone)]
pub enum DigestSpec {
    /// The sha256 of file `n` (an earlier one).
    Of(u8),
    /// The sha256 of these bytes.
    OfBytes(Vec<u8>),
    /// Any text.
    Raw(String),
}

/// A content descriptor.
#[derive(Arbitrary, Debug, Clone)]
pub struct DescSpec {
    /// The digest.
    pub digest: DigestSpec,
    /// The size: that of the file the digest names, plus this (wrapping).
    pub size_delta: i8,
    /// The media type.
    pub media_type: MediaTypeSpec,
    /// `org.opencontainers.image.ref.name` annotation.
    pub ref_name: Option<String>,
    /// `io.containerd.image.name` annotation.
    pub containerd_name: Option<String>,
    /// Marks it as a buildkit attestation manifest.
    pub attestation: bool,
}

/// One image of a docker-save `manifest.json`.
#[derive(Arbitrary, Debug, Clone)]
pub struct SaveEntrySpec {
    /// `Config`: the path of an earlier file, or any text.
    pub config: PathRef,
    /// `RepoTags`.
    pub repo_tags: Option<Vec<String>>,
    /// `Layers`.
    pub layers: Vec<PathRef>,
}

/// A path written in a document.
#[derive(Arbitrary, Debug, Clone)]
pub enum PathRef {
    /// The path of file `n` (an earlier one).
    Of(u8),
    /// Any text.
    Raw(String),
}

/// What a file holds.
#[derive(Arbitrary, Debug)]
pub enum ContentSpec {
    /// These bytes.
    Raw(Vec<u8>),
    /// A gzip or zstd magic followed by these bytes (a "compressed" layer).
    Compressed {
        /// zstd rather than gzip.
        zstd: bool,
        /// The rest.
        rest: Vec<u8>,
    },
    /// `{"imageLayoutVersion": <version>}`
    LayoutFile(Option<String>),
    /// An index (or, with config, a manifest).
    Document {
        /// `schemaVersion` (omitted if None).
        schema_version: Option<u32>,
        /// `mediaType`.
        media_type: MediaTypeSpec,
        /// `config`.
        config: Option<DescSpec>,
        /// `layers`.
        layers: Option<Vec<DescSpec>>,
        /// `manifests`.
        manifests: Option<Vec<DescSpec>>,
    },
    /// A docker-save `manifest.json`.
    SaveManifest(Vec<SaveEntrySpec>),
    /// An image config with `rootfs.diff_ids`.
    ImageConfig {
        /// Whether `rootfs` is there at all.
        rootfs: bool,
        /// `diff_ids`.
        diff_ids: Vec<DigestSpec>,
    },
}

/// A built file.
struct Built {
    path: String,
    bytes: Vec<u8>,
    link: LinkSpec,
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn earlier(built: &[Built], n: u8) -> Option<&Built> {
    if built.is_empty() {
        None
    } else {
        built.get(usize::from(n) % built.len())
    }
}

fn digest_text(built: &[Built], d: &DigestSpec) -> (String, u64) {
    match d {
        DigestSpec::Of(n) => match earlier(built, *n) {
            Some(f) => (
                Digest::sha256_of(&f.bytes).to_string(),
                f.bytes.len() as u64,
            ),
            None => (Digest::sha256_of(b"").to_string(), 0),
        },
        DigestSpec::OfBytes(b) => (Digest::sha256_of(b).to_string(), b.len() as u64),
        DigestSpec::Raw(s) => (s.clone(), 0),
    }
}

fn descriptor(built: &[Built], d: &DescSpec) -> String {
    let (digest, size) = digest_text(built, &d.digest);
    let size = size.wrapping_add_signed(i64::from(d.size_delta));
    let mut fields = Vec::new();
    if let Some(mt) = d.media_type.value() {
        fields.push(format!("\"mediaType\":{}", json_str(&mt)));
    }
    fields.push(format!("\"digest\":{}", json_str(&digest)));
    fields.push(format!("\"size\":{size}"));
    let mut ann = Vec::new();
    if let Some(n) = &d.ref_name {
        ann.push(format!(
            "\"org.opencontainers.image.ref.name\":{}",
            json_str(n)
        ));
    }
    if let Some(n) = &d.containerd_name {
        ann.push(format!("\"io.containerd.image.name\":{}", json_str(n)));
    }
    if d.attestation {
        ann.push("\"vnd.docker.reference.type\":\"attestation-manifest\"".to_owned());
    }
    if !ann.is_empty() {
        fields.push(format!("\"annotations\":{{{}}}", ann.join(",")));
    }
    format!("{{{}}}", fields.join(","))
}

fn descriptors(built: &[Built], ds: &[DescSpec]) -> String {
    let items: Vec<String> = ds
        .iter()
        .take(MAX_REFS)
        .map(|d| descriptor(built, d))
        .collect();
    format!("[{}]", items.join(","))
}

fn path_ref(built: &[Built], r: &PathRef) -> String {
    match r {
        PathRef::Of(n) => earlier(built, *n)
            .map(|f| f.path.clone())
            .unwrap_or_default(),
        PathRef::Raw(s) => s.clone(),
    }
}

fn content_bytes(built: &[Built], c: &ContentSpec) -> Vec<u8> {
    match c {
        ContentSpec::Raw(b) => b.clone(),
        ContentSpec::Compressed { zstd, rest } => {
            let mut b = if *zstd {
                vec![0x28, 0xb5, 0x2f, 0xfd]
            } else {
                vec![0x1f, 0x8b, 0x08]
            };
            b.extend_from_slice(rest);
            b
        }
        ContentSpec::LayoutFile(v) => match v {
            Some(v) => format!("{{\"imageLayoutVersion\":{}}}", json_str(v)).into_bytes(),
            None => b"{\"imageLayoutVersion\":\"1.0.0\"}".to_vec(),
        },
        ContentSpec::Document {
            schema_version,
            media_type,
            config,
            layers,
            manifests,
        } => {
            let mut fields = Vec::new();
            if let Some(v) = schema_version {
                fields.push(format!("\"schemaVersion\":{v}"));
            }
            if let Some(mt) = media_type.value() {
                fields.push(format!("\"mediaType\":{}", json_str(&mt)));
            }
            if let Some(c) = config {
                fields.push(format!("\"config\":{}", descriptor(built, c)));
            }
            if let Some(l) = layers {
                fields.push(format!("\"layers\":{}", descriptors(built, l)));
            }
            if let Some(m) = manifests {
                fields.push(format!("\"manifests\":{}", descriptors(built, m)));
            }
            format!("{{{}}}", fields.join(",")).into_bytes()
        }
        ContentSpec::SaveManifest(entries) => {
            let items: Vec<String> = entries
                .iter()
                .take(MAX_REFS)
                .map(|e| {
                    let mut fields = vec![format!(
                        "\"Config\":{}",
                        json_str(&path_ref(built, &e.config))
                    )];
                    if let Some(tags) = &e.repo_tags {
                        let tags: Vec<String> =
                            tags.iter().take(MAX_REFS).map(|t| json_str(t)).collect();
                        fields.push(format!("\"RepoTags\":[{}]", tags.join(",")));
                    }
                    let layers: Vec<String> = e
                        .layers
                        .iter()
                        .take(MAX_REFS)
                        .map(|l| json_str(&path_ref(built, l)))
                        .collect();
                    fields.push(format!("\"Layers\":[{}]", layers.join(",")));
                    format!("{{{}}}", fields.join(","))
                })
                .collect();
            format!("[{}]", items.join(",")).into_bytes()
        }
        ContentSpec::ImageConfig { rootfs, diff_ids } => {
            if !*rootfs {
                return b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
            }
            let ids: Vec<String> = diff_ids
                .iter()
                .take(MAX_REFS)
                .map(|d| json_str(&digest_text(built, d).0))
                .collect();
            format!(
                "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
                ids.join(",")
            )
            .into_bytes()
        }
    }
}

fn path_of(p: &PathSpec, bytes: &[u8]) -> String {
    let hex = Digest::sha256_of(bytes).hex().to_owned();
    match p {
        PathSpec::OciLayout => "oci-layout".to_owned(),
        PathSpec::IndexJson => "index.json".to_owned(),
        PathSpec::ManifestJson => "manifest.json".to_owned(),
        PathSpec::Repositories => "repositories".to_owned(),
        PathSpec::Blob => format!("blobs/sha256/{hex}"),
        PathSpec::BlobSha512 => format!("blobs/sha512/{hex}{hex}"),
        PathSpec::HexJson => format!("{hex}.json"),
        PathSpec::LayerTar(id) => format!("{id:02x}{}/layer.tar", &hex[..8]),
        PathSpec::Raw(s) => s.clone(),
    }
}

/// The files of a source, in order, each document referencing earlier files.
fn build(spec: &SourceSpec) -> Vec<Built> {
    let mut built: Vec<Built> = Vec::new();
    let base = spec.base.files();
    for f in base.iter().chain(spec.files.iter().take(MAX_FILES)) {
        let bytes = content_bytes(&built, &f.content);
        let path = path_of(&f.path, &bytes);
        let link = match &f.link {
            LinkSpec::None => LinkSpec::None,
            LinkSpec::Symlink(n) => LinkSpec::Symlink(*n),
            LinkSpec::HardLink(n) => LinkSpec::HardLink(*n),
            LinkSpec::SymlinkRaw(s) => LinkSpec::SymlinkRaw(s.clone()),
            LinkSpec::Dir => LinkSpec::Dir,
        };
        built.push(Built { path, bytes, link });
    }
    built
}

/// `target` relative to the directory of `from` (both archive paths).
fn relative(from: &str, target: &str) -> String {
    let depth = from.matches('/').count();
    let mut s = "../".repeat(depth);
    s.push_str(target);
    s
}

/// The source as an OCI layout directory: path → bytes. Links are followed, as a file
/// system would; directory entries and links to nowhere are absent.
pub fn as_directory(spec: &SourceSpec) -> BTreeMap<String, Vec<u8>> {
    let built = build(spec);
    let mut files = BTreeMap::new();
    for (i, f) in built.iter().enumerate() {
        let before = &built[..i];
        let bytes = match &f.link {
            LinkSpec::None => Some(f.bytes.clone()),
            LinkSpec::Symlink(n) | LinkSpec::HardLink(n) => {
                earlier(before, *n).map(|t| t.bytes.clone())
            }
            LinkSpec::SymlinkRaw(_) | LinkSpec::Dir => None,
        };
        match bytes {
            Some(b) => files.insert(f.path.clone(), b),
            None => files.remove(&f.path),
        };
    }
    files
}

/// The source as a tar archive.
pub fn as_tar(spec: &SourceSpec) -> Vec<u8> {
    let built = build(spec);
    let mut tar = TarWriter::new();
    if spec.dot_prefix {
        tar.entry("./", TarKind::Dir);
    }
    let prefix = if spec.dot_prefix { "./" } else { "" };
    for (i, f) in built.iter().enumerate() {
        let before = &built[..i];
        let name = format!("{prefix}{}", f.path);
        match &f.link {
            LinkSpec::None => tar.entry(&name, TarKind::File(&f.bytes)),
            LinkSpec::Dir => tar.entry(&name, TarKind::Dir),
            LinkSpec::SymlinkRaw(t) => tar.entry(&name, TarKind::Symlink(t)),
            LinkSpec::Symlink(n) => match earlier(before, *n) {
                Some(t) => tar.entry(&name, TarKind::Symlink(&relative(&f.path, &t.path))),
                None => tar.entry(&name, TarKind::File(&f.bytes)),
            },
            LinkSpec::HardLink(n) => match earlier(before, *n) {
                Some(t) => tar.entry(&name, TarKind::HardLink(&format!("{prefix}{}", t.path))),
                None => tar.entry(&name, TarKind::File(&f.bytes)),
            },
        }
    }
    tar.finish()
}
