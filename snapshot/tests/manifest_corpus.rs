//! Replays the checked-in `snapshot_manifest` fuzz corpus through the fuzz
//! entry point, so every input that ever found a bug stays a regression
//! test. (Named apart from the engine's and journal's `fuzz_corpus` so
//! `cargo test --workspace --test manifest_corpus` selects this one.)

use std::path::{Path, PathBuf};

use memoir_snapshot::format::{fuzz_manifest, FileEntry, Manifest};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/snapshot_manifest")
}

#[test]
fn snapshot_manifest_corpus_replays_cleanly() {
    let dir = corpus_dir();
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            inputs.push((std::fs::read(&path).unwrap(), path));
        }
    }
    assert!(inputs.len() >= 3, "the seed corpus is checked in");
    let mut decoded = 0;
    for (bytes, path) in inputs {
        decoded += usize::from(Manifest::decode(&bytes, Path::new("corpus")).is_ok());
        let outcome = std::panic::catch_unwind(|| fuzz_manifest(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
    assert!(decoded >= 1, "the corpus keeps at least one valid manifest");
}

/// Writes the seed inputs (a valid manifest, a truncated one, one naming a
/// path outside its directory). Run by hand: `cargo test --workspace --test
/// manifest_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| FileEntry {
        name: name.into(),
        size: 100,
        crc32c: 9,
        keys: 10,
    };
    let manifest = Manifest {
        id: "00000000-0000-0000-0000-000000000001".into(),
        seq: 42,
        log_checksum: 7,
        digest: [3; 20],
        engine_format: 1,
        databases: 16,
        keys: 20,
        created_unix_ms: 1_700_000_000_000,
        files: vec![file("part-000.sst"), file("part-001.sst")],
    };
    let valid = manifest.encode();
    let escaping = Manifest {
        files: vec![file("../etc/passwd")],
        ..manifest.clone()
    }
    .encode();
    let truncated = valid[..valid.len() - 9].to_vec();
    for (name, bytes) in [("valid", valid), ("escaping", escaping), ("truncated", truncated)] {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}
