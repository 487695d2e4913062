#!/usr/bin/python3
"""Long job for the kill -9 tests of `sluice jobs`: records its life in $JOBS_TEST_DIR/life.

Payload {"name": N, "secs": S, "grandchild": bool}. A run appends
"start N PID TICKS TIME" (TICKS: /proc/PID/stat field 22) for the process that does the work,
either itself or, with grandchild, a child in the same process group (as the inspect worker's
browser is), sleeps S seconds, then appends "end N PID TIME". Before it starts, it checks every
earlier run of N: one still alive (same pid and start time, not a zombie) is written as
"OVERLAP N PID" - a job running twice at once. One-shot by default; --persistent serves
{"id","attempt","payload"} lines."""
import json
import os
import sys
import time

DIR = os.environ.get("JOBS_TEST_DIR", "/tmp")
LIFE = os.path.join(DIR, "life")


def stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[19])  # state, start ticks


def alive(pid, ticks):
    st = stat(pid)
    return st is not None and st[0] not in ("Z", "X") and st[1] == ticks


def append(line):
    with open(LIFE, "a") as f:
        f.write(line + "\n")


def check_earlier(name, me):
    if not os.path.exists(LIFE):
        return
    with open(LIFE) as f:
        for line in f:
            w = line.split()
            if len(w) >= 4 and w[0] == "start" and w[1] == name and int(w[2]) != me:
                if alive(int(w[2]), int(w[3])):
                    append("OVERLAP %s %s" % (name, w[2]))


def life(name, secs):
    me = os.getpid()
    check_earlier(name, me)
    append("start %s %d %d %.3f" % (name, me, stat(me)[1], time.time()))
    time.sleep(secs)
    append("end %s %d %.3f" % (name, me, time.time()))


def run(p):
    if not p.get("grandchild"):
        life(p["name"], p["secs"])
        return
    pid = os.fork()
    if pid == 0:
        try:
            life(p["name"], p["secs"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def main():
    if "--persistent" in sys.argv:
        for line in sys.stdin:
            req = json.loads(line)
            run(req["payload"])
            sys.stdout.write(json.dumps({"id": req["id"], "ok": True, "result": 1}) + "\n")
            sys.stdout.flush()
        return 0
    run(json.load(sys.stdin))
    print("1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
