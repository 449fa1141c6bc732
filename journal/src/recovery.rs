//! Opening a log directory: scan every segment, resolve which bytes form the
//! log, and decide what to do about a damaged end.
//!
//! The rules (also in docs/format.md, "Recovery"):
//! - Segments are read in id order. A segment whose header says `RESET`
//!   makes every older segment obsolete.
//! - A segment whose first seq is *below* the end of the log before it
//!   supersedes everything from that seq on (this is how `truncate_after`
//!   rewrites history without overwriting bytes in place).
//! - A segment whose first seq is *above* that end is a gap: corruption.
//! - A bad batch inside any segment but the last is corruption, unless a
//!   later segment supersedes it.
//! - At the end of the last segment, damage that looks like a write that did
//!   not finish (claimed bytes past the end of the file, or whole sectors of
//!   zeros, and no valid batch header after it) is a torn tail: it was never
//!   acknowledged, so it is dropped and logged. Anything else is corruption,
//!   reported with file and offset.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::io::IoBackend;
use crate::scan::{scan_segment, BatchLoc, ScanEnd, SegmentScan};
use crate::segment::{list_segments, read_file, remove_files};
use crate::seq::Seq;

/// What to do when the log on disk is damaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Drop a torn tail (it was never acknowledged); refuse to open on
    /// corruption anywhere, naming the file and offset.
    #[default]
    TolerateTornTail,
    /// Refuse to open on any damage, a torn tail included.
    Strict,
    /// Keep the longest valid prefix and drop everything from the first bad
    /// batch on, loudly. For a replica that will refill the rest from its
    /// peers; never the right choice for a single copy of the data.
    TruncateAtFirstBadBatch,
}

impl std::str::FromStr for RecoveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tolerate-torn-tail" => Ok(RecoveryMode::TolerateTornTail),
            "strict" => Ok(RecoveryMode::Strict),
            "truncate-at-first-bad-batch" => Ok(RecoveryMode::TruncateAtFirstBadBatch),
            other => Err(format!(
                "unknown recovery mode {other:?} (expected tolerate-torn-tail, strict or truncate-at-first-bad-batch)"
            )),
        }
    }
}

/// One segment as recovery leaves it: its logical range and valid batches.
#[derive(Debug)]
pub(crate) struct RecoveredSegment {
    pub id: u64,
    pub path: PathBuf,
    pub first_seq: Seq,
    /// One past the last seq that belongs to the log (a later segment may
    /// have cut this one short).
    pub end_seq: Seq,
    pub batches: Vec<BatchLoc>,
    /// Where the next batch would go, and its CRC seed: meaningful only for
    /// the last segment.
    pub end_offset: u64,
    pub chain: u32,
}

impl RecoveredSegment {
    fn from_scan(id: u64, path: PathBuf, scan: SegmentScan) -> RecoveredSegment {
        RecoveredSegment {
            id,
            path,
            first_seq: scan.header.first_seq(),
            end_seq: scan.next_seq,
            batches: scan.batches,
            end_offset: scan.end_offset,
            chain: scan.chain,
        }
    }

    /// Cuts the logical range at `at` (which must lie inside it). A batch
    /// straddling `at` stays indexed: its entries below `at` are still live.
    fn cut_at(&mut self, at: Seq) {
        self.end_seq = at;
        self.batches.retain(|b| b.first_seq < at);
    }
}

#[derive(Debug)]
pub(crate) struct Recovered {
    pub segments: Vec<RecoveredSegment>,
    /// The last segment ends cleanly and can take more batches; otherwise
    /// the writer must start a new segment at the end of the log.
    pub last_is_appendable: bool,
}

/// The damage found at the end of a segment's valid part.
struct Damage {
    path: PathBuf,
    offset: u64,
    reason: String,
    torn: bool,
}

impl Damage {
    fn of(path: &Path, scan: &SegmentScan) -> Option<Damage> {
        let (offset, reason, torn) = match &scan.end {
            ScanEnd::Clean => return None,
            ScanEnd::TrailingBytes { first_nonzero } => (
                *first_nonzero,
                "non-zero bytes after the end of the log".to_string(),
                scan.later_valid_header.is_none(),
            ),
            ScanEnd::BadBatch { reason, looks_torn } => (
                scan.end_offset,
                reason.to_string(),
                *looks_torn && scan.later_valid_header.is_none(),
            ),
        };
        let reason = match scan.later_valid_header {
            Some(later) => format!("{reason}; a valid batch header follows at offset {later}"),
            None => reason,
        };
        Some(Damage {
            path: path.to_path_buf(),
            offset,
            reason,
            torn,
        })
    }

    fn into_corruption(self) -> Error {
        Error::Corruption {
            path: self.path,
            offset: self.offset,
            reason: self.reason,
        }
    }
}

/// Reads and resolves every segment in `dir`. May delete segment files that
/// are provably obsolete (superseded, or older than a reset) and, in salvage
/// mode, everything after the first bad batch.
pub(crate) fn recover(dir: &Path, mode: RecoveryMode, backend: &mut dyn IoBackend) -> Result<Recovered> {
    let files = list_segments(dir)?;
    let mut kept: Vec<RecoveredSegment> = Vec::new();
    let mut obsolete: Vec<PathBuf> = Vec::new();
    // Damage at the end of `kept.last()`, judged once we know what follows.
    let mut damage: Option<Damage> = None;
    let mut salvaged_from: Option<usize> = None;

    for (i, (id, path)) in files.iter().enumerate() {
        let bytes = read_file(path)?;
        let scan = match scan_segment(&bytes, *id) {
            Ok(scan) => scan,
            Err(e) => {
                let error = Error::Corruption {
                    path: path.clone(),
                    offset: 0,
                    reason: format!("segment header: {e}"),
                };
                if mode == RecoveryMode::TruncateAtFirstBadBatch {
                    warn!(%error, "salvage recovery: dropping this segment and every later one");
                    salvaged_from = Some(i);
                    break;
                }
                return Err(error);
            }
        };
        let first = scan.header.first_seq();
        if scan.header.is_reset() {
            obsolete.extend(kept.drain(..).map(|s| s.path));
        } else if let Some(previous) = kept.last() {
            let previous_end = previous.end_seq;
            if first > previous_end {
                let error = match damage.take() {
                    Some(damage) => damage.into_corruption(),
                    None => Error::Corruption {
                        path: path.clone(),
                        offset: 24,
                        reason: format!(
                            "segment starts at seq {first} but the log before it ends at seq {previous_end}"
                        ),
                    },
                };
                if mode == RecoveryMode::TruncateAtFirstBadBatch {
                    warn!(%error, "salvage recovery: dropping the log from here on");
                    salvaged_from = Some(i);
                    break;
                }
                return Err(error);
            }
            // Contiguous, or superseding part of what came before: any
            // damage at the end of the previous segment was never part of
            // the log (it is replaced below).
            while let Some(last) = kept.last_mut() {
                if last.first_seq >= first {
                    if let Some(gone) = kept.pop() {
                        obsolete.push(gone.path);
                    }
                } else {
                    if last.end_seq > first {
                        last.cut_at(first);
                    }
                    break;
                }
            }
        }
        damage = Damage::of(path, &scan);
        kept.push(RecoveredSegment::from_scan(*id, path.clone(), scan));
    }

    // Judge the damage at the end of the log.
    let mut last_is_appendable = true;
    if let Some(from) = salvaged_from {
        let doomed: Vec<PathBuf> = files[from..].iter().rev().map(|(_, p)| p.clone()).collect();
        remove_files(backend, dir, &doomed)?;
        last_is_appendable = false;
    } else if let Some(damage) = damage {
        match (damage.torn, mode) {
            (true, RecoveryMode::Strict) => {
                return Err(Error::TornTail {
                    path: damage.path,
                    offset: damage.offset,
                    reason: damage.reason,
                })
            }
            (true, _) => {
                warn!(
                    file = %damage.path.display(),
                    offset = damage.offset,
                    reason = %damage.reason,
                    "torn tail: the last write before the crash did not finish; it was never acknowledged and is dropped"
                );
                last_is_appendable = false;
            }
            (false, RecoveryMode::TruncateAtFirstBadBatch) => {
                warn!(
                    file = %damage.path.display(),
                    offset = damage.offset,
                    reason = %damage.reason,
                    "salvage recovery: corruption at the end of the log; dropping everything from here on"
                );
                last_is_appendable = false;
            }
            (false, _) => return Err(damage.into_corruption()),
        }
    }

    // Newest first, so that a crash part-way leaves a set that resolves the
    // same way (see the module docs).
    obsolete.sort();
    obsolete.reverse();
    if !obsolete.is_empty() {
        info!(
            count = obsolete.len(),
            "removing obsolete segments (superseded or older than a reset)"
        );
        remove_files(backend, dir, &obsolete)?;
    }
    Ok(Recovered {
        segments: kept,
        last_is_appendable,
    })
}
