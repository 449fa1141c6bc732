//! A journal replica as a network service: raft peer links and client
//! sessions over TCP, around the raft driver (`node.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::BytesMut;
use protobuf::Message as _;
use raft::prelude::Message;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::auth::{self, ClusterSecret};
use crate::error::{Error, Result};
use crate::ids::NodeId;
use crate::link::{LinkReader, LinkSecurity, LinkStream, LinkWriter};
use crate::log::{Entry, Log, LogOptions};
use crate::log_checksum::LogChecksum;
use crate::node::{self, accepted_payload, Input, NodeHandle, NodeOptions, ProposeError, ReplicaShared, Transport};
use crate::recovery::RecoveryMode;
use crate::seq::Seq;
use crate::state::{Command, JournalState, Outcome};
use crate::vote_hold::VoteHold;
use crate::warn_throttle::WarnThrottle;
use crate::wire::{
    decode_body, encode_body, encode_frame, write_frame, ErrorKind, FrameKind, FrameReader, Hello, HelloReply, Request,
    RequestBody, Response, ResponseBody, Role, StatusReport, WireError, MAX_APPEND_BYTES, PROTOCOL_MAGIC,
    PROTOCOL_VERSION,
};

/// The most entry bytes one read returns, each entry counted with
/// `ENTRY_READ_OVERHEAD` (beyond it, only a first entry, up to an append's
/// size). Whatever budget a client asks for, the response fits in a frame.
const MAX_READ_BYTES: usize = 16 << 20;
/// What an entry adds to a response besides its payload: its seq and
/// length, rounded up.
const ENTRY_READ_OVERHEAD: usize = 16;

/// The budget a read request asks for, capped at `MAX_READ_BYTES`.
fn read_budget(max_bytes: u64) -> usize {
    usize::try_from(max_bytes).unwrap_or(usize::MAX).min(MAX_READ_BYTES)
}

/// Everything one replica needs to run.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    pub id: NodeId,
    pub listen: SocketAddr,
    /// Address of every replica, this one included, as this replica dials
    /// them (a test may put a proxy in between).
    pub peers: BTreeMap<NodeId, String>,
    pub data_dir: PathBuf,
    pub log: LogOptions,
    pub node: NodeOptions,
    /// Bound on raft messages queued for one peer; beyond it messages are
    /// dropped (raft retransmits).
    pub peer_queue: usize,
    /// How peer and client links are secured (TLS, cluster secret): the
    /// same for links this replica accepts and the ones it opens.
    pub security: LinkSecurity,
}

impl ReplicaConfig {
    pub fn new(id: NodeId, listen: SocketAddr, peers: BTreeMap<NodeId, String>, data_dir: PathBuf) -> Self {
        let voters = peers.keys().copied().collect();
        ReplicaConfig {
            id,
            listen,
            peers,
            data_dir,
            log: LogOptions::default(),
            node: NodeOptions::new(id, voters),
            peer_queue: 4096,
            security: LinkSecurity::none(),
        }
    }
}

/// A running replica.
pub struct Replica {
    node: Option<NodeHandle>,
    pub shared: Arc<ReplicaShared>,
    pub local_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Replica {
    /// Opens the replica's data and starts serving; must be called inside a
    /// multi-threaded tokio runtime.
    pub async fn start(config: ReplicaConfig) -> Result<Replica> {
        if !config.peers.contains_key(&config.id) {
            return Err(Error::InvalidArgument(format!(
                "replica {} is not in its own peer list",
                config.id
            )));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| Error::io("creating", &config.data_dir, e))?;
        let log_dir = config.data_dir.join("log");
        let (log, repairing) = match Log::open(&log_dir, config.log.clone()) {
            Ok(log) => (log, false),
            Err(e) if e.is_corruption() && config.log.recovery != RecoveryMode::Strict => {
                // Do not serve or propagate bad data: keep the valid prefix
                // and let raft refill the rest from the peers.
                warn!(error = %e, "journal log is damaged; repairing from peers");
                let salvage = LogOptions {
                    recovery: RecoveryMode::TruncateAtFirstBadBatch,
                    ..config.log.clone()
                };
                (Log::open(&log_dir, salvage)?, true)
            }
            Err(e) => return Err(e),
        };
        if repairing {
            // Held before anything is fetched, so that a crash mid-repair
            // still restarts without votes (see `vote_hold`).
            VoteHold::hold(&config.data_dir)?;
            repair_from_leader(&log, &config).await?;
        }
        let incarnation = incarnation(&config.data_dir)?;
        let log = Arc::new(log);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io("listening on", PathBuf::from(config.listen.to_string()), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the address of", PathBuf::from(config.listen.to_string()), e))?;

        if !local_addr.ip().is_loopback() && !config.security.authenticates_clients() {
            warn!(
                listen = %local_addr,
                "journal replica listening beyond loopback without authentication: anyone who can connect can \
                 append and change the leader; set --cluster-secret-file or journal TLS with client certificates"
            );
        }

        let mut tasks = Vec::new();
        let mut peer_queues = BTreeMap::new();
        for (&peer, addr) in &config.peers {
            if peer == config.id {
                continue;
            }
            let (tx, rx) = mpsc::channel::<Message>(config.peer_queue);
            peer_queues.insert(peer, tx);
            tasks.push(tokio::spawn(peer_sender(
                PeerLink {
                    me: config.id,
                    incarnation,
                    peer,
                    addr: addr.clone(),
                    security: config.security.clone(),
                },
                rx,
            )));
        }
        let transport = Box::new(PeerTransport { queues: peer_queues });
        let node_options = config.node.clone();
        // Opening the raft state is blocking I/O, and when the log ends
        // before the checkpoint (a replica rebuilt after its damaged range
        // was trimmed) it resets the log and waits for that synchronously:
        // on a runtime worker that wait panics, so it runs off the runtime.
        let node_dir = config.data_dir.clone();
        let node = tokio::task::spawn_blocking(move || node::start(node_dir, log, node_options, transport))
            .await
            .map_err(|e| Error::Startup(format!("opening the raft state: {e}")))??;
        let shared = node.shared.clone();
        let ctx = Arc::new(SessionContext {
            shared: shared.clone(),
            inbox: node.inbox.clone(),
            peers: config.peers.clone(),
            security: config.security.clone(),
            refusals: RefusalLog::default(),
        });
        tasks.push(tokio::spawn(accept_loop(listener, ctx)));
        info!(id = config.id, listen = %local_addr, "journal replica serving");
        Ok(Replica {
            node: Some(node),
            shared,
            local_addr,
            tasks,
        })
    }

    /// Stops the network tasks and the raft thread.
    pub fn stop(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some(node) = self.node.take() {
            node.stop();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

/// This data directory's incarnation: a random number made when the
/// directory is first used, so that peers can tell a restart from a wipe.
fn incarnation(dir: &std::path::Path) -> Result<u64> {
    let path = dir.join("incarnation");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text.trim().parse().map_err(|e| Error::Corruption {
            path: path.clone(),
            offset: 0,
            reason: format!("incarnation: {e}"),
        });
    }
    let value: u64 = rand::random::<u64>() | 1;
    crate::segment::write_file_durably(dir, "incarnation", value.to_string().as_bytes())?;
    Ok(value)
}

/// Refills a salvaged log from the raft leader before this replica rejoins
/// raft: everything from the first damaged entry to the leader's last entry,
/// byte for byte. Raft's leader completeness makes the leader's log the
/// authority for every entry this replica may have acknowledged, and a log
/// that is at least as long as before keeps raft's view of this replica
/// (its matched index) true.
async fn repair_from_leader(log: &Log, config: &ReplicaConfig) -> Result<()> {
    let from = log.next_seq();
    info!(from = %from, "fetching the damaged part of the log from the raft leader");
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match fetch_from_leader(log, config).await {
            Ok(fetched) => {
                info!(entries = fetched, next = %log.next_seq(), "journal log repaired from the raft leader");
                return Ok(());
            }
            Err(FetchError::Trimmed(reason)) => {
                // The leader no longer has the damaged range: start over as
                // a replica that lost its log. The log restarts empty (raft
                // storage re-bases it at the state checkpoint), the hard state
                // (term, vote) is kept, and a new incarnation makes the leader
                // re-probe this replica and send it a snapshot.
                warn!(%reason, "the leader has trimmed the damaged range; rebuilding this replica from a snapshot");
                log.reset(Seq::FIRST).await?;
                let path = config.data_dir.join("incarnation");
                match std::fs::remove_file(&path) {
                    Ok(()) => crate::log::sync_directory(&config.data_dir)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("removing", &path, e)),
                }
                return Ok(());
            }
            Err(FetchError::NotYet(reason)) => {
                if attempt % 20 == 1 {
                    warn!(%reason, "cannot repair from a leader yet; retrying");
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

enum FetchError {
    /// The leader's log starts after the entry we need.
    Trimmed(String),
    /// No leader, or a network error: try again.
    NotYet(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Trimmed(s) | FetchError::NotYet(s) => f.write_str(s),
        }
    }
}

async fn fetch_from_leader(log: &Log, config: &ReplicaConfig) -> std::result::Result<usize, FetchError> {
    let mut leader = None;
    for (&id, addr) in &config.peers {
        if id == config.id {
            continue;
        }
        if let Ok(status) = crate::client::replica_status(addr, &config.security, Duration::from_secs(1)).await {
            if status.role == "leader" {
                leader = Some(addr.clone());
                break;
            }
        }
    }
    let Some(addr) = leader else {
        return Err(FetchError::NotYet("no raft leader among the peers".into()));
    };
    let mut fetched = 0;
    loop {
        let body = crate::client::request_once(
            &addr,
            &config.security,
            RequestBody::FetchRaw {
                from: log.next_seq(),
                max_bytes: 4 << 20,
            },
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| FetchError::NotYet(e.to_string()))?;
        let (entries, last) = match body {
            ResponseBody::RawEntries { entries, last } => (entries, last),
            ResponseBody::Error {
                kind: ErrorKind::Trimmed,
                message,
            } => return Err(FetchError::Trimmed(format!("leader {addr}: {message}"))),
            other => return Err(FetchError::NotYet(format!("leader {addr} answered {other:?}"))),
        };
        if let Some((first, _)) = entries.first() {
            if *first != log.next_seq() {
                return Err(FetchError::Trimmed(format!(
                    "leader {addr} no longer holds entry {}",
                    log.next_seq()
                )));
            }
        }
        let count = entries.len();
        if count > 0 {
            log.append(entries.into_iter().map(|(_, data)| data).collect())
                .await
                .map_err(|e| FetchError::NotYet(e.to_string()))?;
            fetched += count;
        }
        if log.next_seq() > last || count == 0 {
            return Ok(fetched);
        }
    }
}

struct PeerTransport {
    queues: BTreeMap<NodeId, mpsc::Sender<Message>>,
}

impl Transport for PeerTransport {
    fn send(&mut self, messages: Vec<Message>) {
        for message in messages {
            if let Some(queue) = self.queues.get(&message.to) {
                // A full queue means the peer is slow or gone: drop, raft
                // retransmits what matters.
                let _ = queue.try_send(message);
            }
        }
    }
}

/// Where and how one replica sends raft messages to one peer.
struct PeerLink {
    me: NodeId,
    incarnation: u64,
    peer: NodeId,
    addr: String,
    security: LinkSecurity,
}

/// Dials `peer` and streams raft messages to it, reconnecting with backoff.
async fn peer_sender(link: PeerLink, mut queue: mpsc::Receiver<Message>) {
    let PeerLink { peer, ref addr, .. } = link;
    let mut backoff = Duration::from_millis(20);
    let mut refused_logged = false;
    loop {
        match connect_peer(&link).await {
            Ok(mut stream) => {
                backoff = Duration::from_millis(20);
                refused_logged = false;
                debug!(peer, %addr, "peer link up");
                let mut out = BytesMut::new();
                loop {
                    let Some(first) = queue.recv().await else { return };
                    out.clear();
                    push_raft_frame(&first, &mut out);
                    while out.len() < 1 << 20 {
                        match queue.try_recv() {
                            Ok(next) => push_raft_frame(&next, &mut out),
                            Err(_) => break,
                        }
                    }
                    let written = match stream.write_all(&out).await {
                        Ok(()) => stream.flush().await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = written {
                        debug!(peer, error = %e, "peer link down");
                        break;
                    }
                }
            }
            Err(e) => {
                // A refused handshake is a configuration problem an
                // operator must see (once per outage); unreachable peers
                // are routine.
                if matches!(e, WireError::Handshake(_) | WireError::Auth(_) | WireError::Tls(_)) && !refused_logged {
                    warn!(peer, %addr, error = %e, "peer link refused");
                    refused_logged = true;
                } else {
                    debug!(peer, %addr, error = %e, "cannot reach peer");
                }
                // Messages queued while the peer is unreachable are stale.
                while queue.try_recv().is_ok() {}
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
    }
}

fn push_raft_frame(message: &Message, out: &mut BytesMut) {
    match message.write_to_bytes() {
        Ok(bytes) => encode_frame(FrameKind::Raft, &bytes, out),
        Err(e) => warn!(error = %e, "cannot encode a raft message"),
    }
}

async fn connect_peer(link: &PeerLink) -> std::result::Result<LinkStream, WireError> {
    let mut stream = tokio::time::timeout(Duration::from_secs(2), link.security.dial(&link.addr))
        .await
        .map_err(|_| WireError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")))??;
    let role = Role::Peer {
        from: link.me,
        incarnation: link.incarnation,
    };
    handshake(&mut stream, role, link.security.secret())
        .await
        .map_err(|e| link.security.explain_handshake_failure(e))?;
    Ok(stream)
}

/// The client side of the handshake: the cluster-secret challenge-response
/// if we have a secret, then `Hello`.
pub async fn handshake<S>(
    stream: &mut S,
    role: Role,
    secret: Option<&ClusterSecret>,
) -> std::result::Result<NodeId, WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(&mut *stream);
    // The server sends nothing past its HelloReply until asked, so this
    // reader holds no bytes of later frames when it is dropped.
    let mut reader = FrameReader::new(read);
    let exchange = async {
        if let Some(secret) = secret {
            auth::authenticate_to_server(&mut reader, &mut write, secret).await?;
        }
        let hello = Hello {
            magic: PROTOCOL_MAGIC,
            version: PROTOCOL_VERSION,
            role,
        };
        write_frame(&mut write, FrameKind::Hello, &encode_body(&hello)).await?;
        reader.next().await
    };
    let frame = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| WireError::Handshake("no handshake reply".into()))??;
    if frame.kind != FrameKind::HelloReply {
        return Err(WireError::Unexpected(frame.kind));
    }
    match decode_body::<HelloReply>("handshake reply", &frame.body)? {
        HelloReply::Welcome { version, node } if version == PROTOCOL_VERSION => Ok(node),
        HelloReply::Welcome { version, .. } => Err(WireError::Handshake(format!("server speaks version {version}"))),
        HelloReply::Refused { reason } => Err(WireError::Handshake(reason)),
    }
}

struct SessionContext {
    shared: Arc<ReplicaShared>,
    inbox: crossbeam_channel::Sender<Input>,
    peers: BTreeMap<NodeId, String>,
    security: LinkSecurity,
    refusals: RefusalLog,
}

/// Refused connections are logged as warnings at most once every
/// `REFUSAL_LOG_INTERVAL` (a misconfigured client retries several times a
/// second); the others go to debug, with a count in the next warning.
const REFUSAL_LOG_INTERVAL: std::time::Duration = Duration::from_secs(10);

#[derive(Default)]
struct RefusalLog {
    /// (when warnings may go out, refusals since the last one)
    state: std::sync::Mutex<(WarnThrottle, u64)>,
}

impl RefusalLog {
    fn refused(&self, remote: SocketAddr, error: &WireError) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0.due(std::time::Instant::now(), REFUSAL_LOG_INTERVAL) {
            let suppressed = std::mem::take(&mut state.1);
            drop(state);
            warn!(%remote, %error, suppressed, "connection refused");
        } else {
            state.1 += 1;
            drop(state);
            debug!(%remote, %error, "connection refused");
        }
    }
}

/// Accepts connections. Each connection's task lives in this task's
/// `JoinSet`, so stopping the replica (aborting this task) ends them all.
async fn accept_loop(listener: TcpListener, ctx: Arc<SessionContext>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((stream, remote)) => {
                let ctx = ctx.clone();
                connections.spawn(async move {
                    if let Err(e) = serve_connection(stream, ctx.clone()).await {
                        match e {
                            WireError::Closed => {}
                            WireError::Auth(_) | WireError::Tls(_) => ctx.refusals.refused(remote, &e),
                            other => debug!(%remote, error = %other, "connection closed"),
                        }
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(tcp: TcpStream, ctx: Arc<SessionContext>) -> std::result::Result<(), WireError> {
    let stream = ctx.security.accept(tcp).await?;
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = FrameReader::new(read_half);
    let greeting = tokio::time::timeout(Duration::from_secs(10), greet(&mut reader, &mut write_half, &ctx))
        .await
        .map_err(|_| WireError::Handshake("no hello".into()))
        .and_then(|greeting| greeting);
    let hello = match greeting {
        Ok(hello) => hello,
        Err(e) => {
            if !matches!(e, WireError::Closed | WireError::Io(_)) {
                // Tell the other side why, so that its operator sees it.
                let reply = HelloReply::Refused { reason: e.to_string() };
                let _ = write_frame(&mut write_half, FrameKind::HelloReply, &encode_body(&reply)).await;
            }
            return Err(e);
        }
    };
    let welcome = HelloReply::Welcome {
        version: PROTOCOL_VERSION,
        node: ctx.shared.id,
    };
    write_frame(&mut write_half, FrameKind::HelloReply, &encode_body(&welcome)).await?;
    match hello.role {
        Role::Peer { from, incarnation } => {
            drop(write_half);
            send_input(
                &ctx.inbox,
                Input::PeerIncarnation {
                    peer: from,
                    incarnation,
                },
            )?;
            serve_peer(from, reader, ctx).await
        }
        Role::Client => serve_client(reader, write_half, ctx).await,
    }
}

/// The server side of the handshake up to `Hello`: authenticates the
/// client if this replica has a cluster secret, checks the version.
async fn greet(
    reader: &mut FrameReader<LinkReader>,
    writer: &mut LinkWriter,
    ctx: &SessionContext,
) -> std::result::Result<Hello, WireError> {
    let mut frame = reader.next().await?;
    match (frame.kind, ctx.security.secret()) {
        (FrameKind::AuthChallenge, Some(secret)) => {
            auth::authenticate_client(&frame, reader, writer, secret).await?;
            frame = reader.next().await?;
        }
        (FrameKind::AuthChallenge, None) => {
            return Err(WireError::Handshake(
                "this replica has no cluster secret configured, and the client offered one".into(),
            ))
        }
        (_, Some(_)) => {
            return Err(WireError::Auth(
                "this replica requires the cluster secret (--cluster-secret-file)".into(),
            ))
        }
        (_, None) => {}
    }
    if frame.kind != FrameKind::Hello {
        return Err(WireError::Unexpected(frame.kind));
    }
    let hello: Hello = decode_body("hello", &frame.body)?;
    if hello.magic != PROTOCOL_MAGIC || hello.version != PROTOCOL_VERSION {
        return Err(WireError::Handshake(format!(
            "this replica speaks protocol version {PROTOCOL_VERSION}, the client {}",
            hello.version
        )));
    }
    Ok(hello)
}

async fn serve_peer(
    from: NodeId,
    mut reader: FrameReader<LinkReader>,
    ctx: Arc<SessionContext>,
) -> std::result::Result<(), WireError> {
    loop {
        let frame = reader.next().await?;
        if frame.kind != FrameKind::Raft {
            return Err(WireError::Unexpected(frame.kind));
        }
        let message = Message::parse_from_bytes(&frame.body).map_err(|e| WireError::Body {
            what: "raft message",
            reason: e.to_string(),
        })?;
        if message.from != from {
            return Err(WireError::Body {
                what: "raft message",
                reason: format!("claims to be from {} on a link from {from}", message.from),
            });
        }
        send_input(&ctx.inbox, Input::Raft(Box::new(message)))?;
    }
}

/// Hands an input to the raft thread, in order. The inbox is bounded: when
/// it is full this waits (off the async worker), which slows the sender.
fn send_input(inbox: &crossbeam_channel::Sender<Input>, input: Input) -> std::result::Result<(), WireError> {
    match inbox.try_send(input) {
        Ok(()) => Ok(()),
        Err(crossbeam_channel::TrySendError::Full(input)) => tokio::task::block_in_place(|| inbox.send(input))
            .map_err(|_| WireError::Io(std::io::Error::other("replica stopped"))),
        Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
            Err(WireError::Io(std::io::Error::other("replica stopped")))
        }
    }
}

async fn serve_client(
    mut reader: FrameReader<LinkReader>,
    mut writer: LinkWriter,
    ctx: Arc<SessionContext>,
) -> std::result::Result<(), WireError> {
    let (responses, mut outgoing) = mpsc::channel::<Response>(4096);
    let write_task = tokio::spawn(async move {
        let mut out = BytesMut::new();
        while let Some(first) = outgoing.recv().await {
            out.clear();
            encode_frame(FrameKind::Response, &encode_body(&first), &mut out);
            while out.len() < 1 << 20 {
                match outgoing.try_recv() {
                    Ok(next) => encode_frame(FrameKind::Response, &encode_body(&next), &mut out),
                    Err(_) => break,
                }
            }
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    let result = client_requests(&mut reader, &responses, &ctx).await;
    drop(responses);
    let _ = write_task.await;
    result
}

/// Reads a client's requests in order. Tasks it starts (waiting for a
/// proposal's outcome, streaming a subscription) live in `tasks` and end
/// with the connection.
async fn client_requests(
    reader: &mut FrameReader<LinkReader>,
    responses: &mpsc::Sender<Response>,
    ctx: &Arc<SessionContext>,
) -> std::result::Result<(), WireError> {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let first = tokio::select! {
            frame = reader.next() => frame?,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        // Take every request already received, so that the proposals among
        // them reach raft together (one Ready, one fsync).
        let mut proposals = Vec::new();
        let mut frame = Some(first);
        while let Some(current) = frame.take() {
            if current.kind != FrameKind::Request {
                return Err(WireError::Unexpected(current.kind));
            }
            let request: Request = decode_body("request", &current.body)?;
            if let Some(command) = handle_request(request.id, request.body, responses, ctx, &mut tasks).await? {
                proposals.push((request.id, command));
            }
            if proposals.len() < 4096 {
                frame = reader.try_next()?;
            }
        }
        if proposals.is_empty() {
            continue;
        }
        if let Some(reason) = ctx.shared.fatal() {
            for (id, _) in proposals {
                let body = ResponseBody::Error {
                    kind: ErrorKind::Unavailable,
                    message: reason.clone(),
                };
                send(responses, id, body).await?;
            }
            continue;
        }
        let mut batch = Vec::with_capacity(proposals.len());
        for (id, command) in proposals {
            let (reply, outcome) = tokio::sync::oneshot::channel();
            batch.push((command, reply));
            let responses = responses.clone();
            let peers = ctx.peers.clone();
            tasks.spawn(async move {
                let body = match outcome.await {
                    Ok(Ok(outcome)) => outcome_body(outcome),
                    Ok(Err(ProposeError::NotLeader { leader })) => ResponseBody::NotLeader {
                        leader: leader.and_then(|l| peers.get(&l).map(|addr| (l, addr.clone()))),
                    },
                    Ok(Err(ProposeError::Dropped)) => ResponseBody::Error {
                        kind: ErrorKind::Retry,
                        message: "leadership changed while the request was in flight".into(),
                    },
                    Ok(Err(ProposeError::Stopped { reason })) => ResponseBody::Error {
                        kind: ErrorKind::Unavailable,
                        message: reason,
                    },
                    Err(_) => ResponseBody::Error {
                        kind: ErrorKind::Unavailable,
                        message: "replica stopped".into(),
                    },
                };
                let _ = responses.send(Response { id, body }).await;
            });
        }
        send_input(&ctx.inbox, Input::ProposeMany(batch))?;
    }
}

/// Serves a read-only request at once, or returns the command to propose.
async fn handle_request(
    id: u64,
    body: RequestBody,
    responses: &mpsc::Sender<Response>,
    ctx: &Arc<SessionContext>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> std::result::Result<Option<Command>, WireError> {
    Ok(Some(match body {
        RequestBody::Append { payload, .. } if payload.len() > MAX_APPEND_BYTES => {
            // Our client never sends one; another must hear why, not retry.
            let body = ResponseBody::Error {
                kind: ErrorKind::Invalid,
                message: format!(
                    "an append of {} bytes exceeds the journal's limit of {MAX_APPEND_BYTES} bytes",
                    payload.len()
                ),
            };
            send(responses, id, body).await?;
            return Ok(None);
        }
        RequestBody::Append {
            writer,
            writer_seq,
            leader,
            payload,
        } => Command::Append {
            writer,
            writer_seq,
            leader,
            payload,
        },
        RequestBody::SetLeader { new, expected } => Command::SetLeader { new, expected },
        RequestBody::Trim { before } => Command::Trim { before },
        RequestBody::Read { from, max_bytes } => {
            let max_bytes = read_budget(max_bytes);
            let (body, _) = read_committed_off_runtime(ctx.shared.clone(), from, max_bytes).await;
            send(responses, id, body).await?;
            return Ok(None);
        }
        RequestBody::Subscribe { from } => {
            tasks.spawn(subscription(ctx.shared.clone(), id, from, responses.clone()));
            return Ok(None);
        }
        RequestBody::Status => {
            let body = ResponseBody::Status(Box::new(status_report(&ctx.shared)));
            send(responses, id, body).await?;
            return Ok(None);
        }
        RequestBody::FetchRaw { from, max_bytes } => {
            let max_bytes = read_budget(max_bytes);
            let body = fetch_raw_off_runtime(ctx.shared.clone(), from, max_bytes).await;
            send(responses, id, body).await?;
            return Ok(None);
        }
    }))
}

async fn send(responses: &mpsc::Sender<Response>, id: u64, body: ResponseBody) -> std::result::Result<(), WireError> {
    responses
        .send(Response { id, body })
        .await
        .map_err(|_| WireError::Closed)
}

fn outcome_body(outcome: Outcome) -> ResponseBody {
    match outcome {
        Outcome::Appended { seq } => ResponseBody::Appended { seq },
        Outcome::Fenced { current } => ResponseBody::Fenced { current },
        Outcome::LeaderSet => ResponseBody::LeaderSet,
        Outcome::Conflict { current } => ResponseBody::Conflict { current },
        Outcome::Trimmed { before } => ResponseBody::Trimmed { before },
        Outcome::Indeterminate => ResponseBody::Error {
            kind: ErrorKind::Indeterminate,
            message: "retry older than the deduplication window".into(),
        },
    }
}

/// Accepted appends from `from` on, committed and applied on this replica,
/// with where the next read must start: past the last position looked at
/// (returned entries, and rejected positions after them). Only that, never
/// the committed end: a read cut short by `max_bytes` has not looked at
/// what lies between.
fn read_committed_from(shared: &ReplicaShared, from: Seq, max_bytes: usize) -> (ResponseBody, Seq) {
    let applied = *shared.applied.borrow();
    // Past the log's first seq, `from` is readable (unless trimmed): skip
    // the read of the first entry that `first_readable` needs, which every
    // subscription would otherwise pay on every commit.
    let readable_from = if from > shared.log.first_seq() {
        from
    } else {
        first_readable(&shared.log)
    };
    committed_entries(
        &shared.state,
        applied,
        from,
        readable_from,
        max_bytes,
        |next, budget| shared.log.read(next, budget),
    )
}

/// [`read_committed_from`]'s work, with the log read through `read_log`.
///
/// The state lock is taken only to sort entries already read, never while
/// `read_log` runs: the raft thread takes it for writing to apply every
/// commit, and a reader that held it across megabytes of disk reads (a
/// subscriber catching up from behind the in-memory tail, such as the
/// snapshot service after a snapshot) stalled every commit meanwhile.
fn committed_entries(
    state_lock: &RwLock<JournalState>,
    applied: u64,
    from: Seq,
    readable_from: Seq,
    max_bytes: usize,
    mut read_log: impl FnMut(Seq, usize) -> Result<Vec<Entry>>,
) -> (ResponseBody, Seq) {
    let read_state = || state_lock.read().unwrap_or_else(|e| e.into_inner());
    let trimmed = |trim_before: Seq| ResponseBody::Error {
        kind: ErrorKind::Trimmed,
        message: format!("entries below {trim_before} are trimmed"),
    };
    // The running checksum as of now, with the position it covers: a fact
    // about the log that later commits do not change. Taken next to
    // `applied`, as the reader's place is, so that a read that reaches the
    // end carries it as often as before.
    let (first, at_start) = {
        let state = read_state();
        let at_start = LogChecksum {
            through: Seq(state.applied),
            value: state.log_checksum,
        };
        (state.trim_before.max(readable_from), at_start)
    };
    if from < first {
        return (trimmed(first), from);
    }
    let mut entries = Vec::new();
    let mut next = from;
    let mut bytes = 0usize;
    let mut full = false;
    while next.0 <= applied && bytes < max_bytes.max(1) {
        let chunk = match read_log(next, max_bytes.max(1) - bytes.min(max_bytes)) {
            Ok(chunk) => chunk,
            Err(Error::OutOfRange { .. }) => break,
            Err(e) => {
                let error = ResponseBody::Error {
                    kind: ErrorKind::Unavailable,
                    message: e.to_string(),
                };
                return (error, from);
            }
        };
        let (Some(first_read), Some(last)) = (chunk.first(), chunk.last()) else {
            break;
        };
        let first_read = first_read.seq;
        next = last.seq.next();
        let state = read_state();
        // The state forgets rejected positions below a trim point: if a
        // trim passed these entries while the lock was free, which of them
        // were accepted can no longer be told (and they are gone anyway).
        if state.trim_before > first_read {
            return (trimmed(state.trim_before), from);
        }
        for entry in chunk {
            if entry.seq.0 > applied {
                next = entry.seq;
                break;
            }
            if let Some(payload) = accepted_payload(&state, entry.seq, &entry.data) {
                // Only the response's first entry may exceed the budget
                // (each `log.read` returns at least one entry): a large
                // entry after others waits for the next read, so the
                // response still fits in a frame.
                let weight = payload.len() + ENTRY_READ_OVERHEAD;
                if !entries.is_empty() && bytes + weight > max_bytes {
                    next = entry.seq;
                    full = true;
                    break;
                }
                bytes += weight;
                entries.push((entry.seq, payload));
            }
        }
        if full || next.0 > applied {
            break;
        }
    }
    // Everything through the checksum's position was looked at: it is the
    // one the reader reaches after these entries.
    let checksum = (next.0 > at_start.through.0).then_some(at_start);
    let body = ResponseBody::Entries {
        entries,
        committed: Seq(applied),
        checksum,
    };
    (body, next)
}

/// Runs `read`, a read of the log from `from`, on tokio's blocking pool
/// when it reads the disk. A read behind the in-memory tail (megabytes at a
/// time for a subscriber catching up, such as the snapshot service after a
/// snapshot, or a far-behind follower's `FetchRaw`) would, on a runtime
/// thread, hold up the raft messages and appends that share that thread. A
/// read at the tail, where subscribers spend their time, finds its batches
/// in memory (`Log::in_memory`, the test the raft storage makes for the
/// same choice) and needs no hop; the tail is the newest batches, so
/// everything after `from` is in memory too. `Err` if the blocking task
/// failed.
async fn read_log_off_runtime<T: Send + 'static>(
    shared: Arc<ReplicaShared>,
    from: Seq,
    read: impl FnOnce(&ReplicaShared) -> T + Send + 'static,
) -> std::result::Result<T, ResponseBody> {
    if from >= shared.log.next_seq() || shared.log.in_memory(from) {
        return Ok(read(&shared));
    }
    tokio::task::spawn_blocking(move || read(&shared))
        .await
        .map_err(|e| ResponseBody::Error {
            kind: ErrorKind::Unavailable,
            message: format!("reading the log failed: {e}"),
        })
}

/// [`read_committed_from`], off the runtime when it reads the disk.
async fn read_committed_off_runtime(shared: Arc<ReplicaShared>, from: Seq, max_bytes: usize) -> (ResponseBody, Seq) {
    read_log_off_runtime(shared, from, move |shared| read_committed_from(shared, from, max_bytes))
        .await
        .unwrap_or_else(|failed| (failed, from))
}

/// Raw entries from `from` for a follower catching up from this replica's
/// disk, off the runtime when it reads the disk. Only a position outside
/// the log is `Trimmed`: a read that failed (an I/O error, a corrupt batch)
/// is `Unavailable`, so the follower asks again or elsewhere instead of
/// taking the range for gone.
async fn fetch_raw_off_runtime(shared: Arc<ReplicaShared>, from: Seq, max_bytes: usize) -> ResponseBody {
    let fetch = move |shared: &ReplicaShared| {
        let log = &shared.log;
        match log.read(from, max_bytes) {
            Ok(entries) => ResponseBody::RawEntries {
                entries: entries.into_iter().map(|e| (e.seq, e.data)).collect(),
                last: log.next_seq().prev(),
            },
            Err(e @ Error::OutOfRange { .. }) => ResponseBody::Error {
                kind: ErrorKind::Trimmed,
                message: e.to_string(),
            },
            Err(e) => ResponseBody::Error {
                kind: ErrorKind::Unavailable,
                message: e.to_string(),
            },
        }
    };
    read_log_off_runtime(shared, from, fetch)
        .await
        .unwrap_or_else(|failed| failed)
}

async fn subscription(shared: Arc<ReplicaShared>, id: u64, from: Seq, responses: mpsc::Sender<Response>) {
    let mut applied = shared.applied.subscribe();
    let mut next = from;
    loop {
        let (body, resume_at) = read_committed_off_runtime(shared.clone(), next, 1 << 20).await;
        let progressed = match &body {
            ResponseBody::Entries { entries, .. } => {
                // Past what was looked at (rejected positions included, so
                // they are not re-read), and no further: a read cut short
                // by its byte budget resumes where it stopped. (Jumping to
                // the committed end here skipped records whenever a
                // subscriber was more than a read behind; the running log
                // checksum caught it.)
                let before = next;
                next = resume_at;
                !entries.is_empty() || next != before
            }
            _ => true,
        };
        let is_error = matches!(body, ResponseBody::Error { .. });
        let has_entries = matches!(&body, ResponseBody::Entries { entries, .. } if !entries.is_empty());
        if (has_entries || is_error) && responses.send(Response { id, body }).await.is_err() {
            return;
        }
        if is_error {
            return;
        }
        if (!progressed || next.0 > *applied.borrow()) && applied.changed().await.is_err() {
            return;
        }
    }
}

/// The first seq whose entry this replica actually holds: after a snapshot
/// install the log starts with a base marker that stands for an entry it
/// never received.
fn first_readable(log: &Log) -> Seq {
    let first = log.first_seq();
    let starts_with_base = log
        .read(first, 1)
        .ok()
        .and_then(|entries| entries.into_iter().next())
        .and_then(|entry| crate::raft_storage::decode_entry(&entry.data).ok())
        .is_some_and(|stored| stored.kind == crate::raft_storage::KIND_BASE);
    if starts_with_base {
        first.next()
    } else {
        first
    }
}

pub fn status_report(shared: &ReplicaShared) -> StatusReport {
    let status = shared.status();
    // Before the state lock: it may read the disk (see `committed_entries`).
    let readable = first_readable(&shared.log);
    let state = shared.read_state();
    let log_stats = shared.log.stats();
    StatusReport {
        node: shared.id,
        role: status.role,
        raft_leader: status.raft_leader,
        term: status.term,
        committed: Seq(status.commit),
        applied: Seq(*shared.applied.borrow()),
        first_retained: state.trim_before.max(readable),
        last_index: Seq(status.last_index),
        leader: state.leader,
        replicas: status.peers,
        accepted_appends: state.accepted_appends,
        fenced_appends: state.fenced_appends,
        log_groups: log_stats.groups,
        log_entries: log_stats.entries,
        log_bytes_written: log_stats.bytes_written,
        io: shared.log.io_kind().to_string(),
        fatal: shared.fatal(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ids::{LeaderId, WriterId};
    use crate::raft_storage::{encode_entry, KIND_NORMAL};

    /// The stored log of a replica and the state it applied: seq 1 sets the
    /// leader, then seqs 2..=last append, those in `fenced` under a stale
    /// leader id (so they are rejected).
    fn log_and_state(last: u64, fenced: &[u64]) -> (Vec<Entry>, JournalState) {
        let (leader, stale, writer) = (LeaderId::random(), LeaderId::random(), WriterId::random());
        let mut state = JournalState::default();
        let mut log = Vec::new();
        let mut commit = |seq: u64, command: Command| {
            state.apply(seq, 1, &command);
            let data = encode_entry(1, KIND_NORMAL, &command.encode());
            log.push(Entry { seq: Seq(seq), data });
        };
        commit(
            1,
            Command::SetLeader {
                new: leader,
                expected: LeaderId::NONE,
            },
        );
        for seq in 2..=last {
            let leader = if fenced.contains(&seq) { stale } else { leader };
            let payload = Bytes::from(format!("payload {seq}"));
            commit(
                seq,
                Command::Append {
                    writer,
                    writer_seq: seq,
                    leader,
                    payload,
                },
            );
        }
        (log, state)
    }

    /// Up to `per_read` entries of `log` from `from`, as `Log::read` gives
    /// them (at least one if any is there).
    fn read_from(log: &[Entry], from: Seq, per_read: usize) -> Result<Vec<Entry>> {
        Ok(log.iter().filter(|e| e.seq >= from).take(per_read).cloned().collect())
    }

    #[test]
    fn reads_the_log_without_holding_the_state_lock() {
        let (log, state) = log_and_state(20, &[5, 6, 13]);
        let checksum_at_20 = state.log_checksum;
        let state = RwLock::new(state);
        let mut reads = 0;
        let (body, next) = committed_entries(&state, 20, Seq(2), Seq(1), 1 << 20, |from, _| {
            reads += 1;
            // The raft thread must be able to apply a commit meanwhile.
            let mut applying = state.try_write().expect("the state lock is held during a log read");
            if reads == 1 {
                applying.applied = 21;
                applying.log_checksum ^= 0x5eed;
            }
            drop(applying);
            read_from(&log, from, 4)
        });
        assert!(reads >= 5, "the read came in chunks ({reads} reads)");
        assert_eq!(next, Seq(21));
        let ResponseBody::Entries {
            entries,
            committed,
            checksum,
        } = body
        else {
            panic!("not entries: {body:?}");
        };
        let seqs: Vec<u64> = entries.iter().map(|(seq, _)| seq.0).collect();
        let accepted: Vec<u64> = (2..=20).filter(|s| ![5, 6, 13].contains(s)).collect();
        assert_eq!(seqs, accepted, "fenced appends are skipped");
        assert_eq!(entries[0].1, Bytes::from("payload 2"));
        assert_eq!(committed, Seq(20));
        assert_eq!(
            checksum,
            Some(LogChecksum {
                through: Seq(20),
                value: checksum_at_20
            }),
            "the checksum where the read began, not one past what it returns"
        );
    }

    #[test]
    fn a_trim_that_passes_a_read_in_progress_ends_it_as_trimmed() {
        let (log, state) = log_and_state(20, &[9]);
        let state = RwLock::new(state);
        let mut reads = 0;
        let (body, next) = committed_entries(&state, 20, Seq(2), Seq(1), 1 << 20, |from, _| {
            reads += 1;
            if reads == 2 {
                // Committed while the reader was at the disk: the state no
                // longer knows whether seq 9 was accepted.
                state.write().unwrap().apply(21, 1, &Command::Trim { before: Seq(12) });
            }
            read_from(&log, from, 4)
        });
        assert_eq!(next, Seq(2), "a failed read starts again where it began");
        match body {
            ResponseBody::Error {
                kind: ErrorKind::Trimmed,
                message,
            } => {
                assert!(message.contains("below 12"), "{message}")
            }
            other => panic!("not Trimmed: {other:?}"),
        }
    }

    #[test]
    fn a_read_from_below_the_trim_point_is_trimmed() {
        let (mut log, mut state) = log_and_state(10, &[]);
        let trim = Command::Trim { before: Seq(4) };
        state.apply(11, 1, &trim);
        let data = encode_entry(1, KIND_NORMAL, &trim.encode());
        log.push(Entry { seq: Seq(11), data });
        let state = RwLock::new(state);
        let (body, _) = committed_entries(&state, 11, Seq(3), Seq(1), 1 << 20, |from, _| read_from(&log, from, 4));
        assert!(
            matches!(
                body,
                ResponseBody::Error {
                    kind: ErrorKind::Trimmed,
                    ..
                }
            ),
            "{body:?}"
        );
        let (body, next) = committed_entries(&state, 11, Seq(4), Seq(1), 1 << 20, |from, _| read_from(&log, from, 4));
        assert!(
            matches!(body, ResponseBody::Entries { ref entries, .. } if entries.len() == 7),
            "{body:?}"
        );
        assert_eq!(next, Seq(12));
    }
}
