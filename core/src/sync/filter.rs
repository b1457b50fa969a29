//! `--tags REGEX` / `--exclude-tags REGEX`: which listed tags a sync takes. Each expression
//! must match the whole tag (it is anchored, as regsync's and skopeo's tag filters read in
//! practice: `1\.2` takes `1.2`, not `11.2` or `1.2-rc`); a tag is taken when it matches an
//! include (or there is none) and no exclude.

use regex::Regex;

/// An expression that is not a valid regular expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {pattern:?}: {reason}")]
pub struct FilterError {
    /// `--tags` or `--exclude-tags`.
    pub flag: &'static str,
    /// The expression as given.
    pub pattern: String,
    /// The regex crate's message.
    pub reason: String,
}

/// The tag filters of a sync.
#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

fn anchored(flag: &'static str, pattern: &str) -> Result<Regex, FilterError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| FilterError {
        flag,
        pattern: pattern.to_owned(),
        reason: e.to_string(),
    })
}

impl TagFilter {
    /// The filter of the `--tags` and `--exclude-tags` expressions (each may be repeated).
    pub fn new(include: &[String], exclude: &[String]) -> Result<TagFilter, FilterError> {
        Ok(TagFilter {
            include: include
                .iter()
                .map(|p| anchored("--tags", p))
                .collect::<Result<_, _>>()?,
            exclude: exclude
                .iter()
                .map(|p| anchored("--exclude-tags", p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether `tag` is taken.
    pub fn takes(&self, tag: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(tag)))
            && !self.exclude.iter().any(|r| r.is_match(tag))
    }
}
