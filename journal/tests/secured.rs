//! Secured journal links: three real replicas over loopback TCP that
//! require the cluster secret, or mutual TLS. Members append; a client with
//! the wrong secret, no secret, no certificate or a certificate from
//! another CA is refused and changes nothing.

mod common;
#[path = "common/test_certs.rs"]
mod test_certs;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use memoir_journal::auth::ClusterSecret;
use memoir_journal::client::{replica_status, ClientError, ClientOptions, JournalClient};
use memoir_journal::server::{Replica, ReplicaConfig};
use memoir_journal::{JournalTlsFiles, LeaderId, LinkSecurity};
use test_certs::TestCa;

fn free_addr() -> SocketAddr {
    memoir_journal::test_ports::free_loopback_addr()
}

struct Cluster {
    _dirs: Vec<tempfile::TempDir>,
    addrs: Vec<String>,
    _replicas: Vec<Replica>,
}

impl Cluster {
    /// Three replicas, replica `i` secured with `security(i)` (again on
    /// new ports if a port was taken before its replica bound it).
    async fn start(security: impl Fn(u64) -> LinkSecurity) -> Cluster {
        let mut attempt = 1;
        loop {
            match Cluster::start_once(&security).await {
                Err(e) if attempt < 5 && memoir_journal::test_ports::is_addr_in_use(&e) => attempt += 1,
                started => return started.unwrap(),
            }
        }
    }

    async fn start_once(security: &impl Fn(u64) -> LinkSecurity) -> memoir_journal::Result<Cluster> {
        let addrs: Vec<SocketAddr> = (0..3).map(|_| free_addr()).collect();
        let peers: BTreeMap<u64, String> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, a.to_string()))
            .collect();
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut replicas = Vec::new();
        for id in 1..=3u64 {
            let dir = dirs[id as usize - 1].path().to_path_buf();
            let mut config = ReplicaConfig::new(id, addrs[id as usize - 1], peers.clone(), dir);
            config.node.tick = Duration::from_millis(20);
            config.log.segment_size_bytes = 1 << 20;
            config.log.io = memoir_journal::IoMode::from_env().expect("MEMOIR_IO is auto, uring or sync");
            config.security = security(id);
            replicas.push(Replica::start(config).await?);
        }
        Ok(Cluster {
            _dirs: dirs,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
            _replicas: replicas,
        })
    }

    fn client(&self, security: LinkSecurity, deadline: Duration) -> JournalClient {
        let mut options = ClientOptions::new(self.addrs.clone());
        options.deadline = deadline;
        options.security = security;
        JournalClient::new(options)
    }

    /// A member can write: take the leader register and append.
    async fn member_appends(&self, member: LinkSecurity) -> LeaderId {
        let client = self.client(member, Duration::from_secs(20));
        let leader = LeaderId::random();
        client.set_leader(leader, LeaderId::NONE).await.unwrap();
        let seq = client
            .append(Bytes::from_static(b"from a member"), leader)
            .await
            .unwrap();
        // The client may read from a replica that has not applied the
        // entry yet: wait for it.
        for _ in 0..200 {
            let batch = client.read(seq, 1 << 20).await.unwrap();
            if let Some((_, payload)) = batch.entries.first() {
                assert_eq!(&payload[..], b"from a member");
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the appended entry never became readable");
    }

    /// An outsider can neither change the leader nor append, and the
    /// register still holds `leader` afterwards.
    async fn outsider_is_refused(&self, outsider: LinkSecurity, member: &LinkSecurity, leader: LeaderId) {
        let client = self.client(outsider, Duration::from_millis(1500));
        let result = client.set_leader(LeaderId::random(), leader).await;
        assert!(matches!(result, Err(ClientError::Unavailable(_))), "{result:?}");
        let result = client.append(Bytes::from_static(b"intruder"), leader).await;
        assert!(matches!(result, Err(ClientError::Unavailable(_))), "{result:?}");
        let status = self
            .client(member.clone(), Duration::from_secs(10))
            .status()
            .await
            .unwrap();
        assert_eq!(status.leader, leader, "an outsider changed the leader register");
    }

    /// The error an outsider sees when it asks one replica directly.
    async fn refusal(&self, outsider: &LinkSecurity) -> String {
        match replica_status(&self.addrs[0], outsider, Duration::from_secs(5)).await {
            Ok(status) => panic!("an outsider got a status: {status:?}"),
            Err(e) => e.to_string(),
        }
    }
}

fn secret_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_secret_admits_members_and_refuses_others() {
    common::init_tracing();
    let files = tempfile::tempdir().unwrap();
    let right = secret_file(files.path(), "right", &ClusterSecret::generate_text());
    let wrong = secret_file(files.path(), "wrong", &ClusterSecret::generate_text());
    let with = |path: &Path| LinkSecurity::from_settings(Some(path), &JournalTlsFiles::default(), false).unwrap();
    let member = with(&right);
    let cluster = Cluster::start(|_| with(&right)).await;

    let leader = cluster.member_appends(member.clone()).await;

    let wrong_secret = with(&wrong);
    let refusal = cluster.refusal(&wrong_secret).await;
    assert!(refusal.contains("cluster's secret"), "{refusal}");
    cluster.outsider_is_refused(wrong_secret, &member, leader).await;

    let refusal = cluster.refusal(&LinkSecurity::none()).await;
    assert!(refusal.contains("requires the cluster secret"), "{refusal}");
    cluster.outsider_is_refused(LinkSecurity::none(), &member, leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_members_and_refuses_others() {
    common::init_tracing();
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new(files.path(), "cluster");
    let replica_identity = ca.issue("replica");
    let member_identity = ca.issue("memory-node");
    let tls = |cert: Option<&test_certs::Identity>, ca_file: &Path| JournalTlsFiles {
        cert: cert.map(|i| i.cert.clone()),
        key: cert.map(|i| i.key.clone()),
        ca: Some(ca_file.to_path_buf()),
        skip_client_verification: false,
    };
    let replica_tls = tls(Some(&replica_identity), &ca.cert_file);
    let cluster = Cluster::start(|_| LinkSecurity::none().with_tls(&replica_tls, true).unwrap()).await;

    let member = LinkSecurity::none()
        .with_tls(&tls(Some(&member_identity), &ca.cert_file), false)
        .unwrap();
    let leader = cluster.member_appends(member.clone()).await;

    // TLS, trusting the cluster's CA, but no client certificate.
    let anonymous = LinkSecurity::none().with_tls(&tls(None, &ca.cert_file), false).unwrap();
    let refusal = cluster.refusal(&anonymous).await;
    assert!(!refusal.is_empty());
    cluster.outsider_is_refused(anonymous, &member, leader).await;

    // A certificate from another CA (which it trusts for the server too,
    // so only the replica's check of the client can refuse it).
    let rogue_ca = TestCa::new(files.path(), "rogue");
    let rogue_identity = rogue_ca.issue("rogue-client");
    let rogue = LinkSecurity::none()
        .with_tls(&tls(Some(&rogue_identity), &ca.cert_file), false)
        .unwrap();
    cluster.outsider_is_refused(rogue, &member, leader).await;

    // Plain TCP to a TLS replica.
    let refusal = cluster.refusal(&LinkSecurity::none()).await;
    assert!(refusal.contains("require TLS"), "{refusal}");
    cluster.outsider_is_refused(LinkSecurity::none(), &member, leader).await;
}

#[tokio::test]
async fn bad_security_settings_are_clear_errors() {
    let files = tempfile::tempdir().unwrap();
    let short = secret_file(files.path(), "short", "tiny");
    let e = LinkSecurity::from_settings(Some(&short), &JournalTlsFiles::default(), true).unwrap_err();
    assert!(e.to_string().contains("at least 16"), "{e}");
    let missing = files.path().join("missing");
    let e = LinkSecurity::from_settings(Some(&missing), &JournalTlsFiles::default(), true).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");

    let ca = TestCa::new(files.path(), "cluster");
    let garbage = secret_file(files.path(), "garbage.pem", "not a certificate");
    let no_ca = JournalTlsFiles {
        cert: None,
        key: None,
        ca: None,
        skip_client_verification: false,
    };
    assert!(LinkSecurity::none().with_tls(&no_ca, false).is_err());
    let bad_ca = JournalTlsFiles {
        ca: Some(garbage.clone()),
        ..no_ca.clone()
    };
    let e = LinkSecurity::none().with_tls(&bad_ca, false).unwrap_err();
    assert!(e.to_string().contains("garbage.pem"), "{e}");
    let replica_without_cert = JournalTlsFiles {
        ca: Some(ca.cert_file.clone()),
        ..no_ca.clone()
    };
    assert!(LinkSecurity::none().with_tls(&replica_without_cert, true).is_err());
    let identity = ca.issue("replica");
    let mismatched = JournalTlsFiles {
        cert: Some(identity.cert.clone()),
        key: Some(garbage),
        ca: Some(ca.cert_file.clone()),
        skip_client_verification: false,
    };
    assert!(LinkSecurity::none().with_tls(&mismatched, true).is_err());
}
