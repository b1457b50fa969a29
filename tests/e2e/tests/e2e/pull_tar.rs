//! `tug pull IMAGE -o FILE.tar` writes the `docker save` tar while the blobs arrive: each
//! layer decoded once, straight into the tar or a side file, checked against the
//! decompression cap and its diffID; the store is touched only with `--store`. Checked with
//! skopeo (`docker-archive:`) and by rehashing every layer entry.

use std::fs;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tug_testkit::fixtures::{write_oci_layout, FixtureImage};
use tug_testkit::hashing::{sha256_digest, sha256_file, sha256_reader};
use tug_testkit::{skopeo, Fault, FaultProxy, ImageSpec, Registry, Rule, Tug, TugOutput};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `tug pull` with the store at `store` (`$TUG_STORE`) and JSON progress.
fn pull(store: &Path, image: &str, args: &[&str]) -> Tug {
    Tug::new()
        .env("TUG_STORE", store)
        .args(["pull", "--plain-http", "--progress", "json"])
        .arg(image)
        .args(args)
}

/// The layer entries of a `docker save` tar (name → digest of the data) and its
/// `manifest.json`.
fn entries(tar: &Path) -> (Value, Vec<(String, String)>) {
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    let mut manifest = Value::Null;
    let mut layers = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            manifest = serde_json::from_reader(&mut entry).unwrap();
        } else if name.ends_with(".tar") {
            let (digest, _) = sha256_reader(&mut entry).unwrap();
            layers.push((name, digest));
        }
    }
    (manifest, layers)
}

/// `tar` holds `diff_ids` as `docker load` reads it (`manifest.json` names each layer
/// entry, whose data hashes to its diffID), skopeo lists them and copies the archive,
/// checking every digest.
#[track_caller]
fn assert_docker_archive(tar: &Path, diff_ids: &[String]) {
    let (manifest, layers) = entries(tar);
    let listed: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .unwrap_or_else(|| panic!("{manifest}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), diff_ids.len(), "{manifest}");
    for (name, diff_id) in listed.iter().zip(diff_ids) {
        let (_, digest) = layers
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not in {}", tar.display()));
        assert_eq!(digest, diff_id, "layer {name} of {}", tar.display());
    }
    assert_eq!(
        layers.len(),
        diff_ids.len(),
        "one entry per layer: {layers:?}"
    );
    let config = manifest[0]["Config"].as_str().unwrap();
    assert!(config.ends_with(".json"), "{manifest}");
    let reference = format!("docker-archive:{}", tar.display());
    let inspected: Value =
        serde_json::from_slice(&skopeo::run(["inspect", reference.as_str()]).unwrap()).unwrap();
    assert_eq!(
        inspected["Layers"],
        json!(diff_ids),
        "skopeo inspect {reference}"
    );
    let copy = tar.with_extension("copied");
    skopeo::copy(
        &reference,
        &format!("oci:{}:x", copy.display()),
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::remove_dir_all(copy).unwrap();
}

/// Temporary files of tug's next to an output (`.tug-…`).
fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tug-"))
        .collect()
}

/// Every file in the store's `blobs/sha256` is a complete blob hashing to its name (no
/// download left over); returns how many there are.
#[track_caller]
fn store_holds_only_verified_blobs(store: &Path) -> usize {
    let mut n = 0;
    for e in fs::read_dir(store.join("blobs/sha256")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "a download is left: {name}");
        let (digest, _) = sha256_file(&e.path()).unwrap();
        assert_eq!(
            digest,
            format!("sha256:{name}"),
            "blob {name} is not what it says"
        );
        n += 1;
    }
    n
}

/// The diffIDs of the image skopeo pulls from `registry`.
fn diff_ids_in(registry: &Registry, name: &str) -> Vec<String> {
    let reference = registry.docker_ref(name);
    let out = skopeo::run(["inspect", "--config", "--tls-verify=false", &reference]).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

/// Bytes of layer tars in the `docker save` tar `tar`.
fn layer_tar_bytes(tar: &Path) -> u64 {
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().unwrap().to_string_lossy().ends_with(".tar"))
        .map(|e| e.size())
        .sum()
}

/// The `-v` line's counts: bytes of layer tars written in place, and through side files.
fn written_counts(out: &TugOutput) -> (u64, u64) {
    let err = out.stderr_str();
    let line = err
        .lines()
        .find(|l| l.contains("written once in place"))
        .unwrap_or_else(|| panic!("no counter line:\n{err}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // "docker-archive: N layer tar(s), A bytes written once in place, B bytes through side files"
    (numbers[1], numbers[2])
}

#[test]
fn gzip_and_zstd_layers_pull_into_docker_archives_with_and_without_the_store() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Four gzip layers, pushed as they are.
    let gz = d.join("gz");
    write_oci_layout(
        &gz,
        &ImageSpec::new(131)
            .gzip_layer(700_000)
            .gzip_layer(500_000)
            .gzip_layer(300_000)
            .gzip_layer(20_000),
        "v1",
    );
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", gz.display()),
        &registry,
        "tar/gz:v1",
        &["--preserve-digests"],
    )
    .unwrap();
    // Plain layers that skopeo compresses with zstd on the way.
    let plain = d.join("plain");
    write_oci_layout(
        &plain,
        &ImageSpec::new(132)
            .layer(600_000)
            .text_layer(400_000)
            .layer(10_000),
        "v1",
    );
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", plain.display()),
        &registry,
        "tar/zstd:v1",
        &["--dest-compress-format", "zstd"],
    )
    .unwrap();
    let raw = skopeo::inspect_raw_in(&registry, "tar/zstd:v1").unwrap();
    assert!(
        String::from_utf8_lossy(&raw).contains("+zstd"),
        "zstd layers"
    );

    for name in ["tar/gz:v1", "tar/zstd:v1"] {
        let diff_ids = diff_ids_in(&registry, name);
        let image = registry.image(name);
        let label = name.replace(['/', ':'], "-");
        // Without --store: the store is never created.
        let store = d.join(format!("store-{label}"));
        let out = d.join(format!("{label}.tar"));
        let run = pull(&store, &image, &["-v", "-o", out.to_str().unwrap()])
            .run()
            .assert_success();
        assert_docker_archive(&out, &diff_ids);
        assert!(
            !store.exists(),
            "{name}: the store was touched without --store"
        );
        assert!(temp_files(d).is_empty(), "{:?}", temp_files(d));
        let (in_place, side) = written_counts(&run);
        assert_eq!(
            in_place + side,
            layer_tar_bytes(&out),
            "each layer written once\n{run}"
        );

        // With --store: the blobs land there too, verified; a second pull takes them from there.
        let kept = d.join(format!("{label}-kept.tar"));
        let first = pull(&store, &image, &["--store", "-o", kept.to_str().unwrap()])
            .run()
            .assert_success();
        assert_docker_archive(&kept, &diff_ids);
        assert_eq!(
            store_holds_only_verified_blobs(&store),
            diff_ids.len() + 2,
            "layers, config and manifest\n{first}"
        );
        let again = d.join(format!("{label}-again.tar"));
        let second = pull(&store, &image, &["--store", "-o", again.to_str().unwrap()])
            .run()
            .assert_success();
        let done = crate::common::done_event(&second);
        assert_eq!(done["blobs_downloaded"], 0, "{second}");
        assert_docker_archive(&again, &diff_ids);
        assert!(temp_files(d).is_empty(), "{:?}", temp_files(d));
    }
}

#[test]
fn a_pull_to_a_tar_without_the_store_writes_each_layer_once() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture: FixtureImage = write_oci_layout(
        &layout,
        &ImageSpec::new(133)
            .gzip_layer(900_000)
            .gzip_layer(400_000)
            .gzip_layer(100_000),
        "v1",
    );
    crate::common::push(&registry, &layout, "once/app:v1").assert_success();
    let diff_ids: Vec<String> = fixture.layers.iter().map(|l| l.diff_id.clone()).collect();
    let store = dir.path().join("store");
    let image = registry.image("once/app:v1");
    for jobs in ["1", "4"] {
        let out = dir.path().join(format!("jobs{jobs}.tar"));
        let run = pull(
            &store,
            &image,
            &[
                "-v",
                "--jobs",
                jobs,
                "--fixed-jobs",
                "-o",
                out.to_str().unwrap(),
            ],
        )
        .run()
        .assert_success();
        assert_docker_archive(&out, &diff_ids);
        assert!(!store.exists(), "the store stays empty (not even created)");
        // Every layer's tar was written once: in place, or into a side file copied in by the
        // kernel; with one blob at a time, all in place.
        let (in_place, side) = written_counts(&run);
        let (_, layers) = entries(&out);
        let tar_bytes = layer_tar_bytes(&out);
        assert_eq!(layers.len(), 3);
        assert_eq!(in_place + side, tar_bytes, "jobs {jobs}: {run}");
        if jobs == "1" {
            assert_eq!((in_place, side), (tar_bytes, 0), "{run}");
        }
    }
}

/// An OCI layout in `dir` holding one image whose one layer is `blob` (gzip), with a config
/// naming `diff_id`.
fn layout_with_layer(dir: &Path, blob: &[u8], diff_id: &str) -> String {
    let put = |bytes: &[u8]| tug_testkit::fixtures::put_blob(dir, bytes);
    let layer = put(blob);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config_digest = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": blob.len()}],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "v1"}}],
    });
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    layer
}

/// A zstd frame of `len` zeros in RLE blocks of 128 KiB (4 bytes a block): a decompression
/// bomb of a few KiB per GiB, far past what deflate can do.
fn zstd_zeros(len: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    let mut left = len;
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        let header = (u32::from(left == 0)) | (1 << 1) | ((n as u32) << 3);
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(0);
    }
    frame
}

/// Decompression bombs with a wrong diffID: a zstd one is stopped at tug's cap
/// (`decompression bomb`), a gzip one (deflate's ~1030× is under the cap) by its diffID;
/// either way the pull names the layer and leaves no partial file, and so does `tug save`
/// of the image pulled into the store.
#[test]
fn a_decompression_bomb_layer_fails_the_pull_naming_it_and_leaves_nothing() {
    // 4 MiB of zeros at gzip's best, 64 members: 256 MiB of tar from a blob of some 256 KiB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 4 << 20]).unwrap();
    let member = gz.finish().unwrap();
    let gzip: Vec<u8> = std::iter::repeat_n(member.as_slice(), 64)
        .flatten()
        .copied()
        .collect();
    assert!(gzip.len() < 2 << 20, "{}", gzip.len());
    for (name, blob, says) in [
        ("zstd", zstd_zeros(4 << 30), "decompression bomb"),
        ("gzip", gzip, "but the config says"),
    ] {
        bomb_fails_naming_its_layer(name, &blob, says);
    }
}

fn bomb_fails_naming_its_layer(name: &str, blob: &[u8], says: &str) {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("bomb");
    let layer = layout_with_layer(&layout, blob, &sha256_digest(b"not what it inflates to"));
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        &registry,
        "bomb/app:v1",
        &["--preserve-digests"],
    )
    .unwrap();
    let image = registry.image("bomb/app:v1");
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("bomb.tar");
    let store = dir.path().join("store");
    for args in [vec![], vec!["--store"]] {
        let mut all = args.clone();
        all.extend(["-o", out.to_str().unwrap()]);
        let run = pull(&store, &image, &all)
            .run()
            .assert_code(crate::common::INVALID_INPUT);
        let err = run.stderr_str();
        assert!(
            err.contains(&format!("layer {layer} of {image}")) && err.contains(says),
            "{name} {args:?}: {err}"
        );
        assert!(!out.exists(), "no partial archive");
        assert!(
            temp_files(&out_dir).is_empty(),
            "{:?}",
            temp_files(&out_dir)
        );
        if args.is_empty() {
            assert!(!store.exists());
        } else {
            store_holds_only_verified_blobs(&store);
        }
    }
    // In the store (a plain pull does not decode), `tug save` stops the same way.
    pull(&store, &image, &[]).run().assert_success();
    let saved = Tug::new()
        .env("TUG_STORE", &store)
        .args(["save", &image, "-o"])
        .arg(&out)
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    assert!(
        saved.stderr_str().contains(&layer) && saved.stderr_str().contains(says),
        "{name}: {saved}"
    );
    assert!(!out.exists());
    assert!(
        temp_files(&out_dir).is_empty(),
        "{:?}",
        temp_files(&out_dir)
    );
}

/// Real layers holding a file of zeros (a preallocated file, a disk image) inflate far
/// more than text does — a 64 MiB file to some 64 KiB of gzip, and to a few KiB of zstd —
/// and are pulled into a tar whole, as skopeo and podman take them.
#[test]
fn layers_of_zeros_are_no_bomb() {
    use tug_testkit::fixtures::{compress_file, FileCompression};
    let dir = tempfile::tempdir().unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(64 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "disk.img", std::io::repeat(0).take(64 << 20))
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let plain = dir.path().join("layer.tar");
    fs::write(&plain, &tar).unwrap();
    let registry = Registry::plain();
    for (name, with) in [
        ("gzip", FileCompression::Gzip),
        ("zstd", FileCompression::Zstd),
    ] {
        let packed = dir.path().join(format!("layer.{name}"));
        compress_file(&plain, &packed, with);
        let blob = fs::read(&packed).unwrap();
        let layout = dir.path().join(format!("zeros-{name}"));
        layout_with_layer(&layout, &blob, &sha256_digest(&tar));
        let repo = format!("zeros/{name}:v1");
        skopeo::copy_to_registry(
            &format!("oci:{}:v1", layout.display()),
            &registry,
            &repo,
            &["--preserve-digests"],
        )
        .unwrap();
        let out = dir.path().join(format!("{name}.tar"));
        let store = dir.path().join("store");
        pull(
            &store,
            &registry.image(&repo),
            &["-o", out.to_str().unwrap()],
        )
        .run()
        .assert_success();
        assert!(fs::metadata(&out).unwrap().len() > 64 << 20, "{name}");
    }
}

/// Waits until a file of tug's next to the output holds at least `at` bytes.
fn wait_for_temp_bytes(dir: &Path, at: u64) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for name in temp_files(dir) {
            let path = dir.join(&name);
            if fs::metadata(&path).map_or(0, |m| m.len()) >= at {
                return path;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the layer never started: {:?}",
            temp_files(dir)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_pull_to_a_tar_killed_mid_download_and_run_again_leaves_the_tar_and_store_consistent() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(134).gzip_layer(8 << 20).gzip_layer(200_000),
        "v1",
    );
    crate::common::push(&registry, &layout, "kill/app:v1").assert_success();
    let diff_ids: Vec<String> = fixture.layers.iter().map(|l| l.diff_id.clone()).collect();
    let proxy = FaultProxy::start(&registry);
    let big = fixture.layers[0].digest.clone();
    for keep in [true, false] {
        let store = dir.path().join(format!("store-{keep}"));
        let out_dir = dir.path().join(format!("out-{keep}"));
        fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join("app.tar");
        let mut args = vec!["-o", out.to_str().unwrap()];
        if keep {
            args.push("--store");
        }
        // The big layer's download hangs after 3 MiB; tug is killed outright meanwhile.
        proxy.clear_rules();
        proxy.add_rule(Rule::new(
            "GET",
            &format!("/blobs/{big}"),
            Fault::StallResponseAfter {
                after: 3 << 20,
                hold: Duration::from_secs(60),
            },
        ));
        let image = proxy.image("kill/app:v1");
        let mut child = pull(&store, &image, &args)
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_temp_bytes(&out_dir, 1 << 20);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!out.exists(), "no partial archive");
        assert!(
            !temp_files(&out_dir).is_empty(),
            "a killed run leaves its files"
        );

        proxy.clear_rules();
        let run = pull(&store, &image, &args).run().assert_success();
        assert_docker_archive(&out, &diff_ids);
        assert!(
            temp_files(&out_dir).is_empty(),
            "{:?}",
            temp_files(&out_dir)
        );
        if keep {
            assert!(
                run.stdout_str().contains(r#""event":"blob_resumed""#),
                "the download went on from the store\n{run}"
            );
            assert_eq!(store_holds_only_verified_blobs(&store), 4);
        } else {
            assert!(!store.exists());
        }
    }
}

#[test]
fn ctrl_c_during_a_pull_to_a_tar_removes_what_it_wrote() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(135).gzip_layer(8 << 20), "v1");
    crate::common::push(&registry, &layout, "intr/tar:v1").assert_success();
    let proxy = FaultProxy::start(&registry);
    proxy.add_rule(Rule::new(
        "GET",
        &format!("/blobs/{}", fixture.layers[0].digest),
        Fault::StallResponseAfter {
            after: 3 << 20,
            hold: Duration::from_secs(60),
        },
    ));
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("app.tar");
    let store = dir.path().join("store");
    let child = pull(
        &store,
        &proxy.image("intr/tar:v1"),
        &["-o", out.to_str().unwrap()],
    )
    .command()
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for_temp_bytes(&out_dir, 1 << 20);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("nothing was kept"), "{stderr}");
    assert!(!out.exists());
    assert!(
        temp_files(&out_dir).is_empty(),
        "{:?}",
        temp_files(&out_dir)
    );
    assert!(!store.exists());
}

#[test]
fn a_layer_download_broken_midway_goes_on_from_where_it_broke_in_the_tar() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(136).gzip_layer(4 << 20).gzip_layer(300_000),
        "v1",
    );
    crate::common::push(&registry, &layout, "broken/app:v1").assert_success();
    let diff_ids: Vec<String> = fixture.layers.iter().map(|l| l.diff_id.clone()).collect();
    let proxy = FaultProxy::start(&registry);
    let big = &fixture.layers[0].digest;
    proxy.add_rule(Rule::new(
        "GET",
        &format!("/blobs/{big}"),
        Fault::DropResponseBody { after: 1 << 20 },
    ));
    let out = dir.path().join("app.tar");
    let store = dir.path().join("store");
    let run = pull(
        &store,
        &proxy.image("broken/app:v1"),
        &["-v", "-o", out.to_str().unwrap()],
    )
    .run()
    .assert_success();
    let done = crate::common::done_event(&run);
    assert!(done["retries"].as_u64().unwrap() >= 1, "{run}");
    let ranged = proxy
        .requests()
        .iter()
        .filter(|r| r.is("GET", big) && r.header("range").is_some())
        .count();
    assert_eq!(ranged, 1, "the rest was asked for with Range\n{run}");
    assert_docker_archive(&out, &diff_ids);
    let (in_place, side) = written_counts(&run);
    assert_eq!(in_place + side, layer_tar_bytes(&out), "{run}");
    assert!(temp_files(dir.path()).is_empty());
}

/// A file-size limit (`ulimit -f`) reached while writing the tar: a clear error naming the
/// file (exit 3), not SIGXFSZ killing tug without a word, and no temporary file left.
#[test]
fn a_file_size_limit_fails_the_pull_by_name_and_leaves_nothing() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    write_oci_layout(&layout, &ImageSpec::new(136).layer(6 << 20), "v1");
    crate::common::push(&registry, &layout, "limit/tar:v1").assert_success();
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("app.tar");
    let tug = pull(
        &dir.path().join("store"),
        &registry.image("limit/tar:v1"),
        &["-o", out.to_str().unwrap()],
    )
    .command();
    // The same command under a 2 MiB file-size limit (`ulimit -f` counts 1 KiB blocks).
    let mut limited = std::process::Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -f 2048 && exec \"$@\"")
        .arg("sh")
        .arg(tug.get_program())
        .args(tug.get_args());
    for (k, v) in tug.get_envs() {
        match v {
            Some(v) => limited.env(k, v),
            None => limited.env_remove(k),
        };
    }
    let output = limited.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(crate::common::INVALID_INPUT),
        "{stderr}"
    );
    assert!(
        stderr.contains("app.tar") || stderr.contains("File too large"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert!(
        temp_files(&out_dir).is_empty(),
        "{:?}",
        temp_files(&out_dir)
    );
}
