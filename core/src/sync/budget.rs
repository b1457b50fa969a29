//! One budget of blobs in flight shared by every image a sync copies: which image may start
//! now and with how many blobs at once, which must wait because a blob it needs is being
//! copied for another image (so a shared blob crosses the wire once), and which repository
//! of the destination it can mount its shared blobs from once they have landed.
//!
//! The runner [`Budget::queue`]s each image that needs copying, with the blobs its manifests
//! name, starts what [`Budget::start_next`] hands out (a copy with `jobs` blobs in flight at most,
//! mounting from `mount_from`), and tells [`Budget::finished`] when each copy ends. The
//! budget never exceeds `total` blobs in flight; while other images wait, one image takes at
//! most half of it (so one huge image does not starve the rest); an image alone may take
//! all that is free.

use std::collections::{HashMap, VecDeque};

use crate::digest::Digest;

/// The runner's name for an image of the sync (its index in the plan, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(pub usize);

/// An image to copy: where it lands and the blobs it needs.
#[derive(Clone, Debug)]
pub struct Wanted {
    /// The runner's name for it.
    pub id: ImageId,
    /// Its destination registry (a blob is mounted only within one registry).
    pub registry: String,
    /// Its repository there.
    pub repository: String,
    /// Every blob its manifests name (config and layers, of every platform copied).
    pub blobs: Vec<Digest>,
}

/// An image that may start now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// Which.
    pub id: ImageId,
    /// The most blobs it may have in flight (at least 1); its share of the budget.
    pub jobs: usize,
    /// A repository of the destination already holding some of its blobs (copied for an
    /// earlier image): its uploads ask to mount from there first.
    pub mount_from: Option<String>,
    /// Its blobs, each once (the upload sessions it may take up are theirs).
    pub blobs: Vec<Digest>,
}

#[derive(Debug)]
struct Running {
    registry: String,
    repository: String,
    blobs: Vec<Digest>,
    jobs: usize,
}

/// The shared budget: which image may start, with how many blobs, and where it mounts from.
#[derive(Debug)]
pub struct Budget {
    total: usize,
    used: usize,
    queue: VecDeque<Wanted>,
    running: HashMap<ImageId, Running>,
    /// Each blob being copied, and the image copying it.
    in_flight: HashMap<Digest, ImageId>,
    /// Each blob an image copied, and the registry and repository it is in.
    landed: HashMap<Digest, (String, String)>,
}

impl Budget {
    /// A budget of `total` blobs in flight (at least 1).
    pub fn new(total: usize) -> Budget {
        Budget {
            total: total.max(1),
            used: 0,
            queue: VecDeque::new(),
            running: HashMap::new(),
            in_flight: HashMap::new(),
            landed: HashMap::new(),
        }
    }

    /// Adds an image to copy; it starts when [`Budget::start_next`] says so.
    pub fn queue(&mut self, image: Wanted) {
        self.queue.push_back(image);
    }

    /// The next image that may start now, if any: the first queued one none of whose blobs
    /// is in flight for another image, with its share of what is free.
    pub fn start_next(&mut self) -> Option<Start> {
        let free = self.total - self.used;
        if free == 0 {
            return None;
        }
        let at = self
            .queue
            .iter()
            .position(|w| !w.blobs.iter().any(|b| self.in_flight.contains_key(b)))?;
        let image = self.queue.remove(at)?;
        let others_wait = !self.queue.is_empty();
        let cap = if others_wait {
            (self.total / 2).max(1)
        } else {
            self.total
        };
        let mut distinct = image.blobs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let jobs = distinct.len().clamp(1, free.min(cap));
        let mount_from = self.mount_source(&image.registry, &image.repository, &distinct);
        for b in &distinct {
            self.in_flight.insert(b.clone(), image.id);
        }
        self.used += jobs;
        self.running.insert(
            image.id,
            Running {
                registry: image.registry,
                repository: image.repository,
                blobs: distinct.clone(),
                jobs,
            },
        );
        Some(Start {
            id: image.id,
            jobs,
            mount_from,
            blobs: distinct,
        })
    }

    /// Image `id`'s copy ended; `copied`: it succeeded, so its blobs are on the destination.
    pub fn finished(&mut self, id: ImageId, copied: bool) {
        let Some(r) = self.running.remove(&id) else {
            return;
        };
        self.used -= r.jobs;
        for b in r.blobs {
            if self.in_flight.get(&b) == Some(&id) {
                self.in_flight.remove(&b);
            }
            if copied {
                let at = || (r.registry.clone(), r.repository.clone());
                self.landed.entry(b).or_insert_with(at);
            }
        }
    }

    /// Drops every image not started yet (the sync was stopped); their ids.
    pub fn drop_queued(&mut self) -> Vec<ImageId> {
        self.queue.drain(..).map(|w| w.id).collect()
    }

    /// Blobs in flight now: the sum of the running images' shares.
    pub fn in_use(&self) -> usize {
        self.used
    }

    /// Images being copied now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Images waiting to start.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The other repository of `registry` holding the most of `blobs`, if any.
    fn mount_source(&self, registry: &str, repository: &str, blobs: &[Digest]) -> Option<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for b in blobs {
            if let Some((g, r)) = self.landed.get(b) {
                if g == registry && r != repository {
                    *counts.entry(r.as_str()).or_default() += 1;
                }
            }
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(r, _)| r.to_owned())
    }
}
