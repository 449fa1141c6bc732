//! Keeping a large sequential write from stalling other fdatasyncs on the
//! same disk.
//!
//! A device cache flush (what every fdatasync ends with) waits for every
//! write the device has accepted before it. Written all at once, a large
//! file (a 64 MiB zero-filled spare segment, a snapshot's SST file) reaches
//! the device as one burst when it is synced, and a journal fdatasync
//! arriving just then waits for all of it: measured on this machine's
//! ext4-on-virtio, a concurrent 4 KiB write+fdatasync went from a 0.5 ms
//! worst case to 27 ms behind a 64 MiB write+fsync, and stayed at 4 ms when
//! the same 64 MiB was pushed out 1 MiB at a time.
//!
//! So a writer of a large file reports its progress here: every `step`
//! bytes, the new range is handed to writeback (`sync_file_range` WRITE)
//! and the range before it is waited for, keeping at most about two steps
//! in flight. This only paces; durability still comes from the fsync the
//! writer does at the end, whose error it reports.
//!
//! Freeing a large file's blocks is the same burst the other way: unlinking
//! 1 GB in one go (four 256 MiB files) made a concurrent 4 KiB
//! write+fdatasync wait up to 43-45 ms here (4 ms without), most likely the
//! discards of the `discard`-mounted file system. [`release_gradually`]
//! frees them 16 MiB at a time with 5 ms pauses: 5.8 ms at worst, over
//! 0.6 s (Python loop of pwrite+fdatasync, 2026-11-27).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Blocks [`release_gradually`] frees at a time, and its pause after each.
const RELEASE_STEP_BYTES: u64 = 16 << 20;
const RELEASE_PAUSE: Duration = Duration::from_millis(5);

/// Frees a file's blocks a step at a time by truncating it from the end,
/// pausing between steps (see the module comment). The file must be one
/// nobody else reads any more: its length changes under them. It is left
/// empty; unlinking it is the caller's.
pub fn release_gradually(file: &File) -> io::Result<()> {
    let mut len = file.metadata()?.len();
    while len > 0 {
        len = len.saturating_sub(RELEASE_STEP_BYTES);
        file.set_len(len)?;
        std::thread::sleep(RELEASE_PAUSE);
    }
    Ok(())
}

/// The step both users take: small enough that a flush never waits long
/// behind it, large enough to keep the device streaming.
pub const DEFAULT_STEP_BYTES: u64 = 1 << 20;

/// Progressive writeback of one file being written from offset 0 upwards.
#[derive(Debug)]
pub struct Writeback<'a> {
    file: &'a File,
    step_bytes: u64,
    /// Offset up to which writeback has been started.
    started_to: u64,
    /// Offset up to which writeback has been waited for.
    waited_to: u64,
}

impl<'a> Writeback<'a> {
    pub fn new(file: &'a File, step_bytes: u64) -> Writeback<'a> {
        assert!(step_bytes > 0, "a writeback step must be at least one byte");
        Writeback {
            file,
            step_bytes,
            started_to: 0,
            waited_to: 0,
        }
    }

    /// The file now holds `size` bytes written from the start: starts
    /// writeback of the new ones once a step has accumulated, and waits
    /// for the step before.
    pub fn written(&mut self, size: u64) {
        if size < self.started_to + self.step_bytes {
            return;
        }
        self.sync_range(self.started_to, size, libc::SYNC_FILE_RANGE_WRITE);
        let previous = self.started_to;
        if previous > self.waited_to {
            self.sync_range(
                self.waited_to,
                previous,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            );
            self.waited_to = previous;
        }
        self.started_to = size;
    }

    fn sync_range(&self, from: u64, to: u64, flags: libc::c_uint) {
        let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
            return;
        };
        // SAFETY: a plain system call on a descriptor `self.file` keeps
        // open. Its error is ignored on purpose: this call only paces
        // writeback (see the module comment); the caller's final fsync
        // reports any write error.
        unsafe {
            libc::sync_file_range(self.file.as_raw_fd(), offset, len, flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn release_gradually_leaves_the_file_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("create");
        file.set_len(2 * RELEASE_STEP_BYTES + 12_345).expect("size");
        release_gradually(&file).expect("release");
        assert_eq!(file.metadata().expect("metadata").len(), 0);
        assert_eq!(std::fs::metadata(&path).expect("metadata").len(), 0);
    }

    #[test]
    fn follows_a_growing_file_a_step_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = File::create(dir.path().join("f")).expect("create");
        let chunk = vec![7u8; 4096];
        let mut writeback = Writeback::new(&file, 16 * 1024);
        let mut size = 0u64;
        for _ in 0..64 {
            (&file).write_all(&chunk).expect("write");
            size += chunk.len() as u64;
            writeback.written(size);
            assert!(writeback.started_to <= size);
            assert!(writeback.waited_to <= writeback.started_to);
            assert!(size - writeback.started_to < 16 * 1024);
        }
        assert_eq!(writeback.started_to, size);
        assert_eq!(writeback.waited_to, size - 16 * 1024);
        file.flush().expect("flush");
    }
}
