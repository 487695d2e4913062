"""Differences from Apache Kafka 3.7 that clients' own test suites found (issue 21), one test
each, every one failing before its fix. Sent with confluent-kafka's AdminClient, kafka-python's
protocol classes, or kwire.py where neither installed client (confluent-kafka 1.7,
kafka-python 2.0) has a call for the request."""
import os
import subprocess
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions, NewTopic

import kwire
from conftest import (T, admin_client, consume_range, consumer, create_topic, future_error_code,
                      produce_all, producer, read_partition, topic_partitions, unique_topic,
                      watermarks)
from test_admin import describe_topic_configs, source_of
from test_settings_messages import serve
from test_versions import Raw

P = pytest.importorskip("kafka.protocol")
from kafka.protocol import admin, commit, fetch, metadata  # noqa: E402

META = "Hello\0world!"  # 12 bytes, a NUL in the middle (librdkafka's test 0099)


def _committed(bootstrap, group, topic):
    raw = Raw(bootstrap)
    try:
        part = raw.call(commit.OffsetFetchRequest[1](group, [(topic, [0])])).topics[0][1][0]
    finally:
        raw.close()
    return part[1], part[2]


def _commit(bootstrap, group, topic, offset, meta):
    raw = Raw(bootstrap)
    try:
        req = commit.OffsetCommitRequest[2](group, -1, "", -1, [(topic, [(0, offset, meta)])])
        assert raw.call(req).topics[0][1][0][1] == 0
    finally:
        raw.close()


@pytest.mark.own_broker
def test_commit_metadata_with_a_nul_comes_back_whole_after_restart_and_kill(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("meta"), partitions=1)
    _commit(b.bootstrap, "g-meta", topic, 7, META)
    assert _committed(b.bootstrap, "g-meta", topic) == (7, META)
    b.restart()
    assert _committed(b.bootstrap, "g-meta", topic) == (7, META)  # replayed from the log
    _commit(b.bootstrap, "g-meta", topic, 8, "\0" + META + "\0")
    b.kill9()
    b.start()
    assert _committed(b.bootstrap, "g-meta", topic) == (8, "\0" + META + "\0")


def test_commit_metadata_limit_is_the_offsets_logs_16_bit_length(tmp_path):
    rc, err = serve(tmp_path, "--set", "offset.metadata.max.bytes=65536",
                    "--listen", "127.0.0.1:0")
    assert rc != 0 and "offset.metadata.max.bytes" in err and "65535" in err, (rc, err)


@pytest.mark.own_broker
def test_long_commit_metadata_full_of_nuls_survives_a_restart(make_broker):
    b = make_broker({"offset.metadata.max.bytes": 65535})
    topic = create_topic(b.bootstrap, unique_topic("meta-max"), partitions=1)
    meta = "\0x" * 16383 + "y"  # 32767 bytes: the longest string Kafka's protocol carries
    _commit(b.bootstrap, "g-max", topic, 3, meta)
    b.restart()
    assert _committed(b.bootstrap, "g-max", topic) == (3, meta)


def _dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


@pytest.mark.own_broker
def test_commit_metadata_with_nuls_survives_the_offsets_log_compaction(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("meta-snap"), partitions=1)
    raw = Raw(b.bootstrap)
    try:
        for i in range(300):  # 300 x 4 KB commits of one offset: 1.2 MB, mostly superseded
            meta = ("%d\0" % i).ljust(4000, "\0")
            req = commit.OffsetCommitRequest[2]("g-snap", -1, "", -1, [(topic, [(0, i, meta)])])
            assert raw.call(req).topics[0][1][0][1] == 0
    finally:
        raw.close()
    log_dir = os.path.join(b.data_dir, "internal", "offsets")
    assert _dir_bytes(log_dir) > 1 << 20
    b.restart()  # replayed, then rewritten as one snapshot (brk_offsets_open)
    assert _dir_bytes(log_dir) < 1 << 20, "the offsets log was not compacted"
    want = (299, "299\0".ljust(4000, "\0"))
    assert _committed(b.bootstrap, "g-snap", topic) == want
    b.kill9()
    b.start()
    assert _committed(b.bootstrap, "g-snap", topic) == want


# ---- configs Kafka 3.7 accepts that have no effect --------------------------------------------

NO_EFFECT = {"message.format.version": "2.8-IV1", "message.downconversion.enable": "false",
             "message.timestamp.difference.max.ms": "60000"}
KAFKA_DEFAULTS = {"message.format.version": "3.0-IV1", "message.downconversion.enable": "true",
                  "message.timestamp.difference.max.ms": "9223372036854775807"}


def _no_effect_lines(b, topic):
    return [x for x in b.stderr_text().splitlines()
            if "topic %s " % topic in x and "no effect" in x]


@pytest.mark.own_broker
def test_deprecated_topic_configs_are_accepted_logged_once_and_described(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("noeff"), config=NO_EFFECT)
    cfg = describe_topic_configs(b.bootstrap, topic)
    for name, value in NO_EFFECT.items():
        assert cfg[name].value == value, (name, cfg[name])
        assert source_of(cfg[name]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, name
    lines = _no_effect_lines(b, topic)
    assert len(lines) == 1 and all(n in lines[0] for n in NO_EFFECT), lines
    plain = create_topic(b.bootstrap, unique_topic("noeff-plain"))
    cfg = describe_topic_configs(b.bootstrap, plain)
    for name, value in KAFKA_DEFAULTS.items():  # Kafka 3.7's defaults, as Kafka lists them
        assert cfg[name].value == value and cfg[name].is_default, (name, cfg[name])
    assert _no_effect_lines(b, plain) == []


@pytest.mark.own_broker
def test_deprecated_topic_configs_are_accepted_by_both_alter_apis_and_survive_restart(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("noeff-alter"))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic,
                         set_config={"message.format.version": "3.0", "retention.ms": "600000"})
    futs = admin_client(b.bootstrap).alter_configs([res], request_timeout=T(10))
    assert future_error_code(futs[res], T(20)) is None
    err = kwire.incremental_alter_topic_configs(
        b.bootstrap, topic, [("message.downconversion.enable", kwire.OP_SET, "FALSE")], T(10))
    assert err[0] == kwire.ERR_NONE, err
    lines = _no_effect_lines(b, topic)
    assert len(lines) == 2, lines
    assert "message.format.version" in lines[0] and "downconversion" not in lines[0], lines
    assert "message.downconversion.enable" in lines[1] and "format" not in lines[1], lines
    b.restart()
    cfg = describe_topic_configs(b.bootstrap, topic)
    assert cfg["message.format.version"].value == "3.0"
    assert cfg["message.downconversion.enable"].value == "FALSE"
    assert cfg["retention.ms"].value == "600000"


@pytest.mark.parametrize("config", [{"message.format.version": "banana"},
                                    {"message.downconversion.enable": "yes"},
                                    {"message.timestamp.difference.max.ms": "-1"}],
                         ids=["version", "boolean", "negative"])
def test_deprecated_topic_configs_are_still_validated_as_kafka_does(broker, config):
    topic = unique_topic("noeff-bad")
    futs = admin_client(broker.bootstrap).create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1, config=config)],
        request_timeout=T(10))
    assert future_error_code(futs[topic], T(20)) == KafkaError.INVALID_CONFIG


@pytest.mark.own_broker
def test_deprecated_broker_settings_start_the_broker_with_a_line_each(make_broker):
    b = make_broker({"config.strict": "true", "log.message.format.version": "2.8",
                     "log.message.downconversion.enable": "true",
                     "log.message.timestamp.difference.max.ms": "1000"})
    err = b.stderr_text()
    for key in ("log.message.format.version", "log.message.downconversion.enable",
                "log.message.timestamp.difference.max.ms"):
        assert len([x for x in err.splitlines() if key in x and "no effect" in x]) == 1, err


def test_a_deprecated_broker_setting_with_a_bad_value_is_refused(tmp_path):
    rc, err = serve(tmp_path, "--set", "log.message.format.version=banana",
                    "--listen", "127.0.0.1:0")
    assert rc != 0 and "log.message.format.version" in err, (rc, err)


# ---- IncrementalAlterConfigs APPEND and SUBTRACT ----------------------------------------------

def _ialter(b, topic, *ops):
    return kwire.incremental_alter_topic_configs(b.bootstrap, topic, list(ops), T(10))


@pytest.mark.own_broker
def test_append_and_subtract_change_a_list_config_by_kafkas_rules_and_last(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("list"))
    policy = lambda: describe_topic_configs(b.bootstrap, topic)["cleanup.policy"].value  # noqa
    assert policy() == "delete"
    assert _ialter(b, topic, ("cleanup.policy", kwire.OP_APPEND, "compact"))[0] == 0
    assert policy() == "delete,compact"  # added after the default, which becomes the override
    assert _ialter(b, topic, ("cleanup.policy", kwire.OP_APPEND, "compact"))[0] == 0
    assert policy() == "delete,compact", "a value already there is not added twice"
    assert _ialter(b, topic, ("cleanup.policy", kwire.OP_SUBTRACT, "delete"))[0] == 0
    assert policy() == "compact"
    assert _ialter(b, topic, ("cleanup.policy", kwire.OP_SUBTRACT, "delete"))[0] == 0
    assert policy() == "compact", "subtracting an absent value is a no-op"
    b.kill9()
    b.start()
    cfg = describe_topic_configs(b.bootstrap, topic)["cleanup.policy"]
    assert cfg.value == "compact" and source_of(cfg) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value


@pytest.mark.parametrize("op", [kwire.OP_APPEND, kwire.OP_SUBTRACT], ids=["append", "subtract"])
def test_append_or_subtract_on_a_config_that_is_not_a_list_is_invalid_config(broker, op):
    topic = create_topic(broker.bootstrap, unique_topic("list-bad"))
    before = describe_topic_configs(broker.bootstrap, topic)
    err = _ialter(broker, topic, ("cleanup.policy", kwire.OP_SET, "compact"),
                  ("retention.ms", op, "1000"))
    assert err[0] == kwire.ERR_INVALID_CONFIG, err
    after = describe_topic_configs(broker.bootstrap, topic)
    for name in ("cleanup.policy", "retention.ms"):  # nothing of the request applied
        assert after[name].value == before[name].value, name


def test_subtract_of_every_policy_is_refused_and_applies_nothing(broker):
    topic = create_topic(broker.bootstrap, unique_topic("list-empty"))
    err = _ialter(broker, topic, ("cleanup.policy", kwire.OP_SUBTRACT, "delete"))
    assert err[0] == kwire.ERR_INVALID_CONFIG, err
    assert describe_topic_configs(broker.bootstrap, topic)["cleanup.policy"].value == "delete"


# ---- CreateTopics with a manual replica assignment ---------------------------------------------

NODE_ID = 1  # the broker's default node.id


def _create_assigned(b, topic, assignment, num_partitions=3):
    futs = admin_client(b.bootstrap).create_topics(
        [NewTopic(topic, num_partitions, replication_factor=-1, replica_assignment=assignment)],
        request_timeout=T(10))
    return future_error_code(futs[topic], T(20))


def test_create_topics_accepts_an_assignment_to_this_broker_only(broker):
    topic = unique_topic("assign")
    assert _create_assigned(broker, topic, [[NODE_ID]] * 3) is None
    assert topic_partitions(broker.bootstrap, topic) == 3
    msgs = produce_all(producer(broker.bootstrap), topic, [{"value": b"x"}], partition=2)
    assert msgs[0].offset() == 0


@pytest.mark.parametrize("assignment", [[[NODE_ID], [NODE_ID + 1]], [[NODE_ID, NODE_ID]],
                                        [[NODE_ID, NODE_ID + 1]], [[0]]],
                         ids=["other-node", "twice", "two-replicas", "node-0"])
def test_create_topics_refuses_an_assignment_naming_another_node(broker, assignment):
    topic = unique_topic("assign-bad")
    assert _create_assigned(broker, topic, assignment, len(assignment)) == \
        KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert topic not in admin_client(broker.bootstrap).list_topics(timeout=T(10)).topics


@pytest.mark.parametrize("partitions, replication, assignment, error", [
    (3, -1, [(0, [NODE_ID])], 42),              # INVALID_REQUEST: count not -1
    (-1, 1, [(0, [NODE_ID])], 42),              # INVALID_REQUEST: factor not -1
    (-1, -1, [(0, [NODE_ID]), (2, [NODE_ID])], 39),  # not 0..n-1
    (-1, -1, [(0, [NODE_ID]), (0, [NODE_ID])], 39),  # a partition twice
    (-1, -1, [(0, [])], 39),                    # an empty replica list
    (-1, -1, [(1, [NODE_ID]), (0, [NODE_ID])], 0),   # any order
], ids=["count", "factor", "gap", "twice", "empty", "unordered"])
def test_create_topics_checks_an_assignment_as_kafka_does(broker, partitions, replication,
                                                          assignment, error):
    topic = unique_topic("assign-raw")
    raw = Raw(broker.bootstrap)
    try:
        req = admin.CreateTopicsRequest[1]([(topic, partitions, replication, assignment, [])],
                                           10000, False)
        got = raw.call(req).topic_errors[0]
    finally:
        raw.close()
    assert got[1] == error, got
    if error == 0:
        assert topic_partitions(broker.bootstrap, topic) == len(assignment)


@pytest.mark.parametrize("assignment, error", [
    ([[NODE_ID], [NODE_ID]], None), ([[NODE_ID]], KafkaError.INVALID_REPLICA_ASSIGNMENT),
    ([[NODE_ID], [NODE_ID + 1]], KafkaError.INVALID_REPLICA_ASSIGNMENT)],
    ids=["this-node", "too-few", "other-node"])
def test_create_partitions_takes_an_assignment_to_this_broker_only(broker, assignment, error):
    topic = create_topic(broker.bootstrap, unique_topic("assign-parts"), partitions=1)
    futs = admin_client(broker.bootstrap).create_partitions(
        [NewPartitions(topic, 3, replica_assignment=assignment)], request_timeout=T(10))
    assert future_error_code(futs[topic], T(20)) == error
    assert topic_partitions(broker.bootstrap, topic) == (3 if error is None else 1)


# ---- DeleteRecords -----------------------------------------------------------------------------

def _delete(b, topic, offset, version=2, partition=0):
    return kwire.delete_records(b.bootstrap, version, {(topic, partition): offset},
                                T(10))[(topic, partition)]


def _fetch_error(b, topic, offset):
    raw = Raw(b.bootstrap)
    try:
        req = fetch.FetchRequest[4](-1, 100, 1, 1 << 20, 0, [(topic, [(0, offset, 1 << 20)])])
        return raw.call(req).topics[0][1][0][1]
    finally:
        raw.close()


def _segment_bases(b, topic):
    d = os.path.join(b.data_dir, "topics", topic, "0")
    return sorted(int(f[:-4]) for f in os.listdir(d) if f.endswith(".log"))


def _seeded_topic(b, prefix, n=100, config=None):
    cfg = {"segment.bytes": "1024"}
    cfg.update(config or {})
    topic = create_topic(b.bootstrap, unique_topic(prefix), config=cfg)
    prod = producer(b.bootstrap, **{"linger.ms": 0, "batch.num.messages": 1})
    produce_all(prod, topic, [{"value": b"%03d" % i + b"." * 100} for i in range(n)])
    return topic


def test_api_versions_advertises_delete_records_v0_to_v2(broker):
    apis = kwire.api_versions(broker.bootstrap, 3, T(10))["apis"]
    assert apis[kwire.API_DELETE_RECORDS] == (0, 2)


@pytest.mark.own_broker
def test_delete_records_moves_the_log_start_durably_in_every_version(make_broker):
    b = make_broker()
    topic = _seeded_topic(b, "delrec")
    first_bases = _segment_bases(b, topic)
    assert len(first_bases) > 5 and first_bases[0] == 0
    for version, offset in ((0, 10), (1, 30), (2, 55)):
        assert _delete(b, topic, offset, version) == (0, offset), version
    assert watermarks(b.bootstrap, topic, 0) == (55, 100)
    assert _fetch_error(b, topic, 54) == kwire.ERR_OFFSET_OUT_OF_RANGE
    assert _fetch_error(b, topic, 55) == 0
    got = read_partition(b.bootstrap, topic, 0, 45)
    assert [m.offset() for m in got] == list(range(55, 100))
    assert got[0].value().startswith(b"055")
    bases = _segment_bases(b, topic)  # whole segments below 55 are gone, the one holding it kept
    assert 0 < bases[0] <= 55 and len(bases) < len(first_bases), (first_bases, bases)
    assert _delete(b, topic, 20) == (0, 55), "an offset below the start changes nothing"
    from confluent_kafka import TopicPartition
    c = consumer(b.bootstrap)
    try:  # by time: the first record (timestamp >= 0) is now offset 55
        assert c.offsets_for_times([TopicPartition(topic, 0, 0)], timeout=T(10))[0].offset == 55
    finally:
        c.close()
    b.restart()
    assert watermarks(b.bootstrap, topic, 0) == (55, 100)
    assert _fetch_error(b, topic, 54) == kwire.ERR_OFFSET_OUT_OF_RANGE
    assert _delete(b, topic, -1) == (0, 100), "-1: up to the high watermark"
    b.kill9()
    b.start()
    assert watermarks(b.bootstrap, topic, 0) == (100, 100)
    produce_all(producer(b.bootstrap), topic, [{"value": b"after"}])
    assert [m.value() for m in read_partition(b.bootstrap, topic, 0, 1)] == [b"after"]


@pytest.mark.own_broker
def test_delete_records_inside_the_active_segment_survives_a_kill(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("delrec-active"))
    produce_all(producer(b.bootstrap), topic, [{"value": b"v%d" % i} for i in range(10)])
    assert _delete(b, topic, 4, 1) == (0, 4)
    b.kill9()
    b.start()
    assert watermarks(b.bootstrap, topic, 0) == (4, 10)
    assert [m.offset() for m in read_partition(b.bootstrap, topic, 0, 6)] == list(range(4, 10))


def test_delete_records_refuses_what_kafka_refuses(broker):
    topic = create_topic(broker.bootstrap, unique_topic("delrec-bad"))
    produce_all(producer(broker.bootstrap), topic, [{"value": b"x"}] * 5)
    assert _delete(broker, topic, 6) == (kwire.ERR_OFFSET_OUT_OF_RANGE, -1)  # past the HW
    assert _delete(broker, topic, -2) == (kwire.ERR_OFFSET_OUT_OF_RANGE, -1)
    assert _delete(broker, topic, 1, partition=1) == (kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, -1)
    assert _delete(broker, unique_topic("none"), 0) == (kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, -1)
    compacted = create_topic(broker.bootstrap, unique_topic("delrec-compact"),
                             config={"cleanup.policy": "compact"})
    assert _delete(broker, compacted, 0) == (kwire.ERR_POLICY_VIOLATION, -1)
    assert watermarks(broker.bootstrap, topic, 0) == (0, 5), "nothing moved"


@pytest.fixture(scope="module")
def rdk_delete_records(tmp_path_factory):
    """tools/rdk_delete_records.c built against Debian's librdkafka (2.0.2)."""
    src = os.path.join(os.path.dirname(__file__), "tools", "rdk_delete_records.c")
    out = str(tmp_path_factory.mktemp("rdk") / "rdk_delete_records")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "rdkafka"], capture_output=True,
                           text=True, check=True, timeout=T(30)).stdout.split()
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", out, src] + flags, check=True,
                   timeout=T(120))
    return out


def test_librdkafka_delete_records_moves_the_low_watermark(broker, rdk_delete_records):
    topic = create_topic(broker.bootstrap, unique_topic("delrec-rdk"), partitions=2)
    produce_all(producer(broker.bootstrap), topic, [{"value": b"x"}] * 8, partition=1)
    run = lambda offset: subprocess.run(  # noqa: E731
        [rdk_delete_records, broker.bootstrap, topic, "1", str(offset)], capture_output=True,
        text=True, timeout=T(40))
    p = run(5)
    assert p.returncode == 0 and p.stdout.split() == ["1", "5", "NO_ERROR"], (p.stdout, p.stderr)
    assert watermarks(broker.bootstrap, topic, 1) == (5, 8)
    p = run(9)
    assert p.returncode == 0 and p.stdout.split() == ["1", "-1", "OFFSET_OUT_OF_RANGE"], p.stdout
    p = run(-1)  # RD_KAFKA_OFFSET_END: up to the high watermark
    assert p.returncode == 0 and p.stdout.split() == ["1", "8", "NO_ERROR"], p.stdout


# ---- leader epochs (OffsetForLeaderEpoch, Fetch, ListOffsets) ------------------------------

KAFKA_37_RANGES = {kwire.API_OFFSET_FOR_LEADER_EPOCH: (0, 4), kwire.API_DESCRIBE_LOG_DIRS: (0, 4),
                   kwire.API_ELECT_LEADERS: (0, 2), kwire.API_DESCRIBE_CLUSTER: (0, 1),
                   kwire.API_DESCRIBE_TRANSACTIONS: (0, 0), kwire.API_LIST_TRANSACTIONS: (0, 0),
                   kwire.API_DESCRIBE_TOPIC_PARTITIONS: (0, 0),
                   kwire.API_DESCRIBE_USER_SCRAM_CREDENTIALS: (0, 0),
                   kwire.API_ALTER_USER_SCRAM_CREDENTIALS: (0, 0)}


def test_api_versions_advertises_the_epoch_cluster_and_transaction_apis_of_kafka_3_7(broker):
    apis = kwire.api_versions(broker.bootstrap, 3, T(10))["apis"]
    assert {k: apis.get(k) for k in KAFKA_37_RANGES} == KAFKA_37_RANGES


def _epoch_end(b, version, topic, current, epoch, partition=0):
    return kwire.call(b.bootstrap, kwire.offset_for_leader_epoch_request,
                      kwire.parse_offset_for_leader_epoch, version, T(10),
                      {(topic, partition): (current, epoch)})[(topic, partition)]


def _produce_n(b, topic, n, start=0):
    produce_all(producer(b.bootstrap, **{"linger.ms": 0}), topic,
                [{"value": b"v%d" % i} for i in range(start, start + n)])


def _assert_epoch_answers(b, topic, end):
    for v in range(5):
        ep = 0 if v >= 1 else None
        assert _epoch_end(b, v, topic, 0, 0) == (0, ep, end), v
        assert _epoch_end(b, v, topic, -1, 0) == (0, ep, end), v
        # an epoch this partition never had: Kafka's undefined answer, no error
        assert _epoch_end(b, v, topic, 0, 3) == (0, -1 if v >= 1 else None, -1), v
        assert _epoch_end(b, v, topic, 0, 0, partition=9)[0] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION
    for v in range(2, 5):  # current_leader_epoch from v2: checked as Kafka's leader does
        assert _epoch_end(b, v, topic, 1, 0)[0] == kwire.ERR_UNKNOWN_LEADER_EPOCH, v
        assert _epoch_end(b, v, topic, -2, 0)[0] == kwire.ERR_FENCED_LEADER_EPOCH, v


@pytest.mark.own_broker
def test_offset_for_leader_epoch_answers_epoch_0_up_to_the_log_end_across_restart_and_kill(
        make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("epoch"), partitions=1)
    _assert_epoch_answers(b, topic, 0)  # the epoch is there before any record
    _produce_n(b, topic, 10)
    _assert_epoch_answers(b, topic, 10)
    b.restart()
    _assert_epoch_answers(b, topic, 10)
    _produce_n(b, topic, 5, start=10)
    b.kill9()
    b.start()
    _assert_epoch_answers(b, topic, 15)
    assert _fetch_epochs(b, topic, 0) == [0] * 15  # every stored batch carries epoch 0


def _fetch(b, version, topic, offset, current, last=-1):
    return kwire.call(b.bootstrap, kwire.fetch_request, kwire.parse_fetch, version, T(10),
                      {(topic, 0): (offset, current, last)})[(topic, 0)]


def _batches(b, topic, offset=0, partition=0):
    """Every batch of the partition from offset: [(base, next, epoch, bytes)]."""
    out = []
    for _ in range(1000):  # bounded: one batch per record at most
        res = kwire.call(b.bootstrap, kwire.fetch_request, kwire.parse_fetch, 11, T(10),
                         {(topic, partition): (offset, 0, -1)})[(topic, partition)]
        assert res["error_code"] == 0
        batches = kwire.batch_headers(res["records"])
        if not batches:
            return out
        out += batches
        offset = batches[-1][1]
    raise AssertionError("fetch did not reach the end")


def _fetch_epochs(b, topic, offset):
    return [epoch for base, end, epoch, _n in _batches(b, topic, offset)
            for _ in range(end - base)]


def test_fetch_checks_the_current_leader_epoch_and_reports_a_diverging_epoch(broker):
    topic = create_topic(broker.bootstrap, unique_topic("epoch-fetch"), partitions=1)
    _produce_n(broker, topic, 3)
    for v in (11, 12):
        assert _fetch(broker, v, topic, 0, 0)["records"], v
        assert _fetch(broker, v, topic, 0, -1)["records"], v
        assert _fetch(broker, v, topic, 0, 1)["error_code"] == kwire.ERR_UNKNOWN_LEADER_EPOCH, v
        assert _fetch(broker, v, topic, 0, -2)["error_code"] == kwire.ERR_FENCED_LEADER_EPOCH, v
    fenced = _fetch(broker, 12, topic, 0, 7)
    assert fenced["current_leader"] == (NODE_ID, 0) and not fenced["records"]
    # v12: a consumer whose last fetched epoch 0 ends before its fetch offset has diverged
    same = _fetch(broker, 12, topic, 3, 0, last=0)
    assert same["error_code"] == 0 and "diverging_epoch" not in same
    diverged = _fetch(broker, 12, topic, 5, 0, last=0)
    assert diverged["error_code"] == 0 and diverged["diverging_epoch"] == (0, 3)
    assert not diverged["records"] and diverged["high_watermark"] == 3
    unknown = _fetch(broker, 12, topic, 1, 0, last=4)  # an epoch never led here
    assert unknown["error_code"] == kwire.ERR_OFFSET_OUT_OF_RANGE


def test_list_offsets_checks_the_current_leader_epoch_and_returns_epoch_0(broker):
    topic = create_topic(broker.bootstrap, unique_topic("epoch-lo"), partitions=1)
    _produce_n(broker, topic, 4)

    def lo(current, ts):
        return kwire.call(broker.bootstrap, kwire.list_offsets_v4_request,
                          kwire.parse_list_offsets_v4, 4, T(10),
                          {(topic, 0): (current, ts)})[(topic, 0)]
    assert lo(0, -1) == (0, -1, 4, 0)
    assert lo(-1, -2) == (0, -1, 0, 0)
    assert lo(0, 1 << 60)[2:] == (-1, -1)  # no offset: no epoch either, as in Kafka
    assert lo(2, -1)[0] == kwire.ERR_UNKNOWN_LEADER_EPOCH
    assert lo(-5, -1)[0] == kwire.ERR_FENCED_LEADER_EPOCH


@pytest.mark.own_broker
def test_a_consumer_keeps_its_position_when_the_broker_restarts_mid_consumption(make_broker):
    from confluent_kafka import TopicPartition
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("epoch-cons"), partitions=1)
    _produce_n(b, topic, 200)
    b.listen = b.bootstrap  # restart on the same port: the consumer keeps its bootstrap
    c = consumer(b.bootstrap, **{"group.id": "g-epoch", "auto.offset.reset": "error",
                                 "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        first = consume_range(c, 120)
        assert len(first) == 120
        c.commit(message=first[-1], asynchronous=False)
        b.restart()
        rest = consume_range(c, 80)
        _produce_n(b, topic, 10, start=200)
        b.kill9()
        b.start()
        rest += consume_range(c, 10)
    finally:
        c.close()
    # no reset (auto.offset.reset=error would report one), no gap, no repeat
    values = [m.value() for m in first + rest]
    assert values == [b"v%d" % i for i in range(210)]
    assert _committed(b.bootstrap, "g-epoch", topic)[0] == 120


# ---- DescribeCluster, DescribeLogDirs, DescribeTopicPartitions, ElectLeaders ---------------

def test_describe_cluster_names_this_node_as_the_only_broker_and_the_controller(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    raw = Raw(broker.bootstrap)
    try:
        cluster_id = raw.call(metadata.MetadataRequest[2]([])).cluster_id
    finally:
        raw.close()
    assert cluster_id
    for v in (0, 1):
        d = kwire.call(broker.bootstrap, kwire.describe_cluster_request,
                       kwire.parse_describe_cluster, v, T(10), include_ops=True)
        assert d["error_code"] == 0 and d["controller_id"] == NODE_ID, d
        assert d["brokers"] == [(NODE_ID, host, int(port), None)], d
        assert d["cluster_id"] == cluster_id, d
        assert d["cluster_authorized_operations"] > 0, d  # no authorizer: everything
        plain = kwire.call(broker.bootstrap, kwire.describe_cluster_request,
                           kwire.parse_describe_cluster, v, T(10))
        assert plain["cluster_authorized_operations"] == -2 ** 31
    ctl = kwire.call(broker.bootstrap, kwire.describe_cluster_request,
                     kwire.parse_describe_cluster, 1, T(10), endpoint_type=2)
    assert ctl["error_code"] == kwire.ERR_UNSUPPORTED_ENDPOINT_TYPE and not ctl["brokers"]


def _log_dirs(b, v, topics):
    return kwire.call(b.bootstrap, kwire.describe_log_dirs_request, kwire.parse_describe_log_dirs,
                      v, T(10), topics)


def test_describe_log_dirs_reports_the_data_dir_and_each_partitions_size(broker):
    topic = create_topic(broker.bootstrap, unique_topic("logdirs"), partitions=2)
    _produce_n(broker, topic, 20)  # keyless: the sticky partitioner may use either partition
    # Kafka's size of a partition: the bytes of its batches (segment files are preallocated)
    sizes = {p: sum(n for *_x, n in _batches(broker, topic, partition=p)) for p in (0, 1)}
    for v in range(5):
        res = _log_dirs(broker, v, None)
        assert res["error_code"] == 0 and len(res["dirs"]) == 1, res
        ld = res["dirs"][0]
        assert ld["error_code"] == 0 and ld["log_dir"] == os.path.realpath(broker.data_dir)
        assert {p: ld["partitions"].get((topic, p)) for p in (0, 1)} == sizes, v
        assert sum(sizes.values()) > 0
        if v >= 4:
            assert ld["total_bytes"] >= ld["usable_bytes"] > 0
        named = _log_dirs(broker, v, {topic: [1, 7], "no-such-topic": [0]})["dirs"][0]
        assert named["partitions"] == {(topic, 1): sizes[1]}, v


def _dtp(b, topics, limit=2000, cursor=None):
    return kwire.call(b.bootstrap, kwire.describe_topic_partitions_request,
                      kwire.parse_describe_topic_partitions, 0, T(10), topics, limit=limit,
                      cursor=cursor)


def test_describe_topic_partitions_pages_by_partition_limit_with_its_cursor(broker):
    base = unique_topic("dtp")
    a, b_, c = base + "-a", base + "-b", base + "-c"
    for name, n in ((c, 1), (a, 3), (b_, 2)):
        create_topic(broker.bootstrap, name, partitions=n)
    pages, cursor = [], None
    for _ in range(10):  # bounded: 3 pages expected
        res = _dtp(broker, [c, a, b_], limit=2, cursor=cursor)
        pages.append([(t[1], [p[0] for p in t[2]]) for t in res["topics"]])
        for err, _name, parts in res["topics"]:
            assert err == 0
            for _idx, leader, epoch, replicas, isr in parts:
                assert (leader, epoch, replicas, isr) == (NODE_ID, 0, [NODE_ID], [NODE_ID])
        cursor = res["next_cursor"]
        if cursor is None:
            break
    assert pages == [[(a, [0, 1])], [(a, [2]), (b_, [0])], [(b_, [1]), (c, [0])]]
    whole = _dtp(broker, [b_, "no-such-topic-" + base])
    assert [(t[0], t[1]) for t in whole["topics"]] == [
        (0, b_), (kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, "no-such-topic-" + base)]
    assert whole["next_cursor"] is None
    assert [t[0] for t in _dtp(broker, ["bad name!"])["topics"]] == [
        kwire.ERR_INVALID_TOPIC_EXCEPTION]
    # every topic (none named), sorted, from a cursor; a cursor outside the named topics is
    # refused as Kafka refuses it
    every = _dtp(broker, [], cursor=(b_, 1))
    assert [(t[1], [p[0] for p in t[2]]) for t in every["topics"]][:2] == [(b_, [1]), (c, [0])]
    bad = _dtp(broker, [a], cursor=(c, 0))
    assert [t[0] for t in bad["topics"]] == [kwire.ERR_INVALID_REQUEST]


def test_elect_leaders_finds_every_partition_already_led_by_its_preferred_replica(broker):
    topic = create_topic(broker.bootstrap, unique_topic("elect"), partitions=2)
    for v in range(3):
        res = kwire.call(broker.bootstrap, kwire.elect_leaders_request, kwire.parse_elect_leaders,
                         v, T(10), {topic: [0, 1, 5]})
        assert res["error_code"] == 0
        assert res["partitions"] == {
            (topic, 0): (kwire.ERR_ELECTION_NOT_NEEDED,
                         "Leader election not needed for topic partition."),
            (topic, 1): (kwire.ERR_ELECTION_NOT_NEEDED,
                         "Leader election not needed for topic partition."),
            (topic, 5): (kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, "No such partition as %s-5" % topic),
        }, v
        res = kwire.call(broker.bootstrap, kwire.elect_leaders_request, kwire.parse_elect_leaders,
                         v, T(10), {"no-" + topic: [0]})
        assert res["partitions"] == {("no-" + topic, 0): (
            kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, "No such topic as no-" + topic)}
        # all partitions (null): every topic, listing only the partitions elected (none)
        every = kwire.call(broker.bootstrap, kwire.elect_leaders_request,
                           kwire.parse_elect_leaders, v, T(10), None)
        assert every["error_code"] == 0 and every["partitions"] == {}, v
        assert topic in every["topics"], v


def test_elect_leaders_and_describe_log_dirs_answer_a_partition_named_twice_once(broker):
    topic = create_topic(broker.bootstrap, unique_topic("dups"), partitions=2)
    # a topic named twice, a partition twice: Kafka reads the request as a set
    e = kwire.Enc(True)
    body = (kwire.i8(0) + e.arr([e.s(topic) + e.arr([1, 1], kwire.i32) + e.tag(),
                           e.s(topic) + e.arr([0, 1], kwire.i32) + e.tag()])
            + kwire.i32(10000) + e.tag())
    frame = kwire.frame(kwire.request_header_v2(kwire.API_ELECT_LEADERS, 2, 2) + body)
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        payload = conn.call(frame, 2)
    d = kwire.Dec(payload, True)
    d.tag()
    d.r.i32()
    d.r.i16()
    topics = d.arr(lambda: (d.s(), d.arr(lambda: (d.r.i32(), d.r.i16(), d.s(), d.tag())[0]),
                            d.tag())[:2])
    assert topics == [(topic, [1, 0])]
    dirs = _log_dirs(broker, 4, {topic: [0, 0, 1, 1]})["dirs"][0]
    assert sorted(dirs["partitions"]) == [(topic, 0), (topic, 1)] and dirs["entries"] == 2
    with kwire.Conn(broker.bootstrap, T(10)) as conn:
        payload = conn.call(kwire.describe_transactions_request(0, 3, ["t-x", "t-x", "t-y"]), 3)
    tx = kwire.parse_describe_transactions(payload, 0, as_list=True)
    assert [t for t, _ in tx] == ["t-x", "t-y"]


# ---- ListTransactions, DescribeTransactions -------------------------------------------------

def _list_txns(b, states=(), pids=()):
    return kwire.call(b.bootstrap, kwire.list_transactions_request, kwire.parse_list_transactions,
                      0, T(10), states=states, pids=pids)


def _describe_txns(b, tids):
    return kwire.call(b.bootstrap, kwire.describe_transactions_request,
                      kwire.parse_describe_transactions, 0, T(10), tids)


def _txn_producer(b, tid):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid,
                  "transaction.timeout.ms": 45000, "linger.ms": 0})
    p.init_transactions(T(20))
    return p


@pytest.mark.own_broker
def test_list_and_describe_transactions_follow_a_transaction_through_its_states(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("txn-desc"), partitions=3)
    tid = unique_topic("tx")
    p = _txn_producer(b, tid)
    listed = _list_txns(b)["transactions"]
    pid = listed[tid][0]
    assert listed[tid] == (pid, "Empty") and pid >= 0
    d = _describe_txns(b, [tid])[tid]
    assert (d["error_code"], d["state"], d["start_ms"], d["topics"]) == (0, "Empty", -1, {})
    assert (d["producer_id"], d["timeout_ms"]) == (pid, 45000)
    before_ms = int(time.time() * 1000)
    p.begin_transaction()
    for part in (2, 0):
        p.produce(topic, b"x", partition=part)
    assert p.flush(T(20)) == 0
    d = _describe_txns(b, [tid, "no-such-" + tid])
    assert d["no-such-" + tid]["error_code"] == kwire.ERR_TRANSACTIONAL_ID_NOT_FOUND
    d = d[tid]
    assert (d["state"], d["topics"], d["producer_id"]) == ("Ongoing", {topic: [0, 2]}, pid)
    assert before_ms - 5000 <= d["start_ms"] <= int(time.time() * 1000) + 5000
    res = _list_txns(b, states=["Ongoing", "Banana"])
    assert res["transactions"] == {tid: (pid, "Ongoing")}
    assert res["unknown_state_filters"] == ["Banana"]
    assert _list_txns(b, pids=[pid + 1000])["transactions"] == {}
    p.commit_transaction(T(20))
    assert _list_txns(b, states=["Ongoing"])["transactions"] == {}
    assert _list_txns(b, pids=[pid])["transactions"] == {tid: (pid, "CompleteCommit")}
    b.restart()  # the coordinator's state file
    assert _describe_txns(b, [tid])[tid]["state"] == "CompleteCommit"


# ---- ACLs of the new APIs, as Kafka checks them ---------------------------------------------

@pytest.mark.own_broker
def test_the_cluster_and_epoch_apis_ask_kafkas_acls(make_broker):
    from kafka.admin import ACLOperation as AclOperation, ResourceType
    from test_acls import acl, add_acls_as_super, cluster_acl, secured
    topic = unique_topic("acl-epoch")
    b = secured(make_broker, topics=[topic])
    assert _epoch_end(b, 4, topic, -1, 0)[0] == 29  # TOPIC_AUTHORIZATION_FAILED
    assert _dtp(b, [topic])["topics"][0][0] == 29
    assert _dtp(b, [])["topics"] == []  # all topics: the hidden ones silently left out
    denied = _log_dirs(b, 4, None)
    assert denied == {"error_code": kwire.ERR_CLUSTER_AUTHORIZATION_FAILED, "dirs": []}
    el = kwire.call(b.bootstrap, kwire.elect_leaders_request, kwire.parse_elect_leaders, 2, T(10),
                    {topic: [0]})
    assert el["error_code"] == kwire.ERR_CLUSTER_AUTHORIZATION_FAILED
    assert el["partitions"][(topic, 0)][0] == kwire.ERR_CLUSTER_AUTHORIZATION_FAILED
    dc = kwire.call(b.bootstrap, kwire.describe_cluster_request, kwire.parse_describe_cluster, 1,
                    T(10), include_ops=True)
    assert dc["error_code"] == 0 and dc["cluster_authorized_operations"] == 0  # no DESCRIBE
    assert _describe_txns(b, ["tx-hidden"])["tx-hidden"]["error_code"] == 53  # not NOT_FOUND
    add_acls_as_super(b, [acl(AclOperation.DESCRIBE, ResourceType.TOPIC, topic),
                          cluster_acl(AclOperation.DESCRIBE), cluster_acl(AclOperation.ALTER)])
    assert _epoch_end(b, 4, topic, -1, 0) == (0, 0, 0)
    assert [t[1] for t in _dtp(b, [])["topics"]] == [topic]
    # Kafka's order: the topics it may describe, then the named ones it may not
    mixed = _dtp(b, ["aaa-" + topic, topic])["topics"]
    assert [(t[0], t[1]) for t in mixed] == [(0, topic), (29, "aaa-" + topic)]
    assert _log_dirs(b, 4, None)["dirs"][0]["partitions"] == {(topic, 0): 0}
    el = kwire.call(b.bootstrap, kwire.elect_leaders_request, kwire.parse_elect_leaders, 2, T(10),
                    {topic: [0]})
    assert el["partitions"][(topic, 0)][0] == kwire.ERR_ELECTION_NOT_NEEDED
    dc = kwire.call(b.bootstrap, kwire.describe_cluster_request, kwire.parse_describe_cluster, 1,
                    T(10), include_ops=True)
    assert dc["cluster_authorized_operations"] != 0


# ---- DescribeUserScramCredentials, AlterUserScramCredentials --------------------------------

def _scram_upsert(name, password, mech=kwire.SCRAM_SHA_256, iterations=4096, salt=None):
    salt = salt if salt is not None else os.urandom(24)
    return (name, mech, iterations, salt,
            kwire.scram_salted_password(mech, password, salt, iterations))


def _alter_scram(b, deletions=(), upsertions=()):
    return kwire.call(b.bootstrap, kwire.alter_user_scram_credentials_request,
                      kwire.parse_alter_user_scram_credentials, 0, T(10), deletions, upsertions)


def _describe_scram(b, users=None):
    return kwire.call(b.bootstrap, kwire.describe_user_scram_credentials_request,
                      kwire.parse_describe_user_scram_credentials, 0, T(10), users)


def _scram_login_produces(b, user, password, mech="SCRAM-SHA-256"):
    """Whether a confluent-kafka producer logging in as user on the SASL listener gets metadata
    and delivers a record (nothing is queued when the login fails)."""
    from confluent_kafka import KafkaException, Producer
    p = Producer({"bootstrap.servers": b.listeners["SASL_PLAINTEXT"],
                  "security.protocol": "sasl_plaintext", "sasl.mechanisms": mech,
                  "sasl.username": user, "sasl.password": password,
                  "message.timeout.ms": int(T(10) * 1000), "acks": "all"})
    try:
        p.list_topics(timeout=T(5))
    except KafkaException:
        return False
    errors = []
    p.produce(unique_topic("scram"), b"v", on_delivery=lambda err, _m: errors.append(err))
    p.flush(T(15))
    return errors == [None]


SASL_LISTENERS = {"listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"}


@pytest.mark.own_broker
def test_alter_user_scram_credentials_adds_a_user_who_logs_in_with_scram_sha_256(make_broker):
    b = make_broker(settings=SASL_LISTENERS)
    assert _alter_scram(b, upsertions=[_scram_upsert("carol", "carol-secret", iterations=8192),
                                       _scram_upsert("dave", "d", kwire.SCRAM_SHA_512)]) == [
        ("carol", 0, None), ("dave", 0, None)]
    with open(os.path.join(b.data_dir, "credentials")) as fh:  # durable before the answer
        lines = [ln.split()[:2] for ln in fh if not ln.startswith("#")]
    assert lines == [["carol", "SCRAM-SHA-256"], ["dave", "SCRAM-SHA-512"]]
    assert _scram_login_produces(b, "carol", "carol-secret")  # no restart in between
    assert not _scram_login_produces(b, "carol", "wrong")
    assert _scram_login_produces(b, "dave", "d", "SCRAM-SHA-512")
    # a new password replaces the old one; a deletion removes one mechanism
    assert _alter_scram(b, upsertions=[_scram_upsert("carol", "new-secret")])[0][1] == 0
    assert _scram_login_produces(b, "carol", "new-secret")
    assert not _scram_login_produces(b, "carol", "carol-secret")
    assert _alter_scram(b, deletions=[("dave", kwire.SCRAM_SHA_512)]) == [("dave", 0, None)]
    assert not _scram_login_produces(b, "dave", "d", "SCRAM-SHA-512")
    b.kill9()
    b.start()
    d = _describe_scram(b)
    assert (d["error_code"], d["results"]) == (0, [("carol", 0, None, [(1, 4096)])])


def test_alter_user_scram_credentials_refuses_what_kafka_3_7_refuses(broker):
    ok = _scram_upsert("erin-" + unique_topic("u"), "pw", iterations=16384)
    res = _alter_scram(broker, deletions=[("nobody-here", 1), ("", 1), ("mech-zero", 0)],
                       upsertions=[_scram_upsert("few", "pw", iterations=4095),
                                   _scram_upsert("many", "pw", iterations=16385),
                                   _scram_upsert("", "pw"),
                                   _scram_upsert("sha1", "pw", mech=3),
                                   _scram_upsert("has space", "pw"),
                                   _scram_upsert("no-salt", "pw", salt=b""),
                                   _scram_upsert("twice", "a"), _scram_upsert("twice", "b"),
                                   ok])
    got = {user: (err, msg) for user, err, msg in res}
    assert got == {
        "nobody-here": (kwire.ERR_RESOURCE_NOT_FOUND,
                        "Attempt to delete a user credential that does not exist"),
        "": (kwire.ERR_UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
        "mech-zero": (kwire.ERR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        "few": (kwire.ERR_UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
        "many": (kwire.ERR_UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
        "sha1": (kwire.ERR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        "has space": (kwire.ERR_UNACCEPTABLE_CREDENTIAL, got["has space"][1]),
        "no-salt": (kwire.ERR_UNACCEPTABLE_CREDENTIAL, got["no-salt"][1]),
        "twice": (kwire.ERR_DUPLICATE_RESOURCE,
                  "A user credential cannot be altered twice in the same request"),
        ok[0]: (0, None)}
    assert len(res) == len(got)  # one result per user
    # a user named twice across deletions and upsertions is refused as a whole, nothing applied
    res = _alter_scram(broker, deletions=[(ok[0], 1)], upsertions=[_scram_upsert(ok[0], "x")])
    assert res == [(ok[0], kwire.ERR_DUPLICATE_RESOURCE,
                    "A user credential cannot be altered twice in the same request")]
    assert _describe_scram(broker, [ok[0]])["results"] == [(ok[0], 0, None, [(1, 16384)])]
    assert _describe_scram(broker, ["twice"])["results"][0][1] == kwire.ERR_RESOURCE_NOT_FOUND


def test_describe_user_scram_credentials_lists_users_and_refuses_unknown_and_repeated_names(
        broker):
    u = "frank-" + unique_topic("u")
    assert _alter_scram(broker, upsertions=[_scram_upsert(u, "pw", iterations=5000),
                                            _scram_upsert(u + "-b", "pw")])[0][1] == 0
    assert _alter_scram(broker, upsertions=[_scram_upsert(u, "pw", kwire.SCRAM_SHA_512)])[0][1] == 0
    d = _describe_scram(broker, [u, "ghost-" + u])
    assert d["error_code"] == 0
    assert d["results"] == [
        (u, 0, None, [(1, 5000), (2, 4096)]),
        ("ghost-" + u, kwire.ERR_RESOURCE_NOT_FOUND,
         "attemptToDescribeUserThatDoesNotExist: ghost-" + u, [])]
    d = _describe_scram(broker, [u, u + "-b", u])
    assert d["results"] == [
        (u, kwire.ERR_DUPLICATE_RESOURCE,
         "Cannot describe SCRAM credentials for the same user twice in a single request: " + u,
         []),
        (u + "-b", 0, None, [(1, 4096)])]
    everyone = {r[0]: r for r in _describe_scram(broker)["results"]}
    assert everyone[u] == (u, 0, None, [(1, 5000), (2, 4096)])
    assert _describe_scram(broker, [])["results"] == _describe_scram(broker)["results"]


@pytest.mark.own_broker
def test_scram_credential_apis_share_the_store_and_lock_of_sluice_users(make_broker):
    import fcntl
    from test_security import users_add, users_remove
    b = make_broker()
    users_add(b.data_dir, "hank", "pw", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192")
    assert _describe_scram(b, ["hank"])["results"] == [("hank", 0, None, [(2, 8192)])]
    assert _alter_scram(b, upsertions=[_scram_upsert("ivy", "pw")]) == [("ivy", 0, None)]
    users_add(b.data_dir, "jack", "pw", "--mechanism", "SCRAM-SHA-256")  # after the broker wrote
    assert _alter_scram(b, deletions=[("hank", 2)]) == [("hank", 0, None)]
    # neither overwrote the other: the file holds ivy (broker) and jack (CLI), hank is gone
    assert [r[0] for r in _describe_scram(b)["results"]] == ["ivy", "jack"]
    users_remove(b.data_dir, "jack")
    with open(os.path.join(b.data_dir, "credentials.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a running `sluice users` holds it
        res = _alter_scram(b, upsertions=[_scram_upsert("kim", "pw")])
        assert res == [("kim", -1, "the credentials file is locked by `sluice users`")]
    assert _alter_scram(b, upsertions=[_scram_upsert("kim", "pw")]) == [("kim", 0, None)]
    assert [r[0] for r in _describe_scram(b)["results"]] == ["ivy", "kim"]


@pytest.mark.own_broker
def test_scram_credential_apis_ask_describe_and_alter_on_the_cluster(make_broker):
    from kafka.admin import ACLOperation as AclOperation
    from test_acls import add_acls_as_super, cluster_acl, secured
    b = secured(make_broker)
    res = _alter_scram(b, upsertions=[_scram_upsert("gina", "pw")])
    assert res == [("gina", kwire.ERR_CLUSTER_AUTHORIZATION_FAILED,
                    "Cluster authorization failed.")]
    d = _describe_scram(b, ["gina"])
    assert d["error_code"] == kwire.ERR_CLUSTER_AUTHORIZATION_FAILED
    assert [r[1] for r in d["results"]] == [kwire.ERR_CLUSTER_AUTHORIZATION_FAILED]
    assert not os.path.exists(os.path.join(b.data_dir, "credentials"))
    add_acls_as_super(b, [cluster_acl(AclOperation.DESCRIBE)])
    assert _describe_scram(b) == {"error_code": 0, "error_message": None, "results": []}
    assert _alter_scram(b, upsertions=[_scram_upsert("gina", "pw")])[0][1] == \
        kwire.ERR_CLUSTER_AUTHORIZATION_FAILED
    add_acls_as_super(b, [cluster_acl(AclOperation.ALTER)])
    assert _alter_scram(b, upsertions=[_scram_upsert("gina", "pw")]) == [("gina", 0, None)]
    assert _describe_scram(b)["results"] == [("gina", 0, None, [(1, 4096)])]


def test_the_docs_api_table_is_what_api_versions_advertises(broker):
    import re
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "docs", "broker.md")) as fh:
        rows = re.findall(r"^\| (\d+) \| (\w+) \| (\d+)(?:-(\d+))? \|$", fh.read(), re.M)
    table = {int(k): (int(lo), int(hi or lo)) for k, _name, lo, hi in rows}
    assert table == kwire.api_versions(broker.bootstrap, 3, T(10))["apis"]
