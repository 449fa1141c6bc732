//! Test support shared by the engine's integration tests and the fuzz
//! targets in `fuzz/` (which cannot see `tests/`): not part of the API.
//!
//! - [`harness`]: a primary keyspace, a replica fed its effects, a fake
//!   clock;
//! - [`model`]: the std-collections model the command replies are checked
//!   against;
//! - [`fuzz`]: the entry points of the `engine_model` and `dump_payload`
//!   fuzz targets.

pub mod fuzz;
pub mod harness;
pub mod model;
