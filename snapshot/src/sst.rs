//! RocksDB SST files: writing a sorted run of entries, and reading one
//! back (each block's checksum verified) without a database of our own.
//!
//! RocksDB offers no stand-alone SST reader in its Rust binding, so a file
//! is read by ingesting it (hard-linked, the original untouched) into a
//! throw-away database beside it and iterating that.

use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, DBCompressionType, IngestExternalFileOptions, IteratorMode, Options, ReadOptions, SstFileWriter,
    DB,
};

use crate::error::{Result, SnapshotError};

/// Data block size: large blocks compress better and cost fewer
/// decompress calls and checksums when a snapshot is loaded.
const BLOCK_BYTES: usize = 64 << 10;
/// Written bytes between writeback kicks (see `Writeback`).
const WRITEBACK_EVERY_BYTES: u64 = 8 << 20;
/// Readahead when a snapshot file is read back.
const READAHEAD_BYTES: usize = 4 << 20;

/// RocksDB options for snapshot SSTs: zstd, 64 KiB blocks.
fn sst_options() -> Options {
    let mut options = Options::default();
    options.set_compression_type(DBCompressionType::Zstd);
    options.set_bottommost_compression_type(DBCompressionType::Zstd);
    let mut table = BlockBasedOptions::default();
    table.set_block_size(BLOCK_BYTES);
    options.set_block_based_table_factory(&table);
    options
}

/// Keeps the dirty pages of a file being written bounded: every 8 MiB it
/// starts writeback of the new range and waits for the range before it.
/// Without this the kernel flushes a snapshot's gigabyte at once and a
/// journal fdatasync on the same disk queues behind it (a latency spike on
/// the primary's writes). RocksDB's own `bytes_per_sync` does this for a
/// database, but its SstFileWriter binding does not expose it.
struct Writeback {
    file: Option<std::fs::File>,
    started_to: u64,
}

impl Writeback {
    fn new(path: &Path) -> Writeback {
        Writeback {
            file: std::fs::File::open(path).ok(),
            started_to: 0,
        }
    }

    fn written(&mut self, size: u64) {
        use std::os::fd::AsRawFd;
        let Some(file) = &self.file else { return };
        if size < self.started_to + WRITEBACK_EVERY_BYTES {
            return;
        }
        let fd = file.as_raw_fd();
        let previous = self.started_to;
        // Offsets stay far below i64::MAX (files are at most a few GB).
        let (from, len) = (previous as libc::off64_t, (size - previous) as libc::off64_t);
        // SAFETY: plain system calls on a file descriptor we own. Errors
        // are ignored: this only paces writeback; durability comes from
        // the fsync after the file is finished, whose error is reported.
        unsafe {
            libc::sync_file_range(fd, from, len, libc::SYNC_FILE_RANGE_WRITE);
            if previous > 0 {
                let before = previous.saturating_sub(WRITEBACK_EVERY_BYTES) as libc::off64_t;
                libc::sync_file_range(
                    fd,
                    before,
                    from - before,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
            }
        }
        self.started_to = size;
    }
}

fn rocks_error(path: &Path, error: rocksdb::Error) -> SnapshotError {
    SnapshotError::RocksDb {
        path: path.to_path_buf(),
        message: error.into_string(),
    }
}

/// Writes entries given in strictly increasing key order to one SST file.
pub struct SstWriter {
    options: Options,
    path: PathBuf,
    entries: u64,
}

impl SstWriter {
    pub fn new(path: &Path) -> SstWriter {
        SstWriter {
            options: sst_options(),
            path: path.to_path_buf(),
            entries: 0,
        }
    }

    /// Writes every entry `fill` produces, then finishes the file.
    pub fn write_all(
        &mut self,
        mut fill: impl FnMut(&mut dyn FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()>,
    ) -> Result<u64> {
        let writer = SstFileWriter::create(&self.options);
        let path = self.path.clone();
        writer.open(&path).map_err(|e| rocks_error(&path, e))?;
        let mut writer = writer;
        let mut writeback = Writeback::new(&path);
        let mut entries = 0u64;
        fill(&mut |key, value| {
            entries += 1;
            writer.put(key, value).map_err(|e| rocks_error(&path, e))?;
            if entries % 256 == 0 {
                writeback.written(writer.file_size());
            }
            Ok(())
        })?;
        if entries == 0 {
            // RocksDB refuses to finish an empty SST; snapshots never ask
            // for one (a part gets at least one entry).
            return Err(SnapshotError::Config("an SST file needs at least one entry".into()));
        }
        writer.finish().map_err(|e| rocks_error(&path, e))?;
        self.entries = entries;
        Ok(entries)
    }
}

/// Calls `each(key, value, index)` for every entry of the SST at `path`,
/// in key order. `scratch` is an empty directory the reader may use.
pub fn read_sst(path: &Path, scratch: &Path, mut each: impl FnMut(&[u8], &[u8], u64) -> Result<()>) -> Result<u64> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_max_open_files(16);
    let link = scratch.with_extension("sst");
    // The throw-away database is closed before `scratch` is removed.
    let outcome = (|| {
        let db = DB::open(&options, scratch).map_err(|e| rocks_error(scratch, e))?;
        // RocksDB's "move" hard-links the file in and then deletes the name
        // it was given: give it a second link of our own, so the snapshot's
        // file stays. Across file systems, fall back to a copy.
        let mut ingest = IngestExternalFileOptions::default();
        let source = if std::fs::hard_link(path, &link).is_ok() {
            ingest.set_move_files(true);
            link.clone()
        } else {
            ingest.set_move_files(false);
            path.to_path_buf()
        };
        db.ingest_external_file_opts(&ingest, vec![source])
            .map_err(|e| SnapshotError::corrupt(path, "ingest", e.into_string()))?;
        let mut read = ReadOptions::default();
        read.set_verify_checksums(true);
        read.fill_cache(false);
        read.set_readahead_size(READAHEAD_BYTES);
        let mut index = 0u64;
        for item in db.iterator_opt(IteratorMode::Start, read) {
            let (key, value) =
                item.map_err(|e| SnapshotError::corrupt(path, format!("entry {index}"), e.into_string()))?;
            each(&key, &value, index)?;
            index += 1;
        }
        Ok(index)
    })();
    let _ = DB::destroy(&options, scratch);
    let _ = std::fs::remove_dir_all(scratch);
    let _ = std::fs::remove_file(&link);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sst");
        let written = SstWriter::new(&path)
            .write_all(|put| {
                for i in 0..1000u32 {
                    put(&i.to_be_bytes(), format!("value-{i}").as_bytes())?;
                }
                Ok(())
            })
            .expect("write");
        assert_eq!(written, 1000);
        let mut seen = Vec::new();
        let read = read_sst(&path, &dir.path().join("scratch"), |key, value, index| {
            assert_eq!(key, (index as u32).to_be_bytes());
            seen.push(value.to_vec());
            Ok(())
        })
        .expect("read");
        assert_eq!(read, 1000);
        assert_eq!(seen[999], b"value-999");
        assert!(path.exists(), "reading leaves the file in place");
    }
}
