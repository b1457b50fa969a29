//! The layers the core leaves to check ([`BlobSpec::diff_id_check`]: a compressed layer of a
//! classic `docker save` or a crane tarball, whose digest comes from its own bytes). Each is
//! decoded and hashed against its config's diffID before the image goes anywhere, as skopeo
//! does, so a damaged or mislabelled layer never reaches a registry or the store. Layers are
//! checked side by side, one thread per core, each read once from its file.

use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tug_core::archive::diff_id_checks::{layers_to_check, where_held};
use tug_core::archive::layer_tar::{LayerName, LayerTarError, TarCheck};
use tug_core::archive::{BlobSpec, Compression, ResolvedImage};

use crate::exit_code::CliError;
use crate::source::Source;

/// Bytes decoded per read.
const BUF: usize = 256 * 1024;

/// Checks every layer of `images` that asks for it; the first failure names the file, the
/// tar entry and what its bytes are. One entry listed for two diffIDs is refused at once,
/// as skopeo does: its tar cannot be both.
pub fn check_layers(source: &Source, images: &[ResolvedImage]) -> Result<(), CliError> {
    let todo = layers_to_check(images)
        .map_err(|e| CliError::Input(format!("{}: {e}", source.path.display())))?;
    if todo.is_empty() {
        return Ok(());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(todo.len());
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<CliError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((layer, image)) = todo.get(i) else {
                    break;
                };
                if failure.lock().map_or(true, |f| f.is_some()) {
                    break;
                }
                if let Err(e) = check_one(source, layer, image) {
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(e);
                    }
                }
            });
        }
    });
    match failure.into_inner() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => Err(CliError::Input("a layer check stopped".into())),
    }
}

fn check_one(source: &Source, layer: &BlobSpec, image: &ResolvedImage) -> Result<(), CliError> {
    let Some(diff_id) = layer.diff_id_check.clone() else {
        return Ok(());
    };
    let entry = where_held(layer);
    let failed =
        |e: LayerTarError| CliError::Input(format!("{}: {entry}: {e}", source.path.display()));
    let name = LayerName {
        digest: layer.digest.clone(),
        image: image.names.first().cloned(),
    };
    let compression = layer.compression.unwrap_or(Compression::None);
    // No cap: nothing is written, and a layer of zeros may inflate 1000-fold (skopeo takes
    // it); a bomb costs time only, and Ctrl-C stops it.
    let mut check = TarCheck::new(name, diff_id, compression);
    let file = source
        .blob_file(&layer.location)
        .open(0, layer.size)
        .map_err(|e| failed(check.unreadable(e.to_string())))?;
    let mut tar = crate::decode::decoder(compression, BufReader::with_capacity(BUF, file))
        .map_err(|e| failed(check.unreadable(e.to_string())))?;
    let mut buf = vec![0u8; BUF];
    loop {
        if crate::interrupt::requested() {
            return Err(CliError::Core(tug_core::Error::Cancelled));
        }
        let n = match tar.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(check.unreadable(e.to_string()))),
        };
        check.feed(&buf[..n]).map_err(|e| failed(*e))?;
    }
    check.finish().map_err(|e| failed(*e))
}
