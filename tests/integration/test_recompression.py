"""A topic's compression.type other than `producer`: the broker recompresses batches that
arrive in another codec, as Kafka does (issue 21), keeping what idempotence and transactions
need from the batch header. Checked on disk (the codec bits of every stored batch) and by reading
back with librdkafka and kafka-python."""
import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource

from conftest import (T, admin_client, consume_range, consumer, create_topic, produce_all,
                      producer, read_partition, stored_codecs, unique_topic)
from test_produce_fetch import assert_same_records, sample_records

CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CONTROL = 0x20


def kafka_python_send(bootstrap, topic, values, compression, **extra):
    from kafka import KafkaProducer
    kp = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=compression,
                       linger_ms=20, max_block_ms=int(T(20) * 1000), **extra)
    try:
        futs = [kp.send(topic, key=b"k%d" % i, value=v, partition=0)
                for i, v in enumerate(values)]
        kp.flush(timeout=T(30))
        return [f.get(timeout=T(10)) for f in futs]
    finally:
        kp.close(timeout=T(10))


@pytest.mark.own_broker
@pytest.mark.parametrize("codec", sorted(CODECS))
def test_a_topic_codec_recompresses_what_clients_send_and_they_read_it_back(make_broker, codec):
    """librdkafka sends uncompressed batches and kafka-python gzip ones; the log holds only the
    topic's codec, and both clients read every record back unchanged."""
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("rc-" + codec),
                         config={"compression.type": codec})
    sent = sample_records(300)
    produce_all(producer(b.bootstrap, **{"linger.ms": 20}), topic, sent, partition=0)
    values = [b"value-%06d-" % i * 8 for i in range(300)]
    kafka_python_send(b.bootstrap, topic, values, "gzip")
    got = read_partition(b.bootstrap, topic, 0, len(sent) + len(values), T(30))
    assert_same_records(got[:len(sent)], sent)
    assert [m.value() for m in got[len(sent):]] == values
    codecs = stored_codecs(b, topic)
    assert codecs and set(codecs) == {CODECS[codec]}, codecs
    from kafka import KafkaConsumer, TopicPartition as KTP
    if codec in ("uncompressed", "gzip"):  # kafka-python's other codecs need modules Debian lacks
        kc = KafkaConsumer(bootstrap_servers=b.bootstrap, consumer_timeout_ms=int(T(10) * 1000),
                           enable_auto_commit=False)
        try:
            kc.assign([KTP(topic, 0)])
            kc.seek_to_beginning()
            read = []
            for m in kc:
                read.append(m.value)
                if len(read) == len(sent) + len(values):
                    break
        finally:
            kc.close()
        assert read == [r.get("value") for r in sent] + values


@pytest.mark.own_broker
def test_transactional_batches_keep_their_producer_and_flag_when_recompressed(make_broker):
    """Producer id, epoch, sequence and the transactional flag survive recompression: an aborted
    transaction stays invisible to read_committed (its marker matches the batches by producer
    id), and the transaction markers stay uncompressed control batches."""
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("rc-txn"), config={"compression.type": "zstd"})
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "rc-" + topic,
                  "linger.ms": 5})
    p.init_transactions(T(30))
    for commit, tag in ((True, b"a"), (False, b"b"), (True, b"c")):
        p.begin_transaction()
        for i in range(50):
            p.produce(topic, value=tag + b"%d" % i * 20, partition=0)
        p.flush(T(30))  # the aborted batches are stored too, and read_committed skips them
        if commit:
            p.commit_transaction(T(30))
        else:
            p.abort_transaction(T(30))
    c = consumer(b.bootstrap, **{"isolation.level": "read_committed"})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = consume_range(c, 100, T(30))
    finally:
        c.close()
    assert [m.value()[:1] for m in got] == [b"a"] * 50 + [b"c"] * 50
    codecs = stored_codecs(b, topic)
    assert codecs.count(4) >= 3 and set(codecs) <= {0, 4}, codecs
    controls = control_batches(b, topic)
    assert len(controls) == 3 and all(a & 7 == 0 for a in controls), controls


def control_batches(broker, topic, partition=0):
    """The attributes of the stored control batches."""
    import glob
    import os
    import struct
    out = []
    for path in sorted(glob.glob(os.path.join(broker.data_dir, "topics", topic, str(partition),
                                              "*.log"))):
        data = open(path, "rb").read()
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
            if length <= 0:
                break
            attrs = struct.unpack(">h", data[pos + 21:pos + 23])[0]
            if attrs & CONTROL:
                out.append(attrs)
            pos += 12 + length
    return out


@pytest.mark.own_broker
def test_a_batch_too_large_once_uncompressed_is_refused(make_broker):
    """A gzip batch of 200 KB that fits max.message.bytes compressed does not once an
    `uncompressed` topic inflates it: MESSAGE_TOO_LARGE, and nothing is stored."""
    from kafka.errors import MessageSizeTooLargeError
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("rc-big"),
                         config={"compression.type": "uncompressed", "max.message.bytes": 65536})
    with pytest.raises(MessageSizeTooLargeError):
        kafka_python_send(b.bootstrap, topic, [b"z" * 200000], "gzip", retries=0)
    assert stored_codecs(b, topic) == []


@pytest.mark.own_broker
def test_the_broker_default_applies_and_an_altered_topic_codec_applies_to_later_batches(
        make_broker):
    """`compression.type` on the broker is the default of topics without an override; altering
    a topic's config changes the codec of what is produced after, as DescribeConfigs shows."""
    b = make_broker({"compression.type": "lz4"})
    topic = create_topic(b.bootstrap, unique_topic("rc-alter"))
    produce_all(producer(b.bootstrap), topic, [{"value": b"x" * 500}] * 20, partition=0)
    assert set(stored_codecs(b, topic)) == {3}
    adm = admin_client(b.bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    adm.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic,
                                      set_config={"compression.type": "zstd"})])[res].result(T(20))
    entry = adm.describe_configs([res])[res].result(T(20))["compression.type"]
    assert entry.value == "zstd"
    produce_all(producer(b.bootstrap), topic, [{"value": b"y" * 500}] * 20, partition=0)
    codecs = stored_codecs(b, topic)
    assert codecs[0] == 3 and codecs[-1] == 4, codecs


@pytest.mark.parametrize("value", ["none", "brotli", "ZSTD", ""])
def test_an_unknown_compression_type_is_invalid_config(broker, value):
    with pytest.raises(KafkaException) as e:
        create_topic(broker.bootstrap, unique_topic("rc-bad"), config={"compression.type": value})
    assert "compression.type" in str(e.value) or "INVALID_CONFIG" in str(e.value)
