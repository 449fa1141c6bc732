//! Cluster-secret authentication of journal links: a mutual
//! challenge-response at the start of every connection, before `Hello`.
//!
//! ```text
//! client → server  AuthChallenge  auth version: u8 = 1 | client nonce: [u8; 32]
//! server → client  AuthReply      auth version: u8 = 1 | server nonce: [u8; 32] | server proof: [u8; 32]
//! client → server  AuthProof      auth version: u8 = 1 | client proof: [u8; 32]
//!
//! proof(side) = HMAC-SHA256(secret, "memoir-journal-auth-v1" | side: u8 | client nonce | server nonce)
//!               side = 1 for the server's proof, 2 for the client's
//! ```
//!
//! Each side proves it knows the secret over a nonce the other side just
//! chose, so a recorded exchange cannot be replayed, and the secret itself
//! never crosses the network. The side byte keeps one side's proof from
//! being reflected back as the other's. Proofs are compared in constant
//! time. Without TLS this authenticates the peer at connection time only
//! (no encryption or integrity afterwards); see README.md, "Security".
//! Layout documented in docs/format.md ("Journal link authentication").

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::wire::{decode_body, write_frame, Frame, FrameKind, FrameReader, HelloReply, WireError};

pub const AUTH_VERSION: u8 = 1;
pub const NONCE_LEN: usize = 32;
pub const PROOF_LEN: usize = 32;
/// A shorter secret is refused: it could be guessed offline from one
/// recorded exchange.
pub const MIN_SECRET_LEN: usize = 16;
const DOMAIN: &[u8] = b"memoir-journal-auth-v1";

/// The secret every member of one cluster shares. Never printed.
#[derive(Clone)]
pub struct ClusterSecret(Arc<[u8]>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// Which side of a link a proof comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Side {
    Server = 1,
    Client = 2,
}

pub type Nonce = [u8; NONCE_LEN];
pub type Proof = [u8; PROOF_LEN];

impl ClusterSecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<ClusterSecret> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::InvalidArgument(format!(
                "the cluster secret has {} bytes; at least {MIN_SECRET_LEN} are required",
                bytes.len()
            )));
        }
        Ok(ClusterSecret(bytes.into()))
    }

    /// Reads a secret file: its content with surrounding whitespace (a
    /// trailing newline) removed.
    pub fn from_file(path: &Path) -> Result<ClusterSecret> {
        let content = std::fs::read(path).map_err(|e| Error::io("reading the cluster secret file", path, e))?;
        warn_if_shared(path);
        let trimmed = content.trim_ascii();
        ClusterSecret::new(trimmed.to_vec()).map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
    }

    /// A new random secret in text form (64 hex digits), for a secret file.
    pub fn generate_text() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self, side: Side, client_nonce: &Nonce, server_nonce: &Nonce) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(DOMAIN);
        mac.update(&[side as u8]);
        mac.update(client_nonce);
        mac.update(server_nonce);
        mac
    }

    fn proof(&self, side: Side, client_nonce: &Nonce, server_nonce: &Nonce) -> Proof {
        self.mac(side, client_nonce, server_nonce)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Constant-time check of the other side's proof.
    fn verify(&self, side: Side, client_nonce: &Nonce, server_nonce: &Nonce, proof: &Proof) -> bool {
        self.mac(side, client_nonce, server_nonce).verify_slice(proof).is_ok()
    }
}

/// A secret others on the machine can read is no secret: say so (but run,
/// as the operator may have reasons, such as a group of service users).
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "the cluster secret file is readable by other users; chmod 600 it"
            );
        }
    }
}

fn fresh_nonce() -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthChallenge {
    pub client_nonce: Nonce,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthReply {
    pub server_nonce: Nonce,
    pub server_proof: Proof,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthProof {
    pub client_proof: Proof,
}

/// Checks the version byte and the exact length; the fixed-size fields.
fn fields<'a>(what: &'static str, body: &'a [u8], len: usize) -> std::result::Result<&'a [u8], WireError> {
    let bad = |reason: String| WireError::Body { what, reason };
    let (&version, rest) = body.split_first().ok_or_else(|| bad("empty".into()))?;
    if version != AUTH_VERSION {
        return Err(WireError::Handshake(format!(
            "{what} uses authentication version {version}; this build speaks {AUTH_VERSION}"
        )));
    }
    if rest.len() != len {
        return Err(bad(format!("{} bytes after the version, expected {len}", rest.len())));
    }
    Ok(rest)
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

impl AuthChallenge {
    pub fn encode(&self) -> Vec<u8> {
        [&[AUTH_VERSION][..], &self.client_nonce].concat()
    }

    pub fn decode(body: &[u8]) -> std::result::Result<AuthChallenge, WireError> {
        let rest = fields("auth challenge", body, NONCE_LEN)?;
        Ok(AuthChallenge {
            client_nonce: array(rest),
        })
    }
}

impl AuthReply {
    pub fn encode(&self) -> Vec<u8> {
        [&[AUTH_VERSION][..], &self.server_nonce, &self.server_proof].concat()
    }

    pub fn decode(body: &[u8]) -> std::result::Result<AuthReply, WireError> {
        let rest = fields("auth reply", body, NONCE_LEN + PROOF_LEN)?;
        Ok(AuthReply {
            server_nonce: array(rest),
            server_proof: array(&rest[NONCE_LEN..]),
        })
    }
}

impl AuthProof {
    pub fn encode(&self) -> Vec<u8> {
        [&[AUTH_VERSION][..], &self.client_proof].concat()
    }

    pub fn decode(body: &[u8]) -> std::result::Result<AuthProof, WireError> {
        let rest = fields("auth proof", body, PROOF_LEN)?;
        Ok(AuthProof {
            client_proof: array(rest),
        })
    }
}

/// The connecting side: challenge the server, check its proof, prove
/// ourselves. Whether the server accepted our proof comes with its
/// `HelloReply`.
pub async fn authenticate_to_server<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    secret: &ClusterSecret,
) -> std::result::Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let client_nonce = fresh_nonce();
    write_frame(
        writer,
        FrameKind::AuthChallenge,
        &AuthChallenge { client_nonce }.encode(),
    )
    .await?;
    let frame = reader.next().await?;
    let reply = match frame.kind {
        FrameKind::AuthReply => AuthReply::decode(&frame.body)?,
        FrameKind::HelloReply => return Err(refusal(&frame)),
        other => return Err(WireError::Unexpected(other)),
    };
    if !secret.verify(Side::Server, &client_nonce, &reply.server_nonce, &reply.server_proof) {
        return Err(WireError::Auth(
            "the replica does not know this cluster's secret (wrong --cluster-secret-file?)".into(),
        ));
    }
    let client_proof = secret.proof(Side::Client, &client_nonce, &reply.server_nonce);
    write_frame(writer, FrameKind::AuthProof, &AuthProof { client_proof }.encode()).await
}

/// The accepting side, given the client's first frame (its challenge):
/// prove ourselves, then check the client's proof.
pub async fn authenticate_client<R, W>(
    challenge: &Frame,
    reader: &mut FrameReader<R>,
    writer: &mut W,
    secret: &ClusterSecret,
) -> std::result::Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let AuthChallenge { client_nonce } = AuthChallenge::decode(&challenge.body)?;
    let server_nonce = fresh_nonce();
    let reply = AuthReply {
        server_nonce,
        server_proof: secret.proof(Side::Server, &client_nonce, &server_nonce),
    };
    write_frame(writer, FrameKind::AuthReply, &reply.encode()).await?;
    let frame = reader.next().await?;
    if frame.kind != FrameKind::AuthProof {
        return Err(WireError::Unexpected(frame.kind));
    }
    let AuthProof { client_proof } = AuthProof::decode(&frame.body)?;
    if !secret.verify(Side::Client, &client_nonce, &server_nonce, &client_proof) {
        return Err(WireError::Auth("wrong cluster secret".into()));
    }
    Ok(())
}

/// A `HelloReply` where an auth frame was expected: the server refused.
fn refusal(frame: &Frame) -> WireError {
    match decode_body::<HelloReply>("handshake reply", &frame.body) {
        Ok(HelloReply::Refused { reason }) => WireError::Handshake(reason),
        Ok(HelloReply::Welcome { .. }) => WireError::Handshake("the replica skipped authentication".into()),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{split, AsyncWriteExt};

    fn secret(text: &str) -> ClusterSecret {
        ClusterSecret::new(text.as_bytes().to_vec()).unwrap()
    }

    /// Runs both sides over an in-memory pipe.
    async fn exchange(
        client_secret: ClusterSecret,
        server_secret: ClusterSecret,
    ) -> (std::result::Result<(), WireError>, std::result::Result<(), WireError>) {
        let (client_end, server_end) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            let (read, mut write) = split(server_end);
            let mut reader = FrameReader::new(read);
            let first = reader.next().await?;
            authenticate_client(&first, &mut reader, &mut write, &server_secret).await
        });
        let (read, mut write) = split(client_end);
        let mut reader = FrameReader::new(read);
        let client = authenticate_to_server(&mut reader, &mut write, &client_secret).await;
        drop((reader, write));
        (client, server.await.unwrap())
    }

    #[tokio::test]
    async fn the_same_secret_authenticates_both_sides() {
        let (client, server) = exchange(secret("sixteen-bytes-ok!"), secret("sixteen-bytes-ok!")).await;
        client.unwrap();
        server.unwrap();
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused() {
        let (client, server) = exchange(secret("the-right-secret-1"), secret("the-wrong-secret-2")).await;
        assert!(matches!(client, Err(WireError::Auth(_))), "{client:?}");
        assert!(server.is_err(), "server must not accept: {server:?}");
    }

    #[tokio::test]
    async fn a_forged_client_proof_is_refused_by_the_server() {
        let (client_end, server_end) = tokio::io::duplex(4096);
        let server_secret = secret("server-side-secret!");
        let server = tokio::spawn(async move {
            let (read, mut write) = split(server_end);
            let mut reader = FrameReader::new(read);
            let first = reader.next().await?;
            authenticate_client(&first, &mut reader, &mut write, &server_secret).await
        });
        let (read, mut write) = split(client_end);
        let mut reader = FrameReader::new(read);
        let challenge = AuthChallenge { client_nonce: [7; 32] };
        write_frame(&mut write, FrameKind::AuthChallenge, &challenge.encode())
            .await
            .unwrap();
        let reply = reader.next().await.unwrap();
        assert_eq!(reply.kind, FrameKind::AuthReply);
        AuthReply::decode(&reply.body).unwrap();
        // Echoing the server's proof back (reflection) must not work.
        let reflected = AuthReply::decode(&reply.body).unwrap().server_proof;
        write_frame(
            &mut write,
            FrameKind::AuthProof,
            &AuthProof {
                client_proof: reflected,
            }
            .encode(),
        )
        .await
        .unwrap();
        let result = server.await.unwrap();
        assert!(matches!(result, Err(WireError::Auth(_))), "{result:?}");
    }

    #[tokio::test]
    async fn truncated_or_garbage_handshakes_are_errors() {
        for body in [&b""[..], &[1u8][..], &[1u8; 20][..], &[9u8; 33][..], &[1u8; 34][..]] {
            assert!(AuthChallenge::decode(body).is_err(), "{body:?}");
            assert!(AuthProof::decode(body).is_err(), "{body:?}");
            assert!(AuthReply::decode(body).is_err(), "{body:?}");
        }
        // A server that gets a short challenge, then the stream ends.
        let (client_end, server_end) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            let (read, mut write) = split(server_end);
            let mut reader = FrameReader::new(read);
            let first = reader.next().await?;
            authenticate_client(&first, &mut reader, &mut write, &secret("server-side-secret!")).await
        });
        let (_read, mut write) = split(client_end);
        write_frame(&mut write, FrameKind::AuthChallenge, &[AUTH_VERSION, 1, 2])
            .await
            .unwrap();
        assert!(matches!(server.await.unwrap(), Err(WireError::Body { .. })));

        // A server that answers garbage bytes instead of a frame.
        let (client_end, server_end) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let (_read, mut write) = split(server_end);
            let _ = write.write_all(&[0xff; 64]).await;
        });
        let (read, mut write) = split(client_end);
        let mut reader = FrameReader::new(read);
        let result = authenticate_to_server(&mut reader, &mut write, &secret("client-side-secret!")).await;
        assert!(result.is_err());
    }

    #[test]
    fn short_secrets_are_refused_and_secrets_are_not_printed() {
        assert!(ClusterSecret::new(b"short".to_vec()).is_err());
        let s = secret("a-long-enough-secret");
        assert!(!format!("{s:?}").contains("long-enough"));
        assert_eq!(ClusterSecret::generate_text().len(), 64);
        assert_ne!(ClusterSecret::generate_text(), ClusterSecret::generate_text());
    }
}
