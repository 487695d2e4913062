#!/usr/bin/python3
"""A transactional consume-transform-produce loop (exactly-once with confluent-kafka): reads
--input as group --group with isolation.level=read_committed, and for every few records begins
a transaction, produces "out:VALUE" to --output, sends the consumer's positions with
send_offsets_to_transaction and commits. Exits 0 once the group's committed offsets reach the
input's end (--count records over one partition). Used by test_transactions.py, which kills it
with SIGKILL at random points and starts it again: the output must hold each input once for a
read_committed reader. Any fatal error exits 2; abortable errors abort and go on."""

import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--tid", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--batch", type=int, default=7)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    cons = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "isolation.level": "read_committed", "session.timeout.ms": 6000})
    prod = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": a.tid,
                     "transaction.timeout.ms": 10000, "linger.ms": 1})
    prod.init_transactions(30)
    cons.assign([TopicPartition(a.input, 0)])
    deadline = time.monotonic() + a.max_seconds
    done = 0
    while time.monotonic() < deadline:
        msgs = [m for m in cons.consume(num_messages=a.batch, timeout=0.5) if not m.error()]
        if not msgs:
            committed = cons.committed([TopicPartition(a.input, 0)], timeout=10)[0].offset
            if committed >= a.count:
                print("done: %d copied by this run" % done, flush=True)
                return 0
            continue
        prod.begin_transaction()
        try:
            for m in msgs:
                prod.produce(a.output, b"out:" + m.value(), partition=0)
            prod.send_offsets_to_transaction(cons.position(cons.assignment()),
                                             cons.consumer_group_metadata(), 30)
            prod.commit_transaction(30)
            done += len(msgs)
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                prod.abort_transaction(30)
                # Rewind to what the group committed and go on.
                tp = cons.committed([TopicPartition(a.input, 0)], timeout=10)[0]
                cons.seek(TopicPartition(a.input, 0, max(tp.offset, 0)))
                continue
            print("fatal: %s" % err, file=sys.stderr, flush=True)
            return 2
    print("out of time", file=sys.stderr, flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main())
