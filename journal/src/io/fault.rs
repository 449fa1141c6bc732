//! Fault injection for tests: make the N-th write, fsync or preallocation
//! fail with a chosen errno, through the same [`IoBackend`] trait the real
//! backends implement.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{IoBackend, IoKind, StageError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// The write half of a durable write: nothing is written.
    Write,
    /// The fsync half: the bytes are written, the fsync reports failure.
    Sync,
    /// Preallocation of a new segment file.
    Allocate,
}

#[derive(Debug)]
struct Rule {
    point: FaultPoint,
    /// Fails the call when the point's counter reaches this value.
    at_call: u64,
    errno: i32,
}

/// Shared by a test and the log it opened. Counters start at zero when the
/// injector is created; rules fire once.
#[derive(Debug, Default)]
pub struct FaultInjector {
    rules: Mutex<Vec<Rule>>,
    writes: AtomicU64,
    syncs: AtomicU64,
    allocations: AtomicU64,
}

impl FaultInjector {
    pub fn new() -> Arc<FaultInjector> {
        Arc::new(FaultInjector::default())
    }

    /// The call at `point` after `ok_calls` more successful ones fails with
    /// `errno` (for example `libc::EIO`, `libc::ENOSPC`).
    pub fn fail_after(&self, point: FaultPoint, ok_calls: u64, errno: i32) {
        let at_call = self.counter(point).load(Ordering::SeqCst) + ok_calls + 1;
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(Rule { point, at_call, errno });
        }
    }

    /// Calls seen so far at `point`.
    pub fn calls(&self, point: FaultPoint) -> u64 {
        self.counter(point).load(Ordering::SeqCst)
    }

    fn counter(&self, point: FaultPoint) -> &AtomicU64 {
        match point {
            FaultPoint::Write => &self.writes,
            FaultPoint::Sync => &self.syncs,
            FaultPoint::Allocate => &self.allocations,
        }
    }

    /// Counts a call at `point` and returns the injected error, if any.
    pub(crate) fn check(&self, point: FaultPoint) -> io::Result<()> {
        let n = self.counter(point).fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(mut rules) = self.rules.lock() else {
            return Ok(());
        };
        if let Some(i) = rules.iter().position(|r| r.point == point && r.at_call == n) {
            let rule = rules.remove(i);
            return Err(io::Error::from_raw_os_error(rule.errno));
        }
        Ok(())
    }
}

/// Wraps a real backend and injects the faults of a [`FaultInjector`].
pub(crate) struct FaultyIo {
    pub inner: Box<dyn IoBackend>,
    pub faults: Arc<FaultInjector>,
}

impl IoBackend for FaultyIo {
    fn kind(&self) -> IoKind {
        self.inner.kind()
    }

    fn write_durable(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError> {
        self.faults.check(FaultPoint::Write).map_err(StageError::write)?;
        self.inner.write_durable(file, offset, buf)?;
        self.faults.check(FaultPoint::Sync).map_err(StageError::sync)
    }

    fn sync_all(&mut self, file: &File) -> io::Result<()> {
        self.faults.check(FaultPoint::Sync)?;
        self.inner.sync_all(file)
    }

    fn prefers_direct(&self) -> bool {
        self.inner.prefers_direct()
    }

    fn write_durable_direct(&mut self, file: &File, offset: u64, buf: &[u8]) -> Result<(), StageError> {
        self.faults.check(FaultPoint::Write).map_err(StageError::write)?;
        self.inner.write_durable_direct(file, offset, buf)?;
        self.faults.check(FaultPoint::Sync).map_err(StageError::sync)
    }
}
