"""The command line meets people's habits: `--help` after any subcommand prints usage and
exits 0, Kafka's tools' option names (--bootstrap-server, --topic, --group) work, and a
producer cut off by a stopping broker says that the broker went away."""

import subprocess

import pytest

from conftest import (T, Broker, create_topic, run_tool, sluice_bin, unique_topic, wait_for,
                      watermarks)

HELP_WORDS = [["serve"], ["topics"], ["topics", "list"], ["topics", "describe"],
              ["topics", "create"], ["topics", "delete"], ["topics", "alter"], ["groups"],
              ["groups", "list"], ["groups", "describe"], ["groups", "reset-offsets"],
              ["groups", "delete"], ["acls"], ["acls", "add"], ["acls", "remove"],
              ["acls", "list"], ["produce"], ["consume"], ["users"], ["users", "add"],
              ["users", "list"], ["join"], ["gateway"], ["gateway", "serve"],
              ["inspect-worker"]]


@pytest.mark.parametrize("words", HELP_WORDS, ids=lambda w: "-".join(w))
def test_help_after_any_subcommand_prints_usage_and_exits_0(words):
    p = run_tool([sluice_bin()] + words + ["--help"], T(10), check=False)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert b"usage: sluice" in p.stdout, p.stdout


def test_gateway_serve_help_describes_its_options_even_after_others():
    p = run_tool([sluice_bin(), "gateway", "serve", "--http", "127.0.0.1:0", "--help"], T(10),
                 check=False)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    for opt in ("--config", "--set", "--brokers", "--http", "--bootstrap-server"):
        assert opt in out, out


@pytest.fixture
def one_broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.close()


def test_kafka_tools_option_names_work(one_broker):
    bs = one_broker.bootstrap
    topic = unique_topic("habits")
    tool = [sluice_bin()]
    run_tool(tool + ["topics", "create", "--topic", topic, "--partitions", "2",
                     "--bootstrap-server", bs], T(30))
    out = run_tool(tool + ["topics", "describe", "--topic", topic, "--bootstrap-server", bs],
                   T(30)).stdout.decode()
    assert topic in out, out
    run_tool(tool + ["produce", "--topic", topic, "--bootstrap-server", bs], T(30),
             input_bytes=b"one\ntwo\n")
    out = run_tool(tool + ["consume", "--topic", topic, "--group", "habits-g",
                           "--from-beginning", "--max-messages", "2",
                           "--bootstrap-server", bs], T(60)).stdout.decode()
    assert sorted(out.split()) == ["one", "two"], out
    out = run_tool(tool + ["groups", "describe", "--group", "habits-g", "--bootstrap-server",
                           bs], T(30)).stdout.decode()
    assert topic in out, out


def test_a_producer_cut_off_by_a_stopping_broker_says_the_broker_went_away(one_broker):
    topic = unique_topic("gone")
    create_topic(one_broker.bootstrap, topic)
    p = subprocess.Popen([sluice_bin(), "produce", topic, "--brokers", one_broker.bootstrap,
                          "--timeout-ms", "3000"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"before-1\nbefore-2\n")
        p.stdin.flush()
        # connected and acknowledged before the stop (else it is "unreachable", not "went away")
        wait_for(lambda: watermarks(one_broker.bootstrap, topic, 0)[1] == 2, T(30),
                 "the first two records in the topic")
        assert one_broker.stop() == 0
        after = b"".join(b"after-%d\n" % i for i in range(200))
        out, err = p.communicate(input=after, timeout=T(60))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = err.decode()
    assert p.returncode == 1, err
    assert "went away" in err and "records acknowledged" in err, err
    assert "_QUEUE_FULL" not in err and "_MSG_TIMED_OUT" not in err, err
