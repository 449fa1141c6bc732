//! Arbitrary bytes as a snapshot's MANIFEST file: the decoder returns a
//! manifest or an error, never panics, and what decodes re-encodes to the
//! same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    memoir_snapshot::format::fuzz_manifest(data);
});
