//! RESP over TLS for clients, as Redis does it (`tls-port`,
//! `tls-cert-file`, `tls-key-file`, `tls-ca-cert-file`,
//! `tls-auth-clients`): a second listener whose connections run the same
//! connection code inside a TLS session.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use memoir_journal::tls::{rustls::ServerConfig, server_config, ClientAuth};

use crate::error::{Error, Result};

/// The PEM files and client-certificate policy of the TLS listener.
#[derive(Clone, Debug)]
pub struct ClientTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Required unless `auth_clients` is `No`.
    pub ca: Option<PathBuf>,
    pub auth_clients: ClientAuth,
}

/// Where and how a memory node serves RESP over TLS.
#[derive(Clone)]
pub struct ClientTls {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    pub config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Loads the certificate, key and CA; errors name the file at fault.
    pub fn from_files(listen: SocketAddr, files: &ClientTlsFiles) -> Result<ClientTls> {
        if files.auth_clients != ClientAuth::None && files.ca.is_none() {
            return Err(Error::Config(
                "tls-auth-clients yes/optional needs tls-ca-cert-file (or set tls-auth-clients no)".into(),
            ));
        }
        let config = server_config(&files.cert, &files.key, files.ca.as_deref(), files.auth_clients)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(ClientTls { listen, config })
    }
}
