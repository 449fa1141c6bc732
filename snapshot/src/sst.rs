//! RocksDB SST files: writing a sorted run of entries, and reading one
//! back (each block's checksum verified) without a database of our own.
//!
//! RocksDB offers no stand-alone SST reader in its Rust binding, so a file
//! is read by ingesting it (hard-linked, the original untouched) into a
//! throw-away database beside it and iterating that.

use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, DBCompressionType, IngestExternalFileOptions, Options, ReadOptions, SstFileWriter, DB,
};

use memoir_journal::writeback::{Writeback, DEFAULT_STEP_BYTES};

use crate::error::{Result, SnapshotError};
use crate::pace::IoPacer;

/// Data block size: large blocks compress better and cost fewer
/// decompress calls and checksums when a snapshot is loaded.
const BLOCK_BYTES: usize = 64 << 10;
/// Readahead when a snapshot file is loaded as fast as it can be.
pub const LOAD_READAHEAD_BYTES: usize = 4 << 20;

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

    /// Writes every entry `fill` produces, then finishes the file; the
    /// bytes written are reported to `pacer` as they grow.
    pub fn write_all(
        &mut self,
        pacer: &IoPacer,
        mut fill: impl FnMut(&mut dyn FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()>,
    ) -> Result<u64> {
        let writer = SstFileWriter::create(&self.options);
        let path = self.path.clone();
        writer.open(&path).map_err(|e| rocks_error(&path, e))?;
        let mut writer = writer;
        // Writeback a step at a time, so that journal fdatasyncs on the
        // same disk never wait behind a large part of this file (see
        // `memoir_journal::writeback`). RocksDB's own `bytes_per_sync`
        // does this for a database, but its SstFileWriter binding does not
        // expose it. Pacing only: if the file cannot be opened a second
        // time, the snapshot goes on without it.
        let pacing_handle = std::fs::File::open(&path).ok();
        let mut writeback = pacing_handle
            .as_ref()
            .map(|file| Writeback::new(file, DEFAULT_STEP_BYTES));
        let mut entries = 0u64;
        let mut paced_bytes = 0u64;
        fill(&mut |key, value| {
            entries += 1;
            writer.put(key, value).map_err(|e| rocks_error(&path, e))?;
            if entries % 256 == 0 {
                let size = writer.file_size();
                pacer.pace(size.saturating_sub(paced_bytes));
                paced_bytes = size;
                if let Some(writeback) = writeback.as_mut() {
                    writeback.written(size);
                }
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
/// in key order, reading ahead `readahead_bytes` at a time. `scratch` is
/// an empty directory the reader may use.
pub fn read_sst(
    path: &Path,
    scratch: &Path,
    readahead_bytes: usize,
    mut each: impl FnMut(&[u8], &[u8], u64) -> Result<()>,
) -> Result<u64> {
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
        read.set_readahead_size(readahead_bytes);
        // The raw iterator lends each entry's bytes from the block it
        // decoded; the boxed iterator would copy every key and value into
        // two fresh allocations first.
        let mut entries = db.raw_iterator_opt(read);
        entries.seek_to_first();
        let mut index = 0u64;
        while let Some((key, value)) = entries.item() {
            each(key, value, index)?;
            index += 1;
            entries.next();
        }
        // An iterator stops being valid at the end and on an error alike.
        entries
            .status()
            .map_err(|e| SnapshotError::corrupt(path, format!("entry {index}"), e.into_string()))?;
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
            .write_all(&IoPacer::unlimited(), |put| {
                for i in 0..1000u32 {
                    put(&i.to_be_bytes(), format!("value-{i}").as_bytes())?;
                }
                Ok(())
            })
            .expect("write");
        assert_eq!(written, 1000);
        let mut seen = Vec::new();
        let read = read_sst(
            &path,
            &dir.path().join("scratch"),
            LOAD_READAHEAD_BYTES,
            |key, value, index| {
                assert_eq!(key, (index as u32).to_be_bytes());
                seen.push(value.to_vec());
                Ok(())
            },
        )
        .expect("read");
        assert_eq!(read, 1000);
        assert_eq!(seen[999], b"value-999");
        assert!(path.exists(), "reading leaves the file in place");
    }
}
