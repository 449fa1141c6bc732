//! Test support (hidden): payloads for the crate's tests and its
//! integration tests.

/// `len` bytes that do not compress, the same for the same `seed`: the log
/// compresses its batches, and some tests need their real size on disk.
pub fn incompressible(seed: u64, len: usize) -> Vec<u8> {
    // xorshift64: cheap, deterministic, and far from compressible.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
