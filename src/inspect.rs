//! `memoir inspect segments DIR`: a read-only look at journal segments.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use memoir_journal::format::{decode_entries, BatchHeader};
use memoir_journal::scan::{scan_segment, ScanEnd};
use memoir_journal::segment::{list_segments, read_file};

/// Prints one line per segment and verifies every batch (both checksums and
/// the entry framing). Exits non-zero if anything is damaged. Never writes.
pub fn segments(dir: &Path, show_entries: bool) -> anyhow::Result<ExitCode> {
    let files = list_segments(dir).with_context(|| format!("listing {}", dir.display()))?;
    if files.is_empty() {
        println!("no segments in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut damaged = 0usize;
    let last_index = files.len() - 1;
    for (i, (id, path)) in files.iter().enumerate() {
        let bytes = read_file(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let scan = match scan_segment(&bytes, *id) {
            Ok(scan) => scan,
            Err(e) => {
                damaged += 1;
                println!("{name} CORRUPT offset=0 reason=\"segment header: {e}\"");
                continue;
            }
        };
        let entries: u64 = scan.batches.iter().map(|b| b.count as u64).sum();
        let mut bad_entry = None;
        for batch in &scan.batches {
            let at = batch.offset as usize;
            let decoded = BatchHeader::decode(&bytes[at..]).and_then(|h| decode_entries(&h, &bytes[at..]));
            match decoded {
                Ok(list) if show_entries => {
                    for (k, entry) in list.iter().enumerate() {
                        println!(
                            "  seq={} len={} offset={}",
                            batch.first_seq.plus(k as u64),
                            entry.len(),
                            batch.offset
                        );
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    bad_entry = Some(format!("offset={} reason=\"{e}\"", batch.offset));
                    break;
                }
            }
        }
        let end = match (&scan.end, i == last_index) {
            (ScanEnd::Clean, _) => "clean".to_string(),
            (ScanEnd::TrailingBytes { first_nonzero }, _) => format!(
                "trailing-bytes offset={first_nonzero}{}",
                if scan.later_valid_header.is_some() {
                    " (valid header follows: CORRUPT)"
                } else {
                    " (torn write remnant)"
                }
            ),
            (ScanEnd::BadBatch { reason, looks_torn }, last) => {
                let verdict = if *looks_torn && scan.later_valid_header.is_none() && last {
                    "torn tail (never acknowledged)"
                } else if !last {
                    "bad batch (corrupt unless a later segment supersedes it)"
                } else {
                    "CORRUPT"
                };
                format!("{verdict} offset={} reason=\"{reason}\"", scan.end_offset)
            }
        };
        if end.contains("CORRUPT") || bad_entry.is_some() {
            damaged += 1;
        }
        println!(
            "{name} id={id} first_seq={} next_seq={} batches={} entries={entries} bytes_used={} file_bytes={}{} end={end}{}",
            scan.header.first_seq(),
            scan.next_seq,
            scan.batches.len(),
            scan.end_offset,
            bytes.len(),
            if scan.header.is_reset() { " reset" } else { "" },
            bad_entry.map(|b| format!(" BAD-ENTRIES {b}")).unwrap_or_default(),
        );
    }
    println!("segments={} damaged={damaged}", files.len());
    Ok(if damaged == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
