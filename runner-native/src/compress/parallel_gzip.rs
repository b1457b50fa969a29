//! gzip compressed on several threads at once, as pigz does: the plain bytes come in fixed
//! blocks, each block is deflated on its own (primed with the 32 KiB before it, so the
//! ratio barely suffers) and ends on a byte boundary, and the pieces join into one gzip
//! stream any gzip reader takes (one member, as gzip, pigz and Go write it). The bytes
//! depend only on the input, the block size and the level, never on which thread made a
//! piece or how many were at work.

use std::io;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Plain bytes a deflate block may refer back to.
const WINDOW: usize = 32 * 1024;

/// A gzip stream being cut into blocks, each deflated wherever [`Block::deflate`] runs.
pub struct ParallelGzip {
    level: u32,
    /// The plain bytes just before the next block (at most [`WINDOW`]).
    history: Vec<u8>,
    /// CRC-32 and length of the plain bytes so far.
    crc: crc32fast::Hasher,
    len: u32,
    started: bool,
}

impl ParallelGzip {
    /// A stream at `level` (1 to 9).
    pub fn new(level: u32) -> ParallelGzip {
        ParallelGzip {
            level,
            history: Vec::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
            started: false,
        }
    }

    /// The next plain `block` of the stream, ready to deflate on any thread; `last` ends
    /// the stream (an empty last block is fine). The pieces the blocks make, joined in the
    /// order the blocks were given, are the gzip stream. Every block but the last must be
    /// at least 32 KiB, and all of one size, for the bytes to depend on nothing but the input.
    pub fn block(&mut self, plain: Vec<u8>, last: bool) -> Block {
        let header = (!self.started).then(|| header(self.level));
        self.started = true;
        let dict = self.history.clone();
        self.crc.update(&plain);
        // gzip keeps the length modulo 2^32.
        self.len = self.len.wrapping_add(plain.len() as u32);
        if plain.len() >= WINDOW {
            self.history.clear();
        }
        self.history.extend_from_slice(tail(&plain));
        let excess = self.history.len().saturating_sub(WINDOW);
        self.history.drain(..excess);
        let trailer = last.then(|| {
            let mut t = [0; 8];
            t[..4].copy_from_slice(&self.crc.clone().finalize().to_le_bytes());
            t[4..].copy_from_slice(&self.len.to_le_bytes());
            t
        });
        Block {
            level: self.level,
            dict,
            plain,
            header,
            trailer,
        }
    }
}

/// One block of a [`ParallelGzip`] stream and all it needs to be deflated on its own.
pub struct Block {
    level: u32,
    /// The plain bytes before it, which it may refer back to.
    dict: Vec<u8>,
    plain: Vec<u8>,
    /// The gzip header, for the stream's first block.
    header: Option<[u8; 10]>,
    /// The gzip trailer (CRC and length), for the stream's last block.
    trailer: Option<[u8; 8]>,
}

impl Block {
    /// This block's piece of the gzip stream, and its plain buffer back (for the next block).
    pub fn deflate(self) -> (io::Result<Vec<u8>>, Vec<u8>) {
        let mut out = Vec::with_capacity(self.plain.len() + self.plain.len() / 8 + 1024);
        if let Some(h) = self.header {
            out.extend_from_slice(&h);
        }
        let last = self.trailer.is_some();
        let piece = deflate(self.level, &self.dict, &self.plain, last, out).map(|mut out| {
            if let Some(t) = self.trailer {
                out.extend_from_slice(&t);
            }
            out
        });
        (piece, self.plain)
    }
}

/// The gzip header as flate2 writes it: no name, no time, "unknown" system.
fn header(level: u32) -> [u8; 10] {
    let extra_flags = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 255]
}

/// The last [`WINDOW`] bytes of `block` (all of it when shorter).
fn tail(block: &[u8]) -> &[u8] {
    &block[block.len().saturating_sub(WINDOW)..]
}

/// `out` with the raw deflate of `data` primed with `dict` appended: ends on a byte boundary
/// (a sync flush), or closes the deflate data when `last`.
fn deflate(
    level: u32,
    dict: &[u8],
    data: &[u8],
    last: bool,
    mut out: Vec<u8>,
) -> io::Result<Vec<u8>> {
    // A new compressor per block: a reset one does not always make the same bytes.
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() && !data.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // The caller makes room for the worst case, so the compressor takes the block in one call.
    loop {
        let taken = usize::try_from(c.total_in()).unwrap_or(data.len());
        let status = c
            .compress_vec(&data[taken..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_taken = c.total_in() == data.len() as u64;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError if !last && all_taken && room_left => return Ok(out),
            _ => out.reserve(64 * 1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 99;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 5 == 0 {
                    (x >> 24) as u8
                } else {
                    b"tug pushes images "[i % 18]
                }
            })
            .collect()
    }

    /// gzip of `data` made in `block`-sized blocks, `threads` blocks deflated at once,
    /// fed as the compressor's reader feeds them: the first short block (maybe empty) is
    /// the last.
    fn gzip(data: &[u8], level: u32, block: usize, threads: usize) -> Vec<u8> {
        let mut blocks: Vec<&[u8]> = data.chunks(block).collect();
        if data.len().is_multiple_of(block) {
            blocks.push(&[]);
        }
        let mut z = ParallelGzip::new(level);
        let mut out = Vec::new();
        for group in blocks.chunks(threads) {
            let jobs: Vec<Block> = group
                .iter()
                .map(|b| z.block(b.to_vec(), b.len() < block))
                .collect();
            let pieces: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = jobs.into_iter().map(|j| s.spawn(|| j.deflate())).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for (piece, _) in pieces {
                out.extend_from_slice(&piece.unwrap());
            }
        }
        out
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn any_thread_count_makes_the_same_valid_gzip() {
        let data = sample(1_000_000);
        let one = gzip(&data, 6, 64 * 1024, 1);
        assert_eq!(gunzip(&one), data);
        for batch in [2, 3, 8] {
            assert_eq!(gzip(&data, 6, 64 * 1024, batch), one, "{batch} threads");
        }
        // Primed blocks compress about as well as one stream.
        let mut whole = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        std::io::Write::write_all(&mut whole, &data).unwrap();
        let whole = whole.finish().unwrap();
        assert!(
            (one.len() as f64) < whole.len() as f64 * 1.02,
            "{} vs {}",
            one.len(),
            whole.len()
        );
    }

    #[test]
    fn empty_exact_and_tiny_inputs_round_trip() {
        for len in [0, 1, 100, 64 * 1024, 3 * 64 * 1024] {
            let data = sample(len);
            for batch in [1, 2] {
                let bytes = gzip(&data, 1, 64 * 1024, batch);
                assert_eq!(gunzip(&bytes), data, "{len} bytes, {batch} threads");
            }
        }
        // An exact multiple of the block size ends with an empty closing block.
        let data = sample(128 * 1024);
        let mut z = ParallelGzip::new(6);
        let mut out = Vec::new();
        for (i, b) in data.chunks(64 * 1024).enumerate() {
            out.extend_from_slice(&z.block(b.to_vec(), false).deflate().0.unwrap());
            assert!(i < 2);
        }
        out.extend_from_slice(&z.block(Vec::new(), true).deflate().0.unwrap());
        assert_eq!(gunzip(&out), data);
        assert_eq!(out, gzip(&data, 6, 64 * 1024, 1));
    }
}
