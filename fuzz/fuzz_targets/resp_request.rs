//! Arbitrary bytes as a client's request stream: the RESP parser must return
//! commands, "need more" or a protocol error, never panic, and give the same
//! result however the bytes are split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_engine::resp::fuzz_request(data);
});
