"""Bytes no well-behaved client sends, from raw sockets (kwire): oversized and truncated frames,
unknown APIs and versions, corrupt batches, missing partitions and size limits at N and N+1.
After each, the broker must still serve a normal client."""

import socket

import pytest

import kwire
from conftest import (T, create_topic, produce_all, producer, read_partition, unique_topic,
                      watermarks)

REQUEST_MAX_BYTES = 65536
MESSAGE_MAX_BYTES = 10000

# What DESIGN/the CLI spec says Sluice advertises (ApiVersions key -> (min, max)).
ADVERTISED = {
    0: (3, 9),     # Produce
    1: (4, 13),    # Fetch
    2: (1, 7),     # ListOffsets
    3: (0, 12),    # Metadata
    18: (0, 3),    # ApiVersions
    19: (0, 7),    # CreateTopics
    20: (0, 6),    # DeleteTopics
    32: (0, 4),    # DescribeConfigs
    37: (0, 3),    # CreatePartitions
    33: (0, 2),    # AlterConfigs
    44: (0, 1),    # IncrementalAlterConfigs
}


def assert_broker_serves(bootstrap):
    """A normal client can still create a topic, produce and read back."""
    topic = create_topic(bootstrap, unique_topic("still-ok"))
    produce_all(producer(bootstrap, **{"linger.ms": 0}), topic, [{"key": b"k", "value": b"ok"}],
                partition=0)
    got = read_partition(bootstrap, topic, 0, 1, T(20))
    assert [(m.key(), m.value()) for m in got] == [(b"k", b"ok")]
    assert kwire.api_versions(bootstrap, 0, T(10))["error_code"] == kwire.ERR_NONE


def send_ignoring_reset(conn, data):
    """Sends data; a peer that closes midway is what some tests expect, so that is no error."""
    try:
        conn.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def batch_of_size(size):
    """A valid one-record batch of exactly `size` bytes (the whole batch, as Kafka counts it
    against message.max.bytes)."""
    vlen = max(0, size - 80)
    for _ in range(16):
        batch = kwire.record_batch_v2([(b"k", b"x" * vlen)])
        if len(batch) == size:
            return batch
        vlen += size - len(batch)
        if vlen < 0:
            break
    raise AssertionError("cannot build a batch of exactly %d bytes" % size)


def produce_request_of_frame_size(topic, frame_size, cid):
    """A Produce v3 request whose frame (the length prefix's value) is exactly frame_size."""
    overhead = len(kwire.produce_v3_request(topic, 0, b"", cid)) - 4
    req = kwire.produce_v3_request(topic, 0, batch_of_size(frame_size - overhead), cid)
    assert len(req) - 4 == frame_size
    return req


def test_api_versions_v0_and_v3_advertise_the_supported_ranges(broker):
    for version in (0, 3):
        resp = kwire.api_versions(broker.bootstrap, version, T(10))
        assert resp["error_code"] == kwire.ERR_NONE
        assert resp["trailing_bytes"] == 0, "v%d response has extra bytes" % version
        if broker.external:
            assert kwire.API_API_VERSIONS in resp["apis"]
            continue
        for key, rng in ADVERTISED.items():
            assert resp["apis"].get(key) == rng, "api key %d, v%d response" % (key, version)


def test_api_versions_with_an_unsupported_version_answers_v0_with_unsupported_version(broker):
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        cid = conn.cid()
        req = kwire.frame(kwire.request_header_v2(kwire.API_API_VERSIONS, 127, cid)
                          + kwire.compact_string("sluice-tests") + kwire.compact_string("9")
                          + kwire.uvarint(0))
        resp = kwire.parse_api_versions(conn.call(req, cid), 0)
        assert resp["error_code"] == kwire.ERR_UNSUPPORTED_VERSION
        assert resp["apis"].get(kwire.API_API_VERSIONS, (None, None))[0] == 0
        if not broker.external:
            for key, rng in ADVERTISED.items():
                assert resp["apis"].get(key) == rng, "api key %d" % key
        # The connection stays usable: the client retries with a version it now knows.
        cid = conn.cid()
        again = kwire.parse_api_versions(conn.call(kwire.api_versions_request(3, cid), cid), 3)
        assert again["error_code"] == kwire.ERR_NONE
    assert_broker_serves(broker.bootstrap)


@pytest.mark.own_broker
def test_a_frame_larger_than_socket_request_max_bytes_closes_only_that_connection(make_broker):
    b = make_broker({"socket.request.max.bytes": REQUEST_MAX_BYTES})
    topic = create_topic(b.bootstrap, unique_topic("big-frame"))
    with kwire.Conn(b.bootstrap, T(10)) as bystander, kwire.Conn(b.bootstrap, T(10)) as conn:
        send_ignoring_reset(conn, produce_request_of_frame_size(topic, REQUEST_MAX_BYTES + 1,
                                                                conn.cid()))
        assert conn.wait_closed(T(10)), "an oversized frame must close the connection"
        cid = bystander.cid()
        resp = kwire.parse_api_versions(bystander.call(kwire.api_versions_request(0, cid), cid),
                                        0)
        assert resp["error_code"] == kwire.ERR_NONE, "another connection was disturbed"
    assert watermarks(b.bootstrap, topic, 0) == (0, 0)
    assert_broker_serves(b.bootstrap)


@pytest.mark.own_broker
def test_a_frame_of_exactly_socket_request_max_bytes_is_served(make_broker):
    b = make_broker({"socket.request.max.bytes": REQUEST_MAX_BYTES,
                     "message.max.bytes": 4 * REQUEST_MAX_BYTES})
    topic = create_topic(b.bootstrap, unique_topic("max-frame"))
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        cid = conn.cid()
        resp = kwire.parse_produce_v3(conn.call(
            produce_request_of_frame_size(topic, REQUEST_MAX_BYTES, cid), cid))
    assert resp[(topic, 0)]["error_code"] == kwire.ERR_NONE
    assert resp[(topic, 0)]["base_offset"] == 0
    assert watermarks(b.bootstrap, topic, 0) == (0, 1)


def test_an_absurd_frame_length_closes_the_connection(broker):
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        send_ignoring_reset(conn, kwire.i32(0x7FFFFFF0) + kwire.request_header_v1(18, 0, 1))
        assert conn.wait_closed(T(10))
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        send_ignoring_reset(conn, kwire.i32(-1) + kwire.request_header_v1(18, 0, 1))
        assert conn.wait_closed(T(10)), "a negative frame length must close the connection"
    assert_broker_serves(broker.bootstrap)


def test_a_truncated_frame_then_close_leaves_the_broker_serving(broker):
    for cut in (2, 4 + 10):   # inside the length prefix; inside the payload
        with kwire.Conn(broker.bootstrap, T(10)) as conn:
            full = kwire.api_versions_request(0, conn.cid())
            conn.send((kwire.i32(100) + full[4:])[:cut])   # claims 100 bytes, sends fewer
    assert_broker_serves(broker.bootstrap)


def test_a_half_sent_frame_does_not_block_other_clients(broker):
    with kwire.Conn(broker.bootstrap, T(10)) as stalled:
        stalled.send(kwire.i32(1000) + b"\x00\x12\x00\x00")   # then nothing more
        assert_broker_serves(broker.bootstrap)


def test_an_unknown_api_key_closes_the_connection_or_answers_an_error(broker):
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        send_ignoring_reset(conn, kwire.frame(kwire.request_header_v1(9999, 0, 7) + b"\x00" * 8))
        try:
            cid, payload = conn.recv_frame()
        except (kwire.Closed, ConnectionResetError):
            cid = None   # Kafka closes the connection
        if cid is not None:
            assert cid == 7
            assert len(payload) >= 2 and payload[:2] != b"\x00\x00", \
                "an unknown API must not be answered with NONE"
    assert_broker_serves(broker.bootstrap)


def test_an_unsupported_produce_version_closes_the_connection_or_answers_an_error(broker):
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        send_ignoring_reset(conn, kwire.frame(kwire.request_header_v1(kwire.API_PRODUCE, 99, 9)
                                              + b"\x00" * 16))
        try:
            cid, payload = conn.recv_frame()
        except (kwire.Closed, ConnectionResetError):
            cid = None
        if cid is not None:
            assert cid == 9
    assert_broker_serves(broker.bootstrap)


def test_a_batch_with_a_bad_crc_is_refused_with_corrupt_message_and_not_stored(broker):
    topic = create_topic(broker.bootstrap, unique_topic("crc"))
    bad = kwire.record_batch_v2([(b"k1", b"corrupt-1"), (b"k2", b"corrupt-2")], corrupt_crc=True)
    resp = kwire.produce_v3(broker.bootstrap, topic, 0, bad, T(10))
    assert resp["error_code"] == kwire.ERR_CORRUPT_MESSAGE, resp
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0), "the corrupt batch was stored"
    good = kwire.record_batch_v2([(b"k3", b"good-1"), (None, b"good-2"), (b"k5", None)])
    resp = kwire.produce_v3(broker.bootstrap, topic, 0, good, T(10))
    assert resp["error_code"] == kwire.ERR_NONE, resp
    assert resp["base_offset"] == 0
    got = read_partition(broker.bootstrap, topic, 0, 3, T(20), **{"check.crcs": True})
    assert [(m.offset(), m.key(), m.value()) for m in got] == \
        [(0, b"k3", b"good-1"), (1, None, b"good-2"), (2, b"k5", None)]
    assert watermarks(broker.bootstrap, topic, 0) == (0, 3)
    assert_broker_serves(broker.bootstrap)


def test_a_batch_with_a_flipped_payload_byte_is_refused_with_corrupt_message(broker):
    topic = create_topic(broker.bootstrap, unique_topic("flip"))
    batch = bytearray(kwire.record_batch_v2([(b"key", b"payload-to-damage")]))
    batch[-5] ^= 0x01   # inside the record value, after the CRC was computed
    resp = kwire.produce_v3(broker.bootstrap, topic, 0, bytes(batch), T(10))
    assert resp["error_code"] == kwire.ERR_CORRUPT_MESSAGE, resp
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0)
    assert_broker_serves(broker.bootstrap)


def test_produce_to_a_partition_that_does_not_exist_fails_with_unknown_topic_or_partition(
        broker):
    topic = create_topic(broker.bootstrap, unique_topic("nopart"), partitions=2)
    batch = kwire.record_batch_v2([(b"k", b"lost")])
    for partition in (2, 1000, -1):
        resp = kwire.produce_v3(broker.bootstrap, topic, partition, batch, T(10))
        assert resp["error_code"] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, (partition, resp)
    for partition in (0, 1):
        assert watermarks(broker.bootstrap, topic, partition) == (0, 0)
    assert_broker_serves(broker.bootstrap)


@pytest.mark.own_broker
def test_produce_to_a_topic_that_does_not_exist_fails_without_creating_it(make_broker):
    b = make_broker({"auto.create.topics.enable": "false"})
    topic = unique_topic("notopic")
    resp = kwire.produce_v3(b.bootstrap, topic, 0, kwire.record_batch_v2([(None, b"x")]), T(10))
    assert resp["error_code"] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, resp
    md = kwire.metadata_v0(b.bootstrap, [topic], T(10))
    assert md["topics"][topic]["error_code"] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION
    assert_broker_serves(b.bootstrap)


@pytest.mark.own_broker
def test_message_max_bytes_admits_a_batch_of_n_bytes_and_refuses_n_plus_one(make_broker):
    b = make_broker({"message.max.bytes": MESSAGE_MAX_BYTES})
    topic = create_topic(b.bootstrap, unique_topic("msgmax"))
    resp = kwire.produce_v3(b.bootstrap, topic, 0, batch_of_size(MESSAGE_MAX_BYTES + 1), T(10))
    assert resp["error_code"] == 10, resp   # MESSAGE_TOO_LARGE
    assert watermarks(b.bootstrap, topic, 0) == (0, 0)
    resp = kwire.produce_v3(b.bootstrap, topic, 0, batch_of_size(MESSAGE_MAX_BYTES), T(10))
    assert resp["error_code"] == kwire.ERR_NONE, resp
    assert watermarks(b.bootstrap, topic, 0) == (0, 1)
    assert_broker_serves(b.bootstrap)


def test_many_connections_opened_and_dropped_leave_the_broker_serving(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    for _ in range(100):
        s = socket.create_connection((host, int(port)), timeout=T(5))
        s.close()
    assert_broker_serves(broker.bootstrap)
