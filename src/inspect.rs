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
    // A journal replica's data directory keeps its segments in `log/`:
    // take either.
    let nested = dir.join("log");
    let dir = if nested.is_dir() { nested.as_path() } else { dir };
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

/// `memoir inspect snapshot DIR`: DIR is one snapshot (it holds a
/// MANIFEST) or a store (every published snapshot, newest first). Prints
/// the manifest, then reads every file back and verifies sizes, CRCs, SST
/// block checksums, values and the digest. Exits non-zero on any damage.
pub fn snapshot(dir: &Path) -> anyhow::Result<ExitCode> {
    use memoir_snapshot::format::MANIFEST_NAME;
    use memoir_snapshot::store::read_manifest;
    use memoir_snapshot::Store;

    let (targets, scratch) = if dir.join(MANIFEST_NAME).exists() {
        let scratch = tempfile_dir(dir)?;
        (vec![dir.to_path_buf()], scratch)
    } else {
        let store = Store::open(dir).with_context(|| format!("opening store {}", dir.display()))?;
        let list = store.list()?;
        if list.is_empty() {
            println!("no snapshots in {}", dir.display());
            return Ok(ExitCode::SUCCESS);
        }
        (list.into_iter().map(|s| s.path).collect(), store.scratch_dir())
    };
    let mut damaged = 0usize;
    for target in targets {
        let manifest = match read_manifest(&target) {
            Ok(manifest) => manifest,
            Err(e) => {
                damaged += 1;
                println!("{} INVALID reason=\"{e}\"", target.display());
                continue;
            }
        };
        println!(
            "{} id={} seq={} keys={} bytes={} files={} databases={} engine_format={} log_checksum={:#010x} digest={} created_unix_ms={}",
            target.display(),
            manifest.id,
            manifest.seq,
            manifest.keys,
            manifest.total_bytes(),
            manifest.files.len(),
            manifest.databases,
            manifest.engine_format,
            manifest.log_checksum,
            memoir_snapshot::load::hex(&manifest.digest),
            manifest.created_unix_ms
        );
        for file in &manifest.files {
            println!(
                "  {} size={} crc32c={:#010x} keys={}",
                file.name, file.size, file.crc32c, file.keys
            );
        }
        match memoir_snapshot::load::read_snapshot(&target, &manifest, None, &scratch, &mut |_| {}) {
            Ok(_) => println!("  verified: every file read back, digest matches"),
            Err(e) => {
                damaged += 1;
                println!("  CORRUPT {e}");
            }
        }
    }
    Ok(if damaged == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A scratch directory beside a lone snapshot (same file system).
fn tempfile_dir(snapshot: &Path) -> anyhow::Result<std::path::PathBuf> {
    let parent = snapshot.parent().unwrap_or(snapshot);
    let scratch = parent.join(".memoir-inspect-scratch");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    Ok(scratch)
}
