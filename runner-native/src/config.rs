//! Settings: built-in defaults, overridden by the config file, overridden by environment
//! variables, overridden by flags. Resolved once per command; each value remembers where it
//! came from, for `tug config` and `-v`.
//!
//! The config file is `$TUG_CONFIG`, else `$XDG_CONFIG_HOME/tug/config.toml`, else
//! `~/.config/tug/config.toml`:
//!
//! ```toml
//! jobs = 8
//! retries = 5
//! retry_max_wait = 600     # seconds
//! chunk_size = 67108864    # bytes
//! monolithic_max = 67108864
//! progress = "plain"       # auto, tty, plain, json, none
//! connect_timeout = 30     # seconds
//! stall_timeout = 60
//! adaptive = true          # false: always --jobs blobs in flight (--fixed-jobs)
//! compress = "zstd"        # push: none, gzip, zstd
//! compress_level = 3       # gzip 1-9, zstd 1-19
//!
//! [registries."registry.example.com:5000"]
//! ca_file = "certs/ca.pem" # relative to the config file
//! insecure = false
//! plain_http = false
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use tug_core::{Reference, Scheme};

use crate::compress::codec::{Codec, CompressChoice};
use crate::credentials::CredentialArgs;
use crate::exit_code::CliError;
use crate::progress::ProgressMode;
use crate::transport::TlsOptions;

/// How to reach and authenticate to a registry: the flags every registry command has.
#[derive(clap::Args, Debug, Default)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// Trust the CA certificates in this PEM file instead of the system's.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the registry's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Use plain HTTP. Without it, HTTPS is used, and for localhost / 127.0.0.0/8 plain HTTP
    /// is tried when the registry turns out not to speak TLS.
    #[arg(long)]
    pub plain_http: bool,
    /// Seconds to wait for a connection (0: no limit) [default: 30].
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    /// Seconds without a byte moving before a request counts as failed and is retried
    /// (0: no limit) [default: 60].
    #[arg(long, value_name = "SECS")]
    pub stall_timeout: Option<u64>,
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built in.
    Default,
    /// The config file, at a line.
    File { path: PathBuf, line: usize },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "file {}:{line}", path.display()),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

impl Origin {
    fn json(&self) -> serde_json::Value {
        match self {
            Origin::Default => serde_json::json!({"source": "default"}),
            Origin::File { path, line } => {
                serde_json::json!({"source": "file", "file": path, "line": line})
            }
            Origin::Env(var) => serde_json::json!({"source": "env", "var": var}),
            Origin::Flag(flag) => serde_json::json!({"source": "flag", "flag": flag}),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn default(value: T) -> Setting<T> {
        Setting {
            value,
            origin: Origin::Default,
        }
    }

    /// Takes `flag`'s value when it was given.
    pub fn flag(&mut self, value: Option<T>, flag: &'static str) {
        if let Some(value) = value {
            *self = Setting {
                value,
                origin: Origin::Flag(flag),
            };
        }
    }
}

/// The settings of one registry (from its `[registries."host"]` table and the flags).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrySettings {
    pub ca_file: Setting<Option<PathBuf>>,
    pub insecure: Setting<bool>,
    pub plain_http: Setting<bool>,
    /// A registry (`host[:port]`) to pull this one's images from first.
    pub mirror: Setting<Option<String>>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            ca_file: Setting::default(None),
            insecure: Setting::default(false),
            plain_http: Setting::default(false),
            mirror: Setting::default(None),
        }
    }
}

/// Every setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The config file looked for, and whether it exists.
    pub file: Option<PathBuf>,
    pub file_found: bool,
    pub jobs: Setting<u16>,
    pub retries: Setting<u32>,
    pub retry_max_wait: Setting<Option<u64>>,
    pub chunk_size: Setting<u64>,
    pub monolithic_max: Setting<u64>,
    pub progress: Setting<ProgressMode>,
    pub connect_timeout: Setting<u64>,
    pub stall_timeout: Setting<u64>,
    /// Adapt the blobs in flight to the throughput (else always `jobs`).
    pub adaptive: Setting<bool>,
    /// Push: compress plain layers with this.
    pub compress: Setting<Option<Codec>>,
    /// Its level (the codec's default when `None`).
    pub compress_level: Setting<Option<i32>>,
    /// Per-registry tables of the config file, by the name they were given.
    pub registries: BTreeMap<String, RegistrySettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            file: None,
            file_found: false,
            jobs: Setting::default(4),
            retries: Setting::default(5),
            retry_max_wait: Setting::default(None),
            chunk_size: Setting::default(64 << 20),
            monolithic_max: Setting::default(64 << 20),
            progress: Setting::default(ProgressMode::Auto),
            connect_timeout: Setting::default(30),
            stall_timeout: Setting::default(60),
            adaptive: Setting::default(true),
            compress: Setting::default(None),
            compress_level: Setting::default(None),
            registries: BTreeMap::new(),
        }
    }
}

/// The config file as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    jobs: Option<Spanned<i64>>,
    retries: Option<Spanned<i64>>,
    retry_max_wait: Option<Spanned<i64>>,
    chunk_size: Option<Spanned<i64>>,
    monolithic_max: Option<Spanned<i64>>,
    progress: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<i64>>,
    stall_timeout: Option<Spanned<i64>>,
    adaptive: Option<Spanned<bool>>,
    compress: Option<Spanned<String>>,
    compress_level: Option<Spanned<i64>>,
    #[serde(default)]
    registries: BTreeMap<String, FileRegistry>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRegistry {
    ca_file: Option<Spanned<String>>,
    insecure: Option<Spanned<bool>>,
    plain_http: Option<Spanned<bool>>,
    mirror: Option<Spanned<String>>,
}

/// The config file's path: `$TUG_CONFIG`, `$XDG_CONFIG_HOME/tug/config.toml`,
/// `~/.config/tug/config.toml`; and whether it was named explicitly.
fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = var("TUG_CONFIG") {
        return Some((p, true));
    }
    var("XDG_CONFIG_HOME")
        .map(|d| d.join("tug/config.toml"))
        .or_else(|| var("HOME").map(|h| h.join(".config/tug/config.toml")))
        .map(|p| (p, false))
}

impl Settings {
    /// Defaults, the config file and the environment of this process.
    pub fn load() -> Result<Settings, CliError> {
        Settings::load_with(&|k| std::env::var(k).ok())
    }

    /// Defaults, the config file and the environment `env` describes.
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, CliError> {
        let mut s = Settings::default();
        if let Some((path, explicit)) = config_path(env) {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    s.apply_file(&path, &text)?;
                    s.file_found = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
                Err(e) => {
                    return Err(CliError::Input(format!(
                        "config file {} (from TUG_CONFIG): {e}",
                        path.display()
                    )))
                }
            }
            s.file = Some(path);
        }
        s.apply_env(env)?;
        Ok(s)
    }

    /// Applies a config file's text.
    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), CliError> {
        let bad = |line: usize, key: &str, problem: String| {
            CliError::Input(format!(
                "config file {}:{line}: {key}: {problem}",
                path.display()
            ))
        };
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |r| r.start);
            let key = key_at(text, at)
                .map(|k| format!("{k}: "))
                .unwrap_or_default();
            CliError::Input(format!(
                "config file {}:{}: {key}{}",
                path.display(),
                line_of(text, at),
                e.message().trim_end()
            ))
        })?;
        let origin = |span: std::ops::Range<usize>| Origin::File {
            path: path.to_owned(),
            line: line_of(text, span.start),
        };
        fn int<T: TryFrom<i64>>(
            v: &Option<Spanned<i64>>,
            key: &str,
            min: i64,
            max: i64,
            text: &str,
            bad: &dyn Fn(usize, &str, String) -> CliError,
        ) -> Result<Option<(T, std::ops::Range<usize>)>, CliError> {
            let Some(v) = v else { return Ok(None) };
            let n = *v.get_ref();
            let line = line_of(text, v.span().start);
            if n < min || n > max {
                return Err(bad(
                    line,
                    key,
                    format!("{n} is out of range ({min} to {max})"),
                ));
            }
            let n = T::try_from(n).map_err(|_| bad(line, key, format!("{n} is out of range")))?;
            Ok(Some((n, v.span())))
        }
        let big = i64::MAX;
        if let Some((n, span)) = int(&file.jobs, "jobs", 1, 64, text, &bad)? {
            self.jobs = Setting {
                value: n,
                origin: origin(span),
            };
        }
        if let Some((n, span)) = int(&file.retries, "retries", 1, 1000, text, &bad)? {
            self.retries = Setting {
                value: n,
                origin: origin(span),
            };
        }
        if let Some((n, span)) =
            int::<u64>(&file.retry_max_wait, "retry_max_wait", 0, big, text, &bad)?
        {
            self.retry_max_wait = Setting {
                value: Some(n),
                origin: origin(span),
            };
        }
        if let Some((n, span)) = int(&file.chunk_size, "chunk_size", 1, big, text, &bad)? {
            self.chunk_size = Setting {
                value: n,
                origin: origin(span),
            };
        }
        if let Some((n, span)) = int(&file.monolithic_max, "monolithic_max", 0, big, text, &bad)? {
            self.monolithic_max = Setting {
                value: n,
                origin: origin(span),
            };
        }
        if let Some((n, span)) = int(&file.connect_timeout, "connect_timeout", 0, big, text, &bad)?
        {
            self.connect_timeout = Setting {
                value: n,
                origin: origin(span),
            };
        }
        if let Some((n, span)) = int(&file.stall_timeout, "stall_timeout", 0, big, text, &bad)? {
            self.stall_timeout = Setting {
                value: n,
                origin: origin(span),
            };
        }
        if let Some(p) = &file.progress {
            let mode = parse_progress(p.get_ref())
                .map_err(|problem| bad(line_of(text, p.span().start), "progress", problem))?;
            self.progress = Setting {
                value: mode,
                origin: origin(p.span()),
            };
        }
        if let Some(v) = &file.adaptive {
            self.adaptive = Setting {
                value: *v.get_ref(),
                origin: origin(v.span()),
            };
        }
        if let Some(c) = &file.compress {
            let codec = parse_compress(c.get_ref())
                .map_err(|problem| bad(line_of(text, c.span().start), "compress", problem))?;
            self.compress = Setting {
                value: codec,
                origin: origin(c.span()),
            };
        }
        if let Some((n, span)) = int(&file.compress_level, "compress_level", 1, 19, text, &bad)? {
            self.compress_level = Setting {
                value: Some(n),
                origin: origin(span),
            };
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for (name, r) in file.registries {
            let mut reg = RegistrySettings::default();
            if let Some(ca) = &r.ca_file {
                let p = base.join(ca.get_ref());
                if !p.is_file() {
                    return Err(bad(
                        line_of(text, ca.span().start),
                        &format!("registries.\"{name}\".ca_file"),
                        format!("{} is not a file", p.display()),
                    ));
                }
                reg.ca_file = Setting {
                    value: Some(p),
                    origin: origin(ca.span()),
                };
            }
            if let Some(v) = &r.insecure {
                reg.insecure = Setting {
                    value: *v.get_ref(),
                    origin: origin(v.span()),
                };
            }
            if let Some(m) = &r.mirror {
                let host = m.get_ref();
                let valid = format!("{host}/x")
                    .parse::<Reference>()
                    .is_ok_and(|r| &r.registry == host);
                if !valid {
                    return Err(bad(
                        line_of(text, m.span().start),
                        &format!("registries.\"{name}\".mirror"),
                        format!("{host:?} is not a registry host[:port]"),
                    ));
                }
                reg.mirror = Setting {
                    value: Some(host.clone()),
                    origin: origin(m.span()),
                };
            }
            if let Some(v) = &r.plain_http {
                reg.plain_http = Setting {
                    value: *v.get_ref(),
                    origin: origin(v.span()),
                };
            }
            self.registries.insert(name, reg);
        }
        Ok(())
    }

    /// Applies the environment variables of [`ENV_VARS`].
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), CliError> {
        fn num<T: std::str::FromStr>(
            env: &dyn Fn(&str) -> Option<String>,
            var: &'static str,
            ok: impl Fn(&T) -> bool,
            range: &str,
        ) -> Result<Option<Setting<T>>, CliError> {
            let Some(text) = env(var).filter(|v| !v.trim().is_empty()) else {
                return Ok(None);
            };
            match text.trim().parse::<T>() {
                Ok(n) if ok(&n) => Ok(Some(Setting {
                    value: n,
                    origin: Origin::Env(var),
                })),
                _ => Err(CliError::Input(format!(
                    "environment variable {var}={text:?}: expected {range}"
                ))),
            }
        }
        let any = |_: &u64| true;
        if let Some(s) = num(
            env,
            "TUG_JOBS",
            |n: &u16| (1..=64).contains(n),
            "a number from 1 to 64",
        )? {
            self.jobs = s;
        }
        if let Some(s) = num(
            env,
            "TUG_RETRIES",
            |n: &u32| (1..=1000).contains(n),
            "a number from 1 to 1000",
        )? {
            self.retries = s;
        }
        if let Some(s) = num(env, "TUG_RETRY_MAX_WAIT", any, "a number of seconds")? {
            self.retry_max_wait = Setting {
                value: Some(s.value),
                origin: s.origin,
            };
        }
        if let Some(s) = num(
            env,
            "TUG_CHUNK_SIZE",
            |n: &u64| *n > 0,
            "a number of bytes above 0",
        )? {
            self.chunk_size = s;
        }
        if let Some(s) = num(env, "TUG_MONOLITHIC_MAX", any, "a number of bytes")? {
            self.monolithic_max = s;
        }
        if let Some(s) = num(env, "TUG_CONNECT_TIMEOUT", any, "a number of seconds")? {
            self.connect_timeout = s;
        }
        if let Some(s) = num(env, "TUG_STALL_TIMEOUT", any, "a number of seconds")? {
            self.stall_timeout = s;
        }
        if let Some(s) = num(env, "TUG_ADAPTIVE", |_: &bool| true, "true or false")? {
            self.adaptive = s;
        }
        if let Some(text) = env("TUG_COMPRESS").filter(|v| !v.trim().is_empty()) {
            let codec = parse_compress(text.trim()).map_err(|problem| {
                CliError::Input(format!(
                    "environment variable TUG_COMPRESS={text:?}: {problem}"
                ))
            })?;
            self.compress = Setting {
                value: codec,
                origin: Origin::Env("TUG_COMPRESS"),
            };
        }
        if let Some(s) = num(
            env,
            "TUG_COMPRESS_LEVEL",
            |n: &i32| (1..=19).contains(n),
            "a number from 1 to 19",
        )? {
            self.compress_level = Setting {
                value: Some(s.value),
                origin: s.origin,
            };
        }
        if let Some(text) = env("TUG_PROGRESS").filter(|v| !v.trim().is_empty()) {
            let mode = parse_progress(text.trim()).map_err(|problem| {
                CliError::Input(format!(
                    "environment variable TUG_PROGRESS={text:?}: {problem}"
                ))
            })?;
            self.progress = Setting {
                value: mode,
                origin: Origin::Env("TUG_PROGRESS"),
            };
        }
        Ok(())
    }

    /// The settings for `registry` (a `host[:port]` as in a reference): its config table,
    /// then the flags (which apply to every registry).
    pub fn registry(&self, registry: &str, flags: &RegistryArgs) -> RegistrySettings {
        let mut r = self
            .registries
            .iter()
            .find(|(name, _)| crate::credentials::registry_matches(name, registry))
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        r.ca_file.flag(flags.ca_file.clone().map(Some), "--ca-file");
        r.insecure
            .flag(flags.insecure.then_some(true), "--insecure");
        r.plain_http
            .flag(flags.plain_http.then_some(true), "--plain-http");
        r
    }

    /// How to reach `r`: TLS options and the scheme (plain HTTP when configured; for
    /// loopback registries HTTPS, then plain HTTP if the registry does not speak TLS).
    pub fn reach(&self, r: &Reference, flags: &RegistryArgs) -> (TlsOptions, Scheme) {
        let reg = self.registry(&r.registry, flags);
        let scheme = if reg.plain_http.value {
            Scheme::Http
        } else if r.is_loopback() {
            Scheme::HttpsThenHttp
        } else {
            Scheme::Https
        };
        let tls = TlsOptions {
            ca_file: reg.ca_file.value,
            insecure: reg.insecure.value,
            connect_timeout: Duration::from_secs(self.connect_timeout.value),
            stall_timeout: Duration::from_secs(self.stall_timeout.value),
        };
        (tls, scheme)
    }

    /// How long a response body read into memory (a manifest, an error, a token) may take
    /// after its head: `--stall-timeout` bounds it as a whole too (0: no deadline).
    pub fn body_deadline(&self) -> Duration {
        Duration::from_secs(self.stall_timeout.value)
    }

    /// Where to pull `r` from first: the same repository and reference on the mirror of
    /// `r`'s registry, when its table names one.
    pub fn mirror_for(&self, r: &Reference, flags: &RegistryArgs) -> Option<Reference> {
        let mirror = self.registry(&r.registry, flags).mirror.value?;
        let mut m = r.clone();
        m.registry = mirror;
        Some(m)
    }

    /// Applies the flags every registry command has.
    pub fn registry_flags(&mut self, flags: &RegistryArgs) {
        self.connect_timeout
            .flag(flags.connect_timeout, "--connect-timeout");
        self.stall_timeout
            .flag(flags.stall_timeout, "--stall-timeout");
    }

    /// The settings as `(name, value, origin)` rows.
    fn rows(&self) -> Vec<(&'static str, String, &Origin)> {
        let opt = |v: &Option<u64>| v.map_or_else(|| "none".to_owned(), |n| n.to_string());
        vec![
            ("jobs", self.jobs.value.to_string(), &self.jobs.origin),
            (
                "retries",
                self.retries.value.to_string(),
                &self.retries.origin,
            ),
            (
                "retry_max_wait",
                opt(&self.retry_max_wait.value),
                &self.retry_max_wait.origin,
            ),
            (
                "chunk_size",
                self.chunk_size.value.to_string(),
                &self.chunk_size.origin,
            ),
            (
                "monolithic_max",
                self.monolithic_max.value.to_string(),
                &self.monolithic_max.origin,
            ),
            (
                "progress",
                progress_name(self.progress.value).to_owned(),
                &self.progress.origin,
            ),
            (
                "connect_timeout",
                self.connect_timeout.value.to_string(),
                &self.connect_timeout.origin,
            ),
            (
                "stall_timeout",
                self.stall_timeout.value.to_string(),
                &self.stall_timeout.origin,
            ),
            (
                "adaptive",
                self.adaptive.value.to_string(),
                &self.adaptive.origin,
            ),
            (
                "compress",
                compress_name(self.compress.value).to_owned(),
                &self.compress.origin,
            ),
            (
                "compress_level",
                self.compress_level
                    .value
                    .map_or_else(|| "default".to_owned(), |n| n.to_string()),
                &self.compress_level.origin,
            ),
        ]
    }

    /// Applies `--fixed-jobs` / `--adaptive`.
    pub fn concurrency_flags(&mut self, fixed_jobs: bool, adaptive: bool) {
        self.adaptive
            .flag(fixed_jobs.then_some(false), "--fixed-jobs");
        self.adaptive.flag(adaptive.then_some(true), "--adaptive");
    }

    /// One line for `-v`: every general setting and its origin.
    pub fn summary(&self) -> String {
        self.rows()
            .iter()
            .map(|(k, v, o)| format!("{k}={v} ({o})"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What `tug config` prints.
    pub fn text(&self) -> String {
        let mut out = String::new();
        match (&self.file, self.file_found) {
            (Some(p), true) => out.push_str(&format!("# config file: {}\n", p.display())),
            (Some(p), false) => {
                out.push_str(&format!("# config file: {} (not found)\n", p.display()))
            }
            (None, _) => out.push_str("# config file: none (no HOME)\n"),
        }
        for (k, v, o) in self.rows() {
            let v = if k == "progress" || k == "compress" {
                format!("\"{v}\"")
            } else {
                v
            };
            out.push_str(&format!("{:<28} # {o}\n", format!("{k} = {v}")));
        }
        for (name, r) in &self.registries {
            out.push_str(&format!("\n[registries.\"{name}\"]\n"));
            let ca = r
                .ca_file
                .value
                .as_ref()
                .map_or_else(|| "none".to_owned(), |p| format!("\"{}\"", p.display()));
            for (k, v, o) in [
                ("ca_file", ca, &r.ca_file.origin),
                ("insecure", r.insecure.value.to_string(), &r.insecure.origin),
                (
                    "plain_http",
                    r.plain_http.value.to_string(),
                    &r.plain_http.origin,
                ),
                (
                    "mirror",
                    r.mirror
                        .value
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), |m| format!("\"{m}\"")),
                    &r.mirror.origin,
                ),
            ] {
                out.push_str(&format!("{:<28} # {o}\n", format!("{k} = {v}")));
            }
        }
        out
    }

    /// What `tug config --json` prints.
    pub fn json(&self) -> serde_json::Value {
        let entry = |v: serde_json::Value, o: &Origin| {
            let mut e = o.json();
            e["value"] = v;
            e
        };
        let mut settings = serde_json::Map::new();
        settings.insert(
            "jobs".into(),
            entry(self.jobs.value.into(), &self.jobs.origin),
        );
        settings.insert(
            "retries".into(),
            entry(self.retries.value.into(), &self.retries.origin),
        );
        settings.insert(
            "retry_max_wait".into(),
            entry(
                self.retry_max_wait.value.into(),
                &self.retry_max_wait.origin,
            ),
        );
        settings.insert(
            "chunk_size".into(),
            entry(self.chunk_size.value.into(), &self.chunk_size.origin),
        );
        settings.insert(
            "monolithic_max".into(),
            entry(
                self.monolithic_max.value.into(),
                &self.monolithic_max.origin,
            ),
        );
        settings.insert(
            "progress".into(),
            entry(
                progress_name(self.progress.value).into(),
                &self.progress.origin,
            ),
        );
        settings.insert(
            "connect_timeout".into(),
            entry(
                self.connect_timeout.value.into(),
                &self.connect_timeout.origin,
            ),
        );
        settings.insert(
            "stall_timeout".into(),
            entry(self.stall_timeout.value.into(), &self.stall_timeout.origin),
        );
        settings.insert(
            "adaptive".into(),
            entry(self.adaptive.value.into(), &self.adaptive.origin),
        );
        settings.insert(
            "compress".into(),
            entry(
                compress_name(self.compress.value).into(),
                &self.compress.origin,
            ),
        );
        settings.insert(
            "compress_level".into(),
            entry(
                serde_json::json!(self.compress_level.value),
                &self.compress_level.origin,
            ),
        );
        let registries: serde_json::Map<String, serde_json::Value> = self
            .registries
            .iter()
            .map(|(name, r)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "ca_file": entry(serde_json::json!(r.ca_file.value), &r.ca_file.origin),
                        "insecure": entry(r.insecure.value.into(), &r.insecure.origin),
                        "plain_http": entry(r.plain_http.value.into(), &r.plain_http.origin),
                        "mirror": entry(serde_json::json!(r.mirror.value), &r.mirror.origin),
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "config_file": self.file,
            "config_file_found": self.file_found,
            "settings": settings,
            "registries": registries,
        })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key on the line at `offset` (`table.key` inside a table), if the line has one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

fn parse_progress(s: &str) -> Result<ProgressMode, String> {
    <ProgressMode as clap::ValueEnum>::from_str(s, true)
        .map_err(|_| format!("{s:?} is not one of auto, tty, plain, json, none"))
}

fn parse_compress(s: &str) -> Result<Option<Codec>, String> {
    <CompressChoice as clap::ValueEnum>::from_str(s, true)
        .map(CompressChoice::codec)
        .map_err(|_| format!("{s:?} is not one of none, gzip, zstd"))
}

fn compress_name(c: Option<Codec>) -> &'static str {
    c.map_or("none", Codec::name)
}

fn progress_name(m: ProgressMode) -> &'static str {
    match m {
        ProgressMode::Auto => "auto",
        ProgressMode::Tty => "tty",
        ProgressMode::Plain => "plain",
        ProgressMode::Json => "json",
        ProgressMode::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Loads settings with a config file holding `toml` and the environment `vars`.
    fn load(toml: &str, vars: &[(&str, &str)]) -> (Result<Settings, CliError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml).unwrap();
        std::fs::write(dir.path().join("ca.pem"), "pem").unwrap();
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("TUG_CONFIG".into(), path.display().to_string());
        let s = Settings::load_with(&|k| env.get(k).cloned());
        (s, dir)
    }

    fn err(toml: &str, vars: &[(&str, &str)]) -> String {
        match load(toml, vars).0 {
            Err(e) => {
                assert_eq!(e.code(), crate::exit_code::INVALID_INPUT, "{e}");
                e.to_string()
            }
            Ok(_) => panic!("no error"),
        }
    }

    fn registry_args() -> RegistryArgs {
        RegistryArgs::default()
    }

    #[test]
    fn defaults_without_a_file() {
        let s = Settings::load_with(&|k| (k == "HOME").then(|| "/nonexistent-home".to_owned()))
            .unwrap();
        assert!(!s.file_found);
        assert_eq!(
            s.file.as_deref(),
            Some(Path::new("/nonexistent-home/.config/tug/config.toml"))
        );
        assert_eq!(s.jobs, Setting::default(4));
        assert_eq!(s.progress.value, ProgressMode::Auto);
        let xdg = Settings::load_with(&|k| match k {
            "HOME" => Some("/h".into()),
            "XDG_CONFIG_HOME" => Some("/x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(xdg.file.as_deref(), Some(Path::new("/x/tug/config.toml")));
    }

    #[test]
    fn default_then_file_then_env_then_flag() {
        let (s, dir) = load(
            "# tuning\njobs = 8\nretries = 7\nprogress = \"plain\"\n\n[registries.\"reg:5000\"]\nca_file = \"ca.pem\"\nplain_http = true\n",
            &[("TUG_RETRIES", "9")],
        );
        let mut s = s.unwrap();
        let file = dir.path().join("config.toml");
        assert_eq!(s.jobs.value, 8);
        assert_eq!(
            s.jobs.origin,
            Origin::File {
                path: file.clone(),
                line: 2
            }
        );
        assert_eq!(s.retries.value, 9);
        assert_eq!(s.retries.origin, Origin::Env("TUG_RETRIES"));
        assert_eq!(s.progress.value, ProgressMode::Plain);
        assert_eq!(s.chunk_size.origin, Origin::Default);
        s.jobs.flag(Some(2), "--jobs");
        s.retries.flag(None, "--retries");
        assert_eq!(
            s.jobs,
            Setting {
                value: 2,
                origin: Origin::Flag("--jobs")
            }
        );
        assert_eq!(s.retries.value, 9);

        assert_eq!(
            s.mirror_for(&"reg:5000/app:1".parse().unwrap(), &registry_args()),
            None
        );
        let r = s.registry("reg:5000", &registry_args());
        assert_eq!(
            r.ca_file.value.as_deref(),
            Some(dir.path().join("ca.pem").as_path())
        );
        assert_eq!(
            r.ca_file.origin,
            Origin::File {
                path: file.clone(),
                line: 7
            }
        );
        assert!(r.plain_http.value);
        assert!(!r.insecure.value);
        // Other registries get nothing from that table; flags apply to all.
        let other = s.registry("other:5000", &registry_args());
        assert_eq!(other, RegistrySettings::default());
        let mut flags = registry_args();
        flags.insecure = true;
        flags.ca_file = Some("/flag/ca.pem".into());
        let r = s.registry("reg:5000", &flags);
        assert_eq!(
            r.insecure,
            Setting {
                value: true,
                origin: Origin::Flag("--insecure")
            }
        );
        assert_eq!(r.ca_file.value.as_deref(), Some(Path::new("/flag/ca.pem")));
        assert!(
            r.plain_http.value,
            "a flag not given leaves the file's value"
        );

        flags.connect_timeout = Some(3);
        s.registry_flags(&flags);
        assert_eq!(
            s.connect_timeout,
            Setting {
                value: 3,
                origin: Origin::Flag("--connect-timeout")
            }
        );
        assert_eq!(s.stall_timeout, Setting::default(60));

        let text = s.text();
        assert!(
            text.contains(&format!("# file {}:4", file.display())),
            "{text}"
        );
        assert!(text.contains("retries = 9"), "{text}");
        assert!(text.contains("# env TUG_RETRIES"), "{text}");
        assert!(text.contains("# flag --jobs"), "{text}");
        assert!(text.contains("[registries.\"reg:5000\"]"), "{text}");
        let json = s.json();
        assert_eq!(json["settings"]["retries"]["var"], "TUG_RETRIES");
        assert_eq!(json["settings"]["jobs"]["value"], 2);
        assert_eq!(json["registries"]["reg:5000"]["plain_http"]["line"], 8);
    }

    #[test]
    fn concurrency_and_compression_come_from_the_file_env_and_flags() {
        let (s, _dir) = load(
            "adaptive = false\ncompress = \"zstd\"\ncompress_level = 7\n",
            &[("TUG_COMPRESS_LEVEL", "9")],
        );
        let mut s = s.unwrap();
        assert!(!s.adaptive.value);
        assert!(matches!(s.adaptive.origin, Origin::File { line: 1, .. }));
        assert_eq!(s.compress.value, Some(Codec::Zstd));
        assert_eq!(s.compress_level.value, Some(9));
        assert_eq!(s.compress_level.origin, Origin::Env("TUG_COMPRESS_LEVEL"));
        assert!(s.summary().contains("adaptive=false"), "{}", s.summary());
        assert!(s.text().contains("compress = \"zstd\""), "{}", s.text());
        assert_eq!(s.json()["settings"]["compress_level"]["value"], 9);
        s.concurrency_flags(false, true);
        assert_eq!(s.adaptive.origin, Origin::Flag("--adaptive"));
        assert!(s.adaptive.value);
        s.concurrency_flags(true, false);
        assert!(!s.adaptive.value);

        let (s, _dir) = load("compress = \"gzip\"\n", &[("TUG_COMPRESS", "none")]);
        assert_eq!(s.unwrap().compress.value, None);
        let (s, _dir) = load("", &[("TUG_ADAPTIVE", "false")]);
        assert!(!s.unwrap().adaptive.value);
        let defaults = load("", &[]).0.unwrap();
        assert!(defaults.adaptive.value);
        assert_eq!(defaults.compress.value, None);
    }

    #[test]
    fn bad_compression_settings_name_the_line_or_variable() {
        let e = err("jobs = 2\ncompress = \"lz4\"\n", &[]);
        assert!(
            e.contains(":2: compress: \"lz4\" is not one of none, gzip, zstd"),
            "{e}"
        );
        let e = err("compress_level = 30\n", &[]);
        assert!(
            e.contains(":1: compress_level: 30 is out of range (1 to 19)"),
            "{e}"
        );
        let e = err("", &[("TUG_COMPRESS", "brotli")]);
        assert!(e.contains("TUG_COMPRESS=\"brotli\""), "{e}");
        let e = err("", &[("TUG_ADAPTIVE", "maybe")]);
        assert!(e.contains("TUG_ADAPTIVE"), "{e}");
        let e = err("adaptive = 3\n", &[]);
        assert!(e.contains(":1: adaptive"), "{e}");
    }

    #[test]
    fn a_mirror_takes_the_same_repository_and_reference() {
        let (s, _dir) = load(
            "[registries.\"docker.io\"]\nmirror = \"mirror.local:5000\"\n",
            &[],
        );
        let s = s.unwrap();
        let image: Reference = "busybox:1.36".parse().unwrap();
        let m = s.mirror_for(&image, &registry_args()).unwrap();
        assert_eq!(m.to_string(), "mirror.local:5000/library/busybox:1.36");
        assert_eq!(m.api_host(), "mirror.local:5000");
        let other: Reference = "quay.io/x/y:1".parse().unwrap();
        assert_eq!(s.mirror_for(&other, &registry_args()), None);
        assert!(s.text().contains("mirror = \"mirror.local:5000\""));
    }

    #[test]
    fn bad_files_name_the_file_the_line_and_the_key() {
        let e = err("jobs = 0\n", &[]);
        assert!(
            e.contains("config.toml:1: jobs: 0 is out of range (1 to 64)"),
            "{e}"
        );
        let e = err("retries = 3\njobs = \"four\"\n", &[]);
        assert!(e.contains("config.toml:2: jobs: "), "{e}");
        assert!(e.contains("string"), "{e}");
        let e = err("\n\njbos = 3\n", &[]);
        assert!(e.contains("config.toml:3:") && e.contains("jbos"), "{e}");
        let e = err("progress = \"fancy\"\n", &[]);
        assert!(e.contains(":1: progress: \"fancy\" is not one of"), "{e}");
        let e = err("[registries.\"r:1\"]\nca_file = \"missing.pem\"\n", &[]);
        assert!(
            e.contains(":2: registries.\"r:1\".ca_file:")
                && e.contains("missing.pem is not a file"),
            "{e}"
        );
        let e = err("[registries.\"r:1\"]\ninsecure = \"yes\"\n", &[]);
        assert!(e.contains(":2: registries.\"r:1\".insecure: "), "{e}");
        let e = err("[registries.\"r:1\"]\nmirror = \"http://m:5000\"\n", &[]);
        assert!(
            e.contains(
                ":2: registries.\"r:1\".mirror: \"http://m:5000\" is not a registry host[:port]"
            ),
            "{e}"
        );
        let e = err("jobs = [\n", &[]);
        assert!(e.contains("config.toml:"), "{e}");
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let e = err("", &[("TUG_JOBS", "lots")]);
        assert!(
            e.contains("TUG_JOBS=\"lots\": expected a number from 1 to 64"),
            "{e}"
        );
        let e = err("", &[("TUG_PROGRESS", "loud")]);
        assert!(e.contains("TUG_PROGRESS"), "{e}");
    }

    #[test]
    fn a_config_named_by_tug_config_must_exist() {
        let s = Settings::load_with(&|k| {
            (k == "TUG_CONFIG").then(|| "/nonexistent/tug.toml".to_owned())
        });
        let e = s.unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/tug.toml") && e.contains("TUG_CONFIG"),
            "{e}"
        );
    }
}
