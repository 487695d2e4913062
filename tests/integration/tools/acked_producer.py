#!/usr/bin/python3
"""Produces numbered records with acks=all until SIGTERM (or --max-seconds) and appends one line
per acknowledged record to --out: "PARTITION OFFSET VALUE". The file is flushed after each line,
so whatever the broker acknowledged is on record before the test kills the broker.

Values are "ROUND-SEQ-" followed by SEQ % 37 'x' characters; keys are "kSEQ"; the partition is
SEQ % --partitions. On SIGTERM it purges what is queued or in flight (those are not acknowledged)
and exits 0. Used by test_durability.py.
"""

import argparse
import signal
import sys
import time

from confluent_kafka import Producer

stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True


def value_for(round_no, seq):
    return b"%d-%d-%s" % (round_no, seq, b"x" * (seq % 37))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--round", type=int, required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--timeout-scale", type=float, default=1.0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    out = open(args.out, "a")
    counts = {"acked": 0, "failed": 0, "sent": 0}

    def on_delivery(err, msg):
        if err is not None:
            counts["failed"] += 1
            return
        counts["acked"] += 1
        out.write("%d %d %s\n" % (msg.partition(), msg.offset(), msg.value().decode()))
        out.flush()

    prod = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "linger.ms": 2,
        "message.send.max.retries": 3,
        "retry.backoff.ms": 50,
        "message.timeout.ms": int(5000 * args.timeout_scale),
        "socket.timeout.ms": int(5000 * args.timeout_scale),
        "reconnect.backoff.max.ms": 200,
        "queue.buffering.max.messages": 10000,
    })
    deadline = time.monotonic() + args.max_seconds
    seq = 0
    while not stopping and time.monotonic() < deadline:
        try:
            prod.produce(args.topic, value_for(args.round, seq), key=b"k%d" % seq,
                         partition=seq % args.partitions, on_delivery=on_delivery)
            seq += 1
            counts["sent"] = seq
        except BufferError:
            prod.poll(0.01)
            continue
        if seq % 64 == 0:
            prod.poll(0.001)   # keep at most a few batches queued
        else:
            prod.poll(0)
    prod.purge(in_queue=True, in_flight=True, blocking=False)
    left = prod.flush(10 * args.timeout_scale)
    out.close()
    sys.stderr.write("acked_producer: round %d sent %d acked %d failed %d unreported %d\n"
                     % (args.round, counts["sent"], counts["acked"], counts["failed"], left))
    return 0


if __name__ == "__main__":
    sys.exit(main())
