//! Shared by the node_* integration tests: a real three-replica journal
//! over TCP, in-process memory nodes, and a raw RESP client that shows
//! exactly what the node sends (RESP2 and RESP3, push messages included).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use memoir_engine::{MemoryNode, NodeConfig, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const LEASE: Duration = Duration::from_millis(300);

pub fn free_addr() -> SocketAddr {
    memoir_journal::test_ports::free_loopback_addr()
}

pub type Journal = memoir_journal::local_cluster::LocalJournal;

/// Three in-process journal replicas over loopback.
pub async fn start_journal() -> Journal {
    Journal::start(1 << 20).await.expect("a local journal")
}

/// The lease of [`primary`]'s lone node. Its tests are not about leases,
/// and a 300 ms lease can run out on a loaded machine (a renewal waits for
/// journal flushes on one disk): the node then answers TRYAGAIN, or steps
/// down and dirties every WATCH, and the test fails for the machine's sake.
pub const SINGLE_NODE_LEASE: Duration = Duration::from_secs(2);

pub async fn start_node(journal: &Journal, election_delay: Duration) -> MemoryNode {
    start_node_with_lease(journal, election_delay, LEASE).await
}

async fn start_node_with_lease(journal: &Journal, election_delay: Duration, lease: Duration) -> MemoryNode {
    let mut config = NodeConfig::new(journal.addrs(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.lease = lease;
    config.lease_margin = lease / 4;
    config.election_delay = election_delay;
    MemoryNode::start(config).await.unwrap()
}

pub async fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A journal and one primary node.
pub async fn primary() -> (Journal, MemoryNode) {
    let journal = start_journal().await;
    let node = start_node_with_lease(&journal, Duration::ZERO, SINGLE_NODE_LEASE).await;
    wait_for("a primary", Duration::from_secs(10), || node.role() == Role::Primary).await;
    (journal, node)
}

pub async fn connect(node: &MemoryNode) -> redis::aio::MultiplexedConnection {
    let url = format!("redis://{}/", node.local_addr());
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// A RESP value as sent (types kept apart, unlike client libraries).
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NullBulk,
    Array(Vec<V>),
    /// `*-1`
    NullArray,
    /// RESP3 `_`
    Null,
    Double(String),
    Map(Vec<(V, V)>),
    Push(Vec<V>),
    Verbatim(String),
}

impl V {
    pub fn bulk(text: &str) -> V {
        V::Bulk(text.as_bytes().to_vec())
    }

    pub fn text(&self) -> String {
        match self {
            V::Simple(s) | V::Error(s) | V::Double(s) | V::Verbatim(s) => s.clone(),
            V::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            V::Int(n) => n.to_string(),
            other => format!("{other:?}"),
        }
    }
}

pub fn arr(items: &[&str]) -> V {
    V::Array(items.iter().map(|s| V::bulk(s)).collect())
}

/// A raw RESP connection.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(node: &MemoryNode) -> Raw {
        Raw {
            stream: TcpStream::connect(node.local_addr()).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Sends one command without waiting for its reply.
    pub async fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// Sends a command and reads its reply.
    pub async fn cmd(&mut self, args: &[&str]) -> V {
        self.send(args).await;
        self.read().await
    }

    /// The next value (5 s at most).
    pub async fn read(&mut self) -> V {
        self.read_within(Duration::from_secs(5))
            .await
            .expect("no reply within 5 s")
    }

    /// The next value, or `None` if nothing complete arrives in time.
    pub async fn read_within(&mut self, within: Duration) -> Option<V> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some((value, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(value);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    /// Whether the server closed the connection (within `within`).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn parse(buf: &[u8]) -> Option<(V, usize)> {
    let (&kind, _) = buf.split_first()?;
    let (head, used) = line(&buf[1..])?;
    let used = used + 1;
    let text = String::from_utf8_lossy(head).into_owned();
    let aggregate = |count: usize, pairs: bool| -> Option<(Vec<V>, usize)> {
        let mut items = Vec::new();
        let mut at = used;
        for _ in 0..count * if pairs { 2 } else { 1 } {
            let (item, n) = parse(&buf[at..])?;
            items.push(item);
            at += n;
        }
        Some((items, at))
    };
    match kind {
        b'+' => Some((V::Simple(text), used)),
        b'-' => Some((V::Error(text), used)),
        b':' => Some((V::Int(text.parse().ok()?), used)),
        b',' => Some((V::Double(text), used)),
        b'_' => Some((V::Null, used)),
        b'$' | b'=' => {
            let len: i64 = text.parse().ok()?;
            if len < 0 {
                return Some((V::NullBulk, used));
            }
            let len = len as usize;
            if buf.len() < used + len + 2 {
                return None;
            }
            let data = buf[used..used + len].to_vec();
            if kind == b'=' {
                return Some((
                    V::Verbatim(String::from_utf8_lossy(&data[4..]).into_owned()),
                    used + len + 2,
                ));
            }
            Some((V::Bulk(data), used + len + 2))
        }
        b'*' | b'>' | b'~' => {
            let len: i64 = text.parse().ok()?;
            if len < 0 {
                return Some((V::NullArray, used));
            }
            let (items, at) = aggregate(len as usize, false)?;
            Some((if kind == b'>' { V::Push(items) } else { V::Array(items) }, at))
        }
        b'%' => {
            let len: usize = text.parse().ok()?;
            let (items, at) = aggregate(len, true)?;
            let mut pairs = Vec::new();
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Some((V::Map(pairs), at))
        }
        other => panic!("unexpected RESP type byte {other}"),
    }
}

/// The value of field `name` in INFO's text; panics, showing the text,
/// if it is not there.
pub fn info_field<'a>(info: &'a str, name: &str) -> &'a str {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("INFO lacks {name}: {info}"))
}

/// Polls INFO until `field` reaches `value`.
pub async fn wait_info(raw: &mut Raw, field: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = raw.cmd(&["INFO", "everything"]).await.text();
        if info.lines().any(|l| l.trim_end() == format!("{field}:{value}")) {
            return;
        }
        assert!(Instant::now() < deadline, "{field} never became {value}:\n{info}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
