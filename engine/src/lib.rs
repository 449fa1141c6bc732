//! Memoir's memory node: the in-memory, Redis-compatible store whose writes
//! are acknowledged only after the journal commits them.
//!
//! Invariant: **engine/ never touches the disk**; durability is the
//! journal's.

pub mod commands;
pub mod keyspace;
pub mod resp;
