//! The segment store of one replica: [`Log`].
//!
//! Writes go through one writer thread (see `writer.rs` for the group-commit
//! barrier); reads are served on the caller's thread from an in-memory index
//! of batch locations and `pread`, and see only durable entries.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::thread;

use bytes::Bytes;
use crossbeam_channel::Sender;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::format::{decode_entries, BatchHeader, Compression};
use crate::io::{open_backend, FaultInjector, IoKind, IoMode};
use crate::recent::RecentBatches;
use crate::recovery::{recover, RecoveryMode};
use crate::scan::BatchLoc;
use crate::segment::{read_at, remove_temporaries, sync_dir};
use crate::seq::{Appended, Seq};
use crate::writer::{AppendReply, Request, Writer};

/// How a [`Log`] behaves. `Default` is what production uses.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Size new segment files are preallocated to. A batch that does not fit
    /// in the rest of a segment starts the next one.
    pub segment_size_bytes: u64,
    pub io: IoMode,
    pub recovery: RecoveryMode,
    pub compression: Compression,
    /// Bounds on one group commit (one write + one fdatasync). A single
    /// append larger than `max_group_bytes` is a group of its own.
    pub max_group_bytes: usize,
    pub max_group_entries: usize,
    /// Bound on appends waiting for the writer; `append` blocks the caller
    /// while the queue is full (backpressure rather than unbounded memory).
    pub queue_capacity: usize,
    /// Write zeros over new segments (on the preallocation thread) instead
    /// of only `fallocate`-ing them. An fdatasync of a write into
    /// already-written blocks is a pure data flush; into unwritten extents
    /// it also commits the extent conversion to the filesystem journal.
    /// Measured on this machine's ext4 (4 KiB write + fdatasync, p50):
    /// zero-filled 89 us, fallocated 183 us, growing file 246 us. Costs one
    /// background write of each segment's size.
    pub zero_fill_segments: bool,
    /// The seq of the first entry of a brand-new log.
    pub first_seq: Seq,
    /// Test hook: inject I/O errors.
    pub faults: Option<Arc<FaultInjector>>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size_bytes: 64 << 20,
            io: IoMode::Auto,
            recovery: RecoveryMode::TolerateTornTail,
            compression: Compression::default(),
            max_group_bytes: 4 << 20,
            max_group_entries: 16 * 1024,
            queue_capacity: 64 * 1024,
            zero_fill_segments: true,
            first_seq: Seq::FIRST,
            faults: None,
        }
    }
}

impl LogOptions {
    /// Defaults, with the I/O backend taken from `MEMOIR_IO` (so that one
    /// environment variable switches a whole test suite's backend).
    pub fn from_env() -> Result<LogOptions> {
        let io = IoMode::from_env().map_err(Error::InvalidArgument)?;
        Ok(LogOptions {
            io,
            ..LogOptions::default()
        })
    }

    fn validate(&self) -> Result<()> {
        if self.segment_size_bytes < 4096 {
            return Err(Error::InvalidArgument(
                "segment_size_bytes must be at least 4096".into(),
            ));
        }
        if self.max_group_entries == 0 || self.max_group_bytes == 0 || self.queue_capacity == 0 {
            return Err(Error::InvalidArgument("group and queue bounds must be positive".into()));
        }
        if self.first_seq == Seq(0) {
            return Err(Error::InvalidArgument("first_seq must be at least 1".into()));
        }
        Ok(())
    }
}

/// One committed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: Seq,
    pub data: Bytes,
}

/// Counters, for benchmarks and `status()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Group commits: each is one write + one fdatasync.
    pub groups: u64,
    pub appends: u64,
    pub entries: u64,
    pub bytes_written: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStatus {
    pub first_seq: Seq,
    pub next_seq: Seq,
    pub segments: usize,
    pub io: IoKind,
    pub poisoned: Option<String>,
    pub stats: LogStats,
}

/// A segment as readers see it.
#[derive(Debug)]
pub(crate) struct IndexedSegment {
    /// The number in the file's name.
    pub id: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    pub first_seq: Seq,
    /// One past the last live seq.
    pub end_seq: Seq,
    pub batches: Vec<BatchLoc>,
}

/// What is durable, where. Only the writer thread changes it, and only after
/// the bytes it describes are durable.
#[derive(Debug)]
pub(crate) struct Index {
    /// In log order; their live ranges are contiguous.
    pub segments: Vec<IndexedSegment>,
    /// The newest batches' bytes (see `recent.rs`).
    pub recent: RecentBatches,
}

impl Index {
    pub fn first_seq(&self) -> Seq {
        self.segments.first().map_or(Seq::FIRST, |s| s.first_seq)
    }

    pub fn next_seq(&self) -> Seq {
        self.segments.last().map_or(Seq::FIRST, |s| s.end_seq)
    }

    /// The segment and batch holding `seq`, if it is live.
    pub fn locate(&self, seq: Seq) -> Option<(&IndexedSegment, BatchLoc)> {
        let s = self.segments.partition_point(|s| s.end_seq <= seq);
        let segment = self.segments.get(s)?;
        if seq < segment.first_seq {
            return None;
        }
        let b = segment.batches.partition_point(|b| b.end_seq() <= seq);
        let batch = *segment.batches.get(b)?;
        (batch.first_seq <= seq).then_some((segment, batch))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub groups: AtomicU64,
    pub appends: AtomicU64,
    pub entries: AtomicU64,
    pub bytes_written: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub index: RwLock<Index>,
    pub poison: Mutex<Option<String>>,
    pub counters: Counters,
}

impl Shared {
    pub fn poisoned(&self) -> Option<String> {
        self.poison.lock().ok().and_then(|p| p.clone())
    }

    pub fn check_poison(&self) -> Result<()> {
        match self.poisoned() {
            Some(cause) => Err(Error::Poisoned { cause }),
            None => Ok(()),
        }
    }

    pub fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // A panic while holding the lock is a bug we never recover from
        // anyway; the index itself is always consistent between updates.
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The result of a request to the writer thread: a future, or `wait()` for
/// callers that are not async.
#[must_use = "the operation is only known to be durable once this resolves"]
pub struct Pending<T> {
    state: PendingState<T>,
}

enum PendingState<T> {
    Waiting(oneshot::Receiver<Result<T>>),
    Ready(Option<Result<T>>),
}

impl<T> Pending<T> {
    pub(crate) fn waiting(rx: oneshot::Receiver<Result<T>>) -> Pending<T> {
        Pending {
            state: PendingState::Waiting(rx),
        }
    }

    pub(crate) fn ready(result: Result<T>) -> Pending<T> {
        Pending {
            state: PendingState::Ready(Some(result)),
        }
    }

    /// Blocks the current thread until the result is known. Do not call it
    /// from inside an async runtime's worker thread.
    pub fn wait(self) -> Result<T> {
        match self.state {
            PendingState::Waiting(rx) => rx.blocking_recv().unwrap_or(Err(Error::Closed)),
            PendingState::Ready(result) => result.unwrap_or(Err(Error::Closed)),
        }
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Pending` holds no self-references, so it is Unpin.
        match &mut self.get_mut().state {
            PendingState::Waiting(rx) => Pin::new(rx).poll(cx).map(|r| r.unwrap_or(Err(Error::Closed))),
            PendingState::Ready(result) => Poll::Ready(result.take().unwrap_or(Err(Error::Closed))),
        }
    }
}

impl<T> Unpin for Pending<T> {}

/// One replica's local log: durable, checksummed, group-committed.
pub struct Log {
    shared: Arc<Shared>,
    requests: Option<Sender<Request>>,
    writer: Option<thread::JoinHandle<()>>,
    io: IoKind,
    _lock: File,
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering from whatever a crash
    /// left. Fails on corruption, naming the file and offset.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        create_dir_durably(&dir)?;
        let lock = lock_dir(&dir)?;
        remove_temporaries(&dir)?;
        let backend = open_backend(options.io).map_err(|e| Error::io("setting up io_uring for", &dir, e))?;
        let io = backend.kind();
        let mut backend: Box<dyn crate::io::IoBackend> = match &options.faults {
            Some(faults) => Box::new(crate::io::fault::FaultyIo {
                inner: backend,
                faults: faults.clone(),
            }),
            None => backend,
        };
        let recovered = recover(&dir, options.recovery, backend.as_mut())?;
        let (writer, shared) = Writer::start(dir.clone(), options.clone(), backend, recovered)?;
        let status_index = shared.read_index();
        tracing::info!(
            dir = %dir.display(),
            io = %io,
            first_seq = %status_index.first_seq(),
            next_seq = %status_index.next_seq(),
            segments = status_index.segments.len(),
            "journal log opened"
        );
        drop(status_index);
        let (requests, handle) = writer.spawn(options.queue_capacity)?;
        Ok(Log {
            shared,
            requests: Some(requests),
            writer: Some(handle),
            io,
            _lock: lock,
        })
    }

    /// Appends `entries` as consecutive seqs. The entries are queued at call
    /// time (so calls are ordered as made, however the futures are polled);
    /// the returned future resolves once they are durable. Blocks the calling
    /// thread only while the bounded queue is full.
    pub fn append(&self, entries: Vec<Bytes>) -> Pending<Appended> {
        if let Err(e) = self.check_appendable(&entries) {
            return Pending::ready(Err(e));
        }
        let bytes = entries.iter().map(|e| e.len() + 4).sum();
        self.request(|reply| Request::Append {
            entries,
            bytes,
            reply: AppendReply::Channel(reply),
        })
    }

    /// Like [`Log::append`], but `done` runs on the writer thread once the
    /// entries are durable (or failed). For callers that wait on their own
    /// queue rather than on futures; `done` must be quick and never block.
    pub fn append_then(&self, entries: Vec<Bytes>, done: impl FnOnce(Result<Appended>) + Send + 'static) {
        if let Err(e) = self.check_appendable(&entries) {
            done(Err(e));
            return;
        }
        let bytes = entries.iter().map(|e| e.len() + 4).sum();
        let request = Request::Append {
            entries,
            bytes,
            reply: AppendReply::Callback(Box::new(done)),
        };
        let Some(requests) = &self.requests else {
            if let Request::Append { reply, .. } = request {
                reply.send_closed();
            }
            return;
        };
        if let Err(crossbeam_channel::SendError(Request::Append { reply, .. })) = requests.send(request) {
            reply.send_closed();
        }
    }

    /// Fails fast, before queueing, on an empty append or a poisoned log.
    fn check_appendable(&self, entries: &[Bytes]) -> Result<()> {
        if entries.is_empty() {
            return Err(Error::InvalidArgument("append needs at least one entry".into()));
        }
        self.shared.check_poison()
    }

    /// Queues `truncate_after` without waiting; its failure poisons the log,
    /// which fails every later append.
    pub fn truncate_after_queued(&self, seq: Seq) {
        drop(self.truncate_after(seq));
    }

    /// Appends a single entry.
    pub fn append_one(&self, entry: impl Into<Bytes>) -> Pending<Appended> {
        self.append(vec![entry.into()])
    }

    /// Removes every entry after `seq` (the consensus layer cuts an
    /// uncommitted suffix this way). Durable when it resolves.
    pub fn truncate_after(&self, seq: Seq) -> Pending<()> {
        self.request(|reply| Request::TruncateAfter { seq, reply })
    }

    /// Deletes whole segments whose entries are all below `before`. Returns
    /// how many segment files were removed. The segment being written is
    /// never removed, so entries below `before` may remain readable.
    pub fn trim(&self, before: Seq) -> Pending<usize> {
        self.request(|reply| Request::Trim { before, reply })
    }

    /// Drops every entry and restarts the log empty at `next` (after the
    /// consensus layer installs a snapshot that covers everything below it).
    pub fn reset(&self, next: Seq) -> Pending<()> {
        self.request(|reply| Request::Reset { next, reply })
    }

    fn request<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Request) -> Pending<T> {
        let (tx, rx) = oneshot::channel();
        let Some(requests) = &self.requests else {
            return Pending::ready(Err(Error::Closed));
        };
        if requests.send(make(tx)).is_err() {
            return Pending::ready(Err(Error::Closed));
        }
        Pending::waiting(rx)
    }

    /// Reads durable entries from `from` on, up to about `max_bytes` of
    /// entry data (always at least one entry if any is there). `from` equal
    /// to `next_seq()` gives an empty result.
    pub fn read(&self, from: Seq, max_bytes: usize) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut total = 0usize;
        let mut seq = from;
        loop {
            let (file, path, batch, live_end, cached) = {
                let index = self.shared.read_index();
                let (first, next) = (index.first_seq(), index.next_seq());
                if seq == next {
                    return Ok(out);
                }
                let Some((segment, batch)) = index.locate(seq) else {
                    return Err(Error::OutOfRange {
                        requested: seq,
                        first,
                        next,
                    });
                };
                (
                    segment.file.clone(),
                    segment.path.clone(),
                    batch,
                    segment.end_seq,
                    index.recent.get(segment.id, &batch),
                )
            };
            let entries = read_batch(&file, &path, &batch, cached)?;
            let skip = (seq.0 - batch.first_seq.0) as usize;
            let live = (live_end.0.min(batch.end_seq().0) - batch.first_seq.0) as usize;
            for data in entries.into_iter().take(live).skip(skip) {
                if !out.is_empty() && total + data.len() > max_bytes {
                    return Ok(out);
                }
                total += data.len();
                out.push(Entry { seq, data });
                seq = seq.next();
            }
        }
    }

    /// Whether the batch holding `seq` is in memory (`recent.rs`): reading
    /// it costs no disk I/O.
    pub fn in_memory(&self, seq: Seq) -> bool {
        let index = self.shared.read_index();
        index
            .locate(seq)
            .is_some_and(|(segment, batch)| index.recent.get(segment.id, &batch).is_some())
    }

    /// The first retained seq (equal to `next_seq()` when the log is empty).
    pub fn first_seq(&self) -> Seq {
        self.shared.read_index().first_seq()
    }

    /// The seq the next append will get.
    pub fn next_seq(&self) -> Seq {
        self.shared.read_index().next_seq()
    }

    /// The last durable seq, if any.
    pub fn last_seq(&self) -> Option<Seq> {
        let index = self.shared.read_index();
        (index.next_seq() > index.first_seq()).then(|| index.next_seq().prev())
    }

    pub fn io_kind(&self) -> IoKind {
        self.io
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn stats(&self) -> LogStats {
        let c = &self.shared.counters;
        LogStats {
            groups: c.groups.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            entries: c.entries.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
        }
    }

    pub fn status(&self) -> LogStatus {
        let index = self.shared.read_index();
        LogStatus {
            first_seq: index.first_seq(),
            next_seq: index.next_seq(),
            segments: index.segments.len(),
            io: self.io,
            poisoned: self.shared.poisoned(),
            stats: self.stats(),
        }
    }

    /// Waits for queued requests to finish and stops the writer thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads one batch, from `cached` (its bytes from `Index::recent`) or else
/// from its file, and verifies both checksums again: the disk may have
/// changed since recovery looked at it.
pub(crate) fn read_batch(file: &File, path: &Path, batch: &BatchLoc, cached: Option<Bytes>) -> Result<Vec<Bytes>> {
    let bytes = match cached {
        Some(bytes) => bytes,
        None => Bytes::from(read_at(file, path, batch.offset, batch.disk_len as usize)?),
    };
    let corrupt = |e: crate::format::FormatError| Error::Corruption {
        path: path.to_path_buf(),
        offset: batch.offset,
        reason: e.to_string(),
    };
    let header = BatchHeader::decode(&bytes).map_err(corrupt)?;
    header.verify_payload(&bytes, batch.seed).map_err(corrupt)?;
    decode_entries(&header, &bytes).map_err(corrupt)
}

/// Creates `dir` (and parents) and makes its entry in the parent durable.
fn create_dir_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        let handle = File::open(parent).map_err(|e| Error::io("opening directory", parent, e))?;
        handle
            .sync_all()
            .map_err(|e| Error::io("syncing directory", parent, e))?;
    }
    Ok(())
}

/// One process per log directory: an exclusive `flock` on `dir/LOCK`, held
/// for the life of the [`Log`].
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("creating", &path, e))?;
    // SAFETY: plain syscall on a valid, open file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(Error::Locked {
                path: dir.to_path_buf(),
            });
        }
        return Err(Error::io("locking", &path, err));
    }
    Ok(file)
}

/// Makes the entries of a directory (creates, renames, deletes) durable.
pub fn sync_directory(dir: &Path) -> Result<()> {
    sync_dir(&mut crate::io::SyncIo, dir)
}
