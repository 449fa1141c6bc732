//! Blocking pops (BLPOP, BLMOVE, BZPOPMIN, BLMPOP...) and LMPOP/ZMPOP
//! against a real node over a real journal.

mod node_common;

use std::time::{Duration, Instant};

use memoir_engine::Role;
use node_common::{arr, primary, start_journal, start_node, wait_for, wait_info, Raw, LEASE, V};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blpop_is_woken_by_lpush_in_fifo_order_and_keeps_reply_order() {
    let (journal, node) = primary().await;
    let mut admin = Raw::connect(&node).await;
    let mut first = Raw::connect(&node).await;
    let mut second = Raw::connect(&node).await;
    let mut pusher = Raw::connect(&node).await;

    first.send(&["BLPOP", "q", "other", "0"]).await;
    // Pipelined after the blocking command: answered after it, in order.
    first.send(&["PING"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    second.send(&["BLPOP", "q", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "2").await;
    assert!(first.read_within(Duration::from_millis(100)).await.is_none());

    assert_eq!(pusher.cmd(&["RPUSH", "q", "a", "b", "c"]).await, V::Int(3));
    assert_eq!(first.read().await, arr(&["q", "a"]));
    assert_eq!(first.read().await, V::Simple("PONG".into()));
    assert_eq!(second.read().await, arr(&["q", "b"]));
    assert_eq!(pusher.cmd(&["LRANGE", "q", "0", "-1"]).await, arr(&["c"]));

    // Served at once when data is there.
    assert_eq!(pusher.cmd(&["BRPOP", "none", "q", "0"]).await, arr(&["q", "c"]));
    wait_info(&mut admin, "blocked_clients", "0").await;

    // BLMOVE waits, then moves.
    first.send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["LPUSH", "src", "x"]).await, V::Int(1));
    assert_eq!(first.read().await, V::bulk("x"));
    assert_eq!(pusher.cmd(&["LRANGE", "dst", "0", "-1"]).await, arr(&["x"]));

    // BZPOPMIN woken by ZADD; BLMPOP with COUNT.
    first.send(&["BZPOPMIN", "z", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["ZADD", "z", "2", "b", "1", "a"]).await, V::Int(2));
    assert_eq!(
        first.read().await,
        V::Array(vec![V::bulk("z"), V::bulk("a"), V::bulk("1")])
    );
    first
        .send(&["BLMPOP", "0", "2", "l1", "l2", "RIGHT", "COUNT", "5"])
        .await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["RPUSH", "l2", "1", "2"]).await, V::Int(2));
    assert_eq!(first.read().await, V::Array(vec![V::bulk("l2"), arr(&["2", "1"])]));

    // A rename that makes a key non-empty wakes its waiters.
    first.send(&["BLPOP", "renamed", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["RPUSH", "tmp", "v"]).await, V::Int(1));
    assert_eq!(pusher.cmd(&["RENAME", "tmp", "renamed"]).await, V::Simple("OK".into()));
    assert_eq!(first.read().await, arr(&["renamed", "v"]));

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_errors_and_multi() {
    let (journal, node) = primary().await;
    let mut c = Raw::connect(&node).await;

    let started = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "q", "0.1"]).await, V::NullArray);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(c.cmd(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0.01"]).await, V::NullArray);
    assert_eq!(c.cmd(&["BZMPOP", "0.01", "1", "z", "MIN"]).await, V::NullArray);
    for (args, error) in [
        (&["BLPOP", "q", "-1"][..], "ERR timeout is negative"),
        (&["BLPOP", "q", "abc"], "ERR timeout is not a float or out of range"),
        (&["BLMOVE", "q", "d", "LEFT", "MIDDLE", "0"], "ERR syntax error"),
        (
            &["BLMPOP", "0", "0", "q", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["LMPOP", "1", "q", "LEFT", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (&["ZMPOP", "1", "q", "FOO"], "ERR syntax error"),
    ] {
        assert_eq!(c.cmd(args).await, V::Error(error.into()), "{args:?}");
    }
    assert_eq!(c.cmd(&["SET", "s", "v"]).await, V::Simple("OK".into()));
    assert_eq!(
        c.cmd(&["BLPOP", "s", "0"]).await,
        V::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    );

    // Non-blocking multi-key pops.
    assert_eq!(c.cmd(&["LMPOP", "2", "none", "q", "LEFT"]).await, V::NullArray);
    assert_eq!(c.cmd(&["RPUSH", "q", "a", "b", "c"]).await, V::Int(3));
    assert_eq!(
        c.cmd(&["LMPOP", "2", "none", "q", "RIGHT", "COUNT", "2"]).await,
        V::Array(vec![V::bulk("q"), arr(&["c", "b"])])
    );
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "2", "b"]).await, V::Int(2));
    assert_eq!(
        c.cmd(&["ZMPOP", "1", "z", "MAX", "COUNT", "5"]).await,
        V::Array(vec![V::bulk("z"), V::Array(vec![arr(&["b", "2"]), arr(&["a", "1"])])])
    );

    // Inside MULTI a blocking pop does not block.
    assert_eq!(c.cmd(&["MULTI"]).await, V::Simple("OK".into()));
    assert_eq!(c.cmd(&["BLPOP", "empty", "0"]).await, V::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]).await, V::Array(vec![V::NullArray]));

    // RESP3: the timeout is a null.
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, V::Map(_)));
    assert_eq!(c.cmd(&["BLPOP", "empty", "0.01"]).await, V::Null);

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_blocking_pops_replicate_and_stepping_down_releases_waiters() {
    let journal = start_journal().await;
    let a = start_node(&journal, Duration::ZERO).await;
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;
    let b = start_node(&journal, LEASE * 4).await;
    let mut admin = Raw::connect(&a).await;
    let mut waiter = Raw::connect(&a).await;
    let mut pusher = Raw::connect(&a).await;

    waiter.send(&["BLPOP", "q", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["RPUSH", "q", "a", "b"]).await, V::Int(2));
    assert_eq!(waiter.read().await, arr(&["q", "a"]));
    waiter.send(&["BZPOPMAX", "z", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["ZADD", "z", "1", "m", "5", "n"]).await, V::Int(2));
    assert_eq!(
        waiter.read().await,
        V::Array(vec![V::bulk("z"), V::bulk("n"), V::bulk("5")])
    );

    let digest = |v: V| match v {
        V::Array(items) => (items[0].text(), items[1].text().parse::<u64>().unwrap()),
        other => panic!("{other:?}"),
    };
    let (primary_digest, primary_seq) = digest(pusher.cmd(&["DEBUG", "DIGEST-SEQ"]).await);
    let mut replica = Raw::connect(&b).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let V::Array(items) = replica.cmd(&["DEBUG", "DIGEST-SEQ"]).await {
            let (d, seq) = digest(V::Array(items));
            if seq >= primary_seq {
                assert_eq!(d, primary_digest);
                break;
            }
        }
        assert!(Instant::now() < deadline, "replica did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A replica applies records before it declares itself loaded (after
    // its first caught-up check): wait out LOADING.
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        match replica.cmd(&["LRANGE", "q", "0", "-1"]).await {
            V::Error(text) if text.starts_with("LOADING") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    assert_eq!(listed, arr(&["b"]));

    // Blocked clients are released when the primary steps down.
    waiter.send(&["BLPOP", "never", "0"]).await;
    wait_info(&mut admin, "blocked_clients", "1").await;
    assert_eq!(pusher.cmd(&["FAILOVER"]).await, V::Simple("OK".into()));
    match waiter.read().await {
        V::Error(text) => assert!(text.starts_with("UNBLOCKED"), "{text}"),
        other => panic!("{other:?}"),
    }
    // Then every client of the old primary is disconnected, after its
    // replies: it reconnects and finds the new primary.
    for (name, client) in [("waiter", &mut waiter), ("pusher", &mut pusher), ("admin", &mut admin)] {
        assert!(
            client.closed_within(Duration::from_secs(5)).await,
            "{name} stayed connected to the resigned primary"
        );
    }

    a.abort();
    b.abort();
    journal.stop();
}
