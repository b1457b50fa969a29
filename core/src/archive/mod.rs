//! Reading image archives and layouts without doing I/O.
//!
//! Two sans-IO state machines, driven by a runner that only carries bytes:
//!
//! - [`TarIndexer`] reads tar header blocks at the offsets it asks for and builds a
//!   [`TarIndex`] (path → data offset, size, link target). It never reads entry contents.
//! - [`SourceResolver`] turns a source — a `docker save` tar (classic or Docker 25+), an OCI
//!   archive, an OCI layout directory or skopeo's `dir:` layout — into [`ResolvedImage`]s: the manifest bytes to PUT
//!   and, for each blob, its digest, size, media type and where its bytes are
//!   ([`BlobLocation`]). It indexes tars itself, then reads only small metadata files and, for
//!   docker saves, the first bytes of each layer to sniff its compression (and the whole of a
//!   compressed layer whose path does not name its digest, to hash it).
//!
//! [`layer_tar`] decides how a layer blob turns back into its tar (by its bytes) and names
//! the layer in every error; [`recompress`] re-describes an image with compressed layers.
//! [`Selection::push_plan`] turns a selection into the push plan both runners send;
//! [`docker_save_export`] plans the entries of a `docker save` tar, which a runner writes
//! with [`tar_writer`].
//!
//! Driving either one: call `poll`; do the read it asks for; pass the answer to the matching
//! `handle_*` method; repeat until it is done. `poll` repeats a request until it is answered.
//! Nothing here panics on any input; problems come back as [`ArchiveError`]s that name the
//! entry, file or offset at fault.

pub mod compression;
pub mod diff_id_checks;
mod docker_save;
pub mod docker_save_export;
mod error;
pub mod export_choice;
mod image;
mod json_edit;
pub mod layer_tar;
pub mod media_types;
mod oci_json;
mod oci_layout;
pub mod oci_types;
mod path;
pub mod pulled_layout;
mod push_plan;
pub mod recompress;
mod resolve;
mod select;
mod skopeo_dir;
mod store;
pub mod stored_image;
mod tar_header;
mod tar_index;
pub mod tar_writer;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use compression::{sniff, Compression};
pub use error::ArchiveError;
pub use image::{
    BlobLocation, BlobSpec, ManifestBytes, ResolvedImage, Selection, SourceContents, SourceFormat,
};
pub use oci_json::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
pub use oci_layout::{INDEX_JSON, OCI_LAYOUT_FILE};
pub use push_plan::SelectionPlan;
pub use resolve::{ResolveStep, SourceResolver};
pub use select::MIN_DIGEST_PREFIX;
pub use store::MAX_METADATA_LEN;
pub use tar_index::{
    EntryKind, IndexStep, TarEntry, TarIndex, TarIndexer, MAX_EXTENDED_HEADER, MAX_LINK_HOPS,
};
