//! Sorted-set values (Redis ZSET): unique byte-string members, each with an
//! `f64` score, ordered by score ascending and, for equal scores, by member
//! bytes (memcmp order).
//!
//! Two encodings, chosen automatically and invisible to callers (their names
//! match what Redis reports through OBJECT ENCODING):
//!
//! * **listpack** (compact): one `Vec<(Bytes, f64)>` kept sorted. Used while
//!   the set has at most [`COMPACT_MAX_ENTRIES`] members, none longer than
//!   [`COMPACT_MAX_MEMBER_LEN`] bytes (Redis's default
//!   `zset-max-listpack-entries` / `zset-max-listpack-value`). At that size a
//!   linear scan beats hashing and pointer chasing, and nothing but the
//!   vector's buffer is allocated.
//! * **skiplist**: an order-statistic skip list stored in arenas with `u32`
//!   links, plus a hash index from member to node. See [`SkipList`] and
//!   [`Large`] for the layout; it costs about 66-72 bytes per member on top
//!   of the member bytes, where a `HashMap<Bytes, f64>` beside a separate
//!   ordered structure holding its own `Bytes` would cost well over 100.
//!
//! A set converts to the skip list when it outgrows either limit, and back
//! when it has shrunk to half the entry limit with no long member left; the
//! gap between the two thresholds keeps a set whose size hovers around 128
//! from converting on every ZADD/ZREM.
//!
//! Scores are never NaN: callers reject NaN (Redis answers "not a float" or
//! "resulting score is not a number") before reaching this type. `-0.0` and
//! `0.0` compare equal, exactly as Redis's C `double` comparisons do; setting
//! a member's score to one when it holds the other keeps the stored value.

use std::fmt;
use std::hash::BuildHasher;
use std::iter::FusedIterator;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// Most members the compact encoding holds (Redis `zset-max-listpack-entries`).
pub const COMPACT_MAX_ENTRIES: usize = 128;

/// Longest member, in bytes, the compact encoding holds (Redis
/// `zset-max-listpack-value`).
pub const COMPACT_MAX_MEMBER_LEN: usize = 64;

/// A skip-list set returns to the compact encoding once it has at most this
/// many members (and none is long). Half the growth threshold, so that
/// converting one way costs O(n) only after Ω(n) operations since the last
/// conversion the other way.
const COMPACT_RETURN_ENTRIES: usize = COMPACT_MAX_ENTRIES / 2;

/// Lower bound of a score range, or upper bound; `f64::INFINITY` and
/// `f64::NEG_INFINITY` express Redis's `+inf` / `-inf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreBound {
    Inclusive(f64),
    Exclusive(f64),
}

impl ScoreBound {
    /// Whether `score` falls short of this bound used as a range minimum.
    /// True on a prefix of the set's order, which is what lets a range start
    /// be found by one descent.
    fn is_below_min(&self, score: f64) -> bool {
        match *self {
            ScoreBound::Inclusive(min) => score < min,
            ScoreBound::Exclusive(min) => score <= min,
        }
    }

    /// Whether `score` is within this bound used as a range maximum (true on
    /// a prefix of the order).
    fn is_within_max(&self, score: f64) -> bool {
        match *self {
            ScoreBound::Inclusive(max) => score <= max,
            ScoreBound::Exclusive(max) => score < max,
        }
    }
}

/// Bound of a lexicographic range (ZRANGEBYLEX's `[a`, `(a`, `-`, `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    Inclusive(Bytes),
    Exclusive(Bytes),
    NegInf,
    PosInf,
}

impl LexBound {
    /// Whether `member` falls short of this bound used as a range minimum.
    fn is_below_min(&self, member: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(min) => member < &min[..],
            LexBound::Exclusive(min) => member <= &min[..],
        }
    }

    /// Whether `member` is within this bound used as a range maximum.
    fn is_within_max(&self, member: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(max) => member <= &max[..],
            LexBound::Exclusive(max) => member < &max[..],
        }
    }
}

/// The set's order: `(a_score, a_member) < (b_score, b_member)`.
///
/// `<` and `==` on `f64` treat `-0.0` and `0.0` as one score, as Redis does.
#[inline]
fn key_lt(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

const DEFAULT_LEVEL_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Seed of the generator that picks skip-list node heights. A constant by
/// default so that runs are reproducible; see [`set_level_seed`].
static LEVEL_SEED: AtomicU64 = AtomicU64::new(DEFAULT_LEVEL_SEED);

/// Sets the seed from which every sorted set converted to the skip-list
/// encoding from now on draws its node heights.
///
/// Heights never affect results, only speed. With the default constant seed,
/// anyone can predict which insertion gets a tall node and, by choosing
/// scores, pile the tall nodes at one end of a set so that searches at the
/// other end degrade towards O(n); a server facing untrusted clients can
/// close that by calling this once at start-up with a random value. A seed
/// of 0 (which the generator cannot use) selects the default.
pub fn set_level_seed(seed: u64) {
    let seed = if seed == 0 { DEFAULT_LEVEL_SEED } else { seed };
    LEVEL_SEED.store(seed, AtomicOrdering::Relaxed);
}

/// A Redis sorted set. See the module documentation for the encodings.
#[derive(Clone, Default)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Sorted by `(score, member)`; at most `COMPACT_MAX_ENTRIES` entries,
    /// no member longer than `COMPACT_MAX_MEMBER_LEN`.
    Compact(Vec<(Bytes, f64)>),
    /// Boxed so that a `ZSet` stays as small as a `Vec` in the keyspace's
    /// value enum; the skip list's own fields are several hundred bytes.
    Skip(Box<Large>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Compact(Vec::new())
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Compact(v) => v.len(),
            Repr::Skip(l) => l.list.len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding's name as Redis's OBJECT ENCODING reports it.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Compact(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Adds `member` with `score`, or moves an existing member to `score`.
    /// Returns the member's previous score if it existed. A new score equal
    /// to the old one (including `-0.0` against `0.0`) leaves the stored
    /// value untouched. `score` must not be NaN.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan(), "ZSet scores are never NaN; callers reject it");
        match &mut self.repr {
            Repr::Skip(l) => l.insert(member, score),
            Repr::Compact(v) => {
                if let Some(pos) = compact_position(v, &member) {
                    let old = v[pos].1;
                    if old != score {
                        compact_rescore(v, pos, score);
                    }
                    return Some(old);
                }
                if member.len() <= COMPACT_MAX_MEMBER_LEN && v.len() < COMPACT_MAX_ENTRIES {
                    let at = v.partition_point(|(m, s)| key_lt(*s, m, score, &member));
                    v.insert(at, (member, score));
                    return None;
                }
                let mut large = Box::new(Large::from_sorted(std::mem::take(v)));
                let old = large.insert(member, score);
                self.repr = Repr::Skip(large);
                old
            }
        }
    }

    /// Removes `member`, returning its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let removed = match &mut self.repr {
            Repr::Compact(v) => compact_position(v, member).map(|pos| v.remove(pos).1),
            Repr::Skip(l) => l.remove(member),
        };
        if removed.is_some() {
            self.after_removal();
        }
        removed
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Compact(v) => compact_position(v, member).map(|pos| v[pos].1),
            Repr::Skip(l) => l.find(member).map(|x| l.list.nodes[x as usize].score),
        }
    }

    /// 0-based position of `member` in ascending order (ZRANK).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        self.rank_with_score(member).map(|(rank, _)| rank)
    }

    /// 0-based position of `member` in descending order (ZREVRANK).
    pub fn rev_rank(&self, member: &[u8]) -> Option<usize> {
        self.rank(member).map(|rank| self.len() - 1 - rank)
    }

    /// Ascending rank and score of `member` in one lookup (ZRANK ... WITHSCORE).
    pub fn rank_with_score(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Compact(v) => compact_position(v, member).map(|pos| (pos, v[pos].1)),
            Repr::Skip(l) => l.find(member).map(|x| {
                let rank = l.list.rank_of(x) as usize - 1;
                (rank, l.list.nodes[x as usize].score)
            }),
        }
    }

    /// The entry at 0-based ascending `rank`, in O(log n) (e.g. for
    /// ZRANDMEMBER).
    pub fn get_by_rank(&self, rank: usize) -> Option<(&Bytes, f64)> {
        match &self.repr {
            Repr::Compact(v) => v.get(rank).map(|(m, s)| (m, *s)),
            Repr::Skip(l) => {
                if rank >= l.list.len as usize {
                    return None;
                }
                let node = &l.list.nodes[l.list.node_at(rank as u32 + 1) as usize];
                Some((&node.member, node.score))
            }
        }
    }

    /// Entries with ascending ranks `start..=stop_inclusive` (ZRANGE with
    /// non-negative indexes). `stop_inclusive` is clamped to the last rank;
    /// empty if `start > stop_inclusive` or `start >= len`.
    pub fn by_rank(&self, start: usize, stop_inclusive: usize) -> Vec<(Bytes, f64)> {
        match self.clamp_ranks(start, stop_inclusive) {
            Some((first, last)) => self.collect(first, last, false),
            None => Vec::new(),
        }
    }

    /// Entries with descending ranks `start..=stop_inclusive`, highest score
    /// first (ZREVRANGE), clamped like [`ZSet::by_rank`].
    pub fn rev_by_rank(&self, start: usize, stop_inclusive: usize) -> Vec<(Bytes, f64)> {
        match self.clamp_ranks(start, stop_inclusive) {
            Some((first, last)) => {
                let top = self.len() - 1;
                self.collect(top - last, top - first, true)
            }
            None => Vec::new(),
        }
    }

    /// Entries with `min <= score <= max` (bounds as given), skipping
    /// `offset` and returning at most `limit` (LIMIT; `None` for no limit).
    /// `min` and `max` are always the lower and upper bound; `rev` returns
    /// the range highest first, with `offset` counted from the top, as
    /// ZREVRANGEBYSCORE does. O(log n + returned).
    pub fn by_score(
        &self,
        min: &ScoreBound,
        max: &ScoreBound,
        offset: usize,
        limit: Option<usize>,
        rev: bool,
    ) -> Vec<(Bytes, f64)> {
        let (lo, hi) = self.score_span(min, max);
        self.window(lo, hi, offset, limit, rev)
    }

    /// Number of entries with scores within the bounds (ZCOUNT), in O(log n).
    pub fn count_by_score(&self, min: &ScoreBound, max: &ScoreBound) -> usize {
        let (lo, hi) = self.score_span(min, max);
        hi - lo
    }

    /// Like [`ZSet::by_score`], over members between lexicographic bounds.
    /// Meaningful only when all scores are equal, as Redis documents for
    /// ZRANGEBYLEX; otherwise the result is some unspecified subset (never a
    /// panic).
    pub fn by_lex(
        &self,
        min: &LexBound,
        max: &LexBound,
        offset: usize,
        limit: Option<usize>,
        rev: bool,
    ) -> Vec<(Bytes, f64)> {
        let (lo, hi) = self.lex_span(min, max);
        self.window(lo, hi, offset, limit, rev)
    }

    /// Number of members between lexicographic bounds (ZLEXCOUNT), in
    /// O(log n); same equal-score assumption as [`ZSet::by_lex`].
    pub fn count_by_lex(&self, min: &LexBound, max: &LexBound) -> usize {
        let (lo, hi) = self.lex_span(min, max);
        hi - lo
    }

    /// Removes and returns up to `count` lowest entries, lowest first.
    pub fn pop_min(&mut self, count: usize) -> Vec<(Bytes, f64)> {
        let count = count.min(self.len());
        if count == 0 {
            return Vec::new();
        }
        let popped = match &mut self.repr {
            Repr::Compact(v) => v.drain(..count).collect(),
            Repr::Skip(l) => {
                let mut out = Vec::with_capacity(count);
                l.delete_ranks(0, count as u32, |m, s| out.push((m, s)));
                out
            }
        };
        self.after_removal();
        popped
    }

    /// Removes and returns up to `count` highest entries, highest first.
    pub fn pop_max(&mut self, count: usize) -> Vec<(Bytes, f64)> {
        let len = self.len();
        let count = count.min(len);
        if count == 0 {
            return Vec::new();
        }
        let popped = match &mut self.repr {
            Repr::Compact(v) => v.drain(len - count..).rev().collect(),
            Repr::Skip(l) => {
                let mut out = Vec::with_capacity(count);
                l.delete_ranks((len - count) as u32, count as u32, |m, s| out.push((m, s)));
                out.reverse();
                out
            }
        };
        self.after_removal();
        popped
    }

    /// Removes ascending ranks `start..=stop_inclusive`, clamped like
    /// [`ZSet::by_rank`] (ZREMRANGEBYRANK); returns how many were removed.
    pub fn remove_range_by_rank(&mut self, start: usize, stop_inclusive: usize) -> usize {
        let Some((first, last)) = self.clamp_ranks(start, stop_inclusive) else {
            return 0;
        };
        match &mut self.repr {
            Repr::Compact(v) => {
                v.drain(first..=last);
            }
            Repr::Skip(l) => l.delete_ranks(first as u32, (last - first + 1) as u32, |_, _| {}),
        }
        self.after_removal();
        last - first + 1
    }

    /// Removes entries with scores within the bounds (ZREMRANGEBYSCORE).
    pub fn remove_range_by_score(&mut self, min: &ScoreBound, max: &ScoreBound) -> usize {
        let (lo, hi) = self.score_span(min, max);
        if lo == hi {
            return 0;
        }
        self.remove_range_by_rank(lo, hi - 1)
    }

    /// Removes members between lexicographic bounds (ZREMRANGEBYLEX); same
    /// equal-score assumption as [`ZSet::by_lex`].
    pub fn remove_range_by_lex(&mut self, min: &LexBound, max: &LexBound) -> usize {
        let (lo, hi) = self.lex_span(min, max);
        if lo == hi {
            return 0;
        }
        self.remove_range_by_rank(lo, hi - 1)
    }

    /// All entries in ascending order; `.rev()` gives descending order.
    pub fn iter(&self) -> Iter<'_> {
        let inner = match &self.repr {
            Repr::Compact(v) => IterInner::Compact(v.iter()),
            Repr::Skip(l) => IterInner::Skip {
                list: &l.list,
                front: l.list.nodes[HEAD as usize].next0,
                back: l.list.tail,
                remaining: l.list.len as usize,
            },
        };
        Iter { inner }
    }

    /// Rough count of heap bytes held (buffers at capacity plus member
    /// bytes), for INFO and MEMORY USAGE. Member bytes are counted in full
    /// even where a `Bytes` shares its buffer with other owners.
    pub fn memory_bytes(&self) -> usize {
        match &self.repr {
            Repr::Compact(v) => {
                v.capacity() * std::mem::size_of::<(Bytes, f64)>() + v.iter().map(|(m, _)| m.len()).sum::<usize>()
            }
            Repr::Skip(l) => l.memory_bytes(),
        }
    }

    /// `(first, last)` ascending ranks after clamping, or `None` when empty.
    fn clamp_ranks(&self, start: usize, stop_inclusive: usize) -> Option<(usize, usize)> {
        let len = self.len();
        if start >= len || start > stop_inclusive {
            return None;
        }
        Some((start, stop_inclusive.min(len - 1)))
    }

    /// How many leading entries satisfy `pred`, which must hold on a prefix
    /// of the order (anything else gives an unspecified count, not a panic).
    fn prefix_len(&self, mut pred: impl FnMut(&[u8], f64) -> bool) -> usize {
        match &self.repr {
            Repr::Compact(v) => v.partition_point(|(m, s)| pred(m, *s)),
            Repr::Skip(l) => l.list.seek(|node| pred(&node.member, node.score)).1 as usize,
        }
    }

    /// The score range as half-open ascending ranks `lo..hi`.
    fn score_span(&self, min: &ScoreBound, max: &ScoreBound) -> (usize, usize) {
        let lo = self.prefix_len(|_, s| min.is_below_min(s));
        let hi = self.prefix_len(|_, s| max.is_within_max(s));
        (lo, hi.max(lo))
    }

    /// The lexicographic range as half-open ascending ranks `lo..hi`.
    fn lex_span(&self, min: &LexBound, max: &LexBound) -> (usize, usize) {
        let lo = self.prefix_len(|m, _| min.is_below_min(m));
        let hi = self.prefix_len(|m, _| max.is_within_max(m));
        (lo, hi.max(lo))
    }

    /// Applies LIMIT `offset`/`limit` (and direction) to ranks `lo..hi`.
    /// Offsets become rank arithmetic, so skipping costs nothing, unlike
    /// walking past `offset` entries as Redis does.
    fn window(&self, lo: usize, hi: usize, offset: usize, limit: Option<usize>, rev: bool) -> Vec<(Bytes, f64)> {
        let available = (hi - lo).saturating_sub(offset);
        let take = limit.map_or(available, |limit| limit.min(available));
        if take == 0 {
            return Vec::new();
        }
        if rev {
            self.collect(hi - offset - take, hi - offset - 1, true)
        } else {
            self.collect(lo + offset, lo + offset + take - 1, false)
        }
    }

    /// Clones out ascending ranks `first..=last` (valid, non-empty), in
    /// ascending order or, with `rev`, descending.
    fn collect(&self, first: usize, last: usize, rev: bool) -> Vec<(Bytes, f64)> {
        match &self.repr {
            Repr::Compact(v) => {
                let slice = &v[first..=last];
                if rev {
                    slice.iter().rev().cloned().collect()
                } else {
                    slice.to_vec()
                }
            }
            Repr::Skip(l) => l.list.collect(first as u32, last as u32, rev),
        }
    }

    /// Bookkeeping after entries were removed: a skip list that got small
    /// enough returns to the compact encoding, and buffers that are mostly
    /// empty give memory back.
    fn after_removal(&mut self) {
        match &mut self.repr {
            Repr::Compact(v) => {
                // Halving when a quarter full keeps shrinking amortised O(1).
                if v.capacity() > 8 && v.len() * 4 <= v.capacity() {
                    v.shrink_to(v.len() * 2);
                }
            }
            Repr::Skip(l) => {
                if l.list.len as usize <= COMPACT_RETURN_ENTRIES && l.long_members == 0 {
                    self.repr = Repr::Compact(l.take_sorted());
                } else {
                    l.shrink_if_sparse();
                }
            }
        }
    }

    /// Checks every structural invariant; panics with a description if one
    /// is broken.
    #[cfg(test)]
    fn check_invariants(&self) {
        match &self.repr {
            Repr::Compact(v) => {
                assert!(v.len() <= COMPACT_MAX_ENTRIES, "compact set too long");
                for (m, s) in v {
                    assert!(m.len() <= COMPACT_MAX_MEMBER_LEN, "long member in compact set");
                    assert!(!s.is_nan());
                }
                for pair in v.windows(2) {
                    assert!(
                        key_lt(pair[0].1, &pair[0].0, pair[1].1, &pair[1].0),
                        "compact set out of order"
                    );
                }
            }
            Repr::Skip(l) => {
                assert!(
                    l.list.len as usize > COMPACT_RETURN_ENTRIES || l.long_members > 0,
                    "skip list small enough to be compact"
                );
                l.check_invariants();
            }
        }
    }
}

/// Position of `member` in a compact set. A linear scan: at most 128
/// entries, and comparing lengths first rules most out without touching
/// their bytes.
fn compact_position(v: &[(Bytes, f64)], member: &[u8]) -> Option<usize> {
    v.iter().position(|(m, _)| m.as_ref() == member)
}

/// Moves the compact entry at `pos` to where `score` puts it, rotating only
/// the entries in between rather than removing and reinserting (two shifts of
/// everything after `pos`).
fn compact_rescore(v: &mut [(Bytes, f64)], pos: usize, score: f64) {
    let at = v.partition_point(|(m, s)| key_lt(*s, m, score, &v[pos].0));
    if at > pos {
        // Moving up: the entry itself counts among those below its new key.
        v[pos..at].rotate_left(1);
        v[at - 1].1 = score;
    } else {
        v[at..=pos].rotate_right(1);
        v[at].1 = score;
    }
}

impl PartialEq for ZSet {
    /// Same members with equal scores (`-0.0 == 0.0`), whatever the encodings.
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
    }
}

impl fmt::Debug for ZSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Entries<'a>(&'a ZSet);
        impl fmt::Debug for Entries<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("ZSet")
            .field("encoding", &self.encoding())
            .field("entries", &Entries(self))
            .finish()
    }
}

impl<'a> IntoIterator for &'a ZSet {
    type Item = (&'a Bytes, f64);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a set's entries in ascending order (double-ended).
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Compact(std::slice::Iter<'a, (Bytes, f64)>),
    Skip {
        list: &'a SkipList,
        front: u32,
        back: u32,
        remaining: usize,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Bytes, f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Compact(it) => it.next().map(|(m, s)| (m, *s)),
            IterInner::Skip {
                list, front, remaining, ..
            } => {
                if *remaining == 0 {
                    return None;
                }
                *remaining -= 1;
                let node = &list.nodes[*front as usize];
                *front = node.next0;
                Some((&node.member, node.score))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            IterInner::Compact(it) => it.len(),
            IterInner::Skip { remaining, .. } => *remaining,
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Compact(it) => it.next_back().map(|(m, s)| (m, *s)),
            IterInner::Skip {
                list, back, remaining, ..
            } => {
                if *remaining == 0 {
                    return None;
                }
                *remaining -= 1;
                let node = &list.nodes[*back as usize];
                *back = node.prev;
                Some((&node.member, node.score))
            }
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

// ---------------------------------------------------------------------------
// Skip-list encoding
// ---------------------------------------------------------------------------

/// "No node": the end of a level's chain, or no predecessor.
const NIL: u32 = u32::MAX;
/// The head sentinel is always node 0: it never moves, so it needs no patching
/// when the arena is compacted.
const HEAD: u32 = 0;
/// Height cap; with a 1/4 chance per extra level this covers 4^32 members,
/// far beyond the u32 arena limit.
const MAX_HEIGHT: usize = 32;

/// A skip-list node, 56 bytes (53 rounded up to `Bytes`'s alignment).
///
/// Level 0 is stored inline: 3/4 of nodes have height 1 and need nothing
/// else, and a level-0 link's span is always 1, so it stores none. Levels
/// `1..height` live in a block of `SkipList::blocks`.
#[derive(Clone)]
struct Node {
    member: Bytes,
    score: f64,
    /// Level-0 successor.
    next0: u32,
    /// Level-0 predecessor; `NIL` for the first node (its predecessor is the
    /// head), which lets reverse walks stop without a head check.
    prev: u32,
    /// Index of this node's block within `blocks[height - 2]`; unused (NIL)
    /// when `height == 1`.
    upper: u32,
    height: u8,
}

/// The order-statistic skip list, arena-allocated.
///
/// Every node, the head included, sits in `nodes`, addressed by `u32`
/// (half a pointer). The arena is kept dense: removing a node moves the
/// arena's last node into its slot (see [`SkipList::evict`]), so memory
/// follows the live size, with no free list and no compaction pauses.
///
/// Links above level 0 live in `blocks`, one vector per height class: class
/// `c` holds, for each node of height `c + 2`, a block of `2c + 3` words:
/// `[owner, next_1, span_1, ..., next_{c+1}, span_{c+1}]`. Equal-size blocks
/// per class make freeing a block a swap with the class's last block, whose
/// `owner` word says which node to repoint; so this arena stays dense too.
///
/// Spans: `span(x, l)` is `rank(next(x, l)) - rank(x)`, with the head at
/// rank 0 and a `NIL` successor taken to be at rank `len`. Summing spans
/// along a search path gives ranks in O(log n).
#[derive(Clone)]
struct SkipList {
    nodes: Vec<Node>,
    blocks: [Vec<u32>; MAX_HEIGHT - 1],
    tail: u32,
    len: u32,
    /// Levels in use: the greatest height of a linked node, at least 1.
    level: u8,
    /// xorshift64 state for node heights; deterministic for a given seed.
    rng: u64,
}

/// Predecessors of a position at every level, and their ranks.
type Path = [u32; MAX_HEIGHT];

impl SkipList {
    fn with_capacity(capacity: usize, seed: u64) -> SkipList {
        let mut nodes = Vec::with_capacity(capacity + 1);
        nodes.push(Node {
            member: Bytes::new(),
            score: 0.0,
            next0: NIL,
            prev: NIL,
            upper: 0,
            height: MAX_HEIGHT as u8,
        });
        let mut blocks: [Vec<u32>; MAX_HEIGHT - 1] = std::array::from_fn(|_| Vec::new());
        // The head's block: owner HEAD, every level empty with span 0 (= len).
        let head_class = MAX_HEIGHT - 2;
        let head_block = &mut blocks[head_class];
        head_block.resize(Self::stride(head_class), 0);
        for lvl in 1..MAX_HEIGHT {
            head_block[2 * lvl - 1] = NIL;
        }
        SkipList {
            nodes,
            blocks,
            tail: NIL,
            len: 0,
            level: 1,
            rng: if seed == 0 { DEFAULT_LEVEL_SEED } else { seed },
        }
    }

    /// Words per block in height class `class`.
    #[inline]
    fn stride(class: usize) -> usize {
        2 * class + 3
    }

    /// Class and word index of the `next` field of `x`'s link at `lvl >= 1`
    /// (its span follows it).
    #[inline]
    fn slot(&self, x: u32, lvl: usize) -> (usize, usize) {
        let node = &self.nodes[x as usize];
        debug_assert!(lvl >= 1 && lvl < node.height as usize);
        let class = node.height as usize - 2;
        (class, node.upper as usize * Self::stride(class) + 2 * lvl - 1)
    }

    #[inline]
    fn next(&self, x: u32, lvl: usize) -> u32 {
        if lvl == 0 {
            return self.nodes[x as usize].next0;
        }
        let (class, at) = self.slot(x, lvl);
        self.blocks[class][at]
    }

    /// Span of `x`'s link at `lvl`; only meaningful for a non-NIL level-0
    /// link, where it is always 1 (callers never read a NIL level-0 span).
    #[inline]
    fn span(&self, x: u32, lvl: usize) -> u32 {
        if lvl == 0 {
            return 1;
        }
        let (class, at) = self.slot(x, lvl);
        self.blocks[class][at + 1]
    }

    #[inline]
    fn set_next(&mut self, x: u32, lvl: usize, to: u32) {
        if lvl == 0 {
            self.nodes[x as usize].next0 = to;
        } else {
            let (class, at) = self.slot(x, lvl);
            self.blocks[class][at] = to;
        }
    }

    /// Sets the span of `x`'s link at `lvl >= 1`.
    #[inline]
    fn set_span(&mut self, x: u32, lvl: usize, span: u32) {
        let (class, at) = self.slot(x, lvl);
        self.blocks[class][at + 1] = span;
    }

    /// Next height: 1, plus one more level with probability 1/4 each time,
    /// as Redis does (fewer links per node than 1/2, still O(log n) search).
    fn random_height(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // The multiply (xorshift64*) makes the top bits the best-mixed ones;
        // each pair of leading zero bits is a 1/4 event. Never zero, since
        // `x` is non-zero and the multiplier odd.
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (1 + bits.leading_zeros() as usize / 2).min(MAX_HEIGHT)
    }

    /// Appends an unlinked node with a fresh height and returns its index.
    fn alloc(&mut self, member: Bytes, score: f64) -> u32 {
        let x = self.nodes.len();
        // Indices are u32 with NIL reserved: a limit of ~4 billion members,
        // i.e. hundreds of gigabytes in one key, well past what the server
        // could hold.
        assert!(x < NIL as usize, "sorted set exceeds 2^32 - 1 members");
        let x = x as u32;
        let height = self.random_height();
        let mut upper = NIL;
        if height > 1 {
            let class = height - 2;
            let stride = Self::stride(class);
            let block = &mut self.blocks[class];
            upper = (block.len() / stride) as u32;
            block.reserve(stride);
            block.push(x);
            for _ in 1..height {
                block.extend_from_slice(&[NIL, 0]);
            }
        }
        self.nodes.push(Node {
            member,
            score,
            next0: NIL,
            prev: NIL,
            upper,
            height: height as u8,
        });
        x
    }

    /// The last node, at every level, strictly before key `(score, member)`,
    /// with the ranks of those nodes.
    fn predecessors(&self, score: f64, member: &[u8]) -> (Path, Path) {
        let mut path = [HEAD; MAX_HEIGHT];
        let mut ranks = [0u32; MAX_HEIGHT];
        let mut x = HEAD;
        let mut rank = 0;
        for lvl in (0..self.level as usize).rev() {
            loop {
                let nx = self.next(x, lvl);
                if nx == NIL {
                    break;
                }
                let node = &self.nodes[nx as usize];
                if !key_lt(node.score, &node.member, score, member) {
                    break;
                }
                rank += self.span(x, lvl);
                x = nx;
            }
            path[lvl] = x;
            ranks[lvl] = rank;
        }
        (path, ranks)
    }

    /// The last node, at every level, with 1-based rank at most `rank`.
    fn path_to_rank(&self, rank: u32) -> Path {
        let mut path = [HEAD; MAX_HEIGHT];
        let mut x = HEAD;
        let mut at = 0;
        for lvl in (0..self.level as usize).rev() {
            loop {
                let nx = self.next(x, lvl);
                if nx == NIL || at + self.span(x, lvl) > rank {
                    break;
                }
                at += self.span(x, lvl);
                x = nx;
            }
            path[lvl] = x;
        }
        path
    }

    /// The last node satisfying `before` (the head if none) and its 1-based
    /// rank (0 for the head). `before` must hold on a prefix of the order.
    fn seek(&self, mut before: impl FnMut(&Node) -> bool) -> (u32, u32) {
        let mut x = HEAD;
        let mut rank = 0;
        for lvl in (0..self.level as usize).rev() {
            loop {
                let nx = self.next(x, lvl);
                if nx == NIL || !before(&self.nodes[nx as usize]) {
                    break;
                }
                rank += self.span(x, lvl);
                x = nx;
            }
        }
        (x, rank)
    }

    /// The node at 1-based `rank` (`1..=len`).
    fn node_at(&self, rank: u32) -> u32 {
        debug_assert!(rank >= 1 && rank <= self.len);
        if rank == self.len {
            return self.tail;
        }
        let mut x = HEAD;
        let mut at = 0;
        for lvl in (0..self.level as usize).rev() {
            loop {
                let nx = self.next(x, lvl);
                if nx == NIL || at + self.span(x, lvl) > rank {
                    break;
                }
                at += self.span(x, lvl);
                x = nx;
            }
            if at == rank {
                break;
            }
        }
        x
    }

    /// 1-based rank of linked node `x`.
    fn rank_of(&self, x: u32) -> u32 {
        let target = &self.nodes[x as usize];
        let (found, rank) = self.seek(|node| !key_lt(target.score, &target.member, node.score, &node.member));
        debug_assert_eq!(found, x);
        rank
    }

    /// Clones out 0-based ranks `first..=last` (valid), ascending or, with
    /// `rev`, descending: one descent, then a walk along level 0.
    fn collect(&self, first: u32, last: u32, rev: bool) -> Vec<(Bytes, f64)> {
        let count = (last - first + 1) as usize;
        let mut out = Vec::with_capacity(count);
        let mut x = self.node_at(if rev { last + 1 } else { first + 1 });
        for _ in 0..count {
            let node = &self.nodes[x as usize];
            out.push((node.member.clone(), node.score));
            x = if rev { node.prev } else { node.next0 };
        }
        out
    }

    /// Links the allocated, unlinked node `x` at the position its key
    /// gives, at every level of its height.
    fn link(&mut self, x: u32) {
        let (mut path, mut ranks) = {
            let node = &self.nodes[x as usize];
            self.predecessors(node.score, &node.member)
        };
        let height = self.nodes[x as usize].height as usize;
        let level = self.level as usize;
        if height > level {
            // Newly used levels start at the head, whose NIL span there is
            // `len` (NIL counts as rank `len`).
            for lvl in level..height {
                path[lvl] = HEAD;
                ranks[lvl] = 0;
                self.set_span(HEAD, lvl, self.len);
            }
            self.level = height as u8;
        }
        for lvl in 0..height {
            let pred = path[lvl];
            let after = self.next(pred, lvl);
            self.set_next(x, lvl, after);
            self.set_next(pred, lvl, x);
            if lvl > 0 {
                // `x` lands at rank ranks[0] + 1: split pred's span there.
                // (span >= gap: the successor, or NIL at rank len, lies at or
                // after ranks[0].)
                let gap = ranks[0] - ranks[lvl];
                let span = self.span(pred, lvl);
                self.set_span(x, lvl, span - gap);
                self.set_span(pred, lvl, gap + 1);
            }
        }
        // Links passing over `x` now span one more node.
        for (lvl, &pred) in path.iter().enumerate().take(self.level as usize).skip(height) {
            let span = self.span(pred, lvl);
            self.set_span(pred, lvl, span + 1);
        }
        let pred = path[0];
        let after = self.nodes[x as usize].next0;
        self.nodes[x as usize].prev = if pred == HEAD { NIL } else { pred };
        if after == NIL {
            self.tail = x;
        } else {
            self.nodes[after as usize].prev = x;
        }
        self.len += 1;
    }

    /// Unlinks node `x`, given its predecessors at every level in use; the
    /// node stays in the arena with its own links intact.
    fn unlink(&mut self, x: u32, path: &Path) {
        for (lvl, &pred) in path.iter().enumerate().take(self.level as usize) {
            if self.next(pred, lvl) == x {
                let after = self.next(x, lvl);
                if lvl > 0 {
                    // Add before subtracting: x's NIL span may be 0.
                    let span = self.span(pred, lvl) + self.span(x, lvl) - 1;
                    self.set_span(pred, lvl, span);
                }
                self.set_next(pred, lvl, after);
            } else if lvl > 0 {
                let span = self.span(pred, lvl);
                self.set_span(pred, lvl, span - 1);
            }
        }
        let (prev, after) = {
            let node = &self.nodes[x as usize];
            (node.prev, node.next0)
        };
        if after == NIL {
            self.tail = prev;
        } else {
            self.nodes[after as usize].prev = prev;
        }
        while self.level > 1 && self.next(HEAD, self.level as usize - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Gives linked node `x` a new score, moving it only if its neighbours
    /// no longer bracket the new key (ZINCRBY often nudges a score without
    /// changing the order).
    fn set_score(&mut self, x: u32, score: f64) {
        let node = &self.nodes[x as usize];
        let after_prev = node.prev == NIL || {
            let p = &self.nodes[node.prev as usize];
            key_lt(p.score, &p.member, score, &node.member)
        };
        let before_next = node.next0 == NIL || {
            let n = &self.nodes[node.next0 as usize];
            key_lt(score, &node.member, n.score, &n.member)
        };
        if after_prev && before_next {
            self.nodes[x as usize].score = score;
            return;
        }
        let (path, _) = self.predecessors(node.score, &node.member);
        self.unlink(x, &path);
        self.nodes[x as usize].score = score;
        self.link(x);
    }

    /// Removes unlinked node `x` from the arena and returns it. To keep the
    /// arena dense the last node moves into slot `x`; if one did, its old
    /// index is returned so the caller can repoint its own references.
    fn evict(&mut self, x: u32) -> (Node, Option<u32>) {
        let last = (self.nodes.len() - 1) as u32;
        let moved = x != last;
        if moved {
            self.repoint(last, x);
        }
        let node = self.nodes.swap_remove(x as usize);
        self.free_block(node.height as usize, node.upper);
        (node, moved.then_some(last))
    }

    /// Redirects every link to linked node `from` to slot `to`, before the
    /// node is moved there. Level 0 is found through `prev`; only the quarter
    /// of nodes taller than 1 need a search for their upper predecessors.
    fn repoint(&mut self, from: u32, to: u32) {
        let (prev, next0, height, upper) = {
            let node = &self.nodes[from as usize];
            (node.prev, node.next0, node.height as usize, node.upper)
        };
        if height > 1 {
            // Search before patching anything: slot `to` still holds the
            // evicted node's stale links, and a search led into it could
            // loop.
            let (path, _) = {
                let node = &self.nodes[from as usize];
                self.predecessors(node.score, &node.member)
            };
            for (lvl, &pred) in path.iter().enumerate().take(height).skip(1) {
                debug_assert_eq!(self.next(pred, lvl), from);
                self.set_next(pred, lvl, to);
            }
            let class = height - 2;
            self.blocks[class][upper as usize * Self::stride(class)] = to;
        }
        let pred0 = if prev == NIL { HEAD } else { prev };
        self.nodes[pred0 as usize].next0 = to;
        if next0 == NIL {
            self.tail = to;
        } else {
            self.nodes[next0 as usize].prev = to;
        }
    }

    /// Frees the link block of an evicted node of `height`, moving the
    /// class's last block into the hole.
    fn free_block(&mut self, height: usize, upper: u32) {
        if height < 2 {
            return;
        }
        let class = height - 2;
        let stride = Self::stride(class);
        let block = &mut self.blocks[class];
        let hole = upper as usize * stride;
        let last = block.len() - stride;
        if hole != last {
            block.copy_within(last.., hole);
            let owner = block[hole];
            self.nodes[owner as usize].upper = upper;
        }
        block.truncate(last);
    }
}

/// The skip-list encoding: the list plus a hash index from member to node.
///
/// The index stores only the `u32` node index, hashing and comparing the
/// member through the node, so each member's `Bytes` exists once: 4 bytes
/// plus one control byte per bucket instead of the 40-byte `(Bytes, f64)`
/// entries of a `HashMap<Bytes, f64>`.
#[derive(Clone)]
struct Large {
    list: SkipList,
    index: HashTable<u32>,
    /// Randomly seeded per set, so collisions cannot be planned.
    hasher: DefaultHashBuilder,
    /// Sum of member lengths, for `memory_bytes` in O(1).
    member_bytes: usize,
    /// Members longer than `COMPACT_MAX_MEMBER_LEN`; while any remain the
    /// set cannot return to the compact encoding.
    long_members: u32,
}

impl Large {
    /// Builds from entries already in strictly ascending order, in O(n):
    /// each node is appended after the last node of every level it reaches.
    fn from_sorted(entries: Vec<(Bytes, f64)>) -> Large {
        let n = entries.len();
        // Room for the insertion that usually triggers the conversion.
        let mut list = SkipList::with_capacity(n + 1, LEVEL_SEED.load(AtomicOrdering::Relaxed));
        let hasher = DefaultHashBuilder::default();
        let mut index = HashTable::with_capacity(n + 1);
        let mut last = [HEAD; MAX_HEIGHT];
        let mut last_rank = [0u32; MAX_HEIGHT];
        let mut member_bytes = 0;
        let mut long_members = 0;
        let mut prev = NIL;
        for (member, score) in entries {
            member_bytes += member.len();
            if member.len() > COMPACT_MAX_MEMBER_LEN {
                long_members += 1;
            }
            let hash = hasher.hash_one(&member[..]);
            let x = list.alloc(member, score);
            list.len += 1;
            let rank = list.len;
            let height = list.nodes[x as usize].height as usize;
            for lvl in 0..height {
                list.set_next(last[lvl], lvl, x);
                if lvl > 0 {
                    list.set_span(last[lvl], lvl, rank - last_rank[lvl]);
                }
                last[lvl] = x;
                last_rank[lvl] = rank;
            }
            list.level = list.level.max(height as u8);
            list.nodes[x as usize].prev = prev;
            prev = x;
            index.insert_unique(hash, x, |&i| hasher.hash_one(&list.nodes[i as usize].member[..]));
        }
        list.tail = prev;
        // Close every level: the final links point to NIL, at rank len.
        for lvl in 1..MAX_HEIGHT {
            list.set_span(last[lvl], lvl, list.len - last_rank[lvl]);
        }
        Large {
            list,
            index,
            hasher,
            member_bytes,
            long_members,
        }
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.list.nodes;
        self.index
            .find(self.hasher.hash_one(member), |&i| {
                nodes[i as usize].member.as_ref() == member
            })
            .copied()
    }

    fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let hash = self.hasher.hash_one(&member[..]);
        let Large {
            list, index, hasher, ..
        } = self;
        // One probe both finds an existing member and reserves the slot for
        // a new one.
        let entry = index.entry(
            hash,
            |&i| list.nodes[i as usize].member == member,
            |&i| hasher.hash_one(&list.nodes[i as usize].member[..]),
        );
        match entry {
            Entry::Occupied(found) => {
                let x = *found.get();
                let old = list.nodes[x as usize].score;
                if old != score {
                    list.set_score(x, score);
                }
                Some(old)
            }
            Entry::Vacant(slot) => {
                self.member_bytes += member.len();
                if member.len() > COMPACT_MAX_MEMBER_LEN {
                    self.long_members += 1;
                }
                let x = list.alloc(member, score);
                list.link(x);
                slot.insert(x);
                None
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hasher.hash_one(member);
        let nodes = &self.list.nodes;
        let x = match self
            .index
            .find_entry(hash, |&i| nodes[i as usize].member.as_ref() == member)
        {
            Ok(found) => found.remove().0,
            Err(_) => return None,
        };
        let (path, _) = {
            let node = &self.list.nodes[x as usize];
            self.list.predecessors(node.score, &node.member)
        };
        self.list.unlink(x, &path);
        let (_, score, _) = self.evict_unindexed(x);
        Some(score)
    }

    /// Removes `count` entries starting at 0-based rank `first`, handing each
    /// to `sink` in ascending order: one descent, then each removal is O(1)
    /// plus the arena upkeep of [`SkipList::evict`].
    fn delete_ranks(&mut self, first: u32, count: u32, mut sink: impl FnMut(Bytes, f64)) {
        let mut path = self.list.path_to_rank(first);
        let mut x = self.list.nodes[path[0] as usize].next0;
        for _ in 0..count {
            let mut after = self.list.nodes[x as usize].next0;
            // The predecessors of `x` stay the predecessors of its successor.
            self.list.unlink(x, &path);
            let hash = self.hasher.hash_one(&self.list.nodes[x as usize].member[..]);
            if let Ok(found) = self.index.find_entry(hash, |&i| i == x) {
                found.remove();
            }
            let (member, score, moved) = self.evict_unindexed(x);
            if let Some(from) = moved {
                for pred in path.iter_mut().filter(|pred| **pred == from) {
                    *pred = x;
                }
                if after == from {
                    after = x;
                }
            }
            sink(member, score);
            x = after;
        }
    }

    /// Evicts unlinked node `x`, already dropped from the index, keeping the
    /// index and counters right; returns the node's member and score and
    /// the old index of the node moved into slot `x`, if any.
    fn evict_unindexed(&mut self, x: u32) -> (Bytes, f64, Option<u32>) {
        let (node, moved) = self.list.evict(x);
        if let Some(from) = moved {
            let hash = self.hasher.hash_one(&self.list.nodes[x as usize].member[..]);
            if let Ok(mut found) = self.index.find_entry(hash, |&i| i == from) {
                *found.get_mut() = x;
            }
        }
        self.member_bytes -= node.member.len();
        if node.member.len() > COMPACT_MAX_MEMBER_LEN {
            self.long_members -= 1;
        }
        (node.member, node.score, moved)
    }

    /// Moves all entries out in ascending order, leaving `self` empty of
    /// meaning (the caller drops it).
    fn take_sorted(&mut self) -> Vec<(Bytes, f64)> {
        let mut out = Vec::with_capacity(self.list.len as usize);
        let mut x = self.list.nodes[HEAD as usize].next0;
        while x != NIL {
            let node = &mut self.list.nodes[x as usize];
            out.push((std::mem::take(&mut node.member), node.score));
            x = node.next0;
        }
        out
    }

    /// Halves buffers that have fallen to a quarter full, so a set that
    /// shrank gives memory back; amortised O(1) like growth.
    fn shrink_if_sparse(&mut self) {
        fn shrink<T>(v: &mut Vec<T>) {
            if v.capacity() > 64 && v.len() * 4 <= v.capacity() {
                v.shrink_to(v.len() * 2);
            }
        }
        shrink(&mut self.list.nodes);
        for block in &mut self.list.blocks {
            shrink(block);
        }
        if self.index.capacity() > 64 && self.index.len() * 4 <= self.index.capacity() {
            let nodes = &self.list.nodes;
            let hasher = &self.hasher;
            self.index.shrink_to(self.index.len() * 2, |&i| {
                hasher.hash_one(&nodes[i as usize].member[..])
            });
        }
    }

    fn memory_bytes(&self) -> usize {
        let blocks: usize = self.list.blocks.iter().map(|b| b.capacity() * 4).sum();
        std::mem::size_of::<Large>()
            + self.list.nodes.capacity() * std::mem::size_of::<Node>()
            + blocks
            + self.index.allocation_size()
            + self.member_bytes
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        let list = &self.list;
        assert!(list.level >= 1 && list.level as usize <= MAX_HEIGHT);
        assert_eq!(list.nodes.len(), list.len as usize + 1, "arena not dense");
        assert_eq!(list.nodes[HEAD as usize].height as usize, MAX_HEIGHT);
        // Level 0: order, prev links, tail, ranks.
        let mut rank_of = vec![u32::MAX; list.nodes.len()];
        rank_of[HEAD as usize] = 0;
        let mut x = list.nodes[HEAD as usize].next0;
        let mut prev = NIL;
        let mut rank = 0;
        while x != NIL {
            rank += 1;
            let node = &list.nodes[x as usize];
            assert_eq!(node.prev, prev, "bad prev link");
            if prev != NIL {
                let p = &list.nodes[prev as usize];
                assert!(key_lt(p.score, &p.member, node.score, &node.member), "out of order");
            }
            assert!(node.height >= 1 && node.height as usize <= MAX_HEIGHT);
            assert!(node.height <= list.level, "node taller than level");
            rank_of[x as usize] = rank;
            prev = x;
            x = node.next0;
        }
        assert_eq!(rank, list.len, "len disagrees with level 0");
        assert_eq!(list.tail, prev, "bad tail");
        let mut of_height = [0usize; MAX_HEIGHT + 1];
        for node in &list.nodes[1..] {
            of_height[node.height as usize] += 1;
        }
        // Upper levels: membership, spans (NIL at rank len), emptiness above level.
        for lvl in 1..MAX_HEIGHT {
            let mut x = HEAD;
            let mut count = 0;
            loop {
                let nx = list.next(x, lvl);
                let target = if nx == NIL { list.len } else { rank_of[nx as usize] };
                assert!(target != u32::MAX, "upper link to an unlinked node");
                if lvl < list.level as usize || nx != NIL {
                    assert_eq!(
                        list.span(x, lvl),
                        target - rank_of[x as usize],
                        "bad span at level {lvl}"
                    );
                }
                if nx == NIL {
                    break;
                }
                assert!(rank_of[nx as usize] > rank_of[x as usize]);
                count += 1;
                x = nx;
            }
            let tall: usize = of_height[lvl + 1..].iter().sum();
            assert_eq!(count, tall, "level {lvl} misses nodes");
            if lvl >= list.level as usize {
                assert_eq!(count, 0, "node above level");
            }
        }
        if list.len > 0 {
            assert_ne!(list.next(HEAD, list.level as usize - 1), NIL, "level too high");
        }
        // Blocks: one per tall node, owners right.
        for (class, block) in list.blocks.iter().enumerate() {
            let stride = SkipList::stride(class);
            assert_eq!(block.len() % stride, 0);
            let owners = block.len() / stride;
            // The head (height MAX_HEIGHT) owns one block of the top class.
            let tall = of_height[class + 2] + usize::from(class + 2 == MAX_HEIGHT);
            assert_eq!(owners, tall, "class {class} has stray blocks");
            for b in 0..owners {
                let owner = block[b * stride] as usize;
                assert_eq!(list.nodes[owner].upper as usize, b, "bad block owner");
                assert_eq!(list.nodes[owner].height as usize, class + 2);
            }
        }
        // Index and counters.
        assert_eq!(self.index.len(), list.len as usize);
        let mut member_bytes = 0;
        let mut long_members = 0;
        for (i, node) in list.nodes.iter().enumerate().skip(1) {
            assert_eq!(self.find(&node.member), Some(i as u32), "index misses a member");
            member_bytes += node.member.len();
            long_members += u32::from(node.member.len() > COMPACT_MAX_MEMBER_LEN);
        }
        assert_eq!(self.member_bytes, member_bytes);
        assert_eq!(self.long_members, long_members);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn members(entries: &[(Bytes, f64)]) -> Vec<String> {
        entries
            .iter()
            .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    fn numbered(n: usize) -> ZSet {
        let mut z = ZSet::new();
        for i in 0..n {
            assert_eq!(z.insert(Bytes::from(format!("m{i:05}")), i as f64), None);
        }
        z
    }

    #[test]
    fn zset_layout_sizes() {
        assert_eq!(std::mem::size_of::<Node>(), 56);
        assert!(std::mem::size_of::<ZSet>() <= 32);
    }

    #[test]
    fn zset_basic_insert_score_rank() {
        let mut z = ZSet::new();
        assert!(z.is_empty());
        assert_eq!(z.insert(b("b"), 2.0), None);
        assert_eq!(z.insert(b("a"), 1.0), None);
        assert_eq!(z.insert(b("c"), 3.0), None);
        assert_eq!(z.len(), 3);
        assert_eq!(z.score(b"a"), Some(1.0));
        assert_eq!(z.score(b"zz"), None);
        assert_eq!(z.rank(b"a"), Some(0));
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.rev_rank(b"c"), Some(0));
        assert_eq!(z.rank(b"zz"), None);
        assert_eq!(z.insert(b("a"), 5.0), Some(1.0));
        assert_eq!(z.rank(b"a"), Some(2));
        assert_eq!(z.rank_with_score(b"a"), Some((2, 5.0)));
        assert_eq!(z.remove(b"b"), Some(2.0));
        assert_eq!(z.remove(b"b"), None);
        assert_eq!(members(&z.by_rank(0, 10)), ["c", "a"]);
        z.check_invariants();
    }

    #[test]
    fn zset_ties_and_signed_zero() {
        for n in [3, 300] {
            let mut z = numbered(n);
            z.insert(b("y"), 0.0);
            z.insert(b("x"), -0.0);
            z.insert(b("w"), 0.0);
            // -0.0 and 0.0 are one score: ties go by member.
            let zeros = z.by_score(
                &ScoreBound::Inclusive(0.0),
                &ScoreBound::Inclusive(-0.0),
                0,
                None,
                false,
            );
            assert_eq!(members(&zeros), ["m00000", "w", "x", "y"]);
            // Re-scoring to the other zero keeps the stored value.
            assert_eq!(z.insert(b("x"), 0.0).map(f64::to_bits), Some((-0.0f64).to_bits()));
            assert_eq!(z.score(b"x").map(f64::to_bits), Some((-0.0f64).to_bits()));
            assert_eq!(z.insert(b("y"), -0.0).map(f64::to_bits), Some(0.0f64.to_bits()));
            assert_eq!(z.score(b"y").map(f64::to_bits), Some(0.0f64.to_bits()));
            assert_eq!(
                z.count_by_score(&ScoreBound::Exclusive(-0.0), &ScoreBound::Inclusive(0.5)),
                0
            );
            z.check_invariants();
        }
    }

    #[test]
    fn zset_infinities_and_bounds() {
        let mut z = ZSet::new();
        z.insert(b("pinf"), f64::INFINITY);
        z.insert(b("ninf"), f64::NEG_INFINITY);
        z.insert(b("one"), 1.0);
        z.insert(b("two"), 2.0);
        let all = z.by_score(
            &ScoreBound::Inclusive(f64::NEG_INFINITY),
            &ScoreBound::Inclusive(f64::INFINITY),
            0,
            None,
            false,
        );
        assert_eq!(members(&all), ["ninf", "one", "two", "pinf"]);
        let open = z.by_score(
            &ScoreBound::Exclusive(f64::NEG_INFINITY),
            &ScoreBound::Exclusive(f64::INFINITY),
            0,
            None,
            false,
        );
        assert_eq!(members(&open), ["one", "two"]);
        assert_eq!(
            z.count_by_score(&ScoreBound::Exclusive(1.0), &ScoreBound::Inclusive(2.0)),
            1
        );
        assert_eq!(
            z.count_by_score(&ScoreBound::Inclusive(3.0), &ScoreBound::Inclusive(2.0)),
            0
        );
        let rev = z.by_score(
            &ScoreBound::Inclusive(1.0),
            &ScoreBound::Inclusive(f64::INFINITY),
            1,
            Some(5),
            true,
        );
        assert_eq!(members(&rev), ["two", "one"]);
    }

    #[test]
    fn zset_rank_ranges_clamp() {
        for n in [10, 1000] {
            let z = numbered(n);
            assert_eq!(z.by_rank(n - 2, usize::MAX).len(), 2);
            assert!(z.by_rank(n, n + 5).is_empty());
            assert!(z.by_rank(5, 4).is_empty());
            assert_eq!(members(&z.by_rank(1, 2)), ["m00001", "m00002"]);
            let top = z.rev_by_rank(0, 1);
            assert_eq!(members(&top), [format!("m{:05}", n - 1), format!("m{:05}", n - 2)]);
            assert_eq!(z.rev_by_rank(n - 1, usize::MAX)[0].0, b("m00000"));
            assert_eq!(
                z.get_by_rank(n - 1).map(|(m, _)| m.clone()),
                Some(Bytes::from(format!("m{:05}", n - 1)))
            );
            assert_eq!(z.get_by_rank(n), None);
            assert_eq!(z.iter().rev().count(), n);
            assert_eq!(z.iter().len(), n);
        }
    }

    #[test]
    fn zset_score_limit_offset() {
        for n in [20, 500] {
            let z = numbered(n);
            let lo = ScoreBound::Inclusive(5.0);
            let hi = ScoreBound::Exclusive(15.0);
            assert_eq!(z.count_by_score(&lo, &hi), 10);
            let page = z.by_score(&lo, &hi, 3, Some(2), false);
            assert_eq!(members(&page), ["m00008", "m00009"]);
            let page = z.by_score(&lo, &hi, 3, Some(2), true);
            assert_eq!(members(&page), ["m00011", "m00010"]);
            assert!(z.by_score(&lo, &hi, 10, None, false).is_empty());
            assert!(z.by_score(&lo, &hi, 0, Some(0), false).is_empty());
            assert_eq!(z.by_score(&lo, &hi, 8, None, true).len(), 2);
        }
    }

    #[test]
    fn zset_lex_ranges() {
        for pad in [0, 200] {
            let mut z = ZSet::new();
            for i in 0..pad {
                z.insert(Bytes::from(format!("pad{i:04}")), 0.0);
            }
            for m in ["a", "b", "c", "d", "e"] {
                z.insert(b(m), 0.0);
            }
            let inc = |s: &str| LexBound::Inclusive(b(s));
            let exc = |s: &str| LexBound::Exclusive(b(s));
            assert_eq!(members(&z.by_lex(&inc("b"), &exc("d"), 0, None, false)), ["b", "c"]);
            assert_eq!(members(&z.by_lex(&exc("a"), &inc("c"), 0, None, true)), ["c", "b"]);
            assert_eq!(z.count_by_lex(&LexBound::NegInf, &inc("e")), 5);
            assert_eq!(z.count_by_lex(&LexBound::PosInf, &LexBound::PosInf), 0);
            assert_eq!(z.count_by_lex(&LexBound::NegInf, &LexBound::NegInf), 0);
            assert_eq!(z.count_by_lex(&inc("c"), &inc("b")), 0);
            assert_eq!(z.by_lex(&inc("a"), &LexBound::PosInf, 1, Some(2), false).len(), 2);
            assert_eq!(z.remove_range_by_lex(&inc("b"), &inc("d")), 3);
            assert_eq!(z.count_by_lex(&inc("a"), &inc("e")), 2);
            z.check_invariants();
        }
    }

    #[test]
    fn zset_pops_and_range_removal() {
        for n in [30, 3000] {
            let mut z = numbered(n);
            assert_eq!(members(&z.pop_min(2)), ["m00000", "m00001"]);
            let max = z.pop_max(2);
            assert_eq!(members(&max), [format!("m{:05}", n - 1), format!("m{:05}", n - 2)]);
            assert!(z.pop_min(0).is_empty());
            assert_eq!(z.remove_range_by_rank(0, 0), 1);
            assert_eq!(z.remove_range_by_rank(5, 4), 0);
            assert_eq!(
                z.remove_range_by_score(&ScoreBound::Inclusive(10.0), &ScoreBound::Exclusive(20.0)),
                10
            );
            assert_eq!(z.len(), n - 15);
            z.check_invariants();
            assert_eq!(z.pop_max(usize::MAX).len(), n - 15);
            assert!(z.is_empty());
            assert_eq!(z.encoding(), "listpack");
            z.check_invariants();
        }
    }

    #[test]
    fn zset_encoding_transitions() {
        let mut z = numbered(COMPACT_MAX_ENTRIES);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b("extra"), 0.5);
        assert_eq!(z.encoding(), "skiplist");
        z.check_invariants();
        while z.len() > COMPACT_RETURN_ENTRIES + 1 {
            z.pop_min(1);
            assert_eq!(z.encoding(), "skiplist");
        }
        z.pop_max(1);
        assert_eq!(z.encoding(), "listpack");
        z.check_invariants();

        // A long member forces the skip list and keeps it until it leaves.
        let mut z = numbered(3);
        let long = Bytes::from(vec![b'x'; COMPACT_MAX_MEMBER_LEN + 1]);
        z.insert(long.clone(), 1.5);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(&long), Some(2));
        z.check_invariants();
        z.remove(b"m00000");
        assert_eq!(z.encoding(), "skiplist");
        z.remove(&long);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(members(&z.by_rank(0, 5)), ["m00001", "m00002"]);
        let exact = Bytes::from(vec![b'y'; COMPACT_MAX_MEMBER_LEN]);
        z.insert(exact, 9.0);
        assert_eq!(z.encoding(), "listpack");
    }

    #[test]
    fn zset_rescore_in_place_and_moving() {
        for n in [50, 500] {
            let mut z = numbered(n);
            // Nudge without reordering, then move to both ends.
            assert_eq!(z.insert(b("m00010"), 10.5), Some(10.0));
            assert_eq!(z.rank(b"m00010"), Some(10));
            assert_eq!(z.insert(b("m00010"), -1.0), Some(10.5));
            assert_eq!(z.rank(b"m00010"), Some(0));
            assert_eq!(z.insert(b("m00010"), 1e9), Some(-1.0));
            assert_eq!(z.rev_rank(b"m00010"), Some(0));
            assert_eq!(z.insert(b("m00020"), 20.0), Some(20.0));
            z.check_invariants();
        }
    }

    #[test]
    fn zset_clone_debug_eq_memory() {
        let mut a = numbered(200);
        let before = a.memory_bytes();
        let c = a.clone();
        a.insert(b("new"), 1.0);
        assert_eq!(c.len(), 200);
        assert_ne!(a, c);
        a.remove(b"new");
        assert_eq!(a, c);
        assert!(before > 200 * 60);
        let small = numbered(2);
        assert_eq!(
            format!("{small:?}"),
            "ZSet { encoding: \"listpack\", entries: [(b\"m00000\", 0.0), (b\"m00001\", 1.0)] }"
        );
        assert!(small.memory_bytes() >= 2 * 40 + 12);
        // Equality ignores the encoding.
        let mut big = numbered(200);
        big.remove_range_by_rank(2, 199);
        assert_eq!(big, small);
    }

    #[test]
    fn zset_memory_follows_size() {
        let mut z = numbered(100_000);
        let full = z.memory_bytes();
        z.remove_range_by_rank(1000, usize::MAX);
        z.check_invariants();
        assert!(z.memory_bytes() * 10 < full, "{} vs {}", z.memory_bytes(), full);
    }

    #[test]
    fn zset_heights_are_deterministic() {
        let heights = |z: &ZSet| match &z.repr {
            Repr::Skip(l) => l.list.nodes.iter().map(|n| n.height).collect::<Vec<_>>(),
            Repr::Compact(_) => Vec::new(),
        };
        let a = numbered(1000);
        let b = numbered(1000);
        assert_eq!(heights(&a), heights(&b));
        assert!(heights(&a).iter().skip(1).any(|&h| h > 2));
    }

    /// Tiny deterministic generator for the long randomized test.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn zset_long_random_against_btreemap() {
        let mut rng = Rng(12345);
        let mut z = ZSet::new();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for step in 0..60_000u64 {
            // Phases of growth and shrinkage cross both thresholds and
            // exercise arena relocation at scale.
            let growing = (step / 10_000) % 2 == 0;
            let member = format!("k{}", rng.below(5000)).into_bytes();
            match rng.below(10) {
                0..=5 if growing => {
                    let score = rng.below(100) as f64 - 50.0;
                    let old = z.insert(Bytes::from(member.clone()), score);
                    assert_eq!(old, model.insert(member, score));
                }
                0..=5 => assert_eq!(z.remove(&member), model.remove(&member)),
                6 => {
                    let rank = z.rank(&member);
                    let expect = model
                        .get(&member)
                        .map(|&s| model.iter().filter(|(m, &t)| key_lt(t, m, s, &member)).count());
                    assert_eq!(rank, expect);
                }
                7 if !growing => {
                    let k = rng.below(40) as usize;
                    for (m, s) in z.pop_min(k) {
                        assert_eq!(model.remove(&m[..]), Some(s));
                    }
                }
                8 => {
                    let min = ScoreBound::Inclusive(rng.below(100) as f64 - 50.0);
                    let max = ScoreBound::Exclusive(rng.below(100) as f64 - 50.0);
                    let expect = model
                        .values()
                        .filter(|&&s| !min.is_below_min(s) && max.is_within_max(s))
                        .count();
                    assert_eq!(z.count_by_score(&min, &max), expect);
                }
                _ => assert_eq!(z.score(&member), model.get(&member).copied()),
            }
            assert_eq!(z.len(), model.len());
            if step % 5000 == 0 {
                z.check_invariants();
            }
        }
        z.check_invariants();
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Reference implementation: a BTreeMap for lookups plus a Vec kept
        /// sorted by (score, member) for everything positional.
        #[derive(Default, Debug)]
        struct Model {
            map: BTreeMap<Vec<u8>, f64>,
            sorted: Vec<(Vec<u8>, f64)>,
        }

        impl Model {
            fn position(&self, member: &[u8]) -> Option<usize> {
                self.sorted.iter().position(|(m, _)| m == member)
            }
            fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
                if let Some(&old) = self.map.get(member) {
                    if old == score {
                        return Some(old);
                    }
                    self.remove(member);
                    self.insert(member, score);
                    return Some(old);
                }
                self.map.insert(member.to_vec(), score);
                let at = self.sorted.partition_point(|(m, s)| key_lt(*s, m, score, member));
                self.sorted.insert(at, (member.to_vec(), score));
                None
            }
            fn remove(&mut self, member: &[u8]) -> Option<f64> {
                let old = self.map.remove(member)?;
                if let Some(pos) = self.position(member) {
                    self.sorted.remove(pos);
                }
                Some(old)
            }
            fn ranks(&self, start: usize, stop: usize) -> Vec<(Vec<u8>, f64)> {
                if start >= self.sorted.len() || start > stop {
                    return Vec::new();
                }
                self.sorted[start..=stop.min(self.sorted.len() - 1)].to_vec()
            }
            fn rev_ranks(&self, start: usize, stop: usize) -> Vec<(Vec<u8>, f64)> {
                let rev: Vec<_> = self.sorted.iter().rev().cloned().collect();
                if start >= rev.len() || start > stop {
                    return Vec::new();
                }
                rev[start..=stop.min(rev.len() - 1)].to_vec()
            }
            fn filtered(
                &self,
                keep: impl Fn(&(Vec<u8>, f64)) -> bool,
                offset: usize,
                limit: Option<usize>,
                rev: bool,
            ) -> Vec<(Vec<u8>, f64)> {
                let mut all: Vec<_> = self.sorted.iter().filter(|e| keep(e)).cloned().collect();
                if rev {
                    all.reverse();
                }
                all.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect()
            }
            fn remove_all(&mut self, gone: &[(Vec<u8>, f64)]) -> usize {
                for (m, _) in gone {
                    self.remove(m);
                }
                gone.len()
            }
            fn equal_scores(&self) -> bool {
                self.sorted.windows(2).all(|w| w[0].1 == w[1].1)
            }
        }

        fn in_score(min: &ScoreBound, max: &ScoreBound, s: f64) -> bool {
            !min.is_below_min(s) && max.is_within_max(s)
        }

        fn in_lex(min: &LexBound, max: &LexBound, m: &[u8]) -> bool {
            !min.is_below_min(m) && max.is_within_max(m)
        }

        /// Same entries, same order, bit-identical scores.
        fn same(got: &[(Bytes, f64)], want: &[(Vec<u8>, f64)]) -> bool {
            got.len() == want.len()
                && got
                    .iter()
                    .zip(want)
                    .all(|(g, w)| g.0[..] == w.0[..] && g.1.to_bits() == w.1.to_bits())
        }

        fn same_opt(got: Option<f64>, want: Option<f64>) -> bool {
            got.map(f64::to_bits) == want.map(f64::to_bits)
        }

        const SCORES: [f64; 12] = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -0.0,
            0.0,
            0.5,
            1.0,
            2.0,
            3.0,
            1e300,
            f64::INFINITY,
        ];

        fn score() -> impl Strategy<Value = f64> + Clone {
            prop_oneof![
                3 => proptest::sample::select(&SCORES[..]),
                1 => (-4i32..4).prop_map(f64::from),
            ]
        }

        /// 0..POOL members; every tenth one is longer than the compact limit.
        const POOL: u16 = 260;

        fn member_name(i: u16) -> Vec<u8> {
            if i % 10 == 9 {
                let mut m = vec![b'L'; COMPACT_MAX_MEMBER_LEN];
                m.extend_from_slice(format!("{i:03}").as_bytes());
                m
            } else {
                format!("m{i:03}").into_bytes()
            }
        }

        fn short_member(i: u16) -> Vec<u8> {
            format!("m{i:03}").into_bytes()
        }

        fn score_bound() -> impl Strategy<Value = ScoreBound> {
            (any::<bool>(), score()).prop_map(|(inc, s)| {
                if inc {
                    ScoreBound::Inclusive(s)
                } else {
                    ScoreBound::Exclusive(s)
                }
            })
        }

        fn lex_bound() -> impl Strategy<Value = LexBound> {
            prop_oneof![
                1 => Just(LexBound::NegInf),
                1 => Just(LexBound::PosInf),
                3 => (0..POOL + 5).prop_map(|i| LexBound::Inclusive(Bytes::from(short_member(i)))),
                3 => (0..POOL + 5).prop_map(|i| LexBound::Exclusive(Bytes::from(short_member(i)))),
                1 => "[a-z]{0,3}".prop_map(|s| LexBound::Inclusive(Bytes::from(s))),
            ]
        }

        #[derive(Debug, Clone)]
        enum Op {
            Insert(u16, f64),
            /// `n` consecutive pool members, all with one score: crosses the
            /// 128-entry threshold quickly and makes long runs of ties.
            InsertRun(u16, u8, f64),
            Remove(u16),
            Score(u16),
            Rank(u16),
            GetByRank(usize),
            ByRank(usize, usize),
            RevByRank(usize, usize),
            ByScore(ScoreBound, ScoreBound, usize, Option<usize>, bool),
            CountByScore(ScoreBound, ScoreBound),
            ByLex(LexBound, LexBound, usize, Option<usize>, bool),
            CountByLex(LexBound, LexBound),
            PopMin(usize),
            PopMax(usize),
            RemoveRangeByRank(usize, usize),
            RemoveRangeByScore(ScoreBound, ScoreBound),
            RemoveRangeByLex(LexBound, LexBound),
            Clone,
        }

        fn rank() -> impl Strategy<Value = usize> {
            prop_oneof![4 => 0usize..300, 1 => Just(usize::MAX)]
        }

        fn op(
            member: impl Strategy<Value = u16> + Clone + 'static,
            score: impl Strategy<Value = f64> + Clone + 'static,
        ) -> BoxedStrategy<Op> {
            let limit = prop_oneof![1 => Just(None), 2 => (0usize..50).prop_map(Some)];
            prop_oneof![
                12 => (member.clone(), score.clone()).prop_map(|(m, s)| Op::Insert(m, s)),
                3 => (member.clone(), 1u8..120, score.clone()).prop_map(|(m, n, s)| Op::InsertRun(m, n, s)),
                6 => member.clone().prop_map(Op::Remove),
                2 => member.clone().prop_map(Op::Score),
                3 => member.prop_map(Op::Rank),
                1 => (0usize..300).prop_map(Op::GetByRank),
                2 => (rank(), rank()).prop_map(|(a, b)| Op::ByRank(a, b)),
                2 => (rank(), rank()).prop_map(|(a, b)| Op::RevByRank(a, b)),
                3 => (score_bound(), score_bound(), 0usize..40, limit.clone(), any::<bool>())
                    .prop_map(|(a, b, o, l, r)| Op::ByScore(a, b, o, l, r)),
                2 => (score_bound(), score_bound()).prop_map(|(a, b)| Op::CountByScore(a, b)),
                3 => (lex_bound(), lex_bound(), 0usize..40, limit, any::<bool>())
                    .prop_map(|(a, b, o, l, r)| Op::ByLex(a, b, o, l, r)),
                2 => (lex_bound(), lex_bound()).prop_map(|(a, b)| Op::CountByLex(a, b)),
                2 => (0usize..80).prop_map(Op::PopMin),
                2 => (0usize..80).prop_map(Op::PopMax),
                2 => (rank(), rank()).prop_map(|(a, b)| Op::RemoveRangeByRank(a, b)),
                1 => (score_bound(), score_bound()).prop_map(|(a, b)| Op::RemoveRangeByScore(a, b)),
                1 => (lex_bound(), lex_bound()).prop_map(|(a, b)| Op::RemoveRangeByLex(a, b)),
                1 => Just(Op::Clone),
            ]
            .boxed()
        }

        /// Applies `op` to both and checks they agree. Lex operations are
        /// compared only while all scores are equal (their precondition);
        /// otherwise they must merely not panic, and removals by lex are
        /// skipped since their result is unspecified.
        fn apply(z: &mut ZSet, model: &mut Model, op: &Op, names: fn(u16) -> Vec<u8>) -> Result<(), TestCaseError> {
            let lex_defined = model.equal_scores();
            match op {
                Op::Insert(m, s) => {
                    let m = names(*m);
                    let got = z.insert(Bytes::from(m.clone()), *s);
                    prop_assert!(same_opt(got, model.insert(&m, *s)));
                }
                Op::InsertRun(start, n, s) => {
                    for i in 0..u16::from(*n) {
                        let m = names((start + i) % POOL);
                        let got = z.insert(Bytes::from(m.clone()), *s);
                        prop_assert!(same_opt(got, model.insert(&m, *s)));
                    }
                }
                Op::Remove(m) => {
                    let m = names(*m);
                    prop_assert!(same_opt(z.remove(&m), model.remove(&m)));
                }
                Op::Score(m) => {
                    let m = names(*m);
                    prop_assert!(same_opt(z.score(&m), model.map.get(&m).copied()));
                }
                Op::Rank(m) => {
                    let m = names(*m);
                    let want = model.position(&m);
                    prop_assert_eq!(z.rank(&m), want);
                    prop_assert_eq!(z.rev_rank(&m), want.map(|r| model.sorted.len() - 1 - r));
                }
                Op::GetByRank(r) => {
                    let got = z.get_by_rank(*r).map(|(m, s)| (m.to_vec(), s.to_bits()));
                    let want = model.sorted.get(*r).map(|(m, s)| (m.clone(), s.to_bits()));
                    prop_assert_eq!(got, want);
                }
                Op::ByRank(a, b) => prop_assert!(same(&z.by_rank(*a, *b), &model.ranks(*a, *b))),
                Op::RevByRank(a, b) => prop_assert!(same(&z.rev_by_rank(*a, *b), &model.rev_ranks(*a, *b))),
                Op::ByScore(min, max, offset, limit, rev) => {
                    let got = z.by_score(min, max, *offset, *limit, *rev);
                    let want = model.filtered(|e| in_score(min, max, e.1), *offset, *limit, *rev);
                    prop_assert!(same(&got, &want), "got {:?} want {:?}", got, want);
                }
                Op::CountByScore(min, max) => {
                    let want = model.sorted.iter().filter(|e| in_score(min, max, e.1)).count();
                    prop_assert_eq!(z.count_by_score(min, max), want);
                }
                Op::ByLex(min, max, offset, limit, rev) => {
                    let got = z.by_lex(min, max, *offset, *limit, *rev);
                    if lex_defined {
                        let want = model.filtered(|e| in_lex(min, max, &e.0), *offset, *limit, *rev);
                        prop_assert!(same(&got, &want), "got {:?} want {:?}", got, want);
                    }
                }
                Op::CountByLex(min, max) => {
                    let got = z.count_by_lex(min, max);
                    if lex_defined {
                        prop_assert_eq!(got, model.sorted.iter().filter(|e| in_lex(min, max, &e.0)).count());
                    }
                }
                Op::PopMin(k) => {
                    let want = model.ranks(0, k.saturating_sub(1));
                    let want = if *k == 0 { Vec::new() } else { want };
                    prop_assert!(same(&z.pop_min(*k), &want));
                    model.remove_all(&want);
                }
                Op::PopMax(k) => {
                    let want = model.rev_ranks(0, k.saturating_sub(1));
                    let want = if *k == 0 { Vec::new() } else { want };
                    prop_assert!(same(&z.pop_max(*k), &want));
                    model.remove_all(&want);
                }
                Op::RemoveRangeByRank(a, b) => {
                    let gone = model.ranks(*a, *b);
                    prop_assert_eq!(z.remove_range_by_rank(*a, *b), model.remove_all(&gone));
                }
                Op::RemoveRangeByScore(min, max) => {
                    let gone = model.filtered(|e| in_score(min, max, e.1), 0, None, false);
                    prop_assert_eq!(z.remove_range_by_score(min, max), model.remove_all(&gone));
                }
                Op::RemoveRangeByLex(min, max) => {
                    if lex_defined {
                        let gone = model.filtered(|e| in_lex(min, max, &e.0), 0, None, false);
                        prop_assert_eq!(z.remove_range_by_lex(min, max), model.remove_all(&gone));
                    }
                }
                Op::Clone => {
                    let copy = z.clone();
                    // Mutating the original must not show through the copy.
                    z.insert(Bytes::from_static(b"clone-probe"), 0.25);
                    z.remove(b"clone-probe");
                    *z = copy;
                }
            }
            Ok(())
        }

        fn check(z: &ZSet, model: &Model) -> Result<(), TestCaseError> {
            z.check_invariants();
            prop_assert_eq!(z.len(), model.sorted.len());
            prop_assert_eq!(z.is_empty(), model.sorted.is_empty());
            let got: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
            prop_assert!(same(&got, &model.sorted));
            let back: Vec<(Bytes, f64)> = z.iter().rev().map(|(m, s)| (m.clone(), s)).collect();
            let want_back: Vec<_> = model.sorted.iter().rev().cloned().collect();
            prop_assert!(same(&back, &want_back));
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(192))]

            #[test]
            fn zset_matches_model(ops in proptest::collection::vec(op(0..POOL, score()), 1..400)) {
                let mut z = ZSet::new();
                let mut model = Model::default();
                for op in &ops {
                    apply(&mut z, &mut model, op, member_name)?;
                    check(&z, &model)?;
                }
            }

            /// All scores equal (a mix of 0.0 and -0.0, which are equal), so
            /// every lex operation is defined and checked.
            #[test]
            fn zset_lex_matches_model(
                ops in proptest::collection::vec(op(0..POOL, proptest::sample::select(&[0.0, -0.0][..])), 1..300)
            ) {
                let mut z = ZSet::new();
                let mut model = Model::default();
                for op in &ops {
                    apply(&mut z, &mut model, op, short_member)?;
                    check(&z, &model)?;
                }
            }
        }

        /// The generated runs really do cross the encoding thresholds both
        /// ways; a guard against the strategy drifting into never testing
        /// the conversions.
        #[test]
        fn zset_model_runs_cross_thresholds() {
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;
            let mut runner = TestRunner::deterministic();
            let strategy = proptest::collection::vec(op(0..POOL, score()), 300..400);
            let (mut up, mut down) = (0, 0);
            for _ in 0..40 {
                let Ok(tree) = strategy.new_tree(&mut runner) else {
                    panic!("strategy failed");
                };
                let mut z = ZSet::new();
                let mut model = Model::default();
                let mut large = false;
                for op in tree.current() {
                    if apply(&mut z, &mut model, &op, member_name).is_err() {
                        panic!("model mismatch on {op:?}");
                    }
                    let now = z.encoding() == "skiplist";
                    up += usize::from(now && !large);
                    down += usize::from(!now && large);
                    large = now;
                }
            }
            assert!(up >= 100 && down >= 100, "conversions up {up}, down {down}");
        }
    }
}
