//! State the node's threads and tasks share: role, lease deadline, applied
//! seq and counters. Everything here is either atomic or behind a short
//! mutex; the keyspace itself is not here (the execution thread owns it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memoir_journal::LeaderId;
use tokio::sync::{watch, Notify};

use super::changes::ChangeHistory;
use super::journal_stats::JournalStats;
use super::snapshots::{LoadProgress, SnapshotSummary};
use super::NodeConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows the journal, serves reads, refuses writes.
    Replica,
    /// Holds the journal's leader register and (while its lease lasts)
    /// serves reads and writes.
    Primary,
}

/// Who the journal says is primary, as last seen in its records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrimaryInfo {
    pub leader: LeaderId,
    pub address: String,
}

/// Client traffic, counted by the connection tasks: INFO's
/// `total_net_input_bytes`, `total_net_output_bytes`,
/// `total_reads_processed` and `total_writes_processed`.
///
/// Every read and write of every connection counts, from whichever network
/// thread runs it: one shared set of counters would be a cache line that
/// every network thread writes twice per request (600 k times a second
/// for GET at -P 1). Each thread counts in a slot of its own instead, and
/// readers sum the slots.
#[derive(Debug, Default)]
pub struct NetStats {
    slots: [NetSlot; NET_STATS_SLOTS],
}

/// Slots of [`NetStats`]; threads beyond this many share them.
const NET_STATS_SLOTS: usize = 16;

/// One thread's counters, alone on their cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct NetSlot {
    input_bytes: AtomicU64,
    output_bytes: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
}

/// [`NetStats`] summed over its slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetTotals {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub reads: u64,
    pub writes: u64,
}

impl NetStats {
    /// The calling thread's slot.
    fn slot(&self) -> &NetSlot {
        static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % NET_STATS_SLOTS;
        }
        &self.slots[SLOT.with(|slot| *slot)]
    }

    pub fn read(&self, bytes: usize) {
        let slot = self.slot();
        slot.reads.fetch_add(1, Ordering::Relaxed);
        slot.input_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn wrote(&self, bytes: usize) {
        let slot = self.slot();
        slot.writes.fetch_add(1, Ordering::Relaxed);
        slot.output_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn totals(&self) -> NetTotals {
        self.slots.iter().fold(NetTotals::default(), |sum, slot| NetTotals {
            input_bytes: sum.input_bytes + slot.input_bytes.load(Ordering::Relaxed),
            output_bytes: sum.output_bytes + slot.output_bytes.load(Ordering::Relaxed),
            reads: sum.reads + slot.reads.load(Ordering::Relaxed),
            writes: sum.writes + slot.writes.load(Ordering::Relaxed),
        })
    }
}

/// The counters of INFO stats that network threads keep, read together.
/// `CONFIG RESETSTAT` keeps a copy as its baseline and INFO reports the
/// difference: the counters themselves are written by other threads without
/// a lock, so the execution thread cannot zero them safely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatCounters {
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub output_limit_disconnections: u64,
    pub total_commands: u64,
    pub net: NetTotals,
}

impl StatCounters {
    /// What was counted since `baseline` was read.
    pub fn since(self, baseline: StatCounters) -> StatCounters {
        StatCounters {
            total_connections: self.total_connections.saturating_sub(baseline.total_connections),
            rejected_connections: self.rejected_connections.saturating_sub(baseline.rejected_connections),
            output_limit_disconnections: self
                .output_limit_disconnections
                .saturating_sub(baseline.output_limit_disconnections),
            total_commands: self.total_commands.saturating_sub(baseline.total_commands),
            net: NetTotals {
                input_bytes: self.net.input_bytes.saturating_sub(baseline.net.input_bytes),
                output_bytes: self.net.output_bytes.saturating_sub(baseline.net.output_bytes),
                reads: self.net.reads.saturating_sub(baseline.net.reads),
                writes: self.net.writes.saturating_sub(baseline.net.writes),
            },
        }
    }
}

pub struct NodeShared {
    pub config: NodeConfig,
    pub id: LeaderId,
    pub local_addr: SocketAddr,
    pub started: Instant,
    started_unix_secs: i64,
    role: AtomicU8,
    /// End of the primary's lease in nanoseconds since `started` (monotonic
    /// clock); 0 = no lease.
    lease_deadline_ns: AtomicU64,
    /// Journal seq of the last record reflected in the keyspace (applied on
    /// a replica, committed on the primary).
    pub applied_seq: AtomicU64,
    /// True until a replica has caught up with the journal once.
    pub loading: AtomicBool,
    /// Progress of the snapshot load under way (INFO persistence), with
    /// when it started.
    pub snapshot_load: Mutex<Option<(LoadProgress, Instant)>>,
    /// Write effects since the dataset was replaced, by seq.
    pub(crate) changes: ChangeHistory,
    /// Why applying stopped (a record from a newer engine, or divergence).
    pub halted: Mutex<Option<String>>,
    pub primary: Mutex<PrimaryInfo>,
    /// The identity of this node's current (or last) primary term in the
    /// journal's leader register: new for every term.
    term: Mutex<LeaderId>,
    /// Highest seq each journal replica holds (for WAIT), polled by the
    /// primary.
    pub journal_matched: Mutex<Vec<u64>>,
    pub connected_clients: AtomicUsize,
    /// `maxclients`, changeable by CONFIG SET.
    pub maxclients: AtomicUsize,
    /// `proto-max-bulk-len` and `client-query-buffer-limit`, changeable by
    /// CONFIG SET; connections pick them up when `limits_generation` moves.
    pub max_bulk_len: AtomicUsize,
    pub max_query_buffer_len: AtomicUsize,
    pub limits_generation: AtomicU64,
    /// Protected mode's inputs, read by the accept loop: `protected-mode`
    /// and whether the default user has no password (kept by the
    /// execution thread, which owns the users).
    pub protected_mode: AtomicBool,
    pub default_user_nopass: AtomicBool,
    pub total_connections: AtomicU64,
    /// Clients closed for passing their output buffer limit.
    pub output_limit_disconnections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands: AtomicU64,
    pub failovers: AtomicU64,
    /// Client traffic (INFO stats).
    pub net: NetStats,
    /// The snapshot store's summary, refreshed off the execution thread
    /// (see `role::refresh_snapshot_summary`) so that INFO and LASTSAVE
    /// never wait on the store's disk.
    pub snapshot_summary: Mutex<SnapshotSummary>,
    /// Highest resident size INFO has seen.
    pub used_memory_peak: AtomicU64,
    /// This node's appends as a primary (INFO journal).
    pub journal_stats: Arc<JournalStats>,
    /// Asks every connection task to close (node stopping).
    pub close_all: Notify,
    pub closing: AtomicBool,
    shutdown_requested: watch::Sender<bool>,
    /// Test hook: while true, commits are not published (see
    /// `MemoryNode::hold_commits`).
    pub(crate) commit_hold: watch::Sender<bool>,
}

impl NodeShared {
    /// The last summary of the snapshot store (empty without one).
    pub fn snapshot_summary(&self) -> SnapshotSummary {
        self.snapshot_summary.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn new(
        config: NodeConfig,
        id: LeaderId,
        local_addr: SocketAddr,
        shutdown_requested: watch::Sender<bool>,
    ) -> NodeShared {
        let (maxclients, limits) = (config.maxclients, config.limits);
        let protected_mode = config.protected_mode;
        let default_user_nopass = config.requirepass.as_deref().is_none_or(str::is_empty);
        NodeShared {
            config,
            id,
            local_addr,
            started: Instant::now(),
            started_unix_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
            role: AtomicU8::new(0),
            lease_deadline_ns: AtomicU64::new(0),
            applied_seq: AtomicU64::new(0),
            loading: AtomicBool::new(true),
            snapshot_load: Mutex::new(None),
            changes: ChangeHistory::default(),
            halted: Mutex::new(None),
            primary: Mutex::new(PrimaryInfo::default()),
            term: Mutex::new(LeaderId::NONE),
            journal_matched: Mutex::new(Vec::new()),
            connected_clients: AtomicUsize::new(0),
            maxclients: AtomicUsize::new(maxclients),
            max_bulk_len: AtomicUsize::new(limits.max_bulk_len),
            max_query_buffer_len: AtomicUsize::new(limits.max_query_buffer_len),
            limits_generation: AtomicU64::new(0),
            protected_mode: AtomicBool::new(protected_mode),
            default_user_nopass: AtomicBool::new(default_user_nopass),
            total_connections: AtomicU64::new(0),
            output_limit_disconnections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            total_commands: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            net: NetStats::default(),
            used_memory_peak: AtomicU64::new(0),
            snapshot_summary: Mutex::new(SnapshotSummary::default()),
            journal_stats: Arc::default(),
            close_all: Notify::new(),
            closing: AtomicBool::new(false),
            shutdown_requested,
            commit_hold: watch::Sender::new(false),
        }
    }

    /// The counters as they stand (never reset; see [`StatCounters`]).
    pub fn stat_counters(&self) -> StatCounters {
        StatCounters {
            total_connections: self.total_connections.load(Ordering::Relaxed),
            rejected_connections: self.rejected_connections.load(Ordering::Relaxed),
            output_limit_disconnections: self.output_limit_disconnections.load(Ordering::Relaxed),
            total_commands: self.total_commands.load(Ordering::Relaxed),
            net: self.net.totals(),
        }
    }

    pub fn started_unix_secs(&self) -> i64 {
        self.started_unix_secs
    }

    pub fn role(&self) -> Role {
        if self.role.load(Ordering::Acquire) == 1 {
            Role::Primary
        } else {
            Role::Replica
        }
    }

    pub(crate) fn set_role(&self, role: Role) {
        self.role.store(u8::from(role == Role::Primary), Ordering::Release);
        if role == Role::Replica {
            self.lease_deadline_ns.store(0, Ordering::Release);
        }
    }

    fn since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Extends the lease to `sent + lease`, where `sent` is when the
    /// renewal that just committed was sent: counting from the send (not
    /// the commit) keeps the primary's lease inside the window a replica
    /// waits, which starts when it *sees* the renewal.
    /// Returns how long the lease had already run out at `committed` (the
    /// primary refused commands meanwhile), if it had.
    pub(crate) fn extend_lease(&self, sent: Instant, committed: Instant) -> Option<Duration> {
        let deadline = self.since_start(sent + self.config.lease);
        let before = self.lease_deadline_ns.fetch_max(deadline, Ordering::AcqRel);
        let at = self.since_start(committed);
        (before != 0 && at > before).then(|| Duration::from_nanos(at - before))
    }

    /// Whether the primary's lease still holds at `now`.
    pub fn lease_valid(&self, now: Instant) -> bool {
        self.since_start(now) < self.lease_deadline_ns.load(Ordering::Acquire)
    }

    /// Time left on the lease (zero when expired or not primary).
    pub fn lease_remaining(&self, now: Instant) -> Duration {
        let deadline = self.lease_deadline_ns.load(Ordering::Acquire);
        Duration::from_nanos(deadline.saturating_sub(self.since_start(now)))
    }

    pub fn halted_reason(&self) -> Option<String> {
        self.halted.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn halt(&self, reason: String) {
        *self.halted.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// The leader id of this node's current or last primary term.
    pub fn term(&self) -> LeaderId {
        *self.term.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_term(&self, term: LeaderId) {
        *self.term.lock().unwrap_or_else(|e| e.into_inner()) = term;
    }

    pub fn primary_info(&self) -> PrimaryInfo {
        self.primary.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_primary_info(&self, info: PrimaryInfo) {
        *self.primary.lock().unwrap_or_else(|e| e.into_inner()) = info;
    }

    pub(crate) fn request_shutdown(&self) {
        let _ = self.shutdown_requested.send(true);
    }

    pub(crate) fn close_connections(&self) {
        self.closing.store(true, Ordering::Release);
        self.close_all.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_counted_on_many_threads_adds_up() {
        let net = NetStats::default();
        std::thread::scope(|scope| {
            for _ in 0..NET_STATS_SLOTS + 3 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        net.read(10);
                        net.wrote(3);
                    }
                });
            }
        });
        let threads = (NET_STATS_SLOTS + 3) as u64;
        assert_eq!(
            net.totals(),
            NetTotals {
                input_bytes: threads * 10_000,
                output_bytes: threads * 3_000,
                reads: threads * 1000,
                writes: threads * 1000,
            }
        );
    }
}
