//! The io_uring backend: one O_DIRECT + RWF_DSYNC write per group commit
//! (`write_durable_direct`, driven by `direct.rs`), or, where the
//! filesystem refuses O_DIRECT, a buffered write linked to an fdatasync.
//! Why: see ARCHITECTURE.md ("How a group becomes durable, and why").

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use io_uring::{opcode, squeue, types, IoUring};

use super::{IoBackend, IoKind, StageError};

const WRITE_TAG: u64 = 1;
const SYNC_TAG: u64 = 2;

pub struct UringIo {
    ring: IoUring,
}

impl UringIo {
    /// Sets up a small ring and proves it works with a NOP, because some
    /// sandboxes allow `io_uring_setup` but refuse `io_uring_enter`.
    pub fn new() -> io::Result<UringIo> {
        let mut ring = IoUring::new(8)?;
        let nop = opcode::Nop::new().build().user_data(0);
        // SAFETY: a NOP references no memory.
        unsafe {
            ring.submission()
                .push(&nop)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        ring.submit_and_wait(1)?;
        let completed = ring.completion().next();
        match completed {
            Some(cqe) if cqe.result() >= 0 => Ok(UringIo { ring }),
            Some(cqe) => Err(io::Error::from_raw_os_error(-cqe.result())),
            None => Err(io::Error::other("io_uring NOP did not complete")),
        }
    }

    /// Waits for `want` completions, tolerating EINTR on the wait itself
    /// (the operations are already submitted; waiting again is safe and is
    /// not a retry of the fsync).
    fn wait_for(&mut self, want: usize) -> io::Result<()> {
        loop {
            match self.ring.submit_and_wait(want) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            // Once its submissions are in, io_uring_enter returns success
            // even when a signal (SIGSTOP then SIGCONT, for one) cut the
            // wait short: wait again until every completion is there, or
            // the caller would take a missing one for a lost write.
            if self.ring.completion().len() >= want {
                return Ok(());
            }
        }
    }
}

impl IoBackend for UringIo {
    fn kind(&self) -> IoKind {
        IoKind::Uring
    }

    fn write_durable(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError> {
        let fd = types::Fd(file.as_raw_fd());
        let mut done = 0usize;
        // Each pass submits "write the rest" linked to "fdatasync". A short
        // write cancels the linked fsync (-ECANCELED), and we go round again
        // with what is left; the fsync that finally runs covers every byte.
        loop {
            let rest = &buf[done..];
            let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
            let write = opcode::Write::new(fd, rest.as_ptr(), len)
                .offset(offset + done as u64)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(WRITE_TAG);
            let sync = opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(SYNC_TAG);
            // SAFETY: `rest` stays borrowed and unmoved until both
            // completions are reaped below, before this function returns.
            unsafe {
                let mut sq = self.ring.submission();
                sq.push(&write)
                    .and_then(|_| sq.push(&sync))
                    .map_err(|_| StageError::write(io::Error::other("io_uring submission queue full")))?;
            }
            self.wait_for(2).map_err(StageError::write)?;
            let mut write_result = None;
            let mut sync_result = None;
            for cqe in self.ring.completion() {
                match cqe.user_data() {
                    WRITE_TAG => write_result = Some(cqe.result()),
                    SYNC_TAG => sync_result = Some(cqe.result()),
                    _ => {}
                }
            }
            let (Some(written), Some(synced)) = (write_result, sync_result) else {
                return Err(StageError::write(io::Error::other("io_uring lost a completion")));
            };
            if written < 0 {
                return Err(StageError::write(io::Error::from_raw_os_error(-written)));
            }
            if written == 0 && !rest.is_empty() {
                return Err(StageError::write(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_uring write made no progress",
                )));
            }
            done += written as usize;
            if done < buf.len() {
                continue; // the linked fsync was cancelled; write the rest
            }
            if synced < 0 {
                return Err(StageError::sync(io::Error::from_raw_os_error(-synced)));
            }
            return Ok(());
        }
    }

    fn prefers_direct(&self) -> bool {
        true
    }

    /// One write with RWF_DSYNC on an O_DIRECT file: durable on completion,
    /// no fsync (and so no io-wq worker) involved.
    fn write_durable_direct(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError> {
        let fd = types::Fd(file.as_raw_fd());
        let len = u32::try_from(buf.len())
            .map_err(|_| StageError::write(io::Error::other("direct write larger than 4 GiB")))?;
        let write = opcode::Write::new(fd, buf.as_ptr(), len)
            .offset(offset)
            .rw_flags(libc::RWF_DSYNC)
            .build()
            .user_data(WRITE_TAG);
        // SAFETY: `buf` stays borrowed and unmoved until the completion is
        // reaped below, before this function returns.
        unsafe {
            self.ring
                .submission()
                .push(&write)
                .map_err(|_| StageError::write(io::Error::other("io_uring submission queue full")))?;
        }
        self.wait_for(1).map_err(StageError::write)?;
        let Some(cqe) = self.ring.completion().next() else {
            return Err(StageError::write(io::Error::other("io_uring lost a completion")));
        };
        let written = cqe.result();
        if written < 0 {
            // The write and its sync are one operation: report it as a sync
            // failure, which is the conservative reading (never retried).
            return Err(StageError::sync(io::Error::from_raw_os_error(-written)));
        }
        if written as usize != buf.len() {
            return Err(StageError::write(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short direct write: {written} of {} bytes", buf.len()),
            )));
        }
        Ok(())
    }

    fn sync_all(&mut self, file: &File) -> io::Result<()> {
        // Rare (segment roll, directory sync): not worth a ring round trip.
        file.sync_all()
    }
}
