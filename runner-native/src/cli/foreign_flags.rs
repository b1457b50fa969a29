//! skopeo's and crane's flags that tug spells otherwise, or does not need: when the command
//! line is refused for one of them, the refusal says what tug takes instead (clap's own
//! "similar argument" tip points elsewhere: `--all` to `--stall-timeout`).

/// A flag of another tool (as typed, before any `=`) and what to use in tug.
const FOREIGN: &[(&[&str], &str)] = &[
    (
        &["--tls-verify", "--src-tls-verify", "--dest-tls-verify"],
        "tug checks certificates unless told --insecure; a plain-HTTP registry takes \
         --plain-http (on loopback tug finds that out itself); a private CA, --ca-file PEM",
    ),
    (
        &["--creds"],
        "tug takes -u USER with --password-stdin (or TUG_USERNAME / TUG_PASSWORD, or \
         tug login); a copy takes --src-creds USER:PASSWORD and --dest-creds USER:PASSWORD",
    ),
    (
        &["-p", "--password"],
        "tug takes no password on the command line: --password-stdin, TUG_PASSWORD, or tug login",
    ),
    (
        &["--authfile", "--src-authfile", "--dest-authfile"],
        "tug reads $REGISTRY_AUTH_FILE, containers' auth.json and Docker's config.json: set \
         REGISTRY_AUTH_FILE=PATH",
    ),
    (
        &["--all", "--multi-arch"],
        "tug copy copies every platform of an index by default (--platform OS/ARCH copies \
         one); tug pull takes --all-platforms",
    ),
    (
        &["--override-os", "--override-arch", "--override-variant"],
        "tug takes --platform OS/ARCH[/VARIANT]",
    ),
    (
        &[
            "--dest-compress",
            "--dest-compress-format",
            "--dest-compress-level",
        ],
        "tug push takes --compress gzip|zstd and --compress-level N",
    ),
    (
        &["--retry-times"],
        "tug takes --retries N (attempts, the first included)",
    ),
    (
        &["--raw"],
        "tug manifest REF prints the manifest byte for byte as the registry serves it",
    ),
    (
        &["--preserve-digests"],
        "tug copies manifests byte for byte: digests are always kept",
    ),
];

/// What tug takes instead of the first foreign flag among `args`, if any.
pub fn hint<S: AsRef<str>>(args: &[S]) -> Option<String> {
    args.iter().find_map(|arg| {
        let flag = arg.as_ref().split('=').next().unwrap_or_default();
        FOREIGN
            .iter()
            .find(|(flags, _)| flags.contains(&flag))
            .map(|(_, instead)| format!("{flag}: {instead}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_flag_is_named_with_what_tug_takes() {
        let h = hint(&["copy", "--src-tls-verify=false", "a", "b"]).unwrap();
        assert!(
            h.starts_with("--src-tls-verify: ") && h.contains("--plain-http"),
            "{h}"
        );
        assert!(hint(&["login", "-p", "x"])
            .unwrap()
            .contains("--password-stdin"));
        assert!(hint(&["copy", "--all"]).unwrap().contains("by default"));
        assert_eq!(hint(&["copy", "--platform", "linux/amd64"]), None);
    }
}
