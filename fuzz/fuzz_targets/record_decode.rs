//! Arbitrary bytes as a journal payload read by a memory-node replica: the
//! record decoder must return a record or an error, never panic, and what
//! decodes must re-encode to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_engine::record::fuzz_record(data);
});
