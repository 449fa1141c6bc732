//! The process's allocator, jemalloc (as Redis uses), and the memory gauge
//! the memory nodes measure `maxmemory` and INFO's `used_memory` by.

use std::sync::OnceLock;

use memoir_engine::MemoryGauge;
use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `stats.allocated`: the bytes the program holds, which falls
/// as soon as memory is freed (the resident set does not).
pub const JEMALLOC_GAUGE: MemoryGauge = MemoryGauge::new(jemalloc_allocated);

fn jemalloc_allocated() -> Option<u64> {
    // Names resolved once: a lookup by MIB skips parsing the name.
    static MIBS: OnceLock<Option<(epoch_mib, stats::allocated_mib)>> = OnceLock::new();
    let (epoch_key, allocated_key) = MIBS
        .get_or_init(|| Some((epoch::mib().ok()?, stats::allocated::mib().ok()?)))
        .as_ref()?;
    // jemalloc caches its statistics until the epoch advances.
    epoch_key.advance().ok()?;
    allocated_key.read().ok().and_then(|bytes| u64::try_from(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_sees_an_allocation_come_and_go() {
        let before = JEMALLOC_GAUGE.read().expect("jemalloc statistics");
        let block = vec![1u8; 64 << 20];
        let during = JEMALLOC_GAUGE.read().expect("jemalloc statistics");
        drop(std::hint::black_box(block));
        let after = JEMALLOC_GAUGE.read().expect("jemalloc statistics");
        assert!(during >= before + (60 << 20), "{before} then {during}");
        assert!(after + (60 << 20) <= during, "{during} then {after}");
    }
}
