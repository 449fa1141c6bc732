//! Client security against a real node over a real journal: requirepass
//! and AUTH, ACL users with command, key and channel permissions, protected
//! mode, output buffer limits, the query buffer limit against slow or
//! never-finished requests, and the idle timeout.

mod node_common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use memoir_engine::{MemoryNode, NodeConfig, Role};
use node_common::{start_journal, wait_for, Journal, Raw, LEASE, V};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn ok() -> V {
    V::Simple("OK".into())
}

fn error(text: &str) -> V {
    V::Error(text.into())
}

async fn node_with(journal: &Journal, configure: impl FnOnce(&mut NodeConfig)) -> MemoryNode {
    let mut config = NodeConfig::new(journal.addrs(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.lease = LEASE;
    config.lease_margin = LEASE / 4;
    configure(&mut config);
    let node = MemoryNode::start(config).await.unwrap();
    wait_for("a primary", Duration::from_secs(10), || node.role() == Role::Primary).await;
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirepass_gates_every_command_until_auth() {
    let journal = start_journal().await;
    let node = node_with(&journal, |c| c.requirepass = Some("s3cret".into())).await;
    let mut raw = Raw::connect(&node).await;

    assert_eq!(raw.cmd(&["GET", "k"]).await, error(NOAUTH));
    assert_eq!(raw.cmd(&["PING"]).await, error(NOAUTH));
    // Unknown commands and arity are checked first, as in Redis.
    assert_eq!(
        raw.cmd(&["NOSUCH"]).await,
        error("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_eq!(raw.cmd(&["AUTH", "nope"]).await, error(WRONGPASS));
    assert_eq!(raw.cmd(&["AUTH", "default", "nope"]).await, error(WRONGPASS));
    assert_eq!(
        raw.cmd(&["HELLO", "3"]).await,
        error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
    );
    assert_eq!(
        raw.cmd(&["HELLO", "2", "AUTH", "default", "nope"]).await,
        error(WRONGPASS)
    );
    assert_eq!(raw.cmd(&["AUTH", "a", "b", "c"]).await, error("ERR syntax error"));
    assert_eq!(raw.cmd(&["AUTH", "s3cret"]).await, ok());
    assert_eq!(raw.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(raw.cmd(&["ACL", "WHOAMI"]).await, V::bulk("default"));
    // RESET de-authenticates.
    assert_eq!(raw.cmd(&["RESET"]).await, V::Simple("RESET".into()));
    assert_eq!(raw.cmd(&["GET", "k"]).await, error(NOAUTH));

    // HELLO AUTH + SETNAME in one go.
    let V::Map(hello) = raw
        .cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app"])
        .await
    else {
        panic!("HELLO answers a map")
    };
    assert_eq!(hello[0], (V::bulk("server"), V::bulk("redis")));
    assert_eq!(raw.cmd(&["CLIENT", "GETNAME"]).await, V::bulk("app"));
    assert_eq!(raw.cmd(&["GET", "k"]).await, V::bulk("v"));

    // Clients: the password in the URL.
    let url = format!("redis://:s3cret@{}/", node.local_addr());
    let mut client = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let value: String = redis::cmd("GET").arg("k").query_async(&mut client).await.unwrap();
    assert_eq!(value, "v");
    let bad = redis::Client::open(format!("redis://:wrong@{}/", node.local_addr()))
        .unwrap()
        .get_multiplexed_async_connection()
        .await;
    assert!(bad.is_err(), "a wrong password must not connect");

    // CONFIG SET requirepass is live; the empty password removes it.
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "requirepass"]).await,
        V::Map(vec![(V::bulk("requirepass"), V::bulk("s3cret"))])
    );
    assert_eq!(raw.cmd(&["CONFIG", "SET", "requirepass", "other"]).await, ok());
    let mut fresh = Raw::connect(&node).await;
    assert_eq!(fresh.cmd(&["AUTH", "s3cret"]).await, error(WRONGPASS));
    assert_eq!(fresh.cmd(&["AUTH", "other"]).await, ok());
    assert_eq!(raw.cmd(&["CONFIG", "SET", "requirepass", ""]).await, ok());
    let mut open = Raw::connect(&node).await;
    assert_eq!(open.cmd(&["GET", "k"]).await, V::bulk("v"));
    assert_eq!(
        open.cmd(&["AUTH", "x"]).await,
        error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
    // QUIT works unauthenticated too.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "requirepass", "p"]).await, ok());
    let mut quitter = Raw::connect(&node).await;
    assert_eq!(quitter.cmd(&["QUIT"]).await, ok());
    assert!(quitter.closed_within(Duration::from_secs(2)).await);
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_with_command_key_and_channel_permissions() {
    let journal = start_journal().await;
    let node = node_with(&journal, |_| {}).await;
    let mut admin = Raw::connect(&node).await;
    assert!(matches!(admin.cmd(&["HELLO", "3"]).await, V::Map(_)));

    assert_eq!(
        admin
            .cmd(&[
                "ACL",
                "SETUSER",
                "alice",
                "on",
                ">pw",
                "~app:*",
                "%R~shared:*",
                "+@read",
                "+set",
                "+publish",
                "&news"
            ])
            .await,
        ok()
    );
    assert_eq!(
        admin
            .cmd(&[
                "ACL",
                "SETUSER",
                "bob",
                "on",
                "nopass",
                "+@all",
                "-@dangerous",
                "allkeys"
            ])
            .await,
        ok()
    );
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "x", "bogus"]).await,
        error("ERR Error in ACL SETUSER modifier 'bogus': Syntax error")
    );
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "x", "+nosuch"]).await,
        error("ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL")
    );
    assert_eq!(
        admin.cmd(&["ACL", "USERS"]).await,
        V::Array(vec![V::bulk("alice"), V::bulk("bob"), V::bulk("default")])
    );
    let V::Array(list) = admin.cmd(&["ACL", "LIST"]).await else {
        panic!()
    };
    assert!(list.contains(&V::bulk(
        "user alice on sanitize-payload #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~app:* %R~shared:* resetchannels &news -@all +@read +set +publish"
    )));
    assert!(list.contains(&V::bulk("user default on nopass sanitize-payload ~* &* +@all")));
    let V::Map(getuser) = admin.cmd(&["ACL", "GETUSER", "alice"]).await else {
        panic!()
    };
    assert_eq!(
        getuser[0],
        (
            V::bulk("flags"),
            V::Array(vec![V::bulk("on"), V::bulk("sanitize-payload")])
        )
    );
    assert_eq!(getuser[2], (V::bulk("commands"), V::bulk("-@all +@read +set +publish")));
    assert_eq!(getuser[3], (V::bulk("keys"), V::bulk("~app:* %R~shared:*")));
    assert_eq!(admin.cmd(&["ACL", "GETUSER", "nobody"]).await, V::Null);

    let mut alice = Raw::connect(&node).await;
    assert_eq!(alice.cmd(&["AUTH", "alice", "wrong"]).await, error(WRONGPASS));
    assert_eq!(alice.cmd(&["AUTH", "alice", "pw"]).await, ok());
    assert_eq!(
        alice.cmd(&["ACL", "WHOAMI"]).await,
        error("NOPERM this user has no permissions to run the 'acl|whoami' command")
    );
    assert_eq!(alice.cmd(&["SET", "app:1", "v"]).await, ok());
    assert_eq!(alice.cmd(&["GET", "app:1"]).await, V::bulk("v"));
    assert_eq!(
        alice.cmd(&["GET", "secret"]).await,
        error("NOPERM this user has no permissions to access one of the keys used as arguments")
    );
    assert_eq!(
        alice.cmd(&["DEL", "app:1"]).await,
        error("NOPERM this user has no permissions to run the 'del' command")
    );
    assert_eq!(alice.cmd(&["GET", "shared:x"]).await, V::NullBulk);
    assert_eq!(
        alice.cmd(&["SET", "shared:x", "v"]).await,
        error("NOPERM this user has no permissions to access one of the keys used as arguments")
    );
    assert_eq!(
        alice.cmd(&["CONFIG", "GET", "*"]).await,
        error("NOPERM this user has no permissions to run the 'config|get' command")
    );
    // MULTI is @transaction, not granted.
    assert_eq!(
        alice.cmd(&["MULTI"]).await,
        error("NOPERM this user has no permissions to run the 'multi' command")
    );

    let mut bob = Raw::connect(&node).await;
    assert_eq!(bob.cmd(&["AUTH", "bob", "anything"]).await, ok());
    assert_eq!(bob.cmd(&["ACL", "WHOAMI"]).await, V::bulk("bob"));
    assert_eq!(bob.cmd(&["MULTI"]).await, ok());
    assert_eq!(
        bob.cmd(&["FLUSHALL"]).await,
        error("NOPERM this user has no permissions to run the 'flushall' command")
    );
    assert_eq!(
        bob.cmd(&["EXEC"]).await,
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(
        bob.cmd(&["CLIENT", "LIST"]).await,
        error("NOPERM this user has no permissions to run the 'client|list' command")
    );
    assert!(matches!(bob.cmd(&["CLIENT", "ID"]).await, V::Int(_)));

    // Channels: only `news` for alice.
    assert_eq!(alice.cmd(&["PUBLISH", "news", "m"]).await, V::Int(0));
    assert_eq!(
        alice.cmd(&["PUBLISH", "sport", "m"]).await,
        error("NOPERM this user has no permissions to access one of the channels used as arguments")
    );

    // Revoking a channel closes the user's subscribers to it.
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "alice", "+subscribe"]).await, ok());
    let mut listener = Raw::connect(&node).await;
    assert_eq!(listener.cmd(&["AUTH", "alice", "pw"]).await, ok());
    assert!(matches!(listener.cmd(&["SUBSCRIBE", "news"]).await, V::Array(_)));
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "alice", "resetchannels", "&sport"]).await,
        ok()
    );
    assert!(listener.closed_within(Duration::from_secs(2)).await);
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "alice", "resetchannels", "&news"]).await,
        ok()
    );

    // ACL CAT, DRYRUN.
    let V::Array(cats) = admin.cmd(&["ACL", "CAT"]).await else {
        panic!()
    };
    assert_eq!(cats.len(), 21);
    let V::Array(dangerous) = admin.cmd(&["ACL", "CAT", "dangerous"]).await else {
        panic!()
    };
    assert!(dangerous.contains(&V::bulk("flushall")) && dangerous.contains(&V::bulk("config|set")));
    assert!(!dangerous.contains(&V::bulk("get")));
    assert_eq!(
        admin.cmd(&["ACL", "CAT", "nosuch"]).await,
        error("ERR Unknown category 'nosuch'")
    );
    assert_eq!(admin.cmd(&["ACL", "DRYRUN", "alice", "GET", "app:1"]).await, ok());
    assert_eq!(
        admin.cmd(&["ACL", "DRYRUN", "alice", "DEL", "app:1"]).await,
        V::bulk("This user has no permissions to run the 'del' command")
    );
    assert_eq!(
        admin.cmd(&["ACL", "SAVE"]).await.text(),
        "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."
    );

    let stats = admin.cmd(&["INFO", "stats"]).await.text();
    for expected in [
        "acl_access_denied_auth:1",
        "acl_access_denied_cmd:6",
        "acl_access_denied_key:2",
        "acl_access_denied_channel:1",
    ] {
        assert!(stats.contains(expected), "{expected} in {stats}");
    }

    // Changes apply to connected clients at once.
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "alice", "+del"]).await, ok());
    assert_eq!(alice.cmd(&["DEL", "app:1"]).await, V::Int(1));
    // Disabled users cannot authenticate.
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "bob", "off"]).await, ok());
    let mut bob2 = Raw::connect(&node).await;
    assert_eq!(bob2.cmd(&["AUTH", "bob", "x"]).await, error(WRONGPASS));

    // Deleting a user closes its connections.
    assert_eq!(
        admin.cmd(&["ACL", "DELUSER", "default"]).await,
        error("ERR The 'default' user cannot be removed")
    );
    assert_eq!(admin.cmd(&["ACL", "DELUSER", "alice", "nobody"]).await, V::Int(1));
    assert!(alice.closed_within(Duration::from_secs(2)).await);

    // acl-pubsub-default decides new users' channels.
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "acl-pubsub-default", "allchannels"]).await,
        ok()
    );
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "dave"]).await, ok());
    let V::Map(dave) = admin.cmd(&["ACL", "GETUSER", "dave"]).await else {
        panic!()
    };
    assert_eq!(dave[4], (V::bulk("channels"), V::bulk("&*")));
    assert!(matches!(
        admin.cmd(&["CONFIG", "SET", "acl-pubsub-default", "some"]).await,
        V::Error(e) if e.ends_with("argument(s) must be one of the following: allchannels, resetchannels")
    ));

    // A redis-rs client with a username.
    assert_eq!(
        admin
            .cmd(&["ACL", "SETUSER", "carol", "on", ">pw2", "allkeys", "+@all"])
            .await,
        ok()
    );
    let url = format!("redis://carol:pw2@{}/", node.local_addr());
    let mut client = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let who: String = redis::cmd("ACL").arg("WHOAMI").query_async(&mut client).await.unwrap();
    assert_eq!(who, "carol");
    let denied: redis::RedisResult<String> = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("carol")
        .arg("-get")
        .query_async(&mut client)
        .await;
    assert!(denied.is_ok());
    let refused: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("k").query_async(&mut client).await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.code(), Some("NOPERM"));
    journal.stop();
}

/// A local address other than loopback, if the machine has one.
fn non_loopback_address() -> Option<IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks a route.
    for target in ["192.0.2.1:9", "10.255.255.255:9", "8.8.8.8:53"] {
        if probe.connect(target).is_ok() {
            if let Ok(local) = probe.local_addr() {
                if !local.ip().is_loopback() && !local.ip().is_unspecified() {
                    return Some(local.ip());
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_mode_refuses_remote_peers_until_a_password_is_set() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("no non-loopback address: protected mode is covered by the unit tests of protected_mode.rs");
        return;
    };
    let journal = start_journal().await;
    let node = node_with(&journal, |c| c.listen = SocketAddr::from(([0, 0, 0, 0], 0))).await;
    let port = node.local_addr().port();

    let mut remote = TcpStream::connect((ip, port)).await.unwrap();
    let mut denied = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), remote.read_to_end(&mut denied))
        .await
        .unwrap()
        .unwrap();
    let denied = String::from_utf8(denied).unwrap();
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface."),
        "{denied}"
    );
    assert!(denied.ends_with("NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"));

    // Loopback peers are served.
    let mut local = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    local.write_all(b"PING\r\n").await.unwrap();
    let mut pong = [0u8; 7];
    local.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"+PONG\r\n");

    // With a password, remote peers may connect (and must authenticate).
    local.write_all(b"CONFIG SET requirepass pw\r\n").await.unwrap();
    let mut reply = [0u8; 5];
    local.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"+OK\r\n");
    let mut remote = TcpStream::connect((ip, port)).await.unwrap();
    remote.write_all(b"PING\r\n").await.unwrap();
    let mut noauth = vec![0u8; NOAUTH.len() + 3];
    remote.read_exact(&mut noauth).await.unwrap();
    assert_eq!(noauth, format!("-{NOAUTH}\r\n").into_bytes());
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_is_disconnected_at_its_output_limit() {
    let journal = start_journal().await;
    let node = node_with(&journal, |_| {}).await;
    let mut admin = Raw::connect(&node).await;
    assert_eq!(
        admin
            .cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 2mb 512kb 60"])
            .await,
        ok()
    );
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]).await,
        V::Array(vec![
            V::bulk("client-output-buffer-limit"),
            V::bulk("normal 0 0 0 slave 268435456 67108864 60 pubsub 2097152 524288 60")
        ])
    );
    // A reader keeps up; a stalled subscriber never reads a byte.
    let mut reader = Raw::connect(&node).await;
    assert!(matches!(reader.cmd(&["SUBSCRIBE", "flood"]).await, V::Array(_)));
    let mut stalled = TcpStream::connect(node.local_addr()).await.unwrap();
    stalled
        .write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nflood\r\n")
        .await
        .unwrap();
    wait_for_numsub(&mut admin, 2).await;

    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    let reading = tokio::spawn(async move {
        while let Some(_message) = reader.read_within(Duration::from_secs(3)).await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        reader
    });
    let message = "x".repeat(8 * 1024);
    let mut publisher = Raw::connect(&node).await;
    let mut published = 0;
    // Up to 64 MiB: far beyond what socket buffers can absorb. Rounds of
    // 128 KiB, each once the reader has everything before it, keep the
    // reader well within its limit however slow the machine.
    while published < 8192 {
        for _ in 0..16 {
            publisher.send(&["PUBLISH", "flood", &message]).await;
        }
        for _ in 0..16 {
            assert!(matches!(publisher.read().await, V::Int(_)));
        }
        published += 16;
        let caught_up = tokio::time::Instant::now() + Duration::from_secs(10);
        while received.load(std::sync::atomic::Ordering::Relaxed) < published {
            assert!(tokio::time::Instant::now() < caught_up, "the reader fell behind");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if admin.cmd(&["PUBSUB", "NUMSUB", "flood"]).await == V::Array(vec![V::bulk("flood"), V::Int(1)]) {
            break;
        }
    }
    wait_for_numsub(&mut admin, 1).await;
    let info = admin.cmd(&["INFO", "stats"]).await.text();
    assert!(info.contains("memoir_output_limit_disconnections:1"), "{info}");
    // The stalled subscriber was closed; the reader was not.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the stalled subscriber was not closed");
    eprintln!(
        "stalled subscriber closed after {} KiB published to the channel",
        published * message.len() / 1024
    );
    let _reader = reading.await.unwrap();
    let received = received.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(received, published, "the reader must get every message");
    journal.stop();
}

async fn wait_for_numsub(admin: &mut Raw, subscribers: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = admin.cmd(&["PUBSUB", "NUMSUB", "flood"]).await;
        if reply == V::Array(vec![V::bulk("flood"), V::Int(subscribers)]) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "NUMSUB stayed {reply:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_unfinished_requests_cannot_hold_more_than_the_query_buffer_limit() {
    let journal = start_journal().await;
    let node = node_with(&journal, |_| {}).await;
    let mut admin = Raw::connect(&node).await;
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]).await,
        ok()
    );

    // A huge declared bulk length, then data trickling in.
    let mut slow = TcpStream::connect(node.local_addr()).await.unwrap();
    slow.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$104857600\r\n")
        .await
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..4 {
        slow.write_all(&chunk).await.unwrap();
    }
    // CLIENT LIST shows what it holds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let list = admin.cmd(&["CLIENT", "LIST"]).await.text();
        let qbufs: Vec<u64> = list
            .lines()
            .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("qbuf=")))
            .filter_map(|v| v.parse().ok())
            .collect();
        if qbufs.iter().any(|q| *q >= 256 * 1024) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "qbuf never showed: {list}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sent = 4 * chunk.len();
    let mut cut_off = false;
    while sent < 4 * 1024 * 1024 {
        if slow.write_all(&chunk).await.is_err() {
            cut_off = true;
            break;
        }
        sent += chunk.len();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        cut_off || reply.starts_with("-ERR Protocol error: query buffer limit exceeded"),
        "{reply}"
    );

    // Many small arguments of a request that never ends.
    let mut many = TcpStream::connect(node.local_addr()).await.unwrap();
    many.write_all(b"*1000000\r\n").await.unwrap();
    let argument = format!("${}\r\n{}\r\n", 1000, "y".repeat(1000));
    let mut closed = false;
    for _ in 0..4000 {
        if many.write_all(argument.as_bytes()).await.is_err() {
            closed = true;
            break;
        }
    }
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), many.read_to_end(&mut reply)).await;
    assert!(
        closed || String::from_utf8_lossy(&reply).starts_with("-ERR Protocol error: query buffer limit exceeded"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // The node still serves.
    assert_eq!(admin.cmd(&["PING"]).await, V::Simple("PONG".into()));
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_closed_when_a_timeout_is_set() {
    let journal = start_journal().await;
    let node = node_with(&journal, |c| c.idle_timeout = Duration::from_secs(2)).await;
    let mut idle = Raw::connect(&node).await;
    let mut subscriber = Raw::connect(&node).await;
    let mut busy = Raw::connect(&node).await;
    assert_eq!(idle.cmd(&["PING"]).await, V::Simple("PONG".into()));
    assert!(matches!(subscriber.cmd(&["SUBSCRIBE", "c"]).await, V::Array(_)));
    assert_eq!(
        busy.cmd(&["CONFIG", "GET", "timeout"]).await,
        V::Array(vec![V::bulk("timeout"), V::bulk("2")])
    );
    // The busy client keeps talking; the idle one is closed after 1-2 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        assert_eq!(busy.cmd(&["PING"]).await, V::Simple("PONG".into()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        idle.closed_within(Duration::from_secs(2)).await,
        "idle client still open"
    );
    assert!(!subscriber.closed_within(Duration::from_millis(200)).await);
    assert_eq!(busy.cmd(&["PING"]).await, V::Simple("PONG".into()));
    assert_eq!(
        busy.cmd(&["CONFIG", "SET", "timeout", "-1"]).await,
        error("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive")
    );
    // Off again: nobody is closed.
    assert_eq!(busy.cmd(&["CONFIG", "SET", "timeout", "0"]).await, ok());
    let mut quiet = Raw::connect(&node).await;
    assert_eq!(quiet.cmd(&["PING"]).await, V::Simple("PONG".into()));
    assert!(!quiet.closed_within(Duration::from_millis(3500)).await);
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_clients_cannot_make_the_node_hold_memory() {
    let journal = start_journal().await;
    let node = node_with(&journal, |c| c.requirepass = Some("pw".into())).await;
    let mut admin = Raw::connect(&node).await;
    assert_eq!(admin.cmd(&["AUTH", "pw"]).await, ok());

    // A 2 MiB request is fine once authenticated...
    let big = "v".repeat(2 * 1024 * 1024);
    assert_eq!(admin.cmd(&["SET", "big", &big]).await, ok());
    // ...but before, the query buffer stops at 1 MiB.
    let mut stranger = TcpStream::connect(node.local_addr()).await.unwrap();
    let mut request = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", big.len()).into_bytes();
    request.extend_from_slice(big.as_bytes());
    request.extend_from_slice(b"\r\n");
    let _ = stranger.write_all(&request).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stranger.read_to_end(&mut reply)).await;
    assert!(
        String::from_utf8_lossy(&reply).starts_with("-ERR Protocol error: query buffer limit exceeded"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    // A pipeline of commands whose NOAUTH errors are never read.
    let mut flooder = TcpStream::connect(node.local_addr()).await.unwrap();
    let pings = b"PING\r\n".repeat(10_000);
    for _ in 0..60 {
        if flooder.write_all(&pings).await.is_err() {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = admin.cmd(&["INFO", "stats"]).await.text();
        if info.contains("memoir_output_limit_disconnections:1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "flooder never disconnected:\n{info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    journal.stop();
}
