//! The cluster under test, as separate processes on loopback: three
//! `memoir journal` replicas, two `memoir server` memory nodes and
//! `memoir snapshot`, with a proxy on every link that can be partitioned.
//!
//! Journal replica i reaches replica j through proxy (i, j): its `--peers`
//! names the proxy. Memory node n reaches replica j through its own proxy
//! (n, j). A journal replica's not-leader redirect names its own peer
//! address for the leader, so a redirected node goes on through a
//! replica-to-replica proxy: partitions cut links, not whole hosts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::proxy::Proxy;
use crate::cluster::{role, server_command};
use crate::redis_compare::{connect, reserve_port, signal, wait_log_line, Proc, START_TIMEOUT, STOP_GRACE};

/// One process of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// Journal replica with raft id i + 1.
    Journal(usize),
    /// Memory node i.
    Node(usize),
    Snapshot,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::Journal(i) => write!(f, "journal-{}", i + 1),
            Component::Node(i) => write!(f, "node-{i}"),
            Component::Snapshot => f.write_str("snapshot"),
        }
    }
}

pub const COMPONENTS: [Component; 6] = [
    Component::Journal(0),
    Component::Journal(1),
    Component::Journal(2),
    Component::Node(0),
    Component::Node(1),
    Component::Snapshot,
];

/// A link that a partition can cut: one proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// Journal replica `from` dialing replica `to`.
    Peer { from: usize, to: usize },
    /// Memory node `node` dialing journal replica `journal`.
    NodeJournal { node: usize, journal: usize },
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Peer { from, to } => write!(f, "journal-{}->journal-{}", from + 1, to + 1),
            Link::NodeJournal { node, journal } => write!(f, "node-{node}->journal-{}", journal + 1),
        }
    }
}

/// Settings of the processes.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub lease_ms: u64,
    /// Journal raft tick, in ms (elections take 10 ticks).
    pub tick_ms: u64,
    pub segment_size_mib: u64,
}

pub struct Cluster {
    settings: Settings,
    journal_ports: [u16; 3],
    pub node_ports: [u16; 2],
    proxies: BTreeMap<Link, Proxy>,
    running: BTreeMap<Component, Proc>,
    paused: BTreeSet<Component>,
    /// Processes started so far, per component (restarts included).
    pub starts: BTreeMap<Component, u32>,
    /// Snapshots a fault has damaged. The store tolerates one bad snapshot
    /// (it keeps two, and trims the journal only below the older), so a
    /// new one is damaged only once these are all deleted.
    pub damaged_snapshots: Vec<PathBuf>,
}

impl Cluster {
    /// Starts every process and waits for a primary.
    pub fn start(settings: Settings) -> anyhow::Result<Cluster> {
        let mut held = Vec::new();
        let journal_ports = [
            reserve_port(&mut held)?,
            reserve_port(&mut held)?,
            reserve_port(&mut held)?,
        ];
        let node_ports = [reserve_port(&mut held)?, reserve_port(&mut held)?];
        drop(held);
        let mut proxies = BTreeMap::new();
        for from in 0..3 {
            for to in (0..3).filter(|&to| to != from) {
                proxies.insert(Link::Peer { from, to }, Proxy::start(journal_ports[to])?);
            }
        }
        for node in 0..2 {
            for (journal, port) in journal_ports.iter().enumerate() {
                proxies.insert(Link::NodeJournal { node, journal }, Proxy::start(*port)?);
            }
        }
        std::fs::create_dir_all(settings.dir.join("snapshot-store"))
            .with_context(|| format!("creating the snapshot store in {}", settings.dir.display()))?;
        let mut cluster = Cluster {
            settings,
            journal_ports,
            node_ports,
            proxies,
            running: BTreeMap::new(),
            paused: BTreeSet::new(),
            starts: BTreeMap::new(),
            damaged_snapshots: Vec::new(),
        };
        for j in 0..3 {
            cluster.spawn(Component::Journal(j))?;
        }
        for j in 0..3 {
            cluster.wait_ready(Component::Journal(j), "journal replica ready")?;
        }
        cluster.spawn(Component::Node(0))?;
        cluster.wait_primary(START_TIMEOUT)?;
        cluster.spawn(Component::Node(1))?;
        cluster.spawn(Component::Snapshot)?;
        cluster.wait_ready(Component::Node(1), "memory node ready")?;
        cluster.wait_ready(Component::Snapshot, "snapshot service ready")?;
        Ok(cluster)
    }

    pub fn journal_dir(&self, j: usize) -> PathBuf {
        self.settings.dir.join(format!("journal-{}", j + 1))
    }

    /// Where journal replica `j` keeps its segment files.
    pub fn segment_dir(&self, j: usize) -> PathBuf {
        self.journal_dir(j).join("log")
    }

    pub fn snapshot_store(&self) -> PathBuf {
        self.settings.dir.join("snapshot-store")
    }

    /// The journal replicas' own addresses (no proxy), comma-separated.
    fn journal_addrs(&self) -> String {
        self.journal_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn proxy_port(&self, link: Link) -> anyhow::Result<u16> {
        self.proxies
            .get(&link)
            .map(|p| p.port)
            .ok_or_else(|| anyhow!("no proxy for {link}"))
    }

    fn command(&self, c: Component) -> anyhow::Result<Command> {
        let s = &self.settings;
        Ok(match c {
            Component::Journal(j) => {
                let mut peers = Vec::new();
                for to in 0..3 {
                    let port = if to == j {
                        self.journal_ports[j]
                    } else {
                        self.proxy_port(Link::Peer { from: j, to })?
                    };
                    peers.push(format!("{}=127.0.0.1:{port}", to + 1));
                }
                let mut cmd = Command::new(&s.bin);
                cmd.args(["journal", "--id", &(j + 1).to_string()])
                    .args(["--listen", &format!("127.0.0.1:{}", self.journal_ports[j])])
                    .args(["--peers", &peers.join(",")])
                    .args(["--tick-ms", &s.tick_ms.to_string()])
                    .args(["--segment-size-mib", &s.segment_size_mib.to_string()])
                    .arg("--data-dir")
                    .arg(self.journal_dir(j));
                cmd
            }
            Component::Node(n) => {
                let journal = (0..3)
                    .map(|journal| {
                        Ok(format!(
                            "127.0.0.1:{}",
                            self.proxy_port(Link::NodeJournal { node: n, journal })?
                        ))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
                    .join(",");
                let data_dir = s.dir.join(format!("node-{n}"));
                let mut cmd = server_command(&s.bin, &journal, self.node_ports[n], &data_dir, s.lease_ms);
                cmd.arg("--snapshot-store").arg(self.snapshot_store());
                cmd
            }
            Component::Snapshot => {
                let mut cmd = Command::new(&s.bin);
                cmd.args(["snapshot", "--journal", &self.journal_addrs()])
                    .arg("--store")
                    .arg(self.snapshot_store())
                    .args(["--interval", "2s", "--min-log-ratio", "0.5", "--idle"]);
                cmd
            }
        })
    }

    /// Starts (or restarts over its data) one component.
    pub fn spawn(&mut self, c: Component) -> anyhow::Result<()> {
        let cmd = self.command(c)?;
        let log = self.settings.dir.join(format!("{c}.log"));
        let proc = Proc::spawn(&format!("memoir {c}"), cmd, &log)?;
        self.running.insert(c, proc);
        *self.starts.entry(c).or_default() += 1;
        Ok(())
    }

    fn wait_ready(&mut self, c: Component, line: &str) -> anyhow::Result<()> {
        let proc = self.running.get_mut(&c).ok_or_else(|| anyhow!("{c} is not running"))?;
        wait_log_line(proc, line, START_TIMEOUT)
    }

    pub fn is_running(&self, c: Component) -> bool {
        self.running.contains_key(&c)
    }

    pub fn kill9(&mut self, c: Component) -> anyhow::Result<()> {
        self.paused.remove(&c);
        if let Some(mut p) = self.running.remove(&c) {
            p.kill9()?;
        }
        Ok(())
    }

    pub fn pause(&mut self, c: Component) -> anyhow::Result<()> {
        if let Some(p) = self.running.get(&c) {
            signal(p.pid(), libc::SIGSTOP)?;
            self.paused.insert(c);
        }
        Ok(())
    }

    pub fn resume(&mut self, c: Component) -> anyhow::Result<()> {
        if self.paused.remove(&c) {
            if let Some(p) = self.running.get(&c) {
                signal(p.pid(), libc::SIGCONT)?;
            }
        }
        Ok(())
    }

    pub fn cut(&self, link: Link, reset: bool) {
        if let Some(p) = self.proxies.get(&link) {
            p.cut(reset);
        }
    }

    pub fn heal(&self, link: Link) {
        if let Some(p) = self.proxies.get(&link) {
            p.heal();
        }
    }

    /// Processes that exited on their own since the last call: removed
    /// from the running set, each with the end of its log.
    pub fn exited(&mut self) -> Vec<(Component, String)> {
        let mut gone = Vec::new();
        for (c, p) in self.running.iter_mut() {
            if let Err(e) = p.check_running() {
                gone.push((*c, format!("{e:#}")));
            }
        }
        for (c, _) in &gone {
            self.running.remove(c);
            self.paused.remove(c);
        }
        gone
    }

    /// Ends every fault: resumes paused processes, heals every link and
    /// starts whatever is not running.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        for c in self.paused.clone() {
            self.resume(c)?;
        }
        for p in self.proxies.values() {
            p.heal();
        }
        for c in COMPONENTS {
            if !self.is_running(c) {
                self.spawn(c)?;
            }
        }
        Ok(())
    }

    /// Which node answers ROLE as master (the first that does).
    pub fn primary(&self) -> Option<usize> {
        (0..2).find(|&i| {
            self.is_running(Component::Node(i))
                && connect(self.node_ports[i], Duration::from_millis(500))
                    .and_then(|mut c| role(&mut c))
                    .is_ok_and(|r| r.name == "master")
        })
    }

    pub fn wait_primary(&mut self, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.primary() {
                return Ok(p);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no primary within {} s; see the logs in {}; their ends:\n{}",
                    timeout.as_secs(),
                    self.settings.dir.display(),
                    self.log_tails(12)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of every component's log, and whether it is
    /// running: what a failure report needs when the scratch directory is
    /// gone by the time someone reads it (a test's temporary directory).
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for c in COMPONENTS {
            let path = self.settings.dir.join(format!("{c}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            let state = if self.is_running(c) { "running" } else { "NOT running" };
            out.push_str(&format!("--- {c} ({state}), {}:\n", path.display()));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// The journal's raft leader (index), per `memoir status`.
    pub fn raft_leader(&self) -> Option<usize> {
        let out = Command::new(&self.settings.bin)
            .args(["status", "--journal", &self.journal_addrs()])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .filter_map(|w| w.strip_prefix("raft_leader="))
            .find_map(|id| id.parse::<usize>().ok())
            .and_then(|id| id.checked_sub(1))
    }

    /// Resumes and stops every process.
    pub fn stop(mut self) {
        for c in self.paused.clone() {
            let _ = self.resume(c);
        }
        // Memory nodes first, so that they do not log the journal's absence.
        let order: Vec<Component> = COMPONENTS.iter().rev().copied().collect();
        for c in order {
            if let Some(p) = self.running.remove(&c) {
                p.stop(STOP_GRACE);
            }
        }
    }
}
