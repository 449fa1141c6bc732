//! Replays the checked-in cargo-fuzz corpus through the fuzz entry point, so
//! every input that ever found a bug stays a regression test.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            inputs.push((path, bytes));
        }
    }
    inputs.sort();
    inputs
}

#[test]
fn resp_request_corpus_replays_cleanly() {
    let inputs = corpus("resp_request");
    assert!(inputs.len() >= 4, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_engine::resp::fuzz_request(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}

#[test]
fn record_decode_corpus_replays_cleanly() {
    let inputs = corpus("record_decode");
    assert!(inputs.len() >= 4, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_engine::record::fuzz_record(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}

#[test]
fn snapshot_value_corpus_replays_cleanly() {
    let inputs = corpus("snapshot_value");
    assert!(inputs.len() >= 4, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_engine::keyspace::serial::fuzz_value(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}
