//! How the journal's bytes reach the disk.
//!
//! Everything that makes data durable goes through [`IoBackend`], so that the
//! io_uring backend, the portable backend and the fault-injecting wrapper are
//! interchangeable and every test runs against each of them.

pub(crate) mod direct;
pub(crate) mod fault;
mod sync;
mod uring;

use std::fmt;
use std::fs::File;
use std::io;

pub use direct::{AlignedBuf, AppendTarget, DIRECT_ALIGN};
pub use fault::{FaultInjector, FaultPoint};
pub use sync::SyncIo;
pub use uring::UringIo;

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoMode {
    /// io_uring when the kernel lets us set up a ring, else the portable
    /// backend (logged once at open).
    #[default]
    Auto,
    /// io_uring or fail.
    Uring,
    /// pwrite + fdatasync.
    Sync,
}

impl IoMode {
    /// Reads `MEMOIR_IO` (`uring`, `sync` or `auto`); unset means `Auto`.
    pub fn from_env() -> Result<IoMode, String> {
        match std::env::var("MEMOIR_IO") {
            Ok(value) => value.parse(),
            Err(_) => Ok(IoMode::Auto),
        }
    }
}

impl std::str::FromStr for IoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" | "" => Ok(IoMode::Auto),
            "uring" | "io_uring" => Ok(IoMode::Uring),
            "sync" => Ok(IoMode::Sync),
            other => Err(format!("unknown I/O mode {other:?} (expected auto, uring or sync)")),
        }
    }
}

/// The backend actually in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    Uring,
    Sync,
}

impl fmt::Display for IoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoKind::Uring => "uring",
            IoKind::Sync => "sync",
        })
    }
}

/// Which half of a durable write failed. A failure in either half poisons
/// the log: after a failed write we cannot know what reached the page cache,
/// and after a failed fsync the kernel may have dropped dirty pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoStage {
    Write,
    Sync,
}

#[derive(Debug)]
pub struct StageError {
    pub stage: IoStage,
    pub source: io::Error,
}

impl StageError {
    pub fn write(source: io::Error) -> StageError {
        StageError {
            stage: IoStage::Write,
            source,
        }
    }
    pub fn sync(source: io::Error) -> StageError {
        StageError {
            stage: IoStage::Sync,
            source,
        }
    }
}

/// Durable writes. One call = the bytes are on stable storage when it
/// returns `Ok`, so the group-commit barrier above it needs no other
/// knowledge of the device.
pub trait IoBackend: Send {
    fn kind(&self) -> IoKind;

    /// Writes all of `buf` at `offset` and then makes it durable
    /// (fdatasync). Never retries a failed fsync.
    fn write_durable(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError>;

    /// fsync (data and metadata) of a file or a directory.
    fn sync_all(&mut self, file: &File) -> io::Result<()>;

    /// Whether appends should use O_DIRECT + RWF_DSYNC (see `direct.rs`).
    fn prefers_direct(&self) -> bool {
        false
    }

    /// A durable write of block-aligned `buf` at a block-aligned `offset`
    /// of a file opened with O_DIRECT.
    fn write_durable_direct(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError> {
        use std::os::unix::fs::FileExt;
        file.write_all_at(buf, offset).map_err(StageError::write)?;
        file.sync_data().map_err(StageError::sync)
    }
}

/// Builds the backend for `mode`; `Auto` falls back to [`SyncIo`] when an
/// io_uring ring cannot be set up (old kernel, seccomp, sysctl
/// `kernel.io_uring_disabled`).
pub fn open_backend(mode: IoMode) -> io::Result<Box<dyn IoBackend>> {
    match mode {
        IoMode::Sync => Ok(Box::new(SyncIo)),
        IoMode::Uring => Ok(Box::new(UringIo::new()?)),
        IoMode::Auto => match UringIo::new() {
            Ok(ring) => Ok(Box::new(ring)),
            Err(e) => {
                tracing::warn!(error = %e, "io_uring is unavailable; using the portable pwrite+fdatasync backend");
                Ok(Box::new(SyncIo))
            }
        },
    }
}

/// The pace of zero-filling a spare segment: 1 s for a 64 MiB segment.
/// Unpaced, the preparer wrote 60 MB in 100 ms, and SETs acknowledged by
/// the replicas sharing the disk stalled 12-14 ms behind it (`memoir-bench
/// snapshot-impact`, block trace). The preparer holds one finished spare
/// while it fills the next, so a roll waits only if the log is written
/// faster than this for a whole segment, and then the writer's wait lifts
/// the pace (`Preparer::take`).
pub const ZERO_FILL_BYTES_PER_S: u64 = 64 << 20;

/// Longest sleep between two looks at `hurry`.
const HURRY_CHECK: std::time::Duration = std::time::Duration::from_millis(5);

/// `fallocate(2)` of `len` bytes from offset 0 (`zero_fill` false, where
/// the file system supports it), or zeros written over the whole length
/// (what the segment store asks for: overwriting written blocks makes a
/// cheaper fdatasync than converting fallocated ones). The zeros go out a
/// step at a time (`crate::writeback`) and at most `ZERO_FILL_BYTES_PER_S`,
/// so that the replica's own fdatasyncs on the active segment (and those of
/// other replicas on the disk) do not queue behind 64 MiB of them.
///
/// `hurry` is checked between steps: once it is set (the writer is waiting
/// for this file), the zeros go out unpaced.
pub(crate) fn preallocate(
    file: &File,
    len: u64,
    zero_fill: bool,
    hurry: &std::sync::atomic::AtomicBool,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    if !zero_fill {
        // SAFETY: plain syscall on a valid, open file descriptor.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(err);
        }
    }
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut writeback = crate::writeback::Writeback::new(file, crate::writeback::DEFAULT_STEP_BYTES);
    let started = std::time::Instant::now();
    let mut offset = 0u64;
    while offset < len {
        let n = (len - offset).min(CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], offset)?;
        offset += n as u64;
        writeback.written(offset);
        if !hurry.load(std::sync::atomic::Ordering::Acquire) {
            let due = std::time::Duration::from_secs_f64(offset as f64 / ZERO_FILL_BYTES_PER_S as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead.min(HURRY_CHECK));
            }
        }
    }
    Ok(())
}
