"""Topic administration through AdminClient (confluent-kafka): create, delete, add partitions,
describe and change configs, and the Kafka error codes for invalid requests.

IncrementalAlterConfigs goes through kwire: confluent-kafka 1.7 and kafka-python 2.0 only speak
the older AlterConfigs, which Sluice does not advertise."""

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions, NewTopic

import kwire
from conftest import (T, admin_client, create_topic, future_error_code, produce_all, producer,
                      read_partition, topic_partitions, unique_topic, wait_for, watermarks)

BROKER_RETENTION_MS = 5 * 86400 * 1000       # differs from Kafka's 7-day default on purpose
BROKER_SEGMENT_BYTES = 64 * 1024 * 1024


def describe_topic_configs(bootstrap, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    futs = admin_client(bootstrap).describe_configs([res], request_timeout=T(10))
    return futs[res].result(timeout=T(20))


def source_of(entry):
    """ConfigEntry.source as an int (the C layer gives an int, the Python layer an enum)."""
    return int(getattr(entry.source, "value", entry.source))


def create_error(bootstrap, new_topic):
    futs = admin_client(bootstrap).create_topics([new_topic], request_timeout=T(10))
    return future_error_code(futs[new_topic.topic], T(20))


def test_create_topics_sets_partitions_and_topic_configs(broker):
    topic = unique_topic("adm-create")
    create_topic(broker.bootstrap, topic, partitions=4,
                 config={"retention.ms": "3600000", "cleanup.policy": "delete"})
    assert topic_partitions(broker.bootstrap, topic) == 4
    cfg = describe_topic_configs(broker.bootstrap, topic)
    assert cfg["retention.ms"].value == "3600000"
    assert source_of(cfg["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not cfg["retention.ms"].is_default
    assert cfg["cleanup.policy"].value == "delete"
    for p in range(4):
        msgs = produce_all(producer(broker.bootstrap), topic, [{"value": b"p%d" % p}], partition=p)
        assert msgs[0].offset() == 0


@pytest.mark.own_broker
def test_describe_configs_reports_broker_defaults_for_topics_without_overrides(make_broker):
    b = make_broker({"log.retention.ms": BROKER_RETENTION_MS,
                     "log.segment.bytes": BROKER_SEGMENT_BYTES})
    topic = create_topic(b.bootstrap, unique_topic("adm-defaults"))
    cfg = describe_topic_configs(b.bootstrap, topic)
    assert cfg["retention.ms"].value == str(BROKER_RETENTION_MS)
    assert cfg["segment.bytes"].value == str(BROKER_SEGMENT_BYTES)
    assert source_of(cfg["retention.ms"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    for name in ("cleanup.policy", "max.message.bytes", "retention.bytes", "segment.ms",
                 "message.timestamp.type", "min.insync.replicas"):
        assert name in cfg, "describe_configs lacks %s: %s" % (name, sorted(cfg))


def test_delete_topics_removes_the_topic_and_its_records(broker):
    topic = create_topic(broker.bootstrap, unique_topic("adm-del"), partitions=2)
    produce_all(producer(broker.bootstrap), topic, [{"value": b"old"}] * 5, partition=0)
    futs = admin_client(broker.bootstrap).delete_topics([topic], request_timeout=T(10))
    assert future_error_code(futs[topic], T(20)) is None
    wait_for(lambda: topic not in admin_client(broker.bootstrap).list_topics(
        timeout=T(10)).topics, T(15), "%s gone from metadata" % topic)
    create_topic(broker.bootstrap, topic, partitions=1)
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0), "a re-created topic starts empty"


def test_deleting_an_unknown_topic_fails_with_unknown_topic_or_partition(broker):
    topic = unique_topic("adm-nosuch")
    futs = admin_client(broker.bootstrap).delete_topics([topic], request_timeout=T(10))
    assert future_error_code(futs[topic], T(20)) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_partitions_adds_writable_partitions(broker):
    topic = create_topic(broker.bootstrap, unique_topic("adm-grow"), partitions=2)
    produce_all(producer(broker.bootstrap), topic, [{"value": b"before"}], partition=1)
    futs = admin_client(broker.bootstrap).create_partitions([NewPartitions(topic, 5)],
                                                             request_timeout=T(10))
    assert future_error_code(futs[topic], T(20)) is None
    wait_for(lambda: topic_partitions(broker.bootstrap, topic) == 5, T(10), "5 partitions")
    msgs = produce_all(producer(broker.bootstrap), topic, [{"value": b"new"}], partition=4)
    assert (msgs[0].partition(), msgs[0].offset()) == (4, 0)
    assert [m.value() for m in read_partition(broker.bootstrap, topic, 1, 1)] == [b"before"]


def test_create_partitions_refuses_to_reduce_the_count_with_invalid_partitions(broker):
    topic = create_topic(broker.bootstrap, unique_topic("adm-shrink"), partitions=3)
    for count in (2, 3):  # fewer, and the same number
        futs = admin_client(broker.bootstrap).create_partitions([NewPartitions(topic, count)],
                                                                 request_timeout=T(10))
        assert future_error_code(futs[topic], T(20)) == KafkaError.INVALID_PARTITIONS, count
    assert topic_partitions(broker.bootstrap, topic) == 3


def test_create_topics_refuses_zero_partitions_with_invalid_partitions(broker):
    topic = unique_topic("adm-zero")
    assert create_error(broker.bootstrap, NewTopic(topic, num_partitions=0,
                                                   replication_factor=1)) == \
        KafkaError.INVALID_PARTITIONS
    assert topic not in admin_client(broker.bootstrap).list_topics(timeout=T(10)).topics


@pytest.mark.own_broker
def test_create_topics_refuses_a_replication_factor_above_the_broker_count(make_broker):
    b = make_broker()
    topic = unique_topic("adm-rf")
    assert create_error(b.bootstrap, NewTopic(topic, num_partitions=1, replication_factor=2)) \
        == KafkaError.INVALID_REPLICATION_FACTOR


@pytest.mark.parametrize("config", [{"no.such.config": "1"}, {"retention.ms": "soon"},
                                    {"cleanup.policy": "shred"}],
                         ids=["unknown-key", "bad-number", "bad-enum"])
def test_create_topics_refuses_bad_topic_configs_with_invalid_config(broker, config):
    topic = unique_topic("adm-cfg")
    assert create_error(broker.bootstrap, NewTopic(topic, num_partitions=1, replication_factor=1,
                                                   config=config)) == KafkaError.INVALID_CONFIG
    assert topic not in admin_client(broker.bootstrap).list_topics(timeout=T(10)).topics


def test_incremental_alter_configs_sets_and_deletes_a_topic_config(broker):
    topic = create_topic(broker.bootstrap, unique_topic("adm-alter"))
    default = describe_topic_configs(broker.bootstrap, topic)["retention.ms"].value
    err = kwire.incremental_alter_topic_configs(
        broker.bootstrap, topic, [("retention.ms", kwire.OP_SET, "7200000"),
                                  ("segment.bytes", kwire.OP_SET, "1048576")], T(10))
    assert err[0] == kwire.ERR_NONE, err
    cfg = describe_topic_configs(broker.bootstrap, topic)
    assert cfg["retention.ms"].value == "7200000"
    assert cfg["segment.bytes"].value == "1048576"
    err = kwire.incremental_alter_topic_configs(
        broker.bootstrap, topic, [("retention.ms", kwire.OP_DELETE, None)], T(10))
    assert err[0] == kwire.ERR_NONE, err
    cfg = describe_topic_configs(broker.bootstrap, topic)
    assert cfg["retention.ms"].value == default, "DELETE restores the default"
    assert cfg["segment.bytes"].value == "1048576", "other overrides stay"


def test_incremental_alter_configs_refuses_an_unknown_key_and_applies_nothing(broker):
    topic = create_topic(broker.bootstrap, unique_topic("adm-alter-bad"))
    before = describe_topic_configs(broker.bootstrap, topic)["retention.ms"].value
    err = kwire.incremental_alter_topic_configs(
        broker.bootstrap, topic, [("retention.ms", kwire.OP_SET, "1234567"),
                                  ("no.such.config", kwire.OP_SET, "1")], T(10))
    assert err[0] == kwire.ERR_INVALID_CONFIG, err
    assert describe_topic_configs(broker.bootstrap, topic)["retention.ms"].value == before


def test_incremental_alter_configs_on_an_unknown_topic_fails(broker):
    topic = unique_topic("adm-alter-missing")
    err = kwire.incremental_alter_topic_configs(
        broker.bootstrap, topic, [("retention.ms", kwire.OP_SET, "1000")], T(10))
    assert err[0] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION, err
