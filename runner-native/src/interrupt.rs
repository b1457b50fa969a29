//! Ctrl-C, SIGTERM and SIGHUP (a CI job cancelled, a pod evicted, a terminal closed): the
//! first asks the running operation to stop cleanly (it finishes as cancelled, upload
//! sessions kept for the next run, and tug exits with 128 + the signal's number, as the shell
//! reports a process that signal ended); the second exits at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use async_channel::{Receiver, Sender};

use crate::output::errln;

static CHANNEL: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();
static COUNT: AtomicU32 = AtomicU32::new(0);
/// Temporary files removed even when a second signal exits at once.
static TEMPORARY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The number of the first signal that asked to stop (0: none yet).
static FIRST: AtomicI32 = AtomicI32::new(0);

/// A signal that stops tug cleanly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Ctrl-C.
    Int,
    /// `kill`, a CI runner, a container runtime.
    Term,
    /// The terminal went away.
    Hup,
}

impl Stop {
    /// The POSIX signal number (the same on every Unix tug runs on).
    fn number(self) -> i32 {
        match self {
            Stop::Hup => 1,
            Stop::Int => 2,
            Stop::Term => 15,
        }
    }

    fn from_number(n: i32) -> Option<Stop> {
        [Stop::Hup, Stop::Int, Stop::Term]
            .into_iter()
            .find(|s| s.number() == n)
    }

    /// What is said when it asks to stop.
    fn said(self) -> &'static str {
        match self {
            Stop::Int => "interrupted",
            Stop::Term => "terminated (SIGTERM)",
            Stop::Hup => "hung up (SIGHUP)",
        }
    }
}

fn channel() -> &'static (Sender<()>, Receiver<()>) {
    CHANNEL.get_or_init(|| async_channel::bounded(1))
}

/// Installs the handlers (once, at start). On Windows, Ctrl-C, Ctrl-Break and closing the
/// console window all come through `ctrlc` and stop as Ctrl-C does.
pub fn install() {
    let _ = ctrlc::set_handler(|| stop(Stop::Int));
    #[cfg(unix)]
    watch_termination();
}

/// SIGTERM and SIGHUP, on a thread of their own (`ctrlc` cannot tell them from Ctrl-C). A
/// file-size limit (`ulimit -f`) is caught too, so that a write past it fails with `EFBIG`
/// (an error naming the file, temporary files removed) instead of SIGXFSZ killing tug
/// without a word.
#[cfg(unix)]
fn watch_termination() {
    use async_signal::{Signal, Signals};
    use futures_lite::StreamExt as _;
    let Ok(mut signals) = Signals::new([Signal::Term, Signal::Hup, Signal::Xfsz]) else {
        return;
    };
    std::thread::spawn(move || {
        smol::block_on(async {
            while let Some(Ok(signal)) = signals.next().await {
                let stop_as = match signal {
                    Signal::Hup => Stop::Hup,
                    Signal::Xfsz => continue,
                    _ => Stop::Term,
                };
                stop(stop_as);
            }
        })
    });
}

/// The first signal asks for a clean stop; the second exits at once.
fn stop(signal: Stop) {
    if COUNT.fetch_add(1, Ordering::SeqCst) >= 1 {
        errln!("\ntug: {} again, exiting now", signal.said());
        for path in TEMPORARY.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = std::fs::remove_file(path);
        }
        std::process::exit(exit_code());
    }
    FIRST.store(signal.number(), Ordering::SeqCst);
    let again = match signal {
        Stop::Int => "Ctrl-C again to exit at once",
        _ => "a second signal exits at once",
    };
    errln!("\ntug: {}, stopping ({again})", signal.said());
    // Closed, not sent to: every operation waiting on it stops (a sync runs several).
    channel().0.close();
}

/// The exit code of a stop: 128 + the number of the signal that asked for it (130 for
/// Ctrl-C, 143 for SIGTERM, 129 for SIGHUP); Ctrl-C's when the cancellation came otherwise.
pub fn exit_code() -> i32 {
    let signal = Stop::from_number(FIRST.load(Ordering::SeqCst)).unwrap_or(Stop::Int);
    128 + signal.number()
}

/// Removes `path` if a second signal exits at once while this lives (a temporary file a
/// drop would otherwise have removed).
pub struct RemovedOnExit(PathBuf);

impl RemovedOnExit {
    pub fn new(path: &Path) -> RemovedOnExit {
        let mut temporary = TEMPORARY.lock().unwrap_or_else(|e| e.into_inner());
        temporary.push(path.to_owned());
        RemovedOnExit(path.to_owned())
    }
}

impl Drop for RemovedOnExit {
    fn drop(&mut self) {
        let mut temporary = TEMPORARY.lock().unwrap_or_else(|e| e.into_inner());
        temporary.retain(|p| p != &self.0);
    }
}

/// Whether a stop was asked for (for work done outside the driving loop).
pub fn requested() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// Resolves when a stop was asked for, in every task waiting for it.
pub async fn interrupted() {
    let _ = channel().1.recv().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_exits_with_the_code_a_shell_gives_it() {
        let codes: Vec<i32> = [Stop::Int, Stop::Term, Stop::Hup]
            .iter()
            .map(|s| 128 + s.number())
            .collect();
        assert_eq!(codes, [130, 143, 129]);
        for s in [Stop::Int, Stop::Term, Stop::Hup] {
            assert_eq!(Stop::from_number(s.number()), Some(s));
        }
    }
}
