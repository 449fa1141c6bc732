//! Rehydration: the memory node's [`SnapshotSource`] over a [`Store`].

use std::path::PathBuf;

use memoir_engine::keyspace::Keyspace;
use memoir_engine::{LoadProgress, LoadedSnapshot, SnapshotSource, SnapshotSummary};
use memoir_journal::Seq;
use tracing::{info, warn};

use crate::error::Result;
use crate::format::Manifest;
use crate::load::read_snapshot;
use crate::store::{read_manifest, SnapshotDir, Store};

/// The newest snapshot that reads back and verifies, with its manifest.
/// Invalid snapshots are logged with the file and reason and skipped, so
/// the previous one (with a longer log tail) is used.
pub fn load_newest_valid(
    store: &Store,
    databases: usize,
    progress: &mut dyn FnMut(LoadProgress),
) -> Result<Option<(Keyspace, Manifest, SnapshotDir)>> {
    for snapshot in store.list()? {
        let manifest = match read_manifest(&snapshot.path) {
            Ok(manifest) => manifest,
            Err(error) => {
                warn!(snapshot = %snapshot.path.display(), %error, "skipping a snapshot without a valid manifest");
                continue;
            }
        };
        if manifest.seq != snapshot.seq || manifest.id != snapshot.id {
            warn!(snapshot = %snapshot.path.display(), "skipping a snapshot whose manifest names another one");
            continue;
        }
        info!(snapshot = %manifest.id, seq = manifest.seq, keys = manifest.keys, bytes = manifest.total_bytes(),
            files = manifest.files.len(), "loading snapshot");
        match read_snapshot(
            &snapshot.path,
            &manifest,
            Some(databases),
            &store.scratch_dir(),
            progress,
        ) {
            Ok(Some(keyspace)) => return Ok(Some((keyspace, manifest, snapshot))),
            Ok(None) => continue,
            Err(error) => {
                warn!(snapshot = %snapshot.path.display(), %error, "snapshot is invalid; trying the previous one");
            }
        }
    }
    Ok(None)
}

/// A memory node's view of a snapshot store directory.
pub struct StoreSource {
    store: Store,
}

impl StoreSource {
    pub fn open(root: impl Into<PathBuf>) -> Result<StoreSource> {
        Ok(StoreSource {
            store: Store::open(root)?,
        })
    }
}

impl SnapshotSource for StoreSource {
    fn load_newest(
        &self,
        databases: usize,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> Result<Option<LoadedSnapshot>, String> {
        let loaded = load_newest_valid(&self.store, databases, progress).map_err(|e| e.to_string())?;
        Ok(loaded.map(|(keyspace, manifest, _)| LoadedSnapshot {
            keyspace,
            seq: Seq(manifest.seq),
            log_checksum: manifest.log_checksum,
            id: manifest.id,
        }))
    }

    fn request_snapshot(&self) -> Result<(), String> {
        self.store.request().map_err(|e| e.to_string())
    }

    fn summary(&self) -> SnapshotSummary {
        let status = self.store.read_status();
        let newest = self
            .store
            .list()
            .ok()
            .and_then(|list| list.into_iter().find_map(|dir| read_manifest(&dir.path).ok()))
            .map(|m| (Seq(m.seq), m.created_unix_ms, m.total_bytes()));
        SnapshotSummary {
            newest,
            in_progress: status.in_progress,
            last_status: status.last_ok.map(|ok| if ok { "ok" } else { "err" }),
            service_applied: (status.applied_seq > 0).then_some(Seq(status.applied_seq)),
        }
    }
}
