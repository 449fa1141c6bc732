//! Replays the checked-in cargo-fuzz corpora through the fuzz entry points,
//! so every input that ever found a bug stays a regression test.

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
fn segment_decode_corpus_replays_cleanly() {
    let inputs = corpus("segment_decode");
    assert!(inputs.len() >= 5, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_journal::fuzzing::segment_decode(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}

/// Writes seed inputs (valid segments, compressed, torn, flipped) into the
/// corpus directory. Run by hand: `cargo test -p memoir-journal --test
/// fuzz_corpus -- --ignored write_seed_corpus`.
#[test]
#[ignore]
fn write_seed_corpus() {
    use memoir_journal::format::{encode_batch, segment_salt, Compression, SegmentHeader};
    use memoir_journal::Seq;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/segment_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let make = |compress: bool, batches: usize| {
        let id = 7u64;
        let mut bytes = bytemuck::bytes_of(&SegmentHeader::new(id, Seq(10), 0)).to_vec();
        let mut chain = segment_salt(id);
        let mut seq = 10;
        let mut buf = Vec::new();
        for b in 0..batches {
            let entries: Vec<Vec<u8>> = (0..3).map(|i| vec![b'a' + (b + i) as u8; 40 * (i + 1)]).collect();
            let compression = Compression {
                threshold_bytes: if compress { 0 } else { usize::MAX },
                zstd_level: 1,
            };
            chain = encode_batch(
                &mut buf,
                Seq(seq),
                entries.iter().map(|e| e.as_slice()),
                chain,
                compression,
            )
            .unwrap();
            bytes.extend_from_slice(&buf);
            seq += 3;
        }
        bytes.resize(bytes.len() + 64, 0);
        bytes
    };
    let plain = make(false, 3);
    let compressed = make(true, 2);
    let mut torn = plain.clone();
    torn.truncate(plain.len() - 100);
    let mut flipped = plain.clone();
    flipped[200] ^= 0x04;
    let mut trailing = plain.clone();
    let n = trailing.len();
    trailing[n - 3] = 9;
    for (name, bytes) in [
        ("plain", plain),
        ("compressed", compressed),
        ("torn", torn),
        ("flipped", flipped),
        ("trailing", trailing),
        ("header-only", make(false, 0)),
    ] {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}
