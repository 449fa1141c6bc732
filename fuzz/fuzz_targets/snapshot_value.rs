//! Arbitrary bytes as a snapshot value (an SST entry's value): the decoder
//! returns a value or an error, never panics, and never allocates beyond
//! what the input can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_engine::keyspace::serial::fuzz_value(data);
});
