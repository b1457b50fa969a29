//! OCI layout directories: one read for a push as the core's resolver asks, and one written
//! by a pull (each blob lands only once the core verified it).

use std::collections::hash_map::{Entry, HashMap};
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
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
                let mut data = Vec::new();
                let found = match tokio::fs::File::open(dir.join(&path)).await {
                    Ok(file) => file
                        .take(max_len)
                        .read_to_end(&mut data)
                        .await
                        .map(|_| true),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e),
                };
                let found = found.with_context(|| dir.join(&path).display().to_string())?;
                resolver.handle_file(&path, found.then_some(&data[..]))?;
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
    pub fn new(dir: &Path) -> PulledLayout {
        let (dir, writing) = (dir.to_owned(), HashMap::new());
        PulledLayout { dir, writing }
    }

    /// Where blob `digest` lands (its directory created), or its temporary file.
    fn path(&self, digest: &Digest, temporary: bool) -> io::Result<PathBuf> {
        let dir = self.dir.join("blobs").join(digest.algorithm().name());
        fs::create_dir_all(&dir)?;
        let prefix = if temporary { ".partial-" } else { "" };
        Ok(dir.join(format!("{prefix}{}", digest.hex())))
    }

    /// Blob `digest`'s temporary file, created at its first write (or commit, when empty).
    fn temp_file(&mut self, digest: &Digest) -> io::Result<&mut File> {
        let path = self.path(digest, true)?;
        Ok(match self.writing.entry(digest.clone()) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(new) => new.insert(File::create(path)?),
        })
    }

    /// Stores the pulled manifests and names the image `tag` in `index.json`.
    pub fn finish(&self, report: &PullReport, tag: &str) -> io::Result<()> {
        let manifests = report.images.iter().map(|i| &i.manifest);
        for m in std::iter::once(&report.root).chain(manifests) {
            fs::write(self.path(&m.digest, false)?, &m.bytes)?;
        }
        let (root, layout) = (&report.root, pulled_layout::OCI_LAYOUT_CONTENT);
        let size = root.bytes.len() as u64;
        let index = pulled_layout::index_json(&root.media_type, &root.digest, size, tag);
        fs::write(self.dir.join("oci-layout"), layout)?;
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
        fs::rename(self.path(digest, true)?, self.path(digest, false)?)
    }

    fn discard(&mut self, digest: &Digest) {
        self.writing.remove(digest);
        let _ = self.path(digest, true).map(fs::remove_file);
    }
}
