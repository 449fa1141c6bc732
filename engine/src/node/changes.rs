//! Changes since the newest snapshot: INFO's `rdb_changes_since_last_save`.
//!
//! Redis counts the writes since its last RDB save. A Memoir node does not
//! take its snapshots; the snapshot service does, at a journal seq the node
//! learns only from the store. So the node counts write effects as they
//! become part of its dataset (committed on the primary, applied on a
//! replica) and keeps marks of `(seq, changes so far)`: the changes since a
//! snapshot at `seq` are those after the newest mark at or below it.
//!
//! The marks are bounded ([`MAX_MARKS`]). When they fill up, every other
//! mark of the older half goes: recent seqs keep their resolution, older
//! ones get coarser. A seq between two marks is answered from the mark
//! before it, so the figure errs only upward (it may count a few changes
//! the snapshot already holds), never hides changes the snapshot lacks.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Bound on the marks kept: 16 bytes each.
pub(crate) const MAX_MARKS: usize = 4096;

#[derive(Default)]
struct History {
    /// Write effects counted since the dataset was last replaced.
    total: u64,
    /// `(seq, total after the records through seq)`, seqs increasing.
    marks: VecDeque<(u64, u64)>,
}

impl History {
    fn thin_older_half(&mut self) {
        let older = self.marks.len() / 2;
        let mut index = 0;
        // Keeps the oldest mark (the floor every older seq is answered
        // from) and every other one after it.
        self.marks.retain(|_| {
            let keep = index >= older || index % 2 == 0;
            index += 1;
            keep
        });
    }
}

/// Shared by the execution thread (replica applies, dataset replaced), the
/// committer (primary commits) and INFO.
#[derive(Default)]
pub(crate) struct ChangeHistory {
    inner: Mutex<History>,
}

impl ChangeHistory {
    /// The records through `seq` added `changes` write effects.
    pub fn add(&self, seq: u64, changes: u64) {
        if changes == 0 {
            return;
        }
        let Ok(mut history) = self.inner.lock() else {
            return;
        };
        history.total = history.total.saturating_add(changes);
        let total = history.total;
        match history.marks.back_mut() {
            // Several commits can report the same seq (merged appends).
            Some(last) if last.0 >= seq => last.1 = total,
            _ => {
                if history.marks.len() >= MAX_MARKS {
                    history.thin_older_half();
                }
                history.marks.push_back((seq, total));
            }
        }
    }

    /// The dataset was replaced by one that reflects the log through
    /// `seq` (a snapshot loaded, or emptied with `seq` 0): no changes yet,
    /// as Redis's counter after loading an RDB.
    pub fn reset(&self, seq: u64) {
        if let Ok(mut history) = self.inner.lock() {
            history.total = 0;
            history.marks.clear();
            history.marks.push_back((seq, 0));
        }
    }

    /// Write effects after `seq` (`None`: no snapshot, so every change
    /// since the dataset was last replaced). Drops the marks below the one
    /// that answers, as snapshots only move forward.
    pub fn since(&self, seq: Option<u64>) -> u64 {
        let Ok(mut history) = self.inner.lock() else {
            return 0;
        };
        let total = history.total;
        let Some(seq) = seq else {
            return total;
        };
        let at_or_below = history.marks.partition_point(|&(mark, _)| mark <= seq);
        match at_or_below.checked_sub(1) {
            Some(index) => {
                history.marks.drain(..index);
                let covered = history.marks.front().map_or(0, |&(_, covered)| covered);
                total.saturating_sub(covered)
            }
            // Older than every mark: count everything known.
            None => total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_the_changes_after_a_snapshot_seq() {
        let history = ChangeHistory::default();
        history.reset(10);
        history.add(11, 3);
        history.add(12, 0);
        history.add(14, 2);
        assert_eq!(history.since(None), 5);
        assert_eq!(history.since(Some(10)), 5);
        assert_eq!(history.since(Some(11)), 2);
        assert_eq!(history.since(Some(13)), 2);
        assert_eq!(history.since(Some(14)), 0);
        assert_eq!(history.since(Some(99)), 0);
        // The marks below 14 are gone: an older seq now counts everything.
        assert_eq!(history.since(Some(11)), 5);
    }

    #[test]
    fn a_replaced_dataset_starts_from_zero() {
        let history = ChangeHistory::default();
        history.add(5, 7);
        history.reset(0);
        assert_eq!(history.since(None), 0);
        assert_eq!(history.since(Some(3)), 0);
    }

    proptest! {
        /// Against a model that keeps every record: exact while the marks
        /// fit, never below the truth once they are thinned, and exact
        /// again at any seq that still has its mark (the newest ones).
        #[test]
        fn never_counts_fewer_changes_than_happened(
            records in prop::collection::vec((1u64..4, 0u64..5), 1..(3 * MAX_MARKS)),
            probes in prop::collection::vec(0usize..100, 1..8),
        ) {
            // Two histories of the same records: `since` prunes marks, so
            // each check below gets one that no other check has pruned.
            let (history, exact) = (ChangeHistory::default(), ChangeHistory::default());
            let mut model = Vec::new();
            let mut seq = 0;
            for (gap, changes) in records {
                seq += gap;
                history.add(seq, changes);
                exact.add(seq, changes);
                model.push((seq, changes));
            }
            let truth = |after: u64| model.iter().filter(|&&(s, _)| s > after).map(|&(_, c)| c).sum::<u64>();
            prop_assert_eq!(history.since(None), truth(0));
            // The newest marks survive thinning: the seq of the last change
            // but one is answered exactly.
            let changed: Vec<u64> = model.iter().filter(|&&(_, c)| c > 0).map(|&(s, _)| s).collect();
            if let [.., previous, _] = changed[..] {
                prop_assert_eq!(exact.since(Some(previous)), truth(previous));
            }
            let mut probes: Vec<u64> = probes.into_iter().map(|p| seq * p as u64 / 100).collect();
            probes.sort_unstable();
            for probe in probes {
                let counted = history.since(Some(probe));
                prop_assert!(counted >= truth(probe), "after {}: {} < {}", probe, counted, truth(probe));
            }
            prop_assert_eq!(history.since(Some(seq)), 0);
        }
    }
}
