//! Memoir's memory node: the in-memory, Redis-compatible store whose writes
//! are acknowledged only after the journal commits them.
//!
//! - [`resp`]: RESP2/RESP3 request parsing and reply encoding;
//! - [`keyspace`] and [`commands`]: the data and the commands on it, with
//!   the deterministic effects a write produces;
//! - [`record`]: the journal records a memory node writes;
//! - [`node`]: the server (execution thread, connections, durable write
//!   path, replica following, leases and failover);
//! - `testing` (hidden): the keyspace harness and command model shared by
//!   the integration tests and the fuzz targets.
//!
//! Invariant: **engine/ never touches the disk**; durability is the
//! journal's.

pub mod commands;
pub mod error;
pub mod keyspace;
pub mod node;
pub mod record;
pub mod resp;
#[doc(hidden)]
pub mod testing;

pub use error::{Error, Result};
pub use keyspace::eviction::EvictionPolicy;
pub use node::{
    ClientTls, ClientTlsFiles, LoadProgress, LoadedSnapshot, MemoryGauge, MemoryNode, NodeBuilder, NodeConfig, Role,
    SnapshotSource, SnapshotSummary, Snapshots,
};
