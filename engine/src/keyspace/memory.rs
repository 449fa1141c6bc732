//! How much memory the data set holds, without stopping to count it.
//!
//! Counting every key and every element of every collection takes about
//! 5.5 ns a key (8.7 ms for 1.58 M small strings here) and O(elements) for
//! a collection, all on the execution thread. INFO, which monitoring
//! polls, did exactly that until 2026-12-06. Now a [`DatasetMeter`] walks
//! the data set a slice at a time on the cron tick, starting a walk at most
//! once a second, and INFO reports the figure of the last complete walk.
//! Redis gets its figure from the allocator instead; the memory nodes in
//! `memoir dev` share one process and one allocator, so Memoir counts its
//! structures.

use std::time::{Duration, Instant};

use super::db::Db;

/// Elements of one collection the meter reads to estimate the rest, as
/// `MEMORY USAGE` does by default (Redis samples 5).
pub const METER_SAMPLES: usize = 16;

/// Entries measured between two looks at the clock.
const ENTRIES_PER_CLOCK_CHECK: usize = 256;

/// Least time from the start of one walk to the start of the next: a small
/// data set would otherwise be walked again on every tick (2% of the
/// execution thread's time at 100 k keys under a GET load).
pub const MIN_WALK_INTERVAL: Duration = Duration::from_secs(1);

/// The sum of `bytes` over `items`; when there are more than `samples`
/// (and `samples` is not 0), the mean of the first `samples` times their
/// number. Redis's `MEMORY USAGE` estimates a collection the same way.
pub fn sampled_sum<T>(items: impl ExactSizeIterator<Item = T>, samples: usize, bytes: impl Fn(T) -> usize) -> usize {
    let len = items.len();
    if samples == 0 || len <= samples {
        return items.map(bytes).sum();
    }
    let sampled: usize = items.take(samples).map(bytes).sum();
    // Rounded to the nearest byte; `len > samples > 0` here.
    (sampled * len + samples / 2) / samples
}

/// Measures the data set's heap bytes incrementally: see the module
/// comment. Entries added, removed or moved during a walk of their database
/// are counted zero, one or two times; the next walk corrects that.
#[derive(Debug, Default)]
pub struct DatasetMeter {
    /// Entries' heap bytes of each database, from its last complete walk.
    per_db: Vec<usize>,
    /// The database being walked, the next position in it, and what its
    /// entries before that position hold.
    db: usize,
    pos: usize,
    partial: usize,
    walks: u64,
    /// When the walk in progress started (`None` before the first).
    walk_started: Option<Instant>,
}

impl DatasetMeter {
    /// Measures entries until `budget` is spent or a walk of every
    /// database completes; starts a walk only [`MIN_WALK_INTERVAL`] after
    /// the previous one started.
    pub fn step(&mut self, dbs: &[Db], budget: Duration) {
        self.per_db.resize(dbs.len(), 0);
        let started = Instant::now();
        if self.db == 0 && self.pos == 0 {
            if self
                .walk_started
                .is_some_and(|previous| started.duration_since(previous) < MIN_WALK_INTERVAL)
            {
                return;
            }
            self.walk_started = Some(started);
        }
        loop {
            let Some(db) = dbs.get(self.db) else {
                self.walks += 1;
                self.db = 0;
                self.pos = 0;
                return;
            };
            let end = db.len().min(self.pos + ENTRIES_PER_CLOCK_CHECK);
            for pos in self.pos..end {
                self.partial += db.entry_heap_bytes(pos, METER_SAMPLES);
            }
            self.pos = end;
            if self.pos >= db.len() {
                self.per_db[self.db] = self.partial;
                self.db += 1;
                self.pos = 0;
                self.partial = 0;
            }
            if started.elapsed() >= budget {
                return;
            }
        }
    }

    /// The data set's bytes: each database's entries as last measured (or
    /// as far as the walk in progress got, if more) plus the databases' own
    /// structures now.
    pub fn dataset_bytes(&self, dbs: &[Db]) -> usize {
        let entries: usize = self
            .per_db
            .iter()
            .enumerate()
            .map(|(index, last)| {
                if index == self.db {
                    (*last).max(self.partial)
                } else {
                    *last
                }
            })
            .sum();
        entries + dbs.iter().map(Db::overhead_bytes).sum::<usize>()
    }

    /// Complete walks so far.
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// Database `index` was emptied.
    pub fn flushed(&mut self, index: usize) {
        if let Some(last) = self.per_db.get_mut(index) {
            *last = 0;
        }
        if self.db == index {
            self.pos = 0;
            self.partial = 0;
        }
    }

    /// Databases `a` and `b` exchanged their contents.
    pub fn swapped(&mut self, a: usize, b: usize) {
        if a < self.per_db.len() && b < self.per_db.len() {
            self.per_db.swap(a, b);
        }
        if self.db == a || self.db == b {
            self.pos = 0;
            self.partial = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::list::{End, ListValue};
    use super::super::value::Value;
    use super::super::Keyspace;
    use super::*;

    #[test]
    fn a_sampled_sum_is_exact_up_to_the_sample_and_extrapolates_past_it() {
        let sizes = [10usize, 20, 30, 40];
        assert_eq!(sampled_sum(sizes.iter(), 0, |s| *s), 100);
        assert_eq!(sampled_sum(sizes.iter(), 4, |s| *s), 100);
        assert_eq!(sampled_sum(sizes.iter(), 2, |s| *s), 60, "mean of 10 and 20, times 4");
        assert_eq!(sampled_sum(std::iter::empty::<usize>(), 5, |s| s), 0);
    }

    fn list_of(elements: impl IntoIterator<Item = Vec<u8>>) -> Value {
        let mut list = ListValue::new();
        for element in elements {
            list.push(End::Tail, &element);
        }
        Value::List(Box::new(list))
    }

    #[test]
    fn a_collection_is_estimated_from_its_first_elements_and_counted_in_full_with_samples_0() {
        // 16 elements of 100 bytes, then 984 of 30 (both past inline size).
        let list = list_of((0..1000).map(|i| vec![b'x'; if i < 16 { 100 } else { 30 }]));
        let exact = list.heap_bytes();
        assert_eq!(list.heap_bytes_sampled(0), exact);
        let estimated = list.heap_bytes_sampled(METER_SAMPLES);
        assert!(
            estimated > exact + 60_000,
            "extrapolated from the first 16: {estimated} vs {exact}"
        );
        let uniform = list_of((0..1000).map(|_| vec![b'y'; 40]));
        assert_eq!(uniform.heap_bytes_sampled(5), uniform.heap_bytes());
    }

    fn filled(databases: usize, keys: usize) -> Keyspace {
        let mut ks = Keyspace::new(databases);
        for db in 0..databases {
            for i in 0..keys {
                let value = if i % 10 == 0 {
                    list_of((0..5).map(|j| format!("element-{i}-{j}-{}", "z".repeat(30)).into_bytes()))
                } else {
                    Value::string(format!("value-{i}-{}", "v".repeat(40)).as_bytes())
                };
                ks.restore_entry(db, format!("key-{db}-{i}-padding-past-inline").as_bytes(), value, None)
                    .expect("new key");
            }
        }
        ks
    }

    #[test]
    fn the_meter_walks_in_slices_and_its_figure_matches_a_full_count() {
        let mut ks = filled(3, 5_000);
        assert!(ks.dataset_bytes() < ks.memory_bytes(), "nothing measured yet");
        let mut steps = 0;
        while ks.dataset_walks() == 0 {
            // A zero budget still measures one slice a step.
            ks.measure_dataset(Duration::ZERO);
            steps += 1;
            assert!(steps < 1_000, "a walk ends");
        }
        assert!(steps >= 15_000 / ENTRIES_PER_CLOCK_CHECK, "{steps} steps");
        assert_eq!(ks.dataset_bytes(), ks.memory_bytes());
        // The next walk waits for its interval, however much budget a tick has.
        ks.measure_dataset(Duration::from_secs(60));
        assert_eq!(ks.dataset_walks(), 1);
    }

    #[test]
    fn flushing_or_swapping_databases_moves_the_figure_at_once() {
        let mut ks = filled(3, 2_000);
        ks.measure_dataset(Duration::from_secs(60));
        let full = ks.dataset_bytes();
        assert_eq!(full, ks.memory_bytes());
        let one_db = ks.db(1).map_or(0, Db::memory_bytes);
        ks.flush_db(1);
        assert_eq!(
            ks.dataset_bytes(),
            full - one_db + ks.db(1).map_or(0, Db::overhead_bytes)
        );
        assert_eq!(ks.dataset_bytes(), ks.memory_bytes());
        assert!(ks.swap_databases(0, 1));
        assert_eq!(ks.dataset_bytes(), ks.memory_bytes());
        ks.clear();
        assert_eq!(ks.dataset_bytes(), ks.memory_bytes());
    }
}
