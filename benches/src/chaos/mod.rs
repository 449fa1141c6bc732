//! `memoir-bench chaos`: proof under faults.
//!
//! Starts a real cluster of processes on loopback (three journal replicas,
//! two memory nodes, the snapshot service, proxies on every internal link),
//! drives client workloads through the `redis` crate while injecting
//! faults drawn from a seeded generator, then heals everything, reads the
//! final state and checks the history: no acknowledged write lost, no value
//! never written, no duplicate append, linearizable registers.

pub mod checker;
mod cluster;
mod faults;
mod history;
mod proxy;
mod workload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;

use self::checker::{check_counter, check_list, check_register, CounterVerdict, Operation, RegisterOp, SEARCH_BUDGET};
use self::cluster::{Cluster, Settings};
use self::history::{Clock, History, KeyIndex};
use self::workload::{Keys, Progress, Shared};
use crate::redis_compare::{connect, finish_scratch, memoir_bin, ScratchArgs};
use crate::stats::scratch_dir;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How long clients run under faults (then everything heals and the
    /// final state is read).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed of the fault schedule and of the clients' choices (default:
    /// from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Client threads.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// Register keys (each checked for linearizability); there are also 4
    /// counters and 4 lists.
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// Quiet time between the end of one fault and the start of the next.
    #[arg(long, default_value_t = 500)]
    fault_interval_ms: u64,
    /// The memory nodes' lease (`memoir server --lease-ms`); pauses and
    /// partitions last 1.5 to 3 leases.
    #[arg(long, default_value_t = 600)]
    lease_ms: u64,
    /// The journal's raft tick (`memoir journal --tick-ms`; elections take 10).
    #[arg(long, default_value_t = 50)]
    tick_ms: u64,
    /// Torn tails cut into the last 4 KiB of a segment's data instead of
    /// leaving an unfinished write after it. This can remove entries a
    /// replica already acknowledged: a disk losing data, beyond a crash.
    #[arg(long)]
    torn_tail_cuts_data: bool,
    #[command(flatten)]
    scratch: ScratchArgs,
}

/// How long the healed cluster has to elect a primary and answer.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.seconds == 0 || args.clients == 0 || args.keys == 0 || args.lease_ms < 100 || args.tick_ms == 0 {
        bail!("--seconds, --clients, --keys and --tick-ms must be at least 1, --lease-ms at least 100");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("memoir-bench chaos: seed={seed}");
    let bin = memoir_bin(args.scratch.memoir_bin.as_deref())?;
    let scratch = scratch_dir(args.scratch.dir.as_deref())?;
    eprintln!("data and logs in {}", scratch.path().display());
    let settings = Settings {
        bin,
        dir: scratch.path().to_path_buf(),
        lease_ms: args.lease_ms,
        tick_ms: args.tick_ms,
        segment_size_mib: 4,
    };
    let result = chaos(&args, seed, settings);
    let failed = !matches!(result, Ok(ref r) if r.passed());
    finish_scratch(scratch, args.scratch.keep, failed);
    let report = result?;
    println!(
        "replay: memoir-bench chaos --seconds {} --seed {seed} --clients {} --keys {} --fault-interval-ms {} --lease-ms {} --tick-ms {}{}",
        args.seconds,
        args.clients,
        args.keys,
        args.fault_interval_ms,
        args.lease_ms,
        args.tick_ms,
        if args.torn_tail_cuts_data { " --torn-tail-cuts-data" } else { "" }
    );
    println!(
        "chaos seed={seed} seconds={} faults={} ops={} acked={} acked_lost={} duplicates={} linearizable={}",
        args.seconds,
        report.faults,
        report.ops,
        report.acked,
        report.acked_lost,
        report.duplicates,
        if report.linearizable { "yes" } else { "no" }
    );
    if !report.passed() {
        bail!(
            "properties violated (acked_lost={} duplicates={} never_written={} linearizable={} crashes={}); replay with --seed {seed}",
            report.acked_lost,
            report.duplicates,
            report.never_written,
            report.linearizable,
            report.crashes
        );
    }
    Ok(())
}

/// What a run found.
#[derive(Debug, Default)]
struct Report {
    faults: u64,
    ops: u64,
    acked: u64,
    acked_lost: u64,
    duplicates: u64,
    never_written: u64,
    linearizable: bool,
    /// Processes that exited without being killed.
    crashes: u64,
}

impl Report {
    fn passed(&self) -> bool {
        self.acked_lost == 0
            && self.duplicates == 0
            && self.never_written == 0
            && self.linearizable
            && self.crashes == 0
    }
}

fn chaos(args: &Args, seed: u64, settings: Settings) -> anyhow::Result<Report> {
    let lease = Duration::from_millis(args.lease_ms);
    let mut cluster = Cluster::start(settings)?;
    let result = drive(args, seed, lease, &mut cluster);
    if result.is_err() {
        eprintln!("stopping the cluster after an error");
    }
    cluster.stop();
    result
}

fn drive(args: &Args, seed: u64, lease: Duration, cluster: &mut Cluster) -> anyhow::Result<Report> {
    let mut rng = StdRng::seed_from_u64(seed);
    let keys = Keys {
        prefix: format!("chaos:{seed}"),
        counters: 4,
        lists: 4,
        registers: args.keys,
    };
    let clock = Clock::start();
    let shared = Shared {
        ports: cluster.node_ports,
        keys: keys.clone(),
        clock,
        stop: Arc::new(AtomicBool::new(false)),
        progress: Arc::new(Progress::default()),
    };
    eprintln!(
        "cluster up (memory nodes on 127.0.0.1:{} and :{}); {} clients for {} s",
        cluster.node_ports[0], cluster.node_ports[1], args.clients, args.seconds
    );
    let mut clients = Vec::new();
    for id in 0..args.clients {
        let shared = shared.clone();
        clients.push(
            std::thread::Builder::new()
                .name(format!("client-{id}"))
                .spawn(move || workload::run_client(id, seed, shared))
                .context("starting a client thread")?,
        );
    }

    let started = Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let mut report = Report::default();
    let mut crashes: Vec<(cluster::Component, String)> = Vec::new();
    // Restarts whatever exited on its own, and remembers it.
    let mut tick = |cluster: &mut Cluster| -> anyhow::Result<()> {
        for (c, why) in cluster.exited() {
            // The first exit of each component with its log; then one line.
            if crashes.iter().any(|(seen, _)| *seen == c) {
                eprintln!("UNEXPECTED EXIT of {c} again");
            } else {
                eprintln!("UNEXPECTED EXIT of {c}: {why}");
            }
            crashes.push((c, why));
            cluster.spawn(c)?;
        }
        Ok(())
    };
    let progress = |report: &Report| {
        eprintln!(
            "[{:6.1} s] faults={} ops={} acked={}",
            started.elapsed().as_secs_f64(),
            report.faults,
            shared.progress.invoked.load(Ordering::Relaxed),
            shared.progress.acked.load(Ordering::Relaxed)
        );
    };
    while Instant::now() < end {
        let quiet = Instant::now() + Duration::from_millis(args.fault_interval_ms);
        while Instant::now() < quiet.min(end) {
            std::thread::sleep(Duration::from_millis(100));
            tick(cluster)?;
        }
        if Instant::now() >= end {
            break;
        }
        let torn = if args.torn_tail_cuts_data {
            faults::TornTail::CutIntoData
        } else {
            faults::TornTail::UnfinishedWrite
        };
        let fault = faults::draw(&mut rng, lease, cluster.raft_leader(), torn);
        report.faults += 1;
        eprintln!(
            "[{:6.1} s] fault {}: {fault}",
            started.elapsed().as_secs_f64(),
            report.faults
        );
        let note = faults::apply(&fault, cluster, &mut rng, &mut tick)?;
        if !note.is_empty() {
            eprintln!("           {note}");
        }
        if report.faults % 10 == 0 {
            progress(&report);
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let mut history = History::default();
    for c in clients {
        match c.join() {
            Ok(log) => history.add(log),
            Err(_) => bail!("a client thread panicked"),
        }
    }
    progress(&report);
    eprintln!("healing every fault; waiting for a primary");
    cluster.heal_all()?;
    let primary = cluster.wait_primary(SETTLE_TIMEOUT)?;
    tick(cluster)?;
    report.crashes = crashes.len() as u64;
    eprintln!("node-{primary} is primary; reading the final state");
    final_reads(cluster, &keys, &clock, &mut history)?;
    check(&history, &mut report);
    Ok(report)
}

/// Runs `f` against the primary until it succeeds or the settle timeout.
fn with_primary<T>(
    cluster: &Cluster,
    f: &mut dyn FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(p) = cluster.primary() {
            match connect(cluster.node_ports[p], Duration::from_secs(5)).and_then(|mut c| f(&mut c)) {
                Ok(v) => return Ok(v),
                Err(e) => last = e.to_string(),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the healed cluster did not answer within {} s (last error: {last})",
        SETTLE_TIMEOUT.as_secs()
    )
}

/// The final values: counters and lists are kept aside, register reads
/// join the history (as a client of their own, after everything).
fn final_reads(cluster: &Cluster, keys: &Keys, clock: &Clock, history: &mut History) -> anyhow::Result<()> {
    for k in 0..keys.registers {
        let key = KeyIndex(k);
        let (call, seen, ret) = with_primary(cluster, &mut |c| {
            let call = clock.now();
            let seen = redis::cmd("GET").arg(keys.register(key)).query::<Option<u64>>(c)?;
            Ok((call, seen, clock.now()))
        })?;
        history.registers.entry(key).or_default().push(Operation {
            client: usize::MAX,
            op: RegisterOp::Read(seen),
            call,
            ret: Some(ret),
        });
    }
    for k in 0..keys.counters {
        let key = KeyIndex(k);
        let value = with_primary(cluster, &mut |c| {
            redis::cmd("GET").arg(keys.counter(key)).query::<Option<i64>>(c)
        })?;
        history.final_counters.insert(key, value.unwrap_or(0));
    }
    for k in 0..keys.lists {
        let key = KeyIndex(k);
        let list = with_primary(cluster, &mut |c| {
            redis::cmd("LRANGE")
                .arg(keys.list(key))
                .arg(0)
                .arg(-1)
                .query::<Vec<String>>(c)
        })?;
        history.final_lists.insert(key, list);
    }
    Ok(())
}

fn check(history: &History, report: &mut Report) {
    report.ops = history.invoked;
    report.acked = history.acked;
    for (key, sums) in &history.counters {
        let value = history.final_counters.get(key).copied().unwrap_or(0);
        match check_counter(*sums, value) {
            CounterVerdict::Ok => {}
            CounterVerdict::Lost(n) => {
                eprintln!(
                    "VIOLATION counter {}: final {value} is {n} below the acknowledged sum {} (indeterminate {})",
                    key.0, sums.acked, sums.indeterminate
                );
                report.acked_lost += 1;
            }
            CounterVerdict::NeverWritten(n) => {
                eprintln!(
                    "VIOLATION counter {}: final {value} is {n} above every increment that could have applied (acked {} + indeterminate {})",
                    key.0, sums.acked, sums.indeterminate
                );
                report.never_written += 1;
            }
        }
    }
    let empty = Vec::new();
    for (key, pushes) in &history.pushes {
        let list = history.final_lists.get(key).unwrap_or(&empty);
        let verdict = check_list(pushes, list);
        if verdict.ok() {
            continue;
        }
        if !verdict.missing.is_empty() {
            eprintln!(
                "VIOLATION list {}: {} acknowledged values missing: {:?}",
                key.0,
                verdict.missing.len(),
                verdict.missing.iter().take(20).collect::<Vec<_>>()
            );
        }
        if !verdict.duplicates.is_empty() {
            eprintln!("VIOLATION list {}: duplicated values: {:?}", key.0, verdict.duplicates);
        }
        if !verdict.never_written.is_empty() {
            eprintln!(
                "VIOLATION list {}: values never written (or refused): {:?}",
                key.0, verdict.never_written
            );
        }
        report.acked_lost += verdict.missing.len() as u64;
        report.duplicates += verdict.duplicates.len() as u64;
        report.never_written += verdict.never_written.len() as u64;
    }
    report.linearizable = true;
    let mut keys: Vec<&KeyIndex> = history.registers.keys().collect();
    keys.sort_by_key(|k| k.0);
    for key in keys {
        let ops = &history.registers[key];
        if let Err(e) = check_register(ops, SEARCH_BUDGET) {
            eprintln!("VIOLATION register {} ({} operations): {e}", key.0, ops.len());
            report.linearizable = false;
        }
    }
    let pushes: usize = history.pushes.values().map(|p| p.len()).sum();
    let registers: usize = history.registers.values().map(|r| r.len()).sum();
    eprintln!(
        "checked {} counters, {} lists ({pushes} pushes), {} registers ({registers} operations)",
        history.counters.len(),
        history.pushes.len(),
        history.registers.len()
    );
}
