//! Set values, in three encodings converted one way as the set grows:
//! a sorted vector of integers while every member is an integer (Redis's
//! intset, `set-max-intset-entries 512`), a packed sequence while small
//! (`set-max-listpack-entries 128`, `set-max-listpack-value 64`, as Redis
//! 7.2 does), a dense hash table beyond.

use super::compact::CompactBytes;
use super::memory::sampled_sum;
use super::numbers::parse_i64;
use super::pack::{Pack, PackIter};
use super::table::{DenseTable, Keyed};
use super::value::StrRef;

pub const INTSET_MAX_ENTRIES: usize = 512;
pub const PACKED_MAX_ENTRIES: usize = 128;
pub const PACKED_MAX_VALUE: usize = 64;

impl Keyed for CompactBytes {
    fn key(&self) -> &[u8] {
        self.as_bytes()
    }
}

pub enum SetValue {
    /// Sorted, no duplicates.
    Ints(Vec<i64>),
    Packed(Pack),
    Table(DenseTable<CompactBytes>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Ints(Vec::new())
    }
}

impl SetValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(ints) => ints.len(),
            SetValue::Packed(pack) => pack.len(),
            SetValue::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Packed(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(ints) => parse_i64(member).is_some_and(|value| ints.binary_search(&value).is_ok()),
            SetValue::Packed(pack) => pack.entries().any(|entry| entry.data == member),
            SetValue::Table(table) => table.find(member).is_some(),
        }
    }

    /// Adds `member`; true if it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(ints) => {
                if let Some(value) = parse_i64(member) {
                    match ints.binary_search(&value) {
                        Ok(_) => return false,
                        Err(at) if ints.len() < INTSET_MAX_ENTRIES => {
                            ints.insert(at, value);
                            return true;
                        }
                        Err(_) => self.convert(false),
                    }
                } else {
                    // Integers print in at most 20 bytes, under the packed
                    // value limit, so only the new member's size matters.
                    let packable = ints.len() < PACKED_MAX_ENTRIES && member.len() <= PACKED_MAX_VALUE;
                    self.convert(packable);
                }
            }
            SetValue::Packed(pack) => {
                if pack.entries().any(|entry| entry.data == member) {
                    return false;
                }
                if pack.len() < PACKED_MAX_ENTRIES && member.len() <= PACKED_MAX_VALUE {
                    pack.push(member);
                    return true;
                }
                self.convert(false);
            }
            SetValue::Table(_) => {}
        }
        match self {
            SetValue::Packed(pack) => {
                pack.push(member);
                true
            }
            SetValue::Table(table) => table.find_or_insert_with(member, || CompactBytes::new(member)).1,
            SetValue::Ints(_) => false,
        }
    }

    /// Re-encodes the members as packed or as a table; the caller then adds
    /// the member that did not fit.
    fn convert(&mut self, packed: bool) {
        let capacity = self.len() + 1;
        let mut members = Vec::with_capacity(capacity);
        for member in self.iter() {
            members.push(member.to_bytes());
        }
        *self = if packed {
            let mut pack = Pack::new();
            for member in &members {
                pack.push(member);
            }
            SetValue::Packed(pack)
        } else {
            let mut table = DenseTable::with_capacity(capacity);
            for member in &members {
                table.insert_new(CompactBytes::new(member));
            }
            SetValue::Table(table)
        };
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(ints) => match parse_i64(member).map(|value| ints.binary_search(&value)) {
                Some(Ok(at)) => {
                    ints.remove(at);
                    true
                }
                _ => false,
            },
            SetValue::Packed(pack) => match pack.entries().find(|entry| entry.data == member) {
                Some(entry) => {
                    pack.remove_span(entry.start, entry.end, 1);
                    true
                }
                None => false,
            },
            SetValue::Table(table) => table.remove(member).is_some(),
        }
    }

    /// Members in storage order (ascending for the integer encoding).
    pub fn iter(&self) -> SetIter<'_> {
        match self {
            SetValue::Ints(ints) => SetIter::Ints(ints.iter()),
            SetValue::Packed(pack) => SetIter::Packed(pack.entries()),
            SetValue::Table(table) => SetIter::Table(table.iter()),
        }
    }

    /// The member at storage position `index`.
    pub fn at(&self, index: usize) -> Option<StrRef<'_>> {
        match self {
            SetValue::Ints(ints) => ints.get(index).map(|value| StrRef::Int(*value)),
            SetValue::Packed(pack) => pack.nth(index).map(|entry| StrRef::Bytes(entry.data)),
            SetValue::Table(table) => table.get(index).map(|member| StrRef::Bytes(member.as_bytes())),
        }
    }

    /// Heap bytes held, members' own bytes estimated from `samples` of
    /// them (every one when 0).
    pub fn heap_bytes_sampled(&self, samples: usize) -> usize {
        match self {
            SetValue::Ints(ints) => ints.capacity() * std::mem::size_of::<i64>(),
            SetValue::Packed(pack) => pack.heap_bytes(),
            SetValue::Table(table) => {
                table.overhead_bytes() + sampled_sum(table.iter(), samples, CompactBytes::heap_bytes)
            }
        }
    }
}

pub enum SetIter<'a> {
    Ints(std::slice::Iter<'a, i64>),
    Packed(PackIter<'a>),
    Table(std::slice::Iter<'a, CompactBytes>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = StrRef<'a>;

    fn next(&mut self) -> Option<StrRef<'a>> {
        match self {
            SetIter::Ints(ints) => ints.next().map(|value| StrRef::Int(*value)),
            SetIter::Packed(entries) => entries.next().map(|entry| StrRef::Bytes(entry.data)),
            SetIter::Table(members) => members.next().map(|member| StrRef::Bytes(member.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn members(set: &SetValue) -> BTreeSet<Vec<u8>> {
        set.iter().map(|member| member.to_bytes().to_vec()).collect()
    }

    #[test]
    fn integers_then_packed_then_table() {
        let mut set = SetValue::new();
        assert!(set.insert(b"3"));
        assert!(set.insert(b"1"));
        assert!(!set.insert(b"3"));
        assert_eq!(set.encoding_name(), "intset");
        assert_eq!(set.iter().map(|m| m.to_bytes()).collect::<Vec<_>>(), vec!["1", "3"]);
        // "01" is not an integer as Redis sees it: it must stay "01".
        assert!(set.insert(b"01"));
        assert_eq!(set.encoding_name(), "listpack");
        assert!(set.contains(b"01") && set.contains(b"1") && !set.contains(b"2"));
        assert!(set.insert(&[b'x'; PACKED_MAX_VALUE + 1]));
        assert_eq!(set.encoding_name(), "hashtable");
        assert_eq!(set.len(), 4);
        assert!(set.remove(b"1"));
        assert!(!set.remove(b"1"));
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn too_many_integers_become_a_table() {
        let mut set = SetValue::new();
        for i in 0..=INTSET_MAX_ENTRIES {
            assert!(set.insert(i.to_string().as_bytes()));
        }
        assert_eq!(set.encoding_name(), "hashtable");
        assert_eq!(set.len(), INTSET_MAX_ENTRIES + 1);
        assert!(set.contains(b"512"));
    }

    #[test]
    fn encodings_agree() {
        let mut a = SetValue::new();
        let mut b = SetValue::new();
        b.convert(false);
        for i in 0..300u32 {
            let member = if i % 3 == 0 {
                format!("m{}", i % 50)
            } else {
                (i % 70).to_string()
            };
            assert_eq!(a.insert(member.as_bytes()), b.insert(member.as_bytes()));
            let gone = (i % 11).to_string();
            assert_eq!(a.remove(gone.as_bytes()), b.remove(gone.as_bytes()));
            assert_eq!(members(&a), members(&b));
        }
    }
}
