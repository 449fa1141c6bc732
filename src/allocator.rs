//! The process's allocator, jemalloc (as Redis uses), and the memory gauge
//! the memory nodes measure `maxmemory` and INFO's `used_memory` by.

use std::ffi::CStr;
use std::sync::OnceLock;

use memoir_engine::MemoryGauge;
use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `stats.allocated`: the bytes the program holds, which falls
/// as soon as memory is freed (the resident set does not); with jemalloc's
/// purge and report for MEMORY PURGE and MEMORY MALLOC-STATS, as Redis.
pub const JEMALLOC_GAUGE: MemoryGauge = MemoryGauge::new(jemalloc_allocated)
    .with_purge(jemalloc_purge)
    .with_stats(jemalloc_stats);

/// `arena.<i>.purge` for every arena: `MALLCTL_ARENAS_ALL` (jemalloc_macros.h)
/// is 4096 since jemalloc 5.0.
const PURGE_ALL_ARENAS: &CStr = c"arena.4096.purge";

/// Returns every arena's unused dirty pages to the system now, instead of
/// after jemalloc's decay time.
fn jemalloc_purge() -> Result<(), String> {
    // SAFETY: `arena.<i>.purge` takes and returns nothing: null old and
    // new values are what jemalloc requires; the name is NUL-terminated.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL_ARENAS.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    match rc {
        0 => Ok(()),
        errno => Err(format!(
            "mallctl {}: {}",
            PURGE_ALL_ARENAS.to_string_lossy(),
            std::io::Error::from_raw_os_error(errno)
        )),
    }
}

/// jemalloc's statistics report (`malloc_stats_print`).
fn jemalloc_stats() -> String {
    /// Appends one piece of the report to the `Vec<u8>` behind `opaque`.
    unsafe extern "C" fn append(opaque: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        if opaque.is_null() || text.is_null() {
            return;
        }
        // SAFETY: `opaque` is the `&mut Vec<u8>` passed below, alive for
        // the whole call, and jemalloc hands a NUL-terminated string.
        let (report, text) = unsafe { (&mut *opaque.cast::<Vec<u8>>(), CStr::from_ptr(text)) };
        report.extend_from_slice(text.to_bytes());
    }
    let mut report: Vec<u8> = Vec::new();
    // SAFETY: `append` matches the callback jemalloc expects; `opaque`
    // points to `report` for the duration of this synchronous call; null
    // options mean the default report.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(Some(append), (&mut report as *mut Vec<u8>).cast(), std::ptr::null());
    }
    String::from_utf8_lossy(&report).into_owned()
}

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

    #[test]
    fn jemalloc_purges_and_reports() {
        assert_eq!(JEMALLOC_GAUGE.purge(), Some(Ok(())));
        let report = JEMALLOC_GAUGE.stats().expect("a report");
        assert!(report.contains("jemalloc statistics"), "{report}");
        assert!(report.contains("Allocated:"), "{report}");
    }
}
