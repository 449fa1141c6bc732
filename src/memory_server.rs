//! `memoir server`: one memory node (RESP on a TCP port) over a running
//! journal, and `memoir dev`: a whole local cluster in one process.
//!
//! Settings come from flags, then `--config FILE` (TOML, the same names with
//! underscores), then safe defaults (bind to localhost, lease 1 s).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use std::sync::Arc;

use memoir_engine::node::limits::parse_memory;
use memoir_engine::node::memory::MAX_SAMPLES;
use memoir_engine::{EvictionPolicy, MemoryNode, NodeConfig, Role, Snapshots};
use memoir_journal::server::{Replica, ReplicaConfig};
use memoir_snapshot::service::DEFAULT_IO_BYTES_PER_S;
use memoir_snapshot::{ServiceConfig, SnapshotService, StoreSource};
use serde::Deserialize;
use tracing::info;

use crate::allocator::JEMALLOC_GAUGE;
use crate::security::{dev_cluster_secret, ClientTlsArgs, JournalSecurityArgs};

#[derive(clap::Args, Debug, Default)]
pub struct ServerArgs {
    /// TOML file with any of the settings below (flags win).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Journal replicas, comma-separated HOST:PORT.
    #[arg(long)]
    journal: Option<String>,
    /// Port to serve RESP on (default 6379).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (default 127.0.0.1: reachable from this machine only).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Directory for this node's local files (snapshots it rehydrates from).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The primary's lease in milliseconds (default 1000); renewed every lease/3.
    #[arg(long)]
    lease_ms: Option<u64>,
    /// Extra wait past the lease before a replica contests (default lease/4).
    #[arg(long)]
    lease_margin_ms: Option<u64>,
    /// Added to this node's wait before it contests leadership (default 0).
    #[arg(long)]
    election_delay_ms: Option<u64>,
    /// Most simultaneous clients (default 10000, as Redis).
    #[arg(long)]
    maxclients: Option<usize>,
    /// Number of databases (default 16).
    #[arg(long)]
    databases: Option<usize>,
    /// Never become primary (a read replica only).
    #[arg(long)]
    replica_only: bool,
    /// Snapshot store to rehydrate from and forward BGSAVE to (the
    /// `--store` of `memoir snapshot`); without it the node replays the
    /// whole journal, which must then be untrimmed.
    #[arg(long)]
    snapshot_store: Option<PathBuf>,
    #[command(flatten)]
    tls: ClientTlsArgs,
    #[command(flatten)]
    journal_security: JournalSecurityArgs,
    /// Password of the default user (as Redis's `requirepass`); clients
    /// must AUTH with it. Prefer the config file: flags show in `ps`.
    #[arg(long)]
    requirepass: Option<String>,
    /// `yes` (default) or `no`: while no password is set, refuse clients
    /// that are not on this machine.
    #[arg(long)]
    protected_mode: Option<YesNo>,
    /// Close clients idle this many seconds (default 0: never).
    #[arg(long)]
    timeout: Option<u64>,
    #[command(flatten)]
    memory: MemoryArgs,
}

/// Redis's `maxmemory` settings, for `memoir server` (a process with one
/// node, so the allocator's count is the node's).
#[derive(clap::Args, Debug, Default)]
pub struct MemoryArgs {
    /// Most memory the node may use, as Redis's `maxmemory`: `100mb`,
    /// `2gb` (default 0: no limit). Measured by the allocator.
    #[arg(long)]
    maxmemory: Option<String>,
    /// What the primary does at `maxmemory`: noeviction (refuse writes,
    /// the default), allkeys-lru, allkeys-lfu, allkeys-random,
    /// volatile-lru, volatile-lfu, volatile-random or volatile-ttl.
    #[arg(long)]
    maxmemory_policy: Option<String>,
    /// Keys sampled per database for each eviction (default 5).
    #[arg(long)]
    maxmemory_samples: Option<usize>,
}

impl MemoryArgs {
    fn or(self, file: MemoryArgs) -> MemoryArgs {
        MemoryArgs {
            maxmemory: self.maxmemory.or(file.maxmemory),
            maxmemory_policy: self.maxmemory_policy.or(file.maxmemory_policy),
            maxmemory_samples: self.maxmemory_samples.or(file.maxmemory_samples),
        }
    }

    /// Checks the values and sets them on `config`, with jemalloc's gauge.
    fn apply(self, config: &mut NodeConfig) -> anyhow::Result<()> {
        if let Some(text) = self.maxmemory {
            config.maxmemory = parse_memory(&text)
                .with_context(|| format!("maxmemory: {text:?} is not a memory value (such as 100mb or 2gb)"))?;
        }
        if let Some(name) = self.maxmemory_policy {
            config.maxmemory_policy = EvictionPolicy::parse(&name).with_context(|| {
                format!(
                    "maxmemory-policy: {name:?} is none of {}",
                    EvictionPolicy::ALL.map(EvictionPolicy::name).join(", ")
                )
            })?;
        }
        if let Some(samples) = self.maxmemory_samples {
            if !(1..=MAX_SAMPLES).contains(&samples) {
                bail!("maxmemory-samples must be between 1 and {MAX_SAMPLES}, not {samples}");
            }
            config.maxmemory_samples = samples;
        }
        config.memory_gauge = Some(JEMALLOC_GAUGE);
        Ok(())
    }
}

/// Redis's boolean spelling for settings.
#[derive(clap::ValueEnum, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum YesNo {
    Yes,
    No,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    journal: Option<String>,
    port: Option<u16>,
    bind: Option<IpAddr>,
    data_dir: Option<PathBuf>,
    lease_ms: Option<u64>,
    lease_margin_ms: Option<u64>,
    election_delay_ms: Option<u64>,
    maxclients: Option<usize>,
    databases: Option<usize>,
    replica_only: Option<bool>,
    snapshot_store: Option<PathBuf>,
    tls_port: Option<u16>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_ca_cert_file: Option<PathBuf>,
    tls_auth_clients: Option<String>,
    cluster_secret_file: Option<PathBuf>,
    journal_tls_cert: Option<PathBuf>,
    journal_tls_key: Option<PathBuf>,
    journal_tls_ca: Option<PathBuf>,
    journal_tls_auth_clients: Option<bool>,
    requirepass: Option<String>,
    protected_mode: Option<YesNo>,
    timeout: Option<u64>,
    maxmemory: Option<String>,
    maxmemory_policy: Option<String>,
    maxmemory_samples: Option<usize>,
}

impl FileConfig {
    fn memory(&self) -> MemoryArgs {
        MemoryArgs {
            maxmemory: self.maxmemory.clone(),
            maxmemory_policy: self.maxmemory_policy.clone(),
            maxmemory_samples: self.maxmemory_samples,
        }
    }

    fn tls(&self) -> anyhow::Result<ClientTlsArgs> {
        Ok(ClientTlsArgs {
            tls_port: self.tls_port,
            tls_cert_file: self.tls_cert_file.clone(),
            tls_key_file: self.tls_key_file.clone(),
            tls_ca_cert_file: self.tls_ca_cert_file.clone(),
            tls_auth_clients: match &self.tls_auth_clients {
                Some(text) => Some(
                    text.parse()
                        .map_err(|e: String| anyhow::anyhow!("tls_auth_clients: {e}"))?,
                ),
                None => None,
            },
        })
    }

    fn journal_security(&self) -> JournalSecurityArgs {
        JournalSecurityArgs {
            cluster_secret_file: self.cluster_secret_file.clone(),
            journal_tls_cert: self.journal_tls_cert.clone(),
            journal_tls_key: self.journal_tls_key.clone(),
            journal_tls_ca: self.journal_tls_ca.clone(),
            journal_tls_auth_clients: self.journal_tls_auth_clients,
        }
    }
}

/// A node's configuration from flags and file, plus its data directory.
pub fn node_config(args: ServerArgs) -> anyhow::Result<(NodeConfig, PathBuf)> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let file_tls = file.tls()?;
    let file_journal_security = file.journal_security();
    let file_memory = file.memory();
    let journal: Vec<String> = args
        .journal
        .or(file.journal)
        .unwrap_or_else(|| "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if journal.is_empty() {
        bail!("--journal needs at least one HOST:PORT");
    }
    let port = args.port.or(file.port).unwrap_or(6379);
    let bind = args.bind.or(file.bind).unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let mut config = NodeConfig::new(journal, SocketAddr::new(bind, port));
    config.tls = args.tls.or(file_tls).client_tls(bind, 0)?;
    // Redis's `port 0`: no plain port when a TLS port is set.
    config.serve_plain = port != 0 || config.tls.is_none();
    config.journal_security = args.journal_security.or(file_journal_security).link_security(false)?;
    if let Some(ms) = args.lease_ms.or(file.lease_ms) {
        config.lease = Duration::from_millis(ms);
    }
    config.lease_margin = match args.lease_margin_ms.or(file.lease_margin_ms) {
        Some(ms) => Duration::from_millis(ms),
        None => config.lease / 4,
    };
    if let Some(ms) = args.election_delay_ms.or(file.election_delay_ms) {
        config.election_delay = Duration::from_millis(ms);
    }
    if let Some(n) = args.maxclients.or(file.maxclients) {
        config.maxclients = n;
    }
    if let Some(n) = args.databases.or(file.databases) {
        config.databases = n;
    }
    config.can_lead = !(args.replica_only || file.replica_only.unwrap_or(false));
    config.requirepass = args.requirepass.or(file.requirepass).filter(|p| !p.is_empty());
    config.protected_mode = args.protected_mode.or(file.protected_mode) != Some(YesNo::No);
    if let Some(seconds) = args.timeout.or(file.timeout) {
        config.idle_timeout = Duration::from_secs(seconds);
    }
    args.memory.or(file_memory).apply(&mut config)?;
    if let Some(store) = args.snapshot_store.or(file.snapshot_store) {
        let source =
            StoreSource::open(&store).with_context(|| format!("opening snapshot store {}", store.display()))?;
        config.snapshots = Snapshots(Some(Arc::new(source)));
    }
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(format!("./memoir-data/node-{port}")));
    Ok((config, data_dir))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("memoir-net")
        .build()
        .context("starting the runtime")
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

pub fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let (config, data_dir) = node_config(args)?;
    prepare_dir(&data_dir)?;
    runtime()?.block_on(async move {
        let journal = config.journal.join(",");
        let node = MemoryNode::start(config).await.context("starting the memory node")?;
        let tls = node.tls_local_addr().map(|a| format!(" tls={a}")).unwrap_or_default();
        println!(
            "memory node ready: listen={}{tls} node_id={} journal={journal} data_dir={}",
            node.local_addr(),
            node.id(),
            data_dir.display()
        );
        wait_for_stop(&[&node]).await?;
        node.shutdown().await;
        println!("memory node stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits for SIGINT, SIGTERM or a client's SHUTDOWN.
async fn wait_for_stop(nodes: &[&MemoryNode]) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let shutdown_requested = async {
        let waits: Vec<_> = nodes.iter().map(|n| Box::pin(n.shutdown_requested())).collect();
        futures_select_any(waits).await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: stopping"),
        _ = terminate.recv() => info!("SIGTERM: stopping"),
        _ = shutdown_requested => info!("SHUTDOWN requested by a client: stopping"),
    }
    Ok(())
}

/// Resolves when any of the futures does.
async fn futures_select_any<F: std::future::Future<Output = ()> + Unpin>(mut futures: Vec<F>) {
    std::future::poll_fn(|cx| {
        for future in futures.iter_mut() {
            if std::pin::Pin::new(future).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// RESP port of the primary; the replica serves on the next port.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Where the journal replicas keep their data (kept across restarts).
    #[arg(long, default_value = "./memoir-data")]
    data_dir: PathBuf,
    /// First of the three journal replicas' ports.
    #[arg(long, default_value_t = 7101)]
    journal_port: u16,
    /// The primary's lease in milliseconds.
    #[arg(long, default_value_t = 1000)]
    lease_ms: u64,
    /// Snapshot when the log since the last snapshot exceeds this fraction
    /// of the data set.
    #[arg(long, default_value_t = 0.5)]
    snapshot_min_log_ratio: f64,
    /// How often the snapshot service checks freshness (BGSAVE is at once).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    snapshot_interval: Duration,
    /// RESP over TLS: the primary on --tls-port, the replica on the next port.
    #[command(flatten)]
    tls: ClientTlsArgs,
    /// The journal's cluster secret file (default: DATA_DIR/cluster-secret,
    /// made at first start).
    #[arg(long, env = "MEMOIR_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// Password of the default user on both nodes (as Redis's
    /// `requirepass`).
    #[arg(long, env = "MEMOIR_REQUIREPASS")]
    requirepass: Option<String>,
    /// Close clients idle this many seconds (default 0: never).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
}

/// `memoir dev`: three journal replicas, a primary and a replica in one
/// process, all on loopback.
pub fn run_dev(args: DevArgs) -> anyhow::Result<ExitCode> {
    let Some(replica_port) = args.port.checked_add(1) else {
        bail!("--port must leave room for the replica on the next port");
    };
    let journal_addrs: Vec<SocketAddr> = (0..3u16)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], args.journal_port.saturating_add(i))))
        .collect();
    let peers: BTreeMap<u64, String> = journal_addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| (i as u64 + 1, addr.to_string()))
        .collect();
    prepare_dir(&args.data_dir)?;
    let secret_file = match args.cluster_secret_file.clone() {
        Some(path) => path,
        None => dev_cluster_secret(&args.data_dir)?,
    };
    let journal_security = JournalSecurityArgs {
        cluster_secret_file: Some(secret_file.clone()),
        ..JournalSecurityArgs::default()
    }
    .link_security(true)?;
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let primary_tls = args.tls.client_tls(loopback, 0)?;
    let replica_tls = args.tls.client_tls(loopback, 1)?;
    runtime()?.block_on(async move {
        let mut replicas = Vec::new();
        for (id, addr) in peers.keys().zip(&journal_addrs) {
            let dir = args.data_dir.join(format!("journal-{id}"));
            let mut config = ReplicaConfig::new(*id, *addr, peers.clone(), dir.clone());
            config.security = journal_security.clone();
            let replica = Replica::start(config)
                .await
                .with_context(|| format!("starting journal replica {id} in {}", dir.display()))?;
            replicas.push(replica);
        }
        let journal: Vec<String> = journal_addrs.iter().map(ToString::to_string).collect();
        // The snapshot service shares this machine with the primary, so it
        // runs at idle CPU priority.
        let store = args.data_dir.join("snapshots");
        let mut service_config = ServiceConfig::new(journal.clone(), store.clone());
        service_config.min_log_ratio = args.snapshot_min_log_ratio;
        service_config.interval = args.snapshot_interval;
        service_config.idle_priority = true;
        service_config.journal_security = journal_security.clone();
        let service = SnapshotService::start(service_config).context("starting the snapshot service")?;
        let source = StoreSource::open(&store).with_context(|| format!("opening snapshot store {}", store.display()))?;
        let snapshots = Snapshots(Some(Arc::new(source)));
        let lease = Duration::from_millis(args.lease_ms);
        let mut primary_config = NodeConfig::new(journal.clone(), SocketAddr::from(([127, 0, 0, 1], args.port)));
        primary_config.lease = lease;
        primary_config.lease_margin = lease / 4;
        primary_config.snapshots = snapshots;
        primary_config.journal_security = journal_security;
        primary_config.tls = primary_tls;
        primary_config.requirepass = args.requirepass.filter(|p| !p.is_empty());
        primary_config.idle_timeout = Duration::from_secs(args.timeout);
        // No memory gauge, so no maxmemory: the allocator's count covers
        // the whole process, both nodes' datasets and the journal's
        // buffers, and the primary would evict everything to meet a
        // limit meant for its own data.
        let mut replica_config = primary_config.clone();
        replica_config.listen = SocketAddr::from(([127, 0, 0, 1], replica_port));
        replica_config.tls = replica_tls;
        // The second node waits a lease longer before contesting, so after a
        // restart the primary comes back on the first port.
        replica_config.election_delay = lease;
        let primary = MemoryNode::start(primary_config).await.context("starting the primary")?;
        let replica = MemoryNode::start(replica_config).await.context("starting the replica")?;
        println!(
            "memoir dev: journal={} data_dir={} snapshot_store={} cluster_secret_file={}",
            journal.join(","),
            args.data_dir.display(),
            store.display(),
            secret_file.display()
        );
        if let (Some(p), Some(r)) = (primary.tls_local_addr(), replica.tls_local_addr()) {
            println!("memoir dev: RESP over TLS on {p} and {r}");
        }
        println!(
            "memoir dev: memory nodes on {} (primary once elected) and {} (replica)",
            primary.local_addr(),
            replica.local_addr()
        );
        let ready = async {
            loop {
                if primary.role() == Role::Primary || replica.role() == Role::Primary {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        {
            let nodes = [&primary, &replica];
            let stop = wait_for_stop(&nodes);
            tokio::pin!(stop);
            tokio::select! {
                _ = ready => {
                    let (p, r) = if primary.role() == Role::Primary { (&primary, &replica) } else { (&replica, &primary) };
                    println!(
                        "memoir dev ready: primary={} replica={} journal={}",
                        p.local_addr(),
                        r.local_addr(),
                        journal.join(",")
                    );
                    stop.await?;
                }
                stopped = &mut stop => stopped?,
            }
        }
        primary.shutdown().await;
        replica.shutdown().await;
        if let Err(error) = tokio::task::block_in_place(|| service.stop()) {
            tracing::warn!(%error, "snapshot service");
        }
        for replica in replicas {
            tokio::task::block_in_place(|| replica.stop());
        }
        println!("memoir dev stopped");
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// Journal replicas, comma-separated HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103")]
    journal: String,
    /// The snapshot store directory (memory nodes' `--snapshot-store`).
    #[arg(long)]
    store: PathBuf,
    /// Snapshot when the log since the last snapshot exceeds this fraction
    /// of the data set.
    #[arg(long, default_value_t = 0.5)]
    min_log_ratio: f64,
    /// How often freshness is checked (BGSAVE requests are seen at once).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Snapshots kept (at least 2).
    #[arg(long, default_value_t = 2)]
    retain: usize,
    /// Journal records kept below the previous snapshot when trimming.
    #[arg(long, default_value_t = 1000)]
    trim_margin: u64,
    /// Most SST files per snapshot.
    #[arg(long, default_value_t = 4)]
    files: usize,
    /// Number of databases of the memory nodes.
    #[arg(long, default_value_t = 16)]
    databases: usize,
    /// Run at idle CPU priority (for a machine shared with a primary).
    #[arg(long)]
    idle: bool,
    /// Upper bound on a snapshot's disk I/O (writing its files and reading
    /// them back) and on the service's reading of the journal, in MB (10^6
    /// bytes) per second; 0: unlimited. Keeps the journal's fdatasyncs fast
    /// when the store shares their disk; keep it above the journal's growth.
    #[arg(long, env = "MEMOIR_SNAPSHOT_IO_MB_PER_S", default_value_t = DEFAULT_IO_BYTES_PER_S / 1_000_000)]
    io_mb_per_s: u64,
    #[command(flatten)]
    journal_security: JournalSecurityArgs,
}

/// `memoir snapshot`: the snapshot service as its own process.
pub fn run_snapshot(args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    let journal: Vec<String> = args
        .journal
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let mut config = ServiceConfig::new(journal, args.store.clone());
    config.min_log_ratio = args.min_log_ratio;
    config.interval = args.interval;
    config.retain = args.retain;
    config.trim_margin = args.trim_margin;
    config.max_files = args.files;
    config.databases = args.databases;
    config.idle_priority = args.idle;
    config.io_bytes_per_s = args.io_mb_per_s.saturating_mul(1_000_000);
    config.journal_security = args.journal_security.link_security(false)?;
    let service = SnapshotService::start(config).context("starting the snapshot service")?;
    println!("snapshot service ready: store={}", args.store.display());
    let stats = std::sync::Arc::clone(&service.stats);
    runtime()?.block_on(async move {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let failed = async {
            while !stats.failed.load(std::sync::atomic::Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("SIGINT: stopping"),
            _ = terminate.recv() => info!("SIGTERM: stopping"),
            _ = failed => {}
        }
        anyhow::Ok(())
    })?;
    match service.stop() {
        Ok(()) => {
            println!("snapshot service stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e).context("snapshot service"),
    }
}
