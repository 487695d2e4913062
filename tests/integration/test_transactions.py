"""Kafka transactions (KIP-98) with confluent-kafka's transactional API: commit and abort as
read_committed and read_uncommitted consumers see them, the last stable offset, zombie
fencing, transaction timeouts, transactional offsets, and broker restarts / kill -9."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition, OFFSET_BEGINNING

import kwire
from conftest import T, consumer, create_topic, producer, unique_topic, wait_for, watermarks


def txn_producer(bootstrap, tid, **extra):
    conf = {"transactional.id": tid, "transaction.timeout.ms": int(T(60) * 1000), "linger.ms": 0}
    conf.update(extra)
    p = producer(bootstrap, **conf)
    p.init_transactions(T(30))
    return p


def read_all(bootstrap, topic, isolation, want=None, timeout_s=None, partitions=1):
    """Values of every record of topic readable under isolation (until `want` arrived, or the
    partition ends twice in a row when want is None)."""
    c = consumer(bootstrap, **{"isolation.level": isolation, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out, eofs = [], set()
    deadline = time.monotonic() + (timeout_s or T(20))
    try:
        while time.monotonic() < deadline:
            if want is not None and len(out) >= want:
                break
            if want is None and len(eofs) == partitions:
                break
            for m in c.consume(num_messages=1000, timeout=0.3):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eofs.add(m.partition())
                        continue
                    raise AssertionError("consumer error: %s" % m.error())
                eofs.discard(m.partition())
                out.append(m.value())
    finally:
        c.close()
    return out


def send(p, topic, values, partition=0):
    for v in values:
        p.produce(topic, v, partition=partition)
    p.flush(T(30))


def test_committed_records_are_seen_by_both_isolation_levels(broker):
    topic = create_topic(broker.bootstrap, unique_topic("txc"), partitions=2)
    p = txn_producer(broker.bootstrap, "tx-commit")
    p.begin_transaction()
    send(p, topic, [b"a0", b"a1"], partition=0)
    send(p, topic, [b"b0"], partition=1)
    p.commit_transaction(T(30))
    assert sorted(read_all(broker.bootstrap, topic, "read_committed", partitions=2)) == \
        [b"a0", b"a1", b"b0"]
    assert sorted(read_all(broker.bootstrap, topic, "read_uncommitted", partitions=2)) == \
        [b"a0", b"a1", b"b0"]


def test_aborted_records_are_hidden_from_read_committed_only(broker):
    topic = create_topic(broker.bootstrap, unique_topic("txa"))
    p = txn_producer(broker.bootstrap, "tx-abort")
    p.begin_transaction()
    send(p, topic, [b"x1", b"x2"])
    p.abort_transaction(T(30))
    p.begin_transaction()
    send(p, topic, [b"ok"])
    p.commit_transaction(T(30))
    assert read_all(broker.bootstrap, topic, "read_committed") == [b"ok"]
    assert read_all(broker.bootstrap, topic, "read_uncommitted") == [b"x1", b"x2", b"ok"]


def test_read_committed_consumer_waits_at_the_lso_until_commit(broker):
    topic = create_topic(broker.bootstrap, unique_topic("txl"))
    plain = producer(broker.bootstrap)
    send(plain, topic, [b"before"])
    p = txn_producer(broker.bootstrap, "tx-lso")
    p.begin_transaction()
    send(p, topic, [b"t1", b"t2"])
    send(plain, topic, [b"after"])  # after the open transaction: held back too
    c = consumer(broker.bootstrap, **{"isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = []
    deadline = time.monotonic() + T(3)
    while time.monotonic() < deadline:
        for m in c.consume(num_messages=100, timeout=0.3):
            if not m.error():
                seen.append(m.value())
    assert seen == [b"before"]
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=T(10), cached=False)
    assert hi == 1, "read_committed latest offset is the LSO"
    p.commit_transaction(T(30))
    deadline = time.monotonic() + T(15)
    while len(seen) < 4 and time.monotonic() < deadline:
        for m in c.consume(num_messages=100, timeout=0.3):
            if not m.error():
                seen.append(m.value())
    c.close()
    assert seen == [b"before", b"t1", b"t2", b"after"]


def test_a_second_producer_with_the_same_id_fences_the_first(broker):
    topic = create_topic(broker.bootstrap, unique_topic("txf"))
    p1 = txn_producer(broker.bootstrap, "tx-zombie")
    p1.begin_transaction()
    send(p1, topic, [b"zombie"])
    p2 = txn_producer(broker.bootstrap, "tx-zombie")  # aborts p1's open transaction
    p2.begin_transaction()
    send(p2, topic, [b"new"])
    p2.commit_transaction(T(30))
    with pytest.raises(KafkaException) as ei:
        p1.commit_transaction(T(30))
    err = ei.value.args[0]
    assert err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                         KafkaError.INVALID_PRODUCER_EPOCH), err
    assert read_all(broker.bootstrap, topic, "read_committed") == [b"new"]
    assert read_all(broker.bootstrap, topic, "read_uncommitted") == [b"zombie", b"new"]


def test_transaction_timeout_aborts_an_open_transaction(make_broker):
    b = make_broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": 200})
    topic = create_topic(b.bootstrap, unique_topic("txt"))
    # librdkafka wants message.timeout.ms <= transaction.timeout.ms: 6 s leaves the first
    # produce (AddPartitionsToTxn, then an fsync) room on a loaded machine, where 2 s timed
    # "late" out in the client before the broker stored it.
    p = txn_producer(b.bootstrap, "tx-timeout", **{"transaction.timeout.ms": 6000,
                                                  "socket.timeout.ms": 6000,
                                                  "message.timeout.ms": 6000})
    p.begin_transaction()
    errors = []
    p.produce(topic, b"late", partition=0, on_delivery=lambda err, msg: errors.append(err))
    p.flush(T(30))
    assert errors == [None], "the transactional record was not stored: %r" % errors
    plain = producer(b.bootstrap)
    send(plain, topic, [b"plain"])
    # The coordinator aborts it: the LSO moves past it and read_committed sees only plain.
    assert wait_for(lambda: read_all(b.bootstrap, topic, "read_committed", timeout_s=T(2))
                    == [b"plain"], T(20), "the timed-out transaction aborted")
    assert read_all(b.bootstrap, topic, "read_uncommitted") == [b"late", b"plain"]
    with pytest.raises(KafkaException):
        p.commit_transaction(T(10))


def test_transaction_timeout_above_the_maximum_is_refused(make_broker):
    b = make_broker({"transaction.max.timeout.ms": 5000})
    p = producer(b.bootstrap, **{"transactional.id": "tx-big", "transaction.timeout.ms": 6000,
                                     "socket.timeout.ms": 5000,
                                     "message.timeout.ms": 5000})
    with pytest.raises(KafkaException) as ei:
        p.init_transactions(T(10))
    assert ei.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT


def test_offsets_sent_in_a_transaction_are_visible_only_after_commit(broker):
    src = create_topic(broker.bootstrap, unique_topic("txo"))
    group = unique_topic("g")
    p = txn_producer(broker.bootstrap, "tx-offsets")
    c = consumer(broker.bootstrap, **{"group.id": group})

    def committed():
        return c.committed([TopicPartition(src, 0)], timeout=T(10))[0].offset

    md = c.list_topics(src, timeout=T(10))
    assert md.topics[src].error is None
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(src, 0, 7)], c.consumer_group_metadata(),
                                  T(30))
    assert committed() < 0, "pending transactional offsets are not visible"
    p.abort_transaction(T(30))
    assert committed() < 0, "aborted offsets are never visible"
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(src, 0, 9)], c.consumer_group_metadata(),
                                  T(30))
    p.commit_transaction(T(30))
    assert committed() == 9
    c.close()


def test_open_and_committing_transactions_survive_kill_9(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("txk"))
    p = txn_producer(b.bootstrap, "tx-kill")
    p.begin_transaction()
    send(p, topic, [b"c1", b"c2"])
    p.commit_transaction(T(30))
    p.begin_transaction()
    send(p, topic, [b"open"])
    b.kill9()
    b.start()
    # The open transaction is still open after the restart: read_committed stops before it.
    assert read_all(b.bootstrap, topic, "read_committed") == [b"c1", b"c2"]
    # A new incarnation fences the old one and aborts the open transaction.
    p2 = txn_producer(b.bootstrap, "tx-kill")
    p2.begin_transaction()
    send(p2, topic, [b"c3"])
    p2.commit_transaction(T(30))
    assert read_all(b.bootstrap, topic, "read_committed") == [b"c1", b"c2", b"c3"]
    assert b.stop() == 0, "a clean stop (and, under ASan, no leak)"
    b.start()
    assert read_all(b.bootstrap, topic, "read_committed") == [b"c1", b"c2", b"c3"]
    assert read_all(b.bootstrap, topic, "read_uncommitted") == [b"c1", b"c2", b"open", b"c3"]
    assert b.stop() == 0


COPIER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "txn_copier.py")


def run_copier_rounds(b, rounds, count, seed):
    src = create_topic(b.bootstrap, unique_topic("eos-in"))
    dst = create_topic(b.bootstrap, unique_topic("eos-out"))
    plain = producer(b.bootstrap)
    send(plain, src, [b"%d" % i for i in range(count)])
    rnd = random.Random(seed)
    args = [sys.executable, COPIER, "--bootstrap", b.bootstrap, "--input", src, "--output", dst,
            "--group", "eos-" + src, "--tid", "eos-" + src, "--count", str(count),
            "--max-seconds", str(T(60))]
    kills = 0
    for _ in range(rounds):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rnd.uniform(0.5, 2.5))
        except subprocess.TimeoutExpired:
            proc.kill()
            kills += 1
        out, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
        if proc.returncode == 0:
            break
    proc = subprocess.run(args, capture_output=True, timeout=T(90))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = read_all(b.bootstrap, dst, "read_committed")
    want = [b"out:%d" % i for i in range(count)]
    assert sorted(got, key=lambda v: int(v[4:])) == want, \
        "duplicates or losses after %d kill(s): %d records, %d distinct" % (
            kills, len(got), len(set(got)))
    assert got == want, "the output keeps the input's order"
    return kills


def test_consume_transform_produce_killed_at_random_points_copies_each_input_once(make_broker):
    b = make_broker()
    run_copier_rounds(b, rounds=4, count=400, seed=8)


@pytest.mark.slow
def test_consume_transform_produce_through_many_kill_rounds(make_broker):
    b = make_broker()
    kills = run_copier_rounds(b, rounds=15, count=3000, seed=98)
    assert kills > 0


@pytest.mark.slow
def test_broker_kill_9_while_transactions_commit_loses_and_duplicates_nothing(make_broker):
    # The copier commits continuously while the broker is killed at random points: whatever
    # state each transaction was in (Ongoing, PrepareCommit) the restart completes or aborts it.
    b = make_broker()
    src = create_topic(b.bootstrap, unique_topic("bk-in"))
    dst = create_topic(b.bootstrap, unique_topic("bk-out"))
    count = 1500
    send(producer(b.bootstrap), src, [b"%d" % i for i in range(count)])

    def args():  # the broker may listen on a new port after each restart
        return [sys.executable, COPIER, "--bootstrap", b.bootstrap, "--input", src, "--output",
                dst, "--group", "bk", "--tid", "bk", "--count", str(count),
                "--max-seconds", str(T(60))]
    rnd = random.Random(11)
    for _ in range(4):
        proc = subprocess.Popen(args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rnd.uniform(0.5, 2.0))
        b.kill9()
        proc.kill()
        proc.communicate()
        b.start()
    proc = subprocess.run(args(), capture_output=True, timeout=T(120))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = read_all(b.bootstrap, dst, "read_committed")
    assert got == [b"out:%d" % i for i in range(count)]


# ---- the wire, every version ----------------------------------------------------------------

def txn_batch(pid, epoch, seq, values):
    return kwire.record_batch_v2([(None, v) for v in values], producer_id=pid,
                                 producer_epoch=epoch, base_sequence=seq,
                                 attributes=kwire.ATTR_TRANSACTIONAL)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_add_partitions_add_offsets_and_end_txn_in_every_version(broker, version):
    topic = create_topic(broker.bootstrap, unique_topic("txw"))
    tid = "wire-%d" % version
    r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id=tid)
    pid, epoch = r["producer_id"], r["producer_epoch"]
    add = kwire.txn_call(broker.bootstrap, kwire.add_partitions_to_txn_request,
                         kwire.parse_add_partitions_to_txn, version, T(10), tid, pid, epoch,
                         {topic: [0]})
    assert add == {(topic, 0): kwire.ERR_NONE}
    r = kwire.produce_v3(broker.bootstrap, topic, 0, txn_batch(pid, epoch, 0, [b"w1", b"w2"]),
                         T(10), transactional_id=tid)
    assert r["error_code"] == kwire.ERR_NONE
    e = kwire.txn_call(broker.bootstrap, kwire.add_offsets_to_txn_request,
                       kwire.parse_error_only, version, T(10), tid, pid, epoch, "g-" + tid)
    assert e == kwire.ERR_NONE
    e = kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only,
                       version, T(10), tid, pid, epoch, version % 2 == 0)
    assert e == kwire.ERR_NONE
    # Committed in even versions, aborted in odd ones; the marker takes offset 2.
    want = [b"w1", b"w2"] if version % 2 == 0 else []
    assert read_all(broker.bootstrap, topic, "read_committed") == want
    assert read_all(broker.bootstrap, topic, "read_uncommitted") == [b"w1", b"w2"]
    lo, hi = watermarks(broker.bootstrap, topic, 0)
    assert hi == 3, "two records and the marker"
    # A second EndTxn of the same kind is a retry (NONE); the other kind is INVALID_TXN_STATE.
    e = kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only,
                       version, T(10), tid, pid, epoch, version % 2 == 0)
    assert e == kwire.ERR_NONE
    e = kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only,
                       version, T(10), tid, pid, epoch, version % 2 == 1)
    assert e == kwire.ERR_INVALID_TXN_STATE


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_fenced_and_unknown_producers_get_kafkas_errors(broker, version):
    topic = create_topic(broker.bootstrap, unique_topic("txe"))
    tid = "fence-%d" % version
    old = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id=tid)
    new = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id=tid)
    assert new["producer_id"] == old["producer_id"]
    assert new["producer_epoch"] == old["producer_epoch"] + 1
    fenced = kwire.ERR_PRODUCER_FENCED if version >= 2 else kwire.ERR_INVALID_PRODUCER_EPOCH
    add = kwire.txn_call(broker.bootstrap, kwire.add_partitions_to_txn_request,
                         kwire.parse_add_partitions_to_txn, version, T(10), tid,
                         old["producer_id"], old["producer_epoch"], {topic: [0]})
    assert add == {(topic, 0): fenced}
    e = kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only,
                       version, T(10), tid, old["producer_id"], old["producer_epoch"], True)
    assert e == fenced
    e = kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only,
                       version, T(10), "nobody", 12345, 0, True)
    assert e == kwire.ERR_INVALID_PRODUCER_ID_MAPPING
    # Nothing begun: EndTxn has no transaction to end.
    e = kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only,
                       version, T(10), tid, new["producer_id"], new["producer_epoch"], True)
    assert e == kwire.ERR_INVALID_TXN_STATE
    # An unknown partition fails the whole request; the others are not attempted.
    add = kwire.txn_call(broker.bootstrap, kwire.add_partitions_to_txn_request,
                         kwire.parse_add_partitions_to_txn, version, T(10), tid,
                         new["producer_id"], new["producer_epoch"], {topic: [0, 7]})
    assert add == {(topic, 0): 55, (topic, 7): kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION}


def test_transactional_batches_outside_a_transaction_and_client_markers_are_refused(broker):
    topic = create_topic(broker.bootstrap, unique_topic("txr"))
    r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id="refuse")
    pid, epoch = r["producer_id"], r["producer_epoch"]
    r = kwire.produce_v3(broker.bootstrap, topic, 0, txn_batch(pid, epoch, 0, [b"x"]), T(10),
                         transactional_id="refuse")
    assert r["error_code"] == kwire.ERR_INVALID_TXN_STATE, "partition never added"
    # as Kafka: transactional records need the request's transactional id (and WRITE on it)
    r = kwire.produce_v3(broker.bootstrap, topic, 0, txn_batch(pid, epoch, 0, [b"x"]), T(10))
    assert r["error_code"] == 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
    marker = kwire.record_batch_v2([(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")],
                                   producer_id=pid, producer_epoch=epoch,
                                   attributes=kwire.ATTR_TRANSACTIONAL | kwire.ATTR_CONTROL)
    r = kwire.produce_v3(broker.bootstrap, topic, 0, marker, T(10))
    assert r["error_code"] != kwire.ERR_NONE
    assert watermarks(broker.bootstrap, topic, 0)[1] == 0, "nothing was written"


def test_init_producer_id_with_a_bad_timeout_is_refused_in_every_version(make_broker):
    b = make_broker({"transaction.max.timeout.ms": 1000})
    for v in range(5):
        r = kwire.init_producer_id(b.bootstrap, v, T(10), transactional_id="to-%d" % v,
                                   transaction_timeout_ms=1001)
        assert r["error_code"] == kwire.ERR_INVALID_TRANSACTION_TIMEOUT, (v, r)
        r = kwire.init_producer_id(b.bootstrap, v, T(10), transactional_id="to-%d" % v,
                                   transaction_timeout_ms=1000)
        assert r["error_code"] == kwire.ERR_NONE, (v, r)


def test_describe_producers_shows_the_open_transactions_first_offset(broker):
    topic = create_topic(broker.bootstrap, unique_topic("txd"))
    send(producer(broker.bootstrap), topic, [b"plain"])
    r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id="desc")
    pid, epoch = r["producer_id"], r["producer_epoch"]
    kwire.txn_call(broker.bootstrap, kwire.add_partitions_to_txn_request,
                   kwire.parse_add_partitions_to_txn, 3, T(10), "desc", pid, epoch, {topic: [0]})
    assert kwire.produce_v3(broker.bootstrap, topic, 0, txn_batch(pid, epoch, 0, [b"t"]),
                            T(10), transactional_id="desc")["error_code"] == 0

    def state():
        d = kwire.describe_producers(broker.bootstrap, {topic: [0]}, T(10))[(topic, 0)]
        return {p["producer_id"]: p for p in d["producers"]}[pid]
    assert state()["current_txn_start_offset"] == 1
    assert kwire.txn_call(broker.bootstrap, kwire.end_txn_request, kwire.parse_error_only, 3,
                          T(10), "desc", pid, epoch, True) == 0
    assert state()["current_txn_start_offset"] == -1


def test_init_producer_id_naming_the_current_epoch_aborts_and_may_retry(broker):
    # KIP-360: a producer recovering from an abortable error names its id and epoch; the open
    # transaction is aborted (CONCURRENT_TRANSACTIONS meanwhile) and the retry, naming the same
    # epoch, gets a bumped one. An epoch older than that is fenced.
    topic = create_topic(broker.bootstrap, unique_topic("txk360"))
    r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id="k360")
    pid, epoch = r["producer_id"], r["producer_epoch"]
    for _ in range(2):  # epoch 1, so that epoch 0 is older than the retry's
        r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id="k360",
                                   producer_id=pid, producer_epoch=epoch)
        assert r["error_code"] == 0 and r["producer_id"] == pid, r
        epoch = r["producer_epoch"]
    add = kwire.txn_call(broker.bootstrap, kwire.add_partitions_to_txn_request,
                         kwire.parse_add_partitions_to_txn, 3, T(10), "k360", pid, epoch,
                         {topic: [0]})
    assert add == {(topic, 0): 0}
    codes = []
    deadline = time.monotonic() + T(10)
    while time.monotonic() < deadline:
        r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id="k360",
                                   producer_id=pid, producer_epoch=epoch)
        codes.append(r["error_code"])
        if r["error_code"] != kwire.ERR_CONCURRENT_TRANSACTIONS:
            break
    assert codes[0] == kwire.ERR_CONCURRENT_TRANSACTIONS and codes[-1] == 0, codes
    assert r["producer_id"] == pid and r["producer_epoch"] == epoch + 2, r
    r = kwire.init_producer_id(broker.bootstrap, 4, T(10), transactional_id="k360",
                               producer_id=pid, producer_epoch=epoch - 1)
    assert r["error_code"] == kwire.ERR_PRODUCER_FENCED, r
    r = kwire.init_producer_id(broker.bootstrap, 3, T(10), transactional_id="k360",
                               producer_id=pid, producer_epoch=epoch - 1)
    assert r["error_code"] == kwire.ERR_INVALID_PRODUCER_EPOCH, r
