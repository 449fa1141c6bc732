//! Writing a data set as sorted, partitioned SST files.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memoir_engine::keyspace::serial::encode_value;
use memoir_engine::keyspace::value::Value;
use memoir_engine::keyspace::Keyspace;

use crate::error::{Result, SnapshotError};
use crate::format::{encode_key, FileEntry};
use crate::pace::IoPacer;
use crate::sst::SstWriter;
use crate::store::{file_checksum, sync_dir, sync_file};

/// Writes every key of `keyspace` into at most `max_files` SST files in
/// `dir` (sorted by database, then key; each file a contiguous range, so
/// they load in parallel), makes them durable, and describes them.
/// Files hold at least `min_keys_per_file` keys each (a small data set gets
/// fewer files: a file per few keys would cost more than it saves).
/// `keys_written` counts progress for whoever watches; every byte written
/// and read back for the files' checksums goes through `pacer`.
pub fn write_files(
    keyspace: &Keyspace,
    dir: &Path,
    max_files: usize,
    min_keys_per_file: usize,
    keys_written: &AtomicU64,
    pacer: &IoPacer,
) -> Result<Vec<FileEntry>> {
    let mut entries: Vec<(u16, &[u8], &Value, Option<i64>)> = Vec::with_capacity(keyspace.total_keys());
    for index in 0..keyspace.databases() {
        let Some(db) = keyspace.db(index) else { continue };
        let number = u16::try_from(index).map_err(|_| SnapshotError::Config(format!("database {index} > 65535")))?;
        for (entry, expire_at) in db.entries_with_expiry() {
            entries.push((number, entry.key(), entry.value(), expire_at));
        }
    }
    entries.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let files = max_files
        .max(1)
        .min(entries.len().div_ceil(min_keys_per_file.max(1)))
        .max(1);
    let per_file = entries.len().div_ceil(files);
    let chunks: Vec<_> = entries.chunks(per_file).collect();
    let written: Vec<Result<FileEntry>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(|(part, chunk)| {
                scope.spawn(move || {
                    let name = format!("part-{part:03}.sst");
                    let path = dir.join(&name);
                    let mut key_buffer = Vec::new();
                    let mut value_buffer = Vec::new();
                    let keys = SstWriter::new(&path).write_all(pacer, |put| {
                        for (db, key, value, expire_at) in chunk.iter() {
                            encode_key(*db, key, &mut key_buffer);
                            value_buffer.clear();
                            encode_value(value, *expire_at, &mut value_buffer);
                            put(&key_buffer, &value_buffer)?;
                            keys_written.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    })?;
                    sync_file(&path)?;
                    let (crc32c, size) = file_checksum(&path, pacer)?;
                    tracing::info!(file = %name, keys, bytes = size, "snapshot file done");
                    Ok(FileEntry {
                        name,
                        size,
                        crc32c,
                        keys,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(SnapshotError::Config("an SST writer thread panicked".into())))
            })
            .collect()
    });
    let files = written.into_iter().collect::<Result<Vec<_>>>()?;
    sync_dir(dir)?;
    Ok(files)
}
