//! Fixture writers produce what real tools accept, and round-trip through a real registry.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;
use tug_testkit::fixtures::{self, Compression, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP};
use tug_testkit::hashing::{sha256_digest, sha256_file, sha256_reader};
use tug_testkit::skopeo::{self, Side};
use tug_testkit::{ImageSpec, Registry};

const MIB: u64 = 1 << 20;

/// skopeo otherwise gzips uncompressed layers and re-serialises the manifest on push.
const PRESERVE: &[&str] = &["--preserve-digests"];

/// One tar entry: type, size, link target.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    kind: tar::EntryType,
    size: u64,
    link: Option<String>,
    digest: Option<String>,
}

/// Lists a tar's entries (hashing regular files unless `hash` is false).
fn tar_entries(path: &Path, hash: bool) -> BTreeMap<String, Entry> {
    let mut archive = tar::Archive::new(File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for entry in archive.entries_with_seek().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let size = entry.size();
        let digest =
            (hash && kind == tar::EntryType::Regular).then(|| sha256_reader(&mut entry).unwrap().0);
        out.insert(
            name,
            Entry {
                kind,
                size,
                link,
                digest,
            },
        );
    }
    out
}

fn read_member(path: &Path, member: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(File::open(path).unwrap());
    for entry in archive.entries_with_seek().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == member {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).unwrap();
            return buf;
        }
    }
    panic!("{member} not in {}", path.display());
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn small_spec(seed: u64) -> ImageSpec {
    ImageSpec::new(seed)
        .layer(MIB + 17)
        .gzip_layer(2 * MIB)
        .with_layer(0, 0, Compression::None)
        .with_layer(300_000, 1, Compression::None)
}

#[test]
fn oci_layout_is_deterministic_and_self_consistent() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let spec = small_spec(42);
    let fa = fixtures::write_oci_layout(a.path(), &spec, "v1");
    let fb = fixtures::write_oci_layout(b.path(), &spec, "v1");
    assert_eq!(fa, fb, "same spec, same image");
    let other = fixtures::write_oci_layout(b.path(), &small_spec(43), "v2");
    assert_ne!(fa.manifest_digest, other.manifest_digest);

    let index = json(&fs::read(a.path().join("index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["digest"],
        fa.manifest_digest.clone().unwrap()
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    // b holds both images.
    let index_b = json(&fs::read(b.path().join("index.json")).unwrap());
    assert_eq!(index_b["manifests"].as_array().unwrap().len(), 2);

    let blobs = a.path().join("blobs/sha256");
    for entry in fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let (digest, _) = sha256_file(&entry.path()).unwrap();
        assert_eq!(
            digest,
            format!("sha256:{}", entry.file_name().to_string_lossy())
        );
    }
    let config = json(&fa.config);
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(diff_ids.len(), 4);
    for (layer, diff_id) in fa.layers.iter().zip(&diff_ids) {
        assert_eq!(&layer.diff_id, diff_id);
        let path = blobs.join(layer.digest.strip_prefix("sha256:").unwrap());
        assert_eq!(fs::metadata(&path).unwrap().len(), layer.size);
        let uncompressed = if layer.media_type == OCI_LAYER_TAR_GZIP {
            sha256_reader(flate2::read::GzDecoder::new(File::open(&path).unwrap()))
                .unwrap()
                .0
        } else {
            assert_eq!(layer.media_type, OCI_LAYER_TAR);
            assert_eq!(layer.digest, layer.diff_id);
            sha256_file(&path).unwrap().0
        };
        assert_eq!(&uncompressed, diff_id);
    }
    // The first layer is a real tar of random files totalling the requested size.
    let first = blobs.join(fa.layers[0].digest.strip_prefix("sha256:").unwrap());
    let files: u64 = tar_entries(&first, false)
        .values()
        .filter(|e| e.kind == tar::EntryType::Regular)
        .map(|e| e.size)
        .sum();
    assert_eq!(files, MIB + 17);
}

#[test]
fn oci_layout_round_trips_through_a_plain_registry() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = fixtures::write_oci_layout(dir.path(), &small_spec(1), "t");
    let src = format!("oci:{}:t", dir.path().display());
    skopeo::copy_to_registry(&src, &registry, "fixtures/app:t", PRESERVE).unwrap();
    let raw = skopeo::inspect_raw_in(&registry, "fixtures/app:t").unwrap();
    assert_eq!(raw, image.manifest_bytes());
    let pulled = fixtures::pull_with_skopeo_and_compare(&registry, "fixtures/app:t", &image);
    assert_eq!(Some(pulled.manifest_digest.clone()), image.manifest_digest);
    fixtures::pull_with_skopeo_and_compare_layers(&registry, "fixtures/app:t", &image);
    // By digest too.
    let by_digest = format!("fixtures/app@{}", pulled.manifest_digest);
    fixtures::pull_with_skopeo_and_compare(&registry, &by_digest, &image);
    // The blobs are in the registry's storage.
    assert!(registry
        .storage_dir()
        .join("docker/registry/v2/repositories/fixtures/app")
        .is_dir());
}

#[test]
fn oci_layout_round_trips_through_tls_basic_auth_registry() {
    let registry = Registry::tls_basic_auth("bob", "builder");
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new(9).gzip_layer(MIB).layer(MIB).repeat_layer(0);
    let image = fixtures::write_oci_layout(dir.path(), &spec, "t");
    assert_eq!(image.layers.len(), 3);
    assert_eq!(image.layers[0], image.layers[2]);
    let src = format!("oci:{}:t", dir.path().display());

    // Without credentials the push is refused.
    let err = skopeo::copy(
        &src,
        &registry.docker_ref("auth/app:t"),
        &[
            "--dest-cert-dir",
            registry.ca_dir().unwrap().to_str().unwrap(),
        ],
    )
    .expect_err("push without credentials must fail");
    assert!(
        err.stderr.contains("unauthorized") || err.stderr.contains("401"),
        "{err}"
    );

    let mut args = skopeo::registry_args(&registry, Side::Destination);
    args.push("--preserve-digests".into());
    skopeo::copy(&src, &registry.docker_ref("auth/app:t"), &args).unwrap();
    fixtures::pull_with_skopeo_and_compare(&registry, "auth/app:t", &image);
}

#[test]
fn a_wrong_image_fails_the_comparison() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let pushed = fixtures::write_oci_layout(dir.path(), &ImageSpec::new(5).layer(1000), "a");
    let other = fixtures::write_oci_layout(dir.path(), &ImageSpec::new(6).layer(1000), "b");
    let src = format!("oci:{}:a", dir.path().display());
    skopeo::copy_to_registry(&src, &registry, "x:a", PRESERVE).unwrap();
    fixtures::pull_with_skopeo_and_compare(&registry, "x:a", &pushed);
    let result = std::panic::catch_unwind(|| {
        fixtures::pull_with_skopeo_and_compare_layers(&registry, "x:a", &other)
    });
    assert!(result.is_err(), "a different image must not compare equal");
}

#[test]
fn skopeo_oci_archive_keeps_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let image = fixtures::write_oci_layout(&layout, &small_spec(3), "v3");
    let archive = dir.path().join("image.oci.tar");
    fixtures::skopeo_oci_archive(&layout, "v3", &archive);
    let raw = skopeo::inspect_raw(
        &format!("oci-archive:{}:v3", archive.display()),
        skopeo::NO_ARGS,
    )
    .unwrap();
    assert_eq!(raw, image.manifest_bytes());
    let entries = tar_entries(&archive, true);
    assert!(
        entries.contains_key("index.json") && entries.contains_key("oci-layout"),
        "{entries:?}"
    );
    for digest in image.blob_digests() {
        let name = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
        assert_eq!(entries[&name].digest.as_deref(), Some(digest.as_str()));
    }
}

#[test]
fn skopeo_docker_archive_has_uncompressed_layers_named_by_diff_id() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let image = fixtures::write_oci_layout(&layout, &small_spec(4), "v4");
    let archive = dir.path().join("image.docker.tar");
    fixtures::skopeo_docker_archive(&layout, "v4", &archive, "example/app:v4");
    let entries = tar_entries(&archive, true);
    let manifest = json(&read_member(&archive, "manifest.json"));
    for (name, e) in &entries {
        eprintln!(
            "skopeo docker-archive entry: {name} {:?} {} {:?}",
            e.kind, e.size, e.link
        );
    }
    eprintln!("skopeo docker-archive manifest.json: {manifest}");
    // skopeo writes the normalised name.
    assert_eq!(manifest[0]["RepoTags"][0], "docker.io/example/app:v4");
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), image.layers.len());
    for (path, layer) in layers.iter().zip(&image.layers) {
        let entry = &entries[path.as_str().unwrap()];
        // Whatever the layer's storage, skopeo wrote the uncompressed tar.
        let digest = match &entry.link {
            None => entry.digest.clone().unwrap(),
            Some(target) => entries[target.as_str()].digest.clone().unwrap(),
        };
        assert_eq!(digest, layer.diff_id);
    }
    let config_path = manifest[0]["Config"].as_str().unwrap();
    assert_eq!(
        entries[config_path].digest.as_deref(),
        Some(image.config_digest.as_str())
    );
}

#[test]
fn classic_docker_save_is_read_by_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("save.tar");
    let spec = ImageSpec::new(11).layer(MIB).layer(MIB / 2).repeat_layer(0);
    let image = fixtures::classic_docker_save(&archive, &spec, "example/app:classic");
    assert!(image.manifest.is_none());
    assert_eq!(image.layers.len(), 3);
    assert_eq!(image.layers[0].digest, image.layers[2].digest);
    for layer in &image.layers {
        assert_eq!(layer.digest, layer.diff_id);
        assert_eq!(layer.media_type, OCI_LAYER_TAR);
    }

    let entries = tar_entries(&archive, true);
    let manifest = json(&read_member(&archive, "manifest.json"));
    let layer_paths: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(layer_paths.len(), 3);
    assert!(layer_paths.iter().all(|p| p.ends_with("/layer.tar")));
    let first_dir = layer_paths[0].strip_suffix("/layer.tar").unwrap();
    let dup = &entries[layer_paths[2]];
    assert_eq!(dup.kind, tar::EntryType::Symlink);
    assert_eq!(
        dup.link.as_deref(),
        Some(format!("../{first_dir}/layer.tar").as_str())
    );
    assert_eq!(
        entries[layer_paths[0]].digest.as_deref(),
        Some(image.layers[0].digest.as_str())
    );
    let config_path = manifest[0]["Config"].as_str().unwrap();
    assert_eq!(
        config_path,
        format!(
            "{}.json",
            image.config_digest.strip_prefix("sha256:").unwrap()
        )
    );
    assert!(entries.contains_key("repositories"));
    let repositories = json(&read_member(&archive, "repositories"));
    assert!(repositories["example/app"]["classic"].is_string());
    let diff_ids = json(&image.config)["rootfs"]["diff_ids"].clone();
    assert_eq!(diff_ids[0], diff_ids[2]);

    // skopeo accepts it (symlinked duplicate included) and sees the same layers and config.
    let src = format!("docker-archive:{}", archive.display());
    let raw = json(&skopeo::inspect_raw(&src, skopeo::NO_ARGS).unwrap());
    let digests: Vec<&str> = raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, image.layer_digests());
    assert_eq!(raw["config"]["digest"], image.config_digest);

    // And a registry round trip through skopeo keeps the config (layers get recompressed by
    // skopeo, so only the config and the layer count are compared here).
    let registry = Registry::plain();
    skopeo::copy_to_registry(&src, &registry, "classic:t", skopeo::NO_ARGS).unwrap();
    let pushed = json(&skopeo::inspect_raw_in(&registry, "classic:t").unwrap());
    assert_eq!(pushed["config"]["digest"], image.config_digest);
    assert_eq!(pushed["layers"].as_array().unwrap().len(), 3);
}

#[test]
fn docker25_save_is_an_oci_layout_and_a_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("save25.tar");
    let spec = ImageSpec::new(25)
        .layer(MIB)
        .gzip_layer(MIB)
        .repeat_layer(0);
    let image = fixtures::docker25_save(&archive, &spec, "example/app:25");

    let entries = tar_entries(&archive, true);
    for name in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(entries.contains_key(name), "{name} missing: {entries:?}");
    }
    let index = json(&read_member(&archive, "index.json"));
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(
        annotations["io.containerd.image.name"],
        "docker.io/example/app:25"
    );
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "25");
    let manifest = json(&read_member(&archive, "manifest.json"));
    let config_path = format!(
        "blobs/sha256/{}",
        image.config_digest.strip_prefix("sha256:").unwrap()
    );
    assert_eq!(manifest[0]["Config"], config_path.as_str());
    assert_eq!(manifest[0]["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(manifest[0]["Layers"][0], manifest[0]["Layers"][2]);
    for digest in image.blob_digests() {
        let name = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
        assert_eq!(entries[&name].digest.as_deref(), Some(digest.as_str()));
    }

    // skopeo reads it as an OCI archive (exact manifest) ...
    let raw = skopeo::inspect_raw(
        &format!("oci-archive:{}:25", archive.display()),
        skopeo::NO_ARGS,
    )
    .unwrap();
    assert_eq!(raw, image.manifest_bytes());
    // ... and as a docker archive (through manifest.json).
    let raw = json(
        &skopeo::inspect_raw(
            &format!("docker-archive:{}", archive.display()),
            skopeo::NO_ARGS,
        )
        .unwrap(),
    );
    assert_eq!(raw["config"]["digest"], image.config_digest);
    assert_eq!(raw["layers"].as_array().unwrap().len(), 3);

    // Pushed as an OCI archive, the registry holds exactly the fixture.
    let registry = Registry::plain();
    let src = format!("oci-archive:{}:25", archive.display());
    skopeo::copy_to_registry(&src, &registry, "d25:t", PRESERVE).unwrap();
    fixtures::pull_with_skopeo_and_compare(&registry, "d25:t", &image);
}

#[test]
fn big_layer_tar_small_size_is_a_valid_docker_save() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("big.tar");
    let size = 3 * MIB + 5;
    let image = fixtures::big_layer_tar(&archive, size);
    assert_eq!(image.layers[0].size, size);
    assert_eq!(
        image.layers[0].digest,
        sha256_digest(&vec![0u8; size as usize])
    );
    let entries = tar_entries(&archive, true);
    let manifest = json(&read_member(&archive, "manifest.json"));
    let layer = &entries[manifest[0]["Layers"][0].as_str().unwrap()];
    assert_eq!(layer.size, size);
    assert_eq!(
        layer.digest.as_deref(),
        Some(image.layers[0].digest.as_str())
    );
    let raw = json(
        &skopeo::inspect_raw(
            &format!("docker-archive:{}", archive.display()),
            skopeo::NO_ARGS,
        )
        .unwrap(),
    );
    assert_eq!(raw["layers"][0]["digest"], image.layers[0].digest);
    assert_eq!(raw["config"]["digest"], image.config_digest);
}

#[test]
fn big_layer_tar_over_4_gib_is_sparse() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("big.tar");
    let size = (4 << 30) + MIB;
    let image = fixtures::big_layer_tar(&archive, size);
    let meta = fs::metadata(&archive).unwrap();
    assert!(meta.len() > size, "apparent size {}", meta.len());
    assert!(
        meta.blocks() * 512 < 4 * MIB,
        "tar takes {} bytes on disk",
        meta.blocks() * 512
    );
    let entries = tar_entries(&archive, false);
    let manifest = json(&read_member(&archive, "manifest.json"));
    let layer = &entries[manifest[0]["Layers"][0].as_str().unwrap()];
    assert_eq!(layer.size, size);
    assert_eq!(
        image.layers[0].digest,
        "sha256:".to_owned() + &known_zero_digest_4g_plus_1m()
    );
    let config = json(&image.config);
    assert_eq!(config["rootfs"]["diff_ids"][0], image.layers[0].diff_id);
}

/// sha256 of (4 GiB + 1 MiB) zero bytes, computed independently with
/// `head -c 4296015872 /dev/zero | sha256sum`.
fn known_zero_digest_4g_plus_1m() -> String {
    "829816e339ff597ec3ada4c30fc840d3f2298444169d242952a54bcf3fcd7747".to_owned()
}
