//! Free loopback addresses for tests and harnesses that start servers.
//!
//! Taken from below Linux's ephemeral range (32768 and up by default):
//! a port from that range, free between the moment a test picks it and
//! the moment its server binds it (or while a server is down for a
//! restart), can become the local port of any outgoing connection (other
//! tests run in parallel), and the bind then fails with AddrInUse.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST_PORT: u32 = 20_000;
const PORTS: u32 = 12_000;

/// A loopback address nothing listens on right now, below the ephemeral
/// range when one is free there (else any free port).
pub fn free_loopback_addr() -> SocketAddr {
    // Spread processes (test binaries run side by side) and successive
    // calls over the range.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..500 {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST_PORT + seed.wrapping_add(step.wrapping_mul(7_919)) % PORTS;
        let Ok(port) = u16::try_from(port) else { continue };
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            if let Ok(addr) = listener.local_addr() {
                return addr;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Whether starting a server failed because its port was taken between
/// [`free_loopback_addr`] and the bind (by another process): the caller
/// picks new ports and starts again.
pub fn is_addr_in_use(error: &crate::error::Error) -> bool {
    matches!(error, crate::error::Error::Io { op, source, .. }
        if *op == "listening on" && source.kind() == std::io::ErrorKind::AddrInUse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_below_the_ephemeral_range_and_bindable() {
        for _ in 0..20 {
            let addr = free_loopback_addr();
            assert!(addr.ip().is_loopback());
            assert!((20_000..32_000).contains(&addr.port()), "{addr}");
            TcpListener::bind(addr).expect("still free");
        }
    }
}
