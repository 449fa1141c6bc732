//! `memoir-bench rehydrate`: how long a new Memoir memory node takes to
//! load the newest snapshot (plus the journal tail after it), against
//! redis-server loading its RDB file at start.
//!
//! Memoir runs as separate processes, as `snapshot-impact` runs it: three
//! `memoir journal` replicas, `memoir snapshot --idle` and a primary
//! `memoir server --snapshot-store STORE`. After `--keys` keys (of
//! `--value-size` pseudo-random bytes) are loaded, BGSAVE takes a snapshot;
//! then a second `memoir server --replica-only --snapshot-store STORE`
//! starts on another port with an empty data directory, and
//! `memoir_load_s` runs from its spawn until its `INFO persistence` shows
//! `loading:0` and DBSIZE holds every key.
//!
//! redis-server (no AOF) gets the same keys and SAVE, is stopped, and is
//! started again on the same directory; `redis_rdb_load_s` runs from its
//! spawn until PING answers (not -LOADING) and INFO shows `loading:0`.
//!
//! Both files were just written, so both loads read from the page cache.
//! `memoir_mb_per_s` is the snapshot's files (`memoir_snapshot_bytes`, MB
//! of 10^6 bytes) divided by `memoir_load_s`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::memory::{load, DataSet, Values};
use crate::redis_compare::{
    connect, finish_scratch, info, info_field, memoir_bin, redis_server_command, reserve_port, tail, vm_rss_kib, which,
    Memoir, Proc, ScratchArgs, Server, Target, STOP_GRACE,
};
use crate::snapshot_impact::{goal, memoir_bgsave, memoir_server_command, report_load, Deployment, PRIMARY};
use crate::stats::scratch_dir;

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
    /// Upper bound on the snapshot and on each load, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
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

/// How often a starting server is asked whether it has loaded.
const POLL_PACE: Duration = Duration::from_millis(10);
/// Connect, read and write timeout of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

const REPLICA: &str = "memoir server --replica-only (rehydrating)";
const REDIS: &str = "redis-server (restarted on its RDB)";

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.keys == 0 || args.value_size == 0 || args.batch == 0 {
        bail!("--keys, --value-size and --batch must be at least 1");
    }
    which("redis-server")?;
    let bin = memoir_bin(args.scratch.memoir_bin.as_deref())?;
    let scratch = scratch_dir(args.scratch.dir.as_deref())?;
    eprintln!("memoir-bench rehydrate: data and logs in {}", scratch.path().display());
    let result = both(&args, &bin, scratch.path());
    finish_scratch(scratch, args.scratch.keep, result.is_err());
    let (memoir, redis_s) = result?;
    let mb = memoir.snapshot_bytes as f64 / 1e6;
    goal(
        "Memoir's rehydration no slower than Redis loading its RDB",
        memoir.load_s / redis_s,
        1.0,
        "x Redis's time",
    );
    println!(
        "rehydrate keys={} memoir_load_s={:.2} redis_rdb_load_s={:.2} memoir_mb_per_s={:.1}",
        args.keys,
        memoir.load_s,
        redis_s,
        mb / memoir.load_s,
    );
    Ok(())
}

struct MemoirLoad {
    load_s: f64,
    snapshot_bytes: u64,
}

fn both(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<(MemoirLoad, f64)> {
    // Memoir first: if it cannot start, fail before the redis run.
    let m = measure_memoir(args, bin, scratch)?;
    let r = measure_redis(args, bin, scratch)?;
    Ok((m, r))
}

fn measure_memoir(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<MemoirLoad> {
    let mut memoir = Deployment::start(bin, &scratch.join("memoir"), None)?;
    let data = args.data_set();
    let log = memoir.primary.log().to_path_buf();
    let (load_s, con) = load(&data, memoir.port, PRIMARY, &log, &mut || memoir.check_running())?;
    drop(con);
    report_load(PRIMARY, &data, load_s);
    let timeout = Duration::from_secs(args.timeout_s);
    let (done, snapshot_s) = memoir_bgsave(memoir.port, timeout, &mut || memoir.check_running())?;
    let Some(snapshot_bytes) = done.bytes else {
        bail!("{PRIMARY} reported no memoir_snapshot_bytes after the snapshot");
    };
    eprintln!(
        "BGSAVE: snapshot of seq {} ({:.1} MB) published after {snapshot_s:.1} s",
        done.seq.unwrap_or(0),
        snapshot_bytes as f64 / 1e6
    );

    let port = {
        let mut held = Vec::new();
        reserve_port(&mut held)?
    };
    let cmd = memoir_server_command(
        &memoir.bin,
        &memoir.journals.addrs,
        port,
        &memoir.dir.join("replica"),
        &memoir.store,
        true,
    );
    let log = memoir.dir.join("replica.log");
    let started = Instant::now();
    let mut replica = Proc::spawn("memoir server --replica-only", cmd, &log)?;
    let mut next_report = started + Duration::from_secs(1);
    let load_s = loop {
        memoir.check_running()?;
        replica.check_running()?;
        let probe = || -> anyhow::Result<Option<u64>> {
            let mut con = connect(port, PROBE_TIMEOUT)?;
            let text = info(&mut con, "persistence")?;
            if info_field(&text, "loading") != Some("0") {
                if Instant::now() >= next_report {
                    eprintln!(
                        "  {REPLICA}: loading, {}% after {:.1} s",
                        info_field(&text, "loading_loaded_perc").unwrap_or("?"),
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(None);
            }
            Ok(Some(redis::cmd("DBSIZE").query(&mut con)?))
        };
        let probed = probe();
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
        }
        if let Ok(Some(n)) = probed {
            if n >= args.keys {
                break started.elapsed().as_secs_f64();
            }
        }
        if started.elapsed() >= timeout {
            bail!(
                "{REPLICA} did not load {} keys within {} s (last probe: {probed:?}); end of {}:\n{}",
                args.keys,
                args.timeout_s,
                log.display(),
                tail(&log)
            );
        }
        std::thread::sleep(POLL_PACE);
    };
    eprintln!(
        "{REPLICA} (pid {}): {} keys loaded after {load_s:.2} s ({:.1} MB/s of snapshot files); VmRSS {:.1} MiB",
        replica.pid(),
        args.keys,
        snapshot_bytes as f64 / 1e6 / load_s,
        vm_rss_kib(replica.pid()).unwrap_or(0) as f64 / 1024.0
    );
    replica.stop(STOP_GRACE);
    memoir.stop();
    Ok(MemoirLoad { load_s, snapshot_bytes })
}

fn measure_redis(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<f64> {
    let target = Target::RedisNoPersist;
    // The memoir binary is not used for redis-server.
    let mut server = Server::start(target, &Memoir::Bin(bin.to_path_buf()), scratch)?;
    let data = args.data_set();
    let log = server.proc.log().to_path_buf();
    let (load_s, mut con) = load(&data, server.port, target.describe(), &log, &mut || {
        server.proc.check_running()
    })?;
    report_load(target.describe(), &data, load_s);
    let saving = Instant::now();
    let _: () = redis::cmd("SAVE").query(&mut con).context("SAVE")?;
    drop(con);
    let rdb = server.dir.join("dump.rdb");
    let rdb_bytes = std::fs::metadata(&rdb)
        .with_context(|| format!("SAVE wrote no {}", rdb.display()))?
        .len();
    eprintln!(
        "SAVE: {:.1} MB of RDB in {:.1} s",
        rdb_bytes as f64 / 1e6,
        saving.elapsed().as_secs_f64()
    );
    // No save points: SIGTERM does not rewrite dump.rdb.
    let dir = server.dir.clone();
    server.stop();

    let port = {
        let mut held = Vec::new();
        reserve_port(&mut held)?
    };
    let log = scratch.join("redis-restart.log");
    let started = Instant::now();
    let mut redis = Proc::spawn("redis-server (restart)", redis_server_command(port, &dir, false), &log)?;
    let load_s = loop {
        redis.check_running()?;
        let probe = || -> anyhow::Result<bool> {
            let mut con = connect(port, PROBE_TIMEOUT)?;
            // -LOADING while the RDB is being read.
            let _: String = redis::cmd("PING").query(&mut con)?;
            let text = info(&mut con, "persistence")?;
            Ok(info_field(&text, "loading") == Some("0"))
        };
        let probed = probe();
        if matches!(probed, Ok(true)) {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() >= Duration::from_secs(args.timeout_s) {
            bail!(
                "{REDIS} did not load within {} s (last probe: {probed:?}); end of {}:\n{}",
                args.timeout_s,
                log.display(),
                tail(&log)
            );
        }
        std::thread::sleep(POLL_PACE);
    };
    let mut con = connect(port, Duration::from_secs(10)).context("connecting to the restarted redis-server")?;
    let n: u64 = redis::cmd("DBSIZE").query(&mut con).context("DBSIZE")?;
    if n < args.keys {
        bail!("{REDIS} holds {n} keys after loading, not {}", args.keys);
    }
    drop(con);
    // Redis's own figure, for comparison: "DB loaded from disk: 5.523 seconds".
    let own = std::fs::read_to_string(&log).ok().and_then(|text| {
        text.lines()
            .rev()
            .find(|l| l.contains("DB loaded from disk"))
            .map(String::from)
    });
    eprintln!(
        "{REDIS} (pid {}): {n} keys loaded after {load_s:.2} s ({:.1} MB/s of RDB){}",
        redis.pid(),
        rdb_bytes as f64 / 1e6 / load_s,
        own.map(|l| format!("; its log: {}", l.trim())).unwrap_or_default()
    );
    redis.stop(STOP_GRACE);
    Ok(load_s)
}
