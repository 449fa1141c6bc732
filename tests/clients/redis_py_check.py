"""Memoir through redis-py, the Python client most users run.

Usage: python redis_py_check.py PORT
Exercises the client's own parsing of each reply family in RESP2 and RESP3
(redis-py decodes maps, sets, doubles and pushes itself), pipelines,
transactions with WATCH, pub/sub and server commands. Any mismatch raises;
the last line is `redis-py ok version=...` on success.
"""

import sys
import time

import redis


def check(name, got, want):
    if got != want:
        raise AssertionError(f"{name}: got {got!r}, want {want!r}")


def exercise(port, protocol):
    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    p = f"py{protocol}:"
    check("ping", r.ping(), True)
    r.delete(*[p + k for k in ("s", "n", "h", "l", "set", "z", "w", "t")])

    # Strings and counters.
    check("set", r.set(p + "s", "v", ex=100), True)
    check("get", r.get(p + "s"), "v")
    check("ttl", 0 < r.ttl(p + "s") <= 100, True)
    check("set nx", r.set(p + "s", "other", nx=True), None)
    check("incrby", r.incrby(p + "n", 5), 5)
    check("incrbyfloat", r.incrbyfloat(p + "n", 0.5), 5.5)
    check("mget", r.mget([p + "s", p + "missing"]), ["v", None])

    # Hashes: HGETALL is a map in RESP3, a flat array in RESP2.
    check("hset", r.hset(p + "h", mapping={"a": "1", "b": "2"}), 2)
    check("hgetall", r.hgetall(p + "h"), {"a": "1", "b": "2"})
    check("hincrby", r.hincrby(p + "h", "a", 10), 11)

    # Lists and blocking pops.
    check("rpush", r.rpush(p + "l", "x", "y", "z"), 3)
    check("lrange", r.lrange(p + "l", 0, -1), ["x", "y", "z"])
    check("blpop", r.blpop([p + "l"], timeout=1), [p + "l", "x"] if protocol == 3 else (p + "l", "x"))
    check("lpos", r.lpos(p + "l", "z"), 1)

    # Sets: SMEMBERS is a set in RESP3.
    check("sadd", r.sadd(p + "set", "a", "b", "c"), 3)
    check("smembers", r.smembers(p + "set"), {"a", "b", "c"})
    check("sismember", r.sismember(p + "set", "b"), True)

    # Sorted sets: scores are doubles in RESP3.
    check("zadd", r.zadd(p + "z", {"one": 1, "two": 2, "three": 3}), 3)
    # redis-py hands pairs back as tuples in RESP2, lists in RESP3.
    pairs = [list(pair) for pair in r.zrange(p + "z", 0, -1, withscores=True)]
    check("zrange withscores", pairs, [["one", 1.0], ["two", 2.0], ["three", 3.0]])
    check("zscore", r.zscore(p + "z", "two"), 2.0)
    check("zrank", r.zrank(p + "z", "three"), 2)

    # Pipelines and transactions (MULTI/EXEC), WATCH aborting one.
    with r.pipeline(transaction=True) as pipe:
        pipe.set(p + "t", "1").incr(p + "t").get(p + "t")
        check("multi/exec", pipe.execute(), [True, 2, "2"])
    with r.pipeline(transaction=False) as pipe:
        for i in range(100):
            pipe.set(f"{p}pipe:{i}", i)
        check("pipeline", all(pipe.execute()), True)
    r.set(p + "w", "0")
    with r.pipeline() as pipe:
        pipe.watch(p + "w")
        r.set(p + "w", "changed")  # another client's write
        pipe.multi()
        pipe.set(p + "w", "mine")
        try:
            pipe.execute()
            raise AssertionError("EXEC after a touched WATCH must abort")
        except redis.WatchError:
            pass
    check("watch kept the other write", r.get(p + "w"), "changed")

    # Errors carry Redis's text.
    try:
        r.lpush(p + "s", "x")
        raise AssertionError("LPUSH on a string must fail")
    except redis.ResponseError as e:
        check("wrongtype", str(e), "WRONGTYPE Operation against a key holding the wrong kind of value")

    # SCAN iterates every key exactly once.
    keys = set(r.scan_iter(match=f"{p}pipe:*", count=7))
    check("scan_iter", len(keys), 100)

    # Pub/sub: RESP3 delivers messages as pushes on the same connection.
    sub = r.pubsub()
    sub.subscribe(p + "chan")
    deadline = time.time() + 5
    while sub.get_message(timeout=0.1) is None and time.time() < deadline:
        pass  # the subscribe confirmation
    check("publish", r.publish(p + "chan", "hello"), 1)
    message = None
    while message is None and time.time() < deadline:
        message = sub.get_message(timeout=0.1)
    check("message", (message or {}).get("data"), "hello")
    sub.close()

    # Server commands client libraries read.
    info = r.info()
    check("info redis_version", info["redis_version"], "7.0.15")
    check("info role", info["role"], "master")
    check("dbsize", r.dbsize() >= 100, True)
    check("client setname", r.client_setname("pycheck"), True)
    check("client getname", r.client_getname(), "pycheck")
    check("config get", r.config_get("maxclients")["maxclients"].isdigit(), True)
    r.close()


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        exercise(port, protocol)
    print(f"redis-py ok version={redis.__version__}")


if __name__ == "__main__":
    main()
