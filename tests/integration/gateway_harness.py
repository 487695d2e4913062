"""Harness for `sluice gateway` tests: the service process (127.0.0.1, ephemeral port, stopped by
PID), HTTP helpers and a small STOMP 1.2 client over WebSocket (python3-websocket)."""

import json
import socket
import time

import pytest
import websocket

from conftest import T
from service_harness import ServiceProcess

# The emergency-alert shape: two routes and one destination family over both topics.
ALERT_SETTINGS = {
    "ws.path": "/an-ws",
    "route.alert.path": "/alert",
    "route.alert.topic": "an-alert",
    "route.alert.fields": "line:string,location:string,note:string?",
    "route.alert.key": "line",
    "route.accept.path": "/accept",
    "route.accept.topic": "an-accept",
    "route.accept.fields": "line:string,alert:string,by:string",
    "route.accept.key": "line",
    "route.accept.send": "true",
    "dest.line.prefix": "/sub/line/",
    "dest.line.topics": "an-alert,an-accept",
    "dest.line.filter": "json:line",
    # the example's alerts are public, history included; the tests of credentials override it
    "dest.line.public": "all",
    "http.topics.enable": "true",
    "http.topics.allow": "*",
}


class Gateway(ServiceProcess):
    """A `sluice gateway serve` process; settings override ALERT_SETTINGS."""

    ARGS = ["gateway", "serve"]

    def __init__(self, tmp_path, brokers, settings=None, name="gateway"):
        defaults = {"brokers": brokers, "http.listen": "127.0.0.1:0", "broker.timeout.ms": "3000"}
        defaults.update(ALERT_SETTINGS)
        defaults.update(settings or {})
        super().__init__(tmp_path, name, defaults)

    def post_ok(self, path, body, headers=None):
        status, resp = self.request("POST", path, body, headers=headers)
        assert status == 200, (status, resp)
        return resp

    def alert(self, line, location, note=None):
        body = {"line": str(line), "location": location}
        if note is not None:
            body["note"] = note
        return self.post_ok("/alert", body)

    def stats(self):
        status, resp = self.request("GET", "/stats")
        assert status == 200, (status, resp)
        return resp

    def url(self):
        return "ws://127.0.0.1:%d%s" % (self.port, self.settings["ws.path"])


# ---- STOMP ------------------------------------------------------------------------------------

def _unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "r": "\r", "c": ":", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def escape(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace(":", "\\c")


class Frame:
    def __init__(self, command, headers, body):
        self.command, self.headers, self.body = command, headers, body

    def __repr__(self):
        return "Frame(%s, %r, %r)" % (self.command, self.headers, self.body[:200])

    def json(self):
        return json.loads(self.body)


def encode(command, headers=None, body=""):
    lines = [command] + ["%s:%s" % (k, v if command in ("CONNECT", "STOMP") else escape(str(v)))
                         for k, v in (headers or {}).items()]
    return "\n".join(lines) + "\n\n" + body + "\0"


class Closed(Exception):
    pass


class Stomp:
    """A STOMP 1.2 session over one WebSocket. recv() bounds every wait."""

    def __init__(self, url, sockopt=None):
        self.ws = websocket.create_connection(url, subprotocols=["v12.stomp"], timeout=T(10),
                                              sockopt=sockopt or ())
        self.buf = ""
        self.heartbeats = 0

    def send_raw(self, text):
        self.ws.send(text)

    def send(self, command, headers=None, body=""):
        self.ws.send(encode(command, headers, body))

    def connect(self, heart_beat="0,0", **headers):
        h = {"accept-version": "1.2", "host": "sluice", "heart-beat": heart_beat}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        self.send("CONNECT", h)
        f = self.recv()
        assert f.command == "CONNECTED", f
        return f

    def subscribe(self, sub_id, destination, ack="auto", receipt=True, **extra):
        h = {"id": sub_id, "destination": destination, "ack": ack}
        h.update({k.replace("_", "-"): v for k, v in extra.items()})
        if receipt:
            h["receipt"] = "sub-" + sub_id
        self.send("SUBSCRIBE", h)
        if receipt:
            f = self.recv()
            assert f.command == "RECEIPT" and f.headers["receipt-id"] == "sub-" + sub_id, f
            return f

    def _parse(self):
        while self.buf.startswith("\n") or self.buf.startswith("\r\n"):
            self.buf = self.buf[1:] if self.buf[0] == "\n" else self.buf[2:]
            self.heartbeats += 1
        end = self.buf.find("\n\n")
        if end < 0:
            return None
        head = self.buf[:end].split("\n")
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            k, v = _unescape(k), _unescape(v)
            headers.setdefault(k, v)
        rest = self.buf[end + 2:]
        if "content-length" in headers:
            n = int(headers["content-length"])
            raw = rest.encode("utf-8")
            if len(raw) < n + 1:
                return None
            body = raw[:n].decode("utf-8")
            self.buf = raw[n + 1:].decode("utf-8")
        else:
            nul = rest.find("\0")
            if nul < 0:
                return None
            body, self.buf = rest[:nul], rest[nul + 1:]
        return Frame(head[0], headers, body)

    def recv(self, timeout_s=None):
        """The next frame; raises Closed when the connection ends first, TimeoutError after
        timeout_s."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else T(10))
        while True:
            f = self._parse()
            if f:
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no STOMP frame in time")
            self.ws.settimeout(left)
            try:
                data = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                raise TimeoutError("no STOMP frame in time")
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                raise Closed()
            if data in ("", b""):
                raise Closed()
            self.buf += data if isinstance(data, str) else data.decode("utf-8")

    def messages(self, n, timeout_s=None):
        """Exactly n MESSAGE frames (other frames are an error)."""
        out = []
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else T(10))
        while len(out) < n:
            f = self.recv(max(0.01, deadline - time.monotonic()))
            assert f.command == "MESSAGE", f
            out.append(f)
        return out

    def nothing_more(self, wait_s=0.5):
        """Asserts no frame arrives within wait_s."""
        try:
            f = self.recv(wait_s)
        except TimeoutError:
            return
        raise AssertionError("unexpected frame %r" % f)

    def wait_closed(self, timeout_s=None):
        """Reads until the server closes; returns the frames seen meanwhile."""
        frames = []
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else T(10))
        while True:
            try:
                frames.append(self.recv(max(0.01, deadline - time.monotonic())))
            except Closed:
                return frames

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass

    def drop(self):
        """Ends the TCP connection without a WebSocket close or DISCONNECT."""
        self.ws.sock.shutdown(socket.SHUT_RDWR)
        self.ws.sock.close()


@pytest.fixture
def make_gateway(tmp_path):
    """Starts gateways (make(broker, settings, name)); each must stop cleanly at the end."""
    started = []

    def make(broker, settings=None, name="gateway"):
        gw = Gateway(tmp_path, broker.bootstrap, settings, name)
        started.append(gw)
        return gw.start()
    yield make
    codes = []
    for gw in started:
        running = gw.proc is not None and gw.proc.poll() is None
        codes.append(gw.stop() if running else None)
    # a clean SIGTERM exit (under ASan: no leak, no error)
    assert all(c in (None, 0) for c in codes), codes
