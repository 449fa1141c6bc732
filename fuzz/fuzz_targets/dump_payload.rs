//! Arbitrary bytes as a RESTORE payload, raw and sealed with a valid
//! version and checksum: errors, never panics; a restored value dumps to
//! the same data and replicates identically.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_engine::testing::fuzz::dump_payload(data);
});
