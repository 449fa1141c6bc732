//! One database: the keys, their values and their expiry times.
//!
//! Entries live in a [`DenseTable`]. Keys with a time to live are also
//! listed in `volatile`, a dense vector of `(position, expiry)` that each
//! such entry points back into; that is what active expiry samples, so it
//! never wastes samples on keys without a TTL (as Redis samples its
//! `expires` dict), and what INFO's `expires=` counts. The expiry time
//! itself lives only there: the common key without a TTL pays 4 bytes for
//! the back-pointer and nothing more.

use bytes::Bytes;

use super::compact::CompactBytes;
use super::random::FastRng;
use super::table::{DenseTable, Keyed, DATABASE_SHARDS};
use super::value::Value;

/// Back-pointer of an entry without a TTL.
const NOT_VOLATILE: u32 = u32::MAX;

pub struct Entry {
    key: CompactBytes,
    value: Value,
    /// Index into `Db::volatile`, or `NOT_VOLATILE`.
    volatile: u32,
    /// When the key was last read or written, for eviction: see
    /// [`super::eviction::AccessTracking`]. Fills what was padding.
    access: u32,
}

impl Keyed for Entry {
    fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }
}

impl Entry {
    pub fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }

    pub fn value(&self) -> &Value {
        &self.value
    }
}

#[derive(Clone, Copy)]
struct VolatileKey {
    pos: u32,
    expire_at: i64,
}

pub struct Db {
    table: DenseTable<Entry>,
    volatile: Vec<VolatileKey>,
    /// Sum of every expiry time, for INFO's average TTL in O(1).
    expire_sum: i128,
}

impl Default for Db {
    fn default() -> Self {
        Self {
            table: DenseTable::with_shards(DATABASE_SHARDS),
            volatile: Vec::new(),
            expire_sum: 0,
        }
    }
}

fn to_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(NOT_VOLATILE)
}

impl Db {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Position of `key`, expired or not.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.table.find(key)
    }

    pub fn key_at(&self, pos: usize) -> Option<&[u8]> {
        self.table.get(pos).map(Entry::key)
    }

    pub fn value_at(&self, pos: usize) -> Option<&Value> {
        self.table.get(pos).map(|entry| &entry.value)
    }

    pub fn value_at_mut(&mut self, pos: usize) -> Option<&mut Value> {
        self.table.get_mut(pos).map(|entry| &mut entry.value)
    }

    /// The access stamp of the entry at `pos` (see
    /// [`super::eviction::AccessTracking`]).
    pub fn access_stamp(&self, pos: usize) -> Option<u32> {
        self.table.get(pos).map(|entry| entry.access)
    }

    /// Replaces the access stamp of the entry at `pos` by `update(stamp)`.
    pub fn update_access_stamp(&mut self, pos: usize, update: impl FnOnce(u32) -> u32) {
        if let Some(entry) = self.table.get_mut(pos) {
            entry.access = update(entry.access);
        }
    }

    pub fn set_every_access_stamp(&mut self, stamp: u32) {
        for pos in 0..self.table.len() {
            self.set_access_stamp(pos, stamp);
        }
    }

    pub fn set_access_stamp(&mut self, pos: usize, stamp: u32) {
        if let Some(entry) = self.table.get_mut(pos) {
            entry.access = stamp;
        }
    }

    /// What one entry holding `key` and `value` costs, by the measure of
    /// [`Db::memory_bytes`]: what deleting it gives back.
    pub fn entry_bytes(key: &CompactBytes, value: &Value, has_ttl: bool) -> usize {
        std::mem::size_of::<Entry>()
            + key.heap_bytes()
            + value.heap_bytes()
            + if has_ttl { std::mem::size_of::<VolatileKey>() } else { 0 }
    }

    /// The absolute expiry (unix ms) of the entry at `pos`.
    pub fn expire_at(&self, pos: usize) -> Option<i64> {
        let slot = self.table.get(pos)?.volatile;
        if slot == NOT_VOLATILE {
            return None;
        }
        self.volatile.get(slot as usize).map(|volatile| volatile.expire_at)
    }

    pub fn set_expire(&mut self, pos: usize, expire_at: Option<i64>) {
        let Some(entry) = self.table.get_mut(pos) else {
            return;
        };
        let slot = entry.volatile;
        match expire_at {
            None if slot == NOT_VOLATILE => {}
            None => {
                entry.volatile = NOT_VOLATILE;
                self.unlink_volatile(slot);
            }
            Some(at) if slot == NOT_VOLATILE => {
                entry.volatile = to_u32(self.volatile.len());
                self.volatile.push(VolatileKey {
                    pos: to_u32(pos),
                    expire_at: at,
                });
                self.expire_sum += i128::from(at);
            }
            Some(at) => {
                if let Some(volatile) = self.volatile.get_mut(slot as usize) {
                    self.expire_sum += i128::from(at) - i128::from(volatile.expire_at);
                    volatile.expire_at = at;
                }
            }
        }
    }

    /// Drops `volatile[slot]`, moving the last record into its place.
    fn unlink_volatile(&mut self, slot: u32) {
        let slot = slot as usize;
        if slot >= self.volatile.len() {
            return;
        }
        let removed = self.volatile.swap_remove(slot);
        self.expire_sum -= i128::from(removed.expire_at);
        if let Some(moved) = self.volatile.get(slot) {
            if let Some(entry) = self.table.get_mut(moved.pos as usize) {
                entry.volatile = to_u32(slot);
            }
        }
    }

    /// Stores `value` under `key` with `expire_at`, replacing whatever the
    /// key held (expired or not). Returns the position. `new_access` is
    /// the access stamp of a new entry; a replaced one keeps its own.
    pub fn put(&mut self, key: &[u8], value: Value, expire_at: Option<i64>, new_access: u32) -> usize {
        // One hash for both cases: the value goes into the new entry, or is
        // left in `value` to replace the existing one (the closure runs at
        // most once, so the fallback is never used).
        let mut value = Some(value);
        let (pos, inserted) = self.table.find_or_insert_with(key, || Entry {
            key: CompactBytes::new(key),
            value: value.take().unwrap_or(Value::Int(0)),
            volatile: NOT_VOLATILE,
            access: new_access,
        });
        if !inserted {
            if let (Some(entry), Some(value)) = (self.table.get_mut(pos), value) {
                entry.value = value;
            }
        }
        self.set_expire(pos, expire_at);
        pos
    }

    /// Stores `value` under `key` only if the key is absent (expired or
    /// not); false, leaving everything as it was, if it is present. One
    /// hash lookup: snapshot loading calls this for every key.
    pub fn put_new(&mut self, key: &[u8], value: Value, expire_at: Option<i64>, access: u32) -> bool {
        let mut value = Some(value);
        let (pos, inserted) = self.table.find_or_insert_with(key, || Entry {
            key: CompactBytes::new(key),
            value: value.take().unwrap_or(Value::Int(0)),
            volatile: NOT_VOLATILE,
            access,
        });
        if inserted {
            self.set_expire(pos, expire_at);
        }
        inserted
    }

    /// Removes the entry at `pos`, returning its key and value.
    pub fn remove_at(&mut self, pos: usize) -> Option<(CompactBytes, Value)> {
        let slot = self.table.get(pos)?.volatile;
        if slot != NOT_VOLATILE {
            self.unlink_volatile(slot);
        }
        let removed = self.table.remove_at(pos)?;
        if removed.moved_from.is_some() {
            // The former last entry now sits at `pos`: repoint its record.
            if let Some(moved_slot) = self.table.get(pos).map(|entry| entry.volatile) {
                if let Some(volatile) = self.volatile.get_mut(moved_slot as usize) {
                    volatile.pos = to_u32(pos);
                }
            }
        }
        Some((removed.item.key, removed.item.value))
    }

    pub fn clear(&mut self) {
        self.table.clear();
        self.volatile = Vec::new();
        self.expire_sum = 0;
    }

    pub fn entries(&self) -> std::slice::Iter<'_, Entry> {
        self.table.iter()
    }

    /// Every entry with its expiry, in storage order.
    pub fn entries_with_expiry(&self) -> impl Iterator<Item = (&Entry, Option<i64>)> + '_ {
        self.table.iter().map(move |entry| {
            let expire_at = (entry.volatile != NOT_VOLATILE)
                .then(|| self.volatile.get(entry.volatile as usize).map(|v| v.expire_at))
                .flatten();
            (entry, expire_at)
        })
    }

    /// A uniformly random position.
    pub fn random_pos(&self, rng: &mut FastRng) -> Option<usize> {
        (!self.table.is_empty()).then(|| rng.below(self.table.len()))
    }

    /// A uniformly random key with a TTL: its position and expiry.
    pub fn random_volatile(&self, rng: &mut FastRng) -> Option<(usize, i64)> {
        if self.volatile.is_empty() {
            return None;
        }
        let volatile = self.volatile.get(rng.below(self.volatile.len()))?;
        Some((volatile.pos as usize, volatile.expire_at))
    }

    /// See [`DenseTable::scan`].
    pub fn scan(&self, cursor: u64, count: usize) -> (std::ops::Range<usize>, u64) {
        self.table.scan(cursor, count)
    }

    /// Average time to live of the keys with one, as INFO reports it.
    pub fn avg_ttl_ms(&self, now_ms: i64) -> i64 {
        let Ok(count) = i128::try_from(self.volatile.len()) else {
            return 0;
        };
        if count == 0 {
            return 0;
        }
        let average = self.expire_sum / count - i128::from(now_ms);
        i64::try_from(average.max(0)).unwrap_or(i64::MAX)
    }

    /// Bytes used by this database, approximately (for INFO memory).
    pub fn memory_bytes(&self) -> usize {
        self.overhead_bytes() + (0..self.len()).map(|pos| self.entry_heap_bytes(pos, 0)).sum::<usize>()
    }

    /// What the database's own structures hold, entries' heap data aside:
    /// O(index shards), not O(keys).
    pub fn overhead_bytes(&self) -> usize {
        self.table.overhead_bytes() + self.volatile.capacity() * std::mem::size_of::<VolatileKey>()
    }

    /// Heap bytes of the entry at `pos` (key and value), a large
    /// collection's elements estimated from `samples` of them (every one
    /// when 0); 0 past the end.
    pub fn entry_heap_bytes(&self, pos: usize, samples: usize) -> usize {
        self.table.get(pos).map_or(0, |entry| {
            entry.key.heap_bytes() + entry.value.heap_bytes_sampled(samples)
        })
    }

    /// The key at `pos` as `Bytes` (for replies and effects).
    pub fn key_bytes_at(&self, pos: usize) -> Option<Bytes> {
        self.key_at(pos).map(Bytes::copy_from_slice)
    }

    #[cfg(test)]
    pub fn check_invariants(&self) {
        assert_eq!(
            self.table.iter().filter(|entry| entry.volatile != NOT_VOLATILE).count(),
            self.volatile.len()
        );
        for (slot, volatile) in self.volatile.iter().enumerate() {
            let entry = self
                .table
                .get(volatile.pos as usize)
                .expect("volatile record points at an entry");
            assert_eq!(entry.volatile as usize, slot);
        }
        let sum: i128 = self.volatile.iter().map(|v| i128::from(v.expire_at)).sum();
        assert_eq!(sum, self.expire_sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_56_bytes() {
        assert!(std::mem::size_of::<Entry>() <= 56);
    }

    #[test]
    fn volatile_index_follows_moves() {
        let mut db = Db::default();
        let mut rng = FastRng::new(7);
        for i in 0..200i64 {
            let key = format!("k{i}");
            let expiry = (i % 3 == 0).then_some(1000 + i);
            db.put(key.as_bytes(), Value::Int(i), expiry, 0);
        }
        db.check_invariants();
        assert_eq!(db.volatile_len(), 67);
        for i in (0..200).step_by(2) {
            let pos = db.find(format!("k{i}").as_bytes()).expect("present");
            db.remove_at(pos);
            db.check_invariants();
        }
        for i in (1..200i64).step_by(2) {
            let pos = db.find(format!("k{i}").as_bytes()).expect("present");
            assert_eq!(db.expire_at(pos), (i % 3 == 0).then_some(1000 + i));
        }
        let pos = db.find(b"k3").expect("present");
        db.set_expire(pos, None);
        db.check_invariants();
        while let Some((pos, _)) = db.random_volatile(&mut rng) {
            db.remove_at(pos);
            db.check_invariants();
        }
        assert_eq!(db.len(), 100 - 32);
    }
}
