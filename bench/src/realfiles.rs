//! Images of real files from this machine (a classic `docker save` tar of plain layers), for
//! the workloads where what the files hold matters: how fast and how well they compress and
//! inflate. Files are taken from the given directories in turns — the directory with the
//! fewest bytes taken so far goes next, so each contributes; a file larger than what is left
//! of the size is passed over — then sorted by path and cut into layers of about equal size,
//! each with the directories above its files, as a root filesystem split into layers. Made
//! once per work directory and reused while the spec matches.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use tug_testkit::hashing::{sha256_digest, HashingWriter};

use crate::fixture::human_bytes;

/// Bump when what `prepare` writes changes, to ignore old caches.
const FORMAT: u64 = 2;

/// A file (or symlink) that goes into a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute path.
    pub path: PathBuf,
    /// Content bytes: a regular file's size, 0 for a symlink.
    pub size: u64,
}

/// A prepared image.
#[derive(Debug, Clone)]
pub struct FilesImage {
    /// The `docker save` tar.
    pub archive: PathBuf,
    /// `rootfs.diff_ids` (each plain layer's digest), bottom first.
    pub diff_ids: Vec<String>,
    /// Bytes of each layer tar.
    pub layer_bytes: Vec<u64>,
    /// Files and symlinks in all layers (their directories not counted).
    pub entries: usize,
    /// The directories the files came from.
    pub sources: Vec<String>,
}

impl FilesImage {
    /// Bytes of all layer tars.
    pub fn plain_bytes(&self) -> u64 {
        self.layer_bytes.iter().sum()
    }

    /// E.g. `700 MiB / 4 plain layers, 41230 files from /usr/include, /usr/bin`.
    pub fn label(&self) -> String {
        format!(
            "{} / {} plain layers, {} files from {}",
            human_bytes(self.plain_bytes()),
            self.diff_ids.len(),
            self.entries,
            self.sources.join(", ")
        )
    }
}

/// Makes (or reuses) the image `name` under `root`: about `budget` bytes of files from
/// `sources` in `layers` plain layers, tagged `repo_tag`.
pub fn prepare(
    root: &Path,
    name: &str,
    sources: &[String],
    budget: u64,
    layers: usize,
    repo_tag: &str,
) -> Result<FilesImage> {
    ensure!(layers > 0, "{name}: at least one layer");
    let dir = root.join(name);
    let archive = dir.join("image.docker-save.tar");
    let marker = dir.join("spec.json");
    let described = dir.join("image.json");
    let want = json!({"format": FORMAT, "sources": sources, "budget": budget, "layers": layers,
                      "repo_tag": repo_tag});
    let cached = fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|have| have == want)
        && archive.is_file();
    if cached {
        if let Some(image) = fs::read(&described)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| from_json(&v, &archive))
        {
            eprintln!("image {name}: reusing {}", dir.display());
            return Ok(image);
        }
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    fs::create_dir_all(&dir)?;
    let start = Instant::now();
    eprintln!(
        "image {name}: taking {} of files from {} …",
        human_bytes(budget),
        sources.join(", ")
    );
    let walked: Vec<Vec<Entry>> = sources.iter().map(|s| walk(Path::new(s))).collect();
    let mut chosen = select(&walked, budget);
    ensure!(
        !chosen.is_empty(),
        "{name}: no files found in {}",
        sources.join(", ")
    );
    chosen.sort_by(|a, b| a.path.cmp(&b.path));
    let image = write_docker_save(&dir, &archive, &chosen, layers, repo_tag, sources)?;
    fs::write(&described, serde_json::to_vec(&to_json(&image))?)?;
    fs::write(&marker, serde_json::to_vec(&want)?)?;
    eprintln!(
        "image {name}: {} ready in {:.1} s",
        image.label(),
        start.elapsed().as_secs_f64()
    );
    Ok(image)
}

/// Every regular file and symlink under `dir`, depth first in name order, not following
/// symlinks; what cannot be read is left out.
fn walk(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let Ok(read) = fs::read_dir(dir) else {
        return out;
    };
    let mut children: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
    children.sort();
    for path in children {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let t = meta.file_type();
        if t.is_dir() {
            out.extend(walk(&path));
        } else if t.is_file() {
            out.push(Entry {
                path,
                size: meta.len(),
            });
        } else if t.is_symlink() {
            out.push(Entry { path, size: 0 });
        }
    }
    out
}

/// Takes entries from the sources in turns, at most `budget` content bytes in all: each time
/// the next entry of the source with the fewest bytes taken so far (the first one on a tie),
/// passing over an entry larger than what is left, until the budget is spent or every source
/// used up.
pub fn select(sources: &[Vec<Entry>], budget: u64) -> Vec<Entry> {
    let mut next = vec![0usize; sources.len()];
    let mut taken = vec![0u64; sources.len()];
    let mut total = 0u64;
    let mut out = Vec::new();
    while total < budget {
        let Some(i) = (0..sources.len())
            .filter(|&i| next[i] < sources[i].len())
            .min_by_key(|&i| (taken[i], i))
        else {
            break;
        };
        let entry = &sources[i][next[i]];
        next[i] += 1;
        if entry.size > budget - total {
            continue;
        }
        taken[i] += entry.size;
        total += entry.size;
        out.push(entry.clone());
    }
    out
}

/// Cuts `entries` into at most `layers` consecutive runs of about equal content bytes
/// (every run non-empty).
pub fn split(entries: &[Entry], layers: usize) -> Vec<Range<usize>> {
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let layers = layers.clamp(1, entries.len().max(1)) as u64;
    let mut out = Vec::new();
    let (mut start, mut sum) = (0usize, 0u64);
    for (i, e) in entries.iter().enumerate() {
        sum += e.size;
        let cut = out.len() as u64 + 1;
        // Close this layer once the running total reaches its share, leaving at least one
        // entry for each layer still to come.
        if cut < layers
            && sum * layers >= total * cut
            && entries.len() - (i + 1) >= (layers - cut) as usize
        {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < entries.len() {
        out.push(start..entries.len());
    }
    out
}

/// Writes each layer tar (into `dir`, hashed as written), then the `docker save` tar around
/// them (`<diff_id hex>/layer.tar`, the config, `manifest.json`), removing the layer files.
fn write_docker_save(
    dir: &Path,
    archive: &Path,
    entries: &[Entry],
    layers: usize,
    repo_tag: &str,
    sources: &[String],
) -> Result<FilesImage> {
    let mut save = tar::Builder::new(BufWriter::new(
        File::create(archive).with_context(|| format!("create {}", archive.display()))?,
    ));
    let mut diff_ids = Vec::new();
    let mut layer_bytes = Vec::new();
    let mut layer_paths = Vec::new();
    for (i, range) in split(entries, layers).into_iter().enumerate() {
        let layer_file = dir.join(format!("layer-{i}.tar"));
        let (diff_id, size) = write_layer(&layer_file, &entries[range])?;
        let name = format!("{}/layer.tar", diff_id.trim_start_matches("sha256:"));
        append(&mut save, &name, size, File::open(&layer_file)?)?;
        fs::remove_file(&layer_file)?;
        diff_ids.push(diff_id);
        layer_bytes.push(size);
        layer_paths.push(name);
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let config_name = format!(
        "{}.json",
        sha256_digest(&config).trim_start_matches("sha256:")
    );
    append(&mut save, &config_name, config.len() as u64, &config[..])?;
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": layer_paths,
    }]))?;
    append(
        &mut save,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    save.into_inner()?.flush()?;
    Ok(FilesImage {
        archive: archive.to_path_buf(),
        diff_ids,
        layer_bytes,
        entries: entries.len(),
        sources: sources.to_vec(),
    })
}

/// One plain layer tar of `entries` (sorted by path), each preceded by the directories above
/// it not yet in the layer (paths relative to `/`, ownership and times normalised); returns
/// its digest and size.
fn write_layer(path: &Path, entries: &[Entry]) -> Result<(String, u64)> {
    let out = HashingWriter::new(BufWriter::new(File::create(path)?));
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let add = |tar: &mut tar::Builder<HashingWriter<BufWriter<File>>>, p: &Path| -> Result<()> {
        let name = p.strip_prefix("/").unwrap_or(p);
        tar.append_path_with_name(p, name)
            .with_context(|| format!("add {} to a layer", p.display()))
    };
    for e in entries {
        let mut above: Vec<&Path> = e
            .path
            .ancestors()
            .skip(1)
            .filter(|a| a.parent().is_some())
            .collect();
        above.reverse();
        for dir in above {
            if dirs.insert(dir.to_path_buf()) {
                add(&mut tar, dir)?;
            }
        }
        add(&mut tar, &e.path)?;
    }
    let hashing = tar.into_inner()?;
    let (mut file, (digest, size)) = hashing.finish();
    file.flush()?;
    Ok((digest, size))
}

/// Appends a regular file entry.
fn append(
    tar: &mut tar::Builder<impl std::io::Write>,
    name: &str,
    size: u64,
    data: impl std::io::Read,
) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    tar.append_data(&mut header, name, data)
        .with_context(|| format!("write {name} into the docker save tar"))
}

fn to_json(image: &FilesImage) -> Value {
    json!({
        "diff_ids": image.diff_ids,
        "layer_bytes": image.layer_bytes,
        "entries": image.entries,
        "sources": image.sources,
    })
}

fn from_json(v: &Value, archive: &Path) -> Option<FilesImage> {
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    Some(FilesImage {
        archive: archive.to_path_buf(),
        diff_ids: strings(&v["diff_ids"])?,
        layer_bytes: v["layer_bytes"]
            .as_array()?
            .iter()
            .map(Value::as_u64)
            .collect::<Option<_>>()?,
        entries: v["entries"].as_u64()? as usize,
        sources: strings(&v["sources"])?,
    })
}

/// Checks a list of source directories (`--files-dirs`, `--rootfs-dirs`): some, absolute.
pub fn check_sources(what: &str, sources: &[String]) -> Result<()> {
    if sources.is_empty() {
        bail!("{what}: no directories given");
    }
    for s in sources {
        if !Path::new(s).is_absolute() {
            bail!("{what}: {s:?} is not an absolute path");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(prefix: &str, sizes: &[u64]) -> Vec<Entry> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Entry {
                path: PathBuf::from(format!("/{prefix}/{i}")),
                size,
            })
            .collect()
    }

    #[test]
    fn select_takes_from_the_source_with_the_fewest_bytes_until_the_budget() {
        let a = entries("a", &[10, 10, 10, 10]);
        let b = entries("b", &[25, 25]);
        let c = entries("c", &[5]);
        let picked = select(&[a, b, c], 60);
        let names: Vec<String> = picked
            .iter()
            .map(|e| e.path.display().to_string())
            .collect();
        // a, b, c all at 0 → a (10); b (0) → 25; c (0) → 5 and used up; a (10 < 25) → 20;
        // a (20 < 25) → 30: 60 taken, the budget.
        assert_eq!(names, ["/a/0", "/b/0", "/c/0", "/a/1", "/a/2"]);
        assert_eq!(picked.iter().map(|e| e.size).sum::<u64>(), 60);
        // A file larger than what is left is passed over, and smaller ones still fill it.
        let big = entries("big", &[5, 100, 10]);
        let small = entries("s", &[20, 20, 20]);
        let picked = select(&[big, small], 60);
        let names: Vec<String> = picked
            .iter()
            .map(|e| e.path.display().to_string())
            .collect();
        // big/1 (100) never fits; s/2 (20) no longer fits after 55.
        assert_eq!(names, ["/big/0", "/s/0", "/big/2", "/s/1"]);
        assert_eq!(picked.iter().map(|e| e.size).sum::<u64>(), 55);
        // Everything when the budget is larger than all of it.
        let all = select(&[entries("a", &[1, 2]), entries("b", &[3])], 1000);
        assert_eq!(all.len(), 3);
        assert!(select(&[], 10).is_empty());
    }

    #[test]
    fn split_cuts_about_equal_non_empty_layers() {
        let e = entries("a", &[10, 10, 10, 10, 0, 10, 10, 10, 10]);
        assert_eq!(split(&e, 2), vec![0..4, 4..9]);
        assert_eq!(split(&e, 4), vec![0..2, 2..4, 4..7, 7..9]);
        assert_eq!(split(&e, 1), vec![0..9]);
        // A big first file does not leave later layers empty.
        let skewed = entries("b", &[100, 1, 1]);
        assert_eq!(split(&skewed, 3), vec![0..1, 1..2, 2..3]);
        // More layers than entries: one entry each.
        assert_eq!(split(&entries("c", &[5, 5]), 4), vec![0..1, 1..2]);
    }
}
