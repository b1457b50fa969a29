//! A layer's plain bytes read (and checked against its digest) on a thread of their own, a
//! block ahead of the zstd compressor that takes them.
//!
//! zstd compresses each layer as one stream on one thread. An image whose biggest layer is
//! much bigger than the rest is compressed alone at the end; reading and hashing its bytes
//! (about a quarter of that thread's work) then run on the other core instead of waiting
//! for the compressor. It costs two blocks of memory per layer.

use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};

/// Filled blocks, in order, and where emptied ones go back to be filled again.
pub(super) struct Blocks {
    filled: Receiver<io::Result<Vec<u8>>>,
    spare: Sender<Vec<u8>>,
}

impl Blocks {
    /// Starts reading `input` in blocks of `size` bytes (the last one shorter, possibly
    /// empty) on a thread of its own.
    pub(super) fn start(mut input: Box<dyn Read + Send>, size: usize) -> io::Result<Blocks> {
        // One block waits filled while the compressor works on another.
        let (filled_tx, filled) = sync_channel(1);
        let (spare, spare_rx) = channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("tug-read".into())
            .spawn(move || loop {
                let mut block = spare_rx.try_recv().unwrap_or_default();
                let read = read_block(&mut *input, &mut block, size);
                let last = read.is_err() || block.len() < size;
                // The compressor stopped (an error of its own, or its reader went away).
                if filled_tx.send(read.map(|()| block)).is_err() || last {
                    return;
                }
            })?;
        Ok(Blocks { filled, spare })
    }

    /// The next block (shorter than the size only at the end).
    pub(super) fn next(&self) -> io::Result<Vec<u8>> {
        self.filled
            .recv()
            .map_err(|_| io::Error::other("the layer's reading thread stopped"))?
    }

    /// Hands an emptied block back to be filled again.
    pub(super) fn give_back(&self, block: Vec<u8>) {
        let _ = self.spare.send(block);
    }
}

/// Reads the next `size` bytes of `input` into `block` (resized to what was read: short
/// only at the end).
pub(super) fn read_block(input: &mut dyn Read, block: &mut Vec<u8>, size: usize) -> io::Result<()> {
    block.resize(size, 0);
    let mut filled = 0;
    while filled < size {
        match input.read(&mut block[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    block.truncate(filled);
    Ok(())
}
