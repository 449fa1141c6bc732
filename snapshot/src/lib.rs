//! Memoir's snapshot service: a shadow replica that materialises the data
//! set into RocksDB SST files off the latency path, and the rehydration of
//! memory nodes from the newest snapshot plus the log tail.
//!
//! Not built yet: it depends on the memory node. The `rocksdb` dependency
//! (and its ~25 minute C++ build) is added together with the code that uses
//! it, so that the journal and engine crates build and test quickly today.
