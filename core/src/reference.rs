//! Image references (`registry/repository:tag@digest`) parsed the way Docker parses them.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's old name, read as [`DOCKER_HUB`] (crane writes it in RepoTags).
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The host Docker Hub's API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key Docker (and `tug login`) keeps Docker Hub's credentials under in `config.json`.
pub const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";

/// The registry `host` is, by its canonical name: Docker Hub's aliases
/// (`index.docker.io`, [`DOCKER_HUB_API`]) are [`DOCKER_HUB`]; any other host is itself.
pub fn canonical_registry(host: &str) -> &str {
    match host {
        DOCKER_HUB_LEGACY | DOCKER_HUB_API => DOCKER_HUB,
        other => other,
    }
}

/// The tag a reference without tag or digest names.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed image reference such as `localhost:5000/team/app:1.2` or `app@sha256:…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (and port) as written, `docker.io` when none was given.
    pub registry: String,
    /// Repository path, e.g. `team/app` or `library/busybox`.
    pub repository: String,
    /// Tag, if one was given.
    pub tag: Option<String>,
    /// Digest, if one was given.
    pub digest: Option<Digest>,
}

/// `repository:tag`, or `repository@digest` when `reference` is a digest: how a
/// repository and the tag or digest a request names are shown.
pub fn named(repository: &str, reference: &str) -> String {
    match reference.parse::<Digest>() {
        Ok(_) => format!("{repository}@{reference}"),
        Err(_) => format!("{repository}:{reference}"),
    }
}

/// `registry/repository:tag` or `registry/repository@digest`, for messages naming an image
/// with its registry.
pub fn named_at(registry: &str, repository: &str, reference: &str) -> String {
    format!("{registry}/{}", named(repository, reference))
}

/// Why a text is not a valid image reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    /// The rejected text.
    pub input: String,
    /// The part at fault.
    pub part: ReferencePart,
    /// What was wrong.
    pub reason: String,
}

/// A part of an image reference, for saying which one is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferencePart {
    /// The registry host (and port).
    Registry,
    /// The repository path (also: nothing at all).
    Repository,
    /// The tag.
    Tag,
    /// The digest.
    Digest,
}

impl ReferencePart {
    /// The part's name: `registry`, `repository`, `tag` or `digest`.
    pub fn name(self) -> &'static str {
        match self {
            ReferencePart::Registry => "registry",
            ReferencePart::Repository => "repository",
            ReferencePart::Tag => "tag",
            ReferencePart::Digest => "digest",
        }
    }
}

impl Reference {
    /// The host to talk to: Docker Hub's API host for `docker.io`, else the registry as written.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to put after `/manifests/`: the digest if given, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// Whether this reference can be written to (a push's or copy's target): it names a tag
    /// or a digest, not both. With both, a push would check the digest and leave the tag
    /// unset (skopeo refuses such a target too).
    pub fn check_target(&self) -> Result<(), ReferenceError> {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(_)) => Err(ReferenceError {
                input: crate::redact::scrub(&self.to_string()),
                part: ReferencePart::Tag,
                reason: format!(
                    "a target names a tag or a digest, not both (the tag {tag:?} would not be set)"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The name an image pulled by this reference goes by (in the store, a `docker save`
    /// tar): `registry/repository:tag`, or `…@digest` when only a digest was named (no tag
    /// is made up for it), or `…:latest` when neither was.
    pub fn image_name(&self) -> String {
        let mut r = self.with_default_tag();
        if r.tag.is_some() {
            r.digest = None;
        }
        r.to_string()
    }

    /// This reference with its tag made explicit: [`DEFAULT_TAG`] when it names neither a
    /// tag nor a digest (the manifest a push or pull of it uses).
    pub fn with_default_tag(&self) -> Reference {
        let mut r = self.clone();
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        r
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`, `[::1]`), where
    /// plain HTTP is tried when HTTPS fails, as Docker and crane do.
    pub fn is_loopback(&self) -> bool {
        let host = host_without_port(&self.registry);
        // (Host names are case-insensitive: `LOCALHOST:5000` is loopback too.)
        host.eq_ignore_ascii_case("localhost")
            || host == "[::1]"
            || host
                .parse::<core::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// How to reach this reference's registry: plain HTTP when the user chose it
    /// (`Some(true)`), HTTPS only when they refused it (`Some(false)`); otherwise HTTPS, with
    /// the plain-HTTP fallback for a loopback registry that answers in plain HTTP (as Docker
    /// and crane do).
    pub fn scheme(&self, plain_http: Option<bool>) -> crate::Scheme {
        use crate::Scheme;
        match plain_http {
            Some(true) => Scheme::Http,
            Some(false) => Scheme::Https,
            None if self.is_loopback() => Scheme::HttpsThenHttp,
            None => Scheme::Https,
        }
    }
}

fn host_without_port(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry
            .split_once(']')
            .map_or(registry, |(h, _)| &registry[..h.len() + 1]);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// The transport prefix skopeo and podman write before a registry reference.
pub const DOCKER_PREFIX: &str = "docker://";

impl Reference {
    /// Parses a registry reference as skopeo and podman users write it too: with or without
    /// [`DOCKER_PREFIX`] before it. Every command taking a registry reference reads it
    /// here, so `docker://` is accepted alike everywhere.
    pub fn parse_registry(text: &str) -> Result<Reference, ReferenceError> {
        text.strip_prefix(DOCKER_PREFIX).unwrap_or(text).parse()
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |part: ReferencePart| {
            move |reason: &str| ReferenceError {
                // Shown in errors: a `user:password@` given in front of the host goes.
                input: crate::redact::scrub(&input.chars().take(300).collect::<String>()),
                part,
                reason: reason.to_owned(),
            }
        };
        if input.is_empty() {
            return Err(err(ReferencePart::Repository)("empty"));
        }
        if input.starts_with("http://") || input.starts_with("https://") {
            return Err(err(ReferencePart::Registry)(
                "a reference is host[:port]/repository[:tag], without a URL scheme: drop \
                 the http(s):// (a plain-HTTP registry is reached with --plain-http)",
            ));
        }
        // `docker:HOST/…`: a host where a port would go. (`docker:dind` is Docker Hub's
        // `docker` image and its tag; `docker:5000/app` the host `docker` and its port.)
        let transport_typo = !input.starts_with(DOCKER_PREFIX)
            && input
                .strip_prefix("docker:")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(port, _)| {
                    port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())
                });
        if transport_typo {
            return Err(err(ReferencePart::Registry)(
                "skopeo's transport is docker:// (two slashes), or no transport at all",
            ));
        }
        // `user:password@host/repo`: credentials where a digest would go (a digest never
        // holds a `/`; the password may hold `/` and `@`, so the last `@` a path follows
        // ends them).
        if crate::redact::user_info_end(input).is_some_and(|at| input[..at].contains(':')) {
            return Err(err(ReferencePart::Registry)(
                "a reference carries no credentials (user:password@ before the host); \
                 give them with -u and --password-stdin, or tug login",
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    d.parse::<Digest>()
                        .map_err(|e| err(ReferencePart::Digest)(e.reason))?,
                ),
            ),
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(err(ReferencePart::Tag))?;
        }
        let (registry, repository) = match name.split_once('/') {
            // Docker Hub's old name is Docker Hub, as docker reads it.
            Some((DOCKER_HUB_LEGACY, path)) => (DOCKER_HUB.to_owned(), path.to_owned()),
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_registry(&registry).map_err(err(ReferencePart::Registry))?;
        validate_repository(&repository).map_err(err(ReferencePart::Repository))?;
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

/// Whether `tag` is a valid tag (1–128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`):
/// why not, if it is not.
pub fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let ok_first = tag
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let ok_rest = tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if tag.len() > 128 || !ok_first || !ok_rest {
        return Err("tag must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
    }
    Ok(())
}

fn validate_registry(registry: &str) -> Result<(), &'static str> {
    let ok = !registry.is_empty()
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !ok {
        return Err("registry host has invalid characters");
    }
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let (host, port) = match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if !v6.is_empty() => match after {
                "" => (v6, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (v6, Some(port)),
                    None => return Err("registry host has text after its ']'"),
                },
            },
            _ => return Err("registry host has an unclosed '['"),
        },
        None => match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    };
    if host.is_empty() {
        return Err("registry host is empty");
    }
    // Docker's grammar: dot-separated labels of letters, digits and inner dashes.
    let bad_label = |l: &str| l.is_empty() || l.starts_with('-') || l.ends_with('-');
    if !registry.starts_with('[') && host.split('.').any(bad_label) {
        return Err(
            "registry host is not a host name (an empty label, or one starting or ending \
             with '-')",
        );
    }
    match port.map(str::parse::<u16>) {
        Some(Ok(0) | Err(_)) => Err("registry port must be a number from 1 to 65535"),
        _ => Ok(()),
    }
}

/// The most characters a repository name may have (the distribution spec's limit).
const MAX_REPOSITORY_LEN: usize = 255;

pub(crate) fn validate_repository(repo: &str) -> Result<(), &'static str> {
    const MSG: &str = "repository must be lowercase path components of [a-z0-9] separated by '.', '_', '__', '-' or '/'";
    if repo.len() > MAX_REPOSITORY_LEN {
        return Err("repository is longer than 255 characters");
    }
    if repo.is_empty() {
        return Err(MSG);
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    for component in repo.split('/') {
        let bytes = component.as_bytes();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return Err(MSG);
        }
        // Between alphanumerics: one of `.`, `_`, `__`, or dashes.
        for separator in component.split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            let ok =
                matches!(separator, "" | "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
            if !ok {
                return Err(MSG);
            }
        }
    }
    Ok(())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Credentials written into a reference are named as such, never shown, never taken
    /// for a digest; names with tags and digests still parse.
    /// A pulled image's name: its tag, else its digest (no tag made up), else `latest`.
    #[test]
    fn docker_hub_aliases_are_docker_io() {
        for alias in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(canonical_registry(alias), DOCKER_HUB);
        }
        assert_eq!(canonical_registry("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn an_image_is_named_by_its_tag_else_its_digest() {
        let d = Digest::sha256_of(b"x");
        let named = |r: &str| r.parse::<Reference>().unwrap().image_name();
        assert_eq!(named("reg.example/app:v1"), "reg.example/app:v1");
        assert_eq!(
            named(&format!("reg.example/app@{d}")),
            format!("reg.example/app@{d}")
        );
        assert_eq!(
            named(&format!("reg.example/app:v1@{d}")),
            "reg.example/app:v1"
        );
        assert_eq!(named("reg.example/app"), "reg.example/app:latest");
    }

    #[test]
    fn credentials_in_a_reference_are_refused_by_name() {
        let err = "bob:hunter22@reg.example:5000/team/app:v1"
            .parse::<Reference>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("carries no credentials"), "{err}");
        assert!(!err.contains("hunter22"), "{err}");
        // A password holding `/` or `@` (a base64 token), before a tag or a digest.
        let d = Digest::sha256_of(b"x");
        for text in [
            "alice:S3cret/Passw0rd@127.0.0.1:17001/app:v1".to_owned(),
            "alice:tok/en+a@b=@reg.example/app".to_owned(),
            format!("alice:p/w@reg.example/app@{d}"),
        ] {
            let err = text.parse::<Reference>().unwrap_err().to_string();
            assert!(err.contains("carries no credentials"), "{err}");
            assert!(
                !err.contains("S3cret") && !err.contains("p/w") && !err.contains("tok/en"),
                "{err}"
            );
        }
        let d = Digest::sha256_of(b"x");
        for ok in [
            format!("app:v1@{d}"),
            format!("reg.example:5000/app:v1@{d}"),
        ] {
            assert!(ok.parse::<Reference>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn separators_and_ports_follow_the_grammar() {
        for bad in [
            "r.example/a___b:1",
            "r.example/a..b",
            "r.example/a._b",
            "r.example/a_-b",
        ] {
            let err = bad.parse::<Reference>().unwrap_err();
            assert_eq!(err.part, ReferencePart::Repository, "{bad}");
        }
        for good in ["r.example/a__b", "r.example/a---b", "r.example/a.b_c-d/e"] {
            good.parse::<Reference>().unwrap();
        }
        let long = format!("r.example/{}", "a".repeat(256));
        let err = long.parse::<Reference>().unwrap_err();
        assert!(err.reason.contains("longer than 255"), "{err}");
        for bad in [
            "127.0.0.1:99999/a",
            "127.0.0.1:0/a",
            "127.0.0.1:x/a",
            "[::1/a",
            "[]:5/a",
            "./a.tar",
            "../a",
            ".a/foo",
            "a..b/foo",
            "-a.example/x",
            "http://127.0.0.1:5000/a",
            "https://r.example/a:1",
            "docker:r.example/a",
            "docker:127.0.0.1:5000/a",
        ] {
            let err = bad.parse::<Reference>().unwrap_err();
            assert_eq!(err.part, ReferencePart::Registry, "{bad}: {err}");
        }
        let scheme = "http://r.example/a".parse::<Reference>().unwrap_err();
        assert!(scheme.reason.contains("--plain-http"), "{scheme}");
        let typo = "docker:r.example/a".parse::<Reference>().unwrap_err();
        assert!(typo.reason.contains("docker://"), "{typo}");
        for good in [
            "[::1]:5000/a",
            "[::1]/a",
            "localhost:65535/a",
            "docker:5000/a",
            "docker:dind",
            "docker:27.3.1-cli",
            "my-reg.example.com/a",
        ] {
            good.parse::<Reference>().unwrap();
        }
    }

    #[test]
    fn a_target_names_a_tag_or_a_digest_not_both() {
        let d = "sha256:".to_owned() + &"b".repeat(64);
        let both: Reference = format!("reg.example/app:v1@{d}").parse().unwrap();
        let err = both.check_target().unwrap_err();
        assert_eq!(err.part, ReferencePart::Tag);
        assert!(err.to_string().contains("not both"), "{err}");
        for ok in [format!("reg.example/app@{d}"), "reg.example/app:v1".into()] {
            ok.parse::<Reference>().unwrap().check_target().unwrap();
        }
    }

    #[test]
    fn a_digest_is_named_after_an_at_sign_and_a_tag_after_a_colon() {
        let d = "sha256:".to_owned() + &"a".repeat(64);
        assert_eq!(named("team/app", &d), format!("team/app@{d}"));
        assert_eq!(named("team/app", "v1"), "team/app:v1");
    }

    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_registry_reference_may_start_with_docker_s_transport() {
        let plain = p("reg.example:5000/app:1");
        assert_eq!(
            Reference::parse_registry("docker://reg.example:5000/app:1").unwrap(),
            plain
        );
        assert_eq!(
            Reference::parse_registry("reg.example:5000/app:1").unwrap(),
            plain
        );
        // Without it, `docker:` would be read as a registry host with an empty port.
        assert!("docker://reg.example:5000/app:1"
            .parse::<Reference>()
            .is_err());
    }

    fn p(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn parses_registry_port_repo_and_tag() {
        let r = p("127.0.0.1:5000/team/app:1.2");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert!(r.is_loopback());
        assert_eq!(r.manifest_ref(), "1.2");
    }

    #[test]
    fn docker_hub_s_old_name_is_docker_hub() {
        let r = p("index.docker.io/library/foo:9");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r, p("foo:9"));
        assert_eq!(p("index.docker.io/foo").repository, "library/foo");
    }

    #[test]
    fn docker_hub_names_get_library_prefix() {
        let r = p("busybox");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.manifest_ref(), "latest");
        assert!(!r.is_loopback());
    }

    #[test]
    fn digest_reference() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = p(&format!("localhost/x@{d}"));
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.manifest_ref(), d);
        assert!(r.is_loopback());
        assert!(p("LOCALHOST:5000/x").is_loopback());
    }

    #[test]
    fn errors_name_the_part_at_fault() {
        let part = |s: &str| s.parse::<Reference>().unwrap_err().part;
        assert_eq!(part(""), ReferencePart::Repository);
        assert_eq!(part("UPPER/case"), ReferencePart::Repository);
        assert_eq!(part("host:5000/repo:bad tag"), ReferencePart::Tag);
        assert_eq!(part("repo@sha256:zz"), ReferencePart::Digest);
        assert_eq!(part("a_b.example/app"), ReferencePart::Registry);
        assert_eq!(ReferencePart::Tag.name(), "tag");
    }

    #[test]
    fn the_default_tag_is_made_explicit_only_when_nothing_is_named() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            p("r.example/app").with_default_tag().to_string(),
            "r.example/app:latest"
        );
        assert_eq!(
            p("r.example/app:v1").with_default_tag().to_string(),
            "r.example/app:v1"
        );
        let pinned = format!("r.example/app@{d}");
        assert_eq!(p(&pinned).with_default_tag().to_string(), pinned);
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "UPPER/case",
            "host:5000/repo:bad tag",
            "repo@sha256:zz",
            "a//b",
            "x:-bad",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
