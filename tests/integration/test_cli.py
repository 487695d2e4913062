"""The operator's command line: sluice topics|groups|produce|consume against a running broker.

Each test drives the real `sluice` binary as a subprocess (librdkafka inside) and checks its exit
code (0 ok, 1 runtime/Kafka error, 2 usage), its table or --json output, and the broker state
through independent clients (confluent-kafka).
"""

import json
import socket
import time

import pytest

from conftest import (T, admin_client, consumer, create_topic, produce_all, producer,
                      run_tool, sluice_bin, unique_topic, wait_for)


def sluice(broker, *args, stdin=None, timeout_s=None, extra=()):
    """Runs `sluice ARGS --brokers BOOTSTRAP`; returns (rc, stdout, stderr) as text."""
    cmd = [sluice_bin()] + list(args) + ["--brokers", broker.bootstrap] + list(extra)
    p = run_tool(cmd, timeout_s or T(60), input_bytes=stdin.encode() if stdin else None,
                 check=False)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def ok(broker, *args, **kw):
    rc, out, err = sluice(broker, *args, **kw)
    assert rc == 0, "sluice %s exited %d\nstdout: %s\nstderr: %s" % (" ".join(args), rc, out, err)
    return out


def ok_json(broker, *args, **kw):
    return json.loads(ok(broker, *args, "--json", **kw))


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def describe_group(broker, group):
    return ok_json(broker, "groups", "describe", group)


def committed_by_partition(desc):
    return {o["partition"]: o["committed"] for o in desc["offsets"]}


# ---- usage ------------------------------------------------------------------------------------

HELP_COMMANDS = [
    ["topics"], ["topics", "list"], ["topics", "describe"], ["topics", "create"],
    ["topics", "delete"], ["topics", "alter"], ["groups"], ["groups", "list"],
    ["groups", "describe"], ["groups", "reset-offsets"], ["groups", "delete"], ["produce"],
    ["consume"],
]


@pytest.mark.parametrize("words", HELP_COMMANDS, ids=lambda w: "-".join(w))
def test_help_of_every_command_prints_usage_and_exits_0(words):
    p = run_tool([sluice_bin()] + words + ["--help"], T(10), check=False)
    assert p.returncode == 0, p.stderr
    assert b"usage: sluice" in p.stdout


BAD_USAGE = [
    ["topics", "frobnicate"],
    ["topics"],
    ["topics", "list", "--no-such-option"],
    ["topics", "describe"],
    ["topics", "create", "t", "--partitions", "zero"],
    ["topics", "create", "t", "--partitions", "0"],
    ["topics", "create", "t", "--config", "novalue"],
    ["topics", "create", "t", "--partitions"],
    ["topics", "alter", "t"],
    ["topics", "list", "--timeout-ms", "abc"],
    ["topics", "list", "extra-word"],
    ["groups", "describe"],
    ["groups", "reset-offsets", "g", "--topic", "t"],
    ["groups", "reset-offsets", "g", "--to-earliest"],
    ["groups", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"],
    ["groups", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday"],
    ["groups", "reset-offsets", "g", "--topic", "t", "--to-offset", "-3"],
    ["groups", "list", "--execute"],
    ["produce"],
    ["produce", "t", "--header", "nokey"],
    ["consume"],
    ["consume", "t", "--max-messages", "0"],
    ["nosuchcommand"],
]


@pytest.mark.parametrize("words", BAD_USAGE, ids=lambda w: "-".join(w))
def test_bad_usage_exits_2_with_a_message(words):
    # Usage errors are found before any connection: an unreachable broker does not matter.
    p = run_tool([sluice_bin()] + words + ["--brokers", "127.0.0.1:%d" % closed_port()],
                 T(10), check=False)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr.strip(), "no message on stderr"


@pytest.mark.parametrize("words", [["topics", "list"], ["topics", "describe", "t"],
                                   ["groups", "list"], ["groups", "describe", "g"],
                                   ["produce", "t"], ["consume", "t"]],
                         ids=lambda w: "-".join(w))
def test_unreachable_broker_exits_1_quickly(words):
    start = time.monotonic()
    p = run_tool([sluice_bin()] + words + ["--brokers", "127.0.0.1:%d" % closed_port()],
                 T(30), input_bytes=b"x\n", check=False)
    elapsed = time.monotonic() - start
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert b"broker unreachable" in p.stderr and b"_ALL_BROKERS_DOWN" in p.stderr, p.stderr
    assert elapsed < T(5), "took %.1f s to give up on a refused connection" % elapsed


def test_a_silent_broker_times_out_within_the_timeout():
    # A listener that never answers: the client must give up after --timeout-ms.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    try:
        start = time.monotonic()
        p = run_tool([sluice_bin(), "topics", "list", "--timeout-ms", "1500", "--brokers",
                      "127.0.0.1:%d" % srv.getsockname()[1]], T(30), check=False)
        elapsed = time.monotonic() - start
    finally:
        srv.close()
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert elapsed < T(10), "took %.1f s with --timeout-ms 1500" % elapsed


# ---- topics ------------------------------------------------------------------------------------

def test_topics_create_list_describe_delete(broker):
    topic = unique_topic("cli")
    out = ok(broker, "topics", "create", topic, "--partitions", "3",
             "--config", "retention.ms=123456789")
    assert topic in out
    wait_for(lambda: any(t["name"] == topic for t in ok_json(broker, "topics", "list")),
             T(10), "topic in the list")
    listed = {t["name"]: t["partitions"] for t in ok_json(broker, "topics", "list")}
    assert listed[topic] == 3
    table = ok(broker, "topics", "list")
    assert table.splitlines()[0].split() == ["TOPIC", "PARTITIONS"]
    assert any(line.split() == [topic, "3"] for line in table.splitlines())

    desc = ok_json(broker, "topics", "describe", topic)
    assert desc["name"] == topic
    assert [p["partition"] for p in desc["partitions"]] == [0, 1, 2]
    assert all(p["earliest"] == 0 and p["latest"] == 0 for p in desc["partitions"])
    assert desc["configs"].get("retention.ms") == "123456789"
    text = ok(broker, "topics", "describe", topic)
    assert "retention.ms=123456789" in text and "PARTITION" in text

    rc, _, err = sluice(broker, "topics", "create", topic)
    assert rc == 1 and "TOPIC_ALREADY_EXISTS" in err, err

    ok(broker, "topics", "delete", topic)
    wait_for(lambda: sluice(broker, "topics", "describe", topic)[0] == 1, T(10),
             "describe failing after delete")
    rc, _, err = sluice(broker, "topics", "describe", topic)
    assert "UNKNOWN_TOPIC_OR_PART" in err, err
    rc, _, err = sluice(broker, "topics", "delete", topic)
    assert rc == 1 and "UNKNOWN_TOPIC_OR_PART" in err, err


def test_topics_create_uses_broker_default_partitions(broker):
    topic = unique_topic("cli")
    ok(broker, "topics", "create", topic)
    desc = wait_for(lambda: ok_json(broker, "topics", "describe", topic), T(10), "describe")
    assert len(desc["partitions"]) >= 1


def test_topics_create_with_invalid_config_fails_with_kafka_error_name(broker):
    rc, _, err = sluice(broker, "topics", "create", unique_topic("cli"),
                        "--config", "retention.ms=not-a-number")
    assert rc == 1 and "INVALID_CONFIG" in err, err


def test_topics_alter_sets_and_deletes_topic_configs(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"))
    rc, _, err = sluice(broker, "topics", "alter", topic, "--config", "retention.ms=7200000")
    assert rc == 0, err
    desc = ok_json(broker, "topics", "describe", topic)
    assert desc["configs"]["retention.ms"] == "7200000"
    ok(broker, "topics", "alter", topic, "--delete-config", "retention.ms")
    assert "retention.ms" not in ok_json(broker, "topics", "describe", topic)["configs"]
    rc, _, err = sluice(broker, "topics", "alter", topic, "--config", "retention.ms=soon")
    assert rc == 1 and "INVALID_CONFIG" in err, err


def test_topics_alter_of_missing_topic_fails(broker):
    rc, _, err = sluice(broker, "topics", "alter", unique_topic("none"),
                        "--config", "retention.ms=1")
    assert rc == 1 and "UNKNOWN_TOPIC_OR_PART" in err, err


# ---- produce / consume -------------------------------------------------------------------------

def test_produce_lines_then_consume_them_plain_and_as_json(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"), partitions=1)
    out = ok(broker, "produce", topic, "--key", "k1", "--header", "h1=v1", "--header", "h2=",
             stdin="alpha\nbeta\n\ngamma")
    assert out == ""
    plain = ok(broker, "consume", topic, "--from-beginning", "--max-messages", "4")
    assert plain.splitlines() == ["alpha", "beta", "", "gamma"]
    recs = [json.loads(line) for line in
            ok(broker, "consume", topic, "--from-beginning", "--max-messages", "4",
               "--json").splitlines()]
    assert [r["value"] for r in recs] == ["alpha", "beta", "", "gamma"]
    assert [r["offset"] for r in recs] == [0, 1, 2, 3]
    for r in recs:
        assert r["topic"] == topic and r["partition"] == 0 and r["key"] == "k1"
        assert r["headers"] == {"h1": "v1", "h2": ""}
        assert isinstance(r["timestamp"], int) and r["timestamp"] > 0


def test_produce_json_lines_with_partition_headers_and_nulls(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"), partitions=3)
    lines = [
        {"key": "a", "value": "v-a", "partition": 2, "headers": {"x": "1"}},
        {"key": None, "value": None, "partition": 1},
        {"value": {"nested": [1, 2]}, "partition": 0},
        {"key": "é", "value": "ünïcode", "partition": 2},
    ]
    out = ok(broker, "produce", topic, "--json", "--verbose",
             stdin="".join(json.dumps(l) + "\n" for l in lines))
    positions = sorted(tuple(line.split()) for line in out.splitlines())
    assert positions == sorted([(topic, "2", "0"), (topic, "1", "0"), (topic, "0", "0"),
                                (topic, "2", "1")])
    recs = [json.loads(line) for line in
            ok(broker, "consume", topic, "--from-beginning", "--max-messages", "4",
               "--json").splitlines()]
    by_pos = {(r["partition"], r["offset"]): r for r in recs}
    assert by_pos[(2, 0)]["key"] == "a" and by_pos[(2, 0)]["headers"] == {"x": "1"}
    assert by_pos[(1, 0)]["key"] is None and by_pos[(1, 0)]["value"] is None
    assert json.loads(by_pos[(0, 0)]["value"]) == {"nested": [1, 2]}
    assert by_pos[(2, 1)]["key"] == "é" and by_pos[(2, 1)]["value"] == "ünïcode"
    assert "null" in ok(broker, "consume", topic, "--from-beginning",
                        "--max-messages", "4").splitlines()


def test_consume_json_replaces_invalid_utf8(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"))
    produce_all(producer(broker.bootstrap), topic, [{"value": b"ok\xff\xfe!"}])
    rec = json.loads(ok(broker, "consume", topic, "--from-beginning", "--max-messages", "1",
                        "--json"))
    assert rec["value"] == "ok\ufffd\ufffd!"


def test_produce_bad_json_line_fails_naming_the_line(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"))
    rc, _, err = sluice(broker, "produce", topic, "--json",
                        stdin='{"value": "fine"}\n{not json\n')
    assert rc == 1 and "line 2" in err, err
    rc, _, err = sluice(broker, "produce", topic, "--json", stdin='{"valeu": "typo"}\n')
    assert rc == 1 and "unknown field" in err, err


def test_produce_to_a_missing_partition_fails_with_the_error_name(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"), partitions=1)
    rc, _, err = sluice(broker, "produce", topic, "--partition", "7", "--timeout-ms", "3000",
                        stdin="x\n")
    assert rc == 1 and "UNKNOWN_PARTITION" in err, err


def test_consume_of_a_missing_topic_fails(broker):
    rc, _, err = sluice(broker, "consume", unique_topic("none"), "--timeout-ms", "2000")
    assert rc == 1 and "UNKNOWN_TOPIC_OR_PART" in err, err


def test_consume_stops_after_the_idle_timeout(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"))
    start = time.monotonic()
    rc, out, err = sluice(broker, "consume", topic, "--timeout-ms", "1500")
    assert rc == 0 and out == "", (out, err)
    assert time.monotonic() - start < T(10)


def test_consume_without_from_beginning_reads_only_new_records(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"))
    ok(broker, "produce", topic, stdin="old\n")
    rc, out, err = sluice(broker, "consume", topic, "--timeout-ms", "1500")
    assert rc == 0 and out == "", (out, err)


def test_consume_with_group_commits_what_it_printed(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"), partitions=1)
    group = unique_topic("grp")
    ok(broker, "produce", topic, stdin="".join("m%d\n" % i for i in range(5)))
    out = ok(broker, "consume", topic, "--group", group, "--from-beginning",
             "--max-messages", "3")
    assert out.splitlines() == ["m0", "m1", "m2"]
    desc = describe_group(broker, group)
    assert desc["state"] == "Empty"
    assert committed_by_partition(desc) == {0: 3}
    assert desc["offsets"][0]["lag"] == 2
    out = ok(broker, "consume", topic, "--group", group, "--max-messages", "2")
    assert out.splitlines() == ["m3", "m4"]


# ---- groups ------------------------------------------------------------------------------------

def start_member(broker, group, topic, partitions):
    """A confluent-kafka consumer that joined `group` and owns every partition of `topic`."""
    c = consumer(broker.bootstrap, **{"group.id": group, "client.id": "lag-test-client",
                                      "session.timeout.ms": 10000})
    c.subscribe([topic])
    wait_for(lambda: (c.poll(0.2), len(c.assignment()) == partitions)[1], T(30),
             "assignment of %d partitions" % partitions)
    return c


def test_groups_describe_shows_members_and_lag_and_reset_refuses_an_active_group(broker):
    from confluent_kafka import TopicPartition
    topic = create_topic(broker.bootstrap, unique_topic("cli"), partitions=2)
    group = unique_topic("grp")
    prod = producer(broker.bootstrap)
    produce_all(prod, topic, [{"value": b"v%d" % i, "partition": i % 2} for i in range(10)])
    c = start_member(broker, group, topic, 2)
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 3)],
                 asynchronous=False)
        desc = describe_group(broker, group)
        assert desc["state"] == "Stable"
        assert len(desc["members"]) == 1
        member = desc["members"][0]
        assert member["client_id"] == "lag-test-client" and member["host"]
        assert sorted((a["topic"], a["partition"]) for a in member["assignment"]) == \
            [(topic, 0), (topic, 1)]
        offs = {o["partition"]: o for o in desc["offsets"]}
        assert (offs[0]["committed"], offs[0]["end"], offs[0]["lag"]) == (2, 5, 3)
        assert (offs[1]["committed"], offs[1]["end"], offs[1]["lag"]) == (3, 5, 2)
        assert offs[0]["member_id"] == member["member_id"]

        table = ok(broker, "groups", "describe", group)
        assert "State: Stable" in table and "lag-test-client" in table
        rows = [l.split() for l in table.splitlines() if l.startswith(topic + " ")]
        assert [r[:5] for r in rows] == [[topic, "0", "2", "5", "3"], [topic, "1", "3", "5", "2"]]

        rc, _, err = sluice(broker, "groups", "reset-offsets", group, "--topic", topic,
                            "--to-earliest", "--execute")
        assert rc == 1 and "inactive" in err and "Stable" in err, err
        assert committed_by_partition(describe_group(broker, group)) == {0: 2, 1: 3}
        rc, _, err = sluice(broker, "groups", "delete", group)
        assert rc == 1 and "NON_EMPTY_GROUP" in err, err
    finally:
        c.close()


def test_groups_reset_offsets_moves_a_stopped_group(broker):
    from confluent_kafka import TopicPartition
    topic = create_topic(broker.bootstrap, unique_topic("cli"), partitions=2)
    group = unique_topic("grp")
    base_ms = 1_600_000_000_000
    produce_all(producer(broker.bootstrap), topic,
                [{"value": b"v%d" % i, "partition": i % 2, "timestamp": base_ms + i * 1000}
                 for i in range(10)])
    c = start_member(broker, group, topic, 2)
    c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 1)],
             asynchronous=False)
    c.close()
    wait_for(lambda: describe_group(broker, group)["state"] == "Empty", T(15), "group Empty")

    # Dry run: prints the plan, changes nothing.
    rc, out, err = sluice(broker, "groups", "reset-offsets", group, "--topic", topic,
                          "--to-earliest")
    assert rc == 0 and "dry run" in err, err
    rows = [l.split() for l in out.splitlines()[1:]]
    assert rows == [[group, topic, "0", "4", "0"], [group, topic, "1", "1", "0"]]
    assert committed_by_partition(describe_group(broker, group)) == {0: 4, 1: 1}

    def reset(*mode):
        res = ok_json(broker, "groups", "reset-offsets", group, "--topic", topic, *mode,
                      "--execute")
        assert res["executed"] is True
        got = committed_by_partition(describe_group(broker, group))
        assert got == {o["partition"]: o["new"] for o in res["offsets"]}
        return got

    assert reset("--to-earliest") == {0: 0, 1: 0}
    assert reset("--to-latest") == {0: 5, 1: 5}
    assert reset("--to-offset", "3") == {0: 3, 1: 3}
    assert reset("--to-offset", "99") == {0: 5, 1: 5}  # clamped to the end
    # Records i have timestamp base+i s; partition 0 holds even i, partition 1 odd i.
    # At base+3 s: partition 0's first record at/after it is i=4 (offset 2), partition 1's i=3
    # (offset 1).
    assert reset("--to-datetime", "2020-09-13T12:26:43Z") == {0: 2, 1: 1}
    assert reset("--to-datetime", "2020-09-13T14:26:43.000+02:00") == {0: 2, 1: 1}
    assert reset("--to-datetime", "2099-01-01T00:00:00Z") == {0: 5, 1: 5}  # after all: end

    # The group resumes where the reset put it.
    ok(broker, "groups", "reset-offsets", group, "--topic", topic, "--to-offset", "4",
       "--execute")
    out = ok(broker, "consume", topic, "--group", group, "--max-messages", "2")
    assert sorted(out.splitlines()) == ["v8", "v9"]


def test_groups_reset_offsets_of_missing_topic_fails(broker):
    rc, _, err = sluice(broker, "groups", "reset-offsets", unique_topic("grp"), "--topic",
                        unique_topic("none"), "--to-earliest")
    assert rc == 1 and "UNKNOWN_TOPIC_OR_PART" in err, err


def test_groups_list_and_delete(broker):
    topic = create_topic(broker.bootstrap, unique_topic("cli"))
    group = unique_topic("grp")
    ok(broker, "produce", topic, stdin="x\n")
    ok(broker, "consume", topic, "--group", group, "--from-beginning", "--max-messages", "1")
    listed = wait_for(lambda: {g["group"]: g["state"] for g in ok_json(broker, "groups", "list")
                               if g["group"] == group}, T(10), "group listed")
    assert listed[group] == "Empty"
    table = ok(broker, "groups", "list")
    assert table.splitlines()[0].split() == ["GROUP", "STATE"]
    assert any(l.split() == [group, "Empty"] for l in table.splitlines())

    assert ok(broker, "groups", "delete", group).strip() == "Deleted consumer group %s." % group
    assert group not in [g["group"] for g in ok_json(broker, "groups", "list")]
    rc, _, err = sluice(broker, "groups", "delete", group)
    assert rc == 1 and "GROUP_ID_NOT_FOUND" in err, err
    rc, _, err = sluice(broker, "groups", "describe", group)
    assert rc == 1 and "GROUP_ID_NOT_FOUND" in err, err
