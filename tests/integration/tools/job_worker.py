#!/usr/bin/python3
"""Test worker for `sluice jobs`, both kinds.

One-shot (default): reads the payload JSON on stdin, writes a result JSON on stdout.
--persistent: starts once (appends a line to $JOBS_TEST_DIR/starts), then serves one
{"id","attempt","payload"} line at a time with {"id","ok","result"|"error"} lines.

The payload says what to do: {"n": N} echoes; {"fail_until": K, "marker": NAME} fails while the
attempt count recorded in $JOBS_TEST_DIR/NAME is below K; {"always_fail": true} fails;
{"hang": S} sleeps S seconds; {"sleep": S} sleeps then succeeds; {"fix_file": F} fails unless
file F exists; {"crash": true} exits 3; {"bad_json": true} answers with a line that is not JSON. Every run appends "id attempt" to $JOBS_TEST_DIR/runs.
"""
import json
import os
import sys
import time

DIR = os.environ.get("JOBS_TEST_DIR", "/tmp")


def bump(name):
    path = os.path.join(DIR, name)
    n = 0
    if os.path.exists(path):
        with open(path) as f:
            n = int(f.read() or 0)
    n += 1
    with open(path, "w") as f:
        f.write(str(n))
    return n


def work(job_id, attempt, payload):
    """Returns (ok, result_or_error)."""
    with open(os.path.join(DIR, "runs"), "a") as f:
        f.write(f"{job_id} {attempt} start {time.time():.3f}\n")
    sys.stderr.write(f"working on {job_id} attempt {attempt}\n")
    sys.stderr.flush()
    p = payload if isinstance(payload, dict) else {}
    if p.get("hang"):
        time.sleep(p["hang"])
    if p.get("sleep"):
        time.sleep(p["sleep"])
    if p.get("bad_json"):
        print("this is not json", flush=True)
        if "--persistent" not in sys.argv:
            sys.exit(0)
        return None, None
    if p.get("crash"):
        sys.stderr.write("crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if "fail_until" in p:
        n = bump(p["marker"])
        if n < p["fail_until"]:
            sys.stderr.write(f"transient failure {n}\n")
            return False, f"transient failure {n}"
    if p.get("always_fail"):
        sys.stderr.write("cannot reach the page: connection refused\n")
        return False, "always fails"
    if p.get("fix_file") and not os.path.exists(p["fix_file"]):
        sys.stderr.write(f"missing {p['fix_file']}\n")
        return False, "not fixed yet"
    with open(os.path.join(DIR, "runs"), "a") as f:
        f.write(f"{job_id} {attempt} end {time.time():.3f}\n")
    return True, {"echo": payload, "attempt": attempt}


def main():
    if "--persistent" in sys.argv:
        with open(os.path.join(DIR, "starts"), "a") as f:
            f.write(f"{os.getpid()}\n")
        for line in sys.stdin:
            req = json.loads(line)
            ok, out = work(req["id"], req["attempt"], req["payload"])
            if ok is None:
                continue  # the garbage line above was the reply
            reply = {"id": req["id"], "ok": ok}
            reply["result" if ok else "error"] = out
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
        return 0
    payload = json.load(sys.stdin)
    ok, out = work(os.environ.get("SLUICE_JOB_ID", "?"), 0, payload)
    if not ok:
        sys.stderr.write(out + "\n")
        return 1
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
