//! Arbitrary bytes from the network: frames, handshakes, client requests and
//! responses, raft messages, stored raft entries. Errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_journal::fuzzing::journal_frame(data);
});
