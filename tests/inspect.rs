//! `memoir inspect segments`, run as an operator would: a healthy journal
//! directory verifies, a flipped byte is reported with its offset and a
//! non-zero exit.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use memoir_journal::{Log, LogOptions};

fn inspect_segments(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memoir"))
        .args(["inspect", "segments"])
        .arg(dir)
        .output()
        .expect("run memoir inspect");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn inspect_segments_verifies_a_replica_directory_and_reports_a_flipped_byte() {
    let replica = tempfile::tempdir().unwrap();
    let log_dir = replica.path().join("log");
    let options = LogOptions {
        segment_size_bytes: 1 << 20,
        ..LogOptions::default()
    };
    let log = Log::open(&log_dir, options).unwrap();
    for i in 0..10u8 {
        log.append_one(Bytes::from(vec![i; 1000])).wait().unwrap();
    }
    drop(log);

    // The replica's data directory and its `log/` both work.
    for dir in [replica.path(), log_dir.as_path()] {
        let (ok, out) = inspect_segments(dir);
        assert!(ok, "{out}");
        assert!(out.contains("batches=10 entries=10"), "{out}");
        assert!(out.contains("segments=1 damaged=0"), "{out}");
    }

    // One bit in the first batch's data (the segment header is 64 bytes;
    // nine valid batches follow, so this is no torn tail).
    let segment = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[64 + 500] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();
    let (ok, out) = inspect_segments(replica.path());
    assert!(!ok, "damage must make the exit status non-zero: {out}");
    assert!(out.contains("CORRUPT"), "{out}");
    assert!(out.contains("offset=64"), "the damaged batch's offset: {out}");
    assert!(out.contains("damaged=1"), "{out}");
}
