//! The tug-wasm package embedded in Node.js: `tests/node/push_pull.mjs` imports the same
//! package the web page uses (its Node.js build), pushes a `docker save` tar from disk
//! (`fs.openAsBlob`) to a real registry, pulls it back into a docker-archive `Blob`, and
//! checks the JS API's error codes. Here the results are checked with skopeo.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tug_testkit::fixtures::{gzip_labelled_plain_layout, write_oci_layout, FixtureImage};
use tug_testkit::fixtures::{pull_with_skopeo_and_compare_layers, skopeo_docker_archive};
use tug_testkit::tools::require_tool;
use tug_testkit::{skopeo, BlobHost, Fault, FaultProxy, ImageSpec, Registry, Rule};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Node.js build of the package.
fn package() -> PathBuf {
    let dir = workspace().join("runner-wasm/pkg-node");
    assert!(
        dir.join("tug_wasm.js").is_file() && dir.join("tug_wasm_bg.wasm").is_file(),
        "the tug-wasm package for Node.js is missing at {}: build it with scripts/build-wasm.sh",
        dir.display()
    );
    dir
}

/// `node`, at least version 20 (`fs.openAsBlob`).
fn node() -> Command {
    let node = require_tool("node");
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .expect("run node --version");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "node {version} is too old: these tests need Node.js >= 20 (fs.openAsBlob); scripts/install-deps.sh installs Debian's nodejs when node is missing"
    );
    Command::new(node)
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A classic docker-save tar made by skopeo, and the image it holds.
fn docker_save(dir: &Path, seed: u64) -> (PathBuf, FixtureImage) {
    let layout = dir.join("layout");
    let spec = ImageSpec::new(seed)
        .layer(700_000)
        .layer(90_000)
        .repeat_layer(0);
    let fixture = write_oci_layout(&layout, &spec, "v1");
    let tar = dir.join("image.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/node:v1");
    (tar, fixture)
}

/// `node tests/node/<name>` with the tug-wasm package and `TUG_OUT` = `out` (created), and
/// without the caller's `TUG_USERNAME` / `TUG_PASSWORD`.
fn script(name: &str, out: &Path) -> Command {
    fs::create_dir_all(out).unwrap();
    let mut cmd = node();
    cmd.arg(workspace().join("tests/node").join(name))
        .env("TUG_WASM_PKG", package())
        .env("TUG_OUT", out)
        .env_remove("TUG_USERNAME")
        .env_remove("TUG_PASSWORD");
    cmd
}

/// Runs a [`script`], fails with its output unless it succeeds, and returns the
/// `result.json` it wrote in `out`.
fn result_of(cmd: &mut Command, out: &Path) -> Value {
    let output = cmd.output().expect("run node");
    assert!(
        output.status.success(),
        "node {:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        cmd.get_args().next().unwrap_or_default(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = fs::read_to_string(out.join("result.json")).expect("the script writes result.json");
    serde_json::from_str(&text).expect("result.json is JSON")
}

/// Runs tests/node/push_pull.mjs against `registry` and returns its `result.json`.
fn run_node(
    registry: &Registry,
    tar: &Path,
    name_and_ref: &str,
    out: &Path,
    extra: &[(&str, String)],
) -> Value {
    let mut cmd = script("push_pull.mjs", out);
    cmd.env("TUG_TAR", tar)
        .env("TUG_TARGET", registry.image(name_and_ref))
        .env("TUG_PLAIN_HTTP", if registry.is_tls() { "0" } else { "1" });
    if let Some(ca) = registry.ca_file() {
        cmd.env("NODE_EXTRA_CA_CERTS", ca);
    }
    if let Some((user, password)) = registry.credentials() {
        cmd.env("TUG_USERNAME", user).env("TUG_PASSWORD", password);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    result_of(&mut cmd, out)
}

/// `layout`'s image `v1` pushed by skopeo as it is (`--preserve-digests`) to `image` in
/// `registry`.
fn skopeo_push(layout: &Path, registry: &Registry, image: &str) {
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        registry,
        image,
        &["--preserve-digests"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The layer digests (diff_ids) skopeo reads from a docker-archive, after checking that
/// skopeo can copy the whole archive (which verifies every layer against its diff_id).
fn archive_layers(tar: &Path) -> Vec<String> {
    let dst = tempfile::tempdir().unwrap();
    skopeo::copy(
        &format!("docker-archive:{}", tar.display()),
        &format!("oci:{}:x", dst.path().display()),
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = skopeo::run([
        "inspect".to_owned(),
        format!("docker-archive:{}", tar.display()),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

fn diff_ids(fixture: &FixtureImage) -> Vec<String> {
    fixture.layers.iter().map(|l| l.diff_id.clone()).collect()
}

#[test]
fn node_pushes_a_tar_from_disk_and_pulls_it_back_over_plain_http() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_save(dir.path(), 81);
    // An image with gzip layers, pushed by skopeo: the pull inflates them for the archive.
    let gz_layout = dir.path().join("gz");
    let gz = write_oci_layout(
        &gz_layout,
        &ImageSpec::new(82).gzip_layer(300_000).gzip_layer(60_000),
        "v1",
    );
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", gz_layout.display()),
        &registry,
        "gz/app:v1",
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Plain layers labelled `+gzip` (skopeo 1.9 pushes such images): decoded by their bytes.
    let labelled_layout = dir.path().join("labelled");
    let labelled = gzip_labelled_plain_layout(
        &labelled_layout,
        &ImageSpec::new(85).layer(200_000).layer(30_000),
        "v1",
    );
    skopeo_push(&labelled_layout, &registry, "labelled/app:v1");
    // An image whose layer the registry's storage has altered: pulling it fails its digest.
    let tampered_layout = dir.path().join("tampered");
    let tampered = write_oci_layout(&tampered_layout, &ImageSpec::new(86).layer(50_000), "v1");
    skopeo_push(&tampered_layout, &registry, "tampered/app:v1");
    tamper_with_blob(&registry, &tampered.layers[0].digest);
    // A crane tarball whose layers are listed in the wrong order: no diffID matches.
    let crane = dir.path().join("crane.tar");
    let spec = ImageSpec::new(87).gzip_layer(30_000).gzip_layer(20_000);
    tug_testkit::fixtures::ggcr_tarball(&crane, &spec, "example/crane:v1");
    let bad_tarball = dir.path().join("swapped.tar");
    crate::common::rewrite_tar(&crane, &bad_tarball, |name, bytes| match name {
        "manifest.json" => {
            let mut m: Value = serde_json::from_slice(&bytes).unwrap();
            m[0]["Layers"].as_array_mut().unwrap().reverse();
            serde_json::to_vec(&m).unwrap()
        }
        _ => bytes,
    });
    // A multi-platform index as an OCI archive: `platform` pushes one image of it.
    let multi = dir.path().join("multi");
    let (_, children) = crate::common::multi_platform_layout(&multi);
    let multi_tar = dir.path().join("multi.oci.tar");
    let mut builder = tar::Builder::new(fs::File::create(&multi_tar).unwrap());
    builder.append_dir_all(".", &multi).unwrap();
    builder.finish().unwrap();
    let out = dir.path().join("out");
    let result = run_node(
        &registry,
        &tar,
        "node/app:v1",
        &out,
        &[
            ("TUG_MULTI_TAR", multi_tar.display().to_string()),
            ("TUG_PULL_GZIP", registry.image("gz/app:v1")),
            ("TUG_PULL_LABELLED", registry.image("labelled/app:v1")),
            ("TUG_PULL_TAMPERED", registry.image("tampered/app:v1")),
            ("TUG_BAD_TARBALL", bad_tarball.display().to_string()),
            ("TUG_UNREACHABLE", format!("127.0.0.1:{}", closed_port())),
        ],
    );

    // What was pushed is the image in the tar, as skopeo sees it in the registry.
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "node/app:v1", &fixture);
    assert_eq!(result["push"]["manifestDigest"], pulled.manifest_digest);
    assert_eq!(
        result["images"][0]["manifestDigest"],
        pulled.manifest_digest
    );
    assert_eq!(result["images"][0]["format"], "docker-save");
    let tag = result["images"][0]["tags"][0].as_str().unwrap_or_default();
    assert!(tag.ends_with("example/node:v1"), "{tag}");
    // Three layers, two unique, plus the config.
    assert_eq!(result["push"]["blobsPushed"], 3);
    assert_eq!(result["repush"]["blobsSkipped"], 3);

    // The pulled archives are docker-archives skopeo reads, with the right layers.
    assert_eq!(archive_layers(&out.join("pulled.tar")), diff_ids(&fixture));
    assert_eq!(archive_layers(&out.join("gzip.tar")), diff_ids(&gz));
    assert_eq!(
        archive_layers(&out.join("labelled.tar")),
        diff_ids(&labelled)
    );
    assert_eq!(result["pull"]["manifestDigest"], pulled.manifest_digest);
    assert_eq!(
        result["platformPush"]["manifestDigest"], children[1],
        "the arm64 image alone"
    );

    let errors = &result["errors"];
    assert_eq!(errors["notATar"]["code"], "input", "{errors}");
    assert_eq!(errors["badTarget"]["code"], "input", "{errors}");
    assert_eq!(errors["nullFile"]["code"], "usage", "{errors}");
    assert_eq!(errors["pathNotBlob"]["code"], "usage", "{errors}");
    assert!(
        errors["pathNotBlob"]["message"]
            .as_str()
            .unwrap()
            .contains("must be a Blob"),
        "{errors}"
    );
    assert_eq!(errors["unreachable"]["code"], "network", "{errors}");
    assert_eq!(errors["cancelledAtOnce"]["code"], "cancelled", "{errors}");
    assert_eq!(errors["cancelledMidway"]["code"], "cancelled", "{errors}");
    // The core's limits, as the CLI's flags have them; outside them, a usage error.
    assert_eq!(result["limits"]["retries"]["max"], 1000, "{result}");
    assert_eq!(result["limits"]["jobs"]["max"], 64, "{result}");
    assert_eq!(
        result["limits"]["chunkSize"]["default"],
        16 << 20,
        "{result}"
    );
    assert_eq!(errors["tooManyRetries"]["code"], "usage", "{errors}");
    let message = errors["tooManyRetries"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("\"retries\" must be from 1 to 1000"),
        "{errors}"
    );
    assert_eq!(errors["noJobs"]["code"], "usage", "{errors}");
    assert_eq!(errors["stringJobs"]["code"], "usage", "{errors}");
    let message = errors["stringJobs"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("(a number, not a string)"), "{errors}");
    for (name, says) in [
        (
            "typo",
            "unknown option \"retires\" (did you mean \"retries\"?)",
        ),
        ("sourceJobs", "\"jobs\" is not an option of a source"),
    ] {
        assert_eq!(errors[name]["code"], "usage", "{errors}");
        let message = errors[name]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name}: {errors}");
    }
    // The same class as the CLI's exit code 3 for the same pull (tests/e2e/tests/e2e/pull.rs).
    assert_eq!(errors["tamperedPull"]["code"], "input", "{errors}");
    let message = errors["tamperedPull"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("does not match its digest"), "{errors}");
    // A compressed layer whose tar is not its diffID is refused before anything is sent,
    // as by the CLI (push_formats.rs).
    assert_eq!(errors["badLayer"]["code"], "input", "{errors}");
    let message = errors["badLayer"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("uncompresses to"), "{errors}");
    assert!(
        skopeo::inspect_raw_in(&registry, "node/app:badlayer").is_err(),
        "nothing was pushed"
    );
}

/// Flips a byte of blob `digest` in the registry's storage.
fn tamper_with_blob(registry: &Registry, digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    let data = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = fs::read(&data).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&data, bytes).unwrap();
}

#[test]
fn the_node_example_from_the_readme_pushes_and_pulls() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_save(dir.path(), 84);
    package();
    let out_tar = dir.path().join("pulled.tar");
    let output = node()
        .arg(workspace().join("runner-wasm/examples/node-push.mjs"))
        .arg(&tar)
        .arg(registry.image("example/app:v1"))
        .arg("--plain-http")
        .arg("--pull")
        .arg(&out_tar)
        .env_remove("TUG_USERNAME")
        .env_remove("TUG_PASSWORD")
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the example failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "example/app:v1", &fixture);
    assert!(stdout.contains(&pulled.manifest_digest), "{stdout}");
    assert_eq!(archive_layers(&out_tar), diff_ids(&fixture));
}

#[test]
fn node_pushes_and_pulls_with_tls_and_basic_auth() {
    let password = "n0de-s3cret";
    let registry = Registry::tls_basic_auth("noder", password);
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_save(dir.path(), 83);
    let out = dir.path().join("out");
    let result = run_node(&registry, &tar, "team/node:v2", &out, &[]);

    let pulled = pull_with_skopeo_and_compare_layers(&registry, "team/node:v2", &fixture);
    assert_eq!(result["push"]["manifestDigest"], pulled.manifest_digest);
    assert_eq!(archive_layers(&out.join("pulled.tar")), diff_ids(&fixture));
    let errors = &result["errors"];
    assert_eq!(errors["wrongPassword"]["code"], "auth", "{errors}");
    let text = fs::read_to_string(out.join("result.json")).unwrap();
    assert!(
        !text.contains(password),
        "the password leaked into results: {text}"
    );
}

#[test]
fn node_retries_through_faults_and_follows_blob_redirects() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let storage = BlobHost::serving(&registry);
    let put_503 = proxy.add_rule(Rule::new("PUT", "/blobs/uploads/", Fault::status(503)));
    let broken_patch = proxy.add_rule(Rule::new(
        "PATCH",
        "/blobs/uploads/",
        Fault::DropRequestBody { after: 100_000 },
    ));
    let broken_manifest = proxy.add_rule(Rule::new(
        "GET",
        "/manifests/",
        Fault::DropResponseBody { after: 10 },
    ));
    let redirect = proxy.add_rule(
        Rule::new(
            "GET",
            "/blobs/sha256:",
            Fault::RedirectTo {
                base: storage.url(),
            },
        )
        .always(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (tar, fixture) = docker_save(dir.path(), 85);
    let out = dir.path().join("out");
    let result = result_of(
        script("faults.mjs", &out)
            .env("TUG_TAR", &tar)
            .env("TUG_TARGET", proxy.image("faults/app:v1")),
        &out,
    );

    for (rule, what) in [
        (put_503, "a 503 on a PUT"),
        (broken_patch, "a PATCH cut off midway"),
        (broken_manifest, "a manifest cut off midway"),
    ] {
        assert_eq!(proxy.hits(rule), 1, "{what} was injected once");
    }
    let push_retries = result["pushRetries"].as_array().unwrap();
    assert!(push_retries.len() >= 2, "{result}");
    assert_eq!(
        result["pullRetries"].as_array().unwrap().len(),
        1,
        "{result}"
    );
    assert!(proxy.hits(redirect) >= 3, "every blob GET was redirected");
    let served = storage.requests();
    assert!(served.len() >= 3, "the blobs came from the blob host");
    assert!(
        served.iter().all(|r| !r.has_authorization()),
        "no Authorization to another host"
    );
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "faults/app:v1", &fixture);
    assert_eq!(result["push"]["manifestDigest"], pulled.manifest_digest);
    assert_eq!(result["pull"]["manifestDigest"], pulled.manifest_digest);
    assert_eq!(archive_layers(&out.join("pulled.tar")), diff_ids(&fixture));
}

/// tug-wasm keeps no timers: the core's request deadlines (`stallTimeout`) end a manifest
/// request that gets no answer and a blob download that stops midway, each aborted and
/// retried (the download from where it stopped), long before the proxy lets go of them.
#[test]
fn node_pulls_through_stalls_on_the_cores_deadlines() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(87).layer(400_000), "v1");
    skopeo_push(&layout, &registry, "stalls/app:v1");
    // Held far longer than the test runs: only a timeout ends them.
    let hold = Duration::from_secs(60);
    let manifest = proxy.add_rule(Rule::new("GET", "/manifests/", Fault::Stall { hold }));
    let blob = proxy.add_rule(Rule::new(
        "GET",
        &format!("/blobs/{}", fixture.layers[0].digest),
        Fault::StallResponseAfter {
            after: 100_000,
            hold,
        },
    ));
    let out = dir.path().join("out");
    let result = result_of(
        script("stalls.mjs", &out).env("TUG_SOURCE", proxy.image("stalls/app:v1")),
        &out,
    );
    assert_eq!((proxy.hits(manifest), proxy.hits(blob)), (1, 1));
    let reasons: Vec<&str> = result["retries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 2, "{result:#}");
    assert!(
        reasons.iter().all(|r| r.contains("no byte moved for 1 s")),
        "{result:#}"
    );
    // The download went on from where it stopped.
    let gets = proxy.requests_matching("GET", &format!("/blobs/{}", fixture.layers[0].digest));
    assert_eq!(gets.len(), 2, "{result:#}");
    let from = gets[1]
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="));
    let from: u64 = from
        .and_then(|r| r.strip_suffix('-')?.parse().ok())
        .unwrap_or(0);
    assert!(from > 0 && from <= 100_000, "{result:#}");
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "stalls/app:v1", &fixture);
    assert_eq!(result["pull"]["manifestDigest"], pulled.manifest_digest);
    let bad = &result["bad"];
    assert_eq!(bad["code"], "usage", "{result:#}");
    assert!(
        bad["message"].as_str().unwrap().contains("stallTimeout"),
        "{result:#}"
    );
}

/// tug-wasm copies registry to registry from Node.js: a plain source, a TLS + Basic auth
/// target, layers in several chunks each fed from the source; checked with skopeo. The
/// image's signature and SBOM (the tag schema of a registry without the referrers API)
/// come along, as with `tug copy`.
#[test]
fn node_copies_registry_to_registry() {
    let source = Registry::plain();
    let target = Registry::tls_basic_auth("copier", "c0py-s3cret");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(86).layer(300_000).gzip_layer(90_000),
        "v1",
    );
    skopeo_push(&layout, &source, "team/src:v1");
    let att = tug_testkit::referrers::attach_signature_and_sbom(&source, "team/src", "v1", 7);
    let out = dir.path().join("out");
    let (user, password) = target.credentials().unwrap();
    let result = result_of(
        script("copy.mjs", &out)
            .env("TUG_REFERRERS", "2")
            .env("TUG_SOURCE", source.image("team/src:v1"))
            .env("TUG_TARGET", target.image("team/copied:v1"))
            .env("TUG_PLAIN_HTTP", "0")
            .env("TUG_USERNAME", user)
            .env("TUG_PASSWORD", password)
            .env("NODE_EXTRA_CA_CERTS", target.ca_file().unwrap()),
        &out,
    );
    let pulled = pull_with_skopeo_and_compare_layers(&target, "team/copied:v1", &fixture);
    assert_eq!(result["copy"]["manifestDigest"], pulled.manifest_digest);
    use tug_testkit::referrers::{get_manifest, index_digests};
    let signature = get_manifest(&target, "team/copied", &att.signature_tag());
    assert_eq!(signature.map(|(b, _)| b), Some(att.signature.manifest));
    let sbom = get_manifest(&target, "team/copied", &att.sbom.digest);
    assert_eq!(sbom.map(|(b, _)| b), Some(att.sbom.manifest));
    assert_eq!(
        index_digests(&target, "team/copied", &att.index_tag),
        vec![att.sbom.digest]
    );
}

/// tug-wasm takes the sessions a cancelled push left open (`resume`, from its
/// `upload_session` events) and goes on from the registry's confirmed offset: the proxy sees
/// the image's bytes once, plus at most the chunk cut off by the cancel. A session the
/// registry does not know (another repository) is started over; a malformed one is an input
/// error.
#[test]
fn node_resumes_a_cancelled_push_from_its_upload_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, fixture) = resume_fixture(dir.path());
    let tar = dir.path().join("image.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/node:v1");
    check_resume(dir.path(), &fixture, ("TUG_TAR", tar.display().to_string()));
}

/// The same for a copy registry to registry: a copy cancelled mid-layer and run again with
/// the sessions it left open goes on from the target's confirmed offset.
#[test]
fn node_resumes_a_cancelled_copy_from_its_upload_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, fixture) = resume_fixture(dir.path());
    let source = Registry::plain();
    skopeo_push(&layout, &source, "src/app:v1");
    check_resume(
        dir.path(),
        &fixture,
        ("TUG_SOURCE", source.image("src/app:v1")),
    );
}

/// An image with one 3 MB layer (12 chunks of [`RESUME_CHUNK`]) in an OCI layout in `dir`.
fn resume_fixture(dir: &Path) -> (PathBuf, FixtureImage) {
    let layout = dir.join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(86).layer(3_000_000), "v1");
    (layout, fixture)
}

/// The chunk size of the resume runs.
const RESUME_CHUNK: u64 = 256 * 1024;

/// Runs tests/node/resume.mjs with the image given by `input` (a tar to push or a registry
/// image to copy) and checks its four runs (see that script).
fn check_resume(dir: &Path, fixture: &FixtureImage, input: (&str, String)) {
    const CHUNK: u64 = RESUME_CHUNK;
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    // A chunk the cancel cuts off never reaches the registry in part (distribution 2.8 drops
    // a session that got half a chunk; the layer would then rightly start over).
    proxy.buffer_request_bodies(true);
    let out = dir.join("out");
    let result = result_of(
        script("resume.mjs", &out)
            .env(input.0, input.1)
            .env("TUG_TARGET", proxy.image("resume/app:v1"))
            .env("TUG_TARGET2", proxy.image("resume/other:v1"))
            .env("TUG_CHUNK", CHUNK.to_string())
            .env("TUG_AT", (4 * CHUNK).to_string()),
        &out,
    );
    let first = &result["first"];
    assert_eq!(first["error"]["code"], "cancelled", "{result:#}");
    let open = first["sessions"].as_array().unwrap();
    assert_eq!(
        open.len(),
        1,
        "the big layer's session was open: {result:#}"
    );
    assert!(
        open[0]["committed"].as_u64().unwrap() >= 4 * CHUNK,
        "{result:#}"
    );
    let again = &result["again"];
    assert_eq!(again["error"], Value::Null, "{result:#}");
    assert_eq!(
        again["sessions"],
        serde_json::json!([]),
        "all closed: {result:#}"
    );
    assert!(
        again["events"]
            .to_string()
            .contains("upload_session_closed"),
        "{result:#}"
    );
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "resume/app:v1", fixture);
    assert_eq!(again["result"]["manifestDigest"], pulled.manifest_digest);

    // Bytes sent to resume/app: the image once, plus at most the chunk the cancel cut off.
    let image: u64 = pulled.blobs.values().sum();
    let sent: u64 = proxy
        .requests_matching("*", "/v2/resume/app/blobs/uploads/")
        .iter()
        .map(|r| r.request_body_forwarded + r.request_body_discarded)
        .sum();
    assert!(
        sent >= image && sent <= image + CHUNK,
        "sent {sent} bytes for an image of {image}"
    );
    // The run that went on says what it sent, not what the session already held.
    let committed = open[0]["committed"].as_u64().unwrap();
    let said = again["result"]["bytesSent"].as_u64().unwrap();
    assert!(
        said > 0 && said + committed <= image,
        "bytesSent {said} after {committed} held, for an image of {image}"
    );
    let asked = proxy.requests_matching("GET", "/v2/resume/app/blobs/uploads/");
    assert!(!asked.is_empty(), "the session's offset was asked");

    // The registry knows no such session in resume/other: it starts over and succeeds.
    assert_eq!(result["forgotten"]["error"], Value::Null, "{result:#}");
    let other = pull_with_skopeo_and_compare_layers(&registry, "resume/other:v1", fixture);
    assert_eq!(
        result["forgotten"]["result"]["manifestDigest"],
        other.manifest_digest
    );

    let bad = &result["bad"]["error"];
    assert_eq!(bad["code"], "usage", "{result:#}");
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("resume[0].digest"),
        "{result:#}"
    );
}

/// A pull into an output that falls behind holds the download back: while the output is
/// stuck on its first blob, the pull completes at most a couple more, not the whole image
/// (which would sit in memory).
#[test]
fn node_pull_waits_for_an_output_that_falls_behind() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let mut spec = ImageSpec::new(88);
    for _ in 0..7 {
        spec = spec.layer(40_000);
    }
    write_oci_layout(&layout, &spec, "v1");
    skopeo_push(&layout, &registry, "slow/out:v1");
    let out = dir.path().join("out");
    let result = result_of(
        script("slow_output.mjs", &out).env("TUG_IMAGE", registry.image("slow/out:v1")),
        &out,
    );
    assert_eq!(result["done"], 8, "{result}");
    let while_held = result["doneWhileHeld"].as_u64().unwrap();
    assert!(
        while_held <= 3,
        "{while_held} blobs done while the output was stuck: {result}"
    );
    // Every blob reached the archive, the last ones too.
    let archive = format!("oci-archive:{}", out.join("pulled.oci.tar").display());
    let copied = format!("oci:{}:v1", dir.path().join("copied").display());
    skopeo::copy(&archive, &copied, skopeo::NO_ARGS).expect("skopeo reads every blob");
}

/// Runs case `case` of `node_edges.mjs` (beside this file) against an image of seven small
/// layers on a plain registry, and returns its `result.json` (and the directory it wrote in).
fn edges(case: &str) -> (Value, tempfile::TempDir) {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let mut spec = ImageSpec::new(89);
    for _ in 0..7 {
        spec = spec.layer(40_000);
    }
    write_oci_layout(&layout, &spec, "v1");
    skopeo_push(&layout, &registry, "edges/app:v1");
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let mut cmd = node();
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/node_edges.mjs"))
        .env("TUG_WASM_PKG", package())
        .env("TUG_OUT", &out)
        .env("TUG_CASE", case)
        .env("TUG_IMAGE", registry.image("edges/app:v1"))
        .env_remove("TUG_USERNAME")
        .env_remove("TUG_PASSWORD");
    (result_of(&mut cmd, &out), dir)
}

/// A Cancel settles a pull whose output never finishes a write (a paused download, a stuck
/// disk): `done` rejects `cancelled` at once; nothing is closed; an output that settles its
/// write later is then aborted with the Cancel's error (the Streams standard aborts no sink
/// mid-write).
#[test]
fn node_cancel_settles_a_pull_whose_output_is_stuck() {
    let (result, _dir) = edges("cancel-stuck");
    for (done, seen) in [("never", "neverSeen"), ("later", "laterSeen")] {
        assert_eq!(result[done]["rejected"], true, "{done}: {result:#}");
        assert_eq!(result[done]["code"], "cancelled", "{done}: {result:#}");
        assert!(
            result[done]["ms"].as_u64().unwrap() < 2000,
            "{done}: {result:#}"
        );
        assert_eq!(result[seen]["closed"], false, "{seen}: {result:#}");
        assert_eq!(result[seen]["writes"], 1, "{seen}: {result:#}");
    }
    assert_eq!(
        result["laterSeen"]["abortReason"]["code"], "cancelled",
        "{result:#}"
    );
}

/// A Cancel stops a pull that is writing its archive to a slow output: no write after it,
/// `done` rejects `cancelled` without waiting for the rest, and the stream is aborted, not
/// closed.
#[test]
fn node_cancel_stops_a_pull_writing_to_a_slow_output() {
    let (result, _dir) = edges("cancel-slow");
    let cancelled = &result["cancelled"];
    assert_eq!(cancelled["rejected"], true, "{result:#}");
    assert_eq!(cancelled["code"], "cancelled", "{result:#}");
    assert!(cancelled["ms"].as_u64().unwrap() < 1000, "{result:#}");
    assert_eq!(
        result["seen"]["writes"], result["writesAtCancel"],
        "{result:#}"
    );
    assert_eq!(result["seen"]["closed"], false, "{result:#}");
    assert_eq!(
        result["seen"]["abortReason"]["code"], "cancelled",
        "{result:#}"
    );
}

/// An `onEvent` that throws stops nothing, but its first error is on the console (once).
#[test]
fn node_shows_the_first_error_of_an_on_event_that_throws() {
    let (result, _dir) = edges("throwing-listener");
    assert_eq!(result["pulled"]["resolved"], true, "{result:#}");
    assert!(result["calls"].as_u64().unwrap() > 1, "{result:#}");
    let errors = result["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{result:#}");
    assert!(
        errors[0].to_string().contains("onEvent threw")
            && errors[0].to_string().contains("display bug"),
        "{result:#}"
    );
}

/// References that are not strings, an `onEvent` that is not a function, and a `format`
/// tug-wasm does not write, reject `done` with `usage` naming the argument, as every other
/// bad argument: no exception from the call.
#[test]
fn node_rejects_arguments_of_the_wrong_type_as_usage() {
    let (result, _dir) = edges("arguments");
    for (case, named) in [
        ("pushTargetUndefined", "target"),
        ("pushTargetNumber", "target"),
        ("pullImageUndefined", "image"),
        ("platformsImageNull", "image"),
        ("copySourceObject", "source"),
        ("copyTargetUndefined", "target"),
        ("formatBogus", "format"),
        ("pushOnEventNumber", "onEvent"),
        ("pullOnEventString", "onEvent"),
        ("copyOnEventObject", "onEvent"),
    ] {
        let got = &result[case];
        assert_eq!(got["rejected"], true, "{case}: {result:#}");
        assert_eq!(got["code"], "usage", "{case}: {result:#}");
        assert!(
            got["message"].as_str().unwrap().contains(named),
            "{case}: {result:#}"
        );
    }
}

/// An output stream that cannot be written (locked, closed, errored, not a stream) is a
/// `usage` error before anything is pulled; one whose sink takes no `Blob` fails saying so.
#[test]
fn node_refuses_outputs_that_cannot_be_written() {
    let (result, _dir) = edges("outputs");
    for case in ["locked", "closed", "errored", "notAStream"] {
        assert_eq!(result[case]["rejected"], true, "{case}: {result:#}");
        assert_eq!(result[case]["code"], "usage", "{case}: {result:#}");
        assert!(
            result[case]["message"]
                .as_str()
                .unwrap()
                .starts_with("output: "),
            "{case}: {result:#}"
        );
    }
    let bytes_only = &result["bytesOnly"];
    assert_eq!(bytes_only["rejected"], true, "{result:#}");
    assert!(
        bytes_only["message"]
            .as_str()
            .unwrap()
            .contains("Blob chunks"),
        "{result:#}"
    );
}

/// A pull's `format` without `output` is honoured: `oci-archive` resolves to an OCI archive
/// `tar` (skopeo reads every blob of it), `docker-archive` to the same `docker save` tar as
/// no format.
#[test]
fn node_pull_without_output_honours_its_format() {
    let (result, dir) = edges("format");
    assert_eq!(
        result["keys"],
        serde_json::json!([
            "blobTimings",
            "bytesReceived",
            "durationMs",
            "manifestDigest",
            "retries",
            "tar"
        ]),
        "{result:#}"
    );
    assert_eq!(result["dockerSize"], result["plainSize"], "{result:#}");
    let archive = format!(
        "oci-archive:{}",
        dir.path().join("out/pulled.tar").display()
    );
    let copied = format!("oci:{}:v1", dir.path().join("copied").display());
    skopeo::copy(&archive, &copied, skopeo::NO_ARGS).expect("skopeo reads the OCI archive");
}
