//! `tug blob REF@DIGEST [-o FILE]`: one blob, streamed to standard output or a file as it
//! arrives and verified against its digest by the core ([`tug_core::blob_read`]). A file is
//! written beside FILE and renamed into place only once its bytes are verified.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant as Clock;

use tug_core::blob_read::{BlobPlan, BlobRead};
use tug_core::Instant;

use crate::cli::verbs::BlobArgs;
use crate::exit_code::CliError;
use crate::output::{errln, Stream};
use crate::safe_fs::{self, Access};

pub fn blob(args: BlobArgs) -> Result<(), CliError> {
    let r = super::parse_reference("blob", &args.blob)?;
    let Some(digest) = r.digest.clone().filter(|_| r.tag.is_none()) else {
        return Err(CliError::Usage(format!(
            "blob: {:?} names no blob; give registry/repository@sha256:…",
            args.blob
        )));
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
    let Some(path) = &args.output else {
        let on_data = |bytes: &[u8]| {
            Stream::Stdout.write(bytes);
            Ok(())
        };
        super::run_reading(op, origin, &transport, BlobRead::poll, on_data)?;
        return Ok(());
    };
    let (file, temp) = temp_beside(path)?;
    let result = write_verified(op, origin, &transport, file, &temp, path);
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    let report = result?;
    errln!(
        "Wrote {} ({} bytes) to {}",
        report.digest,
        report.size,
        path.display()
    );
    Ok(())
}

/// A new temporary file in `path`'s directory.
fn temp_beside(path: &Path) -> Result<(File, PathBuf), CliError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let prefix = format!(".{}.tug-part", name.unwrap_or_else(|| "blob".into()));
    safe_fs::create_temp(dir, &prefix, Access::Shared)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Reads the blob into `file` (at `temp`), then renames it to `path` once verified.
fn write_verified(
    op: BlobRead,
    origin: Clock,
    transport: &crate::transport::Transport,
    mut file: File,
    temp: &Path,
    path: &Path,
) -> Result<tug_core::blob_read::BlobReport, CliError> {
    let failed = |e: std::io::Error| CliError::Input(format!("{}: {e}", temp.display()));
    let on_data = |bytes: &[u8]| file.write_all(bytes).map_err(failed);
    let report = super::run_reading(op, origin, transport, BlobRead::poll, on_data)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    std::fs::rename(temp, path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    Ok(report)
}
