//! The web page in a real browser: `tug web` serving the page on loopback ([`TugWeb`]), and
//! Debian's chromium driven by playwright-core through `tests/browser/push.mjs`
//! ([`PagePush`]), which pushes a tar from the page and reports what the page shows.
//!
//! Everything is installed by `scripts/install-deps.sh` (chromium, nginx, Node.js and
//! `tests/browser/node_modules`) and `scripts/build-web.sh` (the page, embedded in tug);
//! a missing piece fails with a message naming the script.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::tools::{find_tool, INSTALL_SCRIPT};

/// The chromium the tests drive (Debian package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The script that builds the page into tug.
pub const BUILD_WEB_SCRIPT: &str = "scripts/build-web.sh";
/// `tug web`'s exit code when the binary was built without the page.
pub const WEB_NOT_BUILT: i32 = 6;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `tests/browser`, holding the page driver and its `node_modules`.
pub fn browser_test_dir() -> PathBuf {
    workspace_root().join("tests/browser")
}

/// Where tests put screenshots: `<target dir>/test-artifacts/browser/` (created).
pub fn artifacts_dir() -> PathBuf {
    let root = workspace_root();
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
    let dir = target.join("test-artifacts/browser");
    std::fs::create_dir_all(&dir).expect("create test-artifacts/browser");
    dir
}

/// The tools a browser test needs: node, chromium, playwright-core.
///
/// # Panics
///
/// If one is missing, naming `scripts/install-deps.sh`.
pub fn require_browser_tools() -> PathBuf {
    let node = find_tool("node")
        .unwrap_or_else(|| panic!("Node.js (`node`) not found: install it with {INSTALL_SCRIPT}"));
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} not found: install Debian's chromium with {INSTALL_SCRIPT}"
    );
    let playwright = browser_test_dir().join("node_modules/playwright-core/package.json");
    assert!(
        playwright.is_file(),
        "playwright-core is not installed in tests/browser ({} is missing): run {INSTALL_SCRIPT}",
        playwright.display()
    );
    node
}

/// `tug web --listen 127.0.0.1:0`, killed on drop.
#[derive(Debug)]
pub struct TugWeb {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
}

impl TugWeb {
    /// Starts `tug web` on an ephemeral loopback port and reads the URL it prints.
    ///
    /// # Panics
    ///
    /// If tug was built without the page (the message names `scripts/build-web.sh`), or
    /// does not print a URL within 20 s.
    pub fn start(tug: &Path) -> TugWeb {
        let mut child = Command::new(tug)
            .args(["web", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {} web: {e}", tug.display()));
        let stdout = child.stdout.take().expect("stdout pipe");
        let mut stderr = child.stderr.take().expect("stderr pipe");
        let (url_tx, url_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = url_tx.send(line.trim().to_owned());
        });
        let (err_tx, err_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        let url = url_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_default();
        if url.is_empty() {
            let status = wait_exit(&mut child, Duration::from_secs(5));
            let stderr = err_rx
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_default();
            if status == Some(WEB_NOT_BUILT) {
                panic!(
                    "`tug web` says the page is not built into {}: run {BUILD_WEB_SCRIPT}, then \
                     cargo build -p tug\n{stderr}",
                    tug.display()
                );
            }
            let _ = child.kill();
            panic!("`tug web` printed no URL (exit {status:?}):\n{stderr}");
        }
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "unexpected URL from tug web: {url}"
        );
        TugWeb {
            child,
            url,
            stderr: err_rx,
        }
    }

    /// The page's URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The page's origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    /// What tug wrote on stderr, once it has stopped.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default()
    }
}

impl Drop for TugWeb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One push from the page, driven by `tests/browser/push.mjs`.
#[derive(Debug, Clone)]
pub struct PagePush {
    env: Vec<(String, OsString)>,
    timeout: Duration,
}

impl PagePush {
    /// Push `tar` from the page at `page_url`, typing `registry_url` and `repository`.
    pub fn new(page_url: &str, tar: &Path, registry_url: &str, repository: &str) -> PagePush {
        PagePush {
            env: vec![
                ("TUG_PAGE_URL".into(), page_url.into()),
                ("TUG_TAR".into(), tar.as_os_str().to_owned()),
                ("TUG_REGISTRY_URL".into(), registry_url.into()),
                ("TUG_REPOSITORY".into(), repository.into()),
                ("TUG_CHROMIUM".into(), CHROMIUM.into()),
            ],
            timeout: Duration::from_secs(300),
        }
    }

    /// Sets one of the driver's environment variables (see `tests/browser/push.mjs`).
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> PagePush {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// How long the push may take on the page (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> PagePush {
        self.timeout = timeout;
        self
    }

    /// Types these credentials.
    pub fn credentials(self, user: &str, password: &str) -> PagePush {
        self.env("TUG_USERNAME", user).env("TUG_PASSWORD", password)
    }

    /// Lets chromium accept the server certificate in this PEM file (its key is pinned).
    pub fn trust_cert(self, pem: &Path) -> PagePush {
        self.env("TUG_TRUST_CERT", pem)
    }

    /// Saves screenshots named `<name>*.png` in [`artifacts_dir`].
    pub fn screenshots(self, name: &str) -> PagePush {
        self.env("TUG_SCREENSHOTS", artifacts_dir())
            .env("TUG_SCREENSHOT_NAME", name)
    }

    /// The driver's environment variables, for running it some other way (e.g. under
    /// `/usr/bin/time`): `node <browser_test_dir>/push.mjs` in [`browser_test_dir`].
    pub fn env_vars(&self) -> Vec<(String, OsString)> {
        let mut vars = self.env.clone();
        vars.push((
            "TUG_TIMEOUT_MS".to_owned(),
            (self.timeout.as_millis() as u64).to_string().into(),
        ));
        vars
    }

    /// Runs the driver and returns its report (what the page showed).
    ///
    /// # Panics
    ///
    /// If a tool is missing (naming the install script), or the driver fails or times out
    /// (with its stderr).
    pub fn run(self) -> Value {
        let node = require_browser_tools();
        let dir = browser_test_dir();
        let mut cmd = Command::new(node);
        cmd.arg(dir.join("push.mjs"))
            .current_dir(&dir)
            .env(
                "TUG_TIMEOUT_MS",
                (self.timeout.as_millis() as u64).to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in self.env_vars() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start node");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let out = thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let limit = self.timeout + Duration::from_secs(90);
        let status = wait_exit(&mut child, limit);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        assert_eq!(
            status,
            Some(0),
            "the browser driver failed (exit {status:?}, limit {limit:?}):\n{stderr}\n{stdout}"
        );
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("the browser driver printed no report:\n{stdout}\n{stderr}"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("report is not JSON ({e}): {line}"))
    }
}
