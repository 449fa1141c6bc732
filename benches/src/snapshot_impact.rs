//! `memoir-bench snapshot-impact`: what taking a snapshot costs the server
//! that answers the clients, in latency and resident memory, in Memoir and
//! in redis-server.
//!
//! The same data set (`--keys` keys `key:%010d` of `--value-size`
//! pseudo-random, incompressible bytes) is loaded into each server in
//! turn, then `--clients` threads issue GET and SET (alternately, on random
//! existing keys, one request at a time each over a redis-rs connection)
//! while this process triggers a snapshot:
//! - redis-server (no AOF, `--save ''`): BGSAVE, which forks a child that
//!   writes dump.rdb; the window lasts until `rdb_bgsave_in_progress` is
//!   back to 0 (with `rdb_last_bgsave_status:ok`).
//! - Memoir: BGSAVE to the primary, which forwards it to the snapshot
//!   service; the window lasts until the primary's `INFO persistence`
//!   shows a new `memoir_snapshot_seq`. Before the steady load starts,
//!   the snapshot service has replayed the whole load (its
//!   `memoir_snapshot_service_applied_seq` has reached the primary's seq).
//!
//! Memoir runs as the components `memoir dev` runs in one process, but as
//! separate processes so that the primary's RSS is its own: three `memoir
//! journal` replicas, one `memoir server --snapshot-store STORE` (the
//! primary) and one `memoir snapshot --idle` (the snapshot service, at
//! SCHED_IDLE, snapshotting only when asked: `--interval 3600s
//! --min-log-ratio 1000000`).
//!
//! The last line on stdout:
//! - `*_p100_ms_before`, `*_p100_ms_during`: the slowest request (GET or
//!   SET) that completed in the `--before-s` seconds before the trigger, and
//!   between the trigger and the end of the snapshot. A request counts in
//!   the window in which it completed, so one stalled by the fork counts as
//!   "during".
//! - `redis_rss_growth_pct`, `memoir_primary_rss_growth_pct`: (highest VmRSS
//!   sampled every 20 ms during the window − VmRSS just before the trigger)
//!   / VmRSS just before × 100, of redis-server's parent process and of
//!   Memoir's primary. The fork child shares the parent's pages
//!   copy-on-write, so the parent's RSS does not show the pages copied; the
//!   child's VmRSS and Private_Dirty (the copied pages: Redis's real extra
//!   memory) are printed on stderr. For Memoir, the snapshot service's RSS
//!   (a second copy of the data set, held all the time, in another process
//!   that may run on another machine) is printed on stderr.
//! - `snapshot_mb`: the new snapshot's files (`memoir_snapshot_bytes`) in MB
//!   of 10^6 bytes; `snapshot_s`: seconds from BGSAVE to the new snapshot's
//!   seq in the primary's INFO.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;

use crate::cluster::{server_command, snapshot_on_request_command, Journals};
use crate::memory::{load, wait_primary, DataSet, SplitMix64, Values, LEASE_MS};
use crate::redis_compare::{
    connect, finish_scratch, info, info_field, memoir_bin, ratio, reserve_port, vm_rss_kib, wait_log_line,
    wait_writable, which, Memoir, Proc, ScratchArgs, Server, Target, START_TIMEOUT, STOP_GRACE,
};
use crate::stats::{latency_histogram, record, scratch_dir};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keys to load (`key:%010d`).
    #[arg(long, default_value_t = 2_000_000)]
    keys: u64,
    /// Bytes per value (pseudo-random, incompressible).
    #[arg(long, default_value_t = 500)]
    value_size: usize,
    /// SETs per pipelined batch while loading.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// Client threads of the steady GET/SET load.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Length of the "before" window, in seconds. As long as a snapshot of
    /// the default data set takes here (about a minute): the slowest request
    /// of a window grows with the window, so a 5 s window against a 60 s one
    /// compares fewer draws from the same tail with more (on 2026-11-27, with
    /// 5 s: 23.6 ms before, 50.6 during; with 60 s: 43.5 before, 36.7 during).
    #[arg(long, default_value_t = 60)]
    before_s: u64,
    /// Pause between loading and the steady load, in seconds (for Memoir,
    /// after the snapshot service has replayed the loaded keys).
    #[arg(long, default_value_t = 5)]
    settle_s: u64,
    /// Upper bound on one snapshot (from BGSAVE to its end), in seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    /// Memoir's snapshot store (default: in the scratch directory, on the
    /// same disk as the journal replicas); another disk or machine is the
    /// off-box store of a deployment. Must be empty or absent.
    #[arg(long)]
    store: Option<PathBuf>,
    #[command(flatten)]
    scratch: ScratchArgs,
}

impl Args {
    fn data_set(&self) -> DataSet {
        DataSet {
            keys: self.keys,
            value_size: self.value_size,
            batch: self.batch,
            values: Values::Random,
        }
    }
}

/// Requests of the steady load before the "before" window, not counted.
const WARM_UP: Duration = Duration::from_secs(1);
/// How often VmRSS is sampled during the window.
const RSS_PACE: Duration = Duration::from_millis(20);
/// How often INFO persistence is asked whether the snapshot is done.
const POLL_PACE: Duration = Duration::from_millis(100);
/// Read and write timeout of the steady load's connections.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.keys == 0 || args.value_size == 0 || args.batch == 0 || args.clients == 0 || args.before_s == 0 {
        bail!("--keys, --value-size, --batch, --clients and --before-s must be at least 1");
    }
    which("redis-server")?;
    let bin = memoir_bin(args.scratch.memoir_bin.as_deref())?;
    let scratch = scratch_dir(args.scratch.dir.as_deref())?;
    eprintln!(
        "memoir-bench snapshot-impact: data and logs in {}",
        scratch.path().display()
    );
    let result = both(&args, &bin, scratch.path());
    finish_scratch(scratch, args.scratch.keep, result.is_err());
    let (memoir, redis) = result?;
    let memoir_during = memoir.window.during.max_ms();
    let memoir_before = memoir.window.before.max_ms();
    let redis_during = redis.window.during.max_ms();
    let memoir_growth = memoir.window.rss_growth_pct();
    goal(
        "Memoir's P100 during the snapshot <= 0.25 x Redis's during BGSAVE",
        ratio(memoir_during, redis_during),
        0.25,
        "x",
    );
    goal(
        "Memoir's P100 during the snapshot <= 1.5 x its own before",
        ratio(memoir_during, memoir_before),
        1.5,
        "x",
    );
    goal("Memoir primary's RSS growth <= 1%", memoir_growth, 1.0, "%");
    println!(
        "snapshot keys={} redis_p100_ms_during={:.2} memoir_p100_ms_during={:.2} redis_p100_ms_before={:.2} memoir_p100_ms_before={:.2} redis_rss_growth_pct={:.2} memoir_primary_rss_growth_pct={:.2} snapshot_mb={:.1} snapshot_s={:.1}",
        args.keys,
        redis_during,
        memoir_during,
        redis.window.before.max_ms(),
        memoir_before,
        redis.window.rss_growth_pct(),
        memoir_growth,
        memoir.snapshot_bytes as f64 / 1e6,
        memoir.window.seconds,
    );
    Ok(())
}

/// Prints whether a goal (`value <= limit`) was met, on stderr.
pub fn goal(what: &str, value: f64, limit: f64, unit: &str) {
    let verdict = if value <= limit { "met" } else { "NOT met" };
    eprintln!("goal: {what}: {value:.2}{unit} ({verdict})");
}

/// One server's measurement.
struct Measured {
    window: Window,
    /// Bytes of the snapshot written (Memoir's files, or dump.rdb).
    snapshot_bytes: u64,
}

fn both(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<(Measured, Measured)> {
    // Memoir first: if it cannot start, fail before the redis run.
    let m = measure_memoir(args, bin, scratch)?;
    let r = measure_redis(args, bin, scratch)?;
    Ok((m, r))
}

fn measure_memoir(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<Measured> {
    let mut memoir = Deployment::start(bin, &scratch.join("memoir"), args.store.as_deref())?;
    let data = args.data_set();
    let log = memoir.primary.log().to_path_buf();
    let (load_s, con) = load(&data, memoir.port, PRIMARY, &log, &mut || memoir.check_running())?;
    drop(con);
    report_load(PRIMARY, &data, load_s);
    wait_service_caught_up(memoir.port, Duration::from_secs(args.timeout_s), &mut || {
        memoir.check_running()
    })?;
    settle(args.settle_s, &mut || memoir.check_running())?;
    let side = Side::Process {
        name: "memoir snapshot (the snapshot service)",
        pid: memoir.service.pid(),
        before_kib: 0,
        max_kib: 0,
    };
    let (primary_pid, port) = (memoir.primary.pid(), memoir.port);
    let window = measure_window(Kind::Memoir, port, primary_pid, side, &data, args, &mut || {
        memoir.check_running()
    })?;
    window.report(PRIMARY);
    let Some(snapshot_bytes) = window.snapshot_bytes else {
        bail!("{PRIMARY} reported no memoir_snapshot_bytes after the snapshot");
    };
    eprintln!(
        "memoir snapshot: {:.1} MB in {:.1} s",
        snapshot_bytes as f64 / 1e6,
        window.seconds
    );
    memoir.stop();
    Ok(Measured { window, snapshot_bytes })
}

fn measure_redis(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<Measured> {
    let target = Target::RedisNoPersist;
    // The memoir binary is not used for redis-server.
    let mut server = Server::start(target, &Memoir::Bin(bin.to_path_buf()), scratch)?;
    let data = args.data_set();
    let log = server.proc.log().to_path_buf();
    let (load_s, con) = load(&data, server.port, target.describe(), &log, &mut || {
        server.proc.check_running()
    })?;
    drop(con);
    report_load(target.describe(), &data, load_s);
    settle(args.settle_s, &mut || server.proc.check_running())?;
    let side = Side::ForkChild {
        parent: server.proc.pid(),
        max_rss_kib: 0,
        max_dirty_kib: 0,
        next_dirty: Instant::now(),
    };
    let (pid, port) = (server.proc.pid(), server.port);
    let window = measure_window(Kind::Redis, port, pid, side, &data, args, &mut || {
        server.proc.check_running()
    })?;
    window.report(target.describe());
    let rdb = server.dir.join("dump.rdb");
    let snapshot_bytes = std::fs::metadata(&rdb)
        .with_context(|| format!("BGSAVE wrote no {}", rdb.display()))?
        .len();
    eprintln!(
        "redis-server BGSAVE: {:.1} MB of RDB in {:.1} s",
        snapshot_bytes as f64 / 1e6,
        window.seconds
    );
    server.stop();
    Ok(Measured { window, snapshot_bytes })
}

pub fn report_load(what: &str, data: &DataSet, load_s: f64) {
    eprintln!(
        "{what}: {} keys of {} bytes loaded in {:.1} s ({:.0} keys/s)",
        data.keys,
        data.value_size,
        load_s,
        data.keys as f64 / load_s
    );
}

/// Waits until the snapshot service has replayed everything the primary
/// has applied (`memoir_snapshot_service_applied_seq` in the primary's
/// `INFO persistence`), so that the "before" window does not measure the
/// service catching up with the load (a gigabyte of journal at its paced
/// rate) and BGSAVE does not wait for it.
fn wait_service_caught_up(
    port: u16,
    timeout: Duration,
    check_running: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut con = connect(port, Duration::from_secs(10)).context("connecting to the primary")?;
    let journal = info(&mut con, "journal").context("INFO journal")?;
    let target = info_field(&journal, "journal_applied_seq")
        .ok_or_else(|| anyhow!("no journal_applied_seq in INFO journal"))?
        .parse::<u64>()
        .context("journal_applied_seq is not a number")?;
    let started = Instant::now();
    loop {
        check_running()?;
        let persistence = info(&mut con, "persistence").context("INFO persistence")?;
        let applied = info_field(&persistence, "memoir_snapshot_service_applied_seq")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if applied >= target {
            eprintln!(
                "  snapshot service caught up with the load (seq {target}) after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() >= timeout {
            bail!(
                "the snapshot service replayed only through seq {applied} of {target} within {} s",
                timeout.as_secs()
            );
        }
        std::thread::sleep(POLL_PACE);
    }
}

/// Sleeps `seconds`, failing early if a process dies.
pub fn settle(seconds: u64, check_running: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        check_running()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Memoir as separate processes, with its snapshot service (shared with
// `rehydrate`).

pub const PRIMARY: &str = "memoir server (primary)";

/// Three `memoir journal` replicas, `memoir snapshot` (on request only, at
/// idle priority) and one `memoir server --snapshot-store` primary.
pub struct Deployment {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub journals: Journals,
    pub service: Proc,
    pub primary: Proc,
    /// The primary's RESP port.
    pub port: u16,
    /// The snapshot store (`memoir snapshot --store`, `memoir server --snapshot-store`).
    pub store: PathBuf,
}

impl Deployment {
    /// Starts the processes with data and logs in `dir` (and the snapshot
    /// store in `store`, default `dir`/store) and waits until the memory
    /// node is primary and acknowledges a write.
    pub fn start(bin: &Path, dir: &Path, store: Option<&Path>) -> anyhow::Result<Deployment> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (journal_ports, port) = {
            let mut held = Vec::new();
            let journal_ports = [
                reserve_port(&mut held)?,
                reserve_port(&mut held)?,
                reserve_port(&mut held)?,
            ];
            (journal_ports, reserve_port(&mut held)?)
        };
        let started = Instant::now();
        let mut journals = Journals::start(bin, dir, journal_ports)?;
        let store = store.map_or_else(|| dir.join("store"), Path::to_path_buf);
        let cmd = snapshot_on_request_command(bin, &journals.addrs, &store);
        let mut service = Proc::spawn("memoir snapshot", cmd, &dir.join("snapshot.log"))?;
        wait_log_line(&mut service, "snapshot service ready", START_TIMEOUT)?;
        let cmd = memoir_server_command(bin, &journals.addrs, port, &dir.join("primary"), &store, false);
        let mut primary = Proc::spawn("memoir server", cmd, &dir.join("primary.log"))?;
        wait_primary(
            &mut journals,
            &mut primary,
            port,
            START_TIMEOUT + Duration::from_millis(LEASE_MS),
        )?;
        wait_writable(&mut primary, port, START_TIMEOUT)?;
        eprintln!(
            "{PRIMARY} (pid {}) on 127.0.0.1:{port} after {:.1} s; snapshot service (pid {}) storing in {}; journal replicas on {}",
            primary.pid(),
            started.elapsed().as_secs_f64(),
            service.pid(),
            store.display(),
            journals.addrs,
        );
        Ok(Deployment {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            journals,
            service,
            primary,
            port,
            store,
        })
    }

    /// Fails (with the end of its log) if a process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        self.journals.check_running()?;
        self.service.check_running()?;
        self.primary.check_running()
    }

    pub fn stop(self) {
        self.primary.stop(STOP_GRACE);
        self.service.stop(STOP_GRACE);
        self.journals.stop();
    }
}

/// `memoir server ... --snapshot-store STORE [--replica-only]`.
pub fn memoir_server_command(
    bin: &Path,
    journal: &str,
    port: u16,
    data_dir: &Path,
    store: &Path,
    replica_only: bool,
) -> std::process::Command {
    let mut cmd = server_command(bin, journal, port, data_dir, LEASE_MS);
    cmd.arg("--snapshot-store").arg(store);
    if replica_only {
        cmd.arg("--replica-only");
    }
    cmd
}

// ---------------------------------------------------------------------------
// Triggering a snapshot and telling when it is done.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Memoir,
    Redis,
}

/// A snapshot asked for with BGSAVE, polled with INFO persistence.
pub struct Snapshot {
    kind: Kind,
    /// Memoir: `memoir_snapshot_seq` before BGSAVE.
    seq_before: u64,
    /// Memoir: `rdb_bgsave_in_progress:1` was seen.
    seen_in_progress: bool,
}

/// A finished snapshot: Memoir's seq and bytes (Redis reports neither).
pub struct Done {
    pub seq: Option<u64>,
    pub bytes: Option<u64>,
}

impl Snapshot {
    /// Sends BGSAVE and checks its reply.
    pub fn trigger(kind: Kind, con: &mut redis::Connection) -> anyhow::Result<Snapshot> {
        let seq_before = match kind {
            Kind::Memoir => {
                let text = info(con, "persistence").context("INFO persistence")?;
                number(&text, "memoir_snapshot_seq")?
            }
            Kind::Redis => 0,
        };
        let reply: String = redis::cmd("BGSAVE").query(con).context("BGSAVE")?;
        if reply != "Background saving started" {
            bail!("BGSAVE replied {reply:?}");
        }
        Ok(Snapshot {
            kind,
            seq_before,
            seen_in_progress: false,
        })
    }

    /// `Some` once the snapshot is done; an error if it failed.
    pub fn poll(&mut self, con: &mut redis::Connection) -> anyhow::Result<Option<Done>> {
        let text = info(con, "persistence").context("INFO persistence")?;
        let in_progress = info_field(&text, "rdb_bgsave_in_progress") == Some("1");
        let failed = info_field(&text, "rdb_last_bgsave_status") == Some("err");
        match self.kind {
            Kind::Redis => {
                if in_progress {
                    return Ok(None);
                }
                if failed {
                    bail!("redis-server's BGSAVE failed (rdb_last_bgsave_status:err)");
                }
                Ok(Some(Done { seq: None, bytes: None }))
            }
            Kind::Memoir => {
                let seq = number(&text, "memoir_snapshot_seq")?;
                if seq > self.seq_before {
                    let bytes = number(&text, "memoir_snapshot_bytes")?;
                    return Ok(Some(Done {
                        seq: Some(seq),
                        bytes: Some(bytes),
                    }));
                }
                if in_progress {
                    self.seen_in_progress = true;
                } else if self.seen_in_progress && failed {
                    bail!("the snapshot failed (rdb_last_bgsave_status:err); see the snapshot service's log");
                }
                Ok(None)
            }
        }
    }
}

/// Sends BGSAVE to a Memoir node and waits until the snapshot is published.
/// Returns the snapshot and the seconds it took.
pub fn memoir_bgsave(
    port: u16,
    timeout: Duration,
    check_running: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(Done, f64)> {
    let mut con = connect(port, Duration::from_secs(10)).context("connecting to the primary")?;
    let started = Instant::now();
    let mut snapshot = Snapshot::trigger(Kind::Memoir, &mut con)?;
    loop {
        check_running()?;
        if let Some(done) = snapshot.poll(&mut con)? {
            return Ok((done, started.elapsed().as_secs_f64()));
        }
        if started.elapsed() >= timeout {
            bail!("no snapshot published within {} s of BGSAVE", timeout.as_secs());
        }
        std::thread::sleep(POLL_PACE);
    }
}

/// A numeric INFO field.
pub fn number(info: &str, name: &str) -> anyhow::Result<u64> {
    let value = info_field(info, name).ok_or_else(|| anyhow!("no {name} in INFO persistence"))?;
    value.parse().with_context(|| format!("{name}:{value} is not a number"))
}

// ---------------------------------------------------------------------------
// The measurement window.

/// Latencies of one window, per command.
struct Latencies {
    get: Histogram<u64>,
    set: Histogram<u64>,
    /// How long the window lasted.
    seconds: f64,
    /// Requests slower than `SLOW`: when each completed, how long it took,
    /// whether it was a SET (at most `SLOW_KEPT` per client), to tell
    /// which phase of a snapshot the stalls fall in.
    slow: Vec<(Instant, Duration, bool)>,
}

/// What counts as a slow request in the timeline printed on stderr.
const SLOW: Duration = Duration::from_millis(10);
/// Slow requests kept per client and window.
const SLOW_KEPT: usize = 1000;

impl Latencies {
    fn new() -> Latencies {
        Latencies {
            get: latency_histogram(),
            set: latency_histogram(),
            seconds: 0.0,
            slow: Vec::new(),
        }
    }

    fn add(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.get.add(&other.get);
        let _ = self.set.add(&other.set);
        self.slow.extend_from_slice(&other.slow);
    }

    fn record(&mut self, set: bool, completed: Instant, elapsed: Duration) {
        record(if set { &mut self.set } else { &mut self.get }, elapsed);
        if elapsed >= SLOW && self.slow.len() < SLOW_KEPT {
            self.slow.push((completed, elapsed, set));
        }
    }

    /// The slowest requests, with when they completed relative to `origin`.
    fn describe_slow(&self, origin: Instant) -> String {
        let mut slow = self.slow.clone();
        slow.sort_by_key(|&(_, elapsed, _)| std::cmp::Reverse(elapsed));
        let shown: Vec<String> = slow
            .iter()
            .take(12)
            .map(|&(at, elapsed, set)| {
                let offset = at.saturating_duration_since(origin).as_secs_f64();
                let op = if set { "SET" } else { "GET" };
                format!("{op} {:.1} ms at +{offset:.2} s", elapsed.as_secs_f64() * 1000.0)
            })
            .collect();
        format!(
            "{} requests slower than {} ms; slowest: {}",
            self.slow.len(),
            SLOW.as_millis(),
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            }
        )
    }

    /// The slowest request, in milliseconds.
    fn max_ms(&self) -> f64 {
        self.get.max().max(self.set.max()) as f64 / 1000.0
    }

    fn describe(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let one = |name: &str, h: &Histogram<u64>| {
            format!(
                "{name} p50 {:.3} p99 {:.3} max {:.2} ms",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            )
        };
        let n = self.get.len() + self.set.len();
        format!(
            "{n} requests in {:.1} s ({:.0}/s): {}; {}",
            self.seconds,
            n as f64 / self.seconds.max(1e-9),
            one("GET", &self.get),
            one("SET", &self.set)
        )
    }
}

/// What the steady load and the samplers saw around one snapshot.
struct Window {
    before: Latencies,
    during: Latencies,
    rss_before_kib: u64,
    rss_max_kib: u64,
    /// Seconds from BGSAVE to the end of the snapshot.
    seconds: f64,
    snapshot_bytes: Option<u64>,
    side: Side,
    /// When BGSAVE was sent.
    triggered: Instant,
}

impl Window {
    fn rss_growth_pct(&self) -> f64 {
        growth_pct(self.rss_before_kib, self.rss_max_kib)
    }

    fn report(&self, what: &str) {
        eprintln!("{what}: before the snapshot, {}", self.before.describe());
        eprintln!("{what}: during the snapshot, {}", self.during.describe());
        eprintln!(
            "{what}: during the snapshot (times from BGSAVE), {}",
            self.during.describe_slow(self.triggered)
        );
        eprintln!(
            "{what}: VmRSS {:.1} MiB just before, at most {:.1} MiB during (+{:.2}%)",
            mib(self.rss_before_kib),
            mib(self.rss_max_kib),
            self.rss_growth_pct()
        );
        self.side.report(self.rss_before_kib);
    }
}

fn growth_pct(before: u64, max: u64) -> f64 {
    ratio(max.saturating_sub(before) as f64, before as f64) * 100.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Memory outside the measured process, sampled for stderr only.
enum Side {
    /// redis-server's BGSAVE child.
    ForkChild {
        parent: u32,
        max_rss_kib: u64,
        /// Private_Dirty: pages the child no longer shares with the parent.
        max_dirty_kib: u64,
        next_dirty: Instant,
    },
    /// Memoir's snapshot service.
    Process {
        name: &'static str,
        pid: u32,
        before_kib: u64,
        max_kib: u64,
    },
}

/// How often the fork child's smaps_rollup is read (it walks the page
/// tables of a process as large as the data set).
const DIRTY_PACE: Duration = Duration::from_millis(200);

impl Side {
    fn before(&mut self) {
        if let Side::Process { pid, before_kib, .. } = self {
            *before_kib = vm_rss_kib(*pid).unwrap_or(0);
        }
    }

    fn sample(&mut self) {
        match self {
            Side::ForkChild {
                parent,
                max_rss_kib,
                max_dirty_kib,
                next_dirty,
            } => {
                let read_dirty = Instant::now() >= *next_dirty;
                if read_dirty {
                    *next_dirty = Instant::now() + DIRTY_PACE;
                }
                for child in children(*parent) {
                    // The child may exit between listing and reading.
                    if let Ok(kib) = vm_rss_kib(child) {
                        *max_rss_kib = (*max_rss_kib).max(kib);
                    }
                    if read_dirty {
                        if let Some(kib) = private_dirty_kib(child) {
                            *max_dirty_kib = (*max_dirty_kib).max(kib);
                        }
                    }
                }
            }
            Side::Process { pid, max_kib, .. } => {
                if let Ok(kib) = vm_rss_kib(*pid) {
                    *max_kib = (*max_kib).max(kib);
                }
            }
        }
    }

    fn report(&self, parent_before_kib: u64) {
        match self {
            Side::ForkChild {
                max_rss_kib,
                max_dirty_kib,
                ..
            } => eprintln!(
                "  fork child (not in the figure): VmRSS at most {:.1} MiB (mostly pages shared with the parent), Private_Dirty at most {:.1} MiB (pages copied on write: +{:.2}% of the parent's RSS)",
                mib(*max_rss_kib),
                mib(*max_dirty_kib),
                growth_pct(parent_before_kib, parent_before_kib + max_dirty_kib)
            ),
            Side::Process {
                name,
                before_kib,
                max_kib,
                ..
            } => eprintln!(
                "  {name} (another process, not in the figure): VmRSS {:.1} MiB just before, at most {:.1} MiB during",
                mib(*before_kib),
                mib(*max_kib)
            ),
        }
    }
}

/// The children of every thread of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    found
}

/// Private_Dirty of `pid` from /proc/PID/smaps_rollup, in KiB.
fn private_dirty_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("Private_Dirty:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Runs the steady load, the "before" window, BGSAVE and the "during"
/// window on the server on `port` whose process is `pid`.
fn measure_window(
    kind: Kind,
    port: u16,
    pid: u32,
    mut side: Side,
    data: &DataSet,
    args: &Args,
    check_running: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Window> {
    let mut control = connect(port, Duration::from_secs(10)).context("connecting the control connection")?;
    let load = SteadyLoad::start(port, data, args.clients)?;
    eprintln!(
        "  steady load: {} clients, GET and SET of {} bytes on random keys; {} s before BGSAVE",
        args.clients, data.value_size, args.before_s
    );
    let wait = |until: Instant, check_running: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<()> {
        while Instant::now() < until {
            check_running()?;
            load.check()?;
            std::thread::sleep(RSS_PACE);
        }
        Ok(())
    };
    wait(Instant::now() + WARM_UP, check_running)?;
    load.set_phase(Phase::Before);
    let before_started = Instant::now();
    wait(before_started + Duration::from_secs(args.before_s), check_running)?;
    let rss_before_kib = vm_rss_kib(pid)?;
    side.before();
    load.set_phase(Phase::During);
    let started = Instant::now();
    let before_s = (started - before_started).as_secs_f64();
    let mut snapshot = Snapshot::trigger(kind, &mut control)?;
    eprintln!("  BGSAVE sent; sampling VmRSS every {} ms", RSS_PACE.as_millis());
    let mut rss_max_kib = rss_before_kib;
    let mut next_poll = started;
    let mut next_report = started + Duration::from_secs(10);
    let timeout = Duration::from_secs(args.timeout_s);
    let done = loop {
        rss_max_kib = rss_max_kib.max(vm_rss_kib(pid)?);
        side.sample();
        let now = Instant::now();
        if now >= next_poll {
            check_running()?;
            load.check()?;
            if let Some(done) = snapshot.poll(&mut control)? {
                break done;
            }
            next_poll = now + POLL_PACE;
        }
        if now >= next_report {
            eprintln!("  snapshot running for {:.0} s", started.elapsed().as_secs_f64());
            next_report += Duration::from_secs(10);
        }
        if started.elapsed() >= timeout {
            bail!("the snapshot did not finish within {} s of BGSAVE", args.timeout_s);
        }
        std::thread::sleep(RSS_PACE);
    };
    let seconds = started.elapsed().as_secs_f64();
    load.set_phase(Phase::After);
    let (mut before, mut during) = load.finish()?;
    before.seconds = before_s;
    during.seconds = seconds;
    if let Some(seq) = done.seq {
        eprintln!("  snapshot of seq {seq} published after {seconds:.1} s");
    }
    Ok(Window {
        before,
        during,
        rss_before_kib,
        rss_max_kib,
        seconds,
        snapshot_bytes: done.bytes,
        side,
        triggered: started,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Phase {
    WarmUp = 0,
    Before = 1,
    During = 2,
    After = 3,
}

/// Client threads issuing GET and SET back to back.
struct SteadyLoad {
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<anyhow::Result<[Latencies; 2]>>>,
}

impl SteadyLoad {
    fn start(port: u16, data: &DataSet, clients: usize) -> anyhow::Result<SteadyLoad> {
        let phase = Arc::new(AtomicU8::new(Phase::WarmUp as u8));
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = SteadyLoad {
            phase,
            stop,
            threads: Vec::new(),
        };
        for i in 0..clients {
            let con = connect(port, REQUEST_TIMEOUT).context("connecting a client of the steady load")?;
            let (phase, stop, data) = (Arc::clone(&load.phase), Arc::clone(&load.stop), *data);
            let seed = 0x5eed_0000 + i as u64;
            load.threads
                .push(std::thread::spawn(move || client(con, &data, seed, &phase, &stop)));
        }
        Ok(load)
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// An error if a client has stopped (its error comes with `finish`).
    fn check(&self) -> anyhow::Result<()> {
        if self.threads.iter().any(JoinHandle::is_finished) {
            bail!("a client of the steady load stopped early");
        }
        Ok(())
    }

    /// Stops the clients and returns the merged (before, during) latencies.
    fn finish(mut self) -> anyhow::Result<(Latencies, Latencies)> {
        self.stop.store(true, Ordering::Release);
        let (mut before, mut during) = (Latencies::new(), Latencies::new());
        for thread in std::mem::take(&mut self.threads) {
            let [b, d] = thread.join().map_err(|_| anyhow!("a load client panicked"))??;
            before.add(&b);
            during.add(&d);
        }
        Ok((before, during))
    }
}

impl Drop for SteadyLoad {
    fn drop(&mut self) {
        // On an early return the clients stop after their current request.
        self.stop.store(true, Ordering::Release);
    }
}

/// One client: GET and SET alternately on random existing keys, each
/// latency recorded in the window in which the reply arrived.
fn client(
    mut con: redis::Connection,
    data: &DataSet,
    seed: u64,
    phase: &AtomicU8,
    stop: &AtomicBool,
) -> anyhow::Result<[Latencies; 2]> {
    let mut rng = SplitMix64(seed);
    let mut windows = [Latencies::new(), Latencies::new()];
    let mut value = vec![0u8; data.value_size];
    let mut set = false;
    while !stop.load(Ordering::Acquire) {
        let key = format!("key:{:010}", rng.next_u64() % data.keys);
        set = !set;
        let started = Instant::now();
        if set {
            rng.fill(&mut value);
            redis::cmd("SET")
                .arg(&key)
                .arg(&value[..])
                .query::<()>(&mut con)
                .with_context(|| format!("SET {key}"))?;
        } else {
            let got: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key)
                .query(&mut con)
                .with_context(|| format!("GET {key}"))?;
            if got.is_none() {
                bail!("GET {key}: the key is missing");
            }
        }
        let completed = Instant::now();
        let elapsed = completed - started;
        let window = match phase.load(Ordering::Acquire) {
            p if p == Phase::Before as u8 => &mut windows[0],
            p if p == Phase::During as u8 => &mut windows[1],
            _ => continue,
        };
        window.record(set, completed, elapsed);
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_relative_to_the_rss_before() {
        assert!((growth_pct(1000, 1010) - 1.0).abs() < 1e-9);
        assert_eq!(growth_pct(1000, 1000), 0.0);
    }

    #[test]
    fn reads_numeric_info_fields() -> anyhow::Result<()> {
        let text = "# Persistence\r\nloading:0\r\nmemoir_snapshot_seq:42\r\nmemoir_snapshot_bytes:1000\r\n";
        assert_eq!(number(text, "memoir_snapshot_seq")?, 42);
        assert_eq!(number(text, "loading")?, 0);
        assert!(number(text, "rdb_last_save_time").is_err());
        Ok(())
    }
}
