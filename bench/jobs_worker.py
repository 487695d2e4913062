#!/usr/bin/python3
"""Trivial persistent worker for the jobs benchmark: answers each job line with its payload."""
import json
import sys

for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.write(json.dumps({"id": req["id"], "ok": True, "result": req["payload"]}) + "\n")
    sys.stdout.flush()
