//! Where an image is, as a command line names it: a registry reference (`docker://`
//! optional), one of skopeo's file transports (`oci:DIR[:REF]`, `oci-archive:PATH[:REF]`,
//! `docker-archive:PATH[:REF]`, and `dir:DIR` as a source), or an image of tug's local store
//! (`store:NAME`).
//!
//! Only the transport is decided here; what follows a file transport (a path, perhaps with
//! `:REF`) is split by the runner, which can see whether the path with the colon exists.

use std::fmt;

use crate::reference::{Reference, ReferenceError};

pub use crate::reference::DOCKER_PREFIX;

/// The prefix naming an image of the local store.
pub const STORE_PREFIX: &str = "store:";

/// Endings of a compressed tar's name (tug reads them as sources, never writes them).
pub const COMPRESSED_TAR_SUFFIXES: [&str; 6] = [
    ".tar.gz",
    ".tgz",
    ".tar.zst",
    ".tar.zstd",
    ".tar.xz",
    ".tar.bz2",
];

/// Whether `text`, given without a transport, names a file rather than an image of a
/// registry or of the store: it is `.` or `..`, starts with `/`, `./`, `../` or `~/`, or
/// its last part ends as an archive's name does (`.tar`, `.tar.gz`, `.tgz`, `.tar.zst`,
/// `.oci-archive`; no `:` in that part, which would be a tag) and its first part is no
/// registry host (`localhost:5000/app.tar` is a repository named `app.tar`, as Docker reads
/// it).
pub fn looks_like_path(text: &str) -> bool {
    if matches!(text, "." | "..") || text.starts_with(['/', '~']) && text != "~" {
        return true;
    }
    if text.starts_with("./") || text.starts_with("../") {
        return true;
    }
    let last = text.rsplit('/').next().unwrap_or(text).to_ascii_lowercase();
    let host_first = text
        .split_once('/')
        .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost");
    !host_first
        && !last.contains(':')
        && [".tar", ".oci-archive"]
            .iter()
            .chain(COMPRESSED_TAR_SUFFIXES.iter())
            .any(|s| last.len() > s.len() && last.ends_with(s))
}

/// skopeo transports tug does not read or write, named so the error can say so.
const FOREIGN_TRANSPORTS: &[&str] = &[
    "containers-storage",
    "docker-daemon",
    "ostree",
    "sif",
    "tarball",
];

/// The kind of image file a file transport names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// An OCI image layout directory (`oci:`).
    Oci,
    /// An OCI image layout in a tar (`oci-archive:`).
    OciArchive,
    /// A `docker save` tar (`docker-archive:`).
    DockerArchive,
    /// skopeo's `dir:` layout (`dir:`): tug reads it, never writes it.
    Dir,
}

impl FileKind {
    /// The kind an output path's file name asks for when no format is given: `*.oci.tar`
    /// or `*.oci-archive` an OCI archive, `*.tar` a `docker save` tar, anything else an OCI
    /// layout directory (as `tug pull -o` and `tug save -o` read them).
    pub fn of_output_name(name: &str) -> FileKind {
        match FileKind::of_archive_name(name) {
            FileKind::DockerArchive if !name.to_ascii_lowercase().ends_with(".tar") => {
                FileKind::Oci
            }
            kind => kind,
        }
    }

    /// The kind an archive output's name asks for (`tug save -o`, which writes archives
    /// only): `*.oci.tar` or `*.oci-archive` an OCI archive, any other name a `docker save`
    /// tar (as `docker save -o` takes any name).
    pub fn of_archive_name(name: &str) -> FileKind {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".oci.tar") || name.ends_with(".oci-archive") {
            FileKind::OciArchive
        } else {
            FileKind::DockerArchive
        }
    }

    /// Why an output named `name` with no format given would not be what the name says: a
    /// compressed tar's name (tug reads those, but writes uncompressed archives).
    pub fn output_name_problem(name: &str) -> Option<String> {
        let lower = name.to_ascii_lowercase();
        let suffix = COMPRESSED_TAR_SUFFIXES
            .iter()
            .find(|s| lower.ends_with(*s))?;
        Some(format!(
            "{name}: tug writes uncompressed archives, not {suffix}: name it *.tar (a docker \
             save tar) or *.oci.tar (an OCI archive) and compress it afterwards, or say the \
             format (--format docker-archive, or docker-archive:{name})"
        ))
    }

    /// Every kind, with the transport that names it.
    const ALL: [(FileKind, &'static str); 4] = [
        // The longer names first: `oci-archive:` also starts with `oci`.
        (FileKind::OciArchive, "oci-archive"),
        (FileKind::DockerArchive, "docker-archive"),
        (FileKind::Oci, "oci"),
        (FileKind::Dir, "dir"),
    ];

    /// Every transport's prefix (`oci-archive:`, …), the longer names first.
    pub fn prefixes() -> impl Iterator<Item = (FileKind, String)> {
        Self::ALL.iter().map(|(k, name)| (*k, format!("{name}:")))
    }

    /// The kind whose transport `text` starts with (`oci-archive:x.tar`), if any.
    pub fn of_prefixed(text: &str) -> Option<FileKind> {
        FileKind::prefixes()
            .find(|(_, p)| text.starts_with(p.as_str()))
            .map(|(kind, _)| kind)
    }

    /// The transport's name, e.g. `oci-archive`.
    pub fn transport(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("oci", |(_, name)| name)
    }
}

/// Where an image is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// An image in a registry.
    Registry(Reference),
    /// An image file: its kind, and the text after `transport:` (`PATH[:REF]`).
    File {
        /// What kind of file.
        kind: FileKind,
        /// The path, perhaps followed by `:REF`.
        path_and_ref: String,
    },
    /// An image of the local store, by name or digest prefix; empty (`store:` alone) as a
    /// destination: under the source's name.
    Store(String),
}

/// Why a text names no place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// A skopeo transport tug does not support.
    #[error("{transport}: is a skopeo transport tug does not support (tug reads and writes registry references, oci:, oci-archive:, docker-archive: and store:, and reads dir:)")]
    Unsupported {
        /// The transport's name.
        transport: String,
    },
    /// A transport with nothing after it.
    #[error("{transport}: names no {what}")]
    Empty {
        /// The transport's name.
        transport: String,
        /// What was expected after it.
        what: &'static str,
    },
    /// Not a valid registry reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

impl Place {
    /// The kind of this place, in words (`registry`, `oci`, `store`), for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Place::Registry(_) => "registry",
            Place::File { kind, .. } => kind.transport(),
            Place::Store(_) => "store",
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Registry(r) => write!(f, "{r}"),
            Place::File { kind, path_and_ref } => write!(f, "{}:{path_and_ref}", kind.transport()),
            Place::Store(name) => write!(f, "{STORE_PREFIX}{name}"),
        }
    }
}

/// Whether `text` starts with a transport (`oci:`, `docker-archive:`, `store:`,
/// `docker://`): else it is a path or a reference as it stands, never `PATH:NAME`.
pub fn names_a_transport(text: &str) -> bool {
    FileKind::of_prefixed(text).is_some()
        || text.starts_with(STORE_PREFIX)
        || text.starts_with(DOCKER_PREFIX)
}

/// The place `text` names. A text without a transport is a registry reference; a
/// `host:port/…` is never read as a transport.
pub fn parse(text: &str) -> Result<Place, PlaceError> {
    if text.starts_with(DOCKER_PREFIX) {
        return Ok(Place::Registry(Reference::parse_registry(text)?));
    }
    // `./image.tar`, `/tmp/layout`, `out.tar`: a file, whether or not it exists yet.
    if looks_like_path(text) && !names_a_transport(text) {
        return Ok(Place::File {
            kind: FileKind::of_output_name(text),
            path_and_ref: text.to_owned(),
        });
    }
    let Some((transport, rest)) = text.split_once(':') else {
        return Ok(Place::Registry(text.parse()?));
    };
    // `registry:5000/app` names a registry whose port follows the colon.
    let is_port = rest
        .split('/')
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if is_port {
        return Ok(Place::Registry(text.parse()?));
    }
    if let Some((kind, _)) = FileKind::ALL.iter().find(|(_, name)| *name == transport) {
        if rest.is_empty() {
            return Err(PlaceError::Empty {
                transport: transport.to_owned(),
                what: "path",
            });
        }
        return Ok(Place::File {
            kind: *kind,
            path_and_ref: rest.to_owned(),
        });
    }
    if format!("{transport}:") == STORE_PREFIX {
        return Ok(Place::Store(rest.to_owned()));
    }
    if FOREIGN_TRANSPORTS.contains(&transport) {
        return Err(PlaceError::Unsupported {
            transport: transport.to_owned(),
        });
    }
    Ok(Place::Registry(text.parse()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn file(kind: FileKind, rest: &str) -> Place {
        Place::File {
            kind,
            path_and_ref: rest.to_owned(),
        }
    }

    #[test]
    fn registry_references_with_or_without_the_docker_prefix() {
        let want = Place::Registry("reg:5000/app:1".parse().unwrap());
        assert_eq!(parse("reg:5000/app:1"), Ok(want.clone()));
        assert_eq!(parse("docker://reg:5000/app:1"), Ok(want));
        assert_eq!(
            parse("localhost:5000/team/app"),
            Ok(Place::Registry("localhost:5000/team/app".parse().unwrap()))
        );
        assert_eq!(
            parse("busybox:latest"),
            Ok(Place::Registry("busybox:latest".parse().unwrap()))
        );
    }

    #[test]
    fn file_transports_keep_what_follows_them() {
        assert_eq!(parse("oci:./dir"), Ok(file(FileKind::Oci, "./dir")));
        assert_eq!(parse("oci:dir:v1"), Ok(file(FileKind::Oci, "dir:v1")));
        assert_eq!(
            parse("oci-archive:/tmp/a.tar:app"),
            Ok(file(FileKind::OciArchive, "/tmp/a.tar:app"))
        );
        assert_eq!(
            parse("docker-archive:x.tar:app:1"),
            Ok(file(FileKind::DockerArchive, "x.tar:app:1"))
        );
        assert_eq!(parse("dir:/tmp/x"), Ok(file(FileKind::Dir, "/tmp/x")));
        assert_eq!(
            parse("store:reg/app:1"),
            Ok(Place::Store("reg/app:1".to_owned()))
        );
    }

    #[test]
    fn an_output_name_says_its_kind() {
        assert_eq!(FileKind::of_output_name("x.tar"), FileKind::DockerArchive);
        assert_eq!(FileKind::of_output_name("x.oci.tar"), FileKind::OciArchive);
        assert_eq!(
            FileKind::of_output_name("x.oci-archive"),
            FileKind::OciArchive
        );
        assert_eq!(FileKind::of_output_name("layout"), FileKind::Oci);
        assert_eq!(FileKind::of_output_name("X.TAR"), FileKind::DockerArchive);
        // An archive output takes any other name as a docker save tar, as docker save.
        assert_eq!(FileKind::of_archive_name("backup"), FileKind::DockerArchive);
        assert_eq!(FileKind::of_archive_name("b.OCI.tar"), FileKind::OciArchive);
        for name in ["x.tar.gz", "x.tgz", "x.TAR.ZST", "x.tar.xz"] {
            let problem = FileKind::output_name_problem(name).unwrap();
            assert!(problem.contains("uncompressed archives"), "{problem}");
        }
        for name in ["x.tar", "x.oci.tar", "layout", "x.gz"] {
            assert_eq!(FileKind::output_name_problem(name), None, "{name}");
        }
    }

    #[test]
    fn a_path_is_a_file_whether_or_not_it_exists() {
        for text in [
            ".",
            "..",
            "./x",
            "../up/x.tar",
            "/tmp/layout",
            "~/images/a.tar",
            "x.tar",
            "out/x.tar",
            "x.tar.gz",
            "x.tgz",
            "a.oci-archive",
        ] {
            assert!(looks_like_path(text), "{text}");
            assert!(matches!(parse(text), Ok(Place::File { .. })), "{text}");
        }
        assert_eq!(
            parse("out/x.tar"),
            Ok(file(FileKind::DockerArchive, "out/x.tar"))
        );
        assert_eq!(parse("./lay:v1"), Ok(file(FileKind::Oci, "./lay:v1")));
        for text in [
            "busybox",
            "reg:5000/app:v1.tar",
            "team/app",
            "app:1.0",
            ".tar",
            "~",
            "localhost:5000/app.tar",
            "127.0.0.1:5000/team/app.tar",
            "reg.example/app.tar",
        ] {
            assert!(!looks_like_path(text), "{text}");
        }
        // A transport's own text stays the transport's.
        assert_eq!(parse("oci:./dir"), Ok(file(FileKind::Oci, "./dir")));
        for text in [
            "oci:./dir",
            "docker-archive:x.tar",
            "store:app",
            "docker://r/a",
        ] {
            assert!(names_a_transport(text), "{text}");
        }
        assert!(!names_a_transport("./a:b/out.tar"));
        assert_eq!(
            FileKind::of_prefixed("oci-archive:x.tar"),
            Some(FileKind::OciArchive)
        );
    }

    #[test]
    fn bad_places_say_what_is_wrong() {
        let e = parse("sif:/tmp/x").unwrap_err();
        assert!(e.to_string().contains("sif: is a skopeo transport"), "{e}");
        assert!(matches!(
            parse("containers-storage:app"),
            Err(PlaceError::Unsupported { .. })
        ));
        assert_eq!(parse("oci:").unwrap_err().to_string(), "oci: names no path");
        assert_eq!(parse("store:"), Ok(Place::Store(String::new())));
        assert!(matches!(parse("docker://"), Err(PlaceError::Reference(_))));
        assert_eq!(parse("oci:d").unwrap().kind_name(), "oci");
        assert_eq!(parse("oci:d").unwrap().to_string(), "oci:d");
    }
}
