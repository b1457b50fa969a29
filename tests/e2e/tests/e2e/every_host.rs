//! One image from every host (issue 17's "Done means"): the same OCI layout pushed by the
//! `tug` CLI (smol), the tokio example (`tug-tokio-runner`), the Python host over the
//! WebAssembly component and tug-wasm in Node.js, each with its own defaults (Node's chunk
//! size is 16 MiB, the others' 64 MiB: the big layer goes in chunks from Node and in one PUT
//! from the others), each to its own repository of one TLS + htpasswd registry. The registry
//! then serves the same manifest (digest, media type, bytes) and the same config and layer
//! blobs in all four; and each host pulls its repository back into a layout holding the same
//! blobs and naming the same manifest. Needs `cargo build --workspace` (tug and the example),
//! `scripts/build-wasm.sh` and `scripts/build-component.sh`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::hashing::sha256_digest;
use tug_testkit::tools::require_tool;
use tug_testkit::{tug_bin, ImageSpec, Registry, Tug};

const USER: &str = "every-host";
const PASSWORD: &str = "same-bytes";
const TAG: &str = "v1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The four hosts, each pushing to and pulling from its own repository.
const HOSTS: [&str; 4] = ["cli", "tokio", "python", "node"];

fn repository(host: &str) -> String {
    format!("every/{host}")
}

/// A host's run, killed after two minutes (a hang fails).
fn run(cmd: Tug, what: &str) {
    let out = cmd.timeout(Duration::from_secs(120)).run();
    assert!(out.success(), "{what}: {out}");
}

/// `tug push` and `tug pull -o DIR --format oci`.
fn cli(registry: &Registry, layout: &Path, pulled: &Path) {
    let ca = registry.ca_file().unwrap();
    let target = registry.image(&format!("{}:{TAG}", repository("cli")));
    let tug = |command: &str, args: &[&str]| {
        Tug::new()
            .arg(command)
            .args(["-u", USER, "--password-stdin", "--ca-file"])
            .arg(ca)
            .args(args)
            .stdin(format!("{PASSWORD}\n"))
    };
    let source = format!("oci:{}:{TAG}", layout.display());
    run(tug("push", &[&source, &target]), "tug push");
    let out = pulled.to_str().unwrap();
    run(
        tug("pull", &[&target, "-o", out, "--format", "oci"]),
        "tug pull",
    );
}

/// The tokio example, built next to `tug` by `cargo build --workspace`.
fn tokio(registry: &Registry, layout: &Path, pulled: &Path) {
    let bin = tug_bin().with_file_name("tug-tokio-runner");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p tug-tokio-runner` (scripts/test.sh builds the workspace)",
        bin.display()
    );
    let target = registry.image(&format!("{}:{TAG}", repository("tokio")));
    let ca = registry.ca_file().unwrap();
    let host = |args: &[&str]| {
        Tug::with_bin(&bin)
            .args(args)
            .env("TUG_USERNAME", USER)
            .env("TUG_PASSWORD", PASSWORD)
            .env("SSL_CERT_FILE", ca)
    };
    run(
        host(&["push", layout.to_str().unwrap(), &target]),
        "tokio push",
    );
    run(
        host(&["pull", &target, pulled.to_str().unwrap()]),
        "tokio pull",
    );
}

/// `python -m tug_embed` over the component (`scripts/build-component.sh`).
fn python(registry: &Registry, layout: &Path, pulled: &Path) {
    let root = workspace();
    let interpreter = root.join("target/tug-embed-venv/bin/python");
    let component = root.join("target/wasm32-wasip2/dist/tug_component.wasm");
    assert!(
        interpreter.is_file() && component.is_file(),
        "the component or the Python venv is missing: run scripts/build-component.sh"
    );
    let target = registry.image(&format!("{}:{TAG}", repository("python")));
    let ca = registry.ca_file().unwrap().to_str().unwrap();
    let host = |args: &[&str]| {
        Tug::with_bin(&interpreter)
            .args(["-m", "tug_embed"])
            .args(args)
            .args(["--user", USER, "--password", PASSWORD, "--ca", ca])
            .env("PYTHONPATH", root.join("embed/python"))
    };
    run(
        host(&["push", layout.to_str().unwrap(), &target]),
        "python push",
    );
    run(
        host(&["pull", &target, pulled.to_str().unwrap()]),
        "python pull",
    );
}

/// tug-wasm in Node.js (`tests/node/every_host.mjs`): pushes the layout as an OCI archive,
/// pulls into one, which is unpacked into `pulled`.
fn node(registry: &Registry, layout: &Path, pulled: &Path) {
    let package = workspace().join("runner-wasm/pkg-node");
    assert!(
        package.join("tug_wasm.js").is_file(),
        "the tug-wasm package for Node.js is missing: run scripts/build-wasm.sh"
    );
    let dir = pulled.parent().unwrap();
    let archive = dir.join("node-push.oci.tar");
    tar_directory(layout, &archive);
    let pulled_archive = dir.join("node-pulled.oci.tar");
    let output = Command::new(require_tool("node"))
        .arg(workspace().join("tests/node/every_host.mjs"))
        .env("TUG_WASM_PKG", &package)
        .env("TUG_TAR", &archive)
        .env(
            "TUG_TARGET",
            registry.image(&format!("{}:{TAG}", repository("node"))),
        )
        .env("TUG_PULLED", &pulled_archive)
        .env("TUG_USERNAME", USER)
        .env("TUG_PASSWORD", PASSWORD)
        .env("NODE_EXTRA_CA_CERTS", registry.ca_file().unwrap())
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "node tests/node/every_host.mjs failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let file = fs::File::open(&pulled_archive).expect("the pulled OCI archive");
    tar::Archive::new(file)
        .unpack(pulled)
        .expect("unpack the pulled OCI archive");
}

/// An OCI archive of the layout directory (its files at the tar's root).
fn tar_directory(dir: &Path, archive: &Path) {
    let mut builder = tar::Builder::new(fs::File::create(archive).unwrap());
    builder.append_dir_all(".", dir).unwrap();
    builder.finish().unwrap();
}

/// What a registry serves for one repository: the tag's manifest (its
/// `Docker-Content-Digest`, `Content-Type` and bytes) and every blob it names, by digest.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    digest: String,
    media_type: String,
    manifest: Vec<u8>,
    blobs: BTreeMap<String, Vec<u8>>,
}

fn get(registry: &Registry, path: &str, accept: &str) -> (String, String, Vec<u8>) {
    let url = format!("{}/v2/{path}", registry.url());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let mut response = registry
        .agent()
        .get(&url)
        .header("Authorization", &format!("Basic {basic}"))
        .header("Accept", accept)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (digest, media_type) = (header("docker-content-digest"), header("content-type"));
    let body = response.body_mut().with_config().limit(u64::MAX);
    (digest, media_type, body.read_to_vec().unwrap())
}

fn served(registry: &Registry, repository: &str) -> Served {
    let (digest, media_type, manifest) = get(
        registry,
        &format!("{repository}/manifests/{TAG}"),
        OCI_MANIFEST,
    );
    assert_eq!(sha256_digest(&manifest), digest, "{repository}'s manifest");
    let parsed: Value = serde_json::from_slice(&manifest).unwrap();
    let layers = parsed["layers"].as_array().expect("layers");
    let mut blobs = BTreeMap::new();
    for d in std::iter::once(&parsed["config"]).chain(layers) {
        let blob = d["digest"].as_str().unwrap().to_owned();
        let (_, _, bytes) = get(registry, &format!("{repository}/blobs/{blob}"), "*/*");
        assert_eq!(sha256_digest(&bytes), blob, "{repository}'s blob");
        blobs.insert(blob, bytes);
    }
    Served {
        digest,
        media_type,
        manifest,
        blobs,
    }
}

/// A layout's image: the manifest `index.json` names (media type, digest, size, reference
/// name), the files under `blobs/` with their bytes, and `index.json` itself.
#[derive(Debug, PartialEq, Eq)]
struct LayoutImage {
    named: (String, String, u64, String),
    blobs: BTreeMap<String, Vec<u8>>,
    index: Vec<u8>,
}

fn layout_image(dir: &Path) -> LayoutImage {
    let bytes = fs::read(dir.join("index.json")).unwrap();
    let index: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{}/index.json: {e}", dir.display()));
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1, "{}: {index}", dir.display());
    let entry = &entries[0];
    let named = (
        entry["mediaType"].as_str().unwrap_or("").to_owned(),
        entry["digest"].as_str().unwrap_or("").to_owned(),
        entry["size"].as_u64().unwrap_or(0),
        entry["annotations"][REF_NAME]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    );
    let mut blobs = BTreeMap::new();
    let sha256 = dir.join("blobs/sha256");
    for file in fs::read_dir(&sha256).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        blobs.insert(format!("sha256:{name}"), fs::read(&path).unwrap());
    }
    LayoutImage {
        named,
        blobs,
        index: bytes,
    }
}

#[test]
fn every_host_leaves_the_same_bytes_in_the_registry_and_pulls_the_same_layout() {
    let registry = Registry::tls_basic_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    // A layer over Node's 16 MiB chunk, one small one, and the first again.
    let spec = ImageSpec::new(1717)
        .layer(18_000_000)
        .layer(120_000)
        .repeat_layer(0);
    let fixture = write_oci_layout(&layout, &spec, TAG);
    let pushers: [fn(&Registry, &Path, &Path); 4] = [cli, tokio, python, node];
    for (host, push_and_pull) in HOSTS.iter().zip(pushers) {
        push_and_pull(
            &registry,
            &layout,
            &dir.path().join(format!("pulled-{host}")),
        );
    }

    // The defaults differ: Node sent the big layer in chunks (PATCH), the others in one PUT.
    let log = registry.log();
    let patches = |host: &str| {
        let upload = format!("PATCH /v2/{}/blobs/uploads/", repository(host));
        log.lines().filter(|l| l.contains(&upload)).count()
    };
    assert!(patches("node") >= 1, "no chunked upload from Node:\n{log}");
    for host in &HOSTS[..3] {
        assert_eq!(patches(host), 0, "{host} sent chunks");
    }

    let source = layout_image(&layout);
    let first = served(&registry, &repository(HOSTS[0]));
    assert_eq!(Some(&first.manifest), fixture.manifest.as_ref());
    assert_eq!(first.media_type, OCI_MANIFEST);
    assert_eq!(
        first.blobs.len(),
        3,
        "config and two distinct layers: {:?}",
        first.blobs.keys()
    );
    let pulled: Vec<LayoutImage> = HOSTS
        .iter()
        .map(|host| layout_image(&dir.path().join(format!("pulled-{host}"))))
        .collect();
    for (host, pulled) in HOSTS.iter().zip(&pulled) {
        let served = served(&registry, &repository(host));
        assert!(
            served == first,
            "{host}'s repository differs from the CLI's"
        );
        assert_eq!(
            pulled.named, source.named,
            "the manifest {host}'s pull names"
        );
        assert!(
            pulled.blobs == source.blobs,
            "{host} pulled other blobs: {:?} (the source: {:?})",
            pulled.blobs.keys(),
            source.blobs.keys()
        );
    }
    // The embeddings write the core's index.json; the CLI's names the image in its own
    // (a layout it may share with other images, with its annotations).
    for (host, image) in HOSTS.iter().zip(&pulled).skip(2) {
        assert_eq!(
            String::from_utf8_lossy(&image.index),
            String::from_utf8_lossy(&pulled[1].index),
            "{host}'s index.json and the tokio example's"
        );
    }
}
