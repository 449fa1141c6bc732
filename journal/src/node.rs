//! The raft driver: one thread that owns the raft state machine, persists
//! each Ready through the segment store, and applies committed commands.
//!
//! Group commit falls out of the loop's shape: while one Ready is being made
//! durable (one write + one fdatasync for all its entries), new proposals and
//! peer messages queue up in the inbox, and the next Ready carries all of
//! them. The leader sends its entries to the followers *before* persisting
//! them locally, so replication and the local fsync overlap.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use raft::prelude::{EntryType, Message, MessageType, Snapshot};
use raft::{Config as RaftConfig, RawNode, StateRole};
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::hard_state::HardStateFile;
use crate::ids::NodeId;
use crate::log::Log;
use crate::raft_storage::{decode_entry, RaftStorage, KIND_BASE};
use crate::seq::Seq;
use crate::state::{Command, JournalState, Outcome};
use crate::vote_hold::{self, VoteHold};

/// Timing and limits of one replica's raft node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub id: NodeId,
    pub voters: Vec<NodeId>,
    pub tick: Duration,
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    /// Write a state checkpoint after this many applied entries.
    pub checkpoint_every_entries: u64,
    pub inbox_capacity: usize,
    pub max_size_per_msg: u64,
    pub max_inflight_msgs: usize,
}

impl NodeOptions {
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> NodeOptions {
        NodeOptions {
            id,
            voters,
            tick: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 2,
            checkpoint_every_entries: 50_000,
            inbox_capacity: 64 * 1024,
            max_size_per_msg: 1 << 20,
            // 32 x 1 MiB in flight per follower is plenty on any link we
            // run over, and bounds what a lagging follower makes the leader
            // read from disk and hold at once (raft_fetch.rs).
            max_inflight_msgs: 32,
        }
    }
}

/// Why a proposal did not get an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// This replica is not the raft leader; try `leader` if known.
    NotLeader { leader: Option<NodeId> },
    /// Leadership changed while the proposal was in flight: it may or may
    /// not be in the log. Retrying with the same writer sequence is safe.
    Dropped,
    /// The replica stopped (for example after a failed fsync).
    Stopped { reason: String },
}

pub type ProposeReply = oneshot::Sender<std::result::Result<Outcome, ProposeError>>;

pub enum Input {
    Raft(Box<Message>),
    Propose {
        command: Command,
        reply: ProposeReply,
    },
    /// Several proposals, in order, from one read of a client connection:
    /// proposed together, they go into one Ready and one fsync.
    ProposeMany(Vec<(Command, ProposeReply)>),
    /// A peer connected with this data-directory incarnation.
    PeerIncarnation {
        peer: NodeId,
        incarnation: u64,
    },
    /// Finish the Ready in progress and stop.
    Stop,
}

/// Where outgoing raft messages go (the TCP peer links, or a test harness).
pub trait Transport: Send + 'static {
    fn send(&mut self, messages: Vec<Message>);
}

/// A replica's progress as seen by the leader.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerProgress {
    pub id: NodeId,
    pub matched: u64,
    pub lag: u64,
}

/// What the network side may read without asking the raft thread.
#[derive(Clone, Debug, Default)]
pub struct NodeStatus {
    pub role: String,
    pub raft_leader: Option<NodeId>,
    pub term: u64,
    pub commit: u64,
    pub last_index: u64,
    pub peers: Vec<PeerProgress>,
}

pub struct ReplicaShared {
    pub id: NodeId,
    pub log: Arc<Log>,
    pub state: Arc<RwLock<JournalState>>,
    /// The applied index; subscriptions wait on it.
    pub applied: watch::Sender<u64>,
    pub status: RwLock<NodeStatus>,
    /// Set when the raft thread stopped on an error; the replica serves no
    /// more writes.
    pub fatal: Mutex<Option<String>>,
}

impl ReplicaShared {
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    pub fn status(&self) -> NodeStatus {
        self.status.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn read_state(&self) -> std::sync::RwLockReadGuard<'_, JournalState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct NodeHandle {
    pub inbox: Sender<Input>,
    pub shared: Arc<ReplicaShared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl NodeHandle {
    /// Stops the raft thread (it finishes the Ready in progress).
    pub fn stop(mut self) {
        let _ = self.inbox.send(Input::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the replica's raft state in `dir` (log in `dir/log`) and starts its
/// thread.
pub fn start(dir: PathBuf, log: Arc<Log>, options: NodeOptions, transport: Box<dyn Transport>) -> Result<NodeHandle> {
    let state = checkpoint::load(&dir)?.unwrap_or_default();
    let vote_hold = VoteHold::load(&dir);
    if vote_hold.is_held() {
        warn!("this replica was repaired: it neither votes nor campaigns until it has caught up with a leader");
    }
    let applied = state.applied;
    let state = Arc::new(RwLock::new(state));
    let (hs_file, hs) = HardStateFile::open(&dir)?;
    let storage = RaftStorage::open(log.clone(), hs_file, hs, options.voters.clone(), state.clone())?;
    let config = RaftConfig {
        id: options.id,
        election_tick: options.election_ticks,
        heartbeat_tick: options.heartbeat_ticks,
        applied,
        max_size_per_msg: options.max_size_per_msg,
        max_inflight_msgs: options.max_inflight_msgs,
        check_quorum: true,
        pre_vote: true,
        ..RaftConfig::default()
    };
    config.validate().map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let logger = slog::Logger::root(crate::raft_log::TracingDrain, slog::o!("raft_id" => options.id));
    let mut node = RawNode::new(&config, storage, &logger).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let (applied_tx, _) = watch::channel(applied);
    let shared = Arc::new(ReplicaShared {
        id: options.id,
        log,
        state,
        applied: applied_tx,
        status: RwLock::new(NodeStatus::default()),
        fatal: Mutex::new(None),
    });
    let (inbox, rx) = bounded(options.inbox_capacity);
    // Persist completions: at most one per Ready in flight.
    let (persisted_tx, persisted_rx) = bounded(64 * 1024);
    let fetched_rx = node
        .mut_store()
        .fetch_off_thread(format!("raft-fetch-{}", options.id))?;
    let mut driver = Driver {
        fetched_rx,
        persisted_tx,
        persisted_rx,
        persisting: std::collections::VecDeque::new(),
        dir,
        node,
        shared: shared.clone(),
        transport,
        pending: BTreeMap::new(),
        since_checkpoint: 0,
        options: options.clone(),
        was_leader: false,
        incarnations: std::collections::HashMap::new(),
        vote_hold,
    };
    let thread = thread::Builder::new()
        .name(format!("raft-{}", options.id))
        .spawn(move || {
            if let Err(e) = driver.run(rx) {
                error!(error = %e, "journal replica stopped: raft driver failed");
                driver.fail_all(&e.to_string());
                if let Ok(mut fatal) = driver.shared.fatal.lock() {
                    *fatal = Some(e.to_string());
                }
            }
        })
        .map_err(|e| Error::io("spawning the raft thread for", PathBuf::new(), e))?;
    Ok(NodeHandle {
        inbox,
        shared,
        thread: Some(thread),
    })
}

struct Driver {
    /// Reads of a lagging follower's entries finished off this thread
    /// (`raft_fetch.rs`): raft retries the sends it deferred.
    fetched_rx: Receiver<raft::GetEntriesContext>,
    /// Persistence callbacks report (Ready number, result) here.
    persisted_tx: Sender<(u64, Result<()>)>,
    persisted_rx: Receiver<(u64, Result<()>)>,
    /// Readys whose entries are being made durable, oldest first, with the
    /// messages that may only be sent once they are.
    /// (Ready number, last raft index it writes or 0 if it writes nothing,
    /// messages to send once it is durable).
    persisting: std::collections::VecDeque<(u64, u64, Vec<Message>)>,
    dir: PathBuf,
    node: RawNode<RaftStorage>,
    shared: Arc<ReplicaShared>,
    transport: Box<dyn Transport>,
    /// Proposals waiting for their entry to apply: index -> (term, reply).
    pending: BTreeMap<u64, (u64, ProposeReply)>,
    since_checkpoint: u64,
    options: NodeOptions,
    was_leader: bool,
    /// Last data-directory incarnation seen from each peer.
    incarnations: std::collections::HashMap<NodeId, u64>,
    /// Set after a repair: no votes, no campaigns (see `vote_hold`).
    vote_hold: VoteHold,
}

/// Bound on inputs handled between two Readys, so ticks and Readys keep
/// happening under a flood.
const MAX_INPUTS_PER_ROUND: usize = 4096;

impl Driver {
    fn run(&mut self, inbox: Receiver<Input>) -> Result<()> {
        let mut next_tick = Instant::now() + self.options.tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let persisted = self.persisted_rx.clone();
            let fetched = self.fetched_rx.clone();
            let received = crossbeam_channel::select! {
                recv(inbox) -> input => input.map_err(|_| RecvTimeoutError::Disconnected),
                recv(persisted) -> done => {
                    if let Ok((number, result)) = done {
                        result?;
                        self.on_persisted(number);
                        while let Ok((number, result)) = persisted.try_recv() {
                            result?;
                            self.on_persisted(number);
                        }
                    }
                    Err(RecvTimeoutError::Timeout)
                },
                recv(fetched) -> context => {
                    match context {
                        Ok(context) => self.node.on_entries_fetched(context),
                        // The fetch thread is gone (storage then reads on
                        // this thread): stop selecting on its channel.
                        Err(_) => self.fetched_rx = crossbeam_channel::never(),
                    }
                    Err(RecvTimeoutError::Timeout)
                },
                default(wait) => Err(RecvTimeoutError::Timeout),
            };
            match received {
                Ok(input) => {
                    let mut stop = self.handle(input);
                    for _ in 0..MAX_INPUTS_PER_ROUND {
                        if stop {
                            break;
                        }
                        match inbox.try_recv() {
                            Ok(input) => stop = self.handle(input),
                            Err(_) => break,
                        }
                    }
                    if stop {
                        self.on_ready()?;
                        self.fail_pending(ProposeError::Stopped {
                            reason: "replica stopped".into(),
                        });
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if Instant::now() >= next_tick {
                // A held replica never times out into a campaign.
                if !self.vote_hold.is_held() {
                    self.node.tick();
                }
                next_tick = Instant::now() + self.options.tick;
            }
            self.on_ready()?;
            self.maybe_release_votes()?;
            self.publish_status();
        }
    }

    /// Releases a vote hold once this replica provably holds every
    /// committed entry (see `vote_hold`).
    fn maybe_release_votes(&mut self) -> Result<()> {
        if !self.vote_hold.is_held() {
            return Ok(());
        }
        let raft = &self.node.raft;
        let log = &raft.raft_log;
        let committed_term = log.term(log.committed).ok();
        if vote_hold::caught_up(
            raft.leader_id != raft::INVALID_ID,
            raft.term,
            log.committed,
            log.persisted,
            committed_term,
        ) {
            info!(
                term = raft.term,
                committed = log.committed,
                leader = raft.leader_id,
                "caught up with the raft leader after the repair: this replica votes again"
            );
            self.vote_hold.release()?;
        }
        Ok(())
    }

    /// Returns true on `Stop`.
    fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Raft(mut message) => {
                if self.vote_hold.is_held()
                    && matches!(
                        message.get_msg_type(),
                        MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
                    )
                {
                    // No answer: the candidate's election times out, as if
                    // this replica were down.
                    tracing::debug!(from = message.from, "vote request ignored: votes held after a repair");
                    return false;
                }
                // A leader that has not yet learnt that this replica lost
                // its log (wiped) may send a commit index beyond it; raft
                // would abort. The true commit is never past our log's end.
                if message.get_msg_type() == MessageType::MsgHeartbeat {
                    let last = self.node.raft.raft_log.last_index();
                    if message.commit > last {
                        message.commit = last;
                    }
                }
                if let Err(e) = self.node.step(*message) {
                    tracing::debug!(error = %e, "raft rejected a peer message");
                }
            }
            Input::Propose { command, reply } => self.propose(command, reply),
            Input::ProposeMany(proposals) => {
                for (command, reply) in proposals {
                    self.propose(command, reply);
                }
            }
            Input::PeerIncarnation { peer, incarnation } => {
                let known = self.incarnations.insert(peer, incarnation);
                if known.is_some_and(|k| k != incarnation) && self.node.raft.state == StateRole::Leader {
                    // The peer lost its state: forget what we thought it
                    // had and probe it again (entries, or a snapshot).
                    if let Some(progress) = self.node.raft.mut_prs().get_mut(peer) {
                        info!(
                            peer,
                            "peer restarted with a new data directory; probing it from scratch"
                        );
                        progress.matched = 0;
                        progress.become_probe();
                    }
                }
            }
            Input::Stop => return true,
        }
        false
    }

    /// Ready `number` is durable: release the messages that waited for it
    /// (and for every Ready before it), and tell raft.
    fn on_persisted(&mut self, number: u64) {
        // Everything up to `number`, then any following Readys that had no
        // entries of their own and only waited to keep message order.
        while let Some(&(n, last_index, _)) = self.persisting.front() {
            let has_io = last_index != 0;
            if n > number && has_io {
                break;
            }
            if has_io {
                self.node.mut_store().mark_durable(last_index);
            }
            if let Some((_, _, messages)) = self.persisting.pop_front() {
                if !messages.is_empty() {
                    self.transport.send(messages);
                }
            }
        }
        self.node.on_persist_ready(number);
    }

    fn propose(&mut self, command: Command, reply: ProposeReply) {
        if self.node.raft.state != StateRole::Leader {
            let leader = Some(self.node.raft.leader_id).filter(|&l| l != 0);
            let _ = reply.send(Err(ProposeError::NotLeader { leader }));
            return;
        }
        let before = self.node.raft.raft_log.last_index();
        match self.node.propose(Vec::new(), command.encode()) {
            Ok(()) => {
                let index = self.node.raft.raft_log.last_index();
                if index == before {
                    let _ = reply.send(Err(ProposeError::Dropped));
                } else {
                    self.pending.insert(index, (self.node.raft.term, reply));
                }
            }
            Err(_) => {
                let leader = Some(self.node.raft.leader_id).filter(|&l| l != 0);
                let _ = reply.send(Err(ProposeError::NotLeader { leader }));
            }
        }
    }

    /// One Ready, with persistence off the raft thread: entries go to the
    /// segment store (one write + one fdatasync for all of them) and the loop
    /// goes on handling peer messages and proposals; raft learns of the
    /// durability through the persisted channel. Messages that promise
    /// durability (acks, votes) wait until then; the leader's appends to its
    /// followers go out at once, so replication overlaps the local fsync.
    fn on_ready(&mut self) -> Result<()> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut ready = self.node.ready();
        if let Some(ss) = ready.ss() {
            let is_leader = ss.raft_state == StateRole::Leader;
            if self.was_leader && !is_leader {
                info!(
                    leader = ss.leader_id,
                    "lost raft leadership; in-flight proposals are dropped"
                );
                self.fail_pending(ProposeError::Dropped);
            }
            if is_leader && !self.was_leader {
                info!(term = self.node.raft.term, "became raft leader");
            }
            self.was_leader = is_leader;
        }
        if !ready.messages().is_empty() {
            self.transport.send(ready.take_messages());
        }
        let has_snapshot = !ready.snapshot().is_empty();
        if has_snapshot {
            // Rare: done synchronously, after everything queued before it.
            self.wait_for_persists()?;
            self.install_snapshot(ready.snapshot().clone())?;
        }
        let committed = ready.take_committed_entries();
        self.apply(committed)?;
        if let Some(hs) = ready.hs() {
            // A changed term or vote is fsync'ed here, before any message.
            self.node.mut_store().set_hard_state(hs)?;
        }
        let number = ready.number();
        let persisted_messages = ready.take_persisted_messages();
        let entries = ready.take_entries();
        if !entries.is_empty() {
            let done = self.persisted_tx.clone();
            self.node.mut_store().append_async(&entries, move |result| {
                let _ = done.send((number, result));
            })?;
            let last_index = entries.last().map_or(0, |e| e.index);
            self.persisting.push_back((number, last_index, persisted_messages));
            self.node.advance_append_async(ready);
        } else if has_snapshot {
            self.node.advance_append_async(ready);
            self.on_persisted(number);
            self.transport.send(persisted_messages);
        } else {
            self.node.advance_append_async(ready);
            if self.persisting.is_empty() {
                self.transport.send(persisted_messages);
            } else {
                // Keep message order behind the persists still in flight.
                self.persisting.push_back((number, 0, persisted_messages));
            }
        }
        self.node.advance_apply();
        Ok(())
    }

    /// Blocks until every queued persist has completed (before a snapshot
    /// install resets the log under them).
    fn wait_for_persists(&mut self) -> Result<()> {
        while self.persisting.iter().any(|&(_, last_index, _)| last_index != 0) {
            match self.persisted_rx.recv() {
                Ok((number, result)) => {
                    result?;
                    self.on_persisted(number);
                }
                Err(_) => return Err(Error::Closed),
            }
        }
        Ok(())
    }

    fn install_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        let meta = snapshot.get_metadata();
        let state = JournalState::decode(&snapshot.data)
            .map_err(|e| Error::InvalidArgument(format!("undecodable journal snapshot: {e}")))?;
        if state.applied != meta.index {
            return Err(Error::InvalidArgument(format!(
                "journal snapshot at index {} holds state applied to {}",
                meta.index, state.applied
            )));
        }
        info!(
            index = meta.index,
            term = meta.term,
            "installing a journal snapshot from the leader"
        );
        // Checkpoint first: a crash before the log reset restarts the log
        // at the checkpoint (RaftStorage::open).
        checkpoint::save(&self.dir, &state)?;
        if let Ok(mut shared) = self.shared.state.write() {
            *shared = state;
        }
        self.node.mut_store().apply_snapshot(&snapshot)?;
        self.since_checkpoint = 0;
        let _ = self.shared.applied.send_replace(meta.index);
        Ok(())
    }

    fn apply(&mut self, entries: Vec<raft::prelude::Entry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut trims = Vec::new();
        let mut last = 0;
        {
            let mut state = self.shared.state.write().unwrap_or_else(|e| e.into_inner());
            for entry in entries {
                last = entry.index;
                if entry.index <= state.applied {
                    continue; // already in the checkpoint
                }
                let outcome = if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
                    state.apply_noop(entry.index, entry.term);
                    None
                } else {
                    match Command::decode(&entry.data) {
                        Ok(command) => Some(state.apply(entry.index, entry.term, &command)),
                        Err(e) => {
                            // Committed bytes that do not decode would make
                            // replicas diverge if skipped differently: stop.
                            return Err(Error::Corruption {
                                path: self.dir.clone(),
                                offset: 0,
                                reason: format!("committed raft entry {} does not decode: {e}", entry.index),
                            });
                        }
                    }
                };
                if let Some(Outcome::Trimmed { before }) = &outcome {
                    trims.push(*before);
                }
                if let Some((term, reply)) = self.pending.remove(&entry.index) {
                    let result = match outcome {
                        Some(outcome) if term == entry.term => Ok(outcome),
                        _ => Err(ProposeError::Dropped),
                    };
                    let _ = reply.send(result);
                }
                self.since_checkpoint += 1;
            }
        }
        // Anything pending at or below the last applied index lost its place.
        while let Some((&index, _)) = self.pending.first_key_value() {
            if index > last {
                break;
            }
            if let Some((_, (_, reply))) = self.pending.pop_first() {
                let _ = reply.send(Err(ProposeError::Dropped));
            }
        }
        if !trims.is_empty() || self.since_checkpoint >= self.options.checkpoint_every_entries {
            let snapshot = self.shared.read_state().clone();
            checkpoint::save(&self.dir, &snapshot)?;
            self.since_checkpoint = 0;
        }
        if let Some(&before) = trims.iter().max() {
            self.node.mut_store().compact(before)?;
        }
        self.node.mut_store().mark_applied(last);
        let _ = self.shared.applied.send_replace(last);
        Ok(())
    }

    fn fail_pending(&mut self, error: ProposeError) {
        for (_, (_, reply)) in std::mem::take(&mut self.pending) {
            let _ = reply.send(Err(error.clone()));
        }
    }

    fn fail_all(&mut self, reason: &str) {
        self.fail_pending(ProposeError::Stopped {
            reason: reason.to_string(),
        });
    }

    fn publish_status(&self) {
        let raft = &self.node.raft;
        let last_index = raft.raft_log.last_index();
        let peers = if raft.state == StateRole::Leader {
            let mut peers: Vec<PeerProgress> = raft
                .prs()
                .iter()
                .map(|(&id, progress)| PeerProgress {
                    id,
                    matched: progress.matched,
                    lag: last_index.saturating_sub(progress.matched),
                })
                .collect();
            peers.sort_by_key(|p| p.id);
            peers
        } else {
            Vec::new()
        };
        let status = NodeStatus {
            role: format!("{:?}", raft.state).to_lowercase(),
            raft_leader: Some(raft.leader_id).filter(|&l| l != 0),
            term: raft.term,
            commit: raft.raft_log.committed,
            last_index,
            peers,
        };
        if let Ok(mut shared) = self.shared.status.write() {
            *shared = status;
        }
    }
}

/// Is this stored log entry an accepted client append? Returns its payload.
pub fn accepted_payload(state: &JournalState, seq: Seq, stored: &bytes::Bytes) -> Option<bytes::Bytes> {
    let entry = decode_entry(stored).ok()?;
    if entry.kind == KIND_BASE || entry.data.is_empty() {
        return None;
    }
    match Command::decode(&entry.data) {
        Ok(Command::Append { payload, .. }) if state.is_accepted_append(seq.0) => Some(payload),
        _ => None,
    }
}
