//! gzip compressed on several threads at once, as pigz does: the plain bytes come in fixed
//! blocks, each block is deflated on its own (primed with the 32 KiB before it, so the
//! ratio barely suffers) and ends on a byte boundary, and the pieces join into one gzip
//! stream any gzip reader takes. The bytes depend only on the input, the block size and
//! the level, never on how many threads made them.

use std::io;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Plain bytes a deflate block may refer back to.
const WINDOW: usize = 32 * 1024;

/// A gzip stream being made, a batch of blocks at a time.
pub struct ParallelGzip {
    level: u32,
    /// The plain bytes just before the next block (at most [`WINDOW`]).
    history: Vec<u8>,
    crc: Crc,
    started: bool,
}

impl ParallelGzip {
    /// A stream at `level` (1 to 9).
    pub fn new(level: u32) -> ParallelGzip {
        ParallelGzip {
            level,
            history: Vec::new(),
            crc: Crc::new(),
            started: false,
        }
    }

    /// Compresses the next plain `blocks` in order, one thread each, and appends them to
    /// `out` (after the header, the first time). `last` ends the stream: its last block (or
    /// an empty one) closes the deflate data and the trailer follows. Every block but the
    /// stream's last must be at least 32 KiB, and all of one size, for the bytes to depend
    /// on nothing but the input.
    pub fn compress(&mut self, blocks: &[&[u8]], last: bool, out: &mut Vec<u8>) -> io::Result<()> {
        if !self.started {
            out.extend_from_slice(&self.header());
            self.started = true;
        }
        let count = blocks.len();
        let job = |i: usize| {
            let dict = match i {
                0 => &self.history[..],
                _ => tail(blocks[i - 1]),
            };
            deflate(self.level, dict, blocks[i], last && i + 1 == count)
        };
        let pieces: Vec<io::Result<Vec<u8>>> = if count <= 1 {
            (0..count).map(job).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..count).map(|i| s.spawn(move || job(i))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(io::Error::other("a compressing thread panicked"))
                        })
                    })
                    .collect()
            })
        };
        for piece in pieces {
            out.extend_from_slice(&piece?);
        }
        for block in blocks {
            self.crc.update(block);
            if block.len() >= WINDOW {
                self.history.clear();
            }
            self.history.extend_from_slice(tail(block));
            let excess = self.history.len().saturating_sub(WINDOW);
            self.history.drain(..excess);
        }
        if last {
            if count == 0 {
                out.extend_from_slice(&deflate(self.level, &[], &[], true)?);
            }
            out.extend_from_slice(&self.crc.sum().to_le_bytes());
            out.extend_from_slice(&self.crc.amount().to_le_bytes());
        }
        Ok(())
    }

    /// The gzip header as flate2 writes it: no name, no time, "unknown" system.
    fn header(&self) -> [u8; 10] {
        let extra_flags = match self.level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 255]
    }
}

/// The last [`WINDOW`] bytes of `block` (all of it when shorter).
fn tail(block: &[u8]) -> &[u8] {
    &block[block.len().saturating_sub(WINDOW)..]
}

/// Raw deflate of `data` primed with `dict`: ends on a byte boundary (a sync flush), or
/// closes the deflate data when `last`.
fn deflate(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() && !data.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Room for the worst case up front, so the compressor takes the block in one call.
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
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

    /// gzip of `data` made in `block`-sized blocks, `batch` blocks (threads) at a time,
    /// fed as the compressor's reader feeds them: the first short block (maybe empty) is
    /// the last.
    fn gzip(data: &[u8], level: u32, block: usize, batch: usize) -> Vec<u8> {
        let mut blocks: Vec<&[u8]> = data.chunks(block).collect();
        if data.len().is_multiple_of(block) {
            blocks.push(&[]);
        }
        let mut z = ParallelGzip::new(level);
        let mut out = Vec::new();
        for group in blocks.chunks(batch) {
            let last = group.last().is_some_and(|b| b.len() < block);
            z.compress(group, last, &mut out).unwrap();
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
        let blocks: Vec<&[u8]> = data.chunks(64 * 1024).collect();
        z.compress(&blocks, false, &mut out).unwrap();
        z.compress(&[], true, &mut out).unwrap();
        assert_eq!(gunzip(&out), data);
        assert_eq!(out, gzip(&data, 6, 64 * 1024, 1));
    }
}
