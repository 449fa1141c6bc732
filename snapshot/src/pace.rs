//! Pacing a snapshot's disk I/O to a byte rate.
//!
//! A snapshot writes the whole data set and reads it back to verify it.
//! Where the store shares a disk with journal replicas (`memoir dev`, the
//! benchmarks), unpaced that I/O comes in bursts of hundreds of MB/s, and
//! every journal fdatasync then waits behind it: on this machine a SET's
//! p99 went from 2.4 ms to 16 ms and its worst case past 90 ms while a
//! 1 GB snapshot was written (`memoir-bench snapshot-impact`). A snapshot
//! is not on anyone's latency path, so it can take longer instead: the
//! writer and the readers ask the pacer before each step and sleep when
//! they are ahead of the rate.
//!
//! One pacer is shared by every thread of one snapshot, so the rate bounds
//! their sum.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Credit a pacer that has been idle may spend at once: small, so that a
/// pause (between writing and verifying, say) does not turn into a burst.
const BURST: Duration = Duration::from_millis(20);

/// When paced, reads go out in pieces of this size, without the kernel's
/// readahead (which grows to `read_ahead_kb`, 8 MiB on this machine): a
/// device request that large makes every fdatasync behind it wait, however
/// low the average rate.
const PACED_READ_BYTES: usize = 256 << 10;

/// Sleeps callers so that the bytes they report stay within a rate.
#[derive(Debug)]
pub struct IoPacer {
    /// `None`: unlimited.
    bytes_per_s: Option<u64>,
    /// When the bytes reported so far are paid for.
    paid_until: Mutex<Option<Instant>>,
}

impl IoPacer {
    /// A pacer at `bytes_per_s` (0: unlimited, `pace` returns at once).
    pub fn new(bytes_per_s: u64) -> IoPacer {
        IoPacer {
            bytes_per_s: (bytes_per_s > 0).then_some(bytes_per_s),
            paid_until: Mutex::new(None),
        }
    }

    /// Whether this pacer limits anything (then reads are kept small too:
    /// see [`IoPacer::read_bytes`]).
    pub fn is_limited(&self) -> bool {
        self.bytes_per_s.is_some()
    }

    /// How much one read (or readahead) should ask for: `unpaced` when
    /// nothing is limited, else [`PACED_READ_BYTES`].
    pub fn read_bytes(&self, unpaced: usize) -> usize {
        if self.is_limited() {
            PACED_READ_BYTES
        } else {
            unpaced
        }
    }

    /// A pacer that never sleeps.
    pub fn unlimited() -> IoPacer {
        IoPacer::new(0)
    }

    /// Accounts for `bytes` just read or written, sleeping first if the
    /// caller is ahead of the rate.
    pub fn pace(&self, bytes: u64) {
        if let Some(wait) = self.delay(bytes) {
            std::thread::sleep(wait);
        }
    }

    /// Accounts for `bytes` just read or written; how long the caller
    /// must wait before its next step, if at all (for async callers, which
    /// must not block their thread in `pace`).
    pub fn delay(&self, bytes: u64) -> Option<Duration> {
        self.charge(bytes, Instant::now())
    }

    /// Books `bytes` at `now`; how long the caller must sleep, if at all.
    fn charge(&self, bytes: u64, now: Instant) -> Option<Duration> {
        let rate = self.bytes_per_s?;
        let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
        // A poisoned lock only means another snapshot thread panicked
        // (the snapshot fails anyway); the instant inside is still valid.
        let mut paid = self.paid_until.lock().unwrap_or_else(|p| p.into_inner());
        let floor = now.checked_sub(BURST).unwrap_or(now);
        let start = paid.map_or(floor, |at| at.max(floor));
        let until = start + cost;
        *paid = Some(until);
        until.checked_duration_since(now).filter(|wait| !wait.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let pacer = IoPacer::unlimited();
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(pacer.charge(1 << 30, now), None);
        }
    }

    #[test]
    fn waits_once_ahead_of_the_rate_by_more_than_the_burst() {
        // 1 MB/s: 1 KB costs 1 ms.
        let pacer = IoPacer::new(1_000_000);
        let now = Instant::now();
        // The first 40 ms of bytes: 20 ms of burst credit, then 20 ms ahead.
        assert_eq!(pacer.charge(20_000, now), None);
        let wait = pacer.charge(20_000, now).expect("ahead of the rate");
        assert!(
            wait >= Duration::from_millis(19) && wait <= Duration::from_millis(21),
            "{wait:?}"
        );
        // Later callers queue behind the earlier ones' debt.
        let wait = pacer.charge(10_000, now).expect("further ahead");
        assert!(
            wait >= Duration::from_millis(29) && wait <= Duration::from_millis(31),
            "{wait:?}"
        );
    }

    #[test]
    fn paced_reads_are_small_and_unpaced_reads_as_asked() {
        assert_eq!(IoPacer::unlimited().read_bytes(4 << 20), 4 << 20);
        assert_eq!(IoPacer::new(1_000_000).read_bytes(4 << 20), PACED_READ_BYTES);
    }

    #[test]
    fn idle_time_buys_only_the_burst() {
        let pacer = IoPacer::new(1_000_000);
        let start = Instant::now();
        assert_eq!(pacer.charge(1_000, start), None);
        // A long pause, then a large step: only BURST of it is free.
        let later = start + Duration::from_secs(10);
        let wait = pacer.charge(100_000, later).expect("100 ms of bytes");
        assert!(
            wait >= Duration::from_millis(79) && wait <= Duration::from_millis(81),
            "{wait:?}"
        );
    }
}
