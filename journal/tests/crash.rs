//! Crash and corruption, as a property: write a log, leave a torn
//! unacknowledged write at its end, maybe flip a bit in acknowledged data,
//! and check what reopening says.
//!
//! Never wrong data; never a silently lost acknowledged batch; corruption
//! before the tail is reported with its file and offset. Proptest prints the
//! failing case (and its seed file) for replay.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::Bytes;
use common::*;
use memoir_journal::format::{BATCH_HEADER_LEN, SEGMENT_HEADER_LEN};
use memoir_journal::scan::{scan_segment, BatchLoc};
use memoir_journal::segment::list_segments;
use memoir_journal::{Error, IoMode, Log, LogOptions, RecoveryMode, Seq};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Tear {
    /// The file ends this many bytes into the unfinished batch.
    TruncateInto(u64),
    /// This 512-byte sector of the unfinished batch never reached the disk.
    ZeroSector(u64),
}

#[derive(Clone, Debug)]
struct Case {
    uring: bool,
    segment_size: u64,
    appends: Vec<Vec<Vec<u8>>>,
    unfinished: Vec<u8>,
    tear: Tear,
    /// (pick of acknowledged batch, byte within it, bit)
    flip: Option<(usize, usize, u8)>,
}

fn case() -> impl Strategy<Value = Case> {
    let entry = prop::collection::vec(any::<u8>(), 1..300);
    let append = prop::collection::vec(entry, 1..4);
    (
        any::<bool>(),
        prop::sample::select(vec![4096u64, 16384, 1 << 20]),
        prop::collection::vec(append, 1..40),
        prop::collection::vec(any::<u8>(), 1..3000),
        prop_oneof![
            any::<u64>().prop_map(Tear::TruncateInto),
            any::<u64>().prop_map(Tear::ZeroSector)
        ],
        prop::option::of((any::<usize>(), any::<usize>(), 0u8..8)),
    )
        .prop_map(|(uring, segment_size, appends, unfinished, tear, flip)| Case {
            uring,
            segment_size,
            appends,
            unfinished,
            tear,
            flip,
        })
}

/// Every valid batch of every segment, with its file.
fn batches(dir: &std::path::Path) -> Vec<(PathBuf, BatchLoc)> {
    let mut out = Vec::new();
    for (id, path) in list_segments(dir).unwrap() {
        let bytes = std::fs::read(&path).unwrap();
        let scan = scan_segment(&bytes, id).unwrap();
        out.extend(scan.batches.into_iter().map(|b| (path.clone(), b)));
    }
    out
}

fn run(case: Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        io: if case.uring { IoMode::Uring } else { IoMode::Sync },
        segment_size_bytes: case.segment_size,
        // Never compress: the sector heuristics below are about raw bytes.
        compression: memoir_journal::format::Compression {
            threshold_bytes: usize::MAX,
            zstd_level: 1,
        },
        ..LogOptions::default()
    };
    let mut acked: Vec<Bytes> = Vec::new();
    {
        let log = Log::open(dir.path(), options.clone()).unwrap();
        for append in &case.appends {
            let entries: Vec<Bytes> = append.iter().map(|e| Bytes::copy_from_slice(e)).collect();
            log.append(entries.clone()).wait().unwrap();
            acked.extend(entries);
        }
        // The write that the crash interrupts.
        log.append_one(Bytes::copy_from_slice(&case.unfinished)).wait().unwrap();
    }
    let all = batches(dir.path());
    let (last_path, last) = all.last().cloned().unwrap();
    let acked_batches = &all[..all.len() - 1];
    let file = OpenOptions::new().write(true).open(&last_path).unwrap();
    let extent = (BATCH_HEADER_LEN + case.unfinished.len() + 4) as u64;
    match case.tear {
        Tear::TruncateInto(n) => file.set_len(last.offset + n % extent).unwrap(),
        Tear::ZeroSector(n) => {
            let first_sector = last.offset / 512;
            let last_sector = (last.offset + extent - 1) / 512;
            let sector = first_sector + n % (last_sector - first_sector + 1);
            let start = (sector * 512).max(last.offset);
            let end = (sector * 512 + 512).min(last.offset + extent);
            file.write_all_at(&vec![0u8; (end - start) as usize], start).unwrap();
        }
    }
    let mut flipped_at = None;
    if let Some((pick, byte, bit)) = case.flip {
        // A flip in an acknowledged batch's header or payload, or in a
        // segment header.
        let segments = list_segments(dir.path()).unwrap();
        let (path, offset, place) = if pick % 10 == 0 {
            let (_, path) = &segments[pick / 10 % segments.len()];
            (path.clone(), 0, (byte % SEGMENT_HEADER_LEN) as u64)
        } else {
            let (path, batch) = &acked_batches[pick % acked_batches.len()];
            let payload_len = {
                let bytes = std::fs::read(path).unwrap();
                let h = memoir_journal::format::BatchHeader::decode(&bytes[batch.offset as usize..]).unwrap();
                BATCH_HEADER_LEN + h.stored_len as usize
            };
            (path.clone(), batch.offset, batch.offset + (byte % payload_len) as u64)
        };
        let f = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, place).unwrap();
        b[0] ^= 1 << bit;
        f.write_all_at(&b, place).unwrap();
        flipped_at = Some((path, offset));
    }

    let reopened = Log::open(dir.path(), options.clone());
    match flipped_at {
        None => {
            let log = reopened.map_err(|e| TestCaseError::fail(format!("clean tear refused: {e}")))?;
            let data: Vec<Bytes> = read_all(&log).into_iter().map(|(_, d)| d).collect();
            prop_assert_eq!(&data, &acked, "exactly the acknowledged entries survive");
            // The log keeps working after a torn tail, across another reopen.
            let next = log.append_one(&b"after"[..]).wait().unwrap();
            prop_assert_eq!(next.first, Seq(acked.len() as u64 + 1));
            drop(log);
            let log = Log::open(dir.path(), options.clone()).unwrap();
            prop_assert_eq!(read_all(&log).len(), acked.len() + 1);
        }
        Some((path, offset)) => match reopened {
            Err(Error::Corruption {
                path: reported,
                offset: at,
                ..
            }) => {
                prop_assert_eq!(reported, path, "corruption names the damaged file");
                prop_assert_eq!(at, offset, "corruption names the damaged batch");
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error: {other}"))),
            Ok(log) => {
                return Err(TestCaseError::fail(format!(
                    "a flipped bit went unnoticed; log holds {} entries",
                    read_all(&log).len()
                )))
            }
        },
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn reopen_after_tear_and_bit_flips_never_lies(case in case()) {
        run(case)?;
    }
}

#[test]
fn strict_mode_refuses_a_torn_tail_and_salvage_keeps_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_segments(IoMode::Sync);
    {
        let log = Log::open(dir.path(), options.clone()).unwrap();
        for i in 0..20 {
            log.append_one(entry(i, 100)).wait().unwrap();
        }
    }
    let all = batches(dir.path());
    let (path, last) = all.last().cloned().unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(last.offset + 10)
        .unwrap();
    let strict = LogOptions {
        recovery: RecoveryMode::Strict,
        ..options.clone()
    };
    match Log::open(dir.path(), strict) {
        Err(Error::TornTail { path: p, offset, .. }) => {
            assert_eq!(p, path);
            assert_eq!(offset, last.offset);
        }
        other => panic!("strict mode must refuse a torn tail: {:?}", other.err()),
    }

    // Corrupt a batch in the middle; salvage keeps everything before it.
    let (mid_path, mid) = all[5].clone();
    let f = OpenOptions::new().read(true).write(true).open(&mid_path).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, mid.offset + 45).unwrap();
    f.write_all_at(&[b[0] ^ 0x80], mid.offset + 45).unwrap();
    assert!(matches!(
        Log::open(dir.path(), options.clone()),
        Err(Error::Corruption { .. })
    ));
    let salvage = LogOptions {
        recovery: RecoveryMode::TruncateAtFirstBadBatch,
        ..options.clone()
    };
    let log = Log::open(dir.path(), salvage).unwrap();
    let kept = read_all(&log);
    assert_eq!(kept.len() as u64, mid.first_seq.0 - 1);
    for (seq, data) in &kept {
        assert_eq!(data, &entry(seq.0 - 1, 100));
    }
    log.append_one(entry(999, 5)).wait().unwrap();
    drop(log);
    // After salvage the log is healthy again in the default mode.
    let log = Log::open(dir.path(), options).unwrap();
    assert_eq!(read_all(&log).len(), kept.len() + 1);
}
