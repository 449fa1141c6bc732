//! Memoir's memory node: the in-memory, Redis-compatible store whose writes
//! are acknowledged only after the journal commits them.
//!
//! The memory node itself (keyspace, command execution, durable write path)
//! is the next piece of work (see the issue tracker); its invariant is
//! already fixed: **engine/ never touches the disk**; durability is the
//! journal's.
//!
//! Built so far: [`resp`], the RESP2/RESP3 request parser and reply encoder.

pub mod resp;
