//! The snapshot crate's one error type. Every corruption names the file
//! and where in it (byte offset or entry index) it was found.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: rocksdb: {message}")]
    RocksDb { path: PathBuf, message: String },
    /// Bytes on disk are not what was written.
    #[error("{path}: corrupt at {at}: {reason}")]
    Corrupt { path: PathBuf, at: String, reason: String },
    /// The data loaded does not match what the manifest promises.
    #[error("snapshot {id}: verification failed: {reason}")]
    Verification { id: String, reason: String },
    #[error("journal: {0}")]
    Journal(#[from] memoir_journal::client::ClientError),
    /// The log holds something the engine cannot apply.
    #[error("log record at seq {seq}: {reason}")]
    Log { seq: u64, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("stopped")]
    Stopped,
}

pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
#[cfg(feature = "sst")]
pub(crate) trait IoContext<T> {
    fn at_path(self, path: impl Into<PathBuf>) -> Result<T>;
}

#[cfg(feature = "sst")]
impl<T> IoContext<T> for std::io::Result<T> {
    fn at_path(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| SnapshotError::Io {
            path: path.into(),
            source,
        })
    }
}
