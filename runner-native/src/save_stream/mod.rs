//! Writing a `docker save` tar in one pass: each layer is decoded on a thread of its own
//! while its blob arrives (from a download or a file), checked against the decompression
//! cap and its diffID as it goes, and written once.
//!
//! Where each layer's tar is written ([`tar_file`]): a layer streams straight into the tar
//! when the tar's end is free — no other layer streaming there and its diffID (its entry's
//! name) known — with its header written when it ends; layers decoded at the same time go
//! to side files next to the output, added at the end with `copy_file_range` (the kernel
//! copies, or shares the blocks where the file system can). A `tug save` decodes its layers
//! one after the other, so every layer streams in place; a pull decodes up to `--jobs`
//! layers at once, and all but one of them go through a side file. This was chosen over
//! a pre-sized file: a layer's tar size is not known before its end (manifests give the
//! compressed size only), so entries cannot be laid out in advance.
//!
//! The tar is a temporary file renamed into place only when every layer matched its
//! diffID; on any error, or a cancel, the temporary files go ([`tar_file`]), and a run
//! killed outright leaves locked files the next run next to the same output removes.

mod inflate;
pub mod pull_sink;
mod tar_file;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tug_core::archive::docker_save_export::{SaveContent, SaveEntry};
use tug_core::archive::layer_tar::{LayerName, LayerTarError};
use tug_core::Digest;

pub use inflate::Stats;
use inflate::{InflateError, Inflated, Inflater};
use tar_file::{Placed, Places, TarFile};

/// Why the tar could not be written: a layer is at fault, or the output.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}")]
    Layer(Box<LayerTarError>),
    #[error("cannot write {path}: {error}")]
    Output { path: PathBuf, error: io::Error },
    /// A stop was asked for (Ctrl-C, SIGTERM): the tar is not put in place.
    #[error("cancelled")]
    Cancelled,
}

/// A `docker save` tar being written (see the module docs).
pub struct SaveStream {
    tar: TarFile,
    places: Arc<Places>,
    out: PathBuf,
    /// The image's name, for messages.
    image: Option<String>,
    running: HashMap<Digest, Inflater>,
    done: HashMap<Digest, Inflated>,
    /// Time the caller waited on full layer channels.
    blocked: Duration,
}

/// What `-v` says about a finished tar.
pub struct SaveCounters {
    /// Layers written.
    pub layers: usize,
    /// Bytes of layer tars written in place, and through side files.
    pub in_place: u64,
    pub in_side_files: u64,
    /// Per layer: its blob and where its thread's time went.
    pub per_layer: Vec<(Digest, Stats)>,
    /// Time the download waited for layer threads (their channels full).
    pub blocked: Duration,
}

impl SaveStream {
    /// Starts the tar for `out`, of the image named `image`.
    pub fn create(out: &Path, image: Option<String>) -> Result<SaveStream, SaveError> {
        let tar = TarFile::create(out).map_err(|error| SaveError::Output {
            path: out.to_path_buf(),
            error,
        })?;
        Ok(SaveStream {
            places: tar.places(),
            tar,
            out: out.to_path_buf(),
            image,
            running: HashMap::new(),
            done: HashMap::new(),
            blocked: Duration::ZERO,
        })
    }

    fn output(&self, error: io::Error) -> SaveError {
        SaveError::Output {
            path: self.out.clone(),
            error,
        }
    }

    fn name(&self, layer: &Digest) -> LayerName {
        LayerName {
            digest: layer.clone(),
            image: self.image.clone(),
        }
    }

    /// The layers' diffIDs, from the planned entries (the config is in).
    pub fn expect(&self, entries: &[SaveEntry]) {
        self.places
            .expect(entries.iter().filter_map(|e| match &e.content {
                SaveContent::Layer { layer, diff_id } => {
                    Some((layer.digest.clone(), diff_id.clone()))
                }
                SaveContent::Bytes(_) => None,
            }));
    }

    /// Whether layer `layer` is being decoded or done.
    pub fn has(&self, layer: &Digest) -> bool {
        self.running.contains_key(layer) || self.done.contains_key(layer)
    }

    /// Compressed bytes of `layer` handed over so far (0 if it has not started).
    pub fn fed(&self, layer: &Digest) -> u64 {
        self.running.get(layer).map_or(0, |i| i.fed)
    }

    /// Starts layer `layer`, whose `compressed_len` bytes will come with [`SaveStream::feed`].
    pub fn start(&mut self, layer: &Digest, compressed_len: u64) {
        let inflater =
            Inflater::from_channel(self.name(layer), compressed_len, self.places.clone());
        self.running.insert(layer.clone(), inflater);
    }

    /// Decodes layer `layer` from its blob file `file`, on its thread.
    pub fn start_file(&mut self, layer: &Digest, file: File) -> Result<(), SaveError> {
        self.places.input_done(layer);
        let inflater = Inflater::from_file(self.name(layer), file, self.places.clone())
            .map_err(|e| self.output(e))?;
        self.running.insert(layer.clone(), inflater);
        Ok(())
    }

    /// The next bytes of layer `layer`'s blob. If its thread stopped, its error.
    pub fn feed(&mut self, layer: &Digest, data: Vec<u8>) -> Result<(), SaveError> {
        let Some(inflater) = self.running.get_mut(layer) else {
            return Ok(());
        };
        if inflater.feed(data) {
            return Ok(());
        }
        let stopped = self.running.remove(layer).map(Inflater::join);
        match stopped {
            Some(Err(e)) => Err(self.convert(e)),
            _ => Err(self.output(io::Error::other(format!(
                "layer {layer} ended before its blob did"
            )))),
        }
    }

    /// Layer `layer`'s blob is whole (and verified): its thread ends by itself.
    pub fn close(&mut self, layer: &Digest) {
        if let Some(inflater) = self.running.get_mut(layer) {
            inflater.close();
            self.places.input_done(layer);
        }
    }

    /// Layer `layer` starts over or is given up: what it wrote goes.
    pub fn abandon(&mut self, layer: &Digest) {
        if let Some(inflater) = self.running.remove(layer) {
            self.blocked += inflater.blocked;
            drop(inflater);
        }
        self.places.input_restarts(layer);
        self.done.remove(layer);
    }

    /// Waits for layer `layer`'s thread (after [`SaveStream::close`]).
    pub fn wait(&mut self, layer: &Digest) -> Result<(), SaveError> {
        let Some(mut inflater) = self.running.remove(layer) else {
            return Ok(());
        };
        inflater.close();
        self.places.input_done(layer);
        self.blocked += inflater.blocked;
        let inflated = inflater.join().map_err(|e| self.convert(e))?;
        self.done.insert(layer.clone(), inflated);
        Ok(())
    }

    fn convert(&self, e: InflateError) -> SaveError {
        match e {
            InflateError::Layer(e) => SaveError::Layer(e),
            InflateError::Output(e) => self.output(e),
            InflateError::Aborted => self.output(io::Error::other("stopped")),
        }
    }

    /// Waits for every layer, checks each against its diffID, adds what is not in place yet
    /// (side files, then the config, `manifest.json` and `repositories`) and renames the
    /// tar into place.
    pub fn finish(mut self, entries: &[SaveEntry]) -> Result<SaveCounters, SaveError> {
        let stop_asked = || match crate::interrupt::requested() {
            true => Err(SaveError::Cancelled),
            false => Ok(()),
        };
        stop_asked()?;
        let running: Vec<Digest> = self.running.keys().cloned().collect();
        for layer in running {
            self.wait(&layer)?;
        }
        stop_asked()?;
        let mut per_layer = Vec::new();
        for entry in entries {
            match &entry.content {
                SaveContent::Bytes(bytes) => self
                    .tar
                    .append_bytes(&entry.name, bytes)
                    .map_err(|e| self.output(e))?,
                SaveContent::Layer { layer, diff_id } => {
                    let Some(inflated) = self.done.remove(&layer.digest) else {
                        return Err(self.output(io::Error::other(format!(
                            "layer {} was not decoded",
                            layer.digest
                        ))));
                    };
                    inflated.hashed.check(diff_id).map_err(SaveError::Layer)?;
                    per_layer.push((layer.digest.clone(), inflated.stats));
                    match inflated.placed {
                        Placed::InTar { name } if name == entry.name => {}
                        Placed::InTar { name } => {
                            return Err(self.output(io::Error::other(format!(
                                "layer {} went in as {name}, not {}",
                                layer.digest, entry.name
                            ))))
                        }
                        Placed::Side(side) => self
                            .tar
                            .append_side(&entry.name, side)
                            .map_err(|e| self.output(e))?,
                    }
                }
            }
        }
        stop_asked()?;
        let (in_place, in_side_files) = self.tar.counters();
        let out = self.out.clone();
        self.tar
            .commit()
            .map_err(|error| SaveError::Output { path: out, error })?;
        Ok(SaveCounters {
            layers: per_layer.len(),
            in_place,
            in_side_files,
            per_layer,
            blocked: self.blocked,
        })
    }
}

impl SaveCounters {
    /// The `-v` lines: bytes written where, and where each layer's thread spent its time.
    pub fn note(&self) {
        crate::verbose::note(&format!(
            "docker-archive: {} layer tar(s), {} bytes written once in place, {} bytes through \
             side files copied in with copy_file_range; the download waited {} ms on full layer \
             channels",
            self.layers,
            self.in_place,
            self.in_side_files,
            self.blocked.as_millis()
        ));
        for (digest, s) in &self.per_layer {
            crate::verbose::note(&format!(
                "layer {}: {} compressed bytes, {}; decode {} ms, hash {} ms, write {} ms, \
                 waiting for bytes {} ms",
                digest.short(),
                s.read,
                if s.in_place { "in place" } else { "side file" },
                s.decode.as_millis(),
                s.hash.as_millis(),
                s.write.as_millis(),
                s.starved.as_millis()
            ));
        }
    }
}
