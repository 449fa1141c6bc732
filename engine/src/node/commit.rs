//! The primary's write path to the journal: sealed batches are appended in
//! order and pipelined; commits (and failures) are published in a watch
//! channel that connection tasks wait on before they release a reply.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use memoir_journal::client::{ClientError, JournalClient};
use memoir_journal::{LeaderId, Seq};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::warn;

use super::journal_stats::InFlightAppend;
use super::role::RoleEvent;
use super::shared::NodeShared;
use crate::record::{EffectOp, Record};

/// Bound on batches sent to the journal and not yet committed; beyond it the
/// execution thread waits (backpressure instead of unbounded memory).
pub(crate) const MAX_BATCHES_IN_FLIGHT: usize = 1024;

/// Where the primary's batches stand. Batch numbers are local to this
/// process, start at 1 and never repeat; barrier 0 means "depends on
/// nothing".
#[derive(Clone, Debug, Default)]
pub(crate) struct CommitState {
    /// Every batch up to here that is not in `failed` has committed.
    pub committed: u64,
    /// Journal seq of the newest committed batch.
    pub committed_seq: Seq,
    /// Inclusive ranges of batches that failed (fenced, journal
    /// unavailable); `u64::MAX` as the end = every later batch too, until
    /// the node resets. One range per step-down, so this stays tiny, and it
    /// is never pruned: a reply still waiting on an old failed batch must
    /// not read as committed.
    failed: Vec<(u64, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BarrierState {
    Ready,
    Failed,
    Pending,
}

impl CommitState {
    pub fn check(&self, barrier: u64) -> BarrierState {
        if barrier == 0 {
            return BarrierState::Ready;
        }
        if self.failed.iter().any(|&(from, to)| from <= barrier && barrier <= to) {
            return BarrierState::Failed;
        }
        if barrier <= self.committed {
            BarrierState::Ready
        } else {
            BarrierState::Pending
        }
    }

    /// Batch `batch` and everything after it failed.
    pub fn fail_from(&mut self, batch: u64) {
        if self.check(batch) != BarrierState::Failed {
            self.failed.push((batch, u64::MAX));
        }
    }

    /// The node reset: nothing after `last_sealed` belongs to the failed
    /// term, and nothing up to it is still pending.
    pub fn settle(&mut self, last_sealed: u64) {
        if self.committed < last_sealed {
            self.fail_from(self.committed + 1);
        }
        for range in &mut self.failed {
            if range.1 == u64::MAX {
                range.1 = last_sealed;
            }
        }
        self.committed = self.committed.max(last_sealed);
    }

    /// Newest batch whose outcome is known (committed or failed).
    pub fn resolved(&self) -> u64 {
        self.failed
            .iter()
            .filter(|range| range.1 != u64::MAX)
            .map(|range| range.1)
            .fold(self.committed, u64::max)
    }
}

/// One journal record's worth of effects, numbered by the execution thread
/// (encoded by the appender, off that thread).
pub(crate) struct SealedBatch {
    pub batch: u64,
    pub ops: Vec<EffectOp>,
}

type AppendFuture = Pin<Box<dyn Future<Output = Result<Seq, ClientError>> + Send>>;

/// Journal appends one primary keeps in flight; more sealed batches wait
/// and are merged (see `start_term`). Four rather than two: the journal's
/// raft batches appends that arrive together into one fsync per replica
/// anyway, and with two a write waited for a free slot for about half an
/// append. `redis-benchmark -t set -c 50`, alternating builds (2026-11-27):
/// -P 1 averaged 10,981 req/s with 2 and 13,144 with 4 (four runs each);
/// -P 16, 168,900 and 179,600 (three runs each).
const MAX_APPENDS_IN_FLIGHT: usize = 4;
/// A merged record stops growing here (the journal takes up to 16 MiB).
const MAX_RECORD_BYTES: usize = 1 << 20;

/// Consecutive sealed batches merged into one record: applying it applies
/// them in order, all or nothing.
struct Merged {
    ops: Vec<EffectOp>,
    last_batch: u64,
    batches: u64,
    bytes: usize,
}

impl Merged {
    fn new(first: SealedBatch) -> Merged {
        let mut merged = Merged {
            ops: Vec::new(),
            last_batch: first.batch,
            batches: 0,
            bytes: 0,
        };
        merged.add(first);
        merged
    }

    fn add(&mut self, sealed: SealedBatch) {
        debug_assert!(
            self.ops.is_empty() || sealed.batch == self.last_batch + 1,
            "batches arrive in order"
        );
        self.last_batch = sealed.batch;
        self.batches += 1;
        self.bytes += sealed
            .ops
            .iter()
            .map(|op| crate::commands::effect_bytes(&op.argv))
            .sum::<usize>();
        self.ops.extend(sealed.ops);
    }
}

/// An append awaiting its commit; the slot frees when it resolves.
struct InFlight {
    last_batch: u64,
    future: AppendFuture,
    _slot: tokio::sync::OwnedSemaphorePermit,
    /// For INFO journal: what the record carries and when it was queued.
    batches: u64,
    payload_bytes: usize,
    /// Write effects in the record (INFO's `rdb_changes_since_last_save`).
    effects: u64,
    queued_at: Instant,
    _counted: InFlightAppend,
}

/// Starts the append pipeline of one primary term; returns where the
/// execution thread sends sealed batches. The tasks end when the sender is
/// dropped or at the first failure.
pub(crate) fn start_term(
    shared: Arc<NodeShared>,
    client: Arc<JournalClient>,
    leader: LeaderId,
    commit: Arc<watch::Sender<CommitState>>,
    events: mpsc::UnboundedSender<RoleEvent>,
) -> (mpsc::Sender<SealedBatch>, Vec<tokio::task::JoinHandle<()>>) {
    let (batches_tx, mut batches) = mpsc::channel::<SealedBatch>(MAX_BATCHES_IN_FLIGHT);
    let (in_flight_tx, mut in_flight) = mpsc::channel::<InFlight>(MAX_APPENDS_IN_FLIGHT);
    let slots = Arc::new(Semaphore::new(MAX_APPENDS_IN_FLIGHT));
    let appender_shared = Arc::clone(&shared);
    let appender = tokio::spawn(async move {
        while let Some(first) = batches.recv().await {
            // Group commit at the node: while the journal holds
            // MAX_APPENDS_IN_FLIGHT appends, sealed batches wait here and
            // are merged into the next record. Under load one append then
            // carries many steps' writes, so the journal's cost per write
            // falls as the load rises; idle, a batch goes out at once.
            let mut merged = Merged::new(first);
            let slot = loop {
                tokio::select! {
                    biased;
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => break slot,
                        Err(_) => return,
                    },
                    more = batches.recv(), if merged.bytes < MAX_RECORD_BYTES => match more {
                        Some(more) => merged.add(more),
                        None => return,
                    },
                }
            };
            while merged.bytes < MAX_RECORD_BYTES {
                match batches.try_recv() {
                    Ok(more) => merged.add(more),
                    Err(_) => break,
                }
            }
            // `append` queues the request now, so records reach the journal
            // in batch order while their commits are awaited elsewhere.
            let effects = merged.ops.len() as u64;
            let payload = Record::Effects(merged.ops).encode();
            let payload_bytes = payload.len();
            let future: AppendFuture = Box::pin(client.append(payload, leader));
            let entry = InFlight {
                last_batch: merged.last_batch,
                future,
                _slot: slot,
                batches: merged.batches,
                payload_bytes,
                effects,
                queued_at: Instant::now(),
                _counted: appender_shared.journal_stats.queued(),
            };
            if in_flight_tx.send(entry).await.is_err() {
                return;
            }
        }
    });
    let mut hold = shared.commit_hold.subscribe();
    let committer = tokio::spawn(async move {
        while let Some(InFlight {
            last_batch: batch,
            future,
            _slot,
            batches,
            payload_bytes,
            effects,
            queued_at,
            _counted,
        }) = in_flight.recv().await
        {
            let result = future.await;
            match &result {
                Ok(_) => shared
                    .journal_stats
                    .committed(batches, payload_bytes, queued_at.elapsed()),
                Err(_) => shared.journal_stats.failed(),
            }
            // Test hook: a test may hold commit notifications to observe
            // what clients see while a write is in flight.
            if hold.wait_for(|held| !*held).await.is_err() {
                return;
            }
            match result {
                Ok(seq) => {
                    shared.applied_seq.fetch_max(seq.0, Ordering::AcqRel);
                    shared.changes.add(seq.0, effects);
                    commit.send_modify(|state| {
                        state.committed = state.committed.max(batch);
                        state.committed_seq = state.committed_seq.max(seq);
                    });
                }
                Err(error) => {
                    warn!(batch, %error, "journal append failed; failing every reply that waits on it");
                    commit.send_modify(|state| state.fail_from(batch));
                    let _ = events.send(RoleEvent::JournalFailed(error));
                    return;
                }
            }
        }
    });
    (batches_tx, vec![appender, committer])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barriers_follow_commits_and_failures() {
        let mut state = CommitState::default();
        assert_eq!(state.check(0), BarrierState::Ready);
        assert_eq!(state.check(1), BarrierState::Pending);
        state.committed = 3;
        assert_eq!(state.check(3), BarrierState::Ready);
        state.fail_from(4);
        assert_eq!(state.check(4), BarrierState::Failed);
        assert_eq!(state.check(1000), BarrierState::Failed);
        state.settle(6);
        assert_eq!(state.check(6), BarrierState::Failed);
        assert_eq!(state.check(7), BarrierState::Pending);
        assert_eq!(state.resolved(), 6);
        state.committed = 8;
        assert_eq!(
            state.check(5),
            BarrierState::Failed,
            "a failed batch never reads as committed"
        );
        assert_eq!(state.check(7), BarrierState::Ready);
    }

    #[test]
    fn settle_with_nothing_pending_fails_nothing() {
        let mut state = CommitState {
            committed: 5,
            ..CommitState::default()
        };
        state.settle(5);
        assert_eq!(state.check(5), BarrierState::Ready);
        assert_eq!(state.check(6), BarrierState::Pending);
    }
}
