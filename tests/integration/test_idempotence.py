"""The idempotent producer: InitProducerId, duplicate batches answered with their original offset
and stored once, OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH as Kafka 3.x returns
them, producer state that survives a clean restart and kill -9, and python3-confluent-kafka with
enable.idempotence=true producing numbered records while the broker is killed and restarted:
afterwards every partition holds each acknowledged record exactly once, in order, no gaps.
Kill rounds: 3 (SLUICE_SLOW=1: 10 more in the slow test).
"""

import os
import random
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, OFFSET_BEGINNING, Producer, TopicPartition

import kwire
from conftest import (T, consume_range, consumer, create_topic, read_partition, unique_topic,
                      watermarks)

pytestmark = pytest.mark.own_broker


def new_pid(bootstrap, version=4, **kw):
    r = kwire.init_producer_id(bootstrap, version, T(10), **kw)
    assert r["error_code"] == kwire.ERR_NONE, r
    assert r["producer_epoch"] == 0, r
    return r["producer_id"]


def idem_batch(pid, epoch, seq, values):
    return kwire.record_batch_v2([(None, v) for v in values], producer_id=pid,
                                 producer_epoch=epoch, base_sequence=seq)


def produce(bootstrap, topic, batch, partition=0):
    return kwire.produce_v3(bootstrap, topic, partition, batch, T(10))


def produce_many(bootstrap, topic, batches_by_partition):
    """One Produce v3 request with several partitions (each with one or more batches)."""
    parts = [kwire.i32(p) + kwire.nbytes(b"".join(bs)) for p, bs in batches_by_partition.items()]
    topic_data = kwire.string(topic) + kwire.array(parts, lambda x: x)
    with kwire.Conn(bootstrap, T(10)) as conn:
        cid = conn.cid()
        body = (kwire.string(None) + kwire.i16(-1) + kwire.i32(int(T(10) * 1000))
                + kwire.array([topic_data], lambda x: x))
        req = kwire.frame(kwire.request_header_v1(kwire.API_PRODUCE, 3, cid) + body)
        out = kwire.parse_produce_v3(conn.call(req, cid))
    return {p: out[(topic, p)] for p in batches_by_partition}


def values_of(bootstrap, topic, partition=0):
    lo, hi = watermarks(bootstrap, topic, partition)
    msgs = read_partition(bootstrap, topic, partition, hi - lo, T(30)) if hi > lo else []
    return [(m.offset(), m.value()) for m in msgs]


# ---- InitProducerId ------------------------------------------------------------------------

def test_init_producer_id_gives_a_fresh_id_with_epoch_0_in_every_version(broker):
    ids = [new_pid(broker.bootstrap, v) for v in range(5)]
    # v3+ naming a current id and epoch: without a transactional id Kafka hands out a new id
    ids.append(new_pid(broker.bootstrap, 3, producer_id=ids[-1], producer_epoch=0))
    ids.append(new_pid(broker.bootstrap, 4, producer_id=12345678, producer_epoch=7))
    assert all(i >= 0 for i in ids)
    assert len(set(ids)) == len(ids), ids


def test_producer_ids_are_never_reused_across_restarts_and_kill9(make_broker):
    b = make_broker()
    seen = [new_pid(b.bootstrap) for _ in range(3)]
    b.restart()
    seen += [new_pid(b.bootstrap) for _ in range(3)]
    b.kill9()
    b.start()
    seen += [new_pid(b.bootstrap) for _ in range(3)]
    b.kill9()
    b.start()
    seen.append(new_pid(b.bootstrap))
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
    with open(os.path.join(b.data_dir, "producer-ids")) as f:
        assert int(f.read()) > seen[-1], "the reserved block ends after every id handed out"


def test_a_transactional_id_gets_one_producer_id_and_a_new_epoch_each_time(broker):
    # Transactions are in test_transactions.py; here only InitProducerId in every version.
    first = None
    for v in range(5):
        r = kwire.init_producer_id(broker.bootstrap, v, T(10), transactional_id="tx-same")
        assert r["error_code"] == kwire.ERR_NONE, (v, r)
        first = first or r
        assert r["producer_id"] == first["producer_id"], (v, r)
        assert r["producer_epoch"] == v, (v, r)


# ---- duplicates, sequences, epochs on the wire ----------------------------------------------

def test_a_retried_batch_is_stored_once_and_answered_with_its_original_offset(broker):
    topic = create_topic(broker.bootstrap, unique_topic("idem-dup"))
    assert produce(broker.bootstrap, topic, kwire.record_batch_v2([(None, b"plain")])) \
        ["base_offset"] == 0
    pid = new_pid(broker.bootstrap)
    batch = idem_batch(pid, 0, 0, [b"a", b"b", b"c"])
    first = produce(broker.bootstrap, topic, batch)
    assert first["error_code"] == kwire.ERR_NONE and first["base_offset"] == 1, first
    again = produce(broker.bootstrap, topic, batch)
    assert again["error_code"] == kwire.ERR_NONE and again["base_offset"] == 1, again
    nxt = produce(broker.bootstrap, topic, idem_batch(pid, 0, 3, [b"d"]))
    assert nxt["base_offset"] == 4, nxt
    # an older batch, still among the last 5, is a duplicate too
    assert produce(broker.bootstrap, topic, batch)["base_offset"] == 1
    assert values_of(broker.bootstrap, topic) == [(0, b"plain"), (1, b"a"), (2, b"b"),
                                                  (3, b"c"), (4, b"d")]


def test_several_batches_and_partitions_in_one_request(broker):
    topic = create_topic(broker.bootstrap, unique_topic("idem-multi"), partitions=2)
    pid = new_pid(broker.bootstrap)
    b0 = [idem_batch(pid, 0, 0, [b"p0-0", b"p0-1"]), idem_batch(pid, 0, 2, [b"p0-2"])]
    b1 = [idem_batch(pid, 0, 0, [b"p1-0"])]
    r = produce_many(broker.bootstrap, topic, {0: b0, 1: b1})
    assert r[0]["error_code"] == 0 and r[0]["base_offset"] == 0, r
    assert r[1]["error_code"] == 0 and r[1]["base_offset"] == 0, r
    r = produce_many(broker.bootstrap, topic, {0: b0, 1: b1})   # the whole request retried
    assert r[0]["error_code"] == 0 and r[0]["base_offset"] == 0, r
    assert r[1]["error_code"] == 0 and r[1]["base_offset"] == 0, r
    assert [v for _, v in values_of(broker.bootstrap, topic, 0)] == [b"p0-0", b"p0-1", b"p0-2"]
    assert [v for _, v in values_of(broker.bootstrap, topic, 1)] == [b"p1-0"]


def test_a_sequence_gap_is_out_of_order_and_writes_nothing(broker):
    topic = create_topic(broker.bootstrap, unique_topic("idem-gap"))
    pid = new_pid(broker.bootstrap)
    assert produce(broker.bootstrap, topic, idem_batch(pid, 0, 0, [b"x", b"y"]))["error_code"] == 0
    r = produce(broker.bootstrap, topic, idem_batch(pid, 0, 3, [b"z"]))
    assert r["error_code"] == kwire.ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, r
    assert r["base_offset"] == -1
    assert watermarks(broker.bootstrap, topic, 0)[1] == 2
    assert produce(broker.bootstrap, topic, idem_batch(pid, 0, 2, [b"z"]))["base_offset"] == 2


def test_an_unknown_producer_is_accepted_at_any_sequence_and_sequences_wrap(broker):
    # Kafka 3.x: no UNKNOWN_PRODUCER_ID; the partition starts tracking at whatever comes first
    topic = create_topic(broker.bootstrap, unique_topic("idem-wrap"))
    pid = new_pid(broker.bootstrap)
    top = 2**31 - 1
    first = idem_batch(pid, 0, top - 1, [b"w0", b"w1"])   # sequences top-1, top
    assert produce(broker.bootstrap, topic, first)["base_offset"] == 0
    wrapped = idem_batch(pid, 0, 0, [b"w2"])               # the next one is 0
    assert produce(broker.bootstrap, topic, wrapped)["base_offset"] == 2
    assert produce(broker.bootstrap, topic, first)["base_offset"] == 0   # still a duplicate
    r = produce(broker.bootstrap, topic, idem_batch(pid, 0, 2, [b"gap"]))
    assert r["error_code"] == kwire.ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, r
    assert [v for _, v in values_of(broker.bootstrap, topic)] == [b"w0", b"w1", b"w2"]


def test_an_older_epoch_is_refused_with_invalid_producer_epoch(broker):
    topic = create_topic(broker.bootstrap, unique_topic("idem-epoch"))
    pid = new_pid(broker.bootstrap)
    assert produce(broker.bootstrap, topic, idem_batch(pid, 1, 0, [b"e1"]))["error_code"] == 0
    r = produce(broker.bootstrap, topic, idem_batch(pid, 0, 1, [b"e0"]))
    assert r["error_code"] == kwire.ERR_INVALID_PRODUCER_EPOCH, r
    r = produce(broker.bootstrap, topic, idem_batch(pid, 2, 5, [b"e2"]))
    assert r["error_code"] == kwire.ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, r  # a new epoch starts at 0
    assert produce(broker.bootstrap, topic, idem_batch(pid, 2, 0, [b"e2"]))["base_offset"] == 1
    assert [v for _, v in values_of(broker.bootstrap, topic)] == [b"e1", b"e2"]


@pytest.mark.parametrize("how", ["clean", "kill9"])
def test_a_duplicate_is_detected_after_a_restart(make_broker, how):
    # small segments: the state comes from a snapshot taken at a roll plus a replay after it
    b = make_broker({"log.segment.bytes": 2048})
    topic = create_topic(b.bootstrap, unique_topic("idem-restart"))
    pid = new_pid(b.bootstrap)
    batches = [idem_batch(pid, 0, i, [b"v%03d" % i]) for i in range(60)]
    offsets = [produce(b.bootstrap, topic, bt)["base_offset"] for bt in batches]
    assert offsets == list(range(60))
    if how == "clean":
        b.restart()
    else:
        b.kill9()
        b.start()
    for i in range(55, 60):   # the last 5 are duplicates with their original offsets
        r = produce(b.bootstrap, topic, batches[i])
        assert r["error_code"] == 0 and r["base_offset"] == i, (i, r)
    r = produce(b.bootstrap, topic, batches[10])   # long gone from the cache: from the past
    assert r["error_code"] == kwire.ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, r
    r = produce(b.bootstrap, topic, idem_batch(pid, 0, 60, [b"v060"]))
    assert r["error_code"] == 0 and r["base_offset"] == 60, r
    assert [v for _, v in values_of(b.bootstrap, topic)] == [b"v%03d" % i for i in range(61)]


def test_kafka_python_still_guesses_a_3x_era_broker(broker):
    from kafka import KafkaConsumer
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=int(T(15) * 1000),
                       api_version_auto_timeout_ms=int(T(10) * 1000))
    try:
        # its newest probe it can satisfy (Produce v8: 2.4); the new APIs change nothing
        assert kc.config["api_version"] >= (2, 4, 0), kc.config["api_version"]
    finally:
        kc.close()


def test_describe_producers_lists_each_partitions_producers(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("idem-describe"), partitions=2)
    pid1, pid2 = new_pid(b.bootstrap), new_pid(b.bootstrap)
    produce(b.bootstrap, topic, idem_batch(pid1, 0, 0, [b"a", b"b", b"c"]))
    produce(b.bootstrap, topic, idem_batch(pid2, 3, 0, [b"d"]))
    produce(b.bootstrap, topic, kwire.record_batch_v2([(None, b"plain")]), partition=1)
    ask = {topic: [0, 1, 7], "no-such-topic": [0]}
    for round_ in ("live", "after a restart"):
        r = kwire.describe_producers(b.bootstrap, ask, T(10))
        assert r[(topic, 0)]["error_code"] == 0, round_
        got = sorted((p["producer_id"], p["producer_epoch"], p["last_sequence"],
                      p["coordinator_epoch"], p["current_txn_start_offset"])
                     for p in r[(topic, 0)]["producers"])
        assert got == sorted([(pid1, 0, 2, -1, -1), (pid2, 3, 0, -1, -1)]), (round_, got)
        assert all(p["last_timestamp"] > 0 for p in r[(topic, 0)]["producers"])
        assert r[(topic, 1)] == {"error_code": 0, "producers": []}, round_
        assert r[(topic, 7)]["error_code"] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION
        assert r[("no-such-topic", 0)]["error_code"] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION
        b.restart()


def test_a_producer_silent_past_producer_id_expiration_ms_is_forgotten(make_broker):
    b = make_broker({"producer.id.expiration.ms": 1500, "log.retention.check.interval.ms": 100})
    topic = create_topic(b.bootstrap, unique_topic("idem-expire"))
    pid_old, pid_live = new_pid(b.bootstrap), new_pid(b.bootstrap)
    old = idem_batch(pid_old, 0, 0, [b"old"])
    assert produce(b.bootstrap, topic, old)["base_offset"] == 0
    deadline = time.monotonic() + T(10)
    seq = 0
    while time.monotonic() < deadline:   # pid_live keeps writing; pid_old stays silent
        produce(b.bootstrap, topic, idem_batch(pid_live, 0, seq, [b"live"]))
        seq += 1
        ids = {p["producer_id"]
               for p in kwire.describe_producers(b.bootstrap, {topic: [0]}, T(10))[(topic, 0)]
               ["producers"]}
        if pid_old not in ids:
            break
        time.sleep(0.1)
    assert ids == {pid_live}, ids
    # forgotten: the same batch is now a new producer's first batch, stored again
    assert produce(b.bootstrap, topic, old)["base_offset"] == seq + 1
    assert "producer ids expired" in b.stderr_text()


def test_a_bad_producer_id_expiration_ms_stops_the_start(make_broker):
    from conftest import BrokerStartError
    b = make_broker({"producer.id.expiration.ms": "soon"}, start=False)
    with pytest.raises(BrokerStartError) as ei:
        b.start()
    assert "producer.id.expiration.ms" in str(ei.value)


# ---- a real idempotent producer through kill -9 ---------------------------------------------

def run_idempotent_rounds(b, rounds, partitions=3, seed=None):
    """Produces "P-N" (N counting per partition) with enable.idempotence=true and acks=all while
    the broker is SIGKILLed and restarted on the same port `rounds` times; returns the acked
    (partition, offset, value) list and how many were produced per partition."""
    rng = random.Random(seed if seed is not None else int(time.time()))
    topic = create_topic(b.bootstrap, unique_topic("idem-kill"), partitions=partitions)
    b.listen = b.bootstrap   # restarts keep the port: the producer reconnects to it
    acks, errors, counts = [], [], [0] * partitions

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acks.append((msg.partition(), msg.offset(), msg.value()))
    prod = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                     "acks": "all", "linger.ms": 5, "message.timeout.ms": int(T(120) * 1000),
                     "socket.timeout.ms": int(T(10) * 1000), "reconnect.backoff.ms": 20,
                     "reconnect.backoff.max.ms": 200, "retry.backoff.ms": 20})

    def produce_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            p = counts.index(min(counts)) if rng.random() < 0.2 else rng.randrange(partitions)
            try:
                prod.produce(topic, b"%d-%d" % (p, counts[p]), partition=p,
                             on_delivery=on_delivery)
                counts[p] += 1
            except BufferError:
                prod.poll(0.01)
                continue
            prod.poll(0 if counts[p] % 50 else 0.001)
    t0 = time.monotonic()
    for i in range(rounds):
        produce_for(rng.uniform(0.3, 1.5))
        b.kill9()
        produce_for(rng.uniform(0.0, 0.3))   # queued and retried while the broker is down
        b.start()
        print("round %d done at %.1f s, %d produced" % (i, time.monotonic() - t0, sum(counts)))
    produce_for(0.3)
    left = prod.flush(T(100))
    print("flushed at %.1f s, %d acked" % (time.monotonic() - t0, len(acks)))
    assert left == 0, "%d messages not delivered" % left
    assert not errors, "delivery errors: %r" % errors[:5]
    return topic, acks, counts


def check_exactly_once(bootstrap, topic, acks, counts):
    c = consumer(bootstrap, **{"check.crcs": True})
    try:
        ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=T(10), cached=False)[1]
                for p in range(len(counts))]
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(len(counts))])
        t0 = time.monotonic()
        msgs = consume_range(c, sum(ends), T(100))
        print("read %d of %d in %.1f s" % (len(msgs), sum(ends), time.monotonic() - t0))
    finally:
        c.close()
    logs = {p: [] for p in range(len(counts))}
    for m in msgs:
        logs[m.partition()].append((m.offset(), m.value()))
    for p, recs in logs.items():
        assert len(recs) == ends[p], "partition %d: read %d of %d, last offset read %r" % (
            p, len(recs), ends[p], recs[-1][0] if recs else None)
        assert [o for o, _ in recs] == list(range(len(recs))), "partition %d: offsets" % p
        want = [b"%d-%d" % (p, n) for n in range(counts[p])]
        got = [v for _, v in recs]
        dups = len(got) - len(set(got))
        assert got == want, "partition %d: %d records, %d produced, %d duplicates; first " \
            "difference at %r" % (p, len(got), counts[p], dups,
                                  next((i for i, (x, y) in enumerate(zip(got, want)) if x != y),
                                       min(len(got), len(want))))
    for p, o, v in acks:
        assert logs[p][o][1] == v, "acked %r at %d-%d, found %r" % (v, p, o, logs[p][o][1])
    assert len(acks) == sum(counts)


def test_idempotent_confluent_producer_through_kill9_stores_each_message_once(make_broker):
    b = make_broker({"log.segment.bytes": 64 * 1024})
    topic, acks, counts = run_idempotent_rounds(b, 3)
    assert sum(counts) > 100
    check_exactly_once(b.bootstrap, topic, acks, counts)


@pytest.mark.slow
def test_idempotent_confluent_producer_through_many_kill9_rounds(make_broker):
    b = make_broker({"log.segment.bytes": 64 * 1024})
    topic, acks, counts = run_idempotent_rounds(b, 10, partitions=4)
    check_exactly_once(b.bootstrap, topic, acks, counts)
    b.restart()
    check_exactly_once(b.bootstrap, topic, acks, counts)
