"""Durability: a clean restart keeps records, topics and configs; after kill -9 every
acknowledged record is still there at exactly its acknowledged offset, offsets are contiguous
from 0 and nothing corrupt is served.

The kill rounds run tools/acked_producer.py (acks=all) against the broker, SIGKILL the broker at
a random moment 0.3-2 s into the round, restart it on the same data dir and check the whole log.
Rounds: SLUICE_KILL_ROUNDS (default 3); the slow test does 20.
"""

import os
import random
import re
import signal
import subprocess
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka.admin import ConfigResource

import kwire
from conftest import (HERE, PYTHON, TIMEOUT_SCALE, T, admin_client, consume_range, consumer,
                      create_topic, produce_all, producer, read_partition, topic_partitions,
                      unique_topic, wait_for, watermarks)

pytestmark = pytest.mark.own_broker

PRODUCER_TOOL = os.path.join(HERE, "tools", "acked_producer.py")
VALUE_RE = re.compile(rb"^(\d+)-(\d+)-(x*)$")
PRODUCER_RETRIES = 3   # message.send.max.retries in the tool
KILL_ROUNDS = int(os.environ.get("SLUICE_KILL_ROUNDS", "3"))


def describe(bootstrap, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    futs = admin_client(bootstrap).describe_configs([res], request_timeout=T(10))
    return {k: v.value for k, v in futs[res].result(timeout=T(20)).items()}


def snapshot(bootstrap, topic, partitions):
    """Every record of every partition, as (offset, key, value, headers) lists."""
    out = {}
    for p in range(partitions):
        lo, hi = watermarks(bootstrap, topic, p)
        msgs = read_partition(bootstrap, topic, p, hi - lo, T(60)) if hi > lo else []
        out[p] = (lo, hi, [(m.offset(), m.key(), m.value(), m.headers()) for m in msgs])
    return out


def test_a_clean_restart_keeps_records_topics_and_configs(make_broker):
    b = make_broker({"log.segment.bytes": 256 * 1024})   # several segments per partition
    topic = create_topic(b.bootstrap, unique_topic("keep"), partitions=3,
                         config={"retention.ms": "4000000", "cleanup.policy": "delete"})
    other = create_topic(b.bootstrap, unique_topic("keep-other"))
    gone = create_topic(b.bootstrap, unique_topic("keep-deleted"))
    # max.message.bytes above librdkafka's largest batch (its message.max.bytes, 1,000,000):
    # a slow broker lets the producer gather 2,000 records (~520 kB) into one batch, which a
    # lower limit would refuse with MESSAGE_TOO_LARGE, as Kafka does.
    err = kwire.incremental_alter_topic_configs(
        b.bootstrap, topic, [("max.message.bytes", kwire.OP_SET, "2000000")], T(10))
    assert err[0] == kwire.ERR_NONE, err
    recs = [{"key": b"k%d" % i, "value": b"%06d" % i * 40, "headers": [("i", b"%d" % i)],
             "partition": i % 3} for i in range(6000)]
    produce_all(producer(b.bootstrap, **{"compression.type": "lz4"}), topic, recs)
    produce_all(producer(b.bootstrap), other, [{"value": None}, {"value": b"two"}], partition=0)
    futs = admin_client(b.bootstrap).delete_topics([gone], request_timeout=T(10))
    futs[gone].result(timeout=T(20))
    before = snapshot(b.bootstrap, topic, 3)
    before_other = snapshot(b.bootstrap, other, 1)
    configs_before = describe(b.bootstrap, topic)

    b.restart()

    assert topic_partitions(b.bootstrap, topic) == 3
    assert snapshot(b.bootstrap, topic, 3) == before
    assert snapshot(b.bootstrap, other, 1) == before_other
    after = describe(b.bootstrap, topic)
    assert after["retention.ms"] == "4000000"
    assert after["max.message.bytes"] == "2000000"
    assert after == configs_before
    md = admin_client(b.bootstrap).list_topics(timeout=T(10))
    assert gone not in md.topics, "a deleted topic came back after restart"
    msgs = produce_all(producer(b.bootstrap), topic, [{"value": b"after"}], partition=0)
    assert msgs[0].offset() == before[0][1], "appends continue at the old end offset"


def test_a_restart_after_kill9_on_an_idle_broker_keeps_everything(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("idle-kill"), partitions=2)
    produce_all(producer(b.bootstrap), topic,
                [{"key": b"%d" % i, "value": b"v%d" % i, "partition": i % 2} for i in range(500)])
    before = snapshot(b.bootstrap, topic, 2)
    b.kill9()
    b.start()
    assert snapshot(b.bootstrap, topic, 2) == before



def _tail_is_zeros(path, n=4096):
    with open(path, "rb") as f:
        f.seek(max(os.path.getsize(path) - n, 0))
        return f.read() == bytes(n)


def _produce_one_by_one(bootstrap, topic, values):
    """acks=all, each record waited for: every produce is its own small sync job."""
    p = producer(bootstrap, **{"linger.ms": 0})
    for v in values:
        p.produce(topic, v)
        assert p.flush(T(10)) == 0


def test_zeroed_space_after_the_log_is_cut_at_stop_and_dropped_after_kill9(make_broker):
    # log.zero.ahead.bytes: under flush policy always, while syncs are small, the active
    # segment has zeroed space after its last batch (so fdatasync needs no journal commit).
    ahead = 1 << 20
    b = make_broker({"log.zero.ahead.bytes": ahead})
    topic = create_topic(b.bootstrap, unique_topic("zero-ahead"))
    seg = os.path.join(b.data_dir, "topics", topic, "0", "00000000000000000000.log")
    values = [b"z%04d" % i + b"x" * 500 for i in range(60)]
    _produce_one_by_one(b.bootstrap, topic, values[:40])
    wait_for(lambda: os.path.getsize(seg) > ahead and _tail_is_zeros(seg), T(10),
             "zeroed space after the last batch")
    b.kill9()
    before = len(b.stderr_text())
    b.start()
    log = b.stderr_text()[before:]
    assert log.count("bytes of zeroed space after the last batch of segment 0") == 1, log
    assert "torn or corrupt" not in log
    assert os.path.getsize(seg) < ahead and not _tail_is_zeros(seg)
    got = read_partition(b.bootstrap, topic, 0, 40, T(30))
    assert [(m.offset(), m.value()) for m in got] == list(enumerate(values[:40]))
    # the restarted broker zeroes ahead again; a clean stop cuts it
    _produce_one_by_one(b.bootstrap, topic, values[40:])
    wait_for(lambda: os.path.getsize(seg) > ahead and _tail_is_zeros(seg), T(10),
             "zeroed space after the last batch, after the restart")
    assert b.stop() == 0
    assert os.path.getsize(seg) < ahead and not _tail_is_zeros(seg)
    before = len(b.stderr_text())
    b.start()
    assert "zeroed space" not in b.stderr_text()[before:]
    got = read_partition(b.bootstrap, topic, 0, 60, T(30))
    assert [(m.offset(), m.value()) for m in got] == list(enumerate(values))


def test_no_zeroed_space_when_it_is_off_or_the_flush_policy_is_not_always(make_broker):
    for i, settings in enumerate(({"log.zero.ahead.bytes": 0},
                                  {"log.flush.policy": "interval"})):
        b = make_broker(settings, name="broker-%d" % i)
        topic = create_topic(b.bootstrap, unique_topic("no-zero"))
        seg = os.path.join(b.data_dir, "topics", topic, "0", "00000000000000000000.log")
        _produce_one_by_one(b.bootstrap, topic, [b"v%d" % i for i in range(30)])
        time.sleep(0.5)
        assert os.path.getsize(seg) < 4096 and not _tail_is_zeros(seg, 16), settings
        b.stop()

def test_a_lazy_flush_restart_after_kill9_serves_at_once_and_syncs_in_the_background(
        make_broker):
    # flush policy never: after kill -9 the whole log may be only in the page cache; the
    # restart verifies it and serves it at once, and makes it durable in the background
    # instead of before it is ready (for a 1 GiB log that sync alone took ~0.8 s here).
    b = make_broker({"log.flush.policy": "never", "log.segment.bytes": 64 * 1024})
    topic = create_topic(b.bootstrap, unique_topic("lazy-kill"), partitions=1)
    p = producer(b.bootstrap)
    for r in range(6):   # six flushes of ~75 kB: at least six batches, so several segments
        produce_all(p, topic, [{"key": b"%d" % i, "value": b"v%06d" % i * 20}
                               for i in range(r * 500, (r + 1) * 500)], partition=0)
    before = snapshot(b.bootstrap, topic, 1)
    pdir = os.path.join(b.data_dir, "topics", topic, "0")
    assert len([n for n in os.listdir(pdir) if n.endswith(".log")]) >= 2
    rp = os.path.join(pdir, "recovery-point")
    # nothing has synced the log: no recovery point yet (a new partition writes none until a
    # sync reaches a later segment or it closes), or one naming the first segment
    assert not os.path.exists(rp) or int(open(rp).read()) == 0
    b.kill9()
    b.start()
    with open(b.stderr_path, "rb") as f:
        log = f.read().decode(errors="replace")
    assert re.search(r"recovered after an unclean stop: offsets 0\.\.%d, durable to \d+ "
                     r"\(the rest once synced, in the background\)" % before[0][1], log), log
    assert snapshot(b.bootstrap, topic, 1) == before
    # the background sync covered the log: the recovery point moved to its end (the recovery
    # point names the segment to verify from, so it is rewritten when that segment changes)
    wait_for(lambda: int(open(rp).read()) == before[0][1], T(20), "background sync")


# ---- kill -9 rounds ------------------------------------------------------------------------

def read_acks(path):
    """[(partition, offset, value bytes)] from the tool's file; a torn last line cannot happen
    (the tool exits before we read) but is ignored defensively."""
    acks = []
    if not os.path.exists(path):
        return acks
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                continue
            p, o, v = line.rstrip(b"\n").split(b" ", 2)
            acks.append((int(p), int(o), v))
    return acks


def run_kill_round(b, topic, partitions, round_no, acks_path, tmp_path, rng):
    """One round: producer running, broker SIGKILLed at a random moment, producer stopped,
    broker restarted. Returns how many acknowledgements this round added."""
    before = len(read_acks(acks_path))
    log = open(os.path.join(str(tmp_path), "producer-%d.log" % round_no), "wb")
    proc = subprocess.Popen([PYTHON, PRODUCER_TOOL, "--bootstrap", b.bootstrap, "--topic", topic,
                             "--out", acks_path, "--round", str(round_no),
                             "--partitions", str(partitions), "--max-seconds", str(T(60)),
                             "--timeout-scale", str(TIMEOUT_SCALE)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_for(lambda: len(read_acks(acks_path)) > before or proc.poll() is not None, T(20),
                 "the producer's first acknowledgement in round %d" % round_no, interval_s=0.02)
        assert proc.poll() is None, "the producer exited early (see producer-%d.log)" % round_no
        time.sleep(rng.uniform(0.3, 2.0))
        b.kill9()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=T(40))
        assert rc == 0, "producer exited %d (see producer-%d.log)" % (rc, round_no)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=T(10))
        log.close()
    b.start()
    return len(read_acks(acks_path)) - before


def read_whole_topic(bootstrap, topic, partitions):
    """{partition: [(offset, key, value)]} from offset 0 to the high watermark."""
    logs = {}
    c = consumer(bootstrap, **{"check.crcs": True, "fetch.max.bytes": 8 * 1024 * 1024})
    try:
        ends = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=T(10),
                                             cached=False)
            assert lo == 0, "partition %d starts at %d, not 0 (nothing was deleted)" % (p, lo)
            ends[p] = hi
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        msgs = consume_range(c, sum(ends.values()), T(120))
    finally:
        c.close()
    for m in msgs:
        logs.setdefault(m.partition(), []).append((m.offset(), m.key(), m.value()))
    for p in range(partitions):
        logs.setdefault(p, [])
        assert len(logs[p]) == ends[p], "partition %d: read %d records, high watermark %d" % (
            p, len(logs[p]), ends[p])
    return logs


def verify_log(logs, acks, partitions, rounds_done):
    """The checks of one round, over everything produced so far."""
    where = {}   # value -> [(partition, offset)]
    for p, recs in logs.items():
        offsets = [o for o, _, _ in recs]
        assert offsets == list(range(len(recs))), \
            "partition %d: offsets not contiguous from 0 (first gap near %s)" % (
                p, next((i for i, o in enumerate(offsets) if o != i), None))
        for o, k, v in recs:
            m = VALUE_RE.match(v or b"")
            assert m, "partition %d offset %d: corrupt value %r" % (p, o, v)
            rnd, seq, pad = int(m.group(1)), int(m.group(2)), m.group(3)
            assert rnd < rounds_done and len(pad) == seq % 37, \
                "partition %d offset %d: value %r was never produced" % (p, o, v)
            assert k == b"k%d" % seq, "partition %d offset %d: key %r for %r" % (p, o, k, v)
            assert seq % partitions == p, "record %r in partition %d" % (v, p)
            where.setdefault(v, []).append((p, o))
    missing = []
    for p, o, v in acks:
        recs = logs.get(p, [])
        if o >= len(recs) or recs[o][2] != v:
            missing.append((p, o, v, recs[o][2] if o < len(recs) else None))
    assert not missing, "%d acknowledged records lost or moved; first: %r" % (len(missing),
                                                                            missing[:5])
    acked_values = [v for _, _, v in acks]
    assert len(set(acked_values)) == len(acked_values), "a value was acknowledged twice"
    dups = {v: locs for v, locs in where.items() if len(locs) > 1}
    too_many = {v: locs for v, locs in dups.items() if len(locs) > 1 + PRODUCER_RETRIES}
    assert not too_many, "records stored more often than the producer could retry: %r" % (
        list(too_many.items())[:3])
    return dups


def kill_rounds(b, tmp_path, rounds, partitions=3):
    topic = create_topic(b.bootstrap, unique_topic("kill9"), partitions=partitions)
    acks_path = os.path.join(str(tmp_path), "acks.txt")
    seed = int(os.environ.get("SLUICE_KILL_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    print("kill -9 rounds: %d, seed %d (SLUICE_KILL_SEED)" % (rounds, seed))
    total_dups = 0
    for r in range(rounds):
        added = run_kill_round(b, topic, partitions, r, acks_path, tmp_path, rng)
        acks = read_acks(acks_path)
        logs = read_whole_topic(b.bootstrap, topic, partitions)
        dups = verify_log(logs, acks, partitions, r + 1)
        total_dups += len(dups)
        print("round %d: +%d acks (total %d), log %s, values stored twice: %d"
              % (r, added, len(acks), {p: len(v) for p, v in logs.items()}, len(dups)))
    assert len(read_acks(acks_path)) > 0, "no record was ever acknowledged"
    ends = {p: len(v) for p, v in read_whole_topic(b.bootstrap, topic, partitions).items()}
    msgs = produce_all(producer(b.bootstrap), topic, [{"value": b"after-all-rounds"}], partition=0)
    assert msgs[0].offset() == ends[0], "appends continue at the recovered end offset"


@pytest.mark.time_limit(120 + 60 * KILL_ROUNDS)
@pytest.mark.long
def test_every_acknowledged_record_survives_kill9_at_its_offset(make_broker, tmp_path):
    b = make_broker()
    kill_rounds(b, tmp_path, KILL_ROUNDS)


@pytest.mark.parametrize("policy", ["interval", "never"])
@pytest.mark.time_limit(240)
def test_a_process_crash_loses_no_acknowledged_record_with_a_lazy_flush_policy(make_broker,
                                                                            tmp_path, policy):
    # Page cache survives kill -9, so even without fdatasync nothing acknowledged is lost.
    b = make_broker({"log.flush.policy": policy, "log.flush.interval.ms": 60000})
    kill_rounds(b, tmp_path, 2)


@pytest.mark.slow
@pytest.mark.time_limit(120 + 60 * 20)
def test_every_acknowledged_record_survives_twenty_kill9_rounds(make_broker, tmp_path):
    b = make_broker({"log.segment.bytes": 128 * 1024})   # recovery across many segments
    kill_rounds(b, tmp_path, 20)
