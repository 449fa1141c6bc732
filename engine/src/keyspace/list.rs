//! List values: a ring buffer of compact strings. Pushes and pops at both
//! ends are O(1), LINDEX and LSET are O(1) (Redis's quicklist makes them
//! O(n)), and elements up to 22 bytes cost no allocation of their own.

use std::collections::VecDeque;

use super::compact::CompactBytes;
use super::memory::sampled_sum;

#[derive(Default)]
pub struct ListValue {
    items: VecDeque<CompactBytes>,
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl ListValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, end: End, element: &[u8]) {
        let element = CompactBytes::new(element);
        match end {
            End::Head => self.items.push_front(element),
            End::Tail => self.items.push_back(element),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<CompactBytes> {
        let popped = match end {
            End::Head => self.items.pop_front(),
            End::Tail => self.items.pop_back(),
        };
        self.shrink_if_sparse();
        popped
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(CompactBytes::as_bytes)
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, element: &[u8]) -> bool {
        match self.items.get_mut(index) {
            Some(slot) => {
                *slot = CompactBytes::new(element);
                true
            }
            None => false,
        }
    }

    pub fn insert(&mut self, index: usize, element: &[u8]) {
        if index <= self.items.len() {
            self.items.insert(index, CompactBytes::new(element));
        }
    }

    pub fn remove(&mut self, index: usize) -> Option<CompactBytes> {
        let removed = self.items.remove(index);
        self.shrink_if_sparse();
        removed
    }

    /// Elements `start..=stop`, clamped to the list (empty when start > stop).
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let len = self.items.len();
        let end = stop.saturating_add(1).min(len);
        self.items.range(start.min(end)..end).map(CompactBytes::as_bytes)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.items.iter().map(CompactBytes::as_bytes)
    }

    /// Keeps only `start..=stop` (clamped by the caller; empty when start > stop).
    pub fn retain_range(&mut self, start: usize, stop: usize) {
        if start > stop || start >= self.items.len() {
            self.items.clear();
        } else {
            self.items.truncate(stop.saturating_add(1));
            self.items.drain(..start);
        }
        self.shrink_if_sparse();
    }

    /// Keeps the elements for which `keep` says so, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        self.items.retain(|item| keep(item.as_bytes()));
        self.shrink_if_sparse();
    }

    fn shrink_if_sparse(&mut self) {
        let capacity = self.items.capacity();
        if capacity > 64 && self.items.len() < capacity / 4 {
            self.items.shrink_to(self.items.len() * 2);
        }
    }

    /// Heap bytes held, elements' own bytes estimated from `samples` of
    /// them (every one when 0).
    pub fn heap_bytes_sampled(&self, samples: usize) -> usize {
        self.items.capacity() * std::mem::size_of::<CompactBytes>()
            + sampled_sum(self.items.iter(), samples, CompactBytes::heap_bytes)
    }
}
