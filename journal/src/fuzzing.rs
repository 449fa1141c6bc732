//! Entry points for the cargo-fuzz targets in `fuzz/`, kept in the crate so
//! that `cargo test` replays the checked-in corpora through the same code.

use crate::format::{BatchHeader, BATCH_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::scan::{decode_segment, scan_segment, ScanEnd};

/// Feeds arbitrary bytes to the segment scanner and decoder as if they were
/// a segment file. Must return (data or an error) without panicking, and
/// whatever it accepts must be self-consistent; the assertions below are the
/// fuzz target's oracle.
pub fn segment_decode(data: &[u8]) {
    // The file name's id: taken from the header position so the fuzzer can
    // reach the deeper code, and sometimes deliberately wrong.
    let id = data
        .get(16..24)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .unwrap_or(0);
    let Ok(scan) = scan_segment(data, id) else {
        return;
    };
    let mut expected_offset = SEGMENT_HEADER_LEN as u64;
    let mut expected_seq = scan.header.first_seq();
    for batch in &scan.batches {
        assert_eq!(batch.offset, expected_offset, "batches are contiguous");
        assert_eq!(batch.first_seq, expected_seq, "seqs are dense");
        assert!(batch.offset + batch.disk_len as u64 <= data.len() as u64 + 8);
        assert!(batch.disk_len as usize >= BATCH_HEADER_LEN);
        let header = BatchHeader::decode(&data[batch.offset as usize..]).expect("an accepted batch re-decodes");
        assert_eq!(header.count, batch.count);
        expected_offset += batch.disk_len as u64;
        expected_seq = expected_seq.plus(batch.count as u64);
    }
    assert_eq!(scan.end_offset, expected_offset);
    assert_eq!(scan.next_seq, expected_seq);
    if let ScanEnd::BadBatch { .. } = scan.end {
        assert!(scan.end_offset <= data.len() as u64);
    }
    if let Some(later) = scan.later_valid_header {
        assert!(later > scan.end_offset || scan.end != ScanEnd::Clean);
    }
    // Entry decoding of the accepted batches: data or an error, never more
    // entries than the headers promised.
    if let Ok(entries) = decode_segment(data, id) {
        let promised: u64 = scan.batches.iter().map(|b| b.count as u64).sum();
        assert_eq!(entries.len() as u64, promised);
    }
}

/// Feeds arbitrary bytes to the network frame decoder and every message
/// decoder behind it, as a replica's listener would.
pub fn journal_frame(data: &[u8]) {
    use crate::wire::{decode_body, decode_frame, FrameKind, Hello, HelloReply, Request, Response};
    use protobuf::Message as _;
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut buf) {
        match frame.kind {
            FrameKind::Hello => drop(decode_body::<Hello>("hello", &frame.body)),
            FrameKind::HelloReply => drop(decode_body::<HelloReply>("hello reply", &frame.body)),
            FrameKind::Request => drop(decode_body::<Request>("request", &frame.body)),
            FrameKind::Response => drop(decode_body::<Response>("response", &frame.body)),
            FrameKind::Raft => drop(raft::prelude::Message::parse_from_bytes(&frame.body)),
            FrameKind::AuthChallenge => drop(crate::auth::AuthChallenge::decode(&frame.body)),
            FrameKind::AuthReply => drop(crate::auth::AuthReply::decode(&frame.body)),
            FrameKind::AuthProof => drop(crate::auth::AuthProof::decode(&frame.body)),
        }
    }
    // Raft entries as stored in the log, and the commands inside them.
    if let Ok(entry) = crate::raft_storage::decode_entry(&bytes::Bytes::copy_from_slice(data)) {
        let _ = crate::state::Command::decode(&entry.data);
    }
}

/// Arbitrary bytes as a state checkpoint file, and as a raft hard-state
/// file (the journal's other small state file read at start-up).
pub fn checkpoint_decode(data: &[u8]) {
    let _ = crate::checkpoint::decode(data);
    let _ = crate::hard_state::decode(data);
}
