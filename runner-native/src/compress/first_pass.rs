//! The first pass of `tug push --compress` running alongside the push instead of before
//! it: layers whose compressed digest is not remembered are compressed on background
//! threads while the push already checks and uploads everything else; each layer joins
//! the push as soon as its digest is known, and the rewritten manifests follow the last.
//! What the pass learns reaches the driving loop as [`Late`] messages.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::Scope;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use tug_core::archive::{ManifestBytes, ResolvedImage, Selection};
use tug_core::push::PlanManifest;
use tug_core::Digest;

use super::blob::CompressedBlob;
use super::cache::CompressCache;
use super::codec::Settings;
use super::plan::{compressed_blob, CompressedImages, Measuring, PlainLayers};
use super::status::Snapshot;
use crate::exit_code::CliError;
use crate::source::Source;

/// How often progress of the pass is reported.
const EVERY: Duration = Duration::from_millis(250);

/// Where the push gets a pending layer's bytes: filled before the layer is said ready.
pub type Slot = Arc<OnceLock<Arc<CompressedBlob>>>;

/// What the first pass tells the driving loop.
pub enum Late {
    /// Plain layer `plain` compresses to `digest`, `size` bytes (its slot is filled).
    Ready {
        plain: Digest,
        digest: Digest,
        size: u64,
    },
    /// How far the pass has got.
    Progress(Snapshot),
    /// Every layer is known: the manifests naming the compressed layers (the root, then the
    /// per-platform ones of an index), and what the pass did.
    Manifests {
        manifest: PlanManifest,
        children: Vec<PlanManifest>,
        how: Settings,
        done: Box<CompressedImages>,
        elapsed: Duration,
    },
    /// The pass failed (a layer could not be read); the push must stop with this error.
    Failed(CliError),
}

/// Everything the pass works from.
pub struct FirstPass<'a> {
    pub source: &'a Source,
    pub images: &'a [ResolvedImage],
    pub index: Option<&'a ManifestBytes>,
    pub how: Settings,
    pub jobs: usize,
    pub cache: &'a CompressCache,
    pub layers: PlainLayers,
    /// The slot of each layer still to compress, by plain digest.
    pub slots: HashMap<Digest, Slot>,
    /// Read counts, and the stop flag to set when the push ends first.
    pub measuring: Arc<Measuring>,
}

impl<'a> FirstPass<'a> {
    /// Starts the pass on threads of `scope`; its messages come out of the receiver.
    pub fn start<'scope>(self, scope: &'scope Scope<'scope, '_>) -> Receiver<Late>
    where
        'a: 'scope,
    {
        let (tx, rx) = async_channel::unbounded();
        let (stop_ticks, ticks_stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let measuring = self.measuring.clone();
        let how = self.how;
        let ticks = tx.clone();
        scope.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = ticks_stopped.recv_timeout(EVERY) {
                let now = Snapshot::of(&measuring, how, started.elapsed());
                if !now.is_empty() && ticks.send_blocking(Late::Progress(now)).is_err() {
                    return;
                }
            }
        });
        scope.spawn(move || {
            let result = self.run(&tx, started);
            drop(stop_ticks);
            let _ = tx.send_blocking(match result {
                Ok(late) => late,
                Err(e) => Late::Failed(e),
            });
        });
        rx
    }

    /// Compresses every unknown layer, sending each as it is known, then rewrites the
    /// manifests.
    fn run(mut self, tx: &Sender<Late>, started: Instant) -> Result<Late, CliError> {
        let (source, how, slots) = (self.source, self.how, &self.slots);
        self.layers.measure(
            source,
            self.jobs,
            self.cache,
            &self.measuring,
            &|layer, digest, size| {
                if let Some(slot) = slots.get(&layer.digest) {
                    let _ = slot.set(compressed_blob(
                        how,
                        source,
                        layer,
                        digest.clone(),
                        size,
                        None,
                    ));
                }
                let _ = tx.send_blocking(Late::Ready {
                    plain: layer.digest.clone(),
                    digest: digest.clone(),
                    size,
                });
            },
        )?;
        let done = self
            .layers
            .finish(source, self.images, self.index, self.cache)?;
        let (manifest, children) = Selection::of(&done.images, done.index.as_ref())
            .ok_or_else(|| CliError::Input("the compressed image has no manifest".into()))?
            .manifests();
        Ok(Late::Manifests {
            manifest,
            children,
            how: self.how,
            done: Box::new(done),
            elapsed: started.elapsed(),
        })
    }
}

/// Tells a pass still running that the push ended: its reads fail, its threads end.
pub fn stop(measuring: &Measuring) {
    measuring.watch.stop.store(true, Ordering::Relaxed);
}
