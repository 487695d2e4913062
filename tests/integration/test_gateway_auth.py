"""Credentials on the gateway's surfaces: POST /topics/ off by default and then limited to its
allow list, bearer tokens (none, wrong, right, rotated), STOMP passcodes per destination, HS256
JWTs (expiry, destination claims, signature), history only for those allowed, parked positions
per principal, the idle timeout without heart-beats, and connections per address."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from conftest import T, wait_for
from gateway_harness import Gateway, Stomp, make_gateway  # noqa: F401 (fixture)

pytestmark = pytest.mark.own_broker

OLD, NEW = "old-token-0123456789", "new-token-0123456789"
SECRET = "jwt-secret-for-the-tests-0123456789abcdef"
PRIVATE = {"dest.line.public": "none", "dest.line.tokens": OLD + "," + NEW}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret=SECRET, alg="HS256"):
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def connect_error(gw, **headers):
    """CONNECT with headers; returns the ERROR frame's message (the session must close)."""
    s = Stomp(gw.url())
    s.send("CONNECT", dict({"accept-version": "1.2", "host": "x", "heart-beat": "0,0"}, **headers))
    frames = s.wait_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    return frames[0].headers["message"] + ": " + frames[0].body


def subscribe_error(s, dest, **extra):
    s.send("SUBSCRIBE", dict({"id": "x", "destination": dest, "ack": "auto"}, **extra))
    frames = s.wait_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    return frames[0].headers["message"] + ": " + frames[0].body


def stomp(gw, **connect):
    s = Stomp(gw.url())
    s.connect(**connect)
    return s


def test_topics_api_is_off_by_default_then_limited_to_its_allow_list(broker, make_gateway,
                                                                     tmp_path):
    off = make_gateway(broker, {"http.topics.enable": "false"}, name="off")
    status, resp = off.request("POST", "/topics/an-alert", {"value": "x"})
    assert status == 404, resp
    gw = make_gateway(broker, {"http.topics.allow": "an-*,audit",
                               "http.topics.token": OLD + "," + NEW}, name="on")
    body = {"value": "x"}
    assert gw.request("POST", "/topics/an-alert", body)[0] == 401
    assert gw.request("POST", "/topics/an-alert", body,
                      headers={"Authorization": "Bearer " + OLD[:-1] + "X"})[0] == 403
    for token in (OLD, NEW):   # rotation: both listed tokens work
        status, resp = gw.request("POST", "/topics/an-alert", body,
                                  headers={"Authorization": "Bearer " + token})
        assert status == 200, resp
    status, resp = gw.request("POST", "/topics/jobs.requests", body,
                              headers={"Authorization": "Bearer " + NEW})
    assert status == 403 and "http.topics.allow" in resp["message"], resp
    bad = Gateway(tmp_path, broker.bootstrap, {"http.topics.allow": ""}, name="bad")
    with pytest.raises(AssertionError) as e:
        bad.start()
    assert "http.topics.allow" in str(e.value)


def test_a_destination_nobody_may_read_is_a_configuration_error(broker, tmp_path):
    gw = Gateway(tmp_path, broker.bootstrap, {"dest.line.public": "none"})
    with pytest.raises(AssertionError) as e:
        gw.start()
    assert "dest.line: nobody may subscribe" in str(e.value)


def test_destination_tokens_old_and_new_read_and_others_are_refused(broker, make_gateway):
    gw = make_gateway(broker, PRIVATE)
    assert "bad credentials" in connect_error(gw, passcode="not-a-token-of-this-gateway")
    anon = stomp(gw)
    assert "SUBSCRIBE refused" in subscribe_error(anon, "/sub/line/1")
    readers = [stomp(gw, passcode=t) for t in (OLD, NEW)]
    for i, s in enumerate(readers):
        s.subscribe("s%d" % i, "/sub/line/1")
    gw.alert(1, "1-101")
    for s in readers:
        assert s.messages(1)[0].json()["location"] == "1-101"
    assert gw.stats()["auth_refused"] >= 2


def test_public_live_does_not_open_history(broker, make_gateway):
    gw = make_gateway(broker, {"dest.line.public": "live", "dest.line.tokens": OLD})
    gw.alert(2, "before")
    anon = stomp(gw)
    anon.subscribe("live", "/sub/line/2")   # live records are public
    gw.alert(2, "after")
    assert [m.json()["location"] for m in anon.messages(1)] == ["after"]
    late = stomp(gw)
    assert "history" in subscribe_error(late, "/sub/line/2", **{"x-from-time": "0"})
    member = stomp(gw, passcode=OLD)
    member.subscribe("h", "/sub/line/2", **{"x-from-time": "0"})
    assert [m.json()["location"] for m in member.messages(2)] == ["before", "after"]


def test_jwt_destination_claims_expiry_and_signature(broker, make_gateway):
    gw = make_gateway(broker, {"dest.line.public": "none", "stomp.jwt.secret": SECRET})
    now = int(time.time())
    ok = stomp(gw, passcode=jwt({"sub": "ann", "exp": now + 600, "dest": ["/sub/line/3"]}))
    ok.subscribe("a", "/sub/line/3", **{"x-from-time": "0"})   # history on its destinations
    assert "SUBSCRIBE refused" in subscribe_error(ok, "/sub/line/4")
    assert "expired" in connect_error(gw, passcode=jwt({"sub": "a", "exp": now - 1,
                                                          "dest": "/sub/line/*"}))
    assert "signature" in connect_error(gw, passcode=jwt({"sub": "a", "exp": now + 600},
                                                           secret="another-secret-" * 3))
    assert "HS256" in connect_error(gw, passcode=jwt({"sub": "a", "exp": now + 600},
                                                       alg="none"))
    short = stomp(gw, passcode=jwt({"sub": "bo", "exp": now + 2, "dest": "/sub/line/*"}))
    short.subscribe("b", "/sub/line/5")
    frames = short.wait_closed(T(10))
    assert frames and frames[-1].command == "ERROR", frames
    assert frames[-1].headers["message"] == "credentials expired"


def test_parked_positions_belong_to_the_principal_that_left_them(broker, make_gateway):
    other = "third-token-0123456789"
    gw = make_gateway(broker, {"dest.line.public": "none",
                               "dest.line.tokens": OLD + "," + other})
    a = stomp(gw, passcode=OLD, client_id="shared-id")
    a.subscribe("s", "/sub/line/6", ack="client")
    gw.alert(6, "unacked")
    assert a.messages(1)[0].json()["location"] == "unacked"
    a.drop()   # leaves the un-acked position parked
    wait_for(lambda: gw.stats()["connections"] == 0, T(10), "the dropped session closed")
    thief = stomp(gw, passcode=other, client_id="shared-id")
    thief.subscribe("s", "/sub/line/6", ack="client")
    thief.nothing_more(1.0)   # the parked position is not its to take
    thief.close()
    again = stomp(gw, passcode=OLD, client_id="shared-id")
    again.subscribe("s", "/sub/line/6", ack="client")
    assert again.messages(1)[0].json()["location"] == "unacked"


def test_a_silent_client_without_heart_beats_is_closed_but_a_reading_one_stays(broker,
                                                                             make_gateway):
    gw = make_gateway(broker, {"stomp.idle.timeout.ms": "2000"})
    silent = stomp(gw)             # heart-beat 0,0: no STOMP heart-beats either way
    reader = stomp(gw)
    reader.subscribe("r", "/sub/line/7")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:   # reading answers the gateway's pings with pongs
        try:
            reader.recv(0.3)
        except TimeoutError:
            pass
    wait_for(lambda: gw.stats()["closed_idle"] == 1, T(5), "the silent session closed")
    # it may see its ERROR, or only the close (answering a ping on a closed socket fails first)
    frames = silent.wait_closed(T(10))
    assert all(f.headers.get("message") == "idle timeout" for f in frames), frames
    gw.alert(7, "still here")
    assert reader.messages(1)[0].json()["location"] == "still here"
    assert gw.stats()["closed_idle"] == 1


def test_connections_past_the_per_address_limit_are_refused(broker, make_gateway):
    gw = make_gateway(broker, {"connections.max.per.ip": "2"})
    a, b = stomp(gw), stomp(gw)
    with pytest.raises(Exception):
        stomp(gw)
    assert gw.stats()["refused_per_ip"] == 1
    a.close()
    wait_for(lambda: gw.stats()["connections"] == 1, T(5), "a connection slot freed")
    stomp(gw).subscribe("ok", "/sub/line/1")
    b.subscribe("b", "/sub/line/1")
