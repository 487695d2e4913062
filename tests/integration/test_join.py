"""`sluice join` against a real `sluice serve` broker: the semantics of every join type on a
hand-computed expectation, restart and restore (also from the changelog alone), kill -9 with
no join output lost, a rebalance between two instances, poison records and /health in each
observable state."""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import T, consumer, create_topic, producer, sluice_bin, wait_for
from join_harness import JoinService, feed, read_output, topics_for

pytestmark = pytest.mark.own_broker


@pytest.fixture
def make_join(tmp_path, broker):
    made = []

    def make(settings, name="join", start=True):
        svc = JoinService(tmp_path, broker.bootstrap, settings, name=name)
        made.append(svc)
        return svc.start() if start else svc
    yield make
    for svc in made:
        svc.kill9()


def setup_topics(broker, partitions=1, prefix="j"):
    t = topics_for(prefix)
    create_topic(broker.bootstrap, t["left"], partitions)
    create_topic(broker.bootstrap, t["right"], partitions)
    return t


def join_settings(t, jtype, **extra):
    s = {"application.id": t["app"], "join.type": jtype, "left.topic": t["left"],
         "right.topic": t["right"], "output.topic": t["out"]}
    s.update(extra)
    return s


# The scenario of tests/unit/test_join_semantics.c, through the real service: a left record
# before any right record, a late right update, a right tombstone, a left tombstone; and a
# second key updated late on the right only.
SCENARIO = [
    ("L", "a", {"n": 1}),
    ("R", "a", {"p": 10}),
    ("L", "a", {"n": 2}),
    ("R", "b", {"p": 20}),
    ("R", "a", {"p": 11}),
    ("L", "a", {"n": 3}),
    ("R", "a", None),
    ("L", "a", {"n": 4}),
    ("L", "b", {"n": 5}),
    ("L", "a", None),
]

EXPECTED = {
    "stream-table-inner": [
        ("a", {"n": 2, "p": 10}), ("a", {"n": 3, "p": 11}), ("b", {"n": 5, "p": 20})],
    "stream-table-left": [
        ("a", {"n": 1}), ("a", {"n": 2, "p": 10}), ("a", {"n": 3, "p": 11}), ("a", {"n": 4}),
        ("b", {"n": 5, "p": 20})],
    "table-table-inner": [
        ("a", {"n": 1, "p": 10}), ("a", {"n": 2, "p": 10}), ("a", {"n": 2, "p": 11}),
        ("a", {"n": 3, "p": 11}), ("a", None), ("b", {"n": 5, "p": 20})],
    "table-table-left": [
        ("a", {"n": 1}), ("a", {"n": 1, "p": 10}), ("a", {"n": 2, "p": 10}),
        ("a", {"n": 2, "p": 11}), ("a", {"n": 3, "p": 11}), ("a", {"n": 3}), ("a", {"n": 4}),
        ("b", {"n": 5, "p": 20}), ("a", None)],
    "table-table-outer": [
        ("a", {"n": 1}), ("a", {"n": 1, "p": 10}), ("a", {"n": 2, "p": 10}), ("b", {"p": 20}),
        ("a", {"n": 2, "p": 11}), ("a", {"n": 3, "p": 11}), ("a", {"n": 3}), ("a", {"n": 4}),
        ("b", {"n": 5, "p": 20}), ("a", None)],
}


@pytest.mark.parametrize("jtype", sorted(EXPECTED))
def test_join_type_matches_hand_computed_output(broker, make_join, jtype):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, jtype))
    feed(svc, producer(broker.bootstrap), SCENARIO)
    got = read_output(broker.bootstrap, t["out"], len(EXPECTED[jtype]))
    assert got == EXPECTED[jtype]


def test_merge_precedence_nest_and_template_modes(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-inner", **{"merge.precedence": "right"}))
    prod = producer(broker.bootstrap)
    feed(svc, prod, [("R", "k", {"x": "table", "y": 1}), ("L", "k", {"x": "stream", "z": 2})])
    assert read_output(broker.bootstrap, t["out"], 1) == [("k", {"x": "table", "z": 2, "y": 1})]
    t2 = setup_topics(broker)
    svc2 = make_join(join_settings(t2, "stream-table-left", **{
        "merge.mode": "nest", "merge.left.name": "details", "merge.right.name": "offer"}),
        name="join2")
    feed(svc2, prod, [("L", "k", [1]), ("R", "k", {"price": 3}), ("L", "k", "s")])
    assert read_output(broker.bootstrap, t2["out"], 2) == [
        ("k", {"details": [1], "offer": None}), ("k", {"details": "s", "offer": {"price": 3}})]
    t3 = setup_topics(broker)
    svc3 = make_join(join_settings(t3, "stream-table-left", **{
        "merge.mode": "template", "merge.template": '{"pair":[{left},{right}0]}'}), name="join3")
    feed(svc3, prod, [("R", "k", 7), ("L", "k", 1), ("L", "x", 2)])
    assert read_output(broker.bootstrap, t3["out"], 2) == [("k", {"pair": [1, 70]}),
                                                           ("x", {"pair": [2, 0]})]


def test_inputs_not_co_partitioned_fail_clearly(broker, tmp_path):
    t = topics_for()
    create_topic(broker.bootstrap, t["left"], 2)
    create_topic(broker.bootstrap, t["right"], 3)
    svc = JoinService(tmp_path, broker.bootstrap, join_settings(t, "stream-table-left"))
    r = subprocess.run(svc.command(), capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 1
    assert "not co-partitioned" in r.stderr
    assert t["left"] in r.stderr and t["right"] in r.stderr
    r = subprocess.run(svc.command() + ["--set", "right.topic=absent-topic"], capture_output=True,
                       text=True, timeout=T(30))
    assert r.returncode == 1 and "absent-topic does not exist" in r.stderr
    r = subprocess.run(svc.command() + ["--set", "no.such.key=1"], capture_output=True,
                       text=True, timeout=T(30))
    assert r.returncode == 2 and "unknown setting 'no.such.key'" in r.stderr


def test_start_without_a_broker_fails_clearly(tmp_path):
    t = topics_for()
    svc = JoinService(tmp_path, "127.0.0.1:1", join_settings(t, "stream-table-left"))
    r = subprocess.run(svc.command() + ["--set", "broker.timeout.ms=1000"], capture_output=True,
                       text=True, timeout=T(30))
    assert r.returncode == 1 and "unreachable" in r.stderr, r.stderr


def test_changelog_is_compacted_and_keyed_by_partition(broker, make_join):
    from confluent_kafka.admin import ConfigResource
    from conftest import admin_client
    t = setup_topics(broker, partitions=2)
    make_join(join_settings(t, "table-table-outer"))
    adm = admin_client(broker.bootstrap)
    for side in ("left", "right"):
        name = "%s-%s-changelog" % (t["app"], side)
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        cfg = adm.describe_configs([res])[res].result(timeout=T(10))
        assert cfg["cleanup.policy"].value == "compact"
        md = adm.list_topics(topic=name, timeout=T(10))
        assert len(md.topics[name].partitions) == 2


def _table(n):
    return [("R", "k%d" % i, {"price": i}) for i in range(n)]


def produce_raw(prod, topic, items):
    for key, value in items:
        while True:
            try:
                prod.produce(topic, key=key.encode(),
                             value=None if value is None else json.dumps(value).encode())
                break
            except BufferError:
                prod.poll(0.05)
    assert prod.flush(T(30)) == 0


def test_restart_restores_state_from_checkpoint_and_from_changelog_alone(broker, make_join):
    t = setup_topics(broker, partitions=2)
    settings = join_settings(t, "stream-table-inner")
    svc = make_join(settings)
    prod = producer(broker.bootstrap)
    produce_raw(prod, t["right"], [("k%d" % i, {"price": i}) for i in range(50)])
    wait_for(lambda: svc.processed() >= 50, T(20), "table processed")
    assert svc.stop() == 0
    assert "PENDING_SHUTDOWN -> NOT_RUNNING" in svc.stderr_text()
    # Clean restart: the local state is current, nothing is replayed from the changelog.
    svc.start()
    assert svc.metrics()["sluice_join_restored_records_total"] == 0
    produce_raw(prod, t["left"], [("k1", {"name": "one"})])
    assert svc.stop() == 0
    # The state dir is lost: everything comes back from the changelog.
    shutil.rmtree(svc.state_dir)
    svc.start()
    assert svc.metrics()["sluice_join_restored_records_total"] == 50
    produce_raw(prod, t["left"], [("k%d" % i, {"name": "n%d" % i}) for i in range(50)] +
                [("missing", {"name": "x"})])
    got = read_output(broker.bootstrap, t["out"], 51)
    assert sorted(got, key=lambda kv: (kv[0], kv[1]["name"])) == sorted(
        [("k1", {"name": "one", "price": 1})] +
        [("k%d" % i, {"name": "n%d" % i, "price": i}) for i in range(50)],
        key=lambda kv: (kv[0], kv[1]["name"]))


def test_table_tombstones_survive_restore(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-left"))
    prod = producer(broker.bootstrap)
    feed(svc, prod, [("R", "a", {"p": 1}), ("R", "b", {"p": 2}), ("R", "a", None)])
    assert svc.stop() == 0
    shutil.rmtree(svc.state_dir)
    svc.start()
    feed(svc, prod, [("L", "a", {"n": 1}), ("L", "b", {"n": 2})])
    assert read_output(broker.bootstrap, t["out"], 2) == [("a", {"n": 1}), ("b", {"n": 2, "p": 2})]


def test_table_table_restores_both_sides_from_their_changelogs(broker, make_join):
    t = setup_topics(broker, partitions=2)
    svc = make_join(join_settings(t, "table-table-outer", **{"merge.mode": "nest"}))
    prod = producer(broker.bootstrap)
    feed(svc, prod, [("L", "a", 1), ("R", "b", 2), ("L", "c", 3), ("R", "c", 4), ("L", "a", None)])
    before = len(read_output(broker.bootstrap, t["out"], 5))
    assert before == 5
    svc.kill9()
    shutil.rmtree(svc.state_dir)
    svc.start()
    assert svc.metrics()["sluice_join_restored_records_total"] == 5
    # Right updates now join with the restored left side, and the reverse.
    feed(svc, prod, [("R", "a", 10), ("L", "b", 20), ("R", "c", 40)])
    got = read_output(broker.bootstrap, t["out"], 8)[before:]
    assert got == [("a", {"left": None, "right": 10}), ("b", {"left": 20, "right": 2}),
                   ("c", {"left": 3, "right": 40})]


@pytest.mark.time_limit(240)
def test_kill9_loses_no_join_output(broker, make_join):
    keys, stream = 500, 6000
    t = setup_topics(broker, partitions=2)
    svc = make_join(join_settings(t, "stream-table-inner", **{"batch.max.records": "200"}))
    prod = producer(broker.bootstrap)
    produce_raw(prod, t["right"], [("k%d" % i, {"price": i}) for i in range(keys)])
    wait_for(lambda: svc.processed() >= keys, T(30), "table processed")
    done = threading.Event()

    def feed_stream():
        p = producer(broker.bootstrap)
        for chunk in range(0, stream, 500):
            produce_raw(p, t["left"], [("k%d" % (i % keys), {"seq": i})
                                       for i in range(chunk, chunk + 500)])
            time.sleep(0.05)
        done.set()
    th = threading.Thread(target=feed_stream)
    th.start()
    wait_for(lambda: svc.metrics()['sluice_join_output_total{kind="value"}'] > 1000, T(60),
             "some output before the kill")
    svc.kill9()
    shutil.rmtree(svc.state_dir)  # a fresh machine: the state must come from the changelog
    svc.start()
    th.join(T(120))
    assert done.is_set()
    got = read_output(broker.bootstrap, t["out"], stream, grace_s=0.5, timeout_s=T(120))
    seqs = {}
    for key, value in got:
        assert value["price"] == int(key[1:]), (key, value)
        seqs[value["seq"]] = key
    assert set(seqs) == set(range(stream)), "lost: %r" % sorted(set(range(stream)) - set(seqs))[:10]


@pytest.mark.time_limit(240)
def test_backlog_of_large_records_is_joined_in_batches_cut_by_bytes(broker, make_join):
    # A backlog of 2 KiB stream records waits while the join is stopped, so at its restart
    # the consumer hands over whole fetches at once. batch.max.bytes=64 KiB must cut the
    # batches by bytes (about 32 records each; the records bound of 50,000 is never reached):
    # at least as many batches as the backlog's bytes need at 64 KiB plus one record each,
    # none larger than that, and every record joined exactly once and correctly.
    keys, stream, pad, max_bytes = 20, 2000, "x" * 2000, 65536
    t = setup_topics(broker, partitions=2)
    svc = make_join(join_settings(t, "stream-table-inner",
                                  **{"batch.max.bytes": str(max_bytes)}))
    prod = producer(broker.bootstrap)
    produce_raw(prod, t["right"], [("k%d" % i, {"price": i}) for i in range(keys)])
    wait_for(lambda: svc.processed() >= keys, T(30), "table processed")
    svc.stop()
    items = [("k%d" % (i % keys), {"seq": i, "pad": pad}) for i in range(stream)]
    produce_raw(prod, t["left"], items)
    svc.start()
    wait_for(lambda: svc.metrics()['sluice_join_output_total{kind="value"}'] >= stream,
             T(120), "the backlog joined")
    m = svc.metrics()
    got = read_output(broker.bootstrap, t["out"], stream, grace_s=0.5, timeout_s=T(60))
    seqs = {}
    for key, value in got:
        assert value["price"] == int(key[1:]) and value["pad"] == pad, key
        assert value["seq"] not in seqs, "seq %d joined twice" % value["seq"]
        seqs[value["seq"]] = key
    assert set(seqs) == set(range(stream))
    backlog = sum(len(k) + len(json.dumps(v)) for k, v in items)
    rec_bytes = max(len(k) + len(json.dumps(v)) for k, v in items)
    assert m["sluice_join_batches_total"] >= backlog / (max_bytes + rec_bytes), m
    assert 0 < m["sluice_join_batch_bytes_max"] < max_bytes + rec_bytes, m


def _assigned(svc):
    return int(svc.metrics()["sluice_join_assigned_partitions"])


@pytest.mark.time_limit(240)
def test_rebalance_between_two_instances_moves_state(broker, make_join):
    t = setup_topics(broker, partitions=4)
    settings = join_settings(t, "stream-table-inner")
    a = make_join(settings, name="a")
    prod = producer(broker.bootstrap)
    produce_raw(prod, t["right"], [("k%d" % i, {"price": i}) for i in range(200)])
    wait_for(lambda: a.processed() >= 200, T(30), "table processed by a")
    b = make_join(settings, name="b")
    wait_for(lambda: _assigned(a) == 2 and _assigned(b) == 2, T(60), "partitions split 2/2")
    assert b.metrics()["sluice_join_restored_records_total"] > 0
    produce_raw(prod, t["left"], [("k%d" % i, {"round": 1}) for i in range(200)])
    out = 'sluice_join_output_total{kind="value"}'
    wait_for(lambda: a.metrics()[out] + b.metrics()[out] >= 200, T(60), "round 1 joined")
    assert a.metrics()['sluice_join_output_total{kind="value"}'] > 0
    assert b.metrics()['sluice_join_output_total{kind="value"}'] > 0
    assert a.stop() == 0
    wait_for(lambda: _assigned(b) == 4, T(60), "b owns every partition")
    produce_raw(prod, t["left"], [("k%d" % i, {"round": 2}) for i in range(200)])
    got = read_output(broker.bootstrap, t["out"], 400, timeout_s=T(60))
    want = [("k%d" % i, {"round": r, "price": i}) for r in (1, 2) for i in range(200)]
    assert sorted(got, key=lambda kv: (kv[0], kv[1]["round"])) == sorted(
        want, key=lambda kv: (kv[0], kv[1]["round"]))


def test_poison_records_go_to_error_topic_and_processing_continues(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-left"))
    prod = producer(broker.bootstrap)
    feed(svc, prod, [("R", "a", {"p": 1})])
    for topic, key, value in [(t["left"], b"a", b"{not json"), (t["left"], b"a", b"[1,2]"),
                              (t["left"], None, b"{}"), (t["right"], b"b", b"\xff\xfe"),
                              (t["right"], b"k" * 512, b'{"long": 1}')]:
        prod.produce(topic, key=key, value=value)
    prod.flush(T(10))
    feed(svc, prod, [("R", "k" * 511, {"p": 2}), ("L", "k" * 511, {"n": 2}), ("L", "a", {"n": 1})])
    assert read_output(broker.bootstrap, t["out"], 2) == [("k" * 511, {"n": 2, "p": 2}),
                                                          ("a", {"n": 1, "p": 1})]
    c = consumer(broker.bootstrap, **{"group.id": "errs"})
    c.subscribe([t["app"] + "-errors"])
    got = []
    deadline = time.monotonic() + T(20)
    while len(got) < 5 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m)
    c.close()
    assert len(got) == 5
    reasons = {}
    for m in got:
        h = dict(m.headers())
        assert int(h["sluice.error.partition"]) == 0
        reasons[m.value()] = (h["sluice.error.topic"].decode(), int(h["sluice.error.offset"]),
                              h["sluice.error.reason"].decode())
    # Offsets: left holds {not json}=0, [1,2]=1, {}=2 (then a good one); right: a=0, b=1.
    assert reasons[b"{not json"][:2] == (t["left"], 0) and "not JSON" in reasons[b"{not json"][2]
    assert reasons[b"[1,2]"][:2] == (t["left"], 1)
    assert "not a JSON object" in reasons[b"[1,2]"][2]
    assert reasons[b"{}"][:2] == (t["left"], 2) and "no key" in reasons[b"{}"][2]
    assert reasons[b"\xff\xfe"][:2] == (t["right"], 1)
    assert "not JSON" in reasons[b"\xff\xfe"][2]
    long_key = [m for m in got if m.key() == b"k" * 512]
    assert len(long_key) == 1
    assert b"key of 512 bytes" in dict(long_key[0].headers())["sluice.error.reason"]
    m = svc.metrics()
    assert m["sluice_join_poison_records_total"] == 5
    # The latency histogram counts every joined output once; its buckets are cumulative.
    assert m["sluice_join_latency_seconds_count"] == m['sluice_join_output_total{kind="value"}']
    assert m['sluice_join_latency_seconds_bucket{le="+Inf"}'] == \
        m["sluice_join_latency_seconds_count"] >= m['sluice_join_latency_seconds_bucket{le="10"}']
    status, h = svc.health()
    assert status == 200 and "poison record" in h["last_error"]


def test_on_error_fail_goes_to_error_state_and_exits(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-left", **{"on.error": "fail"}))
    prod = producer(broker.bootstrap)
    prod.produce(t["left"], key=b"a", value=b"{broken")
    prod.flush(T(10))
    status, h = svc.wait_state("ERROR", T(20))
    assert status == 503 and "on.error=fail" in h["last_error"]
    assert svc.metrics()["sluice_join_healthy"] == 0
    assert svc.proc.wait(timeout=T(20)) == 1
    err = svc.stderr_text()
    assert "-> PENDING_ERROR" in err and "PENDING_ERROR -> ERROR" in err
    # The poison record was not committed: a restart meets it again.
    svc.start(wait_running=False)
    svc.wait_state("ERROR", T(30), status=503)


def test_dead_processing_thread_is_503_not_running(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-left", **{"state.max.bytes": str(1 << 20)}))
    prod = producer(broker.bootstrap)
    big = {"blob": "x" * 100000}
    produce_raw(prod, t["right"], [("k%d" % i, big) for i in range(30)])
    status, h = svc.wait_state("ERROR", T(30))
    assert status == 503
    assert "state.max.bytes" in h["last_error"]


@pytest.mark.time_limit(180)
def test_health_turns_503_when_broker_unreachable_and_back(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-left"))
    status, h = svc.health()
    assert status == 200 and h["state"] == "RUNNING" and h["broker_reachable"]
    addr = broker.bootstrap
    broker.stop()
    status, h = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(svc.health()), T(30),
                         "503 while the broker is down")
    assert "unreachable" in h["reason"] and not h["broker_reachable"]
    broker.listen = addr
    broker.start()
    wait_for(lambda: svc.health()[0] == 200, T(60), "200 once the broker is back")
    feed(svc, producer(broker.bootstrap), [("L", "a", {"n": 1})])


@pytest.mark.time_limit(180)
def test_health_is_200_rebalancing_while_state_restores(broker, make_join):
    t = setup_topics(broker)
    svc = make_join(join_settings(t, "stream-table-left"))
    produce_raw(producer(broker.bootstrap), t["right"],
                [("k%d" % i, {"blob": "x" * 300}) for i in range(40000)])
    wait_for(lambda: svc.processed() >= 40000, T(60), "table processed")
    assert svc.stop() == 0
    shutil.rmtree(svc.state_dir)
    svc.start(wait_running=False)
    seen = set()

    def running():
        status, h = svc.health()
        seen.add((h["state"], status))
        return h["state"] == "RUNNING"
    wait_for(running, T(60), "RUNNING after the restore", interval_s=0.005)
    assert ("REBALANCING", 200) in seen, seen
    assert svc.metrics()["sluice_join_restored_records_total"] == 40000


def test_states_through_start_rebalance_and_shutdown(broker, make_join):
    t = setup_topics(broker, partitions=2)
    settings = join_settings(t, "stream-table-left")
    a = make_join(settings, name="a")
    status, h = a.health()
    assert status == 200 and h["state"] == "RUNNING" and h["assigned_partitions"] == 2
    b = make_join(settings, name="b")
    wait_for(lambda: _assigned(a) == 1 and _assigned(b) == 1, T(60), "1/1 split")
    assert a.health()[0] == 200 and b.health()[0] == 200
    assert a.stop() == 0
    err = a.stderr_text()
    for tr in ("CREATED -> REBALANCING", "REBALANCING -> RUNNING", "RUNNING -> REBALANCING",
               "RUNNING -> PENDING_SHUTDOWN", "PENDING_SHUTDOWN -> NOT_RUNNING"):
        assert tr in err, tr
    m = b.metrics()
    assert m['sluice_join_state{state="RUNNING"}'] == 1
    status, _ = b.get("/nope")
    assert status == 404
