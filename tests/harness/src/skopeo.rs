//! Thin wrappers around the `skopeo` binary, the peer client that checks tug's work.
//!
//! Every call passes `--insecure-policy` (skopeo 1.9 refuses to copy without a policy file).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::process::Command;

use crate::tools::skopeo_bin;
use crate::Registry;

/// No extra arguments, for calls like `copy(src, dst, NO_ARGS)`.
pub const NO_ARGS: &[&str] = &[];

/// A skopeo invocation that failed, with everything needed to understand why.
#[derive(Debug, Clone)]
pub struct SkopeoError {
    /// The full command line.
    pub command: String,
    /// Exit status as text (e.g. `exit status: 1`).
    pub status: String,
    /// skopeo's standard error.
    pub stderr: String,
}

impl fmt::Display for SkopeoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` failed ({}):\n{}",
            self.command,
            self.status,
            self.stderr.trim_end()
        )
    }
}

impl std::error::Error for SkopeoError {}

/// Which side of a skopeo command a registry is on; decides the flag prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `--src-*` flags of `skopeo copy`.
    Source,
    /// `--dest-*` flags of `skopeo copy`.
    Destination,
    /// Unprefixed flags (`--cert-dir`, `--tls-verify`, `--creds`) of `inspect`, `delete`, ….
    Single,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Side::Source => "--src-",
            Side::Destination => "--dest-",
            Side::Single => "--",
        }
    }
}

/// The TLS and credential flags skopeo needs to reach `registry` on `side`:
/// `--<side>-cert-dir <ca_dir>` for TLS, `--<side>-tls-verify=false` for plain HTTP, and
/// `--<side>-creds user:pass` when the registry has Basic auth.
pub fn registry_args(registry: &Registry, side: Side) -> Vec<OsString> {
    let p = side.prefix();
    let mut args: Vec<OsString> = Vec::new();
    match registry.ca_dir() {
        Some(dir) => {
            args.push(format!("{p}cert-dir").into());
            args.push(dir.as_os_str().to_owned());
        }
        None => args.push(format!("{p}tls-verify=false").into()),
    }
    if let Some((user, password)) = registry.credentials() {
        args.push(format!("{p}creds").into());
        args.push(format!("{user}:{password}").into());
    }
    args
}

/// Runs `skopeo --insecure-policy <args…>` and returns its stdout.
pub fn run<I, S>(args: I) -> Result<Vec<u8>, SkopeoError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let bin = skopeo_bin();
    let mut cmd = Command::new(&bin);
    cmd.arg("--insecure-policy").args(&args);
    let command = std::iter::once(bin.as_os_str().to_owned())
        .chain(std::iter::once(OsString::from("--insecure-policy")))
        .chain(args.iter().cloned())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let output = cmd.output().map_err(|e| SkopeoError {
        command: command.clone(),
        status: "could not start".to_owned(),
        stderr: e.to_string(),
    })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(SkopeoError {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// `skopeo copy [extra…] <src> <dst>`.
///
/// `extra` goes before the references, e.g. [`registry_args`] output or `--all`.
pub fn copy<S: AsRef<OsStr>>(src: &str, dst: &str, extra: &[S]) -> Result<(), SkopeoError> {
    let mut args: Vec<OsString> = vec!["copy".into()];
    args.extend(extra.iter().map(|a| a.as_ref().to_owned()));
    args.push(src.into());
    args.push(dst.into());
    run(args).map(drop)
}

/// `skopeo inspect --raw [extra…] <image_ref>`: the manifest (or index) bytes exactly as stored.
pub fn inspect_raw<S: AsRef<OsStr>>(image_ref: &str, extra: &[S]) -> Result<Vec<u8>, SkopeoError> {
    let mut args: Vec<OsString> = vec!["inspect".into(), "--raw".into()];
    args.extend(extra.iter().map(|a| a.as_ref().to_owned()));
    args.push(image_ref.into());
    run(args)
}

/// Copies `src` into `registry` at `name_and_ref` (e.g. `"app:1"`), with the registry's
/// destination TLS/auth flags plus `extra`.
pub fn copy_to_registry<S: AsRef<OsStr>>(
    src: &str,
    registry: &Registry,
    name_and_ref: &str,
    extra: &[S],
) -> Result<(), SkopeoError> {
    let mut args = registry_args(registry, Side::Destination);
    args.extend(extra.iter().map(|a| a.as_ref().to_owned()));
    copy(src, &registry.docker_ref(name_and_ref), &args)
}

/// Copies `name_and_ref` from `registry` to `dst` (e.g. `oci:/dir:tag`), with the registry's
/// source TLS/auth flags plus `extra`.
pub fn copy_from_registry<S: AsRef<OsStr>>(
    registry: &Registry,
    name_and_ref: &str,
    dst: &str,
    extra: &[S],
) -> Result<(), SkopeoError> {
    let mut args = registry_args(registry, Side::Source);
    args.extend(extra.iter().map(|a| a.as_ref().to_owned()));
    copy(&registry.docker_ref(name_and_ref), dst, &args)
}

/// The raw manifest of `name_and_ref` in `registry` (`skopeo inspect --raw` with its flags).
pub fn inspect_raw_in(registry: &Registry, name_and_ref: &str) -> Result<Vec<u8>, SkopeoError> {
    inspect_raw(
        &registry.docker_ref(name_and_ref),
        &registry_args(registry, Side::Single),
    )
}
