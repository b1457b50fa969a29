use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use tug_core::Digest;
use tug_testkit::fixtures::{write_oci_layout, FixtureImage, OCI_INDEX, OCI_MANIFEST};
use tug_testkit::{skopeo, ImageSpec};

use super::*;

pub(crate) fn digest(s: &str) -> Digest {
    s.parse().expect("valid digest")
}

pub(crate) fn sha256_of_file(path: &Path) -> Digest {
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(&fs::read(path).unwrap());
    h.finish()
}

/// Copies the fixture's blobs (layers through `blob_writer` in chunks, config and manifest
/// through `put_blob_bytes`) from the layout `src` into the store, and tags it `name`.
pub(crate) fn load_fixture(store: &Store, src: &Path, image: &FixtureImage, name: &str) -> Digest {
    for layer in &image.layers {
        let d = digest(&layer.digest);
        if store.keep_blob(&d) {
            continue;
        }
        let bytes = fs::read(src.join("blobs/sha256").join(d.hex())).unwrap();
        let mut w = store.blob_writer(&d).unwrap();
        for (i, chunk) in bytes.chunks(1000).enumerate() {
            w.write_at((i * 1000) as u64, chunk).unwrap();
        }
        assert_eq!(w.len(), bytes.len() as u64);
        w.commit().unwrap();
    }
    store
        .put_blob_bytes(&digest(&image.config_digest), &image.config)
        .unwrap();
    let manifest = image.manifest_bytes();
    let md = digest(image.manifest_digest.as_ref().unwrap());
    store.put_blob_bytes(&md, manifest).unwrap();
    store
        .tag(name, OCI_MANIFEST, &md, manifest.len() as u64)
        .unwrap();
    md
}

fn image_size(image: &FixtureImage) -> u64 {
    image.total_blob_bytes() + image.manifest_bytes().len() as u64
}

fn tmp_files(store: &Store) -> Vec<String> {
    fs::read_dir(store.root().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn open_creates_an_oci_layout_and_refuses_foreign_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    assert_eq!(
        fs::read(root.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert!(root.join("blobs/sha256").is_dir());
    assert!(store.images().unwrap().is_empty());
    // Opening again keeps everything.
    Store::open(&root).unwrap();

    let foreign = dir.path().join("home");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let err = Store::open(&foreign).unwrap_err();
    assert!(
        err.to_string().contains("not using it as the store"),
        "{err}"
    );
    assert!(!foreign.join("blobs").exists());

    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    assert!(Store::open(&file).is_err());
}

#[test]
fn default_store_dir_follows_env_order() {
    let p = PathBuf::from;
    assert_eq!(
        store_dir_from(Some(p("/s")), Some(p("/x")), Some(p("/h")), None),
        p("/s")
    );
    assert_eq!(
        store_dir_from(None, Some(p("/x")), Some(p("/h")), None),
        p("/x/tug/store")
    );
    // A relative XDG_DATA_HOME is ignored, as the spec says.
    assert_eq!(
        store_dir_from(None, Some(p("rel")), Some(p("/h")), None),
        p("/h/.local/share/tug/store")
    );
    assert!(store_dir_from(None, None, None, None).ends_with("tug/store"));
    assert!(default_store_dir().ends_with("store") || std::env::var_os("TUG_STORE").is_some());
}

#[test]
fn put_blob_bytes_verifies_and_read_blob_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bytes = br#"{"hello":"world"}"#;
    let d = Digest::sha256_of(bytes);
    assert!(!store.has_blob(&d));
    store.put_blob_bytes(&d, bytes).unwrap();
    assert!(store.has_blob(&d));
    assert_eq!(store.read_blob(&d).unwrap(), bytes);
    assert_eq!(store.blob_size(&d).unwrap(), Some(bytes.len() as u64));
    assert_eq!(store.blob_digests().unwrap(), vec![d.clone()]);
    // Again: fine, unchanged.
    store.put_blob_bytes(&d, bytes).unwrap();

    let wrong = Digest::sha256_of(b"other");
    let err = store.put_blob_bytes(&wrong, bytes).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert!(!store.has_blob(&wrong));
    assert!(tmp_files(&store).is_empty());

    let err = store.read_blob(&wrong).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(store.blob_size(&wrong).unwrap(), None);
}

#[test]
fn blob_writer_restarts_commits_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let content = b"0123456789abcdef".repeat(100);
    let d = Digest::sha256_of(&content);

    // A first attempt breaks after some bytes; the retry starts again at 0.
    let mut w = store.blob_writer(&d).unwrap();
    assert!(w.is_empty());
    w.write_at(0, &content[..700]).unwrap();
    w.write_at(700, b"garbage garbage").unwrap();
    assert!(w.write_at(10_000, b"x").is_err(), "a gap is refused");
    w.write_at(0, &content[..500]).unwrap();
    assert_eq!(w.len(), 500);
    w.write_all(&content[500..]).unwrap();
    let tmp = w.temp_path().to_path_buf();
    assert!(tmp.starts_with(store.root().join("tmp")));
    assert!(!store.has_blob(&d), "nothing in place before commit");
    let path = w.commit().unwrap();
    assert_eq!(path, store.blob_path(&d));
    assert!(!tmp.exists());
    assert_eq!(sha256_of_file(&path), d);

    // Two writers for one blob get different temp files; both commit fine.
    let mut a = store.blob_writer(&d).unwrap();
    let mut b = store.blob_writer(&d).unwrap();
    assert_ne!(a.temp_path(), b.temp_path());
    a.write_all(&content).unwrap();
    b.write_all(&content).unwrap();
    a.commit().unwrap();
    b.commit().unwrap();
    assert_eq!(sha256_of_file(&store.blob_path(&d)), d);

    // Dropped and discarded writers leave nothing.
    let other = Digest::sha256_of(b"other");
    let mut w = store.blob_writer(&other).unwrap();
    w.write_all(b"partial").unwrap();
    drop(w);
    let mut w = store.blob_writer(&other).unwrap();
    w.write_all(b"bad").unwrap();
    w.discard().unwrap();
    assert!(!store.has_blob(&other));
    assert!(tmp_files(&store).is_empty(), "{:?}", tmp_files(&store));
}

#[test]
fn tag_images_resolve_remove() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let store = Store::open(&dir.path().join("store")).unwrap();
    let app = write_oci_layout(&src, &ImageSpec::new(1).layer(3000).gzip_layer(5000), "a");
    let db = write_oci_layout(&src, &ImageSpec::new(2).layer(2000), "b");

    let before = SystemTime::now() - Duration::from_secs(2);
    let app_d = load_fixture(&store, &src, &app, "127.0.0.1:5000/team/app:v1");
    let db_d = load_fixture(&store, &src, &db, "127.0.0.1:5000/db:latest");

    // A manifest that is not stored cannot be tagged.
    let missing = Digest::sha256_of(b"nope");
    let err = store.tag("x:1", OCI_MANIFEST, &missing, 4).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    // Nor with the wrong size.
    assert!(store.tag("x:1", OCI_MANIFEST, &app_d, 1).is_err());

    let images = store.images().unwrap();
    assert_eq!(images.len(), 2);
    let db_img = &images[0];
    assert_eq!(db_img.name.as_deref(), Some("127.0.0.1:5000/db:latest"));
    assert_eq!(db_img.digest, db_d);
    assert_eq!(db_img.size, image_size(&db));
    let app_img = &images[1];
    assert_eq!(app_img.name.as_deref(), Some("127.0.0.1:5000/team/app:v1"));
    assert_eq!(app_img.media_type, OCI_MANIFEST);
    assert_eq!(app_img.manifest_size, app.manifest_bytes().len() as u64);
    assert_eq!(app_img.size, image_size(&app));
    let created = app_img.created.expect("created recorded");
    assert!(created >= before && created <= SystemTime::now() + Duration::from_secs(2));

    // The entry carries both name annotations.
    let index = read_index(&store.root().join("index.json")).unwrap();
    let entry = index
        .manifests
        .iter()
        .find(|e| e.digest == app_d.to_string())
        .unwrap();
    assert_eq!(entry.annotations[REF_NAME], "127.0.0.1:5000/team/app:v1");
    assert_eq!(
        entry.annotations[CONTAINERD_NAME],
        "127.0.0.1:5000/team/app:v1"
    );

    // resolve: exact name, implicit :latest, name@digest, digest, prefixes.
    let r = |s: &str| store.resolve(s).unwrap().map(|i| i.digest);
    assert_eq!(r("127.0.0.1:5000/team/app:v1"), Some(app_d.clone()));
    assert_eq!(r("127.0.0.1:5000/team/app"), None, "no :latest of app");
    assert_eq!(r("127.0.0.1:5000/db"), Some(db_d.clone()));
    assert_eq!(
        r(&format!("127.0.0.1:5000/team/app@{app_d}")),
        Some(app_d.clone())
    );
    assert_eq!(r(&app_d.to_string()), Some(app_d.clone()));
    assert_eq!(
        r(&format!("sha256:{}", &app_d.hex()[..8])),
        Some(app_d.clone())
    );
    assert_eq!(r(&db_d.hex()[..12]), Some(db_d.clone()));
    assert_eq!(r("sha512:abcdef"), None);
    assert_eq!(r("abc"), None, "too short for a prefix");
    assert_eq!(r("127.0.0.1:5000/team/app:v2"), None);

    // Re-tagging a name replaces its entry.
    store
        .tag(
            "127.0.0.1:5000/team/app:v1",
            OCI_MANIFEST,
            &db_d,
            db.manifest_bytes().len() as u64,
        )
        .unwrap();
    assert_eq!(store.images().unwrap().len(), 2);
    assert_eq!(r("127.0.0.1:5000/team/app:v1"), Some(db_d.clone()));
    // Now both entries share a digest: a prefix of it is not ambiguous.
    assert_eq!(r(&db_d.hex()[..6]), Some(db_d.clone()));

    // remove: exact or implicit :latest; blobs stay.
    assert!(store.remove("127.0.0.1:5000/db").unwrap());
    assert!(!store.remove("127.0.0.1:5000/db").unwrap());
    assert!(store.remove("127.0.0.1:5000/team/app:v1").unwrap());
    assert!(store.images().unwrap().is_empty());
    assert!(store.has_blob(&app_d) && store.has_blob(&db_d));
}

#[test]
fn ambiguous_digest_prefix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Store small blobs until two digests share their first 4 hex digits (the shortest
    // prefix resolve accepts; a few hundred on average), and tag both.
    let mut by_first: std::collections::HashMap<String, Vec<Digest>> = Default::default();
    let mut i = 0u32;
    let pair = loop {
        let bytes = format!("{{\"n\":{i}}}");
        let d = Digest::sha256_of(bytes.as_bytes());
        store.put_blob_bytes(&d, bytes.as_bytes()).unwrap();
        let list = by_first.entry(d.hex()[..4].to_owned()).or_default();
        list.push(d);
        if list.len() == 2 {
            break list.clone();
        }
        i += 1;
    };
    for (n, d) in pair.iter().enumerate() {
        let size = store.blob_size(d).unwrap().unwrap();
        store
            .tag(&format!("img:{n}"), OCI_MANIFEST, d, size)
            .unwrap();
    }
    let err = store.resolve(&pair[0].hex()[..4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("ambiguous"), "{err}");
    assert_eq!(
        store.resolve(pair[1].hex()).unwrap().unwrap().digest,
        pair[1]
    );
}

#[test]
fn skopeo_reads_the_store_as_an_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let store = Store::open(&dir.path().join("store")).unwrap();
    let app = write_oci_layout(&src, &ImageSpec::new(3).gzip_layer(4000), "a");
    load_fixture(&store, &src, &app, "127.0.0.1:5000/team/app:v1");
    let raw = skopeo::inspect_raw(
        &format!("oci:{}:127.0.0.1:5000/team/app:v1", store.root().display()),
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw, app.manifest_bytes());
}

#[test]
fn prune_removes_exactly_the_unreferenced_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let store = Store::open(&dir.path().join("store")).unwrap();
    // Same seed, same first layer spec: the first layer is shared.
    let a = write_oci_layout(&src, &ImageSpec::new(5).layer(3000).layer(1000), "a");
    let b = write_oci_layout(&src, &ImageSpec::new(5).layer(3000).gzip_layer(2000), "b");
    assert_eq!(a.layers[0].digest, b.layers[0].digest);
    let a_d = load_fixture(&store, &src, &a, "a:1");
    let b_d = load_fixture(&store, &src, &b, "b:1");
    // A stray blob no image references.
    let stray = b"stray blob".to_vec();
    let stray_d = Digest::sha256_of(&stray);
    store.put_blob_bytes(&stray_d, &stray).unwrap();

    // Everything is recent: the default grace keeps the stray blob.
    let report = store.prune().unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert_eq!(report.blobs_kept_recent, 1);
    assert!(store.has_blob(&stray_d));

    assert!(store.remove("b:1").unwrap());
    let all_before: BTreeSet<Digest> = store.blob_digests().unwrap().into_iter().collect();
    let report = store.prune_with_grace(Duration::ZERO).unwrap();

    let mut expected_gone: BTreeSet<Digest> = BTreeSet::new();
    expected_gone.insert(b_d.clone());
    expected_gone.insert(digest(&b.config_digest));
    expected_gone.insert(digest(&b.layers[1].digest));
    expected_gone.insert(stray_d.clone());
    let expected_bytes = b.manifest_bytes().len() as u64
        + b.config.len() as u64
        + b.layers[1].size
        + stray.len() as u64;
    assert_eq!(report.blobs_removed, expected_gone.len());
    assert_eq!(report.bytes_freed, expected_bytes);
    let after: BTreeSet<Digest> = store.blob_digests().unwrap().into_iter().collect();
    let gone: BTreeSet<Digest> = all_before.difference(&after).cloned().collect();
    assert_eq!(gone, expected_gone);
    // Image a is whole.
    assert!(store.has_blob(&a_d));
    for d in a.blob_digests() {
        assert!(store.has_blob(&digest(&d)), "{d}");
    }
    // Nothing left to prune.
    assert_eq!(
        store
            .prune_with_grace(Duration::ZERO)
            .unwrap()
            .blobs_removed,
        0
    );
}

#[test]
fn prune_follows_indexes_and_tolerates_missing_children() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let store = Store::open(&dir.path().join("store")).unwrap();
    let amd = write_oci_layout(&src, &ImageSpec::new(6).layer(1500), "amd");
    let arm = write_oci_layout(&src, &ImageSpec::new(7).layer(1500), "arm");
    load_fixture(&store, &src, &amd, "tmp-amd");
    // Only arm's config is stored; its manifest and layer are missing.
    store
        .put_blob_bytes(&digest(&arm.config_digest), &arm.config)
        .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd.manifest_digest, "size": amd.manifest_bytes().len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": arm.manifest_digest, "size": arm.manifest_bytes().len(),
             "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    });
    let index = serde_json::to_vec(&index).unwrap();
    let index_d = Digest::sha256_of(&index);
    store.put_blob_bytes(&index_d, &index).unwrap();
    store
        .tag("multi:1", OCI_INDEX, &index_d, index.len() as u64)
        .unwrap();
    assert!(store.remove("tmp-amd").unwrap());

    let report = store.prune_with_grace(Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 1, "only arm's orphan config");
    assert!(!store.has_blob(&digest(&arm.config_digest)));
    for d in amd.blob_digests() {
        assert!(store.has_blob(&digest(&d)));
    }
    let img = store.resolve("multi:1").unwrap().unwrap();
    assert_eq!(img.size, index.len() as u64 + image_size(&amd));
}

#[test]
fn prune_removes_stale_temporary_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let old = store.root().join("tmp/abandoned.part");
    fs::write(&old, vec![0u8; 1234]).unwrap();
    File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    let d = Digest::sha256_of(b"in flight");
    let mut live = store.blob_writer(&d).unwrap();
    live.write_all(b"in fl").unwrap();
    let report = store.prune_with_grace(Duration::ZERO).unwrap();
    assert_eq!(report.tmp_removed, 1);
    assert_eq!(report.tmp_bytes_freed, 1234);
    assert!(!old.exists());
    assert!(live.temp_path().exists());
    live.write_all(b"ight").unwrap();
    live.commit().unwrap();
    assert!(store.has_blob(&d));
}

/// Four threads, each with its own `Store` value (as separate processes would have), store
/// images that share a layer and tag them at the same time, while another prunes.
#[test]
fn concurrent_pulls_sharing_layers_leave_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let root = dir.path().join("store");
    Store::open(&root).unwrap();
    const N: usize = 4;
    let fixtures: Vec<FixtureImage> = (0..N)
        .map(|i| {
            write_oci_layout(
                &src,
                &ImageSpec::new(9)
                    .layer(200_000)
                    .gzip_layer(50_000)
                    .layer(1000 + i as u64 * 100),
                &format!("t{i}"),
            )
        })
        .collect();
    assert_eq!(fixtures[0].layers[0].digest, fixtures[3].layers[0].digest);
    let barrier = Arc::new(Barrier::new(N + 1));
    let mut threads = Vec::new();
    for (i, image) in fixtures.iter().cloned().enumerate() {
        let (root, src, barrier) = (root.clone(), src.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            let store = Store::open(&root).unwrap();
            barrier.wait();
            for round in 0..3 {
                // Store every blob anew each round (no keep_blob shortcut), in small chunks,
                // so that writers of the shared layers overlap.
                for layer in &image.layers {
                    let d = digest(&layer.digest);
                    let bytes = fs::read(src.join("blobs/sha256").join(d.hex())).unwrap();
                    let mut w = store.blob_writer(&d).unwrap();
                    for chunk in bytes.chunks(8192) {
                        w.write_all(chunk).unwrap();
                    }
                    w.commit().unwrap();
                }
                store
                    .put_blob_bytes(&digest(&image.config_digest), &image.config)
                    .unwrap();
                let md = digest(image.manifest_digest.as_ref().unwrap());
                store.put_blob_bytes(&md, image.manifest_bytes()).unwrap();
                store
                    .tag(
                        &format!("127.0.0.1:5000/team/app{i}:r{round}"),
                        OCI_MANIFEST,
                        &md,
                        image.manifest_bytes().len() as u64,
                    )
                    .unwrap();
            }
        }));
    }
    let pruner = {
        let (root, barrier) = (root.clone(), barrier.clone());
        std::thread::spawn(move || {
            let store = Store::open(&root).unwrap();
            barrier.wait();
            for _ in 0..20 {
                let report = store.prune().unwrap();
                assert_eq!(report.blobs_removed, 0);
            }
        })
    };
    for t in threads {
        t.join().unwrap();
    }
    pruner.join().unwrap();

    let store = Store::open(&root).unwrap();
    let images = store.images().unwrap();
    assert_eq!(images.len(), N * 3, "{images:#?}");
    for (i, image) in fixtures.iter().enumerate() {
        for round in 0..3 {
            let found = store
                .resolve(&format!("127.0.0.1:5000/team/app{i}:r{round}"))
                .unwrap()
                .unwrap();
            assert_eq!(
                found.digest.to_string(),
                *image.manifest_digest.as_ref().unwrap()
            );
        }
        for d in image.blob_digests() {
            let d = digest(&d);
            assert_eq!(sha256_of_file(&store.blob_path(&d)), d);
        }
    }
    // Every blob is referenced: a prune with no grace removes nothing.
    let report = store.prune_with_grace(Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert!(tmp_files(&store).is_empty(), "{:?}", tmp_files(&store));
}

/// Environment variable that turns [`child_process_pull`] into a worker.
const CHILD_JOB: &str = "TUG_STORE_TEST_CHILD_JOB";

/// A worker for [`two_processes_pulling_images_that_share_layers`]: does nothing unless
/// started by it with a job file (JSON: store root, blob files, manifest, name).
#[test]
fn child_process_pull() {
    let Some(job) = std::env::var_os(CHILD_JOB) else {
        return;
    };
    let job: serde_json::Value = serde_json::from_slice(&fs::read(job).unwrap()).unwrap();
    let store = Store::open(Path::new(job["root"].as_str().unwrap())).unwrap();
    let manifest = digest(job["manifest"].as_str().unwrap());
    let size = job["size"].as_u64().unwrap();
    for round in 0..5 {
        for blob in job["blobs"].as_array().unwrap() {
            let d = digest(blob["digest"].as_str().unwrap());
            let bytes = fs::read(blob["path"].as_str().unwrap()).unwrap();
            let mut w = store.blob_writer(&d).unwrap();
            for chunk in bytes.chunks(4096) {
                w.write_all(chunk).unwrap();
            }
            w.commit().unwrap();
        }
        let name = format!("{}:r{round}", job["name"].as_str().unwrap());
        store.tag(&name, OCI_MANIFEST, &manifest, size).unwrap();
    }
}

/// Two real processes (this test binary, running [`child_process_pull`]) store images
/// sharing a layer into one store at the same time: both succeed, and the store has both
/// images with every blob intact.
#[test]
fn two_processes_pulling_images_that_share_layers() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let root = dir.path().join("store");
    let images: Vec<FixtureImage> = (0..2)
        .map(|i| {
            write_oci_layout(
                &src,
                &ImageSpec::new(31).layer(500_000).gzip_layer(100_000 + i),
                &format!("p{i}"),
            )
        })
        .collect();
    assert_eq!(images[0].layers[0].digest, images[1].layers[0].digest);
    let mut children = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let md = image.manifest_digest.clone().unwrap();
        let mut blobs: Vec<serde_json::Value> = image
            .blob_digests()
            .into_iter()
            .chain([md.clone()])
            .map(|d| {
                let path = src.join("blobs/sha256").join(digest(&d).hex());
                serde_json::json!({"digest": d, "path": path})
            })
            .collect();
        blobs.sort_by_key(|b| b["digest"].as_str().unwrap().to_owned());
        let job = serde_json::json!({
            "root": root, "blobs": blobs, "manifest": md,
            "size": image.manifest_bytes().len(), "name": format!("proc{i}/app"),
        });
        let job_path = dir.path().join(format!("job{i}.json"));
        fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
        children.push(
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "store::tests::child_process_pull", "--nocapture"])
                .env(CHILD_JOB, &job_path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "worker failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the worker did not run: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let store = Store::open(&root).unwrap();
    let names: Vec<String> = store
        .images()
        .unwrap()
        .into_iter()
        .filter_map(|i| i.name)
        .collect();
    let expected: Vec<String> = (0..2)
        .flat_map(|i| (0..5).map(move |r| format!("proc{i}/app:r{r}")))
        .collect();
    assert_eq!(names, expected);
    for image in &images {
        for d in image
            .blob_digests()
            .into_iter()
            .chain(image.manifest_digest.clone())
        {
            let d = digest(&d);
            assert_eq!(sha256_of_file(&store.blob_path(&d)), d);
        }
    }
    assert_eq!(
        store
            .prune_with_grace(Duration::ZERO)
            .unwrap()
            .blobs_removed,
        0
    );
    assert!(tmp_files(&store).is_empty(), "{:?}", tmp_files(&store));
}

/// Processes that find no store yet create it at the same time: none may take the other's
/// half-made layout for a foreign directory.
#[test]
fn concurrent_opens_of_a_new_store_all_succeed() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new-store");
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (root, barrier) = (root.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&root).map(drop)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert!(Store::open(&root).unwrap().images().unwrap().is_empty());
    }
}
