//! TLS configurations from PEM files (rustls with the ring provider), for
//! journal links and for memory nodes serving RESP over TLS.
//!
//! The provider is passed explicitly rather than installed process-wide, so
//! a program linking another rustls provider still builds these configs.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::{Error, Result};

pub use rustls;
pub use tokio_rustls;

/// Whether a TLS server asks connecting clients for a certificate signed
/// by its CA (Redis's `tls-auth-clients yes|optional|no`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client without a valid certificate is refused.
    Required,
    /// A certificate is checked if presented.
    Optional,
    /// Certificates are not asked for.
    None,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ClientAuth, String> {
        match s.to_ascii_lowercase().as_str() {
            "yes" | "required" => Ok(ClientAuth::Required),
            "optional" => Ok(ClientAuth::Optional),
            "no" | "none" => Ok(ClientAuth::None),
            other => Err(format!("expected yes, optional or no, not {other:?}")),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(path: &Path, what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Security(format!("{} ({what}): {reason}", path.display()))
}

fn open(path: &Path, what: &'static str) -> Result<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(what, path, e))?;
    Ok(std::io::BufReader::new(file))
}

/// Every certificate in a PEM file (a chain: leaf first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let mut reader = open(path, "reading the TLS certificate file")?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, "certificate", e))?;
    if certs.is_empty() {
        return Err(tls_error(path, "certificate", "no PEM certificate found"));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let mut reader = open(path, "reading the TLS key file")?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|e| tls_error(path, "private key", e))?
        .ok_or_else(|| tls_error(path, "private key", "no PEM private key found"))
}

/// The CA certificates that clients or servers are checked against.
pub fn load_roots(path: &Path) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| tls_error(path, "CA certificate", e))?;
    }
    Ok(Arc::new(roots))
}

/// A server configuration: our certificate and key, and how clients are
/// checked (`ca` is required unless `auth` is `None`).
pub fn server_config(cert: &Path, key: &Path, ca: Option<&Path>, auth: ClientAuth) -> Result<Arc<ServerConfig>> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Security(e.to_string()))?;
    let builder = match (auth, ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(Error::Security(
                "verifying client certificates needs a CA certificate file".into(),
            ))
        }
        (auth, Some(ca)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(load_roots(ca)?, provider());
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| tls_error(ca, "CA certificate", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| tls_error(key, "certificate and key", e))?;
    Ok(Arc::new(config))
}

/// A client configuration: servers are checked against `ca`; `identity`
/// (certificate, key) is presented to servers that ask for one.
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Security(e.to_string()))?
        .with_root_certificates(load_roots(ca)?);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| tls_error(key, "client certificate and key", e))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
