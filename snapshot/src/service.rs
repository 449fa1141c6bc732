//! The snapshot service: a shadow replica that follows the journal, and
//! when the log since its last snapshot has grown past a ratio of the data
//! set (or a client asked with BGSAVE) writes, verifies and publishes a
//! snapshot, then trims the journal below the previous one.
//!
//! It runs on a thread of its own with its own single-threaded runtime,
//! at idle CPU priority when asked (`memoir dev`, where it shares the
//! machine with the primary), so the primary keeps its cores.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memoir_engine::commands::Effect;
use memoir_engine::keyspace::Keyspace;
use memoir_engine::record::{Record, ENGINE_FORMAT_VERSION};
use memoir_journal::client::{ClientError, ClientOptions, JournalClient};
use memoir_journal::log_checksum::LogChecksum;
use memoir_journal::Seq;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::build::write_files;
use crate::error::{Result, SnapshotError};
use crate::format::{chain_record, Manifest};
use crate::load::{hex, verify_fresh_snapshot};
use crate::pace::IoPacer;
use crate::source::load_newest_valid;
use crate::store::{ServiceStatus, Store};

/// The default bound on a snapshot's disk I/O: well below what this
/// machine's disk sustains, so that journal fdatasyncs sharing the disk
/// stay fast (see [`crate::pace`]).
pub const DEFAULT_IO_BYTES_PER_S: u64 = 64_000_000;

/// How the service runs; [`ServiceConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub journal: Vec<String>,
    pub store: PathBuf,
    /// Take a snapshot once the log since the last one exceeds this
    /// fraction of the data set's size.
    pub min_log_ratio: f64,
    /// How often freshness is checked (BGSAVE requests are seen at once).
    pub interval: Duration,
    /// Published snapshots kept (at least 2: the newest and a fallback).
    pub retain: usize,
    /// Records kept in the journal below the previous snapshot's seq.
    pub trim_margin: u64,
    /// Upper bound on SST files per snapshot.
    pub max_files: usize,
    /// Fewer files for small data sets: at least this many keys per file.
    pub min_keys_per_file: usize,
    pub databases: usize,
    /// Run at SCHED_IDLE (or nice 19 where that is refused).
    pub idle_priority: bool,
    /// Upper bound on a snapshot's disk I/O (writing the files and reading
    /// them back), and on the rate at which the shadow replica reads the
    /// journal, in bytes per second; 0: unlimited. It must stay above the
    /// rate at which the journal grows, or the service falls behind. See
    /// [`crate::pace`].
    pub io_bytes_per_s: u64,
    /// How often the shadow replica catches up with the journal (at once
    /// when a snapshot is wanted).
    pub catch_up_interval: Duration,
    /// TLS and the cluster secret for the links to the journal.
    pub journal_security: memoir_journal::LinkSecurity,
}

impl ServiceConfig {
    pub fn new(journal: Vec<String>, store: PathBuf) -> ServiceConfig {
        ServiceConfig {
            journal,
            store,
            min_log_ratio: 0.5,
            interval: Duration::from_secs(60),
            retain: 2,
            trim_margin: 1000,
            max_files: 4,
            min_keys_per_file: 64 * 1024,
            databases: 16,
            idle_priority: false,
            io_bytes_per_s: DEFAULT_IO_BYTES_PER_S,
            catch_up_interval: Duration::from_secs(1),
            journal_security: memoir_journal::LinkSecurity::none(),
        }
    }
}

/// Counters a caller (tests, `memoir dev`) can watch.
#[derive(Debug, Default)]
pub struct ServiceStats {
    pub applied_seq: AtomicU64,
    pub snapshots_published: AtomicU64,
    pub last_snapshot_seq: AtomicU64,
    pub failed: AtomicBool,
}

/// A running snapshot service.
pub struct SnapshotService {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    pub stats: Arc<ServiceStats>,
}

impl SnapshotService {
    /// Starts the service on its own thread.
    pub fn start(config: ServiceConfig) -> Result<SnapshotService> {
        if config.retain < 2 {
            return Err(SnapshotError::Config(
                "retain must be at least 2 (the newest and a fallback)".into(),
            ));
        }
        if config.journal.is_empty() {
            return Err(SnapshotError::Config("no journal replicas given".into()));
        }
        if config.min_log_ratio.is_nan() || config.min_log_ratio <= 0.0 {
            return Err(SnapshotError::Config("min-log-ratio must be positive".into()));
        }
        let store = Store::open(&config.store)?;
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(ServiceStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("memoir-snapshot".into())
            .spawn(move || {
                if config.idle_priority {
                    lower_priority();
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| SnapshotError::Config(format!("runtime: {e}")))?;
                let outcome = runtime.block_on(run(config, store, stopped, thread_stats.clone()));
                if let Err(error) = &outcome {
                    error!(%error, "snapshot service stopped");
                    thread_stats.failed.store(true, Ordering::Release);
                }
                outcome
            })
            .map_err(|e| SnapshotError::Config(format!("cannot start the snapshot thread: {e}")))?;
        Ok(SnapshotService {
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// Stops the service (a snapshot being written is finished first).
    pub fn stop(mut self) -> Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<()> {
        let _ = self.stop.send(true);
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(outcome)) => outcome,
            Some(Err(_)) => Err(SnapshotError::Config("the snapshot thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for SnapshotService {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// SCHED_IDLE for this thread (and the threads it starts): it runs only
/// when a core would otherwise be idle.
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain system calls on the calling thread (pid 0 / its tid).
    let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if idle != 0 {
        // SAFETY: as above.
        let nice = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
        if nice != 0 {
            warn!("could not lower the snapshot service's CPU priority");
        }
    }
}

/// The shadow replica's state: the data set at `applied`.
struct Shadow {
    keyspace: Keyspace,
    applied: u64,
    /// Running log checksum through `applied`.
    chain: u32,
    /// Payload bytes applied since the last snapshot.
    log_bytes_since: u64,
    last_snapshot_seq: u64,
}

async fn run(
    config: ServiceConfig,
    store: Store,
    mut stopped: watch::Receiver<bool>,
    stats: Arc<ServiceStats>,
) -> Result<()> {
    store.clear_builds()?;
    let _ = store.write_status(&ServiceStatus::default());
    let started = Instant::now();
    let mut shadow = match load_newest_valid(&store, config.databases, &mut |_| {})? {
        Some((keyspace, manifest, _)) => {
            info!(snapshot = %manifest.id, seq = manifest.seq, keys = manifest.keys,
                elapsed_ms = started.elapsed().as_millis() as u64, "snapshot service restored the newest snapshot");
            Shadow {
                keyspace,
                applied: manifest.seq,
                chain: manifest.log_checksum,
                log_bytes_since: 0,
                last_snapshot_seq: manifest.seq,
            }
        }
        None => Shadow {
            keyspace: Keyspace::new(config.databases),
            applied: 0,
            chain: 0,
            log_bytes_since: 0,
            last_snapshot_seq: 0,
        },
    };
    stats.applied_seq.store(shadow.applied, Ordering::Release);
    stats
        .last_snapshot_seq
        .store(shadow.last_snapshot_seq, Ordering::Release);
    let mut options = ClientOptions::new(config.journal.clone());
    options.security = config.journal_security.clone();
    let client = JournalClient::new(options);
    let mut requested = false;
    // A snapshot is wanted through this seq (the committed end when the
    // decision was made); taken once the replay gets there.
    let mut wanted: Option<u64> = None;
    let mut last_check = Instant::now();
    let mut last_catch_up: Option<Instant> = None;
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut replay_log = ReplayLog::default();
    // Catching up reads the journal replicas' disks: at the same bounded
    // rate as a snapshot's own I/O (see `crate::pace`).
    let catch_up_pacer = IoPacer::new(config.io_bytes_per_s);
    // What the status file last said: the outcome of the last snapshot and
    // how far the data set had replayed (memory nodes show it in INFO).
    let mut last_ok: Option<bool> = None;
    let mut status_applied = 0u64;
    loop {
        tokio::select! {
            _ = poll.tick() => {
                match store.take_requests() {
                    Ok(true) => {
                        info!("snapshot requested by a client (BGSAVE)");
                        requested = true;
                    }
                    Ok(false) => {}
                    Err(error) => warn!(%error, "cannot read snapshot requests"),
                }
                let catch_up_due = last_catch_up.is_none_or(|at| at.elapsed() >= config.catch_up_interval);
                if catch_up_due || requested || wanted.is_some() {
                    last_catch_up = Some(Instant::now());
                    match catch_up(&client, &mut shadow, &stats, &mut replay_log, &catch_up_pacer, &mut stopped).await? {
                        CatchUp::Stopped => {
                            info!("snapshot service stopping");
                            return Ok(());
                        }
                        CatchUp::Reached | CatchUp::Unavailable => {}
                    }
                    if shadow.applied != status_applied {
                        let _ = store.write_status(&ServiceStatus {
                            in_progress: false,
                            last_ok,
                            applied_seq: shadow.applied,
                        });
                        status_applied = shadow.applied;
                    }
                }
                if wanted.is_none() && (requested || last_check.elapsed() >= config.interval) {
                    last_check = Instant::now();
                    let dataset_bytes = shadow.keyspace.memory_bytes() as u64;
                    let fresh_enough = (shadow.log_bytes_since as f64) < config.min_log_ratio * dataset_bytes as f64;
                    if requested || !fresh_enough {
                        // The committed end, asked now: the snapshot covers
                        // everything acknowledged before it was decided.
                        match client.status().await {
                            Ok(status) => {
                                wanted = Some(status.committed.0.max(shadow.applied));
                                requested = false;
                            }
                            Err(error) => warn!(%error, "snapshot service: cannot ask the journal for its committed end; will retry"),
                        }
                    }
                }
            },
            _ = stopped.changed() => {
                info!("snapshot service stopping");
                return Ok(());
            }
        }
        if let Some(target) = wanted {
            if shadow.applied >= target && (shadow.applied > shadow.last_snapshot_seq || target == 0) {
                wanted = None;
                let outcome = take_snapshot(&config, &store, &client, &mut shadow).await;
                let ok = outcome.is_ok();
                if let Err(error) = outcome {
                    error!(%error, "snapshot failed; the next one will be tried later");
                } else {
                    stats.snapshots_published.fetch_add(1, Ordering::AcqRel);
                    stats
                        .last_snapshot_seq
                        .store(shadow.last_snapshot_seq, Ordering::Release);
                }
                last_ok = Some(ok);
                let _ = store.write_status(&ServiceStatus {
                    in_progress: false,
                    last_ok,
                    applied_seq: shadow.applied,
                });
                status_applied = shadow.applied;
            } else if shadow.applied >= target {
                // Nothing new since the last snapshot.
                wanted = None;
            }
        }
    }
}

/// What one catch-up with the journal came to.
enum CatchUp {
    /// Applied through the committed end as of when it began.
    Reached,
    /// The journal did not answer; the next tick tries again.
    Unavailable,
    Stopped,
}

/// Progress lines while replaying: one every 10 s at most.
struct ReplayLog {
    entries: u64,
    since: Instant,
}

impl Default for ReplayLog {
    fn default() -> ReplayLog {
        ReplayLog {
            entries: 0,
            since: Instant::now(),
        }
    }
}

/// Replays the journal from the shadow's seq to the committed end as of
/// now, then lets go of the subscription. Catching up in bulk, once per
/// `catch_up_interval` rather than on every commit, means the journal
/// replicas serve one large read instead of a wake-up and a small read
/// per group commit, and the service's thread stays asleep in between.
async fn catch_up(
    client: &JournalClient,
    shadow: &mut Shadow,
    stats: &ServiceStats,
    replay_log: &mut ReplayLog,
    pacer: &IoPacer,
    stopped: &mut watch::Receiver<bool>,
) -> Result<CatchUp> {
    let target = match client.status().await {
        Ok(status) => status.committed.0,
        Err(error) => {
            warn!(%error, "snapshot service: the journal does not answer; will retry");
            return Ok(CatchUp::Unavailable);
        }
    };
    if target <= shadow.applied {
        return Ok(CatchUp::Reached);
    }
    let mut subscription = client.subscribe(Seq(shadow.applied + 1));
    while shadow.applied < target {
        tokio::select! {
            batch = subscription.next() => match batch {
                Ok(batch) => {
                    let mut batch_bytes = 0u64;
                    for (seq, payload) in batch.entries {
                        batch_bytes += payload.len() as u64;
                        if seq.0 <= shadow.applied {
                            continue;
                        }
                        apply_record(&mut shadow.keyspace, seq.0, &payload)?;
                        shadow.chain = chain_record(shadow.chain, seq.0, &payload);
                        shadow.applied = seq.0;
                        shadow.log_bytes_since += payload.len() as u64;
                        replay_log.entries += 1;
                    }
                    stats.applied_seq.store(shadow.applied, Ordering::Release);
                    if let Some(journal) = batch.checksum {
                        verify_log_checksum(shadow, journal)?;
                    }
                    if replay_log.since.elapsed() >= Duration::from_secs(10) && replay_log.entries > 0 {
                        info!(applied = shadow.applied, target, entries = replay_log.entries, "snapshot service replaying the journal");
                        *replay_log = ReplayLog::default();
                    }
                    if let Some(wait) = pacer.delay(batch_bytes) {
                        tokio::time::sleep(wait).await;
                    }
                }
                Err(ClientError::Trimmed(message)) => {
                    return Err(SnapshotError::Log {
                        seq: shadow.applied + 1,
                        reason: format!("the journal is trimmed past it ({message}) and no snapshot covers the gap"),
                    });
                }
                Err(error) => {
                    warn!(%error, "snapshot service: journal subscription failed; will retry");
                    return Ok(CatchUp::Unavailable);
                }
            },
            _ = stopped.changed() => return Ok(CatchUp::Stopped),
        }
    }
    Ok(CatchUp::Reached)
}

/// The shadow's running checksum against the journal's, once the shadow
/// has applied everything through the journal's point: a difference means
/// the snapshot it started from does not cover the log it claims to (or
/// the replay went wrong), and nothing built on it may be published.
fn verify_log_checksum(shadow: &Shadow, journal: LogChecksum) -> Result<()> {
    if journal.through.0 < shadow.applied || shadow.chain == journal.value {
        return Ok(());
    }
    Err(SnapshotError::Log {
        seq: journal.through.0,
        reason: format!(
            "running log checksum {:08x} differs from the journal's {:08x}: the data set replayed from the last \
             snapshot (seq {}) is not the journal's log",
            shadow.chain, journal.value, shadow.last_snapshot_seq
        ),
    })
}

/// Applies one log record to the shadow data set, as a replica would.
fn apply_record(keyspace: &mut Keyspace, seq: u64, payload: &[u8]) -> Result<()> {
    match Record::decode(payload) {
        Ok(Record::Effects(ops)) => {
            for op in ops {
                let effect = Effect::from(op);
                keyspace
                    .apply(&effect)
                    .map_err(|reason| SnapshotError::Log { seq, reason })?;
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(SnapshotError::Log {
            seq,
            reason: e.to_string(),
        }),
    }
}

/// Writes, verifies and publishes a snapshot of `shadow`, then trims the
/// journal below the previous snapshot and applies retention.
async fn take_snapshot(
    config: &ServiceConfig,
    store: &Store,
    client: &JournalClient,
    shadow: &mut Shadow,
) -> Result<()> {
    let _ = store.write_status(&ServiceStatus {
        in_progress: true,
        last_ok: None,
        applied_seq: shadow.applied,
    });
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().to_string();
    let build = store.build_dir(&id)?;
    let digest = shadow.keyspace.digest();
    let keys = shadow.keyspace.total_keys() as u64;
    info!(snapshot = %id, seq = shadow.applied, keys, "snapshot started");
    let written = AtomicU64::new(0);
    let pacer = IoPacer::new(config.io_bytes_per_s);
    let finished = AtomicBool::new(false);
    let files = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut last = Instant::now();
            while !finished.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= Duration::from_secs(1) {
                    last = Instant::now();
                    let done = written.load(Ordering::Relaxed);
                    info!(snapshot = %id, keys_written = done, keys, "snapshot writing");
                }
            }
        });
        let files = write_files(
            &shadow.keyspace,
            &build,
            config.max_files,
            config.min_keys_per_file,
            &written,
            &pacer,
        );
        finished.store(true, Ordering::Release);
        files
    });
    let files = match files {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&build);
            return Err(e);
        }
    };
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    info!(snapshot = %id, files = files.len(), bytes, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot files written");
    let manifest = Manifest {
        id: id.clone(),
        seq: shadow.applied,
        log_checksum: shadow.chain,
        digest,
        engine_format: ENGINE_FORMAT_VERSION,
        databases: u32::try_from(config.databases).unwrap_or(u32::MAX),
        keys,
        created_unix_ms: unix_ms(),
        files,
    };
    // Verify before publishing: read every file back and recompute the
    // digest; it must equal the one computed from the replayed data.
    if let Err(e) = verify_fresh_snapshot(&build, &manifest, &store.scratch_dir(), &pacer) {
        let _ = std::fs::remove_dir_all(&build);
        return Err(e);
    }
    let published = store.publish(&build, &manifest)?;
    shadow.last_snapshot_seq = manifest.seq;
    shadow.log_bytes_since = 0;
    info!(snapshot = %id, seq = manifest.seq, keys, bytes, digest = %hex(&digest),
        elapsed_ms = started.elapsed().as_millis() as u64, path = %published.path.display(), "snapshot published");
    let removed = store.retain(config.retain)?;
    for old in removed {
        info!(snapshot = %old.id, seq = old.seq, "old snapshot deleted");
    }
    // Trim below the previous snapshot (minus a margin), never below the
    // newest alone: if the newest turns out unreadable, the previous one
    // plus the log after it still rebuild everything.
    let snapshots = store.list()?;
    if let Some(previous) = snapshots.get(1) {
        let before = (previous.seq + 1).saturating_sub(config.trim_margin).max(1);
        if before > 1 {
            match client.trim(Seq(before)).await {
                Ok(point) => info!(requested = before, in_force = %point, "journal trimmed"),
                Err(error) => warn!(%error, "journal trim failed; will retry after the next snapshot"),
            }
        }
    }
    Ok(())
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
