//! Memoir's snapshot service: a shadow replica that materialises the data
//! set into RocksDB SST files off the latency path, and the rehydration of
//! memory nodes from the newest snapshot plus the log tail.
//!
//! - [`format`]: SST key encoding, the manifest, the running log checksum;
//! - [`store`]: the snapshot store directory and crash-safe publishing;
//! - [`sst`]: writing and reading SST files through RocksDB;
//! - [`build`] / [`load`]: a data set to files, and files back (verified);
//! - [`digest`]: the dataset digest from a stream of entries;
//! - [`pace`]: a byte-rate limit on a snapshot's disk I/O;
//! - [`service`]: the shadow replica that decides, builds, verifies,
//!   publishes and trims;
//! - [`source`]: what a memory node rehydrates through.
//!
//! Everything but [`format`], [`digest`], [`pace`] and [`error`] needs RocksDB and sits behind
//! the default `sst` feature (the fuzz build turns it off).

#[cfg(feature = "sst")]
pub mod build;
pub mod digest;
pub mod error;
pub mod format;
#[cfg(feature = "sst")]
pub mod load;
pub mod pace;
#[cfg(feature = "sst")]
pub mod service;
#[cfg(feature = "sst")]
pub mod source;
#[cfg(feature = "sst")]
pub mod sst;
#[cfg(feature = "sst")]
pub mod store;

pub use error::{Result, SnapshotError};
#[cfg(feature = "sst")]
pub use service::{ServiceConfig, ServiceStats, SnapshotService};
#[cfg(feature = "sst")]
pub use source::StoreSource;
#[cfg(feature = "sst")]
pub use store::Store;
