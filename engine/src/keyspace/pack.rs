//! A packed sequence of byte strings, Redis's listpack idea: small hashes and
//! sets store their elements back to back in one allocation, each preceded
//! by its length as a LEB128 varint. Lookups are linear, which is faster
//! than hashing for the few dozen short elements these encodings are used
//! for, and the memory is close to the bytes themselves.

#[derive(Clone, Default)]
pub struct Pack {
    bytes: Vec<u8>,
    count: usize,
}

/// One element and where it sits, so it can be replaced or removed.
#[derive(Clone, Copy)]
pub struct PackEntry<'a> {
    /// Offset of the length header.
    pub start: usize,
    /// Offset just past the data.
    pub end: usize,
    pub data: &'a [u8],
}

fn put_varint(out: &mut Vec<u8>, mut value: usize) {
    loop {
        // The low 7 bits fit in a byte by construction.
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads a varint at `pos`; returns the value and the offset after it.
fn get_varint(bytes: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    let mut shift = 0u32;
    loop {
        let byte = *bytes.get(pos)?;
        pos += 1;
        value |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some((value, pos));
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
}

fn encoded(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    put_varint(&mut out, data.len());
    out.extend_from_slice(data);
    out
}

impl Pack {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entries(&self) -> PackIter<'_> {
        PackIter {
            bytes: &self.bytes,
            pos: 0,
        }
    }

    /// The element at `index` (linear).
    pub fn nth(&self, index: usize) -> Option<PackEntry<'_>> {
        self.entries().nth(index)
    }

    pub fn push(&mut self, data: &[u8]) {
        // Exact reservations keep the allocation tight, like a listpack.
        self.bytes.reserve_exact(data.len() + 2);
        put_varint(&mut self.bytes, data.len());
        self.bytes.extend_from_slice(data);
        self.count += 1;
    }

    /// Replaces the element `entry` (from this pack) with `data`.
    pub fn replace(&mut self, entry_start: usize, entry_end: usize, data: &[u8]) {
        if entry_start <= entry_end && entry_end <= self.bytes.len() {
            self.bytes.splice(entry_start..entry_end, encoded(data));
        }
    }

    /// Removes the elements stored in `start..end` (`count` of them).
    pub fn remove_span(&mut self, start: usize, end: usize, count: usize) {
        if start <= end && end <= self.bytes.len() {
            self.bytes.drain(start..end);
            self.count = self.count.saturating_sub(count);
            if self.bytes.capacity() > self.bytes.len() * 2 + 64 {
                self.bytes.shrink_to_fit();
            }
        }
    }

    /// Bytes allocated for the elements.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

pub struct PackIter<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = PackEntry<'a>;

    fn next(&mut self) -> Option<PackEntry<'a>> {
        let start = self.pos;
        let (len, data_start) = get_varint(self.bytes, start)?;
        let end = data_start.checked_add(len)?;
        let data = self.bytes.get(data_start..end)?;
        self.pos = end;
        Some(PackEntry { start, end, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(pack: &Pack) -> Vec<Vec<u8>> {
        pack.entries().map(|entry| entry.data.to_vec()).collect()
    }

    #[test]
    fn push_replace_remove() {
        let mut pack = Pack::new();
        let long = vec![7u8; 300];
        pack.push(b"a");
        pack.push(&long);
        pack.push(b"");
        assert_eq!(contents(&pack), vec![b"a".to_vec(), long.clone(), vec![]]);
        let second = pack.nth(1).map(|entry| (entry.start, entry.end));
        let (start, end) = second.unwrap_or_default();
        pack.replace(start, end, b"bb");
        assert_eq!(contents(&pack), vec![b"a".to_vec(), b"bb".to_vec(), vec![]]);
        let first = pack.nth(0).map(|entry| (entry.start, entry.end));
        let (start, end) = first.unwrap_or_default();
        pack.remove_span(start, end, 1);
        assert_eq!(contents(&pack), vec![b"bb".to_vec(), vec![]]);
        assert_eq!(pack.len(), 2);
    }
}
