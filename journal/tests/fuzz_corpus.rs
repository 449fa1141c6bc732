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

#[test]
fn journal_frame_corpus_replays_cleanly() {
    let inputs = corpus("journal_frame");
    assert!(inputs.len() >= 3, "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_journal::fuzzing::journal_frame(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}

#[test]
fn checkpoint_decode_corpus_replays_cleanly() {
    let inputs = corpus("checkpoint_decode");
    assert!(!inputs.is_empty(), "the seed corpus is checked in");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| memoir_journal::fuzzing::checkpoint_decode(&bytes));
        assert!(outcome.is_ok(), "corpus input {} panics", path.display());
    }
}

/// Seeds for the network and checkpoint targets. Run by hand like
/// `write_seed_corpus`.
#[test]
#[ignore]
fn write_network_seed_corpus() {
    use bytes::{Bytes, BytesMut};
    use memoir_journal::wire::*;
    use memoir_journal::{LeaderId, Seq, WriterId};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let dir = root.join("journal_frame");
    std::fs::create_dir_all(&dir).unwrap();
    let frame = |kind: FrameKind, body: Vec<u8>| {
        let mut out = BytesMut::new();
        encode_frame(kind, &body, &mut out);
        out.to_vec()
    };
    let hello = Hello {
        magic: PROTOCOL_MAGIC,
        version: PROTOCOL_VERSION,
        role: Role::Client,
    };
    let append = Request {
        id: 1,
        body: RequestBody::Append {
            writer: WriterId::random(),
            writer_seq: 1,
            leader: LeaderId::random(),
            payload: Bytes::from_static(b"payload"),
        },
    };
    let entries = Response {
        id: 2,
        body: ResponseBody::Entries {
            entries: vec![(Seq(3), Bytes::from_static(b"x"))],
            committed: Seq(3),
            checksum: Some(memoir_journal::log_checksum::LogChecksum {
                through: Seq(3),
                value: 0x1234_5678,
            }),
        },
    };
    let mut both = frame(FrameKind::Hello, encode_body(&hello));
    both.extend(frame(FrameKind::Request, encode_body(&append)));
    for (name, bytes) in [
        ("hello-and-append", both),
        ("entries", frame(FrameKind::Response, encode_body(&entries))),
        ("raft-empty", frame(FrameKind::Raft, Vec::new())),
        (
            "truncated",
            frame(FrameKind::Request, encode_body(&append))[..12].to_vec(),
        ),
    ] {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
    let dir = root.join("checkpoint_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut state = memoir_journal::state::JournalState::default();
    state.apply_noop(7, 2);
    memoir_journal::checkpoint::save(tmp.path(), &state).unwrap();
    std::fs::copy(
        tmp.path().join(memoir_journal::checkpoint::FILE_NAME),
        dir.join("seed-state"),
    )
    .unwrap();
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
