//! Injected I/O faults: a failed fsync or write poisons the log and nothing
//! is acknowledged afterwards; a full disk at preallocation is a clear error
//! that does not poison.

mod common;

use common::*;
use memoir_journal::io::{FaultInjector, FaultPoint};
use memoir_journal::{Error, Log, LogOptions, Seq};

fn with_faults(io: memoir_journal::IoMode, faults: &std::sync::Arc<FaultInjector>) -> LogOptions {
    LogOptions {
        faults: Some(faults.clone()),
        ..small_segments(io)
    }
}

#[test]
fn failed_fsync_poisons_and_is_never_retried() {
    init_tracing();
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let faults = FaultInjector::new();
        let log = Log::open(dir.path(), with_faults(io, &faults)).unwrap();
        for i in 0..5 {
            log.append_one(entry(i, 10)).wait().unwrap();
        }
        faults.fail_after(FaultPoint::Sync, 0, libc::EIO);
        let failed = log.append_one(entry(5, 10)).wait();
        assert!(
            matches!(&failed, Err(Error::Io { .. })),
            "the failing append sees the I/O error: {failed:?}"
        );
        let syncs_after_failure = faults.calls(FaultPoint::Sync);
        for i in 6..10 {
            let later = log.append_one(entry(i, 10)).wait();
            assert!(matches!(later, Err(Error::Poisoned { .. })), "{later:?}");
        }
        assert!(matches!(log.truncate_after(Seq(2)).wait(), Err(Error::Poisoned { .. })));
        assert!(matches!(log.trim(Seq(2)).wait(), Err(Error::Poisoned { .. })));
        assert_eq!(
            faults.calls(FaultPoint::Sync),
            syncs_after_failure,
            "no fsync is attempted after the failure"
        );
        assert!(log.status().poisoned.is_some());
        // Reads of what was acknowledged still work.
        assert_eq!(log.read(Seq(1), 1 << 20).unwrap().len(), 5);
        drop(log);

        // After a restart, everything acknowledged is there; the failed
        // append may or may not be (its bytes reached the page cache), but
        // nothing after it is.
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        let all = read_all(&log);
        assert!(all.len() == 5 || all.len() == 6, "{} entries", all.len());
        for (i, (_, data)) in all.iter().enumerate() {
            assert_eq!(data, &entry(i as u64, 10));
        }
    }
}

#[test]
fn enospc_on_write_is_a_clear_error_and_no_ack() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let faults = FaultInjector::new();
        let log = Log::open(dir.path(), with_faults(io, &faults)).unwrap();
        log.append_one(entry(0, 10)).wait().unwrap();
        faults.fail_after(FaultPoint::Write, 0, libc::ENOSPC);
        let failed = log.append_one(entry(1, 10)).wait();
        match &failed {
            Err(e @ Error::NoSpace { .. }) => {
                assert!(e.to_string().contains("no space left on device"), "{e}");
            }
            other => panic!("expected NoSpace, got {other:?}"),
        }
        assert!(matches!(
            log.append_one(entry(2, 10)).wait(),
            Err(Error::Poisoned { .. })
        ));
        drop(log);
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        assert_eq!(read_all(&log), vec![(Seq(1), entry(0, 10))]);
    }
}

#[test]
fn enospc_while_preallocating_fails_the_append_without_poisoning() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let faults = FaultInjector::new();
        let log = Log::open(dir.path(), with_faults(io, &faults)).unwrap();
        // The preallocation thread keeps one spare ready; the next one it
        // makes fails, so the second roll from now hits the error.
        faults.fail_after(FaultPoint::Allocate, 0, libc::ENOSPC);
        let mut saw_no_space = false;
        let mut acked = Vec::new();
        for i in 0..60u64 {
            match log.append_one(entry(i, 1000)).wait() {
                Ok(appended) => acked.push((appended.first, entry(i, 1000))),
                Err(Error::NoSpace { .. }) => saw_no_space = true,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert!(saw_no_space, "a roll hit the injected ENOSPC");
        assert!(log.status().poisoned.is_none());
        assert!(acked.len() >= 50, "later appends succeed once space is back");
        drop(log);
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        assert_eq!(read_all(&log), acked);
    }
}
