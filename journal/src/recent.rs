//! The newest batches' bytes, kept in memory for readers at the tail.
//!
//! Two reasons, one of correctness and one of speed:
//! - **The block that direct writes are rewriting is never read through
//!   the page cache.** The io_uring backend appends with O_DIRECT and
//!   rewrites the segment's partly written last block with every group. A
//!   buffered read holding one of that block's pages while a direct write
//!   replaces it keeps the kernel from invalidating the page afterwards
//!   (dmesg: "Page cache invalidation failure on direct I/O", seen here
//!   during chaos runs); every later buffered read of the page returns the
//!   bytes from before the write: a false checksum failure on a log that
//!   is fine on disk. So every batch that reaches into that block stays
//!   here until the block is full and will never be written again.
//! - **Followers of the log read from memory.** Direct writes leave nothing
//!   in the page cache, so each subscriber (a replica memory node, the
//!   snapshot service) used to read every new batch back from the device:
//!   small reads that the next fdatasync on the same disk queued behind.
//!
//! The cache is only a source of bytes: the index still decides what is
//! durable and live, and a read from here verifies the batch's checksums
//! as a read from the file does.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::scan::BatchLoc;
use crate::seq::Seq;

/// Bytes of batches kept beyond those that must stay (see
/// [`RecentBatches::evict`]): a few seconds of a busy log, enough for
/// subscribers at the tail to never touch the disk.
pub const RECENT_BYTES: usize = 4 << 20;

#[derive(Debug)]
struct RecentBatch {
    /// Id of the segment file holding the batch.
    segment: u64,
    first_seq: Seq,
    offset: u64,
    bytes: Bytes,
}

impl RecentBatch {
    fn end_offset(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// The newest batches in log order, each exactly as written to its segment.
#[derive(Debug, Default)]
pub struct RecentBatches {
    batches: VecDeque<RecentBatch>,
    bytes: usize,
}

impl RecentBatches {
    /// Adds the batch just made durable at `offset` of segment `segment`.
    pub fn push(&mut self, segment: u64, first_seq: Seq, offset: u64, bytes: Bytes) {
        debug_assert!(
            self.batches.back().is_none_or(|last| last.first_seq < first_seq),
            "batches are added in log order"
        );
        self.bytes += bytes.len();
        self.batches.push_back(RecentBatch {
            segment,
            first_seq,
            offset,
            bytes,
        });
    }

    /// Drops the oldest batches beyond [`RECENT_BYTES`], but never one of
    /// segment `active` that ends past `keep_from` (the start of the block
    /// the writer still rewrites).
    pub fn evict(&mut self, active: u64, keep_from: u64) {
        while self.bytes > RECENT_BYTES {
            let Some(oldest) = self.batches.front() else { break };
            if oldest.segment == active && oldest.end_offset() > keep_from {
                break;
            }
            self.bytes -= oldest.bytes.len();
            self.batches.pop_front();
        }
    }

    /// Forgets everything (the log was truncated or reset: seqs are reused).
    pub fn clear(&mut self) {
        self.batches.clear();
        self.bytes = 0;
    }

    /// The bytes of `batch` of segment `segment`, if they are here.
    pub fn get(&self, segment: u64, batch: &BatchLoc) -> Option<Bytes> {
        let i = self.batches.partition_point(|b| b.first_seq < batch.first_seq);
        let found = self.batches.get(i)?;
        let same = found.segment == segment
            && found.first_seq == batch.first_seq
            && found.offset == batch.offset
            && found.bytes.len() == batch.disk_len as usize;
        same.then(|| found.bytes.clone())
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(first_seq: u64, offset: u64, len: usize) -> BatchLoc {
        BatchLoc {
            first_seq: Seq(first_seq),
            count: 1,
            offset,
            disk_len: len as u32,
            seed: 0,
        }
    }

    #[test]
    fn finds_exactly_the_batch_asked_for() {
        let mut recent = RecentBatches::default();
        recent.push(1, Seq(1), 64, Bytes::from(vec![1; 100]));
        recent.push(1, Seq(2), 164, Bytes::from(vec![2; 50]));
        recent.push(2, Seq(3), 64, Bytes::from(vec![3; 10]));
        assert_eq!(recent.get(1, &loc(2, 164, 50)).unwrap()[0], 2);
        assert_eq!(recent.get(2, &loc(3, 64, 10)).unwrap()[0], 3);
        assert!(recent.get(1, &loc(3, 64, 10)).is_none(), "another segment's batch");
        assert!(recent.get(1, &loc(2, 160, 50)).is_none(), "another offset");
        assert!(recent.get(1, &loc(4, 74, 10)).is_none(), "not written");
        recent.clear();
        assert!(recent.get(1, &loc(1, 64, 100)).is_none());
        assert_eq!(recent.bytes(), 0);
    }

    #[test]
    fn eviction_keeps_the_budget_and_the_open_block() {
        let mut recent = RecentBatches::default();
        let len = 64 * 1024;
        let mut offset = 64;
        for seq in 1..=100u64 {
            recent.push(7, Seq(seq), offset, Bytes::from(vec![0; len]));
            offset += len as u64;
            recent.evict(7, offset - offset % 4096);
        }
        assert!(recent.bytes() <= RECENT_BYTES);
        assert!(recent.get(7, &loc(100, offset - len as u64, len)).is_some());
        assert!(recent.get(7, &loc(1, 64, len)).is_none(), "oldest evicted");

        // Batches that end inside the block still being written stay, even
        // past the budget.
        let mut recent = RecentBatches::default();
        recent.push(7, Seq(1), 64, Bytes::from(vec![0; RECENT_BYTES]));
        recent.push(7, Seq(2), 64 + RECENT_BYTES as u64, Bytes::from(vec![0; 10]));
        let end = 64 + RECENT_BYTES as u64 + 10;
        recent.evict(7, end - end % 4096);
        assert!(recent.get(7, &loc(1, 64, RECENT_BYTES)).is_some());
        // Once the writer moved on to another segment, they may go.
        recent.evict(8, 0);
        assert!(recent.get(7, &loc(1, 64, RECENT_BYTES)).is_none());
        assert!(recent.bytes() <= RECENT_BYTES);
    }
}
