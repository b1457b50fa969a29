//! OCI layout directories: one read for a push (the core's resolver asks for its files),
//! one written by a pull (the core says which file operations make it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use anyhow::Context as _;
use tug_core::archive::pulled_layout::LayoutOp;
use tug_core::archive::{SourceContents, SourceResolver};

/// Everything the layout at `dir` holds. (Its small JSON files are read before anything
/// else runs, so plain blocking reads do.)
pub fn read(dir: &Path) -> anyhow::Result<SourceContents> {
    let size = |path: &str| Ok(fs::metadata(dir.join(path)).ok().map(|m| m.len()));
    SourceResolver::resolve_directory(|path, max_len| read_file(dir, path, max_len), size)
}

/// At most `max_len` bytes of the file at `path` in `dir`, or `None` if there is none.
pub fn read_file(dir: &Path, path: &str, max_len: u64) -> anyhow::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    match File::open(dir.join(path)).and_then(|f| f.take(max_len).read_to_end(&mut data)) {
        Ok(_) => Ok(Some(data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(dir.join(path).display().to_string())),
    }
}

/// Does a pull's file operation in the layout at `dir`.
pub fn apply(dir: &Path, op: LayoutOp) -> anyhow::Result<()> {
    let done = match &op {
        LayoutOp::Write { path, offset, data } => {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().unwrap_or(dir))?;
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            file.seek(SeekFrom::Start(*offset))
                .and_then(|_| file.write_all(data))
        }
        // On disk before it is in place.
        LayoutOp::Rename { from, to } => File::open(dir.join(from))
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(dir.join(from), dir.join(to))),
        LayoutOp::Remove(path) => match fs::remove_file(dir.join(path)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    };
    done.with_context(|| format!("{}: {op}", dir.display()))
}
