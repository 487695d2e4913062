"""Produce and fetch with real clients: confluent-kafka (librdkafka), kcat and kafka-python."""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, TopicPartition

from conftest import (T, admin_client, consume_range, consumer, create_topic, produce_all,
                      producer, read_partition, run_tool, stored_codecs, topic_partitions,
                      unique_topic, wait_for, watermarks)

COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"]
MIB = 1024 * 1024


def sample_records(n):
    """Keys, no keys, empty keys, headers (repeated keys, empty values), null and empty values,
    and values that compress well. No null header values: reading them makes confluent-kafka
    1.7 drop a reference to None per header, which aborts the interpreter later."""
    recs = []
    for i in range(n):
        r = {"value": (b"value-%06d-" % i) * (1 + i % 7)}
        if i % 5 != 0:
            r["key"] = b"key-%d" % i
        if i % 11 == 0:
            r["key"] = b""
        if i % 3 == 0:
            r["headers"] = [("h1", b"x%d" % i), ("h2", b""), ("h1", b"again")]
        if i % 13 == 0:
            r["value"] = None
        if i % 17 == 0:
            r["value"] = b""
        recs.append(r)
    return recs


def assert_same_records(got, sent, first_offset=0):
    assert len(got) == len(sent), "read %d records, sent %d" % (len(got), len(sent))
    for i, (m, r) in enumerate(zip(got, sent)):
        where = "record %d (offset %d)" % (i, m.offset())
        assert m.offset() == first_offset + i, where
        assert m.key() == r.get("key"), where
        assert m.value() == r.get("value"), where
        assert (m.headers() or []) == r.get("headers", []), where


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_produce_with_acks_all_is_readable_from_the_beginning(broker, compression):
    topic = create_topic(broker.bootstrap, unique_topic("pf-" + compression))
    sent = sample_records(600)
    prod = producer(broker.bootstrap, **{"compression.type": compression, "linger.ms": 20})
    delivered = produce_all(prod, topic, sent, partition=0)
    assert [m.offset() for m in delivered] == list(range(len(sent))), \
        "delivery reports must give consecutive offsets from 0"
    assert all(m.partition() == 0 and m.error() is None for m in delivered)
    got = read_partition(broker.bootstrap, topic, 0, len(sent), T(30))
    assert_same_records(got, sent)
    assert watermarks(broker.bootstrap, topic, 0) == (0, len(sent))


@pytest.mark.own_broker
def test_compressed_batches_are_stored_as_the_clients_sent_them(broker):
    """zstd from librdkafka and gzip from kafka-python reach the log compressed, unchanged.
    (librdkafka before 2.11.1, Debian 12's 2.0.2 included, sends gzip, snappy and lz4 batches
    uncompressed to any broker whose Produce versions start above v0, Kafka 4.0's too; see
    docs/broker.md, Compression.)"""
    from kafka import KafkaProducer
    sent = sample_records(300)
    topic = create_topic(broker.bootstrap, unique_topic("codec-zstd"))
    produce_all(producer(broker.bootstrap, **{"compression.type": "zstd", "linger.ms": 20}),
                topic, sent, partition=0)
    assert_same_records(read_partition(broker.bootstrap, topic, 0, len(sent), T(30)), sent)
    # A batch that would not shrink (one short record) goes uncompressed: the client's choice.
    codecs = stored_codecs(broker, topic)
    assert set(codecs) <= {0, 4} and codecs.count(4) >= len(codecs) / 2, codecs
    topic = create_topic(broker.bootstrap, unique_topic("codec-gzip"))
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type="gzip",
                       linger_ms=20, max_block_ms=int(T(20) * 1000))
    try:
        for i in range(300):
            kp.send(topic, key=b"k%d" % i, value=b"value-%06d-" % i * 8, partition=0)
        kp.flush(timeout=T(30))
    finally:
        kp.close(timeout=T(10))
    got = read_partition(broker.bootstrap, topic, 0, 300, T(30))
    assert [m.value() for m in got] == [b"value-%06d-" % i * 8 for i in range(300)]
    codecs = stored_codecs(broker, topic)
    assert set(codecs) <= {0, 1} and codecs.count(1) >= len(codecs) / 2, codecs


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_one_mib_values_round_trip_when_message_max_bytes_allows_them(make_broker, compression):
    b = make_broker({"message.max.bytes": 8 * MIB}, required=False)
    topic = create_topic(b.bootstrap, unique_topic("big"),
                         config={"max.message.bytes": str(8 * MIB)})
    pattern = bytes(range(256)) * (MIB // 256)
    sent = [{"key": b"big-%d" % i, "value": pattern[i:] + pattern[:i]} for i in range(4)]
    sent.insert(2, {"key": b"small", "value": b"between the big ones"})
    prod = producer(b.bootstrap, **{"compression.type": compression,
                                    "message.max.bytes": 16 * MIB, "linger.ms": 0})
    delivered = produce_all(prod, topic, sent, partition=0)
    assert [m.offset() for m in delivered] == list(range(len(sent)))
    got = read_partition(b.bootstrap, topic, 0, len(sent), T(60),
                         **{"fetch.max.bytes": 16 * MIB, "max.partition.fetch.bytes": 16 * MIB,
                            "receive.message.max.bytes": 40 * MIB})
    assert_same_records(got, sent)


@pytest.mark.time_limit(400)
def test_hundred_thousand_records_over_eight_partitions_keep_their_order(broker):
    n, parts = 100000, 8
    topic = create_topic(broker.bootstrap, unique_topic("many"), partitions=parts)
    sent = [{"value": b"%d" % i, "partition": i % parts} for i in range(n)]
    prod = producer(broker.bootstrap, **{"linger.ms": 20, "batch.num.messages": 5000,
                                        "queue.buffering.max.messages": 200000})
    delivered = produce_all(prod, topic, sent, timeout_s=T(180))
    for p in range(parts):
        offs = [m.offset() for m in delivered if m.partition() == p]
        assert offs == list(range(n // parts)), "partition %d delivery offsets" % p
    c = consumer(broker.bootstrap, **{"fetch.max.bytes": 4 * MIB})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(parts)])
        got = consume_range(c, n, T(180))
    finally:
        c.close()
    assert len(got) == n, "read %d of %d records" % (len(got), n)
    by_part = {}
    for m in got:
        by_part.setdefault(m.partition(), []).append(m)
    for p in range(parts):
        msgs = by_part.get(p, [])
        assert [m.offset() for m in msgs] == list(range(n // parts)), "partition %d offsets" % p
        assert [int(m.value()) for m in msgs] == list(range(p, n, parts)), "partition %d order" % p


def test_offsets_for_times_finds_the_first_record_at_or_after_a_timestamp(broker):
    topic = create_topic(broker.bootstrap, unique_topic("times"))
    base = int(time.time() * 1000) - 3600 * 1000
    sent = [{"value": b"t%d" % i, "timestamp": base + i * 1000} for i in range(10)]
    produce_all(producer(broker.bootstrap, **{"linger.ms": 0}), topic, sent, partition=0)
    got = read_partition(broker.bootstrap, topic, 0, 10)
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, base + i * 1000)
                                           for i in range(10)]
    c = consumer(broker.bootstrap)
    try:
        for ts, want in [(base - 5000, 0), (base, 0), (base + 1, 1), (base + 4500, 5),
                         (base + 9000, 9), (base + 9001, -1)]:
            res = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=T(10))
            assert res[0].error is None, res[0].error
            assert res[0].offset == want, "timestamp base%+d" % (ts - base)
    finally:
        c.close()


def test_watermarks_follow_produced_records_per_partition(broker):
    topic = create_topic(broker.bootstrap, unique_topic("wm"), partitions=2)
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0)
    assert watermarks(broker.bootstrap, topic, 1) == (0, 0)
    produce_all(producer(broker.bootstrap), topic, [{"value": b"%d" % i} for i in range(7)],
                partition=1)
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0)
    assert watermarks(broker.bootstrap, topic, 1) == (0, 7)
    produce_all(producer(broker.bootstrap), topic, [{"value": b"more"}], partition=1)
    assert watermarks(broker.bootstrap, topic, 1) == (0, 8)


def test_kcat_produces_keyed_records_that_confluent_kafka_reads_back(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kcat-p"))
    lines = b"".join(b"key%d:value %d\n" % (i, i) for i in range(50))
    run_tool(["kcat", "-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K:",
              "-X", "acks=all"], timeout_s=T(30), input_bytes=lines)
    got = read_partition(broker.bootstrap, topic, 0, 50)
    assert [(m.offset(), m.key(), m.value()) for m in got] == \
        [(i, b"key%d" % i, b"value %d" % i) for i in range(50)]


def test_kcat_consumes_the_last_five_records_with_a_negative_offset(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kcat-c"))
    produce_all(producer(broker.bootstrap), topic,
                [{"key": b"k%d" % i, "value": b"v%d" % i} for i in range(20)], partition=0)
    out = run_tool(["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-o", "-5",
                    "-e", "-f", "%o %k %s\n"], timeout_s=T(30)).stdout.decode()
    assert out.splitlines() == ["%d k%d v%d" % (i, i, i) for i in range(15, 20)]
    out = run_tool(["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-p", "0",
                    "-o", "beginning", "-e", "-f", "%o\n"], timeout_s=T(30)).stdout.decode()
    assert out.split() == [str(i) for i in range(20)]


@pytest.mark.parametrize("compression", [None, "gzip"], ids=["none", "gzip"])
def test_kafka_python_producer_and_consumer_round_trip(broker, compression):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition
    topic = create_topic(broker.bootstrap, unique_topic("kpy"), partitions=2)
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                       compression_type=compression, linger_ms=5,
                       request_timeout_ms=int(T(20) * 1000), max_block_ms=int(T(20) * 1000))
    try:
        futs = [kp.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2,
                        headers=[("n", b"%d" % i)]) for i in range(200)]
        kp.flush(timeout=T(30))
        metas = [f.get(timeout=T(10)) for f in futs]
    finally:
        kp.close(timeout=T(10))
    for p in (0, 1):
        assert [m.offset for m in metas if m.partition == p] == list(range(100))
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                       enable_auto_commit=False, auto_offset_reset="earliest",
                       request_timeout_ms=int(T(30) * 1000) + 1000)
    got = []
    try:
        kc.assign([KTopicPartition(topic, 0), KTopicPartition(topic, 1)])
        kc.seek_to_beginning()
        deadline = time.monotonic() + T(30)
        while len(got) < 200 and time.monotonic() < deadline:
            for recs in kc.poll(timeout_ms=500).values():
                got.extend(recs)
    finally:
        kc.close()
    assert len(got) == 200
    for p in (0, 1):
        mine = [r for r in got if r.partition == p]
        assert [r.offset for r in mine] == list(range(100))
        assert [r.value for r in mine] == [b"v%d" % i for i in range(p, 200, 2)]
        assert [r.key for r in mine] == [b"k%d" % i for i in range(p, 200, 2)]
        assert [list(r.headers) for r in mine] == [[("n", b"%d" % i)] for i in range(p, 200, 2)]


def test_kafka_python_admin_client_creates_and_deletes_topics(broker):
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KNewTopic
    topic = unique_topic("kpy-adm")
    ad = KafkaAdminClient(bootstrap_servers=broker.bootstrap,
                          request_timeout_ms=int(T(20) * 1000))
    try:
        ad.create_topics([KNewTopic(topic, 3, 1, topic_configs={"retention.ms": "7200000"})],
                         timeout_ms=int(T(10) * 1000))
        wait_for(lambda: topic_partitions(broker.bootstrap, topic) == 3, T(10),
                 "%s with 3 partitions" % topic)
        assert topic in ad.list_topics()
        ad.delete_topics([topic], timeout_ms=int(T(10) * 1000))
        wait_for(lambda: topic not in admin_client(broker.bootstrap).list_topics(
            timeout=T(10)).topics, T(10), "%s deleted" % topic)
    finally:
        ad.close()


def test_a_waiting_fetch_returns_a_record_produced_later_quickly(broker):
    topic = create_topic(broker.bootstrap, unique_topic("longpoll"))
    wait_ms = int(T(10) * 1000)
    c = consumer(broker.bootstrap, **{"fetch.wait.max.ms": wait_ms,
                                      "socket.timeout.ms": wait_ms + int(T(10) * 1000)})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        early = consume_range(c, 1, T(1.5))   # nothing there; the fetch is now parked
        assert early == []
        prod = producer(broker.bootstrap, **{"linger.ms": 0})
        t0 = time.monotonic()
        produce_all(prod, topic, [{"value": b"wake up"}], partition=0)
        got = consume_range(c, 1, T(20))
        elapsed = time.monotonic() - t0
    finally:
        c.close()
    assert [m.value() for m in got] == [b"wake up"]
    assert elapsed < min(T(3), wait_ms / 2000.0), \
        "the record took %.2f s to reach a consumer waiting with fetch.wait.max.ms=%d" % (
            elapsed, wait_ms)
