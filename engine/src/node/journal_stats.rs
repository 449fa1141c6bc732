//! Counters of the primary's journal appends, for `INFO journal`: how many
//! records, how many execution steps each carried (the node's group commit
//! at work), their bytes, and how long the journal took to commit them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct JournalStats {
    /// Records the journal committed for this node (every term).
    appends: AtomicU64,
    /// Sealed execution batches those records carried.
    batches: AtomicU64,
    /// Encoded record bytes committed.
    bytes: AtomicU64,
    /// Appends the journal refused or could not commit.
    failures: AtomicU64,
    /// Sum and maximum of the time from queueing an append to its commit.
    latency_us_total: AtomicU64,
    latency_us_max: AtomicU64,
    /// Appends queued and not yet resolved.
    in_flight: AtomicU64,
}

/// One consistent-enough reading of [`JournalStats`] (each field is read
/// on its own; INFO needs no more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStatsReading {
    pub appends: u64,
    pub batches: u64,
    pub bytes: u64,
    pub failures: u64,
    pub latency_us_avg: u64,
    pub latency_us_max: u64,
    pub in_flight: u64,
}

impl JournalStats {
    /// Counts an append as in flight until the returned guard drops
    /// (resolved, or abandoned with its term).
    pub fn queued(self: &Arc<Self>) -> InFlightAppend {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightAppend(Arc::clone(self))
    }

    pub fn committed(&self, batches: u64, bytes: usize, latency: Duration) {
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.batches.fetch_add(batches, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.latency_us_total.fetch_add(latency_us, Ordering::Relaxed);
        self.latency_us_max.fetch_max(latency_us, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> JournalStatsReading {
        let appends = self.appends.load(Ordering::Relaxed);
        JournalStatsReading {
            appends,
            batches: self.batches.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            latency_us_avg: self.latency_us_total.load(Ordering::Relaxed) / appends.max(1),
            latency_us_max: self.latency_us_max.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }
}

/// An append counted in `in_flight` while this lives.
#[derive(Debug)]
pub struct InFlightAppend(Arc<JournalStats>);

impl Drop for InFlightAppend {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_commits_failures_and_what_is_in_flight() {
        let stats = Arc::new(JournalStats::default());
        let queued: Vec<_> = (0..4).map(|_| stats.queued()).collect();
        assert_eq!(stats.read().in_flight, 4);
        stats.committed(3, 100, Duration::from_micros(200));
        stats.committed(1, 50, Duration::from_micros(600));
        stats.failed();
        let reading = stats.read();
        assert_eq!(reading.appends, 2);
        assert_eq!(reading.batches, 4);
        assert_eq!(reading.bytes, 150);
        assert_eq!(reading.failures, 1);
        assert_eq!(reading.latency_us_avg, 400);
        assert_eq!(reading.latency_us_max, 600);
        drop(queued);
        assert_eq!(stats.read().in_flight, 0);
    }
}
