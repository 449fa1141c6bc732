//! Many appenders at once: seqs are unique and dense, each appender's order
//! is kept, and everything acknowledged is readable after reopen.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use memoir_journal::{Log, Seq};

#[test]
fn concurrent_appenders_get_unique_dense_seqs() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_segments(io);
        let log = Arc::new(Log::open(dir.path(), opts.clone()).unwrap());
        const THREADS: u64 = 16;
        const PER_THREAD: u64 = 150;
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut seqs = Vec::new();
                    for i in 0..PER_THREAD {
                        let payload = format!("t{t}-i{i}");
                        let appended = log.append_one(payload.into_bytes()).wait().unwrap();
                        seqs.push(appended.first);
                    }
                    seqs
                })
            })
            .collect();
        let mut all = HashSet::new();
        let mut by_thread = Vec::new();
        for handle in handles {
            let seqs = handle.join().unwrap();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "per-writer order kept");
            for s in &seqs {
                assert!(all.insert(*s), "seq {s} given twice");
            }
            by_thread.push(seqs);
        }
        let total = THREADS * PER_THREAD;
        assert_eq!(all.len() as u64, total);
        assert_eq!(all.iter().max(), Some(&Seq(total)), "dense from 1");
        let stats = log.stats();
        assert!(stats.groups <= total);
        drop(log);

        let log = Log::open(dir.path(), opts).unwrap();
        let entries = read_all(&log);
        assert_eq!(entries.len() as u64, total);
        for (t, seqs) in by_thread.iter().enumerate() {
            for (i, seq) in seqs.iter().enumerate() {
                let data = &entries[(seq.0 - 1) as usize].1;
                assert_eq!(&data[..], format!("t{t}-i{i}").as_bytes());
            }
        }
    }
}

/// Control requests (trim) arriving while a busy log gathers a group are
/// never lost: each one gets its own answer.
#[test]
fn control_requests_interleaved_with_busy_appends_are_all_answered() {
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), small_segments(io)).unwrap());
        let appenders: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..300 {
                        log.append_one(format!("{t}-{i}").into_bytes()).wait().unwrap();
                    }
                })
            })
            .collect();
        let trimmer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    log.trim(Seq(1)).wait().expect("every trim is answered");
                }
            })
        };
        for a in appenders {
            a.join().unwrap();
        }
        trimmer.join().unwrap();
        assert_eq!(log.next_seq(), Seq(8 * 300 + 1));
    }
}

/// Readers following the tail while the writer appends: every read of a
/// durable entry returns it, never a checksum failure. With direct writes
/// (the io_uring backend) the entries' bytes in the block still being
/// rewritten come from memory and the rest from the file (`OpenBlock`);
/// entries of every size straddle the block boundaries here.
#[test]
fn readers_at_the_tail_never_see_a_false_corruption() {
    const APPENDS: u64 = 1_000;
    const READERS: usize = 2;
    for io in backends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), options(io)).unwrap());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (log, done) = (log.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !done.load(std::sync::atomic::Ordering::Acquire) {
                        let Some(last) = log.last_seq() else { continue };
                        let from = Seq(last.0.saturating_sub(3).max(1));
                        let entries = log
                            .read(from, 1 << 20)
                            .unwrap_or_else(|e| panic!("{io:?}: reading from {from} after {reads} reads: {e}"));
                        for e in &entries {
                            assert_eq!(e.data, entry(e.seq.0, 1 + (e.seq.0 as usize * 37) % 700));
                        }
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for i in 1..=APPENDS {
            let appended = log.append_one(entry(i, 1 + (i as usize * 37) % 700)).wait().unwrap();
            assert_eq!(appended.first, Seq(i));
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    }
}
