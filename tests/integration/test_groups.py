"""Consumer groups with real clients: assignment, rebalances on leave / crash / join, committed
offsets that survive kill -9, independent groups, static membership, Kafka's error codes."""
import os
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from conftest import (T, consume_range, consumer, create_topic, produce_all, producer,
                      unique_topic, wait_for)

GROUP_SETTINGS = {"group.min.session.timeout.ms": 1000}
HERE = os.path.dirname(os.path.abspath(__file__))


def group_consumer(bootstrap, group, **extra):
    conf = {"group.id": group, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
            "auto.offset.reset": "earliest", "enable.auto.offset.store": True}
    conf.update(extra)
    return consumer(bootstrap, **conf)


def poll_all(consumers, seen, until, timeout_s):
    """Polls every consumer round-robin, recording (partition, offset, value) per consumer,
    until until() is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until():
        for c in consumers:
            for m in c.consume(500, 0.1):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(m.error())
                seen.setdefault(id(c), []).append((m.partition(), m.offset(), m.value()))
    return until()


def assignments(consumers):
    return [sorted(tp.partition for tp in c.assignment()) for c in consumers]


def test_a_group_member_reads_each_partition_in_order_without_gaps(make_broker):
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("ord"), partitions=3)
    produce_all(producer(b.bootstrap), topic, [{"value": b"%d" % i, "key": b"%d" % i}
                                               for i in range(3000)])
    c = group_consumer(b.bootstrap, "ord-" + topic)
    c.subscribe([topic])
    got = consume_range(c, 3000, T(30))
    c.close()
    last = {}
    for m in got:
        assert m.offset() == last.get(m.partition(), -1) + 1, (m.partition(), m.offset())
        last[m.partition()] = m.offset()
    assert sum(v + 1 for v in last.values()) == 3000


def test_three_consumers_split_six_partitions_and_survive_leave_crash_and_join(make_broker):
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("grp"), partitions=6)
    group = "g-" + topic
    values = [b"%d" % i for i in range(3000)]
    produce_all(producer(b.bootstrap), topic, [{"value": v, "key": v} for v in values[:1000]])
    cs = [group_consumer(b.bootstrap, group) for _ in range(3)]
    for c in cs:
        c.subscribe([topic])
    seen = {}
    assert poll_all(cs, seen, lambda: all(assignments(cs)) and sum(map(len, assignments(cs))) == 6 and
                    len({v for r in seen.values() for (_, _, v) in r}) >= 1000, T(30))
    parts = assignments(cs)
    assert sorted(p for a in parts for p in a) == list(range(6)), parts
    assert all(parts), "every member got partitions: %s" % parts
    # One leaves cleanly: the other two take over its partitions.
    cs[0].close()  # commits what it stored, then leaves
    produce_all(producer(b.bootstrap), topic, [{"value": v, "key": v} for v in values[1000:2000]])
    rest = cs[1:]
    assert poll_all(rest, seen, lambda: sorted(p for a in assignments(rest) for p in a) == list(range(6)),
                    T(30)), assignments(rest)
    # One is killed without leaving: after its session times out the survivor gets everything.
    crash = subprocess.Popen([sys.executable, os.path.join(HERE, "tools", "group_member.py"),
                              b.bootstrap, group, topic])
    assert poll_all(rest, seen, lambda: sum(map(len, assignments(rest))) < 6, T(30)), \
        "the new member never got partitions"
    crash.send_signal(signal.SIGKILL)
    crash.wait(T(10))
    t0 = time.monotonic()
    assert poll_all(rest, seen, lambda: sum(map(len, assignments(rest))) == 6, T(30))
    assert time.monotonic() - t0 < T(20), "reassigned only after %.1fs" % (time.monotonic() - t0)
    # A new member joins and gets a share.
    late = group_consumer(b.bootstrap, group)
    late.subscribe([topic])
    everyone = rest + [late]
    produce_all(producer(b.bootstrap), topic, [{"value": v, "key": v} for v in values[2000:]])
    assert poll_all(everyone, seen, lambda: all(assignments(everyone)) and
                    set(values) <= {v for r in seen.values() for (_, _, v) in r}, T(40))
    for c in everyone:
        c.close()


def test_kafka_python_consumers_share_a_group(make_broker):
    import threading
    from kafka import KafkaConsumer
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("kpg"), partitions=4)
    produce_all(producer(b.bootstrap), topic, [{"value": b"%d" % i} for i in range(400)])
    group = "kp-" + topic
    got, parts, lock = set(), [None, None], threading.Lock()
    stop = threading.Event()

    def member(i):
        # kafka-python's poll blocks while it rejoins: one thread per member, as in real use
        kc = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group,
                           auto_offset_reset="earliest", session_timeout_ms=6000,
                           heartbeat_interval_ms=500, max_poll_interval_ms=int(T(30000)))
        deadline = time.monotonic() + T(40)
        while not stop.is_set() and time.monotonic() < deadline:
            for recs in kc.poll(timeout_ms=200).values():
                with lock:
                    got.update(r.value for r in recs)
            parts[i] = sorted(tp.partition for tp in kc.assignment())
        kc.close()
    threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: len(got) == 400 and all(parts) and sorted(parts[0] + parts[1]) == [0, 1, 2, 3],
             T(40), "both kafka-python members assigned and all records read")
    stop.set()
    for t in threads:
        t.join(T(30))


def test_cooperative_sticky_assignor_rebalances_incrementally(make_broker):
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("coop"), partitions=4)
    produce_all(producer(b.bootstrap), topic, [{"value": b"%d" % i} for i in range(400)])
    group = "co-" + topic
    opts = {"partition.assignment.strategy": "cooperative-sticky"}
    c1 = group_consumer(b.bootstrap, group, **opts)
    c1.subscribe([topic])
    seen = {}
    assert poll_all([c1], seen, lambda: len(assignments([c1])[0]) == 4, T(30))
    before = set(assignments([c1])[0])
    c2 = group_consumer(b.bootstrap, group, **opts)
    c2.subscribe([topic])
    assert poll_all([c1, c2], seen, lambda: all(assignments([c1, c2])) and
                    sum(map(len, assignments([c1, c2]))) == 4, T(30))
    assert set(assignments([c1, c2])[0]) <= before  # c1 kept a subset: sticky
    # Every record reaches one of them: the assignment can settle before the last are read.
    values = lambda: {v for r in seen.values() for (_, _, v) in r}  # noqa: E731
    assert poll_all([c1, c2], seen, lambda: len(values()) == 400, T(30)), len(values())
    c1.close()
    c2.close()


@pytest.mark.own_broker
def test_committed_offsets_survive_kill9_and_groups_keep_independent_positions(make_broker):
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("cmt"), partitions=2)
    produce_all(producer(b.bootstrap), topic, [{"value": b"%d" % i, "partition": i % 2}
                                               for i in range(200)])
    live = group_consumer(b.bootstrap, "live-" + topic)
    live.subscribe([topic])
    got = consume_range(live, 200, T(30))
    assert len(got) == 200
    live.commit(asynchronous=False)
    live.close()
    b.kill9()
    b.start()
    c = group_consumer(b.bootstrap, "live-" + topic)
    committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], T(10))
    assert [tp.offset for tp in committed] == [100, 100]
    produce_all(producer(b.bootstrap), topic, [{"value": b"new", "partition": 0}])
    c.subscribe([topic])
    after = consume_range(c, 1, T(30))
    assert [m.value() for m in after] == [b"new"], "resumed from the committed offsets"
    c.close()
    stats = group_consumer(b.bootstrap, "stats-" + topic)  # a second group reads everything
    stats.subscribe([topic])
    assert len(consume_range(stats, 201, T(30))) == 201
    stats.close()


def test_static_member_restart_within_session_timeout_keeps_its_partitions(make_broker):
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("static"), partitions=4)
    group = "st-" + topic
    opts = {"session.timeout.ms": 10000}
    a = group_consumer(b.bootstrap, group, **{"group.instance.id": "a"}, **opts)
    c = group_consumer(b.bootstrap, group, **{"group.instance.id": "b"}, **opts)
    a.subscribe([topic])
    c.subscribe([topic])
    seen = {}
    assert poll_all([a, c], seen, lambda: all(assignments([a, c])) and
                    sum(map(len, assignments([a, c]))) == 4, T(30))
    mine = assignments([a])[0]
    a.close()  # a static member does not leave the group on close
    a2 = group_consumer(b.bootstrap, group, **{"group.instance.id": "a"}, **opts)
    a2.subscribe([topic])
    assert poll_all([a2, c], seen, lambda: assignments([a2])[0], T(20))
    assert assignments([a2])[0] == mine
    log = open(b.stderr_path).read()
    assert "static member a rejoined" in log
    generations = [l for l in log.splitlines() if "generation" in l and group in l]
    assert not any("generation 3" in l or "generation 4" in l for l in generations), generations
    a2.close()
    c.close()


def test_commit_for_a_missing_partition_is_unknown_topic_or_partition(make_broker):
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("bad"), partitions=1)
    c = consumer(b.bootstrap, **{"group.id": "bad-" + topic})
    with pytest.raises(KafkaException) as e:
        c.commit(offsets=[TopicPartition(topic, 7, 5)], asynchronous=False)
    c.close()
    err = e.value.args[0]
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART or \
        "UNKNOWN_TOPIC_OR_PART" in str(err), err


def test_list_groups_shows_state_and_protocol(make_broker):
    from confluent_kafka.admin import AdminClient
    b = make_broker(GROUP_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("lg"), partitions=1)
    c = group_consumer(b.bootstrap, "lg-" + topic)
    c.subscribe([topic])
    wait_for(lambda: c.consume(1, 0.2) is not None and c.assignment(), T(20), "assignment")
    groups = AdminClient({"bootstrap.servers": b.bootstrap}).list_groups(timeout=T(10))
    mine = [g for g in groups if g.id == "lg-" + topic]
    assert mine and mine[0].state == "Stable" and mine[0].protocol_type == "consumer"
    assert mine[0].protocol == "range" and len(mine[0].members) == 1
    c.close()


@pytest.mark.own_broker
def test_the_offsets_log_stays_bounded_under_many_commits(make_broker):
    b = make_broker(dict(GROUP_SETTINGS, **{"log.retention.check.interval.ms": 200}))
    topic = create_topic(b.bootstrap, unique_topic("many"), partitions=1)
    c = consumer(b.bootstrap, **{"group.id": "many-" + topic})
    log_dir = os.path.join(b.data_dir, "internal", "offsets")

    def log_bytes():
        return sum(os.path.getsize(os.path.join(log_dir, f)) for f in os.listdir(log_dir)
                   if f.endswith(".log"))
    peak = 0
    for i in range(1, 20001):
        c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=True)
        if i % 1000 == 0:
            c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
            peak = max(peak, log_bytes())
    # ~2.4 MB of commits went through; compaction starts past 1 MiB, so the log stays below
    # 1 MiB plus what arrives between two housekeeping passes.
    assert peak < 2 * 1024 * 1024, "the offsets log grew to %d bytes" % peak
    assert "compacted the offsets log" in open(b.stderr_path).read()
    c.close()
    b.restart()
    c = consumer(b.bootstrap, **{"group.id": "many-" + topic})
    assert c.committed([TopicPartition(topic, 0)], T(10))[0].offset == 20000
    c.close()
