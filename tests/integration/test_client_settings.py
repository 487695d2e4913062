"""Kafka client settings of the services and the operator tools: `kafka.*` settings of
`sluice jobs|join|gateway` and `-X key=value` / `--command-config FILE` of the tools reach
every librdkafka client they make (so they can use a secured broker), and bad ones are refused
by name before anything starts."""

import subprocess

import pytest

from conftest import T, create_topic, sluice_bin, unique_topic
from gateway_harness import Gateway

# A SASL client against a PLAINTEXT listener never gets through: proof that the setting is used.
SASL = {"security.protocol": "sasl_plaintext", "sasl.mechanism": "PLAIN",
        "sasl.username": "u", "sasl.password": "p"}


def serve_cmd(service, bootstrap, tmp_path):
    if service == "jobs":
        return [sluice_bin(), "jobs", "serve", "--brokers", bootstrap, "--http", "127.0.0.1:0",
                "--store", str(tmp_path / "j.db"), "--set", "broker.timeout.ms=1500"]
    if service == "gateway":
        return [sluice_bin(), "gateway", "serve", "--brokers", bootstrap, "--http", "127.0.0.1:0",
                "--set", "broker.timeout.ms=1500"]
    return [sluice_bin(), "join", "--brokers", bootstrap, "--set", "left.topic=l",
            "--set", "right.topic=r", "--set", "output.topic=o",
            "--set", "state.dir=" + str(tmp_path / "state"), "--set", "broker.timeout.ms=1500",
            "--set", "http.listen=127.0.0.1:0"]


@pytest.mark.parametrize("service", ["jobs", "gateway", "join"])
def test_services_refuse_unknown_bad_and_owned_client_settings_by_name(service, tmp_path):
    for setting, why in [("kafka.no.such.property=1", "No such configuration property"),
                         ("kafka.security.protocol=carrier_pigeon", "Invalid value"),
                         ("kafka.enable.auto.commit=true", "set by the service itself"),
                         ("kafka.bootstrap.servers=x:1", "set by the service itself")]:
        r = subprocess.run(serve_cmd(service, "127.0.0.1:1", tmp_path) + ["--set", setting],
                           capture_output=True, text=True, timeout=T(30))
        key = setting.split("=")[0]
        assert r.returncode == 2, (setting, r.returncode, r.stderr)
        assert key + ": " in r.stderr and why in r.stderr, r.stderr


@pytest.mark.parametrize("service", ["jobs", "join"])
def test_services_pass_client_settings_to_their_kafka_clients(service, broker, tmp_path):
    if service == "join":
        for t in ("l", "r", "o"):
            create_topic(broker.bootstrap, t, 1)
    sasl = []
    for k, v in SASL.items():
        sasl += ["--set", "kafka.%s=%s" % (k, v)]
    r = subprocess.run(serve_cmd(service, broker.bootstrap, tmp_path) + sasl,
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 1, (r.returncode, r.stderr)  # the broker has no SASL listener


def test_gateway_passes_client_settings_to_its_kafka_clients(broker, tmp_path):
    """The same gateway starts and produces without the settings, and cannot reach the
    PLAINTEXT listener with them (its start-up metadata check fails, naming SASL)."""
    create_topic(broker.bootstrap, "an-alert", 1)
    create_topic(broker.bootstrap, "an-accept", 1)
    (tmp_path / "plain").mkdir()
    (tmp_path / "sasl").mkdir()
    plain = Gateway(tmp_path / "plain", broker.bootstrap, {"broker.timeout.ms": "2000"})
    plain.start()
    try:
        assert plain.request("POST", "/topics/an-alert", {"value": "a"})[0] == 200
    finally:
        plain.stop()
    settings = {"broker.timeout.ms": "2000"}
    settings.update({"kafka." + k: v for k, v in SASL.items()})
    gw = Gateway(tmp_path / "sasl", broker.bootstrap, settings)
    with pytest.raises(AssertionError) as e:
        gw.start()
    assert "exited 1" in str(e.value) and "SASL" in str(e.value)


def test_tools_take_client_settings_from_flags_and_a_file(broker, tmp_path):
    topic = unique_topic("cs")
    create_topic(broker.bootstrap, topic, 1)
    base = [sluice_bin(), "topics", "list", "--brokers", broker.bootstrap, "--timeout-ms", "3000"]
    r = subprocess.run(base, capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0 and topic in r.stdout
    xs = []
    for k, v in SASL.items():
        xs += ["-X", "%s=%s" % (k, v)]
    r = subprocess.run(base + xs, capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 1 and topic not in r.stdout, (r.stdout, r.stderr)
    conf = tmp_path / "client.properties"
    conf.write_text("".join("%s=%s\n" % kv for kv in SASL.items()))
    r = subprocess.run(base + ["--command-config", str(conf)], capture_output=True, text=True,
                       timeout=T(30))
    assert r.returncode == 1 and topic not in r.stdout, (r.stdout, r.stderr)
    r = subprocess.run(base + ["-X", "no.such.property=1"], capture_output=True, text=True,
                       timeout=T(30))
    assert r.returncode != 0 and "no.such.property" in r.stderr, r.stderr
    r = subprocess.run(base + ["-X", "novalue"], capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 2 and "-X wants key=value" in r.stderr, r.stderr
    r = subprocess.run(base + ["--command-config", str(tmp_path / "absent")],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 2 and "--command-config" in r.stderr, r.stderr
