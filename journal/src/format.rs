//! The on-disk byte layout of journal segments, defined once.
//!
//! Written by hand rather than with a serialization crate because this format
//! *is* the product's durability: every byte is documented in
//! `docs/format.md`, every field is little-endian at a fixed offset, and the
//! decoder must survive arbitrary bytes (see the `segment_decode` fuzz
//! target). The headers are `bytemuck::Pod` structs so that encoding is a
//! copy, and decoding is `pod_read_unaligned` plus explicit validation.
//!
//! ```text
//! segment file = SegmentHeader (64 B) | batch | batch | ... | zeros
//! batch        = BatchHeader (40 B) | payload (stored_len B) | zero pad to 8 B
//! payload      = zstd(raw) if FLAG_ZSTD else raw
//! raw          = (entry_len: u32 LE, entry bytes) * count
//! ```

use bytemuck::{Pod, Zeroable};
use bytes::Bytes;

use crate::seq::Seq;

pub const SEGMENT_MAGIC: [u8; 8] = *b"MEMOIRSG";
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"MJB1");
/// Version of both headers; a reader refuses versions it does not know.
pub const FORMAT_VERSION: u16 = 1;

pub const SEGMENT_HEADER_LEN: usize = std::mem::size_of::<SegmentHeader>();
pub const BATCH_HEADER_LEN: usize = std::mem::size_of::<BatchHeader>();
/// Batches start at multiples of this, so that a forward scan for a later
/// valid header (to tell a torn tail from mid-log corruption) is cheap.
pub const BATCH_ALIGN: usize = 8;
/// Torn-write detection works at this granularity: a write that did not reach
/// the disk leaves whole sectors of zeros in a preallocated file.
pub const SECTOR_LEN: usize = 512;

/// Segment flag: this segment starts a new base for the log; every older
/// segment is obsolete (written by `Log::reset`).
pub const SEGMENT_FLAG_RESET: u16 = 1;
/// Batch flag: the payload is one zstd frame.
pub const BATCH_FLAG_ZSTD: u16 = 1;
const KNOWN_BATCH_FLAGS: u16 = BATCH_FLAG_ZSTD;
const KNOWN_SEGMENT_FLAGS: u16 = SEGMENT_FLAG_RESET;

/// Upper bound on a batch's uncompressed payload. A format constant (not an
/// option) so that every reader agrees; it also bounds what a hostile header
/// can make the decoder allocate.
pub const MAX_BATCH_RAW_BYTES: u32 = 1 << 30;
/// Upper bound on entries in one batch.
pub const MAX_BATCH_ENTRIES: u32 = 1 << 24;
/// Each entry is framed by a u32 length.
pub const ENTRY_LEN_PREFIX: usize = 4;

/// The first 64 bytes of every segment file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub struct SegmentHeader {
    pub magic: [u8; 8],
    pub version: u16,
    pub flags: u16,
    pub reserved0: u32,
    pub segment_id: u64,
    pub first_seq: u64,
    pub reserved1: [u8; 28],
    /// CRC32C of bytes 0..60.
    pub header_crc: u32,
}

/// The fixed header in front of every batch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub struct BatchHeader {
    pub magic: u32,
    pub version: u16,
    pub flags: u16,
    pub first_seq: u64,
    pub count: u32,
    /// Payload bytes as stored on disk (after compression).
    pub stored_len: u32,
    /// Payload bytes before compression (the entry framing).
    pub raw_len: u32,
    pub reserved: u32,
    /// CRC32C over header bytes 0..32 then the stored payload, starting from
    /// the previous batch's `batch_crc` (or the segment salt for the first
    /// batch): a batch is only valid in its own place in its own segment.
    pub batch_crc: u32,
    /// CRC32C of header bytes 0..36 (everything before this field).
    pub header_crc: u32,
}

const _: () = assert!(SEGMENT_HEADER_LEN == 64);
const _: () = assert!(BATCH_HEADER_LEN == 40);
const _: () = assert!(BATCH_HEADER_LEN % BATCH_ALIGN == 0);
const _: () = assert!(SEGMENT_HEADER_LEN % BATCH_ALIGN == 0);

/// What is wrong with a header or a batch. Carries no location: the caller
/// knows the file and offset and wraps it into `Error::Corruption`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("truncated: need {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u16),
    #[error("unknown flags {0:#x}")]
    UnknownFlags(u16),
    #[error("header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    HeaderChecksum { stored: u32, computed: u32 },
    #[error("batch checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BatchChecksum { stored: u32, computed: u32 },
    #[error("segment id {found} does not match file name id {expected}")]
    SegmentIdMismatch { expected: u64, found: u64 },
    #[error("batch starts at seq {found}, expected {expected}")]
    SeqMismatch { expected: u64, found: u64 },
    #[error("implausible batch: {0}")]
    Implausible(&'static str),
    #[error("entry framing: {0}")]
    Framing(&'static str),
    #[error("zstd: {0}")]
    Decompress(String),
}

/// The CRC seed of the first batch of a segment: the segment id, so that a
/// batch copied from another segment never validates.
pub fn segment_salt(segment_id: u64) -> u32 {
    crc32c::crc32c(&segment_id.to_le_bytes())
}

/// Rounds `len` up to the batch alignment.
pub fn align_up(len: usize) -> usize {
    len.div_ceil(BATCH_ALIGN) * BATCH_ALIGN
}

impl SegmentHeader {
    pub fn new(segment_id: u64, first_seq: Seq, flags: u16) -> SegmentHeader {
        let mut header = SegmentHeader {
            magic: SEGMENT_MAGIC,
            version: FORMAT_VERSION,
            flags,
            reserved0: 0,
            segment_id,
            first_seq: first_seq.0,
            reserved1: [0; 28],
            header_crc: 0,
        };
        header.header_crc = crc32c::crc32c(&bytemuck::bytes_of(&header)[..60]);
        header
    }

    pub fn first_seq(&self) -> Seq {
        Seq(self.first_seq)
    }

    pub fn is_reset(&self) -> bool {
        self.flags & SEGMENT_FLAG_RESET != 0
    }

    /// Parses and validates the header at the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, FormatError> {
        let raw = bytes.get(..SEGMENT_HEADER_LEN).ok_or(FormatError::Truncated {
            needed: SEGMENT_HEADER_LEN,
            available: bytes.len(),
        })?;
        let header: SegmentHeader = bytemuck::pod_read_unaligned(raw);
        if header.magic != SEGMENT_MAGIC {
            return Err(FormatError::BadMagic);
        }
        let computed = crc32c::crc32c(&raw[..60]);
        if computed != header.header_crc {
            return Err(FormatError::HeaderChecksum {
                stored: header.header_crc,
                computed,
            });
        }
        if header.version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(header.version));
        }
        if header.flags & !KNOWN_SEGMENT_FLAGS != 0 {
            return Err(FormatError::UnknownFlags(header.flags));
        }
        if header.first_seq == 0 {
            return Err(FormatError::Implausible("segment first seq is 0"));
        }
        Ok(header)
    }
}

impl BatchHeader {
    pub fn first_seq(&self) -> Seq {
        Seq(self.first_seq)
    }

    /// Bytes this batch occupies in the file, header and padding included.
    pub fn disk_len(&self) -> usize {
        align_up(BATCH_HEADER_LEN + self.stored_len as usize)
    }

    pub fn is_compressed(&self) -> bool {
        self.flags & BATCH_FLAG_ZSTD != 0
    }

    /// Parses the header at the start of `bytes` and checks everything that
    /// does not need the payload: magic, version, flags, header CRC, bounds.
    pub fn decode(bytes: &[u8]) -> Result<BatchHeader, FormatError> {
        let raw = bytes.get(..BATCH_HEADER_LEN).ok_or(FormatError::Truncated {
            needed: BATCH_HEADER_LEN,
            available: bytes.len(),
        })?;
        let header: BatchHeader = bytemuck::pod_read_unaligned(raw);
        if header.magic != BATCH_MAGIC {
            return Err(FormatError::BadMagic);
        }
        let computed = crc32c::crc32c(&raw[..36]);
        if computed != header.header_crc {
            return Err(FormatError::HeaderChecksum {
                stored: header.header_crc,
                computed,
            });
        }
        if header.version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(header.version));
        }
        if header.flags & !KNOWN_BATCH_FLAGS != 0 {
            return Err(FormatError::UnknownFlags(header.flags));
        }
        if header.count == 0 || header.count > MAX_BATCH_ENTRIES {
            return Err(FormatError::Implausible("entry count"));
        }
        if header.raw_len > MAX_BATCH_RAW_BYTES
            || (header.raw_len as u64) < header.count as u64 * ENTRY_LEN_PREFIX as u64
        {
            return Err(FormatError::Implausible("raw length"));
        }
        if !header.is_compressed() && header.stored_len != header.raw_len {
            return Err(FormatError::Implausible("stored length of an uncompressed batch"));
        }
        if header.first_seq == 0 || header.first_seq.checked_add(header.count as u64).is_none() {
            return Err(FormatError::Implausible("first seq"));
        }
        Ok(header)
    }

    /// Verifies the batch CRC of a whole batch (`bytes` starts at the header
    /// and holds at least the stored payload) chained from `seed`.
    pub fn verify_payload(&self, bytes: &[u8], seed: u32) -> Result<(), FormatError> {
        let end = BATCH_HEADER_LEN + self.stored_len as usize;
        let body = bytes.get(..end).ok_or(FormatError::Truncated {
            needed: end,
            available: bytes.len(),
        })?;
        let computed = batch_crc(seed, &body[..32], &body[BATCH_HEADER_LEN..]);
        if computed != self.batch_crc {
            return Err(FormatError::BatchChecksum {
                stored: self.batch_crc,
                computed,
            });
        }
        Ok(())
    }
}

fn batch_crc(seed: u32, header_prefix: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c_append(seed, header_prefix), payload)
}

/// Encoding settings for one batch.
#[derive(Clone, Copy, Debug)]
pub struct Compression {
    /// Batches whose raw payload is at least this large are zstd-compressed
    /// (when that makes them smaller). `usize::MAX` disables compression.
    pub threshold_bytes: usize,
    pub zstd_level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            threshold_bytes: 64 * 1024,
            zstd_level: 1,
        }
    }
}

/// Appends one encoded batch holding `entries` (seqs `first_seq..`) to `out`,
/// chained from `seed`. Returns the batch CRC, the seed of the next batch.
///
/// `out` is cleared first; the caller reuses the buffer between batches.
pub fn encode_batch<'a, I>(
    out: &mut Vec<u8>,
    first_seq: Seq,
    entries: I,
    seed: u32,
    compression: Compression,
) -> Result<u32, FormatError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    out.clear();
    out.resize(BATCH_HEADER_LEN, 0);
    let mut count: u64 = 0;
    for entry in entries {
        let len = u32::try_from(entry.len()).map_err(|_| FormatError::Implausible("entry larger than 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(entry);
        count += 1;
    }
    let raw_len = out.len() - BATCH_HEADER_LEN;
    if count == 0 {
        return Err(FormatError::Implausible("a batch needs at least one entry"));
    }
    if count > MAX_BATCH_ENTRIES as u64 {
        return Err(FormatError::Implausible("too many entries in one batch"));
    }
    if raw_len > MAX_BATCH_RAW_BYTES as usize {
        return Err(FormatError::Implausible("batch larger than the format allows"));
    }
    let mut flags = 0;
    if raw_len >= compression.threshold_bytes {
        let compressed = zstd::bulk::compress(&out[BATCH_HEADER_LEN..], compression.zstd_level)
            .map_err(|e| FormatError::Decompress(e.to_string()))?;
        if compressed.len() < raw_len {
            out.truncate(BATCH_HEADER_LEN);
            out.extend_from_slice(&compressed);
            flags |= BATCH_FLAG_ZSTD;
        }
    }
    let stored_len = out.len() - BATCH_HEADER_LEN;
    let mut header = BatchHeader {
        magic: BATCH_MAGIC,
        version: FORMAT_VERSION,
        flags,
        first_seq: first_seq.0,
        count: count as u32,
        stored_len: stored_len as u32,
        raw_len: raw_len as u32,
        reserved: 0,
        batch_crc: 0,
        header_crc: 0,
    };
    header.batch_crc = batch_crc(seed, &bytemuck::bytes_of(&header)[..32], &out[BATCH_HEADER_LEN..]);
    header.header_crc = crc32c::crc32c(&bytemuck::bytes_of(&header)[..36]);
    out[..BATCH_HEADER_LEN].copy_from_slice(bytemuck::bytes_of(&header));
    out.resize(align_up(out.len()), 0);
    Ok(header.batch_crc)
}

/// Splits a verified batch into its entries. `bytes` starts at the header.
/// Validates the framing exactly: `count` entries that fill `raw_len` bytes.
pub fn decode_entries(header: &BatchHeader, bytes: &[u8]) -> Result<Vec<Bytes>, FormatError> {
    let end = BATCH_HEADER_LEN + header.stored_len as usize;
    let stored = bytes.get(BATCH_HEADER_LEN..end).ok_or(FormatError::Truncated {
        needed: end,
        available: bytes.len(),
    })?;
    let raw: Bytes = if header.is_compressed() {
        Bytes::from(decompress_bounded(stored, header.raw_len as usize)?)
    } else {
        Bytes::copy_from_slice(stored)
    };
    if raw.len() != header.raw_len as usize {
        return Err(FormatError::Framing("decompressed length differs from raw_len"));
    }
    let mut entries = Vec::with_capacity(header.count.min(1 << 16) as usize);
    let mut pos = 0usize;
    for _ in 0..header.count {
        let len_bytes = raw
            .get(pos..pos + ENTRY_LEN_PREFIX)
            .ok_or(FormatError::Framing("entry length past the end of the batch"))?;
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        pos += ENTRY_LEN_PREFIX;
        if len > raw.len() - pos {
            return Err(FormatError::Framing("entry past the end of the batch"));
        }
        entries.push(raw.slice(pos..pos + len));
        pos += len;
    }
    if pos != raw.len() {
        return Err(FormatError::Framing("bytes left over after the last entry"));
    }
    Ok(entries)
}

/// Decompresses one zstd frame, refusing to produce more than `limit` bytes.
/// Memory grows with the real output, not with what a header claims.
fn decompress_bounded(stored: &[u8], limit: usize) -> Result<Vec<u8>, FormatError> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(stored).map_err(|e| FormatError::Decompress(e.to_string()))?;
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FormatError::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(FormatError::Framing("decompressed payload larger than raw_len"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(entries: &[&[u8]], seed: u32, compression: Compression) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        let crc = encode_batch(&mut out, Seq(7), entries.iter().copied(), seed, compression).unwrap();
        (out, crc)
    }

    #[test]
    fn batch_round_trip_plain_and_compressed() {
        let big = vec![b'x'; 100_000];
        let entries: Vec<&[u8]> = vec![b"a", b"", &big, b"last"];
        for threshold in [usize::MAX, 0] {
            let compression = Compression {
                threshold_bytes: threshold,
                zstd_level: 1,
            };
            let (bytes, crc) = encode(&entries, 42, compression);
            assert_eq!(bytes.len() % BATCH_ALIGN, 0);
            let header = BatchHeader::decode(&bytes).unwrap();
            assert_eq!(header.is_compressed(), threshold == 0);
            assert_eq!(header.batch_crc, crc);
            assert_eq!(header.disk_len(), bytes.len());
            header.verify_payload(&bytes, 42).unwrap();
            let decoded = decode_entries(&header, &bytes).unwrap();
            let decoded: Vec<&[u8]> = decoded.iter().map(|b| b.as_ref()).collect();
            assert_eq!(decoded, entries);
        }
    }

    #[test]
    fn wrong_seed_fails_the_batch_checksum() {
        let (bytes, _) = encode(&[b"hello"], 1, Compression::default());
        let header = BatchHeader::decode(&bytes).unwrap();
        assert!(matches!(
            header.verify_payload(&bytes, 2),
            Err(FormatError::BatchChecksum { .. })
        ));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let (bytes, _) = encode(&[b"hello", b"world"], 9, Compression::default());
        let used = BATCH_HEADER_LEN + BatchHeader::decode(&bytes).unwrap().stored_len as usize;
        for bit in 0..used * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let ok = BatchHeader::decode(&flipped).and_then(|h| h.verify_payload(&flipped, 9));
            assert!(ok.is_err(), "flip of bit {bit} went unnoticed");
        }
    }

    #[test]
    fn segment_header_round_trip_and_checks() {
        let header = SegmentHeader::new(5, Seq(100), SEGMENT_FLAG_RESET);
        let bytes = bytemuck::bytes_of(&header).to_vec();
        let decoded = SegmentHeader::decode(&bytes).unwrap();
        assert_eq!(decoded, header);
        assert!(decoded.is_reset());
        let mut bad = bytes.clone();
        bad[20] ^= 4;
        assert!(SegmentHeader::decode(&bad).is_err());
        assert!(SegmentHeader::decode(&bytes[..10]).is_err());
    }

    #[test]
    fn framing_lies_are_rejected() {
        // A header that claims two entries over a payload framed as one.
        let (bytes, _) = encode(&[b"abc"], 0, Compression::default());
        let mut header = BatchHeader::decode(&bytes).unwrap();
        header.count = 2;
        assert!(decode_entries(&header, &bytes).is_err());
    }
}
