//! `maxmemory` on the primary: evicting keys before a command runs, and
//! refusing writes with Redis's OOM error when the policy leaves nothing
//! to evict (see `keyspace/eviction.rs` for the choice of key and
//! `node/memory.rs` for the measure).
//!
//! As in Redis, every client command on the primary first evicts while
//! used memory is over the limit, for a bounded time; the tick carries on
//! where a command stopped. Only commands flagged `denyoom` (and an EXEC
//! that queued one) are refused. Evictions are journaled as `DEL key` in
//! the open batch, like expirations: replicas never evict on their own
//! (Redis's `replica-ignore-maxmemory yes`), and a reply that read an
//! evicted key waits for its `DEL` to commit, as for any write.

use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::Exec;
use crate::commands::{flags, CommandSpec};
use crate::keyspace::eviction::EvictionPolicy;
use crate::node::shared::Role;
use crate::resp::Reply;

/// How long one command may spend evicting before it runs: Redis's budget
/// at the default `maxmemory-eviction-tenacity` of 10.
pub(super) const COMMAND_EVICTION_BUDGET: Duration = Duration::from_micros(500);
/// How long the tick may spend evicting when commands left the node over
/// its limit (Redis keeps evicting from its event loop instead).
pub(super) const TICK_EVICTION_BUDGET: Duration = Duration::from_millis(10);
/// Evictions between two looks at the clock.
const EVICTIONS_PER_CLOCK_READ: usize = 16;

pub(super) const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Where eviction left the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Room {
    /// Under the limit, or no limit applies here.
    Enough,
    /// Still over the limit when the time budget ran out: commands run,
    /// and eviction goes on.
    Freeing,
    /// Over the limit with nothing the policy may evict: `denyoom`
    /// commands are refused.
    Exhausted,
}

impl Exec {
    /// Evicts keys for up to `budget` while used memory (less what waits
    /// for the journal) is over `maxmemory`. Only a serving primary
    /// evicts: its deletions must reach the journal.
    pub(super) fn evict_for_room(&mut self, budget: Duration) -> Room {
        if self.memory.maxmemory == 0
            || self.shared.role() != Role::Primary
            || self.term.is_none()
            || self.paused()
            || !self.shared.lease_valid(self.now)
        {
            return Room::Enough;
        }
        match self.memory.used(self.now, false) {
            Some(used) if self.over_limit(used) => {}
            _ => return Room::Enough,
        }
        let started = Instant::now();
        let mut effects = std::mem::take(&mut self.scratch_effects);
        let mut evicted = 0usize;
        let policy = self.memory.policy;
        let samples = self.memory.samples;
        let room = loop {
            let Some(gone) = self.ks.evict(policy, samples, &mut effects) else {
                break Room::Exhausted;
            };
            evicted += 1;
            self.memory.note_freed(gone.freed_bytes);
            self.journal_own_effects(&mut effects);
            let estimate = self.memory.used(self.now, false).unwrap_or(0);
            // The estimate says enough: ask the allocator before stopping
            // (freed memory it has not got back yet, for instance).
            if !self.over_limit(estimate)
                && !self
                    .memory
                    .used(Instant::now(), true)
                    .is_some_and(|used| self.over_limit(used))
            {
                break Room::Enough;
            }
            if evicted % EVICTIONS_PER_CLOCK_READ == 0 && started.elapsed() >= budget {
                break Room::Freeing;
            }
        };
        self.scratch_effects = effects;
        if evicted > 0 {
            debug!(
                evicted,
                policy = policy.name(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "evicted keys to stay under maxmemory"
            );
        }
        room
    }

    /// Under `maxmemory`, every command first evicts what it can; a
    /// command that may allocate is refused when nothing more can go.
    /// Refused inside MULTI, it fails the transaction; an EXEC of writes
    /// is refused as Redis aborts it.
    pub(super) fn out_of_memory_refusal(&mut self, conn: u64, spec: &CommandSpec) -> Option<Reply> {
        if self.memory.maxmemory == 0 {
            return None;
        }
        let tx_denyoom = || {
            self.sessions
                .get(&conn)
                .and_then(|s| s.multi.as_ref())
                .is_some_and(|tx| tx.denyoom)
        };
        let denyoom = spec.flags & flags::DENYOOM != 0 || (spec.name == "exec" && tx_denyoom());
        if self.evict_for_room(COMMAND_EVICTION_BUDGET) != Room::Exhausted || !denyoom {
            return None;
        }
        if spec.name == "exec" {
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.multi = None;
            }
            self.unwatch_all(conn);
            return Some(Reply::Error(format!(
                "EXECABORT Transaction discarded because of: {OOM_ERROR}"
            )));
        }
        self.flag_transaction_error(conn);
        Some(Reply::Error(OOM_ERROR.into()))
    }

    fn over_limit(&self, used: u64) -> bool {
        used.saturating_sub(self.journal_bytes() as u64) > self.memory.maxmemory
    }

    /// Bytes of effects waiting for the journal: the open batch and the
    /// sealed batches not yet resolved. Not counted against `maxmemory`.
    pub(super) fn journal_bytes(&self) -> usize {
        self.open_bytes + self.unresolved_bytes
    }

    /// CONFIG SET of `maxmemory`, already checked (`config_set` refuses a
    /// limit on a node without a gauge: it could not be measured).
    pub(super) fn set_maxmemory(&mut self, bytes: u64) {
        self.memory.maxmemory = bytes;
        if let Some(used) = self.memory.used(Instant::now(), true) {
            if bytes > 0 && self.over_limit(used) {
                warn!(
                    maxmemory = bytes,
                    used,
                    policy = self.memory.policy.name(),
                    "the new maxmemory is below current usage: keys are evicted (or writes refused) until it fits"
                );
            }
        }
    }

    pub(super) fn set_maxmemory_policy(&mut self, policy: EvictionPolicy) {
        self.memory.policy = policy;
        self.sync_access_tracking();
    }

    /// Tells the keyspace how to stamp accesses: by the policy (LRU or
    /// LFU) and `lfu-log-factor` / `lfu-decay-time`.
    pub(super) fn sync_access_tracking(&mut self) {
        let factor = u32::try_from(self.admin.config_i64("lfu-log-factor", 10)).unwrap_or(10);
        let decay = u32::try_from(self.admin.config_i64("lfu-decay-time", 1)).unwrap_or(1);
        self.ks
            .set_access_tracking(self.memory.policy.access_mode(), factor, decay);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;

    use super::super::tests::{primary_exec_with, run, set, test_config, tick};
    use super::*;
    use crate::node::memory::MemoryGauge;
    use crate::node::NodeConfig;

    const LIMIT: u64 = 1 << 20;

    /// An allocator that always reports more than the limit: eviction
    /// goes on until the policy has nothing left.
    fn far_over() -> Option<u64> {
        Some(1 << 40)
    }

    fn bounded(policy: EvictionPolicy, gauge: fn() -> Option<u64>) -> NodeConfig {
        let mut config = test_config();
        config.maxmemory = LIMIT;
        config.maxmemory_policy = policy;
        config.memory_gauge = Some(MemoryGauge::new(gauge));
        config
    }

    fn cmd(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::from(p.to_string())).collect()
    }

    fn oom() -> Reply {
        Reply::Error(OOM_ERROR.into())
    }

    #[test]
    fn over_maxmemory_with_noeviction_writes_that_allocate_are_refused_and_the_rest_run() {
        let (mut exec, mut batches, mut replies) = primary_exec_with(bounded(EvictionPolicy::NoEviction, far_over));
        let items = run(
            &mut exec,
            &mut replies,
            vec![
                set("k", Bytes::from_static(b"v")),
                cmd(&["GET", "k"]),
                cmd(&["DEL", "k"]),
                cmd(&["INCR", "n"]),
                cmd(&["MULTI"]),
                cmd(&["SET", "x", "y"]),
                cmd(&["GET", "x"]),
                cmd(&["EXEC"]),
                cmd(&["MULTI"]),
                cmd(&["GET", "x"]),
                cmd(&["EXEC"]),
            ],
        );
        let replies: Vec<Reply> = items.into_iter().map(|item| item.reply).collect();
        assert_eq!(replies[0], oom());
        assert_eq!(replies[1], Reply::Null);
        assert_eq!(replies[2], Reply::Integer(0));
        assert_eq!(replies[3], oom());
        assert_eq!(replies[5], oom(), "refused as it is queued");
        assert_eq!(replies[6], Reply::SimpleString("QUEUED".into()));
        assert_eq!(
            replies[7],
            Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
        );
        assert_eq!(replies[10], Reply::Array(vec![Reply::Null]), "reads still run");
        exec.seal();
        assert!(batches.try_recv().is_err(), "nothing was written");
        assert_eq!(exec.ks.access_stats().evicted_keys, 0);
    }

    static SWITCHED: AtomicU64 = AtomicU64::new(0);

    fn switched() -> Option<u64> {
        Some(SWITCHED.load(Ordering::Relaxed))
    }

    #[test]
    fn an_exec_of_writes_queued_under_the_limit_is_aborted_once_over_it() {
        SWITCHED.store(LIMIT / 2, Ordering::Relaxed);
        let (mut exec, mut batches, mut replies) = primary_exec_with(bounded(EvictionPolicy::NoEviction, switched));
        let queued = run(&mut exec, &mut replies, vec![cmd(&["MULTI"]), cmd(&["SET", "x", "y"])]);
        assert_eq!(queued[1].reply, Reply::SimpleString("QUEUED".into()));
        SWITCHED.store(LIMIT * 2, Ordering::Relaxed);
        std::thread::sleep(crate::node::memory::READING_MAX_AGE * 2);
        exec.begin_step();
        let items = run(&mut exec, &mut replies, vec![cmd(&["EXEC"]), cmd(&["GET", "x"])]);
        assert_eq!(
            items[0].reply,
            Reply::Error(format!("EXECABORT Transaction discarded because of: {OOM_ERROR}"))
        );
        assert_eq!(items[1].reply, Reply::Null, "the transaction is gone, not left open");
        exec.seal();
        assert!(batches.try_recv().is_err());
    }

    /// Ticks until the tick evicts nothing more; every DEL journaled.
    fn evict_on_ticks(
        exec: &mut Exec,
        batches: &mut tokio::sync::mpsc::Receiver<super::super::SealedBatch>,
    ) -> Vec<Bytes> {
        let mut deleted = Vec::new();
        for _ in 0..1000 {
            let before = exec.ks.access_stats().evicted_keys;
            for batch in tick(exec, batches) {
                for op in batch.ops {
                    assert_eq!(op.argv[0], "DEL", "eviction journals deletions only");
                    deleted.push(op.argv[1].clone());
                }
            }
            if exec.ks.access_stats().evicted_keys == before {
                break;
            }
        }
        deleted
    }

    fn write_keys(exec: &mut Exec, replies: &mut tokio::sync::mpsc::UnboundedReceiver<super::super::Outgoing>) {
        let mut commands = Vec::new();
        for i in 0..300 {
            if i % 2 == 0 {
                commands.push(cmd(&["SET", &format!("volatile:{i}"), "v", "EX", "1000"]));
            } else {
                commands.push(cmd(&["SET", &format!("persistent:{i}"), "v"]));
            }
        }
        commands.push(cmd(&["SELECT", "3"]));
        commands.push(cmd(&["SET", "volatile:db3", "v", "EX", "1000"]));
        commands.push(cmd(&["SET", "persistent:db3", "v"]));
        commands.push(cmd(&["SELECT", "0"]));
        for item in run(exec, replies, commands) {
            assert!(!matches!(item.reply, Reply::Error(_)), "{:?}", item.reply);
        }
    }

    /// A primary holding `write_keys`'s keys, then limited to 1 MiB under
    /// `policy` by CONFIG SET, with an allocator far over it.
    fn filled_then_limited(
        policy: EvictionPolicy,
    ) -> (
        Exec,
        tokio::sync::mpsc::Receiver<super::super::SealedBatch>,
        tokio::sync::mpsc::UnboundedReceiver<super::super::Outgoing>,
    ) {
        let mut config = bounded(policy, far_over);
        // Written before the limit applies.
        config.maxmemory = 0;
        let (mut exec, mut batches, mut replies) = primary_exec_with(config);
        write_keys(&mut exec, &mut replies);
        exec.seal();
        while batches.try_recv().is_ok() {}
        let set_limit = run(
            &mut exec,
            &mut replies,
            vec![cmd(&["CONFIG", "SET", "maxmemory", "1mb"])],
        );
        assert_eq!(set_limit[0].reply, Reply::SimpleString("OK".into()));
        (exec, batches, replies)
    }

    #[test]
    fn allkeys_policies_evict_every_database_down_to_nothing_then_refuse_writes() {
        for policy in [
            EvictionPolicy::AllKeysLru,
            EvictionPolicy::AllKeysLfu,
            EvictionPolicy::AllKeysRandom,
        ] {
            let (mut exec, mut batches, mut replies) = filled_then_limited(policy);
            let mut deleted = evict_on_ticks(&mut exec, &mut batches);
            assert_eq!(deleted.len(), 302, "{policy:?}");
            deleted.sort();
            deleted.dedup();
            assert_eq!(deleted.len(), 302, "one DEL per key ({policy:?})");
            assert_eq!(exec.ks.total_keys(), 0);
            assert_eq!(exec.ks.access_stats().evicted_keys, 302);
            let items = run(&mut exec, &mut replies, vec![set("k", Bytes::from_static(b"v"))]);
            assert_eq!(items[0].reply, oom(), "{policy:?}");
        }
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_ttl() {
        for policy in [
            EvictionPolicy::VolatileLru,
            EvictionPolicy::VolatileLfu,
            EvictionPolicy::VolatileRandom,
            EvictionPolicy::VolatileTtl,
        ] {
            let (mut exec, mut batches, mut replies) = filled_then_limited(policy);
            let deleted = evict_on_ticks(&mut exec, &mut batches);
            assert_eq!(deleted.len(), 151, "{policy:?}");
            assert!(deleted.iter().all(|key| key.starts_with(b"volatile:")), "{policy:?}");
            assert_eq!(exec.ks.total_keys(), 151, "every persistent key stays ({policy:?})");
            let items = run(
                &mut exec,
                &mut replies,
                vec![set("k", Bytes::from_static(b"v")), cmd(&["GET", "persistent:1"])],
            );
            assert_eq!(items[0].reply, oom(), "{policy:?}");
            assert_eq!(items[1].reply, Reply::Bulk(Bytes::from_static(b"v")));
        }
    }

    #[test]
    fn evictions_hold_back_reads_that_miss_until_their_deletions_commit_without_marking_each_key() {
        let (mut exec, mut batches, mut replies) = filled_then_limited(EvictionPolicy::VolatileRandom);
        exec.dirty.release_through(exec.last_sealed);
        let deleted = evict_on_ticks(&mut exec, &mut batches);
        assert_eq!(deleted.len(), 151);
        let evictions = exec.last_sealed;
        assert!(
            exec.dirty.by_db.iter().all(|map| map.is_empty()) && exec.dirty.by_batch.is_empty(),
            "no per-key marks for the node's own deletions"
        );
        let evicted = String::from_utf8_lossy(&deleted[0]).into_owned();
        let reads = vec![cmd(&["GET", &evicted]), cmd(&["GET", "persistent:1"])];
        let items = run(&mut exec, &mut replies, reads.clone());
        assert_eq!(items[0].reply, Reply::Null);
        assert_eq!(items[0].barrier, evictions, "a miss waits for the deletions");
        assert_eq!(items[1].barrier, 0, "a hit saw no deletion");
        exec.dirty.release_through(evictions);
        let items = run(&mut exec, &mut replies, reads);
        assert_eq!(items[0].barrier, 0, "committed: nothing to wait for");
    }

    fn failing_purge() -> Result<(), String> {
        Err("no such arena".into())
    }

    fn report() -> String {
        "allocator report\n".into()
    }

    #[test]
    fn memory_purge_and_malloc_stats_go_to_the_gauge_when_it_offers_them() {
        let (mut plain, _batches, mut replies) = primary_exec_with(test_config());
        let commands = vec![cmd(&["MEMORY", "PURGE"]), cmd(&["MEMORY", "MALLOC-STATS"])];
        let items = run(&mut plain, &mut replies, commands.clone());
        assert_eq!(
            items[0].reply,
            Reply::SimpleString("OK".into()),
            "nothing to purge: OK, as Redis"
        );
        assert!(matches!(&items[1].reply, Reply::Verbatim { text, .. } if text.starts_with(b"Stats not supported")));

        let mut config = test_config();
        config.memory_gauge = Some(MemoryGauge::new(under).with_purge(failing_purge).with_stats(report));
        let (mut exec, _batches, mut replies) = primary_exec_with(config);
        let items = run(&mut exec, &mut replies, commands);
        assert_eq!(items[0].reply, Reply::Error("ERR Error purging dirty pages".into()));
        assert!(matches!(&items[1].reply, Reply::Verbatim { text, .. } if text == "allocator report\n"));
    }

    fn under() -> Option<u64> {
        Some(LIMIT / 4)
    }

    #[test]
    fn under_the_limit_nothing_is_evicted() {
        let (mut exec, mut batches, mut replies) = primary_exec_with(bounded(EvictionPolicy::AllKeysLru, under));
        write_keys(&mut exec, &mut replies);
        exec.seal();
        while batches.try_recv().is_ok() {}
        assert!(evict_on_ticks(&mut exec, &mut batches).is_empty());
        assert_eq!(exec.ks.access_stats().evicted_keys, 0);
        assert_eq!(exec.ks.total_keys(), 302);
    }

    #[test]
    fn maxmemory_settings_are_checked_and_take_effect() {
        // No gauge: a limit could not be measured, so it is refused.
        let (mut exec, _batches, mut replies) = primary_exec_with(test_config());
        let items = run(
            &mut exec,
            &mut replies,
            vec![
                cmd(&["CONFIG", "SET", "maxmemory", "100mb"]),
                cmd(&["CONFIG", "SET", "maxmemory", "0"]),
                cmd(&["CONFIG", "SET", "maxmemory-samples", "0"]),
                cmd(&["CONFIG", "SET", "maxmemory-samples", "10"]),
                cmd(&["CONFIG", "SET", "maxmemory-policy", "bogus"]),
                cmd(&["SET", "k", "v"]),
                cmd(&["OBJECT", "IDLETIME", "k"]),
                cmd(&["OBJECT", "FREQ", "k"]),
                cmd(&["CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LFU"]),
                cmd(&["CONFIG", "GET", "maxmemory-policy"]),
                cmd(&["OBJECT", "FREQ", "k"]),
                cmd(&["OBJECT", "IDLETIME", "k"]),
            ],
        );
        let replies: Vec<Reply> = items.into_iter().map(|item| item.reply).collect();
        assert!(
            matches!(&replies[0], Reply::Error(text) if text.contains("this node has no memory gauge")),
            "{:?}",
            replies[0]
        );
        assert_eq!(replies[1], Reply::SimpleString("OK".into()));
        assert!(matches!(&replies[2], Reply::Error(text) if text.contains("between 1 and 64")));
        assert_eq!(replies[3], Reply::SimpleString("OK".into()));
        assert_eq!(exec.memory.samples, 10);
        assert!(matches!(&replies[4], Reply::Error(text) if text.contains("must be one of the following")));
        assert_eq!(replies[6], Reply::Integer(0), "just written");
        assert!(matches!(&replies[7], Reply::Error(text) if text.contains("LFU maxmemory policy is not selected")));
        assert_eq!(
            replies[9],
            Reply::Map(vec![(
                Reply::Bulk(Bytes::from_static(b"maxmemory-policy")),
                Reply::Bulk(Bytes::from_static(b"allkeys-lfu")),
            )])
        );
        // The LRU stamp read as LFU: "some time to adjust", as Redis says.
        assert!(matches!(replies[10], Reply::Integer(_)));
        assert!(matches!(&replies[11], Reply::Error(text) if text.contains("LFU maxmemory policy is selected")));
        assert_eq!(exec.memory.policy, EvictionPolicy::AllKeysLfu);
    }
}
