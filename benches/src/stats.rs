//! Latency recording and the raw-device reference measurement.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

/// A histogram of microseconds, 1 us to 60 s at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

pub fn record(h: &mut Histogram<u64>, elapsed: Duration) {
    let us = (elapsed.as_micros() as u64).clamp(1, 60_000_000);
    let _ = h.record(us);
}

/// The reference every journal figure is compared with: a plain loop of
/// 4 KiB write + fdatasync, appending to a file in `dir`, for `duration`.
/// Returns (p50, p99) in microseconds.
pub fn fsync_reference(dir: &Path, duration: Duration) -> anyhow::Result<(u64, u64)> {
    let path = dir.join("fsync-reference.dat");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = vec![0x5au8; 4096];
    let mut h = latency_histogram();
    let start = Instant::now();
    let mut offset = 0u64;
    while start.elapsed() < duration {
        let t = Instant::now();
        file.write_all_at(&block, offset).context("reference write")?;
        file.sync_data().context("reference fdatasync")?;
        record(&mut h, t.elapsed());
        offset += block.len() as u64;
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok((h.value_at_quantile(0.5), h.value_at_quantile(0.99)))
}

/// A scratch directory on the same disk as the working directory (not a
/// tmpfs /tmp, where fdatasync is free and the figures would mean nothing).
pub fn scratch_dir(parent: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let parent = match parent {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir()?.join("bench-data"),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix("memoir-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a scratch directory in {}", parent.display()))
}
