//! raft-rs's `Storage`, backed by the segment store.
//!
//! Raft index = log `Seq`. Each raft entry is stored as one log entry:
//! `term: u64 LE | kind: u8 | data` (see docs/format.md, "Raft entries").
//! The first entry of a log that does not start at 1 is the *base*: raft
//! treats it as compacted and knows only its term, which it needs to match
//! the entry that follows. After a snapshot install the base is a marker
//! entry (kind `BASE`) that carries only the snapshot's term.

use std::sync::{Arc, RwLock};

use bytes::{BufMut, Bytes, BytesMut};
use raft::prelude::{ConfState, Entry, EntryType, HardState as RaftHardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use crate::error::{Error, Result};
use crate::hard_state::{HardState, HardStateFile};
use crate::log::Log;
use crate::raft_fetch::EntryFetcher;
use crate::seq::Seq;
use crate::state::JournalState;

pub const ENTRY_HEADER_LEN: usize = 9;
pub(crate) const KIND_NORMAL: u8 = 0;
const KIND_CONF_CHANGE: u8 = 1;
const KIND_CONF_CHANGE_V2: u8 = 2;
/// Placeholder at the base of a log restarted from a snapshot.
pub const KIND_BASE: u8 = 255;

pub fn encode_entry(term: u64, kind: u8, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(ENTRY_HEADER_LEN + data.len());
    out.put_u64_le(term);
    out.put_u8(kind);
    out.put_slice(data);
    out.freeze()
}

fn encode_raft_entry(entry: &Entry) -> Bytes {
    let kind = match entry.get_entry_type() {
        EntryType::EntryNormal => KIND_NORMAL,
        EntryType::EntryConfChange => KIND_CONF_CHANGE,
        EntryType::EntryConfChangeV2 => KIND_CONF_CHANGE_V2,
    };
    encode_entry(entry.term, kind, &entry.data)
}

/// A stored entry's header fields and data.
pub struct StoredEntry {
    pub term: u64,
    pub kind: u8,
    pub data: Bytes,
}

pub fn decode_entry(bytes: &Bytes) -> std::result::Result<StoredEntry, String> {
    if bytes.len() < ENTRY_HEADER_LEN {
        return Err(format!(
            "raft entry of {} bytes is shorter than its header",
            bytes.len()
        ));
    }
    let mut term = [0u8; 8];
    term.copy_from_slice(&bytes[..8]);
    Ok(StoredEntry {
        term: u64::from_le_bytes(term),
        kind: bytes[8],
        data: bytes.slice(ENTRY_HEADER_LEN..),
    })
}

fn to_raft_entry(index: u64, stored: StoredEntry) -> Entry {
    let mut entry = Entry {
        index,
        term: stored.term,
        data: stored.data,
        ..Entry::default()
    };
    entry.set_entry_type(match stored.kind {
        KIND_CONF_CHANGE => EntryType::EntryConfChange,
        KIND_CONF_CHANGE_V2 => EntryType::EntryConfChangeV2,
        _ => EntryType::EntryNormal,
    });
    entry
}

fn store_error(e: impl std::fmt::Display) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(std::io::Error::other(e.to_string()))))
}

/// Reads durable entries `[low, end)` from the segment store, at most about
/// `max_size` bytes (always at least one entry).
pub(crate) fn read_durable(log: &Log, low: u64, end: u64, max_size: u64) -> raft::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut size = 0u64;
    let mut next = low;
    while next < end {
        let chunk = log
            .read(Seq(next), max_size.min(16 << 20) as usize)
            .map_err(store_error)?;
        if chunk.is_empty() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        for stored in chunk {
            if stored.seq.0 >= end {
                break;
            }
            let entry_size = stored.data.len() as u64;
            if !out.is_empty() && size + entry_size > max_size {
                return Ok(out);
            }
            size += entry_size;
            let decoded = decode_entry(&stored.data).map_err(store_error)?;
            out.push(to_raft_entry(stored.seq.0, decoded));
            next = stored.seq.0 + 1;
        }
    }
    Ok(out)
}

/// Terms of a range of indexes, as runs: `(first index, term)`, ascending.
#[derive(Debug, Default)]
struct TermRuns(Vec<(u64, u64)>);

impl TermRuns {
    fn push(&mut self, index: u64, term: u64) {
        if self.0.last().is_none_or(|&(_, t)| t != term) {
            self.0.push((index, term));
        }
    }

    fn term(&self, index: u64) -> Option<u64> {
        let i = self.0.partition_point(|&(start, _)| start <= index);
        i.checked_sub(1).map(|i| self.0[i].1)
    }

    /// Forgets every index from `index` on.
    fn truncate_from(&mut self, index: u64) {
        let keep = self.0.partition_point(|&(start, _)| start < index);
        self.0.truncate(keep);
    }
}

pub struct RaftStorage {
    log: Arc<Log>,
    hard_state: RaftHardState,
    hard_state_file: HardStateFile,
    persisted: HardState,
    conf_state: ConfState,
    /// (index, term) of the entry before raft's first index.
    base: (u64, u64),
    last: u64,
    terms: TermRuns,
    /// Entries handed to the segment store but maybe not durable yet:
    /// `unpersisted[0]` has raft index `unpersisted_from`, and the rest
    /// follow up to `last`. raft-rs reads them back from storage as soon as
    /// they are submitted (durability is tracked apart), and the segment
    /// store serves only durable entries, so they are served from here.
    unpersisted: std::collections::VecDeque<Entry>,
    unpersisted_from: u64,
    /// Highest index known durable, and highest applied: cached entries are
    /// dropped only once both (applying reads them back, and with direct
    /// I/O the page cache no longer holds them).
    durable_to: u64,
    applied_to: u64,
    state: Arc<RwLock<JournalState>>,
    /// Reads a lagging follower's entries off the raft thread (once the
    /// raft driver, which takes its announcements, has started it).
    fetcher: Option<EntryFetcher>,
}

impl RaftStorage {
    /// Builds the storage over an opened log. `checkpoint` is the state the
    /// state machine starts from; a log that ends before it (a crash between
    /// a snapshot install's checkpoint and its log reset, or a log moved
    /// aside after corruption) is restarted at the checkpoint.
    pub fn open(
        log: Arc<Log>,
        hard_state_file: HardStateFile,
        persisted: Option<HardState>,
        voters: Vec<u64>,
        state: Arc<RwLock<JournalState>>,
    ) -> Result<RaftStorage> {
        let (applied, applied_term) = {
            let s = state.read().unwrap_or_else(|e| e.into_inner());
            (s.applied, s.applied_term)
        };
        if applied > 0 && log.next_seq().0 <= applied {
            tracing::warn!(
                log_next = %log.next_seq(),
                applied,
                "journal log ends before the state checkpoint; restarting it at the checkpoint"
            );
            log.reset(Seq(applied)).wait()?;
            log.append_one(encode_entry(applied_term, KIND_BASE, &[])).wait()?;
        }
        let mut terms = TermRuns::default();
        let first = log.first_seq();
        let mut base = (0, 0);
        let mut last = first.0.saturating_sub(1);
        let mut from = first;
        loop {
            let chunk = log.read(from, 8 << 20)?;
            let Some(tail) = chunk.last() else { break };
            from = tail.seq.next();
            for entry in chunk {
                let stored = decode_entry(&entry.data).map_err(|reason| Error::Corruption {
                    path: log.dir().to_path_buf(),
                    offset: 0,
                    reason: format!("raft entry {}: {reason}", entry.seq),
                })?;
                if entry.seq == first && (first.0 > 1 || stored.kind == KIND_BASE) {
                    base = (first.0, stored.term);
                }
                terms.push(entry.seq.0, stored.term);
                last = entry.seq.0;
            }
        }
        if last < first.0 && first.0 > 1 {
            return Err(Error::InvalidArgument(format!(
                "journal log is empty at seq {first} and no checkpoint covers it"
            )));
        }
        let persisted = persisted.unwrap_or(HardState {
            term: 1,
            vote: 0,
            commit: 0,
        });
        let hard_state = RaftHardState {
            term: persisted.term,
            vote: persisted.vote,
            // Commit is persisted lazily; everything the checkpoint applied
            // was committed, and nothing past the log's end can be.
            commit: persisted.commit.max(applied).min(last),
            ..RaftHardState::default()
        };
        let conf_state = ConfState {
            voters,
            ..ConfState::default()
        };
        Ok(RaftStorage {
            log,
            hard_state,
            hard_state_file,
            persisted,
            conf_state,
            base,
            last,
            terms,
            unpersisted: std::collections::VecDeque::new(),
            unpersisted_from: last + 1,
            durable_to: last,
            applied_to: applied,
            state,
            fetcher: None,
        })
    }

    /// From now on, `entries` for a follower whose entries are only on disk
    /// answers `LogTemporarilyUnavailable` and has them read on another
    /// thread, which announces each finished read on the returned receiver.
    pub(crate) fn fetch_off_thread(&mut self, name: String) -> Result<crossbeam_channel::Receiver<GetEntriesContext>> {
        let (fetcher, announced) = EntryFetcher::start(Arc::clone(&self.log), name)?;
        self.fetcher = Some(fetcher);
        Ok(announced)
    }

    /// Entries the fetch thread read from `low`, still the log's own: each
    /// below `end` with the term the log has at its index (a truncation
    /// since the read would show as a different term, raft's log matching).
    fn still_in_log(&self, mut fetched: Vec<Entry>, end: u64) -> Vec<Entry> {
        let keep = fetched
            .iter()
            .take_while(|e| e.index < end && self.terms.term(e.index) == Some(e.term))
            .count();
        fetched.truncate(keep);
        fetched
    }

    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Queues entries from a Ready (overwriting a conflicting suffix) and
    /// returns at once; `done` runs once they are durable, with an error if
    /// they are not or if they did not land at their raft index. Raft keeps
    /// them in its unstable log until then, so the view here (last index,
    /// terms) may run ahead of what is durable.
    pub fn append_async(&mut self, entries: &[Entry], done: impl FnOnce(Result<()>) + Send + 'static) -> Result<()> {
        let Some(first) = entries.first() else {
            done(Ok(()));
            return Ok(());
        };
        let first_index = first.index;
        if first_index <= self.base.0 || first_index > self.last + 1 {
            return Err(Error::InvalidArgument(format!(
                "raft entries start at {first_index}; the log holds {}..={}",
                self.base.0, self.last
            )));
        }
        if first_index <= self.last {
            self.log.truncate_after_queued(Seq(first_index - 1));
            self.terms.truncate_from(first_index);
        }
        // The cache covers everything from the first index not yet both
        // durable and applied; an overwrite cuts it (or restarts it) at
        // `first_index`.
        self.durable_to = self.durable_to.min(first_index - 1);
        if first_index < self.unpersisted_from {
            self.unpersisted.clear();
            self.unpersisted_from = first_index;
        } else {
            self.unpersisted
                .truncate((first_index - self.unpersisted_from) as usize);
        }
        self.unpersisted.extend(entries.iter().cloned());
        let encoded: Vec<Bytes> = entries.iter().map(encode_raft_entry).collect();
        for entry in entries {
            self.terms.push(entry.index, entry.term);
        }
        self.last = entries.last().map_or(self.last, |e| e.index);
        self.log.append_then(encoded, move |result| {
            done(match result {
                Ok(appended) if appended.first == Seq(first_index) => Ok(()),
                Ok(appended) => Err(Error::InvalidArgument(format!(
                    "log gave seq {} to raft index {first_index}",
                    appended.first
                ))),
                Err(e) => Err(e),
            })
        });
        Ok(())
    }

    /// Entries up to `index` are durable (and readable from the segment
    /// store): drop them from the in-flight cache.
    pub fn mark_durable(&mut self, index: u64) {
        self.durable_to = self.durable_to.max(index);
        self.release_cache();
    }

    /// Entries up to `index` are applied.
    pub fn mark_applied(&mut self, index: u64) {
        self.applied_to = self.applied_to.max(index);
        self.release_cache();
    }

    fn release_cache(&mut self) {
        let upto = self.durable_to.min(self.applied_to);
        while self.unpersisted_from <= upto && !self.unpersisted.is_empty() {
            self.unpersisted.pop_front();
            self.unpersisted_from += 1;
        }
    }

    /// Takes a new hard state; makes it durable now if the term or vote
    /// changed (a vote must be on disk before it is sent). The commit index
    /// alone is kept in memory and saved with the next change.
    pub fn set_hard_state(&mut self, hs: &RaftHardState) -> Result<()> {
        self.hard_state = hs.clone();
        if hs.term != self.persisted.term || hs.vote != self.persisted.vote {
            let state = HardState {
                term: hs.term,
                vote: hs.vote,
                commit: hs.commit,
            };
            self.hard_state_file.save(state)?;
            self.persisted = state;
        }
        Ok(())
    }

    pub fn set_commit(&mut self, commit: u64) {
        self.hard_state.commit = commit;
    }

    /// Installs a snapshot: the log restarts at its index with a base marker.
    /// The caller has already made the snapshot's state the checkpoint.
    pub fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<()> {
        let meta = snapshot.get_metadata();
        self.log.reset(Seq(meta.index)).wait()?;
        self.log.append_one(encode_entry(meta.term, KIND_BASE, &[])).wait()?;
        self.base = (meta.index, meta.term);
        self.last = meta.index;
        self.unpersisted.clear();
        self.unpersisted_from = meta.index + 1;
        self.durable_to = meta.index;
        self.applied_to = meta.index;
        self.terms = TermRuns::default();
        self.terms.push(meta.index, meta.term);
        let mut hs = self.hard_state.clone();
        hs.term = hs.term.max(meta.term);
        hs.commit = meta.index;
        self.set_hard_state(&hs)?;
        if meta.has_conf_state() {
            self.conf_state = meta.get_conf_state().clone();
        }
        Ok(())
    }

    /// Deletes whole segments below `before`; raft's first index moves past
    /// the first entry that remains.
    pub fn compact(&mut self, before: Seq) -> Result<()> {
        self.log.trim(before).wait()?;
        let first = self.log.first_seq().0;
        if first > self.base.0 && first > 1 {
            if let Some(term) = self.terms.term(first) {
                self.base = (first, term);
            }
        }
        Ok(())
    }
}

impl Storage for RaftStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.base.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let durable_end = high.min(self.unpersisted_from);
        let mut out = Vec::new();
        if low < durable_end {
            // Only on disk, and raft can wait: read on the fetch thread.
            let off_thread = self
                .fetcher
                .as_ref()
                .filter(|_| context.can_async() && !self.log.in_memory(Seq(low)));
            if let Some(fetcher) = off_thread {
                match fetcher.take(low) {
                    Some(Ok(fetched)) => {
                        let fetched = self.still_in_log(fetched, durable_end);
                        if !fetched.is_empty() {
                            return Ok(fetched);
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => {}
                }
                if fetcher.request(low, durable_end, max_size, context) {
                    return Err(raft::Error::Store(StorageError::LogTemporarilyUnavailable));
                }
            }
            out = read_durable(&self.log, low, durable_end, max_size)?;
        }
        let mut size: u64 = out.iter().map(|e| e.data.len() as u64).sum();
        let mut next = out.last().map_or(low, |e| e.index + 1);
        if next < durable_end {
            // `read_durable` stopped at `max_size`.
            return Ok(out);
        }
        while next < high {
            let Some(entry) = self.unpersisted.get((next - self.unpersisted_from) as usize) else {
                return Err(raft::Error::Store(StorageError::Unavailable));
            };
            let entry_size = entry.data.len() as u64;
            if !out.is_empty() && size + entry_size > max_size {
                return Ok(out);
            }
            size += entry_size;
            out.push(entry.clone());
            next += 1;
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.base.0 {
            return Ok(self.base.1);
        }
        if idx < self.base.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        self.terms
            .term(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.base.0 + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if state.applied < request_index || state.applied < self.base.0 {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        let mut snapshot = Snapshot {
            data: Bytes::from(state.encode()),
            ..Snapshot::default()
        };
        let meta = snapshot.mut_metadata();
        meta.index = state.applied;
        meta.term = state.applied_term;
        meta.set_conf_state(self.conf_state.clone());
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogOptions;
    use crate::IoMode;

    /// 100 entries of 64 KiB, durable and applied: the oldest are then only
    /// on disk (the log keeps its newest 4 MiB in memory).
    fn storage_with_entries(dir: &std::path::Path) -> RaftStorage {
        let options = LogOptions {
            io: IoMode::Sync,
            segment_size_bytes: 1 << 20,
            ..LogOptions::default()
        };
        let log = Arc::new(Log::open(dir.join("log"), options).unwrap());
        let (hs_file, hs) = HardStateFile::open(dir).unwrap();
        let state = Arc::new(RwLock::new(JournalState::default()));
        let mut storage = RaftStorage::open(log, hs_file, hs, vec![1, 2, 3], state).unwrap();
        let first = storage.last + 1;
        let entries: Vec<Entry> = (first..first + 100)
            .map(|index| Entry {
                index,
                term: 1,
                data: noise(index).into(),
                ..Entry::default()
            })
            .collect();
        for entry in entries {
            append(&mut storage, entry);
        }
        storage
    }

    fn noise(seed: u64) -> Vec<u8> {
        crate::test_data::incompressible(seed, 64 * 1024)
    }

    /// Appends one entry as its own batch and marks it durable and applied.
    fn append(storage: &mut RaftStorage, entry: Entry) {
        let index = entry.index;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        storage
            .append_async(&[entry], move |result| {
                let _ = done_tx.send(result);
            })
            .unwrap();
        done_rx.recv().unwrap().unwrap();
        storage.mark_durable(index);
        storage.mark_applied(index);
    }

    #[test]
    fn entries_only_on_disk_are_read_off_the_raft_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = storage_with_entries(dir.path());
        let announced = storage.fetch_off_thread("raft-fetch-test".into()).unwrap();
        let first = storage.base.0 + 1;
        let end = storage.last + 1;
        assert!(
            !storage.log.in_memory(Seq(first)),
            "the oldest entries are on disk only"
        );

        let deferred = storage.entries(first, end, 1 << 20, GetEntriesContext::empty(true));
        assert!(
            matches!(
                deferred,
                Err(raft::Error::Store(StorageError::LogTemporarilyUnavailable))
            ),
            "{deferred:?}"
        );
        let context = announced
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the fetch thread announces its read");
        assert!(context.can_async());
        let fetched = storage
            .entries(first, end, 1 << 20, GetEntriesContext::empty(true))
            .unwrap();
        assert!(
            !fetched.is_empty() && fetched.len() <= 17,
            "about max_size: {}",
            fetched.len()
        );
        for (i, entry) in fetched.iter().enumerate() {
            assert_eq!(entry.index, first + i as u64);
            assert_eq!(entry.term, 1);
            assert_eq!(entry.data[..], noise(entry.index)[..]);
        }

        // A caller that cannot wait reads at once, the same entries.
        let direct = storage
            .entries(first, end, 1 << 20, GetEntriesContext::empty(false))
            .unwrap();
        assert_eq!(direct, fetched);
        // The newest entries are in memory: no detour.
        let newest = storage
            .entries(end - 1, end, 1 << 20, GetEntriesContext::empty(true))
            .unwrap();
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0].index, end - 1);
    }

    #[test]
    fn a_fetched_read_is_not_served_after_the_log_changed_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = storage_with_entries(dir.path());
        let announced = storage.fetch_off_thread("raft-fetch-test".into()).unwrap();
        let first = storage.base.0 + 1;
        let end = storage.last + 1;
        let _ = storage.entries(first, end, 1 << 20, GetEntriesContext::empty(true));
        announced.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        // A new leader overwrote the log from `first + 5` (another term).
        append(
            &mut storage,
            Entry {
                index: first + 5,
                term: 2,
                data: vec![7u8; 10].into(),
                ..Entry::default()
            },
        );
        assert!(!storage.log.in_memory(Seq(first)));
        let entries = storage
            .entries(first, first + 6, 1 << 20, GetEntriesContext::empty(true))
            .unwrap();
        let read: Vec<(u64, u64)> = entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(
            read,
            (first..first + 5).map(|i| (i, 1)).collect::<Vec<_>>(),
            "stops before the overwritten entry"
        );
        // The overwritten entry itself is read afresh.
        let rest = storage
            .entries(first + 5, first + 6, 1 << 20, GetEntriesContext::empty(true))
            .unwrap();
        assert_eq!(
            rest.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(),
            vec![(first + 5, 2)]
        );
    }
}
