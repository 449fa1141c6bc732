//! Byte strings that live inline when short.
//!
//! Keys, list elements, set members and hash fields are mostly short, so a
//! heap allocation (and its allocator header) for each would dominate their
//! memory. [`CompactBytes`] is 24 bytes: up to [`INLINE_CAPACITY`] bytes sit
//! in the value itself, longer ones in an exactly sized boxed slice.

use std::fmt;

/// The longest byte string stored without a heap allocation.
pub const INLINE_CAPACITY: usize = 22;

#[derive(Clone)]
pub enum CompactBytes {
    Inline { len: u8, data: [u8; INLINE_CAPACITY] },
    Heap(Box<[u8]>),
}

impl CompactBytes {
    pub fn new(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_CAPACITY => {
                let mut data = [0u8; INLINE_CAPACITY];
                if let Some(prefix) = data.get_mut(..bytes.len()) {
                    prefix.copy_from_slice(bytes);
                }
                CompactBytes::Inline { len, data }
            }
            _ => CompactBytes::Heap(bytes.into()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, data } => data.get(..usize::from(*len)).unwrap_or_default(),
            CompactBytes::Heap(bytes) => bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated on the heap for this string (0 when inline).
    pub fn heap_bytes(&self) -> usize {
        match self {
            CompactBytes::Inline { .. } => 0,
            CompactBytes::Heap(bytes) => bytes.len(),
        }
    }
}

impl PartialEq for CompactBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for CompactBytes {}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", bytes::Bytes::copy_from_slice(self.as_bytes()))
    }
}

impl From<&[u8]> for CompactBytes {
    fn from(bytes: &[u8]) -> Self {
        CompactBytes::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_24_bytes() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
    }

    #[test]
    fn round_trips_every_length_around_the_inline_limit() {
        for len in 0..=INLINE_CAPACITY + 2 {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let compact = CompactBytes::new(&bytes);
            assert_eq!(compact.as_bytes(), &bytes[..]);
            assert_eq!(compact.len(), len);
            assert_eq!(compact.heap_bytes() == 0, len <= INLINE_CAPACITY);
        }
    }
}
