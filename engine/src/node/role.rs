//! The role driver: follows the journal as a replica, wins leadership
//! through the journal's compare-and-set leader register, holds and renews
//! the primary's lease, steps down when fenced, and resigns on shutdown.
//!
//! Leadership protocol (DESIGN.md, "Leadership"):
//! - the primary appends a `LeaseRenewal` every lease/3 and serves only
//!   while `sent + lease` (monotonic clock, send time of the newest
//!   committed renewal) lies in the future;
//! - a replica that has applied everything the journal committed, and has
//!   seen no renewal for `lease + margin` (or saw the primary's `Release`),
//!   calls `set_leader(self, observed)`; on success it appends `Takeover`
//!   and applies every record before it (they are final: the old primary's
//!   later appends are fenced) before serving;
//! - if those final records include a renewal it had not seen when it
//!   contested, it waits out that lease too, so two primaries never serve
//!   at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memoir_journal::client::{ClientError, JournalClient, ReadBatch, Subscription};
use memoir_journal::log_checksum::{self, LogChecksum};
use memoir_journal::{LeaderId, Seq};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::commit::{self, BarrierState};
use super::exec::{ExecMsg, ExecSender};
use super::shared::{NodeShared, PrimaryInfo};
use super::snapshots::LoadProgress;
use crate::record::{Record, RecordError};

pub(crate) enum RoleCommand {
    /// Resign if primary, then stop.
    Shutdown { done: oneshot::Sender<()> },
    /// `FAILOVER`: resign so a caught-up replica takes over now.
    Failover,
    /// The write path broke; step down and rehydrate.
    StepDown(String),
    /// A journal append failed (fenced, or the journal unreachable).
    JournalFailed(ClientError),
}

pub(crate) type RoleEvent = RoleCommand;

/// Active expiry runs this often on the primary (Redis: 10 Hz).
const EXPIRE_TICK: Duration = Duration::from_millis(100);
const STATUS_POLL: Duration = Duration::from_millis(250);

pub(crate) async fn run(
    shared: Arc<NodeShared>,
    client: Arc<JournalClient>,
    exec: ExecSender,
    mut commands: mpsc::UnboundedReceiver<RoleCommand>,
    commands_tx: mpsc::UnboundedSender<RoleCommand>,
) {
    let ticker = tokio::spawn(tick_expiry(exec.clone()));
    let summaries = tokio::spawn(refresh_snapshot_summary(Arc::clone(&shared)));
    let mut driver = Driver {
        shared,
        client,
        exec,
        commands_tx,
    };
    loop {
        let won = match driver.follow(&mut commands).await {
            Followed::Won(won) => won,
            Followed::Shutdown(done) => {
                let _ = done.send(());
                break;
            }
        };
        match driver.lead(&mut commands, won).await {
            Led::Shutdown(done) => {
                let _ = done.send(());
                break;
            }
            Led::SteppedDown(reason) => {
                warn!(%reason, "stepping down; rejoining as a replica");
                let (done, reset) = oneshot::channel();
                if driver.exec.send(ExecMsg::Reset { reason, done }).await.is_err() || reset.await.is_err() {
                    break;
                }
            }
        }
    }
    ticker.abort();
    summaries.abort();
}

/// How often INFO's snapshot fields are refreshed from the store.
const SNAPSHOT_SUMMARY_EVERY: Duration = Duration::from_millis(500);

/// Keeps `NodeShared::snapshot_summary` fresh, reading the store on a
/// blocking thread: the execution thread never touches a disk.
async fn refresh_snapshot_summary(shared: Arc<NodeShared>) {
    let Some(source) = shared.config.snapshots.0.clone() else {
        return;
    };
    let mut interval = tokio::time::interval(SNAPSHOT_SUMMARY_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let source = Arc::clone(&source);
        let Ok(summary) = tokio::task::spawn_blocking(move || source.summary()).await else {
            return;
        };
        if let Ok(mut cached) = shared.snapshot_summary.lock() {
            *cached = summary;
        }
    }
}

async fn tick_expiry(exec: ExecSender) {
    let mut interval = tokio::time::interval(EXPIRE_TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        // A full queue means the thread is busy anyway; skip this tick.
        if let Err(mpsc::error::TrySendError::Closed(_)) = exec.tx.try_send(ExecMsg::Tick) {
            return;
        }
    }
}

/// Lease renewals one primary keeps in flight at once.
const MAX_RENEWALS_IN_FLIGHT: usize = 3;

struct Driver {
    shared: Arc<NodeShared>,
    client: Arc<JournalClient>,
    exec: ExecSender,
    commands_tx: mpsc::UnboundedSender<RoleCommand>,
}

enum Followed {
    Won(Won),
    Shutdown(oneshot::Sender<()>),
}

struct Won {
    /// When the takeover record (our first lease) was sent.
    sent: Instant,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

enum Led {
    Shutdown(oneshot::Sender<()>),
    SteppedDown(String),
}

/// What a replica knows about the primary from the records it applied.
struct Observed {
    leader: LeaderId,
    /// When a record from `leader` was last seen (a renewal or takeover).
    last_seen: Instant,
    /// `leader` resigned: no need to wait for its lease.
    released: bool,
}

/// What a journal replica's running log checksum says of this node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChecksumVerdict {
    /// The same log.
    Equal,
    /// The replica that answered has applied less than this node (it is
    /// restarting, or was cut off): its checksum is for an earlier point
    /// and vouches for nothing. Until 2026-12-06 it was compared anyway,
    /// and a node that met a restarting journal halted for good on a
    /// divergence that was not there.
    JournalBehind,
    /// This node's data is not the journal's log.
    Differs,
}

/// Compares this node's running checksum through `position` (the last
/// seq it has applied) with a journal replica's. A checksum through a
/// later seq is comparable: a replica hands it out only once its read has
/// looked at every position in between, and positions it skipped are not
/// records, which do not change the chain.
fn checksum_verdict(position: Seq, ours: u32, journal: LogChecksum) -> ChecksumVerdict {
    if journal.through < position {
        ChecksumVerdict::JournalBehind
    } else if journal.value == ours {
        ChecksumVerdict::Equal
    } else {
        ChecksumVerdict::Differs
    }
}

/// Follows the journal from `next`, applying records through the
/// execution thread.
struct Follower {
    subscription: Subscription,
    next: Seq,
    observed: Observed,
    /// When a renewal from another node was last applied.
    foreign_renewal_seen: Option<Instant>,
    halted: bool,
    /// Running log checksum through `next - 1`, checked against the
    /// journal's whenever a batch reaches its applied end.
    log_checksum: u32,
    /// When a journal replica behind this node was last reported.
    behind_reported: Option<Instant>,
}

impl Driver {
    fn patience(&self) -> Duration {
        let config = &self.shared.config;
        config.lease + config.lease_margin + config.election_delay
    }

    /// Replica phase: follow the journal; contest leadership when the
    /// primary's lease has run out.
    async fn follow(&mut self, commands: &mut mpsc::UnboundedReceiver<RoleCommand>) -> Followed {
        let (from, log_checksum) = match self.rehydrate_from_snapshot().await {
            Some(start) => start,
            None => return Followed::Shutdown(oneshot::channel().0),
        };
        let mut follower = Follower {
            subscription: self.client.subscribe(from),
            next: from,
            observed: Observed {
                leader: self.shared.primary_info().leader,
                last_seen: Instant::now(),
                released: false,
            },
            foreign_renewal_seen: None,
            halted: false,
            log_checksum,
            behind_reported: None,
        };
        let started = Instant::now();
        let mut reported_progress = Instant::now();
        let check_every = (self.shared.config.lease / 10).clamp(Duration::from_millis(10), Duration::from_millis(100));
        let mut check = tokio::time::interval(check_every);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(node = %self.shared.id, "following the journal as a replica");
        loop {
            tokio::select! {
                batch = follower.subscription.next() => match batch {
                    Ok(batch) => {
                        if !self.deliver(&mut follower, batch).await {
                            continue;
                        }
                        if self.loading() && reported_progress.elapsed() > Duration::from_secs(1) {
                            reported_progress = Instant::now();
                            info!(next = %follower.next, "rehydrating from the journal");
                        }
                    }
                    Err(ClientError::Trimmed(message)) => {
                        // The records after our starting point are gone and
                        // no snapshot covers them: serving would mean
                        // serving partial data, so refuse.
                        let reason = format!(
                            "the journal is trimmed past seq {} ({message}) and no valid snapshot covers the gap; \
                             this node refuses to serve partial data",
                            follower.next
                        );
                        error!(%reason, "cannot rehydrate");
                        self.shared.halt(reason);
                        return wait_for_shutdown(commands).await;
                    }
                    Err(e) => {
                        warn!(error = %e, "journal subscription failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = check.tick() => {
                    if follower.halted {
                        continue;
                    }
                    let contest = self.shared.config.can_lead
                        && (follower.observed.released || follower.observed.last_seen.elapsed() > self.patience());
                    if !self.loading() && !contest {
                        continue;
                    }
                    if !self.caught_up(&mut follower).await {
                        continue;
                    }
                    if self.loading() {
                        info!(applied = %follower.next.prev(), elapsed_ms = started.elapsed().as_millis() as u64,
                            "caught up with the journal");
                        if self.exec.send(ExecMsg::Loaded).await.is_err() {
                            return Followed::Shutdown(oneshot::channel().0);
                        }
                    }
                    if contest {
                        if let Some(won) = self.contest(&mut follower).await {
                            return Followed::Won(won);
                        }
                    }
                }
                command = commands.recv() => match command {
                    Some(RoleCommand::Shutdown { done }) => return Followed::Shutdown(done),
                    None => return Followed::Shutdown(oneshot::channel().0),
                    // Not primary: nothing to resign or step down from.
                    Some(_) => {}
                },
            }
        }
    }

    /// Loads the newest valid snapshot, if the node has a store, into the
    /// (empty) execution thread; returns the seq to replay from and the
    /// running log checksum before it. `None`
    /// if the execution thread is gone.
    async fn rehydrate_from_snapshot(&self) -> Option<(Seq, u32)> {
        let Some(source) = self.shared.config.snapshots.0.clone() else {
            return Some((Seq::FIRST, 0));
        };
        let databases = self.shared.config.databases;
        let shared = Arc::clone(&self.shared);
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            let mut reported = Instant::now();
            let mut report = |progress: LoadProgress| {
                if let Ok(mut load) = shared.snapshot_load.lock() {
                    *load = Some((progress, started));
                }
                if reported.elapsed() >= Duration::from_secs(1) {
                    reported = Instant::now();
                    log_load_progress(progress, started.elapsed());
                }
            };
            let loaded = source.load_newest(databases, &mut report);
            if let Ok(mut load) = shared.snapshot_load.lock() {
                *load = None;
            }
            loaded
        })
        .await;
        let snapshot = match loaded {
            Ok(Ok(Some(snapshot))) => snapshot,
            Ok(Ok(None)) => {
                info!("no snapshot in the store; replaying the journal from the start");
                return Some((Seq::FIRST, 0));
            }
            Ok(Err(reason)) => {
                error!(%reason, "the snapshot store is unreadable; replaying the journal from the start");
                return Some((Seq::FIRST, 0));
            }
            Err(e) => {
                error!(error = %e, "snapshot load failed; replaying the journal from the start");
                return Some((Seq::FIRST, 0));
            }
        };
        let keys = snapshot.keyspace.total_keys();
        info!(snapshot = %snapshot.id, seq = %snapshot.seq, keys, elapsed_ms = started.elapsed().as_millis() as u64,
            "snapshot loaded; replaying the log tail after it");
        let (done, installed) = oneshot::channel();
        let install = ExecMsg::Install {
            keyspace: Box::new(snapshot.keyspace),
            through: snapshot.seq.0,
            done,
        };
        if self.exec.send(install).await.is_err() || installed.await.is_err() {
            return None;
        }
        Some((snapshot.seq.next(), snapshot.log_checksum))
    }

    fn loading(&self) -> bool {
        self.shared.loading.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether this replica has applied every record the journal has
    /// committed (as the raft leader knows it).
    /// At the end, the journal's running log checksum comes with the
    /// answer, and the replica's must equal it: this is where a snapshot
    /// is checked against the log it claims to cover, before the node
    /// serves anything loaded from it.
    async fn caught_up(&self, follower: &mut Follower) -> bool {
        let probe = tokio::time::timeout(self.shared.config.lease, self.client.read(follower.next, 1)).await;
        let Ok(Ok(ReadBatch { entries, checksum, .. })) = probe else {
            return false;
        };
        if !entries.is_empty() {
            return false;
        }
        match checksum {
            Some(journal) => self.check_log_checksum(follower, journal),
            None => false,
        }
    }

    /// Compares the replica's running log checksum with the journal's;
    /// halts on a difference. True only if they are equal.
    fn check_log_checksum(&self, follower: &mut Follower, journal: LogChecksum) -> bool {
        if follower.halted {
            return false;
        }
        match checksum_verdict(follower.next.prev(), follower.log_checksum, journal) {
            ChecksumVerdict::Equal => return true,
            ChecksumVerdict::JournalBehind => {
                if follower
                    .behind_reported
                    .is_none_or(|at| at.elapsed() > Duration::from_secs(10))
                {
                    follower.behind_reported = Some(Instant::now());
                    info!(
                        applied = %follower.next.prev(),
                        journal_applied = %journal.through,
                        "the journal replica that answered is behind this node; waiting for it to catch up"
                    );
                }
                return false;
            }
            ChecksumVerdict::Differs => {}
        }
        let reason = format!(
            "running log checksum {:08x} through seq {} differs from the journal's {:08x}: the data set \
             (snapshot plus replay) is not the journal's log; this node refuses to serve it",
            follower.log_checksum, journal.through, journal.value
        );
        error!(%reason, "replica stops applying");
        self.shared.halt(reason);
        follower.halted = true;
        false
    }

    /// Applies a batch of committed records; false if nothing was applied.
    async fn deliver(&self, follower: &mut Follower, batch: ReadBatch) -> bool {
        if follower.halted || batch.entries.is_empty() {
            return false;
        }
        let mut records = Vec::new();
        let mut through = follower.next.prev();
        for (seq, payload) in batch.entries {
            if seq < follower.next {
                continue;
            }
            follower.log_checksum = log_checksum::chain(follower.log_checksum, seq, &payload);
            match Record::decode(&payload) {
                Ok(Record::Effects(ops)) => records.push(ops),
                Ok(Record::LeaseRenewal { leader, address, .. }) => {
                    if leader != self.shared.term() {
                        follower.foreign_renewal_seen = Some(Instant::now());
                    }
                    self.observe(follower, leader, address);
                }
                Ok(Record::Takeover { leader, address }) => self.observe(follower, leader, address),
                Ok(Record::Release { leader }) => {
                    if leader == follower.observed.leader {
                        info!(primary = %leader, "primary resigned");
                        follower.observed.released = true;
                    }
                }
                Err(e) => {
                    let reason = match e {
                        RecordError::NewerVersion { .. } => format!("seq {seq}: {e}; upgrade this node"),
                        _ => format!("seq {seq}: undecodable record: {e}"),
                    };
                    error!(%reason, "replica stops applying");
                    self.shared.halt(reason);
                    follower.halted = true;
                    break;
                }
            }
            through = seq;
            follower.next = seq.next();
        }
        // The batch reached the journal's applied end (that is when the
        // checksum comes with it): the replica has applied every record
        // through that point.
        if let Some(journal) = batch.checksum {
            self.check_log_checksum(follower, journal);
        }
        let applied = self
            .exec
            .send(ExecMsg::Apply {
                records,
                through: through.0,
            })
            .await;
        applied.is_ok()
    }

    /// A record from primary `leader` (serving at `address`) was applied.
    fn observe(&self, follower: &mut Follower, leader: LeaderId, address: String) {
        if leader != follower.observed.leader {
            info!(primary = %leader, %address, "primary changed");
        }
        follower.observed = Observed {
            leader,
            last_seen: Instant::now(),
            released: false,
        };
        let info = PrimaryInfo { leader, address };
        if self.shared.primary_info() != info {
            self.shared.set_primary_info(info);
        }
    }

    /// Tries to take the leader register; on success applies everything
    /// before the takeover and switches the execution thread to primary.
    async fn contest(&mut self, follower: &mut Follower) -> Option<Won> {
        // A fresh identity per term: appends still in flight from an
        // earlier term of this node must stay fenced, or a write its
        // clients were told failed could commit after the takeover.
        let me = LeaderId::random();
        let expected = follower.observed.leader;
        let contest_started = Instant::now();
        info!(node = %me, %expected, "the primary's lease ran out; contesting leadership");
        match self.client.set_leader(me, expected).await {
            // From here on, renewals under `me` are ours.
            Ok(()) => self.shared.set_term(me),
            Err(ClientError::Conflict { current }) => {
                info!(%current, "another node holds the leader register");
                follower.observed = Observed {
                    leader: current,
                    last_seen: Instant::now(),
                    released: false,
                };
                return None;
            }
            Err(e) => {
                warn!(error = %e, "set_leader failed");
                return None;
            }
        }
        let sent = Instant::now();
        let takeover = Record::Takeover {
            leader: me,
            address: self.shared.local_addr.to_string(),
        };
        let takeover_seq = match self.client.append(takeover.encode(), me).await {
            Ok(seq) => seq,
            Err(e) => {
                // We hold the register; the next attempt contests it from
                // this identity and retries the takeover.
                warn!(error = %e, "takeover record not committed");
                follower.observed.leader = me;
                follower.observed.last_seen = Instant::now();
                return None;
            }
        };
        // Every record before the takeover is final; apply them all.
        while follower.next <= takeover_seq {
            match follower.subscription.next().await {
                Ok(batch) => {
                    self.deliver(follower, batch).await;
                }
                Err(e) => {
                    warn!(error = %e, "reading up to the takeover failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            if follower.halted {
                return None;
            }
        }
        // A renewal the old primary got committed after our caught-up check
        // keeps its lease alive until (seen + lease + margin): wait it out,
        // unless it resigned after it.
        if let Some(seen) = follower.foreign_renewal_seen {
            let config = &self.shared.config;
            let lease_end = seen + config.lease + config.lease_margin;
            let now = Instant::now();
            if seen >= contest_started && !follower.observed.released && lease_end > now {
                info!(
                    wait_ms = (lease_end - now).as_millis() as u64,
                    "the old primary renewed before the takeover; waiting out that lease"
                );
                tokio::time::sleep_until(lease_end.into()).await;
            }
        }
        let (batches, tasks) = commit::start_term(
            self.shared.clone(),
            self.client.clone(),
            me,
            self.exec.commit.clone(),
            self.commands_tx.clone(),
        );
        let (done, ready) = oneshot::channel();
        let become_primary = ExecMsg::BecomePrimary {
            batches,
            applied: takeover_seq.0,
            done,
        };
        // The takeover committed: the lease runs from when it was sent (a
        // new primary has no earlier lease to have lapsed).
        let _ = self.shared.extend_lease(sent, Instant::now());
        if self.exec.send(become_primary).await.is_err() || ready.await.is_err() {
            return None;
        }
        self.shared
            .applied_seq
            .fetch_max(takeover_seq.0, std::sync::atomic::Ordering::AcqRel);
        self.shared.set_primary_info(PrimaryInfo {
            leader: me,
            address: self.shared.local_addr.to_string(),
        });
        self.shared.failovers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        info!(node = %me, seq = %takeover_seq, "now primary");
        Some(Won { sent, tasks })
    }

    /// Primary phase: renew the lease until fenced, failed or resigned.
    async fn lead(&mut self, commands: &mut mpsc::UnboundedReceiver<RoleCommand>, won: Won) -> Led {
        let lease = self.shared.config.lease;
        let mut renew_every = tokio::time::interval_at((won.sent + lease / 3).into(), lease / 3);
        renew_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut status = tokio::time::interval(STATUS_POLL);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Renewals are pipelined: one goes out every lease/3 even while an
        // earlier one waits behind a busy journal, so one slow commit does
        // not delay the next renewal and let the lease run out.
        let mut renewals = tokio::task::JoinSet::new();
        let end = loop {
            tokio::select! {
                _ = renew_every.tick() => {
                    if renewals.len() < MAX_RENEWALS_IN_FLIGHT {
                        renewals.spawn(renew(Arc::clone(&self.shared), Arc::clone(&self.client)));
                    }
                }
                Some(renewed) = renewals.join_next() => match renewed {
                    Ok(Ok(Some(sent))) => self.extend_lease(sent),
                    Ok(Err(reason)) => break Led::SteppedDown(reason),
                    Ok(Ok(None)) | Err(_) => {}
                },
                _ = status.tick() => self.poll_journal_status().await,
                command = commands.recv() => match command {
                    Some(RoleCommand::Shutdown { done }) => {
                        finish_renewals(&mut renewals).await;
                        self.resign().await;
                        break Led::Shutdown(done);
                    }
                    None => break Led::Shutdown(oneshot::channel().0),
                    Some(RoleCommand::Failover) => {
                        finish_renewals(&mut renewals).await;
                        self.resign().await;
                        break Led::SteppedDown("FAILOVER requested".into());
                    }
                    Some(RoleCommand::StepDown(reason)) => break Led::SteppedDown(reason),
                    Some(RoleCommand::JournalFailed(error)) => break Led::SteppedDown(format!("journal append failed: {error}")),
                },
            }
        };
        for task in won.tasks {
            task.abort();
        }
        // The role changes on the execution thread, together with what goes
        // with it: a resignation's StopWrites has done it already, and a
        // step-down's Reset does it while dropping the dataset. Set here, it
        // would let the old dataset serve reads as a replica's, with no
        // lease, until the Reset arrives.
        end
    }

    /// A renewal sent at `sent` committed: the lease runs to `sent + lease`.
    fn extend_lease(&self, sent: Instant) {
        let committed = Instant::now();
        if let Some(lapsed) = self.shared.extend_lease(sent, committed) {
            // Clients got TRYAGAIN meanwhile: worth an operator's attention
            // (the journal commits slower than the lease allows).
            warn!(
                lapsed_ms = lapsed.as_millis() as u64,
                renewal_ms = committed.duration_since(sent).as_millis() as u64,
                "the lease had run out before this renewal committed; commands were refused meanwhile"
            );
        }
    }

    async fn poll_journal_status(&self) {
        if let Ok(Ok(report)) = tokio::time::timeout(STATUS_POLL, self.client.status()).await {
            let matched = report.replicas.iter().map(|r| r.matched).collect();
            *self.shared.journal_matched.lock().unwrap_or_else(|e| e.into_inner()) = matched;
        }
    }

    /// Stops writes, waits for those in flight, and appends `Release` so a
    /// caught-up replica may take over without waiting for the lease.
    async fn resign(&self) {
        let (done, stopped) = oneshot::channel();
        if self.exec.send(ExecMsg::StopWrites { done }).await.is_err() {
            return;
        }
        let Ok(last_sealed) = stopped.await else { return };
        let mut commit = self.exec.commit_state();
        let settled = tokio::time::timeout(self.shared.config.lease, async {
            loop {
                if commit.borrow_and_update().check(last_sealed) != BarrierState::Pending {
                    return;
                }
                if commit.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if settled.is_err() {
            warn!("writes still in flight at resignation");
        }
        let me = self.shared.term();
        let release = Record::Release { leader: me }.encode();
        match tokio::time::timeout(self.shared.config.lease, self.client.append(release, me)).await {
            Ok(Ok(seq)) => info!(%seq, "resigned as primary"),
            Ok(Err(e)) => warn!(error = %e, "release record not committed; replicas wait for the lease"),
            Err(_) => warn!("release record timed out; replicas wait for the lease"),
        }
    }
}

/// A node that cannot go on waits, refusing clients, until it is stopped.
async fn wait_for_shutdown(commands: &mut mpsc::UnboundedReceiver<RoleCommand>) -> Followed {
    loop {
        match commands.recv().await {
            Some(RoleCommand::Shutdown { done }) => return Followed::Shutdown(done),
            None => return Followed::Shutdown(oneshot::channel().0),
            Some(_) => {}
        }
    }
}

/// One progress line of a snapshot load: keys, bytes, rate and time left.
fn log_load_progress(progress: LoadProgress, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64().max(0.001);
    let rate_mib_s = progress.bytes_loaded as f64 / seconds / (1024.0 * 1024.0);
    let left_bytes = progress.bytes_total.saturating_sub(progress.bytes_loaded) as f64;
    let eta_s = if progress.bytes_loaded > 0 {
        left_bytes * seconds / progress.bytes_loaded as f64
    } else {
        f64::NAN
    };
    info!(
        keys = progress.keys_loaded,
        bytes = progress.bytes_loaded,
        total_bytes = progress.bytes_total,
        rate_mib_s = format!("{rate_mib_s:.1}"),
        eta_s = format!("{eta_s:.1}"),
        "loading snapshot"
    );
}

/// Waits for the renewals in flight (each gives up after a lease), so
/// that a resignation's `Release` comes after them in the journal: a
/// renewal after it would make replicas wait out a lease before taking
/// over.
async fn finish_renewals(renewals: &mut tokio::task::JoinSet<Result<Option<Instant>, String>>) {
    while renewals.join_next().await.is_some() {}
}

/// One lease renewal: when it was sent if it committed, `None` if it did
/// not (a later one may), Err if fenced (another node is primary). The
/// lease itself is extended by the primary's loop, so nothing extends it
/// once that loop has stepped down.
async fn renew(shared: Arc<NodeShared>, client: Arc<JournalClient>) -> Result<Option<Instant>, String> {
    let me = shared.term();
    let record = Record::LeaseRenewal {
        leader: me,
        lease_ms: shared.config.lease.as_millis() as u64,
        address: shared.local_addr.to_string(),
    };
    let sent = Instant::now();
    match tokio::time::timeout(shared.config.lease, client.append(record.encode(), me)).await {
        Ok(Ok(_)) => Ok(Some(sent)),
        Ok(Err(ClientError::Fenced { current })) => Err(format!("fenced: {current} holds the leader register")),
        Ok(Err(e)) => {
            warn!(error = %e, "lease renewal failed; the lease runs out unless a later one commits");
            Ok(None)
        }
        Err(_) => {
            warn!("lease renewal timed out; the lease runs out unless a later one commits");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_is_compared_only_from_a_replica_at_or_past_this_node() {
        let at = |through: u64, value: u32| LogChecksum {
            through: Seq(through),
            value,
        };
        let position = Seq(8903);
        assert_eq!(checksum_verdict(position, 7, at(8903, 7)), ChecksumVerdict::Equal);
        assert_eq!(checksum_verdict(position, 7, at(8903, 8)), ChecksumVerdict::Differs);
        // Positions after ours that hold no records leave the chain as it
        // was, so a checksum through a later seq is comparable.
        assert_eq!(checksum_verdict(position, 7, at(9000, 7)), ChecksumVerdict::Equal);
        assert_eq!(checksum_verdict(position, 7, at(9000, 8)), ChecksumVerdict::Differs);
        // A restarting replica (applied 0) or one cut off behind us.
        assert_eq!(checksum_verdict(position, 7, at(0, 0)), ChecksumVerdict::JournalBehind);
        assert_eq!(
            checksum_verdict(position, 7, at(8902, 9)),
            ChecksumVerdict::JournalBehind
        );
    }
}
