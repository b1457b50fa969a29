//! Running the `tug` binary built in this workspace.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The `tug` binary under test: `$TUG_BIN` if set, else `<target dir>/debug/tug`, where the
/// target dir is `$CARGO_TARGET_DIR` or `<workspace root>/target`.
///
/// # Panics
///
/// If the binary does not exist (build it with `cargo build -p tug`; `scripts/test.sh` does).
pub fn tug_bin() -> PathBuf {
    let path = match std::env::var_os("TUG_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let target = match std::env::var_os("CARGO_TARGET_DIR") {
                Some(dir) => {
                    let dir = PathBuf::from(dir);
                    if dir.is_absolute() {
                        dir
                    } else {
                        root.join(dir)
                    }
                }
                None => root.join("target"),
            };
            target.join("debug").join("tug")
        }
    };
    assert!(
        path.is_file(),
        "tug binary not found at {}: build it with `cargo build -p tug` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// What a finished `tug` run produced.
#[derive(Debug, Clone)]
pub struct TugOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// The exit code; `None` if tug was killed by a signal (including by the timeout).
    pub code: Option<i32>,
    /// Everything tug wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything tug wrote to standard error.
    pub stderr: Vec<u8>,
    /// Whether the run was killed because it exceeded [`Tug::timeout`].
    pub timed_out: bool,
}

impl TugOutput {
    /// Standard output as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Whether tug exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Returns `self` if tug exited 0.
    ///
    /// # Panics
    ///
    /// Otherwise, with the exit code, stdout and stderr in the message.
    #[track_caller]
    pub fn assert_success(self) -> Self {
        assert!(self.success(), "tug failed: {self}");
        self
    }

    /// Returns `self` if tug exited with `code`.
    ///
    /// # Panics
    ///
    /// Otherwise, with the exit code, stdout and stderr in the message.
    #[track_caller]
    pub fn assert_code(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "unexpected tug exit code: {self}");
        self
    }
}

impl std::fmt::Display for TugOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status,
            if self.timed_out {
                " (killed: timed out)"
            } else {
                ""
            },
            self.stdout_str().trim_end(),
            self.stderr_str().trim_end()
        )
    }
}

/// The wait before a first retry in tests' runs (`TUG_RETRY_DELAY`): a quarter of the
/// default, so five attempts span about 2–4 s.
pub const TEST_RETRY_DELAY: &str = "250ms";

/// Builder for one `tug` run: `Tug::new().args([...]).env(k, v).stdin(bytes).run()`.
///
/// The environment is inherited unless changed with [`Tug::env`], [`Tug::env_remove`] or
/// [`Tug::env_clear`], except what would make a run depend on whoever runs the tests: no
/// `TUG_*` variable is inherited (a developer's `TUG_COMPRESS` or `TUG_CONFIG`), and
/// `TUG_STATE_DIR` and `XDG_CONFIG_HOME` point into a temporary directory of this run's own
/// (history, upload sessions and compressed digests there; no config file), so tests never
/// read a user's config nor write into their state, nor see each other's; a test that
/// needs state across runs sets it. Retries start after [`TEST_RETRY_DELAY`], not the
/// default second, so the many tests that meet a fault or two do not wait out real backoffs
/// (the default's span is the core's unit test; `retries::` runs it for real). The
/// directory goes with the `Tug`: keep it alive while
/// a process from [`Tug::command`] runs. Runs are killed after [`Tug::timeout`] (default
/// 300 s).
#[derive(Debug)]
pub struct Tug {
    bin: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    current_dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    /// Holds the default state directory.
    _scratch: tempfile::TempDir,
}

impl Default for Tug {
    fn default() -> Self {
        Self::new()
    }
}

impl Tug {
    /// A run of [`tug_bin`] with no arguments.
    ///
    /// # Panics
    ///
    /// If the binary has not been built.
    pub fn new() -> Self {
        Self::with_bin(tug_bin())
    }

    /// A run of the given binary (for wrappers around tug).
    pub fn with_bin(bin: impl Into<PathBuf>) -> Self {
        let scratch = tempfile::Builder::new()
            .prefix("tug-run-")
            .tempdir()
            .expect("a temporary directory for tug's state");
        let own = |name: &str| Some(scratch.path().join(name).into_os_string());
        Self {
            bin: bin.into(),
            args: Vec::new(),
            env: vec![
                ("TUG_STATE_DIR".into(), own("state")),
                ("XDG_CONFIG_HOME".into(), own("config")),
                ("TUG_RETRY_DELAY".into(), Some(TEST_RETRY_DELAY.into())),
            ],
            env_clear: false,
            current_dir: None,
            stdin: None,
            timeout: Duration::from_secs(300),
            _scratch: scratch,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts from an empty environment (variables set with [`Tug::env`] still apply).
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    /// Runs tug in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Feeds `bytes` to standard input (which is otherwise empty / `/dev/null`).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills tug if it has not finished after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The configured [`Command`], for tests that need to drive the process themselves
    /// (e.g. kill it mid-push). Standard streams are left at their defaults.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args);
        if self.env_clear {
            cmd.env_clear();
        }
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("TUG_")) {
                cmd.env_remove(key);
            }
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs tug with `cut` going into a pipe whose reader goes away, as `tug … | head -1`
    /// does: before tug starts, or once it has read one line. The other stream is collected.
    /// tug is killed after [`Tug::timeout`] (a hang detector).
    ///
    /// # Panics
    ///
    /// If the process or a pipe cannot be made.
    pub fn run_cut(self, cut: Cut, when: CutWhen) -> CutOutput {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null());
        let (reader, writer) = std::io::pipe().expect("a pipe");
        let mut reader = match when {
            CutWhen::Before => {
                drop(reader);
                None
            }
            CutWhen::AfterLine => Some(reader),
        };
        match cut {
            Cut::Stdout => cmd.stdout(writer).stderr(Stdio::piped()),
            Cut::Stderr => cmd.stderr(writer).stdout(Stdio::piped()),
            Cut::Both => cmd
                .stdout(writer.try_clone().expect("a second write end"))
                .stderr(writer),
        };
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {}: {e}", self.bin.display()));
        // The write ends now belong to tug alone: the pipe ends when tug does.
        drop(cmd);
        let first_line = thread::spawn(move || {
            let mut line = Vec::new();
            if let Some(pipe) = reader.as_mut() {
                let mut byte = [0u8];
                while line.last() != Some(&b'\n') && matches!(pipe.read(&mut byte), Ok(1)) {
                    line.push(byte[0]);
                }
            }
            // Dropping the read end closes the pipe under tug.
            drop(reader);
            line
        });
        let other = child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
            .or_else(|| {
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>)
            });
        let other = other.map(|mut pipe| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        });
        let pid = child.id();
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = thread::spawn(move || {
            let status = child.wait().expect("wait for tug");
            let _ = done_tx.send(());
            status
        });
        let timed_out = done_rx.recv_timeout(self.timeout).is_err();
        if timed_out {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let status = waiter.join().expect("tug waiter");
        CutOutput {
            status,
            code: status.code(),
            first_line: first_line.join().expect("first line reader"),
            other: other
                .map(|t| t.join().expect("output reader"))
                .unwrap_or_default(),
            timed_out,
        }
    }

    /// Runs tug to completion (or until the timeout) and collects its output.
    ///
    /// # Panics
    ///
    /// If the process cannot be started.
    pub fn run(self) -> TugOutput {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {}: {e}", self.bin.display()));

        let stdin_thread = match (child.stdin.take(), self.stdin) {
            (Some(mut pipe), Some(bytes)) => Some(thread::spawn(move || {
                // tug may exit without reading everything; a broken pipe is its business.
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let stdout = read_in_thread(child.stdout.take().expect("stdout pipe"), done_tx.clone());
        let stderr = read_in_thread(child.stderr.take().expect("stderr pipe"), done_tx);

        // Both pipes reach EOF when tug exits (unless it left children holding them).
        let mut timed_out = false;
        let deadline = std::time::Instant::now() + self.timeout;
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                timed_out = true;
                let _ = child.kill();
                break;
            }
        }
        let status = child.wait().expect("wait for tug");
        if let Some(t) = stdin_thread {
            let _ = t.join();
        }
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        TugOutput {
            status,
            code: status.code(),
            stdout,
            stderr,
            timed_out,
        }
    }
}

/// Which of tug's streams [`Tug::run_cut`] sends into a pipe whose reader goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// `tug … | head -1`.
    Stdout,
    /// `tug … 2>&1 >/dev/null | head -1`, with stdout collected.
    Stderr,
    /// `tug … 2>&1 | head -1`: both into the same pipe.
    Both,
}

/// When the reader of a [`Cut`] pipe goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutWhen {
    /// Before tug starts: its first write there fails.
    Before,
    /// Once it has read one line (or the end, if tug writes no whole line).
    AfterLine,
}

/// What a [`Tug::run_cut`] run produced.
#[derive(Debug)]
pub struct CutOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// The exit code; `None` if tug was killed by a signal (including by the timeout).
    pub code: Option<i32>,
    /// What the reader read before going away (nothing with [`CutWhen::Before`]).
    pub first_line: Vec<u8>,
    /// Everything tug wrote to the stream that was not cut (nothing with [`Cut::Both`]).
    pub other: Vec<u8>,
    /// Whether tug was killed because it exceeded [`Tug::timeout`].
    pub timed_out: bool,
}

impl std::fmt::Display for CutOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}\n--- read before the cut:\n{}\n--- the other stream:\n{}",
            self.status,
            if self.timed_out {
                " (killed: timed out, a hang)"
            } else {
                ""
            },
            String::from_utf8_lossy(&self.first_line).trim_end(),
            String::from_utf8_lossy(&self.other).trim_end()
        )
    }
}

fn read_in_thread(
    mut pipe: impl Read + Send + 'static,
    done: mpsc::Sender<()>,
) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = done.send(());
        buf
    })
}
