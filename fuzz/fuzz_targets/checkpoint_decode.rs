//! Arbitrary bytes as a journal state checkpoint file and as a raft
//! hard-state file: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_journal::fuzzing::checkpoint_decode(data);
});
