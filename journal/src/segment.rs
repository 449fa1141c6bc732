//! Segment files: names, creation with a durable rename, reading, and the
//! background thread that keeps the next segment preallocated.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver};

use crate::error::{Error, Result};
use crate::io::{preallocate, AlignedBuf, FaultInjector, FaultPoint, IoBackend};

const SEGMENT_SUFFIX: &str = ".seg";
const TMP_SUFFIX: &str = ".tmp";

/// `00000000000000000042.seg`: zero-padded so that names sort by id.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}{SEGMENT_SUFFIX}")
}

pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn is_temporary(name: &str) -> bool {
    name.ends_with(TMP_SUFFIX)
}

/// The segment files in `dir`, sorted by id.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name();
        if let Some(id) = name.to_str().and_then(parse_segment_file_name) {
            found.push((id, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a whole segment file into memory, from the device rather than
/// the page cache where the file system allows direct I/O.
///
/// Recovery and `memoir inspect segments` read this way for two reasons: a
/// page left stale in the cache (see `recent.rs`) must not read as
/// corruption of a good log, and a buffered read of a live journal's last
/// block could itself leave such a page behind for the running writer.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let direct = OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path);
    let file = match direct {
        Ok(file) => file,
        // No direct I/O here (tmpfs): the page cache is all there is.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            return fs::read(path).map_err(|e| Error::io("reading", path, e));
        }
        Err(e) => return Err(Error::io("opening", path, e)),
    };
    let mut out = Vec::new();
    let mut chunk = AlignedBuf::default();
    let mut offset = 0u64;
    loop {
        let buf = chunk.slice(DIRECT_READ_BYTES);
        let read = file.read_at(buf, offset).map_err(|e| Error::io("reading", path, e))?;
        out.extend_from_slice(&buf[..read]);
        offset += read as u64;
        if read < DIRECT_READ_BYTES {
            return Ok(out);
        }
    }
}

/// One direct read of [`read_file`]: small enough that an fdatasync on the
/// same disk does not queue long behind it.
const DIRECT_READ_BYTES: usize = 1 << 20;

/// Reads exactly `len` bytes at `offset`; a short file is reported as
/// corruption by the caller (the index said the bytes were there).
pub fn read_at(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Corruption {
                path: path.to_path_buf(),
                offset,
                reason: format!("file ends inside a batch of {len} bytes that was indexed"),
            }
        } else {
            Error::io("reading", path, e)
        }
    })?;
    Ok(buf)
}

pub fn open_for_read_write(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    without_readahead(&file);
    Ok(file)
}

/// Turns the kernel's readahead off for reads through `file` (segments
/// here; the snapshot service's paced reads use it too).
///
/// Readers of a segment read whole batches at the offsets the index gives
/// (`read_at`): they never need more than they ask for. With readahead on,
/// a reader following the log sequentially (a subscription, a catching-up
/// snapshot service) made the kernel read up to `read_ahead_kb` (8 MiB
/// here) per request: into the zero-filled part of the active segment for
/// a reader at the tail, and, for a reader far behind, device reads large
/// enough that every fdatasync queued behind them (a SET stalled 113 ms
/// while the snapshot service caught up, `memoir-bench snapshot-impact`).
pub fn without_readahead(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor `file` keeps open. It
    // only advises the page cache; on failure reads are merely less
    // predictable, so the error is ignored.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM);
    }
}

/// fsync of a directory, so that creates, renames and deletes in it are
/// durable.
pub fn sync_dir(backend: &mut dyn IoBackend, dir: &Path) -> Result<()> {
    let handle = File::open(dir).map_err(|e| Error::io("opening directory", dir, e))?;
    backend
        .sync_all(&handle)
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Replaces `dir/name` with `bytes` durably: write a temporary file, fsync
/// it, rename it into place, fsync the directory. A reader sees the old
/// content or the new, never a mix.
pub fn write_file_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("creating", &tmp, e))?;
    file.write_all(bytes).map_err(|e| Error::io("writing", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| Error::io("renaming", &path, e))?;
    sync_dir(&mut crate::io::SyncIo, dir)
}

/// Removes files durably, in the given order, then syncs the directory.
pub fn remove_files(backend: &mut dyn IoBackend, dir: &Path, paths: &[PathBuf]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    for path in paths {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing", path, e)),
        }
    }
    sync_dir(backend, dir)
}

/// A preallocated file under a temporary name, ready to become a segment.
pub struct PreparedFile {
    pub path: PathBuf,
    pub file: File,
}

/// Creates and preallocates one temporary file, durably sized.
pub fn prepare_file(
    dir: &Path,
    owner: &str,
    serial: u64,
    len: u64,
    zero_fill: bool,
    faults: Option<&FaultInjector>,
    hurry: &AtomicBool,
) -> Result<PreparedFile> {
    let path = dir.join(format!("next-{owner}-{serial:08}{SEGMENT_SUFFIX}{TMP_SUFFIX}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::io("creating", &path, e))?;
    let allocated = match faults {
        Some(faults) => faults.check(FaultPoint::Allocate),
        None => Ok(()),
    }
    .and_then(|()| preallocate(&file, len, zero_fill, hurry))
    .and_then(|()| file.sync_all());
    if let Err(e) = allocated {
        let _ = fs::remove_file(&path);
        return Err(Error::io("preallocating", &path, e));
    }
    Ok(PreparedFile { path, file })
}

/// Keeps one preallocated file ready so that rolling to a new segment does
/// not wait for `fallocate` (or zero-filling) on the commit path.
pub struct Preparer {
    dir: PathBuf,
    /// Names this preparer's spares (`next-OWNER-…`): a log closing while a
    /// new one opens on the same directory (a replica restarted in the
    /// same process) cleans up only its own.
    owner: String,
    ready: Receiver<Result<PreparedFile>>,
    /// Set while the writer waits for a spare: the preparer stops pacing.
    hurry: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Preparer {
    pub fn start(dir: PathBuf, len: u64, zero_fill: bool, faults: Option<Arc<FaultInjector>>) -> Result<Preparer> {
        // Capacity 1: at most one spare file exists at a time.
        let (tx, rx) = bounded::<Result<PreparedFile>>(1);
        static PREPARERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let owner = format!(
            "{:x}.{:x}",
            std::process::id(),
            PREPARERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let thread_owner = owner.clone();
        let thread_dir = dir.clone();
        let hurry = Arc::new(AtomicBool::new(false));
        let thread_hurry = Arc::clone(&hurry);
        let thread = thread::Builder::new()
            .name("journal-prealloc".into())
            .spawn(move || {
                for serial in 0u64.. {
                    let prepared = prepare_file(
                        &thread_dir,
                        &thread_owner,
                        serial,
                        len,
                        zero_fill,
                        faults.as_deref(),
                        &thread_hurry,
                    );
                    if let Err(crossbeam_channel::SendError(unused)) = tx.send(prepared) {
                        if let Ok(unused) = unused {
                            let _ = fs::remove_file(&unused.path);
                        }
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("spawning the preallocation thread for", PathBuf::new(), e))?;
        Ok(Preparer {
            dir,
            owner,
            ready: rx,
            hurry,
            thread: Some(thread),
        })
    }

    /// The next preallocated file; waits if the thread is still preparing
    /// it, and has it finish unpaced.
    pub fn take(&self) -> Result<PreparedFile> {
        let prepared = match self.ready.try_recv() {
            Ok(prepared) => prepared,
            Err(_) => {
                self.hurry.store(true, Ordering::Release);
                self.ready.recv().map_err(|_| Error::Closed)?
            }
        };
        self.hurry.store(false, Ordering::Release);
        prepared
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        // Closing the channel makes the thread's next send fail and the
        // thread return; a spare still queued is dropped with the channel.
        let (_, closed) = bounded(0);
        drop(std::mem::replace(&mut self.ready, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Only this preparer's: another log may have opened the directory
        // since (leftovers of crashed runs go at open, `remove_temporaries`).
        let prefix = format!("next-{}-", self.owner);
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_str().is_some_and(|n| n.starts_with(&prefix) && is_temporary(n)) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// Deletes leftover temporary files (spares of an earlier run). They were
/// never renamed into place, so they hold no log data.
pub fn remove_temporaries(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        if entry.file_name().to_str().is_some_and(is_temporary) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_file_returns_every_byte_of_files_of_any_length() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            1,
            4095,
            4096,
            4097,
            DIRECT_READ_BYTES,
            DIRECT_READ_BYTES * 2 + 123,
        ] {
            let path = dir.path().join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            fs::write(&path, &bytes).unwrap();
            assert_eq!(read_file(&path).unwrap(), bytes, "length {len}");
        }
        assert!(read_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert!(segment_file_name(9) < segment_file_name(10));
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("next-00000001.seg.tmp"), None);
        assert!(is_temporary("next-00000001.seg.tmp"));
    }
}
