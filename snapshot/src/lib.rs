//! Memoir's snapshot service: a shadow replica that materialises the data
//! set into RocksDB SST files off the latency path, and the rehydration of
//! memory nodes from the newest snapshot plus the log tail.
//!
//! - [`format`]: SST key encoding, the manifest, the running log checksum;
//! - [`store`]: the snapshot store directory and crash-safe publishing;
//! - [`sst`]: writing and reading SST files through RocksDB;
//! - [`build`] / [`load`]: a data set to files, and files back (verified);
//! - [`digest`]: the dataset digest from a stream of entries;
//! - [`service`]: the shadow replica that decides, builds, verifies,
//!   publishes and trims;
//! - [`source`]: what a memory node rehydrates through.

pub mod build;
pub mod digest;
pub mod error;
pub mod format;
pub mod load;
pub mod service;
pub mod source;
pub mod sst;
pub mod store;

pub use error::{Result, SnapshotError};
pub use service::{ServiceConfig, ServiceStats, SnapshotService};
pub use source::StoreSource;
pub use store::Store;
