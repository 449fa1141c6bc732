//! Memoir's journal.
//!
//! Two layers:
//! - the **segment store** of one replica ([`Log`]): a durable, checksummed,
//!   group-committed log of opaque entries;
//! - the **replicated journal** on top of it: raft-rs across three replicas
//!   ([`server::Replica`], `memoir journal`), a state machine that fences
//!   appends by leader uuid and deduplicates retries ([`state`]), and the
//!   client library ([`client::JournalClient`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), memoir_journal::Error> {
//! use memoir_journal::{Log, LogOptions, Seq};
//! let log = Log::open("/tmp/memoir-journal", LogOptions::default())?;
//! let appended = log.append_one(&b"hello"[..]).await?; // durable now
//! let entries = log.read(appended.first, 1 << 20)?;
//! assert_eq!(&entries[0].data[..], b"hello");
//! # Ok(()) }
//! ```

pub mod auth;
pub mod checkpoint;
pub mod client;
pub mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod hard_state;
pub mod ids;
pub mod io;
pub mod link;
#[doc(hidden)]
pub mod local_cluster;
mod log;
pub mod log_checksum;
pub mod node;
mod raft_fetch;
mod raft_log;
pub mod raft_storage;
mod recent;
mod recovery;
pub mod scan;
pub mod segment;
pub mod seq;
pub mod server;
pub mod state;
#[doc(hidden)]
pub mod test_data;
#[doc(hidden)]
pub mod test_ports;
pub mod tls;
pub mod vote_hold;
mod warn_throttle;
pub mod wire;
pub mod writeback;
mod writer;

pub use error::{Error, Result};
pub use ids::{LeaderId, NodeId, WriterId};
pub use io::{IoKind, IoMode};
pub use link::{JournalTlsFiles, LinkSecurity};
pub use log::{sync_directory, Entry, Log, LogOptions, LogStats, LogStatus, Pending};
pub use recovery::RecoveryMode;
pub use seq::{Appended, Seq};
pub use wire::MAX_APPEND_BYTES;
