"""`sluice gateway` end to end: the real broker, the real gateway binary, real HTTP and real
WebSocket STOMP clients (python3-websocket). Every wait is bounded."""

import json
import socket
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import T, wait_for
from gateway_harness import Closed, Gateway, Stomp, encode, make_gateway  # noqa: F401 (fixture)

pytestmark = pytest.mark.own_broker

TOKEN = "route-token-0123456789"


@pytest.fixture
def gateway(broker, make_gateway):
    return make_gateway(broker)


def stomp(gw, **connect):
    s = Stomp(gw.url())
    s.connect(**connect)
    return s


def mid(resp):
    """The message-id of a record the HTTP API answered for."""
    return "%s:%d:%d" % (resp["topic_name"], resp["partition_id"], resp["offset"])


# ---- fan-out and filters ----------------------------------------------------------------------

def test_alerts_reach_only_the_subscribers_of_their_line(gateway):
    a, b = stomp(gateway), stomp(gateway)
    a.subscribe("s-a", "/sub/line/3")
    b.subscribe("s-b", "/sub/line/4")
    r1 = gateway.alert(3, "3-101")
    gateway.alert(4, "4-201")
    r3 = gateway.alert(3, "3-102", note="smoke")
    got = a.messages(2)
    assert [m.json()["location"] for m in got] == ["3-101", "3-102"]
    m = got[0]
    assert m.headers["destination"] == "/sub/line/3"
    assert m.headers["subscription"] == "s-a"
    assert m.headers["message-id"] == mid(r1)
    assert m.headers["x-topic"] == "an-alert"
    assert int(m.headers["x-partition"]) == r1["partition_id"]
    assert int(m.headers["x-offset"]) == r1["offset"]
    assert m.headers["x-key"] == "3"
    assert m.headers["content-type"] == "application/json"
    assert "ack" not in m.headers  # auto mode
    assert got[1].headers["message-id"] == mid(r3)
    assert [m.json()["location"] for m in b.messages(1)] == ["4-201"]
    # accepts reach the same line through the second topic
    acc = gateway.post_ok("/accept", {"line": "3", "alert": mid(r1), "by": "3-105"})
    m = a.messages(1)[0]
    assert m.headers["x-topic"] == "an-accept" and m.headers["message-id"] == mid(acc)
    a.nothing_more()
    b.nothing_more()


def test_key_filter_and_the_topics_api_with_headers(broker, make_gateway):
    gw = make_gateway(broker, {"dest.bykey.prefix": "/sub/key/", "dest.bykey.topics": "an-alert",
                               "dest.bykey.filter": "key", "dest.bykey.public": "live"})
    s = stomp(gw)
    s.subscribe("k", "/sub/key/k1")
    status, resp = gw.request("POST", "/topics/an-alert", [
        {"key": "k1", "value": {"n": 1}, "headers": [{"name": "h", "value": "v"}]},
        {"key": "k2", "value": "plain"},
        {"key": "k1", "value": "two", "partition": 0}])
    assert status == 200, resp
    offsets = [d["offset"] for d in resp["data"]]
    assert offsets == sorted(offsets) and len(set(offsets)) == 3
    got = s.messages(2)
    assert [m.body for m in got] == ['{"n":1}', "two"]
    assert got[1].headers["content-type"] == "text/plain"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "check",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("an-alert", 0, offsets[0])])
    msg = None
    deadline = time.monotonic() + T(10)
    while msg is None and time.monotonic() < deadline:
        msg = c.poll(0.2)
    c.close()
    assert msg is not None and msg.key() == b"k1" and msg.value() == b'{"n":1}'
    assert msg.headers() == [("h", b"v")]


# ---- resume, acknowledgements, redelivery -----------------------------------------------------

def test_resume_from_offset_after_a_dropped_connection_misses_nothing(gateway):
    s = stomp(gateway)
    s.subscribe("r", "/sub/line/7")
    for i in range(3):
        gateway.alert(7, "before-%d" % i)
    seen = s.messages(3)
    last = seen[-1].headers
    s.drop()
    missed = [gateway.alert(7, "while-away-%d" % i) for i in range(4)]
    gateway.alert(8, "other line")
    s2 = stomp(gateway)
    s2.subscribe("r", "/sub/line/7",
                 x_from_offset="an-alert:%s:%d" % (last["x-partition"], int(last["x-offset"]) + 1),
                 x_from_time=str(int(time.time() * 1000)))
    gateway.alert(7, "live")
    got = s2.messages(5)
    assert [m.json()["location"] for m in got] == ["while-away-%d" % i for i in range(4)] + ["live"]
    assert [m.headers["message-id"] for m in got[:4]] == [mid(r) for r in missed]
    s2.nothing_more()


def test_resume_from_time_replays_both_topics(gateway):
    gateway.alert(5, "old")
    time.sleep(0.05)
    t0 = int(time.time() * 1000)
    time.sleep(0.05)
    r = gateway.alert(5, "new")
    gateway.post_ok("/accept", {"line": "5", "alert": mid(r), "by": "5-1"})
    s = stomp(gateway)
    s.subscribe("t", "/sub/line/5", x_from_time=str(t0))
    got = s.messages(2)
    assert sorted(m.headers["x-topic"] for m in got) == ["an-accept", "an-alert"]
    assert all(m.json().get("location", "new") == "new" for m in got)
    s.nothing_more()


def test_unacked_messages_are_redelivered_after_reconnect_with_the_same_client_id(gateway):
    s = stomp(gateway, client_id="resident-42")
    s.subscribe("c", "/sub/line/9", ack="client")
    sent = [gateway.alert(9, "a%d" % i) for i in range(3)]
    got = s.messages(3)
    assert all("ack" in m.headers for m in got)
    s.send("ACK", {"id": got[0].headers["ack"]})  # only the first is processed
    s.send("DISCONNECT", {"receipt": "bye"})
    assert s.recv().command == "RECEIPT"
    gateway.alert(9, "while-away")
    s2 = stomp(gateway, client_id="resident-42")
    s2.subscribe("c", "/sub/line/9", ack="client")
    again = s2.messages(3)
    assert [m.json()["location"] for m in again] == ["a1", "a2", "while-away"]
    assert again[0].headers["message-id"] == mid(sent[1])
    s2.nothing_more()
    # another client id gets nothing parked
    s3 = stomp(gateway, client_id="someone-else")
    s3.subscribe("c", "/sub/line/9", ack="client")
    s3.nothing_more()


def test_client_individual_ack_and_nack_redelivers(gateway):
    s = stomp(gateway, client_id="ci")
    s.subscribe("i", "/sub/line/2", ack="client-individual")
    for i in range(3):
        gateway.alert(2, "x%d" % i)
    got = s.messages(3)
    s.send("ACK", {"id": got[0].headers["ack"]})
    s.send("ACK", {"id": got[2].headers["ack"]})
    s.send("NACK", {"id": got[1].headers["ack"], "receipt": "n"})
    again = s.recv()
    assert again.command == "MESSAGE", again
    assert again.json()["location"] == "x1"
    assert again.headers["ack"] != got[1].headers["ack"]
    assert s.recv().command == "RECEIPT"
    s.send("ACK", {"id": again.headers["ack"]})
    s.drop()
    s2 = stomp(gateway, client_id="ci")
    s2.subscribe("i", "/sub/line/2", ack="client-individual")
    s2.nothing_more()  # everything was acknowledged


def test_nack_in_client_mode_sends_every_earlier_message_again(gateway):
    s = stomp(gateway)
    s.subscribe("n", "/sub/line/12", ack="client")
    for i in range(3):
        gateway.alert(12, "m%d" % i)
    got = s.messages(3)
    s.send("NACK", {"id": got[2].headers["ack"]})  # cumulative, like ACK in this mode
    again = s.messages(3)
    assert [m.json()["location"] for m in again] == ["m0", "m1", "m2"]
    assert {m.headers["ack"] for m in again}.isdisjoint({m.headers["ack"] for m in got})
    s.send("ACK", {"id": again[2].headers["ack"]})
    s.nothing_more()


def test_past_the_unacked_limit_messages_wait_for_acks_and_survive_a_reconnect(
        broker, make_gateway):
    gw = make_gateway(broker, {"stomp.unacked.max": "3"})
    s = stomp(gw, client_id="slow-acker")
    s.subscribe("u", "/sub/line/13", ack="client-individual")
    for i in range(5):
        gw.alert(13, "u%d" % i)
    got = s.messages(3)
    s.nothing_more()  # two wait for acks
    s.send("ACK", {"id": got[1].headers["ack"]})
    assert s.messages(1)[0].json()["location"] == "u3"
    s.nothing_more()
    s.drop()  # u0, u2, u3 un-acked, u4 pending
    s2 = stomp(gw, client_id="slow-acker")
    s2.subscribe("u", "/sub/line/13", ack="client-individual")
    again = s2.messages(3)
    assert [m.json()["location"] for m in again] == ["u0", "u1", "u2"]  # from the oldest un-acked
    for m in again:
        s2.send("ACK", {"id": m.headers["ack"]})
    assert [m.json()["location"] for m in s2.messages(2)] == ["u3", "u4"]


def test_resume_across_several_partitions_keeps_order_per_partition(broker, make_gateway):
    gw = make_gateway(broker, {"topics.partitions": "3", "dest.all.prefix": "/sub/all/",
                               "dest.all.topics": "an-alert", "dest.all.filter": "json:kind",
                               "dest.all.public": "all"})
    s = stomp(gw)
    s.subscribe("a", "/sub/all/x")
    first = [gw.post_ok("/topics/an-alert", {"key": "k%d" % (i % 6), "value": {"kind": "x", "n": i}})
             for i in range(12)]
    seen = s.messages(12)
    assert len({r["partition_id"] for r in first}) > 1  # the keys spread over partitions
    last = {}
    for m in seen:
        last[int(m.headers["x-partition"])] = int(m.headers["x-offset"])
    s.drop()
    missed = [gw.post_ok("/topics/an-alert", {"key": "k%d" % (i % 6), "value": {"kind": "x", "n": 100 + i}})
              for i in range(12)]
    resume = ",".join("an-alert:%d:%d" % (p, o + 1) for p, o in sorted(last.items()))
    s2 = stomp(gw)
    s2.subscribe("a", "/sub/all/x", x_from_offset=resume, x_from_time=str(int(time.time() * 1000)))
    got = s2.messages(12)
    assert sorted(m.headers["message-id"] for m in got) == sorted(mid(r) for r in missed)
    for p in range(3):
        offs = [int(m.headers["x-offset"]) for m in got if int(m.headers["x-partition"]) == p]
        assert offs == sorted(offs)
    s2.nothing_more()


def test_partitions_added_after_start_are_delivered_from_their_start(broker, make_gateway):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewPartitions
    gw = make_gateway(broker, {"topics.partitions": "1", "dest.all.prefix": "/sub/all/",
                               "dest.all.topics": "an-alert", "dest.all.filter": "json:kind",
                               "dest.all.public": "all"})
    s = stomp(gw)
    s.subscribe("a", "/sub/all/x")
    gw.post_ok("/topics/an-alert", {"value": {"kind": "x", "n": 0}})
    assert len(s.messages(1)) == 1
    adm = AdminClient({"bootstrap.servers": broker.bootstrap})
    adm.create_partitions([NewPartitions("an-alert", 3)])["an-alert"].result(T(10))
    # Produced at once, before the gateway's next metadata refresh sees the new partitions.
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for part in (1, 2, 1, 2):
        p.produce("an-alert", json.dumps({"kind": "x", "part": part}).encode(), partition=part)
    assert p.flush(T(10)) == 0
    got = s.messages(4)
    assert sorted((int(m.headers["x-partition"]), int(m.headers["x-offset"])) for m in got) == \
        [(1, 0), (1, 1), (2, 0), (2, 1)]
    gw.post_ok("/topics/an-alert", {"partition": 2, "value": {"kind": "x", "n": 9}})
    assert s.messages(1)[0].headers["x-partition"] == "2"
    s.nothing_more()


def test_send_to_a_route_with_a_token_needs_it_as_passcode(broker, make_gateway):
    gw = make_gateway(broker, {"route.accept.token": TOKEN})
    body = json.dumps({"line": "1", "alert": "an-alert:0:0", "by": "1-1"})
    bad = stomp(gw)
    bad.send("SEND", {"destination": "/accept"}, body)
    assert [f.command for f in bad.wait_closed()] == ["ERROR"]
    good = stomp(gw, passcode=TOKEN)
    good.send("SEND", {"destination": "/accept", "receipt": "ok"}, body)
    assert good.recv().command == "RECEIPT"
    assert gw.request("POST", "/accept", json.loads(body))[0] == 401
    assert gw.request("POST", "/accept", json.loads(body),
                      headers={"Authorization": "Bearer " + TOKEN})[0] == 200


def test_connections_past_the_limit_are_refused(broker, make_gateway):
    gw = make_gateway(broker, {"connections.max": "2"})
    a, b = stomp(gw), stomp(gw)
    with pytest.raises(Exception):
        stomp(gw)
    a.close()
    wait_for(lambda: gw.stats()["connections"] == 1, T(5), "a connection slot freed")
    stomp(gw).subscribe("ok", "/sub/line/1")
    b.subscribe("b", "/sub/line/1")


# ---- every frame type -------------------------------------------------------------------------

def test_every_stomp_frame_type(gateway):
    s = Stomp(gateway.url())
    s.send("STOMP", {"accept-version": "1.1,1.2", "host": "x", "heart-beat": "0,0"})
    c = s.recv()
    assert c.command == "CONNECTED" and c.headers["version"] == "1.2"
    assert "heart-beat" in c.headers and "session" in c.headers
    s.subscribe("f", "/sub/line/1", ack="client")
    s.send("SEND", {"destination": "/accept", "receipt": "snd", "content-type": "application/json"},
           json.dumps({"line": "1", "alert": "an-alert:0:0", "by": "1-1"}))
    frames = [s.recv(), s.recv()]
    kinds = sorted(f.command for f in frames)
    assert kinds == ["MESSAGE", "RECEIPT"], frames
    msg = [f for f in frames if f.command == "MESSAGE"][0]
    assert msg.headers["x-topic"] == "an-accept"
    s.send("ACK", {"id": msg.headers["ack"], "receipt": "ack"})
    assert s.recv().headers["receipt-id"] == "ack"
    s.send("UNSUBSCRIBE", {"id": "f", "receipt": "u"})
    assert s.recv().headers["receipt-id"] == "u"
    gateway.alert(1, "after unsubscribe")
    s.nothing_more()
    s.send("DISCONNECT", {"receipt": "d"})
    r = s.recv()
    assert r.command == "RECEIPT" and r.headers["receipt-id"] == "d"
    assert s.wait_closed() == []
    # transactions are refused honestly
    t = stomp(gateway)
    t.send("BEGIN", {"transaction": "tx"})
    frames = t.wait_closed()
    assert frames and frames[0].command == "ERROR"
    assert "transactions" in frames[0].headers["message"]


def test_send_to_a_route_not_open_to_send_is_an_error(gateway):
    s = stomp(gateway)
    s.send("SEND", {"destination": "/alert"}, json.dumps({"line": "1", "location": "x"}))
    frames = s.wait_closed()
    assert [f.command for f in frames] == ["ERROR"]


@pytest.mark.parametrize("raw,why", [
    ("HELLO\n\n\0", "malformed"),
    ("SEND\nno colon here\n\n\0", "malformed"),
    ("SEND\nbad:esc\\t\n\n\0", "malformed"),
    ("SUBSCRIBE\ndestination:/sub/line/1\n\n\0", "id"),
    ("SUBSCRIBE\nid:1\ndestination:/nowhere/1\n\n\0", "destination"),
    ("SUBSCRIBE\nid:1\ndestination:/sub/line/1\nack:sometimes\n\n\0", "ack"),
    ("SUBSCRIBE\nid:1\ndestination:/sub/line/1\nx-from-offset:an-alert:zero:1\n\n\0", "resume"),
    ("CONNECT\naccept-version:1.2\n\n\0", "already connected"),
    ("MESSAGE\n\n\0", "not a client frame"),
])
def test_malformed_frames_get_an_error_then_the_connection_closes(gateway, raw, why):
    s = stomp(gateway)
    s.send_raw(raw)
    frames = s.wait_closed()
    assert len(frames) == 1 and frames[0].command == "ERROR", frames
    assert why in frames[0].headers["message"], frames[0]


def test_a_frame_before_connect_is_refused(gateway):
    s = Stomp(gateway.url())
    s.send("SUBSCRIBE", {"id": "x", "destination": "/sub/line/1"})
    frames = s.wait_closed()
    assert [f.command for f in frames] == ["ERROR"]
    assert frames[0].headers["message"] == "not connected"


def test_a_session_that_never_sends_connect_is_closed(gateway):
    s = Stomp(gateway.url())
    t0 = time.monotonic()
    frames = s.wait_closed(T(20))
    assert [f.command for f in frames] == ["ERROR"] and frames[0].headers["message"] == "no CONNECT"
    assert 9 <= time.monotonic() - t0 < T(15)


def test_frame_size_and_header_count_limits(broker, make_gateway):
    gw = make_gateway(broker, {"stomp.frame.max.bytes": "4096"})
    ok = stomp(gw)
    body = json.dumps({"line": "1", "alert": "x" * 3900, "by": "b"})
    ok.subscribe("s", "/sub/line/1")
    ok.send("SEND", {"destination": "/accept", "receipt": "r"}, body)
    assert {ok.recv().command, ok.recv().command} == {"RECEIPT", "MESSAGE"}
    big = stomp(gw)
    big.send("SEND", {"destination": "/accept"}, "x" * 5000)
    frames = big.wait_closed()
    assert [f.command for f in frames] == ["ERROR"]
    assert frames[0].headers["message"] == "frame too large"
    # a frame arriving in pieces is still bounded
    parts = stomp(gw)
    parts.send_raw("SEND\ndestination:/accept\n\n")
    for _ in range(6):
        try:
            parts.send_raw("y" * 1000)
        except Exception:
            break
    frames = parts.wait_closed()
    assert [f.command for f in frames] == ["ERROR"]
    # header count: 32 is fine, 33 is refused
    for n, fine in ((32, True), (33, False)):
        s = stomp(gw)
        hdrs = {"id": "h", "destination": "/sub/line/1", "receipt": "r"}
        hdrs.update({"x-%d" % i: "v" for i in range(n - 3)})
        s.send("SUBSCRIBE", hdrs)
        f = s.recv()
        assert (f.command == "RECEIPT") == fine, (n, f)


# ---- slow and dead clients --------------------------------------------------------------------

def test_a_client_that_never_reads_is_disconnected_and_memory_stays_bounded(broker, make_gateway):
    limit = 1 << 20
    gw = make_gateway(broker, {"stomp.send.buffer.bytes": str(limit), "stomp.send.time.ms": "2000"})
    stuck = Stomp(gw.url(), sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    stuck.connect()
    stuck.subscribe("s", "/sub/line/6")
    good = stomp(gw)
    good.subscribe("g", "/sub/line/6")
    rss0 = gw.stats()["rss_bytes"]
    payload = "z" * 8000
    sent = 0
    for _ in range(60):  # up to 24 MB for a reader that reads nothing
        batch = [{"value": {"line": "6", "location": payload}} for _ in range(50)]
        status, resp = gw.request("POST", "/topics/an-alert", batch)
        assert status == 200, resp
        sent += 50
        assert len(good.messages(50, T(20))) == 50  # the reading client keeps up meanwhile
        st = gw.stats()
        assert st["queued_bytes"] <= 2 * limit + 65536, st
        if st["closed_slow"] >= 1:
            break
    st = wait_for(lambda: (lambda s: s if s["closed_slow"] >= 1 and s["connections"] == 1
                           else None)(gw.stats()), T(15), "the stuck client disconnected")
    assert st["rss_bytes"] - rss0 < 96 << 20, (rss0, st["rss_bytes"], sent)
    good.nothing_more(0.2)


def test_a_client_that_reads_late_gets_every_message_in_order(broker, make_gateway):
    # Frames are written as soon as a drain turn ends; a socket that takes only part of them
    # leaves the rest to lws's buffer and writable events, and later frames queue behind it.
    gw = make_gateway(broker, {"stomp.send.buffer.bytes": str(48 << 20),
                               "stomp.send.time.ms": "60000"})
    late = Stomp(gw.url(), sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    late.connect()
    late.subscribe("l", "/sub/line/8")
    payload = "y" * 8000
    n, waited = 0, 0
    for _ in range(60):  # until frames wait in the gateway's queue (the socket buffers full)
        batch = [{"value": {"line": "8", "location": "%05d %s" % (n + i, payload)}}
                 for i in range(50)]
        status, resp = gw.request("POST", "/topics/an-alert", batch)
        assert status == 200, resp
        n += 50
        waited = gw.stats()["queued_bytes"]
        if waited > 0:
            break
    assert waited > 0, n
    got = [json.loads(f.body)["location"][:5] for f in late.messages(n, T(60))]
    assert got == ["%05d" % i for i in range(n)]
    late.nothing_more(0.2)
    assert gw.stats()["closed_slow"] == 0


def test_heart_beats_both_ways_and_a_silent_client_times_out(broker, make_gateway):
    gw = make_gateway(broker, {"stomp.heartbeat.send.ms": "200",
                               "stomp.heartbeat.receive.ms": "300"})
    beating = Stomp(gw.url())
    c = beating.connect(heart_beat="300,200")
    assert c.headers["heart-beat"] == "200,300"
    deadline = time.monotonic() + T(3)
    while beating.heartbeats < 3 and time.monotonic() < deadline:
        beating.send_raw("\n")
        try:
            beating.recv(0.25)
        except TimeoutError:
            pass
    assert beating.heartbeats >= 3
    stop = threading.Event()

    def keep_beating():
        while not stop.wait(0.1):
            beating.send_raw("\n")
    beater = threading.Thread(target=keep_beating)
    beater.start()
    try:
        silent = Stomp(gw.url())
        silent.connect(heart_beat="300,0")
        t0 = time.monotonic()
        frames = silent.wait_closed(T(5))
    finally:
        stop.set()
        beater.join()
    assert frames and frames[-1].command == "ERROR", frames
    assert frames[-1].headers["message"] == "heart-beat timeout"
    assert time.monotonic() - t0 < T(3)
    # the beating client is still served
    beating.send_raw("\n")
    beating.subscribe("b", "/sub/line/1")
    assert gw.stats()["closed_heartbeat"] == 1


# ---- several gateways -------------------------------------------------------------------------

def test_two_gateway_processes_both_deliver_every_alert(broker, make_gateway):
    g1 = make_gateway(broker, name="gw1")
    g2 = make_gateway(broker, name="gw2")
    a, b = stomp(g1), stomp(g2)
    a.subscribe("a", "/sub/line/11")
    b.subscribe("b", "/sub/line/11")
    sent = [(g1 if i % 2 else g2).alert(11, "n%d" % i) for i in range(20)]
    want = [mid(r) for r in sent]
    assert [m.headers["message-id"] for m in a.messages(20)] == want
    assert [m.headers["message-id"] for m in b.messages(20)] == want


# ---- HTTP errors ------------------------------------------------------------------------------

def test_http_errors_name_the_field_and_use_the_right_status(broker, make_gateway):
    gw = make_gateway(broker, {"route.alert.token": TOKEN, "http.request.max.bytes": "2048"})
    auth = {"Authorization": "Bearer " + TOKEN}
    status, resp = gw.request("POST", "/alert", {"line": "1", "location": "x"})
    assert status == 401, resp
    status, resp = gw.request("POST", "/alert", {"line": "1", "location": "x"},
                              headers={"Authorization": "Bearer wrong"})
    assert status == 403, resp
    assert gw.request("POST", "/alert", {"line": "1", "location": "x"}, headers=auth)[0] == 200
    for body, field in (({"location": "x"}, "line"), ({"line": 1, "location": "x"}, "line"),
                        ({"line": "1", "location": "x", "extra": 1}, "extra"),
                        ({"line": "1", "location": "x", "note": 5}, "note")):
        status, resp = gw.request("POST", "/alert", body, headers=auth)
        assert status == 400 and resp["field"] == field, (body, resp)
    status, resp = gw.request("POST", "/alert", raw="{nope", headers=auth)
    assert status == 400 and resp["field"] == "body", resp
    status, resp = gw.request("POST", "/topics/an-alert", [{"value": "a"}, {"value": "b", "partition": -1}])
    assert status == 400 and resp["field"] == "[1].partition", resp
    status, resp = gw.request("POST", "/topics/an-alert", {"value": "a", "color": "red"})
    assert status == 400 and resp["field"] == "color", resp
    status, resp = gw.request("POST", "/topics/no-such-topic", {"value": "a"})
    assert status == 404 and resp["field"] == "topic", resp
    status, resp = gw.request("POST", "/topics/an-alert", {"value": "a" * 3000})
    assert status == 413, resp
    assert gw.request("GET", "/alert")[0] == 405
    assert gw.request("GET", "/nothing-here")[0] == 404
    broker.stop()
    status, resp = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(
        gw.request("POST", "/topics/an-alert", {"value": "a"})), T(20), "503 without a broker")
    assert "broker" in resp["message"]


def test_unknown_settings_are_refused_by_name(broker, tmp_path):
    gw = Gateway(tmp_path, broker.bootstrap, {"route.alert.colour": "red"})
    with pytest.raises(AssertionError) as e:
        gw.start()
    assert "route.alert.colour" in str(e.value)


def test_a_live_subscription_gets_nothing_acknowledged_before_it_while_the_consumer_lags(
        broker, make_gateway):
    from confluent_kafka import Producer
    gw = make_gateway(broker, {"topics.partitions": "1"})
    # A backlog ahead of "before" in its partition keeps the gateway's live consumer behind.
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 20})
    filler = json.dumps({"line": "9", "location": "x" * 2000}).encode()
    for _ in range(20000):
        p.produce("an-alert", filler)
        p.poll(0)
    assert p.flush(T(30)) == 0
    gw.alert(2, "before")
    s = stomp(gw)
    s.subscribe("live", "/sub/line/2")
    gw.alert(2, "after")
    assert [m.json()["location"] for m in s.messages(1)] == ["after"]
    s.nothing_more(1.0)
