//! Writing an image of the store into an OCI image layout directory (`oci:DIR[:REF]`, as
//! `tug copy` and `tug save` write it, as skopeo does): the blobs it needs are copied in,
//! each checked against its digest on the way and renamed into place only then, and the
//! image is named in `index.json` last, beside the images already there.

use std::io;
use std::path::Path;

use tug_core::archive::pulled_layout::{exported_names, IndexEntry};
use tug_core::archive::INDEX_JSON;

use crate::archive_writer::{note_absent, oci_export, ExportError, ExportImage};
use crate::oci_dir::{NewLayout, OciDir, TakeError};
use crate::output::noteln;

/// Whether a layout can be written at `out`, asked before any work: nothing yet, or a
/// directory whose `index.json`, if it has one, can be read. `Err` names the output.
pub fn check_output(out: &Path) -> Result<(), String> {
    match std::fs::metadata(out) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "{} is a file, and an OCI layout is written as a directory",
            out.display()
        )),
        Ok(_) if out.join(INDEX_JSON).exists() => {
            let path = out.join(INDEX_JSON);
            let bytes =
                crate::safe_fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(index) if index["manifests"].is_array() => Ok(()),
                Ok(_) => Err(format!("{}: it lists no \"manifests\"", path.display())),
                Err(e) => Err(format!(
                    "{}: not a readable index.json ({e})",
                    path.display()
                )),
            }
        }
        _ => Ok(()),
    }
}

/// Writes `image` from `store` into the layout at `out` (made if it does not exist; a
/// layout tug makes and nothing comes into is removed again). Blobs the layout holds are
/// not copied again; Docker-typed manifests are written with OCI media types, as skopeo
/// writes them and a pull into a layout does. The image is named as [`exported_names`]
/// says; when that name is another repository's image's there, it takes its whole name
/// instead, as a pull does, and a note says so.
pub fn write_oci_layout(
    store: &OciDir,
    image: &ExportImage,
    out: &Path,
) -> Result<(), ExportError> {
    let export = oci_export(store, image)?;
    let image = &export.image;
    note_absent(image.name.as_deref(), &export.absent);
    let new = NewLayout::at(out);
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", out.display()));
    let mut layout = OciDir::open(out).map_err(named)?;
    // A link planted as a blob is refused, as a pull into the layout refuses it.
    layout.blobs().map_err(named)?;
    let (ref_name, image_name) = exported_names(image.name.as_deref(), image.ref_name.as_deref());
    let entry = IndexEntry {
        media_type: &image.media_type,
        digest: &image.digest,
        size: image.size,
        ref_name,
        image_name,
        created: None,
    };
    if entry.clashes_in(&layout.entries().map_err(named)?, image.ref_given) {
        return Err(ExportError::Invalid(format!(
            "{ref_name:?} in {} names another image (named by its tag alone, as another \
             tool names one): give this one a name of its own, oci:{}:NAME",
            out.display(),
            out.display()
        )));
    }
    for d in &export.stored {
        let path = store.blob_path(d);
        let file = crate::safe_fs::open_read(&path)?;
        let size = file.metadata()?.len();
        // One the layout holds is not copied again, unless its size shows it damaged.
        let held = std::fs::symlink_metadata(layout.blob_path(d));
        if held.is_ok_and(|m| m.is_file() && m.len() == size) {
            continue;
        }
        layout.take_blob(d, file, size).map_err(|e| match e {
            TakeError::Stopped => ExportError::Cancelled,
            TakeError::Io(e) => named(e).into(),
            mismatch => ExportError::Invalid(format!(
                "{}: blob {d} {mismatch}: the copy there is damaged; delete that file and \
                 pull the image again",
                path.display()
            )),
        })?;
    }
    for m in &export.rewritten {
        layout.put_blob(&m.digest, &m.bytes).map_err(named)?;
    }
    // Named last: a layout never names an image it does not hold whole.
    let took = layout
        .tag(
            ref_name,
            image_name,
            &image.media_type,
            &image.digest,
            image.size,
            image.ref_given,
        )
        .map_err(named)?;
    if took != ref_name {
        noteln!(
            "{ref_name:?} in {} names another repository's image: this one is named {took:?} there",
            out.display()
        );
    }
    // The layout holds images only, as a pull's output does.
    layout.remove_lock_file().map_err(named)?;
    new.keep();
    Ok(())
}
