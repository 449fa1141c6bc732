//! Pub/sub against a real node: delivery, order, RESP2 subscribed mode,
//! RESP3 pushes, PUBSUB introspection.

mod node_common;

use std::time::Duration;

use node_common::{primary, Raw, V};

fn push3(kind: &str, name: &str, n: i64) -> V {
    V::Array(vec![V::bulk(kind), V::bulk(name), V::Int(n)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_in_publish_order_with_resp2_restrictions() {
    let (journal, node) = primary().await;
    let mut sub = Raw::connect(&node).await;
    let mut psub = Raw::connect(&node).await;
    let mut publisher = Raw::connect(&node).await;

    sub.send(&["SUBSCRIBE", "news", "sport"]).await;
    assert_eq!(sub.read().await, push3("subscribe", "news", 1));
    assert_eq!(sub.read().await, push3("subscribe", "sport", 2));
    assert_eq!(psub.cmd(&["PSUBSCRIBE", "n*"]).await, push3("psubscribe", "n*", 1));

    assert_eq!(
        sub.cmd(&["GET", "x"]).await,
        V::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    assert_eq!(sub.cmd(&["PING"]).await, V::Array(vec![V::bulk("pong"), V::bulk("")]));

    // A write then a publish: the message follows the write's commit.
    assert_eq!(publisher.cmd(&["SET", "k", "v"]).await, V::Simple("OK".into()));
    for i in 0..100 {
        let n = publisher.cmd(&["PUBLISH", "news", &i.to_string()]).await;
        assert_eq!(n, V::Int(2));
    }
    assert_eq!(publisher.cmd(&["PUBLISH", "other", "x"]).await, V::Int(0));
    for i in 0..100 {
        assert_eq!(
            sub.read().await,
            V::Array(vec![V::bulk("message"), V::bulk("news"), V::bulk(&i.to_string())])
        );
        assert_eq!(
            psub.read().await,
            V::Array(vec![
                V::bulk("pmessage"),
                V::bulk("n*"),
                V::bulk("news"),
                V::bulk(&i.to_string())
            ])
        );
    }

    assert_eq!(
        publisher.cmd(&["PUBSUB", "CHANNELS"]).await,
        V::Array(vec![V::bulk("news"), V::bulk("sport")])
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "news", "none"]).await,
        V::Array(vec![V::bulk("news"), V::Int(1), V::bulk("none"), V::Int(0)])
    );
    assert_eq!(publisher.cmd(&["PUBSUB", "NUMPAT"]).await, V::Int(1));
    assert_eq!(publisher.cmd(&["PUBSUB", "SHARDCHANNELS"]).await, V::Array(vec![]));

    sub.send(&["UNSUBSCRIBE"]).await;
    // All channels, in no particular order, counting down.
    let left = [sub.read().await, sub.read().await];
    let mut names = Vec::new();
    for (reply, count) in left.iter().zip([1, 0]) {
        match reply {
            V::Array(items) => {
                assert_eq!(items[0], V::bulk("unsubscribe"));
                assert_eq!(items[2], V::Int(count));
                names.push(items[1].text());
            }
            other => panic!("{other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["news", "sport"]);
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE"]).await,
        V::Array(vec![V::bulk("unsubscribe"), V::NullBulk, V::Int(0)])
    );
    // Out of subscribed mode: normal commands again.
    assert_eq!(sub.cmd(&["GET", "k"]).await, V::bulk("v"));

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_subscribers_get_push_messages_and_can_run_commands() {
    let (journal, node) = primary().await;
    let mut sub = Raw::connect(&node).await;
    let mut publisher = node_common::connect(&node).await;
    assert!(matches!(sub.cmd(&["HELLO", "3"]).await, V::Map(_)));
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "ch"]).await,
        V::Push(vec![V::bulk("subscribe"), V::bulk("ch"), V::Int(1)])
    );
    assert_eq!(sub.cmd(&["GET", "missing"]).await, V::Null);
    let n: i64 = redis::cmd("PUBLISH")
        .arg("ch")
        .arg("hello")
        .query_async(&mut publisher)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        sub.read().await,
        V::Push(vec![V::bulk("message"), V::bulk("ch"), V::bulk("hello")])
    );
    assert!(sub.read_within(Duration::from_millis(50)).await.is_none());

    node.abort();
    journal.stop();
}
