//! The journal's replicated state machine: the leader register, append
//! deduplication, and which log positions hold accepted appends.
//!
//! Every replica applies the same committed raft entries in the same order,
//! so every decision here (fenced or not, duplicate or not) is the same on
//! every replica. Nothing here may depend on time, randomness or
//! iteration order of a hash map.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ids::{LeaderId, WriterId};
use crate::seq::Seq;

/// How many accepted appends per writer are remembered for deduplication.
/// A writer may have at most this many appends in flight and still have
/// every retry recognised.
pub const DEDUP_WINDOW_PER_WRITER: usize = 1 << 16;
/// How many writers are remembered; the one that appended least recently is
/// forgotten first.
pub const MAX_TRACKED_WRITERS: usize = 1024;

/// A command in the raft log (the `data` of a normal entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Append {
        writer: WriterId,
        writer_seq: u64,
        leader: LeaderId,
        payload: Bytes,
    },
    SetLeader {
        new: LeaderId,
        expected: LeaderId,
    },
    Trim {
        before: Seq,
    },
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing an in-memory enum of plain fields cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// What applying a command decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The append is in the log at `seq` (a retry gets its first seq).
    Appended {
        seq: Seq,
    },
    /// The append named a leader that is no longer the register's value.
    Fenced {
        current: LeaderId,
    },
    LeaderSet,
    Conflict {
        current: LeaderId,
    },
    Trimmed {
        before: Seq,
    },
    /// A retry so old that its outcome was forgotten.
    Indeterminate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct WriterWindow {
    /// Raft index of this writer's most recent accepted append.
    last_index: u64,
    /// (writer seq, seq) of recent accepted appends, sorted by writer seq
    /// (a writer sends in writer-seq order, so this is also oldest first).
    recent: VecDeque<(u64, Seq)>,
}

/// The state every replica derives from the committed log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalState {
    /// Raft index of the last applied entry, and its term.
    pub applied: u64,
    pub applied_term: u64,
    pub leader: LeaderId,
    /// Entries below this may be deleted.
    pub trim_before: Seq,
    /// Positions of appends that were *not* accepted (fenced, or retries),
    /// at or above `trim_before`: reads skip them.
    rejected: BTreeSet<u64>,
    writers: BTreeMap<WriterId, WriterWindow>,
    pub accepted_appends: u64,
    pub fenced_appends: u64,
    /// The running log checksum through `applied` (see `log_checksum`).
    pub log_checksum: u32,
}

impl JournalState {
    /// Applies the command at raft `index` (term `term`).
    pub fn apply(&mut self, index: u64, term: u64, command: &Command) -> Outcome {
        debug_assert!(index > self.applied, "entries are applied once, in order");
        self.applied = index;
        self.applied_term = term;
        match command {
            Command::Append {
                writer,
                writer_seq,
                leader,
                payload,
            } => {
                let outcome = self.apply_append(index, *writer, *writer_seq, *leader);
                if matches!(outcome, Outcome::Appended { seq } if seq.0 == index) {
                    self.log_checksum = crate::log_checksum::chain(self.log_checksum, Seq(index), payload);
                }
                outcome
            }
            Command::SetLeader { new, expected } => {
                // Idempotent for the value already set: a client that
                // retries a set_leader whose reply it lost (a raft leader
                // change, a timeout) must learn that it won, not see a
                // Conflict with itself. Leader ids are unique per term, so
                // only the winner can hold `new`.
                if self.leader == *expected || self.leader == *new {
                    self.leader = *new;
                    Outcome::LeaderSet
                } else {
                    Outcome::Conflict { current: self.leader }
                }
            }
            Command::Trim { before } => {
                let before = (*before).min(Seq(index));
                if before > self.trim_before {
                    self.trim_before = before;
                    self.rejected = self.rejected.split_off(&before.0);
                }
                Outcome::Trimmed {
                    before: self.trim_before,
                }
            }
        }
    }

    /// Applies a raft entry that carries no command (the empty entry a new
    /// raft leader appends, or a configuration change).
    pub fn apply_noop(&mut self, index: u64, term: u64) {
        self.applied = index;
        self.applied_term = term;
    }

    fn apply_append(&mut self, index: u64, writer: WriterId, writer_seq: u64, leader: LeaderId) -> Outcome {
        // Deduplicate first: a retry of an append accepted before a leader
        // change is still a success, at its original position.
        if let Some(window) = self.writers.get(&writer) {
            if let Ok(i) = window.recent.binary_search_by_key(&writer_seq, |&(ws, _)| ws) {
                self.rejected.insert(index);
                return Outcome::Appended {
                    seq: window.recent[i].1,
                };
            }
            if window.recent.len() == DEDUP_WINDOW_PER_WRITER
                && window.recent.front().is_some_and(|(oldest, _)| writer_seq < *oldest)
            {
                self.rejected.insert(index);
                return Outcome::Indeterminate;
            }
        }
        if leader != self.leader {
            self.rejected.insert(index);
            self.fenced_appends += 1;
            return Outcome::Fenced { current: self.leader };
        }
        if !self.writers.contains_key(&writer) && self.writers.len() >= MAX_TRACKED_WRITERS {
            let stalest = self.writers.iter().min_by_key(|(_, w)| w.last_index).map(|(id, _)| *id);
            if let Some(stalest) = stalest {
                self.writers.remove(&stalest);
            }
        }
        let window = self.writers.entry(writer).or_default();
        window.last_index = index;
        if window.recent.len() == DEDUP_WINDOW_PER_WRITER {
            window.recent.pop_front();
        }
        // Usually the newest; a writer that reordered its own sends still
        // gets a sorted window.
        let at = window.recent.partition_point(|&(ws, _)| ws < writer_seq);
        window.recent.insert(at, (writer_seq, Seq(index)));
        self.accepted_appends += 1;
        Outcome::Appended { seq: Seq(index) }
    }

    /// True if the append at `index` was accepted (reads return it).
    pub fn is_accepted_append(&self, index: u64) -> bool {
        !self.rejected.contains(&index)
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<JournalState, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(writer: WriterId, writer_seq: u64, leader: LeaderId) -> Command {
        Command::Append {
            writer,
            writer_seq,
            leader,
            payload: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn fencing_dedup_and_compare_and_set() {
        let mut s = JournalState::default();
        let (a, b) = (LeaderId::random(), LeaderId::random());
        let w = WriterId::random();
        assert_eq!(
            s.apply(1, 1, &append(w, 1, a)),
            Outcome::Fenced {
                current: LeaderId::NONE
            }
        );
        assert_eq!(
            s.apply(2, 1, &Command::SetLeader { new: a, expected: b }),
            Outcome::Conflict {
                current: LeaderId::NONE
            }
        );
        assert_eq!(
            s.apply(
                3,
                1,
                &Command::SetLeader {
                    new: a,
                    expected: LeaderId::NONE
                }
            ),
            Outcome::LeaderSet
        );
        assert_eq!(s.apply(4, 1, &append(w, 2, a)), Outcome::Appended { seq: Seq(4) });
        assert!(s.is_accepted_append(4));
        assert!(!s.is_accepted_append(1));
        // A retry after a leader change still reports its first position.
        assert_eq!(
            s.apply(5, 2, &Command::SetLeader { new: b, expected: a }),
            Outcome::LeaderSet
        );
        assert_eq!(s.apply(6, 2, &append(w, 2, a)), Outcome::Appended { seq: Seq(4) });
        assert!(!s.is_accepted_append(6), "a retry is not a second copy");
        assert_eq!(s.apply(7, 2, &append(w, 3, a)), Outcome::Fenced { current: b });
        // The retry of the set that won (its reply was lost) wins again;
        // a stale expectation with another value still conflicts.
        assert_eq!(
            s.apply(8, 2, &Command::SetLeader { new: b, expected: a }),
            Outcome::LeaderSet
        );
        assert_eq!(
            s.apply(
                9,
                2,
                &Command::SetLeader {
                    new: a,
                    expected: LeaderId::NONE
                }
            ),
            Outcome::Conflict { current: b }
        );
        let round_trip = JournalState::decode(&s.encode()).unwrap();
        assert_eq!(round_trip, s);
    }

    #[test]
    fn log_checksum_chains_accepted_appends_only() {
        let mut s = JournalState::default();
        let a = LeaderId::random();
        let w = WriterId::random();
        s.apply(
            1,
            1,
            &Command::SetLeader {
                new: a,
                expected: LeaderId::NONE,
            },
        );
        assert_eq!(s.log_checksum, 0, "leader changes are not records");
        s.apply(2, 1, &append(w, 1, a));
        let after_first = crate::log_checksum::chain(0, Seq(2), b"x");
        assert_eq!(s.log_checksum, after_first);
        // Fenced, then a retry of an append already accepted: neither is
        // a record of the log.
        s.apply(3, 1, &append(w, 2, LeaderId::random()));
        s.apply(4, 1, &append(w, 1, a));
        assert_eq!(s.log_checksum, after_first);
        s.apply(5, 1, &append(w, 3, a));
        assert_eq!(s.log_checksum, crate::log_checksum::chain(after_first, Seq(5), b"x"));
    }

    #[test]
    fn trim_forgets_rejections_below_it() {
        let mut s = JournalState::default();
        let w = WriterId::random();
        s.apply(1, 1, &append(w, 1, LeaderId::random()));
        assert!(!s.is_accepted_append(1));
        s.apply(2, 1, &Command::Trim { before: Seq(2) });
        assert_eq!(s.trim_before, Seq(2));
        assert!(s.rejected.is_empty());
        // A trim past its own position is clamped to it.
        s.apply(3, 1, &Command::Trim { before: Seq(100) });
        assert_eq!(s.trim_before, Seq(3));
    }
}
