#!/usr/bin/env python3
"""Keeps fuzz_broker_seq's programs meaning what they did when an API is added.

A program step's first byte picks the op modulo (APIs + 3): the broker's APIs in key order,
then three non-API ops (tests/fuzz/broker_seq.h, docs/fuzzing.md). A new API shifts every
later one, so the regression vectors in tests/fuzz/corpus/fuzz_broker_seq/ would replay other
APIs. This rewrites each step's op byte so the step picks the same API (or non-API op) as
before; the step's random body still differs where the byte changed (the generator's seed mixes
the byte in). Regenerate the flow-* seeds with `build/test_broker_seq --write-seeds` instead.

    tools/bseq_remap.py --added KEY FILE...   (run from the repository root, after apis.txt
                                               names the new API)
"""
import argparse
import os
import re

EXTRA_OPS = 3  # clock, reconnect, drain


def api_keys(root):
    keys = []
    with open(os.path.join(root, "src", "kafka", "apis.txt")) as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                name = line.split()[0]
                path = os.path.join(root, "src", "kafka", "schema", name + "Request.json")
                with open(path) as js:
                    keys.append(int(re.search(r'"apiKey":\s*(\d+)', js.read()).group(1)))
    return sorted(keys)


def remap_byte(b0, old, new):
    s = b0 % (len(old) + EXTRA_OPS)
    want = new.index(old[s]) if s < len(old) else len(new) + s - len(old)
    return b0 if b0 % (len(new) + EXTRA_OPS) == want else want


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--added", type=int, required=True, help="the new API's key")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    new = api_keys(".")
    old = [k for k in new if k != args.added]
    assert len(old) == len(new) - 1, "apis.txt does not name API %d" % args.added
    for path in args.files:
        with open(path, "rb") as fh:
            data = bytearray(fh.read())
        changed = 0
        for i in range(0, len(data) - len(data) % 8, 8):
            b = remap_byte(data[i], old, new)
            changed += b != data[i]
            data[i] = b
        with open(path, "wb") as fh:
            fh.write(bytes(data))
        print("%s: %d steps, %d op bytes rewritten" % (path, len(data) // 8, changed))


if __name__ == "__main__":
    main()
