//! `memoir-bench memory`: resident memory of `memoir dev` and of
//! redis-server (no persistence) holding the same keys.
//!
//! For `memoir dev` the figure is the whole process: the primary, the
//! replica and three journal replicas with their caches.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::redis_compare::{connect, finish_scratch, ratio, vm_rss_kib, which, Memoir, Server, ServerArgs, Target};
use crate::stats::scratch_dir;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keys to load (`key:%010d`).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// SETs per pipelined batch.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    #[command(flatten)]
    servers: ServerArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.keys == 0 || args.value_size == 0 || args.batch == 0 {
        bail!("--keys, --value-size and --batch must be at least 1");
    }
    which("redis-server")?;
    let memoir = Memoir::from_args(&args.servers)?;
    let scratch = scratch_dir(args.servers.dir.as_deref())?;
    eprintln!("memoir-bench memory: data and logs in {}", scratch.path().display());
    let result = both(&args, &memoir, scratch.path());
    finish_scratch(scratch, args.servers.keep, result.is_err());
    let (memoir_kib, redis_kib) = result?;
    println!(
        "memory keys={} value_size={} memoir_rss_mib={:.1} redis_rss_mib={:.1} ratio={:.2}",
        args.keys,
        args.value_size,
        mib(memoir_kib * 1024),
        mib(redis_kib * 1024),
        ratio(memoir_kib as f64, redis_kib as f64),
    );
    Ok(())
}

fn both(args: &Args, memoir: &Memoir, scratch: &Path) -> anyhow::Result<(u64, u64)> {
    // Memoir first: if it cannot start, fail before the redis run.
    let m = measure(args, Target::Memoir, memoir, scratch)?;
    let r = measure(args, Target::RedisNoPersist, memoir, scratch)?;
    Ok((m, r))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn measure(args: &Args, target: Target, memoir: &Memoir, scratch: &Path) -> anyhow::Result<u64> {
    let mut server = Server::start(target, memoir, scratch)?;
    let idle_kib = vm_rss_kib(server.proc.pid())?;
    let mut con = connect(server.port, Duration::from_secs(60))
        .with_context(|| format!("connecting to {}", target.describe()))?;
    let value = vec![b'v'; args.value_size];
    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(5);
    let mut loaded = 0u64;
    while loaded < args.keys {
        let end = (loaded + args.batch).min(args.keys);
        let mut pipe = redis::pipe();
        for i in loaded..end {
            pipe.cmd("SET").arg(format!("key:{i:010}")).arg(&value[..]).ignore();
        }
        if let Err(e) = pipe.query::<()>(&mut con) {
            server.proc.check_running()?;
            return Err(anyhow::Error::new(e).context(format!(
                "loading keys {loaded}..{end} into {} (log: {})",
                target.describe(),
                server.proc.log().display()
            )));
        }
        loaded = end;
        if Instant::now() >= next_report {
            eprintln!("  {loaded} keys loaded");
            next_report += Duration::from_secs(5);
        }
    }
    let load_s = started.elapsed().as_secs_f64();
    match redis::cmd("DBSIZE").query::<u64>(&mut con) {
        // One more key than loaded: the readiness probe's.
        Ok(n) if n < args.keys => bail!("{} holds {n} keys after loading {}", target.describe(), args.keys),
        Ok(_) => {}
        Err(e) => eprintln!("  (DBSIZE: {e})"),
    }
    let probe = format!("key:{:010}", args.keys / 2);
    let got: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&probe)
        .query(&mut con)
        .with_context(|| format!("GET {probe}"))?;
    if got.as_deref() != Some(&value[..]) {
        bail!("{} returned a wrong value for {probe}", target.describe());
    }
    // Let background work after the load (expiry of buffers, compaction) settle.
    std::thread::sleep(Duration::from_secs(1));
    let rss_kib = vm_rss_kib(server.proc.pid())?;
    let used_memory = used_memory(&mut con);
    drop(con);
    eprintln!(
        "{}: {} keys in {:.1} s ({:.0} keys/s); RSS {:.1} MiB idle, {:.1} MiB loaded{}",
        target.describe(),
        args.keys,
        load_s,
        args.keys as f64 / load_s,
        mib(idle_kib * 1024),
        mib(rss_kib * 1024),
        match used_memory {
            Some(bytes) => format!(", INFO used_memory {:.1} MiB", mib(bytes)),
            None => ", no used_memory in INFO memory".to_string(),
        }
    );
    server.stop();
    Ok(rss_kib)
}

/// `used_memory` from INFO memory, if the server reports it.
fn used_memory(con: &mut redis::Connection) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query(con).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}
