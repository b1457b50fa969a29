//! What several end-to-end test modules share: a hermetic world for tug runs ([`Env`],
//! [`hermetic`]), a registry behind the fault proxy and an image ([`Scene`]),
//! running `tug push` against a harness registry, the documented exit codes.

mod env;
mod scene;

pub use env::{hermetic, Env};
pub use scene::{log, Scene};

use std::fs;
use std::path::Path;

use serde_json::json;
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{Fault, FaultProxy, ImageSpec, Registry, Rule, Tug, TugOutput};

/// Exit codes documented in the README.
pub const USAGE: i32 = 2;
pub const INVALID_INPUT: i32 = 3;
pub const AUTH: i32 = 4;
pub const REGISTRY: i32 = 5;
pub const NOT_FOUND: i32 = 7;

/// `tug push -` to an unreachable registry with `TMPDIR` at `tmp`, started with a few bytes
/// on its standard input, which stays open: tug is copying the stream (it said so) when this
/// returns. The child, and its standard input to hold open (or drop).
pub fn pushing_a_held_stream(
    tug: Tug,
    tmp: &Path,
) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::{BufRead, Write};
    use std::process::Stdio;
    let mut child = tug
        .env("TMPDIR", tmp)
        .args(["push", "-", "127.0.0.1:1/never/app:1"])
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&[0u8; 4096]).unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("is a stream"), "{line}");
    (child, stdin)
}

/// The names of the entries of `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `tug push` with the flags needed to reach `registry` (CA file, credentials).
pub fn tug_for(registry: &Registry) -> Tug {
    let mut tug = Tug::new()
        .env_remove("TUG_USERNAME")
        .env_remove("TUG_PASSWORD")
        .arg("push");
    if let Some(ca) = registry.ca_file() {
        tug = tug.arg("--ca-file").arg(ca);
    }
    if let Some((user, password)) = registry.credentials() {
        tug = tug.env("TUG_USERNAME", user).env("TUG_PASSWORD", password);
    }
    tug
}

/// Runs `tug push SOURCE registry/NAME_AND_REF` with plain progress lines.
pub fn push(registry: &Registry, source: impl AsRef<Path>, name_and_ref: &str) -> TugOutput {
    push_with(registry, source, name_and_ref, &[])
}

/// Like [`push`] with extra flags.
pub fn push_with(
    registry: &Registry,
    source: impl AsRef<Path>,
    name_and_ref: &str,
    extra: &[&str],
) -> TugOutput {
    tug_for(registry)
        .args(["--progress", "plain"])
        .args(extra)
        .arg(source.as_ref())
        .arg(registry.image(name_and_ref))
        .run()
}

/// The final `done` object of a `--progress json` run.
pub fn done_event(out: &TugOutput) -> serde_json::Value {
    let stdout = out.stdout_str();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains(r#""event":"done""#))
        .unwrap_or_else(|| {
            panic!(
                "no done event in stdout:\n{stdout}\nstderr:\n{}",
                out.stderr_str()
            )
        });
    serde_json::from_str(line).expect("done event is JSON")
}

/// Writes two images into `dir` and replaces index.json with one entry: an index of both,
/// tagged `multi`. Returns the index bytes and the two manifest digests.
pub fn multi_platform_layout(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let amd = write_oci_layout(dir, &ImageSpec::new(21).layer(40_000), "amd");
    let arm = write_oci_layout(dir, &ImageSpec::new(22).gzip_layer(50_000), "arm");
    let entry = |img: &tug_testkit::FixtureImage, arch: &str| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest.clone().unwrap(),
            "size": img.manifest_bytes().len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .unwrap();
    let digest = sha256_digest(&index);
    fs::write(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
        &index,
    )
    .unwrap();
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let children = vec![amd.manifest_digest.unwrap(), arm.manifest_digest.unwrap()];
    (index, children)
}

/// Starts `tug` (output discarded) and kills it (`SIGKILL`) while it sends its `nth` chunk
/// (`PATCH`), which `proxy` holds meanwhile: nothing of that chunk reaches the registry, and
/// tug has recorded the registry's answer to every chunk before it (it sends the next only
/// after). Then `proxy` forwards normally again.
///
/// # Panics
///
/// If tug never gets to that chunk.
pub fn kill_at_chunk(proxy: &FaultProxy, tug: Tug, nth: usize) {
    let mut child = held_at_chunk(proxy, tug, nth);
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.clear_rules();
}

/// Starts `tug` (output discarded) and returns it, running, once it sends its `nth` chunk
/// (`PATCH`), which `proxy` holds (for 100 s): tug has recorded the registry's answer to
/// every chunk before it.
///
/// # Panics
///
/// If tug never gets to that chunk.
pub fn held_at_chunk(proxy: &FaultProxy, tug: Tug, nth: usize) -> std::process::Child {
    let hold = std::time::Duration::from_secs(100);
    proxy.add_rule(Rule::new("PATCH", "/blobs/uploads/", Fault::Stall { hold }).nth(nth));
    let mut child = tug
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = proxy.wait_for(std::time::Duration::from_secs(300), |log| {
        log.iter()
            .filter(|r| r.is("PATCH", "/blobs/uploads/"))
            .count()
            >= nth
    });
    if !held {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        held,
        "tug never sent its chunk number {nth}: {:#?}",
        proxy.requests()
    );
    child
}

/// Copies tar `from` to `to`, each file's bytes through `edit(name, bytes)`.
pub fn rewrite_tar(
    from: &std::path::Path,
    to: &std::path::Path,
    edit: impl Fn(&str, Vec<u8>) -> Vec<u8>,
) {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(to).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let bytes = edit(&name, bytes);
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        out.append(&header, bytes.as_slice()).unwrap();
    }
    out.finish().unwrap();
}
