//! `--shard I/N`: the I-th of N disjoint parts of a sync, so N independent processes given
//! the same arguments do the whole sync between them with no coordinator. An image belongs
//! to part `h mod N`, where `h` is the first 8 bytes (big-endian) of the SHA-256 of
//! `repository:tag` (or `repository@digest`) — the source repository path without the
//! registry, so a mirror of the same repositories on another host splits the same way.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::reference::Reference;

/// One part of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 0.
    pub index: u32,
    /// How many parts.
    pub count: u32,
}

/// A `--shard` value that is not `I/N` with `0 <= I < N`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("shard {input:?}: {reason}")]
pub struct ShardError {
    /// The text as given.
    pub input: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl Default for Shard {
    /// The whole sync: part 0 of 1.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(input: &str) -> Result<Shard, ShardError> {
        let err = |reason| ShardError {
            input: input.chars().take(100).collect(),
            reason,
        };
        let (i, n) = input
            .trim()
            .split_once('/')
            .ok_or_else(|| err("write it as I/N, e.g. 0/3"))?;
        let index: u32 = i.parse().map_err(|_| err("I is not a whole number"))?;
        let count: u32 = n.parse().map_err(|_| err("N is not a whole number"))?;
        if count == 0 {
            return Err(err("N must be at least 1"));
        }
        if index >= count {
            return Err(err("I must be less than N (parts count from 0)"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The part (0..N) the image `source` belongs to.
    pub fn part_of(source: &Reference, count: u32) -> u32 {
        let mut key = source.repository.clone();
        match (&source.digest, &source.tag) {
            (Some(d), _) => key = format!("{key}@{d}"),
            (None, Some(t)) => key = format!("{key}:{t}"),
            (None, None) => {}
        }
        let digest = Digest::sha256_of(key.as_bytes());
        // A SHA-256 digest's hex is 64 characters, so the first 16 are always there.
        let first = u64::from_str_radix(digest.hex().get(..16).unwrap_or("0"), 16).unwrap_or(0);
        (first % u64::from(count.max(1))) as u32
    }

    /// Whether this part copies the image `source`.
    pub fn takes(&self, source: &Reference) -> bool {
        Shard::part_of(source, self.count) == self.index
    }
}
