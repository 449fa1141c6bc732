//! The journal's Rust client: finds the raft leader from any replica,
//! pipelines requests over one connection, follows redirects, reconnects
//! with backoff, and resends what was in flight (appends are deduplicated by
//! writer id and writer sequence, so a resend never duplicates).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::ids::{LeaderId, WriterId};
use crate::link::{LinkReader, LinkSecurity, LinkWriter};
use crate::log_checksum::LogChecksum;
use crate::seq::Seq;
use crate::server::handshake;
use crate::wire::{
    decode_body, encode_body, encode_frame, ErrorKind, FrameKind, FrameReader, Request, RequestBody, Response,
    ResponseBody, Role, StatusReport, WireError, MAX_APPEND_BYTES,
};

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Client addresses of the replicas (any subset will do).
    pub replicas: Vec<String>,
    /// A request that gets no answer within this time fails with
    /// [`ClientError::Unavailable`] (no quorum reachable, for example).
    pub deadline: Duration,
    pub connect_timeout: Duration,
    /// TLS and the cluster secret, as the replicas require them.
    pub security: LinkSecurity,
}

impl ClientOptions {
    pub fn new(replicas: Vec<String>) -> ClientOptions {
        ClientOptions {
            replicas,
            deadline: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
            security: LinkSecurity::none(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("fenced: the journal's leader register holds {current}")]
    Fenced { current: LeaderId },
    #[error("compare-and-set failed: the journal's leader register holds {current}")]
    Conflict { current: LeaderId },
    /// No answer in time: for an append, its outcome is unknown.
    #[error("journal unavailable: {0}")]
    Unavailable(String),
    #[error("entries requested are trimmed: {0}")]
    Trimmed(String),
    #[error("journal error ({kind:?}): {message}")]
    Server { kind: ErrorKind, message: String },
    #[error("unexpected reply: {0}")]
    Protocol(String),
    #[error("the journal client has been dropped")]
    Closed,
    /// Refused before it was sent: nothing was appended.
    #[error("an append of {bytes} bytes exceeds the journal's limit of {MAX_APPEND_BYTES} bytes")]
    TooLarge { bytes: usize },
}

/// Committed entries and how far the replica knows the log is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBatch {
    pub entries: Vec<(Seq, Bytes)>,
    pub committed: Seq,
    /// The journal's running log checksum, when these entries reach its
    /// applied end (see `log_checksum`).
    pub checksum: Option<LogChecksum>,
}

struct Op {
    body: RequestBody,
    reply: oneshot::Sender<Result<ResponseBody, ClientError>>,
}

pub struct JournalClient {
    ops: mpsc::UnboundedSender<Op>,
    writer: WriterId,
    /// Writer sequence and queue order are taken together, so a higher
    /// writer sequence is never sent before a lower one.
    next_writer_seq: Mutex<u64>,
    options: ClientOptions,
}

impl JournalClient {
    /// Starts the client's connection task (inside a tokio runtime). Does
    /// not wait for a connection: the first request does.
    pub fn new(options: ClientOptions) -> JournalClient {
        let (ops, rx) = mpsc::unbounded_channel();
        tokio::spawn(Driver::new(options.clone(), rx).run());
        JournalClient {
            ops,
            writer: WriterId::random(),
            next_writer_seq: Mutex::new(1),
            options,
        }
    }

    pub fn writer_id(&self) -> WriterId {
        self.writer
    }

    fn submit(&self, body: RequestBody) -> oneshot::Receiver<Result<ResponseBody, ClientError>> {
        let (reply, rx) = oneshot::channel();
        let _ = self.ops.send(Op { body, reply });
        rx
    }

    /// Appends one payload under `leader`. Queued at call time, so appends
    /// keep the order of the calls however their futures are awaited; the
    /// future resolves with the seq once the entry is committed (durable on
    /// a quorum), or `Fenced` if `leader` is no longer the register's value
    /// at the entry's position in the log.
    /// A payload over [`MAX_APPEND_BYTES`] fails at once with `TooLarge`.
    pub fn append(&self, payload: Bytes, leader: LeaderId) -> impl Future<Output = Result<Seq, ClientError>> {
        let submitted = if payload.len() > MAX_APPEND_BYTES {
            Err(ClientError::TooLarge { bytes: payload.len() })
        } else {
            let mut next = self.next_writer_seq.lock().unwrap_or_else(|e| e.into_inner());
            let writer_seq = *next;
            *next += 1;
            Ok(self.submit(RequestBody::Append {
                writer: self.writer,
                writer_seq,
                leader,
                payload,
            }))
        };
        async move {
            let rx = submitted?;
            match rx.await.map_err(|_| ClientError::Closed)?? {
                ResponseBody::Appended { seq } => Ok(seq),
                ResponseBody::Fenced { current } => Err(ClientError::Fenced { current }),
                other => Err(unexpected(other)),
            }
        }
    }

    /// Compare-and-set of the leader register, ordered in the log.
    pub async fn set_leader(&self, new: LeaderId, expected: LeaderId) -> Result<(), ClientError> {
        match self.call(RequestBody::SetLeader { new, expected }).await? {
            ResponseBody::LeaderSet => Ok(()),
            ResponseBody::Conflict { current } => Err(ClientError::Conflict { current }),
            other => Err(unexpected(other)),
        }
    }

    pub async fn read(&self, from: Seq, max_bytes: u64) -> Result<ReadBatch, ClientError> {
        match self.call(RequestBody::Read { from, max_bytes }).await? {
            ResponseBody::Entries {
                entries,
                committed,
                checksum,
            } => Ok(ReadBatch {
                entries,
                committed,
                checksum,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Lets the journal delete entries below `before` (whole segments, on
    /// every replica). Returns the trim point in force.
    pub async fn trim(&self, before: Seq) -> Result<Seq, ClientError> {
        match self.call(RequestBody::Trim { before }).await? {
            ResponseBody::Trimmed { before } => Ok(before),
            other => Err(unexpected(other)),
        }
    }

    /// Status of the replica this client is connected to (the raft leader
    /// once writes have gone through).
    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        match self.call(RequestBody::Status).await? {
            ResponseBody::Status(report) => Ok(*report),
            other => Err(unexpected(other)),
        }
    }

    async fn call(&self, body: RequestBody) -> Result<ResponseBody, ClientError> {
        self.submit(body).await.map_err(|_| ClientError::Closed)?
    }

    /// A stream of committed entries from `from` on, from any replica.
    pub fn subscribe(&self, from: Seq) -> Subscription {
        let reader = SubscriptionReader {
            options: self.options.clone(),
            next: from,
            conn: None,
            turn: 0,
            trimmed_by: 0,
        };
        // One batch read ahead: each is about a read's budget (1 MiB).
        let (batches, rx) = mpsc::channel(1);
        Subscription {
            batches: rx,
            reader: tokio::spawn(reader.run(batches)),
        }
    }
}

/// Status of one replica, asked directly.
pub async fn replica_status(
    addr: &str,
    security: &LinkSecurity,
    timeout: Duration,
) -> Result<StatusReport, ClientError> {
    match request_once(addr, security, RequestBody::Status, timeout).await? {
        ResponseBody::Status(report) => Ok(*report),
        other => Err(unexpected(other)),
    }
}

/// One request to one replica on a fresh connection.
pub async fn request_once(
    addr: &str,
    security: &LinkSecurity,
    body: RequestBody,
    timeout: Duration,
) -> Result<ResponseBody, ClientError> {
    let work = async {
        let mut conn = Connection::open(addr, security, timeout).await?;
        conn.send(&Request { id: 1, body }).await?;
        let frame = conn.reader.next().await.map_err(wire_err)?;
        if frame.kind != FrameKind::Response {
            return Err(ClientError::Protocol(format!("{:?}", frame.kind)));
        }
        let response: Response = decode_body("response", &frame.body).map_err(wire_err)?;
        Ok(response.body)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ClientError::Unavailable(format!("{addr} did not answer")))?
}

fn unexpected(body: ResponseBody) -> ClientError {
    match body {
        ResponseBody::Error {
            kind: ErrorKind::Trimmed,
            message,
        } => ClientError::Trimmed(message),
        ResponseBody::Error { kind, message } => ClientError::Server { kind, message },
        other => ClientError::Protocol(format!("{other:?}")),
    }
}

fn wire_err(e: WireError) -> ClientError {
    ClientError::Unavailable(e.to_string())
}

struct Connection {
    writer: LinkWriter,
    reader: FrameReader<LinkReader>,
    addr: String,
}

impl Connection {
    async fn open(addr: &str, security: &LinkSecurity, timeout: Duration) -> Result<Connection, ClientError> {
        let connect = async {
            let mut stream = security.dial(addr).await?;
            handshake(&mut stream, Role::Client, security.secret())
                .await
                .map_err(|e| security.explain_handshake_failure(e))?;
            Ok::<_, WireError>(stream)
        };
        let stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| ClientError::Unavailable(format!("connecting to {addr} timed out")))?
            .map_err(wire_err)?;
        let (read, write) = stream.into_split();
        Ok(Connection {
            writer: write,
            reader: FrameReader::new(read),
            addr: addr.to_string(),
        })
    }

    async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        let mut out = BytesMut::new();
        encode_frame(FrameKind::Request, &encode_body(request), &mut out);
        self.writer.write_all(&out).await.map_err(|e| wire_err(e.into()))?;
        self.writer.flush().await.map_err(|e| wire_err(e.into()))
    }
}

struct InFlight {
    body: RequestBody,
    reply: oneshot::Sender<Result<ResponseBody, ClientError>>,
    since: Instant,
}

struct Driver {
    options: ClientOptions,
    ops: mpsc::UnboundedReceiver<Op>,
    in_flight: BTreeMap<u64, InFlight>,
    next_id: u64,
    hint: Option<String>,
    turn: usize,
    last_error: String,
}

enum Event {
    Op(Option<Op>),
    Response(Result<Response, WireError>),
    Tick,
}

impl Driver {
    fn new(options: ClientOptions, ops: mpsc::UnboundedReceiver<Op>) -> Driver {
        Driver {
            options,
            ops,
            in_flight: BTreeMap::new(),
            next_id: 1,
            hint: None,
            turn: 0,
            last_error: "not connected yet".into(),
        }
    }

    async fn run(mut self) {
        let mut backoff = Duration::from_millis(20);
        loop {
            // Wait for work before connecting.
            if self.in_flight.is_empty() {
                match self.ops.recv().await {
                    Some(op) => {
                        self.enqueue(op);
                    }
                    None => return,
                }
            }
            let Some(mut conn) = self.connect().await else {
                self.expire();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            };
            backoff = Duration::from_millis(20);
            // Requests past their deadline fail here too: one that breaks
            // every connection it is resent on must not be resent forever.
            self.expire();
            // Resend everything in flight, oldest first.
            let mut ok = true;
            for (&id, op) in &self.in_flight {
                if conn
                    .send(&Request {
                        id,
                        body: op.body.clone(),
                    })
                    .await
                    .is_err()
                {
                    ok = false;
                    break;
                }
            }
            if ok && self.serve(&mut conn).await {
                return;
            }
            debug!(replica = %conn.addr, "journal connection lost; reconnecting");
        }
    }

    fn enqueue(&mut self, op: Op) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.insert(
            id,
            InFlight {
                body: op.body,
                reply: op.reply,
                since: Instant::now(),
            },
        );
        id
    }

    /// Serves one connection until it breaks (false) or the client is gone
    /// (true).
    async fn serve(&mut self, conn: &mut Connection) -> bool {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let event = tokio::select! {
                op = self.ops.recv() => Event::Op(op),
                response = read_response(&mut conn.reader) => Event::Response(response),
                _ = tick.tick() => Event::Tick,
            };
            match event {
                Event::Op(None) => return true,
                Event::Op(Some(op)) => {
                    // Everything queued goes out in one write.
                    let mut out = BytesMut::new();
                    let mut next = Some(op);
                    while let Some(op) = next.take() {
                        let body = op.body.clone();
                        let id = self.enqueue(op);
                        encode_frame(FrameKind::Request, &encode_body(&Request { id, body }), &mut out);
                        if out.len() < 1 << 20 {
                            next = self.ops.try_recv().ok();
                        }
                    }
                    if conn.writer.write_all(&out).await.is_err() || conn.writer.flush().await.is_err() {
                        return false;
                    }
                }
                Event::Response(Err(e)) => {
                    self.last_error = format!("{}: {e}", conn.addr);
                    return false;
                }
                Event::Response(Ok(response)) => match response.body {
                    ResponseBody::NotLeader { leader } => {
                        self.hint = leader.map(|(_, addr)| addr);
                        self.last_error = format!("{} is not the raft leader", conn.addr);
                        if self.hint.is_none() {
                            // No leader known yet (an election): wait a bit.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        return false;
                    }
                    ResponseBody::Error {
                        kind: ErrorKind::Retry | ErrorKind::Unavailable,
                        message,
                    } => {
                        self.last_error = format!("{}: {message}", conn.addr);
                        self.hint = None;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        return false;
                    }
                    body => {
                        if let Some(op) = self.in_flight.remove(&response.id) {
                            let _ = op.reply.send(Ok(body));
                        }
                    }
                },
                Event::Tick => self.expire(),
            }
        }
    }

    /// Fails requests that have waited longer than the deadline.
    fn expire(&mut self) {
        let deadline = self.options.deadline;
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, op)| op.since.elapsed() > deadline)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if let Some(op) = self.in_flight.remove(&id) {
                let _ = op.reply.send(Err(ClientError::Unavailable(format!(
                    "no answer within {:?} (last: {})",
                    deadline, self.last_error
                ))));
            }
        }
    }

    async fn connect(&mut self) -> Option<Connection> {
        let mut candidates = Vec::new();
        if let Some(hint) = self.hint.take() {
            candidates.push(hint);
        }
        let n = self.options.replicas.len();
        for i in 0..n {
            candidates.push(self.options.replicas[(self.turn + i) % n].clone());
        }
        self.turn = (self.turn + 1) % n.max(1);
        for addr in candidates {
            match Connection::open(&addr, &self.options.security, self.options.connect_timeout).await {
                Ok(conn) => return Some(conn),
                Err(e) => self.last_error = e.to_string(),
            }
        }
        None
    }
}

async fn read_response(reader: &mut FrameReader<LinkReader>) -> Result<Response, WireError> {
    let frame = reader.next().await?;
    if frame.kind != FrameKind::Response {
        return Err(WireError::Unexpected(frame.kind));
    }
    decode_body("response", &frame.body)
}

/// Committed entries as they commit. Survives replica failures by
/// resubscribing elsewhere from the last seq it delivered.
///
/// The reading runs in a task of its own, so [`Subscription::next`] is
/// cancel-safe: a caller may `select!` it against a timer that fires more
/// often than a connection takes to open (a distant replica, a TLS
/// handshake) without losing a batch or starting that connection over, and
/// a replica that cannot be reached is reported after the client's deadline.
pub struct Subscription {
    batches: mpsc::Receiver<Result<ReadBatch, ClientError>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// The next batch of committed entries (waits until there is one); an
    /// error when no replica answered within the client's deadline, or when
    /// every replica says the entries are trimmed. Reading goes on after an
    /// error.
    pub async fn next(&mut self) -> Result<ReadBatch, ClientError> {
        self.batches.recv().await.unwrap_or(Err(ClientError::Closed))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct SubscriptionReader {
    options: ClientOptions,
    next: Seq,
    conn: Option<Connection>,
    turn: usize,
    /// Replicas in a row that answered `Trimmed` for `next`.
    trimmed_by: usize,
}

impl SubscriptionReader {
    async fn run(mut self, batches: mpsc::Sender<Result<ReadBatch, ClientError>>) {
        loop {
            let batch = self.next_batch().await;
            if batches.send(batch).await.is_err() {
                return;
            }
        }
    }

    async fn next_batch(&mut self) -> Result<ReadBatch, ClientError> {
        let started = Instant::now();
        loop {
            if self.conn.is_none() {
                let n = self.options.replicas.len().max(1);
                let addr = self.options.replicas[self.turn % n].clone();
                self.turn += 1;
                match Connection::open(&addr, &self.options.security, self.options.connect_timeout).await {
                    Ok(mut conn) => {
                        let request = Request {
                            id: 1,
                            body: RequestBody::Subscribe { from: self.next },
                        };
                        if conn.send(&request).await.is_ok() {
                            self.conn = Some(conn);
                        }
                    }
                    Err(e) => {
                        if started.elapsed() > self.options.deadline {
                            return Err(e);
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                continue;
            }
            let Some(conn) = self.conn.as_mut() else { continue };
            match read_response(&mut conn.reader).await {
                Ok(Response {
                    body:
                        ResponseBody::Entries {
                            entries,
                            committed,
                            checksum,
                        },
                    ..
                }) => {
                    if let Some((last, _)) = entries.last() {
                        self.next = last.next();
                    }
                    self.trimmed_by = 0;
                    return Ok(ReadBatch {
                        entries,
                        committed,
                        checksum,
                    });
                }
                Ok(Response { body, .. }) => match unexpected(body) {
                    // One replica's log may start later than the others' (one
                    // rebuilt from a raft snapshot or restarted at its
                    // checkpoint): the range is gone only if every replica
                    // says so.
                    ClientError::Trimmed(message) => {
                        self.conn = None;
                        self.trimmed_by += 1;
                        if self.trimmed_by >= self.options.replicas.len() {
                            self.trimmed_by = 0;
                            return Err(ClientError::Trimmed(message));
                        }
                    }
                    other => return Err(other),
                },
                Err(_) => self.conn = None,
            }
        }
    }
}
