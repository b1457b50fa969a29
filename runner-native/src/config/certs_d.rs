//! Certificates for one registry from the directories Docker and the containers tools read
//! (`certs.d/HOST[:PORT]/`): every `*.crt` is a CA to trust for that registry, and a
//! `*.cert` with the `*.key` of the same name is the client certificate to present (mutual
//! TLS). Looked for, in order, in `--cert-dir` (the directory itself, as skopeo's flag),
//! `$XDG_CONFIG_HOME/containers/certs.d` (or `~/.config/containers/certs.d`),
//! `/etc/containers/certs.d` and `/etc/docker/certs.d`; CAs of every directory found are
//! trusted, the first client certificate found is presented.

use std::path::{Path, PathBuf};

/// What the certificate directories hold for a registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryCerts {
    /// CA certificate files (`*.crt`).
    pub ca_files: Vec<PathBuf>,
    /// A client certificate and its key (`NAME.cert`, `NAME.key`; the key may be missing,
    /// which connecting then reports by its path).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The certificates for `registry` (`host[:port]` as in a reference): in `cert_dir` when
/// given, and in the standard `certs.d` directories.
pub fn for_registry(registry: &str, cert_dir: Option<&Path>) -> RegistryCerts {
    let mut dirs: Vec<PathBuf> = cert_dir.map(Path::to_path_buf).into_iter().collect();
    // A registry name never holds a path separator, so it cannot leave the directories.
    if !registry.contains(['/', '\\']) && registry != ".." && registry != "." {
        dirs.extend(roots().into_iter().map(|root| root.join(registry)));
    }
    read_dirs(&dirs)
}

/// The `certs.d` directories of this user and machine.
fn roots() -> Vec<PathBuf> {
    let user = crate::places::config_home(&crate::places::process_env)
        .map(|c| c.join("containers").join("certs.d"));
    user.into_iter()
        .chain([
            PathBuf::from("/etc/containers/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ])
        .collect()
}

/// What `dirs` hold (a directory that does not exist holds nothing).
fn read_dirs(dirs: &[PathBuf]) -> RegistryCerts {
    let mut found = RegistryCerts::default();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files {
            match file.extension().and_then(|e| e.to_str()) {
                Some("crt") => found.ca_files.push(file),
                Some("cert") if found.client.is_none() => {
                    let key = file.with_extension("key");
                    found.client = Some((file, key));
                }
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_of_every_directory_and_the_first_client_certificate() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (dir, name) in [
            (a.path(), "ca.crt"),
            (a.path(), "client.cert"),
            (a.path(), "client.key"),
            (a.path(), "notes.txt"),
            (b.path(), "other.crt"),
            (b.path(), "b.cert"),
        ] {
            std::fs::write(dir.join(name), "x").unwrap();
        }
        let missing = a.path().join("missing");
        let got = read_dirs(&[missing, a.path().to_owned(), b.path().to_owned()]);
        assert_eq!(
            got.ca_files,
            vec![a.path().join("ca.crt"), b.path().join("other.crt")]
        );
        assert_eq!(
            got.client,
            Some((a.path().join("client.cert"), a.path().join("client.key")))
        );
        assert_eq!(read_dirs(&[]), RegistryCerts::default());
    }

    #[test]
    fn the_flag_directory_comes_first_and_names_cannot_climb() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("mine.cert"), "x").unwrap();
        let got = for_registry("registry.example:5000", Some(d.path()));
        assert_eq!(got.client.unwrap().0, d.path().join("mine.cert"));
        assert_eq!(
            for_registry("../../etc", None).ca_files,
            Vec::<PathBuf>::new()
        );
    }
}
