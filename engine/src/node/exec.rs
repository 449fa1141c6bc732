//! The execution thread: owns the keyspace, runs every command, turns write
//! effects into journal batches and decides, per reply, which batch it must
//! wait for (key-level tracking).
//!
//! One plain OS thread, fed by a bounded channel: commands are atomic
//! without locks, and the thread never waits on the network or the disk
//! (replies are released by the connection tasks once their barrier batch
//! has committed).

use std::collections::{HashSet as StdHashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use hashbrown::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use super::acl;
use super::commit::{CommitState, SealedBatch};
use super::connection::{ConnControl, DirectSocket};
use super::limits::OutputLimits;
use super::memory::MemoryLimit;
use super::role::RoleCommand;
use super::shared::{NetStats, NodeShared, Role};
use crate::commands::effect_bytes;
use crate::commands::{self, flags, Clock, CommandKind, CommandSpec, Effect, ExecCtx};
use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::record::EffectOp;
use crate::resp::{Protocol, Reply};

pub(crate) mod admin;
mod blocking;
mod client_limits;
mod eviction;
pub(crate) mod node_commands;
pub(crate) mod pause;
mod pubsub;
pub(crate) mod security;
mod watching;

/// Bound on messages queued for the execution thread.
const QUEUE_CAPACITY: usize = 8192;
/// A batch is sealed once it holds this many bytes of effects, or after
/// this many messages, whichever comes first: large enough to amortise a
/// journal round trip over many writes, small enough to keep latency flat.
const MAX_BATCH_BYTES: usize = 1 << 20;
/// The most argument bytes one write command, or one MULTI's queued
/// writes together, may carry: 12 MiB. Its effects go into one journal
/// record, which must fit in one append (`MAX_APPEND_BYTES`, 16 MiB) with
/// the rest of its batch (sealed at the first command boundary past
/// `MAX_BATCH_BYTES`) and the batches merged before it (`commit.rs`, up to
/// 1 MiB); 4 MiB are left for those and the encoding. A larger write is
/// refused before it runs (Redis takes up to proto-max-bulk-len). The two
/// writes whose effects outgrow their arguments (`SORT ... STORE`, `SPOP`
/// with a count) check their effects against the same bound, shared by
/// everything one EXEC writes (`ExecCtx::effect_room`), before they change
/// anything. (Until 2026-11-27 such a write failed in the journal and the
/// primary stepped down.)
pub(crate) const MAX_WRITE_BYTES: usize = memoir_journal::MAX_APPEND_BYTES - (4 << 20);
const MAX_MESSAGES_PER_STEP: usize = 512;
/// Active expiry runs once per tick (100 ms, Redis's `hz` 10) for at most
/// a quarter of it, as Redis's slow cycle does
/// (`ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC`). A fixed number of samples per
/// tick instead (200 until 2026-11-27) capped reclamation at 2,000 keys a
/// second, far behind a cache that writes keys with short TTLs faster than
/// that: their memory was only freed when a client touched them.
const ACTIVE_EXPIRE_TIME_BUDGET: Duration = Duration::from_millis(25);
/// Keys sampled between two looks at the clock and the batch size.
const ACTIVE_EXPIRE_CHUNK: usize = 1024;

pub(crate) type Inspector = Box<dyn FnOnce(&Keyspace, u64) + Send>;

pub(crate) enum ExecMsg {
    Connected {
        conn: u64,
        addr: SocketAddr,
        replies: mpsc::UnboundedSender<Outgoing>,
        control: Arc<ConnControl>,
        /// The client's socket, for replies the execution thread writes
        /// itself (plain TCP clients only).
        direct: Option<Arc<DirectSocket>>,
    },
    /// The end of a CLIENT PAUSE (see `exec/pause.rs`).
    PauseEnd {
        token: u64,
    },
    /// A blocked client's timeout (see `exec/blocking.rs`).
    BlockTimeout {
        conn: u64,
        token: u64,
    },
    Commands {
        conn: u64,
        commands: Vec<Vec<Bytes>>,
    },
    /// The connection sent bytes that are not RESP: answer in order, then close.
    ProtocolError {
        conn: u64,
        reply: Reply,
    },
    Disconnected {
        conn: u64,
    },
    /// Effects committed in the journal, applied by a replica in order.
    Apply {
        records: Vec<Vec<EffectOp>>,
        through: u64,
    },
    /// The role driver won the leader register and everything before its
    /// takeover record has been sent here: serve writes through `batches`.
    BecomePrimary {
        batches: mpsc::Sender<SealedBatch>,
        applied: u64,
        done: oneshot::Sender<()>,
    },
    /// Stop taking writes; answers with the last sealed batch so the
    /// caller can wait for it before resigning.
    StopWrites {
        done: oneshot::Sender<u64>,
    },
    /// Drop the dataset and every pending write: the node rejoins as a
    /// replica and rehydrates from the journal.
    Reset {
        reason: String,
        done: oneshot::Sender<()>,
    },
    /// A snapshot loaded while the node was empty (just after a start or a
    /// Reset): it replaces the dataset, which then reflects `through`.
    Install {
        keyspace: Box<Keyspace>,
        through: u64,
        done: oneshot::Sender<()>,
    },
    /// Journal caught up for the first time (replica may serve reads).
    Loaded,
    Tick,
    Inspect(Inspector),
    /// The node is stopping.
    Stop,
}

/// Replies for one [`ExecMsg::Commands`], in order.
pub(crate) struct Outgoing {
    /// Reply bytes already encoded, written before `items`: the rest of
    /// replies the execution thread began writing itself (see
    /// [`write_directly`]).
    pub encoded: Option<Bytes>,
    pub items: Vec<PendingReply>,
    /// Close the connection once these are written (QUIT, protocol error).
    pub close: bool,
    /// Commands these replies answer: the reader's in-flight permits the
    /// writer gives back (pub/sub messages answer none).
    pub permits: usize,
}

impl Outgoing {
    /// Replies for the writer task to encode and send in order, answering
    /// `permits` of the reader's commands.
    pub fn replies(items: Vec<PendingReply>, permits: usize) -> Self {
        Outgoing {
            encoded: None,
            items,
            close: false,
            permits,
        }
    }

    /// Nothing more to say: write what is queued, then close.
    pub fn close() -> Self {
        Outgoing {
            close: true,
            ..Outgoing::replies(Vec::new(), 0)
        }
    }

    /// The unwritten rest of a message the execution thread began writing.
    fn rest(encoded: Bytes, permits: usize) -> Self {
        Outgoing {
            encoded: Some(encoded),
            ..Outgoing::replies(Vec::new(), permits)
        }
    }
}

pub(crate) struct PendingReply {
    pub reply: Reply,
    /// The batch that must commit before this reply may be sent (0: none).
    pub barrier: u64,
    pub protocol: Protocol,
    /// Nothing is written for this reply.
    pub silent: bool,
    /// Skip it, rather than answer an error, if its barrier failed (a
    /// pub/sub message about writes that were lost).
    pub drop_on_failure: bool,
    /// Pub/sub bytes this item counts against the subscriber's output
    /// limit; the writer gives them back once written.
    pub accounted: usize,
}

pub(crate) struct ExecHandle {
    tx: mpsc::Sender<ExecMsg>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub commit: Arc<watch::Sender<CommitState>>,
}

impl ExecHandle {
    pub fn sender(&self) -> ExecSender {
        ExecSender {
            tx: self.tx.clone(),
            commit: self.commit.clone(),
        }
    }

    pub fn inspect(&self, inspector: Inspector) -> Result<()> {
        self.tx
            .try_send(ExecMsg::Inspect(inspector))
            .map_err(|_| Error::Stopped)
    }

    /// Stops the thread (the caller has set `NodeShared::closing`, which
    /// the thread checks after every step, in case the queue is full).
    pub fn stop(&mut self) {
        let _ = self.tx.try_send(ExecMsg::Stop);
        // Joining would block an async caller; the thread exits on its own.
        drop(self.thread.take());
    }
}

/// What tasks use to talk to the execution thread.
#[derive(Clone)]
pub(crate) struct ExecSender {
    pub tx: mpsc::Sender<ExecMsg>,
    pub commit: Arc<watch::Sender<CommitState>>,
}

impl ExecSender {
    pub async fn send(&self, msg: ExecMsg) -> Result<()> {
        self.tx.send(msg).await.map_err(|_| Error::Stopped)
    }

    pub fn commit_state(&self) -> watch::Receiver<CommitState> {
        self.commit.subscribe()
    }
}

pub(crate) fn spawn(shared: Arc<NodeShared>, role_commands: mpsc::UnboundedSender<RoleCommand>) -> Result<ExecHandle> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let commit = Arc::new(watch::Sender::new(CommitState::default()));
    let mut exec = Exec::new(shared, commit.clone(), role_commands);
    exec.publish_default_user();
    // Blocked clients' timers run on the runtime that started the node and
    // report back through a weak sender (they must not keep the thread's
    // queue open).
    exec.runtime = tokio::runtime::Handle::try_current().ok();
    exec.self_tx = Some(tx.downgrade());
    let thread = std::thread::Builder::new()
        .name("memoir-exec".into())
        .spawn(move || exec.run(rx))
        .map_err(Error::Thread)?;
    Ok(ExecHandle {
        tx,
        thread: Some(thread),
        commit,
    })
}

struct Session {
    addr: SocketAddr,
    db: usize,
    protocol: Protocol,
    name: Option<Bytes>,
    lib_name: Option<Bytes>,
    lib_ver: Option<Bytes>,
    multi: Option<Transaction>,
    replies: mpsc::UnboundedSender<Outgoing>,
    control: Arc<ConnControl>,
    direct: Option<Arc<DirectSocket>>,
    created: Instant,
    commands: u64,
    /// Keys this client WATCHes, and whether one was touched since.
    watched: Vec<watching::WatchedKey>,
    watch_dirty: bool,
    /// Set while the client waits in a blocking command.
    blocked: Option<blocking::Blocked>,
    /// Commands that arrived while blocked, run once it is answered.
    pending: VecDeque<Vec<Bytes>>,
    channels: StdHashSet<Bytes>,
    patterns: StdHashSet<Bytes>,
    /// Newest barrier of any reply sent to this client (pub/sub messages
    /// it publishes wait for it).
    last_barrier: u64,
    reply_mode: admin::ReplyMode,
    last_command: &'static str,
    last_active: Instant,
    identity: security::Identity,
    /// Since when the queued output has been above the soft limit of the
    /// client's class (`client-output-buffer-limit`).
    over_soft_limit_since: Option<Instant>,
}

impl Session {
    /// Hands replies to the connection's writer task (dropped if it is
    /// gone: the connection is closing).
    fn send(&self, outgoing: Outgoing) {
        // Counted before it is queued: while the writer has anything to
        // write, the execution thread must not write past it.
        self.control.queued_for_writer();
        let _ = self.replies.send(outgoing);
    }
}

/// Writes `outgoing` to the client's socket from the execution thread,
/// when every reply in it waits for nothing and the writer task has
/// nothing queued; otherwise, or for what the socket did not take, returns
/// what the writer task must send.
///
/// At `-P 1`, a GET otherwise crosses threads twice: to the execution
/// thread, then to a network thread to be written, each hand-off a wake-up
/// of another thread. Redis writes on the thread that ran the command. The
/// write never blocks (the socket is non-blocking): a slow client's bytes
/// go to the writer task, as before, so no client can stall the keyspace.
fn write_directly(session: &Session, scratch: &mut BytesMut, net: &NetStats, outgoing: Outgoing) -> Option<Outgoing> {
    let Some(direct) = &session.direct else {
        return Some(outgoing);
    };
    if session.control.is_killed() {
        // Closed by CLIENT KILL or its output limit: it gets nothing more.
        return None;
    }
    let ready = |item: &PendingReply| item.barrier == 0 && !item.silent && item.accounted == 0;
    if outgoing.close
        || outgoing.encoded.is_some()
        || outgoing.items.is_empty()
        || !outgoing.items.iter().all(ready)
        || session.control.has_queued_for_writer()
    {
        return Some(outgoing);
    }
    scratch.clear();
    for item in &outgoing.items {
        item.reply.encode(item.protocol, scratch);
    }
    let result = direct.try_write(scratch);
    let rest = match result {
        Ok(written) => {
            net.wrote(written);
            if written == scratch.len() {
                direct.release_permits(outgoing.permits);
                None
            } else {
                Some(Outgoing::rest(scratch.split_off(written).freeze(), outgoing.permits))
            }
        }
        // Nothing written: the writer task sends it all.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            Some(outgoing)
        }
        // The connection is broken; its reader sees it and disconnects.
        Err(_) => None,
    };
    if scratch.capacity() > DIRECT_SCRATCH_BYTES {
        *scratch = BytesMut::with_capacity(DIRECT_SCRATCH_BYTES);
    }
    rest
}

/// The execution thread's buffer for replies it writes itself; kept
/// after a large reply only up to this size.
const DIRECT_SCRATCH_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct Transaction {
    queued: Vec<Vec<Bytes>>,
    /// Argument bytes of the queued writes (bounded by `MAX_WRITE_BYTES`:
    /// EXEC's effects are one journal record).
    write_bytes: usize,
    /// A command failed to queue: EXEC must abort.
    errored: bool,
    /// A queued command may allocate (`denyoom`): EXEC is refused while
    /// over `maxmemory` with nothing to evict.
    denyoom: bool,
}

/// Time each cron tick gives to measuring the data set for INFO (0.5% of
/// one core at 10 ticks a second): a walk of 2 M small keys takes about
/// 2 s of ticks.
const DATASET_METER_BUDGET: Duration = Duration::from_micros(500);

/// Below this many entries, a dirty-key map is not worth shrinking.
const DIRTY_KEYS_MIN_CAPACITY: usize = 1024;

/// Which keys have writes not yet committed, and in which batch.
#[derive(Default)]
struct DirtyKeys {
    by_db: Vec<HashMap<Bytes, u64>>,
    by_batch: VecDeque<(u64, Vec<(usize, Bytes)>)>,
    /// The most entries each map and `by_batch` held since the last tick.
    peak_len: Vec<usize>,
    peak_batches: usize,
    /// Newest batch holding a whole-dataset write (FLUSHDB, FLUSHALL).
    whole_dataset: u64,
    /// Newest batch holding a deletion of the node's own making (active
    /// expiry, eviction). These are not marked key by key: a burst of
    /// evictions marked hundreds of thousands of keys, and the marks' own
    /// memory (about 120 bytes a key) counted against `maxmemory`, which
    /// evicted more. A read that finds a key absent waits for this batch
    /// instead; a read that finds it present saw no such deletion.
    own_deletions: u64,
}

impl DirtyKeys {
    fn new(databases: usize) -> DirtyKeys {
        DirtyKeys {
            by_db: (0..databases).map(|_| HashMap::new()).collect(),
            peak_len: vec![0; databases],
            ..DirtyKeys::default()
        }
    }

    fn mark(&mut self, db: usize, key: &Bytes, batch: u64) {
        let Some(map) = self.by_db.get_mut(db) else { return };
        map.insert(key.clone(), batch);
        if let Some(peak) = self.peak_len.get_mut(db) {
            *peak = (*peak).max(map.len());
        }
        match self.by_batch.back_mut() {
            Some((last, keys)) if *last == batch => keys.push((db, key.clone())),
            _ => {
                self.by_batch.push_back((batch, vec![(db, key.clone())]));
                self.peak_batches = self.peak_batches.max(self.by_batch.len());
            }
        }
    }

    fn barrier(&self, db: usize, key: &[u8]) -> u64 {
        let key_batch = self.by_db.get(db).and_then(|map| map.get(key)).copied().unwrap_or(0);
        key_batch.max(self.whole_dataset)
    }

    /// Forgets writes whose outcome is known.
    fn release_through(&mut self, resolved: u64) {
        while let Some((batch, _)) = self.by_batch.front() {
            if *batch > resolved {
                break;
            }
            let Some((batch, keys)) = self.by_batch.pop_front() else {
                break;
            };
            for (db, key) in keys {
                if let Some(map) = self.by_db.get_mut(db) {
                    if map.get(&key).is_some_and(|b| *b <= batch) {
                        map.remove(&key);
                    }
                }
            }
        }
        if self.whole_dataset <= resolved {
            self.whole_dataset = 0;
        }
        if self.own_deletions <= resolved {
            self.own_deletions = 0;
        }
    }

    /// Gives back what a burst of writes grew, once per cron tick: a map
    /// keeps its peak capacity otherwise, and one burst of evictions (each
    /// one a dirty key until its DEL commits) left tens of megabytes behind
    /// for good. Sizing by the tick's high-water mark, not by the current
    /// length (which falls to about 0 after every commit), keeps a steady
    /// load from shrinking and regrowing its maps on every tick.
    fn shrink_to_recent_peak(&mut self) {
        for (map, peak) in self.by_db.iter_mut().zip(&mut self.peak_len) {
            let wanted = (*peak * 2).max(DIRTY_KEYS_MIN_CAPACITY);
            if map.capacity() > 2 * wanted {
                map.shrink_to(wanted);
            }
            *peak = map.len();
        }
        let wanted = (self.peak_batches * 2).max(DIRTY_KEYS_MIN_CAPACITY);
        if self.by_batch.capacity() > 2 * wanted {
            self.by_batch.shrink_to(wanted);
        }
        self.peak_batches = self.by_batch.len();
    }

    fn clear(&mut self) {
        for map in &mut self.by_db {
            *map = HashMap::new();
        }
        self.by_batch = VecDeque::new();
        self.whole_dataset = 0;
        self.own_deletions = 0;
    }
}

pub(crate) struct Exec {
    shared: Arc<NodeShared>,
    /// Encoding buffer of [`write_directly`].
    direct_scratch: BytesMut,
    ks: Keyspace,
    sessions: HashMap<u64, Session>,
    role_commands: mpsc::UnboundedSender<RoleCommand>,
    /// Where sealed batches go while primary.
    term: Option<mpsc::Sender<SealedBatch>>,
    /// Effects of the batch being filled.
    open: Vec<EffectOp>,
    open_bytes: usize,
    /// Number the open batch will get when sealed.
    next_batch: u64,
    last_sealed: u64,
    /// Effect bytes of each sealed batch not yet resolved, oldest first,
    /// and their sum (not counted against `maxmemory`).
    unresolved: VecDeque<(u64, usize)>,
    unresolved_bytes: usize,
    /// `maxmemory`, its policy and the measure of used memory.
    memory: MemoryLimit,
    commit: Arc<watch::Sender<CommitState>>,
    commit_rx: watch::Receiver<CommitState>,
    dirty: DirtyKeys,
    /// Wall clock (Redis expiry is in unix ms) and monotonic clock (lease),
    /// read once per step.
    now_ms: i64,
    now: Instant,
    /// Applying stopped (newer record version or divergence).
    apply_halted: bool,
    scratch_effects: Vec<Effect>,
    /// Watchers per (db, key) (see `exec/watch.rs`).
    watchers: HashMap<(usize, Bytes), Vec<u64>>,
    /// Blocked clients per (db, key), oldest first (see `exec/blocking.rs`).
    blocking: HashMap<(usize, Bytes), VecDeque<u64>>,
    ready: VecDeque<(usize, Bytes)>,
    ready_set: HashSet<(usize, Bytes)>,
    /// Clients just answered after blocking, whose pipelined commands run next.
    resume: VecDeque<u64>,
    block_token: u64,
    runtime: Option<tokio::runtime::Handle>,
    self_tx: Option<mpsc::WeakSender<ExecMsg>>,
    /// Running the commands of an EXEC (blocking commands do not block).
    in_exec: bool,
    /// Effect bytes the running EXEC has produced so far: its effects are
    /// one journal record, so they share one bound (`MAX_WRITE_BYTES`).
    exec_effect_bytes: usize,
    pubsub: pubsub::Registry,
    admin: admin::AdminState,
    pause: pause::PauseState,
    /// This node's ACL users (node-local, never journaled).
    acl: acl::Users,
    denials: security::DenialStats,
    /// `client-output-buffer-limit` for normal and pub/sub clients.
    output_limits: OutputLimits,
    last_idle_check: Instant,
    /// How long the command being run took (set by `dispatch`), for the
    /// slow log.
    last_call: Duration,
}

impl Exec {
    fn new(
        shared: Arc<NodeShared>,
        commit: Arc<watch::Sender<CommitState>>,
        role_commands: mpsc::UnboundedSender<RoleCommand>,
    ) -> Exec {
        let databases = shared.config.databases;
        let mut exec = Exec {
            ks: Keyspace::new(databases),
            sessions: HashMap::new(),
            role_commands,
            term: None,
            open: Vec::new(),
            open_bytes: 0,
            next_batch: 1,
            last_sealed: 0,
            unresolved: VecDeque::new(),
            unresolved_bytes: 0,
            memory: MemoryLimit::new(
                shared.config.maxmemory,
                shared.config.maxmemory_policy,
                shared.config.maxmemory_samples,
                shared.config.memory_gauge,
            ),
            commit_rx: commit.subscribe(),
            commit,
            dirty: DirtyKeys::new(databases),
            now_ms: 0,
            now: Instant::now(),
            apply_halted: false,
            scratch_effects: Vec::new(),
            watchers: HashMap::new(),
            blocking: HashMap::new(),
            ready: VecDeque::new(),
            ready_set: HashSet::new(),
            resume: VecDeque::new(),
            block_token: 0,
            runtime: None,
            self_tx: None,
            in_exec: false,
            exec_effect_bytes: 0,
            pubsub: pubsub::Registry::default(),
            admin: admin::AdminState::new(&shared),
            pause: pause::PauseState::default(),
            acl: {
                let mut users = acl::Users::default();
                if let Some(password) = &shared.config.requirepass {
                    users.set_default_password(password.as_bytes());
                }
                users
            },
            denials: security::DenialStats::default(),
            direct_scratch: BytesMut::with_capacity(DIRECT_SCRATCH_BYTES),
            output_limits: shared.config.output_limits,
            last_idle_check: Instant::now(),
            last_call: Duration::ZERO,
            shared,
        };
        // The keyspace stamps accesses as the configured policy reads them.
        exec.sync_access_tracking();
        exec
    }

    fn run(&mut self, mut rx: mpsc::Receiver<ExecMsg>) {
        while let Some(msg) = rx.blocking_recv() {
            self.begin_step();
            self.handle(msg);
            self.resume_unblocked();
            let mut handled = 1;
            while handled < MAX_MESSAGES_PER_STEP && self.open_bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(msg) => {
                        self.handle(msg);
                        self.resume_unblocked();
                    }
                    Err(_) => break,
                }
                handled += 1;
            }
            self.seal();
            if self.shared.closing.load(Ordering::Acquire) {
                break;
            }
        }
        info!("execution thread stopped");
    }

    fn begin_step(&mut self) {
        self.now = Instant::now();
        self.now_ms = unix_ms();
        self.ks.set_clock_ms(self.now_ms);
        let resolved = self.commit_rx.borrow_and_update().resolved();
        self.dirty.release_through(resolved);
        while let Some(&(batch, bytes)) = self.unresolved.front() {
            if batch > resolved {
                break;
            }
            self.unresolved.pop_front();
            self.unresolved_bytes -= bytes;
        }
    }

    fn handle(&mut self, msg: ExecMsg) {
        match msg {
            ExecMsg::Connected {
                conn,
                addr,
                replies,
                control,
                direct,
            } => {
                let identity = self.default_identity();
                control.set_authenticated(identity.authenticated);
                self.sessions.insert(
                    conn,
                    Session {
                        addr,
                        db: 0,
                        protocol: Protocol::Resp2,
                        name: None,
                        lib_name: None,
                        lib_ver: None,
                        multi: None,
                        replies,
                        control,
                        direct,
                        created: self.now,
                        commands: 0,
                        watched: Vec::new(),
                        watch_dirty: false,
                        blocked: None,
                        pending: VecDeque::new(),
                        channels: StdHashSet::new(),
                        patterns: StdHashSet::new(),
                        last_barrier: 0,
                        reply_mode: admin::ReplyMode::On,
                        last_command: "NULL",
                        last_active: self.now,
                        identity,
                        over_soft_limit_since: None,
                    },
                );
            }
            ExecMsg::Disconnected { conn } => self.forget_session(conn),
            ExecMsg::BlockTimeout { conn, token } => self.block_timeout(conn, token),
            ExecMsg::PauseEnd { token } => self.pause_timer(token),
            ExecMsg::Commands { conn, commands } => self.run_commands(conn, commands),
            ExecMsg::ProtocolError { conn, reply } => {
                if let Some(session) = self.sessions.get(&conn) {
                    let item = PendingReply {
                        reply,
                        barrier: 0,
                        protocol: session.protocol,
                        silent: false,
                        drop_on_failure: false,
                        accounted: 0,
                    };
                    session.send(Outgoing {
                        close: true,
                        ..Outgoing::replies(vec![item], 0)
                    });
                }
            }
            ExecMsg::Apply { records, through } => self.apply(records, through),
            ExecMsg::BecomePrimary { batches, applied, done } => {
                debug_assert!(self.open.is_empty(), "a replica has no open batch");
                self.commit.send_modify(|state| {
                    state.settle(self.last_sealed);
                    state.committed_seq = state.committed_seq.max(memoir_journal::Seq(applied));
                });
                self.dirty.clear();
                self.term = Some(batches);
                self.shared.set_role(Role::Primary);
                let _ = done.send(());
            }
            ExecMsg::StopWrites { done } => {
                self.seal();
                self.term = None;
                self.shared.set_role(Role::Replica);
                self.unblock_all(blocking::UNBLOCKED_ROLE);
                self.disconnect_clients_of_the_primary();
                let _ = done.send(self.last_sealed);
            }
            ExecMsg::Reset { reason, done } => {
                warn!(%reason, keys = self.ks.total_keys(), "dropping the dataset to rehydrate from the journal");
                // Still the primary until now when it was fenced or its
                // journal failed (a resignation already stopped writes).
                let was_primary = self.shared.role() == Role::Primary;
                self.term = None;
                self.discard_open_batch();
                self.commit.send_modify(|state| state.settle(self.last_sealed));
                self.dirty.clear();
                self.unblock_all(blocking::UNBLOCKED_ROLE);
                // Every watched key is gone with the dataset.
                for session in self.sessions.values_mut() {
                    if !session.watched.is_empty() {
                        session.watch_dirty = true;
                    }
                }
                self.ks.clear();
                self.apply_halted = false;
                self.shared.set_role(Role::Replica);
                self.shared.loading.store(true, Ordering::Release);
                self.shared.applied_seq.store(0, Ordering::Release);
                self.shared.changes.reset(0);
                if was_primary {
                    self.disconnect_clients_of_the_primary();
                }
                let _ = done.send(());
            }
            ExecMsg::Install {
                keyspace,
                through,
                done,
            } => {
                // Only ever sent before the first record is applied, so
                // nothing of the current (empty) dataset is lost.
                debug_assert_eq!(self.ks.total_keys(), 0, "a snapshot is installed into an empty node");
                debug_assert!(self.term.is_none(), "a primary never installs a snapshot");
                self.ks = *keyspace;
                self.ks.set_clock_ms(self.now_ms);
                self.sync_access_tracking();
                if self.memory.policy.access_mode() == crate::keyspace::eviction::AccessMode::Lfu {
                    // Loaded with LRU stamps: every key starts at LFU's
                    // initial count, as Redis gives keys read from an RDB.
                    self.ks.restamp_all();
                }
                self.shared.applied_seq.store(through, Ordering::Release);
                self.shared.changes.reset(through);
                let _ = done.send(());
            }
            ExecMsg::Loaded => {
                self.shared.loading.store(false, Ordering::Release);
            }
            ExecMsg::Tick => {
                self.admin.sample_traffic(admin::TrafficSample {
                    at: self.now,
                    counters: self.shared.stat_counters(),
                });
                self.active_expire();
                self.evict_for_room(eviction::TICK_EVICTION_BUDGET);
                self.close_idle_clients();
                self.dirty.shrink_to_recent_peak();
                self.ks.measure_dataset(DATASET_METER_BUDGET);
            }
            ExecMsg::Stop => {}
            ExecMsg::Inspect(inspector) => {
                let applied = self.shared.applied_seq.load(Ordering::Acquire);
                inspector(&self.ks, applied);
            }
        }
    }

    /// Closes every client connection once the replies queued for it are
    /// written, and forgets it at once (what it sent meanwhile is not run).
    /// Called when this node stops being the primary: a client connected to
    /// the primary must not go on, unknowingly, reading from a replica that
    /// lags the new primary. It reconnects and finds the new primary, as
    /// after Redis Sentinel demotes a master (Sentinel then sends
    /// `CLIENT KILL TYPE normal` and `TYPE pubsub` to it).
    fn disconnect_clients_of_the_primary(&mut self) {
        let conns: Vec<u64> = self.sessions.keys().copied().collect();
        if !conns.is_empty() {
            info!(
                clients = conns.len(),
                "no longer the primary: closing client connections"
            );
        }
        for conn in conns {
            if let Some(session) = self.sessions.get(&conn) {
                session.send(Outgoing::close());
            }
            self.forget_session(conn);
        }
    }

    /// Everything the execution thread holds for a client: on disconnect,
    /// and at once when it is killed (as in Redis, a killed client is gone
    /// from CLIENT LIST and further kills before its socket closes).
    fn forget_session(&mut self, conn: u64) {
        self.unwatch_all(conn);
        self.drop_blocked(conn);
        self.unsubscribe_all(conn);
        self.forget_postponed(conn);
        self.sessions.remove(&conn);
    }

    fn run_commands(&mut self, conn: u64, commands: Vec<Vec<Bytes>>) {
        match self.sessions.get_mut(&conn) {
            // A blocked client runs nothing until it is answered (its
            // replies keep their order); these wait with it.
            Some(session) if session.blocked.is_some() || !session.pending.is_empty() => {
                session.pending.extend(commands);
                return;
            }
            Some(_) => {}
            None => return,
        }
        let mut items = Vec::with_capacity(commands.len());
        let mut close = false;
        let mut answered = 0usize;
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.last_active = self.now;
        }
        let mut commands = commands.into_iter();
        while let Some(argv) = commands.next() {
            if close {
                break;
            }
            if self.postpone_for_pause(conn, &argv) {
                if let Some(session) = self.sessions.get_mut(&conn) {
                    session.pending.push_back(argv);
                    session.pending.extend(commands);
                }
                break;
            }
            self.last_call = Duration::ZERO;
            let outcome = self.run_one(conn, &argv);
            self.after_command(conn, &argv);
            // A batch is sealed at the first command boundary past its
            // size, however many writes one message carries: with
            // `MAX_WRITE_BYTES` this bounds a journal record.
            if self.open_bytes >= MAX_BATCH_BYTES {
                self.seal();
            }
            if outcome.blocked {
                if let Some(session) = self.sessions.get_mut(&conn) {
                    session.pending.extend(commands);
                }
                break;
            }
            close = outcome.close;
            answered += 1;
            let Some(session) = self.sessions.get_mut(&conn) else {
                return;
            };
            let protocol = session.protocol;
            let silent = outcome.silent || session.reply_mode.silences_next();
            let barrier = outcome.barrier;
            session.last_barrier = session.last_barrier.max(barrier);
            for reply in outcome.extra.into_iter().chain(std::iter::once(outcome.reply)) {
                if let Reply::Error(text) = &reply {
                    self.admin.count_error(text);
                }
                items.push(PendingReply {
                    reply,
                    barrier,
                    protocol,
                    silent,
                    drop_on_failure: false,
                    accounted: 0,
                });
            }
        }
        self.shared.total_commands.fetch_add(answered as u64, Ordering::Relaxed);
        if !self.output_limit(conn).is_unlimited() {
            let mut total = 0;
            for item in &mut items {
                item.accounted = client_limits::reply_size(&item.reply);
                total += item.accounted;
            }
            if !self.charge_output(conn, total) {
                return;
            }
        }
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.commands += answered as u64;
            if !items.is_empty() || close {
                let outgoing = Outgoing {
                    close,
                    ..Outgoing::replies(items, answered)
                };
                if let Some(outgoing) = write_directly(session, &mut self.direct_scratch, &self.shared.net, outgoing) {
                    session.send(outgoing);
                }
            }
        }
    }

    /// After each client command: serve clients blocked on keys it filled
    /// (Redis does it after every command, so a pipelined LPUSH + LPOP
    /// lets a blocked BLPOP go first), and the slow log.
    fn after_command(&mut self, conn: u64, argv: &[Bytes]) {
        if !self.ready.is_empty() {
            self.serve_ready_keys();
        }
        self.slowlog_record(conn, argv, self.last_call);
    }

    /// Runs one command for a connection, handling MULTI queueing.
    fn run_one(&mut self, conn: u64, argv: &[Bytes]) -> Outcome {
        let Some((position, spec)) = commands::table::position(&argv[0])
            .and_then(|position| commands::table::COMMANDS.get(position).map(|spec| (position, spec)))
        else {
            self.flag_transaction_error(conn);
            return Outcome::reply(commands::unknown_command_error(argv));
        };
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.last_command = spec.name;
        }
        if !spec.arity_ok(argv.len()) {
            self.flag_transaction_error(conn);
            self.admin.count_rejected(spec, argv);
            return Outcome::reply(commands::arity_error(spec.name));
        }
        if let Some(refusal) = self.access_refusal(conn, position, spec, argv) {
            self.flag_transaction_error(conn);
            self.admin.count_rejected(spec, argv);
            return Outcome::reply(refusal);
        }
        if self.in_resp2_pubsub_mode(conn)
            && !matches!(
                spec.name,
                "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
            )
        {
            self.flag_transaction_error(conn);
            self.admin.count_rejected(spec, argv);
            return Outcome::reply(Reply::Error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                admin::full_name(spec, argv)
            )));
        }
        let write_bytes = if spec.flags & flags::WRITE != 0 {
            effect_bytes(argv)
        } else {
            0
        };
        if let Some(refusal) = self.out_of_memory_refusal(conn, spec) {
            self.admin.count_rejected(spec, argv);
            return Outcome::reply(refusal);
        }
        let in_multi = self.sessions.get(&conn).is_some_and(|s| s.multi.is_some());
        if in_multi && !matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset") {
            if let Some(refusal) = self.refusal(spec) {
                self.flag_transaction_error(conn);
                self.admin.count_rejected(spec, argv);
                return Outcome::reply(refusal);
            }
            if let Some(tx) = self.sessions.get_mut(&conn).and_then(|s| s.multi.as_mut()) {
                let total = tx.write_bytes.saturating_add(write_bytes);
                if total > MAX_WRITE_BYTES {
                    tx.errored = true;
                    self.admin.count_rejected(spec, argv);
                    return Outcome::reply(write_too_large(total));
                }
                tx.write_bytes = total;
                tx.denyoom |= spec.flags & flags::DENYOOM != 0;
                tx.queued.push(argv.to_vec());
            }
            return Outcome::reply(Reply::SimpleString("QUEUED".into()));
        }
        if write_bytes > MAX_WRITE_BYTES {
            self.admin.count_rejected(spec, argv);
            return Outcome::reply(write_too_large(write_bytes));
        }
        let outcome = self.dispatch(conn, spec, argv);
        if write_bytes > 0 {
            self.memory.note_written(write_bytes);
        }
        outcome
    }

    fn flag_transaction_error(&mut self, conn: u64) {
        if let Some(tx) = self.sessions.get_mut(&conn).and_then(|s| s.multi.as_mut()) {
            tx.errored = true;
        }
    }

    /// Why this node cannot run `spec` now, as the error Redis would send
    /// (node commands other than SWAPDB and the blocking pops are always
    /// accepted).
    fn refusal(&self, spec: &CommandSpec) -> Option<Reply> {
        if matches!(spec.kind, CommandKind::Node) && spec.name != "swapdb" && spec.flags & flags::BLOCKING == 0 {
            return None;
        }
        self.data_refusal(spec)
    }

    fn data_refusal(&self, spec: &CommandSpec) -> Option<Reply> {
        if self.apply_halted && spec.flags & flags::STALE == 0 {
            let reason = self.shared.halted_reason().unwrap_or_default();
            return Some(Reply::Error(format!("MASTERDOWN replication halted: {reason}")));
        }
        if self.shared.loading.load(Ordering::Acquire) && spec.flags & flags::LOADING == 0 {
            // A node that cannot finish loading (the log it needs is
            // trimmed) says why rather than "loading" forever.
            if let Some(reason) = self.shared.halted_reason() {
                return Some(Reply::Error(format!("MASTERDOWN cannot load the dataset: {reason}")));
            }
            return Some(Reply::Error("LOADING Redis is loading the dataset in memory".into()));
        }
        match self.shared.role() {
            Role::Replica if spec.flags & flags::WRITE != 0 => Some(Reply::Error(
                "READONLY You can't write against a read only replica.".into(),
            )),
            Role::Primary if !self.shared.lease_valid(self.now) => Some(Reply::Error(
                "TRYAGAIN the primary's lease has expired; it serves again once renewed, or steps down".into(),
            )),
            _ => None,
        }
    }

    /// Runs a command (top level or inside EXEC), counting it for INFO
    /// commandstats.
    fn dispatch(&mut self, conn: u64, spec: &'static CommandSpec, argv: &[Bytes]) -> Outcome {
        let started = Instant::now();
        let outcome = self.dispatch_inner(conn, spec, argv);
        let failed = matches!(outcome.reply, Reply::Error(_)) && !outcome.blocked;
        // The slow log reuses this measure (one clock read fewer per
        // command); for EXEC the outer call, finishing last, wins.
        self.last_call = started.elapsed();
        self.admin
            .count_call(spec, argv, self.last_call, failed, outcome.rejected);
        outcome
    }

    fn dispatch_inner(&mut self, conn: u64, spec: &'static CommandSpec, argv: &[Bytes]) -> Outcome {
        if spec.flags & flags::BLOCKING != 0 && matches!(spec.kind, CommandKind::Node) {
            if let Some(refusal) = self.data_refusal(spec) {
                return Outcome::rejected(refusal);
            }
            return self.blocking_command(conn, spec.name, argv);
        }
        let handler = match spec.kind {
            CommandKind::Data(handler) => handler,
            // SWAPDB is a node command for clients (it wakes watchers and
            // blocked clients), but it writes the keyspace like any data
            // command.
            CommandKind::Node if spec.name == "swapdb" => commands::swapdb as commands::DataHandler,
            CommandKind::Node => return self.node_command(conn, spec, argv),
        };
        if let Some(refusal) = self.data_refusal(spec) {
            return Outcome::rejected(refusal);
        }
        let db = self.sessions.get(&conn).map_or(0, |s| s.db);
        // Whole-database writes are checked against watchers before they
        // run (which keys exist decides), and applied once they succeeded.
        let watch_plan = if spec.flags & flags::WHOLE_DATASET != 0 && spec.flags & flags::WRITE != 0 {
            let pairs = self.whole_dataset_watch_plan(&argv[0], db, argv);
            Some((self.watch_changes(&pairs), pairs))
        } else {
            None
        };
        let outcome = self.data_command(db, spec, handler, argv);
        if let Some((changes, pairs)) = watch_plan {
            if !matches!(outcome.reply, Reply::Error(_)) {
                self.apply_watch_changes(changes);
                if spec.name == "swapdb" {
                    let dbs: Vec<usize> = pairs.iter().map(|(d, _)| *d).collect();
                    self.signal_ready_dbs(&dbs);
                }
            }
        }
        let barrier = outcome.barrier.max(self.barrier_for(db, spec, argv));
        Outcome { barrier, ..outcome }
    }

    /// Executes a data command on the keyspace; its effects join the open batch.
    fn data_command(
        &mut self,
        db: usize,
        spec: &'static CommandSpec,
        handler: commands::DataHandler,
        argv: &[Bytes],
    ) -> Outcome {
        let primary = self.shared.role() == Role::Primary;
        // While paused nothing expires: reads see expired keys missing
        // without deleting them, as on a replica.
        let clock = if primary && !self.paused() {
            Clock::Primary { now_ms: self.now_ms }
        } else {
            Clock::Replica { now_ms: self.now_ms }
        };
        self.ks.count_reads(spec.flags & commands::flags::READONLY != 0);
        let mut effects = std::mem::take(&mut self.scratch_effects);
        let reply = {
            let mut ctx = ExecCtx {
                db,
                clock,
                effects: &mut effects,
                effect_room: MAX_WRITE_BYTES.saturating_sub(if self.in_exec { self.exec_effect_bytes } else { 0 }),
            };
            handler(&mut self.ks, &mut ctx, argv)
        };
        let mut barrier = 0;
        if !effects.is_empty() {
            if primary {
                barrier = self.next_batch;
                for effect in effects.drain(..) {
                    self.track_effect(&effect, barrier);
                    let bytes = effect_bytes(&effect.argv);
                    self.open_bytes += bytes;
                    if self.in_exec {
                        self.exec_effect_bytes += bytes;
                    }
                    self.open.push(effect.into());
                }
            } else {
                // Cannot happen: replicas refuse writes and never expire
                // keys themselves. Dropping the effects keeps the replica
                // identical to the log; say so loudly.
                error!(command = spec.name, "a replica produced write effects; discarded");
                effects.clear();
            }
        }
        self.scratch_effects = effects;
        Outcome::with_barrier(reply, barrier)
    }

    fn track_effect(&mut self, effect: &Effect, batch: u64) {
        self.signal_effect(effect);
        let db = effect.db as usize;
        match commands::lookup(&effect.argv[0]) {
            Some(spec) if spec.flags & flags::WHOLE_DATASET == 0 => {
                for key in spec.keys(&effect.argv) {
                    self.dirty.mark(db, key, batch);
                }
            }
            _ => self.dirty.whole_dataset = batch,
        }
    }

    /// Tells WATCH and blocked clients about the keys an effect writes.
    fn signal_effect(&mut self, effect: &Effect) {
        if !self.watchers.is_empty() || !self.blocking.is_empty() {
            for (key_db, key) in Self::effect_keys(effect) {
                self.touch_key(key_db, &key);
                self.signal_ready(key_db, &key);
            }
        }
    }

    /// The batch a reply must wait for: the newest uncommitted write to
    /// any key it read (or to anything, for whole-dataset reads).
    fn barrier_for(&self, db: usize, spec: &CommandSpec, argv: &[Bytes]) -> u64 {
        if self.shared.role() != Role::Primary {
            return 0;
        }
        if spec.flags & flags::WHOLE_DATASET != 0 {
            return self.newest_write_batch();
        }
        spec.keys(argv)
            .into_iter()
            .map(|key| self.key_barrier(db, key))
            .fold(0, u64::max)
    }

    /// The batch a reply that read `key` must wait for.
    fn key_barrier(&self, db: usize, key: &[u8]) -> u64 {
        let barrier = self.dirty.barrier(db, key);
        if self.dirty.own_deletions > barrier && self.ks.db(db).is_none_or(|store| store.find(key).is_none()) {
            // The key may be absent because of an expiration or eviction
            // not yet committed.
            return self.dirty.own_deletions;
        }
        barrier
    }

    fn newest_write_batch(&self) -> u64 {
        if self.open.is_empty() {
            self.last_sealed
        } else {
            self.next_batch
        }
    }

    /// Drops the writes of the open batch (run in this step, never sent to
    /// the journal) as if sealed: the settle that follows fails their
    /// replies, and their batch number is never used again. Left open, the
    /// number would go to the first batch of this node's next term, and
    /// that batch's commit would release their replies as successes: a
    /// write acknowledged and lost (the chaos test found one, an RPUSH).
    fn discard_open_batch(&mut self) {
        if !self.open.is_empty() {
            self.last_sealed = self.next_batch;
            self.next_batch += 1;
        }
        self.open.clear();
        self.open_bytes = 0;
    }

    /// Sends the open batch to the journal.
    fn seal(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let batch = self.next_batch;
        let ops = std::mem::take(&mut self.open);
        self.unresolved.push_back((batch, self.open_bytes));
        self.unresolved_bytes += self.open_bytes;
        self.open_bytes = 0;
        self.next_batch += 1;
        self.last_sealed = batch;
        let sent = match &self.term {
            // Blocks this thread when MAX_BATCHES_IN_FLIGHT are in flight:
            // backpressure on every client rather than unbounded memory.
            Some(term) => term.blocking_send(SealedBatch { batch, ops }).is_ok(),
            None => false,
        };
        if !sent {
            warn!(batch, "no journal pipeline for a sealed batch; failing its replies");
            self.commit.send_modify(|state| state.fail_from(batch));
            let _ = self
                .role_commands
                .send(RoleCommand::StepDown("journal pipeline closed".into()));
        }
    }

    fn apply(&mut self, records: Vec<Vec<EffectOp>>, through: u64) {
        if self.apply_halted {
            return;
        }
        let effects: usize = records.iter().map(Vec::len).sum();
        for ops in records {
            for op in ops {
                let effect = Effect::from(op);
                let watch_changes = if self.watchers.is_empty() {
                    None
                } else {
                    let pairs = self.whole_dataset_watch_plan(&effect.argv[0], effect.db as usize, &effect.argv);
                    Some(self.watch_changes(&pairs))
                };
                let applied = self.ks.apply(&effect);
                if applied.is_ok() {
                    if let Some(changes) = watch_changes {
                        self.apply_watch_changes(changes);
                        for (db, key) in Self::effect_keys(&effect) {
                            self.touch_key(db, &key);
                        }
                    }
                }
                if let Err(reason) = applied {
                    let reason = format!(
                        "applying {:?} failed: {reason}",
                        String::from_utf8_lossy(&effect.argv[0])
                    );
                    error!(%reason, "replica stops applying: its dataset would diverge from the journal");
                    self.shared.halt(reason);
                    self.apply_halted = true;
                    return;
                }
            }
        }
        self.shared.applied_seq.fetch_max(through, Ordering::AcqRel);
        self.shared.changes.add(through, effects as u64);
    }

    /// Redis's active expiry, on the primary only (replicas wait for the
    /// primary's DEL effects so their data stays a function of the log).
    /// Runs in chunks until no database is stale or the time budget is
    /// spent; the batch is sealed at the first DEL that fills it, so the
    /// DELs of one tick never make a record larger than any other.
    fn active_expire(&mut self) {
        if self.paused()
            || self.shared.role() != Role::Primary
            || !self.shared.lease_valid(self.now)
            || self.term.is_none()
        {
            return;
        }
        let started = Instant::now();
        let (mut sampled, mut deleted) = (0, 0);
        let mut effects = std::mem::take(&mut self.scratch_effects);
        let out_of_time = loop {
            let cycle = self
                .ks
                .active_expire_cycle(self.now_ms, &mut effects, ACTIVE_EXPIRE_CHUNK);
            sampled += cycle.sampled;
            deleted += cycle.deleted;
            self.journal_own_effects(&mut effects);
            let now = Instant::now();
            if !cycle.more || !self.shared.lease_valid(now) {
                break false;
            }
            if now.duration_since(started) >= ACTIVE_EXPIRE_TIME_BUDGET {
                break true;
            }
        };
        self.admin.expiry_cycle(sampled, deleted, out_of_time);
        self.scratch_effects = effects;
        if deleted > 0 {
            tracing::debug!(
                deleted,
                elapsed_us = started.elapsed().as_micros() as u64,
                "active expiry"
            );
        }
    }

    /// Puts effects of the node's own making (expirations, evictions) in
    /// the open batch, sealing it as soon as it is full. Each is a `DEL`
    /// of its own, so a batch may end between any two; sealing only after
    /// a whole chunk (as until 2026-12-06) let 1,024 deletions of keys of
    /// up to 12 MiB each grow one journal record past what an append
    /// takes.
    fn journal_own_effects(&mut self, effects: &mut Vec<Effect>) {
        for effect in effects.drain(..) {
            debug_assert!(
                effect
                    .argv
                    .first()
                    .is_some_and(|name| name.eq_ignore_ascii_case(b"DEL")),
                "the node's own effects are deletions"
            );
            self.signal_effect(&effect);
            self.dirty.own_deletions = self.next_batch;
            self.open_bytes += effect_bytes(&effect.argv);
            self.open.push(effect.into());
            if self.open_bytes >= MAX_BATCH_BYTES {
                self.seal();
            }
        }
    }
}

/// What running one command produced.
pub(crate) struct Outcome {
    pub reply: Reply,
    /// Replies sent before `reply` (SUBSCRIBE answers once per channel).
    pub extra: Vec<Reply>,
    pub barrier: u64,
    /// Close the connection after this reply.
    pub close: bool,
    /// Send nothing (SHUTDOWN closes the connection without a reply).
    pub silent: bool,
    /// The client blocked: no reply now (see `exec/blocking.rs`).
    pub blocked: bool,
    /// Refused before running (INFO's rejected_calls).
    pub rejected: bool,
}

impl Outcome {
    pub fn reply(reply: Reply) -> Outcome {
        Outcome::with_barrier(reply, 0)
    }

    pub fn with_barrier(reply: Reply, barrier: u64) -> Outcome {
        Outcome {
            reply,
            extra: Vec::new(),
            barrier,
            close: false,
            silent: false,
            blocked: false,
            rejected: false,
        }
    }

    pub fn rejected(reply: Reply) -> Outcome {
        Outcome {
            rejected: true,
            ..Outcome::reply(reply)
        }
    }

    /// Several replies for one command; the last is `reply`.
    pub fn many(mut replies: Vec<Reply>) -> Outcome {
        let last = replies.pop().unwrap_or(Reply::Null);
        Outcome {
            extra: replies,
            ..Outcome::reply(last)
        }
    }
}

fn write_too_large(bytes: usize) -> Reply {
    Reply::Error(format!(
        "ERR write of {bytes} bytes exceeds the largest write the journal takes ({MAX_WRITE_BYTES} bytes)"
    ))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use memoir_journal::LeaderId;

    use super::super::commit::BarrierState;
    use super::super::shared::{NetTotals, StatCounters};
    use super::*;
    use crate::node::NodeConfig;

    #[test]
    fn traffic_rates_and_expiry_statistics_are_kept_as_redis_keeps_them() {
        let (mut exec, _batches, _replies) = primary_exec();
        let start = Instant::now();
        let sample = |at, total_commands, input_bytes, output_bytes| admin::TrafficSample {
            at,
            counters: StatCounters {
                total_commands,
                net: NetTotals {
                    input_bytes,
                    output_bytes,
                    ..NetTotals::default()
                },
                ..StatCounters::default()
            },
        };
        exec.admin.sample_traffic(sample(start, 100, 1000, 1000));
        exec.admin
            .sample_traffic(sample(start + Duration::from_secs(2), 1100, 1000 + 4096, 1000 + 2048));
        assert_eq!(exec.admin.instantaneous_ops_per_sec(), 500);
        assert_eq!(exec.admin.instantaneous_kbps(), (2.0, 1.0));
        exec.admin.expiry_cycle(100, 50, false);
        exec.admin.expiry_cycle(0, 0, true);
        let (stale_perc, capped) = exec.admin.expiry_stats();
        assert!(
            (stale_perc - 2.5).abs() < 1e-9,
            "5% of the newest cycle's 50%: {stale_perc}"
        );
        assert_eq!(capped, 1);
    }

    #[test]
    fn dirty_key_maps_give_back_a_burst_once_a_tick_has_passed_without_one() {
        let mut dirty = DirtyKeys::new(2);
        for i in 0..100_000u64 {
            dirty.mark(1, &Bytes::from(format!("key:{i}")), 1 + i / 1000);
        }
        let burst = dirty.by_db[1].capacity();
        assert!(burst >= 100_000);
        dirty.release_through(100);
        assert!(dirty.by_db[1].is_empty() && dirty.by_batch.is_empty());
        dirty.shrink_to_recent_peak();
        // (hashbrown counts tombstones out of its capacity until a rehash.)
        assert!(
            dirty.by_db[1].capacity() >= burst / 2,
            "the burst was this tick: kept for the next one"
        );
        dirty.mark(1, &Bytes::from_static(b"steady"), 101);
        dirty.shrink_to_recent_peak();
        assert!(
            dirty.by_db[1].capacity() <= 4 * DIRTY_KEYS_MIN_CAPACITY,
            "{}",
            dirty.by_db[1].capacity()
        );
        assert!(dirty.by_batch.capacity() <= 4 * DIRTY_KEYS_MIN_CAPACITY);
        assert_eq!(dirty.barrier(1, b"steady"), 101, "shrinking keeps what is marked");
    }

    fn primary_exec() -> (Exec, mpsc::Receiver<SealedBatch>, mpsc::UnboundedReceiver<Outgoing>) {
        primary_exec_with(test_config())
    }

    pub(in crate::node::exec) fn test_config() -> NodeConfig {
        NodeConfig::new(vec!["127.0.0.1:1".into()], "127.0.0.1:0".parse().expect("an address"))
    }

    /// An execution thread's state, driven by hand: primary, lease held,
    /// client 1 connected.
    pub(in crate::node::exec) fn primary_exec_with(
        config: NodeConfig,
    ) -> (Exec, mpsc::Receiver<SealedBatch>, mpsc::UnboundedReceiver<Outgoing>) {
        let listen = config.listen;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(NodeShared::new(config, LeaderId::random(), listen, shutdown));
        let commit = Arc::new(watch::Sender::new(CommitState::default()));
        let (role_tx, _role_rx) = mpsc::unbounded_channel();
        let mut exec = Exec::new(shared, commit, role_tx);
        exec.begin_step();
        let replies_rx = connect(&mut exec);
        let batches_rx = become_primary(&mut exec);
        (exec, batches_rx, replies_rx)
    }

    /// Client 1 connects; its replies arrive on the returned receiver.
    fn connect(exec: &mut Exec) -> mpsc::UnboundedReceiver<Outgoing> {
        let (replies, replies_rx) = mpsc::unbounded_channel();
        exec.handle(ExecMsg::Connected {
            conn: 1,
            addr: "127.0.0.1:0".parse().expect("an address"),
            replies,
            control: Arc::new(ConnControl::default()),
            direct: None,
        });
        replies_rx
    }

    fn become_primary(exec: &mut Exec) -> mpsc::Receiver<SealedBatch> {
        // Room for every batch one step seals: the tests drain between steps.
        let (batches, batches_rx) = mpsc::channel(1024);
        let (done, _) = oneshot::channel();
        exec.handle(ExecMsg::BecomePrimary {
            batches,
            applied: 0,
            done,
        });
        exec.handle(ExecMsg::Loaded);
        exec.shared.extend_lease(Instant::now(), Instant::now());
        exec.begin_step();
        batches_rx
    }

    fn rpush(exec: &mut Exec, value: &str) {
        exec.handle(ExecMsg::Commands {
            conn: 1,
            commands: vec![vec![
                Bytes::from_static(b"RPUSH"),
                Bytes::from_static(b"l"),
                Bytes::from(value.to_string()),
            ]],
        });
    }

    fn barrier_of_next_reply(replies: &mut mpsc::UnboundedReceiver<Outgoing>) -> u64 {
        let outgoing = replies.try_recv().expect("a reply");
        let item = &outgoing.items[0];
        assert_eq!(item.reply, Reply::Integer(1), "RPUSH answered");
        item.barrier
    }

    #[test]
    fn a_write_discarded_by_a_reset_is_never_acknowledged() {
        let (mut exec, _first_term, mut replies) = primary_exec();
        // The write and the Reset in one step: the write is in the open
        // batch, not yet sent to the journal, when the dataset is dropped.
        rpush(&mut exec, "lost");
        let discarded = barrier_of_next_reply(&mut replies);
        assert_ne!(discarded, 0);
        let (done, _) = oneshot::channel();
        exec.handle(ExecMsg::Reset {
            reason: "fenced (test)".into(),
            done,
        });
        assert_eq!(exec.commit_rx.borrow().check(discarded), BarrierState::Failed);

        // The node becomes primary again and its first batch commits: the
        // discarded write's reply must stay failed.
        let mut second_term = become_primary(&mut exec);
        // The Reset closed the primary's clients: connect again.
        replies = connect(&mut exec);
        rpush(&mut exec, "kept");
        let kept = barrier_of_next_reply(&mut replies);
        exec.seal();
        let sealed = second_term.try_recv().expect("a sealed batch");
        assert_eq!(sealed.batch, kept);
        assert_ne!(sealed.batch, discarded, "a discarded batch's number was used again");
        exec.commit.send_modify(|state| state.committed = sealed.batch);
        assert_eq!(exec.commit_rx.borrow().check(kept), BarrierState::Ready);
        assert_eq!(exec.commit_rx.borrow().check(discarded), BarrierState::Failed);
    }

    pub(in crate::node::exec) fn set(key: &str, value: Bytes) -> Vec<Bytes> {
        vec![Bytes::from_static(b"SET"), Bytes::from(key.to_string()), value]
    }

    /// Sends one message of commands; their replies, in order.
    pub(in crate::node::exec) fn run(
        exec: &mut Exec,
        replies: &mut mpsc::UnboundedReceiver<Outgoing>,
        commands: Vec<Vec<Bytes>>,
    ) -> Vec<PendingReply> {
        exec.handle(ExecMsg::Commands { conn: 1, commands });
        replies.try_recv().expect("replies").items
    }

    #[test]
    fn one_message_of_large_writes_is_sealed_near_the_batch_limit() {
        let (mut exec, mut batches, mut replies) = primary_exec();
        let value = Bytes::from(vec![b'v'; 600 << 10]);
        let items = run(
            &mut exec,
            &mut replies,
            vec![set("a", value.clone()), set("b", value.clone()), set("c", value)],
        );
        // The second SET takes the batch past MAX_BATCH_BYTES: sealed there,
        // not at the end of the message.
        let first = batches.try_recv().expect("a batch sealed within the message");
        assert_eq!(first.ops.len(), 2);
        assert_eq!(items[0].barrier, first.batch);
        assert_eq!(items[1].barrier, first.batch);
        assert_eq!(items[2].barrier, first.batch + 1);
        assert!(batches.try_recv().is_err(), "the third SET is still open");
        exec.seal();
        assert_eq!(batches.try_recv().expect("the rest").ops.len(), 1);
    }

    #[test]
    fn a_write_too_large_for_one_journal_record_is_refused_before_it_runs() {
        let (mut exec, mut batches, mut replies) = primary_exec();
        let huge = Bytes::from(vec![b'h'; MAX_WRITE_BYTES]);
        let items = run(&mut exec, &mut replies, vec![set("k", huge)]);
        match &items[0].reply {
            Reply::Error(text) => assert!(text.starts_with("ERR write of "), "{text}"),
            other => panic!("expected an error, got {other:?}"),
        }
        assert_eq!(items[0].barrier, 0, "nothing was written");
        exec.seal();
        assert!(batches.try_recv().is_err(), "nothing goes to the journal");
        let get = vec![Bytes::from_static(b"GET"), Bytes::from_static(b"k")];
        assert_eq!(run(&mut exec, &mut replies, vec![get])[0].reply, Reply::Null);

        // In a transaction the queued writes count together, and EXEC aborts.
        let half = Bytes::from(vec![b'h'; MAX_WRITE_BYTES / 2 + 1]);
        let items = run(
            &mut exec,
            &mut replies,
            vec![
                vec![Bytes::from_static(b"MULTI")],
                set("x", half.clone()),
                set("y", half),
                vec![Bytes::from_static(b"EXEC")],
            ],
        );
        assert_eq!(items[1].reply, Reply::SimpleString("QUEUED".into()));
        assert!(matches!(&items[2].reply, Reply::Error(text) if text.starts_with("ERR write of ")));
        assert!(matches!(&items[3].reply, Reply::Error(text) if text.starts_with("EXECABORT")));
        exec.seal();
        assert!(batches.try_recv().is_err(), "nothing goes to the journal");
    }

    /// One tick of the execution thread (active expiry, eviction), then
    /// the batches it sealed.
    pub(in crate::node::exec) fn tick(exec: &mut Exec, batches: &mut mpsc::Receiver<SealedBatch>) -> Vec<SealedBatch> {
        exec.begin_step();
        exec.handle(ExecMsg::Tick);
        exec.seal();
        std::iter::from_fn(|| batches.try_recv().ok()).collect()
    }

    /// Writes `count` keys named by `key` with a 1 ms TTL, `per_message`
    /// SETs a message, drains their batches, and lets them expire.
    fn write_expiring_keys(
        exec: &mut Exec,
        batches: &mut mpsc::Receiver<SealedBatch>,
        replies: &mut mpsc::UnboundedReceiver<Outgoing>,
        count: usize,
        per_message: usize,
        key: impl Fn(usize) -> Bytes,
    ) {
        for chunk in (0..count).collect::<Vec<_>>().chunks(per_message) {
            let commands = chunk
                .iter()
                .map(|&i| {
                    vec![
                        Bytes::from_static(b"SET"),
                        key(i),
                        Bytes::from_static(b"v"),
                        Bytes::from_static(b"PX"),
                        Bytes::from_static(b"1"),
                    ]
                })
                .collect();
            run(exec, replies, commands);
            exec.seal();
            while batches.try_recv().is_ok() {}
        }
        assert_eq!(exec.ks.dbsize(0), count);
        std::thread::sleep(Duration::from_millis(5));
    }

    #[test]
    fn large_keys_expiring_together_are_spread_over_batches_that_fit_the_journal() {
        let (mut exec, mut batches, mut replies) = primary_exec();
        // 300 keys of 64 KiB: 19 MiB of DELs, all in one chunk of samples.
        write_expiring_keys(&mut exec, &mut batches, &mut replies, 300, 10, |i| {
            Bytes::from(format!("{i:0>65535}"))
        });
        let mut deleted = 0;
        for _ in 0..100 {
            for batch in tick(&mut exec, &mut batches) {
                let bytes: usize = batch.ops.iter().map(|op| effect_bytes(&op.argv)).sum();
                assert!(bytes < MAX_BATCH_BYTES + (64 << 10) + 100, "a batch of {bytes} bytes");
                deleted += batch.ops.len();
            }
            if deleted == 300 {
                break;
            }
        }
        assert_eq!(deleted, 300);
    }

    #[test]
    fn active_expiry_reclaims_thousands_of_keys_a_tick_in_bounded_batches() {
        let (mut exec, mut batches, mut replies) = primary_exec();
        let keys = 20_000;
        write_expiring_keys(&mut exec, &mut batches, &mut replies, keys, 1000, |i| {
            Bytes::from(format!("{i:0>100}"))
        });

        let mut deleted = std::collections::HashSet::new();
        let mut first_tick = 0;
        for round in 0..200 {
            for batch in tick(&mut exec, &mut batches) {
                let bytes: usize = batch.ops.iter().map(|op| effect_bytes(&op.argv)).sum();
                assert!(bytes < MAX_BATCH_BYTES + 200, "a batch of {bytes} bytes");
                for op in batch.ops {
                    assert_eq!(op.argv[0], "DEL");
                    assert!(deleted.insert(op.argv[1].clone()), "one DEL per key");
                }
            }
            if round == 0 {
                first_tick = deleted.len();
            }
            if deleted.len() == keys {
                break;
            }
        }
        // A fixed 200 samples a tick (the old cycle) deleted at most 200.
        assert!(first_tick > 1000, "the first tick deleted only {first_tick}");
        assert_eq!(deleted.len(), keys);
        assert_eq!(exec.ks.dbsize(0), 0);
    }

    fn words(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn is_too_large(reply: &Reply) -> bool {
        matches!(reply, Reply::Error(text) if text.starts_with("ERR write of "))
    }

    #[test]
    fn a_write_whose_effects_outgrow_one_journal_record_is_refused_before_it_changes_anything() {
        let (mut exec, mut batches, mut replies) = primary_exec();
        // 14 elements of 1 MiB, added 7 at a time: each write is under the
        // bound, but a copy of all of them is over it.
        let element = |i: u8| Bytes::from(vec![b'a' + i; 1 << 20]);
        for half in 0..2u8 {
            let mut rpush = words(&["RPUSH", "l"]);
            let mut sadd = words(&["SADD", "s"]);
            for i in 0..7 {
                rpush.push(element(half * 7 + i));
                sadd.push(element(half * 7 + i));
            }
            run(&mut exec, &mut replies, vec![rpush, sadd]);
            exec.seal();
            while batches.try_recv().is_ok() {}
        }

        let items = run(
            &mut exec,
            &mut replies,
            vec![
                words(&["SORT", "l", "BY", "nosort", "STORE", "d"]),
                words(&["EXISTS", "d"]),
                words(&["SPOP", "s", "13"]),
                words(&["SCARD", "s"]),
            ],
        );
        assert!(is_too_large(&items[0].reply), "{:?}", items[0].reply);
        assert_eq!(items[1].reply, Reply::Integer(0));
        assert!(is_too_large(&items[2].reply), "{:?}", items[2].reply);
        assert_eq!(items[3].reply, Reply::Integer(14));
        exec.seal();
        assert!(batches.try_recv().is_err(), "nothing goes to the journal");

        // The effects of one EXEC share the bound: the second half-copy
        // does not fit beside the first, and fails alone (a runtime error
        // inside EXEC, as in Redis); the first is written.
        let items = run(
            &mut exec,
            &mut replies,
            vec![
                words(&["MULTI"]),
                words(&["SORT", "l", "BY", "nosort", "LIMIT", "0", "7", "STORE", "d1"]),
                words(&["SORT", "l", "BY", "nosort", "LIMIT", "7", "7", "STORE", "d2"]),
                words(&["EXEC"]),
            ],
        );
        let Reply::Array(results) = &items[3].reply else {
            panic!("EXEC answered {:?}", items[3].reply);
        };
        assert_eq!(results[0], Reply::Integer(7));
        assert!(is_too_large(&results[1]), "{:?}", results[1]);
        exec.seal();
        let batch = batches.try_recv().expect("the first copy");
        assert_eq!(batch.ops.len(), 1);
        assert_eq!(batch.ops[0].argv[..2], words(&["RPUSH", "d1"])[..]);

        // Popping the whole set is journaled as a DEL, whatever its size.
        let items = run(&mut exec, &mut replies, vec![words(&["SPOP", "s", "14"])]);
        assert!(matches!(&items[0].reply, Reply::Set(members) if members.len() == 14));
    }
}
