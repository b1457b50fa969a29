//! The `docker save` tar being written: a temporary file next to the output, renamed into
//! place only when complete, and where each layer's tar goes while it is decoded — in place
//! at the end of the tar when no other layer is streaming there ("the tail"), else into a
//! side file next to it that is copied in at the end with `copy_file_range` (in the kernel;
//! a reflink where the file system shares blocks).
//!
//! A side file is copied in as soon as its layer ends and the tail is free (by the thread of
//! the layer that frees it, if one was streaming there), so the copies overlap the
//! downloads still running.
//!
//! A layer streaming at the tail gets its header block(s) reserved: the entry's name is
//! `<diffID hex>.tar`, known once the config is, and the header's length depends on the
//! name only, so it is written when the layer ends and its size is known. A layer whose
//! diffID is not known yet when its first bytes come, or whose entry another layer already
//! holds (two blobs with one diffID), goes to a side file.
//!
//! Every temporary file is locked while it is used: one a killed run left behind (next to
//! the same output) is unlocked, and the next run removes it.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tug_core::archive::tar_writer;
use tug_core::Digest;

use crate::file_ext::{copy_range, make_readable, write_all_at};
use crate::safe_fs::Access;

/// Prefix of the temporary tar next to the output.
const TAR_PREFIX: &str = ".tug-tar-";
/// Prefix of a layer's side file next to the output.
const SIDE_PREFIX: &str = ".tug-tarlayer-";

/// The tar being written (see the module docs). Dropped before [`TarFile::commit`], it
/// removes its temporary file.
pub struct TarFile {
    places: Arc<Places>,
    path: PathBuf,
    out: PathBuf,
    committed: bool,
}

/// What layers share: the temporary tar, and who streams at its tail.
pub struct Places {
    dir: PathBuf,
    file: File,
    state: Mutex<Tail>,
    /// Signalled when the tail becomes free.
    freed: Condvar,
}

struct Tail {
    /// Where the next entry starts.
    end: u64,
    /// A layer is streaming there.
    busy: bool,
    /// Which one.
    owner: Option<Digest>,
    /// Layers whose whole blob has been handed over: their threads end by themselves.
    inputs_done: HashSet<Digest>,
    /// Entry names written or being written at the tail.
    names: HashSet<String>,
    /// The diffID of each layer blob, once the config is in.
    expected: HashMap<Digest, Digest>,
    /// Side files whose layers ended while another streamed at the tail: added as soon as
    /// it ends (by its thread), so the copies overlap the downloads.
    queued: Vec<(String, SideFile)>,
    /// Counters for `-v`: bytes of layer tars written in place, and into side files.
    in_place: u64,
    in_side_files: u64,
}

/// Where one layer's tar is being written.
pub enum Place {
    /// In place, at `start` (header) + `header_len` (data) of the tar.
    Tail {
        places: Arc<Places>,
        start: u64,
        header_len: u64,
        name: String,
        len: u64,
    },
    /// In a side file.
    Side {
        places: Arc<Places>,
        layer: Digest,
        side: SideFile,
    },
}

/// A layer's tar in a side file next to the output, removed when dropped.
pub struct SideFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Drop for SideFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Where a finished layer's tar is.
pub enum Placed {
    /// Already an entry of the tar, named so.
    InTar { name: String },
    /// In a side file, to be added with [`TarFile::append_side`].
    Side(SideFile),
}

impl TarFile {
    /// Starts the tar for `out`: removes temporary files a killed run left next to it, and
    /// creates the new one.
    pub fn create(out: &Path) -> io::Result<TarFile> {
        let dir = crate::out_path::dir_of(out).to_path_buf();
        remove_stale(&dir);
        let (file, path) = locked_temp(&dir, TAR_PREFIX)?;
        Ok(TarFile {
            places: Arc::new(Places {
                dir,
                file,
                state: Mutex::new(Tail {
                    end: 0,
                    busy: false,
                    owner: None,
                    inputs_done: HashSet::new(),
                    names: HashSet::new(),
                    expected: HashMap::new(),
                    queued: Vec::new(),
                    in_place: 0,
                    in_side_files: 0,
                }),
                freed: Condvar::new(),
            }),
            path,
            out: out.to_path_buf(),
            committed: false,
        })
    }

    /// What layers use to find their place.
    pub fn places(&self) -> Arc<Places> {
        Arc::clone(&self.places)
    }

    /// Appends an entry holding `data`.
    pub fn append_bytes(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut tail = self.places.lock();
        let at = self
            .places
            .write_entry_header(&mut tail, name, data.len() as u64)?;
        write_all_at(&self.places.file, data, at)?;
        self.places.finish_entry(&mut tail, at, data.len() as u64)
    }

    /// Appends an entry holding the side file's tar, copied in by the kernel.
    pub fn append_side(&self, name: &str, side: SideFile) -> io::Result<()> {
        let mut tail = self.places.lock();
        self.places.append_side(&mut tail, name, &side)
    }

    /// Bytes of layer tars written in place, and through side files.
    pub fn counters(&self) -> (u64, u64) {
        let tail = self.places.lock();
        (tail.in_place, tail.in_side_files)
    }

    /// Ends the archive, flushes it and renames it to the output.
    pub fn commit(mut self) -> io::Result<()> {
        let end = {
            let mut tail = self.places.lock();
            if tail.busy {
                return Err(io::Error::other("a layer is still being written"));
            }
            self.places.append_queued(&mut tail)?;
            tail.end
        };
        let file = &self.places.file;
        write_all_at(file, &tar_writer::END_OF_ARCHIVE, end)?;
        // Bytes an abandoned layer left past the end go.
        file.set_len(end + tar_writer::END_OF_ARCHIVE.len() as u64)?;
        file.sync_all()?;
        make_readable(&self.path)?;
        fs::rename(&self.path, &self.out)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TarFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Places {
    fn lock(&self) -> MutexGuard<'_, Tail> {
        // A layer thread that panicked leaves the counters as they were: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The layers' diffIDs, from the config.
    pub fn expect(&self, diff_ids: impl IntoIterator<Item = (Digest, Digest)>) {
        self.lock().expected.extend(diff_ids);
    }

    /// The diffID of layer blob `layer`, when known.
    pub fn expected(&self, layer: &Digest) -> Option<Digest> {
        self.lock().expected.get(layer).cloned()
    }

    /// Layer `layer`'s whole blob was handed over: a layer waiting for the tail may wait
    /// for it to end.
    pub fn input_done(&self, layer: &Digest) {
        self.lock().inputs_done.insert(layer.clone());
    }

    /// Layer `layer` starts over: its blob is no longer all there.
    pub fn input_restarts(&self, layer: &Digest) {
        self.lock().inputs_done.remove(layer);
    }

    /// Where layer `layer`'s tar goes: the tail if it is free and the entry's name is known
    /// and not taken, else a side file. A tail held by a layer whose blob is all there
    /// (its thread only drains what it holds) is waited for.
    pub fn place(self: &Arc<Self>, layer: &Digest) -> io::Result<Place> {
        {
            let mut tail = self.lock();
            while tail.busy
                && tail
                    .owner
                    .as_ref()
                    .is_some_and(|o| tail.inputs_done.contains(o))
            {
                tail = self.freed.wait(tail).unwrap_or_else(|e| e.into_inner());
            }
            let name = tail.expected.get(layer).map(|d| format!("{}.tar", d.hex()));
            if let Some(name) = name.filter(|n| !tail.busy && !tail.names.contains(n)) {
                let header_len = tar_writer::file_header(&name, 0)
                    .map_err(io::Error::other)?
                    .len() as u64;
                tail.busy = true;
                tail.owner = Some(layer.clone());
                tail.names.insert(name.clone());
                return Ok(Place::Tail {
                    places: Arc::clone(self),
                    start: tail.end,
                    header_len,
                    name,
                    len: 0,
                });
            }
        }
        let (file, path) = locked_temp(&self.dir, SIDE_PREFIX)?;
        Ok(Place::Side {
            places: Arc::clone(self),
            layer: layer.clone(),
            side: SideFile { file, path, len: 0 },
        })
    }

    /// Appends an entry holding `side`'s tar, copied in by the kernel.
    fn append_side(&self, tail: &mut Tail, name: &str, side: &SideFile) -> io::Result<()> {
        let at = self.write_entry_header(tail, name, side.len)?;
        copy_range(&side.file, &self.file, at, side.len)?;
        tail.in_side_files += side.len;
        self.finish_entry(tail, at, side.len)
    }

    /// Appends the side files queued while the tail was busy.
    fn append_queued(&self, tail: &mut Tail) -> io::Result<()> {
        while let Some((name, side)) = tail.queued.pop() {
            if let Err(e) = self.append_side(tail, &name, &side) {
                // Tried again at the end (or its error is the tar's).
                tail.queued.push((name, side));
                return Err(e);
            }
        }
        Ok(())
    }

    /// Writes `name`'s header at the end; returns where its data goes.
    fn write_entry_header(&self, tail: &mut Tail, name: &str, size: u64) -> io::Result<u64> {
        if tail.busy {
            return Err(io::Error::other(
                "a layer is still streaming at the tar's end",
            ));
        }
        let header = tar_writer::file_header(name, size).map_err(io::Error::other)?;
        write_all_at(&self.file, &header, tail.end)?;
        Ok(tail.end + header.len() as u64)
    }

    /// The data of an entry ends at `at + size`: pads it and moves the end past it.
    fn finish_entry(&self, tail: &mut Tail, at: u64, size: u64) -> io::Result<()> {
        let end = at + size;
        let pad = tar_writer::padding(size);
        write_all_at(&self.file, &[0u8; 512][..pad], end)?;
        tail.end = end + pad as u64;
        Ok(())
    }
}

impl Place {
    /// Appends the next bytes of the layer's tar.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Place::Tail {
                places,
                start,
                header_len,
                len,
                ..
            } => {
                write_all_at(&places.file, data, *start + *header_len + *len)?;
                *len += data.len() as u64;
            }
            Place::Side { side, .. } => {
                side.file.write_all(data)?;
                side.len += data.len() as u64;
            }
        }
        Ok(())
    }

    /// Whether the tar streams in place.
    pub fn in_place(&self) -> bool {
        matches!(self, Place::Tail { .. })
    }

    /// The layer's tar is whole: at the tail, its header is written, the side files that
    /// waited are added and the tail is free; a side file is added now if the tail is free,
    /// else queued for the layer streaming there to add (or kept for the end, when its
    /// entry's name is not known or taken).
    pub fn close(self) -> io::Result<Placed> {
        match self {
            Place::Tail {
                places,
                start,
                header_len,
                name,
                len,
            } => {
                let mut tail = places.lock();
                let header = tar_writer::file_header(&name, len).map_err(io::Error::other)?;
                if header.len() as u64 != header_len {
                    return Err(io::Error::other("a tar header changed length"));
                }
                write_all_at(&places.file, &header, start)?;
                places.finish_entry(&mut tail, start + header_len, len)?;
                tail.in_place += len;
                tail.busy = false;
                let queued = places.append_queued(&mut tail);
                tail.owner = None;
                places.freed.notify_all();
                queued?;
                Ok(Placed::InTar { name })
            }
            Place::Side {
                places,
                layer,
                side,
            } => {
                let mut tail = places.lock();
                let name = tail
                    .expected
                    .get(&layer)
                    .map(|d| format!("{}.tar", d.hex()));
                let Some(name) = name.filter(|n| !tail.names.contains(n)) else {
                    return Ok(Placed::Side(side));
                };
                tail.names.insert(name.clone());
                if tail.busy {
                    tail.queued.push((name.clone(), side));
                } else {
                    places.append_side(&mut tail, &name, &side)?;
                }
                Ok(Placed::InTar { name })
            }
        }
    }

    /// The layer is given up: the tail is free again (what was written there is overwritten
    /// or cut off), a side file goes.
    pub fn abandon(self) {
        if let Place::Tail { places, name, .. } = self {
            let mut tail = places.lock();
            tail.busy = false;
            tail.owner = None;
            tail.names.remove(&name);
            // An error here comes back at the end, when the queue is tried again.
            let _ = places.append_queued(&mut tail);
            places.freed.notify_all();
        }
    }
}

/// A new temporary file in `dir`, readable and writable, locked for this process.
fn locked_temp(dir: &Path, prefix: &str) -> io::Result<(File, PathBuf)> {
    crate::locked_temp::create(dir, prefix, Access::Shared)
}

/// Removes the temporary files of runs that stopped without cleaning up (killed): ours
/// that no process holds locked.
fn remove_stale(dir: &Path) {
    crate::locked_temp::remove_stale(dir, &[TAR_PREFIX, SIDE_PREFIX]);
}
