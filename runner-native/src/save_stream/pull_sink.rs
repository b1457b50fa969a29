//! A pull straight into a `docker save` tar: the core's blob outputs feed each layer's
//! thread as the bytes arrive (the core has already hashed them for the blob's digest), the
//! config is kept in memory until its diffIDs name the layers' entries, and with `--store`
//! every blob also lands in the store as a plain pull's would (resumable, renamed into
//! place once verified). Blobs the store already has are decoded from there.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tug_core::archive::docker_save_export::{SaveEntry, SaveImage};
use tug_core::archive::MAX_METADATA_LEN;
use tug_core::pull::{Output, Pull};
use tug_core::Digest;

use super::{SaveCounters, SaveError, SaveStream};
use crate::exit_code::CliError;
use crate::oci_dir::OciDir;

/// What a blob of the image is.
#[derive(Clone, Copy)]
enum Role {
    Config,
    Layer { size: u64 },
    Other,
}

/// The pull's blob outputs, into the tar (and the store with `--store`, passed to each call).
pub struct TarPull {
    stream: SaveStream,
    image: String,
    roles: HashMap<Digest, Role>,
    config: Vec<u8>,
    entries: Option<Vec<SaveEntry>>,
}

impl From<SaveError> for CliError {
    fn from(e: SaveError) -> CliError {
        match e {
            SaveError::Cancelled => CliError::Core(tug_core::Error::Cancelled),
            e => CliError::Input(e.to_string()),
        }
    }
}

impl TarPull {
    /// A pull into the tar at `out` of the image named `image` (`registry/repository:tag`).
    pub fn new(out: &Path, image: String) -> Result<Self, CliError> {
        Ok(TarPull {
            stream: SaveStream::create(out, Some(image.clone()))?,
            image,
            roles: HashMap::new(),
            config: Vec::new(),
            entries: None,
        })
    }

    fn role(&mut self, pull: &Pull, d: &Digest) -> Role {
        if let Some(role) = self.roles.get(d) {
            return *role;
        }
        let role = pull
            .images()
            .find_map(|img| {
                if &img.config.digest == d {
                    Some(Role::Config)
                } else {
                    img.layers
                        .iter()
                        .find(|l| &l.digest == d)
                        .map(|l| Role::Layer { size: l.size })
                }
            })
            .unwrap_or(Role::Other);
        self.roles.insert(d.clone(), role);
        role
    }

    /// Acts on the pull's blob outputs; hands every other output back.
    pub fn handle(
        &mut self,
        mut store: Option<&mut OciDir>,
        pull: &Pull,
        output: Output,
    ) -> Result<Option<Output>, CliError> {
        let store_error = |store: &OciDir, e: std::io::Error| {
            CliError::Input(format!("cannot write into {}: {e}", store.root().display()))
        };
        match output {
            Output::Write {
                digest,
                offset,
                data,
            } => {
                if let Some(store) = store.as_deref_mut() {
                    if let Err(e) = store.write_at(&digest, offset, &data) {
                        return Err(store_error(store, e));
                    }
                }
                match self.role(pull, &digest) {
                    Role::Config => {
                        if offset == 0 {
                            self.config.clear();
                        } else if self.config.is_empty() {
                            // Continued from the store's download of an earlier run.
                            if offset > MAX_METADATA_LEN {
                                return Err(CliError::Input(format!(
                                    "config {digest} is larger than {MAX_METADATA_LEN} bytes"
                                )));
                            }
                            let config = &mut self.config;
                            prefix_of(store.as_deref(), &digest, offset, |piece| {
                                config.extend_from_slice(&piece);
                                Ok(())
                            })?;
                        }
                        if self.config.len() as u64 + data.len() as u64 > MAX_METADATA_LEN {
                            return Err(CliError::Input(format!(
                                "config {digest} is larger than {MAX_METADATA_LEN} bytes"
                            )));
                        }
                        self.config.extend_from_slice(&data);
                    }
                    Role::Layer { size } => {
                        if !self.stream.has(&digest) {
                            self.stream.start(&digest, size);
                            if offset > 0 {
                                let stream = &mut self.stream;
                                prefix_of(store.as_deref(), &digest, offset, |piece| {
                                    stream.feed(&digest, piece).map_err(CliError::from)
                                })?;
                            }
                        }
                        if self.stream.fed(&digest) != offset {
                            return Err(CliError::Input(format!(
                                "layer {digest}: bytes came at {offset}, after {} were decoded",
                                self.stream.fed(&digest)
                            )));
                        }
                        self.stream.feed(&digest, data)?;
                    }
                    Role::Other => {}
                }
                Ok(None)
            }
            Output::Commit { digest } => {
                if let Some(store) = store.as_deref_mut() {
                    if let Err(e) = store.commit(&digest) {
                        return Err(store_error(store, e));
                    }
                }
                match self.role(pull, &digest) {
                    // Committed with no byte this run: an earlier run's whole download.
                    Role::Config if self.config.is_empty() => {
                        self.skipped(store.as_deref(), pull, &digest)?
                    }
                    Role::Config => self.config_done(pull, &digest)?,
                    Role::Layer { .. } if !self.stream.has(&digest) && store.is_some() => {
                        self.skipped(store.as_deref(), pull, &digest)?
                    }
                    Role::Layer { size } => {
                        if !self.stream.has(&digest) {
                            self.stream.start(&digest, size);
                        }
                        self.stream.close(&digest)
                    }
                    Role::Other => {}
                }
                Ok(None)
            }
            Output::Discard { digest } => {
                if let Some(store) = store {
                    store.discard(&digest);
                }
                match self.role(pull, &digest) {
                    Role::Config => self.config.clear(),
                    Role::Layer { .. } => self.stream.abandon(&digest),
                    Role::Other => {}
                }
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }

    /// The store has blob `digest` already: take it from there.
    pub fn skipped(
        &mut self,
        store: Option<&OciDir>,
        pull: &Pull,
        digest: &Digest,
    ) -> Result<(), CliError> {
        let Some(store) = store else {
            return Ok(());
        };
        let path = store.blob_path(digest);
        let read_err = |e: std::io::Error| CliError::Input(format!("{}: {e}", path.display()));
        match self.role(pull, digest) {
            Role::Config => {
                self.config = crate::safe_fs::read(&path).map_err(read_err)?;
                self.config_done(pull, digest)
            }
            Role::Layer { .. } => {
                let file = crate::safe_fs::open_read(&path).map_err(read_err)?;
                self.stream.start_file(digest, file)?;
                Ok(())
            }
            Role::Other => Ok(()),
        }
    }

    /// The config is whole: plan the tar's entries and name the layers' diffIDs.
    fn config_done(&mut self, pull: &Pull, config: &Digest) -> Result<(), CliError> {
        let Some(img) = pull.images().find(|i| &i.config.digest == config) else {
            return Ok(());
        };
        let m = &img.manifest;
        let save = SaveImage::from_manifest(&m.digest, &m.media_type, &m.bytes)?;
        let entries = save.entries(&self.config, Some(&self.image))?;
        self.stream.expect(&entries);
        self.entries = Some(entries);
        Ok(())
    }

    /// The pull succeeded: finish the tar.
    pub fn finish(self) -> Result<SaveCounters, CliError> {
        let entries = self
            .entries
            .ok_or_else(|| CliError::Input("the image's config never arrived".into()))?;
        Ok(self.stream.finish(&entries)?)
    }
}

/// Hands the first `len` bytes of blob `digest`, which an earlier run left in the store's
/// download file, to `each` piece by piece.
fn prefix_of(
    store: Option<&OciDir>,
    digest: &Digest,
    len: u64,
    mut each: impl FnMut(Vec<u8>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let path = store.and_then(|s| s.temp_path(digest)).ok_or_else(|| {
        CliError::Input(format!(
            "blob {digest}: bytes came at {len} with no earlier download to continue"
        ))
    })?;
    let err = |e: std::io::Error| CliError::Input(format!("{}: {e}", path.display()));
    let mut file = crate::safe_fs::open_read(path).map_err(err)?.take(len);
    let mut got = 0u64;
    loop {
        let mut piece = vec![0u8; 128 * 1024];
        let n = file.read(&mut piece).map_err(err)?;
        if n == 0 {
            break;
        }
        piece.truncate(n);
        got += n as u64;
        each(piece)?;
    }
    if got != len {
        return Err(CliError::Input(format!(
            "{}: shorter than the {len} bytes the pull continues from",
            path.display()
        )));
    }
    Ok(())
}
