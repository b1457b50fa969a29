//! The clients under measurement and one measured push of each against a fresh registry.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tug_testkit::{skopeo, Registry, RegistryConfig};

use crate::fixture::BenchImage;
use crate::measure::{load_average, measure, process_cpu_seconds, system_busy_seconds, Sample};
use crate::pacing::Measured;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A docker-archive pushed to a registry.
    Push,
    /// The image pulled from a registry into an OCI layout directory.
    Pull,
    /// The image copied from one registry to another.
    Copy,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Push, Mode::Pull, Mode::Copy];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Push => "push",
            Mode::Pull => "pull",
            Mode::Copy => "copy",
        }
    }
}

/// A client moving the benchmark image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `tug push` of the docker-archive.
    Tug,
    /// `skopeo copy docker-archive: docker://` as a user runs it (gzips uncompressed layers).
    Skopeo,
    /// The same with `--preserve-digests`: layers pushed as they are, uncompressed.
    SkopeoRaw,
    /// The floor: curl moving the same blobs, as many at once as tug (`Setup::push_floor_jobs`,
    /// `Setup::pull_floor_jobs`); push and pull only.
    Curl,
}

impl Client {
    pub const ALL: [Client; 4] = [Client::Tug, Client::Skopeo, Client::SkopeoRaw, Client::Curl];

    pub fn name(self) -> &'static str {
        match self {
            Client::Tug => "tug",
            Client::Skopeo => "skopeo",
            Client::SkopeoRaw => "skopeo-raw",
            Client::Curl => "curl",
        }
    }

    pub fn describe(self, mode: Mode) -> &'static str {
        match (mode, self) {
            (Mode::Push, Client::Tug) => "tug push <docker-archive>",
            (Mode::Push, Client::Skopeo) => {
                "skopeo copy docker-archive: docker:// (default: gzips layers)"
            }
            (Mode::Push | Mode::Copy, Client::SkopeoRaw) => {
                "skopeo copy --preserve-digests (no compression)"
            }
            (Mode::Push, Client::Curl) => {
                "the floor: curl --http1.1 POST + streamed PUT ?digest= per blob (-T), blobs in \
                 parallel, then the manifest PUT"
            }
            (Mode::Pull | Mode::Copy, Client::Curl) => {
                "the floor: curl --http1.1 GET of the manifest, then of every blob (-o), in \
                 parallel"
            }
            (Mode::Pull, Client::Tug) => "tug pull -o <dir> (an OCI layout)",
            (Mode::Pull, Client::Skopeo) => {
                "skopeo copy docker:// oci:<dir>:latest (default: gzips uncompressed layers)"
            }
            (Mode::Pull, Client::SkopeoRaw) => {
                "skopeo copy --dest-oci-accept-uncompressed-layers (no compression)"
            }
            (Mode::Copy, Client::Tug) => "tug copy (streams each blob from source to destination)",
            (Mode::Copy, Client::Skopeo) => {
                "skopeo copy docker:// docker:// (default: gzips uncompressed layers)"
            }
        }
    }

    /// The clients that can run `mode`.
    pub fn for_mode(mode: Mode) -> &'static [Client] {
        match mode {
            Mode::Push | Mode::Pull => &Client::ALL,
            Mode::Copy => &[Client::Tug, Client::Skopeo, Client::SkopeoRaw],
        }
    }

    pub fn parse(s: &str, mode: Mode) -> Result<Client> {
        let allowed = Client::for_mode(mode);
        allowed
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .with_context(|| {
                let names: Vec<&str> = allowed.iter().map(|c| c.name()).collect();
                format!(
                    "unknown {} client {s:?} ({})",
                    mode.name(),
                    names.join(", ")
                )
            })
    }

    /// Whether the registry must end up with exactly the archive's layer digests.
    fn preserves_digests(self) -> bool {
        !matches!(self, Client::Skopeo)
    }
}

/// Everything the runs share.
#[derive(Debug)]
pub struct Setup {
    pub tug: PathBuf,
    /// Extra arguments of `tug push`, `tug pull` and `tug copy`.
    pub tug_args: Vec<String>,
    pub tug_pull_args: Vec<String>,
    pub tug_copy_args: Vec<String>,
    pub skopeo: PathBuf,
    pub bash: PathBuf,
    /// The curl floors' scripts ([`crate::floor`]).
    pub curl_push_script: PathBuf,
    pub curl_pull_script: PathBuf,
    /// Blobs the push floor uploads at once (tug push's `--jobs` unless `--curl-jobs` says).
    pub push_floor_jobs: u32,
    /// Blobs the pull floor downloads at once (tug pull's `--jobs` unless `--curl-jobs` says).
    pub pull_floor_jobs: u32,
    /// Parent of each registry's temporary directory (storage included): a tmpfs.
    pub registry_parent: PathBuf,
    /// Where the clients' stdout/stderr/time files go.
    pub logs: PathBuf,
}

/// One measured push.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub client: Client,
    pub sample: Sample,
    /// Bytes of blobs the registry stored (gzip changes this for `skopeo`).
    pub stored_bytes: u64,
    /// 1-minute load average just before the run.
    pub load_before: f64,
    /// CPU seconds the registry used while the client ran (the server side of the push).
    pub registry_cpu: f64,
    /// CPU seconds used on the machine during the run by anything but the client and the
    /// registry: other people's work competing for the CPUs (plus this program, idle).
    pub other_cpu: f64,
}

impl Measured for RunResult {
    fn wall(&self) -> f64 {
        self.sample.wall
    }

    fn other_cpu(&self) -> f64 {
        self.other_cpu
    }
}

/// Starts a fresh TLS registry on the tmpfs, pushes `image` with `client` under measurement,
/// checks the result, and stops the registry.
pub fn run_once(
    setup: &Setup,
    client: Client,
    image: &BenchImage,
    run_id: &str,
) -> Result<RunResult> {
    let registry = Registry::start(RegistryConfig::tls().with_temp_parent(&setup.registry_parent));
    let ca_file = registry.ca_file().context("TLS registry has a CA file")?;
    let ca_dir = registry.ca_dir().context("TLS registry has a CA dir")?;
    let repo = format!("bench/{}-{run_id}", client.name());
    let tag = "latest";
    let target = registry.image(&format!("{repo}:{tag}"));
    let path = |p: &Path| p.display().to_string();

    let (program, args): (&Path, Vec<String>) = match client {
        Client::Tug => {
            let mut args = vec![
                "push".to_owned(),
                "--ca-file".to_owned(),
                path(ca_file),
                "--progress".to_owned(),
                "none".to_owned(),
            ];
            args.extend(setup.tug_args.iter().cloned());
            args.push(path(&image.archive));
            args.push(target.clone());
            (&setup.tug, args)
        }
        Client::Skopeo | Client::SkopeoRaw => {
            let mut args = vec![
                "--insecure-policy".to_owned(),
                "copy".to_owned(),
                "--dest-cert-dir".to_owned(),
                path(ca_dir),
            ];
            if client == Client::SkopeoRaw {
                args.push("--preserve-digests".to_owned());
            }
            args.push(format!("docker-archive:{}", path(&image.archive)));
            args.push(format!("docker://{target}"));
            (&setup.skopeo, args)
        }
        Client::Curl => {
            let mut args = vec![
                path(&setup.curl_push_script),
                registry.url(),
                path(ca_file),
                repo.clone(),
                tag.to_owned(),
                path(&image.manifest),
                image.manifest_media_type.clone(),
                setup.push_floor_jobs.to_string(),
            ];
            args.extend(image.blob_files.iter().map(|f| path(f)));
            (&setup.bash, args)
        }
    };

    let load_before = load_average();
    let log_stem = setup.logs.join(format!("{run_id}-{}", client.name()));
    let registry_before = process_cpu_seconds(registry.pid());
    let busy_before = system_busy_seconds();
    let finished = measure(program, &args, &log_stem)?;
    let busy = system_busy_seconds() - busy_before;
    let registry_cpu = process_cpu_seconds(registry.pid()) - registry_before;
    let other_cpu = (busy - finished.sample.cpu() - registry_cpu).max(0.0);
    if !finished.success {
        bail!(
            "{} failed ({}): {} {}\n{}\n--- registry log (tail):\n{}",
            client.name(),
            finished.status,
            program.display(),
            args.join(" "),
            finished.output_tail(4000),
            tail(&registry.log(), 4000)
        );
    }
    verify(&registry, client, image, &format!("{repo}:{tag}"))
        .with_context(|| format!("checking the image {} pushed", client.name()))?;
    let stored_bytes = dir_bytes(&registry.storage_dir().join("docker/registry/v2/blobs"));
    Ok(RunResult {
        client,
        sample: finished.sample,
        stored_bytes,
        load_before,
        registry_cpu,
        other_cpu,
    })
}

/// The layer digests of a manifest.
pub fn manifest_layers(raw: &[u8]) -> Result<Vec<String>> {
    let manifest: Value = serde_json::from_slice(raw).context("manifest is not JSON")?;
    manifest["layers"]
        .as_array()
        .context("manifest has no layers array")?
        .iter()
        .map(|l| l["digest"].as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("a layer without a digest")
}

/// The layer digests of the manifest `name_and_ref` resolves to in `registry` (`skopeo
/// inspect --raw`).
pub fn pushed_layers(registry: &Registry, name_and_ref: &str) -> Result<Vec<String>> {
    manifest_layers(&skopeo::inspect_raw_in(registry, name_and_ref)?)
}

/// The tag resolves (`skopeo inspect --raw`) to a manifest with the image's layers.
fn verify(
    registry: &Registry,
    client: Client,
    image: &BenchImage,
    name_and_ref: &str,
) -> Result<()> {
    let layers = pushed_layers(registry, name_and_ref)?;
    if layers.len() != image.layer_digests.len() {
        bail!(
            "manifest has {} layers, the image {}",
            layers.len(),
            image.layer_digests.len()
        );
    }
    if client.preserves_digests() && layers != image.layer_digests {
        bail!(
            "layer digests differ:\n  pushed {layers:?}\n  image  {:?}",
            image.layer_digests
        );
    }
    Ok(())
}

/// Total size of the regular files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
