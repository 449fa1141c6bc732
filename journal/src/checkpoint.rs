//! A durable copy of the journal's state machine at some applied index.
//!
//! Restart = load the checkpoint, then replay committed log entries after
//! it. The log is only ever trimmed below a checkpoint's applied index, so
//! the entries to replay are always there. Written with a durable rename:
//! a reader sees the old checkpoint or the new one.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::segment::write_file_durably;
use crate::state::JournalState;

const MAGIC: &[u8; 4] = b"MJCK";
/// 2: the state carries the running log checksum.
const VERSION: u16 = 2;
const HEADER_LEN: usize = 20;
pub const FILE_NAME: &str = "state.ckpt";

/// Header: magic (4) | version u16 | reserved u16 | body length u64 | body CRC32C u32,
/// then the postcard-encoded [`JournalState`].
pub fn save(dir: &Path, state: &JournalState) -> Result<()> {
    let body = state.encode();
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    write_file_durably(dir, FILE_NAME, &bytes)
}

/// The saved state, or `None` if there is no checkpoint yet.
pub fn load(dir: &Path) -> Result<Option<JournalState>> {
    let path = dir.join(FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", &path, e)),
    };
    decode(&bytes).map(Some).map_err(|(offset, reason)| Error::Corruption {
        path: path.clone(),
        offset,
        reason,
    })
}

/// Decodes a checkpoint file's bytes (also the fuzz entry point).
pub fn decode(bytes: &[u8]) -> std::result::Result<JournalState, (u64, String)> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err((0, "not a journal checkpoint".into()));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err((4, format!("unsupported checkpoint version {version}")));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[8..16]);
    let len = u64::from_le_bytes(len);
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != len {
        return Err((8, format!("body is {} bytes, header says {len}", body.len())));
    }
    let crc = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    if crc32c::crc32c(body) != crc {
        return Err((16, "checksum mismatch".into()));
    }
    JournalState::decode(body).map_err(|e| (HEADER_LEN as u64, format!("undecodable state: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let mut state = JournalState::default();
        state.apply_noop(42, 3);
        save(dir.path(), &state).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(state));
        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Corruption { .. })));
    }
}
