"""The broker's admin endpoint (admin.listen): /metrics in Prometheus text format (every line
parsed, every family with HELP and TYPE), each metric family moving when its cause happens,
/health/live and /health/ready (503 while a partition is offline and the data dir cannot be
written), /v1/status, 404/405, and the bearer token (admin.token)."""
import json
import math
import os
import re
import urllib.error
import urllib.request

import pytest
from confluent_kafka import TopicPartition

import kwire
from conftest import (T, admin_client, consumer, create_topic, producer, produce_all,
                      read_partition, unique_topic, wait_for)
from test_resources import small_fs  # noqa: F401 (a fixture: a 64 MiB tmpfs, root only)

pytestmark = pytest.mark.own_broker

ADMIN = {"admin.listen": "127.0.0.1:0"}
TOKEN = "admin-token-0123456789abcdef"

# ---- helpers ----------------------------------------------------------------------------------


def admin_addr(b):
    """HOST:PORT of the admin endpoint, from the broker's log (the last start's line)."""
    found = re.findall(r"admin endpoint on (\S+):(\d+) ", b.stderr_text())
    assert found, "no admin endpoint line in the log:\n" + b.stderr_tail()
    host, port = found[-1]
    return "%s:%s" % (host, port)


def get(b, path, token=None, method="GET"):
    """(status, headers with lower-case names, body text) of one request to the admin
    endpoint."""
    req = urllib.request.Request("http://%s%s" % (admin_addr(b), path), method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=T(15)) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_metrics(text):
    """Parses the exposition strictly; returns {family: {"type", "help", "samples": [(name,
    labels dict, value)]}}. Fails on any line that is not HELP, TYPE or a valid sample, on a
    sample before its family's HELP and TYPE, on a repeated family, on names without the
    sluice_ prefix or unit conventions, and on histograms that are not cumulative."""
    fams, cur = {}, None
    assert text.endswith("\n"), "the exposition must end with a newline"
    for n, line in enumerate(text.splitlines(), 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and help_text.strip(), where
            assert name not in fams, "family %s repeated at %s" % (name, where)
            cur = fams[name] = {"help": help_text, "type": None, "samples": []}
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert cur is not None and fams.get(name) is cur, "TYPE before HELP: " + where
            assert typ in TYPES and cur["type"] is None, where
            cur["type"] = typ
            continue
        assert not line.startswith("#") and line.strip(), "stray line: " + where
        m = SAMPLE.match(line)
        assert m, "not a sample: " + where
        name, value = m.group(1), m.group(m.lastindex)
        assert cur is not None and cur["type"], "sample before HELP and TYPE: " + where
        fam = [f for f in fams if name == f or (fams[f]["type"] == "histogram" and
                                                name in (f + "_bucket", f + "_sum", f + "_count"))]
        assert fam == [list(fams)[-1]], "sample outside its family: " + where
        labels = dict(re.findall(LABEL, m.group(2) or ""))
        v = float(value)  # raises on a malformed value; NaN and +Inf parse
        assert not math.isnan(v) or cur["type"] == "gauge", where
        cur["samples"].append((name, labels, v))
    for name, f in fams.items():
        assert name.startswith("sluice_"), name
        assert f["type"], "%s has no TYPE" % name
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter %s must end in _total" % name
        else:
            assert not name.endswith("_total"), "%s %s ends in _total" % (f["type"], name)
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    series = {}
    for s, labels, v in samples:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        series.setdefault(key, []).append((s, labels, v))
    for key, ss in series.items():
        buckets = [(float(l["le"]), v) for s, l, v in ss if s == name + "_bucket"]
        counts = [v for s, _, v in ss if s == name + "_count"]
        assert buckets and buckets[-1][0] == math.inf, (name, key)
        assert [b[0] for b in buckets] == sorted(b[0] for b in buckets), (name, key)
        assert [b[1] for b in buckets] == sorted(b[1] for b in buckets), (name, key)
        assert counts == [buckets[-1][1]], (name, key)
        assert len([1 for s, _, _ in ss if s == name + "_sum"]) == 1, (name, key)


def metrics(b):
    status, headers, body = get(b, "/metrics")
    assert status == 200, body
    assert headers.get("content-type", "").startswith("text/plain; version=0.0.4"), headers
    return parse_metrics(body)


def value(fams, family, sample=None, **labels):
    """The sample of family (sample name defaults to family) whose labels include labels;
    0 when there is none."""
    want = {k: str(v) for k, v in labels.items()}
    for s, l, v in fams[family]["samples"]:
        if s == (sample or family) and all(l.get(k) == x for k, x in want.items()):
            return v
    return 0


def total(fams, family, sample=None, **labels):
    want = {k: str(v) for k, v in labels.items()}
    return sum(v for s, l, v in fams[family]["samples"]
               if s == (sample or family) and all(l.get(k) == x for k, x in want.items()))


def start(make_broker, **settings):
    s = dict(ADMIN)
    s.update(settings)
    return make_broker(s)


# ---- format and endpoints -------------------------------------------------------------------


def test_metrics_parse_line_by_line_with_help_and_type_for_every_family(make_broker):
    b = start(make_broker)
    topic = create_topic(b.bootstrap, unique_topic(), partitions=2)
    produce_all(producer(b.bootstrap), topic, [{"value": b"v%d" % i} for i in range(10)])
    read_partition(b.bootstrap, topic, 0, 1)
    status, _, body = get(b, "/metrics")
    assert status == 200
    fams = parse_metrics(body)
    for fam in ("sluice_partition_records_in_total", "sluice_partition_bytes_in_total",
                "sluice_partition_bytes_out_total", "sluice_partition_high_watermark",
                "sluice_partition_log_start_offset", "sluice_partition_size_bytes",
                "sluice_partition_segments", "sluice_partition_dirty_ratio",
                "sluice_requests_total", "sluice_request_errors_total",
                "sluice_request_queue_seconds", "sluice_request_handle_seconds",
                "sluice_request_send_seconds", "sluice_log_fsync_seconds",
                "sluice_log_fsync_records_total", "sluice_connections",
                "sluice_connections_accepted_total", "sluice_authentication_failures_total",
                "sluice_group_state", "sluice_group_members", "sluice_group_rebalances_total",
                "sluice_group_lag", "sluice_transactions_open",
                "sluice_transactions_committed_total", "sluice_transactions_aborted_total",
                "sluice_cleaner_runs_total", "sluice_cleaner_bytes_total",
                "sluice_process_resident_memory_bytes", "sluice_process_open_fds",
                "sluice_uptime_seconds", "sluice_offline_partitions", "sluice_partitions"):
        assert fam in fams, fam
    assert value(fams, "sluice_partitions") == 2
    assert value(fams, "sluice_process_resident_memory_bytes") > 1 << 20
    assert value(fams, "sluice_process_open_fds") > 3
    assert value(fams, "sluice_uptime_seconds") > 0
    # the reference parser reads it too
    prom = pytest.importorskip("prometheus_client.parser")
    names = {f.name for f in prom.text_string_to_metric_families(body)}
    assert "sluice_partition_high_watermark" in names


def test_the_parser_refuses_what_prometheus_would(make_broker):
    """The format check can fail: a sample without HELP/TYPE, a bad label, a counter without
    _total and a histogram that is not cumulative are each refused."""
    good = "# HELP sluice_x_total X.\n# TYPE sluice_x_total counter\nsluice_x_total{a=\"b\"} 1\n"
    parse_metrics(good)
    for bad in ["sluice_x_total 1\n",
                good.replace('{a="b"}', '{a=b}'),
                good.replace("sluice_x_total", "sluice_x"),
                "# HELP sluice_h_seconds H.\n# TYPE sluice_h_seconds histogram\n"
                'sluice_h_seconds_bucket{le="1"} 2\nsluice_h_seconds_bucket{le="+Inf"} 1\n'
                "sluice_h_seconds_sum 1\nsluice_h_seconds_count 1\n"]:
        with pytest.raises(AssertionError):
            parse_metrics(bad)


def test_health_status_and_unknown_paths(make_broker):
    b = start(make_broker)
    topic = create_topic(b.bootstrap, unique_topic(), partitions=3)
    status, _, body = get(b, "/health/live")
    assert status == 200 and json.loads(body)["status"] == "live"
    status, _, body = get(b, "/health/ready")
    assert status == 200, body
    assert json.loads(body) == {"status": "ready", "reason": "ready"}
    status, _, body = get(b, "/v1/status")
    assert status == 200, body
    st = json.loads(body)
    assert st["version"] and st["uptime_seconds"] > 0
    assert st["data_dir"]["path"] == b.data_dir
    assert st["data_dir"]["filesystem_bytes"] > 0
    assert st["partitions"] >= 3 and st["topics"] >= 1 and st["offline_partitions"] == 0
    assert [(l["name"], "%s:%d" % (l["host"], l["port"])) for l in st["listeners"]] == \
        [("PLAINTEXT", b.bootstrap)]
    assert topic
    status, _, body = get(b, "/no/such/path")
    assert status == 404 and "no route" in json.loads(body)["error"]
    status, _, body = get(b, "/metrics", method="POST")
    assert status == 405 and "use GET" in json.loads(body)["error"]
    assert "GET /no/such/path: no such endpoint" in b.stderr_text()


def test_a_token_is_required_everywhere_but_health_live(make_broker):
    b = start(make_broker, **{"admin.token": TOKEN})
    for path in ("/metrics", "/health/ready", "/v1/status", "/nope"):
        status, headers, body = get(b, path)
        assert status == 401, (path, status, body)
        assert headers.get("www-authenticate", "").startswith("Bearer"), headers
        status, _, _ = get(b, path, token=TOKEN + "x")
        assert status == 401, path
        status, _, _ = get(b, path, token=TOKEN[:-1])
        assert status == 401, path
    assert get(b, "/health/live")[0] == 200
    assert get(b, "/metrics", token=TOKEN)[0] == 200
    assert get(b, "/health/ready", token=TOKEN)[0] == 200
    assert get(b, "/v1/status", token=TOKEN)[0] == 200


@pytest.mark.parametrize("settings, message", [
    ({"admin.listen": "nonsense"}, "admin.listen: want HOST:PORT"),
    ({"admin.listen": "127.0.0.1:0", "admin.token": "short"}, "admin.token"),
])
def test_bad_admin_settings_stop_the_broker_with_a_message(make_broker, settings, message):
    from conftest import BrokerStartError
    b = make_broker(settings, start=False)
    with pytest.raises(BrokerStartError) as e:
        b.start()
    assert message in str(e.value)


def test_an_empty_admin_listen_turns_the_endpoint_off(make_broker):
    b = make_broker({"admin.listen": ""})
    assert "admin endpoint on" not in b.stderr_text()


# ---- each family moves when its cause happens -------------------------------------------------


def test_produce_and_fetch_move_partition_and_request_metrics(make_broker):
    b = start(make_broker)
    topic = create_topic(b.bootstrap, unique_topic(), partitions=2)
    before = metrics(b)
    fsyncs0 = value(before, "sluice_log_fsync_seconds", "sluice_log_fsync_seconds_count")
    produce_all(producer(b.bootstrap), topic,
                [{"value": b"x" * 100, "partition": 1} for _ in range(25)])
    after = metrics(b)
    assert value(after, "sluice_partition_records_in_total", topic=topic, partition=1) == 25
    assert value(after, "sluice_partition_records_in_total", topic=topic, partition=0) == 0
    assert value(after, "sluice_partition_bytes_in_total", topic=topic, partition=1) > 2500
    assert value(after, "sluice_partition_high_watermark", topic=topic, partition=1) == 25
    assert value(after, "sluice_partition_size_bytes", topic=topic, partition=1) > 2500
    assert value(after, "sluice_partition_segments", topic=topic, partition=1) == 1
    assert value(after, "sluice_partition_log_start_offset", topic=topic, partition=1) == 0
    assert value(after, "sluice_partition_bytes_out_total", topic=topic, partition=1) == 0
    assert total(after, "sluice_requests_total", api="Produce") >= 1
    assert total(after, "sluice_request_handle_seconds", "sluice_request_handle_seconds_count",
                 api="Produce") >= 1
    assert value(after, "sluice_log_fsync_seconds", "sluice_log_fsync_seconds_count") > fsyncs0
    assert value(after, "sluice_log_fsync_records_total") >= 25
    assert value(after, "sluice_connections_accepted_total", listener="PLAINTEXT") >= 1
    read_partition(b.bootstrap, topic, 1, 25)
    after2 = metrics(b)
    assert value(after2, "sluice_partition_bytes_out_total", topic=topic, partition=1) >= \
        value(after, "sluice_partition_bytes_in_total", topic=topic, partition=1)
    assert total(after2, "sluice_requests_total", api="Fetch") >= 1
    # the send time is counted once the answer has left
    wait_for(lambda: total(metrics(b), "sluice_request_send_seconds",
                           "sluice_request_send_seconds_count", api="Fetch") >= 1, T(10),
             "Fetch's send time")


def test_a_connection_shows_on_its_listener_while_open(make_broker):
    b = start(make_broker)
    base = value(metrics(b), "sluice_connections", listener="PLAINTEXT")
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        cid = conn.cid()
        conn.call(kwire.api_versions_request(3, cid), cid)
        assert value(metrics(b), "sluice_connections", listener="PLAINTEXT") == base + 1
    wait_for(lambda: value(metrics(b), "sluice_connections", listener="PLAINTEXT") == base,
             T(10), "the closed connection to leave the gauge")


def test_a_failing_request_counts_its_error_code(make_broker):
    from confluent_kafka.admin import NewTopic
    b = start(make_broker)
    topic = create_topic(b.bootstrap, unique_topic())
    assert value(metrics(b), "sluice_request_errors_total", api="CreateTopics", code=36) == 0
    futs = admin_client(b.bootstrap).create_topics([NewTopic(topic, 1, 1)])
    with pytest.raises(Exception):
        futs[topic].result(timeout=T(10))
    # TOPIC_ALREADY_EXISTS (36), under the version the client spoke
    fams = metrics(b)
    assert value(fams, "sluice_request_errors_total", api="CreateTopics", code=36) == 1
    versions = {l["version"] for _, l, _ in fams["sluice_request_errors_total"]["samples"]
                if l["api"] == "CreateTopics"}
    assert len(versions) == 1 and value(fams, "sluice_requests_total", api="CreateTopics",
                                        version=versions.pop()) >= 2
    # a produce to a partition that does not exist: UNKNOWN_TOPIC_OR_PARTITION (3)
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        cid = conn.cid()
        batch = kwire.record_batch_v2([(b"k", b"v")])
        conn.call(kwire.produce_v3_request(topic, 7, batch, cid), cid)
    assert value(metrics(b), "sluice_request_errors_total", api="Produce", code=3) == 1


def test_a_group_commit_shows_lag_state_members_and_rebalances(make_broker):
    b = start(make_broker)
    topic = create_topic(b.bootstrap, unique_topic())
    produce_all(producer(b.bootstrap), topic, [{"value": b"%d" % i} for i in range(10)])
    group = "g-" + unique_topic()
    c = consumer(b.bootstrap, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
        fams = metrics(b)
        assert value(fams, "sluice_group_lag", group=group, topic=topic, partition=0) == 6
        produce_all(producer(b.bootstrap), topic, [{"value": b"more"}] * 5)
        assert value(metrics(b), "sluice_group_lag", group=group, topic=topic,
                     partition=0) == 11
        c.commit(offsets=[TopicPartition(topic, 0, 15)], asynchronous=False)
        fams = metrics(b)
        assert value(fams, "sluice_group_lag", group=group, topic=topic, partition=0) == 0
        assert any(l.get("group") == group for _, l, _ in fams["sluice_group_lag"]["samples"])
    finally:
        c.close()
    # a subscribed member: Stable, one member, a completed rebalance
    group2 = "g-" + unique_topic()
    c = consumer(b.bootstrap, **{"group.id": group2, "session.timeout.ms": 10000})
    try:
        c.subscribe([topic])

        def stable():
            c.poll(0.2)
            fams = metrics(b)
            return (value(fams, "sluice_group_state", group=group2, state="Stable") == 1 and
                    fams)
        fams = wait_for(stable, T(30), "the group to become Stable", interval_s=0)
        assert value(fams, "sluice_group_members", group=group2) == 1
        assert value(fams, "sluice_group_rebalances_total", group=group2) >= 1
        assert value(fams, "sluice_group_state", group=group2, state="Empty") == 0
    finally:
        c.close()


def test_authentication_failures_count_by_mechanism(make_broker):
    from test_security import users_add, wire_authenticate, wire_handshake
    settings = dict(ADMIN)
    settings.update({"listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                     "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
                     "connection.failed.authentication.delay.ms": "0"})
    b = make_broker(settings, start=False)
    users_add(b.data_dir, "alice", "alice-secret")
    b.start()
    assert value(metrics(b), "sluice_authentication_failures_total", mechanism="PLAIN") == 0
    with kwire.Conn(b.listeners["SASL_PLAINTEXT"], T(10)) as conn:
        assert wire_handshake(conn, "PLAIN")[0] == 0
        assert wire_authenticate(conn, b"\0alice\0wrong")[0] != 0
    fams = metrics(b)
    assert value(fams, "sluice_authentication_failures_total", mechanism="PLAIN") == 1
    assert value(fams, "sluice_authentication_failures_total", mechanism="SCRAM-SHA-256") == 0
    assert value(fams, "sluice_connections_accepted_total", listener="SASL_PLAINTEXT") >= 1


def test_transactions_count_open_committed_and_aborted(make_broker):
    b = start(make_broker)
    topic = create_topic(b.bootstrap, unique_topic())
    from test_transactions import txn_producer
    p = txn_producer(b.bootstrap, "tx-" + topic)
    p.begin_transaction()
    p.produce(topic, b"one")
    p.flush(T(10))
    assert value(metrics(b), "sluice_transactions_open") == 1
    p.commit_transaction(T(30))
    p.begin_transaction()
    p.produce(topic, b"two")
    p.flush(T(10))
    p.abort_transaction(T(30))
    fams = metrics(b)
    assert value(fams, "sluice_transactions_committed_total") == 1
    assert value(fams, "sluice_transactions_aborted_total") == 1
    assert value(fams, "sluice_transactions_open") == 0


def test_the_cleaner_counts_runs_and_bytes_and_the_dirty_ratio_shows(make_broker):
    b = start(make_broker, **{"log.cleaner.backoff.ms": 50})
    topic = create_topic(b.bootstrap, unique_topic("compact"), config={
        "cleanup.policy": "compact", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01"})
    prod = producer(b.bootstrap, **{"linger.ms": 2, "batch.num.messages": 20})
    produce_all(prod, topic, [{"key": b"k%d" % (i % 5), "value": b"v" * 50} for i in range(500)])
    fams = wait_for(lambda: (lambda f: f if value(f, "sluice_cleaner_runs_total") >= 1 else None)(
        metrics(b)), T(30), "a cleaner run")
    assert value(fams, "sluice_cleaner_bytes_total") > 0
    dirty = [v for _, l, v in fams["sluice_partition_dirty_ratio"]["samples"]
             if l["topic"] == topic]
    assert len(dirty) == 1 and 0 <= dirty[0] <= 1


# ---- readiness --------------------------------------------------------------------------------


@pytest.mark.time_limit(120)
def test_ready_turns_503_while_a_partition_is_offline_and_the_disk_is_full(make_broker,
                                                                          small_fs):
    from test_resources import ERR_KAFKA_STORAGE_ERROR, fill, produce, produce_until_error
    data = os.path.join(small_fs, "data")
    b = make_broker(dict(ADMIN, **{"log.disk.reserve.bytes": "0",
                                   "log.segment.bytes": str(4 << 20)}), data_dir=data)
    topic = create_topic(b.bootstrap, unique_topic())
    assert get(b, "/health/ready")[0] == 200
    filler = fill(os.path.join(small_fs, "filler"), 6 << 20)
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        _, resp = produce_until_error(conn, topic, 0, 100000, 1000)
        assert resp["error_code"] == ERR_KAFKA_STORAGE_ERROR, resp
    # what a record too large to fit left free: taken too, so no file can be written
    filler2 = fill(os.path.join(small_fs, "filler2"), 0)
    status, _, body = get(b, "/health/ready")
    assert status == 503, body
    assert "not writable" in json.loads(body)["reason"], body
    # the partition comes back as soon as its tail verifies (no write needed) and goes offline
    # again at the next failed write: produce, then look
    with kwire.Conn(b.bootstrap, T(10)) as conn:
        def offline_seen():
            assert produce(conn, topic, 0, 100000)["error_code"] == ERR_KAFKA_STORAGE_ERROR
            status, _, body = get(b, "/health/ready")
            reason = json.loads(body)["reason"]
            fams = metrics(b)
            return (status == 503 and "1 partition(s) offline" in reason and
                    "not writable" in reason and value(fams, "sluice_offline_partitions") == 1)
        wait_for(offline_seen, T(20), "the offline partition in /health/ready and /metrics",
                 interval_s=0)
    assert get(b, "/health/live")[0] == 200
    os.unlink(filler)
    os.unlink(filler2)
    wait_for(lambda: get(b, "/health/ready")[0] == 200, T(20), "ready again once space returns")
    assert value(metrics(b), "sluice_offline_partitions") == 0


# ---- bounds -----------------------------------------------------------------------------------


def test_partition_series_are_bounded_by_admin_metrics_partitions_max(make_broker):
    b = start(make_broker, **{"admin.metrics.partitions.max": "5"})
    create_topic(b.bootstrap, unique_topic(), partitions=8)
    fams = metrics(b)
    assert len(fams["sluice_partition_high_watermark"]["samples"]) == 5
    assert value(fams, "sluice_metrics_partitions_omitted") == 3
    assert value(fams, "sluice_partitions") == 8


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.time_limit(180)
def test_ready_says_recovering_while_the_logs_open_at_start(make_broker):
    """The endpoint answers before the broker has opened its logs: ready is 503 "recovering"
    (live is 200) until the broker serves, then 200. A fixed port lets the poller ask from the
    first moment; 300 partitions make the opening long enough to be seen."""
    port = free_port()
    b = make_broker({"admin.listen": "127.0.0.1:%d" % port})
    create_topic(b.bootstrap, unique_topic(), partitions=300, timeout_s=T(120))
    # a clean stop syncs every partition: slow on a busy disk
    assert b.stop(timeout_s=T(120)) == 0
    import threading
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            for path in ("/health/ready", "/health/live", "/metrics"):
                try:
                    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
                    with urllib.request.urlopen(req, timeout=T(5)) as r:
                        seen.append((path, r.status, r.read().decode()))
                except urllib.error.HTTPError as e:
                    seen.append((path, e.code, e.read().decode()))
                except OSError:
                    pass  # not listening yet
    th = threading.Thread(target=poll)
    th.start()
    try:
        b.start(timeout_s=T(60))
        wait_for(lambda: any(p == "/health/ready" and s == 200 for p, s, _ in seen), T(30),
                 "ready after the start")
    finally:
        stop.set()
        th.join(T(30))
    ready = [(s, body) for p, s, body in seen if p == "/health/ready"]
    recovering = [body for s, body in ready if s == 503]
    assert recovering, "never saw the recovering answer: %r" % ready[:3]
    print("%d recovering answers before the first 200" % len(recovering))
    assert "recovering" in json.loads(recovering[0])["reason"]
    first_ok = next(i for i, (s, _) in enumerate(ready) if s == 200)
    assert all(s == 503 for s, _ in ready[:first_ok])
    assert any(p == "/health/live" and s == 200 for p, s, _ in seen[:3 * first_ok + 3])
    assert any(p == "/metrics" and s == 503 and "recovering" in body for p, s, body in seen)
