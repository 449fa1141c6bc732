//! Memoir's memory node: the in-memory, Redis-compatible store whose writes
//! are acknowledged only after the journal commits them.
//!
//! Not built yet: this crate is reserved in the workspace so that the code
//! map in ARCHITECTURE.md is stable. The memory node comes after the
//! replicated journal (see the issue tracker), and its invariant is already
//! fixed: **engine/ never touches the disk**; durability is the journal's.
