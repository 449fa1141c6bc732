//! Test harness: journal replicas as real `memoir journal` processes on
//! loopback, and a TCP proxy that can cut a link.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memoir_journal::client::{replica_status, ClientOptions, JournalClient};
use memoir_journal::wire::StatusReport;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

pub fn free_port() -> u16 {
    memoir_journal::test_ports::free_loopback_addr().port()
}

/// A seed from `MEMOIR_TEST_SEED` or the clock, printed for replay.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("MEMOIR_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: seed={seed} (replay with MEMOIR_TEST_SEED={seed})");
    seed
}

/// A TCP forwarder whose traffic can be cut (existing connections are
/// dropped and new ones closed at once) and restored.
pub struct Proxy {
    pub port: u16,
    open: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let open = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (open2, generation2) = (open.clone(), generation.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !open2.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let target = target.clone();
                let (open, generation) = (open2.clone(), generation2.clone());
                let born = generation.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let pump = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    tokio::pin!(pump);
                    loop {
                        tokio::select! {
                            _ = &mut pump => return,
                            _ = tokio::time::sleep(Duration::from_millis(10)) => {
                                if !open.load(Ordering::SeqCst) || generation.load(Ordering::SeqCst) != born {
                                    return; // cut: drop both sides
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy {
            port,
            open,
            generation,
            task,
        }
    }

    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    /// peers flag per replica (proxies may stand in for peers).
    peers_flag: Vec<String>,
    /// Extra flags for every replica (security settings, for example).
    extra_flags: Vec<String>,
    children: Vec<Option<Child>>,
}

impl Cluster {
    /// Three replicas; `link(from, to)` gives the address replica `from`
    /// dials for replica `to` (for proxies), or `None` for the direct one.
    pub fn start_with(links: impl Fn(u64, u64) -> Option<String>) -> Cluster {
        Cluster::start_with_flags(links, |_| Vec::new())
    }

    /// As `start_with`, with extra replica flags made from the cluster's
    /// directory (where a test puts its secret or certificate files).
    pub fn start_with_flags(
        links: impl Fn(u64, u64) -> Option<String>,
        flags: impl Fn(&std::path::Path) -> Vec<String>,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra_flags = flags(dir.path());
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut peers_flag = Vec::new();
        for from in 1..=3u64 {
            let peers: Vec<String> = (1..=3u64)
                .map(|to| {
                    let direct = format!("127.0.0.1:{}", ports[to as usize - 1]);
                    let addr = if to == from {
                        direct
                    } else {
                        links(from, to).unwrap_or(direct)
                    };
                    format!("{to}={addr}")
                })
                .collect();
            peers_flag.push(peers.join(","));
        }
        let mut cluster = Cluster {
            dir,
            ports,
            peers_flag,
            extra_flags,
            children: vec![None, None, None],
        };
        for id in 1..=3 {
            cluster.spawn(id);
        }
        cluster
    }

    pub fn start() -> Cluster {
        Cluster::start_with(|_, _| None)
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("journal-{id}"))
    }

    pub fn addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.ports[id as usize - 1])
    }

    pub fn addrs(&self) -> Vec<String> {
        (1..=3).map(|id| self.addr(id)).collect()
    }

    pub fn spawn(&mut self, id: u64) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("journal-{id}.log")))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_memoir"))
            .args(["journal", "--id", &id.to_string()])
            .args(["--listen", &self.addr(id)])
            .args(["--peers", &self.peers_flag[id as usize - 1]])
            .args(["--tick-ms", "20", "--segment-size-mib", "1", "--log", "info"])
            .args(&self.extra_flags)
            .arg("--data-dir")
            .arg(self.data_dir(id))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn memoir journal");
        self.children[id as usize - 1] = Some(child);
    }

    /// kill -9.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children[id as usize - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self, deadline: Duration) -> JournalClient {
        let mut options = ClientOptions::new(self.addrs());
        options.deadline = deadline;
        JournalClient::new(options)
    }

    pub fn client_of(&self, id: u64, deadline: Duration) -> JournalClient {
        let mut options = ClientOptions::new(vec![self.addr(id)]);
        options.deadline = deadline;
        JournalClient::new(options)
    }

    pub async fn status(&self, id: u64) -> Option<StatusReport> {
        replica_status(
            &self.addr(id),
            &memoir_journal::LinkSecurity::none(),
            Duration::from_millis(500),
        )
        .await
        .ok()
    }

    /// The raft leader's id, waiting up to `within`.
    pub async fn raft_leader(&self, within: Duration) -> u64 {
        let start = Instant::now();
        while start.elapsed() < within {
            for id in 1..=3 {
                if let Some(status) = self.status(id).await {
                    if status.role == "leader" {
                        return id;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no raft leader within {within:?}\n{}", self.logs());
    }

    /// Waits until replica `id` has applied at least `seq`.
    pub async fn wait_applied(&self, id: u64, seq: u64, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(status) = self.status(id).await {
                if status.applied.0 >= seq {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("replica {id} did not apply {seq} within {within:?}\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for id in 1..=3 {
            let path = self.dir.path().join(format!("journal-{id}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(25).collect();
            out.push_str(&format!("--- replica {id} (last lines) ---\n"));
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.contains("panicked") || line.contains("ERROR") {
                    for l in &lines[i..(i + 3).min(lines.len())] {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    pub fn log_of(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("journal-{id}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=3 {
            self.kill(id);
        }
    }
}

/// Segment files of a replica's log, oldest first.
pub fn segments(data_dir: &Path) -> Vec<PathBuf> {
    memoir_journal::segment::list_segments(&data_dir.join("log"))
        .expect("list segments")
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

pub type Peers = BTreeMap<u64, String>;

/// Memory nodes as real `memoir server` processes over a [`Cluster`].
pub struct MemoryNodes {
    dir: PathBuf,
    journal: String,
    pub lease_ms: u64,
    pub ports: Vec<u16>,
    delays_ms: Vec<u64>,
    /// Flags every node is started with, after the ones above.
    extra_args: Vec<String>,
    children: Vec<Option<Child>>,
}

impl MemoryNodes {
    /// `count` nodes; node i waits `i * lease` longer before contesting,
    /// so node 0 becomes the first primary.
    pub fn start(cluster: &Cluster, count: usize, lease_ms: u64) -> MemoryNodes {
        MemoryNodes::start_with_args(cluster, count, lease_ms, &[])
    }

    /// [`MemoryNodes::start`] with more flags for `memoir server`.
    pub fn start_with_args(cluster: &Cluster, count: usize, lease_ms: u64, extra_args: &[&str]) -> MemoryNodes {
        let mut nodes = MemoryNodes {
            dir: cluster.dir.path().to_path_buf(),
            journal: cluster.addrs().join(","),
            lease_ms,
            ports: (0..count).map(|_| free_port()).collect(),
            delays_ms: (0..count as u64).map(|i| i * lease_ms).collect(),
            extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
            children: (0..count).map(|_| None).collect(),
        };
        for i in 0..count {
            nodes.spawn(i);
        }
        nodes
    }

    pub fn spawn(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node-{i}.log")))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_memoir"))
            .args(["server", "--journal", &self.journal])
            .args(["--port", &self.ports[i].to_string()])
            .args(["--lease-ms", &self.lease_ms.to_string()])
            .args(["--election-delay-ms", &self.delays_ms[i].to_string()])
            .args(["--log", "info"])
            .args(&self.extra_args)
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{i}")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn memoir server");
        self.children[i] = Some(child);
    }

    pub fn url(&self, i: usize) -> String {
        format!("redis://127.0.0.1:{}/", self.ports[i])
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`) to node i.
    pub fn signal(&self, i: usize, signal: &str) {
        if let Some(child) = &self.children[i] {
            let status = Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signal} failed");
        }
    }

    /// ROLE of node i ("master", "slave"), if it answers.
    pub async fn role(&self, i: usize) -> Option<String> {
        let client = redis::Client::open(self.url(i)).ok()?;
        let connect = client.get_multiplexed_async_connection();
        let mut con = tokio::time::timeout(Duration::from_millis(500), connect)
            .await
            .ok()?
            .ok()?;
        let command = redis::cmd("ROLE");
        let role = command.query_async::<Vec<redis::Value>>(&mut con);
        let role = tokio::time::timeout(Duration::from_millis(500), role)
            .await
            .ok()?
            .ok()?;
        match role.first() {
            Some(redis::Value::BulkString(name)) => Some(String::from_utf8_lossy(name).into_owned()),
            _ => None,
        }
    }

    /// The node that answers ROLE with master, waiting up to `within`.
    pub async fn primary(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for i in 0..self.ports.len() {
                if self.children[i].is_some() && self.role(i).await.as_deref() == Some("master") {
                    return i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no memory node became primary\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for i in 0..self.ports.len() {
            let text = std::fs::read_to_string(self.dir.join(format!("node-{i}.log"))).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!("--- node {i} (last 30 lines)\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for MemoryNodes {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.signal(i, "CONT");
            self.kill(i);
        }
    }
}
