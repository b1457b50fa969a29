//! OCI layout directories: reading one for a push (the core's `SourceResolver` asks for
//! the files) and writing a pulled image into one (blobs land only once the core verified
//! them).

use std::collections::hash_map::{Entry, HashMap};
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::bail;
use tokio::io::AsyncReadExt as _;
use tug_core::archive::{pulled_layout, ResolveStep, SourceContents, SourceResolver};
use tug_core::pull::{BlobSink, PullReport};
use tug_core::Digest;

/// Everything the layout at `dir` holds, read as the core's resolver asks.
pub async fn read(dir: &Path) -> anyhow::Result<SourceContents> {
    let mut resolver = SourceResolver::for_directory();
    loop {
        match resolver.poll()? {
            ResolveStep::ReadFile { path, max_len } => {
                let data = match tokio::fs::File::open(dir.join(&path)).await {
                    Ok(file) => {
                        let mut data = Vec::new();
                        file.take(max_len).read_to_end(&mut data).await?;
                        Some(data)
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => bail!("{}: {e}", dir.join(&path).display()),
                };
                resolver.handle_file(&path, data.as_deref())?;
            }
            ResolveStep::Stat { path } => {
                let size = tokio::fs::metadata(dir.join(&path)).await.ok();
                resolver.handle_stat(&path, size.map(|m| m.len()))?;
            }
            ResolveStep::Done(contents) => return Ok(contents),
            other => bail!("a layout directory cannot answer {other:?}"),
        }
    }
}

/// A layout being pulled into: each blob in a temporary file until the core commits it.
pub struct PulledLayout {
    dir: PathBuf,
    writing: HashMap<Digest, File>,
}

impl PulledLayout {
    /// Creates the layout directory `dir` (and its `blobs/sha256`).
    pub fn create(dir: &Path) -> io::Result<PulledLayout> {
        fs::create_dir_all(dir.join("blobs/sha256"))?;
        Ok(PulledLayout {
            dir: dir.to_owned(),
            writing: HashMap::new(),
        })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let alg = digest.algorithm().name();
        self.dir.join("blobs").join(alg).join(digest.hex())
    }

    fn temp_path(&self, digest: &Digest) -> PathBuf {
        let alg = digest.algorithm().name();
        let name = format!(".partial-{}", digest.hex());
        self.dir.join("blobs").join(alg).join(name)
    }

    /// Blob `digest`'s temporary file, created at its first write (or commit, when empty).
    fn temp_file(&mut self, digest: &Digest) -> io::Result<&mut File> {
        let path = self.temp_path(digest);
        match self.writing.entry(digest.clone()) {
            Entry::Occupied(open) => Ok(open.into_mut()),
            Entry::Vacant(new) => {
                fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
                Ok(new.insert(File::create(path)?))
            }
        }
    }

    /// Stores the pulled manifests and names the image `tag` in `index.json`.
    pub fn finish(&self, report: &PullReport, tag: &str) -> io::Result<()> {
        let manifests = report.images.iter().map(|i| &i.manifest);
        for m in std::iter::once(&report.root).chain(manifests) {
            fs::create_dir_all(self.blob_path(&m.digest).parent().unwrap_or(&self.dir))?;
            fs::write(self.blob_path(&m.digest), &m.bytes)?;
        }
        let root = &report.root;
        let size = root.bytes.len() as u64;
        let index = pulled_layout::index_json(&root.media_type, &root.digest, size, tag);
        fs::write(
            self.dir.join("oci-layout"),
            pulled_layout::OCI_LAYOUT_CONTENT,
        )?;
        fs::write(self.dir.join("index.json"), index)
    }
}

impl BlobSink for PulledLayout {
    type Error = io::Error;

    fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> io::Result<()> {
        let file = self.temp_file(digest)?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(data)
    }

    fn commit(&mut self, digest: &Digest) -> io::Result<()> {
        self.temp_file(digest)?.sync_all()?;
        self.writing.remove(digest);
        fs::rename(self.temp_path(digest), self.blob_path(digest))
    }

    fn discard(&mut self, digest: &Digest) {
        self.writing.remove(digest);
        let _ = fs::remove_file(self.temp_path(digest));
    }
}
