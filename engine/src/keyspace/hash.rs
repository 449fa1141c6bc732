//! Hash values: a packed field/value sequence while small (Redis's
//! `hash-max-listpack-entries 128`, `hash-max-listpack-value 64`), a dense
//! hash table beyond. The conversion is one-way, as in Redis.

use super::compact::CompactBytes;
use super::memory::sampled_sum;
use super::pack::{Pack, PackIter};
use super::table::{DenseTable, Keyed};

pub const PACKED_MAX_ENTRIES: usize = 128;
pub const PACKED_MAX_VALUE: usize = 64;

pub struct FieldValue {
    pub field: CompactBytes,
    pub value: CompactBytes,
}

impl Keyed for FieldValue {
    fn key(&self) -> &[u8] {
        self.field.as_bytes()
    }
}

pub enum HashValue {
    /// Fields and values alternate.
    Packed(Pack),
    Table(DenseTable<FieldValue>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Packed(Pack::new())
    }
}

/// Where a field sits in a packed hash: its own span and its value's.
struct PackedPair {
    field_start: usize,
    value_start: usize,
    value_end: usize,
}

fn find_packed(pack: &Pack, field: &[u8]) -> Option<PackedPair> {
    let mut entries = pack.entries();
    while let (Some(key), Some(value)) = (entries.next(), entries.next()) {
        if key.data == field {
            return Some(PackedPair {
                field_start: key.start,
                value_start: value.start,
                value_end: value.end,
            });
        }
    }
    None
}

impl HashValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Packed(pack) => pack.len() / 2,
            HashValue::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            HashValue::Packed(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Packed(pack) => {
                let mut entries = pack.entries();
                while let (Some(key), Some(value)) = (entries.next(), entries.next()) {
                    if key.data == field {
                        return Some(value.data);
                    }
                }
                None
            }
            HashValue::Table(table) => table.get_by_key(field).map(|pair| pair.value.as_bytes()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let HashValue::Packed(pack) = self {
            let fits = field.len() <= PACKED_MAX_VALUE && value.len() <= PACKED_MAX_VALUE;
            if fits {
                if let Some(pair) = find_packed(pack, field) {
                    pack.replace(pair.value_start, pair.value_end, value);
                    return false;
                }
                if pack.len() / 2 < PACKED_MAX_ENTRIES {
                    pack.push(field);
                    pack.push(value);
                    return true;
                }
            }
            self.convert_to_table();
        }
        match self {
            HashValue::Table(table) => {
                let (pos, inserted) = table.find_or_insert_with(field, || FieldValue {
                    field: CompactBytes::new(field),
                    value: CompactBytes::new(value),
                });
                if !inserted {
                    if let Some(pair) = table.get_mut(pos) {
                        pair.value = CompactBytes::new(value);
                    }
                }
                inserted
            }
            HashValue::Packed(_) => false,
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Packed(pack) => match find_packed(pack, field) {
                Some(pair) => {
                    pack.remove_span(pair.field_start, pair.value_end, 2);
                    true
                }
                None => false,
            },
            HashValue::Table(table) => table.remove(field).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        if let HashValue::Packed(pack) = self {
            let mut table = DenseTable::with_capacity(pack.len() / 2 + 1);
            let mut entries = pack.entries();
            while let (Some(key), Some(value)) = (entries.next(), entries.next()) {
                table.insert_new(FieldValue {
                    field: CompactBytes::new(key.data),
                    value: CompactBytes::new(value.data),
                });
            }
            *self = HashValue::Table(table);
        }
    }

    /// Field/value pairs in storage order.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Packed(pack) => HashIter::Packed(pack.entries()),
            HashValue::Table(table) => HashIter::Table(table.iter()),
        }
    }

    /// The pair at storage position `index` (for random picks and scans).
    pub fn at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match self {
            HashValue::Packed(_) => self.iter().nth(index),
            HashValue::Table(table) => table
                .get(index)
                .map(|pair| (pair.field.as_bytes(), pair.value.as_bytes())),
        }
    }

    /// Heap bytes held, pairs' own bytes estimated from `samples` of them
    /// (every one when 0).
    pub fn heap_bytes_sampled(&self, samples: usize) -> usize {
        match self {
            HashValue::Packed(pack) => pack.heap_bytes(),
            HashValue::Table(table) => {
                table.overhead_bytes()
                    + sampled_sum(table.iter(), samples, |pair| {
                        pair.field.heap_bytes() + pair.value.heap_bytes()
                    })
            }
        }
    }
}

pub enum HashIter<'a> {
    Packed(PackIter<'a>),
    Table(std::slice::Iter<'a, FieldValue>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Packed(entries) => {
                let field = entries.next()?;
                let value = entries.next()?;
                Some((field.data, value.data))
            }
            HashIter::Table(pairs) => pairs.next().map(|pair| (pair.field.as_bytes(), pair.value.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn as_map(hash: &HashValue) -> BTreeMap<Vec<u8>, Vec<u8>> {
        hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn packed_until_too_many_fields() {
        let mut hash = HashValue::new();
        for i in 0..PACKED_MAX_ENTRIES {
            assert!(hash.set(format!("f{i}").as_bytes(), b"v"));
        }
        assert_eq!(hash.encoding_name(), "listpack");
        assert!(!hash.set(b"f0", b"new"));
        assert_eq!(hash.get(b"f0"), Some(&b"new"[..]));
        assert!(hash.set(b"one-more", b"v"));
        assert_eq!(hash.encoding_name(), "hashtable");
        assert_eq!(hash.len(), PACKED_MAX_ENTRIES + 1);
        assert_eq!(hash.get(b"f0"), Some(&b"new"[..]));
    }

    #[test]
    fn long_values_convert() {
        let mut hash = HashValue::new();
        hash.set(b"a", b"1");
        hash.set(b"b", &[b'x'; PACKED_MAX_VALUE + 1]);
        assert_eq!(hash.encoding_name(), "hashtable");
        assert_eq!(hash.get(b"a"), Some(&b"1"[..]));
        assert_eq!(hash.len(), 2);
    }

    #[test]
    fn packed_and_table_agree() {
        let mut packed = HashValue::new();
        let mut table = HashValue::new();
        table.convert_to_table();
        for i in 0..60u32 {
            let field = (i % 17).to_string();
            let value = i.to_string();
            assert_eq!(
                packed.set(field.as_bytes(), value.as_bytes()),
                table.set(field.as_bytes(), value.as_bytes())
            );
            if i % 5 == 0 {
                let gone = (i % 7).to_string();
                assert_eq!(packed.remove(gone.as_bytes()), table.remove(gone.as_bytes()));
            }
            assert_eq!(as_map(&packed), as_map(&table));
            assert_eq!(packed.len(), table.len());
        }
    }
}
