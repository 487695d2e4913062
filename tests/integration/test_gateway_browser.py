"""The emergency-alert page in a real browser: Debian chromium driven headless by playwright-core
(examples/emergency-alert/web, installed with `npm ci`) loads the page the gateway serves, which
uses @stomp/stompjs; an alert POSTed over HTTP appears live, is accepted, the page watches the
remembered line again after a reload, and a screenshot is taken."""

import json
import os
import subprocess

import pytest

from conftest import REPO, T
from gateway_harness import Gateway
from screenshots import assert_not_blank, keep

WEB = os.path.join(REPO, "examples", "emergency-alert", "web")
pytestmark = pytest.mark.own_broker  # chromium, node and npm come from scripts/setup


def npm_ci():
    if os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core")):
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True,
                   timeout=T(300), stdout=subprocess.DEVNULL)


@pytest.mark.long
def test_an_alert_posted_over_http_appears_in_the_page_and_is_accepted(broker, tmp_path):
    npm_ci()
    gw = Gateway(tmp_path, broker.bootstrap, {"http.static.dir": WEB, "http.static.path": "/app"})
    gw.start()
    try:
        shot = os.path.join(str(tmp_path), "emergency-alert.png")
        p = subprocess.run(["node", os.path.join(WEB, "browser_check.mjs"),
                            "http://127.0.0.1:%d" % gw.port, "3", shot],
                           cwd=WEB, capture_output=True, text=True, timeout=T(90),
                           env=dict(os.environ, BROWSER_TIMEOUT_MS=str(int(T(15) * 1000))))
        lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
        assert lines, (p.stdout, p.stderr)
        result = json.loads(lines[-1])
        assert p.returncode == 0 and result["ok"], (result, p.stderr[-2000:])
        assert os.path.getsize(shot) > 10000
        assert_not_blank(shot)
        keep(shot)
        accepted = gw.stats()
        assert accepted["produced"] == 3  # the alert, the accept and the alert left open
        assert result["remembered"] == "3", result
    finally:
        gw.stop()
