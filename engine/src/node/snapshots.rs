//! What a memory node needs from the snapshot store, as a trait.
//!
//! The engine never touches the disk (ARCHITECTURE.md): snapshots live in
//! an off-box store that the `memoir-snapshot` crate reads and writes. A
//! node is given a [`SnapshotSource`] and uses it to rehydrate (load the
//! newest valid snapshot, then replay the log tail after its seq), to
//! forward `BGSAVE`/`SAVE`, and to report `INFO persistence`.

use std::fmt;

use memoir_journal::Seq;

use crate::keyspace::Keyspace;

/// A snapshot loaded and verified, ready to install.
pub struct LoadedSnapshot {
    pub keyspace: Keyspace,
    /// The last log record the snapshot reflects: replay starts after it.
    pub seq: Seq,
    /// The snapshot's identifier, for logs.
    pub id: String,
    /// The running log checksum through `seq` the snapshot claims (see
    /// `memoir_journal::log_checksum`): the replay after it must arrive at
    /// the journal's own values, or the snapshot is not of this log.
    pub log_checksum: u32,
}

/// Progress of a long load, reported every second or so.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadProgress {
    pub keys_loaded: u64,
    pub bytes_loaded: u64,
    pub bytes_total: u64,
}

/// What `INFO persistence` says about snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The newest published snapshot: (seq it covers, unix ms it was
    /// published, bytes of its files).
    pub newest: Option<(Seq, i64, u64)>,
    /// A snapshot is being built right now.
    pub in_progress: bool,
    /// The last build's outcome ("ok" or "err"), if any.
    pub last_status: Option<&'static str>,
    /// How far the snapshot service has replayed the journal, as it last
    /// said (it says so after each catch-up).
    pub service_applied: Option<Seq>,
}

/// The snapshot store as a memory node sees it. Implementations block
/// (the node calls them on a blocking thread).
pub trait SnapshotSource: Send + Sync + 'static {
    /// Loads the newest snapshot that verifies, skipping (and logging)
    /// invalid ones; `None` when there is none.
    fn load_newest(
        &self,
        databases: usize,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> Result<Option<LoadedSnapshot>, String>;

    /// Asks the snapshot service for a snapshot as soon as it can
    /// (`BGSAVE`); an error if the request cannot be recorded.
    fn request_snapshot(&self) -> Result<(), String>;

    fn summary(&self) -> SnapshotSummary;
}

/// A `NodeConfig` field holding an optional source, printable.
#[derive(Clone, Default)]
pub struct Snapshots(pub Option<std::sync::Arc<dyn SnapshotSource>>);

impl fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Snapshots(store)"
        } else {
            "Snapshots(none)"
        })
    }
}
