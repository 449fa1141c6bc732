//! RESP over TLS (`tls-port` and friends): a TLS client with a certificate
//! from the configured CA gets the same node as a plain client; without
//! one it is refused when certificates are required; `port 0` leaves TLS
//! only. Also `redis-cli --tls` when the installed redis-cli has TLS.

mod node_common;
#[path = "../../journal/tests/common/test_certs.rs"]
mod test_certs;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use memoir_engine::{ClientTls, ClientTlsFiles, MemoryNode, NodeConfig, Role};
use memoir_journal::tls::rustls::pki_types::ServerName;
use memoir_journal::tls::tokio_rustls::TlsConnector;
use memoir_journal::tls::{client_config, ClientAuth};
use node_common::{start_journal, wait_for, Journal, LEASE};
use test_certs::{Identity, TestCa};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_tls_node(journal: &Journal, files: &ClientTlsFiles, serve_plain: bool) -> MemoryNode {
    let mut config = NodeConfig::new(journal.addrs(), loopback());
    config.lease = LEASE;
    config.lease_margin = LEASE / 4;
    config.serve_plain = serve_plain;
    config.tls = Some(ClientTls::from_files(loopback(), files).unwrap());
    let node = MemoryNode::start(config).await.unwrap();
    wait_for("a primary", Duration::from_secs(10), || node.role() == Role::Primary).await;
    node
}

fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n{arg}\r\n", arg.len()).into_bytes());
    }
    out
}

/// Sends `requests` over TLS (pipelined) and reads until `expected` bytes
/// arrived; an error if the TLS session or the read fails.
async fn tls_exchange(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<&Identity>,
    requests: &[u8],
    expected: usize,
) -> std::io::Result<Vec<u8>> {
    let config = client_config(ca, identity.map(|i| (i.cert.as_path(), i.key.as_path()))).unwrap();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
    tls.write_all(requests).await?;
    tls.flush().await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while reply.len() < expected {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("no reply"))??;
        if n == 0 {
            return Err(std::io::Error::other("closed"));
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Ok(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_with_a_certificate_share_the_node_with_plain_clients() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "clients");
    let server = ca.issue("server");
    let client = ca.issue("client");
    let journal = start_journal().await;
    let files = ClientTlsFiles {
        cert: server.cert.clone(),
        key: server.key.clone(),
        ca: Some(ca.cert_file.clone()),
        auth_clients: ClientAuth::Required,
    };
    let node = start_tls_node(&journal, &files, true).await;
    let tls_addr = node.tls_local_addr().unwrap();
    assert_ne!(tls_addr, node.local_addr());

    let requests = [command(&["SET", "greeting", "over tls"]), command(&["GET", "greeting"])].concat();
    let expected = b"+OK\r\n$8\r\nover tls\r\n";
    let reply = tls_exchange(tls_addr, &ca.cert_file, Some(&client), &requests, expected.len())
        .await
        .unwrap();
    assert_eq!(reply, expected);

    // The plain port serves the same data set.
    let mut plain = node_common::connect(&node).await;
    let value: String = redis::cmd("GET").arg("greeting").query_async(&mut plain).await.unwrap();
    assert_eq!(value, "over tls");

    // No client certificate, or one from another CA: no reply.
    let anonymous = tls_exchange(tls_addr, &ca.cert_file, None, &command(&["PING"]), 1).await;
    assert!(anonymous.is_err(), "{anonymous:?}");
    let rogue_ca = TestCa::new(dir.path(), "rogue");
    let rogue = rogue_ca.issue("rogue-client");
    let refused = tls_exchange(tls_addr, &ca.cert_file, Some(&rogue), &command(&["PING"]), 1).await;
    assert!(refused.is_err(), "{refused:?}");

    // Plain RESP on the TLS port gets nothing back.
    let mut tcp = TcpStream::connect(tls_addr).await.unwrap();
    tcp.write_all(&command(&["PING"])).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
    assert!(
        !matches!(read, Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")),
        "plain RESP answered on the TLS port"
    );

    redis_cli_over_tls(tls_addr, &ca.cert_file, &client).await;
    node.shutdown().await;
    journal.stop();
}

/// `redis-cli --tls`, when redis-cli is installed and built with TLS.
async fn redis_cli_over_tls(addr: SocketAddr, ca: &Path, client: &Identity) {
    let help = std::process::Command::new("redis-cli").arg("--help").output();
    let Ok(help) = help else {
        eprintln!("redis-cli not installed: skipping its TLS check");
        return;
    };
    if !String::from_utf8_lossy(&help.stdout).contains("--tls")
        && !String::from_utf8_lossy(&help.stderr).contains("--tls")
    {
        eprintln!("redis-cli has no TLS: skipping its TLS check");
        return;
    }
    let output = tokio::process::Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca)
        .arg("--cert")
        .arg(&client.cert)
        .arg("--key")
        .arg(&client.key)
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string(), "GET", "greeting"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "over tls",
        "redis-cli stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_without_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "server-only");
    let server = ca.issue("server");
    let journal = start_journal().await;
    let files = ClientTlsFiles {
        cert: server.cert.clone(),
        key: server.key.clone(),
        ca: None,
        auth_clients: ClientAuth::None,
    };
    let node = start_tls_node(&journal, &files, false).await;
    let tls_addr = node.tls_local_addr().unwrap();
    assert_eq!(
        node.local_addr(),
        tls_addr,
        "without a plain port the node is known by its TLS address"
    );
    let reply = tls_exchange(tls_addr, &ca.cert_file, None, &command(&["PING"]), 7)
        .await
        .unwrap();
    assert_eq!(reply, b"+PONG\r\n");
    node.shutdown().await;
    journal.stop();
}

#[test]
fn tls_settings_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "settings");
    let server = ca.issue("server");
    let needs_ca = ClientTlsFiles {
        cert: server.cert.clone(),
        key: server.key.clone(),
        ca: None,
        auth_clients: ClientAuth::Required,
    };
    let e = ClientTls::from_files(loopback(), &needs_ca).unwrap_err();
    assert!(e.to_string().contains("tls-ca-cert-file"), "{e}");
    let missing_key = ClientTlsFiles {
        key: dir.path().join("no-such-key.pem"),
        ca: Some(ca.cert_file.clone()),
        ..needs_ca
    };
    let e = ClientTls::from_files(loopback(), &missing_key).unwrap_err();
    assert!(e.to_string().contains("no-such-key.pem"), "{e}");
}
