"""Process lifecycle: SIGTERM, the data-dir lock, a busy port, --version and --help."""

import socket
import subprocess
import time

import pytest
from confluent_kafka import TopicPartition

from conftest import (Broker, BrokerStartError, T, consume_range, consumer, create_topic,
                      produce_all, producer, sluice_bin, unique_topic)

pytestmark = pytest.mark.own_broker


def run_sluice(args, timeout_s):
    return subprocess.run([sluice_bin()] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout_s)


def test_sigterm_exits_zero_quickly_even_with_clients_connected(make_broker):
    b = make_broker()
    topic = create_topic(b.bootstrap, unique_topic("term"))
    produce_all(producer(b.bootstrap), topic, [{"value": b"x"}] * 100, partition=0)
    c = consumer(b.bootstrap, **{"fetch.wait.max.ms": 5000})
    try:
        c.assign([TopicPartition(topic, 0, 100)])   # parked in a long poll at the end
        consume_range(c, 1, T(1))
        t0 = time.monotonic()
        rc = b.stop(timeout_s=T(10))
        elapsed = time.monotonic() - t0
    finally:
        c.close()
    assert rc == 0
    assert elapsed < T(5), "SIGTERM took %.1f s" % elapsed


def test_sigterm_on_an_idle_broker_exits_zero(make_broker):
    b = make_broker()
    assert b.stop(timeout_s=T(10)) == 0


def test_a_second_broker_on_the_same_data_dir_is_refused(make_broker):
    first = make_broker()
    second = make_broker(name="second", data_dir=first.data_dir, start=False)
    with pytest.raises(BrokerStartError) as e:
        second.start(timeout_s=T(15))
    assert "exited with" in str(e.value), "the second broker did not exit: %s" % e.value
    assert "exited with 0" not in str(e.value)
    err = second.stderr_text().lower()
    assert "lock" in err or first.data_dir.lower() in err, \
        "no clear message about the locked data dir:\n%s" % second.stderr_tail()
    assert first.running()
    topic = create_topic(first.bootstrap, unique_topic("still-first"))
    assert produce_all(producer(first.bootstrap), topic, [{"value": b"ok"}])[0].offset() == 0


def test_listening_on_a_port_in_use_fails_with_a_clear_message(tmp_path):
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        b = Broker(tmp_path)
        cmd = b.command(listen="127.0.0.1:%d" % port)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=T(15))
    finally:
        busy.close()
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0, "the broker started on a busy port:\n%s" % err
    assert str(port) in err or "in use" in err.lower(), "unclear message:\n%s" % err


def test_an_unknown_option_fails_with_usage_and_nonzero_exit(tmp_path):
    p = run_sluice(["serve", "--no-such-option", "x"], T(10))
    assert p.returncode != 0
    assert b"--no-such-option" in p.stderr


def test_version_prints_the_version_and_exits_zero():
    p = run_sluice(["--version"], T(10))
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().startswith("sluice ")


def test_serve_help_lists_the_options_and_exits_zero():
    p = run_sluice(["serve", "--help"], T(10))
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    for opt in ("--config", "--listen", "--data", "--set", "--ready-file"):
        assert opt in out, "serve --help does not mention %s" % opt


def test_a_config_file_is_read_and_flags_override_it(make_broker, tmp_path):
    props = tmp_path / "sluice.properties"
    props.write_text("# test config\nnum.partitions=5\nauto.create.topics.enable=false\n")
    b = make_broker({"auto.create.topics.enable": "true"}, name="cfg", config_file=props)
    topic = unique_topic("cfg-auto")
    msgs = produce_all(producer(b.bootstrap), topic, [{"value": b"v", "partition": 4}])
    assert msgs[0].partition() == 4, "num.partitions=5 from the file was not applied"
