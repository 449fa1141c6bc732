//! Helpers shared by the journal's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use memoir_journal::{IoMode, Log, LogOptions, Seq};

/// The backends every test runs against: both, unless `MEMOIR_IO` picks one.
pub fn backends() -> Vec<IoMode> {
    match std::env::var("MEMOIR_IO").ok().as_deref() {
        Some("sync") => vec![IoMode::Sync],
        Some("uring") => vec![IoMode::Uring],
        _ => vec![IoMode::Uring, IoMode::Sync],
    }
}

/// Production defaults but 1 MiB segments: every test log zero-fills its
/// active and spare segment, and 64 MiB each would dominate the suite.
pub fn options(io: IoMode) -> LogOptions {
    LogOptions {
        io,
        segment_size_bytes: 1 << 20,
        ..LogOptions::default()
    }
}

/// Small segments, so a few appends span several files.
pub fn small_segments(io: IoMode) -> LogOptions {
    LogOptions {
        io,
        segment_size_bytes: 4096,
        ..LogOptions::default()
    }
}

pub fn entry(i: u64, len: usize) -> Bytes {
    let mut data = format!("entry-{i}-").into_bytes();
    data.resize(len.max(data.len()), b'a' + (i % 26) as u8);
    data.truncate(len);
    Bytes::from(data)
}

/// Reads the whole log.
pub fn read_all(log: &Log) -> Vec<(Seq, Bytes)> {
    let mut out = Vec::new();
    let mut from = log.first_seq();
    loop {
        let chunk = log.read(from, 1 << 20).expect("read");
        if chunk.is_empty() {
            return out;
        }
        from = chunk.last().map(|e| e.seq.next()).unwrap_or(from);
        out.extend(chunk.into_iter().map(|e| (e.seq, e.data)));
    }
}

pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    memoir_journal::segment::list_segments(dir)
        .expect("list")
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}
