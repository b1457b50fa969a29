//! A small deterministic random generator for fixture content.
//!
//! Fixtures must be reproducible from a seed on every machine and every build, so this
//! does not depend on an external crate whose output could change between versions.

use std::io::{self, Read};

/// xorshift64* seeded through SplitMix64. Not cryptographic; only for test content.
#[derive(Debug, Clone)]
pub struct TestRng {
    state: u64,
}

impl TestRng {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // xorshift must not start from zero.
        Self {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }

    /// A generator for sub-stream `index` of `seed` (e.g. one per layer).
    pub fn derive(seed: u64, index: u64) -> Self {
        Self::new(seed ^ index.wrapping_add(1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }
}

/// A reader yielding exactly `len` random bytes from a [`TestRng`].
#[derive(Debug)]
pub struct RandomReader<'a> {
    rng: &'a mut TestRng,
    remaining: u64,
}

impl<'a> RandomReader<'a> {
    /// `len` bytes from `rng`.
    pub fn new(rng: &'a mut TestRng, len: u64) -> Self {
        Self {
            rng,
            remaining: len,
        }
    }
}

impl Read for RandomReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.rng.fill(&mut buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_different_seed_different_bytes() {
        let mut a = [0u8; 37];
        let mut b = [0u8; 37];
        let mut c = [0u8; 37];
        TestRng::new(7).fill(&mut a);
        TestRng::new(7).fill(&mut b);
        TestRng::new(8).fill(&mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, [0u8; 37]);
    }

    #[test]
    fn random_reader_yields_exact_length() {
        let mut rng = TestRng::new(1);
        let mut out = Vec::new();
        RandomReader::new(&mut rng, 100_003)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 100_003);
    }
}
