//! A journal link's transport: plain TCP or TLS, and how this process
//! secures its links (cluster secret, TLS, both or neither).

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::auth::ClusterSecret;
use crate::error::{Error, Result};
use crate::tls::{self, ClientAuth};
use crate::wire::WireError;

/// A TLS session must be set up within this time after the TCP accept.
const TLS_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files of journal TLS (`--journal-tls-*`).
#[derive(Clone, Debug, Default)]
pub struct JournalTlsFiles {
    /// This process's certificate and key: a replica serves with them and
    /// presents them to its peers; a journal client presents them to
    /// replicas that verify clients (mutual TLS).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The CA that replicas' (and clients') certificates are checked against.
    pub ca: Option<PathBuf>,
    /// Replicas refuse clients without a certificate signed by `ca`
    /// (mutual TLS). On by default.
    pub skip_client_verification: bool,
}

impl JournalTlsFiles {
    /// True when any TLS file is given.
    pub fn is_configured(&self) -> bool {
        self.cert.is_some() || self.key.is_some() || self.ca.is_some()
    }
}

/// rustls configurations of a journal link.
#[derive(Clone)]
struct LinkTls {
    /// Present on replicas (they accept connections).
    server: Option<Arc<ServerConfig>>,
    client: Arc<ClientConfig>,
    verifies_clients: bool,
}

/// How this process secures its journal links, both the ones it accepts
/// (a replica) and the ones it opens. The default is neither TLS nor a
/// secret: plain TCP, anyone who can connect is trusted.
#[derive(Clone, Default)]
pub struct LinkSecurity {
    secret: Option<ClusterSecret>,
    tls: Option<LinkTls>,
}

impl std::fmt::Debug for LinkSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSecurity")
            .field("secret", &self.secret.is_some())
            .field("tls", &self.tls.is_some())
            .field(
                "verifies_clients",
                &self.tls.as_ref().is_some_and(|t| t.verifies_clients),
            )
            .finish()
    }
}

impl LinkSecurity {
    /// Plain TCP, no authentication.
    pub fn none() -> LinkSecurity {
        LinkSecurity::default()
    }

    pub fn with_secret(mut self, secret: ClusterSecret) -> LinkSecurity {
        self.secret = Some(secret);
        self
    }

    /// Adds TLS from PEM files. `serve` is true for a replica: it needs a
    /// certificate and key to accept links.
    pub fn with_tls(mut self, files: &JournalTlsFiles, serve: bool) -> Result<LinkSecurity> {
        let ca = files
            .ca
            .as_deref()
            .ok_or_else(|| Error::Security("journal TLS needs a CA certificate (--journal-tls-ca)".into()))?;
        let identity = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => {
                return Err(Error::Security(
                    "--journal-tls-cert and --journal-tls-key go together".into(),
                ))
            }
        };
        let verifies_clients = !files.skip_client_verification;
        let server = match (serve, identity) {
            (false, _) => None,
            (true, Some((cert, key))) => {
                let auth = if verifies_clients {
                    ClientAuth::Required
                } else {
                    ClientAuth::None
                };
                Some(tls::server_config(cert, key, Some(ca), auth)?)
            }
            (true, None) => {
                return Err(Error::Security(
                    "a journal replica with TLS needs --journal-tls-cert and --journal-tls-key".into(),
                ))
            }
        };
        self.tls = Some(LinkTls {
            server,
            client: tls::client_config(ca, identity)?,
            verifies_clients,
        });
        Ok(self)
    }

    /// The secret and TLS as configured by the command line: either, both
    /// or neither.
    pub fn from_settings(
        secret_file: Option<&std::path::Path>,
        tls_files: &JournalTlsFiles,
        serve: bool,
    ) -> Result<LinkSecurity> {
        let mut security = LinkSecurity::none();
        if let Some(path) = secret_file {
            security = security.with_secret(ClusterSecret::from_file(path)?);
        }
        if tls_files.is_configured() {
            security = security.with_tls(tls_files, serve)?;
        }
        Ok(security)
    }

    pub fn secret(&self) -> Option<&ClusterSecret> {
        self.secret.as_ref()
    }

    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// True when a replica with this configuration lets in only members
    /// of the cluster (they know the secret, or hold a certificate from
    /// the cluster's CA).
    pub fn authenticates_clients(&self) -> bool {
        self.secret.is_some() || self.tls.as_ref().is_some_and(|t| t.verifies_clients)
    }

    /// A clearer error for a handshake that failed: a replica that wants
    /// TLS closes a plain connection without a word.
    pub fn explain_handshake_failure(&self, e: WireError) -> WireError {
        match e {
            WireError::Closed if !self.uses_tls() => WireError::Handshake(
                "the replica closed the connection during the handshake (does it require TLS? see --journal-tls-ca)"
                    .into(),
            ),
            other => other,
        }
    }

    /// Opens a link to `addr` (`host:port`): TCP, then TLS if configured,
    /// checking the server's certificate for `host`.
    pub async fn dial(&self, addr: &str) -> std::result::Result<LinkStream, WireError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let Some(tls) = &self.tls else {
            return Ok(LinkStream::Plain(tcp));
        };
        let name = server_name(addr)?;
        let stream = TlsConnector::from(tls.client.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| WireError::Tls(format!("with {addr}: {e}")))?;
        Ok(LinkStream::Tls(Box::new(TlsStream::Client(stream))))
    }

    /// Sets up an accepted connection (the TLS handshake if configured).
    pub async fn accept(&self, tcp: TcpStream) -> std::result::Result<LinkStream, WireError> {
        tcp.set_nodelay(true)?;
        let Some(server) = self.tls.as_ref().and_then(|t| t.server.clone()) else {
            return Ok(LinkStream::Plain(tcp));
        };
        let handshake = TlsAcceptor::from(server).accept(tcp);
        let stream = tokio::time::timeout(TLS_ACCEPT_TIMEOUT, handshake)
            .await
            .map_err(|_| WireError::Tls("no TLS handshake in time".into()))?
            .map_err(|e| WireError::Tls(e.to_string()))?;
        Ok(LinkStream::Tls(Box::new(TlsStream::Server(stream))))
    }
}

/// The name a server certificate must carry: the host part of `host:port`
/// (an IP address or a DNS name).
fn server_name(addr: &str) -> std::result::Result<ServerName<'static>, WireError> {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string()).map_err(|e| WireError::Tls(format!("server name {host:?}: {e}")))
}

/// One journal connection, plain or TLS.
pub enum LinkStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl LinkStream {
    /// Halves that a reader and a writer task can own. The plain case keeps
    /// tokio's lock-free split.
    pub fn into_split(self) -> (LinkReader, LinkWriter) {
        match self {
            LinkStream::Plain(tcp) => {
                let (read, write) = tcp.into_split();
                (LinkReader::Plain(read), LinkWriter::Plain(write))
            }
            LinkStream::Tls(tls) => {
                let (read, write) = tokio::io::split(*tls);
                (LinkReader::Tls(read), LinkWriter::Tls(write))
            }
        }
    }
}

pub enum LinkReader {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

pub enum LinkWriter {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for LinkStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LinkStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for LinkReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkReader::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LinkReader::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LinkWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkWriter::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkWriter::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkWriter::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkWriter::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkWriter::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LinkWriter::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        assert!(server_name("127.0.0.1:7101").is_ok());
        assert!(server_name("[::1]:7101").is_ok());
        assert!(server_name("journal-1.example:7101").is_ok());
        assert!(server_name("bad name:7101").is_err());
    }
}
