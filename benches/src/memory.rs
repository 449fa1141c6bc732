//! `memoir-bench memory`: resident memory of one Memoir memory node and of
//! redis-server (no persistence) holding the same keys.
//!
//! Memoir runs as separate processes, as a deployment does: three `memoir
//! journal` replicas and one `memoir server` (the primary, no replica). The
//! figure compared with redis-server is the VmRSS of the `memoir server`
//! process alone, which holds one copy of the data as redis-server does. The
//! journal replicas' RSS is printed on stderr for information only.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::cluster::{role, server_command, Journals};
use crate::redis_compare::{
    connect, finish_scratch, memoir_bin, ratio, reserve_port, tail, vm_rss_kib, wait_writable, which, Memoir, Proc,
    ScratchArgs, Server, Target, START_TIMEOUT, STOP_GRACE,
};
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
    scratch: ScratchArgs,
}

/// The memory node's lease (`memoir server --lease-ms`), as `memoir dev`'s.
pub const LEASE_MS: u64 = 1000;

const MEMOIR: &str = "memoir server (one memory node)";

/// What [`load`] writes: keys `key:%010d` for 0..`keys`, `value_size`
/// bytes each, `batch` SETs per pipelined round trip.
#[derive(Clone, Copy, Debug)]
pub struct DataSet {
    pub keys: u64,
    pub value_size: usize,
    pub batch: u64,
    pub values: Values,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// Every value is `v` repeated (RSS does not depend on the bytes).
    Constant,
    /// Pseudo-random bytes derived from the key's index: neither an RDB's
    /// LZF nor a snapshot's zstd can shrink them, so file sizes and load
    /// times are those of real data rather than of a run of one byte.
    Random,
}

impl DataSet {
    /// The value of key `i`.
    pub fn value(&self, i: u64) -> Vec<u8> {
        match self.values {
            Values::Constant => vec![b'v'; self.value_size],
            Values::Random => random_bytes(self.value_size, i),
        }
    }
}

impl Args {
    fn data_set(&self) -> DataSet {
        DataSet {
            keys: self.keys,
            value_size: self.value_size,
            batch: self.batch,
            values: Values::Constant,
        }
    }
}

/// splitmix64: a small, fast, seedable generator (no quality needed beyond
/// incompressible bytes and uniform-enough key choices).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Overwrites `buf` with pseudo-random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// `len` pseudo-random bytes determined by `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut buf = vec![0; len];
    SplitMix64(seed).fill(&mut buf);
    buf
}

/// RSS of a server before and after loading the keys.
struct Rss {
    idle_kib: u64,
    loaded_kib: u64,
}

impl Rss {
    /// Bytes of RSS per key loaded, above the idle RSS.
    fn per_key(&self, keys: u64) -> f64 {
        (self.loaded_kib as f64 - self.idle_kib as f64) * 1024.0 / keys as f64
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.keys == 0 || args.value_size == 0 || args.batch == 0 {
        bail!("--keys, --value-size and --batch must be at least 1");
    }
    which("redis-server")?;
    let bin = memoir_bin(args.scratch.memoir_bin.as_deref())?;
    let scratch = scratch_dir(args.scratch.dir.as_deref())?;
    eprintln!("memoir-bench memory: data and logs in {}", scratch.path().display());
    let result = both(&args, &bin, scratch.path());
    finish_scratch(scratch, args.scratch.keep, result.is_err());
    let (memoir, redis) = result?;
    eprintln!(
        "per key above idle RSS: {MEMOIR} {:.1} bytes, redis-server {:.1} bytes",
        memoir.per_key(args.keys),
        redis.per_key(args.keys),
    );
    println!(
        "memory keys={} value_size={} memoir_rss_mib={:.1} redis_rss_mib={:.1} ratio={:.2}",
        args.keys,
        args.value_size,
        mib(memoir.loaded_kib),
        mib(redis.loaded_kib),
        ratio(memoir.loaded_kib as f64, redis.loaded_kib as f64),
    );
    Ok(())
}

fn both(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<(Rss, Rss)> {
    // Memoir first: if it cannot start, fail before the redis run.
    let m = measure_memoir(args, bin, scratch)?;
    let r = measure_redis(args, bin, scratch)?;
    Ok((m, r))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Three journal replicas and one memory node; returns the memory node's RSS.
fn measure_memoir(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<Rss> {
    let dir = scratch.join("memoir");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (journal_ports, port) = {
        let mut held = Vec::new();
        let journal_ports = [
            reserve_port(&mut held)?,
            reserve_port(&mut held)?,
            reserve_port(&mut held)?,
        ];
        (journal_ports, reserve_port(&mut held)?)
    };
    let mut journals = Journals::start(bin, &dir, journal_ports)?;
    let node_dir = dir.join("node");
    let cmd = server_command(bin, &journals.addrs, port, &node_dir, LEASE_MS);
    let mut node = Proc::spawn("memoir server", cmd, &dir.join("node.log"))?;
    let started = Instant::now();
    wait_primary(
        &mut journals,
        &mut node,
        port,
        START_TIMEOUT + Duration::from_millis(LEASE_MS),
    )?;
    wait_writable(&mut node, port, START_TIMEOUT)?;
    eprintln!(
        "{MEMOIR} (pid {}) primary on 127.0.0.1:{port} after {:.1} s, data in {}; journal replicas on {} (pids {})",
        node.pid(),
        started.elapsed().as_secs_f64(),
        node_dir.display(),
        journals.addrs,
        journals
            .procs
            .iter()
            .map(|p| p.pid().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let idle_kib = vm_rss_kib(node.pid())?;
    let journals_idle = journals.rss_kib()?;
    let log = node.log().to_path_buf();
    let (load_s, mut con) = load(&args.data_set(), port, MEMOIR, &log, &mut || {
        node.check_running()?;
        journals.check_running()
    })?;
    let loaded_kib = vm_rss_kib(node.pid())?;
    let journals_loaded = journals.rss_kib()?;
    let used = used_memory(&mut con);
    drop(con);
    let rss = Rss { idle_kib, loaded_kib };
    report(MEMOIR, args, load_s, &rss, used);
    let list = |kib: &[u64]| {
        kib.iter()
            .map(|k| format!("{:.1}", mib(*k)))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    eprintln!(
        "memoir journal replicas (not counted): RSS {} = {:.1} MiB idle, {} = {:.1} MiB loaded",
        list(&journals_idle),
        mib(journals_idle.iter().sum()),
        list(&journals_loaded),
        mib(journals_loaded.iter().sum()),
    );
    node.stop(STOP_GRACE);
    journals.stop();
    Ok(rss)
}

/// Waits until the memory node on `port` answers ROLE as the master.
pub fn wait_primary(journals: &mut Journals, node: &mut Proc, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        journals.check_running()?;
        node.check_running()?;
        let r = connect(port, Duration::from_millis(300))
            .ok()
            .and_then(|mut con| role(&mut con).ok());
        if r.as_ref().is_some_and(|r| r.name == "master") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{MEMOIR} on 127.0.0.1:{port} did not become primary within {} s (ROLE: {r:?}); end of {}:\n{}",
                timeout.as_secs(),
                node.log().display(),
                tail(node.log())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn measure_redis(args: &Args, bin: &Path, scratch: &Path) -> anyhow::Result<Rss> {
    let target = Target::RedisNoPersist;
    // The memoir binary is not used for redis-server.
    let mut server = Server::start(target, &Memoir::Bin(bin.to_path_buf()), scratch)?;
    let idle_kib = vm_rss_kib(server.proc.pid())?;
    let log = server.proc.log().to_path_buf();
    let (load_s, mut con) = load(&args.data_set(), server.port, target.describe(), &log, &mut || {
        server.proc.check_running()
    })?;
    let loaded_kib = vm_rss_kib(server.proc.pid())?;
    let used = used_memory(&mut con);
    drop(con);
    let rss = Rss { idle_kib, loaded_kib };
    report(target.describe(), args, load_s, &rss, used);
    server.stop();
    Ok(rss)
}

/// Loads the keys into the server on `port` in pipelined batches, checks
/// the key count and one value, and lets the server settle for a second.
/// Returns the load time in seconds and the connection. On a failed batch,
/// `check_running` says whether a process died (else `log` is named).
pub fn load(
    data: &DataSet,
    port: u16,
    what: &str,
    log: &Path,
    check_running: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(f64, redis::Connection)> {
    let mut con = connect(port, Duration::from_secs(60)).with_context(|| format!("connecting to {what}"))?;
    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(5);
    let mut loaded = 0u64;
    while loaded < data.keys {
        let end = (loaded + data.batch).min(data.keys);
        let mut pipe = redis::pipe();
        for i in loaded..end {
            pipe.cmd("SET").arg(format!("key:{i:010}")).arg(data.value(i)).ignore();
        }
        if let Err(e) = pipe.query::<()>(&mut con) {
            check_running()?;
            return Err(anyhow::Error::new(e).context(format!(
                "loading keys {loaded}..{end} into {what} (log: {})",
                log.display()
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
        Ok(n) if n < data.keys => bail!("{what} holds {n} keys after loading {}", data.keys),
        Ok(_) => {}
        Err(e) => eprintln!("  (DBSIZE: {e})"),
    }
    let probe = format!("key:{:010}", data.keys / 2);
    let got: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&probe)
        .query(&mut con)
        .with_context(|| format!("GET {probe}"))?;
    if got.as_deref() != Some(&data.value(data.keys / 2)[..]) {
        bail!("{what} returned a wrong value for {probe}");
    }
    // Let background work after the load (expiry of buffers, compaction) settle.
    std::thread::sleep(Duration::from_secs(1));
    Ok((load_s, con))
}

fn report(what: &str, args: &Args, load_s: f64, rss: &Rss, used_memory: Option<u64>) {
    eprintln!(
        "{what}: {} keys in {:.1} s ({:.0} keys/s); RSS {:.1} MiB idle, {:.1} MiB loaded, {:.1} bytes/key above idle{}",
        args.keys,
        load_s,
        args.keys as f64 / load_s,
        mib(rss.idle_kib),
        mib(rss.loaded_kib),
        rss.per_key(args.keys),
        match used_memory {
            Some(bytes) => format!(", INFO used_memory {:.1} MiB", bytes as f64 / (1024.0 * 1024.0)),
            None => ", no used_memory in INFO memory".to_string(),
        }
    );
}

/// `used_memory` from INFO memory, if the server reports it.
fn used_memory(con: &mut redis::Connection) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query(con).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}
