//! `maxmemory` eviction: which key goes first, by Redis's policies.
//!
//! Every entry carries a 32-bit access stamp ([`AccessTracking`]), which is
//! read one of two ways, as Redis reads its 24-bit `lru` field:
//! - LRU: the second of the last access (unix seconds, wrapping);
//! - LFU: the minute of the last decrement (16 bits) above a logarithmic
//!   access counter (8 bits), Redis's Morris counter with its decay.
//!
//! Switching between LRU and LFU policies reinterprets the stamps; as in
//! Redis, the data "will take some time to adjust".
//!
//! The victim is chosen as Redis 3.0+ chooses it: each eviction samples
//! `maxmemory-samples` keys from every database into a pool of the 16 best
//! candidates seen so far, and evicts the best one still present. A
//! deleted key is journaled as `DEL key`, like an expired one, so replicas
//! and snapshots follow the primary's choice instead of making their own.

use bytes::Bytes;

use super::db::Db;
use super::random::FastRng;

/// Candidates kept between evictions (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// The counter of a new key under LFU, so that it is not evicted before it
/// had a chance to be read again (Redis's `LFU_INIT_VAL`).
const LFU_INIT_COUNTER: u32 = 5;
const LFU_COUNTER_MAX: u32 = 255;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Refuse writes that would allocate once over the limit.
    #[default]
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    /// The key with the nearest expiry among keys with a TTL.
    VolatileTtl,
}

impl EvictionPolicy {
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysRandom,
        EvictionPolicy::NoEviction,
    ];

    /// The name CONFIG and INFO use.
    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// Parses a policy name, in any case.
    pub fn parse(name: &str) -> Option<EvictionPolicy> {
        Self::ALL
            .into_iter()
            .find(|policy| policy.name().eq_ignore_ascii_case(name))
    }

    /// Whether only keys with a TTL may be evicted.
    fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    /// How access stamps are kept under this policy.
    pub fn access_mode(self) -> AccessMode {
        match self {
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => AccessMode::Lfu,
            _ => AccessMode::Lru,
        }
    }
}

/// How entries' access stamps are read and written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessMode {
    #[default]
    Lru,
    Lfu,
}

/// The clock and parameters that access stamps are written with; one per
/// keyspace, copied into each command's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessTracking {
    pub mode: AccessMode,
    /// `lfu-log-factor`: how many accesses it takes to raise the counter.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes per counter decrement (0: never decays).
    pub lfu_decay_minutes: u32,
    /// Unix seconds of the current step (wrapping in 2106, as the stamp
    /// comparison allows).
    now_s: u32,
}

impl Default for AccessTracking {
    fn default() -> Self {
        AccessTracking {
            mode: AccessMode::Lru,
            lfu_log_factor: 10,
            lfu_decay_minutes: 1,
            now_s: 0,
        }
    }
}

impl AccessTracking {
    pub fn set_now_ms(&mut self, now_ms: i64) {
        // Truncation wraps, and idle times are differences modulo 2^32.
        self.now_s = (now_ms.max(0) / 1000) as u32;
    }

    fn now_minutes(&self) -> u32 {
        (self.now_s / 60) & 0xFFFF
    }

    /// The stamp of an entry created now.
    pub fn new_stamp(&self) -> u32 {
        match self.mode {
            AccessMode::Lru => self.now_s,
            AccessMode::Lfu => (self.now_minutes() << 8) | LFU_INIT_COUNTER,
        }
    }

    /// The stamp after one more access.
    pub fn touched(&self, stamp: u32, rng: &mut FastRng) -> u32 {
        match self.mode {
            AccessMode::Lru => self.now_s,
            AccessMode::Lfu => {
                let counter = self.log_increment(self.decayed_counter(stamp), rng);
                (self.now_minutes() << 8) | counter
            }
        }
    }

    /// Seconds since the last access, by an LRU stamp.
    pub fn idle_seconds(&self, stamp: u32) -> u32 {
        self.now_s.wrapping_sub(stamp)
    }

    /// The LFU counter after the decay due since its stamp.
    pub fn decayed_counter(&self, stamp: u32) -> u32 {
        let counter = stamp & 0xFF;
        if self.lfu_decay_minutes == 0 {
            return counter;
        }
        let last_minutes = stamp >> 8;
        let elapsed = self.now_minutes().wrapping_sub(last_minutes) & 0xFFFF;
        counter.saturating_sub(elapsed / self.lfu_decay_minutes)
    }

    /// Redis's `LFULogIncr`: the counter grows with probability
    /// 1 / ((counter - init) * log_factor + 1), so it reaches 255 only
    /// after about a million accesses at the default factor.
    fn log_increment(&self, counter: u32, rng: &mut FastRng) -> u32 {
        if counter >= LFU_COUNTER_MAX {
            return LFU_COUNTER_MAX;
        }
        let base = f64::from(counter.saturating_sub(LFU_INIT_COUNTER));
        let chance = 1.0 / (base * f64::from(self.lfu_log_factor) + 1.0);
        // 53 random bits as a uniform value in [0, 1).
        let draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if draw < chance {
            counter + 1
        } else {
            counter
        }
    }
}

/// One evicted key, for the caller's accounting and its effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evicted {
    pub db: usize,
    pub key: Bytes,
    /// What the entry held, by the keyspace's own measure: what the
    /// allocator should get back.
    pub freed_bytes: usize,
}

struct Candidate {
    /// Higher goes first: idle seconds, 255 minus the LFU counter, or the
    /// distance to the far future of the expiry time.
    score: u64,
    db: usize,
    key: Bytes,
}

/// Redis's eviction pool: the best candidates sampled so far, ascending by
/// score, so the best is last.
#[derive(Default)]
pub struct EvictionPool {
    candidates: Vec<Candidate>,
    /// Where the random policies start, so that one database is not
    /// emptied before the others are touched.
    next_random_db: usize,
}

impl EvictionPool {
    /// Forgets every candidate (the dataset was replaced).
    pub fn clear(&mut self) {
        self.candidates.clear();
    }

    fn offer(&mut self, candidate: Candidate) {
        if self
            .candidates
            .iter()
            .any(|c| c.db == candidate.db && c.key == candidate.key)
        {
            return;
        }
        let at = self.candidates.partition_point(|c| c.score < candidate.score);
        if self.candidates.len() < POOL_SIZE {
            self.candidates.insert(at, candidate);
        } else if at > 0 {
            // Full: the candidate displaces the worst one.
            self.candidates.remove(0);
            self.candidates.insert(at - 1, candidate);
        }
    }

    /// Evicts one key by `policy` from `dbs`: samples `samples` keys of
    /// each database into the pool, then deletes the best candidate still
    /// present. `None` when there is nothing the policy may evict (or the
    /// policy is `noeviction`).
    pub fn evict_one(
        &mut self,
        dbs: &mut [Db],
        policy: EvictionPolicy,
        tracking: &AccessTracking,
        samples: usize,
        rng: &mut FastRng,
    ) -> Option<Evicted> {
        match policy {
            EvictionPolicy::NoEviction => None,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => {
                self.evict_random(dbs, policy.volatile_only(), rng)
            }
            _ => {
                // Two rounds at most: keys in the pool may have been
                // deleted or rewritten since they were sampled, and a pool
                // of such ghosts turns fresh samples away. Once the first
                // round has emptied it, the second one's samples all exist
                // (Redis loops the same way).
                for _round in 0..2 {
                    self.sample(dbs, policy, tracking, samples, rng);
                    if self.candidates.is_empty() {
                        return None;
                    }
                    if let Some(evicted) = self.pop_existing(dbs, policy.volatile_only()) {
                        return Some(evicted);
                    }
                }
                None
            }
        }
    }

    fn evict_random(&mut self, dbs: &mut [Db], volatile_only: bool, rng: &mut FastRng) -> Option<Evicted> {
        let databases = dbs.len();
        for step in 0..databases {
            let index = (self.next_random_db + step) % databases;
            let db = dbs.get_mut(index)?;
            let pos = if volatile_only {
                db.random_volatile(rng).map(|(pos, _)| pos)
            } else {
                db.random_pos(rng)
            };
            if let Some(pos) = pos {
                self.next_random_db = (index + 1) % databases;
                return remove(db, index, pos);
            }
        }
        None
    }

    /// Offers `samples` random keys of each database to the pool.
    fn sample(
        &mut self,
        dbs: &[Db],
        policy: EvictionPolicy,
        tracking: &AccessTracking,
        samples: usize,
        rng: &mut FastRng,
    ) {
        let volatile_only = policy.volatile_only();
        for (index, db) in dbs.iter().enumerate() {
            for _ in 0..samples {
                let sampled = if volatile_only {
                    db.random_volatile(rng).map(|(pos, expire_at)| (pos, Some(expire_at)))
                } else {
                    db.random_pos(rng).map(|pos| (pos, None))
                };
                let Some((pos, expire_at)) = sampled else {
                    break;
                };
                let score = match policy {
                    EvictionPolicy::VolatileTtl => {
                        // The nearest expiry scores highest.
                        u64::MAX - expire_at.map_or(u64::MAX, |at| u64::try_from(at.max(0)).unwrap_or(u64::MAX))
                    }
                    _ => {
                        let stamp = db.access_stamp(pos).unwrap_or_default();
                        match tracking.mode {
                            AccessMode::Lru => u64::from(tracking.idle_seconds(stamp)),
                            AccessMode::Lfu => u64::from(LFU_COUNTER_MAX - tracking.decayed_counter(stamp)),
                        }
                    }
                };
                let Some(key) = db.key_bytes_at(pos) else {
                    continue;
                };
                self.offer(Candidate { score, db: index, key });
            }
        }
    }

    /// Deletes the best candidate that is still there (and still has a
    /// TTL under a volatile policy), dropping the ghosts before it.
    fn pop_existing(&mut self, dbs: &mut [Db], volatile_only: bool) -> Option<Evicted> {
        while let Some(candidate) = self.candidates.pop() {
            let Some(db) = dbs.get_mut(candidate.db) else {
                continue;
            };
            let Some(pos) = db.find(&candidate.key) else {
                continue;
            };
            if volatile_only && db.expire_at(pos).is_none() {
                continue;
            }
            return remove(db, candidate.db, pos);
        }
        None
    }
}

fn remove(db: &mut Db, index: usize, pos: usize) -> Option<Evicted> {
    let had_ttl = db.expire_at(pos).is_some();
    let (key, value) = db.remove_at(pos)?;
    let freed_bytes = Db::entry_bytes(&key, &value, had_ttl);
    Some(Evicted {
        db: index,
        key: Bytes::copy_from_slice(key.as_bytes()),
        freed_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::value::Value;

    fn tracking_at(mode: AccessMode, now_ms: i64) -> AccessTracking {
        let mut tracking = AccessTracking {
            mode,
            ..AccessTracking::default()
        };
        tracking.set_now_ms(now_ms);
        tracking
    }

    #[test]
    fn policies_round_trip_through_their_names() {
        for policy in EvictionPolicy::ALL {
            assert_eq!(EvictionPolicy::parse(policy.name()), Some(policy));
            assert_eq!(EvictionPolicy::parse(&policy.name().to_ascii_uppercase()), Some(policy));
        }
        assert_eq!(EvictionPolicy::parse("lru"), None);
    }

    #[test]
    fn lru_idle_time_counts_from_the_last_access_and_survives_wrapping() {
        let mut tracking = tracking_at(AccessMode::Lru, 10_000);
        let mut rng = FastRng::new(1);
        let stamp = tracking.new_stamp();
        tracking.set_now_ms(75_000);
        assert_eq!(tracking.idle_seconds(stamp), 65);
        let stamp = tracking.touched(stamp, &mut rng);
        assert_eq!(tracking.idle_seconds(stamp), 0);
        // A stamp from just before the u32 seconds wrap.
        let old = u32::MAX - 4;
        tracking.now_s = 5;
        assert_eq!(tracking.idle_seconds(old), 10);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays_by_the_minute() {
        let mut tracking = tracking_at(AccessMode::Lfu, 0);
        let mut rng = FastRng::new(2);
        let mut stamp = tracking.new_stamp();
        assert_eq!(tracking.decayed_counter(stamp), LFU_INIT_COUNTER);
        for _ in 0..100 {
            stamp = tracking.touched(stamp, &mut rng);
        }
        let after_100 = tracking.decayed_counter(stamp);
        for _ in 0..10_000 {
            stamp = tracking.touched(stamp, &mut rng);
        }
        let after_10k = tracking.decayed_counter(stamp);
        // Redis's table for factor 10: about 10 at 100 hits, 18 at 1k,
        // 142 at 100k; the counter never passes 255.
        assert!((LFU_INIT_COUNTER + 1..30).contains(&after_100), "{after_100}");
        assert!(after_10k > after_100 && after_10k < 80, "{after_10k}");
        // Three minutes idle at one decrement a minute.
        tracking.set_now_ms(3 * 60_000);
        assert_eq!(tracking.decayed_counter(stamp), after_10k - 3);
        tracking.lfu_decay_minutes = 0;
        assert_eq!(tracking.decayed_counter(stamp), after_10k);
    }

    fn db_with(keys: &[(&str, Option<i64>, u32)]) -> Db {
        let mut db = Db::default();
        for (key, expire_at, stamp) in keys {
            db.put(key.as_bytes(), Value::Int(1), *expire_at, *stamp);
        }
        db
    }

    /// A pool with its generator, as a keyspace holds them.
    struct Evictor {
        pool: EvictionPool,
        rng: FastRng,
    }

    impl Evictor {
        fn new(seed: u64) -> Evictor {
            Evictor {
                pool: EvictionPool::default(),
                rng: FastRng::new(seed),
            }
        }

        fn next(
            &mut self,
            dbs: &mut [Db],
            policy: EvictionPolicy,
            tracking: &AccessTracking,
            samples: usize,
        ) -> Option<(usize, String)> {
            self.pool
                .evict_one(dbs, policy, tracking, samples, &mut self.rng)
                .map(|e| (e.db, String::from_utf8_lossy(&e.key).into_owned()))
        }

        /// Evicts until nothing is left to evict, in order.
        fn all(&mut self, dbs: &mut [Db], policy: EvictionPolicy, tracking: &AccessTracking) -> Vec<(usize, String)> {
            std::iter::from_fn(|| self.next(dbs, policy, tracking, 64)).collect()
        }
    }

    fn named(key: &str) -> Option<(usize, String)> {
        Some((0, key.to_owned()))
    }

    #[test]
    fn lru_evicts_the_longest_idle_key_first() {
        // Every key is sampled (samples >> keys), so the order is exact.
        let mut dbs = vec![db_with(&[
            ("fresh", None, 990),
            ("stale", None, 10),
            ("middle", None, 500),
        ])];
        let tracking = tracking_at(AccessMode::Lru, 1_000_000);
        let order = Evictor::new(3).all(&mut dbs, EvictionPolicy::AllKeysLru, &tracking);
        assert_eq!(
            order,
            [named("stale"), named("middle"), named("fresh")].map(Option::unwrap)
        );
    }

    #[test]
    fn volatile_policies_never_touch_keys_without_a_ttl() {
        for policy in [
            EvictionPolicy::VolatileLru,
            EvictionPolicy::VolatileLfu,
            EvictionPolicy::VolatileRandom,
            EvictionPolicy::VolatileTtl,
        ] {
            let mut dbs = vec![
                db_with(&[("persistent", None, 0), ("late", Some(9_000), 0)]),
                db_with(&[("soon", Some(5_000), 0), ("kept", None, 0)]),
            ];
            let tracking = tracking_at(policy.access_mode(), 1_000_000);
            let mut evicted = Evictor::new(4).all(&mut dbs, policy, &tracking);
            evicted.sort();
            assert_eq!(evicted, [(0, "late".to_owned()), (1, "soon".to_owned())], "{policy:?}");
            assert_eq!(dbs[0].len() + dbs[1].len(), 2);
        }
    }

    #[test]
    fn volatile_ttl_evicts_the_nearest_expiry_first() {
        let mut dbs = vec![db_with(&[("later", Some(9_000), 0), ("sooner", Some(2_000), 0)])];
        let tracking = tracking_at(AccessMode::Lru, 0);
        let first = Evictor::new(5).next(&mut dbs, EvictionPolicy::VolatileTtl, &tracking, 64);
        assert_eq!(first, named("sooner"));
    }

    #[test]
    fn noeviction_and_empty_databases_evict_nothing() {
        let mut dbs = vec![db_with(&[("a", None, 0)]), Db::default()];
        let tracking = AccessTracking::default();
        let mut evictor = Evictor::new(6);
        assert_eq!(evictor.next(&mut dbs, EvictionPolicy::NoEviction, &tracking, 5), None);
        let mut empty = vec![Db::default()];
        for policy in EvictionPolicy::ALL {
            assert_eq!(evictor.next(&mut empty, policy, &tracking, 5), None);
        }
    }

    #[test]
    fn a_pooled_key_deleted_since_it_was_sampled_is_skipped() {
        let mut dbs = vec![db_with(&[("a", None, 1), ("b", None, 2), ("c", None, 3)])];
        let tracking = tracking_at(AccessMode::Lru, 100_000);
        let mut evictor = Evictor::new(7);
        assert_eq!(
            evictor.next(&mut dbs, EvictionPolicy::AllKeysLru, &tracking, 64),
            named("a")
        );
        // "b" is in the pool; delete it behind the pool's back.
        let pos = dbs[0].find(b"b").expect("b");
        dbs[0].remove_at(pos);
        assert_eq!(
            evictor.next(&mut dbs, EvictionPolicy::AllKeysLru, &tracking, 64),
            named("c")
        );
    }

    /// Runs one command on `ks` at `now_ms` as the primary (or, with
    /// `apply`, as a replica applying the journal).
    fn command(ks: &mut crate::keyspace::Keyspace, now_ms: i64, apply: bool, parts: &[&str]) -> crate::resp::Reply {
        use crate::commands::{self, Clock, ExecCtx};
        ks.set_clock_ms(now_ms);
        let argv: Vec<Bytes> = parts.iter().map(|p| Bytes::from(p.to_string())).collect();
        let spec = commands::lookup(&argv[0]).expect("a command");
        let mut effects = Vec::new();
        let mut ctx = ExecCtx {
            db: 0,
            clock: if apply { Clock::Apply } else { Clock::Primary { now_ms } },
            effects: &mut effects,
            effect_room: usize::MAX,
        };
        commands::execute(spec, ks, &mut ctx, &argv)
    }

    #[test]
    fn reads_and_applied_writes_stamp_keys_and_object_idletime_does_not() {
        use crate::resp::Reply;
        let mut ks = crate::keyspace::Keyspace::new(1);
        let t0 = 1_000_000_000;
        command(&mut ks, t0, false, &["SET", "read", "v"]);
        command(&mut ks, t0, false, &["SET", "unread", "v"]);
        command(&mut ks, t0, false, &["RPUSH", "list", "a"]);
        let later = t0 + 30_000;
        command(&mut ks, later, false, &["GET", "read"]);
        command(&mut ks, later, true, &["RPUSH", "list", "b"]);
        for _ in 0..2 {
            // OBJECT reads the idle time without resetting it.
            assert_eq!(
                command(&mut ks, later, false, &["OBJECT", "IDLETIME", "unread"]),
                Reply::Integer(30)
            );
        }
        assert_eq!(
            command(&mut ks, later, false, &["OBJECT", "IDLETIME", "read"]),
            Reply::Integer(0)
        );
        assert_eq!(
            command(&mut ks, later, false, &["OBJECT", "IDLETIME", "list"]),
            Reply::Integer(0)
        );
        // A replaced value counts as just used under LRU.
        command(&mut ks, later + 5_000, false, &["SET", "read", "w"]);
        assert_eq!(
            command(&mut ks, later + 5_000, false, &["OBJECT", "IDLETIME", "read"]),
            Reply::Integer(0)
        );
    }

    #[test]
    fn a_pool_full_of_deleted_keys_does_not_turn_fresh_candidates_away() {
        // Sixteen long-idle keys fill the pool, then are deleted behind its
        // back; the only key left is fresh, so every sample of it scores
        // below the ghosts. It must still be found.
        let mut keys: Vec<(String, Option<i64>, u32)> = (0..POOL_SIZE).map(|i| (format!("old{i}"), None, 0)).collect();
        keys.push(("fresh".into(), None, 99_000));
        let borrowed: Vec<(&str, Option<i64>, u32)> = keys.iter().map(|(k, e, s)| (k.as_str(), *e, *s)).collect();
        let mut dbs = vec![db_with(&borrowed)];
        let tracking = tracking_at(AccessMode::Lru, 100_000_000);
        let mut evictor = Evictor::new(8);
        evictor
            .pool
            .sample(&dbs, EvictionPolicy::AllKeysLru, &tracking, 1000, &mut evictor.rng);
        assert_eq!(evictor.pool.candidates.len(), POOL_SIZE);
        assert!(evictor.pool.candidates.iter().all(|c| c.key.starts_with(b"old")));
        for i in 0..POOL_SIZE {
            let pos = dbs[0].find(format!("old{i}").as_bytes()).expect("old key");
            dbs[0].remove_at(pos);
        }
        assert_eq!(
            evictor.next(&mut dbs, EvictionPolicy::AllKeysLru, &tracking, 5),
            named("fresh")
        );
    }

    #[test]
    fn the_pool_keeps_the_best_candidates_in_order() {
        let mut pool = EvictionPool::default();
        for score in [5u64, 1, 9, 3, 7].into_iter().chain(10..40) {
            pool.offer(Candidate {
                score,
                db: 0,
                key: Bytes::from(score.to_string()),
            });
        }
        assert_eq!(pool.candidates.len(), POOL_SIZE);
        let scores: Vec<u64> = pool.candidates.iter().map(|c| c.score).collect();
        assert_eq!(scores, (24..40).collect::<Vec<u64>>());
    }
}
