"""Metadata and topic creation rules: kcat -L, auto-creation on/off, topic-name validation."""

import json

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import NewTopic

import kwire
from conftest import (T, admin_client, create_topic, future_error_code, producer, produce_all,
                      run_tool, topic_partitions, unique_topic, wait_for)


def kcat_metadata(bootstrap, topic=None):
    args = ["kcat", "-b", bootstrap, "-L", "-J", "-m", str(int(T(10)))]
    if topic:
        args += ["-t", topic]
    out = run_tool(args, timeout_s=T(30)).stdout
    return json.loads(out)


def test_kcat_lists_the_broker_and_every_topic_with_its_partitions(broker):
    a = create_topic(broker.bootstrap, unique_topic("md-a"), partitions=3)
    b = create_topic(broker.bootstrap, unique_topic("md-b"), partitions=1)
    md = kcat_metadata(broker.bootstrap)
    assert len(md["brokers"]) >= 1
    if not broker.external:
        assert md["brokers"] == [{"id": 1, "name": broker.bootstrap}]
        assert md["controllerid"] == 1
    topics = {t["topic"]: t for t in md["topics"]}
    assert a in topics and b in topics, "topics listed: %s" % sorted(topics)
    assert sorted(p["partition"] for p in topics[a]["partitions"]) == [0, 1, 2]
    assert [p["partition"] for p in topics[b]["partitions"]] == [0]
    broker_ids = {br["id"] for br in md["brokers"]}
    for p in topics[a]["partitions"] + topics[b]["partitions"]:
        assert "error" not in p, p
        assert p["leader"] in broker_ids
        assert [r["id"] for r in p["replicas"]] == [p["leader"]]
        assert [r["id"] for r in p["isrs"]] == [p["leader"]]


def test_metadata_v0_from_a_raw_socket_names_the_advertised_listener(broker):
    topic = create_topic(broker.bootstrap, unique_topic("md-raw"), partitions=2)
    md = kwire.metadata_v0(broker.bootstrap, [topic], T(10))
    assert md["topics"][topic]["error_code"] == kwire.ERR_NONE
    assert sorted(p["partition"] for p in md["topics"][topic]["partitions"]) == [0, 1]
    if not broker.external:
        host, port = broker.bootstrap.rsplit(":", 1)
        assert md["brokers"] == [{"node_id": 1, "host": host, "port": int(port)}]


@pytest.mark.own_broker
def test_metadata_for_an_unknown_topic_creates_it_when_auto_create_is_enabled(make_broker):
    b = make_broker({"auto.create.topics.enable": "true", "num.partitions": 3})
    topic = unique_topic("auto-md")
    md = kwire.metadata_v0(b.bootstrap, [topic], T(10))
    # Kafka answers the first request with LEADER_NOT_AVAILABLE (5) while it creates the topic;
    # a broker that creates synchronously answers NONE.
    assert md["topics"][topic]["error_code"] in (kwire.ERR_NONE, 5)
    wait_for(lambda: topic_partitions(b.bootstrap, topic) == 3, T(10),
             "auto-created %s with num.partitions=3" % topic)
    md = kcat_metadata(b.bootstrap, topic)
    assert [t["topic"] for t in md["topics"]] == [topic]
    assert len(md["topics"][0]["partitions"]) == 3


@pytest.mark.own_broker
def test_producing_to_an_unknown_topic_creates_it_when_auto_create_is_enabled(make_broker):
    b = make_broker({"auto.create.topics.enable": "true", "num.partitions": 2})
    topic = unique_topic("auto-prod")
    msgs = produce_all(producer(b.bootstrap), topic, [{"value": b"first", "partition": 1}])
    assert (msgs[0].partition(), msgs[0].offset()) == (1, 0)
    assert topic_partitions(b.bootstrap, topic) == 2


@pytest.mark.own_broker
def test_an_unknown_topic_is_reported_and_not_created_when_auto_create_is_disabled(make_broker):
    b = make_broker({"auto.create.topics.enable": "false"})
    topic = unique_topic("no-auto")
    md = kwire.metadata_v0(b.bootstrap, [topic], T(10))
    assert md["topics"][topic]["error_code"] == kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION
    cmd = admin_client(b.bootstrap).list_topics(topic=topic, timeout=T(10))
    assert cmd.topics[topic].error is not None
    assert cmd.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    all_topics = admin_client(b.bootstrap).list_topics(timeout=T(10)).topics
    assert topic not in all_topics


@pytest.mark.own_broker
def test_producing_to_an_unknown_topic_fails_when_auto_create_is_disabled(make_broker):
    b = make_broker({"auto.create.topics.enable": "false"})
    topic = unique_topic("no-auto-prod")
    prod = producer(b.bootstrap, **{"message.timeout.ms": int(T(5) * 1000),
                                   "topic.metadata.propagation.max.ms": 1000})
    result = []
    prod.produce(topic, b"nowhere", on_delivery=lambda err, msg: result.append(err))
    assert prod.flush(T(20)) == 0
    assert result and result[0] is not None, "delivery to a missing topic succeeded"
    assert result[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC,
                                KafkaError._MSG_TIMED_OUT), result[0]
    assert topic not in admin_client(b.bootstrap).list_topics(timeout=T(10)).topics


INVALID_TOPIC_NAMES = [
    "has space",
    "slash/name",
    "star*name",
    "colon:name",
    ".",
    "..",
    "a" * 250,   # the longest legal name is 249 characters
    "caf\u00e9",  # only ASCII letters, digits, '.', '_' and '-'
]


@pytest.mark.parametrize("name", INVALID_TOPIC_NAMES,
                         ids=["space", "slash", "star", "colon", "dot", "dotdot", "len250",
                              "non-ascii"])
def test_create_topics_rejects_an_invalid_name_with_invalid_topic_exception(broker, name):
    futs = admin_client(broker.bootstrap).create_topics(
        [NewTopic(name, num_partitions=1, replication_factor=1)], request_timeout=T(10))
    assert future_error_code(futs[name], T(20)) == KafkaError.TOPIC_EXCEPTION
    md = admin_client(broker.bootstrap).list_topics(timeout=T(10))
    assert name not in md.topics


def test_create_topics_accepts_a_name_of_the_maximum_length_249(broker):
    name = "m" * 240 + unique_topic("")[1:10]
    assert len(name) == 249
    create_topic(broker.bootstrap, name)
    msgs = produce_all(producer(broker.bootstrap), name, [{"value": b"long-name"}])
    assert msgs[0].offset() == 0


def test_creating_an_existing_topic_fails_with_topic_already_exists(broker):
    topic = create_topic(broker.bootstrap, unique_topic("dup"), partitions=2)
    futs = admin_client(broker.bootstrap).create_topics(
        [NewTopic(topic, num_partitions=4, replication_factor=1)], request_timeout=T(10))
    assert future_error_code(futs[topic], T(20)) == KafkaError.TOPIC_ALREADY_EXISTS
    assert topic_partitions(broker.bootstrap, topic) == 2, "the failed create changed the topic"
