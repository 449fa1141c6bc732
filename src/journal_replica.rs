//! `memoir journal`: one replica of the replicated journal.
//!
//! Settings come from flags, then from `--config FILE` (TOML, the same
//! names with underscores), then defaults. Without `--peers` the replica is
//! a journal of one (useful for a quick local start; not fault tolerant).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use memoir_journal::server::{Replica, ReplicaConfig};
use memoir_journal::{IoMode, RecoveryMode};
use serde::Deserialize;

use crate::security::JournalSecurityArgs;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// TOML file with any of the settings below (flags win).
    #[arg(long)]
    config: Option<PathBuf>,
    /// This replica's raft id (1, 2, 3 ...).
    #[arg(long)]
    id: Option<u64>,
    /// Address to serve peers and clients on.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Every replica as ID=HOST:PORT, comma-separated, this one included.
    #[arg(long)]
    peers: Option<String>,
    /// Directory of this replica's data (created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// I/O backend: auto (io_uring if the kernel allows it), uring or sync.
    #[arg(long, env = "MEMOIR_IO")]
    io: Option<IoMode>,
    /// tolerate-torn-tail (default), strict, or truncate-at-first-bad-batch.
    #[arg(long)]
    recovery: Option<RecoveryMode>,
    /// Size of each preallocated segment file, in MiB (default 64).
    #[arg(long)]
    segment_size_mib: Option<u64>,
    /// Raft tick in milliseconds (default 100); elections take
    /// `election_ticks` ticks (default 10), heartbeats `heartbeat_ticks` (2).
    #[arg(long)]
    tick_ms: Option<u64>,
    #[arg(long)]
    election_ticks: Option<usize>,
    #[arg(long)]
    heartbeat_ticks: Option<usize>,
    #[command(flatten)]
    security: JournalSecurityArgs,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    id: Option<u64>,
    listen: Option<SocketAddr>,
    peers: Option<String>,
    data_dir: Option<PathBuf>,
    io: Option<String>,
    recovery: Option<String>,
    segment_size_mib: Option<u64>,
    tick_ms: Option<u64>,
    election_ticks: Option<usize>,
    heartbeat_ticks: Option<usize>,
    cluster_secret_file: Option<PathBuf>,
    journal_tls_cert: Option<PathBuf>,
    journal_tls_key: Option<PathBuf>,
    journal_tls_ca: Option<PathBuf>,
    journal_tls_auth_clients: Option<bool>,
}

impl FileConfig {
    fn security(&self) -> JournalSecurityArgs {
        JournalSecurityArgs {
            cluster_secret_file: self.cluster_secret_file.clone(),
            journal_tls_cert: self.journal_tls_cert.clone(),
            journal_tls_key: self.journal_tls_key.clone(),
            journal_tls_ca: self.journal_tls_ca.clone(),
            journal_tls_auth_clients: self.journal_tls_auth_clients,
        }
    }
}

fn parse_peers(text: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut peers = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .with_context(|| format!("peer {part:?} is not ID=HOST:PORT"))?;
        let id: u64 = id.parse().with_context(|| format!("peer id {id:?}"))?;
        if peers.insert(id, addr.to_string()).is_some() {
            bail!("peer id {id} appears twice");
        }
    }
    Ok(peers)
}

pub fn config_from(args: Args) -> anyhow::Result<ReplicaConfig> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let file_security = file.security();
    let id = args.id.or(file.id).unwrap_or(1);
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7101)));
    let peers = match args.peers.or(file.peers) {
        Some(text) => parse_peers(&text)?,
        None => BTreeMap::from([(id, listen.to_string())]),
    };
    if !peers.contains_key(&id) {
        bail!("--peers must include this replica's id {id}");
    }
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(format!("./memoir-data/journal-{id}")));
    let mut config = ReplicaConfig::new(id, listen, peers, data_dir);
    config.log.io = match (args.io, file.io) {
        (Some(io), _) => io,
        (None, Some(text)) => text.parse().map_err(anyhow::Error::msg)?,
        (None, None) => IoMode::Auto,
    };
    config.log.recovery = match (args.recovery, file.recovery) {
        (Some(mode), _) => mode,
        (None, Some(text)) => text.parse().map_err(anyhow::Error::msg)?,
        (None, None) => RecoveryMode::TolerateTornTail,
    };
    if let Some(mib) = args.segment_size_mib.or(file.segment_size_mib) {
        config.log.segment_size_bytes = mib << 20;
    }
    if let Some(ms) = args.tick_ms.or(file.tick_ms) {
        config.node.tick = Duration::from_millis(ms.max(1));
    }
    if let Some(ticks) = args.election_ticks.or(file.election_ticks) {
        config.node.election_ticks = ticks;
    }
    if let Some(ticks) = args.heartbeat_ticks.or(file.heartbeat_ticks) {
        config.node.heartbeat_ticks = ticks;
    }
    config.security = args.security.or(file_security).link_security(true)?;
    Ok(config)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config_from(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("journal-net")
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let id = config.id;
        let data_dir = config.data_dir.clone();
        let replicas = config.peers.len();
        let replica = Replica::start(config)
            .await
            .with_context(|| format!("starting journal replica {id} in {}", data_dir.display()))?;
        println!(
            "journal replica ready: id={id} listen={} replicas={replicas} data_dir={} io={}",
            replica.local_addr,
            data_dir.display(),
            replica.shared.log.io_kind()
        );
        if replicas == 1 {
            println!("(a journal of one replica: not fault tolerant; pass --peers for three)");
        }
        let shared = replica.shared.clone();
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let mut fatal_check = tokio::time::interval(Duration::from_millis(200));
        let outcome = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break Ok(ExitCode::SUCCESS),
                _ = terminate.recv() => break Ok(ExitCode::SUCCESS),
                _ = fatal_check.tick() => {
                    if let Some(reason) = shared.fatal() {
                        break Err(anyhow::anyhow!("journal replica {id} stopped: {reason}"));
                    }
                }
            }
        };
        tokio::task::block_in_place(|| replica.stop());
        println!("journal replica {id} stopped");
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("journal.toml");
        std::fs::write(
            &file,
            "id = 2\nlisten = \"127.0.0.1:7102\"\npeers = \"1=a:1,2=127.0.0.1:7102,3=c:3\"\ntick_ms = 50\nio = \"sync\"\n",
        )
        .unwrap();
        let args = Args {
            config: Some(file),
            tick_ms: Some(20),
            ..Args::default()
        };
        let config = config_from(args).unwrap();
        assert_eq!(config.id, 2);
        assert_eq!(config.peers.len(), 3);
        assert_eq!(config.node.tick, Duration::from_millis(20));
        assert_eq!(config.log.io, IoMode::Sync);
        assert_eq!(config.node.voters, vec![1, 2, 3]);
        assert!(parse_peers("1=a:1,1=b:2").is_err());
        let alone = config_from(Args {
            id: Some(3),
            peers: Some("1=a:1".into()),
            ..Args::default()
        });
        assert!(alone.is_err(), "a replica must be in its own peer list");
    }
}
