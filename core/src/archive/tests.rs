//! Scenario tests for the resolver over whole archives and layouts built in memory.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::media_types::*;
use super::test_util::{resolve_dir, resolve_tar, tar_of, TarBuilder};
use super::*;
use crate::digest::Digest;

fn sha(bytes: &[u8]) -> Digest {
    Digest::sha256_of(bytes)
}

/// A small uncompressed layer tar holding one file.
fn layer_tar(content: &str) -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("etc");
    t.file("etc/data", content.as_bytes());
    t.finish()
}

fn config_for(diff_ids: &[Digest], marker: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"marker": marker}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

type Files = Vec<(String, Vec<u8>)>;

fn set(files: &mut Files, path: &str, data: Vec<u8>) {
    match files.iter_mut().find(|(p, _)| p == path) {
        Some(f) => f.1 = data,
        None => files.push((path.to_owned(), data)),
    }
}

fn remove(files: &mut Files, path: &str) {
    files.retain(|(p, _)| p != path);
}

fn get<'a>(files: &'a Files, path: &str) -> &'a [u8] {
    &files.iter().find(|(p, _)| p == path).unwrap().1
}

fn dir_of(files: &Files) -> HashMap<String, Vec<u8>> {
    files.iter().cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Classic docker save

struct Classic {
    files: Files,
    layer_a: Vec<u8>,
    layer_b: Vec<u8>,
    config1: Vec<u8>,
    config2: Vec<u8>,
}

/// `docker save app:1 tool:2`: both images share layer A; tool's copy of it is a symlink
/// `<id3>/layer.tar -> ../<id1>/layer.tar`, as docker writes duplicate layers.
fn classic_save() -> Classic {
    let layer_a = layer_tar("shared base layer");
    let layer_b = layer_tar("app layer");
    let (da, db) = (sha(&layer_a), sha(&layer_b));
    let config1 = config_for(&[da.clone(), db.clone()], "app");
    let config2 = config_for(std::slice::from_ref(&da), "tool");
    let (c1, c2) = (sha(&config1), sha(&config2));
    let id1 = "1".repeat(64);
    let id2 = "2".repeat(64);
    let id3 = "3".repeat(64);
    let manifest = json!([
        {"Config": format!("{}.json", c1.hex()), "RepoTags": ["app:1"],
         "Layers": [format!("{id1}/layer.tar"), format!("{id2}/layer.tar")]},
        {"Config": format!("{}.json", c2.hex()), "RepoTags": ["tool:2", "tool:latest"],
         "Layers": [format!("{id3}/layer.tar")]},
    ]);
    let files: Files = vec![
        (format!("{id1}/layer.tar"), layer_a.clone()),
        (format!("{id1}/VERSION"), b"1.0".to_vec()),
        (format!("{id2}/layer.tar"), layer_b.clone()),
        (format!("{id3}/layer.tar@->../{id1}/layer.tar"), vec![]),
        (format!("{}.json", c1.hex()), config1.clone()),
        (format!("{}.json", c2.hex()), config2.clone()),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
        ("repositories".into(), b"{}".to_vec()),
    ];
    Classic {
        files,
        layer_a,
        layer_b,
        config1,
        config2,
    }
}

#[test]
fn classic_docker_save_with_symlinked_duplicate_layer() {
    let c = classic_save();
    let tar = tar_of(&c.files);
    let contents = resolve_tar(&tar).unwrap();
    assert_eq!(contents.format, SourceFormat::DockerArchive);
    assert_eq!(contents.format.to_string(), "docker-archive");
    assert_eq!(contents.images.len(), 2);

    let app = &contents.images[0];
    assert_eq!(app.names, ["app:1"]);
    assert_eq!(app.config.digest, sha(&c.config1));
    assert_eq!(app.config.size, c.config1.len() as u64);
    assert_eq!(app.config.media_type, OCI_CONFIG);
    assert_eq!(app.layers.len(), 2);
    assert_eq!(app.layers[0].digest, sha(&c.layer_a));
    assert_eq!(app.layers[1].digest, sha(&c.layer_b));
    for l in &app.layers {
        assert_eq!(l.media_type, OCI_LAYER_TAR);
        assert_eq!(l.compression, Some(Compression::None));
    }

    // Every location really points at the blob's bytes in the tar.
    let bytes_at = |spec: &BlobSpec| match &spec.location {
        BlobLocation::TarRange { offset, .. } => {
            tar[*offset as usize..(*offset + spec.size) as usize].to_vec()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(bytes_at(&app.config), c.config1);
    assert_eq!(bytes_at(&app.layers[0]), c.layer_a);
    assert_eq!(bytes_at(&app.layers[1]), c.layer_b);

    // The symlinked duplicate resolves to the same bytes, same entry.
    let tool = &contents.images[1];
    assert_eq!(tool.names, ["tool:2", "tool:latest"]);
    assert_eq!(tool.layers[0].location, app.layers[0].location);
    assert_eq!(bytes_at(&tool.layers[0]), c.layer_a);
    assert_eq!(bytes_at(&tool.config), c.config2);

    // The built manifest: deterministic compact OCI JSON, digest of exactly those bytes.
    let m = &app.manifest;
    assert_eq!(m.media_type, OCI_MANIFEST);
    assert_eq!(m.digest, sha(&m.bytes));
    let expected = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"{}","#,
            r#""config":{{"mediaType":"{}","digest":"{}","size":{}}},"#,
            r#""layers":[{{"mediaType":"{}","digest":"{}","size":{}}},"#,
            r#"{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#
        ),
        OCI_MANIFEST,
        OCI_CONFIG,
        sha(&c.config1),
        c.config1.len(),
        OCI_LAYER_TAR,
        sha(&c.layer_a),
        c.layer_a.len(),
        OCI_LAYER_TAR,
        sha(&c.layer_b),
        c.layer_b.len()
    );
    assert_eq!(String::from_utf8(m.bytes.clone()).unwrap(), expected);
    // Same input, same bytes.
    assert_eq!(resolve_tar(&tar).unwrap(), contents);
}

#[test]
fn classic_save_selection() {
    let contents = resolve_tar(&tar_of(&classic_save().files)).unwrap();
    assert_eq!(contents.select(Some("app:1")).unwrap().names, ["app:1"]);
    assert_eq!(contents.select(Some("tool")).unwrap().names[0], "tool:2");
    assert_eq!(
        contents
            .select(Some("docker.io/library/tool:2"))
            .unwrap()
            .names[0],
        "tool:2"
    );
    assert_eq!(contents.select(Some("1")).unwrap().names[0], "tool:2");
    // skopeo's `docker-archive:PATH:@N`.
    assert_eq!(contents.select(Some("@1")).unwrap().names[0], "tool:2");
    let tool = &contents.images[1];
    let by_manifest = format!("sha256:{}", &tool.manifest.digest.hex()[..10]);
    assert_eq!(contents.select(Some(&by_manifest)).unwrap(), tool);
    let by_config_id = &tool.config.digest.hex()[..12];
    assert_eq!(contents.select(Some(by_config_id)).unwrap(), tool);

    let err = contents.select(None).unwrap_err();
    assert!(matches!(&err, ArchiveError::AmbiguousImage { available } if available.len() == 2));
    let msg = err.to_string();
    assert!(
        msg.contains("0: app:1 (sha256:") && msg.contains("1: tool:2, tool:latest"),
        "{msg}"
    );

    let err = contents.select(Some("nope:1")).unwrap_err();
    match &err {
        ArchiveError::ImageNotFound {
            requested,
            available,
        } => {
            assert_eq!(requested, "nope:1");
            assert_eq!(available.len(), 2);
        }
        e => panic!("{e}"),
    }
    assert!(err.to_string().contains("app:1"));
    assert!(matches!(
        contents.select(Some("7")),
        Err(ArchiveError::ImageNotFound { .. })
    ));
}

#[test]
fn single_image_is_selected_by_default() {
    let mut c = classic_save();
    let manifest: Value = serde_json::from_slice(get(&c.files, "manifest.json")).unwrap();
    let first = json!([manifest[0].clone()]);
    set(
        &mut c.files,
        "manifest.json",
        serde_json::to_vec(&first).unwrap(),
    );
    let contents = resolve_tar(&tar_of(&c.files)).unwrap();
    assert_eq!(contents.select(None).unwrap().names, ["app:1"]);
}

#[test]
fn classic_save_errors_name_the_entry() {
    let c = classic_save();
    let id2 = "2".repeat(64);

    // A layer the manifest names is missing.
    let mut files = c.files.clone();
    remove(&mut files, &format!("{id2}/layer.tar"));
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("tar entry \"{id2}/layer.tar\" referenced by manifest.json is missing")
    );

    // The symlink's target is missing.
    let mut files = c.files.clone();
    remove(&mut files, &format!("{}/layer.tar", "1".repeat(64)));
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingEntry { .. }), "{err}");

    // manifest.json names a path above the root.
    let mut files = c.files.clone();
    let m = json!([{"Config": "../x.json", "RepoTags": [], "Layers": []}]);
    set(&mut files, "manifest.json", serde_json::to_vec(&m).unwrap());
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert_eq!(
        err,
        ArchiveError::PathEscapes {
            entry: "../x.json".into()
        }
    );

    // A symlinked layer escaping the root.
    let mut files = c.files.clone();
    remove(
        &mut files,
        &format!(
            "{}/layer.tar@->../{}/layer.tar",
            "3".repeat(64),
            "1".repeat(64)
        ),
    );
    files.push((
        format!("{}/layer.tar@->../../etc/passwd", "3".repeat(64)),
        vec![],
    ));
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(matches!(err, ArchiveError::PathEscapes { .. }), "{err}");
    assert!(err.to_string().contains("../../etc/passwd"), "{err}");

    // Malformed manifest.json.
    for bad in [&b"{not json"[..], b"[]", b"{\"Config\": 1}"] {
        let mut files = c.files.clone();
        set(&mut files, "manifest.json", bad.to_vec());
        let err = resolve_tar(&tar_of(&files)).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::Malformed { file, .. } if file == "manifest.json"),
            "{err}"
        );
    }

    // A config whose bytes do not match the digest in its name.
    let mut files = c.files.clone();
    let name = format!("{}.json", sha(&c.config1).hex());
    let mut tampered = c.config1.clone();
    tampered.push(b' ');
    set(&mut files, &name, tampered.clone());
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    match &err {
        ArchiveError::DigestMismatch {
            what,
            expected,
            actual,
        } => {
            assert!(what.contains(&name));
            assert_eq!(expected, &sha(&c.config1));
            assert_eq!(actual, &sha(&tampered));
        }
        e => panic!("{e}"),
    }

    // The config repeats layer A's diffID for a second layer that is another entry: that
    // entry would never be read (its bytes could be anything).
    let mut files = c.files.clone();
    let repeated = config_for(&[sha(&c.layer_a), sha(&c.layer_a)], "app");
    let m = json!([{"Config": "config.json", "RepoTags": ["a:1"],
                    "Layers": [format!("{}/layer.tar", "1".repeat(64)), format!("{id2}/layer.tar")]}]);
    set(&mut files, "config.json", repeated.clone());
    set(&mut files, "manifest.json", serde_json::to_vec(&m).unwrap());
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Malformed { file, .. } if file == "manifest.json"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("{id2}/layer.tar")),
        "{err}"
    );
    assert!(err.to_string().contains("layers 0 and 1"), "{err}");
    // The same repeat through a link to the first entry is one layer pushed once.
    let id3 = "3".repeat(64);
    let m = json!([{"Config": "config.json", "RepoTags": ["a:1"],
                    "Layers": [format!("{}/layer.tar", "1".repeat(64)), format!("{id3}/layer.tar")]}]);
    set(&mut files, "manifest.json", serde_json::to_vec(&m).unwrap());
    let image = &resolve_tar(&tar_of(&files)).unwrap().images[0];
    assert_eq!(image.layers[0], image.layers[1]);

    // diff_ids and Layers disagree in number.
    let mut files = c.files.clone();
    let bad_config = config_for(&[sha(&c.layer_a)], "app");
    let m = json!([{"Config": "config.json", "RepoTags": ["a:1"],
                    "Layers": [format!("{}/layer.tar", "1".repeat(64)), format!("{id2}/layer.tar")]}]);
    set(&mut files, "config.json", bad_config);
    set(&mut files, "manifest.json", serde_json::to_vec(&m).unwrap());
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Malformed { file, .. } if file == "config.json"),
        "{err}"
    );

    // A layer entry that is a directory.
    let mut files = c.files.clone();
    let m = json!([{"Config": name, "RepoTags": [], "Layers": [format!("{id2}"), "x"]}]);
    set(&mut files, "manifest.json", serde_json::to_vec(&m).unwrap());
    let mut t = TarBuilder::new();
    for (p, d) in &files {
        match p.split_once("@->") {
            Some((n, target)) => t.symlink(n, target),
            None => t.file(p, d),
        }
    }
    t.dir(&id2);
    let err = resolve_tar(&t.finish()).unwrap_err();
    assert!(matches!(err, ArchiveError::NotAFile { .. }), "{err}");
}

#[test]
fn classic_save_compressed_layers() {
    let gz = {
        let mut v = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0];
        v.extend_from_slice(&[5; 100]);
        v
    };
    let plain = layer_tar("p");
    let config = config_for(&[sha(&plain)], "gz");
    let gz_hex = sha(&gz).hex().to_owned();

    // Under blobs/sha256/<hex>: the digest is the path's.
    let m = json!([{"Config": format!("blobs/sha256/{}", sha(&config).hex()), "RepoTags": ["gz:1"],
                    "Layers": [format!("blobs/sha256/{gz_hex}")]}]);
    let files: Files = vec![
        (format!("blobs/sha256/{gz_hex}"), gz.clone()),
        (
            format!("blobs/sha256/{}", sha(&config).hex()),
            config.clone(),
        ),
        ("manifest.json".into(), serde_json::to_vec(&m).unwrap()),
    ];
    let contents = resolve_tar(&tar_of(&files)).unwrap();
    assert_eq!(contents.format, SourceFormat::DockerArchive);
    let layer = &contents.images[0].layers[0];
    assert_eq!(layer.digest, sha(&gz));
    assert_eq!(layer.media_type, OCI_LAYER_TAR_GZIP);
    assert_eq!(layer.compression, Some(Compression::Gzip));
    assert_eq!(
        layer.diff_id_check,
        Some(sha(&plain)),
        "its tar is left to check"
    );

    // Anywhere else (classic `<id>/layer.tar`, go-containerregistry's `<hex>.tar.gz`): the
    // entry is read whole and hashed.
    for name in ["abc/layer.tar", &format!("{gz_hex}.tar.gz")] {
        let m = json!([{"Config": "c.json", "RepoTags": [], "Layers": [name]}]);
        let files: Files = vec![
            (name.into(), gz.clone()),
            ("c.json".into(), config.clone()),
            ("manifest.json".into(), serde_json::to_vec(&m).unwrap()),
        ];
        let contents = resolve_tar(&tar_of(&files)).unwrap();
        let layer = &contents.images[0].layers[0];
        assert_eq!(layer.digest, sha(&gz), "{name}");
        assert_eq!(layer.media_type, OCI_LAYER_TAR_GZIP);
    }

    let m = json!([{"Config": "c.json", "RepoTags": [], "Layers": ["abc/layer.tar"]}]);
    let files: Files = vec![
        ("abc/layer.tar".into(), gz.clone()),
        ("c.json".into(), config.clone()),
        ("manifest.json".into(), serde_json::to_vec(&m).unwrap()),
    ];

    // xz has no OCI media type at all.
    let mut files = files;
    set(
        &mut files,
        "abc/layer.tar",
        vec![0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2],
    );
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(err.to_string().contains("xz"), "{err}");
}

/// A compressed layer bigger than one read is hashed over several, and a tar cut short inside
/// it is an error naming the entry.
#[test]
fn a_compressed_layer_is_hashed_in_chunks() {
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0];
    gz.extend((0..9_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let config = config_for(&[sha(&layer_tar("p"))], "gz");
    let m = json!([{"Config": "c.json", "RepoTags": [], "Layers": ["big/layer.tar"]}]);
    let files: Files = vec![
        ("c.json".into(), config),
        ("manifest.json".into(), serde_json::to_vec(&m).unwrap()),
        ("big/layer.tar".into(), gz.clone()),
    ];
    let tar = tar_of(&files);
    let contents = resolve_tar(&tar).unwrap();
    assert_eq!(contents.images[0].layers[0].digest, sha(&gz));
    assert_eq!(contents.images[0].layers[0].size, gz.len() as u64);
    // Nothing vouches for its tar: the runner checks it against the config's diffID.
    let check = contents.images[0].layers[0].diff_id_check.clone();
    assert_eq!(check, Some(sha(&layer_tar("p"))));

    let cut = &tar[..tar.len() - 4_000_000];
    let err = resolve_tar(cut).unwrap_err();
    assert!(matches!(err, ArchiveError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("big/layer.tar"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// OCI layouts

/// Builds an OCI image layout file by file.
#[derive(Default)]
struct Layout {
    files: BTreeMap<String, Vec<u8>>,
    index: Vec<Value>,
}

struct Built {
    manifest: Digest,
    manifest_len: usize,
    config: Digest,
    layers: Vec<Digest>,
}

impl Layout {
    fn blob(&mut self, bytes: &[u8]) -> Digest {
        let d = sha(bytes);
        self.files
            .insert(format!("blobs/sha256/{}", d.hex()), bytes.to_vec());
        d
    }

    /// Adds an image manifest (pretty-printed, so byte-for-byte preservation shows) without
    /// listing it in index.json.
    fn manifest(&mut self, layers: &[(&[u8], &str)], marker: &str) -> Built {
        let diff_ids: Vec<Digest> = layers.iter().map(|(l, _)| sha(l)).collect();
        let config = config_for(&diff_ids, marker);
        let config_digest = self.blob(&config);
        let layer_descs: Vec<Value> = layers
            .iter()
            .map(|(l, mt)| json!({"mediaType": mt, "digest": sha(l), "size": l.len()}))
            .collect();
        for (l, _) in layers {
            self.blob(l);
        }
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layer_descs,
        }))
        .unwrap();
        let manifest_digest = self.blob(&manifest);
        Built {
            manifest: manifest_digest,
            manifest_len: manifest.len(),
            config: config_digest,
            layers: diff_ids,
        }
    }

    /// Adds an image index of `manifests` (its entries) and lists it in index.json with
    /// `annotations`; returns its digest.
    fn image_index(&mut self, manifests: Value, annotations: Value) -> Digest {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))
        .unwrap();
        let digest = self.blob(&index);
        self.index.push(json!({
            "mediaType": OCI_INDEX, "digest": digest, "size": index.len(),
            "annotations": annotations,
        }));
        digest
    }

    /// Adds an image and lists it in index.json with `annotations`.
    fn image(&mut self, layers: &[(&[u8], &str)], marker: &str, annotations: Value) -> Built {
        let b = self.manifest(layers, marker);
        self.index.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": b.manifest,
            "size": b.manifest_len,
            "annotations": annotations,
        }));
        b
    }

    fn files(&self) -> Files {
        let mut out: Files = vec![
            (
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (
                "index.json".into(),
                serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                           "manifests": self.index}))
                .unwrap(),
            ),
        ];
        out.extend(self.files.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

fn one_image_layout() -> (Layout, Built, Vec<u8>, Vec<u8>) {
    let plain = layer_tar("oci layer");
    let gz = {
        let mut v = vec![0x1f, 0x8b, 8, 0];
        v.extend_from_slice(b"not really gzip but sniffed as such");
        v
    };
    let mut layout = Layout::default();
    let built = layout.image(
        &[(&plain, OCI_LAYER_TAR), (&gz, OCI_LAYER_TAR_GZIP)],
        "oci",
        json!({"org.opencontainers.image.ref.name": "v1"}),
    );
    (layout, built, plain, gz)
}

fn check_one_image(contents: &SourceContents, layout: &Layout, built: &Built) {
    assert_eq!(contents.images.len(), 1);
    let img = contents.select(None).unwrap();
    assert_eq!(img.names, ["v1"]);
    let path = format!("blobs/sha256/{}", built.manifest.hex());
    assert_eq!(img.manifest.bytes, layout.files[&path]);
    assert_eq!(img.manifest.digest, built.manifest);
    assert_eq!(img.manifest.media_type, OCI_MANIFEST);
    assert_eq!(img.config.digest, built.config);
    assert_eq!(img.config.media_type, OCI_CONFIG);
    assert_eq!(img.layers[0].compression, Some(Compression::None));
    assert_eq!(img.layers[1].compression, Some(Compression::Gzip));
    assert_eq!(img.layers[1].media_type, OCI_LAYER_TAR_GZIP);
    assert_eq!(img.layers[0].digest, built.layers[0]);
}

#[test]
fn oci_archive() {
    let (layout, built, plain, _) = one_image_layout();
    let tar = tar_of(&layout.files());
    let contents = resolve_tar(&tar).unwrap();
    assert_eq!(contents.format, SourceFormat::OciArchive);
    assert_eq!(contents.format.to_string(), "oci-archive");
    check_one_image(&contents, &layout, &built);
    match &contents.images[0].layers[0].location {
        BlobLocation::TarRange { entry, offset } => {
            assert_eq!(entry, &format!("blobs/sha256/{}", sha(&plain).hex()));
            assert_eq!(
                &tar[*offset as usize..*offset as usize + plain.len()],
                &plain[..]
            );
        }
        l => panic!("{l:?}"),
    }
}

#[test]
fn oci_archive_with_dot_slash_prefixes() {
    let (layout, built, _, _) = one_image_layout();
    let files: Files = layout
        .files()
        .into_iter()
        .map(|(p, d)| (format!("./{p}"), d))
        .collect();
    let mut t = TarBuilder::new();
    t.dir("./");
    for (p, d) in &files {
        t.file(p, d);
    }
    let contents = resolve_tar(&t.finish()).unwrap();
    check_one_image(&contents, &layout, &built);
}

#[test]
fn oci_layout_directory() {
    let (layout, built, plain, _) = one_image_layout();
    let dir = dir_of(&layout.files());
    let contents = resolve_dir(&dir).unwrap();
    assert_eq!(contents.format, SourceFormat::OciLayout);
    assert_eq!(contents.format.to_string(), "oci");
    check_one_image(&contents, &layout, &built);
    assert_eq!(
        contents.images[0].layers[0].location,
        BlobLocation::File {
            path: format!("blobs/sha256/{}", sha(&plain).hex())
        }
    );
}

/// A layout's blobs as skopeo's `dir:` keeps them: `<hex>` (`<hex><suffix>`), `top` (a
/// manifest or index) as `manifest.json`, and `manifests` as `<hex>.manifest.json`.
fn skopeo_dir(
    layout: &Layout,
    top: &Digest,
    manifests: &[&Digest],
    version: &str,
    suffix: &str,
) -> HashMap<String, Vec<u8>> {
    let mut dir = HashMap::new();
    for (path, bytes) in &layout.files {
        let hex = path.trim_start_matches("blobs/sha256/");
        let name = if hex == top.hex() {
            "manifest.json".to_owned()
        } else if manifests.iter().any(|m| m.hex() == hex) {
            format!("{hex}.manifest.json")
        } else {
            format!("{hex}{suffix}")
        };
        dir.insert(name, bytes.clone());
    }
    dir.insert(
        "version".into(),
        format!("Directory Transport Version: {version}\n").into_bytes(),
    );
    dir
}

#[test]
fn a_bare_ref_name_beside_a_whole_name_is_its_tag() {
    let (layout, ..) = one_image_layout();
    let mut img = resolve_dir(&dir_of(&layout.files())).unwrap().images[0].clone();
    assert_eq!(img.names, ["v1"]);
    assert_eq!(img.repository_names(), ["v1"], "the only name there is");
    img.names = vec![
        "docker.io/library/app:1".into(),
        "1".into(),
        "busybox:latest".into(),
    ];
    assert_eq!(
        img.repository_names(),
        ["docker.io/library/app:1", "busybox:latest"]
    );
}

#[test]
fn skopeo_dir_layouts() {
    let (layout, built, plain, _) = one_image_layout();
    for (version, suffix) in [("1.1", ""), ("1.0", ".tar")] {
        let dir = skopeo_dir(&layout, &built.manifest, &[], version, suffix);
        let contents = resolve_dir(&dir).unwrap();
        assert_eq!(contents.format, SourceFormat::SkopeoDir);
        assert_eq!(contents.format.to_string(), "dir");
        let img = contents.select(None).unwrap();
        assert!(img.names.is_empty());
        assert_eq!(img.manifest.digest, built.manifest);
        assert_eq!(img.manifest.bytes, dir["manifest.json"]);
        assert_eq!(img.config.digest, built.config);
        assert_eq!(img.layers[0].digest, built.layers[0]);
        assert_eq!(img.layers[1].compression, Some(Compression::Gzip));
        assert_eq!(
            img.layers[0].location,
            BlobLocation::File {
                path: format!("{}{suffix}", sha(&plain).hex())
            }
        );
    }

    // `skopeo copy --multi-arch all`: the index as manifest.json, its images beside it.
    let (multi, index_digest, [amd, arm]) = multi_platform_layout(&[]);
    let dir = skopeo_dir(
        &multi,
        &index_digest,
        &[&amd.manifest, &arm.manifest],
        "1.1",
        "",
    );
    let contents = resolve_dir(&dir).unwrap();
    assert_eq!(contents.images.len(), 2);
    let img = &contents.images[1];
    assert_eq!(img.manifest.digest, arm.manifest);
    assert_eq!(img.index.as_ref().unwrap().digest, index_digest);
    assert_eq!(img.platform.as_ref().unwrap().architecture, "arm");

    // A version this reader does not know is named; a directory without the marker is read
    // as an OCI layout (and says it is not one).
    let mut dir = skopeo_dir(&layout, &built.manifest, &[], "1.1", "");
    dir.insert(
        "version".into(),
        b"Directory Transport Version: 2.0".to_vec(),
    );
    let err = resolve_dir(&dir).unwrap_err();
    assert!(
        err.to_string().contains("version") && err.to_string().contains("2.0"),
        "{err}"
    );
    dir.remove("version");
    let err = resolve_dir(&dir).unwrap_err();
    assert!(err.to_string().contains("not an OCI image layout"), "{err}");
}

/// A layer an image repeats, written in full twice (Docker before it linked repeats): the
/// same bytes are one layer; other bytes under the config's one diffID are refused.
#[test]
fn a_repeated_layer_written_twice_is_taken_when_its_bytes_are_the_same() {
    let plain = layer_tar("twice");
    let config = config_for(&[sha(&plain), sha(&plain)], "twice");
    let m = json!([{"Config": "c.json", "RepoTags": ["twice:1"],
                    "Layers": ["a/layer.tar", "b/layer.tar"]}]);
    let files = |second: Vec<u8>| -> Files {
        vec![
            ("a/layer.tar".into(), plain.clone()),
            ("b/layer.tar".into(), second),
            ("c.json".into(), config.clone()),
            ("manifest.json".into(), serde_json::to_vec(&m).unwrap()),
        ]
    };
    let contents = resolve_tar(&tar_of(&files(plain.clone()))).unwrap();
    let layers = &contents.images[0].layers;
    assert_eq!(
        (layers[0].digest.clone(), layers[1].digest.clone()),
        (sha(&plain), sha(&plain))
    );
    let mut other = plain.clone();
    let last = other.len() - 600;
    other[last] ^= 1;
    let err = resolve_tar(&tar_of(&files(other))).unwrap_err().to_string();
    assert!(err.contains("whose bytes differ"), "{err}");
}

/// A Windows image's save: `LayerSources` names its base layer's descriptor and URLs. That
/// layer is foreign (never read, never uploaded: the tar need not hold it), and the manifest
/// built names it under the OCI non-distributable type with its URLs.
#[test]
fn a_layer_named_by_layer_sources_is_foreign() {
    let base = layer_tar("windows base");
    let own = layer_tar("own layer");
    let config = config_for(&[sha(&base), sha(&own)], "windows");
    let blob = Digest::sha256_of(b"the base layer's gzip, elsewhere");
    let m = json!([{"Config": "c.json", "RepoTags": ["win:1"],
                    "Layers": ["base/layer.tar", "own/layer.tar"],
                    "LayerSources": {sha(&base).to_string(): {
                        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                        "size": 123456, "digest": blob.to_string(),
                        "urls": ["https://mcr.example/blobs/base"]}}}]);
    let files: Files = vec![
        ("own/layer.tar".into(), own.clone()),
        ("c.json".into(), config.clone()),
        ("manifest.json".into(), serde_json::to_vec(&m).unwrap()),
    ];
    let contents = resolve_tar(&tar_of(&files)).unwrap();
    let image = &contents.images[0];
    let (base_layer, own_layer) = (&image.layers[0], &image.layers[1]);
    assert!(base_layer.foreign && !own_layer.foreign);
    assert_eq!(
        (base_layer.digest.clone(), base_layer.size),
        (blob.clone(), 123456)
    );
    assert_eq!(base_layer.media_type, OCI_NONDISTRIBUTABLE_LAYER_TAR_GZIP);
    assert_eq!(own_layer.digest, sha(&own));
    let manifest: Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    assert_eq!(
        manifest["layers"][0]["urls"],
        json!(["https://mcr.example/blobs/base"])
    );
    assert_eq!(manifest["layers"][1].get("urls"), None);
}

#[test]
fn docker_25_save_uses_the_oci_layout_and_repo_tags() {
    let plain = layer_tar("docker 25");
    let mut layout = Layout::default();
    let built = layout.image(
        &[(&plain, OCI_LAYER_TAR)],
        "d25",
        json!({"io.containerd.image.name": "docker.io/library/busybox:latest",
               "org.opencontainers.image.ref.name": "latest"}),
    );
    let mut files = layout.files();
    let m = json!([{"Config": format!("blobs/sha256/{}", built.config.hex()),
                    "RepoTags": ["busybox:latest"],
                    "Layers": [format!("blobs/sha256/{}", built.layers[0].hex())]}]);
    files.push(("manifest.json".into(), serde_json::to_vec(&m).unwrap()));
    let contents = resolve_tar(&tar_of(&files)).unwrap();
    assert_eq!(contents.format, SourceFormat::DockerArchiveOci);
    assert_eq!(
        contents.format.to_string(),
        "docker-archive (Docker 25+ OCI)"
    );
    let img = contents.select(Some("busybox")).unwrap();
    assert_eq!(img.names, ["busybox:latest"]);
    // The stored manifest is pushed unchanged.
    assert_eq!(img.manifest.digest, built.manifest);
    assert_eq!(img.layers[0].digest, sha(&plain));

    // Without RepoTags, the annotation names remain.
    let m = json!([{"Config": format!("blobs/sha256/{}", built.config.hex()), "RepoTags": null,
                    "Layers": []}]);
    set(&mut files, "manifest.json", serde_json::to_vec(&m).unwrap());
    let contents = resolve_tar(&tar_of(&files)).unwrap();
    assert_eq!(
        contents.images[0].names,
        ["docker.io/library/busybox:latest", "latest"]
    );
}

/// `docker save app:1 app:latest` (Docker 25+) lists the image once per tag in `index.json`:
/// it is one image, named by both tags, as `docker load` takes it.
#[test]
fn a_docker_25_save_of_two_tags_of_one_image_holds_one_image() {
    let plain = layer_tar("two tags");
    let mut layout = Layout::default();
    let mut built = None;
    for tag in ["1", "latest"] {
        built = Some(layout.image(
            &[(&plain, OCI_LAYER_TAR)],
            "tagged",
            json!({"io.containerd.image.name": format!("docker.io/library/app:{tag}"),
                   "org.opencontainers.image.ref.name": tag}),
        ));
    }
    let built = built.unwrap();
    let mut files = layout.files();
    let m = json!([{"Config": format!("blobs/sha256/{}", built.config.hex()),
                    "RepoTags": ["app:1", "app:latest"],
                    "Layers": [format!("blobs/sha256/{}", built.layers[0].hex())]}]);
    files.push(("manifest.json".into(), serde_json::to_vec(&m).unwrap()));
    let contents = resolve_tar(&tar_of(&files)).unwrap();
    assert_eq!(contents.images.len(), 1, "{:?}", contents.choices());
    assert_eq!(contents.images[0].names, ["app:1", "app:latest"]);
}

#[test]
fn several_images_in_a_layout() {
    let l1 = layer_tar("one");
    let l2 = layer_tar("two");
    let mut layout = Layout::default();
    let a = layout.image(
        &[(&l1, OCI_LAYER_TAR)],
        "a",
        json!({"org.opencontainers.image.ref.name": "a:1"}),
    );
    let b = layout.image(
        &[(&l2, OCI_LAYER_TAR)],
        "b",
        json!({"org.opencontainers.image.ref.name": "b:2"}),
    );
    let c = layout.image(&[(&l1, OCI_LAYER_TAR)], "c", json!({}));
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    assert_eq!(contents.images.len(), 3);
    assert_eq!(
        contents.select(Some("b:2")).unwrap().manifest.digest,
        b.manifest
    );
    assert_eq!(
        contents.select(Some("a:1")).unwrap().manifest.digest,
        a.manifest
    );
    assert_eq!(
        contents.select(Some("2")).unwrap().manifest.digest,
        c.manifest
    );
    let err = contents.select(None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("3 images match"), "{msg}");
    assert!(msg.contains("2: <unnamed> (sha256:"), "{msg}");
    // For a platform none of them serves: not found, each listed with its own platform.
    let s390x = "linux/s390x".parse().unwrap();
    let Err(err) = contents.select_for_platform(None, &s390x) else {
        panic!("an image for s390x")
    };
    let msg = err.to_string();
    assert!(
        msg.starts_with("no image for platform linux/s390x; available"),
        "{msg}"
    );
    assert!(msg.contains("2: <unnamed> (sha256:"), "{msg}");
    assert!(msg.contains(" for "), "{msg}");
}

#[test]
fn nested_index_uses_the_present_platform_manifest() {
    let plain = layer_tar("arm64");
    let mut layout = Layout::default();
    let present = layout.manifest(&[(&plain, OCI_LAYER_TAR)], "present");
    let absent = sha(b"a manifest that was not saved");
    let attestation = layout.manifest(&[], "attestation");
    let index_digest = layout.image_index(
        json!([
            {"mediaType": OCI_MANIFEST, "digest": absent, "size": 10,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": present.manifest, "size": present.manifest_len,
             "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": attestation.manifest,
             "size": attestation.manifest_len,
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        ]),
        json!({"io.containerd.image.name": "docker.io/library/multi:1"}),
    );
    for contents in [
        resolve_dir(&dir_of(&layout.files())).unwrap(),
        resolve_tar(&tar_of(&layout.files())).unwrap(),
    ] {
        // The attestation is there too, marked; it is never the image chosen.
        assert_eq!(contents.images.len(), 2);
        assert!(contents.images[1].attestation && !contents.images[0].attestation);
        let img = contents.select(Some("multi:1")).unwrap();
        assert_eq!(img.manifest.digest, present.manifest);
        assert_eq!(img.names, ["docker.io/library/multi:1"]);
        // The index names a manifest the file lacks: it cannot be pushed whole, so its one
        // runnable image is pushed alone.
        match contents.select_for_push(Some("multi:1")).unwrap() {
            Selection::Image(img) => assert_eq!(img.manifest.digest, present.manifest),
            other => panic!("{other:?}"),
        }
    }

    // An index none of whose manifests is present.
    let mut files = layout.files();
    remove(
        &mut files,
        &format!("blobs/sha256/{}", present.manifest.hex()),
    );
    remove(
        &mut files,
        &format!("blobs/sha256/{}", attestation.manifest.hex()),
    );
    let err = resolve_dir(&dir_of(&files)).unwrap_err();
    assert!(matches!(err, ArchiveError::NestedIndex { .. }), "{err}");
    assert!(err.to_string().contains(&index_digest.to_string()), "{err}");
}

/// A partial save holding two platforms of an index that names three: it cannot go whole
/// and neither platform is the one, so the choice is asked for, each named by its platform.
#[test]
fn two_platforms_of_a_partial_index_are_told_apart_by_platform() {
    let mut layout = Layout::default();
    let (amd_layer, arm_layer) = (layer_tar("amd64"), layer_tar("arm64"));
    let amd = layout.manifest(&[(&amd_layer, OCI_LAYER_TAR)], "amd");
    let arm = layout.manifest(&[(&arm_layer, OCI_LAYER_TAR)], "arm");
    let absent = sha(b"a manifest that was not saved");
    layout.image_index(
        json!([
            {"mediaType": OCI_MANIFEST, "digest": amd.manifest, "size": amd.manifest_len,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm.manifest, "size": arm.manifest_len,
             "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": absent, "size": 10,
             "platform": {"architecture": "s390x", "os": "linux"}},
        ]),
        json!({"io.containerd.image.name": "docker.io/library/multi:1"}),
    );
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    let msg = contents.select_for_push(None).unwrap_err().to_string();
    assert!(msg.contains("position or platform"), "{msg}");
    assert!(msg.contains("for linux/amd64"), "{msg}");
    assert!(msg.contains("for linux/arm64"), "{msg}");
    // The platform chooses.
    let arm64: crate::platform::Platform = "linux/arm64".parse().unwrap();
    match contents.select_for_platform(None, &arm64).unwrap() {
        Selection::Image(img) => assert_eq!(img.manifest.digest, arm.manifest),
        other => panic!("{other:?}"),
    }
    let s390x: crate::platform::Platform = "linux/s390x".parse().unwrap();
    assert!(contents.select_for_platform(None, &s390x).is_err());
}

/// buildx's index of an image and its attestation, every manifest present: the index goes
/// whole, attestation included (a registry would refuse an index naming a manifest it
/// lacks); one platform asked for by its digest goes alone.
#[test]
fn a_whole_buildx_index_is_pushed_with_its_attestation() {
    let plain = layer_tar("arm64");
    let mut whole = Layout::default();
    let arm = whole.manifest(&[(&plain, OCI_LAYER_TAR)], "present");
    let att = whole.manifest(&[], "attestation");
    let whole_digest = whole.image_index(
        json!([
            {"mediaType": OCI_MANIFEST, "digest": arm.manifest, "size": arm.manifest_len,
             "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": att.manifest, "size": att.manifest_len,
             "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": arm.manifest}},
        ]),
        json!({"org.opencontainers.image.ref.name": "1"}),
    );
    let contents = resolve_dir(&dir_of(&whole.files())).unwrap();
    match contents.select_for_push(None).unwrap() {
        Selection::Index { index, images } => {
            assert_eq!(index.digest, whole_digest);
            let pushed: Vec<_> = images.iter().map(|i| &i.manifest.digest).collect();
            assert_eq!(pushed, [&arm.manifest, &att.manifest]);
        }
        other => panic!("{other:?}"),
    }
    // One platform asked for by its digest is that image alone.
    let alone = contents.select_for_push(Some(arm.manifest.hex())).unwrap();
    assert!(matches!(alone, Selection::Image(i) if i.manifest.digest == arm.manifest));
}

/// An index of one platform's image, every manifest present (podman's `manifest push --all`
/// of a one-image list into `oci:`): named or alone in the layout, the index goes whole, as
/// skopeo `copy --all` keeps it; the image asked for by its digest or position goes alone.
#[test]
fn an_index_of_one_image_held_whole_is_pushed_as_the_index() {
    let mut layout = Layout::default();
    let amd = layout.manifest(&[(&layer_tar("amd64"), OCI_LAYER_TAR)], "amd");
    let index_digest = layout.image_index(
        json!([
            {"mediaType": OCI_MANIFEST, "digest": amd.manifest, "size": amd.manifest_len,
             "platform": {"architecture": "amd64", "os": "linux"}},
        ]),
        json!({"org.opencontainers.image.ref.name": "one"}),
    );
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    for wanted in [None, Some("one"), Some(index_digest.hex())] {
        match contents.select_for_push(wanted).unwrap() {
            Selection::Index { index, images } => {
                assert_eq!(index.digest, index_digest, "{wanted:?}");
                assert_eq!(images.len(), 1);
            }
            other => panic!("{wanted:?}: {other:?}"),
        }
    }
    for wanted in [amd.manifest.hex(), "@0"] {
        let alone = contents.select_for_push(Some(wanted)).unwrap();
        assert!(
            matches!(alone, Selection::Image(i) if i.manifest.digest == amd.manifest),
            "{wanted}"
        );
    }
}

/// A layout whose index.json lists one two-platform index under each of `names`, then one
/// single image; returns it with the index digest and the two platform manifests.
fn multi_platform_layout(names: &[&str]) -> (Layout, Digest, [Built; 2]) {
    let mut layout = Layout::default();
    let amd = layout.manifest(&[(&layer_tar("amd64"), OCI_LAYER_TAR)], "amd");
    let arm = layout.manifest(&[(&layer_tar("arm"), OCI_LAYER_TAR)], "arm");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd.manifest, "size": amd.manifest_len,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm.manifest, "size": arm.manifest_len,
             "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        ],
    }))
    .unwrap();
    let index_digest = layout.blob(&index);
    for name in names {
        layout.index.push(json!({
            "mediaType": OCI_INDEX, "digest": index_digest, "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }));
    }
    (layout, index_digest, [amd, arm])
}

/// `--platform`: an index's image for it alone; a single image of another platform refused.
#[test]
fn a_selection_narrows_to_one_platform() {
    let (layout, _, [amd, arm]) = multi_platform_layout(&["multi"]);
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    let whole = contents.select_for_push(Some("multi")).unwrap();
    let arm_platform: crate::Platform = "linux/arm/v7".parse().unwrap();
    let Selection::Image(img) = whole.for_platform(&arm_platform).unwrap() else {
        panic!("one image")
    };
    assert_eq!(img.manifest.digest, arm.manifest);
    let s390x: crate::Platform = "linux/s390x".parse().unwrap();
    let err = whole.for_platform(&s390x).unwrap_err().to_string();
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm/v7"),
        "{err}"
    );
    let alone = contents.select_for_push(Some(amd.manifest.hex())).unwrap();
    let amd64: crate::Platform = "linux/amd64".parse().unwrap();
    assert!(matches!(
        alone.for_platform(&amd64),
        Ok(Selection::Image(_))
    ));
    assert!(alone.for_platform(&s390x).is_err());
}

/// An index naming one manifest twice holds one image: it is read, pushed and listed once.
#[test]
fn an_index_naming_a_manifest_twice_holds_it_once() {
    let mut layout = Layout::default();
    let amd = layout.manifest(&[(&layer_tar("amd64"), OCI_LAYER_TAR)], "amd");
    let entry = json!({"mediaType": OCI_MANIFEST, "digest": amd.manifest,
        "size": amd.manifest_len, "platform": {"architecture": "amd64", "os": "linux"}});
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry.clone(), entry]}))
    .unwrap();
    let index_digest = layout.blob(&index);
    layout
        .index
        .push(json!({"mediaType": OCI_INDEX, "digest": index_digest,
        "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "twice"}}));
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    assert_eq!(contents.images.len(), 1);
}

/// A platform's manifest also tagged on its own (`skopeo copy --preserve-digests` of one
/// platform into the same layout): its digest names one image, not two to choose from.
#[test]
fn a_manifest_both_in_an_index_and_alone_is_one_image_by_its_digest() {
    let (mut layout, _, [amd, _]) = multi_platform_layout(&["multi"]);
    layout.index.push(json!({
        "mediaType": OCI_MANIFEST, "digest": amd.manifest, "size": amd.manifest_len,
        "annotations": {"org.opencontainers.image.ref.name": "amd64only"},
    }));
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    let prefix = &amd.manifest.hex()[..12];
    let chosen = contents.select_for_push(Some(prefix)).unwrap();
    assert!(
        matches!(chosen, Selection::Image(i) if i.manifest.digest == amd.manifest && i.index.is_none()),
        "{chosen:?}"
    );
    assert!(matches!(
        contents.select_for_push(Some("multi")).unwrap(),
        Selection::Index { .. }
    ));
}

#[test]
fn platforms_come_from_the_index_entry_or_the_config() {
    let (mut layout, _, _) = multi_platform_layout(&["multi"]);
    layout.image(&[(&layer_tar("single"), OCI_LAYER_TAR)], "one", json!({}));
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    let platforms: Vec<String> = contents
        .images
        .iter()
        .map(|img| img.platform.as_ref().unwrap().to_string())
        .collect();
    // The single image's config says linux/amd64 (config_for).
    assert_eq!(platforms, ["linux/amd64", "linux/arm/v7", "linux/amd64"]);
    let classic = resolve_tar(&tar_of(&classic_save().files)).unwrap();
    assert_eq!(
        classic.images[0].platform.as_ref().map(ToString::to_string),
        Some("linux/amd64".to_owned())
    );
}

#[test]
fn two_tags_on_one_image_need_no_choice() {
    let mut layout = Layout::default();
    let built = layout.image(
        &[(&layer_tar("one"), OCI_LAYER_TAR)],
        "one",
        json!({"org.opencontainers.image.ref.name": "v1"}),
    );
    layout.index.push(json!({
        "mediaType": OCI_MANIFEST, "digest": built.manifest, "size": built.manifest_len,
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }));
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    assert_eq!(contents.images.len(), 2);
    assert_eq!(
        contents.select(None).unwrap().manifest.digest,
        built.manifest
    );
    let Selection::Image(img) = contents.select_for_push(None).unwrap() else {
        panic!("one image")
    };
    assert_eq!(img.manifest.digest, built.manifest);

    // Two tags on one index: the index, each platform once.
    let (layout, index_digest, [amd, arm]) = multi_platform_layout(&["a", "b"]);
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    assert_eq!(contents.images.len(), 4);
    let Selection::Index { index, images } = contents.select_for_push(None).unwrap() else {
        panic!("the index")
    };
    assert_eq!(index.digest, index_digest);
    let digests: Vec<&Digest> = images.iter().map(|i| &i.manifest.digest).collect();
    assert_eq!(digests, [&amd.manifest, &arm.manifest]);

    // A platform of an index and the same manifest on its own are two things to choose from.
    let (mut layout, _, [amd, _]) = multi_platform_layout(&["multi"]);
    layout.index.push(json!({
        "mediaType": OCI_MANIFEST, "digest": amd.manifest, "size": amd.manifest_len,
        "annotations": {"org.opencontainers.image.ref.name": "amd"},
    }));
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    let err = contents.select_for_push(None).unwrap_err();
    assert!(matches!(err, ArchiveError::AmbiguousImage { .. }), "{err}");
}

#[test]
fn entries_keep_each_index_whole_under_each_name() {
    let (mut layout, index_digest, [amd, arm]) = multi_platform_layout(&["a", "b"]);
    let single = layout.image(
        &[(&layer_tar("single"), OCI_LAYER_TAR)],
        "single",
        json!({"org.opencontainers.image.ref.name": "c"}),
    );
    let contents = resolve_dir(&dir_of(&layout.files())).unwrap();
    let entries = contents.entries();
    assert_eq!(entries.len(), 3, "{entries:#?}");
    for (entry, name) in entries.iter().take(2).zip(["a", "b"]) {
        let Selection::Index { index, images } = entry else {
            panic!("an index: {entry:?}")
        };
        assert_eq!(index.digest, index_digest);
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].manifest.digest, amd.manifest);
        assert_eq!(images[1].manifest.digest, arm.manifest);
        assert_eq!(images[0].names, [name]);
    }
    let Selection::Image(img) = entries[2] else {
        panic!("an image")
    };
    assert_eq!(img.manifest.digest, single.manifest);
}

#[test]
fn doubly_nested_index_is_rejected() {
    let mut layout = Layout::default();
    let inner = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                           "manifests": []}))
    .unwrap();
    let inner_d = layout.blob(&inner);
    let outer = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_INDEX, "digest": inner_d, "size": inner.len()}]}))
    .unwrap();
    let outer_d = layout.blob(&outer);
    layout
        .index
        .push(json!({"mediaType": OCI_INDEX, "digest": outer_d, "size": outer.len()}));
    let err = resolve_dir(&dir_of(&layout.files())).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::NestedIndex { digest, .. } if *digest == inner_d.to_string()),
        "{err}"
    );
}

#[test]
fn oci_layout_errors() {
    let (layout, built, plain, _) = one_image_layout();
    let good = layout.files();
    let manifest_path = format!("blobs/sha256/{}", built.manifest.hex());
    let config_path = format!("blobs/sha256/{}", built.config.hex());
    let layer_path = format!("blobs/sha256/{}", sha(&plain).hex());

    // Run every case against both a directory and a tar of the same files.
    let both_ways = |files: &Files| -> [ArchiveError; 2] {
        [
            resolve_dir(&dir_of(files)).unwrap_err(),
            resolve_tar(&tar_of(files)).unwrap_err(),
        ]
    };

    // Missing index.json / oci-layout; neither present.
    let mut files = good.clone();
    remove(&mut files, "index.json");
    let [dir_err, tar_err] = both_ways(&files);
    assert!(matches!(&dir_err, ArchiveError::MissingFile { path, .. } if path == "index.json"));
    assert!(matches!(&tar_err, ArchiveError::MissingEntry { path, .. } if path == "index.json"));
    let mut files = good.clone();
    remove(&mut files, "oci-layout");
    for err in both_ways(&files) {
        assert!(err.to_string().contains("\"oci-layout\""), "{err}");
    }
    let mut files = good.clone();
    remove(&mut files, "oci-layout");
    remove(&mut files, "index.json");
    for err in both_ways(&files) {
        assert!(
            matches!(err, ArchiveError::UnsupportedFormat { .. }),
            "{err}"
        );
    }
    let err = resolve_tar(&tar_of(&files)).unwrap_err().to_string();
    assert!(err.contains("\"blobs\""), "lists what was found: {err}");

    // Wrong layout version; malformed index.json; an empty index.
    let mut files = good.clone();
    set(
        &mut files,
        "oci-layout",
        br#"{"imageLayoutVersion":"2.0.0"}"#.to_vec(),
    );
    for err in both_ways(&files) {
        assert!(matches!(&err, ArchiveError::Malformed { file, .. } if file == "oci-layout"));
    }
    // An empty index is a valid, empty layout: it holds no image, and says so.
    let mut files = good.clone();
    set(
        &mut files,
        "index.json",
        br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
    );
    for err in both_ways(&files) {
        assert!(matches!(&err, ArchiveError::NoImage { .. }), "{err}");
        assert!(err.to_string().contains("holds no image"), "{err}");
    }
    for bad in [
        &b"nope"[..],
        br#"{"schemaVersion":1,"manifests":[]}"#,
        br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:xyz","size":1}]}"#,
    ] {
        let mut files = good.clone();
        set(&mut files, "index.json", bad.to_vec());
        for err in both_ways(&files) {
            assert!(
                matches!(&err, ArchiveError::Malformed { file, .. } if file == "index.json"),
                "{err}"
            );
        }
    }

    // A manifest blob is missing.
    let mut files = good.clone();
    remove(&mut files, &manifest_path);
    let [dir_err, tar_err] = both_ways(&files);
    assert_eq!(
        dir_err.to_string(),
        format!(
            "file \"{manifest_path}\" referenced by index.json manifests[0] is missing from the \
             layout directory"
        )
    );
    assert!(matches!(tar_err, ArchiveError::MissingEntry { .. }));

    // A layer blob is missing.
    let mut files = good.clone();
    remove(&mut files, &layer_path);
    for err in both_ways(&files) {
        let msg = err.to_string();
        assert!(
            msg.contains(&layer_path) && msg.contains("layers[0]"),
            "{msg}"
        );
    }

    // A layer blob of the wrong size.
    let mut files = good.clone();
    let mut longer = plain.clone();
    longer.extend_from_slice(&[0; 512]);
    set(&mut files, &layer_path, longer.clone());
    for err in both_ways(&files) {
        assert_eq!(
            err,
            ArchiveError::SizeMismatch {
                what: format!("layer {layer_path} (layers[0] of manifest {manifest_path})"),
                descriptor: plain.len() as u64,
                actual: longer.len() as u64,
            }
        );
    }

    // A config whose bytes do not match its digest (same size, one byte changed).
    let mut files = good.clone();
    let mut config = get(&files, &config_path).to_vec();
    config[0] = b' ';
    set(&mut files, &config_path, config);
    for err in both_ways(&files) {
        assert!(
            matches!(&err, ArchiveError::DigestMismatch { what, expected, .. }
                if what.contains(&config_path) && *expected == built.config),
            "{err}"
        );
    }

    // A manifest whose size disagrees with index.json.
    let mut files = good.clone();
    let mut m = get(&files, &manifest_path).to_vec();
    m.push(b'\n');
    set(&mut files, &manifest_path, m);
    for err in both_ways(&files) {
        assert!(matches!(err, ArchiveError::SizeMismatch { .. }), "{err}");
    }

    // A manifest blob that is not JSON (but matches its descriptor).
    let mut l2 = Layout::default();
    let junk = b"junk".to_vec();
    let d = l2.blob(&junk);
    l2.index
        .push(json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 4}));
    for err in both_ways(&l2.files()) {
        assert!(
            matches!(&err, ArchiveError::Malformed { file, .. } if file.starts_with("blobs/sha256/")),
            "{err}"
        );
    }
}

#[test]
fn oversized_metadata_is_rejected() {
    let big = vec![b' '; (MAX_METADATA_LEN + 1) as usize];
    let (layout, _, _, _) = one_image_layout();
    let mut files = layout.files();
    set(&mut files, "index.json", big);
    let dir_err = resolve_dir(&dir_of(&files)).unwrap_err();
    assert!(
        matches!(dir_err, ArchiveError::TooLarge { .. }),
        "{dir_err}"
    );
    let tar_err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(
        matches!(tar_err, ArchiveError::TooLarge { .. }),
        "{tar_err}"
    );
    assert!(tar_err.to_string().contains("index.json"), "{tar_err}");
}

// ---------------------------------------------------------------------------------------------
// Format detection, bad tars and runner misuse

#[test]
fn unknown_tar_layouts_are_reported_with_what_was_found() {
    let files: Files = vec![
        ("hello.txt".into(), b"hi".to_vec()),
        ("docs/readme".into(), b"x".to_vec()),
    ];
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(matches!(err, ArchiveError::UnsupportedFormat { .. }));
    let msg = err.to_string();
    assert!(msg.contains("\"hello.txt\", \"docs\""), "{msg}");

    let files: Files = vec![("repositories".into(), b"{}".to_vec())];
    let err = resolve_tar(&tar_of(&files)).unwrap_err();
    assert!(err.to_string().contains("before Docker 1.10"), "{err}");
}

#[test]
fn truncated_and_non_tar_files() {
    let tar = tar_of(&classic_save().files);
    let err = resolve_tar(&tar[..tar.len() / 2 + 100]).unwrap_err();
    assert!(matches!(err, ArchiveError::Truncated { .. }), "{err}");
    let err = resolve_tar(b"PK\x03\x04 this is a zip file, not a tar at all.....").unwrap_err();
    assert!(matches!(err, ArchiveError::NotATar { .. }), "{err}");
}

#[test]
fn runner_misuse_is_reported_without_losing_state() {
    let tar = tar_of(&classic_save().files);
    let mut r = SourceResolver::for_tar(tar.len() as u64);
    let ResolveStep::ReadAt { offset, len } = r.poll().unwrap() else {
        panic!()
    };
    assert!(matches!(
        r.handle_read_at(offset + 512, &tar[512..1024]),
        Err(ArchiveError::Misuse { .. })
    ));
    assert!(matches!(
        r.handle_file("index.json", None),
        Err(ArchiveError::Misuse { .. })
    ));
    // The pending request is still there and can be answered.
    assert!(matches!(
        r.poll().unwrap(),
        ResolveStep::ReadAt { offset: 0, .. }
    ));
    r.handle_read_at(offset, &tar[..len]).unwrap();

    let mut d = SourceResolver::for_directory();
    let ResolveStep::ReadFile { path, .. } = d.poll().unwrap() else {
        panic!()
    };
    assert_eq!(path, "oci-layout");
    assert!(matches!(
        d.handle_file("index.json", None),
        Err(ArchiveError::Misuse { .. })
    ));
    assert!(matches!(
        d.handle_stat("oci-layout", None),
        Err(ArchiveError::Misuse { .. })
    ));
}

#[test]
fn errors_are_sticky_and_done_is_final() {
    let mut r = SourceResolver::for_tar(10);
    // Ten bytes: all of them are read (a compressed tar may be that small), then refused.
    assert!(matches!(
        r.poll().unwrap(),
        ResolveStep::ReadAt { offset: 0, len: 10 }
    ));
    let _ = r.handle_read_at(0, b"0123456789");
    let first = r.poll().unwrap_err();
    assert!(first.to_string().contains("only 10 bytes"), "{first}");
    assert_eq!(r.poll().unwrap_err(), first);

    let (layout, _, _, _) = one_image_layout();
    let dir = dir_of(&layout.files());
    let mut d = SourceResolver::for_directory();
    loop {
        match d.poll().unwrap() {
            ResolveStep::ReadFile { path, max_len } => {
                let data = dir.get(&path).map(|v| &v[..v.len().min(max_len as usize)]);
                d.handle_file(&path, data).unwrap();
            }
            ResolveStep::Stat { path } => {
                d.handle_stat(&path, dir.get(&path).map(|v| v.len() as u64))
                    .unwrap();
            }
            ResolveStep::Done(_) => break,
            s => panic!("{s:?}"),
        }
    }
    assert!(matches!(d.poll(), Err(ArchiveError::Misuse { .. })));
}

// ---------------------------------------------------------------------------------------------
// Never panic

mod prop {
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
        for &(at, value) in edits {
            let len = bytes.len();
            if len > 0 {
                bytes[at % len] = value;
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn resolver_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
        ) {
            let _ = resolve_tar(&bytes);
        }

        #[test]
        fn resolver_never_panics_on_mutated_docker_saves(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
            cut in any::<Option<usize>>(),
        ) {
            let tar = tar_of(&classic_save().files);
            let _ = resolve_tar(&mutate(tar, &edits, cut));
        }

        #[test]
        fn resolver_never_panics_on_mutated_oci_archives(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
            cut in any::<Option<usize>>(),
        ) {
            let (layout, _, _, _) = one_image_layout();
            let _ = resolve_tar(&mutate(tar_of(&layout.files()), &edits, cut));
        }

        #[test]
        fn resolver_never_panics_on_mutated_layout_files(
            which in any::<usize>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<Option<usize>>(),
        ) {
            let (layout, _, _, _) = one_image_layout();
            let mut files = layout.files();
            let i = which % files.len();
            let data = std::mem::take(&mut files[i].1);
            files[i].1 = mutate(data, &edits, cut);
            let _ = resolve_dir(&dir_of(&files));
        }
    }
}

#[test]
fn a_blob_is_described_by_its_tar_entry_or_its_file() {
    let entry = BlobLocation::TarRange {
        entry: "abc/layer.tar".into(),
        offset: 512,
    };
    assert_eq!(
        entry.describe("app.tar"),
        r#"tar entry "abc/layer.tar" of app.tar"#
    );
    let file = BlobLocation::File {
        path: "blobs/sha256/ab".into(),
    };
    assert_eq!(file.describe("layout/"), "layout/blobs/sha256/ab");
}
