//! WATCH / MULTI / EXEC against a real node over a real journal.

mod node_common;

use std::time::Duration;

use node_common::{arr, primary, Raw, V};

fn ok() -> V {
    V::Simple("OK".into())
}

fn queued() -> V {
    V::Simple("QUEUED".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_aborts_exec_when_a_watched_key_changes() {
    let (journal, node) = primary().await;
    let mut a = Raw::connect(&node).await;
    let mut b = Raw::connect(&node).await;

    // Untouched: EXEC runs.
    assert_eq!(a.cmd(&["SET", "k", "0"]).await, ok());
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["INCR", "k"]).await, queued());
    assert_eq!(a.cmd(&["EXEC"]).await, V::Array(vec![V::Int(1)]));

    // Another client writes the key: EXEC answers a null array, runs nothing.
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    assert_eq!(b.cmd(&["SET", "k", "10"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["INCR", "k"]).await, queued());
    assert_eq!(a.cmd(&["EXEC"]).await, V::NullArray);
    assert_eq!(a.cmd(&["GET", "k"]).await, V::bulk("10"));

    // EXEC unwatches: the next transaction runs.
    assert_eq!(b.cmd(&["SET", "k", "11"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["GET", "k"]).await, queued());
    assert_eq!(a.cmd(&["EXEC"]).await, arr(&["11"]));

    // UNWATCH forgets; a write to a key watched by nobody else is fine.
    assert_eq!(a.cmd(&["WATCH", "k", "other"]).await, ok());
    assert_eq!(a.cmd(&["UNWATCH"]).await, ok());
    assert_eq!(b.cmd(&["SET", "k", "12"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["PING"]).await, queued());
    assert_eq!(a.cmd(&["EXEC"]).await, V::Array(vec![V::Simple("PONG".into())]));

    // A watched key deleted (it existed) aborts; so does the client's own write.
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    assert_eq!(a.cmd(&["DEL", "k"]).await, V::Int(1));
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["EXEC"]).await, V::NullArray);

    // WATCH inside MULTI is refused but does not abort the transaction.
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(
        a.cmd(&["WATCH", "x"]).await,
        V::Error("ERR WATCH inside MULTI is not allowed".into())
    );
    assert_eq!(a.cmd(&["EXEC"]).await, V::Array(vec![]));

    // A queueing error aborts with EXECABORT.
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(
        a.cmd(&["GET"]).await,
        V::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(a.cmd(&["SET", "z", "1"]).await, queued());
    assert_eq!(
        a.cmd(&["EXEC"]).await,
        V::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(a.cmd(&["EXISTS", "z"]).await, V::Int(0));
    assert_eq!(a.cmd(&["EXEC"]).await, V::Error("ERR EXEC without MULTI".into()));
    assert_eq!(a.cmd(&["DISCARD"]).await, V::Error("ERR DISCARD without MULTI".into()));

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushes_swapdb_and_expiry_touch_watched_keys_as_redis_does() {
    let (journal, node) = primary().await;
    let mut a = Raw::connect(&node).await;
    let mut b = Raw::connect(&node).await;

    // FLUSHDB touches a watched key that exists...
    assert_eq!(a.cmd(&["SET", "x", "1"]).await, ok());
    assert_eq!(a.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(b.cmd(&["FLUSHDB"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["EXEC"]).await, V::NullArray);
    // ... but not one that does not.
    assert_eq!(a.cmd(&["WATCH", "missing"]).await, ok());
    assert_eq!(b.cmd(&["FLUSHALL"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["EXEC"]).await, V::Array(vec![]));

    // SWAPDB bringing a key in touches its watchers.
    assert_eq!(b.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(b.cmd(&["SET", "y", "from-db1"]).await, ok());
    assert_eq!(a.cmd(&["WATCH", "y"]).await, ok());
    assert_eq!(b.cmd(&["SWAPDB", "0", "1"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["GET", "y"]).await, queued());
    assert_eq!(a.cmd(&["EXEC"]).await, V::NullArray);

    // A key that expires after WATCH aborts EXEC.
    // (Long enough that WATCH surely sees the key alive on a loaded machine.)
    assert_eq!(a.cmd(&["SET", "t", "v", "PX", "400"]).await, ok());
    assert_eq!(a.cmd(&["WATCH", "t"]).await, ok());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["EXEC"]).await, V::NullArray);

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_nil_is_null_in_resp3_and_redis_rs_sees_none() {
    let (journal, node) = primary().await;
    let mut a = Raw::connect(&node).await;
    let mut b = node_common::connect(&node).await;
    assert!(matches!(a.cmd(&["HELLO", "3"]).await, V::Map(_)));
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    let _: () = redis::cmd("SET").arg("k").arg("v").query_async(&mut b).await.unwrap();
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["EXEC"]).await, V::Null);

    // redis-rs's own transaction helper over WATCH.
    let mut c = node_common::connect(&node).await;
    let _: () = redis::cmd("WATCH").arg("k").query_async(&mut c).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("changed")
        .query_async(&mut b)
        .await
        .unwrap();
    let result: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(result, None);

    node.abort();
    journal.stop();
}
