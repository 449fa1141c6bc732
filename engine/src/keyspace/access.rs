//! What one command sees of its database: lookups that apply the clock's
//! expiry rule, typed access with WRONGTYPE, and the effect log.
//!
//! The expiry rule depends on who is executing (see [`Clock`]):
//! - the primary deletes an expired key when a command touches it and
//!   records `DEL key` *before* the command's own effects, so a replica
//!   applying them in order deletes it at the same point;
//! - a replica serving reads treats an expired key as missing but keeps it
//!   until the primary's `DEL` arrives;
//! - applying the primary's effects, nothing is expired, so the result does
//!   not depend on the replica's clock.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::db::Db;
use super::eviction::{AccessMode, AccessTracking};
use super::random::FastRng;
use super::value::{Aggregate, StrRef, Value};
use super::AccessStats;
use crate::commands::{Clock, Effect};

/// A command met a key holding another type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

pub struct DbAccess<'a> {
    db: &'a mut Db,
    index: u32,
    clock: Clock,
    effects: &'a mut Vec<Effect>,
    rng: &'a mut FastRng,
    stats: &'a mut AccessStats,
    count_reads: bool,
    /// See [`crate::commands::ExecCtx::effect_room`].
    effect_room: usize,
    /// How a lookup stamps the key it finds (for eviction).
    tracking: AccessTracking,
}

impl<'a> DbAccess<'a> {
    pub(super) fn new(
        db: &'a mut Db,
        index: u32,
        clock: Clock,
        effects: &'a mut Vec<Effect>,
        rng: &'a mut FastRng,
        stats: &'a mut AccessStats,
        count_reads: bool,
    ) -> Self {
        Self {
            db,
            index,
            clock,
            effects,
            rng,
            stats,
            count_reads,
            effect_room: usize::MAX,
            tracking: AccessTracking::default(),
        }
    }

    /// How lookups stamp the keys they find.
    pub(super) fn with_tracking(mut self, tracking: AccessTracking) -> Self {
        self.tracking = tracking;
        self
    }

    pub(super) fn with_effect_room(mut self, room: usize) -> Self {
        self.effect_room = room;
        self
    }

    /// The most effect bytes this command may push
    /// ([`crate::commands::ExecCtx::effect_room`]).
    pub fn effect_room(&self) -> usize {
        self.effect_room
    }

    /// The time commands measure relative expiry from. Applying effects
    /// never needs it (the primary sends absolute times); the wall clock is
    /// a fallback for a relative form applied by hand.
    pub fn now_ms(&self) -> i64 {
        match self.clock {
            Clock::Primary { now_ms } | Clock::Replica { now_ms } => now_ms,
            Clock::Apply => wall_clock_ms(),
        }
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Whether an expiry time already past deletes the key now: only on the
    /// primary (Redis's `checkAlreadyExpired` is false on a replica and when
    /// loading).
    pub fn deletes_expired(&self) -> bool {
        matches!(self.clock, Clock::Primary { .. })
    }

    /// True if the key at `pos` has expired for this clock.
    fn is_expired(&self, pos: usize) -> bool {
        let now = match self.clock {
            Clock::Primary { now_ms } | Clock::Replica { now_ms } => now_ms,
            Clock::Apply => return false,
        };
        self.db.expire_at(pos).is_some_and(|at| at <= now)
    }

    /// Position of a live key, deleting it first if it has expired on the
    /// primary. The key is stamped as accessed (eviction's LRU or LFU),
    /// also when a replica applies the primary's writes, as Redis's
    /// replicas do: a replica that takes over then knows which keys are in
    /// use.
    pub fn lookup(&mut self, key: &[u8]) -> Option<usize> {
        let live = self.lookup_untouched(key);
        if let Some(pos) = live {
            let tracking = self.tracking;
            let rng = &mut *self.rng;
            self.db.update_access_stamp(pos, |stamp| tracking.touched(stamp, rng));
        }
        live
    }

    /// [`Self::lookup`] without stamping the key (OBJECT reads its idle
    /// time or frequency without changing it, as Redis's `LOOKUP_NOTOUCH`).
    pub fn lookup_untouched(&mut self, key: &[u8]) -> Option<usize> {
        let found = self.db.find(key);
        let live = match found {
            Some(pos) if self.is_expired(pos) => {
                if self.deletes_expired() {
                    self.db.remove_at(pos);
                    self.stats.expired_keys += 1;
                    self.propagate(vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)]);
                }
                None
            }
            other => other,
        };
        if self.count_reads {
            match live {
                Some(_) => self.stats.keyspace_hits += 1,
                None => self.stats.keyspace_misses += 1,
            }
        }
        live
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    pub fn value(&self, pos: usize) -> Option<&Value> {
        self.db.value_at(pos)
    }

    pub fn value_mut(&mut self, pos: usize) -> Option<&mut Value> {
        self.db.value_at_mut(pos)
    }

    /// A live key's value.
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        let pos = self.lookup(key)?;
        self.db.value_at(pos)
    }

    /// A live key's string value; WRONGTYPE for other types.
    pub fn get_str(&mut self, key: &[u8]) -> Result<Option<StrRef<'_>>, WrongType> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value.as_str().map(Some).ok_or(WrongType),
        }
    }

    /// A live key's aggregate of type `T`; WRONGTYPE for other types.
    pub fn get_as<T: Aggregate>(&mut self, key: &[u8]) -> Result<Option<&T>, WrongType> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => T::of(value).map(Some).ok_or(WrongType),
        }
    }

    /// Like [`Self::get_as`], mutable and with the key's position, which
    /// stays valid until something is removed.
    pub fn get_mut_as<T: Aggregate>(&mut self, key: &[u8]) -> Result<Option<(usize, &mut T)>, WrongType> {
        let Some(pos) = self.lookup(key) else {
            return Ok(None);
        };
        match self.db.value_at_mut(pos) {
            None => Ok(None),
            Some(value) => T::of_mut(value).map(|inner| Some((pos, inner))).ok_or(WrongType),
        }
    }

    /// The key's aggregate of type `T`, created empty if the key is missing.
    /// The caller must not leave a created aggregate empty (or must call
    /// [`Self::remove_if_empty`]).
    pub fn get_or_create<T: Aggregate>(&mut self, key: &[u8]) -> Result<(usize, &mut T), WrongType> {
        let pos = match self.lookup(key) {
            Some(pos) => pos,
            None => self.db.put(key, T::new_value(), None, self.tracking.new_stamp()),
        };
        match self.db.value_at_mut(pos).and_then(T::of_mut) {
            Some(inner) => Ok((pos, inner)),
            None => Err(WrongType),
        }
    }

    /// Deletes the key at `pos` if it is an aggregate left empty, as Redis
    /// never keeps empty lists, hashes, sets or sorted sets.
    pub fn remove_if_empty(&mut self, pos: usize) -> bool {
        if self.db.value_at(pos).is_some_and(Value::is_empty_aggregate) {
            self.db.remove_at(pos);
            true
        } else {
            false
        }
    }

    /// Deletes a live key; true if it was there.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        match self.lookup(key) {
            Some(pos) => self.db.remove_at(pos).is_some(),
            None => false,
        }
    }

    pub fn remove_at(&mut self, pos: usize) -> Option<Value> {
        self.db.remove_at(pos).map(|(_, value)| value)
    }

    /// Stores `value` under `key` with `expire_at`, replacing anything.
    /// The entry counts as accessed now; under LFU a replaced value keeps
    /// the key's frequency, as in Redis.
    pub fn put(&mut self, key: &[u8], value: Value, expire_at: Option<i64>) -> usize {
        let stamp = self.tracking.new_stamp();
        let pos = self.db.put(key, value, expire_at, stamp);
        if self.tracking.mode == AccessMode::Lru {
            self.db.set_access_stamp(pos, stamp);
        }
        pos
    }

    /// How keys are stamped on access (OBJECT IDLETIME and FREQ read it).
    pub fn access_tracking(&self) -> AccessTracking {
        self.tracking
    }

    pub fn expire_at(&self, pos: usize) -> Option<i64> {
        self.db.expire_at(pos)
    }

    pub fn set_expire(&mut self, pos: usize, expire_at: Option<i64>) {
        self.db.set_expire(pos, expire_at);
    }

    /// Records a deterministic effect for the journal and the replicas.
    pub fn propagate(&mut self, argv: Vec<Bytes>) {
        self.effects.push(Effect { db: self.index, argv });
    }

    pub fn db(&self) -> &Db {
        self.db
    }

    pub fn rng(&mut self) -> &mut FastRng {
        self.rng
    }

    /// The database and the generator at once, for commands that pick
    /// random members of a value they hold.
    pub fn value_and_rng(&mut self, pos: usize) -> (Option<&mut Value>, &mut FastRng) {
        (self.db.value_at_mut(pos), &mut *self.rng)
    }
}
