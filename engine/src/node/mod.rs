//! The memory node: a Redis-compatible server whose writes are acknowledged
//! only after the journal commits them.
//!
//! Threads and tasks (see ARCHITECTURE.md, "Memory node"):
//! - one **execution thread** ([`exec`]) owns the keyspace; every command
//!   runs there, so commands are atomic without locks;
//! - **connection tasks** ([`connection`]) read and parse RESP, and encode
//!   and write replies, off the execution thread; a reply leaves only once
//!   the journal batch it depends on has committed ([`commit`]);
//! - the **role driver** ([`role`]) follows the journal as a replica, runs
//!   elections on the journal's leader register, renews the primary's lease
//!   and resigns on shutdown.

pub mod acl;
mod changes;
pub(crate) mod commit;
pub(crate) mod connection;
pub(crate) mod exec;
mod info;
pub(crate) mod journal_stats;
pub mod limits;
pub mod memory;
pub mod protected_mode;
pub(crate) mod role;
mod shared;
pub mod snapshots;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use memoir_journal::client::{ClientOptions, JournalClient};
use memoir_journal::tls::tokio_rustls::TlsAcceptor;
use memoir_journal::{LeaderId, LinkSecurity};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use crate::error::{Error, Result};
use crate::keyspace::eviction::EvictionPolicy;
use crate::resp::ParserLimits;
pub use memory::MemoryGauge;
pub use shared::{NodeShared, Role};
pub use snapshots::{LoadProgress, LoadedSnapshot, SnapshotSource, SnapshotSummary, Snapshots};
pub use tls::{ClientTls, ClientTlsFiles};

/// How a memory node runs. [`NodeConfig::new`] gives Redis-like, safe
/// defaults (localhost, lease 1 s).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Client addresses of the journal replicas.
    pub journal: Vec<String>,
    /// Where to serve RESP (port 0 picks a free port).
    pub listen: SocketAddr,
    /// False: no plain listener, clients connect over TLS only (Redis's
    /// `port 0` with a `tls-port`); `listen` is then not bound.
    pub serve_plain: bool,
    /// RESP over TLS on a second listener.
    pub tls: Option<ClientTls>,
    /// How the node's links to the journal are secured.
    pub journal_security: LinkSecurity,
    /// The primary's lease; renewed every lease/3.
    pub lease: Duration,
    /// Extra time a replica waits past the lease before it contests, to
    /// absorb clock-rate differences between machines.
    pub lease_margin: Duration,
    /// Added to this node's wait before contesting leadership, so that of
    /// several candidates a preferred one usually wins (`memoir dev` uses it
    /// to keep the primary on the first port).
    pub election_delay: Duration,
    pub databases: usize,
    pub maxclients: usize,
    pub limits: ParserLimits,
    /// A journal request unanswered for this long fails (the primary then
    /// steps down).
    pub journal_deadline: Duration,
    /// Whether this node may become primary.
    pub can_lead: bool,
    /// Where the node rehydrates from and forwards BGSAVE to; without it
    /// the node replays the whole journal (which must then be untrimmed).
    pub snapshots: snapshots::Snapshots,
    /// `requirepass`: the default user's password (none: clients need not
    /// authenticate).
    pub requirepass: Option<String>,
    /// `protected-mode`: while the default user has no password, refuse
    /// peers that are not on the loopback interface.
    pub protected_mode: bool,
    /// `timeout`: close clients idle this long (zero: never).
    pub idle_timeout: Duration,
    /// `client-output-buffer-limit`.
    pub output_limits: limits::OutputLimits,
    /// `maxmemory` in bytes (0, the default: no limit). Needs
    /// `memory_gauge`.
    pub maxmemory: u64,
    /// `maxmemory-policy` (default `noeviction`).
    pub maxmemory_policy: EvictionPolicy,
    /// `maxmemory-samples` (default 5).
    pub maxmemory_samples: usize,
    /// How the node learns what the process has allocated, for
    /// `maxmemory` and INFO's `used_memory` (see [`memory`]). Without it
    /// INFO reports the resident set size and `maxmemory` is refused.
    pub memory_gauge: Option<MemoryGauge>,
}

impl NodeConfig {
    pub fn new(journal: Vec<String>, listen: SocketAddr) -> NodeConfig {
        NodeConfig {
            journal,
            listen,
            serve_plain: true,
            tls: None,
            journal_security: LinkSecurity::none(),
            lease: Duration::from_secs(1),
            lease_margin: Duration::from_millis(250),
            election_delay: Duration::ZERO,
            databases: 16,
            maxclients: 10_000,
            limits: ParserLimits::default(),
            journal_deadline: Duration::from_secs(5),
            can_lead: true,
            snapshots: snapshots::Snapshots::default(),
            requirepass: None,
            protected_mode: true,
            idle_timeout: Duration::ZERO,
            output_limits: limits::OutputLimits::default(),
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: memory::DEFAULT_SAMPLES,
            memory_gauge: None,
        }
    }
}

/// Starts memory nodes in-process:
///
/// ```no_run
/// # async fn demo() -> Result<(), memoir_engine::Error> {
/// let node = memoir_engine::MemoryNode::builder()
///     .journal(["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"])
///     .listen("127.0.0.1:6379".parse().unwrap())
///     .start()
///     .await?;
/// println!("serving RESP on {}", node.local_addr());
/// node.shutdown().await;
/// # Ok(()) }
/// ```
pub struct NodeBuilder {
    config: NodeConfig,
}

impl NodeBuilder {
    pub fn journal<I, S>(mut self, replicas: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.journal = replicas.into_iter().map(Into::into).collect();
        self
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// The default user's password (`requirepass`).
    pub fn requirepass(mut self, password: impl Into<String>) -> Self {
        self.config.requirepass = Some(password.into());
        self
    }

    /// `protected-mode` (on by default).
    pub fn protected_mode(mut self, on: bool) -> Self {
        self.config.protected_mode = on;
        self
    }

    /// Idle client timeout (`timeout`; zero, the default, disables it).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// `maxmemory` in bytes and its policy; needs [`Self::memory_gauge`].
    pub fn maxmemory(mut self, bytes: u64, policy: EvictionPolicy) -> Self {
        self.config.maxmemory = bytes;
        self.config.maxmemory_policy = policy;
        self
    }

    /// How the node reads what the process has allocated (for example
    /// jemalloc's `stats.allocated`).
    pub fn memory_gauge(mut self, gauge: MemoryGauge) -> Self {
        self.config.memory_gauge = Some(gauge);
        self
    }

    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    pub async fn start(self) -> Result<MemoryNode> {
        MemoryNode::start(self.config).await
    }
}

/// A running memory node.
pub struct MemoryNode {
    shared: Arc<NodeShared>,
    exec: exec::ExecHandle,
    role_commands: mpsc::UnboundedSender<role::RoleCommand>,
    role_task: Option<tokio::task::JoinHandle<()>>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
    tls_local_addr: Option<SocketAddr>,
    shutdown_requested: watch::Receiver<bool>,
}

impl MemoryNode {
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            config: NodeConfig::new(Vec::new(), SocketAddr::from(([127, 0, 0, 1], 6379))),
        }
    }

    /// Binds the listener, starts the execution thread and the role driver.
    /// Must be called inside a tokio runtime. The node starts as a replica
    /// (answering `-LOADING` until it has caught up with the journal).
    pub async fn start(config: NodeConfig) -> Result<MemoryNode> {
        if config.journal.is_empty() {
            return Err(Error::Config("no journal replicas given".into()));
        }
        if config.databases == 0 || config.databases > 1024 {
            return Err(Error::Config(format!(
                "databases must be 1..=1024, not {}",
                config.databases
            )));
        }
        if config.lease < Duration::from_millis(30) {
            return Err(Error::Config("lease must be at least 30 ms".into()));
        }
        if config.maxmemory > 0 && config.memory_gauge.is_none() {
            return Err(Error::Config(memory::NO_GAUGE.into()));
        }
        // Unpredictable skip-list heights: clients cannot choose scores
        // that degrade sorted-set searches (results never depend on it).
        crate::keyspace::zset::set_level_seed(rand::random());
        let plain_listener = if config.serve_plain {
            Some(bind(config.listen).await?)
        } else if config.tls.is_none() {
            return Err(Error::Config(
                "no listener: the plain port is off and no TLS port is set".into(),
            ));
        } else {
            None
        };
        let tls_listener = match &config.tls {
            Some(tls) => {
                let (listener, addr) = bind(tls.listen).await?;
                Some((listener, addr, TlsAcceptor::from(tls.config.clone())))
            }
            None => None,
        };
        let tls_local_addr = tls_listener.as_ref().map(|(_, addr, _)| *addr);
        // Without a plain port the node is known by its TLS address.
        let local_addr = plain_listener
            .as_ref()
            .map(|(_, addr)| *addr)
            .or(tls_local_addr)
            .unwrap_or(config.listen);
        let id = LeaderId::random();
        let (shutdown_tx, shutdown_requested) = watch::channel(false);
        let shared = Arc::new(NodeShared::new(config.clone(), id, local_addr, shutdown_tx));
        let mut options = ClientOptions::new(config.journal.clone());
        options.deadline = config.journal_deadline;
        options.security = config.journal_security.clone();
        let client = Arc::new(JournalClient::new(options));

        let (role_commands, role_rx) = mpsc::unbounded_channel();
        let exec = exec::spawn(shared.clone(), role_commands.clone())?;
        let role_task = tokio::spawn(role::run(
            shared.clone(),
            client,
            exec.sender(),
            role_rx,
            role_commands.clone(),
        ));
        let next_connection_id = Arc::new(AtomicU64::new(1));
        let mut accept_tasks = Vec::new();
        if let Some((listener, _)) = plain_listener {
            accept_tasks.push(tokio::spawn(connection::accept_loop(
                listener,
                shared.clone(),
                exec.sender(),
                None,
                next_connection_id.clone(),
            )));
        }
        if let Some((listener, _, acceptor)) = tls_listener {
            accept_tasks.push(tokio::spawn(connection::accept_loop(
                listener,
                shared.clone(),
                exec.sender(),
                Some(acceptor),
                next_connection_id,
            )));
        }
        info!(node = %id, listen = %local_addr, tls = ?tls_local_addr, journal = ?config.journal, "memory node started");
        Ok(MemoryNode {
            shared,
            exec,
            role_commands,
            role_task: Some(role_task),
            accept_tasks,
            tls_local_addr,
            shutdown_requested,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Where the node serves RESP over TLS, if it does.
    pub fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls_local_addr
    }

    /// This node's identity (stable for the life of the process).
    pub fn id(&self) -> LeaderId {
        self.shared.id
    }

    /// The leader id of this node's current or last primary term (what the
    /// journal's leader register holds while it is primary).
    pub fn term(&self) -> LeaderId {
        self.shared.term()
    }

    pub fn role(&self) -> Role {
        self.shared.role()
    }

    pub fn shared(&self) -> &Arc<NodeShared> {
        &self.shared
    }

    /// Resolves when a client asked the node to shut down (`SHUTDOWN`).
    pub async fn shutdown_requested(&self) {
        let mut rx = self.shutdown_requested.clone();
        let _ = rx.wait_for(|requested| *requested).await;
    }

    /// The digest of the dataset and the journal seq it reflects, taken on
    /// the execution thread (see `MEMOIR.DIGEST`).
    pub async fn digest(&self) -> Result<([u8; 20], u64)> {
        let (tx, rx) = oneshot::channel();
        self.exec.inspect(Box::new(move |ks, applied| {
            let _ = tx.send((ks.digest(), applied));
        }))?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Test hook: while held, the primary's journal commits are not
    /// published, so every write (and every read of a key it wrote) waits;
    /// releasing publishes them.
    #[doc(hidden)]
    pub fn hold_commits(&self, hold: bool) {
        self.shared.commit_hold.send_replace(hold);
    }

    /// Resigns if primary (a caught-up replica takes over at once), then
    /// stops serving.
    pub async fn shutdown(mut self) {
        let (done, resigned) = oneshot::channel();
        if self.role_commands.send(role::RoleCommand::Shutdown { done }).is_ok() {
            let _ = resigned.await;
        }
        if let Some(task) = self.role_task.take() {
            let _ = task.await;
        }
        self.stop_now();
    }

    /// Stops at once, without resigning (as if the process died).
    pub fn abort(mut self) {
        if let Some(task) = self.role_task.take() {
            task.abort();
        }
        self.stop_now();
    }

    fn stop_now(&mut self) {
        for task in &self.accept_tasks {
            task.abort();
        }
        self.shared.close_connections();
        self.exec.stop();
    }
}

impl Drop for MemoryNode {
    fn drop(&mut self) {
        if let Some(task) = self.role_task.take() {
            task.abort();
        }
        for task in &self.accept_tasks {
            task.abort();
        }
        self.shared.close_connections();
        self.exec.stop();
    }
}

/// Binds a listener; the address it got (port 0 picks one).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await.map_err(|e| Error::Listen(addr, e))?;
    let local = listener.local_addr().map_err(|e| Error::Listen(addr, e))?;
    Ok((listener, local))
}
