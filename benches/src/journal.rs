//! `memoir-bench journal`: closed-loop writers appending through the journal.
//!
//! `--replicas 1` drives one local segment store in-process (group commit
//! and the I/O backend alone). `--replicas 3` starts three `memoir journal`
//! processes on loopback and appends through the client library, so every
//! figure includes raft, TCP and quorum durability.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use memoir_journal::client::{replica_status, ClientOptions, JournalClient};
use memoir_journal::{IoMode, LeaderId, LinkSecurity, Log, LogOptions};
use tokio::process::{Child, Command};

use crate::redis_compare::memoir_bin;
use crate::stats::{fsync_reference, latency_histogram, record, scratch_dir};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Concurrent closed-loop writers (each waits for its append).
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Bytes per append.
    #[arg(long, default_value_t = 128)]
    payload: usize,
    /// Measured seconds (after a short warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// I/O backend: uring, sync or auto.
    #[arg(long, default_value = "auto")]
    io: IoMode,
    /// 1: the local segment store; 3: a replicated journal of processes.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Where to put data (default: ./bench-data, on the project's disk).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `memoir` binary (default: next to this one).
    #[arg(long)]
    memoir_bin: Option<PathBuf>,
}

struct Measured {
    io: String,
    appends: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    groups: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.writers == 0 || args.payload == 0 || args.seconds == 0 {
        bail!("--writers, --payload and --seconds must be at least 1");
    }
    if args.replicas != 1 && args.replicas != 3 {
        bail!("--replicas must be 1 or 3");
    }
    let scratch = scratch_dir(args.dir.as_deref())?;
    eprintln!("memoir-bench journal: data in {}", scratch.path().display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let measured = if args.replicas == 1 {
        runtime.block_on(local(&args, scratch.path().to_path_buf()))?
    } else {
        runtime.block_on(replicated(&args, scratch.path().to_path_buf()))?
    };
    let fsync_seconds = (args.seconds / 2).max(1);
    eprintln!("measuring 4 KiB write + fdatasync for {fsync_seconds} s on the same filesystem");
    let (fsync_p50, fsync_p99) = fsync_reference(scratch.path(), Duration::from_secs(fsync_seconds))?;
    let per_s = measured.appends as f64 / measured.elapsed.as_secs_f64();
    let per_fsync = measured.appends as f64 / measured.groups.max(1) as f64;
    let replicas = if args.replicas == 1 {
        String::new()
    } else {
        format!(" replicas={}", args.replicas)
    };
    println!(
        "journal io={}{replicas} writers={} payload={} appends_per_s={:.0} p50_us={} p99_us={} appends_per_fsync={:.1} fsync_p50_us={fsync_p50} fsync_p99_us={fsync_p99}",
        measured.io,
        args.writers,
        args.payload,
        per_s,
        measured.latency.value_at_quantile(0.5),
        measured.latency.value_at_quantile(0.99),
        per_fsync,
    );
    Ok(())
}

/// Runs `writers` closed loops of `append` for warm-up + `seconds`, and
/// returns the appends and latencies of the measured part.
async fn closed_loop<F, Fut>(args: &Args, append: F) -> anyhow::Result<(u64, Duration, Histogram<u64>)>
where
    F: Fn(Bytes) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let append = Arc::new(append);
    let warmup = Duration::from_millis(500);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for writer in 0..args.writers {
        let append = append.clone();
        let mut payload = vec![b'a' + (writer % 26) as u8; args.payload];
        tasks.push(tokio::spawn(async move {
            let mut h = latency_histogram();
            let mut count = 0u64;
            let mut n = 0u64;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let tag = payload.len().min(8);
                payload[..tag].copy_from_slice(&n.to_le_bytes()[..tag]);
                n += 1;
                append(Bytes::copy_from_slice(&payload)).await?;
                if now >= measure_from {
                    record(&mut h, now.elapsed());
                    count += 1;
                }
            }
            Ok::<_, anyhow::Error>((count, h))
        }));
    }
    let mut total = 0;
    let mut latency = latency_histogram();
    for task in tasks {
        let (count, h) = task.await??;
        total += count;
        latency.add(&h).context("merging histograms")?;
    }
    Ok((total, Duration::from_secs(args.seconds), latency))
}

async fn local(args: &Args, dir: PathBuf) -> anyhow::Result<Measured> {
    let options = LogOptions {
        io: args.io,
        ..LogOptions::default()
    };
    let log = Arc::new(Log::open(dir.join("log"), options)?);
    eprintln!(
        "local segment store, io={}, {} writers x {} B for {} s",
        log.io_kind(),
        args.writers,
        args.payload,
        args.seconds
    );
    let before = Arc::new(std::sync::Mutex::new(None));
    let (log2, before2) = (log.clone(), before.clone());
    let warm = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(mut b) = before2.lock() {
            *b = Some(log2.stats());
        }
    });
    let writer_log = log.clone();
    let (appends, elapsed, latency) = closed_loop(args, move |payload| {
        let pending = writer_log.append_one(payload);
        async move {
            pending.await?;
            Ok(())
        }
    })
    .await?;
    warm.await?;
    let start_stats = before.lock().ok().and_then(|b| *b).unwrap_or_default();
    let groups = log.stats().groups - start_stats.groups;
    Ok(Measured {
        io: log.io_kind().to_string(),
        appends,
        elapsed,
        latency,
        groups,
    })
}

struct Cluster {
    children: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
    }
}

async fn replicated(args: &Args, dir: PathBuf) -> anyhow::Result<Measured> {
    let bin = memoir_bin(args.memoir_bin.as_deref())?;
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
        })
        .collect::<Result<_, _>>()?;
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let io = match args.io {
        IoMode::Auto => "auto",
        IoMode::Uring => "uring",
        IoMode::Sync => "sync",
    };
    let mut cluster = Cluster { children: Vec::new() };
    for (i, port) in ports.iter().enumerate() {
        let child = Command::new(&bin)
            .args(["journal", "--id", &(i + 1).to_string()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--peers", &peers, "--io", io, "--log", "warn"])
            .arg("--data-dir")
            .arg(dir.join(format!("journal-{}", i + 1)))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        cluster.children.push(child);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let leader_addr = wait_for_leader(&addrs).await?;
    eprintln!(
        "replicated journal of 3 processes (leader {leader_addr}), {} writers x {} B for {} s",
        args.writers, args.payload, args.seconds
    );
    let client = Arc::new(JournalClient::new(ClientOptions::new(addrs.clone())));
    let me = LeaderId::random();
    client.set_leader(me, LeaderId::NONE).await?;
    let groups_at = |addr: String| async move {
        replica_status(&addr, &LinkSecurity::none(), Duration::from_secs(2))
            .await
            .map(|s| (s.log_groups, s.io))
    };
    let writer_client = client.clone();
    let leader_for_warmup = leader_addr.clone();
    let before = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        groups_at(leader_for_warmup).await
    });
    let (appends, elapsed, latency) = closed_loop(args, move |payload| {
        let pending = writer_client.append(payload, me);
        async move {
            pending.await?;
            Ok(())
        }
    })
    .await?;
    let (groups_before, _) = before.await??;
    let (groups_after, io_kind) = groups_at(leader_addr).await?;
    drop(cluster);
    Ok(Measured {
        io: io_kind,
        appends,
        elapsed,
        latency,
        groups: groups_after - groups_before,
    })
}

async fn wait_for_leader(addrs: &[String]) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for addr in addrs {
            if let Ok(status) = replica_status(addr, &LinkSecurity::none(), Duration::from_millis(300)).await {
                if status.role == "leader" {
                    return Ok(addr.clone());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no journal leader elected within 20 s")
}
