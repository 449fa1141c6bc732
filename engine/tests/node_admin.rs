//! CLIENT, CONFIG, INFO commandstats/errorstats, SLOWLOG, MEMORY, DEBUG
//! SLEEP against a real node.

mod node_common;

use std::time::Duration;

use node_common::{info_field, primary, Raw, V};

fn ok() -> V {
    V::Simple("OK".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_list_and_reply_modes() {
    let (journal, node) = primary().await;
    let mut a = Raw::connect(&node).await;
    let mut victim = Raw::connect(&node).await;
    let mut by_addr = Raw::connect(&node).await;
    assert_eq!(victim.cmd(&["CLIENT", "SETNAME", "victim"]).await, ok());
    let victim_id = victim.cmd(&["CLIENT", "ID"]).await.text();
    let list = a.cmd(&["CLIENT", "LIST"]).await.text();
    assert!(
        list.contains(&format!("id={victim_id} ")) && list.contains("name=victim"),
        "{list}"
    );
    let info = by_addr.cmd(&["CLIENT", "INFO"]).await.text();
    let addr = info
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_owned();

    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &victim_id]).await, V::Int(1));
    assert!(victim.closed_within(Duration::from_secs(2)).await);
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &victim_id]).await, V::Int(0));
    // Old form: by address.
    assert_eq!(a.cmd(&["CLIENT", "KILL", &addr]).await, ok());
    assert!(by_addr.closed_within(Duration::from_secs(2)).await);
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]).await,
        V::Error("ERR No such client".into())
    );
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "TYPE", "foo"]).await,
        V::Error("ERR Unknown client type 'foo'".into())
    );
    // SKIPME is the default: the caller survives.
    assert_eq!(a.cmd(&["CLIENT", "KILL", "TYPE", "normal"]).await, V::Int(0));
    assert_eq!(a.cmd(&["PING"]).await, V::Simple("PONG".into()));

    // CLIENT REPLY SKIP silences itself and the next reply only.
    a.send(&["CLIENT", "REPLY", "SKIP"]).await;
    a.send(&["ECHO", "hidden"]).await;
    assert_eq!(a.cmd(&["ECHO", "shown"]).await, V::bulk("shown"));
    a.send(&["CLIENT", "REPLY", "OFF"]).await;
    a.send(&["SET", "k", "v"]).await;
    assert_eq!(a.cmd(&["CLIENT", "REPLY", "ON"]).await, ok());
    assert_eq!(a.cmd(&["GET", "k"]).await, V::bulk("v"));

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_stats_slowlog_memory_and_debug_sleep() {
    let (journal, node) = primary().await;
    let mut c = Raw::connect(&node).await;
    let mut redis = node_common::connect(&node).await;

    // CONFIG SET / GET round trip, through redis-rs too.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hz")
        .arg("50")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut redis)
        .await
        .unwrap();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(got, ["hz", "50"]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory-policy"]).await,
        V::Array(vec![V::bulk("maxmemory-policy"), V::bulk("allkeys-lru")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "foo", "bar"]).await,
        V::Error("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "appendonly", "maybe"]).await,
        V::Error(
            "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'".into()
        )
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "databases", "4"]).await,
        V::Error(
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config".into()
        )
    );
    // maxclients applies.
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "3"]).await, ok());
    let _second = Raw::connect(&node).await;
    let mut fourth = Raw::connect(&node).await;
    assert_eq!(
        fourth.read().await,
        V::Error("ERR max number of clients reached".into())
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "10000"]).await, ok());
    // proto-max-bulk-len applies to later requests.
    assert_eq!(c.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1000"]).await, ok());
    let mut limited = Raw::connect(&node).await;
    let reply = limited.cmd(&["SET", "big", &"x".repeat(2000)]).await;
    assert!(
        matches!(&reply, V::Error(e) if e.contains("invalid bulk length")),
        "{reply:?}"
    );

    // commandstats / errorstats.
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]).await, ok());
    for _ in 0..3 {
        assert_eq!(c.cmd(&["SET", "a", "1"]).await, ok());
    }
    assert!(matches!(c.cmd(&["INCR", "nope", "extra"]).await, V::Error(_)));
    assert!(matches!(c.cmd(&["LPUSH", "a", "x"]).await, V::Error(_)));
    let info = c.cmd(&["INFO", "commandstats"]).await.text();
    assert!(info.contains("cmdstat_set:calls=3,"), "{info}");
    assert!(
        info.contains("cmdstat_incr:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"),
        "{info}"
    );
    assert!(info.contains("rejected_calls=0,failed_calls=1"), "{info}");
    let info = c.cmd(&["INFO", "errorstats"]).await.text();
    assert!(info.contains("errorstat_ERR:count=1"), "{info}");
    assert!(info.contains("errorstat_WRONGTYPE:count=1"), "{info}");
    let info = c.cmd(&["INFO", "stats"]).await.text();
    assert!(info.contains("total_error_replies:2"), "{info}");

    // Keyspace hits and misses count reads only; a key whose time ran out
    // is a miss and an expired key.
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]).await, ok());
    assert_eq!(c.cmd(&["SET", "short", "v", "PX", "1"]).await, ok());
    assert_eq!(c.cmd(&["GET", "a"]).await, V::bulk("1"));
    assert_eq!(c.cmd(&["GET", "nope"]).await, V::NullBulk);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(c.cmd(&["GET", "short"]).await, V::NullBulk);
    let info = c.cmd(&["INFO", "stats"]).await.text();
    for field in [
        "keyspace_hits:1\r",
        "keyspace_misses:2\r",
        "expired_keys:1\r",
        "evicted_keys:0\r",
        // RESETSTAT zeroes the network threads' counters too (a client
        // was refused by maxclients above): RESETSTAT itself, the SET and
        // the three GETs, as Redis counts them.
        "total_commands_processed:5\r",
        "total_connections_received:0\r",
        "rejected_connections:0\r",
        "total_reads_processed:5\r",
        "total_writes_processed:5\r",
    ] {
        assert!(info.contains(field), "INFO stats lacks {field:?}: {info}");
    }
    assert!(info.contains("instantaneous_ops_per_sec:"), "{info}");
    let info = c.cmd(&["INFO", "memory"]).await.text();
    assert!(info.contains("used_memory_peak:"), "{info}");

    // The fields dashboards and exporters read, with sane values.
    let number = |info: &str, name: &str| -> f64 {
        info_field(info, name)
            .trim_end_matches('%')
            .parse()
            .unwrap_or_else(|_| panic!("INFO lacks a number for {name}: {info}"))
    };
    for name in [
        "used_memory_overhead",
        "used_memory_startup",
        "used_memory_dataset_perc",
        "used_memory_peak_perc",
        "mem_fragmentation_ratio",
    ] {
        number(&info, name);
    }
    assert!(number(&info, "total_system_memory") > 0.0, "{info}");
    // MEMORY STATS gives the same start-up figure.
    let startup = number(&info, "used_memory_startup") as i64;
    let stats = match c.cmd(&["MEMORY", "STATS"]).await {
        V::Array(items) => items,
        other => panic!("{other:?}"),
    };
    let at = stats
        .iter()
        .position(|item| *item == V::bulk("startup.allocated"))
        .unwrap_or_else(|| panic!("{stats:?}"));
    assert_eq!(stats.get(at + 1), Some(&V::Int(startup)), "{stats:?}");
    assert!(startup > 0);
    let stats = c.cmd(&["INFO", "stats"]).await.text();
    let (bytes_in, bytes_out) = (
        number(&stats, "total_net_input_bytes"),
        number(&stats, "total_net_output_bytes"),
    );
    let reads = number(&stats, "total_reads_processed");
    assert!(bytes_in > 0.0 && bytes_out > 0.0 && reads > 0.0, "{stats}");
    number(&stats, "instantaneous_input_kbps");
    number(&stats, "expired_stale_perc");
    // A 1,000-byte value in and out: both counters move by at least that.
    let value = "x".repeat(1000);
    assert_eq!(c.cmd(&["SET", "big", &value]).await, ok());
    assert_eq!(c.cmd(&["GET", "big"]).await, V::bulk(&value));
    let stats = c.cmd(&["INFO", "stats"]).await.text();
    assert!(number(&stats, "total_net_input_bytes") >= bytes_in + 1000.0, "{stats}");
    assert!(
        number(&stats, "total_net_output_bytes") >= bytes_out + 1000.0,
        "{stats}"
    );
    assert!(number(&stats, "total_reads_processed") >= reads + 3.0, "{stats}");
    let cpu = c.cmd(&["INFO", "cpu"]).await.text();
    assert!(number(&cpu, "used_cpu_user") > 0.0, "{cpu}");
    number(&cpu, "used_cpu_sys_main_thread");
    assert!(
        c.cmd(&["INFO"])
            .await
            .text()
            .contains("# Cluster\r\ncluster_enabled:0\r\n"),
        "the default sections include Cluster, as Redis's do"
    );

    // INFO journal: the SETs above were committed through the journal.
    let info = c.cmd(&["INFO", "journal"]).await.text();
    let field = |name: &str| -> String { info_field(&info, name).to_owned() };
    assert_eq!(field("journal_replicas").split(',').count(), 3, "{info}");
    let appends: u64 = field("journal_appends").parse().unwrap();
    assert!(appends >= 1, "{info}");
    assert!(field("journal_append_bytes").parse::<u64>().unwrap() > 0, "{info}");
    assert_eq!(field("journal_append_failures"), "0");
    assert!(
        field("journal_batches_per_append").parse::<f64>().unwrap() >= 1.0,
        "{info}"
    );
    assert!(
        field("journal_applied_seq").parse::<u64>().unwrap() >= appends,
        "{info}"
    );

    // SLOWLOG: log everything, then reset.
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]).await, ok());
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.01"]).await, ok());
    match c.cmd(&["SLOWLOG", "GET", "1"]).await {
        V::Array(entries) => match &entries[0] {
            V::Array(fields) => {
                assert_eq!(
                    fields[3],
                    V::Array(vec![V::bulk("DEBUG"), V::bulk("SLEEP"), V::bulk("0.01")])
                );
                // The duration is the command's own: at least its sleep.
                assert!(matches!(fields[2], V::Int(us) if us >= 10_000), "{fields:?}");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]).await, ok());
    // As in Redis, the RESET itself is logged once it ran.
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]).await, ok());
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, V::Int(1));

    // MEMORY / LATENCY basics.
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "missing"]).await, V::NullBulk);
    match c.cmd(&["MEMORY", "USAGE", "a"]).await {
        V::Int(n) => assert!(n > 0),
        other => panic!("{other:?}"),
    }
    // A list whose first elements are small: the default 5 samples
    // underestimate it, SAMPLES 0 counts every element, as in Redis.
    let mut rpush = vec!["RPUSH".to_string(), "mixed".to_string()];
    rpush.extend((0..200).map(|i| if i < 5 { format!("s{i}") } else { "l".repeat(100) }));
    let rpush: Vec<&str> = rpush.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&rpush).await, V::Int(200));
    let usage = |reply: V| match reply {
        V::Int(n) => n,
        other => panic!("{other:?}"),
    };
    let sampled = usage(c.cmd(&["MEMORY", "USAGE", "mixed"]).await);
    let counted = usage(c.cmd(&["MEMORY", "USAGE", "mixed", "SAMPLES", "0"]).await);
    assert!(counted > sampled + 150 * 100, "{counted} vs {sampled}");
    assert_eq!(
        usage(c.cmd(&["MEMORY", "USAGE", "mixed", "samples", "1000"]).await),
        counted
    );
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE", "mixed", "SAMPLES", "-1"]).await,
        V::Error("ERR syntax error".into())
    );
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]).await, V::Array(vec![]));
    assert_eq!(c.cmd(&["LATENCY", "RESET"]).await, V::Int(0));

    node.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pause_postpones_writes_or_everything_until_it_ends() {
    let (journal, node) = primary().await;
    let mut admin = Raw::connect(&node).await;
    let mut c = Raw::connect(&node).await;
    assert_eq!(c.cmd(&["SET", "k", "before"]).await, ok());

    // Argument errors, as Redis words them.
    for (args, error) in [
        (
            &["CLIENT", "PAUSE", "abc"][..],
            "ERR timeout is not an integer or out of range",
        ),
        (&["CLIENT", "PAUSE", "-1"], "ERR timeout is negative"),
        (
            &["CLIENT", "PAUSE", "10", "SOME"],
            "ERR CLIENT PAUSE mode must be WRITE or ALL",
        ),
    ] {
        assert_eq!(admin.cmd(args).await, V::Error(error.into()), "{args:?}");
    }

    // WRITE: reads are served, a write waits, and what the client
    // pipelined behind it waits with it (replies keep their order).
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, V::bulk("before"));
    c.send(&["SET", "k", "during"]).await;
    c.send(&["GET", "k"]).await;
    assert_eq!(
        c.read_within(Duration::from_millis(300)).await,
        None,
        "a write ran during a WRITE pause"
    );
    let mut other = Raw::connect(&node).await;
    assert_eq!(other.cmd(&["GET", "k"]).await, V::bulk("before"));
    // PUBLISH may replicate: it waits too.
    other.send(&["PUBLISH", "ch", "x"]).await;
    assert_eq!(other.read_within(Duration::from_millis(100)).await, None);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]).await, ok());
    assert_eq!(c.read().await, ok());
    assert_eq!(c.read().await, V::bulk("during"));
    assert_eq!(other.read().await, V::Int(0));

    // ALL: even reads wait, until the timer ends the pause.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "400", "ALL"]).await, ok());
    c.send(&["GET", "k"]).await;
    assert_eq!(
        c.read_within(Duration::from_millis(150)).await,
        None,
        "a read ran during an ALL pause"
    );
    assert_eq!(c.read_within(Duration::from_secs(10)).await, Some(V::bulk("during")));

    // A later PAUSE only extends and tightens the one in force: a short
    // ALL over a long WRITE is an ALL pause for the longer time.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "400", "WRITE"]).await, ok());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "10", "ALL"]).await, ok());
    c.send(&["GET", "k"]).await;
    assert_eq!(c.read_within(Duration::from_millis(100)).await, None);
    assert_eq!(c.read_within(Duration::from_secs(10)).await, Some(V::bulk("during")));

    node.abort();
    journal.stop();
}
