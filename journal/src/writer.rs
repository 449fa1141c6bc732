//! The writer thread and its group-commit barrier.
//!
//! # The barrier
//!
//! Every mutation of the log is a [`Request`] on one bounded queue, consumed
//! by one thread. Appends that are waiting when the thread becomes free form
//! a *group*: their entries are encoded into **one batch**, written with
//! **one write and one fdatasync** (linked in io_uring), and only then are
//! their callers answered. While that flush is in flight, new appends queue
//! up and form the next group. An idle log adds no delay: the thread blocks
//! on the queue and starts a flush the moment one append arrives.
//!
//! Invariants (checked by tests in `tests/`):
//! 1. **Durable before visible.** The index that readers use, and every
//!    caller's reply, is updated only after the group's fdatasync returned
//!    success. A reader never sees an entry that a crash could lose.
//! 2. **Order.** Seqs are assigned in queue order, which is call order;
//!    within a group, entries keep the order of their appends.
//! 3. **Bounded.** The queue holds at most `queue_capacity` requests, a group
//!    at most `max_group_entries` entries and `max_group_bytes` bytes (one
//!    oversized append is a group alone).
//! 4. **No retry after a failed write or fsync.** The log is poisoned: the
//!    failing group gets the error, every later request gets `Poisoned`, and
//!    nothing is acknowledged again until a restart recovers from disk.
//! 5. **History is never overwritten in place.** `truncate_after` and
//!    `reset` start a new segment that supersedes older bytes (see
//!    `recovery.rs`), so a crash at any point leaves either the old log or
//!    the new one, never a mix.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use crate::error::{Error, Result};
use crate::format::{
    align_up, encode_batch, segment_salt, SegmentHeader, BATCH_HEADER_LEN, SEGMENT_FLAG_RESET, SEGMENT_HEADER_LEN,
};
use crate::io::{AlignedBuf, AppendTarget, IoBackend, StageError, DIRECT_ALIGN};
use crate::log::{read_batch, Counters, Index, IndexedSegment, LogOptions, Shared};
use crate::recent::RecentBatches;
use crate::recovery::Recovered;
use crate::scan::BatchLoc;
use crate::segment::{open_for_read_write, read_at, remove_files, segment_file_name, sync_dir, Preparer};
use crate::seq::{Appended, Seq};
use crate::warn_throttle::WarnThrottle;

/// Where an append's result goes: a future's channel, or a callback run on
/// the writer thread right after the fsync (for the raft driver, which
/// waits on its own inbox rather than on futures).
pub(crate) enum AppendReply {
    Channel(oneshot::Sender<Result<Appended>>),
    Callback(Box<dyn FnOnce(Result<Appended>) + Send>),
}

impl AppendReply {
    pub(crate) fn send_closed(self) {
        self.send(Err(Error::Closed));
    }

    fn send(self, result: Result<Appended>) {
        match self {
            AppendReply::Channel(tx) => {
                let _ = tx.send(result);
            }
            AppendReply::Callback(f) => f(result),
        }
    }
}

pub(crate) enum Request {
    Append {
        entries: Vec<Bytes>,
        /// Encoded size (entries plus their length prefixes).
        bytes: usize,
        reply: AppendReply,
    },
    TruncateAfter {
        seq: Seq,
        reply: oneshot::Sender<Result<()>>,
    },
    Trim {
        before: Seq,
        reply: oneshot::Sender<Result<usize>>,
    },
    Reset {
        next: Seq,
        reply: oneshot::Sender<Result<()>>,
    },
}

struct AppendRequest {
    entries: Vec<Bytes>,
    reply: AppendReply,
}

/// The segment being written.
struct Active {
    /// The number in the file's name.
    id: u64,
    path: PathBuf,
    file: Arc<fs::File>,
    target: AppendTarget,
    write_offset: u64,
    chain: u32,
    capacity: u64,
}

impl Active {
    fn has_batches(&self) -> bool {
        self.write_offset > SEGMENT_HEADER_LEN as u64
    }
}

pub(crate) struct Writer {
    dir: PathBuf,
    options: LogOptions,
    shared: Arc<Shared>,
    backend: Box<dyn IoBackend>,
    preparer: Preparer,
    /// `None` when the next append must start a new segment (after a torn
    /// tail, or before the first segment exists).
    active: Option<Active>,
    next_seq: Seq,
    next_segment_id: u64,
    /// Reused encoding buffer.
    buf: Vec<u8>,
    /// Reused aligned buffer for direct writes.
    aligned: AlignedBuf,
}

impl Writer {
    /// Builds the index from what recovery found and makes sure there is a
    /// segment to append to.
    pub fn start(
        dir: PathBuf,
        options: LogOptions,
        backend: Box<dyn IoBackend>,
        recovered: Recovered,
    ) -> Result<(Writer, Arc<Shared>)> {
        let mut segments = Vec::with_capacity(recovered.segments.len());
        let mut active = None;
        let last_id = recovered.segments.last().map(|s| s.id);
        for segment in recovered.segments {
            let file = Arc::new(open_for_read_write(&segment.path)?);
            if Some(segment.id) == last_id && recovered.last_is_appendable {
                let capacity = file
                    .metadata()
                    .map_err(|e| Error::io("reading metadata of", &segment.path, e))?
                    .len()
                    .max(options.segment_size_bytes);
                let target = append_target(backend.as_ref(), &segment.path, &file, segment.end_offset)?;
                active = Some(Active {
                    id: segment.id,
                    path: segment.path.clone(),
                    file: file.clone(),
                    target,
                    write_offset: segment.end_offset,
                    chain: segment.chain,
                    capacity,
                });
            }
            segments.push(IndexedSegment {
                id: segment.id,
                path: segment.path,
                file,
                first_seq: segment.first_seq,
                end_seq: segment.end_seq,
                batches: segment.batches,
            });
        }
        let mut index = Index {
            segments,
            recent: RecentBatches::default(),
        };
        if let Some(active) = &active {
            remember_open_block(&mut index, active)?;
        }
        let fresh = index.segments.is_empty();
        let next_seq = if fresh { options.first_seq } else { index.next_seq() };
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            index: RwLock::new(index),
            poison: Mutex::new(None),
            counters: Counters::default(),
        });
        let preparer = Preparer::start(
            dir.clone(),
            options.segment_size_bytes,
            options.zero_fill_segments,
            options.faults.clone(),
        )?;
        let mut writer = Writer {
            dir,
            options,
            shared: shared.clone(),
            backend,
            preparer,
            active,
            next_seq,
            next_segment_id: last_id.map_or(1, |id| id + 1),
            buf: Vec::new(),
            aligned: AlignedBuf::default(),
        };
        if writer.active.is_none() {
            // A fresh directory, or the tail was torn: never append into a
            // region that may hold garbage; start a clean segment.
            let (segment, _) = writer.open_segment(next_seq, 0, &[])?;
            writer.shared.write_index().segments.push(segment);
        }
        Ok((writer, shared))
    }

    pub fn spawn(self, queue_capacity: usize) -> Result<(Sender<Request>, thread::JoinHandle<()>)> {
        let (tx, rx) = bounded(queue_capacity);
        let dir = self.dir.clone();
        let handle = thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || self.run(rx))
            .map_err(|e| Error::io("spawning the writer thread for", dir, e))?;
        Ok((tx, handle))
    }

    fn run(mut self, requests: Receiver<Request>) {
        let mut carried: Option<Request> = None;
        // Appends in the previous group, and how long its flush took: the
        // linger below uses them to tell a busy log from an idle one.
        let mut last_group_appends = 0usize;
        let mut last_flush = Duration::ZERO;
        let mut slow_flushes = SlowFlushes::default();
        loop {
            let request = match carried.take() {
                Some(request) => request,
                None => match requests.recv() {
                    Ok(request) => request,
                    Err(_) => break, // every Log handle is gone
                },
            };
            match request {
                Request::Append { entries, bytes, reply } => {
                    let lingering = Linger::start();
                    let mut group = Group::default();
                    group.push(entries, bytes, reply);
                    // Take whatever else is already waiting, within bounds.
                    loop {
                        let next = match requests.try_recv() {
                            Ok(request) => request,
                            // Linger: the writers answered by the last flush
                            // are resubmitting right now; a few microseconds
                            // gather them into this group instead of the
                            // next. Only when the log is busy (the last group
                            // had several appends), never longer than a
                            // quarter of a flush, and only while appends keep
                            // arriving.
                            Err(TryRecvError::Empty)
                                if lingering.should_wait(last_group_appends, last_flush, group.appends.len()) =>
                            {
                                match requests.recv_timeout(LINGER_GAP) {
                                    Ok(request) => request,
                                    Err(_) => break,
                                }
                            }
                            Err(_) => break,
                        };
                        if let Some(left_out) = group.join(next, &self.options) {
                            carried = Some(left_out);
                            break;
                        }
                    }
                    let group = group.appends;
                    last_group_appends = group.len();
                    let flush_started = Instant::now();
                    self.commit_group(group);
                    last_flush = flush_started.elapsed();
                    if let Some(report) = slow_flushes.record(last_flush, Instant::now()) {
                        warn!(
                            dir = %self.dir.display(),
                            slow_groups = report.count,
                            slowest_ms = report.slowest.as_millis() as u64,
                            "slow group commit: its write and fdatasync took over {} ms, and every append in it waited (a busy or stalling disk)",
                            SLOW_FLUSH.as_millis()
                        );
                    }
                }
                Request::TruncateAfter { seq, reply } => {
                    let result = self.guarded(|w| w.truncate_after(seq));
                    let _ = reply.send(result);
                }
                Request::Trim { before, reply } => {
                    let result = self.guarded(|w| w.trim(before));
                    let _ = reply.send(result);
                }
                Request::Reset { next, reply } => {
                    let result = self.guarded(|w| w.reset(next));
                    let _ = reply.send(result);
                }
            }
        }
        debug!(dir = %self.dir.display(), "journal writer stopped");
    }

    fn guarded<T>(&mut self, op: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        self.shared.check_poison()?;
        op(self)
    }

    fn commit_group(&mut self, group: Vec<AppendRequest>) {
        match self.guarded(|w| w.write_group(&group)) {
            Ok(first) => {
                let mut seq = first;
                for request in group {
                    let count = request.entries.len() as u64;
                    let appended = Appended {
                        first: seq,
                        last: seq.plus(count - 1),
                    };
                    seq = seq.plus(count);
                    request.reply.send(Ok(appended));
                }
            }
            Err(e) => {
                for request in group {
                    request.reply.send(Err(duplicate(&e)));
                }
            }
        }
    }

    /// Writes one group as one batch; returns the first seq it got.
    fn write_group(&mut self, group: &[AppendRequest]) -> Result<Seq> {
        let count: usize = group.iter().map(|r| r.entries.len()).sum();
        let raw: usize = group.iter().flat_map(|r| &r.entries).map(|e| e.len() + 4).sum();
        self.ensure_room(align_up(BATCH_HEADER_LEN + raw) as u64)?;
        let first = self.next_seq;
        let Some(active) = self.active.as_mut() else {
            return Err(Error::InvalidArgument("no active segment after a roll".into()));
        };
        let seed = active.chain;
        let chain = encode_batch(
            &mut self.buf,
            first,
            group.iter().flat_map(|r| r.entries.iter().map(|e| e.as_ref())),
            seed,
            self.options.compression,
        )
        .map_err(|e| Error::InvalidArgument(format!("cannot encode append: {e}")))?;
        let offset = active.write_offset;
        if let Err(failure) = active.target.append(
            self.backend.as_mut(),
            &active.file,
            offset,
            &self.buf,
            &mut self.aligned,
        ) {
            let path = active.path.clone();
            return Err(self.poison(failure, &path, offset, self.buf.len()));
        }
        active.write_offset += self.buf.len() as u64;
        active.chain = chain;
        let batch = BatchLoc {
            first_seq: first,
            count: count as u32,
            offset,
            disk_len: self.buf.len() as u32,
            seed,
        };
        self.next_seq = first.plus(count as u64);
        let written = Bytes::copy_from_slice(&self.buf);
        {
            let mut index = self.shared.write_index();
            if let Some(segment) = index.segments.last_mut() {
                segment.batches.push(batch);
                segment.end_seq = self.next_seq;
            }
            index.recent.push(active.id, first, offset, written);
            index.recent.evict(active.id, open_block_start(active.write_offset));
        }
        let counters = &self.shared.counters;
        counters.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counters
            .appends
            .fetch_add(group.len() as u64, std::sync::atomic::Ordering::Relaxed);
        counters
            .entries
            .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        counters
            .bytes_written
            .fetch_add(self.buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(first)
    }

    /// Starts a new segment if the next batch (at most `bound` bytes) does
    /// not fit in the active one. A segment with no batch yet takes any
    /// batch, growing past its preallocated size if it must.
    fn ensure_room(&mut self, bound: u64) -> Result<()> {
        let needs_roll = match &self.active {
            None => true,
            Some(active) => active.has_batches() && active.write_offset + bound > active.capacity,
        };
        if needs_roll {
            let (segment, _) = self.open_segment(self.next_seq, 0, &[])?;
            self.shared.write_index().segments.push(segment);
        }
        Ok(())
    }

    /// Turns the spare preallocated file into segment `next_segment_id`
    /// starting at `first_seq`, optionally holding `kept` as its first batch
    /// (written together with the header, so they become durable together),
    /// with a durable rename: write + fdatasync, rename, fsync directory.
    /// Makes it the active segment; the caller updates the index (with the
    /// kept batch's bytes, also returned, for `Index::recent`).
    fn open_segment(&mut self, first_seq: Seq, flags: u16, kept: &[Bytes]) -> Result<(IndexedSegment, Option<Bytes>)> {
        let prepared = self.preparer.take()?;
        let id = self.next_segment_id;
        let header = SegmentHeader::new(id, first_seq, flags);
        let mut bytes = bytemuck::bytes_of(&header).to_vec();
        let mut chain = segment_salt(id);
        let mut batches = Vec::new();
        if !kept.is_empty() {
            let mut buf = Vec::new();
            let crc = encode_batch(
                &mut buf,
                first_seq,
                kept.iter().map(|e| e.as_ref()),
                chain,
                self.options.compression,
            )
            .map_err(|e| Error::InvalidArgument(format!("cannot re-encode kept entries: {e}")))?;
            batches.push(BatchLoc {
                first_seq,
                count: kept.len() as u32,
                offset: bytes.len() as u64,
                disk_len: buf.len() as u32,
                seed: chain,
            });
            chain = crc;
            bytes.extend_from_slice(&buf);
        }
        let mut target = match append_target(self.backend.as_ref(), &prepared.path, &prepared.file, 0) {
            Ok(target) => target,
            Err(e) => {
                let _ = fs::remove_file(&prepared.path);
                return Err(e);
            }
        };
        if let Err(failure) = target.append(self.backend.as_mut(), &prepared.file, 0, &bytes, &mut self.aligned) {
            let _ = fs::remove_file(&prepared.path);
            return Err(self.poison(failure, &prepared.path, 0, bytes.len()));
        }
        let path = self.dir.join(segment_file_name(id));
        if let Err(e) = fs::rename(&prepared.path, &path) {
            let _ = fs::remove_file(&prepared.path);
            return Err(Error::io("renaming a new segment into", &path, e));
        }
        if let Err(e) = sync_dir(self.backend.as_mut(), &self.dir) {
            return Err(self.poison_with(format!(
                "fsync of directory failed after creating {}: {e}",
                path.display()
            )));
        }
        self.next_segment_id += 1;
        crate::segment::without_readahead(&prepared.file);
        let file = Arc::new(prepared.file);
        self.active = Some(Active {
            id,
            path: path.clone(),
            file: file.clone(),
            target,
            write_offset: bytes.len() as u64,
            chain,
            capacity: self.options.segment_size_bytes.max(bytes.len() as u64),
        });
        debug!(segment = %path.display(), first_seq = %first_seq, "new journal segment");
        let kept_bytes = (!kept.is_empty()).then(|| Bytes::copy_from_slice(&bytes[SEGMENT_HEADER_LEN..]));
        let segment = IndexedSegment {
            id,
            path,
            file,
            first_seq,
            end_seq: first_seq.plus(kept.len() as u64),
            batches,
        };
        Ok((segment, kept_bytes))
    }

    fn truncate_after(&mut self, seq: Seq) -> Result<()> {
        let cut = seq.next();
        let (first, next) = {
            let index = self.shared.read_index();
            (index.first_seq(), index.next_seq())
        };
        if cut >= next {
            return Ok(());
        }
        if cut < first {
            return Err(Error::OutOfRange {
                requested: seq,
                first,
                next,
            });
        }
        // Entries of the batch that straddles the cut, below the cut, must
        // survive: they move into the new segment's first batch.
        let (kept_first, kept) = {
            let index = self.shared.read_index();
            let Some((segment, batch)) = index.locate(cut) else {
                return Err(Error::OutOfRange {
                    requested: seq,
                    first,
                    next,
                });
            };
            if batch.first_seq < cut {
                let cached = index.recent.get(segment.id, &batch);
                let mut entries = read_batch(&segment.file, &segment.path, &batch, cached)?;
                entries.truncate((cut.0 - batch.first_seq.0) as usize);
                (batch.first_seq, entries)
            } else {
                (cut, Vec::new())
            }
        };
        let (segment, kept_bytes) = self.open_segment(kept_first, 0, &kept)?;
        let superseded = {
            let mut index = self.shared.write_index();
            // Seqs from `kept_first` on are about to be reused.
            index.recent.clear();
            if let Some(bytes) = kept_bytes {
                index
                    .recent
                    .push(segment.id, kept_first, SEGMENT_HEADER_LEN as u64, bytes);
            }
            let mut superseded = Vec::new();
            while let Some(last) = index.segments.last_mut() {
                if last.first_seq >= kept_first {
                    if let Some(gone) = index.segments.pop() {
                        superseded.push(gone.path);
                    }
                } else {
                    if last.end_seq > kept_first {
                        last.end_seq = kept_first;
                        last.batches.retain(|b| b.first_seq < kept_first);
                    }
                    break;
                }
            }
            index.segments.push(segment);
            superseded
        };
        self.next_seq = cut;
        info!(after = %seq, removed_segments = superseded.len(), "journal truncated");
        // `superseded` is newest first, the order recovery needs.
        self.remove_or_poison(&superseded)
    }

    fn trim(&mut self, before: Seq) -> Result<usize> {
        let removed: Vec<IndexedSegment> = {
            let mut index = self.shared.write_index();
            let keep_last = index.segments.len().saturating_sub(1);
            let n = index.segments[..keep_last]
                .iter()
                .take_while(|s| s.end_seq <= before)
                .count();
            index.segments.drain(..n).collect()
        };
        let paths: Vec<PathBuf> = removed.iter().map(|s| s.path.clone()).collect();
        if !paths.is_empty() {
            info!(before = %before, removed_segments = paths.len(), "journal trimmed");
        }
        // Oldest first: a crash part-way leaves a contiguous suffix.
        self.remove_or_poison(&paths)?;
        close_in_background(removed);
        Ok(paths.len())
    }

    fn reset(&mut self, next: Seq) -> Result<()> {
        if next == Seq(0) {
            return Err(Error::InvalidArgument("reset needs a seq of at least 1".into()));
        }
        let (segment, _) = self.open_segment(next, SEGMENT_FLAG_RESET, &[])?;
        let removed: Vec<PathBuf> = {
            let mut index = self.shared.write_index();
            index.recent.clear();
            let old = std::mem::take(&mut index.segments);
            index.segments.push(segment);
            old.into_iter().map(|s| s.path).collect()
        };
        self.next_seq = next;
        info!(next = %next, removed_segments = removed.len(), "journal reset");
        self.remove_or_poison(&removed)
    }

    fn remove_or_poison(&mut self, paths: &[PathBuf]) -> Result<()> {
        match remove_files(self.backend.as_mut(), &self.dir, paths) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.poison_with(format!("removing obsolete segments failed: {e}"))),
        }
    }

    fn poison(&self, failure: StageError, path: &std::path::Path, offset: u64, len: usize) -> Error {
        let stage = match failure.stage {
            crate::io::IoStage::Write => "write",
            crate::io::IoStage::Sync => "fdatasync",
        };
        let cause = format!(
            "{stage} of {len} bytes at offset {offset} of {} failed: {}",
            path.display(),
            failure.source
        );
        self.poison_with(cause);
        // The failing group learns the real cause (a full disk reads as
        // NoSpace); everything after it gets Poisoned.
        Error::io(
            if failure.stage == crate::io::IoStage::Write {
                "writing"
            } else {
                "syncing"
            },
            path,
            failure.source,
        )
    }

    fn poison_with(&self, cause: String) -> Error {
        error!(dir = %self.dir.display(), %cause, "journal poisoned: no more writes will be acknowledged");
        if let Ok(mut poison) = self.shared.poison.lock() {
            poison.get_or_insert_with(|| cause.clone());
        }
        Error::Poisoned { cause }
    }
}

/// Frees the blocks of segments already unlinked, on a short-lived thread
/// and a step at a time (`writeback::release_gradually`). The last close
/// of an unlinked file is when the file system frees its blocks; for the
/// dozens of 64 MiB segments a snapshot's trim can remove, doing that here
/// would hold up every append queued behind the trim, and doing it at once
/// makes concurrent fdatasyncs wait.
fn close_in_background(segments: Vec<IndexedSegment>) {
    if segments.is_empty() {
        return;
    }
    // If the thread cannot start, the closure and its files drop here.
    let _ = thread::Builder::new().name("journal-close".into()).spawn(move || {
        for segment in segments {
            // A reader that took the file before the trim may still read
            // it: then its blocks are freed at once when it lets go.
            if let Ok(file) = Arc::try_unwrap(segment.file) {
                if let Err(e) = crate::writeback::release_gradually(&file) {
                    debug!(segment = %segment.path.display(), error = %e, "freeing a trimmed segment's blocks");
                }
            }
        }
    });
}

/// Start of the block that the next direct write rewrites: batches that
/// reach past it must stay in `Index::recent` (see `recent.rs`).
fn open_block_start(write_offset: u64) -> u64 {
    write_offset - write_offset % DIRECT_ALIGN as u64
}

/// After recovery: puts the batches of the active segment that reach into
/// its open block into `Index::recent`, before any reader can look and any
/// direct write can rewrite the block.
fn remember_open_block(index: &mut Index, active: &Active) -> Result<()> {
    let keep_from = open_block_start(active.write_offset);
    let Some(segment) = index.segments.iter().find(|s| s.id == active.id) else {
        return Ok(());
    };
    let open: Vec<BatchLoc> = segment
        .batches
        .iter()
        .filter(|b| b.offset + u64::from(b.disk_len) > keep_from)
        .copied()
        .collect();
    for batch in open {
        let bytes = read_at(&segment.file, &segment.path, batch.offset, batch.disk_len as usize)?;
        index
            .recent
            .push(active.id, batch.first_seq, batch.offset, Bytes::from(bytes));
    }
    Ok(())
}

/// How appends reach `path`: direct if the backend prefers it and the
/// filesystem supports O_DIRECT (tmpfs does not), buffered otherwise.
fn append_target(backend: &dyn IoBackend, path: &std::path::Path, file: &fs::File, end: u64) -> Result<AppendTarget> {
    if !backend.prefers_direct() {
        return Ok(AppendTarget::buffered());
    }
    match AppendTarget::direct(path, file, end) {
        Ok(target) => Ok(target),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            debug!(segment = %path.display(), "O_DIRECT unsupported here; buffered appends");
            Ok(AppendTarget::buffered())
        }
        Err(e) => Err(Error::io("opening for direct writes", path, e)),
    }
}

/// The appends of one group commit and their totals.
#[derive(Default)]
struct Group {
    appends: Vec<AppendRequest>,
    entries: usize,
    bytes: usize,
}

impl Group {
    fn push(&mut self, entries: Vec<Bytes>, bytes: usize, reply: AppendReply) {
        self.entries += entries.len();
        self.bytes += bytes;
        self.appends.push(AppendRequest { entries, reply });
    }

    /// Adds `request` if it is an append that fits the group's bounds;
    /// otherwise hands it back, to start the next round.
    fn join(&mut self, request: Request, options: &LogOptions) -> Option<Request> {
        match request {
            Request::Append { entries, bytes, reply }
                if self.entries + entries.len() <= options.max_group_entries
                    && self.bytes + bytes <= options.max_group_bytes =>
            {
                self.push(entries, bytes, reply);
                None
            }
            other => Some(other),
        }
    }
}

/// A group commit slower than this is logged: every append in the group
/// waited for it. On a healthy disk a flush takes well under a millisecond
/// (docs/performance.md); tens of milliseconds mean the flush queued behind
/// other I/O on the device, or the device stalled.
const SLOW_FLUSH: Duration = Duration::from_millis(50);
/// At most one slow-commit warning per interval; the others are counted
/// into the next.
const SLOW_FLUSH_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Slow group commits since the last warning.
#[derive(Default)]
struct SlowFlushes {
    throttle: WarnThrottle,
    count: u64,
    slowest: Duration,
}

/// What one slow-commit warning says.
#[derive(Debug, PartialEq, Eq)]
struct SlowFlushReport {
    count: u64,
    slowest: Duration,
}

impl SlowFlushes {
    /// Records one group commit's time; a report when a warning is due
    /// (the first slow commit at once, then at most one per interval).
    fn record(&mut self, took: Duration, now: Instant) -> Option<SlowFlushReport> {
        if took >= SLOW_FLUSH {
            self.count += 1;
            self.slowest = self.slowest.max(took);
        }
        if self.count == 0 || !self.throttle.due(now, SLOW_FLUSH_REPORT_INTERVAL) {
            return None;
        }
        let report = SlowFlushReport {
            count: self.count,
            slowest: self.slowest,
        };
        self.count = 0;
        self.slowest = Duration::ZERO;
        Some(report)
    }
}

/// Longest pause between two arrivals that still counts as "appends keep
/// arriving" while lingering.
const LINGER_GAP: Duration = Duration::from_micros(20);

/// The adaptive wait before a flush (see `run`).
struct Linger {
    started: Instant,
}

impl Linger {
    fn start() -> Linger {
        Linger {
            started: Instant::now(),
        }
    }

    /// Wait for more only if the log is busy and this group is still
    /// smaller than the last one, within a quarter of the last flush time.
    fn should_wait(&self, last_group_appends: usize, last_flush: Duration, group_len: usize) -> bool {
        last_group_appends >= 2
            && group_len < last_group_appends.saturating_mul(2)
            && self.started.elapsed() < last_flush / 4
    }
}

/// Gives each caller in a failed group its own copy of the error.
fn duplicate(e: &Error) -> Error {
    match e {
        Error::Corruption { path, offset, reason } => Error::Corruption {
            path: path.clone(),
            offset: *offset,
            reason: reason.clone(),
        },
        Error::TornTail { path, offset, reason } => Error::TornTail {
            path: path.clone(),
            offset: *offset,
            reason: reason.clone(),
        },
        Error::Poisoned { cause } => Error::Poisoned { cause: cause.clone() },
        Error::NoSpace { op, path } => Error::NoSpace { op, path: path.clone() },
        Error::Io { op, path, source } => Error::Io {
            op,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::OutOfRange { requested, first, next } => Error::OutOfRange {
            requested: *requested,
            first: *first,
            next: *next,
        },
        Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
        Error::Security(s) => Error::Security(s.clone()),
        Error::Locked { path } => Error::Locked { path: path.clone() },
        Error::Closed => Error::Closed,
        Error::Startup(s) => Error::Startup(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_commits_are_reported_at_once_then_at_most_once_per_interval() {
        let mut slow = SlowFlushes::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let fast = SLOW_FLUSH / 10;
        assert_eq!(slow.record(fast, at(0)), None, "a fast commit is not reported");
        assert_eq!(
            slow.record(SLOW_FLUSH * 2, at(10)),
            Some(SlowFlushReport {
                count: 1,
                slowest: SLOW_FLUSH * 2
            }),
            "the first slow commit is reported at once"
        );
        assert_eq!(slow.record(SLOW_FLUSH * 3, at(20)), None);
        assert_eq!(slow.record(SLOW_FLUSH, at(30)), None);
        assert_eq!(slow.record(fast, at(40)), None);
        let next = 10 + SLOW_FLUSH_REPORT_INTERVAL.as_millis() as u64;
        assert_eq!(slow.record(fast, at(next - 1)), None, "not before the interval is over");
        assert_eq!(
            slow.record(fast, at(next)),
            Some(SlowFlushReport {
                count: 2,
                slowest: SLOW_FLUSH * 3
            }),
            "the slow commits meanwhile are counted into the next report, even on a fast commit"
        );
        assert_eq!(slow.record(fast, at(next + 1)), None, "nothing slow since");
    }
}
