//! Byte layouts of a snapshot (docs/format.md, "Snapshots"): the SST key
//! encoding, the manifest, and the running log checksum.
//!
//! SST keys are `db u16 BE ‖ key bytes`, so RocksDB's bytewise order sorts
//! a snapshot by database, then key; SST values are
//! [`memoir_engine::keyspace::serial`] encodings (type, encoding-free
//! elements and absolute expiry).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SnapshotError};

/// A manifest starts with these bytes.
pub const MANIFEST_MAGIC: [u8; 4] = *b"MSNP";
/// Version of the manifest layout and of the SST key/value encodings.
pub const SNAPSHOT_FORMAT_VERSION: u16 = 1;
/// The file that makes a snapshot directory a snapshot.
pub const MANIFEST_NAME: &str = "MANIFEST";
/// magic 4 + version 2 + body length 4.
const MANIFEST_HEADER_LEN: usize = 10;
/// Bound on a manifest body: thousands of files fit in far less.
const MANIFEST_MAX_BODY: usize = 16 << 20;

/// What a snapshot is: written last, so a snapshot without a valid one
/// does not exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// A fresh uuid per snapshot.
    pub id: String,
    /// The last log record the data set reflects.
    pub seq: u64,
    /// Running checksum of the log records 1..=seq ([`chain_record`]).
    pub log_checksum: u32,
    /// Dataset digest, as `DEBUG DIGEST` reports it, at `seq`.
    pub digest: [u8; 20],
    /// The engine's record format version the log was applied with.
    pub engine_format: u16,
    pub databases: u32,
    pub keys: u64,
    pub created_unix_ms: i64,
    pub files: Vec<FileEntry>,
}

/// One SST file of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    /// CRC-32C of the whole file.
    pub crc32c: u32,
    pub keys: u64,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// `magic ‖ version u16 LE ‖ body_len u32 LE ‖ postcard body ‖ crc32c u32 LE`
    /// (the CRC covers everything before it).
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain owned data into a Vec cannot fail.
        let body = postcard::to_stdvec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(MANIFEST_HEADER_LEN + body.len() + 4);
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a manifest read from `path` (named in errors).
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let corrupt = |at: usize, reason: String| SnapshotError::Corrupt {
            path: path.to_path_buf(),
            at: format!("offset {at}"),
            reason,
        };
        if bytes.len() < MANIFEST_HEADER_LEN + 4 {
            return Err(corrupt(
                bytes.len(),
                format!("truncated manifest ({} bytes)", bytes.len()),
            ));
        }
        if bytes[..4] != MANIFEST_MAGIC {
            return Err(corrupt(0, "not a manifest (bad magic)".into()));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(corrupt(4, format!("unsupported snapshot format version {version}")));
        }
        let body_len = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
        if body_len > MANIFEST_MAX_BODY {
            return Err(corrupt(6, format!("manifest body of {body_len} bytes is implausible")));
        }
        let end = MANIFEST_HEADER_LEN + body_len;
        if bytes.len() != end + 4 {
            return Err(corrupt(
                bytes.len().min(end),
                format!("manifest is {} bytes, its header says {}", bytes.len(), end + 4),
            ));
        }
        let stored = u32::from_le_bytes([bytes[end], bytes[end + 1], bytes[end + 2], bytes[end + 3]]);
        let actual = crc32c::crc32c(&bytes[..end]);
        if stored != actual {
            return Err(corrupt(
                end,
                format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
            ));
        }
        let manifest: Manifest = postcard::from_bytes(&bytes[MANIFEST_HEADER_LEN..end])
            .map_err(|e| corrupt(MANIFEST_HEADER_LEN, format!("manifest body: {e}")))?;
        for file in &manifest.files {
            if !is_plain_file_name(&file.name) {
                return Err(corrupt(
                    MANIFEST_HEADER_LEN,
                    format!("file name {:?} is not allowed", file.name),
                ));
            }
        }
        Ok(manifest)
    }
}

/// A manifest may only name files inside its own directory.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != MANIFEST_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.')
}

/// The SST key of `key` in database `db`.
pub fn encode_key(db: u16, key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&db.to_be_bytes());
    out.extend_from_slice(key);
}

/// Splits an SST key into database and key; `None` if too short.
pub fn decode_key(encoded: &[u8]) -> Option<(u16, &[u8])> {
    let (db, key) = encoded.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*db), key))
}

/// The running log checksum after record `seq` with `payload`, given the
/// checksum through the record before it (0 before the first record).
/// The journal keeps the same checksum (`memoir_journal::log_checksum`)
/// and hands it out with reads, so the two can be compared.
pub fn chain_record(previous: u32, seq: u64, payload: &[u8]) -> u32 {
    memoir_journal::log_checksum::chain(previous, memoir_journal::Seq(seq), payload)
}

/// Decodes a manifest from outside bytes (fuzzing): errors, never panics.
/// The bytes are tried as a whole file, then as a body behind a valid
/// header and checksum, so the fuzzer reaches the body decoder without
/// having to forge a CRC.
pub fn fuzz_manifest(data: &[u8]) {
    let mut sealed = Vec::with_capacity(MANIFEST_HEADER_LEN + data.len() + 4);
    sealed.extend_from_slice(&MANIFEST_MAGIC);
    sealed.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    sealed.extend_from_slice(&(data.len() as u32).to_le_bytes());
    sealed.extend_from_slice(data);
    let crc = crc32c::crc32c(&sealed);
    sealed.extend_from_slice(&crc.to_le_bytes());
    for file in [data, sealed.as_slice()] {
        if let Ok(manifest) = Manifest::decode(file, Path::new("fuzz")) {
            let again = Manifest::decode(&manifest.encode(), Path::new("fuzz"));
            assert_eq!(
                again.ok().as_ref(),
                Some(&manifest),
                "a decoded manifest re-encodes to itself"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            id: "00000000-0000-0000-0000-000000000001".into(),
            seq: 42,
            log_checksum: 7,
            digest: [3; 20],
            engine_format: 1,
            databases: 16,
            keys: 10,
            created_unix_ms: 1_700_000_000_000,
            files: vec![FileEntry {
                name: "part-000.sst".into(),
                size: 100,
                crc32c: 9,
                keys: 10,
            }],
        }
    }

    #[test]
    fn manifest_round_trips_and_detects_every_flipped_bit() {
        let manifest = sample();
        let bytes = manifest.encode();
        assert_eq!(Manifest::decode(&bytes, Path::new("m")).ok(), Some(manifest));
        for byte in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[byte] ^= 1 << bit;
                assert!(
                    Manifest::decode(&damaged, Path::new("m")).is_err(),
                    "flip at {byte}:{bit}"
                );
            }
        }
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..cut], Path::new("m")).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn manifest_cannot_name_files_outside_its_directory() {
        let mut manifest = sample();
        manifest.files[0].name = "../../etc/passwd".into();
        let error = Manifest::decode(&manifest.encode(), Path::new("m"))
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("not allowed")));
    }

    #[test]
    fn keys_sort_by_database_then_key() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        encode_key(1, b"zzz", &mut a);
        encode_key(2, b"a", &mut b);
        assert!(a < b);
        assert_eq!(decode_key(&a), Some((1, &b"zzz"[..])));
        assert_eq!(decode_key(&[1]), None);
    }

    #[test]
    fn chain_depends_on_order_and_content() {
        let ab = chain_record(chain_record(0, 1, b"a"), 2, b"b");
        let ba = chain_record(chain_record(0, 1, b"b"), 2, b"a");
        assert_ne!(ab, ba);
        assert_ne!(chain_record(0, 1, b"a"), chain_record(0, 2, b"a"));
    }
}
