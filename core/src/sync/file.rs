//! `tug sync --file sync.toml`: several sources, each with its own tag filters, platform and
//! destination, in one TOML file. The text is parsed and checked here (the runner reads the
//! file); an error names the file, the line and the key.
//!
//! ```toml
//! to = "mirror.example.com/hub"          # where sources without their own `to` go
//!
//! [[source]]
//! from = "registry.example.com/library/alpine"
//! tags = ['3\.2[0-9]']                   # whole-tag regular expressions, as --tags
//! exclude-tags = ['.*-rc.*']
//! platform = "linux/amd64"               # else every platform and the index
//!
//! [[source]]
//! from = "ghcr.io/acme/app"
//! to = "mirror.example.com/acme"
//! ```

use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use super::{Destination, SyncSource, TagFilter};
use crate::platform::Platform;

/// One source of a sync with what applies to it: the images it names are filtered by
/// `filter`, copied with `platform` (`None`: every platform) and land under `destination`.
#[derive(Clone, Debug)]
pub struct SyncSpec {
    /// What it names.
    pub source: SyncSource,
    /// Where its images land.
    pub destination: Destination,
    /// Which listed tags are taken.
    pub filter: TagFilter,
    /// The one platform copied from an index, if any.
    pub platform: Option<Platform>,
}

/// A sync file that cannot be used: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncFileError {
    /// The file as the user named it.
    pub file: String,
    /// The line (from 1) the error is on.
    pub line: usize,
    /// The key at fault (`[[source]] 2: tags`), empty when the TOML itself is broken.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for SyncFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SyncFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    to: Option<Spanned<String>>,
    #[serde(default)]
    source: Vec<Spanned<RawSource>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSource {
    from: Spanned<String>,
    to: Option<Spanned<String>>,
    tags: Option<Spanned<Vec<String>>>,
    exclude_tags: Option<Spanned<Vec<String>>>,
    platform: Option<Spanned<String>>,
}

/// The sources `text`, the content of the sync file `file`, describes, in order.
pub fn parse_sync_file(file: &str, text: &str) -> Result<Vec<SyncSpec>, SyncFileError> {
    let at = |offset: usize, key: String, reason: String| SyncFileError {
        file: file.to_owned(),
        line: text[..offset.min(text.len())].matches('\n').count() + 1,
        key,
        reason,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        at(offset, String::new(), e.message().trim().to_owned())
    })?;
    if raw.source.is_empty() {
        return Err(at(
            0,
            "source".into(),
            "no [[source]] table: name at least one source".into(),
        ));
    }
    let default_to = match &raw.to {
        Some(to) => Some(
            Destination::parse(to.get_ref())
                .map_err(|e| at(to.span().start, "to".into(), e.to_string()))?,
        ),
        None => None,
    };
    let mut specs = Vec::new();
    for (n, s) in raw.source.iter().enumerate() {
        let table = s.span().start;
        let s = s.get_ref();
        let key = |k: &str| format!("[[source]] {}: {k}", n + 1);
        let source = SyncSource::parse(s.from.get_ref())
            .map_err(|e| at(s.from.span().start, key("from"), e.to_string()))?;
        let destination = match (&s.to, &default_to) {
            (Some(to), _) => Destination::parse(to.get_ref())
                .map_err(|e| at(to.span().start, key("to"), e.to_string()))?,
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(at(
                    table,
                    key("to"),
                    "no destination: give `to` in this table or at the top of the file".into(),
                ))
            }
        };
        let list = |v: &Option<Spanned<Vec<String>>>| {
            v.as_ref().map_or(Vec::new(), |v| v.get_ref().clone())
        };
        let (tags, exclude) = (list(&s.tags), list(&s.exclude_tags));
        let bad = |v: &Option<Spanned<Vec<String>>>, k: &str, e: super::FilterError| {
            let offset = v.as_ref().map_or(table, |v| v.span().start);
            at(offset, key(k), format!("{:?}: {}", e.pattern, e.reason))
        };
        TagFilter::new(&tags, &[]).map_err(|e| bad(&s.tags, "tags", e))?;
        let filter =
            TagFilter::new(&tags, &exclude).map_err(|e| bad(&s.exclude_tags, "exclude-tags", e))?;
        let platform = match &s.platform {
            Some(p) => Some(
                p.get_ref()
                    .parse::<Platform>()
                    .map_err(|e| at(p.span().start, key("platform"), e.to_string()))?,
            ),
            None => None,
        };
        specs.push(SyncSpec {
            source,
            destination,
            filter,
            platform,
        });
    }
    Ok(specs)
}
