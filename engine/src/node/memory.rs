//! How much memory the node uses, measured against `maxmemory`.
//!
//! Redis counts every allocation itself (zmalloc). Memoir asks the
//! allocator instead, through a [`MemoryGauge`] the embedding program
//! supplies: `memoir server`, one node in its process, reads jemalloc's
//! `stats.allocated`. (`memoir dev` supplies none: its one process holds
//! both nodes' datasets and the journal, and the primary would evict
//! everything to fit them all under a limit meant for its own data.) The
//! resident set size is no substitute: it does not fall when keys are
//! deleted (the allocator keeps freed pages for a while), so eviction
//! driven by it would empty the dataset. A node without a gauge therefore
//! refuses a `maxmemory` rather than enforce it wrongly.
//!
//! Reading the allocator costs microseconds, so the execution thread reads
//! it at most once per [`READING_MAX_AGE`] and, in between, adds what
//! writes bring in and subtracts what eviction frees. As Redis excludes its
//! replication and AOF buffers, the bytes waiting for the journal (the
//! open batch and the sealed batches not yet committed) are not counted
//! against the limit: evicting keys cannot free them, and they are bounded
//! on their own (`MAX_BATCH_BYTES`, `MAX_BATCHES_IN_FLIGHT`).

use std::fmt;
use std::time::{Duration, Instant};

use crate::keyspace::eviction::EvictionPolicy;

/// How stale the allocator's figure may get before it is read again.
pub const READING_MAX_AGE: Duration = Duration::from_millis(1);
/// Why a node without a gauge refuses `maxmemory`.
pub const NO_GAUGE: &str = "maxmemory needs a count of this node's own memory, and this node has no memory gauge (NodeConfig::memory_gauge): run it in a process of its own, as memoir server does (memoir dev shares one process among all its parts)";
/// Redis's default `maxmemory-samples`.
pub const DEFAULT_SAMPLES: usize = 5;
/// Redis's bounds on `maxmemory-samples` (1 to 64).
pub const MAX_SAMPLES: usize = 64;

/// Reads the bytes the process has allocated (`None` if it cannot tell),
/// and, where the allocator offers them, `MEMORY PURGE` and
/// `MEMORY MALLOC-STATS`.
#[derive(Clone, Copy)]
pub struct MemoryGauge {
    read: fn() -> Option<u64>,
    purge: Option<fn() -> Result<(), String>>,
    stats: Option<fn() -> String>,
}

impl MemoryGauge {
    pub const fn new(read: fn() -> Option<u64>) -> MemoryGauge {
        MemoryGauge {
            read,
            purge: None,
            stats: None,
        }
    }

    /// What `MEMORY PURGE` runs: hand freed pages back to the system.
    pub const fn with_purge(self, purge: fn() -> Result<(), String>) -> MemoryGauge {
        MemoryGauge {
            purge: Some(purge),
            ..self
        }
    }

    /// What `MEMORY MALLOC-STATS` answers: the allocator's own report.
    pub const fn with_stats(self, stats: fn() -> String) -> MemoryGauge {
        MemoryGauge {
            stats: Some(stats),
            ..self
        }
    }

    pub fn read(&self) -> Option<u64> {
        (self.read)()
    }

    /// `None` if the allocator cannot purge.
    pub fn purge(&self) -> Option<Result<(), String>> {
        self.purge.map(|purge| purge())
    }

    /// `None` if the allocator has no report.
    pub fn stats(&self) -> Option<String> {
        self.stats.map(|stats| stats())
    }
}

impl fmt::Debug for MemoryGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryGauge")
    }
}

/// `maxmemory` and its policy, with the execution thread's running
/// estimate of used memory.
#[derive(Debug)]
pub(crate) struct MemoryLimit {
    /// Bytes; 0 means no limit.
    pub maxmemory: u64,
    pub policy: EvictionPolicy,
    /// `maxmemory-samples`: keys sampled per database for each eviction.
    pub samples: usize,
    gauge: Option<MemoryGauge>,
    /// The last reading plus what was written and minus what was evicted
    /// since.
    estimate: u64,
    read_at: Option<Instant>,
}

impl MemoryLimit {
    pub fn new(maxmemory: u64, policy: EvictionPolicy, samples: usize, gauge: Option<MemoryGauge>) -> MemoryLimit {
        MemoryLimit {
            maxmemory,
            policy,
            samples: samples.max(1),
            gauge,
            estimate: 0,
            read_at: None,
        }
    }

    pub fn gauge(&self) -> Option<&MemoryGauge> {
        self.gauge.as_ref()
    }

    pub fn has_gauge(&self) -> bool {
        self.gauge.is_some()
    }

    /// The allocator's figure, read now (for INFO).
    pub fn allocated_now(&self) -> Option<u64> {
        self.gauge.as_ref().and_then(MemoryGauge::read)
    }

    /// Used memory by the running estimate, read again from the allocator
    /// when older than [`READING_MAX_AGE`] (or when `fresh`).
    pub fn used(&mut self, now: Instant, fresh: bool) -> Option<u64> {
        let stale = self
            .read_at
            .is_none_or(|at| fresh || now.saturating_duration_since(at) >= READING_MAX_AGE);
        if stale {
            self.estimate = self.allocated_now()?;
            self.read_at = Some(now);
        }
        Some(self.estimate)
    }

    /// A write brought in about this many bytes.
    pub fn note_written(&mut self, bytes: usize) {
        self.estimate = self.estimate.saturating_add(bytes as u64);
    }

    /// Eviction freed about this many bytes.
    pub fn note_freed(&mut self, bytes: usize) {
        self.estimate = self.estimate.saturating_sub(bytes as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static ALLOCATED: AtomicU64 = AtomicU64::new(1000);

    fn read_test_gauge() -> Option<u64> {
        Some(ALLOCATED.load(Ordering::Relaxed))
    }

    #[test]
    fn the_estimate_follows_writes_and_frees_until_the_next_reading() {
        let mut limit = MemoryLimit::new(
            10_000,
            EvictionPolicy::AllKeysLru,
            5,
            Some(MemoryGauge::new(read_test_gauge)),
        );
        let start = Instant::now();
        assert_eq!(limit.used(start, false), Some(1000));
        ALLOCATED.store(5000, Ordering::Relaxed);
        limit.note_written(300);
        limit.note_freed(100);
        // Within the reading's age the estimate stands.
        assert_eq!(limit.used(start, false), Some(1200));
        assert_eq!(limit.used(start + READING_MAX_AGE, false), Some(5000));
        limit.note_freed(10_000);
        assert_eq!(limit.used(start + READING_MAX_AGE, false), Some(0));
        assert_eq!(limit.used(start + READING_MAX_AGE, true), Some(5000));
    }

    #[test]
    fn without_a_gauge_nothing_is_measured() {
        let mut limit = MemoryLimit::new(10, EvictionPolicy::NoEviction, 0, None);
        assert!(!limit.has_gauge());
        assert_eq!(limit.used(Instant::now(), true), None);
        assert_eq!(limit.samples, 1);
    }
}
