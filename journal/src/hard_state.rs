//! Raft's hard state (term, vote, commit), durable in a two-slot file.
//!
//! Each save writes the slot the previous save did not use, then fdatasyncs.
//! A torn save leaves the other slot intact, so the newest valid slot (by
//! counter, with a valid CRC) is always a state that was once durable.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};

const MAGIC: u32 = u32::from_le_bytes(*b"MJHS");
const VERSION: u16 = 1;
const SLOT_LEN: usize = std::mem::size_of::<Slot>();
pub const FILE_NAME: &str = "hardstate";

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Slot {
    magic: u32,
    version: u16,
    reserved0: u16,
    counter: u64,
    term: u64,
    vote: u64,
    commit: u64,
    reserved1: [u8; 20],
    /// CRC32C of bytes 0..60.
    crc: u32,
}

const _: () = assert!(SLOT_LEN == 64);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

pub struct HardStateFile {
    path: PathBuf,
    file: File,
    counter: u64,
}

/// The newest valid slot of a hard-state file's bytes, with its save
/// counter (`None` for a new, all-zero or empty file); an error when slots
/// are present but none is valid. Also the fuzz entry point's decoder.
pub fn decode(bytes: &[u8]) -> std::result::Result<(Option<HardState>, u64), &'static str> {
    let mut best: Option<Slot> = None;
    let mut slots_present = 0;
    for i in 0..2 {
        let Some(raw) = bytes.get(i * SLOT_LEN..(i + 1) * SLOT_LEN) else {
            continue;
        };
        if raw.iter().all(|&b| b == 0) {
            continue;
        }
        slots_present += 1;
        let slot: Slot = bytemuck::pod_read_unaligned(raw);
        let valid = slot.magic == MAGIC && slot.version == VERSION && crc32c::crc32c(&raw[..60]) == slot.crc;
        if valid && best.is_none_or(|b| slot.counter > b.counter) {
            best = Some(slot);
        }
    }
    if best.is_none() && slots_present > 0 {
        return Err("no valid raft hard state slot");
    }
    let state = best.map(|s| HardState {
        term: s.term,
        vote: s.vote,
        commit: s.commit,
    });
    Ok((state, best.map_or(0, |s| s.counter)))
}

impl HardStateFile {
    /// Opens (or creates) the file in `dir` and returns the newest valid
    /// state in it (`None` for a new file).
    pub fn open(dir: &Path) -> Result<(HardStateFile, Option<HardState>)> {
        let path = dir.join(FILE_NAME);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let mut bytes = Vec::new();
        if existed {
            bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        }
        let (state, counter) = decode(&bytes).map_err(|reason| Error::Corruption {
            path: path.clone(),
            offset: 0,
            reason: reason.into(),
        })?;
        if !existed {
            crate::log::sync_directory(dir)?;
        }
        Ok((HardStateFile { path, file, counter }, state))
    }

    /// Makes `state` durable before returning. A failure is fatal for the
    /// replica (the caller stops; the fsync is never retried).
    pub fn save(&mut self, state: HardState) -> Result<()> {
        let counter = self.counter + 1;
        let mut slot = Slot {
            magic: MAGIC,
            version: VERSION,
            reserved0: 0,
            counter,
            term: state.term,
            vote: state.vote,
            commit: state.commit,
            reserved1: [0; 20],
            crc: 0,
        };
        slot.crc = crc32c::crc32c(&bytemuck::bytes_of(&slot)[..60]);
        let offset = (counter % 2) * SLOT_LEN as u64;
        self.file
            .write_all_at(bytemuck::bytes_of(&slot), offset)
            .map_err(|e| Error::io("writing", &self.path, e))?;
        self.file.sync_data().map_err(|e| Error::io("syncing", &self.path, e))?;
        self.counter = counter;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_bytes_finds_the_newest_slot_or_refuses_garbage() {
        // The checked-in fuzz seed: slot 0 holds counter 3, slot 1 counter 2.
        let seed = include_bytes!("../../fuzz/corpus/checkpoint_decode/seed-hard-state");
        let newest = HardState {
            term: 3,
            vote: 2,
            commit: 30,
        };
        assert_eq!(decode(seed), Ok((Some(newest), 3)));
        let mut torn = seed.to_vec();
        torn[20] ^= 1;
        assert_eq!(decode(&torn).map(|(state, _)| state.map(|s| s.term)), Ok(Some(2)));
        assert_eq!(decode(&[]), Ok((None, 0)));
        assert_eq!(decode(&[0; 128]), Ok((None, 0)));
        assert!(decode(&[7; 100]).is_err());
        // A short file: its partial slot is ignored, as a new file's.
        assert_eq!(decode(&seed[..63]), Ok((None, 0)));
    }

    #[test]
    fn newest_valid_slot_wins_and_a_torn_slot_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, state) = HardStateFile::open(dir.path()).unwrap();
        assert_eq!(state, None);
        let a = HardState {
            term: 1,
            vote: 2,
            commit: 3,
        };
        let b = HardState {
            term: 4,
            vote: 5,
            commit: 6,
        };
        f.save(a).unwrap();
        f.save(b).unwrap();
        drop(f);
        let (_, state) = HardStateFile::open(dir.path()).unwrap();
        assert_eq!(state, Some(b));
        // Tear the newest slot (counter 2 lives in slot 0).
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (mut f, state) = HardStateFile::open(dir.path()).unwrap();
        assert_eq!(state, Some(a));
        // And the next save goes on from the surviving counter.
        f.save(b).unwrap();
        let (_, state) = HardStateFile::open(dir.path()).unwrap();
        assert_eq!(state, Some(b));
    }
}
