//! Client connections: accept, read and parse RESP, hand commands to the
//! execution thread, and write replies in order once their barrier batch
//! has committed. All of it off the execution thread, but for replies that
//! wait for nothing, which the execution thread may write itself through
//! a [`DirectSocket`] while the writer task has nothing queued.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use memoir_journal::tls::tokio_rustls::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Notify, Semaphore};
use tracing::{debug, warn};

use super::commit::{BarrierState, CommitState};
use super::exec::{ExecMsg, ExecSender, Outgoing};
use super::protected_mode;
use super::shared::NodeShared;
use crate::resp::{ParserLimits, Reply, RequestParser};

/// What the execution thread can do to a connection from outside its
/// tasks: close it (CLIENT KILL, a client over its output limit) and see
/// how much output it has not written yet and how much request data it
/// holds (CLIENT LIST's omem and qbuf).
#[derive(Default)]
pub(crate) struct ConnControl {
    killed: AtomicBool,
    notify: Notify,
    output_bytes: AtomicUsize,
    query_bytes: AtomicUsize,
    /// Whether the client has authenticated (kept by the execution
    /// thread): unauthenticated clients get tighter limits.
    authenticated: AtomicBool,
    /// Messages of replies queued for the writer task and not yet written
    /// by it. While any is, the execution thread writes nothing itself
    /// (replies keep their order).
    queued_for_writer: AtomicUsize,
}

impl ConnControl {
    /// Closes the connection: both its tasks stop at once, dropping what
    /// is queued.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn set_authenticated(&self, authenticated: bool) {
        self.authenticated.store(authenticated, Ordering::Release);
    }

    pub fn authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// Whether the connection was closed by [`ConnControl::kill`].
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    async fn killed(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.killed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Adds queued output bytes (counted against the output buffer
    /// limit); the new total.
    pub fn add_output_bytes(&self, bytes: usize) -> usize {
        self.output_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes
    }

    /// Output queued and not yet written to the socket.
    pub fn output_bytes(&self) -> usize {
        self.output_bytes.load(Ordering::Acquire)
    }

    /// Request bytes received and not yet handed to the execution thread.
    pub fn query_bytes(&self) -> usize {
        self.query_bytes.load(Ordering::Acquire)
    }

    /// One more message for the writer task (counted by the execution
    /// thread before it sends it).
    pub fn queued_for_writer(&self) {
        self.queued_for_writer.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the writer task has messages it has not finished writing.
    pub fn has_queued_for_writer(&self) -> bool {
        self.queued_for_writer.load(Ordering::Acquire) != 0
    }

    /// The writer task wrote `messages` messages out to the socket.
    fn wrote_messages(&self, messages: usize) {
        if messages > 0 {
            self.queued_for_writer.fetch_sub(messages, Ordering::AcqRel);
        }
    }

    fn written(&self, bytes: usize) {
        if bytes > 0 {
            self.output_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
    }
}

/// A second handle on a plain TCP client's socket, for the execution
/// thread to write replies that wait for nothing (`exec::write_directly`).
/// It is a `dup` of the descriptor: the socket stays the same one, even
/// after the connection's tasks have closed theirs, until the execution
/// thread forgets the client.
pub(crate) struct DirectSocket {
    /// Non-blocking: the flag belongs to the socket, which tokio set.
    stream: std::net::TcpStream,
    /// The reader's in-flight permits, given back once replies are written.
    in_flight: Arc<Semaphore>,
}

impl DirectSocket {
    fn new(duplicate: OwnedFd, in_flight: Arc<Semaphore>) -> DirectSocket {
        DirectSocket {
            stream: std::net::TcpStream::from(duplicate),
            in_flight,
        }
    }

    /// Writes what the socket takes now, without waiting.
    pub fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        use std::io::Write;
        (&self.stream).write(bytes)
    }

    pub fn release_permits(&self, permits: usize) {
        self.in_flight.add_permits(permits);
    }
}

/// Most request bytes a client that has not authenticated may buffer
/// (Redis 7.4 has the same bound): it can only send AUTH or HELLO, and must
/// not be able to make the node hold `client-query-buffer-limit` (1 GB) of
/// memory per connection before proving who it is.
pub(crate) const UNAUTHENTICATED_QUERY_LIMIT: usize = 1024 * 1024;

/// The parser limits CONFIG SET last gave, tighter while unauthenticated.
fn current_limits(shared: &NodeShared, authenticated: bool) -> ParserLimits {
    let configured = shared.max_query_buffer_len.load(Ordering::Acquire);
    ParserLimits {
        max_bulk_len: shared.max_bulk_len.load(Ordering::Acquire),
        max_query_buffer_len: if authenticated {
            configured
        } else {
            configured.min(UNAUTHENTICATED_QUERY_LIMIT)
        },
        ..shared.config.limits
    }
}

/// Commands one connection may have executed but not yet answered (a
/// pipelining client waits beyond it; memory stays bounded).
const MAX_COMMANDS_IN_FLIGHT: usize = 65_536;
/// Commands handed to the execution thread in one message.
const MAX_COMMANDS_PER_MESSAGE: usize = 1024;
const READ_BUFFER: usize = 16 * 1024;

/// The error a client gets when the write it sent, or a write its read
/// depended on, was not committed by the journal.
const NOT_COMMITTED: &str =
    "TRYAGAIN not acknowledged: the journal did not commit this node's write (the node stepped down); retry on the primary";

/// A TLS client must finish its handshake within this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts clients on one listener: plain RESP, or RESP inside TLS when
/// `tls` is given. Both kinds share one connection code, monomorphised
/// over the stream halves, so the plain path pays nothing for TLS.
/// `next_id` is shared by a node's listeners: connection ids stay unique.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<NodeShared>,
    exec: ExecSender,
    tls: Option<TlsAcceptor>,
    next_id: Arc<AtomicU64>,
) {
    loop {
        let (mut stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, for example: back off, keep serving.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.total_connections.fetch_add(1, Ordering::Relaxed);
        if shared.connected_clients.load(Ordering::Acquire) >= shared.maxclients.load(Ordering::Acquire) {
            shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
            if tls.is_none() {
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
            }
            continue;
        }
        if protected_mode::refuses(
            shared.protected_mode.load(Ordering::Acquire),
            shared.default_user_nopass.load(Ordering::Acquire),
            addr.ip(),
        ) {
            shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
            debug!(%addr, "refused by protected mode");
            let _ = stream.write_all(protected_mode::DENIED.as_bytes()).await;
            continue;
        }
        let _ = stream.set_nodelay(true);
        shared.connected_clients.fetch_add(1, Ordering::AcqRel);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let exec = exec.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    // Without a second descriptor the writer task writes
                    // every reply, as for TLS.
                    let duplicate = stream.as_fd().try_clone_to_owned().ok();
                    let (read_half, write_half) = stream.into_split();
                    serve(read_half, write_half, duplicate, addr, id, &shared, &exec).await;
                }
                Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let (read_half, write_half) = tokio::io::split(tls_stream);
                        serve(read_half, write_half, None, addr, id, &shared, &exec).await;
                    }
                    Ok(Err(e)) => debug!(%addr, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(%addr, "TLS handshake timed out"),
                },
            }
            shared.connected_clients.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn serve<R, W>(
    read_half: R,
    write_half: W,
    duplicate: Option<OwnedFd>,
    addr: SocketAddr,
    id: u64,
    shared: &Arc<NodeShared>,
    exec: &ExecSender,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (replies_tx, replies_rx) = mpsc::unbounded_channel();
    let control = Arc::new(ConnControl::default());
    // The execution thread sets the real state on `Connected`; until then,
    // what the default user allows.
    control.set_authenticated(shared.default_user_nopass.load(Ordering::Acquire));
    let in_flight = Arc::new(Semaphore::new(MAX_COMMANDS_IN_FLIGHT));
    if exec
        .send(ExecMsg::Connected {
            conn: id,
            addr,
            replies: replies_tx,
            control: control.clone(),
            direct: duplicate.map(|fd| Arc::new(DirectSocket::new(fd, in_flight.clone()))),
        })
        .await
        .is_err()
    {
        return;
    }
    let (closed_tx, closed_rx) = oneshot::channel();
    let writer = tokio::spawn(write_replies(
        write_half,
        replies_rx,
        exec.commit_state(),
        in_flight.clone(),
        shared.clone(),
        closed_tx,
        control.clone(),
    ));
    read_requests(read_half, id, shared, exec, &in_flight, closed_rx, &control).await;
    let _ = exec.send(ExecMsg::Disconnected { conn: id }).await;
    let _ = writer.await;
    debug!(conn = id, %addr, "connection closed");
}

async fn read_requests<R: AsyncRead + Unpin>(
    mut half: R,
    id: u64,
    shared: &NodeShared,
    exec: &ExecSender,
    in_flight: &Semaphore,
    mut writer_closed: oneshot::Receiver<()>,
    control: &ConnControl,
) {
    let mut limits_generation = shared.limits_generation.load(Ordering::Acquire);
    let mut authenticated = control.authenticated();
    let mut parser = RequestParser::new(current_limits(shared, authenticated));
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    loop {
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
        if buf.capacity() - buf.len() < READ_BUFFER / 4 {
            buf.reserve(READ_BUFFER);
        }
        let read = tokio::select! {
            read = half.read_buf(&mut buf) => read,
            _ = &mut writer_closed => return,
            _ = shared.close_all.notified() => return,
            _ = control.killed() => return,
        };
        let generation = shared.limits_generation.load(Ordering::Acquire);
        if generation != limits_generation || control.authenticated() != authenticated {
            limits_generation = generation;
            authenticated = control.authenticated();
            parser.set_limits(current_limits(shared, authenticated));
        }
        match read {
            Ok(0) | Err(_) => return,
            Ok(bytes) => shared.net.read(bytes),
        }
        let mut commands = Vec::new();
        let mut failure = None;
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(argv)) => {
                    commands.push(argv);
                    if commands.len() == MAX_COMMANDS_PER_MESSAGE
                        && !submit(id, exec, in_flight, std::mem::take(&mut commands)).await
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        control
            .query_bytes
            .store(buf.len() + parser.partial_bytes(), Ordering::Release);
        if !commands.is_empty() && !submit(id, exec, in_flight, commands).await {
            return;
        }
        if let Some(error) = failure {
            // Redis answers a protocol error and closes the connection; the
            // error goes through the execution thread so it follows the
            // replies to everything parsed before it.
            debug!(conn = id, %error, "protocol error");
            let _ = exec
                .send(ExecMsg::ProtocolError {
                    conn: id,
                    reply: error.to_reply(),
                })
                .await;
            let _ = writer_closed.await;
            return;
        }
    }
}

async fn submit(id: u64, exec: &ExecSender, in_flight: &Semaphore, commands: Vec<Vec<bytes::Bytes>>) -> bool {
    let count = u32::try_from(commands.len()).unwrap_or(u32::MAX);
    match in_flight.acquire_many(count).await {
        // Returned by the writer once the replies are written.
        Ok(permits) => permits.forget(),
        Err(_) => return false,
    }
    exec.send(ExecMsg::Commands { conn: id, commands }).await.is_ok()
}

async fn write_replies<W: AsyncWrite + Unpin>(
    half: W,
    replies: mpsc::UnboundedReceiver<Outgoing>,
    commit: watch::Receiver<CommitState>,
    in_flight: Arc<Semaphore>,
    shared: Arc<NodeShared>,
    closed: oneshot::Sender<()>,
    control: Arc<ConnControl>,
) {
    tokio::select! {
        _ = write_loop(half, replies, commit, &in_flight, &shared, &control) => {}
        // Killed: drop the socket and whatever is queued.
        _ = control.killed() => {}
    }
    in_flight.close();
    let _ = closed.send(());
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut half: W,
    mut replies: mpsc::UnboundedReceiver<Outgoing>,
    mut commit: watch::Receiver<CommitState>,
    in_flight: &Semaphore,
    shared: &NodeShared,
    control: &ConnControl,
) {
    let mut out = BytesMut::with_capacity(READ_BUFFER);
    // Output-limit bytes of the replies encoded into `out`: they stop
    // counting once the socket took them, not when they are encoded.
    let mut encoded = 0usize;
    'outer: while let Some(first) = replies.recv().await {
        let mut pending = vec![first];
        while let Ok(more) = replies.try_recv() {
            pending.push(more);
        }
        let mut written = 0usize;
        let messages = pending.len();
        for outgoing in pending {
            written += outgoing.permits;
            if let Some(encoded) = &outgoing.encoded {
                out.extend_from_slice(encoded);
            }
            for item in outgoing.items {
                let ready = commit.borrow_and_update().check(item.barrier);
                let state = match ready {
                    BarrierState::Pending => {
                        // Replies keep their order: flush what is ready,
                        // then wait for this one's batch.
                        if !out.is_empty() && flush_out(&mut half, &out, shared).await.is_err() {
                            break 'outer;
                        }
                        out.clear();
                        control.written(std::mem::take(&mut encoded));
                        match wait_for_barrier(&mut commit, item.barrier, shared).await {
                            Some(state) => state,
                            None => break 'outer,
                        }
                    }
                    state => state,
                };
                encoded += item.accounted;
                if item.silent || (item.drop_on_failure && state == BarrierState::Failed) {
                    continue;
                }
                match state {
                    BarrierState::Failed => Reply::Error(NOT_COMMITTED.into()).encode(item.protocol, &mut out),
                    _ => item.reply.encode(item.protocol, &mut out),
                }
            }
            if outgoing.close {
                let _ = flush_out(&mut half, &out, shared).await;
                let _ = half.shutdown().await;
                break 'outer;
            }
        }
        if !out.is_empty() && flush_out(&mut half, &out, shared).await.is_err() {
            break;
        }
        out.clear();
        control.written(std::mem::take(&mut encoded));
        if out.capacity() > 4 * READ_BUFFER {
            out = BytesMut::with_capacity(READ_BUFFER);
        }
        in_flight.add_permits(written);
        // Only now, with every byte of these messages written, may the
        // execution thread write after them.
        control.wrote_messages(messages);
    }
}

/// Writes replies and flushes them: a TLS stream holds what it encrypted
/// until flushed (a TCP stream's flush does nothing).
///
/// The bytes are counted before they are written: a client that has read a
/// reply and then asks INFO must find that reply counted (counted after,
/// the writer could still be between its write and its count).
async fn flush_out<W: AsyncWrite + Unpin>(half: &mut W, out: &[u8], shared: &NodeShared) -> std::io::Result<()> {
    shared.net.wrote(out.len());
    half.write_all(out).await?;
    half.flush().await
}

/// Waits until `barrier`'s batch has committed or failed; `None` if the
/// node is stopping.
async fn wait_for_barrier(
    commit: &mut watch::Receiver<CommitState>,
    barrier: u64,
    shared: &NodeShared,
) -> Option<BarrierState> {
    loop {
        let notified = shared.close_all.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if shared.closing.load(Ordering::Acquire) {
            return None;
        }
        let state = commit.borrow_and_update().check(barrier);
        if state != BarrierState::Pending {
            return Some(state);
        }
        tokio::select! {
            changed = commit.changed() => {
                if changed.is_err() {
                    return Some(BarrierState::Failed);
                }
            }
            _ = &mut notified => return None,
        }
    }
}
