//! Functional tests of the segment store, against every I/O backend.

mod common;

use bytes::Bytes;
use common::*;
use memoir_journal::{Error, IoMode, Log, LogOptions, Seq};

#[test]
fn round_trip_small_large_and_empty_entries() {
    init_tracing();
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [0usize, 1, 100, 4096, 1 << 20, 3];
        let log = Log::open(dir.path(), options(io)).unwrap();
        assert_eq!(log.last_seq(), None);
        for (i, &len) in sizes.iter().enumerate() {
            let appended = log.append_one(entry(i as u64, len)).wait().unwrap();
            assert_eq!(appended.first, Seq(i as u64 + 1));
            assert_eq!(appended.last, appended.first);
        }
        let check = |log: &Log| {
            let all = read_all(log);
            assert_eq!(all.len(), sizes.len());
            for (i, (seq, data)) in all.iter().enumerate() {
                assert_eq!(*seq, Seq(i as u64 + 1));
                assert_eq!(data, &entry(i as u64, sizes[i]), "{io:?} entry {i}");
            }
        };
        check(&log);
        drop(log);
        let log = Log::open(dir.path(), options(io)).unwrap();
        check(&log);
        assert_eq!(log.last_seq(), Some(Seq(sizes.len() as u64)));
    }
}

#[test]
fn multi_entry_appends_get_consecutive_seqs() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options(io)).unwrap();
        let a = log.append((0..5).map(|i| entry(i, 10)).collect()).wait().unwrap();
        let b = log.append((5..7).map(|i| entry(i, 10)).collect()).wait().unwrap();
        assert_eq!((a.first, a.last, a.count()), (Seq(1), Seq(5), 5));
        assert_eq!((b.first, b.last), (Seq(6), Seq(7)));
        let all = read_all(&log);
        assert_eq!(all.len(), 7);
        assert_eq!(all[6].1, entry(6, 10));
        assert!(matches!(log.append(Vec::new()).wait(), Err(Error::InvalidArgument(_))));
    }
}

#[test]
fn reopen_continues_and_spans_segments() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = Vec::new();
        for round in 0..3u64 {
            let log = Log::open(dir.path(), small_segments(io)).unwrap();
            for i in 0..40u64 {
                let n = round * 40 + i;
                let appended = log.append_one(entry(n, 300)).wait().unwrap();
                assert_eq!(appended.first, Seq(n + 1));
                expected.push(entry(n, 300));
            }
            let all = read_all(&log);
            assert_eq!(all.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(), expected);
        }
        assert!(segment_files(dir.path()).len() > 5, "4 KiB segments roll over");
    }
}

#[test]
fn zstd_batches_round_trip_and_are_smaller_on_disk() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(io);
        opts.compression.threshold_bytes = 1024;
        let log = Log::open(dir.path(), opts.clone()).unwrap();
        let big = Bytes::from(vec![b'z'; 200_000]);
        log.append(vec![big.clone(), entry(1, 10)]).wait().unwrap();
        assert!(log.stats().bytes_written < 10_000, "compressed: {:?}", log.stats());
        drop(log);
        let log = Log::open(dir.path(), opts).unwrap();
        let all = read_all(&log);
        assert_eq!(all[0].1, big);
        assert_eq!(all[1].1, entry(1, 10));
    }
}

#[test]
fn read_respects_max_bytes_and_range() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options(io)).unwrap();
        for i in 0..10 {
            log.append_one(entry(i, 100)).wait().unwrap();
        }
        assert_eq!(log.read(Seq(1), 250).unwrap().len(), 2);
        assert_eq!(log.read(Seq(1), 0).unwrap().len(), 1, "always at least one entry");
        assert_eq!(log.read(Seq(9), 1 << 20).unwrap().len(), 2);
        assert!(log.read(Seq(11), 100).unwrap().is_empty());
        assert!(matches!(log.read(Seq(12), 100), Err(Error::OutOfRange { .. })));
        assert!(matches!(log.read(Seq(0), 100), Err(Error::OutOfRange { .. })));
    }
}

#[test]
fn trim_removes_whole_segments_durably() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        for i in 0..100 {
            log.append_one(entry(i, 300)).wait().unwrap();
        }
        let before = segment_files(dir.path()).len();
        let removed = log.trim(Seq(50)).wait().unwrap();
        assert!(removed > 0);
        assert_eq!(segment_files(dir.path()).len(), before - removed);
        let first = log.first_seq();
        assert!(first <= Seq(50) && first > Seq(1), "first retained {first}");
        assert!(matches!(log.read(Seq(1), 10), Err(Error::OutOfRange { .. })));
        assert_eq!(log.read(first, 1).unwrap()[0].data, entry(first.0 - 1, 300));
        // Trimming past the end keeps the active segment.
        log.trim(Seq(1000)).wait().unwrap();
        assert_eq!(segment_files(dir.path()).len(), 1);
        assert_eq!(log.next_seq(), Seq(101));
        let first = log.first_seq();
        drop(log);
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        assert_eq!(log.first_seq(), first);
        assert_eq!(log.next_seq(), Seq(101));
        assert_eq!(log.append_one(entry(100, 3)).wait().unwrap().first, Seq(101));
    }
}

/// The log after a truncation must equal a simple model, before and after
/// reopen, whether the cut is at a batch boundary, inside a batch, or in an
/// older segment.
#[test]
fn truncate_after_matches_a_model() {
    for io in backends() {
        for (cut, segment_size) in [(7u64, 1 << 20), (5, 1 << 20), (2, 4096), (0, 4096), (60, 4096)] {
            let dir = tempfile::tempdir().unwrap();
            let opts = LogOptions {
                segment_size_bytes: segment_size,
                ..options(io)
            };
            let log = Log::open(dir.path(), opts.clone()).unwrap();
            let mut model: Vec<Bytes> = Vec::new();
            // Batches of 3 entries, so cuts land inside and between batches.
            for b in 0..30u64 {
                let batch: Vec<Bytes> = (0..3).map(|i| entry(b * 3 + i, 200)).collect();
                log.append(batch.clone()).wait().unwrap();
                model.extend(batch);
            }
            log.truncate_after(Seq(cut)).wait().unwrap();
            model.truncate(cut as usize);
            assert_eq!(log.next_seq(), Seq(cut + 1));
            let appended = log.append_one(entry(1000, 50)).wait().unwrap();
            assert_eq!(appended.first, Seq(cut + 1));
            model.push(entry(1000, 50));
            let data = |log: &Log| read_all(log).into_iter().map(|(_, d)| d).collect::<Vec<_>>();
            assert_eq!(data(&log), model, "{io:?} cut {cut}");
            drop(log);
            let log = Log::open(dir.path(), opts.clone()).unwrap();
            assert_eq!(data(&log), model, "{io:?} cut {cut} after reopen");
            // Keep writing after a reopen, then reopen again.
            log.append_one(entry(1001, 50)).wait().unwrap();
            model.push(entry(1001, 50));
            drop(log);
            let log = Log::open(dir.path(), opts).unwrap();
            assert_eq!(data(&log), model, "{io:?} cut {cut} second reopen");
        }
    }
}

#[test]
fn truncate_after_refuses_trimmed_positions_and_ignores_the_end() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        for i in 0..60 {
            log.append_one(entry(i, 300)).wait().unwrap();
        }
        log.trim(Seq(40)).wait().unwrap();
        let first = log.first_seq();
        assert!(matches!(
            log.truncate_after(first.prev().prev()).wait(),
            Err(Error::OutOfRange { .. })
        ));
        log.truncate_after(Seq(60)).wait().unwrap();
        log.truncate_after(Seq(100)).wait().unwrap();
        assert_eq!(log.next_seq(), Seq(61));
        // Cutting everything that is retained leaves an empty log at `first`.
        log.truncate_after(first.prev()).wait().unwrap();
        assert_eq!(log.next_seq(), first);
        assert_eq!(log.last_seq(), None);
    }
}

#[test]
fn reset_restarts_the_log_at_a_new_seq() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        for i in 0..30 {
            log.append_one(entry(i, 300)).wait().unwrap();
        }
        log.reset(Seq(500)).wait().unwrap();
        assert_eq!((log.first_seq(), log.next_seq()), (Seq(500), Seq(500)));
        assert_eq!(log.append_one(entry(500, 10)).wait().unwrap().first, Seq(500));
        drop(log);
        let log = Log::open(dir.path(), small_segments(io)).unwrap();
        assert_eq!(read_all(&log), vec![(Seq(500), entry(500, 10))]);
        assert_eq!(segment_files(dir.path()).len(), 1);
    }
}

#[test]
fn a_fresh_log_can_start_at_any_seq() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        first_seq: Seq(77),
        ..options(IoMode::Auto)
    };
    let log = Log::open(dir.path(), opts).unwrap();
    assert_eq!(log.append_one(entry(0, 1)).wait().unwrap().first, Seq(77));
}

#[test]
fn a_directory_is_opened_by_one_log_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options(IoMode::Auto)).unwrap();
    assert!(matches!(
        Log::open(dir.path(), options(IoMode::Auto)),
        Err(Error::Locked { .. })
    ));
    drop(log);
    Log::open(dir.path(), options(IoMode::Auto)).unwrap();
}

#[test]
fn forced_uring_reports_uring_and_sync_reports_sync() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("a"), options(IoMode::Sync)).unwrap();
    assert_eq!(log.io_kind().to_string(), "sync");
    // This machine has io_uring (kernel.io_uring_disabled = 0); CI runs here.
    let log = Log::open(dir.path().join("b"), options(IoMode::Uring)).unwrap();
    assert_eq!(log.io_kind().to_string(), "uring");
    assert_eq!(log.status().segments, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_keep_call_order_when_pipelined() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options(io)).unwrap();
        // Issue many appends without awaiting, then await in reverse: the
        // seqs follow the order of the calls, not of the awaits.
        let pending: Vec<_> = (0..500).map(|i| log.append_one(entry(i, 20))).collect();
        let mut results = Vec::new();
        for p in pending.into_iter().rev() {
            results.push(p.await.unwrap());
        }
        results.reverse();
        for (i, appended) in results.iter().enumerate() {
            assert_eq!(appended.first, Seq(i as u64 + 1));
        }
        let stats = log.stats();
        assert!(stats.groups < 500, "pipelined appends share fsyncs: {stats:?}");
    }
}

/// The end of the last segment's data, past which it is zeros.
fn data_end(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i as u64 + 1)
}

/// A last segment cut short anywhere in its last batches (as
/// `memoir-bench chaos` tears a stopped replica's tail) must open, take
/// appends and open again.
#[test]
fn a_last_segment_truncated_anywhere_in_its_tail_reopens_and_appends() {
    init_tracing();
    for io in backends() {
        for cut in 0..12u64 {
            let dir = tempfile::tempdir().unwrap();
            let log = Log::open(dir.path(), options(io)).unwrap();
            for i in 0..60 {
                log.append_one(entry(i, 50 + (i as usize * 37) % 400)).wait().unwrap();
            }
            drop(log);
            let last = segment_files(dir.path()).pop().unwrap();
            let end = data_end(&last);
            let at = end - 1 - cut * 97 % end.min(4096);
            let file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
            file.set_len(at).unwrap();
            drop(file);
            let log =
                Log::open(dir.path(), options(io)).unwrap_or_else(|e| panic!("{io:?}: cut at {at} of {end}: {e}"));
            let kept = read_all(&log).len();
            log.append_one(entry(1000, 10)).wait().unwrap();
            drop(log);
            let log = Log::open(dir.path(), options(io)).unwrap();
            assert_eq!(read_all(&log).len(), kept + 1, "{io:?}: cut at {at}");
        }
    }
}
