//! The sources and the destination of a sync, and the mapping between them:
//! `src-registry/team/app:1.2` lands at `DEST[/prefix]/team/app:1.2` (the source repository
//! path appended in full to the destination's prefix).

use std::fmt;

use crate::digest::Digest;
use crate::error::Error;
use crate::reference::{Reference, DOCKER_PREFIX};

/// What one SOURCE of a sync names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncSource {
    /// `registry` alone: every repository its catalog lists, every tag of each.
    Registry(String),
    /// `registry/repository`: every tag of the repository.
    Repository(Reference),
    /// `registry/repository:tag` or `@digest`: that one image.
    Image(Reference),
}

/// A SOURCE or DEST that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{input:?}: {reason}")]
pub struct SyncSourceError {
    /// The text as given (at most 300 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

fn error(input: &str, reason: impl fmt::Display) -> SyncSourceError {
    SyncSourceError {
        input: input.chars().take(300).collect(),
        reason: reason.to_string(),
    }
}

/// `text` without `docker://` and trailing slashes.
fn bare(text: &str) -> &str {
    text.strip_prefix(DOCKER_PREFIX)
        .unwrap_or(text)
        .trim_end_matches('/')
}

impl SyncSource {
    /// Parses a SOURCE: `registry` (a host with no `/`), `registry/repository`,
    /// `registry/repository:tag` or `registry/repository@digest`; `docker://` allowed.
    pub fn parse(text: &str) -> Result<SyncSource, SyncSourceError> {
        let rest = bare(text);
        if rest.is_empty() {
            return Err(error(text, "empty: give a registry or a repository"));
        }
        if !rest.contains('/') {
            // A registry alone: checked as the registry part of a reference.
            let r = Reference::parse_registry(&format!("{rest}/x")).map_err(|e| error(text, e))?;
            if r.registry != rest {
                return Err(error(
                    text,
                    "a registry alone must be a host with a dot or a port, or localhost; \
                     a repository needs its registry (registry/repository)",
                ));
            }
            return Ok(SyncSource::Registry(rest.to_owned()));
        }
        let r = Reference::parse_registry(rest).map_err(|e| error(text, e))?;
        Ok(if r.tag.is_some() || r.digest.is_some() {
            SyncSource::Image(r)
        } else {
            SyncSource::Repository(r)
        })
    }

    /// The registry the source is on, as written.
    pub fn registry(&self) -> &str {
        match self {
            SyncSource::Registry(host) => host,
            SyncSource::Repository(r) | SyncSource::Image(r) => &r.registry,
        }
    }
}

/// Where a sync writes: a registry and an optional repository prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The registry, as written.
    pub registry: String,
    /// The path every source repository is put under (`mirror` in `reg/mirror`); empty for
    /// none.
    pub prefix: String,
}

impl Destination {
    /// Parses DEST: `registry[/prefix]`, `docker://` allowed; no tag or digest.
    pub fn parse(text: &str) -> Result<Destination, SyncSourceError> {
        let rest = bare(text);
        let (registry, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.is_empty() {
            return Err(error(text, "no registry: write registry[/prefix]"));
        }
        if prefix.contains(['@', ':']) {
            return Err(error(
                text,
                "a destination is registry[/prefix]; each image keeps its own tag or digest",
            ));
        }
        let dest = Destination {
            registry: registry.to_owned(),
            prefix: prefix.to_owned(),
        };
        // Checked as the destination of an image named `x`.
        Reference::parse_registry(&dest.repository_for("x")).map_err(|e| error(text, e))?;
        if !registry.contains(['.', ':']) && registry != "localhost" {
            return Err(error(
                text,
                "the first part must be a registry host (with a dot or a port, or localhost)",
            ));
        }
        Ok(dest)
    }

    /// `registry/prefix/repository` (no tag): where a source repository lands.
    pub fn repository_for(&self, repository: &str) -> String {
        match self.prefix.as_str() {
            "" => format!("{}/{repository}", self.registry),
            p => format!("{}/{p}/{repository}", self.registry),
        }
    }

    /// Where `source` lands: the source repository under the prefix, with its tag and digest.
    pub fn target_of(&self, source: &Reference) -> Result<Reference, SyncSourceError> {
        let mut text = self.repository_for(&source.repository);
        if let Some(tag) = &source.tag {
            text = format!("{text}:{tag}");
        }
        if let Some(digest) = &source.digest {
            text = format!("{text}@{digest}");
        }
        Reference::parse_registry(&text).map_err(|e| error(&text, e))
    }
}

/// One image a sync considers: where it is read and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncImage {
    /// The source image (a tag, or a digest).
    pub source: Reference,
    /// The destination image (the same tag or digest).
    pub target: Reference,
}

/// A repository `registry`'s catalog listed, checked before its tags are asked for: a name
/// that is no repository (`../x`, upper case, a tag) is the registry's fault, said once for
/// the repository instead of once for each of its tags.
pub fn listed_repository(registry: &str, repository: &str) -> Result<(), Error> {
    let text = format!("{registry}/{repository}");
    let parsed = Reference::parse_registry(&text).map_err(|e| e.to_string());
    match parsed {
        Ok(r) if r.repository == repository && r.tag.is_none() && r.digest.is_none() => Ok(()),
        Ok(_) => Err(format!("{repository:?} is not a repository name as listed")),
        Err(e) => Err(e),
    }
    .map_err(|e| Error::Protocol {
        action: format!("listing the catalog of {registry}"),
        message: format!(
            "it listed a repository that is not one: {}",
            crate::terminal_safe::terminal_safe(&e)
        ),
    })
}

impl SyncImage {
    /// The image `repository:tag` of `registry`, a tag its listing gave, going to `dest`. A
    /// tag that makes no image reference is the registry's fault (it listed it): a protocol
    /// error, not the command line's.
    pub fn tagged(
        registry: &str,
        repository: &str,
        tag: &str,
        dest: &Destination,
    ) -> Result<SyncImage, Error> {
        let text = format!("{registry}/{repository}:{tag}");
        Reference::parse_registry(&text)
            .map_err(|e| error(&text, e))
            .and_then(|source| SyncImage::of(source, dest))
            .map_err(|e| Error::Protocol {
                action: format!("listing the tags of {registry}/{repository}"),
                message: format!("it listed a tag that is not one: {e}"),
            })
    }

    /// `source` going to `dest`.
    pub fn of(source: Reference, dest: &Destination) -> Result<SyncImage, SyncSourceError> {
        let target = dest.target_of(&source)?;
        Ok(SyncImage { source, target })
    }

    /// The tag or digest the image is named by in its repository (a digest when both).
    pub fn name_in_repository(&self) -> String {
        match (&self.source.digest, &self.source.tag) {
            (Some(d), _) => format!("@{d}"),
            (None, Some(t)) => format!(":{t}"),
            (None, None) => String::new(),
        }
    }

    /// The source digest it is pinned to, if named by digest.
    pub fn pinned(&self) -> Option<&Digest> {
        self.source.digest.as_ref()
    }
}
