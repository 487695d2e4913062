"""Log compaction (cleanup.policy=compact) with real clients: a consumer (confluent-kafka, kcat
and kafka-python) of a compacted topic sees the latest value of every key at its original offset, for
every compression codec; tombstones go once delete.retention.ms has passed; a record without
a key is refused; kill -9 while the cleaner works loses nothing; a compacted topic and a join
changelog stay bounded under a long run of updates; the topic configs round-trip."""

import json
import os
import random
import subprocess
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource

import kwire
from conftest import (T, admin_client, consumer, create_topic, produce_all, producer, sluice_bin,
                      stored_codecs, unique_topic, wait_for, watermarks)

pytestmark = pytest.mark.own_broker

CLEANER = {"log.cleaner.backoff.ms": 50}
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "2048",
           "min.cleanable.dirty.ratio": "0.01"}


def read_all(bootstrap, topic, partition=0, timeout_s=None):
    """Every message of the partition from its start to the end (partition EOF)."""
    c = consumer(bootstrap, **{"enable.partition.eof": True})
    out = []
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + (timeout_s or T(30))
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return out
                raise AssertionError("consumer error: %s" % m.error())
            out.append(m)
        raise AssertionError("no partition EOF within the timeout")
    finally:
        c.close()


def part_dir(b, topic, partition=0):
    return os.path.join(b.data_dir, "topics", topic, str(partition))


def dir_bytes(path):
    total = 0
    for f in os.listdir(path):
        try:
            total += os.path.getsize(os.path.join(path, f))
        except FileNotFoundError:
            pass  # the cleaner renamed or removed it meanwhile
    return total


def log_files(path):
    return [f for f in os.listdir(path) if f.endswith(".log")]


def latest_by_key(msgs):
    out = {}
    for m in msgs:
        out[m.key()] = m
    return out


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def produce_kafka_python(bootstrap, topic, recs, codec):
    """Produces recs to partition 0 with kafka-python in small batches; returns their offsets.
    kafka-python compresses gzip, snappy (xerial framing, as Java) and lz4 as asked, where
    Debian 12's librdkafka sends them uncompressed (docs/broker.md, Compression)."""
    from kafka import KafkaProducer
    kp = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec,
                       linger_ms=2, batch_size=1500, max_block_ms=int(T(20) * 1000))
    try:
        futs = [kp.send(topic, key=r["key"], value=r["value"], partition=0) for r in recs]
        kp.flush(timeout=T(60))
        return [f.get(timeout=T(10)).offset for f in futs]
    finally:
        kp.close(timeout=T(10))


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_a_consumer_sees_the_latest_value_per_key_at_its_offset(make_broker, codec):
    b = make_broker(CLEANER)
    topic = create_topic(b.bootstrap, unique_topic("compact-" + codec), config=COMPACT)
    recs = [{"key": b"k%d" % (i % 20), "value": b"%d-%s" % (i, b"x" * (i % 30))}
            for i in range(3000)]
    # small batches (as a steady trickle of updates makes), so the log spans many segments
    if codec in ("gzip", "snappy", "lz4"):
        offsets = produce_kafka_python(b.bootstrap, topic, recs, codec)
    else:
        prod = producer(b.bootstrap, **{"compression.type": codec, "linger.ms": 2,
                                        "batch.num.messages": 50})
        offsets = [m.offset() for m in produce_all(prod, topic, recs)]
    offset_of = {r["value"]: o for r, o in zip(recs, offsets)}
    last = {}
    for r in recs:
        last[r["key"]] = r["value"]
    _, hi = watermarks(b.bootstrap, topic, 0)
    # the cleaner runs on its own: wait until most superseded records are gone
    msgs = wait_for(lambda: (lambda ms: ms if len(ms) < 600 else None)(
        read_all(b.bootstrap, topic)), T(30), "the cleaner to compact the topic")
    offsets = [m.offset() for m in msgs]
    assert offsets == sorted(set(offsets))
    for m in msgs:
        assert offset_of[m.value()] == m.offset()  # offsets are preserved
    got = latest_by_key(msgs)
    assert {k: m.value() for k, m in got.items()} == last
    assert watermarks(b.bootstrap, topic, 0) == (0, hi)
    # kcat reads the same records at the same offsets
    out = subprocess.run(["kcat", "-C", "-b", b.bootstrap, "-t", topic, "-p", "0", "-o",
                          "beginning", "-e", "-q", "-f", "%o %k %s\\n"], capture_output=True,
                         timeout=T(30), check=True).stdout.decode().splitlines()
    kc = {}
    for line in out:
        off, key, value = line.split(" ", 2)
        assert offset_of[value.encode()] == int(off)
        kc[key.encode()] = value.encode()
    assert kc == last
    # kafka-python reads the same records at the same offsets; the cleaner may have removed
    # more since (it keeps running), never added any
    kp = read_kafka_python(b.bootstrap, topic, hi)
    assert [o for o, _, _ in kp] == sorted(set(o for o, _, _ in kp))
    assert set((o, v) for o, _, v in kp) <= set((m.offset(), m.value()) for m in msgs)
    assert {k: v for _, k, v in kp} == last
    assert "record(s) removed" in b.stderr_text()
    # the batches are still in the codec they came in (rewritten ones with their own codec)
    codecs = stored_codecs(b, topic)
    assert codecs and codecs.count(CODEC_IDS[codec]) >= len(codecs) / 2, codecs


def read_kafka_python(bootstrap, topic, hi):
    """(offset, key, value) of partition 0 up to hi, read with kafka-python."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      api_version_auto_timeout_ms=int(T(10) * 1000))
    try:
        tp = KTP(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + T(30)
        while c.position(tp) < hi and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                out += [(r.offset, r.key, r.value) for r in recs]
        assert c.position(tp) >= hi, "kafka-python did not reach the end"
        return out
    finally:
        c.close()


def test_tombstones_go_after_delete_retention_ms(make_broker):
    b = make_broker(CLEANER)
    topic = create_topic(b.bootstrap, unique_topic("tomb"),
                         config=dict(COMPACT, **{"delete.retention.ms": "1500"}))
    prod = producer(b.bootstrap, **{"linger.ms": 0})
    produce_all(prod, topic, [{"key": b"gone", "value": b"v1"}, {"key": b"kept", "value": b"v"},
                              {"key": b"gone", "value": None}])

    def filler(n):
        produce_all(prod, topic, [{"key": b"f%d" % (i % 5), "value": b"y" * 200}
                                  for i in range(n)])

    filler(40)   # rolls segments so the tombstone's segment can be cleaned

    def gone_records():
        return [m for m in read_all(b.bootstrap, topic) if m.key() == b"gone"]
    # first the value disappears and the tombstone stays (read as a null value)
    recs = wait_for(lambda: (lambda r: r if len(r) == 1 else None)(gone_records()), T(20),
                    "the superseded value to be cleaned")
    assert recs[0].value() is None
    # kcat shows the tombstone as NULL too
    out = subprocess.run(["kcat", "-C", "-b", b.bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-Z", "-f", "%k=%s\\n"], capture_output=True, timeout=T(30),
                         check=True).stdout.decode()
    assert "gone=NULL" in out
    # after delete.retention.ms, the next clean removes it; the live key stays
    deadline = time.monotonic() + T(30)
    while gone_records() and time.monotonic() < deadline:
        filler(20)
        time.sleep(0.3)
    assert gone_records() == []
    assert latest_by_key(read_all(b.bootstrap, topic))[b"kept"].value() == b"v"


def test_a_record_without_a_key_is_refused_on_a_compacted_topic(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("nokey"), config={"cleanup.policy": "compact"})
    prod = producer(b.bootstrap, **{"linger.ms": 0, "message.send.max.retries": 0})
    errs = []
    prod.produce(topic, b"no key", on_delivery=lambda err, msg: errs.append(err))
    prod.flush(T(20))
    assert len(errs) == 1 and errs[0] is not None
    # Produce v8+ gets INVALID_RECORD (87), older versions CORRUPT_MESSAGE (2, librdkafka's
    # INVALID_MSG), as Kafka answers
    assert errs[0].code() in (KafkaError.INVALID_RECORD, KafkaError.INVALID_MSG), errs[0]
    # the raw wire at v3 gets CORRUPT_MESSAGE; nothing was stored
    batch = kwire.record_batch_v2([(b"k", b"v"), (None, b"v")])
    resp = kwire.produce_v3(b.bootstrap, topic, 0, batch, T(10))
    assert resp["error_code"] == kwire.ERR_CORRUPT_MESSAGE, resp
    # Produce v8 (KIP-467) gets INVALID_RECORD with the batch's record error
    part = kwire.i32(0) + kwire.nbytes(batch)
    body = (kwire.string(None) + kwire.i16(-1) + kwire.i32(10000)
            + kwire.array([kwire.string(topic) + kwire.array([part], lambda x: x)], lambda x: x))
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        cid = conn.cid()
        r = kwire.Reader(conn.call(kwire.frame(
            kwire.request_header_v1(kwire.API_PRODUCE, 8, cid) + body), cid))
    got = []

    def dec_part(x):
        index, err, base, _, _ = x.i32(), x.i16(), x.i64(), x.i64(), x.i64()
        errors = []
        x.array(lambda y: errors.append((y.i32(), y.string())))
        got.append((index, err, base, errors, x.string()))
    r.array(lambda rr: (rr.string(), rr.array(dec_part)))
    (index, err, base, errors, msg), = got
    assert (index, err, base) == (0, 87, -1)  # INVALID_RECORD
    assert len(errors) == 1 and errors[0][0] == 1  # the second record of the batch
    assert "without key" in errors[0][1] and "without key" in msg
    assert watermarks(b.bootstrap, topic, 0) == (0, 0)
    # a keyed record goes in; a delete-policy topic takes keyless records
    produce_all(prod, topic, [{"key": b"k", "value": b"v"}])
    other = create_topic(b.bootstrap, unique_topic("keyless-ok"))
    produce_all(prod, other, [{"value": b"v"}])
    assert "without a key on a compacted topic" in b.stderr_text()


def test_compaction_topic_configs_round_trip(make_broker):
    b = make_broker({"log.cleaner.delete.retention.ms": 7000,
                     "log.cleaner.min.cleanable.ratio": "0.25"})
    topic = create_topic(b.bootstrap, unique_topic("cfg"),
                         config={"cleanup.policy": "compact,delete",
                                 "min.compaction.lag.ms": "5000",
                                 "max.compaction.lag.ms": "600000"})
    adm = admin_client(b.bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)

    def describe():
        return {k: v.value for k, v in adm.describe_configs([res])[res].result(T(10)).items()}
    d = describe()
    assert d["cleanup.policy"] == "compact,delete"
    assert d["min.compaction.lag.ms"] == "5000"
    assert d["max.compaction.lag.ms"] == "600000"
    assert d["delete.retention.ms"] == "7000"            # the broker default
    assert d["min.cleanable.dirty.ratio"] == "0.25"
    err = kwire.incremental_alter_topic_configs(
        b.bootstrap, topic, [("delete.retention.ms", kwire.OP_SET, "123"),
                             ("min.cleanable.dirty.ratio", kwire.OP_SET, "0.75")], T(10))
    assert err[0] == kwire.ERR_NONE, err
    d = describe()
    assert d["delete.retention.ms"] == "123" and d["min.cleanable.dirty.ratio"] == "0.75"
    err = kwire.incremental_alter_topic_configs(
        b.bootstrap, topic, [("min.cleanable.dirty.ratio", kwire.OP_SET, "1.5")], T(10))
    assert err[0] == kwire.ERR_INVALID_CONFIG, err
    b.restart()
    adm = admin_client(b.bootstrap)
    assert describe()["delete.retention.ms"] == "123"


def test_compact_delete_topics_also_apply_retention(make_broker):
    b = make_broker(dict(CLEANER, **{"log.retention.check.interval.ms": 100}))
    topic = create_topic(b.bootstrap, unique_topic("cd"),
                         config=dict(COMPACT, **{"cleanup.policy": "compact,delete",
                                                 "retention.bytes": "4096"}))
    only = create_topic(b.bootstrap, unique_topic("c"),
                        config=dict(COMPACT, **{"retention.bytes": "4096"}))
    prod = producer(b.bootstrap, **{"batch.num.messages": 5})
    for t in (topic, only):
        produce_all(prod, t, [{"key": b"u%d" % i, "value": b"z" * 300} for i in range(200)])
    # every key is distinct: compaction keeps them all; only retention can drop any
    wait_for(lambda: watermarks(b.bootstrap, topic, 0)[0] > 0, T(20), "retention on compact,delete")
    assert watermarks(b.bootstrap, only, 0)[0] == 0
    assert len(read_all(b.bootstrap, only)) == 200


def test_a_compacted_topic_stays_bounded_under_a_long_update_run(make_broker):
    b = make_broker(dict(CLEANER, **{"log.roll.ms": 300, "log.retention.check.interval.ms": 100}))
    topic = create_topic(b.bootstrap, unique_topic("bounded"),
                         config=dict(COMPACT, **{"segment.bytes": "16384"}))
    prod = producer(b.bootstrap, **{"linger.ms": 1, "batch.num.messages": 50})
    path = part_dir(b, topic)
    written, sizes = 0, []
    for rnd in range(20):
        recs = [{"key": b"key%d" % (i % 10), "value": b"%d-%d-" % (rnd, i) + b"p" * 100}
                for i in range(1000)]
        produce_all(prod, topic, recs)
        written += sum(len(r["value"]) + 5 for r in recs)
        sizes.append(dir_bytes(path))
        time.sleep(0.2)  # a steady stream of updates rather than one burst
    final = wait_for(lambda: (lambda s: s if s < 8000 else None)(dir_bytes(path)), T(30),
                     "the log to be compacted below 8 kB (the active segment rolls by age)")
    print("compaction: %d bytes of updates, directory sizes %s, final %d, %d segment files"
          % (written, sizes, final, len(log_files(path))))
    assert written > 2000000
    # bounded throughout the run, not just at the end, and not growing with it
    assert max(sizes) < written / 3
    # the later half's median: one sample taken while the cleaner lags (a busy machine) may spike
    assert sorted(sizes[10:])[5] < 2 * max(sizes[:10])
    assert len(log_files(path)) < 8     # small cleaned segments are merged
    msgs = read_all(b.bootstrap, topic)
    last = latest_by_key(msgs)
    assert sorted(last) == [b"key%d" % i for i in range(10)]
    assert all(m.value().startswith(b"19-") for m in last.values())


# ---- kill -9 while cleaning -------------------------------------------------------------------

def produce_until(bootstrap, topic, stop, acked, seq, keys=20):
    """Produces key<i % keys> = "<key>:<seq>" (seq growing from the given start) with
    acks=all until stop is set; acked[key] is the highest acknowledged seq."""
    prod = producer(bootstrap, **{"linger.ms": 2, "message.timeout.ms": int(T(5) * 1000),
                                  "retries": 0})

    def cb(err, msg):
        if err is None:
            k = msg.key()
            n = int(msg.value().split(b":")[1])
            acked[k] = max(acked.get(k, -1), n)
    while not stop.is_set():
        k = b"key%d" % (seq % keys)
        try:
            prod.produce(topic, key=k, value=k + b":%d:" % seq + b"q" * 50, on_delivery=cb)
            seq += 1
        except BufferError:
            pass
        prod.poll(0.001 if seq % 50 else 0.01)
    prod.flush(T(10))


@pytest.mark.long
def test_kill9_while_cleaning_loses_no_latest_value(make_broker):
    b = make_broker({"log.cleaner.backoff.ms": 10})
    topic = create_topic(b.bootstrap, unique_topic("kill-clean"),
                         config=dict(COMPACT, **{"segment.bytes": "1024"}))
    rng = random.Random(int(os.environ.get("SLUICE_KILL_SEED", "0")) or None)
    acked = {}
    for rnd in range(int(os.environ.get("SLUICE_KILL_ROUNDS", "3"))):
        stop = threading.Event()
        th = threading.Thread(target=produce_until,
                              args=(b.bootstrap, topic, stop, acked, rnd * 10000000))
        th.start()
        time.sleep(rng.uniform(0.8, 2.5))
        b.kill9()
        stop.set()
        th.join(T(30))
        b.start()
        msgs = read_all(b.bootstrap, topic)
        offsets = [m.offset() for m in msgs]
        assert offsets == sorted(set(offsets)), "offsets must grow"
        latest = {}
        for m in msgs:
            key, seq = m.value().split(b":")[:2]
            assert key == m.key()
            latest[m.key()] = int(seq)
        for k, seq in acked.items():
            assert latest.get(k, -1) >= seq, "key %r: acknowledged %d, latest in log %r" % (
                k, seq, latest.get(k))
    log = b.stderr_text()
    assert "record(s) removed" in log, "the cleaner never ran"


# ---- join changelogs --------------------------------------------------------------------------

def test_a_join_changelog_stays_bounded_when_few_keys_change_often(make_broker, tmp_path):
    from join_harness import JoinService, topics_for
    # small segments, rolled after 300 ms (log.roll.ms), so the cleaner reaches everything
    b = make_broker(dict(CLEANER, **{"log.segment.bytes": 2048, "log.roll.ms": 300,
                                     "log.retention.check.interval.ms": 100,
                                     "log.cleaner.min.cleanable.ratio": "0.01"}))
    t = topics_for("jb")
    create_topic(b.bootstrap, t["left"])
    create_topic(b.bootstrap, t["right"])
    svc = JoinService(tmp_path, b.bootstrap, {
        "application.id": t["app"], "join.type": "table-table-outer", "left.topic": t["left"],
        "right.topic": t["right"], "output.topic": t["out"]}).start()
    try:
        prod = producer(b.bootstrap, **{"batch.num.messages": 50})
        changelog = "%s-right-changelog" % t["app"]
        path = part_dir(b, changelog)
        sizes = []
        for rnd in range(8):
            recs = [{"key": b"k%d" % (i % 4),
                     "value": json.dumps({"v": rnd * 1000 + i, "pad": "x" * 40}).encode()}
                    for i in range(1000)]
            produce_all(prod, t["right"], recs)
            wait_for(lambda: watermarks(b.bootstrap, changelog, 0)[1] >= (rnd + 1) * 1000,
                     T(60), "the join to write its changelog")
            sizes.append(dir_bytes(path))
        final = wait_for(lambda: (lambda s: s if s < 4000 else None)(dir_bytes(path)), T(30),
                         "the changelog to be compacted below 4 kB")
        print("join changelog: 8000 updates of 4 keys; directory sizes %s, final %d bytes"
              % (sizes, final))
        assert max(sizes) < 300000   # one round writes ~90 kB; eight of them would be ~720 kB
        msgs = read_all(b.bootstrap, changelog)
        last = {m.key(): json.loads(m.value())["v"] for m in msgs if m.value() is not None}
        assert last == {b"k%d" % k: 7996 + k for k in range(4)}
        assert len(msgs) <= 8
    finally:
        svc.kill9()
