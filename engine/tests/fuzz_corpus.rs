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

#[test]
fn dump_payload_corpus_replays_cleanly() {
    let inputs = corpus("dump_payload");
    assert!(inputs.len() >= 4, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_engine::testing::fuzz::dump_payload(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}

#[test]
fn engine_model_corpus_replays_cleanly() {
    let inputs = corpus("engine_model");
    assert!(inputs.len() >= 2, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_engine::testing::fuzz::engine_model(&bytes));
        assert!(
            outcome.is_ok(),
            "corpus input {} disagrees with the model",
            path.display()
        );
    }
}

/// Seeds for `dump_payload` (value bodies of every type, and whole
/// payloads) and `engine_model` (command sequences). Run by hand:
/// `cargo test -p memoir-engine --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    use memoir_engine::testing::harness::Harness;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let dir = root.join("dump_payload");
    std::fs::create_dir_all(&dir).unwrap();
    let mut h = Harness::new();
    h.run(&["SET", "string", "hello"]);
    h.run(&["SET", "int", "12345"]);
    h.run(&["RPUSH", "list", "a", "b", "17"]);
    h.run(&["HSET", "hash", "f", "v", "g", "w"]);
    h.run(&["SADD", "intset", "1", "2", "3"]);
    h.run(&["SADD", "set", "x", "y"]);
    h.run(&["ZADD", "zset", "1", "a", "2.5", "b"]);
    for key in ["string", "int", "list", "hash", "intset", "set", "zset"] {
        let memoir_engine::resp::Reply::Bulk(payload) = h.run(&["DUMP", key]) else {
            panic!("DUMP {key}");
        };
        // The body alone (the target seals it) and the whole payload.
        std::fs::write(dir.join(format!("seed-body-{key}")), &payload[..payload.len() - 6]).unwrap();
        std::fs::write(dir.join(format!("seed-payload-{key}")), &payload[..]).unwrap();
    }
    let dir = root.join("engine_model");
    std::fs::create_dir_all(&dir).unwrap();
    let every_command: Vec<u8> = (0..45u8)
        .flat_map(|selector| [selector, selector / 3, 7, 3, 1])
        .collect();
    let expiry = vec![31, 0, 5, 1, 38, 0, 10, 0, 40, 0, 41, 3, 40, 0, 1, 0, 36, 0, 1];
    let bulk = vec![13, 1, 44, 1, 26, 2, 200, 2, 1, 12, 1, 25, 2, 22, 2, 7];
    for (name, bytes) in [("every-command", every_command), ("expiry", expiry), ("bulk", bulk)] {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}
