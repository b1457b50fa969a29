//! The decisions of a bulk mirror (`tug sync SOURCE... DEST`), without I/O: what each SOURCE
//! names ([`SyncSource`]), where each image lands ([`Destination`]), which tags are taken
//! ([`TagFilter`]), several sources with their own filters and destinations in one file
//! ([`parse_sync_file`]), which images this process copies when the work is split over many
//! ([`Shard`]), whether an image needs copying at all ([`decide`]; for a tag holding referrers,
//! [`ReferrersCheck`]), the bytes a dry run would move ([`PlannedBytes`]), which images copy at once within one budget of blobs in
//! flight ([`Budget`]), how far it is in images
//! ([`ImagesDone`]), which wait for the others ([`Phase`]), and the tally of what happened to each ([`Summary`]). A runner lists tags and reads digests with
//! [`crate::listing`] and [`crate::manifest_ops`], and copies with [`crate::copy`].

mod budget;
mod file;
mod filter;
mod phase;
mod places;
mod progress;
mod referrers_tag;
mod shard;
mod size;
mod summary;
mod targets;

pub use budget::{Budget, ImageId, Start, Wanted};
pub use file::{parse_sync_file, SyncFileError, SyncSpec};
pub use filter::{FilterError, TagFilter};
pub use phase::Phase;
pub use places::{listed_repository, Destination, SyncImage, SyncSource, SyncSourceError};
pub use progress::ImagesDone;
pub use referrers_tag::ReferrersCheck;
pub use shard::{Shard, ShardError};
pub use size::{named_by, Named, PlannedBytes};
pub use summary::{decide, Decision, ImageOutcome, Summary};
pub use targets::{check_targets, TargetCheck};

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod tests;
