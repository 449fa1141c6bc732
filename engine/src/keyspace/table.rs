//! A hash table whose items sit densely in one vector.
//!
//! Items live in a `Vec` in no particular order and a `hashbrown` index maps
//! each key to its position. Removal swaps the last item into the hole, so
//! the vector never has gaps. This layout buys what a plain hash map cannot
//! give Redis semantics cheaply:
//!
//! - a uniformly random item in O(1) (RANDOMKEY, SPOP, SRANDMEMBER, active
//!   expiry sampling);
//! - a scan cursor with Redis's guarantee (see [`DenseTable::scan`]);
//! - resizes that only touch the index: each index slot keeps 32 bits of
//!   its key's hash, so growing the index never rereads the keys;
//! - bounded pauses: hashbrown rehashes a whole table at once when it
//!   grows (57 ms at 3.7 M keys here), so a large table splits its index
//!   into shards by hash, each growing on its own (a database uses
//!   [`DATABASE_SHARDS`]). The item vector itself grows by `realloc`,
//!   which moves pages rather than bytes at these sizes.
//!
//! Positions are `u32`: one table holds at most 4 294 967 295 items, far
//! beyond what fits in memory with per-item overhead.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// An item that knows its own key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

#[derive(Clone, Copy)]
struct Slot {
    /// Position of the item in `items`.
    pos: u32,
    /// 32 bits of the key's hash, so the index can rehash on its own.
    tag: u32,
}

/// Expands a 32-bit tag into the 64-bit hash hashbrown wants: the high bits
/// (hashbrown's in-group filter) and the low bits (bucket) both depend on
/// every bit of the tag.
fn spread(tag: u32) -> u64 {
    u64::from(tag).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Below this many slots, shrinking is not worth a reallocation.
const MIN_CAPACITY: usize = 64;

/// Shrinks an index shard that is mostly empty (same rule as the items).
fn shrink_if_sparse(shard: &mut HashTable<Slot>) {
    let capacity = shard.capacity();
    if capacity > MIN_CAPACITY && shard.len() < capacity / 4 {
        shard.shrink_to((shard.len() * 2).max(MIN_CAPACITY), |slot| spread(slot.tag));
    }
}

fn to_pos(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}

/// Index shards of a database's table: growing one shard rehashes 1/1024
/// of the keys, about 1.5 ms at 100 M keys.
pub const DATABASE_SHARDS: usize = 1024;

pub struct DenseTable<T> {
    items: Vec<T>,
    /// The index, split by the high bits of each key's tag.
    shards: Box<[HashTable<Slot>]>,
    hasher: DefaultHashBuilder,
}

/// What a removal took out, and which item moved to fill the hole.
pub struct Removed<T> {
    pub item: T,
    /// The position the last item came from, now at the removed position;
    /// `None` when the removed item was the last one.
    pub moved_from: Option<usize>,
}

impl<T: Keyed> Default for DenseTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Keyed> DenseTable<T> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            items: Vec::with_capacity(capacity),
            shards: vec![HashTable::with_capacity(capacity)].into_boxed_slice(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// An empty table whose index is split into `shards` parts.
    pub fn with_shards(shards: usize) -> Self {
        Self {
            items: Vec::new(),
            shards: (0..shards.max(1)).map(|_| HashTable::new()).collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// The shard a tag belongs to (multiply-shift over the tag's high bits).
    fn shard(&self, tag: u32) -> usize {
        let shards = self.shards.len() as u64;
        usize::try_from((u64::from(tag) * shards) >> 32).unwrap_or(0)
    }

    fn shard_mut(&mut self, tag: u32) -> Option<&mut HashTable<Slot>> {
        let shard = self.shard(tag);
        self.shards.get_mut(shard)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn tag(&self, key: &[u8]) -> u32 {
        let hash = self.hasher.hash_one(key);
        // Folding keeps entropy from both halves; truncation is the point.
        (hash ^ (hash >> 32)) as u32
    }

    fn find_tagged(&self, key: &[u8], tag: u32) -> Option<usize> {
        let items = &self.items;
        self.shards
            .get(self.shard(tag))?
            .find(spread(tag), |slot| {
                slot.tag == tag && items.get(slot.pos as usize).is_some_and(|item| item.key() == key)
            })
            .map(|slot| slot.pos as usize)
    }

    /// The position of the item with this key.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_tagged(key, self.tag(key))
    }

    pub fn get(&self, pos: usize) -> Option<&T> {
        self.items.get(pos)
    }

    /// Mutable access by position. The caller must not change the key.
    pub fn get_mut(&mut self, pos: usize) -> Option<&mut T> {
        self.items.get_mut(pos)
    }

    pub fn get_by_key(&self, key: &[u8]) -> Option<&T> {
        self.find(key).and_then(|pos| self.items.get(pos))
    }

    /// Adds an item whose key is not in the table yet; returns its position.
    pub fn insert_new(&mut self, item: T) -> usize {
        let tag = self.tag(item.key());
        self.push_tagged(item, tag)
    }

    fn push_tagged(&mut self, item: T, tag: u32) -> usize {
        let pos = self.items.len();
        self.items.push(item);
        if let Some(shard) = self.shard_mut(tag) {
            shard.insert_unique(spread(tag), Slot { pos: to_pos(pos), tag }, |slot| spread(slot.tag));
        }
        pos
    }

    /// The position of `key`, inserting `make()` first if it is missing;
    /// the flag says whether it was inserted. Hashes the key once.
    pub fn find_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> T) -> (usize, bool) {
        let tag = self.tag(key);
        match self.find_tagged(key, tag) {
            Some(pos) => (pos, false),
            None => (self.push_tagged(make(), tag), true),
        }
    }

    /// Removes the item at `pos`, moving the last item into its place.
    pub fn remove_at(&mut self, pos: usize) -> Option<Removed<T>> {
        let tag = self.tag(self.items.get(pos)?.key());
        let wanted = to_pos(pos);
        if let Some(shard) = self.shard_mut(tag) {
            if let Ok(entry) = shard.find_entry(spread(tag), |slot| slot.pos == wanted) {
                entry.remove();
            }
            shrink_if_sparse(shard);
        }
        let last = self.items.len().checked_sub(1)?;
        let item = self.items.swap_remove(pos);
        let mut moved_from = None;
        if pos != last {
            if let Some(moved) = self.items.get(pos) {
                let moved_tag = self.tag(moved.key());
                let old = to_pos(last);
                let slot = self
                    .shard_mut(moved_tag)
                    .and_then(|shard| shard.find_mut(spread(moved_tag), |slot| slot.pos == old));
                if let Some(slot) = slot {
                    slot.pos = wanted;
                }
                moved_from = Some(last);
            }
        }
        self.shrink_items_if_sparse();
        Some(Removed { item, moved_from })
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Removed<T>> {
        let pos = self.find(key)?;
        self.remove_at(pos)
    }

    /// Gives memory back once the items are mostly gone, as Redis shrinks
    /// its dicts; the factor of 4 keeps add/remove cycles from thrashing.
    fn shrink_items_if_sparse(&mut self) {
        let capacity = self.items.capacity();
        if capacity > MIN_CAPACITY && self.items.len() < capacity / 4 {
            self.items.shrink_to((self.items.len() * 2).max(MIN_CAPACITY));
        }
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    pub fn clear(&mut self) {
        self.items = Vec::new();
        for shard in self.shards.iter_mut() {
            *shard = HashTable::new();
        }
    }

    /// The positions one SCAN step visits, and the cursor to continue from.
    ///
    /// The cursor counts the positions still to visit, walking from the end
    /// of the vector towards the start; 0 starts a scan and is returned when
    /// it is over. Because removal moves the *last* item into the hole, an
    /// item that has not been visited yet can only move to a lower position,
    /// which the scan still visits: every item present for the whole scan is
    /// returned at least once (Redis's promise), and an item is returned
    /// twice only if a removal moved it. Items added during the scan may or
    /// may not be returned.
    pub fn scan(&self, cursor: u64, count: usize) -> (std::ops::Range<usize>, u64) {
        let len = self.items.len();
        let start = match usize::try_from(cursor) {
            Ok(0) => len,
            Ok(cursor) => cursor.min(len),
            Err(_) => len,
        };
        let end = start.saturating_sub(count.max(1));
        (end..start, end as u64)
    }

    /// Approximate heap bytes used by the table itself (not by items' own
    /// heap data).
    pub fn overhead_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<T>()
            + self.shards.iter().map(HashTable::allocation_size).sum::<usize>()
            + self.shards.len() * std::mem::size_of::<HashTable<Slot>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[derive(Debug, Clone, PartialEq)]
    struct Item(Vec<u8>);

    impl Keyed for Item {
        fn key(&self) -> &[u8] {
            &self.0
        }
    }

    fn consistent(table: &DenseTable<Item>) -> bool {
        table.shards.iter().map(HashTable::len).sum::<usize>() == table.items.len()
            && table
                .items
                .iter()
                .enumerate()
                .all(|(pos, item)| table.find(&item.0) == Some(pos))
    }

    #[test]
    fn insert_find_remove() {
        for shards in [1, 7, 64] {
            insert_find_remove_with(DenseTable::with_shards(shards));
        }
    }

    fn insert_find_remove_with(mut table: DenseTable<Item>) {
        for i in 0..1000u32 {
            table.insert_new(Item(i.to_be_bytes().to_vec()));
        }
        assert!(consistent(&table));
        for i in (0..1000u32).step_by(3) {
            assert!(table.remove(&i.to_be_bytes()).is_some());
        }
        assert!(consistent(&table));
        assert_eq!(table.len(), 666);
        assert!(table.find(&3u32.to_be_bytes()).is_none());
        assert!(table.find(&4u32.to_be_bytes()).is_some());
        let (pos, inserted) = table.find_or_insert_with(&3u32.to_be_bytes(), || Item(3u32.to_be_bytes().to_vec()));
        assert!(inserted);
        assert_eq!(
            table.find_or_insert_with(&3u32.to_be_bytes(), || unreachable!()),
            (pos, false)
        );
        assert!(consistent(&table));
    }

    proptest! {
        /// Whatever is added and removed while a scan runs, every item
        /// present from its start to its end is returned.
        #[test]
        fn scan_returns_every_item_present_throughout(
            initial in 0usize..200,
            ops in prop::collection::vec((any::<bool>(), 0u16..400), 0..200),
            count in 1usize..20,
        ) {
            let mut table = DenseTable::new();
            for i in 0..initial {
                table.insert_new(Item((i as u16).to_be_bytes().to_vec()));
            }
            let at_start: HashSet<Vec<u8>> = table.iter().map(|item| item.0.clone()).collect();
            let mut removed = HashSet::new();
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut ops = ops.into_iter();
            loop {
                let (range, next) = table.scan(cursor, count);
                for pos in range {
                    if let Some(item) = table.get(pos) {
                        seen.insert(item.0.clone());
                    }
                }
                for (add, key) in ops.by_ref().take(3) {
                    let key = key.to_be_bytes().to_vec();
                    if add {
                        table.find_or_insert_with(&key, || Item(key.clone()));
                    } else if table.remove(&key).is_some() {
                        removed.insert(key);
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            prop_assert!(consistent(&table));
            for key in at_start.difference(&removed) {
                prop_assert!(seen.contains(key), "missed {:?}", key);
            }
        }
    }
}
