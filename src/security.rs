//! Security flags shared by the subcommands: how journal links are secured
//! (`--cluster-secret-file`, `--journal-tls-*`) and RESP over TLS for
//! memory nodes (`--tls-port`, `--tls-cert-file`, ...). Each has the same
//! name, with underscores, in the config files.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use memoir_engine::{ClientTls, ClientTlsFiles};
use memoir_journal::auth::ClusterSecret;
use memoir_journal::tls::ClientAuth;
use memoir_journal::{JournalTlsFiles, LinkSecurity};

fn yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(format!("expected yes or no, not {other:?}")),
    }
}

/// Journal link security, as flags and as config-file keys.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct JournalSecurityArgs {
    /// File holding the cluster's shared secret (at least 16 bytes; surrounding
    /// whitespace ignored). Journal replicas then admit only peers and clients
    /// that prove they know it (HMAC challenge-response; the secret is never sent).
    #[arg(long, env = "MEMOIR_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// PEM certificate (chain) for journal links: a replica serves with it,
    /// a client presents it (mutual TLS).
    #[arg(long)]
    pub journal_tls_cert: Option<PathBuf>,
    /// PEM private key of --journal-tls-cert.
    #[arg(long)]
    pub journal_tls_key: Option<PathBuf>,
    /// PEM CA certificate that journal replicas and clients are checked
    /// against; setting it turns journal TLS on.
    #[arg(long)]
    pub journal_tls_ca: Option<PathBuf>,
    /// Replicas: require a client certificate signed by the CA (yes, the
    /// default) or accept TLS clients without one (no; then rely on the secret).
    #[arg(long, value_parser = yes_no)]
    pub journal_tls_auth_clients: Option<bool>,
}

impl JournalSecurityArgs {
    /// Flags win over the config file, field by field.
    pub fn or(self, file: JournalSecurityArgs) -> JournalSecurityArgs {
        JournalSecurityArgs {
            cluster_secret_file: self.cluster_secret_file.or(file.cluster_secret_file),
            journal_tls_cert: self.journal_tls_cert.or(file.journal_tls_cert),
            journal_tls_key: self.journal_tls_key.or(file.journal_tls_key),
            journal_tls_ca: self.journal_tls_ca.or(file.journal_tls_ca),
            journal_tls_auth_clients: self.journal_tls_auth_clients.or(file.journal_tls_auth_clients),
        }
    }

    /// The security of this process's journal links; `serve` for a replica.
    pub fn link_security(&self, serve: bool) -> anyhow::Result<LinkSecurity> {
        let tls = JournalTlsFiles {
            cert: self.journal_tls_cert.clone(),
            key: self.journal_tls_key.clone(),
            ca: self.journal_tls_ca.clone(),
            skip_client_verification: !self.journal_tls_auth_clients.unwrap_or(true),
        };
        LinkSecurity::from_settings(self.cluster_secret_file.as_deref(), &tls, serve).context("journal link security")
    }
}

/// RESP over TLS, Redis's names (`tls-port` is `--tls-port` / `tls_port`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ClientTlsArgs {
    /// Serve RESP over TLS on this port too (0 or unset: no TLS). With
    /// `--port 0` the node serves TLS only.
    #[arg(long)]
    pub tls_port: Option<u16>,
    /// PEM certificate (chain) the TLS port presents.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long)]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificate that client certificates are checked against.
    #[arg(long)]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// yes (default, as Redis): clients need a certificate from the CA;
    /// optional: checked if presented; no: not asked for.
    #[arg(long)]
    pub tls_auth_clients: Option<ClientAuth>,
}

impl ClientTlsArgs {
    pub fn or(self, file: ClientTlsArgs) -> ClientTlsArgs {
        ClientTlsArgs {
            tls_port: self.tls_port.or(file.tls_port),
            tls_cert_file: self.tls_cert_file.or(file.tls_cert_file),
            tls_key_file: self.tls_key_file.or(file.tls_key_file),
            tls_ca_cert_file: self.tls_ca_cert_file.or(file.tls_ca_cert_file),
            tls_auth_clients: self.tls_auth_clients.or(file.tls_auth_clients),
        }
    }

    /// The TLS listener on `bind`, at `tls_port + offset` (`memoir dev`
    /// puts its replica node on the next port), if a TLS port is set.
    pub fn client_tls(&self, bind: IpAddr, offset: u16) -> anyhow::Result<Option<ClientTls>> {
        let port = match self.tls_port {
            None | Some(0) => {
                if self.tls_cert_file.is_some() {
                    bail!("--tls-cert-file is set but --tls-port is not");
                }
                return Ok(None);
            }
            Some(port) => port
                .checked_add(offset)
                .context("--tls-port leaves no room for the replica")?,
        };
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            bail!("--tls-port needs --tls-cert-file and --tls-key-file");
        };
        let files = ClientTlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: self.tls_ca_cert_file.clone(),
            auth_clients: self.tls_auth_clients.unwrap_or(ClientAuth::Required),
        };
        Ok(Some(ClientTls::from_files(SocketAddr::new(bind, port), &files)?))
    }
}

/// `memoir dev`'s cluster secret: made once, random, in its data directory
/// (readable by the owner only), so that even a dev cluster's journal
/// admits only its own components.
pub fn dev_cluster_secret(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join("cluster-secret");
    if !path.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        writeln!(file, "{}", ClusterSecret::generate_text())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_secret_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dev_cluster_secret(dir.path()).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert_eq!(dev_cluster_secret(dir.path()).unwrap(), path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0);
        ClusterSecret::from_file(&path).unwrap();
    }

    #[test]
    fn tls_flags_need_their_files() {
        let bind = IpAddr::from([127, 0, 0, 1]);
        assert!(ClientTlsArgs::default().client_tls(bind, 0).unwrap().is_none());
        let port_only = ClientTlsArgs {
            tls_port: Some(6380),
            ..ClientTlsArgs::default()
        };
        assert!(port_only.client_tls(bind, 0).is_err());
        assert!(yes_no("maybe").is_err());
        assert_eq!(yes_no("No"), Ok(false));
    }
}
