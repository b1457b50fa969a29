//! A pass of `tug push --compress` on its own, sending nothing (a dry run): layers whose
//! compressed digest is not remembered are compressed on background threads to learn it,
//! and the manifests are rewritten to name them. What the pass learns reaches whoever waits
//! for it as [`Late`] messages.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::Scope;
use std::time::{Duration, Instant};

use async_channel::Receiver;
use tug_core::archive::{ManifestBytes, ResolvedImage};

use super::cache::CompressCache;
use super::codec::Settings;
use super::plan::{CompressedImages, Measuring, PlainLayers};
use super::status::Snapshot;
use crate::exit_code::CliError;
use crate::source::Source;

/// How often progress of the pass is reported.
const EVERY: Duration = Duration::from_millis(250);

/// What the pass tells whoever waits for it.
pub enum Late {
    /// How far the pass has got.
    Progress(Snapshot),
    /// Every layer is known: the images rewritten to name the compressed layers, and what
    /// the pass did.
    Manifests {
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
    /// Read counts.
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
            let result = self.run(started);
            drop(stop_ticks);
            let _ = tx.send_blocking(match result {
                Ok(late) => late,
                Err(e) => Late::Failed(e),
            });
        });
        rx
    }

    /// Compresses every unknown layer, then rewrites the manifests.
    fn run(mut self, started: Instant) -> Result<Late, CliError> {
        self.layers.measure(
            self.source,
            self.jobs,
            self.cache,
            &self.measuring,
            &|_, _, _| {},
        )?;
        let done = self
            .layers
            .finish(self.source, self.images, self.index, self.cache)?;
        Ok(Late::Manifests {
            how: self.how,
            done: Box::new(done),
            elapsed: started.elapsed(),
        })
    }
}
