"""Differences from Apache Kafka 3.7 that clients' own test suites found (issue 21), one test
each, every one failing before its fix. Sent with confluent-kafka's AdminClient, kafka-python's
protocol classes, or kwire.py where neither installed client (confluent-kafka 1.7,
kafka-python 2.0) has a call for the request."""
import os
import subprocess

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions, NewTopic

import kwire
from conftest import (T, admin_client, consumer, create_topic, future_error_code, produce_all,
                      producer, read_partition, topic_partitions, unique_topic, watermarks)
from test_admin import describe_topic_configs, source_of
from test_settings_messages import serve
from test_versions import Raw

P = pytest.importorskip("kafka.protocol")
from kafka.protocol import admin, commit, fetch  # noqa: E402

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
