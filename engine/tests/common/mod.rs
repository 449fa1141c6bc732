//! The keyspace harness and reply helpers, shared with the fuzz targets
//! through the engine's `testing` module.

#![allow(unused_imports)]

pub use memoir_engine::testing::harness::*;
