//! Arbitrary bytes as a journal segment file: the scanner and decoder must
//! return data or an error, never panic, and stay self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_journal::fuzzing::segment_decode(data);
});
