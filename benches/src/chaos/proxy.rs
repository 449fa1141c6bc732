//! A TCP proxy on loopback whose link can be cut: the partitions of the
//! chaos run. Every component that must be partitionable dials a proxy
//! instead of its peer, one proxy per directed pair.
//!
//! A cut link behaves like a network that silently drops packets: bytes
//! already in flight stay queued, nothing is forwarded, new connections are
//! accepted but not connected onwards. When the link heals, queued bytes go
//! through (as TCP retransmission would deliver them). A cut with `reset`
//! instead closes every open connection, as a middlebox sending RSTs would.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

/// How often a blocked forwarding thread looks at the link's state.
const POLL: Duration = Duration::from_millis(20);

/// State shared by a proxy's threads.
struct Link {
    cut: AtomicBool,
    stop: AtomicBool,
    /// Both sockets of every open connection, so that a reset can close them.
    open: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next_id: AtomicU64,
}

/// One proxy: listens on `port` and forwards to `target`.
pub struct Proxy {
    pub port: u16,
    link: Arc<Link>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port; connections go on to `target_port`.
    pub fn start(target_port: u16) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a proxy port")?;
        let port = listener.local_addr()?.port();
        listener
            .set_nonblocking(true)
            .context("making the proxy listener non-blocking")?;
        let link = Arc::new(Link {
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let shared = link.clone();
        let accept = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(&listener, target_port, &shared))
            .context("starting a proxy thread")?;
        Ok(Proxy {
            port,
            link,
            accept: Some(accept),
        })
    }

    /// Cuts the link; with `reset`, every open connection is closed too.
    pub fn cut(&self, reset: bool) {
        self.link.cut.store(true, Ordering::SeqCst);
        if reset {
            close_all(&self.link);
        }
    }

    pub fn heal(&self) {
        self.link.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.link.stop.store(true, Ordering::SeqCst);
        close_all(&self.link);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn close_all(link: &Link) {
    let open = std::mem::take(&mut *lock_open(link));
    for (a, b) in open.into_values() {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, target_port: u16, link: &Arc<Link>) {
    while !link.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let link = link.clone();
                // Detached: it ends when either side closes or the proxy stops.
                let _ = std::thread::Builder::new()
                    .name("proxy-conn".into())
                    .spawn(move || connection(client, target_port, &link));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Connects onwards once the link is up, then forwards both ways.
fn connection(client: TcpStream, target_port: u16, link: &Arc<Link>) {
    if client.set_nonblocking(false).is_err() {
        return;
    }
    while link.cut.load(Ordering::SeqCst) {
        if link.stop.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", target_port)) else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let clones = (|| {
        let tracked = (client.try_clone().ok()?, upstream.try_clone().ok()?);
        let back = (client.try_clone().ok()?, upstream.try_clone().ok()?);
        Some((tracked, back))
    })();
    let Some((tracked, (c_back, u_back))) = clones else {
        return;
    };
    let id = link.next_id.fetch_add(1, Ordering::Relaxed);
    lock_open(link).insert(id, tracked);
    let back_link = link.clone();
    let back = std::thread::Builder::new()
        .name("proxy-back".into())
        .spawn(move || forward(u_back, c_back, &back_link));
    forward(client, upstream, link);
    if let Ok(h) = back {
        let _ = h.join();
    }
    lock_open(link).remove(&id);
}

fn lock_open(link: &Link) -> std::sync::MutexGuard<'_, HashMap<u64, (TcpStream, TcpStream)>> {
    link.open.lock().unwrap_or_else(|p| p.into_inner())
}

/// Copies `from` to `to` while the link is up. The end of `from` is
/// passed on as a half-close (a journal replica closes its write half of a
/// peer connection and keeps reading); an error closes both.
fn forward(mut from: TcpStream, mut to: TcpStream, link: &Link) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if link.stop.load(Ordering::SeqCst) {
            break;
        }
        if link.cut.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                // A cut that starts while these bytes are in hand holds them.
                while link.cut.load(Ordering::SeqCst) && !link.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(POLL);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut s = stream.unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg)?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn forwards_holds_while_cut_and_resets() {
        let proxy = Proxy::start(echo_server()).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        assert_eq!(round_trip(&mut s, b"hello").unwrap(), b"hello");
        proxy.cut(false);
        assert!(round_trip(&mut s, b"held").is_err(), "nothing passes a cut link");
        proxy.heal();
        // The held bytes arrive after the heal.
        let mut got = vec![0u8; 4];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, b"held");
        proxy.cut(true);
        proxy.heal();
        let mut buf = [0u8; 1];
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)),
            "a reset closes the connection"
        );
    }
}
