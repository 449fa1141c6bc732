//! Reading a snapshot back: every file's size and CRC checked, every SST
//! block checksum verified by RocksDB, every value decoded, and (when
//! verifying) the digest recomputed and compared with the manifest's. Used
//! both to verify a fresh snapshot before publishing and to rehydrate a
//! memory node.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use memoir_engine::keyspace::serial::decode_value;
use memoir_engine::keyspace::value::Value;
use memoir_engine::keyspace::Keyspace;
use memoir_engine::LoadProgress;

use crate::digest::DigestBuilder;
use crate::error::{Result, SnapshotError};
use crate::format::{decode_key, Manifest};
use crate::pace::IoPacer;
use crate::sst::{read_sst, LOAD_READAHEAD_BYTES};
use crate::store::file_checksum;

/// Decoded entries travel to the inserting thread in chunks of this many.
const CHUNK_ENTRIES: usize = 4096;
/// Chunks in flight between decoders and the inserting thread: bounds the
/// memory a fast decoder can run ahead with.
const CHUNKS_IN_FLIGHT: usize = 16;

type Chunk = Vec<(u16, Vec<u8>, Value, Option<i64>)>;

/// Reads the snapshot in `dir` described by `manifest`, as fast as it
/// can. With `databases = Some(n)`, builds and returns the keyspace (of
/// `n` databases); with `None`, only verifies, digest included. `scratch`
/// is a directory on the same file system the reader may use.
///
/// Building does not recompute the digest. The snapshot service published
/// this manifest only after the digest of these files' entries matched
/// (see [`verify_fresh_snapshot`]), and every file's whole-file CRC-32C is
/// checked here against the manifest (itself checksummed), as is every
/// block's checksum: bytes equal to the verified ones decode to the same
/// data. Hashing every value again cost a fifth of the loaders' CPU.
pub fn read_snapshot(
    dir: &Path,
    manifest: &Manifest,
    databases: Option<usize>,
    scratch: &Path,
    progress: &mut dyn FnMut(LoadProgress),
) -> Result<Option<Keyspace>> {
    let plan = ReadPlan {
        databases,
        file_crc: FileCrc::Check,
        pacer: &IoPacer::unlimited(),
    };
    read_snapshot_with(dir, manifest, scratch, &plan, progress)
}

/// The snapshot service's check of files it has just written and
/// checksummed: every entry read back through RocksDB (block checksums,
/// values decoded, digest recomputed) at the pace of `pacer`, without a
/// second whole-file CRC pass (the manifest's CRCs were computed from
/// these very files a moment ago).
pub fn verify_fresh_snapshot(dir: &Path, manifest: &Manifest, scratch: &Path, pacer: &IoPacer) -> Result<()> {
    let plan = ReadPlan {
        databases: None,
        file_crc: FileCrc::AlreadyChecked,
        pacer,
    };
    read_snapshot_with(dir, manifest, scratch, &plan, &mut |_| {}).map(|_| ())
}

/// Whether each file's whole-file CRC-32C is computed and compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FileCrc {
    Check,
    AlreadyChecked,
}

/// What one read of a snapshot does.
struct ReadPlan<'a> {
    databases: Option<usize>,
    file_crc: FileCrc,
    pacer: &'a IoPacer,
}

fn read_snapshot_with(
    dir: &Path,
    manifest: &Manifest,
    scratch: &Path,
    plan: &ReadPlan<'_>,
    progress: &mut dyn FnMut(LoadProgress),
) -> Result<Option<Keyspace>> {
    let databases = plan.databases;
    let pacer = plan.pacer;
    let verification = |reason: String| SnapshotError::Verification {
        id: manifest.id.clone(),
        reason,
    };
    if let Some(databases) = databases {
        if manifest.databases as usize > databases {
            return Err(verification(format!(
                "snapshot has {} databases, this node {databases}",
                manifest.databases
            )));
        }
    }
    let total_keys = manifest.keys.max(1);
    let total_bytes = manifest.total_bytes();
    let next_file = AtomicUsize::new(0);
    let keys_decoded = AtomicU64::new(0);
    let cancelled = AtomicBool::new(false);
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(manifest.files.len())
        .max(1);
    let (chunks_tx, chunks_rx) = mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let build = databases.is_some();
    // Verifying recomputes the digest; building trusts the CRCs (see
    // `read_snapshot`).
    let recompute_digest = !build;
    let mut keyspace = databases.map(Keyspace::new);
    let mut insert_error = None;
    let outcomes: Vec<Result<DigestBuilder>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let chunks_tx = chunks_tx.clone();
                let (next_file, keys_decoded, cancelled) = (&next_file, &keys_decoded, &cancelled);
                scope.spawn(move || {
                    let mut digest = DigestBuilder::default();
                    loop {
                        let index = next_file.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = manifest.files.get(index) else {
                            return Ok(digest);
                        };
                        if cancelled.load(Ordering::Relaxed) {
                            return Err(SnapshotError::Stopped);
                        }
                        let path = dir.join(&file.name);
                        let (crc, size) = match plan.file_crc {
                            FileCrc::Check => file_checksum(&path, pacer)?,
                            FileCrc::AlreadyChecked => (file.crc32c, file_size(&path)?),
                        };
                        if size != file.size {
                            return Err(SnapshotError::corrupt(
                                &path,
                                format!("offset {}", size.min(file.size)),
                                format!("file is {size} bytes, the manifest says {}", file.size),
                            ));
                        }
                        if crc != file.crc32c {
                            return Err(SnapshotError::corrupt(
                                &path,
                                "whole file",
                                format!("CRC-32C {crc:#010x}, the manifest says {:#010x}", file.crc32c),
                            ));
                        }
                        let file_scratch = scratch.join(format!("load-{}-{worker}-{index}", uuid::Uuid::new_v4()));
                        let mut chunk: Chunk = Vec::with_capacity(if build { CHUNK_ENTRIES } else { 0 });
                        let readahead = pacer.read_bytes(LOAD_READAHEAD_BYTES);
                        let read = read_sst(&path, &file_scratch, readahead, |key, value, entry| {
                            pacer.pace((key.len() + value.len()) as u64);
                            let at = || format!("entry {entry}");
                            let (db, key) = decode_key(key).ok_or_else(|| {
                                SnapshotError::corrupt(&path, at(), "key shorter than its database prefix")
                            })?;
                            if u32::from(db) >= manifest.databases {
                                return Err(SnapshotError::corrupt(
                                    &path,
                                    at(),
                                    format!("database {db} out of range"),
                                ));
                            }
                            let (value, expire_at) = decode_value(value)
                                .map_err(|e| SnapshotError::corrupt(&path, at(), format!("value: {e}")))?;
                            if recompute_digest {
                                digest.add(db, key, &value, expire_at);
                            }
                            keys_decoded.fetch_add(1, Ordering::Relaxed);
                            if build {
                                chunk.push((db, key.to_vec(), value, expire_at));
                                if chunk.len() >= CHUNK_ENTRIES {
                                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ENTRIES));
                                    chunks_tx.send(full).map_err(|_| SnapshotError::Stopped)?;
                                }
                            }
                            if cancelled.load(Ordering::Relaxed) {
                                return Err(SnapshotError::Stopped);
                            }
                            Ok(())
                        });
                        let read = match read {
                            Ok(read) => read,
                            Err(e) => {
                                cancelled.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        };
                        if read != file.keys {
                            cancelled.store(true, Ordering::Relaxed);
                            return Err(SnapshotError::corrupt(
                                &path,
                                format!("entry {read}"),
                                format!("{read} entries, the manifest says {}", file.keys),
                            ));
                        }
                        if !chunk.is_empty() && chunks_tx.send(chunk).is_err() {
                            return Err(SnapshotError::Stopped);
                        }
                    }
                })
            })
            .collect();
        drop(chunks_tx);
        // This thread inserts while the workers decode.
        let mut reported = Instant::now();
        loop {
            match chunks_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(chunk) => {
                    if let Some(keyspace) = keyspace.as_mut() {
                        for (db, key, value, expire_at) in chunk {
                            if let Err(reason) = keyspace.restore_entry(usize::from(db), &key, value, expire_at) {
                                insert_error.get_or_insert(reason);
                                cancelled.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if reported.elapsed() >= Duration::from_millis(250) {
                reported = Instant::now();
                let keys = keys_decoded.load(Ordering::Relaxed);
                progress(LoadProgress {
                    keys_loaded: keys,
                    bytes_loaded: keys.saturating_mul(total_bytes) / total_keys,
                    bytes_total: total_bytes,
                });
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(SnapshotError::Config("a snapshot reader thread panicked".into())))
            })
            .collect()
    });
    let mut digest = DigestBuilder::default();
    // A real failure beats the `Stopped` of the workers it cancelled.
    let mut stopped = None;
    for outcome in outcomes {
        match outcome {
            Ok(part) => digest.merge(part),
            Err(SnapshotError::Stopped) => stopped = Some(SnapshotError::Stopped),
            Err(e) => return Err(e),
        }
    }
    if let Some(reason) = insert_error {
        return Err(verification(reason));
    }
    if let Some(stopped) = stopped {
        return Err(stopped);
    }
    let keys = keys_decoded.load(Ordering::Relaxed);
    if keys != manifest.keys {
        return Err(verification(format!(
            "{keys} keys read, the manifest says {}",
            manifest.keys
        )));
    }
    if recompute_digest {
        let computed = digest.finish();
        if computed != manifest.digest {
            return Err(verification(format!(
                "digest {} read back, the manifest says {}",
                hex(&computed),
                hex(&manifest.digest)
            )));
        }
    }
    progress(LoadProgress {
        keys_loaded: keys,
        bytes_loaded: total_bytes,
        bytes_total: total_bytes,
    });
    Ok(keyspace)
}

fn file_size(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| SnapshotError::corrupt(path, "whole file", format!("cannot stat: {e}")))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
