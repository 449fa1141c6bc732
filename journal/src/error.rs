//! The journal crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::seq::Seq;

/// Everything that can go wrong in the journal.
///
/// Corruption always names the file and the byte offset, so an operator can
/// look at the bytes (`memoir inspect segments DIR`) and a replica can decide
/// to repair from its peers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("corrupt journal segment {path}: at offset {offset}: {reason}")]
    Corruption { path: PathBuf, offset: u64, reason: String },

    #[error("torn tail in journal segment {path} at offset {offset} ({reason}) and recovery mode is strict")]
    TornTail { path: PathBuf, offset: u64, reason: String },

    /// A write or fsync failed earlier. The page cache may have dropped the
    /// data, so the log never retries the fsync and never acknowledges again;
    /// the process must restart and recover from what is on disk (or, in a
    /// replicated journal, from its peers).
    #[error("journal is poisoned by an earlier I/O failure and accepts no more writes: {cause}")]
    Poisoned { cause: String },

    #[error("no space left on device while {op} {path}")]
    NoSpace { op: &'static str, path: PathBuf },

    #[error("I/O error while {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("seq {requested} is out of range: the log holds {first}..{next} (next is not yet written)")]
    OutOfRange { requested: Seq, first: Seq, next: Seq },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A TLS or authentication setting that cannot be used (unreadable
    /// PEM file, key not matching its certificate...).
    #[error("security configuration: {0}")]
    Security(String),

    #[error("journal directory {path} is locked by another process")]
    Locked { path: PathBuf },

    /// The log's writer thread has stopped (the log was closed or dropped).
    #[error("the journal has been closed")]
    Closed,

    /// A start-up step run off the async runtime did not finish (it
    /// panicked, or the runtime shut down).
    #[error("starting the replica: {0}")]
    Startup(String),
}

impl Error {
    /// Wraps an I/O error, turning ENOSPC into [`Error::NoSpace`] so that a
    /// full disk gets a message a user understands.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) {
            Error::NoSpace { op, path }
        } else {
            Error::Io { op, path, source }
        }
    }

    /// True for errors that mean the data on disk is damaged.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. } | Error::TornTail { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
