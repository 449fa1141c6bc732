//! Scanning one segment's bytes: which batches are valid, and what the end
//! of the valid part looks like (clean, torn, or corrupt).
//!
//! Pure functions over a byte slice, so recovery, `memoir inspect segments`
//! and the `segment_decode` fuzz target all share exactly this code.

use crate::format::{
    segment_salt, BatchHeader, FormatError, SegmentHeader, BATCH_ALIGN, BATCH_HEADER_LEN, BATCH_MAGIC, SECTOR_LEN,
    SEGMENT_HEADER_LEN,
};
use crate::seq::Seq;

/// Where one valid batch lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLoc {
    pub first_seq: Seq,
    pub count: u32,
    /// Byte offset of the batch header in the segment file.
    pub offset: u64,
    /// Header + payload + padding.
    pub disk_len: u32,
    /// The CRC chain value this batch was checksummed from, so a read can
    /// re-verify the batch on its own.
    pub seed: u32,
}

impl BatchLoc {
    /// One past the last seq of this batch.
    pub fn end_seq(&self) -> Seq {
        self.first_seq.plus(self.count as u64)
    }
}

/// How the valid part of a segment ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// An all-zero header slot (or the end of the file), and only zeros after.
    Clean,
    /// An all-zero header slot, but non-zero bytes somewhere after it.
    TrailingBytes { first_nonzero: u64 },
    /// A batch that does not validate.
    BadBatch {
        reason: FormatError,
        /// The batch reaches past the end of the file, or one of the sectors
        /// it covers is entirely zero: what a write that did not finish
        /// leaves in a preallocated file.
        looks_torn: bool,
    },
}

/// The result of scanning one segment.
#[derive(Clone, Debug)]
pub struct SegmentScan {
    pub header: SegmentHeader,
    pub batches: Vec<BatchLoc>,
    /// Offset just past the last valid batch: where the next batch goes.
    pub end_offset: u64,
    /// One past the last valid seq.
    pub next_seq: Seq,
    /// CRC chain value for the next batch.
    pub chain: u32,
    pub end: ScanEnd,
    /// Offset of a header that validates (magic, version, header CRC) and
    /// continues the seqs, found *after* `end_offset`. Its presence means
    /// the damage is in the middle of the log, not at a torn tail.
    pub later_valid_header: Option<u64>,
}

impl SegmentScan {
    pub fn is_clean(&self) -> bool {
        self.end == ScanEnd::Clean
    }
}

/// Scans a whole segment file held in memory. Fails only if the segment
/// header itself is invalid; damage further in is described by
/// [`SegmentScan::end`].
pub fn scan_segment(bytes: &[u8], expected_id: u64) -> Result<SegmentScan, FormatError> {
    let header = SegmentHeader::decode(bytes)?;
    if header.segment_id != expected_id {
        return Err(FormatError::SegmentIdMismatch {
            expected: expected_id,
            found: header.segment_id,
        });
    }
    let mut batches = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    let mut next_seq = header.first_seq();
    let mut chain = segment_salt(header.segment_id);
    let end = loop {
        let rest = &bytes[pos.min(bytes.len())..];
        let slot = &rest[..rest.len().min(BATCH_HEADER_LEN)];
        if slot.iter().all(|&b| b == 0) {
            break match rest.iter().position(|&b| b != 0) {
                None => ScanEnd::Clean,
                Some(i) => ScanEnd::TrailingBytes {
                    first_nonzero: (pos + i) as u64,
                },
            };
        }
        match validate_batch(rest, next_seq, chain) {
            Ok(batch) => {
                let disk_len = batch.disk_len();
                batches.push(BatchLoc {
                    first_seq: next_seq,
                    count: batch.count,
                    offset: pos as u64,
                    disk_len: disk_len as u32,
                    seed: chain,
                });
                next_seq = next_seq.plus(batch.count as u64);
                chain = batch.batch_crc;
                pos += disk_len;
            }
            Err((reason, extent)) => {
                let looks_torn = looks_torn(bytes, pos, extent);
                break ScanEnd::BadBatch { reason, looks_torn };
            }
        }
    };
    let search_from = match end {
        ScanEnd::Clean => None,
        ScanEnd::TrailingBytes { .. } => Some(pos),
        ScanEnd::BadBatch { .. } => Some(pos + BATCH_ALIGN),
    };
    let later_valid_header = search_from.and_then(|from| find_later_header(bytes, from, next_seq));
    Ok(SegmentScan {
        header,
        batches,
        end_offset: pos as u64,
        next_seq,
        chain,
        end,
        later_valid_header,
    })
}

/// Validates the batch at the start of `rest`. On failure returns the reason
/// and how many bytes the batch claims (the header alone if it is unreadable).
fn validate_batch(rest: &[u8], expected_seq: Seq, seed: u32) -> Result<BatchHeader, (FormatError, usize)> {
    let header = BatchHeader::decode(rest).map_err(|e| (e, BATCH_HEADER_LEN))?;
    let extent = BATCH_HEADER_LEN + header.stored_len as usize;
    if header.first_seq() != expected_seq {
        return Err((
            FormatError::SeqMismatch {
                expected: expected_seq.0,
                found: header.first_seq,
            },
            extent,
        ));
    }
    header.verify_payload(rest, seed).map_err(|e| (e, extent))?;
    Ok(header)
}

/// A write that never reached the disk leaves the claimed range running past
/// the end of the file, or leaves at least one whole sector of zeros. The
/// sector test looks at whole sectors clipped to `[start, file end)`: bytes
/// before `start` belong to the previous, valid batch.
fn looks_torn(bytes: &[u8], start: usize, extent: usize) -> bool {
    let end = start.saturating_add(extent);
    if end > bytes.len() {
        return true;
    }
    let mut sector = start - start % SECTOR_LEN;
    while sector < end {
        let lo = sector.max(start);
        let hi = (sector + SECTOR_LEN).min(bytes.len());
        if lo < hi && bytes[lo..hi].iter().all(|&b| b == 0) {
            return true;
        }
        sector += SECTOR_LEN;
    }
    false
}

/// Looks for a batch header that validates on its own and whose seq could
/// follow `next_seq`, at aligned offsets from `from`.
fn find_later_header(bytes: &[u8], from: usize, next_seq: Seq) -> Option<u64> {
    let mut pos = from.div_ceil(BATCH_ALIGN) * BATCH_ALIGN;
    let magic = BATCH_MAGIC.to_le_bytes();
    while pos + BATCH_HEADER_LEN <= bytes.len() {
        if bytes[pos..pos + 4] == magic {
            if let Ok(header) = BatchHeader::decode(&bytes[pos..]) {
                if header.first_seq() >= next_seq {
                    return Some(pos as u64);
                }
            }
        }
        pos += BATCH_ALIGN;
    }
    None
}

/// Scans a segment and decodes every valid batch's entries: what the fuzz
/// target drives. Returns the entries, or the first error met.
pub fn decode_segment(bytes: &[u8], expected_id: u64) -> Result<Vec<(Seq, bytes::Bytes)>, FormatError> {
    let scan = scan_segment(bytes, expected_id)?;
    let mut out = Vec::new();
    for batch in &scan.batches {
        let start = batch.offset as usize;
        let header = BatchHeader::decode(&bytes[start..])?;
        let entries = crate::format::decode_entries(&header, &bytes[start..])?;
        for (i, entry) in entries.into_iter().enumerate() {
            out.push((batch.first_seq.plus(i as u64), entry));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_batch, Compression};

    /// A segment with batches of the given entry counts, padded with zeros.
    fn segment(id: u64, first: u64, batches: &[u32], pad: usize) -> Vec<u8> {
        let mut bytes = bytemuck::bytes_of(&SegmentHeader::new(id, Seq(first), 0)).to_vec();
        let mut chain = segment_salt(id);
        let mut seq = first;
        let mut buf = Vec::new();
        for &count in batches {
            let entries: Vec<Vec<u8>> = (0..count)
                .map(|i| format!("entry-{}", seq + i as u64).into_bytes())
                .collect();
            chain = encode_batch(
                &mut buf,
                Seq(seq),
                entries.iter().map(|e| e.as_slice()),
                chain,
                Compression::default(),
            )
            .unwrap();
            bytes.extend_from_slice(&buf);
            seq += count as u64;
        }
        bytes.resize(bytes.len() + pad, 0);
        bytes
    }

    #[test]
    fn clean_segment() {
        let bytes = segment(3, 10, &[1, 2, 3], 4096);
        let scan = scan_segment(&bytes, 3).unwrap();
        assert_eq!(scan.end, ScanEnd::Clean);
        assert_eq!(scan.batches.len(), 3);
        assert_eq!(scan.next_seq, Seq(16));
        let entries = decode_segment(&bytes, 3).unwrap();
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[5].0, Seq(15));
        assert_eq!(&entries[5].1[..], b"entry-15");
    }

    #[test]
    fn wrong_id_is_refused() {
        let bytes = segment(3, 10, &[1], 0);
        assert!(matches!(
            scan_segment(&bytes, 4),
            Err(FormatError::SegmentIdMismatch { .. })
        ));
    }

    #[test]
    fn truncated_last_batch_looks_torn() {
        let full = segment(1, 1, &[2, 2], 0);
        let cut = full.len() - 5;
        let scan = scan_segment(&full[..cut], 1).unwrap();
        assert_eq!(scan.batches.len(), 1);
        assert!(matches!(scan.end, ScanEnd::BadBatch { looks_torn: true, .. }));
        assert_eq!(scan.later_valid_header, None);
    }

    #[test]
    fn flipped_middle_batch_is_followed_by_a_valid_header() {
        let mut bytes = segment(1, 1, &[2, 2, 2], 1024);
        let scan = scan_segment(&bytes, 1).unwrap();
        let second = scan.batches[1].offset as usize;
        bytes[second + BATCH_HEADER_LEN + 2] ^= 0x10;
        let scan = scan_segment(&bytes, 1).unwrap();
        assert_eq!(scan.batches.len(), 1);
        assert!(matches!(scan.end, ScanEnd::BadBatch { looks_torn: false, .. }));
        assert!(scan.later_valid_header.is_some());
    }

    #[test]
    fn zero_sector_inside_last_batch_looks_torn() {
        let big = vec![7u8; 3000];
        let mut bytes = bytemuck::bytes_of(&SegmentHeader::new(1, Seq(1), 0)).to_vec();
        let mut buf = Vec::new();
        let no_compression = Compression {
            threshold_bytes: usize::MAX,
            zstd_level: 1,
        };
        encode_batch(&mut buf, Seq(1), [big.as_slice()], segment_salt(1), no_compression).unwrap();
        bytes.extend_from_slice(&buf);
        bytes.resize(bytes.len() + 1024, 0);
        bytes[1024..1536].fill(0);
        let scan = scan_segment(&bytes, 1).unwrap();
        assert!(matches!(scan.end, ScanEnd::BadBatch { looks_torn: true, .. }));
    }

    #[test]
    fn trailing_bytes_after_clean_end_are_noticed() {
        let mut bytes = segment(1, 1, &[1], 2048);
        let n = bytes.len();
        bytes[n - 100] = 1;
        let scan = scan_segment(&bytes, 1).unwrap();
        assert!(matches!(scan.end, ScanEnd::TrailingBytes { .. }));
        assert_eq!(scan.later_valid_header, None);
    }
}
