//! What the end-to-end tests of `memoir-bench` share.

use std::path::PathBuf;

/// The `memoir-bench` binary under test, once `memoir` (which it starts)
/// is known to sit next to it. `cargo test --workspace` builds both; with
/// `cargo test -p memoir-bench` alone, build it first: `cargo build -p memoir`.
pub fn bench_binary() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_memoir-bench"));
    let memoir = bench.with_file_name("memoir");
    assert!(
        memoir.is_file(),
        "{} is missing: run `cargo build -p memoir` first (`cargo test --workspace` builds it)",
        memoir.display()
    );
    bench
}

/// The value of `name=…` in a line of `key=value` words.
pub fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}
