"""OCR inspection end to end (issue 5): the real broker, `sluice jobs` with the real
`sluice inspect-worker` (headless Chromium + Tesseract kor+eng) as a persistent worker, pages
from the fixture shop generator served on 127.0.0.1, and a webhook receiver."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, T, sluice_bin, wait_for
from jobs_harness import JobsService, WebhookReceiver

sys.path.insert(0, os.path.join(REPO, "examples", "ocr-inspection"))
import shop  # noqa: E402

RULES = os.path.join(REPO, "examples", "ocr-inspection", "rules.txt")
pytestmark = [
    pytest.mark.own_broker,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium (scripts/setup)"),
]


@pytest.fixture
def site(tmp_path):
    root = str(tmp_path / "shop")
    truth = shop.generate(root, 4)
    with open(os.path.join(root, "clean.html"), "w", encoding="utf-8") as f:
        f.write(shop.page_html("Plain page", ["<p>Gentle on sensitive skin</p>"]))
    with open(os.path.join(root, "blank.html"), "w") as f:
        f.write("<!doctype html><html><body></body></html>")
    srv = shop.serve(root)
    yield "http://127.0.0.1:%d" % srv.server_address[1], truth
    srv.shutdown()


def worker_cmd(tmp_path, *extra):
    return [sluice_bin(), "inspect-worker", "--rules", RULES, "--artifacts",
            str(tmp_path / "artifacts"), "--load-timeout-ms", "8000"] + list(extra)


def test_flagged_clean_failing_and_hanging_pages_through_sluice_jobs(broker, tmp_path, site):
    base, truth = site
    flagged = next(p for p in truth["pages"] if p["flagged"] and p["in_image"])
    hook = WebhookReceiver()
    jobs = JobsService(tmp_path, broker.bootstrap, {
        "workers.slots": "2",
        "type.inspect.command": " ".join(worker_cmd(tmp_path)),
        "type.inspect.mode": "persistent",
    }).start()
    try:
        def submit(path, **kw):
            job = {"type": "inspect", "payload": {"url": base + path}, "webhook": hook.url,
                   "max_attempts": 2, "timeout_s": 30}
            job.update(kw)
            return jobs.submit(job)
        ids = {"flagged": submit(flagged["path"]), "clean": submit("/clean.html"),
               "error": submit("/error500"), "hang": submit("/hang", timeout_s=4)}
        job = jobs.wait_state(ids["flagged"], "succeeded", timeout_s=60)
        res = job["result"]
        assert res["verdict"] == "flagged", res
        m = res["matches"][0]
        assert m["box"]["w"] > 0 and m["box"]["h"] > 0 and m["confidence"] > 50
        assert os.path.exists(res["capture_path"]) and os.path.exists(res["annotated_path"])
        assert set(res["timings_ms"]) >= {"capture", "ocr", "match", "store", "total"}

        job = jobs.wait_state(ids["clean"], "succeeded", timeout_s=60)
        assert job["result"]["verdict"] == "clean" and job["result"]["matches"] == []
        assert "sensitive" in job["result"]["text"]
        assert job["result"]["annotated_path"] is None

        job = jobs.wait_state(ids["error"], "dead", timeout_s=60)
        assert "HTTP 500" in job["last_error"], job
        job = jobs.wait_state(ids["hang"], "dead", timeout_s=90)
        assert "timed out" in job["last_error"], job
        assert [a["outcome"] for a in job["attempts"]] == ["failed", "failed"], job["attempts"]

        wait_for(lambda: len(hook.calls) >= 4, T(20), "a webhook for every job")
        got = {json.loads(c[2])["data"]["id"] for c in hook.calls}
        assert got == set(ids.values()) and all(c[3] for c in hook.calls)
        assert jobs.stop() == 0
    finally:
        hook.close()
        jobs.kill9()


def test_bad_input_ends_the_attempt_with_a_clear_error_and_the_worker_goes_on(tmp_path, site):
    base, _ = site
    reqs = [
        {"url": base + "/truth.json"},
        {"url": "http://127.0.0.1:9/"},
        {"url": "file:///etc/passwd"},
        {"url": base + "/blank.html"},
        {"url": base + "/clean.html", "rules": ["re:(["]},
        {"url": base + "/clean.html", "rules": ["sensitive skin"]},
    ]
    tmp = os.environ.get("TMPDIR", "/tmp")
    before = {d for d in os.listdir(tmp) if d.startswith("sluice-inspect-")}
    lines = "".join(json.dumps({"id": "j%d" % i, "attempt": 0, "payload": p}) + "\n"
                    for i, p in enumerate(reqs))
    out = subprocess.run(worker_cmd(tmp_path), input=lines, capture_output=True, text=True,
                         timeout=T(120))
    assert out.returncode == 0, out.stderr
    replies = [json.loads(l) for l in out.stdout.splitlines()]
    assert [r["id"] for r in replies] == ["j%d" % i for i in range(len(reqs))]
    errors = [r.get("error", "") for r in replies]
    assert "not an HTML page (application/json)" in errors[0]
    assert "cannot load" in errors[1]
    assert "http:// or https://" in errors[2]
    assert "empty page" in errors[3]
    assert "payload.rules" in errors[4]
    assert replies[5]["ok"] and replies[5]["result"]["verdict"] == "flagged", replies[5]
    after = {d for d in os.listdir(tmp) if d.startswith("sluice-inspect-")}
    assert after <= before, "the browser profile is removed at exit"
