//! Appending with O_DIRECT + RWF_DSYNC: the io_uring backend's path.
//!
//! With io_uring, an fdatasync is always executed by a kernel worker thread
//! (io-wq), one more thread hand-off per group commit than a plain
//! fdatasync syscall. A direct write with RWF_DSYNC into already-written
//! blocks is issued from the submitting thread and completes by interrupt,
//! and it is durable by itself. Measured here (4 KiB into zero-filled
//! blocks): O_DIRECT+O_DSYNC 84 us p50 against 89 us for write+fdatasync.
//!
//! Direct I/O needs block-aligned offsets, lengths and memory. An
//! [`AppendTarget`] keeps the partial last block in memory and rewrites it
//! with each append; the bytes on disk are exactly those of buffered
//! writes (the rest of the block is zeros, as in a preallocated segment).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::{IoBackend, StageError};

/// Alignment of direct writes: the largest logical block size in use.
pub const DIRECT_ALIGN: usize = 4096;

/// A reusable buffer whose usable part starts on a `DIRECT_ALIGN` boundary.
#[derive(Default)]
pub struct AlignedBuf {
    raw: Vec<u8>,
}

impl AlignedBuf {
    /// A zeroed, aligned slice of exactly `len` bytes.
    pub(crate) fn slice(&mut self, len: usize) -> &mut [u8] {
        if self.raw.len() < len + DIRECT_ALIGN {
            self.raw = vec![0; len + DIRECT_ALIGN];
        }
        let start = self.raw.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
        let slice = &mut self.raw[start..start + len];
        slice.fill(0);
        slice
    }
}

struct DirectTail {
    file: File,
    /// File offset of the block holding the end of the data.
    block_start: u64,
    /// Bytes from `block_start` to the end of the data (< DIRECT_ALIGN).
    tail: Vec<u8>,
}

/// Where the writer appends to one segment.
pub struct AppendTarget {
    direct: Option<DirectTail>,
}

impl AppendTarget {
    /// A buffered target (write + fdatasync).
    pub fn buffered() -> AppendTarget {
        AppendTarget { direct: None }
    }

    /// A direct target for the segment at `path`, whose data currently ends
    /// at `end` (the bytes before it in its block are read back once).
    pub fn direct(path: &Path, buffered: &File, end: u64) -> io::Result<AppendTarget> {
        let file = OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path)?;
        let block_start = end - end % DIRECT_ALIGN as u64;
        let mut tail = vec![0u8; (end - block_start) as usize];
        buffered.read_exact_at(&mut tail, block_start)?;
        Ok(AppendTarget {
            direct: Some(DirectTail {
                file,
                block_start,
                tail,
            }),
        })
    }

    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Appends `bytes` at `offset` (the current end) durably.
    pub fn append(
        &mut self,
        backend: &mut dyn IoBackend,
        buffered: &File,
        offset: u64,
        bytes: &[u8],
        scratch: &mut AlignedBuf,
    ) -> Result<(), StageError> {
        let Some(direct) = self.direct.as_mut() else {
            return backend.write_durable(buffered, offset, bytes);
        };
        if direct.block_start + direct.tail.len() as u64 != offset {
            return Err(StageError::write(io::Error::other(format!(
                "direct append at {offset}, but the data ends at {}",
                direct.block_start + direct.tail.len() as u64
            ))));
        }
        let data_len = direct.tail.len() + bytes.len();
        let padded = data_len.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
        let out = scratch.slice(padded);
        out[..direct.tail.len()].copy_from_slice(&direct.tail);
        out[direct.tail.len()..data_len].copy_from_slice(bytes);
        backend.write_durable_direct(&direct.file, direct.block_start, out)?;
        // Keep the new partial block for the next append.
        let whole_blocks = data_len / DIRECT_ALIGN * DIRECT_ALIGN;
        let new_tail = out[whole_blocks..data_len].to_vec();
        direct.block_start += whole_blocks as u64;
        direct.tail = new_tail;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SyncIo;

    /// Appends of every size across block boundaries leave exactly the bytes
    /// that plain buffered writes leave.
    #[test]
    fn direct_appends_match_buffered_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(64 * 1024).unwrap();
        let mut target = match AppendTarget::direct(&path, &file, 0) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return, // no O_DIRECT here
            Err(e) => panic!("{e}"),
        };
        assert!(target.is_direct());
        let mut expected = Vec::new();
        let mut scratch = AlignedBuf::default();
        let mut offset = 0u64;
        for (i, len) in [1usize, 64, 4095, 4096, 4097, 10_000, 3, 8192].into_iter().enumerate() {
            let bytes: Vec<u8> = (0..len).map(|k| (i * 31 + k) as u8 | 1).collect();
            target.append(&mut SyncIo, &file, offset, &bytes, &mut scratch).unwrap();
            expected.extend_from_slice(&bytes);
            offset += len as u64;
        }
        let mut on_disk = vec![0u8; expected.len()];
        file.read_exact_at(&mut on_disk, 0).unwrap();
        assert_eq!(on_disk, expected);
        // The rest of the last block is zeros.
        let mut rest = vec![0u8; 100];
        file.read_exact_at(&mut rest, offset).unwrap();
        assert!(rest.iter().all(|&b| b == 0));
        // Reopening in the middle of a block picks up the partial block.
        let mut reopened = AppendTarget::direct(&path, &file, offset).unwrap();
        reopened
            .append(&mut SyncIo, &file, offset, b"tail", &mut scratch)
            .unwrap();
        let mut tail = [0u8; 4];
        file.read_exact_at(&mut tail, offset).unwrap();
        assert_eq!(&tail, b"tail");
        assert!(
            reopened.append(&mut SyncIo, &file, offset, b"x", &mut scratch).is_err(),
            "appends are sequential"
        );
    }
}
