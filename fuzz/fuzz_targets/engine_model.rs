//! Differential: the bytes are a sequence of commands (strings, counters,
//! lists, hashes, sets, sorted sets, expiry on a fake clock) run on the
//! engine's keyspace and on a std-collections model; any differing reply,
//! or a replica that ends up with different data, is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_engine::testing::fuzz::engine_model(data);
});
