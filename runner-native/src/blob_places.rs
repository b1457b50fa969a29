//! Where blobs were last seen: for each registry and blob, the repositories tug put it in or
//! read it from (a push, a copy, a pull), most recent first. A push or copy to another
//! repository of that registry asks to mount such a blob from there instead of sending it,
//! as skopeo does with its blob-info cache; the core decides which place to ask and what a
//! refusal means ([`tug_core::push::PushPlan::mount_sources`]).
//!
//! One JSON file in the state directory (`blob-places.json`), shared safely by concurrent
//! tug processes ([`StateFile`]), holding at most [`MAX_BLOBS`] blobs (the least recently
//! seen go first). It only saves bytes: when it cannot be read or written, blobs are sent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tug_core::Digest;

use crate::places::state_dir;
use crate::state_file::StateFile;

/// The most blobs remembered.
pub const MAX_BLOBS: usize = 10_000;

/// The most repositories remembered per blob.
const MAX_PLACES: usize = 4;

/// Where one blob of one registry was seen.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    /// Repositories, most recent first.
    repositories: Vec<String>,
    /// When it was last seen (seconds since the epoch).
    seen: u64,
}

/// The record of blob places in the state directory.
pub struct BlobPlaces {
    dir: Option<PathBuf>,
}

impl BlobPlaces {
    /// The record in the state directory (none without one).
    pub fn new() -> BlobPlaces {
        BlobPlaces { dir: state_dir() }
    }

    fn file(&self) -> Option<StateFile> {
        self.dir
            .as_deref()
            .map(|d| StateFile::new(d, "blob-places"))
    }

    /// Every blob seen on `registry`, with the repositories it was seen in.
    pub fn at(&self, registry: &str) -> BTreeMap<Digest, Vec<String>> {
        let Some(file) = self.file() else {
            return BTreeMap::new();
        };
        let prefix = format!("{registry}@");
        let pick = |(k, entry): (&String, &Entry)| {
            let digest = k.strip_prefix(&prefix)?.parse::<Digest>().ok()?;
            Some((digest, entry.repositories.clone()))
        };
        let mut batch = lock_batch();
        match batch.as_mut().filter(|b| b.serves(&file)) {
            Some(batch) => batch.view(&file).iter().filter_map(pick).collect(),
            None => file.read::<Entry>().iter().filter_map(pick).collect(),
        }
    }

    /// Records that `digests` are in `repository` of `registry` now (while a [`Batch`]
    /// lives, in memory until it ends).
    pub fn record(&self, registry: &str, repository: &str, digests: &[Digest]) {
        let Some(file) = self.file().filter(|_| !digests.is_empty()) else {
            return;
        };
        let seen = Seen {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            digests: digests.to_vec(),
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        if let Some(batch) = lock_batch().as_mut().filter(|b| b.serves(&file)) {
            batch.view(&file);
            if let Some(view) = batch.view.as_mut() {
                seen.apply(view);
            }
            batch.pending.push(seen);
            return;
        }
        write(&file, &[seen]);
    }

    /// Keeps what is recorded in memory until the returned guard drops, then writes it in
    /// one go: a sync of many images reads and writes the file once, not once per image.
    pub fn batch(&self) -> Batch {
        *lock_batch() = Some(Pending {
            file: self.file(),
            ..Pending::default()
        });
        Batch(())
    }
}

/// One operation's blobs in one repository.
struct Seen {
    registry: String,
    repository: String,
    digests: Vec<Digest>,
    /// Seconds since the epoch.
    at: u64,
}

impl Seen {
    fn apply(&self, map: &mut BTreeMap<String, Entry>) {
        for d in &self.digests {
            let entry = map.entry(key(&self.registry, d)).or_insert_with(|| Entry {
                repositories: Vec::new(),
                seen: self.at,
            });
            entry.repositories.retain(|r| *r != self.repository);
            entry.repositories.insert(0, self.repository.clone());
            entry.repositories.truncate(MAX_PLACES);
            entry.seen = self.at;
        }
        forget_oldest(map, MAX_BLOBS);
    }
}

/// Writes `seen` into `file`, under its lock.
fn write(file: &StateFile, seen: &[Seen]) {
    let updated = file.update(|map: &mut BTreeMap<String, Entry>| {
        seen.iter().for_each(|s| s.apply(map));
        true
    });
    if let Err(e) = updated {
        crate::verbose::note(&format!("cannot record where blobs are: {e}"));
    }
}

/// What a [`Batch`] holds: the file as read once, with what was recorded since, and what
/// to write when it ends.
#[derive(Default)]
struct Pending {
    view: Option<BTreeMap<String, Entry>>,
    pending: Vec<Seen>,
    /// The file it holds (records of any other go straight to theirs).
    file: Option<StateFile>,
}

impl Pending {
    /// Whether it holds `file`'s records.
    fn serves(&self, file: &StateFile) -> bool {
        self.file.as_ref().is_some_and(|f| f.path() == file.path())
    }

    fn view(&mut self, file: &StateFile) -> &BTreeMap<String, Entry> {
        self.view.get_or_insert_with(|| file.read::<Entry>())
    }
}

static BATCH: Mutex<Option<Pending>> = Mutex::new(None);

fn lock_batch() -> std::sync::MutexGuard<'static, Option<Pending>> {
    BATCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// While it lives, [`BlobPlaces`] records stay in memory; dropped, they are written.
pub struct Batch(());

impl Drop for Batch {
    fn drop(&mut self) {
        let Some(pending) = lock_batch().take() else {
            return;
        };
        if let (Some(file), false) = (&pending.file, pending.pending.is_empty()) {
            write(file, &pending.pending);
        }
    }
}

/// The blobs one operation found in one repository (a push's or copy's target, a pull's
/// source): recorded in [`BlobPlaces`] by [`Landed::keep`] once the operation succeeded (a
/// registry that said it holds a blob it lacks makes the operation fail: nothing is kept).
pub struct Landed {
    registry: String,
    repository: String,
    digests: Vec<Digest>,
}

impl Landed {
    /// For blobs of `image`'s repository.
    pub fn new(image: &tug_core::Reference) -> Landed {
        Landed {
            registry: image.registry.clone(),
            repository: image.repository.clone(),
            digests: Vec::new(),
        }
    }

    /// Takes note of a blob an event says the repository holds
    /// ([`tug_core::push::Event::landed`], [`tug_core::pull::Event::held`]).
    pub fn note(&mut self, blob: Option<&Digest>) {
        self.digests.extend(blob.cloned());
    }

    /// Records them if `succeeded`.
    pub fn keep(self, succeeded: bool) {
        if succeeded {
            BlobPlaces::new().record(&self.registry, &self.repository, &self.digests);
        }
    }
}

/// `registry@digest`.
fn key(registry: &str, digest: &Digest) -> String {
    format!("{registry}@{digest}")
}

/// Drops the least recently seen entries of `map` beyond `keep`.
fn forget_oldest(map: &mut BTreeMap<String, Entry>, keep: usize) {
    if map.len() <= keep {
        return;
    }
    let mut by_age: Vec<(u64, String)> = map.iter().map(|(k, e)| (e.seen, k.clone())).collect();
    by_age.sort_unstable();
    let extra = map.len() - keep;
    for (_, k) in by_age.into_iter().take(extra) {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(dir: &std::path::Path) -> BlobPlaces {
        BlobPlaces {
            dir: Some(dir.to_owned()),
        }
    }

    #[test]
    fn the_most_recent_repository_comes_first_and_a_few_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = places(dir.path());
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        for repo in ["r1", "r2", "r3", "r4", "r5", "r2"] {
            p.record("reg.example", repo, std::slice::from_ref(&a));
        }
        p.record("other.example", "elsewhere", std::slice::from_ref(&b));
        // A registry whose name starts like another's is not that one.
        p.record("reg.example:5000", "elsewhere", std::slice::from_ref(&b));
        let found = p.at("reg.example");
        assert_eq!(found.len(), 1, "b was seen on other registries only");
        assert_eq!(found[&a], vec!["r2", "r5", "r4", "r3"]);
    }

    #[test]
    fn the_least_recently_seen_blobs_go_first() {
        let mut map = BTreeMap::new();
        for (i, name) in ["old", "new", "middle"].into_iter().enumerate() {
            let seen = [1, 3, 2][i];
            map.insert(
                name.to_owned(),
                Entry {
                    repositories: vec!["r".into()],
                    seen,
                },
            );
        }
        forget_oldest(&mut map, 2);
        assert_eq!(map.keys().collect::<Vec<_>>(), vec!["middle", "new"]);
    }

    #[test]
    fn a_batch_reads_once_sees_its_own_records_and_writes_them_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let p = places(dir.path());
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        p.record("reg.example", "before", std::slice::from_ref(&a));
        let batch = p.batch();
        p.record("reg.example", "during", std::slice::from_ref(&b));
        assert_eq!(
            p.at("reg.example")[&b],
            vec!["during"],
            "seen within the batch"
        );
        let written = places(dir.path()).file().unwrap().read::<Entry>();
        assert_eq!(written.len(), 1, "nothing written yet");
        drop(batch);
        let found = p.at("reg.example");
        assert_eq!(found[&a], vec!["before"]);
        assert_eq!(found[&b], vec!["during"]);
    }

    #[test]
    fn without_a_state_directory_nothing_is_known() {
        let p = BlobPlaces { dir: None };
        let a = Digest::sha256_of(b"a");
        p.record("reg.example", "r", std::slice::from_ref(&a));
        assert!(p.at("reg.example").is_empty());
    }
}
