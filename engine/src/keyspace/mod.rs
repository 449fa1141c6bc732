//! The keyspace: 16 databases of typed values with expiry.
//!
//! - [`db`]: one database (keys, values, expiry index);
//! - [`table`]: the dense hash table under databases and large hashes/sets;
//! - [`value`] and the per-type modules [`hash`], [`list`], [`set`],
//!   [`zset`]: values and their compact encodings;
//! - [`access`]: what a command sees, with the clock's lazy-expiry rule;
//! - [`digest`]: the order-independent dataset fingerprint;
//! - [`serial`]: one value's byte form, as snapshots store it;
//! - [`eviction`]: access stamps and the choice of a key to evict under
//!   `maxmemory`.
//!
//! The node drives it through [`Keyspace::apply`] (replicas),
//! [`Keyspace::active_expire_cycle`] and [`Keyspace::evict`] (primary) and
//! [`crate::commands::execute`] (clients).

pub mod access;
pub mod compact;
pub mod db;
pub mod digest;
pub mod eviction;
pub mod hash;
pub mod list;
pub mod memory;
pub mod numbers;
pub mod pack;
pub mod random;
pub mod serial;
pub mod set;
pub mod table;
pub mod value;
pub mod zset;

use std::time::Duration;

use bytes::Bytes;

use self::access::{wall_clock_ms, DbAccess};
use self::db::Db;
use self::eviction::{AccessMode, AccessTracking, Evicted, EvictionPolicy, EvictionPool};
use self::memory::DatasetMeter;
use self::random::FastRng;
use self::value::Value;
use crate::commands::{self, Clock, CommandKind, Effect, ExecCtx};
use crate::resp::Reply;

/// Keys sampled per round of active expiry (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const EXPIRE_SAMPLE_PER_ROUND: usize = 20;
/// Another round of a database follows while more than this percentage of
/// the last round had expired (Redis 7's `active-expire-effort` 1 value of
/// `config_cycle_acceptable_stale`).
const EXPIRE_ACCEPTABLE_STALE_PERCENT: usize = 10;

pub struct Keyspace {
    dbs: Vec<Db>,
    rng: FastRng,
    stats: AccessStats,
    /// Count hits and misses of lookups (set for read-only commands, as
    /// Redis counts them in `lookupKeyRead`).
    count_reads: bool,
    /// The database active expiry starts with next time, so that a busy
    /// database does not starve the others of samples.
    expire_next_db: usize,
    /// The clock and mode access stamps are written with.
    tracking: AccessTracking,
    eviction_pool: EvictionPool,
    dataset_meter: DatasetMeter,
}

/// What one call of [`Keyspace::active_expire_cycle`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireCycle {
    pub sampled: usize,
    pub deleted: usize,
    /// The sample bound stopped the cycle while a database was still stale
    /// (or before every database was visited): another call has work.
    pub more: bool,
}

/// Key lookups and expirations since start (or CONFIG RESETSTAT), for
/// INFO stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// Keys deleted because their time ran out, lazily or actively.
    pub expired_keys: u64,
    /// Keys deleted to stay under `maxmemory`.
    pub evicted_keys: u64,
}

/// One line of INFO's keyspace section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbStats {
    pub db: usize,
    pub keys: usize,
    pub expires: usize,
    pub avg_ttl_ms: i64,
}

impl Keyspace {
    /// A keyspace of `databases` empty databases (at least one).
    pub fn new(databases: usize) -> Self {
        Self {
            dbs: (0..databases.max(1)).map(|_| Db::default()).collect(),
            rng: FastRng::from_entropy(),
            expire_next_db: 0,
            stats: AccessStats::default(),
            count_reads: false,
            tracking: {
                // Keys loaded before the first command (a snapshot) count
                // as accessed when loaded.
                let mut tracking = AccessTracking::default();
                tracking.set_now_ms(wall_clock_ms());
                tracking
            },
            eviction_pool: EvictionPool::default(),
            dataset_meter: DatasetMeter::default(),
        }
    }

    /// The time access stamps are written with (the execution thread sets
    /// it once per step, as it reads the clock).
    pub fn set_clock_ms(&mut self, now_ms: i64) {
        self.tracking.set_now_ms(now_ms);
    }

    /// How access stamps are kept: LRU or LFU, with LFU's parameters
    /// (`lfu-log-factor`, `lfu-decay-time`).
    pub fn set_access_tracking(&mut self, mode: AccessMode, lfu_log_factor: u32, lfu_decay_minutes: u32) {
        self.tracking.mode = mode;
        self.tracking.lfu_log_factor = lfu_log_factor;
        self.tracking.lfu_decay_minutes = lfu_decay_minutes;
    }

    pub fn access_tracking(&self) -> AccessTracking {
        self.tracking
    }

    /// Stamps every key as created now, in the current mode (after a
    /// snapshot was loaded with another mode's stamps).
    pub fn restamp_all(&mut self) {
        let stamp = self.tracking.new_stamp();
        for db in &mut self.dbs {
            db.set_every_access_stamp(stamp);
        }
    }

    /// Deletes one key chosen by `policy` from `samples` samples per
    /// database (see [`eviction`]), pushing `DEL key` to `effects`. `None`
    /// when the policy leaves nothing to evict.
    pub fn evict(&mut self, policy: EvictionPolicy, samples: usize, effects: &mut Vec<Effect>) -> Option<Evicted> {
        let evicted = self
            .eviction_pool
            .evict_one(&mut self.dbs, policy, &self.tracking, samples, &mut self.rng)?;
        self.stats.evicted_keys += 1;
        effects.push(Effect {
            db: u32::try_from(evicted.db).unwrap_or(u32::MAX),
            argv: vec![Bytes::from_static(b"DEL"), evicted.key.clone()],
        });
        Some(evicted)
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Keys in database `db`, counting expired keys not yet deleted (as
    /// DBSIZE does); 0 for a database that does not exist.
    pub fn dbsize(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, Db::len)
    }

    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// Drops every key of every database.
    pub fn clear(&mut self) {
        for db in &mut self.dbs {
            db.clear();
        }
        self.eviction_pool.clear();
        for index in 0..self.dbs.len() {
            self.dataset_meter.flushed(index);
        }
    }

    pub fn db(&self, index: usize) -> Option<&Db> {
        self.dbs.get(index)
    }

    /// Empties database `index`; returns how many keys it held.
    pub fn flush_db(&mut self, index: usize) -> usize {
        match self.dbs.get_mut(index) {
            Some(db) => {
                let keys = db.len();
                db.clear();
                self.dataset_meter.flushed(index);
                keys
            }
            None => 0,
        }
    }

    /// SWAPDB: exchanges two databases' contents; false if either index is
    /// out of range.
    pub fn swap_databases(&mut self, a: usize, b: usize) -> bool {
        if a >= self.dbs.len() || b >= self.dbs.len() {
            return false;
        }
        self.dbs.swap(a, b);
        self.dataset_meter.swapped(a, b);
        true
    }

    /// Loads one key from a snapshot. Errors if the database does not exist
    /// or the key is already there: a snapshot holds each key once.
    pub fn restore_entry(&mut self, db: usize, key: &[u8], value: Value, expire_at: Option<i64>) -> Result<(), String> {
        let databases = self.dbs.len();
        let target = self
            .dbs
            .get_mut(db)
            .ok_or_else(|| format!("database {db} out of range (this node has {databases})"))?;
        let stamp = self.tracking.new_stamp();
        if !target.put_new(key, value, expire_at, stamp) {
            return Err(format!(
                "key {:?} appears twice in database {db}",
                String::from_utf8_lossy(key)
            ));
        }
        Ok(())
    }

    /// Approximate bytes held by the data, counted now over every key and
    /// element: O(n), for work off the latency path (the snapshot
    /// service). A memory node reports [`Keyspace::dataset_bytes`].
    pub fn memory_bytes(&self) -> usize {
        self.dbs.iter().map(Db::memory_bytes).sum()
    }

    /// Approximate bytes held by the data as last measured by the
    /// background walk ([`DatasetMeter`]): O(databases).
    pub fn dataset_bytes(&self) -> usize {
        self.dataset_meter.dataset_bytes(&self.dbs)
    }

    /// Advances the background measure of the data set by up to `budget`.
    pub fn measure_dataset(&mut self, budget: Duration) {
        self.dataset_meter.step(&self.dbs, budget);
    }

    /// Complete walks of the data set's measure so far.
    pub fn dataset_walks(&self) -> u64 {
        self.dataset_meter.walks()
    }

    /// The view one command gets of the database `ctx.db` selects; `None`
    /// if that database does not exist.
    pub fn access<'a>(&'a mut self, ctx: &'a mut ExecCtx<'_>) -> Option<DbAccess<'a>> {
        let index = u32::try_from(ctx.db).ok()?;
        let db = self.dbs.get_mut(ctx.db)?;
        // Applying the primary's effects is not a client's lookup.
        let count_reads = self.count_reads && !matches!(ctx.clock, Clock::Apply);
        Some(
            DbAccess::new(
                db,
                index,
                ctx.clock,
                &mut *ctx.effects,
                &mut self.rng,
                &mut self.stats,
                count_reads,
            )
            .with_tracking(self.tracking)
            .with_effect_room(ctx.effect_room),
        )
    }

    /// Whether the next commands' lookups count as keyspace hits/misses.
    pub fn count_reads(&mut self, on: bool) {
        self.count_reads = on;
    }

    pub fn access_stats(&self) -> AccessStats {
        self.stats
    }

    pub fn reset_access_stats(&mut self) {
        self.stats = AccessStats::default();
    }

    /// Applies one of the primary's effects, exactly as the primary's
    /// command handler would run it but with nothing expiring. An error
    /// reply means this replica's data has diverged from the log.
    pub fn apply(&mut self, effect: &Effect) -> Result<(), String> {
        let name = effect.argv.first().ok_or_else(|| "empty effect".to_owned())?;
        let spec = commands::lookup(name)
            .ok_or_else(|| format!("unknown command '{}' in effect", String::from_utf8_lossy(name)))?;
        if !spec.arity_ok(effect.argv.len()) {
            return Err(format!("wrong number of arguments for '{}' in effect", spec.name));
        }
        let mut discarded = Vec::new();
        let mut ctx = ExecCtx {
            db: usize::try_from(effect.db).unwrap_or(usize::MAX),
            clock: Clock::Apply,
            effects: &mut discarded,
            effect_room: usize::MAX,
        };
        let reply = match spec.kind {
            CommandKind::Data(_) => commands::execute(spec, self, &mut ctx, &effect.argv),
            // SWAPDB is a node command for clients (it must wake watchers),
            // but its effect on the data is the keyspace's.
            CommandKind::Node if spec.name == "swapdb" => commands::swapdb(self, &mut ctx, &effect.argv),
            CommandKind::Node => return Err(format!("'{}' is not a data command", spec.name)),
        };
        match reply {
            Reply::Error(text) => Err(text),
            _ => Ok(()),
        }
    }

    /// One cycle of active expiry at `now_ms`: samples keys with a TTL,
    /// deletes the expired ones, and pushes one `DEL key` effect per
    /// deleted key. A database is sampled in rounds until a round finds at
    /// most 10% of its keys stale; the cycle stops early after
    /// `max_keys_sampled` samples, so the caller can bound its time and the
    /// size of the effects, and call again while [`ExpireCycle::more`].
    pub fn active_expire_cycle(
        &mut self,
        now_ms: i64,
        effects: &mut Vec<Effect>,
        max_keys_sampled: usize,
    ) -> ExpireCycle {
        let databases = self.dbs.len();
        let mut cycle = ExpireCycle::default();
        let start = self.expire_next_db;
        for step in 0..databases {
            if cycle.sampled >= max_keys_sampled {
                // Databases left unvisited this time.
                cycle.more = true;
                break;
            }
            let index = (start + step) % databases;
            self.expire_next_db = (index + 1) % databases;
            let Some(db) = self.dbs.get_mut(index) else {
                continue;
            };
            let db_number = u32::try_from(index).unwrap_or(u32::MAX);
            loop {
                let round = EXPIRE_SAMPLE_PER_ROUND
                    .min(max_keys_sampled - cycle.sampled)
                    .min(db.volatile_len());
                if round == 0 {
                    break;
                }
                let mut expired = 0;
                for _ in 0..round {
                    let Some((pos, expire_at)) = db.random_volatile(&mut self.rng) else {
                        break;
                    };
                    cycle.sampled += 1;
                    if expire_at <= now_ms {
                        if let Some((key, _)) = db.remove_at(pos) {
                            effects.push(Effect {
                                db: db_number,
                                argv: vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key.as_bytes())],
                            });
                            expired += 1;
                        }
                    }
                }
                cycle.deleted += expired;
                self.stats.expired_keys += expired as u64;
                if expired * 100 <= round * EXPIRE_ACCEPTABLE_STALE_PERCENT {
                    break;
                }
                if cycle.sampled >= max_keys_sampled {
                    // Stopped while this database was still stale. The
                    // next call starts with the database after it, as
                    // Redis's cycle does, so one busy database cannot
                    // starve the others; it comes round again.
                    cycle.more = true;
                    break;
                }
            }
            if cycle.more {
                break;
            }
        }
        cycle
    }

    /// The dataset digest (see [`digest`]): all zeros when empty.
    pub fn digest(&self) -> [u8; 20] {
        let mut total = [0u8; 20];
        for (index, db) in self.dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            let number = u32::try_from(index).unwrap_or(u32::MAX);
            digest::mix(&mut total, &number.to_be_bytes());
            for (entry, expire_at) in db.entries_with_expiry() {
                digest::xor_into(&mut total, &digest::entry(entry.key(), entry.value(), expire_at));
            }
        }
        total
    }

    /// INFO keyspace: one line per non-empty database.
    pub fn db_stats(&self) -> Vec<DbStats> {
        let now_ms = wall_clock_ms();
        self.dbs
            .iter()
            .enumerate()
            .filter(|(_, db)| !db.is_empty())
            .map(|(index, db)| DbStats {
                db: index,
                keys: db.len(),
                expires: db.volatile_len(),
                avg_ttl_ms: db.avg_ttl_ms(now_ms),
            })
            .collect()
    }
}

impl Default for Keyspace {
    /// Redis's default of 16 databases.
    fn default() -> Self {
        Self::new(16)
    }
}
