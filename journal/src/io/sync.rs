//! The portable backend: `pwrite` + `fdatasync`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

use super::{IoBackend, IoKind, StageError};

/// pwrite + fdatasync, for kernels or sandboxes without io_uring, and as the
/// reference the io_uring backend is tested against.
pub struct SyncIo;

impl IoBackend for SyncIo {
    fn kind(&self) -> IoKind {
        IoKind::Sync
    }

    fn write_durable(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError> {
        file.write_all_at(buf, offset).map_err(StageError::write)?;
        fdatasync(file).map_err(StageError::sync)
    }

    fn sync_all(&mut self, file: &File) -> io::Result<()> {
        file.sync_all()
    }
}

/// One fdatasync. EINTR is not retried either: Linux does not return EINTR
/// from fdatasync on local filesystems, and if some filesystem did we could
/// not tell whether the flush happened, which is the case we never retry.
pub(crate) fn fdatasync(file: &File) -> io::Result<()> {
    // SAFETY: plain syscall on a valid, open file descriptor.
    let rc = unsafe { libc::fdatasync(file.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
