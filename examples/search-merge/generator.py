#!/usr/bin/python3
"""Feeds the two product topics of the search-merge example: details (name, brand,
description) and offers (price, stock) keyed by product id, then keeps changing prices and
stock now and then. One malformed details record goes in early on purpose: it must land in
products.errors (and in the join's metrics) while everything else flows.
  generator.py --brokers HOST:PORT [--products N] [--updates-per-s R] [--seconds S]"""

import argparse
import json
import random
import sys
import time

from confluent_kafka import Producer

ADJ = ["compact", "wireless", "stainless", "ergonomic", "waterproof", "vintage", "smart",
       "foldable", "organic", "heavy-duty", "portable", "silent"]
NOUN = ["kettle", "headphones", "backpack", "desk lamp", "espresso machine", "keyboard",
        "tent", "blender", "office chair", "water bottle", "drill", "speaker"]
BRAND = ["Acme", "Nordlys", "Kestrel", "Umbra", "Solano", "Brightwell"]


def details(i, rnd):
    name = "%s %s" % (rnd.choice(ADJ), rnd.choice(NOUN))
    return {"id": "p%05d" % i, "name": name.title(), "brand": rnd.choice(BRAND),
            "description": "A %s from %s, model %d." % (name, rnd.choice(BRAND), 100 + i)}


def offer(i, rnd):
    return {"price": round(rnd.uniform(5, 500), 2), "stock": rnd.randint(0, 200),
            "currency": "EUR"}


def main():
    ap = argparse.ArgumentParser(description="Writes products.details and products.offers "
                                 "(and one malformed record), then price/stock changes.")
    ap.add_argument("--brokers", required=True, help="Kafka bootstrap servers, HOST:PORT")
    ap.add_argument("--products", type=int, default=500, help="products to write (default 500)")
    ap.add_argument("--updates-per-s", type=float, default=5,
                    help="price/stock changes per second afterwards (default 5)")
    ap.add_argument("--seconds", type=float, default=0,
                    help="stop after this many seconds of changes (default 0: until interrupted)")
    args = ap.parse_args()
    rnd = random.Random(7)
    p = Producer({"bootstrap.servers": args.brokers, "acks": "all", "linger.ms": 5})
    for i in range(args.products):
        key = ("p%05d" % i).encode()
        p.produce("products.details", key=key, value=json.dumps(details(i, rnd)).encode())
        if i % 10 != 9:  # every tenth product has no offer yet: the left join keeps it
            p.produce("products.offers", key=key, value=json.dumps(offer(i, rnd)).encode())
        if i == 3:
            p.produce("products.details", key=b"p-broken", value=b'{"name": "half a record')
    p.flush(30)
    print("generator: %d products written (one malformed record among them)" % args.products,
          flush=True)
    end = time.monotonic() + args.seconds if args.seconds else None
    try:
        while end is None or time.monotonic() < end:
            i = rnd.randrange(args.products)
            p.produce("products.offers", key=("p%05d" % i).encode(),
                      value=json.dumps(offer(i, rnd)).encode())
            p.poll(0)
            time.sleep(1.0 / args.updates_per_s)
    except KeyboardInterrupt:
        pass
    p.flush(10)


if __name__ == "__main__":
    sys.exit(main())
