//! Pull and copy: the image is first pushed (unmeasured) into a seed registry, whose storage
//! is kept as a hard-linked snapshot; every measured run gets a fresh TLS registry whose
//! storage is a hard-linked clone of that snapshot (the same state as pushing the image into
//! it, at no cost in time or tmpfs), and pulls from it into an OCI layout or copies from it
//! into a second fresh registry.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use tug_testkit::hashing::sha256_file;
use tug_testkit::{skopeo, Registry, RegistryConfig};

use crate::clients::{dir_bytes, manifest_layers, tail, Client, RunResult, Setup};
use crate::fixture::BenchImage;
use crate::measure::{load_average, measure, process_cpu_seconds, system_busy_seconds};

/// Repository and tag of the image in every source registry.
pub const SOURCE_REPO: &str = "bench/source";
pub const SOURCE_TAG: &str = "latest";

/// A registry's storage (`docker/registry/v2/…`) kept as a hard-linked snapshot, to start
/// fresh registries holding the same images. Removed when dropped.
#[derive(Debug)]
pub struct Snapshot {
    dir: PathBuf,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Snapshot {
    /// Snapshots `registry`'s storage into `dir` (replaced if it exists). Blob files that
    /// duplicate one of `share` (files named by their hex sha256, as in an OCI layout)
    /// become hard links to it, so they cost no tmpfs.
    pub fn take(registry: &Registry, dir: &Path, share: &[PathBuf]) -> Result<Snapshot> {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        fs::create_dir_all(dir)?;
        let snapshot = Snapshot {
            dir: dir.to_path_buf(),
        };
        link_tree(&registry.storage_dir().join("docker"), dir)?;
        let by_hex: HashMap<String, &PathBuf> = share
            .iter()
            .filter_map(|p| Some((p.file_name()?.to_str()?.to_owned(), p)))
            .collect();
        let blobs = dir.join("docker/registry/v2/blobs/sha256");
        for prefix in fs::read_dir(&blobs).with_context(|| format!("read {}", blobs.display()))? {
            for entry in fs::read_dir(prefix?.path())? {
                let entry = entry?;
                let hex = entry.file_name().to_string_lossy().into_owned();
                if let Some(original) = by_hex.get(&hex) {
                    let data = entry.path().join("data");
                    if fs::metadata(&data)?.len() == fs::metadata(original)?.len() {
                        fs::remove_file(&data)?;
                        if fs::hard_link(original, &data).is_err() {
                            fs::copy(original, &data)?;
                        }
                    }
                }
            }
        }
        Ok(snapshot)
    }

    /// A fresh registry configured as `config` (its storage on the tmpfs) holding the
    /// snapshot's images.
    pub fn start(&self, config: RegistryConfig) -> Result<Registry> {
        let registry = Registry::start(config);
        // Nothing has asked the registry about the repository yet (it has no cache either),
        // so filling its storage now is the same as pushing into it.
        link_tree(&self.dir.join("docker"), registry.storage_dir())?;
        Ok(registry)
    }
}

/// The image as a registry holds it after `tug push`, its blob files hard links to the
/// image's OCI layout blobs.
#[derive(Debug)]
pub struct Seed {
    snapshot: Snapshot,
    pub image: BenchImage,
}

/// Pushes `image` with tug into a fresh registry (not measured), checks it, and keeps its
/// storage under `dir`.
pub fn seed(setup: &Setup, image: &BenchImage, dir: &Path) -> Result<Seed> {
    let registry = Registry::start(RegistryConfig::tls().with_temp_parent(&setup.registry_parent));
    let ca_file = registry.ca_file().context("TLS registry has a CA file")?;
    let target = registry.image(&format!("{SOURCE_REPO}:{SOURCE_TAG}"));
    let output = Command::new(&setup.tug)
        .args(["push", "--progress", "none", "--ca-file"])
        .arg(ca_file)
        .arg(&image.archive)
        .arg(&target)
        .output()
        .context("run tug push")?;
    if !output.status.success() {
        bail!(
            "seeding: tug push {} {target} failed ({}):\n{}",
            image.archive.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let layers = manifest_layers(&skopeo::inspect_raw_in(
        &registry,
        &format!("{SOURCE_REPO}:{SOURCE_TAG}"),
    )?)?;
    ensure!(
        layers == image.layer_digests,
        "seeding: the registry's layers differ from the image's:\n  {layers:?}\n  {:?}",
        image.layer_digests
    );
    Ok(Seed {
        snapshot: Snapshot::take(&registry, dir, &image.blob_files)?,
        image: image.clone(),
    })
}

/// `cp -al SRC DST_DIR/` (hard links), or `cp -a` when they are on different file systems.
fn link_tree(src: &Path, dst_dir: &Path) -> Result<()> {
    let linked = Command::new("cp")
        .arg("-al")
        .arg(src)
        .arg(dst_dir)
        .stderr(std::process::Stdio::null())
        .status()?;
    if !linked.success() {
        let name = src.file_name().context("source has a name")?;
        let _ = fs::remove_dir_all(dst_dir.join(name));
        let copied = Command::new("cp")
            .arg("-a")
            .arg(src)
            .arg(dst_dir)
            .status()?;
        ensure!(
            copied.success(),
            "cp -a {} {} failed",
            src.display(),
            dst_dir.display()
        );
    }
    Ok(())
}

/// A fresh TLS registry (storage on the tmpfs) holding the seed's image.
fn seeded_registry(setup: &Setup, seed: &Seed) -> Result<Registry> {
    seed.snapshot
        .start(RegistryConfig::tls().with_temp_parent(&setup.registry_parent))
}

/// What the run spends in the registries, to subtract from the machine's busy time.
pub struct Meters {
    pids: Vec<u32>,
    before: f64,
    busy_before: f64,
}

impl Meters {
    pub fn start(pids: Vec<u32>) -> Meters {
        let before = pids.iter().map(|&p| process_cpu_seconds(p)).sum();
        Meters {
            pids,
            before,
            busy_before: system_busy_seconds(),
        }
    }

    /// (registry CPU, other CPU) given the client's CPU.
    pub fn stop(&self, client_cpu: f64) -> (f64, f64) {
        let busy = system_busy_seconds() - self.busy_before;
        let registry: f64 = self
            .pids
            .iter()
            .map(|&p| process_cpu_seconds(p))
            .sum::<f64>()
            - self.before;
        (registry, (busy - client_cpu - registry).max(0.0))
    }
}

/// One measured pull of the seed's image from a fresh registry into a fresh OCI layout
/// directory on the tmpfs (deleted afterwards), checked blob by blob.
pub fn run_pull(setup: &Setup, client: Client, seed: &Seed, run_id: &str) -> Result<RunResult> {
    let registry = seeded_registry(setup, seed)?;
    let ca_file = registry.ca_file().context("TLS registry has a CA file")?;
    let ca_dir = registry.ca_dir().context("TLS registry has a CA dir")?;
    let scratch = tempfile::Builder::new()
        .prefix("tug-bench-pull-")
        .tempdir_in(&setup.registry_parent)
        .context("create a pull output dir on the tmpfs")?;
    let out = scratch.path().join("layout");
    let store = scratch.path().join("store");
    let source = registry.image(&format!("{SOURCE_REPO}:{SOURCE_TAG}"));
    let path = |p: &Path| p.display().to_string();

    let (program, args): (&Path, Vec<String>) = match client {
        Client::Tug => {
            let mut args = vec![
                "pull".to_owned(),
                "--ca-file".to_owned(),
                path(ca_file),
                "--progress".to_owned(),
                "none".to_owned(),
                "--store".to_owned(),
                path(&store),
            ];
            args.extend(setup.tug_pull_args.iter().cloned());
            args.extend([source, "-o".to_owned(), path(&out)]);
            (&setup.tug, args)
        }
        Client::Skopeo | Client::SkopeoRaw => {
            let mut args = vec![
                "--insecure-policy".to_owned(),
                "copy".to_owned(),
                "--src-cert-dir".to_owned(),
                path(ca_dir),
            ];
            if client == Client::SkopeoRaw {
                // Without it skopeo gzips uncompressed layers on the way into an OCI layout.
                args.push("--dest-oci-accept-uncompressed-layers".to_owned());
            }
            args.push(format!("docker://{source}"));
            args.push(format!("oci:{}:{SOURCE_TAG}", path(&out)));
            (&setup.skopeo, args)
        }
        Client::Curl => {
            fs::create_dir(&out)?;
            let mut args = vec![
                path(&setup.curl_pull_script),
                registry.url(),
                path(ca_file),
                SOURCE_REPO.to_owned(),
                SOURCE_TAG.to_owned(),
                path(&out),
                setup.pull_floor_jobs.to_string(),
            ];
            args.extend(blob_digests(&seed.image.blob_files)?);
            (&setup.bash, args)
        }
    };

    let load_before = load_average();
    let log_stem = setup.logs.join(format!("pull-{run_id}-{}", client.name()));
    let meters = Meters::start(vec![registry.pid()]);
    let finished = measure(program, &args, &log_stem)?;
    let (registry_cpu, other_cpu) = meters.stop(finished.sample.cpu());
    if !finished.success {
        bail!(
            "{} pull failed ({}): {} {}\n{}\n--- registry log (tail):\n{}",
            client.name(),
            finished.status,
            program.display(),
            args.join(" "),
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    drop(registry);
    let stored_bytes = if client == Client::Curl {
        let files: Vec<(String, PathBuf)> = blob_digests(&seed.image.blob_files)?
            .into_iter()
            .map(|d| {
                let file = out.join(d.trim_start_matches("sha256:"));
                (d, file)
            })
            .collect();
        verify_blob_files(&files).context("checking the blobs curl pulled")?;
        files
            .iter()
            .map(|(_, f)| fs::metadata(f).map_or(0, |m| m.len()))
            .sum()
    } else {
        // skopeo gzips the layers (new digests); the others must keep them as they are.
        verify_layout(&out, &seed.image, client != Client::Skopeo)
            .with_context(|| format!("checking the layout {} pulled", client.name()))?;
        dir_bytes(&out.join("blobs"))
    };
    Ok(RunResult {
        client,
        sample: finished.sample,
        stored_bytes,
        load_before,
        registry_cpu,
        other_cpu,
    })
}

/// One measured copy of the seed's image from a fresh registry into another fresh registry.
pub fn run_copy(setup: &Setup, client: Client, seed: &Seed, run_id: &str) -> Result<RunResult> {
    let source = seeded_registry(setup, seed)?;
    let dest = Registry::start(RegistryConfig::tls().with_temp_parent(&setup.registry_parent));
    let repo = format!("bench/{}-{run_id}", client.name());
    let dest_ref = format!("{repo}:latest");
    let src_image = source.image(&format!("{SOURCE_REPO}:{SOURCE_TAG}"));
    let dest_image = dest.image(&dest_ref);
    let path = |p: &Path| p.display().to_string();

    let (program, args): (&Path, Vec<String>) = match client {
        Client::Tug => {
            // One PEM file with both registries' CAs.
            let cas = setup.logs.join(format!("copy-{run_id}-cas.pem"));
            let mut pem = source.ca_pem().context("source CA")?.to_owned();
            if !pem.ends_with('\n') {
                pem.push('\n');
            }
            pem.push_str(dest.ca_pem().context("destination CA")?);
            fs::write(&cas, pem)?;
            let mut args = vec![
                "copy".to_owned(),
                "--ca-file".to_owned(),
                path(&cas),
                "--progress".to_owned(),
                "none".to_owned(),
            ];
            args.extend(setup.tug_copy_args.iter().cloned());
            args.extend([src_image, dest_image]);
            (&setup.tug, args)
        }
        Client::Skopeo | Client::SkopeoRaw => {
            let mut args = vec![
                "--insecure-policy".to_owned(),
                "copy".to_owned(),
                "--src-cert-dir".to_owned(),
                path(source.ca_dir().context("source CA dir")?),
                "--dest-cert-dir".to_owned(),
                path(dest.ca_dir().context("destination CA dir")?),
            ];
            if client == Client::SkopeoRaw {
                args.push("--preserve-digests".to_owned());
            }
            args.push(format!("docker://{src_image}"));
            args.push(format!("docker://{dest_image}"));
            (&setup.skopeo, args)
        }
        Client::Curl => bail!("curl does not copy"),
    };

    let load_before = load_average();
    let log_stem = setup.logs.join(format!("copy-{run_id}-{}", client.name()));
    let meters = Meters::start(vec![source.pid(), dest.pid()]);
    let finished = measure(program, &args, &log_stem)?;
    let (registry_cpu, other_cpu) = meters.stop(finished.sample.cpu());
    if !finished.success {
        bail!(
            "{} copy failed ({}): {} {}\n{}\n--- source registry log (tail):\n{}\n\
             --- destination registry log (tail):\n{}",
            client.name(),
            finished.status,
            program.display(),
            args.join(" "),
            finished.output_tail(4000),
            tail(&source.log(), 3000),
            tail(&dest.log(), 3000)
        );
    }
    drop(source);
    let layers = manifest_layers(&skopeo::inspect_raw_in(&dest, &dest_ref)?)
        .with_context(|| format!("checking the image {} copied", client.name()))?;
    ensure!(
        layers.len() == seed.image.layer_digests.len(),
        "{} copied {} layers, the image has {}",
        client.name(),
        layers.len(),
        seed.image.layer_digests.len()
    );
    // skopeo gzips the layers (new digests); the others must copy them unchanged.
    if client != Client::Skopeo {
        ensure!(
            layers == seed.image.layer_digests,
            "{} changed the layer digests:\n  copied {layers:?}\n  image  {:?}",
            client.name(),
            seed.image.layer_digests
        );
    }
    let stored_bytes = dir_bytes(&dest.storage_dir().join("docker/registry/v2/blobs"));
    Ok(RunResult {
        client,
        sample: finished.sample,
        stored_bytes,
        load_before,
        registry_cpu,
        other_cpu,
    })
}

/// The OCI layout at `dir` names an image (tag `latest`) whose manifest lists as many layers
/// as the image has — with `same_digests`, exactly the image's layers — and every layer blob
/// file hashes to its name.
fn verify_layout(dir: &Path, image: &BenchImage, same_digests: bool) -> Result<()> {
    let blob = |digest: &str| -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("not a sha256 digest: {digest}"))?;
        Ok(dir.join("blobs/sha256").join(hex))
    };
    let index: Value = serde_json::from_slice(
        &fs::read(dir.join("index.json")).context("read the layout's index.json")?,
    )?;
    let manifests = index["manifests"]
        .as_array()
        .context("index.json: no manifests")?;
    let entry = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == SOURCE_TAG)
        .with_context(|| format!("index.json names no {SOURCE_TAG:?}: {index}"))?;
    let digest = entry["digest"].as_str().context("index.json: no digest")?;
    let layers = manifest_layers(&fs::read(blob(digest)?).context("read the manifest blob")?)?;
    ensure!(
        layers.len() == image.layer_digests.len(),
        "pulled {} layers, the image has {}",
        layers.len(),
        image.layer_digests.len()
    );
    ensure!(
        !same_digests || layers == image.layer_digests,
        "layer digests differ:\n  pulled {layers:?}\n  image  {:?}",
        image.layer_digests
    );
    let files: Vec<(String, PathBuf)> = layers
        .iter()
        .map(|d| Ok((d.clone(), blob(d)?)))
        .collect::<Result<_>>()?;
    verify_blob_files(&files)
}

/// `sha256:<name>` of each blob file (named by its hex digest, as in an OCI layout).
pub fn blob_digests(files: &[PathBuf]) -> Result<Vec<String>> {
    files
        .iter()
        .map(|f| {
            let hex = f.file_name().and_then(|n| n.to_str());
            hex.map(|h| format!("sha256:{h}"))
                .with_context(|| format!("blob file {} has no digest name", f.display()))
        })
        .collect()
}

/// Every `(digest, file)`: the file hashes (sha256) to the digest; hashed on every CPU.
pub fn verify_blob_files(files: &[(String, PathBuf)]) -> Result<()> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((want, file)) = files.get(i) else {
                            return Ok(());
                        };
                        let (have, _) = sha256_file(file)
                            .with_context(|| format!("hash {}", file.display()))?;
                        ensure!(&have == want, "{} hashes to {have}", file.display());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("hashing thread panicked")?;
        }
        Ok(())
    })
}
