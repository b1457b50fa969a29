//! Upload sessions kept across runs, so a push or a copy (each image of a sync) that died
//! (killed, crashed, network gone) continues where the registry says it stopped when it
//! runs again.
//!
//! One JSON file in the state directory (`$TUG_STATE_DIR`, else `$XDG_STATE_HOME/tug`, else
//! `~/.local/state/tug`), keyed by `registry/repository@digest`, shared safely by concurrent
//! tug processes ([`StateFile`]). Session URLs hold no credentials.
//!
//! Each session is marked with the process that has it open ([`live_mark`]): a run takes up
//! only sessions whose process ended, so two pushes (or two images of one sync) sending the
//! same blob to one repository never write into one session.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tug_core::push::{Event, ResumableUpload};
use tug_core::{Digest, Reference};

use crate::live_mark;
use crate::output::errln;
use crate::state_file::StateFile;

/// What is kept of one open upload session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    location: String,
    committed: u64,
    /// The [`live_mark`] of the process using the session (none: any process may take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

/// The upload sessions of one registry repository.
pub struct UploadState {
    dir: Option<PathBuf>,
    prefix: String,
}

impl UploadState {
    /// The sessions kept for the repository of `target` (a push's or a copy's).
    pub fn of(target: &Reference) -> UploadState {
        UploadState {
            dir: crate::places::state_dir(),
            prefix: format!("{}/{}@", target.registry, target.repository),
        }
    }

    /// Keeps what an upload event says: a session open at so many bytes, or over (its blob
    /// is in, or it was given up for a new one).
    pub fn keep(&self, event: &Event) {
        match event {
            Event::UploadSession {
                digest,
                location,
                committed,
                ..
            } => self.record(digest, location, *committed),
            Event::UploadSessionClosed { digest, .. } => self.forget(digest),
            _ => {}
        }
    }

    fn file(&self) -> Option<StateFile> {
        self.dir.as_deref().map(|d| StateFile::new(d, "uploads"))
    }

    /// Sessions a run that ended left open for this repository, taken up for this process
    /// (a session another running process has open is not among them).
    pub fn resumable(&self) -> Vec<ResumableUpload> {
        self.take_up(|_| true)
    }

    /// [`UploadState::resumable`] for the blobs (or session keys) in `wanted` only: the
    /// sessions of other blobs stay free for the runs that need them.
    pub fn resumable_for(&self, wanted: &[Digest]) -> Vec<ResumableUpload> {
        self.take_up(|d| wanted.contains(d))
    }

    fn take_up(&self, wanted: impl Fn(&Digest) -> bool) -> Vec<ResumableUpload> {
        let (Some(dir), Some(file)) = (&self.dir, self.file()) else {
            return Vec::new();
        };
        // Without a mark of its own, this process cannot tell a session in use from one
        // left behind, nor keep others off what it takes: it takes none.
        let Some(mine) = live_mark::mine(dir) else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        let claimed = file.update(|map: &mut BTreeMap<String, Entry>| {
            for (key, entry) in map.iter_mut() {
                let Some(digest) = key
                    .strip_prefix(&self.prefix)
                    .and_then(|d| d.parse::<Digest>().ok())
                    .filter(&wanted)
                else {
                    continue;
                };
                if entry
                    .owner
                    .as_deref()
                    .is_some_and(|o| live_mark::alive(dir, o))
                {
                    continue;
                }
                entry.owner = Some(mine.to_owned());
                taken.push(ResumableUpload {
                    digest,
                    location: entry.location.clone(),
                    committed: entry.committed,
                });
            }
            !taken.is_empty()
        });
        match claimed {
            Ok(()) => taken,
            Err(e) => {
                // Not taken up, so not to be used: another run may take it at the same time.
                warn_once(dir, &e);
                Vec::new()
            }
        }
    }

    /// Records that the session of `digest` is at `committed` bytes.
    pub fn record(&self, digest: &Digest, location: &str, committed: u64) {
        let key = format!("{}{digest}", self.prefix);
        let entry = Entry {
            location: location.to_owned(),
            committed,
            owner: self
                .dir
                .as_deref()
                .and_then(live_mark::mine)
                .map(str::to_owned),
        };
        self.update(|map| map.insert(key, entry.clone()).as_ref() != Some(&entry));
    }

    /// Forgets the session of `digest` (the blob is in the registry now).
    pub fn forget(&self, digest: &Digest) {
        let key = format!("{}{digest}", self.prefix);
        self.update(|map| map.remove(&key).is_some());
    }

    /// Changes the file. Failures only cost the ability to resume, so they are reported
    /// once and otherwise ignored.
    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Entry>) -> bool) {
        let (Some(dir), Some(file)) = (&self.dir, self.file()) else {
            return;
        };
        if let Err(e) = file.update(change) {
            warn_once(dir, &e);
        }
    }
}

/// Says once per process that upload state cannot be kept.
fn warn_once(dir: &std::path::Path, e: &std::io::Error) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        errln!(
            "tug: warning: cannot keep upload state in {}: {e}",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &std::path::Path) -> UploadState {
        UploadState {
            dir: Some(dir.to_owned()),
            prefix: "reg.example/team/app@".into(),
        }
    }

    fn owner_of(dir: &std::path::Path, d: &Digest) -> Option<String> {
        let file = StateFile::new(dir, "uploads");
        let map = file.read::<Entry>();
        map[&format!("reg.example/team/app@{d}")].owner.clone()
    }

    #[test]
    fn sessions_of_running_processes_and_of_other_blobs_are_not_taken_up() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = state(dir.path());
        let (a, b, c) = (
            Digest::sha256_of(b"a"),
            Digest::sha256_of(b"b"),
            Digest::sha256_of(b"c"),
        );
        for d in [&a, &b, &c] {
            uploads.record(
                d,
                &format!("http://reg.example/v2/team/app/blobs/uploads/{d}"),
                7,
            );
        }
        // `c`'s session belongs to a process that still runs (its mark is locked), `b`'s
        // to one that ended.
        let owners = dir.path().join("owners");
        std::fs::create_dir_all(&owners).unwrap();
        let running = std::fs::File::create(owners.join("1-1")).unwrap();
        running.try_lock().unwrap();
        let file = StateFile::new(dir.path(), "uploads");
        file.update(|map: &mut BTreeMap<String, Entry>| {
            for (k, e) in map.iter_mut() {
                e.owner = Some(
                    if k.ends_with(&c.to_string()) {
                        "1-1"
                    } else {
                        "2-2"
                    }
                    .into(),
                );
            }
            true
        })
        .unwrap();

        let taken = uploads.resumable_for(std::slice::from_ref(&b));
        assert_eq!(taken.len(), 1);
        assert_eq!((&taken[0].digest, taken[0].committed), (&b, 7));
        assert_eq!(
            owner_of(dir.path(), &a).as_deref(),
            Some("2-2"),
            "not wanted: left"
        );
        assert_ne!(owner_of(dir.path(), &b).as_deref(), Some("2-2"), "taken up");
        let all = uploads.resumable();
        let digests: Vec<&Digest> = all.iter().map(|r| &r.digest).collect();
        assert_eq!(digests, [&a], "b is this process's now, c a running one's");
        drop(running);
        let all = uploads.resumable();
        assert_eq!(all.len(), 1, "c's process ended: {all:?}");
        assert_eq!(all[0].digest, c);
    }
}
