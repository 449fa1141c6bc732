//! The snapshot store: a directory standing in for off-box storage.
//!
//! ```text
//! STORE/snapshots/snap-<seq, 20 digits>-<id>/   published snapshots
//!         MANIFEST, part-000.sst, part-001.sst, ...
//! STORE/tmp/<id>/                               builds in progress
//! STORE/requests/<uuid>                         BGSAVE requests from nodes
//! STORE/status                                  the service's state, for INFO
//! ```
//!
//! Publishing is the crash-safe sequence: write and fsync every file,
//! write the manifest to a temporary name, fsync, rename it to `MANIFEST`,
//! fsync the directory, then rename the directory into `snapshots/` and
//! fsync that. A directory in `snapshots/` without a valid manifest is
//! ignored (and a crash can leave only such a directory in `tmp/`).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use memoir_journal::writeback;
use tracing::warn;

use crate::error::{IoContext, Result, SnapshotError};
use crate::format::{Manifest, MANIFEST_NAME};
use crate::pace::IoPacer;

const SNAPSHOTS: &str = "snapshots";
const TMP: &str = "tmp";
const REQUESTS: &str = "requests";
const STATUS: &str = "status";

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// A published snapshot directory (its manifest not yet read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotDir {
    pub seq: u64,
    pub id: String,
    pub path: PathBuf,
}

/// What the service last said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceStatus {
    pub in_progress: bool,
    pub last_ok: Option<bool>,
    /// The journal seq the service's data set has replayed through.
    pub applied_seq: u64,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        for sub in [SNAPSHOTS, TMP, REQUESTS] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).at_path(&dir)?;
        }
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where readers put their throw-away files (same file system as the
    /// snapshots, so SSTs can be hard-linked rather than copied).
    pub fn scratch_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    /// Published snapshots, newest (highest seq) first.
    pub fn list(&self) -> Result<Vec<SnapshotDir>> {
        let dir = self.root.join(SNAPSHOTS);
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).at_path(&dir)? {
            let entry = entry.at_path(&dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("snap-") else {
                continue;
            };
            let Some((seq, id)) = rest.split_once('-') else {
                continue;
            };
            let Ok(seq) = seq.parse::<u64>() else {
                continue;
            };
            found.push(SnapshotDir {
                seq,
                id: id.to_owned(),
                path: entry.path(),
            });
        }
        found.sort_by(|a, b| b.seq.cmp(&a.seq).then_with(|| b.id.cmp(&a.id)));
        Ok(found)
    }

    /// A fresh directory to build snapshot `id` in.
    pub fn build_dir(&self, id: &str) -> Result<PathBuf> {
        let dir = self.root.join(TMP).join(id);
        if dir.exists() {
            fs::remove_dir_all(&dir).at_path(&dir)?;
        }
        fs::create_dir_all(&dir).at_path(&dir)?;
        Ok(dir)
    }

    /// Removes builds (and readers' scratch files) a crash left behind.
    pub fn clear_builds(&self) -> Result<()> {
        let dir = self.root.join(TMP);
        for entry in fs::read_dir(&dir).at_path(&dir)? {
            let path = entry.at_path(&dir)?.path();
            // Memory nodes loading a snapshot keep their scratch files
            // here too, and clean them up themselves.
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("load-"))
            {
                continue;
            }
            if let Err(e) = fs::remove_dir_all(&path) {
                warn!(path = %path.display(), error = %e, "could not remove an abandoned snapshot build");
            }
        }
        Ok(())
    }

    /// Writes the manifest into `build` (whose files are already durable)
    /// and moves it into the published snapshots, durably.
    pub fn publish(&self, build: &Path, manifest: &Manifest) -> Result<SnapshotDir> {
        let staging = build.join("MANIFEST.tmp");
        write_durably(&staging, &manifest.encode())?;
        let final_manifest = build.join(MANIFEST_NAME);
        fs::rename(&staging, &final_manifest).at_path(&final_manifest)?;
        sync_dir(build)?;
        let name = format!("snap-{:020}-{}", manifest.seq, manifest.id);
        let published = self.root.join(SNAPSHOTS).join(&name);
        fs::rename(build, &published).at_path(&published)?;
        sync_dir(&self.root.join(SNAPSHOTS))?;
        Ok(SnapshotDir {
            seq: manifest.seq,
            id: manifest.id.clone(),
            path: published,
        })
    }

    /// Deletes published snapshots beyond the newest `keep`.
    pub fn retain(&self, keep: usize) -> Result<Vec<SnapshotDir>> {
        let mut removed = Vec::new();
        for old in self.list()?.into_iter().skip(keep.max(1)) {
            remove_gradually(&old.path)?;
            removed.push(old);
        }
        if !removed.is_empty() {
            sync_dir(&self.root.join(SNAPSHOTS))?;
        }
        Ok(removed)
    }

    /// Records a client's BGSAVE for the service to pick up.
    pub fn request(&self) -> Result<()> {
        let path = self.root.join(REQUESTS).join(uuid::Uuid::new_v4().to_string());
        File::create(&path).at_path(&path)?;
        Ok(())
    }

    /// Takes (removes) every pending request; true if there was one.
    pub fn take_requests(&self) -> Result<bool> {
        let dir = self.root.join(REQUESTS);
        let mut any = false;
        for entry in fs::read_dir(&dir).at_path(&dir)? {
            let path = entry.at_path(&dir)?.path();
            fs::remove_file(&path).at_path(&path)?;
            any = true;
        }
        Ok(any)
    }

    pub fn write_status(&self, status: &ServiceStatus) -> Result<()> {
        let text = format!(
            "in_progress={}\nlast_status={}\napplied_seq={}\n",
            u8::from(status.in_progress),
            match status.last_ok {
                None => "none",
                Some(true) => "ok",
                Some(false) => "err",
            },
            status.applied_seq
        );
        let path = self.root.join(STATUS);
        let staging = self.root.join("status.tmp");
        fs::write(&staging, text).at_path(&staging)?;
        fs::rename(&staging, &path).at_path(&path)
    }

    /// The service's last status; default when it never wrote one.
    pub fn read_status(&self) -> ServiceStatus {
        let text = fs::read_to_string(self.root.join(STATUS)).unwrap_or_default();
        let mut status = ServiceStatus::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("in_progress", value)) => status.in_progress = value == "1",
                Some(("last_status", "ok")) => status.last_ok = Some(true),
                Some(("last_status", "err")) => status.last_ok = Some(false),
                Some(("applied_seq", value)) => status.applied_seq = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        status
    }
}

/// Deletes a published snapshot: its manifest first (from then on the
/// snapshot does not exist, whatever happens next), then each file's
/// blocks a step at a time (`writeback::release_gradually`): unlinking a
/// 1 GB snapshot in one go made fdatasyncs on the same disk (the journal's)
/// wait tens of milliseconds. A node still loading this snapshot (one past
/// retention, so an old load) sees its files shrink and fails their
/// checksums, then falls back as for any damaged snapshot.
fn remove_gradually(dir: &Path) -> Result<()> {
    let manifest = dir.join(MANIFEST_NAME);
    match fs::remove_file(&manifest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at_path(&manifest),
    }
    for entry in fs::read_dir(dir).at_path(dir)? {
        let path = entry.at_path(dir)?.path();
        if path.is_file() {
            let file = fs::OpenOptions::new().write(true).open(&path).at_path(&path)?;
            writeback::release_gradually(&file).at_path(&path)?;
        }
    }
    fs::remove_dir_all(dir).at_path(dir)
}

/// Reads and decodes the manifest of a snapshot directory.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_NAME);
    let bytes = fs::read(&path).at_path(&path)?;
    Manifest::decode(&bytes, &path)
}

/// Writes `bytes` to `path` and fsyncs it. An fsync error is returned, not
/// retried: after a failed fsync the page cache may already have dropped
/// the dirty pages, so a retry could "succeed" over lost data.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).at_path(path)?;
    file.write_all(bytes).at_path(path)?;
    file.sync_all().at_path(path)
}

/// fsyncs a file that was written elsewhere (by RocksDB).
pub fn sync_file(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).at_path(path)
}

/// fsyncs a directory, making renames and creations in it durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).at_path(path)
}

/// CRC-32C and size of a whole file, streamed, each read reported to
/// `pacer`.
pub fn file_checksum(path: &Path, pacer: &IoPacer) -> Result<(u32, u64)> {
    use std::io::Read;
    let mut file = File::open(path).at_path(path)?;
    if pacer.is_limited() {
        memoir_journal::segment::without_readahead(&file);
    }
    let mut buffer = vec![0u8; pacer.read_bytes(1 << 20)];
    let mut crc = 0u32;
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).at_path(path)?;
        if n == 0 {
            return Ok((crc, size));
        }
        pacer.pace(n as u64);
        crc = crc32c::crc32c_append(crc, &buffer[..n]);
        size += n as u64;
    }
}

impl SnapshotError {
    /// A corruption of `path` found at `at`.
    pub(crate) fn corrupt(path: &Path, at: impl Into<String>, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Corrupt {
            path: path.to_path_buf(),
            at: at.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FileEntry;

    fn manifest(seq: u64, id: &str) -> Manifest {
        Manifest {
            id: id.into(),
            seq,
            log_checksum: 0,
            digest: [0; 20],
            engine_format: 1,
            databases: 16,
            keys: 0,
            created_unix_ms: 0,
            files: Vec::<FileEntry>::new(),
        }
    }

    #[test]
    fn publish_lists_newest_first_and_retains() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).expect("open");
        for (seq, id) in [(5, "a"), (9, "b"), (7, "c")] {
            let build = store.build_dir(id).expect("build dir");
            store.publish(&build, &manifest(seq, id)).expect("publish");
        }
        let seqs: Vec<u64> = store.list().expect("list").iter().map(|s| s.seq).collect();
        assert_eq!(seqs, vec![9, 7, 5]);
        let newest = &store.list().expect("list")[0];
        assert_eq!(read_manifest(&newest.path).expect("manifest").id, "b");
        let removed = store.retain(2).expect("retain");
        assert_eq!(removed.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![5]);
        assert!(!removed[0].path.exists(), "the directory is gone");
        assert_eq!(store.list().expect("list").len(), 2);
    }

    #[test]
    fn requests_and_status_round_trip() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).expect("open");
        assert!(!store.take_requests().expect("take"));
        store.request().expect("request");
        store.request().expect("request");
        assert!(store.take_requests().expect("take"));
        assert!(!store.take_requests().expect("take"));
        assert_eq!(store.read_status(), ServiceStatus::default());
        let status = ServiceStatus {
            in_progress: true,
            last_ok: Some(false),
            applied_seq: 42,
        };
        store.write_status(&status).expect("status");
        assert_eq!(store.read_status(), status);
    }
}
