//! `tug blob REF@DIGEST [-o FILE]`: one blob, streamed to standard output or a file as it
//! arrives and verified against its digest by the core ([`tug_core::blob_read`]). A file is
//! written beside FILE (beside what a link there names) and renamed into place only once its
//! bytes are verified; a FIFO or device gets them copied in then ([`crate::out_path`]).
//! Standard output (no `-o`, `-o -`) gets the bytes as they come: a reader that goes away
//! early fails the command, as the bytes it got are not the blob.

use std::io::Write;
use std::path::Path;
use std::time::Instant as Clock;

use tug_core::blob_read::{BlobPlan, BlobRead};
use tug_core::Instant;

use crate::cli::verbs::BlobArgs;
use crate::exit_code::CliError;
use crate::locked_temp::TempFile;
use crate::out_path::Dest;
use crate::output::errln;
use crate::safe_fs::Access;

pub fn blob(args: BlobArgs) -> Result<(), CliError> {
    let r = super::parse_reference("blob", &args.blob)?;
    let Some(digest) = r.digest.clone().filter(|_| r.tag.is_none()) else {
        return Err(CliError::Usage(format!(
            "blob: {:?} names no blob; give registry/repository@sha256:…",
            args.blob
        )));
    };
    // Where a file really goes, before anything is asked of the registry.
    let dest = match &args.output {
        Some(path) if !crate::out_path::is_stdout(path) => Some(Dest::resolve(path, "a blob")?),
        _ => None,
    };
    let origin = Clock::now();
    let (transport, config) = super::reach(&r, &args.reach)?;
    let plan = BlobPlan {
        registry: r.api_host().to_owned(),
        repository: r.repository.clone(),
        digest,
        max_size: None,
    };
    let op = BlobRead::new(plan, &config, Instant::ZERO);
    let Some(dest) = dest else {
        // The blob is the output: bytes that cannot be written (a closed pipe, a full disk)
        // stop it and fail the command.
        let on_data = |bytes: &[u8]| {
            crate::out_path::write_stdout(bytes)
                .map_err(|e| CliError::Input(format!("cannot write to standard output: {e}")))
        };
        super::run_reading(op, origin, &transport, BlobRead::poll, on_data)?;
        return Ok(());
    };
    let temp = temp_beside(dest.path())?;
    let report = write_verified(op, origin, &transport, temp, dest.path())?;
    let shown = dest.shown();
    dest.deliver()?;
    errln!("Wrote {} ({} bytes) to {shown}", report.digest, report.size);
    Ok(())
}

/// A new temporary file in `path`'s directory (`.NAME.tug-part-PID-N`), locked while it is
/// written and removed if the blob fails; the leftovers of killed runs there go first.
fn temp_beside(path: &Path) -> Result<TempFile, CliError> {
    let dir = crate::out_path::dir_of(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let prefix = format!(".{}.tug-part-", name.unwrap_or_else(|| "blob".into()));
    TempFile::new(dir, &prefix, Access::Shared)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Reads the blob into `temp`, then renames it to `path` once verified (on an error, `temp`
/// is removed as it is dropped).
fn write_verified(
    op: BlobRead,
    origin: Clock,
    transport: &crate::transport::Transport,
    temp: TempFile,
    path: &Path,
) -> Result<tug_core::blob_read::BlobReport, CliError> {
    let failed = |e: std::io::Error| CliError::Input(format!("{}: {e}", temp.path().display()));
    let mut file = temp.file();
    let on_data = |bytes: &[u8]| file.write_all(bytes).map_err(failed);
    let report = super::run_reading(op, origin, transport, BlobRead::poll, on_data)?;
    temp.file().sync_all().map_err(failed)?;
    temp.persist(path)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    Ok(report)
}
